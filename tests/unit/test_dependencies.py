"""pyproject.toml declares compatible ranges; requirements/*.lock pin what the scripts and CI install.
These checks keep the two in step (a changed range needs `bash scripts/lock.sh`) and keep the
declarations clean: ranges, not pins, for users; nothing declared twice; no test tool at run time."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "dativo-workers"
RELOCK = "run `bash scripts/lock.sh`"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared() -> dict[str, list[Requirement]]:
    """Each list of pyproject.toml ('dependencies' and every extra), without dev's self-reference."""
    project = _project()
    lists = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {
        where: [r for r in map(Requirement, specs) if canonicalize_name(r.name) != PROJECT]
        for where, specs in lists.items()
    }


def _lock(name: str) -> dict[str, str]:
    """A lock file's pins: canonical name -> version; it must be usable as pip constraints."""
    pins: dict[str, str] = {}
    path = ROOT / "requirements" / name
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        spec = str(req.specifier)
        assert spec.startswith("==") and not req.extras and not req.url, f"{path.name}:{number}: {raw!r} is no pin"
        pins[canonicalize_name(req.name)] = spec[2:]
    return pins


def test_every_declared_range_is_met_by_the_locks() -> None:
    dev, runtime = _lock("dev.lock"), _lock("runtime.lock")
    for where, reqs in _declared().items():
        for req in reqs:
            name = canonicalize_name(req.name)
            assert name in dev, f"pyproject.toml [{where}] {req} is not in requirements/dev.lock: {RELOCK}"
            assert req.specifier.contains(dev[name], prereleases=True), (
                f"pyproject.toml [{where}] {req}: requirements/dev.lock pins {dev[name]}: {RELOCK}"
            )
            if where == "dependencies":
                assert runtime.get(name) == dev[name], f"{req}: requirements/runtime.lock is out of date: {RELOCK}"


def test_runtime_lock_is_the_dev_lock_without_the_extras() -> None:
    dev, runtime = _lock("dev.lock"), _lock("runtime.lock")
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differ, f"runtime.lock pins other versions than dev.lock (runtime, dev): {differ}: {RELOCK}"
    declared = _declared()
    extras_only = {canonicalize_name(r.name) for w, reqs in declared.items() if w != "dependencies" for r in reqs}
    for tool in extras_only | {"pytest", "moto", "ruff", "coverage"}:
        assert tool not in runtime, f"{tool} is in requirements/runtime.lock: the engine alone must not need it"
    assert len(runtime) < len(dev) / 2


def test_users_get_ranges_and_dev_tools_are_exact() -> None:
    for where, reqs in _declared().items():
        for req in reqs:
            ops = {s.operator for s in req.specifier}
            if where == "dev":
                assert ops == {"=="}, f"pyproject.toml [dev] {req}: test tools are pinned exactly"
            else:
                assert ">=" in ops and "==" not in ops, f"pyproject.toml [{where}] {req}: a range with a floor"


def test_nothing_is_declared_twice() -> None:
    seen: dict[str, str] = {}
    for where, reqs in _declared().items():
        for req in reqs:
            name = canonicalize_name(req.name)
            assert name not in seen, f"pyproject.toml declares {name} in [{seen.get(name)}] and in [{where}]"
            seen[name] = where
    # nor once directly and once more through an extra of another package of the same list
    for where, reqs in _declared().items():
        names = {canonicalize_name(r.name) for r in reqs}
        for req in reqs:
            for extra in req.extras:
                for spec in importlib.metadata.requires(req.name) or []:
                    dep = Requirement(spec)
                    if dep.marker and dep.marker.evaluate({"extra": extra}) and canonicalize_name(dep.name) in names:
                        pytest.fail(f"pyproject.toml [{where}] {req} brings {dep.name} through [{extra}]: twice")
