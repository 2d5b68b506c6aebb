#![no_main]
//! `cargo +nightly fuzz run deb_header`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::deb_header(data));
