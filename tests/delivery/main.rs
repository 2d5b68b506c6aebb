//! Getting bundles across: the OCI registry, publishing, faults and interrupts on the way, the command line.
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod faults;
mod interrupts;
mod oci;
mod publish;
