//! An unpacked bundle (`tar -xzf` next to the .tar.gz, then its `install.sh`, which runs the
//! bundled moa-bundle on the directory): the same rules as for the archive, on the files. Every
//! file under the top directory must be listed in `SHA256SUMS` (or be it), with the size and
//! digest the bundle gives it; nothing may be a link or a special file; every listed file must
//! be there.
//!
//! The directory is the user's (a share, a medium, a folder others can write), so every file is
//! read once, through one descriptor opened as a regular file, into a private copy while it is
//! hashed; the checks and the install then use the copy, never the user's paths again.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::stream::{expected_members, parse_index, parse_sums, Expect};
use super::{check_packages, corrupt, PackageReaders, Unpacked, VerifyError};
use crate::bundle::{INDEX_FILE, SUMS_FILE};
use moa_model::files::WorkDir;
use moa_model::limits;
use moa_model::types::{HashingWriter, Sha256};

/// Whether `dir` looks like an unpacked bundle (it has the two files moa-bundle writes first).
pub(crate) fn is_unpacked_bundle(dir: &Path) -> bool {
    dir.join(SUMS_FILE).is_file() && dir.join(INDEX_FILE).is_file()
}

/// Checks the unpacked bundle in `dir` whole, copying it into a private work directory as it
/// is read; the returned bundle is that copy.
pub(crate) fn verify_dir(dir: &Path, readers: PackageReaders<'_>) -> Result<Unpacked, VerifyError> {
    let bad = |m: String| corrupt(dir, m);
    let small = |name: &str, max: u64| -> Result<Vec<u8>, VerifyError> {
        moa_model::files::read_at_most(&dir.join(name), max)
            .map_err(|source| VerifyError::Read { path: dir.join(name), source })?
            .ok_or_else(|| bad(format!("{name} is larger than {max} bytes")))
    };
    let sums_bytes = small(SUMS_FILE, limits::SUMS_BYTES)?;
    let sums = parse_sums(&sums_bytes).map_err(bad)?;
    let top = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let index_bytes = small(INDEX_FILE, limits::INDEX_BYTES)?;
    let index = parse_index(dir, &index_bytes, &sums, &top, &|f| readers(f).1)?;
    let mut expected = expected_members(&index, &sums).map_err(bad)?;
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    let work = WorkDir::new().map_err(|source| VerifyError::Unpack { path: std::env::temp_dir(), source })?;
    let copy = work.path().join(if top.is_empty() { "bundle" } else { &top });
    check_space(work.path(), &files)?;
    write_copy(&copy.join(SUMS_FILE), &sums_bytes)?;
    write_copy(&copy.join(INDEX_FILE), &index_bytes)?;
    let mut checked = 0;
    for (rel, path) in files {
        if rel == SUMS_FILE || rel == INDEX_FILE {
            checked += 1;
            continue;
        }
        let Some(want) = expected.remove(&rel) else {
            return Err(bad(format!("`{}` is not listed in SHA256SUMS", moa_model::types::shown(&rel))));
        };
        copy_checked(dir, &rel, &path, &want, &copy.join(&rel))?;
        checked += 1;
    }
    if let Some(missing) = expected.keys().next() {
        return Err(bad(format!("`{missing}` is listed in SHA256SUMS but missing")));
    }
    let u = Unpacked {
        index,
        dir: copy,
        bundle_sha256: Sha256::digest(&sums_bytes),
        files_checked: checked,
        signature: None,
        _work: Some(work),
    };
    check_packages(dir, &u, readers)?;
    Ok(u)
}

/// The copy needs as much room as the files (as the directory lists them now) in TMPDIR.
fn check_space(work: &Path, files: &[(String, PathBuf)]) -> Result<(), VerifyError> {
    let need: u64 = files.iter().filter_map(|(_, p)| fs_err::symlink_metadata(p).ok()).map(|m| m.len()).sum();
    let free = rustix::fs::statvfs(work).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    match free {
        Some(free) if free < need => Err(VerifyError::Space { path: work.to_path_buf(), need, free }),
        _ => Ok(()),
    }
}

fn write_copy(path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let uerr = |source| VerifyError::Unpack { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(uerr)?;
    }
    fs_err::write(path, bytes).map_err(uerr)
}

/// Every file under `dir` as (path relative to the top, full path); links and special files
/// are refused, so nothing read later can lead outside.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), VerifyError> {
    let rerr = |source| VerifyError::Read { path: dir.to_path_buf(), source };
    let mut entries: Vec<_> = fs_err::read_dir(dir).map_err(rerr)?.collect::<Result<_, _>>().map_err(rerr)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_str().map(str::to_string).unwrap_or_default();
        let path = e.path();
        let shown = moa_model::types::shown(&name);
        if !moa_model::types::is_line(&name, 255) || name.is_empty() {
            return Err(corrupt(dir, format!("`{shown}` is not a plain UTF-8 name")));
        }
        let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let kind = fs_err::symlink_metadata(&path).map_err(rerr)?.file_type();
        if kind.is_dir() {
            walk(&path, &child, out)?;
        } else if kind.is_file() {
            out.push((child, path));
        } else {
            return Err(corrupt(dir, format!("`{child}` is a link or a special file: bundles hold plain files only")));
        }
        if out.len() > limits::PACKAGES + 64 {
            return Err(corrupt(dir, "it holds more files than a bundle can list"));
        }
    }
    Ok(())
}

/// One file, read once into `dest`: a regular file of the size declared (or small), with the
/// digest declared.
fn copy_checked(dir: &Path, rel: &str, path: &Path, want: &Expect, dest: &Path) -> Result<(), VerifyError> {
    let rerr = |source| VerifyError::Read { path: path.to_path_buf(), source };
    let (file, size) = moa_model::files::open_regular(path).map_err(rerr)?;
    let max = want.size.unwrap_or(limits::SMALL_MEMBER_BYTES);
    if want.size.is_some_and(|s| s != size) || size > max {
        return Err(corrupt(dir, format!("`{rel}` is {size} bytes, but the bundle declares {max}")));
    }
    let uerr = |source| VerifyError::Unpack { path: dest.to_path_buf(), source };
    if let Some(parent) = dest.parent() {
        fs_err::create_dir_all(parent).map_err(uerr)?;
    }
    let mut h = HashingWriter::new(std::io::BufWriter::new(fs_err::File::create(dest).map_err(uerr)?));
    // One byte more than declared shows a file that grew after it was measured.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file).take(size + 1);
    std::io::copy(&mut reader, &mut h).map_err(rerr)?;
    let (got, n, out) = h.finish();
    out.into_inner().map_err(|e| uerr(e.into_error()))?;
    if n != size {
        return Err(corrupt(dir, format!("`{rel}` changed while it was being read")));
    }
    if got != want.sha256 {
        return Err(corrupt(dir, format!("`{rel}` has sha256 {got}, SHA256SUMS says {}", want.sha256)));
    }
    Ok(())
}
