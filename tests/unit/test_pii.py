"""PII detection: a labelled set of realistic columns, precision/recall, and the look-alikes."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pyarrow as pa
import pytest

from dativo_workers.governance.pii import CREDENTIAL, PII, SENSITIVE, detect, detect_column, normalize_name

rng = random.Random(7)


def _luhn_complete(prefix: str, length: int = 16) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError


def _luhn_failing(length: int = 16) -> str:
    good = _luhn_complete("4", length)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def _spaced(digits: str) -> str:
    return " ".join(digits[j : j + 4] for j in range(0, len(digits), 4))


def _iban_de() -> str:
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
    return f"DE{check:02d}{bban}"


def _dni() -> str:
    n = rng.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


FIRST = ["John", "Maria", "Ahmed", "Lucía", "Jürgen", "Chloé", "Wei", "Olga", "Pedro", "Sarah"]
LAST = ["Smith", "García", "Müller", "Dubois", "Nowak", "Rossi", "Okafor", "Jensen", "Silva", "Brown"]
STREETS = ["Main Street", "Oak Avenue", "Elm Road", "Station Lane", "Park Drive"]


def n_of(fn, n: int = 60) -> list:
    return [fn(i) for i in range(n)]


def _email(i: int) -> str:
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{i}@example.{rng.choice(['com', 'de', 'es'])}"


def _phone(i: int) -> str:
    shapes = ["+1 555-{:03d}-{:04d}", "(555) {:03d} {:04d}", "+34 6{:02d} 123 {:04d}", "030 {:03d} {:04d}"]
    return rng.choice(shapes).format(i % 1000, rng.randint(0, 9999))


def _ssn(i: int) -> str:
    return f"{rng.randint(100, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _text(i: int) -> str:
    lines = ["Great product, fast delivery", "Please call me back tomorrow", "Item arrived damaged", "ok", "n/a"]
    return "mail me at bob@example.com" if i % 7 == 0 else rng.choice(lines)


# (column name, values, is PII/sensitive/credential?)
COLUMNS: list[tuple[str, list, bool]] = [
    # --- e-mail
    ("email", n_of(_email), True),
    ("customerEmail", n_of(_email), True),
    ("correo", n_of(_email), True),
    ("contact", n_of(_email), True),  # a name that says nothing: values decide
    ("E-Mail-Adresse", n_of(lambda i: _email(i) if i % 10 else None), True),
    # --- phone
    ("phone", n_of(_phone), True),
    ("telefono", n_of(lambda i: f"+34 6{i:02d} 55 12 {i:02d}"), True),
    ("mobileNumber", n_of(lambda i: f"07700 900{i:03d}"), True),
    ("Telefonnummer", n_of(lambda i: f"+49 30 {1000 + i} {2000 + i}"), True),
    ("contact_no", n_of(_phone), True),  # values alone: formatted phone numbers
    # --- national ids
    ("ssn", n_of(_ssn), True),
    ("tax_ref", n_of(_ssn), True),
    ("nino", n_of(lambda i: f"AB {i:02d} {i:02d} {i:02d} C"), True),
    ("dni", n_of(lambda i: _dni()), True),
    ("documento", n_of(lambda i: _dni()), True),  # DNI letters checked
    # --- payment cards and IBAN
    ("card_number", n_of(lambda i: _luhn_complete("4")), True),
    ("payment_ref", n_of(lambda i: _spaced(_luhn_complete("5"))), True),
    ("iban", n_of(lambda i: _iban_de()), True),
    ("bankAccount", n_of(lambda i: _iban_de()), True),
    ("beneficiary", n_of(lambda i: _iban_de()), True),
    # --- network
    ("ip_address", n_of(lambda i: f"192.168.{i % 256}.{rng.randint(1, 254)}"), True),
    ("clientIp", n_of(lambda i: f"2001:db8::{i:x}"), True),
    ("remote", n_of(lambda i: f"10.0.{i}.{i + 1}"), True),
    # --- address, names, birth dates
    ("street_address", n_of(lambda i: f"{i + 1} {rng.choice(STREETS)}"), True),
    ("direccion", n_of(lambda i: f"Calle Mayor {i + 1}, Madrid"), True),
    ("postal_code", n_of(lambda i: f"{10000 + i * 37}"), True),
    ("first_name", n_of(lambda i: rng.choice(FIRST)), True),
    ("lastName", n_of(lambda i: rng.choice(LAST)), True),
    ("nombre", n_of(lambda i: rng.choice(FIRST)), True),
    ("name", n_of(lambda i: f"{rng.choice(FIRST)} {rng.choice(LAST)}"), True),
    ("customer_name", n_of(lambda i: f"{rng.choice(LAST)}, {rng.choice(FIRST)}"), True),
    ("geburtsdatum", n_of(lambda i: dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28)), True),
    ("date_of_birth", n_of(lambda i: f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{50 + i % 49}"), True),
    ("fecha_nacimiento", n_of(lambda i: f"19{50 + i % 49}-{1 + i % 12:02d}-{1 + i % 28:02d}"), True),
    # --- credentials
    ("password", n_of(lambda i: uuid.uuid4().hex[:12]), True),
    ("api_key", n_of(lambda i: "sk_live_" + uuid.uuid4().hex[:24]), True),
    ("aws_access_key_id", n_of(lambda i: "AKIA" + uuid.uuid4().hex[:16].upper()), True),
    ("settings_blob", n_of(lambda i: "ghp_" + uuid.uuid4().hex + "abcd"), True),
    ("refreshToken", n_of(lambda i: uuid.uuid4().hex + uuid.uuid4().hex[:8].upper()), True),
    # --- not PII: look-alikes and ordinary columns
    ("order_number", n_of(lambda i: f"555{rng.randint(1000000, 9999999)}"), False),
    ("invoice_no", n_of(lambda i: f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"), False),
    ("account_id", n_of(lambda i: _luhn_failing()), False),
    ("tracking_code", n_of(lambda i: _luhn_failing(16)), False),
    ("device_serial", n_of(lambda i: f"{rng.randint(10**15, 10**16 - 1)}"), False),
    ("comment", n_of(_text), False),
    ("notes", n_of(lambda i: f"see ticket #{i}, contact alice@example.com" if i % 3 == 0 else "resolved"), False),
    ("product_code", n_of(lambda i: f"SKU-{i:05d}-EU"), False),
    ("id", n_of(lambda i: str(uuid.uuid4())), False),
    ("request_id", n_of(lambda i: str(uuid.uuid4())), False),
    ("created_at", n_of(lambda i: dt.datetime(2024, 1, 1) + dt.timedelta(hours=i)), False),
    ("updated", n_of(lambda i: f"2024-03-{1 + i % 28:02d}T10:00:00Z"), False),
    ("amount", n_of(lambda i: i * 1.5), False),
    ("quantity", n_of(lambda i: i), False),
    ("country", n_of(lambda i: rng.choice(["DE", "ES", "FR", "US"])), False),
    ("status", n_of(lambda i: rng.choice(["active", "churned", "trial"])), False),
    ("product_name", n_of(lambda i: rng.choice(["Blue Widget", "Red Gadget", "Green Sprocket"])), False),
    ("company", n_of(lambda i: rng.choice(["Acme Corp", "Globex GmbH", "Initech SA"])), False),
    ("file_name", n_of(lambda i: f"report_{i}.pdf"), False),
    ("mobile_platform", n_of(lambda i: rng.choice(["iOS", "Android"])), False),
    ("email_verified", n_of(lambda i: i % 2 == 0), False),
    ("email_count", n_of(lambda i: i), False),
    ("token_count", n_of(lambda i: i * 3), False),
    ("version", n_of(lambda i: f"1.{i % 10}.{i % 7}.{i}"), False),
    ("price_eur", n_of(lambda i: f"{i}.99"), False),
    ("session_started", n_of(lambda i: f"{1 + i % 28:02d}/01/2024 10:{i % 60:02d}"), False),
    ("sha256", n_of(lambda i: uuid.uuid4().hex + uuid.uuid4().hex), False),
    ("color_hex", n_of(lambda i: f"#{i:06x}"), False),
    ("city", n_of(lambda i: rng.choice(["Berlin", "Madrid", "Lyon"])), False),
]


def _array(values: list) -> pa.Array:
    return pa.array(values)


def test_labelled_set_precision_and_recall() -> None:
    assert len(COLUMNS) >= 40
    table = pa.table({name: _array(values) for name, values, _ in COLUMNS})
    found = detect(table)
    tp = fp = fn = 0
    mistakes = []
    for name, _, truth in COLUMNS:
        predicted = name in found
        tp += predicted and truth
        fp += predicted and not truth
        fn += truth and not predicted
        if predicted != truth:
            mistakes.append((name, truth, found.get(name)))
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    positives = sum(1 for *_, t in COLUMNS if t)
    print(
        f"\nPII detection on {len(COLUMNS)} columns ({positives} sensitive): "
        f"precision={precision:.3f} recall={recall:.3f} tp={tp} fp={fp} fn={fn} mistakes={mistakes}"
    )
    assert precision >= 0.95, mistakes
    assert recall >= 0.90, mistakes


@pytest.mark.parametrize(
    ("name", "label", "detector"),
    [
        ("email", PII, "email"),
        ("ssn", SENSITIVE, "national_id"),
        ("card_number", SENSITIVE, "payment_card"),
        ("iban", SENSITIVE, "iban"),
        ("api_key", CREDENTIAL, "credential"),
        ("geburtsdatum", PII, "date_of_birth"),
        ("clientIp", PII, "ip_address"),
    ],
)
def test_labels_and_detectors(name: str, label: str, detector: str) -> None:
    values = dict((n, v) for n, v, _ in COLUMNS)[name]
    finding = detect_column(name, _array(values))
    assert finding is not None and finding.label == label and finding.detector == detector
    assert finding.reason == "both" and 0.0 < finding.confidence <= 1.0


def test_reason_name_values_both() -> None:
    emails = _array(n_of(_email, 20))
    assert detect_column("contact", emails).reason == "values"
    assert detect_column("email", emails).reason == "both"
    assert detect_column("email", None).reason == "name"  # no sample: the name alone
    name_only = detect_column("email", None)
    both = detect_column("email", emails)
    assert name_only.confidence < both.confidence


def test_free_text_with_occasional_email_is_not_an_email_column() -> None:
    values = ["hello", "write to a@b.com", "thanks", "x@y.org is mine", "no"]
    assert detect_column("message", _array(values)) is None


def test_share_threshold_is_eighty_percent() -> None:
    emails = [f"u{i}@example.com" for i in range(8)]
    assert detect_column("contact", _array([*emails, "n/a", "unknown"])) is not None  # 8/10
    assert detect_column("contact", _array([*emails[:7], "n/a", "unknown", "-"])) is None  # 7/10


def test_nulls_do_not_count_against_the_share() -> None:
    assert detect_column("contact", _array(["a@example.com", None, None, "b@example.org"])) is not None


def test_order_numbers_shaped_like_phones_are_not_phones() -> None:
    assert detect_column("order_id", _array([f"+1 555-123-{i:04d}" for i in range(10)])) is None
    assert detect_column("ref", _array([f"5551234{i:03d}" for i in range(10)])) is None


def test_sixteen_digit_ids_failing_luhn_are_not_cards() -> None:
    assert detect_column("x", _array([_luhn_failing() for _ in range(20)])) is None
    assert detect_column("x", _array([_luhn_complete("4") for _ in range(20)])).detector == "payment_card"


def test_iban_needs_mod97() -> None:
    good = [_iban_de() for _ in range(10)]
    bad = [g[:4] + ("1" if g[4] != "1" else "2") + g[5:] for g in good]
    assert detect_column("beneficiary", _array(good)).detector == "iban"
    assert detect_column("beneficiary", _array(bad)) is None


def test_high_entropy_secret_only_in_a_credential_named_column() -> None:
    values = _array([uuid.uuid4().hex + uuid.uuid4().hex for _ in range(10)])
    assert detect_column("client_secret", values).label == CREDENTIAL
    assert detect_column("checksum", values) is None


def test_integer_phone_numbers_with_a_phone_name() -> None:
    assert detect_column("phone", pa.array([4930123456 + i for i in range(10)], pa.int64())).detector == "phone"
    assert detect_column("order_number", pa.array([4930123456 + i for i in range(10)], pa.int64())) is None


def test_name_normalisation() -> None:
    assert normalize_name("customerEMailAddress") == "customer_e_mail_address"
    assert normalize_name("Fecha de Nacimiento") == "fecha_de_nacimiento"
    assert normalize_name("téléphone") == "telephone"


def test_empty_and_missing_samples() -> None:
    assert detect(None, ["email", "amount"]) == {"email": detect_column("email", None)}
    assert detect(pa.table({"email": pa.array([], pa.string())})).keys() == {"email"}
    assert detect(pa.table({"x": pa.array([None, None], pa.null())})) == {}


def test_reader_sample_is_bounded_and_errors_give_none(tmp_path) -> None:
    from dativo_workers.plugins.base import DataReader, Partition, SourceContext

    class Many(DataReader):
        name = "many"
        batches_read = 0

        def read(self, partition, schema):
            for i in range(100):
                Many.batches_read += 1
                yield pa.table({"email": [f"u{i}_{j}@example.com" for j in range(300)]})

    class Broken(DataReader):
        name = "broken"

        def read(self, partition, schema):
            raise ConnectionResetError(104, "reset")

    first = Partition(index=0, spec={})
    sample = Many(None, SourceContext(base_dir=tmp_path)).sample(first, 1000)
    assert sample is not None and sample.num_rows == 1000 and Many.batches_read == 4
    assert Broken(None, SourceContext(base_dir=tmp_path)).sample(first) is None
    assert Many(None, SourceContext(base_dir=tmp_path)).source_tags() == {}
