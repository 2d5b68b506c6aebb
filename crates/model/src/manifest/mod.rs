//! The manifest: what a bundle holds and where its packages come from, read from TOML
//! (`manifests/<distro>.toml`, built into the binary, or any file given with `--manifest`).
//!
//! This module owns parsing and validating that data and nothing else: it does not fetch, resolve
//! or know how either package family lays out a repository beyond which fields each one needs.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod time;

pub use time::{TimeFlavor, TimeSpec};

use crate::key::KeyPin;
use crate::limits;
use crate::types::{Arch, Label, Line, MirrorUrl, PackageName, RepoPath, TypeError};

/// The manifests shipped inside the binary, by distro id.
pub const BUILTIN: &[(&str, &str)] = &[
    ("centos7", include_str!("../../../../manifests/centos7.toml")),
    ("rocky8", include_str!("../../../../manifests/rocky8.toml")),
    ("rocky9", include_str!("../../../../manifests/rocky9.toml")),
    ("alma9", include_str!("../../../../manifests/alma9.toml")),
    ("centos-stream9", include_str!("../../../../manifests/centos-stream9.toml")),
    ("ubuntu1604", include_str!("../../../../manifests/ubuntu1604.toml")),
    ("ubuntu2004", include_str!("../../../../manifests/ubuntu2004.toml")),
    ("ubuntu2204", include_str!("../../../../manifests/ubuntu2204.toml")),
    ("ubuntu2404", include_str!("../../../../manifests/ubuntu2404.toml")),
    ("debian12", include_str!("../../../../manifests/debian12.toml")),
    ("debian13", include_str!("../../../../manifests/debian13.toml")),
];

/// The key files the built-in manifests pin, by the path they name. Each is the distro's real
/// key (the fingerprint each manifest pins is checked against the key material at load).
const BUILTIN_KEYS: &[(&str, &[u8])] = &[
    ("keys/RPM-GPG-KEY-CentOS-7", include_bytes!("../../../../manifests/keys/RPM-GPG-KEY-CentOS-7")),
    ("keys/RPM-GPG-KEY-centosofficial", include_bytes!("../../../../manifests/keys/RPM-GPG-KEY-centosofficial")),
    (
        "keys/ubuntu-keyring-2012-archive.gpg",
        include_bytes!("../../../../manifests/keys/ubuntu-keyring-2012-archive.gpg"),
    ),
    (
        "keys/ubuntu-keyring-2018-archive.gpg",
        include_bytes!("../../../../manifests/keys/ubuntu-keyring-2018-archive.gpg"),
    ),
    (
        "keys/debian-archive-bookworm-automatic.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-bookworm-automatic.gpg"),
    ),
    (
        "keys/debian-archive-bookworm-stable.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-bookworm-stable.gpg"),
    ),
    (
        "keys/debian-archive-bookworm-security-automatic.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-bookworm-security-automatic.gpg"),
    ),
    (
        "keys/debian-archive-trixie-automatic.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-trixie-automatic.gpg"),
    ),
    (
        "keys/debian-archive-trixie-stable.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-trixie-stable.gpg"),
    ),
    (
        "keys/debian-archive-trixie-security-automatic.gpg",
        include_bytes!("../../../../manifests/keys/debian-archive-trixie-security-automatic.gpg"),
    ),
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
        // The name a manifest and `--family` spell.
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
    pub id: Label,
    pub version_id: Label,
    /// EL8+: os-release's `PLATFORM_ID` without its `platform:` prefix (`el9`): module streams
    /// built for another platform are never active, as in dnf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Label>,
}

/// One repository: an ordered list of mirror roots and where the repository lives under each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    pub name: Label,
    /// Mirror roots (http, https or file URLs), best first.
    pub mirrors: Vec<MirrorUrl>,
    /// yum: the path of the repository under a mirror root (`7.9.2009/os/x86_64`).
    #[serde(default)]
    pub path: Option<RepoPath>,
    /// apt: suites under `dists/` (`xenial`, `xenial-updates`).
    #[serde(default)]
    pub suites: Vec<RepoPath>,
    /// apt: components of each suite (`main`).
    #[serde(default)]
    pub components: Vec<RepoPath>,
    /// The keys that sign this repository (files relative to the manifest, with the primary
    /// key's fingerprint). Required unless the build passes `--insecure-skip-signatures`.
    #[serde(default)]
    pub keys: Vec<KeyPin>,
    /// Mirrors for other architectures than the manifest's (Ubuntu keeps arm64 on
    /// ports.ubuntu.com): used instead of `mirrors` when the build is for that arch (`--arch`).
    #[serde(default)]
    pub arch_mirrors: std::collections::BTreeMap<Arch, Vec<MirrorUrl>>,
    /// yum: refuse a repository that does not publish `repodata/repomd.xml.asc`. Without it, a
    /// missing `.asc` is allowed (CentOS 7 publishes none) and every package's header signature
    /// carries the trust.
    #[serde(default)]
    pub metadata_signed: bool,
}

/// The Debian priorities a manifest's base may name.
pub const BASE_PRIORITIES: &[&str] = &["required", "important", "standard", "optional", "extra"];

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
    /// yum: comps groups whose mandatory and default packages are part of the base (`core`:
    /// what an EL minimal install has).
    #[serde(default)]
    pub groups: Vec<Label>,
}

/// A module stream, `name:stream` (so it is written and read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRef {
    pub name: Label,
    pub stream: Label,
}

impl ModuleRef {
    pub fn parse(s: &str) -> Result<Self, TypeError> {
        let (n, st) = s.split_once(':').ok_or_else(|| TypeError::Line(crate::types::shown(s)))?;
        Ok(Self { name: Label::new(n)?, stream: Label::new(st)? })
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.stream)
    }
}

impl Serialize for ModuleRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModuleRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModuleRef::parse(&s).map_err(serde::de::Error::custom)
    }
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
            Some((n, v)) => {
                let v = v.trim();
                // A version is one word of the characters rpm and dpkg versions use.
                let ok = !v.is_empty()
                    && v.len() <= 256
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || ".+~:_-^".contains(c));
                if !ok {
                    return Err(TypeError::Line(crate::types::shown(s)));
                }
                Ok(Self { name: PackageName::new(n.trim())?, version: Some(v.to_string()) })
            }
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
    pub name: Label,
    pub distro: Label,
    #[serde(default)]
    pub description: Option<Line>,
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
    /// EL8+: module streams to enable (`"nodejs:20"`), as `dnf module enable` does.
    #[serde(default)]
    pub modules: Vec<ModuleRef>,
    #[serde(default)]
    pub base: Base,
    /// dnf's `best` (EL8+'s dnf.conf sets it): a requested package comes at its newest version,
    /// or the resolve fails naming it; without it (EL7's yum, apt here), an older version is
    /// taken with a note when the newest cannot be installed.
    #[serde(default)]
    pub best: bool,
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
        let mut m = Self::parse(text, &format!("built-in manifests/{distro}.toml"))?;
        m.read_keys(|file| {
            BUILTIN_KEYS
                .iter()
                .find(|(p, _)| *p == file)
                .map(|(_, b)| b.to_vec())
                .ok_or_else(|| format!("no built-in key file {file}"))
        })?;
        Ok(m)
    }

    /// A manifest file (at most [`limits::MANIFEST_BYTES`]).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        // A path with a newline must not forge an output line.
        let origin = path.display().to_string().escape_debug().to_string();
        let rerr = |source| ManifestError::Read { path: path.to_path_buf(), source };
        let bytes = crate::files::read_at_most(path, limits::MANIFEST_BYTES).map_err(rerr)?;
        let Some(bytes) = bytes else {
            let message = format!("it is larger than {} bytes: a manifest is a few KiB", limits::MANIFEST_BYTES);
            return Err(ManifestError::Invalid { origin, message });
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| ManifestError::Invalid { origin: origin.clone(), message: "it is not UTF-8 text".into() })?;
        let mut m = Self::parse(&text, &origin)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        m.read_keys(|file| {
            let at = dir.join(file);
            match crate::files::read_at_most(&at, limits::KEY_FILE_BYTES) {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(format!("{} is larger than {} bytes", at.display(), limits::KEY_FILE_BYTES)),
                Err(e) => Err(format!("could not read {}: {e}", at.display())),
            }
        })?;
        Ok(m)
    }

    /// Reads every pinned key file (its name checked in `validate`) with `read`.
    fn read_keys(&mut self, read: impl Fn(&str) -> Result<Vec<u8>, String>) -> Result<(), ManifestError> {
        for r in &mut self.repositories {
            // A key by URL is fetched by the build (`moa_engine::fetch_keys`).
            for pin in r.keys.iter_mut().filter(|p| p.url.is_none()) {
                pin.bytes = read(&pin.file).map_err(|message| ManifestError::Invalid {
                    origin: self.origin.clone(),
                    message: format!("repository `{}`: key {}: {message}", r.name, pin.fingerprint),
                })?;
            }
        }
        Ok(())
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
        if self.packages.is_empty() {
            return bad("`packages` is empty: list at least one package to bundle".into());
        }
        let requests = self.packages.len() + self.optional.len() + self.base.roots.len();
        if let Err(m) = limits::check(
            "the number of packages, optional packages and base roots",
            requests as u64,
            limits::REQUESTS as u64,
        ) {
            return bad(m);
        }
        if self.repositories.is_empty() {
            return bad("no [[repository]]: add at least one repository with its mirrors".into());
        }
        if let Err(m) =
            limits::check("the number of repositories", self.repositories.len() as u64, limits::REPOSITORIES as u64)
        {
            return bad(m);
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.repositories {
            if !seen.insert(r.name.as_str()) {
                return bad(format!("two repositories are named `{}`: give each its own name", r.name));
            }
            if let Err(m) = r.validate() {
                return bad(format!("repository `{}`: {m}", r.name));
            }
        }
        if let Some(p) = self.base.priorities.iter().find(|p| !BASE_PRIORITIES.contains(&p.as_str())) {
            return bad(format!(
                "[base].priorities: `{}` is not one of {}",
                crate::types::shown(p),
                BASE_PRIORITIES.join(", ")
            ));
        }
        if let Some(t) = &self.time {
            t.validate().or_else(bad)?;
        }
        if let Err(m) = limits::check("the number of modules", self.modules.len() as u64, limits::REPOSITORIES as u64) {
            return bad(m);
        }
        Ok(())
    }

    /// The bundle's file name: `<name>-<distro>-<arch>.tar.gz`.
    pub fn bundle_file_name(&self) -> String {
        format!("{}.tar.gz", self.bundle_stem())
    }

    /// The file name of a bundle built against node profiles (`--target`), so it never takes
    /// the default bundle's name: `<name>-<distro>-<arch>-for-<profile>.tar.gz` (the profile's
    /// file stem, in plain characters), or `…-for-<first>-and-<n>-more.tar.gz`.
    pub fn bundle_file_name_for(&self, targets: &[std::path::PathBuf]) -> String {
        let plain = |p: &std::path::PathBuf| -> String {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let s: String = stem
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
                .take(64)
                .collect();
            if s.trim_matches('.').is_empty() {
                "node".into()
            } else {
                s
            }
        };
        match targets {
            [] => self.bundle_file_name(),
            [one] => format!("{}-for-{}.tar.gz", self.bundle_stem(), plain(one)),
            [first, rest @ ..] => format!("{}-for-{}-and-{}-more.tar.gz", self.bundle_stem(), plain(first), rest.len()),
        }
    }

    /// `<name>-<distro>-<arch>`: the top directory inside the bundle too.
    pub fn bundle_stem(&self) -> String {
        format!("{}-{}-{}", self.name, self.distro, self.arch)
    }

    /// Ad-hoc requests from the command line (`build --distro rocky9 nginx`, `--package
    /// NAME[=VERSION]`): added to the manifest's packages (a request for a name the manifest
    /// lists replaces it, so a pin wins), or with `only` instead of them and of the optional
    /// ones — then the bundle is named `name` (default: the first request) and carries no time
    /// service roles, which are for the manifest's own packages.
    pub fn with_requests(&mut self, extra: Vec<Request>, only: bool, name: Option<Label>) -> Result<(), ManifestError> {
        let bad = |message: String| Err(ManifestError::Invalid { origin: self.origin.clone(), message });
        if only {
            let Some(first) = extra.first() else {
                return bad("--only needs packages to bundle: name them after the options, or with --package".into());
            };
            let name = match name {
                Some(n) => n,
                None => match Label::new(first.name.as_str()) {
                    Ok(n) => n,
                    Err(_) => return bad(format!("`{}` cannot name a bundle: pass --name", first.name)),
                },
            };
            self.name = name;
            self.packages.clear();
            self.optional.clear();
            self.time = None;
        } else if let Some(n) = name {
            self.name = n;
        }
        for r in extra {
            self.packages.retain(|p| p.name != r.name);
            self.optional.retain(|p| p.name != r.name);
            self.packages.push(r);
        }
        let requests = self.packages.len() + self.optional.len() + self.base.roots.len();
        if let Err(m) = limits::check("the number of requests", requests as u64, limits::REQUESTS as u64) {
            return bad(m);
        }
        Ok(())
    }

    /// Enables module streams (`--module nodejs:20`), replacing the manifest's stream of the
    /// same module (whether the family has modules is the backend's check, [`FamilyRules`]).
    pub fn enable_modules(&mut self, streams: &[ModuleRef]) -> Result<(), ManifestError> {
        for s in streams {
            self.modules.retain(|m| m.name != s.name);
            self.modules.push(s.clone());
        }
        Ok(())
    }

    /// Builds for another architecture (`--arch arm64`): the repositories' mirrors for that
    /// arch where they name some.
    pub fn set_arch(&mut self, arch: Arch) {
        for r in &mut self.repositories {
            if let Some(m) = r.arch_mirrors.get(&arch) {
                r.mirrors = m.clone();
            }
        }
        self.arch = arch;
    }

    /// Replaces repositories' mirrors with the roots of `--mirror` (in the order given): a flag
    /// that names a repository replaces that one's, the others every repository's that no flag
    /// names. A name the manifest does not have is an error that lists the names it has.
    pub fn override_mirrors(&mut self, flags: &[crate::types::MirrorFlag]) -> Result<(), ManifestError> {
        for f in flags {
            if let Some(name) = &f.repository {
                if !self.repositories.iter().any(|r| &r.name == name) {
                    let has: Vec<&str> = self.repositories.iter().map(|r| r.name.as_str()).collect();
                    return Err(ManifestError::Invalid {
                        origin: self.origin.clone(),
                        message: format!(
                            "--mirror {name}=…: it has no repository `{name}` (it has: {})",
                            has.join(", ")
                        ),
                    });
                }
            }
        }
        let general: Vec<MirrorUrl> = flags.iter().filter(|f| f.repository.is_none()).map(|f| f.url.clone()).collect();
        for r in &mut self.repositories {
            let named: Vec<MirrorUrl> =
                flags.iter().filter(|f| f.repository.as_ref() == Some(&r.name)).map(|f| f.url.clone()).collect();
            let new = match (named.is_empty(), general.is_empty()) {
                (false, _) => named,
                (true, false) => general.clone(),
                (true, true) => continue,
            };
            // A key published under a replaced mirror root is looked for under the new ones.
            for pin in &mut r.keys {
                let Some(url) = &pin.url else { continue };
                let rel = r
                    .mirrors
                    .iter()
                    .find_map(|m| url.as_str().strip_prefix(&format!("{}/", m.as_str().trim_end_matches('/'))));
                if let Some(rel) = rel {
                    pin.mirror_urls = new
                        .iter()
                        .filter_map(|m| MirrorUrl::new(&format!("{}/{rel}", m.as_str().trim_end_matches('/'))).ok())
                        .collect();
                }
            }
            r.mirrors = new;
        }
        Ok(())
    }
}

impl Repository {
    /// Bounds on the lists, and what no family accepts (which fields a family needs is its
    /// backend's check, [`FamilyRules::check_repository`]).
    fn validate(&self) -> Result<(), String> {
        if self.mirrors.is_empty() {
            return Err("it has no mirrors".into());
        }
        limits::check("the number of mirrors", self.mirrors.len() as u64, limits::MIRRORS as u64)?;
        limits::check("the number of arch_mirrors", self.arch_mirrors.len() as u64, limits::MIRRORS as u64)?;
        for (arch, m) in &self.arch_mirrors {
            if m.is_empty() {
                return Err(format!("arch_mirrors.{arch} has no mirrors"));
            }
            limits::check("the number of mirrors", m.len() as u64, limits::MIRRORS as u64)?;
        }
        limits::check("the number of suites", self.suites.len() as u64, limits::SUITES as u64)?;
        limits::check("the number of components", self.components.len() as u64, limits::SUITES as u64)?;
        limits::check("the number of keys", self.keys.len() as u64, limits::KEYS as u64)?;
        if let Some(k) = self.keys.iter().find(|k| k.url.is_some() != k.file.is_empty()) {
            return Err(format!(
                "key {} names {}: give each key either `file` (beside the manifest) or `url` (fetched by the build)",
                k.fingerprint,
                if k.url.is_some() { "both `file` and `url`" } else { "neither `file` nor `url`" }
            ));
        }
        let bad_file = |k: &&KeyPin| k.url.is_none() && (RepoPath::new(&k.file).is_err() || k.file == ".");
        if let Some(k) = self.keys.iter().find(bad_file) {
            return Err(format!(
                "key file `{}` is not a plain relative path (no `..`, no leading `/`) beside the manifest",
                crate::types::shown(&k.file)
            ));
        }
        let not_apt = |s: &&RepoPath| s.as_str() == "." || s.as_str().contains(crate::types::BASEARCH);
        if let Some(dot) = self.suites.iter().chain(&self.components).find(not_apt) {
            return Err(format!("`{dot}` is not a suite or component: name one under dists/"));
        }
        Ok(())
    }
}

/// What a family's backend adds to a manifest's own checks: the fields its repositories need
/// (yum: `path`; apt: `suites` and `components`) and whether it has module streams. Commands
/// apply it through `family::check_manifest` once the flags are in.
pub trait FamilyRules {
    /// Why `r` is not a repository of this family, if it is not.
    fn check_repository(&self, r: &Repository) -> Result<(), String>;
    /// Whether the family has EL8+ module streams (`modules`, `--module`).
    fn has_modules(&self) -> bool {
        false
    }
    /// Whether the family's repositories publish package groups (yum's comps: `[base].groups`).
    fn has_groups(&self) -> bool {
        false
    }
}

impl Manifest {
    /// The family's own checks ([`FamilyRules`]) on every repository and on `modules`.
    pub fn check_family(&self, rules: &dyn FamilyRules) -> Result<(), ManifestError> {
        let bad = |message: String| ManifestError::Invalid { origin: self.origin.clone(), message };
        for r in &self.repositories {
            rules.check_repository(r).map_err(|m| bad(format!("repository `{}`: {m}", r.name)))?;
        }
        if !self.base.groups.is_empty() && !rules.has_groups() {
            return Err(bad(format!(
                "`[base].groups` are yum comps groups: a {} manifest has none; use `[base].priorities`",
                self.family
            )));
        }
        if !self.modules.is_empty() && !rules.has_modules() {
            let streams: Vec<String> = self.modules.iter().map(|m| m.to_string()).collect();
            return Err(bad(format!(
                "module streams ({}) are EL8+ dnf's: a {} manifest has none; drop `modules`/--module",
                streams.join(", "),
                self.family
            )));
        }
        Ok(())
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
    fn a_named_mirror_replaces_that_repositorys_only() {
        use crate::types::MirrorFlag;
        let flag = |s: &str| MirrorFlag::parse(s).unwrap();
        let mirrors = |m: &Manifest| -> Vec<(String, Vec<String>)> {
            m.repositories
                .iter()
                .map(|r| (r.name.to_string(), r.mirrors.iter().map(|u| u.as_str().to_string()).collect()))
                .collect()
        };
        let mut m = Manifest::builtin("debian12").unwrap();
        m.override_mirrors(&[flag("http://lan/debian"), flag("security=http://lan/debian-security")]).unwrap();
        assert_eq!(
            mirrors(&m),
            [
                ("debian".to_string(), vec!["http://lan/debian".to_string()]),
                ("security".to_string(), vec!["http://lan/debian-security".to_string()])
            ]
        );
        // Named alone: the other repository keeps the manifest's mirrors.
        let mut m = Manifest::builtin("debian12").unwrap();
        let before = mirrors(&m)[0].clone();
        m.override_mirrors(&[flag("security=file:///srv/sec")]).unwrap();
        assert_eq!(mirrors(&m)[0], before);
        // A plain URL names no repository; an unknown name lists the known ones.
        assert_eq!(flag("http://x/a").repository, None);
        assert!(MirrorFlag::parse("bad name=http://x").is_err());
        let e = m.override_mirrors(&[flag("updates=http://x")]).unwrap_err().to_string();
        assert!(e.contains("no repository `updates`") && e.contains("debian, security"), "{e}");
    }

    #[test]
    fn arch_switches_to_the_repositorys_mirrors_for_it() {
        let mut m = Manifest::builtin("ubuntu2404").unwrap();
        assert!(m.repositories[0].mirrors[0].as_str().starts_with("http://archive.ubuntu.com/"));
        m.set_arch(Arch::new("arm64").unwrap());
        assert_eq!(m.arch.as_str(), "arm64");
        for r in &m.repositories {
            assert_eq!(r.mirrors[0].as_str(), "http://ports.ubuntu.com/ubuntu-ports", "{}", r.name);
        }
        assert_eq!(m.bundle_stem(), "ntp-ubuntu2404-arm64");
        // Debian serves every arch from one mirror: nothing changes but the arch.
        let mut d = Manifest::builtin("debian13").unwrap();
        let before = d.repositories[0].mirrors.clone();
        d.set_arch(Arch::new("arm64").unwrap());
        assert_eq!(d.repositories[0].mirrors, before);
    }

    #[test]
    fn builtin_manifests_parse() {
        for name in builtin_names() {
            let m = Manifest::builtin(name).unwrap();
            assert_eq!(m.distro.as_str(), name);
        }
        let c = Manifest::builtin("centos7").unwrap();
        assert_eq!(c.bundle_file_name(), "ntp-centos7-x86_64.tar.gz");
        let t = |v: &[&str]| v.iter().map(std::path::PathBuf::from).collect::<Vec<_>>();
        assert_eq!(c.bundle_file_name_for(&[]), "ntp-centos7-x86_64.tar.gz");
        assert_eq!(c.bundle_file_name_for(&t(&["/x/db1.json"])), "ntp-centos7-x86_64-for-db1.tar.gz");
        assert_eq!(
            c.bundle_file_name_for(&t(&["a b.json", "c.json", "d"])),
            "ntp-centos7-x86_64-for-a_b-and-2-more.tar.gz"
        );
        assert_eq!(c.bundle_file_name_for(&t(&["...json"])), "ntp-centos7-x86_64-for-node.tar.gz");
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

    const GOOD: &str = r#"
name = "ntp"
distro = "d"
family = "deb"
arch = "amd64"
os_release = { id = "debian", version_id = "12" }
packages = ["ntpsec"]
[[repository]]
name = "debian"
suites = ["bookworm"]
components = ["main"]
mirrors = ["http://127.0.0.1/debian"]
[time]
flavor = "ntpsec"
service = "ntpsec"
config = "/etc/ntpsec/ntp.conf"
driftfile = "/var/lib/ntpsec/ntp.drift"
upstream = ["0.debian.pool.ntp.org"]
sync_command = "/usr/sbin/ntpdate -u"
"#;

    /// Regression (issue 9): crafted manifests were accepted; each field is now refused with a
    /// message that names it.
    #[rstest::rstest]
    #[case::suite_leaves_the_mirror(r#"suites = ["bookworm"]"#, r#"suites = ["../../etc"]"#, "repository path")]
    #[case::component_leaves(r#"components = ["main"]"#, r#"components = ["main/../.."]"#, "repository path")]
    #[case::scheme_without_host(
        r#"mirrors = ["http://127.0.0.1/debian"]"#,
        r#"mirrors = ["http://"]"#,
        "not a mirror URL"
    )]
    #[case::ftp_mirror(
        r#"mirrors = ["http://127.0.0.1/debian"]"#,
        r#"mirrors = ["ftp://m/debian"]"#,
        "not a mirror URL"
    )]
    #[case::query_in_mirror(
        r#"mirrors = ["http://127.0.0.1/debian"]"#,
        r#"mirrors = ["http://m/d?x=1"]"#,
        "not a mirror URL"
    )]
    #[case::newline_in_repo_name(r#"name = "debian""#, r#"name = "debian\nok: spoofed""#, "not a plain name")]
    #[case::newline_in_os_release(r#"id = "debian""#, r#"id = "debian\n""#, "not a plain name")]
    #[case::slash_in_bundle_name(r#"name = "ntp""#, r#"name = "../ntp""#, "not a plain name")]
    #[case::newline_in_description(r#"arch = "amd64""#, "arch = \"amd64\"\ndescription = \"a\\nb\"", "not one line")]
    #[case::bad_request_version(r#"packages = ["ntpsec"]"#, r#"packages = ["ntpsec = 1.0; rm"]"#, "not one line")]
    #[case::config_outside_etc(
        r#"config = "/etc/ntpsec/ntp.conf""#,
        r#"config = "/root/.ssh/authorized_keys""#,
        ".conf file under /etc/"
    )]
    #[case::config_traversal(r#"config = "/etc/ntpsec/ntp.conf""#, r#"config = "/etc/../../x.conf""#, "absolute path")]
    #[case::config_relative(r#"config = "/etc/ntpsec/ntp.conf""#, r#"config = "etc/ntp.conf""#, "absolute path")]
    #[case::sync_command_chained(
        r#"sync_command = "/usr/sbin/ntpdate -u""#,
        r#"sync_command = "/usr/sbin/ntpdate -u; touch /tmp/pwned""#,
        "sync command"
    )]
    #[case::sync_command_newline(
        r#"sync_command = "/usr/sbin/ntpdate -u""#,
        r#"sync_command = "/usr/sbin/ntpdate\n* * * * * root id""#,
        "sync command"
    )]
    #[case::upstream_directive(
        r#"upstream = ["0.debian.pool.ntp.org"]"#,
        r#"upstream = ["pool\nrestrict default"]"#,
        "host name"
    )]
    #[case::upstream_empty(r#"upstream = ["0.debian.pool.ntp.org"]"#, r#"upstream = []"#, "upstream is empty")]
    #[case::service_option(r#"service = "ntpsec""#, r#"service = "--now""#, "service name")]
    #[case::driftfile_directive(
        r#"driftfile = "/var/lib/ntpsec/ntp.drift""#,
        r#"driftfile = "/var/lib/x\nserver evil""#,
        "absolute path"
    )]
    #[case::zone_traversal(r#"flavor = "ntpsec""#, "flavor = \"ntpsec\"\ntimezone = \"../../etc/shadow\"", "time zone")]
    #[case::orphan_wait_a_year(r#"flavor = "ntpsec""#, "flavor = \"ntpsec\"\norphan_wait = 31536000", "orphan_wait")]
    #[case::unknown_priority(r#"[time]"#, "[base]\npriorities = [\"requried\"]\n[time]", "priorities")]
    fn crafted_manifests_are_refused_naming_the_field(#[case] from: &str, #[case] to: &str, #[case] expected: &str) {
        assert!(Manifest::parse(GOOD, "good.toml").is_ok());
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "the case did not change the manifest");
        let e = Manifest::parse(&text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains(expected), "{e}");
        assert!(!e.contains("\nok: spoofed\n"), "{e}");
    }

    #[test]
    fn duplicate_repository_names_and_huge_manifests_are_refused() {
        let dup = format!("{GOOD}\n[[repository]]\nname = \"debian\"\nsuites = [\"x\"]\ncomponents = [\"main\"]\nmirrors = [\"http://m\"]\n");
        // A [[repository]] after [time] is still a repository in TOML.
        let e = Manifest::parse(&dup, "t.toml").unwrap_err().to_string();
        assert!(e.contains("two repositories are named `debian`"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.toml");
        fs_err::write(&p, format!("{GOOD}\n#{}", "x".repeat(2 << 20))).unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(e.contains("larger than 1048576 bytes"), "{e}");
    }

    /// A yum repository at the mirror's root (a mounted DVD) is `path = "."`; an apt suite `.`
    /// is nonsense.
    #[test]
    fn the_mirror_root_is_a_yum_path_but_not_a_suite() {
        let rpm = "name='x'\ndistro='d'\nfamily='rpm'\narch='x86_64'\nos_release={id='centos',version_id='7'}\npackages=['a']\n[[repository]]\nname='dvd'\npath='.'\nmirrors=['file:///mnt/cdrom']\n";
        assert!(Manifest::parse(rpm, "t.toml").is_ok());
        let e = Manifest::parse(&GOOD.replace(r#"suites = ["bookworm"]"#, r#"suites = ["."]"#), "t.toml").unwrap_err();
        assert!(e.to_string().contains("not a suite or component"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = "name='x'\ndistro='d'\nfamily='deb'\narch='amd64'\npackagez=[]\n";
        let e = Manifest::parse(text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("packagez"), "{e}");
    }
}
