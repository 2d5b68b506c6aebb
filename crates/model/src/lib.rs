//! moa-model: the data moa-bundle works on, with no I/O beyond reading a manifest and writing
//! a file atomically.
//!
//! - [`version`] and [`deps`]: rpm and deb version order and dependency expressions; a
//!   family's rules sit behind one trait, [`deps::DepSyntax`], which also parses its versions;
//! - [`arch`]: which architectures a node can run;
//! - [`types`]: validated values from outside (names, URLs, digests; [`types::node`] for what
//!   reaches a node's configuration);
//! - [`key`]: the keys a manifest pins;
//! - [`manifest`]: what to bundle for a distro, with its time service section;
//! - [`limits`] and [`files`]: the bounds on outside input, and bounded reads, atomic writes.
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]
#![warn(unreachable_pub)]

pub mod arch;
pub mod deps;
pub mod files;
pub mod key;
pub mod limits;
pub mod manifest;
pub mod types;
pub mod version;
