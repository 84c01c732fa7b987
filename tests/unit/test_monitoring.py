"""The monitoring stack's files (docker/monitoring/, docker-compose.yml) and dativo_workers/metrics.py in
one process: the dashboard queries only metrics that something exports, the compose file wires
Prometheus to every worker's port and Grafana to the dashboard, and the recording functions write
what the multiprocess collector reads (and nothing when metrics are off)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dativo_workers import metrics
from dativo_workers.errors import BadDataError, ConfigError, PluginError, SourceError, TransientError

from ..conftest import REPO

MONITORING = REPO / "docker" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "dativo-fleet.json"
# what the other exporters of the stack export and the dashboard uses
REDIS_EXPORTER = {"redis_key_size", "redis_up"}  # oliver006/redis_exporter, --check-single-keys
FLOWER = {"flower_worker_online"}  # Flower's /metrics
PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "by", "without", "rate", "irate", "increase", "histogram_quantile",
    "label_values", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: label matchers, strings, ranges, grouping
    clauses and Grafana variables removed; what is left that is not a function or keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)", text):
        if match.group(1) or match.group(0) in PROMQL_WORDS:
            continue
        names.add(match.group(0))
    return names


def _base(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in metrics.EXPORTED:
            return name[: -len(suffix)]
    return name


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(dativo_commit_duration_seconds_bucket{t=~"a|b"}[5m])))'
    assert _metric_names(expr) == {"dativo_commit_duration_seconds_bucket"}
    assert _metric_names("sum(a_total) / sum by (x) (b)") == {"a_total", "b"}


def test_every_dashboard_query_names_a_metric_that_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasource = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    [source] = datasource["datasources"]
    known = metrics.EXPORTED | REDIS_EXPORTER | FLOWER
    used: set[str] = set()
    titles = []
    for panel in dashboard["panels"]:
        titles.append(panel["title"])
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = {_base(n) for n in _metric_names(target["expr"])}
            assert names, (panel["title"], target["expr"])
            assert names <= known, (panel["title"], names - known)
            used |= names
    for variable in dashboard["templating"]["list"]:  # label_values(METRIC{...}, LABEL): a label we set
        selector, label = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"]).groups()  # type: ignore[union-attr]
        assert _metric_names(selector) <= known and label in ("tenant", "table"), variable["query"]
    # what the issue asks the dashboard to show
    assert {"redis_key_size", "dativo_rows_total", "dativo_partitions_total", "dativo_commit_duration_seconds"} <= used
    assert len(set(titles)) == len(titles)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)


def test_compose_wires_prometheus_to_the_workers_and_grafana_to_the_dashboard() -> None:
    services = _compose()["services"]
    worker = services["worker"]["command"]
    port = int(worker[worker.index("--metrics-port") + 1])
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    [workers] = jobs["dativo-worker"]["dns_sd_configs"]
    assert workers["names"] == ["worker"] and workers["port"] == port
    targets = {t for job in jobs.values() for cfg in job.get("static_configs", []) for t in cfg["targets"]}
    for target in targets:
        assert target.split(":")[0] in services, target
    exporter = services["redis-exporter"]["command"]
    assert any("db0=dativo" in arg and "dativo.control" in arg for arg in exporter)
    assert "redis-exporter:9121" in targets and "flower:5555" in targets

    def mounts(service: str) -> dict[str, Path]:
        found = {}
        for volume in services[service]["volumes"]:
            host, _, rest = volume.partition(":")
            if host.startswith("./"):
                found[rest.split(":")[0]] = REPO / host
        return found

    prometheus = mounts("prometheus")
    assert prometheus["/etc/prometheus/prometheus.yml"] == MONITORING / "prometheus.yml"
    grafana = mounts("grafana")
    for path in grafana.values():
        assert path.exists(), path
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/dativo.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert grafana[dashboards_path] == DASHBOARD.parent
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_path}/{DASHBOARD.name}"
    source = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    for name in ("prometheus", "grafana"):  # like Flower: on loopback only
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"])


# -- the recording functions, in this process ---------------------------------------------------


def test_metrics_are_off_without_the_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.ENV, raising=False)
    assert metrics._metrics() is None
    started = metrics.partition_started("acme", "acme.t")
    metrics.partition_ended("acme", "acme.t", started, "done", 10, 100, 1)  # nothing to write to, no error
    metrics.commit_ended("acme", "acme.t", started, "committed")


def test_recorded_values_reach_the_multiprocess_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.parser import text_string_to_metric_families

    monkeypatch.setenv(metrics.ENV, str(tmp_path))
    try:
        t = ("acme", "acme.orders")
        started = metrics.partition_started(*t)
        metrics.partition_ended(*t, started, "done", rows=120, nbytes=4096, bad_rows=3)
        metrics.partition_ended(*t, metrics.partition_started(*t), "retried")
        metrics.partition_ended(*t, metrics.partition_started(*t), None)  # cancelled: not counted
        metrics.lease_stolen(*t, 2)
        metrics.commit_ended(*t, started, "committed")
        metrics.source_error(*t, TransientError("connection reset"))
        metrics.secret_error("acme", "vault", "unavailable")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples
        }
    finally:
        monkeypatch.delenv(metrics.ENV)
        metrics._current = None
    labels = (("table", "acme.orders"), ("tenant", "acme"))
    assert samples[("dativo_rows_total", labels)] == 120
    assert samples[("dativo_bytes_total", labels)] == 4096
    assert samples[("dativo_bad_rows_total", labels)] == 3
    outcome = {k[1]: v for k, v in samples.items() if k[0] == "dativo_partitions_total"}
    assert outcome == {
        (("outcome", "done"), *labels): 1,
        (("outcome", "retried"), *labels): 1,
        (("outcome", "stolen_lease"), *labels): 2,
    }
    assert samples[("dativo_partition_duration_seconds_count", labels)] == 2
    assert samples[("dativo_partitions_in_progress", labels)] == 0
    assert samples[("dativo_commit_duration_seconds_count", labels)] == 1
    assert samples[("dativo_source_errors_total", (("kind", "transient"), *labels))] == 1
    secret = (("kind", "unavailable"), ("provider", "vault"), ("tenant", "acme"))
    assert samples[("dativo_secret_provider_errors_total", secret)] == 1
    names = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name, _ in samples}
    names |= {name for name, _ in samples}
    assert names >= metrics.EXPORTED


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TransientError("timeout talking to the API"), "transient"),
        (BadDataError("row 3: not an integer"), "bad_data"),
        (ConfigError("missing ${VAR}"), "config"),
        (SourceError("no such file"), "source"),
        (PluginError("csv", SourceError("unreadable")), "source"),
        (PluginError("csv", BadDataError("bad")), "bad_data"),
        (TimeoutError("read timed out"), "timeout"),
        (ValueError("bug"), "other"),
    ],
)
def test_error_kinds_are_a_fixed_set(exc: BaseException, kind: str) -> None:
    assert metrics.error_kind(exc) == kind
    assert kind in metrics.SOURCE_ERROR_KINDS


def _collected(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.parser import text_string_to_metric_families

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


def test_secret_lookups_that_fail_are_counted_by_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the resolver every provider goes through: a missing secret, a store that cannot be
    reached, a refusal."""
    from dativo_workers.secrets.base import SecretError, SecretProvider, SecretUnavailable
    from dativo_workers.secrets.config import SecretsConfig
    from dativo_workers.secrets.resolve import Resolver

    class Store(SecretProvider):
        name = "teststore"

        def fetch(self, location: str, version: str | None) -> str | None:
            if location.endswith("down"):
                raise SecretUnavailable("store unreachable")
            if location.endswith("denied"):
                raise SecretError("permission denied")
            return "value" if location.endswith("there") else None

    monkeypatch.setenv(metrics.ENV, str(tmp_path))
    try:
        resolver = Resolver(SecretsConfig(cache_ttl_seconds=0), Store(SecretsConfig().env))
        assert resolver.resolve("${secret:there}", "acme") == "value"
        for name, error in (("missing", SecretError), ("down", SecretUnavailable), ("denied", SecretError)):
            with pytest.raises(error):
                resolver.resolve("${secret:" + name + "}", "acme")
        samples = _collected(tmp_path)
    finally:
        monkeypatch.delenv(metrics.ENV)
        metrics._current = None
    counted = {dict(k[1])["kind"]: v for k, v in samples.items() if k[0] == "dativo_secret_provider_errors_total"}
    assert counted == {"not_found": 1, "unavailable": 1, "refused": 1}
    assert all(dict(k[1]).get("provider") == "teststore" for k in samples if k[0].startswith("dativo_secret"))
