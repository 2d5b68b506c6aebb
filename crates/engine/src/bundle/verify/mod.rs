//! Checking a bundle before anything on the node changes. `stream` reads it member by member:
//! plain files and directories under one top directory (no absolute paths, `..`, links or
//! devices), every file listed in `SHA256SUMS` and `bundle.json` with its size and digest,
//! nothing after the archive, everything within [`moa_model::limits`]. Then every package file's
//! own header must name the package, version and architecture `bundle.json` gives it. `node`
//! checks that the bundle fits the node (os-release and architecture read from the root).

mod dir;
mod node;
mod once;
mod stream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub(crate) use dir::{is_unpacked_bundle, verify_dir};
pub use node::{check_node, node_os_release, same_release};
pub(crate) use node::{elf_arch, node_arch, node_platform};

use super::sign::{Required, SignError, SignatureCheck};
use super::{BundleIndex, PACKAGES_DIR, ROLLBACK_DIR, SCHEMA_VERSION};
use moa_model::files::WorkDir;
use moa_model::types::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{} is an unpacked bundle, which cannot show its signature, and this node trusts bundle keys ({keys}): install the .tar.gz with its .minisig beside it, or check the .tar.gz with `minisign -V -p KEY.pub -m BUNDLE.tar.gz` before unpacking it and pass --verified", dir.display())]
    UnpackedUnsigned { dir: PathBuf, keys: String },
    #[error("bundle {}: its repository (repodata/) does not list exactly the packages bundle.json lists: {message}. Copy the bundle again from the build machine, or install without --via-repo", bundle.display())]
    LocalRepo { bundle: PathBuf, message: String },
    #[error("could not read bundle {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} {what}", path.display())]
    NotABundle { path: PathBuf, what: String },
    #[error("bundle {} is damaged or was altered: {message}. Copy it again from the build machine (compare its .sha256)", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("bundle {}: {member} is not the package bundle.json says: {message}. Copy the bundle again from the build machine", path.display())]
    Package { path: PathBuf, member: String, message: String },
    /// The package file itself says why (its header, its payload, its signature): the source.
    #[error("bundle {}: {member} is not the package bundle.json says. Copy the bundle again from the build machine", path.display())]
    PackageFile {
        path: PathBuf,
        member: String,
        #[source]
        source: Box<crate::pkgfile::PackageFileError>,
    },
    #[error("bundle {} was made by a newer moa-bundle (bundle.json schema {found}, this one reads {SCHEMA_VERSION}): use moa-bundle {tool} or newer", path.display())]
    Schema { path: PathBuf, found: u32, tool: String },
    #[error("bundle {} is for {bundle_os} {bundle_arch}, but this node is {node_os} {node_arch}: build one with the node's manifest (moa-bundle distros), or install with --skip-node-check to skip this check", path.display())]
    WrongNode { path: PathBuf, bundle_os: String, bundle_arch: String, node_os: String, node_arch: String },
    #[error("could not read the node's {}: is the root right (--root)?", path.display())]
    OsRelease {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not unpack into {}", path.display())]
    Unpack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unpacking needs {need} bytes in {}, which has {free} free: free some space or set TMPDIR to a larger file system", path.display())]
    Space { path: PathBuf, need: u64, free: u64 },
    #[error(transparent)]
    Signature(#[from] SignError),
}

/// A verified bundle, unpacked into a directory that lives as long as this value.
pub struct Unpacked {
    pub index: BundleIndex,
    /// The bundle's top directory inside the unpack directory.
    pub dir: PathBuf,
    /// sha256 of the bundle file itself.
    pub bundle_sha256: Sha256,
    /// How many files were checked (SHA256SUMS, bundle.json and every member they list).
    pub files_checked: usize,
    /// The trusted key whose signature holds for exactly the bytes unpacked, when one was
    /// required.
    pub signature: Option<SignatureCheck>,
    _work: Option<WorkDir>,
}

impl Unpacked {
    pub fn package_path(&self, file: &str) -> PathBuf {
        self.dir.join(PACKAGES_DIR).join(file)
    }
}

/// How the package files of a family are read and their versions parsed: the family's parts,
/// given by the composition root for the family bundle.json names.
pub(crate) type PackageReaders<'a> =
    &'a dyn Fn(
        moa_model::manifest::Family,
    ) -> (&'static dyn crate::pkgfile::PackageFile, &'static dyn moa_model::deps::DepSyntax);

/// Unpacks `bundle` into a fresh private work directory and checks it whole; where `signature`
/// is required, it must hold for the very bytes unpacked.
pub(crate) fn verify_bundle(
    bundle: &Path,
    signature: Option<&Required>,
    readers: PackageReaders<'_>,
) -> Result<Unpacked, VerifyError> {
    let work = WorkDir::new().map_err(|source| VerifyError::Unpack { path: std::env::temp_dir(), source })?;
    let mut u = unpack_and_check(bundle, work.path(), signature, readers)?;
    u._work = Some(work);
    Ok(u)
}

fn corrupt(path: &Path, message: impl Into<String>) -> VerifyError {
    VerifyError::Corrupt { path: path.to_path_buf(), message: message.into() }
}

/// Says what `head` (the file's first bytes) is when it is not a gzip file (a plain tar).
fn check_magic(bundle: &Path, head: &[u8]) -> Result<(), VerifyError> {
    let not = |what: &str| VerifyError::NotABundle { path: bundle.to_path_buf(), what: what.into() };
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(());
    }
    if head.get(257..262) == Some(b"ustar") {
        return Err(not("is a plain tar archive, not the gzip-compressed bundle: copy the original .tar.gz again"));
    }
    Err(not("is not a gzip file: a bundle is the .tar.gz that `moa-bundle build` writes"))
}

/// Opens the bundle once, as a regular file (a directory is named as such).
fn open(bundle: &Path) -> Result<(std::fs::File, u64), VerifyError> {
    if bundle.is_dir() {
        return Err(VerifyError::NotABundle {
            path: bundle.to_path_buf(),
            what: "is a directory: pass the bundle file (.tar.gz) itself, not an unpacked copy of it".into(),
        });
    }
    moa_model::files::open_regular(bundle).map_err(|source| VerifyError::Read { path: bundle.to_path_buf(), source })
}

/// Unpacks into `dest` (which must exist and be empty), checking each member as it goes, in one
/// read of the file (`once`): its sha256 and the signature are taken from the same bytes. A
/// signature that does not hold is reported before a damaged member, since it says more.
pub fn unpack_and_check(
    bundle: &Path,
    dest: &Path,
    signature: Option<&Required>,
    readers: PackageReaders<'_>,
) -> Result<Unpacked, VerifyError> {
    let (file, compressed) = open(bundle)?;
    let verifier = signature.map(Required::verifier).transpose()?;
    let mut input = BufReader::with_capacity(1 << 20, once::OnePass::new(file, compressed, verifier));
    let head = input.fill_buf().map_err(|source| VerifyError::Read { path: bundle.to_path_buf(), source })?;
    check_magic(bundle, head)?;
    let syntax_of = |f| readers(f).1;
    let pass = unpack(bundle, &mut input, dest, compressed, &syntax_of);
    let seen = input.into_inner().finish().map_err(|source| VerifyError::Read { path: bundle.to_path_buf(), source });
    let signed = match (signature, seen.as_ref().ok().and_then(|s| s.signature.clone())) {
        (Some(req), Some(v)) => Some(req.finish(v)?),
        _ => None,
    };
    let (mut st, dir) = pass?;
    let seen = seen?;
    if seen.len != compressed {
        return Err(corrupt(bundle, "it changed while it was being read"));
    }
    let index = st.index.take().expect("finish checked the index");
    let u =
        Unpacked { index, dir, bundle_sha256: seen.sha256, files_checked: st.files, signature: signed, _work: None };
    check_packages(bundle, &u, readers)?;
    Ok(u)
}

/// The member pass: every member checked as it is written, then the tail.
fn unpack<'a, R: BufRead>(
    bundle: &'a Path,
    input: R,
    dest: &'a Path,
    compressed: u64,
    syntax_of: stream::SyntaxOf<'a>,
) -> Result<(stream::Stream<'a>, PathBuf), VerifyError> {
    let gz = flate2::bufread::GzDecoder::new(input);
    let mut ar = tar::Archive::new(gz);
    let mut st = stream::Stream::new(bundle, dest, compressed, syntax_of);
    let entries = ar.entries().map_err(|e| corrupt(bundle, format!("not a tar.gz: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| corrupt(bundle, format!("unreadable member: {e}")))?;
        st.member(entry)?;
    }
    let dir = st.finish()?;
    drop(stream::check_tail(bundle, ar.into_inner())?);
    Ok((st, dir))
}

/// Every package file's header (the rollback kit's too) names the package bundle.json gives it,
/// and, where the build checked upstream signatures, carries a good signature by a key its
/// repository pinned (rpm headers; a .deb has none of its own).
fn check_packages(bundle: &Path, u: &Unpacked, readers: PackageReaders<'_>) -> Result<(), VerifyError> {
    let (reader, _) = readers(u.index.family);
    let mut rings: std::collections::HashMap<&str, crate::trust::Keyring> = std::collections::HashMap::new();
    let packages =
        u.index.packages.iter().map(|p| (PACKAGES_DIR, &p.name, &p.arch, &p.version, &p.file, &p.repository));
    let kit = u.index.rollback.iter().map(|p| (ROLLBACK_DIR, &p.name, &p.arch, &p.version, &p.file, &p.repository));
    for (dir, name, arch, version, file, repository) in packages.chain(kit) {
        let member = format!("{dir}/{file}");
        let path = u.dir.join(dir).join(file);
        let fail =
            |message: String| VerifyError::Package { path: bundle.to_path_buf(), member: member.clone(), message };
        let file_fail =
            |e| VerifyError::PackageFile { path: bundle.to_path_buf(), member: member.clone(), source: Box::new(e) };
        let id = reader.identify(&path).map_err(file_fail)?;
        if id.name != name.as_str() || id.arch != arch.as_str() || id.version != *version {
            return Err(fail(format!("its header says {id}, bundle.json says {name} {version} {arch}")));
        }
        if u.index.upstream_signatures != crate::repo::Signatures::Verify {
            continue;
        }
        let Some(repo) = repository.as_ref().map(|r| r.as_str()) else { continue };
        if !rings.contains_key(repo) {
            rings.insert(repo, bundle_keyring(u, repo).map_err(&fail)?);
        }
        reader.check_signature(&path, &rings[repo]).map_err(file_fail)?;
    }
    Ok(())
}

/// The keys bundle.json lists for `repo`, read from the bundle's `keys/`.
fn bundle_keyring(u: &Unpacked, repo: &str) -> Result<crate::trust::Keyring, String> {
    let mut pins = Vec::new();
    for k in u.index.keys.iter().filter(|k| k.repository.as_str() == repo) {
        let bytes = moa_model::files::read_at_most(&u.dir.join(&k.file), moa_model::limits::KEY_FILE_BYTES)
            .map_err(|e| format!("key {}: {e}", k.file))?
            .ok_or_else(|| format!("key {} is too large", k.file))?;
        pins.push(crate::trust::KeyPin {
            file: k.file.clone(),
            url: None,
            fingerprint: k.fingerprint.clone(),
            legacy: k.legacy,
            bytes,
            mirror_urls: Vec::new(),
        });
    }
    if pins.is_empty() {
        return Err(format!(
            "bundle.json says upstream signatures were checked but carries no key of repository `{repo}`"
        ));
    }
    crate::trust::Keyring::load(&pins).map_err(|e| e.to_string())
}

/// Checks `<bundle>.sha256` beside the bundle, when there is one. Returns whether it was checked.
pub(crate) fn check_sidecar(bundle: &Path, actual: &Sha256) -> Result<bool, VerifyError> {
    let side = super::pack::sidecar_path(bundle);
    let Ok(Some(bytes)) = moa_model::files::read_at_most(&side, 4096) else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&bytes);
    let want = text.split_whitespace().next().unwrap_or("");
    match Sha256::from_hex(want) {
        Ok(w) if w == *actual => Ok(true),
        _ => Err(corrupt(
            bundle,
            format!("its sha256 is {actual}, but {} says `{}`", side.display(), moa_model::types::shown(want)),
        )),
    }
}
