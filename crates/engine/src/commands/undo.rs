//! `undo [ENTRY]` on the node, offline: the ledger names what an install or configure changed,
//! and the node keeps what it takes to put that back (the role's files' earlier contents, the
//! rollback kit's package versions). The whole undo is planned and checked first
//! ([`crate::ledger::undo`]); then the files are restored, the packages the entry installed are
//! purged, the versions it replaced put back, and the ledger gets an entry of its own.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::CommandError;
use crate::family::{self, Backend};
use crate::install::{self, InstallError, InstallOptions};
use crate::ledger::undo::{self, UndoError, UndoPlan};
use crate::ledger::{self, Entry, FileChange, FileState, Ledger, Verb};
use crate::report::Reporter;

/// How to undo.
#[derive(Debug, Clone)]
pub struct UndoOptions {
    pub install: InstallOptions,
    /// The entry to undo; the last one that changed something when none.
    pub entry: Option<u64>,
    pub dry_run: bool,
}

/// What `undo` did (or, with --dry-run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    pub root: PathBuf,
    pub dry_run: bool,
    /// The plan; none when there was nothing to undo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<UndoPlan>,
    /// Why there is nothing to undo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing: Option<String>,
    /// The package tool's output.
    pub output: Vec<String>,
    /// The ledger entry this undo wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u64>,
}

pub fn undo_cmd(opts: &UndoOptions, reporter: &dyn Reporter) -> Result<UndoReport, CommandError> {
    let root = &opts.install.root;
    if !opts.dry_run && !install::is_root() {
        return Err(InstallError::NotRoot.into());
    }
    let _lock = if opts.dry_run { None } else { Some(super::lock_root(root)?) };
    let ledger = Ledger::at(root)?;
    let history = ledger.read()?;
    let backend =
        family::detect(root).ok_or_else(|| undo_error(UndoError::NoPackageDatabase { root: root.clone() }))?;
    let mut report = UndoReport {
        root: root.clone(),
        dry_run: opts.dry_run,
        plan: None,
        nothing: None,
        output: Vec::new(),
        recorded: None,
    };
    let (entry, plan) = match decide(&ledger, &history, backend, opts)? {
        Decision::Nothing(why) => {
            report.nothing = Some(why);
            return Ok(report);
        }
        Decision::Undo(entry, plan) => (entry, *plan),
    };
    if plan.is_empty() {
        report.nothing = Some(format!("the node is already as it was before entry {}", entry.seq));
    }
    if opts.dry_run || plan.is_empty() {
        report.plan = Some(plan);
        return Ok(report);
    }
    undo::begin(&ledger, &plan)?;
    let done = carry_out(&ledger, &plan, backend, &opts.install, reporter);
    let written = ledger.append(record(entry, &plan, backend, &opts.install, &done));
    report.output = match (done, written) {
        (Ok(out), Ok(w)) => {
            report.recorded = Some(w.seq);
            undo::finish(&ledger)?;
            out
        }
        (Ok(_), Err(l)) => return Err(l.into()),
        (Err(err), Ok(_)) => return Err(err),
        (Err(err), Err(ledger)) => return Err(CommandError::NotRecorded { error: Box::new(err), ledger }),
    };
    report.plan = Some(plan);
    Ok(report)
}

/// Nothing to undo (and why), or an entry and the plan that undoes it.
enum Decision<'h> {
    Nothing(String),
    Undo(&'h Entry, Box<UndoPlan>),
}

/// An undo that was interrupted is finished first, with the plan it wrote before it began;
/// else the entry asked for (or the last) is planned against the node as it is now.
fn decide<'h>(
    ledger: &Ledger,
    history: &'h ledger::History,
    backend: &Backend,
    opts: &UndoOptions,
) -> Result<Decision<'h>, CommandError> {
    match undo::pending(ledger).map_err(undo_error)? {
        // Stopped after its entry was written: only the plan is left over.
        Some(plan) if undone_by(history, plan.entry).is_some() => {
            if !opts.dry_run {
                undo::finish(ledger)?;
            }
            Ok(Decision::Nothing(nothing_left(history)))
        }
        Some(plan) => resume(history, plan, opts.entry).map(|(e, p)| Decision::Undo(e, Box::new(p))),
        None => {
            let Some(entry) = undo::choose(history, opts.entry).map_err(undo_error)? else {
                return Ok(Decision::Nothing(nothing_left(history)));
            };
            let before = backend.installer.installed(&opts.install)?;
            let plan = undo::plan(ledger, entry, &before, backend.syntax).map_err(undo_error)?;
            Ok(Decision::Undo(entry, Box::new(plan)))
        }
    }
}

/// The plan carried out: the kept packages copied (and checked) into a private directory first,
/// so what is installed is what was checked.
fn carry_out(
    ledger: &Ledger,
    plan: &UndoPlan,
    backend: &Backend,
    opts: &InstallOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, CommandError> {
    let work =
        moa_model::files::WorkDir::new().map_err(|source| InstallError::Work { path: std::env::temp_dir(), source })?;
    let files = copy_kept(ledger, plan, backend, work.path())?;
    apply(plan, backend.installer, &files, opts, reporter)
}

/// The undo's ledger entry: what the packages went through since `entry`, the files put back,
/// how it ended.
fn record(
    entry: &Entry,
    plan: &UndoPlan,
    backend: &Backend,
    opts: &InstallOptions,
    done: &Result<Vec<String>, CommandError>,
) -> Entry {
    let mut e = Entry::new(Verb::Undo);
    (e.undoes, e.bundle, e.role) = (Some(entry.seq), entry.bundle.clone(), entry.role.clone());
    if let Ok(after) = backend.installer.installed(opts) {
        e.packages = undone(entry, &after, backend.syntax);
    }
    e.files = restored(plan);
    match done {
        Err(err) => e.failed(err),
        Ok(_) => e,
    }
}

/// What the node's packages went through since `entry` left them: from its after-versions to
/// now. So a run that finishes an undo a killed one began records the whole undo.
fn undone(
    entry: &Entry,
    now: &[install::Installed],
    syntax: &dyn moa_model::deps::DepSyntax,
) -> Vec<ledger::PackageChange> {
    let touched =
        |name: &str, arch: &str| entry.packages.iter().any(|c| c.name.as_str() == name && c.arch.as_str() == arch);
    let left: Vec<install::Installed> = entry
        .packages
        .iter()
        .filter_map(|c| {
            let version = c.after.as_ref()?.to_string();
            Some(install::Installed {
                name: c.name.to_string(),
                arch: c.arch.to_string(),
                version,
                ..Default::default()
            })
        })
        .collect();
    let now: Vec<install::Installed> = now.iter().filter(|i| touched(&i.name, &i.arch)).cloned().collect();
    ledger::package_changes(&left, &now, syntax)
}

/// The undo entry that undid `seq`.
fn undone_by(history: &ledger::History, seq: u64) -> Option<&Entry> {
    history.entries.iter().find(|e| e.command == Verb::Undo && e.undoes == Some(seq) && e.result == ledger::Outcome::Ok)
}

/// The entry an interrupted undo's plan is for, unless another entry is asked for.
fn resume(history: &ledger::History, plan: UndoPlan, asked: Option<u64>) -> Result<(&Entry, UndoPlan), CommandError> {
    undo::check_intact(history).map_err(undo_error)?;
    if asked.is_some_and(|a| a != plan.entry) {
        return Err(undo_error(UndoError::Interrupted { pending: plan.entry }));
    }
    let (last, seq) = (history.entries.last().map_or(0, |e| e.seq), plan.entry);
    let entry = history.entries.iter().find(|e| e.seq == seq).ok_or(UndoError::NoEntry { seq, last });
    Ok((entry.map_err(undo_error)?, plan))
}

fn undo_error(e: UndoError) -> CommandError {
    CommandError::Undo(Box::new(e))
}

/// Why a plain `undo` has nothing to do.
fn nothing_left(h: &ledger::History) -> String {
    match h.entries.iter().rev().find(|e| !e.packages.is_empty() || !e.files.is_empty()) {
        Some(e) if e.command == Verb::Undo => format!(
            "the last change, entry {}, is itself an undo (of entry {}): name an earlier entry to undo it too",
            e.seq,
            e.undoes.unwrap_or(0)
        ),
        Some(e) => {
            format!("the last change, entry {}, was undone already: name an earlier entry to undo it too", e.seq)
        }
        None => "the ledger records no change to undo".into(),
    }
}

/// Copies each kept package file into `dir` under a name its tool takes, checking its digest on
/// the way.
fn copy_kept(ledger: &Ledger, plan: &UndoPlan, backend: &Backend, dir: &Path) -> Result<Vec<PathBuf>, CommandError> {
    let ext = match backend.installer.tool() {
        "dpkg" => "deb",
        _ => "rpm",
    };
    let mut out = Vec::new();
    for (i, b) in plan.put_back.iter().enumerate() {
        let dest = dir.join(format!("{i:04}-{}.{ext}", b.package.name));
        let copy = ledger::Ledger::copy_kept(ledger, &b.sha256, &dest);
        copy.map_err(|e| undo_error(UndoError::Ledger(e)))?;
        out.push(dest);
    }
    Ok(out)
}

/// Files first (a package put back then finds its configuration as it was), then the packages
/// the entry installed purged, then the kept versions put back.
fn apply(
    plan: &UndoPlan,
    installer: &dyn install::Installer,
    files: &[PathBuf],
    opts: &InstallOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, CommandError> {
    let ledger = Ledger::at(&opts.root)?;
    for f in &plan.files {
        // Done already by an undo that was interrupted after it.
        if ledger::FileState::of(&f.host).ok().as_ref() == Some(&f.to) {
            continue;
        }
        reporter.status(&format!("putting back {}", f.path));
        restore(&ledger, &f.host, &f.to)?;
    }
    let mut out = Vec::new();
    if !plan.purge.is_empty() {
        reporter.status(&format!(
            "{}: purging {} package(s) entry {} installed",
            installer.tool(),
            plan.purge.len(),
            plan.entry
        ));
        let names: Vec<(String, String)> =
            plan.purge.iter().map(|p| (p.name.to_string(), p.arch.to_string())).collect();
        out.push(installer.purge(&names, opts)?);
    }
    if !files.is_empty() {
        reporter.status(&format!("{}: putting back {} package version(s)", installer.tool(), files.len()));
        out.push(installer.put_back(files, opts)?);
    }
    Ok(out)
}

/// Puts `to` at `host`: a kept content (checked), a link, or nothing.
fn restore(ledger: &Ledger, host: &Path, to: &FileState) -> Result<(), CommandError> {
    let werr = |source| CommandError::Io { what: host.display().to_string(), source };
    match to {
        FileState::Absent => match fs_err::remove_file(host) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(werr(e)),
            _ => Ok(()),
        },
        FileState::Link { target } => {
            fs_err::create_dir_all(moa_model::files::parent_dir(host)).map_err(werr)?;
            let tmp = moa_model::files::parent_dir(host).join(format!(
                "{}undo-{}",
                moa_model::files::PREFIX,
                std::process::id()
            ));
            let _ = fs_err::remove_file(&tmp);
            fs_err::os::unix::fs::symlink(target.as_str(), &tmp).map_err(werr)?;
            fs_err::rename(&tmp, host).map_err(werr)
        }
        FileState::File { sha256, mode, .. } => {
            fs_err::create_dir_all(moa_model::files::parent_dir(host)).map_err(werr)?;
            ledger.copy_kept(sha256, host).map_err(|e| undo_error(UndoError::Ledger(e)))?;
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(host, std::fs::Permissions::from_mode(*mode)).map_err(werr)
        }
    }
}

/// The files the undo put back, as ledger changes.
fn restored(plan: &UndoPlan) -> Vec<FileChange> {
    plan.files
        .iter()
        .map(|f| FileChange { path: f.path.clone(), before: f.now.clone(), after: f.to.clone(), kept: None })
        .collect()
}
