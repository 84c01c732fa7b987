"""Redaction masks secret values, not every occurrence of an ordinary word: a short or common
value (compose's old MinIO user `dativo`, an S3 access key) must not cut Dativo's own names out
of unrelated log text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dativo_workers.secrets import redact


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.mark.parametrize("value", ["dativo", "admin", "minio", "postgres", "5432", "2026", "abc"])
def test_short_or_common_values_leave_unrelated_text_alone(value: str) -> None:
    redact.remember(value)
    line = f"Task dativo.commit_run succeeded: s3://warehouse/dativo/acme/customers port 5432 admin {value}"
    assert redact.mask(line) == line


@pytest.mark.parametrize("value", ["dativo-s3-admin", "s3cret", "hunter2", "Zx9#", "12345678901", "minioadministrator"])
def test_values_that_look_like_secret_material_are_masked_in_every_form(value: str) -> None:
    redact.remember(value)
    assert redact.mask(f"key {value} in s3://{value}@host") == "key *** in s3://***@host"
    assert redact.contains_secret(f'{{"k": "{value}"}}')


def test_a_common_value_is_still_masked_where_it_is_a_password() -> None:
    redact.remember("sunshine")
    assert redact.scrub("postgresql://app:sunshine@db/x password=sunshine") == "postgresql://app:***@db/x password=***"
