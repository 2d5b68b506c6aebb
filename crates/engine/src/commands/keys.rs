//! Keys a manifest pins by URL (`keys = [{ url = "…", fingerprint = "…" }]`): fetched by the
//! commands that read repositories, before anything is verified with them. The fingerprint is
//! the trust anchor: the fetched bytes are used (and cached for `--offline`) only when they hold
//! the pinned key, so a hostile or broken key server can stop a build but never change what it
//! trusts.

use crate::cache::Cache;
use crate::repo::Signatures;
use crate::report::Reporter;
use crate::transport::Transport;
use crate::trust::{KeyPin, Keyring};
use moa_model::manifest::Manifest;

use super::{CommandError, SourceOptions};

/// Why a pinned key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    #[error("repository `{repo}`: key {fingerprint} from {url}: {message}")]
    Fetch { repo: String, fingerprint: String, url: String, message: String },
    #[error("repository `{repo}`: key {fingerprint} could not be fetched from {url}: the build needs it once (it is cached after); with --mirror, put the key file at the same path under the mirror")]
    Unreachable {
        repo: String,
        fingerprint: String,
        url: String,
        #[source]
        source: crate::transport::TransportError,
    },
    #[error("repository `{repo}`: key {fingerprint} is fetched from {url}, and --offline has no copy of it: run the build once with the network first")]
    NotCached { repo: String, fingerprint: String, url: String },
}

/// Fills in the bytes of every key pinned by URL: from the cache when offline, else from the
/// URL (the cache's copy when the server fails). Nothing is fetched when checks are skipped.
pub fn fetch_keys(manifest: &mut Manifest, opts: &SourceOptions, reporter: &dyn Reporter) -> Result<(), CommandError> {
    let wanted = manifest.repositories.iter().flat_map(|r| &r.keys).any(|k| k.url.is_some() && k.bytes.is_empty());
    if !wanted || opts.signatures == Signatures::Skip {
        return Ok(());
    }
    let transport = Transport::new(opts.stall)?;
    let cache = Cache::open(&opts.cache_dir, reporter)?;
    for r in &mut manifest.repositories {
        for pin in r.keys.iter_mut().filter(|k| k.bytes.is_empty()) {
            let Some(url) = pin.url.clone() else { continue };
            let cache_key = format!("keys/{url}");
            let cached = cache
                .metadata(&cache_key, moa_model::limits::KEY_FILE_BYTES)
                .filter(|b| holds_pin(pin, b.clone()).is_ok());
            if opts.offline {
                let Some(bytes) = cached else {
                    let (repo, fingerprint) = (r.name.to_string(), pin.fingerprint.to_string());
                    return Err(KeyFetchError::NotCached { repo, fingerprint, url: url.to_string() }.into());
                };
                pin.bytes = bytes;
                continue;
            }
            reporter.status(&format!("{}: fetching key {} from {url}", r.name, pin.fingerprint));
            let (fetched, failure) = fetch_pinned(&transport, pin, &url, r.name.as_str(), reporter)?;
            let bytes = match (fetched, cached) {
                (Some(bytes), _) => bytes,
                (None, Some(bytes)) => bytes,
                (None, None) => return Err(failure.expect("at least the pin's own URL was tried").into()),
            };
            cache.put_metadata(&cache_key, &bytes);
            pin.bytes = bytes;
        }
    }
    Ok(())
}

/// The pinned key from the replaced mirrors' copies (`--mirror`), then from its own URL: the
/// first bytes that hold it. Bytes that do not hold it, with none that do, are an error (a
/// hostile or broken server must not fall back to a cached copy); where every URL was
/// unreachable, `Ok((None, why))` lets the cache's copy serve.
fn fetch_pinned(
    transport: &Transport,
    pin: &KeyPin,
    url: &moa_model::types::MirrorUrl,
    repo: &str,
    reporter: &dyn Reporter,
) -> Result<(Option<Vec<u8>>, Option<KeyFetchError>), KeyFetchError> {
    let (mut wrong, mut unreachable) = (None, None);
    for u in pin.mirror_urls.iter().chain(std::iter::once(url)) {
        let (repo, fingerprint, shown) = (repo.to_string(), pin.fingerprint.to_string(), u.to_string());
        let got = crate::transport::join(u.as_str(), "")
            .and_then(|u| transport.get(&u, moa_model::limits::KEY_FILE_BYTES, reporter));
        match got {
            Ok(bytes) => match holds_pin(pin, bytes.clone()) {
                Ok(()) => return Ok((Some(bytes), None)),
                Err(e) => wrong = Some(KeyFetchError::Fetch { repo, fingerprint, url: shown, message: e.to_string() }),
            },
            Err(source) => unreachable = Some(KeyFetchError::Unreachable { repo, fingerprint, url: shown, source }),
        }
    }
    match wrong {
        Some(e) => Err(e),
        None => Ok((None, unreachable)),
    }
}

/// Whether `bytes` hold the pinned key, usable under the pin's rules.
fn holds_pin(pin: &KeyPin, bytes: Vec<u8>) -> Result<(), crate::trust::TrustError> {
    let probe = KeyPin { bytes, ..pin.clone() };
    Keyring::load(std::slice::from_ref(&probe)).map(|_| ())
}
