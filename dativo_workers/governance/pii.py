"""PII, sensitive-data and credential detection on column names and a small sample of values.

Detection is deliberately conservative: a value rule labels a column only when at least
``VALUE_SHARE`` (80 %) of its non-null sampled values match, so a free-text column that now and
then contains an e-mail address is not an e-mail column. Digit-only look-alikes (order numbers,
16-digit ids) never match on values alone: payment cards must pass Luhn, IBANs mod-97, phone
numbers need phone formatting, and a name that says order/invoice/id/sku vetoes digit detectors.

Value checks run on at most ``SAMPLE_VALUES`` values per column with ``pyarrow.compute`` regexes;
the few checksums (Luhn, mod-97, DNI letter) run in Python on those sampled values only.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc

PII, SENSITIVE, CREDENTIAL = "PII", "SENSITIVE", "CREDENTIAL"
SAMPLE_VALUES = 1000
VALUE_SHARE = 0.8  # share of non-null sampled values that must match a value rule
CONTRADICTION_SHARE = 0.2  # a name match is dropped when fewer sampled values look right
MIN_VALUES_TO_CONTRADICT = 3


@dataclass(frozen=True)
class Finding:
    column: str
    label: str  # PII | SENSITIVE | CREDENTIAL
    reason: str  # name | values | both
    confidence: float  # 0..1
    detector: str  # email, phone, national_id, payment_card, iban, ip_address, ...

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# -- column names -----------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """`customerEMailAddress` -> `customer_e_mail_address`; accents dropped; lower case."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return "_".join(t for t in re.split(r"[^A-Za-z0-9]+", text.lower()) if t)


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|_)(?:" + "|".join(alternatives) + r")(?:_|$)")


# detector -> (label, name pattern, confidence of a name-only match)
NAME_RULES: dict[str, tuple[str, re.Pattern[str], float]] = {
    "credential": (
        CREDENTIAL,
        _words(
            "password",
            "passwd",
            "pwd",
            "pass_?word",
            "passwort",
            "contrasena",
            "mot_de_passe",
            "secret",
            "client_secret",
            "token",
            "access_token",
            "refresh_token",
            "api_?key",
            "apikey",
            "access_key",
            "secret_key",
            "private_key",
            "auth_key",
            "credentials?",
        ),
        0.8,
    ),
    "email": (PII, _words("e_?mail", "email_?address", "mail", "correo", "courriel", "mail_?adresse"), 0.85),
    "phone": (
        PII,
        _words("phone", "telephone", "tel", "telefono", "telefon", "mobile", "mobil", "movil", "handy", "cell", "fax"),
        0.8,
    ),
    "national_id": (
        SENSITIVE,
        _words(
            "ssn",
            "social_security(?:_number)?",
            "nino",
            "national_insurance(?:_number)?",
            "national_id",
            "dni",
            "nie",
            "nif",
            "tax_id",
            "passport(?:_number|_no)?",
            "personalausweis(?:nummer)?",
            "steuer_?id",
            "numero_secu",
        ),
        0.85,
    ),
    "payment_card": (
        SENSITIVE,
        _words(
            "card_?number", "credit_?card(?:_number)?", "cc_?number", "pan", "kartennummer", "numero_tarjeta", "tarjeta"
        ),
        0.85,
    ),
    "iban": (SENSITIVE, _words("iban", "bank_account(?:_number)?"), 0.85),
    "ip_address": (PII, _words("ip", "ip_?address", "ipv4", "ipv6", "remote_addr", "client_ip"), 0.75),
    "date_of_birth": (
        PII,
        _words(
            "dob",
            "date_of_birth",
            "birth_?date",
            "birthday",
            "geburtsdatum",
            "geburtstag",
            "fecha_(?:de_)?nacimiento",
            "date_(?:de_)?naissance",
            "naissance",
            "nacimiento",
        ),
        0.85,
    ),
    "postal_address": (
        PII,
        _words(
            "address",
            "street(?:_address)?",
            "address_line_?\\d?",
            "postal_?code",
            "post_?code",
            "zip(?:_?code)?",
            "plz",
            "strasse",
            "anschrift",
            "adresse",
            "direccion",
            "calle",
            "codigo_postal",
            "code_postal",
        ),
        0.7,
    ),
    "person_name": (
        PII,
        _words(
            "first_?name",
            "last_?name",
            "full_?name",
            "middle_?name",
            "given_?name",
            "family_?name",
            "sur_?name",
            "maiden_?name",
            "(?:customer|contact|person|user|employee|patient|client|holder|cardholder|account_holder)_name",
            "vorname",
            "nachname",
            "nombre",
            "apellidos?",
            "prenom",
            "nom_de_famille",
        ),
        0.8,
    ),
}

# names that suggest a person's name but need the values to agree
AMBIGUOUS_PERSON_NAME = re.compile(r"^(?:name|nom|contact)$")
# a name saying "this is an identifier of something else" vetoes digit-shaped value detectors
ID_LIKE_NAME = _words(
    "order",
    "invoice",
    "sku",
    "product",
    "ref",
    "reference",
    "tracking",
    "transaction",
    "txn",
    "serial",
    "batch",
    "ticket",
    "id",
    "uuid",
    "code",
    "version",
    "shipment",
    "pedido",
    "factura",
    "bestellung",
    "commande",
)
# names that use a credential word for something else (counts, expiries, flags)
CREDENTIAL_NOT = _words("count", "expires?", "expiry", "expires_at", "length", "type", "hint", "policy", "changed_at")
# (checksummed or distinctive shapes - cards, IBANs, SSNs - are not vetoed)
DIGIT_DETECTORS = {"phone", "ip_address"}

# -- values -----------------------------------------------------------------------------------

EMAIL_RE = r"^[^\s@<>(),;:\"]+@[^\s@<>(),;:\".]+(\.[^\s@<>(),;:\".]+)*\.[^\W\d_]{2,}$"
# phone formatting: a leading + or separators between digit groups; 7-15 digits
PHONE_FORMATTED_RE = (
    r"^(\+\d{1,3}[ .-]?)?(\(\d{1,5}\)[ .-]?)?\d{1,5}([ .-]\d{1,6}){1,5}$"
    r"|^\+\d{7,15}$"
    r"|^\(\d{1,5}\)[ .-]?\d{3,}([ .-]\d+)*$"
)
PHONE_LOOSE_RE = r"^\+?[\d ().-]{7,22}$"
SSN_RE = r"^\d{3}-\d{2}-\d{4}$"
SSN_LOOSE_RE = r"^\d{3}-?\d{2}-?\d{4}$"
NINO_RE = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$"
DNI_RE = r"^[XYZ]?-?\d{7,8}-?[A-Z]$"
CARD_SHAPE_RE = r"^\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}$"
IBAN_SHAPE_RE = r"^[A-Z]{2}\d{2}( ?[A-Z0-9]){11,30}$"
IPV4_RE = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
IPV6_SHAPE_RE = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"
STREET_RE = (
    r"(?i)^\d+[a-z]?,? [\w .'-]+ (street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl"
    r"|terrace|square|sq)\b\.?"
    r"|^(calle|c/|avenida|avda\.?|plaza|paseo|rue|avenue|boulevard|bd|place|chemin|via|viale) [\w .'-]+"
    r"|^[\w .'-]*(strasse|straße|str\.|weg|platz|allee|gasse) \d+"
)
POSTCODE_RE = r"(?i)^(\d{5}(-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4,5}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$"
_UP, _LOW = "[A-ZÀ-ÖØ-Þ](?:['\\x{2019}][A-ZÀ-ÖØ-Þ])?", "[a-zà-öø-ÿ'\\x{2019}-]"
PERSON_NAME_RE = (
    rf"^{_UP}{_LOW}+( {_UP}\.?)?( (de |van |von |del |da |le |la )?{_UP}{_LOW}+){{1,2}}$"
    rf"|^{_UP}{_LOW}+, {_UP}{_LOW}+$"
)
PERSON_WORD_RE = rf"^{_UP}{_LOW}+( {_UP}{_LOW}+)?$"
DATE_RE = r"^(\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})([ T]\d{2}:\d{2}.*)?$"
SECRET_VALUE_RE = (
    r"^(sk|pk|rk)_(live|test)_[A-Za-z0-9]{16,}$"  # Stripe
    r"|^(AKIA|ASIA)[A-Z0-9]{16}$"  # AWS access key id
    r"|^gh[pousr]_[A-Za-z0-9]{30,}$"  # GitHub
    r"|^xox[abprs]-[A-Za-z0-9-]{10,}$"  # Slack
    r"|^AIza[0-9A-Za-z_-]{35}$"  # Google API key
    r"|^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$"  # JWT
    r"|^-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$"  # bcrypt hash
)
HIGH_ENTROPY_MIN_LEN = 20
HIGH_ENTROPY_BITS = 3.5


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits)


def _iban(value: str) -> bool:
    text = value.replace(" ", "")
    rearranged = text[4:] + text[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _ssn(value: str) -> bool:
    digits = value.replace("-", "")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _nino(value: str) -> bool:
    return value[:2].upper() not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(value: str) -> bool:
    text = value.replace("-", "")
    body, letter = text[:-1], text[-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
        if len(body) != 8:
            return False
    elif len(body) != 8:
        return False
    return _DNI_LETTERS[int(body) % 23] == letter


def _ipv6(value: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
    except ValueError:
        return False


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _high_entropy(value: str) -> bool:
    return len(value) >= HIGH_ENTROPY_MIN_LEN and " " not in value and _entropy(value) >= HIGH_ENTROPY_BITS


class _Values:
    """The non-null sampled values of one column as stripped strings, with cheap share helpers."""

    def __init__(self, array: pa.ChunkedArray | pa.Array) -> None:
        self.type = array.type
        arr = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        arr = arr.drop_null()
        if len(arr) > SAMPLE_VALUES:
            arr = arr.slice(0, SAMPLE_VALUES)
        try:
            text = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.array([], pa.string())
        self.text = pc.filter(text, pc.not_equal(text, ""))
        self.count = len(self.text)

    def share(self, pattern: str, check: Callable[[str], bool] | None = None) -> float:
        if not self.count:
            return 0.0
        mask = pc.match_substring_regex(self.text, pattern)
        if check is None:
            return pc.sum(mask).as_py() / self.count
        candidates = pc.filter(self.text, mask).to_pylist()
        return sum(1 for v in candidates if check(v)) / self.count

    def share_where(self, check: Callable[[str], bool]) -> float:
        if not self.count:
            return 0.0
        return sum(1 for v in self.text.to_pylist() if check(v)) / self.count


def _value_share(detector: str, values: _Values, name_matched: bool) -> float:
    """Share of sampled values that look like ``detector``; looser when the name already says so."""
    t = values.type
    if detector == "email":
        return values.share(EMAIL_RE)
    if detector == "phone":
        if pa.types.is_integer(t):
            return values.share(r"^\d{7,15}$") if name_matched else 0.0
        return values.share(PHONE_LOOSE_RE if name_matched else PHONE_FORMATTED_RE, _phone_digits)
    if detector == "national_id":
        ssn = values.share(SSN_LOOSE_RE if name_matched else SSN_RE, _ssn)
        nino = values.share(NINO_RE, _nino)
        dni = values.share(DNI_RE, _dni)
        return max(ssn, nino, dni)
    if detector == "payment_card":
        return values.share(CARD_SHAPE_RE, _card)
    if detector == "iban":
        return values.share(IBAN_SHAPE_RE, _iban)
    if detector == "ip_address":
        return values.share(IPV4_RE) + values.share(IPV6_SHAPE_RE, _ipv6)
    if detector == "credential":
        known = values.share(SECRET_VALUE_RE)
        if name_matched:
            return max(known, values.share_where(_high_entropy))
        return known
    if detector == "postal_address":
        street = values.share(STREET_RE)
        return max(street, values.share(POSTCODE_RE)) if name_matched else street
    if detector == "person_name":
        return values.share(PERSON_NAME_RE if not name_matched else PERSON_WORD_RE)
    if detector == "date_of_birth":
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            return 1.0 if name_matched else 0.0
        return values.share(DATE_RE) if name_matched else 0.0
    return 0.0


def _phone_digits(value: str) -> bool:
    return 7 <= len(re.sub(r"\D", "", value)) <= 15


# detectors that may label a column on values alone (with their confidence at a 100 % share)
VALUE_ONLY = {
    "email": 0.9,
    "phone": 0.8,
    "national_id": 0.9,
    "payment_card": 0.95,
    "iban": 0.95,
    "ip_address": 0.85,
    "credential": 0.9,
    "postal_address": 0.75,
}  # person names are too easily confused with product or company names to go on values alone
# value shapes a name match must be consistent with (else the name is taken as a false friend)
CONTRADICTABLE = {"email", "phone", "payment_card", "iban", "ip_address", "national_id", "date_of_birth"}
STRINGISH = {"email", "ip_address", "iban", "postal_address", "person_name", "credential"}


def _type_allows(detector: str, t: pa.DataType) -> bool:
    if pa.types.is_boolean(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return False
    if pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t):
        return detector == "date_of_birth"
    if pa.types.is_integer(t):
        return detector in {"phone", "national_id", "payment_card", "postal_address"}
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t) or pa.types.is_null(t)


def detect_column(name: str, array: pa.ChunkedArray | pa.Array | None) -> Finding | None:
    """The strongest finding for one column, or None."""
    norm = normalize_name(name)
    values = _Values(array) if array is not None else None
    dtype = values.type if values is not None else pa.string()
    id_like = bool(ID_LIKE_NAME.search(norm))
    best: Finding | None = None
    for detector, (label, pattern, name_conf) in NAME_RULES.items():
        if not _type_allows(detector, dtype):
            continue
        name_hit = bool(pattern.search(norm))
        if detector == "credential" and name_hit and CREDENTIAL_NOT.search(norm):
            name_hit = False
        if detector == "person_name" and not name_hit and AMBIGUOUS_PERSON_NAME.match(norm):
            # `name` alone: a person's name only when the values say so
            share = values.share(PERSON_NAME_RE) if values is not None else 0.0
            if share >= VALUE_SHARE:
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        share = 0.0
        if values is not None and values.count:
            if id_like and detector in DIGIT_DETECTORS and not name_hit:
                share = 0.0
            else:
                share = _value_share(detector, values, name_hit)
        if name_hit:
            if (
                detector in CONTRADICTABLE
                and values is not None
                and values.count >= MIN_VALUES_TO_CONTRADICT
                and share < CONTRADICTION_SHARE
            ):
                continue  # the values contradict the name (e.g. `mobile_platform` = iOS/Android)
            if share >= VALUE_SHARE:
                finding = Finding(name, label, "both", round(min(0.99, name_conf + 0.15 * share), 2), detector)
            else:
                finding = Finding(name, label, "name", name_conf, detector)
            best = _better(best, finding)
        elif detector in VALUE_ONLY and share >= VALUE_SHARE:
            best = _better(best, Finding(name, label, "values", round(VALUE_ONLY[detector] * share, 2), detector))
    return best


_LABEL_RANK = {CREDENTIAL: 3, SENSITIVE: 2, PII: 1}


def _better(current: Finding | None, new: Finding) -> Finding:
    if current is None:
        return new
    key_new = (new.reason != "name", new.confidence, _LABEL_RANK[new.label])
    key_cur = (current.reason != "name", current.confidence, _LABEL_RANK[current.label])
    return new if key_new > key_cur else current


def detect(sample: pa.Table | None, columns: list[str] | None = None) -> dict[str, Finding]:
    """Findings per column. ``columns`` not in the sample are judged on their names alone."""
    names = list(columns) if columns is not None else (sample.column_names if sample is not None else [])
    found: dict[str, Finding] = {}
    present = set(sample.column_names) if sample is not None else set()
    for name in names:
        array = sample.column(name).slice(0, SAMPLE_VALUES) if name in present and sample is not None else None
        finding = detect_column(name, array)
        if finding is not None:
            found[name] = finding
    return found
