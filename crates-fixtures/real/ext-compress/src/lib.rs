//! `node:zlib`-like ext crate on real registry crates: raw deflate and gzip
//! with flate2 (miniz_oxide backend), CRC-32 with crc32fast.
//!
//! Every codec export writes into a caller buffer and returns the byte count,
//! or -1 when the input is corrupt or `out` is too small.

use std::io::{self, Read, Write};
use std::slice;

use flate2::read::{DeflateDecoder, GzDecoder};
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        slice::from_raw_parts(ptr, len)
    }
}

unsafe fn copy_out(result: io::Result<Vec<u8>>, out: *mut u8, cap: usize) -> isize {
    match result {
        Ok(data) if data.len() <= cap && (!out.is_null() || data.is_empty()) => {
            std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len());
            data.len() as isize
        }
        _ => -1,
    }
}

fn deflate(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data)?;
    encoder.finish()
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn decode(mut decoder: impl Read) -> io::Result<Vec<u8>> {
    let mut plain = Vec::new();
    decoder.read_to_end(&mut plain)?;
    Ok(plain)
}

/// IEEE CRC-32 (the one zlib, gzip and PNG use).
#[no_mangle]
pub unsafe extern "C" fn js_compress_crc32(data: *const u8, len: usize) -> u32 {
    crc32fast::hash(bytes(data, len))
}

/// Raw deflate (RFC 1951) of `data` into `out`.
#[no_mangle]
pub unsafe extern "C" fn js_compress_deflate(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    copy_out(deflate(bytes(data, len)), out, cap)
}

/// Inverse of `js_compress_deflate`.
#[no_mangle]
pub unsafe extern "C" fn js_compress_inflate(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    copy_out(decode(DeflateDecoder::new(bytes(data, len))), out, cap)
}

/// A gzip member (RFC 1952) of `data` into `out`.
#[no_mangle]
pub unsafe extern "C" fn js_compress_gzip(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    copy_out(gzip(bytes(data, len)), out, cap)
}

/// Decompresses a gzip member; a bad header or CRC is corrupt input.
#[no_mangle]
pub unsafe extern "C" fn js_compress_gunzip(
    data: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
) -> isize {
    copy_out(decode(GzDecoder::new(bytes(data, len))), out, cap)
}
