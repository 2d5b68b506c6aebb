//! Upstream trust: signed repositories and packages, pinned keys.
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

#[path = "../common/mod.rs"]
mod common;

mod approvals;
mod upstream_keys;
mod upstream_signatures;
