"""Generate the seventh blind PII evaluation set: a second representative held-out sample.

    .venv/bin/python tests/data/pii_eval_v7/make_set.py      # rewrite data/*.parquet and labels.csv

Sets 1 to 6 (tests/data/pii_eval, pii_eval_v2 ... pii_eval_v6) have been scored or used for
development; this set takes the tables of public application schemas none of them used (SOURCES,
README.md) with their real column names, types and mixes of sensitive and ordinary columns, and
fills them with the common kinds of values those applications hold, in the common locales of their
users. Then content-only columns with opaque names, drawn from common kinds of data in the
proportion an export would hold them. Every label is decided here from the column's meaning, with
set 1's taxonomy and rules and the decisions recorded by sets 2 to 6, before any detector has run
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
from stdnum import luhn, verhoeff
from stdnum.br import cpf as br_cpf
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_cf
from stdnum.se import personnummer as se_pnr

HERE = Path(__file__).resolve().parent
SEED = 20271202
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
    "twenty": ("Twenty CRM workspace schema: person", "https://twenty.com/developers/section/api-and-webhooks/api"),
    "espocrm": (
        "EspoCRM database: contact, user, email_address, auth_token",
        "https://docs.espocrm.com/development/metadata/entity-defs/",
    ),
    "sentry": (
        "Sentry (self-hosted) database: auth_user, sentry_apitoken, sentry_eventuser",
        "https://develop.sentry.dev/application-architecture/overview/",
    ),
    "ghost": ("Ghost database: members, users", "https://ghost.org/docs/admin-api/#members"),
    "phpbb": ("phpBB 3.3 database: phpbb_users", "https://wiki.phpbb.com/Table.phpbb_users"),
    "snipeit": ("Snipe-IT database: users, assets", "https://snipe-it.readme.io/reference/users"),
    "glpi": ("GLPI database: glpi_users, glpi_useremails", "https://glpi-developer-documentation.readthedocs.io/"),
    "pretix": (
        "pretix database: pretixbase_order, pretixbase_orderposition, pretixbase_invoiceaddress",
        "https://docs.pretix.eu/en/latest/api/resources/orders.html",
    ),
    "strapi": (
        "Strapi v4 database: admin_users, up_users",
        "https://docs.strapi.io/dev-docs/plugins/users-permissions",
    ),
    "directus": (
        "Directus system tables: directus_users, directus_sessions",
        "https://docs.directus.io/reference/system/users.html",
    ),
    "plausible": (
        "Plausible Analytics PostgreSQL: users, api_keys",
        "https://github.com/plausible/analytics/tree/master/priv/repo/migrations",
    ),
    "posthog": (
        "PostHog database: posthog_person, posthog_persondistinctid, posthog_user, posthog_personalapikey",
        "https://posthog.com/docs/data/persons",
    ),
    "joomla": (
        "Joomla 4 database: #__users (with the jos_ prefix)",
        "https://docs.joomla.org/Tables/users",
    ),
    "mediawiki": ("MediaWiki database: user", "https://www.mediawiki.org/wiki/Manual:User_table"),
    "civicrm": (
        "CiviCRM database: civicrm_contact, civicrm_address, civicrm_email, civicrm_phone",
        "https://docs.civicrm.org/dev/en/latest/framework/database/schema-design/",
    ),
    "fineract": (
        "Apache Fineract database: m_client, m_client_identifier, m_address",
        "https://fineract.apache.org/docs/current/",
    ),
    "idempiere": (
        "iDempiere database: AD_User, C_BP_BankAccount",
        "https://wiki.idempiere.org/en/Table_AD_User",
    ),
    "openhospital": (
        "Open Hospital database: PATIENT, ADMISSION",
        "https://github.com/informatici/openhospital-core/tree/develop/sql",
    ),
    "shopware": (
        "Shopware 6 database: customer, customer_address",
        "https://developer.shopware.com/docs/resources/references/core-reference/dal-reference/",
    ),
    "bagisto": ("Bagisto database: customers, addresses", "https://devdocs.bagisto.com/"),
    "calcom": ("Cal.com Prisma schema: users, Booking, Attendee", "https://cal.com/docs/developing/introduction"),
    "zulip": ("Zulip database: zerver_userprofile", "https://zulip.readthedocs.io/en/latest/subsystems/users.html"),
    "lemmy": (
        "Lemmy database: person, local_user",
        "https://github.com/LemmyNet/lemmy/blob/main/crates/db_schema/src/schema.rs",
    ),
    "limesurvey": (
        "LimeSurvey database: lime_users, lime_tokens_<survey id> (participants)",
        "https://manual.limesurvey.org/Survey_participants",
    ),
    "icehrm": (
        "IceHrm database: Employees, Users, EmployeeDependents, EmergencyContacts",
        "https://github.com/gamonoid/icehrm/blob/master/core/scripts/icehrmdb.sql",
    ),
    "opaque": (
        "Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
        "tests/data/pii_eval_v7/README.md",
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


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Twenty CRM (composite fields flattened to camelCase columns, as its workspace schema does)
    t.append(
        T(
            "twenty",
            "person",
            110,
            [
                N("id", S, "record UUID", uid),
                C("nameFirstName", S, "PII", "given name", first),
                C("nameLastName", S, "PII", "family name", last),
                C("emailsPrimaryEmail", S, "PII", "the person's email", email, 0.1),
                N("emailsAdditionalEmails", S, "JSON list, empty on most rows", choice("[]", "[]", "null")),
                C("phonesPrimaryPhoneNumber", S, "PII", "phone number (national part)", phone, 0.3),
                N(
                    "phonesPrimaryPhoneCountryCode",
                    S,
                    "calling-code country",
                    choice("US", "GB", "FR", "DE", "BR"),
                    0.3,
                ),
                N("jobTitle", S, "job title", job, 0.3),
                N("city", S, "city", city, 0.3),
                C(
                    "linkedinLinkPrimaryLinkUrl",
                    S,
                    "PII",
                    "the person's LinkedIn profile URL",
                    lambda g: "https://www.linkedin.com/in/" + username(g).replace(".", "-"),
                    0.5,
                ),
                C(
                    "xLinkPrimaryLinkUrl",
                    S,
                    "PII",
                    "the person's X handle URL",
                    lambda g: "https://x.com/" + handle(g),
                    0.8,
                ),
                N("avatarUrl", S, "URL of a stored image", lambda g: f"person-picture/{uid(g)}.png", 0.7),
                N("position", F64, "sort position", lambda g: float(g.r.randint(0, 5000))),
                N("companyId", S, "company UUID", uid, 0.2),
                N("createdBySource", S, "enum", choice("MANUAL", "IMPORT", "EMAIL", "API")),
                N("createdByWorkspaceMemberId", S, "workspace member UUID", uid, 0.2),
                N("createdAt", TS, "timestamp", ts),
                N("updatedAt", TS, "timestamp", ts),
                N("deletedAt", TS, "timestamp", ts, 0.95),
            ],
        )
    )
    # ---- EspoCRM
    t.append(
        T(
            "espocrm",
            "contact",
            100,
            [
                N("id", S, "17-char record id", alnum(17)),
                N("salutation_name", S, "salutation", choice("Mr.", "Ms.", "Mrs.", "Dr.", ""), 0.2),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("middle_name", S, "PII", "middle name", first, 0.8),
                N("description", S, "free text", sentence, 0.6),
                C("address_street", S, "PII", "the contact's street address", street, 0.4),
                N("address_city", S, "city", city, 0.4),
                N("address_state", S, "state", state, 0.5),
                N("address_country", S, "country", country_code, 0.4),
                C("address_postal_code", S, "PII", "postcode of the contact's address", postcode, 0.4),
                N("account_id", S, "account id", alnum(17), 0.3),
                N("lead_source", S, "enum", choice("Web Site", "Call", "Email", "Partner", "Campaign"), 0.3),
                N("created_at", S, "datetime", ts_str),
                N("modified_at", S, "datetime", ts_str),
                N("assigned_user_id", S, "owner's id", alnum(17), 0.2),
            ],
        )
    )
    t.append(
        T(
            "espocrm",
            "user",
            60,
            [
                N("id", S, "17-char record id", alnum(17)),
                N("deleted", B, "flag", boolean(0.02)),
                C("user_name", S, "PII", "login name", username),
                N("type", S, "enum", choice("regular", "regular", "admin", "portal", "api")),
                C(
                    "password",
                    S,
                    "CREDENTIAL",
                    "password hash (sha512-crypt; bcrypt on newer installs)",
                    lambda g: sha512crypt(g) if g.r.random() < 0.5 else bcrypt("$2y$")(g),
                ),
                N("auth_method", S, "enum", choice("", "", "Hmac", "ApiKey"), 0.5),
                C("api_key", S, "CREDENTIAL", "API key of API users (32 hex)", hexs(32), 0.8),
                C("secret_key", S, "CREDENTIAL", "HMAC secret of API users", hexs(32), 0.9),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                N("is_active", B, "flag", boolean(0.9)),
                N("title", S, "job title", job, 0.5),
                N("gender", S, "gender", choice("Male", "Female", "Neutral", ""), 0.4),
                N("created_at", S, "datetime", ts_str),
                N("default_team_id", S, "team id", alnum(17), 0.4),
            ],
        )
    )
    t.append(
        T(
            "espocrm",
            "email_address",
            120,
            [
                N("id", S, "17-char record id", alnum(17)),
                C("name", S, "PII", "the email address", email),
                C("lower", S, "PII", "the email address, lower-cased", lambda g: email(g).lower()),
                N("invalid", B, "flag", boolean(0.05)),
                N("opt_out", B, "flag", boolean(0.1)),
            ],
        )
    )
    t.append(
        T(
            "espocrm",
            "auth_token",
            90,
            [
                N("id", S, "17-char record id", alnum(17)),
                C("token", S, "CREDENTIAL", "session token (32 hex)", hexs(32)),
                C("hash", S, "CREDENTIAL", "secret of the auth cookie (token digest)", hexs(40)),
                N("user_id", S, "user id", alnum(17)),
                C("ip_address", S, "PII", "client IP address", ip_any),
                N("is_active", B, "flag", boolean(0.6)),
                N("last_access", S, "datetime", ts_str),
                N("created_at", S, "datetime", ts_str),
                N("portal_id", S, "portal id", alnum(17), 0.9),
            ],
        )
    )
    # ---- Sentry
    t.append(
        T(
            "sentry",
            "auth_user",
            70,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash (pbkdf2_sha256)", django_pbkdf2),
                N("last_login", TS, "timestamp", ts, 0.1),
                C(
                    "username",
                    S,
                    "PII",
                    "login name (often the email)",
                    lambda g: email(g) if g.r.random() < 0.6 else username(g),
                ),
                C("name", S, "PII", "the user's full name", name, 0.1),
                C("email", S, "PII", "email", email),
                N("is_staff", B, "flag", boolean(0.05)),
                N("is_active", B, "flag", boolean(0.95)),
                N("is_superuser", B, "flag", boolean(0.05)),
                N("is_managed", B, "flag", boolean(0.05)),
                N("is_password_expired", B, "flag", boolean(0.02)),
                N("last_password_change", TS, "timestamp", ts, 0.3),
                N("date_joined", TS, "timestamp", ts),
                N("last_active", TS, "timestamp", ts, 0.1),
                N("flags", I64, "bit field", choice(0, 0, 1, 2)),
            ],
        )
    )
    t.append(
        T(
            "sentry",
            "sentry_apitoken",
            80,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 70)),
                C("token", S, "CREDENTIAL", "user auth token (sntryu_ + 64 hex)", lambda g: "sntryu_" + g.s(HEX, 64)),
                C("hashed_token", S, "CREDENTIAL", "SHA-256 of the token (a token digest)", sha256_hex),
                N("token_last_characters", S, "last four characters of the token", hexs(4)),
                C("refresh_token", S, "CREDENTIAL", "OAuth refresh token (64 hex)", hexs(64), 0.6),
                N("scope_list", S, "scopes", choice("{project:read}", "{org:read,project:write}", "{event:read}")),
                N("name", S, "the token's label", choice("CI", "release bot", "grafana", ""), 0.3),
                N("expires_at", TS, "timestamp", ts, 0.5),
                N("date_added", TS, "timestamp", ts),
                N("application_id", I64, "OAuth application key", intr(1, 12), 0.7),
            ],
        )
    )
    t.append(
        T(
            "sentry",
            "sentry_eventuser",
            130,
            [
                N("id", I64, "key", seq()),
                N("project_id", I64, "project key", intr(1, 40)),
                N("hash", S, "MD5 of the user tag (a digest of an id)", md5_hex),
                N("ident", S, "the monitored app's user id (pseudonymous)", eventuser_ident, 0.2),
                C("email", S, "PII", "the end user's email sent by the SDK", email, 0.3),
                C("username", S, "PII", "the end user's login", username, 0.5),
                C("name", S, "PII", "the end user's name", name, 0.7),
                C("ip_address", S, "PII", "the end user's IP address", ip_any, 0.1),
                N("date_added", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Ghost
    t.append(
        T(
            "ghost",
            "members",
            140,
            [
                N("id", S, "24-hex object id", hexs(24)),
                N("uuid", S, "member UUID", uid),
                N("transient_id", S, "session invalidation id", uid),
                C("email", S, "PII", "the member's email", email),
                N("status", S, "enum", choice("free", "free", "free", "paid", "comped")),
                C("name", S, "PII", "the member's name", name, 0.4),
                N("expertise", S, "free text", choice("Engineer", "Founder", "Designer", ""), 0.8),
                N("note", S, "staff note", sentence, 0.9),
                N(
                    "geolocation",
                    S,
                    "JSON of the country/region/city the signup IP resolved to",
                    lambda g: json.dumps({"country_code": country_code(g), "city": city(g), "timezone": tz(g)}),
                    0.2,
                ),
                N("email_disabled", B, "flag", boolean(0.03)),
                N("last_seen_at", TS, "timestamp", ts, 0.3),
                N("last_commented_at", TS, "timestamp", ts, 0.9),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "ghost",
            "users",
            55,
            [
                N("id", S, "24-hex object id", hexs(24)),
                C("name", S, "PII", "the author's name", name),
                N("slug", S, "URL slug (from the name, public author page)", lambda g: g.loc().slug()),
                C("password", S, "CREDENTIAL", "bcrypt $2a$ password hash", bcrypt("$2a$")),
                C("email", S, "PII", "email", email),
                N(
                    "profile_image",
                    S,
                    "image URL",
                    lambda g: f"/content/images/2024/0{g.r.randint(1, 9)}/{uid(g)}.jpg",
                    0.4,
                ),
                N("bio", S, "free text", sentence, 0.5),
                N("location", S, "city", city, 0.6),
                C("facebook", S, "PII", "the author's Facebook handle", handle, 0.8),
                C("twitter", S, "PII", "the author's X handle", lambda g: "@" + handle(g), 0.6),
                N("status", S, "enum", choice("active", "active", "inactive", "locked")),
                N("locale", S, "language", lang, 0.7),
                N("last_seen", TS, "timestamp", ts, 0.2),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- phpBB
    t.append(
        T(
            "phpbb",
            "phpbb_users",
            140,
            [
                N("user_id", I64, "key", seq()),
                N("user_type", I64, "enum", choice(0, 0, 0, 1, 2, 3)),
                N("group_id", I64, "group key", choice(2, 2, 2, 5, 4, 7)),
                C("user_ip", S, "PII", "registration IP address", ip_any),
                N("user_regdate", I64, "epoch seconds", epoch),
                C("username", S, "PII", "the forum handle", handle),
                C("username_clean", S, "PII", "the handle, lower-cased", lambda g: handle(g).lower()),
                C(
                    "user_password",
                    S,
                    "CREDENTIAL",
                    "password hash ($2y$ bcrypt; phpass $H$ on old accounts)",
                    lambda g: bcrypt("$2y$")(g) if g.r.random() < 0.6 else phpass(g),
                ),
                N("user_passchg", I64, "epoch seconds", epoch),
                C("user_email", S, "PII", "email", email),
                C(
                    "user_birthday",
                    S,
                    "PII",
                    "date of birth as phpBB stores it (d-m-Y, space-padded)",
                    phpbb_birthday,
                    0.7,
                ),
                N("user_lastvisit", I64, "epoch seconds", epoch),
                N("user_lastpage", S, "forum path", lambda g: f"viewtopic.php?t={g.r.randint(1, 9000)}", 0.3),
                N("user_posts", I64, "count", intr(0, 3000)),
                N("user_lang", S, "language", choice("en", "de", "fr", "es", "it", "pt_br")),
                N("user_timezone", S, "time zone", tz),
                N("user_sig", S, "signature text", sentence, 0.8),
                C("user_jabber", S, "PII", "the user's XMPP address", lambda g: handle(g) + "@jabber.org", 0.95),
                N("user_actkey", S, "account activation code (spent once activated)", alnum(10), 0.8),
                C("user_newpasswd", S, "CREDENTIAL", "hash of a requested new password", bcrypt("$2y$"), 0.95),
                N("user_form_salt", S, "CSRF form salt", lambda g: g.s(LOWER_ALNUM, 16)),
                N(
                    "user_email_hash",
                    I64,
                    "crc32 and length of the email (a digest)",
                    lambda g: g.r.randint(10**11, 10**13),
                ),
            ],
        )
    )
    # ---- Snipe-IT
    t.append(
        T(
            "snipeit",
            "users",
            90,
            [
                N("id", I64, "key", seq()),
                C("email", S, "PII", "work email of the person", work_email, 0.1),
                C("password", S, "CREDENTIAL", "bcrypt $2y$ password hash", bcrypt("$2y$")),
                N("activated", B, "flag", boolean(0.9)),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last, 0.05),
                C("username", S, "PII", "login name", username),
                N("employee_num", S, "staff number (a key)", lambda g: "E" + g.digits(5), 0.3),
                N("jobtitle", S, "job title", job, 0.3),
                C("phone", S, "PII", "the person's phone", phone, 0.4),
                C("address", S, "PII", "the person's street address (remote workers' home)", street, 0.7),
                N("city", S, "city", city, 0.6),
                N("state", S, "state", state, 0.6),
                C("zip", S, "PII", "postcode of that address", postcode, 0.7),
                N("country", S, "country", country_code, 0.6),
                C("gravatar", S, "PII", "the email Gravatar looks up", email, 0.8),
                N("notes", S, "free text", sentence, 0.8),
                N("location_id", I64, "location key", intr(1, 12), 0.2),
                N("manager_id", I64, "manager's key", intr(1, 90), 0.4),
                N("department_id", I64, "department key", intr(1, 10), 0.3),
                C("remember_token", S, "CREDENTIAL", "remember-me token (60 chars)", alnum(60), 0.4),
                C(
                    "two_factor_secret",
                    S,
                    "CREDENTIAL",
                    "TOTP secret (base32)",
                    lambda g: g.s(UPPER + "234567", 16),
                    0.7,
                ),
                N("last_login", TS, "timestamp", ts, 0.2),
                N("created_at", TS, "timestamp", ts),
                N("deleted_at", TS, "timestamp", ts, 0.9),
            ],
        )
    )
    t.append(
        T(
            "snipeit",
            "assets",
            130,
            [
                N("id", I64, "key", seq()),
                N("name", S, "device name", lambda g: g.r.choice(["LT-", "PC-", "MON-"]) + g.digits(4), 0.2),
                N("asset_tag", S, "asset tag", lambda g: g.digits(8)),
                N("serial", S, "serial number", lambda g: g.s(UPPER + string.digits, 10)),
                N("purchase_date", D32, "date", lambda g: ts(g).date(), 0.2),
                N("purchase_cost", DEC, "amount", amount, 0.2),
                N("order_number", S, "order number", order_id, 0.4),
                N("assigned_to", I64, "user key", intr(1, 90), 0.3),
                N("notes", S, "free text", sentence, 0.8),
                N("status_id", I64, "status key", intr(1, 5)),
                N("last_checkout", TS, "timestamp", ts, 0.3),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- GLPI
    t.append(
        T(
            "glpi",
            "glpi_users",
            100,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt $2y$ password hash", bcrypt("$2y$"), 0.2),
                N("password_last_update", S, "datetime", ts_str, 0.3),
                C("phone", S, "PII", "the person's phone", phone, 0.4),
                C("phone2", S, "PII", "second phone", phone, 0.8),
                C("mobile", S, "PII", "mobile phone", phone, 0.5),
                C("realname", S, "PII", "family name", last),
                C("firstname", S, "PII", "given name", first),
                N("locations_id", I64, "location key", intr(0, 20)),
                N("language", S, "language", choice("en_GB", "fr_FR", "de_DE", "es_ES", "pt_BR"), 0.3),
                N("is_active", B, "flag", boolean(0.9)),
                N("comment", S, "free text", sentence, 0.8),
                N("authtype", I64, "enum", choice(1, 1, 3, 4)),
                N("last_login", S, "datetime", ts_str, 0.2),
                N("date_mod", S, "datetime", ts_str),
                N("profiles_id", I64, "profile key", choice(1, 2, 4, 6)),
                N("entities_id", I64, "entity key", intr(0, 5)),
                N("registration_number", S, "staff number (a key)", lambda g: g.digits(6), 0.5),
                C("user_dn", S, "PII", "LDAP distinguished name (holds the person's name)", ldap_dn, 0.5),
                C("sync_field", S, "PII", "the directory's sAMAccountName (the login)", username, 0.6),
                C("personal_token", S, "CREDENTIAL", "personal token for feeds (40 chars)", alnum(40), 0.6),
                C("api_token", S, "CREDENTIAL", "REST API token (40 chars)", alnum(40), 0.8),
                C("cookie_token", S, "CREDENTIAL", "hash of the remember-me cookie token", bcrypt("$2y$"), 0.6),
                C("password_forget_token", S, "CREDENTIAL", "password-reset token (40 hex)", hexs(40), 0.9),
                N("password_forget_token_date", S, "datetime", ts_str, 0.9),
                N("is_deleted", B, "flag", boolean(0.03)),
            ],
        )
    )
    t.append(
        T(
            "glpi",
            "glpi_useremails",
            120,
            [
                N("id", I64, "key", seq()),
                N("users_id", I64, "user key", intr(1, 100)),
                N("is_default", B, "flag", boolean(0.8)),
                N("is_dynamic", B, "flag", boolean(0.4)),
                C("email", S, "PII", "the user's email", lambda g: work_email(g) if g.r.random() < 0.7 else email(g)),
            ],
        )
    )
    # ---- pretix
    t.append(
        T(
            "pretix",
            "pretixbase_order",
            120,
            [
                N("id", I64, "key", seq()),
                N("code", S, "order code", ticket_code),
                N("status", S, "enum", choice("p", "p", "p", "n", "c", "e")),
                C("email", S, "PII", "the buyer's email", email, 0.05),
                C("phone", S, "PII", "the buyer's phone", phone, 0.7),
                N("locale", S, "language", choice("en", "de", "de-informal", "fr", "es")),
                N("datetime", TS, "timestamp", ts),
                N("expires", TS, "timestamp", ts),
                N("total", DEC, "amount", amount),
                C(
                    "secret",
                    S,
                    "CREDENTIAL",
                    "the order's link secret (opens, changes and cancels the order)",
                    lambda g: g.s(LOWER_ALNUM, 16),
                ),
                N("comment", S, "staff note", sentence, 0.9),
                N("event_id", I64, "event key", intr(1, 15)),
                N("last_modified", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "pretix",
            "pretixbase_orderposition",
            150,
            [
                N("id", I64, "key", seq()),
                N("order_id", I64, "order key", intr(1, 250)),
                N("item_id", I64, "product key", intr(1, 30)),
                N("price", DEC, "amount", amount),
                C("attendee_name_cached", S, "PII", "the attendee's name", name, 0.3),
                C("attendee_email", S, "PII", "the attendee's email", email, 0.5),
                N("company", S, "the attendee's company", company, 0.7),
                C("street", S, "PII", "the attendee's street address", street, 0.8),
                C("zipcode", S, "PII", "the attendee's postcode", postcode, 0.8),
                N("city", S, "city", city, 0.8),
                N("country", S, "country", country_code, 0.8),
                N(
                    "secret",
                    S,
                    "ticket barcode content (printed on the ticket, like a ticket number)",
                    lambda g: g.s(LOWER_ALNUM, 32),
                ),
                N("pseudonymization_id", S, "pseudonymous id", lambda g: g.s(UPPER + string.digits, 10)),
                N("canceled", B, "flag", boolean(0.05)),
            ],
        )
    )
    t.append(
        T(
            "pretix",
            "pretixbase_invoiceaddress",
            100,
            [
                N("id", I64, "key", seq()),
                N("order_id", I64, "order key", intr(1, 250)),
                N("last_modified", TS, "timestamp", ts),
                N("is_business", B, "flag", boolean(0.3)),
                N("company", S, "company", company, 0.7),
                C("name_cached", S, "PII", "the buyer's name", name, 0.1),
                C("street", S, "PII", "billing street address (mostly private buyers)", street),
                C("zipcode", S, "PII", "billing postcode", postcode),
                N("city", S, "city", city),
                N("country", S, "country", country_code),
                N("state", S, "state", state, 0.7),
                N("vat_id", S, "VAT number (businesses)", lambda g: "DE" + g.digits(9), 0.8),
                N("vat_id_validated", B, "flag", boolean(0.2)),
                N("internal_reference", S, "the buyer's purchase-order reference", lambda g: "PO-" + g.digits(6), 0.9),
            ],
        )
    )
    # ---- Strapi
    t.append(
        T(
            "strapi",
            "admin_users",
            55,
            [
                N("id", I64, "key", seq()),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last, 0.1),
                C("username", S, "PII", "login name", username, 0.6),
                C("email", S, "PII", "email", work_email),
                C("password", S, "CREDENTIAL", "bcrypt $2a$ password hash", bcrypt("$2a$"), 0.1),
                C("reset_password_token", S, "CREDENTIAL", "password-reset token (40 hex)", hexs(40), 0.9),
                C(
                    "registration_token",
                    S,
                    "CREDENTIAL",
                    "invitation token that sets the first password",
                    hexs(40),
                    0.8,
                ),
                N("is_active", B, "flag", boolean(0.9)),
                N("blocked", B, "flag", boolean(0.05)),
                N("prefered_language", S, "language", lang, 0.5),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "strapi",
            "up_users",
            120,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", email),
                N("provider", S, "enum", choice("local", "local", "local", "google", "github")),
                C("password", S, "CREDENTIAL", "bcrypt $2a$ password hash", bcrypt("$2a$"), 0.2),
                C("reset_password_token", S, "CREDENTIAL", "password-reset token (128 hex)", hexs(128), 0.9),
                N("confirmed", B, "flag", boolean(0.8)),
                N("blocked", B, "flag", boolean(0.03)),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                N("created_by_id", I64, "admin key", intr(1, 5), 0.8),
            ],
        )
    )
    # ---- Directus
    t.append(
        T(
            "directus",
            "directus_users",
            70,
            [
                N("id", S, "UUID", uid),
                C("first_name", S, "PII", "given name", first, 0.1),
                C("last_name", S, "PII", "family name", last, 0.1),
                C("email", S, "PII", "email", work_email, 0.05),
                C("password", S, "CREDENTIAL", "argon2id password hash", argon2(), 0.1),
                N("location", S, "city", city, 0.7),
                N("title", S, "job title", job, 0.6),
                N("description", S, "free text", sentence, 0.8),
                N("tags", S, "JSON list", choice('["editor"]', "[]", '["marketing","eu"]'), 0.5),
                N("avatar", S, "file UUID", uid, 0.7),
                N("language", S, "language", choice("en-US", "de-DE", "fr-FR", "es-ES"), 0.4),
                C("tfa_secret", S, "CREDENTIAL", "TOTP secret (base32)", lambda g: g.s(UPPER + "234567", 16), 0.8),
                N("status", S, "enum", choice("active", "active", "invited", "suspended")),
                N("role", S, "role UUID", uid),
                C("token", S, "CREDENTIAL", "static API token", lambda g: g.s(B64URL, 32), 0.8),
                N("last_access", TS, "timestamp", ts, 0.2),
                N("last_page", S, "app path", choice("/content/articles", "/users", "/settings/data-model"), 0.3),
                N("provider", S, "enum", choice("default", "default", "google", "keycloak")),
                C(
                    "external_identifier",
                    S,
                    "PII",
                    "the identity provider's login (mostly the email)",
                    lambda g: email(g) if g.r.random() < 0.7 else g.digits(21),
                    0.6,
                ),
                N("email_notifications", B, "flag", boolean(0.8)),
                N("appearance", S, "enum", choice("auto", "light", "dark"), 0.5),
            ],
        )
    )
    t.append(
        T(
            "directus",
            "directus_sessions",
            110,
            [
                C("token", S, "CREDENTIAL", "session token (64 chars)", lambda g: g.s(B64URL, 64)),
                N("user", S, "user UUID", uid),
                N("expires", TS, "timestamp", ts),
                C("ip", S, "PII", "client IP address", ip_any, 0.05),
                N("user_agent", S, "browser user agent", user_agent),
                N("share", S, "share UUID", uid, 0.9),
                N("origin", S, "URL of the app", choice("https://cms.example.com", "http://localhost:8055"), 0.1),
                N("next_token", S, "id of the session that replaced this one (a key)", uid, 0.8),
            ],
        )
    )
    # ---- Plausible
    t.append(
        T(
            "plausible",
            "users",
            80,
            [
                N("id", I64, "key", seq()),
                C("email", S, "PII", "email", email),
                C("password_hash", S, "CREDENTIAL", "bcrypt $2b$ password hash", bcrypt("$2b$", 12), 0.05),
                C("name", S, "PII", "the user's name", name),
                N("last_seen", TS, "timestamp", ts),
                N("inserted_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                N("email_verified", B, "flag", boolean(0.9)),
                N("theme", S, "enum", choice("system", "light", "dark")),
                N("trial_expiry_date", D32, "date", lambda g: ts(g).date(), 0.3),
                C(
                    "totp_secret",
                    S,
                    "CREDENTIAL",
                    "TOTP secret, encrypted (exported base64)",
                    lambda g: b64(g.raw(48)),
                    0.8,
                ),
                N("totp_enabled", B, "flag", boolean(0.2)),
                N("totp_last_used_at", TS, "timestamp", ts, 0.8),
                N("accept_traffic_until", D32, "date", lambda g: ts(g).date(), 0.2),
                N("allow_next_upgrade_override", B, "flag", boolean(0.02)),
            ],
        )
    )
    t.append(
        T(
            "plausible",
            "api_keys",
            60,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "user key", intr(1, 80)),
                N("name", S, "the key's label", choice("Grafana", "stats export", "CI", "dashboard")),
                N("scopes", S, "scopes", choice("{stats:read:*}", "{sites:provision:*}")),
                N("hourly_request_limit", I64, "limit", choice(600, 1000, 10000)),
                N("key_prefix", S, "first six characters of the key", alnum(6)),
                C("key_hash", S, "CREDENTIAL", "SHA-256 of the key (a token digest)", sha256_hex),
                N("inserted_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- PostHog
    t.append(
        T(
            "posthog",
            "posthog_person",
            130,
            [
                N("id", I64, "key", seq()),
                N("created_at", TS, "timestamp", ts),
                C(
                    "properties",
                    S,
                    "PII",
                    "JSON person properties (email and name on identified persons)",
                    person_props,
                ),
                N("is_identified", B, "flag", boolean(0.6)),
                N("uuid", S, "person UUID", uid),
                N("team_id", I64, "project key", intr(1, 6)),
                N("version", I64, "row version", intr(0, 40)),
            ],
        )
    )
    t.append(
        T(
            "posthog",
            "posthog_persondistinctid",
            150,
            [
                N("id", I64, "key", seq()),
                C(
                    "distinct_id",
                    S,
                    "PII",
                    "the id sent to identify(): the email on many rows, else a UUID",
                    distinct_id,
                ),
                N("person_id", I64, "person key", intr(1, 130)),
                N("team_id", I64, "project key", intr(1, 6)),
                N("version", I64, "row version", intr(0, 5)),
            ],
        )
    )
    t.append(
        T(
            "posthog",
            "posthog_user",
            60,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash (pbkdf2_sha256)", django_pbkdf2, 0.1),
                N("last_login", TS, "timestamp", ts, 0.1),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last, 0.3),
                N("is_active", B, "flag", boolean(0.95)),
                N("date_joined", TS, "timestamp", ts),
                N("uuid", S, "UUID", uid),
                C("email", S, "PII", "email", work_email),
                C("temporary_token", S, "CREDENTIAL", "token of a one-off login link", lambda g: g.s(B64URL, 43), 0.8),
                N("distinct_id", S, "PostHog's own analytics id of the user (random)", lambda g: g.s(ALNUM, 43)),
                N("is_email_verified", B, "flag", boolean(0.8)),
                N("current_team_id", I64, "project key", intr(1, 6)),
                N("current_organization_id", S, "organisation UUID", uid),
            ],
        )
    )
    t.append(
        T(
            "posthog",
            "posthog_personalapikey",
            55,
            [
                N("id", S, "key", alnum(24)),
                N("label", S, "the key's label", choice("Zapier", "export", "CI", "dbt")),
                C(
                    "secure_value",
                    S,
                    "CREDENTIAL",
                    "hashed key (sha256$ + hex, a token digest)",
                    lambda g: "sha256$" + sha256_hex(g),
                ),
                N("mask_value", S, "masked key (phx_...last four)", lambda g: "phx_..." + g.s(ALNUM, 4)),
                N("created_at", TS, "timestamp", ts),
                N("last_used_at", TS, "timestamp", ts, 0.3),
                N("user_id", I64, "user key", intr(1, 60)),
                N("scopes", S, "JSON list", choice('["*"]', '["query:read"]', '["feature_flag:read"]')),
            ],
        )
    )
    # ---- Joomla
    t.append(
        T(
            "joomla",
            "jos_users",
            100,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "the user's full name", name),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", email),
                C(
                    "password",
                    S,
                    "CREDENTIAL",
                    "password hash ($2y$ bcrypt; phpass $P$ and MD5:salt on old sites)",
                    lambda g: g.r.choice(
                        [
                            bcrypt("$2y$"),
                            bcrypt("$2y$"),
                            lambda g: "$P$D" + g.s(CRYPT64, 30),
                            lambda g: md5_hex(g) + ":" + g.s(ALNUM, 32),
                        ]
                    )(g),
                ),
                N("block", B, "flag", boolean(0.05)),
                N("sendEmail", B, "flag", boolean(0.1)),
                N("registerDate", TS, "timestamp", ts),
                N("lastvisitDate", TS, "timestamp", ts, 0.2),
                C(
                    "activation",
                    S,
                    "CREDENTIAL",
                    "hashed activation or password-reset token (the reset token's bcrypt lives here)",
                    bcrypt("$2y$"),
                    0.85,
                ),
                N(
                    "params",
                    S,
                    "JSON preferences",
                    choice('{"admin_style":"","language":""}', "{}", '{"editor":"tinymce"}'),
                ),
                N("lastResetTime", TS, "timestamp", ts, 0.8),
                N("resetCount", I64, "count", intr(0, 3)),
                C("otpKey", S, "CREDENTIAL", "encrypted TOTP key", lambda g: "totp:" + b64(g.raw(32)), 0.85),
                C("otep", S, "CREDENTIAL", "encrypted one-time emergency passwords", lambda g: b64(g.raw(64)), 0.9),
                N("requireReset", B, "flag", boolean(0.02)),
                N("authProvider", S, "enum", choice("", "", "ldap", "gmail"), 0.2),
            ],
        )
    )
    # ---- MediaWiki
    t.append(
        T(
            "mediawiki",
            "user",
            120,
            [
                N("user_id", I64, "key", seq()),
                C(
                    "user_name",
                    S,
                    "PII",
                    "the wiki user name (a handle or real name)",
                    lambda g: g.r.choice([handle, name])(g).capitalize(),
                ),
                C("user_real_name", S, "PII", "real name", name, 0.6),
                C("user_password", S, "CREDENTIAL", "password hash (:pbkdf2: type)", mw_pbkdf2),
                C("user_newpassword", S, "CREDENTIAL", "hash of a temporary password", mw_pbkdf2, 0.95),
                N("user_newpass_time", S, "MediaWiki timestamp", mw_ts, 0.95),
                C("user_email", S, "PII", "email", email, 0.3),
                N("user_touched", S, "MediaWiki timestamp (yyyymmddhhmmss)", mw_ts),
                C("user_token", S, "CREDENTIAL", "remember-me token (32 hex)", hexs(32)),
                N("user_email_authenticated", S, "MediaWiki timestamp", mw_ts, 0.5),
                N("user_registration", S, "MediaWiki timestamp", mw_ts),
                N("user_editcount", I64, "count", intr(0, 20000)),
                N("user_password_expires", S, "MediaWiki timestamp", mw_ts, 0.9),
            ],
        )
    )
    return t + tables_b()


def tables_b() -> list[Table]:
    t: list[Table] = []
    # ---- CiviCRM
    t.append(
        T(
            "civicrm",
            "civicrm_contact",
            140,
            [
                N("id", I64, "key", seq()),
                N(
                    "contact_type",
                    S,
                    "enum",
                    choice("Individual", "Individual", "Individual", "Household", "Organization"),
                ),
                N("do_not_email", B, "flag", boolean(0.1)),
                N("is_opt_out", B, "flag", boolean(0.1)),
                N("external_identifier", S, "id in an imported system", lambda g: "EXT" + g.digits(6), 0.7),
                C(
                    "sort_name",
                    S,
                    "PII",
                    "the contact's name, family first",
                    lambda g: f"{g.loc().last_name()}, {g.loc().first_name()}",
                ),
                C("display_name", S, "PII", "the contact's display name (people mostly, some households)", name),
                C("nick_name", S, "PII", "nickname", first, 0.9),
                N("preferred_language", S, "language", choice("en_US", "en_GB", "fr_FR", "de_DE", "es_ES")),
                N("hash", S, "per-contact key mixed into checksum links (grants nothing alone)", hexs(32)),
                C("api_key", S, "CREDENTIAL", "the contact's API key", alnum(24), 0.95),
                N("source", S, "where the contact came from", choice("Web signup", "Import 2023", "Event", ""), 0.5),
                C("first_name", S, "PII", "given name", first, 0.1),
                C("middle_name", S, "PII", "middle name", first, 0.85),
                C("last_name", S, "PII", "family name", last, 0.1),
                N("prefix_id", I64, "salutation key", intr(1, 4), 0.4),
                N("gender_id", I64, "gender key", intr(1, 3), 0.3),
                C("birth_date", D32, "PII", "date of birth", birth, 0.6),
                N("is_deceased", B, "flag", boolean(0.02)),
                C("deceased_date", D32, "PII", "date of death", lambda g: ts(g).date(), 0.97),
                N("job_title", S, "job title", job, 0.6),
                N("employer_id", I64, "organisation key", intr(1, 140), 0.7),
                N("organization_name", S, "company", company, 0.6),
                N("created_date", TS, "timestamp", ts),
                N("modified_date", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "civicrm",
            "civicrm_address",
            120,
            [
                N("id", I64, "key", seq()),
                N("contact_id", I64, "contact key", intr(1, 140)),
                N("location_type_id", I64, "home/work key", choice(1, 1, 2, 3)),
                N("is_primary", B, "flag", boolean(0.8)),
                C("street_address", S, "PII", "the contact's street address", street),
                C(
                    "supplemental_address_1",
                    S,
                    "PII",
                    "second address line (flat, building)",
                    lambda g: g.r.choice(["Apt ", "Flat ", "Suite "]) + str(g.r.randint(1, 400)),
                    0.7,
                ),
                N("city", S, "city", city),
                C("postal_code", S, "PII", "postcode of the contact's address", postcode),
                N("postal_code_suffix", S, "ZIP+4 suffix alone", lambda g: g.digits(4), 0.8),
                N("state_province_id", I64, "state key", intr(1000, 1100), 0.2),
                N("country_id", I64, "country key", country_id),
                C("geo_code_1", F64, "PII", "latitude geocoded from the contact's home address", lat, 0.4),
                C("geo_code_2", F64, "PII", "longitude geocoded from the contact's home address", lon, 0.4),
            ],
        )
    )
    t.append(
        T(
            "civicrm",
            "civicrm_email",
            120,
            [
                N("id", I64, "key", seq()),
                N("contact_id", I64, "contact key", intr(1, 140)),
                N("location_type_id", I64, "home/work key", choice(1, 1, 2)),
                C("email", S, "PII", "the contact's email", email),
                N("is_primary", B, "flag", boolean(0.8)),
                N("on_hold", I64, "enum", choice(0, 0, 0, 1, 2)),
                N("hold_date", TS, "timestamp", ts, 0.9),
            ],
        )
    )
    t.append(
        T(
            "civicrm",
            "civicrm_phone",
            110,
            [
                N("id", I64, "key", seq()),
                N("contact_id", I64, "contact key", intr(1, 140)),
                N("location_type_id", I64, "home/work key", choice(1, 1, 2)),
                N("is_primary", B, "flag", boolean(0.8)),
                C("phone", S, "PII", "the contact's phone", phone),
                N("phone_ext", S, "extension", lambda g: g.digits(3), 0.9),
                C(
                    "phone_numeric",
                    S,
                    "PII",
                    "the phone, digits only",
                    lambda g: "".join(c for c in phone(g) if c.isdigit()),
                ),
                N("phone_type_id", I64, "phone/mobile/fax key", choice(1, 2, 2, 3)),
            ],
        )
    )
    # ---- Apache Fineract
    t.append(
        T(
            "fineract",
            "m_client",
            120,
            [
                N("id", I64, "key", seq()),
                N("account_no", S, "client account number (zero-padded key)", lambda g: f"{g.r.randint(1, 99999):09d}"),
                N("external_id", S, "id in an external system", uid, 0.6),
                N("status_enum", I64, "enum", choice(300, 300, 300, 100, 600)),
                N("activation_date", D32, "date", lambda g: ts(g).date(), 0.1),
                N("office_id", I64, "branch key", intr(1, 12)),
                N("staff_id", I64, "loan officer key", intr(1, 30), 0.3),
                C("firstname", S, "PII", "given name", first, 0.05),
                C("middlename", S, "PII", "middle name", first, 0.8),
                C("lastname", S, "PII", "family name", last, 0.05),
                N("fullname", S, "an entity client's name (companies, groups)", company, 0.9),
                C("display_name", S, "PII", "the client's display name", name),
                C("mobile_no", S, "PII", "mobile phone", phone, 0.3),
                C("email_address", S, "PII", "email", email, 0.6),
                C("date_of_birth", D32, "PII", "date of birth", birth, 0.2),
                N("gender_cv_id", I64, "gender code value", choice(21, 22), 0.2),
                N("client_type_cv_id", I64, "code value", intr(17, 20), 0.5),
                N("legal_form_id", I64, "enum: person or entity", choice(1, 1, 1, 2)),
                N("is_staff", B, "flag", boolean(0.05)),
                N("submittedon_date", D32, "date", lambda g: ts(g).date()),
            ],
        )
    )
    t.append(
        T(
            "fineract",
            "m_client_identifier",
            110,
            [
                N("id", I64, "key", seq()),
                N("client_id", I64, "client key", intr(1, 120)),
                N("document_type_id", I64, "code value: passport, national id, driving licence", intr(1, 4)),
                C(
                    "document_key",
                    S,
                    "SENSITIVE",
                    "the number of the identity document (national id, passport, licence)",
                    fineract_doc,
                ),
                N("status", I64, "enum", choice(200, 200, 100)),
                N("description", S, "free text", choice("", "verified at branch", "copy on file"), 0.5),
                N("created_date", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "fineract",
            "m_address",
            100,
            [
                N("id", I64, "key", seq()),
                C("street", S, "PII", "the client's street address", street),
                C("address_line_1", S, "PII", "address line", lambda g: "House " + str(g.r.randint(1, 300)), 0.5),
                N("town_village", S, "town or village", city, 0.5),
                N("city", S, "city", city),
                N("county_district", S, "district", state, 0.5),
                N("state_province_id", I64, "state key", intr(1, 40), 0.3),
                N("country_id", I64, "country key", intr(1, 20), 0.2),
                C("postal_code", S, "PII", "postcode of the client's address", postcode, 0.3),
                C("latitude", F64, "PII", "latitude of the client's home (recorded by loan officers)", lat, 0.6),
                C("longitude", F64, "PII", "longitude of the client's home", lon, 0.6),
                N("is_active", B, "flag", boolean(0.9)),
            ],
        )
    )
    # ---- iDempiere
    t.append(
        T(
            "idempiere",
            "AD_User",
            90,
            [
                N("AD_User_ID", I64, "key", lambda g: g.r.randint(1000000, 1100000)),
                N("AD_Client_ID", I64, "tenant key", choice(11, 1000000)),
                N("IsActive", S, "Y/N flag", yn(0.9)),
                N("Created", TS, "timestamp", ts),
                C("Name", S, "PII", "the user's or contact's name", name),
                C("Value", S, "PII", "search key: the login name", username, 0.2),
                N("Description", S, "free text", sentence, 0.8),
                C("Password", S, "CREDENTIAL", "password hash (SHA-512 hex, salted)", lambda g: g.raw(64).hex(), 0.3),
                N("Salt", S, "password salt (hex)", hexs(32), 0.3),
                C("EMail", S, "PII", "email", email, 0.2),
                C("EMailUser", S, "PII", "login of the user's mail account", lambda g: email(g), 0.8),
                C(
                    "EMailUserPW",
                    S,
                    "CREDENTIAL",
                    "password of the user's mail account",
                    lambda g: g.fk["en_US"].password(length=12),
                    0.85,
                ),
                C("Phone", S, "PII", "the person's phone", phone, 0.4),
                C("Phone2", S, "PII", "second phone", phone, 0.8),
                N("Title", S, "job title", job, 0.5),
                C(
                    "Birthday",
                    TS,
                    "PII",
                    "date of birth (a timestamp column)",
                    lambda g: dt.datetime.combine(birth(g), dt.time(), tzinfo=dt.UTC),
                    0.7,
                ),
                N("C_BPartner_ID", I64, "business partner key", lambda g: g.r.randint(1000000, 1100000), 0.3),
                N("IsLocked", S, "Y/N flag", yn(0.02)),
                N("DateLastLogin", TS, "timestamp", ts, 0.3),
                C("LDAPUser", S, "PII", "the directory login", username, 0.8),
            ],
        )
    )
    t.append(
        T(
            "idempiere",
            "C_BP_BankAccount",
            80,
            [
                N("C_BP_BankAccount_ID", I64, "key", lambda g: g.r.randint(1000000, 1100000)),
                N("C_BPartner_ID", I64, "business partner key", lambda g: g.r.randint(1000000, 1100000)),
                N("IsActive", S, "Y/N flag", yn(0.95)),
                N("BankAccountType", S, "enum", choice("C", "S")),
                C("AccountNo", S, "SENSITIVE", "bank account number", lambda g: g.digits(g.r.randint(8, 12)), 0.3),
                C("IBAN", S, "SENSITIVE", "IBAN", iban, 0.4),
                N("RoutingNo", S, "bank routing number", lambda g: g.digits(9), 0.5),
                C("A_Name", S, "PII", "account holder's name (mostly people)", name),
                C("A_Street", S, "PII", "account holder's street address", street, 0.4),
                N("A_City", S, "city", city, 0.4),
                C("A_Zip", S, "PII", "account holder's postcode", postcode, 0.4),
                N("A_State", S, "state", state, 0.6),
                N("A_Country", S, "country", country_code, 0.4),
                C("A_EMail", S, "PII", "account holder's email", email, 0.6),
                C(
                    "A_Ident_DL",
                    S,
                    "SENSITIVE",
                    "account holder's driving licence number",
                    lambda g: g.s(UPPER, 1) + g.digits(7),
                    0.8,
                ),
                C("A_Ident_SSN", S, "SENSITIVE", "account holder's social security number", ssn, 0.8),
                N("CreditCardType", S, "card brand code", choice("V", "M", "A"), 0.5),
                C("CreditCardNumber", S, "SENSITIVE", "payment card number", card, 0.6),
                C(
                    "CreditCardVV",
                    S,
                    "SENSITIVE",
                    "card verification value (PCI sensitive authentication data)",
                    cvv,
                    0.7,
                ),
                N("CreditCardExpMM", I64, "expiry month", intr(1, 12), 0.6),
                N("CreditCardExpYY", I64, "expiry year", intr(2026, 2031), 0.6),
            ],
        )
    )
    # ---- Open Hospital (upper-case columns, MySQL)
    t.append(
        T(
            "openhospital",
            "PATIENT",
            130,
            [
                N("PAT_ID", I64, "key", seq()),
                C("PAT_FNAME", S, "PII", "given name", oh_name("first_name")),
                C("PAT_SNAME", S, "PII", "family name", oh_name("last_name")),
                C("PAT_NAME", S, "PII", "full name", oh_name("name")),
                C("PAT_BDATE", D32, "PII", "date of birth", birth, 0.3),
                N("PAT_AGE", I64, "age in years", intr(0, 90)),
                N("PAT_AGETYPE", S, "age band code", choice("d0", "d1", "d2", "d3", ""), 0.5),
                N("PAT_SEX", S, "gender", choice("M", "F")),
                C("PAT_ADDR", S, "PII", "the patient's address", lambda g: g.loc(OH).street_address(), 0.3),
                N("PAT_CITY", S, "city", city),
                C("PAT_NEXT_KIN", S, "PII", "next of kin's name", oh_name("name"), 0.5),
                C("PAT_TELE", S, "PII", "the patient's phone", phone, 0.4),
                C("PAT_MOTH_NAME", S, "PII", "mother's name", oh_name("name"), 0.6),
                N("PAT_MOTH", S, "mother alive/dead code", choice("A", "D", "U"), 0.3),
                C("PAT_FATH_NAME", S, "PII", "father's name", oh_name("name"), 0.7),
                N("PAT_FATH", S, "father alive/dead code", choice("A", "D", "U"), 0.3),
                N("PAT_LEDUC", S, "education level code", choice("U", "P", "S", "T"), 0.4),
                N("PAT_ESTA", S, "parents together code", choice("Y", "N", "U"), 0.4),
                N("PAT_BTYPE", S, "blood type", choice("A+", "O+", "B+", "AB+", "O-", "Unknown"), 0.3),
                C(
                    "PAT_TAXCODE",
                    S,
                    "SENSITIVE",
                    "the patient's tax code (codice fiscale or national id)",
                    taxcode,
                    0.5,
                ),
                N(
                    "PAT_MAR_STAT",
                    S,
                    "marital status",
                    choice("single", "married", "divorced", "widow", "unknown"),
                    0.3,
                ),
                N("PAT_PROFESSION", S, "profession", choice("farmer", "teacher", "student", "trader", "unknown"), 0.3),
                N("PAT_NOTE", S, "free text", sentence, 0.8),
                N("PAT_DELETED", S, "Y/N flag", yn(0.02)),
                C("PAT_CREATED_BY", S, "PII", "login name of the staff user who registered the patient", username),
                N("PAT_CREATED_DATE", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "openhospital",
            "ADMISSION",
            110,
            [
                N("ADM_ID", I64, "key", seq()),
                N("ADM_IN", TS, "timestamp", ts),
                N("ADM_OUT", TS, "timestamp", ts, 0.3),
                N("ADM_PAT_ID", I64, "patient key", intr(1, 130)),
                N("ADM_WRD_ID_A", S, "ward code", choice("M", "F", "P", "S", "MAT")),
                N("ADM_YPROG", I64, "yearly progressive number", intr(1, 4000)),
                N(
                    "ADM_IN_DIS_ID_A",
                    S,
                    "diagnosis code (clinical, no identifier)",
                    choice("B54", "A09", "J18.9", "O80"),
                ),
                N("ADM_OUT_DIS_ID_A", S, "diagnosis code", choice("B54", "A09", "J18.9", "O80"), 0.3),
                N("ADM_NOTE", S, "clinical note without an identifier", sentence, 0.7),
                N("ADM_WEIGHT", F64, "weight in kg", lambda g: round(g.r.uniform(3, 110), 1), 0.4),
                N("ADM_DELETED", S, "Y/N flag", yn(0.01)),
            ],
        )
    )
    # ---- Shopware 6
    t.append(
        T(
            "shopware",
            "customer",
            110,
            [
                N("id", S, "binary UUID as 32 hex", hexs(32)),
                N("customer_number", S, "customer number", lambda g: str(g.r.randint(10000, 99999))),
                N("salutation_id", S, "salutation id (32 hex)", hexs(32), 0.1),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                N("company", S, "company", company, 0.8),
                C("password", S, "CREDENTIAL", "bcrypt $2y$ password hash", bcrypt("$2y$"), 0.15),
                C("legacy_password", S, "CREDENTIAL", "MD5 password hash migrated from Shopware 5", md5_hex, 0.85),
                N("legacy_encoder", S, "enum", choice("Md5", "Bcrypt"), 0.85),
                C("email", S, "PII", "email", email),
                N("title", S, "academic title", choice("Dr.", "Prof.", ""), 0.8),
                N(
                    "vat_ids",
                    S,
                    "JSON list of VAT numbers (businesses)",
                    lambda g: json.dumps(["DE" + g.digits(9)]),
                    0.9,
                ),
                N("active", B, "flag", boolean(0.95)),
                N("guest", B, "flag", boolean(0.3)),
                N("first_login", TS, "timestamp", ts, 0.1),
                N("last_login", TS, "timestamp", ts, 0.2),
                C("birthday", D32, "PII", "date of birth", birth, 0.7),
                N("order_count", I64, "count", intr(0, 40)),
                N("order_total_amount", F64, "amount", lambda g: float(amount(g))),
                C("remote_address", S, "PII", "the customer's IP address at registration", ipv4, 0.1),
                N("account_type", S, "enum", choice("private", "private", "business")),
                N("hash", S, "double opt-in confirmation hash (spent once confirmed)", hexs(32), 0.8),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "shopware",
            "customer_address",
            130,
            [
                N("id", S, "binary UUID as 32 hex", hexs(32)),
                N("customer_id", S, "customer id (32 hex)", hexs(32)),
                N("country_id", S, "country id (32 hex)", hexs(32)),
                N("company", S, "company", company, 0.8),
                N("department", S, "department", choice("Einkauf", "Buchhaltung", "IT"), 0.9),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("street", S, "PII", "street address", street),
                C("zipcode", S, "PII", "postcode", postcode, 0.05),
                N("city", S, "city", city),
                C("phone_number", S, "PII", "phone", phone, 0.5),
                C("additional_address_line1", S, "PII", "address line 2", lambda g: "c/o " + name(g), 0.85),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Bagisto
    t.append(
        T(
            "bagisto",
            "customers",
            100,
            [
                N("id", I64, "key", seq()),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                N("gender", S, "gender", choice("Male", "Female", "Other"), 0.4),
                C("date_of_birth", D32, "PII", "date of birth", birth, 0.6),
                C("email", S, "PII", "email", email),
                C("phone", S, "PII", "phone", phone, 0.4),
                N("image", S, "stored image path", lambda g: f"customer/{g.r.randint(1, 100)}/{uid(g)}.webp", 0.8),
                N("status", B, "flag", boolean(0.95)),
                C("password", S, "CREDENTIAL", "bcrypt $2y$ password hash", bcrypt("$2y$")),
                C("api_token", S, "CREDENTIAL", "API token (80 chars)", alnum(80), 0.5),
                N("customer_group_id", I64, "group key", choice(1, 2, 3)),
                N("subscribed_to_news_letter", B, "flag", boolean(0.3)),
                C("remember_token", S, "CREDENTIAL", "remember-me token (60 chars)", alnum(60), 0.5),
                N("is_verified", B, "flag", boolean(0.8)),
                N("is_suspended", B, "flag", boolean(0.02)),
                N("token", S, "email verification code (md5, spent once verified)", md5_hex, 0.7),
                N("channel_id", I64, "channel key", choice(1, 1, 2)),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "bagisto",
            "addresses",
            120,
            [
                N("id", I64, "key", seq()),
                N("address_type", S, "enum", choice("customer", "cart_billing", "order_shipping", "order_billing")),
                N("customer_id", I64, "customer key", intr(1, 100), 0.1),
                N("cart_id", I64, "cart key", intr(1, 900), 0.6),
                N("order_id", I64, "order key", intr(1, 900), 0.5),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                N("company_name", S, "company", company, 0.8),
                C("address", S, "PII", "street address (JSON-encoded lines)", lambda g: json.dumps([street(g)])),
                N("city", S, "city", city),
                N("state", S, "state code", state),
                N("country", S, "country", country_code),
                C("postcode", S, "PII", "postcode", postcode),
                C("email", S, "PII", "email", email),
                C("phone", S, "PII", "phone", phone),
                N("vat_id", S, "VAT number", lambda g: "GB" + g.digits(9), 0.9),
                N("default_address", B, "flag", boolean(0.3)),
            ],
        )
    )
    # ---- Cal.com (Prisma: camelCase columns)
    t.append(
        T(
            "calcom",
            "users",
            80,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "the booking-page handle", username),
                C("name", S, "PII", "the user's name", name),
                C("email", S, "PII", "email", email),
                N("emailVerified", TS, "timestamp", ts, 0.2),
                N("bio", S, "free text", sentence, 0.6),
                N("avatarUrl", S, "image URL", lambda g: f"https://cal.com/api/avatar/{uid(g)}.png", 0.6),
                N("timeZone", S, "time zone", tz),
                N("createdDate", TS, "timestamp", ts),
                N("completedOnboarding", B, "flag", boolean(0.8)),
                N("locale", S, "language", choice("en", "de", "fr", "es", "pt-BR"), 0.2),
                C("twoFactorSecret", S, "CREDENTIAL", "TOTP secret (encrypted)", lambda g: b64(g.raw(48)), 0.8),
                N("twoFactorEnabled", B, "flag", boolean(0.2)),
                N("identityProvider", S, "enum", choice("CAL", "CAL", "GOOGLE", "SAML")),
                N(
                    "identityProviderId",
                    S,
                    "the identity provider's subject id (an external id)",
                    lambda g: g.digits(21),
                    0.6,
                ),
                N("role", S, "enum", choice("USER", "USER", "ADMIN")),
            ],
        )
    )
    t.append(
        T(
            "calcom",
            "Booking",
            140,
            [
                N("id", I64, "key", seq()),
                N("uid", S, "booking uid (22 chars, in URLs)", alnum(22)),
                N("userId", I64, "organiser key", intr(1, 80)),
                N("eventTypeId", I64, "event type key", intr(1, 200), 0.05),
                C(
                    "title",
                    S,
                    "PII",
                    "default title names organiser and attendee ('30 Min Meeting between A and B')",
                    lambda g: f"{g.r.choice(['30 Min Meeting', 'Intro call', 'Demo'])} between {name(g)} and {name(g)}",
                ),
                N("description", S, "free text", sentence, 0.6),
                N("startTime", TS, "timestamp", ts),
                N("endTime", TS, "timestamp", ts),
                N(
                    "location",
                    S,
                    "meeting location (app or URL)",
                    choice(
                        "integrations:daily",
                        "integrations:zoom",
                        "integrations:google:meet",
                        "https://meet.example.com",
                    ),
                ),
                N("status", S, "enum", choice("ACCEPTED", "ACCEPTED", "CANCELLED", "PENDING", "REJECTED")),
                N("paid", B, "flag", boolean(0.1)),
                C("responses", S, "PII", "JSON of the booking form (name, email, notes)", booking_responses),
                N("cancellationReason", S, "free text", choice("Schedule conflict", "No longer needed", ""), 0.85),
                N("fromReschedule", S, "uid of the rescheduled booking", alnum(22), 0.9),
                N("iCalUID", S, "calendar uid", lambda g: uid(g) + "@Cal.com"),
                N("createdAt", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "calcom",
            "Attendee",
            150,
            [
                N("id", I64, "key", seq()),
                C("email", S, "PII", "the attendee's email", email),
                C("name", S, "PII", "the attendee's name", name),
                N("timeZone", S, "time zone", tz),
                N("locale", S, "language", choice("en", "de", "fr", "es"), 0.2),
                N("bookingId", I64, "booking key", intr(1, 140)),
                N("noShow", B, "flag", boolean(0.05)),
                C("phoneNumber", S, "PII", "the attendee's phone", phone, 0.8),
            ],
        )
    )
    # ---- Zulip
    t.append(
        T(
            "zulip",
            "zerver_userprofile",
            100,
            [
                N("id", I64, "key", seq()),
                C("password", S, "CREDENTIAL", "Django password hash (argon2)", django_argon2, 0.1),
                N("last_login", TS, "timestamp", ts, 0.1),
                N("is_superuser", B, "flag", boolean(0.02)),
                C(
                    "email",
                    S,
                    "PII",
                    "visible email (a user-id address where emails are hidden)",
                    lambda g: email(g) if g.r.random() < 0.7 else f"user{g.r.randint(8, 900)}@chat.example.org",
                ),
                C("delivery_email", S, "PII", "the real email", email),
                C("full_name", S, "PII", "full name", name),
                N("is_active", B, "flag", boolean(0.9)),
                N("is_bot", B, "flag", boolean(0.05)),
                N("date_joined", TS, "timestamp", ts),
                N("realm_id", I64, "organisation key", choice(1, 2)),
                C("api_key", S, "CREDENTIAL", "API key (32 alphanumerics)", alnum(32)),
                N("role", I64, "enum", choice(400, 400, 400, 300, 200, 100, 600)),
                N("timezone", S, "time zone", tz, 0.3),
                N("default_language", S, "language", lang),
                N("avatar_source", S, "enum", choice("G", "U")),
                N("avatar_hash", S, "SHA-1 of the uploaded image", sha1_hex, 0.5),
                N("tos_version", S, "version", choice("-1", "1.0", "2.0")),
                N("uuid", S, "UUID", uid),
            ],
        )
    )
    # ---- Lemmy
    t.append(
        T(
            "lemmy",
            "person",
            120,
            [
                N("id", I64, "key", seq()),
                C("name", S, "PII", "the user's handle", handle),
                C("display_name", S, "PII", "display name", display_name, 0.6),
                N("avatar", S, "image URL", lambda g: f"https://lemmy.example/pictrs/image/{uid(g)}.png", 0.7),
                N("banned", B, "flag", boolean(0.02)),
                N("published", TS, "timestamp", ts),
                C(
                    "actor_id",
                    S,
                    "PII",
                    "the user's ActivityPub URL (holds the handle)",
                    lambda g: "https://lemmy.world/u/" + handle(g),
                ),
                N("bio", S, "free text", sentence, 0.7),
                N("local", B, "flag", boolean(0.4)),
                C("private_key", S, "CREDENTIAL", "the actor's RSA private key (local users)", private_key, 0.6),
                N(
                    "public_key",
                    S,
                    "the actor's RSA public key",
                    lambda g: "-----BEGIN PUBLIC KEY-----\n" + b64(g.raw(294)) + "\n-----END PUBLIC KEY-----\n",
                ),
                N("inbox_url", S, "URL", lambda g: "https://lemmy.world/u/inbox/" + g.digits(5)),
                C("matrix_user_id", S, "PII", "the user's Matrix id", lambda g: f"@{handle(g)}:matrix.org", 0.9),
                N("bot_account", B, "flag", boolean(0.03)),
                N("instance_id", I64, "instance key", intr(1, 300)),
            ],
        )
    )
    t.append(
        T(
            "lemmy",
            "local_user",
            70,
            [
                N("id", I64, "key", seq()),
                N("person_id", I64, "person key", intr(1, 120)),
                C("password_encrypted", S, "CREDENTIAL", "bcrypt $2b$ password hash", bcrypt("$2b$", 12)),
                C("email", S, "PII", "email", email, 0.2),
                N("show_nsfw", B, "flag", boolean(0.1)),
                N("theme", S, "enum", choice("browser", "darkly", "litely")),
                N("default_sort_type", S, "enum", choice("Active", "Hot", "New")),
                N("interface_language", S, "language", choice("browser", "en", "de", "fr")),
                N("email_verified", B, "flag", boolean(0.7)),
                N("accepted_application", B, "flag", boolean(0.9)),
                C("totp_2fa_secret", S, "CREDENTIAL", "TOTP secret (base32)", lambda g: g.s(UPPER + "234567", 32), 0.8),
                N("admin", B, "flag", boolean(0.03)),
            ],
        )
    )
    # ---- LimeSurvey
    t.append(
        T(
            "limesurvey",
            "lime_users",
            55,
            [
                N("uid", I64, "key", seq()),
                C("users_name", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt $2y$ password hash", bcrypt("$2y$")),
                C("full_name", S, "PII", "full name", name),
                N("parent_id", I64, "creator key", choice(1, 1, 2)),
                N("lang", S, "language", choice("auto", "en", "de", "fr", "es")),
                C("email", S, "PII", "email", work_email),
                N("htmleditormode", S, "enum", choice("default", "inline", "none")),
                N("created", TS, "timestamp", ts),
                N("last_login", TS, "timestamp", ts, 0.3),
                C("validation_key", S, "CREDENTIAL", "key of the emailed set-password link", alnum(38), 0.9),
            ],
        )
    )
    t.append(
        T(
            "limesurvey",
            "lime_tokens_482913",
            150,
            [
                N("tid", I64, "key", seq()),
                N("participant_id", S, "central participant id", alnum(16), 0.5),
                C("firstname", S, "PII", "given name", first, 0.1),
                C("lastname", S, "PII", "family name", last, 0.1),
                C("email", S, "PII", "email", email),
                N("emailstatus", S, "enum", choice("OK", "OK", "OK", "bounced", "OptOut")),
                C("token", S, "CREDENTIAL", "the participant's access code (opens the survey as them)", alnum(15)),
                N("language", S, "language", choice("en", "de", "fr")),
                N("blacklisted", S, "Y/N flag", choice("N", "N", "Y"), 0.8),
                N("sent", S, "'N' or the date sent", lambda g: g.r.choice(["N", ts_str(g)])),
                N("remindersent", S, "'N' or the date sent", lambda g: g.r.choice(["N", ts_str(g)])),
                N("remindercount", I64, "count", intr(0, 3)),
                N("completed", S, "'N' or the completion date", lambda g: g.r.choice(["N", ts_str(g)])),
                N("usesleft", I64, "count", choice(0, 1)),
                N("validfrom", S, "datetime", ts_str, 0.8),
                N("validuntil", S, "datetime", ts_str, 0.8),
                N("attribute_1", S, "custom attribute: department", choice("Sales", "IT", "HR", "Finance"), 0.3),
                N("attribute_2", S, "custom attribute: office city", city, 0.3),
            ],
        )
    )
    # ---- IceHrm (MySQL, PascalCase table names)
    t.append(
        T(
            "icehrm",
            "Employees",
            110,
            [
                N("id", I64, "key", seq()),
                N("employee_id", S, "staff number (a key)", lambda g: "EMP" + g.digits(4)),
                C("first_name", S, "PII", "given name", first),
                C("middle_name", S, "PII", "middle name", first, 0.8),
                C("last_name", S, "PII", "family name", last),
                N("nationality", I64, "nationality key", intr(1, 190), 0.2),
                C("birthday", D32, "PII", "date of birth", birth, 0.1),
                N("gender", S, "gender", choice("Male", "Female"), 0.1),
                N(
                    "marital_status",
                    S,
                    "marital status",
                    choice("Married", "Single", "Divorced", "Widowed", "Other"),
                    0.3,
                ),
                C(
                    "ssn_num",
                    S,
                    "SENSITIVE",
                    "social security number (SSN, NINO, NIR by country)",
                    lambda g: g.r.choice([ssn, ssn, nino, nir])(g),
                    0.3,
                ),
                C("nic_num", S, "SENSITIVE", "national identity card number", national_id, 0.4),
                C("other_id", S, "SENSITIVE", "another identity document's number (mostly passports)", passport, 0.7),
                C(
                    "driving_license",
                    S,
                    "SENSITIVE",
                    "driving licence number",
                    lambda g: (
                        g.s(UPPER, 1) + g.digits(7)
                        if g.r.random() < 0.6
                        else g.s(UPPER, 5) + g.digits(6) + g.s(UPPER, 2) + g.digits(3)
                    ),
                    0.6,
                ),
                N("driving_license_exp_date", D32, "expiry date", lambda g: ts(g).date(), 0.6),
                N("employment_status", I64, "status key", intr(1, 5)),
                N("job_title", I64, "job title key", intr(1, 30)),
                N("pay_grade", I64, "pay grade key", intr(1, 8), 0.2),
                N("work_station_id", S, "desk or station code", lambda g: f"WS-{g.r.randint(1, 400):03d}", 0.5),
                C("address1", S, "PII", "home street address", street, 0.2),
                C("address2", S, "PII", "second address line", lambda g: "Apt " + str(g.r.randint(1, 300)), 0.8),
                N("city", S, "city", city, 0.2),
                N("country", S, "country", country_code, 0.1),
                N("province", I64, "province key", intr(1, 60), 0.5),
                C("postal_code", S, "PII", "home postcode", postcode, 0.2),
                C("home_phone", S, "PII", "home phone", phone, 0.6),
                C("mobile_phone", S, "PII", "mobile phone", phone, 0.2),
                C("work_phone", S, "PII", "direct work line", phone, 0.5),
                C("work_email", S, "PII", "work email of the person", work_email, 0.1),
                C("private_email", S, "PII", "private email", email, 0.4),
                N("joined_date", D32, "hire date", lambda g: ts(g).date()),
                N("confirmation_date", D32, "end of probation", lambda g: ts(g).date(), 0.4),
                N("supervisor", I64, "manager key", intr(1, 110), 0.2),
                N("department", I64, "department key", intr(1, 12)),
                N("custom1", S, "custom field: T-shirt size", choice("S", "M", "L", "XL"), 0.6),
                N("termination_date", D32, "date", lambda g: ts(g).date(), 0.9),
                N("notes", S, "free text", sentence, 0.8),
                N("status", S, "enum", choice("Active", "Active", "Active", "Terminated")),
                N("ethnicity", I64, "ethnicity key", intr(1, 12), 0.6),
                N("immigration_status", I64, "immigration status key", intr(1, 5), 0.7),
            ],
        )
    )
    t.append(
        T(
            "icehrm",
            "Users",
            80,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", work_email),
                C(
                    "password",
                    S,
                    "CREDENTIAL",
                    "password hash (bcrypt; MD5 hex on old installs)",
                    lambda g: bcrypt("$2y$")(g) if g.r.random() < 0.6 else md5_hex(g),
                ),
                N("employee", I64, "employee key", intr(1, 110), 0.1),
                N("default_module", I64, "module key", intr(1, 20), 0.6),
                N("user_level", S, "enum", choice("Employee", "Employee", "Manager", "Admin")),
                N("user_roles", S, "JSON list of role keys", choice("[]", '["1"]', '["2","3"]'), 0.3),
                N("last_login", S, "datetime", ts_str, 0.2),
                N("created", S, "datetime", ts_str),
                C("login_hash", S, "CREDENTIAL", "remember-login hash (64 hex)", hexs(64), 0.5),
                N("lang", I64, "language key", intr(1, 8), 0.4),
            ],
        )
    )
    t.append(
        T(
            "icehrm",
            "EmployeeDependents",
            70,
            [
                N("id", I64, "key", seq()),
                N("employee", I64, "employee key", intr(1, 110)),
                C("name", S, "PII", "the dependant's name", name),
                N("relationship", S, "enum", choice("Child", "Child", "Spouse", "Parent", "Other")),
                C("dob", D32, "PII", "the dependant's date of birth", birth, 0.2),
                C("id_number", S, "SENSITIVE", "the dependant's national id number", national_id, 0.5),
            ],
        )
    )
    t.append(
        T(
            "icehrm",
            "EmergencyContacts",
            90,
            [
                N("id", I64, "key", seq()),
                N("employee", I64, "employee key", intr(1, 110)),
                C("name", S, "PII", "the contact's name", name),
                N("relationship", S, "relationship", choice("Spouse", "Mother", "Father", "Sister", "Friend")),
                C("home_phone", S, "PII", "home phone", phone, 0.5),
                C("work_phone", S, "PII", "work phone", phone, 0.8),
                C("mobile_phone", S, "PII", "mobile phone", phone, 0.1),
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
            lambda g: g.fk["en_US"].password(length=16),
            jwt,
            lambda g: g.s(ALNUM, 40),
            lambda g: str(g.r.choice([25, 465, 587, 5432])),
            lambda g: g.r.choice(["true", "false"]),
            lambda g: f"smtp.{g.fk['en_US'].domain_name()}",
        ]
    )(g)


SETTING_KEYS = [
    "stripe.secret_key",
    "mail.smtp_password",
    "mail.smtp_port",
    "github.token",
    "auth.jwt_secret",
    "feature.new_checkout",
    "mail.smtp_host",
    "slack.bot_token",
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
            "export_a",
            140,
            [
                N("col_1", S, "order codes", ticket_code),
                C("col_2", S, "PII", "attendee full names", name),
                C("col_3", S, "PII", "attendee emails", email),
                N("col_4", S, "ticket types", choice("Early Bird", "Regular", "Student", "VIP", "Workshop")),
                N("col_5", DEC, "prices", amount),
                N("col_6", S, "purchase timestamps", ts_str),
                N("col_7", S, "company names", company, 0.4),
                N("col_8", S, "job titles", job, 0.4),
                C("col_9", S, "PII", "phone numbers", phone, 0.5),
                N("col_10", S, "cities", city, 0.2),
                N("col_11", S, "country codes", country_code, 0.1),
                N("col_12", B, "checked-in flags", boolean(0.6)),
                C("col_13", S, "PII", "buyers' IP addresses", ip_any, 0.1),
                N("col_14", S, "UUIDs", uid),
                N("col_15", S, "dietary choices", choice("", "vegetarian", "vegan", "none", "gluten-free"), 0.5),
                C("col_16", S, "PII", "postcodes of the buyers' addresses", postcode, 0.5),
                C("col_17", S, "PII", "street addresses of the buyers", street, 0.5),
                N("col_18", S, "discount codes", choice("EARLY20", "SPEAKER", "TEAM5", ""), 0.7),
                C("col_19", S, "PII", "birth dates as typed", dob_text, 0.6),
                N("col_20", I64, "badge numbers", intr(1000, 9999)),
            ],
        ),
        T(
            o,
            "export_b",
            120,
            [
                N("field_a", I64, "user ids", seq()),
                C("field_b", S, "PII", "login names", username),
                C(
                    "field_c",
                    S,
                    "CREDENTIAL",
                    "password hashes (bcrypt, pbkdf2, argon2, werkzeug)",
                    password_hash_common,
                ),
                C("field_d", S, "PII", "emails", email),
                N("field_e", TS, "creation timestamps", ts),
                N("field_f", I64, "last login, epoch seconds", epoch, 0.2),
                N("field_g", B, "active flags", boolean(0.9)),
                C(
                    "field_h",
                    S,
                    "CREDENTIAL",
                    "API keys (Stripe, GitHub, AWS, Slack, OpenAI, Google, SendGrid)",
                    common_api_key,
                    0.7,
                ),
                N("field_i", S, "roles", choice("user", "user", "admin", "editor", "viewer")),
                N("field_j", S, "locales", lang),
                N("field_k", S, "time zones", tz, 0.3),
                C("field_l", S, "CREDENTIAL", "TOTP secrets (base32)", lambda g: g.s(UPPER + "234567", 32), 0.7),
                C("field_m", S, "CREDENTIAL", "remember-me tokens", alnum(60), 0.5),
                C("field_n", S, "PII", "first names", first, 0.1),
                C("field_o", S, "PII", "last names", last, 0.1),
                N("field_p", S, "avatar digests (MD5)", md5_hex, 0.5),
                N("field_q", S, "password salts", alnum(22), 0.3),
                N("field_r", S, "user agents", user_agent, 0.2),
            ],
        ),
        T(
            o,
            "export_c",
            110,
            [
                N("attr1", S, "customer numbers", lambda g: "C" + g.digits(7)),
                C("attr2", S, "PII", "full names", name),
                C("attr3", S, "SENSITIVE", "national ids of the customers' countries", national_id, 0.2),
                C("attr4", S, "SENSITIVE", "IBANs", iban, 0.3),
                N("attr5", S, "BICs", choice("DEUTDEFF", "BNPAFRPP", "CAIXESBB", "BARCGB22", "UNCRITMM", "NDEASESS")),
                N("attr6", DEC, "balances", amount),
                C("attr7", D32, "PII", "birth dates", birth, 0.1),
                C("attr8", S, "SENSITIVE", "passport numbers", passport, 0.6),
                C("attr9", S, "SENSITIVE", "payment card numbers", card, 0.5),
                N("attr10", S, "masked card numbers", masked_card, 0.5),
                N("attr11", S, "card expiry MM/YY", lambda g: f"{g.r.randint(1, 12):02d}/{g.r.randint(26, 31)}", 0.5),
                C("attr12", S, "SENSITIVE", "US social security numbers", ssn, 0.6),
                C("attr13", S, "PII", "mobile numbers", phone, 0.2),
                N("attr14", S, "nationalities (country names)", lambda g: g.loc().country()),
                N("attr15", S, "occupations", job, 0.3),
                N("attr16", F64, "risk scores", lambda g: round(g.r.random(), 3)),
            ],
        ),
        T(
            o,
            "export_d",
            100,
            [
                N("key", S, "setting names", lambda g: g.r.choice(SETTING_KEYS)),
                C(
                    "value",
                    S,
                    "CREDENTIAL",
                    "setting values: API keys, passwords, JWT secrets beside ports and hosts",
                    setting_value,
                ),
                N(
                    "data",
                    S,
                    "JSON settings",
                    lambda g: json.dumps({"retries": g.r.randint(1, 5), "enabled": g.r.random() < 0.5}),
                ),
                C("x1", S, "CREDENTIAL", "JWTs", jwt, 0.3),
                N("x2", S, "git commit SHAs", sha1_hex),
                N("x3", S, "SHA-256 digests of files", sha256_hex),
                N("x4", S, "UUIDs", uid),
                N(
                    "x5",
                    S,
                    "hostnames",
                    lambda g: f"{g.r.choice(['web', 'db', 'cache'])}-{g.r.randint(1, 20)}.internal",
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
                N(
                    "x12",
                    S,
                    "base64 pagination cursors",
                    lambda g: b64(json.dumps({"offset": g.r.randint(0, 9000)}).encode()),
                ),
                N("x13", S, "EAN-13 barcodes", ean13),
                N("x14", S, "carrier tracking numbers", lambda g: "1Z" + g.s(UPPER + "0123456789", 16)),
                N("x15", S, "order numbers", order_id),
                N("x16", S, "SKUs", sku),
                C("x17", S, "CREDENTIAL", "Slack webhook URLs (the path is the secret)", slack_webhook, 0.6),
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
    for tab in tables():
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
