//! Repository metadata: fetch a repository's index, check it against the checksums its root file
//! publishes, and parse it into [`PackageRecord`]s. One reader per format behind
//! [`MetadataFormat`]: [`yum`] (`repomd.xml` → `primary.xml.*`) and [`apt`] (`InRelease`/`Release`
//! → `Packages.*`).
//!
//! Records keep dependency fields as raw strings in the family's own syntax; `crate::resolve`
//! parses them. Nothing here decides which package wins.

pub mod apt;
pub mod comps;
mod deplist;
pub(crate) mod entries;
mod local;
pub mod modules;
pub(crate) mod parsed;
pub(crate) mod record;
mod spool;
pub(crate) use spool::Index;
pub mod yum;

pub(crate) use local::LOCAL_REPO_DIR;
use local::{gzip, read_local};
pub use local::{LocalPackage, LocalRepository};

use std::io::{BufRead, BufReader, Read};

use serde::Serialize;

use crate::cache::Cache;
use crate::mirror::Failures;
use crate::report::{Event, Reporter};
use crate::transport::{join, redact, Transport, TransportError};
use crate::trust::{Fingerprint, Keyring, TrustError};
use moa_model::manifest::{Manifest, Repository};
use moa_model::types::{Arch, MirrorUrl, Sha256};

/// A repository's root index (`repomd.xml`, `InRelease`): at most this many bytes.
pub(crate) const INDEX_BYTES: u64 = 16 << 20;
/// A metadata file it names (`primary.xml.gz`, `Packages.xz`), compressed (bookworm's main
/// `Packages.xz`: 9 MiB; CentOS Stream 9 AppStream's primary: 3.6 MiB).
pub(crate) const FILE_BYTES: u64 = 512 << 20;
/// The same, decompressed (AppStream's primary: 51 MiB).
pub(crate) const DECOMPRESSED_BYTES: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("repository `{repo}`: every mirror failed for {what}: {failures}. Check the network and the manifest's `path`/`suites`, or pass --mirror with a good mirror")]
    AllMirrorsFailed { repo: String, what: String, failures: Failures<RepoError>, not_found: bool },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{url}: checksum mismatch (expected sha256 {expected}, got {actual}). The mirror is corrupt or mid-sync: try again later or use another --mirror")]
    Checksum { url: String, expected: String, actual: String },
    #[error("{url}: {message}")]
    Malformed { url: String, message: String },
    #[error("{url}: {message}")]
    Unsupported { url: String, message: String },
    #[error("repository `{repo}`: {rel} is not in the cache and --offline forbids fetching it: run the build once with network access (same --cache-dir)")]
    Offline { repo: String, rel: String },
    /// `error` names the URL.
    #[error("{error}")]
    Signature { url: String, error: TrustError },
    #[error("repository `{repo}`: no mirror has a correctly signed {what}: {failures}")]
    Untrusted { repo: String, what: String, failures: Failures<RepoError>, weak_only: bool },
    #[error("repository `{repo}`: {error}")]
    Keys { repo: String, error: TrustError },
    #[error("{distro}: {message}")]
    Modules { distro: String, message: String },
    #[error("{url}: could not keep the index entries aside for the bundle's repository in a temporary file in {}: set TMPDIR to a writable directory, or build with --no-repo", std::env::temp_dir().display())]
    Entries {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not make a temporary file in {} to hold {rel} while it is checked and parsed: set TMPDIR to a writable directory", std::env::temp_dir().display())]
    Spool {
        rel: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} is expired (invalid since {since}), as apt would say: the mirror is stale or replays an old Release. Use an up-to-date --mirror; for a frozen archive chosen on purpose, pass --allow-old-metadata")]
    Expired { url: String, since: String },
    #[error(
        "{url} is not valid yet (its Date is {date}, ahead of this machine's clock): check the clock, or the mirror"
    )]
    NotYetValid { url: String, date: String },
    #[error("{url}: conflicting distribution: the manifest asks for suite `{expected}`, the signed Release is for `{got}`. Another suite's Release answered (a replay or a wrong mirror layout); check `suites` in the manifest and the mirror")]
    ConflictingDistribution { url: String, expected: String, got: String },
    #[error("{url} is older (Date {date}) than the Release of the same archive and suite this cache has seen (Date {seen}): a replay or a stale mirror, which would roll packages back. Use an up-to-date --mirror; for an older snapshot chosen on purpose, pass --allow-old-metadata")]
    Rollback { url: String, date: String, seen: String },
    #[error("repository `{repo}` pins no signing key: add the distro's key to it in the manifest (`keys = [{{ file = \"keys/…\", fingerprint = \"…\" }}]`), or pass --insecure-skip-signatures to build without checks (recorded in the bundle)")]
    Unpinned { repo: String },
}

impl RepoError {
    /// Whether every mirror said "no such file" (the only failure that justifies trying another
    /// file name, as apt does from `InRelease` to `Release`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RepoError::AllMirrorsFailed { not_found: true, .. } | RepoError::Offline { .. })
    }
}

pub(crate) use deplist::{DepList, Deps};
pub use record::PackageRecord;
pub(crate) use record::{MultiArch, Priority, RecordFields};

pub use entries::EntryWriter;
pub(crate) use entries::{EntrySpan, EntryStore};

/// One installed package as the node's database reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Raw capabilities, in the family's metadata syntax (`libc.so.6()(64bit)`, `mail-transport-agent`).
    #[serde(default)]
    pub provides: Vec<String>,
    /// rpm: owned paths that file requirements can name (yum primary's rule: `/etc/…`, `…bin/…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// dpkg: `Multi-Arch` (absent in older profiles: then treated as `allowed`, never wrongly unmet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_arch: Option<MultiArch>,
    /// dpkg: `Essential: yes` (never removed to make room for a bundled package).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    /// dpkg: Conflicts and Breaks; rpm: Conflicts (a conflict the node's package declares
    /// matters as much as one the new package declares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// rpm: Obsoletes (rpm and dnf install no package an installed one obsoletes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obsoletes: Vec<String>,
}

/// A repository as loaded: where it lives and digests of the metadata that described it.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedRepo {
    pub name: String,
    /// Mirror roots, best first (the one that answered first is moved to the front).
    pub mirrors: Vec<MirrorUrl>,
    /// Path under a mirror root that package locations are relative to.
    pub base_path: String,
    /// The metadata files this build was resolved from.
    pub sources: Vec<Source>,
    /// Newest timestamp the metadata carries (seconds since the epoch).
    pub timestamp: Option<u64>,
    /// yum: the repository's `modules.yaml`, when it has one.
    #[serde(skip)]
    pub modules: Option<modules::Modules>,
    /// yum: the repository's comps groups, when it publishes them.
    #[serde(skip)]
    pub groups: Option<comps::Groups>,
    /// The published index entries of its packages, when they are kept ([`PackageRecord::entry`]).
    #[serde(skip)]
    pub entries: EntryStore,
}

impl LoadedRepo {
    /// Where its packages are (name, mirrors, base path), without its metadata.
    pub(crate) fn mirrors_only(&self) -> Self {
        Self {
            name: self.name.clone(),
            mirrors: self.mirrors.clone(),
            base_path: self.base_path.clone(),
            sources: Vec::new(),
            timestamp: self.timestamp,
            modules: None,
            groups: None,
            entries: EntryStore::default(),
        }
    }

    /// A repository with packages but no mirrors or metadata files: records built in a test.
    #[cfg(test)]
    pub(crate) fn local(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            mirrors: Vec::new(),
            base_path: String::new(),
            sources: Vec::new(),
            timestamp: None,
            modules: None,
            groups: None,
            entries: EntryStore::default(),
        }
    }
}

/// A metadata file a build resolved from: its path under the repository, digest, and the pinned
/// key that signed it (or that signed the file listing its digest).
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub file: String,
    pub sha256: Sha256,
    pub signed_by: Option<Fingerprint>,
}

/// Whether upstream signatures are checked: always, unless the user passed
/// `--insecure-skip-signatures` (which bundle.json then records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signatures {
    #[default]
    Verify,
    Skip,
}

/// Every package of every repository of a manifest.
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    pub repos: Vec<LoadedRepo>,
    pub packages: Vec<PackageRecord>,
    /// Package names a format's filter hid (EL8+ modules of inactive streams), with what would
    /// make them visible (`nodejs:20`), for the message when one is requested.
    pub hidden: std::collections::HashMap<String, Vec<String>>,
    /// EL8+: the active module stream (`nodejs:20`) of each visible modular package, by its
    /// package index. A node's dnf must have that stream enabled to keep the package.
    pub streams: std::collections::HashMap<usize, String>,
    /// The members of the groups the manifest's base names (comps `core`): more base roots.
    pub group_roots: Vec<String>,
    /// The base groups no repository's comps has.
    pub missing_groups: Vec<String>,
}

impl Metadata {
    /// The published index entry of a package, when entries were kept.
    pub fn entry(&self, p: &PackageRecord) -> Option<Vec<u8>> {
        self.repos.get(p.repo)?.entries.get(p.entry?)
    }

    /// The module stream a package belongs to, when it is modular.
    pub fn stream_of(&self, package: usize) -> Option<&str> {
        self.streams.get(&package).map(String::as_str)
    }

    /// Newest metadata timestamp across repositories: the default bundle mtime.
    pub fn timestamp(&self) -> Option<u64> {
        self.repos.iter().filter_map(|r| r.timestamp).max()
    }
}

/// Where metadata comes from: the mirrors, through the transport, each file remembered in the
/// cache once it has passed its check; with `offline`, the cache alone.
pub struct MetadataSource<'a> {
    pub transport: &'a Transport,
    pub cache: Option<&'a Cache>,
    pub offline: bool,
    /// Namespaces the cache keys (two distros may both have a repository `os`).
    pub distro: &'a str,
    pub reporter: &'a dyn Reporter,
    pub signatures: Signatures,
    /// The clock signed metadata is judged by (apt's expiry and future-date rules).
    pub freshness: apt::Freshness,
    /// Keep each package's published index entry ([`PackageRecord::entry`]): the build writes
    /// the bundle's own repository from them. Costs the index's size in memory.
    pub keep_entries: bool,
}

impl MetadataSource<'_> {
    /// Where a parser keeps the entries of `what` (a repository or URL), when they are kept.
    pub(crate) fn entry_writer(&self, what: &str) -> Result<Option<EntryWriter>, RepoError> {
        let fail = |source| RepoError::Entries { url: what.to_string(), source };
        self.keep_entries.then(EntryWriter::new).transpose().map_err(fail)
    }
}

/// The records of one index file into `out` (and, when `entries` is given, each package's
/// published entry into it): read from the parsed-index cache when it has a usable entry for
/// `key` (the digest the signed root gives the index), else made by `parse` — which fetches
/// the index itself, so a cached entry spares reading and hashing the index too — and stored
/// there. `what` names the file in events.
pub(crate) fn cached_or_parsed(
    source: &MetadataSource<'_>,
    key: &parsed::ParsedKey<'_>,
    (repo, what): (usize, &str),
    out: &mut Vec<PackageRecord>,
    mut entries: Option<&mut EntryWriter>,
    parse: impl FnOnce(&mut Vec<PackageRecord>, Option<&mut EntryWriter>) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    if from_parsed(source, key, (repo, what), out, entries.as_deref_mut()) {
        return Ok(());
    }
    parse_to_cache(source, key, out, entries, parse)
}

/// The records of the parsed-index cache's entry for `key` into `out` (and its index entries
/// into `entries`), when it has a usable one: whether it had. An unusable entry is reported.
pub(crate) fn from_parsed(
    source: &MetadataSource<'_>,
    key: &parsed::ParsedKey<'_>,
    (repo, what): (usize, &str),
    out: &mut Vec<PackageRecord>,
    entries: Option<&mut EntryWriter>,
) -> bool {
    let Some(cache) = source.cache else { return false };
    match read_parsed(cache, key, &key.digest(), repo, entries) {
        Ok(Some(records)) => {
            source.reporter.event(&Event::ParsedIndex { what: what.to_string(), packages: records.len() });
            take_or_extend(out, records);
            true
        }
        Ok(None) => false,
        Err(e) => {
            source.reporter.event(&Event::ParsedIndexRebuilt { what: what.to_string(), why: e.to_string() });
            false
        }
    }
}

/// `records` added to `out`: taken as they are when `out` is empty (bookworm's main index is
/// 22 MB of records: moved, not copied), else appended.
pub(crate) fn take_or_extend(out: &mut Vec<PackageRecord>, records: Vec<PackageRecord>) {
    match out.is_empty() {
        true => *out = records,
        false => out.extend(records),
    }
}

/// The records `parse` makes into `out` (and their index entries into `entries`), stored in
/// the parsed-index cache under `key`.
pub(crate) fn parse_to_cache(
    source: &MetadataSource<'_>,
    key: &parsed::ParsedKey<'_>,
    out: &mut Vec<PackageRecord>,
    mut entries: Option<&mut EntryWriter>,
    parse: impl FnOnce(&mut Vec<PackageRecord>, Option<&mut EntryWriter>) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    let Some(cache) = source.cache else { return parse(out, entries) };
    let name = key.digest();
    let before = out.len();
    let start = entries.as_deref_mut().map(|w| {
        w.restart_digest();
        w.kept_len()
    });
    parse(out, entries.as_deref_mut())?;
    let records = &out[before..];
    match (entries, start) {
        (Some(w), Some(start)) => cache.put_parsed(&name, |f| {
            parsed::write(key, records, Some((w.digest(), w.kept_len() - start)), start, f)?;
            w.copy_since(start, f)
        }),
        _ => cache.put_parsed(&name, |f| parsed::write(key, records, None, 0, f)),
    }
    Ok(())
}

/// The records of the cached entry `name` for `key`, when there is one: `None` when there is
/// none, or when it was stored without the index entries this run keeps. With `entries`, the
/// entry's index entries are appended to it, checked as they are copied, and each record's
/// place points there.
fn read_parsed(
    cache: &Cache,
    key: &parsed::ParsedKey<'_>,
    name: &Sha256,
    repo: usize,
    entries: Option<&mut EntryWriter>,
) -> Result<Option<Vec<PackageRecord>>, parsed::ParsedError> {
    use parsed::ParsedError;
    let Some(mut file) = cache.open_parsed(name)? else { return Ok(None) };
    let mut head = [0u8; parsed::HEADER_BYTES];
    file.read_exact(&mut head).map_err(|_| ParsedError::Header)?;
    let header = parsed::read_header(key, &head)?;
    if header.records_len > parsed::ENTRY_BYTES {
        return Err(ParsedError::TooLarge(header.records_len));
    }
    let Some(w) = entries else {
        let body = parsed::Body::File { file: &file, start: parsed::HEADER_BYTES as u64 };
        let mut records = parsed::decode_records(&header, &body, repo)?;
        records.iter_mut().for_each(|r| r.entry = None);
        return Ok(Some(records));
    };
    // The index entries (they follow the records) are copied and checked on another thread
    // while the records decode, each reading the one open file at its own place.
    let (start, at) = (w.kept_len(), parsed::HEADER_BYTES as u64 + header.records_len);
    let (records, copied) = std::thread::scope(|s| {
        let copying = s.spawn(|| {
            let mut from = entries::ReadAt { file: &file, pos: at };
            w.append_checked(&mut from, header.entries_len, header.entries_digest())
        });
        let body = parsed::Body::File { file: &file, start: parsed::HEADER_BYTES as u64 };
        (parsed::decode_records(&header, &body, repo), copying.join().expect("copying does not panic"))
    });
    let with_entries = records.as_ref().is_ok_and(|r| r.iter().all(|r| r.entry.is_some()));
    let base = match copied {
        Ok(Some(base)) if with_entries => base,
        Ok(Some(_)) => {
            // Records that failed, or were stored without their index entries: none are kept.
            w.truncate(start).map_err(|_| ParsedError::Entries)?;
            return records.map(|_| None);
        }
        _ => return records.and(Err(ParsedError::Entries)),
    };
    let mut records = records?;
    for r in &mut records {
        if let Some(e) = &mut r.entry {
            e.start += base;
        }
    }
    Ok(Some(records))
}

/// The kept entries, ready to read back (an empty store when none were kept).
pub(crate) fn finish_entries(w: Option<EntryWriter>, what: &str) -> Result<EntryStore, RepoError> {
    let fail = |source| RepoError::Entries { url: what.to_string(), source };
    w.map(EntryWriter::finish).transpose().map_err(fail).map(Option::unwrap_or_default)
}

/// What a fetched metadata file must pass before it is used or cached: its digest, and that it
/// parses. Given the bytes and the URL they came from (for messages).
pub(crate) type Check<'c, T> = &'c dyn Fn(&[u8], &str) -> Result<T, RepoError>;

impl MetadataSource<'_> {
    /// The pinned keys of `repo`, or `None` when checks are skipped. A repository without keys
    /// is refused: nothing says who may publish it.
    pub(crate) fn keyring(&self, repo: &Repository) -> Result<Option<Keyring>, RepoError> {
        if !self.checks_signatures(repo)? {
            return Ok(None);
        }
        let ring = Keyring::load(&repo.keys).map_err(|error| RepoError::Keys { repo: repo.name.to_string(), error })?;
        Ok(Some(ring))
    }

    /// Whether `repo`'s signatures are checked; a repository without keys is refused.
    pub(crate) fn checks_signatures(&self, repo: &Repository) -> Result<bool, RepoError> {
        if self.signatures == Signatures::Skip {
            return Ok(false);
        }
        if repo.keys.is_empty() {
            return Err(RepoError::Unpinned { repo: repo.name.to_string() });
        }
        Ok(true)
    }

    fn cache_key(&self, repo: &str, rel: &str) -> String {
        format!("{}/{repo}/{rel}", self.distro)
    }

    /// The cached copy of `rel` when it has the digest its just-checked root index gives.
    fn cached_known(&self, repo: &str, rel: &str, max: u64, known: &Sha256) -> Option<Vec<u8>> {
        let cached = self.cache.and_then(|c| c.metadata(&self.cache_key(repo, rel), max));
        cached.filter(|b| Sha256::digest(b) == *known)
    }

    /// A file whose digest its (just fetched) root index gives, `check` confirming that digest
    /// on a fetched copy: a cached copy with that digest is the file, taken without asking any
    /// mirror or checking it again. Returns the bytes and where they came from.
    pub(crate) fn fetch_known(
        &self,
        repo: &str,
        mirrors: &mut Vec<MirrorUrl>,
        rel: &str,
        max: u64,
        known: &Sha256,
        check: Check<'_, ()>,
    ) -> Result<(Vec<u8>, String), RepoError> {
        if let Some(bytes) = self.cached_known(repo, rel, max, known) {
            return Ok((bytes, format!("{rel} (cached, unchanged)")));
        }
        self.fetch_checked(repo, mirrors, rel, max, check).map(|((), bytes, shown)| (bytes, shown))
    }

    /// Fetches `rel` (at most `max` bytes) from the first mirror whose copy passes `check`,
    /// moving that mirror to the front; a mirror whose copy fails, for any reason, is reported
    /// and the next one tried. Offline, the cached copy must pass the same check.
    pub(crate) fn fetch_checked<T>(
        &self,
        repo: &str,
        mirrors: &mut Vec<MirrorUrl>,
        rel: &str,
        max: u64,
        check: Check<'_, T>,
    ) -> Result<(T, Vec<u8>, String), RepoError> {
        let key = self.cache_key(repo, rel);
        if self.offline {
            let bytes = self
                .cache
                .and_then(|c| c.metadata(&key, max))
                .ok_or_else(|| RepoError::Offline { repo: repo.to_string(), rel: rel.to_string() })?;
            let shown = format!("{rel} (cached)");
            return Ok((check(&bytes, &shown)?, bytes, shown));
        }
        let served = crate::mirror::first_success(mirrors, rel, self.reporter, |root| {
            let url = join(root.as_str(), rel)?;
            let shown = redact(&url);
            let bytes = self.transport.get(&url, max, self.reporter)?;
            Ok::<_, RepoError>((check(&bytes, &shown)?, bytes, shown))
        });
        let (i, (t, bytes, shown)) = served.map_err(|failed| self.all_failed(repo, rel, failed))?;
        if let Some(c) = self.cache {
            c.put_metadata(&key, &bytes);
        }
        // The mirror that served goes first for the rest of this repository's files.
        let m = mirrors.remove(i);
        mirrors.insert(0, m);
        Ok((t, bytes, shown))
    }

    /// The error of a fetch of `rel` that every mirror failed.
    fn all_failed(&self, repo: &str, rel: &str, failed: Failures<RepoError>) -> RepoError {
        let (repo, what) = (repo.to_string(), rel.to_string());
        if !failed.each.is_empty() && failed.all(|e| matches!(e, RepoError::Signature { .. })) {
            let weak_only =
                failed.all(|e| matches!(e, RepoError::Signature { error: TrustError::WeakHash { .. }, .. }));
            return RepoError::Untrusted { repo, what, failures: failed, weak_only };
        }
        let not_found = failed.all(|e| matches!(e, RepoError::Transport(TransportError::NotFound { .. })));
        RepoError::AllMirrorsFailed { repo, what, failures: failed, not_found }
    }
}

/// A repository format: how its metadata loads, what its filter hides, and (as
/// [`moa_model::manifest::FamilyRules`]) what a manifest's repositories of it must say.
pub trait MetadataFormat: moa_model::manifest::FamilyRules + Sync {
    fn load(
        &self,
        source: &MetadataSource<'_>,
        repo: &Repository,
        repo_index: usize,
        arch: &Arch,
        reporter: &dyn Reporter,
        out: &mut Vec<PackageRecord>,
    ) -> Result<LoadedRepo, RepoError>;

    /// Hides what the format's own rules hide before anything is resolved (EL8+ modularity),
    /// given the manifest; by default nothing.
    fn filter(&self, _md: &mut Metadata, _manifest: &Manifest) -> Result<(), RepoError> {
        Ok(())
    }

    /// The files that make a bundle's top directory a repository in this format holding exactly
    /// `packages` — their published entries, with locations pointing into the bundle — as
    /// (path under the top directory, bytes). `epoch` is the bundle's fixed time, `label` names
    /// the bundle.
    fn local_repository(
        &self,
        packages: &[LocalPackage<'_>],
        epoch: u64,
        label: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, RepoError>;

    /// Reads such a repository back from an unpacked bundle's top directory `dir`: the packages
    /// it lists, with locations relative to `dir` (what the node's package manager would see).
    /// The repository must be exactly what [`MetadataFormat::local_repository`] writes for
    /// them with `bundle`'s epoch and label — every file byte for byte, and no other file under
    /// `repodata/` —, so the node's package manager reads nothing that was not checked.
    fn read_local_repository(
        &self,
        dir: &std::path::Path,
        arch: &Arch,
        bundle: LocalRepository<'_>,
    ) -> Result<Vec<PackageRecord>, RepoError>;
}

/// Loads every repository of the manifest: all at once (each is a chain of round trips to its
/// mirror), the records kept in manifest order, so the result does not depend on which answered
/// first. The first error, in manifest order, is returned.
pub(crate) fn load(
    manifest: &Manifest,
    format: &dyn MetadataFormat,
    source: &MetadataSource<'_>,
    reporter: &dyn Reporter,
) -> Result<Metadata, RepoError> {
    let loaded: Vec<Result<(LoadedRepo, Vec<PackageRecord>), RepoError>> = std::thread::scope(|s| {
        let handles: Vec<_> = manifest
            .repositories
            .iter()
            .enumerate()
            .map(|(i, repo)| {
                s.spawn(move || {
                    let mut records = Vec::new();
                    let loaded = format.load(source, repo, i, &manifest.arch, reporter, &mut records)?;
                    Ok((loaded, records))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a metadata thread does not panic")).collect()
    });
    let mut md = Metadata::default();
    for r in loaded {
        let (repo, records) = r?;
        md.repos.push(repo);
        take_or_extend(&mut md.packages, records);
    }
    format.filter(&mut md, manifest)?;
    // The vector doubled while growing; the records stay for the whole run.
    md.packages.shrink_to_fit();
    Ok(md)
}

/// Runs `parse` on what `input` yields, `input` being read on another thread (a decompressor):
/// the reading and the parsing overlap. A read error of `input` (a corrupt stream, the
/// decompressed-size bound) fails the whole, even where the parser took the cut-short stream
/// for a whole one.
pub(crate) fn pipelined<'a, T>(
    mut input: Box<dyn BufRead + Send + 'a>,
    url: &str,
    parse: impl FnOnce(Box<dyn BufRead + '_>) -> Result<T, RepoError>,
) -> Result<T, RepoError> {
    let Ok((reader, mut writer)) = std::io::pipe() else {
        return parse(input);
    };
    std::thread::scope(|s| {
        let feeder = s.spawn(move || std::io::copy(&mut input, &mut writer).map(drop));
        let parsed = parse(Box::new(BufReader::with_capacity(1 << 16, reader)));
        let fed = feeder.join().expect("the decompression thread does not panic");
        match (parsed, fed) {
            (Err(e), _) => Err(e),
            // The parser stopped reading once it had all it needs: nothing was lost.
            (Ok(t), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(t),
            (Ok(_), Err(e)) => {
                Err(RepoError::Malformed { url: url.to_string(), message: format!("could not decompress it: {e}") })
            }
            (Ok(t), Ok(())) => Ok(t),
        }
    })
}

/// Checks a downloaded metadata file against the digest its parent index gave.
pub(crate) fn check_digest(url: &str, bytes: &[u8], expected: &Sha256) -> Result<(), RepoError> {
    let actual = Sha256::digest(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(RepoError::Checksum { url: url.to_string(), expected: expected.to_hex(), actual: actual.to_hex() })
    }
}

/// A reader that decompresses by file name: `.gz`, `.xz`, `.zst`, or nothing; it ends (with an
/// error from the parser reading it) after `DECOMPRESSED_BYTES`.
pub fn decompressor<'a>(name: &str, url: &str, bytes: &'a [u8]) -> Result<Box<dyn BufRead + Send + 'a>, RepoError> {
    decompress(name, url, Box::new(bytes))
}

/// [`decompressor`] of what `input` reads.
pub(crate) fn decompress<'a>(
    name: &str,
    url: &str,
    input: Box<dyn Read + Send + 'a>,
) -> Result<Box<dyn BufRead + Send + 'a>, RepoError> {
    let bytes = input;
    let inner: Box<dyn Read + Send + 'a> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(bytes))
    } else if name.ends_with(".zst") {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(bytes).map_err(|e| RepoError::Malformed {
                url: url.to_string(),
                message: format!("not a zstd stream: {e}"),
            })?,
        )
    } else if name.ends_with(".bz2") {
        return Err(RepoError::Unsupported {
            url: url.to_string(),
            message: "bzip2-compressed metadata is not supported; the repository also needs a .gz, .xz or .zst copy"
                .into(),
        });
    } else {
        Box::new(bytes)
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, Bounded { inner, left: DECOMPRESSED_BYTES })))
}

/// A reader that fails, rather than ends, once more than `left` bytes came through.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(format!("it decompresses to more than {DECOMPRESSED_BYTES} bytes")))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that yields some bytes, then fails (a corrupt or over-long compressed file).
    struct FailsAfter(Vec<u8>);
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("corrupt deflate stream"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_on_the_feeding_thread_fails_the_parse_that_saw_a_clean_end() {
        let input = Box::new(BufReader::new(FailsAfter(b"<metadata/>".to_vec())));
        let read_all = |mut r: Box<dyn BufRead + '_>| {
            let mut s = String::new();
            r.read_to_string(&mut s).map_err(|e| RepoError::Malformed { url: "u".into(), message: e.to_string() })?;
            Ok(s)
        };
        let e = pipelined(input, "primary.xml.gz", read_all).unwrap_err().to_string();
        assert!(e.contains("primary.xml.gz") && e.contains("corrupt deflate stream"), "{e}");
        let ok = pipelined(Box::new(&b"<metadata/>"[..]), "u", read_all).unwrap();
        assert_eq!(ok, "<metadata/>");
    }

    /// The family's rules a manifest is checked against (`FamilyRules`), from the engine's backends.
    #[test]
    fn rpm_repository_without_path_is_refused() {
        let text = r#"
name = "x"
distro = "d"
family = "rpm"
arch = "x86_64"
os_release = { id = "centos", version_id = "7" }
packages = ["ntp"]
modules = ["nodejs:20"]
[[repository]]
name = "os"
mirrors = ["http://127.0.0.1/"]
"#;
        let m = moa_model::manifest::Manifest::parse(text, "t.toml").unwrap();
        let e = m.check_family(&crate::repo::yum::Yum).unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("`os`") && e.contains("path"), "{e}");
        // The same repository as apt's: it needs suites; and apt has no module streams.
        let e = m.check_family(&crate::repo::apt::Apt).unwrap_err().to_string();
        assert!(e.contains("suites"), "{e}");
        let mut m = m;
        m.repositories[0].suites = vec![moa_model::types::RepoPath::new("bookworm").unwrap()];
        m.repositories[0].components = vec![moa_model::types::RepoPath::new("main").unwrap()];
        let e = m.check_family(&crate::repo::apt::Apt).unwrap_err().to_string();
        assert!(e.contains("nodejs:20") && e.contains("EL8+"), "{e}");
    }
}
