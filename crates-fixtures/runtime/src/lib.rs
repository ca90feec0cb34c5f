//! The shared runtime (a stand-in for an async runtime such as tokio).
//!
//! It owns process-wide state: a key/value registry and a queue of pending
//! tasks with a virtual clock. Every ext crate built on it must see the SAME
//! instance in the final program; two copies would split the registry and the
//! queue, which is exactly the bug a "bundled runtime copy" causes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

pub type Task = Box<dyn FnOnce() + Send>;

pub struct Runtime {
    values: Mutex<HashMap<String, i64>>,
    // Pending tasks keyed by (due time, sequence) so equal deadlines run FIFO.
    queue: Mutex<BTreeMap<(u64, u64), Task>>,
    clock: Mutex<(u64, u64)>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide runtime, created on first use.
pub fn handle() -> &'static Runtime {
    RUNTIME.get_or_init(|| Runtime {
        values: Mutex::new(HashMap::new()),
        queue: Mutex::new(BTreeMap::new()),
        clock: Mutex::new((0, 0)),
    })
}

impl Runtime {
    /// An identity for this instance: its address.
    pub fn id(&'static self) -> u64 {
        self as *const Runtime as u64
    }

    pub fn set(&self, key: &str, value: i64) {
        self.values.lock().unwrap().insert(key.to_owned(), value);
    }

    pub fn get(&self, key: &str) -> Option<i64> {
        self.values.lock().unwrap().get(key).copied()
    }

    /// Schedules `task` to run `delay` ticks from now.
    pub fn spawn_after(&self, delay: u64, task: Task) {
        let mut clock = self.clock.lock().unwrap();
        clock.1 += 1;
        let key = (clock.0 + delay, clock.1);
        drop(clock);
        self.queue.lock().unwrap().insert(key, task);
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap().len()
    }

    /// Advances the clock by `ticks`, running every task that falls due, in
    /// order. Returns how many ran.
    pub fn advance(&self, ticks: u64) -> usize {
        let now = {
            let mut clock = self.clock.lock().unwrap();
            clock.0 += ticks;
            clock.0
        };
        let mut ran = 0;
        loop {
            // Pop one task at a time so a task may schedule more.
            let next = {
                let mut queue = self.queue.lock().unwrap();
                match queue.keys().next().copied() {
                    Some(key) if key.0 <= now => queue.remove(&key),
                    _ => None,
                }
            };
            match next {
                Some(task) => {
                    task();
                    ran += 1;
                }
                None => return ran,
            }
        }
    }
}
