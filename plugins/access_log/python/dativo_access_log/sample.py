"""Generated access logs with a fixed seed, for the tests and the benchmark
(scripts/bench_access_log.py): Common and Combined lines mixed, IPv4 and IPv6 hosts, odd time
zone offsets, `-` sizes, quotes and escaped quotes in user agents and paths, requests that are
`-` or lack a protocol, CRLF line ends, blank lines; optionally malformed lines and a last line
without its line break.

    python -m dativo_access_log.sample out.log --lines 100000 [--seed 7] [--clean]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_OFFSETS = ["+0000", "-0000", "+0100", "-0700", "+0545", "-0930", "+1245", "+1400", "-1200", "+0530", "-0330"]
_METHODS = ["GET", "GET", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]
_PATHS = ["/", "/index.html", "/api/v1/orders?id=", "/static/app.js", "/search?q=a+b&page=", "/img/logo.png"]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.4.0",
    'Mozilla/5.0 (compatible; \\"quoted\\" bot/2.1; +http://example.com/bot)',
    "python-requests/2.31.0",
    "Wget/1.21 \\\\ backslash",
    "Ünïcödé-Agent/1.0 (日本語)",
    "-",
]
_REFERRERS = ["-", "https://example.com/", "https://search.example.org/?q=%22x%22", 'https://a.test/?q=\\"y\\"']
_MALFORMED = [
    "this is not a log line",
    '10.0.0.1 - - [31/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 12',  # no such date
    '10.0.0.1 - - [12/Foo/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 12',  # no such month
    '10.0.0.1 - - [12/Mar/2024:24:00:00 +0000] "GET / HTTP/1.1" 200 12',  # no such hour
    '10.0.0.1 - - [12/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 99999999999999999999',  # past int64
    '10.0.0.1 - - [12/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1 200 12',  # unterminated quote
    '10.0.0.1 - - [12/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 2000 12',  # four-digit status
    '10.0.0.1 - - [12/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 12 "-"',  # referrer without agent
    '10.0.0.1 - - [12/Mar/2024:10:00:00] "GET / HTTP/1.1" 200 12',  # no offset
]


@dataclass
class Written:
    """What was written: counts, and the malformed lines (1-based line number, text)."""

    lines: int = 0
    rows: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)


def _host(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return f"{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _line(rng: random.Random) -> str:
    day, month, year = rng.randrange(1, 29), rng.choice(_MONTHS), rng.choice([1999, 2000, 2024, 2026])
    time = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    stamp = f"[{day:02d}/{month}/{year}:{time} {rng.choice(_OFFSETS)}]"
    roll = rng.random()
    if roll < 0.02:
        request = "-"
    elif roll < 0.03:
        request = f"GET {rng.choice(_PATHS)}"  # HTTP/0.9: no protocol
    elif roll < 0.04:
        request = 'GET /a path with spaces/\\"q\\" HTTP/1.1'
    else:
        version = rng.choice(["1.0", "1.1", "2.0"])
        request = f"{rng.choice(_METHODS)} {rng.choice(_PATHS)}{rng.randrange(10**6)} HTTP/{version}"
    size = "-" if rng.random() < 0.1 else str(rng.randrange(10**7))
    user = rng.choice(["-", "-", "-", "frank", "j.doe@example.com"])
    head = f'{_host(rng)} - {user} {stamp} "{request}" {rng.choice([200, 200, 200, 301, 304, 404, 500])} {size}'
    if rng.random() < 0.3:
        return head  # Common Log Format
    return f'{head} "{rng.choice(_REFERRERS)}" "{rng.choice(_AGENTS)}"'


def write_log(path: Path, lines: int, seed: int = 7, clean: bool = False, final_newline: bool = False) -> Written:
    """Write ``lines`` lines to ``path``. Unless ``clean``: about 1 in 500 lines malformed (one of
    each kind first), 1 in 1000 blank, 1 in 50 ending in CRLF, one line that is not UTF-8, and
    no line break after the last line unless ``final_newline``."""
    rng = random.Random(seed)
    written = Written()
    bad = list(_MALFORMED)
    with path.open("wb") as out:
        chunk: list[bytes] = []
        for number in range(1, lines + 1):
            roll = rng.random()
            if not clean and ((bad and number % 97 == 0) or roll < 0.002):
                text = bad.pop(0) if bad else rng.choice(_MALFORMED)
                written.malformed.append((number, text))
                data = text.encode()
            elif not clean and roll < 0.003:
                data = b""
            elif not clean and number == 500:
                data = b'10.0.0.9 - - [12/Mar/2024:10:00:00 +0000] "G\xffT / HTTP/1.1" 200 1'  # not UTF-8
                written.malformed.append((number, data.decode("utf-8", "replace")))
            else:
                data = _line(rng).encode()
                written.rows += 1
            end = b"\r\n" if not clean and roll > 0.98 else b"\n"
            if number == lines and not clean and not final_newline:
                end = b""
            chunk.append(data + end)
            if len(chunk) == 10000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    written.lines = lines
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clean", action="store_true", help="only well-formed lines, each ending in \\n")
    args = parser.parse_args()
    written = write_log(args.path, args.lines, args.seed, args.clean)
    print(f"{args.path}: {written.lines} lines, {written.rows} rows, {len(written.malformed)} malformed")


if __name__ == "__main__":
    main()
