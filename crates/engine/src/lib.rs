//! moa-engine: pack Linux packages (rpm or deb) with exactly the dependencies a node lacks into a
//! verifiable, reproducible bundle, and install it on air-gapped nodes.
//!
//! The pipeline, one module per stage, data flowing one way: a `moa_model` manifest → `repo`
//! (metadata, checked by `trust`) → `resolve` → `fetch` → `bundle` (pack) → on the node
//! `bundle::verify` → `install`. `family` is the only place that maps rpm/deb to the
//! implementations of each concern. The modules are private: this file is the API.
//!
//! - **Commands**, one per CLI verb ([`build`], [`lock`], [`resolve_cmd`], [`install_cmd`],
//!   [`verify_cmd`], …): each takes its options and returns a serializable report the CLI
//!   renders. A service configured with the packages (the time service) plugs into
//!   [`install_cmd`] through [`Configure`].
//! - **Progress** goes through a [`Reporter`]; the library prints nothing.
//! - **[`formats`]**: the parsers of what comes from outside (repository metadata, signatures,
//!   package files, bundles, node profiles, OCI manifests), for the fuzz harness and the tests on
//!   real upstream data.
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]
#![warn(unreachable_pub)]

mod bundle;
mod cache;
mod commands;
mod family;
mod fetch;
mod install;
pub mod ledger;
mod mirror;
mod oci;
mod pkgfile;
mod policy;
mod probe;
mod repo;
mod report;
mod resolve;
mod transport;
mod trust;

// The commands, what they take and what they report.
pub use commands::{
    approve_cmd, build, check_manifest, distros, fetch_keys, install_cmd, lock, lock_root, open_verified, probe_cmd,
    pull_cmd, push_cmd, resolve_cmd, review_cmd, sbom_cmd, undo_cmd, verify_cmd, ApproveReport, Baseline, BuildOptions,
    BuildReport, Checked, CommandError, Configure, DistroInfo, Explain, InstallCmdOptions, InstallReport,
    InstallerChoice, LockOptions, LockReport, PlanItem, ResolveReport, ReviewChange, ReviewReport, RollbackOptions,
    ServiceError, SourceOptions, UndoOptions, UndoReport, VerifyReport,
};
// Their parts a caller names: the options' defaults, the install's actions, the bundle a
// service configures from, keys.
pub use bundle::approval::Met as ApprovalMet;
pub use bundle::lock::Lock;
pub use bundle::sign::{generate as generate_key, trusted_keys, TrustedKey};
pub use bundle::verify::{check_node, node_os_release, same_release, Unpacked, VerifyError};
pub use cache::Cache;
pub use family::backend;
pub use fetch::DEFAULT_JOBS;
pub use install::{first_on_path, is_root, InstallAction, InstallOptions};
pub use oci::{Pulled, Pushed};
pub use repo::Signatures;
pub use report::{Event, Reporter, Silent};
pub use transport::DEFAULT_STALL_SECS;

/// The parsers of what comes from outside, each bounded and returning an error for any input:
/// the fuzz harness (`fuzz/`) and the tests on real upstream data drive them directly.
pub mod formats {
    pub use crate::bundle::verify::unpack_and_check;
    pub use crate::bundle::BundleIndex;
    pub use crate::oci::{read_manifest, SIGNATURE_TYPE};
    pub use crate::pkgfile::{deb::DebFile, rpm::RpmFile, PackageFile};
    pub use crate::probe::NodeProfile;
    pub use crate::repo::{
        apt, comps, decompressor, modules, yum, EntryWriter, LocalPackage, LocalRepository, Metadata, MetadataFormat,
        PackageRecord,
    };
    pub use crate::trust::{parse_signatures, signed_text_unverified, Keyring, TrustError};
    /// The parsed-index cache's entries: what a run writes after parsing an index, and reads
    /// back, checked, instead of parsing it again.
    pub mod parsed_index {
        pub use crate::repo::parsed::{decode, encode, seal, ParsedError, ParsedKey};
    }
}

/// The version and the commit it was built from (`0.1.0 (commit 1234abcd5678)`): what
/// `moa-bundle --version` says after the name. The workspace's crates share one version.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("MOA_COMMIT"), ")");

/// [`VERSION`] with the tool's name, as bundles record who built them.
pub const VERSION_LINE: &str = concat!("moa-bundle ", env!("CARGO_PKG_VERSION"), " (commit ", env!("MOA_COMMIT"), ")");
