//! Bundle signatures in the minisign format (Ed25519 over the BLAKE2b-512 of the whole bundle
//! file, so every byte install acts on is covered: bundle.json, SHA256SUMS, roles, install.sh,
//! packages). `<bundle>.minisig` sits beside the bundle; the real `minisign -V` verifies it and
//! `minisign -S` signatures verify here.
//!
//! On a node, the keys to trust are `--key` files and every `*.pub` in
//! `<root>/etc/moa-bundle/trusted-keys/` (dotfiles too, as `install.sh` reads them): once there
//! is one, a bundle must carry a signature by one of them. [`required`] reads and matches the
//! signature before any byte of the bundle is read; the bundle's bytes then go through
//! [`Required::verifier`] in the same single pass that unpacks them (`bundle::verify`), so the
//! bytes whose signature holds are the bytes installed. Legacy signatures (`minisign -S -l`,
//! Ed25519 over the whole file) cannot be checked that way and are refused, saying so.

use std::path::{Path, PathBuf};

use minisign::{PublicKeyBox, SecretKeyBox, SignatureBox};

/// Where a node keeps the public keys whose bundles it installs.
pub(crate) const TRUSTED_KEYS_DIR: &str = "etc/moa-bundle/trusted-keys";
/// A key or signature file is a few lines.
const KEY_FILE_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("{} is not signed ({} is missing), and this node trusts bundle keys ({keys}): only signed bundles are installed here. Sign it with `moa-bundle build --sign KEY` (or `minisign -S`)", bundle.display(), signature.display())]
    Unsigned { bundle: PathBuf, signature: PathBuf, keys: String },
    #[error("{}: the signature {} is by key {seen}, not by a trusted key ({keys}). Get the bundle from its real publisher, or trust its key with --key / {TRUSTED_KEYS_DIR}", bundle.display(), signature.display())]
    UnknownKey { bundle: PathBuf, signature: PathBuf, seen: String, keys: String },
    #[error("{}: the signature {} by key {key} does not match: {message}. The bundle or its signature was altered; do not install it", bundle.display(), signature.display())]
    Bad { bundle: PathBuf, signature: PathBuf, key: String, message: String },
    #[error("{}: the signature {} by key {key} is a legacy minisign signature (`minisign -S -l`: Ed25519 over the whole file, not over its BLAKE2b-512 digest). moa-bundle checks a bundle's signature in the same single pass that unpacks it, which only a prehashed signature allows: sign the bundle again without -l (`minisign -S`, or `moa-bundle build --sign`)", bundle.display(), signature.display())]
    Legacy { bundle: PathBuf, signature: PathBuf, key: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

fn read_small(path: &Path) -> Result<String, SignError> {
    let io = |message: String| SignError::Io { path: path.to_path_buf(), message };
    let bytes = moa_model::files::read_at_most(path, KEY_FILE_BYTES)
        .map_err(|e| io(format!("could not read it: {e}")))?
        .ok_or_else(|| io(format!("larger than {KEY_FILE_BYTES} bytes: not a minisign file")))?;
    String::from_utf8(bytes).map_err(|_| io("not text: not a minisign file".into()))
}

/// A trusted public key and where it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: String,
    pub path: PathBuf,
    key: minisign_verify::PublicKey,
}

fn key_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

impl TrustedKey {
    /// A minisign public key file (`untrusted comment:` line, then the base64 key).
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let text = read_small(path)?;
        let bad = |e: minisign::PError| SignError::Key {
            path: path.to_path_buf(),
            message: format!("not a minisign public key: {e}"),
        };
        let id = key_id(PublicKeyBox::from_string(&text).and_then(|b| b.into_public_key()).map_err(bad)?.keynum());
        let key = minisign_verify::PublicKey::decode(&text).map_err(|e| SignError::Key {
            path: path.to_path_buf(),
            message: format!("not a minisign public key: {e}"),
        })?;
        Ok(Self { id, path: path.to_path_buf(), key })
    }
}

impl TrustedKey {
    /// Whether `sig` is this key's signature over `data` (prehashed or not).
    pub(crate) fn verify(&self, data: &[u8], sig: &minisign_verify::Signature) -> Result<(), minisign_verify::Error> {
        self.key.verify(data, sig, true)
    }
}

/// The keys a node trusts: `extra` (`--key`) and every `*.pub` under `<root>/etc/moa-bundle/trusted-keys/`.
pub fn trusted_keys(root: &Path, extra: &[PathBuf]) -> Result<Vec<TrustedKey>, SignError> {
    let mut keys: Vec<TrustedKey> = extra.iter().map(|p| TrustedKey::load(p)).collect::<Result<_, _>>()?;
    let dir = root.join(TRUSTED_KEYS_DIR);
    let entries = match fs_err::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(SignError::Io { path: dir, message: e.to_string() }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    files.sort();
    moa_model::limits::check("the number of trusted keys", files.len() as u64, moa_model::limits::KEYS as u64)
        .map_err(|message| SignError::Io { path: dir.clone(), message })?;
    for f in files {
        keys.push(TrustedKey::load(&f)?);
    }
    Ok(keys)
}

/// `<bundle>.minisig`.
pub(crate) fn signature_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// What a signature check found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureCheck {
    /// The trusted key that signed the bundle.
    pub key: String,
    pub key_file: PathBuf,
    /// The signature's trusted comment (signed too).
    pub comment: String,
}

/// The signature a bundle must carry on a node that trusts `keys`: `<bundle>.minisig` read
/// (a regular file, bounded), parsed and matched to one of the keys. `None` when the node trusts
/// no key. Checking it is [`Required::verifier`] over the bundle's bytes, then
/// [`Required::finish`].
pub struct Required {
    bundle: PathBuf,
    signature: PathBuf,
    key: TrustedKey,
    sig: minisign_verify::Signature,
}

pub(crate) fn required(bundle: &Path, keys: &[TrustedKey]) -> Result<Option<Required>, SignError> {
    if keys.is_empty() {
        return Ok(None);
    }
    let signature = signature_path(bundle);
    let names = keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>().join(", ");
    if fs_err::symlink_metadata(&signature).is_err() {
        return Err(SignError::Unsigned { bundle: bundle.into(), signature, keys: names });
    }
    let text = read_small(&signature)?;
    let bad = |key: &str, message: String| SignError::Bad {
        bundle: bundle.into(),
        signature: signature.clone(),
        key: key.to_string(),
        message,
    };
    let boxed = SignatureBox::from_string(&text).map_err(|e| bad("?", format!("not a minisign signature: {e}")))?;
    let seen = key_id(boxed.keynum());
    let Some(key) = keys.iter().find(|k| k.id == seen) else {
        return Err(SignError::UnknownKey { bundle: bundle.into(), signature, seen, keys: names });
    };
    if !boxed.is_prehashed() {
        return Err(SignError::Legacy { bundle: bundle.into(), signature, key: key.id.clone() });
    }
    let sig = minisign_verify::Signature::decode(&text)
        .map_err(|e| bad(&key.id, format!("not a minisign signature: {e}")))?;
    Ok(Some(Required { bundle: bundle.into(), signature, key: key.clone(), sig }))
}

impl Required {
    fn bad(&self, message: String) -> SignError {
        SignError::Bad {
            bundle: self.bundle.clone(),
            signature: self.signature.clone(),
            key: self.key.id.clone(),
            message,
        }
    }

    /// What the bundle's bytes are fed to, in the order they are read.
    pub fn verifier(&self) -> Result<minisign_verify::StreamVerifier<'_>, SignError> {
        self.key.key.verify_stream(&self.sig).map_err(|e| self.bad(e.to_string()))
    }

    /// Whether the signature holds for every byte fed to `verifier`.
    pub fn finish(&self, mut verifier: minisign_verify::StreamVerifier<'_>) -> Result<SignatureCheck, SignError> {
        verifier.finalize().map_err(|e| self.bad(format!("{e}: the bytes read are not the bytes that were signed")))?;
        Ok(SignatureCheck {
            key: self.key.id.clone(),
            key_file: self.key.path.clone(),
            comment: self.sig.trusted_comment().to_string(),
        })
    }
}

/// Signs `bundle` with the (unencrypted) minisign secret key in `secret`, writing
/// `<bundle>.minisig` atomically. The trusted comment names the file and its sha256.
pub(crate) fn sign(
    bundle: &Path,
    secret: &Path,
    bundle_sha256: &moa_model::types::Sha256,
) -> Result<PathBuf, SignError> {
    let text = read_small(secret)?;
    let bad = |message: String| SignError::Key { path: secret.to_path_buf(), message };
    let sk = SecretKeyBox::from_string(&text).and_then(|b| b.into_unencrypted_secret_key()).map_err(|e| {
        bad(format!("not an unencrypted minisign secret key ({e}): make one with `moa-bundle key generate`"))
    })?;
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let comment = format!("file:{} sha256:{}", moa_model::types::shown(&name), bundle_sha256.to_hex());
    let f = fs_err::File::open(bundle).map_err(|e| SignError::Io { path: bundle.into(), message: e.to_string() })?;
    let sig = minisign::sign(None, &sk, std::io::BufReader::new(f), Some(&comment), Some("signed by moa-bundle"))
        .map_err(|e| bad(format!("signing failed: {e}")))?;
    let out = signature_path(bundle);
    moa_model::files::write_atomic(&out, sig.to_string().as_bytes(), 0o644)
        .map_err(|e| SignError::Io { path: out.clone(), message: e.to_string() })?;
    Ok(out)
}

/// Signs `data` with the (unencrypted) minisign secret key in `secret`: its key id and the
/// signature file's text, `comment` as its trusted comment.
pub(crate) fn sign_bytes(data: &[u8], secret: &Path, comment: &str) -> Result<(String, String), SignError> {
    let text = read_small(secret)?;
    let bad = |message: String| SignError::Key { path: secret.to_path_buf(), message };
    let sk = SecretKeyBox::from_string(&text).and_then(|b| b.into_unencrypted_secret_key()).map_err(|e| {
        bad(format!("not an unencrypted minisign secret key ({e}): make one with `moa-bundle key generate`"))
    })?;
    let sig = minisign::sign(None, &sk, data, Some(comment), Some("signed by moa-bundle"))
        .map_err(|e| bad(format!("signing failed: {e}")))?;
    Ok((key_id(sk.keynum()), sig.to_string()))
}

/// A new key pair: `<prefix>.key` (secret, mode 0600, unencrypted) and `<prefix>.pub`. Refuses
/// to overwrite either.
pub fn generate(prefix: &Path) -> Result<(PathBuf, PathBuf, String), SignError> {
    let with = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (secret, public) = (with(".key"), with(".pub"));
    for p in [&secret, &public] {
        if p.exists() {
            return Err(SignError::Io {
                path: p.clone(),
                message: "already exists: move it away or pick another name".into(),
            });
        }
    }
    let kp = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| SignError::Key { path: secret.clone(), message: e.to_string() })?;
    let id = key_id(kp.pk.keynum());
    let pk = kp.pk.to_box().map_err(|e| SignError::Key { path: public.clone(), message: e.to_string() })?;
    let sk = kp.sk.to_box(None).map_err(|e| SignError::Key { path: secret.clone(), message: e.to_string() })?;
    let io = |path: PathBuf| move |e: std::io::Error| SignError::Io { path, message: e.to_string() };
    moa_model::files::write_atomic(&secret, sk.to_string().as_bytes(), 0o600).map_err(io(secret.clone()))?;
    moa_model::files::write_atomic(&public, pk.to_string().as_bytes(), 0o644).map_err(io(public.clone()))?;
    Ok((secret, public, id))
}
