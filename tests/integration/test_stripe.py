"""The `stripe` source against a local HTTP server that serves Stripe-shaped list pages and
injects 429s (with Retry-After) and 500s; tables read back with pyiceberg."""

from __future__ import annotations

import calendar
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from dativo_plugins.stripe.client import RetrySettings, StripeApiError, StripeClient, StripeUnavailable
from dativo_workers.errors import TransientError
from dativo_workers.retry import is_transient

from ..conftest import Workspace

pytestmark = pytest.mark.integration

API_KEY = "sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400


class StripeServer:
    """Stripe's list API for a few objects, on loopback.

    Honours limit, created[gte]/created[lt], starting_after (newest first, like Stripe) and
    hides canceled subscriptions unless status=all. ``change`` changes an object and records
    its event, served by /v1/events (types[] filter, events newest first). ``faults`` is a list of (status,
    headers) served, in turn, before every ``fault_every``-th request is answered normally."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], fault_every: int = 0) -> None:
        self.objects = {name: list(items) for name, items in objects.items()}
        self.events: list[dict[str, Any]] = []
        self.fault_every = fault_every
        self.faults: list[tuple[int, dict[str, str]]] = [(429, {"Retry-After": "0"}), (500, {})]
        self.lock = threading.Lock()
        self.requests = 0
        self.served: Counter[int] = Counter()  # status -> count
        self.queries: list[dict[str, str]] = []  # query of every 200 list page
        self.scripted: list[tuple[int, dict[str, str], dict[str, Any]]] = []  # served first, in order
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = server.respond(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, obj: str, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.objects.setdefault(obj, []).extend(items)

    def change(self, obj: str, event_type: str, item: dict[str, Any]) -> None:
        """``item`` becomes the current version of its object (a `*.deleted` customer is
        removed from the list), and an event of ``event_type`` carrying it is recorded now."""
        with self.lock:
            items = [o for o in self.objects.setdefault(obj, []) if o["id"] != item["id"]]
            self.objects[obj] = items if event_type == "customer.deleted" else [*items, item]
            number = len(self.events)
            self.events.append(
                {"id": f"evt_{number:05d}", "object": "event", "type": event_type, "created": int(time.time()),
                 "data": {"object": json.loads(json.dumps(item))}, "seq": number}
            )  # fmt: skip

    def respond(self, raw_path: str, auth: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            self.requests += 1
            number = self.requests
            if self.scripted:
                status, headers, body = self.scripted.pop(0)
                self.served[status] += 1
                return status, headers, body
            if auth != f"Bearer {API_KEY}":
                self.served[401] += 1
                given = auth.removeprefix("Bearer ")
                # worse than Stripe, which masks all but 4 characters: the client must redact
                message = f"Invalid API Key provided: {given}"
                return 401, {}, {"error": {"message": message, "type": "invalid_request_error"}}
            if self.fault_every:
                cycle = len(self.faults) + 1
                slot = (number - 1) % (cycle * self.fault_every)
                if slot < len(self.faults):
                    status, headers = self.faults[slot]
                    self.served[status] += 1
                    return status, headers, {"error": {"message": "injected", "type": "api_error"}}
            url = urlparse(raw_path)
            obj = url.path.removeprefix("/v1/")
            if obj == "events":
                return self._events(url.path, parse_qs(url.query))
            if obj not in self.objects:
                self.served[404] += 1
                message = f"Unrecognized request URL (GET: {url.path})"
                return 404, {}, {"error": {"message": message, "type": "invalid_request_error"}}
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self.queries.append({"object": obj, **query})
            items = sorted(self.objects[obj], key=lambda o: (o["created"], o["id"]), reverse=True)
            if "created[gte]" in query:
                items = [o for o in items if o["created"] >= int(query["created[gte]"])]
            if "created[lt]" in query:
                items = [o for o in items if o["created"] < int(query["created[lt]"])]
            if obj == "subscriptions" and query.get("status") != "all":
                items = [o for o in items if o["status"] != "canceled"]
            if "starting_after" in query:
                ids = [o["id"] for o in items]
                items = items[ids.index(query["starting_after"]) + 1 :]
            limit = int(query.get("limit", 10))
            self.served[200] += 1
            return 200, {}, {"object": "list", "data": items[:limit], "has_more": len(items) > limit, "url": url.path}

    def _events(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], dict[str, Any]]:
        one = {k: v[-1] for k, v in query.items()}
        self.queries.append({"object": "events", **one, "types[]": ",".join(query.get("types[]", []))})
        items = sorted(self.events, key=lambda e: (e["created"], e["seq"]), reverse=True)  # newest first
        items = [e for e in items if e["type"] in query.get("types[]", [])]
        if "created[gte]" in one:
            items = [e for e in items if e["created"] >= int(one["created[gte]"])]
        if "created[lt]" in one:
            items = [e for e in items if e["created"] < int(one["created[lt]"])]
        if "starting_after" in one:
            ids = [e["id"] for e in items]
            items = items[ids.index(one["starting_after"]) + 1 :]
        limit = int(one.get("limit", 10))
        page = [{k: v for k, v in e.items() if k != "seq"} for e in items[:limit]]
        self.served[200] += 1
        return 200, {}, {"object": "list", "data": page, "has_more": len(items) > limit, "url": path}

    def __enter__(self) -> StripeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_charges(count: int, start: int, span: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    charges = []
    for i in range(count):
        created = start + rng.randrange(span)
        charges.append(
            {
                "id": f"ch_{seed}_{i:05d}",
                "object": "charge",
                "created": created,
                "livemode": False,
                "amount": rng.randrange(50, 10**7),
                "amount_captured": 0,
                "amount_refunded": 0,
                "currency": rng.choice(["usd", "eur"]),
                "customer": {"id": f"cus_{i % 13}", "object": "customer"} if i % 4 == 0 else f"cus_{i % 13}",
                "status": "succeeded",
                "paid": True,
                "captured": i % 3 != 0,
                "refunded": False,
                "payment_intent": None,
                "invoice": None,
                "description": None if i % 5 else f"Order #{i}: ünïcödé",
                "failure_code": None,
                "metadata": {"order": str(i)},
                "outcome": {"network_status": "approved_by_network", "risk_score": rng.randrange(100)},
            }
        )
    return charges


@pytest.fixture
def stripe_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__STRIPE_KEY", API_KEY)
    return API_KEY


def _job(
    ws: Workspace,
    server: StripeServer,
    obj: str,
    options: str,
    *,
    name: str | None = None,
    extra: str = "",
) -> Path:
    name = name or obj
    text = f"""
        tenant_id: acme
        name: {name}
        source:
          connector: stripe
          connection: {{api_key: "${{secret:stripe_key}}", base_url: "{server.url}"}}
          tables: [{{name: {obj}}}]
          options: {{page_size: 10, backoff_seconds: 0.01, max_backoff_seconds: 0.05, {options}}}
        {extra}
        target: {{namespace: stripe, table: {name}}}
        retry: {{max_attempts: 1}}
        """
    return ws.job(f"{name}.yaml", text)


def test_charges_load_exactly_through_429s_and_500s(workspace: Workspace, stripe_key: str) -> None:
    charges = make_charges(500, T0, 60 * DAY)
    # objects exactly on window boundaries belong to the window they open, once
    charges += [{**charges[0], "id": f"ch_edge_{d}", "created": T0 + d * 7 * DAY} for d in range(9)]
    with StripeServer({"charges": charges}, fault_every=3) as server:
        job = _job(workspace, server, "charges", f"start: {T0}, end: {T0 + 63 * DAY}, window: 7d")
        summary = workspace.run(job, workers=3)
        assert summary["state"] == "committed", summary
        assert summary["partitions_total"] == 9 and summary["rows"] == len(charges)
        assert server.served[429] > 5 and server.served[500] > 5  # the faults were really hit
    table = workspace.read("stripe.charges", sort_by="id")
    expected = sorted(charges, key=lambda c: c["id"])
    assert table.column("id").to_pylist() == [c["id"] for c in expected]
    assert table.column("amount").to_pylist() == [c["amount"] for c in expected]
    assert [int(t.timestamp()) for t in table.column("created").to_pylist()] == [c["created"] for c in expected]
    customers = [c["customer"]["id"] if isinstance(c["customer"], dict) else c["customer"] for c in expected]
    assert table.column("customer").to_pylist() == customers
    assert [json.loads(raw) for raw in table.column("raw_json").to_pylist()] == expected
    assert str(workspace.table("stripe.charges").schema().find_field("created").field_type) == "timestamptz"


def test_pagination_sends_cursor_and_created_window(workspace: Workspace, stripe_key: str) -> None:
    charges = make_charges(35, T0, DAY)
    with StripeServer({"charges": charges}) as server:
        job = _job(workspace, server, "charges", f"start: {T0}, end: {T0 + DAY}, window: 1d")
        assert workspace.run(job)["rows"] == 35
    # planning samples the first partition for PII detection, so pages may be read twice
    pages = [q for q in server.queries if q["created[gte]"] == str(T0)]
    assert all(q["created[lt]"] == str(T0 + DAY) and q["limit"] == "10" for q in pages)
    newest_first = sorted(charges, key=lambda c: (c["created"], c["id"]), reverse=True)
    cursors = [q.get("starting_after") for q in pages[-4:]]
    assert cursors == [None, newest_first[9]["id"], newest_first[19]["id"], newest_first[29]["id"]]


def test_wrong_api_key_fails_with_stripes_message_and_no_key(workspace: Workspace, stripe_key: str) -> None:
    with StripeServer({"charges": make_charges(5, T0, DAY)}) as server:
        job = _job(workspace, server, "charges", f"start: {T0}, end: {T0 + DAY}")
        wrong = "sk_test_WRONGwrongWRONG0000"
        result = workspace.cli("run", str(job), "--json", env={"DATIVO_SECRET__GLOBAL__STRIPE_KEY": wrong})
        assert server.served[401] >= 1 and server.served[200] == 0
        assert server.requests == server.served[401]  # a 401 is not retried
    assert result.code == 2
    output = result.stdout + result.stderr
    assert "HTTP 401: Invalid API Key provided: ***" in output
    assert wrong not in output and "WRONGwrong" not in output and API_KEY not in output
    assert (
        not workspace.catalog().table_exists("stripe.charges")
        or workspace.table("stripe.charges").current_snapshot() is None
    )


def test_missing_object_is_a_permanent_error_naming_the_url(workspace: Workspace, stripe_key: str) -> None:
    with StripeServer({"charges": []}) as server:
        job = _job(workspace, server, "payouts", f"start: {T0}, end: {T0 + DAY}")
        summary = workspace.run(job)
    assert summary["state"] == "failed"
    assert "stripe: GET /v1/payouts: HTTP 404: Unrecognized request URL (GET: /v1/payouts)" in summary["error"]


def test_subscriptions_include_canceled_ones(workspace: Workspace, stripe_key: str) -> None:
    subs = [
        {
            "id": f"sub_{i}",
            "object": "subscription",
            "created": T0 + i * 3600,
            "livemode": False,
            "customer": f"cus_{i}",
            "status": "canceled" if i % 2 else "active",
            "currency": "usd",
            "start_date": T0 + i * 3600,
            "current_period_start": T0,
            "current_period_end": T0 + 30 * DAY,
            "cancel_at_period_end": False,
            "canceled_at": T0 + DAY if i % 2 else None,
            "ended_at": None,
            "trial_end": None,
        }
        for i in range(6)
    ]
    with StripeServer({"subscriptions": subs}) as server:
        job = _job(workspace, server, "subscriptions", f"start: {T0}, end: {T0 + DAY}")
        assert workspace.run(job)["state"] == "committed"
    table = workspace.read("stripe.subscriptions", sort_by="id")
    assert table.column("status").to_pylist() == ["active", "canceled"] * 3
    assert [t and int(t.timestamp()) for t in table.column("canceled_at").to_pylist()] == [None, T0 + DAY] * 3


@pytest.fixture
def zone_in_daylight_saving_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process's local time zone set to one observing DST today: a UTC conversion through
    local time (mktime) is then an hour off, where a correct one is not."""
    zone = "Europe/Berlin" if time.localtime().tm_mon in range(4, 10) else "Australia/Sydney"
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    assert time.localtime().tm_isdst == 1, zone
    yield zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("zone_in_daylight_saving_time")
def test_incremental_runs_continue_from_the_committed_cursor(workspace: Workspace, stripe_key: str) -> None:
    now = int(time.time())
    old = make_charges(40, now - 20 * DAY, 19 * DAY, seed=1)
    with StripeServer({"charges": old}) as server:
        job = _job(
            workspace,
            server,
            "charges",
            f"start: {now - 30 * DAY}, window: 10d",
            extra="  incremental: {cursor_field: created}",
        )
        first = workspace.run(job)
        assert first["state"] == "committed" and first["rows"] == 40
        snapshot = workspace.table("stripe.charges").current_snapshot()
        state = {k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("dativo.state.")}
        [(key, cursor)] = state.items()
        assert key.startswith("dativo.state.acme.") and key.endswith(".charges.created")  # keyed by the job
        end = calendar.timegm(time.strptime(cursor, "%Y-%m-%dT%H:%M:%SZ"))  # UTC, whatever the local zone and DST
        assert now <= end <= int(time.time())
        new = make_charges(3, end, 1, seed=2)  # created exactly at the committed cursor
        server.add("charges", new)
        while int(time.time()) <= end:  # the next run's window must reach past them
            time.sleep(0.2)
        server.queries.clear()
        second = workspace.run(job)
    assert second["state"] == "committed" and second["rows"] == 3
    assert {q["created[gte]"] for q in server.queries} == {str(end)}  # only the new range was asked for
    table = workspace.read("stripe.charges", sort_by="id")
    assert sorted(table.column("id").to_pylist()) == sorted(c["id"] for c in old + new)


# -- the client on its own: what it waits, when it gives up ---------------------------------


@pytest.fixture
def server() -> Iterator[StripeServer]:
    with StripeServer({"charges": make_charges(3, T0, DAY)}) as running:
        yield running


def _client(server: StripeServer, delays: list[float], **retry: Any) -> StripeClient:
    settings = RetrySettings(**{"max_retries": 4, "backoff_seconds": 1.0, "max_backoff_seconds": 4.0, **retry})
    return StripeClient(API_KEY, server.url, retry=settings, sleep=delays.append)


def test_client_waits_retry_after_on_429(server: StripeServer) -> None:
    server.scripted = [(429, {"Retry-After": "3"}, {}), (429, {"Retry-After": "500"}, {})]
    delays: list[float] = []
    page = _client(server, delays, max_retry_after_seconds=60).get("/v1/charges", {"limit": 2})
    assert len(page["data"]) == 2
    assert delays == [3.0, 60.0]  # honoured, and capped


def test_client_backs_off_exponentially_on_5xx_then_gives_up_as_transient(server: StripeServer) -> None:
    server.scripted = [(500, {}, {"error": {"message": "boom", "type": "api_error"}})] * 5
    delays: list[float] = []
    with pytest.raises(StripeUnavailable, match=r"HTTP 500 after 5 attempts: boom \(type=api_error\)") as exc:
        _client(server, delays).get("/v1/charges", {})
    assert isinstance(exc.value, TransientError) and is_transient(exc.value)
    assert len(delays) == 4
    for attempt, delay in enumerate(delays):  # 1, 2, 4, 4 (capped), each with jitter in its top half
        base = min(2**attempt, 4.0)
        assert base / 2 <= delay <= base


def test_client_does_not_retry_4xx_or_a_no_retry_hint(server: StripeServer) -> None:
    server.scripted = [(400, {}, {"error": {"message": "Invalid limit", "type": "invalid_request_error"}})]
    delays: list[float] = []
    with pytest.raises(StripeApiError, match="HTTP 400: Invalid limit") as exc:
        _client(server, delays).get("/v1/charges", {})
    assert not is_transient(exc.value) and delays == []
    server.scripted = [(503, {"Stripe-Should-Retry": "false"}, {"error": {"message": "no"}})]
    with pytest.raises(StripeApiError, match="HTTP 503"):
        _client(server, delays).get("/v1/charges", {})
    assert delays == []


def test_client_retries_connection_errors() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens there any more
    delays: list[float] = []
    client = StripeClient(API_KEY, f"http://127.0.0.1:{port}", retry=RetrySettings(max_retries=2), sleep=delays.append)
    with pytest.raises(StripeUnavailable, match="ConnectError") as exc:
        client.get("/v1/charges", {})
    assert len(delays) == 2 and API_KEY not in str(exc.value)


def _objects() -> dict[str, list[dict[str, Any]]]:
    customers = [
        {"id": f"cus_{i:03d}", "object": "customer", "created": T0 + i * 7000, "livemode": False,
         "email": f"user{i}@example.com", "name": f"User {i}", "balance": -i, "delinquent": i % 7 == 0}
        for i in range(120)
    ]  # fmt: skip
    invoices = [
        {"id": f"in_{i:03d}", "object": "invoice", "created": T0 + i * 5003, "livemode": False,
         "customer": f"cus_{i % 120:03d}", "status": "paid", "amount_due": 100 * i, "amount_paid": 100 * i,
         "total": 100 * i, "period_start": T0, "period_end": T0 + 30 * DAY, "due_date": None}
        for i in range(90)
    ]  # fmt: skip
    subscriptions = [
        {"id": f"sub_{i:03d}", "object": "subscription", "created": T0 + i * 3001, "livemode": False,
         "customer": f"cus_{i:03d}", "status": "canceled" if i % 3 == 0 else "active", "current_period_end": T0}
        for i in range(45)
    ]  # fmt: skip
    return {
        "customers": customers,
        "charges": make_charges(150, T0, 10 * DAY),
        "invoices": invoices,
        "subscriptions": subscriptions,
    }


def test_one_job_loads_every_object_into_its_own_table(workspace: Workspace, stripe_key: str) -> None:
    objects = _objects()
    with StripeServer(objects, fault_every=4) as server:
        job = workspace.job(
            "stripe.yaml",
            f"""
            tenant_id: acme
            source:
              connector: stripe
              connection: {{api_key: "${{secret:stripe_key}}", base_url: "{server.url}"}}
              tables: [{{name: customers}}, {{name: charges}}, {{name: invoices}}, {{name: subscriptions}}]
              options: {{start: {T0}, end: {T0 + 10 * DAY}, window: 2d, page_size: 25, backoff_seconds: 0.01}}
            target: {{namespace: stripe, table: "{{object}}"}}
            """,
        )
        check = workspace.cli("check", str(job), "--json")
        assert check.code == 0, check.stdout + check.stderr
        result = workspace.cli("run", str(job), "--json", "-w", "3")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served[429] and server.served[500]
    runs = {run["table"]: run for run in result.json["runs"]}
    assert set(runs) == {f"stripe.{name}" for name in objects}
    for name, items in objects.items():
        assert runs[f"stripe.{name}"]["state"] == "committed" and runs[f"stripe.{name}"]["partitions_total"] == 5
        table = workspace.read(f"stripe.{name}", sort_by="id")
        assert table.column("id").to_pylist() == sorted(o["id"] for o in items), name
    customers = workspace.read("stripe.customers", sort_by="id").to_pylist()
    assert [(c["email"], c["balance"], c["delinquent"]) for c in customers] == [
        (o["email"], o["balance"], o["delinquent"]) for o in objects["customers"]
    ]
    invoices = workspace.read("stripe.invoices", sort_by="id").to_pylist()
    assert [i["amount_due"] for i in invoices] == [o["amount_due"] for o in objects["invoices"]]
    assert workspace.table("stripe.customers").properties.get("dativo.classification.email") == "PII"


def test_check_reports_a_wrong_key_without_showing_it(workspace: Workspace, stripe_key: str) -> None:
    with StripeServer({"charges": [], "customers": []}) as server:
        job = workspace.job(
            "check.yaml",
            f"""
            tenant_id: acme
            source:
              connector: stripe
              connection: {{api_key: "${{secret:stripe_key}}", base_url: "{server.url}"}}
              tables: [{{name: charges}}, {{name: customers}}]
            target: {{namespace: stripe, table: "{{object}}"}}
            """,
        )
        wrong = "rk_live_NotTheRightKey42"
        result = workspace.cli("check", str(job), "--json", env={"DATIVO_SECRET__GLOBAL__STRIPE_KEY": wrong})
    assert result.code == 2
    source = next(c for c in result.json["checks"] if c["name"] == "source")
    assert not source["ok"]
    assert "GET /v1/charges: HTTP 401" in source["detail"] and "GET /v1/customers: HTTP 401" in source["detail"]
    assert wrong not in result.stdout + result.stderr and "NotTheRightKey" not in result.stdout + result.stderr


def test_client_paces_itself_when_asked(server: StripeServer) -> None:
    client = StripeClient(API_KEY, server.url, retry=RetrySettings(requests_per_second=40))
    started = time.monotonic()
    for _ in range(9):
        client.get("/v1/charges", {"limit": 1})
    assert time.monotonic() - started >= 8 / 40 * 0.95  # 9 requests: at least 8 intervals of 25 ms
    client.close()


# -- merge on `updated`: changes through the Events API -------------------------------------


def _current(server: StripeServer, obj: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in server.objects[obj]}


def _table_equals_api(ws: Workspace, server: StripeServer, obj: str) -> list[dict[str, Any]]:
    rows = ws.read(f"stripe.{obj}", sort_by="id").to_pylist()
    api = sorted(server.objects[obj], key=lambda o: o["id"])
    assert [r["id"] for r in rows] == [o["id"] for o in api], obj
    assert [json.loads(r["raw_json"]) for r in rows] == api, obj  # every field, the newest version
    assert not any(r["deleted"] for r in rows)
    return rows


def test_merge_on_updated_keeps_customers_and_subscriptions_equal_to_the_api(
    workspace: Workspace, stripe_key: str
) -> None:
    """First run: the object lists. Then objects are updated (one twice), deleted and created at
    the API; the next run reads only their events and merges them: each table equals the API's
    current objects, one snapshot per run."""
    customers = [
        {"id": f"cus_{i:03d}", "object": "customer", "created": T0 + i * 3600, "livemode": False,
         "email": f"user{i}@example.com", "name": f"User {i}", "balance": 0, "delinquent": False}
        for i in range(80)
    ]  # fmt: skip
    subscriptions = [
        {"id": f"sub_{i:03d}", "object": "subscription", "created": T0 + i * 3600, "livemode": False,
         "customer": f"cus_{i:03d}", "status": "active", "cancel_at_period_end": False, "canceled_at": None}
        for i in range(40)
    ]  # fmt: skip
    with StripeServer({"customers": customers, "subscriptions": subscriptions}) as server:
        job = workspace.job(
            "changes.yaml",
            f"""
            tenant_id: acme
            name: changes
            source:
              connector: stripe
              connection: {{api_key: "${{secret:stripe_key}}", base_url: "{server.url}"}}
              tables: [{{name: customers}}, {{name: subscriptions}}]
              options: {{start: {T0}, window: 400d, page_size: 10, backoff_seconds: 0.01}}
              incremental: {{cursor_field: updated, lookback: 10m}}
            target:
              namespace: stripe
              table: "{{object}}"
              mode: merge
              merge_key: [id]
              delete_marker: {{column: deleted, value: true}}
            governance_overrides: {{pii_detection: false}}
            """,
        )

        def run() -> dict[str, dict[str, Any]]:
            result = workspace.cli("run", str(job), "--json")
            assert result.code == 0, result.stdout + result.stderr
            return {r["table"]: r for r in result.json["runs"]}

        check = workspace.cli("check", str(job), "--json")
        assert check.code == 0, check.stdout + check.stderr
        assert any(q["object"] == "events" for q in server.queries)  # the key may read events too
        first = run()
        assert first["stripe.customers"]["rows"] == 80 and first["stripe.subscriptions"]["rows"] == 40
        listed = _table_equals_api(workspace, server, "customers")
        assert all(int(r["updated"].timestamp()) == r["created"].timestamp() for r in listed)  # listed: created
        _table_equals_api(workspace, server, "subscriptions")

        cus, sub = _current(server, "customers"), _current(server, "subscriptions")
        for i in range(10):
            server.change("customers", "customer.updated", {**cus[f"cus_{i:03d}"], "email": f"new{i}@example.com"})
        twice = {**_current(server, "customers")["cus_003"], "name": "second change", "balance": -5}
        server.change("customers", "customer.updated", twice)
        twice_at = server.events[-1]["created"]
        for i in (20, 21, 22):  # deleted: gone from the list, the event carries the last version
            server.change("customers", "customer.deleted", cus[f"cus_{i:03d}"])
        server.change("customers", "customer.updated", {**cus["cus_030"], "name": "updated, then deleted"})
        server.change("customers", "customer.deleted", {**cus["cus_030"], "name": "updated, then deleted"})
        now = int(time.time())
        new = {"object": "customer", "created": now, "livemode": False, "balance": 0, "delinquent": False}
        server.change("customers", "customer.created", {**new, "id": "cus_new1", "email": "n1@example.com"})
        server.change("customers", "customer.created", {**new, "id": "cus_new2", "email": "gone@example.com"})
        server.change("customers", "customer.deleted", {**new, "id": "cus_new2", "email": "gone@example.com"})
        canceled = {**sub["sub_005"], "status": "canceled", "canceled_at": now}
        server.change("subscriptions", "customer.subscription.deleted", canceled)  # canceled, still listed
        server.change("subscriptions", "customer.subscription.updated", {**sub["sub_006"], "status": "past_due"})
        server.change(
            "subscriptions",
            "customer.subscription.created",
            {**sub["sub_000"], "id": "sub_new", "created": now, "customer": "cus_new1"},
        )
        last_event = max(e["created"] for e in server.events)
        while int(time.time()) <= last_event:  # the next run's range ends past every change
            time.sleep(0.1)
        server.queries.clear()
        second = run()
        assert {q["object"] for q in server.queries} == {"events"}  # no object list was read again
        kinds = "created updated deleted paused resumed pending_update_applied pending_update_expired trial_will_end"
        assert {q["types[]"] for q in server.queries} == {
            "customer.created,customer.updated,customer.deleted",
            ",".join(f"customer.subscription.{k}" for k in kinds.split()),
        }
        changed_customers = 10 + 3 + 1 + 2  # one row per changed object: its newest event in the run
        assert second["stripe.customers"]["rows"] == changed_customers
        assert second["stripe.subscriptions"]["rows"] == 3
        rows = {r["id"]: r for r in _table_equals_api(workspace, server, "customers")}
        _table_equals_api(workspace, server, "subscriptions")
    assert rows["cus_003"]["name"] == "second change" and rows["cus_003"]["email"] == "new3@example.com"
    assert int(rows["cus_003"]["updated"].timestamp()) == twice_at  # the time of its newest event
    assert {"cus_020", "cus_030", "cus_new2"}.isdisjoint(rows) and "cus_new1" in rows
    for obj in ("customers", "subscriptions"):
        table = workspace.table(f"stripe.{obj}")
        assert len(table.snapshots()) == 2  # one snapshot per run
        summary = table.current_snapshot().summary.additional_properties
        assert summary[f"dativo.state.acme.changes.{obj}.updated"].endswith("Z")
    summary = workspace.table("stripe.customers").current_snapshot().summary.additional_properties
    assert summary["dativo.merge.deleted-keys"] == "5"  # cus_020-022, cus_030 and cus_new2
