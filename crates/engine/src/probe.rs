//! `probe`, run on a node: what it is (os-release, arch, package family) and every package it has,
//! with versions and provides: the *node profile* that `build --target` resolves against, so a
//! bundle carries exactly what that node lacks instead of what the build host lacks.
//!
//! Reads only: the rpm database through `rpm -qa`, dpkg's status file directly. No network.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::verify::{self, VerifyError};
use crate::install::{InstallError, Installed};
use moa_model::limits;
use moa_model::manifest::{Family, Manifest, OsRelease};
use moa_model::types::{is_line, Label, PackageName};

/// The profile format version; a newer one is refused by an older moa-bundle.
pub(crate) const PROFILE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    OsRelease(#[from] VerifyError),
    #[error(transparent)]
    Database(#[from] InstallError),
    #[error("{} has neither a dpkg status file (var/lib/dpkg/status) nor an rpm database (var/lib/rpm): is it a node's root? Pass --family if the database is elsewhere", root.display())]
    NoDatabase { root: PathBuf },
    #[error("could not read node profile {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("node profile {} is not valid: {message}. Make it with `moa-bundle probe -o FILE` on the node", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("node profile {} is for {node}, but manifest {manifest_origin} is for {manifest}: build with the manifest for that node's distro (`moa-bundle distros`)", path.display())]
    Mismatch { path: PathBuf, node: String, manifest: String, manifest_origin: String },
    #[error("{} has an os-release {field} that is not a plain name: {source}", root.display())]
    NodeOsRelease {
        root: PathBuf,
        field: &'static str,
        #[source]
        source: moa_model::types::TypeError,
    },
}

/// A node as `probe` saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeProfile {
    pub profile_version: u32,
    pub tool_version: String,
    /// The host name or `--root` it was taken from, for messages.
    pub source: String,
    pub os_release: OsRelease,
    pub family: Family,
    pub arch: String,
    pub packages: Vec<Installed>,
    /// EL8+: the module streams the node's dnf has enabled (`nodejs:20`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<moa_model::manifest::ModuleRef>,
}

impl NodeProfile {
    /// Reads a profile written by `probe`, within [`limits::PROFILE_BYTES`], and validates it.
    pub fn load(path: &Path) -> Result<Self, ProbeError> {
        Self::load_with_digest(path).map(|(p, _)| p)
    }

    /// [`NodeProfile::load`], and the sha256 of the very bytes it parsed.
    pub fn load_with_digest(path: &Path) -> Result<(Self, moa_model::types::Sha256), ProbeError> {
        let invalid = |message: String| ProbeError::Invalid { path: path.to_path_buf(), message };
        let text = moa_model::files::read_at_most(path, limits::PROFILE_BYTES)
            .map_err(|source| ProbeError::Read { path: path.to_path_buf(), source })?
            .ok_or_else(|| invalid(format!("it is larger than {} bytes", limits::PROFILE_BYTES)))?;
        Ok((Self::parse(&text).map_err(invalid)?, moa_model::types::Sha256::digest(&text)))
    }

    /// Parses and validates a profile's bytes; the error says what is wrong.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let p: NodeProfile = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        if p.profile_version > PROFILE_VERSION {
            return Err(format!(
                "profile version {} is newer than this moa-bundle reads ({PROFILE_VERSION}); use moa-bundle {} or newer",
                p.profile_version,
                moa_model::types::shown(&p.tool_version)
            ));
        }
        p.validate()?;
        Ok(p)
    }

    /// Every string is one line of bounded length, every list bounded: a profile's values reach
    /// the resolver and its messages.
    fn validate(&self) -> Result<(), String> {
        if self.profile_version == 0 {
            return Err("profile_version is 0: no moa-bundle writes that".into());
        }
        limits::check("the number of packages", self.packages.len() as u64, limits::PROFILE_PACKAGES as u64)?;
        let line = |what: &str, s: &str| {
            if is_line(s, 4096) {
                Ok(())
            } else {
                Err(format!("{what} `{}` is not one line of text", moa_model::types::shown(s)))
            }
        };
        line("tool_version", &self.tool_version)?;
        line("source", &self.source)?;
        line("arch", &self.arch)?;
        for p in &self.packages {
            PackageName::new(&p.name).map_err(|e| e.to_string())?;
            line("a version", &p.version)?;
            line("an arch", &p.arch)?;
            for list in [&p.provides, &p.files, &p.conflicts] {
                limits::check(&format!("{}'s list length", p.name), list.len() as u64, limits::DEPS_PER_FIELD as u64)?;
                list.iter().try_for_each(|s| line("a capability", s))?;
            }
        }
        Ok(())
    }

    /// Refuses a profile of another distro release, family or arch than the manifest's.
    pub fn check_fits(&self, path: &Path, m: &Manifest) -> Result<(), ProbeError> {
        let arch_ok = self.arch == m.arch.as_str();
        let (node, want) = (&self.os_release, &m.os_release);
        let release_ok = node.id == want.id
            && verify::same_release(want.version_id.as_str(), node.version_id.as_str())
            && (node.platform.is_none() || want.platform.is_none() || node.platform == want.platform);
        if !release_ok || self.family != m.family || !arch_ok {
            return Err(ProbeError::Mismatch {
                path: path.to_path_buf(),
                node: format!("{} {} {} ({})", self.os_release.id, self.os_release.version_id, self.arch, self.family),
                manifest: format!("{} {} {} ({})", m.os_release.id, m.os_release.version_id, m.arch, m.family),
                manifest_origin: m.origin.clone(),
            });
        }
        Ok(())
    }
}

/// Probes the node under `root` with the family's installer (its inventory) and arch model;
/// `backend` is `None` when no family's package database was found there.
pub(crate) fn probe(
    root: &Path,
    backend: Option<(Family, &dyn crate::install::Installer, &dyn moa_model::arch::ArchModel)>,
) -> Result<NodeProfile, ProbeError> {
    let (id, version_id) = verify::node_os_release(root)?;
    let Some((family, installer, arch)) = backend else {
        return Err(ProbeError::NoDatabase { root: root.to_path_buf() });
    };
    let mut packages = installer.inventory(root)?;
    packages.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    let source = if root == Path::new("/") {
        fs_err::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "/".into())
    } else {
        root.display().to_string()
    };
    let label = |field, v: &str| {
        Label::new(v).map_err(|source| ProbeError::NodeOsRelease { root: root.to_path_buf(), field, source })
    };
    Ok(NodeProfile {
        profile_version: PROFILE_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source,
        os_release: OsRelease {
            id: label("ID", &id)?,
            version_id: label("VERSION_ID", &version_id)?,
            platform: verify::node_platform(root).map(|p| label("PLATFORM_ID", &p)).transpose()?,
        },
        family,
        arch: verify::node_arch(root, arch),
        packages,
        modules: installer
            .enabled_streams(root)
            .into_iter()
            .filter_map(|(m, s)| moa_model::manifest::ModuleRef::parse(&format!("{m}:{s}")).ok())
            .collect(),
    })
}
