//! apt repositories: `dists/<suite>/InRelease` (or `Release`) lists every index with its sha256;
//! `<component>/binary-<arch>/Packages.{xz,gz}` is checked against it and parsed as deb822.
//!
//! The root is trusted only once signed by a key the manifest pins (`trust`): `InRelease`
//! (clearsigned), or, only where the mirrors have no `InRelease`, `Release` with `Release.gpg`.
//! Only the signed text is parsed; every index chains from its digests.

mod local;
mod release;

pub use release::{cleartext, parse_release, parse_rfc2822, Freshness, Release};

use std::io::BufRead;

use super::record::{RecordText, TextPacker, TextParts};
use super::{
    DepList, Index, LoadedRepo, MetadataFormat, MetadataSource, MultiArch, PackageRecord, Priority, RepoError, Source,
    FILE_BYTES, INDEX_BYTES,
};
use crate::report::Reporter;
use crate::trust::{Fingerprint, Keyring, TrustError};
use moa_model::manifest::Repository;
use moa_model::types::MirrorUrl;
use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::{DebVersion, Version};

/// The apt repository format.
pub struct Apt;

impl moa_model::manifest::FamilyRules for Apt {
    fn check_repository(&self, r: &Repository) -> Result<(), String> {
        if r.suites.is_empty() || r.components.is_empty() || r.path.is_some() {
            return Err("an apt repository needs `suites` and `components`, and no `path`".into());
        }
        if r.metadata_signed {
            return Err("`metadata_signed` is for yum repositories: an apt Release is always signed".into());
        }
        Ok(())
    }
}

impl MetadataFormat for Apt {
    fn local_repository(
        &self,
        packages: &[super::LocalPackage<'_>],
        epoch: u64,
        label: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
        local::write(packages, epoch, label)
    }

    fn read_local_repository(
        &self,
        dir: &std::path::Path,
        arch: &Arch,
        bundle: super::LocalRepository<'_>,
    ) -> Result<Vec<PackageRecord>, RepoError> {
        local::read(dir, arch, bundle)
    }

    fn load(
        &self,
        source: &MetadataSource<'_>,
        repo: &Repository,
        repo_index: usize,
        arch: &Arch,
        reporter: &dyn Reporter,
        out: &mut Vec<PackageRecord>,
    ) -> Result<LoadedRepo, RepoError> {
        let name = repo.name.as_str();
        let keyring = source.keyring(repo)?;
        // Each suite (bookworm, bookworm-updates) on a thread of its own: its InRelease,
        // checks and indexes do not wait for another suite's parse.
        let suites: Vec<Result<Suite, RepoError>> = std::thread::scope(|s| {
            let handles: Vec<_> = repo
                .suites
                .iter()
                .map(|suite| {
                    let keyring = keyring.as_ref();
                    s.spawn(move || load_suite(source, repo, suite.as_str(), (repo_index, arch), keyring, reporter))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a suite's thread does not panic")).collect()
        });
        let (mut mirrors, mut sources, mut newest) = (None, Vec::new(), None);
        let mut entries: Option<super::EntryWriter> = None;
        for suite in suites {
            let mut suite = suite?;
            // The mirror order the first suite settled on is the repository's.
            mirrors.get_or_insert(suite.mirrors);
            sources.extend(suite.sources);
            newest = newest.max(suite.newest);
            if let Some(mut w) = suite.entries {
                let base = match &mut entries {
                    None => 0,
                    Some(all) => {
                        all.append_all(&mut w).map_err(|e| RepoError::Entries { url: name.to_string(), source: e })?
                    }
                };
                suite.records.iter_mut().filter_map(|r| r.entry.as_mut()).for_each(|e| e.start += base);
                entries.get_or_insert(w);
            }
            super::take_or_extend(out, suite.records);
        }
        Ok(LoadedRepo {
            name: name.to_string(),
            mirrors: mirrors.unwrap_or_else(|| repo.mirrors.clone()),
            base_path: String::new(),
            sources,
            timestamp: newest,
            modules: None,
            groups: None,
            entries: super::finish_entries(entries, name)?,
        })
    }
}

/// What one suite of a repository gave.
struct Suite {
    records: Vec<PackageRecord>,
    entries: Option<super::EntryWriter>,
    sources: Vec<Source>,
    newest: Option<u64>,
    mirrors: Vec<MirrorUrl>,
}

/// One suite: its verified InRelease, then each component's Packages index, from the parsed
/// cache when it has it, else fetched, checked and parsed.
fn load_suite(
    source: &MetadataSource<'_>,
    repo: &Repository,
    suite: &str,
    (repo_index, arch): (usize, &Arch),
    keyring: Option<&Keyring>,
    reporter: &dyn Reporter,
) -> Result<Suite, RepoError> {
    let name = repo.name.as_str();
    let mut mirrors = repo.mirrors.clone();
    let (mut out, mut entries) = (Vec::new(), source.entry_writer(name)?);
    reporter.status(&format!("{name}: fetching dists/{suite}/InRelease"));
    let root = fetch_release(source, name, &mut mirrors, suite, keyring)?;
    let (release, url, signed_by) = (root.release, root.url, root.signed_by);
    let (cache, fresh) = (source.cache, source.freshness);
    release::check_not_older(cache, &release, suite, signed_by.as_ref(), &url, fresh)?;
    let mut sources = vec![Source { file: root.file, sha256: root.sha256, signed_by: signed_by.clone() }];
    for component in &repo.components {
        let candidates = release.packages_indexes(component.as_str(), arch.as_str());
        if candidates.is_empty() {
            return Err(RepoError::Malformed {
                url,
                message: format!(
                    "lists no {component}/binary-{arch}/Packages index: check `components` and `arch` in the manifest"
                ),
            });
        }
        let before = out.len();
        // A candidate whose parsed entry the cache holds is read from there, without reading
        // or hashing the index itself; else the best one a mirror has is parsed.
        let cached = candidates.iter().find(|(path, _, sha)| {
            let key = super::parsed::ParsedKey { format: "apt-packages", arch, index: sha };
            let rel = format!("dists/{suite}/{path}");
            super::from_parsed(source, &key, (repo_index, &rel), &mut out, entries.as_mut())
        });
        let (path, sha) = match cached {
            Some((path, _, sha)) => (path.clone(), *sha),
            None => {
                let (path, sha, mut index, purl) = fetch_index(source, name, &mut mirrors, suite, &candidates)?;
                let key = super::parsed::ParsedKey { format: "apt-packages", arch, index: &sha };
                super::parse_to_cache(source, &key, &mut out, entries.as_mut(), |out, keep| {
                    // xz decoding on its own thread, feeding the parser through a pipe (as for
                    // yum's primary): the two halves run on two cores.
                    let input = super::decompress(&path, &purl, index.reader())?;
                    super::pipelined(input, &purl, |r| parse_packages_with(r, &purl, repo_index, arch, keep, out))
                })?;
                (path, sha)
            }
        };
        let rel = format!("dists/{suite}/{path}");
        sources.push(Source { file: rel, sha256: sha, signed_by: signed_by.clone() });
        reporter.status(&format!("{name}: {suite}/{component}: {} packages", out.len() - before));
    }
    Ok(Suite { records: out, entries, sources, newest: release.date, mirrors })
}

/// The first of `candidates` (best first) that a mirror has, checked against its size and
/// sha256: only "no mirror has it" moves to the next; any other failure is the error.
fn fetch_index(
    source: &MetadataSource<'_>,
    name: &str,
    mirrors: &mut Vec<MirrorUrl>,
    suite: &str,
    candidates: &[&(String, u64, Sha256)],
) -> Result<(String, Sha256, Index, String), RepoError> {
    let mut last = None;
    for (path, size, sha) in candidates.iter().copied() {
        let rel = format!("dists/{suite}/{path}");
        source.reporter.status(&format!("{name}: fetching {rel}"));
        match source.fetch_index_file(name, mirrors, &rel, (FILE_BYTES, Some(*size)), sha) {
            Ok((index, url)) => return Ok((path.clone(), *sha, index, url)),
            Err(e) if e.is_not_found() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one candidate"))
}

/// A suite's verified `Release`: what it lists, the URL it came from, the file kept as the
/// build's source (`InRelease` or `Release`) with its digest, and the key that signed it.
struct SignedRelease {
    release: Release,
    url: String,
    file: String,
    sha256: Sha256,
    signed_by: Option<Fingerprint>,
}

fn utf8<'b>(b: &'b [u8], url: &str) -> Result<&'b str, RepoError> {
    std::str::from_utf8(b)
        .map_err(|_| RepoError::Malformed { url: url.to_string(), message: "Release is not UTF-8 text".into() })
}

/// `InRelease` checked against `keyring` (a mirror whose copy is badly signed is passed over);
/// `Release` + `Release.gpg` only when no mirror has an `InRelease`, as apt does.
fn fetch_release(
    source: &MetadataSource<'_>,
    name: &str,
    mirrors: &mut Vec<MirrorUrl>,
    suite: &str,
    keyring: Option<&Keyring>,
) -> Result<SignedRelease, RepoError> {
    let signature = |e: TrustError, url: &str| RepoError::Signature { url: url.to_string(), error: e };
    let inrelease = |b: &[u8], url: &str| {
        let text = utf8(b, url)?;
        let (signed, who) = match keyring {
            Some(k) => {
                k.verify_cleartext(url, text).map(|(t, who)| (t, Some(who.key))).map_err(|e| signature(e, url))?
            }
            None => (cleartext(text, url)?, None),
        };
        let release = parse_release(&signed, url)?;
        release.check_fresh(url, suite, source.freshness)?;
        Ok((release, who))
    };
    let rel = format!("dists/{suite}/InRelease");
    match source.fetch_checked(name, mirrors, &rel, INDEX_BYTES, &inrelease) {
        Ok(((release, signed_by), bytes, url)) => {
            return Ok(SignedRelease { release, url, file: rel, sha256: Sha256::digest(&bytes), signed_by })
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let rel = format!("dists/{suite}/Release");
    let plain = |b: &[u8], url: &str| {
        let release = parse_release(utf8(b, url)?, url)?;
        release.check_fresh(url, suite, source.freshness)?;
        Ok(release)
    };
    let (release, bytes, url) = source.fetch_checked(name, mirrors, &rel, INDEX_BYTES, &plain)?;
    let mut signed_by = None;
    if let Some(k) = keyring {
        let gpg = format!("{rel}.gpg");
        let check = |sig: &[u8], url: &str| k.verify_detached(url, &bytes, sig).map_err(|e| signature(e, url));
        let (who, _, _) = source.fetch_checked(name, mirrors, &gpg, moa_model::limits::SIGNATURE_BYTES, &check)?;
        signed_by = Some(who.key);
    }
    Ok(SignedRelease { release, url, file: rel, sha256: Sha256::digest(&bytes), signed_by })
}

/// Splits a comma-separated relation field into its groups (`a (>= 1)`, `b | c`).
pub fn split_relations(field: &str) -> impl Iterator<Item = String> + '_ {
    field.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// One stanza's kept fields: their names and values in one buffer, reused from stanza to
/// stanza (an index has 60,000 of them; a string per field made most of a parse's allocations).
#[derive(Default)]
struct Stanza {
    text: String,
    /// Each field's name and value, as places in `text`.
    fields: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl Stanza {
    fn get(&self, k: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(f, _)| self.text[f.clone()].eq_ignore_ascii_case(k));
        found.map(|(_, v)| &self.text[v.clone()])
    }
    fn push(&mut self, k: &str, v: &str) {
        let key = self.text.len()..self.text.len() + k.len();
        self.text.push_str(k);
        self.text.push_str(v);
        self.fields.push((key.clone(), key.end..self.text.len()));
    }
    /// A continuation line of the last field: its value goes on after a space.
    fn continue_last(&mut self, more: &str) {
        if let Some((_, v)) = self.fields.last_mut() {
            self.text.push(' ');
            self.text.push_str(more);
            v.end = self.text.len();
        }
    }
    fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }
}

/// A stanza's relation fields, joined as a record keeps them (one entry per line): buffers
/// reused from stanza to stanza.
#[derive(Default)]
struct Relations {
    provides: String,
    /// Pre-Depends, then Depends.
    requires: String,
    pre: String,
    /// Conflicts, then Breaks.
    conflicts: String,
    replaces: String,
}

impl Relations {
    fn read(&mut self, s: &Stanza) {
        let fill = |out: &mut String, fields: &[&str]| {
            out.clear();
            for rel in fields.iter().filter_map(|k| s.get(k)).flat_map(|v| v.split(',')) {
                let rel = rel.trim();
                if !rel.is_empty() {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(rel);
                }
            }
        };
        fill(&mut self.provides, &["Provides"]);
        fill(&mut self.requires, &["Pre-Depends", "Depends"]);
        fill(&mut self.pre, &["Pre-Depends"]);
        fill(&mut self.conflicts, &["Conflicts", "Breaks"]);
        fill(&mut self.replaces, &["Replaces"]);
    }
}

const KEPT: &[&str] = &[
    "Package",
    "Version",
    "Architecture",
    "Filename",
    "Size",
    "SHA256",
    "Depends",
    "Pre-Depends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Priority",
    "Essential",
    "Multi-Arch",
    "Source",
];

/// Parses a `Packages` file, keeping packages for `arch` and `all`.
pub fn parse_packages(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    arch: &Arch,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    parse_packages_with(input, url, repo_index, arch, None, out)
}

/// [`parse_packages`], keeping each package's stanza in `entries` (its place in
/// [`PackageRecord::entry`]) when given.
pub fn parse_packages_with(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    arch: &Arch,
    mut entries: Option<&mut super::EntryWriter>,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    let (mut st, mut rels) = (Stanza::default(), Relations::default());
    let mut packer = TextPacker::default();
    let mut keep_cont = false;
    let mut lineno = 0usize;
    // The stanza's lines went to `entries`: kept when its record was, then the next one begins.
    let flushed = |kept: bool, out: &mut Vec<PackageRecord>, entries: &mut Option<&mut super::EntryWriter>| {
        let Some(e) = entries.as_mut() else { return Ok(()) };
        if let (true, Some(p)) = (kept, out.last_mut()) {
            p.entry = Some(e.keep().map_err(|source| RepoError::Entries { url: url.to_string(), source })?);
        }
        e.begin(b"");
        Ok(())
    };
    // One buffer for every line (an index has a million and more).
    let (mut input, mut buf) = (input, String::new());
    loop {
        buf.clear();
        let read = input.read_line(&mut buf).map_err(|e| RepoError::Malformed {
            url: url.to_string(),
            message: format!("could not decompress or read line {}: {e}", lineno + 1),
        })?;
        if read == 0 {
            break;
        }
        lineno += 1;
        // As `BufRead::lines` gives it: without the `\n` or `\r\n`.
        let line = buf.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&buf);
        if line.trim().is_empty() {
            let kept = flush(&st, (&mut rels, &mut packer), url, repo_index, arch, out)?;
            st.clear();
            flushed(kept, out, &mut entries)?;
            continue;
        }
        if let Some(e) = entries.as_mut() {
            e.extend(line.as_bytes());
            e.extend(b"\n");
        }
        if line.starts_with([' ', '\t']) {
            if keep_cont {
                st.continue_last(line.trim());
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(RepoError::Malformed {
                url: url.to_string(),
                message: format!("line {lineno} is not `Field: value`"),
            });
        };
        keep_cont = KEPT.iter().any(|f| f.eq_ignore_ascii_case(k));
        if keep_cont {
            st.push(k, v.trim());
        }
    }
    let kept = flush(&st, (&mut rels, &mut packer), url, repo_index, arch, out)?;
    packer.settle(out);
    flushed(kept, out, &mut entries)
}

/// The stanza's record, when it is one for `arch`: whether one was pushed (its text packed by
/// `packer`, given once the parser settles it).
fn flush(
    s: &Stanza,
    (rels, packer): (&mut Relations, &mut TextPacker),
    url: &str,
    repo: usize,
    arch: &Arch,
    out: &mut Vec<PackageRecord>,
) -> Result<bool, RepoError> {
    if s.is_empty() {
        return Ok(false);
    }
    let pkg_arch = s.get("Architecture").unwrap_or("");
    if !moa_model::arch::ArchModel::installs_on(&moa_model::arch::DebArch, pkg_arch, arch.as_str()) {
        return Ok(false);
    }
    let name = s.get("Package").unwrap_or("");
    // Named only when something is wrong.
    let what = || format!("package `{name}` ({})", s.get("Version").unwrap_or("?"));
    let bad = |m: String| RepoError::Malformed { url: url.to_string(), message: format!("{}: {m}", what()) };
    let need = |k: &str| s.get(k).ok_or_else(|| bad(format!("has no {k} field")));
    let location = need("Filename")?;
    if !moa_model::types::is_repo_path(location) {
        return Err(bad(format!(
            "Filename `{}` is not a plain path inside the archive",
            moa_model::types::shown(location)
        )));
    }
    moa_model::types::safe_file_name(location.rsplit('/').next().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let version: DebVersion =
        need("Version")?.parse().map_err(|e: moa_model::version::DebVersionError| bad(e.to_string()))?;
    rels.read(s);
    let checked = |field: &str, joined: &str| DepList::check_joined(field, joined).map_err(&bad);
    checked("Provides", &rels.provides)?;
    checked("Depends", &rels.requires)?;
    checked("Pre-Depends", &rels.pre)?;
    checked("Conflicts", &rels.conflicts)?;
    checked("Replaces", &rels.replaces)?;
    let text = TextParts {
        location,
        source: s.get("Source"),
        source_rpm: None,
        license: None,
        lists: [&rels.provides, &rels.requires, &rels.pre, &rels.conflicts, &rels.replaces, "", "", "", "", "", ""],
    };
    let record = PackageRecord {
        name: PackageName::new(name).map_err(|e| bad(e.to_string()))?,
        version: Version::Deb(version),
        arch: Arch::new(pkg_arch).map_err(|e| bad(e.to_string()))?,
        repo,
        size: need("Size")?.parse().map_err(|_| bad("Size is not a number".into()))?,
        sha256: Sha256::from_hex(need("SHA256")?).map_err(|e| bad(e.to_string()))?,
        text: RecordText::default(),
        multi_arch: s.get("Multi-Arch").map(MultiArch::parse).unwrap_or_default(),
        entry: None,
        priority: s.get("Priority").map(Priority::parse),
        essential: s.get("Essential") == Some("yes"),
    };
    packer.push(out, record, &text).map_err(|e| bad(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_stanzas_become_records() {
        let text = "Package: ntp\nVersion: 1:4.2.8p4+dfsg-3ubuntu5.9\nArchitecture: amd64\nPre-Depends: dpkg (>= 1.15.7.2)\nDepends: adduser, lsb-base (>= 3.2-13),\n libopts25 (>= 1:5.18.7)\nBreaks: dhcp3-client (<< 4.1.0-1)\nPriority: optional\nFilename: pool/main/n/ntp/ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb\nSize: 518548\nSHA256: 2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e\nDescription: x\n more\n\nPackage: other\nVersion: 1\nArchitecture: i386\nFilename: pool/o.deb\nSize: 1\nSHA256: 2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e\n";
        let mut out = Vec::new();
        parse_packages(Box::new(text.as_bytes()), "u", 0, &Arch::new("amd64").unwrap(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(
            p.requires().to_vec(),
            vec!["dpkg (>= 1.15.7.2)", "adduser", "lsb-base (>= 3.2-13)", "libopts25 (>= 1:5.18.7)"]
        );
        assert_eq!(p.pre_requires().to_vec(), vec!["dpkg (>= 1.15.7.2)"]);
        assert_eq!(p.conflicts().to_vec(), vec!["dhcp3-client (<< 4.1.0-1)"]);
        assert_eq!(p.file_name(), "ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb");
    }

    /// Archives made from `apt-get download` name files with `%3a` for the epoch's colon.
    #[test]
    fn pool_names_with_a_percent_are_kept() {
        let text = "Package: git-man\nVersion: 1:2.39.5-0+deb12u3\nArchitecture: all\nFilename: pool/main/git-man_1%3a2.39.5-0+deb12u3_all.deb\nSize: 1\nSHA256: 2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e\n";
        let mut out = Vec::new();
        parse_packages(Box::new(text.as_bytes()), "u", 0, &Arch::new("amd64").unwrap(), &mut out).unwrap();
        assert_eq!(out[0].file_name(), "git-man_1%3a2.39.5-0+deb12u3_all.deb");
    }

    #[test]
    fn a_stanza_without_sha256_names_the_package() {
        let text = "Package: ntp\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/n.deb\nSize: 1\n";
        let mut out = Vec::new();
        let e = parse_packages(Box::new(text.as_bytes()), "http://m/P", 0, &Arch::new("amd64").unwrap(), &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`ntp`") && e.contains("SHA256") && e.contains("http://m/P"), "{e}");
    }
}
