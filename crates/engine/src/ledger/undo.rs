//! Planning an undo from the ledger and the node as it is now: which entry, then what putting
//! the node back as it was before that entry takes — files restored, packages it installed
//! purged, the versions it upgraded or removed put back from the kept rollback kit. Everything
//! is checked (the chain, later entries, the node's drift, every kept file's digest) before the
//! plan is returned; a re-run after an interrupted undo plans only what is left.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use moa_model::deps::DepSyntax;
use moa_model::types::node::NodePath;
use moa_model::types::{Arch, Line, PackageName, Sha256};

use super::{kept, BundleRecord, Change, Entry, FileState, History, Ledger, LedgerError, Verb};
use crate::repo::Installed;

#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("the ledger {} is broken, so undo cannot trust what it says to put back:\n{}\nFind out who changed it (`moa-bundle history --verify`); nothing was changed", path.display(), .findings.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Broken { path: PathBuf, findings: Vec<String> },
    #[error("the ledger has no entry {seq} (its entries are 1 to {last})")]
    NoEntry { seq: u64, last: u64 },
    #[error("entry {seq} is itself an undo (of entry {undoes}): to have that back, install its bundle again")]
    IsUndo { seq: u64, undoes: u64 },
    #[error("entry {seq} was already undone by entry {by}")]
    AlreadyUndone { seq: u64, by: u64 },
    #[error("entry {later} changed {what} after entry {seq}: undo entry {later} first, then entry {seq}")]
    Later { seq: u64, later: u64, what: String },
    #[error("entry {seq} replaced packages whose earlier versions its bundle did not carry:\n{}\nBuild the bundle with `--target <this node's profile> --rollback` so it carries them; nothing was changed", .packages.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    NoKit { seq: u64, packages: Vec<String> },
    #[error("{what} is {found} now, not {expected} as entry {seq} left it: it was changed since (by hand or by another tool). Put it back as entry {seq} left it, or undo by hand; nothing was changed")]
    Drifted { seq: u64, what: String, expected: String, found: String },
    #[error("the kept copy {} of {what} is missing or changed ({message}): undo cannot put it back; nothing was changed", path.display())]
    Kept { path: PathBuf, what: String, message: String },
    #[error("{} has neither a dpkg nor an rpm database: is it the root of a node?", root.display())]
    NoPackageDatabase { root: PathBuf },
    #[error("an undo of entry {pending} was interrupted: run `moa-bundle undo` (without an entry) to finish it first")]
    Interrupted { pending: u64 },
    #[error("{} is not an undo plan moa-bundle wrote ({message}): an undo was interrupted and its plan was changed since; nothing was changed. Look at it, then remove it to plan afresh", path.display())]
    Pending { path: PathBuf, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The plan of an undo under way, beside the ledger: written (fsync'd) before its first
/// change, removed once its entry is written. A later `undo` finds it and finishes that plan.
const PENDING: &str = "undo.pending";

/// Writes the plan of an undo about to start.
pub fn begin(ledger: &Ledger, plan: &UndoPlan) -> Result<(), LedgerError> {
    let path = ledger.dir().join(PENDING);
    let bytes = serde_json::to_vec_pretty(plan).expect("a plan serializes");
    moa_model::files::write_atomic(&path, &bytes, 0o600).map_err(|source| LedgerError::Write { path, source })
}

/// The undo is done and recorded.
pub fn finish(ledger: &Ledger) -> Result<(), LedgerError> {
    let path = ledger.dir().join(PENDING);
    match fs_err::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LedgerError::Write { path, source: e }),
        _ => Ok(()),
    }
}

/// The plan of an interrupted undo, its files found again under the root.
pub fn pending(ledger: &Ledger) -> Result<Option<UndoPlan>, UndoError> {
    let path = ledger.dir().join(PENDING);
    let bad = |message: String| UndoError::Pending { path: path.clone(), message };
    let bytes = match moa_model::files::read_at_most(&path, 64 << 20) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
        Ok(None) => return Err(bad("larger than 64 MiB".into())),
        Ok(Some(b)) => b,
    };
    let mut plan: UndoPlan = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    for f in &mut plan.files {
        f.host = host_path(ledger, &f.path)?;
    }
    Ok(Some(plan))
}

/// A node path's place on this machine, under the ledger's root.
fn host_path(ledger: &Ledger, path: &NodePath) -> Result<PathBuf, LedgerError> {
    moa_model::files::resolve_in_root(ledger.root(), std::path::Path::new(&path.as_str()[1..]), false)
        .map_err(|e| LedgerError::Outside { root: ledger.root().to_path_buf(), message: e.to_string() })
}

/// A package by name, arch and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageRef {
    pub name: PackageName,
    pub arch: Arch,
    pub version: Line,
}

/// A kept version to put back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutBack {
    #[serde(flatten)]
    pub package: PackageRef,
    /// The kept package file (`kept/<sha256>`).
    pub sha256: Sha256,
}

/// A file to put back as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRestore {
    pub path: NodePath,
    /// Where it is on this machine (under the root; found again when a plan is read back).
    #[serde(skip)]
    pub host: PathBuf,
    pub now: FileState,
    pub to: FileState,
}

/// What undoing an entry takes, in the order it is done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UndoPlan {
    pub entry: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRecord>,
    pub files: Vec<FileRestore>,
    pub purge: Vec<PackageRef>,
    pub put_back: Vec<PutBack>,
}

impl UndoPlan {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.purge.is_empty() && self.put_back.is_empty()
    }
}

/// Refuses a ledger an entry of which was edited, deleted or moved: undo acts on what it says.
pub fn check_intact(h: &History) -> Result<(), UndoError> {
    if h.broken() {
        let findings = h.findings.iter().filter(|f| !f.kind.is_note()).map(|f| f.to_string()).collect();
        return Err(UndoError::Broken { path: h.path.clone(), findings });
    }
    Ok(())
}

/// The entry to undo: `asked`, or the last one that changed something. `Ok(None)` when that
/// last one is an undo or already undone (a second `undo` undoes nothing more).
pub fn choose(h: &History, asked: Option<u64>) -> Result<Option<&Entry>, UndoError> {
    check_intact(h)?;
    let undone_by = |seq: u64| {
        h.entries.iter().find(|e| e.command == Verb::Undo && e.undoes == Some(seq) && e.result == super::Outcome::Ok)
    };
    let entry = match asked {
        Some(seq) => h
            .entries
            .iter()
            .find(|e| e.seq == seq)
            .ok_or(UndoError::NoEntry { seq, last: h.entries.last().map_or(0, |e| e.seq) })?,
        None => match h.entries.iter().rev().find(|e| !e.packages.is_empty() || !e.files.is_empty()) {
            Some(e) if e.command == Verb::Undo || undone_by(e.seq).is_some() => return Ok(None),
            Some(e) => e,
            None => return Ok(None),
        },
    };
    if let (Verb::Undo, Some(undoes)) = (entry.command, entry.undoes) {
        return Err(UndoError::IsUndo { seq: entry.seq, undoes });
    }
    if let Some(by) = undone_by(entry.seq) {
        return Err(UndoError::AlreadyUndone { seq: entry.seq, by: by.seq });
    }
    // A later entry that changed the same package or file, and was not undone since.
    for later in h.entries.iter().filter(|l| l.seq > entry.seq && l.command != Verb::Undo && undone_by(l.seq).is_none())
    {
        let package =
            entry.packages.iter().find(|p| later.packages.iter().any(|q| q.name == p.name && q.arch == p.arch));
        let file = entry.files.iter().find(|f| later.files.iter().any(|g| g.path == f.path));
        let what = match (package, file) {
            (Some(p), _) => format!("package {}:{}", p.name, p.arch),
            (None, Some(f)) => f.path.to_string(),
            (None, None) => continue,
        };
        return Err(UndoError::Later { seq: entry.seq, later: later.seq, what });
    }
    Ok(Some(entry))
}

/// What undoing `entry` takes on the node as it is now (`installed`: its package database).
pub fn plan(
    ledger: &Ledger,
    entry: &Entry,
    installed: &[Installed],
    syntax: &dyn DepSyntax,
) -> Result<UndoPlan, UndoError> {
    let seq = entry.seq;
    let mut p = UndoPlan {
        entry: seq,
        bundle: entry.bundle.clone(),
        files: Vec::new(),
        purge: Vec::new(),
        put_back: Vec::new(),
    };
    for f in entry.files.iter().rev() {
        let host = host_path(ledger, &f.path)?;
        let now = kept::state_of(&host)?;
        if now == f.before {
            continue;
        }
        if now != f.after {
            return Err(drift(seq, f.path.to_string(), &f.after, &now));
        }
        if let FileState::File { sha256, .. } = &f.before {
            check_kept(ledger, sha256, f.path.as_ref())?;
        }
        p.files.push(FileRestore { path: f.path.clone(), host, now, to: f.before.clone() });
    }
    let mut no_kit = Vec::new();
    for c in &entry.packages {
        let has: Vec<&Installed> =
            installed.iter().filter(|i| i.name == c.name.as_str() && i.arch == c.arch.as_str()).collect();
        let at =
            |v: &Option<Line>| v.as_ref().is_some_and(|v| has.iter().any(|i| same(syntax, &i.version, v.as_str())));
        let now = || has.iter().map(|i| i.version.as_str()).collect::<Vec<_>>().join(", ");
        let what = format!("package {}:{}", c.name, c.arch);
        let shown = |v: &Option<Line>| v.as_ref().map_or("not installed".to_string(), |v| v.to_string());
        let found = if has.is_empty() { "not installed".to_string() } else { now() };
        let reference = |v: &Line| PackageRef { name: c.name.clone(), arch: c.arch.clone(), version: v.clone() };
        match (c.change, &c.before, &c.after) {
            (Change::Installed, _, Some(after)) if at(&c.after) => p.purge.push(reference(after)),
            (Change::Installed, _, _) if has.is_empty() => {}
            (_, Some(_), _) if at(&c.before) && !at(&c.after) && c.change != Change::Installed => {}
            (Change::Removed, Some(before), _) if has.is_empty() || at(&c.after) => match c.kept {
                Some(sha256) => p.put_back.push(PutBack { package: reference(before), sha256 }),
                None => no_kit.push(format!("{} {} {before} (removed)", c.name, c.arch)),
            },
            (Change::Upgraded | Change::Downgraded, Some(before), _) if at(&c.after) => match c.kept {
                Some(sha256) => p.put_back.push(PutBack { package: reference(before), sha256 }),
                None => no_kit.push(format!("{} {} {before} (now {})", c.name, c.arch, shown(&c.after))),
            },
            _ => return Err(UndoError::Drifted { seq, what, expected: shown(&c.after), found }),
        }
    }
    if !no_kit.is_empty() {
        return Err(UndoError::NoKit { seq, packages: no_kit });
    }
    for b in &p.put_back {
        check_kept(ledger, &b.sha256, &format!("{} {} {}", b.package.name, b.package.arch, b.package.version))?;
    }
    Ok(p)
}

/// Whether two version strings are the same version.
fn same(syntax: &dyn DepSyntax, a: &str, b: &str) -> bool {
    a == b || matches!((syntax.parse_version(a), syntax.parse_version(b)), (Ok(x), Ok(y)) if x == y)
}

fn drift(seq: u64, what: String, expected: &FileState, found: &FileState) -> UndoError {
    UndoError::Drifted { seq, what, expected: describe(expected), found: describe(found) }
}

fn describe(s: &FileState) -> String {
    match s {
        FileState::Absent => "absent".into(),
        FileState::Link { target } => format!("a link to {target}"),
        FileState::File { sha256, .. } => format!("a file with sha256 {sha256}"),
    }
}

/// The kept copy of `sha256` is there, whole.
fn check_kept(ledger: &Ledger, sha256: &Sha256, what: &str) -> Result<(), UndoError> {
    let path = ledger.kept_path(sha256);
    let kept_err = |message: String| UndoError::Kept { path: path.clone(), what: what.to_string(), message };
    match kept::digest_file(&path) {
        Ok(d) if &d == sha256 => Ok(()),
        Ok(d) => Err(kept_err(format!("its sha256 is {d}"))),
        Err(e) => Err(kept_err(e.to_string())),
    }
}
