//! The published index entries of a repository's packages, kept aside while its index is parsed
//! (only when a build makes the bundle a repository): appended to an unnamed temporary file and
//! read back by [`EntrySpan`], so that a build over Debian's 64,000 stanzas or EL9's 52 MB
//! primary needs no more memory than a plain one. One entry is held in memory at a time.

use std::io::{BufWriter, Write};
use std::sync::Arc;

/// A byte range of an [`EntryStore`]: one package's published index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySpan {
    pub start: u64,
    pub len: u64,
}

/// Collects entries while a parser runs: the current one in memory, the kept ones in the file.
pub struct EntryWriter {
    out: BufWriter<std::fs::File>,
    len: u64,
    current: Vec<u8>,
    /// The sha256 of what was kept since [`EntryWriter::restart_digest`] (for the parsed-index
    /// cache, without reading the entries again).
    digest: sha2::Sha256,
}

impl EntryWriter {
    pub fn new() -> std::io::Result<Self> {
        let out = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
        Ok(Self { out, len: 0, current: Vec::new(), digest: sha2::Digest::new() })
    }

    /// Starts the next entry with these bytes (the one before is dropped unless it was kept).
    pub fn begin(&mut self, bytes: &[u8]) {
        self.current.clear();
        self.current.extend_from_slice(bytes);
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        self.current.extend_from_slice(bytes);
    }

    /// Keeps the current entry; where it is.
    pub fn keep(&mut self) -> std::io::Result<EntrySpan> {
        self.out.write_all(&self.current)?;
        sha2::Digest::update(&mut self.digest, &self.current);
        let span = EntrySpan { start: self.len, len: self.current.len() as u64 };
        self.len += span.len;
        self.current.clear();
        Ok(span)
    }

    /// How many bytes the kept entries hold so far: where the next one starts.
    pub(crate) fn kept_len(&self) -> u64 {
        self.len
    }

    /// Starts the digest of what is kept from now on.
    pub(crate) fn restart_digest(&mut self) {
        self.digest = sha2::Digest::new();
    }

    /// The sha256 of what was kept since [`EntryWriter::restart_digest`].
    pub(crate) fn digest(&self) -> moa_model::types::Sha256 {
        moa_model::types::Sha256::from_bytes(sha2::Digest::finalize(self.digest.clone()).into())
    }

    /// Writes the kept bytes from `start` on to `w` (what one index added, for the
    /// parsed-index cache).
    pub(crate) fn copy_since(&mut self, start: u64, w: &mut dyn Write) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.out.flush()?;
        let file = self.out.get_ref();
        let mut buf = vec![0; 1 << 20];
        let mut at = start;
        while at < self.len {
            let n = buf.len().min(usize::try_from(self.len - at).unwrap_or(usize::MAX));
            file.read_exact_at(&mut buf[..n], at)?;
            w.write_all(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    /// Appends `len` bytes of `from` as kept entries, their digest checked against `expected`
    /// as they are copied: where they start, or, when the digest differs or `from` ends early,
    /// `None` with nothing appended. `from` is the parsed-index cache: checked as it is used.
    pub(crate) fn append_checked(
        &mut self,
        from: &mut dyn std::io::Read,
        len: u64,
        expected: &moa_model::types::Sha256,
    ) -> std::io::Result<Option<u64>> {
        let start = self.len;
        let mut hasher = moa_model::types::HashingWriter::new(&mut self.out);
        let copied = std::io::copy(&mut std::io::Read::take(from, len), &mut hasher);
        let (got, _, _) = hasher.finish();
        match copied {
            Ok(copied) if copied == len && got == *expected => {
                self.len += len;
                Ok(Some(start))
            }
            // Back to where the entries ended: what was copied is dropped, also after a read
            // error (later entries' places count from `len`).
            Ok(_) => self.truncate(start).map(|()| None),
            Err(e) => self.truncate(start).and(Err(e)),
        }
    }

    /// Appends every entry `other` kept (another suite's, loaded on its own thread): returns
    /// the place they start at here, which their spans are moved by.
    pub(crate) fn append_all(&mut self, other: &mut EntryWriter) -> std::io::Result<u64> {
        let start = self.len;
        match other.copy_since(0, &mut self.out) {
            Ok(()) => {
                self.len += other.len;
                Ok(start)
            }
            // Nothing half-appended stays: later entries' places count from `len`.
            Err(e) => self.truncate(start).and(Err(e)),
        }
    }

    /// Drops what was written after `start` (a place [`EntryWriter::kept_len`] gave).
    pub(crate) fn truncate(&mut self, start: u64) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_mut().set_len(start)?;
        std::io::Seek::seek(self.out.get_mut(), std::io::SeekFrom::Start(start))?;
        self.len = start;
        Ok(())
    }

    /// Every kept entry, for reading back.
    pub fn finish(self) -> std::io::Result<EntryStore> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(EntryStore { file: Some(Arc::new(file)), len: self.len })
    }
}

/// Reads a file from `pos` on by offset, so that two threads read one open file at places of
/// their own (a parsed entry's records and the index entries after them).
pub(crate) struct ReadAt<'f> {
    pub file: &'f std::fs::File,
    pub pos: u64,
}

impl std::io::Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The kept entries of one repository (none when entries were not kept).
#[derive(Debug, Clone, Default)]
pub struct EntryStore {
    file: Option<Arc<std::fs::File>>,
    len: u64,
}

impl EntryStore {
    /// The bytes of one entry; `None` when the span is not in the store.
    pub fn get(&self, span: EntrySpan) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let end = span.start.checked_add(span.len).filter(|e| *e <= self.len)?;
        let file = self.file.as_ref()?;
        let mut buf = vec![0; usize::try_from(end - span.start).ok()?];
        file.read_exact_at(&mut buf, span.start).ok()?;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_entries_read_back_and_dropped_ones_leave_no_trace() {
        let mut w = EntryWriter::new().unwrap();
        w.begin(b"<a>");
        w.extend(b"1</a>");
        let a = w.keep().unwrap();
        w.begin(b"<dropped/>");
        w.begin(b"<b/>");
        let b = w.keep().unwrap();
        let store = w.finish().unwrap();
        assert_eq!(store.get(a).unwrap(), b"<a>1</a>");
        assert_eq!(store.get(b).unwrap(), b"<b/>");
        assert_eq!(store.get(EntrySpan { start: 5, len: 100 }), None);
        assert_eq!(EntryStore::default().get(a), None);
    }

    #[test]
    fn another_writers_entries_are_appended_after_these() {
        let (mut a, mut b) = (EntryWriter::new().unwrap(), EntryWriter::new().unwrap());
        a.begin(b"Package: a\n\n");
        let first = a.keep().unwrap();
        b.begin(b"Package: b\n\n");
        let mut second = b.keep().unwrap();
        second.start += a.append_all(&mut b).unwrap();
        a.begin(b"Package: c\n\n");
        let third = a.keep().unwrap();
        let store = a.finish().unwrap();
        assert_eq!(store.get(first).unwrap(), b"Package: a\n\n");
        assert_eq!(store.get(second).unwrap(), b"Package: b\n\n");
        assert_eq!(store.get(third).unwrap(), b"Package: c\n\n");
    }

    /// What one index kept: its digest as it was written, its bytes read back; index entries
    /// from the cache are appended only when their digest matches, else nothing is.
    #[test]
    fn an_index_kept_entries_digest_copy_and_checked_append() {
        use moa_model::types::Sha256;
        let mut w = EntryWriter::new().unwrap();
        w.begin(b"first index\n");
        w.keep().unwrap();
        let start = w.kept_len();
        w.restart_digest();
        for e in [&b"a: 1\n"[..], b"b: 2\n"] {
            w.begin(e);
            w.keep().unwrap();
        }
        assert_eq!(w.digest(), Sha256::digest(b"a: 1\nb: 2\n"));
        let mut copied = Vec::new();
        w.copy_since(start, &mut copied).unwrap();
        assert_eq!(copied, b"a: 1\nb: 2\n");

        let end = w.kept_len();
        let bad = w.append_checked(&mut &b"c: 3\n"[..], 5, &Sha256::digest(b"other")).unwrap();
        assert_eq!((bad, w.kept_len()), (None, end), "a mismatch appends nothing");
        let short = w.append_checked(&mut &b"c:"[..], 5, &Sha256::digest(b"c: 3\n")).unwrap();
        assert_eq!((short, w.kept_len()), (None, end), "nor does a short read");
        let at = w.append_checked(&mut &b"c: 3\n"[..], 5, &Sha256::digest(b"c: 3\n")).unwrap();
        assert_eq!(at, Some(end));
        w.begin(b"d: 4\n");
        let d = w.keep().unwrap();
        let store = w.finish().unwrap();
        assert_eq!(store.get(EntrySpan { start: end, len: 5 }).unwrap(), b"c: 3\n");
        assert_eq!(store.get(d).unwrap(), b"d: 4\n");
    }
}
