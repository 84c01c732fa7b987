"""Generic value signals for the PII detector: families of credentials and identity numbers recognised by
their structure, not by a list of providers or countries (issue #15 item 2, the round after set 5).

Each test takes the sampled values of one column as Python strings (at most ``SAMPLE`` of them) and the
column's normalised name, and answers for the whole column:

- ``credential_structure``: password hashes by their shape (``$id$…``, ``{SCHEME}…``,
  ``scheme$iterations$salt$hash``, ``scheme:params$salt$hash``, MSSQL ``0x0100``/``0x0200``, ``hash:salt``,
  ASP.NET Identity v2/v3), connection strings with a password (URLs, JDBC, ADO.NET, ODBC, Oracle thin
  ``user/password@``, Azure SAS ``sig=``) and private key containers (PEM, PuTTY, OpenSSH, JWK with ``d``);
- ``random_secrets``: a column-level randomness test for prefix-less API keys and tokens;
- ``checksum_ids``: identity numbers of every country python-stdnum validates, accepted only when the
  check digits hold far above chance (the same values with one digit changed mostly fail).
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import json
import math
import pkgutil
import random
import re
from collections import Counter
from collections.abc import Callable
from types import ModuleType

SAMPLE = 200
PILOT = 20  # values tried first: fewer than half passing ends a test early
UNNAMED_MIN_LEN = 32  # shorter random strings count as secrets only under a secret's name
SHARE = 0.8

# -- password hashes, connection strings, key containers ------------------------------------------------

_B64 = r"[A-Za-z0-9+/]"
_HASH_PATTERNS = [
    # modular crypt `$id$[params$]salt$hash` (md5crypt, sha512crypt, bcrypt, Cisco $8$/$9$, yescrypt...)
    r"^\$[A-Za-z0-9_-]{1,20}\$(?:[^$\s]{1,80}\$){0,4}[./A-Za-z0-9+=,_-]{16,}$",
    # `{SCHEME}...` (LDAP userPassword, Spring Security DelegatingPasswordEncoder)
    r"^\{[A-Za-z][A-Za-z0-9._-]{1,20}\}[^\s{}]{16,}$",
    # `scheme$iterations$salt$hash`, `scheme$salt$hash` (Django, passlib, Werkzeug with `:` params)
    r"^[A-Za-z][A-Za-z0-9_-]{1,30}(?::[A-Za-z0-9=,_-]+)*\$[^$\s]{1,80}\$[A-Za-z0-9+/=._-]{16,}$",
    r"^[A-Za-z][A-Za-z0-9_-]{1,30}\$\d{3,7}\$[^$\s]{2,80}\$[A-Za-z0-9+/=._-]{16,}$",
    # `sha256$<hex>`: a token's or password's digest with its algorithm (PostHog API keys, unsalted Django)
    r"^(?i:sha(?:1|224|256|384|512)|md5|blake2[bs]?)\$[0-9a-fA-F]{32,128}$",
    # MSSQL pwdencrypt() (0x0100 SHA-1, 0x0200 SHA-512)
    r"^0x0[12]00[0-9A-Fa-f]{48,}$",
    # `hash:salt` / `salt:hash` with a hex digest (Joomla, osCommerce, vBulletin)
    r"^[0-9a-fA-F]{32,128}:[A-Za-z0-9./+=]{4,64}$",
    r"^(?!(?i:sha|md[245]|blake|crc|xxh|git|etag|hash|digest|murmur|ripemd|keccak))[A-Za-z0-9./+=]{4,64}:[0-9a-fA-F]{32,128}$",
]
_HASH = re.compile("|".join(f"(?:{p})" for p in _HASH_PATTERNS))

_CONNECTION_PATTERNS = [
    r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",  # scheme://user:password@host (also jdbc:mysql://...)
    r"(?:^|[;?&\s])(?i:password|pwd|passwd|pass)\s*=\s*[^;&\s'\"]+",  # ADO.NET / ODBC / JDBC properties
    r"^(?i:jdbc:oracle:thin:)[^/@\s]+/[^@\s]+@",  # Oracle thin user/password@
    r"^[A-Za-z][A-Za-z0-9_$#]{0,29}/[^@\s/]{1,64}@(?://)?[A-Za-z0-9.-]+(?::\d+)?[/:][A-Za-z0-9_.]+$",  # sqlplus
    r"(?:^|[?&])sig=[A-Za-z0-9%+/=]{20,}",  # Azure SAS token
    r"(?i:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,}",
]
_CONNECTION = re.compile("|".join(f"(?:{p})" for p in _CONNECTION_PATTERNS))
_CONNECTION_CONTEXT = re.compile(
    r"(?i)jdbc:|odbc|://|(?:^|;)\s*(?:server|data source|host|driver|dsn|database|initial catalog|user id|uid)\s*="
    r"|(?:^|[?&])s[vpr]=|(?:^|[?&])se="
)
_KEY_CONTAINER = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|^PuTTY-User-Key-File-\d+:|^openssh-key-v1"
)


def _aspnet_identity(value: str) -> bool:
    """ASP.NET Identity password hashes: v2 is 0x00 + 16-byte salt + 32-byte subkey (49 bytes), v3 is
    0x01 + PRF, iteration count and salt length (big-endian) + salt + subkey (61 bytes or more)."""
    if not (60 <= len(value) <= 120) or value[0] != "A":
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    if raw[0] == 0 and len(raw) == 49:
        return True
    if raw[0] == 1 and len(raw) >= 61:
        prf, iterations, salt = (int.from_bytes(raw[i : i + 4], "big") for i in (1, 5, 9))
        return prf <= 2 and 1000 <= iterations <= 10_000_000 and 8 <= salt <= 64 and 13 + salt < len(raw)
    return False


def _jwk_private(value: str) -> bool:
    if not value.startswith(("{", "[")) or '"d"' not in value:
        return False
    try:
        doc = json.loads(value)
    except ValueError:
        return False
    keys = doc.get("keys", [doc]) if isinstance(doc, dict) else doc
    return isinstance(keys, list) and any(isinstance(k, dict) and "kty" in k and "d" in k for k in keys)


def structured_credential(value: str) -> bool:
    """A password hash, a connection string with a password or a private key, by its structure."""
    if _HASH.match(value) is not None:
        return True
    if _KEY_CONTAINER.search(value) is not None or _jwk_private(value):
        return True
    if _CONNECTION.search(value) is not None and _CONNECTION_CONTEXT.search(value) is not None:
        return True
    return _aspnet_identity(value)


def credential_structure(values: list[str]) -> float:
    """The share of values that are credentials by structure (0 when most values repeat)."""
    if not values or len(set(values)) < 0.5 * len(values):
        return 0.0
    pilot = values[:PILOT]
    if sum(1 for v in pilot if structured_credential(v)) < MIXED_HASH_SHARE * len(pilot):
        return 0.0  # (the first values decide whether the rest are looked at)
    hashes = sum(1 for v in values if structured_credential(v))
    if hashes >= SHARE * len(values):
        return hashes / len(values)
    # a password column of mixed storage (RADIUS `value`: md5crypt, SSHA, NT hashes, plain text): hashes
    # by structure in a quarter or more, the rest bare digests, salted hashes or passwords without spaces
    companions = sum(1 for v in values if not structured_credential(v) and _COMPANION.match(v))
    if hashes >= MIXED_HASH_SHARE * len(values) and hashes + companions >= SHARE * len(values):
        return SHARE
    return hashes / len(values)


MIXED_HASH_SHARE = 0.25
_COMPANION = re.compile(r"^\S{6,128}$")  # bare digests, base64 of salted hashes, passwords, passphrases


# -- prefix-less random secrets ------------------------------------------------------------------------

# a short prefix and separator (`sbp_`, `papi-`, `n~`, `2/1204:`, `live_`) before the random part
_PREFIX = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{0,11}[_~-](?:[A-Za-z0-9]{1,8}[_-])?|\d{1,6}[~/]\d{0,20}:?|\d{1,6}~)")
_BODY = re.compile(r"^[A-Za-z0-9+/=_.-]+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGITS = re.compile(r"^\d+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_DIGEST_PREFIX = re.compile(r"(?i)^(?:sha|md|blake|crc|xxh|etag|git|commit|rev|hash|digest)")
_B64_DIGEST_LENGTHS = {24, 28, 44, 64, 88}  # MD5, SHA-1, SHA-256, SHA-384, SHA-512 in padded base64
_B64URL_DIGEST_LENGTHS = {22, 27, 43, 86}  # the same without padding
_UUID_STRICT = re.compile(  # dashed, or 32 hex digits with a UUID's version and variant digits
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    r"|^[0-9a-fA-F]{12}[1-8][0-9a-fA-F]{3}[89abAB][0-9a-fA-F]{15}$"
)
# names that settle it when content cannot (a bare UUID, hex of a digest's length, base64 of 32 bytes)
SECRET_TIE_NAME = re.compile(
    r"(?:^|_)(?:key|keys|secret|secrets|token|tokens|api|apikey|pat|sig|signature|auth|cred|creds"
    r"|credential|password|pw|pwd|pass|private|priv|bearer|hmac|webhook|signing|access)(?:_?\d{0,2})(?:_|$)"
)
# bare UUIDs are record keys under `key` as often: only a name that says secret settles them
UUID_SECRET_NAME = re.compile(
    r"(?:^|_)(?:secret|token|api_?key|apikey|access_?key|private_?key|server_?token|auth)(?:_|$)"
)
RECORD_ID_NAME = re.compile(
    r"(?:^|_)(?:id|ids|uuid|guid|ulid|oid|pk|fk|ref|reference|number|num|no|nr|sku|order|invoice|sha|md5|hash"
    r"|checksum|digest|etag|fingerprint|commit|revision|rev|version|trace|span|request|correlation|session_id"
    r"|object|file|blob|image|url|path|sha\d*|thumbnail|thumb|photo|avatar|icon|picture|data|content|payload|body"
    r"|cipher|ciphertext|encrypted|nonce|iv|salt)(?:_|$)"
)


def _expected_distinct(length: int, alphabet: int) -> float:
    return alphabet * (1.0 - (1.0 - 1.0 / alphabet) ** length)


def _alphabet(body: str) -> int:
    if _HEX.match(body):
        return 16
    upper = any(c.isupper() for c in body)
    lower = any(c.islower() for c in body)
    symbols = any(c in "+/=_.-" for c in body)
    if upper and lower:
        return 64 if symbols else 62
    return 32 if not symbols else 36  # one case: base32 / base36


def _random_body(body: str) -> bool:
    n = len(body)
    if not 16 <= n <= 128 or _BODY.match(body) is None or _DIGITS.match(body):
        return False
    letters = sum(c.isalpha() for c in body)
    digits = sum(c.isdigit() for c in body)
    if letters == 0 or (digits == 0 and n < 40 and not _HEX.match(body)):
        return False  # random strings of 16-39 characters nearly always mix in a digit
    distinct = len(set(body.rstrip("=")))
    return distinct >= 0.8 * _expected_distinct(len(body.rstrip("=")), _alphabet(body))


_VERSIONED_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_PREFIXED_DASHED_HEX = re.compile(
    r"^([A-Za-z][A-Za-z0-9]{0,11}[_-])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def _split(value: str) -> tuple[str, str]:
    # `papi-<random hex in a UUID's layout>`: judged as hex (a column of real UUIDs is told apart above)
    if (d := _PREFIXED_DASHED_HEX.match(value)) is not None:
        return d.group(1), d.group(2).replace("-", "")
    m = _PREFIX.match(value)
    if m is not None and len(value) - m.end() >= 16:
        return value[: m.end()], value[m.end() :]
    return "", value


def random_secrets(values: list[str], norm: str) -> bool:
    """True when the column holds random secrets: most values random in their alphabet, few substrings
    shared between values, lengths clustered, and either a content no record id or digest has, or a
    secret's name to settle it (bare UUIDs, hex digests' lengths, base64 of 16-64 bytes)."""
    n = len(values)
    if n < 3 or len(set(values)) < 0.9 * n or RECORD_ID_NAME.search(norm):
        return False
    prefixed_uuids = sum(
        1 for v in values if (d := _PREFIXED_DASHED_HEX.match(v)) and _VERSIONED_UUID.match(d.group(2))
    )
    if prefixed_uuids > n / 2 and UUID_SECRET_NAME.search(norm) is None:
        return False  # `usr-<uuid4>`: a prefixed record key (random hex in a UUID's layout is not: `papi-…`)
    if sum(1 for v in values[:PILOT] if _random_body(_split(v)[1])) < 0.5 * min(n, PILOT):
        return False
    parts = [_split(v) for v in values]
    bodies = [b for _, b in parts]
    random_share = sum(1 for b in bodies if _random_body(b)) / n
    if random_share < SHARE:
        return False
    lengths = Counter(len(b) for b in bodies)
    if lengths.most_common(1)[0][1] < 0.6 * n and (max(lengths) - min(lengths)) > 8:
        return False  # secrets of one issuer have one length (or a narrow band)
    # substrings shared between values: sequential ids, time-ordered ids and codes repeat theirs
    grams: Counter[str] = Counter()
    for b in bodies:
        grams.update({b[i : i + 5] for i in range(0, len(b) - 4, 5)})
    repeated = sum(c for c in grams.values() if c > 1) / max(1, sum(grams.values()))
    if repeated > 0.15:
        return False
    # separators at the same places in most values: a structured id (`web-6c9f…-x2k9p`), not base64url
    layouts = Counter(tuple(i for i, c in enumerate(b) if c in "-_.") for b in bodies)
    layout, layout_count = layouts.most_common(1)[0]
    if layout and layout_count >= 0.6 * n:
        return False
    prefixes = Counter(p for p, _ in parts)
    prefix, _count = prefixes.most_common(1)[0]
    if prefix and _DIGEST_PREFIX.match(prefix):
        return False
    named = SECRET_TIE_NAME.search(norm) is not None
    # content that cannot decide: UUIDs and ULIDs (record keys as often), bare hex (digests, object ids),
    # base64 of a digest's length
    ambiguous = uuids = 0
    for p, b in parts:
        if p:
            continue
        if _UUID_STRICT.match(b) or _ULID.match(b):
            uuids += 1
        elif (
            _HEX.match(b)
            or (len(b) in _B64_DIGEST_LENGTHS and b.endswith("="))
            or len(b) in _B64URL_DIGEST_LENGTHS
            or (("+" in b or "/" in b) and len(b) in _B64_DIGEST_LENGTHS)
        ):
            ambiguous += 1
    if uuids > n / 2:
        return UUID_SECRET_NAME.search(norm) is not None
    if ambiguous > n / 2 and not named:
        return False
    short = sum(1 for b in bodies if len(b) < UNNAMED_MIN_LEN)
    if short > n / 2 and not named:
        return False  # 16-31 random characters are short ids (nanoids, Salesforce, Stripe objects) as often
    if not prefix and not named and all(not any(c.islower() for c in b) for b in bodies[:20]):
        return named  # one-case alphanumerics without a prefix: coupon codes and licence keys look the same
    return True


def uuid_secrets(values: list[str], norm: str) -> bool:
    """Bare UUIDs under a secret's name (Postmark, Heroku keys): content cannot tell them from keys."""
    n = len(values)
    return (
        n >= 3
        and UUID_SECRET_NAME.search(norm) is not None
        and RECORD_ID_NAME.search(norm) is None
        and len(set(values)) >= 0.9 * n
        and sum(1 for v in values if _UUID.match(v)) >= SHARE * n
    )


# -- identity numbers of every country stdnum validates -------------------------------------------------

_SKIP_DOC = re.compile(
    r"(?i)\b(?:compan|business|enterprise|legal entit|organi[sz]ation|vat|value added|employer|isbn|issn|ean"
    r"|isin|imo|vehicle|ship|postal|grid|lei|mac|bic|iban|swift|routing|transit|sort code|bank code"
    r"|customs|excise|establishment|trade|register|payment|reference|supply|cadast|land|banknote|chemical"
    r"|energy|association|school|institution|medic|drug|pharma|juridic|slip|ogrn|juristic|unique entity"
    r"|corporat|partnership|branch|product|securit|stock|fund|charit|sales tax|gst|msisdn|imei|imsi|meid)"
)
_BANK_DOC = re.compile(r"(?i)bank account|account number")
_TAX_DOC = re.compile(r"(?i)\btax|fiscal|tributar|\bnit\b|\bruc\b")
_PERSON_DOC = re.compile(r"(?i)person|individual|natural|citizen")
_SEPARATED = re.compile(r"\d[ ./-]\d")
_CANDIDATE = re.compile(r"^[0-9A-Z][0-9A-Z ./-]{6,22}[0-9A-Z]$")


@functools.cache
def _country_modules() -> list[tuple[str, ModuleType, str]]:
    """(name, module, detector) for every country module of stdnum with a ``validate`` and a personal
    or bank-account number in its description; company, VAT and goods numbers are left out."""
    import stdnum

    found = []
    for info in pkgutil.iter_modules(stdnum.__path__):
        if not info.ispkg or len(info.name.rstrip("_")) != 2:
            continue
        try:
            package = importlib.import_module(f"stdnum.{info.name}")
        except ImportError:
            continue
        for sub in pkgutil.iter_modules(package.__path__):
            try:
                module = importlib.import_module(f"stdnum.{info.name}.{sub.name}")
            except ImportError:
                continue
            if not hasattr(module, "validate") or not hasattr(module, "compact"):
                continue
            doc = (module.__doc__ or "").split("\n\n")[0]
            if _TAX_DOC.search(doc) and not _PERSON_DOC.search(doc):
                continue  # a tax number of companies as much as of persons
            if _BANK_DOC.search(doc):
                found.append((f"{info.name}.{sub.name}", module, "iban"))
            elif not _SKIP_DOC.search(doc):
                found.append((f"{info.name}.{sub.name}", module, "national_id"))
    return found


def _valid(module: ModuleType, value: str) -> bool:
    try:
        module.validate(value)
    except Exception:
        return False
    return True


def _altered(value: str, rng: random.Random) -> str:
    """The value with one digit changed (not the first: many formats fix it)."""
    positions = [i for i, c in enumerate(value) if c.isdigit()][1:]
    if not positions:
        return value
    i = rng.choice(positions)
    return value[:i] + str((int(value[i]) + rng.randint(1, 9)) % 10) + value[i + 1 :]


def _generic_checksum(values: list[str]) -> bool:
    from stdnum import ean, isbn, luhn
    from stdnum.us import rtn

    for check in (luhn.is_valid, isbn.is_valid, ean.is_valid, rtn.is_valid):
        if sum(1 for v in values if check(re.sub(r"[ .-]", "", v))) >= 0.7 * len(values):
            return True
    return False


def checksum_ids(values: list[str]) -> tuple[str, str] | None:
    """(stdnum module, detector) when most values are valid numbers of one country's module AND the
    module's check holds far above chance: the same values with one digit changed pass at most a third
    as often. Numbers without a check digit (only a length and a format) never pass that test."""
    n = len(values)
    if n < 5 or len(set(values)) < 0.9 * n:
        return None
    if sum(1 for v in values if _CANDIDATE.match(v) and sum(c.isdigit() for c in v) >= 6) < SHARE * n:
        return None
    if _generic_checksum(values[:20]):
        return None  # Luhn (IMEIs, ICCIDs, cards), ISBN, EAN, ABA: goods' and devices' numbers pass as well
    pilot = values[:6]
    rng = random.Random(15)
    for name, module, detector in _country_modules():
        if sum(1 for v in pilot if _valid(module, v)) < 5:
            continue
        test = values[:40]
        share = sum(1 for v in test if _valid(module, v)) / len(test)
        if share < SHARE:
            continue
        if detector == "iban" and sum(1 for v in test if _SEPARATED.search(v)) < SHARE * len(test):
            continue  # (a bank account number counts written with its separators: digits alone are anything)
        altered = sum(1 for v in test if _valid(module, _altered(v, rng))) / len(test)
        if altered <= share / 3:
            return name, detector
    return None


def entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


Check = Callable[[str], bool]
