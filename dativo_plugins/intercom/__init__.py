"""Intercom source: contacts, conversations (and their parts), companies, on the declarative
`rest_api` reader. See docs/saas.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.intercom.reader import IntercomConnection, IntercomOptions, IntercomReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["IntercomConnection", "IntercomOptions", "IntercomReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [IntercomReader]
