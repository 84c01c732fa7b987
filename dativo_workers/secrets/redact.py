"""Keep resolved values out of logs and error texts.

Every value the resolver hands out in this process is remembered (with its URL- and
JSON-escaped forms), and so is the value of every `${ENV}` variable a loaded job refers to;
`mask()` replaces each occurrence with `***`. The structlog processor and the logging filter
apply it to every log event, and `scrub_exception()` to an error raised while a secret was in
use. Values too short or too common to be secret material (`too_common()`: under MIN_LENGTH
characters, a word of letters only, a short number) are not masked in free text: masking them
would cut every occurrence of an ordinary word out of unrelated text (they still never show
through `repr`).

`scrub()` is the one cleaning every error text goes through before it is printed or stored
(CLI output, `dativo check`, partition and run errors in the ledger, task results): the masks
above, plus passwords written into URLs (`postgresql://u:pw@h`) or as `password=...`, plus the
source values Arrow's parsers quote (a malformed CSV row, a value that did not convert), which
may be personal data of any column. `describe_error()` is an exception's scrubbed text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from dativo_workers.errors import DativoError

MASK = "***"  # what every masked value reads as (secrets.base re-exports it)
MIN_LENGTH = 4
COMMON_WORD_MAX = 12  # letters only and shorter than this: reads like a word or a name (`dativo`, `admin`)
COMMON_NUMBER_MAX = 8  # digits only and shorter than this: a port, a count, a year
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def remember(value: str) -> None:
    """Mask ``value`` (and its escaped forms) from now on, in this process."""
    global _pattern
    plain = str.__str__(value)
    if too_common(plain):
        return
    forms = {plain, quote(plain, safe=""), quote_plus(plain), json.dumps(plain)[1:-1]}
    with _lock:
        if forms <= _values:
            return
        _values.update(forms)
        # longest first, so a value containing another is masked whole
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))


def too_common(value: str) -> bool:
    """A value that is not masked in free text: too short, or too common to be secret material
    (a word of ASCII letters only shorter than COMMON_WORD_MAX, digits only shorter than
    COMMON_NUMBER_MAX). Passwords in URLs and `password=` settings are masked whatever they are."""
    if len(value) < MIN_LENGTH:
        return True
    if value.isascii() and value.isalpha() and len(value) < COMMON_WORD_MAX:
        return True
    return value.isascii() and value.isdigit() and len(value) < COMMON_NUMBER_MAX


def forget_all() -> None:
    """Tests only: start from an empty registry."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def mask(text: str) -> str:
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, str.__str__(text))


def contains_secret(text: str) -> bool:
    pattern = _pattern
    return pattern is not None and pattern.search(str.__str__(text)) is not None


def _mask_any(value: Any, clean: Callable[[str], str] = mask) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _mask_any(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_mask_any(v, clean) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if value is None or isinstance(value, bool | int | float):
        return value
    # anything else is rendered with str/repr later: render it now, masked, if it holds a value
    for render in (str, repr):
        try:
            text = render(value)
        except Exception:
            continue
        if contains_secret(text):
            return mask(text)
    return value


def redact_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: every text in the event scrubbed (after format_exc_info)."""
    return {key: _mask_any(value, scrub) for key, value in event_dict.items()}


class RedactingFilter(logging.Filter):
    """For stdlib log records (Celery's own, libraries'): message and traceback scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if (clean := scrub(message)) != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class SecretRedactedError(Exception):
    """Stands in for an error whose text held a secret value and could not be cleaned in place."""


def scrub_exception(exc: BaseException) -> BaseException:
    """The same error without any resolved value in its text (or in its causes').

    The message arguments are masked in place, so the type (and so retry decisions) stay;
    when the text still shows a value (a type that keeps its message elsewhere), a
    SecretRedactedError naming the original type replaces it.
    """
    if _pattern is None:
        return exc
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        with suppress(Exception):  # some types forbid setting args
            node.args = tuple(_mask_any(a) for a in node.args)
        if isinstance(node, OSError):  # its text comes from these, not from args
            for attr in ("errno", "strerror", "filename", "filename2"):
                value = getattr(node, attr, None)
                if isinstance(value, str):
                    with suppress(Exception):
                        setattr(node, attr, mask(value))
        node = node.__cause__ or node.__context__
    leaked = _text_leaks(exc)
    if not leaked:
        return exc
    replacement = SecretRedactedError(f"{type(exc).__name__}: {mask(_safe_str(exc))}")
    replacement.__suppress_context__ = True
    return replacement


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return type(exc).__name__


def _text_leaks(exc: BaseException) -> bool:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if contains_secret(_safe_str(node)) or contains_secret(repr(node)):
            return True
        node = node.__cause__ or node.__context__
    return False


@contextmanager
def scrubbed_errors() -> Iterator[None]:
    """Re-raise any error from the block without a resolved value in its text."""
    try:
        yield
    except Exception as exc:
        clean = scrub_exception(exc)
        if clean is exc:
            raise
        raise clean from None


F = TypeVar("F", bound=Callable[..., Any])


def scrubbing(func: F) -> F:
    """Wrap a callable (or generator function) so its errors go through scrub_exception."""
    import functools
    import inspect

    if inspect.isgeneratorfunction(func) or inspect.isgeneratorfunction(getattr(func, "__func__", None)):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with scrubbed_errors():
                yield from func(*args, **kwargs)

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with scrubbed_errors():
            result = func(*args, **kwargs)
        if inspect.isgenerator(result):  # a method returning a generator: errors come while iterating
            return _scrub_iter(result)
        return result

    return wrapper  # type: ignore[return-value]


def _scrub_iter(gen: Iterator[Any]) -> Iterator[Any]:
    with scrubbed_errors():
        yield from gen


# -- error texts ------------------------------------------------------------------------------

# `scheme://user:password@host`: the password (user may be empty: `redis://:pw@h`)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<value>[^\s@/'\"]+)(?=@)")
# `password=...` in DSNs, query strings and JDBC-style settings
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|access_token|api_?key)\s*=\s*)(?P<value>[^\s&;,'\")]+)",
    re.IGNORECASE,
)
# source values quoted by Arrow's readers and casts: whatever column they come from, masked
_ARROW_VALUES = (
    re.compile(r"(?P<head>CSV parse error: [^\n]*?Expected \d+ columns?, got \d+: )(?P<value>[^\n]*)"),
    re.compile(r"(?P<head>conversion error to [^:\n]+: invalid value ')(?P<value>[^\n]*)(?=')"),
    re.compile(r"(?P<head>Failed to parse string: ')(?P<value>[^\n]*)(?=' as a scalar)"),
)


def scrub(text: str) -> str:
    """``text`` fit to print or store: resolved secrets and referenced ${ENV} values masked,
    passwords in URLs and `password=` settings masked, source values Arrow quoted masked."""
    if not text:
        return text
    text = mask(text)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _KEY_VALUE.sub(lambda m: m["head"] + MASK, text)
    for pattern in _ARROW_VALUES:
        text = pattern.sub(lambda m: m["head"] + mask_value(m["value"]), text)
    return text


def describe_error(exc: BaseException) -> str:
    """An exception as one line for a user (Dativo's own errors are written for one), scrubbed."""
    text = str(exc) if isinstance(exc, DativoError) else f"{type(exc).__name__}: {_safe_str(exc)}"
    return scrub(text)


def format_traceback(exc: BaseException) -> str:
    """A traceback for an unexpected error, scrubbed like any other error text."""
    return scrub("".join(traceback.format_exception(exc)))


def mask_value(value: object) -> str:
    """A source value for an error text that must not show it: its length and a short hash
    (enough to tell two values apart, or to confirm a value one already has)."""
    text = value if isinstance(value, str) else repr(value)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"<masked len={len(text)} sha256={digest}>"


# Classification labels whose values may appear in error texts; every other label (PII,
# SENSITIVE, CREDENTIAL, CONFIDENTIAL, RESTRICTED, a label of your own) masks them.
SHOWN_LABELS = frozenset({"PUBLIC", "INTERNAL"})
_CLASSIFICATION = "dativo.classification."


def sensitive_columns(table_properties: dict[str, str], columns: list[str]) -> frozenset[str]:
    """The columns whose values errors must not show: classified (by the run's effective tags,
    or the table's default label) with any label but PUBLIC or INTERNAL."""
    default = table_properties.get(_CLASSIFICATION + "default")
    hidden = set()
    for column in columns:
        label = table_properties.get(_CLASSIFICATION + column, default)
        if label is not None and label.strip().upper() not in SHOWN_LABELS:
            hidden.add(column)
    return frozenset(hidden)
