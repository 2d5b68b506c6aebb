//! Downloading the planned packages: in parallel, in the order given, each file from the first
//! mirror that serves it whole and with the sha256 the metadata promised, into the [`Cache`]
//! (which writes through a temporary name, so nothing half-downloaded is ever found under a final
//! name). Each finished file is announced on [`Arrivals`], so the packer can write the bundle
//! while the rest still downloads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use crate::cache::{Cache, CopyError};
use crate::mirror::Failures;
use crate::repo::{LoadedRepo, PackageRecord};
use crate::report::Reporter;
use crate::transport::{join, Transport};

/// Parallel downloads by default: enough to hide a far mirror's latency (scripts/bench/build.sh),
/// few enough to be polite to it.
pub const DEFAULT_JOBS: usize = 16;

/// Finished downloads, announced by input index as they land.
pub(crate) struct Arrivals {
    state: Mutex<(Vec<Option<PathBuf>>, bool)>,
    ready: Condvar,
}

impl Arrivals {
    pub(crate) fn new(n: usize) -> Self {
        Self { state: Mutex::new((vec![None; n], false)), ready: Condvar::new() }
    }
    fn put(&self, i: usize, path: PathBuf) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0[i] = Some(path);
        self.ready.notify_all();
    }
    /// Nothing more will arrive (the fetch finished, or stopped at an error).
    pub(crate) fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.ready.notify_all();
    }
    /// Waits for file `i`; `None` when the fetch stopped before it (the fetch says why).
    pub(crate) fn wait(&self, i: usize) -> Option<PathBuf> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(p) = &st.0[i] {
                return Some(p.clone());
            }
            if st.1 {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not download {package} from any mirror of repository `{repo}`: {failures}. Retry (packages already fetched stay in the cache), or pass --mirror with a mirror that has it")]
    AllMirrorsFailed { package: String, repo: String, failures: Failures<CopyError> },
    #[error(
        "{package} is not in the cache and --offline forbids downloading it: run the build once with network access"
    )]
    Offline { package: String },
    #[error("{package}: {error}")]
    Rejected { package: String, error: String },
}

/// What a fetched file must pass before it is announced (its own signature): an error message.
pub(crate) type FileCheck<'a> = &'a (dyn Fn(&PackageRecord, &std::path::Path) -> Result<(), String> + Sync);

/// How to fetch.
pub(crate) struct FetchOptions<'a> {
    pub jobs: usize,
    pub offline: bool,
    /// Where each finished file is announced, by index into the package list.
    pub arrivals: Option<&'a Arrivals>,
    /// Checked on every file, from the cache or not, before it is announced.
    pub check: Option<FileCheck<'a>>,
}

/// Fetches every package into the cache, starting them in input order; returns their cache
/// paths in input order.
pub(crate) fn fetch_all(
    packages: &[&PackageRecord],
    repos: &[LoadedRepo],
    transport: &Transport,
    cache: &Cache,
    opts: &FetchOptions<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>, FetchError> {
    let (jobs, offline) = (opts.jobs, opts.offline);
    let total: u64 = packages.iter().map(|p| p.size).sum();
    reporter.download_start(packages.len(), total);
    let results: Vec<Mutex<Option<Result<PathBuf, FetchError>>>> = packages.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (cached, downloaded_bytes) = (AtomicUsize::new(0), std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 32).min(packages.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= packages.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = fetch_one(packages[i], &repos[packages[i].repo], transport, cache, offline, reporter).and_then(
                    |got| match opts.check.map(|c| c(packages[i], &got.0)) {
                        Some(Err(error)) => Err(FetchError::Rejected { package: packages[i].nevra(), error }),
                        _ => Ok(got),
                    },
                );
                match &r {
                    Err(_) => failed.store(true, Ordering::Relaxed),
                    Ok((path, from_cache)) => {
                        if let Some(a) = opts.arrivals {
                            a.put(i, path.clone());
                        }
                        if *from_cache {
                            cached.fetch_add(1, Ordering::Relaxed);
                        } else {
                            downloaded_bytes.fetch_add(packages[i].size, Ordering::Relaxed);
                        }
                        reporter.download_done(packages[i].file_name());
                    }
                }
                let r = r.map(|(p, _)| p);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    reporter.download_finish();
    let cached = cached.into_inner();
    let downloaded = packages.len().saturating_sub(cached);
    let downloaded_bytes = downloaded_bytes.into_inner();
    reporter.event(&crate::report::Event::CacheSummary { cached, downloaded, downloaded_bytes });
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

/// One package into the cache; the path, and whether the cache had it already.
fn fetch_one(
    p: &PackageRecord,
    repo: &LoadedRepo,
    transport: &Transport,
    cache: &Cache,
    offline: bool,
    reporter: &dyn Reporter,
) -> Result<(PathBuf, bool), FetchError> {
    let what = p.nevra();
    if let Some(path) = cache.package(&p.sha256) {
        reporter.download_progress(p.size);
        return Ok((path, true));
    }
    if offline {
        return Err(FetchError::Offline { package: what });
    }
    let rel = if repo.base_path.is_empty() {
        p.location().to_string()
    } else {
        format!("{}/{}", repo.base_path, p.location())
    };
    let progress = |n| reporter.download_progress(n);
    let served = crate::mirror::first_success(&repo.mirrors, &what, reporter, |mirror| {
        let url = join(mirror.as_str(), &rel)?;
        cache.put_package(transport, &url, &p.sha256, p.size, &progress, reporter)
    });
    match served {
        Ok((_, path)) => Ok((path, false)),
        Err(failures) => Err(FetchError::AllMirrorsFailed { package: what, repo: repo.name.clone(), failures }),
    }
}
