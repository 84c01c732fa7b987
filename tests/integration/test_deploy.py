"""The deploy files (docker-compose.yml, docker/Dockerfile, docker/k8s/, docker/runner.fleet.yaml,
.dockerignore): their official validators, installed from PyPI with the dev extra, and the
fleet defaults they must keep. docs/operations.md ("Validation") says what this covers and what
needs a Docker engine or a cluster."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dativo_workers.celery_app import CONTROL_QUEUE, DEFAULT_QUEUE, VISIBILITY_TIMEOUT_S, partition_time_limits
from dativo_workers.config import load_runner
from dativo_workers.secrets.redact import too_common

from ..conftest import REPO

pytestmark = pytest.mark.integration

K8S = REPO / "docker" / "k8s"
BIN = Path(sys.executable).parent
STAGING_PER_PROCESS_GIB = 8  # the largest output one partition stages, as the worker Deployment documents


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():  # pinned in pyproject's dev extra: missing means the environment is not set up
        pytest.fail(f"{name} is not installed in {BIN}: pip install -e '.[dev]'", pytrace=False)
    return str(path)


def _run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO, **kwargs)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s(kind: str, name: str) -> dict[str, Any]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _docs(path):
            if doc.get("kind") == kind and doc["metadata"].get("name") == name:
                return doc
    raise AssertionError(f"no {kind} {name} in {K8S}")


def _container(deployment: str) -> dict[str, Any]:
    [container] = _k8s("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return container


def _quantity_gib(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"Gi": 1, "Mi": 1 / 1024, "Ti": 1024}[unit]


# -- the validators ---------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = _run(_tool("hadolint"), "docker/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_resources_validate_strictly(tmp_path: Path) -> None:
    """kubernetes-validate --strict on every core resource. KEDA's CRDs and the Kustomization have
    no schema there (checked below instead); the producer Job uses generateName, which the tool
    cannot key on, so it is validated with a name filled in."""
    files = []
    for path in sorted(K8S.glob("*.yaml")):
        docs = [d for d in _docs(path) if not d["apiVersion"].startswith(("keda.sh/", "kustomize.config.k8s.io/"))]
        for doc in docs:
            if "generateName" in doc["metadata"]:
                doc["metadata"]["name"] = doc["metadata"]["generateName"] + "test"
        target = tmp_path / path.name
        target.write_text(yaml.safe_dump_all(docs))
        files.append(str(target))
    result = _run(_tool("kubernetes-validate"), "--strict", "--quiet", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_resources_that_exist_in_its_namespace() -> None:
    kustomization = _docs(K8S / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        for doc in _docs(K8S / resource):
            assert doc["metadata"].get("namespace", kustomization["namespace"]) == kustomization["namespace"], resource
    renderer = shutil.which("kustomize") or shutil.which("kubectl")
    if renderer:  # not installable from the package registries: rendered where a machine has it
        argv = [renderer, "build", str(K8S)] if renderer.endswith("kustomize") else [renderer, "kustomize", str(K8S)]
        result = _run(*argv)
        assert result.returncode == 0, result.stderr
        kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d}
        assert ("ScaledObject", "dativo-worker") in kinds and ("Deployment", "dativo-beat") in kinds


def test_keda_scaledobject_is_well_formed_and_watches_both_queues() -> None:
    """KEDA's CRD schema is not installable from the registries: its fields are checked here."""
    scaled = _k8s("ScaledObject", "dativo-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "dativo-worker"
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    triggers = spec["triggers"]
    assert all(t["type"] == "redis" for t in triggers)
    lists = {t["metadata"]["listName"] for t in triggers}
    # beat sends the reconciler to the control queue: a fleet at 0 pods must wake for it too
    assert lists == {DEFAULT_QUEUE, CONTROL_QUEUE}, lists
    runner = yaml.safe_load(_k8s("ConfigMap", "dativo-runner")["data"]["runner.yaml"])["runner"]
    broker_db = runner["broker_url"].rsplit("/", 1)[1]
    auth = _k8s("TriggerAuthentication", "dativo-redis")
    for trigger in triggers:
        meta = trigger["metadata"]
        assert all(isinstance(v, str) for v in meta.values()), meta  # KEDA's metadata is a map of strings
        assert meta["databaseIndex"] == broker_db and int(meta["listLength"]) >= 1
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    concurrency = _container("dativo-worker")["command"]
    per_pod = concurrency[concurrency.index("--concurrency") + 1]
    assert next(t for t in triggers if t["metadata"]["listName"] == DEFAULT_QUEUE)["metadata"]["listLength"] == per_pod


def test_comments_say_where_beat_sends_the_reconciler() -> None:
    for path in (K8S / "beat-deployment.yaml", K8S / "keda-scaledobject.yaml", REPO / "docker-compose.yml"):
        text = " ".join(path.read_text().split())
        assert f"`{CONTROL_QUEUE}`" in text, path
        assert not re.search(r"dativo\.reconcile`? (message )?to the `dativo` queue", text), path
        assert "on this same list" not in text, path


# -- fleet defaults ---------------------------------------------------------------------------


def test_fleet_runner_file_holds_no_password_and_stops_clearly_without_the_database_urls() -> None:
    fleet_file = REPO / "docker" / "runner.fleet.yaml"

    def values(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for child in node.values() for v in values(child)]
        return [str(node)]

    with_password = [
        v for v in values(yaml.safe_load(fleet_file.read_text())) if re.search(r"://[^/\s:@]+:[^/\s@]+@", v)
    ]
    assert with_password == [], "a password in docker/runner.fleet.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATIVO_")}
    for argv in (
        [sys.executable, "-m", "celery", "-A", "dativo_workers.celery_app", "worker"],
        [str(BIN / "dativo"), "worker"],
    ):
        result = _run(*argv, env={**env, "DATIVO_RUNNER_CONFIG": str(fleet_file)})
        assert result.returncode == 2, result.stdout + result.stderr
        assert "environment variable DATIVO_LEDGER_URL is not set" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    urls = {
        "DATIVO_LEDGER_URL": "postgresql+psycopg://dativo:pw@postgres:5432/dativo",
        "DATIVO_CATALOGS__DEFAULT__URI": "postgresql+psycopg://dativo:pw@postgres:5432/iceberg_catalog",
    }
    saved = dict(os.environ)
    try:
        os.environ.update(urls)
        runner = load_runner(fleet_file)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert runner.ledger_url == urls["DATIVO_LEDGER_URL"]
    assert runner.catalog("default").uri == urls["DATIVO_CATALOGS__DEFAULT__URI"]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _seconds(duration: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def test_shutdown_grace_outlasts_the_hard_time_limit_and_the_limits_stay_below_the_visibility_timeout() -> None:
    k8s_runner = yaml.safe_load(_k8s("ConfigMap", "dativo-runner")["data"]["runner.yaml"])
    fleet_runner = yaml.safe_load((REPO / "docker" / "runner.fleet.yaml").read_text())
    from dativo_workers.config.runner import RunnerConfig

    for data, grace in (
        (k8s_runner, _k8s("Deployment", "dativo-worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]),
        (fleet_runner, _seconds(_compose()["services"]["worker"]["stop_grace_period"])),
    ):
        timeout = data["runner"].get("partition_timeout_seconds", RunnerConfig().partition_timeout_seconds)
        soft, hard = partition_time_limits(RunnerConfig(partition_timeout_seconds=timeout))
        assert soft < hard < grace < VISIBILITY_TIMEOUT_S, (soft, hard, grace)


def test_worker_scratch_space_is_sized_for_its_processes() -> None:
    container = _container("dativo-worker")
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert env.get("TMPDIR") in mounts, "writer plugins stage under TMPDIR: it must be a volume of its own"
    volumes = {v["name"]: v for v in _k8s("Deployment", "dativo-worker")["spec"]["template"]["spec"]["volumes"]}
    scratch = _quantity_gib(volumes[mounts[env["TMPDIR"]]]["emptyDir"]["sizeLimit"])
    command = container["command"]
    processes = int(command[command.index("--concurrency") + 1])
    assert scratch >= processes * STAGING_PER_PROCESS_GIB
    assert _quantity_gib(container["resources"]["limits"]["ephemeral-storage"]) >= scratch


def test_compose_default_credentials_are_not_common_words() -> None:
    """Redaction does not mask common words: a default credential that is one would show in logs;
    one that is masked must not be a substring of Dativo's own names."""
    text = (REPO / "docker-compose.yml").read_text()
    defaults = set(re.findall(r"\$\{MINIO_ROOT_(?:USER|PASSWORD):-([^}]+)\}", text))
    assert defaults
    for value in defaults:
        assert not too_common(value), value
        assert value not in ("dativo", "warehouse", "acme") and value not in "dativo.commit_run dativo.ingest_partition"


def test_celery_logs_through_the_json_formatter_when_asked() -> None:
    """Celery's own lines ("Task ... succeeded") are JSON in a fleet that logs JSON."""
    probe = (
        "import logging, os; os.environ['DATIVO_LOG_FORMAT'] = 'json'; os.environ['DATIVO_LOG_LEVEL'] = 'info';"
        "from celery import signals; import dativo_workers.celery_app;"
        "signals.setup_logging.send(sender=None, loglevel='INFO', logfile=None, format='', colorize=False);"
        "logging.getLogger('celery.app.trace').info('Task %s[%s] succeeded in %ss: %r', 'dativo.x', 'id-1', 0.5, {})"
    )
    result = _run(sys.executable, "-c", probe)
    import json

    [line] = [line for line in result.stderr.splitlines() if "succeeded" in line]
    event = json.loads(line)
    assert event["event"].startswith("Task dativo.x[id-1] succeeded") and event["logger"] == "celery.app.trace"
    assert event["level"] == "info" and "timestamp" in event


# -- the image's build context ------------------------------------------------------------------


def _dockerfile_inputs() -> set[str]:
    inputs = set()
    for line in (REPO / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            inputs.update(a.rstrip("/") for a in line.split()[1:-1] if not a.startswith("--"))
    return inputs


def test_dockerignore_keeps_everything_but_the_images_inputs_out_of_the_context() -> None:
    patterns = [
        p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    tracked = _run("git", "ls-files").stdout.split()
    inputs = _dockerfile_inputs()
    assert {"pyproject.toml", "README.md", "dativo_workers", "dativo_plugins"} <= inputs

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in patterns)

    def needed(path: str) -> bool:
        return any(path == i or path.startswith(i + "/") for i in inputs)

    sent_but_unused = sorted({p.split("/")[0] for p in tracked if not ignored(p) and not needed(p)})
    assert sent_but_unused == [], f"in the build context, not used by the image: {sent_but_unused}"
    assert not [p for p in tracked if needed(p) and ignored(p)], "an input of the image is excluded"
