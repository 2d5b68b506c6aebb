//! The bundle: a reproducible `tar.gz` with one top directory `<name>-<distro>-<arch>/` holding
//! `bundle.json` (this module's [`BundleIndex`]), `packages/`, `roles/` (time service templates, when
//! the manifest has a `[time]` section), `install.sh` and `SHA256SUMS`.
//! `pack` writes one; [`verify`] checks and unpacks one on the node.

pub(crate) mod approval;
pub(crate) mod lock;
pub(crate) mod pack;
pub(crate) mod parity;
pub(crate) mod parts;
pub(crate) mod plan;
pub(crate) mod sbom;
pub(crate) mod script;
pub(crate) mod sign;
pub(crate) mod since;
pub(crate) mod verify;
pub(crate) mod why;

// The types of the stages above that the bundle's API (its index, reports and errors) names.

use serde::{Deserialize, Serialize};

use crate::repo::Signatures;
use crate::trust::Fingerprint;
use moa_model::deps::DepSyntax;
use moa_model::limits;
use moa_model::manifest::{Family, OsRelease, TimeSpec};
use moa_model::types::{safe_file_name, Arch, Label, Line, PackageName, RepoPath, Sha256};
use moa_model::version::Version;

/// The `bundle.json` format version; an installer refuses bundles with a newer one.
///
/// - 1: versions and why-chains as text.
/// - 2: a version is its parts, tagged with its family ([`moa_model::version::Version`]); a
///   why-step is a tagged record ([`why::WhyRecord`]). Schema 1 is still read:
///   [`BundleIndex::from_json`] parses its versions once with the family's syntax, and its
///   why-sentences become recorded steps.
pub(crate) const SCHEMA_VERSION: u32 = 2;
pub(crate) const INDEX_FILE: &str = "bundle.json";
pub(crate) const SUMS_FILE: &str = "SHA256SUMS";
pub(crate) const INSTALLER_FILE: &str = "install.sh";
pub(crate) const PACKAGES_DIR: &str = "packages";
/// The rollback kit's packages (`build --rollback`).
pub(crate) const ROLLBACK_DIR: &str = "rollback";
/// The moa-bundle binary a self-contained bundle carries for its node (`install.sh` runs it).
pub(crate) const BINARY_FILE: &str = "moa-bundle";
/// The same, gzipped (bundles since issue 20).
pub(crate) const BINARY_GZ_FILE: &str = "moa-bundle.gz";

/// `bundle.json`: what the bundle is for and what it holds. Read on the node from a bundle that
/// anyone may have written, so every field is a validated type and [`BundleIndex::validate`]
/// checks the rest before anything uses it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleIndex {
    /// The schema the bundle was written in; in memory (and in `inspect --json`) it is always
    /// today's shape: [`BundleIndex::from_json`] upgrades an older one as it reads it.
    pub schema_version: u32,
    pub name: Label,
    pub distro: Label,
    pub family: Family,
    pub arch: Arch,
    pub os_release: OsRelease,
    /// The moa-bundle version that built it.
    pub tool_version: Line,
    /// The fixed mtime of every member (SOURCE_DATE_EPOCH or the metadata's newest timestamp).
    pub source_date_epoch: u64,
    /// The manifest's requests, as written.
    pub requested: Vec<Line>,
    /// In install order: a package's pre-dependencies come in an earlier stage.
    pub packages: Vec<BundlePackage>,
    /// The repository metadata the build resolved from.
    pub sources: Vec<SourceDigest>,
    /// Whether the build checked upstream signatures against the manifest's pinned keys
    /// (`skip`: built with `--insecure-skip-signatures`, or by a moa-bundle that did not record it).
    #[serde(default = "unrecorded")]
    pub upstream_signatures: Signatures,
    /// The keys the manifest pinned, carried under `keys/` so the node checks each package's
    /// own signature (rpm headers) again before installing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<BundleKey>,
    /// The manifest's `[time]` section: the roles `install --role` applies, with the templates
    /// under `roles/`. Absent in bundles of manifests without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSpec>,
    /// EL8+: the module streams the bundled modular packages come from (`nodejs:20`); install
    /// enables them in the node's dnf, which otherwise hides or replaces those packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<moa_model::manifest::ModuleRef>,
    /// The moa-bundle binary for the node (`build --with-installer`), which `install.sh` checks
    /// and runs, so a node with nothing installed gets all of `install`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<BundledBinary>,
    /// A differential bundle (`build --since OLD`): it holds only what is new or changed since
    /// OLD, and the node must already have the rest, which install checks first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<since::Since>,
    /// The node profiles (`build --target`) the set was resolved against; none for a bundle
    /// against the manifest's base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetRecord>,
    /// The rollback kit (`build --target NODE --rollback`): the versions the node has of the
    /// packages this bundle upgrades or removes, under `rollback/`, which `undo` puts back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback: Vec<RollbackPackage>,
    /// `--rollback-partial`: the node's versions no repository publishes any more
    /// (`name arch version`); undo refuses to put these back, naming them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_missing: Vec<Line>,
}

/// A package of the rollback kit: a version the target node has now, fetched and checked like
/// every other package, in `rollback/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RollbackPackage {
    pub name: PackageName,
    pub version: Version,
    pub arch: Arch,
    /// File name under `rollback/`.
    pub file: String,
    pub size: u64,
    pub sha256: Sha256,
    /// The repository it came from (whose keys must have signed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Label>,
}

/// A node profile a bundle was built against: its file name, the node it was taken from (host
/// name or `--root`), and the digest of the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetRecord {
    pub profile: Line,
    pub source: Line,
    pub sha256: Sha256,
}

/// [`BundleIndex::installer`]: the file [`BINARY_FILE`] at the top of the bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundledBinary {
    /// The member's size and digest (of the gzip file when [`BundledBinary::gzip`]).
    pub size: u64,
    pub sha256: Sha256,
    /// Carried gzipped (`moa-bundle.gz`, about 40% of the binary; install.sh unpacks it into a
    /// private directory to run it). Bundles of moa-bundle before 0.x carry it as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gzip: bool,
    /// What `moa-bundle --version` says it is.
    pub version: Line,
}

impl BundledBinary {
    /// The member that holds it.
    pub fn member(&self) -> &'static str {
        if self.gzip {
            BINARY_GZ_FILE
        } else {
            BINARY_FILE
        }
    }
    pub fn mode(&self) -> u32 {
        if self.gzip {
            0o644
        } else {
            0o755
        }
    }
}

/// One package file in the bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundlePackage {
    pub name: PackageName,
    pub version: Version,
    pub arch: Arch,
    /// File name under `packages/`.
    pub file: String,
    pub size: u64,
    pub sha256: Sha256,
    pub requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<Line>,
    /// Chain from a requested package to this one.
    #[serde(deserialize_with = "why::either_form")]
    pub why: Vec<why::WhyRecord>,
    /// Install stage: stage N is installed (and configured) before stage N+1.
    pub stage: u32,
    /// Raw requirements and provides, for the installer's preflight.
    #[serde(default)]
    pub requires: Vec<Line>,
    #[serde(default)]
    pub provides: Vec<Line>,
    /// deb: Conflicts/Breaks and Replaces, so the installer removes what a package replaces
    /// before dpkg installs it, as apt does (dpkg alone refuses when the node's package is the
    /// side that declares the conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<Line>,
    /// The repository it came from (whose keys must have signed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Label>,
}

/// A pinned key carried in the bundle: the member holding it, its primary fingerprint, and
/// whether legacy packets are accepted from it, for one repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    pub repository: Label,
    pub file: String,
    pub fingerprint: Fingerprint,
    #[serde(default)]
    pub legacy: bool,
}

pub(crate) const KEYS_DIR: &str = "keys";

/// A metadata file the build resolved from, with its digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceDigest {
    pub repository: Label,
    pub file: RepoPath,
    pub sha256: Sha256,
    /// The pinned key whose signature covers this file (directly, or through the signed file
    /// that lists its digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<Fingerprint>,
}

fn unrecorded() -> Signatures {
    Signatures::Skip
}

impl BundleIndex {
    /// Reads `bundle.json` of any schema up to `SCHEMA_VERSION` and checks it
    /// ([`BundleIndex::validate`]). `syntax_of` gives the family's syntax: schema 1's version
    /// strings are parsed with it (once, here), and every version must be one of that family,
    /// written as that family writes it. The error names the field.
    pub fn from_json(bytes: &[u8], syntax_of: &dyn Fn(Family) -> &'static dyn DepSyntax) -> Result<Self, String> {
        // serde's messages quote the offending value: its control characters are escaped, so a
        // crafted bundle.json cannot forge lines of the error.
        let err = |e: serde_json::Error| one_line(&e.to_string());
        let mut tree: serde_json::Value = serde_json::from_slice(bytes).map_err(err)?;
        let family: Family =
            serde_json::from_value(tree["family"].clone()).map_err(|e| format!("family: {}", err(e)))?;
        let syntax = syntax_of(family);
        if tree["schema_version"] == 1 {
            upgrade_versions(&mut tree, syntax)?;
        }
        let index: BundleIndex = serde_json::from_value(tree).map_err(err)?;
        index.validate()?;
        for p in &index.packages {
            let text = p.version.to_string();
            match syntax.parse_version(&text) {
                Ok(v) if v == p.version => {}
                _ => {
                    return Err(format!(
                        "package `{}`: its version {text} is no version of the {family} family",
                        p.name
                    ))
                }
            }
        }
        Ok(index)
    }

    /// `<name>-<distro>-<arch>`: the bundle's top directory.
    pub fn stem(&self) -> String {
        format!("{}-{}-{}", self.name, self.distro, self.arch)
    }

    /// What the field types cannot check alone: the schema, counts and sizes within
    /// [`moa_model::limits`], stages within the package count, file names plain and unique, the
    /// `[time]` section. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.schema_version == 0 {
            return Err("schema_version is 0: no moa-bundle writes that".into());
        }
        let n = self.packages.len();
        limits::check("the number of packages", n as u64, limits::PACKAGES as u64)?;
        limits::check("the number of requests", self.requested.len() as u64, limits::REQUESTS as u64)?;
        limits::check("the number of sources", self.sources.len() as u64, limits::PACKAGES as u64)?;
        let mut files = std::collections::HashSet::new();
        for p in &self.packages {
            p.validate(n).map_err(|m| format!("package `{}`: {m}", p.name))?;
            if !files.insert(p.file.as_str()) {
                return Err(format!("two packages have the file name `{}`", p.file));
            }
        }
        if let Some(t) = &self.time {
            t.validate()?;
        }
        if let Some(s) = &self.since {
            limits::check("the number of expected packages", s.expects.len() as u64, limits::PACKAGES as u64)?;
        }
        limits::check("the number of target profiles", self.targets.len() as u64, limits::REQUESTS as u64)?;
        limits::check("the rollback kit's size", self.rollback.len() as u64, limits::PACKAGES as u64)?;
        limits::check("the rollback kit's missing list", self.rollback_missing.len() as u64, limits::PACKAGES as u64)?;
        let mut kit = std::collections::HashSet::new();
        for p in &self.rollback {
            safe_file_name(&p.file).map_err(|e| format!("rollback package `{}`: {e}", p.name))?;
            limits::check("a rollback package's size", p.size, limits::PACKAGE_BYTES)?;
            if !kit.insert(p.file.as_str()) {
                return Err(format!("two rollback packages have the file name `{}`", p.file));
            }
        }
        if let Some(b) = &self.installer {
            limits::check("the size of the bundled moa-bundle binary", b.size, limits::BINARY_BYTES)?;
        }
        limits::check("the number of keys", self.keys.len() as u64, (limits::KEYS * limits::REPOSITORIES) as u64)?;
        limits::check("the number of module streams", self.modules.len() as u64, limits::REQUESTS as u64)?;
        for k in &self.keys {
            let name = k.file.strip_prefix(&format!("{KEYS_DIR}/")).unwrap_or("");
            safe_file_name(name).map_err(|e| format!("key file `{}`: {e}", moa_model::types::shown(&k.file)))?;
        }
        Ok(())
    }
}

impl BundlePackage {
    fn validate(&self, packages: usize) -> Result<(), String> {
        safe_file_name(&self.file).map_err(|e| e.to_string())?;
        if self.size == 0 {
            return Err("its size is 0: a package file is never empty".into());
        }
        limits::check("its size", self.size, limits::PACKAGE_BYTES)?;
        limits::check("its install stage", self.stage.into(), packages as u64)?;
        limits::check("its why-chain's length", self.why.len() as u64, limits::WHY_STEPS as u64)?;
        for (field, list) in [
            ("requires", &self.requires),
            ("provides", &self.provides),
            ("conflicts", &self.conflicts),
            ("replaces", &self.replaces),
        ] {
            limits::check(&format!("the length of {field}"), list.len() as u64, limits::DEPS_PER_FIELD as u64)?;
        }
        Ok(())
    }
}

/// Schema 1 → 2: each version string (of the packages, and of what a differential bundle
/// expects) becomes its parts, parsed with the family's syntax. (Why-sentences need nothing:
/// [`why::either_form`] reads them.)
fn upgrade_versions(tree: &mut serde_json::Value, syntax: &dyn DepSyntax) -> Result<(), String> {
    for list in ["/packages", "/since/expects"] {
        if let Some(list) = tree.pointer_mut(list).and_then(|l| l.as_array_mut()) {
            upgrade_list(list, syntax)?;
        }
    }
    Ok(())
}

fn upgrade_list(list: &mut [serde_json::Value], syntax: &dyn DepSyntax) -> Result<(), String> {
    for p in list {
        let Some(text) = p.get("version").and_then(|v| v.as_str()) else { continue };
        let name = moa_model::types::shown(p.get("name").and_then(|n| n.as_str()).unwrap_or("?"));
        let version = syntax
            .parse_version(text)
            .map_err(|e| format!("package `{name}`: version: {}", one_line(&e.to_string())))?;
        p["version"] = serde_json::to_value(&version).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `s` with its control characters escaped (`\n`, `\u{1b}`), nothing else changed.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}
