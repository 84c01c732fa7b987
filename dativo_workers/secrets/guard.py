"""Errors from code that holds resolved secrets: scrubbed, and pointed at the references.

`guard(obj, refs)` wraps an object's public methods (a reader's plan, read, ...): whatever they
raise is re-raised without any resolved value in its text; an authentication failure also
names the secret references the object was given, since the driver cannot know them.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from dativo_workers.secrets.base import SecretRef
from dativo_workers.secrets.redact import scrub_exception

T = TypeVar("T")
_AUTH_FAILURE = re.compile(
    r"access denied|authenticat|password|unauthori[sz]ed|forbidden|permission denied|invalid credential|"
    r"login failed|signature|invalid.{0,20}(key|token)|\b40[13]\b",
    re.IGNORECASE,
)


def _hint(refs: list[SecretRef]) -> str:
    listed = ", ".join(dict.fromkeys(str(r) for r in refs))
    return f" (credentials from {listed}; `dativo secrets check JOB` shows where each one resolves)"


def _clean(exc: BaseException, refs: list[SecretRef]) -> BaseException:
    clean = scrub_exception(exc)
    if refs and clean.args and isinstance(clean.args[0], str) and _AUTH_FAILURE.search(str(clean)):
        hint = _hint(refs)
        if hint not in clean.args[0]:
            clean.args = (clean.args[0] + hint, *clean.args[1:])
    return clean


def _wrap(fn: Callable[..., Any], refs: list[SecretRef]) -> Callable[..., Any]:
    def iterate(items: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from items
        except Exception as exc:
            clean = _clean(exc, refs)
            raise clean from (None if clean is not exc else exc.__cause__)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            clean = _clean(exc, refs)
            raise clean from (None if clean is not exc else exc.__cause__)
        return iterate(result) if inspect.isgenerator(result) else result

    # what functools.wraps copies that anyone reads, at a fraction of its cost (a reader is
    # guarded for every partition it reads)
    call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


@functools.cache
def _public_methods(cls: type) -> tuple[str, ...]:
    """A class's public methods: not properties, class attributes or models."""
    return tuple(n for n in dir(cls) if not n.startswith("_") and inspect.isfunction(getattr(cls, n, None)))


def guard(obj: T, refs: list[SecretRef], methods: tuple[str, ...] | None = None) -> T:
    """Wrap ``obj``'s public methods (or ``methods``) in place; returns ``obj``."""
    methods_of_class = _public_methods(type(obj))
    for name in methods or methods_of_class:
        if name not in methods_of_class:
            continue
        try:
            setattr(obj, name, _wrap(getattr(obj, name), refs))
        except AttributeError:  # __slots__: the method stays unwrapped
            continue
    return obj
