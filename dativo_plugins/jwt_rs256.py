"""RS256 JSON Web Tokens for OAuth2 JWT-bearer grants (Salesforce's JWT bearer flow, Google
service accounts), signed with ``cryptography``: a signed assertion is all these flows need, so
no JWT library is required."""

from __future__ import annotations

import base64
import json
from typing import Any

from dativo_workers.errors import ConfigError
from dativo_workers.secrets.redact import remember


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_private_key(pem: str, where: str) -> Any:
    """An RSA private key from PEM text (PKCS#1 or PKCS#8). The error names ``where``, never the key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = pem.strip().replace("\\n", "\n")  # a key pasted into one line of an env var
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not an unencrypted PEM RSA private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{where}: an RSA private key is needed for RS256")
    return key


def sign_rs256(claims: dict[str, Any], key: Any, headers: dict[str, str] | None = None) -> str:
    """``header.payload.signature`` of ``claims``, RS256 (RSASSA-PKCS1-v1_5 with SHA-256), registered for
    masking in this process."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT", **(headers or {})}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    assertion = signing_input + "." + _b64url(signature)
    remember(assertion)  # a bearer credential while it is valid: masked like the key
    return assertion
