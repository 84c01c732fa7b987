"""The declarative `rest_api` source against a shop API on loopback (cursor, offset, page-number
and Link-header pagination, a child resource, OAuth2, 429s and 5xx), run through the CLI and
read back with pyiceberg."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from dativo_plugins.rest_api.http import (
    ApiKeyAuth,
    AuthFailed,
    BearerAuth,
    HttpClient,
    HttpError,
    HttpUnavailable,
    OAuth2RefreshToken,
    RedisTokenBucket,
    RetrySettings,
)
from dativo_workers.retry import is_transient

from ..conftest import Workspace
from .loopback_api import Answer, JsonApi, Request

pytestmark = pytest.mark.integration

TOKEN = "shop-live-4f9d8c7b6a5e4d3c2b1a"
CLIENT_SECRET = "cs-9a8b7c6d5e4f3a2b1c0d"
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_orders(count: int, start: int = 1) -> list[dict[str, Any]]:
    orders = []
    for i in range(start, start + count):
        created = T0 + dt.timedelta(hours=i * 7 % 240, minutes=i % 60)
        orders.append(
            {
                "id": i,
                "amount": round(i * 3.25, 2),
                "status": ["paid", "open", "refunded"][i % 3],
                "created_at": iso(created),
                "updated_at": iso(created),
                "customer": {"id": f"c{i % 17}", "tier": "gold" if i % 5 == 0 else None},
                "note": None if i % 4 else f"gift ✓ #{i}",
            }
        )
    return orders


class ShopApi(JsonApi):
    """`/v1/orders` (cursor in the body: an opaque token, `updated_since` and `created_gte`/
    `created_lt` filters), `/v1/orders/{id}/lines` (a child), `/v1/customers` (offset/limit with a
    total), `/v1/products` (page numbers, next page in the `Link` header), `/oauth/token` (client
    credentials; tokens expire when told), and a paginator that does not advance."""

    def __init__(self, orders: list[dict[str, Any]], fault_every: int = 0) -> None:
        super().__init__(fault_every)
        self.orders = {o["id"]: o for o in orders}
        self.customers = [{"id": i, "name": f"Customer {i}", "vip": i % 7 == 0} for i in range(1, 58)]
        self.products = [{"sku": f"P{i:03d}", "price": i * 1.5} for i in range(1, 24)]
        self.tokens = {TOKEN}
        self.issued = 0
        self.fail_page: dict[tuple[str, int], int] = {}  # (created_gte, page number) -> failures left
        self.refresh_token = "rt-0-initial-refresh-token"

    def exempt(self, request: Request) -> bool:
        return request.path == "/oauth/token"

    def change(self, order_id: int, **values: Any) -> None:
        with self.lock:
            order = self.orders.setdefault(order_id, {"id": order_id, "customer": None, "note": None})
            order.update(values, updated_at=iso(dt.datetime.now(dt.UTC)))

    def expire_tokens(self) -> None:
        self.tokens = {TOKEN}  # one assignment: safe from a route, which runs under the lock

    def route(self, request: Request) -> Answer:
        if request.path == "/oauth/token":
            form = {k: v[-1] for k, v in parse_qs(request.body or "").items()}
            if form.get("grant_type") == "refresh_token":  # RFC 6749 section 6, rotating the refresh token
                if form.get("refresh_token") != self.refresh_token or form.get("client_secret") != CLIENT_SECRET:
                    return 400, {}, {"error": "invalid_grant", "error_description": "refresh token revoked"}
                self.issued += 1
                self.refresh_token = f"rt-{self.issued}-{uuid.uuid4().hex}"
                token = f"oauth-at-{self.issued}-{uuid.uuid4().hex[:12]}"
                self.tokens.add(token)
                return 200, {}, {"access_token": token, "expires_in": 3600, "refresh_token": self.refresh_token}
            if form.get("grant_type") != "client_credentials" or form.get("client_secret") != CLIENT_SECRET:
                return 401, {}, {"error": "invalid_client", "error_description": "bad client credentials"}
            self.issued += 1
            token = f"oauth-at-{self.issued}-{uuid.uuid4().hex[:12]}"
            self.tokens.add(token)
            return 200, {}, {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if given not in self.tokens:
            return 401, {}, {"error": {"message": f"invalid token {given}"}}
        q = request.query
        if request.path == "/v1/orders":
            return self._orders(q)
        if request.path.startswith("/v1/orders/") and request.path.endswith("/lines"):
            order_id = int(request.path.split("/")[3])
            if order_id not in self.orders:
                return 404, {}, {"error": {"message": "no such order"}}
            lines = [{"line_id": f"{order_id}-{n}", "qty": n + 1, "sku": f"P{n:03d}"} for n in range(order_id % 3)]
            return 200, {}, {"lines": lines}
        if request.path == "/v1/customers":
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 10))
            return 200, {}, {"items": self.customers[offset : offset + limit], "total": len(self.customers)}
        if request.path == "/v1/products":
            page, size = int(q.get("page", 1)), int(q.get("per_page", 5))
            items = self.products[(page - 1) * size : page * size]
            headers = {}
            if page * size < len(self.products):
                headers["Link"] = f'<{self.url}/v1/products?page={page + 1}&per_page={size}>; rel="next"'
            return 200, headers, items
        if request.path == "/v1/stuck":
            return 200, {}, {"data": [{"id": 1}], "meta": {"next_cursor": "c2FtZQ"}}
        if request.path == "/v1/html":
            return 200, {}, "<html><body>maintenance</body></html>"
        return 404, {}, {"error": {"message": f"no route {request.path}"}}

    def _orders(self, q: dict[str, str]) -> Answer:
        items = sorted(self.orders.values(), key=lambda o: o["id"])
        if "updated_since" in q:
            items = [o for o in items if parse(o["updated_at"]) >= parse(q["updated_since"])]
        if "since_id" in q:  # GitHub's style: ids greater than since_id
            items = [o for o in items if o["id"] > int(q["since_id"])]
        if q.get("order") == "desc":
            items.reverse()
        if "created_gte" in q:
            items = [o for o in items if o.get("created_at") and parse(o["created_at"]) >= parse(q["created_gte"])]
        if "created_lt" in q:
            items = [o for o in items if o.get("created_at") and parse(o["created_at"]) < parse(q["created_lt"])]
        offset = int(base64.b64decode(q["cursor"]).decode()) if "cursor" in q else 0
        limit = int(q.get("limit", 20))
        page_number = offset // limit + 1
        key = (q.get("created_gte", ""), page_number)
        if self.fail_page.get(key, 0) > 0:
            self.fail_page[key] -= 1
            return 500, {}, {"error": {"message": "database timeout"}}
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        cursor = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return 200, {}, {"data": page, "meta": {"next_cursor": cursor}}


@pytest.fixture
def shop_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATIVO_SECRET__ACME__SHOP_API", json.dumps({"token": TOKEN}))
    return TOKEN


FAST = "backoff_seconds: 0.01, max_backoff_seconds: 0.02"


def _run(ws: Workspace, job: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = ws.cli("run", str(job), "--json", *args, env=env)
    assert result.code == 0, result.stdout + result.stderr
    return result.json


def _orders_job(ws: Workspace, api: ShopApi, name: str, resource: str, target: str = "", options: str = "") -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          connector: rest_api
          options:
            base_url: {api.url}/v1
            auth: {{type: bearer, token: "${{secret:shop_api.token}}"}}
            {FAST.replace(", ", chr(10) + "            ")}
            {options}
            resources:
              - {resource}
        target: {{namespace: shop, table: "{{object}}" {target}}}
        retry: {{max_attempts: 3, backoff_seconds: 0.05}}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def _expect_orders(ws: Workspace, table: str, orders: dict[int, dict[str, Any]]) -> None:
    rows = ws.read(table, sort_by="id").to_pylist()
    expected = sorted(orders.values(), key=lambda o: o["id"])
    assert [r["id"] for r in rows] == [o["id"] for o in expected]
    assert [r["amount"] for r in rows] == [o["amount"] for o in expected]
    assert [r["status"] for r in rows] == [o["status"] for o in expected]
    assert [iso(r["updated_at"]) for r in rows] == [o["updated_at"] for o in expected]
    assert [r["note"] for r in rows] == [o["note"] for o in expected]
    assert [json.loads(r["customer"]) if r["customer"] else None for r in rows] == [o["customer"] for o in expected]


# -- the smallest job of the issue, verbatim ----------------------------------------------------


SMALLEST = """
tenant_id: acme
source:
  connector: rest_api
  options:
    base_url: http://127.0.0.1:8080/v1
    auth: {type: bearer, token: "${secret:shop_api.token}"}
    resources:
      - name: orders
        path: /orders
        records: data                                   # where the records sit in each page
        primary_key: id
        paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}
        incremental: {cursor_field: updated_at, param: updated_since}
target: {connector: iceberg, namespace: shop, table: "{object}"}
"""


def test_the_smallest_job_loads_every_order_then_only_the_changes(workspace: Workspace, shop_token: str) -> None:
    orders = make_orders(130)
    with ShopApi(orders) as api:
        job = workspace.job("shop.yaml", SMALLEST.replace("http://127.0.0.1:8080", api.url))
        check = workspace.cli("check", str(job), "--json")
        assert check.code == 0, check.stdout + check.stderr
        first = _run(workspace, job)
        assert first["state"] == "committed" and first["rows"] == 130 and first["table"] == "shop.orders"
        _expect_orders(workspace, "shop.orders", api.orders)
        state = workspace.table("shop.orders").current_snapshot().summary.additional_properties
        cursor = state["dativo.state.acme.shop.orders.updated_at"]
        assert parse(cursor) <= dt.datetime.now(dt.UTC)
        pages = [r for r in api.requests if r.path == "/v1/orders"]
        assert all("updated_since" not in r.query for r in pages)  # the first run reads everything
        assert [r.query.get("cursor") for r in pages[-7:]] == [None] + [
            base64.b64encode(str(n).encode()).decode() for n in range(20, 130, 20)
        ]
        while dt.datetime.now(dt.UTC) < parse(cursor) + dt.timedelta(seconds=1):
            time.sleep(0.05)
        for order_id in (3, 50, 129):
            api.change(order_id, status="disputed")
        api.change(500, amount=1.0, status="new", created_at=iso(T0))
        api.requests.clear()
        second = _run(workspace, job)
    assert second["rows"] == 4  # only the changes
    assert {r.query.get("updated_since") for r in api.requests if r.path == "/v1/orders"} == {cursor}
    table = workspace.read("shop.orders")
    assert table.num_rows == 134  # append: the changed orders are there twice


def test_merge_keeps_the_table_equal_to_the_api(workspace: Workspace, shop_token: str) -> None:
    """`mode: merge` takes the resource's primary_key as its key (no asset needed)."""
    with ShopApi(make_orders(90)) as api:
        job = _orders_job(
            workspace,
            api,
            "merged",
            "{name: orders, path: /orders, records: data, primary_key: id, params: {limit: 25}, "
            "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}, "
            "incremental: {cursor_field: updated_at, param: updated_since, lookback: 5s}}",
            target=", mode: merge",
        )
        assert _run(workspace, job)["rows"] == 90
        time.sleep(1.1)
        for order_id in range(10, 20):
            api.change(order_id, status="shipped", amount=0.5)
        api.change(91, amount=9.0, status="new", created_at=iso(T0))
        second = _run(workspace, job)
        assert second["rows"] == 11
        _expect_orders(workspace, "shop.orders", api.orders)
    assert len(workspace.table("shop.orders").snapshots()) == 2


@pytest.mark.parametrize("latest", [True, False], ids=["latest_params", "listing"])
def test_an_integer_cursor_loads_only_the_new_ids(workspace: Workspace, shop_token: str, latest: bool) -> None:
    probe = ", latest_params: {order: desc, limit: 1}" if latest else ""
    with ShopApi(make_orders(45)) as api:
        job = _orders_job(
            workspace,
            api,
            "by_id",
            "{name: orders, path: /orders, records: data, primary_key: id, params: {limit: 10}, "
            "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}, "
            f"incremental: {{cursor_field: id, param: since_id, operator: '>', type: int{probe}}}}}",
        )
        first = _run(workspace, job)
        assert first["rows"] == 45
        summary = workspace.table("shop.orders").current_snapshot().summary.additional_properties
        assert summary["dativo.state.acme.by_id.orders.id"] == "45"  # committed with the data
        assert all("since_id" not in r.query for r in api.requests if r.path == "/v1/orders")
        for order_id in range(46, 58):
            api.change(order_id, amount=float(order_id), status="new", created_at=iso(T0))
        api.change(7, status="refunded")  # a change to an old id: an id cursor does not see it
        api.requests.clear()
        second = _run(workspace, job)
        assert second["rows"] == 12  # only the new ids
        sent = [r.query for r in api.requests if r.path == "/v1/orders"]
        assert {q.get("since_id") for q in sent} == {"45"}
        # planning finds the highest id: one request for the newest record, or by listing the new ones
        assert len([q for q in sent if q.get("order") == "desc"]) == (1 if latest else 0)
        summary = workspace.table("shop.orders").current_snapshot().summary.additional_properties
        assert summary["dativo.state.acme.by_id.orders.id"] == "57"
        api.requests.clear()
        third = _run(workspace, job)  # nothing new: nothing read, the cursor stays
        assert third["rows"] == 0
        # one request past the cursor (planning's); the others, without since_id, sample the schema
        assert len([r for r in api.requests if r.path == "/v1/orders" and "since_id" in r.query]) == 1
    ids = workspace.read("shop.orders", sort_by="id").column("id").to_pylist()
    assert ids == list(range(1, 58))
    # the run with nothing new inferred its schema from the resource's first page, not from no
    # records at all (which would have added a raw_json column to the table)
    assert "raw_json" not in workspace.table("shop.orders").schema().column_names
    state = workspace.table("shop.orders").current_snapshot().summary.additional_properties
    assert state["dativo.state.acme.by_id.orders.id"] == "57"


def test_inference_samples_across_pages_and_reports_a_later_key(workspace: Workspace, shop_token: str) -> None:
    orders = make_orders(40)
    orders[11]["gift"] = True  # page 2 of 10: within the sample of 15 records
    orders[34]["coupon"] = "SPRING-24"  # page 4: after the sample
    resource = (
        "{name: orders, path: /orders, records: data, primary_key: id, params: {limit: 10}, "
        "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}}"
    )
    with ShopApi(orders) as api:
        plain = _orders_job(workspace, api, "plain", resource, options="infer_records: 15")
        result = workspace.cli("run", str(plain), "--json")
        assert result.code == 0, result.stdout + result.stderr
        kept = _orders_job(
            workspace, api, "kept",
            resource.replace("name: orders", "name: kept_orders").replace("id,", "id, raw_json: true,"),
            options="infer_records: 15",
        )  # fmt: skip
        assert _run(workspace, kept)["rows"] == 40
    table = workspace.read("shop.orders", sort_by="id")
    assert "gift" in table.column_names and table.column("gift").to_pylist()[11] is True  # sampled beyond page 1
    assert "coupon" not in table.column_names and table.num_rows == 40
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "source columns not in the table schema" in line]
    assert warnings and all("coupon" in line for line in warnings)  # reported, not silently dropped
    raw = workspace.read("shop.kept_orders", sort_by="id").column("raw_json").to_pylist()
    assert json.loads(raw[34])["coupon"] == "SPRING-24"  # with raw_json on, the record keeps it


# -- faults -----------------------------------------------------------------------------------


WINDOWED = (
    "{name: orders, path: /orders, records: data, primary_key: id, "
    "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}, "
    "partitioning: {type: time, start_param: created_gte, end_param: created_lt, "
    f"start: '{iso(T0)}', end: '{iso(T0 + dt.timedelta(days=10))}', window: 2d}}}}"
)


def test_a_429_storm_and_5xx_still_load_exactly(workspace: Workspace, shop_token: str) -> None:
    with ShopApi(make_orders(300), fault_every=2) as api:
        api.faults = [(429, {"Retry-After": "0"})] * 3 + [(503, {"Retry-After": "0"}), (502, {})]
        job = _orders_job(workspace, api, "storm", WINDOWED.replace("paginator:", "params: {limit: 10}, paginator:"))
        summary = _run(workspace, job)
        assert summary["partitions_total"] == 5 and summary["rows"] == 300
        assert api.served[429] >= 12 and api.served[503] >= 4 and api.served[502] >= 4
        _expect_orders(workspace, "shop.orders", api.orders)


def test_a_page_failing_mid_run_retries_only_its_partition(workspace: Workspace, shop_token: str) -> None:
    with ShopApi(make_orders(300)) as api:
        third = iso(T0 + dt.timedelta(days=4))  # the third window's second page fails 3 times
        api.fail_page[(third, 2)] = 3
        job = _orders_job(workspace, api, "midrun", WINDOWED, options="max_retries: 1")
        summary = _run(workspace, job)
        assert summary["state"] == "committed" and summary["rows"] == 300
        _expect_orders(workspace, "shop.orders", api.orders)
        firsts = [r.query["created_gte"] for r in api.requests if r.path == "/v1/orders" and "cursor" not in r.query]
    attempts = {p["idx"]: p["attempts"] for p in workspace.ledger().partitions(summary["run_id"])}
    assert attempts == {0: 1, 1: 1, 2: 2, 3: 1, 4: 1}
    assert firsts.count(third) == 2  # the failed window was read again, from its first page
    for days in (2, 6, 8):  # the others once (the first window also once more: sampled at planning)
        assert firsts.count(iso(T0 + dt.timedelta(days=days))) == 1


def test_an_expired_oauth_token_is_refreshed(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME__SHOP_OAUTH", json.dumps({"id": "shop-client", "secret": CLIENT_SECRET}))
    with ShopApi(make_orders(120)) as api:
        resource = (
            "{name: orders, path: /orders, records: data, primary_key: id, params: {limit: 10}, "
            "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}}"
        )
        job = _orders_job(workspace, api, "oauth", resource, options="max_retries: 0")
        text = job.read_text().replace(
            'auth: {type: bearer, token: "${secret:shop_api.token}"}',
            f"auth: {{type: oauth2_client_credentials, token_url: '{api.url}/oauth/token', "
            "client_id: '${secret:shop_oauth.id}', client_secret: '${secret:shop_oauth.secret}'}",
        )
        job.write_text(text)
        original = api.route
        expired: list[str] = []

        def expire_midway(request: Request) -> Answer:
            sixth = base64.b64encode(b"60").decode()
            if not expired and request.path == "/v1/orders" and request.query.get("cursor") == sixth:
                expired.append(request.headers["authorization"])
                api.expire_tokens()  # the token in use stops working in the middle of the read
            return original(request)

        api.route = expire_midway  # type: ignore[method-assign]
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert result.json["rows"] == 120
        refused = [r for r in api.requests if r.status == 401]
        assert len(refused) == 1 and api.issued == 2  # a 401, a new token, the same page again
        after = api.requests[api.requests.index(refused[0]) + 2 :]
        assert after[0].path == "/v1/orders" and after[0].query == refused[0].query and after[0].status == 200
        _expect_orders(workspace, "shop.orders", api.orders)
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_a_wrong_credential_fails_fast_without_retrying_or_showing_it(workspace: Workspace, shop_token: str) -> None:
    with ShopApi(make_orders(10), fault_every=0) as api:
        job = workspace.job("wrong.yaml", SMALLEST.replace("http://127.0.0.1:8080", api.url))
        wrong = "shop-live-WRONG-0000111122223333"
        env = {"DATIVO_SECRET__ACME__SHOP_API": json.dumps({"token": wrong})}
        result = workspace.cli("run", str(job), "--json", env=env)
        assert api.served[401] == 1 and len(api.requests) == 1  # one request, no retry
        check = workspace.cli("check", str(job), "--json", env=env)
    assert result.code == 2 and check.code == 2
    output = result.stdout + result.stderr + check.stdout + check.stderr
    assert "rest_api orders: GET /v1/orders: HTTP 401" in output
    assert "invalid token ***" in output  # the server echoed the token back: masked
    assert wrong not in output and "WRONG-0000" not in output and TOKEN not in output


def test_a_paginator_that_does_not_advance_stops_with_an_error(workspace: Workspace, shop_token: str) -> None:
    with ShopApi([]) as api:
        job = _orders_job(
            workspace,
            api,
            "stuck",
            "{name: stuck, path: /stuck, records: data, paginator: {type: cursor, cursor_path: meta.next_cursor, "
            "param: cursor}, fields: {id: int}}",
        )
        result = workspace.cli("run", str(job), "--json")
        assert len(api.requests) <= 6  # planning's sample and one attempt: never a loop
    assert result.code == 2
    error = result.json["error"]
    assert "rest_api stuck: GET /v1/stuck" in error and "does not advance" in error and '"c2FtZQ"' in error


def test_bad_input_is_named(workspace: Workspace, shop_token: str) -> None:
    with ShopApi(make_orders(3)) as api:
        unknown = workspace.job(
            "unknown.yaml",
            SMALLEST.replace("http://127.0.0.1:8080", api.url).replace(
                "  options:", "  tables: [{name: refunds}]\n  options:"
            ),
        )
        result = workspace.cli("run", str(unknown))
        assert result.code == 2 and "unknown object 'refunds'" in result.stderr and "declares: orders" in result.stderr
        malformed = workspace.job("malformed.yaml", SMALLEST.replace("records: data ", "records: data..items "))
        result = workspace.cli("run", str(malformed))
        assert result.code == 2
        assert "resource 'orders': records: malformed path 'data..items'" in result.stderr
        assert str(malformed) in result.stderr
        html = _orders_job(workspace, api, "html", "{name: page, path: /html, records: data, fields: {id: int}}")
        result = workspace.cli("run", str(html), "--json")
        assert result.code == 2
        assert "rest_api page: GET /v1/html: the response is not JSON (HTTP 200, text/html)" in result.json["error"]
        missing = _orders_job(workspace, api, "missing", "{name: orders, path: /orders, records: results}")
        result = workspace.cli("run", str(missing), "--json")
    assert result.code == 2
    assert "rest_api orders: GET /v1/orders: records path 'results' is not in the response (it holds: data, meta)" in (
        result.stdout + result.stderr
    )


def test_offset_page_number_link_header_and_child_resources(workspace: Workspace, shop_token: str) -> None:
    """One job, no `tables`: each declared resource lands in its own table."""
    with ShopApi(make_orders(40), fault_every=5) as api:
        job = workspace.job(
            "many.yaml",
            f"""
            tenant_id: acme
            source:
              connector: rest_api
              options:
                base_url: {api.url}/v1
                auth: {{type: bearer, token: "${{secret:shop_api.token}}"}}
                backoff_seconds: 0.01
                resources:
                  - name: orders
                    path: /orders
                    records: data
                    primary_key: id
                    paginator: {{type: cursor, cursor_path: meta.next_cursor, param: cursor}}
                  - name: order_lines
                    parent: orders
                    path: /orders/{{id}}/lines
                    records: lines
                    primary_key: line_id
                    parent_fields: {{order_id: id, ordered_at: created_at}}
                  - name: customers
                    path: /customers
                    records: items
                    primary_key: id
                    paginator: {{type: offset, limit: 10, total_path: total}}
                  - name: products
                    path: /products
                    primary_key: sku
                    params: {{per_page: 5}}
                    paginator: {{type: link_header}}
                  - name: pages
                    path: /products
                    params: {{per_page: 5}}
                    paginator: {{type: page_number, page_size: 5}}
            target: {{namespace: shop, table: "{{object}}"}}
            governance_overrides: {{pii_detection: false}}
            """,
        )
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        runs = {r["table"]: r for r in result.json["runs"]}
        discovered = workspace.cli("discover", str(job), "--json")
    assert set(runs) == {f"shop.{n}" for n in ("orders", "order_lines", "customers", "products", "pages")}
    assert all(r["state"] == "committed" for r in runs.values())
    lines = workspace.read("shop.order_lines", sort_by="line_id").to_pylist()
    expected = sorted(
        (f"{o['id']}-{n}", o["id"], o["created_at"]) for o in api.orders.values() for n in range(o["id"] % 3)
    )
    assert [(r["line_id"], r["order_id"], iso(r["ordered_at"])) for r in lines] == expected
    customers = workspace.read("shop.customers", sort_by="id").to_pylist()
    assert [(c["id"], c["name"], c["vip"]) for c in customers] == [
        (c["id"], c["name"], c["vip"]) for c in api.customers
    ]
    for table in ("shop.products", "shop.pages"):
        products = workspace.read(table, sort_by="sku").to_pylist()
        assert [(p["sku"], p["price"]) for p in products] == [(p["sku"], p["price"]) for p in api.products]
    # 57 customers by 10: 6 pages, the total stops it; 5 more (infer_pages) for the run's schema
    # sample (50 records, under infer_records), 5 for discover's
    assert api.count("/v1/customers", 200) == 16
    objects = {o["name"]: o for o in discovered.json["objects"]}
    assert set(objects) == {"orders", "order_lines", "customers", "products", "pages"}
    assert objects["orders"]["primary_key"] == ["id"]
    assert {c["name"]: c["type"] for c in objects["orders"]["columns"]}["updated_at"] == "timestamp[us, tz=UTC]"


# -- the fleet-wide rate limit ------------------------------------------------------------------


def test_the_redis_token_bucket_limits_the_whole_fleet(workspace: Workspace, shop_token: str) -> None:
    """Three worker processes share one bucket: together they stay under the rate."""
    broker = os.environ["DATIVO_BROKER_URL"]  # this test process's private Redis
    key = f"test-{uuid.uuid4().hex[:8]}"
    rate = 25.0
    with ShopApi(make_orders(200)) as api:
        job = _orders_job(
            workspace,
            api,
            "limited",
            WINDOWED.replace("paginator:", "params: {limit: 10}, paginator:"),
            options=f"rate_limit: {{requests_per_second: {rate}, burst: 1, redis_url: '{broker}', key: {key}}}",
        )
        summary = _run(workspace, job, "-w", "3")
        assert summary["rows"] == 200
        times = sorted(r.at for r in api.requests if r.path == "/v1/orders")
    assert len(times) >= 20
    # any second of the run saw at most rate (+ the burst) requests, whichever process sent them
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= rate + 2, busiest
    assert times[-1] - times[0] >= (len(times) - 2) / rate


def test_redis_token_bucket_paces_concurrent_clients() -> None:
    url = os.environ["DATIVO_BROKER_URL"]
    key = f"dativo:test:{uuid.uuid4().hex}"
    stamps: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        bucket = RedisTokenBucket(url, key, rate=40, burst=2)
        for _ in range(10):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())
        bucket.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 40
    assert time.monotonic() - started >= (40 - 2) / 40 * 0.95  # 40 tokens at 40/s, 2 of them from the burst


# -- the HTTP client on its own -----------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[ShopApi]:
    with ShopApi(make_orders(5)) as running:
        yield running


def _client(api: ShopApi, delays: list[float], token: str = TOKEN, **retry: Any) -> HttpClient:
    settings = RetrySettings(**{"max_retries": 3, "backoff_seconds": 1.0, "max_backoff_seconds": 4.0, **retry})
    return HttpClient(api.url, BearerAuth(token), retry=settings, source_name="shop", sleep=delays.append)


def test_client_waits_retry_after_and_rate_limit_reset(api: ShopApi) -> None:
    reset = int(time.time()) + 30
    api.scripted = [
        (429, {"Retry-After": "3"}, {}),
        (429, {"Retry-After": "900"}, {}),
        (429, {"X-RateLimit-Reset": str(reset)}, {}),
    ]
    delays: list[float] = []
    response = _client(api, delays, max_retry_after_seconds=60).request("GET", "/v1/orders", resource="orders")
    assert response.status_code == 200
    assert delays[:2] == [3.0, 60.0] and 27 <= delays[2] <= 30  # honoured, capped, and the reset time


def test_client_backs_off_on_5xx_then_gives_up_as_transient(api: ShopApi) -> None:
    api.scripted = [(500, {}, {"message": "boom"})] * 4
    delays: list[float] = []
    with pytest.raises(HttpUnavailable, match=r"shop orders: GET /v1/orders: HTTP 500 after 4 attempts: boom") as exc:
        _client(api, delays).request("GET", "/v1/orders", resource="orders")
    assert is_transient(exc.value) and len(delays) == 3
    for attempt, delay in enumerate(delays):  # 1, 2, 4 with jitter in the top half
        assert 2**attempt / 2 <= delay <= 2**attempt


def test_client_does_not_retry_4xx_and_masks_secrets(api: ShopApi) -> None:
    delays: list[float] = []
    secret = "sk-shop-EchoedBack-123456789"
    with pytest.raises(AuthFailed, match="HTTP 401") as exc:
        _client(api, delays, token=secret).request("GET", "/v1/orders", resource="orders")
    assert delays == [] and secret not in str(exc.value) and "invalid token ***" in str(exc.value)
    assert not is_transient(exc.value) and len(api.requests) == 1
    api.scripted = [(422, {}, {"errors": [{"message": "bad filter"}]})]
    with pytest.raises(HttpError, match="HTTP 422: bad filter"):
        _client(api, delays).request("GET", "/v1/orders")
    assert delays == []


def test_a_403_rate_limit_waits_or_fails_as_transient_never_as_the_credential(api: ShopApi) -> None:
    delays: list[float] = []
    # GitHub's secondary limit: 403 with Retry-After (or a reset time): waited out like a 429
    api.scripted = [
        (403, {"Retry-After": "7"}, {"message": "You have exceeded a secondary rate limit"}),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 20)}, {"message": "limit"}),
    ]
    response = _client(api, delays).request("GET", "/v1/orders", resource="orders")
    assert response.status_code == 200 and delays[0] == 7.0 and 17 <= delays[1] <= 20 and len(api.requests) == 3
    # no time to wait for: transient at once, one request, the message says what is exhausted
    api.scripted = [(403, {"X-RateLimit-Remaining": "0"}, {"message": "API rate limit exceeded"})] * 5
    with pytest.raises(HttpUnavailable, match=r"exhausted \(X-RateLimit-Remaining: 0; not a credential"):
        _client(api, delays).request("GET", "/v1/orders", resource="orders")
    assert len(api.requests) == 4 and len(delays) == 2
    # a body error code the connector declares (Salesforce's daily limit), and one it does not
    daily = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
    settings = RetrySettings(max_retries=3)
    limited = HttpClient(api.url, BearerAuth(TOKEN), retry=settings, sleep=delays.append,
                         rate_limit_codes=["REQUEST_LIMIT_EXCEEDED"])  # fmt: skip
    api.scripted = [(403, {}, daily)] * 5
    with pytest.raises(HttpUnavailable, match=r"exhausted \(REQUEST_LIMIT_EXCEEDED.*TotalRequests") as exc:
        limited.request("GET", "/v1/orders")
    assert is_transient(exc.value) and len(api.requests) == 5 and len(delays) == 2
    api.scripted = [(403, {}, daily)]
    with pytest.raises(AuthFailed, match=r"HTTP 403 \(check the credential\): TotalRequests"):
        _client(api, delays).request("GET", "/v1/orders")  # no codes declared: a refusal as before
    api.scripted = [(403, {}, [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no"}])]
    with pytest.raises(AuthFailed):
        limited.request("GET", "/v1/orders")
    assert len(delays) == 2


def test_a_key_in_the_query_string_never_shows(api: ShopApi) -> None:
    key = "qk-7f6e5d4c3b2a1908"
    client = HttpClient(api.url, ApiKeyAuth("api_key", key, "query"), source_name="shop", sleep=lambda _: None)
    with pytest.raises(AuthFailed) as exc:
        client.request("GET", "/v1/orders", params={"limit": 1}, resource="orders")
    assert api.requests[-1].query["api_key"] == key
    assert key not in str(exc.value) and "GET /v1/orders:" in str(exc.value)


def test_client_retries_connection_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    delays: list[float] = []
    retry = RetrySettings(max_retries=2)
    client = HttpClient(f"http://127.0.0.1:{port}", BearerAuth(TOKEN), retry=retry, sleep=delays.append)
    with pytest.raises(HttpUnavailable, match="ConnectError") as exc:
        client.request("GET", "/v1/orders")
    assert len(delays) == 2 and TOKEN not in str(exc.value)


# -- the connector of docs/saas.md, "Writing a connector declaratively" --------------------------


class DeskApi(JsonApi):
    """The helpdesk API the documented example declares: `/v2/<object>?per_page&updated_since&cursor`,
    records in `items`, the next page's cursor in `next_cursor`."""

    def __init__(self) -> None:
        super().__init__()
        self.objects = {
            "tickets": [
                {"id": i, "subject": f"t{i}", "updated_at": f"2024-02-{i:02d}T10:00:00Z"} for i in range(1, 26)
            ],
            "agents": [{"id": i, "name": f"agent {i}", "updated_at": "2023-06-01T00:00:00Z"} for i in range(1, 4)],
        }

    def route(self, request: Request) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"message": "bad token"}
        items = [
            o for o in self.objects[request.path.split("/")[2]] if o["updated_at"] >= request.query["updated_since"]
        ]
        start, size = int(request.query.get("cursor", 0)), int(request.query["per_page"]) // 10
        more = start + size < len(items)
        return 200, {}, {"items": items[start : start + size], "next_cursor": str(start + size) if more else None}


def test_the_documented_declarative_connector_runs(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "saas.md").read_text()
    section = docs.split("## Writing a connector declaratively", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) < 50
    workspace.write("desk.py", code)
    monkeypatch.setenv("DATIVO_SECRET__ACME__DESK", TOKEN)
    with DeskApi() as api:
        job = workspace.job(
            "desk.yaml",
            f"""
            tenant_id: acme
            source:
              reader:
                type: plugin
                plugin_path: desk.DeskReader
                config: {{start: "2024-01-01", backoff_seconds: 0.01}}
              connection: {{api_token: "${{secret:desk}}", base_url: "{api.url}/v2"}}
              tables: [{{name: tickets}}, {{name: agents}}]
            target: {{namespace: desk, table: "{{object}}"}}
            """,
        )
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    rows = {r["table"]: r["rows"] for r in result.json["runs"]}
    assert rows == {"desk.tickets": 25, "desk.agents": 0}  # agents last changed before `start`
    assert workspace.read("desk.tickets", sort_by="id").column("subject").to_pylist() == [f"t{i}" for i in range(1, 26)]


def test_refresh_token_grant_rotates_and_a_revoked_token_fails_fast(api: ShopApi) -> None:
    auth = OAuth2RefreshToken(f"{api.url}/oauth/token", "shop-client", CLIENT_SECRET, api.refresh_token)
    client = HttpClient(api.url, auth, source_name="shop", sleep=lambda _: None)
    assert client.request("GET", "/v1/orders", resource="orders").status_code == 200
    first_refresh = api.refresh_token
    api.expire_tokens()  # the access token expires: one 401, a new token from the rotated refresh token
    assert client.request("GET", "/v1/orders", resource="orders").status_code == 200
    assert api.issued == 2 and api.refresh_token != first_refresh
    assert [r.status for r in api.requests if r.path == "/v1/orders"] == [200, 401, 200]
    api.refresh_token = "rt-revoked"
    api.expire_tokens()
    with pytest.raises(AuthFailed, match="the token endpoint refused the credentials: refresh token revoked") as exc:
        client.request("GET", "/v1/orders", resource="orders")
    assert CLIENT_SECRET not in str(exc.value) and first_refresh not in str(exc.value)


def test_records_land_as_the_asset_types(workspace: Workspace, shop_token: str) -> None:
    """With a contract, each record is converted to its columns (decimals, JSON text, the whole
    record in raw_json); the asset's primary key is the merge key."""
    workspace.write(
        "orders.odcs.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: shop-orders
        name: orders
        version: 1.0.0
        status: active
        schema:
          - name: orders
            properties:
              - {name: id, logicalType: integer, physicalType: bigint, required: true, primaryKey: true}
              - {name: amount, logicalType: number, physicalType: "decimal(12,2)"}
              - {name: updated_at, logicalType: timestamp, physicalType: timestamptz}
              - {name: customer, logicalType: string}
              - {name: raw_json, logicalType: string}
        """,
    )
    with ShopApi(make_orders(45)) as api:
        job = _orders_job(
            workspace,
            api,
            "typed",
            "{name: orders, path: /orders, records: data, paginator: {type: cursor, cursor_path: meta.next_cursor, "
            "param: cursor}}",
            target=", mode: merge",
        )
        job.write_text(job.read_text().replace("tenant_id: acme\n", "tenant_id: acme\nasset_path: orders.odcs.yaml\n"))
        assert _run(workspace, job)["rows"] == 45
        rows = workspace.read("shop.orders", sort_by="id").to_pylist()
        expected = sorted(api.orders.values(), key=lambda o: o["id"])
    assert [str(r["amount"]) for r in rows] == [f"{o['amount']:.2f}" for o in expected]
    assert [json.loads(r["customer"]) for r in rows] == [o["customer"] for o in expected]
    assert [json.loads(r["raw_json"]) for r in rows] == expected
    assert set(rows[0]) == {"id", "amount", "updated_at", "customer", "raw_json"}
