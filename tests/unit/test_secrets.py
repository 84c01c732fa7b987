"""Secret references and the env provider."""

from __future__ import annotations

import os

import pytest

from dativo_workers.errors import ConfigError
from dativo_workers.secrets import EnvSecretProvider, SecretRef, SecretValue, references, resolve


@pytest.fixture(autouse=True)
def _no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DATIVO_SECRET__"):
            monkeypatch.delenv(key)


def test_references_found_in_nested_config() -> None:
    config = {
        "host": "localhost",
        "port": 5432,
        "user": "${secret:db.user}",
        "auth": {"password": "${secret:db.password}", "options": [None, "x", "${secret:api/token}"]},
        "dsn": "pg://${secret:db.user}:${secret:db-main}@h",
    }
    assert references(config) == [
        SecretRef("db", "user"),
        SecretRef("db", "password"),
        SecretRef("api/token"),
        SecretRef("db", "user"),
        SecretRef("db-main"),
    ]
    assert str(SecretRef("db", "password")) == "${secret:db.password}"
    assert str(SecretRef("token")) == "${secret:token}"
    assert references(["${VAR}", 3, {"a": "plain"}]) == []


def test_tenant_secret_wins_over_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "global-token")
    assert resolve({"t": "${secret:token}"}, "acme") == {"t": "global-token"}
    monkeypatch.setenv("DATIVO_SECRET__ACME__TOKEN", "acme-token")
    assert resolve({"t": "${secret:token}"}, "acme") == {"t": "acme-token"}
    assert resolve({"t": "${secret:token}"}, "other") == {"t": "global-token"}


def test_non_alphanumerics_map_to_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME_EU__SHOP_DB_MAIN", "s3cret")
    assert resolve("${secret:shop-db/main}", "acme-eu") == "s3cret"
    assert EnvSecretProvider().get("Acme.EU", "shop_db/main") == "s3cret"


def test_key_selects_from_a_json_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__DB", '{"user": "app", "password": "pw", "port": 5432}')
    resolved = resolve(
        {"user": "${secret:db.user}", "password": "${secret:db.password}", "dsn": "pg://${secret:db.user}@h:5432"},
        "acme",
    )
    assert resolved == {"user": "app", "password": "pw", "dsn": "pg://app@h:5432"}
    assert resolve("${secret:db.port}", "acme") == "5432"


def test_values_without_references_are_unchanged() -> None:
    config = {"a": 1, "b": [True, None, "text"], "c": "${NOT_A_SECRET}"}
    assert resolve(config, "acme") == config


def test_missing_secret_names_the_reference_and_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME__DB", "hunter2-tenant")
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__API", "hunter3-global")
    with pytest.raises(ConfigError) as exc:
        resolve({"user": "${secret:db}", "password": "${secret:db_password}"}, "acme")
    text = str(exc.value)
    assert "${secret:db_password}" in text
    assert "DATIVO_SECRET__ACME__DB_PASSWORD" in text and "DATIVO_SECRET__GLOBAL__DB_PASSWORD" in text
    assert "hunter2" not in text and "hunter3" not in text


def test_missing_key_in_json_secret_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__DB", '{"user": "app", "password": "hunter2"}')
    with pytest.raises(ConfigError) as exc:
        resolve("${secret:db.pasword}", "acme")
    assert "${secret:db.pasword}" in str(exc.value) and "hunter2" not in str(exc.value)
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PLAIN", "hunter4")
    with pytest.raises(ConfigError) as exc:
        resolve("${secret:plain.key}", "acme")
    assert "not a JSON object" in str(exc.value) and "hunter4" not in str(exc.value)


def test_resolved_value_hides_itself_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PW", "hunter2")
    resolved = resolve({"password": "${secret:pw}", "dsn": "pg://u:${secret:pw}@h"}, "acme")
    password, dsn = resolved["password"], resolved["dsn"]
    assert isinstance(password, SecretValue) and isinstance(dsn, SecretValue)
    assert password == "hunter2" and dsn == "pg://u:hunter2@h"  # usable as a str
    assert "hunter2" not in repr(password) and "hunter2" not in repr(dsn)
    assert "hunter2" not in repr(resolved) and "hunter2" not in f"{password!r}"
