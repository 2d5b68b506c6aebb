//! Writing a bundle: a byte-reproducible `tar.gz` (sorted members, fixed mtime, uid/gid 0, fixed
//! modes, no gzip timestamp), written to a locked temporary file beside the output, synced, then
//! renamed; a `<bundle>.sha256` in `sha256sum` format is written the same way. The two renames
//! happen under a lock on the output directory, so concurrent builds to one path leave a bundle
//! and a sidecar of the same build.

use std::path::{Path, PathBuf};

use super::script::FallbackCommand;
use super::{BundleIndex, BINARY_FILE, INDEX_FILE, INSTALLER_FILE, PACKAGES_DIR, SUMS_FILE};
use moa_model::files::{self, DirLock, Partial};
use moa_model::types::{HashingWriter, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("--installer {}: {message}", path.display())]
    Installer { path: PathBuf, message: String },
    #[error("could not write the bundle {}: check that the directory exists and is writable", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read package file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the download of {file} stopped, so the bundle was not finished")]
    Missing { file: String },
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Packed {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
}

/// How member data is compressed. Packages are compressed already (a deflate pass over real
/// debs saves 0.1%), so the gzip stream stores them: a valid `.tar.gz` for every tool, at disk
/// speed. A change here changes every bundle's bytes: it is part of [`content_key`].
const COMPRESSION: flate2::Compression = flate2::Compression::none();

enum Body {
    Bytes(Vec<u8>),
    /// The file of `index.packages[i]`, which may still be downloading.
    Package(usize),
    /// A file on disk (a member of an unpacked bundle being packed again).
    File(PathBuf),
}

/// One member: path inside the top directory, content, digest, mode.
type Member = (String, Body, Sha256, u32);

fn bytes_member(path: &str, bytes: Vec<u8>, mode: u32) -> Member {
    let digest = Sha256::digest(&bytes);
    (path.to_string(), Body::Bytes(bytes), digest, mode)
}

/// Every member, sorted by path (so `SHA256SUMS`, which lists all the others, comes first).
fn members(
    index: &BundleIndex,
    extra: &[(String, Vec<u8>)],
    tool: &FallbackCommand,
    binary: Option<&[u8]>,
) -> Vec<Member> {
    let mut index_json = serde_json::to_vec_pretty(index).expect("the index serializes");
    index_json.push(b'\n');
    let mut out = vec![
        bytes_member(INDEX_FILE, index_json, 0o644),
        bytes_member(INSTALLER_FILE, super::script::install_script(index, tool).into_bytes(), 0o755),
    ];
    for (i, p) in index.packages.iter().enumerate() {
        out.push((format!("{PACKAGES_DIR}/{}", p.file), Body::Package(i), p.sha256, 0o644));
    }
    for (path, b) in extra {
        out.push(bytes_member(path, b.clone(), 0o644));
    }
    if let (Some(b), Some(bytes)) = (&index.installer, binary) {
        out.push((b.member().to_string(), Body::Bytes(bytes.to_vec()), b.sha256, b.mode()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let sums: String = out.iter().map(|(path, _, digest, _)| format!("{digest}  {path}\n")).collect();
    out.insert(0, bytes_member(SUMS_FILE, sums.into_bytes(), 0o644));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What decides a bundle's bytes: the tool, the compression, the top directory, and every
/// member's path, mode and digest. Two builds with one key write the same file.
pub(crate) fn content_key(
    index: &BundleIndex,
    extra: &[(String, Vec<u8>)],
    tool: &FallbackCommand,
    binary: Option<&[u8]>,
    stem: &str,
) -> Sha256 {
    let mut text =
        format!("moa-bundle {} {COMPRESSION:?} {stem} {}\n", env!("CARGO_PKG_VERSION"), index.source_date_epoch);
    for (path, _, digest, mode) in members(index, extra, tool, binary) {
        text.push_str(&format!("{digest} {mode:o} {path}\n"));
    }
    Sha256::digest(text.as_bytes())
}

/// Packs the index, the package files and `extra` members (path inside the bundle, content),
/// e.g. the role templates under `roles/`. `package(i)` gives the file of `index.packages[i]`,
/// waiting for it if it is still downloading (members are written in path order, so the files
/// should arrive in that order); `None` stops the pack.
pub(crate) fn write_bundle(
    index: &BundleIndex,
    package: &dyn Fn(usize) -> Option<PathBuf>,
    extra: &[(String, Vec<u8>)],
    tool: &FallbackCommand,
    binary: Option<&[u8]>,
    stem: &str,
    output: &Path,
) -> Result<Packed, PackError> {
    let members = members(index, extra, tool, binary);
    write_members(
        members,
        &|i| package(i).ok_or_else(|| index.packages[i].file.clone()),
        index.source_date_epoch,
        stem,
        output,
    )
}

/// The bundle whose members are the files under `dir` (an unpacked bundle with this `index`),
/// packed again exactly as `build` packed it: the same bytes, so its signature and `.sha256`
/// still hold. Nothing under `dir` is checked here; the caller verifies the result.
pub(crate) fn repack(dir: &Path, index: &BundleIndex, output: &Path) -> Result<Packed, PackError> {
    let mut found = Vec::new();
    collect(dir, "", &mut found).map_err(|source| PackError::Read { path: dir.to_path_buf(), source })?;
    found.sort();
    let members = found
        .into_iter()
        .map(|rel| {
            let mode = if rel == INSTALLER_FILE || rel == BINARY_FILE { 0o755 } else { 0o644 };
            // The gzipped binary is data; install.sh unpacks it to run it.
            let path = dir.join(&rel);
            (rel, Body::File(path), Sha256::from_bytes([0; 32]), mode)
        })
        .collect();
    write_members(members, &|_| Err(String::new()), index.source_date_epoch, &index.stem(), output)
}

/// Every plain file under `dir`, relative to it.
fn collect(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in fs_err::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let kind = e.file_type()?;
        if kind.is_dir() {
            collect(&e.path(), &child, out)?;
        } else if kind.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

/// Writes `members` (sorted by path) under the top directory `stem`, each directory once before
/// its first member, every header fixed (`mtime`, uid/gid 0, the member's mode).
fn write_members(
    members: Vec<Member>,
    package: &dyn Fn(usize) -> Result<PathBuf, String>,
    mtime: u64,
    stem: &str,
    output: &Path,
) -> Result<Packed, PackError> {
    let werr = |source| PackError::Write { path: output.to_path_buf(), source };
    let dir = files::parent_dir(output);
    fs_err::create_dir_all(&dir).map_err(werr)?;

    let mut partial = Partial::new_in(&dir).map_err(werr)?;
    let file = partial.file_mut().try_clone().map_err(werr)?;
    let hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let gz = flate2::GzBuilder::new().mtime(0).write(hashing, COMPRESSION);
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let dir_entry = |tar: &mut tar::Builder<_>, path: &str| -> std::io::Result<()> {
        let mut h = header(tar::EntryType::Directory, 0o755, mtime, 0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    dir_entry(&mut tar, &format!("{stem}/")).map_err(werr)?;
    let mut dirs_written = std::collections::BTreeSet::new();
    for (path, body, _, mode) in members {
        // Each directory once, before its first member (members are sorted by path).
        for (i, _) in path.match_indices('/') {
            if dirs_written.insert(path[..i].to_string()) {
                dir_entry(&mut tar, &format!("{stem}/{}/", &path[..i])).map_err(werr)?;
            }
        }
        let full = format!("{stem}/{path}");
        match body {
            Body::Bytes(b) => {
                let mut h = header(tar::EntryType::Regular, mode, mtime, b.len() as u64);
                tar.append_data(&mut h, &full, &b[..]).map_err(werr)?;
            }
            Body::Package(_) | Body::File(_) => {
                let f = match body {
                    Body::Package(i) => package(i).map_err(|file| PackError::Missing { file })?,
                    Body::File(f) => f,
                    Body::Bytes(_) => unreachable!("matched above"),
                };
                let rerr = |source| PackError::Read { path: f.clone(), source };
                let file = fs_err::File::open(&f).map_err(rerr)?;
                let len = file.metadata().map_err(rerr)?.len();
                let mut h = header(tar::EntryType::Regular, mode, mtime, len);
                tar.append_data(&mut h, &full, file).map_err(werr)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(werr)?;
    let hashing = gz.finish().map_err(werr)?;
    let (sha256, size, buf) = hashing.finish();
    drop(buf.into_inner().map_err(|e| werr(e.into_error()))?);

    // Bundle and sidecar are renamed into place under one lock: another build to the same
    // path waits, so the pair is always one build's.
    let _lock = DirLock::wait(&dir).map_err(werr)?;
    partial.persist(output, 0o644).map_err(werr)?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let side = sidecar_path(output);
    files::write_atomic(&side, format!("{sha256}  {name}\n").as_bytes(), 0o644)
        .map_err(|source| PackError::Write { path: side.clone(), source })?;
    Ok(Packed { path: output.to_path_buf(), sha256, size })
}

pub(crate) use moa_model::files::sidecar_path;

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h
}
