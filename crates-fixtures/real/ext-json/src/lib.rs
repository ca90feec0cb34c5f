//! JSON ext crate on serde, serde_derive (a proc-macro) and serde_json: parses
//! a service description into a derived struct and re-serialises it.

use std::ffi::{c_char, CStr};

use serde_derive::{Deserialize, Serialize};

/// A service description; unknown fields are ignored.
#[derive(Deserialize, Serialize)]
struct Service {
    name: String,
    port: u16,
    #[serde(default)]
    tags: Vec<String>,
}

unsafe fn parse(json: *const c_char) -> Option<Service> {
    if json.is_null() {
        return None;
    }
    serde_json::from_slice(CStr::from_ptr(json).to_bytes()).ok()
}

/// The `port` of a service description, or -1 when it does not parse.
#[no_mangle]
pub unsafe extern "C" fn js_json_service_port(json: *const c_char) -> i32 {
    parse(json).map_or(-1, |service| i32::from(service.port))
}

/// Re-serialises a service description compactly, in field order, into `out`
/// as a NUL-terminated string. Returns its length without the NUL, or -1 when
/// the input does not parse or `out` (capacity `cap`) is too small.
#[no_mangle]
pub unsafe extern "C" fn js_json_normalize(
    json: *const c_char,
    out: *mut c_char,
    cap: usize,
) -> isize {
    let Some(text) = parse(json).and_then(|service| serde_json::to_string(&service).ok()) else {
        return -1;
    };
    if out.is_null() || text.len() >= cap {
        return -1;
    }
    std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), out, text.len());
    *out.add(text.len()) = 0;
    text.len() as isize
}

/// Only with the `tracing` feature, which is off: not in the archive, and not expected of it.
#[cfg(feature = "tracing")]
#[no_mangle]
pub extern "C" fn js_json_trace_level() -> i32 {
    1
}

/// Only on Windows: not in a Linux archive, and not expected of it.
#[cfg(windows)]
#[no_mangle]
pub extern "C" fn js_json_windows_codepage() -> u32 {
    65001
}

#[cfg(test)]
mod tests {
    /// Test code is never in a library build: not expected.
    #[no_mangle]
    pub extern "C" fn js_json_test_only() {}

    #[test]
    fn parses_a_port() {
        assert_eq!(super::js_json_test_only as usize != 0, true);
    }
}
