"""Zendesk Support source: tickets, users, organizations (incremental export APIs) and ticket
comments, on the declarative `rest_api` reader. See docs/saas.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.zendesk.reader import ZendeskConnection, ZendeskOptions, ZendeskReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["ZendeskConnection", "ZendeskOptions", "ZendeskReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [ZendeskReader]
