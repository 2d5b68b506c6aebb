//! `review`: what a reviewer needs to approve a bundle, as data (the CLI renders it as one
//! self-contained HTML page, or JSON): the summary (distro, arch, size, when, the builder's
//! signature, the upstream keys per repository), every package with its change against a node
//! profile (`--against`) or an older bundle (`--since`), why it is there, its licence, source
//! package and sha256, what installing it removes, and the dependency graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{open_verified, CommandError};
use crate::bundle::lock::{Lock, LOCK_FILE};
use crate::bundle::sign::{SignatureCheck, TrustedKey};
use crate::bundle::BundlePackage;
use crate::family;
use crate::probe::NodeProfile;
use moa_model::types::Sha256;

/// What the bundle is compared with.
pub enum Baseline<'a> {
    None,
    /// A node profile (`probe`): what installing the bundle there changes.
    Node(&'a Path),
    /// An older bundle (its file, parts, folder or moa.lock): what changed since.
    Since(&'a Path),
}

/// A package's change against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Upgrade,
    Downgrade,
    Same,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub change: Change,
    /// The version it replaces (upgrade, downgrade).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub requested: bool,
    /// From a requested package down to this one.
    pub why: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub repository: String,
    pub sha256: Sha256,
    pub size: u64,
    /// The packages of the set it depends on (indexes into the report's packages).
    pub depends: Vec<usize>,
}

/// A package the baseline has that the bundle takes away.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub name: String,
    pub version: String,
    /// The bundled package that replaces it (against a node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A repository the packages came from, and the upstream keys it was checked with.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewSource {
    pub repository: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
    pub name: String,
    pub distro: String,
    pub arch: String,
    /// The members' fixed time (RFC 3339), when the metadata was published.
    pub created: String,
    pub tool_version: String,
    /// The builder's signature, checked against the keys given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureCheck>,
    /// A `.minisig` is beside the bundle (checked only when keys are given).
    pub signed: bool,
    pub upstream_signatures: crate::repo::Signatures,
    pub sources: Vec<ReviewSource>,
    /// What the bundle is compared with, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    pub packages: Vec<ReviewPackage>,
    pub removed: Vec<Removed>,
    /// The manifest's `[time]` section the bundle carries (the roles `install --role` applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<moa_model::manifest::TimeSpec>,
}

/// `review BUNDLE`: verified whole first (with `keys`, its signature too).
pub fn review_cmd(bundle: &Path, keys: &[TrustedKey], baseline: Baseline<'_>) -> Result<ReviewReport, CommandError> {
    let checked = open_verified(bundle, keys, false)?;
    let named = checked._opened.as_ref().map(|o| o.named.clone()).unwrap_or_else(|| bundle.to_path_buf());
    let u = &checked.unpacked;
    let backend = family::backend(u.index.family);
    let lock = Lock::load(&u.dir.join(LOCK_FILE))?;
    let sbom = sbom_facts(&u.dir.join(crate::bundle::sbom::SBOM_FILE));
    let (before, removed, against) = baseline_of(&baseline, &u.index.packages, backend)?;
    let packages = lock
        .packages
        .iter()
        .map(|l| {
            let (licence, source) = sbom.get(&(l.name.to_string(), l.version.to_string())).cloned().unwrap_or_default();
            let was = before.get(&(l.name.to_string(), l.arch.to_string()));
            let (change, from) = change_of(backend.syntax, l.version.as_str(), was.map(String::as_str));
            ReviewPackage {
                name: l.name.to_string(),
                version: l.version.to_string(),
                arch: l.arch.to_string(),
                change,
                from,
                requested: l.requested,
                why: l.why.iter().map(ToString::to_string).collect(),
                licence,
                source,
                repository: l.repository.to_string(),
                sha256: l.sha256,
                size: l.size,
                depends: l.depends.iter().filter_map(|d| lock.packages.iter().position(|q| q.name == *d)).collect(),
            }
        })
        .collect();
    let mut sources: Vec<ReviewSource> = Vec::new();
    for k in &u.index.keys {
        match sources.iter_mut().find(|s| s.repository == k.repository.as_str()) {
            Some(s) => s.keys.push(k.fingerprint.to_string()),
            None => sources
                .push(ReviewSource { repository: k.repository.to_string(), keys: vec![k.fingerprint.to_string()] }),
        }
    }
    Ok(ReviewReport {
        bundle: named.clone(),
        sha256: u.bundle_sha256,
        size: fs_err::metadata(checked._opened.as_ref().map_or(bundle, |o| o.file.as_path())).map_or(0, |m| m.len()),
        name: u.index.name.to_string(),
        distro: u.index.distro.to_string(),
        arch: u.index.arch.to_string(),
        created: moa_model::types::rfc3339(u.index.source_date_epoch),
        tool_version: u.index.tool_version.to_string(),
        signature: checked.signature.clone(),
        signed: crate::bundle::sign::signature_path(&named).is_file(),
        upstream_signatures: u.index.upstream_signatures,
        sources,
        against,
        packages,
        removed,
        time: u.index.time.clone(),
    })
}

/// What the baseline has (name, arch → version), what the bundle takes away from it, and the
/// baseline in words.
type Before = (BTreeMap<(String, String), String>, Vec<Removed>, Option<String>);

fn baseline_of(
    b: &Baseline<'_>,
    packages: &[BundlePackage],
    backend: &family::Backend,
) -> Result<Before, CommandError> {
    match b {
        Baseline::None => Ok((BTreeMap::new(), Vec::new(), None)),
        Baseline::Node(path) => {
            let p = NodeProfile::load(path)?;
            let before = p.packages.iter().map(|i| ((i.name.clone(), i.arch.clone()), i.version.clone())).collect();
            let todo: Vec<(&BundlePackage, PathBuf)> = packages.iter().map(|p| (p, PathBuf::new())).collect();
            let removed = backend.installer.removals(&todo, &p.packages);
            let removed =
                removed.into_iter().map(|r| Removed { name: r.name, version: r.version, by: Some(r.by) }).collect();
            Ok((before, removed, Some(format!("node profile {} ({})", path.display(), p.source))))
        }
        Baseline::Since(path) => {
            let old = if path.is_file() && path.extension().is_some_and(|e| e == "lock") {
                Lock::load(path)?
            } else {
                Lock::from_bundle(&crate::bundle::parts::open(path)?.file)?
            };
            let before: BTreeMap<_, _> = old
                .packages
                .iter()
                .map(|l| ((l.name.to_string(), l.arch.to_string()), l.version.to_string()))
                .collect();
            let kept =
                |name: &str, arch: &str| packages.iter().any(|p| p.name.as_str() == name && p.arch.as_str() == arch);
            let removed = old
                .packages
                .iter()
                .filter(|l| !kept(l.name.as_str(), l.arch.as_str()))
                .map(|l| Removed { name: l.name.to_string(), version: l.version.to_string(), by: None })
                .collect();
            Ok((before, removed, Some(format!("bundle {}", path.display()))))
        }
    }
}

fn change_of(syntax: &dyn moa_model::deps::DepSyntax, now: &str, was: Option<&str>) -> (Change, Option<String>) {
    let Some(was) = was else { return (Change::New, None) };
    match (syntax.parse_version(now), syntax.parse_version(was)) {
        (Ok(n), Ok(w)) if n == w => (Change::Same, None),
        (Ok(n), Ok(w)) if n < w => (Change::Downgrade, Some(was.to_string())),
        _ if now == was => (Change::Same, None),
        _ => (Change::Upgrade, Some(was.to_string())),
    }
}

/// The SBOM's licence and source package of each (name, version).
fn sbom_facts(path: &Path) -> BTreeMap<(String, String), (Option<String>, Option<String>)> {
    let Ok(Some(bytes)) = moa_model::files::read_at_most(path, 64 << 20) else { return BTreeMap::new() };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return BTreeMap::new() };
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    v["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let key = (text(&c["name"])?, text(&c["version"])?);
            let licence =
                text(&c["licenses"][0]["license"]["name"]).or_else(|| text(&c["licenses"][0]["license"]["id"]));
            let source =
                c["properties"].as_array().into_iter().flatten().find(|p| p["name"] == "moa-bundle:source-package");
            Some((key, (licence, source.and_then(|p| text(&p["value"])))))
        })
        .collect()
}
