//! Validated newtypes shared by every stage: package names, architectures and sha256 digests.
//!
//! A string that crosses a stage boundary and would be ambiguous as `String` gets a type here, so
//! that a value is checked once, where it enters the program (manifest, metadata, bundle index),
//! and never again. Versions live in [`crate::version`]; dependency syntax in [`crate::resolve`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name, architecture or digest was refused.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("`{0}` is not a valid package name: use letters, digits and `+ - . _ ~` (no spaces or slashes)")]
    PackageName(String),
    #[error("`{0}` is not a valid architecture name (e.g. x86_64, noarch, amd64, all)")]
    Arch(String),
    #[error("`{0}` is not a sha256 digest: expected 64 hexadecimal characters")]
    Sha256(String),
    #[error("`{0}` is not a safe file name: it must be a plain name without `/`, `\\`, `..` or NUL")]
    FileName(String),
}

/// A package name as rpm and dpkg spell it: no whitespace, no path separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(Box<str>);

impl PackageName {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let ok = !s.is_empty()
            && s.len() <= 256
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-._~^@".contains(c))
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.into()))
        } else {
            Err(TypeError::PackageName(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PackageName {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::new(&s)
    }
}
impl From<PackageName> for String {
    fn from(p: PackageName) -> String {
        p.0.into()
    }
}
impl FromStr for PackageName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        Self::new(s)
    }
}
impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::borrow::Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A machine architecture as the package family names it (`x86_64`/`noarch`, `amd64`/`all`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Arch(Box<str>);

impl Arch {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        if !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            Ok(Self(s.into()))
        } else {
            Err(TypeError::Arch(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Arch {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::new(&s)
    }
}
impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.0.into()
    }
}
impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sha256 digest, stored as 32 bytes, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn from_hex(s: &str) -> Result<Self, TypeError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| TypeError::Sha256(s.to_string()))?;
        Ok(Self(out))
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }
    /// Digest of a byte slice.
    pub fn digest(data: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(data).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}
impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}
impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl TryFrom<String> for Sha256 {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::from_hex(&s)
    }
}
impl From<Sha256> for String {
    fn from(s: Sha256) -> String {
        s.to_hex()
    }
}

/// A sha256 computed while data streams through a writer.
pub struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    written: u64,
}

impl<W: std::io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        Self { inner, hasher: sha2::Sha256::new(), written: 0 }
    }
    /// Forgets what was hashed so far (before a retry).
    pub fn reset_hash(&mut self) {
        use sha2::Digest;
        self.hasher = sha2::Sha256::new();
        self.written = 0;
    }
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> (Sha256, u64, W) {
        use sha2::Digest;
        (Sha256(self.hasher.finalize().into()), self.written, self.inner)
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Checks that a file name taken from metadata or a bundle is a single plain path component.
pub fn safe_file_name(name: &str) -> Result<&str, TypeError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        Err(TypeError::FileName(name.to_string()))
    } else {
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_paths_and_spaces() {
        assert!(PackageName::new("autogen-libopts").is_ok());
        assert!(PackageName::new("libstdc++").is_ok());
        assert!(PackageName::new("a b").is_err());
        assert!(PackageName::new("../etc").is_err());
        assert!(PackageName::new("").is_err());
    }

    #[test]
    fn sha256_round_trips_and_rejects_garbage() {
        let d = Sha256::digest(b"abc");
        assert_eq!(d.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Sha256::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Sha256::from_hex("abc").is_err());
    }

    #[test]
    fn file_names_must_be_one_component() {
        assert!(safe_file_name("ntp-4.2.rpm").is_ok());
        for bad in ["", "..", "a/b", "..\\x", "/etc/passwd"] {
            assert!(safe_file_name(bad).is_err(), "{bad}");
        }
    }
}
