"""The `zendesk` reader: declarations on `rest_api`, plus Zendesk's quirks.

- tickets and users: the cursor-based incremental exports
  (`/api/v2/incremental/{tickets,users}/cursor.json?start_time=<unix>`, then `after_url` until
  `end_of_stream`); organizations: the time-based export (Zendesk has no cursor variant for
  them), `next_page` until `end_of_stream`.
- ticket_comments: `/api/v2/tickets/{id}/comments.json` for each ticket the tickets export
  returns (so an incremental run reads the comments of changed tickets), cursor-paginated
  (`page[size]`, `links.next` while `meta.has_more`); a ticket deleted meanwhile (404) has none.
- The exports leave out changes of the last minute: the committed cursor is the plan time less
  a minute. Deleted tickets stay in the export with `status: deleted`.
- Auth: `{email}/token` + API token (basic), or an OAuth access token (bearer).
- `window`: tickets and users through the time-based exports, one partition per time window,
  each chain stopped at the first record past its window (no end bound in the API).
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
from dativo_workers.errors import ConfigError
from dativo_workers.plugins import PluginSettings

TS, INT, STR, BOOL, JSON = "timestamp", "int", "string", "bool", "json"
# the time-based ticket export compares start_time with, and orders by, generated_timestamp
TICKET_ORDER = "generated_timestamp"

FIELDS: dict[str, dict[str, str]] = {
    "tickets": {
        "id": INT, "url": STR, "external_id": STR, "type": STR, "subject": STR, "description": STR,
        "priority": STR, "status": STR, "requester_id": INT, "submitter_id": INT, "assignee_id": INT,
        "organization_id": INT, "group_id": INT, "brand_id": INT, "tags": JSON, "via": JSON,
        "custom_fields": JSON, "has_incidents": BOOL, "is_public": BOOL, "due_at": TS,
        "created_at": TS, "updated_at": TS, "generated_timestamp": INT,
    },
    "users": {
        "id": INT, "url": STR, "name": STR, "email": STR, "phone": STR, "role": STR, "active": BOOL,
        "verified": BOOL, "suspended": BOOL, "organization_id": INT, "time_zone": STR, "locale": STR,
        "external_id": STR, "tags": JSON, "user_fields": JSON, "created_at": TS, "updated_at": TS,
        "last_login_at": TS,
    },
    "organizations": {
        "id": INT, "url": STR, "name": STR, "external_id": STR, "details": STR, "notes": STR,
        "group_id": INT, "shared_tickets": BOOL, "shared_comments": BOOL, "domain_names": JSON,
        "tags": JSON, "organization_fields": JSON, "created_at": TS, "updated_at": TS, "deleted_at": TS,
    },
    "ticket_comments": {
        "id": INT, "ticket_id": INT, "type": STR, "author_id": INT, "body": STR, "html_body": STR,
        "plain_body": STR, "public": BOOL, "audit_id": INT, "via": JSON, "attachments": JSON,
        "metadata": JSON, "created_at": TS,
    },
}  # fmt: skip


class ZendeskConnection(PluginSettings):
    """`source.connection` of a Zendesk job."""

    subdomain: str | None = Field(None, description="your Zendesk subdomain (<subdomain>.zendesk.com)")
    email: str | None = Field(None, description="the agent's email, with api_token")
    api_token: SecretStr | None = Field(
        None, description="an API token as a ${secret:NAME} reference", json_schema_extra={"secret": True}
    )
    oauth_token: SecretStr | None = Field(
        None, description="an OAuth access token instead of email + api_token", json_schema_extra={"secret": True}
    )
    base_url: str | None = Field(None, description="API root; default https://<subdomain>.zendesk.com")

    @model_validator(mode="after")
    def _one_credential(self) -> ZendeskConnection:
        if (self.api_token is None) == (self.oauth_token is None):
            raise ValueError("set either email + api_token, or oauth_token")
        if self.api_token is not None and not self.email:
            raise ValueError("api_token needs the agent's email")
        if not self.subdomain and not self.base_url:
            raise ValueError("set subdomain (or base_url)")
        return self


class ZendeskOptions(HttpOptions):
    """`source.options` of a Zendesk job."""

    start: int | str | dt.date = 0  # the first run's start_time (unix seconds or ISO); later runs: the cursor
    page_size: int = Field(1000, ge=1, le=1000)  # export per_page
    exclude_deleted: bool = False  # tickets: leave deleted tickets out of the export
    # tickets and users in time windows (e.g. 30d): the time-based exports, one partition per
    # window, each chain stopped once its records pass the window's end. For retries and progress
    # of a long first load, not for speed: the exports' limit is per account (docs/saas.md)
    window: str | None = None
    raw_json: bool = True  # keep every record whole in `raw_json`


class ZendeskReader(SaasReader):
    """Zendesk Support tickets, users, organizations, ticket comments."""

    name = "zendesk"
    config_model = ZendeskOptions
    connection_model = ZendeskConnection
    description = "Zendesk Support tickets, users, organizations, ticket comments (incremental exports)"
    objects = {name: ("id",) for name in FIELDS}
    config: ZendeskOptions

    def build_options(self) -> RestApiOptions:
        conn: ZendeskConnection = self.connection
        cfg = self.config
        if conn.oauth_token is not None:
            auth = AuthSpec(type="bearer", token=conn.oauth_token)
        else:
            auth = AuthSpec(type="basic", username=SecretStr(f"{conn.email}/token"), password=conn.api_token)

        windowed = cfg.window is not None
        if windowed and not cfg.start:
            raise ConfigError(
                "source.options.window: set `start` too (the time of the account's first records): windows from "
                "1970 would cost an export request each, at 10 requests a minute"
            )

        def export(name: str, path: str, next_key: str, params: dict[str, Any], order: str = "") -> ResourceSpec:
            partitioning = None
            if order:  # a time-based export ordered by `order`, split into windows
                partitioning = PartitionSpec(
                    type="time", start_param="start_time", end_field=order, start=cfg.start,
                    window=cfg.window or "30d", format="unix",
                )  # fmt: skip
            return ResourceSpec(
                name=name,
                path=path,
                params={"per_page": cfg.page_size, **params},
                records=name,
                primary_key="id",
                paginator=PaginatorSpec(type="next_url", next_url_path=next_key, stop_path="end_of_stream"),
                incremental=IncrementalSpec(
                    cursor_field="updated_at", param="start_time", format="unix", start=cfg.start, lag="1m"
                ),
                fields=FIELDS[name],
                # time-based: the next page repeats the boundary second
                dedupe=name == "organizations" or partitioning is not None,
                partitioning=partitioning,
            )

        tickets_params = {"exclude_deleted": "true"} if cfg.exclude_deleted else {}
        if windowed:  # the time-based exports: tickets by generated_timestamp, users by updated_at
            tickets = export("tickets", "/api/v2/incremental/tickets.json", "next_page", tickets_params, TICKET_ORDER)
            users = export("users", "/api/v2/incremental/users.json", "next_page", {}, "updated_at")
        else:
            tickets = export("tickets", "/api/v2/incremental/tickets/cursor.json", "after_url", tickets_params)
            users = export("users", "/api/v2/incremental/users/cursor.json", "after_url", {})
        resources = [
            tickets,
            users,
            export("organizations", "/api/v2/incremental/organizations.json", "next_page", {}),
            ResourceSpec(
                name="ticket_comments",
                path="/api/v2/tickets/{id}/comments.json",
                params={"page[size]": 100},
                records="comments",
                primary_key="id",
                parent="tickets",
                parent_fields={"ticket_id": "id"},
                paginator=PaginatorSpec(type="next_url", next_url_path="links.next", has_more_path="meta.has_more"),
                fields=FIELDS["ticket_comments"],
                missing_ok=True,
            ),
        ]
        return RestApiOptions(
            base_url=conn.base_url or f"https://{conn.subdomain}.zendesk.com",
            auth=auth,
            resources=resources,
            raw_json=cfg.raw_json,
            **self.http_settings(),
        )
