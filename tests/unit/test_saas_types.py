"""Salesforce `describe` types and Sheets/CSV type inference, without HTTP: what lands exactly,
what stays text, what fails naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_plugins.google_sheets.values import cast_to, header_names, json_column, text_column
from dativo_plugins.jwt_rs256 import load_private_key
from dativo_plugins.salesforce.auth import jwt_audience
from dativo_plugins.salesforce.reader import SalesforceReader
from dativo_plugins.salesforce.types import SfField, arrow_type, convert, describe_fields, json_text
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.plugins import SourceContext


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"type": "id"}, pa.string()),
        ({"type": "email"}, pa.string()),
        ({"type": "boolean"}, pa.bool_()),
        ({"type": "int", "precision": 9}, pa.int64()),
        ({"type": "currency", "precision": 18, "scale": 2}, pa.decimal128(18, 2)),
        ({"type": "percent", "precision": 3, "scale": 0}, pa.decimal128(3, 0)),
        ({"type": "double", "precision": 0, "scale": 0}, pa.float64()),
        ({"type": "double", "precision": 40, "scale": 2}, pa.float64()),
        ({"type": "date"}, pa.date32()),
        ({"type": "datetime"}, pa.timestamp("us", tz="UTC")),
        ({"type": "time"}, pa.time64("us")),
        ({"type": "address"}, None),
        ({"type": "location"}, None),
        ({"type": "base64"}, None),
        ({"type": "somethingNew"}, pa.string()),
    ],
)
def test_salesforce_types(field: dict[str, object], expected: pa.DataType | None) -> None:
    assert arrow_type(field) == expected


def test_salesforce_values_convert_exactly_or_name_the_field() -> None:
    amount = SfField("Amount", "currency", pa.decimal128(18, 2))
    texts = pa.array([json_text(Decimal("9999999999999999.99")), json_text(5), None], pa.string())
    assert convert(texts, amount, "here").to_pylist() == [Decimal("9999999999999999.99"), Decimal("5.00"), None]
    with pytest.raises(SourceError, match=r"here: field Amount \(currency\)"):
        convert(pa.array(["1.234"]), amount, "here")  # more decimals than the scale: never rounded
    stamp = SfField("SystemModstamp", "datetime", pa.timestamp("us", tz="UTC"))
    got = convert(pa.array(["2024-02-29T23:59:59.123+0000", "2024-03-01T00:00:00.000Z"]), stamp, "x").to_pylist()
    assert got == [dt.datetime(2024, 2, 29, 23, 59, 59, 123000, dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC)]
    clock = SfField("Opens__c", "time", pa.time64("us"))
    assert convert(pa.array(["09:30:00.250Z"]), clock, "x").to_pylist() == [dt.time(9, 30, 0, 250000)]
    flag = SfField("IsWon", "boolean", pa.bool_())
    assert convert(pa.array([json_text(True), "false", None]), flag, "x").to_pylist() == [True, False, None]


def test_describe_fields_pick_and_name_what_is_not_queryable() -> None:
    fields = [
        {"name": "Id", "type": "id"},
        {"name": "BillingAddress", "type": "address"},
        {"name": "Name", "type": "string"},
    ]
    describe = {"name": "Account", "fields": fields}
    assert [f.name for f in describe_fields(describe)] == ["Id", "Name"]
    assert [f.name for f in describe_fields(describe, ["name", "ID"])] == ["Name", "Id"]
    with pytest.raises(SourceError, match="BillingAddress, Nope not queryable"):
        describe_fields(describe, ["Id", "BillingAddress", "Nope"])


def test_salesforce_connection_needs_one_flow() -> None:
    def reader(connection: dict[str, object], incremental: dict[str, str] | None = None) -> SalesforceReader:
        context = SourceContext(base_dir=Path("."), tables=[{"name": "Account"}], connection=connection,
                                incremental=incremental)  # fmt: skip
        return SalesforceReader(SalesforceReader.config_model.model_validate({}), context)  # type: ignore[union-attr]

    with pytest.raises(ConfigError, match="one of the two"):
        reader({"client_id": "x"})
    with pytest.raises(ConfigError, match="username: the JWT bearer flow"):
        reader({"client_id": "x", "private_key": "k"})
    with pytest.raises(ConfigError, match="not 'Id'"):
        reader({"client_id": "x", "refresh_token": "r"}, {"cursor_field": "Id"})
    with pytest.raises(ConfigError, match="private_key: not an unencrypted PEM"):
        load_private_key("not a key", "source.connection.private_key")


def test_sheet_columns_are_typed_from_every_value() -> None:
    assert json_column([1, 2, ""]).type == pa.int64()
    assert json_column([1, 2.5]).to_pylist() == [1.0, 2.5]
    assert json_column([True, False, None]).type == pa.bool_()
    assert json_column(["2024-01-31", "2024-02-29"]).type == pa.date32()
    assert json_column(["2024-01-31 10:00:00", "2024-02-29T23:59"]).type == pa.timestamp("us")
    assert json_column(["00123", "42"]).to_pylist() == ["00123", "42"]  # text cells stay text
    assert json_column(["TRUE", "x"]).type == pa.string()  # text that spells a boolean is text
    assert json_column([1, "two", 3.5, True]).to_pylist() == ["1", "two", "3.5", "true"]
    assert json_column([2**63, 1]).type == pa.float64()  # beyond int64: Sheets' own double
    assert json_column(["", None]).type == pa.string()


def test_csv_text_is_typed_only_where_nothing_is_lost() -> None:
    def typed(values: list[str | None]) -> pa.Array:
        return text_column(pa.array(values, pa.string()))

    assert typed(["1", "-2", ""]).to_pylist() == [1, -2, None]
    assert typed(["007", "1"]).type == pa.string()  # a leading zero: an identifier, not a number
    assert typed(["12345678901234567890"]).type == pa.string()  # beyond int64
    assert typed(["0.5", "1e3"]).to_pylist() == [0.5, 1000.0]
    assert typed(["0.12345678901234567"]).type == pa.string()  # 17 significant digits: no double holds it
    assert typed(["TRUE", "false"]).to_pylist() == [True, False]
    assert typed(["2024-02-30"]).type == pa.string()  # not a date
    assert typed(["2024-02-29 23:59:59.5"]).to_pylist() == [dt.datetime(2024, 2, 29, 23, 59, 59, 500000)]


def test_header_names_and_casts_to_an_assets_types() -> None:
    assert header_names(["id", "", "id", None], 5) == ["id", "column_2", "id_2", "column_4", "column_5"]
    assert cast_to(pa.array([1.1, 0.3]), pa.decimal128(10, 2)).to_pylist() == [Decimal("1.10"), Decimal("0.30")]
    assert cast_to(pa.array([1, 2]), pa.string()).to_pylist() == ["1", "2"]
    with pytest.raises(pa.ArrowInvalid):
        cast_to(pa.array(["n/a"]), pa.int64())


def test_jwt_audience_of_login_urls() -> None:
    assert jwt_audience("https://login.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://test.salesforce.com/") == "https://test.salesforce.com"
    assert jwt_audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("http://127.0.0.1:8080") == "http://127.0.0.1:8080"  # a proxy or test server: itself
