"""rest_api pieces on their own: the records path, JSON -> Arrow conversion and inference, the
options' validation, the objects a job expands into, the local token bucket."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from dativo_plugins.rest_api.config import RestApiOptions
from dativo_plugins.rest_api.http import HttpClient, LocalTokenBucket, error_codes
from dativo_plugins.rest_api.reader import RestApiReader
from dativo_plugins.rest_api.records import (
    MISSING,
    RAW_COLUMN,
    TIMESTAMP,
    get_path,
    infer_schema,
    json_text,
    loads,
    parse_path,
    set_path,
    to_batch,
)
from dativo_workers.config import load_job
from dativo_workers.config.job import expand_objects
from dativo_workers.plugins import ReaderConversionError


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("", []),
        ("$", []),
        ("data", ["data"]),
        ("meta.next_cursor", ["meta", "next_cursor"]),
        ("result.items[0].rows", ["result", "items", 0, "rows"]),
        ("[1]", [1]),
        ("$.pages[-1]", ["pages", -1]),
        ("page[size]", None),  # not a path: `[size]` is no index
        ("data..items", None),
        ("data.", None),
        ("a b", None),
    ],
)
def test_records_paths(path: str, steps: list[str | int] | None) -> None:
    if steps is None:
        with pytest.raises(ValueError, match="malformed path"):
            parse_path(path)
    else:
        assert parse_path(path) == steps


def test_get_and_set_paths() -> None:
    body = {"result": {"items": [{"rows": [1, 2]}]}}
    assert get_path(body, parse_path("result.items[0].rows")) == [1, 2]
    assert get_path(body, parse_path("result.items[3]")) is MISSING
    assert get_path(body, parse_path("result.nothing")) is MISSING
    assert get_path({"a": None}, ["a"]) is None  # null is not missing
    target: dict = {"query": {"value": [{"value": 0}, {"value": 0}]}}
    set_path(target, parse_path("query.value[1].value"), 99)
    set_path(target, parse_path("pagination.starting_after"), "abc")
    assert target == {"query": {"value": [{"value": 0}, {"value": 99}]}, "pagination": {"starting_after": "abc"}}


def test_records_become_a_batch_of_the_schema() -> None:
    schema = pa.schema(
        [("id", pa.int64()), ("at", TIMESTAMP), ("seen", TIMESTAMP), ("meta", pa.string()), ("ok", pa.bool_()),
         ("parent", pa.int64()), (RAW_COLUMN, pa.string())]
    )  # fmt: skip
    records = [
        {"id": 1, "at": "2024-01-01T10:00:00+02:00", "seen": 1_700_000_000, "meta": {"b": 1, "a": [1]}, "ok": True},
        {"id": "2", "at": None, "seen": 1_700_000_000_123, "meta": "text", "extra": "kept in raw only"},
    ]
    batch = to_batch(records, schema, {"parent": [7, 8]})
    assert batch.column("id").to_pylist() == [1, 2]
    assert batch.column("at").to_pylist() == [dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC), None]
    seen = batch.column("seen").to_pylist()
    assert seen[0] == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)  # seconds
    assert seen[1] == dt.datetime.fromtimestamp(1_700_000_000.123, dt.UTC)  # milliseconds
    assert batch.column("meta").to_pylist() == ['{"a":[1],"b":1}', "text"]
    assert batch.column("ok").to_pylist() == [True, None] and batch.column("parent").to_pylist() == [7, 8]
    assert '"extra":"kept in raw only"' in batch.column(RAW_COLUMN)[1].as_py()
    with pytest.raises(ReaderConversionError, match="column 'id'"):
        to_batch([{"id": "abc"}], pa.schema([("id", pa.int64())]))
    with pytest.raises(ReaderConversionError, match="column 'id'"):
        to_batch([{"id": True}], pa.schema([("id", pa.int64())]))  # a boolean is no number
    untyped = to_batch([{"id": "abc"}, {"id": 3}], pa.schema([("id", pa.int64())]), untyped=True)
    assert untyped.column("id").to_pylist() == ["abc", "3"]


def test_schema_inference() -> None:
    schema = infer_schema(
        [
            {"id": 1, "price": 2, "flag": True, "at": "2024-01-01T00:00:00Z", "tags": ["a"], "mixed": 1},
            {"id": 2, "price": 2.5, "flag": None, "at": "2024-01-02T00:00:00.5+01:00", "mixed": "x", "late": None},
        ],
        raw_json=True,
    )
    assert dict(zip(schema.names, schema.types, strict=True)) == {
        "id": pa.int64(), "price": pa.float64(), "flag": pa.bool_(), "at": TIMESTAMP, "tags": pa.string(),
        "mixed": pa.string(), "late": pa.string(), RAW_COLUMN: pa.string(),
    }  # fmt: skip
    assert infer_schema([{"day": "2024-01-01"}], raw_json=False).field("day").type == pa.string()  # no zone: text


def _options(**resource: object) -> dict:
    return {"base_url": "http://x", "resources": [{"name": "orders", "path": "/orders", **resource}]}


def test_options_name_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match=re.escape("resource 'orders': records: malformed path 'data..x'")):
        RestApiOptions.model_validate(_options(records="data..x"))
    with pytest.raises(ValidationError, match="exactly one of cursor_path or cursor_header"):
        RestApiOptions.model_validate(_options(paginator={"type": "cursor", "param": "c"}))
    with pytest.raises(ValidationError, match="auth type 'basic' needs username, password"):
        RestApiOptions.model_validate({**_options(), "auth": {"type": "basic"}})
    with pytest.raises(ValidationError, match="parent 'tickets' is not a resource"):
        RestApiOptions.model_validate(_options(parent="tickets"))
    with pytest.raises(ValidationError, match="type 'integer' is not one of"):
        RestApiOptions.model_validate(_options(fields={"id": "integer"}))


def test_declared_objects_follow_the_parent_chain() -> None:
    options = {
        "resources": [
            {"name": "tickets", "primary_key": "id", "incremental": {"cursor_field": "updated_at", "lookback": "5m"}},
            {"name": "comments", "parent": "tickets", "primary_key": ["ticket_id", "id"]},
            {"name": "plain"},
        ]
    }
    declared = {d.name: d for d in RestApiReader.declared_objects(options) or []}
    assert declared["comments"].cursor_field == "updated_at" and declared["comments"].lookback == "5m"
    assert declared["comments"].primary_key == ("ticket_id", "id")
    assert declared["plain"].cursor_field is None and declared["plain"].primary_key == ()
    assert RestApiReader.declared_objects({"resources": "not a list"}) is None


def test_a_job_without_tables_expands_into_its_resources(tmp_path: Path) -> None:
    job = tmp_path / "shop.yaml"
    job.write_text(
        textwrap.dedent(
            """
            tenant_id: acme
            source:
              connector: rest_api
              options:
                base_url: http://127.0.0.1:1/v1
                resources:
                  - name: orders
                    path: /orders
                    primary_key: id
                    incremental: {cursor_field: updated_at, param: since}
                  - {name: lines, path: "/orders/{id}/lines", parent: orders, primary_key: line_id}
                  - {name: products, path: /products}
            target: {namespace: shop, table: "{object}", mode: merge}
            """
        )
    )
    jobs = {j.config.target.table: j.config for j in expand_objects(load_job(job))}
    assert list(jobs) == ["orders", "lines", "products"]
    assert [t.name for t in jobs["lines"].source.tables] == ["lines"]
    assert (
        jobs["orders"].source.incremental is not None and jobs["orders"].source.incremental.cursor_field == "updated_at"
    )
    assert jobs["lines"].source.incremental is not None  # the parent's cursor: its state is kept
    assert jobs["products"].source.incremental is None
    assert jobs["orders"].target.merge_key == ["id"] and jobs["lines"].target.merge_key == ["line_id"]
    assert jobs["products"].target.merge_key == []  # no key declared: the merge check names it later


def test_a_table_renamed_with_object_keeps_its_resources_defaults(tmp_path: Path) -> None:
    job = tmp_path / "shop.yaml"
    job.write_text(
        textwrap.dedent(
            """
            tenant_id: acme
            source:
              connector: rest_api
              tables: [{name: orders, object: shop_orders}, {name: lines, object: order_lines}, {name: products}]
              options:
                base_url: http://127.0.0.1:1/v1
                resources:
                  - name: orders
                    path: /orders
                    primary_key: id
                    incremental: {cursor_field: updated_at, param: since, lookback: 5m}
                  - {name: lines, path: "/orders/{id}/lines", parent: orders, primary_key: [order_id, line_id]}
                  - {name: products, path: /products, primary_key: sku}
            target: {namespace: shop, table: "{object}", mode: merge}
            """
        )
    )
    jobs = {j.config.target.table: j.config for j in expand_objects(load_job(job))}
    assert list(jobs) == ["shop_orders", "order_lines", "products"]
    assert [t.name for t in jobs["shop_orders"].source.tables] == ["orders"]  # still reads the resource
    orders, lines = jobs["shop_orders"].source.incremental, jobs["order_lines"].source.incremental
    assert orders is not None and orders.cursor_field == "updated_at" and orders.lookback == "5m"
    assert lines is not None and lines.cursor_field == "updated_at"  # its parent's cursor
    assert jobs["shop_orders"].target.merge_key == ["id"]
    assert jobs["order_lines"].target.merge_key == ["order_id", "line_id"]
    assert jobs["products"].target.merge_key == ["sku"] and jobs["products"].source.incremental is None


def test_local_token_bucket_paces() -> None:
    waits: list[float] = []
    bucket = LocalTokenBucket(10, burst=2, sleep=waits.append)
    for _ in range(4):
        bucket.acquire()
    assert len(waits) == 2 and waits[0] == pytest.approx(0.1, abs=0.02) and waits[1] == pytest.approx(0.2, abs=0.02)


def test_numbers_keep_every_digit() -> None:
    body = loads(b'{"amount": 12345678901234567.12, "rate": 0.1, "n": 3, "e": 1E+2}')
    assert json_text(body) == '{"amount":12345678901234567.12,"e":1E+2,"n":3,"rate":0.1}'
    batch = to_batch(
        [body],
        pa.schema([("amount", pa.decimal128(20, 2)), ("rate", pa.float64()), ("n", pa.int64()), ("e", pa.int64())]),
    )
    assert str(batch.column("amount")[0].as_py()) == "12345678901234567.12"
    assert batch.column("rate").to_pylist() == [0.1] and batch.column("e").to_pylist() == [100]
    assert to_batch([body], pa.schema([("amount", pa.string())])).column(0).to_pylist() == ["12345678901234567.12"]
    with pytest.raises(ReaderConversionError, match="fraction in an integer column"):
        to_batch([{"n": loads(b"1.5")}], pa.schema([("n", pa.int64())]))
    assert infer_schema([body], raw_json=False).field("amount").type == pa.float64()


def test_a_403_is_a_rate_limit_by_its_headers_or_a_declared_error_code() -> None:
    def answer(body: object, **headers: str) -> httpx.Response:
        return httpx.Response(403, json=body, headers=headers)

    salesforce = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
    assert error_codes(answer(salesforce)) == {"REQUEST_LIMIT_EXCEEDED"}
    assert error_codes(answer({"error": {"code": "rate_limited", "message": "x"}})) == {"rate_limited"}
    assert error_codes(answer({"errors": [{"code": "A"}, {"error_code": "B"}], "error": "C"})) == {"A", "B", "C"}
    assert error_codes(httpx.Response(403, text="<html>Forbidden</html>")) == set()
    google = {"error": {"code": 403, "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}]}}
    assert "userRateLimitExceeded" in error_codes(answer(google))
    with HttpClient("http://127.0.0.1:9", rate_limit_codes=["REQUEST_LIMIT_EXCEEDED"]) as client:
        assert client.rate_limit_reason(answer(salesforce)) == "REQUEST_LIMIT_EXCEEDED"
        assert client.rate_limit_reason(answer({}, **{"Retry-After": "30"})) == "Retry-After"
        assert client.rate_limit_reason(answer({}, **{"X-RateLimit-Remaining": "0"})) == "X-RateLimit-Remaining: 0"
        assert client.rate_limit_reason(answer({}, **{"X-RateLimit-Remaining": "12"})) is None
        assert client.rate_limit_reason(answer([{"errorCode": "INSUFFICIENT_ACCESS"}])) is None
    with HttpClient("http://127.0.0.1:9") as plain:  # a code counts only where the connector declares it
        assert plain.rate_limit_reason(answer(salesforce)) is None


def test_int_cursor_options_name_what_is_wrong() -> None:
    def options(incremental: str) -> RestApiOptions:
        text = f"base_url: http://x\nresources: [{{name: a, path: /a, incremental: {incremental}}}]"
        return RestApiOptions.model_validate(yaml.safe_load(text))

    ok = options("{cursor_field: id, param: since_id, type: int, lookback: '5', latest_params: {order: desc}}")
    assert ok.resources[0].incremental is not None and ok.resources[0].incremental.type == "int"
    for bad, says in [
        ("{cursor_field: id, type: int, lookback: 1h}", "a count of values"),
        ("{cursor_field: id, type: int, start: '2024-01-01'}", "start is an integer"),
        ("{cursor_field: id, type: int, lag: 1m}", "`lag` is for time cursors"),
        ("{cursor_field: updated_at, latest_params: {order: desc}}", "for `type: int` cursors"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(says)):
            options(bad)


def test_a_partitioning_needs_an_end_bound_or_an_end_field() -> None:
    def options(partitioning: str) -> RestApiOptions:
        text = f"base_url: http://x\nresources: [{{name: a, path: /a, partitioning: {partitioning}}}]"
        return RestApiOptions.model_validate(yaml.safe_load(text))

    part = options("{type: time, start_param: start_time, end_field: generated_timestamp, start: 0}")
    assert part.resources[0].partitioning is not None and part.resources[0].partitioning.end_param is None
    for bad in ("{type: time, start_param: s, start: 0}", "{type: id_range, start_param: s, end_field: id, start: 0}"):
        with pytest.raises(ValidationError, match="needs `end_param`"):
            options(bad)
