"""Generic PII signals (dativo_workers/governance/pii_generic.py): families recognised by structure, each
tested on values generated here (never the evaluation sets') and on look-alikes it must leave alone."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import string
import uuid

import pyarrow as pa

from dativo_workers.governance import pii_generic as g
from dativo_workers.governance.pii import detect_column

N = 40
rng = random.Random(2026)


def _arr(values: list[object]) -> pa.Array:
    return pa.array(values)


def _label(name: str, values: list[object]) -> str | None:
    found = detect_column(name, _arr(values))
    return None if found is None else found.label


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _alnum(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


# -- password hashes by structure ---------------------------------------------------------------------


def test_password_hashes_by_structure() -> None:
    salt = lambda n=8: _alnum(n, string.ascii_letters + string.digits + "./")  # noqa: E731
    families = {
        "modular crypt ($id$salt$hash)": [f"$q{rng.randint(1, 9)}${salt()}${salt(43)}" for _ in range(N)],
        "Cisco type 9": [f"$9${salt(14)}${salt(43)}" for _ in range(N)],
        "{SCHEME}": [f"{{XSHA{rng.choice(['', '2', '5'])}}}{_b64(secrets.token_bytes(28))}" for _ in range(N)],
        "scheme$iterations$salt$hash": [f"kdf_x${rng.randint(10000, 900000)}${salt(12)}${salt(44)}" for _ in range(N)],
        "scheme:params$salt$hash": [
            f"kdf:sha9:{rng.randint(1000, 9000)}${salt(16)}${secrets.token_hex(32)}" for _ in range(N)
        ],
        "MSSQL": ["0x0200" + secrets.token_hex(68).upper() for _ in range(N)],
        "hash:salt": [f"{secrets.token_hex(16)}:{salt(32)}" for _ in range(N)],
    }
    for family, values in families.items():
        assert _label("c7", values) == "CREDENTIAL", family


def test_aspnet_identity_hashes() -> None:
    v3 = [
        _b64(
            b"\x01"
            + (1).to_bytes(4, "big")
            + (10000).to_bytes(4, "big")
            + (16).to_bytes(4, "big")
            + secrets.token_bytes(48)
        )
        for _ in range(N)
    ]
    v2 = [_b64(b"\x00" + secrets.token_bytes(48)) for _ in range(N)]
    assert _label("c8", v3) == "CREDENTIAL"
    assert _label("c8", v2) == "CREDENTIAL"
    # near miss: base64 of 61 random bytes starting 0x01 with an absurd iteration count is no v3 hash
    assert not g._aspnet_identity(_b64(b"\x01" + b"\xff" * 12 + secrets.token_bytes(48)))


def test_hash_look_alikes_are_not_credentials() -> None:
    look_alikes = {
        "prices": [f"${rng.randint(1, 999)}.{rng.randint(10, 99)}" for _ in range(N)],
        "template placeholders": [f"{{name}} ordered {rng.randint(1, 99)} items" for _ in range(N)],
        "docker digests": [f"sha256:{secrets.token_hex(32)}" for _ in range(N)],
        "md5 checksums": [hashlib.md5(str(i).encode()).hexdigest() for i in range(N)],
        "hex ids with a short counter": [f"{secrets.token_hex(16)}:{i}" for i in range(N)],
    }
    for family, values in look_alikes.items():
        assert _label("c9", values) is None, family


# -- connection strings and key containers ------------------------------------------------------------


def test_connection_strings_with_passwords() -> None:
    def pw() -> str:
        return _alnum(12)

    values = []
    for i in range(N):
        values += [
            f"jdbc:sqlserver://db{i}.corp:1433;databaseName=x;user=app;password={pw()}",
            f"Server=tcp:sql{i}.example.net,1433;Database=d;User Id=u;Pwd={pw()};",
            f"Driver={{ODBC Driver 18}};Server=h{i};UID=u;PWD={pw()}",
            f"jdbc:oracle:thin:scott/{pw()}@//ora{i}.example:1521/ORCL",
            f"mysql://app:{pw()}@10.0.0.{i}:3306/shop",
            f"sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2027-01-01&sig={_alnum(40)}%3D",
        ]
    for k in range(6):
        assert _label("cs", values[k::6]) == "CREDENTIAL", values[k]
    # near misses: a connection string without a password, a form's password field description
    assert _label("cs", [f"Server=sql{i};Database=d;Integrated Security=true" for i in range(N)]) is None
    assert _label("cs", [f"postgresql://db{i}.example/app" for i in range(N)]) is None


def test_private_key_containers() -> None:
    body = lambda: _b64(secrets.token_bytes(60))  # noqa: E731
    pem = [f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{body()}\n-----END ENCRYPTED PRIVATE KEY-----" for _ in range(N)]
    putty = [f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPublic-Lines: 2\n{body()}" for _ in range(N)]
    jwk = [json.dumps({"kty": "EC", "crv": "P-256", "x": body(), "y": body(), "d": body()}) for _ in range(N)]
    for values in (pem, putty, jwk):
        assert _label("blob", values) == "CREDENTIAL", values[0][:30]
    public_jwk = [json.dumps({"kty": "EC", "crv": "P-256", "x": body(), "y": body()}) for _ in range(N)]
    certs = [f"-----BEGIN CERTIFICATE-----\n{body()}\n-----END CERTIFICATE-----" for _ in range(N)]
    assert _label("blob", public_jwk) is None
    assert _label("blob", certs) is None


# -- prefix-less random secrets ------------------------------------------------------------------------


def test_random_secrets_with_short_prefixes() -> None:
    b32 = string.ascii_lowercase + "234567"
    families = {
        "prefix_ + base62": [f"zzk_{_alnum(40)}" for _ in range(N)],
        "prefix- + hex": [f"qapi-{secrets.token_hex(24)}" for _ in range(N)],
        "n~ + base62": [f"{rng.randint(1, 99)}~{_alnum(64)}" for _ in range(N)],
        "2/123:hex": [f"2/{rng.randint(10**12, 10**13)}:{secrets.token_hex(16)}" for _ in range(N)],
        "base32 52": ["".join(secrets.choice(b32) for _ in range(52)) for _ in range(N)],
    }
    for family, values in families.items():
        assert _label("c3", values) == "CREDENTIAL", family


def test_ambiguous_random_content_needs_a_secret_name() -> None:
    hex32 = [secrets.token_hex(16) for _ in range(N)]
    b64_32 = [_b64(secrets.token_bytes(32)) for _ in range(N)]
    uuids = [str(uuid.uuid4()) for _ in range(N)]
    short = [_alnum(20, string.ascii_uppercase + string.digits) for _ in range(N)]
    for values in (hex32, b64_32, uuids, short):
        assert _label("c4", values) is None, values[0]
    assert _label("webhook_secret_2", b64_32) == "CREDENTIAL"
    assert _label("server_token", uuids) == "CREDENTIAL"
    assert _label("private_token", short) == "CREDENTIAL"
    assert _label("nt_pw", hex32) == "CREDENTIAL"
    assert _label("key", uuids) is None  # a record's key


def test_record_ids_are_not_random_secrets() -> None:
    base = rng.randint(10**17, 10**18)
    t0 = 1_700_000_000_000
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    def ulid(i: int) -> str:
        t = t0 + i * 1000
        head = "".join(crockford[(t >> (5 * k)) & 31] for k in range(9, -1, -1))
        return head + "".join(secrets.choice(crockford) for _ in range(16))

    look_alikes = {
        "snowflakes": [str(base + i * 4096 + rng.randint(0, 4000)) for i in range(N)],
        "ULIDs": [ulid(i) for i in range(N)],
        "SKUs": [
            f"SKU-{rng.choice(['RED', 'BLU'])}-{rng.randint(100, 999)}-{_alnum(4, string.ascii_uppercase)}"
            for _ in range(N)
        ],
        "order numbers": [f"ORD-2026-{i:08d}" for i in range(N)],
        "pod names": [
            f"web-{secrets.token_hex(5)}-{_alnum(5, string.ascii_lowercase + string.digits)}" for _ in range(N)
        ],
        "sha256 hex": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(N)],
        "words": [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(5)) for _ in range(N)],
    }
    for family, values in look_alikes.items():
        assert _label("c5", values) is None, family


# -- identity numbers of any stdnum country -----------------------------------------------------------


def test_checksummed_identity_numbers_of_other_countries() -> None:
    # British Columbia personal health numbers (no dedicated rule): 9, eight digits, a mod-11 check digit
    def bc_phn() -> str | None:
        digits = [rng.randint(0, 9) for _ in range(8)]
        check = 11 - sum(d * w for d, w in zip(digits, (2, 4, 8, 5, 10, 9, 7, 3), strict=True)) % 11
        return None if check > 9 else "9" + "".join(map(str, digits)) + str(check)

    values = [v for v in (bc_phn() for _ in range(3 * N)) if v][:N]
    found = g.checksum_ids(values)
    assert found is not None and found[1] == "national_id", found
    assert _label("f1", values) == "SENSITIVE"


def test_numeric_look_alikes_of_identity_numbers() -> None:
    def luhn_complete(body: str) -> str:
        from stdnum import luhn

        return body + luhn.calc_check_digit(body)

    imeis = [luhn_complete("35" + "".join(str(rng.randint(0, 9)) for _ in range(12))) for _ in range(N)]
    randoms = [str(rng.randint(10**9, 10**10 - 1)) for _ in range(N)]
    assert g.checksum_ids(imeis) is None
    assert g.checksum_ids(randoms) is None
    assert _label("f2", randoms) is None


# -- organisation contacts, infrastructure, masked cards ----------------------------------------------


def test_organisation_contacts_infrastructure_and_masked_cards_are_none() -> None:
    emails = [f"{rng.choice(['ap', 'billing', 'info'])}{i}@{_alnum(6, string.ascii_lowercase)}.com" for i in range(N)]
    assert _label("vendor_email", emails) is None
    assert _label("supplier_contact_email", emails) is None
    assert _label("customer_email", emails) == "PII"
    ips = [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(N)]
    assert _label("nas_ip_address", ips) is None
    assert _label("gateway_ip", ips) is None
    assert _label("client_ip", ips) == "PII"
    masked = [f"**** **** **** {rng.randint(1000, 9999)}" for _ in range(N)]
    assert _label("credit_card_number", masked) is None


# -- people in structured text ------------------------------------------------------------------------

GIVEN = ["Maria", "James", "Aiko", "Olga", "Pedro", "Fatima", "Thomas", "Elena", "David", "Sarah"]
FAMILY = ["Novak", "Garcia", "Tanaka", "Ivanova", "Silva", "Khan", "Muller", "Rossi", "Smith", "Cohen"]


def test_people_in_structured_text() -> None:
    def person() -> tuple[str, str]:
        return rng.choice(GIVEN), rng.choice(FAMILY)

    def mail(g_: str, f: str) -> str:
        return f"{g_.lower()}.{f.lower()}{rng.randint(1, 999)}@{rng.choice(['mail.com', 'web.de', 'post.cz'])}"

    people = [person() for _ in range(N)]
    assert _label("c1", [f"{f}, {g_}" for g_, f in people]) == "PII"
    assert _label("c1", [f"{f.upper()}/{g_.upper()} MR" for g_, f in people]) == "PII"
    assert _label("c2", [", ".join(mail(*person()) for _ in range(2)) for _ in range(N)]) == "PII"
    assert _label("c2", [mail(*person()).replace("@", "//").upper() for _ in range(N)]) == "PII"
    contacts = [json.dumps({"rel": "spouse", "tel": f"+4420{rng.randint(10**7, 10**8 - 1)}"}) for _ in range(N)]
    assert _label("c3", contacts) == "PII"
    # near misses: places as `City, Region`, product JSON, categories with slashes
    assert (
        _label("c1", [f"{c}, {r}" for c, r in zip(["Springfield"] * N, ["Ohio", "Texas"] * (N // 2), strict=True)])
        is None
    )
    assert _label("c3", [json.dumps({"sku": f"A{i}", "qty": i}) for i in range(N)]) is None
    assert _label("c1", [rng.choice(["HOME/GARDEN", "TOYS/GAMES", "FOOD/DRINK"]) for _ in range(N)]) is None


def test_subscriber_identities_under_telecom_names() -> None:
    imsis = [
        f"{rng.choice(['234', '262', '310'])}{rng.randint(10, 99)}{rng.randint(10**9, 10**10 - 1)}" for _ in range(N)
    ]
    macs = ["-".join(f"{rng.randint(0, 255):02X}" for _ in range(6)) for _ in range(N)]
    assert _label("served_imsi", imsis) == "PII"
    assert _label("callingstationid", macs) == "PII"
    assert _label("device_serial", macs) is None  # a MAC under a device's name is the device's
    assert _label("cell_id", [f"234-15-{rng.randint(1000, 99999)}-{rng.randint(1, 255)}" for _ in range(N)]) is None


def test_dates_of_birth_in_cjk_and_airline_notations() -> None:
    years = [rng.randint(1940, 2000) for _ in range(N)]
    cjk = [f"{y}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日" for y in years]
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    airline = [f"{rng.randint(1, 28):02d}{rng.choice(months)}{y % 100:02d}" for y in years]
    assert _label("h12", cjk) == "PII"
    assert _label("date_of_birth", airline) == "PII"
    # near miss: recent order dates in the same notation under an opaque name
    recent = [f"2026年{rng.randint(1, 12)}月{rng.randint(1, 28)}日" for _ in range(N)]
    assert _label("h13", recent) is None


def test_upper_case_name_parts_under_first_and_last() -> None:
    assert _label("FIRST", [rng.choice(GIVEN).upper() for _ in range(N)]) == "PII"
    assert _label("LAST", [rng.choice(FAMILY).upper() for _ in range(N)]) == "PII"
    assert _label("LAST", [rng.choice(["ACTIVE", "CLOSED", "PENDING", "OPEN"]) for _ in range(N)]) is None
    mixed = [rng.choice(["Wojciech", "Amara", "อรจิรา", "민준", "美咲", "Nikos"]) for _ in range(N)]
    assert _label("first", mixed) == "PII"
    assert _label("first", [rng.choice(["1", "2", "3"]) for _ in range(N)]) is None


def test_prefixed_random_hex_in_a_uuid_layout_and_postcodes() -> None:
    def dashed(h: str) -> str:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # random hex whose version and variant digits are not a UUID's (4 in 5 draws have neither)
    tokens = [f"zapi-{dashed(secrets.token_hex(16))}" for _ in range(N)]
    assert _label("c6", tokens) == "CREDENTIAL"
    assert _label("c6", [f"usr-{uuid.uuid4()}" for _ in range(N)]) is None  # a prefixed record UUID
    nl = [
        f"{rng.randint(1000, 9999)} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
        for _ in range(N)
    ]
    mixed = [
        rng.choice([f"{rng.randint(10, 99)}-{rng.randint(100, 999)}", f"{rng.randint(100, 799)} {rng.randint(10, 99)}"])
        for _ in range(N)
    ]
    assert _label("h19", nl) == "PII"
    assert _label("h19", mixed) == "PII"
    assert _label("h19", [str(rng.randint(10000, 99999)) for _ in range(N)]) is None  # five digits alone
    assert _label("h19", [f"{rng.randint(1, 99)}-{rng.randint(100, 999)}" for _ in range(N)]) is None  # one notation


def test_names_written_without_separators_are_split_into_known_words() -> None:
    from dativo_workers.governance.pii import _segment_name

    assert _segment_name("driverslicensenumber") == "drivers_license_number"
    assert _segment_name("billzip") == "bill_zip"
    assert _segment_name("lastinteractionat") is None  # not all known words
    digits = [f"{rng.randint(100, 899):03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}" for _ in range(N)]
    assert _label("socialsecuritynumber", digits) == "SENSITIVE"
    assert (
        _label("guarantordob", [f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" for _ in range(N)])
        == "PII"
    )
    assert _label("idnumber", [f"STU-{rng.randint(1000, 9999)}" for _ in range(N)]) is None  # ambiguous: values decide


def test_names_alone_and_family_first_in_opaque_columns() -> None:
    given = [*GIVEN, "Amina", "Ines", "Lara", "Chen", "Wei", "Noah", "Liam", "Emma", "Sofia", "Omar"]
    singles = [f"{rng.choice(given)}" for _ in range(N)]
    singles = [*dict.fromkeys(singles), "정수", "玉梅", "اسرا"]
    assert _label("h3", singles) == "PII"
    caps_first = list({f"{rng.choice(FAMILY).upper()} {rng.choice(given)}" for _ in range(3 * N)})[:N]
    assert _label("h4", caps_first) == "PII"
    # near misses: colours and product words, one each, all different
    words = [
        "Red",
        "Blue",
        "Green",
        "Yellow",
        "Purple",
        "Orange",
        "Silver",
        "Golden",
        "Crimson",
        "Teal",
        "Navy",
        "Olive",
    ]
    assert _label("h5", words) is None
    assert _label("h5", [f"{w.upper()} Edition" for w in words]) is None


def test_document_names_in_more_languages() -> None:
    numbers = [f"{rng.choice(string.ascii_uppercase)}{rng.randint(1000000, 9999999)}" for _ in range(N)]
    for name in ("paspoortnummer", "numer_paszport", "travel_document_no", "rijbewijsnummer", "prawo_jazdy", "ehliyet"):
        assert _label(name, numbers) == "SENSITIVE", name
    assert _label("pass_rate", [f"{rng.random():.2f}" for _ in range(N)]) is None  # `pass` alone is no passport


def test_a_password_column_of_mixed_storage() -> None:
    salt = string.ascii_letters + string.digits + "./"
    values = []
    for i in range(N):
        kind = i % 4
        if kind == 0:
            values.append(f"$1${_alnum(8, salt)}${_alnum(22, salt)}")
        elif kind == 1:
            values.append("{SSHA256}" + _b64(secrets.token_bytes(40)))
        elif kind == 2:
            values.append(secrets.token_hex(16).upper())
        else:
            values.append(f"{rng.choice(['Summer', 'Blue', 'Tiger'])}{rng.randint(10, 9999)}!")
    assert _label("value", values) == "CREDENTIAL"
    # near miss: a few hashes among product codes and words
    codes = [f"{rng.choice(['Widget', 'Gadget'])}-{rng.randint(100, 999)}" for _ in range(N - 5)]
    assert _label("value", [*codes, *values[:5]]) is None
