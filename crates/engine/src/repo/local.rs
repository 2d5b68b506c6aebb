//! A bundle's own repository (`repodata/`, so the node's dnf/yum or apt can install from the
//! bundle): the packages it lists, reading its files within bounds, and the check that it is
//! exactly what moa-bundle writes for those packages ([`check_exact`]).

use super::{EntryWriter, PackageRecord, RepoError};

/// Where a bundle's own repository index lives under its top directory, which is the
/// repository's root (yum: `repodata/repomd.xml`; apt: the flat repository `repodata/`).
pub(crate) const LOCAL_REPO_DIR: &str = "repodata";

/// A bundled package as the bundle's own repository lists it: its record, its published entry
/// ([`super::Metadata::entry`]) and its path under the bundle's top directory.
pub struct LocalPackage<'a> {
    pub record: &'a PackageRecord,
    pub entry: Option<Vec<u8>>,
    pub href: String,
}

impl LocalPackage<'_> {
    /// The published entry, which the build kept for every package it packs.
    pub(super) fn entry(&self) -> Result<&[u8], RepoError> {
        self.entry.as_deref().ok_or_else(|| RepoError::Malformed {
            url: self.href.clone(),
            message: format!("no published index entry was kept for {}", self.record.nevra()),
        })
    }
}

/// A file of a bundle's own repository, read within `max` bytes, for
/// [`super::MetadataFormat::read_local_repository`].
pub(super) fn read_local(dir: &std::path::Path, rel: &str, max: u64) -> Result<Vec<u8>, RepoError> {
    let path = dir.join(rel);
    let bad = |message: String| RepoError::Malformed { url: path.display().to_string(), message };
    if moa_model::types::RepoPath::new(rel).is_err() {
        return Err(bad(format!("`{}` is not a plain path inside the bundle", moa_model::types::shown(rel))));
    }
    match moa_model::files::read_at_most(&path, max) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(bad(format!("is larger than {max} bytes"))),
        Err(e) => Err(bad(format!(
            "could not be read ({e}): the bundle was built with --no-repo, or by a moa-bundle without repository mode"
        ))),
    }
}

/// A gzip file of `bytes` that is the same for the same bytes (no name, no time).
pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("writing to memory does not fail");
    gz.finish().expect("writing to memory does not fail")
}

/// What the bundle says its repository was written with: its fixed time and its label.
#[derive(Debug, Clone, Copy)]
pub struct LocalRepository<'a> {
    pub epoch: u64,
    pub label: &'a str,
}

/// `records` (parsed from the bundle's repository with `entries` kept) as the packages the
/// writer takes, each at the location it lists.
pub(super) fn as_written<'r>(
    records: &'r [PackageRecord],
    entries: EntryWriter,
    url: &str,
) -> Result<Vec<LocalPackage<'r>>, RepoError> {
    let store = entries.finish().map_err(|source| RepoError::Entries { url: url.to_string(), source })?;
    Ok(records
        .iter()
        .map(|r| LocalPackage { record: r, entry: r.entry.and_then(|e| store.get(e)), href: r.location().to_string() })
        .collect())
}

/// The repository under `dir` is exactly `expected` (as the writer makes it): each file byte for
/// byte, and no other file in `repodata/` (an extra index — `Packages.xz`, `filelists` — is one
/// the node's package manager could read instead).
pub(super) fn check_exact(dir: &std::path::Path, expected: &[(String, Vec<u8>)]) -> Result<(), RepoError> {
    let repo = dir.join(LOCAL_REPO_DIR);
    let bad =
        |path: &std::path::Path, message: String| RepoError::Malformed { url: path.display().to_string(), message };
    for (rel, bytes) in expected {
        if read_local(dir, rel, bytes.len() as u64 + 1)? != *bytes {
            return Err(bad(
                &dir.join(rel),
                "is not the file moa-bundle writes for the packages it lists: the bundle's repository was altered"
                    .into(),
            ));
        }
    }
    let names: Vec<String> = expected
        .iter()
        .filter_map(|(rel, _)| rel.strip_prefix(&format!("{LOCAL_REPO_DIR}/")).map(str::to_string))
        .collect();
    let listing = fs_err::read_dir(&repo).map_err(|e| bad(&repo, format!("could not be read: {e}")))?;
    for entry in listing {
        let entry = entry.map_err(|e| bad(&repo, format!("could not be read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !names.contains(&name) {
            return Err(bad(&entry.path(), "is not a file moa-bundle writes: the node's package manager could read it unchecked, so the bundle is refused".into()));
        }
    }
    Ok(())
}
