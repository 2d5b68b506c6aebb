//! The bundle file read once, start to end, through one open descriptor: every byte the member
//! pass unpacks also goes into the file's sha256 and, on a node that trusts bundle keys, into
//! the signature's verifier. Nothing reopens the path, so a file renamed over the bundle, or a
//! medium that answers a second read differently, cannot make the bytes checked differ from the
//! bytes used. No more bytes are read than the file had when it was opened.

use std::io::Read;

use moa_model::types::Sha256;

pub(super) struct OnePass<'s> {
    file: std::fs::File,
    /// Bytes the file had when it was opened, not read yet.
    left: u64,
    read: u64,
    sha256: sha2::Sha256,
    signature: Option<minisign_verify::StreamVerifier<'s>>,
}

/// What the pass saw once it reached the end of the file.
pub(super) struct Seen<'s> {
    pub sha256: Sha256,
    pub len: u64,
    pub signature: Option<minisign_verify::StreamVerifier<'s>>,
}

impl<'s> OnePass<'s> {
    pub(super) fn new(file: std::fs::File, len: u64, signature: Option<minisign_verify::StreamVerifier<'s>>) -> Self {
        use sha2::Digest;
        Self { file, left: len, read: 0, sha256: sha2::Sha256::new(), signature }
    }

    /// Reads what is left up to the end of the file (after a failed member pass, so that the
    /// signature can still be judged on the whole file), then hands over the digests.
    pub(super) fn finish(mut self) -> std::io::Result<Seen<'s>> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        use sha2::Digest;
        Ok(Seen {
            sha256: Sha256::from_bytes(self.sha256.finalize().into()),
            len: self.read,
            signature: self.signature,
        })
    }
}

impl Read for OnePass<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte more than is left shows a file that grew while it was read.
        let want = buf.len().min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other("the file grew while it was being read"));
        }
        self.left -= n as u64;
        self.read += n as u64;
        use sha2::Digest;
        self.sha256.update(&buf[..n]);
        if let Some(v) = self.signature.as_mut() {
            v.update(&buf[..n]);
        }
        Ok(n)
    }
}
