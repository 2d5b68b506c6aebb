//! The keys a manifest pins, as data: a [`Fingerprint`] and where the key comes from
//! ([`KeyPin`]). Checking signatures against them is the engine's `trust` module.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An OpenPGP key fingerprint: 40 (v4) or 64 (v6) hex digits, kept upper case, without spaces.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn new(s: &str) -> Result<Self, String> {
        let hex: String = s.chars().filter(|c| *c != ' ').collect::<String>().to_ascii_uppercase();
        if !(hex.len() == 40 || hex.len() == 64) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{}` is not an OpenPGP fingerprint (40 or 64 hex digits, as `gpg --show-keys` prints it)",
                crate::types::shown(s)
            ));
        }
        Ok(Self(hex))
    }
    pub fn from_bytes(b: &[u8]) -> Self {
        Self(hex::encode_upper(b))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::new(&s)
    }
}
impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// A key a manifest pins: where the key comes from — a file relative to the manifest, or a URL
/// fetched at build time (the vendor's published key) —, the primary key's expected fingerprint,
/// and whether legacy packets (V3 signatures, SHA-1 self-signatures) are accepted. Either way
/// the fingerprint is the trust anchor: key material that does not carry it is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPin {
    /// The key file, relative to the manifest (empty when `url` is given).
    #[serde(default)]
    pub file: String,
    /// Where the vendor publishes the key; fetched (and cached) by builds.
    #[serde(default)]
    pub url: Option<crate::types::MirrorUrl>,
    pub fingerprint: Fingerprint,
    #[serde(default)]
    pub legacy: bool,
    /// The key file's bytes, read when the manifest is loaded.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Where `url` is under a mirror root that `--mirror` replaced: the same path under each
    /// replacement, tried first (the fingerprint decides, wherever the bytes come from).
    #[serde(skip)]
    pub mirror_urls: Vec<crate::types::MirrorUrl>,
}

impl KeyPin {
    /// Where the key comes from, for messages: the file, or the URL.
    pub fn origin(&self) -> String {
        match &self.url {
            Some(u) => u.to_string(),
            None => self.file.clone(),
        }
    }
}
