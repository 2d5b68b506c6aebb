//! The manifest: what a bundle holds and where its packages come from, read from TOML
//! (`manifests/<distro>.toml`, built into the binary, or any file given with `--manifest`).
//!
//! This module owns parsing and validating that data and nothing else: it does not fetch, resolve
//! or know how either package family lays out a repository beyond which fields each one needs.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::{Arch, PackageName, TypeError};

/// The manifests shipped inside the binary, by distro id.
pub const BUILTIN: &[(&str, &str)] = &[
    ("centos7", include_str!("../manifests/centos7.toml")),
    ("ubuntu1604", include_str!("../manifests/ubuntu1604.toml")),
    ("debian12", include_str!("../manifests/debian12.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unknown distro `{distro}`: built-in manifests are {known}; pass --manifest PATH for another one")]
    UnknownDistro { distro: String, known: String },
    #[error("could not read manifest {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {origin} is not valid TOML for moa-bundle: {message}")]
    Parse { origin: String, message: String },
    #[error("manifest {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The package family decides the repository format, the version scheme and the installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Rpm,
    Deb,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Rpm => "rpm",
            Family::Deb => "deb",
        })
    }
}

/// `/etc/os-release` ID and VERSION_ID of the nodes a bundle is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
}

/// One repository: an ordered list of mirror roots and where the repository lives under each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    pub name: String,
    /// Mirror roots (http, https or file URLs), best first.
    pub mirrors: Vec<String>,
    /// yum: the path of the repository under a mirror root (`7.9.2009/os/x86_64`).
    #[serde(default)]
    pub path: Option<String>,
    /// apt: suites under `dists/` (`xenial`, `xenial-updates`).
    #[serde(default)]
    pub suites: Vec<String>,
    /// apt: components of each suite (`main`).
    #[serde(default)]
    pub components: Vec<String>,
}

/// What a minimal node of this distro already has.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// Packages installed on every node (e.g. CentOS 7's `@core`), closed over their dependencies.
    #[serde(default)]
    pub roots: Vec<PackageName>,
    /// apt: every package with one of these priorities is part of the base.
    #[serde(default)]
    pub priorities: Vec<String>,
}

/// Which ntpd the distro ships: the classic one (with the local-clock driver `127.127.1.0`) or
/// ntpsec (no refclock for the local clock: orphan mode serves time when upstream is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeFlavor {
    Ntp,
    Ntpsec,
}

impl TimeFlavor {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeFlavor::Ntp => "ntp",
            TimeFlavor::Ntpsec => "ntpsec",
        }
    }
}

/// `[time]`: how the bundle's time service is configured on this distro (the roles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub flavor: TimeFlavor,
    /// The daemon's service (systemd unit or init script) name: `ntpd`, `ntp`, `ntpsec`.
    pub service: String,
    /// The daemon's configuration file.
    #[serde(default = "default_ntp_conf")]
    pub config: String,
    pub driftfile: String,
    /// Default upstream servers of the server role (`--upstream` replaces them).
    pub upstream: Vec<String>,
    /// Services that hold port 123 or discipline the clock too, stopped and disabled by the
    /// server role and the daemon client (CentOS 7 minimal runs `chronyd`).
    #[serde(default)]
    pub conflicting_services: Vec<String>,
    /// The one-shot sync tool of the cron client (`ntpdate` or `ntpdig`), as a command line
    /// that takes the server as its last argument.
    pub sync_command: String,
    /// Debian and Ubuntu also keep the zone's name in `/etc/timezone`.
    #[serde(default)]
    pub timezone_file: bool,
    /// Default time zone of both roles (`--timezone` replaces it).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// ntpsec: seconds without any source before the server serves its own clock (ntpd's
    /// `tos orphanwait`, 300 when unset).
    #[serde(default)]
    pub orphan_wait: Option<u32>,
}

fn default_ntp_conf() -> String {
    "/etc/ntp.conf".into()
}

fn default_timezone() -> String {
    "Asia/Shanghai".into()
}

/// A requested package: a name, optionally pinned to one exact version (`"ntp = 4.2.6p5-29.el7"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub name: PackageName,
    pub version: Option<String>,
}

impl Request {
    pub fn parse(s: &str) -> Result<Self, TypeError> {
        match s.split_once('=') {
            Some((n, v)) => Ok(Self { name: PackageName::new(n.trim())?, version: Some(v.trim().to_string()) }),
            None => Ok(Self { name: PackageName::new(s.trim())?, version: None }),
        }
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Request::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} = {v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// A parsed and validated manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Bundle name: the first part of the bundle's file name.
    pub name: String,
    pub distro: String,
    #[serde(default)]
    pub description: String,
    pub family: Family,
    pub arch: Arch,
    pub os_release: OsRelease,
    /// Packages the bundle must contain, with their dependencies.
    pub packages: Vec<Request>,
    /// Packages added when a repository has them; their absence is not an error.
    #[serde(default)]
    pub optional: Vec<Request>,
    #[serde(rename = "repository")]
    pub repositories: Vec<Repository>,
    #[serde(default)]
    pub base: Base,
    /// The time service's roles; a manifest without it packs packages only.
    #[serde(default)]
    pub time: Option<TimeSpec>,
    /// Where the manifest came from, for messages (`built-in centos7`, a path).
    #[serde(skip)]
    pub origin: String,
}

impl Manifest {
    /// The built-in manifest of a distro.
    pub fn builtin(distro: &str) -> Result<Self, ManifestError> {
        let text = BUILTIN.iter().find(|(d, _)| *d == distro).map(|(_, t)| *t).ok_or_else(|| {
            ManifestError::UnknownDistro { distro: distro.to_string(), known: builtin_names().join(", ") }
        })?;
        Self::parse(text, &format!("built-in manifests/{distro}.toml"))
    }

    /// A manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text =
            fs_err::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let mut m: Manifest = toml::from_str(text)
            .map_err(|e| ManifestError::Parse { origin: origin.to_string(), message: e.to_string() })?;
        m.origin = origin.to_string();
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let bad = |message: String| Err(ManifestError::Invalid { origin: self.origin.clone(), message });
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain(&self.name) || !plain(&self.distro) {
            return bad("`name` and `distro` must be non-empty and use only letters, digits, `.`, `_`, `-`".into());
        }
        if self.packages.is_empty() {
            return bad("`packages` is empty: list at least one package to bundle".into());
        }
        if self.repositories.is_empty() {
            return bad("no [[repository]]: add at least one repository with its mirrors".into());
        }
        for r in &self.repositories {
            if r.mirrors.is_empty() {
                return bad(format!("repository `{}` has no mirrors", r.name));
            }
            for m in &r.mirrors {
                if !(m.starts_with("http://") || m.starts_with("https://") || m.starts_with("file://")) {
                    return bad(format!(
                        "repository `{}`: mirror `{m}` is not an http://, https:// or file:// URL",
                        r.name
                    ));
                }
            }
            match self.family {
                Family::Rpm if r.path.is_none() || !r.suites.is_empty() => {
                    return bad(format!(
                        "repository `{}`: an rpm repository needs `path` (e.g. \"7.9.2009/os/x86_64\") and no `suites`",
                        r.name
                    ))
                }
                Family::Deb if r.suites.is_empty() || r.components.is_empty() || r.path.is_some() => {
                    return bad(format!(
                        "repository `{}`: an apt repository needs `suites` and `components`, and no `path`",
                        r.name
                    ))
                }
                _ => {}
            }
        }
        if let Some(t) = &self.time {
            let abs = |p: &str| p.starts_with('/') && !p.split('/').any(|c| c == "..");
            if !abs(&t.config) || !abs(&t.driftfile) {
                return bad("[time]: `config` and `driftfile` must be absolute paths without `..`".into());
            }
            if t.upstream.is_empty() {
                return bad("[time]: `upstream` is empty: list the servers the server role follows".into());
            }
            if t.sync_command.split_whitespace().next().is_none_or(|c| !c.starts_with('/')) {
                return bad(
                    "[time]: `sync_command` must start with an absolute path, e.g. \"/usr/sbin/ntpdate -u\"".into()
                );
            }
        }
        Ok(())
    }

    /// The bundle's file name: `<name>-<distro>-<arch>.tar.gz`.
    pub fn bundle_file_name(&self) -> String {
        format!("{}.tar.gz", self.bundle_stem())
    }

    /// `<name>-<distro>-<arch>`: the top directory inside the bundle too.
    pub fn bundle_stem(&self) -> String {
        format!("{}-{}-{}", self.name, self.distro, self.arch)
    }

    /// Replaces every repository's mirrors with these roots (`--mirror`).
    pub fn override_mirrors(&mut self, mirrors: &[String]) {
        if mirrors.is_empty() {
            return;
        }
        for r in &mut self.repositories {
            r.mirrors = mirrors.iter().map(|m| m.trim_end_matches('/').to_string()).collect();
        }
    }
}

/// Distro ids with a built-in manifest.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(d, _)| *d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse() {
        for name in builtin_names() {
            let m = Manifest::builtin(name).unwrap();
            assert_eq!(m.distro, name);
        }
        let c = Manifest::builtin("centos7").unwrap();
        assert_eq!(c.bundle_file_name(), "ntp-centos7-x86_64.tar.gz");
        assert!(c.packages.iter().any(|r| r.name.as_str() == "ntp"));
    }

    #[test]
    fn unknown_distro_names_the_known_ones() {
        let e = Manifest::builtin("centos9").unwrap_err().to_string();
        assert!(e.contains("centos9") && e.contains("centos7") && e.contains("--manifest"), "{e}");
    }

    #[test]
    fn requests_may_pin_a_version() {
        let r = Request::parse("ntp = 4.2.6p5-29.el7").unwrap();
        assert_eq!((r.name.as_str(), r.version.as_deref()), ("ntp", Some("4.2.6p5-29.el7")));
        assert!(Request::parse("bad name").is_err());
    }

    #[test]
    fn rpm_repository_without_path_is_refused() {
        let text = r#"
name = "x"
distro = "d"
family = "rpm"
arch = "x86_64"
os_release = { id = "centos", version_id = "7" }
packages = ["ntp"]
[[repository]]
name = "os"
mirrors = ["http://127.0.0.1/"]
"#;
        let e = Manifest::parse(text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("`os`") && e.contains("path"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = "name='x'\ndistro='d'\nfamily='deb'\narch='amd64'\npackagez=[]\n";
        let e = Manifest::parse(text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("packagez"), "{e}");
    }
}
