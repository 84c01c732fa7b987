"""`filesystem`: one file per secret, as Kubernetes and Docker mount them.

`<dir>/<tenant>/<NAME>`, then `<dir>/<NAME>`; at each place the plain file, `<NAME>.json` (a
JSON object) or `<NAME>.env` (KEY=VALUE lines, read as a JSON object). A plain file's final
newline is dropped. A reference that would reach outside `dir` (`..`, an absolute name, a
symlink out) is refused; symlinks inside it (Kubernetes' `..data/`) are fine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from dativo_workers.secrets.base import SecretError, SecretProvider
from dativo_workers.secrets.config import FilesystemSettings

SUFFIXES = ("", ".json", ".env")


def parse_env_file(text: str, where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SecretError(f"{where}:{number}: expected KEY=VALUE")  # the line itself may be a secret
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class FilesystemSecretProvider(SecretProvider):
    name = "filesystem"
    cached = False
    description = "files <dir>/<tenant>/<NAME>[.json|.env], then <dir>/<NAME> (Kubernetes/Docker secret mounts)"
    settings_model: ClassVar[type[BaseModel]] = FilesystemSettings

    def __init__(self, settings: BaseModel) -> None:
        super().__init__(settings)
        assert isinstance(self.settings, FilesystemSettings)
        self.root = Path(self.settings.dir).expanduser()

    def describe(self, location: str) -> str:
        return f"{self.root / location}{{,.json,.env}}"

    def _inside(self, location: str) -> Path:
        root = self.root.resolve()
        candidate = (self.root / location).resolve()
        if location.startswith("/") or ".." in Path(location).parts or not candidate.is_relative_to(root):
            raise SecretError(f"secret name {location!r} leads outside the secrets directory {self.root}; refused")
        return candidate

    def fetch(self, location: str, version: str | None) -> str | None:
        self._inside(location)
        for suffix in SUFFIXES:
            path = self.root / (location + suffix)
            if not path.is_file():
                continue
            real = self._inside(location + suffix)  # a symlink out of the directory is refused too
            try:
                text = real.read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
            if suffix == ".env":
                return json.dumps(parse_env_file(text, str(path)))
            if suffix == ".json":
                return text
            return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
        return None
