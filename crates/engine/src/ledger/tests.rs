//! The ledger on a temporary root: the chain, every kind of tampering named at its entry, torn
//! lines kept and noted, the head, kept contents, and package changes read from two databases.

use super::*;
use check::FindingKind as K;
use moa_model::types::node::NodePath;

fn root_with(n: usize) -> (tempfile::TempDir, Ledger) {
    let d = tempfile::tempdir().unwrap();
    let l = Ledger::at(d.path()).unwrap();
    for i in 0..n {
        let mut e = Entry::new(if i % 2 == 0 { Verb::Install } else { Verb::Configure });
        e.role = Some(Label::new(&format!("r{i}")).unwrap());
        l.append(e).unwrap();
    }
    (d, l)
}

fn lines(l: &Ledger) -> Vec<String> {
    fs_err::read_to_string(l.path()).unwrap().lines().map(String::from).collect()
}

fn write_lines(l: &Ledger, lines: &[String]) {
    fs_err::write(l.path(), lines.iter().map(|s| format!("{s}\n")).collect::<String>()).unwrap();
}

fn kinds(l: &Ledger) -> Vec<(usize, K)> {
    l.read().unwrap().findings.into_iter().map(|f| (f.line, f.kind)).collect()
}

#[test]
fn entries_are_numbered_and_chained_and_the_head_names_the_last() {
    let (_d, l) = root_with(3);
    let h = l.read().unwrap();
    assert!(h.intact, "{:?}", h.findings);
    assert_eq!(h.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let raw = lines(&l);
    assert_eq!(h.entries[0].prev, None);
    assert_eq!(h.entries[1].prev, Some(Sha256::digest(raw[0].as_bytes())));
    assert_eq!(h.entries[2].prev, Some(Sha256::digest(raw[1].as_bytes())));
    let head = fs_err::read_to_string(l.dir.join(HEAD)).unwrap();
    assert_eq!(head, format!("3 {}\n", Sha256::digest(raw[2].as_bytes())));
    assert!(h.entries.iter().all(|e| e.time.as_str().ends_with('Z') && e.tool.as_str() == crate::VERSION));
}

#[test]
fn an_edited_entry_is_named() {
    let (_d, l) = root_with(3);
    let mut raw = lines(&l);
    raw[1] = raw[1].replace("\"r1\"", "\"r9\"");
    write_lines(&l, &raw);
    assert_eq!(kinds(&l), [(2, K::Changed { seq: 2 })]);
}

#[test]
fn an_edited_last_entry_is_named_by_the_head() {
    let (_d, l) = root_with(3);
    let mut raw = lines(&l);
    raw[2] = raw[2].replace("\"r2\"", "\"r9\"");
    write_lines(&l, &raw);
    assert_eq!(kinds(&l), [(3, K::Changed { seq: 3 })]);
}

#[test]
fn a_deleted_entry_is_named_wherever_it_was() {
    for (gone, expected) in [
        (0, vec![(1, K::Missing { from: 1, to: 1 })]),
        (1, vec![(2, K::Missing { from: 2, to: 2 })]),
        (3, vec![(4, K::Missing { from: 4, to: 4 })]),
    ] {
        let (_d, l) = root_with(4);
        let mut raw = lines(&l);
        raw.remove(gone);
        write_lines(&l, &raw);
        assert_eq!(kinds(&l), expected, "entry {} deleted", gone + 1);
        assert!(l.read().unwrap().broken());
    }
}

#[test]
fn moved_entries_are_named_as_moved_not_missing() {
    let (_d, l) = root_with(3);
    let mut raw = lines(&l);
    raw.swap(1, 2);
    write_lines(&l, &raw);
    assert_eq!(kinds(&l), [(3, K::OutOfOrder { seq: 2, after: 3 })]);
}

#[test]
fn a_line_that_is_no_entry_is_named() {
    let (_d, l) = root_with(2);
    let mut raw = lines(&l);
    raw.insert(1, "{\"seq\": \"x\"}".into());
    write_lines(&l, &raw);
    let k = kinds(&l);
    assert!(matches!(k.as_slice(), [(2, K::Unreadable { .. })]), "{k:?}");
}

#[test]
fn a_torn_last_line_is_reported_then_kept_and_noted_by_the_next_entry() {
    let (_d, l) = root_with(2);
    let torn = br#"{"seq":3,"time":"2026-"#;
    let mut f = fs_err::OpenOptions::new().append(true).open(l.path()).unwrap();
    f.write_all(torn).unwrap();
    drop(f);
    let h = l.read().unwrap();
    assert_eq!(
        h.findings.iter().map(|f| (f.line, f.kind.clone())).collect::<Vec<_>>(),
        [(3, K::Torn { bytes: torn.len() })]
    );
    assert!(h.broken(), "a torn line not yet recorded is reported as a break");

    let e = l.append(Entry::new(Verb::Undo)).unwrap();
    assert_eq!(e.seq, 3);
    assert_eq!(e.after_torn, Some(Torn { bytes: torn.len() as u64, sha256: Sha256::digest(torn) }));
    let raw = fs_err::read(l.path()).unwrap();
    assert!(raw.windows(torn.len()).any(|w| w == torn), "the torn bytes are still there");
    let h = l.read().unwrap();
    assert!(h.intact, "{:?}", h.findings);
    assert_eq!(h.findings.iter().map(|f| (f.line, f.kind.clone())).collect::<Vec<_>>(), [(3, K::TornNoted { by: 3 })]);
    assert_eq!(h.entries.len(), 3);
}

#[test]
fn the_head_catches_a_deleted_ledger_and_a_lagging_head_is_a_note() {
    let (_d, l) = root_with(2);
    fs_err::write(l.path(), "").unwrap();
    assert_eq!(kinds(&l), [(1, K::Missing { from: 1, to: 2 })]);

    let (_d, l) = root_with(2);
    let head = l.dir.join(HEAD);
    let raw = lines(&l);
    fs_err::write(&head, format!("1 {}\n", Sha256::digest(raw[0].as_bytes()))).unwrap();
    let h = l.read().unwrap();
    assert!(h.intact);
    assert_eq!(h.findings.iter().map(|f| f.kind.clone()).collect::<Vec<_>>(), [K::HeadBehind { seq: 2 }]);

    fs_err::remove_file(&head).unwrap();
    let k = kinds(&l);
    assert!(matches!(k.as_slice(), [(3, K::Head { .. })]), "{k:?}");
}

#[test]
fn a_ledger_that_is_a_link_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let l = Ledger::at(d.path()).unwrap();
    fs_err::create_dir_all(&l.dir).unwrap();
    let elsewhere = d.path().join("elsewhere");
    fs_err::write(&elsewhere, "").unwrap();
    fs_err::os::unix::fs::symlink(&elsewhere, l.path()).unwrap();
    assert!(matches!(l.read(), Err(LedgerError::NotRegular { .. })));
    assert!(l.append(Entry::new(Verb::Install)).is_err());
    assert_eq!(fs_err::read(&elsewhere).unwrap(), b"");
}

#[test]
fn a_files_previous_content_is_kept_by_digest_and_only_changes_are_listed() {
    let d = tempfile::tempdir().unwrap();
    let l = Ledger::at(d.path()).unwrap();
    let etc = d.path().join("etc");
    fs_err::create_dir_all(&etc).unwrap();
    fs_err::write(etc.join("ntp.conf"), "old\n").unwrap();
    fs_err::write(etc.join("same"), "same\n").unwrap();
    let files = ["/etc/ntp.conf", "/etc/same", "/etc/new"].map(|p| (NodePath::new(p).unwrap(), d.path().join(&p[1..])));
    let before = FilesBefore::take(&l, files.to_vec()).unwrap();
    fs_err::write(etc.join("ntp.conf"), "new\n").unwrap();
    fs_err::os::unix::fs::symlink("../usr/share/zoneinfo/UTC", etc.join("new")).unwrap();
    let changes = before.changes().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let old = Sha256::digest(b"old\n");
    assert_eq!(changes[0].before, FileState::File { sha256: old, size: 4, mode: 0o644 & !umask() });
    assert_eq!(changes[0].kept.as_ref().unwrap().as_str(), format!("/var/lib/moa-bundle/kept/{old}"));
    assert_eq!(fs_err::read(l.dir.join("kept").join(old.to_hex())).unwrap(), b"old\n");
    assert_eq!(changes[1].before, FileState::Absent);
    assert_eq!(changes[1].after, FileState::Link { target: Line::new("../usr/share/zoneinfo/UTC").unwrap() });
    assert_eq!(changes[1].kept, None);
}

fn umask() -> u32 {
    let probe = tempfile::tempdir().unwrap();
    let f = probe.path().join("f");
    fs_err::write(&f, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    0o666 & !fs_err::metadata(&f).unwrap().permissions().mode() & 0o777
}

#[test]
fn package_changes_pair_versions_as_upgrades_and_downgrades() {
    let pkg = |name: &str, version: &str| crate::repo::Installed {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        ..Default::default()
    };
    let before = [pkg("libssl3", "3.0.11-1~deb12u2"), pkg("systemd-timesyncd", "252.17-1~deb12u1"), pkg("a", "2.0")];
    let after = [pkg("libssl3", "3.0.15-1~deb12u1"), pkg("ntpsec", "1.2.2+dfsg1-1+deb12u1"), pkg("a", "1.0")];
    let syntax = crate::family::backend(moa_model::manifest::Family::Deb).syntax;
    let c = package_changes(&before, &after, syntax);
    let got: Vec<(&str, Change, Option<&str>, Option<&str>)> = c
        .iter()
        .map(|p| (p.name.as_str(), p.change, p.before.as_ref().map(Line::as_str), p.after.as_ref().map(Line::as_str)))
        .collect();
    assert_eq!(
        got,
        [
            ("a", Change::Downgraded, Some("2.0"), Some("1.0")),
            ("libssl3", Change::Upgraded, Some("3.0.11-1~deb12u2"), Some("3.0.15-1~deb12u1")),
            ("ntpsec", Change::Installed, None, Some("1.2.2+dfsg1-1+deb12u1")),
            ("systemd-timesyncd", Change::Removed, Some("252.17-1~deb12u1"), None),
        ]
    );
}

#[test]
fn a_forged_huge_number_is_named_at_once_and_the_next_entry_still_appends() {
    let (_d, l) = root_with(2);
    let mut raw = lines(&l);
    raw[1] = raw[1].replace("\"seq\":2,", &format!("\"seq\":{},", u64::MAX));
    write_lines(&l, &raw);
    let k = kinds(&l);
    assert!(k.contains(&(2, K::Missing { from: 2, to: u64::MAX - 1 })), "{k:?}");
    let e = l.append(Entry::new(Verb::Install)).unwrap();
    assert_eq!(e.seq, u64::MAX);
}
