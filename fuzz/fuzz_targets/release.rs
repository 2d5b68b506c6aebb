#![no_main]
//! `cargo +nightly fuzz run release`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::release(data));
