//! An unpacked bundle (`tar -xzf` next to the .tar.gz, then its `install.sh`, which runs the
//! bundled moa-bundle on the directory): the same rules as for the archive, on the files. Every
//! file under the top directory must be listed in `SHA256SUMS` (or be it), with the size and
//! digest the bundle gives it; nothing may be a link or a special file; every listed file must
//! be there. Nothing is copied: the packages are read where they are.

use std::path::{Path, PathBuf};

use super::stream::{expected_members, parse_index, parse_sums, Expect};
use super::{check_packages, corrupt, PackageReaders, Unpacked, VerifyError};
use crate::bundle::{INDEX_FILE, SUMS_FILE};
use crate::limits;
use crate::types::{HashingWriter, Sha256};

/// Whether `dir` looks like an unpacked bundle (it has the two files moa-bundle writes first).
pub fn is_unpacked_bundle(dir: &Path) -> bool {
    dir.join(SUMS_FILE).is_file() && dir.join(INDEX_FILE).is_file()
}

/// Checks the unpacked bundle in `dir` whole.
pub fn verify_dir(dir: &Path, readers: PackageReaders<'_>) -> Result<Unpacked, VerifyError> {
    let bad = |m: String| corrupt(dir, m);
    let small = |name: &str, max: u64| -> Result<Vec<u8>, VerifyError> {
        crate::files::read_at_most(&dir.join(name), max)
            .map_err(|source| VerifyError::Read { path: dir.join(name), source })?
            .ok_or_else(|| bad(format!("{name} is larger than {max} bytes")))
    };
    let sums_bytes = small(SUMS_FILE, limits::SUMS_BYTES)?;
    let sums = parse_sums(&sums_bytes).map_err(bad)?;
    let top = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let index = parse_index(dir, &small(INDEX_FILE, limits::INDEX_BYTES)?, &sums, &top)?;
    let mut expected = expected_members(&index, &sums).map_err(bad)?;
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    let mut checked = 0;
    for (rel, path) in files {
        if rel == SUMS_FILE || rel == INDEX_FILE {
            checked += 1;
            continue;
        }
        let Some(want) = expected.remove(&rel) else {
            return Err(bad(format!("`{}` is not listed in SHA256SUMS", crate::types::shown(&rel))));
        };
        check_file(dir, &rel, &path, &want)?;
        checked += 1;
    }
    if let Some(missing) = expected.keys().next() {
        return Err(bad(format!("`{missing}` is listed in SHA256SUMS but missing")));
    }
    let u = Unpacked {
        index,
        dir: dir.to_path_buf(),
        bundle_sha256: Sha256::digest(&sums_bytes),
        files_checked: checked,
        _work: None,
    };
    check_packages(dir, &u, readers)?;
    Ok(u)
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
        let shown = crate::types::shown(&name);
        if !crate::types::is_line(&name, 255) || name.is_empty() {
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

/// One file: its size as declared (or small) and its digest.
fn check_file(dir: &Path, rel: &str, path: &Path, want: &Expect) -> Result<(), VerifyError> {
    let rerr = |source| VerifyError::Read { path: path.to_path_buf(), source };
    let size = fs_err::metadata(path).map_err(rerr)?.len();
    let max = want.size.unwrap_or(limits::SMALL_MEMBER_BYTES);
    if want.size.is_some_and(|s| s != size) || size > max {
        return Err(corrupt(dir, format!("`{rel}` is {size} bytes, but the bundle declares {max}")));
    }
    let mut h = HashingWriter::new(std::io::sink());
    std::io::copy(&mut std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(path).map_err(rerr)?), &mut h)
        .map_err(rerr)?;
    let (got, _, _) = h.finish();
    if got != want.sha256 {
        return Err(corrupt(dir, format!("`{rel}` has sha256 {got}, SHA256SUMS says {}", want.sha256)));
    }
    Ok(())
}
