//! yum/dnf repositories: `repodata/repomd.xml` names `primary.xml.{gz,xz,zst}` with its sha256;
//! primary is parsed streaming (the CentOS 7 base primary is 28 MB of XML) into records.
//!
//! Only what resolving and fetching need is kept: name, EVR, arch, location, size, sha256,
//! provides/requires/conflicts/obsoletes as `name [OP [E:]V[-R]]` strings, and the file list.

mod local;
mod primary;

pub use primary::{parse_primary, parse_primary_with};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{
    check_digest, decompressor, LoadedRepo, Metadata, MetadataFormat, MetadataSource, PackageRecord, RepoError, Source,
    FILE_BYTES, INDEX_BYTES,
};
use crate::report::Reporter;
use moa_model::manifest::{Manifest, Repository};
use moa_model::types::{Arch, Sha256};

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
