"""Generator building blocks: asset types that map back exactly, names from paths, answers
validated against a reader's own models, secrets that never reach a YAML file."""

from __future__ import annotations

import stat
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from pydantic import BaseModel, Field, SecretStr
from rich.console import Console

from dativo_workers.config.asset import load_asset
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.generator import documents as docs
from dativo_workers.generator.asker import Asker, GenerateError, Invalid
from dativo_workers.generator.source import object_name_from_path, secret_name, settings_of, slug
from dativo_workers.generator.wizard import _partition_fields
from dativo_workers.schema import arrow_to_iceberg, asset_schema

WIDE = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("small", pa.int16()),
        pa.field("flag", pa.bool_()),
        pa.field("ratio", pa.float32()),
        pa.field("score", pa.float64()),
        pa.field("amount", pa.decimal128(12, 2)),
        pa.field("huge", pa.uint64()),
        pa.field("name", pa.string()),
        pa.field("blob", pa.binary()),
        pa.field("day", pa.date32()),
        pa.field("local_ts", pa.timestamp("us")),
        pa.field("utc_ts", pa.timestamp("us", tz="UTC")),
        pa.field("at", pa.time64("us")),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("address", pa.struct([pa.field("street", pa.string()), pa.field("zip", pa.int32())])),
    ]
)


def _types(schema: object) -> list[tuple[str, str, bool]]:
    return [(f.name, str(f.field_type), f.required) for f in schema.fields]  # type: ignore[attr-defined]


def test_generated_asset_maps_back_to_the_inferred_iceberg_schema(tmp_path: Path) -> None:
    inferred = arrow_to_iceberg(WIDE)
    doc = docs.asset_document(
        tenant="acme",
        source="csv",
        object_name="wide",
        schema=inferred,
        labels={"name": "PII", "score": docs.NONE_LABEL},
        primary_key=["id"],
        not_null={"id"},
    )
    path = tmp_path / "wide.yaml"
    path.write_text(docs.to_yaml(doc, docs.header("asset", "test")))
    asset = load_asset(path)  # validated against the official ODCS v3 JSON schema
    mapped = asset_schema(asset)
    expected = [(n, t, n == "id") for n, t, _ in _types(inferred)]
    assert _types(mapped) == expected
    assert mapped.identifier_field_ids == [mapped.find_field("id").field_id]
    assert asset.column("name").classification == "PII"
    assert asset.column("score").classification == "none"  # a rejected detection stays rejected
    assert asset.id == "acme-wide" and asset.tenant == "acme"


def test_map_columns_are_refused_with_a_way_out() -> None:
    schema = arrow_to_iceberg(pa.schema([pa.field("attrs", pa.map_(pa.string(), pa.string()))]))
    with pytest.raises(Invalid, match="--no-asset"):
        docs.asset_document(
            tenant="t", source="s", object_name="o", schema=schema, labels={}, primary_key=[], not_null=set()
        )


def test_regenerated_asset_keeps_the_users_words_and_follows_the_source() -> None:
    old = arrow_to_iceberg(pa.schema([pa.field("id", pa.int64()), pa.field("email", pa.string())]))
    existing = docs.asset_document(
        tenant="acme", source="csv", object_name="c", schema=old, labels={}, primary_key=[], not_null=set()
    )
    existing["version"] = "1.2.0"
    existing["team"] = [{"username": "data@acme.com", "role": "owner"}]
    existing["schema"][0]["properties"][1].update(description="Contact address", classification="RESTRICTED")
    new = arrow_to_iceberg(
        pa.schema([pa.field("id", pa.int64()), pa.field("email", pa.string()), ("phone", pa.string())])
    )
    doc = docs.asset_document(
        tenant="acme",
        source="csv",
        object_name="c",
        schema=new,
        labels={"email": "PII", "phone": "PII"},
        primary_key=[],
        not_null=set(),
        existing=existing,
    )
    props = {p["name"]: p for p in doc["schema"][0]["properties"]}
    assert doc["version"] == "1.2.0" and doc["team"] == existing["team"]
    assert props["email"]["classification"] == "RESTRICTED"  # the user's label beats a new detection
    assert props["email"]["description"] == "Contact address"
    assert props["phone"]["classification"] == "PII"  # a new column gets the detected label
    text_old = docs.to_yaml(existing, "h")
    text_new = docs.to_yaml(doc, "h")
    change = docs.diff(text_old, text_new, Path("c.yaml"))
    assert "+      - name: phone" in change and "-      - name: email" not in change


@pytest.mark.parametrize(
    ("pattern", "matched", "expected"),
    [
        ("data/customers_*.csv.gz", None, "customers"),
        ("data/*.csv", ["/x/orders_2024-01.csv", "/x/orders_2024-02.csv"], "orders"),
        ("data/*.csv", ["/x/a.csv", "/x/b.csv"], "data"),
        ("exports/Sales Report.CSV", None, "sales_report"),
        ("**/*.parquet", ["/y/p1.parquet"], "p"),
    ],
)
def test_object_names_from_paths(pattern: str, matched: list[str] | None, expected: str) -> None:
    assert object_name_from_path(pattern, matched) == expected


def test_slug_always_gives_a_valid_name() -> None:
    assert slug("Customers 2024.csv") == "customers_2024_csv"
    assert slug("_x") == "x"
    assert slug("---") == "t"


class _Conn(BaseModel):
    host: str = Field("localhost", description="server")
    port: int = Field(5432, ge=1, le=65535)
    user: str
    password: SecretStr | None = None
    api_token: str | None = None


def test_connection_settings_are_validated_against_the_readers_model() -> None:
    settings = {s.name: s for s in settings_of(_Conn)}
    assert settings["port"].parse("6543") == 6543
    with pytest.raises(Invalid, match="less than or equal to 65535"):
        settings["port"].parse("70000")
    with pytest.raises(Invalid):
        settings["port"].parse("five")
    assert settings["user"].required and not settings["host"].required
    assert settings["password"].secret  # SecretStr
    assert settings["api_token"].secret  # a credential name
    assert not settings["host"].secret
    assert settings["port"].parse("${secret:pg.port}") == "${secret:pg.port}"  # references pass through


def test_secret_names() -> None:
    assert secret_name("${secret:shop_db.password}") == "shop_db.password"
    assert secret_name("pg_password") == "pg_password"
    with pytest.raises(Invalid):
        secret_name("bad name!")


def test_partition_fields_are_checked_against_the_schema() -> None:
    schema = arrow_to_iceberg(pa.schema([("id", pa.int64()), ("ts", pa.timestamp("us")), ("d", pa.date32())]))
    assert _partition_fields("ts:day, id:bucket[16]", schema) == [
        {"field": "ts", "transform": "day"},
        {"field": "id", "transform": "bucket[16]"},
    ]
    assert _partition_fields("d", schema) == [{"field": "d"}]
    with pytest.raises(Invalid, match="date or timestamp"):
        _partition_fields("id:month", schema)
    with pytest.raises(Invalid, match="hour needs a timestamp"):
        _partition_fields("d:hour", schema)
    with pytest.raises(Invalid, match="no column"):
        _partition_fields("nope", schema)
    with pytest.raises(Invalid, match="transform"):
        _partition_fields("id:weekly", schema)


def test_filesystem_provider_gets_the_value_with_0600(tmp_path: Path) -> None:
    runner = RunnerConfig.model_validate({"secrets": {"provider": "filesystem", "filesystem": {"dir": str(tmp_path)}}})
    stored, message = docs.store_secret(runner, "acme", "pg_password", "s3cr3t-Value")
    target = tmp_path / "acme" / "pg_password"
    assert stored and target.read_text() == "s3cr3t-Value"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "s3cr3t-Value" not in message


def test_env_provider_gets_instructions_without_the_value() -> None:
    stored, message = docs.store_secret(RunnerConfig(), "acme", "pg_password", "s3cr3t-Value")
    assert not stored
    assert "DATIVO_SECRET__ACME__PG_PASSWORD" in message and "s3cr3t-Value" not in message


def test_non_interactive_questions_take_flags_or_defaults_and_name_the_flag() -> None:
    asker = Asker(interactive=False, console=Console(file=open("/dev/null", "w")), answers={"port": "99999"})  # noqa: SIM115

    def port(value: str) -> int:
        if not 1 <= int(value) <= 65535:
            raise Invalid("a port is 1..65535")
        return int(value)

    with pytest.raises(GenerateError, match=r"--port '99999': a port is 1..65535"):
        asker.ask("port", "Port", flag="--port", default="5432", validate=port)
    assert asker.ask("port", "Port", flag="--port", default="5432", validate=port) == 5432
    with pytest.raises(GenerateError, match="--tenant is required"):
        asker.ask("tenant", "Tenant", flag="--tenant")


def test_yaml_is_plain_block_style_with_a_header() -> None:
    text = docs.to_yaml({"a": {"b": [{"path": "x/*.csv"}]}, "s": "${secret:x}"}, "line one\nline two")
    assert text.startswith("# line one\n# line two\n")
    assert yaml.safe_load(text) == {"a": {"b": [{"path": "x/*.csv"}]}, "s": "${secret:x}"}
