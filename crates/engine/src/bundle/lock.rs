//! `moa.lock`: the resolved set of a bundle, reviewable TOML. Each package with its version,
//! arch, repository, location, size and sha256, install stage and why-chain; the repository
//! metadata it was resolved from with the pinned key that signed each file; the build's fixed
//! mtime. `moa-bundle lock` writes it; every bundle carries it; `build --locked` packs exactly
//! that set again without resolving, and fails naming what vanished or changed upstream.
//!
//! A lock is read like any file from outside: bounded, every field a validated type.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::why::WhyRecord;
use super::{BundleIndex, SourceDigest};
use crate::repo::Signatures;
use moa_model::limits;
use moa_model::types::{Arch, Label, Line, PackageName, RepoPath, Sha256, TypeError};

pub(crate) const LOCK_FILE: &str = "moa.lock";
/// The lock format's version: 2 writes why-steps as tagged records ([`WhyRecord`]); version 1
/// (sentences) is still read, its steps as recorded text.
pub(crate) const LOCK_VERSION: u32 = 2;
/// A lock file, at most (a 2,000-package closure: about 2 MiB; the package limit, 20,000).
const LOCK_BYTES: u64 = limits::MANIFEST_BYTES * 32;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("lock file {path} is for {what}, but the manifest is for {manifest}: lock with this manifest again")]
    OtherManifest { path: String, what: String, manifest: String },
    #[error("{package} (locked from repository `{repository}` as {location}) is no longer in the repository's metadata: upstream removed or replaced it. Run `moa-bundle lock` again and review the difference")]
    Vanished { package: String, repository: String, location: String },
    #[error("{package} changed upstream: locked sha256 {locked}, the repository now says {now}. Run `moa-bundle lock` again and review the difference")]
    Changed { package: String, locked: Sha256, now: Sha256 },
}

/// The whole lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    pub name: Label,
    pub distro: Label,
    pub arch: Arch,
    /// Whether the resolve checked upstream signatures.
    pub upstream_signatures: Signatures,
    /// The fixed mtime of every bundle member.
    pub source_date_epoch: u64,
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceDigest>,
    /// The node profiles the set was resolved against (`build --target`).
    #[serde(rename = "target", default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<super::TargetRecord>,
    #[serde(rename = "package", default)]
    pub packages: Vec<LockedPackage>,
}

/// One package of the set, in install order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: PackageName,
    pub version: Line,
    pub arch: Arch,
    pub repository: Label,
    /// Path under the repository's root on a mirror.
    pub location: RepoPath,
    pub size: u64,
    pub sha256: Sha256,
    pub stage: u32,
    pub requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<Line>,
    #[serde(deserialize_with = "super::why::either_form")]
    pub why: Vec<WhyRecord>,
    /// The packages of this set it depends on (the resolver's graph).
    #[serde(default)]
    pub depends: Vec<PackageName>,
}

/// Where a planned package comes from and what of the set it depends on.
#[derive(Debug, Clone)]
pub struct Origin {
    pub repository: Label,
    pub location: RepoPath,
    pub depends: Vec<PackageName>,
}

impl LockedPackage {
    /// `name-version.arch`.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.version, self.arch)
    }
}

impl Lock {
    /// The lock of a planned bundle: `index` with, for each of its packages (same order), the
    /// repository and location it comes from. A version is written as its text (a lock is for
    /// people to review), which must be a [`Line`].
    pub fn of(index: &BundleIndex, origins: &[Origin]) -> Result<Self, TypeError> {
        let packages = index
            .packages
            .iter()
            .zip(origins)
            .map(|(p, o)| {
                Ok(LockedPackage {
                    name: p.name.clone(),
                    version: Line::new(&p.version.to_string())?,
                    arch: p.arch.clone(),
                    repository: o.repository.clone(),
                    location: o.location.clone(),
                    depends: o.depends.clone(),
                    size: p.size,
                    sha256: p.sha256,
                    stage: p.stage,
                    requested: p.requested,
                    upgrades: p.upgrades.clone(),
                    why: p.why.clone(),
                })
            })
            .collect::<Result<_, TypeError>>()?;
        Ok(Lock {
            version: LOCK_VERSION,
            name: index.name.clone(),
            distro: index.distro.clone(),
            arch: index.arch.clone(),
            upstream_signatures: index.upstream_signatures,
            source_date_epoch: index.source_date_epoch,
            sources: index.sources.clone(),
            targets: index.targets.clone(),
            packages,
        })
    }

    /// The TOML text, with a header saying what it is.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("a lock serializes");
        format!(
            "# moa.lock: the resolved set of bundle {}-{}-{}, written by moa-bundle {}.\n# `moa-bundle build --locked moa.lock` packs exactly this set again.\n\n{body}",
            self.name,
            self.distro,
            self.arch,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Reads and validates a lock file (at most `LOCK_BYTES`).
    pub fn load(path: &Path) -> Result<Self, LockError> {
        let shown = path.display().to_string().escape_debug().to_string();
        let bad = |message: String| LockError::Invalid { path: shown.clone(), message };
        let bytes = moa_model::files::read_at_most(path, LOCK_BYTES)
            .map_err(|e| bad(format!("could not read it: {e}")))?
            .ok_or_else(|| bad(format!("it is larger than {LOCK_BYTES} bytes")))?;
        Self::parse(&bytes, &shown)
    }

    /// The lock a bundle (.tar.gz) carries, read from the archive up to that member: moa.lock
    /// sorts before `packages/`, so the packages are not read. Only read, not trusted: a
    /// differential build leaves out what the lock holds, and install then checks that the node
    /// has it.
    pub fn from_bundle(bundle: &Path) -> Result<Self, LockError> {
        let shown = bundle.display().to_string().escape_debug().to_string();
        let bad = |message: String| LockError::Invalid { path: shown.clone(), message };
        let (file, _) = moa_model::files::open_regular(bundle).map_err(|e| bad(format!("could not read it: {e}")))?;
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries().map_err(|e| bad(format!("not a bundle: {e}")))? {
            let entry = entry.map_err(|e| bad(format!("not a bundle: {e}")))?;
            let path = entry.path_bytes().into_owned();
            let mut parts = path.split(|b| *b == b'/').filter(|c| !c.is_empty());
            let (_top, rel) = (parts.next(), parts.collect::<Vec<_>>().join(&b'/'));
            if rel == LOCK_FILE.as_bytes() {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(entry, LOCK_BYTES + 1), &mut bytes)
                    .map_err(|e| bad(format!("could not read its {LOCK_FILE}: {e}")))?;
                if bytes.len() as u64 > LOCK_BYTES {
                    return Err(bad(format!("its {LOCK_FILE} is larger than {LOCK_BYTES} bytes")));
                }
                return Self::parse(&bytes, &format!("{shown} ({LOCK_FILE})"));
            }
            if rel.starts_with(b"packages/") {
                break;
            }
        }
        Err(bad(format!("it holds no {LOCK_FILE}: was it written by moa-bundle build?")))
    }

    fn parse(bytes: &[u8], shown: &str) -> Result<Self, LockError> {
        let bad = |message: String| LockError::Invalid { path: shown.to_string(), message };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
        // The TOML parser holds many times the text in memory: the number of tables (packages
        // and sources, as `[[…]]` headers or inline `{…}`) is bounded on the text first, so an
        // oversized lock is refused before it is parsed.
        let tables = text.lines().filter(|l| l.trim_start().starts_with("[[")).count()
            + text.bytes().filter(|b| *b == b'{').count();
        // Packages and sources, and the why-steps' inline tables: on average ten per package.
        limits::check("the number of tables", tables as u64, 12 * limits::PACKAGES as u64 + 64).map_err(&bad)?;
        let lock: Lock = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        lock.validate().map_err(bad)?;
        Ok(lock)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=LOCK_VERSION).contains(&self.version) {
            return Err(format!("version {} is not 1 to {LOCK_VERSION}: written by another moa-bundle", self.version));
        }
        let n = self.packages.len();
        limits::check("the number of packages", n as u64, limits::PACKAGES as u64)?;
        let names: std::collections::HashSet<&PackageName> = self.packages.iter().map(|p| &p.name).collect();
        limits::check("the number of sources", self.sources.len() as u64, limits::PACKAGES as u64)?;
        for p in &self.packages {
            let what = |m: String| format!("package {}: {m}", p.nevra());
            limits::check("its size", p.size, limits::PACKAGE_BYTES).map_err(what)?;
            limits::check("its install stage", p.stage.into(), n as u64).map_err(what)?;
            limits::check("its why-chain's length", p.why.len() as u64, limits::WHY_STEPS as u64).map_err(what)?;
            let file = p.location.as_str().rsplit('/').next().unwrap_or_default();
            moa_model::types::safe_file_name(file).map_err(|e| what(e.to_string()))?;
            limits::check("its number of dependencies", p.depends.len() as u64, n as u64).map_err(what)?;
            if let Some(d) = p.depends.iter().find(|d| !names.contains(*d)) {
                return Err(what(format!("it depends on `{d}`, which the lock does not hold")));
            }
        }
        Ok(())
    }

    /// Refuses a lock made for another bundle than the manifest's.
    pub fn check_fits(&self, path: &Path, name: &Label, distro: &Label, arch: &Arch) -> Result<(), LockError> {
        if (&self.name, &self.distro, &self.arch) != (name, distro, arch) {
            return Err(LockError::OtherManifest {
                path: path.display().to_string(),
                what: format!("{}-{}-{}", self.name, self.distro, self.arch),
                manifest: format!("{name}-{distro}-{arch}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 19, class 9): a 60 MiB lock cost 1.2 GB in the TOML parser before the
    /// package count refused it; the count is now taken on the text.
    #[test]
    fn too_many_tables_are_refused_before_the_toml_parser_runs() {
        let header = "version = 1\nname = \"a\"\ndistro = \"b\"\narch = \"x86_64\"\nupstream_signatures = \"verify\"\nsource_date_epoch = 1\n";
        let text = format!("{header}{}", "[[package]]\n".repeat(limits::PACKAGES * 12 + 65));
        let e = Lock::parse(text.as_bytes(), "moa.lock").unwrap_err().to_string();
        assert!(e.contains("the number of tables"), "{e}");
        let inline = format!("{header}package = [{}]\n", "{},".repeat(limits::PACKAGES * 12 + 65));
        let e = Lock::parse(inline.as_bytes(), "moa.lock").unwrap_err().to_string();
        assert!(e.contains("the number of tables"), "{e}");
        // Under the bound, the parser and the typed checks judge it.
        let e = Lock::parse(format!("{header}[[package]]\n").as_bytes(), "moa.lock").unwrap_err().to_string();
        assert!(!e.contains("the number of"), "{e}");
    }
}
