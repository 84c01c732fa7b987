"""Generate the fifth blind PII evaluation set (issue #15, item 2): the held-out one.

    .venv/bin/python tests/data/pii_eval_v5/make_set.py      # rewrite data/*.parquet and labels.csv

Sets 1 to 4 (tests/data/pii_eval, pii_eval_v2, pii_eval_v3, pii_eval_v4) have been scored and are
now used for development; this set uses public schemas none of them used (SOURCES, README.md):
spend management and business banking, crypto, ERP and HR of other vendors, applicant tracking,
clinical research and practice management, hotels, airlines, car rental, telecom CDRs, RADIUS,
event ticketing, school and learning systems, a government open-data file. Other opaque column
names and other value mixes (phones, IBANs and national ids of NL, PL, CZ, TR, JP, KR, CN, TW, MY,
ZA, KE, NG, TH, ID, PK, IL, IR, PH; other providers' credentials; other password hash formats;
other look-alikes). Every label is decided here from the column's meaning, with set 1's taxonomy
and rules and the decisions recorded by sets 2 to 4, before any detector has run on it.

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
from stdnum import isbn as std_isbn
from stdnum import luhn
from stdnum.cn import ric as cn_ric
from stdnum.cn import uscc as cn_uscc
from stdnum.cz import dic as cz_dic
from stdnum.cz import rc as cz_rc
from stdnum.id import nik as id_nik
from stdnum.il import idnr as il_idnr
from stdnum.jp import cn as jp_cn
from stdnum.jp import in_ as jp_in
from stdnum.ke import pin as ke_pin
from stdnum.kr import brn as kr_brn
from stdnum.kr import rrn as kr_rrn
from stdnum.my import nric as my_nric
from stdnum.nl import bsn as nl_bsn
from stdnum.nl import btw as nl_btw
from stdnum.pk import cnic as pk_cnic
from stdnum.pl import nip as pl_nip
from stdnum.pl import pesel as pl_pesel
from stdnum.pl import regon as pl_regon
from stdnum.th import pin as th_pin
from stdnum.tr import tckimlik as tr_tck
from stdnum.tr import vkn as tr_vkn
from stdnum.tw import ubn as tw_ubn
from stdnum.za import idnr as za_idnr
from stdnum.za import tin as za_tin

HERE = Path(__file__).resolve().parent
SEED = 20270521
LATIN = [
    "nl_NL",
    "nl_BE",
    "pl_PL",
    "cs_CZ",
    "tr_TR",
    "fil_PH",
    "zu_ZA",
    "en_NG",
    "yo_NG",
    "en_KE",
    "sw",
    "uz_UZ",
    "et_EE",
    "de_CH",
    "en_US",
]
SCRIPTS = ["ja_JP", "ko_KR", "zh_CN", "zh_TW", "fa_IR", "bn_BD", "th_TH", "ar_EG"]
LOCALES = LATIN + SCRIPTS
PHONE_LOCALES = [loc for loc in LATIN if loc != "fil_PH"]  # Faker has no phone formats for fil_PH

SOURCES: dict[str, tuple[str, str]] = {
    "gworkspace": (
        "Google Workspace Admin SDK Directory API: users (flattened)",
        "https://developers.google.com/admin-sdk/directory/reference/rest/v1/users",
    ),
    "brex": ("Brex API: team users, cards; vendors", "https://developer.brex.com/openapi/team_api/"),
    "ramp": ("Ramp Developer API: users, transactions", "https://docs.ramp.com/developer-api/v1/api/users"),
    "revolut_business": (
        "Revolut Business API: counterparties, API credentials",
        "https://developer.revolut.com/docs/business/counterparties",
    ),
    "mercury": ("Mercury API: recipients", "https://docs.mercury.com/reference/getrecipients"),
    "coinbase": (
        "Coinbase App API v2: users, addresses, transactions",
        "https://docs.cdp.coinbase.com/coinbase-app/docs/api-users",
    ),
    "netsuite": (
        "Oracle NetSuite records: employee, customer (SuiteTalk REST field ids)",
        "https://system.netsuite.com/help/helpcenter/en_US/APIs/REST_API_Browser/record/v1/2024.1/index.html",
    ),
    "personio": (
        "Personio Personnel API: employees (attributes flattened)",
        "https://developer.personio.de/reference/get_company-employees",
    ),
    "deel": ("Deel API: people, contracts", "https://developer.deel.com/reference/getpeoplelist"),
    "lever": ("Lever API: opportunities (candidates)", "https://hire.lever.co/developer/documentation#opportunities"),
    "teamtailor": ("Teamtailor API: candidates", "https://docs.teamtailor.com/#candidates"),
    "redcap": (
        "REDCap record export (flat CSV of a demographics instrument, as the REDCap API exports it)",
        "https://redcap.vumc.org/api/help/?content=exp_records",
    ),
    "athenahealth": ("athenahealth athenaOne API: patients", "https://docs.athenahealth.com/api/api-ref/patient"),
    "opera_pms": (
        "Oracle Hospitality OPERA Cloud: guest profiles, reservations (OHIP fields flattened)",
        "https://docs.oracle.com/en/industries/hospitality/integration-platform/ohipu/c_ohip_crm.htm",
    ),
    "airline_pnr": (
        "Airline passenger name records and APIS data (IATA PNRGOV / PADIS, SSR DOCS)",
        "https://www.iata.org/en/programs/passenger/passenger-data/",
    ),
    "car_rental": (
        "Car rental agreements (OpenTravel Alliance OTA_VehRes / VehRentalCore fields)",
        "https://opentravel.org/specifications/",
    ),
    "telecom_cdr": (
        "Mobile network call detail records (3GPP TS 32.298 CDR fields)",
        "https://www.3gpp.org/DynaReport/32298.htm",
    ),
    "radius": (
        "FreeRADIUS SQL schema: radacct, radcheck, nas",
        "https://github.com/FreeRADIUS/freeradius-server/blob/master/raddb/mods-config/sql/main/postgresql/schema.sql",
    ),
    "eventbrite": ("Eventbrite API: attendees", "https://www.eventbrite.com/platform/api#/reference/attendee"),
    "canvas_lms": (
        "Canvas LMS REST API: users, access tokens",
        "https://canvas.instructure.com/doc/api/users.html",
    ),
    "powerschool": (
        "PowerSchool SIS database: STUDENTS table",
        "https://support.powerschool.com/developer/#/page/data-dictionary",
    ),
    "fec": (
        "US FEC bulk data: contributions by individuals (itcont)",
        "https://www.fec.gov/campaign-finance-data/contributions-individuals-file-description/",
    ),
    "opaque": (
        "Generic-header exports (no public schema: content-only columns, names chosen opaque on purpose)",
        "tests/data/pii_eval_v5/README.md",
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
LOWER = string.ascii_lowercase
UPPER_ALNUM = UPPER + string.digits
LOWER_ALNUM = LOWER + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
CRYPT64 = "./" + string.digits + UPPER + LOWER


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


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# phones: valid numbers (libphonenumber metadata) of countries sets 1 to 3 did not stress
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


def luhn_num(g: Gen, prefix: str, length: int) -> str:
    body = prefix + g.digits(length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def pem(kind: str, body: bytes) -> str:
    text = b64(body)
    return (
        f"-----BEGIN {kind}-----\n"
        + "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
        + f"\n-----END {kind}-----\n"
    )


def jwt(header: dict[str, Any], payload: dict[str, Any], sig: bytes) -> str:
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)]
    return ".".join([*parts, b64url(sig)])


# phones: valid numbers (libphonenumber metadata) of countries sets 1 to 4 did not stress

PHONE_REGIONS = ["NL", "PL", "CZ", "TR", "JP", "KR", "CN", "TW", "MY", "ZA", "KE", "TZ", "IR", "TH", "ID", "EG"]


def phone_tel(g: Gen, regions: list[str] | None = None) -> str:
    return phone_fmt(g, phonenumbers.PhoneNumberFormat.RFC3966, regions)


def phone_dotted(g: Gen, regions: list[str] | None = None) -> str:
    """'+31.6.12.34.56.78'-style: the international number with dots."""
    return phone_intl(g, regions).replace(" ", ".").replace("-", ".")


def phone_mixed(g: Gen, regions: list[str] | None = None) -> str:
    """What people type: international, E.164, national, 00-prefixed, tel:, dotted, Faker's formats."""
    x = g.r.random()
    if x < 0.25:
        return phone_intl(g, regions)
    if x < 0.4:
        return phone_e164(g, regions)
    if x < 0.6:
        return phone_national(g, regions)
    if x < 0.68:
        return "00" + phone_e164(g, regions)[1:]
    if x < 0.74:
        return phone_tel(g, regions)
    if x < 0.8:
        return phone_dotted(g, regions)
    return g.loc(PHONE_LOCALES).phone_number()


def phone_of(*regions: str) -> Callable[[Gen], str]:
    return lambda g: phone_mixed(g, list(regions))


def phone_int(g: Gen, regions: list[str] | None = None) -> int:
    return int(phone_e164(g, regions)[1:])


def msisdn(g: Gen) -> str:
    """An MSISDN as switches write it: country code and number, no plus."""
    p = valid_phone(g, ["NG", "KE", "ZA", "TZ", "PH", "MY", "ID", "TR", "PL"])
    return phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)[1:]


# IBANs of countries sets 1 to 4 did not use, and NL/PL/CZ/TR (the brief's locales)

IBAN_BBAN: dict[str, Callable[[Gen], str]] = {
    "NL": lambda g: g.r.choice(["ABNA", "INGB", "RABO", "TRIO", "SNSB"]) + g.digits(10),
    "PL": lambda g: g.digits(24),
    "CZ": lambda g: g.r.choice(["0800", "0100", "2010", "0300"]) + g.digits(16),
    "TR": lambda g: g.digits(5) + "0" + g.digits(16),
    "KZ": lambda g: g.digits(3) + g.s(UPPER_ALNUM, 13),
    "EG": lambda g: g.digits(25),
    "CR": lambda g: "0" + g.digits(17),
    "DO": lambda g: g.s(UPPER, 4) + g.digits(20),
    "GT": lambda g: g.s(UPPER_ALNUM, 4) + g.s(UPPER_ALNUM, 20),
    "MR": lambda g: g.digits(23),
    "TN": lambda g: g.digits(20),
    "FO": lambda g: g.digits(14),
    "GL": lambda g: g.digits(14),
    "GI": lambda g: g.s(UPPER, 4) + g.s(UPPER_ALNUM, 15),
    "IQ": lambda g: g.s(UPPER, 4) + g.digits(15),
    "LB": lambda g: g.digits(4) + g.s(UPPER_ALNUM, 20),
    "VA": lambda g: g.digits(18),
    "SV": lambda g: g.s(UPPER, 4) + g.digits(20),
}


def iban(g: Gen, countries: list[str] | None = None, spaced: float = 0.4) -> str:
    cc = g.r.choice(countries or list(IBAN_BBAN))

    def make(g: Gen) -> str:
        bban = IBAN_BBAN[cc](g)
        return cc + std_iban.calc_check_digits(cc + "00" + bban) + bban

    value = until(g, make, std_iban.is_valid)
    return std_iban.format(value) if g.r.random() < spaced else value


def iban_of(*countries: str) -> Callable[[Gen], str]:
    return lambda g: iban(g, list(countries))


def card_number(g: Gen) -> str:
    """Visa, Mastercard, Amex, JCB, UnionPay, Discover; Luhn-valid; plain, spaced or dashed."""
    kind = g.r.choice(["visa", "visa", "mc", "amex", "jcb", "unionpay", "discover"])
    num = {
        "visa": lambda: luhn_num(g, "4" + g.digits(5), 16),
        "mc": lambda: luhn_num(g, g.r.choice(["51", "52", "54", "2221", "2500"]), 16),
        "amex": lambda: luhn_num(g, g.r.choice(["34", "37"]), 15),
        "jcb": lambda: luhn_num(g, "35" + str(g.r.randint(28, 89)), 16),
        "unionpay": lambda: luhn_num(g, "62" + g.digits(4), g.r.choice([16, 19])),
        "discover": lambda: luhn_num(g, "6011", 16),
    }[kind]()
    x = g.r.random()
    if x < 0.3 and len(num) == 16:
        return " ".join(num[i : i + 4] for i in range(0, 16, 4))
    if x < 0.4 and len(num) == 16:
        return "-".join(num[i : i + 4] for i in range(0, 16, 4))
    return num


def masked_card(g: Gen) -> str:
    return g.r.choice(["XXXX-XXXX-XXXX-", "************", "•••• ", "4" + g.digits(5) + "******"]) + g.digits(4)


# national identity, tax, licence and passport numbers (check digits by python-stdnum where it has them


def bsn_nl(g: Gen) -> str:
    v = until(g, lambda g: g.digits(9), nl_bsn.is_valid)
    return nl_bsn.format(v) if g.r.random() < 0.3 else v


def pesel_pl(g: Gen) -> str:
    def make(g: Gen) -> str:
        d = birth(g)
        mm = d.month + (20 if d.year >= 2000 else 0)
        head = f"{d.year % 100:02d}{mm:02d}{d.day:02d}" + g.digits(4)
        return head + pl_pesel.calc_check_digit(head)

    return until(g, make, pl_pesel.is_valid)


def rc_cz(g: Gen) -> str:
    def make(g: Gen) -> str:
        d = birth(g, 1954, 2005)
        mm = d.month + (50 if g.r.random() < 0.5 else 0)
        head = f"{d.year % 100:02d}{mm:02d}{d.day:02d}" + g.digits(3)
        return head + str(int(head) % 11 % 10)

    v = until(g, make, cz_rc.is_valid)
    return cz_rc.format(v) if g.r.random() < 0.7 else v


def tck_tr(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = str(g.r.randint(1, 9)) + g.digits(8)
        return head + tr_tck.calc_check_digits(head)

    return until(g, make, tr_tck.is_valid)


def mynumber_jp(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.digits(11)
        return head + jp_in.calc_check_digit(head)

    v = until(g, make, jp_in.is_valid)
    return f"{v[:4]} {v[4:8]} {v[8:]}" if g.r.random() < 0.4 else v


def rrn_kr(g: Gen) -> str:
    def make(g: Gen) -> str:
        d = birth(g, 1950, 1999)
        head = d.strftime("%y%m%d") + g.r.choice("12") + g.digits(5)
        return head + kr_rrn.calc_check_digit(head)

    return kr_rrn.format(until(g, make, kr_rrn.is_valid))


def ric_cn(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = (
            g.r.choice(["110101", "310104", "440305", "510107", "330106", "420102"])
            + birth(g).strftime("%Y%m%d")
            + g.digits(3)
        )
        return head + cn_ric.calc_check_digit(head)

    return until(g, make, cn_ric.is_valid)


TW_LETTERS = {c: n for c, n in zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True)}


def tw_id(g: Gen) -> str:
    """Taiwan national identification number: letter, sex digit, 7 digits, check digit."""
    letter = g.r.choice("ABCDEFGHJKLMNPQRSTUVXYWZIO")
    body = g.r.choice("12") + g.digits(7)
    n = TW_LETTERS[letter]
    total = n // 10 + (n % 10) * 9 + sum(int(c) * w for c, w in zip(body, [8, 7, 6, 5, 4, 3, 2, 1], strict=True))
    return letter + body + str((10 - total % 10) % 10)


def nric_my(g: Gen) -> str:
    def make(g: Gen) -> str:
        return birth(g, 1950, 2005).strftime("%y%m%d") + g.r.choice(["01", "10", "14", "08", "12"]) + g.digits(4)

    v = until(g, make, my_nric.is_valid)
    return my_nric.format(v) if g.r.random() < 0.6 else v


def id_za(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = birth(g).strftime("%y%m%d") + g.digits(4) + g.r.choice("01") + "8"
        return head + luhn.calc_check_digit(head)

    return until(g, make, za_idnr.is_valid)


def tin_za(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.r.choice("0123") + g.digits(8)
        return head + luhn.calc_check_digit(head)

    return until(g, make, za_tin.is_valid)


def pin_ke(g: Gen) -> str:
    """Kenyan KRA PIN of a person: A + 9 digits + letter."""
    return until(g, lambda g: "A" + g.digits(9) + g.s(UPPER, 1), ke_pin.is_valid)


def pin_th(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.r.choice("1358") + g.digits(11)
        return head + th_pin.calc_check_digit(head)

    v = until(g, make, th_pin.is_valid)
    return th_pin.format(v) if g.r.random() < 0.4 else v


def nik_id(g: Gen) -> str:
    def make(g: Gen) -> str:
        d = birth(g)
        day = d.day + (40 if g.r.random() < 0.5 else 0)
        return g.r.choice(["3171", "3273", "3578", "5171", "1271"]) + g.digits(2) + f"{day:02d}{d:%m%y}" + g.digits(4)

    return until(g, make, id_nik.is_valid)


def cnic_pk(g: Gen) -> str:
    v = until(g, lambda g: g.r.choice("1234567") + g.digits(11) + g.r.choice("123456789"), pk_cnic.is_valid)
    return pk_cnic.format(v) if g.r.random() < 0.7 else v


def idnr_il(g: Gen) -> str:
    return until(g, lambda g: g.r.choice("0123") + g.digits(8), il_idnr.is_valid)


def melli_ir(g: Gen) -> str:
    """Iranian national code (kod-e melli): 9 digits and a mod-11 check digit."""
    head = g.digits(9)
    r = sum(int(c) * (10 - i) for i, c in enumerate(head)) % 11
    v = head + str(r if r < 2 else 11 - r)
    return f"{v[:3]}-{v[3:9]}-{v[9]}" if g.r.random() < 0.3 else v


def nin_ng(g: Gen) -> str:
    return g.digits(11)


def bvn_ng(g: Gen) -> str:
    return "22" + g.digits(9)


def sss_ph(g: Gen) -> str:
    return f"{g.digits(2)}-{g.digits(7)}-{g.digits(1)}"


def tin_ph(g: Gen) -> str:
    return f"{g.digits(3)}-{g.digits(3)}-{g.digits(3)}-000"


def nid_bd(g: Gen) -> str:
    return g.r.choice([g.digits(10), g.digits(13), birth(g).strftime("%Y") + g.digits(13)])


def ssn_us(g: Gen) -> str:
    a = g.r.randint(1, 899)
    while a == 666:
        a = g.r.randint(1, 899)
    v = f"{a:03d}-{g.r.randint(1, 99):02d}-{g.r.randint(1, 9999):04d}"
    return v if g.r.random() < 0.7 else v.replace("-", "")


def national_id_mix(g: Gen) -> str:
    return g.r.choice(
        [bsn_nl, pesel_pl, rc_cz, tck_tr, mynumber_jp, rrn_kr, ric_cn, tw_id, nric_my, id_za, pin_ke, nik_id]
    )(g)


def passport_v5(g: Gen) -> str:
    kind = g.r.choice(["NL", "PL", "CZ", "TR", "JP", "KR", "CN", "TW", "MY", "ZA", "KE", "US", "PH"])
    return {
        "NL": lambda: g.s("ABCDEFGHIJKLMNPRSTUVWXYZ", 2) + g.s("ABCDEFGHIJKLMNPRSTUVWXYZ0123456789", 6) + g.digits(1),
        "PL": lambda: g.s(UPPER, 2) + g.digits(7),
        "CZ": lambda: g.digits(8),
        "TR": lambda: "U" + g.digits(8),
        "JP": lambda: g.r.choice(["TK", "TR", "MZ", "TZ"]) + g.digits(7),
        "KR": lambda: g.r.choice(["M", "S", "R"]) + g.digits(8),
        "CN": lambda: g.r.choice(["E" + g.digits(8), "EA" + g.digits(7), "EB" + g.digits(7)]),
        "TW": lambda: "3" + g.digits(8),
        "MY": lambda: g.r.choice(["A", "H", "K"]) + g.digits(8),
        "ZA": lambda: g.r.choice(["A", "M", "T"]) + g.digits(8),
        "KE": lambda: g.r.choice(["AK", "BK"]) + g.digits(7),
        "US": lambda: g.r.choice(["5", "A"]) + g.digits(8),
        "PH": lambda: "P" + g.digits(7) + g.s(UPPER, 1),
    }[kind]()


def dl_world(g: Gen) -> str:
    """Driving licences: NL (10 digits), PL (nnnnn/yy/nnnn), JP (12 digits), KR, ZA, PH, US GA/VA/MA/WI."""
    return g.r.choice(
        [
            lambda: g.digits(10),
            lambda: f"{g.digits(5)}/{g.digits(2)}/{g.digits(4)}",
            lambda: g.digits(12),
            lambda: f"{g.r.randint(11, 28)}-{g.digits(2)}-{g.digits(6)}-{g.digits(2)}",
            lambda: g.digits(10) + g.s(UPPER, 1) + g.digits(1),
            lambda: f"{g.s(UPPER, 1)}{g.digits(2)}-{g.digits(2)}-{g.digits(6)}",
            lambda: g.digits(9),
            lambda: g.s(UPPER, 1) + g.digits(8),
            lambda: "S" + g.digits(8),
            lambda: f"{g.s(UPPER, 1)}{g.digits(3)}-{g.digits(4)}-{g.digits(4)}-{g.digits(2)}",
        ]
    )()


def dl_us(g: Gen) -> str:
    """US driver's licences of states the earlier sets did not use: GA, VA, MA, AZ, CO, NC, MN, WI."""
    return g.r.choice(
        [
            lambda: g.digits(9),
            lambda: g.s(UPPER, 1) + g.digits(8),
            lambda: "S" + g.digits(8),
            lambda: "D" + g.digits(8),
            lambda: f"{g.digits(2)}-{g.digits(3)}-{g.digits(4)}",
            lambda: g.digits(12),
            lambda: g.s(UPPER, 1) + g.digits(12),
            lambda: f"{g.s(UPPER, 1)}{g.digits(3)}-{g.digits(4)}-{g.digits(4)}-{g.digits(2)}",
        ]
    )()


def mrn(g: Gen) -> str:
    return g.r.choice([g.digits(7), "MRN" + g.digits(8), f"{g.digits(2)}-{g.digits(2)}-{g.digits(2)}"])


def member_id(g: Gen) -> str:
    return g.r.choice([g.s(UPPER, 3) + g.digits(9), "W" + g.digits(9), g.digits(9) + "01", g.s(UPPER_ALNUM, 11)])


def bank_account(g: Gen) -> str:
    return g.digits(g.r.choice([9, 10, 11, 12, 14]))


def cz_account(g: Gen) -> str:
    prefix = g.r.choice(["", "19-", "35-", "670100-"])
    return f"{prefix}{g.r.randint(10**6, 10**10)}/{g.r.choice(['0800', '0100', '0300', '2010', '5500'])}"


def jp_account(g: Gen) -> str:
    return f"{g.r.choice(['普通', '当座', 'Futsu'])} {g.digits(3)}-{g.digits(7)}"


def kr_account(g: Gen) -> str:
    return f"{g.digits(3)}-{g.digits(2 if g.r.random() < 0.5 else 3)}-{g.digits(6)}"


def nuban(g: Gen) -> str:
    return g.digits(10)


def aba_routing(g: Gen) -> str:
    head = g.r.choice(["0110", "0210", "0260", "0710", "1210", "3222", "0910"]) + g.digits(4)
    check = (10 - sum(int(c) * w for c, w in zip(head, [3, 7, 1, 3, 7, 1, 3, 7], strict=True)) % 10) % 10
    return head + str(check)


def bic(g: Gen) -> str:
    return (
        g.s(UPPER, 4)
        + g.r.choice(["NL", "PL", "CZ", "TR", "JP", "KR", "ZA", "KE", "NG"])
        + g.s(UPPER_ALNUM, 2)
        + g.r.choice(["", "XXX"])
    )


def btc_address(g: Gen) -> str:
    return g.r.choice(
        [
            lambda: "bc1q" + g.s("023456789acdefghjklmnpqrstuvwxyz", 38),
            lambda: "1" + g.s("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 33),
            lambda: "3" + g.s("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 33),
            lambda: "0x" + g.s(HEX, 40),
        ]
    )()


# company numbers: NONE look-alikes


def nip_pl_company(g: Gen) -> str:
    v = until(g, lambda g: g.r.choice("123456789") + g.digits(9), pl_nip.is_valid)
    return "PL" + v if g.r.random() < 0.4 else v


def regon_pl(g: Gen) -> str:
    return until(g, lambda g: (lambda h: h + pl_regon.calc_check_digit(h))(g.digits(8)), pl_regon.is_valid)


def btw_nl(g: Gen) -> str:
    def make(g: Gen) -> str:
        return "NL" + until(g, lambda g: g.digits(9), nl_bsn.is_valid) + "B" + g.digits(2)

    return until(g, make, nl_btw.is_valid)


def dic_cz_company(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = g.r.choice("2468") + g.digits(6)
        return "CZ" + head + cz_dic.calc_check_digit_legal(head)

    return until(g, make, cz_dic.is_valid)


def vkn_tr(g: Gen) -> str:
    return until(g, lambda g: (lambda h: h + tr_vkn.calc_check_digit(h))(g.digits(9)), tr_vkn.is_valid)


def corp_jp(g: Gen) -> str:
    return until(g, lambda g: (lambda b: jp_cn.calc_check_digit(b) + b)(g.digits(12)), jp_cn.is_valid)


def brn_kr(g: Gen) -> str:
    return kr_brn.format(until(g, lambda g: g.r.choice("123456") + g.digits(9), kr_brn.is_valid))


def uscc_cn(g: Gen) -> str:
    def make(g: Gen) -> str:
        head = "91" + g.r.choice(["110000", "310000", "440300"]) + g.s("0123456789ABCDEFGHJKLMNPQRTUWXY", 9)
        return head + cn_uscc.calc_check_digit(head)

    return until(g, make, cn_uscc.is_valid)


def ubn_tw(g: Gen) -> str:
    return until(g, lambda g: g.digits(8), tw_ubn.is_valid)


def company_tax_mix(g: Gen) -> str:
    return g.r.choice([nip_pl_company, regon_pl, btw_nl, dic_cz_company, vkn_tr, corp_jp, brn_kr, uscc_cn, ubn_tw])(g)


def za_company_reg(g: Gen) -> str:
    return f"{g.r.randint(1990, 2025)}/{g.digits(6)}/{g.r.choice(['07', '08', '23', '06'])}"


# credentials of providers sets 1 to 4 did not use


def brex_token(g: Gen) -> str:
    return "bxt_" + g.s(ALNUM, 32)


def mercury_token(g: Gen) -> str:
    return "secret-token:mercury_production_" + g.s(LOWER_ALNUM, 10) + "_" + g.s(ALNUM, 40)


def revolut_refresh(g: Gen) -> str:
    return "oa_prod_" + g.s(B64URL, 43)


def revolut_client_assertion(g: Gen) -> str:
    header = {"alg": "RS256", "typ": "JWT"}
    iat = 1_700_000_000 + g.r.randint(0, 40_000_000)
    payload = {
        "iss": "example.com",
        "sub": g.s(B64URL, 43),
        "aud": "https://revolut.com",
        "exp": iat + 90 * 86400,
    }
    return jwt(header, payload, g.raw(256))


def hs512_jwt(g: Gen) -> str:
    iat = 1_700_000_000 + g.r.randint(0, 50_000_000)
    return jwt({"alg": "HS512", "typ": "JWT"}, {"sub": uuid4(g), "role": "user", "iat": iat}, g.raw(64))


def eddsa_jwt(g: Gen) -> str:
    iat = 1_700_000_000 + g.r.randint(0, 50_000_000)
    return jwt({"alg": "EdDSA", "kid": g.s(HEX, 16)}, {"iss": "https://auth.example.net", "exp": iat}, g.raw(64))


def coinbase_key_secret(g: Gen) -> str:
    return pem("EC PRIVATE KEY", b"\x30\x77\x02\x01\x01\x04\x20" + g.raw(112)).replace("\n", "\\n")


def canvas_token(g: Gen) -> str:
    return f"{g.r.randint(1, 25000)}~{g.s(ALNUM, 64)}"


def groq_key(g: Gen) -> str:
    return "gsk_" + g.s(ALNUM, 52)


def replicate_token(g: Gen) -> str:
    return "r8_" + g.s(ALNUM, 37)


def perplexity_key(g: Gen) -> str:
    return "pplx-" + g.s(ALNUM, 48)


def xai_key(g: Gen) -> str:
    return "xai-" + g.s(ALNUM, 80)


def resend_key(g: Gen) -> str:
    return "re_" + g.s(ALNUM, 8) + "_" + g.s(ALNUM, 24)


def supabase_pat(g: Gen) -> str:
    return "sbp_" + g.s(HEX, 40)


def onepassword_sa(g: Gen) -> str:
    return "ops_" + b64url(
        json.dumps(
            {
                "signInAddress": "my.1password.com",
                "userAuth": {"method": "SRPg-4096"},
                "email": g.s(LOWER, 26) + "@1passwordserviceaccounts.com",
                "srpX": g.s(HEX, 64),
                "muk": {"k": g.s(B64URL, 43)},
            }
        ).encode()
    )


def tailscale_key(g: Gen) -> str:
    return f"tskey-auth-{g.s(ALNUM, 17)}-{g.s(ALNUM, 33)}"


def ngrok_token(g: Gen) -> str:
    return g.r.choice("123") + g.s(ALNUM, 26) + "_" + g.s(ALNUM, 22)


def adafruit_key(g: Gen) -> str:
    return "aio_" + g.s(ALNUM, 28)


def typeform_token(g: Gen) -> str:
    return "tfp_" + g.s(ALNUM, 44) + "_" + g.s(ALNUM, 14)


def lob_key(g: Gen) -> str:
    return "live_" + g.s(HEX, 35)


def asana_pat(g: Gen) -> str:
    return f"2/{g.digits(16)}/{g.digits(16)}:{g.s(HEX, 32)}"


def azure_sas(g: Gen) -> str:
    sig = b64(g.raw(32)).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return (
        "sv=2022-11-02&ss=bfqt&srt=sco&sp=rwdlacupiytfx"
        f"&se=2027-06-30T17:00:00Z&st=2026-01-01T09:00:00Z&spr=https&sig={sig}"
    )


def azure_devops_pat(g: Gen) -> str:
    return g.s("abcdefghijklmnopqrstuvwxyz234567", 52)


def cohere_key(g: Gen) -> str:
    return g.s(ALNUM, 40)


def mistral_key(g: Gen) -> str:
    return g.s(ALNUM, 32)


def postmark_token(g: Gen) -> str:
    return uuid4(g)


def eventbrite_token(g: Gen) -> str:
    return g.s(UPPER_ALNUM, 20)


def lever_key(g: Gen) -> str:
    return g.s(ALNUM + "/+", 48)


def personio_secret(g: Gen) -> str:
    return "papi-" + g.s(HEX, 8) + "-" + g.s(HEX, 4) + "-" + g.s(HEX, 4) + "-" + g.s(HEX, 4) + "-" + g.s(HEX, 12)


def zendesk_like_token(g: Gen) -> str:
    return g.s(ALNUM, 40)


def jdbc_url(g: Gen) -> str:
    user = g.fk["nl_NL"].user_name()
    pw = g.s(ALNUM + "#!", g.r.randint(10, 20))
    return g.r.choice(
        [
            f"jdbc:postgresql://pg-prod.internal:5432/erp?user={user}&password={pw}",
            f"Server=tcp:sql-{g.s(LOWER, 6)}.database.windows.net,1433;Database=hr;"
            f"User ID={user};Password={pw};Encrypt=True;",
            f"postgresql://{user}:{pw}@10.20.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}:5432/billing",
            f"jdbc:oracle:thin:{user}/{pw}@//ora-01.corp:1521/ORCLPDB1",
            f"sqlserver://{user}:{pw}@mssql.local?database=crm",
        ]
    )


def putty_key(g: Gen) -> str:
    pub = b64(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + g.raw(32))
    priv = b64(g.raw(48))
    return (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20260101\n"
        f"Public-Lines: 2\n{pub[:64]}\n{pub[64:]}\nPrivate-Lines: 1\n{priv}\nPrivate-MAC: {g.s(HEX, 64)}\n"
    )


def jwk_private(g: Gen) -> str:
    return json.dumps(
        {"kty": "EC", "crv": "P-256", "x": b64url(g.raw(32)), "y": b64url(g.raw(32)), "d": b64url(g.raw(32))}
    )


def pkcs8_key(g: Gen) -> str:
    return pem("PRIVATE KEY", b"\x30\x82\x04\xbe\x02\x01\x00\x30\x0d" + g.raw(1200))


def plain_password(g: Gen) -> str:
    f = g.loc()
    x = g.r.random()
    if x < 0.3:
        return f.word().capitalize() + str(g.r.randint(1, 2026)) + g.r.choice("!@#$?")
    if x < 0.6:
        return f.password(length=g.r.randint(8, 18))
    if x < 0.75:
        return "-".join(g.fk["en_US"].word() for _ in range(3))
    return g.s(ALNUM, g.r.randint(8, 14))


# password hashes in formats sets 1 to 4 did not use


def md5crypt(g: Gen) -> str:
    return "$1$" + g.s(CRYPT64, 8) + "$" + g.s(CRYPT64, 22)


def sha256crypt(g: Gen) -> str:
    return "$5$" + g.r.choice(["", "rounds=10000$"]) + g.s(CRYPT64, 16) + "$" + g.s(CRYPT64, 43)


def apr1(g: Gen) -> str:
    return "$apr1$" + g.s(CRYPT64, 8) + "$" + g.s(CRYPT64, 22)


def aspnet_identity_v3(g: Gen) -> str:
    return b64(b"\x01\x00\x00\x00\x01\x00\x00\x27\x10\x00\x00\x00\x10" + g.raw(48))


def spring_hash(g: Gen) -> str:
    return g.r.choice(
        [
            lambda: "{bcrypt}$2a$10$" + g.s(CRYPT64, 53),
            lambda: "{pbkdf2}" + g.s(HEX, 80),
            lambda: "{sha256}" + g.s(HEX, 80),
        ]
    )()


def passlib_pbkdf2(g: Gen) -> str:
    return f"$pbkdf2-sha256$29000${g.s(CRYPT64, 22)}${g.s(CRYPT64, 43)}"


def cisco_hash(g: Gen) -> str:
    return g.r.choice(["$8$", "$9$"]) + g.s(CRYPT64, 14) + "$" + g.s(CRYPT64, 43)


def mssql_hash(g: Gen) -> str:
    return "0x0200" + g.s(HEX.upper(), 136)


def argon2i(g: Gen) -> str:
    return f"$argon2i$v=19$m=4096,t=3,p=1${b64(g.raw(16)).rstrip('=')}${b64(g.raw(32)).rstrip('=')}"


def bcrypt_2b(g: Gen) -> str:
    return "$2b$12$" + g.s(CRYPT64, 53)


def joomla_hash(g: Gen) -> str:
    return g.s(HEX, 32) + ":" + g.s(ALNUM, 32)


def sha1_hex(g: Gen) -> str:
    return hashlib.sha1(g.raw(20)).hexdigest()


def sha256_hex(g: Gen) -> str:
    return hashlib.sha256(g.raw(32)).hexdigest()


def md5_hex(g: Gen) -> str:
    return hashlib.md5(g.raw(16)).hexdigest()


def hex_secret(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


def b64_secret(nbytes: int) -> Callable[[Gen], str]:
    return lambda g: b64(g.raw(nbytes))


def secret_dump(g: Gen) -> str:
    return g.r.choice([groq_key, replicate_token, resend_key, supabase_pat, tailscale_key, typeform_token])(g)


# PII makers


def email(g: Gen, locales: list[str] | None = None) -> str:
    f = g.loc(locales)
    value = f.email() if g.r.random() < 0.6 else f.free_email()
    x = g.r.random()
    if x < 0.05:
        return value.upper()
    if x < 0.1:
        user, domain = value.split("@")
        return f"{user}+{g.r.choice(['hotel', 'fly', 'uni'])}@{domain}"
    return value


def work_email(g: Gen) -> str:
    f = g.loc()
    return f"{f.first_name()}.{f.last_name()}@{f.domain_name()}".lower().replace(" ", "")


def name(g: Gen) -> str:
    return g.loc(LOCALES).name()


def latin_name(g: Gen) -> str:
    return g.loc().name()


def first(g: Gen) -> str:
    return g.loc(LOCALES).first_name()


def last(g: Gen) -> str:
    return g.loc(LOCALES).last_name()


def first_latin(g: Gen) -> str:
    return g.loc().first_name()


def last_latin(g: Gen) -> str:
    return g.loc().last_name()


def script_name(g: Gen) -> str:
    return g.loc(SCRIPTS).name()


def street(g: Gen) -> str:
    return g.loc(LOCALES).street_address()


def postcode(g: Gen) -> str:
    return g.loc(LOCALES).postcode()


def address_ml(g: Gen) -> str:
    return g.loc(LOCALES).address()


def one_line_address(g: Gen) -> str:
    return g.loc(LOCALES).address().replace("\n", ", ")


def ipv4(g: Gen) -> str:
    return g.fk["en_US"].ipv4_public()


def ip(g: Gen) -> str:
    return ipv4(g) if g.r.random() < 0.7 else g.fk["en_US"].ipv6()


def user_name(g: Gen) -> str:
    return g.loc().user_name()


def dob(g: Gen) -> dt.date:
    return birth(g)


def dob_fmt(fmt: str) -> Callable[[Gen], str]:
    return lambda g: birth(g).strftime(fmt)


def dob_ja(g: Gen) -> str:
    d = birth(g)
    return f"{d.year}年{d.month}月{d.day}日"


# NONE makers


def uuid4(g: Gen) -> str:
    return str(uuid.UUID(int=g.r.getrandbits(128), version=4))


def ts(g: Gen) -> dt.datetime:
    return dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=g.r.randint(0, 7 * 365 * 86400))


def iso(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(g: Gen) -> str:
    return ts(g).strftime("%Y-%m-%dT%H:%M:%S.") + f"{g.r.randint(0, 999):03d}Z"


def epoch(g: Gen) -> int:
    return int(ts(g).timestamp())


def epoch_ms(g: Gen) -> int:
    return int(ts(g).timestamp()) * 1000 + g.r.randint(0, 999)


def date(g: Gen) -> dt.date:
    return dt.date(2016, 1, 1) + dt.timedelta(days=g.r.randint(0, 3800))


def date_str(fmt: str) -> Callable[[Gen], str]:
    return lambda g: date(g).strftime(fmt)


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
    return g.loc(LOCALES).company()


def city(g: Gen) -> str:
    return g.loc(LOCALES).city()


def cc2(g: Gen) -> str:
    return g.r.choice(["NL", "PL", "CZ", "TR", "JP", "KR", "CN", "TW", "MY", "ZA", "KE", "NG", "TH", "ID", "PH"])


def cc3(g: Gen) -> str:
    return g.r.choice(["NLD", "POL", "CZE", "TUR", "JPN", "KOR", "CHN", "TWN", "MYS", "ZAF", "KEN", "NGA", "USA"])


def hexs(n: int) -> Callable[[Gen], str]:
    return lambda g: g.s(HEX, n)


def alnum(n: int, alphabet: str = UPPER_ALNUM) -> Callable[[Gen], str]:
    return lambda g: g.s(alphabet, n)


def job(g: Gen) -> str:
    return g.fk["en_US"].job()


def dept(g: Gen) -> str:
    return g.r.choice(["Finance", "Engineering", "Sales", "Support", "People", "Legal", "Operations", "Marketing"])


def sku(g: Gen) -> str:
    return f"{g.s(UPPER, 2)}{g.digits(5)}-{g.r.choice(['BK', 'WH', 'GR', '32', '40', 'XL'])}"


def semver(g: Gen) -> str:
    return f"{g.r.randint(0, 9)}.{g.r.randint(0, 30)}.{g.r.randint(0, 60)}"


def product_name(g: Gen) -> str:
    f = g.fk["en_US"]
    kind = g.r.choice(["Kettle", "Jacket", "Router", "Headset", "Charger", "Backpack"])
    return f"{f.color_name()} {f.word().capitalize()} {kind}"


def device_model(g: Gen) -> str:
    return g.r.choice(
        [
            "iPhone 15 Pro",
            "SM-S918B",
            "Pixel 8a",
            "Redmi Note 13",
            "TECNO SPARK 20",
            "itel A70",
            "Galaxy A15 5G",
            "HUAWEI P60",
            "Xiaomi 14",
            "OPPO A78",
            "Nokia 105",
        ]
    )


def imei(g: Gen) -> str:
    return luhn_num(g, g.r.choice(["35", "86", "01", "99"]) + g.digits(6), 15)


def iccid(g: Gen) -> str:
    return luhn_num(g, "89" + g.r.choice(["234", "254", "27", "60", "90"]), 19)


def imsi(g: Gen) -> str:
    return g.r.choice(["62130", "63902", "65501", "64004", "51502", "50212", "28601", "26001"]) + g.digits(10)


def cell_ecgi(g: Gen) -> str:
    return f"{g.r.choice(['621-30', '639-02', '655-01', '640-04'])}-{g.r.randint(1, 1048575)}-{g.r.randint(0, 255)}"


def mac(g: Gen, sep: str = ":") -> str:
    return sep.join(g.s("0123456789ABCDEF", 2) for _ in range(6))


def gtin13(g: Gen) -> str:
    body = g.r.choice(["871", "590", "859", "869", "450", "880", "690", "471", "600"]) + g.digits(9)
    return body + std_ean.calc_check_digit(body)


def isbn13(g: Gen) -> str:
    body = "978" + g.digits(9)
    return std_isbn.format(body + std_ean.calc_check_digit(body))


def ticket_no(g: Gen) -> str:
    return g.r.choice(["074", "057", "235", "180", "160", "297", "071", "618"]) + g.digits(10)


def record_locator(g: Gen) -> str:
    return g.s("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 6)


def flight(g: Gen) -> str:
    return g.r.choice(["KL", "LO", "OK", "TK", "JL", "KE", "CA", "CI", "MH", "SA", "KQ", "PR"]) + str(
        g.r.randint(1, 1999)
    )


def vin(g: Gen) -> str:
    """A vehicle identification number with its ISO 3779 / North American check digit (written out here)."""
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    trans = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True))}
    trans.update(dict(zip("JKLMN", range(1, 6), strict=True)))
    trans.update({"P": 7, "R": 9})
    trans.update(dict(zip("STUVWXYZ", range(2, 10), strict=True)))
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    body = g.r.choice(["WVW", "JTD", "KMH", "LSV", "TMB", "SB1", "VF1"]) + g.s(alphabet, 14)
    total = sum(trans[c] * w for c, w in zip(body, weights, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return body[:8] + check + body[9:]


def plate(g: Gen) -> str:
    return g.r.choice(
        [
            lambda: f"{g.s(UPPER, 2)}-{g.digits(3)}-{g.s(UPPER, 1)}",
            lambda: f"{g.digits(1)}{g.s(UPPER, 1)}{g.digits(1)} {g.digits(4)}",
            lambda: f"{g.digits(2)} {g.s(UPPER, 1)} {g.digits(4)}",
            lambda: f"{g.s(UPPER, 3)} {g.digits(3)} GP",
            lambda: f"K{g.s(UPPER, 2)} {g.digits(3)}{g.s(UPPER, 1)}",
        ]
    )()


def cursor_b64(g: Gen) -> str:
    return b64(json.dumps({"after": g.r.randint(0, 90000), "size": 50}).encode())


def icd10(g: Gen) -> str:
    return g.r.choice(["E11.9", "I10", "J45.909", "M54.5", "F41.1", "K21.9", "E78.5", "Z00.00", "N39.0"])


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


ASIAN_FAMILY = ["SATO", "KIM", "WANG", "TANAKA", "PARK", "CHEN", "LEE", "SUZUKI", "LIU", "CHOI"]


def T(source: str, table: str, rows: int, cols: list[Col]) -> Table:
    return Table(source, table, rows, cols)


def tables() -> list[Table]:
    t: list[Table] = []
    # ---- Google Workspace Directory users
    t.append(
        T(
            "gworkspace",
            "users",
            120,
            [
                N("id", S, "numeric user id (21 digits as text)", lambda g: "1" + g.digits(20)),
                C("primaryEmail", S, "PII", "the user's address", work_email),
                C("name_givenName", S, "PII", "given name", first),
                C("name_familyName", S, "PII", "family name", last),
                C("name_fullName", S, "PII", "full name", name),
                N("isAdmin", B, "flag", boolean(0.1)),
                N("isDelegatedAdmin", B, "flag", boolean(0.05)),
                N("lastLoginTime", S, "RFC 3339 timestamp", iso_ms),
                N("creationTime", S, "RFC 3339 timestamp", iso_ms),
                N("agreedToTerms", B, "flag", boolean(0.9)),
                N("suspended", B, "flag", boolean(0.08)),
                C(
                    "password",
                    S,
                    "CREDENTIAL",
                    "password hash uploaded with hashFunction (SHA-1 hex, MD5 hex, crypt $6$/$1$)",
                    lambda g: g.r.choice([sha1_hex, md5_hex, md5crypt, sha256crypt])(g),
                    0.5,
                ),
                N("hashFunction", S, "hash algorithm name", choice("SHA-1", "MD5", "crypt"), 0.5),
                N("customerId", S, "the Workspace account's customer id", lambda g: "C0" + g.s(LOWER_ALNUM, 7)),
                N("orgUnitPath", S, "org unit path", choice("/", "/Sales", "/Engineering/Backend", "/Students/2027")),
                C("recoveryEmail", S, "PII", "the person's private recovery address", email, 0.3),
                C("recoveryPhone", S, "PII", "recovery phone (E.164)", phone_e164, 0.4),
                C("phones_value", S, "PII", "work and mobile phones, mixed notations", phone_mixed, 0.3),
                C("addresses_formatted", S, "PII", "the user's home address (type home), multi-line", address_ml, 0.6),
                N("externalIds_value", S, "HR system employee id (a key)", lambda g: "E" + g.digits(6), 0.3),
                N("organizations_title", S, "job title", job, 0.2),
                N("organizations_department", S, "department", dept, 0.2),
                N(
                    "thumbnailPhotoEtag",
                    S,
                    "ETag of the photo (digest of a public image)",
                    lambda g: '"' + g.s(B64URL, 27) + '"',
                ),
                N("isEnrolledIn2Sv", B, "flag", boolean(0.7)),
                C("relations_value", S, "PII", "manager's and assistant's email addresses", work_email, 0.5),
                N("gender_type", S, "gender", choice("female", "male", "other", "unknown"), 0.5),
            ],
        )
    )
    # ---- Brex
    t.append(
        T(
            "brex",
            "users",
            90,
            [
                N("id", S, "Brex user id", lambda g: "cuuser_" + g.s(LOWER_ALNUM, 25)),
                C("first_name", S, "PII", "given name", first_latin),
                C("last_name", S, "PII", "family name", last_latin),
                C("email", S, "PII", "email", work_email),
                N("status", S, "enum", choice("ACTIVE", "INVITED", "DISABLED")),
                N("manager_id", S, "another user's id", lambda g: "cuuser_" + g.s(LOWER_ALNUM, 25), 0.2),
                N("department_id", S, "key", lambda g: "cudept_" + g.s(LOWER_ALNUM, 25), 0.2),
                N("location_id", S, "key", lambda g: "culoc_" + g.s(LOWER_ALNUM, 25), 0.2),
                N("title_id", S, "key", lambda g: "cutitle_" + g.s(LOWER_ALNUM, 24), 0.4),
            ],
        )
    )
    t.append(
        T(
            "brex",
            "cards",
            100,
            [
                N("id", S, "card id", lambda g: "card_" + g.s(LOWER_ALNUM, 25)),
                N("owner_user_id", S, "owner's user id", lambda g: "cuuser_" + g.s(LOWER_ALNUM, 25)),
                N("card_name", S, "card nickname", choice("AWS", "Travel", "Team lunches", "SaaS", "Ads")),
                N("card_type", S, "enum", choice("VIRTUAL", "PHYSICAL")),
                N("last_four", S, "last four digits", lambda g: g.digits(4)),
                N("status", S, "enum", choice("ACTIVE", "LOCKED", "TERMINATED")),
                N("spend_controls_spend_limit_amount", I64, "limit in cents", intr(10000, 5_000_000)),
                N("spend_controls_spend_duration", S, "enum", choice("MONTHLY", "QUARTERLY", "ONE_TIME")),
                C(
                    "mailing_address_line1",
                    S,
                    "PII",
                    "where the physical card is mailed: the cardholder's home street",
                    street,
                    0.5,
                ),
                C("mailing_address_postal_code", S, "PII", "the cardholder's postcode", postcode, 0.5),
                N("mailing_address_country", S, "country", cc2, 0.5),
                C("pan", S, "SENSITIVE", "full card number (GET /cards/{id}/pan)", card_number, 0.6),
                N("cvv_present", B, "flag", boolean()),
                N("expiration_date", S, "MM/YYYY", lambda g: f"{g.r.randint(1, 12):02d}/{g.r.randint(2026, 2031)}"),
            ],
        )
    )
    t.append(
        T(
            "brex",
            "vendors",
            60,
            [
                N("id", S, "vendor id", lambda g: "vendor_" + g.s(LOWER_ALNUM, 25)),
                N("company_name", S, "company", company),
                N(
                    "email",
                    S,
                    "the vendor's accounts-payable mailbox (a company's role address)",
                    lambda g: g.r.choice(["ap", "billing", "invoices", "finance"]) + "@" + g.fk["en_US"].domain_name(),
                ),
                N(
                    "phone",
                    S,
                    "the vendor's switchboard (an organisation's number)",
                    lambda g: "+1 800 " + g.digits(3) + " " + g.digits(4),
                ),
                C("payment_accounts_account_number", S, "SENSITIVE", "the vendor's bank account number", bank_account),
                N("payment_accounts_routing_number", S, "ABA routing number (a bank's key)", aba_routing),
                C("api_token", S, "CREDENTIAL", "Brex user token used for the export (bxt_)", brex_token, 0.8),
            ],
        )
    )
    # ---- Ramp
    t.append(
        T(
            "ramp",
            "users",
            80,
            [
                N("id", S, "UUID", uuid4),
                C("first_name", S, "PII", "given name", first_latin),
                C("last_name", S, "PII", "family name", last_latin),
                C("email", S, "PII", "email", work_email),
                C("phone", S, "PII", "mobile phone, mixed notations", phone_of("US", "CA", "NL", "PL"), 0.3),
                N("role", S, "enum", choice("BUSINESS_ADMIN", "BUSINESS_USER", "BUSINESS_BOOKKEEPER")),
                N("department_id", S, "UUID", uuid4, 0.2),
                N("location_id", S, "UUID", uuid4, 0.2),
                N("manager_id", S, "UUID of another user", uuid4, 0.3),
                N("employee_id", S, "HR employee number", lambda g: g.digits(5), 0.3),
                N("is_manager", B, "flag", boolean(0.2)),
            ],
        )
    )
    t.append(
        T(
            "ramp",
            "transactions",
            150,
            [
                N("id", S, "UUID", uuid4),
                N("amount", F64, "amount", money(1, 5000)),
                N("currency_code", S, "currency", choice("USD", "EUR", "PLN", "CZK", "JPY")),
                C("card_holder_first_name", S, "PII", "given name", first_latin),
                C("card_holder_last_name", S, "PII", "family name", last_latin),
                N("card_holder_department_name", S, "department", dept),
                N("card_id", S, "UUID", uuid4),
                N("merchant_name", S, "merchant (a company)", company),
                N("merchant_category_code", S, "MCC", choice("5812", "4511", "7011", "5734", "4121", "5942")),
                N("sk_category_name", S, "category", choice("Restaurants", "Airlines", "Lodging", "Software", "Taxi")),
                N("state", S, "enum", choice("CLEARED", "PENDING", "DECLINED")),
                N("user_transaction_time", S, "timestamp", iso),
                N("memo", S, "free text", sentence, 0.5),
                N("receipts", S, "JSON list of receipt UUIDs", lambda g: json.dumps([uuid4(g)])),
                N("card_present", B, "flag", boolean(0.4)),
            ],
        )
    )
    # ---- Revolut Business
    t.append(
        T(
            "revolut_business",
            "counterparties",
            120,
            [
                N("id", S, "UUID", uuid4),
                C("name", S, "PII", "counterparty name (individuals; profile_type personal)", latin_name),
                N("profile_type", S, "enum", choice("personal")),
                N("state", S, "enum", choice("created", "draft", "deleted")),
                C("phone", S, "PII", "phone of a Revolut user counterparty", phone_mixed, 0.5),
                C("revtag", S, "PII", "the person's Revolut @username (a handle)", lambda g: "@" + user_name(g), 0.6),
                C("individual_name_first_name", S, "PII", "given name", first_latin),
                C("individual_name_last_name", S, "PII", "family name", last_latin),
                N("accounts_id", S, "UUID", uuid4),
                N("accounts_currency", S, "currency", choice("EUR", "PLN", "CZK", "TRY", "GBP")),
                N("accounts_type", S, "enum", choice("external", "revolut")),
                C("accounts_iban", S, "SENSITIVE", "IBAN (NL, PL, CZ, TR)", iban_of("NL", "PL", "CZ", "TR"), 0.1),
                N("accounts_bic", S, "BIC (a bank's key)", bic, 0.1),
                C("accounts_account_no", S, "SENSITIVE", "account number (UK and US accounts)", bank_account, 0.7),
                N(
                    "accounts_sort_code",
                    S,
                    "UK sort code (a branch's key)",
                    lambda g: f"{g.digits(2)}-{g.digits(2)}-{g.digits(2)}",
                    0.8,
                ),
                C("accounts_recipient_charges", S, "NONE", "enum", choice("no", "expected")),
                C("address_street_line1", S, "PII", "the individual's street", street, 0.4),
                C("address_postcode", S, "PII", "the individual's postcode", postcode, 0.4),
                N("address_city", S, "city", city, 0.4),
                N("address_country", S, "country", cc2, 0.4),
                N("created_at", S, "timestamp", iso_ms),
            ],
        )
    )
    t.append(
        T(
            "revolut_business",
            "api_credentials",
            50,
            [
                N("client_id", S, "OAuth client id (public)", lambda g: g.s(B64URL, 43)),
                C("refresh_token", S, "CREDENTIAL", "refresh token oa_prod_", revolut_refresh),
                C(
                    "client_assertion",
                    S,
                    "CREDENTIAL",
                    "signed JWT that authenticates the app (RS256)",
                    revolut_client_assertion,
                ),
                C("private_key", S, "CREDENTIAL", "the app's PKCS#8 private key", pkcs8_key),
                N(
                    "certificate",
                    S,
                    "the uploaded X.509 certificate (public)",
                    lambda g: pem("CERTIFICATE", b"\x30\x82\x03" + g.raw(700)),
                ),
                N("redirect_uri", S, "URL", choice("https://example.com/cb", "https://erp.internal/revolut/callback")),
                N("expires_at", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Mercury
    t.append(
        T(
            "mercury",
            "recipients",
            100,
            [
                N("id", S, "UUID", uuid4),
                C("name", S, "PII", "recipient's name (contractors paid as individuals)", latin_name),
                C("emails", S, "PII", "JSON list of the recipient's emails", lambda g: json.dumps([email(g)])),
                N("status", S, "enum", choice("active", "deleted")),
                N("defaultPaymentMethod", S, "enum", choice("ach", "domesticWire", "internationalWire", "check")),
                C("electronicRoutingInfo_accountNumber", S, "SENSITIVE", "bank account number", bank_account),
                N("electronicRoutingInfo_routingNumber", S, "ABA routing number (a bank's key)", aba_routing),
                N(
                    "electronicRoutingInfo_bankName",
                    S,
                    "bank name",
                    choice("Chase", "Wells Fargo", "ING", "mBank", "Garanti BBVA"),
                ),
                C("electronicRoutingInfo_address_address1", S, "PII", "recipient's street", street, 0.3),
                C("electronicRoutingInfo_address_postalCode", S, "PII", "recipient's postcode", postcode, 0.3),
                N("electronicRoutingInfo_address_region", S, "state", lambda g: g.fk["en_US"].state_abbr(), 0.3),
                C("internationalWire_iban", S, "SENSITIVE", "IBAN of a recipient abroad", iban, 0.6),
                N("internationalWire_swiftCode", S, "BIC", bic, 0.6),
                N("dateLastPaid", S, "timestamp", iso, 0.3),
                C("api_token", S, "CREDENTIAL", "Mercury API token used for the sync", mercury_token, 0.9),
            ],
        )
    )
    # ---- Coinbase
    t.append(
        T(
            "coinbase",
            "users",
            100,
            [
                N("id", S, "UUID", uuid4),
                C("name", S, "PII", "full name", name),
                C("username", S, "PII", "public username (a handle)", user_name, 0.4),
                N("profile_location", S, "city-level location", city, 0.6),
                N(
                    "profile_url",
                    S,
                    "profile URL built from the user id (no name)",
                    lambda g: "https://www.coinbase.com/" + uuid4(g),
                    0.5,
                ),
                C("email", S, "PII", "email (wallet:user:email scope)", email),
                N("native_currency", S, "currency", choice("USD", "EUR", "PLN", "JPY", "KRW", "TRY")),
                N("country_code", S, "country", cc2),
                N(
                    "time_zone",
                    S,
                    "time zone",
                    choice("Europe/Amsterdam", "Asia/Tokyo", "Africa/Nairobi", "Europe/Istanbul"),
                ),
                N("bitcoin_unit", S, "enum", choice("BTC", "mBTC", "bits")),
                N("created_at", S, "timestamp", iso),
                N(
                    "api_key_name",
                    S,
                    "API key's resource name (its id, not the secret)",
                    lambda g: f"organizations/{uuid4(g)}/apiKeys/{uuid4(g)}",
                ),
                C(
                    "api_key_private_key",
                    S,
                    "CREDENTIAL",
                    "the key's EC private key (escaped PEM, as the JSON download has it)",
                    coinbase_key_secret,
                ),
            ],
        )
    )
    t.append(
        T(
            "coinbase",
            "addresses",
            80,
            [
                N("id", S, "UUID", uuid4),
                C(
                    "address",
                    S,
                    "SENSITIVE",
                    "the user's own deposit address: a financial account identifier, like an account number",
                    btc_address,
                ),
                N("network", S, "enum", choice("bitcoin", "ethereum", "base", "solana")),
                N("name", S, "address label", choice("Default", "Savings", "Ledger", None)),
                N("created_at", S, "timestamp", iso),
                N("resource_path", S, "API path of UUIDs", lambda g: f"/v2/accounts/{uuid4(g)}/addresses/{uuid4(g)}"),
            ],
        )
    )
    t.append(
        T(
            "coinbase",
            "transactions",
            150,
            [
                N("id", S, "UUID", uuid4),
                N("type", S, "enum", choice("send", "buy", "sell", "trade", "staking_reward")),
                N("status", S, "enum", choice("completed", "pending", "failed")),
                N("amount_amount", S, "decimal text", lambda g: f"{g.r.uniform(0, 3):.8f}"),
                N("amount_currency", S, "asset", choice("BTC", "ETH", "USDC", "SOL")),
                N("native_amount_amount", S, "decimal text", lambda g: f"{g.r.uniform(1, 9000):.2f}"),
                N(
                    "network_hash",
                    S,
                    "on-chain transaction hash (public)",
                    lambda g: g.r.choice(["", "0x"]) + g.s(HEX, 64),
                    0.3,
                ),
                N("network_transaction_fee_amount", S, "decimal text", lambda g: f"{g.r.uniform(0, 0.001):.8f}", 0.3),
                N("description", S, "free text", sentence, 0.6),
                N("created_at", S, "timestamp", iso),
            ],
        )
    )
    # ---- NetSuite
    t.append(
        T(
            "netsuite",
            "employee",
            120,
            [
                N("id", I64, "internal id", intr(1000, 99999)),
                N("entityid", S, "employee number", lambda g: "EMP-" + g.digits(5)),
                C("firstname", S, "PII", "given name", first),
                C("middlename", S, "PII", "middle name", first_latin, 0.7),
                C("lastname", S, "PII", "family name", last),
                C("email", S, "PII", "email", work_email),
                C("phone", S, "PII", "phone", phone_mixed, 0.3),
                C("mobilephone", S, "PII", "mobile phone", phone_mixed, 0.4),
                C("homephone", S, "PII", "home phone", phone_of("PL", "CZ", "NL"), 0.6),
                C("birthdate", D32, "PII", "date of birth", dob, 0.2),
                C(
                    "socialsecuritynumber",
                    S,
                    "SENSITIVE",
                    "national ids of the employee's country (US SSN, PL PESEL, CZ rodné číslo, NL BSN)",
                    lambda g: g.r.choice([ssn_us, pesel_pl, rc_cz, bsn_nl])(g),
                    0.2,
                ),
                N("hiredate", D32, "date", date),
                N("releasedate", D32, "date", date, 0.8),
                N("title", S, "job title", job),
                N("department", S, "department", dept),
                N("subsidiary", S, "subsidiary (a company)", company),
                N("gender", S, "gender", choice("_male", "_female", "_omitted")),
                N("maritalstatus", S, "marital status", choice("Single", "Married", "Widowed"), 0.5),
                N(
                    "ethnicity",
                    S,
                    "ethnicity",
                    choice("White", "Asian", "Black or African American", "Hispanic or Latino"),
                    0.6,
                ),
                C("defaultaddress", S, "PII", "the employee's home address (multi-line)", address_ml, 0.2),
                N("isinactive", B, "flag", boolean(0.1)),
                N("supervisor", I64, "internal id of the supervisor record", intr(1000, 99999), 0.2),
                N("lastmodifieddate", TS, "timestamp", ts),
                N("custentity_badge_no", S, "badge number (an employer's key)", lambda g: g.digits(6), 0.3),
            ],
        )
    )
    t.append(
        T(
            "netsuite",
            "customer",
            120,
            [
                N("id", I64, "internal id", intr(1000, 999999)),
                N("entityid", S, "customer number", lambda g: "CUST" + g.digits(6)),
                N("isperson", B, "flag", boolean(0.5)),
                N("companyname", S, "company name", company, 0.4),
                C("firstname", S, "PII", "given name (individual customers)", first, 0.5),
                C("lastname", S, "PII", "family name (individual customers)", last, 0.5),
                C("email", S, "PII", "email", email, 0.1),
                C("phone", S, "PII", "phone", phone_mixed, 0.2),
                C("altphone", S, "PII", "alternative phone", phone_mixed, 0.7),
                N(
                    "vatregnumber",
                    S,
                    "company VAT / tax numbers (NL, PL, CZ, TR, JP, KR, CN, TW)",
                    company_tax_mix,
                    0.3,
                ),
                N("currency", S, "currency", choice("EUR", "PLN", "CZK", "JPY", "USD")),
                N("terms", S, "payment terms", choice("Net 30", "Net 15", "Due on receipt")),
                N("creditlimit", F64, "amount", money(0, 100000)),
                N("balance", F64, "amount", money(-500, 50000)),
                N("category", S, "enum", choice("Retail", "Wholesale", "Partner")),
                C("billaddr1", S, "PII", "billing street (individuals and companies; strongest kind)", street, 0.2),
                N("billcity", S, "city", city, 0.2),
                C("billzip", S, "PII", "billing postcode", postcode, 0.2),
                N("billcountry", S, "country", cc2, 0.2),
                N("datecreated", TS, "timestamp", ts),
            ],
        )
    )
    # ---- Personio
    t.append(
        T(
            "personio",
            "employees",
            120,
            [
                N("id", I64, "employee id", intr(100000, 9999999)),
                C("first_name", S, "PII", "given name", first_latin),
                C("last_name", S, "PII", "family name", last_latin),
                C("preferred_name", S, "PII", "preferred name", first_latin, 0.7),
                C("email", S, "PII", "email", work_email),
                N("gender", S, "gender", choice("male", "female", "diverse")),
                N("status", S, "enum", choice("active", "onboarding", "leave", "inactive")),
                N("position", S, "job title", job),
                N("department", S, "department", dept),
                N("office", S, "office city", city),
                N("hire_date", S, "ISO date", date_str("%Y-%m-%dT00:00:00+01:00")),
                N("contract_end_date", S, "ISO date", date_str("%Y-%m-%d"), 0.8),
                N("weekly_working_hours", F64, "hours", choice(40.0, 32.0, 20.0, 38.5)),
                N("fix_salary", F64, "pay", money(2000, 12000)),
                N("employment_type", S, "enum", choice("internal", "external")),
                N("supervisor_id", I64, "another employee's id", intr(100000, 9999999)),
                C("dynamic_birthday", S, "PII", "date of birth (custom attribute)", dob_fmt("%Y-%m-%d")),
                C("dynamic_private_email", S, "PII", "private email", email, 0.3),
                C("dynamic_mobile", S, "PII", "mobile phone", phone_of("NL", "PL", "CZ", "TR"), 0.3),
                C("dynamic_home_address", S, "PII", "home address (one line)", one_line_address, 0.3),
                C("dynamic_iban", S, "SENSITIVE", "salary account IBAN", iban_of("NL", "PL", "CZ", "TR"), 0.1),
                C(
                    "dynamic_tax_id",
                    S,
                    "SENSITIVE",
                    "personal tax / national ids (NL BSN, PL PESEL, CZ rodné číslo, TR TC Kimlik)",
                    lambda g: g.r.choice([bsn_nl, pesel_pl, rc_cz, tck_tr])(g),
                    0.1,
                ),
                C(
                    "dynamic_social_security_number",
                    S,
                    "SENSITIVE",
                    "social insurance numbers (PL PESEL, NL BSN, CZ rodné číslo)",
                    lambda g: g.r.choice([pesel_pl, bsn_nl, rc_cz])(g),
                    0.3,
                ),
                N("dynamic_nationality", S, "nationality", cc2, 0.2),
                N("dynamic_tax_class", S, "tax class", choice("1", "3", "4", "5"), 0.5),
                C(
                    "dynamic_emergency_contact",
                    S,
                    "PII",
                    "emergency contact's name and phone",
                    lambda g: f"{latin_name(g)} {phone_intl(g, ['NL', 'PL'])}",
                    0.4,
                ),
                N("created_at", S, "timestamp", iso),
            ],
        )
    )
    # ---- Deel
    t.append(
        T(
            "deel",
            "people",
            120,
            [
                N("id", S, "UUID", uuid4),
                N("worker_id", I64, "worker number", intr(10000, 999999)),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("full_name", S, "PII", "full name", name),
                C("emails_value", S, "PII", "work and personal emails", email),
                C("birth_date", S, "PII", "date of birth", dob_fmt("%Y-%m-%dT00:00:00.000Z"), 0.1),
                N("nationalities", S, "JSON list of nationalities", lambda g: json.dumps([cc2(g)])),
                N("country", S, "country of work", cc2),
                N("state", S, "state/region code", choice("", "NH", "MZ", "GP", "13", "11"), 0.3),
                N("hiring_type", S, "enum", choice("contractor", "eor_employee", "direct_employee")),
                N("hiring_status", S, "enum", choice("active", "onboarding", "offboarded")),
                N("job_title", S, "job title", job),
                N("department", S, "department", dept, 0.2),
                N("start_date", S, "date", date_str("%Y-%m-%d")),
                N("compensation_amount", F64, "pay", money(1000, 20000)),
                N("compensation_currency", S, "currency", choice("USD", "EUR", "NGN", "KES", "ZAR", "PHP", "MYR")),
                C(
                    "personal_tax_id",
                    S,
                    "SENSITIVE",
                    "tax / national ids (ZA tax number, KE PIN, NG NIN, PH TIN, MY NRIC, ID NIK, TH PIN)",
                    lambda g: g.r.choice([tin_za, pin_ke, nin_ng, tin_ph, nric_my, nik_id, pin_th])(g),
                    0.1,
                ),
                C(
                    "national_id_number",
                    S,
                    "SENSITIVE",
                    "national ids (ZA ID, KE ID, NG NIN, PH SSS, PK CNIC, BD NID, IR code)",
                    lambda g: g.r.choice([id_za, lambda g: g.digits(8), nin_ng, sss_ph, cnic_pk, nid_bd, melli_ir])(g),
                    0.1,
                ),
                C("bank_account_number", S, "SENSITIVE", "payout account numbers (NG NUBAN, ZA, KE, PH)", nuban, 0.2),
                N("bank_swift", S, "BIC", bic, 0.2),
                C(
                    "phone",
                    S,
                    "PII",
                    "phone (NG, KE, ZA, PH, MY, ID, PK, BD)",
                    phone_of("NG", "KE", "ZA", "PH", "MY", "ID", "PK", "BD"),
                    0.3,
                ),
                C("address_line1", S, "PII", "home street", street, 0.3),
                C("address_zip", S, "PII", "home postcode", postcode, 0.3),
                N("address_city", S, "city", city, 0.3),
                N("contract_id", S, "contract key", lambda g: g.s(LOWER_ALNUM, 7)),
            ],
        )
    )
    # ---- Lever
    t.append(
        T(
            "lever",
            "opportunities",
            120,
            [
                N("id", S, "UUID", uuid4),
                C("name", S, "PII", "candidate's name", name),
                N(
                    "headline",
                    S,
                    "current employer / headline (free text about work)",
                    lambda g: f"{company(g)}, {g.r.choice(['Acme', 'Initech', 'Globex'])}",
                ),
                N("contact", S, "contact UUID (a key)", uuid4),
                C(
                    "emails",
                    S,
                    "PII",
                    "JSON list of the candidate's emails",
                    lambda g: json.dumps([email(g) for _ in range(g.r.randint(1, 2))]),
                ),
                C(
                    "phones",
                    S,
                    "PII",
                    "JSON list of {type, value} phones",
                    lambda g: json.dumps([{"type": "mobile", "value": phone_mixed(g)}]),
                ),
                N("location", S, "city-level location", city, 0.2),
                C(
                    "links",
                    S,
                    "PII",
                    "JSON list of profile URLs naming the person (LinkedIn, GitHub)",
                    lambda g: json.dumps(
                        ["https://www.linkedin.com/in/" + user_name(g), "https://github.com/" + user_name(g)]
                    ),
                ),
                N("stage", S, "stage id (UUID)", uuid4),
                N("origin", S, "enum", choice("applied", "sourced", "referred", "agency")),
                N(
                    "sources",
                    S,
                    "JSON list",
                    lambda g: json.dumps([g.r.choice(["LinkedIn", "Referral", "Careers page"])]),
                ),
                N(
                    "tags",
                    S,
                    "JSON list",
                    lambda g: json.dumps(g.r.sample(["Python", "Senior", "Remote", "Sales", "EU"], 2)),
                ),
                N("confidentiality", S, "enum", choice("non-confidential", "confidential")),
                N("createdAt", I64, "epoch milliseconds", epoch_ms),
                N("lastInteractionAt", I64, "epoch milliseconds", epoch_ms),
                N("archived_reason", S, "reason id (UUID)", uuid4, 0.6),
                C("owner_name", S, "PII", "the recruiter who owns it (a person's name)", latin_name),
            ],
        )
    )
    # ---- Teamtailor
    t.append(
        T(
            "teamtailor",
            "candidates",
            100,
            [
                N("id", S, "numeric id as text", lambda g: g.digits(8)),
                C("first-name", S, "PII", "given name", first),
                C("last-name", S, "PII", "family name", last),
                C("email", S, "PII", "email", email),
                C("phone", S, "PII", "phone", phone_mixed, 0.3),
                C(
                    "linkedin-url",
                    S,
                    "PII",
                    "LinkedIn profile URL naming the person",
                    lambda g: "https://linkedin.com/in/" + user_name(g),
                    0.5,
                ),
                N("pitch", S, "free text", sentence, 0.5),
                N(
                    "resume",
                    S,
                    "URL of the CV file (UUID path, no secret in it)",
                    lambda g: (
                        f"https://teamtailor-production.s3.amazonaws.com/uploads/{uuid4(g)}.pdf?X-Amz-Expires=600"
                    ),
                    0.4,
                ),
                N("sourced", B, "flag", boolean(0.3)),
                N("unsubscribed", B, "flag", boolean(0.1)),
                N("connected", B, "flag", boolean(0.2)),
                N("created-at", S, "timestamp", lambda g: ts(g).strftime("%Y-%m-%dT%H:%M:%S.000+02:00")),
                N(
                    "tags",
                    S,
                    "JSON list",
                    lambda g: json.dumps(g.r.sample(["java", "design", "intern", "talent-pool"], 1)),
                ),
                N(
                    "picture",
                    S,
                    "avatar URL (UUID path)",
                    lambda g: f"https://img.teamtailor-cdn.com/images/s3/{uuid4(g)}.jpg",
                    0.5,
                ),
            ],
        )
    )
    # ---- REDCap
    t.append(
        T(
            "redcap",
            "demographics",
            80,
            [
                N("record_id", S, "study record id", lambda g: str(g.r.randint(1, 5000))),
                N("redcap_event_name", S, "event", choice("baseline_arm_1", "visit_1_arm_1", "visit_2_arm_1")),
                N("redcap_data_access_group", S, "site", choice("site_a", "site_b", "nairobi", "cape_town")),
                C("first_name", S, "PII", "given name", first),
                C("last_name", S, "PII", "family name", last),
                C("dob", S, "PII", "date of birth (Y-M-D)", dob_fmt("%Y-%m-%d")),
                C("mrn", S, "SENSITIVE", "the hospital's medical record number", mrn),
                C("address", S, "PII", "home address (notes box, multi-line)", address_ml, 0.2),
                C(
                    "telephone",
                    S,
                    "PII",
                    "phone (xxx) xxx-xxxx and international",
                    lambda g: g.r.choice([phone_national(g, ["US"]), phone_intl(g, ["KE", "ZA"])]),
                ),
                C("email", S, "PII", "email", email, 0.3),
                N("sex", I64, "coded 0/1", choice(0, 1)),
                N("race", I64, "coded choice", intr(0, 6)),
                N("ethnicity", I64, "coded choice", intr(0, 2)),
                N("age", I64, "age in years (calculated field)", intr(18, 89)),
                N("height", F64, "cm", money(140, 200, 1)),
                N("weight", F64, "kg", money(40, 140, 1)),
                N("bmi", F64, "calculated", money(16, 45, 1)),
                N("comments", S, "clinical free text without identifiers", sentence, 0.5),
                N("demographics_complete", I64, "form status 0/1/2", choice(0, 1, 2)),
                N("enrollment_date", S, "date", date_str("%Y-%m-%d")),
                N("diagnosis_icd10", S, "diagnosis code", icd10),
            ],
        )
    )
    # ---- athenahealth
    t.append(
        T(
            "athenahealth",
            "patients",
            120,
            [
                N("patientid", S, "athena patient id (the practice's key)", lambda g: str(g.r.randint(1, 999999))),
                N("enterpriseid", S, "enterprise key", lambda g: str(g.r.randint(1, 999999))),
                C("firstname", S, "PII", "given name", first_latin),
                C("lastname", S, "PII", "family name", last_latin),
                C(
                    "middlename",
                    S,
                    "PII",
                    "middle name or initial",
                    lambda g: g.r.choice([first_latin(g), g.s(UPPER, 1)]),
                    0.6,
                ),
                C("suffix", S, "NONE", "name suffix (Jr., III)", choice("Jr.", "Sr.", "III", "II"), 0.9),
                C("dob", S, "PII", "date of birth MM/DD/YYYY", dob_fmt("%m/%d/%Y")),
                N("sex", S, "sex", choice("M", "F")),
                C("address1", S, "PII", "street", lambda g: g.fk["en_US"].street_address()),
                C(
                    "address2",
                    S,
                    "PII",
                    "unit line of the patient's address",
                    lambda g: g.r.choice(["Apt ", "Unit ", "#"]) + str(g.r.randint(1, 400)),
                    0.7,
                ),
                N("city", S, "city", lambda g: g.fk["en_US"].city()),
                N("state", S, "state", lambda g: g.fk["en_US"].state_abbr()),
                C("zip", S, "PII", "ZIP+4", lambda g: g.fk["en_US"].zipcode_plus4()),
                C(
                    "homephone",
                    S,
                    "PII",
                    "home phone, 10 digits",
                    lambda g: phone_national(g, ["US"]).translate(str.maketrans("", "", "()- ")),
                ),
                C("mobilephone", S, "PII", "mobile phone", lambda g: phone_national(g, ["US"]), 0.3),
                C("email", S, "PII", "email", email, 0.2),
                C("ssn", S, "SENSITIVE", "SSN", ssn_us, 0.3),
                C(
                    "driverslicensenumber",
                    S,
                    "SENSITIVE",
                    "driver's licence (GA, VA, MA, AZ, CO, NC, MN, WI)",
                    dl_us,
                    0.5,
                ),
                N(
                    "driverslicensestateid",
                    S,
                    "state",
                    lambda g: g.r.choice(["GA", "VA", "MA", "AZ", "CO", "NC", "MN", "WI"]),
                    0.5,
                ),
                C("guarantorfirstname", S, "PII", "guarantor's given name", first_latin, 0.3),
                C("guarantorlastname", S, "PII", "guarantor's family name", last_latin, 0.3),
                C("guarantordob", S, "PII", "guarantor's date of birth", dob_fmt("%m/%d/%Y"), 0.3),
                C("contactname", S, "PII", "emergency contact's name", latin_name, 0.4),
                N("contactrelationship", S, "enum", choice("SPOUSE", "PARENT", "CHILD", "FRIEND"), 0.4),
                N("primaryproviderid", S, "provider key", lambda g: str(g.r.randint(1, 300))),
                N("departmentid", S, "department key", lambda g: str(g.r.randint(1, 40))),
                N("status", S, "enum", choice("active", "inactive", "prospective")),
                N("race", S, "race code (CDC)", choice("2106-3", "2054-5", "2028-9", "1002-5"), 0.3),
                N("language6392code", S, "language", choice("eng", "spa", "pol", "vie")),
                C("insurancepolicyholder", S, "PII", "policy holder's name", latin_name, 0.4),
                C("insuranceidnumber", S, "SENSITIVE", "insurance member id", member_id, 0.3),
                N("insurancepackageid", S, "payer plan key", lambda g: str(g.r.randint(1, 99999)), 0.3),
                N("registrationdate", S, "date", date_str("%m/%d/%Y")),
                N("balance", F64, "amount", money(0, 3000)),
            ],
        )
    )
    # ---- OPERA
    t.append(
        T(
            "opera_pms",
            "profiles",
            120,
            [
                N("NAME_ID", I64, "profile key", intr(100000, 99999999)),
                C("FIRST", S, "PII", "given name", first),
                C("LAST", S, "PII", "family name", last),
                C("ALTERNATE_NAME", S, "PII", "name in the guest's own script", script_name, 0.4),
                N("TITLE", S, "salutation", choice("Mr.", "Mrs.", "Ms.", "Dr.", "Herr", "Pan"), 0.2),
                C("BIRTH_DATE", D32, "PII", "date of birth", dob, 0.3),
                N("NATIONALITY", S, "nationality", cc2),
                N("LANGUAGE", S, "language", choice("E", "NL", "PL", "JA", "KO", "ZH")),
                N("VIP_STATUS", S, "code", choice("", "V1", "V2", "GLD"), 0.5),
                C("PASSPORT", S, "SENSITIVE", "passport numbers of 13 countries", passport_v5, 0.4),
                N("ID_TYPE", S, "document type", choice("PASSPORT", "ID CARD", "DRIVER LIC"), 0.4),
                C(
                    "ID_NUMBER",
                    S,
                    "SENSITIVE",
                    "identity document numbers (national ids, licences)",
                    lambda g: g.r.choice([national_id_mix, dl_world])(g),
                    0.4,
                ),
                N("ID_COUNTRY", S, "issuing country", cc3, 0.4),
                C("EMAIL", S, "PII", "email", email, 0.2),
                C("PHONE", S, "PII", "phone", phone_mixed, 0.2),
                C("ADDRESS1", S, "PII", "street", street, 0.2),
                N("CITY", S, "city", city, 0.2),
                C("ZIP_CODE", S, "PII", "postcode", postcode, 0.2),
                N("COUNTRY", S, "country", cc2, 0.2),
                N("MEMBERSHIP_TYPE", S, "loyalty programme", choice("HHONORS", "BONVOY", "IHG", None), 0.5),
                N("MEMBERSHIP_NO", S, "loyalty number (the programme's customer key)", lambda g: g.digits(9), 0.5),
                N("INSERT_DATE", TS, "timestamp", ts),
            ],
        )
    )
    t.append(
        T(
            "opera_pms",
            "reservations",
            150,
            [
                N("RESV_NAME_ID", I64, "reservation key", intr(1000000, 99999999)),
                N("CONFIRMATION_NO", S, "confirmation number", lambda g: g.digits(8)),
                N("NAME_ID", I64, "profile key", intr(100000, 99999999)),
                C(
                    "GUEST_NAME",
                    S,
                    "PII",
                    "LAST, First as the front desk shows it",
                    lambda g: f"{last_latin(g).upper()}, {first_latin(g)}",
                ),
                N("ARRIVAL", D32, "date", date),
                N("DEPARTURE", D32, "date", date),
                N("ROOM", S, "room number", lambda g: str(g.r.randint(101, 1820))),
                N("ROOM_CATEGORY", S, "code", choice("KING", "TWIN", "DLXK", "STE")),
                N("RATE_CODE", S, "code", choice("BAR", "CORP", "AAA", "PKG1")),
                N("SHARE_AMOUNT", F64, "amount", money(60, 900)),
                N("RESV_STATUS", S, "enum", choice("RESERVED", "CHECKED IN", "CHECKED OUT", "CANCELLED")),
                N("PAYMENT_METHOD", S, "card type code", choice("VA", "MC", "AX", "JC", "CA")),
                N("CREDIT_CARD_NUMBER", S, "masked card (last four visible)", masked_card, 0.2),
                N("CC_EXP_DATE", S, "MM/YY", lambda g: f"{g.r.randint(1, 12):02d}/{g.r.randint(26, 31)}", 0.2),
                N("ADULTS", I64, "count", intr(1, 4)),
                N("CHILDREN", I64, "count", intr(0, 3)),
                N("SPECIAL_REQUESTS", S, "free text", choice("High floor", "Late check-in", "Feather-free", None), 0.5),
                N("BLOCK_CODE", S, "group block code", alnum(8), 0.7),
            ],
        )
    )
    # ---- airline PNR and APIS
    t.append(
        T(
            "airline_pnr",
            "passengers",
            150,
            [
                N("record_locator", S, "PNR locator (6 chars)", record_locator),
                N("passenger_seq", I64, "sequence", intr(1, 6)),
                C(
                    "name_element",
                    S,
                    "PII",
                    "PNR name element SURNAME/GIVEN TITLE",
                    lambda g: (
                        f"{last_latin(g).upper()}/{first_latin(g).upper()} {g.r.choice(['MR', 'MS', 'MRS', 'MSTR'])}"
                    ),
                ),
                C(
                    "docs_ssr",
                    S,
                    "SENSITIVE",
                    "SSR DOCS: passport number with nationality, birth date, expiry and name",
                    lambda g: (
                        f"P/{cc3(g)}/{passport_v5(g)}/{cc3(g)}/{birth(g).strftime('%d%b%y').upper()}/{g.r.choice('MF')}/{date(g).strftime('%d%b%y').upper()}/{last_latin(g).upper()}/{first_latin(g).upper()}"
                    ),
                ),
                C("doc_number", S, "SENSITIVE", "passport number (APIS)", passport_v5),
                N("doc_type", S, "code", choice("P", "I")),
                N("doc_issuing_country", S, "country", cc3),
                N("doc_expiry", D32, "document expiry date", date),
                C("date_of_birth", S, "PII", "date of birth DDMMMYY", lambda g: birth(g).strftime("%d%b%y").upper()),
                N("gender", S, "gender", choice("M", "F", "U")),
                N("nationality", S, "nationality", cc3),
                C(
                    "docf_redress",
                    S,
                    "SENSITIVE",
                    "DHS redress / known traveler numbers (government identity numbers)",
                    lambda g: g.r.choice([g.digits(9), "TT" + g.digits(7)]),
                    0.8,
                ),
                C("ctcm", S, "PII", "SSR CTCM: the passenger's mobile", lambda g: phone_e164(g).lstrip("+"), 0.3),
                C(
                    "ctce",
                    S,
                    "PII",
                    "SSR CTCE: the passenger's email, // for @",
                    lambda g: email(g).upper().replace("@", "//"),
                    0.4,
                ),
                C(
                    "doca_residence",
                    S,
                    "PII",
                    "SSR DOCA: residence address",
                    lambda g: f"R/{cc3(g)}/{street(g).upper()}/{city(g).upper()}/{postcode(g)}",
                    0.6,
                ),
                N("ticket_number", S, "e-ticket number (13 digits)", ticket_no),
                N(
                    "fqtv",
                    S,
                    "frequent flyer number (a loyalty programme's customer key)",
                    lambda g: g.r.choice(["KL", "TK", "JL", "KE"]) + g.digits(9),
                    0.5,
                ),
                N("seat", S, "seat", lambda g: f"{g.r.randint(1, 60)}{g.r.choice('ABCDEFHJK')}"),
                N("flight", S, "flight number", flight),
                N("dep_date", D32, "date", date),
                N(
                    "origin",
                    S,
                    "IATA airport",
                    choice("AMS", "WAW", "PRG", "IST", "NRT", "ICN", "PEK", "TPE", "KUL", "JNB", "NBO", "LOS"),
                ),
                N(
                    "destination",
                    S,
                    "IATA airport",
                    choice("AMS", "WAW", "PRG", "IST", "NRT", "ICN", "PEK", "TPE", "KUL", "JNB", "NBO", "LOS"),
                ),
                N("bag_tag", S, "10-digit baggage tag", lambda g: "0" + g.digits(9)),
                N("booking_class", S, "fare class", choice("Y", "B", "M", "J", "C")),
                N("pnr_created", TS, "timestamp", ts),
            ],
        )
    )
    # ---- car rental
    t.append(
        T(
            "car_rental",
            "rental_agreements",
            120,
            [
                N("agreement_no", S, "agreement number", lambda g: "RA" + g.digits(9)),
                N("confirmation_id", S, "booking confirmation", alnum(10)),
                C("driver_given_name", S, "PII", "given name", first_latin),
                C("driver_surname", S, "PII", "family name", last_latin),
                C("driver_birth_date", D32, "PII", "date of birth", dob),
                C("driver_license_number", S, "SENSITIVE", "driver's licence (NL, PL, JP, KR, ZA, PH, US)", dl_world),
                N("driver_license_country", S, "issuing country", cc2),
                N("driver_license_expiry", D32, "expiry date", date),
                C("driver_email", S, "PII", "email", email, 0.2),
                C("driver_phone", S, "PII", "phone", phone_mixed, 0.2),
                C("driver_address", S, "PII", "home address one line", one_line_address, 0.3),
                C("additional_driver_name", S, "PII", "additional driver's full name", latin_name, 0.7),
                N("vin", S, "vehicle identification number (check digit valid)", vin),
                N("license_plate", S, "the fleet car's plate", plate),
                N(
                    "vehicle_make_model",
                    S,
                    "vehicle model",
                    choice("Toyota Corolla", "VW Golf", "Skoda Octavia", "Kia Picanto", "BYD Atto 3"),
                ),
                N("acriss_code", S, "vehicle class code", choice("ECMR", "CDAR", "IFAR", "SFBR")),
                N("pickup_location", S, "station code", choice("AMST01", "WAWC02", "PRGA01", "NBOJ01", "JNBO03")),
                N("pickup_datetime", TS, "timestamp", ts),
                N("odometer_out", I64, "km", intr(100, 150000)),
                N("fuel_level_out", F64, "fraction", choice(0.25, 0.5, 0.75, 1.0)),
                N("total_charge", DEC, "amount", dec(30, 2500)),
                N("deposit_card_last4", S, "last four digits", lambda g: g.digits(4)),
                N("deposit_auth_code", S, "6-char authorisation code", alnum(6)),
            ],
        )
    )
    # ---- telecom CDR
    t.append(
        T(
            "telecom_cdr",
            "voice_sms",
            200,
            [
                N("record_id", S, "CDR sequence key", lambda g: g.digits(18)),
                N("record_type", S, "enum", choice("MOC", "MTC", "SMS-MO", "SMS-MT")),
                C("served_msisdn", S, "PII", "the subscriber's MSISDN", msisdn),
                C(
                    "other_party_msisdn",
                    S,
                    "PII",
                    "the called or calling number",
                    lambda g: g.r.choice([msisdn(g), "+" + msisdn(g), phone_national(g, ["NG", "KE", "ZA"])]),
                ),
                C(
                    "served_imsi",
                    S,
                    "PII",
                    "the subscriber's IMSI: identifies the subscription, like the phone number",
                    imsi,
                ),
                N("served_imei", S, "handset IMEI (a device serial, set 3's decision)", imei),
                N("device_model", S, "handset model", device_model),
                N("cell_id", S, "serving cell (ECGI mcc-mnc-eNB-cell)", cell_ecgi),
                N("lac", I64, "location area code", intr(1, 65535)),
                N("tac", I64, "tracking area code", intr(1, 65535)),
                N("mcc_mnc", S, "network code", choice("62130", "63902", "65501", "64004", "51502")),
                N("msc_id", S, "switch id", lambda g: "MSC" + g.digits(2)),
                N("start_time", TS, "timestamp", ts),
                N("duration_s", I64, "seconds", intr(0, 3600)),
                N("cause_for_term", I64, "code", choice(0, 1, 3, 4, 16)),
                N("charged_amount", F64, "amount", money(0, 50)),
                N("roaming", B, "flag", boolean(0.05)),
                N("iccid", S, "SIM serial (device identifier, as set 3 decided)", iccid),
                N("tariff_plan", S, "plan code", choice("PREPAID_S", "POST_50", "DATA_ONLY")),
            ],
        )
    )
    # ---- RADIUS
    t.append(
        T(
            "radius",
            "radacct",
            200,
            [
                N("radacctid", I64, "key", intr(1, 10**9)),
                N("acctsessionid", S, "session id (8 hex)", lambda g: g.s(HEX.upper(), 8)),
                N("acctuniqueid", S, "MD5 of session attributes", md5_hex),
                C(
                    "username",
                    S,
                    "PII",
                    "subscriber login (email-like or PPPoE login)",
                    lambda g: g.r.choice([email(g), user_name(g) + "@isp.example", "pppoe-" + user_name(g)]),
                ),
                N("realm", S, "realm", choice("isp.example", "", "roam.eduroam.org")),
                N(
                    "nasipaddress",
                    S,
                    "the access server's IP (infrastructure, private)",
                    lambda g: f"10.{g.r.randint(0, 255)}.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}",
                ),
                N("nasportid", S, "port", lambda g: f"eth0.{g.r.randint(100, 999)}"),
                N("nasporttype", S, "enum", choice("Ethernet", "Wireless-802.11", "Virtual")),
                N("acctstarttime", TS, "timestamp", ts),
                N("acctsessiontime", I64, "seconds", intr(0, 86400)),
                N("acctinputoctets", I64, "bytes", intr(0, 10**10)),
                N("acctoutputoctets", I64, "bytes", intr(0, 10**10)),
                N(
                    "calledstationid",
                    S,
                    "the access point's MAC and SSID (infrastructure)",
                    lambda g: mac(g, "-") + ":" + g.r.choice(["eduroam", "ISP-WiFi", "Guest"]),
                ),
                C(
                    "callingstationid",
                    S,
                    "PII",
                    "the subscriber's device MAC or MSISDN (reaches the person, like a client IP)",
                    lambda g: mac(g, "-") if g.r.random() < 0.6 else msisdn(g),
                ),
                N(
                    "acctterminatecause",
                    S,
                    "enum",
                    choice("User-Request", "Idle-Timeout", "Lost-Carrier", "Session-Timeout"),
                ),
                N("servicetype", S, "enum", choice("Framed-User", "Login-User")),
                N("framedprotocol", S, "enum", choice("PPP", "")),
                C("framedipaddress", S, "PII", "the public IP assigned to the subscriber", ipv4),
                C(
                    "framedipv6prefix",
                    S,
                    "PII",
                    "the subscriber's delegated IPv6 prefix",
                    lambda g: g.fk["en_US"].ipv6(network=True),
                    0.5,
                ),
            ],
        )
    )
    t.append(
        T(
            "radius",
            "radcheck",
            100,
            [
                N("id", I64, "key", intr(1, 10**6)),
                C("username", S, "PII", "subscriber login", lambda g: user_name(g) + g.r.choice(["", "@isp.example"])),
                N(
                    "attribute",
                    S,
                    "attribute name",
                    choice("Cleartext-Password", "NT-Password", "Crypt-Password", "SSHA2-256-Password"),
                ),
                N("op", S, "operator", choice(":=", "==")),
                C(
                    "value",
                    S,
                    "CREDENTIAL",
                    "the password: plain, NT hash, md5crypt, SSHA2-256",
                    lambda g: g.r.choice([plain_password, hex_secret(32), md5crypt, lambda g: b64(g.raw(40))])(g),
                ),
            ],
        )
    )
    t.append(
        T(
            "radius",
            "nas",
            50,
            [
                N("id", I64, "key", intr(1, 5000)),
                N(
                    "nasname",
                    S,
                    "the NAS's IP (infrastructure)",
                    lambda g: f"10.{g.r.randint(0, 255)}.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}",
                ),
                N("shortname", S, "name", lambda g: g.r.choice(["bras", "ap", "olt"]) + "-" + g.digits(2)),
                N("type", S, "enum", choice("other", "cisco", "mikrotik")),
                C(
                    "secret",
                    S,
                    "CREDENTIAL",
                    "the RADIUS shared secret",
                    lambda g: g.r.choice([plain_password, hex_secret(24), lambda g: g.s(ALNUM, 16)])(g),
                ),
                N("server", S, "virtual server", choice("default", "inner-tunnel", "")),
                N("description", S, "free text", choice("RADIUS Client", "Core BRAS", "Campus APs")),
            ],
        )
    )
    # ---- Eventbrite
    t.append(
        T(
            "eventbrite",
            "attendees",
            150,
            [
                N("id", S, "attendee id", lambda g: g.digits(10)),
                N("order_id", S, "order id", lambda g: g.digits(10)),
                N("event_id", S, "event id", lambda g: g.digits(12)),
                C("profile_name", S, "PII", "full name", name),
                C("profile_first_name", S, "PII", "given name", first),
                C("profile_last_name", S, "PII", "family name", last),
                C("profile_email", S, "PII", "email", email),
                C("profile_cell_phone", S, "PII", "mobile phone", phone_mixed, 0.4),
                C("profile_birth_date", S, "PII", "date of birth", dob_fmt("%Y-%m-%d"), 0.7),
                N("profile_age", I64, "age in years", intr(16, 80)),
                N("profile_gender", S, "gender", choice("male", "female", "")),
                N("profile_job_title", S, "job title", job, 0.5),
                N("profile_company", S, "company", company, 0.5),
                C("profile_addresses_home_address_1", S, "PII", "home street", street, 0.6),
                C("profile_addresses_home_postal_code", S, "PII", "home postcode", postcode, 0.6),
                N(
                    "profile_addresses_work_address_1",
                    S,
                    "the employer's office street (an organisation's address)",
                    lambda g: g.fk["en_US"].street_address() + ", Floor " + str(g.r.randint(1, 30)),
                    0.6,
                ),
                N("ticket_class_name", S, "ticket type", choice("General Admission", "VIP", "Early Bird", "Student")),
                N("barcodes_barcode", S, "ticket barcode (order id + attendee id + digits)", lambda g: g.digits(18)),
                N("checked_in", B, "flag", boolean(0.6)),
                N("costs_gross_value", I64, "minor units", intr(0, 50000)),
                N("created", S, "timestamp", iso),
                N("affiliate", S, "tracking code", choice("ebdssbdestsearch", "fb", "", "newsletter"), 0.4),
            ],
        )
    )
    # ---- Canvas LMS
    t.append(
        T(
            "canvas_lms",
            "users",
            150,
            [
                N("id", I64, "user id", intr(1, 10**7)),
                C("name", S, "PII", "display name", name),
                C("sortable_name", S, "PII", "Family, Given", lambda g: f"{last(g)}, {first(g)}"),
                C("short_name", S, "PII", "short name (given name)", first),
                N(
                    "sis_user_id",
                    S,
                    "institution's student number (like Moodle idnumber)",
                    lambda g: "S" + g.digits(7),
                    0.2,
                ),
                N("integration_id", S, "integration key", uuid4, 0.7),
                C(
                    "login_id",
                    S,
                    "PII",
                    "login (the university email or username)",
                    lambda g: g.r.choice([work_email(g), user_name(g)]),
                ),
                C("email", S, "PII", "email", email),
                N(
                    "avatar_url",
                    S,
                    "avatar URL (file key)",
                    lambda g: (
                        f"https://canvas.instructure.com/images/thumbnails/{g.r.randint(1, 10**7)}/{g.s(ALNUM, 40)}"
                    ),
                    0.3,
                ),
                N("locale", S, "locale", choice("en", "nl", "pl", "ja", "ko", "zh-Hant", None)),
                N("time_zone", S, "time zone", choice("Europe/Amsterdam", "Asia/Seoul", "Africa/Johannesburg")),
                N("last_login", S, "timestamp", iso, 0.2),
                N("created_at", S, "timestamp", iso),
                C("pronouns", S, "NONE", "pronouns (like gender)", choice("she/her", "he/him", "they/them", None), 0.5),
            ],
        )
    )
    t.append(
        T(
            "canvas_lms",
            "access_tokens",
            80,
            [
                N("id", I64, "token key", intr(1, 10**6)),
                N("user_id", I64, "user key", intr(1, 10**7)),
                N("purpose", S, "label", choice("Grade sync", "Zapier", "Mobile", "Research export")),
                N(
                    "token_hint",
                    S,
                    "the token's first characters (like last four)",
                    lambda g: f"{g.r.randint(1, 25000)}~{g.s(ALNUM, 4)}",
                ),
                C(
                    "visible_token",
                    S,
                    "CREDENTIAL",
                    "the full access token (only right after creation)",
                    canvas_token,
                    0.5,
                ),
                C(
                    "crypted_token",
                    S,
                    "CREDENTIAL",
                    "digest of the token (token digests: CREDENTIAL, as set 1)",
                    sha1_hex,
                ),
                N("expires_at", S, "timestamp", iso, 0.4),
                N("scopes", S, "JSON list", lambda g: json.dumps(["url:GET|/api/v1/courses"])),
            ],
        )
    )
    # ---- PowerSchool
    t.append(
        T(
            "powerschool",
            "students",
            150,
            [
                N("ID", I64, "key", intr(1, 10**6)),
                N("DCID", I64, "key", intr(1, 10**6)),
                N("STUDENT_NUMBER", I64, "the school's student number", intr(100000, 9999999)),
                N(
                    "STATE_STUDENTNUMBER",
                    S,
                    "state-assigned student id (an administration's pseudonymous key)",
                    lambda g: g.digits(10),
                    0.2,
                ),
                C("FIRST_NAME", S, "PII", "given name", first_latin),
                C("MIDDLE_NAME", S, "PII", "middle name", first_latin, 0.5),
                C("LAST_NAME", S, "PII", "family name", last_latin),
                C("LASTFIRST", S, "PII", "Last, First", lambda g: f"{last_latin(g)}, {first_latin(g)}"),
                C("DOB", D32, "PII", "date of birth", lambda g: birth(g, 2005, 2020)),
                N("GENDER", S, "gender", choice("M", "F", "X")),
                N("GRADE_LEVEL", I64, "grade", intr(-1, 12)),
                N("SCHOOLID", I64, "school key", intr(100, 999)),
                N("ENROLL_STATUS", I64, "code", choice(-1, 0, 2, 3)),
                N("ETHNICITY", S, "code", choice("1", "2", "3", "4", "5")),
                C("STREET", S, "PII", "home street", lambda g: g.fk["en_US"].street_address()),
                N("CITY", S, "city", lambda g: g.fk["en_US"].city()),
                C("ZIP", S, "PII", "ZIP", lambda g: g.fk["en_US"].zipcode()),
                C("HOME_PHONE", S, "PII", "home phone", lambda g: phone_national(g, ["US"])),
                C("MOTHER", S, "PII", "mother's name", latin_name, 0.2),
                C("FATHER", S, "PII", "father's name", latin_name, 0.3),
                C(
                    "GUARDIANEMAIL",
                    S,
                    "PII",
                    "guardians' emails, comma-separated",
                    lambda g: ",".join(email(g) for _ in range(g.r.randint(1, 2))),
                    0.2,
                ),
                C("SSN", S, "SENSITIVE", "SSN", ssn_us, 0.6),
                C("WEB_ID", S, "PII", "parent portal login", user_name, 0.4),
                C("WEB_PASSWORD", S, "CREDENTIAL", "parent portal password", plain_password, 0.4),
                C(
                    "STUDENT_WEB_ID",
                    S,
                    "PII",
                    "student portal login",
                    lambda g: (first_latin(g)[0] + last_latin(g)).lower() + g.digits(2),
                    0.3,
                ),
                C("STUDENT_WEB_PASSWORD", S, "CREDENTIAL", "student portal password", plain_password, 0.3),
                N("LUNCH_ID", I64, "cafeteria PIN id (a school key)", intr(1000, 99999)),
                N("ENTRYDATE", D32, "date", date),
                N("ALLOWWEBACCESS", I64, "flag 0/1", choice(0, 1)),
            ],
        )
    )
    # ---- FEC individual contributions
    t.append(
        T(
            "fec",
            "itcont",
            200,
            [
                N("CMTE_ID", S, "committee id", lambda g: "C00" + g.digits(6)),
                N("AMNDT_IND", S, "code", choice("N", "A", "T")),
                N("RPT_TP", S, "code", choice("Q1", "Q2", "M3", "YE", "12G")),
                N("TRANSACTION_PGI", S, "code", choice("P2024", "G2024", "")),
                N("IMAGE_NUM", S, "image number (18 digits)", lambda g: "2024" + g.digits(14)),
                N("TRANSACTION_TP", S, "code", choice("15", "15E", "22Y", "24T")),
                N("ENTITY_TP", S, "code", choice("IND", "IND", "ORG")),
                C(
                    "NAME",
                    S,
                    "PII",
                    "contributor LAST, FIRST MIDDLE",
                    lambda g: (
                        f"{last_latin(g).upper()}, {first_latin(g).upper()}"
                        + g.r.choice(["", " " + g.s(UPPER, 1), " MR."])
                    ),
                ),
                N("CITY", S, "city", lambda g: g.fk["en_US"].city().upper()),
                N("STATE", S, "state", lambda g: g.fk["en_US"].state_abbr()),
                C(
                    "ZIP_CODE",
                    S,
                    "PII",
                    "contributor's 5 or 9 digit ZIP",
                    lambda g: g.fk["en_US"].zipcode() + g.r.choice(["", g.digits(4)]),
                ),
                N(
                    "EMPLOYER",
                    S,
                    "employer (a company)",
                    lambda g: g.r.choice([company(g).upper(), "SELF-EMPLOYED", "RETIRED", "NOT EMPLOYED"]),
                ),
                N("OCCUPATION", S, "occupation", lambda g: job(g).upper()),
                N("TRANSACTION_DT", S, "contribution date MMDDYYYY (not a birth date)", date_str("%m%d%Y")),
                N("TRANSACTION_AMT", I64, "amount", intr(-500, 6600)),
                N("OTHER_ID", S, "committee id", lambda g: "C00" + g.digits(6), 0.8),
                N("TRAN_ID", S, "transaction id", lambda g: g.r.choice(["SA11AI.", "A", "VTQ"]) + g.digits(7)),
                N("FILE_NUM", I64, "filing number", intr(1_000_000, 1_900_000)),
                N("MEMO_CD", S, "flag", choice("", "X"), 0.7),
                N("MEMO_TEXT", S, "memo", choice("EARMARKED THROUGH ACTBLUE", "* EARMARKED CONTRIBUTION", ""), 0.5),
                N(
                    "SUB_ID",
                    I64,
                    "FEC record id (19 digits)",
                    intr(4_000_000_000_000_000_000, 4_999_999_999_999_999_999),
                ),
            ],
        )
    )
    # ---- opaque: content-only columns (names say nothing on purpose)
    t.append(
        T(
            "opaque",
            "export_h",
            120,
            [
                C(
                    "h01",
                    S,
                    "PII",
                    "full names in Japanese, Korean, Chinese, Persian, Bengali, Thai, Arabic script",
                    script_name,
                ),
                C("h02", S, "PII", "full names, Latin script (NL, PL, CZ, TR, PH, ZA, NG, KE)", latin_name),
                C("h03", S, "PII", "given names alone", first),
                C("h04", S, "PII", "family names alone", last),
                C("h05", S, "PII", "emails", email),
                C(
                    "h06",
                    S,
                    "PII",
                    "emails as mailto: links and 'Name <address>'",
                    lambda g: g.r.choice([lambda: "mailto:" + email(g), lambda: f"{latin_name(g)} <{email(g)}>"])(),
                ),
                C(
                    "h07",
                    S,
                    "PII",
                    "phones of JP, KR, CN, TW in national notation",
                    lambda g: phone_national(g, ["JP", "KR", "CN", "TW"]),
                ),
                C("h08", S, "PII", "phones of NL, PL, CZ, TR, mixed notations", phone_of("NL", "PL", "CZ", "TR")),
                C(
                    "h09",
                    I64,
                    "PII",
                    "phones as int64 E.164 digits (MY, ZA, KE, TZ, IR, TH, ID, EG)",
                    lambda g: phone_int(g, ["MY", "ZA", "KE", "TZ", "IR", "TH", "ID", "EG"]),
                ),
                C("h10", S, "PII", "phones as RFC 3966 tel: URIs", phone_tel),
                C("h11", S, "PII", "phones with dots", phone_dotted),
                C("h12", S, "PII", "birth dates as 1985年3月7日", dob_ja),
                C("h13", S, "PII", "birth dates DD.MM.YYYY", dob_fmt("%d.%m.%Y")),
                C("h14", I64, "PII", "birth dates as YYYYMMDD int64", lambda g: int(birth(g).strftime("%Y%m%d"))),
                C("h15", D32, "PII", "birth dates (date32)", dob),
                C(
                    "h16",
                    S,
                    "PII",
                    "postal addresses in JA, KO, ZH, FA, TH scripts, one line",
                    lambda g: (
                        g.loc(["ja_JP", "ko_KR", "zh_CN", "zh_TW", "fa_IR", "th_TH"]).address().replace("\n", " ")
                    ),
                ),
                C(
                    "h17",
                    S,
                    "PII",
                    "postal addresses, multi-line (NL, PL, CZ, TR, ZA, KE)",
                    lambda g: g.loc(["nl_NL", "pl_PL", "cs_CZ", "tr_TR", "zu_ZA", "en_KE"]).address(),
                ),
                C("h18", S, "PII", "street lines alone", street),
                C(
                    "h19",
                    S,
                    "PII",
                    "postcodes (NL 1234 AB, PL 00-950, CZ 110 00, JP 〒100-0001, KR, CN)",
                    lambda g: g.r.choice(
                        [
                            lambda: g.fk["nl_NL"].postcode(),
                            lambda: g.fk["pl_PL"].postcode(),
                            lambda: g.fk["cs_CZ"].postcode(),
                            lambda: "〒" + g.fk["ja_JP"].postcode(),
                            lambda: g.fk["ko_KR"].postcode(),
                            lambda: g.fk["zh_CN"].postcode(),
                        ]
                    )(),
                ),
                C("h20", S, "PII", "client IPv4 and IPv6 addresses (login log)", ip),
                C("h21", S, "PII", "login names", user_name),
                C(
                    "h22",
                    S,
                    "PII",
                    "obfuscated emails 'name at domain dot tld'",
                    lambda g: email(g).replace("@", " at ").replace(".", " dot "),
                ),
                C(
                    "h23",
                    S,
                    "PII",
                    "JSON objects {name, phone} of emergency contacts",
                    lambda g: json.dumps({"name": latin_name(g), "phone": phone_intl(g)}, ensure_ascii=False),
                ),
                C(
                    "h24",
                    S,
                    "PII",
                    "'FAMILY Given' upper-case family name first (JP/KR/CN habit, romanised)",
                    lambda g: f"{g.r.choice(ASIAN_FAMILY)} {first_latin(g)}",
                ),
                C(
                    "h25",
                    S,
                    "PII",
                    "phones with extensions and trunk zeros",
                    lambda g: (
                        phone_intl(g, ["NL", "ZA", "KE"])
                        + g.r.choice([" ext. ", " x", " #"])
                        + str(g.r.randint(10, 999))
                    ),
                ),
                N("h26", S, "cities", city),
                N("h27", S, "country names", lambda g: g.fk["en_US"].country()),
                N("h28", S, "company names", company),
                N("h29", S, "job titles", job),
                N("h30", I64, "years (of an event)", intr(1990, 2026)),
            ],
        )
    )
    t.append(
        T(
            "opaque",
            "export_g",
            100,
            [
                C("g01", S, "SENSITIVE", "Dutch BSNs (11-test)", bsn_nl),
                C("g02", S, "SENSITIVE", "Polish PESELs", pesel_pl),
                C("g03", I64, "SENSITIVE", "Polish PESELs as int64", lambda g: int(pesel_pl(g))),
                C("g04", S, "SENSITIVE", "Czech rodná čísla", rc_cz),
                C("g05", S, "SENSITIVE", "Turkish TC Kimlik numbers", tck_tr),
                C("g06", S, "SENSITIVE", "Japanese My Numbers", mynumber_jp),
                C("g07", S, "SENSITIVE", "Korean resident registration numbers", rrn_kr),
                C("g08", S, "SENSITIVE", "Chinese resident identity card numbers", ric_cn),
                C("g09", S, "SENSITIVE", "Taiwanese national identification numbers", tw_id),
                C("g10", S, "SENSITIVE", "Malaysian MyKad NRICs", nric_my),
                C("g11", S, "SENSITIVE", "South African ID numbers", id_za),
                C("g12", S, "SENSITIVE", "Kenyan KRA PINs of persons", pin_ke),
                C("g13", S, "SENSITIVE", "Thai personal identification numbers", pin_th),
                C("g14", S, "SENSITIVE", "Indonesian NIKs", nik_id),
                C("g15", S, "SENSITIVE", "Pakistani CNICs", cnic_pk),
                C("g16", S, "SENSITIVE", "Israeli ID numbers", idnr_il),
                C("g17", S, "SENSITIVE", "Iranian national codes", melli_ir),
                C("g18", S, "SENSITIVE", "Nigerian BVNs (11 digits, no check digit)", bvn_ng),
                C("g19", S, "SENSITIVE", "Philippine SSS numbers", sss_ph),
                C("g20", S, "SENSITIVE", "passport numbers of 13 countries", passport_v5),
                C("g21", S, "SENSITIVE", "driving licence numbers (NL, PL, JP, KR, ZA, PH, US)", dl_world),
                C(
                    "g22",
                    S,
                    "SENSITIVE",
                    "IBANs of KZ, EG, CR, DO, GT, MR, TN, FO, GL, GI, IQ, LB, VA, SV",
                    iban_of("KZ", "EG", "CR", "DO", "GT", "MR", "TN", "FO", "GL", "GI", "IQ", "LB", "VA", "SV"),
                ),
                C(
                    "g23",
                    S,
                    "SENSITIVE",
                    "IBANs of NL, PL, CZ, TR, spaced and lower-cased",
                    lambda g: (
                        iban(g, ["NL", "PL", "CZ", "TR"], 1.0).lower()
                        if g.r.random() < 0.3
                        else iban(g, ["NL", "PL", "CZ", "TR"], 1.0)
                    ),
                ),
                C("g24", S, "SENSITIVE", "card numbers (Visa, Mastercard, Amex, JCB, UnionPay, Discover)", card_number),
                C(
                    "g25",
                    I64,
                    "SENSITIVE",
                    "card numbers as int64",
                    lambda g: int(luhn_num(g, g.r.choice(["4", "51", "35", "62"]) + g.digits(3), 16)),
                ),
                C("g26", S, "SENSITIVE", "Czech bank account numbers prefix-number/bank", cz_account),
                C("g27", S, "SENSITIVE", "Japanese bank accounts (type, branch-account)", jp_account),
                C("g28", S, "SENSITIVE", "Korean bank account numbers", kr_account),
                C("g29", S, "SENSITIVE", "South African tax reference numbers", tin_za),
                C("g30", S, "SENSITIVE", "US SSNs, dashed and bare", ssn_us),
                C("g31", S, "SENSITIVE", "medical record numbers", mrn),
                C("g32", S, "SENSITIVE", "health insurance member ids", member_id),
                N(
                    "g33",
                    S,
                    "company tax numbers (PL NIP/REGON, NL BTW, CZ DIČ, TR VKN, JP corporate, KR BRN, CN USCC, TW UBN)",
                    company_tax_mix,
                ),
                N("g34", S, "masked cards (last four visible)", masked_card),
                N("g35", S, "BICs", bic),
                N("g36", S, "ABA routing numbers", aba_routing),
                N("g37", S, "South African company registration numbers", za_company_reg),
            ],
        )
    )
    t.append(
        T(
            "opaque",
            "export_w",
            80,
            [
                C("w01", S, "CREDENTIAL", "Groq keys gsk_", groq_key),
                C("w02", S, "CREDENTIAL", "Replicate tokens r8_", replicate_token),
                C("w03", S, "CREDENTIAL", "Perplexity keys pplx-", perplexity_key),
                C("w04", S, "CREDENTIAL", "xAI keys", xai_key),
                C("w05", S, "CREDENTIAL", "Resend keys re_", resend_key),
                C("w06", S, "CREDENTIAL", "Supabase personal tokens sbp_", supabase_pat),
                C("w07", S, "CREDENTIAL", "1Password service-account tokens ops_", onepassword_sa),
                C("w08", S, "CREDENTIAL", "Tailscale auth keys", tailscale_key),
                C("w09", S, "CREDENTIAL", "Adafruit IO keys aio_", adafruit_key),
                C("w10", S, "CREDENTIAL", "Typeform tokens tfp_", typeform_token),
                C("w11", S, "CREDENTIAL", "Lob live keys", lob_key),
                C("w12", S, "CREDENTIAL", "Asana personal access tokens 2/…:hex", asana_pat),
                C("w13", S, "CREDENTIAL", "Azure SAS query strings with sig=", azure_sas),
                C("w14", S, "CREDENTIAL", "Brex tokens bxt_", brex_token),
                C("w15", S, "CREDENTIAL", "Mercury tokens", mercury_token),
                C("w16", S, "CREDENTIAL", "Canvas access tokens n~…", canvas_token),
                C("w17", S, "CREDENTIAL", "Personio client secrets papi-", personio_secret),
                C("w18", S, "CREDENTIAL", "HS512 JWTs", hs512_jwt),
                C("w19", S, "CREDENTIAL", "EdDSA JWTs", eddsa_jwt),
                C(
                    "w20",
                    S,
                    "CREDENTIAL",
                    "connection strings with passwords (JDBC, ADO.NET, postgresql, Oracle thin)",
                    jdbc_url,
                ),
                C("w21", S, "CREDENTIAL", "PuTTY private key files", putty_key),
                C("w22", S, "CREDENTIAL", "EC private keys as JWK JSON (with d)", jwk_private),
                C("w23", S, "CREDENTIAL", "md5crypt $1$ hashes", md5crypt),
                C("w24", S, "CREDENTIAL", "sha256crypt $5$ hashes", sha256crypt),
                C("w25", S, "CREDENTIAL", "Apache $apr1$ hashes", apr1),
                C("w26", S, "CREDENTIAL", "ASP.NET Identity v3 hashes (base64)", aspnet_identity_v3),
                C("w27", S, "CREDENTIAL", "Spring Security {bcrypt}/{pbkdf2}/{sha256} hashes", spring_hash),
                C("w28", S, "CREDENTIAL", "passlib $pbkdf2-sha256$ hashes", passlib_pbkdf2),
                C("w29", S, "CREDENTIAL", "Cisco type 8/9 hashes", cisco_hash),
                C("w30", S, "CREDENTIAL", "MSSQL 0x0200 password hashes", mssql_hash),
                C("w31", S, "CREDENTIAL", "argon2i hashes", argon2i),
                C("w32", S, "CREDENTIAL", "bcrypt $2b$ hashes", bcrypt_2b),
                C("w33", S, "CREDENTIAL", "Joomla md5:salt hashes", joomla_hash),
                C("w34", S, "CREDENTIAL", "plain passwords", plain_password),
                C("w35", S, "CREDENTIAL", "a dump of several providers' keys", secret_dump),
                C("w36", S, "CREDENTIAL", "Revolut refresh tokens oa_prod_", revolut_refresh),
                N(
                    "w37",
                    S,
                    "X.509 certificates in PEM (public)",
                    lambda g: pem("CERTIFICATE", b"\x30\x82\x03" + g.raw(600)),
                ),
                N(
                    "w38",
                    S,
                    "SSH public keys (public)",
                    lambda g: (
                        "ssh-ed25519 "
                        + b64(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + g.raw(32))
                        + " "
                        + user_name(g).split("@")[0]
                        + "@laptop"
                    ),
                ),
                N("w39", S, "base64 pagination cursors", cursor_b64),
            ],
        )
    )
    # secrets with no prefix beside look-alikes with the same opaque names (told apart only by meaning)
    t.append(
        T(
            "opaque",
            "cfg_a",
            60,
            [
                C("val", S, "CREDENTIAL", "Cohere API keys (40 alphanumerics, no prefix)", cohere_key),
                C("val2", S, "CREDENTIAL", "Mistral API keys (32 alphanumerics)", mistral_key),
                C("val3", S, "CREDENTIAL", "Postmark server tokens (bare UUIDs)", postmark_token),
                C("val4", S, "CREDENTIAL", "Eventbrite private tokens (20 upper alphanumerics)", eventbrite_token),
                C("val5", S, "CREDENTIAL", "Azure DevOps PATs (52 base32)", azure_devops_pat),
                C("val6", S, "CREDENTIAL", "ngrok authtokens", ngrok_token),
                C("val7", S, "CREDENTIAL", "Lever API keys (48 chars)", lever_key),
                C("val8", S, "CREDENTIAL", "NT password hashes (32 hex)", hex_secret(32)),
                C("val9", S, "CREDENTIAL", "HMAC webhook signing secrets (base64 of 32 bytes)", b64_secret(32)),
            ],
        )
    )
    t.append(
        T(
            "opaque",
            "cfg_b",
            60,
            [
                N("val", S, "commit SHAs (40 hex)", sha1_hex),
                N("val2", S, "record UUIDs without dashes (32 hex)", lambda g: uuid4(g).replace("-", "")),
                N("val3", S, "record UUIDs", uuid4),
                N("val4", S, "20-char upper alphanumeric order references", alnum(20)),
                N("val5", S, "SHA-256 digests of public files", sha256_hex),
                N("val6", S, "base64 SHA-256 content ids", lambda g: b64(hashlib.sha256(g.raw(8)).digest())),
                N("val7", S, "MD5 of image contents", md5_hex),
            ],
        )
    )
    t.append(
        T(
            "opaque",
            "export_q",
            150,
            [
                N(
                    "q01",
                    S,
                    "order ids",
                    lambda g: g.r.choice(
                        [
                            f"#{g.r.randint(1000, 99999)}",
                            f"SO-{g.digits(8)}",
                            f"{g.digits(3)}-{g.digits(7)}-{g.digits(7)}",
                        ]
                    ),
                ),
                N("q02", S, "SKUs", sku),
                N("q03", S, "EAN-13 barcodes", gtin13),
                N("q04", S, "ISBN-13s", isbn13),
                N("q05", S, "airline e-ticket numbers (13 digits)", ticket_no),
                N("q06", S, "PNR record locators", record_locator),
                N("q07", S, "VINs", vin),
                N("q08", S, "IMEIs (Luhn-valid)", imei),
                N("q09", S, "cell ids (ECGI)", cell_ecgi),
                N("q10", S, "handset model names", device_model),
                N("q11", S, "on-chain transaction hashes", lambda g: "0x" + g.s(HEX, 64)),
                N("q12", S, "ISO timestamps with offsets", lambda g: ts(g).strftime("%Y-%m-%dT%H:%M:%S+09:00")),
                N("q13", F64, "amounts", money(0, 99999)),
                N("q14", DEC, "amounts (decimal)", dec(0, 5000)),
                N("q15", S, "product names", product_name),
                N(
                    "q16",
                    S,
                    "company names in CJK scripts",
                    lambda g: g.loc(["ja_JP", "zh_CN", "zh_TW", "ko_KR"]).company(),
                ),
                N("q17", I64, "11-digit numeric record ids", intr(10_000_000_000, 99_999_999_999)),
                N("q18", S, "13-digit numeric shipment ids", lambda g: g.digits(13)),
                N("q19", S, "18-digit numeric ids", lambda g: g.digits(18)),
                N("q20", I64, "epoch milliseconds", epoch_ms),
                N("q21", D32, "dates of orders", date),
                N("q22", S, "dates DD.MM.YYYY of invoices", date_str("%d.%m.%Y")),
                N("q23", S, "licence plates of fleet cars", plate),
                N("q24", S, "ICCIDs", iccid),
                N(
                    "q25",
                    S,
                    "MCC-MNC codes",
                    choice("20408", "26001", "23002", "28601", "44010", "45005", "46000", "46692"),
                ),
                N("q26", S, "ICD-10 codes", icd10),
                N(
                    "q27",
                    S,
                    "ISO currency and amount",
                    lambda g: f"{g.r.choice(['PLN', 'CZK', 'TRY', 'JPY', 'KRW'])} {g.r.uniform(1, 9999):.2f}",
                ),
                N("q28", S, "semver", semver),
                N("q29", S, "MAC addresses of network switches", mac),
                N("q30", S, "hotel confirmation numbers", lambda g: g.digits(8)),
                N("q31", S, "bag tags", lambda g: "0" + g.digits(9)),
                N("q32", S, "Japanese company tax numbers (T + corporate number)", lambda g: "T" + corp_jp(g)),
            ],
        )
    )
    return t


# --------------------------------------------------------------------------- write


def column_values(g: Gen, col: Col, rows: int) -> pa.Array:
    values = [None if g.r.random() < col.nulls else col.make(g) for _ in range(rows)]
    if col.type == pa.string() and col.nulls:
        values = [g.r.choice(["", "-", "n/a", "NULL"]) if v is None and g.r.random() < 0.2 else v for v in values]
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
