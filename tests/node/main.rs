//! On the node: installs into throwaway roots (busybox and real debootstrap roots), repository mode, the roles, Ansible, the live ntpsec.
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

#[path = "../common/mod.rs"]
mod common;

mod ansible;
mod deb_end_to_end;
mod debian_root;
mod ntpsec_live;
mod real_nodes;
mod real_undo;
mod repo_mode;
mod review_page;
mod roles_end_to_end;
mod rpm_end_to_end;
mod undo;
