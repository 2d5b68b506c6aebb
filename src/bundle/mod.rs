//! The bundle: a reproducible `tar.gz` with one top directory `<name>-<distro>-<arch>/` holding
//! `bundle.json` (this module's [`BundleIndex`]), `packages/`, `roles/` (time service templates, when
//! the manifest has a `[time]` section), `install.sh` and `SHA256SUMS`.
//! [`pack`] writes one; [`verify`] checks and unpacks one on the node.

pub mod pack;
pub mod verify;

use serde::{Deserialize, Serialize};

use crate::manifest::{Family, OsRelease, TimeSpec};
use crate::types::{Arch, PackageName, Sha256};

/// The `bundle.json` format version; an installer refuses bundles with a newer one.
pub const SCHEMA_VERSION: u32 = 1;
pub const INDEX_FILE: &str = "bundle.json";
pub const SUMS_FILE: &str = "SHA256SUMS";
pub const INSTALLER_FILE: &str = "install.sh";
pub const PACKAGES_DIR: &str = "packages";

/// `bundle.json`: what the bundle is for and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleIndex {
    pub schema_version: u32,
    pub name: String,
    pub distro: String,
    pub family: Family,
    pub arch: Arch,
    pub os_release: OsRelease,
    /// The moa-bundle version that built it.
    pub tool_version: String,
    /// The fixed mtime of every member (SOURCE_DATE_EPOCH or the metadata's newest timestamp).
    pub source_date_epoch: u64,
    /// The manifest's requests, as written.
    pub requested: Vec<String>,
    /// In install order: a package's pre-dependencies come in an earlier stage.
    pub packages: Vec<BundlePackage>,
    /// The repository metadata the build resolved from.
    pub sources: Vec<SourceDigest>,
    /// The manifest's `[time]` section: the roles `install --role` applies, with the templates
    /// under `roles/`. Absent in bundles of manifests without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSpec>,
}

/// One package file in the bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundlePackage {
    pub name: PackageName,
    pub version: String,
    pub arch: Arch,
    /// File name under `packages/`.
    pub file: String,
    pub size: u64,
    pub sha256: Sha256,
    pub requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<String>,
    /// Chain from a requested package to this one.
    pub why: Vec<String>,
    /// Install stage: stage N is installed (and configured) before stage N+1.
    pub stage: u32,
    /// Raw requirements and provides, for the installer's preflight.
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub provides: Vec<String>,
    /// deb: Conflicts/Breaks and Replaces, so the installer removes what a package replaces
    /// before dpkg installs it, as apt does (dpkg alone refuses when the node's package is the
    /// side that declares the conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
}

/// A metadata file the build resolved from, with its digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceDigest {
    pub repository: String,
    pub file: String,
    pub sha256: Sha256,
}
