"""One way to ask every question: from a flag, from the terminal, or by taking the default.

The wizard and the non-interactive generator are the same code: each question names its
flag; a flag's answer is validated like a typed one, and a wrong answer is asked again on a
terminal (validation as you go) or fails with the flag's name when nobody can answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.text import Text

from dativo_workers.errors import DativoError

T = TypeVar("T")


class Invalid(ValueError):
    """An answer that cannot be used; the message says what a good one looks like."""


class GenerateError(DativoError):
    """The generator cannot go on without a better answer (non-interactive runs)."""


def _keep(value: str) -> str:
    return value


@dataclass
class Asker:
    interactive: bool
    console: Console  # questions and information; on stderr when not interactive
    answers: dict[str, Any] = field(default_factory=dict)  # flag answers by question key

    def info(self, message: str | Text) -> None:
        self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(Text("! ", style="bold yellow") + Text(message), highlight=False)

    def error(self, message: str) -> None:
        self.console.print(Text("✗ ", style="bold red") + Text(message), highlight=False)

    def has(self, key: str) -> bool:
        return self.answers.get(key) is not None

    def ask(
        self,
        key: str,
        prompt: str,
        *,
        flag: str,
        default: str | None = None,
        validate: Callable[[str], T] = _keep,  # type: ignore[assignment]
        choices: list[str] | None = None,
        password: bool = False,
        required: bool = True,
    ) -> T:
        """The validated answer to one question. ``default`` None and ``required``: no default."""
        given = self.answers.pop(key, None)
        while True:
            if given is not None:
                raw, from_flag, given = str(given), True, None
            elif not self.interactive:
                if default is None and required:
                    raise GenerateError(f"{flag} is required: {prompt.rstrip(':?')} (no default to take)")
                raw, from_flag = default or "", True
            else:
                raw = Prompt.ask(
                    prompt,
                    console=self.console,
                    default=default if default is not None else ("" if not required else ...),
                    choices=choices,
                    password=password,
                    show_default=not password and bool(default),
                )
                raw, from_flag = (raw or "").strip(), False
            try:
                if choices is not None and raw not in choices:
                    raise Invalid(f"choose one of: {', '.join(choices)}")
                if required and raw == "":
                    raise Invalid("an answer is needed")
                return validate(raw)
            except Invalid as exc:
                if not self.interactive:
                    raise GenerateError(f"{flag} {raw!r}: {exc}") from None
                self.error(f"{raw!r}: {exc}" if from_flag or raw else str(exc))

    def confirm(self, key: str, prompt: str, *, flag: str, default: bool) -> bool:
        given = self.answers.pop(key, None)
        if given is not None:
            return bool(given)
        if not self.interactive:
            return default
        return Confirm.ask(prompt, console=self.console, default=default)

    def pairs(
        self,
        key: str,
        prompt: str,
        *,
        flag: str,
        validate: Callable[[str, str], Any],
    ) -> dict[str, Any]:
        """Repeated `name=value` answers (flags, or lines until an empty one)."""
        result: dict[str, Any] = {}
        given = self.answers.pop(key, None)
        pending = list(given or [])
        while True:
            if pending:
                raw, from_flag = str(pending.pop(0)), True
            elif not self.interactive or given:
                return result  # flags given: they are the whole answer
            else:
                raw = Prompt.ask(prompt, console=self.console, default="", show_default=False).strip()
                from_flag = False
                if not raw:
                    return result
            try:
                name, sep, value = raw.partition("=")
                if not sep or not name.strip():
                    raise Invalid("write name=value")
                result[name.strip()] = validate(name.strip(), value.strip())
            except Invalid as exc:
                if not self.interactive:
                    raise GenerateError(f"{flag} {raw!r}: {exc}") from None
                self.error(f"{raw!r}: {exc}" if from_flag else str(exc))
                given = None  # a wrong flag: go on asking on the terminal
