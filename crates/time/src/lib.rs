//! moa-time: the time service moa-bundle was first made for (the moa runbook's NTP setup),
//! built on the engine.
//!
//! - [`roles`]: the server and client roles — `ntp.conf`/`chrony.conf`, the client's cron line,
//!   the time zone, the daemon's service — planned as a dry run, then applied under a root;
//! - [`check`]: whether a node keeps time (offset, stratum, reach) from its daemon's own report;
//! - [`node`]: `install --role` (the role plugged into the engine's install) and `configure`.
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]
#![warn(unreachable_pub)]

pub mod check;
pub mod node;
pub mod roles;
