//! A bundle as a yum repository: `repodata/repomd.xml` names `repodata/primary.xml.gz`, whose
//! `<package>` elements are the upstream ones byte for byte except `<location>`, which points
//! at the bundle's `packages/<file>`. dnf and yum need primary only (no filelists or other):
//! their file requirements on `/etc` and `bin/` paths, the ones primary lists, still resolve.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::super::local::{as_written, check_exact, LocalRepository};
use super::super::{check_digest, decompressor, gzip, read_local, EntryWriter, LocalPackage, PackageRecord, RepoError};
use super::{parse_primary_with, parse_repomd};
use moa_model::types::{Arch, Sha256};

const REPOMD: &str = "repodata/repomd.xml";
const PRIMARY: &str = "repodata/primary.xml.gz";

pub(super) fn write(packages: &[LocalPackage<'_>], epoch: u64) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        packages.len()
    )
    .into_bytes();
    for p in packages {
        xml.extend(relocate(p.entry()?, &p.href).map_err(|message| RepoError::Malformed {
            url: p.href.clone(),
            message: format!("the primary entry of {}: {message}", p.record.nevra()),
        })?);
        xml.push(b'\n');
    }
    xml.extend_from_slice(b"</metadata>\n");
    let gz = gzip(&xml);
    let repomd = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>{epoch}</revision>
  <data type="primary">
    <checksum type="sha256">{gz_sha}</checksum>
    <open-checksum type="sha256">{xml_sha}</open-checksum>
    <location href="{PRIMARY}"/>
    <timestamp>{epoch}</timestamp>
    <size>{gz_len}</size>
    <open-size>{xml_len}</open-size>
  </data>
</repomd>
"#,
        gz_sha = Sha256::digest(&gz),
        xml_sha = Sha256::digest(&xml),
        gz_len = gz.len(),
        xml_len = xml.len(),
    );
    Ok(vec![(REPOMD.to_string(), repomd.into_bytes()), (PRIMARY.to_string(), gz)])
}

/// `entry` with its `<location …/>` element replaced by one naming `href` (any `xml:base` goes:
/// the package is in the bundle now).
fn relocate(entry: &[u8], href: &str) -> Result<Vec<u8>, String> {
    let mut r = Reader::from_reader(entry);
    let mut buf = Vec::new();
    loop {
        let start = r.buffer_position() as usize;
        let ev = r.read_event_into(&mut buf).map_err(|e| format!("not valid XML: {e}"))?;
        match ev {
            Event::Empty(e) if e.name().into_inner() == "location" => {
                let end = r.buffer_position() as usize;
                let element = format!("<location href=\"{}\"/>", quick_xml::escape::escape(href));
                return Ok([&entry[..start], element.as_bytes(), &entry[end..]].concat());
            }
            Event::Eof => return Err("it has no <location/>".into()),
            _ => {}
        }
        buf.clear();
    }
}

pub(super) fn read(dir: &Path, arch: &Arch, bundle: LocalRepository<'_>) -> Result<Vec<PackageRecord>, RepoError> {
    let repomd = read_local(dir, REPOMD, super::INDEX_BYTES)?;
    let url = dir.join(REPOMD).display().to_string();
    let primary = parse_repomd(&repomd, &url)?;
    let bytes = read_local(dir, &primary.href, super::FILE_BYTES)?;
    let url = dir.join(&primary.href).display().to_string();
    check_digest(&url, &bytes, &primary.sha256)?;
    let mut out = Vec::new();
    let mut entries = EntryWriter::new().map_err(|source| RepoError::Entries { url: url.clone(), source })?;
    parse_primary_with(decompressor(&primary.href, &url, &bytes)?, &url, 0, arch, Some(&mut entries), &mut out)?;
    check_exact(dir, &write(&as_written(&out, entries, &url)?, bundle.epoch)?)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "<package type=\"rpm\">\n  <name>a&amp;b</name>\n  <arch>x86_64</arch>\n  <location xml:base=\"http://x/\" href=\"Packages/a/a-1-1.x86_64.rpm\"/>\n  <format><rpm:license>MIT</rpm:license></format>\n</package>";

    #[test]
    fn only_the_location_changes() {
        let out = relocate(ENTRY.as_bytes(), "packages/a-1-1.x86_64.rpm").unwrap();
        let want = ENTRY.replace(
            "<location xml:base=\"http://x/\" href=\"Packages/a/a-1-1.x86_64.rpm\"/>",
            "<location href=\"packages/a-1-1.x86_64.rpm\"/>",
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert!(relocate(b"<package><name>a</name></package>", "x").unwrap_err().contains("no <location"));
    }
}
