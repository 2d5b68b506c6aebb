#![no_main]
//! `cargo +nightly fuzz run oci_manifest`: see harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::oci_manifest(data));
