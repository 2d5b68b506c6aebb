//! Pulling a bundle from a registry that may be hostile. Everything goes through moa-bundle's
//! transport ([`crate::transport`]): each response is read as a stream, refused once it passes
//! its bound (the manifest [`MANIFEST_BYTES`], bundle.json [`limits::INDEX_BYTES`], a layer the
//! size its descriptor declares), and a registry that stops sending is given up after the stall
//! timeout. What the manifest declares is checked before any layer is fetched: the artifact
//! type, the number of layers against the packages bundle.json lists, every title a plain
//! member path named once, every size within its bound. Layers stream into files in a private
//! work directory, hashed as they arrive; the bundle is packed there and checked against the
//! pushed sha256. Nothing is written where the user asked until the caller has verified it.
//!
//! Registries that want a token for anonymous pulls (Harbor, Docker Hub) answer 401 with a
//! `Bearer realm=…,service=…,scope=…` challenge: the token is fetched from the realm (bounded
//! too) and the request made again with it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::Reference;
use url::Url;

use super::{
    parse_reference, OciError, APPROVALS_TYPE, ARTIFACT_TYPE, CONFIG_TYPE, MANIFEST_BYTES, SHA256_KEY, SIGNATURE_TYPE,
    TITLE,
};
use crate::bundle::{BundleIndex, SUMS_FILE};
use crate::report::Reporter;
use crate::transport::{Request, Sink, Transport, TransportError};
use moa_model::limits;
use moa_model::types::{HashingWriter, Sha256};

/// Layers beside the packages: SHA256SUMS, bundle.json, lock, SBOM, install.sh, the binary,
/// the templates, the repository, keys — and the signature.
const OTHER_LAYERS: usize = 64;
/// A signature or a token response is small.
const SMALL_BYTES: u64 = 64 << 10;
/// An approvals layer (a few signed statements) is bounded as its file is.
const APPROVALS_BYTES: u64 = 1 << 20;

/// What `pull` wrote, in the private directory it was given.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub signature: Option<PathBuf>,
    /// `<bundle>.approvals`, when approvals were pushed with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<PathBuf>,
}

/// One registry repository, read over the transport, with the token it gave (if any).
struct Registry<'a> {
    transport: &'a Transport,
    reporter: &'a dyn Reporter,
    /// `http(s)://HOST[:PORT]/v2/REPOSITORY/`
    base: Url,
    token: Option<String>,
    reference: &'a str,
}

impl<'a> Registry<'a> {
    fn new(
        r: &Reference,
        reference: &'a str,
        plain_http: bool,
        transport: &'a Transport,
        reporter: &'a dyn Reporter,
    ) -> Result<Self, OciError> {
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/v2/{}/", r.resolve_registry(), r.repository()))
            .map_err(|_| OciError::Reference(moa_model::types::shown(reference)))?;
        Ok(Self { transport, reporter, base, token: None, reference })
    }

    fn fail(&self, e: TransportError) -> OciError {
        OciError::Pull { reference: self.reference.to_string(), source: e }
    }

    /// GETs `rel` under the repository into `out`, at most `max` bytes; on a token challenge,
    /// fetches the token once and asks again.
    fn get(&mut self, rel: &str, accept: Option<&str>, out: &mut dyn Sink, max: u64) -> Result<u64, OciError> {
        let url = self.base.join(rel).map_err(|_| OciError::Reference(moa_model::types::shown(self.reference)))?;
        for _ in 0..2 {
            let req = Request { accept, bearer: self.token.as_deref() };
            match self.transport.download_with(&url, req, out, max, &|_| {}, self.reporter) {
                Ok(n) => return Ok(n),
                Err(TransportError::Unauthorized { challenge: Some(c), .. }) if self.token.is_none() => {
                    self.token = Some(self.token_for(&c)?);
                    out.reset().map_err(|source| OciError::Io { path: PathBuf::from(url.as_str()), source })?;
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Err(OciError::Registry {
            reference: self.reference.to_string(),
            message:
                "it refused the token it issued (HTTP 401 again): pulling needs credentials moa-bundle does not have"
                    .into(),
        })
    }

    /// The anonymous token a `Bearer realm="…",service="…",scope="…"` challenge points to.
    fn token_for(&self, challenge: &str) -> Result<String, OciError> {
        let refuse = |message: String| OciError::Registry { reference: self.reference.to_string(), message };
        let params = challenge.strip_prefix("Bearer ").ok_or_else(|| {
            refuse(format!(
                "it asks for `{}` credentials, which moa-bundle does not send",
                moa_model::types::shown(challenge)
            ))
        })?;
        let field = |k: &str| {
            params.split(',').find_map(|p| p.trim().strip_prefix(&format!("{k}=\"")).and_then(|v| v.strip_suffix('"')))
        };
        let realm = field("realm").ok_or_else(|| refuse("its token challenge names no realm".into()))?;
        let mut url = Url::parse(realm)
            .map_err(|_| refuse(format!("its token realm `{}` is not a URL", moa_model::types::shown(realm))))?;
        for k in ["service", "scope"] {
            if let Some(v) = field(k) {
                url.query_pairs_mut().append_pair(k, v);
            }
        }
        let bytes = self.transport.get(&url, SMALL_BYTES, self.reporter).map_err(|e| self.fail(e))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| refuse(format!("its token response does not parse: {e}")))?;
        let token = v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str());
        token.map(String::from).ok_or_else(|| refuse("its token response holds no token".into()))
    }

    /// A blob into memory, at most `max` bytes, checked against its descriptor.
    fn blob_bytes(&mut self, d: &OciDescriptor, max: u64) -> Result<Vec<u8>, OciError> {
        let (want, size) = declared(self.reference, d, max)?;
        let mut out = HashingWriter::new(Vec::new());
        self.get(&format!("blobs/{}", d.digest), None, &mut out, size)?;
        let (got, n, bytes) = out.finish();
        matches(self.reference, d, want, size, got, n)?;
        Ok(bytes)
    }

    /// A blob streamed into the file `path`, checked against its descriptor.
    fn blob_file(&mut self, d: &OciDescriptor, max: u64, path: &Path) -> Result<(), OciError> {
        let (want, size) = declared(self.reference, d, max)?;
        let ioerr = |source| OciError::Io { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(ioerr)?;
        }
        let mut out = HashingWriter::new(fs_err::File::create(path).map_err(ioerr)?.into_file());
        self.get(&format!("blobs/{}", d.digest), None, &mut out, size)?;
        let (got, n, _) = out.finish();
        matches(self.reference, d, want, size, got, n)
    }
}

fn not(reference: &str, message: String) -> OciError {
    OciError::NotABundle { reference: reference.to_string(), message }
}

/// A descriptor's sha256 and size, the size within `max`.
fn declared(reference: &str, d: &OciDescriptor, max: u64) -> Result<(Sha256, u64), OciError> {
    let size = u64::try_from(d.size).map_err(|_| {
        not(reference, format!("layer {} declares a negative size", moa_model::types::shown(&d.digest)))
    })?;
    if size > max {
        return Err(not(
            reference,
            format!("layer {} declares {size} bytes, more than {max}", moa_model::types::shown(&d.digest)),
        ));
    }
    let hex = d.digest.strip_prefix("sha256:").unwrap_or("");
    let want = Sha256::from_hex(hex)
        .map_err(|_| not(reference, format!("layer digest `{}` is not sha256", moa_model::types::shown(&d.digest))))?;
    Ok((want, size))
}

fn matches(reference: &str, d: &OciDescriptor, want: Sha256, size: u64, got: Sha256, n: u64) -> Result<(), OciError> {
    if got != want || n != size {
        return Err(not(reference, format!("layer {} does not match its digest or size", d.digest)));
    }
    Ok(())
}

/// A member path as bundles have them: relative, plain components.
fn plain_member(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && moa_model::types::is_line(c, 255))
}

fn title(d: &OciDescriptor) -> String {
    d.annotations.as_ref().and_then(|a| a.get(TITLE)).cloned().unwrap_or_default()
}

/// A manifest as pull takes it: an artifact of moa-bundle's type, its title a plain file name,
/// the pushed bundle's sha256, at most the package limit of layers, each layer's title a plain
/// member path named once and its size within its bound, one signature layer at most and a
/// SHA256SUMS layer. Nothing is fetched for it. (Public for the fuzz target.)
pub struct Manifest {
    pub manifest: OciImageManifest,
    pub name: String,
    pub sha256: Sha256,
}

pub fn read_manifest(reference: &str, raw: &[u8]) -> Result<Manifest, OciError> {
    let m: OciImageManifest =
        serde_json::from_slice(raw).map_err(|e| not(reference, format!("its manifest does not parse: {e}")))?;
    if m.artifact_type.as_deref() != Some(ARTIFACT_TYPE) || m.config.media_type != CONFIG_TYPE {
        return Err(not(reference, format!("its artifact type is not {ARTIFACT_TYPE}")));
    }
    let ann = m.annotations.clone().unwrap_or_default();
    let name = ann.get(TITLE).cloned().unwrap_or_default();
    moa_model::types::safe_file_name(&name).map_err(|e| not(reference, format!("its title: {e}")))?;
    let sha256 = Sha256::from_hex(ann.get(SHA256_KEY).map(String::as_str).unwrap_or(""))
        .map_err(|e| not(reference, e.to_string()))?;
    let bound = (limits::PACKAGES + OTHER_LAYERS) as u64;
    limits::check("the number of layers", m.layers.len() as u64, bound).map_err(|e| not(reference, e))?;
    declared(reference, &m.config, limits::INDEX_BYTES)?;
    let mut seen = BTreeSet::new();
    let (mut signatures, mut approvals) = (0, 0);
    for l in &m.layers {
        if l.media_type == SIGNATURE_TYPE || l.media_type == APPROVALS_TYPE {
            *(if l.media_type == SIGNATURE_TYPE { &mut signatures } else { &mut approvals }) += 1;
            let bound = if l.media_type == SIGNATURE_TYPE { SMALL_BYTES } else { APPROVALS_BYTES };
            declared(reference, l, bound)?;
            continue;
        }
        let t = title(l);
        if !plain_member(&t) || !seen.insert(t.clone()) {
            return Err(not(
                reference,
                format!("layer `{}` is not a plain path inside a bundle, or comes twice", moa_model::types::shown(&t)),
            ));
        }
        declared(reference, l, limits::PACKAGE_BYTES)?;
    }
    if signatures > 1 || approvals > 1 {
        return Err(not(reference, "it has more than one signature or approvals layer".into()));
    }
    if !seen.contains(SUMS_FILE) {
        return Err(not(reference, format!("it has no {SUMS_FILE} layer")));
    }
    Ok(Manifest { manifest: m, name, sha256 })
}

/// The layers are as many as bundle.json's packages allow, checked before any is fetched.
fn check_count(reference: &str, m: &OciImageManifest, index: &BundleIndex) -> Result<(), OciError> {
    let bound = index.packages.len() + OTHER_LAYERS;
    limits::check("the number of layers", m.layers.len() as u64, bound as u64)
        .map_err(|e| not(reference, format!("{e} (its bundle.json lists {} packages)", index.packages.len())))
}

/// Pulls `reference` into `work`, a private directory: the layers under `work/layers/`, then
/// the bundle packed again from them as `work/out/<name>` (checked against the pushed sha256),
/// with its `.minisig` when one was pushed.
pub(crate) fn pull(
    reference: &str,
    plain_http: bool,
    work: &Path,
    transport: &Transport,
    reporter: &dyn Reporter,
    syntax_of: &dyn Fn(moa_model::manifest::Family) -> &'static dyn moa_model::deps::DepSyntax,
) -> Result<Pulled, OciError> {
    let r = parse_reference(reference)?;
    let mut reg = Registry::new(&r, reference, plain_http, transport, reporter)?;
    let tag = r.digest().or(r.tag()).unwrap_or("latest").to_string();
    let mut raw = HashingWriter::new(Vec::new());
    reg.get(&format!("manifests/{tag}"), Some(OCI_IMAGE_MEDIA_TYPE), &mut raw, MANIFEST_BYTES as u64)?;
    let (manifest_sha, _, raw) = raw.finish();
    if let Some(d) = r.digest() {
        if d.strip_prefix("sha256:") != Some(manifest_sha.to_hex().as_str()) {
            return Err(not(reference, format!("its manifest's digest is sha256:{manifest_sha}, not {d}")));
        }
    }
    let Manifest { manifest: m, name, sha256: want } = read_manifest(reference, &raw)?;
    let index_bytes = reg.blob_bytes(&m.config, limits::INDEX_BYTES)?;
    let index =
        BundleIndex::from_json(&index_bytes, syntax_of).map_err(|e| not(reference, format!("its bundle.json: {e}")))?;
    check_count(reference, &m, &index)?;
    let top = work.join("layers").join(index.stem());
    let (mut signature, mut approvals) = (None, None);
    for l in &m.layers {
        if l.media_type == SIGNATURE_TYPE {
            signature = Some(reg.blob_bytes(l, SMALL_BYTES)?);
        } else if l.media_type == APPROVALS_TYPE {
            approvals = Some(reg.blob_bytes(l, APPROVALS_BYTES)?);
        } else {
            reg.blob_file(l, limits::PACKAGE_BYTES, &top.join(title(l)))?;
        }
    }
    let out = work.join("out");
    let ioerr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OciError::Io { path, source }
    };
    fs_err::create_dir_all(&out).map_err(ioerr(&out))?;
    let bundle = out.join(&name);
    let packed = crate::bundle::pack::repack(&top, &index, &bundle)
        .map_err(|e| not(reference, format!("its layers could not be packed: {e}")))?;
    if packed.sha256 != want {
        return Err(not(
            reference,
            format!("its layers pack to sha256 {}, not the pushed bundle's {want}", packed.sha256),
        ));
    }
    // The layers beside the bundle: its signature and its approvals, when it has them.
    let beside = |bytes: Option<Vec<u8>>, path: PathBuf| -> Result<Option<PathBuf>, OciError> {
        let Some(b) = bytes else { return Ok(None) };
        fs_err::write(&path, &b).map_err(ioerr(&path))?;
        Ok(Some(path))
    };
    let signature = beside(signature, crate::bundle::sign::signature_path(&bundle))?;
    let approvals = beside(approvals, crate::bundle::approval::sidecar_path(&bundle))?;
    Ok(Pulled { bundle, sha256: packed.sha256, signature, approvals })
}
