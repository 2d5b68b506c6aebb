//! What a file on the node was before a role wrote it, and after: absent, a link, or a file
//! with its digest and mode. A file's previous content is kept in `kept/<sha256>` beside the
//! ledger (content-addressed: the same content is kept once), where undo takes it back from.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use moa_model::types::node::NodePath;
use moa_model::types::{Line, Sha256};

use super::LedgerError;

/// Where a node's services are switched on (systemd's unit links): recorded whole around every
/// change, so undo puts back what package scripts and roles enabled or disabled.
const SERVICE_TREES: &[&str] = &["/etc/systemd/system"];
/// A service tree is bounded when read (a usual node has some fifty entries).
const MAX_TREE_ENTRIES: usize = 4096;

/// The directory of kept contents, beside the ledger.
pub(crate) const KEPT: &str = "kept";
/// A role's files are small; one larger than this is recorded by digest and not kept.
const MAX_KEPT: u64 = 16 << 20;

/// What is at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FileState {
    Absent,
    Link { target: Line },
    File { sha256: Sha256, size: u64, mode: u32 },
}

impl FileState {
    /// What is at `path` now.
    pub fn of(path: &Path) -> Result<Self, LedgerError> {
        state(path, None)
    }
}

/// One file a role changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: NodePath,
    pub before: FileState,
    pub after: FileState,
    /// Where the previous content is kept (a node path), when it was a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<NodePath>,
}

impl FileChange {
    /// The change at `path` from `before`, as it is now on the host path `host`.
    pub fn now(path: NodePath, before: FileState, host: &Path) -> Result<Self, LedgerError> {
        let after = state(host, None)?;
        let kept = match &before {
            FileState::File { sha256, size, .. } if *size <= MAX_KEPT => {
                NodePath::new(&format!("/{}/{KEPT}/{sha256}", super::DIR)).ok()
            }
            _ => None,
        };
        Ok(FileChange { path, before, after, kept })
    }
}

/// What is at `path` now; with `keep`, a file's content is copied into that directory too.
fn state(path: &Path, keep: Option<&Path>) -> Result<FileState, LedgerError> {
    let rerr = |source| LedgerError::Read { path: path.to_path_buf(), source };
    let meta = match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Absent),
        Err(e) => return Err(rerr(e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        let target = fs_err::read_link(path).map_err(rerr)?;
        let target = Line::new(&target.to_string_lossy()).map_err(|e| rerr(std::io::Error::other(e)))?;
        return Ok(FileState::Link { target });
    }
    let mode = meta.permissions().mode() & 0o7777;
    let bytes = moa_model::files::read_at_most(path, MAX_KEPT).map_err(rerr)?;
    let Some(bytes) = bytes else {
        let sha256 = digest_file(path).map_err(rerr)?;
        return Ok(FileState::File { sha256, size: meta.len(), mode });
    };
    let sha256 = Sha256::digest(&bytes);
    if let Some(dir) = keep {
        let dest = dir.join(sha256.to_hex());
        let werr = |source| LedgerError::Write { path: dest.clone(), source };
        if !dest.is_file() || digest_file(&dest).ok() != Some(sha256) {
            fs_err::create_dir_all(dir).map_err(werr)?;
            moa_model::files::write_atomic(&dest, &bytes, 0o600).map_err(werr)?;
        }
    }
    Ok(FileState::File { sha256, size: bytes.len() as u64, mode })
}

/// What is at `path` now.
pub(crate) fn state_of(path: &Path) -> Result<FileState, LedgerError> {
    state(path, None)
}

/// Records `path` before a change, keeping a file's content in `<ledger dir>/kept/`.
pub(crate) fn keep(ledger_dir: &Path, path: &Path) -> Result<FileState, LedgerError> {
    state(path, Some(&ledger_dir.join(KEPT)))
}

pub(crate) fn digest_file(path: &Path) -> std::io::Result<Sha256> {
    let (mut f, _) = moa_model::files::open_regular(path)?;
    let mut w = moa_model::types::HashingWriter::new(std::io::sink());
    std::io::copy(&mut f, &mut w)?;
    Ok(w.finish().0)
}

/// Copies `src` into `<ledger dir>/kept/<sha256>` through a partial file, checking the digest of
/// the bytes copied; a kept file already there with that digest is left.
pub(crate) fn keep_file(ledger_dir: &Path, src: &Path, sha256: &Sha256) -> Result<(), LedgerError> {
    let dir = ledger_dir.join(KEPT);
    let dest = dir.join(sha256.to_hex());
    if dest.is_file() && digest_file(&dest).ok().as_ref() == Some(sha256) {
        return Ok(());
    }
    let werr = |source| LedgerError::Write { path: dest.clone(), source };
    fs_err::create_dir_all(&dir).map_err(werr)?;
    let (mut from, _) =
        moa_model::files::open_regular(src).map_err(|source| LedgerError::Read { path: src.to_path_buf(), source })?;
    let mut partial = moa_model::files::Partial::new_in(&dir).map_err(werr)?;
    let mut w = moa_model::types::HashingWriter::new(partial.file_mut());
    std::io::copy(&mut from, &mut w).map_err(werr)?;
    let (got, _, _) = w.finish();
    if &got != sha256 {
        return Err(werr(std::io::Error::other(format!(
            "{} is not the file checked (sha256 {got}, expected {sha256})",
            src.display()
        ))));
    }
    partial.persist(&dest, 0o600).map_err(werr)
}

/// Copies the kept content `sha256` to `dest` (through a partial file beside it, renamed over
/// it), checking the digest of the bytes copied.
pub(crate) fn copy_out(ledger_dir: &Path, sha256: &Sha256, dest: &Path) -> Result<(), LedgerError> {
    let src = ledger_dir.join(KEPT).join(sha256.to_hex());
    let (mut from, _) =
        moa_model::files::open_regular(&src).map_err(|source| LedgerError::Read { path: src.clone(), source })?;
    let werr = |source| LedgerError::Write { path: dest.to_path_buf(), source };
    let mut partial = moa_model::files::Partial::new_in(&moa_model::files::parent_dir(dest)).map_err(werr)?;
    let mut w = moa_model::types::HashingWriter::new(partial.file_mut());
    std::io::copy(&mut from, &mut w).map_err(werr)?;
    let (got, _, _) = w.finish();
    if &got != sha256 {
        return Err(LedgerError::Read {
            path: src,
            source: std::io::Error::other(format!("its sha256 is {got}, not {sha256}: it was changed")),
        });
    }
    partial.persist(dest, 0o644).map_err(werr)
}

/// The files a change is about to touch, as they are before it (their contents kept): the role's
/// files and every entry of the service trees.
#[derive(Debug, Default)]
pub struct FilesBefore {
    files: Vec<(NodePath, std::path::PathBuf, FileState)>,
    root: std::path::PathBuf,
}

impl FilesBefore {
    /// Records each `(node path, host path)` in `files`, and the service trees, keeping copies.
    pub fn take(ledger: &super::Ledger, files: Vec<(NodePath, std::path::PathBuf)>) -> Result<Self, LedgerError> {
        let mut out = FilesBefore { files: Vec::new(), root: ledger.root().to_path_buf() };
        let trees = service_entries(ledger.root());
        for (node, host) in files.into_iter().chain(trees) {
            if out.files.iter().any(|(n, _, _)| *n == node) {
                continue;
            }
            let state = keep(ledger.dir(), &host)?;
            out.files.push((node, host, state));
        }
        Ok(out)
    }

    /// What changed since: each file whose state differs now, and each service tree entry that
    /// came since.
    pub fn changes(mut self) -> Result<Vec<FileChange>, LedgerError> {
        for (node, host) in service_entries(&self.root) {
            if !self.files.iter().any(|(n, _, _)| *n == node) {
                self.files.push((node, host, FileState::Absent));
            }
        }
        let mut out = Vec::new();
        for (node, host, before) in self.files {
            let c = FileChange::now(node, before, &host)?;
            if c.before != c.after {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// Every file and link in the service trees under `root` (directories walked, links never
/// followed), as (node path, host path); names a node path cannot hold are left out.
fn service_entries(root: &Path) -> Vec<(NodePath, std::path::PathBuf)> {
    let mut out = Vec::new();
    for tree in SERVICE_TREES {
        let Ok(host) = moa_model::files::resolve_in_root(root, Path::new(&tree[1..]), true) else { continue };
        walk(&host, tree, 0, &mut out);
    }
    out
}

fn walk(dir: &Path, node: &str, depth: usize, out: &mut Vec<(NodePath, std::path::PathBuf)>) {
    let Ok(entries) = fs_err::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if out.len() >= MAX_TREE_ENTRIES {
            return;
        }
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        let Ok(path) = NodePath::new(&format!("{node}/{name}")) else { continue };
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < 3 => walk(&e.path(), path.as_str(), depth + 1, out),
            Ok(t) if t.is_dir() => {}
            Ok(_) => out.push((path, e.path())),
            Err(_) => {}
        }
    }
}
