//! Reports as text for people: one function per report, writing to any `io::Write`, so a closed
//! pipe (`moa-bundle resolve … | head`) is an error value the caller treats as success, never a
//! panic. JSON output is the same reports through serde.

use std::io::{self, Write};
use std::path::PathBuf;

use moa_engine::ledger;
use moa_engine::InstallAction;
use moa_engine::{BuildReport, DistroInfo, InstallReport, LockReport, PlanItem, ResolveReport, VerifyReport};
use moa_engine::{Pulled, Pushed};
use moa_model::manifest::Manifest;
use moa_time::roles::{FileStatus, RoleReport};

pub type Out<'a> = &'a mut dyn Write;

pub fn json<T: serde::Serialize>(out: Out<'_>, v: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::other)?;
    writeln!(out)
}

/// A report as JSON (`--json`) or as its text.
pub fn emit<T: serde::Serialize>(
    out: Out<'_>,
    json: bool,
    report: &T,
    text: impl FnOnce(Out<'_>, &T) -> io::Result<()>,
) -> io::Result<()> {
    match json {
        true => self::json(out, report),
        false => text(out, report),
    }
}

/// What `key generate` wrote.
#[derive(serde::Serialize)]
pub struct KeyPair {
    pub secret_key: PathBuf,
    pub public_key: PathBuf,
    pub key_id: String,
}

pub fn key_pair(out: Out<'_>, k: &KeyPair) -> io::Result<()> {
    writeln!(
        out,
        "key {}\n  secret: {} (keep it private; `build --sign` it)\n  public: {} (give it to nodes: --key, or /etc/moa-bundle/trusted-keys/)",
        k.key_id,
        k.secret_key.display(),
        k.public_key.display()
    )
}

/// `lock`: its notes on stderr, what it wrote on stdout.
pub fn lock(out: Out<'_>, r: &LockReport) -> io::Result<()> {
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    writeln!(out, "wrote {} ({} packages)", r.lock.display(), r.packages.len())
}

pub fn push(out: Out<'_>, r: &Pushed) -> io::Result<()> {
    writeln!(
        out,
        "pushed {} ({} layers; {} bytes uploaded, {} already in the registry)",
        r.reference, r.layers, r.uploaded_bytes, r.reused_bytes
    )
}

pub fn pull(out: Out<'_>, r: &Pulled) -> io::Result<()> {
    let signed = if r.signature.is_some() { ", with its signature" } else { "" };
    writeln!(out, "pulled {} (sha256 {}){signed}", r.bundle.display(), r.sha256)
}

pub fn human(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

pub fn distros(out: Out<'_>, d: &[DistroInfo]) -> io::Result<()> {
    let w = d.iter().map(|x| x.distro.len()).max().unwrap_or(0);
    for x in d {
        writeln!(out, "{:<w$} {:<4} {:<7} {:<14} {}", x.distro, x.family, x.arch, x.os_release, x.bundle)?;
        writeln!(out, "{:<w$} {} (packages: {})", "", x.description, x.packages.join(", "))?;
    }
    Ok(())
}

pub fn plan(out: Out<'_>, packages: &[PlanItem]) -> io::Result<()> {
    for p in packages {
        let why =
            if p.requested { "requested".to_string() } else { p.why.last().map(|w| w.to_string()).unwrap_or_default() };
        let up = p.upgrades.as_ref().map(|v| format!(" (upgrades {v})")).unwrap_or_default();
        writeln!(
            out,
            "  {:<28} {:<30} {:<7} {:>10}  {:<10} {why}{up}",
            p.name,
            p.version,
            p.arch,
            human(p.size),
            p.repository
        )?;
    }
    Ok(())
}

pub fn resolve(out: Out<'_>, m: &Manifest, r: &ResolveReport, why: Option<&str>) -> io::Result<()> {
    if let (Some(name), Some(chains)) = (why, &r.why) {
        if chains.is_empty() {
            writeln!(out, "{name} is not packed (try --why-not {name})")?;
        }
        for c in chains {
            writeln!(out, "{}", c.join(" → "))?;
        }
        return Ok(());
    }
    if let Some(w) = &r.why_not {
        for reason in &w.reasons {
            writeln!(out, "{reason}")?;
        }
        return Ok(());
    }
    let size = human(r.total_size);
    let n = r.packages.len();
    writeln!(out, "{} for {} ({}): {n} package(s), {size}", m.bundle_file_name(), m.distro, r.manifest)?;
    plan(out, &r.packages)?;
    writeln!(out, "base: {} package(s) a minimal node already has (not packed)", r.base_packages)?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

pub fn build(out: Out<'_>, r: &BuildReport) -> io::Result<()> {
    plan(out, &r.packages)?;
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    writeln!(out, "wrote {} ({}, sha256 {})", r.bundle.display(), human(r.size), r.sha256)?;
    if let Some(sig) = &r.signature {
        writeln!(out, "signed {}", sig.display())?;
    }
    if let Some(s) = &r.since {
        writeln!(
            out,
            "differential: {} package(s) new or changed since {}; {} expected on the node already",
            s.packed, s.base, s.expected
        )?;
    }
    if let Some(b) = &r.installer {
        writeln!(out, "carries {} ({}) for the node: sh install.sh runs it", b.version, human(b.size))?;
    }
    if let Some(note) = &r.installer_note {
        eprintln!("note: {note}");
    }
    if let Some(split) = &r.split {
        let (first, last) = (split.parts.first(), split.parts.last());
        let name = |p: Option<&std::path::PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
        writeln!(
            out,
            "split into {} part(s), {} … {}, index {}",
            split.parts.len(),
            name(first),
            name(last),
            split.index.display()
        )?;
    }
    Ok(())
}

/// The warning every node-side report gives for a bundle whose packages' upstream signatures
/// were never checked.
fn unchecked_upstream(s: moa_engine::Signatures) {
    if s == moa_engine::Signatures::Skip {
        eprintln!(
            "warning: this bundle was built with --insecure-skip-signatures: no upstream signature of its packages was checked against a pinned key; only the bundle's own digests (and its signature, where this node trusts keys) vouch for them"
        );
    }
}

pub fn inspect(out: Out<'_>, r: &VerifyReport) -> io::Result<()> {
    unchecked_upstream(r.index.upstream_signatures);
    let i = &r.index;
    writeln!(
        out,
        "{} — {} for {} {} {} (schema {}, moa-bundle {})",
        r.bundle.display(),
        i.name,
        i.os_release.id,
        i.os_release.version_id,
        i.arch,
        i.schema_version,
        i.tool_version
    )?;
    let requested: Vec<&str> = i.requested.iter().map(|r| r.as_str()).collect();
    writeln!(out, "requested: {}", requested.join(", "))?;
    match i.targets.as_slice() {
        [] => writeln!(out, "built against: the manifest's base (what every node of the release has)")?,
        t => {
            let each: Vec<String> =
                t.iter().map(|t| format!("{} (node {}, sha256 {})", t.profile, t.source, t.sha256)).collect();
            writeln!(out, "built against node profiles: {}", each.join(", "))?
        }
    }
    for p in &i.packages {
        let why = p.why.last().map(ToString::to_string).unwrap_or_default();
        let (name, version, arch, size) = (p.name.as_str(), p.version.to_string(), p.arch.as_str(), human(p.size));
        writeln!(out, "  [{}] {name:<28} {version:<30} {arch:<7} {size:>10}  {why}", p.stage)?;
    }
    if let Some(since) = &i.since {
        let expects: Vec<String> = since.expects.iter().map(|e| format!("{} {}", e.name, e.version)).collect();
        writeln!(out, "differential since {}: the node must have {}", since.base, expects.join(", "))?;
    }
    writeln!(out, "sha256 {}", r.sha256)
}

pub fn verify(out: Out<'_>, r: &VerifyReport) -> io::Result<()> {
    unchecked_upstream(r.index.upstream_signatures);
    approvals(out, &r.approvals, &r.repaired)?;
    writeln!(
        out,
        "ok: {} — {} files checked, sha256 {}{}{}{}{}",
        r.bundle.display(),
        r.files_checked,
        r.sha256,
        if r.sidecar_checked { ", matches .sha256" } else { "" },
        if r.repository_checked { ", its repository lists exactly its packages" } else { "" },
        if r.node_checked { ", fits this node" } else { "" },
        match &r.signature {
            Some(s) => format!(", signed by trusted key {} ({})", s.key, s.key_file.display()),
            None => String::new(),
        }
    )
}

/// The parts rebuilt from parity, and the roles a bundle has under the node's approval policy.
fn approvals(out: Out<'_>, met: &[moa_engine::ApprovalMet], repaired: &[String]) -> io::Result<()> {
    for r in repaired {
        writeln!(out, "{:<20} {r}", "repaired")?;
    }
    for m in met {
        writeln!(out, "{:<20} {:<28} by key {} ({})", "approved", m.role.as_str(), m.key, m.by)?;
    }
    Ok(())
}

pub fn install(out: Out<'_>, r: &InstallReport<RoleReport>) -> io::Result<()> {
    unchecked_upstream(r.upstream_signatures);
    approvals(out, &r.approvals, &r.repaired)?;
    for p in &r.preflight_problems {
        eprintln!("warning (--force): {p}");
    }
    for rm in &r.removes {
        let verb = if r.dry_run { "would remove" } else { "removed" };
        writeln!(out, "{:<20} {:<28} {} (replaced by {})", verb, rm.name, rm.version, rm.by)?;
    }
    for act in &r.actions {
        let verb = match (act.action, r.dry_run) {
            (InstallAction::Skip, _) => "already installed",
            (InstallAction::Install, true) => "would install",
            (InstallAction::Upgrade, true) => "would upgrade",
            (InstallAction::Upgrade, false) => "upgraded",
            (InstallAction::Install, false) => "installed",
        };
        writeln!(out, "{:<20} {:<28} {} {}", verb, act.name, act.version, act.arch)?;
    }
    for f in &r.streams_enabled {
        writeln!(out, "{:<20} {}", "enabled stream", f.display())?;
    }
    let n = r.actions.iter().filter(|a| a.action != InstallAction::Skip).count();
    if r.dry_run {
        writeln!(out, "dry run: {n} package(s) would be installed into {}; nothing changed", r.root.display())?;
    } else {
        writeln!(out, "done: {n} package(s) installed into {}", r.root.display())?;
    }
    match &r.role {
        Some(role) => self::role(out, role),
        None => Ok(()),
    }
}

pub fn role(out: Out<'_>, r: &RoleReport) -> io::Result<()> {
    let mode = r.client_mode.map(|m| format!(", {m:?} mode").to_lowercase()).unwrap_or_default();
    let role = format!("{:?}", r.role).to_lowercase();
    writeln!(out, "role {role}{mode} for {} in {} ({}):", r.distro, r.root.display(), r.init)?;
    for f in &r.files {
        let verb = match (f.status, r.dry_run) {
            (FileStatus::Unchanged, _) => "unchanged",
            (FileStatus::Created, true) => "would create",
            (FileStatus::Changed, true) => "would change",
            (FileStatus::Created, false) => "created",
            (FileStatus::Changed, false) => "changed",
            (FileStatus::Removed, true) => "would remove",
            (FileStatus::Removed, false) => "removed",
        };
        let bak = f.backup.as_ref().map(|b| format!(" (original kept as {})", b.display())).unwrap_or_default();
        writeln!(out, "  {verb:<13} {}{bak}", f.path.display())?;
        if r.dry_run && !f.diff.is_empty() {
            for l in f.diff.lines() {
                writeln!(out, "      {l}")?;
            }
        }
    }
    for s in &r.steps {
        writeln!(out, "  {:<13} {}   # {}", s.status, s.step.command_line(), s.step.purpose)?;
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let n = r.files.iter().filter(|f| f.status != FileStatus::Unchanged).count();
    let zone = match &r.timezone {
        Some(z) => format!("time zone {z}"),
        None => "time zone left as it is (--timezone sets one)".to_string(),
    };
    match (r.dry_run, n) {
        (_, 0) => writeln!(out, "{zone}; nothing to change (already configured)"),
        (true, n) => writeln!(out, "dry run: {zone}; {n} file(s) would change; nothing changed"),
        (false, n) => writeln!(out, "{zone}; {n} file(s) changed"),
    }
}

pub fn check(out: Out<'_>, h: &moa_time::check::Health) -> io::Result<()> {
    writeln!(out, "{}", h.summary())?;
    for (s, m) in h.findings.iter().skip(1) {
        writeln!(out, "  {}: {m}", s.label())?;
    }
    if !h.peers.is_empty() {
        let head = ("", "remote", "refid", "st", "reach", "offset ms", "jitter");
        writeln!(
            out,
            "  {:<1} {:<24} {:<16} {:>2} {:>5} {:>12} {:>10}",
            head.0, head.1, head.2, head.3, head.4, head.5, head.6
        )?;
        for p in &h.peers {
            writeln!(
                out,
                "  {:<1} {:<24} {:<16} {:>2} {:>5o} {:>12.3} {:>10.3}",
                p.tally, p.remote, p.refid, p.stratum, p.reach, p.offset_ms, p.jitter_ms
            )?;
        }
    }
    Ok(())
}

/// `history`: each entry (unless only the check is asked for), then the check's verdict.
pub fn history(out: Out<'_>, h: &ledger::History, entries: bool) -> io::Result<()> {
    for e in h.entries.iter().filter(|_| entries) {
        ledger_entry(out, e)?;
    }
    let n = h.entries.len();
    let verdict = match (h.broken(), n) {
        (true, _) => "BROKEN",
        (false, 0) => "empty",
        (false, _) => "chain intact",
    };
    writeln!(out, "ledger {}: {n} entr{}, {verdict}", h.path.display(), if n == 1 { "y" } else { "ies" })?;
    for f in &h.findings {
        let what = if f.kind.is_note() { "note" } else { "broken" };
        writeln!(out, "  {what}: {f}")?;
    }
    Ok(())
}

fn ledger_entry(out: Out<'_>, e: &ledger::Entry) -> io::Result<()> {
    let verb = match e.command {
        ledger::Verb::Install => "install",
        ledger::Verb::Configure => "configure",
        ledger::Verb::Undo => "undo",
    };
    let result = match (e.result, &e.error) {
        (ledger::Outcome::Ok, _) => "ok".to_string(),
        // The message as recorded, escaped: a ledger line cannot forge output lines or
        // terminal sequences.
        (ledger::Outcome::Failed, err) => format!("FAILED: {}", err.as_deref().unwrap_or("").escape_debug()),
    };
    let role = e.role.as_ref().map(|r| format!(" --role {r}")).unwrap_or_default();
    let undoes = e.undoes.map(|u| format!(" entry {u}")).unwrap_or_default();
    let bundle = e.bundle.as_ref().map(|b| format!(" {}", b.file)).unwrap_or_default();
    writeln!(out, "{:>4}  {}  {verb}{undoes}{bundle}{role}  {result}", e.seq, e.time)?;
    if let Some(b) = &e.bundle {
        let signer = b.signer.as_ref().map(|k| format!(", signed by {k}")).unwrap_or_default();
        let upstream = match b.upstream_signatures {
            moa_engine::Signatures::Verify => "upstream signatures checked",
            moa_engine::Signatures::Skip => "upstream signatures NOT checked",
        };
        writeln!(out, "      {} {}-{}, sha256 {}{signer}, {upstream}", b.name, b.distro, b.arch, b.sha256)?;
    }
    for p in &e.packages {
        let (from, to) = (p.before.as_ref().map(|v| v.as_str()), p.after.as_ref().map(|v| v.as_str()));
        let versions = match (from, to) {
            (Some(a), Some(b)) => format!("{a} -> {b}"),
            (Some(v), None) | (None, Some(v)) => v.to_string(),
            (None, None) => String::new(),
        };
        writeln!(out, "      {:<11} {}:{} {versions}", format!("{:?}", p.change).to_lowercase(), p.name, p.arch)?;
    }
    for f in &e.files {
        let kept = f.kept.as_ref().map(|k| format!(" (before kept in {k})")).unwrap_or_default();
        let how = match (&f.before, &f.after) {
            (ledger::FileState::Absent, _) => "created",
            (_, ledger::FileState::Absent) => "removed",
            _ => "changed",
        };
        writeln!(out, "      {how:<11} {}{kept}", f.path)?;
    }
    Ok(())
}

/// `undo`: what it put back (or would), or why there was nothing to do.
pub fn undo(out: Out<'_>, r: &moa_engine::UndoReport) -> io::Result<()> {
    if let Some(why) = &r.nothing {
        writeln!(out, "nothing to undo: {why}")?;
    }
    let Some(p) = r.plan.as_ref().filter(|p| !p.is_empty()) else { return Ok(()) };
    let would = if r.dry_run { "would " } else { "" };
    for f in &p.files {
        let to = match &f.to {
            ledger::FileState::Absent => "removed (it was not there)".to_string(),
            ledger::FileState::Link { target } => format!("a link to {target} again"),
            ledger::FileState::File { sha256, .. } => format!("its kept content again (sha256 {sha256})"),
        };
        writeln!(out, "{would}put back  {}: {to}", f.path)?;
    }
    for pk in &p.purge {
        writeln!(out, "{would}purge     {}:{} {}", pk.name, pk.arch, pk.version)?;
    }
    for b in &p.put_back {
        writeln!(out, "{would}put back  {}:{} {}", b.package.name, b.package.arch, b.package.version)?;
    }
    match r.recorded {
        Some(seq) => writeln!(out, "undid entry {} (ledger entry {seq})", p.entry),
        None => writeln!(
            out,
            "entry {}: {} change(s) planned, nothing changed (--dry-run)",
            p.entry,
            p.files.len() + p.purge.len() + p.put_back.len()
        ),
    }
}

/// `approve`: what was signed, and where the approval is.
pub fn approve(out: Out<'_>, r: &moa_engine::ApproveReport) -> io::Result<()> {
    let review = r.review_sha256.map(|d| format!(", review sha256 {d}")).unwrap_or_default();
    writeln!(out, "approved {} (sha256 {}) as {} with key {}{review}", r.bundle.display(), r.sha256, r.role, r.key)?;
    writeln!(out, "  written to {}: copy it with the bundle", r.sidecar.display())
}
