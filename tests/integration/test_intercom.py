"""The `intercom` source against an Intercom API on loopback: contact and conversation search
(`updated_at` filters, `starting_after` pages), conversations with their parts, the companies
scroll, bearer auth, 429s with `X-RateLimit-Reset` and 5xx; read back with pyiceberg."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Workspace
from .loopback_api import Answer, JsonApi, Request

pytestmark = pytest.mark.integration

ACCESS_TOKEN = "dG9rOmI1ZTM0ZjRhXzg0ZjFfNGU2Ml85YWE3XzE="
T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
DAY = 86_400


class IntercomApi(JsonApi):
    """Intercom (API 2.11) as documented:

    - `POST /contacts/search`, `POST /conversations/search`: `query` a filter
      (`{field, operator, value}`) or `{operator: AND|OR, value: [filters]}`, operators `=`, `<`, `>`
      (strict); `pagination: {per_page <= 150, starting_after}`; results ordered, with
      `pages.next.starting_after` while more remain.
    - `GET /conversations/{id}`: the conversation with `conversation_parts.conversation_parts`.
    - `GET /companies/scroll`: a scroll session; every answer carries the session's `scroll_param`
      (the same value each time) until a page comes back empty.
    - Bearer token, else 401 with an `error.list`; 429 carries `X-RateLimit-Reset` (epoch seconds)."""

    def __init__(self, fault_every: int = 0) -> None:
        super().__init__(fault_every)
        self.faults = [(429, {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"}), (500, {})]
        self.contacts = {
            f"c{i:04d}": {
                "type": "contact", "id": f"c{i:04d}", "workspace_id": "ws1", "external_id": None, "role": "user",
                "email": f"person{i}@example.com", "phone": None, "name": f"Person {i}", "owner_id": None,
                "has_hard_bounced": False, "marked_email_as_spam": False, "unsubscribed_from_emails": i % 6 == 0,
                "created_at": T0 + i, "updated_at": T0 + i * 7 * 3600, "signed_up_at": None,
                "last_seen_at": T0 + i * 10, "custom_attributes": {"plan": "free"}, "location": {"city": None},
            }
            for i in range(1, 181)
        }  # fmt: skip
        self.conversations: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, list[dict[str, Any]]] = {}
        for i in range(1, 41):
            cid = str(7000 + i)
            self.conversations[cid] = {
                "type": "conversation", "id": cid, "title": None, "state": "open" if i % 2 else "closed",
                "open": i % 2 == 1, "read": True, "priority": "not_priority", "admin_assignee_id": 42,
                "team_assignee_id": None, "created_at": T0 + i, "updated_at": T0 + i * 9 * 3600,
                "waiting_since": None, "snoozed_until": None, "source": {"type": "conversation", "body": "Hi"},
                "contacts": {"contacts": [{"id": f"c{i:04d}"}]}, "tags": {"tags": []}, "statistics": None,
            }  # fmt: skip
            self.parts[cid] = [self._part(cid, n, T0 + i * 60 + n) for n in range(i % 5)]
        self.companies = {
            f"co{i:03d}": {
                "type": "company", "id": f"co{i:03d}", "company_id": f"ext-{i}", "name": f"Company {i}",
                "plan": {"name": "pro"} if i % 2 else {}, "size": i * 3, "website": None, "industry": "retail",
                "monthly_spend": i * 10.5, "session_count": i, "user_count": i % 9, "created_at": T0,
                "updated_at": T0 + i * 3600, "remote_created_at": None, "last_request_at": None,
                "custom_attributes": {}, "tags": {"tags": []}, "segments": {"segments": []},
            }
            for i in range(1, 38)
        }  # fmt: skip
        self.scrolls: dict[str, int] = {}

    @staticmethod
    def _part(cid: str, n: int, at: int) -> dict[str, Any]:
        return {
            "type": "conversation_part", "id": f"{cid}-p{n}", "part_type": "comment", "body": f"reply {n} ✓",
            "author": {"type": "admin", "id": "42"}, "attachments": [], "assigned_to": None, "external_id": None,
            "redacted": False, "created_at": at, "updated_at": at, "notified_at": at,
        }  # fmt: skip

    def touch(self, kind: str, key: str, **values: Any) -> None:
        with self.lock:
            getattr(self, kind)[key].update(values, updated_at=int(time.time()))

    def add_part(self, cid: str) -> None:
        with self.lock:
            parts = self.parts[cid]
            parts.append(self._part(cid, len(parts), int(time.time())))
        self.touch("conversations", cid)

    def _answer(self, request: Request) -> Answer:
        status, headers, body = super()._answer(request)
        if status == 429:  # the window resets at the current second: wait almost nothing
            headers = {**headers, "X-RateLimit-Reset": str(int(time.time()))}
        return status, headers, body

    def route(self, request: Request) -> Answer:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            error = {"code": "unauthorized", "message": "Access Token Invalid"}
            return 401, {}, {"type": "error.list", "request_id": uuid.uuid4().hex, "errors": [error]}
        if request.method == "POST" and request.path in ("/contacts/search", "/conversations/search"):
            kind = request.path.split("/")[1]
            return self._search(kind, request.body or {})
        if request.method == "GET" and request.path.startswith("/conversations/"):
            cid = request.path.split("/")[2]
            if cid not in self.conversations:
                return (
                    404,
                    {},
                    {"type": "error.list", "errors": [{"code": "not_found", "message": "Resource Not Found"}]},
                )
            parts = self.parts[cid]
            item = {**self.conversations[cid], "conversation_parts": {
                "type": "conversation_part.list", "conversation_parts": parts, "total_count": len(parts)}}  # fmt: skip
            return 200, {}, item
        if request.method == "GET" and request.path == "/companies/scroll":
            return self._scroll(request.query.get("scroll_param"))
        return 404, {}, {"type": "error.list", "errors": [{"code": "not_found", "message": "Resource Not Found"}]}

    @staticmethod
    def _matches(item: dict[str, Any], query: dict[str, Any]) -> bool:
        operator = query.get("operator")
        if operator in ("AND", "OR"):
            results = [IntercomApi._matches(item, q) for q in query["value"]]
            return all(results) if operator == "AND" else any(results)
        value, field = query["value"], item.get(query["field"])
        if operator == "=":
            return bool(field == value)
        if operator == ">":
            return field is not None and field > value
        if operator == "<":
            return field is not None and field < value
        raise ValueError(f"operator {operator}")

    def _search(self, kind: str, body: dict[str, Any]) -> Answer:
        items = sorted(getattr(self, kind).values(), key=lambda o: o["id"])
        items = [o for o in items if self._matches(o, body["query"])]
        pagination = body.get("pagination") or {}
        size = min(int(pagination.get("per_page", 50)), 150)
        start = int(base64.b64decode(pagination["starting_after"]).decode()) if pagination.get("starting_after") else 0
        page = items[start : start + size]
        pages: dict[str, Any] = {"type": "pages", "page": start // size + 1, "per_page": size,
                                 "total_pages": max(1, -(-len(items) // size))}  # fmt: skip
        if start + size < len(items):
            pages["next"] = {
                "page": start // size + 2,
                "starting_after": base64.b64encode(str(start + size).encode()).decode(),
            }
        key = "data" if kind == "contacts" else "conversations"
        listing = "list" if kind == "contacts" else "conversation.list"
        return 200, {}, {"type": listing, key: page, "total_count": len(items), "pages": pages}

    def _scroll(self, param: str | None) -> Answer:
        if param is None:
            param = uuid.uuid4().hex
            self.scrolls[param] = 0
        elif param not in self.scrolls:
            return 404, {}, {"type": "error.list", "errors": [{"code": "not_found", "message": "scroll expired"}]}
        start = self.scrolls[param]
        page = sorted(self.companies.values(), key=lambda o: o["id"])[start : start + 15]
        self.scrolls[param] = start + len(page)
        return 200, {}, {"type": "list", "data": page, "pages": None, "total_count": None, "scroll_param": param}


@pytest.fixture
def intercom_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__INTERCOM_TOKEN", ACCESS_TOKEN)


def _job(ws: Workspace, api: IntercomApi, name: str, extra: str = "", options: str = "") -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          connector: intercom
          connection: {{access_token: "${{secret:intercom_token}}", base_url: "{api.url}"}}
          options: {{page_size: 20, backoff_seconds: 0.01, max_backoff_seconds: 0.02 {options}}}
          {extra}
        target: {{namespace: intercom, table: "{{object}}", mode: merge}}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def _runs(ws: Workspace, job: Path) -> dict[str, dict[str, Any]]:
    result = ws.cli("run", str(job), "--json")
    assert result.code == 0, result.stdout + result.stderr
    return {r["table"].split(".")[1]: r for r in result.json.get("runs", [result.json])}


def _equal(ws: Workspace, table: str, expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = ws.read(f"intercom.{table}", sort_by="id").to_pylist()
    expected = sorted(expected, key=lambda o: o["id"])
    assert [r["id"] for r in rows] == [o["id"] for o in expected], table
    assert [json.loads(r["raw_json"]) for r in rows] == expected, table
    return rows


def test_every_object_loads_exactly_then_only_the_changes(workspace: Workspace, intercom_token: None) -> None:
    with IntercomApi(fault_every=3) as api:
        job = _job(
            workspace,
            api,
            "crm",
            extra="incremental: {cursor_field: updated_at, lookback: 2s}",
            options=f", start: {T0}, window: 180d",
        )
        first = _runs(workspace, job)
        parts = sum(len(p) for p in api.parts.values())
        assert {k: v["rows"] for k, v in first.items()} == {
            "contacts": 180, "conversations": 40, "conversation_parts": parts, "companies": 37
        }  # fmt: skip
        assert first["contacts"]["partitions_total"] > 1  # updated_at windows
        assert api.served[429] and api.served[500]
        contacts = _equal(workspace, "contacts", list(api.contacts.values()))
        assert contacts[0]["updated_at"] == dt.datetime.fromtimestamp(T0 + 7 * 3600, dt.UTC)
        assert json.loads(contacts[0]["custom_attributes"]) == {"plan": "free"}
        _equal(workspace, "conversations", list(api.conversations.values()))
        rows = _equal(workspace, "conversation_parts", [p for ps in api.parts.values() for p in ps])
        assert {r["conversation_id"] for r in rows} == {c for c, ps in api.parts.items() if ps}
        companies = _equal(workspace, "companies", list(api.companies.values()))
        assert [c["monthly_spend"] for c in companies] == [c["monthly_spend"] for c in api.companies.values()]

        time.sleep(1.1)
        for key in ("c0003", "c0100", "c0180"):
            api.touch("contacts", key, name="Changed")
        api.add_part("7004")
        api.touch("conversations", "7010", state="closed", open=False)
        api.touch("companies", "co005", name="Renamed Co")
        api.touch("companies", "co030", size=1)
        time.sleep(1.1)  # the windows end at the plan time, exclusive: a change of that very second waits a run
        api.requests.clear()
        second = _runs(workspace, job)
        assert {k: v["rows"] for k, v in second.items()} == {
            "contacts": 3, "conversations": 2, "conversation_parts": len(api.parts["7004"]) + len(api.parts["7010"]),
            "companies": 2,
        }  # fmt: skip
        bounds = [r.body["query"]["value"][0]["value"] for r in api.requests if r.path == "/contacts/search"]
        assert bounds and min(bounds) > T0 + 30 * DAY  # the search starts at the cursor, not at `start`
        _equal(workspace, "contacts", list(api.contacts.values()))
        _equal(workspace, "conversations", list(api.conversations.values()))
        _equal(workspace, "conversation_parts", [p for ps in api.parts.values() for p in ps])
        _equal(workspace, "companies", list(api.companies.values()))
    for table in ("contacts", "companies"):
        assert len(workspace.table(f"intercom.{table}").snapshots()) == 2


def test_a_wrong_token_fails_fast_and_never_shows(workspace: Workspace, intercom_token: None) -> None:
    with IntercomApi() as api:
        job = _job(workspace, api, "wrong", extra="tables: [{name: contacts}]")
        wrong = "dG9rOldST05HLXRva2VuLTAwMDAx"
        result = workspace.cli("run", str(job), "--json", env={"DATIVO_SECRET__GLOBAL__INTERCOM_TOKEN": wrong})
        assert len(api.requests) == 1 and api.served[401] == 1
    assert result.code == 2
    output = result.stdout + result.stderr
    assert "intercom contacts: POST /contacts/search: HTTP 401 (check the credential): Access Token Invalid" in output
    assert wrong not in output and ACCESS_TOKEN not in output


def test_a_scroll_that_repeats_its_page_stops_with_an_error(workspace: Workspace, intercom_token: None) -> None:
    with IntercomApi() as api:
        api.scrolls = {}
        original = api._scroll

        def stuck(param: str | None) -> Answer:
            status, headers, body = original(param)
            api.scrolls[body["scroll_param"]] = 0  # the session never moves on
            return status, headers, body

        api._scroll = stuck  # type: ignore[method-assign]
        job = _job(workspace, api, "scroll", extra="tables: [{name: companies}]")
        result = workspace.cli("run", str(job), "--json")
        assert api.count("/companies/scroll") == 2
    assert result.code == 2
    assert "intercom companies: GET /companies/scroll: the paginator does not advance" in result.json["error"]
