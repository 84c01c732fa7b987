"""PII detection by category (issue #15 item 2, the round after evaluation set 4): each rule is checked
on values generated here (Faker in many locales, python-stdnum check digits, hashlib, secrets, base64),
never on an evaluation set's values, and against a look-alike it must leave alone."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import secrets
import string

import pyarrow as pa
import pytest
from faker import Faker
from stdnum.ar import cbu
from stdnum.gb import utr
from stdnum.mx import rfc
from stdnum.pe import ruc
from stdnum.pt import nif

from dativo_workers.governance.pii import CREDENTIAL, PII, SENSITIVE, detect_column

N = 80
LOCALES = ["en_AU", "en_IE", "pt_PT", "es_AR", "es_CO", "hr_HR", "lv_LV", "is_IS", "fr_CA", "en_PH", "de_DE", "pl_PL"]
rng = random.Random(15)


@pytest.fixture(scope="module")
def fake() -> Faker:
    faker = Faker(LOCALES)
    faker.seed_instance(15)
    return faker


def _label(name: str, values: list[object], type_: pa.DataType | None = None) -> str | None:
    finding = detect_column(name, pa.array(values, type_) if type_ is not None else pa.array(values))
    return None if finding is None else finding.label


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _crypt64(n: int) -> str:
    return "".join(rng.choice("./" + string.ascii_letters + string.digits) for _ in range(n))


# -- credentials ------------------------------------------------------------------------------------


def _password() -> str:
    return secrets.token_urlsafe(12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: "*" + hashlib.sha1(hashlib.sha1(_password().encode()).digest()).hexdigest().upper(),  # MySQL
        lambda: "md5" + hashlib.md5((_password() + "alice").encode()).hexdigest(),  # PostgreSQL md5
        lambda: (
            f"SCRAM-SHA-256$4096:{_b64(secrets.token_bytes(16))}${_b64(secrets.token_bytes(32))}:"
            f"{_b64(secrets.token_bytes(32))}"
        ),
        lambda: f"$y$j9T${_crypt64(22)}${_crypt64(43)}",  # yescrypt
        lambda: "{SSHA}" + _b64(hashlib.sha1(b"pw" + (s := secrets.token_bytes(4))).digest() + s),
        lambda: f"$pbkdf2-sha256$29000${_crypt64(22)}${_crypt64(43)}",  # passlib
        lambda: f"dt0c01.{secrets.token_hex(12).upper()}.{secrets.token_hex(32).upper()}",  # Dynatrace
        lambda: "sk.eyJ1Ijoi" + secrets.token_urlsafe(60) + "." + secrets.token_urlsafe(16),  # Mapbox secret
        lambda: f"redis://:{_password()}@cache-{rng.randint(1, 9)}.internal:6379/0",  # no user, a password
        lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),  # Fernet key
        lambda: _b64(secrets.token_bytes(30)),  # AWS secret access key: 40 base64 characters
        lambda: "".join(rng.choice(string.ascii_lowercase + string.digits + "!@#$%^&*(-_=+)") for _ in range(50)),
    ],
    ids=[
        "mysql",
        "pg-md5",
        "scram",
        "yescrypt",
        "ssha",
        "pbkdf2",
        "dynatrace",
        "mapbox",
        "url",
        "fernet",
        "aws",
        "django",
    ],
)
def test_secret_formats_on_values_alone(make) -> None:
    assert _label("attr_9", [make() for _ in range(N)]) == CREDENTIAL


def test_digests_and_checksums_are_no_secrets() -> None:
    sha1_upper = [hashlib.sha1(secrets.token_bytes(8)).hexdigest().upper() for _ in range(N)]  # no `*`
    assert _label("attr_9", sha1_upper) is None
    digests = [base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(8)).digest()).decode() for _ in range(N)]
    assert _label("content_sha256", digests) is None  # a digest's name: not a Fernet key
    assert _label("attr_9", [_b64(hashlib.sha1(secrets.token_bytes(8)).digest()) for _ in range(N)]) is None


def test_credential_names_over_flags_dates_regions_and_partial_values() -> None:
    stamps = [
        (dt.datetime(2024, 1, 1) + dt.timedelta(hours=rng.randint(0, 9000))).isoformat() + "+00:00" for _ in range(N)
    ]
    assert _label("password_last_used", [rng.choice([*stamps, "N/A", "no_information"]) for _ in range(N)]) is None
    assert _label("access_key_1_active", [rng.choice(["true", "false"]) for _ in range(N)]) is None
    assert _label("password_enabled", [rng.choice(["true", "false", "not_supported"]) for _ in range(N)]) is None
    assert (
        _label("access_key_2_last_used_region", [rng.choice(["us-east-1", "eu-west-2", "N/A"]) for _ in range(N)])
        is None
    )
    assert _label("access_key_1_last_used_service", [rng.choice(["s3", "sts", "iam", "ec2"]) for _ in range(N)]) is None
    assert _label("token_last_eight", [secrets.token_hex(4) for _ in range(N)]) is None
    assert _label("passwd_hash_algo", [rng.choice(["argon2", "pbkdf2", "bcrypt"]) for _ in range(N)]) is None
    # the near miss: a credential's name over real secrets still is one
    assert _label("password", [_password() for _ in range(N)]) == CREDENTIAL
    assert _label("api_token", [secrets.token_hex(20) for _ in range(N)]) == CREDENTIAL


def test_base64_columns_are_decoded(fake: Faker) -> None:
    secrets_ = [
        rng.choice(
            [
                _password(),
                secrets.token_hex(20),
                f"postgres://{fake.user_name()}:{_password()}@db.internal/app",
                "-".join(fake.words(4)),
            ]
        )
        for _ in range(N)
    ]
    assert _label("value", [_b64(s.encode()) for s in secrets_]) == CREDENTIAL
    assert _label("blob", [_b64(fake.unique.email().encode()) for _ in range(N)]) == PII  # PII inside
    cursors = [_b64(json.dumps({"offset": rng.randint(0, 99999), "limit": 100}).encode()) for _ in range(N)]
    assert _label("next_cursor", cursors) is None
    assert _label("thumbnail", [_b64(secrets.token_bytes(48)) for _ in range(N)]) is None  # binary


# -- wrapped and disguised values -------------------------------------------------------------------


def test_hl7_composite_fields(fake: Faker) -> None:
    names = [f"{fake.last_name().upper()}^{fake.first_name().upper()}^{rng.choice('ABCDEFGH')}" for _ in range(N)]
    assert _label("PID_5", names) == PII
    assert _label("x5", names) == PII  # component by component, whatever the column's name
    cx = [f"{rng.randint(10**6, 10**8)}^^^{rng.choice(['HOSP', 'RMH', 'SVUH'])}^MR" for _ in range(N)]
    assert _label("x3", cx) == SENSITIVE
    phones = [f"+61 2 {rng.randint(8000, 9999)} {rng.randint(1000, 9999)}^PRN^PH" for _ in range(N)]
    assert _label("x13", phones) == PII
    # near misses: message types and event codes joined by `^`
    assert (
        _label("x9", [rng.choice(["ADT^A04^ADT_A01", "ADT^A08^ADT_A01", "ORU^R01^ORU_R01"]) for _ in range(N)]) is None
    )
    assert (
        _label("x10", [f"{rng.choice(['Z', 'Q'])}{rng.randint(1, 99)}^{rng.randint(1, 9)}^L" for _ in range(N)]) is None
    )


def test_obfuscated_emails_directory_entries_arns_and_handles(fake: Faker) -> None:
    obfuscated = []
    for _ in range(N):
        local, domain = fake.unique.email().split("@")
        host, tld = domain.rsplit(".", 1)
        obfuscated.append(rng.choice([f"{local} [at] {host} [dot] {tld}", f"{local}(at){host}.{tld}"]))
    assert _label("c7", obfuscated) == PII
    dns = [f"uid={fake.unique.user_name()},ou=people,dc=example,dc=org" for _ in range(N)]
    assert _label("dn", dns) == PII
    arns = [f"arn:aws:iam::{rng.randint(10**11, 10**12 - 1)}:user/{fake.unique.user_name()}" for _ in range(N)]
    assert _label("arn", arns) == PII
    assert _label("c8", ["@" + fake.unique.user_name() for _ in range(N)]) == PII
    # near misses: groups, roles, an organisation's handle
    assert _label("dn", [f"cn=group{i},ou=groups,dc=example,dc=org" for i in range(N)]) is None
    roles = [f"arn:aws:iam::{rng.randint(10**11, 10**12 - 1)}:role/svc-{i}" for i in range(N)]
    assert _label("arn", roles) is None
    assert _label("company", ["@" + fake.unique.word() + str(i) for i in range(N)]) is None
    assert _label("facebook", ["fb.me/" + fake.unique.user_name() for _ in range(N)]) == PII


def test_json_lists_of_names(fake: Faker) -> None:
    lists = [json.dumps([fake.name() for _ in range(rng.randint(1, 3))], ensure_ascii=False) for _ in range(N)]
    assert _label("owners_names", lists) == PII
    tags = [json.dumps(rng.sample(["red", "blue", "sale", "new", "eco"], 2)) for _ in range(N)]
    assert _label("labels", tags) is None


# -- bank accounts and identity numbers -----------------------------------------------------------


def _digits(n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def test_bank_and_fund_account_numbers_by_name() -> None:
    accounts = [_digits(rng.randint(6, 12)) for _ in range(N)]
    for name in (
        "account_number",
        "accountNumber",
        "bankAccount1_AccountNumber",
        "numbers_bacs_account",
        "eft_account",
    ):
        assert _label(name, accounts) == SENSITIVE, name
    assert _label("superFund1_MemberNumber", [_digits(9) for _ in range(N)]) == SENSITIVE
    # near misses: a customer code, a masked number, a run of keys
    assert _label("AccountNumber", [f"CD{_digits(6)}" for _ in range(N)]) is None
    assert _label("hidden_account_number", [f"XXXX{_digits(4)}" for _ in range(N)]) is None
    assert _label("account_number", list(range(1000, 1000 + N)), pa.int64()) is None


def test_cbu_and_bsb_accounts_on_values() -> None:
    def a_cbu() -> str:
        bank = _digits(7)
        bank += cbu.calc_check_digit(bank)
        account = "0" + _digits(12)
        return bank + account + cbu.calc_check_digit(account)

    assert _label("f1", [a_cbu() for _ in range(N)]) == SENSITIVE
    assert _label("f2", [f"{_digits(3)}-{_digits(3)} {_digits(rng.randint(6, 9))}" for _ in range(N)]) == SENSITIVE
    assert _label("f3", [_digits(22) for _ in range(N)]) is None  # 22 digits without the check digits


def test_person_numbers_with_check_digits() -> None:
    def utr_() -> str:
        body = _digits(9)
        return utr.calc_check_digit(body) + body

    def ruc_person() -> str:
        body = "10" + _digits(8)
        return body + ruc.calc_check_digit(body)

    def rfc_person(fake_date: dt.date) -> str:
        body = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXZ") for _ in range(4)) + fake_date.strftime("%y%m%d")
        body += rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ123456789") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ123456789")
        return body + rfc.calc_check_digit(body)

    def medicare() -> str:
        first = str(rng.randint(2, 6)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
        check = sum(int(d) * w for d, w in zip(first, (1, 3, 7, 9, 1, 3, 7, 9), strict=True)) % 10
        return f"{first}{check}{rng.randint(0, 9)}"

    births = [dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000)) for _ in range(N)]
    assert _label("f4", [utr_() for _ in range(N)]) == SENSITIVE
    assert _label("f5", [ruc_person() for _ in range(N)]) == SENSITIVE
    assert _label("f6", [rfc_person(b) for b in births]) == SENSITIVE
    assert _label("f7", [medicare() for _ in range(N)]) == SENSITIVE


def test_company_tax_numbers_are_none() -> None:
    def nipc() -> str:
        body = rng.choice("569") + _digits(7)
        return body + nif.calc_check_digit(body)

    def ruc_company() -> str:
        body = "20" + _digits(8)
        return body + ruc.calc_check_digit(body)

    assert _label("f8", [nipc() for _ in range(N)]) is None
    assert _label("f9", [ruc_company() for _ in range(N)]) is None


# -- names, logins, addresses, dates of birth ------------------------------------------------------


def test_name_words_alone_and_family_given(fake: Faker) -> None:
    assert _label("c9", [fake.first_name() for _ in range(N)]) == PII
    assert _label("c10", [fake.last_name() for _ in range(N)]) == PII
    assert _label("c12", [f"{fake.last_name().upper()}, {fake.first_name()}" for _ in range(N)]) == PII
    assert _label("sn", [fake.last_name() for _ in range(N)]) == PII


def test_names_of_things_are_not_person_names(fake: Faker) -> None:
    products = [
        f"{fake.color_name()} {fake.word().title()} {rng.choice(['Mug', 'Sneaker', 'Lamp', 'Desk'])}" for _ in range(N)
    ]
    assert _label("c11", products) is None
    kinds, products_ = ["Everyday", "Premier", "Online", "Student"], ["Saver", "Checking", "Access", "Plus"]
    accounts = [f"{rng.choice(kinds)} {rng.choice(products_)}" for _ in range(N)]
    assert _label("name", accounts) is None
    assert _label("c13", [rng.choice(["Red", "Blue", "Green", "Black", "White"]) for _ in range(N)]) is None


def test_logins_under_user_like_names(fake: Faker) -> None:
    logins = [fake.unique.user_name() for _ in range(N)]
    for name in ("name", "lower_name", "uid", "user", "login"):
        assert _label(name, logins) == PII, name
    slugs = [f"{fake.word()}-{rng.choice(['widget', 'gadget', 'kit'])}-{i}" for i in range(N)]
    assert _label("name", slugs) is None
    services = [
        f"{rng.choice(['svc', 'ci', 'deploy', 'backup'])}-{rng.choice(['runner', 'bot', 'agent'])}{i}" for i in range(N)
    ]
    assert _label("user", services) is None


def test_addresses_and_postcodes_on_values(fake: Faker) -> None:
    assert _label("c16", [fake.unique.street_address() for _ in range(N)]) == PII
    assert _label("c17", [fake.unique.address() for _ in range(N)]) == PII
    unique_part = "0123456789ACDEFHKNPRTVWXY"
    eircodes = [
        f"{rng.choice('ACDEFHKNPRTVWXY')}{rng.randint(10, 99)} {''.join(rng.choice(unique_part) for _ in range(4))}"
        for _ in range(N)
    ]
    assert _label("c18", eircodes) == PII
    # near misses: product descriptions with numbers, SKUs
    items = [f"{rng.choice(['Size', 'Pack of', 'Model'])} {rng.randint(1, 99)} {fake.word()} shoe" for _ in range(N)]
    assert _label("c19", items) is None
    assert _label("c20", [f"SKU-{rng.randint(10000, 99999)}-{rng.choice('ABC')}" for _ in range(N)]) is None


def test_dates_of_birth_on_values_under_an_opaque_name() -> None:
    births = [dt.date(1935, 1, 1) + dt.timedelta(days=rng.randint(0, 25000)) for _ in range(N)]
    assert _label("col_14", births, pa.date32()) == PII
    assert _label("col_13", [b.strftime("%d/%m/%Y") for b in births]) == PII
    assert _label("col_15", [int(b.strftime("%Y%m%d")) for b in births], pa.int64()) == PII
    # near misses: recent event dates, a named date column, timestamps
    orders = [dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2000)) for _ in range(N)]
    assert _label("col_16", orders, pa.date32()) is None
    assert _label("created_on", births, pa.date32()) is None
    stamps = [dt.datetime(b.year, b.month, b.day, 10, 30) for b in births]
    assert _label("col_17", stamps, pa.timestamp("s")) is None


def test_dates_of_death_by_name() -> None:
    deaths = [int((dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3000))).strftime("%Y%m%d")) for _ in range(N)]
    for name in ("BENE_DEATH_DT", "death_date", "deceased_date", "DT_DEATH"):
        assert _label(name, deaths, pa.int64()) == PII, name


def test_portuguese_driving_licences_on_values() -> None:
    districts = ["L", "P", "BR", "C", "AV", "FA", "SE", "VC"]
    licences = [f"{rng.choice(districts)}-{rng.randint(0, 999999):06d} {rng.randint(0, 9)}" for _ in range(N)]
    assert _label("f11", licences) == SENSITIVE
    assert (
        _label("f12", [f"{rng.choice(districts)}-{rng.randint(0, 999999):06d}" for _ in range(N)]) is None
    )  # no check


def test_hire_dates_of_three_decades_are_no_birth_dates() -> None:
    hires = [dt.date(1988, 1, 1) + dt.timedelta(days=rng.randint(0, 13000)) for _ in range(N)]
    assert _label("col_21", hires, pa.date32()) is None


def test_one_default_password_for_every_user_is_still_a_password() -> None:
    assert _label("password", ["changeme"] * 30 + ["welcome1"] * 10) == CREDENTIAL
    assert _label("api_key_status", [rng.choice(["active", "revoked"]) for _ in range(N)]) is None


def test_seats_and_venues_are_no_addresses() -> None:
    seats = [f"Section {rng.randint(100, 340)}, Row {rng.randint(1, 40)}, Seat {rng.randint(1, 30)}" for _ in range(N)]
    assert _label("c22", seats) is None
    plots = [f"Block {rng.randint(1, 90)} Lot {rng.randint(1, 90)} Unit {rng.randint(1, 900)}" for _ in range(N)]
    assert _label("c23", plots) is None
