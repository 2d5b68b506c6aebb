//! A bundle as an apt flat repository: `repodata/Packages.gz` holds the upstream stanzas of the
//! bundled packages as published, except `Filename`, which points at the bundle's
//! `packages/<file>` (a flat repository's file names are relative to its URI, the bundle's top
//! directory); `repodata/Release` lists it with its sha256. The source line is
//! `deb [trusted=yes] file:<top> repodata/`: the Release is not signed — the bundle was
//! verified as a whole before, and apt still checks each .deb against the stanza's SHA256,
//! which is the one the upstream signed index gave.

use std::path::Path;

use super::super::local::{as_written, check_exact, LocalRepository};
use super::super::{check_digest, decompressor, gzip, read_local, EntryWriter, LocalPackage, PackageRecord, RepoError};
use super::{parse_packages_with, parse_release};
use moa_model::types::{Arch, Sha256};

const RELEASE: &str = "repodata/Release";
const PACKAGES: &str = "Packages.gz";

pub(super) fn write(
    packages: &[LocalPackage<'_>],
    epoch: u64,
    label: &str,
) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
    write_dated(packages, epoch, label, true)
}

/// [`write`], its Release `Date` with the weekday RFC 2822 wants (apt warns "Invalid 'Date'
/// entry" without it), or without it as moa-bundle wrote it before 0.1 bundles had it.
fn write_dated(
    packages: &[LocalPackage<'_>],
    epoch: u64,
    label: &str,
    weekday: bool,
) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
    let mut text = String::new();
    for p in packages {
        if !text.is_empty() {
            text.push('\n');
        }
        let stanza = std::str::from_utf8(p.entry()?).map_err(|_| RepoError::Malformed {
            url: p.href.clone(),
            message: format!("the stanza of {} is not UTF-8", p.record.nevra()),
        })?;
        text.push_str(&relocate(stanza, &p.href));
    }
    let gz = gzip(text.as_bytes());
    let (y, m, d, hh, mm, ss) = moa_model::types::utc(epoch);
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m as usize - 1];
    // 1 January 1970 was a Thursday.
    let day = ["Thu, ", "Fri, ", "Sat, ", "Sun, ", "Mon, ", "Tue, ", "Wed, "][(epoch / 86_400 % 7) as usize];
    let day = if weekday { day } else { "" };
    // The uncompressed index is listed though only the .gz is shipped, as Debian's archives do:
    // apt looks for the plain name in Release before it tries compressed ones.
    let release = format!(
        "Origin: moa-bundle\nLabel: {label}\nSuite: {dir}/\nDate: {day}{d:02} {month} {y} {hh:02}:{mm:02}:{ss:02} UTC\nSHA256:\n {} {:>16} Packages\n {} {:>16} {PACKAGES}\n",
        Sha256::digest(text.as_bytes()),
        text.len(),
        Sha256::digest(&gz),
        gz.len(),
        dir = super::super::LOCAL_REPO_DIR,
    );
    Ok(vec![(format!("{}/{PACKAGES}", super::super::LOCAL_REPO_DIR), gz), (RELEASE.to_string(), release.into_bytes())])
}

/// The stanza with its `Filename` field naming `href` (it is one line: a path has no spaces).
fn relocate(stanza: &str, href: &str) -> String {
    let mut out = String::with_capacity(stanza.len() + href.len());
    for line in stanza.lines() {
        let field = line.split_once(':').map(|(k, _)| k).filter(|_| !line.starts_with([' ', '\t']));
        match field {
            Some(k) if k.eq_ignore_ascii_case("Filename") => out.push_str(&format!("Filename: {href}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub(super) fn read(dir: &Path, arch: &Arch, bundle: LocalRepository<'_>) -> Result<Vec<PackageRecord>, RepoError> {
    let url = dir.join(RELEASE).display().to_string();
    let release = read_local(dir, RELEASE, super::INDEX_BYTES)?;
    let text = std::str::from_utf8(&release)
        .map_err(|_| RepoError::Malformed { url: url.clone(), message: "is not UTF-8".into() })?;
    let release = parse_release(text, &url)?;
    let Some((_, _, sha)) = release.files.iter().find(|(f, _, _)| f == PACKAGES) else {
        return Err(RepoError::Malformed { url, message: format!("lists no {PACKAGES}") });
    };
    let rel = format!("{}/{PACKAGES}", super::super::LOCAL_REPO_DIR);
    let bytes = read_local(dir, &rel, super::FILE_BYTES)?;
    let url = dir.join(&rel).display().to_string();
    check_digest(&url, &bytes, sha)?;
    let mut out = Vec::new();
    let mut entries = EntryWriter::new().map_err(|source| RepoError::Entries { url: url.clone(), source })?;
    parse_packages_with(decompressor(&rel, &url, &bytes)?, &url, 0, arch, Some(&mut entries), &mut out)?;
    let packages = as_written(&out, entries, &url)?;
    let current = write(&packages, bundle.epoch, bundle.label)?;
    // A bundle made before the Date had its weekday is still exactly what its moa-bundle wrote.
    if check_exact(dir, &current).is_err() {
        check_exact(dir, &write_dated(&packages, bundle.epoch, bundle.label, false)?)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_file_name_changes() {
        let stanza =
            "Package: a\nVersion: 1\nFilename: pool/main/a/a_1_all.deb\nDescription: x\n Filename: not a field\n";
        let want = "Package: a\nVersion: 1\nFilename: packages/a_1_all.deb\nDescription: x\n Filename: not a field\n";
        assert_eq!(super::relocate(stanza, "packages/a_1_all.deb"), want);
    }
}
