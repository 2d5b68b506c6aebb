#![no_main]
//! `cargo +nightly fuzz run clearsigned`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::clearsigned(data));
