"""Generate the blind PII evaluation set (issue #15, item 2).

    .venv/bin/python tests/data/pii_eval/make_set.py          # rewrite data/*.parquet and labels.csv

Every column comes from a public schema (see SOURCES and README.md), spelled as the source
spells it; its label is decided here, from the column's meaning, before any detector has run.
Values are made with Faker (several locales, fixed seeds) and with the national formats and
check digits written out below, so the set is reproducible: running this again gives the same
files. One Parquet file per source table (data/<source>__<table>.parquet); labels.csv has one
row per column.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker

HERE = Path(__file__).resolve().parent
SEED = 20261202
LOCALES = ["en_US", "de_DE", "fr_FR", "es_ES", "en_GB", "ja_JP", "pt_BR", "en_IN"]

SOURCES: dict[str, tuple[str, str]] = {
    "stripe": ("Stripe API reference (objects)", "https://docs.stripe.com/api"),
    "salesforce": (
        "Salesforce Object Reference (standard objects)",
        "https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/",
    ),
    "pagila": ("Pagila, PostgreSQL sample database", "https://github.com/devrimgunduz/pagila"),
    "oracle_hr": (
        "Oracle Database Sample Schemas, HR",
        "https://github.com/oracle-samples/db-sample-schemas/tree/main/human_resources",
    ),
    "adventureworks": (
        "Microsoft AdventureWorks OLTP sample database",
        "https://learn.microsoft.com/en-us/sql/samples/adventureworks-install-configure",
    ),
    "synthea": (
        "Synthea CSV exporter data dictionary",
        "https://github.com/synthetichealth/synthea/wiki/CSV-File-Data-Dictionary",
    ),
    "fhir": ("HL7 FHIR R4 resources (flattened)", "https://hl7.org/fhir/R4/resourcelist.html"),
    "mimic_iv": ("MIMIC-IV hosp module", "https://mimic.mit.edu/docs/iv/modules/hosp/"),
    "odoo": ("Odoo hr.employee / res.partner.bank models", "https://github.com/odoo/odoo/tree/17.0/addons/hr/models"),
    "erpnext": (
        "ERPNext Employee DocType",
        "https://github.com/frappe/erpnext/blob/develop/erpnext/setup/doctype/employee/employee.json",
    ),
    "django": ("Django contrib.auth / authtoken / sessions tables", "https://docs.djangoproject.com/en/5.0/ref/contrib/auth/"),
    "devise": ("Devise (Rails) users table migration", "https://github.com/heartcombo/devise"),
    "gitlab": ("GitLab db/structure.sql, personal_access_tokens", "https://gitlab.com/gitlab-org/gitlab/-/blob/master/db/structure.sql"),
    "airflow": ("Apache Airflow metadata DB, connection table", "https://airflow.apache.org/docs/apache-airflow/stable/database-erd-ref.html"),
    "slack_bolt": (
        "Slack Bolt for Python, SQLAlchemy installation store (slack_installations)",
        "https://github.com/slackapi/python-slack-sdk/blob/main/slack_sdk/oauth/installation_store/sqlalchemy/__init__.py",
    ),
    "aws": ("AWS CLI shared credentials file keys; CloudTrail record fields",
            "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html"),
    "github_oauth": ("GitHub OAuth / GitHub App user token response",
                     "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app"),
    "firebase": ("Firebase web app config object", "https://firebase.google.com/docs/web/learn-more#config-object"),
    "gcp_sa": ("Google Cloud service account key file (JSON)", "https://cloud.google.com/iam/docs/keys-create-delete"),
    "oidc": ("OpenID Connect Core / RFC 6749 token response", "https://openid.net/specs/openid-connect-core-1_0.html#TokenResponse"),
    "magento": ("Magento 2 EAV customer_entity_varchar", "https://developer.adobe.com/commerce/php/development/components/attributes/"),
    "wordpress": ("WordPress wp_usermeta / wp_options (WooCommerce keys)", "https://codex.wordpress.org/Database_Description"),
    "openfoodfacts": ("Open Food Facts data fields", "https://world.openfoodfacts.org/data/data-fields.txt"),
    "opaque": ("Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
               "tests/data/pii_eval/README.md"),
}


# --------------------------------------------------------------------------- value makers


class Gen:
    """The random sources: one seeded Random, one Faker per locale, a multi-locale Faker."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.fk = {loc: Faker(loc) for loc in LOCALES}
        for i, loc in enumerate(LOCALES):
            self.fk[loc].seed_instance(seed + i)
        self.multi = Faker(LOCALES)
        self.multi.seed_instance(seed + 100)

    def loc(self, locales: list[str] | None = None) -> Faker:
        return self.fk[self.r.choice(locales or LOCALES)]

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return self.s(string.digits, n)


ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1]


def card_number(g: Gen) -> str:
    kind = g.r.choice(["visa", "visa", "mc", "mc2", "amex", "disc"])
    if kind == "visa":
        body = "4" + g.digits(14)
    elif kind == "mc":
        body = str(g.r.randint(51, 55)) + g.digits(13)
    elif kind == "mc2":
        body = str(g.r.randint(2221, 2720)) + g.digits(11)
    elif kind == "amex":
        body = g.r.choice(["34", "37"]) + g.digits(12)
    else:
        body = "6011" + g.digits(11)
    num = body + luhn_check_digit(body)
    assert luhn_ok(num)
    style = g.r.random()
    if style < 0.5:
        return num
    sep = " " if style < 0.8 else "-"
    if len(num) == 15:
        return sep.join([num[:4], num[4:10], num[10:]])
    return sep.join(num[i : i + 4] for i in range(0, 16, 4))


def _bban_be(g: Gen) -> str:
    first = g.digits(10)
    return first + f"{int(first) % 97 or 97:02d}"


def _es_control(digits: str) -> str:
    weights = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
    d = 11 - sum(int(c) * w for c, w in zip(digits, weights, strict=True)) % 11
    return str({11: 0, 10: 1}.get(d, d))


def _bban_es(g: Gen) -> str:
    bank_branch, account = g.digits(8), g.digits(10)
    return bank_branch + _es_control("00" + bank_branch) + _es_control(account) + account


IBAN_BBAN: dict[str, Callable[[Gen], str]] = {
    "DE": lambda g: g.digits(18),
    "FR": lambda g: g.digits(10) + g.s(UPPER_ALNUM, 11) + g.digits(2),
    "ES": _bban_es,
    "GB": lambda g: g.s(string.ascii_uppercase, 4) + g.digits(14),
    "IT": lambda g: g.s(string.ascii_uppercase, 1) + g.digits(10) + g.s(UPPER_ALNUM, 12),
    "NL": lambda g: g.s(string.ascii_uppercase, 4) + g.digits(10),
    "BR": lambda g: g.digits(23) + g.s(string.ascii_uppercase, 1) + g.s(UPPER_ALNUM, 1),
    "PT": lambda g: g.digits(21),
    "BE": _bban_be,
    "CH": lambda g: g.digits(17),
}


def _iban_numeric(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "").upper()
    return _iban_numeric(compact[4:] + compact[:4]) % 97 == 1


def iban(g: Gen, countries: list[str] | None = None) -> str:
    cc = g.r.choice(countries or list(IBAN_BBAN))
    bban = IBAN_BBAN[cc](g)
    check = 98 - _iban_numeric(bban + cc + "00") % 97
    value = f"{cc}{check:02d}{bban}"
    assert iban_ok(value)
    if g.r.random() < 0.35:  # print format
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def ssn_us(g: Gen, synthea: bool = False) -> str:
    area = 999 if synthea else g.r.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{g.r.randint(1, 99):02d}-{g.r.randint(1, 9999):04d}"


def nino_uk(g: Gen) -> str:
    first = [c for c in string.ascii_uppercase if c not in "DFIQUV"]
    second = [c for c in string.ascii_uppercase if c not in "DFIOQUV"]
    while True:
        prefix = g.r.choice(first) + g.r.choice(second)
        if prefix not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
            break
    d = g.digits(6)
    suffix = g.r.choice("ABCD")
    if g.r.random() < 0.5:
        return f"{prefix} {d[:2]} {d[2:4]} {d[4:]} {suffix}"
    return prefix + d + suffix


def sin_ca(g: Gen) -> str:
    body = str(g.r.choice([1, 2, 3, 4, 5, 6, 7, 9])) + g.digits(7)
    n = body + luhn_check_digit(body)
    return f"{n[:3]} {n[3:6]} {n[6:]}" if g.r.random() < 0.6 else n


def steuer_id_de(g: Gen) -> str:
    """German Steueridentifikationsnummer: 11 digits, ISO 7064 MOD 11,10 check digit."""
    while True:
        pool = g.r.sample(string.digits, 9)
        digits = [*pool, g.r.choice(pool)]
        g.r.shuffle(digits)
        if digits[0] != "0":
            break
    product = 10
    for ch in digits:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    n = "".join(digits) + str(check)
    return f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}" if g.r.random() < 0.3 else n


NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def nif_es(g: Gen) -> str:
    if g.r.random() < 0.25:  # NIE for foreigners
        prefix = g.r.choice("XYZ")
        num = g.digits(7)
        letter = NIF_LETTERS[int(str("XYZ".index(prefix)) + num) % 23]
        return f"{prefix}{num}{letter}"
    num = g.digits(8)
    return num + NIF_LETTERS[int(num) % 23]


def cpf_br(g: Gen) -> str:
    d = [g.r.randint(0, 9) for _ in range(9)]
    d.append(sum(x * (10 - i) for i, x in enumerate(d)) * 10 % 11 % 10)
    d.append(sum(x * (11 - i) for i, x in enumerate(d)) * 10 % 11 % 10)
    s = "".join(map(str, d))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}" if g.r.random() < 0.7 else s


def nir_fr(g: Gen) -> str:
    body = (
        str(g.r.choice([1, 2]))
        + f"{g.r.randint(40, 99):02d}{g.r.randint(1, 12):02d}"
        + f"{g.r.randint(1, 95):02d}{g.r.randint(1, 990):03d}{g.r.randint(1, 999):03d}"
    )
    key = 97 - int(body) % 97
    if g.r.random() < 0.5:
        return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:]} {key:02d}"
    return f"{body}{key:02d}"


def bsn_nl(g: Gen) -> str:
    while True:
        d = [g.r.randint(0, 9) for _ in range(8)]
        rest = sum(x * (9 - i) for i, x in enumerate(d)) % 11
        if rest < 10:
            return "".join(map(str, d)) + str(rest)


_V_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_V_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_V_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def aadhaar_in(g: Gen) -> str:
    body = str(g.r.randint(2, 9)) + g.digits(10)
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _V_D[c][_V_P[(i + 1) % 8][int(ch)]]
    n = body + str(_V_INV[c])
    return f"{n[:4]} {n[4:8]} {n[8:]}" if g.r.random() < 0.6 else n


def pan_in(g: Gen) -> str:
    up = string.ascii_uppercase
    return g.s(up, 3) + "P" + g.s(up, 1) + g.digits(4) + g.s(up, 1)


def my_number_jp(g: Gen) -> str:
    body = g.digits(11)
    p = [int(c) for c in reversed(body)]
    total = sum(p[n - 1] * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    rem = total % 11
    check = 0 if rem <= 1 else 11 - rem
    return body + str(check)


def nhs_number(g: Gen) -> str:
    while True:
        body = g.digits(9)
        total = sum(int(c) * (10 - i) for i, c in enumerate(body))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            n = body + str(check)
            return f"{n[:3]} {n[3:6]} {n[6:]}" if g.r.random() < 0.6 else n


def mbi_us(g: Gen) -> str:
    letters = [c for c in string.ascii_uppercase if c not in "SLOIBZ"]
    an = letters + list(string.digits)
    parts = [
        str(g.r.randint(1, 9)), g.r.choice(letters), g.r.choice(an), g.digits(1),
        g.r.choice(letters), g.r.choice(an), g.digits(1),
        g.r.choice(letters), g.r.choice(letters), g.digits(1), g.digits(1),
    ]
    s = "".join(parts)
    return f"{s[:4]}-{s[4:7]}-{s[7:]}" if g.r.random() < 0.4 else s


def passport(g: Gen) -> str:
    up = string.ascii_uppercase
    kind = g.r.choice(["US", "US2", "GB", "DE", "FR", "ES", "IN", "JP", "BR"])
    return {
        "US": lambda: g.digits(9),
        "US2": lambda: g.s(up, 1) + g.digits(8),
        "GB": lambda: g.digits(9),
        "DE": lambda: g.s("CFGHJK", 1) + g.s("CFGHJKLMNPRTVWXYZ0123456789", 8),
        "FR": lambda: g.digits(2) + g.s(up, 2) + g.digits(5),
        "ES": lambda: g.s(up, 3) + g.digits(6),
        "IN": lambda: g.s(up, 1) + g.digits(7),
        "JP": lambda: g.s("TMR", 1) + g.s("ZKH", 1) + g.digits(7),
        "BR": lambda: g.s(up, 2) + g.digits(6),
    }[kind]()


def driving_licence(g: Gen) -> str:
    up = string.ascii_uppercase
    kind = g.r.choice(["CA", "NY", "FL", "UK", "TX", "DE"])
    if kind == "CA":
        return g.s(up, 1) + g.digits(7)
    if kind == "NY":
        return f"{g.digits(3)} {g.digits(3)} {g.digits(3)}"
    if kind == "FL":
        return f"{g.s(up, 1)}{g.digits(3)}-{g.digits(3)}-{g.digits(2)}-{g.digits(3)}-0"
    if kind == "TX":
        return g.digits(8)
    if kind == "DE":
        return g.s(UPPER_ALNUM, 11)
    surname = (g.fk["en_GB"].last_name().upper() + "99999")[:5]
    return f"{surname}{g.digits(6)}{g.s(up, 2)}9{g.s(up, 2)}"


def national_id_any(g: Gen) -> str:
    ids = [ssn_us, nino_uk, sin_ca, steuer_id_de, nif_es, cpf_br, nir_fr, bsn_nl, aadhaar_in, my_number_jp]
    return g.r.choice(ids)(g)


# credentials

def stripe_secret(g: Gen) -> str:
    prefix = g.r.choice(["sk_live_", "sk_live_", "rk_live_", "sk_test_"])
    return prefix + g.s(ALNUM, g.r.choice([24, 99]))


def aws_key_id(g: Gen) -> str:
    return g.r.choice(["AKIA", "AKIA", "ASIA"]) + g.s(string.ascii_uppercase + "234567", 16)


def aws_secret(g: Gen) -> str:
    return g.s(ALNUM + "/+", 40)


def aws_session_token(g: Gen) -> str:
    raw = bytes(g.r.getrandbits(8) for _ in range(g.r.randint(280, 420)))
    return "IQoJb3JpZ2luX2Vj" + base64.b64encode(raw).decode()


def github_token(g: Gen, kinds: tuple[str, ...] = ("ghp_", "gho_", "ghu_", "ghs_", "github_pat_")) -> str:
    kind = g.r.choice(kinds)
    if kind == "github_pat_":
        return "github_pat_11" + g.s(UPPER_ALNUM, 20) + "_" + g.s(ALNUM, 59)
    return kind + g.s(ALNUM, 36)


def slack_token(g: Gen, kind: str = "xoxb") -> str:
    if kind == "xoxp":
        return f"xoxp-{g.digits(12)}-{g.digits(12)}-{g.digits(13)}-{g.s(HEX, 32)}"
    return f"{kind}-{g.digits(g.r.choice([11, 12, 13]))}-{g.digits(13)}-{g.s(ALNUM, 24)}"


def google_api_key(g: Gen) -> str:
    return "AIza" + g.s(B64URL, 35)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(g: Gen) -> str:
    header = {"alg": g.r.choice(["RS256", "HS256", "ES256"]), "typ": "JWT", "kid": g.s(HEX, 16)}
    now = 1_760_000_000 + g.r.randint(0, 30_000_000)
    payload = {
        "iss": g.r.choice(["https://accounts.google.com", "https://login.example-idp.com/", "https://auth.acme.io"]),
        "sub": g.s(string.digits, 21),
        "aud": g.s(ALNUM, 12),
        "iat": now,
        "exp": now + 3600,
    }
    if g.r.random() < 0.5:
        payload["email"] = g.multi.email()
    sig = bytes(g.r.getrandbits(8) for _ in range(g.r.choice([32, 64, 256])))
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, payload)]
    return ".".join([b64url(parts[0]), b64url(parts[1]), b64url(sig)])


BCRYPT_ALPHA = "./" + string.ascii_uppercase + string.ascii_lowercase + string.digits


def bcrypt_hash(g: Gen) -> str:
    return f"${g.r.choice(['2a', '2b', '2y'])}${g.r.choice(['10', '11', '12'])}$" + g.s(BCRYPT_ALPHA, 53)


def django_hash(g: Gen) -> str:
    if g.r.random() < 0.2:
        return (
            "argon2$argon2id$v=19$m=102400,t=2,p=8$"
            + b64url(bytes(g.r.getrandbits(8) for _ in range(16)))
            + "$"
            + b64url(bytes(g.r.getrandbits(8) for _ in range(32)))
        )
    salt = g.s(ALNUM, 22)
    digest = base64.b64encode(bytes(g.r.getrandbits(8) for _ in range(32))).decode()
    return f"pbkdf2_sha256${g.r.choice([600000, 720000, 870000])}${salt}${digest}"


def pem_private_key(g: Gen) -> str:
    kind = g.r.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    size = {"PRIVATE KEY": 1218, "RSA PRIVATE KEY": 1192, "EC PRIVATE KEY": 121, "OPENSSH PRIVATE KEY": 400}[kind]
    body = base64.b64encode(bytes(g.r.getrandbits(8) for _ in range(size))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


def plain_password(g: Gen) -> str:
    if g.r.random() < 0.4:
        word = g.multi.word().capitalize()
        return f"{word}{g.r.randint(1, 2026)}{g.r.choice('!?#$%')}"
    return g.multi.password(length=g.r.randint(10, 24), special_chars=g.r.random() < 0.7)


def mixed_api_key(g: Gen) -> str:
    return g.r.choice([stripe_secret, aws_key_id, github_token, slack_token, google_api_key,
                       lambda x: "whsec_" + x.s(ALNUM, 32)])(g)


# PII

def messy(g: Gen, value: str) -> str:
    """Now and then: surrounding blanks, upper case."""
    x = g.r.random()
    if x < 0.05:
        return f"  {value} "
    if x < 0.08:
        return value.upper()
    return value


def email(g: Gen) -> str:
    f = g.loc()
    return messy(g, f.email() if g.r.random() < 0.6 else f.free_email())


def phone(g: Gen, locales: list[str] | None = None) -> str:
    f = g.loc(locales)
    x = g.r.random()
    if x < 0.15:
        return intl_phone(g)
    value = f.phone_number()
    if x > 0.95:
        value += f" ext. {g.r.randint(10, 999)}"
    return value


def intl_phone(g: Gen) -> str:
    """Numbers written with their country code, in the national grouping."""
    cc, f = g.r.choice([
        ("+49", lambda: f"{g.r.choice(['151', '160', '170', '176', '30', '89'])} {g.digits(7)}"),
        ("+33", lambda: f"{g.r.choice('167')} {g.digits(2)} {g.digits(2)} {g.digits(2)} {g.digits(2)}"),
        ("+34", lambda: f"{g.r.choice('67')}{g.digits(2)} {g.digits(3)} {g.digits(3)}"),
        ("+44", lambda: f"7{g.digits(3)} {g.digits(6)}"),
        ("+81", lambda: f"{g.r.choice(['90', '80', '3'])}-{g.digits(4)}-{g.digits(4)}"),
        ("+55", lambda: f"({g.r.choice(['11', '21', '31'])}) 9{g.digits(4)}-{g.digits(4)}"),
        ("+91", lambda: f"{g.r.choice('6789')}{g.digits(4)} {g.digits(5)}"),
        ("+1", lambda: f"({g.r.randint(201, 989)}) {g.r.randint(200, 999)}-{g.digits(4)}"),
        ("+39", lambda: f"3{g.digits(2)} {g.digits(3)} {g.digits(4)}"),
        ("+31", lambda: f"6 {g.digits(8)}"),
        ("+61", lambda: f"4{g.digits(2)} {g.digits(3)} {g.digits(3)}"),
        ("+52", lambda: f"1 55 {g.digits(4)} {g.digits(4)}"),
    ])
    if g.r.random() < 0.15:
        return "00" + cc[1:] + " " + f()
    return f"{cc} {f()}"


def street(g: Gen, locales: list[str] | None = None) -> str:
    return g.loc(locales).street_address()


def postcode(g: Gen, locales: list[str] | None = None) -> str:
    return g.loc(locales).postcode()


def birthdate(g: Gen) -> dt.date:
    return g.multi.date_of_birth(minimum_age=16, maximum_age=95)


def ipaddr(g: Gen) -> str:
    return g.multi.ipv4_public() if g.r.random() < 0.8 else g.multi.ipv6()


# NONE makers

def prefixed_id(prefix: str, n: int = 14) -> Callable[[Gen], str]:
    return lambda g: prefix + g.s(ALNUM, n)


def sf_id(prefix: str) -> Callable[[Gen], str]:
    return lambda g: prefix + "5" + g.s(ALNUM, 14)


def uuid4(g: Gen) -> str:
    return str(uuid.UUID(int=g.r.getrandbits(128), version=4))


def ts(g: Gen) -> dt.datetime:
    return dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=g.r.randint(0, 7 * 365 * 86400))


def date(g: Gen) -> dt.date:
    return dt.date(2005, 1, 1) + dt.timedelta(days=g.r.randint(0, 7000))


def unix(g: Gen) -> int:
    return int(ts(g).timestamp())


def choice(*options: Any) -> Callable[[Gen], Any]:
    return lambda g: g.r.choice(options)


def intr(lo: int, hi: int) -> Callable[[Gen], int]:
    return lambda g: g.r.randint(lo, hi)


def money(lo: float, hi: float, places: int = 2) -> Callable[[Gen], float]:
    return lambda g: round(g.r.uniform(lo, hi), places)


def dec(lo: float, hi: float) -> Callable[[Gen], Decimal]:
    return lambda g: Decimal(f"{g.r.uniform(lo, hi):.2f}")


def boolean(p: float = 0.5) -> Callable[[Gen], bool]:
    return lambda g: g.r.random() < p


def sentence(g: Gen) -> str:
    return g.fk["en_US"].sentence(nb_words=g.r.randint(4, 14))


def company(g: Gen) -> str:
    return g.loc().company()


def city(g: Gen) -> str:
    return g.loc().city()


def country(g: Gen) -> str:
    return g.r.choice(["US", "DE", "FR", "ES", "GB", "JP", "BR", "IN", "CA", "NL", "IT"])


def ean13(g: Gen) -> str:
    body = g.r.choice(["3", "4", "5", "7", "8"]) + g.digits(11)
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


def hexs(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


# --------------------------------------------------------------------------- the columns


@dataclass
class Col:
    name: str
    type: pa.DataType
    label: str  # PII | SENSITIVE | CREDENTIAL | NONE
    reason: str
    make: Callable[[Gen], Any]
    nulls: float = 0.0


@dataclass
class Table:
    source: str
    table: str
    rows: int
    cols: list[Col]


S, I64, F64, B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
TS, D32, DEC = pa.timestamp("us", tz="UTC"), pa.date32(), pa.decimal128(5, 2)


def C(name: str, typ: pa.DataType, label: str, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, label, reason, make, nulls)


def N(name: str, typ: pa.DataType, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, "NONE", reason, make, nulls)


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Stripe
    t.append(Table("stripe", "customer", 120, [
        N("id", S, "object id cus_...", prefixed_id("cus_")),
        C("email", S, "PII", "customer's email address", email, 0.05),
        C("name", S, "PII", "customer's full name", lambda g: g.loc().name(), 0.05),
        C("phone", S, "PII", "customer's phone number", phone, 0.2),
        N("balance", I64, "balance in the smallest currency unit", intr(-50000, 50000)),
        N("currency", S, "ISO currency code", choice("usd", "eur", "gbp", "jpy", "brl", "inr")),
        N("created", I64, "creation time, unix seconds", unix),
        N("invoice_prefix", S, "invoice number prefix", lambda g: g.s(string.ascii_uppercase + string.digits, 8)),
        C("address_line1", S, "PII", "customer's street address", street, 0.1),
        C("address_postal_code", S, "PII", "customer's postcode", postcode, 0.1),
        N("address_country", S, "country code (borderline: NONE)", country, 0.1),
    ]))
    t.append(Table("stripe", "charge", 150, [
        N("id", S, "object id ch_...", prefixed_id("ch_", 24)),
        N("amount", I64, "amount in cents", intr(50, 2_000_000)),
        N("currency", S, "currency code", choice("usd", "eur", "gbp")),
        N("status", S, "enum", choice("succeeded", "pending", "failed")),
        N("failure_code", S, "decline code", choice("card_declined", "expired_card", "incorrect_cvc"), 0.8),
        C("receipt_email", S, "PII", "email the receipt went to", email, 0.3),
        N("payment_method_details_card_brand", S, "card brand", choice("visa", "mastercard", "amex")),
        N("payment_method_details_card_last4", S, "last four card digits: PCI DSS allows showing them; NONE",
          lambda g: g.digits(4)),
        N("payment_method_details_card_fingerprint", S, "Stripe's card fingerprint, opaque", lambda g: g.s(ALNUM, 16)),
        C("billing_details_name", S, "PII", "cardholder's name", lambda g: g.loc().name(), 0.1),
    ]))
    t.append(Table("stripe", "payment_method", 80, [
        N("id", S, "pm_ id", prefixed_id("pm_", 24)),
        N("type", S, "enum", choice("card", "sepa_debit", "us_bank_account")),
        N("card_exp_year", I64, "expiry year alone", intr(2026, 2034)),
        N("card_country", S, "issuing country", country),
        C("billing_details_email", S, "PII", "payer's email", email, 0.2),
        C("billing_details_phone", S, "PII", "payer's phone", phone, 0.4),
        C("sepa_debit_iban", S, "SENSITIVE", "full IBAN (Stripe returns last4 only; as captured in a vault export)",
          lambda g: iban(g, ["DE", "FR", "ES", "IT", "NL", "BE", "PT"])),
    ]))
    t.append(Table("stripe", "account", 60, [
        N("id", S, "acct_ id", prefixed_id("acct_", 16)),
        N("business_type", S, "enum", choice("individual", "company", "non_profit")),
        N("country", S, "country code", country),
        N("payouts_enabled", B, "flag", boolean(0.7)),
        C("email", S, "PII", "account holder's email", email, 0.1),
        N("business_profile_mcc", S, "merchant category code", choice("5734", "5812", "7372", "8999")),
        N("business_profile_url", S, "business website", lambda g: g.fk["en_US"].url()),
    ]))
    t.append(Table("stripe", "person", 90, [
        N("id", S, "person_ id", prefixed_id("person_", 24)),
        C("first_name", S, "PII", "person's given name", lambda g: g.loc().first_name()),
        C("last_name", S, "PII", "person's family name", lambda g: g.loc().last_name()),
        C("email", S, "PII", "person's email", email, 0.2),
        C("phone", S, "PII", "person's phone", intl_phone, 0.2),
        C("dob", D32, "PII", "date of birth", birthdate),
        C("id_number", S, "SENSITIVE", "government id number (SSN, SIN, NIF, CPF... by country)", national_id_any, 0.3),
        C("ssn_last_4", S, "SENSITIVE", "last four SSN digits: an identity-verification secret",
          lambda g: g.digits(4), 0.4),
        N("id_number_provided", B, "flag only", boolean(0.7)),
        N("ssn_last_4_provided", B, "flag only", boolean(0.6)),
        N("relationship_title", S, "job title (borderline: NONE)", lambda g: g.fk["en_US"].job()),
        C("address_line1", S, "PII", "person's street", street, 0.1),
        C("address_postal_code", S, "PII", "person's postcode", postcode, 0.1),
        N("nationality", S, "country code (borderline: NONE)", country, 0.3),
    ]))
    t.append(Table("stripe", "invoice", 110, [
        N("id", S, "in_ id", prefixed_id("in_", 24)),
        N("number", S, "invoice number",
          lambda g: g.s(string.ascii_uppercase + string.digits, 8) + "-" + f"{g.r.randint(1, 9999):04d}"),
        N("amount_due", I64, "cents", intr(0, 500000)),
        N("status", S, "enum", choice("draft", "open", "paid", "void", "uncollectible")),
        C("customer_email", S, "PII", "billed customer's email", email, 0.1),
        C("customer_name", S, "PII", "billed customer's name", lambda g: g.loc().name(), 0.1),
        C("customer_phone", S, "PII", "billed customer's phone", phone, 0.5),
        N("period_start", I64, "unix seconds", unix),
    ]))
    t.append(Table("stripe", "subscription", 100, [
        N("id", S, "sub_ id", prefixed_id("sub_", 24)),
        N("status", S, "enum", choice("active", "past_due", "canceled", "trialing")),
        N("cancel_at_period_end", B, "flag", boolean(0.1)),
        N("current_period_end", TS, "timestamp", ts),
        N("quantity", I64, "seat count", intr(1, 250)),
    ]))
    t.append(Table("stripe", "tax_id", 70, [
        N("id", S, "txi_ id", prefixed_id("txi_", 24)),
        N("type", S, "enum", choice("br_cpf", "de_stn", "es_cif", "in_pan")),
        C("value", S, "SENSITIVE", "individual's tax id (CPF, Steuer-ID, NIF, PAN)",
          lambda g: g.r.choice([cpf_br, steuer_id_de, nif_es, pan_in])(g)),
    ]))
    t.append(Table("stripe", "webhook_endpoint", 50, [
        N("id", S, "we_ id", prefixed_id("we_", 24)),
        N("url", S, "endpoint URL", lambda g: g.fk["en_US"].url() + "stripe/webhook"),
        C("secret", S, "CREDENTIAL", "webhook signing secret whsec_", lambda g: "whsec_" + g.s(ALNUM, 32)),
        N("api_version", S, "version date", choice("2024-06-20", "2025-03-31.basil", "2023-10-16")),
    ]))
    # ---- Salesforce
    t.append(Table("salesforce", "Account", 100, [
        N("Id", S, "record id", sf_id("001")),
        N("Name", S, "company name (borderline: NONE)", company),
        N("AccountNumber", S, "account number (customer code, not bank)", lambda g: "CD" + g.digits(6)),
        N("AnnualRevenue", F64, "currency amount", money(1e5, 5e9)),
        N("NumberOfEmployees", I64, "count", intr(1, 200000)),
        N("BillingCity", S, "city alone (borderline: NONE)", city),
        N("Website", S, "company website", lambda g: g.fk["en_US"].url()),
        N("CreatedDate", TS, "timestamp", ts),
    ]))
    t.append(Table("salesforce", "Contact", 150, [
        N("Id", S, "record id", sf_id("003")),
        N("AccountId", S, "foreign key", sf_id("001")),
        N("Salutation", S, "Mr./Ms.", choice("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."), 0.2),
        C("FirstName", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("LastName", S, "PII", "family name", lambda g: g.loc().last_name()),
        C("Email", S, "PII", "email", email, 0.1),
        C("Phone", S, "PII", "contact's phone", phone, 0.2),
        C("MobilePhone", S, "PII", "mobile phone", intl_phone, 0.3),
        C("HomePhone", S, "PII", "home phone", phone, 0.6),
        C("MailingStreet", S, "PII", "contact's street", street, 0.1),
        C("MailingPostalCode", S, "PII", "contact's postcode", postcode, 0.1),
        N("MailingCountry", S, "country (borderline: NONE)", lambda g: g.loc().country()),
        C("Birthdate", D32, "PII", "date of birth", birthdate, 0.4),
        N("Title", S, "job title (borderline: NONE)", lambda g: g.fk["en_US"].job()),
        C("AssistantName", S, "PII", "assistant's name", lambda g: g.loc().name(), 0.7),
        C("AssistantPhone", S, "PII", "assistant's phone", phone, 0.7),
        N("LastActivityDate", D32, "date", date, 0.2),
    ]))
    t.append(Table("salesforce", "Lead", 130, [
        N("Id", S, "record id", sf_id("00Q")),
        C("FirstName", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("LastName", S, "PII", "family name", lambda g: g.loc().last_name()),
        N("Company", S, "company name (borderline: NONE)", company),
        C("Email", S, "PII", "email", email, 0.15),
        C("Phone", S, "PII", "phone", phone, 0.25),
        C("MobilePhone", S, "PII", "mobile phone", intl_phone, 0.4),
        C("Street", S, "PII", "lead's street", street, 0.3),
        C("PostalCode", S, "PII", "lead's postcode", postcode, 0.3),
        N("City", S, "city alone (borderline: NONE)", city, 0.3),
    ]))
    t.append(Table("salesforce", "User", 60, [
        N("Id", S, "record id", sf_id("005")),
        C("Username", S, "PII", "login name in email form", lambda g: g.fk["en_US"].user_name() + "@acme.com.prod"),
        C("Email", S, "PII", "email", email),
        C("FirstName", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("LastName", S, "PII", "family name", lambda g: g.loc().last_name()),
        N("IsActive", B, "flag", boolean(0.9)),
        N("LastLoginDate", TS, "timestamp", ts, 0.1),
    ]))
    t.append(Table("salesforce", "Case", 140, [
        N("Id", S, "record id", sf_id("500")),
        N("CaseNumber", S, "case number", lambda g: f"{g.r.randint(1000, 99999999):08d}"),
        N("Status", S, "picklist", choice("New", "Working", "Escalated", "Closed")),
        N("Subject", S, "subject line", sentence),
        C("SuppliedEmail", S, "PII", "web-to-case submitter's email", email, 0.4),
        C("SuppliedName", S, "PII", "submitter's name", lambda g: g.loc().name(), 0.4),
        C("SuppliedPhone", S, "PII", "submitter's phone", phone, 0.5),
        N("ClosedDate", TS, "timestamp", ts, 0.4),
    ]))
    t.append(Table("salesforce", "Opportunity", 120, [
        N("Id", S, "record id", sf_id("006")),
        N("Name", S, "deal name", lambda g: g.loc().company() + " - " + g.r.choice(["Renewal", "Upsell", "New"])),
        N("Amount", F64, "amount", money(1000, 2e6)),
        N("CloseDate", D32, "date", date),
        N("Probability", F64, "percent", choice(10.0, 20.0, 50.0, 75.0, 90.0, 100.0)),
    ]))
    t.append(Table("salesforce", "LoginHistory", 150, [
        N("Id", S, "record id", sf_id("0Ya")),
        N("LoginTime", TS, "timestamp", ts),
        C("SourceIp", S, "PII", "client IP address", ipaddr),
        N("Status", S, "result", choice("Success", "Invalid Password", "Failed: Computer activation required")),
        N("CountryIso", S, "country code", country),
    ]))
    # ---- Pagila
    t.append(Table("pagila", "customer", 200, [
        N("customer_id", I64, "key", intr(1, 600)),
        C("first_name", S, "PII", "given name", lambda g: g.fk["en_US"].first_name().upper()),
        C("last_name", S, "PII", "family name", lambda g: g.fk["en_US"].last_name().upper()),
        C("email", S, "PII", "email", lambda g: g.fk["en_US"].email()),
        N("address_id", I64, "foreign key", intr(1, 605)),
        N("create_date", D32, "date", date),
        N("last_update", TS, "timestamp", ts),
    ]))
    t.append(Table("pagila", "staff", 50, [
        N("staff_id", I64, "key", intr(1, 2)),
        C("first_name", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("last_name", S, "PII", "family name", lambda g: g.loc().last_name()),
        C("email", S, "PII", "staff email", lambda g: g.fk["en_US"].email()),
        C("username", S, "PII", "staff login name (identifies the person)", lambda g: g.fk["en_US"].first_name()),
        C("password", S, "CREDENTIAL", "password hash (SHA-1 hex in Pagila)", hexs(40)),
        N("active", B, "flag", boolean(0.9)),
    ]))
    t.append(Table("pagila", "address", 180, [
        N("address_id", I64, "key", intr(1, 605)),
        C("address", S, "PII", "customer's street address", lambda g: street(g)),
        N("district", S, "region alone (borderline: NONE)", lambda g: g.loc().city()),
        N("city_id", I64, "foreign key", intr(1, 600)),
        C("postal_code", S, "PII", "postcode of the address", lambda g: postcode(g), 0.05),
        C("phone", S, "PII", "customer's phone, digits only as in Pagila",
          lambda g: g.digits(g.r.choice([10, 11, 12]))),
    ]))
    t.append(Table("pagila", "payment", 200, [
        N("payment_id", I64, "key", intr(16050, 32098)),
        N("customer_id", I64, "foreign key", intr(1, 599)),
        N("rental_id", I64, "foreign key", intr(1, 16049)),
        N("amount", DEC, "amount numeric(5,2)", dec(0, 11.99)),
        N("payment_date", TS, "timestamp", ts),
    ]))
    t.append(Table("pagila", "rental", 200, [
        N("rental_id", I64, "key", intr(1, 16049)),
        N("rental_date", TS, "timestamp", ts),
        N("inventory_id", I64, "foreign key", intr(1, 4581)),
        N("return_date", TS, "timestamp", ts, 0.05),
    ]))
    t.append(Table("pagila", "film", 100, [
        N("film_id", I64, "key", intr(1, 1000)),
        N("title", S, "film title", lambda g: " ".join(g.fk["en_US"].words(2)).upper()),
        N("description", S, "free text", sentence),
        N("rental_rate", DEC, "numeric(4,2)", choice(Decimal("0.99"), Decimal("2.99"), Decimal("4.99"))),
        N("rating", S, "mpaa_rating", choice("G", "PG", "PG-13", "R", "NC-17")),
    ]))
    # ---- Oracle HR
    def hr_email(g: Gen) -> str:
        f = g.fk["en_US"]
        return (f.first_name()[0] + f.last_name()).upper()[:8]

    t.append(Table("oracle_hr", "EMPLOYEES", 107, [
        N("EMPLOYEE_ID", I64, "key", intr(100, 206)),
        C("FIRST_NAME", S, "PII", "given name", lambda g: g.fk["en_US"].first_name()),
        C("LAST_NAME", S, "PII", "family name", lambda g: g.fk["en_US"].last_name()),
        C("EMAIL", S, "PII", "email local part as HR stores it (SKING)", hr_email),
        C("PHONE_NUMBER", S, "PII", "phone, HR's dotted format",
          lambda g: g.r.choice([f"{g.r.choice(['515', '650', '590', '603'])}.{g.digits(3)}.{g.digits(4)}",
                                f"011.44.{g.digits(4)}.{g.digits(6)}"])),
        N("HIRE_DATE", D32, "date", date),
        N("JOB_ID", S, "job code", choice("AD_PRES", "IT_PROG", "SA_REP", "ST_CLERK", "FI_ACCOUNT")),
        N("SALARY", F64, "salary: confidential but not in the taxonomy: NONE", money(2100, 24000, 0)),
        N("DEPARTMENT_ID", I64, "foreign key", choice(10, 20, 30, 50, 60, 80, 90, 110), 0.01),
    ]))
    t.append(Table("oracle_hr", "DEPARTMENTS", 60, [
        N("DEPARTMENT_ID", I64, "key", intr(10, 270)),
        N("DEPARTMENT_NAME", S, "name", choice("Administration", "Marketing", "Purchasing", "Shipping", "IT")),
    ]))
    t.append(Table("oracle_hr", "JOBS", 50, [
        N("JOB_ID", S, "job code", choice("AD_PRES", "AD_VP", "IT_PROG", "MK_MAN", "HR_REP")),
        N("JOB_TITLE", S, "job title", lambda g: g.fk["en_US"].job()),
        N("MIN_SALARY", I64, "amount", intr(2000, 20000)),
        N("MAX_SALARY", I64, "amount", intr(5000, 40000)),
    ]))
    t.append(Table("oracle_hr", "LOCATIONS", 60, [
        N("LOCATION_ID", I64, "key", intr(1000, 3200)),
        N("STREET_ADDRESS", S, "an office's street address, not a person's: NONE by the rule", street),
        N("CITY", S, "city", city),
        N("STATE_PROVINCE", S, "state", lambda g: g.fk["en_US"].state(), 0.2),
        N("COUNTRY_ID", S, "country code", country),
    ]))
    # ---- AdventureWorks
    t.append(Table("adventureworks", "Person.Person", 150, [
        N("BusinessEntityID", I64, "key", intr(1, 20777)),
        N("Title", S, "honorific", choice("Mr.", "Ms.", "Sr.", "Mrs."), 0.9),
        C("FirstName", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("MiddleName", S, "PII", "middle name or initial", lambda g: g.fk["en_US"].first_name()[0], 0.4),
        C("LastName", S, "PII", "family name", lambda g: g.loc().last_name()),
        N("EmailPromotion", I64, "0/1/2 preference", intr(0, 2)),
        N("rowguid", S, "uuid", uuid4),
        N("ModifiedDate", TS, "timestamp", ts),
    ]))
    t.append(Table("adventureworks", "Person.EmailAddress", 120, [
        N("EmailAddressID", I64, "key", intr(1, 19972)),
        C("EmailAddress", S, "PII", "email",
          lambda g: g.fk["en_US"].user_name() + str(g.r.randint(0, 9)) + "@adventure-works.com"),
    ]))
    t.append(Table("adventureworks", "Person.PersonPhone", 120, [
        N("BusinessEntityID", I64, "key", intr(1, 20777)),
        C("PhoneNumber", S, "PII", "person's phone (AdventureWorks: 1 (11) 500 555-0132 and 245-555-0173 styles)",
          lambda g: g.r.choice([f"1 (11) 500 555-0{g.digits(3)}", f"{g.digits(3)}-555-0{g.digits(3)}", phone(g)])),
        N("PhoneNumberTypeID", I64, "1 cell, 2 home, 3 work", intr(1, 3)),
    ]))
    t.append(Table("adventureworks", "Person.Password", 100, [
        N("BusinessEntityID", I64, "key", intr(1, 20777)),
        C("PasswordHash", S, "CREDENTIAL", "password hash (base64 SHA)",
          lambda g: base64.b64encode(hashlib.sha256(g.s(ALNUM, 12).encode()).digest()).decode()[:40]),
        N("PasswordSalt", S, "salt: not secret and grants nothing alone: NONE (borderline)",
          lambda g: base64.b64encode(bytes(g.r.getrandbits(8) for _ in range(6))).decode()),
    ]))
    t.append(Table("adventureworks", "Sales.CreditCard", 150, [
        N("CreditCardID", I64, "key", intr(1, 19237)),
        N("CardType", S, "brand", choice("SuperiorCard", "Distinguish", "ColonialVoice", "Vista")),
        C("CardNumber", S, "SENSITIVE", "full card number (PAN), Luhn-valid", card_number),
        N("ExpMonth", I64, "month", intr(1, 12)),
        N("ExpYear", I64, "year", intr(2005, 2008)),
    ]))
    t.append(Table("adventureworks", "HumanResources.Employee", 120, [
        N("BusinessEntityID", I64, "key", intr(1, 290)),
        C("NationalIDNumber", S, "SENSITIVE", "national id number (AdventureWorks: 9 digits, no dashes)",
          lambda g: str(g.r.randint(10_000_000, 999_999_999))),
        C("LoginID", S, "PII", "domain login of the employee (adventure-works\\ken0)",
          lambda g: "adventure-works\\" + g.fk["en_US"].first_name().lower() + str(g.r.randint(0, 9))),
        N("JobTitle", S, "job title (borderline: NONE)", lambda g: g.fk["en_US"].job()),
        C("BirthDate", D32, "PII", "date of birth", birthdate),
        N("MaritalStatus", S, "S/M (borderline: NONE)", choice("S", "M")),
        N("Gender", S, "M/F (borderline: NONE)", choice("M", "F")),
        N("HireDate", D32, "date", date),
    ]))
    t.append(Table("adventureworks", "Production.Product", 150, [
        N("ProductID", I64, "key", intr(1, 999)),
        N("ProductNumber", S, "product code", lambda g: f"{g.s('BFHKLRS', 2)}-{g.s(UPPER_ALNUM, 4)}-{g.digits(2)}"),
        N("StandardCost", F64, "money", money(0.5, 2200, 4)),
        N("ListPrice", F64, "money", money(0, 3600)),
    ]))
    # ---- Synthea
    t.append(Table("synthea", "patients", 150, [
        N("Id", S, "synthetic patient uuid (a key, not an identifier issued to the person)", uuid4),
        C("BIRTHDATE", D32, "PII", "date of birth", birthdate),
        C("DEATHDATE", D32, "PII", "date of death of the person", birthdate, 0.85),
        C("SSN", S, "SENSITIVE", "US social security number (Synthea 999-xx-xxxx)", lambda g: ssn_us(g, synthea=True)),
        C("DRIVERS", S, "SENSITIVE", "driver's licence number (S999...)", lambda g: "S999" + g.digits(5), 0.2),
        C("PASSPORT", S, "SENSITIVE", "passport number (X...X)", lambda g: "X" + g.digits(8) + "X", 0.3),
        C("FIRST", S, "PII", "given name (with Synthea's digits)",
          lambda g: g.fk["en_US"].first_name() + str(g.r.randint(100, 999))),
        C("LAST", S, "PII", "family name", lambda g: g.fk["en_US"].last_name() + str(g.r.randint(100, 999))),
        C("MAIDEN", S, "PII", "maiden name", lambda g: g.fk["en_US"].last_name() + str(g.r.randint(100, 999)), 0.7),
        N("MARITAL", S, "M/S (borderline: NONE)", choice("M", "S", "D", "W"), 0.3),
        N("RACE", S, "category (not in the taxonomy: NONE)", choice("white", "black", "asian", "native", "other")),
        N("GENDER", S, "M/F", choice("M", "F")),
        C("ADDRESS", S, "PII", "home street address", lambda g: g.fk["en_US"].street_address()),
        N("CITY", S, "city alone", lambda g: g.fk["en_US"].city()),
        C("ZIP", S, "PII", "home ZIP code", lambda g: g.fk["en_US"].zipcode(), 0.1),
        N("HEALTHCARE_EXPENSES", F64, "amount", money(0, 2e6)),
        N("INCOME", I64, "amount", intr(10000, 300000)),
    ]))
    t.append(Table("synthea", "encounters", 200, [
        N("Id", S, "uuid", uuid4),
        N("START", TS, "timestamp", ts),
        N("PATIENT", S, "foreign key uuid", uuid4),
        N("CODE", I64, "SNOMED CT code", choice(185345009, 162673000, 410620009, 50849002)),
        N("DESCRIPTION", S, "encounter description (clinical text, no identifier)",
          choice(
              "Encounter for symptom", "General examination of patient (procedure)", "Well child visit (procedure)")),
        N("TOTAL_CLAIM_COST", F64, "amount", money(50, 20000)),
        N("REASONDESCRIPTION", S, "diagnosis text: health data but no identifier: NONE",
          choice("Acute bronchitis (disorder)", "Viral sinusitis (disorder)", "Hypertension"), 0.6),
    ]))
    t.append(Table("synthea", "observations", 200, [
        N("DATE", TS, "timestamp", ts),
        N("CODE", S, "LOINC code", choice("8302-2", "29463-7", "39156-5", "8867-4", "2339-0")),
        N("VALUE", S, "measurement as text", lambda g: f"{g.r.uniform(1, 200):.1f}"),
        N("UNITS", S, "unit", choice("cm", "kg", "kg/m2", "/min", "mg/dL")),
    ]))
    # ---- FHIR
    t.append(Table("fhir", "Patient", 120, [
        N("id", S, "resource id", uuid4),
        C("identifier_value", S, "SENSITIVE", "medical record number (identifier type MR)",
          lambda g: g.r.choice([g.digits(8), "MRN" + g.digits(7), f"{g.digits(3)}-{g.digits(2)}-{g.digits(4)}"])),
        C("name_family", S, "PII", "family name", lambda g: g.loc().last_name()),
        C("name_given", S, "PII", "given name", lambda g: g.loc().first_name()),
        C("telecom_value", S, "PII", "phone or email of the patient",
          lambda g: email(g) if g.r.random() < 0.4 else phone(g)),
        N("gender", S, "administrative gender", choice("male", "female", "other", "unknown")),
        C("birthDate", S, "PII", "date of birth as FHIR date text", lambda g: birthdate(g).isoformat()),
        C("address_line", S, "PII", "home street", street),
        C("address_postalCode", S, "PII", "home postcode", postcode),
        N("address_city", S, "city alone", city),
    ]))
    t.append(Table("fhir", "Patient_ukcore", 80, [
        C("identifier_nhsNumber", S, "SENSITIVE", "NHS number (mod-11)", nhs_number),
        N("meta_lastUpdated", TS, "timestamp", ts),
    ]))
    t.append(Table("fhir", "Coverage", 90, [
        N("id", S, "resource id", uuid4),
        N("status", S, "code", choice("active", "cancelled", "draft")),
        C("subscriberId", S, "SENSITIVE", "insurance member id (health identifier)",
          lambda g: g.r.choice([mbi_us(g), g.s(string.ascii_uppercase, 3) + g.digits(9), "W" + g.digits(9)])),
        N("relationship", S, "code", choice("self", "spouse", "child")),
        N("period_start", D32, "date", date),
    ]))
    t.append(Table("fhir", "Observation", 150, [
        N("code_coding_code", S, "LOINC code", choice("8480-6", "8462-4", "718-7", "4548-4")),
        N("valueQuantity_value", F64, "measurement", money(0, 250)),
        N("valueQuantity_unit", S, "unit", choice("mm[Hg]", "g/dL", "%")),
        N("effectiveDateTime", TS, "timestamp", ts),
        N("subject_reference", S, "reference to Patient resource id", lambda g: "Patient/" + uuid4(g)),
    ]))
    t.append(Table("fhir", "Practitioner", 60, [
        C("name_family", S, "PII", "practitioner's family name", lambda g: g.loc().last_name()),
        C("telecom_value", S, "PII", "practitioner's work phone", intl_phone),
        N("qualification_code", S, "degree", choice("MD", "DO", "RN", "NP", "PA")),
    ]))
    # ---- MIMIC-IV
    t.append(Table("mimic_iv", "patients", 200, [
        N("subject_id", I64, "pseudonymous study id", intr(10_000_000, 19_999_999)),
        N("gender", S, "M/F", choice("M", "F")),
        N("anchor_age", I64, "age", intr(18, 91)),
        N("anchor_year", I64, "shifted year", intr(2110, 2210)),
    ]))
    # ---- Odoo
    t.append(Table("odoo", "hr_employee", 100, [
        N("id", I64, "key", intr(1, 5000)),
        C("ssnid", S, "SENSITIVE", "social security number (country's format)",
          lambda g: g.r.choice([ssn_us, nir_fr, nino_uk, bsn_nl])(g), 0.3),
        C("sinid", S, "SENSITIVE", "social insurance number (Canada SIN)", sin_ca, 0.5),
        C("identification_id", S, "SENSITIVE", "national identification number",
          lambda g: g.r.choice([nif_es, cpf_br, aadhaar_in, steuer_id_de, my_number_jp])(g), 0.2),
        C("passport_id", S, "SENSITIVE", "passport number", passport, 0.4),
        C("permit_no", S, "SENSITIVE", "work permit number",
          lambda g: g.s(string.ascii_uppercase, 3) + g.digits(10), 0.7),
        C("private_email", S, "PII", "private email", email, 0.2),
        C("private_phone", S, "PII", "private phone", phone, 0.3),
        C("birthday", D32, "PII", "date of birth", birthdate, 0.1),
        N("place_of_birth", S, "city (borderline: NONE)", city, 0.3),
        N("km_home_work", I64, "distance", intr(0, 80)),
        C("emergency_contact", S, "PII", "a person's name", lambda g: g.loc().name(), 0.3),
    ]))
    t.append(Table("odoo", "res_partner_bank", 80, [
        N("id", I64, "key", intr(1, 9000)),
        C("acc_number", S, "SENSITIVE", "bank account number (IBAN)", iban),
        N("bank_bic", S, "bank identifier (BIC) names a bank, not an account: NONE",
          lambda g: g.s(string.ascii_uppercase, 4) + g.r.choice(["DE", "FR", "ES", "GB"]) + g.s(UPPER_ALNUM, 2)
          + g.r.choice(["", "XXX", g.s(UPPER_ALNUM, 3)])),
        C("acc_holder_name", S, "PII", "account holder's name", lambda g: g.loc().name(), 0.3),
        N("allow_out_payment", B, "flag", boolean(0.5)),
    ]))
    # ---- ERPNext
    t.append(Table("erpnext", "Employee", 90, [
        N("name", S, "document name HR-EMP-00001", lambda g: f"HR-EMP-{g.r.randint(1, 99999):05d}"),
        C("employee_name", S, "PII", "full name", lambda g: g.loc().name()),
        C("date_of_birth", D32, "PII", "date of birth", birthdate),
        N("date_of_joining", D32, "date", date),
        C("cell_number", S, "PII", "mobile number", intl_phone, 0.2),
        C("personal_email", S, "PII", "personal email", email, 0.3),
        C("current_address", S, "PII", "home address, multi-line", lambda g: g.loc().address(), 0.3),
        C("passport_number", S, "SENSITIVE", "passport number", passport, 0.4),
        C("bank_ac_no", S, "SENSITIVE", "bank account number",
          lambda g: g.digits(g.r.choice([9, 10, 11, 12, 14, 16])), 0.3),
        C("iban", S, "SENSITIVE", "IBAN", iban, 0.5),
        N("blood_group", S, "blood group (not an identifier)", choice("A+", "A-", "B+", "O+", "O-", "AB+"), 0.4),
        C("person_to_be_contacted", S, "PII", "emergency contact's name", lambda g: g.loc().name(), 0.4),
        C("emergency_phone_number", S, "PII", "emergency contact's phone", phone, 0.4),
        N("ctc", F64, "cost to company: salary, NONE", money(200000, 5000000)),
    ]))
    # ---- credentials in application tables
    t.append(Table("django", "auth_user", 120, [
        N("id", I64, "key", intr(1, 100000)),
        C("password", S, "CREDENTIAL", "password hash (pbkdf2/argon2)", django_hash),
        N("last_login", TS, "timestamp", ts, 0.2),
        C("username", S, "PII", "login name", lambda g: g.loc().user_name()),
        C("email", S, "PII", "email", email),
        N("date_joined", TS, "timestamp", ts),
    ]))
    t.append(Table("django", "authtoken_token", 60, [
        C("key", S, "CREDENTIAL", "DRF API token (40 hex)", hexs(40)),
        N("created", TS, "timestamp", ts),
        N("user_id", I64, "foreign key", intr(1, 100000)),
    ]))
    t.append(Table("django", "django_session", 100, [
        C("session_key", S, "CREDENTIAL", "session id (bearer secret)",
          lambda g: g.s(string.ascii_lowercase + string.digits, 32)),
        N("expire_date", TS, "timestamp", ts),
    ]))
    t.append(Table("devise", "users", 100, [
        C("email", S, "PII", "email", email),
        C("encrypted_password", S, "CREDENTIAL", "bcrypt hash", bcrypt_hash),
        C("reset_password_token", S, "CREDENTIAL", "reset token digest (64 hex)", hexs(64), 0.8),
        N("sign_in_count", I64, "count", intr(0, 900)),
        C("current_sign_in_ip", S, "PII", "client IP address", ipaddr, 0.1),
        N("confirmed_at", TS, "timestamp", ts, 0.1),
    ]))
    t.append(Table("gitlab", "personal_access_tokens", 80, [
        N("id", I64, "key", intr(1, 10_000_000)),
        N("name", S, "token's label", choice("ci", "deploy", "renovate", "my laptop", "terraform")),
        N("expires_at", D32, "date", date, 0.1),
        N("scopes", S, "scope list",
          choice("---\n- api\n", "---\n- read_repository\n", "---\n- read_api\n- read_registry\n")),
        C("token_digest", S, "CREDENTIAL", "token digest (base64 SHA-256)",
          lambda g: base64.b64encode(bytes(g.r.getrandbits(8) for _ in range(32))).decode()),
    ]))
    t.append(Table("airflow", "connection", 70, [
        N("conn_id", S, "connection name",
          choice("aws_default", "slack_api_default", "github_default", "stripe_prod", "postgres_dwh")),
        N("conn_type", S, "type", choice("aws", "slack", "github", "http", "postgres")),
        N("host", S, "host name", lambda g: g.fk["en_US"].hostname(), 0.3),
        N("port", I64, "port", choice(443, 5432, 3306), 0.4),
        C("login", S, "CREDENTIAL", "AWS access key id used as the connection login", aws_key_id),
        C("password", S, "CREDENTIAL", "secret: AWS secret key, ghp_, xoxb-, sk_live_, plain password",
          lambda g: g.r.choice([aws_secret, github_token, slack_token, stripe_secret, plain_password])(g)),
    ]))
    t.append(Table("slack_bolt", "slack_installations", 60, [
        N("id", I64, "key", intr(1, 5000)),
        N("client_id", S, "app client id (public)", lambda g: f"{g.digits(13)}.{g.digits(13)}"),
        N("team_id", S, "workspace id", lambda g: "T0" + g.s(UPPER_ALNUM, 9)),
        N("team_name", S, "workspace name", company),
        N("bot_id", S, "bot id", lambda g: "B0" + g.s(UPPER_ALNUM, 9)),
        C("bot_token", S, "CREDENTIAL", "bot token xoxb-", slack_token),
        C("user_token", S, "CREDENTIAL", "user token xoxp-", lambda g: slack_token(g, "xoxp"), 0.3),
        C("incoming_webhook_url", S, "CREDENTIAL", "webhook URL embedding its secret",
          lambda g: f"https://hooks.slack.com/services/T0{g.s(UPPER_ALNUM, 9)}/B0{g.s(UPPER_ALNUM, 9)}/"
          + g.s(ALNUM, 24), 0.4),
        N("installed_at", TS, "timestamp", ts),
    ]))
    t.append(Table("aws", "credentials", 50, [
        N("profile", S, "profile name", choice("default", "prod", "dev", "ci", "analytics")),
        C("aws_access_key_id", S, "CREDENTIAL", "access key id (AKIA/ASIA)", aws_key_id),
        C("aws_secret_access_key", S, "CREDENTIAL", "secret access key", aws_secret),
        C("aws_session_token", S, "CREDENTIAL", "session token", aws_session_token, 0.5),
        N("region", S, "region", choice("us-east-1", "eu-central-1", "ap-northeast-1")),
    ]))
    t.append(Table("aws", "cloudtrail", 200, [
        N("eventTime", TS, "timestamp", ts),
        N("eventSource", S, "service", choice("s3.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com")),
        N("eventName", S, "API call", choice("GetObject", "AssumeRole", "ListBuckets", "CreateUser")),
        C("sourceIPAddress", S, "PII", "caller's IP address", ipaddr),
        N("userAgent", S, "user agent", lambda g: g.fk["en_US"].user_agent()),
        N("requestID", S, "uuid", uuid4),
        C("userIdentity_accessKeyId", S, "CREDENTIAL", "access key id of the caller", aws_key_id),
    ]))
    t.append(Table("github_oauth", "token_response", 60, [
        C("access_token", S, "CREDENTIAL", "user access token ghu_/gho_", lambda g: github_token(g, ("ghu_", "gho_"))),
        N("expires_in", I64, "seconds", choice(28800)),
        C("refresh_token", S, "CREDENTIAL", "refresh token ghr_", lambda g: "ghr_" + g.s(ALNUM, 76)),
        N("scope", S, "scopes", choice("", "repo", "read:user,user:email")),
        N("token_type", S, "bearer", choice("bearer")),
    ]))
    t.append(Table("firebase", "firebaseConfig", 50, [
        C("apiKey", S, "CREDENTIAL", "Google API key AIza...", google_api_key),
        N("authDomain", S, "domain", lambda g: g.fk["en_US"].word() + "-" + g.digits(4) + ".firebaseapp.com"),
        N("projectId", S, "project id", lambda g: g.fk["en_US"].word() + "-" + g.digits(5)),
        N("messagingSenderId", S, "numeric sender id", lambda g: g.digits(12)),
        N("appId", S, "app id", lambda g: f"1:{g.digits(12)}:web:{g.s(HEX, 22)}"),
    ]))
    t.append(Table("gcp_sa", "service_account_key", 50, [
        N("type", S, "constant", choice("service_account")),
        N("project_id", S, "project id", lambda g: g.fk["en_US"].word() + "-prod-" + g.digits(6)),
        N("private_key_id", S, "key identifier, public, grants nothing: NONE", hexs(40)),
        C("private_key", S, "CREDENTIAL", "PEM private key", pem_private_key),
        N("client_email", S, "service account address, not a person: NONE",
          lambda g: g.fk["en_US"].word() + "-sa@" + g.fk["en_US"].word() + "-" + g.digits(6)
          + ".iam.gserviceaccount.com"),
        N("client_id", S, "numeric id", lambda g: g.digits(21)),
        N("token_uri", S, "URL", choice("https://oauth2.googleapis.com/token")),
    ]))
    t.append(Table("oidc", "token_response", 80, [
        C("id_token", S, "CREDENTIAL", "JWT id token", jwt),
        C("access_token", S, "CREDENTIAL", "JWT or opaque bearer token",
          lambda g: jwt(g) if g.r.random() < 0.6 else g.s(B64URL, 43)),
        N("token_type", S, "Bearer", choice("Bearer")),
        N("expires_in", I64, "seconds", choice(3599, 3600, 86400)),
    ]))
    # ---- real EAV / key-value tables whose value column says nothing
    t.append(Table("magento", "customer_entity_varchar_telephone", 120, [
        N("value_id", I64, "key", intr(1, 10_000_000)),
        N("attribute_id", I64, "attribute key", choice(31)),
        N("entity_id", I64, "customer key", intr(1, 500000)),
        C("value", S, "PII", "attribute 'telephone': phone numbers in international formats", intl_phone),
    ]))
    t.append(Table("wordpress", "wp_usermeta_billing_email", 100, [
        N("umeta_id", I64, "key", intr(1, 10_000_000)),
        N("user_id", I64, "foreign key", intr(1, 90000)),
        N("meta_key", S, "key name", choice("billing_email")),
        C("meta_value", S, "PII", "billing emails", email),
    ]))
    t.append(Table("wordpress", "wp_options_stripe_keys", 50, [
        N("option_id", I64, "key", intr(1, 90000)),
        N("option_name", S, "option name", choice("woocommerce_stripe_settings_secret_key")),
        C("option_value", S, "CREDENTIAL", "Stripe secret keys sk_live_/rk_live_", stripe_secret),
        N("autoload", S, "yes/no", choice("yes", "no")),
    ]))
    t.append(Table("openfoodfacts", "products", 150, [
        N("code", S, "EAN-13 barcode", ean13),
        N("product_name", S, "name", lambda g: " ".join(g.fk["fr_FR"].words(3)).capitalize()),
        N("brands", S, "brand", company),
        N("quantity", S, "quantity", choice("500 g", "1 L", "330 ml", "6 x 125 g")),
        N("energy_100g", F64, "kJ", money(0, 3800, 0)),
    ]))
    # ---- opaque headers, content only
    t.append(Table("opaque", "export_a", 150, [
        C("col_7", S, "PII", "phone numbers, international formats", intl_phone, 0.1),
        C("attr3", S, "PII", "email addresses", email, 0.1),
        C("value", S, "SENSITIVE", "IBANs", iban, 0.05),
        C("field_12", S, "CREDENTIAL", "API keys with provider prefixes", mixed_api_key),
        C("c4", S, "SENSITIVE", "passport numbers", passport, 0.1),
        C("col_10", S, "PII", "phone numbers, national formats of eight countries", phone, 0.1),
        C("tmp_1", S, "SENSITIVE", "Canadian SINs", sin_ca),
        C("tmp_2", S, "SENSITIVE", "NHS numbers", nhs_number),
        C("tmp_3", S, "SENSITIVE", "US Medicare Beneficiary Identifiers", mbi_us),
        C("tmp_4", S, "CREDENTIAL", "plain-text passwords", plain_password),
        N("col_1", I64, "row counter", intr(1, 1_000_000)),
        N("col_2", S, "status code", choice("A", "B", "C", "X")),
        N("col_3", F64, "amount", money(0, 10000)),
        N("col_8", S, "uuid", uuid4),
        N("field_3", TS, "timestamp", ts),
    ]))
    t.append(Table("opaque", "export_b", 120, [
        C("x1", I64, "SENSITIVE", "German Steuer-IDs stored as integers",
          lambda g: int(steuer_id_de(g).replace(" ", ""))),
        C("data_2", S, "SENSITIVE", "UK National Insurance numbers", nino_uk),
        C("v", S, "SENSITIVE", "Brazilian CPFs", cpf_br),
        C("attr_9", S, "SENSITIVE", "card numbers (Luhn-valid)", card_number),
        C("f5", S, "SENSITIVE", "US SSNs", ssn_us),
        C("col_a", S, "SENSITIVE", "Spanish NIF/NIE", nif_es),
        C("col_b", S, "SENSITIVE", "Indian Aadhaar numbers (Verhoeff)", aadhaar_in),
        C("col_c", S, "SENSITIVE", "French NIR (social security numbers)", nir_fr),
        C("col_d", S, "SENSITIVE", "Dutch BSN", bsn_nl),
        C("col_e", S, "SENSITIVE", "Japanese My Number", my_number_jp),
        C("col_f", S, "SENSITIVE", "Indian PAN", pan_in),
        C("col_g", S, "SENSITIVE", "driver's licence numbers", driving_licence),
        N("col_h", S, "EAN-13 barcodes", ean13),
        N("col_i", I64, "unix timestamps", unix),
        N("col_j", S, "order numbers", lambda g: "ORD-" + g.digits(8)),
    ]))
    t.append(Table("opaque", "export_c", 100, [
        C("value1", S, "CREDENTIAL", "JWTs", jwt),
        C("value2", S, "CREDENTIAL", "bcrypt hashes", bcrypt_hash),
        C("value3", S, "CREDENTIAL", "PEM private keys", pem_private_key),
        C("value4", S, "CREDENTIAL", "GitHub tokens", github_token),
        C("value5", S, "CREDENTIAL", "Slack bot tokens", slack_token),
        C("value6", S, "CREDENTIAL", "Google API keys", google_api_key),
        C("value7", S, "CREDENTIAL", "AWS access key ids", aws_key_id),
        C("value8", I64, "PII", "phone numbers as integers (E.164 digits)",
          lambda g: int(g.r.choice(["49151", "33612", "447700", "5511", "9198", "8190"]) + g.digits(7))),
        C("value9", S, "PII", "IP addresses", ipaddr),
        C("value10", S, "PII", "dates of birth as text, mixed formats",
          lambda g: birthdate(g).strftime(g.r.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"]))),
        C("value11", S, "PII", "person names", lambda g: g.loc().name()),
        C("value12", S, "PII", "postal addresses, multi-line", lambda g: g.loc().address()),
        N("value13", S, "hex checksums (md5)", hexs(32)),
        N("value14", S, "product SKUs", lambda g: g.s(string.ascii_uppercase, 3) + "-" + g.digits(5)),
        N("value15", S, "currency codes", choice("USD", "EUR", "GBP", "JPY", "BRL", "INR")),
        N("value16", F64, "ratios", money(0, 1, 4)),
        N("value18", S, "free text", sentence),
        N("value19", S, "country names", lambda g: g.loc().country()),
        N("value20", I64, "amounts in cents", intr(100, 10_000_000)),
    ]))
    return t


# --------------------------------------------------------------------------- write


def column_values(g: Gen, col: Col, rows: int) -> pa.Array:
    values = [None if g.r.random() < col.nulls else col.make(g) for _ in range(rows)]
    if col.type == pa.string() and col.nulls:
        # messy data: a few empty strings and placeholders beside the nulls
        values = [("" if g.r.random() < 0.5 else "N/A") if v is None and g.r.random() < 0.2 else v for v in values]
    return pa.array(values, type=col.type)


def main(out: Path = HERE) -> list[dict[str, str]]:
    """Write out/data/*.parquet and out/labels.csv; returns the label rows."""
    g = Gen(SEED)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("*.parquet"):
        old.unlink()
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for tab in tables():
        assert tab.source in SOURCES, tab.source
        assert 50 <= tab.rows <= 200, tab.table
        arrays, names = [], []
        for col in tab.cols:
            key = (tab.source, tab.table, col.name)
            assert key not in seen, key
            assert col.label in {"PII", "SENSITIVE", "CREDENTIAL", "NONE"}, key
            seen.add(key)
            arr = column_values(g, col, tab.rows)
            arrays.append(arr)
            names.append(col.name)
            title, url = SOURCES[tab.source]
            rows.append({
                "file": f"{tab.source}__{tab.table}.parquet",
                "source": tab.source,
                "source_doc": title,
                "source_url": url,
                "table": tab.table,
                "column": col.name,
                "arrow_type": str(arr.type),
                "label": col.label,
                "reason": col.reason,
            })
        pq.write_table(pa.table(arrays, names=names), data / f"{tab.source}__{tab.table}.parquet",
                       compression="zstd")
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    by_label: dict[str, int] = {}
    for r in rows:
        by_label[r["label"]] = by_label.get(r["label"], 0) + 1
    print(f"{len(rows)} columns in {len(list(data.glob('*.parquet')))} files: {by_label}")
    return rows


if __name__ == "__main__":
    main()
