"""PII, sensitive-data and credential detection on column names and a small sample of values.

Detection is deliberately conservative: a value rule labels a column only when at least
``VALUE_SHARE`` (80 %) of its non-null sampled values match, so a free-text column that now and
then contains an e-mail address is not an e-mail column. Digit-only look-alikes (order numbers,
16-digit ids) never match on values alone: payment cards must pass Luhn, IBANs their country's
length and mod-97, national and tax ids their check digits (python-stdnum), phone numbers must be
possible numbers for libphonenumber (the ``phonenumbers`` package) with an international prefix
or, under an opaque name, valid numbers of a few guessed regions; and a name that says
order/invoice/id/sku vetoes the phone and IP detectors.

Value checks run on at most ``SAMPLE_VALUES`` values per column: a ``pyarrow.compute`` regex
picks the candidates of each rule, and the checksums and phone parsing run in Python on at most
``CHECK_VALUES`` of those candidates (the share is estimated from them), never on every row.
"""

from __future__ import annotations

import base64
import datetime
import functools
import gzip
import importlib
import ipaddress
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import bic as _bic
from stdnum import iban as _stdnum_iban
from stdnum import isbn as _isbn
from stdnum.ar import cbu as _cbu
from stdnum.br import cnpj as _cnpj
from stdnum.br import cpf as _cpf
from stdnum.ca import sin as _sin
from stdnum.de import idnr as _idnr
from stdnum.es import nif as _nif
from stdnum.fr import nir as _nir
from stdnum.gb import nhs as _nhs
from stdnum.gb import utr as _utr
from stdnum.in_ import aadhaar as _aadhaar
from stdnum.it import codicefiscale as _codicefiscale
from stdnum.jp import in_ as _jp_in
from stdnum.nl import bsn as _bsn
from stdnum.us import ein as _ein
from stdnum.us import itin as _itin
from stdnum.us import rtn as _rtn

from dativo_workers.governance import pii_generic as _generic

PII, SENSITIVE, CREDENTIAL = "PII", "SENSITIVE", "CREDENTIAL"
SAMPLE_VALUES = 1000
CHECK_VALUES = 100  # Python checks (checksums, phone parsing) per rule: the share is estimated from these
DENSE_KEYS = 10  # integers spanning less than 10 x their count are keys (sequences), not numbers
PILOT_VALUES, PILOT_PASS = 10, 4  # with a share needed: give up when fewer than 4 of the first 10 pass
VALUE_SHARE = 0.8  # share of non-null sampled values that must match a value rule
CONTRADICTION_SHARE = 0.2  # a name match is dropped when fewer sampled values look right
MIN_VALUES_TO_CONTRADICT = 3
# placeholders for a missing value, taken as nulls
PLACEHOLDERS = pa.array(["", "n/a", "na", "n.a.", "null", "none", "nil", "-", "--", "unknown", "#n/a"])


@dataclass(frozen=True)
class Finding:
    column: str
    label: str  # PII | SENSITIVE | CREDENTIAL
    reason: str  # name | values | both
    confidence: float  # 0..1
    detector: str  # email, phone, national_id, tax_id, passport, payment_card, iban, credential, ...

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


def _numbered_words(*alternatives: str) -> re.Pattern[str]:
    """Like ``_words``, a digit or two after the word allowed (`family_name2`, `phone2`, `email_1`)."""
    return re.compile(r"(?:^|_)(?:" + "|".join(alternatives) + r")(?:_?\d{1,2})?(?:_|$)")


_NUM = r"(?:_?(?:number|num|no|nr|nbr|id|code))?"  # `passport`, `passport_no`, `passportNumber`...

# detector -> (label, name pattern, confidence of a name-only match); the detectors that can be
# surest on values come first, so that weaker ones need not look at the values of a decided column
NAME_RULES: dict[str, tuple[str, re.Pattern[str], float]] = {
    "credential": (
        CREDENTIAL,
        _words(
            "password",
            "passwd",
            "pwd",
            "pass_?word",
            "(?:new|old|temp|tmp|temporary|initial|previous)_?pass(?:word|wd)",  # `user_newpassword`
            "pw",  # `EMailUserPW`, `smtp_pw`
            "pass_?phrase",
            "passcode",
            "passwort",
            "kennwort",
            "contrasena",
            "contrasenya",
            "senha",
            "mot_de_passe",
            "wachtwoord",
            "secret",
            "client_secret",
            "token",
            "access_token",
            "refresh_token",
            "auth_?token",
            "bearer",
            "api_?key",
            "apikey",
            "access_?key",
            "secret_?key",
            "private_?key",
            "signing_?key",
            "encryption_?key",
            "master_?key",
            "auth_?key",
            "credentials?",
            "session_?(?:key|token|secret)",
            "remember_?(?:token|digest)",
            "(?:reset_password|password_reset|confirmation|unlock|invitation|activation|verification)_?(?:token|digest)",
            "otp_?secret",
            "totp(?:_secret)?",
            "mfa_secret",
            "recovery_codes?",
            "(?:otp_|mfa_)?backup_codes?",
        ),
        0.8,
    ),
    "email": (PII, _numbered_words("e_?mail", "email_?address", "mail", "correo", "courriel", "mail_?adresse"), 0.85),
    # (an e-mail name followed by one of EMAIL_NOT's words is about e-mails, not an address)
    "tax_id": (
        SENSITIVE,
        _words(
            "tax_?id",
            "tax_ids",
            "tax_?id_number",
            "tax_?payer_id",
            "tax_?number",
            "tax_?file" + _NUM,
            "tfn",
            "ird" + _NUM,
            "cuit",
            "rfc",
            "rut",
            "nit",
            "tax_identification" + _NUM,
            "tin",
            "itin",
            "ein",
            "fein",
            "nif",
            "steuer_?id",
            "steuer_?identifikationsnummer",
            "steuer_?nummer",
            "steuer_?nr",
            "codice_fiscale",
            "cnpj",
            "pan_(?:number|no|card)",
            "numero_fiscal",
            "identifiant_fiscal",
        ),
        0.85,
    ),
    "national_id": (
        SENSITIVE,
        _words(
            "ssn",
            "ssn_?id",
            "sin_?id",
            "social_security" + _NUM,
            "soc_sec" + _NUM,
            "ss_number",
            "id_number",
            "identity_number",
            "identification_number",
            "identification_id",
            "government_?id" + _NUM,
            "gov_?id",
            "govt_?id" + _NUM,
            "sin",
            "pps" + _NUM,
            "cuil",
            "amka",
            "cnp",
            "egn",
            "oib",
            "jmbg",
            "emso",
            "hetu",
            "henkilotunnus",
            "fodselsnummer",
            "rodne_cislo",
            "(?:tc_)?kimlik" + _NUM,
            "rrn",
            "nric",
            "hkid",
            "ahv" + _NUM,
            "avs" + _NUM,
            "nss",
            "cpr" + _NUM,
            "cartao_(?:de_)?cidadao",
            "(?:documento|numero)_(?:de_)?identi(?:dad|dade|ficacion|ficacao)",
            "personal_id" + _NUM,
            "personal_number",
            "sozialversicherungs_?nummer",
            "svnr",
            "social_insurance" + _NUM,
            "sin_(?:number|no|nr)",
            "nino",
            "ni_number",
            "national_insurance" + _NUM,
            "national_id(?:entity|entification)?" + _NUM,
            "national_identity" + _NUM,
            "national_number",
            "dni",
            "nie",
            "cpf",
            "curp",
            "aadhaa?r" + _NUM,
            "nir",
            "numero_secu(?:rite_sociale)?",
            "securite_sociale",
            "personalausweis(?:nummer)?",
            "ausweis(?:nummer)?",
            "(?:id|identity)_card" + _NUM,
            "cedula",
            "bsn",
            "pesel",
            "personnummer",
            "nhs" + _NUM,
            "mrn",
            "medical_record" + _NUM,
            "medicare" + _NUM,
            "medicaid" + _NUM,
            "health_(?:insurance|card)" + _NUM,
            "health_plan(?:_beneficiary)?" + _NUM,
            "insurance_(?:member|subscriber)" + _NUM,
            "insurance_(?:id|number|num|no|nr)",
            "(?:health_)?insurance_policy_(?:number|num|no|nr|id)",
            "(?:insurance|health|medicare|medicaid)_(?:member|subscriber|beneficiary)_id" + _NUM,
            "mbi",
            "medicare_beneficiary_identifier",
            "(?:work_|residence_)?permit_(?:number|num|no|nr)",
            "(?:work|residence)_permit" + _NUM,
            "visa_(?:number|num|no|nr)",
        ),
        0.85,
    ),
    "passport": (
        SENSITIVE,
        _words(
            "passport" + _NUM,
            "reisepass(?:nummer)?",
            "pasaporte",
            "passeport",
            "passaporto",
            "passaporte",
            "paspoort(?:nummer)?",
            "paszport",
            "pasaport",
            "passnummer",
            "pass_?nr",
            "passi",
            "travel_?document" + _NUM,
            "reisedokument",
            "numero_(?:de_)?pasaporte",
            "numero_(?:du_)?passeport",
        ),
        0.85,
    ),
    "drivers_license": (
        SENSITIVE,
        _words(
            "driver(?:s|_s)?_licen[cs]e" + _NUM,
            "driving_licen[cs]e" + _NUM,
            "drivers",
            "dl_(?:number|no|num|nr)",
            "(?:ident|id)_dl",  # `A_Ident_DL`: an identity document, the driving licence
            "fuhrerschein(?:nummer)?",
            "permis_(?:de_)?conduire",
            "licencia_de_conducir",
            "carnet_de_conducir",
            "patente_di_guida",
            "rijbewijs(?:nummer)?",
            "prawo_jazdy",
            "k[oø]rkort",
            "ajokortti",
            "carta_de_conducao",
            "carteira_de_motorista",
            "cnh",
            "ridicsky_prukaz",
            "vezetoi_engedely",
            "ehliyet",
            "menkyo(?:sho)?",
        ),
        0.85,
    ),
    "payment_card": (
        SENSITIVE,
        _words(
            "card_?number",
            "card_?num",
            "card_no",
            "credit_?card(?:_number|_no)?",
            "debit_?card(?:_number|_no)?",
            "cc_?num(?:ber)?",
            "ccn",
            "pan",
            "primary_account_number",
            "cvv2?",
            "cvc2?",
            "card_verification(?:_code|_value)?",
            "card_security_code",
            "kartennummer",
            "kreditkarte(?:nnummer)?",
            "numero_tarjeta",
            "tarjeta",
            "numero_carte",
        ),
        0.85,
    ),
    "iban": (
        SENSITIVE,
        _words(
            "iban",
            "bank_account" + _NUM,
            "bank_(?:ac|acc|acct)" + _NUM,
            "(?:ac|acc|acct)_(?:number|num|no|nr)",
            "numero_de_cuenta",
            "rib",
            "kontonummer",
        ),
        0.85,
    ),
    "bank_code": (
        SENSITIVE,
        _words(
            "routing_number",
            "aba_routing",
            "sort_code",
            "bankleitzahl",
            "blz",
        ),
        0.75,
    ),
    "special_category": (
        SENSITIVE,
        _words(
            "race",
            "ethnicity",
            "ethnic_(?:group|origin)",
            "religion",
            "religious_(?:affiliation|belief)",
            "sexual_orientation",
            "political_(?:affiliation|opinion|party)",
            "trade_union(?:_membership)?",
            "disability",
            "diagnosis",
            "diagnoses",
            "medical_condition",
            "health_condition",
            "medications?",
            "allerg(?:y|ies)",
            "blood_type",
            "genetic_data",
            "biometric_data",
        ),
        0.75,
    ),
    "ip_address": (PII, _words("ip", "ip_?address", "ipv4", "ipv6", "remote_addr", "client_ip"), 0.75),
    "phone": (
        PII,
        _numbered_words(
            "phone",
            "phone_?number",
            "(?:home|work|mobile|cell|business|other|assistant|contact)_?phone",
            "cellphone",
            "telephone",
            "tel",
            "tel_?no",
            "telefono",
            "telefone",
            "telefon",
            "mobile",
            "mobil",
            "movil",
            "handy",
            "cell",
            "fax",
            "msisdn",
            "whatsapp",
            "contact_number",
            "telecom_(?:value|number|no)",
            "telemovel",
            "celular",
            "numero_(?:de_)?telefono",
            "portable",
            "natel",
            "gsm",
            "tfno",
            "telf",
            "fone",
            "telefon_?nummer",
            "handy_?nummer",
            "mobil_?nummer",
            "ph_no",
            "mob(?:_no)?",
        ),
        0.8,
    ),
    "date_of_birth": (
        PII,
        _numbered_words(
            "dob",
            "date_of_birth",
            "birth_?date",
            "birthday",
            "birth_?(?:day|datetime|dt|dte|dat)",
            "birthdt",
            "day_of_birth",
            "deceased_?(?:date|dt|on|at)",
            "date_deceased",
            "death_?date",
            "date_of_death",
            "death_?(?:dt|dte|day|datetime|dat)",
            "(?:dt|dte)_(?:of_)?death",
            "deceased_?(?:dt|datetime)",
            "fecha_(?:de_)?(?:defuncion|fallecimiento)",
            "sterbedatum",
            "todesdatum",
            "date_(?:de_)?deces",
            "data_(?:de_)?obito",
            "dod",
            "geburtsdatum",
            "geburtstag",
            "fecha_(?:de_)?nacimiento",
            "date_(?:de_)?naissance",
            "naissance",
            "nacimiento",
            "data_(?:de_)?nascimento",
            "(?:dt|data)_nasc(?:imento)?",
            "(?:fecha|fec|f)_nac(?:imiento)?",
            "data_di_nascita",
            "data_urodzenia",
            "geboortedatum",
            "fodselsdato",
            "fodelsedatum",
            "syntymaaika",
            "datum_narozeni",
            "szuletesi_datum",
            "geb_?datum",
            "gebdat",
            "b_?date",
            "bday",
            "d_o_b",
            "(?:dt|date)_(?:of_)?birth",
        ),
        0.85,
    ),
    "postal_address": (
        PII,
        _numbered_words(
            "address",
            "street(?:_address)?",
            "address_line_?\\d?",
            "address_?\\d",
            "addr(?:_?line)?_?\\d?",
            "house_?number",
            "line_?[12]",
            "hausnummer",
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
            "addresses",
            "morada",
            "endereco",
            "logradouro",
            "indirizzo",
            "domicilio",
            "adres",
            "adresa",
            "ulica",
            "cep",
            "postleitzahl",
            "post_?nummer",
            "post_?nr",
            "cod_postal",
            "street_line",
            "house_no",
            "haus_?nr",
            "wohn_?adresse",
            "code_postal",
        ),
        0.7,
    ),
    "person_name": (
        PII,
        _numbered_words(
            "first_?name",
            "last_?name",
            "full_?name",
            "middle_?name",
            "given_?name",
            "family_?name",
            "sur_?name",
            "maiden_?name",
            "maiden",
            "(?:preferred|legal|display|nick|screen|login)_?name",
            "users?_?name",
            "name_(?:first|last|given|family|middle|full|text)",
            "login_?id",
            "logon_?name",
            "(?:customer|contact|person|user|employee|patient|client|holder|cardholder|account_holder|assistant"
            "|manager|owner|beneficiary|recipient|sender|spouse|guardian|parent|emergency_contact|next_of_kin"
            "|physician|doctor|subscriber|member|student|applicant|candidate|passenger|guest|driver|billing|shipping"
            "|billing_details|shipping_details|supplied|requester|reporter|author|signer|signatory|witness|payer|insured"
            "|policy_?holder|mother|father|tenant|practitioner|nurse|caregiver|attending_physician)_name",
            "vorname",
            "nachname",
            "[flm]_?name",  # `fname`, `LNAME`, `m_name`
            "(?:first|last|middle|given|family|sur|fore|maiden|full|mothers?|fathers?|spouses?|nick|christian)_?names?"
            "[a-z_]*",  # `firstnamephonetic`, `mothersname`, `forenames`
            "(?:middle|additional|other|second)_?(?:names?|initials?)",
            "forenames?",
            "patronymic",
            "imie",
            "nazwisko",
            "cognome",
            "sobrenome",
            "voornaam",
            "achternaam",
            "efternamn",
            "fornavn",
            "etternavn",
            "efternavn",
            "etunimi",
            "sukunimi",
            "nombre",
            "apellidos?",
            "prenom",
            "nom_de_famille",
            "prenoms",
            "(?:primeiro|ultimo|segundo)_nome",
            "nome_(?:completo|proprio|de_familia)",
            "apelido",
            "nombres",
            "nombre_completo",
            "(?:primer|segundo)_apellido",
            "familien_?name",
            "geburts_?name",
            "ruf_?name",
            "vornamen",
            "nom_(?:complet|de_naissance|d_usage|usage)",
            "jmeno",
            "prijmeni",
            "vezetek_?nev",
            "kereszt_?nev",
            "tussenvoegsel",
            "fornamn",
            "(?:first|frst|last|lst|middle|mid|given|family|fam|sur|full|maiden)_?nm",
        ),
        0.8,
    ),
}

# names that suggest a person's name but need the values to agree
AMBIGUOUS_PERSON_NAME = re.compile(
    r"^(?:name|nom|contact|contact_person|emergency_contact(?:_person)?|person_to_be_contacted|next_of_kin"
    r"|(?:customer|client|account|holder|patient|recipient|payer|billing|shipping)_?details_name)$"
)
# `<something>_name`, `holder`, `caller`: a person's name when the values say so, unless the name is
# that of a thing (a company, a product, a place...)
AMBIGUOUS_SOMEONES_NAME = re.compile(
    r"(?:^|_)(?:name|names|nom|nome|navn|namn|naam|holder|owner|caller|callee|addressee|attendee|assignee|invitee"
    r"|contact_person|cardholder|insured|signatory|officer|director|spouse|partner_person|beneficiary|guardian"
    r"|next_of_kin|emergency_contact|witness|referee|sponsor|dependant|dependent)$"
)
# `account_owner`, `card_holder_name`: the person who holds a thing
PERSON_ROLE_END = re.compile(r"_(?:owner|holder)(?:_name)?$|(?:^|_)account_name$")
NAME_OF_A_THING = _words(
    "title",
    "titles",
    "headline",
    "subject",
    "caption",
    "description",
    "desc",
    "summary",
    "comment",
    "comments",
    "note",
    "notes",
    "text",
    "message",
    "company",
    "companies",
    "org",
    "organi[sz]ation",
    "business",
    "legal",
    "trading",
    "firm",
    "brand",
    "product",
    "products",
    "item",
    "article",
    "sku",
    "service",
    "plan",
    "tier",
    "package",
    "file",
    "filename",
    "table",
    "column",
    "field",
    "schema",
    "database",
    "db",
    "host",
    "domain",
    "server",
    "device",
    "app",
    "application",
    "bundle",
    "module",
    "class",
    "function",
    "method",
    "event",
    "campaign",
    "list",
    "segment",
    "audience",
    "template",
    "tag",
    "label",
    "category",
    "group",
    "team",
    "role",
    "department",
    "dept",
    "division",
    "unit",
    "project",
    "task",
    "job",
    "queue",
    "channel",
    "topic",
    "bucket",
    "folder",
    "city",
    "town",
    "country",
    "state",
    "province",
    "region",
    "county",
    "district",
    "street",
    "place",
    "location",
    "site",
    "venue",
    "store",
    "shop",
    "warehouse",
    "branch",
    "office",
    "building",
    "facility",
    "hospital",
    "clinic",
    "school",
    "university",
    "college",
    "course",
    "bank",
    "vendor",
    "supplier",
    "merchant",
    "carrier",
    "attribute",
    "property",
    "param",
    "key",
    "type",
    "status",
    "stage",
    "step",
    "phase",
    "source",
    "medium",
    "color",
    "colour",
    "size",
    "model",
    "make",
    "version",
    "release",
    "os",
    "browser",
    "currency",
    "language",
    "locale",
    "timezone",
    "zone",
    "network",
    "asset",
    "resource",
    "metric",
    "dimension",
    "feature",
    "flag",
    "setting",
    "config",
    "policy",
    "rule",
    "permission",
    "scope",
    "entity",
    "object",
    "record",
    "document",
    "doc",
    "report",
    "dashboard",
    "view",
    "page",
    "section",
    "menu",
    "form",
    "game",
    "league",
    "show",
    "movie",
    "film",
    "book",
    "song",
    "track",
    "album",
    "genre",
    "playlist",
    "media",
    "image",
    "photo",
    "icon",
    "logo",
    "font",
    "sheet",
    "workspace",
    "space",
    "room",
    "floor",
    "area",
    "route",
    "station",
    "airport",
    "port",
    "ship",
    "vessel",
    "vehicle",
    "drug",
    "medication",
    "concept",
    "vocabulary",
    "test",
    "procedure",
    "specialty",
    "payer",
    "insurer",
    "employer",
    "account",
    "club",
    "hotel",
    "restaurant",
    "institution",
    "agency",
    "partner",
    "customer_company",
    "tenant",
    "realm",
    "client",
    "index",
    "collection",
    "bot",
    "integration",
    "webhook",
    "connector",
    "pipeline",
    "workflow",
    "step",
    "stream",
    "sensor",
    "unit",
    "measure",
    "uom",
    "reference",
    "ref",
    "code",
    "short",
    "legal_entity",
    "entity",
    "publisher",
    "manufacturer",
    "distributor",
    "shipper",
    "courier",
    "domain",
)
# `subscriber_id`, `member_id`: an insurance member id (letters and digits, `W595931844`) or a plain key
AMBIGUOUS_ID_NUMBER = re.compile(
    r"(?:^|_)id_?(?:number|num|no|nr)$|(?:^|_)idnumber$"
    r"|(?:^|_)(?:identity_|id_|identification_)?document_?(?:key|number|num|no|nr)$"  # an identifier table's number
    r"|^(?:other|alt|alternate|alternative|secondary|additional)_?id(?:_?(?:number|num|no|nr))?$"
    r"|(?:^|_)ident(?:ification)?_?(?:value|val)_?\d?$"  # `ident_value` beside `ident_type`: a document's number
    r"|(?:^|_)(?:tax_?code|fiscal_?code)$"  # a person's tax code (codice fiscale...) or a tax rate's code
)
# passport numbers of the main issuing countries (no check digit): US `A12345678` / 9 digits, UK and AU
# `PA1234567`, CA and BR `AB123456`, IN `K1234567`, PT `C123456`, FR `12AB34567`, ES `ABC123456`, NL
# `NXC3JK2L1`, and the 9 letters-and-digits of the ICAO machine-readable zone (DE `C01X00T47`)
PASSPORT_SHAPE_RE = r"^(?:[A-Z]{1,3}\d{6,8}|\d{9}|\d{2}[A-Z]{2}\d{5}|[A-Z]{2}\d{6}[A-Z]|[A-Z][A-Z0-9]{8})$"
PASSPORT_LETTERED_SHARE = 0.3  # bare 9-digit numbers alone are as often order numbers
PASSPORT_PREFIX_MAX = 0.3  # order numbers and SKUs share a prefix (`SO1234567`); passports do not
AMBIGUOUS_MEMBER_ID = re.compile(
    r"^(?:subscriber|member|insured|policy_?holder|beneficiary)_?id$"
    r"|^(?:[a-z]+_)?(?:insured|insuree|insurant)_?(?:number|num|no|nr)$"  # `client_insurednumber`
)
MEMBER_ID_RE = (
    r"^(?:[A-Z]{1,4}\d[A-Z0-9]{5,14}|\d[A-Z0-9]{2,5}-[A-Z0-9]{3}-[A-Z0-9]{3,4}|\d[A-Z][A-Z0-9]{9}"
    r"|\d{2,4}\.\d{4,6}\.\d{2,4}(?:\.\d{2,4})?)$"  # (digit groups with dots: `832.46609.22`)
)
# with such a column in the table, `account_number` is a bank account's (`detect`)
BANK_CONTEXT = _words("iban", "bic", "swift(?:_code)?", "bank", "bank_name", "bank_id", "routing_number", "sort_code")
BANK_ACCOUNT_IN_CONTEXT = re.compile(r"^(?:account|acct?)_?(?:number|num|no|nr)?$")
# an account number without a bank in the table: checked on the values (``BANK_ACCOUNT_VALUE_RE``)
AMBIGUOUS_BANK_ACCOUNT = re.compile(
    r"(?:^|_)(?:account|acct|acc)_?(?:number|num|no|nr)$"
    r"|(?:^|_)(?:ach|eft|bacs|wire|sepa|giro|checking|chequing|savings|deposit|payout|direct_deposit|bank)_?"
    r"(?:account|acct)(?:_?\d)?$"
    r"|(?:^|_)(?:cbu|cvu|clabe|bsb_account|bank_account_\d)$"
    r"|(?:super|superannuation|pension|provident|retirement|kiwisaver|mpf|fund)(?:_?fund)?_?\d?_member_?(?:number|num|no|nr|id)$"
)
BANK_ACCOUNT_VALUE_RE = r"^\d{3}-?\d{3}[ /-]\d{4,12}$|^\d[\d -]{4,32}\d$"  # 6 to 34 digits, BSB/branch allowed
# `first` / `last` alone (a sample patients table): a name part only when the values are single
# capitalised words, digits appended by some generators allowed (`Jacinto644`)
AMBIGUOUS_NAME_PART = re.compile(r"^(?:first|last|given|family|middle|surname2|second_surname)$")
NAME_PART_RE = r"^\p{Lu}[\p{Ll}'-]+\d*$"
NAME_PART_CASELESS_RE = r"^[\p{Lo}\p{M}]{1,12}$"
NAME_PART_CAPS_RE = r"^\p{Lu}[\p{Lu}'-]+$"  # `GARCIA`: known name words decide
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
# names that use a credential word for something else (counts, expiries, flags, ids, endpoints)
CREDENTIAL_NOT = _words(
    "count",
    "expires?",
    "expiry",
    "expires_at",
    "length",
    "type",
    "hint",
    "policy",
    "changed_at",
    "method",
    "strength",
    "required",
    "salt",
    "sent",
    "at",
    "on",
    "id",
    "ids",
    "name",
    "url",
    "uri",
    "endpoint",
    "prefix",
    "last4",
    "scope",
    "scopes",
    "next",  # `next_token`, `NextToken`, `previous_token`: a cursor, or the key of the row that replaced this one
    "prev",
    "previous",
    "continuation",
    "pagination",
)
# names about e-mail messages or preferences, not about an address
EMAIL_NOT = _words(
    "label",
    "kind",
    "template",
    "subject",
    "body",
    "status",
    "opt_?(?:in|out)",
    "optin",
    "optout",
    "opted_out_of",
    "bounced?",
    "bounced_reason",
    "reason",
    "domain",
    "type",
    "verified",
    "sent",
    "campaign",
    "frequency",
    "preferences?",
    "format",
    "consent",
    "notifications?",
    "marketing",
    "events?",
    "opened",
    "clicked",
    "delivery",
    "provider",
    "enabled",
    "unsubscribed",
    "count",
)
# names that speak of a document's or account's attribute, not its number
ATTRIBUTE_NOT = _words(
    "country",
    "expiry",
    "expiration",
    "expires?(?:_at|_on)?",
    "exp",
    "exp_month",
    "exp_year",
    "issued?(?:_at|_on|_by|_date)?",
    "issuer",
    "issuing",
    "authority",
    "date",
    "type",
    "brand",
    "status",
    "state",
    "class",
    "verified",
    "verification_status",
    "valid",
    "validity",
    "category",
    "fingerprint",
    "funding",
    "holder_name",
    "name",
    "bank_name",
    "provider",
    "carrier",
    "insurance_company",
    "insurer",
    "currency",
    "present",
    "provided",
    "check",
    "exempt",
)
# names that use an address word for something else
ADDRESS_NOT = _words(
    "check",
    "status",
    "verified",
    "validation",
    "valid",
    "type",
    "count",
    "id",
    "ids",
    "mac",
    "city",
    "town",
    "state",
    "county",
    "province",
    "region",
    "district",
    "ip",
    "email",
    "e_mail",
    "web",
    "url",
    "provided",
    "country",
    "country_code",
    "locality",
    "suburb",
    "municipality",
    "(?:zip|postal|post)_?(?:code_)?suffix",  # the ZIP+4 suffix alone (`6789`) locates no one
)
# names of an organisation's place: its address is no personal data
ORGANISATION_PLACE = _words(
    "company",
    "office",
    "warehouse",
    "store",
    "shop",
    "branch",
    "locations",
    "site",
    "facility",
    "business",
    "organi[sz]ation",
    "org",
    "headquarters",
    "hq",
    "vendor",
    "supplier",
    "merchant",
)
# a person's handle or login on a service (`Skype_ID`, `twitter_username`, `linkedIn`, `login`,
# `onPremisesSamAccountName`, `user_id` when it holds e-mails and logins): PII when the values are
# handles, login names, profile URLs or e-mail addresses, diverse, not numbers, UUIDs or hex ids
HANDLE_NAME = _numbered_words(
    "(?:skype|twitter|linked_?in|facebook|fb|instagram|tiktok|github|gitlab|telegram|wechat|mastodon|bluesky|snapchat"
    "|youtube|discord|slack|xing|viber|signal|threads|reddit|pinterest|twitch|website_personal|social|line|kakao"
    "|kakaotalk|vk|weibo|qq|zalo|imessage|icq|jabber|xmpp|keybase)"
    "(?:_(?:id|handle|username|user_name|user|name|url|profile|profile_url|account|login|link))?",
    "(?:user|social|screen)_?handle",  # (a bare `handle` is as often a product's URL slug: Shopify)
    "login",
    "login_name",
    "(?:on_premises_)?s_?am_account_name",  # `sAMAccountName`
    "user_principal_name",
    "upn",
    "profile_login",
    "user_?id",
)
HANDLE_NEEDS_EMAILS = re.compile(r"(?:^|_)user_?id$")  # a key as often as not: some e-mails among the values
# the last digits of a card or account are not the number (PCI DSS); the last digits of an SSN are
LAST_DIGITS = _words("last_?4", "last_four", "last_digits")
# `key`, `secure_key`, `license_key`, `key_hash`, `token_digest`: a secret (or a secret's digest) only
# when the values are random strings; not a key of a row, a cache, an object or a partition
AMBIGUOUS_CREDENTIAL = re.compile(
    r"(?:^|_)(?:key|keys|secure_?key|(?:key|token|secret|password|api_key|auth|login|remember|session|cookie"
    r"|persistent)_(?:hash|digest|hashed)"
    r"|hashed_(?:key|token|secret|password))$"
)
KEY_NOT = _words(
    "idempotency", "idempotence", "cache", "object", "partition", "sort", "range", "hash_key", "primary",
    "foreign", "natural", "business", "surrogate", "public", "pub", "row", "dedup", "dedupe", "lookup", "join",
    "unique", "composite", "external", "publishable", "storage", "file", "bucket", "routing", "shard",
    "sharding", "group", "ordering", "message", "event", "correlation", "trace", "meta", "setting", "config",
    "property", "attribute", "map", "dict", "translation", "i18n", "label", "lang", "locale", "sequence", "index",
    "idx", "version", "content", "ssh_public", "host", "fingerprint", "registry", "kv", "item", "record", "entity",
)  # fmt: skip
# names under which a random token is a hash, an id or a cursor, not a secret
NOT_A_SECRET_NAME = _words(
    "hash", "hashes", "checksum", "digest", "etag", "fingerprint", "sha", "sha1", "sha256", "sha512", "md5",
    "salt", "nonce", "cursor", "signature", "sig", "uuid", "guid", "ulid", "commit", "revision", "rev",
)  # fmt: skip
# names of a credential's attribute at their end (`password_enabled`, `access_key_1_last_rotated`,
# `passwd_hash_algo`, `token_last_eight`): flags, dates, regions, algorithms, partial values
CREDENTIAL_ATTRIBUTE_END = re.compile(
    r"_(?:algo|algorithm|enabled|active|last_used(?:_[a-z]+)?|last_rotated|next_rotation|last_changed|rotated"
    r"|rotation|last_(?:four|six|eight|\d{1,2}|char(?:acter)?s?|digits)|first_(?:four|six|eight|\d{1,2}|char(?:acter)?s?)"
    r"|present|exists|is_set|status)$"
)
# values no credential has: flags, dates and timestamps, cloud regions
NOT_SECRET_VALUE_RE = (
    r"^(?i:true|false|yes|no|[yntf01]|enabled?|disabled?|active|inactive|not_supported|no_information|not_set)$"
    r"|^\d{4}-\d{2}-\d{2}([ T][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$|^[a-z]{2}(-[a-z]+)+-\d$"
)
ENUM_WORD_RE = r"^[a-z][a-z0-9_.-]{0,20}$"
PASSWORD_NAME_END = re.compile(r"(?:^|_)(?:password|passwd|pwd|pw|pass|passphrase|passcode|pin|secret)$")
# `reset_password_sent_at` is about a reset; `reset_password_token` is a credential
CREDENTIAL_SOFT_NOT = _words("reset")
CREDENTIAL_NOUN_END = re.compile(r"(?:^|_)(?:token|digest|secret|key|hash)$")
# `credit_card_id`, `bank_account_id`: a key of a card or account row, not its number
KEY_SUFFIX = re.compile(r"_(?:id|ids|key|pk|fk)$")
# GDPR special categories (race, religion, health conditions...) are not in the PII / SENSITIVE /
# CREDENTIAL taxonomy of issue #15, and bank codes (routing number, sort code) name a bank, not an
# account, as a BIC does: both detected only when asked (``special_categories`` / ``bank_codes``)
OPT_IN_DETECTORS = {"special_category": "special_categories", "bank_code": "bank_codes"}
IDENTIFIER_DETECTORS = {"national_id", "tax_id", "passport", "drivers_license", "payment_card", "iban", "bank_code"}
# (checksummed or distinctive shapes - cards, IBANs, SSNs - are not vetoed)
DIGIT_DETECTORS = {"phone", "ip_address"}

# -- values -----------------------------------------------------------------------------------

# addresses of programs: cloud service accounts
MACHINE_EMAIL_RE = (
    r"(?i)@([a-z0-9-]+\.)*(iam\.gserviceaccount\.com|developer\.gserviceaccount\.com|appspot\.gserviceaccount\.com)$"
)
_EMAIL_CORE = r"[^\s@<>(),;:\"]+@[^\s@<>(),;:\".]+(\.[^\s@<>(),;:\".]+)*\.[^\W\d_]{2,}"
# an address alone, with a display name (`Ana Lima <ana@example.org>`, RFC 5322) or as a `mailto:` URI
EMAIL_PLAIN_RE = rf"^{_EMAIL_CORE}$"
EMAIL_RE = rf"^{_EMAIL_CORE}$|^[^<>@\n]{{1,80}} <{_EMAIL_CORE}>$|^<{_EMAIL_CORE}>$|^(?i:mailto):{_EMAIL_CORE}$"
HANDLE_RE = (
    r"^@?[^\s@/\\:,;<>()\[\]{}'\"!?#&=+*|]{2,39}$"  # `@lorna63`, `bmelicharova`, `juan-gabriel17`, `sbožič`
    r"|^live:[\w.-]+$"  # Skype
    r"|^[\w.-]+\\[\w.$-]+$"  # DOMAIN\login
    r"|^(?i:https?://)?(www\.|[a-z]{2}\.)?(linkedin\.com/in/|twitter\.com/|x\.com/|facebook\.com/|instagram\.com/"
    r"|github\.com/|tiktok\.com/@|t\.me/|fb\.me/|fb\.com/|m\.me/|line\.me/(ti/p/)?~?|wa\.me/|vk\.com/|weibo\.com/"
    r"|threads\.net/@|bsky\.app/profile/|youtube\.com/@|snapchat\.com/add/|reddit\.com/u(ser)?/)[\w.%-]+/?$"
    r"|^" + _EMAIL_CORE + "$"
)
# candidates for libphonenumber: an international prefix (+ or 00), or digits with phone punctuation
_EXT = r"(\s*(x|ext\.?|#)\s*\d{1,6})?"
PHONE_ANY_RE = r"^(\+|00)?\s*\(?\d[\d ().\-/]{5,20}\d" + _EXT + "$"
# a value formatted as a phone number (separators or parentheses, not bare digits)
_PHONE_FORMATTED = re.compile(r"\d[ .\-/()]+\d|^\(")
_NANP_PAREN = re.compile(r"^\(\d{3}\) ?\d{3}[ .-]?\d{4}$")
_NANP = re.compile(r"^\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]\d{4}$")
_NOT_PHONE = re.compile(
    r"^\d{4}[./-]\d{1,2}[./-]\d{1,2}$"  # dates
    r"|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$"
    r"|^\d{1,3}(\.\d{1,3}){3}$"  # IPv4
    r"|^[+-]?\d+[.,]\d{1,2}$"  # amounts
    r"|^\d{1,2}(\.\d+){2,}$"  # versions
)
PHONE_LOOSE_RE = r"^\+?[\d ().-]{7,22}$"
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "AU")
NINO_RE = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$"
_MBI_L = "[AC-HJKMNP-RT-Y]"
MBI_RE = rf"^[1-9]{_MBI_L}[0-9AC-HJKMNP-RT-Y]\d-?{_MBI_L}[0-9AC-HJKMNP-RT-Y]\d-?{_MBI_L}{{2}}\d{{2}}$"
CARD_SHAPE_RE = r"^\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}$"
IBAN_SHAPE_RE = r"(?i)^[A-Z]{2}\d{2}( ?[A-Z0-9]){11,30}$"
IPV4_RE = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(:\d{1,5})?$"  # a port too
IPV6_SHAPE_RE = r"^\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(\](:\d{1,5})?)?$"
STREET_RE = (
    r"(?i)^\d+[a-z]?,? [\w .'-]+ (street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl"
    r"|terrace|square|sq)\b\.?"
    r"|^(calle|c/|avenida|avda\.?|plaza|paseo|rue|avenue|boulevard|bd|place|chemin|via|viale) [\w .'-]+"
    r"|^[\w .'-]*(strasse|straße|str\.|weg|platz|allee|gasse) \d+"
)
# a one-line address: a street with its house number, a comma, a postcode and a capitalised place
# (`Skolgatan 1, 77052 Piteå`, `12 Main Street, SW1A 1AA London`, `al. Rzemieślnicza 30/52, 04-325 Gdańsk`),
# or a North American `123 Main St, Springfield, IL 62704`
_POSTCODE_SHAPE = (
    r"(\d{3,7}(-\d{3,4})?|\d{3} \d{2}|\d{2}-\d{3}|\d{4} ?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
    r"|[A-Z]\d[A-Z] ?\d[A-Z]\d)"
)
ONE_LINE_ADDRESS_RE = (
    r"^[^,\n]*(\p{L}{2,}[^,\n]* \d{1,5}[A-Za-z]?(/\d+)?|\d{1,5}[A-Za-z]? [^,\n]*\p{L}{2,})[^,\n]*, "
    + _POSTCODE_SHAPE
    + r" \p{Lu}[\p{L} .'-]+$"
    r"|^\d{1,6} [^,\n]*\p{L}{2,}[^,\n]*, \p{Lu}[\p{L} .'-]+, [A-Z]{2} \d{5}(-\d{4})?$"
)
# a one-line address in the many notations of the world: a street word (`utca`, `Jalan`, `Av.`, `Rua`,
# `Drumul`, `Carrera`, `-ring`...) with a house number before the first comma, and a place after it
# (`Arany János utca 207., H-2475 Szeged`, `R. das Chagas, 89, 6873-355 Funchal`, `Jalan Jamika No. 694,
# Langsa, Kalimantan Timur 64189`); an item list (`Invoice 123, paid 2024`) has no street word
_STREET_WORDS = (
    r"street|road|avenue|lane|drive|boulevard|way|court|place|terrace|square|crescent|close|highway|parkway|row"
    r"|calle|carrera|diagonal|transversal|avenida|plaza|paseo|camino|pasaje|rua|travessa|alameda|largo|praca|praça"
    r"|estrada|rodovia|via|viale|piazza|corso|vicolo|rue|chemin|allée|allee|impasse|quai|strasse|straße|gasse|weg"
    r"|platz|damm|ufer|utca|út|tér|körút|strada|drumul|aleea|soseaua|șoseaua|calea|bulevardul|piața|piata"
    r"|jalan|gang|ulica|ulice|cesta|trg|námestie|náměstí|gatan|vägen|vej|gade|veien|gata|katu|tie|straat|laan"
    r"|plein|sokak|soka\x{11f}\x{131}|cadde|caddesi|mahallesi|ulitsa|prospekt|odos|leoforos"
)
_STREET_ABBREVIATIONS = r"st|rd|ave|av|avda|blvd|dr|ln|pl|sq|r|cr|cra|cl|kr|jl|gg|ul|str|nám|bd|sos|bul"
ADDRESS_STREET_WORD_RE = (
    r"(?i)^[^,\n]{0,60}(^|[\s-])(" + _STREET_WORDS + r"|(" + _STREET_ABBREVIATIONS + r")\.)([\s,.]|$)"
    r"[^\n]*\d[^\n]*, [^\n]*\p{L}{2,}"
    r"|(?i)^[^,\n]*\p{L}{3,}(ring|gasse|weg|straße|strasse|platz|allee|damm|gatan|vägen|vej|gade|veien|straat"
    r"|laan|utca)\.? \d[^\n]*, [^\n]*\p{L}{2,}"
)
# a multi-line address: two to five short lines, one of them with a postcode
MULTILINE_RE = r"^[^\n]+\n"  # the line count and lengths are checked in Python
_MAX_ADDRESS_LINE = 80
_POSTCODE_IN_TEXT = re.compile(
    r"(?:^|[\s,-])(\d{5}(-\d{3,4})?|\d{6}|\d{3}-\d{4}|\d{4}(?= [A-Z][a-z])|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
    r"|[A-Z]\d[A-Z] ?\d[A-Z]\d)(?:$|[\s,])",
    re.MULTILINE,
)
POSTCODE_RE = r"(?i)^(\d{5}(-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4,5}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$"
_UP, _LOW = "\\p{Lu}(?:['\\x{2019}]\\p{Lu})?", "[\\p{Ll}'\\x{2019}]"
_WORD = r"\p{Lu}[\p{L}'\x{2019}-]*\p{Ll}"  # `Mäkinen-Kivelä`, `O'Brien`, `Głowiak`, `Петров`, `McDonald`
_CAPS = r"\p{Lu}{2,}(?:['-]\p{Lu}+)?"  # `FRIIS`, `O'NEIL`
# a title: a known word, or one or two capitalised abbreviations (`Dr.`, `Lic.`, `Dott.`, `Sig.ra`, `Univ.Prof.`)
_TITLE = (
    r"((Mr|Mrs|Ms|Miss|Mx|Herr|Frau|Mme|Mlle|Sr|Sra|Srta|Dr|Dra|Prof|M|pan|pani|pán|paní|Don|Doña) "
    r"|\p{Lu}\p{Ll}*\.(\p{Lu}\p{Ll}*\.|\p{Ll}*) )?"
)
_SUFFIX = r"( (Jr|Sr|II|III|IV|MD|DDS|DVM|PhD|Esq|MBA|B\.?Sc|M\.?Sc|B\.?A|M\.?A|B\.?Eng|M\.?Eng|LL\.?M|Dipl\.-Ing)\.?)?"
_PARTICLES = r"(de |da |do |dos |das |del |della |di |van |von |der |den |le |la |y |bin |ibn |al-)*"
_CJK = r"[\p{Han}\p{Hiragana}\p{Katakana}]"
# scripts without letter case (Thai, the Indic scripts, Hebrew, Arabic...): two to four words of one script,
# with their combining marks and apostrophes (`סימה אבו אל היג'א`, `الدكتور نجم الدّين`, `मानदीप डी\u2019सोउज़ा`)
_CASELESS = (
    r"\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Devanagari}\p{Bengali}\p{Gurmukhi}\p{Gujarati}\p{Tamil}"
    r"\p{Telugu}\p{Kannada}\p{Malayalam}\p{Sinhala}\p{Georgian}\p{Ethiopic}\p{Hebrew}\p{Arabic}\p{Mn}\p{Mc}"
)
_APOSTROPHES = r"'\x{2019}\x{05F3}"
CASELESS_NAME_RE = rf"^[{_CASELESS}]{{2,}}[{_APOSTROPHES}]?[{_CASELESS}]*( [{_CASELESS}{_APOSTROPHES}]{{2,}}){{1,3}}$"
PERSON_NAME_RE = (
    rf"^{_TITLE}{_WORD}( {_UP}\.?)?( {_PARTICLES}{_WORD}){{1,3}}{_SUFFIX}$"
    rf"|^{_TITLE}{_CAPS}( {_CAPS}){{1,3}}$"  # upper-cased (caller ids, search terms)
    rf"|^{_WORD}, {_WORD}( {_WORD}){{0,2}}$|^{_CAPS}, {_WORD}( {_WORD}){{0,2}}$"  # `Doe, John`, `ELLIS, Gina`
    rf"|^{_CJK}{{1,4}}[ \x{{3000}}]{_CJK}{{1,4}}$|^\p{{Han}}{{2,4}}$|^\p{{Hangul}}{{2,4}}$"  # CJK, Korean
    r"|^\p{Arabic}{2,}( \p{Arabic}{2,}){1,3}$|^\p{Hebrew}{2,}( \p{Hebrew}{2,}){1,3}$"
)
# on values alone, stricter: mixed-case or non-Latin names only (`DISCOVER NOT` may be a film's title)
PERSON_NAME_ALONE_RE = (
    rf"^{_TITLE}{_WORD}( {_UP}\.?)?( {_PARTICLES}{_WORD}){{1,3}}{_SUFFIX}$"
    rf"|^{_CJK}{{1,4}}[ \x{{3000}}]{_CJK}{{1,4}}$|^\p{{Han}}{{2,4}}$|^\p{{Hangul}}{{2,4}}$"
    r"|^\p{Arabic}{2,}( \p{Arabic}{2,}){1,3}$|^\p{Hebrew}{2,}( \p{Hebrew}{2,}){1,3}$"
)
# a cheap test for letters of the scripts without case (their Unicode blocks), before CASELESS_NAME_RE
CASELESS_BLOCKS_RE = (
    r"[\x{0590}-\x{06FF}\x{0900}-\x{0DFF}\x{0E00}-\x{0EFF}\x{1000}-\x{109F}\x{10A0}-\x{10FF}\x{1200}-\x{137F}"
    r"\x{1780}-\x{17FF}]"
)
# words of places and things that make two capitalised words no person's name (`Maple Avenue`, `New Haven`)
PLACE_OR_THING_RE = (
    r"(?i)\b(street|st|road|rd|avenue|ave|lane|drive|way|court|place|square|park|city|town|village|county|hill"
    r"|valley|lake|river|beach|bay|port|mount|saint|san|santa|new|north|south|east|west|upper|lower|central|the"
    r"|hotel|cafe|restaurant|store|shop|market|center|centre|club|team|edition|series|pro|plus|max|mini"
    r"|via|vicolo|piazza|viale|corso|largo|calle|camino|glorieta|vial|avenida|plaza|paseo|carrera|rua|travessa"
    r"|passarela|p[aá]tio|pra[cç]a|alameda|rue|chemin|all[ée]e|impasse|quai|strasse|stra[sß]e|weg|platz|gasse"
    r"|straat|laan|plein|gatan|v[aä]gen|vej|gade|veien|gata|ulica|ul|aleja|plac|osiedle|katu|tie)\b"
)
PERSON_NAME_ALONE_DISTINCT = 0.8  # names are diverse; categories, titles and statuses repeat
# words that name an organisation, not a person (a `name` column of accounts or suppliers)
ORGANISATION_RE = (
    r"(?i)\b(inc|ltd|llc|plc|gmbh|ag|sa|sas|sarl|srl|bv|nv|corp|corporation|company|co|group|holdings?|systems"
    r"|solutions|services|communications|technologies|industries|international|enterprises|partners|associates"
    r"|bank|university|hospital|clinic|school|foundation|limited)\b"
)
PERSON_WORD_RE = rf"^{_WORD}( {_WORD})?$"
# a date in other words (a month name and a year, yyyymmdd, a birthday without its year)
DATE_LOOSE_RE = r"[A-Za-z].*(19|20)\d\d|(19|20)\d\d.*[A-Za-z]|^(19|20)\d\d[01]\d[0-3]\d$|^[0-3]?\d[./-][0-3]?\d$"
DATE_RE = r"^(\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})([ T]\d{2}:\d{2}.*)?$"
# secrets recognisable by their shape, whatever the column is called
SECRET_VALUE_RE = "|".join(
    [
        r"^(sk|rk|pk)_(live|test)_[A-Za-z0-9]{16,}$",  # Stripe secret / restricted / publishable keys
        r"^whsec_[A-Za-z0-9+/=]{24,}$",  # Stripe webhook signing secret
        r"^(AKIA|ASIA)[A-Z0-9]{16}$",  # AWS access key id
        r"^gh[pousr]_[A-Za-z0-9]{30,}$",  # GitHub tokens
        r"^github_pat_[A-Za-z0-9_]{40,}$",  # GitHub fine-grained token
        r"^glpat-[A-Za-z0-9_-]{20,}$",  # GitLab personal access token
        r"^xox[abposre]-[A-Za-z0-9-]{10,}$",  # Slack tokens
        r"^xapp-\d-[A-Za-z0-9-]{10,}$",  # Slack app token
        r"^AIza[0-9A-Za-z_-]{35}$",  # Google API key
        r"^ya29\.[0-9A-Za-z_-]{20,}$",  # Google OAuth access token
        r"^sk-(proj-|ant-[a-z0-9]{2,6}-)?[A-Za-z0-9_-]{20,}$",  # OpenAI / Anthropic keys
        r"^SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}$",  # SendGrid
        r"^npm_[A-Za-z0-9]{36}$",  # npm
        r"^pypi-[A-Za-z0-9_-]{50,}$",  # PyPI
        r"^shp(at|ss|ca|pa)_[a-fA-F0-9]{32}$",  # Shopify
        r"^hf_[A-Za-z0-9]{30,}$",  # Hugging Face
        r"^dop_v1_[a-f0-9]{64}$",  # DigitalOcean
        r"^sq0(atp|csp)-[A-Za-z0-9_-]{20,}$",  # Square
        r"^key-[0-9a-f]{32}$",  # Mailgun
        r"^SK[0-9a-f]{32}$",  # Twilio API key
        r"^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$",  # JWT
        r"^-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",  # PEM, OpenSSH, PGP, encrypted PKCS#8, DSA, EC
        r"^pat-(na|eu|ap|au)\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",  # HubSpot private app
        r"^do[opr]_v1_[a-f0-9]{64}$",  # DigitalOcean personal / OAuth / refresh tokens
        r"^hv[sbr]\.[A-Za-z0-9_-]{24,}$",  # HashiCorp Vault service / batch / recovery tokens
        r"^(s|b|r)\.[A-Za-z0-9]{24}$",  # HashiCorp Vault tokens before 1.10
        r"^[A-Za-z0-9+/]{86}==$",  # Azure storage account keys (64 random bytes)
        r"^ATATT[A-Za-z0-9_=-]{40,}$",  # Atlassian API token
        r"^ATCTT[A-Za-z0-9_=-]{40,}$",  # Atlassian (Confluence) API token
        r"^lin_(api|oauth)_[A-Za-z0-9]{32,}$",  # Linear
        r"^(secret|ntn)_[A-Za-z0-9]{43,46}$",  # Notion integration tokens
        r"^sk-ant-(api|admin)\d{2}-[A-Za-z0-9_-]{32,}$",  # Anthropic
        r"^(sk-(proj|svcacct|admin)-)[A-Za-z0-9_-]{20,}$",  # OpenAI project / service account keys
        r"^HRKU-[A-Za-z0-9_-]{20,}$",  # Heroku
        r"^dd(api|app)_[A-Za-z0-9]{32,}$",  # Datadog (new format)
        r"^(glpat|gloas|glrt|glptt|glft|glsoat|glcbt|gldt|glimt|glagent)-[A-Za-z0-9_-]{20,}$",  # GitLab
        r"^(rubygems_|pul-|dapi|dp\.pt\.|dp\.st\.)[A-Za-z0-9_.-]{20,}$",  # RubyGems, Pulumi, Databricks, Doppler
        r"^(xkeysib|xsmtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}$",  # Brevo (Sendinblue)
        r"^(sk|pk)\.[A-Za-z0-9_-]{60,}\.[A-Za-z0-9_-]{20,}$",  # Mapbox
        r"^(EAA[A-Za-z0-9]{30,}|shpua_[a-fA-F0-9]{32}|ntn_[A-Za-z0-9]{40,})$",  # Facebook, Shopify, Notion
        r"^(AGE-SECRET-KEY-1[0-9A-Z]{58})$",  # age
        # Figma, Fly.io, PlanetScale, Terraform Cloud, Postman, Clojars, Docker Hub, Netlify
        r"^(figd_|fly_|FlyV1 |pscale_(tkn|pw|oauth)_|tfp_|atlasv1\.|PMAK-|CLOJARS_|dckr_pat_|nfp_)[\w.=+/-]{20,}$",
        # Sentry, PostHog, Render, Groq, xAI, Perplexity, Replicate, NVIDIA, Cerebras, JFrog
        r"^(sntrys_|sntryu_|phc_|phx_|rnd_|gsk_|xai-|pplx-|r8_|nvapi-|csk-|AKCp)[A-Za-z0-9_=-]{20,}$",
        # Google OAuth client secret, New Relic keys, Grafana service account / cloud tokens, Bitbucket,
        # Contentful, Adafruit, Shippo, Yandex, Frame.io
        r"^(GOCSPX-|NRAK-|NRII-|NRJS-|NRAA-|glsa_|glc_|ATBB|CFPAT-|aio_|shippo_(live|test)_|y0_|fio-u-)[A-Za-z0-9_=-]{20,}$",
        r"^\d{8,10}:AA[A-Za-z0-9_-]{30,40}$",  # Telegram bot token
        r"^[0-9a-f]{32}-us\d{1,2}$",  # Mailchimp API key (its datacentre after the dash)
        r"^[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{40,}$",  # Terraform Cloud / Enterprise token
        r"^access_token\$(production|sandbox|development)\$[a-z0-9]{16}\$[a-f0-9]{32}$",  # Braintree
        r"^EAA[A-Za-z0-9_-]{30,}$",  # Meta (Facebook) and Square access tokens (`EAAA...`)
        r"^pat[A-Za-z0-9]{14}\.[a-f0-9]{64}$",  # Airtable personal access token
        r"^[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}$",  # Discord bot token
        r"^AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,}$",  # Firebase Cloud Messaging server key
        r"^sl\.[A-Za-z0-9_-]{100,}$",  # Dropbox short-lived token
        r"^(LTAI[A-Za-z0-9]{12,20}|AKID[A-Za-z0-9]{32})$",  # Alibaba Cloud, Tencent Cloud access key ids
        r"^(AccountKey|SharedAccessKey|Password|Pwd)=",  # connection strings
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[A-Za-z0-9_-]{20,}$",  # id:secret pairs
        r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$",  # bcrypt
        r"^\$argon2(id|i|d)\$",  # argon2
        r"^\$[156]\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,}$",  # crypt(3) md5/sha256/sha512
        r"^\$scrypt\$",
        r"^(pbkdf2_sha(1|256)|bcrypt_sha256|argon2)\$",  # Django password hashes
        r"^(pbkdf2|scrypt):[a-z0-9:]+\$",  # Werkzeug password hashes
        r"^(Bearer|Basic) [A-Za-z0-9._~+/-]{16,}=*$",  # Authorization header values
        r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@",  # URLs with a password (`redis://:pw@host`)
        r"^dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}$",  # Dynatrace API token
        r"^\*[0-9A-F]{40}$",  # MySQL 4.1+ PASSWORD() hash
        r"^md5[0-9a-f]{32}$",  # PostgreSQL md5 password (pg_authid.rolpassword)
        r"^SCRAM-SHA-(1|256)\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$",  # PostgreSQL SCRAM verifier
        r"^\$(y|gy|7)\$[./A-Za-z0-9]+\$[./A-Za-z0-9$]{20,}$",  # yescrypt, gost-yescrypt, scrypt crypt(3)
        r"^\$(pbkdf2(-sha(1|256|512))?|sha1|md5|apr1|2[abxy]?|5|6)\$[./A-Za-z0-9$=+,-]{20,}$",  # passlib / crypt(3)
        r"^\{(S?SHA(256|384|512)?|S?MD5|CRYPT|PBKDF2[-_A-Z0-9]*|ARGON2|BCRYPT|CLEARTEXT)\}\S{8,}$",  # LDAP userPassword
        r"^(pbkdf2_sha(1|256|512)|sha1|md5|bcrypt|argon2|scrypt)\$\S{20,}$",  # Django hashers
        r"^[A-Za-z0-9_-]{43}=$",  # Fernet key (urlsafe base64 of 32 bytes): checked in _known_secret
        r"^[A-Za-z0-9+/]{40}$",  # AWS secret access key: checked in _known_secret
        r"^(django-insecure-)?[a-z0-9!@#$%^&*(_=+)-]{50}$",  # Django SECRET_KEY: checked in _known_secret
        r"(AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,}",  # Azure connection strings
        r"^https://hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9_/-]{20,}$",  # Slack webhooks
        r"^https://(ptb\.|canary\.)?discord(app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}$",  # Discord
        r"^https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/",  # Microsoft Teams incoming webhooks
        r"^https://chat\.googleapis\.com/v1/spaces/[^/]+/messages\?.*\bkey=.*\btoken=",  # Google Chat
    ]
)
# the prefixes alone, for pyarrow.compute (RE2 compiles long counted repetitions into big programs on
# every call); the full patterns run with Python's re on the candidates only
SECRET_PREFIX_RE = (
    r"^(sk_|rk_|pk_|sk\.|dt0c01\.|\*[0-9A-F]|md5[0-9a-f]|SCRAM-SHA-|\{[A-Z0-9_-]+\}|(sha1|md5|bcrypt|argon2|scrypt)\$"
    r"|django-insecure-|whsec_|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abposre]-|xapp-|AIza|ya29\.|sk-|SG\.|npm_"
    r"|pypi-|shp(at|ss|ca|pa|ua)_|hf_|do[opr]_v1_|sq0(atp|csp)-|key-|SK|eyJ|-----BEGIN |\$|pbkdf2|bcrypt_sha256\$"
    r"|argon2\$|scrypt:|Bearer |Basic |[a-z][a-z0-9+.-]*://|pat-|hv[sbr]\.|[sbr]\.|ATATT|ATCTT|lin_|secret_|ntn_|HRKU-"
    r"|dd(api|app)_|gl[a-z]+-|rubygems_|pul-|dapi|dp\.|xkeysib-|xsmtpsib-|pk\.|EAA|AGE-SECRET|figd_|fly_|FlyV1 |pscale_"
    r"|tfp_|atlasv1\.|PMAK-|CLOJARS_|dckr_pat_|nfp_|sntry[su]_|ph[cx]_|rnd_|gsk_|xai-|pplx-|r8_|nvapi-|csk-|AKCp|Password="
    r"|Pwd=|GOCSPX-|NR(AK|II|JS|AA)-|gl(sa|c)_|ATBB|CFPAT-|aio_|shippo_|y0_|fio-u-|\d+:AA|[0-9a-f]+-us\d"
    r"|[A-Za-z0-9]+\.atlasv1\.|access_token\$|pat[A-Za-z0-9]+\.|[MNO][A-Za-z0-9_-]+\.|AAAA|sl\.|LTAI|AKID"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:|[A-Za-z0-9+/]{86}==$)|AccountKey=|SharedAccessKey="
)
_SECRET_VALUE = re.compile(SECRET_VALUE_RE)
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
    """13-19 digits passing Luhn, in a card network's range: 2-6 (Mastercard, Visa, Amex, Diners, Discover,
    JCB, UnionPay, Maestro, Elo, Hipercard, RuPay 6x), RuPay 81/82, Troy 9792, UATP 1 (15 digits); not the
    8x / 9x of SIM serials (ICCID 89...) and IMEIs (99...)."""
    digits = re.sub(r"[ -]", "", value)
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return False
    return (
        digits[0] in "23456"
        or digits[:2] in ("81", "82")
        or digits[:4] == "9792"
        or (digits[0] == "1" and len(digits) == 15)
    )


def _ssn(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
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


def _uk_driving_licence(value: str) -> bool:
    month = value[6]  # the second digit of the month, +5 for women
    return month in "0156"


def _some_digits(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 4


def _ipv6(value: str) -> bool:
    if value.startswith("["):  # `[2001:db8::1]:443`
        value = value[1:].rsplit("]", 1)[0]
    try:
        return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
    except ValueError:
        return False


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_FERNET = re.compile(r"^[A-Za-z0-9_-]{43}=$")
FERNET_URLSAFE_SHARE = 0.3  # 32 random bytes in base64url: 3 in 4 keys have a `-` or `_`
_AWS_SECRET = re.compile(r"^[A-Za-z0-9+/]{40}$")
_DJANGO_KEY = re.compile(r"^(django-insecure-)?[a-z0-9!@#$%^&*(_=+)-]{50}$")


def _known_secret(value: str) -> bool:
    if _SECRET_VALUE.search(value) is None:
        return False
    if _PREFIXLESS.match(value):
        return _prefixless_secret(value)
    return True


_PREFIXLESS = re.compile(_FERNET.pattern + "|" + _AWS_SECRET.pattern + "|" + _DJANGO_KEY.pattern)


def _known_prefixed_secret(value: str) -> bool:
    """A known secret format with a prefix or a structure (not a bare random string)."""
    return _SECRET_VALUE.search(value) is not None and not _PREFIXLESS.match(value)


def _prefixless_secret(value: str) -> bool:
    # prefix-less shapes: random enough to be keys, not words, numbers or hex digests
    if _FERNET.match(value):  # 32 random bytes: a base64url digest of the same length is as secret
        return _entropy(value) >= RANDOM_TOKEN_BITS and _mixed(value)
    if _AWS_SECRET.match(value):  # 30 random bytes (no digest is 30 bytes long)
        return _entropy(value) >= RANDOM_TOKEN_BITS and _mixed(value)
    if _DJANGO_KEY.match(value) and not value.startswith("django-insecure-"):
        return (
            _entropy(value) >= RANDOM_TOKEN_BITS
            and _DIGIT.search(value) is not None
            and sum(not c.isalnum() for c in value) >= 3
        )
    return True


def _prefixless_shape_secret(value: str) -> bool:
    return _PREFIXLESS.match(value) is not None and _prefixless_secret(value)


def _mixed(value: str) -> bool:
    return _UPPER.search(value) is not None and _LOWER.search(value) is not None and _DIGIT.search(value) is not None


def _high_entropy(value: str) -> bool:
    return len(value) >= HIGH_ENTROPY_MIN_LEN and " " not in value and _entropy(value) >= HIGH_ENTROPY_BITS


_SECRET_TOKEN = re.compile(r"[A-Za-z0-9+/=_.$-]{20,}")

# a random token without a prefix (Cloudflare, Okta, Square tokens): 32 or more base62 / base64url
# characters, upper and lower case and digits mixed, most characters distinct; hex strings (digests,
# ids), ULIDs and other one-case ids, UUIDs, base64 with `+/=` (encoded digests) are not
RANDOM_TOKEN_MIN_LEN = 32
RANDOM_TOKEN_RE = r"^[A-Za-z0-9_-]+$"
RANDOM_TOKEN_BITS = 4.0
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]")


def _random_token(value: str) -> bool:
    return (
        len(value) >= RANDOM_TOKEN_MIN_LEN
        and _UPPER.search(value) is not None
        and _LOWER.search(value) is not None
        and _DIGIT.search(value) is not None
        and _entropy(value) >= RANDOM_TOKEN_BITS
    )


# a plain-text password as people choose them (`Investment694#`, `(5SDLhXO%MM#*nkp`): 8 to 64 characters
# without spaces, upper and lower case with digits or symbols; a column of them when most are so and many
# carry a symbol inside them (not a hashtag's `#` in front)
_PASSWORD_SYMBOL = re.compile(r".[!#$%^&*()~?<>\[\]{}|]")
_PATH_OR_DATA = re.compile(r"^[A-Za-z]:\\|[/\\].*[/\\]|^[\[{<]")  # `C:\Data\x`, `a/b/c`, JSON, markup
_PASSWORD_SHAPE = re.compile(r"^\S{8,64}$")
PASSWORD_SYMBOL_SHARE = 0.4


def _password_like(value: str) -> bool:
    return (
        _PASSWORD_SHAPE.match(value) is not None
        and _UPPER.search(value) is not None
        and _LOWER.search(value) is not None
        and (_DIGIT.search(value) is not None or _PASSWORD_SYMBOL.search(value) is not None)
        and "@" not in value
        and "://" not in value
        and _PATH_OR_DATA.search(value) is None
    )


# a secret under a name that says key, token or digest of one but also other things (`key`,
# `secure_key`, `key_hash`): 16 or more characters of a key alphabet (hex, base32, base62, base64),
# no spaces, high entropy; UUIDs are keys of rows, not secrets
_KEY_ALPHABET = re.compile(r"^[A-Za-z0-9+/=_.$:-]{16,}$")
_UUID = re.compile(  # dashed, or 32 hex digits with a UUID's version and variant digits
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    r"|^[0-9a-fA-F]{12}[1-8][0-9a-fA-F]{3}[89abAB][0-9a-fA-F]{15}$"
)
KEY_SECRET_BITS = 3.3


def _opaque_secret(value: str) -> bool:
    return (
        _KEY_ALPHABET.match(value) is not None
        and _UUID.match(value) is None
        and _DIGIT.search(value) is not None
        and _entropy(value) >= KEY_SECRET_BITS
    )


def _json_with_secret(value: str) -> bool:
    """A JSON text with a high-entropy token of letters and digits (a hash, a key) in it."""
    return any(
        _high_entropy(t) and any(c.isdigit() for c in t) and any(c.isalpha() for c in t)
        for t in _SECRET_TOKEN.findall(value)
    )


def _street_or_multiline_address(value: str) -> bool:
    if "\n" not in value:
        return True  # STREET_RE matched
    lines = value.split("\n")
    if len(lines) > 5 or any(len(line) > _MAX_ADDRESS_LINE for line in lines):
        return False
    return _POSTCODE_IN_TEXT.search(value) is not None and any(ch.isalpha() for ch in value)


def _phone_e164_digits(value: str) -> bool:
    number = _parse_phone("+" + value, None)
    return number is not None and phonenumbers.is_valid_number(number)


_EXT_TAIL = re.compile(r"(\s*(x|ext\.?|#)\s*\d{1,6})+$", re.IGNORECASE)


def _national_format_of_a_region(value: str) -> bool:
    """A valid number of one of the guessed regions, written with that region's national digits
    (`06 12 34 56 78` in France, `612 345 678` in Spain, `(11) 91234-5678` in Brazil): digits
    without the trunk prefix a region writes (a German `30 1234567`) do not count."""
    digits = "".join(ch for ch in value if ch.isdigit())
    for region in PHONE_REGIONS:
        number = _parse_phone(value, region)
        if number is None or not phonenumbers.is_valid_number(number):
            continue
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        if "".join(ch for ch in national if ch.isdigit()) == digits:
            return True
    return False


def _phone_digits(value: str) -> bool:
    return 7 <= sum(ch.isdigit() for ch in value) <= 15


def _parse_phone(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


def _phone_international(value: str) -> bool:
    """``+49 30 1234567`` / ``0049 30 1234567``: a possible number of the country it names."""
    text = value.lstrip()
    bare = not _PHONE_FORMATTED.search(text)
    if text.startswith("00"):
        text = "+" + text[2:]
    number = _parse_phone(text, None)
    if number is None or not phonenumbers.is_possible_number(number):
        return False
    # bare digits (`+14155552671`, `0014155552671`) may be a signed or zero-padded number: only a
    # valid number (a known range of its country) counts
    return not bare or phonenumbers.is_valid_number(number)


MIXED_PHONES_INTERNATIONAL = 0.3
PHONE_TYPED_RE = r"(?i)^(\+|00)?[\d ().\-/]{7,24}(\s*(x|ext\.?|#)\s*\d{1,6}){0,2}$"


def _phone_international_formatted(value: str) -> bool:
    """``+351 912 345 678``: an international number with separators, possible for libphonenumber."""
    return _PHONE_FORMATTED.search(value) is not None and _phone_international(value)


def _phone_shaped(value: str) -> bool:
    """7 to 15 digits (the extension aside), not a date, an amount, a version or an IPv4 address."""
    return _phone_digits(_EXT_TAIL.sub("", value)) and not _NOT_PHONE.match(value)


def _phone_named(value: str) -> bool:
    """Under a phone-like name: a possible number, international or of one of the guessed regions."""
    if value.lstrip()[:1] == "+" or value.lstrip()[:2] == "00":
        return _phone_international(value)
    if _NOT_PHONE.match(value):
        return False
    for region in PHONE_REGIONS:
        number = _parse_phone(value, region)
        if number is not None and phonenumbers.is_possible_number(number):
            return True
    return False


def _phone_unnamed(value: str) -> bool:
    """Under an opaque name: international numbers; else formatted national numbers that are valid
    numbers of the guessed regions: North American 3-3-4, or with a trunk prefix 0 (bare digit
    strings, dates, amounts and versions never)."""
    if value.lstrip()[:1] == "+" or value.lstrip()[:2] == "00":
        return _phone_international(value)
    if _NOT_PHONE.match(value) or not _PHONE_FORMATTED.search(value):
        return False
    value = _EXT_TAIL.sub("", value)
    if _NANP_PAREN.match(value):  # (555) 123-4567: North American formatting
        number = _parse_phone(value, "US")
        return number is not None and phonenumbers.is_possible_number(number)
    if _NANP.match(value):
        number = _parse_phone(value, "US")
        return number is not None and phonenumbers.is_valid_number(number)
    return _national_format_of_a_region(value)


def _stdnum(module: object) -> Callable[[str], bool]:
    is_valid: Callable[[str], bool] = module.is_valid  # type: ignore[attr-defined]
    return lambda value: bool(is_valid(value))


@dataclass(frozen=True)
class ValueRule:
    """Values that look like one kind of identifier: a regex picks candidates, ``check`` confirms."""

    pattern: str  # pyarrow.compute (RE2) regex
    check: Callable[[str], bool] | None = None
    alone: bool = True  # may label a column whose name says nothing

    def matches(self, value: str) -> bool:
        rx = _COMPILED.get(self.pattern)
        if rx is None:
            rx = _COMPILED[self.pattern] = re.compile(self.pattern)
        return rx.search(value) is not None and (self.check is None or self.check(value))


_COMPILED: dict[str, re.Pattern[str]] = {}


# value rules of the identifier detectors; named-only rules (alone=False) back a name match
IDENTIFIER_RULES: dict[str, list[ValueRule]] = {
    "national_id": [
        ValueRule(r"^\d{3}-\d{2}-\d{4}$", _ssn),  # US SSN
        ValueRule(r"^\d{3} ?\d{2} ?\d{4}$", _ssn, alone=False),
        ValueRule(NINO_RE, _nino),  # UK National Insurance number
        ValueRule(r"^[XYZ]?-?\d{7,8}-?[A-Z]$", _dni),  # ES DNI / NIE
        ValueRule(r"^\d{3}[ -]\d{3}[ -]\d{3}$", _stdnum(_sin)),  # CA SIN (Luhn)
        ValueRule(r"^\d{9}$", _stdnum(_sin)),
        ValueRule(r"^\d{9}$|^\d{4}\.\d{2}\.\d{3}$", _stdnum(_bsn)),  # NL BSN (11-test)
        ValueRule(r"^[12] ?\d{2} ?\d{2} ?(\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}$", _stdnum(_nir)),  # FR NIR
        ValueRule(r"^\d{3}\.\d{3}\.\d{3}-\d{2}$", _stdnum(_cpf)),  # BR CPF
        ValueRule(r"^\d{11}$", _stdnum(_cpf)),
        ValueRule(r"^[2-9]\d{3}[ -]\d{4}[ -]\d{4}$", _stdnum(_aadhaar)),  # IN Aadhaar (Verhoeff)
        ValueRule(r"^[2-9]\d{11}$", _stdnum(_aadhaar)),
        ValueRule(r"^\d{4} ?\d{4} ?\d{4}$", _stdnum(_jp_in)),  # JP My Number (mod 11)
        ValueRule(r"^\d{3} \d{3} \d{4}$", _stdnum(_nhs)),  # UK NHS number (mod 11)
        ValueRule(r"^\d{10}$", _stdnum(_nhs)),
        ValueRule(MBI_RE),  # US Medicare Beneficiary Identifier (letters and digits by position)
        ValueRule(r"(?i)^[A-Z0-9][A-Z0-9 ./-]{3,22}[A-Z0-9]$", _some_digits, alone=False),
        ValueRule(r"^\d{4}$", alone=False),  # `ssn_last_4`
    ],
    "tax_id": [
        ValueRule(r"^9\d{2}-\d{2}-\d{4}$", _stdnum(_itin)),  # US ITIN
        ValueRule(r"^\d{2}-\d{7}$", _stdnum(_ein), alone=False),  # US EIN
        ValueRule(r"^\d{2} \d{3} \d{3} \d{3}$", _stdnum(_idnr)),  # DE Steuer-ID
        ValueRule(r"^\d{11}$", _stdnum(_idnr)),
        ValueRule(r"^[A-HJNP-SUVW]\d{7}[0-9A-J]$", _stdnum(_nif)),  # ES CIF (a person's NIF is the DNI/NIE)
        ValueRule(
            r"(?i)^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$",
            _stdnum(_codicefiscale),
        ),  # IT codice fiscale
        ValueRule(r"^\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}$", _stdnum(_cnpj)),  # BR CNPJ
        ValueRule(r"^\d{14}$", _stdnum(_cnpj), alone=False),
        ValueRule(r"^[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]$"),  # IN PAN
        ValueRule(r"(?i)^[A-Z0-9][A-Z0-9 ./-]{3,22}[A-Z0-9]$", _some_digits, alone=False),
    ],
    "passport": [ValueRule(r"(?i)^[A-Z0-9]{6,10}$", alone=False)],
    "drivers_license": [
        ValueRule(r"^[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}$", _uk_driving_licence),  # GB DVLA
        ValueRule(r"^[A-Z]{1,3}-\d{6} \d$"),  # PT carta de condução (district, number, check digit)
        ValueRule(r"(?i)^[A-Z0-9][A-Z0-9 *-]{3,20}[A-Z0-9]$", alone=False),
    ],
    "payment_card": [
        ValueRule(CARD_SHAPE_RE, _card),
        ValueRule(r"^[\d*Xx•]{4}[ -]?[\d*Xx•]{4}[ -]?[\d*Xx•]{4}[ -]?\d{1,7}$", alone=False),  # masked
        ValueRule(r"^\d{3,4}$", alone=False),  # CVV/CVC
        ValueRule(CARD_SHAPE_RE, alone=False),  # test numbers that fail Luhn, under a card name
    ],
    "iban": [
        ValueRule(IBAN_SHAPE_RE, _stdnum(_stdnum_iban)),
        ValueRule(r"(?i)^[A-Z0-9][A-Z0-9 -]{4,32}[A-Z0-9]$", _some_digits, alone=False),  # domestic account numbers
    ],
    "bank_code": [
        ValueRule(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", _stdnum(_bic), alone=False),  # BIC / SWIFT
        ValueRule(r"^\d{9}$", _stdnum(_rtn), alone=False),  # US ABA routing number
        ValueRule(r"^\d{2}-?\d{2}-?\d{2}$|^\d{3} ?\d{3} ?\d{2}$", alone=False),  # UK sort code, DE BLZ
    ],
}

# personal identity numbers of python-stdnum's countries whose check is a check digit or a checksum
# with a birth date (modules without one, or that accept most digit strings, are left out: AR DNI,
# PK CNIC, ID NIK, CU NI, MY NRIC, PT CC); a column's values are matched against these when no rule
# above reaches the share: each module must validate several of the first values to be tried at all
PERSONAL_ID_MODULES = (
    "at.vnr",
    "be.nn",
    "be.bis",
    "bg.egn",
    "cl.rut",
    "cn.ric",
    "cz.rc",
    "ec.ci",
    "ee.ik",
    "es.nie",
    "fi.hetu",
    "gr.amka",
    "hr.oib",
    "ie.pps",
    "il.idnr",
    "is_.kennitala",
    "kr.rrn",
    "lt.asmens",
    "mx.curp",
    "no.fodselsnummer",
    "pl.pesel",
    "ro.cnp",
    "se.personnummer",
    "si.emso",
    "sk.rc",
    "th.pin",
    "tr.tckimlik",
    "ua.rntrc",
    "za.idnr",
    "pt.nif",
    "pt.cc",
    "ar.cuit",
    "co.nit",
    "au.tfn",
    "nz.ird",
    "do.cedula",
    "ru.inn",
    "lv.pvn",
    "my.nric",
    "ve.rif",
)
# a date-only check (DK CPR; CZ/SK birth numbers of 9 digits are left out) counts only in its written
# form DDMMYY-NNNN
# (a Swiss AHV number's check is an EAN-13's: it counts only written with its dots, not as a barcode)
_PERSONAL_ID_FORMAT = {
    "dk.cpr": re.compile(r"^[0-3]\d[01]\d\d\d-\d{4}$"),
    "ch.ssn": re.compile(r"^756\.\d{4}\.\d{4}\.\d{2}$"),
}
PERSONAL_ID_RE = r"^[0-9A-Z][0-9A-Z .+/-]{6,22}[0-9A-Z]$"  # candidates: 8 to 24 characters, 6 or more digits
_PERSONAL_ID_MIN_DIGITS = 6


# the lengths of each module's numbers once separators are dropped: a value is only given to the
# modules of its length (a tenth of the checks)
_PERSONAL_ID_LENGTHS = {
    "at.vnr": (10,), "be.nn": (11,), "be.bis": (11,), "bg.egn": (10,), "ch.ssn": (13,), "cl.rut": (8, 9),
    "cn.ric": (18,), "cz.rc": (10,), "ec.ci": (10,), "ee.ik": (11,), "es.nie": (9,), "fi.hetu": (10, 11),
    "gr.amka": (11,), "hr.oib": (11,), "ie.pps": (8, 9), "il.idnr": (8, 9), "is_.kennitala": (10,),
    "kr.rrn": (13,), "lt.asmens": (11,), "mx.curp": (18,), "no.fodselsnummer": (11,), "pl.pesel": (11,),
    "ro.cnp": (13,), "se.personnummer": (10, 12), "si.emso": (13,), "sk.rc": (10,), "th.pin": (13,),
    "tr.tckimlik": (11,), "ua.rntrc": (10,), "za.idnr": (13,), "dk.cpr": (10,),
    "pt.nif": (9,), "pe.ruc": (11,), "mx.rfc": (13,), "au.medicare": (10, 11), "gb.utr": (10,),
    "pt.cc": (12,), "ar.cuit": (11,), "co.nit": (8, 9, 10, 11), "au.tfn": (8, 9), "nz.ird": (8, 9),
    "do.cedula": (11,), "ru.inn": (12,), "lv.pvn": (11,), "my.nric": (12,),
    "ve.rif": (10,), "pe.cui": (9,), "hu.adoazonosito": (10,),
}  # fmt: skip
_SEPARATORS = re.compile(r"[^0-9A-Za-z]")


def _pe_dni(value: str) -> bool:
    """PE DNI with its check character (python-stdnum's ``pe.cui`` also takes the 8 digits alone)."""
    from stdnum.pe import cui

    return len(_SEPARATORS.sub("", value)) == 9 and bool(cui.is_valid(value))


def _hu_tax_id(value: str) -> bool:
    """HU personal tax id (adóazonosító jel): 10 digits starting with 8, the last one the sum of the
    first nine weighted 1..9, mod 11."""
    digits = _SEPARATORS.sub("", value)
    if len(digits) != 10 or not digits.isdigit() or digits[0] != "8":
        return False
    check = sum(int(d) * w for w, d in enumerate(digits[:9], start=1)) % 11
    return check == int(digits[9])


def _pt_person_nif(value: str) -> bool:
    """PT NIF of a person (1, 2, 3 or 45...): 5, 6, 9 (and 7, 8) start a company's or body's NIPC."""
    from stdnum.pt import nif

    digits = _SEPARATORS.sub("", value)
    return (digits[:1] in ("1", "2", "3") or digits[:2] == "45") and bool(nif.is_valid(digits))


def _pe_person_ruc(value: str) -> bool:
    """PE RUC of a person (10..., 15..., 17...); 20... is a company's."""
    from stdnum.pe import ruc

    digits = _SEPARATORS.sub("", value)
    return digits[:2] in ("10", "15", "17") and bool(ruc.is_valid(digits))


def _mx_person_rfc(value: str) -> bool:
    """MX RFC of a person: 4 letters, the birth date, 3 characters (a company's has 3 letters)."""
    from stdnum.mx import rfc

    v = _SEPARATORS.sub("", value).upper()
    return len(v) == 13 and v[:4].isalpha() and bool(rfc.is_valid(v))


def _au_medicare(value: str) -> bool:
    """AU Medicare card number: 10 digits (11 with the person's reference), the first 2 to 6, the ninth
    the weighted sum (1, 3, 7, 9, 1, 3, 7, 9) of the first eight mod 10."""
    digits = _SEPARATORS.sub("", value)
    if len(digits) not in (10, 11) or not digits.isdigit() or digits[0] not in "23456":
        return False
    return sum(int(d) * w for d, w in zip(digits[:8], (1, 3, 7, 9, 1, 3, 7, 9), strict=True)) % 10 == int(digits[8])


_PERSONAL_ID_FUNCTIONS: dict[str, Callable[[str], bool]] = {
    "pe.cui": _pe_dni,
    "hu.adoazonosito": _hu_tax_id,
    "pt.nif": _pt_person_nif,
    "pe.ruc": _pe_person_ruc,
    "mx.rfc": _mx_person_rfc,
    "au.medicare": _au_medicare,
    "gb.utr": lambda v: bool(_utr.is_valid(v)),
}
_PERSONAL_ID_FUNCTIONS_ONLY = {"pt.nif"}  # (the stdnum module's own check is replaced)


def _personal_id_checks() -> list[tuple[frozenset[int], Callable[[str], bool]]]:
    """(lengths without separators, check) of each personal id module."""
    checks: list[tuple[frozenset[int], Callable[[str], bool]]] = [
        (frozenset(_PERSONAL_ID_LENGTHS[name]), check) for name, check in _PERSONAL_ID_FUNCTIONS.items()
    ]
    for name in [*PERSONAL_ID_MODULES, *_PERSONAL_ID_FORMAT]:
        if name in _PERSONAL_ID_FUNCTIONS_ONLY:
            continue
        try:
            module = importlib.import_module("stdnum." + name)
        except ImportError:  # an older python-stdnum without this country
            continue
        is_valid = module.is_valid
        shape = _PERSONAL_ID_FORMAT.get(name)
        sizes = frozenset(_PERSONAL_ID_LENGTHS.get(name, range(8, 19)))
        if shape is not None:
            checks.append((sizes, lambda v, f=is_valid, r=shape: r.match(v) is not None and bool(f(v))))
        else:
            checks.append((sizes, lambda v, f=is_valid: bool(f(v))))
    return checks


_PERSONAL_ID_CHECKS = _personal_id_checks()


def _isbn_like(values: list[str]) -> bool:
    """Book numbers: most valid ISBNs, some ISBN-10s with their `X` check digit or ISBN-13s with
    their 978/979 prefix (the mod-11 of an ISBN-10 is the NHS number's)."""
    valid = [v for v in values if _isbn.is_valid(v)]
    if len(valid) < VALUE_SHARE * len(values):
        return False
    return any(v.upper().endswith("X") or v.replace("-", "")[:3] in ("978", "979") for v in valid)


def _personal_id_share(
    values: _Values, need: float, pilot_pass: int = 3, also: Callable[[str], bool] | None = None
) -> float:
    """Share of values that are personal identity numbers of some stdnum country: the modules that
    validate at least 3 of the first 10 candidates are kept, and a value counts when one of them
    validates it (a column may mix countries). Integers are also read with the leading zeros a
    number type dropped (a PESEL of 2000s births, `05262348952`)."""
    if not values.count:
        return 0.0
    mask = pc.match_substring_regex(values.text, PERSONAL_ID_RE)
    digits = pc.utf8_length(pc.replace_substring_regex(values.text, r"\D", ""))
    mask = pc.and_(mask, pc.greater_equal(digits, _PERSONAL_ID_MIN_DIGITS))
    n = pc.sum(mask).as_py() or 0
    if not n or n / values.count < need:
        return 0.0
    candidates = pc.filter(values.text, mask)
    if n > CHECK_VALUES:
        step = n / CHECK_VALUES
        checked = candidates.take(pa.array([int(i * step) for i in range(CHECK_VALUES)])).to_pylist()
    else:
        checked = candidates.to_pylist()
    as_int = pa.types.is_integer(values.type)

    def forms(v: str) -> list[tuple[str, int]]:
        n = len(_SEPARATORS.sub("", v))
        return [(v, n), (v.zfill(n + 1), n + 1), (v.zfill(n + 2), n + 2)] if as_int else [(v, n)]

    def valid(v: str, checks: list[tuple[frozenset[int], Callable[[str], bool]]]) -> bool:
        return any(n in sizes and check(f) for f, n in forms(v) for sizes, check in checks)

    pilot = checked[:PILOT_VALUES]
    kept = [c for c in _PERSONAL_ID_CHECKS if sum(valid(v, [c]) for v in pilot) >= pilot_pass]
    if not kept:
        return 0.0
    passed = sum(1 for v in checked if valid(v, kept) or (also is not None and also(v)))
    share = passed * (n / values.count) / len(checked)
    if share >= need and (_isbn_like(checked) or _company_cuit_like(checked)):
        return 0.0
    return share


def _company_cuit_like(values: list[str]) -> bool:
    """11 digits all starting 20 and none 27 (a woman's CUIT): Peru's company RUCs (20...), which pass
    Argentina's CUIT check, not a column of Argentine people's CUITs (20 men, 27 women, 23, 24)."""
    digits = [_SEPARATORS.sub("", v) for v in values]
    return sum(len(d) == 11 and d.startswith("20") for d in digits) >= VALUE_SHARE * len(digits) and sum(
        d.startswith("27") for d in digits
    ) <= 0.02 * len(digits)


# on values alone, a column of identity numbers may mix countries and kinds (Stripe's `tax_id.value`,
# `person.id_number`): the national id detector takes the tax ids' shapes too
_VALUE_ONLY_RULES = {d: [r for r in rules if r.alone] for d, rules in IDENTIFIER_RULES.items()}
_VALUE_ONLY_RULES["national_id"] = _VALUE_ONLY_RULES["national_id"] + _VALUE_ONLY_RULES["tax_id"]
_ALONE_UNION = {d: "|".join(f"(?:{r.pattern})" for r in rules) for d, rules in _VALUE_ONLY_RULES.items()}
_NAMED_UNION = {d: "|".join(f"(?:{r.pattern})" for r in rules) for d, rules in IDENTIFIER_RULES.items()}
# every identifier shape that may label a column on values alone: one regex rules most columns out
_ANY_IDENTIFIER = "|".join(f"(?:{u})" for u in _ALONE_UNION.values() if u)


# contact values wrapped in a URI scheme or a JSON list (`tel:+36-1-280-6775`, Graph's
# `businessPhones` = `["+43 1 234579784"]`): the first value, unwrapped, is judged
_WRAPPED = r"^(?i:tel:|callto:|sip:|mailto:)|^\[\s*\""
_JSON_LIST_FIRST = r"^\[\s*\"([^\"]*)\".*\]$"


class _Values:
    """The non-null sampled values of one column as stripped strings, with cheap share helpers."""

    def unwrapped(self) -> _Values | None:
        """The values with a `tel:` scheme or a JSON list taken off, when most are so wrapped."""
        if self._unwrapped is None:
            self._unwrapped = False
            wrapped = sum(self.literal_share(p, prefix=True) for p in ("tel:", "TEL:", "[", "sip:", "callto:"))
            if self.count and wrapped >= VALUE_SHARE and self.share(_WRAPPED) >= VALUE_SHARE:
                text = pc.replace_substring_regex(self.text, _JSON_LIST_FIRST, r"\1")
                text = pc.replace_substring_regex(text, r"^(?i:tel:|callto:|sip:)", "")
                inner = _Values(text)
                inner._unwrapped = False  # once
                self._unwrapped = inner
        return self._unwrapped or None

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
        keep = pc.invert(pc.is_in(pc.utf8_lower(text), value_set=PLACEHOLDERS))
        self.text = pc.filter(text, keep)
        self.count = len(self.text)
        self.has_digit = self.count and pc.sum(pc.match_substring_regex(self.text, r"\d")).as_py() / self.count
        self._any_identifier: float | None = None
        self._id_length: float | None = None
        self._unwrapped: _Values | bool | None = None
        self._lengths: pa.Array | None = None
        self._shares: dict[tuple[str, object], float] = {}  # pattern / literal / length range -> share

    def integer_span(self) -> int:
        """max - min of an integer column's sampled values (0 for other types)."""
        if not pa.types.is_integer(self.type) or not self.count:
            return 0
        bounds = pc.min_max(pc.cast(self.text, pa.int64()))
        return int(bounds["max"].as_py()) - int(bounds["min"].as_py())

    def lengths(self) -> pa.Array:
        """Each value's length in characters (computed once per column)."""
        if self._lengths is None:
            self._lengths = pc.utf8_length(self.text)
        return self._lengths

    def length_share(self, low: int, high: int) -> float:
        """Share of values ``low`` to ``high`` characters long."""
        if not self.count:
            return 0.0
        key = ("len", (low, high))
        if key not in self._shares:
            lengths = self.lengths()
            inside = pc.and_(pc.greater_equal(lengths, low), pc.less_equal(lengths, high))
            self._shares[key] = pc.sum(inside).as_py() / self.count
        return self._shares[key]

    def literal_share(self, text: str, prefix: bool = False) -> float:
        """Share of values containing (or, with ``prefix``, starting with) ``text``: no regex to compile."""
        if not self.count:
            return 0.0
        key = ("prefix" if prefix else "literal", text)
        if key not in self._shares:
            found = pc.starts_with(self.text, text) if prefix else pc.match_substring(self.text, text)
            self._shares[key] = pc.sum(found).as_py() / self.count
        return self._shares[key]

    def id_length(self) -> float:
        """Share of values 6 to 48 characters long (computed once per column)."""
        if self._id_length is None:
            self._id_length = self.length_share(6, 48)
        return self._id_length

    def any_identifier(self) -> float:
        """Share of values with the shape of some identifier (computed once per column)."""
        if self._any_identifier is None:
            self._any_identifier = self.share(_ANY_IDENTIFIER)
        return self._any_identifier

    def share(self, pattern: str, check: Callable[[str], bool] | None = None, need: float = 0.0) -> float:
        """Share of values matching ``pattern`` (and ``check``, run on at most ``CHECK_VALUES`` of
        them). With ``need``, gives up with 0.0 as soon as that share can no longer be reached."""
        if not self.count:
            return 0.0
        if check is None and ("re", pattern) in self._shares:
            return self._shares[("re", pattern)]
        mask = pc.match_substring_regex(self.text, pattern)
        if check is None:
            self._shares[("re", pattern)] = pc.sum(mask).as_py() / self.count
            return self._shares[("re", pattern)]
        n = pc.sum(mask).as_py() or 0
        if not n or n / self.count < need:
            return 0.0
        candidates = pc.filter(self.text, mask)
        if n > CHECK_VALUES:  # estimate from evenly spread candidates
            step = n / CHECK_VALUES
            checked = candidates.take(pa.array([int(i * step) for i in range(CHECK_VALUES)])).to_pylist()
        else:
            checked = candidates.to_pylist()
        scale = n / self.count / len(checked)
        allowed = len(checked) - need / scale  # failures that still leave ``need`` reachable
        passed = failed = 0
        for i, value in enumerate(checked, start=1):
            if check(value):
                passed += 1
            else:
                failed += 1
                if need and failed > allowed:
                    return 0.0
            if need and i == PILOT_VALUES and passed < PILOT_PASS and len(checked) >= 2 * PILOT_VALUES:
                return 0.0  # 3 of the first 10 cannot come from a column where 80 % pass (p < 0.001)
        return passed * scale

    def share_any(self, rules: list[ValueRule], union: str, need: float = 0.0) -> float:
        """Share of values matching at least one of ``rules`` (each with its check; ``union`` is the
        union of their patterns), estimated on at most ``CHECK_VALUES`` candidates; with ``need``, 0.0
        as soon as it can no longer be reached."""
        if not self.count:
            return 0.0
        return self.share(union, lambda value: any(rule.matches(value) for rule in rules), need)

    def share_where(self, check: Callable[[str], bool]) -> float:
        """Share of values passing ``check``, estimated on at most ``CHECK_VALUES`` of them."""
        return self.share(".", check)


# names of product or book codes: their check digits (EAN-13, ISBN) are some identity numbers' too
PRODUCT_CODE_NAME = _words(
    "isbn", "isbn_?1[03]", "ean", "ean_?1[34]", "upc", "gtin", "barcode", "bar_code", "sku", "asin"
)  # fmt: skip


def _rules_share(detector: str, values: _Values, name_matched: bool) -> float:
    """Share of values that are some identifier of ``detector`` (several countries' together)."""
    if name_matched:
        share = values.share_any(IDENTIFIER_RULES[detector], _NAMED_UNION[detector])
        if detector == "national_id" and share < VALUE_SHARE:
            share = max(share, _personal_id_share(values, 0.0))
        return share
    if values.has_digit < VALUE_SHARE or values.id_length() < VALUE_SHARE:
        return 0.0  # every identifier has digits and 6 to 48 characters
    if pa.types.is_integer(values.type) and 0 < values.integer_span() < DENSE_KEYS * values.count:
        return 0.0  # a run of keys
    share = 0.0
    if values.any_identifier() >= VALUE_SHARE:
        share = values.share_any(_VALUE_ONLY_RULES[detector], _ALONE_UNION[detector], VALUE_SHARE)
    if detector == "national_id":
        if share < VALUE_SHARE and values.share(MRN_TAGGED_RE) >= MRN_TAGGED_SHARE:
            # patient identifiers, some of them written with their type (`MRN9835021`, `77159112`)
            share = values.share(PATIENT_ID_RE, None)
        if share < VALUE_SHARE and values.share(r"^\d{3}-\d{2}-\d{4}$", _ssn) >= SSN_WRITTEN_SHARE:
            # SSNs written both ways (`113-15-3396`, `370056639`): bare digits count beside dashed ones
            share = values.share(r"^\d{3}-?\d{2}-?\d{4}$", _ssn, VALUE_SHARE)
        if share < VALUE_SHARE:
            # (a few codes repeated over and over, `162673000`, are codes of things, not people's numbers)
            if len(pc.unique(values.text)) >= min(PERSONAL_ID_DISTINCT * values.count, PERSONAL_ID_MIN_DISTINCT):
                share = _personal_id_share(values, VALUE_SHARE)
        elif _isbn_like(_spread(values, CHECK_VALUES)):
            share = 0.0  # ISBN-10s pass the NHS number's mod 11
    return share


SSN_WRITTEN_SHARE = 0.3
# on values alone, identity numbers of a stdnum country must be half distinct, or at least 20 different
PERSONAL_ID_DISTINCT, PERSONAL_ID_MIN_DISTINCT = 0.5, 20
# medical record numbers: a column where a fifth of the values say `MRN` and all are id-shaped
MRN_TAGGED_RE = r"^(?i:MRN|MR|PID|PATID|PATIENT)[-: #]?\d{5,}$"
MRN_TAGGED_SHARE = 0.2
PATIENT_ID_RE = r"^[A-Za-z]{0,7}[-: #]?\d{5,}$|^\d{3}-\d{2}-\d{4}$"


def _national_id_rule(value: str) -> bool:
    return any(rule.matches(value) for rule in _VALUE_ONLY_RULES["national_id"])


_PASSPORT_SHAPE = re.compile(PASSPORT_SHAPE_RE)
_LEADING_LETTERS = re.compile(r"[A-Z]+")


def _national_id_or_passport(value: str) -> bool:
    return _national_id_rule(value) or _PASSPORT_SHAPE.match(value) is not None


def _passports(values: _Values) -> bool:
    """Passport numbers (``PASSPORT_SHAPE_RE``), nearly all different, a good share with letters, and no
    letter prefix common to many (an order number's `SO`, a SKU's family): not order numbers or codes."""
    if values.count < MIN_VALUES_TO_CONTRADICT or len(pc.unique(values.text)) < 0.9 * values.count:
        return False
    if values.share(PASSPORT_SHAPE_RE) < VALUE_SHARE or values.has_digit < VALUE_SHARE:
        return False
    lettered = [v for v in _spread(values, CHECK_VALUES) if v[:1].isalpha()]
    if len(lettered) < max(MIN_VALUES_TO_CONTRADICT, PASSPORT_LETTERED_SHARE * min(values.count, CHECK_VALUES)):
        return False
    prefixes = Counter(_LEADING_LETTERS.match(v).group() for v in lettered)  # type: ignore[union-attr]
    return prefixes.most_common(1)[0][1] <= PASSPORT_PREFIX_MAX * len(lettered)


def _spread(values: _Values, k: int) -> list[str]:
    """At most ``k`` evenly spread values of the column."""
    if values.count <= k:
        return values.text.to_pylist()
    step = values.count / k
    return values.text.take(pa.array([int(i * step) for i in range(k)])).to_pylist()


def _person_name_share(values: _Values, pattern: str) -> float:
    """Share of name-shaped values; the names of the scripts without case only when such letters are
    there (their Unicode classes make the regex slower to compile)."""
    if values.share(CASELESS_BLOCKS_RE) >= CONTRADICTION_SHARE:
        return values.share(pattern + "|" + CASELESS_NAME_RE)
    return values.share(pattern)


# a display name: the full name, the given name and an initial (`Paul S.`), or the given name alone
DISPLAY_INITIAL_RE = rf"^{_WORD}(?: {_WORD})? {_UP}\.$"
DISPLAY_NAME_RE = rf"{DISPLAY_INITIAL_RE}|^{_WORD}$"
DISPLAY_INITIAL_SHARE = 0.1  # `Given I.` on a tenth of the rows: people's display names, not single words
DISPLAY_NAME_DISTINCT = 0.8


def _display_name_share(values: _Values, full: float) -> float:
    """Share of display names under a `name` alone (full names, `Paul S.`, `Oxana`): only when some values
    are a given name and an initial, nearly all are different and spell known names (the share of full
    names ``full`` is given); else ``full``."""
    initial = values.share(DISPLAY_INITIAL_RE)
    if initial < DISPLAY_INITIAL_SHARE or len(pc.unique(values.text)) < DISPLAY_NAME_DISTINCT * values.count:
        return full
    share = values.share(PERSON_NAME_RE + "|" + DISPLAY_NAME_RE)
    return share if share >= VALUE_SHARE and _name_evidence(values) >= NAME_EVIDENCE_SHARE else full


# -- a names gazetteer: given and family names of many locales (scripts/make_name_gazetteer.py) ------

GAZETTEER_FILE = Path(__file__).with_name("person_names.txt.gz")
NAME_EVIDENCE_SHARE = 0.5  # share of name-shaped values with real name words in them
LOGIN_NAME_MIN = 4  # the shortest name looked for inside a login (`ana` is in too many words)
_NAME_TOKEN_SPLIT = re.compile(r"[\s,.'\u2019()-]+")


def fold_name_token(token: str) -> str:
    """A name word as the gazetteer holds it: lower case, accents dropped (other scripts kept)."""
    text = unicodedata.normalize("NFKD", token.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("ł", "l").replace("ø", "o")


@functools.cache
def _gazetteer() -> frozenset[str]:
    try:
        return frozenset(gzip.decompress(GAZETTEER_FILE.read_bytes()).decode("utf-8").split())
    except OSError:  # an installation without the data file: no name evidence, the rules needing it stay off
        return frozenset()


def _name_words(value: str) -> tuple[int, int]:
    """(words of two letters or more, those the gazetteer knows) in a value."""
    words = [fold_name_token(w) for w in _NAME_TOKEN_SPLIT.split(value) if len(w) >= 2]
    known = _gazetteer()
    return len(words), sum(w in known for w in words)


def _has_name_words(value: str) -> bool:
    """More than half the words are known names (`Stacy Day`, `Emma Flores Carrizo`; not `Visa Signature`)."""
    total, known = _name_words(value)
    return known > 0 and known * 2 > total


def _name_evidence(values: _Values) -> float:
    """Share of values half of whose words (at least one) are known given or family names."""
    return values.share_where(_has_name_words)


def _login_with_name(value: str) -> bool:
    """A login that spells names (`ashleydavid`, `jvargas`, `o-hullaincharmaine`, `nagi66`): each run of
    letters is known names (of four letters or more, or one of three alone), an initial allowed before
    or after them, and at least one run has a name (`svc_backup`, `terraform`, `admin` do not)."""
    text = fold_name_token(value.split("@", 1)[0])
    parts = [p for p in re.split(r"[^a-z]+", text) if p]
    if not parts or len(text) > 40:
        return False
    named = False
    for part in parts:
        if len(part) == 1:
            continue
        if not _spells_names(part):
            return False
        named = True
    return named


def _spells_names(part: str) -> bool:
    known = _gazetteer()
    n = len(part)
    for start in (0, 1):
        for end in (n, n - 1):
            if end - start < LOGIN_NAME_MIN - 1:
                continue
            reach = {start}
            for i in range(start, end):
                if i not in reach:
                    continue
                for j in range(i + 3, end + 1):
                    if part[i:j] in known and (j - i >= LOGIN_NAME_MIN or (i == start and j == end)):
                        reach.add(j)
            if end in reach:
                return True
    return False


def _names_known(values: _Values) -> bool:
    """Enough values have known names in them; always true of scripts without case (CJK, Thai...), whose
    names the gazetteer does not hold in their words, and without a gazetteer."""
    if not _gazetteer() or values.share(CASELESS_BLOCKS_RE) >= CONTRADICTION_SHARE:
        return True
    return _name_evidence(values) >= NAME_EVIDENCE_SHARE


def _mostly_distinct(values: _Values) -> bool:
    """At least 90 % distinct values: secrets, names and numbers of people repeat little."""
    return len(pc.unique(values.text)) >= 0.9 * values.count


def _value_share(detector: str, values: _Values, name_matched: bool, random_tokens: bool = True) -> float:
    """Share of sampled values that look like ``detector``; looser when the name already says so.
    ``random_tokens``: prefix-less random tokens count as credentials (not under an id's or a hash's name)."""
    t = values.type
    if detector in IDENTIFIER_RULES:
        if not values.has_digit and detector != "bank_code":
            return 0.0
        return _rules_share(detector, values, name_matched)
    if detector in ("phone", "email") and (inner := values.unwrapped()) is not None:
        return _value_share(detector, inner, name_matched, random_tokens)
    if detector == "email":
        share = values.share(EMAIL_PLAIN_RE)
        if (
            share < VALUE_SHARE
            and values.literal_share("@") >= VALUE_SHARE
            and values.share(r">$|^(?i:mailto):") >= CONTRADICTION_SHARE
        ):
            share = values.share(EMAIL_RE)  # (display names and `mailto:`: a longer regex, only when needed)
        if share >= VALUE_SHARE and values.share(MACHINE_EMAIL_RE) >= VALUE_SHARE:
            return 0.0  # service accounts' addresses name a program, not a person
        if name_matched and share < CONTRADICTION_SHARE:
            # login ids where an address was expected (`SKING` in a sample HR schema's `email`):
            # enough not to contradict the name, never enough to confirm it
            login = values.share(r"^[A-Za-z][A-Za-z0-9._%+-]{1,63}$") - values.share(r"^[A-Fa-f][0-9A-Fa-f]{5,63}$")
            if len(pc.unique(values.text)) < PERSON_NAME_ALONE_DISTINCT * values.count:
                return 0.0  # a few words again and again (`work`, `home`): a kind of address, not logins
            return min(login, CONTRADICTION_SHARE)  # (hex strings are ids or hashes, not logins)
        return share
    if detector in DIGIT_DETECTORS and not values.has_digit:
        return 0.0
    if detector == "phone":
        if pa.types.is_integer(t):
            if name_matched:
                return values.share(r"^\d{7,15}$")
            # E.164 digits stored as integers: valid numbers of the country their prefix names, spread
            # wide (a run of keys `14155550000`, `14155550001`... is not a phone column)
            if values.integer_span() < 1000 * values.count:
                return 0.0
            return values.share(r"^[1-9]\d{7,14}$", _phone_e164_digits, VALUE_SHARE)
        if name_matched:
            parsed = values.share(PHONE_ANY_RE, _phone_named)
            if parsed >= CONTRADICTION_SHARE:
                return parsed
            # numbers libphonenumber rejects (a digit too many) are still phone-shaped under a phone
            # name: enough not to contradict the name, never enough to confirm it
            return min(values.share(PHONE_LOOSE_RE, _phone_digits), CONTRADICTION_SHARE)
        share = values.share(PHONE_ANY_RE, _phone_unnamed, VALUE_SHARE)
        if (
            share < VALUE_SHARE
            and values.literal_share("+", prefix=True) + values.literal_share("00", prefix=True)
            >= MIXED_PHONES_INTERNATIONAL
        ):
            # a column of phones as people type them: some international numbers (formatted and possible
            # for libphonenumber) make the rest, national notations of any country, count if phone-shaped
            intl = values.share(r"^(\+|00)[1-9]", _phone_international_formatted)
            if intl >= MIXED_PHONES_INTERNATIONAL and _mostly_distinct(values):
                share = values.share(PHONE_TYPED_RE, _phone_shaped, VALUE_SHARE)
        return share
    if detector == "ip_address":
        return values.share(IPV4_RE) + values.share(IPV6_SHAPE_RE, _ipv6)
    if detector == "credential":
        check = _known_secret if random_tokens or name_matched else _known_prefixed_secret
        known = values.share(SECRET_PREFIX_RE, check, 0.0 if name_matched else VALUE_SHARE)
        if known < VALUE_SHARE and (random_tokens or name_matched) and values.length_share(40, 66) >= VALUE_SHARE:
            # Fernet keys, AWS secret access keys, Django SECRET_KEYs: no prefix, a length and an alphabet
            # (tested in Python: RE2 compiles long counted repetitions into big programs on every call)
            known = max(known, values.share_where(_prefixless_shape_secret))
        if (
            known >= VALUE_SHARE
            and not name_matched
            and values.share(_FERNET.pattern) >= VALUE_SHARE
            and values.literal_share("-") + values.literal_share("_") < FERNET_URLSAFE_SHARE
        ):
            known = 0.0  # 43 characters and `=` without `-` or `_`: a base64 SHA-256 digest as likely
        if name_matched:
            return max(known, values.share_where(_high_entropy))
        if (
            random_tokens
            and known < VALUE_SHARE
            and values.count >= MIN_VALUES_TO_CONTRADICT
            and values.length_share(RANDOM_TOKEN_MIN_LEN, 10_000) >= VALUE_SHARE
        ):
            # random base62 / base64url tokens without a prefix, each one different
            token = values.share(RANDOM_TOKEN_RE, _random_token, VALUE_SHARE)
            if token >= VALUE_SHARE and _mostly_distinct(values):
                return token
        if (
            random_tokens
            and known < VALUE_SHARE
            and values.count >= MIN_VALUES_TO_CONTRADICT
            and values.length_share(8, 64) >= VALUE_SHARE
            and values.literal_share(" ") <= 1 - VALUE_SHARE
            and values.share(r"[a-z].*[A-Z]|[A-Z].*[a-z]") >= VALUE_SHARE
            and _mostly_distinct(values)
        ):
            # plain-text passwords: mixed-case strings without spaces, many with a symbol inside
            symbols = values.share_where(lambda v: _PASSWORD_SYMBOL.search(v) is not None)
            if symbols >= PASSWORD_SYMBOL_SHARE:
                return values.share_where(_password_like)
        return known
    if detector == "postal_address":
        street = values.share(STREET_RE + "|" + MULTILINE_RE, _street_or_multiline_address)
        if street < VALUE_SHARE and values.share(r"\d.*, ") >= VALUE_SHARE:  # (a cheap test first)
            street = max(street, values.share(STREET_RE + "|" + ONE_LINE_ADDRESS_RE))
            if street < VALUE_SHARE:
                street = max(street, values.share(STREET_RE + "|" + ONE_LINE_ADDRESS_RE + "|" + ADDRESS_STREET_WORD_RE))
        return max(street, values.share(POSTCODE_RE)) if name_matched else street
    if detector == "person_name":
        if name_matched:
            return values.share(PERSON_WORD_RE)
        # on values alone: name-shaped, diverse, and no company, place or product word among them (cheap
        # tests first: the name regex's Unicode classes cost milliseconds to compile on every call)
        if (
            values.has_digit > 1 - VALUE_SHARE
            or values.share(r"^[^\d\s,;:@/|_=<>()\[\]{}#]{1,30}( [^\d\s,;:@/|_=<>()\[\]{}#]{1,30}){0,5}$") < VALUE_SHARE
        ):
            return 0.0
        if len(pc.unique(values.text)) < PERSON_NAME_ALONE_DISTINCT * values.count:
            return 0.0
        if values.share(ORGANISATION_RE) >= 0.05 or values.share(PLACE_OR_THING_RE) >= 0.05:
            return 0.0
        share = _person_name_share(values, PERSON_NAME_ALONE_RE)
        if share >= VALUE_SHARE and not _names_known(values):
            return 0.0  # `SeaGreen Nostrum Sneaker`: name-shaped, but no given or family name in it
        return share if share >= VALUE_SHARE else 0.0
    if detector == "date_of_birth":
        if pa.types.is_integer(t):  # yyyymmdd; a year or a month of birth alone is no date of birth
            return values.share(r"^(19|20)\d\d[01]\d[0-3]\d$") if name_matched else 0.0
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            return 1.0 if name_matched else 0.0
        if not name_matched:
            return 0.0
        share = values.share(DATE_RE)
        if share < CONTRADICTION_SHARE:
            # `March 3, 1985`, `19850312`, a birthday `03/12`: a date is enough not to contradict the
            # name; a year (`1985`) or a month (`3`) alone does contradict it
            return min(values.share(DATE_LOOSE_RE), CONTRADICTION_SHARE)
        return share
    return 0.0


# detectors that may label a column on values alone (with their confidence at a 100 % share)
VALUE_ONLY = {
    "email": 0.9,
    "phone": 0.8,
    "national_id": 0.9,
    "tax_id": 0.9,
    "drivers_license": 0.9,
    "payment_card": 0.95,
    "iban": 0.95,
    "ip_address": 0.85,
    "credential": 0.9,
    "postal_address": 0.75,
    "person_name": 0.7,  # only diverse name-shaped values without company, place or product words
}
# value shapes a name match must be consistent with (else the name is taken as a false friend)
CONTRADICTABLE = {
    "email",
    "phone",
    "payment_card",
    "iban",
    "bank_code",
    "ip_address",
    "national_id",
    "tax_id",
    "passport",
    "drivers_license",
    "date_of_birth",
}
DIGITS_AS_INTEGERS = {"phone", "national_id", "tax_id", "passport", "drivers_license", "payment_card", "iban"}


def _type_allows(detector: str, t: pa.DataType) -> bool:
    if pa.types.is_boolean(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return False
    if pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t):
        return detector == "date_of_birth"
    if pa.types.is_integer(t):
        return detector in DIGITS_AS_INTEGERS or detector in {"postal_address", "bank_code", "date_of_birth"}
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t) or pa.types.is_null(t)


def _name_hit(detector: str, pattern: re.Pattern[str], norm: str) -> bool:
    if not pattern.search(norm):
        return False
    if detector == "credential":
        if CREDENTIAL_ATTRIBUTE_END.search(norm):
            return False
        if CREDENTIAL_SOFT_NOT.search(norm) and not CREDENTIAL_NOUN_END.search(norm):
            return False
        return not CREDENTIAL_NOT.search(norm)
    if detector in IDENTIFIER_DETECTORS:
        if detector == "national_id" and NAME_RULES["phone"][1].search(norm):
            return False  # `phone_national_number`: a phone number's national part
        if detector in {"payment_card", "iban", "bank_code"} and LAST_DIGITS.search(norm):
            return False
        if detector in {"payment_card", "iban"} and KEY_SUFFIX.search(norm):
            return False
        return not ATTRIBUTE_NOT.search(norm)
    if detector == "email":
        # (`EMailUserPW`, `mail_password`: the mail account's password, not an address)
        return not EMAIL_NOT.search(norm) and not PASSWORD_NAME_END.search(norm)
    if detector == "postal_address":
        return not ADDRESS_NOT.search(norm)
    return True


def detect_column(
    name: str,
    array: pa.ChunkedArray | pa.Array | None,
    *,
    special_categories: bool = False,
    bank_codes: bool = False,
    bank_context: bool = False,
    _nested: bool = False,
) -> Finding | None:
    """The strongest finding for one column, or None. ``special_categories`` adds the GDPR special
    categories (race, religion, health conditions...) by name, ``bank_codes`` routing numbers and sort
    codes; ``bank_context`` (the table also has
    an IBAN, BIC or bank column) makes `account_number` a bank account number."""
    norm = normalize_name(name)
    opted_in = {"special_categories": special_categories, "bank_codes": bank_codes}
    values = _Values(array) if array is not None else None
    dtype = values.type if values is not None else pa.string()
    id_like = bool(ID_LIKE_NAME.search(norm))
    best: Finding | None = None
    for detector, (label, pattern, name_conf) in NAME_RULES.items():
        if not _type_allows(detector, dtype) or (
            detector in OPT_IN_DETECTORS and not opted_in[OPT_IN_DETECTORS[detector]]
        ):
            continue
        if (
            detector == "credential"
            and values is not None
            and values.count >= MIN_VALUES_TO_CONTRADICT
            and values.share(r"^\{.*\}$") >= VALUE_SHARE
            and values.share_where(_json_with_secret) < CONTRADICTION_SHARE
        ):
            continue  # JSON parameters (`{"hashIterations": 27500, "algorithm": ...}`) hold no secret
        if detector == "postal_address" and ORGANISATION_PLACE.search(norm):
            continue  # an organisation's address (`office_address`, `warehouse_street`) is no personal data
        name_hit = _name_hit(detector, pattern, norm)
        if (
            detector == "credential"
            and name_hit
            and values is not None
            and values.count >= MIN_VALUES_TO_CONTRADICT
            and values.share(r"^\d{1,3}$") >= VALUE_SHARE
        ):
            continue  # version counters (`SyncToken` = 0, 1, 2...) are no secret
        if detector == "credential" and name_hit and values is not None and _not_secrets(values, norm):
            continue  # flags, timestamps, regions, service names under a credential's name
        if detector == "iban" and bank_context and not name_hit and BANK_ACCOUNT_IN_CONTEXT.match(norm):
            name_hit = True
        if (
            detector == "iban"
            and not name_hit
            and values is not None
            and values.count >= MIN_VALUES_TO_CONTRADICT
            and AMBIGUOUS_BANK_ACCOUNT.search(norm)
            and not ATTRIBUTE_NOT.search(norm)
            and not KEY_SUFFIX.search(norm)
            and not LAST_DIGITS.search(norm)
        ):
            # `account_number`, `accountNumber`, `ach_account`, `superFund_MemberNumber`: a bank (or fund)
            # account number when the values are account numbers (digits, a branch or BSB prefix, an
            # IBAN), not a customer code (`CD451796`) or a run of keys
            share = max(values.share(BANK_ACCOUNT_VALUE_RE), _rules_share("iban", values, False))
            if values.share(r"^000\d+$") >= VALUE_SHARE:
                share = 0.0  # `000064980`: a counter padded with zeros (a client's account key), not a bank's
            if share >= VALUE_SHARE and not (0 < values.integer_span() < DENSE_KEYS * values.count):
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        if (
            detector == "credential"
            and not name_hit
            and AMBIGUOUS_CREDENTIAL.search(norm)
            and not KEY_NOT.search(norm)
            and not CREDENTIAL_NOT.search(norm)
        ):
            # `key` (a DRF token), `secure_key`, `key_hash`: random strings, all different, are a secret
            share = 0.0
            if values is not None and values.count >= MIN_VALUES_TO_CONTRADICT and _mostly_distinct(values):
                share = values.share_where(_opaque_secret)
            if share >= VALUE_SHARE:
                best = _better(best, Finding(name, label, "both", round(min(0.95, 0.7 + 0.25 * share), 2), detector))
                continue
        if detector == "national_id" and not name_hit and AMBIGUOUS_ID_NUMBER.search(norm):
            # `IDNUMBER`, `id_no`: an identity number when the values are (checked), else a code
            share = 0.0
            if values is not None and values.count:
                share = _rules_share(detector, values, False)
                if share < VALUE_SHARE:  # several countries' numbers (and some passports) in one column
                    share = _personal_id_share(values, 0.0, 1, _national_id_or_passport)
                if share < VALUE_SHARE and _passports(values):
                    share = VALUE_SHARE
            if share >= VALUE_SHARE / 2:
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        if detector == "national_id" and not name_hit and AMBIGUOUS_MEMBER_ID.match(norm):
            # `subscriber_id`: an insurance member id when the values look like one, else a key
            share = values.share(MEMBER_ID_RE) if values is not None else 0.0
            if share >= VALUE_SHARE:
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        if detector == "person_name" and not name_hit and AMBIGUOUS_NAME_PART.match(norm):
            share = values.share(NAME_PART_RE) if values is not None else 0.0
            caseless = values.share(NAME_PART_CASELESS_RE) if values is not None and share < VALUE_SHARE else 0.0
            if share < VALUE_SHARE and share + caseless >= VALUE_SHARE:
                share = VALUE_SHARE  # names in scripts without case (`강`, `อรจิรา`, `হাকিম`) among them
            if values is not None and share < VALUE_SHARE and values.share(NAME_PART_CAPS_RE) >= VALUE_SHARE:
                share = values.share(NAME_PART_CAPS_RE) if _name_evidence(values) >= NAME_EVIDENCE_SHARE else 0.0
            if share >= VALUE_SHARE:
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        if (
            detector == "person_name"
            and not name_hit
            and (
                AMBIGUOUS_PERSON_NAME.match(norm)
                or (
                    AMBIGUOUS_SOMEONES_NAME.search(norm)
                    and (not NAME_OF_A_THING.search(norm) or PERSON_ROLE_END.search(norm))
                )
            )
        ):
            # `name` alone: a person's name only when the values say so
            share = _person_name_share(values, PERSON_NAME_RE) if values is not None else 0.0
            if share < VALUE_SHARE and values is not None and values.count >= MIN_VALUES_TO_CONTRADICT:
                share = _display_name_share(values, share)
            if share >= VALUE_SHARE and values is not None and values.share(ORGANISATION_RE) >= CONTRADICTION_SHARE / 2:
                share = 0.0  # `Edge Communications`, `Pyramid Construction Inc.`: organisations
            if share >= VALUE_SHARE and values is not None and not _names_known(values):
                share = 0.0  # `Everyday Saver`, `Plaid Checking`: an account's or a product's name
            if share >= VALUE_SHARE:
                best = _better(best, Finding(name, label, "both", round(min(0.9, 0.6 + 0.3 * share), 2), detector))
            continue
        if not name_hit and (
            detector not in VALUE_ONLY
            or (best is not None and best.reason != "name" and best.confidence >= VALUE_ONLY[detector])
        ):
            continue  # the values cannot make this detector's finding the strongest
        if (
            not name_hit
            and detector == "person_name"
            and (id_like or (NAME_OF_A_THING.search(norm) and not OPAQUE_NAME.match(norm)))
        ):
            continue  # `product_name`, `film_title`: the name of a thing, whatever its values look like
            # (`field_p`, `attr_3` say nothing: their values decide)
        if not name_hit and detector in IDENTIFIER_DETECTORS and PRODUCT_CODE_NAME.search(norm):
            continue  # an ISBN, EAN or UPC column is not read as identity numbers
        share = 0.0
        if values is not None and values.count:
            if id_like and detector in DIGIT_DETECTORS and not name_hit:
                share = 0.0
            else:
                random_tokens = not (
                    id_like or NOT_A_SECRET_NAME.search(norm) or CREDENTIAL_NOT.search(norm) or KEY_NOT.search(norm)
                )
                share = _value_share(detector, values, name_hit, random_tokens)
        if name_hit:
            if (
                detector in CONTRADICTABLE
                and values is not None
                and values.count >= MIN_VALUES_TO_CONTRADICT
                and share < CONTRADICTION_SHARE
            ):
                continue  # the values contradict the name (e.g. `mobile_platform` = iOS/Android)
            if (
                detector in IDENTIFIER_DETECTORS
                and values is not None
                and values.count >= MIN_VALUES_TO_CONTRADICT
                and 0 < values.integer_span() < DENSE_KEYS * values.count
            ):
                continue  # a run of integer keys (`passport_id` = 1, 2, 3...) is no document number
            if share >= VALUE_SHARE:
                finding = Finding(name, label, "both", round(min(0.99, name_conf + 0.15 * share), 2), detector)
            else:
                finding = Finding(name, label, "name", name_conf, detector)
            best = _better(best, finding)
        elif share >= VALUE_SHARE:
            best = _better(best, Finding(name, label, "values", round(VALUE_ONLY[detector] * share, 2), detector))
    if (best is None or best.reason == "name") and values is not None and HANDLE_NAME.search(norm):
        best = _better_or_none(best, _handle_finding(name, norm, values))
    if best is None and (hl7 := HL7_PERSON_FIELDS.get(norm)) is not None:
        best = Finding(name, hl7[0], "name", 0.8, hl7[1])  # (its name says it: no need to split the values)
    if best is None and values is not None and values.count >= MIN_VALUES_TO_CONTRADICT:
        best = _second_look(name, norm, values, unwrap=not _nested)
    if best is not None and values is not None and _not_personal(best, norm, values):
        return None
    if best is None and values is not None and values.count >= MIN_VALUES_TO_CONTRADICT:
        best = _generic_look(name, norm, values)
    if (
        best is None
        and not _nested
        and "_" not in norm
        and len(norm) >= 7
        and not any(p.search(norm) for p in _NO_SEGMENTING)
    ):
        # a name written without separators (`driverslicensenumber`, `billzip`, `guarantordob`)
        split = _segment_name(norm)
        if split is not None:
            found = detect_column(
                split,
                array,
                special_categories=special_categories,
                bank_codes=bank_codes,
                bank_context=bank_context,
                _nested=True,
            )
            if found is not None:
                best = Finding(name, found.label, found.reason, found.confidence, found.detector)
    return best


_NO_SEGMENTING = (AMBIGUOUS_ID_NUMBER, AMBIGUOUS_MEMBER_ID, AMBIGUOUS_CREDENTIAL, AMBIGUOUS_BANK_ACCOUNT, ID_LIKE_NAME)

# words of the name rules and their usual modifiers, to split a name written without separators
_NAME_MODIFIERS = (
    "bill billing ship shipping home default guarantor insurance insured customer client student employee patient"
    " primary secondary mailing postal web portal first last middle given family contact emergency mobile work"
    " personal date of birth dob zip addr address day cell phone number num no id ids card holder account routing"
    " social security tax national passport driver drivers license licence member subscriber policy parent guardian"
    " mother father spouse maiden user login e mail email name names full display short nick sortable street city"
    " state province postcode post code line house apt suite ip mac device calling station framed served"
)


@functools.cache
def _name_vocabulary() -> frozenset[str]:
    words = set(_NAME_MODIFIERS.split())
    for _label, pattern, _conf in NAME_RULES.values():
        words.update(re.findall(r"[a-z]{3,}", pattern.pattern))
    return frozenset(words)


def _segment_name(norm: str) -> str | None:
    """`driverslicensenumber` -> `drivers_license_number` when the whole name splits into known words
    (a number at the end allowed); None otherwise."""
    m = re.fullmatch(r"([a-z]+?)(\d*)", norm)
    if m is None:
        return None
    text, digits = m.groups()
    vocab = _name_vocabulary()
    best: list[list[str] | None] = [[]] + [None] * len(text)
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - 16), end):
            prev = best[start]
            if (
                prev is not None
                and text[start:end] in vocab
                and (
                    best[end] is None or len(prev) + 1 < len(best[end])  # type: ignore[arg-type]
                )
            ):
                best[end] = [*prev, text[start:end]]
    parts = best[len(text)]
    if parts is None or len(parts) < 2:
        return None
    return "_".join(parts) + (f"_{digits}" if digits else "")


# people in structured text: lists of e-mails, `name // domain` e-mails (EDI, PNR), `Family, Given` and
# `SURNAME/GIVEN` names, JSON objects of a person (each key's values judged as a column of their own),
# subscriber identities (IMSI, MSISDN, device MAC) under a telecom or RADIUS name
_EMAIL_ONE = re.compile(rf"^{_EMAIL_CORE}$")
_EMAIL_LIST_SPLIT = re.compile(r"\s*[,;]\s*")
_SLASHED_EMAIL = re.compile(r"^[\w.+%-]+//[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}$")
_FAMILY_GIVEN = re.compile(
    r"^([^\W\d_][\w'\u2019.-]+(?: [^\W\d_][\w'\u2019.-]+)?), ?([^\W\d_][\w'.-]*(?: [^\W\d_][\w'.-]*){0,2})$"
)
_SURNAME_SLASH_GIVEN = re.compile(r"^([A-Z][A-Z' -]+)/([A-Z][A-Z' -]*?)(?: (?:MR|MRS|MS|MISS|MSTR|DR|CHD|INF))?$")
SUBSCRIBER_NAME = re.compile(
    r"imsi|msisdn|calling_?station|called_?station|subscriber|(?:^|_)(?:ue|handset|sim)_?(?:id|identity)?$"
)
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}$|^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$")
_IMSI = re.compile(r"^[2-7]\d{14}$")


# postcodes of many countries in an opaque column: shapes of their own (NL `1234 AB`, JP `〒100-0001`,
# UK, CA, IE Eircode) in half of them, or two countries' notations mixed (PL `00-950`, CZ `110 00`,
# BR `01310-100`, PT `1000-001`, US ZIP+4); bare 4-5 digit numbers (KR, DE, US) need a name
_POSTCODE_OWN = re.compile(
    r"^(?:\d{4} ?[A-Z]{2}|〒\s?\d{3}-?\d{4}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d"
    r"|[AC-FHKNPRTV-Y]\d{2}\s?[AC-FHKNPRTV-Y0-9]{4})$"
)
_POSTCODE_MIXED = {
    "pl": re.compile(r"^\d{2}-\d{3}$"),
    "cz": re.compile(r"^\d{3} \d{2}$"),
    "jp": re.compile(r"^\d{3}-\d{4}$"),
    "br": re.compile(r"^\d{5}-\d{3}$"),
    "pt": re.compile(r"^\d{4}-\d{3}$"),
    "us": re.compile(r"^\d{5}-\d{4}$"),
    "plain": re.compile(r"^\d{4,6}$"),
}


POSTCODE_OWN_AMONG_NUMBERS = 0.1


def _postcodes(sample: list[str]) -> bool:
    head = sample[:100]
    if len(head) < 10 or len(set(head)) < 0.5 * len(head):
        return False
    own = _share(head, lambda v: _POSTCODE_OWN.match(v) is not None)
    kinds = Counter(next((k for k, r in _POSTCODE_MIXED.items() if r.match(v)), "") for v in head)
    mixed = sum(c for k, c in kinds.items() if k) / len(head)
    countries = sum(1 for k, c in kinds.items() if k and k != "plain" and c >= 0.1 * len(head))
    if own + mixed < VALUE_SHARE:
        return False
    # (bare numbers with a tenth of UK, Canadian or Dutch codes among them: a shop's buyers abroad)
    return own >= 0.5 or (own > 0 and countries >= 1) or countries >= 2 or own >= POSTCODE_OWN_AMONG_NUMBERS


# dates in notations the date rules do not read: CJK (`1985年3月7日`, `1985년 3월 7일`) and airline
# `07MAR85`; dates of birth when the name says birth, or (an opaque name) the dates are a population's
_CJK_DATE = re.compile(r"^((?:19|20)\d\d)\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?$")
_DDMMMYY = re.compile(r"^(\d{2})(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(\d{2}|\d{4})$")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
BIRTH_NAME = re.compile(r"(?:^|_)(?:dob|birth|birthday|date_of_birth|birth_?date|born|geburtsdatum|nacimiento)(?:_|$)")


def _iso_date(value: str) -> str | None:
    if (m := _CJK_DATE.match(value)) is not None:
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    if (m := _DDMMMYY.match(value.upper())) is not None:
        year = int(m.group(3))
        if year < 100:
            year += 1900 if year > datetime.date.today().year % 100 else 2000
        return f"{year}-{_MONTHS.index(m.group(2)) + 1:02d}-{m.group(1)}"
    return None


def _other_date_notation(name: str, norm: str, sample: list[str]) -> bool:
    head = sample[:30]
    if not head or _share(head, lambda v: _iso_date(v) is not None) < VALUE_SHARE:
        return False
    if BIRTH_NAME.search(norm):
        return True
    if not OPAQUE_NAME.match(norm):
        return False
    iso = [d for d in (_iso_date(v) for v in sample) if d is not None]
    return len(iso) >= VALUE_SHARE * len(sample) and _birth_dates(_Values(pa.array(iso, pa.string())))


def _share(values: list[str], test: Callable[[str], bool]) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _imsi(value: str) -> bool:
    """An IMSI (15 digits from a mobile country code), an MSISDN (E.164 digits) or a device MAC."""
    if _MAC.match(value):
        return True
    if _IMSI.match(value):
        return True  # (a mobile country code starts 2-7; the name has said telecom)
    return _phone_e164_digits(value)


def _family_given(value: str) -> bool:
    m = _FAMILY_GIVEN.match(value) or _SURNAME_SLASH_GIVEN.match(value)
    return m is not None and _has_name_words(f"{m.group(2)} {m.group(1)}".title())


def _email_list(value: str) -> bool:
    parts = [p for p in _EMAIL_LIST_SPLIT.split(value) if p]
    return len(parts) >= 1 and all(_EMAIL_ONE.match(p) for p in parts)


def _letters(word: str) -> str:
    return word.replace("'", "").replace("\u2019", "").replace("-", "")


def _cased_word(word: str) -> bool:
    """`Amina`, `Çamurcuoğlu`, `O'Neil`: a capital, then lower-case letters."""
    w = _letters(word)
    return len(w) >= 2 and w.isalpha() and w[0].isupper() and w[1:].islower()


def _caseless_word(word: str) -> bool:
    """`정수`, `玉梅`, `اسرا`: letters of a script without case."""
    return 1 <= len(word) <= 12 and word.isalpha() and not word.isupper() and not word.islower()


def _family_caps_given(value: str) -> bool:
    """`LIU Albert`: the family name in capitals first, then the given name."""
    parts = value.split(" ")
    w = _letters(parts[0])
    return (
        len(parts) in (2, 3) and len(w) >= 2 and w.isalpha() and w.isupper() and all(_cased_word(p) for p in parts[1:])
    )


SINGLE_NAME_DISTINCT = 0.9  # given or family names alone, in an opaque column: nearly all different
SINGLE_NAME_KNOWN = 0.9  # and nearly all known name words (the gazetteer has colours and cities too)


def _single_names(head: list[str]) -> bool:
    """Given or family names alone (`Amina`, `Çamurcuoğlu`, `정수`): one word each, nearly all different,
    half of those in a cased script known name words."""
    cased = [v for v in head if _cased_word(v)]
    caseless = sum(1 for v in head if _caseless_word(v))
    if len(cased) + caseless < 0.9 * len(head) or len(cased) < 0.5 * len(head):
        return False
    return _share(cased, _has_name_words) >= SINGLE_NAME_KNOWN


def _people_in_text(name: str, norm: str, sample: list[str]) -> Finding | None:
    head = sample[:50]
    if (
        _share(head, lambda v: "," in v or ";" in v) >= 0.3
        and _share(head, _email_list) >= VALUE_SHARE
        and len(set(sample)) >= 0.5 * len(sample)
    ):
        return Finding(name, PII, "values", 0.8, "email")
    if _share(head, lambda v: _SLASHED_EMAIL.match(v) is not None) >= VALUE_SHARE:
        return Finding(name, PII, "values", 0.75, "email")
    if (
        not ID_LIKE_NAME.search(norm)
        and not NAME_OF_A_THING.search(norm)
        and _share(head, lambda v: "," in v or "/" in v) >= VALUE_SHARE
        and _share(head, _family_given) >= NAME_EVIDENCE_SHARE
        and len(set(sample)) >= PERSON_NAME_ALONE_DISTINCT * len(sample)
    ):
        return Finding(name, PII, "values", 0.75, "person_name")
    if OPAQUE_NAME.match(norm) and len(set(sample)) >= SINGLE_NAME_DISTINCT * len(sample):
        if (
            _share(head, _family_caps_given) >= VALUE_SHARE
            and _share(head, lambda v: _has_name_words(v.title())) >= NAME_EVIDENCE_SHARE
        ):
            return Finding(name, PII, "values", 0.7, "person_name")
        if _single_names(head):
            return Finding(name, PII, "values", 0.65, "person_name")
    if _share(head, lambda v: v.startswith(("{", "[{"))) >= VALUE_SHARE:
        return _person_json(name, head[:JSON_VALUES])
    return None


JSON_VALUES, JSON_KEYS = 30, 8  # JSON texts parsed, keys judged (each a nested detect_column)


def _person_json(name: str, values: list[str]) -> Finding | None:
    """JSON objects (or lists of them): each key's values judged as a column of their own, by their values."""
    by_key: dict[str, list[object]] = {}
    for v in values:
        try:
            doc = json.loads(v)
        except ValueError:
            continue
        for obj in doc if isinstance(doc, list) else [doc]:
            if isinstance(obj, dict):
                for k, x in obj.items():
                    if isinstance(x, (str, int)) and not isinstance(x, bool):
                        by_key.setdefault(str(k), []).append(str(x))
    for key, items in list(by_key.items())[:JSON_KEYS]:
        if len(items) < MIN_VALUES_TO_CONTRADICT:
            continue
        found = detect_column(key, pa.array(items, pa.string()), _nested=True)
        if found is not None and found.label in (PII, SENSITIVE):
            return Finding(name, found.label, "values", round(0.9 * found.confidence, 2), found.detector)
    return None


# an organisation's contact (`vendor_email`, `supplier_phone`, `company_fax`), an infrastructure
# address (`nas_ip_address`, `nasname`, `server_ip`, `gateway`), a masked card (`**** 1234`)
ORGANISATION_CONTACT = re.compile(
    r"^(?:vendor|supplier|company|companies|organi[sz]ation|org|business|merchant|store|shop|branch|office"
    r"|corporate|partner|carrier|bank|agency|dealer|distributor|manufacturer|warehouse)s?_"
    r"(?:\w+_)?(?:e_?mail|email_address|phone|phone_number|telephone|tel|fax|mobile|contact_email)$"
)
INFRASTRUCTURE_NAME = re.compile(
    r"^nas|(?:^|_)(?:server|gateway|gw|router|switch|nas|proxy|dns|ntp|load_?balancer|lb|vip"
    r"|cluster|firewall|access_point|ap|bras|ggsn|pgw|sgw|smsc|msc)_?(?:ip|ip_?address|ipv4|ipv6|addr|address|name)?$"
)
# ids of things written `id@host` (iCalendar UIDs, Message-IDs): a UUID or a long hex string before the `@`
MACHINE_ID_AT_HOST_RE = (
    r"^(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|[0-9a-fA-F]{24,})@"
)
MASKED_CARD_RE = r"^[*xX•#. -]{4,}[ -]?\d{4}$|^\d{4,6}[*xX•#]{4,}\d{4}$|^\d{4}[ -]?[*xX•#]{4}[ -]?[*xX•#]{4}[ -]?\d{4}$"


CELL_SITE_NAME = re.compile(r"(?:^|_)(?:cell_?(?:id|identity|global_id)|ecgi|ncgi|cgi|eci|lac|tac|enb_?id)$")


# an address column holding something else: a key into an addresses table (integers), a URL (an
# ActivityPub collection, `follower_address`), or a house number alone (`street_number` = 12, 7b)
ADDRESS_KEY_NAME = re.compile(r"(?:^|_)(?:address|addr)$")
URL_VALUE_RE = r"^(?i:https?)://\S+$"
HOUSE_NUMBER_NAME = re.compile(r"(?:^|_)(?:street|house|building|civic)_?(?:number|num|no|nr)$")
HOUSE_NUMBER_RE = r"^\d{1,5} ?[A-Za-z]?$|^\d{1,5}[-/]\d{1,4}$"
# a tax id column of VAT numbers (a country prefix, then the national digits): businesses' numbers
VAT_NUMBER_RE = (
    r"^(?:ATU\d{8}|BE[01]\d{9}|BG\d{9,10}|CY\d{8}[A-Z]|CZ\d{8,10}|DE\d{9}|DK\d{8}|EE\d{9}|EL\d{9}"
    r"|ES[A-Z0-9]\d{7}[A-Z0-9]|FI\d{8}|FR[A-HJ-NP-Z0-9]{2}\d{9}|GB(?:\d{9}|\d{12}|GD\d{3}|HA\d{3})|XI\d{9}"
    r"|HR\d{11}|HU\d{8}|IE\d{7}[A-W][A-I]?|IE\d[A-Z+*]\d{5}[A-W]|IT\d{11}|LT(?:\d{9}|\d{12})|LU\d{8}|LV\d{11}"
    r"|MT\d{8}|NL\d{9}B\d{2}|PL\d{10}|PT\d{9}|RO\d{2,10}|SE\d{12}|SI\d{8}|SK\d{10}"
    r"|CHE[-. ]?\d{3}[. ]?\d{3}[. ]?\d{3}(?: ?(?:MWST|TVA|IVA))?"
    r"|(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI)\d{8,12})$"
)  # (the last line: a member state's prefix before its national digits, as written by hand: `FR` + SIREN)
# the one-time code used last (`twofa_last_token` = 724801): expired, kept to refuse a replay
USED_CODE_NAME = re.compile(r"(?:^|_)last_(?:used_)?(?:token|code|otp|totp)$")
# a record's own UUID under a credential's word (`token_uuid`): the row's id, not the token
UUID_KEY_NAME = re.compile(r"_(?:uuid|guid)$")
UUID_VALUE_RE = r"^(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
# a credential's name whose values say it holds none: (name, values)
NOT_A_SECRET_AFTER_ALL = ((USED_CODE_NAME, r"^\d{6,8}$"), (UUID_KEY_NAME, UUID_VALUE_RE))


def _not_personal(best: Finding, norm: str, values: _Values) -> bool:
    if best.detector in ("email", "phone") and ORGANISATION_CONTACT.match(norm):
        return True
    if best.detector == "postal_address" and best.reason == "name" and values.count >= MIN_VALUES_TO_CONTRADICT:
        if pa.types.is_integer(values.type) and ADDRESS_KEY_NAME.search(norm):
            return True  # `mailing_address` = 166: the key of a row in an addresses table
        if values.share(URL_VALUE_RE) >= VALUE_SHARE:
            return True
        if HOUSE_NUMBER_NAME.search(norm) and values.share(HOUSE_NUMBER_RE) >= VALUE_SHARE:
            return True
    if (
        best.detector == "tax_id"
        and values.count >= MIN_VALUES_TO_CONTRADICT
        and values.share(VAT_NUMBER_RE) >= VALUE_SHARE
    ):
        return True  # `GB172718021`, `DE281517512`: companies' VAT numbers
    if best.detector == "credential" and values.count >= MIN_VALUES_TO_CONTRADICT:
        for name_re, value_re in NOT_A_SECRET_AFTER_ALL:
            if name_re.search(norm) and values.share(value_re) >= VALUE_SHARE:
                return True
    if best.detector == "phone" and CELL_SITE_NAME.search(norm):
        return True  # a serving cell (`mcc-mnc-enb-cell`) is a network element's id
    if best.detector == "ip_address" and INFRASTRUCTURE_NAME.search(norm):
        return True
    if best.detector == "email" and best.reason == "values" and values.share(MACHINE_ID_AT_HOST_RE) >= VALUE_SHARE:
        return True  # `<uuid>@cal.com`: a calendar event's or a message's id, not a mailbox
    return (
        best.detector == "payment_card"
        and values.count >= MIN_VALUES_TO_CONTRADICT
        and values.share(MASKED_CARD_RE) >= VALUE_SHARE
    )


def _generic_look(name: str, norm: str, values: _Values) -> Finding | None:
    """Families recognised by structure (``pii_generic``): password hashes, connection strings and key
    containers, prefix-less random secrets, checksummed identity numbers of any country stdnum knows."""
    is_text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if not is_text and not pa.types.is_integer(values.type):
        return None
    sample = values.text.slice(0, _generic.SAMPLE).to_pylist()
    if is_text:
        share = _generic.credential_structure(sample)
        if share >= VALUE_SHARE:
            return Finding(name, CREDENTIAL, "values", round(0.9 * share, 2), "credential")
        if not (
            ID_LIKE_NAME.search(norm)
            or NOT_A_SECRET_NAME.search(norm)
            or CREDENTIAL_NOT.search(norm)
            or KEY_NOT.search(norm)
        ) and (_generic.random_secrets(sample, norm) or _generic.uuid_secrets(sample, norm)):
            return Finding(name, CREDENTIAL, "values", 0.75, "credential")
        if _other_date_notation(name, norm, sample):
            return Finding(name, PII, "values", 0.75, "date_of_birth")
        people = _people_in_text(name, norm, sample)
        if people is not None:
            return people
    if SUBSCRIBER_NAME.search(norm) and _share(sample, _imsi) >= VALUE_SHARE:
        return Finding(name, PII, "both", 0.8, "online_identifier")
    if is_text and OPAQUE_NAME.match(norm) and _postcodes(sample):
        return Finding(name, PII, "values", 0.7, "postal_address")
    if PRODUCT_CODE_NAME.search(norm):
        return None
    found = _generic.checksum_ids(sample)
    if found is not None:
        label = SENSITIVE
        return Finding(name, label, "values", 0.75, found[1])
    return None


# HL7 v2 fields that hold a person's data, by segment and position (`PID_5`, `PID.5`, `pid-5`); the
# values are composites, looked at component by component when present (``_components_finding``)
HL7_PERSON_FIELDS: dict[str, tuple[str, str]] = {
    **{f"pid_{n}": (PII, "person_name") for n in (5, 6, 9)},
    "pid_7": (PII, "date_of_birth"),
    "pid_29": (PII, "date_of_birth"),  # date of death
    "pid_11": (PII, "postal_address"),
    **{f"pid_{n}": (PII, "phone") for n in (13, 14)},
    **{f"pid_{n}": (SENSITIVE, "national_id") for n in (2, 3, 4, 19, 21)},
    "pid_20": (SENSITIVE, "drivers_license"),
    **{f"nk1_{n}": (PII, "person_name") for n in (2,)},
    "nk1_4": (PII, "postal_address"),
    **{f"nk1_{n}": (PII, "phone") for n in (5, 6)},
    "nk1_16": (PII, "date_of_birth"),
    "nk1_37": (SENSITIVE, "national_id"),
    "gt1_3": (PII, "person_name"),
    "gt1_5": (PII, "postal_address"),
    **{f"gt1_{n}": (PII, "phone") for n in (6, 7)},
    "gt1_8": (PII, "date_of_birth"),
    "gt1_12": (SENSITIVE, "national_id"),
    "in1_16": (PII, "person_name"),
    "in1_18": (PII, "date_of_birth"),
    "in1_19": (PII, "postal_address"),
    "in1_49": (SENSITIVE, "national_id"),
}
HL7_PERSON_FIELDS.update({f"{k}_1": v for k, v in list(HL7_PERSON_FIELDS.items())})


# -- a second look at columns nothing matched: values that wrap, encode or disguise PII ----------------

# `jdoe [at] example [dot] org`, `jdoe(at)example.org`, `jdoe at example dot org`
OBFUSCATED_EMAIL_RE = (
    r"(?i)^[\w.+%-]+ ?(\[at\]|\(at\)|\{at\}|<at>| at | ?\[@\] ?) ?[\w-]+"
    r"(( ?(\[dot\]|\(dot\)|\{dot\}|<dot>| dot ) ?|\.)[\w-]+)+$"
)
# a directory entry of a person (`uid=jdoe,ou=people,dc=example,dc=org`), an IAM user's ARN
PERSON_DIRECTORY_RE = (
    r"(?i)^uid=[^,=]+,|^cn=[^,=]+,(ou=(people|users|staff|employees|accounts|persons)|cn=users)\b"
    r"|^arn:aws[a-z-]*:iam::\d{12}:user/[\w+=,.@/-]+$"
)
AT_HANDLE_RE = r"^@[A-Za-z0-9_][A-Za-z0-9_.]{1,29}$"  # `@jdoe83`: a social handle
BASE64_RE = (
    r"^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^(?:[A-Za-z0-9+/]{4})*[A-Za-z0-9+/]{2,3}=*$"
)
# HL7 v2 CX identifiers (`60742401^^^HOSP^MR`): the type code (HL7 table 0203) names a person's number
HL7_CX_PERSON_RE = (
    r"^[^^]+\^[^^]*\^[^^]*\^[^^]*\^(MR|MRN|SS|SSN|DL|PPN|NI|NH|NN[A-Z]{3}|PI|PT|PN|MA|MC|MB|HC|JHN|BC|CZ|PEN|SR|TAX)"
    r"(\^.*)?$"
)
BSB_ACCOUNT_RE = r"^\d{3}-\d{3}[ /-]\d{5,10}$"  # `083-608 580554847`: an AU bank account with its BSB


def _cbu_valid(value: str) -> bool:
    return bool(_cbu.is_valid(value))


# one or two name words (`Jūla`, `Ó Hadhlairt`, `DOLINAR`), or `FAMILY, Given` / `Family, Given Middle`
_NAME_WORD_INNER = frozenset("'\u2019-")


def _name_word(word: str, caps: bool) -> bool:
    """`Jūla`, `O'Brien`, `Mäkinen-Kivelä`, `DOLINAR` (with ``caps``): a capital, then letters."""
    if len(word) < 2 or not word[0].isupper() or not word[0].isalpha():
        return False
    if not all(c.isalpha() or c in _NAME_WORD_INNER for c in word[1:]):
        return False
    return caps or any(c.islower() for c in word[1:])


def _name_words_value(value: str) -> bool:
    """One or two name words (`Jūla`, `Ó Hadhlairt`, `DOLINAR`), or `FAMILY, Given` / `Family, Given
    Middle` (Python string tests: a regex of Unicode classes costs RE2 milliseconds per call)."""
    family, comma, given = value.partition(", ")
    if comma:
        head = family.replace("-", " ").split(" ")
        tail = given.split(" ")
        return (
            1 <= len(head) <= 2
            and all(_name_word(w, True) for w in head)
            and 1 <= len(tail) <= 2
            and _name_word(tail[0], False)
            and all(_name_word(w, False) or (len(w) <= 2 and w[0].isupper()) for w in tail[1:])
        )
    words = value.split(" ")
    if len(words) == 2 and len(words[0]) == 1 and words[0].isupper():
        words = words[1:]  # `Ó Hadhlairt`, `D Souza`
    return 1 <= len(words) <= 2 and all(_name_word(w, True) for w in words)


NAME_WORDS_EVIDENCE = VALUE_SHARE  # name words alone: most must be known names
NAME_PARTS_DISTINCT = 0.3  # given names repeat; categories, colours, statuses repeat more
# a user's login under a plain name (`name`, `lower_name`, `uid`, `user`, `login`) in user-like schemas
LOGIN_COLUMN_NAME = re.compile(
    r"^(?:(?:lower_)?name|login|uid|user|username|user_name|user_login|login_name|nick|nickname|screen_name"
    r"|iam_user|user_handle|account_name|sam_account_name|users_name|ldap_(?:user|login|uid|user_?name)"
    r"|(?:[a-z0-9]+_)?(?:created|updated|modified|changed|entered|registered|approved|deleted)_by)$"
)
LOGIN_SHAPE_RE = r"^[\p{L}\d._+-]{2,40}$|^[^<>@\s]+@[\w.-]+\.[A-Za-z]{2,}$|^\p{Lu}[\p{L}'-]+( \p{Lu}[\p{L}'-]+){1,2}$"


def _login_value(value: str) -> bool:
    if " " in value:
        return _has_name_words(value)  # a display name among the logins (Drupal's `name`)
    return _login_with_name(value)


def _login_finding(name: str, values: _Values) -> Finding | None:
    if len(pc.unique(values.text)) < 0.5 * values.count or values.share(LOGIN_SHAPE_RE) < VALUE_SHARE:
        return None
    if values.share(r"^[0-9a-fA-F-]+$|^[\d._-]+$") >= CONTRADICTION_SHARE:
        return None  # numbers, hex ids, UUIDs
    if values.literal_share(" ") > VALUE_SHARE or values.share(ORGANISATION_RE) >= CONTRADICTION_SHARE / 2:
        return None  # display names (the person-name rules' to judge) or organisations, not logins
    share = values.share(LOGIN_SHAPE_RE, _login_value)
    if share < LOGIN_NAME_SHARE:
        return None
    return Finding(name, PII, "both", round(min(0.9, 0.6 + 0.3 * share), 2), "online_identifier")


LOGIN_NAME_SHARE = 0.6  # logins of people spell names; some are nicknames or service users'
COMPONENT_SEPARATORS = ("^", "|")

# -- addresses and postcodes on values alone ------------------------------------------------------

# street types and unit words (not words of seats, venues or plots: `row`, `block`, `unit`, `lot`) of many
# countries' addresses (USPS suffixes, Royal Mail, AU, IE, PH,
# Iberian, Latin American, French, German, Nordic, Slavic, Hungarian, Romanian, Turkish, Azerbaijani)
_ADDRESS_WORDS = (
    "street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|square|sq"
    "|crescent|cres|close|highway|hwy|parkway|pkwy|alley|arcade|bend|bluff|bridge|brook|bypass|causeway"
    "|circle|cir|cliff|corner|cove|creek|crest|crossing|curve|dale|divide|estate|expressway"
    "|extension|falls|ferry|fields|ford|forge|fork|freeway|gardens|gateway|glen|green|grove|harbor|harbour"
    "|haven|heights|hill|hills|hollow|inlet|junction|knoll|landing|manor|meadow|meadows|mews|mill"
    "|motorway|mount|orchard|oval|overpass|parade|passage|pike|pines|plaza|prairie"
    "|ridge|route|skyway|springs|spur|stravenue|summit|trace|trafficway|trail|tunnel|turnpike"
    "|underpass|valley|viaduct|village|ville|vista|walk|wharf|esplanade|promenade|quay|rise|vale"
    "|entrance|throughway|knolls?|gap|basin|dam|ramp|broadway|burg|canyon|cape"
    "|crossroad|fort|garden|lakes?|lodge|neck|pine|plains?"
    "|radial|ranch|rapids?|river|shoals?|shores?|squares|streets|ways|wells?"
    "|driveway|subdivision|suite|ste|apt|apartment|blk"
    "|po box|rr|calle|carrera|cra|cr|kr|diagonal|transversal|avenida|avda|plaza|paseo|camino|pasaje|rua|r"
    "|travessa|alameda|largo|praca|estrada|rodovia|via|viale|piazza|corso|vicolo|rue|chemin|allee|impasse"
    "|quai|montee|rang|strasse|str|gasse|weg|platz|damm|ufer|utca|ut|ter|korut|strada|drumul|aleea|soseaua"
    "|calea|bulevardul|piata|jalan|jl|gang|ulica|ul|ulice|cesta|trg|namestie|namesti|gatan|vagen|vej|gade"
    "|veien|gata|katu|tie|straat|laan|plein|sokak|sokagi|cadde|caddesi|mahallesi|ulitsa|prospekt|prospekti"
    "|kucesi|kuc|kuchasi|pr|rayonu|ray|seheri|kendi|qesebesi|odos|leoforos|s/n|sin numero|barangay|brgy|purok"
    "|sitio|colonia|col|fraccionamiento|manzana|mz|bairro|lote|piso|andar|dpto|depto|oficina"
    "|cl|dg|tv|cll|plac|aleja|al|os|gully|artery|fpo|apo|dpo|usns|uss|usnv|usnh|psc|cmr"
)
ADDRESS_WORD_RE = (
    r"(?i)(^|[\s,.#/-])(" + _ADDRESS_WORDS + r")(\.|,|\s|$)"
    r"|(?i)\p{L}(straße|strasse|str\.|weg|ring|gasse|allee|platz|damm|vej|gade|gatan|vägen|veien|straat|laan)[\s,]"
)
HOUSE_NUMBER_RE = r"(^|[\s,#/])\d{1,6}[A-Za-z]?([\s,./-]|$)|(?i)\bs/n\b"
# postcodes with a shape of their own: IE Eircode, UK, CA (routing letters that exist)
DISTINCT_POSTCODE_RE = (
    r"^([AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$"
    r"|^(GIR ?0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]([0-9]|[ABEHMNPRV-Y])?|[0-9][A-HJKPS-UW])"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})$"
    r"|^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d$"
)
ADDRESS_MAX_LENGTH = 160
# a house number and a capitalised street name, either way round (`84 Hackett Close`, `Skalinska 6a`,
# `Demetrova 8a/7, 10000 Zagreb`): counted with the street words, when half the values have one
ADDRESS_SHAPE_RE = (
    r"^\d{1,6}[A-Za-z]?,? \p{Lu}[\p{L}'.-]*( [\p{L}'.-]+){1,3}(,|\n|$)"
    r"|^\p{L}[\p{L}'.-]+( [\p{L}'.-]+){0,3} \d{1,4}[a-z]?(/\d{1,4})?(,|\n|$)"
)
ADDRESS_WORD_SHARE = 0.5


def _address_finding(name: str, values: _Values, distinct: bool) -> Finding | None:
    """Street addresses (one line or several) in the world's notations: a house number (or `S/N`) and a
    street or unit word in most values, all different, none longer than an address; or postcodes of a
    shape no code of a product has (Eircodes, UK and Canadian postcodes)."""
    if values.has_digit < VALUE_SHARE:
        return None
    if (
        distinct
        and values.length_share(5, ADDRESS_MAX_LENGTH) >= VALUE_SHARE
        and values.literal_share(" ") >= VALUE_SHARE
        and values.literal_share("@") < CONTRADICTION_SHARE
        and values.literal_share("://") < CONTRADICTION_SHARE
        and values.share(HOUSE_NUMBER_RE) >= VALUE_SHARE
        and values.share(ADDRESS_WORD_RE) >= ADDRESS_WORD_SHARE
        and values.share(ADDRESS_WORD_RE + "|" + ADDRESS_SHAPE_RE) >= VALUE_SHARE
        and values.share(r"\p{L}{3,}") >= VALUE_SHARE
    ):
        return Finding(name, PII, "values", 0.7, "postal_address")
    if (
        values.length_share(5, 8) >= VALUE_SHARE
        and len(pc.unique(values.text)) >= 0.5 * values.count
        and values.share(DISTINCT_POSTCODE_RE) >= VALUE_SHARE
    ):
        return Finding(name, PII, "values", 0.7, "postal_address")
    return None


# -- dates of birth on values alone ---------------------------------------------------------------

# a name that says nothing of the column (`col_14`, `field_d`, `attr7`, `c08`, `v2`, `Unnamed: 3`)
OPAQUE_NAME = re.compile(
    r"^(?:col|column|field|fld|attr|attribute|c|f|v|x|var|val|value|data|unnamed|untitled|unknown|prop|property"
    r"|[a-z])_?\d*[a-z]{0,2}$|^(?:unnamed|column|field)_\d+$"
)
BIRTH_YEARS_MIN = 1900
BIRTH_AGE_MIN = 5  # no one born in the last five years has records of their own
BIRTH_SPAN_YEARS = 25  # birth dates of a population spread over decades; event dates do not
BIRTH_MEDIAN_AGE = 25  # half the people older than 25: hire or contract dates of 30 years are younger
_DATE_TEXT_RE = (
    r"^((19|20)\d\d)[-/.]?[01]\d[-/.]?[0-3]\d$|^[0-3]?\d[-/.][01]?\d[-/.]((19|20)\d\d)$"
    r"|^[01]?\d[-/.][0-3]?\d[-/.]((19|20)\d\d)$"
)
_YEAR = re.compile(r"(?:^|\D)((?:19|20)\d\d)(?:\D|$)|^((?:19|20)\d\d)")


def _birth_dates(values: _Values) -> bool:
    """Dates without a time of day, nearly all different, spread over 25 years or more, all between 1900
    and five years ago, half of them 25 years ago or earlier: a population's dates of birth."""
    t = values.type
    if values.count < 20:
        return False
    if pa.types.is_timestamp(t):
        return False  # a time of day: an event, not a birth
    if pa.types.is_integer(t):
        if values.share(r"^(19|20)\d\d[01]\d[0-3]\d$") < VALUE_SHARE:
            return False
        years = [int(v[:4]) for v in _sample_texts(values)]
    elif pa.types.is_date(t):
        years = [int(v[:4]) for v in _sample_texts(values)]
    else:
        if values.share(_DATE_TEXT_RE) < VALUE_SHARE:
            return False
        years = []
        for v in _sample_texts(values):
            m = _YEAR.search(v) if len(v) != 8 else None
            years.append(int(v[:4]) if len(v) == 8 and v.isdigit() else int(m.group(1) or m.group(2)) if m else 0)
        years = [y for y in years if y]
    if len(pc.unique(values.text)) < 0.7 * values.count or len(years) < 20:
        return False
    this_year = datetime.date.today().year
    years.sort()
    return (
        years[0] >= BIRTH_YEARS_MIN
        and years[-1] <= this_year - BIRTH_AGE_MIN
        and years[-1] - years[0] >= BIRTH_SPAN_YEARS
        and years[len(years) // 2] <= this_year - BIRTH_MEDIAN_AGE
    )


MAX_COMPONENTS = 8
DECODED_SECRET_SHARE = VALUE_SHARE


def _second_look(name: str, norm: str, values: _Values, unwrap: bool = True) -> Finding | None:
    """Values that wrap PII (composite HL7/EDI fields, JSON lists, base64) or disguise it (obfuscated
    e-mails, directory entries, ARNs, `@handles`): looked at only when nothing else matched."""
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type) or pa.types.is_integer(values.type):
        if OPAQUE_NAME.match(norm) and _birth_dates(values):
            return Finding(name, PII, "values", 0.7, "date_of_birth")
        return None
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    # (a look at the first values in Python first: each Arrow call, a regex's most, costs its setup)
    head = _sample_texts(values, HEAD_VALUES)

    def likely(test: Callable[[str], bool]) -> bool:
        return sum(1 for v in head if test(v)) >= HEAD_SHARE * len(head)

    if (
        likely(lambda v: "at" in v)
        and values.literal_share("at") >= VALUE_SHARE
        and values.share(OBFUSCATED_EMAIL_RE) >= VALUE_SHARE
        and values.share(r"(?i)\Wat\W") >= VALUE_SHARE
    ):
        return Finding(name, PII, "values", 0.85, "email")
    distinct = len(pc.unique(values.text)) >= PERSON_NAME_ALONE_DISTINCT * values.count
    if (
        distinct
        and likely(lambda v: "=" in v or v.startswith("arn:"))
        and values.literal_share("=") + values.literal_share("arn:", prefix=True) >= VALUE_SHARE
        and values.share(PERSON_DIRECTORY_RE) >= VALUE_SHARE
    ):
        return Finding(name, PII, "values", 0.85, "online_identifier")
    if (
        distinct
        and likely(lambda v: v.startswith("@"))
        and values.literal_share("@", prefix=True) >= VALUE_SHARE
        and not ORGANISATION_PLACE.search(norm)
        and values.share(AT_HANDLE_RE) >= VALUE_SHARE
    ):
        # (an organisation's handle, GitHub's `company` = `@acme`, is no person's)
        return Finding(name, PII, "values", 0.8, "online_identifier")
    if (
        distinct
        and likely(lambda v: v.startswith(("http", "@", "www.")))
        and values.share(PROFILE_ID_RE) >= VALUE_SHARE
        and not ORGANISATION_PLACE.search(norm)
    ):
        # social profile URLs, fediverse actor URLs (`https://host/u/name`), Matrix ids (`@name:host`)
        return Finding(name, PII, "values", 0.8, "online_identifier")
    if (
        distinct
        and sum(1 for v in head if "@" in v) >= MIXED_EMAIL_SHARE * len(head)
        and (emails := values.share(EMAIL_PLAIN_RE)) >= MIXED_EMAIL_SHARE
        and emails + values.share(r"^[^\s@]{2,64}$") >= VALUE_SHARE  # the others ids or logins, not free text
        and values.share(MACHINE_ID_AT_HOST_RE) < CONTRADICTION_SHARE
        and values.share(MACHINE_EMAIL_RE) < CONTRADICTION_SHARE
    ):
        # an identity provider's subject, an analytics id: the e-mail on many rows, a number or UUID on others
        return Finding(name, PII, "values", 0.7, "email")
    if (
        distinct
        and likely(lambda v: len(v) in TOTP_LENGTHS and v.isupper())
        and values.share(TOTP_SECRET_RE) >= VALUE_SHARE
        and values.share(r"\d") >= VALUE_SHARE
        and not (NOT_A_SECRET_NAME.search(norm) or KEY_NOT.search(norm))
    ):
        # base32 of 10, 16 or 20 random bytes (RFC 6238 seeds): no 0, 1, 8 or 9, letters and digits mixed
        return Finding(name, CREDENTIAL, "values", 0.8, "credential")
    if (
        distinct
        and likely(lambda v: ":" in v and "@" in v)
        and values.share(PROVIDER_IDENTITY_RE) >= VALUE_SHARE
        and values.share(PROVIDER_EMAIL_RE) >= MIXED_EMAIL_SHARE
        and values.share(MACHINE_EMAIL_RE) < CONTRADICTION_SHARE
    ):
        return Finding(name, PII, "values", 0.75, "email")  # `azure:ann.bailey@example.com`: an SSO identity
    if likely(lambda v: v.startswith("otpauth://")) and values.share(OTPAUTH_RE) >= VALUE_SHARE:
        return Finding(name, CREDENTIAL, "values", 0.9, "credential")  # a TOTP/HOTP enrolment URL: the seed
    if likely(lambda v: v.startswith("{")) and values.share(JSON_SECRET_RE) >= VALUE_SHARE:
        # `{"totp": {"secret": "JBSW..."}}`, `{"password": {"bcrypt": "$2b$10$..."}}`: a secret under its key
        return Finding(name, CREDENTIAL, "values", 0.85, "credential")
    if distinct and likely(lambda v: v.startswith("http")) and _people_pages(values):
        return Finding(name, PII, "values", 0.75, "online_identifier")
    if distinct and likely(lambda v: len(v) == 20 and v[:2] == "80") and values.share(HEALTH_CARD_RE) >= VALUE_SHARE:
        return Finding(name, SENSITIVE, "values", 0.8, "national_id")  # a health insurance card's number
    if (OPAQUE_NAME.match(norm) or SETTING_VALUE_NAME.search(norm)) and _mixed_secrets(values):
        return Finding(name, CREDENTIAL, "values", 0.75, "credential")
    if OPAQUE_NAME.match(norm) and likely(lambda v: len(v) == 9) and _passports(values):
        return Finding(name, SENSITIVE, "values", 0.75, "passport")
    if likely(lambda v: len(v) == 22) and values.share(r"^\d{22}$", _cbu_valid) >= VALUE_SHARE:
        return Finding(name, SENSITIVE, "values", 0.9, "iban")  # AR CBU (two check digits)
    if distinct and likely(lambda v: v[3:4] == "-") and values.share(BSB_ACCOUNT_RE) >= VALUE_SHARE:
        return Finding(name, SENSITIVE, "values", 0.85, "iban")  # AU BSB and account number
    if LOGIN_COLUMN_NAME.match(norm) and (not NAME_OF_A_THING.search(norm) or norm.endswith("_by")):
        # (`record_created_by`: the thing is the row's, the value the login of who made it)
        found = _login_finding(name, values)
        if found is not None:
            return found
    if (
        distinct
        and (
            # an opaque or generic name, or none of a thing's or an id's
            (
                (OPAQUE_NAME.match(norm) or GENERIC_HOLDER_END.search(norm) or not NAME_OF_A_THING.search(norm))
                and not ID_LIKE_NAME.search(norm)
            )
            # `authclient_id`, `ldap_id` holding logins (`jbennett`, `rachel.garcia`), not numbers or UUIDs
            or USER_KEY_NAME.search(norm)
        )
        and likely(lambda v: " " not in v and 3 <= len(v) <= 40 and v.lower() == v and not v.isdigit())
    ):
        found = _logins_alone(name, values)
        if found is not None:
            return found
    if (
        values.has_digit <= 1 - VALUE_SHARE
        and (not NAME_OF_A_THING.search(norm) or PERSON_ROLE_END.search(norm))
        and not ID_LIKE_NAME.search(norm)
        and values.length_share(2, 60) >= VALUE_SHARE
        and len(pc.unique(values.text)) >= NAME_PARTS_DISTINCT * values.count
        and values.share_where(_name_words_value) >= VALUE_SHARE
        and _name_evidence(values) >= NAME_WORDS_EVIDENCE
        and values.share(ORGANISATION_RE) < CONTRADICTION_SHARE / 2
    ):
        # given names, family names (`Ó Hadhlairt`, `VARGAS`), `FAMILY, Given`: words that are names
        return Finding(name, PII, "values", 0.75, "person_name")
    found = None
    if not ORGANISATION_PLACE.search(norm) and likely(lambda v: " " in v or 5 <= len(v) <= 8):
        found = _address_finding(name, values, distinct)  # (not an office's or a warehouse's address)
    if found is not None:
        return found
    if OPAQUE_NAME.match(norm) and _birth_dates(values):
        return Finding(name, PII, "values", 0.7, "date_of_birth")
    if likely(lambda v: "^" in v) and values.share(HL7_CX_PERSON_RE) >= VALUE_SHARE:
        return Finding(name, SENSITIVE, "values", 0.85, "national_id")
    if not unwrap:
        return None  # (values taken out of a wrapper are not unwrapped again)
    for sep in COMPONENT_SEPARATORS:
        if likely(lambda v, sep=sep: sep in v) and values.literal_share(sep) >= VALUE_SHARE:
            found = _components_finding(name, values, sep)
            if found is not None:
                return found
    if (
        likely(lambda v: v.startswith("["))
        and values.literal_share('["', prefix=True) + values.literal_share("['", prefix=True) >= VALUE_SHARE
    ):
        found = _json_list_finding(name, values)
        if found is not None:
            return found
    if (
        likely(lambda v: len(v) >= 8 and len(v) % 4 == 0 and " " not in v)
        and values.length_share(8, 100_000) >= VALUE_SHARE
        and values.share(BASE64_RE) >= VALUE_SHARE
    ):
        return _base64_finding(name, values)
    return None


HEAD_VALUES, HEAD_SHARE = 24, 0.5  # the first values that must show a rule's trait before it runs
# a person's profile on a social network, a fediverse actor (`https://host/u/name`, `/users/name`,
# `/@name`), a Matrix id (`@name:matrix.org`)
PROFILE_ID_RE = (
    r"^(?i:https?://)?(www\.|[a-z]{2}\.)?(linkedin\.com/in/|twitter\.com/|x\.com/|facebook\.com/|instagram\.com/"
    r"|github\.com/|tiktok\.com/@|t\.me/|vk\.com/|threads\.net/@|bsky\.app/profile/|youtube\.com/@"
    r"|reddit\.com/u(ser)?/)[\w.%-]*[A-Za-z][\w.%-]*/?$"
    r"|^(?i:https?)://[\w-]+(\.[\w-]+)*\.[a-z]{2,}/(u/|users/|@)[\w.-]*[A-Za-z][\w.-]*/?$"
    r"|^@[a-z0-9._=/+-]+:[\w-]+(\.[\w-]+)*\.[a-z]{2,}$"
)
# the page of a person on an intranet or a site (`https://host/people/jsmith`, `/accounts/maria.lopez`): the
# last segment a login that spells names
PEOPLE_PAGE_RE = (
    r"^(?i:https?)://[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?::\d+)?/(?:[\w-]+/){0,2}"
    r"(?:people|person|persons|accounts|profile|profiles|members|member|user|author|authors|staff|employees)"
    r"/([\w.-]*[A-Za-z][\w.-]*)/?$"
)
_PEOPLE_PAGE = re.compile(PEOPLE_PAGE_RE)
PEOPLE_PAGE_NAMED = 0.5  # logins made of names (`kevin12`), the others handles (`atharv03`, `toralf47`)
# an identity as `<provider>:<login>` (an SSO identity, `azure:ann.bailey@example.com`), e-mails on many
PROVIDER_IDENTITY_RE = r"^[A-Za-z][\w.-]{1,30}:[^\s:/]\S{0,200}$"
PROVIDER_EMAIL_RE = rf"^[A-Za-z][\w.-]{{1,30}}:{_EMAIL_CORE}$"
# an otpauth:// enrolment URL (RFC 6238 key URI) with its secret parameter
OTPAUTH_RE = r"^otpauth://[th]otp/[^?\s]*\?(?:\S*&)?secret=[A-Za-z2-7]{16,}"
# JSON with a secret under a secret's key: a base32 TOTP seed, a crypt-format hash, a long random string
JSON_SECRET_RE = (
    r"\x22(?i:secret|otp_secret|totp_secret|secret_key|password|password_hash|hashed_password|bcrypt|argon2"
    r"|private_key|api_key|client_secret|recovery_codes|backup_codes)\x22\s*:\s*\[?\s*\x22"
    r"(?:\$(?:2[abxy]?|argon2(?:id|i|d)|pbkdf2[\w-]*|5|6|y|7)\$|[A-Z2-7]{16,}=*\x22|[A-Za-z0-9+/=_-]*\d[A-Za-z0-9+/=_-]{19,}\x22"
    r"|[A-Za-z0-9+/=_-]{19,}\d)"
)
# a European or Swiss health insurance card (ISO/IEC 7812: `80`, the country's numeric code, 15 digits)
HEALTH_CARD_RE = (
    r"^80(?:040|056|100|191|196|203|208|233|246|250|276|300|348|352|372|380|428|438|440|442|470|528|578|616"
    r"|620|642|703|705|724|752|756|826)\d{15}$"
)
MIXED_EMAIL_SHARE = 0.3  # e-mails on a third of the rows (numbers or UUIDs on the others) are personal data
TOTP_LENGTHS = (16, 26, 32)
TOTP_SECRET_RE = "^(?:" + "|".join(f"[A-Z2-7]{{{n}}}" for n in TOTP_LENGTHS) + ")=*$"
# a settings table's value column (`value`, `setting_value`, `config_val`): ports, hosts and flags beside keys
SETTING_VALUE_NAME = re.compile(
    r"^(?:setting|settings|config|configuration|option|param|parameter|pref|preference)s?_?(?:value|val)?$"
)
MIXED_SECRETS_SHARE = 0.15  # recognisable secrets (API keys, JWT secrets, passwords) among other settings
MIXED_SECRETS_MIN = 3
MIXED_SECRET_MIN_LEN = 16
MIXED_SECRETS_PILOT = 30
MIXED_SECRETS_LENGTHS = 5
# a name that says only that the column holds something (`sync_field`, `custom_field`, `extra_value`)
GENERIC_HOLDER_END = re.compile(r"(?:^|_)(?:field|fld|value|val|attr|attribute|data)$")
# the id a login system gives a user, often the login itself (`authclient_id`, `ldap_id`, `sso_user_id`); a
# plain `user_id` is left alone (logins under it are as often the application's keys: test_pii)
USER_KEY_NAME = re.compile(r"(?:^|_)(?:login|auth_?client|ldap|sso|directory)_?(?:user_?)?id$")
LOGINS_ALONE_SHARE = VALUE_SHARE  # without a login's name, most values must spell people's names


def _people_pages(values: _Values) -> bool:
    """Most URLs are a person's page (``PEOPLE_PAGE_RE``) and half their logins spell names."""
    if values.share(PEOPLE_PAGE_RE) < VALUE_SHARE:
        return False
    logins = [m.group(1) for v in _sample_texts(values, HEAD_VALUES) if (m := _PEOPLE_PAGE.match(v))]
    return bool(logins) and sum(1 for v in logins if _login_with_name(v)) >= PEOPLE_PAGE_NAMED * len(logins)


def _mixed_secrets(values: _Values) -> bool:
    """A meaningful share of the values are recognisable secrets of a known format with a prefix or a
    structure (`sk_live_...`, `ghp_...`, JWTs): a settings column holding API keys beside ports and hosts
    (bare random strings do not count: digests and cursors look the same)."""
    if values.count < 2 * MIN_VALUES_TO_CONTRADICT or not (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        return False
    sample = _spread(values, CHECK_VALUES)
    long = [v for v in sample if len(v) >= MIXED_SECRET_MIN_LEN]  # (ports, flags and hosts are not looked at)
    need = max(MIXED_SECRETS_MIN, MIXED_SECRETS_SHARE * len(sample))
    if len({len(v) for v in sample}) < MIXED_SECRETS_LENGTHS:
        return False  # values of one or two lengths: a column of one format (digests, codes), not settings
    if len(long) < need or not any(_known_prefixed_secret(v) for v in long[:MIXED_SECRETS_PILOT]):
        return False  # (a secret among the first long values, or hardly a sixth of them are secrets)
    return sum(1 for v in long if _known_prefixed_secret(v)) >= need


def _logins_alone(name: str, values: _Values) -> Finding | None:
    """Login names on values alone (an opaque column, a `sync_field`, a `*_created_by`): no spaces, nearly
    all different, and most of them spell known names (`maria.lopez`, `jsmith`, `kevin12`)."""
    head = _sample_texts(values, HEAD_VALUES)
    misses = len(head) - LOGINS_ALONE_SHARE * len(head)
    for v in head:  # (a look at the first values, stopped at the first misses: the gazetteer's test is slow)
        if not _login_with_name(v):
            misses -= 1
            if misses < 0:
                return None
    if values.share(r"^[\p{Ll}\d._-]{3,40}$") < VALUE_SHARE:
        return None
    if values.share(r"^[0-9a-f-]+$|^[\d._-]+$") >= CONTRADICTION_SHARE:
        return None  # numbers, hex ids, UUIDs
    if values.share(r"[._\d]") < CONTRADICTION_SHARE:
        return None  # bare lower-case words (tags, slugs, colours) rather than logins
    share = values.share(LOGIN_SHAPE_RE, _login_with_name)
    if share < LOGINS_ALONE_SHARE:
        return None
    return Finding(name, PII, "values", round(min(0.85, 0.5 + 0.3 * share), 2), "online_identifier")


NESTED_VALUES = 60  # values of a wrapped column (decoded, split, flattened) looked at again


def _sample_texts(values: _Values, limit: int = 2 * CHECK_VALUES) -> list[str]:
    return values.text.slice(0, limit).to_pylist()


def _components_finding(name: str, values: _Values, sep: str) -> Finding | None:
    """A composite field (HL7 v2 `FAMILY^GIVEN^MIDDLE`, `street^^city^state^zip`, XTN phones, EDI):
    each component position looked at as a column of its own."""
    rows = [v.split(sep) for v in _sample_texts(values, NESTED_VALUES)]
    best: Finding | None = None
    for i in range(min(MAX_COMPONENTS, max(len(r) for r in rows))):
        part = [r[i] for r in rows if len(r) > i and r[i].strip()]
        if len(part) < max(MIN_VALUES_TO_CONTRADICT, len(rows) // 2) or len(set(part)) < NAME_PARTS_DISTINCT * len(
            part
        ):
            continue  # (a code component, `PRN`, `MR`, a state, repeats: not looked at)
        found = detect_column(name, pa.array(part, pa.string()), _nested=True)
        if found is not None:
            confidence = round(found.confidence * 0.95, 2)
            best = _better(best, Finding(name, found.label, "values", confidence, found.detector))
    return best


def _json_list_finding(name: str, values: _Values) -> Finding | None:
    """A JSON list of strings per value (`["Ana Lima", "Joe Bloggs"]`): the elements looked at."""
    items: list[str] = []
    for text in _sample_texts(values, NESTED_VALUES):
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, list):
            items.extend(x for x in parsed if isinstance(x, str))
    if len(items) < MIN_VALUES_TO_CONTRADICT:
        return None
    found = detect_column(name, pa.array(items, pa.string()), _nested=True)
    return None if found is None else Finding(name, found.label, "values", found.confidence, found.detector)


def _decode_base64(text: str) -> str | None:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        decoded = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded or any(ord(c) < 32 and c not in "\n\r\t" for c in decoded):
        return None
    return decoded


_HEX_SECRET = re.compile(r"^[0-9a-fA-F]{32,}$")
_PASSPHRASE = re.compile(r"^[a-z]{2,}(?:[-_ .][a-z]{2,}){2,}$")


def _decoded_secret(value: str) -> bool:
    """A decoded value that is a secret: a known format, a hex key, a password or passphrase, a random string."""
    if _known_secret(value):
        return True
    if any(c.isspace() for c in value) or "://" in value or "/" in value.strip("/"):
        return False
    return bool(
        _HEX_SECRET.match(value)
        or _PASSPHRASE.match(value)
        or (len(value) >= 8 and _password_like(value))
        or _high_entropy(value)
    )


def _base64_finding(name: str, values: _Values) -> Finding | None:
    """A column of base64 (Kubernetes secrets, encoded configuration): the decoded text looked at."""
    decoded = [_decode_base64(v) for v in _sample_texts(values, NESTED_VALUES)]
    texts = [d for d in decoded if d is not None]
    if len(texts) < VALUE_SHARE * len(decoded):
        return None  # binary data (images, digests), not text
    if sum(_decoded_secret(t) for t in texts) >= DECODED_SECRET_SHARE * len(texts):
        return Finding(name, CREDENTIAL, "values", 0.85, "credential")
    if sum(t.lstrip()[:1] in ("{", "[", "<") for t in texts) >= CONTRADICTION_SHARE * len(texts):
        return None  # encoded JSON or markup (API cursors, configuration): not looked into
    found = detect_column(name, pa.array(texts, pa.string()), _nested=True)
    if found is not None:
        return Finding(name, found.label, "values", found.confidence, found.detector)
    return None


def _not_secrets(values: _Values, norm: str) -> bool:
    """Values no credential has: flags, dates, regions (``NOT_SECRET_VALUE_RE``), or a few words again
    and again (an enum) - except under a password's own name (a sample database's `password` =
    `changeme` for every user is a password all the same)."""
    if values.count < MIN_VALUES_TO_CONTRADICT:
        return False
    if values.share(NOT_SECRET_VALUE_RE) >= VALUE_SHARE:
        return True
    return (
        not PASSWORD_NAME_END.search(norm)
        and values.count >= 10
        and values.share(ENUM_WORD_RE) >= VALUE_SHARE
        and len(pc.unique(values.text)) <= 0.3 * values.count
    )


def _handle_finding(name: str, norm: str, values: _Values) -> Finding | None:
    """A person's handle, login or profile URL under a handle's name (``HANDLE_NAME``)."""
    if values.count < MIN_VALUES_TO_CONTRADICT or not (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        return None
    share = values.share(HANDLE_RE) - values.share(r"^[0-9a-fA-F-]+$|^[\d._-]+$")  # not hex ids, not numbers
    if share < VALUE_SHARE or len(pc.unique(values.text)) < PERSON_NAME_ALONE_DISTINCT * values.count:
        return None
    if HANDLE_NEEDS_EMAILS.search(norm) and values.share(EMAIL_RE) < CONTRADICTION_SHARE:
        return None  # `user_id` = `usr_8f2k`: a key
    if values.share(r"^[a-z]{2,5}_[A-Za-z0-9]{6,}$") >= CONTRADICTION_SHARE:
        return None  # `usr_1a2b3c`, `cus_NffrFeUfNV2Hib`: object ids
    return Finding(name, PII, "both", round(min(0.9, 0.6 + 0.3 * share), 2), "online_identifier")


def _better_or_none(current: Finding | None, new: Finding | None) -> Finding | None:
    return current if new is None else _better(current, new)


_LABEL_RANK = {CREDENTIAL: 3, SENSITIVE: 2, PII: 1}


def _better(current: Finding | None, new: Finding) -> Finding:
    if current is None:
        return new
    key_new = (new.reason != "name", new.confidence, _LABEL_RANK[new.label])
    key_cur = (current.reason != "name", current.confidence, _LABEL_RANK[current.label])
    return new if key_new > key_cur else current


def detect(
    sample: pa.Table | None,
    columns: list[str] | None = None,
    *,
    special_categories: bool = False,
    bank_codes: bool = False,
) -> dict[str, Finding]:
    """Findings per column. ``columns`` not in the sample are judged on their names alone."""
    names = list(columns) if columns is not None else (sample.column_names if sample is not None else [])
    found: dict[str, Finding] = {}
    present = set(sample.column_names) if sample is not None else set()
    bank_context = any(BANK_CONTEXT.search(normalize_name(n)) for n in {*names, *present})
    for name in names:
        array = sample.column(name).slice(0, SAMPLE_VALUES) if name in present and sample is not None else None
        finding = detect_column(
            name, array, special_categories=special_categories, bank_codes=bank_codes, bank_context=bank_context
        )
        if finding is not None:
            found[name] = finding
    return found
