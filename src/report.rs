//! Progress reporting. The library speaks to a [`Reporter`]; only `main` knows how to draw it
//! (indicatif on a terminal, nothing with `--json` or when output is not a terminal).

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
}

/// Reports nothing.
pub struct Silent;
impl Reporter for Silent {}
