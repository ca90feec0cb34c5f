//! `node:timers`-like ext crate built on the shared runtime: it reads the
//! registry and drives the runtime's clock (the event pump).

use std::ffi::{c_char, CStr};

pub type Callback = extern "C" fn(arg: i64);

/// The identity of the runtime instance this crate sees.
#[no_mangle]
pub extern "C" fn js_timers_runtime_id() -> u64 {
    runtime::handle().id()
}

/// Reads `name` from the runtime's registry into `out`. Returns 1 if found,
/// 0 if not, -1 on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn js_timers_lookup(name: *const c_char, out: *mut i64) -> i32 {
    if name.is_null() || out.is_null() {
        return -1;
    }
    let Ok(name) = CStr::from_ptr(name).to_str() else { return -1 };
    match runtime::handle().get(name) {
        Some(value) => {
            *out = value;
            1
        }
        None => 0,
    }
}

/// Calls `callback(arg)` after `delay` ticks.
#[no_mangle]
pub extern "C" fn js_timers_set_timeout(callback: Callback, arg: i64, delay: u64) {
    runtime::handle().spawn_after(delay, Box::new(move || callback(arg)));
}

/// Tasks still waiting in the runtime's queue (from every crate).
#[no_mangle]
pub extern "C" fn js_timers_pending() -> i64 {
    runtime::handle().pending() as i64
}

/// Advances the runtime clock; returns how many tasks ran.
#[no_mangle]
pub extern "C" fn js_timers_advance(ticks: u64) -> i64 {
    runtime::handle().advance(ticks) as i64
}
