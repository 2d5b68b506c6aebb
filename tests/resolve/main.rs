//! Resolving as dnf and apt do, on real and built metadata: libsolv/dnf and apt as oracles, real CentOS 7.9 and Stream 9 metadata, the EL and new apt distros.
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

#[path = "../common/mod.rs"]
mod common;

mod apt_oracle;
mod centos7_real_metadata;
mod dnf_choice;
mod dnf_oracle;
mod el_distros;
mod modules_real;
mod new_distros;
mod rpm_semantics;
mod version_oracle;
