//! Upstream trust: the OpenPGP keys a manifest pins for each repository, and the signatures on
//! what the repository publishes (`InRelease`, `Release.gpg`, `repomd.xml.asc`, rpm headers)
//! judged against them the way apt judges them:
//!
//! - at least one good signature by a pinned key, and no bad one;
//! - signatures by keys nobody pinned are ignored beside a good one;
//! - a data hash weaker than SHA-224 is bad; legacy V3 signatures and SHA-1 self-signed keys
//!   only for pins marked `legacy`;
//! - a key is judged at the signature's creation time, so a frozen archive whose key has since
//!   expired still verifies.
//!
//! Crypto is rPGP (`pgp`), pure Rust, so the glibc-2.17 release binary stays static.

mod keys;

use std::io::Read;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature};
use pgp::packet::Signature;
use serde::Serialize;

use keys::Signer;
pub(crate) use moa_model::key::{Fingerprint, KeyPin};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("key file {file}: {message}")]
    Key { file: String, message: String },
    #[error("{what}: no signature by a pinned key ({expected}); {seen}. The mirror is not the repository the manifest names, or its key changed: check the manifest's `keys`, or pass --insecure-skip-signatures to build without checks (recorded in the bundle)")]
    NoTrustedSignature { what: String, expected: String, seen: String },
    #[error("{what}: the signature by key {key} is bad: {reason}. The file was altered or the mirror is broken: try another --mirror; never skip the check for this")]
    BadSignature { what: String, key: String, reason: String },
    /// A signature that may well match, refused by policy (a V3 signature on a pin not marked
    /// legacy, a key expired or revoked when it signed): nothing says the file was altered.
    #[error("{what}: the signature by key {key} is refused: {reason}")]
    Refused { what: String, key: String, reason: String },
    #[error("{what}: the signature by key {key} uses {hash}, weaker than SHA-224, which is refused as apt refuses it. Ask the publisher to sign with SHA-256 or better")]
    WeakHash { what: String, key: String, hash: String },
    #[error("{what}: {message}")]
    Malformed { what: String, message: String },
}

/// Who signed a verified file: the pinned key and the (sub)key that made the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signed {
    pub key: Fingerprint,
    pub signer: Fingerprint,
}

/// The signing keys of a repository's pins.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    signers: Vec<Signer>,
    pinned: Vec<Fingerprint>,
}

impl Keyring {
    /// Loads every pin; a pin whose file lacks the pinned key, or whose key is unusable, fails.
    pub fn load(pins: &[KeyPin]) -> Result<Self, TrustError> {
        let mut ring = Keyring::default();
        for pin in pins {
            ring.signers.extend(keys::load(pin)?);
            ring.pinned.push(pin.fingerprint.clone());
        }
        Ok(ring)
    }

    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty()
    }

    /// Checks detached signature(s) (`Release.gpg`, `repomd.xml.asc`: armored or binary) over `data`.
    pub fn verify_detached(&self, what: &str, data: &[u8], sig: &[u8]) -> Result<Signed, TrustError> {
        let sigs = parse_signatures(sig).map_err(|m| TrustError::Malformed { what: what.into(), message: m })?;
        self.judge(what, &sigs, || Ok(data))
    }

    /// Checks a clearsigned file (`InRelease`) and returns the text that was signed: the only
    /// part of the file anything may read. That is the dash-unescaped, trimmed text the
    /// signature covers, with `\n` line ends — never the dash-escaped form, where a `- ` before
    /// any line would hide it from a parser while the signature still holds.
    pub fn verify_cleartext(&self, what: &str, text: &str) -> Result<(String, Signed), TrustError> {
        let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| TrustError::Malformed {
            what: what.into(),
            message: format!("not a clearsigned OpenPGP message: {e}"),
        })?;
        let signed = msg.signed_text();
        let sigs: Vec<Signature> = msg.signatures().to_vec();
        let who = self.judge(what, &sigs, || Ok(signed.as_bytes()))?;
        Ok((signed.replace("\r\n", "\n"), who))
    }

    /// Judges `sigs` over the data `data()` reads (called once per signature checked).
    pub fn judge<R: Read>(
        &self,
        what: &str,
        sigs: &[Signature],
        data: impl Fn() -> std::io::Result<R>,
    ) -> Result<Signed, TrustError> {
        let mut good = None;
        let mut unknown = Vec::new();
        for sig in sigs {
            let Some(signer) = self.signers.iter().find(|s| keys::issued_by(sig, s)) else {
                unknown.push(issuer_of(sig));
                continue;
            };
            let bad = |reason: String| TrustError::BadSignature {
                what: what.into(),
                key: signer.fingerprint.to_string(),
                reason,
            };
            if !sig.hash_alg().is_some_and(keys::strong_hash) {
                let hash = sig.hash_alg().map(|h| h.to_string()).unwrap_or_else(|| "an unknown hash".into());
                return Err(TrustError::WeakHash { what: what.into(), key: signer.fingerprint.to_string(), hash });
            }
            if let Some(reason) = keys::policy_refusal(sig, signer) {
                let key = signer.fingerprint.to_string();
                return Err(TrustError::Refused { what: what.into(), key, reason });
            }
            let reader = data().map_err(|e| bad(format!("reading the signed data: {e}")))?;
            // rPGP's own words here can be a debug dump of hash bytes: say what it means.
            signer.key.verify_read(sig, reader).map_err(|_| bad("it does not match the data".into()))?;
            good.get_or_insert(Signed { key: signer.pinned.clone(), signer: signer.fingerprint.clone() });
        }
        good.ok_or_else(|| TrustError::NoTrustedSignature {
            what: what.into(),
            expected: self.pinned.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", "),
            seen: match (sigs.len(), unknown.is_empty()) {
                (0, _) => "it carries no signature".into(),
                (_, false) => format!("signed only by {}", unknown.join(", ")),
                _ => "no signature names a pinned key".into(),
            },
        })
    }
}

/// The text rPGP takes as signed in a clearsigned message, as [`Keyring::verify_cleartext`]
/// returns it, without checking any signature: for the fuzz target that holds
/// `repo::apt::cleartext` (the unverified path) to the same text.
pub fn signed_text_unverified(text: &str) -> Result<String, String> {
    let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| e.to_string())?;
    Ok(msg.signed_text().replace("\r\n", "\n"))
}

/// The issuer a signature names, for messages.
fn issuer_of(sig: &Signature) -> String {
    if let Some(f) = sig.issuer_fingerprint().first() {
        return format!("key {}", Fingerprint::from_bytes(f.as_bytes()));
    }
    match sig.issuer_key_id().first() {
        Some(id) => format!("key id {}", hex::encode_upper(id.as_ref())),
        None => "a key it does not name".into(),
    }
}

/// Every OpenPGP object of one kind (keys, signatures) in armored (`-----BEGIN …`, looked for
/// in the first 4 KiB) or binary bytes.
pub(crate) fn parse_many<T: Deserializable>(bytes: &[u8]) -> Result<Vec<T>, String> {
    let armored = bytes.windows(10).take(4096).any(|w| w == b"-----BEGIN");
    if armored {
        let (iter, _) = T::from_armor_many(bytes).map_err(|e| e.to_string())?;
        iter.collect::<Result<_, _>>().map_err(|e| e.to_string())
    } else {
        T::from_bytes_many(bytes).map_err(|e| e.to_string())?.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }
}

/// Signature packets from armored or binary bytes (several are allowed: apt's Release.gpg may
/// hold one per archive key).
pub fn parse_signatures(bytes: &[u8]) -> Result<Vec<Signature>, String> {
    let sigs: Vec<DetachedSignature> = parse_many(bytes)?;
    if sigs.is_empty() {
        return Err("it holds no OpenPGP signature".into());
    }
    Ok(sigs.into_iter().map(|d| d.signature).collect())
}

#[cfg(test)]
mod tests;
