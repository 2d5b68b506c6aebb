#![no_main]
//! `cargo +nightly fuzz run ledger`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ledger(data));
