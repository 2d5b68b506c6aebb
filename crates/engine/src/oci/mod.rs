//! Bundles in an OCI registry (Harbor, zot, any distribution registry): `push` stores a verified
//! bundle as an OCI artifact, one layer per member (so a registry keeps a package two bundles
//! share once, and a push uploads only the blobs the registry lacks), bundle.json as the config,
//! the `.minisig` and the `.approvals` as layers of their own, and annotations saying what it
//! is. [`pull`] fetches the
//! layers (each checked against its digest and size), packs the bundle again byte for byte
//! (`crate::bundle::pack::repack`) and checks it against the pushed bundle's sha256, so the
//! signature still verifies. Push goes through `oci-client`, with timeouts; pull reads a
//! registry that may be hostile, so it speaks the distribution API over moa-bundle's own
//! transport, every response bounded in size and time before it is read ([`pull`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

mod pull;

pub(crate) use pull::pull;
pub use pull::{read_manifest, Pulled};

use crate::bundle::{BundleIndex, INDEX_FILE, PACKAGES_DIR};
use crate::transport::TransportError;
use moa_model::types::Sha256;

/// The artifact's type, its config's media type, and its layers' media types.
pub(crate) const ARTIFACT_TYPE: &str = "application/vnd.moa.bundle.v1";
pub(crate) const CONFIG_TYPE: &str = "application/vnd.moa.bundle.config.v1+json";
pub(crate) const MEMBER_TYPE: &str = "application/vnd.moa.bundle.member.v1";
pub(crate) const PACKAGE_TYPE: &str = "application/vnd.moa.bundle.package.v1";
pub const SIGNATURE_TYPE: &str = "application/vnd.moa.bundle.signature.v1";
/// The layer of the bundle's approvals (`<bundle>.approvals`), when it has some.
pub(crate) const APPROVALS_TYPE: &str = "application/vnd.moa.bundle.approvals.v1";
const TITLE: &str = "org.opencontainers.image.title";
const SHA256_KEY: &str = "io.moa-bundle.sha256";
/// A manifest, at most (a 2,000-package bundle's: about 600 KiB).
const MANIFEST_BYTES: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("`{0}` is not an OCI reference: write oci://HOST[:PORT]/REPOSITORY:TAG")]
    Reference(String),
    #[error("{reference}: {message}. Check the registry's address (--plain-http for a registry without TLS) and that it is running")]
    Registry { reference: String, message: String },
    #[error("{reference}: the push failed. Check the registry's address (--plain-http for a registry without TLS) and that it is running")]
    Push {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{reference}: the pull failed. Check the registry's address (--plain-http for a registry without TLS) and that it is running")]
    Pull {
        reference: String,
        #[source]
        source: TransportError,
    },
    #[error("{reference} is not a moa-bundle bundle: {message}")]
    NotABundle { reference: String, message: String },
    #[error("could not read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `oci://HOST[:PORT]/REPOSITORY:TAG`, parsed.
pub(crate) fn parse_reference(s: &str) -> Result<Reference, OciError> {
    let bad = || OciError::Reference(moa_model::types::shown(s));
    let rest = s.strip_prefix("oci://").ok_or_else(bad)?;
    let r: Reference = rest.parse().map_err(|_| bad())?;
    if r.tag().is_none() && r.digest().is_none() {
        return Err(bad());
    }
    Ok(r)
}

/// Whether a bundle argument names a registry rather than a file.
pub(crate) fn is_reference(s: &Path) -> bool {
    s.to_string_lossy().starts_with("oci://")
}

fn client(plain_http: bool) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if plain_http { ClientProtocol::Http } else { ClientProtocol::Https };
    // A registry that accepts a connection and never answers must not hang a push.
    let stall = std::time::Duration::from_secs(crate::transport::DEFAULT_STALL_SECS);
    Client::new(ClientConfig {
        protocol,
        read_timeout: Some(stall),
        connect_timeout: Some(stall.min(std::time::Duration::from_secs(15))),
        ..Default::default()
    })
}

fn runtime(reference: &str) -> Result<tokio::runtime::Runtime, OciError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OciError::Registry { reference: reference.to_string(), message: e.to_string() })
}

/// What `push` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub reference: String,
    pub manifest_url: String,
    pub layers: usize,
    /// Bytes uploaded, and bytes of blobs the registry already had.
    pub uploaded_bytes: u64,
    pub reused_bytes: u64,
}

/// One blob to push: where it is, its media type and title, digest and size.
struct Blob {
    path: PathBuf,
    media_type: &'static str,
    title: String,
    sha256: Sha256,
    size: u64,
}

fn blob_of(path: PathBuf, media_type: &'static str, title: String) -> Result<Blob, OciError> {
    let ioerr = |source| OciError::Io { path: path.clone(), source };
    let mut h = moa_model::types::HashingWriter::new(std::io::sink());
    std::io::copy(&mut fs_err::File::open(&path).map_err(ioerr)?, &mut h).map_err(ioerr)?;
    let (sha256, size, _) = h.finish();
    Ok(Blob { path, media_type, title, sha256, size })
}

fn descriptor(b: &Blob) -> OciDescriptor {
    OciDescriptor {
        media_type: b.media_type.to_string(),
        digest: format!("sha256:{}", b.sha256),
        size: b.size as i64,
        annotations: Some(BTreeMap::from([(TITLE.to_string(), b.title.clone())])),
        ..Default::default()
    }
}

/// The files that travel beside a bundle and are pushed as layers of their own.
pub(crate) struct Sidecars<'a> {
    /// `<bundle>.minisig`.
    pub signature: Option<&'a Path>,
    /// `<bundle>.approvals`.
    pub approvals: Option<&'a Path>,
}

/// Pushes the verified, unpacked bundle `dir` (with `index`, the bundle file's sha256 and name,
/// and its signature when it has one) to `reference`.
pub(crate) fn push(
    dir: &Path,
    index: &BundleIndex,
    bundle_sha256: &Sha256,
    bundle_name: &str,
    sidecars: Sidecars<'_>,
    reference: &str,
    plain_http: bool,
) -> Result<Pushed, OciError> {
    let r = parse_reference(reference)?;
    let mut members = Vec::new();
    walk(dir, "", &mut members).map_err(|source| OciError::Io { path: dir.to_path_buf(), source })?;
    members.sort();
    let mut blobs = Vec::new();
    for rel in members {
        let kind = if rel.starts_with(&format!("{PACKAGES_DIR}/")) { PACKAGE_TYPE } else { MEMBER_TYPE };
        blobs.push(blob_of(dir.join(&rel), kind, rel)?);
    }
    if let Some(sig) = sidecars.signature {
        blobs.push(blob_of(sig.to_path_buf(), SIGNATURE_TYPE, format!("{bundle_name}.minisig"))?);
    }
    if let Some(a) = sidecars.approvals {
        blobs.push(blob_of(a.to_path_buf(), APPROVALS_TYPE, format!("{bundle_name}.approvals"))?);
    }
    let config = blob_of(dir.join(INDEX_FILE), CONFIG_TYPE, INDEX_FILE.to_string())?;
    let manifest = OciImageManifest {
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        config: descriptor(&config),
        layers: blobs.iter().map(descriptor).collect(),
        annotations: Some(annotations(index, bundle_sha256, bundle_name)),
        ..Default::default()
    };
    let fail = |source| OciError::Push { reference: reference.to_string(), source };
    let c = client(plain_http);
    let (mut uploaded, mut reused) = (0, 0);
    let rt = runtime(reference)?;
    rt.block_on(async {
        c.store_auth_if_needed(r.resolve_registry(), &RegistryAuth::Anonymous).await;
        for b in blobs.iter().chain([&config]) {
            let digest = format!("sha256:{}", b.sha256);
            if c.blob_exists(&r, &digest).await.map_err(fail)? {
                reused += b.size;
                continue;
            }
            let data = fs_err::read(&b.path).map_err(|source| OciError::Io { path: b.path.clone(), source })?;
            c.push_blob(&r, data, &digest).await.map_err(fail)?;
            uploaded += b.size;
        }
        let url = c.push_manifest(&r, &manifest.clone().into()).await.map_err(fail)?;
        Ok(Pushed {
            reference: reference.to_string(),
            manifest_url: url,
            layers: manifest.layers.len(),
            uploaded_bytes: uploaded,
            reused_bytes: reused,
        })
    })
}

/// What the artifact says of itself: the bundle file's name and sha256, distro, arch, packages.
fn annotations(index: &BundleIndex, sha256: &Sha256, name: &str) -> BTreeMap<String, String> {
    let packages: Vec<String> = index.packages.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
    BTreeMap::from([
        (TITLE.to_string(), name.to_string()),
        (SHA256_KEY.to_string(), sha256.to_hex()),
        ("io.moa-bundle.distro".to_string(), index.distro.to_string()),
        ("io.moa-bundle.arch".to_string(), index.arch.to_string()),
        ("io.moa-bundle.os-release".to_string(), format!("{} {}", index.os_release.id, index.os_release.version_id)),
        ("io.moa-bundle.packages".to_string(), packages.join(" ")),
        ("org.opencontainers.image.created".to_string(), moa_model::types::rfc3339(index.source_date_epoch)),
    ])
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in fs_err::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if e.file_type()?.is_dir() {
            walk(&e.path(), &child, out)?;
        } else {
            out.push(child);
        }
    }
    Ok(())
}
