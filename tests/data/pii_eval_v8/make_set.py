"""Generate the eighth blind PII evaluation set: a third representative held-out sample.

    .venv/bin/python tests/data/pii_eval_v8/make_set.py      # rewrite data/*.parquet and labels.csv

Sets 1 to 7 (tests/data/pii_eval, pii_eval_v2 ... pii_eval_v7) have been scored or used for
development; this set takes the tables of public application schemas none of them used (SOURCES,
README.md) with their real column names, types and mixes of sensitive and ordinary columns, and
fills them with the common kinds of values those applications hold, in the common locales of their
users. Then content-only columns with opaque names, drawn from common kinds of data in the
proportion an export would hold them. Every label is decided here from the column's meaning, with
set 1's taxonomy and rules and the decisions recorded by sets 2 to 7, before any detector has run
on it.

Each table draws from its own generator, seeded with SEED and the table's name, so one source can
be made alone (``main(out, sources={...})``) and comes out the same as in the whole run.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import random
import string
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker
from faker.providers.address.it_IT import Provider as ItAddress
from stdnum import ean, luhn, verhoeff
from stdnum.br import cpf as br_cpf
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_cf
from stdnum.se import personnummer as se_pnr

HERE = Path(__file__).resolve().parent
SEED = 20281202
# the locales most users of these applications have
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "en_IN", "en_AU", "es_MX", "en_CA", "sv_SE"]
REGIONS = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "es_ES": "ES",
    "it_IT": "IT",
    "pt_BR": "BR",
    "en_IN": "IN",
    "en_AU": "AU",
    "es_MX": "MX",
    "en_CA": "CA",
    "sv_SE": "SE",
}
IBAN_LOCALES = ["de_DE", "fr_FR", "es_ES", "it_IT", "en_GB", "sv_SE", "pt_BR"]

SOURCES: dict[str, tuple[str, str]] = {
    "koha": ("Koha ILS database: borrowers, api_keys", "https://schema.koha-community.org/"),
    "evergreen": (
        "Evergreen ILS database: actor.usr, actor.usr_address, actor.card",
        "https://wiki.evergreen-ils.org/doku.php?id=evergreen-reports:schema",
    ),
    "openedx": (
        "Open edX LMS database: auth_user, auth_userprofile, oauth2_provider_accesstoken",
        "https://docs.openedx.org/en/latest/developers/references/index.html",
    ),
    "chamilo": ("Chamilo LMS database: user", "https://github.com/chamilo/chamilo-lms/tree/1.11.x/main/install"),
    "humhub": (
        "HumHub database: user, profile, user_password",
        "https://docs.humhub.org/docs/develop/models",
    ),
    "elgg": (
        "Elgg 2.x database: elgg_users_entity, elgg_users_apisessions",
        "https://learn.elgg.org/en/2.3/design/database.html",
    ),
    "orocrm": ("OroCRM database: oro_user, orocrm_contact", "https://doc.oroinc.com/backend/entities/"),
    "kanboard": (
        "Kanboard database: users, remember_me, password_reset",
        "https://github.com/kanboard/kanboard/tree/main/app/Schema",
    ),
    "taiga": ("Taiga database: users_user", "https://docs.taiga.io/api.html#users"),
    "openproject": (
        "OpenProject database: users, user_passwords, tokens",
        "https://www.openproject.org/docs/api/endpoints/users/",
    ),
    "vikunja": ("Vikunja database: users, api_tokens, totp", "https://vikunja.io/docs/"),
    "invoiceplane": (
        "InvoicePlane database: ip_clients, ip_users",
        "https://github.com/InvoicePlane/InvoicePlane/tree/development/application/modules/setup/sql",
    ),
    "crater": ("Crater invoicing database: customers, addresses", "https://docs.craterapp.com/"),
    "frontaccounting": (
        "FrontAccounting database: 0_debtors_master, 0_crm_persons, 0_users",
        "https://frontaccounting.com/fawiki/",
    ),
    "cachet": ("Cachet status page database: subscribers, users", "https://docs.cachethq.io/"),
    "uptimekuma": (
        "Uptime Kuma SQLite database: user, api_key",
        "https://github.com/louislam/uptime-kuma/tree/master/db",
    ),
    "authentik": (
        "authentik database: authentik_core_user, authentik_core_token, TOTP devices",
        "https://docs.goauthentik.io/docs/users-sources/user/",
    ),
    "authelia": (
        "Authelia storage: totp_configurations, authentication_logs, identity_verification",
        "https://www.authelia.com/configuration/storage/introduction/",
    ),
    "scim": (
        "SCIM 2.0 User resource, core and enterprise extension (RFC 7643)",
        "https://datatracker.ietf.org/doc/html/rfc7643",
    ),
    "peertube": ("PeerTube database: user, actor", "https://docs.joinpeertube.org/api-rest-reference.html"),
    "umami": ("Umami analytics database: user, session", "https://umami.is/docs"),
    "pleroma": ("Pleroma database: users", "https://docs-develop.pleroma.social/backend/"),
    "wekan": ("Wekan MongoDB: users (Meteor accounts)", "https://github.com/wekan/wekan/wiki"),
    "openimis": ("openIMIS database: tblInsuree, tblFamilies", "https://docs.openimis.org/"),
    "opaque": (
        "Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
        "tests/data/pii_eval_v8/README.md",
    ),
}

# --------------------------------------------------------------------------- value makers


class Gen:
    """The random sources: one Random and one Faker per locale, reseeded for every table."""

    def __init__(self) -> None:
        self.fk = {loc: Faker(loc) for loc in LOCALES}
        self.r = random.Random(SEED)
        self.cur = "en_US"

    def reseed(self, key: str) -> None:
        seed = SEED + zlib.crc32(key.encode())
        self.r = random.Random(seed)
        for i, loc in enumerate(LOCALES):
            self.fk[loc].seed_instance(seed + i)

    def loc(self, locales: list[str] | None = None) -> Faker:
        # weighted towards en_US, as the user bases of these applications are
        pool = locales or (["en_US"] * 4 + LOCALES)
        self.cur = self.r.choice(pool)
        return self.fk[self.cur]

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return self.s(string.digits, n)

    def raw(self, n: int) -> bytes:
        return bytes(self.r.getrandbits(8) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
LOWER_ALNUM = LOWER + string.digits
HEX = "0123456789abcdef"
CRYPT64 = "./" + string.digits + UPPER + LOWER
B64URL = ALNUM + "-_"


def until(g: Gen, make: Callable[[Gen], str], ok: Callable[[str], bool], tries: int = 50000) -> str:
    for _ in range(tries):
        value = make(g)
        try:
            if ok(value):
                return value
        except Exception:
            continue
    raise RuntimeError(f"no valid value from {make}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def choice(*options: Any) -> Callable[[Gen], Any]:
    return lambda g: g.r.choice(options)


def boolean(p: float) -> Callable[[Gen], bool]:
    return lambda g: g.r.random() < p


def intr(lo: int, hi: int) -> Callable[[Gen], int]:
    return lambda g: g.r.randint(lo, hi)


def seq() -> Callable[[Gen], int]:
    state = {"n": 0}

    def make(g: Gen) -> int:
        state["n"] += g.r.randint(1, 3)
        return state["n"]

    return make


def ts(g: Gen) -> dt.datetime:
    return dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=g.r.randint(0, 7 * 365 * 86400))


def ts_str(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%d %H:%M:%S")


def ts_iso(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%dT%H:%M:%S.") + f"{g.r.randint(0, 999):03d}Z"


def epoch_ms(g: Gen) -> int:
    return int(ts(g).timestamp() * 1000)


def birth(g: Gen) -> dt.date:
    return dt.date(1945, 1, 1) + dt.timedelta(days=g.r.randint(0, 60 * 365))


def birth_str(g: Gen) -> str:
    return birth(g).isoformat()


def amount(g: Gen) -> Decimal:
    return Decimal(g.r.randint(100, 500000)) / 100


def uid(g: Gen) -> str:
    return str(uuid.UUID(bytes=g.raw(16), version=4))


# people
def first(g: Gen) -> str:
    return g.loc().first_name()


def last(g: Gen) -> str:
    return g.loc().last_name()


def name(g: Gen) -> str:
    return g.loc().name()


def email(g: Gen) -> str:
    f = g.loc()
    e = f.free_email() if g.r.random() < 0.6 else f.email()
    return e.upper() if g.r.random() < 0.03 else e


def work_email(g: Gen) -> str:
    f = g.loc()
    return f"{f.first_name()}.{f.last_name()}@{f.domain_name()}".lower().replace(" ", "")


def username(g: Gen) -> str:
    f = g.loc()
    return g.r.choice([f.user_name, lambda: f.first_name().lower() + "." + f.last_name().lower().replace(" ", "")])()


def phone(g: Gen) -> str:
    """A valid number of the drawn locale's country, in the notations people type."""
    g.loc()
    region = REGIONS[g.cur]
    kind = g.r.choice([phonenumbers.PhoneNumberType.MOBILE] * 2 + [phonenumbers.PhoneNumberType.FIXED_LINE])
    ex = phonenumbers.example_number_for_type(region, kind)
    nsn = str(ex.national_number)
    keep = max(2, len(nsn) - 6)
    num = ex
    for _ in range(300):
        cand = phonenumbers.PhoneNumber(
            country_code=ex.country_code, national_number=int(nsn[:keep] + g.digits(len(nsn) - keep))
        )
        if phonenumbers.is_valid_number(cand):
            num = cand
            break
    fmt = g.r.choice(
        [
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        ]
    )
    return phonenumbers.format_number(num, fmt)


def street(g: Gen) -> str:
    return g.loc().street_address()


def postcode(g: Gen) -> str:
    return g.loc().postcode()


IT_CITIES: list[str] = []


def city(g: Gen) -> str:
    f = g.loc()
    if g.cur == "it_IT":  # Faker's it_IT city list comes from a set: its order changes with PYTHONHASHSEED
        if not IT_CITIES:
            IT_CITIES.extend(sorted(ItAddress.cities))
        return g.r.choice(IT_CITIES)
    return f.city()


def state(g: Gen) -> str:
    f = g.loc()
    return f.state() if hasattr(f, "state") else f.city()


def country_code(g: Gen) -> str:
    g.loc()
    return REGIONS[g.cur]


def address_ml(g: Gen) -> str:
    return g.loc().address()


def company(g: Gen) -> str:
    return g.loc().company()


def job(g: Gen) -> str:
    return g.fk["en_US"].job()


def ipv4(g: Gen) -> str:
    return g.fk["en_US"].ipv4_public()


def ip_any(g: Gen) -> str:
    return g.fk["en_US"].ipv6() if g.r.random() < 0.2 else ipv4(g)


def user_agent(g: Gen) -> str:
    return g.fk["en_US"].user_agent()


def url(g: Gen) -> str:
    return g.fk["en_US"].url()


def sentence(g: Gen) -> str:
    return g.fk["en_US"].sentence()


def lang(g: Gen) -> str:
    return g.r.choice(["en", "en_US", "de", "fr", "es", "it", "pt_BR", "sv"])


def tz(g: Gen) -> str:
    return g.r.choice(["Europe/Berlin", "America/New_York", "Europe/London", "Asia/Kolkata", "America/Sao_Paulo"])


def currency(g: Gen) -> str:
    return g.r.choice(["USD", "EUR", "GBP", "BRL", "INR", "AUD", "SEK", "MXN", "CAD"])


# identity documents and money
def ssn(g: Gen) -> str:
    return f"{g.r.randint(1, 899):03d}-{g.r.randint(1, 99):02d}-{g.r.randint(1, 9999):04d}"


def nino(g: Gen) -> str:
    return g.s("ABCEGHJKLMNOPRSTWXYZ", 2) + g.digits(6) + g.r.choice("ABCD")


def steuer_id(g: Gen) -> str:
    return until(g, lambda g: str(g.r.randint(1, 9)) + g.digits(10), de_idnr.is_valid)


def nir(g: Gen) -> str:
    body = f"{g.r.randint(1, 2)}{g.r.randint(45, 99):02d}{g.r.randint(1, 12):02d}{g.r.randint(1, 95):02d}{g.digits(6)}"
    return body + fr_nir.calc_check_digits(body)


def dni(g: Gen) -> str:
    body = g.digits(8)
    return body + es_dni.calc_check_digit(body)


def codice_fiscale(g: Gen) -> str:
    body = g.s(UPPER, 6) + g.digits(2) + g.r.choice("ABCDEHLMPRST") + f"{g.r.randint(1, 71):02d}"
    body += g.r.choice("ABCDEFGHLM") + g.digits(3)
    return body + it_cf.calc_check_digit(body)


def cpf(g: Gen) -> str:
    return br_cpf.format(until(g, lambda g: g.digits(11), br_cpf.is_valid))


def aadhaar(g: Gen) -> str:
    body = str(g.r.randint(2, 9)) + g.digits(10)
    n = body + verhoeff.calc_check_digit(body)
    return f"{n[:4]} {n[4:8]} {n[8:]}" if g.r.random() < 0.5 else n


def personnummer(g: Gen) -> str:
    return until(
        g,
        lambda g: birth(g).strftime("%y%m%d") + "-" + g.digits(4),
        se_pnr.is_valid,
    )


def national_id(g: Gen) -> str:
    """The id of the drawn locale's country: SSN, NINO, Steuer-ID, NIR, DNI, codice fiscale, CPF, Aadhaar..."""
    return g.r.choice([ssn, ssn, ssn, nino, steuer_id, nir, dni, codice_fiscale, cpf, aadhaar, personnummer])(g)


def iban(g: Gen) -> str:
    value = g.fk[g.r.choice(IBAN_LOCALES)].iban()
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if g.r.random() < 0.3 else value


def card(g: Gen) -> str:
    prefix, length = g.r.choice([("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15)])
    body = prefix + g.digits(length - len(prefix) - 1)
    n = body + luhn.calc_check_digit(body)
    return " ".join(n[i : i + 4] for i in range(0, len(n), 4)) if g.r.random() < 0.2 else n


def passport(g: Gen) -> str:
    return g.r.choice(
        [lambda: g.digits(9), lambda: g.s(UPPER, 2) + g.digits(7), lambda: "C" + g.s(UPPER + "0123456789", 8)]
    )()


# credentials in the formats these applications use
def bcrypt(prefix: str = "$2y$", cost: int = 10) -> Callable[[Gen], str]:
    return lambda g: f"{prefix}{cost:02d}${g.s(CRYPT64, 53)}"


def md5crypt(g: Gen) -> str:
    return f"$1${g.s(CRYPT64, 8)}${g.s(CRYPT64, 22)}"


def argon2(variant: str = "argon2id") -> Callable[[Gen], str]:
    return lambda g: f"${variant}$v=19$m=65536,t=4,p=1${b64(g.raw(16)).rstrip('=')}${b64(g.raw(32)).rstrip('=')}"


def django_pbkdf2(g: Gen) -> str:
    return f"pbkdf2_sha256$870000${g.s(ALNUM, 22)}${b64(g.raw(32))}"


def werkzeug(g: Gen) -> str:
    if g.r.random() < 0.5:
        return f"pbkdf2:sha256:600000${g.s(ALNUM, 16)}${g.raw(32).hex()}"
    return f"scrypt:32768:8:1${g.s(ALNUM, 16)}${g.raw(64).hex()}"


def sha1_hex(g: Gen) -> str:
    return g.raw(20).hex()


def sha256_hex(g: Gen) -> str:
    return g.raw(32).hex()


def md5_hex(g: Gen) -> str:
    return g.raw(16).hex()


def jwt(g: Gen) -> str:
    header = {"alg": g.r.choice(["HS256", "RS256"]), "typ": "JWT"}
    payload = {"sub": str(g.r.randint(1, 99999)), "iat": g.r.randint(1_700_000_000, 1_800_000_000)}
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)]
    return ".".join([*parts, b64url(g.raw(32 if header["alg"] == "HS256" else 256))])


def common_api_key(g: Gen) -> str:
    """The keys most often leaked into tables: Stripe, GitHub, AWS, Slack, OpenAI, Google, SendGrid."""
    return g.r.choice(
        [
            lambda: "sk_live_" + g.s(ALNUM, 24),
            lambda: "rk_live_" + g.s(ALNUM, 24),
            lambda: "ghp_" + g.s(ALNUM, 36),
            lambda: "AKIA" + g.s(UPPER + "234567", 16),
            lambda: "xoxb-" + g.digits(12) + "-" + g.digits(13) + "-" + g.s(ALNUM, 24),
            lambda: "sk-proj-" + g.s(B64URL, 48),
            lambda: "AIza" + g.s(B64URL, 35),
            lambda: "SG." + g.s(B64URL, 22) + "." + g.s(B64URL, 43),
        ]
    )()


def password_hash_common(g: Gen) -> str:
    return g.r.choice([bcrypt("$2y$"), bcrypt("$2a$"), bcrypt("$2b$", 12), django_pbkdf2, argon2(), werkzeug])(g)


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
TS, D32, DEC = pa.timestamp("us", tz="UTC"), pa.date32(), pa.decimal128(12, 2)


def C(name: str, typ: pa.DataType, label: str, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, label, reason, make, nulls)


def N(name: str, typ: pa.DataType, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, "NONE", reason, make, nulls)


def T(source: str, table: str, rows: int, cols: list[Col]) -> Table:
    return Table(source, table, rows, cols)


LETTERS = string.ascii_letters


def order_id(g: Gen) -> str:
    return g.r.choice(
        [
            lambda: "#" + str(g.r.randint(1000, 99999)),
            lambda: "ORD-" + g.digits(8),
            lambda: str(g.r.randint(100000, 999999)),
        ]
    )()


def sku(g: Gen) -> str:
    return g.s(UPPER, 3) + "-" + g.digits(4) + g.r.choice(["", "-BLK", "-M", "-XL"])


PRODUCTS = [
    "Wireless Mouse",
    "USB-C Cable 2m",
    "Organic Green Tea",
    "Running Shoes",
    "Desk Lamp",
    "Yoga Mat",
    "Coffee Beans 1kg",
    "Phone Case",
    "Backpack 20L",
    "Water Bottle",
    "Notebook A5",
    "Bluetooth Speaker",
]


def product(g: Gen) -> str:
    return g.r.choice(PRODUCTS)


def ean13(g: Gen) -> str:
    body = g.r.choice(["400", "500", "800", "840", "789"]) + g.digits(9)
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


def masked_card(g: Gen) -> str:
    return g.r.choice(["**** **** **** ", "XXXX-XXXX-XXXX-", "************"]) + g.digits(4)


def pg_url(g: Gen) -> str:
    user, db = g.r.choice(["app", "etl", "report"]), g.r.choice(["prod", "shop", "crm"])
    return f"postgresql://{user}:{g.s(ALNUM, 16)}@db-{g.r.randint(1, 9)}.internal:5432/{db}"


def private_key(g: Gen) -> str:
    body = b64(g.raw(1190))
    return (
        "-----BEGIN PRIVATE KEY-----\n"
        + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        + "\n-----END PRIVATE KEY-----\n"
    )


def dob_text(g: Gen) -> str:
    d = birth(g)
    return g.r.choice([d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"), d.isoformat(), d.strftime("%d.%m.%Y")])


# --------------------------------------------------------------------------- makers of this set


def phpass(g: Gen) -> str:
    return "$H$9" + g.s(CRYPT64, 8) + g.s(CRYPT64, 22)


def sha512crypt(g: Gen) -> str:
    return f"$6${g.s(CRYPT64, 16)}${g.s(CRYPT64, 86)}"


def mw_pbkdf2(g: Gen) -> str:
    return f":pbkdf2:sha512:30000:64:{b64(g.raw(16))}:{b64(g.raw(64))}"


def django_argon2(g: Gen) -> str:
    return f"argon2$argon2id$v=19$m=102400,t=2,p=8${b64(g.raw(16)).rstrip('=')}${b64(g.raw(32)).rstrip('=')}"


def hexs(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


def alnum(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(ALNUM, n)


def epoch(g: Gen) -> int:
    return int(ts(g).timestamp())


def mw_ts(g: Gen) -> str:
    return ts(g).strftime("%Y%m%d%H%M%S")


def yn(p: float) -> Callable[[Gen], str]:
    return lambda g: "Y" if g.r.random() < p else "N"


def phpbb_birthday(g: Gen) -> str:
    d = birth(g)
    return f"{d.day:2d}-{d.month:2d}-{d.year}"


def handle(g: Gen) -> str:
    return g.loc().user_name()


def display_name(g: Gen) -> str:
    f = g.loc()
    return g.r.choice([f.name, f.first_name, lambda: f.first_name() + " " + f.last_name()[0] + "."])()


def company_email(g: Gen) -> str:
    return g.r.choice(["info@", "contact@", "sales@"]) + g.loc().domain_name()


def ldap_dn(g: Gen) -> str:
    f = g.loc()
    return f"CN={f.first_name()} {f.last_name()},OU=Users,OU=Staff,DC=corp,DC=example,DC=com"


def lat(g: Gen) -> float:
    return round(g.r.uniform(-35, 60), 6)


def lon(g: Gen) -> float:
    return round(g.r.uniform(-120, 150), 6)


def person_props(g: Gen) -> str:
    f = g.loc()
    props: dict[str, Any] = {"$browser": g.r.choice(["Chrome", "Safari", "Firefox"]), "$os": "Mac OS X"}
    if g.r.random() < 0.7:
        props |= {"email": email(g), "name": f.name()}
    if g.r.random() < 0.3:
        props["plan"] = g.r.choice(["free", "pro", "team"])
    return json.dumps(props)


def distinct_id(g: Gen) -> str:
    return email(g) if g.r.random() < 0.4 else uid(g)


def booking_responses(g: Gen) -> str:
    f = g.loc()
    return json.dumps({"name": f.name(), "email": email(g), "notes": "", "guests": []})


def eventuser_ident(g: Gen) -> str:
    return str(g.r.randint(1000, 999999))


def country_id(g: Gen) -> int:
    return g.r.randint(1001, 1250)


def ticket_code(g: Gen) -> str:
    return g.s("ABCDEFGHJKLMNPQRSTUVWXYZ3789", 5)


def fineract_doc(g: Gen) -> str:
    return g.r.choice([national_id, national_id, passport, lambda g: g.s(UPPER, 1) + g.digits(7)])(g)


def taxcode(g: Gen) -> str:
    return codice_fiscale(g) if g.r.random() < 0.6 else national_id(g)


OH = ["it_IT", "en_GB", "fr_FR", "pt_BR", "en_IN"]


def oh_name(part: str) -> Callable[[Gen], str]:
    return lambda g: getattr(g.loc(OH), part)()


def cvv(g: Gen) -> str:
    return g.digits(3)


# --------------------------------------------------------------------------- makers of this set


def ahv(g: Gen) -> str:
    """A Swiss AHV/AVS number (756, nine digits, an EAN-13 check digit), as typed."""
    body = "756" + g.digits(9)
    n = body + ean.calc_check_digit(body)
    assert ch_ssn.is_valid(n)
    return f"{n[:3]}.{n[3:7]}.{n[7:11]}.{n[11:]}" if g.r.random() < 0.8 else n


def library_card(g: Gen) -> str:
    return g.r.choice(["2", "3"]) + g.digits(13)


def b32(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(UPPER + "234567", n)


def fos_sha512(g: Gen) -> str:
    return b64(g.raw(64))


def sha512_hex(g: Gen) -> str:
    return g.raw(64).hex()


def elixir_pbkdf2(g: Gen) -> str:
    return f"$pbkdf2-sha512$160000${b64(g.raw(16)).rstrip('=')}${b64(g.raw(64)).rstrip('=')}"


def rsa_pem(kind: str) -> Callable[[Gen], str]:
    def make(g: Gen) -> str:
        body = b64(g.raw(1190 if kind == "RSA PRIVATE KEY" else 270))
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"

    return make


def wekan_services(g: Gen) -> str:
    return json.dumps(
        {
            "password": {"bcrypt": bcrypt("$2b$")(g)},
            "resume": {"loginTokens": [{"when": ts_iso(g), "hashedToken": b64(g.raw(32))}]},
        }
    )


def wekan_emails(g: Gen) -> str:
    return json.dumps([{"address": email(g), "verified": g.r.random() < 0.7}])


def scim_emails(g: Gen) -> str:
    return json.dumps([{"value": work_email(g), "type": "work", "primary": True}])


def scim_phones(g: Gen) -> str:
    return json.dumps([{"value": phone(g), "type": g.r.choice(["work", "mobile"])}])


def scim_addresses(g: Gen) -> str:
    f = g.loc()
    return json.dumps(
        [
            {
                "type": "work",
                "streetAddress": f.street_address(),
                "locality": city_here(g, f),
                "postalCode": f.postcode(),
                "country": REGIONS[g.cur],
            }
        ]
    )


def drivers_licence(g: Gen) -> str:
    return g.r.choice(
        [lambda: g.s(UPPER, 1) + g.digits(7), lambda: g.s(UPPER, 5) + g.digits(6) + g.s(UPPER, 2) + "9"]
    )()


def bank_account(g: Gen) -> str:
    return g.digits(g.r.choice([8, 10, 12]))


def ident_value(g: Gen) -> str:
    return g.r.choice([drivers_licence, drivers_licence, ssn, passport])(g)


def insuree_no(g: Gen) -> str:
    return g.digits(9)


def city_here(g: Gen, f: Faker) -> str:
    """A city of the locale just drawn (it_IT's list sorted: Faker keeps it in a set)."""
    if g.cur == "it_IT":
        if not IT_CITIES:
            IT_CITIES.extend(sorted(ItAddress.cities))
        return g.r.choice(IT_CITIES)
    return f.city()


def multiline_address(g: Gen) -> str:
    f = g.loc()
    return f"{f.street_address()}\n{f.postcode()} {city_here(g, f)}"


def address_line2(g: Gen) -> str:
    """A second address line: an apartment or suite (US style), a building or c/o line elsewhere."""
    f = g.loc()
    if g.cur in ("en_US", "en_CA", "en_AU"):
        return f.secondary_address() if hasattr(f, "secondary_address") else f"Apt. {g.r.randint(1, 999)}"
    return g.r.choice([f"c/o {f.name()}", f"Bâtiment {g.r.choice('ABC')}", f"{g.r.randint(1, 9)}. Stock", "Hinterhaus"])


def initials(g: Gen) -> str:
    f = g.loc()
    return (f.first_name()[0] + f.last_name()[0]).upper()


def color(g: Gen) -> str:
    return "#" + g.s("0123456789abcdef", 6)


def screen(g: Gen) -> str:
    return g.r.choice(["1920x1080", "1366x768", "390x844", "1440x900", "2560x1440"])


def browser(g: Gen) -> str:
    return g.r.choice(["chrome", "safari", "firefox", "edge-chromium", "ios", "samsung"])


def os_name(g: Gen) -> str:
    return g.r.choice(["Windows 10", "Mac OS", "iOS", "Android OS", "Linux"])


def bio(g: Gen) -> str:
    return g.fk["en_US"].sentence(nb_words=10)


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Koha ILS
    t.append(
        T(
            "koha",
            "borrowers",
            130,
            [
                N("borrowernumber", I64, "key", seq()),
                C("cardnumber", S, "PII", "the patron's library card number (the OPAC login)", library_card),
                C("surname", S, "PII", "family name", last),
                C("firstname", S, "PII", "given name", first, 0.05),
                C("othernames", S, "PII", "other names", first, 0.85),
                N("initials", S, "initials alone", initials, 0.7),
                N("title", S, "salutation", choice("Mr", "Mrs", "Ms", "Dr"), 0.5),
                N("streetnumber", S, "house number alone", lambda g: str(g.r.randint(1, 250)), 0.4),
                C("address", S, "PII", "street address", street, 0.1),
                C(
                    "address2",
                    S,
                    "PII",
                    "second address line",
                    address_line2,
                    0.7,
                ),
                N("city", S, "city", city, 0.1),
                N("state", S, "state", state, 0.5),
                C("zipcode", S, "PII", "postcode of the home address", postcode, 0.1),
                N("country", S, "country", lambda g: g.loc().current_country(), 0.5),
                C("email", S, "PII", "email", email, 0.15),
                C("phone", S, "PII", "phone", phone, 0.3),
                C("mobile", S, "PII", "mobile phone", phone, 0.5),
                C("dateofbirth", D32, "PII", "date of birth", birth, 0.1),
                N("branchcode", S, "library branch code", choice("CPL", "MPL", "FFL", "IPT")),
                N("categorycode", S, "patron category", choice("PT", "ST", "J", "S", "STAFF")),
                N("dateenrolled", D32, "date", lambda g: ts(g).date()),
                N("dateexpiry", D32, "date", lambda g: ts(g).date()),
                N("debarred", D32, "date", lambda g: ts(g).date(), 0.95),
                N("sex", S, "gender", choice("F", "M", ""), 0.3),
                C("password", S, "CREDENTIAL", "bcrypt of the OPAC password", bcrypt("$2a$", 8), 0.1),
                C("userid", S, "PII", "login name", username),
                N("sort1", S, "statistics category", choice("", "A", "B", "FAC"), 0.6),
                N("privacy", I64, "reading history setting", choice(0, 1, 2)),
                N("lang", S, "language", choice("default", "en", "fr-FR", "de-DE")),
                N("lastseen", TS, "timestamp", ts, 0.2),
                N("login_attempts", I64, "count", intr(0, 3)),
                C("secret", S, "CREDENTIAL", "the patron's TOTP secret (two-factor)", b32(16), 0.9),
            ],
        )
    )
    t.append(
        T(
            "koha",
            "api_keys",
            60,
            [
                N("client_id", S, "the key's public id (sent with the secret)", lambda g: str(uid(g))),
                C("secret", S, "CREDENTIAL", "bcrypt of the client secret", bcrypt("$2a$", 8)),
                N("description", S, "label", choice("ILL integration", "Discovery layer", "Self-check", "Reports")),
                N("patron_id", I64, "patron key", intr(1, 130)),
                N("active", B, "flag", boolean(0.85)),
            ],
        )
    )
    # ---- Evergreen ILS (schema actor)
    t.append(
        T(
            "evergreen",
            "usr",
            120,
            [
                N("id", I64, "key", seq()),
                N("card", I64, "card key", intr(1, 500)),
                N("profile", I64, "permission group", choice(2, 2, 2, 3, 10)),
                C("usrname", S, "PII", "login name", username),
                C("email", S, "PII", "email", email, 0.2),
                N("ident_type", I64, "kind of identification document (key)", choice(1, 1, 2, 3)),
                C(
                    "ident_value",
                    S,
                    "SENSITIVE",
                    "identification number (driver's licence, SSN or passport)",
                    ident_value,
                    0.3,
                ),
                N("ident_type2", I64, "kind of identification document (key)", choice(1, 2, 3), 0.8),
                C("ident_value2", S, "SENSITIVE", "second identification number", ident_value, 0.8),
                C(
                    "photo_url",
                    S,
                    "PII",
                    "URL of the patron's photo",
                    lambda g: f"https://photos.example-library.org/patrons/{g.r.randint(1, 99999)}.jpg",
                    0.9,
                ),
                N("prefix", S, "salutation", choice("Mr.", "Ms.", "Dr."), 0.8),
                C("first_given_name", S, "PII", "given name", lambda g: g.loc(["en_US", "en_CA"]).first_name()),
                C("second_given_name", S, "PII", "middle name", lambda g: g.loc(["en_US", "en_CA"]).first_name(), 0.6),
                C("family_name", S, "PII", "family name", lambda g: g.loc(["en_US", "en_CA"]).last_name()),
                C("suffix", S, "NONE", "name suffix alone", choice("Jr.", "Sr.", "III"), 0.95),
                C("day_phone", S, "PII", "phone", phone, 0.4),
                C("evening_phone", S, "PII", "phone", phone, 0.7),
                C("other_phone", S, "PII", "phone", phone, 0.9),
                N("mailing_address", I64, "address key", intr(1, 400), 0.1),
                N("billing_address", I64, "address key", intr(1, 400), 0.3),
                N("home_ou", I64, "branch key", intr(1, 12)),
                C("dob", D32, "PII", "date of birth", birth, 0.2),
                N("active", B, "flag", boolean(0.9)),
                N("barred", B, "flag", boolean(0.03)),
                N("juvenile", B, "flag", boolean(0.1)),
                N("credit_forward_balance", DEC, "amount", lambda g: Decimal(g.r.randint(0, 2000)) / 100),
                N("create_date", TS, "timestamp", ts),
                N("expire_date", TS, "timestamp", ts),
                C("passwd", S, "CREDENTIAL", "MD5 of the salted password (legacy column)", md5_hex, 0.2),
            ],
        )
    )
    t.append(
        T(
            "evergreen",
            "usr_address",
            110,
            [
                N("id", I64, "key", seq()),
                N("valid", B, "flag", boolean(0.95)),
                N("address_type", S, "kind", choice("MAILING", "BILLING", "HOME")),
                N("usr", I64, "patron key", intr(1, 120)),
                C("street1", S, "PII", "street address", lambda g: g.loc(["en_US", "en_CA"]).street_address()),
                C("street2", S, "PII", "second address line", address_line2, 0.8),
                N("city", S, "city", lambda g: g.loc(["en_US", "en_CA"]).city()),
                N("county", S, "county", choice("Cobb", "Fulton", "DeKalb", "Gwinnett"), 0.4),
                N("state", S, "state", lambda g: g.fk["en_US"].state_abbr()),
                N("country", S, "country", choice("USA", "USA", "Canada")),
                C(
                    "post_code",
                    S,
                    "PII",
                    "postcode of the home address",
                    lambda g: g.loc(["en_US", "en_CA"]).postcode(),
                ),
            ],
        )
    )
    t.append(
        T(
            "evergreen",
            "card",
            100,
            [
                N("id", I64, "key", seq()),
                N("usr", I64, "patron key", intr(1, 120)),
                C("barcode", S, "PII", "the patron's library card number (the OPAC login)", library_card),
                N("active", B, "flag", boolean(0.85)),
            ],
        )
    )
    # ---- Open edX
    t.append(
        T(
            "openedx",
            "auth_user",
            140,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash", django_pbkdf2),
                N("last_login", TS, "timestamp", ts, 0.1),
                N("is_superuser", B, "flag", boolean(0.01)),
                C("username", S, "PII", "login name (public handle)", username),
                C("first_name", S, "PII", "given name", first, 0.6),
                C("last_name", S, "PII", "family name", last, 0.6),
                C("email", S, "PII", "email", email),
                N("is_staff", B, "flag", boolean(0.03)),
                N("is_active", B, "flag", boolean(0.9)),
                N("date_joined", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "openedx",
            "auth_userprofile",
            140,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", seq()),
                C("name", S, "PII", "full name (shown on certificates)", name),
                N("language", S, "language", choice("", "", "English", "Spanish")),
                N("location", S, "free-text location, mostly empty", choice("", "", "")),
                N("year_of_birth", I64, "year of birth alone (as set 2 decided)", intr(1950, 2008), 0.3),
                N("gender", S, "gender", choice("m", "f", "o", ""), 0.3),
                N("level_of_education", S, "education level code", choice("b", "m", "hs", "p", "a", ""), 0.3),
                C("mailing_address", S, "PII", "postal address", multiline_address, 0.7),
                N("city", S, "city", city, 0.5),
                N("country", S, "country code", country_code, 0.2),
                N("goals", S, "free text", sentence, 0.7),
                N("bio", S, "free text", bio, 0.8),
                N("profile_image_uploaded_at", TS, "timestamp", ts, 0.8),
                C("phone_number", S, "PII", "phone", phone, 0.8),
            ],
        )
    )
    t.append(
        T(
            "openedx",
            "oauth2_provider_accesstoken",
            90,
            [
                N("id", I64, "key", seq()),
                C("token", S, "CREDENTIAL", "OAuth access token", alnum(30)),
                N("expires", TS, "timestamp", ts),
                N("scope", S, "scopes", choice("read write email profile", "read write")),
                N("application_id", I64, "application key", intr(1, 6)),
                N("user_id", I64, "user key", intr(1, 140)),
                N("created", TS, "timestamp", ts),
                N("updated", TS, "timestamp", ts),
                N("source_refresh_token_id", I64, "refresh token key", intr(1, 500), 0.4),
            ],
        )
    )
    # ---- Chamilo 1.11
    t.append(
        T(
            "chamilo",
            "user",
            120,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "legacy key", seq()),
                C("lastname", S, "PII", "family name", last),
                C("firstname", S, "PII", "given name", first),
                C("username", S, "PII", "login name", username),
                C("username_canonical", S, "PII", "login name, lower-cased", lambda g: username(g).lower()),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$", 4)),
                N("salt", S, "password salt", alnum(31)),
                N("auth_source", S, "kind", choice("platform", "platform", "ldap", "cas")),
                C("email", S, "PII", "email", email),
                C("email_canonical", S, "PII", "email, lower-cased", lambda g: email(g).lower()),
                N("status", I64, "role (1 teacher, 5 student)", choice(5, 5, 5, 1)),
                N(
                    "official_code",
                    S,
                    "institution-assigned student number (an external id)",
                    lambda g: "STU" + g.digits(6),
                    0.3,
                ),
                C("phone", S, "PII", "phone", phone, 0.6),
                C("address", S, "PII", "postal address", street, 0.8),
                N("picture_uri", S, "file name", lambda g: f"{g.r.randint(1, 9999)}_{uid(g)[:8]}.png", 0.7),
                N("creator_id", I64, "user key", intr(1, 5)),
                N("language", S, "language", choice("english", "spanish", "french", "german", "brazilian")),
                N("registration_date", TS, "timestamp", ts),
                N("expiration_date", TS, "timestamp", ts, 0.8),
                N("active", B, "flag", boolean(0.9)),
                N("last_login", TS, "timestamp", ts, 0.1),
                C("confirmation_token", S, "CREDENTIAL", "password-reset link token", lambda g: b64url(g.raw(32)), 0.9),
                N("password_requested_at", TS, "timestamp", ts, 0.9),
                N("timezone", S, "time zone", tz, 0.5),
            ],
        )
    )
    # ---- HumHub
    t.append(
        T(
            "humhub",
            "user",
            110,
            [
                N("id", I64, "key", seq()),
                N("guid", S, "record UUID", uid),
                N("status", I64, "status", choice(1, 1, 1, 0, 2)),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", email),
                N("auth_mode", S, "kind", choice("local", "local", "ldap")),
                N("tags", S, "free tags", choice("", "", "design", "it support")),
                N("language", S, "language", choice("", "en-US", "de", "fr", "es")),
                N("created_at", TS, "timestamp", ts),
                N("last_login", TS, "timestamp", ts, 0.1),
                N("visibility", I64, "enum", choice(1, 2)),
                N("time_zone", S, "time zone", tz),
                C(
                    "authclient_id",
                    S,
                    "PII",
                    "the directory login (LDAP uid) of an externally authenticated user",
                    username,
                    0.7,
                ),
                N("contentcontainer_id", I64, "key", seq()),
            ],
        )
    )
    t.append(
        T(
            "humhub",
            "profile",
            110,
            [
                N("user_id", I64, "user key", seq()),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                N("title", S, "job title", job, 0.4),
                N("gender", S, "gender", choice("male", "female", "custom"), 0.5),
                C("street", S, "PII", "street address", street, 0.8),
                C("zip", S, "PII", "postcode", postcode, 0.8),
                N("city", S, "city", city, 0.6),
                N("country", S, "country code", country_code, 0.5),
                N("state", S, "state", state, 0.8),
                N("birthday_hide_year", B, "flag", boolean(0.3)),
                C("birthday", D32, "PII", "date of birth", birth, 0.6),
                N("about", S, "free text", bio, 0.7),
                C("phone_private", S, "PII", "private phone", phone, 0.8),
                C("phone_work", S, "PII", "work phone", phone, 0.7),
                C("mobile", S, "PII", "mobile phone", phone, 0.7),
                C("im_skype", S, "PII", "Skype handle", handle, 0.9),
                C("im_xmpp", S, "PII", "XMPP address", lambda g: handle(g) + "@jabber.org", 0.95),
                C(
                    "url_linkedin",
                    S,
                    "PII",
                    "the person's LinkedIn profile URL",
                    lambda g: "https://www.linkedin.com/in/" + handle(g),
                    0.8,
                ),
                N("url", S, "website URL", url, 0.85),
            ],
        )
    )
    t.append(
        T(
            "humhub",
            "user_password",
            110,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", seq()),
                N("algorithm", S, "hash name", choice("sha512whirlpool", "sha512whirlpool", "sha512")),
                C("password", S, "CREDENTIAL", "password hash (hex)", sha512_hex),
                N("salt", S, "password salt", uid),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Elgg 2.x
    t.append(
        T(
            "elgg",
            "elgg_users_entity",
            100,
            [
                N("guid", I64, "key", seq()),
                C("name", S, "PII", "display name (the person's name)", name),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "legacy salted MD5 of the password", md5_hex, 0.6),
                N("salt", S, "password salt", alnum(8), 0.6),
                C("password_hash", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$", 10), 0.3),
                C("email", S, "PII", "email", email),
                N("language", S, "language", choice("en", "en", "es", "fr", "de")),
                N("banned", S, "yes/no flag", choice("no", "no", "no", "yes")),
                N("admin", S, "yes/no flag", choice("no", "no", "no", "yes")),
                N("last_action", I64, "epoch seconds", epoch),
                N("prev_last_action", I64, "epoch seconds", epoch),
                N("last_login", I64, "epoch seconds", epoch),
                N("prev_last_login", I64, "epoch seconds", epoch),
            ],
        )
    )
    t.append(
        T(
            "elgg",
            "elgg_users_apisessions",
            60,
            [
                N("id", I64, "key", seq()),
                N("user_guid", I64, "user key", intr(1, 300)),
                N("site_guid", I64, "site key", choice(1)),
                C("token", S, "CREDENTIAL", "web-services session token", md5_hex),
                N("expires", I64, "epoch seconds", epoch),
            ],
        )
    )
    # ---- OroCRM
    t.append(
        T(
            "orocrm",
            "oro_user",
            80,
            [
                N("id", I64, "key", seq()),
                N("business_unit_owner_id", I64, "key", intr(1, 4)),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "work email", work_email),
                C("phone", S, "PII", "phone", phone, 0.6),
                N("name_prefix", S, "salutation", choice("Mr.", "Ms."), 0.8),
                C("first_name", S, "PII", "given name", first),
                C("middle_name", S, "PII", "middle name", first, 0.9),
                C("last_name", S, "PII", "family name", last),
                N("name_suffix", S, "name suffix alone", choice("Jr."), 0.97),
                C("birthday", D32, "PII", "date of birth", birth, 0.7),
                N("enabled", B, "flag", boolean(0.9)),
                N("salt", S, "password salt", lambda g: g.s(LOWER_ALNUM, 31)),
                C("password", S, "CREDENTIAL", "salted SHA-512 of the password (base64)", fos_sha512),
                C("confirmation_token", S, "CREDENTIAL", "password-reset token", alnum(32), 0.9),
                N("password_requested", TS, "timestamp", ts, 0.9),
                N("last_login", TS, "timestamp", ts, 0.1),
                N("login_count", I64, "count", intr(0, 900)),
                N("createdAt", TS, "timestamp", ts),
                N("updatedAt", TS, "timestamp", ts),
                N("title", S, "job title", job, 0.5),
            ],
        )
    )
    t.append(
        T(
            "orocrm",
            "orocrm_contact",
            130,
            [
                N("id", I64, "key", seq()),
                N("user_owner_id", I64, "key", intr(1, 80)),
                N("assigned_to_user_id", I64, "key", intr(1, 80), 0.3),
                N("source_name", S, "lead source", choice("website", "call", "email_marketing", "other"), 0.3),
                N("method_name", S, "contact method", choice("phone", "email"), 0.3),
                N("name_prefix", S, "salutation", choice("Mr.", "Mrs.", "Ms.", "Dr."), 0.5),
                C("first_name", S, "PII", "given name", first),
                C("middle_name", S, "PII", "middle name", first, 0.85),
                C("last_name", S, "PII", "family name", last),
                N("name_suffix", S, "name suffix alone", choice("Jr.", "Sr."), 0.95),
                N("gender", S, "gender", choice("male", "female"), 0.5),
                C("birthday", D32, "PII", "date of birth", birth, 0.6),
                N("description", S, "free text", sentence, 0.6),
                N("job_title", S, "job title", job, 0.3),
                C("fax", S, "PII", "the contact's fax number", phone, 0.9),
                C("skype", S, "PII", "Skype handle", handle, 0.8),
                C("twitter", S, "PII", "Twitter handle", handle, 0.8),
                C(
                    "linkedin",
                    S,
                    "PII",
                    "the person's LinkedIn profile URL",
                    lambda g: "https://www.linkedin.com/in/" + handle(g),
                    0.7,
                ),
                C("email", S, "PII", "primary email", email, 0.1),
                C("phone", S, "PII", "primary phone", phone, 0.2),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Kanboard
    t.append(
        T(
            "kanboard",
            "users",
            90,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$", 10), 0.1),
                N("is_ldap_user", B, "flag", boolean(0.1)),
                C("name", S, "PII", "full name", name, 0.2),
                C("email", S, "PII", "email", email, 0.1),
                N("google_id", S, "external id", lambda g: g.digits(21), 0.9),
                N("github_id", S, "external id", lambda g: g.digits(8), 0.9),
                N("notifications_enabled", B, "flag", boolean(0.5)),
                N("timezone", S, "time zone", tz, 0.4),
                N("language", S, "language", choice("en_US", "fr_FR", "de_DE", "es_ES", "pt_BR"), 0.4),
                N("disable_login_form", B, "flag", boolean(0.05)),
                N("twofactor_activated", B, "flag", boolean(0.15)),
                C("twofactor_secret", S, "CREDENTIAL", "TOTP secret", b32(16), 0.85),
                C(
                    "token",
                    S,
                    "CREDENTIAL",
                    "the user's public-board access token (opens the user's feeds)",
                    hexs(30),
                    0.6,
                ),
                N("notifications_filter", I64, "enum", choice(1, 2, 3, 4)),
                N("nb_failed_login", I64, "count", intr(0, 3)),
                N("lock_expiration_date", I64, "epoch seconds", epoch, 0.95),
                N("role", S, "role", choice("app-user", "app-user", "app-manager", "app-admin")),
                N("is_active", B, "flag", boolean(0.9)),
                N("avatar_path", S, "file path", lambda g: f"avatars/{g.r.randint(1, 90)}/{sha1_hex(g)}", 0.7),
                C("api_access_token", S, "CREDENTIAL", "personal API token", hexs(60), 0.8),
                N("theme", S, "theme", choice("light", "dark", "auto")),
            ],
        )
    )
    t.append(
        T(
            "kanboard",
            "remember_me",
            70,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 90)),
                C("ip", S, "PII", "client IP address", ip_any),
                N("user_agent", S, "user agent", user_agent),
                C("token", S, "CREDENTIAL", "remember-me cookie token", sha256_hex),
                C("sequence", S, "CREDENTIAL", "remember-me cookie sequence (the cookie's second secret)", hexs(64)),
                N("expiration", I64, "epoch seconds", epoch),
                N("date_creation", I64, "epoch seconds", epoch),
            ],
        )
    )
    # ---- Taiga
    t.append(
        T(
            "taiga",
            "users_user",
            110,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash", django_pbkdf2),
                N("last_login", TS, "timestamp", ts, 0.1),
                N("is_superuser", B, "flag", boolean(0.02)),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", email),
                N("is_active", B, "flag", boolean(0.9)),
                C("full_name", S, "PII", "full name", name),
                N("color", S, "colour", color),
                N("bio", S, "free text", bio, 0.7),
                N(
                    "photo",
                    S,
                    "file path",
                    lambda g: f"user/{g.r.randint(1, 9)}/{g.r.randint(1, 9)}/{sha1_hex(g)}/photo.png",
                    0.7,
                ),
                N("date_joined", TS, "timestamp", ts),
                N("lang", S, "language", choice("", "en", "es", "de", "fr")),
                N("timezone", S, "time zone", tz, 0.5),
                C("token", S, "CREDENTIAL", "password-recovery and account-cancellation link token", uid, 0.85),
                N("email_token", S, "email-change confirmation code", uid, 0.9),
                C("new_email", S, "PII", "email pending confirmation", email, 0.9),
                N("theme", S, "theme", choice("taiga", "material-design", "high-contrast")),
                N("uuid", S, "record id (32 hex)", lambda g: uid(g).replace("-", "")),
                N("accepted_terms", B, "flag", boolean(0.95)),
                N("verified_email", B, "flag", boolean(0.8)),
                N("date_cancelled", TS, "timestamp", ts, 0.95),
            ],
        )
    )
    # ---- OpenProject
    t.append(
        T(
            "openproject",
            "users",
            110,
            [
                N("id", I64, "key", seq()),
                C("login", S, "PII", "login name", username),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                C("mail", S, "PII", "email", work_email),
                N("admin", B, "flag", boolean(0.03)),
                N("status", I64, "status", choice(1, 1, 1, 2, 3)),
                N("last_login_on", TS, "timestamp", ts, 0.1),
                N("language", S, "language", choice("en", "de", "fr", "es")),
                N("ldap_auth_source_id", I64, "key", choice(1), 0.8),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                N("type", S, "kind", choice("User", "User", "User", "PlaceholderUser", "Group")),
                C(
                    "identity_url",
                    S,
                    "PII",
                    "the SSO identity (provider:login, mostly an email)",
                    lambda g: "azure:" + work_email(g),
                    0.8,
                ),
                N("failed_login_count", I64, "count", intr(0, 2)),
                N("last_failed_login_on", TS, "timestamp", ts, 0.8),
                N("consented_at", TS, "timestamp", ts, 0.3),
            ],
        )
    )
    t.append(
        T(
            "openproject",
            "user_passwords",
            100,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 110)),
                C(
                    "hashed_password",
                    S,
                    "CREDENTIAL",
                    "bcrypt (older rows: salted SHA-1 hex) of the password",
                    lambda g: bcrypt("$2a$", 12)(g) if g.r.random() < 0.7 else sha1_hex(g),
                ),
                N("salt", S, "password salt", hexs(32), 0.7),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                N("type", S, "hash kind", choice("UserPassword::Bcrypt", "UserPassword::SHA1")),
            ],
        )
    )
    t.append(
        T(
            "openproject",
            "tokens",
            100,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 110)),
                N(
                    "type",
                    S,
                    "kind",
                    choice("Token::API", "Token::AutoLogin", "Token::Rss", "Token::Recovery", "Token::Invitation"),
                ),
                C("value", S, "CREDENTIAL", "SHA-256 digest of the token", sha256_hex),
                N("created_at", TS, "timestamp", ts),
                N("expires_on", TS, "timestamp", ts, 0.5),
            ],
        )
    )
    # ---- Vikunja
    t.append(
        T(
            "vikunja",
            "users",
            100,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "display name (the person's name)", display_name, 0.3),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2a$", 11), 0.1),
                C("email", S, "PII", "email", email),
                N("status", I64, "status", choice(0, 0, 0, 1)),
                N("avatar_provider", S, "kind", choice("initials", "gravatar", "upload", "marble")),
                N(
                    "issuer",
                    S,
                    "identity provider URL",
                    choice("local", "local", "https://auth.example.org/application/o/vikunja/"),
                ),
                N("subject", S, "identity provider's subject id", lambda g: g.r.choice(["", uid(g)]), 0.5),
                N("email_reminders_enabled", B, "flag", boolean(0.7)),
                N("default_project_id", I64, "key", intr(1, 300), 0.3),
                N("language", S, "language", choice("en", "de-DE", "fr-FR", "es-ES")),
                N("timezone", S, "time zone", tz, 0.3),
                N("created", TS, "timestamp", ts),
                N("updated", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "vikunja",
            "api_tokens",
            70,
            [
                N("id", I64, "key", seq()),
                N("title", S, "label", choice("CLI", "n8n", "Home Assistant", "Zapier", "backup script")),
                N("token_salt", S, "token salt", alnum(10)),
                C("token_hash", S, "CREDENTIAL", "digest of the API token", hexs(100)),
                N("token_last_eight", S, "last eight characters (like last four digits)", hexs(8)),
                N(
                    "permissions",
                    S,
                    "JSON scopes",
                    choice('{"tasks":["read_all","update"]}', '{"projects":["read_all"]}'),
                ),
                N("expires_at", TS, "timestamp", ts),
                N("created", TS, "timestamp", ts),
                N("owner_id", I64, "user key", intr(1, 100)),
            ],
        )
    )
    t.append(
        T(
            "vikunja",
            "totp",
            55,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 100)),
                C("secret", S, "CREDENTIAL", "TOTP secret", b32(32)),
                N("enabled", B, "flag", boolean(0.8)),
                C(
                    "url",
                    S,
                    "CREDENTIAL",
                    "otpauth URL (holds the TOTP secret and the login)",
                    lambda g: f"otpauth://totp/Vikunja:{username(g)}?issuer=Vikunja&secret={b32(32)(g)}",
                ),
            ],
        )
    )
    return t


IP_LOC = ["de_DE", "de_DE", "fr_FR", "it_IT", "en_US", "en_GB", "es_ES"]  # InvoicePlane: Swiss and EU freelancers


def ip_part(part: str) -> Callable[[Gen], Any]:
    return lambda g: getattr(g.loc(IP_LOC), part)()


def tables_b() -> list[Table]:
    t: list[Table] = []
    # ---- InvoicePlane
    t.append(
        T(
            "invoiceplane",
            "ip_clients",
            120,
            [
                N("client_id", I64, "key", seq()),
                N("client_date_created", TS, "timestamp", ts),
                N("client_date_modified", TS, "timestamp", ts),
                C(
                    "client_name",
                    S,
                    "PII",
                    "the client's given name (people on most rows, a company on some)",
                    ip_part("first_name"),
                ),
                C("client_surname", S, "PII", "family name", ip_part("last_name"), 0.2),
                C("client_address_1", S, "PII", "street address", ip_part("street_address"), 0.1),
                C(
                    "client_address_2",
                    S,
                    "PII",
                    "second address line",
                    address_line2,
                    0.8,
                ),
                N("client_city", S, "city", city, 0.1),
                N("client_state", S, "state", state, 0.6),
                C("client_zip", S, "PII", "postcode", ip_part("postcode"), 0.1),
                N("client_country", S, "country code", choice("CH", "DE", "FR", "IT", "AT", "US"), 0.1),
                C("client_phone", S, "PII", "phone", phone, 0.4),
                C("client_fax", S, "PII", "fax", phone, 0.9),
                C("client_mobile", S, "PII", "mobile", phone, 0.5),
                C("client_email", S, "PII", "email", email, 0.1),
                N("client_web", S, "website", url, 0.8),
                N(
                    "client_vat_id",
                    S,
                    "VAT number",
                    lambda g: "CHE-" + g.digits(3) + "." + g.digits(3) + "." + g.digits(3) + " MWST",
                    0.8,
                ),
                C(
                    "client_tax_code",
                    S,
                    "SENSITIVE",
                    "personal tax code (codice fiscale and like)",
                    codice_fiscale,
                    0.7,
                ),
                N("client_language", S, "language", choice("system", "german", "french", "italian", "english")),
                N("client_active", B, "flag", boolean(0.9)),
                N("client_gender", I64, "gender code", choice(0, 1, 2)),
                C("client_birthdate", D32, "PII", "date of birth", birth, 0.6),
                C("client_avs", S, "SENSITIVE", "Swiss AHV/AVS social security number", ahv, 0.6),
                C(
                    "client_insurednumber",
                    S,
                    "SENSITIVE",
                    "health insurance member number",
                    lambda g: g.digits(3) + "." + g.digits(5) + "." + g.digits(2),
                    0.7,
                ),
                C(
                    "client_veka",
                    S,
                    "SENSITIVE",
                    "number of the client's Swiss health insurance card (VeKa): an insurance member id",
                    lambda g: "80756" + g.digits(15),
                    0.8,
                ),
            ],
        )
    )
    t.append(
        T(
            "invoiceplane",
            "ip_users",
            60,
            [
                N("user_id", I64, "key", seq()),
                N("user_type", I64, "role", choice(1, 1, 2)),
                N("user_active", B, "flag", boolean(0.9)),
                N("user_date_created", TS, "timestamp", ts),
                N("user_date_modified", TS, "timestamp", ts),
                N("user_language", S, "language", choice("system", "german", "french", "english")),
                C("user_name", S, "PII", "full name", ip_part("name")),
                N("user_company", S, "company", ip_part("company"), 0.3),
                C(
                    "user_address_1",
                    S,
                    "PII",
                    "street address (a freelancer's home on most rows)",
                    ip_part("street_address"),
                    0.2,
                ),
                N("user_city", S, "city", city, 0.2),
                C("user_zip", S, "PII", "postcode", ip_part("postcode"), 0.2),
                N("user_country", S, "country code", choice("CH", "DE", "FR", "IT", "AT")),
                C("user_phone", S, "PII", "phone", phone, 0.4),
                C("user_mobile", S, "PII", "mobile", phone, 0.5),
                C("user_email", S, "PII", "email", email),
                C("user_password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2a$", 8)),
                N("user_web", S, "website", url, 0.7),
                N("user_vat_id", S, "VAT number", lambda g: "DE" + g.digits(9), 0.6),
                C(
                    "user_tax_code",
                    S,
                    "SENSITIVE",
                    "the freelancer's personal tax number",
                    lambda g: g.r.choice([steuer_id, codice_fiscale, ahv])(g),
                    0.6,
                ),
                N("user_psalt", S, "password salt", alnum(22)),
                C("user_passwordreset_token", S, "CREDENTIAL", "password-reset link token", md5_hex, 0.9),
                N(
                    "user_subscribernumber",
                    S,
                    "QR-bill subscriber number (a bank's payee id)",
                    lambda g: "01-" + g.digits(6) + "-" + g.digits(1),
                    0.8,
                ),
                C("user_iban", S, "SENSITIVE", "IBAN of the user's bank account", iban, 0.4),
                N("user_gln", I64, "GLN (a location number)", lambda g: int("76" + g.digits(11)), 0.8),
                N("user_rcc", S, "Swiss RCC number (a business's clearing code)", lambda g: "Z" + g.digits(6), 0.9),
            ],
        )
    )
    # ---- Crater
    t.append(
        T(
            "crater",
            "customers",
            110,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "the customer's name (a person on most rows)", name),
                C("email", S, "PII", "email", email, 0.1),
                C("phone", S, "PII", "phone", phone, 0.3),
                C("password", S, "CREDENTIAL", "bcrypt of the portal password", bcrypt("$2y$", 10), 0.7),
                C("remember_token", S, "CREDENTIAL", "remember-me token", alnum(60), 0.8),
                N("facebook_id", S, "external id", lambda g: g.digits(15), 0.95),
                N("google_id", S, "external id", lambda g: g.digits(21), 0.95),
                C("contact_name", S, "PII", "contact person's name", name, 0.5),
                N("company_name", S, "company", company, 0.5),
                N("website", S, "website", url, 0.7),
                N("enable_portal", B, "flag", boolean(0.3)),
                N("currency_id", I64, "key", intr(1, 12)),
                N("company_id", I64, "key", choice(1)),
                N("creator_id", I64, "key", intr(1, 3)),
                N("prefix", S, "invoice prefix", choice("CUS", "", "CL")),
                N(
                    "tax_id",
                    S,
                    "the customer's tax number (businesses: VAT numbers)",
                    lambda g: "GB" + g.digits(9),
                    0.8,
                ),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "crater",
            "addresses",
            120,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "addressee name", name, 0.3),
                C("address_street_1", S, "PII", "street address", street),
                C(
                    "address_street_2",
                    S,
                    "PII",
                    "second address line",
                    address_line2,
                    0.7,
                ),
                N("city", S, "city", city),
                N("state", S, "state", state, 0.3),
                N("country_id", I64, "key", country_id),
                C("zip", S, "PII", "postcode", postcode),
                C("phone", S, "PII", "phone", phone, 0.5),
                N("fax", S, "fax, nearly always empty", choice(""), 0.95),
                N("type", S, "kind", choice("billing", "shipping")),
                N("user_id", I64, "key", intr(1, 3), 0.9),
                N("company_id", I64, "key", choice(1)),
                N("customer_id", I64, "key", intr(1, 110)),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- FrontAccounting (table prefix 0_)
    t.append(
        T(
            "frontaccounting",
            "0_debtors_master",
            90,
            [
                N("debtor_no", I64, "key", seq()),
                N("name", S, "customer name (businesses)", company),
                N("debtor_ref", S, "short reference", lambda g: g.s(UPPER, 3) + g.digits(3)),
                N("address", S, "the business's address", multiline_address, 0.1),
                N("tax_id", S, "VAT number (businesses)", lambda g: g.r.choice(["GB", "DE", "FR"]) + g.digits(9), 0.4),
                N("curr_code", S, "currency", currency),
                N("credit_status", I64, "key", choice(1, 1, 4)),
                N("payment_terms", I64, "key", choice(1, 2, 3, 4)),
                N("discount", F64, "rate", lambda g: g.r.choice([0.0, 0.05, 0.1])),
                N("credit_limit", F64, "amount", lambda g: float(g.r.choice([1000, 5000, 10000]))),
                N("notes", S, "free text", choice("", "", "Net 30"), 0.5),
                N("inactive", B, "flag", boolean(0.05)),
            ],
        )
    )
    t.append(
        T(
            "frontaccounting",
            "0_crm_persons",
            110,
            [
                N("id", I64, "key", seq()),
                N("ref", S, "short reference", lambda g: g.s(UPPER, 4)),
                C("name", S, "PII", "given name of the contact person", first),
                C("name2", S, "PII", "family name of the contact person", last),
                C("address", S, "PII", "the person's address", multiline_address, 0.6),
                C("phone", S, "PII", "phone", phone, 0.2),
                C("phone2", S, "PII", "second phone", phone, 0.7),
                C("fax", S, "PII", "fax", phone, 0.9),
                C("email", S, "PII", "email", work_email, 0.2),
                N("lang", S, "language", choice("", "C", "en_GB", "de_DE")),
                N("notes", S, "free text", choice("", "", "accounts payable"), 0.5),
                N("inactive", B, "flag", boolean(0.05)),
            ],
        )
    )
    t.append(
        T(
            "frontaccounting",
            "0_users",
            60,
            [
                N("id", I64, "key", seq()),
                C("user_id", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "MD5 of the password", md5_hex),
                C("real_name", S, "PII", "full name", name),
                N("role_id", I64, "key", choice(2, 3, 8, 10)),
                C("phone", S, "PII", "phone", phone, 0.6),
                C("email", S, "PII", "email", work_email, 0.2),
                N("language", S, "language", choice("C", "en_GB", "de_DE")),
                N("theme", S, "theme", choice("default", "dropdown", "exclusive")),
                N("show_gl", B, "flag", boolean(0.8)),
                N("last_visit_date", TS, "timestamp", ts, 0.1),
                N("inactive", B, "flag", boolean(0.05)),
            ],
        )
    )
    # ---- Cachet
    t.append(
        T(
            "cachet",
            "subscribers",
            120,
            [
                N("id", I64, "key", seq()),
                C("email", S, "PII", "subscriber's email", email),
                N("verify_code", S, "email-confirmation code", alnum(20)),
                N("verified_at", TS, "timestamp", ts, 0.2),
                N("global", B, "flag", boolean(0.7)),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                C("phone_number", S, "PII", "phone", phone, 0.9),
                C(
                    "slack_webhook_url",
                    S,
                    "CREDENTIAL",
                    "Slack webhook URL (the path is the secret)",
                    slack_webhook,
                    0.9,
                ),
            ],
        )
    )
    t.append(
        T(
            "cachet",
            "users",
            55,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$", 10)),
                C("google_2fa_secret", S, "CREDENTIAL", "TOTP secret", b32(16), 0.7),
                C("remember_token", S, "CREDENTIAL", "remember-me token", alnum(60), 0.5),
                C("email", S, "PII", "email", work_email),
                C("api_key", S, "CREDENTIAL", "API key", alnum(20)),
                N("active", B, "flag", boolean(0.9)),
                N("level", I64, "role", choice(1, 2, 2)),
                N("welcomed", B, "flag", boolean(0.8)),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Uptime Kuma
    t.append(
        T(
            "uptimekuma",
            "user",
            55,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2a$", 10)),
                N("active", B, "flag", boolean(0.95)),
                N("timezone", S, "time zone", tz, 0.5),
                C("twofa_secret", S, "CREDENTIAL", "TOTP secret", b32(32), 0.8),
                N("twofa_status", B, "flag", boolean(0.2)),
                N(
                    "twofa_last_token",
                    S,
                    "the last one-time code used (expired; kept to block replay)",
                    lambda g: g.digits(6),
                    0.8,
                ),
            ],
        )
    )
    t.append(
        T(
            "uptimekuma",
            "api_key",
            60,
            [
                N("id", I64, "key", seq()),
                C("key", S, "CREDENTIAL", "bcrypt of the API key", bcrypt("$2a$", 10)),
                N("name", S, "label", choice("grafana", "homepage", "prometheus", "ci")),
                N("user_id", I64, "user key", choice(1, 1, 2)),
                N("created_date", TS, "timestamp", ts),
                N("active", B, "flag", boolean(0.85)),
                N("expires", TS, "timestamp", ts, 0.7),
            ],
        )
    )
    # ---- authentik
    t.append(
        T(
            "authentik",
            "authentik_core_user",
            120,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash", django_pbkdf2, 0.2),
                N("last_login", TS, "timestamp", ts, 0.1),
                C("username", S, "PII", "login name", username),
                C("name", S, "PII", "full name", name),
                N("is_active", B, "flag", boolean(0.9)),
                N("date_joined", TS, "timestamp", ts),
                N("uuid", S, "record UUID", uid),
                C("email", S, "PII", "email", work_email),
                N(
                    "attributes",
                    S,
                    "JSON settings",
                    choice("{}", '{"settings": {"locale": "en"}}', '{"goauthentik.io/user/sources": ["ldap"]}'),
                ),
                N("type", S, "kind", choice("internal", "internal", "external", "service_account")),
                N("password_change_date", TS, "timestamp", ts, 0.2),
            ],
        )
    )
    t.append(
        T(
            "authentik",
            "authentik_core_token",
            80,
            [
                N("token_uuid", S, "record UUID", uid),
                N(
                    "identifier",
                    S,
                    "the token's name (an id)",
                    lambda g: g.r.choice(["ak-outpost-", "service-account-", "api-"]) + uid(g)[:8],
                ),
                C("key", S, "CREDENTIAL", "the token (API, app password or recovery)", alnum(60)),
                N("intent", S, "kind", choice("api", "app_password", "recovery", "verification")),
                N("expiring", B, "flag", boolean(0.6)),
                N("expires", TS, "timestamp", ts, 0.3),
                N("description", S, "label", choice("", "Outpost token", "CI"), 0.3),
                N("user_id", I64, "user key", intr(1, 120)),
                N("managed", S, "managed-object key", choice("goauthentik.io/outpost/authentik-embedded-outpost"), 0.8),
            ],
        )
    )
    t.append(
        T(
            "authentik",
            "authentik_stages_authenticator_totp_totpdevice",
            60,
            [
                N("id", I64, "key", seq()),
                N("name", S, "label", choice("TOTP Device", "Phone", "1Password")),
                N("confirmed", B, "flag", boolean(0.9)),
                C("key", S, "CREDENTIAL", "TOTP secret (hex)", hexs(40)),
                N("step", I64, "seconds", choice(30)),
                N("digits", I64, "count", choice(6)),
                N("last_t", I64, "time step counter", lambda g: epoch(g) // 30),
                N("user_id", I64, "user key", intr(1, 120)),
            ],
        )
    )
    # ---- Authelia
    t.append(
        T(
            "authelia",
            "totp_configurations",
            60,
            [
                N("id", I64, "key", seq()),
                N("created_at", TS, "timestamp", ts),
                N("last_used_at", TS, "timestamp", ts, 0.2),
                C("username", S, "PII", "login name", username),
                N("issuer", S, "issuer name", choice("Authelia", "home.example.org")),
                N("algorithm", S, "hash name", choice("SHA1", "SHA1", "SHA256")),
                N("digits", I64, "count", choice(6)),
                N("period", I64, "seconds", choice(30)),
                C("secret", S, "CREDENTIAL", "encrypted TOTP secret (base64)", lambda g: b64(g.raw(60))),
            ],
        )
    )
    t.append(
        T(
            "authelia",
            "authentication_logs",
            150,
            [
                N("id", I64, "key", seq()),
                N("time", TS, "timestamp", ts),
                N("successful", B, "flag", boolean(0.85)),
                N("banned", B, "flag", boolean(0.02)),
                C("username", S, "PII", "login name", username),
                N("auth_type", S, "kind", choice("1FA", "1FA", "TOTP", "WebAuthn")),
                C("remote_ip", S, "PII", "client IP address", ip_any),
                N(
                    "request_uri",
                    S,
                    "URL",
                    lambda g: f"https://{g.r.choice(['grafana', 'nextcloud', 'jellyfin'])}.home.example.org/",
                ),
                N("request_method", S, "HTTP method", choice("GET", "POST")),
            ],
        )
    )
    t.append(
        T(
            "authelia",
            "identity_verification",
            60,
            [
                N("id", I64, "key", seq()),
                N("jti", S, "the verification JWT's id (a key; the JWT is not stored)", uid),
                N("iat", TS, "timestamp", ts),
                C("issued_ip", S, "PII", "client IP address", ip_any),
                N("exp", TS, "timestamp", ts),
                C("username", S, "PII", "login name", username),
                N("action", S, "kind", choice("ResetPassword", "RegisterTOTPDevice", "RegisterWebauthnDevice")),
                N("consumed", TS, "timestamp", ts, 0.3),
                C("consumed_ip", S, "PII", "client IP address", ip_any, 0.3),
            ],
        )
    )
    # ---- SCIM 2.0 User (flattened as an identity-provider export lands in a warehouse)
    t.append(
        T(
            "scim",
            "users",
            130,
            [
                N("id", S, "resource id", uid),
                N("externalId", S, "the provisioning client's id (an external id)", lambda g: g.digits(8)),
                C("userName", S, "PII", "login name (mostly the work email)", work_email),
                C("name_formatted", S, "PII", "full name", name),
                C("name_familyName", S, "PII", "family name", last),
                C("name_givenName", S, "PII", "given name", first),
                C("name_middleName", S, "PII", "middle name", first, 0.8),
                N("name_honorificPrefix", S, "salutation", choice("Mr.", "Ms.", "Dr."), 0.8),
                C("displayName", S, "PII", "display name (the person's name)", display_name),
                C("nickName", S, "PII", "nickname", lambda g: g.loc().first_name(), 0.8),
                C(
                    "profileUrl",
                    S,
                    "PII",
                    "URL of the person's profile page (holds the login)",
                    lambda g: "https://intranet.example.com/people/" + handle(g),
                    0.7,
                ),
                N("title", S, "job title", job, 0.2),
                N("userType", S, "kind", choice("Employee", "Employee", "Contractor", "Intern")),
                N("preferredLanguage", S, "language", choice("en-US", "en-GB", "de-DE", "fr-FR")),
                N("locale", S, "locale", choice("en-US", "en-GB", "de-DE", "fr-FR")),
                N("timezone", S, "time zone", tz),
                N("active", B, "flag", boolean(0.9)),
                C("emails", S, "PII", "JSON list of email addresses", scim_emails),
                C("phoneNumbers", S, "PII", "JSON list of phone numbers", scim_phones, 0.3),
                C(
                    "addresses",
                    S,
                    "PII",
                    "JSON list of addresses (work addresses on most rows, home on others)",
                    scim_addresses,
                    0.5,
                ),
                N(
                    "groups",
                    S,
                    "JSON list of group names",
                    choice('[{"display": "Engineering"}]', '[{"display": "Sales"}]', "[]"),
                ),
                N("meta_created", TS, "timestamp", ts),
                N("meta_lastModified", TS, "timestamp", ts),
                N("meta_version", S, "ETag", lambda g: 'W/"' + hexs(16)(g) + '"'),
                N("employeeNumber", S, "the employer's staff number (a key)", lambda g: g.digits(6)),
                N("costCenter", S, "cost centre", choice("4130", "4200", "5100")),
                N("organization", S, "company", company),
                N("division", S, "division", choice("EMEA", "Americas", "APAC")),
                N("department", S, "department", choice("Engineering", "Sales", "Finance", "HR", "Support")),
                N("manager_value", S, "the manager's resource id", uid, 0.1),
                C("manager_displayName", S, "PII", "the manager's name", name, 0.1),
            ],
        )
    )
    # ---- PeerTube
    t.append(
        T(
            "peertube",
            "user",
            90,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2b$", 10)),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", email),
                N("nsfwPolicy", S, "setting", choice("do_not_list", "blur", "display")),
                N("autoPlayVideo", B, "flag", boolean(0.8)),
                N("role", I64, "role", choice(2, 2, 2, 1, 0)),
                N("videoQuota", I64, "bytes", choice(-1, 10737418240)),
                N("createdAt", TS, "timestamp", ts),
                N("updatedAt", TS, "timestamp", ts),
                N("blocked", B, "flag", boolean(0.02)),
                N("emailVerified", B, "flag", boolean(0.8), 0.1),
                C("pendingEmail", S, "PII", "email pending confirmation", email, 0.95),
                N("theme", S, "theme", choice("instance-default", "peertube-core-dark-brown")),
                N("lastLoginDate", TS, "timestamp", ts, 0.1),
                C(
                    "otpSecret",
                    S,
                    "CREDENTIAL",
                    "encrypted TOTP secret",
                    lambda g: hexs(32)(g) + ":" + b64(g.raw(48)),
                    0.85,
                ),
                N("pluginAuth", S, "auth plugin name", choice("peertube-plugin-auth-openid-connect"), 0.9),
            ],
        )
    )
    t.append(
        T(
            "peertube",
            "actor",
            90,
            [
                N("id", I64, "key", seq()),
                N("type", S, "kind", choice("Person", "Person", "Group")),
                C("preferredUsername", S, "PII", "handle", handle),
                C(
                    "url",
                    S,
                    "PII",
                    "actor URL (holds the handle)",
                    lambda g: "https://videos.example.org/accounts/" + handle(g),
                ),
                N("publicKey", S, "public key", rsa_pem("PUBLIC KEY")),
                C("privateKey", S, "CREDENTIAL", "the actor's RSA private key", rsa_pem("RSA PRIVATE KEY"), 0.3),
                N("followersCount", I64, "count", intr(0, 400)),
                N("followingCount", I64, "count", intr(0, 200)),
                N("createdAt", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Umami
    t.append(
        T(
            "umami",
            "user",
            55,
            [
                N("user_id", S, "record UUID", uid),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2b$", 10)),
                N("role", S, "role", choice("user", "admin", "view-only")),
                N("created_at", TS, "timestamp", ts),
                N("deleted_at", TS, "timestamp", ts, 0.95),
                N("display_name", S, "display name, nearly always empty", choice(""), 0.9),
            ],
        )
    )
    t.append(
        T(
            "umami",
            "session",
            150,
            [
                N("session_id", S, "session UUID (a hash of salt, site, IP and agent: a pseudonymous id)", uid),
                N(
                    "website_id",
                    S,
                    "site UUID",
                    choice("b1e3c1a4-1f0e-4b8b-9c52-3d9a0e6f7a10", "5f0c2b7e-9a3d-4c1e-8f6b-2a7d9e1c4b30"),
                ),
                N("hostname", S, "site host", choice("www.example.com", "docs.example.com")),
                N("browser", S, "browser", browser),
                N("os", S, "OS", os_name),
                N("device", S, "device kind", choice("desktop", "mobile", "laptop", "tablet")),
                N("screen", S, "screen size", screen),
                N("language", S, "locale", choice("en-US", "de-DE", "fr-FR", "pt-BR", "en-GB")),
                N("country", S, "country", country_code),
                N("region", S, "region code", choice("US-CA", "DE-BY", "FR-IDF", "BR-SP", "GB-ENG")),
                N("city", S, "city", city),
                N("distinct_id", S, "the site's visitor id (a pseudonymous id)", lambda g: uid(g)[:12], 0.8),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Pleroma
    t.append(
        T(
            "pleroma",
            "users",
            100,
            [
                N("id", S, "FlakeId", lambda g: g.s(ALNUM, 18)),
                C("email", S, "PII", "email", email, 0.3),
                C("password_hash", S, "CREDENTIAL", "PBKDF2-SHA512 of the password", elixir_pbkdf2, 0.3),
                C("name", S, "PII", "display name (the person's name)", display_name),
                C(
                    "nickname",
                    S,
                    "PII",
                    "handle (user@host for remote users)",
                    lambda g: handle(g) + g.r.choice(["", "", "@mastodon.social"]),
                ),
                N("bio", S, "free text", bio, 0.5),
                C(
                    "ap_id",
                    S,
                    "PII",
                    "actor URL (holds the handle)",
                    lambda g: "https://pleroma.example.org/users/" + handle(g),
                ),
                N(
                    "avatar",
                    S,
                    "JSON with an image URL",
                    lambda g: json.dumps({"url": f"https://pleroma.example.org/media/{sha256_hex(g)}.png"}),
                    0.4,
                ),
                N("local", B, "flag", boolean(0.6)),
                N(
                    "follower_address",
                    S,
                    "URL of the followers collection",
                    lambda g: "https://pleroma.example.org/users/" + handle(g) + "/followers",
                ),
                C(
                    "keys",
                    S,
                    "CREDENTIAL",
                    "the actor's RSA private key (local users)",
                    rsa_pem("RSA PRIVATE KEY"),
                    0.4,
                ),
                N("public_key", S, "public key", rsa_pem("PUBLIC KEY"), 0.2),
                N("is_moderator", B, "flag", boolean(0.02)),
                N("is_admin", B, "flag", boolean(0.02)),
                N("is_confirmed", B, "flag", boolean(0.9)),
                N("confirmation_token", S, "email-confirmation code", alnum(32), 0.9),
                C("last_refreshed_at", TS, "NONE", "timestamp", ts, 0.2),
                N("inserted_at", TS, "timestamp", ts),
                C(
                    "multi_factor_authentication_settings",
                    S,
                    "CREDENTIAL",
                    "JSON holding the TOTP secret and backup codes",
                    lambda g: json.dumps({"enabled": True, "totp": {"secret": b32(32)(g), "confirmed": True}}),
                    0.85,
                ),
                C("last_active_at", TS, "NONE", "timestamp", ts, 0.3),
            ],
        )
    )
    # ---- Wekan (MongoDB users, Meteor accounts; nested documents as JSON strings)
    t.append(
        T(
            "wekan",
            "users",
            80,
            [
                N(
                    "_id",
                    S,
                    "Meteor id (17 chars)",
                    lambda g: g.s("23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz", 17),
                ),
                N("createdAt", TS, "timestamp", ts),
                C("username", S, "PII", "login name", username),
                C("emails", S, "PII", "JSON list of email addresses", wekan_emails),
                C("services", S, "CREDENTIAL", "JSON with the password bcrypt and hashed login tokens", wekan_services),
                C("profile_fullname", S, "PII", "full name", name, 0.2),
                N("profile_initials", S, "initials alone", initials, 0.3),
                N("profile_language", S, "language", choice("en", "de", "fr", "es"), 0.3),
                N("isAdmin", B, "flag", boolean(0.05)),
                N("authenticationMethod", S, "kind", choice("password", "password", "ldap", "oauth2")),
                N("modifiedAt", TS, "timestamp", ts),
                N("loginDisabled", B, "flag", boolean(0.03)),
            ],
        )
    )
    # ---- openIMIS (health insurance management; deployments in Nepal, Tanzania, Cameroon)
    t.append(
        T(
            "openimis",
            "tblInsuree",
            120,
            [
                N("InsureeID", I64, "key", seq()),
                N("FamilyID", I64, "family key", intr(1, 60)),
                C("CHFID", S, "SENSITIVE", "insurance number of the insuree (member id)", insuree_no),
                C("LastName", S, "PII", "family name", lambda g: g.loc(["en_IN", "fr_FR", "en_GB"]).last_name()),
                C("OtherNames", S, "PII", "given names", lambda g: g.loc(["en_IN", "fr_FR", "en_GB"]).first_name()),
                C("DOB", D32, "PII", "date of birth", birth),
                N("Gender", S, "gender", choice("M", "F")),
                N("Marital", S, "marital status", choice("M", "S", "D", "W", ""), 0.2),
                N("IsHead", B, "flag", boolean(0.4)),
                C(
                    "passport",
                    S,
                    "SENSITIVE",
                    "national id or passport number",
                    lambda g: g.r.choice([passport, aadhaar])(g),
                    0.7,
                ),
                C("Phone", S, "PII", "phone", phone, 0.5),
                C("Email", S, "PII", "email", email, 0.85),
                C("CurrentAddress", S, "PII", "home address", street, 0.6),
                N("CurrentVillage", I64, "location key", intr(1, 900), 0.5),
                N("CardIssued", B, "flag", boolean(0.7)),
                N("TypeOfId", S, "kind of id document (code)", choice("N", "P", "D"), 0.6),
                N("HFID", I64, "health facility key", intr(1, 40), 0.3),
                N("ValidityFrom", TS, "timestamp", ts),
                N("ValidityTo", TS, "timestamp", ts, 0.85),
            ],
        )
    )
    t.append(
        T(
            "openimis",
            "tblFamilies",
            60,
            [
                N("FamilyID", I64, "key", seq()),
                N("InsureeID", I64, "head insuree key", intr(1, 120)),
                N("LocationId", I64, "location key", intr(1, 900)),
                N("Poverty", B, "flag", boolean(0.3)),
                N("FamilyType", S, "code", choice("H", "P", "C", "O")),
                C("FamilyAddress", S, "PII", "the family's home address", street, 0.4),
                N("Ethnicity", S, "ethnicity code (race and ethnicity NONE)", choice("A", "B", "C", ""), 0.5),
                N(
                    "ConfirmationNo",
                    S,
                    "number of a poverty-status certificate (a document reference)",
                    lambda g: g.digits(8),
                    0.7,
                ),
                N("ConfirmationType", S, "code", choice("A", "B", "C"), 0.7),
                N("ValidityFrom", TS, "timestamp", ts),
            ],
        )
    )
    t.extend(opaque_tables())
    return t


def setting_value(g: Gen) -> str:
    """A settings table's value column: secrets on most rows, ordinary settings on the others."""
    return g.r.choice(
        [
            common_api_key,
            common_api_key,
            lambda g: g.fk["en_US"].password(length=20),
            jwt,
            lambda g: g.s(ALNUM, 32),
            lambda g: str(g.r.choice([25, 587, 6379, 3306])),
            lambda g: g.r.choice(["true", "false", "info"]),
            lambda g: f"mail.{g.fk['en_US'].domain_name()}",
        ]
    )(g)


SETTING_KEYS = [
    "payments.stripe_secret",
    "smtp.password",
    "smtp.port",
    "openai.api_key",
    "session.secret",
    "log.level",
    "smtp.host",
    "aws.access_key_id",
]


def slack_webhook(g: Gen) -> str:
    return (
        f"https://hooks.slack.com/services/T{g.s(UPPER + string.digits, 8)}/B{g.s(UPPER + string.digits, 10)}/"
        + g.s(ALNUM, 24)
    )


def opaque_tables() -> list[Table]:
    o = "opaque"
    return [
        T(
            o,
            "sheet_1",
            140,
            [
                N("col_1", I64, "row numbers", seq()),
                C("col_2", S, "PII", "first names", first),
                C("col_3", S, "PII", "last names", last),
                C("col_4", S, "PII", "emails", email, 0.1),
                C("col_5", S, "PII", "phone numbers", phone, 0.3),
                N("col_6", S, "company names", company, 0.3),
                N("col_7", S, "job titles", job, 0.4),
                C("col_8", S, "PII", "street addresses", street, 0.4),
                N("col_9", S, "cities", city, 0.3),
                C("col_10", S, "PII", "postcodes", postcode, 0.4),
                N("col_11", S, "country codes", country_code, 0.2),
                N("col_12", S, "lead statuses", choice("new", "contacted", "qualified", "lost")),
                N("col_13", DEC, "deal amounts", amount, 0.5),
                N("col_14", S, "dates (ISO)", lambda g: ts(g).date().isoformat()),
                N("col_15", B, "opt-in flags", boolean(0.6)),
                C(
                    "col_16",
                    S,
                    "PII",
                    "LinkedIn profile URLs",
                    lambda g: "https://www.linkedin.com/in/" + handle(g),
                    0.6,
                ),
                N("col_17", S, "sources", choice("web", "referral", "event", "ads")),
                N("col_18", S, "free-text notes", sentence, 0.7),
                C("col_19", S, "PII", "birth dates as typed", dob_text, 0.7),
                N("col_20", S, "owner initials", initials),
            ],
        ),
        T(
            o,
            "extract_b",
            120,
            [
                N("field_a", S, "UUIDs", uid),
                C("field_b", S, "PII", "login names", username),
                C("field_c", S, "PII", "emails", email),
                C(
                    "field_d",
                    S,
                    "CREDENTIAL",
                    "password hashes (bcrypt, pbkdf2, argon2, werkzeug)",
                    password_hash_common,
                ),
                N("field_e", TS, "creation timestamps", ts),
                N("field_f", I64, "last seen, epoch ms", epoch_ms, 0.2),
                N("field_g", S, "statuses", choice("active", "active", "invited", "suspended")),
                C(
                    "field_h",
                    S,
                    "CREDENTIAL",
                    "API keys (Stripe, GitHub, AWS, Slack, OpenAI, Google, SendGrid)",
                    common_api_key,
                    0.6,
                ),
                C("field_i", S, "CREDENTIAL", "JWTs (session tokens)", jwt, 0.5),
                C("field_j", S, "PII", "client IP addresses", ip_any, 0.2),
                N("field_k", S, "user agents", user_agent, 0.2),
                N("field_l", S, "locales", lang),
                C("field_m", S, "CREDENTIAL", "password-reset tokens", lambda g: b64url(g.raw(32)), 0.8),
                N("field_n", S, "Gravatar digests (MD5)", md5_hex, 0.4),
                N("field_o", S, "password salts", alnum(16), 0.3),
                C("field_p", S, "PII", "full names", name, 0.1),
                N("field_q", I64, "login counts", intr(0, 900)),
                N("field_r", S, "plans", choice("free", "pro", "team", "enterprise")),
            ],
        ),
        T(
            o,
            "attrs",
            110,
            [
                N("attr1", S, "account numbers of the exporting system (keys)", lambda g: "AC-" + g.digits(8)),
                C("attr2", S, "PII", "full names", name),
                C("attr3", S, "SENSITIVE", "national ids of the customers' countries", national_id, 0.2),
                C("attr4", S, "SENSITIVE", "IBANs", iban, 0.3),
                N(
                    "attr5",
                    S,
                    "BICs",
                    choice("DEUTDEFF", "BNPAFRPP", "CAIXESBB", "BARCGB22", "UBSWCHZH80A", "NDEASESS"),
                ),
                N("attr6", DEC, "balances", amount),
                C("attr7", D32, "PII", "birth dates", birth, 0.1),
                C("attr8", S, "SENSITIVE", "passport numbers", passport, 0.6),
                C("attr9", S, "SENSITIVE", "payment card numbers", card, 0.5),
                N("attr10", S, "masked card numbers", masked_card, 0.5),
                C("attr11", S, "SENSITIVE", "US social security numbers", ssn, 0.6),
                C("attr12", S, "SENSITIVE", "driving licence numbers", drivers_licence, 0.6),
                C("attr13", S, "SENSITIVE", "bank account numbers", bank_account, 0.5),
                C("attr14", S, "PII", "mobile numbers", phone, 0.2),
                N("attr15", S, "nationalities (country names)", lambda g: g.loc().current_country()),
                N("attr16", S, "occupations", job, 0.3),
                N("attr17", S, "KYC statuses", choice("verified", "pending", "rejected")),
                N("attr18", F64, "risk scores", lambda g: round(g.r.random(), 3)),
                N("attr19", S, "ABA routing numbers", choice("021000021", "026009593", "121000358", "011401533")),
            ],
        ),
        T(
            o,
            "kv",
            100,
            [
                N("key", S, "setting names", lambda g: g.r.choice(SETTING_KEYS)),
                C(
                    "value",
                    S,
                    "CREDENTIAL",
                    "setting values: API keys, passwords, session secrets beside ports and hosts",
                    setting_value,
                ),
                C("x1", S, "CREDENTIAL", "JWTs", jwt, 0.3),
                N("x2", S, "git commit SHAs", sha1_hex),
                N("x3", S, "SHA-256 digests of files", sha256_hex),
                N("x4", S, "UUIDs", uid),
                N(
                    "x5",
                    S,
                    "hostnames",
                    lambda g: f"{g.r.choice(['api', 'db', 'queue'])}-{g.r.randint(1, 20)}.internal",
                ),
                N("x6", S, "URLs", url),
                N(
                    "x7",
                    S,
                    "version strings",
                    lambda g: f"{g.r.randint(1, 9)}.{g.r.randint(0, 20)}.{g.r.randint(0, 40)}",
                ),
                C("x8", S, "CREDENTIAL", "PostgreSQL URLs with passwords", pg_url, 0.5),
                C("x9", S, "CREDENTIAL", "PKCS#8 private keys", private_key, 0.8),
                C("x10", S, "CREDENTIAL", "session ids (cookie values)", lambda g: g.s(LOWER_ALNUM, 32)),
                N("x11", S, "timestamps (ISO)", ts_iso),
                N("x12", S, "EAN-13 barcodes", ean13),
                N("x13", S, "order numbers", order_id),
                N("x14", S, "SKUs", sku),
                C("x15", S, "CREDENTIAL", "Slack webhook URLs (the path is the secret)", slack_webhook, 0.6),
                N(
                    "x16",
                    S,
                    "base64 pagination cursors",
                    lambda g: b64(json.dumps({"page": g.r.randint(1, 900)}).encode()),
                ),
            ],
        ),
    ]


# --------------------------------------------------------------------------- writing


def column_values(g: Gen, col: Col, rows: int) -> pa.Array:
    values = [None if g.r.random() < col.nulls else col.make(g) for _ in range(rows)]
    if col.type == pa.string() and col.nulls:
        values = [g.r.choice(["", "NULL"]) if v is None and g.r.random() < 0.15 else v for v in values]
    return pa.array(values, type=col.type)


def main(out: Path = HERE, sources: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Write out/data/*.parquet and out/labels.csv (only the tables of ``sources`` when given)."""
    wanted = set(sources) if sources is not None else None
    g = Gen()
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    if wanted is None:
        for old in data.glob("*.parquet"):
            old.unlink()
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for tab in tables() + tables_b():
        assert tab.source in SOURCES, tab.source
        assert 50 <= tab.rows <= 200, tab.table
        if wanted is not None and tab.source not in wanted:
            continue
        g.reseed(f"{tab.source}/{tab.table}")
        arrays, names = [], []
        for col in tab.cols:
            key = (tab.source, tab.table, col.name)
            assert key not in seen, key
            assert col.label in {"PII", "SENSITIVE", "CREDENTIAL", "NONE"}, key
            seen.add(key)
            arr = column_values(g, col, tab.rows)
            arrays.append(arr)
            names.append(col.name)
            title, src_url = SOURCES[tab.source]
            rows.append(
                {
                    "file": f"{tab.source}__{tab.table}.parquet",
                    "source": tab.source,
                    "source_doc": title,
                    "source_url": src_url,
                    "table": tab.table,
                    "column": col.name,
                    "arrow_type": str(arr.type),
                    "label": col.label,
                    "reason": col.reason,
                }
            )
        pq.write_table(pa.table(arrays, names=names), data / f"{tab.source}__{tab.table}.parquet", compression="zstd")
    name_ = "labels.csv" if wanted is None else "labels.subset.csv"
    with open(out / name_, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    by_label: dict[str, int] = {}
    for r in rows:
        by_label[r["label"]] = by_label.get(r["label"], 0) + 1
    print(f"{len(rows)} columns: {by_label}")
    return rows


if __name__ == "__main__":
    main()
