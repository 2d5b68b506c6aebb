#![no_main]
//! `cargo +nightly fuzz run repomd`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::repomd(data));
