//! One function per fuzz target: bytes from outside (a mirror, a bundle, a manifest, a node
//! profile) fed to the parser that reads them, with the properties that must hold whatever the
//! input: no panic, nothing accepted that leaves its bounds, and round trips where there are
//! some (a version printed and parsed again is the same version, and orders the same way).
//!
//! `cargo +nightly fuzz run TARGET` runs one (fuzz_targets/TARGET.rs); `tests/meta/fuzz_corpora.rs`
//! replays every committed corpus file (fuzz/corpus/TARGET/) through the same function in the
//! normal test suite, so a finding, once added to the corpus, stays fixed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use moa_engine::formats::BundleIndex;
use moa_engine::formats::NodeProfile;
use moa_engine::formats::{apt, yum};
use moa_engine::formats::{DebFile, PackageFile, RpmFile};
use moa_model::deps::{DebSyntax, DepSyntax, RpmSyntax};
use moa_model::manifest::Manifest;
use moa_model::types::{safe_file_name, Arch, RepoPath};
use moa_model::version::{DebVersion, Evr};

/// A harness function: panics when a property does not hold for the input.
pub type Check = fn(&[u8]);

/// Every target, by name (the corpus directory's name).
pub const TARGETS: &[(&str, Check)] = &[
    ("primary", primary),
    ("clearsigned", clearsigned),
    ("oci_manifest", oci_manifest),
    ("repomd", repomd),
    ("release", release),
    ("packages", packages),
    ("rpm_deps", rpm_deps),
    ("deb_deps", deb_deps),
    ("versions", versions),
    ("manifest", manifest),
    ("bundle_index", bundle_index),
    ("bundle", bundle),
    ("profile", profile),
    ("rpm_header", rpm_header),
    ("deb_header", deb_header),
    ("parsed_index", parsed_index),
    ("ledger", ledger),
];

/// yum `primary.xml`: every kept record's location stays inside the repository.
pub fn primary(data: &[u8]) {
    let mut out = Vec::new();
    let arch = Arch::new("x86_64").unwrap();
    if yum::parse_primary(Box::new(data), "fuzz", 0, &arch, &mut out).is_ok() {
        for p in &out {
            assert!(RepoPath::new(p.location()).is_ok(), "{:?}", p.location());
            assert!(safe_file_name(p.file_name()).is_ok());
        }
    }
}

/// yum `repomd.xml`: the primary's location is a plain path inside the repository.
pub fn repomd(data: &[u8]) {
    if let Ok(r) = yum::parse_repomd(data, "fuzz") {
        assert!(RepoPath::new(&r.href).is_ok(), "{:?}", r.href);
    }
}

/// apt `Release`/`InRelease`.
pub fn release(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = apt::cleartext(text, "fuzz").and_then(|t| apt::parse_release(&t, "fuzz")) {
            assert!(!r.files.is_empty());
        }
    }
}

/// A clearsigned `InRelease`: the text the unverified path parses (`apt::cleartext`) is the
/// text the signature check returns (rPGP's signed text), and with no key nothing is accepted.
pub fn clearsigned(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert!(moa_engine::formats::Keyring::default().verify_cleartext("fuzz", text).is_err());
    if let (Ok(ours), Ok(signed)) = (apt::cleartext(text, "fuzz"), moa_engine::formats::signed_text_unverified(text)) {
        assert_eq!(ours.trim_end_matches('\n'), signed.trim_end_matches('\n'), "{text:?}");
    }
}

/// An OCI manifest as `pull` reads it: what it accepts names a plain file, at most the package
/// limit of layers, each titled once with a plain member path (the verifier's rule for
/// members) and a bounded size.
pub fn oci_manifest(data: &[u8]) {
    let Ok(m) = moa_engine::formats::read_manifest("oci://fuzz/r:t", data) else { return };
    assert!(safe_file_name(&m.name).is_ok());
    assert!(m.manifest.layers.len() <= moa_model::limits::PACKAGES + 64);
    let mut titles = std::collections::BTreeSet::new();
    for l in &m.manifest.layers {
        assert!(l.size >= 0 && l.size as u64 <= moa_model::limits::PACKAGE_BYTES);
        if let Some(t) = l.annotations.as_ref().and_then(|a| a.get("org.opencontainers.image.title")) {
            if l.media_type != moa_engine::formats::SIGNATURE_TYPE {
                // The bundle verifier's member rule: relative, plain components, no control
                // character (package files are then held to bundle.json's safe names).
                let plain = t.split('/').all(|c| !matches!(c, "" | "." | "..") && !c.chars().any(char::is_control));
                assert!(plain && titles.insert(t.clone()), "{t:?}");
            }
        }
    }
}

/// apt `Packages`: every kept record's `Filename` stays inside the archive.
pub fn packages(data: &[u8]) {
    let mut out = Vec::new();
    let arch = Arch::new("amd64").unwrap();
    if apt::parse_packages(Box::new(data), "fuzz", 0, &arch, &mut out).is_ok() {
        for p in &out {
            assert!(RepoPath::new(p.location()).is_ok(), "{:?}", p.location());
            assert!(safe_file_name(p.file_name()).is_ok());
        }
    }
}

/// A parsed-index cache entry (its body, sealed with a valid header so the records' decoding is
/// what is explored): never a panic; what decodes passes the parsers' checks and encodes back
/// to an entry that reads back as the same records.
pub fn parsed_index(data: &[u8]) {
    use moa_engine::formats::parsed_index::{decode, encode, seal, ParsedKey};
    let (arch, index) = (Arch::new("amd64").unwrap(), moa_model::types::Sha256::digest(b"fuzz"));
    let key = ParsedKey { format: "apt-packages", arch: &arch, index: &index };
    // Index entries announced as 1 MiB: the records' places in them are explored too.
    let kept = Some((moa_model::types::Sha256::digest(b""), 1 << 20));
    let entry = seal(&key, data, kept);
    if let Ok(records) = decode(&key, &entry, 0) {
        for p in &records {
            assert!(RepoPath::new(p.location()).is_ok(), "{:?}", p.location());
            assert!(safe_file_name(p.file_name()).is_ok());
        }
        let again = decode(&key, &encode(&key, &records, kept, 0), 0).expect("what was read back encodes readably");
        assert_eq!(format!("{again:?}"), format!("{records:?}"));
    }
}

fn deps(syntax: &dyn DepSyntax, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines() {
        if let Ok(d) = syntax.parse_dep(line) {
            let mut leaves = Vec::new();
            d.leaves(&mut leaves);
            assert!(leaves.iter().all(|r| !r.name.is_empty()), "{line:?}");
        }
        let _ = syntax.parse_requirement(line);
        let _ = syntax.parse_provide(line);
        let _ = syntax.provide_name(line);
    }
}

/// rpm dependency strings, rich (boolean) ones included, one per line.
pub fn rpm_deps(data: &[u8]) {
    deps(&RpmSyntax, data);
}

/// Debian relation fields (`a (>= 1) | b:any`), one per line.
pub fn deb_deps(data: &[u8]) {
    deps(&DebSyntax, data);
}

fn order<V: FromStr + Ord + std::fmt::Display + std::fmt::Debug>(a: &str, b: &str) {
    let (Ok(x), Ok(y)) = (V::from_str(a), V::from_str(b)) else { return };
    assert_eq!(x.cmp(&y), y.cmp(&x).reverse(), "{a:?} {b:?}");
    assert_eq!(x.cmp(&x), std::cmp::Ordering::Equal);
    // Printed and read again, a version is the same version.
    let again = V::from_str(&x.to_string()).ok().unwrap_or_else(|| panic!("{x} does not parse again"));
    assert_eq!(again.cmp(&x), std::cmp::Ordering::Equal, "{x}");
}

/// Two versions (first line, second line), as rpm EVRs and as Debian versions.
pub fn versions(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(2, '\n');
    let (a, b) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    order::<Evr>(a, b);
    order::<DebVersion>(a, b);
}

/// A manifest: what it accepts makes a plain bundle file name.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::parse(text, "fuzz.toml") {
        assert!(safe_file_name(&m.bundle_file_name()).is_ok(), "{}", m.bundle_file_name());
    }
}

/// `bundle.json`: an index that validates names plain files and stays within bounds.
pub fn bundle_index(data: &[u8]) {
    if let Ok(i) = serde_json::from_slice::<BundleIndex>(data) {
        if i.validate().is_ok() {
            assert!(safe_file_name(&format!("{}.tar.gz", i.stem())).is_ok());
            assert!(i.packages.iter().all(|p| safe_file_name(&p.file).is_ok() && p.stage as usize <= i.packages.len()));
        }
    }
}

/// A private scratch directory for the targets that need files.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn as_file(data: &[u8], name: &str) -> PathBuf {
    let p = scratch().join(format!("{}-{name}", std::process::id()));
    fs_err::write(&p, data).unwrap();
    p
}

/// Every entry under `dir`, which must be plain files and directories inside it.
fn assert_plain_tree(dir: &Path) {
    for e in fs_err::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        assert!(t.is_file() || t.is_dir(), "{:?} is neither a file nor a directory", e.path());
        if t.is_dir() {
            assert_plain_tree(&e.path());
        }
    }
}

/// A whole bundle through the unpacker: what it accepts unpacks to plain files inside the
/// destination, and nothing outside it is touched.
pub fn bundle(data: &[u8]) {
    let file = as_file(data, "bundle.tar.gz");
    let dest = scratch().join(format!("{}-dest", std::process::id()));
    let _ = fs_err::remove_dir_all(&dest);
    fs_err::create_dir_all(&dest).unwrap();
    let readers = |f| {
        let b = moa_engine::backend(f);
        (b.package_file, b.syntax)
    };
    let _ = moa_engine::formats::unpack_and_check(&file, &dest, None, &readers);
    assert_plain_tree(&dest);
    let outside: Vec<_> = fs_err::read_dir(scratch()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(outside.len() <= 2 * 8, "the unpacker wrote beside its destination: {outside:?}");
    fs_err::remove_dir_all(&dest).unwrap();
}

/// A node profile (`probe -o`).
pub fn profile(data: &[u8]) {
    if let Ok(p) = NodeProfile::parse(data) {
        assert!(p.packages.iter().all(|i| !i.name.contains('\n')));
    }
}

/// A node's ledger (`history.jsonl`, any bytes): reading it never panics, an intact one numbers
/// its entries 1, 2, 3, …, and an entry appended after anything reads back as written, chained
/// to the last entry that was there, with every finding about the old lines still named.
pub fn ledger(data: &[u8]) {
    use moa_engine::ledger::{Entry, Ledger, Verb, DIR, FILE};
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(DIR);
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join(FILE), data).unwrap();
    let l = Ledger::at(root.path()).unwrap();
    let Ok(h) = l.read() else { return };
    if h.intact {
        assert!(h.entries.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1), "{:?}", h.findings);
    }
    let Ok(e) = l.append(Entry::new(Verb::Configure)) else { return };
    assert_eq!(e.seq, h.entries.last().map_or(1, |l| l.seq.saturating_add(1)));
    let again = l.read().unwrap();
    assert_eq!(again.entries.last(), Some(&e));
}

/// An `.rpm` header.
pub fn rpm_header(data: &[u8]) {
    let _ = RpmFile.identify(&as_file(data, "x.rpm"));
}

/// A `.deb`'s ar framing and control file.
pub fn deb_header(data: &[u8]) {
    let _ = DebFile.identify(&as_file(data, "x.deb"));
}
