"""Each secret provider through its real client library.

AWS: boto3 against moto's server on loopback. Vault (hvac), GCP (google-cloud-secret-manager,
REST transport) and Azure (azure-keyvault-secrets + azure-identity, over TLS): small HTTP servers
written here that speak the part of each service's API the provider uses; the client libraries,
their auth flows and their error mapping are the real ones.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dativo_workers.secrets import Resolver, SecretError, SecretsConfig, SecretUnavailable, check, references

from .fleet import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Reply = tuple[int, Any, dict[str, str]]
Handler = Callable[[str, str, dict[str, str], bytes], Reply]


class JsonServer:
    """A threaded HTTP(S) server on loopback answering JSON through ``handler``."""

    def __init__(self, handler: Handler, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers))
                status, reply, extra = handler(self.command, self.path, headers, body)
                data = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (it is its own CA bundle)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    root = tmp_path_factory.mktemp("tls")
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def resolver(provider: str, **settings: Any) -> Resolver:
    return Resolver(SecretsConfig(provider=provider, cache_ttl_seconds=0, **{provider: settings}))


# ================================ AWS Secrets Manager (moto) ================================


@dataclass
class AwsStore:
    endpoint: str
    client: Any
    versions: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def aws_store() -> Iterator[AwsStore]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "secretsmanager",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    store = AwsStore(endpoint, client)
    client.create_secret(Name="acme/db", SecretString=json.dumps({"user": "acme_app", "password": "aws-pw-v1"}))
    store.versions["v1"] = client.describe_secret(SecretId="acme/db")["VersionIdsToStages"]
    rotated = client.put_secret_value(
        SecretId="acme/db", SecretString=json.dumps({"user": "acme_app", "password": "aws-pw-v2"})
    )
    store.versions["v2"] = rotated["VersionId"]
    client.create_secret(Name="db", SecretString=json.dumps({"user": "global_app", "password": "aws-global-pw"}))
    client.create_secret(Name="api_token", SecretString="aws-plain-token")
    client.create_secret(Name="cert", SecretBinary=b"binary-but-utf8")
    client.create_secret(Name="globex/db", SecretString=json.dumps({"password": "aws-globex-pw"}))
    try:
        yield store
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the provider uses the SDK's default credential chain, as on a real host
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_aws_tenant_then_global_with_keys_and_plain_values(aws_store: AwsStore, aws_env: None) -> None:
    r = resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint)
    assert r.resolve("${secret:db.password}", "acme") == "aws-pw-v2"  # acme/db, current version
    assert r.resolve("${secret:db.user}", "other") == "global_app"  # no other/db: the global db
    assert r.resolve("${secret:api_token}", "acme") == "aws-plain-token"
    assert r.resolve("${secret:cert}", "acme") == "binary-but-utf8"


def test_aws_versions_by_stage_and_id(aws_store: AwsStore, aws_env: None) -> None:
    r = resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint)
    assert r.resolve("${secret:db@AWSPREVIOUS.password}", "acme") == "aws-pw-v1"
    assert r.resolve("${secret:db@AWSCURRENT.password}", "acme") == "aws-pw-v2"
    assert r.resolve(f"${{secret:db@{aws_store.versions['v2']}.password}}", "acme") == "aws-pw-v2"
    pinned = resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint, version_stage="AWSPREVIOUS")
    assert pinned.resolve("${secret:db.password}", "acme") == "aws-pw-v1"


def test_aws_missing_secret_names_both_ids_and_no_value(aws_store: AwsStore, aws_env: None) -> None:
    r = resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint)
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:nope.password}", "acme")
    text = str(exc.value)
    assert "${secret:nope.password}" in text and "'acme/nope'" in text and "'nope'" in text
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:db.passwd}", "acme")
    assert "aws-pw" not in str(exc.value) and "keys: password, user" in str(exc.value)


def test_aws_unreachable_endpoint_is_transient(aws_env: None) -> None:
    r = resolver("aws", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    r.provider._session._session.set_config_variable("max_attempts", 1)  # type: ignore[attr-defined]
    with pytest.raises(SecretUnavailable, match="secret id 'acme/db'"):
        r.resolve("${secret:db.password}", "acme")


# ======================================= Vault (hvac) =======================================


@dataclass
class VaultState:
    kv2: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> versions (1-based)
    kv1: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> {ttl, renewable}
    approle: tuple[str, str] = ("role-1", "secret-id-1")
    namespace: str | None = None
    renewals: int = 0
    logins: int = 0


def vault_handler(state: VaultState) -> Handler:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urllib.parse.urlsplit(path)
        parts = url.path.removeprefix("/v1/")
        if state.namespace and headers.get("x-vault-namespace") != state.namespace:
            return 403, {"errors": ["namespace not authorized"]}, {}
        if method == "POST" and parts == "auth/approle/login":
            creds = json.loads(body or b"{}")
            if (creds.get("role_id"), creds.get("secret_id")) != state.approle:
                return 400, {"errors": ["invalid role or secret ID"]}, {}
            token = f"hvs.approle-{uuid.uuid4().hex[:8]}"
            state.tokens[token] = {"ttl": 60, "renewable": True}
            state.logins += 1
            auth = {"client_token": token, "lease_duration": 60, "renewable": True, "policies": ["default"]}
            return 200, {"auth": auth}, {}
        token = headers.get("x-vault-token")
        if token not in state.tokens:
            return 403, {"errors": ["permission denied"]}, {}
        if parts == "auth/token/lookup-self":
            return 200, {"data": state.tokens[token]}, {}
        if parts == "auth/token/renew-self":
            state.renewals += 1
            info = state.tokens[token]
            return 200, {"auth": {"client_token": token, "lease_duration": info["ttl"], "renewable": True}}, {}
        mount, _, rest = parts.partition("/")
        if mount == "secret" and rest.startswith("data/"):
            versions = state.kv2.get(rest.removeprefix("data/"))
            if not versions:
                return 404, {"errors": []}, {}
            wanted = urllib.parse.parse_qs(url.query).get("version", [str(len(versions))])[0]
            number = int(wanted) or len(versions)
            if number > len(versions):
                return 404, {"errors": []}, {}
            meta = {"version": number, "deletion_time": "", "destroyed": False}
            return 200, {"data": {"data": versions[number - 1], "metadata": meta}}, {}
        if mount == "kv1" and rest in state.kv1:
            return 200, {"data": state.kv1[rest], "lease_duration": 2764800}, {}
        return 404, {"errors": []}, {}

    return handle


@pytest.fixture
def vault() -> Iterator[tuple[JsonServer, VaultState]]:
    state = VaultState(
        kv2={
            "acme/db": [
                {"user": "acme_app", "password": "vault-pw-v1"},
                {"user": "acme_app", "password": "vault-pw-v2"},
            ],
            "db": [{"user": "global_app", "password": "vault-global-pw"}],
            "api_token": [{"value": "vault-plain-token"}],
            "globex/db": [{"password": "vault-globex-pw"}],
        },
        kv1={"acme/db": {"password": "vault-kv1-pw"}},
        tokens={"hvs.root-token": {"ttl": 0, "renewable": False}, "hvs.short": {"ttl": 10, "renewable": True}},
    )
    server = JsonServer(vault_handler(state))
    yield server, state
    server.close()


def test_vault_token_kv2_tenant_then_global_keys_and_versions(vault: tuple[JsonServer, VaultState]) -> None:
    server, _ = vault
    r = resolver("vault", url=server.url, token="hvs.root-token")
    assert r.resolve("${secret:db.password}", "acme") == "vault-pw-v2"
    assert r.resolve("${secret:db@1.password}", "acme") == "vault-pw-v1"
    assert r.resolve("${secret:db.user}", "other") == "global_app"
    assert r.resolve("${secret:api_token}", "acme") == "vault-plain-token"  # a lone `value` key
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:missing}", "acme")
    assert "secret/data/acme/missing" in str(exc.value) and "secret/data/missing" in str(exc.value)


def test_vault_kv1_mount(vault: tuple[JsonServer, VaultState]) -> None:
    server, _ = vault
    r = resolver("vault", url=server.url, token="hvs.root-token", mount="kv1", kv_version=1)
    assert r.resolve("${secret:db.password}", "acme") == "vault-kv1-pw"


def test_vault_wrong_token_is_refused_without_leaking_it(vault: tuple[JsonServer, VaultState]) -> None:
    server, _ = vault
    r = resolver("vault", url=server.url, token="hvs.wrong-token-value")
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:db.password}", "acme")
    assert "permission denied" in str(exc.value) and "hvs.wrong-token-value" not in str(exc.value)


def test_vault_approle_login_and_relogin_after_revocation(vault: tuple[JsonServer, VaultState]) -> None:
    server, state = vault
    r = resolver("vault", url=server.url, role_id="role-1", secret_id="secret-id-1")
    assert r.resolve("${secret:db.password}", "acme") == "vault-pw-v2"
    assert state.logins == 1
    state.tokens = {k: v for k, v in state.tokens.items() if not k.startswith("hvs.approle")}  # revoked
    assert r.resolve("${secret:db.password}", "acme") == "vault-pw-v2"
    assert state.logins == 2
    bad = resolver("vault", url=server.url, role_id="role-1", secret_id="not-the-secret-id")
    with pytest.raises(SecretError, match=r"AppRole login at auth/approle/login failed") as exc:
        bad.resolve("${secret:db.password}", "acme")
    assert "not-the-secret-id" not in str(exc.value)


def test_vault_renews_a_token_at_half_its_ttl(vault: tuple[JsonServer, VaultState]) -> None:
    server, state = vault
    r = resolver("vault", url=server.url, token="hvs.short")
    now = [100.0]
    r.provider.clock = lambda: now[0]  # type: ignore[attr-defined]
    assert r.resolve("${secret:db.password}", "acme") == "vault-pw-v2"  # lookup-self: ttl 10
    now[0] += 4
    r.resolve("${secret:db.password}", "acme")
    assert state.renewals == 0
    now[0] += 2  # past half the TTL
    r.resolve("${secret:db.password}", "acme")
    assert state.renewals == 1
    paths = [p for _, p, _ in server.requests]
    assert paths.count("/v1/auth/token/lookup-self") == 1 and paths.count("/v1/auth/token/renew-self") == 1


def test_vault_namespace_header(vault: tuple[JsonServer, VaultState]) -> None:
    server, state = vault
    state.namespace = "team-a"
    with pytest.raises(SecretError):
        resolver("vault", url=server.url, token="hvs.root-token").resolve("${secret:db.password}", "acme")
    r = resolver("vault", url=server.url, token="hvs.root-token", namespace="team-a")
    assert r.resolve("${secret:db.password}", "acme") == "vault-pw-v2"


def test_vault_over_tls_with_a_ca_bundle(tls_files: tuple[Path, Path]) -> None:
    state = VaultState(kv2={"db": [{"password": "vault-tls-pw"}]}, tokens={"hvs.t": {"ttl": 0, "renewable": False}})
    server = JsonServer(vault_handler(state), tls=tls_files)
    try:
        trusted = resolver("vault", url=server.url, token="hvs.t", verify=str(tls_files[0]))
        assert trusted.resolve("${secret:db.password}", "acme") == "vault-tls-pw"
        untrusted = resolver("vault", url=server.url, token="hvs.t")  # the system CAs do not know it
        with pytest.raises(SecretUnavailable, match="Vault unreachable"):
            untrusted.resolve("${secret:db.password}", "acme")
    finally:
        server.close()


def test_vault_unreachable_is_transient() -> None:
    r = resolver("vault", url=f"http://127.0.0.1:{free_port()}", token="hvs.t", timeout_seconds=2)
    with pytest.raises(SecretUnavailable):
        r.resolve("${secret:db.password}", "acme")


# ================================= GCP Secret Manager (REST) =================================


def gcp_handler(project: str, secrets: dict[str, list[str]]) -> Handler:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        route = urllib.parse.urlsplit(path).path
        prefix = f"/v1/projects/{project}/secrets/"
        if method != "GET" or not route.startswith(prefix) or not route.endswith(":access"):
            return 404, {"error": {"code": 404, "message": "no such route", "status": "NOT_FOUND"}}, {}
        secret_id, _, version = route.removeprefix(prefix).removesuffix(":access").partition("/versions/")
        versions = secrets.get(secret_id)
        number = (len(versions) if version == "latest" else int(version)) if versions else 0
        if not versions or not 0 < number <= len(versions):
            message = f"Secret [projects/{project}/secrets/{secret_id}] not found or has no versions."
            return 404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}, {}
        data = base64.b64encode(versions[number - 1].encode()).decode()
        name = f"projects/{project}/secrets/{secret_id}/versions/{number}"
        return 200, {"name": name, "payload": {"data": data}}, {}

    return handle


@pytest.fixture
def gcp() -> Iterator[JsonServer]:
    server = JsonServer(
        gcp_handler(
            "proj-1",
            {
                "acme--db": [json.dumps({"password": "gcp-pw-v1"}), json.dumps({"password": "gcp-pw-v2"})],
                "db": [json.dumps({"password": "gcp-global-pw"})],
                "acme--api-token": ["gcp-plain-token"],
                "globex--db": [json.dumps({"password": "gcp-globex-pw"})],
            },
        )
    )
    yield server
    server.close()


def test_gcp_tenant_then_global_keys_and_versions(gcp: JsonServer) -> None:
    r = resolver("gcp", project="proj-1", endpoint=gcp.url, anonymous=True)
    assert r.resolve("${secret:db.password}", "acme") == "gcp-pw-v2"  # latest
    assert r.resolve("${secret:db@1.password}", "acme") == "gcp-pw-v1"
    assert r.resolve("${secret:db.password}", "other") == "gcp-global-pw"
    assert r.resolve("${secret:api-token}", "acme") == "gcp-plain-token"
    pinned = resolver("gcp", project="proj-1", endpoint=gcp.url, anonymous=True, version="1")
    assert pinned.resolve("${secret:db.password}", "acme") == "gcp-pw-v1"
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:nope}", "acme")
    assert "projects/proj-1/secrets/acme--nope" in str(exc.value) and "projects/proj-1/secrets/nope" in str(exc.value)


def test_gcp_unreachable_is_transient() -> None:
    r = resolver("gcp", project="proj-1", endpoint=f"http://127.0.0.1:{free_port()}", anonymous=True)
    with pytest.raises(SecretUnavailable, match="acme--db"):
        r.resolve("${secret:db.password}", "acme")


# ================================ Azure Key Vault (over TLS) =================================


@dataclass
class AzureState:
    secrets: dict[str, dict[str, str]]  # name -> version -> value (insertion order: newest last)
    issued: set[str] = field(default_factory=set)
    token_requests: list[str] = field(default_factory=list)


def azure_handler(state: AzureState, host: Callable[[], str]) -> Handler:
    """Entra ID (OIDC metadata + client-credentials token) and Key Vault's secret GET."""

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        route = urllib.parse.urlsplit(path).path
        if route.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = route.split("/")[1]
            base = f"{host()}/{tenant}"
            return (
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
                {},
            )
        if method == "POST" and route.endswith("/oauth2/v2.0/token"):
            form = urllib.parse.parse_qs(body.decode())
            state.token_requests.append(form.get("client_id", [""])[0])
            if form.get("client_secret") != ["entra-client-secret"]:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"}, {}
            token = f"kv-token-{uuid.uuid4().hex[:8]}"
            state.issued.add(token)
            return 200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token}, {}
        if route.startswith("/secrets/"):
            bearer = headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in state.issued:
                challenge = f'Bearer authorization="{host()}/tenant-1", resource="https://vault.azure.net"'
                return 401, {"error": {"code": "Unauthorized", "message": "no token"}}, {"WWW-Authenticate": challenge}
            name, _, version = route.removeprefix("/secrets/").partition("/")
            versions = state.secrets.get(name, {})
            version = version or (list(versions)[-1] if versions else "")
            if version not in versions:
                return (
                    404,
                    {"error": {"code": "SecretNotFound", "message": f"A secret with name {name} was not found"}},
                    {},
                )
            return 200, {"value": versions[version], "id": f"{host()}/secrets/{name}/{version}", "attributes": {}}, {}
        return 404, {"error": {"code": "NotFound"}}, {}

    return handle


@pytest.fixture
def azure(tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[JsonServer, AzureState]]:
    state = AzureState(
        secrets={
            "acme--db": {"v1": json.dumps({"password": "az-pw-v1"}), "v2": json.dumps({"password": "az-pw-v2"})},
            "db": {"g1": json.dumps({"password": "az-global-pw"})},
            "acme--api-token": {"t1": "az-plain-token"},  # ${secret:api_token}: Key Vault names have no '_'
            "globex--db": {"x1": json.dumps({"password": "az-globex-pw"})},
        }
    )
    holder: list[JsonServer] = []
    server = JsonServer(azure_handler(state, lambda: holder[0].url), tls=tls_files)
    holder.append(server)
    # DefaultAzureCredential's first link: a service principal from the environment
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    monkeypatch.setenv("AZURE_CLIENT_ID", "dativo-worker")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "entra-client-secret")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", server.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files[0]))
    yield server, state
    server.close()


def azure_resolver(server: JsonServer, tls_files: tuple[Path, Path]) -> Resolver:
    return resolver(
        "azure",
        vault_url=server.url,
        connection_verify=str(tls_files[0]),
        verify_challenge_resource=False,  # the challenge names vault.azure.net, the vault is localhost
        disable_instance_discovery=True,  # no login.microsoftonline.com from here
    )


def test_azure_default_credential_tenant_then_global_and_versions(
    azure: tuple[JsonServer, AzureState], tls_files: tuple[Path, Path]
) -> None:
    server, state = azure
    r = azure_resolver(server, tls_files)
    assert r.resolve("${secret:db.password}", "acme") == "az-pw-v2"
    assert r.resolve("${secret:db@v1.password}", "acme") == "az-pw-v1"
    assert r.resolve("${secret:db.password}", "other") == "az-global-pw"
    assert r.resolve("${secret:api_token}", "acme") == "az-plain-token"
    assert state.token_requests and set(state.token_requests) == {"dativo-worker"}
    with pytest.raises(SecretError) as exc:
        r.resolve("${secret:nope}", "acme")
    assert "/secrets/acme--nope" in str(exc.value) and "/secrets/nope" in str(exc.value)


def test_azure_bad_client_secret_fails_clearly(
    azure: tuple[JsonServer, AzureState], tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = azure
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong-entra-secret")
    r = azure_resolver(server, tls_files)
    with pytest.raises(SecretError, match="authentication failed") as exc:
        r.resolve("${secret:db.password}", "acme")
    assert "wrong-entra-secret" not in str(exc.value)


# ===================================== one check, any store =====================================


def test_check_reports_each_reference_without_values(aws_store: AwsStore, aws_env: None) -> None:
    r = resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint)
    refs = references({"user": "${secret:db.user}", "password": "${secret:db.password}", "x": "${secret:gone}"})
    results = check(refs, "acme", r)
    assert [(c.reference, c.provider, c.ok) for c in results] == [
        ("${secret:db.user}", "aws", True),
        ("${secret:db.password}", "aws", True),
        ("${secret:gone}", "aws", False),
    ]
    assert results[0].detail == "secret id 'acme/db'"
    assert not any("aws-pw" in c.detail or "acme_app" in c.detail for c in results)


# ============================ tenant isolation, in every provider ============================

# What a job of tenant acme might write to reach tenant globex's `db` secret in each layout:
# `<tenant>/<NAME>` (filesystem, vault, aws), `<tenant>--<NAME>` (gcp, azure), the env variable.
CROSS_TENANT = ("${secret:globex/db.password}", "${secret:globex--db.password}", "${secret:../globex/db.password}")
# Tenant ids that would share names with another (env: ACME_EU; azure: acme-eu) or with GLOBAL.
COLLIDING_TENANTS = ("acme_eu", "Acme-EU", "global")


def _refuses_other_tenants(r: Resolver, own: str | None = None) -> None:
    for reference in CROSS_TENANT:
        with pytest.raises(SecretError, match="one segment") as exc:
            r.resolve(reference, "acme")
        assert "globex-pw" not in str(exc.value)
    for tenant in COLLIDING_TENANTS:
        with pytest.raises(SecretError, match="tenant id"):
            r.resolve("${secret:db.password}", tenant)
    if own is not None:  # the store is reachable: acme still reads its own secret
        assert r.resolve("${secret:db.password}", "acme") == own
    assert r.resolve("${secret:db.password}", "globex").endswith("globex-pw")  # globex reads its own


def test_env_refuses_other_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__ACME__DB", json.dumps({"password": "env-acme-pw"}))
    monkeypatch.setenv("DATIVO_SECRET__GLOBEX__DB", json.dumps({"password": "env-globex-pw"}))
    monkeypatch.setenv("DATIVO_SECRET__ACME_EU__DB", json.dumps({"password": "env-acme-eu-pw"}))
    r = resolver("env")
    _refuses_other_tenants(r, "env-acme-pw")
    assert r.resolve("${secret:db.password}", "acme-eu") == "env-acme-eu-pw"  # the one tenant with that name


def test_filesystem_refuses_other_tenants(tmp_path: Path) -> None:
    for tenant in ("acme", "globex"):
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "db.json").write_text(json.dumps({"password": f"fs-{tenant}-pw"}))
    _refuses_other_tenants(resolver("filesystem", dir=str(tmp_path)), "fs-acme-pw")


def test_vault_refuses_other_tenants(vault: tuple[JsonServer, VaultState]) -> None:
    server, _ = vault
    _refuses_other_tenants(resolver("vault", url=server.url, token="hvs.root-token"), "vault-pw-v2")
    asked = [path for _, path, _ in server.requests if "/secret/" in path]
    assert not any("globex" in path for path in asked[:-1])  # only globex's own lookup, last, reached it


def test_aws_refuses_other_tenants(aws_store: AwsStore, aws_env: None) -> None:
    _refuses_other_tenants(resolver("aws", region="us-east-1", endpoint_url=aws_store.endpoint), "aws-pw-v2")


def test_gcp_refuses_other_tenants(gcp: JsonServer) -> None:
    r = resolver("gcp", project="proj-1", endpoint=gcp.url, anonymous=True)
    _refuses_other_tenants(r, "gcp-pw-v2")
    assert not any("globex" in path for _, path, _ in gcp.requests[:-1])


def test_azure_refuses_other_tenants(azure: tuple[JsonServer, AzureState], tls_files: tuple[Path, Path]) -> None:
    server, _ = azure
    _refuses_other_tenants(azure_resolver(server, tls_files), "az-pw-v2")
    secret_reads = [path for _, path, _ in server.requests if path.startswith("/secrets/")]
    assert not any("globex" in path for path in secret_reads[:-1])
