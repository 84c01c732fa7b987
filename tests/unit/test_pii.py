"""PII detection: a labelled set of realistic columns, precision/recall, and the look-alikes."""

from __future__ import annotations

import datetime as dt
import itertools
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


# -- identity documents, each with its own check digits (written here, not taken from the detector)

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
_VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def _digits(n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def _aadhaar() -> str:
    body = str(rng.randint(2, 9)) + _digits(10)
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    number = body + str(_VERHOEFF_INV[c])
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def _cpf() -> str:
    body = _digits(9)
    for weight_start in (10, 11):
        total = sum(int(d) * w for d, w in zip(body, range(weight_start, 1, -1), strict=False))
        body += str(total * 10 % 11 % 10)
    return f"{body[:3]}.{body[3:6]}.{body[6:9]}-{body[9:]}"


def _cnpj() -> str:
    body = _digits(8) + "0001"
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        r = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
        body += str(0 if r < 2 else 11 - r)
    return f"{body[:2]}.{body[2:5]}.{body[5:8]}/{body[8:12]}-{body[12:]}"


def _sin() -> str:
    n = _luhn_complete(str(rng.choice([1, 2, 3, 4, 5, 6, 7, 9])), 9)
    return f"{n[:3]} {n[3:6]} {n[6:]}"


def _nhs() -> str:
    while True:
        body = _digits(9)
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            n = body + str(0 if check == 11 else check)
            return f"{n[:3]} {n[3:6]} {n[6:]}"


def _nir() -> str:
    body = f"{rng.randint(1, 2)}{rng.randint(40, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}{_digits(6)}"
    return f"{body} {97 - int(body) % 97:02d}"


def _steuer_id() -> str:
    while True:  # ten digits, one of them twice (or three times), then ISO 7064 MOD 11,10
        digits = rng.sample(range(10), 9)
        body = [*digits, rng.choice(digits)]
        rng.shuffle(body)
        if body[0] == 0:
            continue
        product = 10
        for d in body:
            total = (d + product) % 10 or 10
            product = total * 2 % 11
        check = (11 - product) % 10
        n = "".join(map(str, body)) + str(check)
        return f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}"


def _pan_in() -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(rng.choice(letters) for _ in range(3)) + rng.choice("PCHF") + rng.choice(letters) + _digits(4) + "Z"


def _flip_last_digit(value: str) -> str:
    i = max(j for j, ch in enumerate(value) if ch.isdigit())
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def _codice_fiscale() -> str:
    from stdnum.it import codicefiscale  # its check letter table; the detector must still pick the column

    body = "".join(rng.choice("BCDFGLMNPRST") for _ in range(6))
    body += f"{rng.randint(40, 99)}{rng.choice('ABCDEHLMPRST')}{rng.randint(1, 28):02d}"
    body += rng.choice("ABFHLM") + f"{rng.randint(100, 999)}"
    return body + codicefiscale.calc_check_digit(body)


def _iban(country: str, length: int) -> str:
    bban = _digits(length - 4)
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def _dvla() -> str:
    surname = rng.choice(["MORGA", "SMITH", "JONES", "PATEL", "WILLI"])
    initials, check = rng.choice(["SM", "JA"]), rng.choice(["IJ", "AB"])
    return f"{surname}{rng.randint(5, 9)}{rng.choice('0156')}{rng.randint(1, 9)}{_digits(3)}{initials}9{check}"


def _intl_phone(i: int) -> str:
    shapes = [
        "+44 20 7946 0{:03d}",
        "+49 30 1234 5{:03d}",
        "+33 1 42 68 5{:01d} {:02d}",
        "+81 3-1234-5{:03d}",
        "+91 98765 4{:04d}",
        "+55 11 91234-5{:03d}",
        "+61 2 9374 4{:03d}",
        "0044 20 7946 0{:03d}",
    ]
    shape = shapes[i % len(shapes)]
    return shape.format(i % 10, i % 100) if shape.count("{") == 2 else shape.format(i)


def _ean13(prefix: str) -> str:
    body = prefix + _digits(12 - len(prefix))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str(-total % 10)


def _b64(n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


FIRST = ["John", "Maria", "Ahmed", "Lucía", "Jürgen", "Chloé", "Wei", "Olga", "Pedro", "Sarah"]
LAST = ["Smith", "García", "Müller", "Dubois", "Nowak", "Rossi", "Okafor", "Jensen", "Silva", "Brown"]
STREETS = ["Main Street", "Oak Avenue", "Elm Road", "Station Lane", "Park Drive"]


def n_of(fn, n: int = 60) -> list:
    return [fn(i) for i in range(n)]


def _email(i: int) -> str:
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{i}@example.{rng.choice(['com', 'de', 'es'])}"


def _phone(i: int) -> str:
    shapes = ["+1 555-{:03d}-{:04d}", "(555) {:03d} {:04d}", "+34 6{:03d} 1{:04d}", "030 {:03d} {:04d}"]
    return rng.choice(shapes).format(200 + i % 800, rng.randint(0, 9999))  # a subscriber number starts 1-9


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
    # --- identity documents (issue 15: passports, national/tax ids, licences, social insurance)
    ("passport_number", n_of(lambda i: rng.choice("CFGHJK") + _digits(8)), True),
    ("PassportNo", n_of(lambda i: f"{rng.randint(10, 99)}AA{_digits(5)}"), True),
    ("numero_pasaporte", n_of(lambda i: "PA" + _digits(7)), True),
    ("Reisepassnummer", n_of(lambda i: "C" + _digits(2) + "X" + _digits(5)), True),
    ("drivers_license_number", n_of(lambda i: f"D{_digits(3)}-{_digits(4)}-{_digits(4)}"), True),
    ("Führerscheinnummer", n_of(lambda i: f"B{_digits(3)}X{_digits(5)}"), True),
    ("licence_doc", n_of(lambda i: _dvla()), True),  # GB DVLA shape under an opaque name
    ("social_insurance_number", n_of(lambda i: _sin()), True),
    ("holder_doc", n_of(lambda i: _sin()), True),  # CA SIN: Luhn, formatted
    ("cpf", n_of(lambda i: _cpf()), True),
    ("documento_cliente", n_of(lambda i: _cpf()), True),  # BR CPF under an opaque name
    ("empresa", n_of(lambda i: _cnpj()), True),  # BR CNPJ
    ("aadhaar_number", n_of(lambda i: _aadhaar()), True),
    ("uid_value", n_of(lambda i: _aadhaar()), True),  # IN Aadhaar (Verhoeff) by values
    ("pan_no", n_of(lambda i: _pan_in()), True),
    ("kyc_doc", n_of(lambda i: _pan_in()), True),  # IN PAN shape
    ("steuer_id", n_of(lambda i: _steuer_id()), True),
    ("identifiant", n_of(lambda i: _steuer_id()), True),  # DE Steuer-ID formatted, by values
    ("numero_secu", n_of(lambda i: _nir()), True),
    ("assure", n_of(lambda i: _nir()), True),  # FR NIR (mod 97) by values
    ("codiceFiscale", n_of(lambda i: _codice_fiscale()), True),
    ("cf_cliente", n_of(lambda i: _codice_fiscale()), True),
    ("nif", n_of(lambda i: _dni()), True),
    ("patient_nhs", n_of(lambda i: _nhs()), True),  # UK NHS number (mod 11) by values
    ("mrn", n_of(lambda i: f"MRN-{_digits(8)}"), True),
    ("taxpayer_id", n_of(lambda i: f"{rng.randint(10, 88)}-{_digits(7)}"), True),
    ("itin_holder", n_of(lambda i: f"9{_digits(2)}-{rng.randint(70, 88)}-{_digits(4)}"), True),
    # --- more credentials, several under opaque names
    ("stripe_key", n_of(lambda i: "rk_live_" + _b64(24)), True),
    ("value", n_of(lambda i: rng.choice(["sk_live_", "sk_test_"]) + _b64(24)), True),
    ("cfg", n_of(lambda i: "xoxb-" + _digits(12) + "-" + _b64(24)), True),
    ("gl", n_of(lambda i: "glpat-" + _b64(20)), True),
    ("gh", n_of(lambda i: "github_pat_" + _b64(22) + "_" + _b64(59)), True),
    ("gcp", n_of(lambda i: "AIza" + _b64(35)), True),
    ("aws", n_of(lambda i: "ASIA" + _digits(4) + "ABCDEFGHIJKL"), True),
    ("authorization", n_of(lambda i: "Bearer " + _b64(40)), True),
    ("jwt_col", n_of(lambda i: "eyJhbGciOiJIUzI1NiJ9." + _b64(30) + "." + _b64(43)), True),
    ("pem", n_of(lambda i: "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + _b64(60)), True),
    ("encrypted_password", n_of(lambda i: "$2b$12$" + _b64(53).replace("+", ".")), True),
    ("h", n_of(lambda i: "$argon2id$v=19$m=65536,t=3,p=4$" + _b64(22) + "$" + _b64(43)), True),
    ("dsn", n_of(lambda i: f"postgresql://app:{_b64(12)}@db{i}.internal:5432/app"), True),
    ("passphrase", n_of(lambda i: "correct horse battery staple"), True),
    # --- phones in international formats under opaque names; national formats under phone names
    ("contact_2", n_of(_intl_phone), True),
    ("HomePhone", n_of(lambda i: f"020 7946 0{i:03d}"), True),
    ("msisdn", n_of(lambda i: f"4915{_digits(9)}"), True),
    ("c3", n_of(lambda i: f"({rng.choice([212, 415, 617])}) {rng.randint(200, 999)}-{_digits(4)}"), True),
    # --- bank and card details
    ("iban_fr", n_of(lambda i: _iban("FR", 27)), True),
    ("x_acct", n_of(lambda i: _iban("AT", 20)), True),
    # not in the taxonomy: a BIC names a bank; special categories are opt-in (special_categories=True)
    ("swift_code", n_of(lambda i: rng.choice(["DEUTDEFF", "BNPAFRPP", "COBADEFFXXX", "CHASUS33", "BARCGB22"])), False),
    ("routing_number", n_of(lambda i: rng.choice(["111000025", "021000021", "026009593"])), False),  # opt-in
    ("cvc", n_of(lambda i: _digits(3)), True),
    ("cardNumber", n_of(lambda i: _luhn_complete("37", 15)), True),
    # --- HR / healthcare / CRM styles
    ("EMAIL", n_of(lambda i: rng.choice(["SKING", "NKOCHHAR", "LDEHAAN", "AHUNOLD"])), True),  # login ids
    ("address2", n_of(lambda i: f"Apt {i + 1}" if i % 2 else None), True),
    ("username", n_of(lambda i: rng.choice(FIRST).lower() + str(i)), True),
    ("year_of_birth", n_of(lambda i: 1940 + i % 60), False),  # a year or a day of birth alone: not PII
    ("dob_day", n_of(lambda i: 1 + i % 28), False),
    ("ethnicity", n_of(lambda i: rng.choice(["hispanic", "nonhispanic"])), False),
    ("religion", n_of(lambda i: rng.choice(["CATHOLIC", "JEWISH", "NOT SPECIFIED"])), False),
    ("diagnosis", n_of(lambda i: rng.choice(["SEPSIS", "PNEUMONIA", "CHEST PAIN"])), False),
    ("ssn_last_4", n_of(lambda i: _digits(4)), True),
    ("id_number", n_of(lambda i: f"{_digits(3)}-{_digits(2)}-{_digits(4)}"), True),
    ("DRIVERS", n_of(lambda i: "S999" + _digits(5)), True),
    ("AssistantName", n_of(lambda i: f"{rng.choice(FIRST)} {rng.choice(LAST)}"), True),
    ("email_template", n_of(lambda i: rng.choice(["welcome_v2", "reset_password", "receipt"])), False),
    ("HasOptedOutOfEmail", n_of(lambda i: rng.choice(["true", "false"])), False),
    ("bank_account_last4", n_of(lambda i: _digits(4)), False),
    ("drivers_count", n_of(lambda i: i % 9), False),
    ("race_number", n_of(lambda i: i % 40), False),
    ("bank_account_number", n_of(lambda i: _digits(10)), True),  # a domestic account number
    ("test_card_number", n_of(lambda i: _luhn_failing()), True),  # the name stands where Luhn fails
    ("billing_details.name", n_of(lambda i: f"{rng.choice(FIRST)} {rng.choice(LAST)}"), True),
    ("line1", n_of(lambda i: f"{i + 1} {rng.choice(STREETS)}"), True),
    ("birth_date", n_of(lambda i: f"March {1 + i % 28}, 19{50 + i % 49}"), True),
    ("address_line1_check", n_of(lambda i: rng.choice(["pass", "fail", "unchecked"])), False),
    ("address_id", n_of(lambda i: i + 1), False),
    ("mac_address", n_of(lambda i: f"00:1a:2b:3c:4d:{i:02x}"), False),
    ("FIRST", n_of(lambda i: rng.choice(FIRST) + str(rng.randint(100, 999))), True),  # a sample patients table
    ("DEATHDATE", n_of(lambda i: f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10}" if i % 4 == 0 else None), True),
    ("SuppliedName", n_of(lambda i: f"{rng.choice(FIRST)} {rng.choice(LAST)}"), True),
    ("first", n_of(lambda i: rng.choice(["yes", "no"])), False),
    ("last", n_of(lambda i: f"{i * 1.25:.2f}"), False),
    ("address_country", n_of(lambda i: rng.choice(["DE", "US", "FR"])), False),
    # --- look-alikes of the new detectors
    ("etag", n_of(lambda i: f'W/"{uuid.uuid4().hex}"'), False),
    ("checksum_md5", n_of(lambda i: uuid.uuid4().hex), False),
    ("commit_sha", n_of(lambda i: uuid.uuid4().hex + uuid.uuid4().hex[:8]), False),
    ("image_digest", n_of(lambda i: "sha256:" + uuid.uuid4().hex + uuid.uuid4().hex), False),
    # a digest of a session key or token is labelled like the token (as Devise's and GitLab's token digests)
    ("session_key_hash", n_of(lambda i: uuid.uuid4().hex), True),
    ("customer", n_of(lambda i: "cus_" + _b64(14)), False),  # Stripe object ids are not secrets
    ("payment_intent", n_of(lambda i: "pi_" + _b64(24)), False),
    ("sku", n_of(lambda i: f"AB-{_digits(4)}-XYZ"), False),
    ("order_ref", n_of(lambda i: f"ORD-2024-{_digits(6)}"), False),
    ("tracking_number", n_of(lambda i: "1Z" + _digits(3) + "AA1" + _digits(10)), False),
    ("isbn", n_of(lambda i: f"978-3-16-{_digits(6)}-{_digits(1)}"), False),
    ("ean", n_of(lambda i: _ean13("40")), False),
    ("reference_nr", n_of(lambda i: f"{_digits(2)}-{_digits(4)}-{_digits(3)}"), False),
    ("batch_label", n_of(lambda i: f"{_digits(4)} {_digits(4)}"), False),
    ("padded", n_of(lambda i: "00" + _digits(8)), False),
    ("signed_amount", n_of(lambda i: f"+{rng.randint(1000, 999999)}.{_digits(2)}"), False),
    ("event_time", n_of(lambda i: f"2024-03-{1 + i % 28:02d}T10:00:00+02:00"), False),
    ("epoch_ms", n_of(lambda i: 1_700_000_000_000 + i * 977), False),
    ("customer_number", n_of(lambda i: rng.randint(100_000_000, 999_999_999)), False),
    ("build", n_of(lambda i: f"10.{i % 20}.{i}"), False),
    ("duration", n_of(lambda i: f"0{i % 10}:{i % 60:02d}:{(i * 7) % 60:02d}"), False),
    ("date_fr", n_of(lambda i: f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024"), False),
    ("passport_country", n_of(lambda i: rng.choice(["DE", "ES", "FR"])), False),
    ("passport_expiry", n_of(lambda i: f"20{30 + i % 9}-0{1 + i % 9}-15"), False),
    ("card_brand", n_of(lambda i: rng.choice(["visa", "mastercard", "amex"])), False),
    ("card_last4", n_of(lambda i: _digits(4)), False),
    ("tax_exempt", n_of(lambda i: rng.choice(["none", "exempt", "reverse"])), False),
    ("token_type", n_of(lambda i: "Bearer"), False),
    ("api_key_id", n_of(lambda i: f"key_{_digits(6)}"), False),
    ("tokenization_method", n_of(lambda i: rng.choice(["apple_pay", "google_pay"])), False),
    ("phone_verified", n_of(lambda i: i % 2 == 0), False),
    ("product_family", n_of(lambda i: rng.choice(["ABCDE1234F", "XKCDA0042B"]) if i % 9 == 0 else "Widgets"), False),
    ("mrr", n_of(lambda i: f"{i * 12.5:.2f}"), False),
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
    assert detect_column("contact", _array([*emails, "ask Bob", "see notes"])) is not None  # 8/10
    assert detect_column("contact", _array([*emails[:7], "ask Bob", "see notes", "by post"])) is None  # 7/10
    # placeholders for a missing value count as nulls, not against the share
    assert detect_column("contact", _array([*emails[:7], "n/a", "N/A", "unknown", "-"])) is not None


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


# -- issue 15: identity documents, credentials, phones through libphonenumber, bank codes ------


@pytest.mark.parametrize(
    ("make", "detector"),
    [
        (_sin, "national_id"),  # CA SIN, Luhn
        (_cpf, "national_id"),  # BR CPF, two mod-11 digits
        (_aadhaar, "national_id"),  # IN Aadhaar, Verhoeff
        (_nhs, "national_id"),  # UK NHS number, mod 11
        (_nir, "national_id"),  # FR NIR, mod 97
        (_cnpj, "tax_id"),  # BR CNPJ
        (_steuer_id, "tax_id"),  # DE Steuer-ID, ISO 7064 MOD 11,10
        (_dni, "national_id"),  # ES DNI letter
    ],
)
def test_identity_numbers_on_values_need_their_check_digits(make, detector) -> None:
    good = [make() for _ in range(30)]
    finding = detect_column("doc", _array(good))
    assert finding is not None and finding.detector == detector and finding.label == SENSITIVE
    assert finding.reason == "values"
    bad = [_flip_last_digit(v) if any(c.isdigit() for c in v[-1:]) else v[:-1] + "A" for v in good]
    if make is _dni:
        bad = [v[:-1] + ("A" if v[-1] != "A" else "B") for v in good]
    assert detect_column("doc", _array(bad)) is None


def test_codice_fiscale_and_pan_shapes() -> None:
    cf = [_codice_fiscale() for _ in range(20)]
    assert detect_column("cliente", _array(cf)).detector == "tax_id"
    wrong = [v[:-1] + ("A" if v[-1] != "A" else "B") for v in cf]
    assert detect_column("cliente", _array(wrong)) is None
    assert detect_column("kyc", _array([_pan_in() for _ in range(20)])).detector == "tax_id"


@pytest.mark.parametrize(
    ("name", "detector"),
    [
        ("passport_number", "passport"),
        ("passportNo", "passport"),
        ("Passport #", "passport"),
        ("numero_de_pasaporte", "passport"),
        ("Reisepassnummer", "passport"),
        ("numero_passeport", "passport"),
        ("drivers_license_number", "drivers_license"),
        ("DriverLicense", "drivers_license"),
        ("driver's licence", "drivers_license"),
        ("permis_de_conduire", "drivers_license"),
        ("Führerschein", "drivers_license"),
        ("social_insurance_number", "national_id"),
        ("national_identity_number", "national_id"),
        ("id_card_no", "national_id"),
        ("NationalInsuranceNumber", "national_id"),
        ("medical_record_number", "national_id"),
        ("tax_id", "tax_id"),
        ("TaxIdentificationNumber", "tax_id"),
        ("steuer_id", "tax_id"),
        ("codice_fiscale", "tax_id"),
        ("ein", "tax_id"),
        ("cvv", "payment_card"),
    ],
)
def test_identity_documents_by_name(name: str, detector: str) -> None:
    finding = detect_column(name, None)
    assert finding is not None and finding.detector == detector and finding.label == SENSITIVE


@pytest.mark.parametrize(
    "name",
    [
        "passport_country",
        "passport_expiry_date",
        "passport_issued_by",
        "drivers_license_state",
        "card_brand",
        "credit_card_type",
        "tax_exempt",
        "tax_id_type",
        "iban_country",
        "token_type",
        "api_key_id",
        "password_reset_url",
        "secret_name",
        "tokenization_method",
    ],
)
def test_attributes_of_documents_and_credentials_are_not_labelled_by_name(name: str) -> None:
    assert detect_column(name, None) is None


def test_document_names_contradicted_by_their_values() -> None:
    assert detect_column("passport", _array(["yes", "no", "yes", "n/a"])) is None
    assert detect_column("cvv", _array(["match", "fail", "unchecked", "match"])) is None
    assert detect_column("swift", _array(["fast", "slow", "fast"])) is None
    assert detect_column("sort_code", _array(["fast", "slow", "fast"])) is None


@pytest.mark.parametrize(
    "value",
    [
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "rk_test_" + "51H7bKnLkdIwHu7ixZ3p9TgQ",
        "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "AKIA" + "IOSFODNN7EXAMPLE",
        "ghp_" + "aBcD1234eFgH5678iJkL9012mNoP3456qRsT",
        "github_pat_" + "11ABCDEFG0123456789abc_" + "x" * 40,
        "glpat-" + "xxxxxxxxxxxxxxxxxxxx",
        "xoxp-" + "1234567890-abcdefghijk",
        "AIza" + "SyA-abcdefghijklmnopqrstuvwxyz12345",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
        "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "pbkdf2_sha256$600000$salt$hash",
        "postgres://app:s3cr3t@db.internal:5432/app",
    ],
)
def test_credentials_recognised_by_value_under_an_opaque_name(value: str) -> None:
    finding = detect_column("c7", _array([value] * 5))
    assert finding is not None and finding.label == CREDENTIAL and finding.reason == "values"


def test_hashes_and_object_ids_that_are_not_secrets() -> None:
    hexes = [uuid.uuid4().hex for _ in range(20)]
    for name in ("etag", "checksum", "sha1", "md5", "content_hash", "fingerprint"):
        assert detect_column(name, _array(hexes)) is None, name
    assert detect_column("object", _array([f"cus_{_b64(14)}" for _ in range(20)])) is None
    assert detect_column("password_hash", _array(hexes)).label == CREDENTIAL  # the name says it


@pytest.mark.parametrize(
    "values",
    [
        [_intl_phone(i) for i in range(40)],
        [f"+1 (415) 555-{2000 + i}" for i in range(20)],
        [f"0044 20 7946 0{i:03d}" for i in range(20)],
        [f"+49-89-1234{i:03d}" for i in range(20)],
        [f"+44 20 7946 0{i:03d} ext. 12" for i in range(20)],
        [f"+1415{rng.randint(200, 999)}{_digits(4)}" for _ in range(20)],  # E.164, valid numbers
    ],
)
def test_international_phone_numbers_under_an_opaque_name(values: list[str]) -> None:
    finding = detect_column("col_17", _array(values))
    assert finding is not None and finding.detector == "phone" and finding.reason == "values"


def test_national_phone_numbers_need_a_phone_name_or_a_recognisable_region() -> None:
    national = [f"07700 900{i:03d}" for i in range(20)]  # GB mobile, trunk 0
    assert detect_column("col_17", _array(national)).detector == "phone"
    spanish = [f"6{rng.randint(10, 99)} {_digits(3)} {_digits(3)}" for _ in range(20)]
    # valid Spanish numbers written as Spain writes them: a phone column on values alone
    assert detect_column("col_17", _array(spanish)).detector == "phone"
    assert detect_column("movil", _array(spanish)).detector == "phone"
    bare = [v.replace(" ", "") for v in spanish]
    assert detect_column("col_17", _array(bare)) is None  # bare digits: not on values alone
    # digits a German would write after a trunk 0 (`30 1234567`) are not German national format
    assert detect_column("col_17", _array([f"{_digits(2)} {_digits(7)}" for _ in range(20)])) is None
    brazil = [f"(11) 9{rng.randint(6000, 9999)}-{_digits(4)}" for _ in range(20)]
    assert detect_column("col_17", _array(brazil)).detector == "phone"
    us_ext = [f"(415) 555-{2000 + i} x{_digits(3)}" for i in range(20)]
    assert detect_column("col_17", _array(us_ext)).detector == "phone"
    impossible = _array([f"+34 6{_digits(9)}" for _ in range(20)])  # one digit too many for Spain
    assert detect_column("phone", impossible).reason == "name"  # phone-shaped: the name stands, unconfirmed
    assert detect_column("col_17", impossible) is None


@pytest.mark.parametrize(
    "values",
    [
        [f"2024-03-{1 + i % 28:02d}" for i in range(20)],  # dates
        [f"{1 + i % 28:02d}.{1 + i % 12:02d}.2024" for i in range(20)],
        [f"1.{i}.{i % 7}" for i in range(20)],  # versions
        [f"+{1000 + i * 37}.{i:02d}" for i in range(20)],  # signed amounts
        ["00" + _digits(8) for _ in range(20)],  # zero-padded ids
        [f"{_digits(2)}-{_digits(4)}-{_digits(3)}" for _ in range(20)],  # reference numbers
        [f"{_digits(4)} {_digits(4)}" for _ in range(20)],
        [f"978-3-16-{_digits(6)}-{_digits(1)}" for _ in range(20)],  # ISBN
        [f"2024-03-01T10:{i:02d}:00+02:00" for i in range(20)],  # timestamps with offsets
        [_digits(10) for _ in range(20)],  # bare numeric ids
        [f"+{rng.randint(10**10, 10**11 - 1)}" for _ in range(40)],  # signed 11-digit numbers
    ],
)
def test_phone_look_alikes_under_an_opaque_name(values: list[str]) -> None:
    assert detect_column("col_17", _array(values)) is None


def test_iban_of_several_countries_and_bic_by_name() -> None:
    for country, length in (("DE", 22), ("AT", 20), ("CH", 21), ("BE", 16)):
        ibans = [_iban(country, length) for _ in range(10)]
        if country == "BE":  # BE has its own check digits inside the BBAN: only some pass
            continue
        assert detect_column("acct", _array(ibans)).detector == "iban", country
    wrong_length = [_iban("DE", 21) for _ in range(10)]  # mod-97 right, length wrong for DE
    assert detect_column("acct", _array(wrong_length)) is None
    bics = _array(["DEUTDEFF", "BNPAFRPPXXX", "CHASUS33"] * 3)
    assert detect_column("bic", bics) is None  # a BIC names a bank, not an account
    assert detect_column("code8", bics) is None


def test_detection_stays_cheap_on_a_wide_sample() -> None:
    import time

    table = pa.table({f"{name}_{k}": _array((values * 17)[:1000]) for k, (name, values, _) in enumerate(COLUMNS[:30])})
    start = time.process_time()
    detect(table)
    assert time.process_time() - start < 2.0  # about 0.1 s on the 2-core machine; generous for load


# -- issue 15 (second round): nested names, mixed documents, health ids, tokens, webhooks --------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("name_family", PII),  # FHIR HumanName flattened
        ("name_given", PII),
        ("billing_details.name", PII),  # Stripe, nested
        ("telecom_value", PII),  # FHIR ContactPoint
        ("LoginID", PII),
        ("ssnid", SENSITIVE),  # Odoo hr.employee
        ("sinid", SENSITIVE),
        ("identification_id", SENSITIVE),
        ("permit_no", SENSITIVE),
        ("work_permit_number", SENSITIVE),
        ("visa_no", SENSITIVE),
        ("mbi", SENSITIVE),
        ("insurance_member_id", SENSITIVE),
        ("bank_ac_no", SENSITIVE),  # ERPNext Employee
        ("acc_number", SENSITIVE),  # Odoo res.partner.bank
        ("session_key", CREDENTIAL),  # Django django_session
        ("session_token", CREDENTIAL),
        ("reset_password_token", CREDENTIAL),  # Devise
        ("confirmation_token", CREDENTIAL),
    ],
)
def test_more_names_by_name(name: str, label: str) -> None:
    finding = detect_column(name, None)
    assert finding is not None and finding.label == label, name


@pytest.mark.parametrize(
    "name",
    [
        "reset_password_sent_at",
        "password_salt",
        "PasswordSalt",
        "credit_card_id",
        "CreditCardID",
        "bank_account_id",
        "address_city",
        "place_of_birth",
        "birth_place",
        "bank_bic",
        "swift_code",
        "race",
        "permit_required",
        "subscriber_id",  # a key unless the values say otherwise
        "emergency_contact",  # a name or a phone: the values decide
    ],
)
def test_more_names_not_labelled_by_name(name: str) -> None:
    assert detect_column(name, None) is None, name


def test_special_categories_are_opt_in() -> None:
    races = _array(["white", "black", "asian", "other"] * 5)
    assert detect_column("race", races) is None
    assert detect_column("race", races, special_categories=True).detector == "special_category"
    table = pa.table({"race": races, "email": _array([f"u{i}@example.com" for i in range(20)])})
    assert set(detect(table)) == {"email"}
    assert set(detect(table, special_categories=True)) == {"race", "email"}


def test_card_and_account_keys_are_not_numbers() -> None:
    keys = _array(list(range(1, 40)))
    assert detect_column("CreditCardID", keys) is None
    assert detect_column("credit_card_number", _array([_luhn_complete("4", 16) for _ in range(20)])) is not None


def test_account_number_is_a_bank_account_next_to_bank_columns_or_with_account_digits() -> None:
    accounts = [_digits(rng.randint(9, 14)) for _ in range(20)]
    banked = pa.table({"account_number": _array(accounts), "bank_name": _array(["Chase"] * 20)})
    assert detect(banked)["account_number"].detector == "iban"
    # alone, the values decide (set 4: Gusto, Plaid, KeyPay): digits are an account's, a code is a customer's
    alone = pa.table({"account_number": _array(accounts), "name": _array(["Acme"] * 20)})
    assert detect(alone)["account_number"].detector == "iban"
    codes = pa.table({"account_number": _array([f"CUST-{_digits(6)}" for _ in range(20)])})
    assert "account_number" not in detect(codes)


def _bare(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


@pytest.mark.parametrize(
    ("make", "as_int"),
    [
        (lambda: _bare(_sin()), False),  # CA SIN without spaces
        (lambda: _bare(_nhs()), False),  # NHS number without spaces
        (lambda: _bare(_cpf()), False),  # BR CPF without punctuation
        (lambda: _bare(_aadhaar()), False),
        (lambda: int(_bare(_steuer_id())), True),  # DE Steuer-ID stored as an integer
    ],
)
def test_bare_checksummed_identity_numbers_on_values(make, as_int: bool) -> None:
    good = [make() for _ in range(30)]
    finding = detect_column("x1", pa.array(good, pa.int64()) if as_int else _array(good))
    assert finding is not None and finding.label == SENSITIVE and finding.reason == "values"
    bad = [int(_flip_last_digit(str(v))) if as_int else _flip_last_digit(v) for v in good]
    assert detect_column("x1", pa.array(bad, pa.int64()) if as_int else _array(bad)) is None


def test_mixed_countries_identity_numbers_under_an_opaque_name() -> None:
    mixed = [f() for _ in range(8) for f in (_cpf, _sin, _nhs, _pan_in)]
    finding = detect_column("value", _array(mixed))
    assert finding is not None and finding.label == SENSITIVE


def test_medicare_beneficiary_identifiers_on_values() -> None:
    letters = "ACDEFGHJKMNPQRTUVWXY"

    def mbi() -> str:
        pick = rng.choice
        return (
            f"{rng.randint(1, 9)}{pick(letters)}{pick(letters + '0123456789')}{rng.randint(0, 9)}"
            f"{pick(letters)}{pick(letters + '0123456789')}{rng.randint(0, 9)}{pick(letters)}{pick(letters)}"
            f"{_digits(2)}"
        )

    assert detect_column("tmp_3", _array([mbi() for _ in range(20)])).detector == "national_id"
    # letters where an MBI has none (S, L, O, I, B, Z) do not pass
    assert detect_column("tmp_3", _array([f"1S{_digits(1)}9ZZ9ZZ{_digits(2)}" for _ in range(20)])) is None


def test_member_ids_by_their_shape() -> None:
    member = _array([f"W{_digits(9)}" for _ in range(20)])
    assert detect_column("subscriberId", member).label == SENSITIVE
    assert detect_column("subscriber_id", _array([str(uuid.uuid4()) for _ in range(20)])) is None
    assert detect_column("member_id", pa.array(list(range(20)), pa.int64())) is None


def test_person_names_with_titles_particles_and_cjk() -> None:
    names = [
        "Mr Steven Ali",
        "Dra. Sarah Sousa",
        "María José Lladó Salvà",
        "Olivia Chandler DDS",
        "Victorino de Solana",
        "佐藤 直樹",
        "Joseph Arnaud-Grégoire",
        "John Smith",
    ] * 3
    assert detect_column("name", _array(names)).detector == "person_name"
    assert detect_column("emergency_contact", _array(names)).detector == "person_name"
    assert detect_column("name", _array(["Blue Widget", "Acme Corp 2000", "Red Shoe XL"] * 5)) is None


def test_webhook_urls_with_their_secret() -> None:
    slack = [f"https://hooks.slack.com/services/T{_b64(10)}/B{_b64(10)}/{_b64(24)}" for _ in range(10)]
    discord = [f"https://discord.com/api/webhooks/{_digits(18)}/{_b64(68)}" for _ in range(10)]
    for values in (slack, discord):
        finding = detect_column("incoming_webhook_url", _array(values))
        assert finding is not None and finding.label == CREDENTIAL
    assert detect_column("webhook_url", _array(["https://example.com/hooks/stripe"] * 10)) is None


def test_session_and_reset_tokens_by_name() -> None:
    assert detect_column("session_key", _array([_b64(32).lower() for _ in range(10)])).label == CREDENTIAL
    digests = _array([uuid.uuid4().hex + uuid.uuid4().hex for _ in range(10)])
    assert detect_column("reset_password_token", digests).label == CREDENTIAL
    stamps = pa.array([dt.datetime(2024, 1, 1)] * 10)
    assert detect_column("reset_password_sent_at", stamps) is None


def test_multi_line_addresses_and_integer_e164_phones_on_values() -> None:
    addresses = [
        f"{rng.randint(1, 999)} {rng.choice(LAST)} Mountain Suite {i}\nLake James, CA {_digits(5)}" for i in range(10)
    ] + [f"Flat {i}\nMarc Street\nEast Steven\nG3 7RN" for i in range(10)]
    assert detect_column("value12", _array(addresses)).detector == "postal_address"
    notes = [f"Call back on Monday\nTicket {_digits(4)} pending" for _ in range(20)]
    assert detect_column("value12", _array(notes)) is None
    e164 = pa.array([int(f"1415{rng.randint(200, 999)}{_digits(4)}") for _ in range(20)], pa.int64())
    assert detect_column("value8", e164).detector == "phone"
    ids = pa.array([rng.randint(10**10, 10**12) for _ in range(40)], pa.int64())
    assert detect_column("value8", ids) is None
    assert detect_column("order_id", e164) is None  # an id-like name vetoes digit-shaped phones
    keys = pa.array(list(range(14155550000, 14155550040)), pa.int64())  # valid numbers, but a run of keys
    assert detect_column("value8", keys) is None


def test_organisations_in_a_name_column_are_not_person_names() -> None:
    companies = ["Edge Communications", "Pyramid Construction Inc.", "Grand Hotels Group", "Burlington Textiles"]
    people = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(16)]
    assert detect_column("Name", _array(companies * 5)) is None
    assert detect_column("Name", _array(people + companies[:1] * 4)) is None  # a fifth of organisations
    assert detect_column("Name", _array(people)).detector == "person_name"


def test_bank_codes_are_opt_in() -> None:
    routing = _array(["111000025", "021000021", "026009593"] * 4)
    assert detect_column("routing_number", routing) is None
    assert detect_column("routing_number", routing, bank_codes=True).detector == "bank_code"
    assert detect_column("sort_code", None, bank_codes=True).detector == "bank_code"
    table = pa.table({"routing_number": routing, "iban": _array([_iban("DE", 22) for _ in range(12)])})
    assert set(detect(table)) == {"iban"}
    assert set(detect(table, bank_codes=True)) == {"iban", "routing_number"}


def test_health_insurance_numbers_and_their_providers() -> None:
    assert detect_column("health_insurance_no", None).label == SENSITIVE
    assert detect_column("insurance_id", None).label == SENSITIVE
    assert detect_column("insurance_policy_number", None).label == SENSITIVE
    assert detect_column("health_insurance_provider", None) is None
    assert detect_column("health_insurance_company", None) is None


def test_integer_keys_under_a_document_name_are_keys() -> None:
    keys = pa.array(list(range(1000, 1040)), pa.int64())
    for name in ("passport_id", "tax_id", "national_id", "ssn_id"):
        assert detect_column(name, keys) is None, name
    ssns = pa.array([int(_digits(9)) for _ in range(20)], pa.int64())
    assert detect_column("ssn", ssns).label == SENSITIVE


@pytest.mark.parametrize(
    ("name", "detector"),
    [("policyholder_name", "person_name"), ("mother_name", "person_name"), ("otp_backup_codes", "credential")],
)
def test_more_roles_and_credentials_by_name(name: str, detector: str) -> None:
    assert detect_column(name, None).detector == detector


def test_attributes_of_a_telecom_or_a_company_tax_id() -> None:
    assert detect_column("telecom_system", None) is None  # FHIR: phone | email | fax
    assert detect_column("contact_telecom_value", None).detector == "phone"
    assert detect_column("company_tax_id", None).detector == "tax_id"


# valid personal identity numbers of countries checked through python-stdnum's modules generically
_PERSONAL_IDS = {
    "se": ["930225-3720", "390311-8713", "8712182974", "6912068316"],
    "pl": ["88030628106", "81040825147", "76092426200", "50012213417"],
    "be": ["63.05.31-914.96", "84.07.09-079.09", "83052273097", "70032052377"],
    "dk": ["121274-7162", "160748-2923", "300179-9693", "250200-9665"],
    "fi": ["030364-622X", "150504A204A", "220863-757A", "250488-474B"],
    "no": ["13044844405", "16028148007", "16108511234", "02025425823"],
    "mx": ["RUAL860428MSLLPY25", "RIYX550825MVZCMS35", "QAUU610411MASMLX99", "JEFX881124HPLLGV64"],
    "cl": ["17177702-K", "8.188.877-9", "14125931-8", "20.780.969-1"],
    "za": ["8701160871187", "9707247170088", "7207293232082", "6308039783189"],
    "ch": ["756.5047.2123.19", "756.4630.1539.16", "756.0656.9925.15", "756.3821.2977.12"],
}


@pytest.mark.parametrize("country", sorted(_PERSONAL_IDS))
def test_personal_identity_numbers_of_stdnum_countries_on_values(country: str) -> None:
    values = _PERSONAL_IDS[country] * 2  # people's numbers are mostly distinct: each value at most twice
    finding = detect_column("c7", pa.array(values))
    assert finding is not None and finding.detector == "national_id" and finding.label == SENSITIVE
    # one digit changed breaks the check (DK CPR has none: its birth date is broken instead)
    if country == "dk":
        broken = ["32" + v[2:] for v in values]
    else:
        broken = [v[:-1] + ("1" if v[-1] != "1" else "2") for v in values]
    assert detect_column("c7", pa.array(broken)) is None


def test_personal_ids_stored_as_integers_lose_their_leading_zero() -> None:
    pesel = [88030628106, 5262348952, 81040825147, 76092426200, 50012213417] * 2
    assert detect_column("r_o", pa.array(pesel, pa.int64())).detector == "national_id"
    # a run of integer keys of the same length is no identity number
    assert detect_column("r_o", pa.array(range(88030628100, 88030628140), pa.int64())) is None


def test_isbn_10_are_not_nhs_numbers() -> None:
    isbn = ["0306406152", "080442957X", "0140449132", "0262033844", "0131103628", "059035342X"] * 6
    assert detect_column("r_p", pa.array(isbn)) is None
    assert detect_column("isbn", pa.array(isbn)) is None


def test_a_year_or_month_of_birth_alone_is_not_a_date_of_birth() -> None:
    years = pa.array([1940 + i % 60 for i in range(40)], pa.int64())
    months = pa.array([1 + i % 12 for i in range(40)], pa.int64())
    for name in ("year_of_birth", "birth_year", "date_of_birth_year", "dob"):
        assert detect_column(name, years) is None, name
    for name in ("month_of_birth", "date_of_birth_month", "birth_month"):
        assert detect_column(name, months) is None, name
    assert detect_column("birth_year", pa.array([str(1940 + i % 60) for i in range(40)])) is None
    # a whole date still is, in any notation
    assert detect_column("dob", pa.array([19850312 + i for i in range(20)], pa.int64())).detector == "date_of_birth"
    assert detect_column("BIRTHDT", pa.array(["19850312", "19720101", "20010704"] * 5)).detector == "date_of_birth"
    assert detect_column("birthday", pa.array(["03/12", "11/30", "07/04"] * 5)).detector == "date_of_birth"
    assert detect_column("deceased_date", pa.array(["2021-03-12"] * 5)).detector == "date_of_birth"


@pytest.mark.parametrize(
    "value",
    [
        "pat-na1-e2b3e045-2a5b-46e0-9ac8-a6352b137220",  # HubSpot
        "dop_v1_" + "a1" * 32,  # DigitalOcean
        "doo_v1_" + "b2" * 32,
        "hvs.A-twxUUaRzrjIa1SwE0ZoFqD",  # Vault
        "ovhOMmGpghqTooyBcDJCeRn+pnwCtEeKDSJe9+jTyyK6eOOpxDvrkQ2LVa/XAE1LH5RaU+rOlaKx796vPOqhqA==",  # Azure storage
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nvOGdZLjEjemC9akAty",
        "-----BEGIN DSA PRIVATE KEY-----\nzytv+0UJji1H7ERGmtZj2",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n98bOdEGQjThXRIxO0",
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB",
        "ATATT3xFfGF0" + "x" * 40,  # Atlassian
        "lin_api_" + "k" * 40,  # Linear
        "sk-ant-api03-" + "Ab1_" * 10,  # Anthropic
        "sk-proj-" + "Zz9-" * 10,  # OpenAI
    ],
)
def test_more_provider_secrets_under_an_opaque_name(value: str) -> None:
    finding = detect_column("z9", pa.array([value] * 12))
    assert finding is not None and finding.label == CREDENTIAL


def test_look_alikes_of_provider_secrets() -> None:
    # a Twilio account SID is an identifier; a PUBLIC key armor is no secret; `pat-` words are text
    for values in (
        ["AC" + "0123456789abcdef" * 2] * 12,
        ["-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh"] * 12,
        ["pat-on-the-back", "pat-a-cake", "pat-down"] * 4,
    ):
        assert detect_column("z9", pa.array(values)) is None


@pytest.mark.parametrize(
    "name",
    [
        "fname",
        "LNAME",
        "mname",
        "merge_fields_FNAME",
        "firstnamephonetic",
        "mothersname",
        "forenames",
        "additionalName",
        "nazwisko",
        "Vorname",
        "efternamn",
    ],
)
def test_short_and_compound_person_name_columns(name: str) -> None:
    finding = detect_column(name, pa.array(["Anna", "Bo", None, "Carl"] * 5))
    assert finding is not None and finding.detector == "person_name", name


def test_someones_name_columns_by_their_values() -> None:
    people = [
        "Prof. Pete Østergaard",
        "Lic. Leticia Partida",
        "Javier Byron Medina Campos",
        "Roksana Głowiak",
        "Dr. Harri Mäkinen-Kivelä",
        "Sig.ra Sole Pinamonte",
        "Univ.Prof. Patricia Mikkelsen",
        "AGNES FRIIS",
        "ELLIS, Gina",
        "Иван Петров",
        "Γιώργος Παπαδόπουλος",
        "吴俊",
        "백지원",
        "محمد علي",
    ]
    for name in ("name", "caller_name", "provider_name", "holder", "display_name", "officer"):
        finding = detect_column(name, pa.array(people * 3))
        assert finding is not None and finding.detector == "person_name", name
    # the name of a thing, or values that are companies, products or codes, are not a person's name
    for name in ("product_name", "city_name", "company_name", "table_name", "bank_name"):
        assert detect_column(name, pa.array(people * 3)) is None, name
    for values in (
        ["Acme Holdings Inc", "Globex Corporation", "Initech Ltd", "Umbrella Group"],
        ["Widget X100", "Gadget 2000", "SKU-3321", "Model 3"],
    ):
        assert detect_column("caller_name", pa.array(values * 5)) is None


def test_ssns_written_with_and_without_dashes_on_values() -> None:
    values = ["888-84-7637", "113-15-3396", "370056639", "094-95-2853", "044092846", "662-80-2881"] * 5
    assert detect_column("ss", pa.array(values)).detector == "national_id"
    # bare nine-digit numbers alone stay unknown (any nine-digit id has that shape)
    assert detect_column("ss", pa.array(["370056639", "044092846", "832690650", "217717205"] * 5)) is None


def test_id_number_compounds_need_checked_values() -> None:
    mixed = ["756.3768.6274.05", "88030628106", "930225-3720", "63.05.31-914.96", "A7331552", "756.2845.7252.63"]
    assert detect_column("IDNUMBER", pa.array(mixed * 5)).detector == "national_id"
    codes = ["STU-2024-0042", "EMP88213", "C1022-B", "K-771-X", "ENR 5521"]
    assert detect_column("idnumber", pa.array(codes * 5)) is None


def test_more_look_alikes_by_name() -> None:
    digits = pa.array(["4155552671", "2125550199", "3105550123"] * 5)
    found = detect_column("phone_phone_number_national_number", digits)
    assert found is None or found.detector == "phone"
    assert detect_column("unique_email_id", pa.array(["a1b2c3d4e5", "0f9e8d7c6b", "deadbeef01"] * 5)) is None
    streets = pa.array(["12 Main Street", "4 Elm Road", "99 High Street"] * 5)
    for name in ("company_address", "office_address", "warehouse_address", "store_address", "site_address"):
        assert detect_column(name, streets) is None, name
    # a profile's `location` (Klaviyo, Mailchimp, Segment) is the person's: its street is personal
    assert detect_column("attributes_location_address1", streets).detector == "postal_address"
    assert detect_column("address_addressLocality", pa.array(["Oslo", "Lyon", "Graz"] * 5)) is None


def test_one_line_postal_addresses_on_values() -> None:
    addresses = [
        "Skolgatan 1, 77052 Piteå",
        "Zbynická 916, 258 76 Loket",
        "al. Rzemieślnicza 30/52, 04-325 Gdańsk",
        "Marinusstraat 6, 1020 DD Ter Apel",
        "5354 Çorlu Ranch, 86819 Şafakshire",
        "742 Evergreen Terrace, Springfield, IL 62704",
    ]
    assert detect_column("k08", pa.array(addresses * 5)).detector == "postal_address"
    # a list of items with numbers and years, or of places alone, is no address
    for values in (
        ["Invoice 123, paid 2024", "Item 5, qty 3", "Batch 7, lot 88"],
        ["Piteå", "77052 Piteå", "Gdańsk, Poland"],
    ):
        assert detect_column("k08", pa.array(values * 5)) is None


def test_product_codes_and_dated_order_numbers_are_not_identity_numbers() -> None:
    from stdnum import ean

    # Swiss EAN-13 barcodes (756...) pass the AHV check digit: by name never, bare on values not either
    swiss = [f"756{n:09d}" for n in range(123456789, 123456789 + 4000, 97)][:30]
    swiss = [v + ean.calc_check_digit(v) for v in swiss]
    for name in ("ean", "barcode", "gtin", "c3"):
        assert detect_column(name, pa.array(swiss)) is None, name
    # yymmdd + sequence order numbers (dates of a Czech birth number of 9 digits)
    orders = [f"2403{d:02d}{n:03d}" for d in range(1, 29) for n in (101, 202)]
    assert detect_column("c3", pa.array(orders)) is None


def test_medical_record_numbers_some_written_with_their_type() -> None:
    values = ["MRN9835021", "77159112", "E6726232", "2349956244", "MRN37216593", "250-36-0513", "93846206"] * 5
    assert detect_column("pubpid", pa.array(values)).detector == "national_id"
    # the same shapes without any value saying MRN are plain ids
    plain = ["77159112", "E6726232", "2349956244", "93846206", "A1234567"] * 5
    assert detect_column("pubpid", pa.array(plain)) is None


def test_service_account_addresses_are_not_a_persons() -> None:
    robots = ["deploy@proj-1.iam.gserviceaccount.com", "123456-compute@developer.gserviceaccount.com"] * 10
    assert detect_column("client_email", pa.array(robots)) is None
    assert detect_column("client_email", pa.array(["ann@example.com", "bo@example.org"] * 10)).detector == "email"


def test_person_names_on_values_alone_and_their_look_alikes() -> None:
    people = [
        "Zoe Spencer",
        "Laura Petty",
        "Zbyněk Šmíd",
        "Sra. Isabel Ayala",
        "吴俊",
        "백지원",
        "Иван Петров",
        "Bo Li",
    ]
    people += [f"{first} {last}" for first in ("Anna", "Jonas", "Mira", "Tomás") for last in ("Berg", "Okafor", "Lind")]
    finding = detect_column("KOINH", pa.array(people))  # names are diverse: each once
    assert finding is not None and finding.detector == "person_name" and finding.reason == "values"
    look_alikes = [
        ["DISCOVER NOT", "REALIZE MUST", "PERSONAL STATION", "GOLDEN HOUR"],  # upper-cased titles
        ["Sales Manager", "Account Executive", "Sales Manager", "Account Executive"],  # repeated job titles
        ["Via Ariosto", "Piazza Trombetta", "Camino Real", "Maple Avenue"],  # street names
        ["New Haven", "San Diego", "North Bay", "Lake Placid"],  # places
        ["Acme Holdings", "Globex Corporation", "Initech Ltd", "Umbrella Group"],  # companies
    ]
    for values in look_alikes:
        assert detect_column("c5", pa.array(values)) is None, values
    # the name of a thing keeps name-shaped values out
    assert detect_column("film_title", pa.array(people * 2)) is None
    assert detect_column("product_name", pa.array(people * 2)) is None


def test_json_parameters_under_a_credential_name_hold_no_secret() -> None:
    params = ['{"hashIterations":27500,"algorithm":"pbkdf2-sha512","additionalParameters":{}}'] * 10
    assert detect_column("credential_data", pa.array(params)) is None
    secrets = ['{"value":"TFmdI/iH4CH9/LMWdHICVCRexUMiy5Z53hU5087NhCQ=","salt":"x9Fq2LmPz81KdA7cWq0BnQ=="}'] * 10
    assert detect_column("secret_data", pa.array(secrets)).label == CREDENTIAL


# -- issue 15 (fourth round): credentials without a known prefix, more providers' prefixes ------

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _urlsafe(n: int) -> str:
    return "".join(rng.choice(_URLSAFE) for _ in range(n))


def _hex(n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


@pytest.mark.parametrize(
    "make",
    [
        lambda: f"{rng.randint(10**8, 10**10 - 1)}:AA{_urlsafe(33)}",  # Telegram bot token
        lambda: f"{_hex(32)}-us{rng.randint(1, 21)}",  # Mailchimp API key
        lambda: f"{_b64(14).lower()}.atlasv1.{_b64(67).lower()}",  # Terraform Cloud token
        lambda: "GOCSPX-" + _urlsafe(28),  # Google OAuth client secret
        lambda: "NRAK-" + _b64(27).upper(),  # New Relic user key
        lambda: f"glsa_{_b64(32)}_{_hex(8)}",  # Grafana service account token
        lambda: f"access_token$sandbox${_b64(16).lower()}${_hex(32)}",  # Braintree
        lambda: f"pat{_b64(14)}.{_hex(64)}",  # Airtable personal access token
        lambda: "LTAI" + _b64(20),  # Alibaba Cloud access key id
        lambda: "EAAA" + _urlsafe(60),  # Square access token (with - and _)
    ],
)
def test_more_provider_prefixes_under_an_opaque_name(make) -> None:
    finding = detect_column("x9", _array([make() for _ in range(20)]))
    assert finding is not None and finding.label == CREDENTIAL and finding.reason == "values"


def test_random_tokens_without_a_prefix_are_credentials() -> None:
    tokens = [_urlsafe(43) for _ in range(40)]  # `secrets.token_urlsafe(32)`
    finding = detect_column("v3", _array(tokens))
    assert finding is not None and finding.label == CREDENTIAL and finding.reason == "values"
    assert detect_column("v3", _array([_b64(40) for _ in range(40)])).label == CREDENTIAL  # base62, 40 chars
    look_alikes = [
        [_b64(26).upper() for _ in range(40)],  # ULID-like ids: one case
        [_hex(40) for _ in range(40)],  # commit ids and digests: hex
        [_b64(43) + "=" for _ in range(40)],  # base64 SHA-256 digests (`+/=` alphabet)
        [tokens[0]] * 40,  # one value repeated: a constant, not per-row secrets
        [_b64(22) for _ in range(40)],  # short ids (Salesforce, nanoid): under 32 characters
        ["-".join(_b64(8).lower() for _ in range(5)) for _ in range(40)],  # slugs
    ]
    for values in look_alikes:
        assert detect_column("v3", _array(values)) is None, values[0]
    # an id's or a hash's name keeps random strings out
    for name in ("drive_file_id", "content_sha256", "page_cursor", "row_uuid"):
        assert detect_column(name, _array(tokens)) is None, name


def test_key_and_digest_names_need_random_values() -> None:
    assert detect_column("key", _array([_hex(40) for _ in range(30)])).label == CREDENTIAL  # a DRF token
    assert detect_column("secure_key", _array([_hex(32) for _ in range(30)])).label == CREDENTIAL
    assert detect_column("licenseKey", _array([_b64(25) for _ in range(30)])).label == CREDENTIAL
    assert detect_column("token_hash", _array([_hex(64) for _ in range(30)])).label == CREDENTIAL
    assert detect_column("key", _array([str(uuid.uuid4()) for _ in range(30)])) is None  # row keys
    assert detect_column("key", _array([uuid.uuid4().hex for _ in range(30)])) is None  # undashed UUIDs
    assert detect_column("meta_key", _array(["billing_email", "first_name", "nickname"] * 10)) is None
    assert detect_column("cache_key", _array([_hex(40) for _ in range(30)])) is None
    assert detect_column("idempotency_key", _array([_urlsafe(32) for _ in range(30)])) is None
    assert detect_column("partition_key", _array([_hex(32) for _ in range(30)])) is None
    assert detect_column("key", _array([f"ORD-{_digits(8)}" for _ in range(30)])) is None  # no entropy


def test_version_counters_under_a_token_name_are_no_secret() -> None:
    assert detect_column("SyncToken", _array([str(rng.randint(0, 40)) for _ in range(30)])) is None
    assert detect_column("passcode", _array([_digits(6) for _ in range(30)])).label == CREDENTIAL


# -- identity numbers of PT, IE, AR, CO, PE, AU, NZ, HU: check digits computed here ----------------


def _mod11_weighted(body: str, weights: list[int]) -> int:
    return sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11


def _pt_nif() -> str:
    body = str(rng.choice([1, 2, 3])) + _digits(7)
    check = 11 - _mod11_weighted(body, [9, 8, 7, 6, 5, 4, 3, 2])
    return body + str(0 if check >= 10 else check)


def _ar_cuil() -> str:
    while True:
        body = rng.choice(["20", "23", "27"]) + _digits(8)
        check = 11 - _mod11_weighted(body, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
        if check == 11:
            check = 0
        if check != 10:
            n = body + str(check)
            return rng.choice([n, f"{n[:2]}-{n[2:10]}-{n[10]}"])


def _co_nit() -> str:
    body = str(rng.randint(10_000_000, 1_199_999_999))
    weights = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71][: len(body)]
    s = sum(int(d) * w for d, w in zip(reversed(body), weights, strict=True)) % 11
    check = s if s < 2 else 11 - s
    return f"{int(body):,}".replace(",", ".") + f"-{check}"


def _au_tfn() -> str:
    while True:
        body = _digits(9)
        if sum(int(d) * w for d, w in zip(body, [1, 4, 3, 7, 5, 8, 6, 9, 10], strict=True)) % 11 == 0:
            return rng.choice([body, f"{body[:3]} {body[3:6]} {body[6:]}"])


def _hu_tax() -> str:
    body = "8" + _digits(8)
    while (check := sum(int(d) * w for w, d in enumerate(body, start=1)) % 11) == 10:
        body = "8" + _digits(8)
    return body + str(check)


def _ie_pps() -> str:
    body = _digits(7)
    total = sum(int(d) * w for d, w in zip(body, range(8, 1, -1), strict=True))
    suffix = rng.choice(["", "W", "A"])
    total += 9 * (" ABCDEFGHIJKLMNOPQRSTUVW".index(suffix) if suffix else 0)
    return body + "WABCDEFGHIJKLMNOPQRSTUV"[total % 23] + suffix


def _pe_dni() -> str:
    body = _digits(8)
    s = sum(int(d) * w for d, w in zip(body, [3, 2, 7, 6, 5, 4, 3, 2], strict=True))
    return body + rng.choice(["-", ""]) + "65432110987"[s % 11]


@pytest.mark.parametrize("make", [_pt_nif, _ar_cuil, _co_nit, _au_tfn, _hu_tax, _ie_pps, _pe_dni])
def test_identity_numbers_of_more_countries_on_values(make) -> None:
    from stdnum.ar import cuit
    from stdnum.au import tfn
    from stdnum.co import nit
    from stdnum.ie import pps
    from stdnum.pe import cui
    from stdnum.pt import nif

    values = [make() for _ in range(40)]
    checker = {_pt_nif: nif, _ar_cuil: cuit, _co_nit: nit, _au_tfn: tfn, _ie_pps: pps, _pe_dni: cui}.get(make)
    if checker is not None:  # the generators here agree with python-stdnum
        assert all(checker.is_valid(v) for v in values), values[:3]
    finding = detect_column("n7", pa.array(values))
    assert finding is not None and finding.detector == "national_id", values[:3]
    broken = [v[:-1] + str((int(v[-1]) + 1) % 10) if v[-1].isdigit() else v[:-1] + "Z" for v in values]
    assert detect_column("n7", pa.array(broken)) is None, broken[:3]


def test_identity_numbers_of_lv_my_ve_by_their_stdnum_checks() -> None:
    from stdnum.lv import pvn
    from stdnum.my import nric
    from stdnum.ve import rif

    def valid(module, make) -> list[str]:
        out: list[str] = []
        while len(out) < 30:
            if module.is_valid(value := make()):
                out.append(value)
        return out

    lv = valid(pvn, lambda: f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(50, 99)}-1{_digits(4)}")
    my = valid(
        nric,
        lambda: (
            f"{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            f"-{rng.choice(['01', '10', '14'])}-{_digits(4)}"
        ),
    )
    ve = valid(rif, lambda: f"V-{_digits(8)}-{_digits(1)}")
    for values in (lv, my, ve):
        assert detect_column("c9", _array(values)).detector == "national_id", values[:2]


def test_repeated_codes_are_not_identity_numbers() -> None:
    snomed = [410620009, 185345009, 162673000, 50849002, 185349003] * 8  # a few codes, again and again
    assert detect_column("CODE", pa.array(snomed, pa.int64())) is None
    assert detect_column("c7", pa.array([str(v) for v in snomed])) is None
    order_numbers = [str(rng.randint(100_000_000, 999_999_999)) for _ in range(60)]  # 9 digits, no check
    assert detect_column("c7", pa.array(order_numbers)) is None


@pytest.mark.parametrize(
    "name", ["governmentid", "GovernmentIdNumber", "sin", "TaxFileNumber", "tfn", "cuil", "pps_number", "AMKA"]
)
def test_identity_document_names_of_more_countries(name: str) -> None:
    finding = detect_column(name, pa.array([_hu_tax() for _ in range(20)]))
    assert finding is not None and finding.label == SENSITIVE, name
    assert detect_column(name, pa.array(["yes", "no", "yes", "no"] * 5)) is None, name  # values contradict


# -- contact values in other notations: display names, tel: URIs, JSON lists, ports -----------------


def test_emails_with_display_names_and_mailto() -> None:
    people = [f"{first} {last}" for first in FIRST for last in LAST][:30]
    named = [f"{p} <{p.split()[0].lower()}.{i}@mail.example>" for i, p in enumerate(people)]
    assert detect_column("rcpt", _array(named)).detector == "email"
    assert detect_column("rcpt", _array([f"mailto:user{i}@example.net" for i in range(30)])).detector == "email"
    assert detect_column("rcpt", _array([f"Ticket {i} <queue>" for i in range(30)])) is None  # no address
    assert detect_column("email_label", _array(["work", "home", "other"] * 10)) is None  # a kind of address
    assert detect_column("email_type", _array(["work", "home", "other"] * 10)) is None


def test_phones_as_tel_uris_and_json_lists() -> None:
    numbers = ["+61 2 9374 4000", "+64 9 303 4100", "+351 21 321 7000", "+30 21 0332 8000", "+40 21 305 5500"]
    numbers += ["+36 1 441 4000", "+420 224 002 111", "+57 1 382 0800", "+51 1 311 4000", "+27 21 403 2911"]
    tel = [f"tel:{n.replace(' ', '-')}" for n in numbers] * 3
    assert detect_column("u5", _array(tel)).detector == "phone"
    lists = [f'["{n}"]' for n in numbers] * 3
    assert detect_column("u5", _array(lists)).detector == "phone"
    assert (
        detect_column("otherPhones", _array([f'["{a}", "{b}"]' for a, b in itertools.pairwise(numbers)])).label == PII
    )
    # JSON lists of amounts, versions and ids are no phones
    assert (
        detect_column("u5", _array([f'["{rng.randint(1000, 99999)}.{rng.randint(10, 99)}"]' for _ in range(30)]))
        is None
    )
    assert detect_column("u5", _array([f'["ORD-{_digits(8)}"]' for _ in range(30)])) is None


def test_ip_addresses_with_ports() -> None:
    v4 = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        f":{rng.randint(1024, 65535)}"
        for _ in range(30)
    ]
    assert detect_column("peer", _array(v4)).detector == "ip_address"
    assert detect_column("peer", _array([f"[2001:db8::{i:x}]:443" for i in range(1, 31)])).detector == "ip_address"
    # versions with a build number and times are not addresses
    assert (
        detect_column(
            "peer",
            _array([f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}:{_digits(4)}" for _ in range(30)]),
        )
        is None
    )
    assert detect_column("peer", _array([f"10:{i % 60:02d}:{i % 60:02d}" for i in range(30)])) is None


# -- identity by context: handles and logins, numbered and multilingual column names ---------------


def test_handles_logins_and_profile_urls_under_their_names() -> None:
    logins = [f"{a[0].lower()}{b.lower()}{i}" for i, (a, b) in enumerate(itertools.product(FIRST, LAST))][:40]
    cases = {
        "skypeName": [f"live:.{x}" for x in logins],
        "twitter_handle": [f"@{x}" for x in logins],
        "linkedInUrl": [f"https://www.linkedin.com/in/{x}" for x in logins],
        "sAMAccountName": logins,
        "login": logins,
        "user_id": [f"{x}@example.org" if i % 3 == 0 else x for i, x in enumerate(logins)],
    }
    for name, values in cases.items():
        finding = detect_column(name, _array(values))
        assert finding is not None and finding.label == PII, name
    # ids, hex keys, numbers and a few repeated words under the same names are no handles
    assert detect_column("twitter_id", _array([str(rng.randint(10**15, 10**18)) for _ in range(40)])) is None
    assert detect_column("user_id", _array([str(uuid.uuid4()) for _ in range(40)])) is None
    assert detect_column("user_id", _array(logins)) is None  # logins alone: as often a key (`u1042`)
    assert detect_column("user_id", _array([f"usr_{_b64(12)}" for _ in range(40)])) is None
    assert detect_column("login", _array(["password", "sso", "saml"] * 13)) is None  # a login method


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("family_name2", ["Bedoya", "Mejía", "Aguirre", "Moreno", "Castaño"] * 4),
        ("phone2", ["+44 20 7946 0018", "+33 1 42 68 53 00", "+49 30 227 0", "+1 212-555-0147"] * 5),
        ("nome_completo", ["Ana Sousa", "João Lima", "Rita Alves", "Rui Costa"] * 5),
        ("primer_apellido", ["García", "López", "Martínez", "Sánchez"] * 5),
        ("Familienname", ["Huber", "Gruber", "Wagner", "Pichler"] * 5),
        ("dt_nascimento", ["1984-03-12", "1991-11-02", "1979-07-30", "2001-01-15"] * 5),
        ("fecha_nac", ["12/03/1984", "02/11/1991", "30/07/1979", "15/01/2001"] * 5),
        ("Geburtsdatum", ["12.03.1984", "02.11.1991", "30.07.1979", "15.01.2001"] * 5),
        ("morada", ["Rua Augusta 12", "Av. da Liberdade 200", "Rua do Ouro 5", "Largo do Rato 1"] * 5),
        ("endereco", ["Rua das Flores 10", "Av. Paulista 1000", "Rua XV de Novembro 3", "Rua Direita 7"] * 5),
        ("cep", ["01310-100", "20040-002", "30130-010", "40020-000"] * 5),
        ("celular", ["(11) 91234-5678", "(21) 99876-5432", "(31) 98765-4321", "(41) 99123-4567"] * 5),
        ("first_nm", ["Anna", "Jonas", "Mira", "Tomás"] * 5),
    ],
)
def test_more_person_columns_by_name(name: str, values: list[str]) -> None:
    finding = detect_column(name, _array(values))
    assert finding is not None and finding.label == PII, name


def test_numbered_and_multilingual_names_keep_their_look_alikes_out() -> None:
    assert detect_column("phone2_type", _array(["mobile", "home", "work"] * 5)) is None
    assert detect_column("celular", _array(["iOS", "Android", "iOS"] * 5)) is None  # a platform: contradicts
    assert detect_column("cep_valid", pa.array([True, False] * 5)) is None
    assert detect_column("bdate", pa.array([1984, 1991, 1979, 2001] * 5, pa.int64())) is None  # years alone


def test_cards_of_more_networks_and_serials_that_are_not_cards() -> None:
    troy = [_luhn_complete("9792") for _ in range(20)]
    rupay = [_luhn_complete(rng.choice(["81", "82", "508"])) for _ in range(20)]
    uatp = [_luhn_complete("1" + _digits(3), 15) for _ in range(20)]
    for values in (troy, rupay, uatp, [_spaced(v) for v in troy]):
        assert detect_column("q2", _array(values)).detector == "payment_card", values[:2]
    iccid = [_luhn_complete("8935" + _digits(2), 19) for _ in range(20)]  # SIM serials
    imei = [_luhn_complete("99" + _digits(4), 15) for _ in range(20)]
    for values in (iccid, imei):
        assert detect_column("q2", _array(values)) is None, values[:2]


def test_person_names_in_scripts_without_case() -> None:
    names = [
        "สมชาย ใจดี", "วิภาวดี ศรีสุข", "ประเสริฐ วงศ์ทอง", "กนกพร แก้วมณี",  # Thai
        "राहुल वर्मा", "प्रिया शर्मा", "अमित कुमार सिंह", "सुनीता देवी",  # Devanagari
        "அருண் குமார்", "மீனா ராஜன்",  # Tamil
        "অমিত দাস", "রিনা সেন",  # Bengali
        "דוד לוי", "רחל כהן", "נועה בן דוד",  # Hebrew
        "محمد العلي", "فاطمة الزهراء", "عبد الله الشمري",  # Arabic
    ]  # fmt: skip
    finding = detect_column("p4", _array(names))
    assert finding is not None and finding.detector == "person_name" and finding.reason == "values"
    assert detect_column("patient_name", _array(names)).detector == "person_name"
    # a few labels repeated, and sentences, are no names
    assert detect_column("p4", _array(["สินค้า ใหม่", "ลด ราคา", "ขาย ดี"] * 6)) is None
    sentences = ["यह एक बहुत अच्छा उत्पाद है और मैं इसे फिर से खरीदूंगा", "सेवा बहुत धीमी थी लेकिन खाना अच्छा था"] * 9
    assert detect_column("p4", _array(sentences)) is None


def test_one_line_addresses_with_street_words_of_many_countries() -> None:
    addresses = [
        "Váci utca 12., H-1052 Budapest",
        "Strada Lipscani Nr. 25, Sector 3, 030031",
        "Jalan Sudirman No. 45, Kota Bandung, Jawa Barat 40115",
        "Carrera 7 # 71-21, Oficina 502, 110231, Bogotá",
        "R. Augusta, 120, 1100-053 Lisboa",
        "Av. Corrientes N° 1234 Piso 5, Buenos Aires 1043, CABA",
        "Slovenska cesta 56, 1000 Ljubljana",
        "Drottninggatan 71, 111 36 Stockholm",
        "Linzer Ring 7/2, 4020 Linz",
        "ul. Marszałkowska 84, 00-514 Warszawa",
    ]
    finding = detect_column("k9", _array(addresses * 3))
    assert finding is not None and finding.detector == "postal_address"
    near_misses = [
        ["Invoice 123, paid 2024", "Item 5, qty 3", "Batch 7, lot 88", "Meeting room 4, floor 2"],
        ["Ring size 7, gold", "Route 66, Arizona", "Gate 12, Terminal B", "Platform 9, Central"],
    ]
    for values in near_misses:
        assert detect_column("k9", _array(values * 5)) is None, values


def test_phones_as_people_type_them_in_an_opaque_column() -> None:
    international = ["+351 912 345 678", "+43 664 1234567", "+36 30 123 4567", "+40 721 234 567", "+420 601 123 456"]
    international += ["+57 310 123 4567", "+54 9 11 2345 6789", "+385 91 234 5678", "+386 31 234 567"]
    national = ["0912 345 678", "0664/1234567", "06 30 123 4567", "0721 234 567", "601 123 456", "310 1234567"]
    national += ["011 2345-6789", "091 234 5678", "031 234 567", "(0732) 12 34 56", "555.123.4567 x204"]
    values = [rng.choice(international) if i % 3 == 0 else rng.choice(national) for i in range(60)]
    values = [f"{v[:-2]}{i % 100:02d}" for i, v in enumerate(values)]  # all different
    finding = detect_column("p5", _array(values))
    assert finding is not None and finding.detector == "phone" and finding.reason == "values"
    # reference numbers and signed numbers beside a few phones (under 30 %) are no phone column
    refs = [f"{_digits(2)}-{_digits(4)}-{_digits(3)}" for _ in range(50)]
    assert detect_column("p5", _array(refs + international[:8])) is None
    signed = [f"+{rng.randint(10**10, 10**11 - 1)}" for _ in range(30)]
    assert detect_column("p5", _array(signed + refs)) is None


def test_plain_text_passwords_on_values() -> None:
    words = ["Summer", "Dragon", "Monkey", "Soleil", "Sonne", "Verano", "Estrela", "Tigre", "Falcon", "Koala"]
    chosen = [f"{rng.choice(words)}{rng.randint(10, 9999)}{rng.choice('!#$%&*?')}" for _ in range(25)]
    generated = ["".join(rng.choice(_URLSAFE + "!#$%&*()^~?") for _ in range(rng.randint(10, 20))) for _ in range(25)]
    finding = detect_column("tmp_9", _array(chosen + generated))
    assert finding is not None and finding.label == CREDENTIAL and finding.reason == "values"
    near_misses = [
        [f"#{rng.choice(words)}Sale{rng.randint(2000, 2030)}{i}" for i in range(40)],  # hashtags
        [f"get{rng.choice(words)}ById{i}" for i in range(40)],  # identifiers in code
        [f"{rng.choice(words)}_Report_{i}.pdf" for i in range(40)],  # file names
        [f"{rng.choice(words)} {rng.choice(words)}!" for _ in range(40)],  # words with spaces
        [f"{rng.choice(words)}{rng.randint(1, 99)}" for _ in range(40)],  # no symbol: nicknames, codes
    ]
    for values in near_misses:
        assert detect_column("tmp_9", _array(values)) is None, values[:2]


def test_more_roles_of_people_and_birth_dates_by_name() -> None:
    people = [f"{first} {last}" for first in FIRST for last in LAST][:24]
    for name in ("spouse", "beneficiary", "guardian", "witness"):
        finding = detect_column(name, _array(people))
        assert finding is not None and finding.detector == "person_name", name
        assert detect_column(name, _array(["yes", "no"] * 12)) is None, name  # a flag, not a person
    assert detect_column("middle", _array(FIRST * 3)).detector == "person_name"
    assert detect_column("middle", _array(["12", "14", "15"] * 8)) is None
    assert detect_column("dt_of_birth", _array(["1984-03-12", "1991-11-02", "1979-07-30"] * 8)).label == PII
    assert detect_column("SocSecNum", _array(["078-05-1120", "219-09-9999", "457-55-5462"] * 8)).label == SENSITIVE


def test_paths_json_and_slugs_are_no_passwords_or_handles() -> None:
    paths = [f"C:\\Users\\{rng.choice(FIRST)}{i}\\Report#{i}.xlsx" for i in range(30)]
    assert detect_column("tmp_9", _array(paths)) is None
    assert detect_column("tmp_9", _array([f'{{"Id":{i},"Ok":true}}' for i in range(30)])) is None
    slugs = [f"{rng.choice(['blue', 'red', 'classic'])}-{rng.choice(['shirt', 'mug', 'hat'])}-{i}" for i in range(30)]
    assert detect_column("handle", _array(slugs)) is None  # Shopify's product handle: a URL slug
    assert detect_column("user_handle", _array([f"@{s.replace('-', '_')}" for s in slugs])).label == PII
