"""PII detection of the kinds evaluation set 7 missed (issue #15 item 2): identity documents under
ambiguous names and in opaque columns, token and password digests, TOTP seeds, settings columns with
API keys, login names and profile ids on values alone; and the look-alikes each rule must leave alone.
Every value is generated here (Faker, hashlib, secrets), none is taken from an evaluation set."""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import string
import unicodedata
import uuid

import pyarrow as pa
import pytest
from faker import Faker

from dativo_workers.governance.pii import CREDENTIAL, PII, SENSITIVE, detect_column

N = 80
rng = random.Random(7)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@pytest.fixture(scope="module")
def fake() -> Faker:
    faker = Faker(["en_US", "en_GB", "de_DE", "es_ES", "sv_SE", "pt_BR"])
    faker.seed_instance(7)
    return faker


def _label(name: str, values: list[object]) -> str | None:
    finding = detect_column(name, pa.array(values))
    return None if finding is None else finding.label


def _passport() -> str:
    letters = string.ascii_uppercase
    shape = rng.randrange(5)
    if shape == 0:
        return rng.choice(letters) + "".join(rng.choices(string.digits, k=8))  # US next generation
    if shape == 1:
        return "".join(rng.choices(letters, k=2)) + "".join(rng.choices(string.digits, k=7))  # AU, UK, JP
    if shape == 2:
        return (
            "".join(rng.choices(string.digits, k=2))
            + "".join(rng.choices(letters, k=2))
            + str(rng.randrange(10_000, 100_000))
        )  # FR
    if shape == 3:
        return rng.choice("CFGHJK") + "".join(rng.choices("CFGHJKLMNPRTVWXYZ0123456789", k=8))  # DE
    return "".join(rng.choices(string.digits, k=9))  # US, UK older


def _dni() -> str:
    n = rng.randrange(10_000_000, 100_000_000)
    return f"{n}{_DNI_LETTERS[n % 23]}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def _login(fake: Faker) -> str:
    first, last = _ascii(fake.first_name()), _ascii(fake.last_name())
    return rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randrange(10, 99)}", f"{last}{first}"])


# -- identity documents ------------------------------------------------------------------------------


def test_document_number_of_an_identifier_table() -> None:
    values = [_dni() if i % 2 else _passport() for i in range(N)]
    assert _label("document_key", values) == SENSITIVE
    assert _label("identity_document_number", values) == SENSITIVE
    assert _label("document_key", [str(uuid.uuid4()) for _ in range(N)]) is None  # a key of a stored file


def test_driving_licence_abbreviation() -> None:
    values = [rng.choice(string.ascii_uppercase) + str(rng.randrange(1_000_000, 10_000_000)) for _ in range(N)]
    assert _label("holder_ident_dl", values) == SENSITIVE


def test_other_id_holding_passports() -> None:
    assert _label("other_id", [_passport() for _ in range(N)]) == SENSITIVE
    assert _label("other_id", [str(i) for i in range(1, N + 1)]) is None  # keys


def test_opaque_passport_numbers_but_not_order_numbers() -> None:
    assert _label("c7", [_passport() for _ in range(N)]) == SENSITIVE
    assert _label("c7", [f"SO{rng.randrange(1_000_000, 9_999_999)}" for _ in range(N)]) is None  # one prefix
    assert _label("c7", [f"S{rng.randrange(100_000, 999_999)}" for _ in range(N)]) is None  # enrolment codes
    assert _label("c7", [str(rng.randrange(100_000_000, 999_999_999)) for _ in range(N)]) is None  # numbers


# -- credentials ---------------------------------------------------------------------------------------


def test_algorithm_prefixed_digest_is_a_credential() -> None:
    values = ["sha256$" + hashlib.sha256(secrets.token_bytes(16)).hexdigest() for _ in range(N)]
    assert _label("secure_value", values) == CREDENTIAL
    docker = ["sha256:" + hashlib.sha256(secrets.token_bytes(16)).hexdigest() for _ in range(N)]
    assert _label("layer_ref", docker) is None  # a content address, not a secret's digest


def test_login_and_remember_digests() -> None:
    values = [hashlib.sha256(secrets.token_bytes(16)).hexdigest() for _ in range(N)]
    assert _label("login_hash", values) == CREDENTIAL
    assert _label("remember_digest", values) == CREDENTIAL
    assert _label("file_hash", values) is None


def test_new_password_and_pw_names() -> None:
    hashes = [
        "pbkdf2_sha256$600000$" + secrets.token_hex(8) + "$" + base64.b64encode(secrets.token_bytes(32)).decode()
        for _ in range(N)
    ]
    assert _label("user_newpassword", hashes) == CREDENTIAL
    passwords = ["".join(rng.choices(string.ascii_letters + string.digits + "!#$%&*", k=14)) for _ in range(N)]
    assert _label("MailUserPW", passwords) == CREDENTIAL
    assert _label("smtp_pw", passwords) == CREDENTIAL


def test_totp_seeds_in_an_opaque_column() -> None:
    seeds = [base64.b32encode(secrets.token_bytes(rng.choice([10, 20]))).decode() for _ in range(N)]
    assert _label("f12", seeds) == CREDENTIAL
    words = [rng.choice(["ALPHA", "BRAVO", "CHARLIE", "DELTA"]) * 4 for _ in range(N)]
    assert _label("f12", words) is None


def test_settings_value_column_with_api_keys() -> None:
    plain = ["5432", "587", "true", "false", "smtp.example.org", "https://hooks.example.com/in", "eu-west-1", "30"]
    keys = [
        "sk_live_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24)),
        "ghp_" + "".join(rng.choices(string.ascii_letters + string.digits, k=36)),
        "xoxb-" + "-".join(str(rng.randrange(10**11, 10**12)) for _ in range(2)) + "-" + secrets.token_hex(12),
    ]
    mixed = [rng.choice(keys) if i % 4 == 0 else rng.choice(plain) for i in range(N)]
    assert _label("value", mixed) == CREDENTIAL
    assert _label("setting_value", mixed) == CREDENTIAL
    assert _label("value", [rng.choice(plain) for _ in range(N)]) is None


def test_credential_look_alikes() -> None:
    assert _label("token_last_characters", [secrets.token_hex(2) for _ in range(N)]) is None
    assert _label("next_token", [str(uuid.uuid4()) for _ in range(N)]) is None  # a cursor, another row's key


# -- logins, e-mails, profiles ---------------------------------------------------------------------------


def test_login_names_under_login_like_names(fake: Faker) -> None:
    logins = [_login(fake) for _ in range(N)]
    assert _label("users_name", logins) == PII
    assert _label("ldap_user", logins) == PII
    assert _label("record_created_by", logins) == PII
    assert _label("created_by", [rng.choice(["system", "import", "admin", "cron"]) for _ in range(N)]) is None


def test_login_names_on_values_alone(fake: Faker) -> None:
    logins = list({_login(fake) for _ in range(2 * N)})[:N]
    assert _label("col_9", logins) == PII
    assert _label("sync_field", logins) == PII
    colours = [fake.color_name().lower() for _ in range(N)]
    assert _label("col_9", colours) is None


def test_emails_on_some_rows(fake: Faker) -> None:
    values = [fake.unique.email() if i % 2 else str(rng.randrange(10**20, 10**21)) for i in range(N)]
    assert _label("external_identifier", values) == PII
    notes = [fake.unique.email() if i % 2 else fake.sentence() for i in range(N)]
    assert _label("remarks", notes) is None  # free text with an address in some rows
    uids = [f"{uuid.uuid4()}@calendar.example.com" for _ in range(N)]
    assert _label("event_uid", uids) is None  # iCalendar UIDs
    assert _label("ical_uid", uids) is None


def test_profile_ids(fake: Faker) -> None:
    handles = list({_login(fake).replace(".", "") for _ in range(2 * N)})[:N]
    assert _label("matrix_id", [f"@{h}:matrix.example.org" for h in handles]) == PII
    assert _label("actor", [f"https://social.example.net/users/{h}" for h in handles]) == PII
    assert _label("actor", [f"https://forum.example.net/u/{h}" for h in handles]) == PII
    assert _label("x_link", [f"https://x.com/{h}" for h in handles]) == PII
    pages = [f"https://{fake.unique.domain_word()}.example.com/about" for _ in range(N)]
    assert _label("x_link", pages) is None


# -- addresses ---------------------------------------------------------------------------------------------


def test_postcodes_of_buyers_abroad_in_an_opaque_column() -> None:
    def ca() -> str:
        ls = "ABCEGHJKLMNPRSTVXY"
        first = f"{rng.choice(ls)}{rng.randrange(10)}{rng.choice(ls)}"
        return f"{first} {rng.randrange(10)}{rng.choice(ls)}{rng.randrange(10)}"

    values = [ca() if i % 7 == 0 else f"{rng.randrange(10_000, 99_999)}" for i in range(N)]
    assert _label("col_16", values) == PII


def test_address_and_account_look_alikes() -> None:
    assert _label("postal_code_suffix", [f"{rng.randrange(10_000):04d}" for _ in range(N)]) is None
    padded = [f"{rng.randrange(1, 99_999):09d}" for _ in range(N)]
    assert _label("account_no", padded) is None  # a client's account key padded with zeros
