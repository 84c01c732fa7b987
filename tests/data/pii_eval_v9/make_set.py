"""Generate the ninth blind PII evaluation set: a fourth representative held-out sample.

    .venv/bin/python tests/data/pii_eval_v9/make_set.py      # rewrite data/*.parquet and labels.csv

Sets 1 to 8 (tests/data/pii_eval, pii_eval_v2 ... pii_eval_v8) have been scored or used for
development; this set takes the tables of public application schemas none of them used (SOURCES,
README.md) with their real column names, types and mixes of sensitive and ordinary columns, and
fills them with the common kinds of values those applications hold, in the common locales of their
users. Then content-only columns with opaque names, drawn from common kinds of data in the
proportion an export would hold them. Every label is decided here from the column's meaning, with
set 1's taxonomy and rules and the decisions recorded by sets 2 to 8, before any detector has run
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
SEED = 20291202
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
    "ofbiz": (
        "Apache OFBiz data model: PERSON, USER_LOGIN, POSTAL_ADDRESS, TELECOM_NUMBER",
        "https://cwiki.apache.org/confluence/display/OFBIZ/Data+Model+Diagrams",
    ),
    "tryton": (
        "Tryton database: party_party, party_contact_mechanism, party_identifier, res_user",
        "https://docs.tryton.org/projects/modules-party/en/latest/",
    ),
    "ojs": (
        "Open Journal Systems (PKP) database: users, user_settings",
        "https://docs.pkp.sfu.ca/dev/documentation/en/",
    ),
    "dspace": (
        "DSpace 7 database: eperson, registrationdata, metadatavalue",
        "https://wiki.lyrasis.org/display/DSDOC7x/Storage+Layer",
    ),
    "ckan": ("CKAN database: user, api_token", "https://docs.ckan.org/en/latest/maintaining/database-management.html"),
    "grafana": (
        "Grafana database: user, api_key, user_auth_token",
        "https://grafana.com/docs/grafana/latest/setup-grafana/configure-grafana/#database",
    ),
    "sonarqube": ("SonarQube database: users, user_tokens", "https://docs.sonarsource.com/sonarqube/latest/"),
    "nopcommerce": (
        "nopCommerce database: Customer, Address, CustomerPassword",
        "https://docs.nopcommerce.com/en/developer/tutorials/data-access-and-entities.html",
    ),
    "liferay": (
        "Liferay Portal database: User_, Contact_, Address, Phone",
        "https://learn.liferay.com/w/dxp/liferay-development/liferay-internals",
    ),
    "seafile": (
        "Seafile databases: ccnet EmailUser, seahub profile_profile, api2_tokenv2",
        "https://manual.seafile.com/",
    ),
    "gibbon": ("Gibbon school platform database: gibbonPerson", "https://docs.gibbonedu.org/"),
    "opensis": (
        "openSIS Classic database: students, staff, login_authentication",
        "https://github.com/OS4ED/openSIS-Classic",
    ),
    "hospitalrun": ("HospitalRun patient documents", "https://github.com/HospitalRun/hospitalrun-frontend"),
    "mahara": ("Mahara ePortfolio database: usr, usr_password_request", "https://manual.mahara.org/"),
    "ilias": ("ILIAS LMS database: usr_data", "https://docu.ilias.de/"),
    "harbor": (
        "Harbor registry database: harbor_user, robot",
        "https://goharbor.io/docs/main/",
    ),
    "bigbluebutton": (
        "BigBlueButton Greenlight 2 database: users",
        "https://docs.bigbluebutton.org/greenlight/v2/gl-overview",
    ),
    "vendure": (
        "Vendure database: customer, user, authentication_method, address",
        "https://docs.vendure.io/reference/typescript-api/entities/",
    ),
    "sakai": (
        "Sakai LMS database: SAKAI_USER, SAKAI_USER_ID_MAP, SAKAI_SESSION",
        "https://github.com/sakaiproject/sakai/tree/master/kernel",
    ),
    "omeka": ("Omeka S database: user, api_key, password_creation", "https://omeka.org/s/docs/developer/"),
    "umbraco": ("Umbraco CMS database: cmsMember", "https://docs.umbraco.com/umbraco-cms/"),
    "fedena": ("Fedena school ERP database: students, guardians", "https://github.com/projectfedena/fedena"),
    "opaque": (
        "Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
        "tests/data/pii_eval_v9/README.md",
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


def phone(g: Gen, locales: list[str] | None = None) -> str:
    """A valid number of the drawn locale's country, in the notations people type."""
    g.loc(locales)
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


# --------------------------------------------------------------------------- makers of this set


def ofbiz_sha(g: Gen) -> str:
    return "$SHA$" + g.s(ALNUM, 10) + "$" + b64url(g.raw(20))


def passlib_pbkdf2(g: Gen) -> str:
    ab64 = lambda data: b64(data).rstrip("=").replace("+", ".")  # noqa: E731
    return f"$pbkdf2-sha512$25000${ab64(g.raw(16))}${ab64(g.raw(64))}"


def sonar_pbkdf2(g: Gen) -> str:
    return "100000$" + b64(g.raw(64))


def seafile_pw(g: Gen) -> str:
    return f"PBKDF2SHA256$10000${g.raw(32).hex()}${g.raw(32).hex()}"


def aspnet_v3(g: Gen) -> str:
    return b64(b"\x01\x00\x00\x00\x01\x00\x00\x27\x10\x00\x00\x00\x10" + g.raw(48))


def liferay_pbkdf2(g: Gen) -> str:
    return b64(b"\x00\x00\x00\xa0\x00\x01\xf4\x00" + g.raw(36))


def upper_hex(n: int) -> Callable[[Gen], str]:
    return lambda g: g.raw(n).hex().upper()


def login_or_email(g: Gen) -> str:
    return email(g) if g.r.random() < 0.5 else username(g)


def party_name(g: Gen) -> str:
    return company(g) if g.r.random() < 0.25 else name(g)


def contact_value(g: Gen) -> str:
    return g.r.choice([email, email, phone, phone, lambda g: "https://www." + g.loc().domain_name()])(g)


def party_identifier(g: Gen) -> str:
    """Tryton party identifiers: VAT numbers of companies, national ids of people."""
    return g.r.choice([national_id, national_id, lambda g: g.r.choice(["DE", "FR", "ES", "IT"]) + g.digits(9)])(g)


def ojs_setting(g: Gen) -> str:
    f = g.loc()
    return g.r.choice(
        [
            f.first_name,
            f.last_name,
            lambda: f.company() + " University",
            lambda: "https://orcid.org/0000-000" + g.digits(1) + "-" + g.digits(4) + "-" + g.digits(4),
            lambda: "<p>" + bio(g) + "</p>",
            f.name,
        ]
    )()


OJS_SETTINGS = ["givenName", "familyName", "affiliation", "orcid", "biography", "preferredPublicName"]


def dspace_metadata(g: Gen) -> str:
    f = g.loc()
    return g.r.choice(
        [
            lambda: f"{f.last_name()}, {f.first_name()}",
            lambda: f"{f.last_name()}, {f.first_name()}",
            lambda: g.fk["en_US"].sentence(nb_words=8).rstrip("."),
            lambda: str(g.r.randint(1998, 2026)),
            lambda: g.r.choice(["Article", "Thesis", "Dataset", "Conference paper"]),
            lambda: g.r.choice(["Climate change", "Machine learning", "Public health", "Economics"]),
        ]
    )()


def scm_accounts(g: Gen) -> str:
    return "\n".join([username(g), email(g)][: g.r.randint(1, 2)])


def json_list(make: Callable[[Gen], Any]) -> Callable[[Gen], str]:
    return lambda g: json.dumps([make(g) for _ in range(g.r.randint(1, 2))], ensure_ascii=False)


def hr_address(g: Gen) -> dict[str, str]:
    f = g.loc()
    return {"value": f"{f.street_address()}, {city_here(g, f)} {f.postcode()}", "type": "home"}


def seafile_user(g: Gen) -> str:
    return email(g) if g.r.random() < 0.7 else g.raw(16).hex() + "@auth.local"


def gibbon_id(g: Gen) -> int:
    return g.r.randint(1, 4000)


def student_no(g: Gen) -> str:
    return str(g.r.randint(2015, 2026)) + g.digits(4)


def mrn_code(g: Gen) -> str:
    return "P" + str(g.r.randint(1, 99999)).zfill(5)


def password_reset_id(g: Gen) -> str:
    return g.s(ALNUM, 32)


def date_(g: Gen) -> dt.date:
    return ts(g).date()


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Apache OFBiz (upper-case DB column names of the entity engine)
    t.append(
        T(
            "ofbiz",
            "PERSON",
            120,
            [
                N("PARTY_ID", S, "key", lambda g: str(10000 + g.r.randint(0, 90000))),
                N("SALUTATION", S, "salutation", choice("Mr.", "Mrs.", "Ms.", "Dr."), 0.5),
                C("FIRST_NAME", S, "PII", "given name", first),
                C("MIDDLE_NAME", S, "PII", "middle name", first, 0.8),
                C("LAST_NAME", S, "PII", "family name", last),
                N("PERSONAL_TITLE", S, "title", choice("Prof.", "Dr.", ""), 0.85),
                N("SUFFIX", S, "suffix", choice("Jr.", "Sr.", "III"), 0.9),
                C("NICKNAME", S, "PII", "nickname (a first name)", first, 0.8),
                N("GENDER", S, "gender", choice("M", "F"), 0.3),
                C("BIRTH_DATE", D32, "PII", "date of birth", birth, 0.4),
                N(
                    "MARITAL_STATUS_ENUM_ID",
                    S,
                    "marital status (enum key)",
                    choice("MARRIED", "SINGLE", "DIVORCED"),
                    0.6,
                ),
                C("SOCIAL_SECURITY_NUMBER", S, "SENSITIVE", "social security number", ssn, 0.7),
                C("PASSPORT_NUMBER", S, "SENSITIVE", "passport number", passport, 0.85),
                N("PASSPORT_EXPIRE_DATE", TS, "document expiry date", ts, 0.85),
                N("HEIGHT", F64, "height", lambda g: round(g.r.uniform(150, 200), 1), 0.9),
                N("WEIGHT", F64, "weight", lambda g: round(g.r.uniform(50, 110), 1), 0.9),
                N("OCCUPATION", S, "occupation", job, 0.7),
                N("CREATED_STAMP", TS, "timestamp", ts),
                N("LAST_UPDATED_STAMP", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "ofbiz",
            "USER_LOGIN",
            110,
            [
                C("USER_LOGIN_ID", S, "PII", "login name (a username or the email)", login_or_email),
                C("CURRENT_PASSWORD", S, "CREDENTIAL", "salted SHA-1 password hash ($SHA$salt$hash)", ofbiz_sha),
                N(
                    "PASSWORD_HINT",
                    S,
                    "the user's reminder text for the password",
                    choice("pet", "first car", "school"),
                    0.8,
                ),
                N("IS_SYSTEM", S, "flag", yn(0.05), 0.5),
                N("ENABLED", S, "flag", yn(0.9), 0.2),
                N("HAS_LOGGED_OUT", S, "flag", yn(0.5), 0.3),
                N("REQUIRE_PASSWORD_CHANGE", S, "flag", yn(0.1), 0.5),
                N("LAST_LOCALE", S, "locale", choice("en_US", "de", "fr", "es", "it", "pt_BR"), 0.3),
                N("DISABLED_DATE_TIME", TS, "timestamp", ts, 0.9),
                N("SUCCESSIVE_FAILED_LOGINS", I64, "count", intr(0, 3), 0.3),
                N("PARTY_ID", S, "key", lambda g: str(10000 + g.r.randint(0, 90000))),
                N("CREATED_STAMP", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "ofbiz",
            "POSTAL_ADDRESS",
            120,
            [
                N("CONTACT_MECH_ID", S, "key", lambda g: str(10000 + g.r.randint(0, 90000))),
                C("TO_NAME", S, "PII", "the addressee's name", name, 0.3),
                C("ATTN_NAME", S, "PII", "attention-of name", name, 0.85),
                C("ADDRESS1", S, "PII", "street address (customers' homes)", street),
                C("ADDRESS2", S, "PII", "second address line", address_line2, 0.7),
                N("HOUSE_NUMBER", I64, "house number alone", intr(1, 250), 0.8),
                N(
                    "DIRECTIONS",
                    S,
                    "free-text directions",
                    choice("Ring twice", "Back door", "Leave at reception"),
                    0.9,
                ),
                N("CITY", S, "city", city),
                C("POSTAL_CODE", S, "PII", "postcode of the address", postcode, 0.05),
                N(
                    "COUNTRY_GEO_ID",
                    S,
                    "country (geo key)",
                    choice("USA", "GBR", "DEU", "FRA", "ITA", "ESP", "BRA", "IND"),
                ),
                N("STATE_PROVINCE_GEO_ID", S, "state (geo key)", choice("CA", "NY", "TX", "BY", "IDF", "ON"), 0.4),
                N("CREATED_STAMP", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "ofbiz",
            "TELECOM_NUMBER",
            100,
            [
                N("CONTACT_MECH_ID", S, "key", lambda g: str(10000 + g.r.randint(0, 90000))),
                N("COUNTRY_CODE", S, "calling code alone", choice("1", "44", "49", "33", "39", "34", "55", "91"), 0.3),
                N("AREA_CODE", S, "area code alone", lambda g: g.digits(3), 0.4),
                C("CONTACT_NUMBER", S, "PII", "the person's phone number", phone),
                C("ASK_FOR_NAME", S, "PII", "name to ask for", first, 0.8),
                N("LAST_UPDATED_STAMP", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Tryton
    t.append(
        T(
            "tryton",
            "party_party",
            120,
            [
                N("id", I64, "key", seq()),
                N("code", S, "party code (key)", lambda g: str(g.r.randint(1, 9999))),
                C("name", S, "PII", "party name: a person on most rows, a company on some", party_name),
                N("active", B, "flag", boolean(0.95)),
                N("lang", I64, "language key", choice(1, 2, 3, 4), 0.3),
                N("replaced_by", I64, "key", intr(1, 120), 0.95),
                N("create_date", TS, "timestamp", ts),
                N("write_date", TS, "timestamp", ts, 0.3),
                N("create_uid", I64, "key", intr(1, 20)),
            ],
        )
    )
    t.append(
        T(
            "tryton",
            "party_contact_mechanism",
            140,
            [
                N("id", I64, "key", seq()),
                N("party", I64, "key", intr(1, 300)),
                N("type", S, "kind of contact", choice("email", "phone", "mobile", "website")),
                C(
                    "value",
                    S,
                    "PII",
                    "the contact: emails and phones of people, some websites (strongest kind)",
                    contact_value,
                ),
                C("value_compact", S, "PII", "the same value, compacted", contact_value),
                N("name", S, "label", choice("Home", "Work", "Private", ""), 0.6),
                N("comment", S, "comment", choice("evenings only", "preferred"), 0.9),
                N("sequence", I64, "order", intr(1, 10), 0.3),
                N("active", B, "flag", boolean(0.95)),
            ],
        )
    )
    t.append(
        T(
            "tryton",
            "party_identifier",
            90,
            [
                N("id", I64, "key", seq()),
                N("party", I64, "key", intr(1, 300)),
                N(
                    "type",
                    S,
                    "kind of identifier",
                    choice("us_ssn", "es_dni", "fr_nir", "br_cpf", "eu_vat", "it_codicefiscale"),
                ),
                C(
                    "code",
                    S,
                    "SENSITIVE",
                    "national ids of people, VAT numbers of companies (strongest kind)",
                    party_identifier,
                ),
                N("create_date", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "tryton",
            "res_user",
            60,
            [
                N("id", I64, "key", seq()),
                C("login", S, "PII", "login name", username),
                C("password_hash", S, "CREDENTIAL", "passlib PBKDF2-SHA512 password hash", passlib_pbkdf2, 0.1),
                C("password_reset", S, "CREDENTIAL", "the temporary password sent by email", alnum(12), 0.85),
                N("password_reset_expire", TS, "timestamp", ts, 0.85),
                C("name", S, "PII", "the user's name", name),
                C("email", S, "PII", "email", work_email, 0.2),
                N("active", B, "flag", boolean(0.9)),
                N("menu", I64, "key", choice(1, 2)),
                N("language", I64, "language key", choice(1, 2, 3), 0.3),
            ],
        )
    )
    # ---- Open Journal Systems
    t.append(
        T(
            "ojs",
            "users",
            130,
            [
                N("user_id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$")),
                C("email", S, "PII", "email", email),
                C("phone", S, "PII", "phone", phone, 0.7),
                C("mailing_address", S, "PII", "the author's or reviewer's mailing address", multiline_address, 0.7),
                C("billing_address", S, "PII", "billing address", multiline_address, 0.9),
                N("country", S, "country", country_code, 0.3),
                N("locales", S, "locales", choice("en", "en:fr_FR", "es", "pt_BR"), 0.5),
                N("gossip", S, "editorial notes", choice("reliable reviewer", "slow", "prefers email"), 0.9),
                N("date_last_email", TS, "timestamp", ts, 0.5),
                N("date_registered", TS, "timestamp", ts),
                N("date_validated", TS, "timestamp", ts, 0.3),
                N("date_last_login", TS, "timestamp", ts, 0.1),
                N("must_change_password", B, "flag", boolean(0.05)),
                N("auth_id", I64, "key", choice(1, 2), 0.9),
                C("auth_str", S, "PII", "the login at the external authentication source", username, 0.9),
                N("disabled", B, "flag", boolean(0.05)),
                N("disabled_reason", S, "reason", choice("spam", "duplicate account"), 0.95),
                N("inline_help", B, "flag", boolean(0.5)),
            ],
        )
    )
    t.append(
        T(
            "ojs",
            "user_settings",
            150,
            [
                N("user_id", I64, "key", intr(1, 300)),
                N("locale", S, "locale", choice("en", "fr_FR", "es", "")),
                N("setting_name", S, "setting name", lambda g: g.r.choice(OJS_SETTINGS)),
                C(
                    "setting_value",
                    S,
                    "PII",
                    "given and family names, public names, affiliations, ORCID iDs, biographies (strongest kind)",
                    ojs_setting,
                ),
            ],
        )
    )
    # ---- DSpace 7
    t.append(
        T(
            "dspace",
            "eperson",
            110,
            [
                N("uuid", S, "key", uid),
                C("email", S, "PII", "email", email),
                C("password", S, "CREDENTIAL", "salted iterated SHA-512 of the password (hex)", sha512_hex, 0.3),
                N("salt", S, "salt", hexs(32), 0.3),
                N("digest_algorithm", S, "hash algorithm name", choice("SHA-512"), 0.3),
                N("can_log_in", B, "flag", boolean(0.95)),
                N("require_certificate", B, "flag", boolean(0.02)),
                N("self_registered", B, "flag", boolean(0.6)),
                N("last_active", TS, "timestamp", ts, 0.2),
                C("netid", S, "PII", "the institutional SSO login", username, 0.6),
                N(
                    "session_salt",
                    S,
                    "per-user value mixed into login JWTs (changes at logout: grants nothing alone)",
                    alnum(32),
                    0.4,
                ),
            ],
        )
    )
    t.append(
        T(
            "dspace",
            "registrationdata",
            60,
            [
                N("registrationdata_id", I64, "key", seq()),
                C("email", S, "PII", "email", email),
                C("token", S, "CREDENTIAL", "the token of the registration and forgot-password links", hexs(32)),
                N("expires", TS, "timestamp", ts, 0.5),
            ],
        )
    )
    t.append(
        T(
            "dspace",
            "metadatavalue",
            150,
            [
                N("metadata_value_id", I64, "key", seq()),
                N("dspace_object_id", S, "key", uid),
                N("metadata_field_id", I64, "key", choice(1, 3, 25, 64, 66, 129, 130)),
                C(
                    "text_value",
                    S,
                    "PII",
                    "item metadata: author names beside titles, dates, subjects (strongest kind)",
                    dspace_metadata,
                ),
                N("text_lang", S, "language", choice("en", "en_US", "", "de"), 0.4),
                N("place", I64, "order", intr(0, 5)),
                N("authority", S, "authority key", uid, 0.8),
                N("confidence", I64, "confidence code", choice(-1, 600), 0.2),
            ],
        )
    )
    # ---- CKAN
    t.append(
        T(
            "ckan",
            "user",
            100,
            [
                N("id", S, "key", uid),
                C("name", S, "PII", "the user's login name", lambda g: username(g).replace(".", "-")),
                C("apikey", S, "CREDENTIAL", "the legacy API key (a UUID used as the secret)", uid, 0.3),
                N("created", TS, "timestamp", ts),
                C("reset_key", S, "CREDENTIAL", "password-reset key", hexs(32), 0.85),
                N("about", S, "free text", bio, 0.7),
                C("fullname", S, "PII", "full name", name, 0.2),
                C("email", S, "PII", "email", email),
                C("password", S, "CREDENTIAL", "passlib PBKDF2-SHA512 password hash", passlib_pbkdf2, 0.05),
                N("state", S, "status", choice("active", "active", "pending", "deleted")),
                N("sysadmin", B, "flag", boolean(0.05)),
                N(
                    "image_url",
                    S,
                    "uploaded image file name",
                    lambda g: f"{ts(g).strftime('%Y-%m-%d-%H%M%S')}.png",
                    0.8,
                ),
                N("last_active", TS, "timestamp", ts, 0.2),
            ],
        )
    )
    t.append(
        T(
            "ckan",
            "api_token",
            70,
            [
                N(
                    "id",
                    S,
                    "the token's id (the JWT's jti; the token itself is not stored)",
                    lambda g: b64url(g.raw(32)),
                ),
                N("name", S, "label", choice("harvester", "ci", "notebook", "etl")),
                N("user_id", S, "key", uid),
                N("created_at", TS, "timestamp", ts),
                N("last_access", TS, "timestamp", ts, 0.4),
                N(
                    "plugin_extras",
                    S,
                    "JSON settings",
                    lambda g: json.dumps({"expire_api_token": {"exp": epoch(g)}}),
                    0.6,
                ),
            ],
        )
    )
    # ---- Grafana
    t.append(
        T(
            "grafana",
            "user",
            90,
            [
                N("id", I64, "key", seq()),
                N("version", I64, "version counter", intr(0, 9)),
                C("email", S, "PII", "email", work_email),
                C("name", S, "PII", "full name", name, 0.1),
                C("login", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "PBKDF2 password hash (hex)", hexs(100), 0.2),
                N("salt", S, "salt", alnum(10)),
                N("rands", S, "random string (not a secret on its own)", alnum(10)),
                N("company", S, "company", company, 0.6),
                N("org_id", I64, "key", choice(1, 1, 2)),
                N("is_admin", B, "flag", boolean(0.1)),
                N("email_verified", B, "flag", boolean(0.5)),
                N("theme", S, "preference", choice("", "dark", "light"), 0.3),
                N("created", TS, "timestamp", ts),
                N("updated", TS, "timestamp", ts),
                N("help_flags1", I64, "bit flags", choice(0, 1, 3)),
                N("last_seen_at", TS, "timestamp", ts, 0.1),
                N("is_disabled", B, "flag", boolean(0.05)),
                N("is_service_account", B, "flag", boolean(0.1)),
                N("uid", S, "key", alnum(14)),
            ],
        )
    )
    t.append(
        T(
            "grafana",
            "api_key",
            60,
            [
                N("id", I64, "key", seq()),
                N("org_id", I64, "key", choice(1, 2)),
                N("name", S, "label", choice("sa-1-prometheus", "terraform", "ci-deploy", "grafana-agent")),
                C("key", S, "CREDENTIAL", "the hash of the API key (a token digest)", hexs(100)),
                N("role", S, "role", choice("Viewer", "Editor", "Admin")),
                N("created", TS, "timestamp", ts),
                N("updated", TS, "timestamp", ts),
                N("expires", I64, "epoch seconds", epoch, 0.6),
                N("service_account_id", I64, "key", intr(1, 40), 0.3),
                N("last_used_at", TS, "timestamp", ts, 0.4),
                N("is_revoked", B, "flag", boolean(0.1)),
            ],
        )
    )
    t.append(
        T(
            "grafana",
            "user_auth_token",
            120,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "key", intr(1, 90)),
                C("auth_token", S, "CREDENTIAL", "SHA-256 digest of the session cookie's token", sha256_hex),
                C(
                    "prev_auth_token",
                    S,
                    "CREDENTIAL",
                    "digest of the previous token (still accepted for a grace period after rotation)",
                    sha256_hex,
                ),
                N("user_agent", S, "user agent", user_agent),
                C("client_ip", S, "PII", "client IP address", ip_any),
                N("auth_token_seen", B, "flag", boolean(0.9)),
                N("seen_at", I64, "epoch seconds", epoch),
                N("rotated_at", I64, "epoch seconds", epoch),
                N("created_at", I64, "epoch seconds", epoch),
                N("updated_at", I64, "epoch seconds", epoch),
                N("revoked_at", I64, "epoch seconds", epoch, 0.9),
            ],
        )
    )
    # ---- SonarQube
    t.append(
        T(
            "sonarqube",
            "users",
            90,
            [
                N("uuid", S, "key", alnum(20)),
                C("login", S, "PII", "login name", username),
                C("name", S, "PII", "full name", name),
                C("email", S, "PII", "email", work_email, 0.1),
                C(
                    "crypted_password",
                    S,
                    "CREDENTIAL",
                    "PBKDF2 or bcrypt password hash",
                    lambda g: g.r.choice([sonar_pbkdf2, bcrypt("$2a$", 12)])(g),
                    0.5,
                ),
                N("salt", S, "salt", lambda g: b64(g.raw(20)), 0.5),
                N("hash_method", S, "hash algorithm name", choice("PBKDF2", "BCRYPT"), 0.5),
                N("active", B, "flag", boolean(0.9)),
                C("scm_accounts", S, "PII", "the user's VCS logins and emails", scm_accounts, 0.6),
                C("external_login", S, "PII", "login at the identity provider", login_or_email),
                N("external_identity_provider", S, "provider", choice("sonarqube", "github", "saml", "LDAP_default")),
                N("external_id", S, "external id", lambda g: str(g.r.randint(100000, 99999999))),
                N("user_local", B, "flag", boolean(0.4)),
                N("reset_password", B, "flag", boolean(0.05)),
                N("homepage_type", S, "preference", choice("PROJECTS", "MY_ISSUES", "ISSUES"), 0.6),
                N("last_connection_date", I64, "epoch ms", epoch_ms, 0.2),
                N("created_at", I64, "epoch ms", epoch_ms),
                N("updated_at", I64, "epoch ms", epoch_ms),
            ],
        )
    )
    t.append(
        T(
            "sonarqube",
            "user_tokens",
            80,
            [
                N("uuid", S, "key", alnum(20)),
                N("user_uuid", S, "key", alnum(20)),
                N("name", S, "label", choice("jenkins", "gitlab-ci", "local", "sonarlint")),
                C("token_hash", S, "CREDENTIAL", "SHA-384 of the token (a token digest)", hexs(96)),
                N("last_connection_date", I64, "epoch ms", epoch_ms, 0.3),
                N("created_at", I64, "epoch ms", epoch_ms),
                N("project_uuid", S, "key", alnum(20), 0.6),
                N("type", S, "token type", choice("USER_TOKEN", "PROJECT_ANALYSIS_TOKEN", "GLOBAL_ANALYSIS_TOKEN")),
                N("expiration_date", I64, "epoch ms", epoch_ms, 0.5),
            ],
        )
    )
    return t


def tables_b() -> list[Table]:
    t: list[Table] = []
    # ---- nopCommerce (PascalCase)
    t.append(
        T(
            "nopcommerce",
            "Customer",
            130,
            [
                N("Id", I64, "key", seq()),
                N("CustomerGuid", S, "key", uid),
                C("Username", S, "PII", "login name", username, 0.5),
                C("Email", S, "PII", "email", email, 0.1),
                C("EmailToRevalidate", S, "PII", "the pending new email", email, 0.9),
                N("SystemName", S, "system account name", choice("SearchEngine", "BackgroundTask"), 0.97),
                C("FirstName", S, "PII", "given name", first, 0.2),
                C("LastName", S, "PII", "family name", last, 0.2),
                N("Gender", S, "gender", choice("M", "F"), 0.5),
                C(
                    "DateOfBirth",
                    TS,
                    "PII",
                    "date of birth (a datetime column)",
                    lambda g: dt.datetime.combine(birth(g), dt.time(), dt.UTC),
                    0.6,
                ),
                N("Company", S, "company", company, 0.7),
                C("StreetAddress", S, "PII", "street address", street, 0.5),
                C("StreetAddress2", S, "PII", "second address line", address_line2, 0.8),
                C("ZipPostalCode", S, "PII", "postcode", postcode, 0.5),
                N("City", S, "city", city, 0.5),
                N("CountryId", I64, "country key", intr(1, 240), 0.4),
                C("Phone", S, "PII", "phone", phone, 0.5),
                C("Fax", S, "PII", "fax number", phone, 0.95),
                N("VatNumber", S, "VAT number of a business customer", lambda g: "DE" + g.digits(9), 0.9),
                N("TimeZoneId", S, "time zone", tz, 0.7),
                N("AdminComment", S, "free text", choice("VIP", "fraud check done", "wholesale"), 0.9),
                N("IsTaxExempt", B, "flag", boolean(0.03)),
                N("FailedLoginAttempts", I64, "count", intr(0, 3)),
                N("CannotLoginUntilDateUtc", TS, "timestamp", ts, 0.95),
                N("Active", B, "flag", boolean(0.95)),
                N("Deleted", B, "flag", boolean(0.03)),
                C("LastIpAddress", S, "PII", "client IP address", ip_any, 0.1),
                N("CreatedOnUtc", TS, "timestamp", ts),
                N("LastLoginDateUtc", TS, "timestamp", ts, 0.3),
                N("LastActivityDateUtc", TS, "timestamp", ts),
                N("BillingAddress_Id", I64, "key", intr(1, 400), 0.4),
            ],
        )
    )
    t.append(
        T(
            "nopcommerce",
            "Address",
            130,
            [
                N("Id", I64, "key", seq()),
                C("FirstName", S, "PII", "given name", first),
                C("LastName", S, "PII", "family name", last),
                C("Email", S, "PII", "email", email),
                N("Company", S, "company", company, 0.8),
                N("CountryId", I64, "country key", intr(1, 240)),
                N("StateProvinceId", I64, "state key", intr(1, 400), 0.5),
                N("County", S, "county", state, 0.9),
                N("City", S, "city", city),
                C("Address1", S, "PII", "street address", street),
                C("Address2", S, "PII", "second address line", address_line2, 0.75),
                C("ZipPostalCode", S, "PII", "postcode", postcode),
                C("PhoneNumber", S, "PII", "phone", phone, 0.1),
                C("FaxNumber", S, "PII", "fax number", phone, 0.95),
                N("CustomAttributes", S, "XML of custom attributes", lambda g: "<Attributes></Attributes>", 0.8),
                N("CreatedOnUtc", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "nopcommerce",
            "CustomerPassword",
            110,
            [
                N("Id", I64, "key", seq()),
                N("CustomerId", I64, "key", intr(1, 400)),
                C("Password", S, "CREDENTIAL", "salted SHA-512 of the password (upper-case hex)", upper_hex(64)),
                N("PasswordFormatId", I64, "hash format code", choice(1)),
                N("PasswordSalt", S, "salt", lambda g: b64(g.raw(5))),
                N("CreatedOnUtc", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Liferay Portal (trailing underscores where the name is an SQL word)
    t.append(
        T(
            "liferay",
            "User_",
            110,
            [
                N("userId", I64, "key", lambda g: g.r.randint(20100, 99999)),
                N("uuid_", S, "key", uid),
                N("companyId", I64, "key", choice(20099)),
                N("createDate", TS, "timestamp", ts),
                N("modifiedDate", TS, "timestamp", ts),
                N("contactId", I64, "key", lambda g: g.r.randint(20100, 99999)),
                C("password_", S, "CREDENTIAL", "PBKDF2 password hash (base64)", liferay_pbkdf2),
                N("passwordEncrypted", B, "flag", boolean(0.98)),
                N("passwordReset", B, "flag", boolean(0.05)),
                N("passwordModifiedDate", TS, "timestamp", ts, 0.3),
                C(
                    "digest",
                    S,
                    "CREDENTIAL",
                    "MD5 digests of login and password (WebDAV digest authentication)",
                    lambda g: ",".join(md5_hex(g) for _ in range(3)),
                    0.2,
                ),
                N(
                    "reminderQueryQuestion",
                    S,
                    "security question",
                    choice(
                        "what-is-your-father's-middle-name",
                        "what-was-your-first-phone-number",
                        "what-was-your-first-teacher's-name",
                    ),
                    0.3,
                ),
                C(
                    "reminderQueryAnswer",
                    S,
                    "CREDENTIAL",
                    "the answer to the security question (resets the password)",
                    lambda g: g.loc().first_name(),
                    0.3,
                ),
                C("screenName", S, "PII", "screen name (the login)", username),
                C("emailAddress", S, "PII", "email", email),
                N("facebookId", I64, "external id", lambda g: g.r.randint(10**14, 10**15), 0.9),
                N("portraitId", I64, "key", intr(0, 90000)),
                N("languageId", S, "locale", choice("en_US", "de_DE", "es_ES", "pt_BR", "fr_FR")),
                N("timeZoneId", S, "time zone", tz),
                C(
                    "greeting",
                    S,
                    "PII",
                    "the welcome text, with the user's full name",
                    lambda g: f"Welcome {g.loc().name()}!",
                ),
                C("firstName", S, "PII", "given name", first),
                C("middleName", S, "PII", "middle name", first, 0.85),
                C("lastName", S, "PII", "family name", last),
                N("jobTitle", S, "job title", job, 0.5),
                N("loginDate", TS, "timestamp", ts, 0.1),
                C("loginIP", S, "PII", "client IP address", ip_any, 0.1),
                C("lastLoginIP", S, "PII", "client IP address", ip_any, 0.2),
                N("failedLoginAttempts", I64, "count", intr(0, 3)),
                N("lockout", B, "flag", boolean(0.02)),
                N("agreedToTermsOfUse", B, "flag", boolean(0.9)),
                N("emailAddressVerified", B, "flag", boolean(0.8)),
                N("status", I64, "status code", choice(0, 0, 0, 5)),
            ],
        )
    )
    t.append(
        T(
            "liferay",
            "Contact_",
            100,
            [
                N("contactId", I64, "key", lambda g: g.r.randint(20100, 99999)),
                C("userName", S, "PII", "the full name of the user who created the row", name),
                C(
                    "birthday",
                    TS,
                    "PII",
                    "date of birth (a datetime column)",
                    lambda g: dt.datetime.combine(birth(g), dt.time(), dt.UTC),
                    0.3,
                ),
                N("male", B, "gender", boolean(0.5)),
                N("prefixListTypeId", I64, "salutation key", choice(0, 11012, 11013), 0.2),
                C("smsSn", S, "PII", "SMS number", phone, 0.9),
                C("facebookSn", S, "PII", "Facebook handle", handle, 0.85),
                C("jabberSn", S, "PII", "Jabber address", lambda g: handle(g) + "@jabber.org", 0.9),
                C("skypeSn", S, "PII", "Skype name", handle, 0.8),
                C("twitterSn", S, "PII", "Twitter handle", handle, 0.85),
                N("employeeNumber", S, "staff number", lambda g: "E" + g.digits(5), 0.6),
                N("jobClass", S, "job class", choice("Engineering", "Sales", "Support"), 0.7),
                N("hoursOfOperation", S, "free text", choice("9-17", "Mon-Fri"), 0.9),
            ],
        )
    )
    t.append(
        T(
            "liferay",
            "Address",
            100,
            [
                N("addressId", I64, "key", lambda g: g.r.randint(30000, 99999)),
                N("classNameId", I64, "key", choice(20087, 20087, 20096)),
                C("street1", S, "PII", "street address (users' homes and offices)", street),
                C("street2", S, "PII", "second address line", address_line2, 0.7),
                C("street3", S, "PII", "third address line", address_line2, 0.95),
                N("city", S, "city", city),
                C("zip", S, "PII", "postcode", postcode),
                N("regionId", I64, "region key", intr(0, 300)),
                N("countryId", I64, "country key", intr(1, 230)),
                N("typeId", I64, "address type key", choice(11000, 11001, 11002)),
                N("mailing", B, "flag", boolean(0.5)),
                N("primary_", B, "flag", boolean(0.7)),
            ],
        )
    )
    t.append(
        T(
            "liferay",
            "Phone",
            100,
            [
                N("phoneId", I64, "key", lambda g: g.r.randint(30000, 99999)),
                C("number_", S, "PII", "phone number", phone),
                N("extension", S, "extension alone", lambda g: g.digits(3), 0.8),
                N("typeId", I64, "phone type key", choice(11006, 11007, 11008)),
                N("primary_", B, "flag", boolean(0.7)),
            ],
        )
    )
    # ---- Seafile
    t.append(
        T(
            "seafile",
            "EmailUser",
            90,
            [
                N("id", I64, "key", seq()),
                C(
                    "email",
                    S,
                    "PII",
                    "the user's id: an email on most rows, a virtual <hex>@auth.local id on SSO rows",
                    seafile_user,
                ),
                C("passwd", S, "CREDENTIAL", "PBKDF2-SHA256 password hash", seafile_pw, 0.15),
                N("is_staff", B, "flag", boolean(0.05)),
                N("is_active", B, "flag", boolean(0.9)),
                N("ctime", I64, "epoch microseconds", lambda g: epoch_ms(g) * 1000),
                C("reference_id", S, "PII", "alternative login email", email, 0.8),
            ],
        )
    )
    t.append(
        T(
            "seafile",
            "profile_profile",
            90,
            [
                N("id", I64, "key", seq()),
                C("user", S, "PII", "the user's email or virtual id", seafile_user),
                C("nickname", S, "PII", "display name", name),
                N("intro", S, "free text", bio, 0.8),
                N("lang_code", S, "language", choice("en", "de", "fr", "zh-cn", "es"), 0.3),
                C("login_id", S, "PII", "login name", username, 0.7),
                C("contact_email", S, "PII", "contact email", email, 0.5),
                N("institution", S, "institution", company, 0.8),
                N("list_in_address_book", B, "flag", boolean(0.7)),
            ],
        )
    )
    t.append(
        T(
            "seafile",
            "api2_tokenv2",
            80,
            [
                C("key", S, "CREDENTIAL", "API token of a sync client", hexs(40)),
                C("user", S, "PII", "the user's email or virtual id", seafile_user),
                N("platform", S, "platform", choice("windows", "mac", "linux", "android", "ios")),
                N("device_id", S, "device id", hexs(40)),
                N("device_name", S, "device name", choice("DESKTOP-7QK2", "MacBook-Pro", "Pixel 7", "iPhone")),
                N("client_version", S, "version", choice("9.0.4", "8.0.12", "3.0.6")),
                N("last_accessed", TS, "timestamp", ts),
                C("last_login_ip", S, "PII", "client IP address", ip_any, 0.1),
                N("created_at", TS, "timestamp", ts),
                N("wiped_at", TS, "timestamp", ts, 0.95),
            ],
        )
    )
    # ---- Gibbon (camelCase)
    t.append(
        T(
            "gibbon",
            "gibbonPerson",
            120,
            [
                N("gibbonPersonID", I64, "key", seq()),
                N("title", S, "salutation", choice("Mr. ", "Ms. ", "Mrs. ", "Dr. "), 0.3),
                C("surname", S, "PII", "family name", last),
                C("firstName", S, "PII", "given name", first),
                C("preferredName", S, "PII", "preferred first name", first),
                C("officialName", S, "PII", "full official name", name),
                C("nameInCharacters", S, "PII", "name in another script", lambda g: g.fk["en_US"].name(), 0.95),
                N("gender", S, "gender", choice("M", "F", "Other", "Unspecified")),
                C("username", S, "PII", "login name", username),
                C("passwordStrong", S, "CREDENTIAL", "SHA-256 of salt and password (hex)", sha256_hex, 0.1),
                N("passwordStrongSalt", S, "salt", alnum(22), 0.1),
                N("passwordForceReset", S, "flag", yn(0.05)),
                N("status", S, "status", choice("Full", "Full", "Left", "Expected")),
                N("canLogin", S, "flag", yn(0.9)),
                N("gibbonRoleIDPrimary", I64, "role key", choice(1, 2, 3, 4)),
                C("dob", D32, "PII", "date of birth", birth, 0.2),
                C("email", S, "PII", "email", email, 0.2),
                C("emailAlternate", S, "PII", "alternative email", email, 0.8),
                C("lastIPAddress", S, "PII", "client IP address", ip_any, 0.3),
                N("lastTimestamp", TS, "timestamp", ts, 0.3),
                C("address1", S, "PII", "home address (multi-line)", multiline_address, 0.4),
                N("address1District", S, "district", city, 0.4),
                N("address1Country", S, "country", lambda g: g.loc().current_country(), 0.4),
                N("phone1Type", S, "phone type", choice("Mobile", "Home", "Work"), 0.4),
                N("phone1CountryCode", S, "calling code alone", choice("1", "44", "61", "91", "852"), 0.4),
                C("phone1", S, "PII", "phone", phone, 0.4),
                N("languageFirst", S, "language", choice("English", "Spanish", "Mandarin", "Hindi"), 0.5),
                N("countryOfBirth", S, "country of birth", lambda g: g.loc().current_country(), 0.5),
                N("citizenship1", S, "nationality", lambda g: g.loc().current_country(), 0.5),
                C("citizenship1Passport", S, "SENSITIVE", "passport number", passport, 0.7),
                C("citizenship2Passport", S, "SENSITIVE", "second passport number", passport, 0.95),
                C("nationalIDCardNumber", S, "SENSITIVE", "national id card number", national_id, 0.7),
                N("residencyStatus", S, "status", choice("Permanent Resident", "Visa", "Citizen"), 0.7),
                N("visaExpiryDate", D32, "document expiry date", date_, 0.9),
                N("profession", S, "occupation", job, 0.8),
                N("employer", S, "company", company, 0.8),
                C("emergency1Name", S, "PII", "emergency contact's name", name, 0.6),
                C("emergency1Number1", S, "PII", "emergency contact's phone", phone, 0.6),
                N("emergency1Relationship", S, "relationship", choice("Parent", "Spouse", "Sibling"), 0.6),
                N("studentID", S, "the school's student number (a key)", student_no, 0.5),
                N("dateStart", D32, "date", date_, 0.2),
                C("mfaSecret", S, "CREDENTIAL", "TOTP secret (two-factor)", b32(16), 0.9),
            ],
        )
    )
    return t


def hr_phone(g: Gen) -> dict[str, str]:
    return {"value": phone(g), "type": g.r.choice(["mobile", "home", "work"])}


def hr_email(g: Gen) -> dict[str, str]:
    return {"value": email(g), "type": g.r.choice(["home", "work"])}


HR = ["en_US", "en_US", "pt_BR", "es_MX", "en_IN", "fr_FR", "en_GB"]


def tables_c() -> list[Table]:
    t: list[Table] = []
    # ---- openSIS Classic
    t.append(
        T(
            "opensis",
            "students",
            130,
            [
                N("student_id", I64, "key", seq()),
                C("last_name", S, "PII", "family name", last),
                C("first_name", S, "PII", "given name", first),
                C("middle_name", S, "PII", "middle name", first, 0.6),
                N("name_suffix", S, "suffix", choice("Jr", "III"), 0.95),
                N("gender", S, "gender", choice("Male", "Female")),
                N("ethnicity_id", I64, "ethnicity (key)", intr(1, 7), 0.3),
                C("common_name", S, "PII", "name the student goes by", first, 0.7),
                C("social_security", S, "SENSITIVE", "social security number", ssn, 0.6),
                C(
                    "birthdate",
                    D32,
                    "PII",
                    "date of birth",
                    lambda g: dt.date(2006, 1, 1) + dt.timedelta(days=g.r.randint(0, 4500)),
                ),
                N("language_id", I64, "language key", intr(1, 10), 0.3),
                N("estimated_grad_date", D32, "date", date_, 0.5),
                N("alt_id", S, "the school's alternate student number (a key)", student_no, 0.5),
                C("email", S, "PII", "email", email, 0.4),
                C("phone", S, "PII", "phone", phone, 0.3),
                N("is_disable", S, "flag", choice("Y", None), 0.0),
            ],
        )
    )
    t.append(
        T(
            "opensis",
            "staff",
            70,
            [
                N("staff_id", I64, "key", seq()),
                N("current_school_id", I64, "key", intr(1, 5)),
                N("title", S, "salutation", choice("Mr.", "Ms.", "Mrs.", "Dr."), 0.3),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("middle_name", S, "PII", "middle name", first, 0.7),
                C("email", S, "PII", "email", work_email),
                C("phone", S, "PII", "phone", phone, 0.4),
                N("profile", S, "role", choice("teacher", "admin", "parent")),
                C("birthdate", D32, "PII", "date of birth", birth, 0.5),
                N("alternate_id", S, "staff number", lambda g: "T" + g.digits(5), 0.6),
                N("physical_disability", S, "flag", yn(0.03), 0.5),
            ],
        )
    )
    t.append(
        T(
            "opensis",
            "login_authentication",
            120,
            [
                N("id", I64, "key", seq()),
                N("user_id", I64, "key", intr(1, 200)),
                N("profile_id", I64, "role key", choice(0, 1, 2, 3, 4)),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "MD5 of the password", md5_hex),
                N("last_login", TS, "timestamp", ts, 0.2),
                N("failed_login", I64, "count", intr(0, 3)),
            ],
        )
    )
    # ---- HospitalRun (patient documents, flattened; lists as JSON)
    t.append(
        T(
            "hospitalrun",
            "patient",
            110,
            [
                N("id", S, "key", uid),
                N("rev", S, "document revision", lambda g: f"{g.r.randint(1, 9)}-{md5_hex(g)}"),
                C("code", S, "SENSITIVE", "the hospital's patient number (medical record number)", mrn_code),
                N("prefix", S, "salutation", choice("Mr", "Mrs", "Ms", "Sr.", "Sra."), 0.5),
                C("givenName", S, "PII", "given name", lambda g: g.loc(HR).first_name()),
                C("familyName", S, "PII", "family name", lambda g: g.loc(HR).last_name()),
                N("suffix", S, "suffix", choice("Jr", "II"), 0.95),
                C("fullName", S, "PII", "full name", lambda g: g.loc(HR).name()),
                N("sex", S, "gender", choice("male", "female", "other", "unknown")),
                C(
                    "dateOfBirth",
                    S,
                    "PII",
                    "date of birth (ISO string)",
                    lambda g: birth(g).isoformat() + "T00:00:00.000Z",
                    0.1,
                ),
                N("isApproximateDateOfBirth", B, "flag", boolean(0.1)),
                N("preferredLanguage", S, "language", choice("English", "Spanish", "Portuguese", "Hindi"), 0.4),
                N("occupation", S, "occupation", job, 0.6),
                N("type", S, "patient type", choice("charity", "private")),
                N("bloodType", S, "blood group", choice("A+", "O+", "B-", "AB+", "unknown"), 0.3),
                C("phoneNumbers", S, "PII", "JSON list of phone numbers", json_list(hr_phone), 0.2),
                C("emails", S, "PII", "JSON list of emails", json_list(hr_email), 0.4),
                C("addresses", S, "PII", "JSON list of home addresses", json_list(hr_address), 0.2),
                N("createdAt", S, "timestamp (ISO)", ts_iso),
                N("updatedAt", S, "timestamp (ISO)", ts_iso),
            ],
        )
    )
    # ---- Mahara
    t.append(
        T(
            "mahara",
            "usr",
            100,
            [
                N("id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("password", S, "CREDENTIAL", "SHA-512 crypt of the password", sha512crypt, 0.2),
                N("salt", S, "salt", alnum(8), 0.2),
                N("passwordchange", I64, "flag", choice(0, 0, 1)),
                N("active", I64, "flag", choice(1, 1, 1, 0)),
                N("deleted", I64, "flag", choice(0, 0, 0, 1)),
                N("expiry", TS, "timestamp", ts, 0.9),
                N("lastlogin", TS, "timestamp", ts, 0.2),
                N("lastaccess", TS, "timestamp", ts, 0.2),
                N("suspendedreason", S, "reason", choice("spam", "left the institution"), 0.95),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                N("studentid", S, "the institution's student number (a key)", student_no, 0.5),
                C("preferredname", S, "PII", "display name", display_name, 0.6),
                C("email", S, "PII", "email", email),
                N("admin", I64, "flag", choice(0, 0, 0, 1)),
                N("staff", I64, "flag", choice(0, 0, 1)),
                N("authinstance", I64, "key", choice(1, 1, 2)),
                N("ctime", TS, "timestamp", ts),
                N("quota", I64, "bytes", choice(52428800, 104857600)),
                N("quotaused", I64, "bytes", intr(0, 52428800)),
                C(
                    "urlid",
                    S,
                    "PII",
                    "the profile's URL name (the user's handle)",
                    lambda g: username(g).replace(".", "-"),
                    0.3,
                ),
            ],
        )
    )
    t.append(
        T(
            "mahara",
            "usr_password_request",
            60,
            [
                N("usr", I64, "key", intr(1, 200)),
                C("key", S, "CREDENTIAL", "the key of the password-reset link", hexs(32)),
                N("expiry", TS, "timestamp", ts),
            ],
        )
    )
    # ---- ILIAS
    t.append(
        T(
            "ilias",
            "usr_data",
            120,
            [
                N("usr_id", I64, "key", seq()),
                C("login", S, "PII", "login name", username),
                C("passwd", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$", 12), 0.2),
                N("passwd_enc_type", S, "hash algorithm name", choice("bcryptphp", "md5"), 0.2),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                N("title", S, "academic title", choice("Dr.", "Prof. Dr.", ""), 0.7),
                N("gender", S, "gender", choice("m", "f", "n"), 0.3),
                C("email", S, "PII", "email", email),
                C("second_email", S, "PII", "second email", email, 0.9),
                N("institution", S, "institution", company, 0.5),
                C("street", S, "PII", "street address", street, 0.6),
                N("city", S, "city", city, 0.6),
                C("zipcode", S, "PII", "postcode", postcode, 0.6),
                N("country", S, "country", country_code, 0.6),
                C("phone_office", S, "PII", "the person's office phone", phone, 0.6),
                C("phone_home", S, "PII", "home phone", phone, 0.8),
                C("phone_mobile", S, "PII", "mobile phone", phone, 0.6),
                C("fax", S, "PII", "fax number", phone, 0.95),
                C("birthday", D32, "PII", "date of birth", birth, 0.7),
                N("matriculation", S, "the university's matriculation number (a key)", student_no, 0.4),
                N("hobby", S, "free text", choice("chess", "hiking", "music"), 0.9),
                N("department", S, "department", choice("Physics", "Law", "Medicine", "IT Services"), 0.5),
                N("last_login", TS, "timestamp", ts, 0.2),
                N("create_date", TS, "timestamp", ts),
                N("active", I64, "flag", choice(1, 1, 1, 0)),
                N("time_limit_unlimited", I64, "flag", choice(1, 1, 0)),
                C("ext_account", S, "PII", "the directory (LDAP/Shibboleth) login", username, 0.6),
                N("auth_mode", S, "authentication mode", choice("default", "local", "ldap_1", "shibboleth")),
                N("is_self_registered", B, "flag", boolean(0.3)),
            ],
        )
    )
    # ---- Harbor
    t.append(
        T(
            "harbor",
            "harbor_user",
            80,
            [
                N("user_id", I64, "key", seq()),
                C("username", S, "PII", "login name", username),
                C("email", S, "PII", "email", work_email),
                C("password", S, "CREDENTIAL", "PBKDF2 password hash (hex)", hexs(32)),
                C("realname", S, "PII", "full name", name),
                N("comment", S, "free text", choice("", "CI admin", "team lead"), 0.6),
                N("deleted", B, "flag", boolean(0.05)),
                C("reset_uuid", S, "CREDENTIAL", "the UUID of the password-reset link", uid, 0.9),
                N("salt", S, "salt", alnum(32)),
                N("sysadmin_flag", B, "flag", boolean(0.1)),
                N("creation_time", TS, "timestamp", ts),
                N("update_time", TS, "timestamp", ts),
                N("password_version", S, "hash algorithm name", choice("sha256", "sha1")),
            ],
        )
    )
    t.append(
        T(
            "harbor",
            "robot",
            60,
            [
                N("id", I64, "key", seq()),
                N(
                    "name",
                    S,
                    "robot account name",
                    lambda g: f"robot$library+{g.r.choice(['ci', 'deploy', 'scanner'])}{g.r.randint(1, 9)}",
                ),
                N("description", S, "label", choice("push from CI", "pull for k8s", ""), 0.3),
                N("project_id", I64, "key", intr(1, 30)),
                N("expires_at", I64, "epoch seconds", epoch),
                N("disabled", B, "flag", boolean(0.1)),
                C("secret", S, "CREDENTIAL", "hash of the robot account's secret", hexs(32)),
                N("salt", S, "salt", alnum(32)),
                N("creation_time", TS, "timestamp", ts),
                N("duration", I64, "days", choice(-1, 30, 90, 365)),
            ],
        )
    )
    # ---- BigBlueButton Greenlight 2
    t.append(
        T(
            "bigbluebutton",
            "users",
            100,
            [
                N("id", I64, "key", seq()),
                N("room_id", I64, "key", intr(1, 300)),
                N("provider", S, "authentication provider", choice("greenlight", "google", "office365", "ldap")),
                N("uid", S, "internal user id", lambda g: "gl-" + g.s(LOWER, 12)),
                C("name", S, "PII", "full name", name),
                C("username", S, "PII", "login name", username, 0.5),
                C("email", S, "PII", "email", email),
                N("social_uid", S, "the identity provider's subject id (an external id)", lambda g: g.digits(21), 0.6),
                C("password_digest", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2a$", 12), 0.4),
                N("accepted_terms", B, "flag", boolean(0.9)),
                N("created_at", TS, "timestamp", ts),
                N("updated_at", TS, "timestamp", ts),
                N("email_verified", B, "flag", boolean(0.8)),
                N("language", S, "language", choice("default", "en", "de", "pt-BR", "fr")),
                C(
                    "reset_digest",
                    S,
                    "CREDENTIAL",
                    "bcrypt of the password-reset token (a token digest)",
                    bcrypt("$2a$", 12),
                    0.85,
                ),
                N("reset_sent_at", TS, "timestamp", ts, 0.85),
                N(
                    "activation_digest",
                    S,
                    "bcrypt of the email-activation token (an email-confirmation code)",
                    bcrypt("$2a$", 12),
                    0.6,
                ),
                N("activated_at", TS, "timestamp", ts, 0.3),
                N("deleted", B, "flag", boolean(0.05)),
                N("role_id", I64, "role key", choice(1, 2, 3)),
            ],
        )
    )
    return t


FEDENA = ["en_IN", "en_IN", "en_IN", "en_GB", "en_US", "en_AU"]  # Fedena: schools in India and the Commonwealth


def fd(part: str) -> Callable[[Gen], Any]:
    return lambda g: getattr(g.loc(FEDENA), part)()


def fd_phone(g: Gen) -> str:
    return phone(g, FEDENA)


def fd_state(g: Gen) -> str:
    f = g.loc(FEDENA)
    return f.state() if hasattr(f, "state") else f.city()


def tables_d() -> list[Table]:
    t: list[Table] = []
    # ---- Vendure (camelCase)
    t.append(
        T(
            "vendure",
            "customer",
            120,
            [
                N("id", I64, "key", seq()),
                N("createdAt", TS, "timestamp", ts),
                N("updatedAt", TS, "timestamp", ts),
                N("deletedAt", TS, "timestamp", ts, 0.95),
                N("title", S, "salutation", choice("Mr", "Ms", "Mrs"), 0.7),
                C("firstName", S, "PII", "given name", first),
                C("lastName", S, "PII", "family name", last),
                C("phoneNumber", S, "PII", "phone", phone, 0.5),
                C("emailAddress", S, "PII", "email", email),
                N("userId", I64, "key", intr(1, 400), 0.2),
            ],
        )
    )
    t.append(
        T(
            "vendure",
            "user",
            110,
            [
                N("id", I64, "key", seq()),
                N("createdAt", TS, "timestamp", ts),
                N("deletedAt", TS, "timestamp", ts, 0.95),
                C("identifier", S, "PII", "the login (the customer's email)", email),
                N("verified", B, "flag", boolean(0.85)),
                N("lastLogin", TS, "timestamp", ts, 0.2),
            ],
        )
    )
    t.append(
        T(
            "vendure",
            "authentication_method",
            110,
            [
                N("id", I64, "key", seq()),
                N("createdAt", TS, "timestamp", ts),
                N(
                    "type",
                    S,
                    "kind of method",
                    choice("NativeAuthenticationMethod", "NativeAuthenticationMethod", "ExternalAuthenticationMethod"),
                ),
                C("identifier", S, "PII", "the login (email)", email, 0.15),
                C("passwordHash", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2b$", 12), 0.15),
                C(
                    "verificationToken",
                    S,
                    "CREDENTIAL",
                    "registration token: with it the customer sets the first password",
                    lambda g: b64(g.raw(12)) + "_" + g.s(ALNUM, 10),
                    0.8,
                ),
                C(
                    "passwordResetToken",
                    S,
                    "CREDENTIAL",
                    "password-reset token",
                    lambda g: b64(g.raw(12)) + "_" + g.s(ALNUM, 10),
                    0.9,
                ),
                N(
                    "identifierChangeToken",
                    S,
                    "email-change confirmation code",
                    lambda g: b64(g.raw(12)) + "_" + g.s(ALNUM, 10),
                    0.95,
                ),
                C("pendingIdentifier", S, "PII", "the pending new email", email, 0.95),
                N("strategy", S, "external strategy name", choice("google", "keycloak"), 0.8),
                N("externalIdentifier", S, "the identity provider's id (an external id)", lambda g: g.digits(21), 0.8),
                N("userId", I64, "key", intr(1, 400)),
            ],
        )
    )
    t.append(
        T(
            "vendure",
            "address",
            120,
            [
                N("id", I64, "key", seq()),
                N("createdAt", TS, "timestamp", ts),
                C("fullName", S, "PII", "the addressee's name", name),
                N("company", S, "company", company, 0.8),
                C("streetLine1", S, "PII", "street address", street),
                C("streetLine2", S, "PII", "second address line", address_line2, 0.7),
                N("city", S, "city", city),
                N("province", S, "state or province", state, 0.4),
                C("postalCode", S, "PII", "postcode", postcode),
                C("phoneNumber", S, "PII", "phone", phone, 0.3),
                N("defaultShippingAddress", B, "flag", boolean(0.6)),
                N("defaultBillingAddress", B, "flag", boolean(0.6)),
                N("customerId", I64, "key", intr(1, 400)),
                N("countryId", I64, "country key", intr(1, 240)),
            ],
        )
    )
    # ---- Sakai (upper-case Oracle/MySQL names)
    t.append(
        T(
            "sakai",
            "SAKAI_USER",
            110,
            [
                N("USER_ID", S, "key", uid),
                C("EMAIL", S, "PII", "email", email, 0.1),
                C("EMAIL_LC", S, "PII", "email, lower-cased", lambda g: email(g).lower(), 0.1),
                C("FIRST_NAME", S, "PII", "given name", first),
                C("LAST_NAME", S, "PII", "family name", last),
                N("TYPE", S, "account type", choice("registered", "guest", "maintain", "student")),
                C("PW", S, "CREDENTIAL", "PBKDF2 password hash", lambda g: "PBKDF2:" + b64(g.raw(40)), 0.3),
                N("CREATEDBY", S, "key of the creating user", uid),
                N("MODIFIEDBY", S, "key of the modifying user", uid),
                N("CREATEDON", TS, "timestamp", ts),
                N("MODIFIEDON", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "sakai",
            "SAKAI_USER_ID_MAP",
            110,
            [
                N("USER_ID", S, "key", uid),
                C("EID", S, "PII", "the enterprise id (the campus login)", username),
            ],
        )
    )
    t.append(
        T(
            "sakai",
            "SAKAI_SESSION",
            130,
            [
                C("SESSION_ID", S, "CREDENTIAL", "the session id (the value of the session cookie)", uid),
                N("SESSION_SERVER", S, "server name", lambda g: f"sakai-app{g.r.randint(1, 4)}-{g.digits(13)}"),
                N("SESSION_USER", S, "key", uid),
                C("SESSION_IP", S, "PII", "client IP address", ip_any),
                N("SESSION_USER_AGENT", S, "user agent", user_agent),
                N("SESSION_START", TS, "timestamp", ts),
                N("SESSION_END", TS, "timestamp", ts),
                N("SESSION_ACTIVE", B, "flag", boolean(0.1)),
            ],
        )
    )
    # ---- Omeka S
    t.append(
        T(
            "omeka",
            "user",
            70,
            [
                N("id", I64, "key", seq()),
                C("email", S, "PII", "email", email),
                C("name", S, "PII", "display name", name),
                N("created", TS, "timestamp", ts),
                N("modified", TS, "timestamp", ts, 0.3),
                C("password_hash", S, "CREDENTIAL", "bcrypt of the password", bcrypt("$2y$"), 0.1),
                N("role", S, "role", choice("researcher", "author", "reviewer", "editor", "site_admin")),
                N("is_active", B, "flag", boolean(0.9)),
            ],
        )
    )
    t.append(
        T(
            "omeka",
            "api_key",
            60,
            [
                N("id", S, "the key identity (sent beside the credential, like a client id)", alnum(32)),
                N("owner_id", I64, "key", intr(1, 70)),
                N("label", S, "label", choice("import script", "mobile app", "harvester")),
                C("credential_hash", S, "CREDENTIAL", "bcrypt of the key credential", bcrypt("$2y$")),
                C("last_ip", S, "PII", "client IP address", ip_any, 0.3),
                N("last_accessed", TS, "timestamp", ts, 0.3),
                N("created", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "omeka",
            "password_creation",
            55,
            [
                C("id", S, "CREDENTIAL", "the token of the activation and password-reset link", password_reset_id),
                N("user_id", I64, "key", intr(1, 70)),
                N("created", TS, "timestamp", ts),
                N("activate", B, "flag", boolean(0.5)),
            ],
        )
    )
    # ---- Umbraco members
    t.append(
        T(
            "umbraco",
            "cmsMember",
            100,
            [
                N("nodeId", I64, "key", seq()),
                C("Email", S, "PII", "email", email),
                C("LoginName", S, "PII", "login name (mostly the email)", login_or_email),
                C("Password", S, "CREDENTIAL", "ASP.NET Core Identity V3 password hash", aspnet_v3),
                N(
                    "passwordConfig",
                    S,
                    "hash settings (JSON, no secret)",
                    lambda g: '{"hashAlgorithm":"PBKDF2.ASPNETCORE.V3"}',
                ),
                N("securityStampToken", S, "security stamp (changes to sign the member out everywhere)", uid),
                N("emailConfirmedDate", TS, "timestamp", ts, 0.4),
                N("failedPasswordAttempts", I64, "count", intr(0, 4)),
                N("isLockedOut", B, "flag", boolean(0.03)),
                N("isApproved", B, "flag", boolean(0.9)),
                N("lastLoginDate", TS, "timestamp", ts, 0.2),
                N("lastLockoutDate", TS, "timestamp", ts, 0.9),
                N("lastPasswordChangeDate", TS, "timestamp", ts, 0.3),
            ],
        )
    )
    # ---- Fedena
    t.append(
        T(
            "fedena",
            "students",
            130,
            [
                N("id", I64, "key", seq()),
                N("admission_no", S, "admission number (the school's key)", lambda g: str(g.r.randint(1000, 9999))),
                N("class_roll_no", S, "roll number", lambda g: str(g.r.randint(1, 60)), 0.3),
                N("admission_date", D32, "date", date_),
                C("first_name", S, "PII", "given name", fd("first_name")),
                C("middle_name", S, "PII", "middle name", fd("first_name"), 0.7),
                C("last_name", S, "PII", "family name", fd("last_name")),
                N("batch_id", I64, "key", intr(1, 40)),
                C(
                    "date_of_birth",
                    D32,
                    "PII",
                    "date of birth",
                    lambda g: dt.date(2006, 1, 1) + dt.timedelta(days=g.r.randint(0, 4500)),
                ),
                N("gender", S, "gender", choice("m", "f")),
                N("blood_group", S, "blood group", choice("A+", "B+", "O+", "AB-", "Unknown"), 0.3),
                N("birth_place", S, "place of birth", lambda g: g.loc(FEDENA).city(), 0.5),
                N("nationality_id", I64, "nationality (key)", choice(76, 76, 76, 225)),
                N("language", S, "language", choice("English", "Hindi", "Tamil", "Malayalam"), 0.4),
                N("religion", S, "religion", choice("Hindu", "Christian", "Muslim", "Sikh"), 0.4),
                N("student_category_id", I64, "key", intr(1, 5), 0.3),
                C("address_line1", S, "PII", "home street address", lambda g: g.loc(FEDENA).street_address(), 0.2),
                C("address_line2", S, "PII", "second address line", address_line2, 0.6),
                N("city", S, "city", lambda g: g.loc(FEDENA).city(), 0.2),
                N("state", S, "state", fd_state, 0.3),
                C("pin_code", S, "PII", "postcode of the home address", lambda g: g.loc(FEDENA).postcode(), 0.3),
                N("country_id", I64, "country key", choice(76, 76, 225)),
                C("phone1", S, "PII", "phone", fd_phone, 0.4),
                C("phone2", S, "PII", "second phone", fd_phone, 0.8),
                C("email", S, "PII", "email", lambda g: g.loc(FEDENA).free_email(), 0.5),
                N("immediate_contact_id", I64, "key", intr(1, 300), 0.3),
                N("is_sms_enabled", B, "flag", boolean(0.8)),
                N(
                    "photo_file_name",
                    S,
                    "uploaded photo file name",
                    choice("photo.jpg", "IMG_0231.JPG", "student.png"),
                    0.6,
                ),
                N("is_active", B, "flag", boolean(0.95)),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "fedena",
            "guardians",
            110,
            [
                N("id", I64, "key", seq()),
                N("ward_id", I64, "key", intr(1, 300)),
                C("first_name", S, "PII", "given name", fd("first_name")),
                C("last_name", S, "PII", "family name", fd("last_name")),
                N("relation", S, "relationship", choice("Father", "Mother", "Guardian")),
                C("email", S, "PII", "email", lambda g: g.loc(FEDENA).free_email(), 0.4),
                C("office_phone1", S, "PII", "the guardian's work phone (reaches the person)", fd_phone, 0.7),
                C("mobile_phone", S, "PII", "mobile phone", fd_phone, 0.1),
                N(
                    "office_address_line1",
                    S,
                    "the employer's office address",
                    lambda g: g.loc(FEDENA).street_address(),
                    0.7,
                ),
                N("city", S, "city", lambda g: g.loc(FEDENA).city(), 0.3),
                N("occupation", S, "occupation", job, 0.3),
                N("income", S, "income (pay)", lambda g: str(g.r.randint(10, 200) * 1000), 0.5),
                N("education", S, "education", choice("Graduate", "Post Graduate", "Higher Secondary"), 0.5),
                C("dob", D32, "PII", "date of birth", birth, 0.6),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
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


def expiry(g: Gen) -> str:
    return f"{g.r.randint(1, 12):02d}/{g.r.randint(26, 32)}"


def vat(g: Gen) -> str:
    return g.r.choice(["DE", "FR", "IT", "ES", "GB", "SE"]) + g.digits(9)


def cron(g: Gen) -> str:
    return g.r.choice(["*/5 * * * *", "0 3 * * *", "15 2 * * 1", "0 */6 * * *"])


def opaque_tables() -> list[Table]:
    o = "opaque"
    return [
        T(
            o,
            "contacts_export",
            140,
            [
                N("col_1", I64, "row numbers", seq()),
                C("col_2", S, "PII", "first names", first),
                C("col_3", S, "PII", "last names", last),
                C("col_4", S, "PII", "emails", email, 0.1),
                C("col_5", S, "PII", "phone numbers", phone, 0.3),
                N("col_6", S, "company names", company, 0.3),
                N("col_7", S, "job titles", job, 0.4),
                C("col_8", S, "PII", "street addresses", street, 0.3),
                N("col_9", S, "cities", city, 0.3),
                C("col_10", S, "PII", "postcodes", postcode, 0.3),
                N("col_11", S, "states", state, 0.4),
                N("col_12", S, "country codes", country_code, 0.2),
                N("col_13", S, "statuses", choice("customer", "prospect", "churned", "lead")),
                N("col_14", DEC, "amounts", amount, 0.4),
                N("col_15", S, "dates (ISO)", lambda g: ts(g).date().isoformat()),
                N("col_16", B, "flags", boolean(0.5)),
                C("col_17", D32, "PII", "birth dates", birth, 0.6),
                N("col_18", S, "free-text notes", sentence, 0.7),
                N("col_19", S, "company websites", lambda g: "https://www." + g.loc().domain_name(), 0.5),
                N("col_20", S, "tags", choice("vip", "newsletter", "b2b", "event-2025", ""), 0.3),
            ],
        ),
        T(
            o,
            "users_dump",
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
                    0.1,
                ),
                N("field_e", TS, "creation timestamps", ts),
                N("field_f", I64, "last login, epoch seconds", epoch, 0.2),
                N("field_g", S, "statuses", choice("active", "active", "disabled", "pending")),
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
                C("field_m", S, "CREDENTIAL", "password-reset tokens (hex)", hexs(64), 0.8),
                N("field_n", S, "Gravatar digests (MD5)", md5_hex, 0.4),
                N("field_o", S, "password salts", alnum(16), 0.2),
                C("field_p", S, "PII", "full names", name, 0.1),
                C("field_q", S, "CREDENTIAL", "TOTP secrets (base32)", b32(32), 0.7),
                N("field_r", S, "plans", choice("free", "pro", "team", "enterprise")),
                N("field_s", S, "referral codes", lambda g: g.s(UPPER + string.digits, 8), 0.5),
            ],
        ),
        T(
            o,
            "kyc",
            110,
            [
                N("attr1", S, "customer numbers of the exporting system (keys)", lambda g: "C" + g.digits(7)),
                C("attr2", S, "PII", "full names", name),
                C("attr3", S, "SENSITIVE", "national ids of the customers' countries", national_id, 0.2),
                C("attr4", S, "SENSITIVE", "IBANs", iban, 0.3),
                N("attr5", S, "BICs", choice("DEUTDEFF", "BNPAFRPP", "CAIXESBB", "BARCGB22", "UNCRITMM", "NDEASESS")),
                N("attr6", DEC, "balances", amount),
                C("attr7", S, "PII", "birth dates as typed", dob_text, 0.1),
                C("attr8", S, "SENSITIVE", "passport numbers", passport, 0.6),
                C("attr9", S, "SENSITIVE", "payment card numbers", card, 0.5),
                N("attr10", S, "masked card numbers", masked_card, 0.5),
                N("attr11", S, "card expiry (MM/YY)", expiry, 0.5),
                C("attr12", S, "SENSITIVE", "US social security numbers", ssn, 0.6),
                C("attr13", S, "SENSITIVE", "bank account numbers", bank_account, 0.5),
                C("attr14", S, "PII", "mobile numbers", phone, 0.2),
                N("attr15", S, "nationalities (country names)", lambda g: g.loc().current_country()),
                N("attr16", S, "occupations", job, 0.3),
                N("attr17", S, "KYC statuses", choice("verified", "pending", "rejected")),
                N("attr18", S, "VAT numbers of business customers", vat, 0.8),
            ],
        ),
        T(
            o,
            "settings",
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
                    lambda g: f"{g.r.choice(['api', 'db', 'cache'])}-{g.r.randint(1, 20)}.internal",
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
                C("x14", S, "PII", "the owners' emails", work_email, 0.4),
                C("x15", S, "CREDENTIAL", "Slack webhook URLs (the path is the secret)", slack_webhook, 0.6),
                N("x16", S, "cron expressions", cron),
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
    for tab in tables() + tables_b() + tables_c() + tables_d() + opaque_tables():
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
