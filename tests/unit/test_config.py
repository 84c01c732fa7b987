"""Config loading: YAML with line numbers, job / runner / asset models and their errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
)

from dativo_workers.config import load_asset, load_job, load_runner
from dativo_workers.config.runner import absolute_sqlite_url
from dativo_workers.config.yamlio import expand_env_vars, format_key_path, load_yaml
from dativo_workers.errors import ConfigError
from dativo_workers.schema import asset_schema


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def message(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return str(exc.value)


@pytest.fixture(autouse=True)
def _no_dativo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner applies every DATIVO_* variable: start each test without any."""
    for key in list(os.environ):
        if key.startswith("DATIVO_"):
            monkeypatch.delenv(key)


# --- yamlio ------------------------------------------------------------------------------


def test_yaml_remembers_lines_of_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        """
        top:
          nested:
            deep: 1
          items:
            - first
            - {k: v}
            -
              x: 2
        other: [a, b]
        """,
    )
    loaded = load_yaml(path)
    assert loaded.data == {
        "top": {"nested": {"deep": 1}, "items": ["first", {"k": "v"}, {"x": 2}]},
        "other": ["a", "b"],
    }
    assert loaded.lines[("top",)] == 1
    assert loaded.lines[("top", "nested")] == 2
    assert loaded.lines[("top", "nested", "deep")] == 3
    assert loaded.lines[("top", "items")] == 4
    assert loaded.lines[("top", "items", 0)] == 5
    assert loaded.lines[("top", "items", 1)] == 6
    assert loaded.lines[("top", "items", 1, "k")] == 6
    assert loaded.lines[("top", "items", 2, "x")] == 8
    assert loaded.lines[("other", 1)] == 9
    # an absent key is located at its deepest existing parent
    assert loaded.line_of(("top", "nested", "missing", "deeper")) == 2
    assert loaded.line_of(("nowhere",)) is None


def test_core_schema_yaml_keeps_json_values_and_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """
        day: 2022-10-03
        stamp: 2022-10-03T10:00:00Z
        answer: no
        flag: True
        leading_zero: 012
        octal: 0o17
        hex: 0x1F
        exponent: 1e3
        sexagesimal: 1:20
        underscored: 1_000
        nothing: ~
        list: [2024-01-01, yes]
        """,
    )
    core = load_yaml(path, core_schema=True)
    assert core.data == {
        "day": "2022-10-03",
        "stamp": "2022-10-03T10:00:00Z",
        "answer": "no",
        "flag": True,
        "leading_zero": 12,
        "octal": 15,
        "hex": 31,
        "exponent": 1000.0,
        "sexagesimal": "1:20",
        "underscored": "1_000",
        "nothing": None,
        "list": ["2024-01-01", "yes"],
    }
    assert core.lines[("list", 1)] == 12 and core.lines[("exponent",)] == 8
    # other files keep PyYAML's YAML 1.1 reading
    assert load_yaml(path).data["answer"] is False
    merge = write(tmp_path / "m.yaml", "base: &b {x: 1}\nother:\n  <<: *b\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:3: YAML merge keys are not supported"):
        load_yaml(merge, core_schema=True)


def test_format_key_path() -> None:
    assert format_key_path(("source", "files", 1, "path")) == "source.files[1].path"
    assert format_key_path(()) == ""


def test_duplicate_key_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.yaml",
        """
        a: 1
        b:
          c: 1
          d: 2
          c: 3
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    assert f"{path}:5: duplicate key b.c" in message(exc)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError, match="invalid YAML") as exc:
        load_yaml(path)
    assert f"{path}:" in message(exc)


def test_env_vars_are_expanded_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DV_TEST_HOST", "db.local")
    monkeypatch.setenv("DV_TEST_EMPTY", "")
    monkeypatch.delenv("DV_TEST_PORT", raising=False)
    path = write(
        tmp_path / "env.yaml",
        """
        host: ${DV_TEST_HOST}
        port: ${DV_TEST_PORT:-5432}
        url: "pg://${DV_TEST_HOST}:${DV_TEST_PORT:-5432}/shop"
        empty: "${DV_TEST_EMPTY:-fallback}"
        blank_default: "x${DV_TEST_PORT:-}y"
        list: ["${DV_TEST_HOST}", 7]
        """,
    )
    data = load_yaml(path).data
    assert data == {
        "host": "db.local",
        "port": "5432",
        "url": "pg://db.local:5432/shop",
        "empty": "",  # set (even to "") wins over the default
        "blank_default": "xy",
        "list": ["db.local", 7],
    }


def test_secret_references_are_left_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DV_TEST_HOST", "db.local")
    path = write(
        tmp_path / "s.yaml",
        """
        password: ${secret:shop_db.password}
        dsn: "${DV_TEST_HOST}/${secret:token}"
        """,
    )
    assert load_yaml(path).data == {"password": "${secret:shop_db.password}", "dsn": "db.local/${secret:token}"}
    assert expand_env_vars("${secret:a} ${secret:b.c}") == "${secret:a} ${secret:b.c}"


def test_expansion_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DV_TEST_UNSET", raising=False)
    path = write(tmp_path / "raw.yaml", "a: ${DV_TEST_UNSET}\n")
    assert load_yaml(path, expand_env=False).data == {"a": "${DV_TEST_UNSET}"}


def test_unset_env_var_names_file_line_and_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DV_TEST_UNSET", raising=False)
    path = write(
        tmp_path / "unset.yaml",
        """
        source:
          connection:
            hosts:
              - ok
              - ${DV_TEST_UNSET}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    text = message(exc)
    assert f"{path}:5: source.connection.hosts[1]" in text
    assert "DV_TEST_UNSET is not set" in text


# --- job ---------------------------------------------------------------------------------

MINIMAL_JOB = """
tenant_id: acme
source:
  connector: csv
  files: [{path: data/a.csv}]
target:
  namespace: acme
  table: customers
"""


def job_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "jobs" / "bad.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_job(path)
    return " ".join(message(exc).split())


def test_job_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "jobs" / "acme" / "customers_to_iceberg.yaml", MINIMAL_JOB)
    job = load_job(path)
    cfg = job.config
    assert cfg.name == "customers_to_iceberg"
    assert cfg.bad_rows.action == "fail" and cfg.bad_rows.max is None
    assert cfg.target.mode == "append"
    assert cfg.target.file_size_mb == 256
    assert cfg.target.connector == "iceberg" and cfg.target.catalog == "default"
    assert cfg.target.partition_by == []
    assert cfg.retry.max_attempts == 3
    assert cfg.source.partitioning.target_mb == 128
    assert cfg.asset_path is None
    assert job.raw["name"] == "customers_to_iceberg"
    assert job.resolve("../../data/x.csv") == (tmp_path / "data" / "x.csv").resolve()
    assert job.resolve("/abs/x.csv") == Path("/abs/x.csv")


def test_job_name_in_file_wins_over_stem(tmp_path: Path) -> None:
    path = write(tmp_path / "stem.yaml", MINIMAL_JOB + "name: explicit\n")
    assert load_job(path).config.name == "explicit"


def test_job_unknown_nested_key_names_file_line_and_path(tmp_path: Path) -> None:
    text = MINIMAL_JOB + "  partition_by:\n    - field: created_at\n      transfrom: day\n"
    msg = job_error(tmp_path, text)
    path = tmp_path / "jobs" / "bad.yaml"
    assert f"{path}:10: target.partition_by[0].transfrom: unknown key" in msg


def test_job_wrong_type_names_file_line_and_path(tmp_path: Path) -> None:
    msg = job_error(tmp_path, MINIMAL_JOB + "retry:\n  backoff_seconds: 1\n  max_attempts: many\n")
    path = tmp_path / "jobs" / "bad.yaml"
    assert f"{path}:10: retry.max_attempts:" in msg and "integer" in msg


def test_job_reports_every_problem_of_a_list_item(tmp_path: Path) -> None:
    text = MINIMAL_JOB.replace("files: [{path: data/a.csv}]", "files:\n    - path: a.csv\n    - pth: b.csv")
    path = write(tmp_path / "jobs" / "bad.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_job(path)
    problems = exc.value.problems
    assert f"{path}:6: source.files[1].pth: unknown key (check the spelling; see docs/configuration.md)" in problems
    assert f"{path}:6: source.files[1].path: required key is missing" in problems
    assert exc.value.file == str(path)


def test_job_union_member_names_stay_out_of_the_key_path(tmp_path: Path) -> None:
    msg = job_error(tmp_path, MINIMAL_JOB + "asset_path: [a, b]\n")
    assert "asset_path:" in msg and "asset_path.str" not in msg


@pytest.mark.parametrize(
    "source",
    [
        "source:\n  files: [{path: a.csv}]\n",
        "source:\n  connector: csv\n  reader: {plugin_path: pkg.Reader}\n",
    ],
    ids=["neither", "both"],
)
def test_source_needs_exactly_one_of_connector_or_reader(tmp_path: Path, source: str) -> None:
    text = "tenant_id: acme\n" + source + "target: {namespace: acme, table: t}\n"
    msg = job_error(tmp_path, text)
    assert f"{tmp_path / 'jobs' / 'bad.yaml'}:2: source:" in msg
    assert "exactly one of `connector`" in msg


def test_source_plugin_reader_alone_is_valid(tmp_path: Path) -> None:
    text = "tenant_id: acme\nsource:\n  reader: {plugin_path: pkg.mod.Reader, config: {a: 1}}\n"
    path = write(tmp_path / "p.yaml", text + "target: {namespace: acme, table: t}\n")
    reader = load_job(path).config.source.reader
    assert reader is not None
    assert (reader.type, reader.plugin_path, reader.config) == ("plugin", "pkg.mod.Reader", {"a": 1})


def test_partition_transforms_are_validated(tmp_path: Path) -> None:
    text = MINIMAL_JOB + (
        "  partition_by:\n"
        "    - {field: created_at, transform: day}\n"
        "    - {field: id, transform: 'bucket[16]'}\n"
        "    - {field: name, transform: ' Truncate[4] '}\n"
        "    - {field: region}\n"
    )
    path = write(tmp_path / "ok.yaml", text)
    fields = load_job(path).config.target.partition_by
    assert [(f.field, f.transform) for f in fields] == [
        ("created_at", "day"),
        ("id", "bucket[16]"),
        ("name", "truncate[4]"),
        ("region", "identity"),
    ]


@pytest.mark.parametrize("transform", ["weekly", "bucket", "bucket[x]"])
def test_unknown_partition_transform_is_rejected(tmp_path: Path, transform: str) -> None:
    text = MINIMAL_JOB + f"  partition_by:\n    - field: created_at\n      transform: '{transform}'\n"
    msg = job_error(tmp_path, text)
    assert f"{tmp_path / 'jobs' / 'bad.yaml'}:10: target.partition_by[0].transform:" in msg
    assert "bucket[N]" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "must be a mapping"),
        (MINIMAL_JOB.replace("tenant_id: acme", "tenant_id: acme corp"), "tenant_id: Value error"),
        (MINIMAL_JOB.replace("table: customers", "table: 'bad table'"), "target.table:"),
        (MINIMAL_JOB + "bad_rows: {action: drop}\n", "bad_rows.action:"),
        (MINIMAL_JOB.replace("table: customers", "table: customers\n  mode: upsert"), "target.mode:"),
    ],
    ids=["not-mapping", "tenant-slug", "table-identifier", "bad-rows-action", "mode"],
)
def test_job_value_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in job_error(tmp_path, text)


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_job(tmp_path / "nope.yaml")


# --- runner ------------------------------------------------------------------------------


def runner_file(path: Path, ledger: str, extra: str = "") -> Path:
    return write(path, f"runner:\n  ledger_url: sqlite:////{ledger}\n{extra}")


def test_runner_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    explicit = runner_file(tmp_path / "explicit.yaml", "explicit.db")
    from_env = runner_file(tmp_path / "env.yaml", "env.db")
    runner_file(tmp_path / "config" / "runner.yaml", "cwd.db")
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(from_env))

    config = load_runner(explicit)
    assert config.ledger_url == "sqlite:////explicit.db" and config.source_file == str(explicit)
    config = load_runner()
    assert config.ledger_url == "sqlite:////env.db" and config.source_file == str(from_env)
    monkeypatch.delenv("DATIVO_RUNNER_CONFIG")
    assert load_runner().ledger_url == "sqlite:////cwd.db"
    (tmp_path / "config" / "runner.yaml").unlink()
    config = load_runner()
    assert config.source_file is None
    assert config.ledger_url == f"sqlite:///{tmp_path.resolve()}/.dativo/dativo.db"


def test_runner_builtin_defaults_are_absolute_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cwd = tmp_path.resolve()
    config = load_runner()
    assert config.ledger_url == f"sqlite:///{cwd}/.dativo/dativo.db"
    assert list(config.catalogs) == ["default"]
    default = config.catalog("default")
    assert default.type == "sql"
    assert default.uri == f"sqlite:///{cwd}/.dativo/catalog.db"
    assert default.warehouse == (cwd / ".dativo" / "warehouse").as_uri()
    assert config.secrets.provider == "env"
    assert config.lease_seconds == 60
    assert not (tmp_path / ".dativo").exists()  # loading creates nothing


def test_runner_relative_paths_resolve_against_cwd_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = write(
        tmp_path / "elsewhere" / "runner.yaml",
        """
        runner:
          ledger_url: sqlite:///state/ledger.db
          catalogs:
            default: {type: sql, uri: "sqlite:///state/cat.db", warehouse: "file://wh"}
            lake: {type: rest, uri: "http://cat:8181", warehouse: "s3://bucket/wh", credential: abc, port: 1}
        """,
    )
    config = load_runner(path)
    cwd = work.resolve()
    assert config.ledger_url == f"sqlite:///{cwd}/state/ledger.db"
    assert config.catalogs["default"].uri == f"sqlite:///{cwd}/state/cat.db"
    assert config.catalogs["default"].warehouse == (cwd / "wh").as_uri()
    lake = config.catalog("lake")
    assert (lake.uri, lake.warehouse) == ("http://cat:8181", "s3://bucket/wh")
    assert lake.pyiceberg_properties() == {
        "type": "rest",
        "uri": "http://cat:8181",
        "warehouse": "s3://bucket/wh",
        "credential": "abc",
        "port": "1",
    }


def test_absolute_sqlite_url_leaves_other_urls_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_url("sqlite:///a.db") == f"sqlite:///{tmp_path.resolve()}/a.db"
    for url in ("sqlite:////abs/a.db", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"):
        assert absolute_sqlite_url(url) == url


def test_runner_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(
        tmp_path / "runner.yaml",
        """
        runner:
          ledger_url: sqlite:////file.db
          catalogs:
            default: {type: sql, uri: "sqlite:////file-cat.db", warehouse: /wh}
        """,
    )
    monkeypatch.setenv("DATIVO_LEDGER_URL", "postgresql+psycopg://u@h/ledger")
    monkeypatch.setenv("DATIVO_CATALOGS__DEFAULT__URI", "sqlite:///env-cat.db")
    monkeypatch.setenv("DATIVO_LEASE_SECONDS", "30")
    monkeypatch.setenv("DATIVO_SECRET__ACME__DB", "not-a-runner-key")  # secrets are not runner settings
    config = load_runner(path)
    assert config.ledger_url == "postgresql+psycopg://u@h/ledger"
    assert config.lease_seconds == 30
    default = config.catalog("default")
    assert default.uri == f"sqlite:///{tmp_path.resolve()}/env-cat.db"
    assert default.warehouse == Path("/wh").as_uri()  # the other keys of the catalog stay


def test_runner_env_override_keeps_the_builtin_default_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATIVO_CATALOGS__DEFAULT__URI", "sqlite:////elsewhere/cat.db")
    config = load_runner()
    default = config.catalog("default")
    assert default.uri == "sqlite:////elsewhere/cat.db"
    assert default.type == "sql"
    assert default.warehouse == (tmp_path.resolve() / ".dativo" / "warehouse").as_uri()


def test_runner_env_override_with_a_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATIVO_LEASE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="DATIVO_"):
        load_runner()


def test_runner_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path / "runner.yaml", "runner:\n  ledger_url: sqlite:////x.db\ncatalogs: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_runner(path)
    assert f"{path}:3: catalogs: unknown key" in message(exc)


def test_runner_unknown_key_under_runner(tmp_path: Path) -> None:
    path = write(tmp_path / "runner.yaml", "runner:\n  ledger_url: sqlite:////x.db\n  secrets:\n    providr: env\n")
    with pytest.raises(ConfigError) as exc:
        load_runner(path)
    assert f"{path}:4: runner.secrets.providr: unknown key" in message(exc)


def test_runner_unknown_catalog_lists_known_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path / "runner.yaml",
        """
        runner:
          catalogs:
            default: {uri: "sqlite:////a.db"}
            lake: {type: rest, uri: "http://x"}
        """,
    )
    config = load_runner(path)
    with pytest.raises(ConfigError) as exc:
        config.catalog("nope")
    text = message(exc)
    assert "'nope'" in text and "known: default, lake" in text and str(path) in text


# --- asset -------------------------------------------------------------------------------

ODCS_ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: acme-customers
name: customers
version: 1.2.0
status: active
tenant: acme
domain: sales
dataProduct: crm
tags: [crm, core]
team:
  - username: bob@acme.com
    role: steward
  - username: alice@acme.com
    role: owner
customProperties:
  - property: retention_days
    value: 365
schema:
  - name: customers
    physicalType: table
    properties:
      - name: id
        logicalType: integer
        physicalType: bigint
        required: true
        primaryKey: true
      - name: email
        logicalType: string
        classification: PII
        description: contact address
      - name: balance
        logicalType: number
        physicalType: decimal(12,2)
"""

FLAT_ASSET = """
asset:
  id: acme-customers
  name: customers
  version: 1.2.0
  tenant: acme
  domain: sales
  tags: [crm, core]
  schema:
    - {name: id, type: bigint, required: true, primary_key: true}
    - {name: email, type: string, classification: PII, description: contact address}
    - {name: balance, type: "decimal(12,2)"}
  governance:
    owner: alice@acme.com
    retention_days: 365
"""


def test_odcs_asset(tmp_path: Path) -> None:
    asset = load_asset(write(tmp_path / "customers.yaml", ODCS_ASSET))
    assert (asset.id, asset.name, asset.version) == ("acme-customers", "customers", "1.2.0")
    assert (asset.tenant, asset.domain, asset.data_product) == ("acme", "sales", "crm")
    assert asset.owner == "alice@acme.com"  # the member with role owner, not the first member
    assert asset.tags == ["crm", "core"]
    assert asset.custom == {"retention_days": 365}
    assert [c.name for c in asset.columns] == ["id", "email", "balance"]
    id_col, email, balance = asset.columns
    assert (id_col.logical_type, id_col.physical_type, id_col.required, id_col.primary_key) == (
        "integer",
        "bigint",
        True,
        True,
    )
    assert (email.classification, email.description, email.required, email.primary_key) == (
        "PII",
        "contact address",
        False,
        False,
    )
    assert asset.column("balance") is balance and asset.column("nope") is None
    schema = asset_schema(asset)
    assert schema.identifier_field_ids == [1]
    assert [(f.field_id, f.name, f.field_type, f.required) for f in schema.fields] == [
        (1, "id", LongType(), True),
        (2, "email", StringType(), False),
        (3, "balance", DecimalType(12, 2), False),
    ]
    assert schema.find_field("email").doc == "contact address"


def test_odcs_owner_from_team_object_and_custom_property(tmp_path: Path) -> None:
    text = ODCS_ASSET.replace(
        "team:\n  - username: bob@acme.com\n    role: steward\n  - username: alice@acme.com\n    role: owner\n",
        "team:\n  name: crm-team\n  members:\n    - {username: carol@acme.com, role: Data Owner}\n",
    ).replace("apiVersion: v3.0.2", "apiVersion: v3.1.0")
    assert load_asset(write(tmp_path / "team.yaml", text)).owner == "carol@acme.com"
    custom = ODCS_ASSET.replace("    value: 365\n", "    value: 365\n  - property: owner\n    value: dave@acme.com\n")
    assert load_asset(write(tmp_path / "custom.yaml", custom)).owner == "dave@acme.com"


def test_flat_asset_converts_to_the_same_asset(tmp_path: Path) -> None:
    odcs = load_asset(write(tmp_path / "odcs.yaml", ODCS_ASSET))
    flat = load_asset(write(tmp_path / "flat.yaml", FLAT_ASSET))
    assert (flat.id, flat.name, flat.version, flat.tenant, flat.domain) == (
        odcs.id,
        odcs.name,
        odcs.version,
        odcs.tenant,
        odcs.domain,
    )
    assert flat.owner == odcs.owner == "alice@acme.com"
    assert flat.custom["retention_days"] == odcs.custom["retention_days"] == 365
    assert flat.tags == odcs.tags
    for a, b in zip(flat.columns, odcs.columns, strict=True):
        assert (a.name, a.required, a.primary_key, a.classification, a.description) == (
            b.name,
            b.required,
            b.primary_key,
            b.classification,
            b.description,
        )
    assert asset_schema(flat) == asset_schema(odcs)


def test_flat_asset_defaults(tmp_path: Path) -> None:
    asset = load_asset(write(tmp_path / "orders.yaml", "asset:\n  schema:\n    - {name: note}\n"))
    assert (asset.id, asset.name, asset.version, asset.owner) == ("orders", "orders", "1.0.0", None)
    assert asset_schema(asset).fields == (NestedField(1, "note", StringType(), required=False),)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (FLAT_ASSET.replace("  tenant: acme", "  tenant: acme\n  ownr: x"), 6, "asset.ownr"),
        (FLAT_ASSET.replace("balance, type:", "balance, nullable: true, type:"), 11, "asset.schema[2].nullable"),
        (ODCS_ASSET.replace("tenant: acme", "tenant: acme\ntenent: acme"), 8, "tenent"),
        (
            ODCS_ASSET.replace("        classification: PII", "        classification: PII\n        clasification: x"),
            31,
            "schema[0].properties[1].clasification",
        ),
    ],
    ids=["flat-top", "flat-column", "odcs-top", "odcs-property"],
)
def test_asset_unknown_keys_name_file_line_and_path(tmp_path: Path, text: str, line: int, key: str) -> None:
    path = write(tmp_path / "a.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_asset(path)
    assert f"{path}:{line}: {key}: unknown key" in message(exc)


def odcs_with(tmp_path: Path, props: str) -> Path:
    body = textwrap.indent(textwrap.dedent(props).strip("\n"), " " * 6)
    text = (
        "apiVersion: v3.0.2\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\n"
        "schema:\n  - name: t\n    properties:\n" + body + "\n"
    )
    return write(tmp_path / "types.yaml", text)


def test_asset_type_mapping(tmp_path: Path) -> None:
    path = odcs_with(
        tmp_path,
        """
        - {name: a_bigint, physicalType: bigint, required: true, primaryKey: true}
        - {name: a_int, physicalType: INT}
        - {name: a_dec, physicalType: "decimal(12,2)"}
        - {name: a_num, physicalType: "numeric(38, 0)"}
        - {name: a_varchar, physicalType: varchar(20)}
        - {name: a_tstz, physicalType: timestamptz}
        - {name: a_ts, physicalType: timestamp}
        - {name: a_date, physicalType: date}
        - {name: a_bool, physicalType: boolean}
        - {name: a_bin, physicalType: binary}
        - {name: l_int, logicalType: integer}
        - {name: l_num, logicalType: number}
        - {name: l_str, logicalType: string}
        - {name: l_date, logicalType: date}
        - {name: l_ts, logicalType: timestamp}
        - {name: l_tstz, logicalType: timestamp, logicalTypeOptions: {timezone: true}}
        - name: tags
          logicalType: array
          items: {name: tag, logicalType: string}
        - name: address
          logicalType: object
          properties:
            - {name: city, logicalType: string, required: true}
            - {name: zip, physicalType: int}
        - {name: code, logicalType: string, physicalType: bigint, required: true, primaryKey: true}
        """,
    )
    schema = asset_schema(load_asset(path))
    types = {f.name: f.field_type for f in schema.fields}
    assert types == {
        "a_bigint": LongType(),
        "a_int": IntegerType(),
        "a_dec": DecimalType(12, 2),
        "a_num": DecimalType(38, 0),
        "a_varchar": StringType(),
        "a_tstz": TimestamptzType(),
        "a_ts": TimestampType(),
        "a_date": DateType(),
        "a_bool": BooleanType(),
        "a_bin": BinaryType(),
        "l_int": LongType(),
        "l_num": DoubleType(),
        "l_str": StringType(),
        "l_date": DateType(),
        "l_ts": TimestampType(),
        "l_tstz": TimestamptzType(),
        "tags": types["tags"],
        "address": types["address"],
        "code": LongType(),  # the physical type wins over the logical one
    }
    tags = types["tags"]
    assert isinstance(tags, ListType) and tags.element_type == StringType() and not tags.element_required
    address = types["address"]
    assert isinstance(address, StructType)
    assert [(f.name, f.field_type, f.required) for f in address.fields] == [
        ("city", StringType(), True),
        ("zip", IntegerType(), False),
    ]
    code_id = schema.find_field("code").field_id
    assert schema.identifier_field_ids == [1, code_id]
    all_ids = [1, *[schema.find_field(n).field_id for n in types if n != "a_bigint"]]
    all_ids += [tags.element_id, *[f.field_id for f in address.fields]]
    assert len(set(all_ids)) == len(all_ids)  # every field, element and member has its own id


def test_timezone_option_decides_between_timestamp_and_timestamptz(tmp_path: Path) -> None:
    path = odcs_with(
        tmp_path,
        """
        - {name: zoned, logicalType: timestamp, physicalType: timestamp, logicalTypeOptions: {timezone: true}}
        - {name: zoned_dt, logicalType: timestamp, physicalType: datetime, logicalTypeOptions: {timezone: true}}
        - {name: plain, logicalType: timestamp, physicalType: timestamptz, logicalTypeOptions: {timezone: false}}
        - {name: unsaid, logicalType: timestamp, physicalType: timestamptz}
        - {name: l_plain, logicalType: timestamp, logicalTypeOptions: {timezone: false}}
        """,
    )
    types = {f.name: f.field_type for f in asset_schema(load_asset(path)).fields}
    assert types == {
        "zoned": TimestamptzType(),
        "zoned_dt": TimestamptzType(),
        "plain": TimestampType(),
        "unsaid": TimestamptzType(),
        "l_plain": TimestampType(),
    }


def test_array_without_items_and_object_without_properties_are_settled_and_warned(tmp_path: Path) -> None:
    path = odcs_with(
        tmp_path,
        """
        - {name: codes, logicalType: array, physicalType: list}
        - {name: extra, logicalType: object}
        - {name: doc, logicalType: object, physicalType: jsonb}
        """,
    )
    asset = load_asset(path)
    schema = asset_schema(asset)
    assert [(f.name, f.field_type) for f in schema.fields] == [
        ("codes", ListType(2, StringType(), element_required=False)),
        ("extra", StringType()),
        ("doc", StringType()),
    ]
    assert asset.warnings == [
        f"{path}:9: schema[0].properties[0]: array 'codes' has no `items`: loaded as a list of strings",
        f"{path}:10: schema[0].properties[1]: object 'extra' has no `properties`: loaded as a string (JSON text)",
    ]


MULTI_OBJECT = """
apiVersion: v3.1.0
kind: DataContract
id: shop
version: 1.0.0
status: active
schema:
  - name: orders
    physicalName: orders_v2
    properties:
      - {name: id, physicalType: bigint, primaryKey: true}
  - name: customers
    properties:
      - {name: email, logicalType: string}
  - name: Refunds
    properties:
      - {name: amount, logicalType: number}
"""


def test_contract_with_several_schema_objects_is_picked_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "shop.yaml", MULTI_OBJECT)
    assert [c.name for c in load_asset(path, "customers").columns] == ["email"]
    assert load_asset(path, "orders_v2").object_name == "orders"  # its physicalName
    assert load_asset(path, "refunds").object_name == "Refunds"  # case is a last resort
    with pytest.raises(ConfigError) as exc:
        load_asset(path)
    assert "3 schema objects (orders, customers, Refunds)" in message(exc)
    assert "asset_path: shop.yaml#<name>" in message(exc)
    with pytest.raises(ConfigError, match=r"no schema object is called 'returns' \(the contract has: orders, custom"):
        load_asset(path, "returns")


def test_problems_in_a_later_schema_object_name_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path / "shop.yaml", MULTI_OBJECT.replace("{name: amount,", "{name: amount, colour: red,"))
    assert load_asset(path, "orders").columns[0].name == "id"  # the other objects are not this asset's
    with pytest.raises(ConfigError) as exc:
        load_asset(path, "Refunds")
    assert f"{path}:16: schema[2].properties[0].colour: unknown key" in exc.value.problems


def test_v30_library_rule_gets_a_hint_towards_metric(tmp_path: Path) -> None:
    path = odcs_with(tmp_path, "- {name: id, logicalType: integer, quality: [{type: library, rule: nullCheck}]}")
    with pytest.raises(ConfigError, match=r"quality\[0\]\.rule: unknown rule 'nullCheck'; ODCS v3.0.x rules: dup"):
        load_asset(path)  # v3.0.x: its own rule names (duplicateCount, validValues, rowCount)
    path.write_text(path.read_text().replace("v3.0.2", "v3.1.0"))
    with pytest.raises(ConfigError) as exc:
        load_asset(path)
    assert any("quality[0].rule: unknown key (ODCS v3.1 replaced" in p for p in exc.value.problems)
    bound = odcs_with(
        tmp_path, "- {name: n, logicalType: integer, logicalTypeOptions: {maximum: 9, exclusiveMaximum: true}}"
    )
    with pytest.raises(ConfigError) as exc:
        load_asset(bound)
    assert any("`exclusiveMaximum` holds the bound itself" in p for p in exc.value.problems)


def test_asset_unknown_type_names_the_column(tmp_path: Path) -> None:
    asset = load_asset(
        odcs_with(tmp_path, "- {name: id, physicalType: bigint}\n- {name: shape, physicalType: geometry}")
    )
    with pytest.raises(ConfigError) as exc:
        asset_schema(asset)
    assert "column 'shape'" in message(exc) and "'geometry'" in message(exc)


def test_asset_primary_key_is_required_even_without_required(tmp_path: Path) -> None:
    # ODCS keeps primaryKey and required apart (its examples set `primaryKey: true, required: false`)
    asset = load_asset(
        odcs_with(
            tmp_path,
            "- {name: id, physicalType: bigint, primaryKey: true, required: false}\n- {name: x, logicalType: string}",
        )
    )
    schema = asset_schema(asset)
    assert [(f.name, f.required) for f in schema.fields] == [("id", True), ("x", False)]
    assert schema.identifier_field_ids == [1]


def test_asset_floating_primary_key_names_the_column_and_line(tmp_path: Path) -> None:
    path = odcs_with(
        tmp_path, "- {name: x, logicalType: string}\n- {name: score, logicalType: number, primaryKey: true}"
    )
    with pytest.raises(ConfigError) as exc:
        asset_schema(load_asset(path))
    assert f"{path}:10: schema[0].properties[1]: column 'score' is a primaryKey of type double" in message(exc)


def test_asset_bad_decimal_precision(tmp_path: Path) -> None:
    asset = load_asset(odcs_with(tmp_path, '- {name: amount, physicalType: "decimal(40,2)"}'))
    with pytest.raises(ConfigError, match="precision"):
        asset_schema(asset)


def test_nested_members_may_omit_logical_type(tmp_path: Path) -> None:
    # the ODCS schema's `if logicalType == map` also fires when logicalType is absent
    path = odcs_with(
        tmp_path,
        """
        - name: codes
          logicalType: array
          items: {name: code, physicalType: int}
        - name: address
          logicalType: object
          properties:
            - {name: zip, physicalType: varchar(10)}
        """,
    )
    codes, address = asset_schema(load_asset(path)).fields
    assert codes.field_type == ListType(2, IntegerType(), element_required=False)
    assert address.field_type == StructType(NestedField(4, "zip", StringType(), required=False))


def test_odcs_map_still_needs_its_definition(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'map' is a required property"):
        load_asset(odcs_with(tmp_path, "- {name: attrs, logicalType: map}"))


def test_multi_table_jobs_split_into_one_job_per_object(tmp_path: Path) -> None:
    from dativo_workers.config.job import expand_objects

    def job(table: str) -> Path:
        path = tmp_path / "many.yaml"
        path.write_text(
            "tenant_id: acme\n"
            "source: {connector: postgres, tables: [{name: s.orders}, {name: s.customers, object: people}]}\n"
            f"target: {{namespace: crm, table: {table!r}}}\n"
        )
        return path

    jobs = expand_objects(load_job(job("raw_{object}")))
    assert [(j.config.target.table, j.config.source.tables[0].name) for j in jobs] == [
        ("raw_orders", "s.orders"),
        ("raw_people", "s.customers"),
    ]
    with pytest.raises(ConfigError, match=r"target\.table: the job reads 2 tables; put `\{object\}`"):
        expand_objects(load_job(job("everything")))


def test_multi_table_jobs_map_each_table_to_its_contract_object(tmp_path: Path) -> None:
    from dativo_workers.config.job import expand_objects

    def job(asset_path: str, tables: str = "[{name: s.orders}, {name: s.customers, object: people}]") -> Path:
        path = tmp_path / "many.yaml"
        path.write_text(
            f"tenant_id: acme\nasset_path: {asset_path!r}\n"
            f"source: {{connector: postgres, tables: {tables}}}\n"
            "target: {namespace: crm, table: '{object}'}\n"
        )
        return path

    def assets(path: Path) -> list[str | None]:
        return [j.config.asset_path for j in expand_objects(load_job(path))]

    assert assets(job("shop.yaml")) == ["shop.yaml#orders", "shop.yaml#people"]
    assert assets(job("shop.yaml#{object}")) == ["shop.yaml#orders", "shop.yaml#people"]
    assert assets(job("assets/{object}.yaml")) == ["assets/orders.yaml", "assets/people.yaml"]
    assert assets(job("shop.yaml", "[{name: s.orders}]")) == ["shop.yaml"]  # one table: the only object
    assert assets(job("shop.yaml#orders", "[{name: s.orders}]")) == ["shop.yaml#orders"]
    with pytest.raises(ConfigError, match=r"asset_path: `#orders` picks one schema object, but the job reads 2"):
        expand_objects(load_job(job("shop.yaml#orders")))


def test_asset_ref_splits_off_the_schema_object() -> None:
    from dativo_workers.config.asset import split_asset_ref

    assert split_asset_ref("a/shop.yaml#orders") == ("a/shop.yaml", "orders")
    assert split_asset_ref("a/shop.yaml") == ("a/shop.yaml", None)
    assert split_asset_ref("a/shop.yaml#") == ("a/shop.yaml", None)
