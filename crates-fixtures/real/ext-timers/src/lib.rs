//! `node:timers`-like ext crate on the shared tokio runtime: timeouts are
//! tasks sleeping with `tokio::time`, and `js_timers_sleep` is the event pump
//! that drives every task of the runtime, whichever crate spawned it.

use std::time::Duration;

use runtime::tokio::time::{sleep, Instant};

pub type Callback = extern "C" fn(arg: i64);

/// The identity of the runtime instance this crate sees.
#[no_mangle]
pub extern "C" fn js_timers_runtime_id() -> u64 {
    runtime::id()
}

/// Calls `callback(arg)` from a runtime task after `ms` milliseconds.
#[no_mangle]
pub extern "C" fn js_timers_set_timeout(callback: Callback, arg: i64, ms: u64) {
    runtime::spawn(async move {
        sleep(Duration::from_millis(ms)).await;
        callback(arg);
    });
}

/// Tasks of the runtime not finished yet, from every crate.
#[no_mangle]
pub extern "C" fn js_timers_pending() -> i64 {
    runtime::alive() as i64
}

/// Drives the runtime for `ms` milliseconds; returns the milliseconds elapsed.
#[no_mangle]
pub extern "C" fn js_timers_sleep(ms: u64) -> i64 {
    runtime::block_on(async move {
        let start = Instant::now();
        sleep(Duration::from_millis(ms)).await;
        start.elapsed().as_millis() as i64
    })
}
