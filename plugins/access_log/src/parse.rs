//! One access-log line -> its fields, by the grammar the Python reference reader's regular
//! expression spells (python/dativo_access_log/_grammar.py); the two must agree byte for byte:
//!
//! ```text
//! host SP ident SP user SP [dd/Mon/yyyy:HH:MM:SS +zzzz] SP "request" SP status SP bytes
//!     [SP "referrer" SP "user agent"] *SP
//! ```
//!
//! host, ident and user are runs of anything but a space; status is three digits; bytes is
//! digits or `-`; quoted fields run to the first quote not escaped by a backslash and are kept
//! as written (escapes included). The timestamp is normalised to UTC microseconds.

pub const NOT_UTF8: &str = "not UTF-8";
pub const NOT_CLF: &str = "not in Common or Combined Log Format";
pub const BAD_TIMESTAMP: &str = "invalid timestamp";
pub const BYTES_RANGE: &str = "bytes out of range";

pub struct Fields<'a> {
    pub ip: &'a [u8],
    pub ident: &'a [u8],
    pub user: &'a [u8],
    pub ts_us: i64,
    pub method: Option<&'a [u8]>,
    pub path: Option<&'a [u8]>,
    pub protocol: Option<&'a [u8]>,
    pub status: i32,
    pub bytes: Option<i64>,
    pub referrer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

pub enum Line<'a> {
    Row(Fields<'a>),
    Blank,
    Bad(&'static str),
}

/// A line without its `\n` (a trailing `\r`, from CRLF, is dropped here).
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    if line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
        return Line::Blank;
    }
    if std::str::from_utf8(line).is_err() {
        return Line::Bad(NOT_UTF8);
    }
    match structure(line) {
        None => Line::Bad(NOT_CLF),
        Some(raw) => {
            let ts_us = match timestamp(raw.time) {
                Some(t) => t,
                None => return Line::Bad(BAD_TIMESTAMP),
            };
            let bytes = match raw.bytes {
                b"-" => None,
                digits => match number(digits) {
                    Some(n) => Some(n),
                    None => return Line::Bad(BYTES_RANGE),
                },
            };
            let (method, path, protocol) = request(raw.request);
            Line::Row(Fields {
                ip: raw.ip,
                ident: raw.ident,
                user: raw.user,
                ts_us,
                method,
                path,
                protocol,
                status: raw.status,
                bytes,
                referrer: raw.referrer,
                user_agent: raw.user_agent,
            })
        }
    }
}

struct Raw<'a> {
    ip: &'a [u8],
    ident: &'a [u8],
    user: &'a [u8],
    time: &'a [u8],
    request: &'a [u8],
    status: i32,
    bytes: &'a [u8],
    referrer: Option<&'a [u8]>,
    user_agent: Option<&'a [u8]>,
}

struct Cursor<'a> {
    line: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A run of non-space bytes (at least one) followed by one space.
    fn token(&mut self) -> Option<&'a [u8]> {
        let rest = &self.line[self.at..];
        let n = memchr::memchr(b' ', rest)?;
        if n == 0 {
            return None;
        }
        self.at += n + 1;
        Some(&rest[..n])
    }

    fn expect(&mut self, text: &[u8]) -> Option<()> {
        if self.line[self.at..].starts_with(text) {
            self.at += text.len();
            Some(())
        } else {
            None
        }
    }

    /// The inside of a quoted field, the opening quote already consumed; consumes the closing one.
    fn quoted(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let line = self.line;
        let mut i = start;
        loop {
            let n = memchr::memchr2(b'"', b'\\', &line[i..])?;
            i += n;
            if line[i] == b'"' {
                self.at = i + 1;
                return Some(&line[start..i]);
            }
            if i + 1 >= line.len() {
                return None; // a backslash at the end of the line escapes nothing
            }
            i += 2;
        }
    }
}

fn structure(line: &[u8]) -> Option<Raw<'_>> {
    let mut c = Cursor { line, at: 0 };
    let ip = c.token()?;
    let ident = c.token()?;
    let user = c.token()?;
    c.expect(b"[")?;
    if line.len() < c.at + 27 {
        return None;
    }
    let time = &line[c.at..c.at + 26];
    if !time_shape(time) {
        return None;
    }
    c.at += 26;
    c.expect(b"] \"")?;
    let request = c.quoted()?;
    c.expect(b" ")?;
    let status = &line[c.at..];
    if status.len() < 4 || !status[..3].iter().all(u8::is_ascii_digit) || status[3] != b' ' {
        return None;
    }
    let status = (status[0] - b'0') as i32 * 100 + (status[1] - b'0') as i32 * 10 + (status[2] - b'0') as i32;
    c.at += 4;
    let rest = &line[c.at..];
    let n = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let bytes = &rest[..n];
    if bytes.is_empty() || !(bytes == b"-" || bytes.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    c.at += n;
    let tail = &line[c.at..];
    let (referrer, user_agent) = if tail.iter().all(|&b| b == b' ') {
        (None, None)
    } else {
        c.expect(b" \"")?;
        let referrer = c.quoted()?;
        c.expect(b" \"")?;
        let user_agent = c.quoted()?;
        if !line[c.at..].iter().all(|&b| b == b' ') {
            return None;
        }
        (Some(referrer), Some(user_agent))
    };
    Some(Raw { ip, ident, user, time, request, status, bytes, referrer, user_agent })
}

/// `dd/Mon/yyyy:HH:MM:SS +zzzz`: digits, three ASCII letters, the separators.
fn time_shape(t: &[u8]) -> bool {
    const DIGITS: [usize; 16] = [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25];
    DIGITS.iter().all(|&i| t[i].is_ascii_digit())
        && t[3..6].iter().all(u8::is_ascii_alphabetic)
        && t[2] == b'/'
        && t[6] == b'/'
        && t[11] == b':'
        && t[14] == b':'
        && t[17] == b':'
        && t[20] == b' '
        && (t[21] == b'+' || t[21] == b'-')
}

const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

fn two(t: &[u8]) -> i64 {
    (t[0] - b'0') as i64 * 10 + (t[1] - b'0') as i64
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Microseconds since the epoch in UTC, or None for a date or time that does not exist.
/// The offset (at most 23:59 either way) is the local time's distance from UTC: UTC = local - offset.
fn timestamp(t: &[u8]) -> Option<i64> {
    let day = two(&t[0..2]);
    let month = MONTHS.iter().position(|m| &t[3..6] == &m[..])? as i64 + 1;
    let year = two(&t[7..9]) * 100 + two(&t[9..11]);
    let (hour, minute, second) = (two(&t[12..14]), two(&t[15..17]), two(&t[18..20]));
    let (off_h, off_m) = (two(&t[22..24]), two(&t[24..26]));
    let month_days = [31, if is_leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if year < 1 || day < 1 || day > month_days[(month - 1) as usize] || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if off_h > 23 || off_m > 59 {
        return None;
    }
    let offset = (off_h * 3600 + off_m * 60) * if t[21] == b'-' { -1 } else { 1 };
    let local = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    Some((local - offset) * 1_000_000)
}

/// Decimal digits as an int64 (None past its range).
fn number(digits: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(n)
}

/// `METHOD PATH PROTOCOL`: method before the first space, protocol after the last one, the path
/// between (it may hold spaces). One space: no protocol (HTTP/0.9). None: the whole request is
/// the path. `-` (no request line was read): all three null.
fn request(r: &[u8]) -> (Option<&[u8]>, Option<&[u8]>, Option<&[u8]>) {
    if r == b"-" {
        return (None, None, None);
    }
    let first = match memchr::memchr(b' ', r) {
        Some(i) => i,
        None => return (None, Some(r), None),
    };
    let last = memchr::memrchr(b' ', r).unwrap_or(first);
    if first == last {
        (Some(&r[..first]), Some(&r[first + 1..]), None)
    } else {
        (Some(&r[..first]), Some(&r[first + 1..last]), Some(&r[last + 1..]))
    }
}
