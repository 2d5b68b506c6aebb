//! Progress and events. The library speaks to a [`Reporter`]; only `main` knows how to show it:
//! indicatif on a terminal, one log line per status and [`Event`] when stderr is not a terminal
//! (a CI log, a file), nothing with `--json` but warnings.
//!
//! Events are data (retries, mirror failovers, cache use, leftovers removed); their English is
//! made here, in one place, from the same values a script could read.

use std::fmt;

/// Something worth one line in a log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A transient failure; the same URL is tried again.
    Retry { url: String, attempt: u32, of: u32, error: String },
    /// A mirror failed for a file; the next one is tried.
    Failover { what: String, mirror: String, error: String },
    /// A file came from a later mirror after earlier ones failed.
    Recovered { what: String, mirror: String, failed: usize },
    /// Packages found in the cache and downloaded, when a fetch ends.
    CacheSummary { cached: usize, downloaded: usize, downloaded_bytes: u64 },
    /// Leftovers of interrupted runs removed.
    Swept { what: String, count: usize },
    /// An index's records came from the parsed-index cache instead of a parse.
    ParsedIndex { what: String, packages: usize },
    /// A parsed-index cache entry was there but unusable: the index was parsed again.
    ParsedIndexRebuilt { what: String, why: String },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Retry { url, attempt, of, error } => write!(f, "retry {attempt}/{of}: {url}: {error}"),
            Event::Failover { what, mirror, error } => {
                write!(f, "mirror {mirror} failed for {what} ({error}); trying the next mirror")
            }
            Event::Recovered { what, mirror, failed } => {
                write!(f, "{what}: fetched from {mirror} after {failed} mirror(s) failed")
            }
            Event::CacheSummary { cached, downloaded, downloaded_bytes } => {
                write!(f, "packages: {cached} from the cache, {downloaded} downloaded ({downloaded_bytes} bytes)")
            }
            Event::Swept { what, count } => write!(f, "removed {count} leftover(s) of interrupted runs: {what}"),
            Event::ParsedIndex { what, packages } => {
                write!(f, "{what}: {packages} package(s) read from the parsed-index cache")
            }
            Event::ParsedIndexRebuilt { what, why } => {
                write!(f, "{what}: its parsed-index cache entry is unusable ({why}); parsed again")
            }
        }
    }
}

/// Receives progress from long-running stages.
pub trait Reporter: Sync {
    /// A one-line status ("os: fetching repodata/repomd.xml").
    fn status(&self, _message: &str) {}
    /// A download of `total` bytes in `count` files begins.
    fn download_start(&self, _count: usize, _total: u64) {}
    /// `n` more bytes arrived.
    fn download_progress(&self, _n: u64) {}
    /// One file is done (downloaded or found in the cache).
    fn download_done(&self, _file: &str) {}
    /// Every download finished.
    fn download_finish(&self) {}
    /// A warning the user should see even without progress output.
    fn warn(&self, _message: &str) {}
    /// Something happened that a log should record.
    fn event(&self, _event: &Event) {}
}

/// Reports nothing.
pub struct Silent;
impl Reporter for Silent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_one_line_each() {
        let e =
            Event::Failover { what: "repodata/repomd.xml".into(), mirror: "http://a".into(), error: "HTTP 503".into() };
        assert_eq!(e.to_string(), "mirror http://a failed for repodata/repomd.xml (HTTP 503); trying the next mirror");
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["event"], "failover");
    }
}
