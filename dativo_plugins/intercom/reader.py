"""The `intercom` reader: declarations on `rest_api`, plus Intercom's quirks.

- contacts, conversations: the search APIs (`POST /contacts/search`, `/conversations/search`)
  filtered on `updated_at > <unix>`, paginated by `pagination.starting_after` from
  `pages.next.starting_after`; with `window`, one partition per `updated_at` window (an AND of
  `>` and `<`).
- conversation_parts: `GET /conversations/{id}` for each conversation the search returns; the
  parts sit in `conversation_parts.conversation_parts`.
- companies: the scroll API (`GET /companies/scroll`, `scroll_param` until an empty page); it has
  no filter, so an incremental run reads every company and keeps those updated since the cursor.
- Auth: an access token (bearer); `Intercom-Version` pins the API version. A 429 waits for
  `X-RateLimit-Reset`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, SecretStr, model_validator

from dativo_plugins.rest_api.config import (
    AuthSpec,
    HttpOptions,
    IncrementalSpec,
    PaginatorSpec,
    PartitionSpec,
    ResourceSpec,
    RestApiOptions,
)
from dativo_plugins.rest_api.connector import SaasReader
from dativo_workers.plugins import PluginSettings

TS, INT, STR, BOOL, JSON, FLOAT = "timestamp", "int", "string", "bool", "json", "float"

FIELDS: dict[str, dict[str, str]] = {
    "contacts": {
        "id": STR, "workspace_id": STR, "external_id": STR, "role": STR, "email": STR, "phone": STR,
        "name": STR, "owner_id": INT, "has_hard_bounced": BOOL, "marked_email_as_spam": BOOL,
        "unsubscribed_from_emails": BOOL, "created_at": TS, "updated_at": TS, "signed_up_at": TS,
        "last_seen_at": TS, "last_replied_at": TS, "last_contacted_at": TS, "browser": STR, "os": STR,
        "location": JSON, "custom_attributes": JSON, "tags": JSON, "companies": JSON,
    },
    "conversations": {
        "id": STR, "title": STR, "state": STR, "open": BOOL, "read": BOOL, "priority": STR,
        "admin_assignee_id": INT, "team_assignee_id": STR, "created_at": TS, "updated_at": TS,
        "waiting_since": TS, "snoozed_until": TS, "source": JSON, "contacts": JSON, "teammates": JSON,
        "tags": JSON, "statistics": JSON, "custom_attributes": JSON,
    },
    "conversation_parts": {
        "id": STR, "conversation_id": STR, "part_type": STR, "body": STR, "author": JSON,
        "attachments": JSON, "assigned_to": JSON, "external_id": STR, "redacted": BOOL,
        "created_at": TS, "updated_at": TS, "notified_at": TS,
    },
    "companies": {
        "id": STR, "company_id": STR, "name": STR, "plan": JSON, "size": INT, "website": STR,
        "industry": STR, "monthly_spend": FLOAT, "session_count": INT, "user_count": INT,
        "created_at": TS, "updated_at": TS, "remote_created_at": TS, "last_request_at": TS,
        "custom_attributes": JSON, "tags": JSON, "segments": JSON,
    },
}  # fmt: skip


class IntercomConnection(PluginSettings):
    """`source.connection` of an Intercom job."""

    access_token: SecretStr = Field(
        description="an access token as a ${secret:NAME} reference", json_schema_extra={"secret": True}
    )
    base_url: str = Field("https://api.intercom.io", description="API root (EU: https://api.eu.intercom.io)")
    api_version: str = Field("2.11", description="the Intercom-Version header")


class IntercomOptions(HttpOptions):
    """`source.options` of an Intercom job."""

    start: int | str | dt.date = 0  # the first run's lower bound on updated_at (unix seconds or ISO)
    window: str | None = None  # contacts, conversations: one partition per updated_at window (7d, 30d)
    end: int | str | dt.date | None = None  # with window: the last window's end (default: the plan time)
    page_size: int = Field(150, ge=1, le=150)  # search per_page
    raw_json: bool = True

    @model_validator(mode="after")
    def _windows_need_a_start(self) -> IntercomOptions:
        if self.window and str(self.start) in ("0", ""):
            raise ValueError("`window` splits updated_at from `start`: set start (e.g. 2023-01-01)")
        return self


class IntercomReader(SaasReader):
    """Intercom contacts, conversations (with parts), companies."""

    name = "intercom"
    config_model = IntercomOptions
    connection_model = IntercomConnection
    description = "Intercom contacts, conversations (with parts), companies (search/scroll, updated_at)"
    objects = {name: ("id",) for name in FIELDS}
    config: IntercomOptions

    def build_options(self) -> RestApiOptions:
        conn: IntercomConnection = self.connection
        cfg = self.config

        def search(name: str, records: str) -> ResourceSpec:
            condition: list[dict[str, Any]] = [{"field": "updated_at", "operator": ">", "value": 0}]
            partitioning = None
            if cfg.window:
                condition.append({"field": "updated_at", "operator": "<", "value": 0})
                partitioning = PartitionSpec(
                    type="time",
                    start_param="query.value[0].value",
                    end_param="query.value[1].value",
                    location="body",
                    start=cfg.start,
                    end=cfg.end,
                    window=cfg.window,
                    format="unix",
                    start_exclusive=True,
                )
            return ResourceSpec(
                name=name,
                path=f"/{name}/search",
                method="POST",
                body={"query": {"operator": "AND", "value": condition}, "pagination": {"per_page": cfg.page_size}},
                records=records,
                primary_key="id",
                paginator=PaginatorSpec(
                    type="cursor",
                    cursor_path="pages.next.starting_after",
                    param="pagination.starting_after",
                    location="body",
                ),
                incremental=IncrementalSpec(
                    cursor_field="updated_at",
                    param="query.value[0].value",
                    location="body",
                    format="unix",
                    operator=">",
                    start=cfg.start,
                ),
                partitioning=partitioning,
                fields=FIELDS[name],
            )

        resources = [
            search("contacts", "data"),
            search("conversations", "conversations"),
            ResourceSpec(
                name="conversation_parts",
                path="/conversations/{id}",
                records="conversation_parts.conversation_parts",
                primary_key="id",
                parent="conversations",
                parent_fields={"conversation_id": "id"},
                fields=FIELDS["conversation_parts"],
                missing_ok=True,
            ),
            ResourceSpec(
                name="companies",
                path="/companies/scroll",
                records="data",
                primary_key="id",
                paginator=PaginatorSpec(type="cursor", cursor_path="scroll_param", param="scroll_param", scroll=True),
                incremental=IncrementalSpec(
                    cursor_field="updated_at", client_side=True, format="unix", start=cfg.start
                ),
                fields=FIELDS["companies"],
            ),
        ]
        return RestApiOptions(
            base_url=conn.base_url,
            auth=AuthSpec(type="bearer", token=conn.access_token),
            headers={"Intercom-Version": conn.api_version},
            resources=resources,
            raw_json=cfg.raw_json,
            **self.http_settings(),
        )
