"""Salesforce source: any sObject by name, schema from `describe`, SOQL on SystemModstamp windows
through the REST query API or Bulk API 2.0, OAuth 2.0 JWT bearer or refresh token. See docs/saas.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.salesforce.reader import SalesforceConnection, SalesforceOptions, SalesforceReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["SalesforceConnection", "SalesforceOptions", "SalesforceReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [SalesforceReader]
