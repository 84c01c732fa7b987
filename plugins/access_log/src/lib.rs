//! Dativo's native access-log reader: parses a byte range of a Common/Combined Log Format file
//! into Arrow columns and exports them through the Arrow C stream interface
//! (`__arrow_c_stream__`). The columns are Rust vectors handed over as they are: the consumer
//! reads their memory and frees it through the release callbacks (src/ffi.rs). Parsing runs in
//! the stream's `get_next`, which pyarrow calls without holding the GIL.

mod ffi;
mod parse;

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use ffi::{array_node, schema_node, ArrowArray, ArrowArrayStream, ArrowSchema, Owned, ARROW_FLAG_NULLABLE};
use parse::{parse_line, Fields, Line};

const READ_CHUNK: usize = 4 * 1024 * 1024;
/// A batch ends at this many bytes of lines, whatever `batch_rows` says: bounds memory and keeps
/// the int32 string offsets far from overflowing.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

// --- column builders -----------------------------------------------------------------

fn push_bit(bits: &mut Vec<u8>, index: usize, on: bool) {
    if index % 8 == 0 {
        bits.push(0);
    }
    if on {
        *bits.last_mut().unwrap() |= 1 << (index % 8);
    }
}

fn validity(bits: Vec<u8>, nulls: i64) -> Option<Owned> {
    if nulls == 0 {
        None
    } else {
        Some(Owned::Bytes(bits))
    }
}

struct Utf8Builder {
    offsets: Vec<i32>,
    data: Vec<u8>,
    bits: Vec<u8>,
    nulls: i64,
    len: usize,
}

impl Utf8Builder {
    fn new(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Builder { offsets, data: Vec::with_capacity(bytes), bits: Vec::with_capacity(rows / 8 + 1), nulls: 0, len: 0 }
    }

    fn push(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => {
                self.data.extend_from_slice(v);
                push_bit(&mut self.bits, self.len, true);
            }
            None => {
                push_bit(&mut self.bits, self.len, false);
                self.nulls += 1;
            }
        }
        self.offsets.push(self.data.len() as i32);
        self.len += 1;
    }

    fn finish(self) -> ArrowArray {
        let buffers = vec![validity(self.bits, self.nulls), Some(Owned::I32(self.offsets)), Some(Owned::Bytes(self.data))];
        array_node(self.len as i64, self.nulls, buffers, vec![])
    }
}

struct I64Builder {
    values: Vec<i64>,
    bits: Vec<u8>,
    nulls: i64,
}

impl I64Builder {
    fn new(rows: usize) -> Self {
        I64Builder { values: Vec::with_capacity(rows), bits: Vec::with_capacity(rows / 8 + 1), nulls: 0 }
    }

    fn push(&mut self, value: Option<i64>) {
        push_bit(&mut self.bits, self.values.len(), value.is_some());
        if value.is_none() {
            self.nulls += 1;
        }
        self.values.push(value.unwrap_or(0));
    }

    fn finish(self) -> ArrowArray {
        let len = self.values.len() as i64;
        array_node(len, self.nulls, vec![validity(self.bits, self.nulls), Some(Owned::I64(self.values))], vec![])
    }
}

/// One batch being built: the eleven columns of the table.
struct Batch {
    ip: Utf8Builder,
    ident: Utf8Builder,
    user: Utf8Builder,
    ts: Vec<i64>,
    method: Utf8Builder,
    path: Utf8Builder,
    protocol: Utf8Builder,
    status: Vec<i32>,
    bytes: I64Builder,
    referrer: Utf8Builder,
    user_agent: Utf8Builder,
    rows: usize,
    line_bytes: usize,
}

const COLUMNS: [(&str, &str); 11] = [
    ("ip", "u"),
    ("ident", "u"),
    ("user", "u"),
    ("ts", "tsu:UTC"),
    ("method", "u"),
    ("path", "u"),
    ("protocol", "u"),
    ("status", "i"),
    ("bytes", "l"),
    ("referrer", "u"),
    ("user_agent", "u"),
];

impl Batch {
    fn new(rows: usize) -> Self {
        let small = |n: usize| Utf8Builder::new(rows, rows * n);
        Batch {
            ip: small(16),
            ident: small(1),
            user: small(1),
            ts: Vec::with_capacity(rows),
            method: small(4),
            path: small(48),
            protocol: small(8),
            status: Vec::with_capacity(rows),
            bytes: I64Builder::new(rows),
            referrer: small(32),
            user_agent: small(96),
            rows: 0,
            line_bytes: 0,
        }
    }

    fn push(&mut self, f: &Fields, line_len: usize) {
        self.ip.push(Some(f.ip));
        self.ident.push(Some(f.ident));
        self.user.push(Some(f.user));
        self.ts.push(f.ts_us);
        self.method.push(f.method);
        self.path.push(f.path);
        self.protocol.push(f.protocol);
        self.status.push(f.status);
        self.bytes.push(f.bytes);
        self.referrer.push(f.referrer);
        self.user_agent.push(f.user_agent);
        self.rows += 1;
        self.line_bytes += line_len;
    }

    fn finish(self) -> ArrowArray {
        let rows = self.rows as i64;
        let children = vec![
            self.ip.finish(),
            self.ident.finish(),
            self.user.finish(),
            array_node(rows, 0, vec![None, Some(Owned::I64(self.ts))], vec![]),
            self.method.finish(),
            self.path.finish(),
            self.protocol.finish(),
            array_node(rows, 0, vec![None, Some(Owned::I32(self.status))], vec![]),
            self.bytes.finish(),
            self.referrer.finish(),
            self.user_agent.finish(),
        ];
        array_node(rows, 0, vec![None], children)
    }
}

fn export_schema() -> ArrowSchema {
    let children = COLUMNS.iter().map(|(name, format)| schema_node(format, name, ARROW_FLAG_NULLABLE, vec![])).collect();
    schema_node("+s", "", 0, children)
}

// --- the scan of one byte range ---------------------------------------------------------

struct Rejected {
    line: u64, // 0-based, counted from the range's first line
    offset: u64,
    text: String,
    reason: &'static str,
}

struct Scan {
    file: File,
    remaining: Option<u64>, // bytes of the range not read yet (None: to the end of the file)
    buf: Vec<u8>,
    buf_offset: u64, // file offset of buf[0]
    cursor: usize,   // next unparsed byte in buf
    eof: bool,
    lines: u64,
    rows: u64,
    rejected: Vec<Rejected>,
    batch_rows: usize,
}

impl Scan {
    fn open(path: &str, start: u64, end: Option<u64>, batch_rows: usize) -> io::Result<Scan> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(start))?;
        Ok(Scan {
            file,
            remaining: end.map(|e| e.saturating_sub(start)),
            buf: Vec::with_capacity(READ_CHUNK),
            buf_offset: start,
            cursor: 0,
            eof: false,
            lines: 0,
            rows: 0,
            rejected: Vec::new(),
            batch_rows: batch_rows.max(1),
        })
    }

    /// Keep the unparsed tail, read more after it. Grows the buffer for a line longer than it.
    fn fill(&mut self) -> io::Result<()> {
        self.buf.drain(..self.cursor);
        self.buf_offset += self.cursor as u64;
        self.cursor = 0;
        let want = READ_CHUNK.max(self.buf.len() * 2);
        let want = match self.remaining {
            Some(r) => want.min(r as usize),
            None => want,
        };
        if want == 0 {
            self.eof = true;
            return Ok(());
        }
        let had = self.buf.len();
        self.buf.resize(had + want, 0);
        let mut got = 0;
        while got < want {
            match self.file.read(&mut self.buf[had + got..had + want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(had + got);
        if let Some(r) = self.remaining.as_mut() {
            *r -= got as u64;
        }
        if got == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Parse up to `batch_rows` rows, consuming at most `max_lines` lines. An empty batch with
    /// no line consumed means the range is done.
    fn next_batch(&mut self, max_lines: u64) -> io::Result<(Batch, u64)> {
        let mut batch = Batch::new(self.batch_rows.min(max_lines as usize).max(1));
        let mut consumed = 0u64;
        while batch.rows < self.batch_rows && batch.line_bytes < BATCH_BYTES && consumed < max_lines {
            let (start, end, next) = match memchr::memchr(b'\n', &self.buf[self.cursor..]) {
                Some(n) => (self.cursor, self.cursor + n, self.cursor + n + 1),
                None if self.eof => {
                    if self.cursor == self.buf.len() {
                        break; // the range is done
                    }
                    (self.cursor, self.buf.len(), self.buf.len()) // a last line without its newline
                }
                None => {
                    self.fill()?;
                    continue;
                }
            };
            let line = &self.buf[start..end];
            match parse_line(line) {
                Line::Row(fields) => batch.push(&fields, line.len()),
                Line::Blank => {}
                Line::Bad(reason) => {
                    let text = line.strip_suffix(b"\r").unwrap_or(line);
                    self.rejected.push(Rejected {
                        line: self.lines,
                        offset: self.buf_offset + start as u64,
                        text: String::from_utf8_lossy(text).into_owned(),
                        reason,
                    });
                }
            }
            self.cursor = next;
            self.lines += 1;
            consumed += 1;
        }
        self.rows += batch.rows as u64;
        Ok((batch, consumed))
    }
}

// --- the exported stream -----------------------------------------------------------------

struct StreamPrivate {
    scan: Arc<Mutex<Scan>>,
    lines_left: u64,
    error: Option<CString>,
}

unsafe extern "C" fn stream_get_schema(stream: *mut ArrowArrayStream, out: *mut ArrowSchema) -> c_int {
    if stream.is_null() || out.is_null() {
        return libc_einval();
    }
    ptr::write(out, export_schema());
    0
}

unsafe extern "C" fn stream_get_next(stream: *mut ArrowArrayStream, out: *mut ArrowArray) -> c_int {
    if stream.is_null() || out.is_null() {
        return libc_einval();
    }
    let private = &mut *((*stream).private_data as *mut StreamPrivate);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| next_array(private)));
    match result {
        Ok(Ok(array)) => {
            ptr::write(out, array);
            0
        }
        Ok(Err(e)) => {
            private.error = CString::new(format!("access log: {e}")).ok();
            5 // EIO
        }
        Err(_) => {
            private.error = CString::new("access log: internal error (panic) while parsing").ok();
            libc_einval()
        }
    }
}

/// The next non-empty batch; a released (end-of-stream) array once the segment is done.
fn next_array(private: &mut StreamPrivate) -> io::Result<ArrowArray> {
    let mut scan = private.scan.lock().unwrap_or_else(|p| p.into_inner());
    while private.lines_left > 0 {
        let (batch, consumed) = scan.next_batch(private.lines_left)?;
        private.lines_left -= consumed;
        if batch.rows > 0 {
            return Ok(batch.finish());
        }
        if consumed == 0 {
            break;
        }
    }
    private.lines_left = 0;
    Ok(ArrowArray::empty()) // release == NULL: the end of the stream
}

unsafe extern "C" fn stream_last_error(stream: *mut ArrowArrayStream) -> *const c_char {
    if stream.is_null() || (*stream).private_data.is_null() {
        return ptr::null();
    }
    let private = &*((*stream).private_data as *const StreamPrivate);
    match &private.error {
        Some(e) => e.as_ptr(),
        None => ptr::null(),
    }
}

unsafe extern "C" fn stream_release(stream: *mut ArrowArrayStream) {
    if stream.is_null() || (*stream).release.is_none() {
        return;
    }
    drop(Box::from_raw((*stream).private_data as *mut StreamPrivate));
    (*stream).private_data = ptr::null_mut();
    (*stream).release = None;
}

fn libc_einval() -> c_int {
    22
}

const STREAM_CAPSULE: &[u8] = b"arrow_array_stream\0";

/// The capsule's destructor: a stream nobody imported (release still set) is released here.
unsafe extern "C" fn capsule_destructor(capsule: *mut pyo3::ffi::PyObject) {
    let name = STREAM_CAPSULE.as_ptr() as *const c_char;
    let stream = pyo3::ffi::PyCapsule_GetPointer(capsule, name) as *mut ArrowArrayStream;
    if stream.is_null() {
        pyo3::ffi::PyErr_Clear();
        return;
    }
    if let Some(release) = (*stream).release {
        release(stream);
    }
    drop(Box::from_raw(stream));
}

// --- Python classes ------------------------------------------------------------------------

/// A scan of bytes [start, end) of a log file (end None: to the end of the file). `segment(n)`
/// hands out the next n lines as an Arrow stream; `take_rejected()` returns the lines the scan
/// could not parse since the last call.
#[pyclass(module = "dativo_access_log._native")]
struct Scanner {
    scan: Arc<Mutex<Scan>>,
}

#[pymethods]
impl Scanner {
    #[new]
    #[args(start = "0", end = "None", batch_rows = "65536")]
    fn new(path: &str, start: u64, end: Option<u64>, batch_rows: usize) -> PyResult<Self> {
        let scan = Scan::open(path, start, end, batch_rows).map_err(|e| PyOSError::new_err(format!("{path}: {e}")))?;
        Ok(Scanner { scan: Arc::new(Mutex::new(scan)) })
    }

    /// An object with `__arrow_c_stream__` delivering the next `lines` lines' rows.
    fn segment(&self, lines: u64) -> Segment {
        Segment { scan: Some(self.scan.clone()), lines }
    }

    /// Whether every line of the range has been parsed.
    #[getter]
    fn finished(&self) -> bool {
        let scan = self.scan.lock().unwrap_or_else(|p| p.into_inner());
        scan.eof && scan.cursor == scan.buf.len()
    }

    #[getter]
    fn lines(&self) -> u64 {
        self.scan.lock().unwrap_or_else(|p| p.into_inner()).lines
    }

    #[getter]
    fn rows(&self) -> u64 {
        self.scan.lock().unwrap_or_else(|p| p.into_inner()).rows
    }

    /// `[(line_index, byte_offset, text, reason), ...]`: line_index 0-based within the range.
    fn take_rejected(&self) -> Vec<(u64, u64, String, &'static str)> {
        let mut scan = self.scan.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut scan.rejected).into_iter().map(|r| (r.line, r.offset, r.text, r.reason)).collect()
    }
}

/// Part of a scan, exported once through the Arrow PyCapsule stream protocol.
#[pyclass(module = "dativo_access_log._native")]
struct Segment {
    scan: Option<Arc<Mutex<Scan>>>,
    lines: u64,
}

#[pymethods]
impl Segment {
    #[args(requested_schema = "None")]
    fn __arrow_c_stream__(&mut self, py: Python<'_>, requested_schema: Option<PyObject>) -> PyResult<PyObject> {
        let _ = requested_schema; // the columns are fixed; a consumer casts if it wants others
        let scan = self.scan.take().ok_or_else(|| PyValueError::new_err("this segment was exported already"))?;
        let private = Box::new(StreamPrivate { scan, lines_left: self.lines, error: None });
        let stream = Box::new(ArrowArrayStream {
            get_schema: Some(stream_get_schema),
            get_next: Some(stream_get_next),
            get_last_error: Some(stream_last_error),
            release: Some(stream_release),
            private_data: Box::into_raw(private) as *mut c_void,
        });
        let raw = Box::into_raw(stream);
        unsafe {
            let name = STREAM_CAPSULE.as_ptr() as *const c_char;
            let capsule = pyo3::ffi::PyCapsule_New(raw as *mut c_void, name, Some(capsule_destructor));
            if capsule.is_null() {
                stream_release(raw);
                drop(Box::from_raw(raw));
                return Err(PyErr::fetch(py));
            }
            Ok(PyObject::from_owned_ptr(py, capsule))
        }
    }

    /// The Arrow schema alone (`__arrow_c_schema__`), e.g. for `pyarrow.schema(segment)`.
    fn __arrow_c_schema__(&self, py: Python<'_>) -> PyResult<PyObject> {
        schema_capsule(py)
    }
}

const SCHEMA_CAPSULE: &[u8] = b"arrow_schema\0";

unsafe extern "C" fn schema_capsule_destructor(capsule: *mut pyo3::ffi::PyObject) {
    let name = SCHEMA_CAPSULE.as_ptr() as *const c_char;
    let schema = pyo3::ffi::PyCapsule_GetPointer(capsule, name) as *mut ArrowSchema;
    if schema.is_null() {
        pyo3::ffi::PyErr_Clear();
        return;
    }
    if let Some(release) = (*schema).release {
        release(schema);
    }
    drop(Box::from_raw(schema));
}

fn schema_capsule(py: Python<'_>) -> PyResult<PyObject> {
    let raw = Box::into_raw(Box::new(export_schema()));
    unsafe {
        let name = SCHEMA_CAPSULE.as_ptr() as *const c_char;
        let capsule = pyo3::ffi::PyCapsule_New(raw as *mut c_void, name, Some(schema_capsule_destructor));
        if capsule.is_null() {
            if let Some(release) = (*raw).release {
                release(raw);
            }
            drop(Box::from_raw(raw));
            return Err(PyErr::fetch(py));
        }
        Ok(PyObject::from_owned_ptr(py, capsule))
    }
}

/// The table's Arrow schema as an `arrow_schema` PyCapsule.
#[pyfunction]
fn schema(py: Python<'_>) -> PyResult<PyObject> {
    schema_capsule(py)
}

/// Line breaks in bytes [start, end) of a file: a partition's first line number, counted at
/// planning time (memchr: several GB/s from the page cache).
#[pyfunction]
fn count_newlines(py: Python<'_>, path: &str, start: u64, end: u64) -> PyResult<u64> {
    let owned = path.to_owned();
    py.allow_threads(move || -> io::Result<u64> {
        let mut file = File::open(&owned)?;
        file.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut left = end.saturating_sub(start);
        let mut count = 0u64;
        while left > 0 {
            let want = (buf.len() as u64).min(left) as usize;
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            left -= n as u64;
        }
        Ok(count)
    })
    .map_err(|e| PyOSError::new_err(format!("{path}: {e}")))
}

/// Parse one line (tests and error messages): a tuple of the row's values, or the reason it is bad.
#[pyfunction]
fn parse_one(py: Python<'_>, line: &[u8]) -> PyObject {
    match parse_line(line) {
        Line::Row(f) => {
            let s = |v: Option<&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
            let values: Vec<PyObject> = vec![
                s(Some(f.ip)).into_py(py),
                s(Some(f.ident)).into_py(py),
                s(Some(f.user)).into_py(py),
                f.ts_us.into_py(py),
                s(f.method).into_py(py),
                s(f.path).into_py(py),
                s(f.protocol).into_py(py),
                f.status.into_py(py),
                f.bytes.into_py(py),
                s(f.referrer).into_py(py),
                s(f.user_agent).into_py(py),
            ];
            PyTuple::new(py, values).into_py(py)
        }
        Line::Blank => py.None(),
        Line::Bad(reason) => reason.into_py(py),
    }
}

#[pymodule]
fn _native(_py: Python<'_>, m: &PyModule) -> PyResult<()> {
    m.add_class::<Scanner>()?;
    m.add_class::<Segment>()?;
    m.add_function(wrap_pyfunction!(schema, m)?)?;
    m.add_function(wrap_pyfunction!(count_newlines, m)?)?;
    m.add_function(wrap_pyfunction!(parse_one, m)?)?;
    let _ = CStr::from_bytes_with_nul(STREAM_CAPSULE).expect("capsule name is NUL-terminated");
    Ok(())
}
