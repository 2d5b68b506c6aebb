//! The download cache, shared by the metadata and fetch stages: packages by content
//! (`packages-v1/sha256/ab/<digest>`, re-verified on every hit) and the last copy of each
//! repository metadata file (`metadata-v1/<sha256 of distro/repository/path>`), so `--offline`
//! builds need nothing but the cache; and each index parsed once (`parsed-v1/<key digest>`,
//! written and checked by `repo::parsed`). A `CACHEDIR.TAG` marks it for backup tools; a change of
//! layout bumps the `-v1`.
//!
//! Every write goes to a locked temporary file in the cache's `tmp/`, is checked and synced,
//! then renamed into place, so two builds can share one cache; what killed runs left in `tmp/`
//! is swept when the cache is opened.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::report::{Event, Reporter};
use crate::transport::{Transport, TransportError};
use moa_model::files::{self, Partial};
use moa_model::types::{HashingWriter, Sha256};

const PACKAGES: &str = "packages-v1";
const METADATA: &str = "metadata-v1";
/// Parsed indexes (`repo::parsed`), by the digest of their key.
const PARSED: &str = "parsed-v1";
/// Per bundle content key: what the output held when that bundle was written there.
const BUNDLES: &str = "bundles-v1";

/// A file's size and modification time in nanoseconds.
fn stat(path: &Path) -> Option<(u64, u128)> {
    let m = fs_err::metadata(path).ok()?;
    let t = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((m.len(), t.as_nanos()))
}

#[derive(Debug, thiserror::Error)]
#[error("could not use the cache directory {}: pass --cache-dir with a writable directory", path.display())]
pub struct CacheError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A parsed-index entry that another user could have written (see [`Cache::open_parsed`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "{} can be written by another user (group- or world-writable, or not yours): not used; \
     make it yours and `chmod go-w` it, or pass another --cache-dir",
    path.display()
)]
pub struct NotPrivate {
    pub path: PathBuf,
}

/// Why one mirror's copy of a package was not kept: each says the URL (redacted) or the path.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{url}: got {got} bytes, the metadata says {expected} (truncated or wrong file)")]
    Size { url: String, got: u64, expected: u64 },
    #[error("{url}: sha256 {got} does not match the metadata's {expected} (corrupt mirror or file)")]
    Digest { url: String, got: Sha256, expected: Sha256 },
    #[error("{}: could not keep the package in the cache", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The cache directory.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `$XDG_CACHE_HOME/moa-bundle`, else `~/.cache/moa-bundle`, else a `moa-bundle` dir in the temp dir.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("moa-bundle");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(h).join(".cache").join("moa-bundle");
        }
        std::env::temp_dir().join("moa-bundle")
    }

    /// Opens (creating) the cache and sweeps the leftovers of interrupted runs from it.
    pub fn open(dir: &Path, reporter: &dyn Reporter) -> Result<Self, CacheError> {
        let err = |source| CacheError { path: dir.to_path_buf(), source };
        fs_err::create_dir_all(dir).map_err(err)?;
        for sub in [PACKAGES, METADATA, PARSED, BUNDLES, "tmp"] {
            // Not group- or world-writable whatever the umask: parsed entries are used only
            // from a directory no other user can write to (see `open_parsed`).
            use std::os::unix::fs::DirBuilderExt;
            let made = std::fs::DirBuilder::new().mode(0o755).create(dir.join(sub));
            match made {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(err(e)),
                _ => {}
            }
        }
        let tag = dir.join("CACHEDIR.TAG");
        if !tag.exists() {
            fs_err::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n# This file marks the moa-bundle download cache.\n",
            )
            .map_err(err)?;
        }
        let count = files::sweep_partials(&dir.join("tmp"));
        if count > 0 {
            reporter.event(&Event::Swept { what: dir.join("tmp").display().to_string(), count });
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn path_of(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_hex();
        self.dir.join(PACKAGES).join("sha256").join(&hex[..2]).join(&hex)
    }

    fn temp(&self) -> Result<Partial, CopyError> {
        let path = self.dir.join("tmp");
        Partial::new_in(&path).map_err(|source| CopyError::Io { path, source })
    }

    /// A cached package with this digest, checked again; a damaged entry is removed.
    pub fn package(&self, sha: &Sha256) -> Option<PathBuf> {
        let path = self.path_of(sha);
        let (mut f, _) = moa_model::files::open_regular(&path).ok()?;
        let mut h = HashingWriter::new(std::io::sink());
        std::io::copy(&mut f, &mut h).ok()?;
        if h.finish().0 == *sha {
            Some(path)
        } else {
            let _ = fs_err::remove_file(&path);
            None
        }
    }

    /// Downloads `url` into the cache if it has exactly `size` bytes and digest `sha` (nothing
    /// else is ever kept). The error says what was wrong with this mirror's copy.
    pub fn put_package(
        &self,
        transport: &Transport,
        url: &url::Url,
        sha: &Sha256,
        size: u64,
        progress: &dyn Fn(u64),
        reporter: &dyn Reporter,
    ) -> Result<PathBuf, CopyError> {
        let partial = self.temp()?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CopyError::Io { path, source }
        };
        let file = partial.file().try_clone().map_err(io(partial.path()))?;
        let mut w = HashingWriter::new(file);
        let max = if size == 0 { moa_model::limits::PACKAGE_BYTES } else { size };
        transport.download(url, &mut w, max, progress, reporter)?;
        let (got, n, _) = w.finish();
        if n != size && size != 0 {
            return Err(CopyError::Size { url: crate::transport::redact(url), got: n, expected: size });
        }
        if got != *sha {
            return Err(CopyError::Digest { url: crate::transport::redact(url), got, expected: *sha });
        }
        let dest = self.path_of(sha);
        let parent = dest.parent().unwrap_or(&self.dir);
        fs_err::create_dir_all(parent).map_err(io(parent))?;
        partial.persist(&dest, 0o644).map_err(io(&dest))?;
        Ok(dest)
    }

    /// Remembers that `output` holds the bundle with content `key` and digest `sha`, with the
    /// output's size and modification time (read back now).
    pub fn record_bundle(&self, key: &Sha256, output: &Path, sha: &Sha256) {
        let Some((size, mtime)) = stat(output) else { return };
        let Ok(mut tmp) = self.temp() else { return };
        if writeln!(tmp.file_mut(), "{sha} {size} {mtime} {}", output.display()).is_ok() {
            let _ = tmp.persist(&self.bundle_record(key, output), 0o644);
        }
    }

    /// One record per content key and output path (one bundle may be written to several).
    fn bundle_record(&self, key: &Sha256, output: &Path) -> PathBuf {
        let id = Sha256::digest(format!("{key} {}", output.display()).as_bytes());
        self.dir.join(BUNDLES).join(id.to_hex())
    }

    /// The digest and size of the bundle at `output` if it is the one this cache recorded for
    /// content `key`: same path, size and modification time as when it was written, and its
    /// `.sha256` still names that digest. (A file changed since has another time or size; and a
    /// node verifies every byte anyway.)
    pub fn unchanged_bundle(&self, key: &Sha256, output: &Path) -> Option<(Sha256, u64)> {
        let record = fs_err::read_to_string(self.bundle_record(key, output)).ok()?;
        let mut f = record.trim_end().splitn(4, ' ');
        let (sha, size, mtime, path) = (f.next()?, f.next()?, f.next()?, f.next()?);
        let sha = Sha256::from_hex(sha).ok()?;
        let now = stat(output)?;
        let sidecar = fs_err::read_to_string(moa_model::files::sidecar_path(output)).ok()?;
        let same = path == output.display().to_string()
            && now == (size.parse().ok()?, mtime.parse().ok()?)
            && sidecar.split_whitespace().next() == Some(&sha.to_hex());
        same.then_some((sha, now.0))
    }

    /// The parsed-index entry named `name` (a key's digest), opened when it is a regular file;
    /// its content is read once, bounded and checked, by `repo::parsed`.
    ///
    /// Unlike a package or a metadata file, an entry is not checked against anything signed:
    /// its digest only shows it is whole, and whoever can write it can write a matching digest.
    /// So it is used only when no other user can have written it, as apt trusts its
    /// `pkgcache.bin` and dnf its `.solv` files: the file and its directory belong to this user
    /// (or root) and are not group- or world-writable.
    pub(crate) fn open_parsed(&self, name: &Sha256) -> Result<Option<std::fs::File>, NotPrivate> {
        let dir = self.dir.join(PARSED);
        let Ok((file, _)) = moa_model::files::open_regular(&dir.join(name.to_hex())) else { return Ok(None) };
        let private = |m: std::io::Result<std::fs::Metadata>| {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            m.is_ok_and(|m| (m.uid() == me || m.uid() == 0) && m.mode() & 0o022 == 0)
        };
        for (path, meta) in [(dir.join(name.to_hex()), file.metadata()), (dir.clone(), fs_err::metadata(&dir))] {
            if !private(meta) {
                return Err(NotPrivate { path });
            }
        }
        Ok(Some(file))
    }

    /// Stores the parsed-index entry `write` writes (its header, records and index entries).
    /// Best effort, as metadata: a failure costs a parse later.
    pub(crate) fn put_parsed(&self, name: &Sha256, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        self.put_file(&self.dir.join(PARSED).join(name.to_hex()), write);
    }

    /// Writes `path` through a temporary file of the cache (synced, then renamed into place),
    /// with what `write` writes; best effort: nothing is left when a write fails.
    fn put_file(&self, path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let Ok(mut tmp) = self.temp() else { return };
        let mut w = std::io::BufWriter::new(tmp.file_mut());
        let written = write(&mut w).and_then(|()| w.flush());
        drop(w);
        if written.is_ok() {
            let _ = tmp.persist(path, 0o644);
        }
    }

    fn metadata_path(&self, key: &str) -> PathBuf {
        self.dir.join(METADATA).join(Sha256::digest(key.as_bytes()).to_hex())
    }

    /// The last copy of a metadata file stored under `key`, when it is a regular file of at
    /// most `max` bytes (the cache is data from disk like any other).
    pub fn metadata(&self, key: &str, max: u64) -> Option<Vec<u8>> {
        moa_model::files::read_at_most(&self.metadata_path(key), max).ok().flatten()
    }

    /// Stores a metadata file that passed its check under `key` (best effort: a cache that
    /// cannot be written only costs a later `--offline` build).
    pub fn put_metadata(&self, key: &str, bytes: &[u8]) {
        self.put_file(&self.metadata_path(key), |w| w.write_all(bytes));
    }

    /// [`Cache::put_metadata`] of what `from` reads to its end.
    pub(crate) fn put_metadata_from(&self, key: &str, from: &mut dyn std::io::Read) {
        self.put_file(&self.metadata_path(key), |w| std::io::copy(from, w).map(drop));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A parsed entry is used only when no other user can have written it: the entry, or its
    /// directory, made group- or world-writable is refused naming it, whatever the umask made.
    #[test]
    fn a_parsed_entry_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), &crate::Silent).unwrap();
        let name = Sha256::digest(b"key");
        assert!(cache.open_parsed(&name).unwrap().is_none(), "no entry yet");
        cache.put_parsed(&name, |w| w.write_all(b"entry"));
        assert!(cache.open_parsed(&name).unwrap().is_some());
        let entry = dir.path().join(PARSED).join(name.to_hex());
        let parsed = dir.path().join(PARSED);
        let chmod = |p: &Path, mode| fs_err::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        for (path, mode) in [(&entry, 0o664), (&entry, 0o646), (&parsed, 0o775), (&parsed, 0o757)] {
            chmod(path, mode);
            let e = cache.open_parsed(&name).unwrap_err().to_string();
            assert!(e.contains(&path.display().to_string()) && e.contains("another user"), "{mode:o}: {e}");
            chmod(path, if path == &entry { 0o644 } else { 0o755 });
        }
        assert!(cache.open_parsed(&name).unwrap().is_some());
    }
}
