//! moa-engine: pack Linux packages (rpm or deb) with exactly the dependencies a node lacks into a
//! verifiable, reproducible bundle, and install it on air-gapped nodes.
//!
//! The pipeline, one module per stage, data flowing one way: a `moa_model` manifest →
//! [`repo`] (metadata, checked by [`trust`]) → `resolve` → [`fetch`] → [`bundle`] (pack) → on
//! the node [`bundle::verify`] → [`install`]. [`family`] is the only place that maps rpm/deb to
//! the implementations of each concern. [`commands`] strings stages together for the CLI; a
//! service configured with the packages (the time service) plugs in through
//! [`commands::Configure`].
//!
//! The library prints nothing: results are data the CLI renders, progress goes through
//! [`report::Reporter`].
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]
#![warn(unreachable_pub)]

pub mod bundle;
pub mod cache;
pub mod commands;
pub mod family;
pub mod fetch;
pub mod install;
pub(crate) mod mirror;
pub mod oci;
pub mod pkgfile;
pub(crate) mod policy;
pub mod probe;
pub mod repo;
pub mod report;
pub(crate) mod resolve;
pub mod transport;
pub mod trust;

/// The version and the commit it was built from (`0.1.0 (commit 1234abcd5678)`): what
/// `moa-bundle --version` says after the name. The workspace's crates share one version.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("MOA_COMMIT"), ")");

/// [`VERSION`] with the tool's name, as bundles record who built them.
pub const VERSION_LINE: &str = concat!("moa-bundle ", env!("CARGO_PKG_VERSION"), " (commit ", env!("MOA_COMMIT"), ")");
