//! Downloading the planned packages: in parallel, each file from the first mirror that serves it
//! whole and with the sha256 the metadata promised, through a content-addressed cache
//! (`<cache>/packages-v1/sha256/ab/<digest>`, re-verified on every hit).
//!
//! A file is written to a temporary name in the cache, hashed while it streams, synced and only
//! then renamed into place: nothing half-downloaded is ever found under its final name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::repo::{LoadedRepo, PackageRecord};
use crate::report::Reporter;
use crate::transport::{error_chain, join, Transport};
use crate::types::{HashingWriter, Sha256};

/// Parallel downloads by default: enough to hide latency, few enough to be polite to mirrors.
pub const DEFAULT_JOBS: usize = 4;
const CACHE_FORMAT: &str = "packages-v1";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not use the cache directory {}: pass --cache-dir with a writable directory", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not download {package} from any mirror of repository `{repo}`: {}. Retry (packages already fetched stay in the cache), or pass --mirror with a mirror that has it", .errors.join("; "))]
    AllMirrorsFailed {
        package: String,
        repo: String,
        errors: Vec<String>,
    },
    #[error("{package} is not in the cache and --offline forbids downloading it: run the build once with network access")]
    Offline { package: String },
}

/// The content-addressed package cache.
pub struct Cache {
    root: PathBuf,
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

    pub fn open(dir: &Path) -> Result<Self, FetchError> {
        let root = dir.join(CACHE_FORMAT);
        let err = |source| FetchError::Cache {
            path: dir.to_path_buf(),
            source,
        };
        fs_err::create_dir_all(root.join("tmp")).map_err(err)?;
        let tag = dir.join("CACHEDIR.TAG");
        if !tag.exists() {
            fs_err::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n# This file marks the moa-bundle download cache.\n",
            )
            .map_err(err)?;
        }
        Ok(Self { root })
    }

    fn path_of(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(&hex)
    }

    /// A cached file with this digest, checked again; a damaged entry is removed.
    pub fn get(&self, sha: &Sha256) -> Option<PathBuf> {
        let path = self.path_of(sha);
        let mut f = std::fs::File::open(&path).ok()?;
        let mut h = HashingWriter::new(std::io::sink());
        std::io::copy(&mut f, &mut h).ok()?;
        if h.finish().0 == *sha {
            Some(path)
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Downloads `url` into the cache if it has exactly `size` bytes and digest `sha`.
    fn put(
        &self,
        transport: &Transport,
        url: &url::Url,
        sha: &Sha256,
        size: u64,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf, String> {
        let tmp_dir = self.root.join("tmp");
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| format!("{}: {e}", tmp_dir.display()))?;
        let (file, tmp_path) = tmp.into_parts();
        let mut w = HashingWriter::new(file);
        let shown = crate::transport::redact(url);
        transport
            .download(url, &mut w, &|n| reporter.download_progress(n))
            .map_err(|e| error_chain(&e))?;
        let (got, n, file) = w.finish();
        if n != size && size != 0 {
            return Err(format!(
                "{shown}: got {n} bytes, the metadata says {size} (truncated or wrong file)"
            ));
        }
        if got != *sha {
            return Err(format!("{shown}: sha256 {got} does not match the metadata's {sha} (corrupt mirror or file)"));
        }
        file.sync_all()
            .map_err(|e| format!("{}: {e}", tmp_path.display()))?;
        let dest = self.path_of(sha);
        let parent = dest.parent().unwrap_or(&self.root);
        fs_err::create_dir_all(parent).map_err(|e| e.to_string())?;
        tmp_path
            .persist(&dest)
            .map_err(|e| format!("{}: {}", dest.display(), e.error))?;
        Ok(dest)
    }
}

/// Fetches every package into the cache; returns their cache paths in input order.
pub fn fetch_all(
    packages: &[&PackageRecord],
    repos: &[LoadedRepo],
    transport: &Transport,
    cache: &Cache,
    jobs: usize,
    offline: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>, FetchError> {
    let total: u64 = packages.iter().map(|p| p.size).sum();
    reporter.download_start(packages.len(), total);
    let results: Vec<Mutex<Option<Result<PathBuf, FetchError>>>> =
        packages.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 32).min(packages.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= packages.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = fetch_one(
                    packages[i],
                    &repos[packages[i].repo],
                    transport,
                    cache,
                    offline,
                    reporter,
                );
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                } else {
                    reporter.download_done(packages[i].file_name());
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    reporter.download_finish();
    let mut out = Vec::with_capacity(packages.len());
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(p)) => out.push(p),
            Some(Err(e)) => return Err(e),
            None => {} // not started because another download failed; that error is returned
        }
    }
    Ok(out)
}

fn fetch_one(
    p: &PackageRecord,
    repo: &LoadedRepo,
    transport: &Transport,
    cache: &Cache,
    offline: bool,
    reporter: &dyn Reporter,
) -> Result<PathBuf, FetchError> {
    let what = format!("{}-{}.{}", p.name, p.version, p.arch);
    if let Some(path) = cache.get(&p.sha256) {
        reporter.download_progress(p.size);
        return Ok(path);
    }
    if offline {
        return Err(FetchError::Offline { package: what });
    }
    let rel = if repo.base_path.is_empty() {
        p.location.clone()
    } else {
        format!("{}/{}", repo.base_path, p.location)
    };
    let mut errors = Vec::new();
    for mirror in &repo.mirrors {
        let url = match join(mirror, &rel) {
            Ok(u) => u,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        match cache.put(transport, &url, &p.sha256, p.size, reporter) {
            Ok(path) => return Ok(path),
            Err(e) => errors.push(e),
        }
    }
    Err(FetchError::AllMirrorsFailed {
        package: what,
        repo: repo.name.clone(),
        errors,
    })
}
