"""A plugin index: what `dativo plugins search|install|list` read (docs/plugins.md, Plugin index).

The index is one JSON or YAML document at a path or URL (``runner.plugin_index``, or
``DATIVO_PLUGIN_INDEX``, or ``--index``)::

    index_version: 1
    plugins:
      - name: dativo-things                 # the distribution (pip) name
        description: Things from the Things API
        license: Apache-2.0
        maintainers: [{name: Jane Doe, email: jane@example.com}]
        connectors: [{name: things, kind: reader}]
        versions:
          - version: 1.0.0
            files:                          # wheel/sdist, relative to the index or a URL; sha256 required
              - {url: dist/dativo_things-1.0.0-py3-none-any.whl, sha256: 3b1f...}
            requires: []                    # pinned dependencies with hashes: ["pkg==1.2 --hash=sha256:..."]
            certification: {date: "2026-01-02", passed: true, dativo_version: 0.1.0, report: reports/things-1.0.0.json}

An entry with ``builtin: true`` comes with dativo-workers; one with ``example`` names a module of the
repository's examples (used through ``plugin_path``): neither is installed with pip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dativo_workers.errors import DativoError

FETCH_TIMEOUT_S = 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class IndexError_(DativoError):
    """The index cannot be read, names no such plugin, or a file's hash does not match: exit 2."""


class Maintainer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: str | None = None
    url: str | None = None


class Connector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str = Field(pattern="^(reader|writer)$")


class DistFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    sha256: str

    @field_validator("sha256", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # YAML reads an all-digit (or digits-e-digits) hash as a number
            raise ValueError("a number, not 64 hex digits: quote the hash in YAML")
        return value

    def model_post_init(self, _context: Any) -> None:
        if not _SHA256.match(self.sha256.lower()):
            raise ValueError(f"sha256 of {self.url}: expected 64 hex digits")


class Certification(BaseModel):
    model_config = ConfigDict(extra="allow")
    date: str
    passed: bool
    dativo_version: str | None = None
    report: str | dict[str, Any] | None = None  # a path/URL of the `certify --json` report, or the report
    failed: list[str] = Field(default_factory=list)


class Version(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    files: list[DistFile] = Field(default_factory=list)
    requires: list[str] = Field(default_factory=list)
    certification: Certification | None = None


class CertifyRun(BaseModel):
    """How the index's maintainers re-run an entry's certification (`dativo plugins certify`)."""

    model_config = ConfigDict(extra="forbid")
    plugin: str  # an installed name or module.Class
    config: str | None = None  # relative to the index file
    kind: str | None = Field(None, pattern="^(reader|writer)$")
    # the repository's own index: a loopback API of its tests stands in for a service CI cannot reach
    # (tests/integration/certify_cases.py); the config is written there
    loopback: str | None = None


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    license: str = ""
    maintainers: list[Maintainer] = Field(default_factory=list)
    homepage: str | None = None
    connectors: list[Connector] = Field(default_factory=list)
    package: str | None = None  # pip name when it differs from `name`
    builtin: bool = False
    example: str | None = None  # e.g. examples/plugins/http_api_reader.py:JsonApiReader
    versions: list[Version] = Field(default_factory=list)
    certify: list[CertifyRun] = Field(default_factory=list)

    @property
    def dist(self) -> str:
        return self.package or self.name

    @property
    def latest_version(self) -> str | None:
        return _latest([v.version for v in self.versions])

    def version(self, wanted: str | None) -> Version | None:
        want = wanted or self.latest_version
        return next((v for v in self.versions if v.version == want), None)

    def certified_text(self, version: str | None = None) -> str:
        v = self.version(version)
        if v is None or v.certification is None:
            return "not certified"
        c = v.certification
        if c.passed:
            return f"certified {c.date[:10]}"
        return f"failed {c.date[:10]}" + (f": {', '.join(c.failed)}" if c.failed else "")

    def summary(self) -> dict[str, Any]:
        latest = self.version(None)
        return {
            "name": self.name,
            "package": self.dist,
            "description": self.description,
            "license": self.license,
            "maintainers": [m.model_dump(exclude_none=True) for m in self.maintainers],
            "connectors": [c.model_dump() for c in self.connectors],
            "versions": [v.version for v in self.versions],
            "latest": self.latest_version,
            "builtin": self.builtin,
            "example": self.example,
            "certification": latest.certification.model_dump() if latest and latest.certification else None,
        }


class PluginIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index_version: int = 1
    plugins: list[Entry] = Field(default_factory=list)
    location: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> PluginIndex:
        names = [_norm(e.name) for e in self.plugins]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"plugins listed twice: {', '.join(twice)} (one entry per plugin, its versions inside)")
        return self

    def entry(self, name: str) -> Entry | None:
        key = _norm(name)
        return next((e for e in self.plugins if _norm(e.name) == key or _norm(e.dist) == key), None)

    def status_of(self, name: str, kind: str, package: str, version: str) -> str | None:
        """The certification of an installed plugin as the index records it (None: not listed)."""
        entry = next(
            (
                e
                for e in self.plugins
                if _norm(e.dist) == _norm(package) and any(c.name == name and c.kind == kind for c in e.connectors)
            ),
            None,
        ) or next((e for e in self.plugins if _norm(e.dist) == _norm(package) and not e.connectors), None)
        if entry is None:
            return None
        if entry.version(version) is None:
            listed = ", ".join(v.version for v in entry.versions) or "none"
            return f"not certified (index lists {listed})"
        return entry.certified_text(version)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(text: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", text))


def _latest(versions: list[str]) -> str | None:
    return max(versions, key=_version_key) if versions else None


def index_location(explicit: str | None, runner_file: Path | None, required: bool = True) -> str | None:
    """``--index``, else ``runner.plugin_index`` (DATIVO_PLUGIN_INDEX overrides the runner file)."""
    if explicit:
        return explicit
    from dativo_workers.config.runner import load_runner

    location = load_runner(runner_file).plugin_index
    if location and not _is_url(location) and not Path(location).expanduser().is_absolute():
        from dativo_workers.config.runner import project_root

        location = str(project_root() / Path(location).expanduser())  # relative: to the project root
    if not location and required:
        raise IndexError_(
            "no plugin index configured: set runner.plugin_index in runner.yaml (or DATIVO_PLUGIN_INDEX), "
            "or pass --index PATH|URL"
        )
    return location


def _is_url(location: str) -> bool:
    return urllib.parse.urlparse(location).scheme in ("http", "https", "file")


def _read_bytes(location: str, what: str) -> bytes:
    try:
        if _is_url(location):
            with urllib.request.urlopen(location, timeout=FETCH_TIMEOUT_S) as response:
                return response.read()
        return Path(location).expanduser().read_bytes()
    except (OSError, urllib.error.URLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise IndexError_(f"cannot fetch {what} {location}: {reason}") from None


def load_index(location: str | None) -> PluginIndex:
    if not location:
        raise IndexError_("no plugin index configured")
    data = _read_bytes(location, "the plugin index")
    try:
        parsed = json.loads(data) if data.lstrip()[:1] in (b"{", b"[") else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise IndexError_(f"{location}: not JSON or YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise IndexError_(f"{location}: expected a mapping with `plugins:`")
    try:
        index = PluginIndex.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise IndexError_(f"{location}: {where}: {first['msg']} ({len(exc.errors())} problem(s))") from None
    index.location = location
    return index


def search(index: PluginIndex, term: str) -> list[Entry]:
    words = [w.lower() for w in term.split() if w]
    found = []
    for entry in index.plugins:
        text = " ".join([entry.name, entry.dist, entry.description, *(c.name for c in entry.connectors)]).lower()
        if all(w in text for w in words):
            found.append(entry)
    return sorted(found, key=lambda e: (not e.name.lower().startswith(words[0] if words else ""), e.name))


def pick(index: PluginIndex, requirement: str) -> tuple[Entry, Version]:
    name, _, version = requirement.partition("==")
    entry = index.entry(name.strip())
    if entry is None:
        close = [e.name for e in search(index, name.strip().split("-")[-1])][:5]
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise IndexError_(f"no plugin named {name.strip()!r} in the index {index.location}{hint}")
    if entry.builtin:
        raise IndexError_(f"{entry.name} comes with dativo-workers: nothing to install")
    if entry.example:
        raise IndexError_(
            f"{entry.name} is an example of the repository ({entry.example}): use it with "
            "`source.reader`/`target.writer` `plugin_path`, nothing to install"
        )
    chosen = entry.version(version.strip() or None)
    if chosen is None:
        listed = ", ".join(v.version for v in entry.versions) or "none"
        raise IndexError_(f"{entry.name}: no version {version.strip() or '(latest)'} in the index (listed: {listed})")
    if not chosen.files:
        raise IndexError_(f"{entry.name} {chosen.version}: the index lists no file with a sha256 to install")
    return entry, chosen


def _file_location(index_location: str, url: str) -> str:
    if _is_url(url) or Path(url).is_absolute():
        return url
    if _is_url(index_location):
        return urllib.parse.urljoin(index_location, url)
    return str((Path(index_location).expanduser().resolve().parent / url).resolve())


def install(entry: Entry, version: Version, *, dry_run: bool = False, index_location: str | None = None) -> str:
    """Download and check every file's sha256, then `pip install --require-hashes` from a generated
    requirements file into this interpreter's environment. Nothing is installed on any mismatch."""
    location = index_location or ""
    with tempfile.TemporaryDirectory(prefix="dativo-install-") as tmp:
        local_files: list[tuple[Path, str]] = []
        for dist_file in version.files:
            where = _file_location(location, dist_file.url)
            data = _read_bytes(where, f"{entry.name} {version.version}'s file")
            digest = hashlib.sha256(data).hexdigest()
            if digest != dist_file.sha256.lower():
                raise IndexError_(
                    f"{entry.name} {version.version}: sha256 of {where} is {digest}, the index says "
                    f"{dist_file.sha256.lower()}; nothing installed"
                )
            filename = Path(urllib.parse.urlparse(where).path).name
            path = Path(tmp) / filename
            path.write_bytes(data)
            local_files.append((path, digest))
        # one requirement per file (a wheel or an sdist): pip picks one, each pinned to its hash
        wheel = next(((p, d) for p, d in local_files if p.suffix == ".whl"), local_files[0])
        lines = [f"{entry.dist} @ {wheel[0].as_uri()} --hash=sha256:{wheel[1]}", *version.requires]
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("\n".join(lines) + "\n")
        if dry_run:
            return "would install (pip install --require-hashes):\n" + "\n".join(
                f"  {entry.dist}=={version.version} --hash=sha256:{d}" for _, d in local_files
            )
        command = [
            sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--require-hashes",
            "--no-input", "-r", str(requirements),
        ]  # fmt: skip
        extra = os.environ.get("DATIVO_PIP_ARGS", "").split()
        result = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
            raise IndexError_(f"pip refused {entry.dist} {version.version}; nothing installed:\n{tail}")
    return (
        f"installed {entry.dist} {version.version} (sha256 {wheel[1][:12]}..., {entry.certified_text(version.version)})"
    )
