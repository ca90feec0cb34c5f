//! Compression helpers for `node:zlib`: checksums and a small run-length codec.
//!
//! C ABI: every export takes raw pointers and lengths and never panics across
//! the boundary on well-formed input.

use std::slice;

mod codec;

const CRC32_POLY: u32 = 0xEDB8_8320;
const ADLER_MOD: u32 = 65_521;

/// IEEE CRC-32 (the one zlib, gzip and PNG use).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (CRC32_POLY & mask);
        }
    }
    !crc
}

/// Adler-32 as defined in RFC 1950.
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % ADLER_MOD;
        b = (b + a) % ADLER_MOD;
    }
    (b << 16) | a
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        slice::from_raw_parts(ptr, len)
    }
}

#[no_mangle]
pub unsafe extern "C" fn js_zlib_crc32(data: *const u8, len: usize) -> u32 {
    crc32(bytes(data, len))
}

#[no_mangle]
pub unsafe extern "C" fn js_zlib_adler32(data: *const u8, len: usize) -> u32 {
    adler32(bytes(data, len))
}

/// Compresses `len` bytes into `out` (capacity `cap`). Returns the compressed
/// size, or -1 when `out` is too small.
#[no_mangle]
pub unsafe extern "C" fn js_zlib_deflate(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    let packed = codec::encode(bytes(data, len));
    copy_out(&packed, out, cap)
}

/// Inverse of `js_zlib_deflate`. Returns the original size, or -1 on corrupt
/// input or when `out` is too small.
#[no_mangle]
pub unsafe extern "C" fn js_zlib_inflate(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    match codec::decode(bytes(data, len)) {
        Some(plain) => copy_out(&plain, out, cap),
        None => -1,
    }
}

unsafe fn copy_out(src: &[u8], out: *mut u8, cap: usize) -> isize {
    if src.len() > cap || (out.is_null() && !src.is_empty()) {
        return -1;
    }
    if !src.is_empty() {
        std::ptr::copy_nonoverlapping(src.as_ptr(), out, src.len());
    }
    src.len() as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}
