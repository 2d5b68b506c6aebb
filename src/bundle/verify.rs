//! Checking a bundle before anything on the node changes: every member is a plain file or
//! directory under one top directory (no absolute paths, `..`, links or devices), every file's
//! sha256 matches `SHA256SUMS` and `bundle.json`, the schema is one this build reads, and (for
//! installs) the node's os-release and architecture match the bundle's.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::{BundleIndex, INDEX_FILE, PACKAGES_DIR, SCHEMA_VERSION, SUMS_FILE};
use crate::manifest::Family;
use crate::types::{HashingWriter, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("could not read bundle {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bundle {} is damaged: {message}. Copy it again from the build machine (compare its .sha256)", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("bundle {} was made by a newer moa-bundle (bundle.json schema {found}, this one reads {SCHEMA_VERSION}): use moa-bundle {tool} or newer", path.display())]
    Schema { path: PathBuf, found: u32, tool: String },
    #[error("bundle {} is for {bundle_os} {bundle_arch}, but this node is {node_os} {node_arch}: build one with the node's manifest (moa-bundle distros), or pass --force to skip this check", path.display())]
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
}

/// A verified bundle, unpacked into a directory that lives as long as this value.
pub struct Unpacked {
    pub index: BundleIndex,
    /// The bundle's top directory inside the unpack directory.
    pub dir: PathBuf,
    /// sha256 of the bundle file itself.
    pub bundle_sha256: Sha256,
    _tmp: Option<tempfile::TempDir>,
}

impl Unpacked {
    pub fn package_path(&self, file: &str) -> PathBuf {
        self.dir.join(PACKAGES_DIR).join(file)
    }
}

/// Unpacks `bundle` into a fresh temporary directory and checks it whole.
pub fn verify_bundle(bundle: &Path) -> Result<Unpacked, VerifyError> {
    let tmp = tempfile::Builder::new()
        .prefix("moa-bundle-")
        .tempdir()
        .map_err(|source| VerifyError::Unpack { path: std::env::temp_dir(), source })?;
    let mut u = unpack_and_check(bundle, tmp.path())?;
    u._tmp = Some(tmp);
    Ok(u)
}

fn corrupt(path: &Path, message: impl Into<String>) -> VerifyError {
    VerifyError::Corrupt { path: path.to_path_buf(), message: message.into() }
}

/// Unpacks into `dest` (which must exist and be empty), checking each member as it goes.
pub fn unpack_and_check(bundle: &Path, dest: &Path) -> Result<Unpacked, VerifyError> {
    let rerr = |source| VerifyError::Read { path: bundle.to_path_buf(), source };
    let file = fs_err::File::open(bundle).map_err(rerr)?;
    let mut outer = HashingWriter::new(std::io::sink());
    let tee = TeeReader { inner: file, hash: &mut outer };
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tee));
    let mut top: Option<String> = None;
    let mut digests: BTreeMap<String, Sha256> = BTreeMap::new();
    let entries = ar.entries().map_err(|e| corrupt(bundle, format!("not a tar.gz: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(bundle, format!("unreadable member: {e}")))?;
        let raw = entry.path().map_err(|e| corrupt(bundle, format!("bad member name: {e}")))?.into_owned();
        let shown = raw.display().to_string();
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => return Err(corrupt(bundle, format!("member `{shown}` is absolute or contains `..`"))),
            }
        }
        let Some(first) = parts.first().cloned() else {
            continue;
        };
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(corrupt(bundle, format!("member `{shown}` is outside the top directory `{t}`")))
            }
            _ => {}
        }
        let rel = parts[1..].join("/");
        let out = dest.join(&first).join(&rel);
        let uerr = |source| VerifyError::Unpack { path: out.clone(), source };
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs_err::create_dir_all(&out).map_err(uerr)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if rel.is_empty() || digests.contains_key(&rel) {
                    return Err(corrupt(bundle, format!("member `{shown}` is empty-named or duplicated")));
                }
                if let Some(parent) = out.parent() {
                    fs_err::create_dir_all(parent).map_err(uerr)?;
                }
                let f = fs_err::File::create(&out).map_err(uerr)?;
                let mut w = HashingWriter::new(f);
                std::io::copy(&mut entry, &mut w).map_err(|e| corrupt(bundle, format!("member `{shown}`: {e}")))?;
                digests.insert(rel, w.finish().0);
            }
            other => {
                return Err(corrupt(
                    bundle,
                    format!(
                        "member `{shown}` is a {other:?}, not a plain file: bundles never contain links or devices"
                    ),
                ))
            }
        }
    }
    // Read to the end so the whole file is hashed (tar stops at the end-of-archive blocks).
    let mut rest = ar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| corrupt(bundle, format!("gzip stream: {e}")))?;
    drop(rest);
    let bundle_sha256 = outer.finish().0;

    let top = top.ok_or_else(|| corrupt(bundle, "it is empty"))?;
    let dir = dest.join(&top);
    let index_bytes = fs_err::read(dir.join(INDEX_FILE)).map_err(|_| corrupt(bundle, "it has no bundle.json"))?;
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: u32,
        tool_version: Option<String>,
    }
    let v: Version = serde_json::from_slice(&index_bytes)
        .map_err(|e| corrupt(bundle, format!("bundle.json is not valid JSON: {e}")))?;
    if v.schema_version > SCHEMA_VERSION {
        return Err(VerifyError::Schema {
            path: bundle.to_path_buf(),
            found: v.schema_version,
            tool: v.tool_version.unwrap_or_else(|| "?".into()),
        });
    }
    let index: BundleIndex =
        serde_json::from_slice(&index_bytes).map_err(|e| corrupt(bundle, format!("bundle.json: {e}")))?;

    // SHA256SUMS covers every other member, and nothing else is there.
    let sums = fs_err::read_to_string(dir.join(SUMS_FILE)).map_err(|_| corrupt(bundle, "it has no SHA256SUMS"))?;
    let mut listed = BTreeMap::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, name) =
            line.split_once("  ").ok_or_else(|| corrupt(bundle, format!("bad SHA256SUMS line `{line}`")))?;
        let hash = Sha256::from_hex(hash).map_err(|e| corrupt(bundle, e.to_string()))?;
        listed.insert(name.to_string(), hash);
    }
    for (name, got) in &digests {
        if name == SUMS_FILE {
            continue;
        }
        match listed.get(name) {
            Some(want) if want == got => {}
            Some(want) => return Err(corrupt(bundle, format!("`{name}` has sha256 {got}, SHA256SUMS says {want}"))),
            None => return Err(corrupt(bundle, format!("`{name}` is not listed in SHA256SUMS"))),
        }
    }
    if let Some(missing) = listed.keys().find(|k| !digests.contains_key(*k)) {
        return Err(corrupt(bundle, format!("`{missing}` is listed in SHA256SUMS but missing")));
    }
    for p in &index.packages {
        crate::types::safe_file_name(&p.file).map_err(|e| corrupt(bundle, e.to_string()))?;
        let member = format!("{PACKAGES_DIR}/{}", p.file);
        match digests.get(&member) {
            Some(got) if *got == p.sha256 => {}
            Some(got) => {
                return Err(corrupt(bundle, format!("`{member}` has sha256 {got}, bundle.json says {}", p.sha256)))
            }
            None => return Err(corrupt(bundle, format!("bundle.json lists `{member}`, which is missing"))),
        }
    }
    Ok(Unpacked { index, dir, bundle_sha256, _tmp: None })
}

/// Checks `<bundle>.sha256` beside the bundle, when there is one. Returns whether it was checked.
pub fn check_sidecar(bundle: &Path, actual: &Sha256) -> Result<bool, VerifyError> {
    let side = super::pack::sidecar_path(bundle);
    let Ok(text) = fs_err::read_to_string(&side) else {
        return Ok(false);
    };
    let want = text.split_whitespace().next().unwrap_or("");
    match Sha256::from_hex(want) {
        Ok(w) if w == *actual => Ok(true),
        _ => Err(corrupt(bundle, format!("its sha256 is {actual}, but {} says `{want}`", side.display()))),
    }
}

/// `ID` and `VERSION_ID` of `<root>/etc/os-release` (falling back to `usr/lib/os-release`).
pub fn node_os_release(root: &Path) -> Result<(String, String), VerifyError> {
    let primary = root.join("etc/os-release");
    let text = match fs_err::read_to_string(&primary) {
        Ok(t) => t,
        Err(source) => fs_err::read_to_string(root.join("usr/lib/os-release"))
            .map_err(|_| VerifyError::OsRelease { path: primary.clone(), source })?,
    };
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    Ok((field("ID"), field("VERSION_ID")))
}

/// The node's architecture as the family names it.
pub fn node_arch(family: Family) -> String {
    let a = std::env::consts::ARCH;
    match (family, a) {
        (Family::Deb, "x86_64") => "amd64".into(),
        (Family::Deb, "aarch64") => "arm64".into(),
        (Family::Deb, "x86") => "i386".into(),
        (Family::Rpm, "x86") => "i686".into(),
        _ => a.into(),
    }
}

/// Refuses a bundle built for another distro release or architecture than the node under `root`.
pub fn check_node(bundle: &Path, index: &BundleIndex, root: &Path) -> Result<(), VerifyError> {
    let (id, version_id) = node_os_release(root)?;
    let arch = node_arch(index.family);
    let arch_ok = matches!(index.arch.as_str(), "noarch" | "all") || index.arch.as_str() == arch;
    // VERSION_ID "7" matches a bundle for "7"; a bundle for "16.04" needs exactly "16.04".
    if id != index.os_release.id || version_id != index.os_release.version_id || !arch_ok {
        return Err(VerifyError::WrongNode {
            path: bundle.to_path_buf(),
            bundle_os: format!("{} {}", index.os_release.id, index.os_release.version_id),
            bundle_arch: index.arch.to_string(),
            node_os: format!("{id} {version_id}"),
            node_arch: arch,
        });
    }
    Ok(())
}

struct TeeReader<'a, R> {
    inner: R,
    hash: &'a mut HashingWriter<std::io::Sink>,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Write;
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}
