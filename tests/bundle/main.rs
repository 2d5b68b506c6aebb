//! Bundles: lock and SBOM, differential and media bundles, self-contained bundles, crafted and swapped bundles (what is checked is what is used).
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

#[path = "../common/mod.rs"]
mod common;

mod check_is_use;
mod crafted_bundles;
mod differential;
mod lock_and_sbom;
mod media;
mod parsed_cache;
mod schema1;
mod self_contained;
mod snapshots;
