//! Ids and hashes: FNV-1a, a monotonically increasing id source and a
//! hex formatter. One export is named with `export_name`.

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter()
        .fold(FNV_OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// FNV-1a 64 of a NUL-terminated string.
#[export_name = "js_hash_fnv1a64"]
pub unsafe extern "C" fn fnv1a_c_string(s: *const c_char) -> u64 {
    if s.is_null() {
        return FNV_OFFSET;
    }
    fnv1a(CStr::from_ptr(s).to_bytes())
}

/// A process-wide id, strictly increasing from 1.
#[no_mangle]
pub extern "C" fn js_hash_next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Writes `value` as 16 lowercase hex digits plus NUL into `out` (17 bytes).
/// Returns 0, or -1 when `out` is null.
#[no_mangle]
pub unsafe extern "C" fn js_hash_to_hex(value: u64, out: *mut c_char) -> i32 {
    if out.is_null() {
        return -1;
    }
    let text = format!("{value:016x}\0");
    std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), out, text.len());
    0
}
