"""OpenLineage dataset naming (docs/lineage.md): the readers' inputs per the naming spec, the
engine's default for readers that name none, and the output table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dativo_plugins.sql import MysqlReader, PostgresReader
from dativo_plugins.stripe.reader import StripeOptions, StripeReader
from dativo_workers import lineage
from dativo_workers.config.runner import CatalogConfig, LineageConfig
from dativo_workers.plugins import DataReader, SourceContext
from dativo_workers.secrets import SecretValue


class Plain(DataReader):
    name = "plain"


def test_files_are_named_by_path_or_bucket_and_prefix(tmp_path: Path) -> None:
    context = SourceContext(
        base_dir=tmp_path,
        files=[{"path": "data/*.csv"}, {"path": "s3://raw/orders/**/*.json"}, {"path": "/abs/one.parquet"}],
    )
    assert lineage.source(Plain({}, context), ["a"])["inputs"] == [
        {"namespace": "file", "name": str(tmp_path / "data")},
        {"namespace": "s3://raw", "name": "orders"},
        {"namespace": "file", "name": "/abs/one.parquet"},
    ]


def test_a_reader_without_files_or_its_own_names_gets_its_tables_or_its_name() -> None:
    tables = SourceContext(base_dir=Path("."), tables=[{"name": "contacts"}])
    assert lineage.default_inputs(Plain({}, tables)) == [("plain://", "contacts")]
    assert lineage.default_inputs(Plain({}, SourceContext(base_dir=Path(".")))) == [("plain://", "plain")]


def _sql(cls: type, connection: dict[str, Any], table: str) -> Any:
    context = SourceContext(
        base_dir=Path("."), tables=[{"name": table}], connection={"database": "shop", "user": "u", **connection}
    )
    return cls(cls.config_model.model_validate({}), context)


def test_databases_follow_the_naming_spec() -> None:
    pg = _sql(PostgresReader, {"host": "db.internal", "password": SecretValue("pw")}, "sales.orders")
    assert pg.lineage_inputs() == [("postgres://db.internal:5432", "shop.sales.orders")]
    assert _sql(PostgresReader, {}, "orders").lineage_inputs() == [("postgres://localhost:5432", "shop.public.orders")]
    my = _sql(MysqlReader, {"host": "10.0.0.5", "port": 3307}, "orders")
    assert my.lineage_inputs() == [("mysql://10.0.0.5:3307", "shop.orders")]
    # a host given as a secret is not named; the engine's default takes over
    hidden = _sql(PostgresReader, {"host": SecretValue("secret-host.internal")}, "orders")
    assert hidden.lineage_inputs() is None
    assert "secret-host" not in str(lineage.source(hidden, ["id"]))


def test_stripe_objects_live_under_the_api_root() -> None:
    context = SourceContext(
        base_dir=Path("."), tables=[{"name": "customers"}], connection={"api_key": SecretValue("sk_test_1")}
    )
    reader = StripeReader(StripeOptions.model_validate({}), context)
    assert lineage.source(reader, [])["inputs"] == [{"namespace": "https://api.stripe.com", "name": "v1/customers"}]


def test_the_output_table_takes_its_namespace_from_the_warehouse() -> None:
    s3 = CatalogConfig(type="rest", uri="https://cat.example", warehouse="s3://lake/warehouse/")
    assert lineage.output_dataset(s3, "default", ("acme", "orders"), None) == {
        "namespace": "s3://lake/warehouse",
        "name": "acme.orders",
    }
    local = CatalogConfig(type="sql", uri="sqlite:////x/catalog.db", warehouse="file:///x/warehouse")
    assert lineage.output_dataset(local, "default", ("acme", "orders"), None) == {
        "namespace": "file:///x/warehouse",
        "name": "acme.orders",
    }
    secret_uri = CatalogConfig(type="sql", uri="postgresql://dativo:hunter2@pg:5432/catalog")
    assert "hunter2" not in str(lineage.output_dataset(secret_uri, "default", ("a", "b"), None))
    assert lineage.output_dataset(local, "default", ("", "out"), "s3://bucket/exports/out") == {
        "namespace": "s3://bucket",
        "name": "exports/out",
    }


def test_nothing_is_sent_unless_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    assert not lineage._enabled(LineageConfig())
    assert lineage._enabled(LineageConfig(url="http://marquez:5000"))
    assert not lineage._enabled(LineageConfig(url="http://marquez:5000", disabled=True))
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    assert lineage._enabled(LineageConfig())
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not lineage._enabled(LineageConfig())
