//! `node:net`-like ext crate built on the shared runtime: it registers
//! values and queues "socket writes" as runtime tasks.

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicI64, Ordering};

static BYTES_WRITTEN: AtomicI64 = AtomicI64::new(0);

unsafe fn key<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        None
    } else {
        CStr::from_ptr(ptr).to_str().ok()
    }
}

/// The identity of the runtime instance this crate sees.
#[no_mangle]
pub extern "C" fn js_net_runtime_id() -> u64 {
    runtime::handle().id()
}

/// Stores `value` under `name` in the runtime's registry. Returns 0, or -1.
#[no_mangle]
pub unsafe extern "C" fn js_net_register(name: *const c_char, value: i64) -> i32 {
    match key(name) {
        Some(name) => {
            runtime::handle().set(name, value);
            0
        }
        None => -1,
    }
}

/// Queues a write of `len` bytes that completes `delay` ticks from now.
#[no_mangle]
pub extern "C" fn js_net_write_later(len: i64, delay: u64) {
    runtime::handle().spawn_after(
        delay,
        Box::new(move || {
            BYTES_WRITTEN.fetch_add(len, Ordering::SeqCst);
        }),
    );
}

/// Bytes whose queued writes have completed.
#[no_mangle]
pub extern "C" fn js_net_bytes_written() -> i64 {
    BYTES_WRITTEN.load(Ordering::SeqCst)
}
