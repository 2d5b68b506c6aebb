//! Pinned OpenPGP keys: read from a key file (armored or binary, one or several keys), the key
//! whose primary fingerprint the manifest pins is kept, with every key of it that may sign (the
//! primary and its validly bound signing subkeys) and the window in which each was valid.
//!
//! Self-signatures and subkey bindings are checked here; a key that is self-signed with SHA-1
//! only (CentOS 7's, made in 2014) is accepted only when the pin says `legacy = true`.

use pgp::composed::SignedPublicKey;
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType, SignatureVersion};
use pgp::types::KeyDetails;

use super::{Fingerprint, KeyPin, TrustError};

/// One key that may make signatures: a pinned primary key or one of its signing subkeys.
#[derive(Debug, Clone)]
pub(crate) struct Signer {
    /// The primary key the manifest pinned (what messages and bundle.json name).
    pub pinned: Fingerprint,
    /// This key's own fingerprint (a subkey's differs from the pinned one).
    pub fingerprint: Fingerprint,
    pub key_id: [u8; 8],
    pub legacy: bool,
    /// Seconds since the epoch: a signature made outside `[created, expires)` does not count.
    pub created: u32,
    pub expires: Option<u64>,
    pub revoked: bool,
    pub key: SignerKey,
}

#[derive(Debug, Clone)]
pub(crate) enum SignerKey {
    Primary(PublicKey),
    Sub(PublicSubkey),
}

impl SignerKey {
    pub(super) fn verify_read(&self, sig: &Signature, data: impl std::io::Read) -> pgp::errors::Result<()> {
        match self {
            Self::Primary(k) => sig.verify(k, data),
            Self::Sub(k) => sig.verify(k, data),
        }
    }
}

/// Hash algorithms a data signature may use (apt refuses anything weaker than SHA-224).
pub(crate) fn strong_hash(h: HashAlgorithm) -> bool {
    matches!(
        h,
        HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512
    )
}

fn fingerprint_of(k: &impl KeyDetails) -> Fingerprint {
    Fingerprint::from_bytes(k.fingerprint().as_bytes())
}

fn key_id_of(k: &impl KeyDetails) -> [u8; 8] {
    let id = k.legacy_key_id();
    let mut out = [0u8; 8];
    out.copy_from_slice(id.as_ref());
    out
}

/// Every key in a key file, armored (`-----BEGIN PGP PUBLIC KEY BLOCK-----`) or binary.
fn parse_keys(bytes: &[u8]) -> Result<Vec<SignedPublicKey>, String> {
    let keys: Vec<SignedPublicKey> = super::parse_many(bytes)?;
    if keys.is_empty() {
        return Err("it holds no OpenPGP public key".into());
    }
    Ok(keys)
}

/// The signing keys of the pinned key in `pin`'s file.
pub(crate) fn load(pin: &KeyPin) -> Result<Vec<Signer>, TrustError> {
    let bad = |message: String| TrustError::Key { file: pin.origin(), message };
    let keys = parse_keys(&pin.bytes).map_err(|m| bad(format!("not an OpenPGP key file: {m}")))?;
    let Some(key) = keys.iter().find(|k| fingerprint_of(&k.primary_key) == pin.fingerprint) else {
        let seen: Vec<String> = keys.iter().map(|k| fingerprint_of(&k.primary_key).to_string()).collect();
        return Err(bad(format!(
            "it holds {} but not the pinned key {}: the file is not the key the manifest names; get the distro's real key and compare fingerprints",
            seen.join(", "),
            pin.fingerprint
        )));
    };
    let primary = &key.primary_key;
    let (expires, sha1_only) = primary_validity(key).map_err(bad)?;
    if sha1_only && !pin.legacy {
        return Err(bad(format!(
            "key {} is self-signed with SHA-1 only: trust it only if you must (old distros), by marking the pin `legacy = true`",
            pin.fingerprint
        )));
    }
    let revoked = key.details.revocation_signatures.iter().any(|s| s.verify_key(primary).is_ok());
    let created = primary.created_at().as_secs();
    let mut out = vec![Signer {
        pinned: pin.fingerprint.clone(),
        fingerprint: pin.fingerprint.clone(),
        key_id: key_id_of(primary),
        legacy: pin.legacy,
        created,
        expires: expires.map(|d| created as u64 + d),
        revoked,
        key: SignerKey::Primary(primary.clone()),
    }];
    for sub in &key.public_subkeys {
        if let Some(s) = subkey_signer(pin, primary, sub, revoked) {
            out.push(s);
        }
    }
    Ok(out)
}

/// The primary key's expiry (seconds after creation) from its newest valid self-signature, and
/// whether every valid self-signature uses SHA-1 or weaker.
fn primary_validity(key: &SignedPublicKey) -> Result<(Option<u64>, bool), String> {
    let primary = &key.primary_key;
    let mut best: Option<&Signature> = None;
    let mut strong = false;
    let certs = key.details.users.iter().flat_map(|u| u.signatures.iter().map(move |s| (s, Some(u))));
    let direct = key.details.direct_signatures.iter().map(|s| (s, None));
    for (sig, user) in certs.chain(direct) {
        let ok = match user {
            Some(u) if sig.is_certification() => {
                sig.verify_certification(primary, pgp::types::Tag::UserId, &u.id).is_ok()
            }
            None if sig.typ() == Some(SignatureType::Key) => sig.verify_key(primary).is_ok(),
            _ => false,
        };
        if !ok {
            continue;
        }
        strong |= sig.hash_alg().is_some_and(strong_hash);
        if best.is_none_or(|b| sig.created() > b.created()) {
            best = Some(sig);
        }
    }
    let Some(best) = best else {
        return Err("the key has no valid self-signature: it is damaged or not a published distro key".into());
    };
    Ok((best.key_expiration_time().map(|d| u64::from(d.as_secs())).filter(|s| *s > 0), !strong))
}

/// A subkey that may sign: bound by a valid binding signature that grants signing and carries a
/// valid back-signature. Anything else is left out (a signature by it then counts as unknown).
fn subkey_signer(
    pin: &KeyPin,
    primary: &PublicKey,
    sub: &pgp::composed::SignedPublicSubKey,
    primary_revoked: bool,
) -> Option<Signer> {
    let mut binding: Option<&Signature> = None;
    let mut revoked = primary_revoked;
    for sig in &sub.signatures {
        match sig.typ() {
            Some(SignatureType::SubkeyBinding) => {
                let weak = !sig.hash_alg().is_some_and(strong_hash) && !pin.legacy;
                let ok = sig.verify_subkey_binding(primary, &sub.key).is_ok()
                    && sig.key_flags().sign()
                    && sig
                        .embedded_signature()
                        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
                if ok && !weak && binding.is_none_or(|b| sig.created() > b.created()) {
                    binding = Some(sig);
                }
            }
            Some(SignatureType::SubkeyRevocation) => {
                revoked |= sig.verify_subkey_binding(primary, &sub.key).is_ok();
            }
            _ => {}
        }
    }
    let binding = binding?;
    let created = sub.key.created_at().as_secs();
    Some(Signer {
        pinned: pin.fingerprint.clone(),
        fingerprint: fingerprint_of(&sub.key),
        key_id: key_id_of(&sub.key),
        legacy: pin.legacy,
        created,
        expires: binding
            .key_expiration_time()
            .map(|d| u64::from(d.as_secs()))
            .filter(|s| *s > 0)
            .map(|d| created as u64 + d),
        revoked,
        key: SignerKey::Sub(sub.key.clone()),
    })
}

/// Whether `sig` names `signer` as its issuer (by fingerprint or key id).
pub(crate) fn issued_by(sig: &Signature, signer: &Signer) -> bool {
    sig.issuer_fingerprint().iter().any(|f| Fingerprint::from_bytes(f.as_bytes()) == signer.fingerprint)
        || sig.issuer_key_id().iter().any(|id| id.as_ref() == signer.key_id)
}

/// What makes a signature by a known key unacceptable, before the mathematics is checked.
pub(crate) fn policy_refusal(sig: &Signature, signer: &Signer) -> Option<String> {
    let hash = sig.hash_alg();
    if !hash.is_some_and(strong_hash) {
        let h = hash.map(|h| h.to_string()).unwrap_or_else(|| "an unknown hash".into());
        return Some(format!("it uses {h}, weaker than SHA-224"));
    }
    if matches!(sig.version(), SignatureVersion::V2 | SignatureVersion::V3) && !signer.legacy {
        return Some(format!(
            "it is a legacy version-3 signature: accept those only for old distros, by marking key {} `legacy = true`",
            signer.pinned
        ));
    }
    let Some(created) = sig.created().map(|t| t.as_secs()) else {
        return Some("it has no creation time".into());
    };
    if signer.revoked {
        return Some(format!("key {} is revoked", signer.fingerprint));
    }
    if created < signer.created {
        return Some(format!("it claims to be older than key {} itself", signer.fingerprint));
    }
    if let Some(exp) = signer.expires.filter(|e| created as u64 >= *e) {
        return Some(format!("key {} had expired when it was made (at {exp})", signer.fingerprint));
    }
    None
}
