"""`plugin_path` modules load from the job's directory without that directory going on sys.path:
a tenant's `json.py` or `pymysql.py` never stands in for the real module elsewhere in the process."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dativo_workers.errors import ConfigError
from dativo_workers.plugins import DataReader
from dativo_workers.plugins.manager import import_plugin_class

from ..conftest import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

READER = """
    import json  # the real one, although this directory holds a json.py
    import pyarrow as pa
    from dativo_workers.plugins import DataReader, Partition, PluginSettings
    from . import helper  # a sibling module, imported relatively

    JSON_FILE = json.__file__


    class {cls}(DataReader):
        name = "{name}"
        config_model = PluginSettings

        def plan(self):
            return [Partition(index=0, spec={{}}, label="only")]

        def schema(self):
            return pa.schema([("id", pa.int64()), ("tag", pa.string())])

        def read(self, partition, schema):
            yield pa.table({{"id": [1, 2], "tag": [helper.TAG, json.dumps("ok")]}})
"""
# Files a tenant might leave beside its job; importing them would break (or take over) the process.
SHADOWS = {
    "json.py": "raise ImportError('the job directory json.py was imported')\n",
    "pymysql.py": "raise ImportError('the job directory pymysql.py was imported')\n",
}


def _job_dir(root: Path, tag: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in SHADOWS.items():
        (root / name).write_text(text)
    (root / "helper.py").write_text(f"TAG = {tag!r}\n")
    (root / "reader.py").write_text(textwrap.dedent(READER.format(cls="Reader", name=f"reader_{tag}")))
    package = root / "pkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text(f"TAG = {tag + '-pkg'!r}\n")
    (package / "sub.py").write_text(textwrap.dedent(READER.format(cls="Nested", name=f"nested_{tag}")))
    return root


def _found_on_sys_path(name: str) -> str | None:
    """Where a fresh `import name` would load from (sys.modules aside)."""
    spec = importlib.machinery.PathFinder.find_spec(name)
    return spec.origin if spec is not None else None


def test_plugin_modules_and_packages_load_without_touching_sys_path(tmp_path: Path) -> None:
    first, second = _job_dir(tmp_path / "acme", "acme"), _job_dir(tmp_path / "globex", "globex")
    path_before, real_json = list(sys.path), sys.modules["json"]

    classes = {
        (job, path): import_plugin_class(path, str(job), "source.reader", DataReader)
        for job in (first, second)
        for path in ("reader.Reader", "pkg.sub.Nested")
    }

    assert sys.path == path_before
    assert sys.modules["json"] is real_json
    for name in ("json", "pymysql"):
        origin = _found_on_sys_path(name)
        assert origin is not None and tmp_path.as_posix() not in origin, origin
    # two directories holding `reader.py` keep two modules, each with its own sibling helper
    assert len({id(cls) for cls in classes.values()}) == 4
    for (job, _), cls in classes.items():
        module = sys.modules[cls.__module__]
        assert Path(module.__file__).resolve().is_relative_to(job.resolve())
        assert real_json.__file__ == module.JSON_FILE
        assert not cls.__module__.startswith(("reader", "pkg"))  # a name unique to the directory
    helper_tags = {sys.modules[cls.__module__].helper.TAG for cls in classes.values()}
    assert helper_tags == {"acme", "acme-pkg", "globex", "globex-pkg"}
    # loading again gives the same class (one module per directory and process)
    assert (
        import_plugin_class("reader.Reader", str(first), "source.reader", DataReader)
        is classes[(first, "reader.Reader")]
    )


def test_an_installed_module_is_still_importable_by_plugin_path(tmp_path: Path) -> None:
    cls = import_plugin_class("dativo_workers.plugins.DataReader", str(tmp_path), "source.reader", DataReader)
    assert cls is DataReader
    with pytest.raises(ConfigError, match=r"source.reader.plugin_path: cannot import 'absent_mod.Reader'"):
        import_plugin_class("absent_mod.Reader", str(tmp_path), "source.reader", DataReader)


def test_a_run_with_a_plugin_leaves_other_imports_alone(workspace: Workspace) -> None:
    """A fresh process runs a plugin job, then imports pymysql and json like any later job would."""
    job_dir = _job_dir(workspace.root / "jobs" / "acme", "acme")
    job = workspace.job(
        "jobs/acme/plugin_job.yaml",
        """
        tenant_id: acme
        source:
          reader: {type: plugin, plugin_path: pkg.sub.Nested}
        target: {namespace: acme, table: plugin_rows}
        """,
    )
    script = textwrap.dedent(
        f"""
        import json, sys
        from dativo_workers.config import load_job, load_runner
        from dativo_workers.executor import execute

        before = list(sys.path)
        summary = execute(load_job({str(job)!r}), load_runner({str(workspace.runner_file)!r}), 1)
        import pymysql  # first imported here, after the plugin job: it must be the installed driver
        print(json.dumps({{"state": summary["state"], "rows": summary["rows"], "same_path": sys.path == before,
                          "pymysql": pymysql.__file__, "json": json.__file__}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=workspace.root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["state"] == "committed" and report["rows"] == 2, report
    assert report["same_path"]
    assert job_dir.as_posix() not in report["pymysql"] and job_dir.as_posix() not in report["json"]
    rows = workspace.read("acme.plugin_rows", sort_by="id").to_pylist()
    assert rows == [{"id": 1, "tag": "acme-pkg"}, {"id": 2, "tag": '"ok"'}]
