//! An event emitter registry for `node:events` (edition 2024: the export
//! attribute is `#[unsafe(no_mangle)]`).
//!
//! Emitters are handles; listeners are C callbacks registered under an event
//! name and called in registration order.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

pub type Listener = extern "C" fn(payload: i64, user: *mut c_void);

#[derive(Clone, Copy)]
struct Entry {
    callback: Listener,
    user: usize,
}

#[derive(Default)]
struct Emitter {
    listeners: HashMap<String, Vec<Entry>>,
}

static EMITTERS: Mutex<Vec<Option<Emitter>>> = Mutex::new(Vec::new());

unsafe fn name<'a>(event: *const c_char) -> Option<&'a str> {
    if event.is_null() {
        return None;
    }
    unsafe { CStr::from_ptr(event) }.to_str().ok()
}

/// Creates an emitter and returns its handle (>= 1).
#[unsafe(no_mangle)]
pub extern "C" fn js_events_emitter_new() -> i64 {
    let mut emitters = EMITTERS.lock().unwrap();
    emitters.push(Some(Emitter::default()));
    emitters.len() as i64
}

/// Adds a listener; returns the number of listeners for that event, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn js_events_on(
    handle: i64,
    event: *const c_char,
    callback: Listener,
    user: *mut c_void,
) -> i64 {
    let Some(event) = (unsafe { name(event) }) else { return -1 };
    let mut emitters = EMITTERS.lock().unwrap();
    let Some(Some(emitter)) = emitters.get_mut((handle - 1) as usize) else { return -1 };
    let list = emitter.listeners.entry(event.to_owned()).or_default();
    list.push(Entry { callback, user: user as usize });
    list.len() as i64
}

/// Calls every listener of `event` with `payload`; returns how many ran, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn js_events_emit(handle: i64, event: *const c_char, payload: i64) -> i64 {
    let Some(event) = (unsafe { name(event) }) else { return -1 };
    // Copy the listeners out so a callback may register more without deadlock.
    let entries: Vec<Entry> = {
        let emitters = EMITTERS.lock().unwrap();
        let Some(Some(emitter)) = emitters.get((handle - 1) as usize) else { return -1 };
        emitter.listeners.get(event).cloned().unwrap_or_default()
    };
    for entry in &entries {
        (entry.callback)(payload, entry.user as *mut c_void);
    }
    entries.len() as i64
}

/// Number of listeners registered for `event`, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn js_events_listener_count(handle: i64, event: *const c_char) -> i64 {
    let Some(event) = (unsafe { name(event) }) else { return -1 };
    let emitters = EMITTERS.lock().unwrap();
    match emitters.get((handle - 1) as usize) {
        Some(Some(emitter)) => emitter.listeners.get(event).map_or(0, Vec::len) as i64,
        _ => -1,
    }
}

/// Drops an emitter and its listeners; returns 0, or -1 for an unknown handle.
#[unsafe(no_mangle)]
pub extern "C" fn js_events_emitter_free(handle: i64) -> i32 {
    let mut emitters = EMITTERS.lock().unwrap();
    match emitters.get_mut((handle - 1) as usize) {
        Some(slot @ Some(_)) => {
            *slot = None;
            0
        }
        _ => -1,
    }
}
