#![no_main]
//! `cargo +nightly fuzz run bundle_index`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::bundle_index(data));
