//! moa-bundle: pack Linux packages (rpm or deb) with exactly the dependencies a node lacks into a
//! verifiable, reproducible bundle, and install it on air-gapped nodes.
//!
//! The pipeline, one module per stage, data flowing one way:
//! [`manifest`] → [`repo`] (metadata) → [`resolve`] → [`fetch`] → [`bundle`] (pack) → on the node
//! [`bundle::verify`] → [`install`]. [`family`] is the only place that maps rpm/deb to the
//! implementations of each concern. [`commands`] strings stages together for the CLI.
//!
//! The library prints nothing: results are data the CLI renders, progress goes through
//! [`report::Reporter`].
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

pub mod arch;
pub mod bundle;
pub mod cache;
pub mod check;
pub mod commands;
pub mod deps;
pub mod family;
pub mod fetch;
pub mod files;
pub mod install;
pub mod limits;
pub mod manifest;
pub mod oci;
pub mod pkgfile;
pub mod policy;
pub mod probe;
pub mod repo;
pub mod report;
pub mod resolve;
pub mod roles;
pub mod transport;
pub mod trust;
pub mod types;
pub mod version;

/// What `moa-bundle --version` says: the version and the commit it was built from.
pub const VERSION_LINE: &str = concat!("moa-bundle ", env!("CARGO_PKG_VERSION"), " (commit ", env!("MOA_COMMIT"), ")");
