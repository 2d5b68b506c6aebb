//! yum/dnf repositories: `repodata/repomd.xml` names `primary.xml.{gz,xz,zst}` with its sha256;
//! primary is parsed streaming (the CentOS 7 base primary is 28 MB of XML) into records.
//!
//! Only what resolving and fetching need is kept: name, EVR, arch, location, size, sha256,
//! provides/requires/conflicts/obsoletes as `name [OP [E:]V[-R]]` strings, and the file list.

mod local;

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{
    check_digest, decompressor, LoadedRepo, Metadata, MetadataFormat, MetadataSource, PackageRecord, RecordFields,
    RepoError, Source, FILE_BYTES, INDEX_BYTES,
};
use crate::report::Reporter;
use moa_model::manifest::{Manifest, Repository};
use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::{Evr, Version};

/// The yum repository format.
pub struct Yum;

/// Whether a node of `target` takes packages of `arch` (never i686 on x86_64: no multilib).
fn installs_on(arch: &str, target: &Arch) -> bool {
    moa_model::arch::ArchModel::installs_on(&moa_model::arch::RpmArch, arch, target.as_str())
}

/// What `repomd.xml` says about the primary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryRef {
    pub href: String,
    pub sha256: Sha256,
    pub timestamp: Option<u64>,
}

impl moa_model::manifest::FamilyRules for Yum {
    fn check_repository(&self, r: &Repository) -> Result<(), String> {
        if r.path.is_none() || !r.suites.is_empty() || !r.components.is_empty() {
            return Err(
                "an rpm repository needs `path` (e.g. \"7.9.2009/os/x86_64\") and no `suites` or `components`".into()
            );
        }
        Ok(())
    }
    fn has_modules(&self) -> bool {
        true
    }
    fn has_groups(&self) -> bool {
        true
    }
}

impl MetadataFormat for Yum {
    fn load(
        &self,
        source: &MetadataSource<'_>,
        repo: &Repository,
        repo_index: usize,
        arch: &Arch,
        reporter: &dyn Reporter,
        out: &mut Vec<PackageRecord>,
    ) -> Result<LoadedRepo, RepoError> {
        // `.` is the mirror's root (a mounted DVD); `$basearch` is the build's arch, as in yum.
        let base_path =
            repo.path.as_ref().map(|p| p.with_basearch(arch.as_str())).filter(|p| p != ".").unwrap_or_default();
        let name = repo.name.as_str();
        let mut mirrors = repo.mirrors.clone();
        reporter.status(&format!("{name}: fetching repodata/repomd.xml"));
        let rel = format!("{base_path}/repodata/repomd.xml");
        let (primary, repomd, _) = source.fetch_checked(name, &mut mirrors, &rel, INDEX_BYTES, &parse_repomd)?;
        // The pinned keys are read only when a signature is there to check (CentOS 7 publishes
        // none): parsing a key checks its self-signatures, about 1 ms of RSA for each repository.
        let keyring = std::cell::OnceCell::new();
        let signed_by = match source.checks_signatures(repo)? {
            true => repomd_signature(source, repo, &mut mirrors, &rel, &repomd, &keyring)?,
            false => None,
        };
        let rel = format!("{base_path}/{}", primary.href);
        let before = out.len();
        let mut entries = source.entry_writer(&rel)?;
        let key = super::parsed::ParsedKey { format: "yum-primary", arch, index: &primary.sha256 };
        super::cached_or_parsed(source, &key, (repo_index, &rel), out, entries.as_mut(), |out, keep| {
            // Only when the parsed-index cache has no entry: else primary is not read at all.
            reporter.status(&format!("{name}: fetching {}", primary.href));
            let (mut index, url) =
                source.fetch_index_file(name, &mut mirrors, &rel, (FILE_BYTES, None), &primary.sha256)?;
            // Decompression on its own thread, feeding the parser through a pipe: the two halves
            // of loading a 52 MB primary run on two cores instead of one after the other.
            let input = super::decompress(&primary.href, &url, index.reader())?;
            super::pipelined(input, &url, |r| parse_primary_with(r, &url, repo_index, arch, keep, out))
        })?;
        let entries = super::finish_entries(entries, &rel)?;
        reporter.status(&format!("{name}: {} packages for {arch}", out.len() - before));
        let modules_ref = parse_modules_ref(&repomd, &rel)?;
        let modules_href = modules_ref.as_ref().map(|m| m.href.clone());
        let modules = match &modules_ref {
            Some(m) => Some(fetch_modules(source, name, &mut mirrors, &base_path, m)?),
            None => None,
        };
        let groups = match parse_data(&repomd, &rel, "group")? {
            Some(g) => Some(fetch_groups(source, name, &mut mirrors, &base_path, &g)?),
            None => None,
        };
        Ok(LoadedRepo {
            name: name.to_string(),
            mirrors,
            base_path,
            sources: [
                Some(Source {
                    file: "repodata/repomd.xml".into(),
                    sha256: Sha256::digest(&repomd),
                    signed_by: signed_by.clone(),
                }),
                Some(Source { file: primary.href.clone(), sha256: primary.sha256, signed_by: signed_by.clone() }),
                modules.as_ref().map(|(_, sha)| Source {
                    file: modules_href.clone().unwrap_or_default(),
                    sha256: *sha,
                    signed_by: signed_by.clone(),
                }),
                groups.as_ref().map(|(_, href, sha)| Source { file: href.clone(), sha256: *sha, signed_by }),
            ]
            .into_iter()
            .flatten()
            .collect(),
            timestamp: primary.timestamp,
            modules: modules.map(|(m, _)| m),
            groups: groups.map(|(g, _, _)| g),
            entries,
        })
    }

    fn local_repository(
        &self,
        packages: &[super::LocalPackage<'_>],
        epoch: u64,
        _label: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
        local::write(packages, epoch)
    }

    fn read_local_repository(
        &self,
        dir: &std::path::Path,
        arch: &Arch,
        bundle: super::LocalRepository<'_>,
    ) -> Result<Vec<PackageRecord>, RepoError> {
        local::read(dir, arch, bundle)
    }

    /// EL8+ modularity over every repository's `modules.yaml`, with the manifest's `modules`.
    fn filter(&self, md: &mut Metadata, manifest: &Manifest) -> Result<(), RepoError> {
        let mut all = super::modules::Modules::default();
        for r in &md.repos {
            if let Some(m) = &r.modules {
                all.streams.extend(m.streams.iter().cloned());
                all.defaults.extend(m.defaults.clone());
            }
        }
        let enabled: Vec<(String, String)> =
            manifest.modules.iter().map(|m| (m.name.to_string(), m.stream.to_string())).collect();
        let platform = manifest.os_release.platform.as_ref().map(|p| p.as_str());
        md.hidden = super::modules::filter(md, &all, &enabled, platform)
            .map_err(|message| RepoError::Modules { distro: manifest.distro.to_string(), message })?;
        (md.group_roots, md.missing_groups) = group_roots(md, manifest);
        Ok(())
    }
}

/// The members of the manifest's base groups, from every repository's comps (a group may be
/// split across BaseOS and AppStream, as EL9's `core` is), and the groups no comps has (an
/// error where the base is used: not with `--no-base` or `--target`).
fn group_roots(md: &Metadata, manifest: &Manifest) -> (Vec<String>, Vec<String>) {
    let (mut roots, mut missing) = (Vec::new(), Vec::new());
    for g in &manifest.base.groups {
        let mut found = false;
        for members in md.repos.iter().filter_map(|r| r.groups.as_ref()?.get(g.as_str())) {
            found = true;
            roots.extend(members.iter().cloned());
        }
        if !found {
            missing.push(g.to_string());
        }
    }
    roots.sort();
    roots.dedup();
    (roots, missing)
}

/// A repository's comps (`group` in repomd), checked against repomd's digest, parsed; with its
/// path and digest for the bundle's sources.
fn fetch_groups(
    source: &MetadataSource<'_>,
    name: &str,
    mirrors: &mut Vec<moa_model::types::MirrorUrl>,
    base_path: &str,
    g: &PrimaryRef,
) -> Result<(super::comps::Groups, String, Sha256), RepoError> {
    source.reporter.status(&format!("{name}: fetching {}", g.href));
    let rel = format!("{base_path}/{}", g.href);
    let digest = |b: &[u8], url: &str| check_digest(url, b, &g.sha256);
    let (bytes, url) = source.fetch_known(name, mirrors, &rel, FILE_BYTES, &g.sha256, &digest)?;
    let mut xml = Vec::new();
    std::io::Read::read_to_end(&mut decompressor(&g.href, &url, &bytes)?, &mut xml)
        .map_err(|e| malformed(&url, format!("could not read comps: {e}")))?;
    Ok((super::comps::parse_groups(&xml, &url)?, g.href.clone(), g.sha256))
}

/// A repository's `modules.yaml(.xz|.zst|.gz)`, checked against repomd's digest, parsed.
fn fetch_modules(
    source: &MetadataSource<'_>,
    name: &str,
    mirrors: &mut Vec<moa_model::types::MirrorUrl>,
    base_path: &str,
    m: &PrimaryRef,
) -> Result<(super::modules::Modules, Sha256), RepoError> {
    source.reporter.status(&format!("{name}: fetching {}", m.href));
    let rel = format!("{base_path}/{}", m.href);
    let digest = |b: &[u8], url: &str| check_digest(url, b, &m.sha256);
    let (bytes, url) = source.fetch_known(name, mirrors, &rel, FILE_BYTES, &m.sha256, &digest)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut decompressor(&m.href, &url, &bytes)?, &mut text)
        .map_err(|e| malformed(&url, format!("modules.yaml is not UTF-8 text: {e}")))?;
    Ok((super::modules::parse_modules(&text, &url)?, m.sha256))
}

/// `repomd.xml.asc` checked against the pinned keys. A repository that publishes none (CentOS 7
/// does not) is accepted unless the manifest says `metadata_signed`: its packages' header
/// signatures, checked at fetch time, are what make it trusted, as with dnf's `gpgcheck`.
fn repomd_signature(
    source: &MetadataSource<'_>,
    repo: &Repository,
    mirrors: &mut Vec<moa_model::types::MirrorUrl>,
    repomd_rel: &str,
    repomd: &[u8],
    keyring: &std::cell::OnceCell<crate::trust::Keyring>,
) -> Result<Option<crate::trust::Fingerprint>, RepoError> {
    let rel = format!("{repomd_rel}.asc");
    let check = |sig: &[u8], url: &str| {
        let keyring = match keyring.get() {
            Some(k) => k,
            None => {
                let ring = source.keyring(repo)?.unwrap_or_default();
                keyring.get_or_init(|| ring)
            }
        };
        keyring.verify_detached(url, repomd, sig).map_err(|error| RepoError::Signature { url: url.to_string(), error })
    };
    match source.fetch_checked(repo.name.as_str(), mirrors, &rel, moa_model::limits::SIGNATURE_BYTES, &check) {
        Ok((who, _, _)) => Ok(Some(who.key)),
        Err(e) if e.is_not_found() && !repo.metadata_signed => {
            source.reporter.status(&format!("{}: no repomd.xml.asc: package signatures carry the trust", repo.name));
            Ok(None)
        }
        // An optional signature made with a hash too weak to judge (SHA-1, as 2015-era repository
        // signing did) proves nothing either way: it counts as absent, never as good. The
        // packages' own signatures, always required, carry the trust.
        Err(
            RepoError::Untrusted { weak_only: true, .. }
            | RepoError::Signature { error: crate::trust::TrustError::WeakHash { .. }, .. },
        ) if !repo.metadata_signed => {
            source.reporter.status(&format!(
                "{}: repomd.xml.asc is signed with a hash weaker than SHA-224: ignored, package signatures carry the trust",
                repo.name
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn malformed(url: &str, message: impl Into<String>) -> RepoError {
    RepoError::Malformed { url: url.to_string(), message: message.into() }
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.into_inner() == key)
        .and_then(|a| value(a).map(|v| v.into_owned()))
}

/// An attribute's value as XML reads it: entities resolved and whitespace normalized, which
/// only a value holding `&` or a tab, CR or LF needs (createrepo writes neither in names and
/// versions): the rest is borrowed as it is.
fn value(a: quick_xml::events::attributes::Attribute<'_>) -> Option<std::borrow::Cow<'_, str>> {
    if a.value.contains(['&', '\t', '\n', '\r']) {
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| std::borrow::Cow::Owned(v.into_owned()))
    } else {
        Some(a.value)
    }
}

/// Finds the primary entry of `repomd.xml`.
pub fn parse_repomd(xml: &[u8], url: &str) -> Result<PrimaryRef, RepoError> {
    parse_data(xml, url, "primary")?
        .ok_or_else(|| malformed(url, "repomd.xml has no <data type=\"primary\"> with a location"))
}

/// The `modules` entry of `repomd.xml` (EL8 and later), when there is one.
pub fn parse_modules_ref(xml: &[u8], url: &str) -> Result<Option<PrimaryRef>, RepoError> {
    parse_data(xml, url, "modules")
}

/// The `<data type="KIND">` entry of `repomd.xml`: its location, sha256 and timestamp.
fn parse_data(xml: &[u8], url: &str, kind: &str) -> Result<Option<PrimaryRef>, RepoError> {
    let mut r = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let (mut in_primary, mut field, mut text) = (false, "", String::new());
    let (mut href, mut sum, mut sum_type, mut ts) = (None, None, None, None);
    loop {
        buf.clear();
        let ev = r.read_event_into(&mut buf).map_err(|e| malformed(url, format!("not valid XML: {e}")))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.name().into_inner();
                let empty = matches!(ev, Event::Empty(_));
                if name == "data" {
                    in_primary = attr(e, "type").as_deref() == Some(kind);
                } else if in_primary && name == "location" {
                    href = attr(e, "href");
                } else if in_primary && name == "checksum" && !empty {
                    sum_type = attr(e, "type");
                    field = "checksum";
                    text.clear();
                } else if in_primary && name == "timestamp" && !empty {
                    field = "timestamp";
                    text.clear();
                }
            }
            Event::Text(t) if !field.is_empty() => text.push_str(&t.xml10_content()),
            Event::End(e) => {
                let name = e.name().into_inner();
                if name == "data" && in_primary {
                    break;
                }
                match (field, name) {
                    ("checksum", "checksum") => sum = Some(text.trim().to_string()),
                    ("timestamp", "timestamp") => ts = text.trim().parse::<f64>().ok().map(|t| t as u64),
                    _ => {}
                }
                field = "";
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(href) = href else { return Ok(None) };
    if moa_model::types::RepoPath::new(&href).is_err() {
        let href = moa_model::types::shown(&href);
        return Err(malformed(url, format!("{kind} location `{href}` is not a plain path inside the repository")));
    }
    let sum = sum.ok_or_else(|| malformed(url, format!("the {kind} entry has no checksum")))?;
    match sum_type.as_deref() {
        Some("sha256") => {}
        other => {
            return Err(RepoError::Unsupported {
                url: url.to_string(),
                message: format!(
                    "the {kind} checksum is {}, moa-bundle checks sha256 only: regenerate the repository with createrepo_c (default sha256)",
                    other.unwrap_or("untyped")
                ),
            })
        }
    }
    let sha256 = Sha256::from_hex(&sum).map_err(|e| malformed(url, e.to_string()))?;
    Ok(Some(PrimaryRef { href, sha256, timestamp: ts }))
}

#[derive(Default)]
struct Builder {
    name: String,
    arch: String,
    epoch: u64,
    ver: String,
    rel: Option<String>,
    checksum_type: String,
    checksum: String,
    size: u64,
    location: String,
    provides: Vec<String>,
    requires: Vec<String>,
    pre: Vec<String>,
    conflicts: Vec<String>,
    obsoletes: Vec<String>,
    files: Vec<String>,
    license: Option<String>,
    source_rpm: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Text {
    None,
    Name,
    Arch,
    Checksum,
    File,
    License,
    SourceRpm,
}

#[derive(Clone, Copy, PartialEq)]
enum DepList {
    None,
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
}

/// Whether createrepo lists `path` in primary.xml (the rest is only in filelists.xml): files in
/// `/etc`, in any `bin/` directory, and `/usr/lib/sendmail`.
pub fn primary_lists_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// `name`, or `name OP [E:]V[-R]` from an `rpm:entry` element, and whether it is marked
/// `pre="1"`. One pass over the attributes, borrowing their values (most of primary's bulk is
/// these elements): the entry's own string is the only allocation.
fn entry_string(e: &BytesStart<'_>) -> Option<(String, bool)> {
    let (mut name, mut flags, mut epoch, mut ver, mut rel, mut pre) = (None, None, None, None, None, false);
    // Duplicate attributes are not checked for: a repeated one simply wins, as in attr().
    for a in e.attributes().with_checks(false).flatten() {
        let slot = match a.key.into_inner() {
            "name" => &mut name,
            "flags" => &mut flags,
            "epoch" => &mut epoch,
            "ver" => &mut ver,
            "rel" => &mut rel,
            "pre" => {
                pre = a.value.as_ref() == "1";
                continue;
            }
            _ => continue,
        };
        *slot = value(a);
    }
    let name = name?;
    let op = match flags.as_deref() {
        Some("EQ") => "=",
        Some("LT") => "<",
        Some("LE") => "<=",
        Some("GT") => ">",
        Some("GE") => ">=",
        _ => return Some((name.into_owned(), pre)),
    };
    let mut s = String::with_capacity(name.len() + 24);
    s.push_str(&name);
    s.push(' ');
    s.push_str(op);
    s.push(' ');
    if let Some(ep) = epoch {
        s.push_str(&ep);
        s.push(':');
    }
    s.push_str(ver.as_deref().unwrap_or_default());
    if let Some(rel) = rel {
        s.push('-');
        s.push_str(&rel);
    }
    Some((s, pre))
}

/// Parses primary XML, keeping packages of an architecture a `target` node installs.
pub fn parse_primary(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    target: &Arch,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    parse_primary_with(input, url, repo_index, target, None, out)
}

/// The input of the primary parser, which can keep a copy of what the parser consumes: the
/// bytes of one `<package>` element exactly as published, without a second pass.
struct Recorder<'e, R> {
    inner: R,
    /// Where kept elements go, when they are kept.
    entries: Option<&'e mut super::EntryWriter>,
    /// Whether an element is being recorded.
    on: bool,
}

impl<R: BufRead> std::io::Read for Recorder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Recorder<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        if let (true, Some(e)) = (self.on, self.entries.as_mut()) {
            if let Ok(b) = self.inner.fill_buf() {
                e.extend(&b[..n.min(b.len())]);
            }
        }
        self.inner.consume(n)
    }
}

/// [`parse_primary`], keeping each package's `<package>` element in `entries` (its place in
/// [`PackageRecord::entry`]) when given.
pub fn parse_primary_with(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    target: &Arch,
    entries: Option<&mut super::EntryWriter>,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    let mut r = Reader::from_reader(Recorder { inner: input, entries, on: false });
    let mut buf = Vec::with_capacity(4096);
    let mut pkg: Option<Builder> = None;
    let (mut text_field, mut list, mut text) = (Text::None, DepList::None, String::new());
    let mut packer = crate::repo::record::TextPacker::default();
    loop {
        buf.clear();
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| malformed(url, format!("not valid primary XML near byte {}: {e}", r.buffer_position())))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = e.name().into_inner();
                if name == "package" {
                    pkg = (attr(e, "type").as_deref() != Some("srpm") && !empty).then(Builder::default);
                    let rec = r.get_mut();
                    if let (Some(entries), true) = (rec.entries.as_mut(), pkg.is_some()) {
                        // The start tag is consumed already: it is the event's own bytes.
                        entries.begin(b"<");
                        entries.extend(e.as_bytes());
                        entries.extend(b">");
                        rec.on = true;
                    }
                    continue;
                }
                let Some(p) = pkg.as_mut() else { continue };
                match name {
                    "name" if !empty => text_field = Text::Name,
                    "arch" if !empty => text_field = Text::Arch,
                    "checksum" if !empty => {
                        p.checksum_type = attr(e, "type").unwrap_or_default();
                        text_field = Text::Checksum;
                    }
                    "file" if !empty => text_field = Text::File,
                    "rpm:license" if !empty => text_field = Text::License,
                    "rpm:sourcerpm" if !empty => text_field = Text::SourceRpm,
                    "version" => {
                        p.epoch = attr(e, "epoch").and_then(|s| s.parse().ok()).unwrap_or(0);
                        p.ver = attr(e, "ver").unwrap_or_default();
                        p.rel = attr(e, "rel");
                    }
                    "size" => p.size = attr(e, "package").and_then(|s| s.parse().ok()).unwrap_or(0),
                    "location" => p.location = attr(e, "href").unwrap_or_default(),
                    "rpm:provides" => list = DepList::Provides,
                    "rpm:requires" => list = DepList::Requires,
                    "rpm:conflicts" => list = DepList::Conflicts,
                    "rpm:obsoletes" => list = DepList::Obsoletes,
                    "rpm:entry" => {
                        let Some((s, pre)) = entry_string(e) else { continue };
                        match list {
                            DepList::Provides => p.provides.push(s),
                            DepList::Requires => {
                                if s.starts_with("rpmlib(") {
                                    continue;
                                }
                                if pre {
                                    p.pre.push(s.clone());
                                }
                                if !p.requires.contains(&s) {
                                    p.requires.push(s);
                                }
                            }
                            DepList::Conflicts => p.conflicts.push(s),
                            DepList::Obsoletes => p.obsoletes.push(s),
                            DepList::None => {}
                        }
                    }
                    _ => {}
                }
                if text_field != Text::None {
                    text.clear();
                }
            }
            Event::Text(t) if text_field != Text::None => text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if text_field != Text::None => {
                if let Ok(Some(c)) = g.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&g.into_inner()) {
                    text.push_str(s);
                }
            }
            Event::End(e) => {
                let name = e.name().into_inner();
                if name == "package" {
                    let rec = r.get_mut();
                    rec.on = false;
                    if let Some(p) = pkg.take() {
                        if installs_on(&p.arch, target) {
                            let (mut record, fields) = finish(p, url, repo_index)?;
                            if let Some(entries) = rec.entries.as_mut() {
                                let kept = entries.keep();
                                let kept =
                                    kept.map_err(|source| RepoError::Entries { url: url.to_string(), source })?;
                                record.entry = Some(kept);
                            }
                            let bad = |e: crate::repo::record::TextTooLarge| malformed(url, e.to_string());
                            packer.push(out, record, &fields.parts()).map_err(bad)?;
                        }
                    }
                    continue;
                }
                if name.starts_with("rpm:") && name != "rpm:entry" {
                    list = DepList::None;
                }
                if let Some(p) = pkg.as_mut() {
                    let value = std::mem::take(&mut text);
                    match (text_field, name) {
                        (Text::Name, "name") => p.name = value,
                        (Text::Arch, "arch") => p.arch = value,
                        (Text::Checksum, "checksum") => p.checksum = value,
                        (Text::File, "file") => p.files.push(value),
                        (Text::License, "rpm:license") => p.license = Some(value),
                        (Text::SourceRpm, "rpm:sourcerpm") => p.source_rpm = Some(value),
                        _ => {}
                    }
                }
                text_field = Text::None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    packer.settle(out);
    Ok(())
}

/// The record of a `<package>` element and its text fields (its own text left empty).
fn finish(p: Builder, url: &str, repo: usize) -> Result<(PackageRecord, RecordFields), RepoError> {
    // Named only when something is wrong: 17,649 packages are right.
    let what = || format!("package `{}-{}-{}.{}`", p.name, p.ver, p.rel.as_deref().unwrap_or(""), p.arch);
    let bad = |m: String| malformed(url, format!("{}: {m}", what()));
    if p.checksum_type != "sha256" {
        return Err(RepoError::Unsupported {
            url: url.to_string(),
            message: format!("{} has a `{}` checksum; moa-bundle verifies sha256 only", what(), p.checksum_type),
        });
    }
    let location = p.location.trim_start_matches("./").to_string();
    if !moa_model::types::is_repo_path(&location) {
        let location = moa_model::types::shown(&location);
        return Err(bad(format!("location `{location}` is not a plain path inside the repository")));
    }
    moa_model::types::safe_file_name(location.rsplit('/').next().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let list = |field: &str, v: &[String]| crate::repo::DepList::checked(field, v).map_err(&bad);
    let text = RecordFields {
        location,
        provides: list("provides", &p.provides)?,
        requires: list("requires", &p.requires)?,
        pre_requires: list("requires(pre)", &p.pre)?,
        conflicts: list("conflicts", &p.conflicts)?,
        files: list("file", &p.files)?,
        obsoletes: list("obsoletes", &p.obsoletes)?,
        source_rpm: p.source_rpm.filter(|s| moa_model::types::is_line(s, 256) && !s.is_empty()).map(Into::into),
        license: p.license.filter(|s| moa_model::types::is_line(s, 1024) && !s.is_empty()).map(Into::into),
        ..RecordFields::default()
    };
    let record = PackageRecord {
        name: PackageName::new(&p.name).map_err(|e| bad(e.to_string()))?,
        version: Version::Rpm(Evr::new(p.epoch, &p.ver, p.rel.as_deref()).map_err(|e| bad(e.to_string()))?),
        arch: Arch::new(&p.arch).map_err(|e| bad(e.to_string()))?,
        repo,
        size: p.size,
        sha256: Sha256::from_hex(&p.checksum).map_err(|e| bad(e.to_string()))?,
        text: Default::default(),
        priority: None,
        essential: false,
        multi_arch: Default::default(),
        entry: None,
    };
    Ok((record, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="filelists">
    <checksum type="sha256">1111111111111111111111111111111111111111111111111111111111111111</checksum>
    <location href="repodata/x-filelists.xml.gz"/>
  </data>
  <data type="primary">
    <checksum type="sha256">2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e</checksum>
    <open-checksum type="sha256">310c1dd3974815282998dd1acb0b2c14c934ad19e196e16956531d57efac86c4</open-checksum>
    <location href="repodata/2b47-primary.xml.gz"/>
    <timestamp>1587512243</timestamp>
  </data>
</repomd>"#;

    #[test]
    fn repomd_names_primary_with_its_digest() {
        let p = parse_repomd(REPOMD.as_bytes(), "u").unwrap();
        assert_eq!(p.href, "repodata/2b47-primary.xml.gz");
        assert_eq!(p.sha256.to_hex(), "2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e");
        assert_eq!(p.timestamp, Some(1587512243));
    }

    #[test]
    fn repomd_with_sha1_is_refused_clearly() {
        let text = REPOMD.replace("type=\"sha256\">2b47", "type=\"sha1\">2b47");
        let e = parse_repomd(text.as_bytes(), "http://m/repomd.xml").unwrap_err().to_string();
        assert!(e.contains("sha1") && e.contains("http://m/repomd.xml"), "{e}");
    }

    #[test]
    fn primary_entries_keep_flags_versions_files_and_skip_other_arches() {
        let xml = r#"<metadata packages="2">
<package type="rpm"><name>ntp</name><arch>x86_64</arch><version epoch="0" ver="4.2.6p5" rel="29.el7"/>
<checksum type="sha256" pkgid="YES">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum>
<summary>a &lt;b&gt;</summary><size package="561812" installed="1" archive="2"/><location href="Packages/ntp-4.2.6p5-29.el7.x86_64.rpm"/>
<format><rpm:provides><rpm:entry name="ntp" flags="EQ" epoch="0" ver="4.2.6p5" rel="29.el7"/></rpm:provides>
<rpm:requires><rpm:entry name="rpmlib(CompressedFileNames)" flags="LE" epoch="0" ver="3.0.4" rel="1"/>
<rpm:entry name="/bin/sh"/><rpm:entry name="/bin/sh" pre="1"/><rpm:entry name="ntpdate" flags="EQ" epoch="0" ver="4.2.6p5" rel="29.el7"/></rpm:requires>
<file>/usr/sbin/ntpd</file><file>/etc/a&amp;b</file></format></package>
<package type="rpm"><name>glibc</name><arch>i686</arch><version epoch="0" ver="2.17" rel="317.el7"/>
<checksum type="sha256">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum><location href="Packages/glibc.i686.rpm"/></package>
</metadata>"#;
        let mut out = Vec::new();
        parse_primary(Box::new(xml.as_bytes()), "u", 0, &Arch::new("x86_64").unwrap(), &mut out).unwrap();
        assert_eq!(out.len(), 1, "the i686 package is not for an x86_64 node");
        let p = &out[0];
        assert_eq!(p.name.as_str(), "ntp");
        assert_eq!(p.version.to_string(), "4.2.6p5-29.el7");
        assert_eq!(p.size, 561812);
        assert_eq!(p.requires().to_vec(), vec!["/bin/sh", "ntpdate = 0:4.2.6p5-29.el7"]);
        assert_eq!(p.pre_requires().to_vec(), vec!["/bin/sh"]);
        assert_eq!(p.files().to_vec(), vec!["/usr/sbin/ntpd", "/etc/a&b"]);
        assert_eq!(p.file_name(), "ntp-4.2.6p5-29.el7.x86_64.rpm");
    }

    /// Attribute values are borrowed as they are unless they hold an entity or a tab, CR or
    /// LF; those are read as XML says (entities resolved), and a newline that results is still
    /// refused.
    #[test]
    fn entry_attributes_with_entities_are_resolved() {
        let pkg = |entry: &str| {
            format!(
                r#"<metadata><package type="rpm"><name>x</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
<checksum type="sha256">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum><location href="x-1-1.noarch.rpm"/>
<format><rpm:requires>{entry}</rpm:requires></format></package></metadata>"#
            )
        };
        let parse = |xml: String| {
            let mut out = Vec::new();
            parse_primary(Box::new(std::io::Cursor::new(xml)), "u", 0, &Arch::new("x86_64").unwrap(), &mut out)
                .map(|_| out)
        };
        let out =
            parse(pkg(r#"<rpm:entry name="lib&#46;so.1&amp;x" flags="GE" epoch="0" ver="1&#46;2" rel="3"/>"#)).unwrap();
        assert_eq!(out[0].requires().to_vec(), ["lib.so.1&x >= 0:1.2-3"]);
        let e = parse(pkg(r#"<rpm:entry name="a&#10;b"/>"#)).unwrap_err().to_string();
        assert!(e.contains("control character"), "{e}");
    }

    /// Found by the `primary` fuzz target: a newline (`&#10;`) inside an entry split it in two
    /// once stored, which would let a mirror add a requirement or a provide.
    #[test]
    fn entries_with_control_characters_are_refused() {
        let xml = r#"<metadata><package type="rpm"><name>x</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
<checksum type="sha256">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum><location href="x-1-1.noarch.rpm"/>
<format><file>/usr/bin/a&#10;/etc/shadow</file><file>/usr/bin/caf&#233;</file></format></package></metadata>"#;
        let mut out = Vec::new();
        let e = parse_primary(Box::new(xml.as_bytes()), "u", 0, &Arch::new("x86_64").unwrap(), &mut out).unwrap_err();
        assert!(e.to_string().contains("control character") && e.to_string().contains("file entry"), "{e}");
    }

    #[test]
    fn locations_that_escape_are_refused() {
        let xml = r#"<metadata><package type="rpm"><name>x</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
<checksum type="sha256">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum><location href="../../etc/passwd"/></package></metadata>"#;
        let mut out = Vec::new();
        let e = parse_primary(Box::new(xml.as_bytes()), "u", 0, &Arch::new("x86_64").unwrap(), &mut out).unwrap_err();
        assert!(e.to_string().contains("not a plain path inside the repository"), "{e}");
    }
}
