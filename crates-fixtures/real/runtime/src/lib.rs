//! The shared runtime: ONE tokio current-thread runtime for the whole program.
//!
//! Ext crates reach tokio only through this crate (`runtime::tokio`). Tasks
//! spawned here make progress only while someone drives the runtime, so a task
//! spawned through one ext crate and completed by another crate's pump proves
//! both see the same instance. No `#[no_mangle]` items here (F15).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub use tokio;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// The process-wide runtime, created on first use.
pub fn handle() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("cannot build the tokio runtime")
    })
}

/// An identity for the runtime instance: its address.
pub fn id() -> u64 {
    handle() as *const Runtime as u64
}

/// Spawns `task`; it runs only while the runtime is driven (see `block_on`).
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ALIVE.fetch_add(1, Ordering::SeqCst);
    handle().spawn(async move {
        let output = task.await;
        ALIVE.fetch_sub(1, Ordering::SeqCst);
        output
    })
}

/// Tasks spawned through `spawn` that have not finished yet.
pub fn alive() -> usize {
    ALIVE.load(Ordering::SeqCst)
}

/// Drives the runtime (every spawned task) until `future` completes.
pub fn block_on<F: Future>(future: F) -> F::Output {
    handle().block_on(future)
}
