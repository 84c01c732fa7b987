"""Generate the third blind PII evaluation set (issue #15, item 2): the held-out one.

    .venv/bin/python tests/data/pii_eval_v3/make_set.py      # rewrite data/*.parquet and labels.csv

Sets 1 and 2 (tests/data/pii_eval, tests/data/pii_eval_v2) have been scored and are now used for
development; this set uses public schemas neither of them used (SOURCES, README.md), other opaque
column names and other value mixes (other countries' phones, IBANs and national ids, other
providers' credentials, other look-alikes). Every label is decided here from the column's meaning,
with set 1's taxonomy and rules and set 2's recorded decisions, before any detector has run on it.

Each table draws from its own seeded generator (the seed and the table's name), so one table can be
made alone (``main(out, sources={...})``) and comes out the same as in the whole run.
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
from stdnum import ean as std_ean
from stdnum import iban as std_iban
from stdnum import imei as std_imei
from stdnum import luhn
from stdnum.ar import cuit as ar_cuit
from stdnum.at import vnr as at_vnr
from stdnum.au import tfn as au_tfn
from stdnum.cn import ric as cn_ric
from stdnum.co import nit as co_nit
from stdnum.cz import rc as cz_rc
from stdnum.gr import amka as gr_amka
from stdnum.ie import pps as ie_pps
from stdnum.kr import rrn as kr_rrn
from stdnum.pe import cui as pe_cui
from stdnum.pt import cc as pt_cc
from stdnum.pt import nif as pt_nif
from stdnum.ro import cnp as ro_cnp
from stdnum.tr import tckimlik as tr_tck

HERE = Path(__file__).resolve().parent
SEED = 20270301
LATIN = ["pt_PT", "ro_RO", "hu_HU", "de_AT", "en_IE", "es_AR", "es_CO", "sk_SK", "sl_SI", "fr_CH", "id_ID", "lt_LT"]
SCRIPTS = ["el_GR", "ru_RU", "uk_UA", "he_IL", "ar_SA", "hi_IN", "th_TH", "vi_VN"]
LOCALES = LATIN + SCRIPTS

SOURCES: dict[str, tuple[str, str]] = {
    "dynamics365": (
        "Microsoft Dynamics 365 / Dataverse: contact, lead (logical column names)",
        "https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/contact",
    ),
    "zoho_crm": (
        "Zoho CRM API: Leads, Contacts (field API names)",
        "https://www.zoho.com/crm/developer/docs/api/v6/field-meta.html",
    ),
    "pipedrive": ("Pipedrive API: persons, organizations", "https://developers.pipedrive.com/docs/api/v1/Persons"),
    "freshdesk": ("Freshdesk API: contacts, tickets", "https://developers.freshdesk.com/api/#contacts"),
    "quickbooks": (
        "QuickBooks Online Accounting API: Customer, Employee, Vendor",
        "https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer",
    ),
    "xero": (
        "Xero Accounting API Contacts, Payroll AU Employees",
        "https://developer.xero.com/documentation/api/accounting/contacts",
    ),
    "bamboohr": ("BambooHR API: employee fields", "https://documentation.bamboohr.com/docs/list-of-field-names"),
    "okta": ("Okta Users API: user object and profile", "https://developer.okta.com/docs/reference/api/users/"),
    "msgraph": ("Microsoft Graph user resource", "https://learn.microsoft.com/en-us/graph/api/resources/user"),
    "square": (
        "Square Customers API: Customer object",
        "https://developer.squareup.com/reference/square/objects/Customer",
    ),
    "klaviyo": ("Klaviyo API: profiles", "https://developers.klaviyo.com/en/reference/get_profiles"),
    "openmrs": (
        "OpenMRS data model: person, person_name, patient_identifier",
        "https://wiki.openmrs.org/display/docs/Data+Model",
    ),
    "i2b2": (
        "i2b2 CRC star schema: patient_dimension",
        "https://community.i2b2.org/wiki/display/ServerSideDesign/PATIENT_DIMENSION+Table",
    ),
    "eicu": ("eICU Collaborative Research Database: patient table", "https://eicu-crd.mit.edu/eicutables/patient/"),
    "woocommerce": (
        "WooCommerce REST API: customers",
        "https://woocommerce.github.io/woocommerce-rest-api-docs/#customers",
    ),
    "prestashop": (
        "PrestaShop database: ps_customer, ps_address",
        "https://devdocs.prestashop-project.org/8/development/database/structure/",
    ),
    "discourse": (
        "Discourse database: users, user_emails, user_api_keys",
        "https://github.com/discourse/discourse/blob/main/app/models/user.rb",
    ),
    "mastodon": ("Mastodon database: accounts, users", "https://github.com/mastodon/mastodon/blob/main/db/schema.rb"),
    "matomo": ("Matomo database: log_visit", "https://developer.matomo.org/guides/database-schema"),
    "greenhouse": ("Greenhouse Harvest API: candidates", "https://developers.greenhouse.io/harvest.html#candidates"),
    "opaque": (
        "Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
        "tests/data/pii_eval_v3/README.md",
    ),
}


# --------------------------------------------------------------------------- value makers


class Gen:
    """The random sources: one Random and one Faker per locale, reseeded for every table."""

    def __init__(self) -> None:
        self.fk = {loc: Faker(loc) for loc in LOCALES}
        self.r = random.Random(SEED)

    def reseed(self, key: str) -> None:
        seed = SEED + zlib.crc32(key.encode())
        self.r = random.Random(seed)
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
LOWER_ALNUM = string.ascii_lowercase + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def until(g: Gen, make: Callable[[Gen], str], ok: Callable[[str], bool], tries: int = 20000) -> str:
    """The first value of ``make`` that ``ok`` accepts (rejection sampling on a check digit)."""
    for _ in range(tries):
        value = make(g)
        try:
            if ok(value):
                return value
        except Exception:  # a validator that raises on a malformed candidate
            continue
    raise RuntimeError(f"no valid value from {make}")


def birth(g: Gen, lo: int = 1940, hi: int = 2005) -> dt.date:
    return dt.date(lo, 1, 1) + dt.timedelta(days=g.r.randint(0, (hi - lo) * 365))


# phones: valid numbers (libphonenumber metadata) of countries sets 1 and 2 did not stress

PHONE_REGIONS = [
    "AT",
    "PT",
    "GR",
    "RO",
    "HU",
    "CO",
    "PE",
    "VN",
    "TH",
    "ID",
    "MY",
    "EG",
    "KE",
    "SA",
    "AE",
    "IL",
    "UA",
    "BE",
    "CH",
    "SG",
]


def valid_phone(g: Gen, regions: list[str] | None = None) -> phonenumbers.PhoneNumber:
    region = g.r.choice(regions or PHONE_REGIONS)
    kind = g.r.choice(
        [
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE,
        ]
    )
    example = phonenumbers.example_number_for_type(region, kind)
    nsn = str(example.national_number)
    keep = max(2, len(nsn) - 6)
    for _ in range(500):
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(nsn[:keep] + g.digits(len(nsn) - keep))
        )
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return example


def phone_fmt(g: Gen, fmt: int, regions: list[str] | None = None) -> str:
    return phonenumbers.format_number(valid_phone(g, regions), fmt)


def phone_intl(g: Gen, regions: list[str] | None = None) -> str:
    return phone_fmt(g, phonenumbers.PhoneNumberFormat.INTERNATIONAL, regions)


def phone_e164(g: Gen, regions: list[str] | None = None) -> str:
    return phone_fmt(g, phonenumbers.PhoneNumberFormat.E164, regions)


def phone_national(g: Gen, regions: list[str] | None = None) -> str:
    return phone_fmt(g, phonenumbers.PhoneNumberFormat.NATIONAL, regions)


def phone_rfc3966(g: Gen, regions: list[str] | None = None) -> str:
    return phone_fmt(g, phonenumbers.PhoneNumberFormat.RFC3966, regions)


def phone_mixed(g: Gen) -> str:
    """What people type: international, E.164, national, 00-prefixed, Faker's locale formats."""
    x = g.r.random()
    if x < 0.3:
        return phone_intl(g)
    if x < 0.45:
        return phone_e164(g)
    if x < 0.6:
        return phone_national(g)
    if x < 0.68:
        return "00" + phone_e164(g)[1:]
    return g.loc().phone_number()


# IBANs of countries sets 1 and 2 did not use

IBAN_BBAN: dict[str, Callable[[Gen], str]] = {
    "PT": lambda g: g.digits(21),
    "GR": lambda g: g.digits(7) + g.s(UPPER_ALNUM, 16),
    "BG": lambda g: g.s(UPPER, 4) + g.digits(6) + g.s(UPPER_ALNUM, 8),
    "LT": lambda g: g.digits(16),
    "LV": lambda g: g.s(UPPER, 4) + g.s(UPPER_ALNUM, 13),
    "EE": lambda g: g.digits(16),
    "SI": lambda g: g.digits(15),
    "MT": lambda g: g.s(UPPER, 4) + g.digits(5) + g.s(UPPER_ALNUM, 18),
    "CY": lambda g: g.digits(8) + g.s(UPPER_ALNUM, 16),
    "IS": lambda g: g.digits(22),
    "IL": lambda g: g.digits(19),
    "QA": lambda g: g.s(UPPER, 4) + g.s(UPPER_ALNUM, 21),
    "KW": lambda g: g.s(UPPER, 4) + g.s(UPPER_ALNUM, 22),
    "JO": lambda g: g.s(UPPER, 4) + g.digits(4) + g.s(UPPER_ALNUM, 18),
    "UA": lambda g: g.digits(6) + g.s(UPPER_ALNUM, 19),
}


def iban(g: Gen, countries: list[str] | None = None, spaced: float = 0.4) -> str:
    cc = g.r.choice(countries or list(IBAN_BBAN))

    def make(g: Gen) -> str:
        bban = IBAN_BBAN[cc](g)
        return cc + std_iban.calc_check_digits(cc + "00" + bban) + bban

    value = until(g, make, std_iban.is_valid)
    return std_iban.format(value) if g.r.random() < spaced else value


def card_number(g: Gen) -> str:
    """RuPay, Elo, Troy, Hipercard, UATP: brands sets 1 and 2 did not use; Luhn-valid."""
    kind = g.r.choice(["rupay", "elo", "troy", "hipercard", "uatp"])
    body = {
        "rupay": lambda: g.r.choice(["60", "65", "81", "82"]) + g.digits(13),
        "elo": lambda: g.r.choice(["401178", "504175", "636368", "650031", "627780"]) + g.digits(9),
        "troy": lambda: "9792" + g.digits(11),
        "hipercard": lambda: "606282" + g.digits(9),
        "uatp": lambda: "1" + g.digits(13),
    }[kind]()
    num = body + luhn.calc_check_digit(body)
    assert luhn.is_valid(num)
    if g.r.random() < 0.3 and len(num) == 16:
        return "-".join(num[i : i + 4] for i in range(0, 16, 4))
    return num


# national identity numbers, valid by stdnum


def vnr_at(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        n = str(g.r.randint(100, 999)) + "0" + b.strftime("%d%m%y")
        return n[:3] + at_vnr.calc_check_digit(n) + n[4:]

    v = until(g, make, at_vnr.is_valid)
    return f"{v[:4]} {v[4:]}" if g.r.random() < 0.4 else v


def nif_pt(g: Gen) -> str:
    return until(
        g, lambda g: (lambda h: h + pt_nif.calc_check_digit(h))(g.r.choice("123") + g.digits(7)), pt_nif.is_valid
    )


def cc_pt(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.digits(8) + g.digits(1) + g.s(UPPER_ALNUM, 2) + "1"
        return head[:-1] + pt_cc.calc_check_digit(head[:-1] + "0")

    return pt_cc.format(until(g, make, pt_cc.is_valid))


PPS_LETTERS = "WABCDEFGHIJKLMNOPQRSTUV"


def pps_ie(g: Gen) -> str:
    def make(g: Gen) -> str:
        d = g.digits(7)
        total = sum(int(c) * (8 - i) for i, c in enumerate(d))
        suffix = g.r.choice(["", "", "W", "A"])
        if suffix == "A":
            total += 9
        return d + PPS_LETTERS[total % 23] + suffix

    return until(g, make, ie_pps.is_valid)


def amka_gr(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = birth(g).strftime("%d%m%y") + g.digits(4)
        return head + luhn.calc_check_digit(head)

    return until(g, make, gr_amka.is_valid)


def cnp_ro(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g)
        sex = g.r.choice("12") if b.year < 2000 else g.r.choice("56")
        head = sex + b.strftime("%y%m%d") + f"{g.r.randint(1, 46):02d}" + g.digits(3)
        return head + ro_cnp.calc_check_digit(head)

    return until(g, make, ro_cnp.is_valid)


def adoazonosito_hu(g: Gen) -> str:
    """Hungarian tax identification number of a person (adóazonosító jel): 8, days since 1867-01-01, serial, check."""

    def make(g: Gen) -> str:
        days = (birth(g) - dt.date(1867, 1, 1)).days
        head = "8" + f"{days:05d}" + g.digits(3)
        check = sum(int(c) * (i + 1) for i, c in enumerate(head)) % 11
        return head + str(check) if check < 10 else ""

    return until(g, make, lambda v: len(v) == 10)


def rc_cz(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g, 1955, 2005)
        month = b.month + (50 if g.r.random() < 0.5 else 0)
        head = f"{b.year % 100:02d}{month:02d}{b.day:02d}" + g.digits(3)
        check = int(head) % 11 % 10
        return f"{head[:6]}/{head[6:]}{check}"

    return until(g, make, cz_rc.is_valid)


def tckimlik_tr(g: Gen) -> str:
    return until(
        g, lambda g: (lambda h: h + tr_tck.calc_check_digits(h))(str(g.r.randint(1, 9)) + g.digits(8)), tr_tck.is_valid
    )


def rrn_kr(g: Gen) -> str:
    def make(g: Gen) -> str:
        b = birth(g, 1950, 2005)
        sex = g.r.choice("12") if b.year < 2000 else g.r.choice("34")
        head = b.strftime("%y%m%d") + sex + f"{g.r.randint(0, 95):02d}" + g.digits(3)
        return head + kr_rrn.calc_check_digit(head)

    return kr_rrn.format(until(g, make, kr_rrn.is_valid))


CN_AREAS = ["110101", "310104", "440106", "510107", "330106", "420102", "320102", "610113"]


def ric_cn(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.r.choice(CN_AREAS) + birth(g).strftime("%Y%m%d") + g.digits(3)
        return head + cn_ric.calc_check_digit(head)

    return until(g, make, cn_ric.is_valid)


def cuil_ar(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.r.choice(["20", "23", "27"]) + str(g.r.randint(10_000_000, 45_000_000))
        return head + ar_cuit.calc_check_digit(head)

    v = until(g, make, ar_cuit.is_valid)
    return ar_cuit.format(v) if g.r.random() < 0.6 else v


def nit_co(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = str(g.r.randint(10_000_000, 1_099_999_999))
        return head + co_nit.calc_check_digit(head)

    return co_nit.format(until(g, make, co_nit.is_valid))


def dni_pe(g: Gen) -> str:
    head = g.digits(8)
    check = pe_cui.calc_check_digits(head)
    v = head + check[g.r.randint(0, 1)]
    assert pe_cui.is_valid(v)
    return v if g.r.random() < 0.5 else f"{head}-{v[-1]}"


def tfn_au(g: Gen) -> str:
    v = until(g, lambda g: g.digits(9), au_tfn.is_valid)
    return f"{v[:3]} {v[3:6]} {v[6:]}" if g.r.random() < 0.5 else v


def ssn_us(g: Gen) -> str:
    area = g.r.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{g.r.randint(1, 99):02d}-{g.r.randint(1, 9999):04d}"


def passport_other(g: Gen) -> str:
    kind = g.r.choice(["PT", "GR", "RO", "TR", "CN", "AR", "CO", "AT"])
    return {
        "PT": lambda: g.s(UPPER, 1) + g.digits(6),
        "GR": lambda: g.s(UPPER, 2) + g.digits(7),
        "RO": lambda: "0" + g.digits(7),
        "TR": lambda: "U" + g.digits(8),
        "CN": lambda: "E" + g.s(UPPER_ALNUM, 1) + g.digits(7),
        "AR": lambda: g.digits(8) + "N" if g.r.random() < 0.3 else "AA" + g.s(UPPER, 1) + g.digits(6),
        "CO": lambda: g.s(UPPER, 2) + g.digits(6),
        "AT": lambda: g.s(UPPER, 1) + g.digits(7),
    }[kind]()


def openmrs_id(g: Gen) -> str:
    """OpenMRS ID: digits and letters with the Luhn mod-30 check character of its IdGen module."""
    alphabet = "0123456789ACDEFGHJKLMNPRTUVWXY"
    body = g.digits(g.r.choice([5, 6]))
    factor, total = 2, 0
    for c in reversed(body):
        addend = factor * alphabet.index(c)
        factor = 1 if factor == 2 else 2
        total += addend // 30 + addend % 30
    return body + alphabet[(30 - total % 30) % 30]


# credentials of providers sets 1 and 2 did not use


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mailchimp_key(g: Gen) -> str:
    return g.s(HEX, 32) + "-us" + str(g.r.randint(1, 21))


def algolia_key(g: Gen) -> str:
    return g.s(HEX, 32)


def twilio_auth_token(g: Gen) -> str:
    return g.s(HEX, 32)


def slack_app_token(g: Gen) -> str:
    return f"xapp-1-A{g.s(UPPER_ALNUM, 10)}-{g.digits(13)}-{g.s(HEX, 64)}"


def telegram_bot_token(g: Gen) -> str:
    return f"{g.r.randint(100_000_000, 7_999_999_999)}:AA{g.s(B64URL, 33)}"


def gitlab_runner_token(g: Gen) -> str:
    return "glrt-" + g.r.choice(["", "t1_", "t3_"]) + g.s(B64URL, 20)


def terraform_token(g: Gen) -> str:
    return g.s(LOWER_ALNUM, 14) + ".atlasv1." + g.s(LOWER_ALNUM, 67)


def postman_key(g: Gen) -> str:
    return f"PMAK-{g.s(HEX, 24)}-{g.s(HEX, 34)}"


def doppler_token(g: Gen) -> str:
    return f"dp.st.{g.r.choice(['dev', 'stg', 'prd'])}.{g.s(ALNUM, 40)}"


def cloudflare_token(g: Gen) -> str:
    return g.s(B64URL, 40)


def jwt_hs(g: Gen, role: str = "service_role") -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    iat = 1_690_000_000 + g.r.randint(0, 50_000_000)
    payload = {
        "iss": "supabase",
        "ref": g.s(string.ascii_lowercase, 20),
        "role": role,
        "iat": iat,
        "exp": iat + 315_360_000,
    }
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)]
    return ".".join([*parts, b64url(g.raw(32))])


def pkcs8_key(g: Gen) -> str:
    body = base64.b64encode(g.raw(g.r.choice([1216, 1218, 138]))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def rsa_private_key(g: Gen) -> str:
    body = base64.b64encode(g.raw(1190)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----\n"


def rsa_public_key(g: Gen) -> str:
    body = base64.b64encode(b'0\x82\x01"0\r\x06\t*\x86H\x86\xf7\r\x01\x01\x01\x05\x00' + g.raw(270)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def openai_key(g: Gen) -> str:
    return "sk-proj-" + g.s(B64URL, 74) + "T3BlbkFJ" + g.s(B64URL, 74)


def anthropic_key(g: Gen) -> str:
    return "sk-ant-api03-" + g.s(B64URL, 93) + "AA"


def huggingface_token(g: Gen) -> str:
    return "hf_" + g.s(ALNUM, 34)


def databricks_token(g: Gen) -> str:
    return "dapi" + g.s(HEX, 32) + g.r.choice(["", "-2", "-3"])


def google_client_secret(g: Gen) -> str:
    return "GOCSPX-" + g.s(B64URL, 28)


def atlassian_token(g: Gen) -> str:
    return "ATATT3xFfGF0" + g.s(B64URL, 170) + "=" + g.s(HEX.upper(), 8)


def sentry_token(g: Gen) -> str:
    return (
        "sntrys_"
        + b64url(
            json.dumps(
                {
                    "iat": g.r.randint(1_700_000_000, 1_760_000_000),
                    "url": "https://sentry.io",
                    "org": g.fk["en_IE"].word(),
                }
            ).encode()
        )
        + "_"
        + g.s(ALNUM, 43)
    )


def grafana_token(g: Gen) -> str:
    return "glsa_" + g.s(ALNUM, 32) + "_" + g.s(HEX, 8)


def newrelic_key(g: Gen) -> str:
    return "NRAK-" + g.s(UPPER_ALNUM, 27)


def braintree_token(g: Gen) -> str:
    return f"access_token$production${g.s(LOWER_ALNUM, 16)}${g.s(HEX, 32)}"


def square_token(g: Gen) -> str:
    return "EAAA" + g.s(B64URL, 60)


def okta_api_token(g: Gen) -> str:
    return "00" + g.s(B64URL, 40)


def age_secret_key(g: Gen) -> str:
    return "AGE-SECRET-KEY-1" + g.s("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".upper(), 58)


def totp_secret(g: Gen) -> str:
    return g.s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32)


def bcrypt_2a(g: Gen) -> str:
    return "$2a$" + g.r.choice(["10", "12"]) + "$" + g.s("./" + ALNUM, 53)


def md5_hex(g: Gen) -> str:
    return hashlib.md5(g.raw(16)).hexdigest()


def sha256_hex(g: Gen) -> str:
    return hashlib.sha256(g.raw(32)).hexdigest()


def secret_mix(g: Gen) -> str:
    return g.r.choice(
        [
            mailchimp_key,
            telegram_bot_token,
            postman_key,
            doppler_token,
            huggingface_token,
            databricks_token,
            grafana_token,
            newrelic_key,
        ]
    )(g)


# PII makers


def email(g: Gen, locales: list[str] | None = None) -> str:
    f = g.loc(locales)
    value = f.email() if g.r.random() < 0.6 else f.free_email()
    x = g.r.random()
    if x < 0.05:
        return value.upper()
    if x < 0.1:
        user, domain = value.split("@")
        return f"{user}+{g.r.choice(['crm', 'promo', 'x'])}@{domain}"
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


def ipv4(g: Gen) -> str:
    return g.fk["pt_PT"].ipv4_public()


def ip(g: Gen) -> str:
    return ipv4(g) if g.r.random() < 0.75 else g.fk["pt_PT"].ipv6()


def user_name(g: Gen) -> str:
    return g.loc().user_name()


def dob(g: Gen) -> dt.date:
    return birth(g)


def dob_str(g: Gen) -> str:
    return dob(g).isoformat()


# NONE makers


def uuid4(g: Gen) -> str:
    return str(uuid.UUID(int=g.r.getrandbits(128), version=4))


def ts(g: Gen) -> dt.datetime:
    return dt.datetime(2017, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=g.r.randint(0, 9 * 365 * 86400))


def iso(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%dT%H:%M:%SZ")


def date(g: Gen) -> dt.date:
    return dt.date(2000, 1, 1) + dt.timedelta(days=g.r.randint(0, 9500))


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
    return g.fk["en_IE"].sentence(nb_words=g.r.randint(4, 14))


def company(g: Gen) -> str:
    return g.loc().company()


def city(g: Gen) -> str:
    return g.loc().city()


def cc2(g: Gen) -> str:
    return g.r.choice(["AT", "PT", "GR", "RO", "HU", "IE", "AR", "CO", "PE", "SK", "SI", "CH", "ID", "LT"])


def hexs(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


def job(g: Gen) -> str:
    return g.fk["en_IE"].job()


def dept(g: Gen) -> str:
    return g.r.choice(["Finance", "Engineering", "Sales", "Support", "People", "Legal", "Operations"])


def vin(g: Gen) -> str:
    """Vehicle identification numbers with a valid ISO 3779 / North American check digit."""
    trans = {
        **{str(i): i for i in range(10)},
        **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
        **dict(zip("JKLMN", range(1, 6), strict=True)),
        "P": 7,
        "R": 9,
        **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
    }
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    v = list(g.r.choice(["1HG", "WVW", "JTD", "VF1", "ZFA", "TMB", "WBA"]) + g.s(alphabet, 14))
    total = sum(trans[c] * w for c, w in zip(v, weights, strict=True))
    v[8] = "X" if total % 11 == 10 else str(total % 11)
    return "".join(v)


def imei(g: Gen) -> str:
    body = g.r.choice(["35", "86", "01", "99"]) + g.digits(12)
    v = body + luhn.calc_check_digit(body)
    assert std_imei.is_valid(v)
    return v


def iccid(g: Gen) -> str:
    body = "89" + g.r.choice(["43", "351", "30", "40"]) + g.digits(13)
    return body + luhn.calc_check_digit(body)


def ean13(g: Gen) -> str:
    body = g.r.choice(["560", "520", "594", "599", "900", "869"]) + g.digits(9)
    v = body + std_ean.calc_check_digit(body)
    assert std_ean.is_valid(v)
    return v


def isbn13(g: Gen) -> str:
    body = "978" + g.digits(9)
    v = body + std_ean.calc_check_digit(body)
    return f"{v[:3]}-{v[3:5]}-{v[5:9]}-{v[9:12]}-{v[12]}" if g.r.random() < 0.5 else v


def mac(g: Gen) -> str:
    sep = g.r.choice([":", "-"])
    return sep.join(g.s(HEX, 2) for _ in range(6)).upper() if sep == "-" else ":".join(g.s(HEX, 2) for _ in range(6))


def semver(g: Gen) -> str:
    return f"v{g.r.randint(0, 9)}.{g.r.randint(0, 30)}.{g.r.randint(0, 60)}" + g.r.choice(["", "", "-alpha.2"])


def latlon(g: Gen) -> str:
    return f"{g.r.uniform(-55, 65):.5f},{g.r.uniform(-120, 150):.5f}"


def invoice_no(g: Gen) -> str:
    return f"INV-{g.r.randint(2020, 2026)}/{g.digits(5)}"


def dhl_tracking(g: Gen) -> str:
    return g.digits(10)


def s10_tracking(g: Gen) -> str:
    """UPU S10 parcel numbers (RR123456785PT) with their mod-11 check digit."""
    d = g.digits(8)
    total = sum(int(c) * w for c, w in zip(d, [8, 6, 4, 2, 3, 5, 9, 7], strict=True))
    check = 11 - total % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return g.r.choice(["RR", "CP", "LX", "EE", "RB"]) + d + str(check) + g.r.choice(["PT", "AT", "GR", "RO", "HU"])


def ulid_like(g: Gen) -> str:
    return "01" + g.s("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24)


def sid_windows(g: Gen) -> str:
    parts = [g.r.randint(10**9, 4 * 10**9) for _ in range(3)]
    return f"S-1-5-21-{parts[0]}-{parts[1]}-{parts[2]}-{g.r.randint(1000, 99999)}"


def gravatar(g: Gen) -> str:
    return f"https://secure.gravatar.com/avatar/{md5_hex(g)}?s=96&d=mm&r=g"


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


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Microsoft Dynamics 365 (Dataverse logical names)
    t.append(
        Table(
            "dynamics365",
            "contact",
            120,
            [
                N("contactid", S, "record GUID", uuid4),
                C("firstname", S, "PII", "given name", first, 0.05),
                C("lastname", S, "PII", "family name", last),
                C("fullname", S, "PII", "full name", name),
                C("emailaddress1", S, "PII", "primary email", email, 0.1),
                C("emailaddress2", S, "PII", "secondary email", email, 0.6),
                C("telephone1", S, "PII", "business phone of the contact", phone_mixed, 0.2),
                C("mobilephone", S, "PII", "mobile phone, international notation", phone_intl, 0.3),
                C("address1_line1", S, "PII", "contact's street address", street, 0.2),
                C("address1_postalcode", S, "PII", "contact's postcode", postcode, 0.2),
                N("address1_city", S, "city (borderline: NONE)", city, 0.2),
                N("address1_country", S, "country (borderline: NONE)", cc2, 0.2),
                C("birthdate", D32, "PII", "date of birth", dob, 0.4),
                C("spousesname", S, "PII", "spouse's name", name, 0.7),
                C(
                    "governmentid",
                    S,
                    "SENSITIVE",
                    "government id: RO CNP, PT NIF, AT social insurance number",
                    lambda g: g.r.choice([cnp_ro, nif_pt, vnr_at])(g),
                    0.5,
                ),
                N("gendercode", I64, "option set value (1 male, 2 female): gender", choice(1, 2)),
                N("familystatuscode", I64, "marital status option set", choice(1, 2, 3, 4), 0.3),
                N("jobtitle", S, "job title", job, 0.3),
                N("annualincome", DEC, "income figure (pay: NONE)", dec(15000, 250000), 0.5),
                N("createdon", TS, "timestamp", ts),
                N("statecode", I64, "state option set", choice(0, 1)),
                N("parentcustomerid", S, "account GUID", uuid4, 0.2),
            ],
        )
    )
    t.append(
        Table(
            "dynamics365",
            "lead",
            80,
            [
                N("leadid", S, "record GUID", uuid4),
                N("subject", S, "topic free text", sentence),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                N("companyname", S, "company name", company),
                C("emailaddress1", S, "PII", "email", email),
                C("telephone1", S, "PII", "phone, national notation", phone_national, 0.3),
                N("leadqualitycode", I64, "rating option set", choice(1, 2, 3)),
                N("estimatedamount", DEC, "money", dec(500, 90000), 0.3),
                N("websiteurl", S, "company website", lambda g: "https://www." + g.loc().domain_name(), 0.4),
            ],
        )
    )
    # ---- Zoho CRM (API names)
    t.append(
        Table(
            "zoho_crm",
            "Leads",
            100,
            [
                N("id", S, "record id (19 digits as text)", lambda g: "5725767" + g.digits(12)),
                C("First_Name", S, "PII", "given name", first, 0.1),
                C("Last_Name", S, "PII", "family name", last),
                C("Email", S, "PII", "email", email, 0.1),
                C("Secondary_Email", S, "PII", "second email", email, 0.7),
                C("Phone", S, "PII", "phone, mixed notations", phone_mixed, 0.2),
                C("Mobile", S, "PII", "mobile, E.164", phone_e164, 0.3),
                C(
                    "Skype_ID",
                    S,
                    "PII",
                    "a person's Skype handle (login-like)",
                    lambda g: "live:." + user_name(g) if g.r.random() < 0.5 else user_name(g),
                    0.5,
                ),
                N("Company", S, "company", company),
                N("Designation", S, "job title", job, 0.3),
                N("Lead_Source", S, "enum", choice("Advertisement", "Cold Call", "Web Download", "Trade Show")),
                N("Lead_Status", S, "enum", choice("Not Contacted", "Contacted", "Junk Lead", "Qualified")),
                N("Annual_Revenue", F64, "money", money(1e4, 5e7), 0.4),
                N("No_of_Employees", I64, "count", intr(1, 5000), 0.4),
                C("Street", S, "PII", "lead's street address", street, 0.3),
                C("Zip_Code", S, "PII", "lead's postcode", postcode, 0.3),
                N("City", S, "city", city, 0.3),
                N("Created_Time", S, "ISO timestamp text", iso),
            ],
        )
    )
    # ---- Pipedrive
    t.append(
        Table(
            "pipedrive",
            "persons",
            100,
            [
                N("id", I64, "record id", intr(1, 900000)),
                C("name", S, "PII", "person's full name", name),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("email_value", S, "PII", "primary email", email, 0.1),
                C("phone_value", S, "PII", "primary phone", phone_mixed, 0.2),
                N("email_label", S, "enum", choice("work", "home", "other")),
                N("org_id", I64, "organization key", intr(1, 50000)),
                N("owner_id", I64, "user key", intr(1, 300)),
                N("add_time", S, "timestamp text 'YYYY-MM-DD HH:MM:SS'", lambda g: ts(g).strftime("%Y-%m-%d %H:%M:%S")),
                N("open_deals_count", I64, "count", intr(0, 12)),
                N("visible_to", S, "visibility enum", choice("1", "3", "5", "7")),
                N("label", I64, "label id", intr(1, 20), 0.5),
            ],
        )
    )
    t.append(
        Table(
            "pipedrive",
            "organizations",
            60,
            [
                N("id", I64, "record id", intr(1, 50000)),
                N("name", S, "organization name", company),
                N(
                    "address",
                    S,
                    "an organisation's address (set 1 rule: NONE)",
                    lambda g: (lambda f: f"{f.street_address()}, {f.postcode()} {f.city()}")(g.loc()),
                ),
                N("address_postal_code", S, "an organisation's postcode (organisation address: NONE)", postcode),
                N("address_country", S, "country", cc2),
                N("people_count", I64, "count", intr(0, 80)),
                N(
                    "cc_email",
                    S,
                    "Pipedrive's per-company BCC drop-box address (a robot's address)",
                    lambda g: f"{g.fk['en_IE'].word()}-{g.digits(6)}@pipedrivemail.com",
                ),
                N("update_time", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Freshdesk
    t.append(
        Table(
            "freshdesk",
            "contacts",
            100,
            [
                N("id", I64, "record id", intr(10**9, 10**11)),
                C("name", S, "PII", "contact's name", name),
                C("email", S, "PII", "email", email, 0.1),
                C("phone", S, "PII", "phone, national notation", phone_national, 0.3),
                C("mobile", S, "PII", "mobile, international", phone_intl, 0.4),
                C("twitter_id", S, "PII", "a person's X/Twitter handle", lambda g: "@" + user_name(g), 0.6),
                N(
                    "unique_external_id",
                    S,
                    "customer's own key (set 2: external ids NONE)",
                    lambda g: "CUST-" + g.digits(7),
                    0.4,
                ),
                C(
                    "address",
                    S,
                    "PII",
                    "contact's postal address",
                    lambda g: (lambda f: f"{f.street_address()}\n{f.postcode()} {f.city()}")(g.loc()),
                    0.4,
                ),
                N("job_title", S, "job title", job, 0.4),
                N("language", S, "language code", choice("pt-PT", "ro", "hu", "de", "en", "es-LA")),
                N("time_zone", S, "time zone", choice("Lisbon", "Bucharest", "Budapest", "Vienna", "Dublin", "Bogota")),
                N("active", B, "flag", boolean(0.8)),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        Table(
            "freshdesk",
            "tickets",
            120,
            [
                N("id", I64, "ticket id", intr(1, 900000)),
                N("subject", S, "subject line", sentence),
                N("description_text", S, "ticket text without identifiers", sentence),
                N("status", I64, "status code", choice(2, 3, 4, 5)),
                N("priority", I64, "priority code", choice(1, 2, 3, 4)),
                N("requester_id", I64, "contact key", intr(10**9, 10**11)),
                C("email", S, "PII", "requester's email (ticket created by email)", email, 0.3),
                C("phone", S, "PII", "requester's phone", phone_intl, 0.6),
                N("source", I64, "channel code", choice(1, 2, 3, 7, 9)),
                N("fr_due_by", S, "ISO timestamp text", iso),
                N("tags", S, "comma-separated tags", choice("billing", "refund,urgent", "", "login", "shipping")),
            ],
        )
    )
    # ---- QuickBooks Online
    t.append(
        Table(
            "quickbooks",
            "Customer",
            100,
            [
                N("Id", S, "record id (digits as text)", lambda g: str(g.r.randint(1, 9999))),
                N("SyncToken", S, "optimistic-lock version, not a secret", lambda g: str(g.r.randint(0, 9))),
                C("GivenName", S, "PII", "given name", first, 0.1),
                C("FamilyName", S, "PII", "family name", last, 0.1),
                C("DisplayName", S, "PII", "customer display name: people's names (sole customers)", name),
                C("PrimaryEmailAddr_Address", S, "PII", "email", email, 0.2),
                C("PrimaryPhone_FreeFormNumber", S, "PII", "phone, free-form", phone_mixed, 0.2),
                C("BillAddr_Line1", S, "PII", "customer's billing street", street, 0.2),
                C("BillAddr_PostalCode", S, "PII", "customer's billing postcode", postcode, 0.2),
                N("BillAddr_City", S, "city", city, 0.2),
                N("Balance", F64, "money", money(0, 9000)),
                N("Taxable", B, "flag", boolean(0.7)),
                N("PreferredDeliveryMethod", S, "enum", choice("Print", "Email", "None")),
                N(
                    "MetaData_CreateTime",
                    S,
                    "ISO timestamp with offset",
                    lambda g: ts(g).strftime("%Y-%m-%dT%H:%M:%S-08:00"),
                ),
            ],
        )
    )
    t.append(
        Table(
            "quickbooks",
            "Employee",
            60,
            [
                N("Id", S, "record id", lambda g: str(g.r.randint(1, 999))),
                C("GivenName", S, "PII", "given name", first),
                C("FamilyName", S, "PII", "family name", last),
                C("SSN", S, "SENSITIVE", "US social security number", ssn_us, 0.2),
                C("BirthDate", S, "PII", "date of birth (YYYY-MM-DD text)", dob_str, 0.3),
                N("HiredDate", S, "hire date text", lambda g: date(g).isoformat()),
                N(
                    "EmployeeNumber",
                    S,
                    "employee number (set 2: like an enrolment code, NONE)",
                    lambda g: "E" + g.digits(4),
                ),
                N("Gender", S, "gender", choice("Male", "Female"), 0.3),
                N("BillRate", F64, "pay rate", money(20, 180)),
                C("PrimaryAddr_Line1", S, "PII", "employee's home street", street, 0.2),
                C("Mobile_FreeFormNumber", S, "PII", "employee's mobile", phone_mixed, 0.3),
                N("Active", B, "flag", boolean(0.9)),
            ],
        )
    )
    t.append(
        Table(
            "quickbooks",
            "Vendor",
            60,
            [
                N("Id", S, "record id", lambda g: str(g.r.randint(1, 999))),
                N("CompanyName", S, "vendor company", company),
                N(
                    "AcctNum",
                    S,
                    "our account number at the vendor (a customer number, not a bank account)",
                    lambda g: "ACCT-" + g.digits(5),
                ),
                N("Vendor1099", B, "flag", boolean(0.3)),
                N("Balance", F64, "money", money(0, 20000)),
                N("TermRef_value", S, "payment terms key", choice("1", "2", "3")),
                N("CurrencyRef_value", S, "currency", choice("EUR", "USD", "RON", "HUF")),
            ],
        )
    )
    # ---- Xero
    t.append(
        Table(
            "xero",
            "Contacts",
            100,
            [
                N("ContactID", S, "GUID", uuid4),
                N("ContactStatus", S, "enum", choice("ACTIVE", "ARCHIVED")),
                C("FirstName", S, "PII", "contact person's given name", first, 0.2),
                C("LastName", S, "PII", "contact person's family name", last, 0.2),
                C("EmailAddress", S, "PII", "contact person's email", email, 0.2),
                C("BankAccountDetails", S, "SENSITIVE", "bank account: IBANs of PT, GR, LT, EE, SI, MT, CY", iban, 0.4),
                N("IsSupplier", B, "flag", boolean(0.3)),
                N("IsCustomer", B, "flag", boolean(0.7)),
                N("DefaultCurrency", S, "currency", choice("EUR", "AUD", "NZD", "GBP")),
                N("AccountNumber", S, "the contact's account code in our ledger", lambda g: "C" + g.digits(5), 0.5),
                N("UpdatedDateUTC", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        Table(
            "xero",
            "Employees",
            60,
            [
                N("EmployeeID", S, "GUID", uuid4),
                C("FirstName", S, "PII", "given name", first),
                C("LastName", S, "PII", "family name", last),
                C("DateOfBirth", D32, "PII", "date of birth", dob),
                C("Email", S, "PII", "email", email),
                C(
                    "Mobile",
                    S,
                    "PII",
                    "mobile",
                    lambda g: phone_national(g, ["AU"]) if g.r.random() < 0.5 else phone_intl(g),
                    0.3,
                ),
                C("HomeAddress_AddressLine1", S, "PII", "home street", street),
                C("HomeAddress_PostalCode", S, "PII", "home postcode", postcode),
                N("HomeAddress_City", S, "city", city),
                C(
                    "TaxDeclaration_TaxFileNumber",
                    S,
                    "SENSITIVE",
                    "Australian tax file number (valid check digit)",
                    tfn_au,
                    0.1,
                ),
                N("Gender", S, "gender code", choice("F", "M", "N", "I")),
                N("StartDate", D32, "date", date),
                N("JobTitle", S, "job title", job),
                N("OrdinaryEarningsRateID", S, "GUID", uuid4),
            ],
        )
    )
    # ---- BambooHR
    t.append(
        Table(
            "bamboohr",
            "employees",
            100,
            [
                N("id", I64, "employee key", intr(1, 9999)),
                N("employeeNumber", S, "employee number", lambda g: g.digits(4)),
                C("firstName", S, "PII", "given name", first),
                C("lastName", S, "PII", "family name", last),
                C("preferredName", S, "PII", "preferred given name", first, 0.6),
                C("workEmail", S, "PII", "work email of a person", email),
                C("homeEmail", S, "PII", "private email", email, 0.4),
                C("mobilePhone", S, "PII", "mobile", phone_mixed, 0.3),
                C("homePhone", S, "PII", "home phone", phone_national, 0.5),
                C("ssn", S, "SENSITIVE", "US SSN", ssn_us, 0.3),
                C(
                    "sin",
                    S,
                    "SENSITIVE",
                    "national id field used outside the US: IE PPS, HU tax id, CZ rodné číslo",
                    lambda g: g.r.choice([pps_ie, adoazonosito_hu, rc_cz])(g),
                    0.5,
                ),
                C("dateOfBirth", S, "PII", "date of birth text", dob_str, 0.2),
                C("address1", S, "PII", "home street", street, 0.2),
                C("zipcode", S, "PII", "home postcode", postcode, 0.2),
                N("city", S, "city", city, 0.2),
                N("country", S, "country", cc2, 0.2),
                N("department", S, "department", dept),
                N("jobTitle", S, "job title", job),
                N("hireDate", S, "date text", lambda g: date(g).isoformat()),
                N("payRate", S, "pay with currency (NONE)", lambda g: f"{g.r.randint(30, 180)}000.00 EUR"),
                N("maritalStatus", S, "marital status", choice("Single", "Married", "Domestic Partnership")),
                N("gender", S, "gender", choice("Female", "Male", "Nonbinary")),
                C("supervisor", S, "PII", "the manager's name", name, 0.1),
                C(
                    "linkedIn",
                    S,
                    "PII",
                    "URL of a person's LinkedIn profile (names the person)",
                    lambda g: "https://www.linkedin.com/in/" + user_name(g).replace("_", "-"),
                    0.6,
                ),
                N("employmentHistoryStatus", S, "enum", choice("Full-Time", "Part-Time", "Contractor")),
            ],
        )
    )
    # ---- Okta
    t.append(
        Table(
            "okta",
            "users",
            100,
            [
                N("id", S, "Okta user id 00u...", lambda g: "00u" + g.s(ALNUM, 17)),
                N("status", S, "enum", choice("ACTIVE", "PROVISIONED", "SUSPENDED", "DEPROVISIONED")),
                N("created", S, "ISO timestamp", iso),
                N("lastLogin", S, "ISO timestamp", iso, 0.2),
                C("profile_login", S, "PII", "login name (an email)", email),
                C("profile_email", S, "PII", "email", email),
                C("profile_secondEmail", S, "PII", "second email", email, 0.7),
                C("profile_firstName", S, "PII", "given name", first),
                C("profile_lastName", S, "PII", "family name", last),
                C("profile_mobilePhone", S, "PII", "mobile", phone_e164, 0.4),
                N("profile_employeeNumber", S, "employee number", lambda g: g.digits(6), 0.3),
                N("profile_department", S, "department", dept, 0.3),
                N("profile_title", S, "job title", job, 0.3),
                N("profile_locale", S, "locale", choice("pt_PT", "ro_RO", "hu_HU", "de_AT", "en_IE")),
                N("credentials_provider_type", S, "enum", choice("OKTA", "ACTIVE_DIRECTORY", "FEDERATION")),
            ],
        )
    )
    # ---- Microsoft Graph
    t.append(
        Table(
            "msgraph",
            "user",
            100,
            [
                N("id", S, "object GUID", uuid4),
                C("displayName", S, "PII", "person's display name", name),
                C("givenName", S, "PII", "given name", first),
                C("surname", S, "PII", "family name", last),
                C("mail", S, "PII", "email", email),
                C(
                    "userPrincipalName",
                    S,
                    "PII",
                    "sign-in name (email form)",
                    lambda g: user_name(g) + "@contoso.onmicrosoft.com",
                ),
                C("mobilePhone", S, "PII", "mobile", phone_intl, 0.3),
                C(
                    "businessPhones",
                    S,
                    "PII",
                    "the user's business phones (JSON list)",
                    lambda g: json.dumps([phone_intl(g)]),
                    0.3,
                ),
                C(
                    "onPremisesSamAccountName",
                    S,
                    "PII",
                    "Windows login name",
                    lambda g: (first(g)[:1] + last(g)).lower()[:20],
                    0.4,
                ),
                N("onPremisesSecurityIdentifier", S, "Windows SID: an object id", sid_windows, 0.4),
                N(
                    "streetAddress",
                    S,
                    "street address of the user's place of business (an organisation's address)",
                    street,
                    0.3,
                ),
                N(
                    "officeLocation",
                    S,
                    "office name",
                    choice("Lisbon 2", "Vienna HQ", "Dublin Docklands", "Bucharest"),
                    0.3,
                ),
                N("jobTitle", S, "job title", job, 0.3),
                N("employeeId", S, "employee number", lambda g: g.digits(6), 0.5),
                N("preferredLanguage", S, "language", choice("pt-PT", "ro-RO", "hu-HU", "de-AT", "en-IE")),
                N("accountEnabled", B, "flag", boolean(0.9)),
                N("usageLocation", S, "country", cc2),
            ],
        )
    )
    # ---- Square
    t.append(
        Table(
            "square",
            "customers",
            100,
            [
                N("id", S, "customer id", lambda g: g.s(UPPER_ALNUM, 26)),
                C("given_name", S, "PII", "given name", first, 0.1),
                C("family_name", S, "PII", "family name", last, 0.1),
                C("email_address", S, "PII", "email", email, 0.2),
                C("phone_number", S, "PII", "phone", phone_mixed, 0.2),
                C("address_address_line_1", S, "PII", "customer's street", street, 0.3),
                C("address_postal_code", S, "PII", "customer's postcode", postcode, 0.3),
                N("address_locality", S, "city", city, 0.3),
                C(
                    "birthday",
                    S,
                    "PII",
                    "birthday (YYYY-MM-DD, or 0000-MM-DD without a year)",
                    lambda g: dob_str(g) if g.r.random() < 0.7 else "0000" + dob_str(g)[4:],
                    0.5,
                ),
                N("reference_id", S, "merchant's own key", lambda g: "REF" + g.digits(6), 0.5),
                N("company_name", S, "company", company, 0.6),
                N("creation_source", S, "enum", choice("THIRD_PARTY", "DIRECTORY", "INVOICES", "APPOINTMENTS")),
                N("preferences_email_unsubscribed", B, "flag", boolean(0.2)),
                N("version", I64, "version counter", intr(0, 20)),
                N("created_at", S, "ISO timestamp", iso),
            ],
        )
    )
    # ---- Klaviyo
    t.append(
        Table(
            "klaviyo",
            "profiles",
            100,
            [
                N("id", S, "profile id (ULID-like)", ulid_like),
                C("attributes_email", S, "PII", "email", email, 0.1),
                C("attributes_phone_number", S, "PII", "phone, E.164", phone_e164, 0.4),
                N("attributes_external_id", S, "shop's own customer key (set 2: NONE)", lambda g: g.digits(8), 0.4),
                C("attributes_first_name", S, "PII", "given name", first, 0.2),
                C("attributes_last_name", S, "PII", "family name", last, 0.2),
                N("attributes_organization", S, "company", company, 0.6),
                N("attributes_title", S, "job title", job, 0.6),
                C("attributes_location_address1", S, "PII", "street", street, 0.5),
                C("attributes_location_zip", S, "PII", "postcode", postcode, 0.5),
                N("attributes_location_city", S, "city", city, 0.5),
                N("attributes_location_latitude", F64, "latitude (city level)", money(-40, 60, 4), 0.5),
                C("attributes_location_ip", S, "PII", "client IP", ip, 0.3),
                N("attributes_created", S, "ISO timestamp", iso),
            ],
        )
    )
    # ---- OpenMRS
    t.append(
        Table(
            "openmrs",
            "person",
            120,
            [
                N("person_id", I64, "key", intr(1, 500000)),
                N("gender", S, "gender", choice("M", "F", "O")),
                C("birthdate", D32, "PII", "date of birth", dob, 0.05),
                N("birthdate_estimated", B, "flag", boolean(0.1)),
                N("dead", B, "flag", boolean(0.05)),
                C("death_date", TS, "PII", "date of death", ts, 0.9),
                N("cause_of_death", I64, "concept id", intr(1, 160000), 0.9),
                N("creator", I64, "user key", intr(1, 50)),
                N("date_created", TS, "timestamp", ts),
                N("uuid", S, "uuid", uuid4),
            ],
        )
    )
    t.append(
        Table(
            "openmrs",
            "person_name",
            120,
            [
                N("person_name_id", I64, "key", intr(1, 500000)),
                N("preferred", B, "flag", boolean(0.8)),
                N("person_id", I64, "key", intr(1, 500000)),
                N("prefix", S, "salutation", choice("Mr", "Mrs", "Dr", "Ms"), 0.6),
                C("given_name", S, "PII", "given name", first),
                C("middle_name", S, "PII", "middle name", first, 0.6),
                C("family_name", S, "PII", "family name", last),
                C(
                    "family_name2",
                    S,
                    "PII",
                    "second family name (es, pt)",
                    lambda g: g.loc(["es_AR", "es_CO", "pt_PT"]).last_name(),
                    0.5,
                ),
                N("degree", S, "academic degree", choice("MD", "PhD", "RN", ""), 0.8),
            ],
        )
    )
    t.append(
        Table(
            "openmrs",
            "patient_identifier",
            120,
            [
                N("patient_identifier_id", I64, "key", intr(1, 500000)),
                N("patient_id", I64, "key", intr(1, 500000)),
                C(
                    "identifier",
                    S,
                    "SENSITIVE",
                    "the patient's medical record number (OpenMRS ID, Luhn mod 30)",
                    openmrs_id,
                ),
                N("identifier_type", I64, "type key", choice(1, 2, 3)),
                N("preferred", B, "flag", boolean(0.9)),
                N("location_id", I64, "clinic key", intr(1, 40)),
                N("voided", B, "flag", boolean(0.02)),
            ],
        )
    )
    # ---- i2b2
    t.append(
        Table(
            "i2b2",
            "patient_dimension",
            150,
            [
                N("patient_num", I64, "pseudonymous key", intr(1_000_000, 9_999_999)),
                N("vital_status_cd", S, "code", choice("N", "Y", "U")),
                C(
                    "birth_date",
                    TS,
                    "PII",
                    "date of birth",
                    lambda g: dt.datetime.combine(dob(g), dt.time(), dt.UTC),
                    0.05,
                ),
                C("death_date", TS, "PII", "date of death", ts, 0.9),
                N("sex_cd", S, "gender code", choice("M", "F", "U")),
                N("age_in_years_num", I64, "age", intr(0, 99)),
                N("language_cd", S, "language code", choice("english", "spanish", "portuguese")),
                N("race_cd", S, "race code (NONE)", choice("white", "black", "asian", "other")),
                N("marital_status_cd", S, "marital status", choice("single", "married", "divorced", "widow")),
                N(
                    "religion_cd",
                    S,
                    "religion code (borderline, like race: NONE)",
                    choice("roman catholic", "protestant", "none"),
                ),
                C("zip_cd", S, "PII", "the patient's ZIP code", lambda g: g.digits(5)),
                N("income_cd", S, "income band", choice("low", "medium", "high")),
                N("update_date", TS, "timestamp", ts),
                N("sourcesystem_cd", S, "source code", choice("DEMO", "EPIC", "CERNER")),
            ],
        )
    )
    # ---- eICU (de-identified research data: all NONE)
    t.append(
        Table(
            "eicu",
            "patient",
            150,
            [
                N("patientunitstayid", I64, "stay key", intr(140000, 3400000)),
                N("uniquepid", S, "pseudonymous patient id 'NNN-NNNNN'", lambda g: f"{g.digits(3)}-{g.digits(5)}"),
                N("patienthealthsystemstayid", I64, "stay key", intr(100000, 3000000)),
                N("gender", S, "gender", choice("Male", "Female")),
                N(
                    "age",
                    S,
                    "age in years, '> 89' capped (de-identified)",
                    lambda g: "> 89" if g.r.random() < 0.05 else str(g.r.randint(18, 89)),
                ),
                N("ethnicity", S, "ethnicity", choice("Caucasian", "African American", "Hispanic", "Asian")),
                N("hospitalid", I64, "hospital key", intr(50, 460)),
                N(
                    "apacheadmissiondx",
                    S,
                    "admission diagnosis text (no identifier)",
                    choice("Sepsis, pulmonary", "CHF, congestive heart failure", "Overdose, other toxin"),
                ),
                N("admissionheight", F64, "height cm", money(140, 200, 1)),
                N("admissionweight", F64, "weight kg", money(40, 160, 1)),
                N("hospitaldischargestatus", S, "enum", choice("Alive", "Expired")),
                N("unitdischargeoffset", I64, "minutes offset", intr(0, 20000)),
                N(
                    "hospitaladmittime24",
                    S,
                    "time of day",
                    lambda g: f"{g.r.randint(0, 23):02d}:{g.r.randint(0, 59):02d}:00",
                ),
            ],
        )
    )
    # ---- WooCommerce
    t.append(
        Table(
            "woocommerce",
            "customers",
            100,
            [
                N("id", I64, "key", intr(1, 90000)),
                C("email", S, "PII", "email", email),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("username", S, "PII", "login name", user_name),
                C("billing_first_name", S, "PII", "given name", first),
                C("billing_phone", S, "PII", "phone", phone_mixed, 0.2),
                C("billing_address_1", S, "PII", "billing street of a person", street),
                C("billing_postcode", S, "PII", "postcode", postcode),
                N("billing_city", S, "city", city),
                N("billing_country", S, "country", cc2),
                N("billing_company", S, "company", company, 0.7),
                C("shipping_address_1", S, "PII", "shipping street", street, 0.3),
                N("is_paying_customer", B, "flag", boolean(0.6)),
                N(
                    "avatar_url",
                    S,
                    "Gravatar URL (an MD5 of the email: a pseudonymous key, like a fingerprint)",
                    gravatar,
                ),
                N("date_created", S, "ISO timestamp", lambda g: iso(g)[:-1]),
                N("role", S, "enum", choice("customer", "subscriber")),
            ],
        )
    )
    # ---- PrestaShop
    t.append(
        Table(
            "prestashop",
            "ps_customer",
            100,
            [
                N("id_customer", I64, "key", intr(1, 90000)),
                N("id_gender", I64, "salutation key", choice(1, 2)),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                C("email", S, "PII", "email", email),
                C("passwd", S, "CREDENTIAL", "bcrypt password hash", bcrypt_2a),
                C("birthday", D32, "PII", "date of birth", dob, 0.4),
                C(
                    "secure_key",
                    S,
                    "CREDENTIAL",
                    "per-customer secret (32 hex) that authorises guest order tracking",
                    hexs(32),
                ),
                C("reset_password_token", S, "CREDENTIAL", "password reset token (40 hex)", hexs(40), 0.8),
                C("ip_registration_newsletter", S, "PII", "client IP", ipv4, 0.5),
                N("newsletter", B, "flag", boolean(0.4)),
                N("company", S, "company", company, 0.7),
                N("siret", S, "French business registration number (a company's)", lambda g: g.digits(14), 0.8),
                N("ape", S, "activity code", choice("6201Z", "4791A", "7022Z"), 0.8),
                N("last_passwd_gen", TS, "timestamp", ts),
                N("date_add", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        Table(
            "prestashop",
            "ps_address",
            100,
            [
                N("id_address", I64, "key", intr(1, 90000)),
                N("id_country", I64, "country key", intr(1, 240)),
                N("alias", S, "address nickname", choice("Home", "My address", "Work", "Casa")),
                C("firstname", S, "PII", "given name", first),
                C("lastname", S, "PII", "family name", last),
                C("address1", S, "PII", "street", street),
                C(
                    "address2",
                    S,
                    "PII",
                    "second address line of a person's address",
                    lambda g: g.r.choice(["Apt ", "Bloc ", "Et. ", "Piso "]) + str(g.r.randint(1, 40)),
                    0.6,
                ),
                C("postcode", S, "PII", "postcode", postcode),
                N("city", S, "city", city),
                C("phone", S, "PII", "phone", phone_national, 0.3),
                C("phone_mobile", S, "PII", "mobile", phone_intl, 0.3),
                C(
                    "dni",
                    S,
                    "SENSITIVE",
                    "identification number (PrestaShop asks for it in AR, PE, CO, PT): DNI/CUIL/NIT/NIF",
                    lambda g: g.r.choice([cuil_ar, dni_pe, nit_co, nif_pt])(g),
                    0.4,
                ),
                N("vat_number", S, "company VAT number (a business's)", lambda g: "PT5" + g.digits(8), 0.8),
                N("date_upd", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Discourse
    t.append(
        Table(
            "discourse",
            "users",
            100,
            [
                N("id", I64, "key", intr(1, 90000)),
                C("username", S, "PII", "login handle", user_name),
                C("name", S, "PII", "full name", name, 0.3),
                N("active", B, "flag", boolean(0.9)),
                N("admin", B, "flag", boolean(0.02)),
                N("trust_level", I64, "level", intr(0, 4)),
                C("ip_address", S, "PII", "client IP", ip),
                C("registration_ip_address", S, "PII", "client IP at registration", ip, 0.2),
                N("title", S, "badge title", choice("Regular", "Leader", "", "Moderator"), 0.5),
                N("views", I64, "count", intr(0, 9000)),
                N("last_seen_at", TS, "timestamp", ts),
                N("locale", S, "locale", choice("pt", "ro", "hu", "de", "en"), 0.5),
            ],
        )
    )
    t.append(
        Table(
            "discourse",
            "user_emails",
            100,
            [
                N("id", I64, "key", intr(1, 90000)),
                N("user_id", I64, "key", intr(1, 90000)),
                C("email", S, "PII", "email", email),
                N("primary", B, "flag", boolean(0.9)),
                C(
                    "normalized_email",
                    S,
                    "PII",
                    "the email, lower-cased without dots or +tags",
                    lambda g: email(g).lower(),
                ),
            ],
        )
    )
    t.append(
        Table(
            "discourse",
            "user_api_keys",
            60,
            [
                N("id", I64, "key", intr(1, 90000)),
                N("client_id", S, "client application id", hexs(32)),
                C("key_hash", S, "CREDENTIAL", "SHA-256 digest of the user API key (token digest)", sha256_hex),
                N("application_name", S, "app name", choice("DiscourseHub", "Fluent", "RSS bridge")),
                N("scopes", S, "scopes", choice("read", "read,write", "notifications,session_info")),
                N("last_used_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Mastodon
    t.append(
        Table(
            "mastodon",
            "accounts",
            80,
            [
                N("id", I64, "Snowflake-like key", intr(10**17, 10**18 - 1)),
                C("username", S, "PII", "a person's handle", user_name),
                N(
                    "domain",
                    S,
                    "remote instance domain",
                    choice("", "mastodon.social", "fosstodon.org", "chaos.social"),
                    0.5,
                ),
                C("display_name", S, "PII", "display name (a person's name)", name),
                N("note", S, "bio free text", sentence, 0.3),
                C(
                    "private_key",
                    S,
                    "CREDENTIAL",
                    "the account's RSA private key (local accounts)",
                    rsa_private_key,
                    0.5,
                ),
                N("public_key", S, "the account's RSA public key (public by design)", rsa_public_key),
                N("locked", B, "flag", boolean(0.1)),
                N("followers_count", I64, "count", intr(0, 90000)),
                N("created_at", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        Table(
            "mastodon",
            "users",
            80,
            [
                N("id", I64, "key", intr(1, 90000)),
                C("email", S, "PII", "email", email),
                C("encrypted_password", S, "CREDENTIAL", "bcrypt hash", bcrypt_2a),
                C("current_sign_in_ip", S, "PII", "client IP", ip, 0.1),
                C("otp_secret", S, "CREDENTIAL", "TOTP shared secret (base32)", totp_secret, 0.7),
                C("reset_password_token", S, "CREDENTIAL", "reset token digest (64 hex)", hexs(64), 0.8),
                N("locale", S, "locale", choice("pt-PT", "ro", "hu", "de", "en"), 0.3),
                N("sign_in_count", I64, "count", intr(0, 900)),
                N("approved", B, "flag", boolean(0.95)),
                N("role_id", I64, "role key", choice(-99, 1, 2, 3)),
            ],
        )
    )
    # ---- Matomo
    t.append(
        Table(
            "matomo",
            "log_visit",
            150,
            [
                N("idvisit", I64, "key", intr(1, 10**9)),
                N("idsite", I64, "site key", intr(1, 30)),
                N("idvisitor", S, "visitor id: 8 bytes hex, a pseudonymous cookie key", hexs(16)),
                C("location_ip", S, "PII", "client IP", ip),
                C(
                    "user_id",
                    S,
                    "PII",
                    "the site's user id as set by the site: emails and login names",
                    lambda g: email(g) if g.r.random() < 0.5 else user_name(g),
                    0.5,
                ),
                N("config_id", S, "configuration hash (8 bytes hex; fingerprint, NONE)", hexs(16)),
                N("config_browser_name", S, "code", choice("CH", "FF", "SF", "ED")),
                N("config_os", S, "code", choice("WIN", "MAC", "AND", "IOS", "LIN")),
                N("location_country", S, "country", lambda g: cc2(g).lower()),
                N("location_city", S, "city", city, 0.3),
                N("location_latitude", F64, "latitude (city level)", money(-40, 60, 6), 0.3),
                N("visit_total_time", I64, "seconds", intr(0, 4000)),
                N(
                    "referer_url",
                    S,
                    "URL",
                    lambda g: "https://www." + g.loc().domain_name() + "/" + g.fk["en_IE"].word(),
                    0.4,
                ),
                N("visit_last_action_time", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Greenhouse
    t.append(
        Table(
            "greenhouse",
            "candidates",
            80,
            [
                N("id", I64, "key", intr(10**7, 10**9)),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                N("company", S, "current employer", company, 0.3),
                N("title", S, "job title", job, 0.3),
                C("phone_numbers_value", S, "PII", "phone", phone_mixed, 0.2),
                C("email_addresses_value", S, "PII", "email", email, 0.1),
                C(
                    "addresses_value",
                    S,
                    "PII",
                    "candidate's home address",
                    lambda g: (lambda f: f"{f.street_address()}, {f.postcode()} {f.city()}")(g.loc()),
                    0.5,
                ),
                C("recruiter_name", S, "PII", "recruiter's name", name),
                N("is_private", B, "flag", boolean(0.1)),
                N("tags", S, "tags", choice("Python", "Referral", "Sourced", "")),
                N("application_ids", S, "JSON list of keys", lambda g: json.dumps([g.r.randint(10**7, 10**9)])),
                N("last_activity", S, "ISO timestamp", iso),
            ],
        )
    )
    # ---- opaque headers, content only: other names and other mixes than sets 1 and 2
    t.append(
        Table(
            "opaque",
            "blob_p",
            150,
            [
                C(
                    "p01",
                    S,
                    "PII",
                    "phones of AT, PT, GR, RO, HU, CO, PE, VN, TH, ID, MY, EG, KE, SA, AE, IL, UA, BE, CH, SG, intl.",
                    phone_intl,
                    0.1,
                ),
                C("p02", S, "PII", "same countries, national notation (libphonenumber's)", phone_national, 0.1),
                C("p03", S, "PII", "same countries, RFC 3966 tel: URIs", phone_rfc3966, 0.1),
                C("p04", I64, "PII", "E.164 digits as int64 without the plus", lambda g: int(phone_e164(g)[1:])),
                C(
                    "p05",
                    S,
                    "PII",
                    "phones as Faker's pt_PT, ro_RO, hu_HU, de_AT, es_AR, es_CO, sk_SK, sl_SI locales type them",
                    lambda g: g.loc().phone_number(),
                    0.1,
                ),
                C("p06", S, "PII", "emails with display names 'Name <addr>'", lambda g: f"{name(g)} <{email(g)}>"),
                C(
                    "p07",
                    S,
                    "PII",
                    "person names in Greek, Cyrillic, Hebrew, Arabic, Devanagari, Thai, Vietnamese",
                    lambda g: g.loc(SCRIPTS).name(),
                ),
                C(
                    "p08",
                    S,
                    "PII",
                    "one-line postal addresses of PT, RO, HU, AT, IE, AR, CO, SK, SI, CH",
                    lambda g: g.loc().address().replace("\n", ", "),
                ),
                C(
                    "p09",
                    S,
                    "PII",
                    "client IPv4 addresses with ports",
                    lambda g: f"{ipv4(g)}:{g.r.randint(1024, 65535)}",
                ),
                N("p10", S, "IMEIs (15 digits, Luhn-valid)", imei),
                N("p11", S, "VINs with valid check digit", vin),
                N("p12", S, "EAN-13 barcodes", ean13),
                N("p13", S, "MAC addresses", mac),
                N("p14", S, "invoice numbers", invoice_no),
                N("p15", S, "DHL 10-digit tracking numbers", dhl_tracking),
                N("p16", S, "UPU S10 parcel numbers (RR123456785PT)", s10_tracking),
            ],
        )
    )
    t.append(
        Table(
            "opaque",
            "blob_n",
            120,
            [
                C("n_a", S, "SENSITIVE", "Austrian social insurance numbers (VNR)", vnr_at),
                C("n_b", S, "SENSITIVE", "Portuguese NIF", nif_pt),
                C("n_c", S, "SENSITIVE", "Portuguese Cartão de Cidadão numbers", cc_pt),
                C("n_d", S, "SENSITIVE", "Irish PPS numbers", pps_ie),
                C("n_e", S, "SENSITIVE", "Greek AMKA", amka_gr),
                C("n_f", S, "SENSITIVE", "Romanian CNP", cnp_ro),
                C("n_g", S, "SENSITIVE", "Hungarian personal tax ids (adóazonosító jel)", adoazonosito_hu),
                C("n_h", S, "SENSITIVE", "Czech rodné číslo", rc_cz),
                C("n_i", S, "SENSITIVE", "Turkish TC Kimlik numbers", tckimlik_tr),
                C("n_j", S, "SENSITIVE", "Korean resident registration numbers", rrn_kr),
                C("n_k", S, "SENSITIVE", "Chinese resident identity card numbers", ric_cn),
                C("n_l", S, "SENSITIVE", "Argentine CUIL", cuil_ar),
                C("n_m", S, "SENSITIVE", "Colombian NIT of persons (cédula-based)", nit_co),
                C("n_n", S, "SENSITIVE", "Peruvian DNI with check digit", dni_pe),
                C("n_o", S, "SENSITIVE", "IBANs of PT, GR, BG, LT, LV, EE, SI, MT, CY, IS, IL, QA, KW, JO, UA", iban),
                C("n_p", S, "SENSITIVE", "card numbers: RuPay, Elo, Troy, Hipercard, UATP (Luhn)", card_number),
                C("n_q", I64, "SENSITIVE", "Romanian CNP stored as int64", lambda g: int(cnp_ro(g))),
                C("n_r", S, "SENSITIVE", "passport numbers of PT, GR, RO, TR, CN, AR, CO, AT", passport_other),
                N("n_s", S, "ICCIDs (SIM serials, 19 digits, Luhn)", iccid),
                N("n_t", S, "ISBN-13", isbn13),
                N("n_u", S, "UUIDs", uuid4),
                N("n_v", S, "semantic versions", semver),
                N("n_w", S, "'lat,lon' pairs", latlon),
            ],
        )
    )
    t.append(
        Table(
            "opaque",
            "blob_t",
            100,
            [
                C("t01", S, "CREDENTIAL", "Mailchimp API keys (hex-usN)", mailchimp_key),
                C("t02", S, "CREDENTIAL", "Slack app-level tokens xapp-", slack_app_token),
                C("t03", S, "CREDENTIAL", "Telegram bot tokens", telegram_bot_token),
                C("t04", S, "CREDENTIAL", "GitLab runner tokens glrt-", gitlab_runner_token),
                C("t05", S, "CREDENTIAL", "Terraform Cloud tokens .atlasv1.", terraform_token),
                C("t06", S, "CREDENTIAL", "Postman API keys PMAK-", postman_key),
                C("t07", S, "CREDENTIAL", "Doppler service tokens dp.st.", doppler_token),
                C("t08", S, "CREDENTIAL", "Supabase service_role keys (HS256 JWTs)", jwt_hs),
                C("t09", S, "CREDENTIAL", "PKCS#8 private keys (BEGIN PRIVATE KEY)", pkcs8_key),
                C("t10", S, "CREDENTIAL", "OpenAI project keys sk-proj-", openai_key),
                C("t11", S, "CREDENTIAL", "Anthropic API keys sk-ant-api03-", anthropic_key),
                C("t12", S, "CREDENTIAL", "Hugging Face tokens hf_", huggingface_token),
                C("t13", S, "CREDENTIAL", "Databricks tokens dapi", databricks_token),
                C("t14", S, "CREDENTIAL", "Google OAuth client secrets GOCSPX-", google_client_secret),
                C("t15", S, "CREDENTIAL", "Atlassian API tokens ATATT", atlassian_token),
                C(
                    "t16",
                    S,
                    "CREDENTIAL",
                    "Sentry org tokens sntrys_, Grafana service account tokens glsa_",
                    lambda g: sentry_token(g) if g.r.random() < 0.5 else grafana_token(g),
                ),
                C("t17", S, "CREDENTIAL", "New Relic user keys NRAK-", newrelic_key),
                C("t18", S, "CREDENTIAL", "Braintree access tokens access_token$production$", braintree_token),
                C("t19", S, "CREDENTIAL", "age secret keys AGE-SECRET-KEY-1", age_secret_key),
                C(
                    "t20",
                    S,
                    "CREDENTIAL",
                    "a secrets dump: Mailchimp, Telegram, Postman, Doppler, HF, Databricks, Grafana, New Relic",
                    secret_mix,
                ),
                N("t21", S, "MD5 hex digests of files", md5_hex),
                N("t22", S, "SHA-256 hex digests of files", sha256_hex),
                N("t23", S, "RSA public keys (PEM)", rsa_public_key),
                N("t24", S, "Windows SIDs", sid_windows),
                N("t25", S, "ULID-like ids", ulid_like),
            ],
        )
    )
    # credentials without a recognisable prefix, beside hex look-alikes: only the meaning says CREDENTIAL
    t.append(
        Table(
            "opaque",
            "blob_s",
            60,
            [
                C("s1", S, "CREDENTIAL", "Algolia admin API keys (32 hex)", algolia_key),
                C("s2", S, "CREDENTIAL", "Twilio auth tokens (32 hex)", twilio_auth_token),
                C("s3", S, "CREDENTIAL", "Cloudflare API tokens (40 chars, no prefix)", cloudflare_token),
                C("s4", S, "CREDENTIAL", "Okta API tokens (00 + 40 chars)", okta_api_token),
                C("s5", S, "CREDENTIAL", "Square access tokens EAAA", square_token),
                N(
                    "s6",
                    S,
                    "build numbers",
                    lambda g: f"{g.r.randint(2020, 2026)}.{g.r.randint(1, 52)}.{g.r.randint(1, 999)}",
                ),
                N("s7", S, "ETags (quoted hex)", lambda g: f'"{md5_hex(g)}"'),
            ],
        )
    )
    return t


# --------------------------------------------------------------------------- write


def column_values(g: Gen, col: Col, rows: int) -> pa.Array:
    values = [None if g.r.random() < col.nulls else col.make(g) for _ in range(rows)]
    if col.type == pa.string() and col.nulls:
        values = [g.r.choice(["", "-", "N/D", "null"]) if v is None and g.r.random() < 0.2 else v for v in values]
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
            title, url = SOURCES[tab.source]
            rows.append(
                {
                    "file": f"{tab.source}__{tab.table}.parquet",
                    "source": tab.source,
                    "source_doc": title,
                    "source_url": url,
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
