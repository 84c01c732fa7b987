//! The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html) and
//! C stream interface, written out here because Debian ships no arrow crate: the three ABI
//! structs, their release callbacks, and the export of a batch of owned Rust vectors. The
//! consumer (pyarrow, DuckDB, polars...) maps the vectors' memory directly: no copy is made, and
//! the memory is freed by the release callback when the consumer drops the last reference.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

pub const ARROW_FLAG_NULLABLE: i64 = 2;

#[repr(C)]
pub struct ArrowSchema {
    pub format: *const c_char,
    pub name: *const c_char,
    pub metadata: *const c_char,
    pub flags: i64,
    pub n_children: i64,
    pub children: *mut *mut ArrowSchema,
    pub dictionary: *mut ArrowSchema,
    pub release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    pub private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *mut *const c_void,
    pub children: *mut *mut ArrowArray,
    pub dictionary: *mut ArrowArray,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    pub private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArrayStream {
    pub get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    pub get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    pub get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    pub private_data: *mut c_void,
}

impl ArrowSchema {
    pub fn empty() -> Self {
        ArrowSchema {
            format: ptr::null(),
            name: ptr::null(),
            metadata: ptr::null(),
            flags: 0,
            n_children: 0,
            children: ptr::null_mut(),
            dictionary: ptr::null_mut(),
            release: None,
            private_data: ptr::null_mut(),
        }
    }
}

impl ArrowArray {
    pub fn empty() -> Self {
        ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: ptr::null_mut(),
            children: ptr::null_mut(),
            dictionary: ptr::null_mut(),
            release: None,
            private_data: ptr::null_mut(),
        }
    }
}

// --- schemas ---------------------------------------------------------------------------

struct SchemaPrivate {
    _format: CString,
    _name: CString,
    children: Vec<*mut ArrowSchema>,
}

unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    if schema.is_null() || (*schema).release.is_none() {
        return;
    }
    let private = Box::from_raw((*schema).private_data as *mut SchemaPrivate);
    for &child in private.children.iter() {
        if let Some(release) = (*child).release {
            release(child); // a child the consumer moved out has release == NULL here
        }
        drop(Box::from_raw(child));
    }
    drop(private);
    (*schema).release = None;
}

/// A schema node: `format` per the C data interface ("u" utf8, "i" int32, "tsu:UTC"...).
pub fn schema_node(format: &str, name: &str, flags: i64, children: Vec<ArrowSchema>) -> ArrowSchema {
    let format = CString::new(format).expect("format has no NUL");
    let name = CString::new(name).expect("name has no NUL");
    let mut child_ptrs: Vec<*mut ArrowSchema> = children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let mut schema = ArrowSchema::empty();
    schema.format = format.as_ptr();
    schema.name = name.as_ptr();
    schema.flags = flags;
    schema.n_children = child_ptrs.len() as i64;
    schema.children = if child_ptrs.is_empty() { ptr::null_mut() } else { child_ptrs.as_mut_ptr() };
    schema.release = Some(release_schema);
    let private = Box::new(SchemaPrivate { _format: format, _name: name, children: child_ptrs });
    schema.private_data = Box::into_raw(private) as *mut c_void;
    schema
}

// --- arrays ----------------------------------------------------------------------------

/// A buffer handed to the consumer as it is: the vector's heap memory is what Arrow reads.
pub enum Owned {
    Bytes(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Owned {
    fn as_ptr(&self) -> *const c_void {
        match self {
            Owned::Bytes(v) => v.as_ptr() as *const c_void,
            Owned::I32(v) => v.as_ptr() as *const c_void,
            Owned::I64(v) => v.as_ptr() as *const c_void,
        }
    }
}

struct ArrayPrivate {
    _owned: Vec<Option<Owned>>,
    buffers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
}

unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    if array.is_null() || (*array).release.is_none() {
        return;
    }
    let private = Box::from_raw((*array).private_data as *mut ArrayPrivate);
    for &child in private.children.iter() {
        if let Some(release) = (*child).release {
            release(child);
        }
        drop(Box::from_raw(child));
    }
    drop(private); // frees the buffers
    (*array).release = None;
}

/// An array node owning its buffers (`None`: an absent buffer, e.g. no validity bitmap).
pub fn array_node(length: i64, null_count: i64, buffers: Vec<Option<Owned>>, children: Vec<ArrowArray>) -> ArrowArray {
    let mut pointers: Vec<*const c_void> = buffers
        .iter()
        .map(|b| match b {
            Some(owned) => owned.as_ptr(),
            None => ptr::null(),
        })
        .collect();
    let mut child_ptrs: Vec<*mut ArrowArray> = children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let mut array = ArrowArray::empty();
    array.length = length;
    array.null_count = null_count;
    array.n_buffers = pointers.len() as i64;
    array.buffers = pointers.as_mut_ptr();
    array.n_children = child_ptrs.len() as i64;
    array.children = if child_ptrs.is_empty() { ptr::null_mut() } else { child_ptrs.as_mut_ptr() };
    array.release = Some(release_array);
    let private = Box::new(ArrayPrivate { _owned: buffers, buffers: pointers, children: child_ptrs });
    debug_assert_eq!(private.buffers.len() as i64, array.n_buffers);
    array.private_data = Box::into_raw(private) as *mut c_void;
    array
}
