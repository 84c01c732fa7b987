"""The `zendesk` source against a Zendesk Support API on loopback: the cursor-based incremental
exports (tickets, users), the time-based one (organizations), ticket comments, basic (email/token)
and OAuth auth, 429 with Retry-After and 5xx; read back with pyiceberg."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Workspace
from .loopback_api import Answer, JsonApi, Request

pytestmark = pytest.mark.integration

EMAIL = "agent@acme.example"
API_TOKEN = "zd-9TOKENa8b7c6d5e4f3g2h1"
OAUTH_TOKEN = "zd-oauth-1a2b3c4d5e6f7a8b9c0d"
T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class ZendeskApi(JsonApi):
    """Zendesk Support as its docs describe it:

    - `GET /api/v2/incremental/{tickets,users}/cursor.json`: `start_time` (required on the first
      request) or `cursor`; items whose `updated_at` is at or after it, oldest first, `per_page` at a
      time, each page with `after_url`/`after_cursor` (also on the last page) and `end_of_stream`;
      changes of the last `exclusion` seconds are left out (Zendesk: one minute).
    - `GET /api/v2/incremental/{organizations,tickets,users}.json`: time-based, oldest first,
      `next_page` = the same URL with `start_time` = the page's `end_time` (the last item's time),
      so items of that second come again on the next page; tickets by `generated_timestamp`.
    - `GET /api/v2/tickets/{id}/comments.json`: `page[size]`/`page[after]`, `meta.has_more`,
      `links.next`; a deleted ticket is a 404.
    - Basic auth `{email}/token:{api_token}` or a bearer OAuth token; else 401."""

    def __init__(self, fault_every: int = 0, exclusion: int = 1) -> None:
        super().__init__(fault_every)
        self.faults = [(429, {"Retry-After": "0"}), (500, {})]
        self.exclusion = exclusion
        self.tickets: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.oauth = False
        self.time_exports: list[tuple[str, int]] = []  # (object, start_time) of each time-based export page
        for i in range(1, 121):
            self.tickets[i] = self._ticket(i, T0 + i * 600)
            self.comments[i] = [self._comment(i, n, T0 + i * 600 + n) for n in range(i % 4)]
        for i in range(1, 61):
            self.users[i] = {
                "id": 1000 + i, "name": f"User {i}", "email": f"user{i}@example.com", "role": "end-user",
                "active": True, "verified": i % 2 == 0, "suspended": False, "organization_id": 500 + i % 7,
                "tags": ["vip"] if i % 9 == 0 else [], "user_fields": {"plan": "pro"},
                "created_at": iso(T0 + i), "updated_at": iso(T0 + i * 300), "last_login_at": None,
            }  # fmt: skip
        for i in range(1, 26):  # several organizations share an updated_at second
            self.organizations[i] = {
                "id": 500 + i, "name": f"Org {i}", "domain_names": [f"org{i}.example"], "tags": [],
                "shared_tickets": False, "shared_comments": False, "details": None, "notes": None,
                "group_id": None, "organization_fields": {}, "created_at": iso(T0),
                "updated_at": iso(T0 + (i // 3) * 60), "deleted_at": None,
            }  # fmt: skip
        self.users = {u["id"]: u for u in self.users.values()}
        self.organizations = {o["id"]: o for o in self.organizations.values()}

    @staticmethod
    def _ticket(i: int, updated: int) -> dict[str, Any]:
        return {
            "id": i, "url": f"https://acme.zendesk.com/api/v2/tickets/{i}.json", "type": "question",
            "subject": f"Help with order {i}", "description": f"Order {i} did not arrive ✉", "priority": None,
            "status": ["new", "open", "solved"][i % 3], "requester_id": 1000 + i % 60, "submitter_id": 1000,
            "assignee_id": None if i % 5 else 7, "organization_id": 500 + i % 25, "group_id": 3, "brand_id": 1,
            "tags": ["shipping"], "via": {"channel": "email"}, "custom_fields": [{"id": 1, "value": None}],
            "has_incidents": False, "is_public": True, "due_at": None, "created_at": iso(T0 + i),
            "updated_at": iso(updated), "generated_timestamp": updated,
        }  # fmt: skip

    @staticmethod
    def _comment(ticket: int, n: int, at: int) -> dict[str, Any]:
        return {
            "id": ticket * 100 + n, "type": "Comment", "author_id": 1000 + n, "body": f"comment {n} on {ticket}",
            "html_body": f"<p>comment {n}</p>", "plain_body": f"comment {n}", "public": n % 2 == 0,
            "audit_id": ticket * 1000 + n, "via": {"channel": "web"}, "attachments": [], "metadata": {},
            "created_at": iso(at),
        }  # fmt: skip

    # -- changes -------------------------------------------------------------------------

    def update_ticket(self, i: int, **values: Any) -> None:
        with self.lock:
            now = int(time.time())
            ticket = self.tickets.get(i) or self._ticket(i, now)
            ticket.update(values, updated_at=iso(now), generated_timestamp=now)
            self.tickets[i] = ticket
            self.comments.setdefault(i, [])

    def add_comment(self, i: int) -> None:
        with self.lock:
            n = len(self.comments[i])
            self.comments[i].append(self._comment(i, n, int(time.time())))
        self.update_ticket(i)

    def update(self, kind: str, key: int, **values: Any) -> None:
        with self.lock:
            getattr(self, kind)[key].update(values, updated_at=iso(int(time.time())))

    # -- the API --------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.oauth:
            return header == f"Bearer {OAUTH_TOKEN}"
        expected = base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
        return header == f"Basic {expected}"

    def route(self, request: Request) -> Answer:
        if not self._authorized(request):
            return 401, {}, {"error": "Couldn't authenticate you"}
        path, q = request.path, request.query
        if path in ("/api/v2/incremental/tickets/cursor.json", "/api/v2/incremental/users/cursor.json"):
            kind = "tickets" if "tickets" in path else "users"
            return self._cursor_export(kind, path, q)
        if path in ("/api/v2/incremental/organizations.json", "/api/v2/incremental/users.json"):
            return self._time_export("organizations" if "organizations" in path else "users", q)
        if path == "/api/v2/incremental/tickets.json":
            return self._time_export("tickets", q, lambda o: int(o["generated_timestamp"]))
        if path.startswith("/api/v2/tickets/") and path.endswith("/comments.json"):
            ticket = self.tickets.get(int(path.split("/")[4]))
            if ticket is None or ticket["status"] == "deleted":
                return 404, {}, {"error": "RecordNotFound", "description": "Not found"}
            comments = self.comments.get(ticket["id"], [])
            size = int(q.get("page[size]", 100))
            start = int(q["page[after]"]) if "page[after]" in q else 0
            page = comments[start : start + size]
            more = start + size < len(comments)
            following = f"{self.url}{path}?page[size]={size}&page[after]={start + size}" if more else None
            meta = {"has_more": more, "after_cursor": str(start + size) if more else None}
            return 200, {}, {"comments": page, "meta": meta, "links": {"next": following, "prev": None}}
        return 404, {}, {"error": "InvalidEndpoint", "description": "Not found"}

    def _visible(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        horizon = int(time.time()) - self.exclusion
        return sorted(
            (o for o in items if unix(o["updated_at"]) <= horizon), key=lambda o: (unix(o["updated_at"]), o["id"])
        )

    def _cursor_export(self, kind: str, path: str, q: dict[str, str]) -> Answer:
        if "cursor" in q:
            after_time, after_id = (int(x) for x in base64.b64decode(q["cursor"]).decode().split(":"))
        elif "start_time" in q:
            after_time, after_id = int(q["start_time"]), -1
        else:
            return 400, {}, {"error": "InvalidPaginationParameter", "description": "start_time is required"}
        items = [
            o for o in self._visible(list(getattr(self, kind).values()))
            if (unix(o["updated_at"]), o["id"]) > (after_time, after_id)
        ]  # fmt: skip
        size = int(q.get("per_page", 1000))
        page = items[:size]
        if page:
            last = page[-1]
            after_time, after_id = unix(last["updated_at"]), last["id"]
        cursor = base64.b64encode(f"{after_time}:{after_id}".encode()).decode()
        return 200, {}, {
            kind: page, "after_cursor": cursor, "after_url": f"{self.url}{path}?cursor={cursor}",
            "before_cursor": None, "before_url": None, "end_of_stream": len(items) <= size,
        }  # fmt: skip

    def _time_export(self, kind: str, q: dict[str, str], when: Any = None) -> Answer:
        if "start_time" not in q:
            return 400, {}, {"error": "InvalidPaginationParameter", "description": "start_time is required"}
        when = when or (lambda o: unix(o["updated_at"]))
        start = int(q["start_time"])
        items = sorted(
            (o for o in self._visible(list(getattr(self, kind).values())) if when(o) >= start),
            key=lambda o: (when(o), o["id"]),
        )
        size = int(q.get("per_page", 1000))
        page = items[:size]
        end_time = when(page[-1]) if page else start
        following = f"{self.url}/api/v2/incremental/{kind}.json?per_page={size}&start_time={end_time}"
        self.time_exports.append((kind, start))
        return 200, {}, {
            kind: page, "count": len(page), "end_time": end_time, "next_page": following,
            "end_of_stream": len(items) <= size,
        }  # fmt: skip


@pytest.fixture
def zendesk_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME__ZENDESK", json.dumps({"token": API_TOKEN, "oauth": OAUTH_TOKEN}))


def _job(ws: Workspace, api: ZendeskApi, name: str, extra: str = "", connection: str = "", options: str = "") -> Path:
    connection = connection or f'email: {EMAIL}, api_token: "${{secret:zendesk.token}}"'
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          connector: zendesk
          connection: {{subdomain: acme, base_url: "{api.url}", {connection}}}
          options: {{page_size: 7, backoff_seconds: 0.01, max_backoff_seconds: 0.02 {options}}}
          {extra}
        target: {{namespace: zendesk, table: "{{object}}", mode: merge}}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def _equal(ws: Workspace, table: str, expected: list[dict[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    rows = ws.read(f"zendesk.{table}", sort_by=key).to_pylist()
    expected = sorted(expected, key=lambda o: o[key])
    assert [r[key] for r in rows] == [o[key] for o in expected], table
    raws = [json.loads(r["raw_json"]) for r in rows]
    assert raws == [{k: v for k, v in o.items()} for o in expected], table
    return rows


def _runs(ws: Workspace, job: Path) -> dict[str, dict[str, Any]]:
    result = ws.cli("run", str(job), "--json")
    assert result.code == 0, result.stdout + result.stderr
    return {r["table"].split(".")[1]: r for r in result.json.get("runs", [result.json])}


def test_every_object_loads_exactly_then_only_the_changes_merge(workspace: Workspace, zendesk_secrets: None) -> None:
    with ZendeskApi(fault_every=3) as api:
        job = _job(workspace, api, "support", extra="incremental: {cursor_field: updated_at}")
        check = workspace.cli("check", str(job), "--json")
        assert check.code == 0, check.stdout + check.stderr
        first = _runs(workspace, job)
        assert {k: v["rows"] for k, v in first.items()} == {
            "tickets": 120, "users": 60, "organizations": 25, "ticket_comments": sum(i % 4 for i in range(1, 121))
        }  # fmt: skip
        assert api.served[429] and api.served[500]
        tickets = _equal(workspace, "tickets", list(api.tickets.values()))
        assert tickets[0]["updated_at"] == dt.datetime.fromtimestamp(T0 + 600, dt.UTC)
        assert json.loads(tickets[0]["via"]) == {"channel": "email"} and tickets[0]["assignee_id"] is None
        _equal(workspace, "users", list(api.users.values()))
        _equal(workspace, "organizations", list(api.organizations.values()))
        comments = _equal(workspace, "ticket_comments", [c for cs in api.comments.values() for c in cs])
        assert {c["ticket_id"] for c in comments} == {i for i in api.tickets if i % 4}  # from the parent
        starts = {r.query.get("start_time") for r in api.requests if r.path.endswith("cursor.json") and r.status == 200}
        assert starts == {"0", None}  # the first run exports from the beginning, then follows the cursor

        time.sleep(1.2)  # past the export's exclusion window
        api.update_ticket(5, status="solved")
        api.add_comment(6)
        api.update_ticket(9, status="deleted")  # deleted tickets stay in the export; comments 404
        api.update_ticket(121, subject="a new ticket")
        api.update("users", 1007, name="Renamed")
        api.update("organizations", 503, notes="moved")
        time.sleep(1.2)
        api.requests.clear()
        second = _runs(workspace, job)
        assert {k: v["rows"] for k, v in second.items()} == {
            "tickets": 4, "users": 1, "organizations": 1, "ticket_comments": len(api.comments[5]) + len(api.comments[6])
        }  # fmt: skip
        starts = [int(r.query["start_time"]) for r in api.requests if "start_time" in r.query]
        assert starts and all(T0 + 10 * 86_400 < s <= int(time.time()) for s in starts)  # from the cursor
        _equal(workspace, "tickets", list(api.tickets.values()))
        _equal(workspace, "users", list(api.users.values()))
        _equal(workspace, "organizations", list(api.organizations.values()))
        _equal(workspace, "ticket_comments", [c for cs in api.comments.values() for c in cs])
    snapshot = workspace.table("zendesk.tickets").current_snapshot()
    cursor = snapshot.summary.additional_properties["dativo.state.acme.support.tickets.updated_at"]
    assert unix(cursor) <= int(time.time()) - 60  # the export hides the last minute: so does the cursor


def test_a_wrong_token_fails_fast_and_never_shows(workspace: Workspace, zendesk_secrets: None) -> None:
    with ZendeskApi() as api:
        job = _job(workspace, api, "wrong", extra="tables: [{name: tickets}]")
        wrong = "zd-WRONGtoken-77665544"
        env = {"DATIVO_SECRET__ACME__ZENDESK": json.dumps({"token": wrong})}
        result = workspace.cli("run", str(job), "--json", env=env)
        assert len(api.requests) == 1 and api.served[401] == 1
    assert result.code == 2
    output = result.stdout + result.stderr
    assert "zendesk tickets: GET /api/v2/incremental/tickets/cursor.json: HTTP 401" in output
    basic = base64.b64encode(f"{EMAIL}/token:{wrong}".encode()).decode()
    assert wrong not in output and basic not in output and API_TOKEN not in output


def test_oauth_discover_and_the_generator(workspace: Workspace, zendesk_secrets: None) -> None:
    with ZendeskApi() as api:
        api.oauth = True
        job = _job(
            workspace,
            api,
            "oauth",
            extra="tables: [{name: users}]",
            connection='oauth_token: "${secret:zendesk.oauth}"',
        )
        summary = _runs(workspace, job)["users"]
        assert summary["rows"] == 60
        found = workspace.cli("discover", str(job), "--json")
        assert found.code == 0, found.stderr
        generated = workspace.cli(
            "generate", "job", "--yes", "--tenant", "acme", "--source", "zendesk", "--no-asset", "--dry-run",
            "--connection", "subdomain=acme", "--connection", f"base_url={api.url}",
            "--connection", 'oauth_token=${secret:zendesk.oauth}', "--table", "tickets",
        )  # fmt: skip
    objects = {o["name"]: o for o in found.json["objects"]}
    assert set(objects) == {"tickets", "users", "organizations", "ticket_comments"}
    assert objects["ticket_comments"]["primary_key"] == ["id"]
    assert generated.code == 0, generated.stdout + generated.stderr
    text = generated.stdout + generated.stderr
    assert "connector: zendesk" in text and "name: tickets" in text and OAUTH_TOKEN not in text
    listed = workspace.cli("plugins", "list")
    assert "zendesk" in listed.stdout


def test_windows_split_tickets_and_users_and_each_chain_stops_at_its_end(
    workspace: Workspace, zendesk_secrets: None
) -> None:
    with ZendeskApi(fault_every=4) as api:
        for i in (3, 50, 77):  # changed now: in the last window, not also in the first
            api.update_ticket(i, status="solved")
        api.update("users", 1010, name="Changed")
        time.sleep(1.2)  # past the export's exclusion window
        job = _job(
            workspace, api, "windowed", extra="tables: [{name: tickets}, {name: users}]",
            options=f", window: 180d, start: {T0}",
        )  # fmt: skip
        runs = _runs(workspace, job)
        windows = -(-(int(time.time()) - T0) // (180 * 86_400))
        for name, count in (("tickets", 120), ("users", 60)):
            # every record exactly once across the windows: none of a window read past its end
            assert runs[name]["rows"] == count and runs[name]["partitions_total"] == windows, name
        _equal(workspace, "tickets", list(api.tickets.values()))
        _equal(workspace, "users", list(api.users.values()))
        starts = {kind: sorted({s for k, s in api.time_exports if k == kind}) for kind in ("tickets", "users")}
        # each window starts its chain at its own start; the first one's chain stops once its
        # records pass the window's end: it never follows the export to the changes made now
        assert starts["tickets"][0] == T0 and starts["users"][0] == T0
        first_end = T0 + 180 * 86_400
        late = [s for s in starts["tickets"] if T0 < s < first_end]
        assert late and max(late) <= T0 + 121 * 600  # the first window's pages, none after its last ticket
        bad = workspace.cli("check", str(_job(workspace, api, "nostart", options=", window: 30d")), "--json")
    assert bad.code == 2 and "set `start` too" in bad.stdout + bad.stderr
