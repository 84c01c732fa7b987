"""Secret references, the env and filesystem providers, the cache, redaction, runner settings, the CLI."""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from dativo_workers import logging as dativo_logging
from dativo_workers.config import load_runner
from dativo_workers.errors import ConfigError, TransientError
from dativo_workers.plugins.hookspecs import hookimpl
from dativo_workers.plugins.manager import plugin_manager
from dativo_workers.secrets import (
    EnvSecretProvider,
    Resolver,
    SecretError,
    SecretProvider,
    SecretRef,
    SecretsConfig,
    SecretValue,
    active,
    redact,
    references,
    resolve,
    scrub_exception,
    scrubbing,
    use,
)
from dativo_workers.secrets.base import NoSettings
from dativo_workers.secrets.config import FilesystemSettings
from dativo_workers.secrets.filesystem import FilesystemSecretProvider
from dativo_workers.secrets.registry import create_provider, provider_classes


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(("DATIVO_SECRET__", "DATIVO_SECRETS__")):
            monkeypatch.delenv(key)
    use(SecretsConfig(cache_ttl_seconds=0))  # most tests change secrets between lookups
    redact.forget_all()
    yield
    for key in list(os.environ):  # `--secret-manager` exports DATIVO_SECRETS__PROVIDER on purpose
        if key.startswith("DATIVO_SECRETS__"):
            del os.environ[key]
    use(SecretsConfig())
    redact.forget_all()


def fs_resolver(root: Path, ttl: float = 0) -> Resolver:
    return Resolver(SecretsConfig(provider="filesystem", filesystem={"dir": str(root)}, cache_ttl_seconds=ttl))


# -- references ------------------------------------------------------------------------------


def test_references_found_in_nested_config() -> None:
    config = {
        "host": "localhost",
        "port": 5432,
        "user": "${secret:db.user}",
        "auth": {"password": "${secret:db.password}", "options": [None, "x", "${secret:api_token}"]},
        "dsn": "pg://${secret:db.user}:${secret:db-main@3}@h",
        "pinned": "${secret:db@AWSPREVIOUS.password}",
    }
    assert references(config) == [
        SecretRef("db", "user"),
        SecretRef("db", "password"),
        SecretRef("api_token"),
        SecretRef("db", "user"),
        SecretRef("db-main", version="3"),
        SecretRef("db", "password", "AWSPREVIOUS"),
    ]
    assert str(SecretRef("db", "password")) == "${secret:db.password}"
    assert str(SecretRef("db", "password", "7")) == "${secret:db@7.password}"
    assert str(SecretRef("token")) == "${secret:token}"
    assert references(["${VAR}", 3, {"a": "plain"}]) == []


@pytest.mark.parametrize(
    "reference",
    [
        "${secret:globex/db_password}",  # another tenant's place in filesystem, vault and aws layouts
        "${secret:globex--db_password}",  # ... in gcp and azure layouts
        "${secret:../globex/db}",
        "${secret:/etc/passwd}",
        "${secret:-db}",
        "${secret:db_}",
        "${secret:db__main}",  # azure turns it into db--main
        "${secret:}",
        "${secret:db.pass word}",
        "${secret:db@v 1}",
    ],
)
def test_a_malformed_reference_is_an_error_not_a_literal(reference: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBEX__DB_PASSWORD", "globex-pw")
    with pytest.raises(SecretError, match="secret reference") as exc:
        resolve({"password": reference}, "acme")
    assert reference in str(exc.value) and "globex-pw" not in str(exc.value)
    with pytest.raises(SecretError):
        references({"password": f"pg://u:{reference}@h"})


@pytest.mark.parametrize("tenant", ["acme_eu", "Acme", "ACME-EU", "acme--eu", "-acme", "acme-", "global", "a" * 64])
def test_a_lookup_for_an_invalid_tenant_id_is_refused(tenant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "global-token")
    with pytest.raises(SecretError, match="tenant id"):
        resolve("${secret:token}", tenant)
    with pytest.raises(SecretError, match="tenant id"):
        EnvSecretProvider().get(tenant, SecretRef("token"))


# -- env provider ------------------------------------------------------------------------------


def test_tenant_secret_wins_over_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "global-token")
    assert resolve({"t": "${secret:token}"}, "acme") == {"t": "global-token"}
    monkeypatch.setenv("DATIVO_SECRET__ACME__TOKEN", "acme-token")
    assert resolve({"t": "${secret:token}"}, "acme") == {"t": "acme-token"}
    assert resolve({"t": "${secret:token}"}, "other") == {"t": "global-token"}


def test_dashes_map_to_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME_EU__SHOP_DB", "s3cret")
    assert resolve("${secret:shop-db}", "acme-eu") == "s3cret"
    found = EnvSecretProvider().get("acme-eu", SecretRef("shop_db"))
    assert found is not None and found.text == "s3cret" and found.location == "DATIVO_SECRET__ACME_EU__SHOP_DB"


def test_env_prefix_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYCO__GLOBAL__TOKEN", "prefixed-token")
    resolver = Resolver(SecretsConfig(env={"prefix": "MYCO"}))
    assert resolver.resolve("${secret:token}", "acme") == "prefixed-token"


def test_key_selects_from_a_json_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__DB", '{"user": "app", "password": "pw", "port": 5432, "tls": true}')
    resolved = resolve(
        {"user": "${secret:db.user}", "password": "${secret:db.password}", "dsn": "pg://${secret:db.user}@h:5432"},
        "acme",
    )
    assert resolved == {"user": "app", "password": "pw", "dsn": "pg://app@h:5432"}
    assert resolve("${secret:db.port}", "acme") == "5432"
    assert resolve("${secret:db.tls}", "acme") == "true"


def test_values_without_references_are_unchanged() -> None:
    config = {"a": 1, "b": [True, None, "text"], "c": "${NOT_A_SECRET}"}
    assert resolve(config, "acme") == config


def test_missing_secret_names_the_reference_and_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME__DB", "hunter2-tenant")
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__API", "hunter3-global")
    with pytest.raises(ConfigError) as exc:
        resolve({"user": "${secret:db}", "password": "${secret:db_password}"}, "acme")
    text = str(exc.value)
    assert "${secret:db_password}" in text and "env provider" in text
    assert "DATIVO_SECRET__ACME__DB_PASSWORD" in text and "DATIVO_SECRET__GLOBAL__DB_PASSWORD" in text
    assert "hunter2" not in text and "hunter3" not in text


def test_missing_key_in_json_secret_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__DB", '{"user": "app", "password": "hunter2"}')
    with pytest.raises(SecretError) as exc:
        resolve("${secret:db.pasword}", "acme")
    assert "${secret:db.pasword}" in str(exc.value) and "hunter2" not in str(exc.value)
    assert "keys: password, user" in str(exc.value)  # names, to spot the typo; never values
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PLAIN", "hunter4")
    with pytest.raises(SecretError) as exc:
        resolve("${secret:plain.key}", "acme")
    assert "not JSON" in str(exc.value) and "hunter4" not in str(exc.value)


def test_env_provider_has_no_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "v")
    with pytest.raises(SecretError, match=r"\$\{secret:token@2\}.*no versions"):
        resolve("${secret:token@2}", "acme")


# -- the value type -----------------------------------------------------------------------------


def test_resolved_value_never_renders_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PW", "hunter2")
    resolved = resolve({"password": "${secret:pw}", "dsn": "pg://u:${secret:pw}@h"}, "acme")
    password, dsn = resolved["password"], resolved["dsn"]
    assert isinstance(password, SecretValue) and isinstance(dsn, SecretValue)
    assert password == "hunter2" and dsn == "pg://u:hunter2@h"  # equal to, and usable as, the text
    assert password.encode() == b"hunter2" and password + "!" == "hunter2!" and len(password) == 7
    assert password.reveal() == "hunter2" and type(password.reveal()) is str
    rendered = [repr(password), str(password), f"{password}", "%s" % password, "{}".format(password)]  # noqa: UP031, UP032
    rendered += [repr(resolved), str(resolved), f"{dsn:>20}"]
    for text in rendered:
        assert "hunter2" not in text
    assert str(password) == "***"
    assert pickle.loads(pickle.dumps(password)).reveal() == "hunter2"  # not the mask


# -- cache -----------------------------------------------------------------------------------


class _Remote(SecretProvider):
    """A remote-like store (cached like vault/aws/gcp/azure) that counts its fetches."""

    name = "remote"

    def __init__(self) -> None:
        super().__init__(NoSettings())
        self.values: dict[str, str] = {}
        self.fetches = 0

    def fetch(self, location: str, version: str | None) -> str | None:
        self.fetches += 1
        return self.values.get(location)


def test_cache_keeps_a_value_until_its_ttl_then_sees_the_rotation() -> None:
    now = [1000.0]
    store = _Remote()
    resolver = Resolver(SecretsConfig(cache_ttl_seconds=60), store)
    resolver.clock = lambda: now[0]
    store.values["acme/pw"] = "old-password"
    assert resolver.resolve("${secret:pw}", "acme") == "old-password"
    store.values["acme/pw"] = "new-password"
    now[0] += 59
    assert resolver.resolve("${secret:pw}", "acme") == "old-password"  # cached
    assert store.fetches == 1
    now[0] += 2
    assert resolver.resolve("${secret:pw}", "acme") == "new-password"  # expired: fetched again
    store.values["acme/pw"] = "newer-password"
    resolver.invalidate()
    assert resolver.resolve("${secret:pw}", "acme") == "newer-password"


def test_cache_is_per_tenant_and_misses_are_not_cached() -> None:
    store = _Remote()
    resolver = Resolver(SecretsConfig(cache_ttl_seconds=600), store)
    store.values.update({"acme/pw": "acme-pw", "pw": "global-pw"})
    assert resolver.resolve("${secret:pw}", "acme") == "acme-pw"
    assert resolver.resolve("${secret:pw}", "other") == "global-pw"
    with pytest.raises(SecretError):
        resolver.resolve("${secret:later}", "acme")
    store.values["later"] = "created-later"
    assert resolver.resolve("${secret:later}", "acme") == "created-later"


def test_local_providers_are_read_fresh_whatever_the_ttl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = Resolver(SecretsConfig(cache_ttl_seconds=600))
    monkeypatch.setenv("DATIVO_SECRET__ACME__PW", "old-password")
    assert env.resolve("${secret:pw}", "acme") == "old-password"
    monkeypatch.setenv("DATIVO_SECRET__ACME__PW", "rotated")
    assert env.resolve("${secret:pw}", "acme") == "rotated"
    files = Resolver(SecretsConfig(provider="filesystem", filesystem={"dir": str(tmp_path)}, cache_ttl_seconds=600))
    (tmp_path / "pw").write_text("mounted")
    assert files.resolve("${secret:pw}", "acme") == "mounted"
    (tmp_path / "pw").write_text("remounted")  # what a Kubernetes secret update does
    assert files.resolve("${secret:pw}", "acme") == "remounted"


def test_use_switches_provider_and_keeps_the_cache_for_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(SecretsConfig(cache_ttl_seconds=600))
    first = active()
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PW", "env-value")
    assert resolve("${secret:pw}", "acme") == "env-value"
    use(SecretsConfig(cache_ttl_seconds=600))  # a worker re-loading the same runner config
    assert active() is first
    (tmp_path / "pw").write_text("file-value\n")
    use(SecretsConfig(provider="filesystem", filesystem={"dir": str(tmp_path)}))
    assert active() is not first and resolve("${secret:pw}", "acme") == "file-value"


# -- filesystem provider -----------------------------------------------------------------------


def test_filesystem_tenant_file_then_global_json_and_env_files(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "token").write_text("acme-token\n")
    (tmp_path / "token").write_text("global-token")
    (tmp_path / "db.json").write_text(json.dumps({"user": "app", "password": "json-pw"}))
    (tmp_path / "acme" / "smtp.env").write_text(
        textwrap.dedent(
            """
            # mail relay
            export SMTP_USER=mailer
            SMTP_PASSWORD="env-file-pw"
            """
        )
    )
    (tmp_path / "api_key").write_text("crlf-key\r\n")
    (tmp_path / "globex").mkdir()
    (tmp_path / "globex" / "token").write_text("globex-token")
    resolver = fs_resolver(tmp_path)
    assert resolver.resolve("${secret:token}", "acme") == "acme-token"  # final newline dropped
    assert resolver.resolve("${secret:token}", "other") == "global-token"
    assert resolver.resolve("${secret:db.password}", "acme") == "json-pw"
    assert resolver.resolve("${secret:smtp.SMTP_PASSWORD}", "acme") == "env-file-pw"
    assert resolver.resolve("${secret:smtp.SMTP_USER}", "acme") == "mailer"
    assert resolver.resolve("${secret:api_key}", "acme") == "crlf-key"
    with pytest.raises(SecretError, match="one segment"):  # no NAME reaches into another tenant's directory
        resolver.resolve("${secret:globex/token}", "acme")
    with pytest.raises(SecretError) as exc:
        resolver.resolve("${secret:smtp}", "other")
    assert f"{tmp_path}/other/smtp" in str(exc.value) and f"{tmp_path}/smtp" in str(exc.value)


def test_filesystem_refuses_names_that_leave_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    root.mkdir()
    (tmp_path / "outside").write_text("not-for-you")
    (root / "link").symlink_to(tmp_path / "outside")
    resolver = fs_resolver(root)
    for ref, why in (("${secret:/etc/passwd}", "one segment"), ("${secret:link}", "outside the secrets directory")):
        with pytest.raises(SecretError, match=why) as exc:
            resolver.resolve(ref, "acme")
        assert "not-for-you" not in str(exc.value)
    provider = FilesystemSecretProvider(FilesystemSettings(dir=str(root)))
    with pytest.raises(SecretError, match="outside"):
        provider.fetch("../outside", None)


def test_filesystem_follows_kubernetes_symlinks_inside_the_mount(tmp_path: Path) -> None:
    # a projected secret volume: <dir>/password -> ..data/password, ..data -> ..2026_01_01_xx
    (tmp_path / "..2026_01_01").mkdir()
    (tmp_path / "..2026_01_01" / "password").write_text("k8s-mounted")
    (tmp_path / "..data").symlink_to("..2026_01_01")
    (tmp_path / "password").symlink_to("..data/password")
    assert fs_resolver(tmp_path).resolve("${secret:password}", "acme") == "k8s-mounted"


def test_filesystem_bad_env_file_names_the_line_not_its_text(tmp_path: Path) -> None:
    (tmp_path / "creds.env").write_text("USER=app\nthis-line-is-secret-material\n")
    with pytest.raises(SecretError) as exc:
        fs_resolver(tmp_path).resolve("${secret:creds.USER}", "acme")
    assert "creds.env:2" in str(exc.value) and "secret-material" not in str(exc.value)


# -- redaction -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    yield
    root.handlers = saved
    structlog.reset_defaults()


def test_log_events_mask_every_resolved_value(
    monkeypatch: pytest.MonkeyPatch, fresh_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    captured_logs = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured_logs)  # in the test: pytest swaps stderr per phase
    dativo_logging.configure("info", "json")
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__DB", json.dumps({"password": "p@ss w/rd:42", "user": "app"}))
    conn = resolve({"password": "${secret:db.password}"}, "acme")
    log = structlog.get_logger("test")
    plain = conn["password"].reveal()
    log.info("connecting", dsn=f"mysql://app:{plain}@db/x", nested={"args": [plain, 3]}, obj=ValueError(plain))
    log.info("url-encoded", url="mysql://app:p%40ss%20w%2Frd%3A42@db/x")
    try:
        raise RuntimeError(f"login failed with {plain}")
    except RuntimeError:
        log.exception("boom")
    logging.getLogger("library").warning("stdlib says %s", plain)
    text = captured_logs.getvalue()
    assert "p@ss w/rd:42" not in text and "p%40ss%20w%2Frd%3A42" not in text
    assert text.count("***") == 5, text
    assert "connecting" in text and "login failed with ***" in text
    # stdlib records: the filter sits on every root handler (here pytest's own)
    assert "stdlib says ***" in caplog.text and "p@ss w/rd:42" not in caplog.text


def test_short_values_are_not_masked_in_free_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__PIN", "123")
    resolve("${secret:pin}", "acme")
    assert redact.mask("order 1234 shipped") == "order 1234 shipped"


def test_exception_text_is_scrubbed_keeping_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "tok-abcdef-123")
    token = resolve("${secret:token}", "acme").reveal()

    class DriverError(ConnectionError):
        pass

    try:
        try:
            raise KeyError(token)
        except KeyError as inner:
            raise DriverError(f"auth with {token} refused", 401) from inner
    except DriverError as exc:
        clean = scrub_exception(exc)
    assert isinstance(clean, DriverError)  # retry decisions look at the type
    assert token not in str(clean) and "auth with *** refused" in str(clean)
    assert clean.__cause__ is not None and token not in str(clean.__cause__)

    class Stubborn(Exception):
        def __str__(self) -> str:
            return f"kept elsewhere: {token}"

    replaced = scrub_exception(Stubborn())
    assert type(replaced).__name__ == "SecretRedactedError" and token not in str(replaced)
    assert str(replaced) == "Stubborn: kept elsewhere: ***"


def test_scrubbing_wraps_calls_and_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__TOKEN", "tok-abcdef-123")
    token = resolve("${secret:token}", "acme").reveal()

    @scrubbing
    def connect() -> None:
        raise OSError(f"cannot connect as {token}")

    @scrubbing
    def rows() -> Iterator[int]:
        yield 1
        raise ValueError(f"row 2 mentions {token}")

    with pytest.raises(OSError) as exc:
        connect()
    assert token not in str(exc.value)
    gen = rows()
    assert next(gen) == 1
    with pytest.raises(ValueError) as exc2:
        next(gen)
    assert token not in str(exc2.value) and "***" in str(exc2.value)


# -- runner settings, registry, plugins ----------------------------------------------------------


def write_runner(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "runner.yaml"
    path.write_text("runner:\n  ledger_url: sqlite:////tmp/x.db\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def test_runner_secrets_blocks_are_typed_and_validated(tmp_path: Path) -> None:
    path = write_runner(
        tmp_path,
        """
        secrets:
          provider: vault
          vault: {url: "http://vault:8200", mount: kv, kv_version: 1, verify: /etc/ca.pem}
          aws: {region: eu-west-1}
        """,
    )
    config = load_runner(path).secrets
    assert config.provider == "vault" and config.vault.kv_version == 1 and config.vault.verify == "/etc/ca.pem"
    assert config.aws.region == "eu-west-1" and config.filesystem.dir == "/run/secrets"

    path = write_runner(tmp_path, "secrets:\n  vault: {url: x, kv_verison: 2}\n")
    with pytest.raises(ConfigError) as exc:
        load_runner(path)
    assert "runner.secrets.vault.kv_verison: unknown key" in str(exc.value)

    path = write_runner(tmp_path, "secrets:\n  provider: gcp\n")
    with pytest.raises(ConfigError, match=r"gcp.project is required when provider is gcp"):
        load_runner(path)

    path = write_runner(tmp_path, "secrets:\n  provider: vualt\n")
    with pytest.raises(ConfigError, match=r"unknown secret provider 'vualt' \(installed: aws, azure, env"):
        load_runner(path)


def test_provider_and_settings_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_runner(tmp_path, "secrets:\n  provider: env\n")
    monkeypatch.setenv("DATIVO_SECRETS__PROVIDER", "filesystem")
    monkeypatch.setenv("DATIVO_SECRETS__FILESYSTEM__DIR", str(tmp_path))
    monkeypatch.setenv("DATIVO_SECRETS__VAULT__VERIFY", "false")
    config = load_runner(path).secrets
    assert config.provider == "filesystem" and config.filesystem.dir == str(tmp_path)
    assert config.vault.verify is False
    (tmp_path / "token").write_text("from-a-file")
    assert resolve("${secret:token}", "acme") == "from-a-file"  # loading the runner chose the provider


def test_vault_token_never_shows_in_the_settings(tmp_path: Path) -> None:
    path = write_runner(tmp_path, "secrets:\n  vault: {token: hvs.very-secret-token}\n")
    config = load_runner(path)
    assert "very-secret-token" not in repr(config) and "very-secret-token" not in str(config.model_dump(mode="json"))


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module, provider, extra, settings in (
        ("hvac", "vault", "vault", {}),
        ("boto3", "aws", "aws", {}),
        ("google.cloud.secretmanager", "gcp", "gcp", {"gcp": {"project": "p"}}),
        ("azure.keyvault.secrets", "azure", "azure", {"azure": {"vault_url": "https://v.vault.azure.net"}}),
    ):
        monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like to import
        with pytest.raises(SecretError) as exc:
            create_provider(SecretsConfig(provider=provider, **settings))
        assert f"pip install 'dativo-workers[{extra}]'" in str(exc.value)


class _DictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, str] = {}


class DictProvider(SecretProvider):
    """A third-party provider: secrets from its own settings block."""

    name = "dict"
    settings_model: ClassVar[type[BaseModel]] = _DictSettings

    def fetch(self, location: str, version: str | None) -> str | None:
        return self.settings.values.get(location)  # type: ignore[attr-defined]


@pytest.fixture
def dict_plugin() -> Iterator[None]:
    module = types.ModuleType("dict_secrets_plugin")

    @hookimpl
    def dativo_secret_providers() -> list[type[SecretProvider]]:
        return [DictProvider]

    module.dativo_secret_providers = dativo_secret_providers  # type: ignore[attr-defined]
    plugin_manager().register(module)
    provider_classes.cache_clear()
    yield
    plugin_manager().unregister(module)
    provider_classes.cache_clear()


def test_a_plugin_registers_a_provider_through_the_hook(tmp_path: Path, dict_plugin: None) -> None:
    assert provider_classes()["dict"] is DictProvider
    path = write_runner(tmp_path, "secrets:\n  provider: dict\n  dict: {values: {acme/token: from-plugin}}\n")
    config = load_runner(path).secrets
    assert config.provider == "dict"
    assert resolve("${secret:token}", "acme") == "from-plugin"
    with pytest.raises(SecretError, match=r"\$\{secret:token\} not found by the dict provider"):
        resolve("${secret:token}", "other")


def test_unreachable_store_is_a_transient_error() -> None:
    from dativo_workers.retry import is_transient
    from dativo_workers.secrets import SecretUnavailable

    assert isinstance(SecretUnavailable("x"), TransientError) and is_transient(SecretUnavailable("x"))
    assert not is_transient(SecretError("x"))


# -- `dativo secrets check` ----------------------------------------------------------------------


def _check_job(tmp_path: Path) -> Path:
    job = tmp_path / "job.yaml"
    job.write_text(
        textwrap.dedent(
            """
            tenant_id: acme
            source:
              connector: csv
              files: [{path: data.csv}]
              connection: {user: "${secret:db.user}", password: "${secret:db.password}", token: "${secret:api}"}
            target: {namespace: acme, table: t}
            """
        )
    )
    return job


def run_cli(*args: str) -> Any:
    from dativo_workers.cli import app

    return CliRunner().invoke(app, list(args))


def test_secrets_check_lists_references_and_fails_on_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _check_job(tmp_path)
    runner = write_runner(tmp_path, "secrets: {provider: env}\n")
    monkeypatch.setenv("DATIVO_SECRET__ACME__DB", json.dumps({"user": "app", "password": "hunter2-db"}))
    result = run_cli("secrets", "check", str(job), "--runner", str(runner), "--json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    by_ref = {r["reference"]: r for r in report["references"]}
    assert by_ref["${secret:db.password}"]["ok"] and by_ref["${secret:db.password}"]["provider"] == "env"
    assert by_ref["${secret:db.password}"]["detail"] == "DATIVO_SECRET__ACME__DB"
    assert by_ref["${secret:db.password}"]["used_at"] == "source.connection.password"
    assert not by_ref["${secret:api}"]["ok"] and "DATIVO_SECRET__GLOBAL__API" in by_ref["${secret:api}"]["detail"]
    assert "hunter2" not in result.output and "app" not in json.dumps([r["detail"] for r in report["references"]])

    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__API", "api-token-value")
    result = run_cli("secrets", "check", str(job), "--runner", str(runner))
    assert result.exit_code == 0, result.output
    assert "${secret:api}" in result.output and "api-token-value" not in result.output

    # the target catalog's credentials are references too
    runner.write_text(
        runner.read_text()
        + "  catalogs:\n    default:\n      uri: sqlite:////tmp/c.db\n"
        + '      s3.secret-access-key: "${secret:s3.secret_key}"\n'
    )
    result = run_cli("secrets", "check", str(job), "--runner", str(runner), "--json")
    catalog_refs = [r for r in json.loads(result.stdout)["references"] if r["used_at"].startswith("runner.")]
    assert [(r["reference"], r["used_at"], r["ok"]) for r in catalog_refs] == [
        ("${secret:s3.secret_key}", "runner.catalogs.default.s3.secret-access-key", False)
    ]
    assert result.exit_code == 2


def test_secret_manager_option_overrides_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _check_job(tmp_path)
    secrets_dir = tmp_path / "mounted"
    (secrets_dir / "acme").mkdir(parents=True)
    (secrets_dir / "acme" / "db.json").write_text(json.dumps({"user": "app", "password": "pw-from-file"}))
    (secrets_dir / "api").write_text("api-from-file")
    runner = write_runner(tmp_path, f"secrets:\n  provider: env\n  filesystem: {{dir: {secrets_dir}}}\n")
    assert run_cli("secrets", "check", str(job), "--runner", str(runner)).exit_code == 2  # env has none
    result = run_cli("secrets", "check", str(job), "--runner", str(runner), "--secret-manager", "filesystem", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {r["provider"] for r in report["references"]} == {"filesystem"}
    assert os.environ["DATIVO_SECRETS__PROVIDER"] == "filesystem"  # exported for the processes it starts


def test_reader_errors_are_scrubbed_and_auth_failures_name_the_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dativo_workers.config import load_job
    from dativo_workers.plugins.manager import create_reader

    (tmp_path / "authreader.py").write_text(
        textwrap.dedent(
            """
            import pyarrow as pa
            from dativo_workers.plugins import DataReader, Partition, PluginSettings

            class AuthReader(DataReader):
                name = "auth"
                config_model = PluginSettings

                def plan(self):
                    raise PermissionError("login failed for " + self.context.connection["password"].reveal())

                def schema(self):
                    return pa.schema([("id", pa.int64())])

                def read(self, partition, schema):
                    yield pa.table({"id": [1]})
                    raise ValueError("row 2: token " + self.context.connection["password"].reveal() + " leaked")
            """
        )
    )
    job = tmp_path / "job.yaml"
    job.write_text(
        textwrap.dedent(
            """
            tenant_id: acme
            source:
              reader: {type: plugin, plugin_path: authreader.AuthReader}
              connection: {password: "${secret:api.password}"}
            target: {namespace: acme, table: t}
            """
        )
    )
    monkeypatch.setenv("DATIVO_SECRET__ACME__API", json.dumps({"password": "pw-0123456789"}))
    reader = create_reader(load_job(job))
    with pytest.raises(PermissionError) as exc:
        reader.plan()
    text = str(exc.value)
    assert "pw-0123456789" not in text and "login failed for ***" in text
    assert "${secret:api.password}" in text and "dativo secrets check" in text
    batches = reader.read(None, None)  # type: ignore[arg-type]
    assert next(batches).num_rows == 1
    with pytest.raises(ValueError) as exc2:
        next(batches)
    assert str(exc2.value) == "row 2: token *** leaked"  # not an auth failure: no hint


def test_worker_flag_reaches_the_worker_processes_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dativo_workers import celery_app

    runner = write_runner(tmp_path, "secrets: {provider: env}\n")
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(runner))  # restored afterwards: the CLI exports it
    started: list[str] = []

    def worker_main(argv: list[str]) -> None:
        # what a Celery worker process does for each task: load its own runner config
        started.append(load_runner(None).secrets.provider)

    monkeypatch.setattr(celery_app.app, "worker_main", worker_main)
    result = run_cli("worker", "--runner", str(runner), "--secret-manager", "filesystem")
    assert result.exit_code == 0, result.output
    assert started == ["filesystem"] and os.environ["DATIVO_SECRETS__PROVIDER"] == "filesystem"
    assert active().config.provider == "filesystem"
