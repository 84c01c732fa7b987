"""Stripe source: customers, charges, invoices, subscriptions (and other list endpoints),
partitioned by `created` windows, incremental on `created` (new objects) or on `updated`
(changes, through the Events API). See docs/stripe.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.stripe.reader import StripeConnection, StripeOptions, StripeReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["StripeConnection", "StripeOptions", "StripeReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [StripeReader]
