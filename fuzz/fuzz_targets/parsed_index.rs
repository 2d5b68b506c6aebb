#![no_main]
//! `cargo +nightly fuzz run parsed_index`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::parsed_index(data));
