"""Generate the second blind PII evaluation set (issue #15, item 2): the held-out one.

    .venv/bin/python tests/data/pii_eval_v2/make_set.py      # rewrite data/*.parquet and labels.csv

Set 1 (tests/data/pii_eval) has been scored and is now used for development; this set uses other
public schemas (SOURCES, README.md), other opaque column names and other value mixes (other
countries' phones, IBANs and national ids, other providers' credentials, other look-alikes).
Every label is decided here from the column's meaning, with set 1's taxonomy and rules, before
any detector has run on it. Values come from Faker (other locales than set 1, fixed seeds) and
from the national formats written below, whose check digits are computed or verified with
python-stdnum; phone numbers are checked with phonenumbers where the column holds valid numbers.
Running this again gives the same files.
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

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker
from stdnum import iban as std_iban
from stdnum import isbn as std_isbn
from stdnum import luhn
from stdnum.be import nn as be_nn
from stdnum.ch import ssn as ch_ssn
from stdnum.cl import rut as cl_rut
from stdnum.dk import cpr as dk_cpr
from stdnum.fi import hetu as fi_hetu
from stdnum.it import codicefiscale as it_cf
from stdnum.mx import curp as mx_curp
from stdnum.nl import bsn as nl_bsn
from stdnum.no import fodselsnummer as no_fnr
from stdnum.pl import pesel as pl_pesel
from stdnum.se import personnummer as se_pnr
from stdnum.za import idnr as za_idnr

HERE = Path(__file__).resolve().parent
SEED = 20261215
LOCALES = ["nl_NL", "sv_SE", "pl_PL", "it_IT", "es_MX", "en_AU", "da_DK", "fi_FI", "no_NO", "cs_CZ", "tr_TR",
           "es_CL", "ko_KR", "zh_CN"]
LATIN = LOCALES[:12]

SOURCES: dict[str, tuple[str, str]] = {
    "hubspot": ("HubSpot CRM objects: contacts, companies, deals (default properties)",
                "https://developers.hubspot.com/docs/api/crm/contacts"),
    "shopify": ("Shopify Admin REST API: Customer, Order, CustomerAddress; app access token",
                "https://shopify.dev/docs/api/admin-rest/latest/resources/customer"),
    "zendesk": ("Zendesk Support API: users, tickets, organizations",
                "https://developer.zendesk.com/api-reference/ticketing/users/users/"),
    "intercom": ("Intercom REST API: contacts", "https://developers.intercom.com/docs/references/rest-api/api.intercom.io/contacts"),
    "chinook": ("Chinook sample database", "https://github.com/lerocha/chinook-database"),
    "northwind": ("Northwind sample database (PostgreSQL port)", "https://github.com/pthom/northwind_psql"),
    "mysql_employees": ("MySQL employees sample database (test_db)", "https://github.com/datacharmer/test_db"),
    "omop": ("OMOP Common Data Model 5.4: person, visit_occurrence, provider, death",
             "https://ohdsi.github.io/CommonDataModel/cdm54.html"),
    "openemr": ("OpenEMR patient_data table", "https://github.com/openemr/openemr/blob/master/sql/database.sql"),
    "moodle": ("Moodle mdl_user table", "https://github.com/moodle/moodle/blob/main/lib/db/install.xml"),
    "mailchimp": ("Mailchimp Marketing API: list members",
                  "https://mailchimp.com/developer/marketing/api/list-members/"),
    "twilio": ("Twilio REST API: Message, Call, Account/API key resources",
               "https://www.twilio.com/docs/messaging/api/message-resource"),
    "auth0": ("Auth0 normalized user profile", "https://auth0.com/docs/manage-users/user-accounts/user-profiles/user-profile-structure"),
    "keycloak": ("Keycloak JPA schema: user_entity, credential",
                 "https://github.com/keycloak/keycloak/tree/main/model/jpa/src/main/resources/META-INF"),
    "paypal": ("PayPal Orders v2 API: payer, order", "https://developer.paypal.com/docs/api/orders/v2/"),
    "adyen": ("Adyen Checkout API: /payments request and response",
              "https://docs.adyen.com/api-explorer/Checkout/latest/post/payments"),
    "github_rest": ("GitHub REST API: users (private user)", "https://docs.github.com/en/rest/users/users"),
    "jira": ("Jira Cloud REST API v3: users", "https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-users/"),
    "sap_bp": ("SAP Business Partner tables BUT000, BUT0ID, BUT0BK", "https://www.leanx.eu/en/sap/table/but000.html"),
    "companies_house": ("UK Companies House public data API: officer list items",
                        "https://developer-specs.company-information.service.gov.uk/companies-house-public-data-api/resources/officerlist"),
    "schema_org": ("schema.org Person (flattened)", "https://schema.org/Person"),
    "opaque": ("Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
               "tests/data/pii_eval_v2/README.md"),
}


# --------------------------------------------------------------------------- value makers


class Gen:
    """The random sources: one seeded Random and one Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.fk = {loc: Faker(loc) for loc in LOCALES}
        for i, loc in enumerate(LOCALES):
            self.fk[loc].seed_instance(seed + i)

    def loc(self, locales: list[str] | None = None) -> Faker:
        return self.fk[self.r.choice(locales or LATIN)]

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return self.s(string.digits, n)

    def raw(self, n: int) -> bytes:
        return bytes(self.r.getrandbits(8) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase
UPPER_ALNUM = UPPER + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def until(g: Gen, make: Callable[[Gen], str], ok: Callable[[str], bool], tries: int = 5000) -> str:
    """The first value of ``make`` that ``ok`` accepts (rejection sampling on a check digit)."""
    for _ in range(tries):
        value = make(g)
        if ok(value):
            return value
    raise RuntimeError(f"no valid value from {make}")


def birth(g: Gen, lo: int = 1935, hi: int = 2006) -> dt.date:
    return dt.date(lo, 1, 1) + dt.timedelta(days=g.r.randint(0, (hi - lo) * 365))


# phones: valid numbers (libphonenumber metadata), in several notations

PHONE_REGIONS = ["MX", "KR", "ZA", "AU", "SE", "PL", "TR", "AR", "CN", "NG", "NL", "IT", "DK", "FI", "NO", "CZ",
                 "CL", "NZ", "IE", "PH"]


def valid_phone(g: Gen, regions: list[str] | None = None) -> phonenumbers.PhoneNumber:
    region = g.r.choice(regions or PHONE_REGIONS)
    kind = g.r.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.MOBILE,
                       phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    nsn = str(example.national_number)
    keep = max(2, len(nsn) - 6)
    for _ in range(500):
        candidate = phonenumbers.PhoneNumber(country_code=example.country_code,
                                             national_number=int(nsn[:keep] + g.digits(len(nsn) - keep)))
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return example


def phone_intl(g: Gen, regions: list[str] | None = None) -> str:
    return phonenumbers.format_number(valid_phone(g, regions), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_e164(g: Gen, regions: list[str] | None = None) -> str:
    return phonenumbers.format_number(valid_phone(g, regions), phonenumbers.PhoneNumberFormat.E164)


def phone_mixed(g: Gen, regions: list[str] | None = None) -> str:
    """What people type: international, E.164, national with the locale's grouping, now and then 00."""
    x = g.r.random()
    if x < 0.3:
        return phone_intl(g, regions)
    if x < 0.45:
        return phone_e164(g, regions)
    if x < 0.55:
        return "00" + phone_e164(g, regions)[1:]
    return g.loc().phone_number()


def phone_local(g: Gen, locale: str) -> str:
    return g.fk[locale].phone_number()


# IBANs of countries set 1 did not use; check digits by stdnum, national check digits by rejection

IBAN_BBAN: dict[str, Callable[[Gen], str]] = {
    "PL": lambda g: g.digits(24),
    "SE": lambda g: g.digits(20),
    "NO": lambda g: g.digits(11),
    "DK": lambda g: g.digits(14),
    "FI": lambda g: g.digits(14),
    "AT": lambda g: g.digits(16),
    "IE": lambda g: g.s(UPPER, 4) + g.digits(14),
    "CZ": lambda g: g.digits(20),
    "HU": lambda g: g.digits(24),
    "SK": lambda g: g.digits(20),
    "HR": lambda g: g.digits(17),
    "LU": lambda g: g.digits(3) + g.s(UPPER_ALNUM, 13),
    "RO": lambda g: g.s(UPPER, 4) + g.s(UPPER_ALNUM, 16),
    "TR": lambda g: g.digits(5) + "0" + g.s(UPPER_ALNUM, 16),
    "SA": lambda g: g.digits(2) + g.s(UPPER_ALNUM, 18),
    "AE": lambda g: g.digits(19),
}


def iban(g: Gen, countries: list[str] | None = None, spaced: float = 0.4) -> str:
    cc = g.r.choice(countries or list(IBAN_BBAN))

    def make(g: Gen) -> str:
        bban = IBAN_BBAN[cc](g)
        return cc + std_iban.calc_check_digits(cc + "00" + bban) + bban

    value = until(g, make, std_iban.is_valid)
    return std_iban.format(value) if g.r.random() < spaced else value


def card_number(g: Gen) -> str:
    """JCB, Diners, UnionPay, Maestro, Mir: brands set 1 did not use; Luhn-valid."""
    kind = g.r.choice(["jcb", "diners", "unionpay", "maestro", "mir"])
    body = {
        "jcb": lambda: str(g.r.randint(3528, 3589)) + g.digits(11),
        "diners": lambda: g.r.choice(["36", "38"]) + g.digits(11),
        "unionpay": lambda: "62" + g.digits(g.r.choice([13, 16])),
        "maestro": lambda: g.r.choice(["6759", "5018", "6304"]) + g.digits(g.r.choice([11, 14])),
        "mir": lambda: str(g.r.randint(2200, 2204)) + g.digits(11),
    }[kind]()
    num = body + luhn.calc_check_digit(body)
    assert luhn.is_valid(num)
    if g.r.random() < 0.3 and len(num) == 16:
        return " ".join(num[i : i + 4] for i in range(0, 16, 4))
    return num


# national identity numbers of other countries, valid by stdnum

def bsn(g: Gen) -> str:
    v = until(g, lambda g: str(g.r.randint(1, 9)) + g.digits(8), nl_bsn.is_valid)
    return nl_bsn.format(v) if g.r.random() < 0.3 else v


def personnummer_se(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        head = b.strftime("%y%m%d") + g.digits(3)
        return f"{head[:6]}-{head[6:]}{luhn.calc_check_digit(head)}"

    v = until(g, make, se_pnr.is_valid)
    return v.replace("-", "") if g.r.random() < 0.2 else v


def pesel(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        month = b.month + (20 if b.year >= 2000 else 0)
        head = f"{b.year % 100:02d}{month:02d}{b.day:02d}" + g.digits(4)
        return head + pl_pesel.calc_check_digit(head)

    return until(g, make, pl_pesel.is_valid)


def nn_be(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        head = b.strftime("%y%m%d") + f"{g.r.randint(1, 997):03d}"
        base = ("2" + head) if b.year >= 2000 else head
        check = 97 - int(base) % 97
        return f"{head[:2]}.{head[2:4]}.{head[4:6]}-{head[6:]}.{check:02d}"

    v = until(g, make, be_nn.is_valid)
    return be_nn.compact(v) if g.r.random() < 0.3 else v


def cpr_dk(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        return b.strftime("%d%m%y") + "-" + g.digits(4)

    return until(g, make, dk_cpr.is_valid)


HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def hetu_fi(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        serial = f"{g.r.randint(2, 899):03d}"
        head = b.strftime("%d%m%y")
        sign = "A" if b.year >= 2000 else "-"
        return head + sign + serial + HETU_CHECK[int(head + serial) % 31]

    return until(g, make, fi_hetu.is_valid)


def fnr_no(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g, 1940, 1999)
        head = b.strftime("%d%m%y") + f"{g.r.randint(0, 499):03d}"
        try:
            c1 = no_fnr.calc_check_digit1(head)
            return head + c1 + no_fnr.calc_check_digit2(head + c1)
        except Exception:  # a check digit of 10: no such number
            return head + "00"

    return until(g, make, no_fnr.is_valid)


CURP_STATES = ["AS", "BC", "CH", "DF", "GT", "JC", "MC", "NL", "PL", "QT", "SL", "VZ", "YN"]
CONSONANTS = "BCDFGHJKLMNPQRSTVWXYZ"


def curp_mx(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g, 1950, 2005)
        head = (g.r.choice(CONSONANTS) + g.r.choice("AEIOU") + g.s(UPPER, 2) + b.strftime("%y%m%d")
                + g.r.choice("HM") + g.r.choice(CURP_STATES) + g.s(CONSONANTS, 3)
                + (g.digits(1) if b.year < 2000 else g.r.choice(UPPER)))
        return head + mx_curp.calc_check_digit(head)

    return until(g, make, mx_curp.is_valid)


def rut_cl(g: Gen) -> str:
    n = str(g.r.randint(5_000_000, 26_000_000))
    v = n + cl_rut.calc_check_digit(n)
    return cl_rut.format(v) if g.r.random() < 0.7 else f"{n}-{v[-1]}"


def idnr_za(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        head = b.strftime("%y%m%d") + g.digits(4) + g.r.choice("01") + "8"
        return head + luhn.calc_check_digit(head)

    return until(g, make, za_idnr.is_valid)


CF_MONTHS = "ABCDEHLMPRST"


def codice_fiscale(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        day = b.day + (40 if g.r.random() < 0.5 else 0)
        head = (g.s(CONSONANTS, 3) + g.s(UPPER, 3) + b.strftime("%y") + CF_MONTHS[b.month - 1] + f"{day:02d}"
                + g.r.choice("ABCDEFGHLMZ") + g.digits(3))
        return head + it_cf.calc_check_digit(head)

    return until(g, make, it_cf.is_valid)


def ahv_ch(g: Gen) -> str:
    def make(g: Gen) -> str:
        body = "756" + g.digits(9)
        total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
        n = body + str((10 - total % 10) % 10)
        return f"{n[:3]}.{n[3:7]}.{n[7:11]}.{n[11:]}"

    return until(g, make, ch_ssn.is_valid)


def nordic_id(g: Gen) -> str:
    return g.r.choice([personnummer_se, cpr_dk, hetu_fi, fnr_no])(g)


def europe_id(g: Gen) -> str:
    return g.r.choice([bsn, pesel, nn_be, codice_fiscale, ahv_ch, personnummer_se])(g)


def cpf_plain(g: Gen) -> str:
    d = [g.r.randint(0, 9) for _ in range(9)]
    d.append(sum(x * (10 - i) for i, x in enumerate(d)) * 10 % 11 % 10)
    d.append(sum(x * (11 - i) for i, x in enumerate(d)) * 10 % 11 % 10)
    return "".join(map(str, d))


def ssn_us(g: Gen) -> str:
    area = g.r.choice([n for n in range(1, 900) if n != 666])
    s = f"{area:03d}{g.r.randint(1, 99):02d}{g.r.randint(1, 9999):04d}"
    return s if g.r.random() < 0.5 else f"{s[:3]}-{s[3:5]}-{s[5:]}"


def drivers_license_us(g: Gen) -> str:
    kind = g.r.choice(["WA", "IL", "PA", "OH", "MI", "NJ"])
    return {
        "WA": lambda: "WDL" + g.s(UPPER_ALNUM, 9),
        "IL": lambda: g.s(UPPER, 1) + g.digits(11),
        "PA": lambda: g.digits(8),
        "OH": lambda: g.s(UPPER, 2) + g.digits(6),
        "MI": lambda: g.s(UPPER, 1) + g.digits(12),
        "NJ": lambda: g.s(UPPER, 1) + g.digits(14),
    }[kind]()


def mrn(g: Gen) -> str:
    return g.r.choice(["MRN", "", "E"]) + g.digits(g.r.choice([7, 8, 10]))


def passport_other(g: Gen) -> str:
    kind = g.r.choice(["NL", "SE", "PL", "IT", "MX", "AU", "KR"])
    return {
        "NL": lambda: g.s(UPPER, 2) + g.s(UPPER_ALNUM, 6) + g.digits(1),
        "SE": lambda: g.digits(8),
        "PL": lambda: g.s(UPPER, 2) + g.digits(7),
        "IT": lambda: g.s(UPPER, 2) + g.digits(7),
        "MX": lambda: g.s(UPPER, 1) + g.digits(8),
        "AU": lambda: g.s(UPPER, g.r.choice([1, 2])) + g.digits(7),
        "KR": lambda: "M" + g.digits(8),
    }[kind]()


# credentials of providers set 1 did not use

def twilio_key_sid(g: Gen) -> str:
    return "SK" + g.s(HEX, 32)


def sendgrid_key(g: Gen) -> str:
    return "SG." + g.s(B64URL, 22) + "." + g.s(B64URL, 43)


def mailgun_key(g: Gen) -> str:
    return "key-" + g.s(HEX, 32)


def npm_token(g: Gen) -> str:
    return "npm_" + g.s(ALNUM, 36)


def pypi_token(g: Gen) -> str:
    return "pypi-AgEIcHlwaS5vcmc" + g.s(B64URL, g.r.randint(120, 170))


def shopify_token(g: Gen) -> str:
    return g.r.choice(["shpat_", "shpat_", "shpca_", "shppa_"]) + g.s(HEX, 32)


def hubspot_pat(g: Gen) -> str:
    return f"pat-{g.r.choice(['na1', 'eu1', 'na2'])}-{uuid4(g)}"


def azure_storage_key(g: Gen) -> str:
    return base64.b64encode(g.raw(64)).decode()


def azure_conn_string(g: Gen) -> str:
    account = g.fk["en_AU"].word() + g.digits(4)
    return (f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={azure_storage_key(g)};"
            "EndpointSuffix=core.windows.net")


def do_token(g: Gen) -> str:
    return g.r.choice(["dop_v1_", "dop_v1_", "doo_v1_"]) + g.s(HEX, 64)


def vault_token(g: Gen) -> str:
    return "hvs." + g.s(ALNUM + "_-", g.r.choice([24, 90]))


def gitlab_pat(g: Gen) -> str:
    return "glpat-" + g.s(B64URL, 20)


def sha512crypt(g: Gen) -> str:
    return "$6$" + g.s(ALNUM + "./", 16) + "$" + g.s(ALNUM + "./", 86)


def argon2_phc(g: Gen) -> str:
    return ("$argon2id$v=19$m=65536,t=3,p=4$" + base64.b64encode(g.raw(16)).decode().rstrip("=") + "$"
            + base64.b64encode(g.raw(32)).decode().rstrip("="))


def bcrypt_2y(g: Gen) -> str:
    return "$2y$10$" + g.s("./" + ALNUM, 53)


def basic_auth_url(g: Gen) -> str:
    f = g.fk["en_AU"]
    scheme = g.r.choice(["https", "postgres", "amqp", "redis", "mongodb+srv"])
    return f"{scheme}://{f.user_name()}:{g.s(ALNUM + '!*~', g.r.randint(12, 28))}@{f.domain_name()}/{f.word()}"


def openssh_key(g: Gen) -> str:
    kind = g.r.choice(["OPENSSH PRIVATE KEY", "PGP PRIVATE KEY BLOCK", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"])
    body = base64.b64encode(g.raw(g.r.choice([300, 420, 900]))).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def keycloak_secret(g: Gen) -> str:
    value = base64.b64encode(g.raw(64)).decode()
    salt = base64.b64encode(g.raw(16)).decode()
    return json.dumps({"value": value, "salt": salt, "additionalParameters": {}}, separators=(",", ":"))


def keycloak_cred_data(g: Gen) -> str:
    return json.dumps({"hashIterations": g.r.choice([27500, 210000]), "algorithm": "pbkdf2-sha512",
                       "additionalParameters": {}}, separators=(",", ":"))


def opaque_token(g: Gen) -> str:
    return g.s(B64URL, g.r.choice([40, 64]))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_rs(g: Gen) -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": g.s(B64URL, 20)}
    now = 1_770_000_000 + g.r.randint(0, 20_000_000)
    payload = {"iss": "https://" + g.fk["en_AU"].domain_name() + "/", "sub": "auth0|" + g.s(HEX, 24),
               "aud": ["https://api." + g.fk["en_AU"].domain_name()], "iat": now, "exp": now + 86400,
               "scope": "openid profile email"}
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)]
    return ".".join([*parts, b64url(g.raw(256))])


# PII makers

def email(g: Gen) -> str:
    f = g.loc()
    value = f.email() if g.r.random() < 0.6 else f.free_email()
    x = g.r.random()
    if x < 0.05:
        return value.upper()
    if x < 0.12:
        user, domain = value.split("@")
        return f"{user}+{g.r.choice(['news', 'shop', '2026'])}@{domain}"
    return value


def name(g: Gen) -> str:
    return g.loc().name()


def first(g: Gen) -> str:
    return g.loc().first_name()


def last(g: Gen) -> str:
    return g.loc().last_name()


def street(g: Gen) -> str:
    return g.loc().street_address()


def postcode(g: Gen) -> str:
    return g.loc().postcode()


def ip(g: Gen) -> str:
    return g.fk["nl_NL"].ipv4_public() if g.r.random() < 0.75 else g.fk["nl_NL"].ipv6()


def dob(g: Gen) -> dt.date:
    return birth(g)


# NONE makers

def uuid4(g: Gen) -> str:
    return str(uuid.UUID(int=g.r.getrandbits(128), version=4))


def ts(g: Gen) -> dt.datetime:
    return dt.datetime(2018, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=g.r.randint(0, 8 * 365 * 86400))


def iso(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%dT%H:%M:%SZ")


def date(g: Gen) -> dt.date:
    return dt.date(1990, 1, 1) + dt.timedelta(days=g.r.randint(0, 12000))


def ms(g: Gen) -> int:
    return int(ts(g).timestamp() * 1000)


def choice(*options: Any) -> Callable[[Gen], Any]:
    return lambda g: g.r.choice(options)


def intr(lo: int, hi: int) -> Callable[[Gen], int]:
    return lambda g: g.r.randint(lo, hi)


def money(lo: float, hi: float, places: int = 2) -> Callable[[Gen], float]:
    return lambda g: round(g.r.uniform(lo, hi), places)


def dec(lo: float, hi: float) -> Callable[[Gen], Decimal]:
    return lambda g: Decimal(f"{g.r.uniform(lo, hi):.2f}")


def moneystr(lo: float, hi: float) -> Callable[[Gen], str]:
    return lambda g: f"{g.r.uniform(lo, hi):.2f}"


def boolean(p: float = 0.5) -> Callable[[Gen], bool]:
    return lambda g: g.r.random() < p


def sentence(g: Gen) -> str:
    return g.fk["en_AU"].sentence(nb_words=g.r.randint(4, 14))


def company(g: Gen) -> str:
    return g.loc().company()


CITY_LOCALES = [loc for loc in LATIN if loc != "it_IT"]  # Faker's it_IT city() depends on the hash seed


def city(g: Gen) -> str:
    return g.loc(CITY_LOCALES).city()


def cc2(g: Gen) -> str:
    return g.r.choice(["NL", "SE", "PL", "IT", "MX", "AU", "DK", "FI", "NO", "CZ", "TR", "CL", "KR", "CN"])


def hexs(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


def job(g: Gen) -> str:
    return g.fk["en_AU"].job()


def isbn13(g: Gen) -> str:
    body = g.r.choice(["978", "979"]) + g.digits(9)
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    n = body + str((10 - total % 10) % 10)
    assert std_isbn.is_valid(n)
    return f"{n[:3]}-{n[3]}-{n[4:8]}-{n[8:12]}-{n[12]}" if g.r.random() < 0.5 else n


def isbn10(g: Gen) -> str:
    body = g.digits(9)
    c = sum(int(x) * (10 - i) for i, x in enumerate(body))
    check = (11 - c % 11) % 11
    n = body + ("X" if check == 10 else str(check))
    assert std_isbn.is_valid(n)
    return n


def ups_tracking(g: Gen) -> str:
    return "1Z" + g.s(UPPER_ALNUM, 6) + g.digits(10)


def fedex_tracking(g: Gen) -> str:
    return g.digits(12)


def usps_tracking(g: Gen) -> str:
    n = "9400" + g.digits(18)
    return " ".join(n[i : i + 4] for i in range(0, 22, 4)) if g.r.random() < 0.4 else n


def semver(g: Gen) -> str:
    v = f"{g.r.randint(0, 12)}.{g.r.randint(0, 40)}.{g.r.randint(0, 99)}"
    return v + g.r.choice(["", "", "", "-rc.1", "-beta.3", "+build.77"])


def coords(g: Gen) -> str:
    return f"{g.r.uniform(-60, 70):.6f}, {g.r.uniform(-180, 180):.6f}"


def lei(g: Gen) -> str:
    """Legal Entity Identifier (ISO 17442): 18 characters and two ISO 7064 mod 97-10 check digits."""
    body = g.digits(4) + "00" + g.s(UPPER_ALNUM, 12)
    num = int("".join(str(int(c, 36)) for c in body + "00"))
    return body + f"{98 - num % 97:02d}"


def ulid(g: Gen) -> str:
    return g.s("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)


def gtin14(g: Gen) -> str:
    body = g.r.choice("1234") + g.digits(12)
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


def pod_name(g: Gen) -> str:
    return f"{g.r.choice(['web', 'worker', 'api', 'ingest'])}-{g.s(HEX, 10)}-{g.s('bcdfghjklmnpqrstvwxz2456789', 5)}"


def image_digest(g: Gen) -> str:
    return "sha256:" + g.s(HEX, 64)


def file_sha256(g: Gen) -> str:
    return hashlib.sha256(g.raw(32)).hexdigest()


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
TS, D32, DEC = pa.timestamp("us", tz="UTC"), pa.date32(), pa.decimal128(10, 2)


def C(name: str, typ: pa.DataType, label: str, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, label, reason, make, nulls)


def N(name: str, typ: pa.DataType, reason: str, make: Callable[[Gen], Any], nulls: float = 0.0) -> Col:
    return Col(name, typ, "NONE", reason, make, nulls)


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- HubSpot CRM (property internal names)
    t.append(Table("hubspot", "contacts", 120, [
        N("hs_object_id", I64, "record id", intr(1, 90_000_000_000)),
        C("email", S, "PII", "contact's email", email, 0.05),
        C("firstname", S, "PII", "given name", first, 0.05),
        C("lastname", S, "PII", "family name", last, 0.05),
        C("phone", S, "PII", "contact's phone, mixed notations", phone_mixed, 0.2),
        C("mobilephone", S, "PII", "contact's mobile, E.164", phone_e164, 0.4),
        C("address", S, "PII", "contact's street address", street, 0.3),
        C("zip", S, "PII", "contact's postcode", postcode, 0.3),
        N("city", S, "city (borderline: NONE)", city, 0.3),
        N("country", S, "country (borderline: NONE)", cc2, 0.3),
        N("jobtitle", S, "job title (borderline: NONE)", job, 0.3),
        N("company", S, "company name (borderline: NONE)", company, 0.3),
        N("lifecyclestage", S, "enum", choice("subscriber", "lead", "marketingqualifiedlead", "customer")),
        N("hs_lead_status", S, "enum", choice("NEW", "OPEN", "IN_PROGRESS", "UNQUALIFIED"), 0.2),
        N("createdate", TS, "timestamp", ts),
        N("hubspot_owner_id", S, "owner (user) id, numeric text", lambda g: g.digits(8)),
        C("date_of_birth", S, "PII", "date of birth as text (HubSpot date property)",
          lambda g: dob(g).isoformat(), 0.5),
        N("hs_ip_timezone", S, "time zone derived from the IP, not the IP", choice("europe_slash_amsterdam",
          "america_slash_mexico_city", "australia_slash_sydney")),
    ]))
    t.append(Table("hubspot", "companies", 80, [
        N("hs_object_id", I64, "record id", intr(1, 90_000_000_000)),
        N("name", S, "company name", company),
        N("domain", S, "company web domain", lambda g: g.loc().domain_name()),
        N("industry", S, "enum", choice("COMPUTER_SOFTWARE", "RETAIL", "HOSPITAL_HEALTH_CARE", "BANKING")),
        N("numberofemployees", I64, "count", intr(1, 50000)),
        N("annualrevenue", F64, "amount", money(1e4, 1e9)),
        N("website", S, "company website", lambda g: "https://www." + g.loc().domain_name()),
        N("lifecyclestage", S, "enum", choice("lead", "customer", "evangelist")),
    ]))
    t.append(Table("hubspot", "deals", 100, [
        N("hs_object_id", I64, "record id", intr(1, 90_000_000_000)),
        N("dealname", S, "deal title",
          lambda g: company(g) + " - " + g.r.choice(["renewal", "new business", "upsell"])),
        N("amount", S, "amount as text", moneystr(100, 500000)),
        N("dealstage", S, "pipeline stage id",
          choice("appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost")),
        N("pipeline", S, "pipeline id", choice("default")),
        N("closedate", TS, "timestamp", ts),
        N("hs_deal_stage_probability", F64, "probability", money(0, 1, 2)),
    ]))
    # ---- Shopify Admin REST
    t.append(Table("shopify", "customer", 120, [
        N("id", I64, "customer id", intr(6_000_000_000_000, 7_999_999_999_999)),
        C("email", S, "PII", "customer's email", email, 0.05),
        C("first_name", S, "PII", "given name", first),
        C("last_name", S, "PII", "family name", last),
        C("phone", S, "PII", "customer's phone in E.164, as Shopify stores it", phone_e164, 0.4),
        N("state", S, "account state enum", choice("enabled", "disabled", "invited", "declined")),
        N("verified_email", B, "flag", boolean(0.9)),
        N("orders_count", I64, "count", intr(0, 80)),
        N("total_spent", S, "amount as text", moneystr(0, 9000)),
        N("currency", S, "currency code", choice("EUR", "SEK", "PLN", "MXN", "AUD", "DKK")),
        N("tags", S, "merchant's tags", choice("vip", "wholesale", "newsletter, vip", ""), 0.3),
        N("tax_exempt", B, "flag", boolean(0.05)),
        N("created_at", S, "ISO timestamp text", iso),
        C("default_address_address1", S, "PII", "customer's street address", street, 0.1),
        C("default_address_zip", S, "PII", "customer's postcode", postcode, 0.1),
        N("default_address_country_code", S, "country (borderline: NONE)", cc2, 0.1),
        N("default_address_province_code", S, "region code (borderline: NONE)",
          choice("NH", "AB", "MZ", "NSW", "VIC", "CMX", "JAL"), 0.2),
    ]))
    t.append(Table("shopify", "order", 150, [
        N("id", I64, "order id", intr(5_000_000_000_000, 5_999_999_999_999)),
        N("name", S, "order name #1001", lambda g: f"#{g.r.randint(1001, 99999)}"),
        N("order_number", I64, "order number", intr(1001, 99999)),
        C("email", S, "PII", "buyer's email", email, 0.05),
        C("browser_ip", S, "PII", "buyer's client IP address", ip, 0.2),
        N("total_price", S, "amount as text", moneystr(5, 3000)),
        N("financial_status", S, "enum", choice("paid", "pending", "refunded", "partially_refunded")),
        N("fulfillment_status", S, "enum", choice("fulfilled", "partial", None)),
        C("shipping_address_name", S, "PII", "recipient's full name", name, 0.1),
        C("shipping_address_address1", S, "PII", "recipient's street address", street, 0.1),
        C("shipping_address_phone", S, "PII", "recipient's phone, mixed notations", phone_mixed, 0.4),
        N("shipping_address_city", S, "city (borderline: NONE)", city, 0.1),
        N("landing_site", S, "URL path of the shop", choice("/", "/collections/sale", "/products/mug?ref=ig")),
        N("processed_at", TS, "timestamp", ts),
        N("fulfillments_tracking_number", S, "carrier tracking number (UPS/USPS)",
          lambda g: ups_tracking(g) if g.r.random() < 0.5 else usps_tracking(g), 0.3),
    ]))
    t.append(Table("shopify", "customer_address", 90, [
        N("id", I64, "address id", intr(7_000_000_000_000, 8_999_999_999_999)),
        N("customer_id", I64, "foreign key", intr(6_000_000_000_000, 7_999_999_999_999)),
        C("address1", S, "PII", "street address", street),
        C("zip", S, "PII", "postcode of a person's address", postcode),
        C("name", S, "PII", "addressee's name", name),
        N("company", S, "company name (borderline: NONE)", company, 0.6),
        N("country_name", S, "country name (borderline: NONE)", lambda g: g.loc().country()),
        N("default", B, "flag", boolean(0.5)),
    ]))
    t.append(Table("shopify", "app_installation", 50, [
        N("shop_domain", S, "the shop's myshopify domain",
          lambda g: g.fk["en_AU"].word() + "-" + g.fk["en_AU"].word() + ".myshopify.com"),
        C("access_token", S, "CREDENTIAL", "Admin API access token shpat_/shpca_/shppa_", shopify_token),
        N("scope", S, "granted scopes", choice("read_products,write_orders", "read_customers", "read_orders")),
        N("installed_at", TS, "timestamp", ts),
    ]))
    # ---- Zendesk Support
    t.append(Table("zendesk", "users", 120, [
        N("id", I64, "user id", intr(360_000_000_000, 399_999_999_999)),
        C("name", S, "PII", "user's full name", name),
        C("email", S, "PII", "user's email", email, 0.1),
        C("phone", S, "PII", "user's phone, E.164 or international", lambda g: phone_intl(g) if g.r.random() < 0.5
          else phone_e164(g), 0.5),
        N("role", S, "enum", choice("end-user", "agent", "admin")),
        N("time_zone", S, "time zone name", choice("Amsterdam", "Stockholm", "Warsaw", "Mexico City", "Sydney")),
        N("locale", S, "locale", choice("nl", "sv", "pl", "es-419", "en-AU")),
        N("organization_id", I64, "foreign key", intr(360_000_000_000, 399_999_999_999)),
        N("external_id", S, "id in the customer's system (opaque)", lambda g: "usr-" + g.digits(6), 0.4),
        N("verified", B, "flag", boolean(0.8)),
        N("last_login_at", S, "ISO timestamp text", iso, 0.3),
        N("shared_phone_number", B, "flag", boolean(0.1)),
    ]))
    t.append(Table("zendesk", "tickets", 150, [
        N("id", I64, "ticket id", intr(1, 900000)),
        N("subject", S, "ticket subject", sentence),
        N("status", S, "enum", choice("new", "open", "pending", "solved", "closed")),
        N("priority", S, "enum", choice("low", "normal", "high", "urgent"), 0.3),
        N("requester_id", I64, "foreign key", intr(360_000_000_000, 399_999_999_999)),
        N("assignee_id", I64, "foreign key", intr(360_000_000_000, 399_999_999_999)),
        N("via_channel", S, "enum", choice("email", "web", "api", "chat")),
        N("created_at", TS, "timestamp", ts),
        N("satisfaction_rating_score", S, "enum", choice("good", "bad", "unoffered")),
    ]))
    t.append(Table("zendesk", "organizations", 60, [
        N("id", I64, "organization id", intr(360_000_000_000, 399_999_999_999)),
        N("name", S, "company name", company),
        N("domain_names", S, "company domains", lambda g: g.loc().domain_name()),
        N("shared_tickets", B, "flag", boolean(0.3)),
        N("created_at", TS, "timestamp", ts),
    ]))
    # ---- Intercom
    t.append(Table("intercom", "contacts", 100, [
        N("id", S, "contact id, 24 hex", hexs(24)),
        N("external_id", S, "the app's user id (UUID)", uuid4, 0.3),
        N("role", S, "enum", choice("user", "lead")),
        C("email", S, "PII", "contact's email", email, 0.1),
        C("phone", S, "PII", "contact's phone, international", phone_intl, 0.5),
        C("name", S, "PII", "contact's name", name, 0.2),
        N("signed_up_at", I64, "unix seconds", lambda g: int(ts(g).timestamp())),
        N("last_seen_at", I64, "unix seconds", lambda g: int(ts(g).timestamp())),
        N("browser", S, "browser name", choice("chrome", "firefox", "safari", "edge")),
        N("os", S, "OS name", choice("Windows 11", "macOS 14", "iOS 17", "Android 14")),
        N("location_city_name", S, "city derived from IP (borderline: NONE)", city),
        N("unsubscribed_from_emails", B, "flag", boolean(0.2)),
    ]))
    # ---- Chinook
    t.append(Table("chinook", "Customer", 59, [
        N("CustomerId", I64, "key", intr(1, 59)),
        C("FirstName", S, "PII", "given name", first),
        C("LastName", S, "PII", "family name", last),
        N("Company", S, "company (borderline: NONE)", company, 0.8),
        C("Address", S, "PII", "customer's street address", street),
        N("City", S, "city", city),
        N("State", S, "state", choice("SP", "CA", "NY", "ON", "RJ"), 0.5),
        N("Country", S, "country", lambda g: g.loc().country()),
        C("PostalCode", S, "PII", "customer's postcode", postcode, 0.05),
        C("Phone", S, "PII", "customer's phone", phone_mixed, 0.02),
        C("Fax", S, "PII", "customer's fax number (a number that reaches the person)", phone_intl, 0.8),
        C("Email", S, "PII", "customer's email", email),
        N("SupportRepId", I64, "foreign key", intr(3, 5)),
    ]))
    t.append(Table("chinook", "Employee", 50, [
        N("EmployeeId", I64, "key", intr(1, 50)),
        C("LastName", S, "PII", "family name", last),
        C("FirstName", S, "PII", "given name", first),
        N("Title", S, "job title", choice("Sales Support Agent", "IT Staff", "Sales Manager", "General Manager")),
        N("ReportsTo", I64, "foreign key", intr(1, 6)),
        C("BirthDate", TS, "PII", "employee's date of birth (datetime column)",
          lambda g: dt.datetime.combine(dob(g), dt.time(), tzinfo=dt.UTC)),
        N("HireDate", TS, "timestamp", ts),
        C("Address", S, "PII", "employee's home address", street),
        C("Email", S, "PII", "employee's email", email),
    ]))
    t.append(Table("chinook", "Invoice", 200, [
        N("InvoiceId", I64, "key", intr(1, 412)),
        N("CustomerId", I64, "foreign key", intr(1, 59)),
        N("InvoiceDate", TS, "timestamp", ts),
        C("BillingAddress", S, "PII", "customer's billing street address", street),
        N("BillingCity", S, "city", city),
        C("BillingPostalCode", S, "PII", "customer's billing postcode", postcode, 0.05),
        N("Total", DEC, "amount", dec(0.99, 25.86)),
    ]))
    t.append(Table("chinook", "Track", 150, [
        N("TrackId", I64, "key", intr(1, 3503)),
        N("Name", S, "track title", lambda g: " ".join(g.fk["en_AU"].words(g.r.randint(1, 4))).title()),
        N("Milliseconds", I64, "duration", intr(60000, 600000)),
        N("Bytes", I64, "file size", intr(1_000_000, 20_000_000)),
        N("UnitPrice", DEC, "price", choice(Decimal("0.99"), Decimal("1.99"))),
    ]))
    # ---- Northwind
    t.append(Table("northwind", "customers", 91, [
        N("customer_id", S, "five-letter customer code", lambda g: g.s(UPPER, 5)),
        N("company_name", S, "company name", company),
        C("contact_name", S, "PII", "contact person's name", name),
        N("contact_title", S, "job title", choice("Sales Representative", "Owner", "Marketing Manager")),
        N("address", S, "a customer company's address (like Oracle HR LOCATIONS: NONE)", street),
        N("city", S, "city", city),
        N("country", S, "country", lambda g: g.loc().country()),
    ]))
    t.append(Table("northwind", "employees", 50, [
        N("employee_id", I64, "key", intr(1, 50)),
        C("last_name", S, "PII", "family name", last),
        C("first_name", S, "PII", "given name", first),
        N("title_of_courtesy", S, "salutation (borderline: NONE)", choice("Mr.", "Ms.", "Dr.", "Mrs.")),
        C("birth_date", D32, "PII", "date of birth", dob),
        N("hire_date", D32, "date", date),
        C("address", S, "PII", "employee's home address", street),
        C("postal_code", S, "PII", "employee's home postcode", postcode),
        C("home_phone", S, "PII", "employee's home phone", lambda g: phone_local(g, g.r.choice(LATIN))),
        N("notes", S, "free text", sentence),
        N("reports_to", I64, "foreign key", intr(1, 5), 0.1),
    ]))
    t.append(Table("northwind", "orders", 200, [
        N("order_id", I64, "key", intr(10248, 11077)),
        N("customer_id", S, "customer code", lambda g: g.s(UPPER, 5)),
        N("order_date", D32, "date", date),
        N("shipped_date", D32, "date", date, 0.1),
        N("freight", F64, "amount", money(0, 1000)),
        N("ship_name", S, "a company's name", company),
        N("ship_country", S, "country", lambda g: g.loc().country()),
    ]))
    t.append(Table("northwind", "products", 77, [
        N("product_id", I64, "key", intr(1, 77)),
        N("product_name", S, "name", lambda g: " ".join(g.fk["it_IT"].words(2)).title()),
        N("quantity_per_unit", S, "pack size",
          choice("10 boxes x 20 bags", "24 - 12 oz bottles", "12 - 550 ml bottles")),
        N("unit_price", F64, "price", money(2, 260)),
        N("units_in_stock", I64, "count", intr(0, 125)),
        N("discontinued", I64, "0/1 flag", choice(0, 1)),
    ]))
    # ---- MySQL employees sample
    t.append(Table("mysql_employees", "employees", 150, [
        N("emp_no", I64, "key", intr(10001, 499999)),
        C("birth_date", D32, "PII", "date of birth", lambda g: birth(g, 1952, 1965)),
        C("first_name", S, "PII", "given name", first),
        C("last_name", S, "PII", "family name", last),
        N("gender", S, "gender (borderline: NONE)", choice("M", "F")),
        N("hire_date", D32, "date", date),
    ]))
    t.append(Table("mysql_employees", "salaries", 200, [
        N("emp_no", I64, "key", intr(10001, 499999)),
        N("salary", I64, "pay figure (borderline: NONE)", intr(38000, 158000)),
        N("from_date", D32, "date", date),
        N("to_date", D32, "date", date),
    ]))
    t.append(Table("mysql_employees", "titles", 120, [
        N("emp_no", I64, "key", intr(10001, 499999)),
        N("title", S, "job title", choice("Engineer", "Senior Engineer", "Staff", "Senior Staff", "Technique Leader")),
        N("from_date", D32, "date", date),
    ]))
    t.append(Table("mysql_employees", "departments", 50, [
        N("dept_no", S, "department code d001", lambda g: f"d{g.r.randint(1, 9):03d}"),
        N("dept_name", S, "department (borderline: NONE)", choice("Marketing", "Finance", "Human Resources",
          "Production", "Development")),
    ]))
    # ---- OMOP CDM 5.4
    t.append(Table("omop", "person", 150, [
        N("person_id", I64, "pseudonymous key", intr(1, 10_000_000)),
        N("gender_concept_id", I64, "concept id", choice(8507, 8532)),
        N("year_of_birth", I64, "year of birth alone (does not identify a person on its own: NONE)",
          intr(1930, 2010)),
        N("month_of_birth", I64, "month of birth alone", intr(1, 12), 0.2),
        C("birth_datetime", TS, "PII", "full date and time of birth",
          lambda g: dt.datetime.combine(dob(g), dt.time(g.r.randint(0, 23), g.r.randint(0, 59)), tzinfo=dt.UTC), 0.2),
        N("race_concept_id", I64, "concept id (borderline: NONE)", choice(8527, 8516, 8515, 0)),
        N("location_id", I64, "foreign key", intr(1, 50000), 0.1),
        C("person_source_value", S, "SENSITIVE", "the source EHR's patient identifier: medical record numbers", mrn),
        N("gender_source_value", S, "source code for gender", choice("M", "F", "U")),
    ]))
    t.append(Table("omop", "visit_occurrence", 200, [
        N("visit_occurrence_id", I64, "key", intr(1, 90_000_000)),
        N("person_id", I64, "pseudonymous key", intr(1, 10_000_000)),
        N("visit_concept_id", I64, "concept id", choice(9201, 9202, 9203)),
        N("visit_start_date", D32, "date", date),
        N("visit_end_date", D32, "date", date),
        N("provider_id", I64, "foreign key", intr(1, 20000), 0.2),
        N("visit_source_value", S, "source encounter code", lambda g: "ENC" + g.digits(9)),
    ]))
    t.append(Table("omop", "provider", 80, [
        N("provider_id", I64, "key", intr(1, 20000)),
        C("provider_name", S, "PII", "clinician's name", lambda g: "Dr. " + name(g)),
        N("specialty_concept_id", I64, "concept id", choice(38004446, 38004458, 38004461)),
        N("care_site_id", I64, "foreign key", intr(1, 300)),
        N("year_of_birth", I64, "year alone", intr(1950, 1995), 0.3),
    ]))
    t.append(Table("omop", "death", 60, [
        N("person_id", I64, "pseudonymous key", intr(1, 10_000_000)),
        C("death_date", D32, "PII", "date of death (set 1 rule: with date of birth)", date),
        N("cause_concept_id", I64, "concept id (clinical, no identifier: NONE)", intr(100000, 4000000)),
    ]))
    # ---- OpenEMR
    t.append(Table("openemr", "patient_data", 120, [
        N("pid", I64, "internal key", intr(1, 200000)),
        C("pubpid", S, "SENSITIVE", "the patient's external id: the medical record number", mrn),
        N("title", S, "salutation", choice("Mr.", "Mrs.", "Ms.", "Dr.", "")),
        C("fname", S, "PII", "given name", first),
        C("lname", S, "PII", "family name", last),
        C("mname", S, "PII", "middle name", first, 0.5),
        C("DOB", D32, "PII", "date of birth", dob),
        C("street", S, "PII", "patient's street address", street),
        C("postal_code", S, "PII", "patient's postcode", postcode),
        N("city", S, "city", city),
        N("country_code", S, "country", cc2),
        C("ss", S, "SENSITIVE", "US social security number", ssn_us, 0.3),
        C("drivers_license", S, "SENSITIVE", "US driver's licence numbers", drivers_license_us, 0.4),
        C("phone_home", S, "PII", "home phone", phone_mixed, 0.3),
        C("phone_cell", S, "PII", "mobile phone", phone_intl, 0.3),
        C("email", S, "PII", "patient's email", email, 0.2),
        N("sex", S, "sex (borderline: NONE)", choice("Male", "Female", "Unknown")),
        N("status", S, "marital status (borderline: NONE)", choice("married", "single", "divorced", "widowed", "")),
        N("occupation", S, "job (borderline: NONE)", job, 0.4),
        N("language", S, "language", choice("english", "spanish", "dutch", "polish")),
        C("mothersname", S, "PII", "mother's name", name, 0.6),
        C("contact_relationship", S, "PII", "emergency contact's name", name, 0.5),
        N("hipaa_allowsms", S, "YES/NO", choice("YES", "NO")),
        N("regdate", D32, "date", date),
        C("deceased_date", TS, "PII", "date of death", ts, 0.9),
    ]))
    # ---- Moodle
    t.append(Table("moodle", "mdl_user", 120, [
        N("id", I64, "key", intr(1, 400000)),
        N("auth", S, "auth plugin", choice("manual", "ldap", "oauth2", "saml2")),
        N("confirmed", I64, "0/1", choice(0, 1)),
        C("username", S, "PII", "login name", lambda g: g.loc().user_name()),
        C("password", S, "CREDENTIAL", "password hashes: bcrypt $2y$ and SHA-512 crypt $6$",
          lambda g: bcrypt_2y(g) if g.r.random() < 0.6 else sha512crypt(g)),
        N("idnumber", S, "institution's enrolment code (like an employee number: NONE)",
          lambda g: "S" + g.digits(6), 0.3),
        C("firstname", S, "PII", "given name", first),
        C("lastname", S, "PII", "family name", last),
        C("email", S, "PII", "user's email", email),
        C("phone1", S, "PII", "phone", phone_mixed, 0.5),
        N("institution", S, "organisation (borderline: NONE)", company, 0.5),
        N("department", S, "department", choice("Physics", "Law", "Economics", "Nursing"), 0.5),
        N("lang", S, "language code", choice("en", "nl", "sv", "pl", "it", "es_mx")),
        N("timezone", S, "time zone", choice("99", "Europe/Warsaw", "Australia/Sydney")),
        N("firstaccess", I64, "unix seconds", lambda g: int(ts(g).timestamp())),
        C("lastip", S, "PII", "client IP address of the last login", ip),
        C("secret", S, "CREDENTIAL", "password-reset secret (random 15 chars)", lambda g: g.s(ALNUM, 15), 0.6),
        N("description", S, "free text profile", sentence, 0.5),
        C("firstnamephonetic", S, "PII", "phonetic spelling of the given name", first, 0.8),
    ]))
    # ---- Mailchimp
    t.append(Table("mailchimp", "list_members", 150, [
        N("unique_email_id", S, "member id, 10 hex (not derived from the address)", hexs(10)),
        N("web_id", I64, "numeric id", intr(100000, 999999999)),
        C("email_address", S, "PII", "subscriber's email", email),
        N("status", S, "enum", choice("subscribed", "unsubscribed", "cleaned", "pending")),
        C("merge_fields_FNAME", S, "PII", "given name", first, 0.2),
        C("merge_fields_LNAME", S, "PII", "family name", last, 0.2),
        C("merge_fields_PHONE", S, "PII", "phone", phone_mixed, 0.5),
        C("merge_fields_ADDRESS_addr1", S, "PII", "street address", street, 0.5),
        C("merge_fields_BIRTHDAY", S, "PII", "birthday MM/DD (Mailchimp's birthday field; part of a date of birth)",
          lambda g: dob(g).strftime("%m/%d"), 0.5),
        C("ip_signup", S, "PII", "subscriber's client IP at signup", ip, 0.3),
        N("member_rating", I64, "1-5", intr(1, 5)),
        N("language", S, "language", choice("nl", "sv", "pl", "it", "es", "en")),
        N("vip", B, "flag", boolean(0.05)),
        N("location_latitude", F64, "latitude derived from the IP, city level (borderline: NONE)",
          money(-45, 65, 4)),
        N("location_country_code", S, "country", cc2),
        N("timestamp_signup", S, "ISO timestamp text", iso),
        N("list_id", S, "audience id, 10 hex", hexs(10)),
    ]))
    # ---- Twilio
    t.append(Table("twilio", "messages", 150, [
        N("sid", S, "message SID SM + 32 hex", lambda g: "SM" + g.s(HEX, 32)),
        N("account_sid", S, "account SID AC + 32 hex: an identifier", lambda g: "AC" + g.s(HEX, 32)),
        C("from", S, "PII", "sender phone number, E.164", phone_e164),
        C("to", S, "PII", "recipient phone number, E.164", phone_e164),
        N("body", S, "message text: shipping notices, no codes", lambda g: g.r.choice([
            "Your order #{} has shipped.", "Reminder: your appointment is tomorrow at {}:00.",
            "Thanks for shopping with us! Ref {}"]).format(g.r.randint(9, 99999))),
        N("status", S, "enum", choice("delivered", "sent", "failed", "undelivered", "received")),
        N("num_segments", I64, "count", intr(1, 4)),
        N("price", S, "amount as text", lambda g: f"-{g.r.uniform(0.005, 0.09):.5f}"),
        N("price_unit", S, "currency", choice("USD")),
        N("direction", S, "enum", choice("inbound", "outbound-api", "outbound-reply")),
        N("messaging_service_sid", S, "MG + 32 hex", lambda g: "MG" + g.s(HEX, 32), 0.4),
        N("date_sent", TS, "timestamp", ts),
        N("error_code", I64, "error code", choice(30003, 30005, 30006, 21610), 0.8),
    ]))
    t.append(Table("twilio", "calls", 100, [
        N("sid", S, "call SID CA + 32 hex", lambda g: "CA" + g.s(HEX, 32)),
        C("from_formatted", S, "PII", "caller's number, formatted", phone_intl),
        C("to", S, "PII", "callee's number", phone_e164),
        C("caller_name", S, "PII", "CNAM caller name", lambda g: name(g).upper(), 0.6),
        N("duration", S, "seconds as text", lambda g: str(g.r.randint(0, 3600))),
        N("start_time", TS, "timestamp", ts),
        N("answered_by", S, "enum", choice("human", "machine_start", "unknown"), 0.5),
    ]))
    t.append(Table("twilio", "api_credentials", 50, [
        N("account_sid", S, "account SID AC + 32 hex: an identifier", lambda g: "AC" + g.s(HEX, 32)),
        C("auth_token", S, "CREDENTIAL", "account auth token (32 hex)", hexs(32)),
        C("api_key_sid", S, "CREDENTIAL", "API key SID SK + 32 hex: the half of the pair scanners recognise "
          "(set 1's rule for AWS access key ids)", twilio_key_sid),
        C("api_key_secret", S, "CREDENTIAL", "API key secret", lambda g: g.s(ALNUM, 32)),
        N("friendly_name", S, "label", choice("prod", "staging", "ci")),
    ]))
    # ---- Auth0
    t.append(Table("auth0", "users", 120, [
        N("user_id", S, "user id provider|id", lambda g: g.r.choice(["auth0|", "google-oauth2|", "samlp|acme|"])
          + g.s(HEX, 24)),
        C("email", S, "PII", "user's email", email),
        N("email_verified", B, "flag", boolean(0.8)),
        C("name", S, "PII", "full name", name),
        C("nickname", S, "PII", "nickname (defaults to the email's local part: a login-like name)",
          lambda g: g.loc().user_name()),
        C("given_name", S, "PII", "given name", first, 0.3),
        C("family_name", S, "PII", "family name", last, 0.3),
        C("phone_number", S, "PII", "phone, E.164", phone_e164, 0.7),
        N("created_at", S, "ISO timestamp text", iso),
        N("logins_count", I64, "count", intr(1, 900)),
        C("last_ip", S, "PII", "client IP of the last login", ip),
        N("identities_provider", S, "enum", choice("auth0", "google-oauth2", "samlp")),
        N("identities_connection", S, "connection name", choice("Username-Password-Authentication", "google-oauth2")),
        C("identities_access_token", S, "CREDENTIAL", "upstream IdP access token (JWT or opaque)",
          lambda g: jwt_rs(g) if g.r.random() < 0.5 else "ya29." + g.s(B64URL, 150), 0.3),
        C("identities_refresh_token", S, "CREDENTIAL", "upstream IdP refresh token", lambda g: "1//0" + g.s(B64URL, 99),
          0.5),
        N("blocked", B, "flag", boolean(0.02)),
        N("app_metadata_plan", S, "enum", choice("free", "pro", "enterprise")),
    ]))
    # ---- Keycloak
    t.append(Table("keycloak", "user_entity", 100, [
        N("id", S, "UUID key", uuid4),
        C("email", S, "PII", "user's email", email, 0.1),
        C("email_constraint", S, "PII", "unique constraint column: the email (or a UUID when none)", email),
        N("email_verified", B, "flag", boolean(0.7)),
        N("enabled", B, "flag", boolean(0.95)),
        C("first_name", S, "PII", "given name", first),
        C("last_name", S, "PII", "family name", last),
        N("realm_id", S, "realm name/id", choice("master", "customers", "staff")),
        C("username", S, "PII", "login name", lambda g: g.loc().user_name()),
        N("created_timestamp", I64, "unix milliseconds", ms),
        N("not_before", I64, "0 or unix seconds", choice(0)),
    ]))
    t.append(Table("keycloak", "credential", 100, [
        N("id", S, "UUID key", uuid4),
        N("type", S, "credential type", choice("password")),
        N("user_id", S, "UUID foreign key", uuid4),
        N("created_date", I64, "unix milliseconds", ms),
        C("secret_data", S, "CREDENTIAL", "JSON with the password hash and salt", keycloak_secret),
        N("credential_data", S, "JSON with the hash algorithm and iteration count: parameters, no secret",
          keycloak_cred_data),
        N("priority", I64, "number", choice(10)),
    ]))
    # ---- PayPal
    t.append(Table("paypal", "payer", 100, [
        N("payer_id", S, "PayPal account id (13 chars)", lambda g: g.s(UPPER_ALNUM, 13)),
        C("email_address", S, "PII", "payer's email", email),
        C("name_given_name", S, "PII", "given name", first),
        C("name_surname", S, "PII", "surname", last),
        C("phone_phone_number_national_number", S, "PII", "phone national number, digits only",
          lambda g: str(valid_phone(g).national_number), 0.5),
        C("birth_date", S, "PII", "date of birth, YYYY-MM-DD", lambda g: dob(g).isoformat(), 0.6),
        C("tax_info_tax_id", S, "SENSITIVE", "Brazilian CPF (digits only)", cpf_plain, 0.6),
        N("tax_info_tax_id_type", S, "enum", choice("BR_CPF", "BR_CNPJ"), 0.6),
        C("address_address_line_1", S, "PII", "payer's street address", street, 0.3),
        C("address_postal_code", S, "PII", "payer's postcode", postcode, 0.3),
        N("address_country_code", S, "country", cc2),
    ]))
    t.append(Table("paypal", "order", 120, [
        N("id", S, "order id (17 chars)", lambda g: g.s(UPPER_ALNUM, 17)),
        N("intent", S, "enum", choice("CAPTURE", "AUTHORIZE")),
        N("status", S, "enum", choice("CREATED", "APPROVED", "COMPLETED")),
        N("purchase_units_amount_value", S, "amount as text", moneystr(1, 2000)),
        N("purchase_units_amount_currency_code", S, "currency", choice("EUR", "SEK", "PLN", "MXN", "AUD")),
        N("create_time", S, "ISO timestamp text", iso),
    ]))
    # ---- Adyen
    t.append(Table("adyen", "payments", 150, [
        N("pspReference", S, "Adyen's 16-char reference", lambda g: g.s(UPPER_ALNUM, 16)),
        N("merchantReference", S, "merchant's order reference", lambda g: "ORDER-" + g.digits(7)),
        N("amount_value", I64, "minor units", intr(100, 500000)),
        N("amount_currency", S, "currency", choice("EUR", "SEK", "NOK", "DKK", "PLN")),
        N("resultCode", S, "enum", choice("Authorised", "Refused", "Pending", "Cancelled")),
        N("shopperReference", S, "merchant's shopper id (opaque)", lambda g: "shopper_" + g.digits(8)),
        C("shopperEmail", S, "PII", "shopper's email", email, 0.1),
        C("shopperIP", S, "PII", "shopper's client IP", ip, 0.1),
        C("shopperName_firstName", S, "PII", "given name", first, 0.2),
        C("shopperName_lastName", S, "PII", "family name", last, 0.2),
        C("telephoneNumber", S, "PII", "shopper's phone", phone_mixed, 0.5),
        C("dateOfBirth", D32, "PII", "date of birth", dob, 0.6),
        C("socialSecurityNumber", S, "SENSITIVE", "personal identity numbers: SE, DK, FI, NO", nordic_id, 0.5),
        N("additionalData_cardSummary", S, "last four card digits (set 1 rule: NONE)", lambda g: g.digits(4), 0.3),
        N("additionalData_cardBin", S, "first six card digits, the issuer's BIN (PCI DSS allows showing them: NONE)",
          lambda g: g.r.choice(["4", "5", "35", "62"]) + g.digits(4), 0.3),
        N("additionalData_expiryDate", S, "card expiry M/YYYY",
          lambda g: f"{g.r.randint(1, 12)}/{g.r.randint(2026, 2034)}", 0.3),
        C("bankAccount_iban", S, "SENSITIVE", "shopper's IBAN (SEPA direct debit)",
          lambda g: iban(g, ["AT", "IE", "FI", "LU", "SK", "HR"]), 0.6),
        C("bankAccount_ownerName", S, "PII", "account holder's name", name, 0.6),
        C("billingAddress_street", S, "PII", "billing street (name part)", lambda g: g.loc().street_name(), 0.3),
        C("billingAddress_postalCode", S, "PII", "billing postcode", postcode, 0.3),
        N("merchantAccount", S, "merchant account name", choice("AcmeShopEU", "AcmeShopNordics")),
        N("authCode", S, "issuer's authorisation code, 6 digits", lambda g: g.digits(6), 0.3),
    ]))
    # ---- GitHub REST users
    t.append(Table("github_rest", "users", 100, [
        C("login", S, "PII", "login name", lambda g: g.loc().user_name().replace(".", "-")),
        N("id", I64, "user id", intr(1, 190_000_000)),
        N("node_id", S, "GraphQL node id", lambda g: "U_kgDO" + g.s(B64URL, 8)),
        C("name", S, "PII", "display name", name, 0.3),
        N("company", S, "company (borderline: NONE)", lambda g: "@" + g.fk["en_AU"].word(), 0.6),
        N("location", S, "free-text location, city level (borderline: NONE)", city, 0.5),
        C("email", S, "PII", "public email", email, 0.6),
        C("twitter_username", S, "PII", "a person's handle (a login name)", lambda g: g.loc().user_name(), 0.8),
        N("bio", S, "free text", sentence, 0.6),
        N("public_repos", I64, "count", intr(0, 300)),
        N("followers", I64, "count", intr(0, 5000)),
        N("hireable", B, "flag", boolean(0.2)),
        N("type", S, "enum", choice("User")),
        N("created_at", S, "ISO timestamp text", iso),
        N("two_factor_authentication", B, "flag", boolean(0.7)),
    ]))
    # ---- Jira Cloud users
    t.append(Table("jira", "users", 80, [
        N("accountId", S, "Atlassian account id", lambda g: "5b10" + g.s(HEX, 20)),
        N("accountType", S, "enum", choice("atlassian", "app", "customer")),
        C("displayName", S, "PII", "user's display name", name),
        C("emailAddress", S, "PII", "user's email", email, 0.3),
        N("active", B, "flag", boolean(0.9)),
        N("timeZone", S, "time zone", choice("Europe/Amsterdam", "Europe/Stockholm", "America/Mexico_City")),
        N("locale", S, "locale", choice("en_US", "nl_NL", "sv_SE", "pl_PL")),
    ]))
    # ---- SAP Business Partner
    t.append(Table("sap_bp", "BUT000", 120, [
        N("PARTNER", S, "business partner number, 10 digits zero-padded",
          lambda g: f"{g.r.randint(1, 9_999_999):010d}"),
        N("TYPE", S, "partner category 1/2/3", choice("1", "1", "2")),
        N("BU_GROUP", S, "grouping", choice("0001", "Z001", "KUND")),
        C("NAME_FIRST", S, "PII", "given name", first, 0.2),
        C("NAME_LAST", S, "PII", "family name", last, 0.2),
        C("BU_SORT1", S, "PII", "search term 1: the family name upper-cased", lambda g: last(g).upper()),
        N("NAME_ORG1", S, "organisation name", company, 0.7),
        C("BIRTHDT", S, "PII", "date of birth as SAP DATS YYYYMMDD", lambda g: dob(g).strftime("%Y%m%d"), 0.3),
        N("NATIO", S, "nationality (borderline: NONE)", cc2, 0.3),
        N("LANGU", S, "language key", choice("E", "D", "S", "I")),
        N("CRDAT", S, "creation date YYYYMMDD", lambda g: date(g).strftime("%Y%m%d")),
    ]))
    t.append(Table("sap_bp", "BUT0ID", 100, [
        N("PARTNER", S, "business partner number", lambda g: f"{g.r.randint(1, 9_999_999):010d}"),
        N("TYPE", S, "id type code", choice("FS0001", "FS0002", "ZPASS", "ZNID")),
        C("IDNUMBER", S, "SENSITIVE", "identification numbers: national ids (NL, PL, BE, IT, CH, SE) and passports",
          lambda g: europe_id(g) if g.r.random() < 0.7 else passport_other(g)),
        N("INSTITUTE", S, "issuing institution", choice("Gemeente", "Urząd", "Comune", "Polisen")),
        N("VALID_DATE_FROM", S, "YYYYMMDD", lambda g: date(g).strftime("%Y%m%d")),
    ]))
    t.append(Table("sap_bp", "BUT0BK", 100, [
        N("PARTNER", S, "business partner number", lambda g: f"{g.r.randint(1, 9_999_999):010d}"),
        N("BKVID", S, "bank details id", choice("0001", "0002")),
        N("BANKS", S, "bank country", choice("PL", "SE", "DK", "NO", "CZ", "HU")),
        N("BANKL", S, "bank key (names a bank, like a BIC: NONE)", lambda g: g.digits(8)),
        C("BANKN", S, "SENSITIVE", "bank account number", lambda g: g.digits(g.r.choice([10, 11, 14, 16]))),
        C("IBAN", S, "SENSITIVE", "IBAN", lambda g: iban(g, ["PL", "SE", "DK", "NO", "CZ", "HU"], spaced=0.0)),
        C("KOINH", S, "PII", "account holder's name", name, 0.3),
    ]))
    # ---- Companies House officers
    t.append(Table("companies_house", "officers", 100, [
        C("name", S, "PII", "officer's name, SURNAME, Forenames",
          lambda g: f"{g.fk['en_AU'].last_name().upper()}, {g.fk['en_AU'].first_name()}"),
        N("officer_role", S, "enum", choice("director", "secretary", "llp-member")),
        N("appointed_on", D32, "date", date),
        N("resigned_on", D32, "date", date, 0.7),
        N("nationality", S, "nationality (borderline: NONE)", choice("British", "Irish", "Polish", "Swedish")),
        N("country_of_residence", S, "country (borderline: NONE)", choice("England", "Scotland", "Wales")),
        N("occupation", S, "job (borderline: NONE)", job),
        N("date_of_birth_year", I64, "year of birth alone (Companies House publishes month and year only)",
          intr(1940, 2000)),
        N("date_of_birth_month", I64, "month of birth alone", intr(1, 12)),
        N("links_officer_appointments", S, "API path with an officer id",
          lambda g: f"/officers/{g.s(B64URL, 27)}/appointments"),
        N("etag", S, "sha1 hex of the resource", hexs(40)),
    ]))
    # ---- schema.org Person
    t.append(Table("schema_org", "Person", 100, [
        C("givenName", S, "PII", "given name", first),
        C("familyName", S, "PII", "family name", last),
        C("additionalName", S, "PII", "middle name", first, 0.6),
        C("email", S, "PII", "email", lambda g: "mailto:" + email(g) if g.r.random() < 0.3 else email(g), 0.2),
        C("telephone", S, "PII", "phone", phone_mixed, 0.3),
        C("faxNumber", S, "PII", "a person's fax number", phone_intl, 0.8),
        C("birthDate", S, "PII", "date of birth ISO 8601", lambda g: dob(g).isoformat(), 0.3),
        C("deathDate", S, "PII", "date of death", lambda g: date(g).isoformat(), 0.9),
        N("birthPlace", S, "place of birth (borderline: NONE)", city, 0.5),
        N("nationality", S, "nationality", cc2, 0.5),
        N("gender", S, "gender", choice("https://schema.org/Female", "https://schema.org/Male", "non-binary")),
        N("jobTitle", S, "job title", job, 0.4),
        N("worksFor_name", S, "employer", company, 0.4),
        C("taxID", S, "SENSITIVE", "tax identification numbers: IT codice fiscale, CL RUT, MX CURP",
          lambda g: g.r.choice([codice_fiscale, rut_cl, curp_mx])(g), 0.4),
        C("address_streetAddress", S, "PII", "street address", street, 0.3),
        C("address_postalCode", S, "PII", "postcode", postcode, 0.3),
        N("address_addressLocality", S, "city", city, 0.3),
        N("honorificPrefix", S, "salutation", choice("Dr.", "Mr.", "Ms.", "Prof."), 0.6),
        N("knowsLanguage", S, "language", choice("nl", "sv", "pl", "it", "es")),
    ]))
    # ---- opaque headers, content only: other names and other mixes than set 1
    t.append(Table("opaque", "dump_k", 150, [
        C("k01", S, "PII", "mobile and fixed numbers of 20 countries, international notation", phone_intl, 0.1),
        C("k02", S, "PII", "phone numbers in E.164 (MX, KR, ZA, AU, SE, PL, TR, AR, CN, NG...)", phone_e164, 0.1),
        C("k03", S, "PII", "phone numbers, national notation of NL, SE, PL, IT, MX, AU, DK, FI, NO, CZ, TR, CL",
          lambda g: g.loc().phone_number(), 0.1),
        C("k04", I64, "PII", "phone numbers as int64 digits with country code, no plus",
          lambda g: int(phone_e164(g)[1:])),
        C("k05", S, "PII", "emails (some upper-cased, some plus-addressed)", email, 0.05),
        C("k06", S, "PII", "client IPv6 addresses", lambda g: g.fk["nl_NL"].ipv6()),
        C("k07", S, "PII", "Korean and Chinese person names", lambda g: g.loc(["ko_KR", "zh_CN"]).name()),
        C("k08", S, "PII", "one-line postal addresses (street, postcode, city)",
          lambda g: (lambda f: f"{f.street_address()}, {f.postcode()} {f.city()}")(g.loc(CITY_LOCALES))),
        N("k09", S, "order numbers", lambda g: f"SO-{g.r.randint(2019, 2026)}-{g.digits(6)}"),
        N("k10", S, "UPS tracking numbers 1Z...", ups_tracking),
        N("k11", S, "FedEx tracking numbers (12 digits)", fedex_tracking),
        N("k12", S, "ISBN-13, valid check digits, some hyphenated", isbn13),
        N("k13", S, "SHA-256 hex digests of files", file_sha256),
        N("k14", S, "semantic versions", semver),
        N("k15", S, "coordinates 'lat, lon'", coords),
        N("k16", S, "UUIDs", uuid4),
    ]))
    t.append(Table("opaque", "dump_r", 120, [
        C("r_a", S, "SENSITIVE", "Dutch BSN (11-test), some dotted", bsn),
        C("r_b", S, "SENSITIVE", "Swedish personnummer", personnummer_se),
        C("r_c", S, "SENSITIVE", "Polish PESEL", pesel),
        C("r_d", S, "SENSITIVE", "Belgian national register numbers", nn_be),
        C("r_e", S, "SENSITIVE", "Danish CPR numbers", cpr_dk),
        C("r_f", S, "SENSITIVE", "Finnish HETU", hetu_fi),
        C("r_g", S, "SENSITIVE", "Norwegian fødselsnummer", fnr_no),
        C("r_h", S, "SENSITIVE", "Mexican CURP", curp_mx),
        C("r_i", S, "SENSITIVE", "Chilean RUT", rut_cl),
        C("r_j", S, "SENSITIVE", "South African ID numbers", idnr_za),
        C("r_k", S, "SENSITIVE", "Italian codice fiscale", codice_fiscale),
        C("r_l", S, "SENSITIVE", "Swiss AHV numbers 756.xxxx.xxxx.xx", ahv_ch),
        C("r_m", S, "SENSITIVE", "IBANs of PL, SE, NO, DK, FI, AT, IE, CZ, HU, SK, HR, LU, RO, TR, SA, AE", iban),
        C("r_n", S, "SENSITIVE", "card numbers: JCB, Diners, UnionPay, Maestro, Mir (Luhn)", card_number),
        C("r_o", I64, "SENSITIVE", "PESEL stored as int64", lambda g: int(pesel(g))),
        N("r_p", S, "ISBN-10", isbn10),
        N("r_q", S, "Legal Entity Identifiers (ISO 17442, mod 97 check digits): companies", lei),
        N("r_r", S, "GTIN-14 case barcodes", gtin14),
        N("r_s", S, "USPS tracking numbers (22 digits)", usps_tracking),
        N("r_t", S, "product SKUs", lambda g: f"{g.s(UPPER, 2)}{g.digits(4)}-{g.r.choice(['S', 'M', 'L', 'XL'])}"),
    ]))
    t.append(Table("opaque", "dump_z", 100, [
        C("z1", S, "CREDENTIAL", "Twilio API key SIDs SK...", twilio_key_sid),
        C("z2", S, "CREDENTIAL", "SendGrid API keys SG.", sendgrid_key),
        C("z3", S, "CREDENTIAL", "Mailgun API keys key-...", mailgun_key),
        C("z4", S, "CREDENTIAL", "npm access tokens npm_", npm_token),
        C("z5", S, "CREDENTIAL", "PyPI API tokens pypi-", pypi_token),
        C("z6", S, "CREDENTIAL", "Shopify access tokens shpat_...", shopify_token),
        C("z7", S, "CREDENTIAL", "HubSpot private app tokens pat-na1-...", hubspot_pat),
        C("z8", S, "CREDENTIAL", "Azure storage account keys (88-char base64)", azure_storage_key),
        C("z9", S, "CREDENTIAL", "DigitalOcean tokens dop_v1_/doo_v1_", do_token),
        C("z10", S, "CREDENTIAL", "Azure storage connection strings with AccountKey", azure_conn_string),
        C("z11", S, "CREDENTIAL", "HashiCorp Vault tokens hvs.", vault_token),
        C("z12", S, "CREDENTIAL", "GitLab personal access tokens glpat-", gitlab_pat),
        C("z13", S, "CREDENTIAL", "password hashes: argon2id PHC strings and SHA-512 crypt",
          lambda g: argon2_phc(g) if g.r.random() < 0.5 else sha512crypt(g)),
        C("z14", S, "CREDENTIAL", "connection URLs with user:password", basic_auth_url),
        C("z15", S, "CREDENTIAL", "private keys: OpenSSH, PGP, encrypted PKCS#8, DSA", openssh_key),
        N("z16", S, "git commit SHAs (40 hex)", hexs(40)),
        N("z17", S, "container image digests sha256:...", image_digest),
        N("z18", S, "ULIDs", ulid),
        N("z19", S, "Kubernetes pod names", pod_name),
        N("z20", F64, "latitudes", money(-90, 90, 6)),
    ]))
    return t


# --------------------------------------------------------------------------- write


def column_values(g: Gen, col: Col, rows: int) -> pa.Array:
    values = [None if g.r.random() < col.nulls else col.make(g) for _ in range(rows)]
    if col.type == pa.string() and col.nulls:
        # messy data: a few empty strings and placeholders beside the nulls
        values = [g.r.choice(["", "-", "n/a"]) if v is None and g.r.random() < 0.2 else v for v in values]
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
