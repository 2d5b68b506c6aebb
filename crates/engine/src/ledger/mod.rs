//! The node's ledger: `<root>/var/lib/moa-bundle/history.jsonl`, one JSON line per `install`,
//! `configure` or `undo` that changed (or set out to change) the node: when, which bundle (its
//! sha256, signer, upstream keys, SBOM digest), every package installed, upgraded or removed,
//! every file a role wrote (with its previous content kept under `kept/`), and the result.
//!
//! Append-only and crash-safe: an entry is one `write` of one line, fsync'd before the command
//! reports success. Each entry carries the sha256 of the one before it, and `history.head` names
//! the last one, so an edited, deleted or reordered entry is found by [`check::read`]. A torn last
//! line (a command killed while writing) is never dropped: the next entry records its digest, and
//! the check reports it.

pub(crate) mod check;
mod kept;
pub mod undo;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use moa_model::types::{Arch, Label, Line, PackageName, Sha256};

pub use check::{Finding, FindingKind, History};
pub use kept::{FileChange, FileState, FilesBefore};

/// Where the ledger lives, under the node's root.
pub const DIR: &str = "var/lib/moa-bundle";
/// The ledger itself, in [`DIR`].
pub const FILE: &str = "history.jsonl";
/// The last entry's number and digest, in [`DIR`].
const HEAD: &str = "history.head";
/// The ledger and every line in it are bounded when read.
const MAX_LEDGER: u64 = 256 << 20;
/// An error message kept in an entry is cut to this many bytes.
const MAX_ERROR: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{} leaves the root {}: {message}", DIR, root.display())]
    Outside { root: PathBuf, message: String },
    #[error("could not read the ledger {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write the ledger {}: the command's changes are made, but not recorded. Free space or fix the directory's permissions; `moa-bundle history --verify` then shows the ledger as it is", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the ledger {} is larger than {} MiB: it is not a moa-bundle ledger, or it was tampered with", path.display(), MAX_LEDGER >> 20)]
    TooLarge { path: PathBuf },
    #[error("{} is not a regular file: the ledger must be one (a link could send its writes elsewhere)", path.display())]
    NotRegular { path: PathBuf },
}

/// What wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Install,
    Configure,
    Undo,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
}

/// The bundle an entry installed or configured from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// Its file name as given (no directory).
    pub file: Line,
    pub sha256: Sha256,
    pub name: Label,
    pub distro: Label,
    pub arch: Arch,
    /// The trusted key that signed it (minisign key id), when the node required one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Line>,
    /// `verify` or `skip` (built with `--insecure-skip-signatures`).
    pub upstream_signatures: crate::repo::Signatures,
    /// The fingerprints of the upstream keys the build pinned (and the node checked rpm
    /// headers against), with their repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_keys: Vec<Line>,
    /// sha256 of its `sbom.cdx.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom_sha256: Option<Sha256>,
}

impl BundleRecord {
    /// The record of a checked bundle: `file` as the user named it, `u` what was unpacked and
    /// checked, `signer` the trusted key its signature held for.
    pub fn of(
        file: &Path,
        u: &crate::bundle::verify::Unpacked,
        signer: Option<&crate::bundle::sign::SignatureCheck>,
    ) -> Self {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let sbom = moa_model::files::read_at_most(&u.dir.join(crate::bundle::sbom::SBOM_FILE), 64 << 20);
        BundleRecord {
            file: Line::new(&name).unwrap_or_else(|_| Line::new("(an unprintable name)").expect("one line")),
            sha256: u.bundle_sha256,
            name: u.index.name.clone(),
            distro: u.index.distro.clone(),
            arch: u.index.arch.clone(),
            signer: signer.and_then(|s| Line::new(&s.key).ok()),
            upstream_signatures: u.index.upstream_signatures,
            upstream_keys: u
                .index
                .keys
                .iter()
                .filter_map(|k| Line::new(&format!("{} {}", k.repository, k.fingerprint)).ok())
                .collect(),
            sbom_sha256: sbom.ok().flatten().map(|b| Sha256::digest(&b)),
        }
    }
}

/// What happened to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Installed,
    Upgraded,
    Downgraded,
    Removed,
}

/// One package the entry changed, as the node's package database says before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: PackageName,
    pub arch: Arch,
    pub change: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Line>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Line>,
    /// The package file of `before`, from the bundle's rollback kit, kept in `kept/<sha256>`
    /// for undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<Sha256>,
}

/// A torn line found at the end of the ledger when this entry was appended: kept in place and
/// named here, so the chain covers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Torn {
    pub bytes: u64,
    pub sha256: Sha256,
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3, … in the order written.
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: Line,
    pub command: Verb,
    /// The moa-bundle that wrote it.
    pub tool: Line,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRecord>,
    /// The role configured (`server`, `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Label>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileChange>,
    /// For an undo: the entry it reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<u64>,
    pub result: Outcome,
    /// Why it failed (cut to 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_torn: Option<Torn>,
    /// sha256 of the previous entry's line; none for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Sha256>,
}

impl Entry {
    /// A new entry for `command`; [`Ledger::append`] numbers, dates and chains it.
    pub fn new(command: Verb) -> Self {
        Entry {
            seq: 0,
            time: Line::new("").expect("empty is one line"),
            command,
            tool: Line::new(crate::VERSION).expect("the version is one line"),
            bundle: None,
            role: None,
            packages: Vec::new(),
            files: Vec::new(),
            undoes: None,
            result: Outcome::Ok,
            error: None,
            after_torn: None,
            prev: None,
        }
    }

    /// Marks it failed, keeping the start of `error`'s message (and its causes).
    pub fn failed(mut self, error: &dyn std::error::Error) -> Self {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if text.len() > MAX_ERROR {
            let cut = (0..=MAX_ERROR).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        self.result = Outcome::Failed;
        self.error = Some(text);
        self
    }
}

/// The ledger of one root.
#[derive(Debug, Clone)]
pub struct Ledger {
    root: PathBuf,
    /// [`DIR`] under the root, its links resolved inside it.
    dir: PathBuf,
}

impl Ledger {
    /// The ledger of the node under `root` (nothing is created).
    pub fn at(root: &Path) -> Result<Self, LedgerError> {
        let dir = moa_model::files::resolve_in_root(root, Path::new(DIR), true)
            .map_err(|e| LedgerError::Outside { root: root.to_path_buf(), message: e.to_string() })?;
        Ok(Ledger { root: root.to_path_buf(), dir })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads and checks the whole ledger.
    pub fn read(&self) -> Result<History, LedgerError> {
        check::read(self)
    }

    /// Appends `entry`, numbered after the last one and chained to it, fsync'd (the file and,
    /// when it was created, its directory); then moves `history.head` to it. Returns the entry as
    /// written.
    pub fn append(&self, mut entry: Entry) -> Result<Entry, LedgerError> {
        let path = self.path();
        let werr = |source| LedgerError::Write { path: path.clone(), source };
        fs_err::create_dir_all(&self.dir).map_err(werr)?;
        let raw = check::read_raw(&path)?;
        let tail = check::split(&raw);
        let last = tail.lines.iter().rev().find_map(|l| l.entry.as_ref().map(|e| (e.seq, l.sha256)));
        entry.seq = last.map_or(1, |(seq, _)| seq.saturating_add(1));
        entry.prev = last.map(|(_, sha)| sha);
        entry.after_torn = tail.torn.map(|t| Torn { bytes: t.len() as u64, sha256: Sha256::digest(t) });
        entry.time = Line::new(&moa_model::types::rfc3339(now())).expect("a date is one line");
        let line = serde_json::to_string(&entry).expect("an entry serializes");
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if entry.after_torn.is_some() {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let created = raw.is_empty() && path.symlink_metadata().is_err();
        let mut f = open_append(&path).map_err(werr)?;
        f.write_all(&bytes).map_err(werr)?;
        f.sync_all().map_err(werr)?;
        if created {
            fs_err::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(werr)?;
        }
        let head = format!("{} {}\n", entry.seq, Sha256::digest(line.as_bytes()));
        moa_model::files::write_atomic(&self.dir.join(HEAD), head.as_bytes(), 0o644).map_err(werr)?;
        Ok(entry)
    }

    /// Keeps a package file (from a checked bundle's rollback kit) as `kept/<sha256>`, copied and
    /// checked against `sha256` in one read.
    pub fn keep_package(&self, src: &Path, sha256: &Sha256) -> Result<(), LedgerError> {
        kept::keep_file(&self.dir, src, sha256)
    }

    /// Copies a kept content to `dest`, checked.
    pub fn copy_kept(&self, sha256: &Sha256, dest: &Path) -> Result<(), LedgerError> {
        kept::copy_out(&self.dir, sha256, dest)
    }

    /// Where a kept content is, on the host.
    pub fn kept_path(&self, sha256: &Sha256) -> PathBuf {
        self.dir.join(kept::KEPT).join(sha256.to_hex())
    }

    /// Records what is at `path` (a host path under the root) before a role writes it, keeping a
    /// copy of a file's content under `kept/` for undo.
    pub fn keep(&self, path: &Path) -> Result<FileState, LedgerError> {
        kept::keep(&self.dir, path)
    }

    /// The ledger's own directory (kept contents are beneath it).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What changed between two readings of the node's package database: each (name, arch) whose
/// versions differ, paired up as an upgrade or downgrade when one version went and one came.
pub(crate) fn package_changes(
    before: &[crate::repo::Installed],
    after: &[crate::repo::Installed],
    syntax: &dyn moa_model::deps::DepSyntax,
) -> Vec<PackageChange> {
    let (old, new) = (group(before), group(after));
    let keys: std::collections::BTreeSet<_> = old.keys().chain(new.keys()).copied().collect();
    let mut out = Vec::new();
    for key in keys {
        let was = old.get(&key).map(Vec::as_slice).unwrap_or_default();
        let is = new.get(&key).map(Vec::as_slice).unwrap_or_default();
        let gone: Vec<&str> = was.iter().filter(|v| !is.contains(v)).copied().collect();
        let came: Vec<&str> = is.iter().filter(|v| !was.contains(v)).copied().collect();
        out.extend(changes(key, &gone, &came, syntax));
    }
    out
}

type Versions<'a> = std::collections::BTreeMap<(&'a str, &'a str), Vec<&'a str>>;

fn group(list: &[crate::repo::Installed]) -> Versions<'_> {
    let mut m = Versions::new();
    for p in list {
        m.entry((p.name.as_str(), p.arch.as_str())).or_default().push(p.version.as_str());
    }
    m
}

/// The changes of one (name, arch): versions gone and versions come.
fn changes(
    (name, arch): (&str, &str),
    gone: &[&str],
    came: &[&str],
    syntax: &dyn moa_model::deps::DepSyntax,
) -> Vec<PackageChange> {
    let (Ok(name), Ok(arch)) = (PackageName::new(name), Arch::new(arch)) else { return Vec::new() };
    let line = |v: &str| Line::new(v).ok();
    let one = |change, before: Option<&str>, after: Option<&str>| PackageChange {
        name: name.clone(),
        arch: arch.clone(),
        change,
        before: before.and_then(line),
        after: after.and_then(line),
        kept: None,
    };
    if let ([from], [to]) = (gone, came) {
        let newer = match (syntax.parse_version(from), syntax.parse_version(to)) {
            (Ok(a), Ok(b)) => b > a,
            _ => true,
        };
        return vec![one(if newer { Change::Upgraded } else { Change::Downgraded }, Some(from), Some(to))];
    }
    let removed = gone.iter().map(|v| one(Change::Removed, Some(v), None));
    removed.chain(came.iter().map(|v| one(Change::Installed, None, Some(v)))).collect()
}

/// Opens the ledger for appending, never through a link.
fn open_append(path: &Path) -> std::io::Result<fs_err::File> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    Ok(f)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
