//! Reading the ledger back, and checking it: every line parses, the numbers run 1, 2, 3, …,
//! each entry's `prev` is the digest of the line before it, and `history.head` names the last.
//! What breaks that is a [`Finding`] naming the entry; a torn line the next entry recorded is
//! only noted.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use moa_model::types::Sha256;

use super::{Entry, Ledger, LedgerError, HEAD, MAX_LEDGER};

/// The ledger as read: its entries in file order and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub path: PathBuf,
    /// No entry was edited, deleted or moved, and every line reads (notes aside).
    pub intact: bool,
    pub entries: Vec<Entry>,
    pub findings: Vec<Finding>,
}

impl History {
    /// Whether an entry was edited, deleted or moved, or a line cannot be read.
    pub fn broken(&self) -> bool {
        !self.intact
    }
}

/// Something wrong with (or worth noting in) the ledger, at its line (1-based).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub line: usize,
    #[serde(flatten)]
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FindingKind {
    /// A line that is not an entry.
    Unreadable { error: String },
    /// The last line has no newline: a command was killed while writing it.
    Torn { bytes: usize },
    /// A torn line the entry after it recorded (by digest): an interrupted command, noted.
    TornNoted { by: u64 },
    /// Entries `from..=to` are not there.
    Missing { from: u64, to: u64 },
    /// Entry `seq` comes after entry `after`.
    OutOfOrder { seq: u64, after: u64 },
    /// Entry `seq`'s line is not the one the next entry (or `history.head`) chained to.
    Changed { seq: u64 },
    /// `history.head` is missing, unreadable, or names an entry the ledger does not have.
    Head { message: String },
    /// The last entry was written but `history.head` not yet moved to it (a crash between).
    HeadBehind { seq: u64 },
}

impl FindingKind {
    /// A note, not a break in the ledger.
    pub fn is_note(&self) -> bool {
        matches!(self, FindingKind::TornNoted { .. } | FindingKind::HeadBehind { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = self.line;
        match &self.kind {
            FindingKind::Unreadable { error } => write!(f, "line {line} is not a ledger entry ({error}): it was edited"),
            FindingKind::Torn { bytes } => write!(f, "line {line} is torn ({bytes} bytes, no newline): the command writing it was killed; the next install, configure or undo keeps it and records its digest"),
            FindingKind::TornNoted { by } => write!(f, "line {line} is torn (a command was killed while writing it); entry {by} recorded it"),
            FindingKind::Missing { from, to } if from == to => write!(f, "entry {from} is missing (before line {line}): it was deleted"),
            FindingKind::Missing { from, to } => write!(f, "entries {from} to {to} are missing (before line {line}): they were deleted"),
            FindingKind::OutOfOrder { seq, after } => write!(f, "entry {seq} (line {line}) comes after entry {after}: entries were moved"),
            FindingKind::Changed { seq } => write!(f, "entry {seq} (line {line}) was changed after it was written: its digest is not the one recorded after it"),
            FindingKind::Head { message } => write!(f, "{HEAD}: {message}"),
            FindingKind::HeadBehind { seq } => write!(f, "{HEAD} names the entry before {seq} (line {line}): the command that wrote {seq} stopped just after it; the next one moves it"),
        }
    }
}

/// One line of the ledger: its digest and, when it parses, its entry.
pub(crate) struct RawLine<'a> {
    pub bytes: &'a [u8],
    pub sha256: Sha256,
    pub entry: Option<Entry>,
    pub error: Option<String>,
}

/// The ledger split into complete lines and a torn tail (bytes after the last newline).
pub(crate) struct Split<'a> {
    pub lines: Vec<RawLine<'a>>,
    pub torn: Option<&'a [u8]>,
}

/// The ledger's bytes (empty when there is none), bounded, never through a link.
pub(crate) fn read_raw(path: &Path) -> Result<Vec<u8>, LedgerError> {
    let rerr = |source| LedgerError::Read { path: path.to_path_buf(), source };
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(rerr(e)),
        Ok(m) if !m.file_type().is_file() => return Err(LedgerError::NotRegular { path: path.to_path_buf() }),
        Ok(_) => {}
    }
    let (f, len) = moa_model::files::open_regular(path).map_err(rerr)?;
    if len > MAX_LEDGER {
        return Err(LedgerError::TooLarge { path: path.to_path_buf() });
    }
    let mut raw = Vec::with_capacity(len as usize);
    f.take(MAX_LEDGER + 1).read_to_end(&mut raw).map_err(rerr)?;
    if raw.len() as u64 > MAX_LEDGER {
        return Err(LedgerError::TooLarge { path: path.to_path_buf() });
    }
    Ok(raw)
}

pub(crate) fn split(raw: &[u8]) -> Split<'_> {
    let (body, torn) = match raw.iter().rposition(|&b| b == b'\n') {
        Some(i) if i + 1 < raw.len() => (&raw[..=i], Some(&raw[i + 1..])),
        Some(_) => (raw, None),
        None if raw.is_empty() => (raw, None),
        None => (&raw[..0], Some(raw)),
    };
    let lines = body
        .split(|&b| b == b'\n')
        .take(body.iter().filter(|&&b| b == b'\n').count())
        .map(|bytes| {
            let (entry, error) = match serde_json::from_slice::<Entry>(bytes) {
                Ok(e) => (Some(e), None),
                Err(e) => (None, Some(e.to_string())),
            };
            RawLine { bytes, sha256: Sha256::digest(bytes), entry, error }
        })
        .collect();
    Split { lines, torn }
}

/// Reads the ledger and checks it whole.
pub(crate) fn read(ledger: &Ledger) -> Result<History, LedgerError> {
    let path = ledger.path();
    let raw = read_raw(&path)?;
    let split = split(&raw);
    let mut findings = chain(&split.lines);
    if let Some(t) = split.torn {
        findings.push(Finding { line: split.lines.len() + 1, kind: FindingKind::Torn { bytes: t.len() } });
    }
    findings.extend(head(ledger, &split.lines));
    findings.sort_by_key(|f| f.line);
    let entries = split.lines.into_iter().filter_map(|l| l.entry).collect();
    let intact = findings.iter().all(|f| f.kind.is_note());
    Ok(History { path, intact, entries, findings })
}

/// The line-by-line checks: numbers, order, each entry's `prev`, torn lines in the middle.
fn chain(lines: &[RawLine<'_>]) -> Vec<Finding> {
    let present: std::collections::BTreeSet<u64> =
        lines.iter().filter_map(|l| l.entry.as_ref().map(|e| e.seq)).collect();
    let mut findings = Vec::new();
    // The last entry seen: its number, line digest and line.
    let mut last: Option<(u64, Sha256, usize)> = None;
    for (i, l) in lines.iter().enumerate() {
        let line = i + 1;
        let Some(e) = &l.entry else {
            findings.push(Finding { line, kind: unreadable(l, lines.get(i + 1)) });
            continue;
        };
        let expected = last.map_or(1, |(s, _, _)| s.saturating_add(1));
        if e.seq > expected {
            // Numbers skipped here and found nowhere else were deleted; the others were moved,
            // and are named where they stand. (Walked by the numbers present: a forged huge
            // number costs nothing.)
            let mut from = expected;
            for &p in present.range(expected..e.seq) {
                if p > from {
                    findings.push(Finding { line, kind: FindingKind::Missing { from, to: p - 1 } });
                }
                from = p.saturating_add(1);
            }
            if from < e.seq {
                findings.push(Finding { line, kind: FindingKind::Missing { from, to: e.seq - 1 } });
            }
        } else if e.seq < expected {
            let after = last.map_or(0, |(s, _, _)| s);
            findings.push(Finding { line, kind: FindingKind::OutOfOrder { seq: e.seq, after } });
        } else if let Some((seq, _, at)) = last.filter(|(_, sha, _)| e.prev != Some(*sha)) {
            // The entry before this one is not the line it chained to.
            findings.push(Finding { line: at, kind: FindingKind::Changed { seq } });
        }
        last = Some((e.seq, l.sha256, line));
    }
    findings
}

/// A line that is not an entry: a torn line the next entry recorded, or an edit.
fn unreadable(l: &RawLine<'_>, next: Option<&RawLine<'_>>) -> FindingKind {
    let noted = next
        .and_then(|n| n.entry.as_ref())
        .filter(|n| n.after_torn.as_ref().is_some_and(|t| t.sha256 == l.sha256 && t.bytes == l.bytes.len() as u64));
    match noted {
        Some(n) => FindingKind::TornNoted { by: n.seq },
        None => FindingKind::Unreadable { error: l.error.clone().unwrap_or_default() },
    }
}

/// `history.head` against the entries: the last entries deleted, or the last one edited.
fn head(ledger: &Ledger, lines: &[RawLine<'_>]) -> Option<Finding> {
    let entries: Vec<(usize, &Entry, Sha256)> =
        lines.iter().enumerate().filter_map(|(i, l)| l.entry.as_ref().map(|e| (i + 1, e, l.sha256))).collect();
    let path = ledger.dir.join(HEAD);
    let end = lines.len() + 1;
    let text = match moa_model::files::read_at_most(&path, 256) {
        Ok(Some(t)) => String::from_utf8_lossy(&t).into_owned(),
        Ok(None) => return Some(head_finding(end, "is larger than a head is: it was edited")),
        Err(_) if entries.is_empty() => return None,
        Err(e) => return Some(head_finding(end, &format!("cannot be read ({e}): it was deleted"))),
    };
    let parsed =
        text.trim_end().split_once(' ').and_then(|(s, d)| Some((s.parse::<u64>().ok()?, Sha256::from_hex(d).ok()?)));
    let Some((seq, sha)) = parsed else {
        return Some(head_finding(end, "is not `SEQ SHA256`: it was edited"));
    };
    let max = entries.iter().map(|(_, e, _)| e.seq).max().unwrap_or(0);
    let Some(&(line, _, digest)) = entries.iter().find(|(_, e, _)| e.seq == seq) else {
        if seq > max {
            return Some(Finding { line: end, kind: FindingKind::Missing { from: max.saturating_add(1), to: seq } });
        }
        // Already named as missing by the chain.
        return None;
    };
    if digest != sha {
        return Some(Finding { line, kind: FindingKind::Changed { seq } });
    }
    let &(last_line, last, _) = entries.last().expect("the head's entry is one");
    if last.seq <= seq {
        return None;
    }
    if last.seq == seq.saturating_add(1) && last.prev == Some(sha) {
        return Some(Finding { line: last_line, kind: FindingKind::HeadBehind { seq: last.seq } });
    }
    Some(head_finding(
        last_line,
        &format!("names entry {seq}, but the ledger goes on to entry {}: entries were added by hand", last.seq),
    ))
}

fn head_finding(line: usize, message: &str) -> Finding {
    Finding { line, kind: FindingKind::Head { message: message.to_string() } }
}
