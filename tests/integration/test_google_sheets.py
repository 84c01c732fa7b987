"""The `google_sheets` source against a loopback Google: the OAuth token endpoint (service-account
JWT assertions verified with the test's public key, scope and audience checked), the Sheets API v4
values endpoint (A1 ranges, ragged rows, UNFORMATTED_VALUE/FORMATTED_STRING rendering), the
spreadsheet's sheet list, Drive's CSV export, injected 429s and 503s, and expired tokens (401
UNAUTHENTICATED). Tables read back with pyiceberg."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..conftest import Workspace

pytestmark = pytest.mark.integration

SHEET_ID = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
CLIENT_EMAIL = "loader@acme-data.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.readonly"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _key_json(server: GoogleServer, key: rsa.RSAPrivateKey = KEY) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-data",
            "private_key_id": "a1b2c3d4",
            "private_key": _pem(key),
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": f"{server.url}/token",
        }
    )


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _col(letters: str) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


class GoogleServer:
    """Google's token endpoint, the Sheets API v4 (values, spreadsheet properties) and Drive's
    export, on loopback. ``faults``: (status, body) answered, in turn, before every
    ``fault_every``-th data request. ``expire_tokens()`` makes every issued token invalid."""

    def __init__(self, sheets: dict[str, list[list[Any]]], files: dict[str, str] | None = None,
                 fault_every: int = 0) -> None:  # fmt: skip
        self.sheets = sheets
        self.files = files or {}
        self.fault_every = fault_every
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}  # token -> scope
        self.token_requests: list[dict[str, Any]] = []
        self.served: Counter[str] = Counter()
        self.data_requests = 0
        self.queries: list[dict[str, str]] = []
        self.drive_limits: list[str] = []  # reasons of 403 usage limits Drive answers first, in turn
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data = server.respond(method, self.path, self.headers.get("Authorization", ""), body)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json; charset=UTF-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> GoogleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    @staticmethod
    def _error(status: int, message: str, kind: str) -> tuple[int, dict[str, str], bytes]:
        return status, {}, json.dumps({"error": {"code": status, "message": message, "status": kind}}).encode()

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        refused = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
        try:
            head_b64, claims_b64, sig_b64 = form["assertion"].split(".")
            header, claims = json.loads(_b64decode(head_b64)), json.loads(_b64decode(claims_b64))
            KEY.public_key().verify(_b64decode(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(),
                                    hashes.SHA256())  # fmt: skip
        except Exception:
            return 400, {}, refused
        self.token_requests.append(claims)
        now = time.time()
        if (
            form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or header.get("alg") != "RS256"
            or header.get("kid") != "a1b2c3d4" or claims.get("iss") != CLIENT_EMAIL
            or claims.get("aud") != f"{self.url}/token" or claims.get("scope") not in (SHEETS_SCOPE, DRIVE_SCOPE)
            or not claims["iat"] - 60 <= now < claims["exp"] <= claims["iat"] + 3600
        ):  # fmt: skip
            return 400, {}, json.dumps({"error": "invalid_grant", "error_description": "Invalid claims"}).encode()
        token = "ya29." + uuid.uuid4().hex
        self.tokens[token] = claims["scope"]
        return 200, {}, json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).encode()

    def respond(self, method: str, raw: str, auth: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = urlparse(raw)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.lock:
            if url.path == "/token" and method == "POST":
                status, headers, data = self._token({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                self.served[f"token {status}"] += 1
                return status, headers, data
            scope = self.tokens.get(auth.removeprefix("Bearer "))
            if scope is None:
                self.served["401"] += 1
                return self._error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
            self.data_requests += 1
            if self.fault_every and self.data_requests % self.fault_every == 0:
                self.data_requests += 1
                if (self.data_requests // self.fault_every) % 2:
                    self.served["429"] += 1  # Google sends no Retry-After: the client backs off
                    return self._error(429, "Quota exceeded for quota metric 'Read requests'", "RESOURCE_EXHAUSTED")
                self.served["503"] += 1
                return self._error(503, "The service is currently unavailable.", "UNAVAILABLE")
            self.queries.append({"path": unquote(url.path), **query})
            if m := re.fullmatch(r"/drive/v3/files/([\w-]+)/export", url.path):
                if self.drive_limits:  # Drive's quotas: 403 with a usageLimits reason, no Retry-After
                    reason = self.drive_limits.pop(0)
                    self.served[f"403 {reason}"] += 1
                    error = {"code": 403, "message": "Rate Limit Exceeded", "errors": [
                        {"domain": "usageLimits", "reason": reason, "message": "Rate Limit Exceeded"}]}  # fmt: skip
                    return 403, {}, json.dumps({"error": error}).encode()
                if scope != DRIVE_SCOPE:
                    return self._error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
                if m.group(1) not in self.files:
                    return self._error(404, f"File not found: {m.group(1)}.", "NOT_FOUND")
                assert query.get("mimeType") == "text/csv"
                self.served["export"] += 1
                return 200, {"Content-Type": "text/csv"}, self.files[m.group(1)].encode()
            if scope != SHEETS_SCOPE:
                return self._error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
            if url.path == f"/v4/spreadsheets/{SHEET_ID}" and query.get("fields") == "sheets.properties":
                sheets = [
                    {"properties": {"sheetId": i, "title": title, "index": i, "sheetType": "GRID",
                                    "gridProperties": {"rowCount": max(len(rows), 1000), "columnCount": 26}}}
                    for i, (title, rows) in enumerate(self.sheets.items())
                ]  # fmt: skip
                return 200, {}, json.dumps({"sheets": sheets}).encode()
            if m := re.fullmatch(rf"/v4/spreadsheets/{SHEET_ID}/values/(.+)", url.path):
                assert query.get("valueRenderOption") == "UNFORMATTED_VALUE", query
                assert query.get("dateTimeRenderOption") == "FORMATTED_STRING", query
                self.served["values"] += 1
                return self._values(unquote(m.group(1)))
            return self._error(404, "Requested entity was not found.", "NOT_FOUND")

    def _values(self, rng: str) -> tuple[int, dict[str, str], bytes]:
        sheet, _, cells = rng.partition("!")
        sheet = sheet.strip("'")
        if sheet not in self.sheets:
            return self._error(400, f"Unable to parse range: {rng}", "INVALID_ARGUMENT")
        rows = [list(r) for r in self.sheets[sheet]]
        if cells:
            m = re.fullmatch(r"([A-Z]+)(\d+)?:([A-Z]+)(\d+)?", cells)
            assert m, cells
            c0, r0, c1, r1 = _col(m.group(1)), int(m.group(2) or 1), _col(m.group(3)), m.group(4)
            rows = rows[r0 - 1 : int(r1) if r1 else None]
            rows = [r[c0 - 1 : c1] for r in rows]
        for row in rows:  # the API leaves out trailing empty cells, then trailing empty rows
            while row and row[-1] in ("", None):
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        body: dict[str, Any] = {"range": f"{sheet}!A1:Z{len(rows)}", "majorDimension": "ROWS"}
        if rows:
            body["values"] = rows
        return 200, {}, json.dumps(body).encode()


HEADER = ["id", "name", "qty", "price", "active", "joined", "updated", "zip", "note", "mixed", "", "empty", "id"]


def make_orders(count: int) -> list[list[Any]]:
    rows: list[list[Any]] = [list(HEADER)]
    for i in range(count):
        row: list[Any] = [
            i + 1,
            f'Kunde {i} — Zoë, "quoted"' if i % 3 else f"multi\nline {i}",
            "" if i % 10 == 0 else i * 7,
            [1.5, 2.25, 1e-7, 123456.789, 0.1 + 0.2][i % 5] if i % 11 else 4,
            i % 2 == 0,
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:05",
            f"{i:05d}",
            "" if i % 4 else f"note {i}",
            [1, "two", 3.5, True][i % 4],
            "x" if i % 5 == 0 else "",
            "",
            f"dup{i}",
        ]
        rows.append(row)
    if len(rows) > 5:
        rows[5] = rows[5][:4]  # ragged: the API leaves the rest of the row out
    return rows


def _expected_orders(rows: list[list[Any]]) -> list[dict[str, Any]]:
    names = [*HEADER[:10], "column_11", "empty", "id_2"]
    out = []
    for row in rows[1:]:
        cells = [*row, *[""] * (len(names) - len(row))]
        record = dict(zip(names, [None if c == "" else c for c in cells], strict=True))
        record["joined"] = record["joined"] and dt.date.fromisoformat(record["joined"])
        record["updated"] = record["updated"] and dt.datetime.fromisoformat(record["updated"])
        mixed = record["mixed"]
        record["mixed"] = None if mixed is None else ("true" if mixed is True else str(mixed))
        record["price"] = None if record["price"] is None else float(record["price"])
        out.append(record)
    return out


def _job(ws: Workspace, server: GoogleServer, tables: str, options: str = "", *, extra: str = "",
         target: str = 'table: "{object}"', name: str = "sheets") -> Path:  # fmt: skip
    text = f"""
        tenant_id: acme
        name: {name}
        source:
          connector: google_sheets
          connection:
            service_account_key: "${{secret:gsa_key}}"
            {"spreadsheet_id: " + SHEET_ID if "drive: true" not in options else ""}
            sheets_url: "{server.url}"
            drive_url: "{server.url}"
          tables: [{tables}]
          options: {{backoff_seconds: 0.01, max_backoff_seconds: 0.05, {options}}}
        {extra}
        target: {{namespace: gs, {target}}}
        retry: {{max_attempts: 1}}
        """
    return ws.job(f"{name}.yaml", text)


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_for(server: GoogleServer, key: rsa.RSAPrivateKey = KEY) -> str:
        text = _key_json(server, key)
        monkeypatch.setenv("DATIVO_SECRET__GLOBAL__GSA_KEY", text)
        return text

    return set_for


def test_sheet_loads_typed_and_exact_through_429s_and_503s(workspace: Workspace, key_env: Any) -> None:
    orders = make_orders(120)
    with GoogleServer({"Orders": orders, "Other": [["a"], [1]]}, fault_every=3) as server:
        key_env(server)
        job = _job(workspace, server, "{name: Orders, object: orders}, {name: 'Other!A1:A', object: other}")
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["429"] >= 1 and server.served["503"] >= 1
        assert all(c["scope"] == SHEETS_SCOPE for c in server.token_requests)
    table = workspace.table("gs.orders")
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert types == {
        "id": "long", "name": "string", "qty": "long", "price": "double", "active": "boolean", "joined": "date",
        "updated": "timestamp", "zip": "string", "note": "string", "mixed": "string", "column_11": "string",
        "empty": "string", "id_2": "string",
    }  # fmt: skip
    got = workspace.read("gs.orders", sort_by="id").to_pylist()
    assert got == _expected_orders(orders)
    assert workspace.read("gs.other").to_pylist() == [{"a": 1}]


def test_an_assets_types_win_over_inferred_ones(workspace: Workspace, key_env: Any) -> None:
    rows = [["sku", "price", "qty"], ["00123", 1.1, 3], [42, 19.99, 4], ["A-7", 0.3, ""]]
    with GoogleServer({"Prices": rows}) as server:
        key_env(server)
        workspace.write(
            "prices.yaml",
            """
            apiVersion: v3.0.2
            kind: DataContract
            id: prices
            name: prices
            version: 1.0.0
            status: active
            schema:
              - name: prices
                properties:
                  - {name: sku, logicalType: string, primaryKey: true}
                  - {name: price, physicalType: "decimal(10,2)"}
                  - {name: qty, physicalType: int}
            """,
        )
        job = _job(workspace, server, "{name: Prices, object: prices}",
                   extra="asset_path: prices.yaml")  # fmt: skip
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    got = workspace.read("gs.prices", sort_by="sku").to_pylist()
    assert got == [
        {"sku": "00123", "price": Decimal("1.10"), "qty": 3},
        {"sku": "42", "price": Decimal("19.99"), "qty": 4},
        {"sku": "A-7", "price": Decimal("0.30"), "qty": None},
    ]


def test_merge_on_a_key_keeps_the_table_equal_to_the_sheet(workspace: Workspace, key_env: Any) -> None:
    rows = [["id", "name", "score"], *[[i, f"n{i}", i * 1.5] for i in range(1, 21)]]
    with GoogleServer({"People": rows}) as server:
        key_env(server)
        job = _job(workspace, server, "{name: People, object: people}",
                   target="table: people, mode: merge, merge_key: [id]")  # fmt: skip
        assert workspace.cli("run", str(job), "--json").code == 0
        rows[3] = [3, "changed", 99.5]
        rows.append([21, "new", 0.25])
        server.expire_tokens()  # the cached token is refused once: a new assertion is signed
        tokens = len(server.token_requests)
        second = workspace.cli("run", str(job), "--json")
        assert second.code == 0, second.stdout + second.stderr
        assert server.served["401"] >= 1 and len(server.token_requests) > tokens
    got = workspace.read("gs.people", sort_by="id").to_pylist()
    assert got == [{"id": r[0], "name": r[1], "score": float(r[2])} for r in rows[1:]]
    assert len(workspace.table("gs.people").snapshots()) == 2


def test_drive_file_exported_as_csv(workspace: Workspace, key_env: Any) -> None:
    text = (
        "code,amount,ratio,flag,day,at,big,precise,label\n"
        '007,12,0.5,TRUE,2024-02-29,2024-02-29 23:59:59,12345678901234567890,0.12345678901234567,"a, ""b"""\n'
        "010,-3,1e3,false,2024-03-01,2024-03-01T00:00:00,1,1.5,\n"
        ',,,,,,,,"multi\nline"\n'
    )
    with GoogleServer({}, files={"1AbCdEfDriveFileId": text}, fault_every=3) as server:
        key_env(server)
        job = _job(workspace, server, "{name: 1AbCdEfDriveFileId, object: budget}", "drive: true")
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["export"] == 1 or server.served["export"] == 2
        assert all(c["scope"] == DRIVE_SCOPE for c in server.token_requests)
    types = {f.name: str(f.field_type) for f in workspace.table("gs.budget").schema().fields}
    assert types == {
        "code": "string", "amount": "long", "ratio": "double", "flag": "boolean", "day": "date",
        "at": "timestamp", "big": "string", "precise": "string", "label": "string",
    }  # fmt: skip
    got = workspace.read("gs.budget").to_pylist()
    assert sorted(got, key=lambda r: str(r["code"])) == sorted(
        [
            {"code": "007", "amount": 12, "ratio": 0.5, "flag": True, "day": dt.date(2024, 2, 29),
             "at": dt.datetime(2024, 2, 29, 23, 59, 59), "big": "12345678901234567890",
             "precise": "0.12345678901234567", "label": 'a, "b"'},
            {"code": "010", "amount": -3, "ratio": 1000.0, "flag": False, "day": dt.date(2024, 3, 1),
             "at": dt.datetime(2024, 3, 1), "big": "1", "precise": "1.5", "label": None},
            {"code": None, "amount": None, "ratio": None, "flag": None, "day": None, "at": None, "big": None,
             "precise": None, "label": "multi\nline"},
        ],
        key=lambda r: str(r["code"]),
    )  # fmt: skip


def test_drive_usage_limit_403s_back_off_and_a_daily_limit_fails_as_transient(
    workspace: Workspace, key_env: Any
) -> None:
    with GoogleServer({}, files={"1AbCdEfDriveFileId": "code,amount\n1,2\n3,4\n"}) as server:
        key_env(server)
        job = _job(workspace, server, "{name: 1AbCdEfDriveFileId, object: budget}", "drive: true")
        server.drive_limits = ["userRateLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded"]
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["403 userRateLimitExceeded"] == 2 and server.served["403 rateLimitExceeded"] == 1
        tokens = len(server.token_requests)  # a usage limit asks for no new token
        server.drive_limits = ["dailyLimitExceeded"] * 5
        daily = workspace.cli("run", str(job), "--json")
        assert server.served["403 dailyLimitExceeded"] == 1 and len(server.token_requests) == tokens  # no loop
    assert workspace.read("gs.budget").num_rows == 2
    output = daily.stdout + daily.stderr
    assert daily.code == 2 and "the API's request limit is exhausted (dailyLimitExceeded" in output
    assert "check the credential" not in output


def test_wrong_key_fails_fast_without_showing_it(workspace: Workspace, key_env: Any) -> None:
    with GoogleServer({"Orders": make_orders(3)}) as server:
        wrong = key_env(server, OTHER_KEY)
        job = _job(workspace, server, "{name: Orders, object: orders}")
        result = workspace.cli("run", str(job), "--json")
        assert server.served["token 400"] == 1 and server.data_requests == 0  # refused once, not retried
    assert result.code == 2
    output = result.stdout + result.stderr
    assert "POST /token" in output and "Invalid JWT Signature" in output
    pem_lines = json.loads(wrong)["private_key"].splitlines()[1:-1]
    assert not any(line in output for line in pem_lines)


def test_discover_lists_the_sheets_and_a_bad_range_is_named(workspace: Workspace, key_env: Any) -> None:
    with GoogleServer({"Orders": make_orders(3), "Q2 Plan": [["a"]]}) as server:
        key_env(server)
        job = _job(workspace, server, "{name: Orders, object: orders}")
        found = workspace.cli("discover", str(job), "--json")
        assert found.code == 0, found.stdout + found.stderr
        bad = _job(workspace, server, "{name: Nope, object: nope}", name="bad")
        run = workspace.cli("run", str(bad), "--json")
        server.sheets["Empty"] = []
        empty = workspace.cli("run", str(_job(workspace, server, "{name: Empty, object: e}", name="e")), "--json")
    assert [o["name"] for o in found.json["objects"]] == ["Orders", "Q2 Plan"]
    assert empty.code == 2 and "google_sheets Empty: the range is empty" in empty.stdout + empty.stderr
    assert run.code == 2 and "Unable to parse range: Nope" in run.stdout + run.stderr


def test_header_row_and_a_range(workspace: Workspace, key_env: Any) -> None:
    rows = [["Quarterly report"], [], ["region", "q1", "q2"], ["EMEA", 10, 12.5], ["APAC", 7, 8]]
    with GoogleServer({"Report": rows}) as server:
        key_env(server)
        job = _job(workspace, server, "{name: 'Report!A3:B', object: report}", "header_row: 1")
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        job2 = _job(workspace, server, "{name: Report, object: report2}", "header_row: 3",
                    name="second")  # fmt: skip
        assert workspace.cli("run", str(job2), "--json").code == 0
    assert workspace.read("gs.report", sort_by="region").to_pylist() == [
        {"region": "APAC", "q1": 7}, {"region": "EMEA", "q1": 10}
    ]  # fmt: skip
    assert workspace.read("gs.report2", sort_by="region").to_pylist() == [
        {"region": "APAC", "q1": 7, "q2": 8.0}, {"region": "EMEA", "q1": 10, "q2": 12.5}
    ]  # fmt: skip


def test_plugins_list_and_generate_job_then_run_it(workspace: Workspace, key_env: Any) -> None:
    listed = workspace.cli("plugins", "list", "--json")
    assert listed.code == 0 and any(p["name"] == "google_sheets" and p["kind"] == "reader" for p in listed.json)
    rows = [["id", "city"], [1, "Zürich"], [2, "Kraków"]]
    with GoogleServer({"Cities": rows}) as server:
        key_env(server)
        generated = workspace.cli(
            "generate", "job", "--yes", "--tenant", "acme", "--source", "google_sheets", "--table", "Cities",
            "--connection", "service_account_key=${secret:gsa_key}", "--connection", f"sheets_url={server.url}",
            "--connection", f"spreadsheet_id={SHEET_ID}", "--namespace", "gs",
        )  # fmt: skip
        assert generated.code == 0, generated.stdout + generated.stderr
        job = workspace.root / "jobs" / "acme" / "cities.yaml"
        assert "${secret:gsa_key}" in job.read_text() and "PRIVATE KEY" not in job.read_text()
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    assert workspace.read("gs.cities", sort_by="id").to_pylist() == [
        {"id": 1, "city": "Zürich"},
        {"id": 2, "city": "Kraków"},
    ]


def test_a_value_that_does_not_fit_the_asset_is_a_bad_row(workspace: Workspace, key_env: Any) -> None:
    rows = [["sku", "qty"], ["a", 1], ["b", "n/a"], ["c", 3]]
    with GoogleServer({"Stock": rows}) as server:
        key_env(server)
        workspace.write(
            "stock.yaml",
            """
            apiVersion: v3.0.2
            kind: DataContract
            id: stock
            name: stock
            version: 1.0.0
            status: active
            schema:
              - name: stock
                properties:
                  - {name: sku, logicalType: string}
                  - {name: qty, physicalType: bigint}
            """,
        )
        job = _job(workspace, server, "{name: Stock, object: stock}",
                   extra="asset_path: stock.yaml\n        bad_rows: {action: quarantine, max: 5}")  # fmt: skip
        result = workspace.cli("run", str(job), "--json")
    assert result.json["state"] == "committed" and result.code == 1  # committed, with rows quarantined
    assert result.json["rows"] == 2 and result.json["bad_rows"] == 1 and result.json["quarantine_files"]
    assert workspace.read("gs.stock", sort_by="sku").to_pylist() == [{"sku": "a", "qty": 1}, {"sku": "c", "qty": 3}]


def test_passes_the_plugin_conformance_kit(tmp_path: Path) -> None:
    from dativo_workers.certify import FAIL, SKIPPED, certify, load_subject

    with GoogleServer({"Orders": make_orders(50)}) as server:
        config = tmp_path / "google_sheets.yaml"
        urls = f'sheets_url: "{server.url}", drive_url: "{server.url}", spreadsheet_id: {SHEET_ID}'
        config.write_text(
            f"""
source:
  connection: {{service_account_key: "${{secret:gsa_key}}", {urls}}}
  tables: [{{name: Orders}}]
  options: {{backoff_seconds: 0.01}}
secrets: {{gsa_key: {json.dumps(_key_json(server))}, gsa_other: {json.dumps(_key_json(server, OTHER_KEY))}}}
certify:
  error_source:  # a key Google refuses: the error must name the plugin, never the key
    connection: {{service_account_key: "${{secret:gsa_other}}", {urls}}}
    tables: [{{name: Orders}}]
""",
            encoding="utf-8",
        )
        report = certify(load_subject("google_sheets", config, None))
    statuses = {c.id: (c.status, c.detail) for c in report.checks}
    assert not {k: v for k, v in statuses.items() if v[0] == FAIL}, statuses
    assert not {k for k, (s, _) in statuses.items() if s == SKIPPED}, statuses
    assert report.figures["rows"] == 50
    assert "plugin google_sheets" in statuses["errors"][1] and "Invalid JWT Signature" in statuses["errors"][1]


def test_the_documented_job_runs(workspace: Workspace, key_env: Any) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "saas.md").read_text()
    text = docs.split("## Google Sheets", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    budget = [["item", "amount"], ["rent", 1200], ["coffee", 42.5]]
    plan = [
        ["Plan 2025"],
        [],
        ["quarter", "target", "owner", "", "", "note"],
        ["Q1", 10, "ana"],
        ["Q2", 12, "bo", "", "", "x"],
    ]
    with GoogleServer({"Budget": budget, "Plan": plan}) as server:
        key_env(server)
        text = text.replace("    spreadsheet_id:", f'    sheets_url: "{server.url}"\n    spreadsheet_id:')
        text = text.replace("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", SHEET_ID)
        job = workspace.write("sheets_budget.yaml", text)
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    assert workspace.read("finance.budget", sort_by="item").to_pylist() == [
        {"item": "coffee", "amount": 42.5}, {"item": "rent", "amount": 1200.0}
    ]  # fmt: skip
    assert workspace.read("finance.plan", sort_by="quarter").column("note").to_pylist() == [None, "x"]


def test_a_fleet_wide_rate_limit_paces_through_redis(workspace: Workspace, key_env: Any) -> None:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    key = f"test-sheets-{uuid.uuid4().hex}"
    try:
        with GoogleServer({"Orders": make_orders(5)}) as server:
            key_env(server)
            limit = f'rate_limit: {{requests_per_second: 50, redis_url: "redis://127.0.0.1:6379/0", key: {key}}}'
            job = _job(workspace, server, "{name: Orders, object: orders}", limit)
            result = workspace.cli("run", str(job), "--json")
            assert result.code == 0, result.stdout + result.stderr
        assert client.exists(f"dativo:ratelimit:{key}")  # every request took its token from the shared bucket
    finally:
        client.delete(f"dativo:ratelimit:{key}")
        client.close()
