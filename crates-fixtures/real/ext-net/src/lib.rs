//! `node:net`-like ext crate on the shared tokio runtime: writes go through a
//! tokio channel to a writer task, which runs only when the runtime is driven.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use runtime::tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

static BYTES_WRITTEN: AtomicI64 = AtomicI64::new(0);
static WRITER: OnceLock<UnboundedSender<i64>> = OnceLock::new();

/// The writer's channel; the first call spawns the writer task.
fn writer() -> &'static UnboundedSender<i64> {
    WRITER.get_or_init(|| {
        let (sender, mut receiver) = unbounded_channel::<i64>();
        runtime::spawn(async move {
            while let Some(len) = receiver.recv().await {
                BYTES_WRITTEN.fetch_add(len, Ordering::SeqCst);
            }
        });
        sender
    })
}

/// The identity of the runtime instance this crate sees.
#[no_mangle]
pub extern "C" fn js_net_runtime_id() -> u64 {
    runtime::id()
}

/// Queues a write of `len` bytes for the writer task. Returns 0, or -1.
#[no_mangle]
pub extern "C" fn js_net_write(len: i64) -> i32 {
    match writer().send(len) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Bytes the writer task has written so far.
#[no_mangle]
pub extern "C" fn js_net_bytes_written() -> i64 {
    BYTES_WRITTEN.load(Ordering::SeqCst)
}
