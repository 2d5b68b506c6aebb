//! Getting bytes from a URL: http(s) through one shared client, or `file://` from a local tree
//! (a mounted DVD, an internal NFS mirror). Retries transient failures (5xx, resets) with
//! backoff; a stalled transfer — no data for the stall time, or less than [`LOW_SPEED`] bytes a
//! second over it — is not retried on the same mirror, so the caller moves to the next one
//! quickly. Every retry is reported as an [`Event`].
//!
//! This module does not know what it fetches: checksums and mirror order are the caller's
//! (metadata, fetch). It only bounds how much it accepts (`max`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use url::Url;

use crate::report::{Event, Reporter};

/// How many times one URL is tried before moving to the next mirror.
pub(crate) const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(300);
/// Default seconds without progress before a transfer counts as stalled (`--stall-timeout`).
pub const DEFAULT_STALL_SECS: u64 = 30;
/// Bytes a second a transfer must average over the stall time (a mirror that drips is stalled).
pub(crate) const LOW_SPEED: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "{url} was not found (HTTP 404 or no such file): check the mirror URL and the repository path in the manifest"
    )]
    NotFound { url: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// HTTP 401, with the server's `WWW-Authenticate` challenge (bounded) when it sent one.
    #[error("{url} asks for credentials (HTTP 401)")]
    Unauthorized { url: String, challenge: Option<String> },
    #[error("could not download {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("could not read {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} stalled: less than {LOW_SPEED} bytes a second for {secs} s. The mirror is overloaded or unreachable; the next mirror is tried (--stall-timeout sets the wait)")]
    Stalled { url: String, secs: u64 },
    #[error("{url} sent more than {max} bytes, more than expected: the mirror serves the wrong file")]
    TooLarge { url: String, max: u64 },
    #[error("the download of {url} broke off")]
    Interrupted {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write what {url} sent")]
    Write {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{url}` is not a URL moa-bundle can fetch: use http://, https:// or file://")]
    BadUrl { url: String },
    #[error("could not set up the HTTP client")]
    Client(#[source] reqwest::Error),
}

impl TransportError {
    /// Worth another try on the same URL (server errors, resets, timeouts).
    fn is_transient(&self) -> bool {
        match self {
            TransportError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            TransportError::Http { .. } | TransportError::Interrupted { .. } => true,
            _ => false,
        }
    }
}

/// Removes `user:password@` from a URL before it is shown.
pub(crate) fn redact(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// Joins a mirror root and a relative path (a file name taken literally, as apt does: `%` in
/// `git-man_1%3a2.39.5_all.deb` is sent as `%25`), keeping the root's own path.
pub(crate) fn join(root: &str, rel: &str) -> Result<Url, TransportError> {
    let bad = || TransportError::BadUrl { url: format!("{}/{rel}", root.trim_end_matches('/')) };
    let mut url = Url::parse(root).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(bad());
    }
    url.path_segments_mut().map_err(|_| bad())?.pop_if_empty().extend(rel.split('/').filter(|s| !s.is_empty()));
    Ok(url)
}

/// Where a download goes: something that can be emptied before a retry.
pub trait Sink: Write {
    fn reset(&mut self) -> std::io::Result<()>;
}

impl Sink for Vec<u8> {
    fn reset(&mut self) -> std::io::Result<()> {
        self.clear();
        Ok(())
    }
}

impl Sink for std::fs::File {
    fn reset(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.set_len(0)?;
        self.seek(std::io::SeekFrom::Start(0)).map(|_| ())
    }
}

impl<W: Sink> Sink for moa_model::types::HashingWriter<W> {
    fn reset(&mut self) -> std::io::Result<()> {
        self.reset_hash();
        self.inner_mut().reset()
    }
}

/// What an http(s) request carries besides its URL (OCI registries want both).
#[derive(Debug, Default, Clone, Copy)]
pub struct Request<'a> {
    pub accept: Option<&'a str>,
    pub bearer: Option<&'a str>,
}

/// A shared HTTP client and the retry policy.
pub struct Transport {
    /// Made at the first http(s) request: an `--offline` run or a `file://` mirror never pays
    /// for its runtime thread and the system's certificates (about 5 ms).
    client: std::sync::OnceLock<reqwest::blocking::Client>,
    stall: Duration,
}

impl Transport {
    /// A client that calls a transfer stalled after `stall` without enough progress.
    pub fn new(stall: Duration) -> Result<Self, TransportError> {
        Ok(Self { client: std::sync::OnceLock::new(), stall })
    }

    /// The http(s) client, made on first use.
    fn client(&self) -> Result<&reqwest::blocking::Client, TransportError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        // reqwest is built without a bundled crypto provider: use ring (no C toolchain for aws-lc).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("moa-bundle/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.stall.min(Duration::from_secs(15)))
            // In the blocking client this bounds the wait for the headers and for each read.
            .timeout(self.stall)
            .build()
            .map_err(TransportError::Client)?;
        // Two threads may both have made one: the first kept is the one used.
        Ok(self.client.get_or_init(|| client))
    }

    /// Streams one URL into `out` (at most `max` bytes), retrying transient failures (emptying
    /// `out` first). Returns the byte count.
    pub fn download(
        &self,
        url: &Url,
        out: &mut dyn Sink,
        max: u64,
        progress: &dyn Fn(u64),
        reporter: &dyn Reporter,
    ) -> Result<u64, TransportError> {
        self.download_with(url, Request::default(), out, max, progress, reporter)
    }

    /// [`Transport::download`] of a request with headers.
    pub fn download_with(
        &self,
        url: &Url,
        req: Request<'_>,
        out: &mut dyn Sink,
        max: u64,
        progress: &dyn Fn(u64),
        reporter: &dyn Reporter,
    ) -> Result<u64, TransportError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download_once(url, req, out, max, progress) {
                Ok(n) => return Ok(n),
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    let error = error_chain(&e);
                    reporter.event(&Event::Retry { url: redact(url), attempt, of: ATTEMPTS, error });
                    std::thread::sleep(BACKOFF * 2u32.pow(attempt - 1));
                    out.reset().map_err(|source| TransportError::Write { url: redact(url), source })?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A timeout, from reqwest or from a body read, is a stall.
    fn stalled_or(&self, url: &str, e: reqwest::Error) -> TransportError {
        if e.is_timeout() {
            TransportError::Stalled { url: url.to_string(), secs: self.stall.as_secs() }
        } else {
            TransportError::Http { url: url.to_string(), source: e }
        }
    }

    fn download_once(
        &self,
        url: &Url,
        req: Request<'_>,
        out: &mut dyn Write,
        max: u64,
        progress: &dyn Fn(u64),
    ) -> Result<u64, TransportError> {
        let shown = redact(url);
        let mut reader: Box<dyn Read> = match url.scheme() {
            "file" => {
                let path = url.to_file_path().map_err(|_| TransportError::BadUrl { url: shown.clone() })?;
                match moa_model::files::open_regular(&path) {
                    Ok((f, _)) => Box::new(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(TransportError::NotFound { url: shown })
                    }
                    Err(source) => return Err(TransportError::File { path, source }),
                }
            }
            "http" | "https" => {
                let mut get = self.client()?.get(url.clone());
                if let Some(a) = req.accept {
                    get = get.header(reqwest::header::ACCEPT, a);
                }
                if let Some(t) = req.bearer {
                    get = get.bearer_auth(t);
                }
                let resp = get.send().map_err(|e| self.stalled_or(&shown, e))?;
                match resp.status().as_u16() {
                    200 => Box::new(resp),
                    401 => {
                        let challenge = resp.headers().get(reqwest::header::WWW_AUTHENTICATE);
                        let challenge = challenge.and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 2048);
                        return Err(TransportError::Unauthorized {
                            url: shown,
                            challenge: challenge.map(String::from),
                        });
                    }
                    404 | 410 => return Err(TransportError::NotFound { url: shown }),
                    status => return Err(TransportError::Status { url: shown, status }),
                }
            }
            _ => return Err(TransportError::BadUrl { url: shown }),
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let (mut window_start, mut window_bytes) = (Instant::now(), 0u64);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if url.scheme() == "file" => {
                    return Err(TransportError::File { path: url.path().into(), source: e })
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut || is_timeout(&e) => {
                    return Err(TransportError::Stalled { url: shown, secs: self.stall.as_secs() })
                }
                // A body cut short (reset) is transient; a local read error is not.
                Err(e) => return Err(TransportError::Interrupted { url: shown, source: e }),
            };
            total += n as u64;
            if total > max {
                return Err(TransportError::TooLarge { url: shown, max });
            }
            out.write_all(&buf[..n]).map_err(|source| TransportError::Write { url: shown.clone(), source })?;
            progress(n as u64);
            window_bytes += n as u64;
            if window_start.elapsed() >= self.stall && url.scheme() != "file" {
                if window_bytes < LOW_SPEED * self.stall.as_secs().max(1) {
                    return Err(TransportError::Stalled { url: shown, secs: self.stall.as_secs() });
                }
                (window_start, window_bytes) = (Instant::now(), 0);
            }
        }
        Ok(total)
    }

    /// Fetches a small file (metadata) of at most `max` bytes into memory.
    pub fn get(&self, url: &Url, max: u64, reporter: &dyn Reporter) -> Result<Vec<u8>, TransportError> {
        self.get_with(url, Request::default(), max, reporter)
    }

    /// [`Transport::get`] of a request with headers.
    pub fn get_with(
        &self,
        url: &Url,
        req: Request<'_>,
        max: u64,
        reporter: &dyn Reporter,
    ) -> Result<Vec<u8>, TransportError> {
        let mut buf = Vec::new();
        self.download_with(url, req, &mut buf, max, &|_| {}, reporter)?;
        Ok(buf)
    }
}

/// Whether an I/O error wraps a reqwest timeout (how the blocking body reports one).
fn is_timeout(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()).is_some_and(reqwest::Error::is_timeout)
}

/// `error: a: b: c` on one line, for lists of mirror failures.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_mirror_path() {
        let u = join("https://vault.centos.org/centos/", "7.9.2009/os/x86_64/repodata/repomd.xml").unwrap();
        assert_eq!(u.as_str(), "https://vault.centos.org/centos/7.9.2009/os/x86_64/repodata/repomd.xml");
        assert!(join("ftp://x", "a").is_err());
    }

    #[test]
    fn file_names_are_sent_literally() {
        let u = join("http://m/debian/", "pool/main/git-man_1%3a2.39.5-0+deb12u3_all.deb").unwrap();
        assert_eq!(u.as_str(), "http://m/debian/pool/main/git-man_1%253a2.39.5-0+deb12u3_all.deb");
        let d = tempfile::tempdir().unwrap();
        fs_err::write(d.path().join("a%3ab.deb"), b"x").unwrap();
        let root = Url::from_directory_path(d.path()).unwrap().to_string();
        let t = Transport::new(Duration::from_secs(5)).unwrap();
        assert_eq!(t.get(&join(&root, "a%3ab.deb").unwrap(), 10, &crate::report::Silent).unwrap(), b"x");
    }

    #[test]
    fn redact_hides_credentials() {
        let u = Url::parse("https://user:secret@mirror.example/x").unwrap();
        let shown = redact(&u);
        assert!(!shown.contains("secret") && !shown.contains("user:"), "{shown}");
    }

    #[test]
    fn file_urls_read_local_trees_and_report_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("a.txt"), b"hello").unwrap();
        let t = Transport::new(Duration::from_secs(5)).unwrap();
        let root = Url::from_directory_path(dir.path()).unwrap().to_string();
        let silent = crate::report::Silent;
        assert_eq!(t.get(&join(&root, "a.txt").unwrap(), 100, &silent).unwrap(), b"hello");
        let e = t.get(&join(&root, "a.txt").unwrap(), 4, &silent).unwrap_err().to_string();
        assert!(e.contains("more than 4 bytes"), "{e}");
        let e = t.get(&join(&root, "missing.txt").unwrap(), 100, &silent).unwrap_err().to_string();
        assert!(e.contains("missing.txt") && e.contains("not found"), "{e}");
    }
}
