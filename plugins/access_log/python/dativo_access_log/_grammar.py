"""The access-log line grammar as one regular expression: the pure-Python reference reader's
parser, and the specification the Rust parser (src/parse.rs) follows byte for byte.

    host SP ident SP user SP [dd/Mon/yyyy:HH:MM:SS +zzzz] SP "request" SP status SP bytes
        [SP "referrer" SP "user agent"] *SP

host, ident and user are runs of anything but a space; status is three digits; bytes is digits
or ``-``; a quoted field runs to the first quote not escaped by a backslash and is kept as written
(``\\"`` stays ``\\"``). A line ends at ``\\n``; a ``\\r`` before it (CRLF) is dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pyarrow as pa

NOT_UTF8 = "not UTF-8"
NOT_CLF = "not in Common or Combined Log Format"
BAD_TIMESTAMP = "invalid timestamp"
BYTES_RANGE = "bytes out of range"

_QUOTED = rb'((?:[^"\\]|\\.)*)'
LINE = re.compile(
    rb"([^ ]+) ([^ ]+) ([^ ]+) "
    rb"\[(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\] "
    rb'"' + _QUOTED + rb'" (\d{3}) (\d+|-)'
    rb'(?: "' + _QUOTED + rb'" "' + _QUOTED + rb'")? *',
    re.DOTALL,
)
_BLANK = b" \t\r"
_MONTHS = {name: i for i, name in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_EPOCH = datetime(1970, 1, 1)
_INT64_MAX = 2**63 - 1

SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("ident", pa.string()),
        ("user", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("method", pa.string()),
        ("path", pa.string()),
        ("protocol", pa.string()),
        ("status", pa.int32()),
        ("bytes", pa.int64()),
        ("referrer", pa.string()),
        ("user_agent", pa.string()),
    ]
)


def parse_line(line: bytes) -> tuple[Any, ...] | str | None:
    """One line without its ``\\n``: the row's values (ts in UTC microseconds), None for a blank
    line, or the reason it is not a row."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip(_BLANK):
        return None
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    match = LINE.fullmatch(line)
    if match is None:
        return NOT_CLF
    g = match.groups()
    month = _MONTHS.get(g[4])
    try:
        if month is None:
            raise ValueError(g[4])
        local = datetime(int(g[5]), month, int(g[3]), int(g[6]), int(g[7]), int(g[8]))
    except ValueError:
        return BAD_TIMESTAMP
    off_h, off_m = int(g[10]), int(g[11])
    if off_h > 23 or off_m > 59:
        return BAD_TIMESTAMP
    offset = (off_h * 3600 + off_m * 60) * (-1 if g[9] == b"-" else 1)
    seconds = (local - _EPOCH).days * 86400 + (local - _EPOCH).seconds - offset
    size = None
    if g[14] != b"-":
        size = int(g[14])
        if size > _INT64_MAX:
            return BYTES_RANGE
    method, path, protocol = _request(g[12])
    text = [None if v is None else v.decode("utf-8") for v in (g[0], g[1], g[2], method, path, protocol, g[15], g[16])]
    return (*text[:3], seconds * 1_000_000, *text[3:6], int(g[13]), size, text[6], text[7])


def _request(request: bytes) -> tuple[bytes | None, bytes | None, bytes | None]:
    """METHOD PATH PROTOCOL: method before the first space, protocol after the last, the path between."""
    if request == b"-":
        return None, None, None
    first = request.find(b" ")
    if first < 0:
        return None, request, None
    last = request.rfind(b" ")
    if first == last:
        return request[:first], request[first + 1 :], None
    return request[:first], request[first + 1 : last], request[last + 1 :]
