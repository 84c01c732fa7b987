"""Certify configurations of the connectors whose services cannot be reached from CI, each against
the loopback API of its own tests: a context manager per connector that starts the API, writes the
config into a directory and yields its path. Used by tests/integration/test_certify.py and by
scripts/certify_index.py (index entries with `loopback: <name>`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Case = Callable[[Path], contextlib.AbstractContextManager[Path]]


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def stripe(directory: Path) -> Iterator[Path]:
    from .test_stripe import API_KEY, DAY, T0, StripeServer, make_charges

    with StripeServer({"charges": make_charges(120, T0, 20 * DAY)}) as server:
        yield _write(
            directory,
            "stripe",
            f"""
source:
  connection: {{api_key: "${{secret:stripe_key}}", base_url: "{server.url}"}}
  tables: [{{name: charges}}]
  options: {{page_size: 50, start: {T0}, end: {T0 + 21 * DAY}, window: 7d, backoff_seconds: 0.01}}
secrets: {{stripe_key: {API_KEY}}}
certify:
  whole: {{options: {{window: 30d}}}}
  error_source:  # a key the API refuses (a canary): the 401 must name the plugin, never the key
    connection: {{api_key: "${{secret:stripe_wrong_key}}", base_url: "{server.url}"}}
    tables: [{{name: charges}}]
    options: {{start: {T0}, end: {T0 + 7 * DAY}, backoff_seconds: 0.01}}
""",
        )


@contextlib.contextmanager
def rest_api(directory: Path) -> Iterator[Path]:
    from .test_rest_api import T0, TOKEN, ShopApi, iso, make_orders

    with ShopApi(make_orders(300)) as api:
        resource = (
            "{name: orders, path: /orders, records: data, primary_key: id, params: {limit: 25}, "
            "paginator: {type: cursor, cursor_path: meta.next_cursor, param: cursor}"
        )
        windows = (
            ", partitioning: {type: time, start_param: created_gte, end_param: created_lt, "
            f"start: '{iso(T0)}', end: '{iso(T0 + dt.timedelta(days=10))}', window: 2d}}"
        )
        base = f'base_url: "{api.url}/v1", backoff_seconds: 0.01, max_backoff_seconds: 0.02'
        yield _write(
            directory,
            "rest_api",
            f"""
source:
  tables: [{{name: orders}}]
  options: {{{base}, auth: {{type: bearer, token: "${{secret:shop.token}}"}}, resources: [{resource}{windows}}}]}}
secrets: {{shop: {json.dumps(json.dumps({"token": TOKEN}))}}}
certify:
  whole: {{options: {{resources: [{resource}}}]}}}}
  error_source:  # a token the API refuses (a canary)
    tables: [{{name: orders}}]
    options: {{{base}, auth: {{type: bearer, token: "${{secret:wrong_token}}"}}, resources: [{resource}}}]}}
""",
        )


@contextlib.contextmanager
def zendesk(directory: Path) -> Iterator[Path]:
    from .test_zendesk import API_TOKEN, EMAIL, ZendeskApi

    with ZendeskApi() as api:
        connection = f'subdomain: acme, base_url: "{api.url}", email: {EMAIL}'
        yield _write(
            directory,
            "zendesk",
            f"""
source:
  connection: {{{connection}, api_token: "${{secret:zendesk_token}}"}}
  tables: [{{name: tickets}}]
  options: {{page_size: 7, backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
secrets: {{zendesk_token: {API_TOKEN}}}
certify:
  error_source:
    connection: {{{connection}, api_token: "${{secret:zendesk_wrong}}"}}
    tables: [{{name: tickets}}]
""",
        )


@contextlib.contextmanager
def intercom(directory: Path) -> Iterator[Path]:
    from .test_intercom import ACCESS_TOKEN, IntercomApi

    with IntercomApi() as api:
        yield _write(
            directory,
            "intercom",
            f"""
source:
  connection: {{access_token: "${{secret:intercom_token}}", base_url: "{api.url}"}}
  tables: [{{name: contacts}}]
  options: {{page_size: 20, backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
secrets: {{intercom_token: "{ACCESS_TOKEN}"}}
certify:
  error_source:
    connection: {{access_token: "${{secret:intercom_wrong}}", base_url: "{api.url}"}}
    tables: [{{name: contacts}}]
""",
        )


@contextlib.contextmanager
def salesforce(directory: Path) -> Iterator[Path]:
    """As tests/integration/test_salesforce.py's own kit test."""
    from .test_salesforce import CLIENT_ID, KEY, OTHER_KEY, USERNAME, SalesforceServer, _pem, make_accounts

    accounts = make_accounts(300, time.time() - 20 * 86400, 19 * 86400)
    with SalesforceServer({"Account": accounts}) as server:
        app = f'login_url: "{server.url}", client_id: {CLIENT_ID}, username: "{USERNAME}"'
        yield _write(
            directory,
            "salesforce",
            f"""
source:
  connection: {{{app}, private_key: "${{secret:sf_key}}"}}
  tables: [{{name: Account}}]
  options: {{window: 7d, page_size: 200, backoff_seconds: 0.01}}
secrets: {{sf_key: {json.dumps(_pem(KEY))}, sf_other: {json.dumps(_pem(OTHER_KEY))}}}
certify:
  whole: {{options: {{window: 400d}}}}
  error_source:
    connection: {{{app}, private_key: "${{secret:sf_other}}"}}
    tables: [{{name: Account}}]
""",
        )


@contextlib.contextmanager
def google_sheets(directory: Path) -> Iterator[Path]:
    """As tests/integration/test_google_sheets.py's own kit test."""
    from .test_google_sheets import OTHER_KEY, SHEET_ID, GoogleServer, _key_json, make_orders

    with GoogleServer({"Orders": make_orders(50)}) as server:
        urls = f'sheets_url: "{server.url}", drive_url: "{server.url}", spreadsheet_id: {SHEET_ID}'
        yield _write(
            directory,
            "google_sheets",
            f"""
source:
  connection: {{service_account_key: "${{secret:gsa_key}}", {urls}}}
  tables: [{{name: Orders}}]
  options: {{backoff_seconds: 0.01}}
secrets: {{gsa_key: {json.dumps(_key_json(server))}, gsa_other: {json.dumps(_key_json(server, OTHER_KEY))}}}
certify:
  error_source:
    connection: {{service_account_key: "${{secret:gsa_other}}", {urls}}}
    tables: [{{name: Orders}}]
""",
        )


CASES: dict[str, Any] = {
    "stripe": stripe,
    "rest_api": rest_api,
    "zendesk": zendesk,
    "intercom": intercom,
    "salesforce": salesforce,
    "google_sheets": google_sheets,
}
