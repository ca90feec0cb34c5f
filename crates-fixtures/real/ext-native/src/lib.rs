//! Ext crate with native code (edition 2024: exports are `#[unsafe(no_mangle)]`).
//!
//! build.rs compiles native/scale.c with the cc crate; the scale factor comes
//! from the `EXT_NATIVE_SCALE` environment variable at build time (default 3)
//! and reaches both the C code (a define) and Rust (`EXT_NATIVE_SCALE_FACTOR`).

unsafe extern "C" {
    fn ext_native_c_factor() -> i64;
    fn ext_native_c_scaled_sum(values: *const i64, len: usize) -> i64;
}

/// The factor as Rust saw it at build time.
const FACTOR: &str = env!("EXT_NATIVE_SCALE_FACTOR");

/// The build-time factor (Rust's copy); -1 if the C copy disagrees.
#[unsafe(no_mangle)]
pub extern "C" fn js_native_factor() -> i64 {
    let factor: i64 = FACTOR.parse().expect("build.rs sets an integer");
    if factor == unsafe { ext_native_c_factor() } {
        factor
    } else {
        -1
    }
}

/// The factor times the sum of `len` values, computed in C.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn js_native_scaled_sum(values: *const i64, len: usize) -> i64 {
    if values.is_null() && len != 0 {
        return 0;
    }
    unsafe { ext_native_c_scaled_sum(values, len) }
}
