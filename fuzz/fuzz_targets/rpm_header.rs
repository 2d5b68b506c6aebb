#![no_main]
//! `cargo +nightly fuzz run rpm_header`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rpm_header(data));
