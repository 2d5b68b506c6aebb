//! An index file on its way to a parser (`Packages.xz`, `primary.xml.gz`), kept out of memory:
//! downloaded through a hash into a private temporary file (unlinked at once: only this
//! process holds it), checked against the digest and size its signed root gives, and then
//! read by the decompressor from that same open file. What was checked is what is parsed,
//! and the parse's peak no longer holds the whole compressed index (bookworm's main
//! `Packages.xz`: 8.4 MiB) beside the records it becomes.
//!
//! A copy the cache already holds with the right digest, or any copy `--offline`, is read
//! into memory and checked there, as before: those are the small or the warm cases.

use std::io::{Read, Seek};

use moa_model::types::{HashingWriter, MirrorUrl, Sha256};

use super::{MetadataSource, RepoError};
use crate::transport::{join, redact, TransportError};

/// A checked index file, in memory or in a private temporary file.
pub(crate) enum Index {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

impl Index {
    /// Its bytes from the first, for a decompressor.
    pub(crate) fn reader(&mut self) -> Box<dyn Read + Send + '_> {
        match self {
            Index::Bytes(b) => Box::new(&b[..]),
            Index::File(f) => Box::new(f),
        }
    }
}

impl MetadataSource<'_> {
    /// `rel`, whose sha256 (and, when `size` is given, size) its just-checked root index
    /// gives: from the cache when it holds that digest, else from the first mirror whose copy
    /// has it (at most `max` bytes), spooled to a private file. Returns it and where it came
    /// from.
    pub(crate) fn fetch_index_file(
        &self,
        repo: &str,
        mirrors: &mut Vec<MirrorUrl>,
        rel: &str,
        (max, size): (u64, Option<u64>),
        known: &Sha256,
    ) -> Result<(Index, String), RepoError> {
        if let Some(bytes) = self.cached_known(repo, rel, max, known) {
            return Ok((Index::Bytes(bytes), format!("{rel} (cached, unchanged)")));
        }
        if self.offline {
            let check = |b: &[u8], url: &str| checked(url, Sha256::digest(b), b.len() as u64, known, size);
            let ((), bytes, shown) = self.fetch_checked(repo, mirrors, rel, max, &check)?;
            return Ok((Index::Bytes(bytes), shown));
        }
        // One private file for every mirror tried (emptied before each): made first, so that
        // a temporary directory it cannot be made in is said as that, not as a mirror's fault.
        let spool = tempfile::tempfile().map_err(|source| RepoError::Spool { rel: rel.to_string(), source })?;
        let served = crate::mirror::first_success(mirrors, rel, self.reporter, |root| {
            let url = join(root.as_str(), rel)?;
            let shown = redact(&url);
            let write = |source| TransportError::Write { url: shown.clone(), source };
            let mut sink = HashingWriter::new(spool.try_clone().map_err(write)?);
            crate::transport::Sink::reset(&mut sink).map_err(write)?;
            let bound = size.unwrap_or(max).min(max);
            self.transport.download(&url, &mut sink, bound, &|_| {}, self.reporter).map_err(|e| match e {
                // More bytes than the signed size: the same mismatch as a wrong digest.
                TransportError::TooLarge { url, .. } if size.is_some() => RepoError::Checksum {
                    url,
                    expected: format!("{} ({bound} bytes)", known.to_hex()),
                    actual: format!("more than {bound} bytes"),
                },
                e => e.into(),
            })?;
            let (digest, len, mut file) = sink.finish();
            checked(&shown, digest, len, known, size)?;
            file.rewind().map_err(write)?;
            Ok::<_, RepoError>((file, shown))
        });
        let (i, (mut file, shown)) = served.map_err(|failed| self.all_failed(repo, rel, failed))?;
        if let Some(c) = self.cache {
            c.put_metadata_from(&self.cache_key(repo, rel), &mut file);
            file.rewind().map_err(|source| TransportError::Write { url: shown.clone(), source })?;
        }
        // The mirror that served goes first for the rest of this repository's files.
        let m = mirrors.remove(i);
        mirrors.insert(0, m);
        Ok((Index::File(file), shown))
    }
}

/// Whether a copy of `len` bytes with `digest` is the one its root index names.
fn checked(url: &str, digest: Sha256, len: u64, known: &Sha256, size: Option<u64>) -> Result<(), RepoError> {
    if size.is_some_and(|s| s != len) || digest != *known {
        let expected = match size {
            Some(s) => format!("{} ({s} bytes)", known.to_hex()),
            None => known.to_hex(),
        };
        let actual = if size.is_some_and(|s| s != len) { format!("{len} bytes") } else { digest.to_hex() };
        return Err(RepoError::Checksum { url: url.to_string(), expected, actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source over `mirror` (a directory, as a file:// mirror) with a cache in `cache`.
    fn fetch(
        mirror: &std::path::Path,
        cache: &crate::Cache,
        size: Option<u64>,
        sha: &Sha256,
    ) -> Result<Vec<u8>, String> {
        let transport = crate::transport::Transport::new(std::time::Duration::from_secs(5)).unwrap();
        let source = MetadataSource {
            transport: &transport,
            cache: Some(cache),
            offline: false,
            distro: "d",
            reporter: &crate::Silent,
            signatures: Default::default(),
            freshness: super::super::apt::Freshness { now: 0, allow_old: true },
            keep_entries: false,
        };
        let root = url::Url::from_directory_path(mirror).unwrap();
        let mut mirrors = vec![MirrorUrl::new(root.as_str()).unwrap()];
        let (mut index, _) = source
            .fetch_index_file("r", &mut mirrors, "Packages.xz", (1 << 20, size), sha)
            .map_err(|e| e.to_string())?;
        if !matches!(index, Index::File(_)) {
            return Err("held in memory".into());
        }
        let mut bytes = Vec::new();
        index.reader().read_to_end(&mut bytes).unwrap();
        Ok(bytes)
    }

    #[test]
    fn a_spooled_index_is_the_checked_bytes_and_a_wrong_one_is_refused() {
        let (mirror, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cache = crate::Cache::open(dir.path(), &crate::Silent).unwrap();
        let body = b"Package: a\nVersion: 1\n".repeat(5000);
        fs_err::write(mirror.path().join("Packages.xz"), &body).unwrap();
        let sha = Sha256::digest(&body);
        let n = body.len() as u64;
        // The digest or the size its root gives, wrong: refused, naming both.
        let e = fetch(mirror.path(), &cache, Some(n), &Sha256::digest(b"other")).unwrap_err();
        assert!(e.contains("checksum mismatch") && e.contains(&sha.to_hex()), "{e}");
        let e = fetch(mirror.path(), &cache, Some(n + 1), &sha).unwrap_err();
        assert!(e.contains(&format!("({} bytes)", n + 1)) && e.contains(&format!("{n} bytes")), "{e}");
        // More than the signed size: refused at the first byte over.
        let e = fetch(mirror.path(), &cache, Some(n - 1), &sha).unwrap_err();
        assert!(e.contains(&format!("more than {} bytes", n - 1)), "{e}");
        assert_eq!(fetch(mirror.path(), &cache, Some(n), &sha), Ok(body.clone()));
        // The good copy went to the cache (and only that one): it is found there once the mirror changes.
        assert_eq!(cache.metadata("d/r/Packages.xz", 1 << 20).unwrap(), body);
    }
}
