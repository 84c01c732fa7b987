"""The `salesforce` source against a loopback Salesforce: the OAuth token endpoint (JWT bearer
flow, its assertion verified with the test's public key; refresh token flow), `describe`, the
sObject list, REST query/queryAll with `nextRecordsUrl` pages, Bulk API 2.0 query jobs with CSV
result pages and `Sforce-Locator`, injected 429s and 503s, and expired sessions
(401 INVALID_SESSION_ID). Tables read back with pyiceberg."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..conftest import Workspace

pytestmark = pytest.mark.integration

CLIENT_ID = "3MVG9consumerKeyOfTheConnectedApp"
USERNAME = "integration@acme.example"
REFRESH_TOKEN = "5Aep861refreshTOKENvalue_KeepItSecret_0042"
API = "/services/data/v62.0"
UTC = dt.UTC


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not the app's certificate


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- the objects -----------------------------------------------------------------------------

# (name, type, precision, scale): what `describe` says about each field
ACCOUNT_FIELDS = [
    ("Id", "id", 0, 0), ("IsDeleted", "boolean", 0, 0), ("Name", "string", 0, 0), ("Type", "picklist", 0, 0),
    ("BillingStreet", "textarea", 0, 0), ("BillingCity", "string", 0, 0),
    ("BillingLatitude", "double", 18, 15), ("BillingAddress", "address", 0, 0), ("Phone", "phone", 0, 0),
    ("Website", "url", 0, 0), ("AnnualRevenue", "currency", 18, 0), ("NumberOfEmployees", "int", 8, 0),
    ("Email__c", "email", 0, 0), ("Share__c", "percent", 5, 2), ("Founded__c", "date", 0, 0),
    ("Opens__c", "time", 0, 0), ("Logo__c", "base64", 0, 0), ("CreatedDate", "datetime", 0, 0),
    ("SystemModstamp", "datetime", 0, 0),
]  # fmt: skip
OPPORTUNITY_FIELDS = [
    ("Id", "id", 0, 0), ("IsDeleted", "boolean", 0, 0), ("Name", "string", 0, 0), ("AccountId", "reference", 0, 0),
    ("Amount", "currency", 18, 2), ("Probability", "percent", 3, 0), ("CloseDate", "date", 0, 0),
    ("StageName", "picklist", 0, 0), ("IsWon", "boolean", 0, 0), ("TotalOpportunityQuantity", "double", 18, 2),
    ("Description", "textarea", 0, 0), ("SystemModstamp", "datetime", 0, 0),
]  # fmt: skip
CONTACT_FIELDS = [
    ("Id", "id", 0, 0), ("IsDeleted", "boolean", 0, 0), ("LastName", "string", 0, 0), ("Email", "email", 0, 0),
    ("AccountId", "reference", 0, 0), ("SystemModstamp", "datetime", 0, 0),
]  # fmt: skip
FIELDS = {"Account": ACCOUNT_FIELDS, "Opportunity": OPPORTUNITY_FIELDS, "Contact": CONTACT_FIELDS}
SKIPPED = {"BillingAddress", "Logo__c"}  # compound and base64: not loaded


def _stamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(round(seconds, 3), UTC)


def make_accounts(count: int, start: float, span: float, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        stamp = _stamp(start + rng.uniform(0, span))
        rows.append(
            {
                "Id": f"001{seed:02d}{i:010d}AAA", "IsDeleted": False, "Name": f"Account {i} — ünïcödé",
                "Type": rng.choice(["Customer", "Partner", None]),
                "BillingStreet": None if i % 7 == 0 else f'{i} Main St\nSuite "{i % 9}", Floor 2',
                "BillingCity": rng.choice(["Zürich", "São Paulo", "Kraków", "Austin"]),
                "BillingLatitude": Decimal(rng.randrange(-90 * 10**7, 90 * 10**7)) / 10**7,
                "Phone": f"+1 415 555 {i:04d}", "Website": f"https://acme{i}.example.com",
                "AnnualRevenue": Decimal(rng.randrange(0, 10**17)) if i % 5 else Decimal(999999999999999999),
                "NumberOfEmployees": rng.randrange(0, 10**8) if i % 6 else None,
                "Email__c": f"owner{i}@acme{i}.example.com", "Share__c": Decimal(rng.randrange(0, 10**5)) / 100,
                "Founded__c": dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(45000)),
                "Opens__c": dt.time(rng.randrange(24), rng.randrange(60), 0, rng.randrange(1000) * 1000),
                "Logo__c": f"{API}/sobjects/Account/x/Logo__c",
                "CreatedDate": stamp - dt.timedelta(days=400), "SystemModstamp": stamp,
            }
        )  # fmt: skip
    return rows


def make_opportunities(count: int, start: float, span: float, seed: int = 2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        rows.append(
            {
                "Id": f"006{seed:02d}{i:010d}AAA", "IsDeleted": False, "Name": f"Deal {i}, \"big\" one",
                "AccountId": f"00101{i % 50:010d}AAA",
                "Amount": Decimal(rng.randrange(-10**6, 10**18)) / 100 if i % 9 else Decimal("9999999999999999.99"),
                "Probability": Decimal(rng.randrange(0, 101)), "CloseDate": dt.date(2026, 1, 1) + dt.timedelta(i),
                "StageName": rng.choice(["Prospecting", "Closed Won", "Closed Lost"]), "IsWon": i % 3 == 0,
                "TotalOpportunityQuantity": None if i % 4 == 0 else Decimal(rng.randrange(0, 10**6)) / 100,
                "Description": None if i % 2 else f"line one\nline two, with a comma; row {i}",
                "SystemModstamp": _stamp(start + rng.uniform(0, span)),
            }
        )  # fmt: skip
    return rows


def _compare(value: dt.datetime, op: str, bound: dt.datetime) -> bool:
    return {">=": value >= bound, "<": value < bound, ">": value > bound, "<=": value <= bound, "=": value == bound}[op]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(_json_value(value))


def _dumps(body: Any) -> bytes:
    """JSON with decimals as JSON numbers, digit for digit (as Salesforce renders them)."""
    text = json.dumps(body, default=lambda v: f"@@DEC{v}@@" if isinstance(v, Decimal) else _json_value(v))
    return re.sub(r'"@@DEC([-0-9.E+]+)@@"', r"\1", text).encode()


# -- the server ------------------------------------------------------------------------------


class SalesforceServer:
    """Salesforce's OAuth token endpoint, REST and Bulk API 2.0 for a few objects, on loopback.

    Every ``fault_every``-th resource request is preceded by a 429 (Retry-After: 0) and a 503.
    ``expire_sessions()`` makes every issued access token invalid (401 INVALID_SESSION_ID)."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], fault_every: int = 0) -> None:
        self.objects = objects
        self.fault_every = fault_every
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.served: Counter[str] = Counter()
        self.soql: list[tuple[str, str]] = []  # (endpoint, query) of every query
        self.cursors: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.resource_requests = 0
        self.scripted: list[tuple[int, dict[str, str], bytes]] = []  # served first, in order
        self.fail_pages: tuple[str, int] | None = None  # (text in the SOQL, times): its 2nd page fails
        self.repeat_cursor = False  # every page names itself as the next (a paginator that does not advance)
        self.failing_jobs: str | None = None  # every Bulk job ends `Failed` with this errorMessage
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data = server.respond(method, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> SalesforceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def expire_sessions(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- OAuth ---------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.token_requests.append(form)
        refused = {"error": "invalid_grant", "error_description": "invalid assertion"}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                header_b64, claims_b64, signature_b64 = form["assertion"].split(".")
                header, claims = json.loads(_b64decode(header_b64)), json.loads(_b64decode(claims_b64))
                KEY.public_key().verify(
                    _b64decode(signature_b64),
                    f"{header_b64}.{claims_b64}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except Exception:
                return 400, {"Content-Type": "application/json"}, _dumps(refused)
            now = time.time()
            if (
                header.get("alg") != "RS256" or claims.get("iss") != CLIENT_ID or claims.get("sub") != USERNAME
                or claims.get("aud") != self.url or not now < claims.get("exp", 0) <= now + 300
            ):  # fmt: skip
                return 400, {"Content-Type": "application/json"}, _dumps(refused)
        elif grant == "refresh_token":
            if form.get("client_id") != CLIENT_ID or form.get("refresh_token") != REFRESH_TOKEN:
                # worse than Salesforce: the refused token is echoed, so the client must mask it
                given = form.get("refresh_token")
                body = {"error": "invalid_grant", "error_description": f"expired access/refresh token {given}"}
                return 400, {"Content-Type": "application/json"}, _dumps(body)
        else:
            return 400, {"Content-Type": "application/json"}, _dumps({"error": "unsupported_grant_type"})
        token = f"00Dxx0000001gPL!AR{uuid.uuid4().hex}"
        self.tokens.add(token)
        body = {"access_token": token, "instance_url": self.url, "id": f"{self.url}/id/00D/005",
                "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)), "signature": "c2ln"}  # fmt: skip
        return 200, {"Content-Type": "application/json"}, _dumps(body)

    # -- requests ------------------------------------------------------------------------

    def respond(self, method: str, raw: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = urlparse(raw)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.lock:
            if url.path == "/services/oauth2/token" and method == "POST":
                form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                status, out_headers, data = self._token(form)
                self.served[f"token {status}"] += 1
                return status, out_headers, data
            auth = headers.get("Authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                self.served["401"] += 1
                error = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
                return 401, {"Content-Type": "application/json"}, _dumps(error)
            self.resource_requests += 1
            if self.scripted:
                status, out, data = self.scripted.pop(0)
                self.served[str(status)] += 1
                return status, out, data
            if self.fault_every and self.resource_requests % self.fault_every == 0:
                self.resource_requests += 1  # the retry of this request counts as the next one
                kind = "429" if (self.resource_requests // self.fault_every) % 2 else "503"
                self.served[kind] += 1
                if kind == "429":
                    return (
                        429,
                        {"Retry-After": "0"},
                        _dumps([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "slow"}]),
                    )
                return 503, {}, b"Service Unavailable"
            self.served[f"{method} ok"] += 1
            path = url.path.removeprefix(API)
            if method == "GET" and path == "/sobjects":
                items = [{"name": n, "label": n, "queryable": True, "custom": False} for n in FIELDS]
                items.append({"name": "AccountHistory", "label": "History", "queryable": False, "custom": False})
                return self._json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": items})
            if m := re.fullmatch(r"/sobjects/(\w+)/describe", path):
                return self._describe(m.group(1))
            if path == "/limits/recordCount":
                names = query.get("sObjects", "").split(",")
                return self._json({"sObjects": [{"name": n, "count": len(self.objects.get(n, []))} for n in names]})
            if path in ("/query", "/queryAll") and method == "GET":
                return self._query(path, query["q"], headers)
            if m := re.fullmatch(r"/query/(\w+)-(\d+)", path):
                return self._page(m.group(1), int(m.group(2)))
            if path == "/jobs/query" and method == "POST":
                return self._create_job(json.loads(body))
            if m := re.fullmatch(r"/jobs/query/(\w+)", path):
                return self._job(m.group(1), method)
            if m := re.fullmatch(r"/jobs/query/(\w+)/results", path):
                return self._results(m.group(1), query)
            return (
                404,
                {"Content-Type": "application/json"},
                _dumps([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
            )

    def _json(self, body: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json;charset=UTF-8"}, _dumps(body)

    def _describe(self, name: str) -> tuple[int, dict[str, str], bytes]:
        if name not in FIELDS:
            return self._json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
        fields = [
            {"name": n, "type": t, "precision": p, "scale": s, "label": n, "nillable": n != "Id",
             **({"compoundFieldName": "BillingAddress"} if n.startswith("Billing") and t != "address" else {})}
            for n, t, p, s in FIELDS[name]
        ]  # fmt: skip
        return self._json({"name": name, "queryable": True, "fields": fields})

    def _select(self, soql: str, all_rows: bool) -> tuple[list[str], list[dict[str, Any]]]:
        m = re.fullmatch(
            r"SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?"
            r"(?: ORDER BY (?P<order>\w+) ASC)?(?: LIMIT (?P<limit>\d+))?",
            soql.strip(),
        )
        assert m, soql
        fields = [f.strip() for f in m.group("fields").split(",")]
        known = {n for n, *_ in FIELDS[m.group("obj")]}
        assert set(fields) <= known - SKIPPED, fields  # compound and base64 fields cannot be queried in bulk
        rows = [r for r in self.objects[m.group("obj")] if all_rows or not r["IsDeleted"]]
        for cond in (m.group("where") or "").split(" AND ") if m.group("where") else []:
            field, op, literal = re.fullmatch(r"(\w+) (>=|<|>|<=|=) (\S+)", cond).groups()  # type: ignore[union-attr]
            bound = dt.datetime.strptime(literal, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            rows = [r for r in rows if _compare(r[field], op, bound)]
        if m.group("order"):
            rows = sorted(rows, key=lambda r: r[m.group("order")])
        if m.group("limit"):
            rows = rows[: int(m.group("limit"))]
        return fields, rows

    def _query(self, endpoint: str, soql: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.soql.append((endpoint, soql))
        fields, rows = self._select(soql, endpoint == "/queryAll")
        options = headers.get("Sforce-Query-Options", "")
        size = max(200, int(m.group(1))) if (m := re.search(r"batchSize=(\d+)", options)) else 2000
        records = [
            {"attributes": {"type": "x", "url": f"{API}/sobjects/x/{r['Id']}"}, **{f: r[f] for f in fields}}
            for r in rows
        ]
        cursor = "01g" + uuid.uuid4().hex[:15]
        pages = [records[i : i + size] for i in range(0, len(records), size)] or [[]]
        self.cursors[cursor] = (pages, [soql])
        return self._page(cursor, 0)

    def _page(self, cursor: str, index: int) -> tuple[int, dict[str, str], bytes]:
        pages, (soql,) = self.cursors[cursor]
        if self.fail_pages and index == 1 and self.fail_pages[0] in soql and self.fail_pages[1] > 0:
            self.fail_pages = (self.fail_pages[0], self.fail_pages[1] - 1)
            self.served["500"] += 1
            return self._json([{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}], 500)
        done = index + 1 >= len(pages)
        body: dict[str, Any] = {"totalSize": sum(map(len, pages)), "done": done, "records": pages[index]}
        if not done:
            body["nextRecordsUrl"] = f"{API}/query/{cursor}-{index if self.repeat_cursor else index + 1}"
        self.served["rest pages"] += 1
        return self._json(body)

    def _create_job(self, spec: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        assert spec["operation"] in ("query", "queryAll") and spec["contentType"] == "CSV", spec
        self.soql.append(("bulk " + spec["operation"], spec["query"]))
        fields, rows = self._select(spec["query"], spec["operation"] == "queryAll")
        job_id = "750" + uuid.uuid4().hex[:15]
        self.jobs[job_id] = {"fields": fields, "rows": rows, "polls": 0, "deleted": False, "pages": 0}
        self.served["bulk jobs"] += 1
        return self._json({"id": job_id, "operation": spec["operation"], "object": "x", "state": "UploadComplete"})

    def _job(self, job_id: str, method: str) -> tuple[int, dict[str, str], bytes]:
        job = self.jobs[job_id]
        if method == "DELETE":
            job["deleted"] = True
            return 204, {}, b""
        job["polls"] += 1
        state = "InProgress" if job["polls"] < 3 else "JobComplete"  # a few polls before it is done
        if self.failing_jobs and job["polls"] >= 3:
            return self._json({"id": job_id, "state": "Failed", "errorMessage": self.failing_jobs})
        return self._json({"id": job_id, "state": state, "numberRecordsProcessed": len(job["rows"])})

    def _results(self, job_id: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        job = self.jobs[job_id]
        assert job["polls"] >= 3, "results before JobComplete"
        start = int(query.get("locator") or 0)
        size = int(query.get("maxRecords") or 10**6)
        chunk = job["rows"][start : start + size]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job["fields"])
        for row in chunk:
            writer.writerow([_csv_value(row[f]) for f in job["fields"]])
        following = start + size
        locator = str(following) if following < len(job["rows"]) else "null"
        job["pages"] += 1
        headers = {"Content-Type": "text/csv", "Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(chunk))}
        return 200, headers, out.getvalue().encode()


# -- jobs ------------------------------------------------------------------------------------


@pytest.fixture
def jwt_key(monkeypatch: pytest.MonkeyPatch) -> str:
    pem = _pem(KEY)
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__SF_KEY", pem)
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__SF_REFRESH", REFRESH_TOKEN)
    return pem


FAST = "backoff_seconds: 0.01, max_backoff_seconds: 0.05"


def _job(ws: Workspace, server: SalesforceServer, tables: str, options: str = "", *, auth: str = "jwt",
         extra: str = "", target: str = 'table: "{object}"', name: str = "sf") -> Path:  # fmt: skip
    if auth == "jwt":
        secret = 'private_key: "${secret:sf_key}"'
        connection = f'{{login_url: "{server.url}", client_id: {CLIENT_ID}, username: "{USERNAME}", {secret}}}'
    else:
        connection = f'{{login_url: "{server.url}", client_id: {CLIENT_ID}, refresh_token: "${{secret:sf_refresh}}"}}'
    text = f"""
        tenant_id: acme
        name: {name}
        source:
          connector: salesforce
          connection: {connection}
          tables: [{tables}]
          options: {{page_size: 200, bulk_page_size: 70, bulk_poll_seconds: 0.01, {FAST}, {options}}}
        {extra}
        target: {{namespace: crm, {target}}}
        retry: {{max_attempts: 1}}
        """
    return ws.job(f"{name}.yaml", text)


def _expected(row: dict[str, Any], fields: list[tuple[str, str, int, int]]) -> dict[str, Any]:
    return {n: row[n] for n, t, _, _ in fields if n not in SKIPPED}


def _assert_table_equals(ws: Workspace, table: str, rows: list[dict[str, Any]], obj: str) -> None:
    got = ws.read(table, sort_by="Id").to_pylist()
    want = [_expected(r, FIELDS[obj]) for r in sorted(rows, key=lambda r: r["Id"])]
    assert len(got) == len(want)
    assert [g["Id"] for g in got] == [w["Id"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w), set(g) ^ set(w)
        for key, value in w.items():
            assert g[key] == value, (w["Id"], key, g[key], value)
            if isinstance(value, Decimal):
                assert isinstance(g[key], Decimal)  # a decimal, never a float


def test_every_object_loads_exactly_through_429s_and_503s(workspace: Workspace, jwt_key: str) -> None:
    now = time.time()
    accounts = make_accounts(450, now - 50 * 86400, 49 * 86400)
    opportunities = make_opportunities(300, now - 50 * 86400, 49 * 86400)
    with SalesforceServer({"Account": accounts, "Opportunity": opportunities}, fault_every=5) as server:
        job = _job(workspace, server, "{name: Account}, {name: Opportunity}", "window: 30d, bulk: [Opportunity]")
        result = workspace.cli("run", str(job), "--json", "-w", "2")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["429"] >= 3 and server.served["503"] >= 3  # the faults were really hit
        assert server.served["bulk jobs"] >= 2 and all(j["deleted"] for j in server.jobs.values())
        assert max(j["pages"] for j in server.jobs.values()) >= 2  # several locator pages
        assert server.served["rest pages"] > len([s for s in server.soql if s[0] == "/query"])  # nextRecordsUrl
        # assertions are signed with the app's key: the server verified every one of them
        assert server.token_requests and all("assertion" in f for f in server.token_requests)
    assert all(s[1].count("SystemModstamp >= ") == 1 for s in server.soql if "LIMIT" not in s[1])
    runs = {run["table"]: run for run in result.json["runs"]}
    assert runs["crm.Account"]["rows"] == 450 and runs["crm.Opportunity"]["rows"] == 300
    _assert_table_equals(workspace, "crm.Account", accounts, "Account")
    _assert_table_equals(workspace, "crm.Opportunity", opportunities, "Opportunity")
    schema = workspace.table("crm.Account").schema()
    types = {f.name: str(f.field_type) for f in schema.fields}
    assert types["AnnualRevenue"] == "decimal(18, 0)" and types["Share__c"] == "decimal(5, 2)"
    assert types["BillingLatitude"] == "decimal(18, 15)" and types["NumberOfEmployees"] == "long"
    assert types["SystemModstamp"] == "timestamptz" and types["Founded__c"] == "date"
    assert types["Opens__c"] == "time" and types["IsDeleted"] == "boolean"
    assert "BillingAddress" not in types and "Logo__c" not in types
    opp = {f.name: str(f.field_type) for f in workspace.table("crm.Opportunity").schema().fields}
    assert opp["Amount"] == "decimal(18, 2)" and opp["Probability"] == "decimal(3, 0)"
    properties = workspace.table("crm.Account").properties
    assert properties.get("dativo.classification.Email__c") == "PII"  # its Salesforce type says so
    assert properties.get("dativo.classification.Phone") == "PII"


def test_second_run_merges_only_the_changes_after_an_expired_session(workspace: Workspace, jwt_key: str) -> None:
    now = time.time()
    accounts = make_accounts(60, now - 20 * 86400, 19 * 86400)
    with SalesforceServer({"Account": accounts}) as server:
        job = _job(
            workspace, server, "{name: Account}", "window: 10d, include_deleted: true", auth="refresh",
            extra="  incremental: {cursor_field: SystemModstamp, lookback: 2s}",
            target="table: accounts, mode: merge, merge_key: [Id], delete_marker: {column: IsDeleted, value: true}",
        )  # fmt: skip
        first = workspace.cli("run", str(job), "--json")
        assert first.code == 0, first.stdout + first.stderr
        assert first.json["rows"] == 60
        summary = workspace.table("crm.accounts").current_snapshot().summary.additional_properties
        cursor = summary["dativo.state.acme.sf.Account.SystemModstamp"]
        end = dt.datetime.strptime(cursor, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert now - 1 <= end.timestamp() <= time.time()

        changed_at = _stamp(time.time())
        for i in (3, 4, 5):
            accounts[i] = {
                **accounts[i],
                "Name": f"renamed {i}",
                "AnnualRevenue": Decimal(12345),
                "SystemModstamp": changed_at,
            }
        accounts[7] = {**accounts[7], "IsDeleted": True, "SystemModstamp": changed_at}  # in the recycle bin
        new = make_accounts(2, time.time(), 0, seed=9)
        accounts.extend(new)
        server.objects["Account"] = accounts
        server.expire_sessions()  # the cached access token is no longer valid: INVALID_SESSION_ID
        while time.time() < changed_at.timestamp() + 1.2:
            time.sleep(0.1)
        server.soql.clear()
        tokens_before = len(server.token_requests)
        second = workspace.cli("run", str(job), "--json")
        assert second.code == 0, second.stdout + second.stderr
        assert server.served["401"] >= 1 and len(server.token_requests) > tokens_before  # refreshed
        assert all(f["grant_type"] == "refresh_token" for f in server.token_requests)
    assert second.json["rows"] == 3 + 1 + 2  # only the changes were read
    since = (end - dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {s[0] for s in server.soql} == {"/queryAll"}
    assert all(f"SystemModstamp >= {since} AND" in s[1] for s in server.soql), server.soql
    live = [a for a in accounts if not a["IsDeleted"]]
    _assert_table_equals(workspace, "crm.accounts", live, "Account")
    assert len(workspace.table("crm.accounts").snapshots()) == 2


def test_wrong_private_key_fails_fast_without_showing_a_secret(workspace: Workspace, jwt_key: str) -> None:
    wrong = _pem(OTHER_KEY)
    with SalesforceServer({"Account": make_accounts(5, time.time() - 86400, 3600)}) as server:
        job = _job(workspace, server, "{name: Account}")
        result = workspace.cli("run", str(job), "--json", env={"DATIVO_SECRET__GLOBAL__SF_KEY": wrong})
        assert len(server.token_requests) == 1 and server.served["GET ok"] == 0  # refused once, not retried
    assert result.code == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "POST /services/oauth2/token" in output and "invalid assertion" in output
    body = "".join(wrong.splitlines()[1:-1])
    assert body[:40] not in output and body[-40:] not in output and jwt_key.splitlines()[1] not in output


def test_wrong_refresh_token_is_masked_even_when_echoed(workspace: Workspace, jwt_key: str) -> None:
    wrong = "5Aep861WRONGrefreshTOKEN_0000000000000000"
    with SalesforceServer({"Account": []}) as server:
        job = _job(workspace, server, "{name: Account}", auth="refresh")
        result = workspace.cli("run", str(job), "--json", env={"DATIVO_SECRET__GLOBAL__SF_REFRESH": wrong})
        assert len(server.token_requests) == 1
    assert result.code == 2
    output = result.stdout + result.stderr
    assert "expired access/refresh token" in output
    assert wrong not in output and "WRONGrefresh" not in output and REFRESH_TOKEN not in output


def test_discover_lists_sobjects_and_check_names_an_unknown_one(workspace: Workspace, jwt_key: str) -> None:
    with SalesforceServer({"Account": [], "Opportunity": []}) as server:
        job = _job(workspace, server, "{name: Account}")
        found = workspace.cli("discover", str(job), "--json")
        assert found.code == 0, found.stdout + found.stderr
        good = workspace.cli("check", str(job), "--json")
        bad = _job(workspace, server, "{name: Acount}", name="bad")
        check = workspace.cli("check", str(bad), "--json")
        run = workspace.cli("run", str(bad), "--json")
    names = [o["name"] for o in found.json["objects"]]
    assert names == ["Account", "Opportunity", "Contact"]  # AccountHistory is not queryable
    account = found.json["objects"][0]
    assert account["primary_key"] == ["Id"] and any(c["name"] == "AnnualRevenue" for c in account["columns"])
    assert good.code == 0, good.stdout + good.stderr
    assert "Account: 1 SystemModstamp window(s)" in good.stdout and "as REST queries" in good.stdout
    assert check.code == 2 and "no sObject 'Acount'" in check.stdout + check.stderr
    assert run.code == 2 and "no sObject 'Acount'" in run.stdout + run.stderr


def test_bulk_threshold_chooses_bulk_for_large_objects(workspace: Workspace, jwt_key: str) -> None:
    now = time.time()
    accounts = make_accounts(40, now - 5 * 86400, 4 * 86400)
    opportunities = make_opportunities(150, now - 5 * 86400, 4 * 86400)
    with SalesforceServer({"Account": accounts, "Opportunity": opportunities}) as server:
        job = _job(workspace, server, "{name: Account}, {name: Opportunity}", "window: 30d, bulk_threshold: 100")
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    kinds = {
        (endpoint, re.search(r"FROM (\w+)", soql).group(1)) for endpoint, soql in server.soql if "LIMIT" not in soql
    }  # type: ignore[union-attr]
    assert kinds == {("/query", "Account"), ("bulk query", "Opportunity")}
    _assert_table_equals(workspace, "crm.Opportunity", opportunities, "Opportunity")


def test_plugins_list_and_generate_job_then_run_it(workspace: Workspace, jwt_key: str) -> None:
    listed = workspace.cli("plugins", "list", "--json")
    assert listed.code == 0 and any(p["name"] == "salesforce" and p["kind"] == "reader" for p in listed.json)
    accounts = make_accounts(30, time.time() - 3 * 86400, 2 * 86400)
    with SalesforceServer({"Account": accounts, "Opportunity": []}) as server:
        generated = workspace.cli(
            "generate", "job", "--yes", "--tenant", "acme", "--source", "salesforce", "--table", "Account",
            "--connection", f"login_url={server.url}", "--connection", f"client_id={CLIENT_ID}",
            "--connection", f"username={USERNAME}", "--connection", "private_key=${secret:sf_key}",
            "--option", "window=30d", "--namespace", "crm",
        )  # fmt: skip
        assert generated.code == 0, generated.stdout + generated.stderr
        job = workspace.root / "jobs" / "acme" / "account.yaml"
        assert "${secret:sf_key}" in job.read_text() and "PRIVATE KEY" not in job.read_text()
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
    assert result.json["rows"] == 30
    _assert_table_equals(workspace, "crm.account", accounts, "Account")


def test_a_429_storm_and_503s_cost_time_not_rows(workspace: Workspace, jwt_key: str) -> None:
    accounts = make_accounts(250, time.time() - 2 * 86400, 86400)
    limited = _dumps([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded"}])
    with SalesforceServer({"Account": accounts}) as server:
        server.scripted = [(429, {"Retry-After": "0"}, limited)] * 15 + [(503, {}, b"Service Unavailable")] * 3
        job = _job(workspace, server, "{name: Account}", "window: 30d, max_retries: 4")
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["429"] == 15 and server.served["503"] == 3
    _assert_table_equals(workspace, "crm.Account", accounts, "Account")


def test_a_403_request_limit_is_a_rate_limit_not_a_credential_failure(workspace: Workspace, jwt_key: str) -> None:
    accounts = make_accounts(120, time.time() - 2 * 86400, 86400)
    daily = _dumps([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
    with SalesforceServer({"Account": accounts}) as server:
        job = _job(workspace, server, "{name: Account}", "window: 30d")
        # the org's daily API limit used up: no time to wait for; the run fails as transient, at once
        server.scripted = [(403, {"Content-Type": "application/json"}, daily)] * 50
        exhausted = workspace.cli("run", str(job), "--json")
        assert server.served["403"] == 1  # not retried in a loop
        assert len(server.token_requests) == 1  # and no new token asked for: the credential is fine
        # a 403 limit with Retry-After is waited out like a 429, and so is the concurrent-requests
        # limit (freed within seconds: backed off); the run loads everything
        concurrent = _dumps(
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded"}]
        )
        server.scripted = [(403, {"Content-Type": "application/json", "Retry-After": "0"}, daily)] * 3
        server.scripted += [(403, {"Content-Type": "application/json"}, concurrent)] * 2
        waited = workspace.cli("run", str(job), "--json")
        assert waited.code == 0, waited.stdout + waited.stderr
        assert server.served["403"] == 6 and len(server.token_requests) <= 2
    output = exhausted.stdout + exhausted.stderr
    assert exhausted.code != 0 and "the API's request limit is exhausted (REQUEST_LIMIT_EXCEEDED" in output
    assert "TotalRequests Limit exceeded" in output and "check the credential" not in output
    _assert_table_equals(workspace, "crm.Account", accounts, "Account")


def test_a_page_that_fails_mid_run_retries_only_its_partition(workspace: Workspace, jwt_key: str) -> None:
    now = time.time()
    accounts = make_accounts(900, now - 30 * 86400, 29 * 86400)
    with SalesforceServer({"Account": accounts}) as server:
        first_window = min(a["SystemModstamp"] for a in accounts).strftime("%Y-%m-%dT%H:%M:%S")
        server.fail_pages = (f"SystemModstamp >= {first_window}", 2)  # its 2nd page: 500, twice
        job = _job(
            workspace, server, "{name: Account}", "window: 10d, max_retries: 1",
            extra="  governance_overrides: {pii_detection: false}",
        )  # fmt: skip
        text = job.read_text().replace("retry: {max_attempts: 1}", "retry: {max_attempts: 2, backoff_seconds: 0.01}")
        job.write_text(text.replace("  governance_overrides", "governance_overrides"))
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert server.served["500"] == 2
    windows = Counter(re.search(r"SystemModstamp >= (\S+)", q).group(1) for _, q in server.soql if "LIMIT" not in q)  # type: ignore[union-attr]
    assert len(windows) == 3 and sorted(windows.values()) == [1, 1, 2]  # only the failed window was read again
    assert result.json["partitions_total"] == 3 and result.json["rows"] == 900
    _assert_table_equals(workspace, "crm.Account", accounts, "Account")


def test_a_paginator_that_does_not_advance_and_a_non_json_answer_fail_clearly(
    workspace: Workspace, jwt_key: str
) -> None:
    accounts = make_accounts(450, time.time() - 2 * 86400, 86400)
    with SalesforceServer({"Account": accounts}) as server:
        server.repeat_cursor = True
        job = _job(workspace, server, "{name: Account}", "window: 30d")
        looping = workspace.cli("run", str(job), "--json")
        server.repeat_cursor = False
        server.scripted = [(200, {"Content-Type": "text/html"}, b"<html>maintenance</html>")]
        garbled = workspace.cli("run", str(job), "--json")
    assert looping.code == 2 and "came twice; stopping, not looping" in looping.stdout + looping.stderr
    assert garbled.code == 2 and "the response is not JSON" in garbled.stdout + garbled.stderr
    assert "<html>maintenance" in garbled.stdout + garbled.stderr


def test_passes_the_plugin_conformance_kit(tmp_path: Path) -> None:
    from dativo_workers.certify import FAIL, SKIPPED, certify, load_subject

    accounts = make_accounts(300, time.time() - 20 * 86400, 19 * 86400)
    with SalesforceServer({"Account": accounts}) as server:
        config = tmp_path / "salesforce.yaml"
        app = f'login_url: "{server.url}", client_id: {CLIENT_ID}, username: "{USERNAME}"'
        config.write_text(
            f"""
source:
  connection: {{{app}, private_key: "${{secret:sf_key}}"}}
  tables: [{{name: Account}}]
  options: {{window: 7d, page_size: 200, backoff_seconds: 0.01}}
secrets: {{sf_key: {json.dumps(_pem(KEY))}, sf_other: {json.dumps(_pem(OTHER_KEY))}}}
certify:
  whole: {{options: {{window: 400d}}}}
  error_source:  # a key the org refuses (a canary): the error must name the plugin, never the key
    connection: {{{app}, private_key: "${{secret:sf_other}}"}}
    tables: [{{name: Account}}]
""",
            encoding="utf-8",
        )
        report = certify(load_subject("salesforce", config, None))
    statuses = {c.id: (c.status, c.detail) for c in report.checks}
    assert not {k: v for k, v in statuses.items() if v[0] == FAIL}, statuses
    assert not {k for k, (s, _) in statuses.items() if s == SKIPPED}, statuses
    assert report.figures["rows"] == 300
    assert "plugin salesforce" in statuses["errors"][1] and "invalid assertion" in statuses["errors"][1]


def test_a_failed_bulk_job_fails_with_salesforces_message(workspace: Workspace, jwt_key: str) -> None:
    with SalesforceServer({"Opportunity": make_opportunities(20, time.time() - 86400, 3600)}) as server:
        server.failing_jobs = "InvalidBatch : Failed to process query: FUNCTIONALITY_NOT_ENABLED"
        job = _job(workspace, server, "{name: Opportunity}", "bulk: true")
        result = workspace.cli("run", str(job), "--json")
        assert all(j["deleted"] for j in server.jobs.values())  # the failed job is deleted too
    assert result.code != 0 and result.json["state"] == "failed"
    assert "Bulk API 2.0 query job 750" in result.json["error"] and "FUNCTIONALITY_NOT_ENABLED" in result.json["error"]


def test_the_documented_job_runs(workspace: Workspace, jwt_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "saas.md").read_text()
    text = docs.split("## Salesforce", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("DATIVO_SECRET__ACME__SF_JWT_KEY", jwt_key)
    now = time.time()
    contacts = [
        {"Id": f"003{i:015d}", "IsDeleted": False, "LastName": f"Doe {i}", "Email": f"c{i}@example.com",
         "AccountId": None, "SystemModstamp": _stamp(now - 86400 + i)}
        for i in range(30)
    ]  # fmt: skip
    objects = {
        "Account": make_accounts(40, now - 40 * 86400, 39 * 86400),
        "Contact": contacts,
        "Opportunity": make_opportunities(50, now - 10 * 86400, 9 * 86400),
    }
    with SalesforceServer(objects) as server:
        text = text.replace("https://login.salesforce.com ", f"{server.url} ").replace(
            "client_id: 3MVG9...", f"client_id: {CLIENT_ID}"
        )
        text = text.replace("integration@acme.com", USERNAME)
        job = workspace.write("salesforce_crm.yaml", text)
        result = workspace.cli("run", str(job), "--json")
        assert result.code == 0, result.stdout + result.stderr
        assert {endpoint for endpoint, _ in server.soql} == {"/queryAll", "bulk queryAll"}
    assert {r["table"]: r["rows"] for r in result.json["runs"]} == {
        "crm.Account": 40,
        "crm.Contact": 30,
        "crm.Opportunity": 50,
    }
    _assert_table_equals(workspace, "crm.Opportunity", objects["Opportunity"], "Opportunity")
