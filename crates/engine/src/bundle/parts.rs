//! A bundle split to fit media (`build --split-size 4G`): `<bundle>.part000`, `.part001`, … and
//! `<bundle>.split`, the index, in `sha256sum` format (`sha256sum -c <bundle>.split` checks
//! every part; `cat <bundle>.part* > <bundle>` joins them: the index's name is not a `part*`). On the node, [`open`] takes the
//! index, any part or their folder, checks every part against the index while joining them into
//! a private work directory, and hands back the joined bundle to verify as usual.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use moa_model::files::{Partial, WorkDir};
use moa_model::types::{HashingWriter, Sha256};

/// Parts of one bundle at most (a 4 GiB part size covers 40 TiB).
pub(crate) const MAX_PARTS: usize = 10_000;
const INDEX_SUFFIX: &str = ".split";

#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    #[error("--split-size {size} is too small for {}: it would make more than {MAX_PARTS} parts", bundle.display())]
    TooMany { bundle: PathBuf, size: u64 },
    #[error("could not write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", index.display())]
    Index { index: PathBuf, message: String },
    #[error("part {} is damaged or not from this bundle: its sha256 is {actual}, {} says {expected}. Copy that part again from the build machine", part.display(), index.display())]
    Part { part: PathBuf, index: PathBuf, expected: Sha256, actual: Sha256 },
    #[error("{} has no bundle: pass a bundle (.tar.gz), its split index (.split) or one of its parts, or a folder holding exactly one of them", dir.display())]
    NoBundle { dir: PathBuf },
    #[error("joining the parts needs {need} bytes in {}, which has {free} free: set TMPDIR to a larger file system", dir.display())]
    Space { dir: PathBuf, need: u64, free: u64 },
}

/// `<bundle>.split`.
pub(crate) fn index_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(INDEX_SUFFIX);
    PathBuf::from(s)
}

fn part_path(bundle: &Path, n: usize) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(format!(".part{n:03}"));
    PathBuf::from(s)
}

/// What `split` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Split {
    pub index: PathBuf,
    pub parts: Vec<PathBuf>,
}

/// Splits `bundle` into parts of `size` bytes (the last one shorter), each written to a
/// temporary file and renamed into place, then the index; parts a former split left beyond the
/// new last one are removed.
pub(crate) fn split(bundle: &Path, size: u64) -> Result<Split, PartsError> {
    let rerr = |source| PartsError::Read { path: bundle.to_path_buf(), source };
    let mut input = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(bundle).map_err(rerr)?);
    let total = input.get_ref().metadata().map_err(rerr)?.len();
    let count = total.div_ceil(size).max(1);
    if count > MAX_PARTS as u64 {
        return Err(PartsError::TooMany { bundle: bundle.to_path_buf(), size });
    }
    let dir = moa_model::files::parent_dir(bundle);
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (mut parts, mut index) = (Vec::new(), String::new());
    for n in 0..count as usize {
        let path = part_path(bundle, n);
        let werr = |source| PartsError::Write { path: path.clone(), source };
        let mut partial = Partial::new_in(&dir).map_err(werr)?;
        let mut out = HashingWriter::new(std::io::BufWriter::new(partial.file_mut().try_clone().map_err(werr)?));
        std::io::copy(&mut (&mut input).take(size), &mut out).map_err(werr)?;
        let (sha256, _, buf) = out.finish();
        buf.into_inner().map_err(|e| werr(e.into_error()))?;
        partial.persist(&path, 0o644).map_err(werr)?;
        index.push_str(&format!("{sha256}  {}\n", name(&path)));
        parts.push(path);
    }
    for n in count as usize.. {
        let stale = part_path(bundle, n);
        if fs_err::remove_file(&stale).is_err() {
            break;
        }
    }
    let index_file = index_path(bundle);
    moa_model::files::write_atomic(&index_file, index.as_bytes(), 0o644)
        .map_err(|source| PartsError::Write { path: index_file.clone(), source })?;
    Ok(Split { index: index_file, parts })
}

/// A bundle to read: the file itself, or its parts joined into a work directory.
pub struct Opened {
    /// The bundle's bytes.
    pub file: PathBuf,
    /// The bundle's own path (where its `.sha256` and `.minisig` sit): `file`, or for parts the
    /// path the joined bundle would have beside them.
    pub named: PathBuf,
    _work: Option<WorkDir>,
}

/// Resolves what the user named — a bundle, its split index, one of its parts, or a folder
/// holding one of those — and, for parts, checks each against the index while joining them.
pub(crate) fn open(path: &Path) -> Result<Opened, PartsError> {
    let chosen = if path.is_dir() { only_bundle_in(path)? } else { path.to_path_buf() };
    let text = chosen.to_string_lossy().into_owned();
    let bundle = match (text.strip_suffix(INDEX_SUFFIX), part_number(&text)) {
        (Some(b), _) => PathBuf::from(b),
        (None, Some(b)) => PathBuf::from(b),
        (None, None) => return Ok(Opened { file: chosen.clone(), named: chosen, _work: None }),
    };
    let work = WorkDir::new().map_err(|source| PartsError::Write { path: std::env::temp_dir(), source })?;
    let joined = work.path().join(bundle.file_name().unwrap_or_default());
    join(&bundle, &joined)?;
    Ok(Opened { file: joined, named: bundle, _work: Some(work) })
}

/// Whether `path` names a split index or one of its parts.
pub(crate) fn is_part_or_index(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.ends_with(INDEX_SUFFIX) || part_number(&text).is_some()
}

/// `…tar.gz` of `…tar.gz.partNNN`.
fn part_number(path: &str) -> Option<&str> {
    let (bundle, n) = path.rsplit_once(".part")?;
    (n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit())).then_some(bundle)
}

/// The one bundle or split index in `dir`.
fn only_bundle_in(dir: &Path) -> Result<PathBuf, PartsError> {
    let rerr = |source| PartsError::Read { path: dir.to_path_buf(), source };
    let mut found: Vec<PathBuf> = Vec::new();
    for e in fs_err::read_dir(dir).map_err(rerr)? {
        let p = e.map_err(rerr)?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(INDEX_SUFFIX) || name.ends_with(".tar.gz") {
            found.push(p);
        }
    }
    // A bundle and its split index side by side are one bundle: the whole file is read.
    found.sort();
    if found.len() == 2 && index_path(&found[0]) == found[1] {
        found.pop();
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(PartsError::NoBundle { dir: dir.to_path_buf() }),
    }
}

/// Checks every part listed in `<bundle>.split` against it, appending each to `dest`. Each part
/// is opened once as a regular file (a FIFO or a link to a device is refused) and read up to the
/// length it had when opened.
fn join(bundle: &Path, dest: &Path) -> Result<(), PartsError> {
    let index = index_path(bundle);
    let parts = read_index(bundle, &index)?;
    let need: u64 = parts.iter().map(|(p, _)| fs_err::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let dir = moa_model::files::parent_dir(dest);
    let free = rustix::fs::statvfs(&dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    if let Some(free) = free.filter(|f| *f < need) {
        return Err(PartsError::Space { dir, need, free });
    }
    let werr = |source| PartsError::Write { path: dest.to_path_buf(), source };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(dest).map_err(werr)?);
    for (part, expected) in parts {
        let rerr = |source| PartsError::Read { path: part.clone(), source };
        let (file, len) = moa_model::files::open_regular(&part).map_err(rerr)?;
        let mut hashing = HashingWriter::new(&mut out);
        std::io::copy(&mut file.take(len), &mut hashing).map_err(rerr)?;
        let (actual, _, _) = hashing.finish();
        if actual != expected {
            return Err(PartsError::Part { part, index, expected, actual });
        }
    }
    out.flush().map_err(werr)
}

/// The parts the index lists, in order: `<bundle>.part000` onwards beside it, no gaps.
fn read_index(bundle: &Path, index: &Path) -> Result<Vec<(PathBuf, Sha256)>, PartsError> {
    let bad = |message: String| PartsError::Index { index: index.to_path_buf(), message };
    let bytes = moa_model::files::read_at_most(index, 1 << 20)
        .map_err(|e| bad(format!("could not read it ({e}): a split bundle needs its .split index beside its parts")))?
        .ok_or_else(|| bad("is larger than 1 MiB: not a split index".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("is not text".into()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let want = part_path(bundle, n);
        let want_name = want.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = moa_model::types::shown(line);
        let (sha, name) = line.split_once("  ").ok_or_else(|| bad(format!("line `{shown}` is not `SHA256  FILE`")))?;
        if name != want_name {
            return Err(bad(format!(
                "line {} names `{}`, expected `{want_name}`",
                n + 1,
                moa_model::types::shown(name)
            )));
        }
        out.push((want, Sha256::from_hex(sha).map_err(|e| bad(e.to_string()))?));
        if out.len() > MAX_PARTS {
            return Err(bad(format!("lists more than {MAX_PARTS} parts")));
        }
    }
    if out.is_empty() {
        return Err(bad("lists no part".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_then_open_any_part_gives_the_bundle_back_and_a_bad_part_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b.tar.gz");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        fs_err::write(&bundle, &data).unwrap();
        // A former split into more parts leaves none behind.
        assert_eq!(split(&bundle, 1000).unwrap().parts.len(), 10);
        let s = split(&bundle, 4096).unwrap();
        assert_eq!(s.parts.len(), 3);
        assert!(!part_path(&bundle, 3).exists());
        fs_err::remove_file(&bundle).unwrap();
        for given in [s.index.clone(), s.parts[0].clone(), s.parts[2].clone(), dir.path().to_path_buf()] {
            let o = open(&given).unwrap();
            assert_eq!(fs_err::read(&o.file).unwrap(), data, "{}", given.display());
            assert_eq!(o.named, bundle);
        }
        fs_err::write(&s.parts[1], b"junk").unwrap();
        let e = open(&s.index).err().unwrap().to_string();
        assert!(e.contains("b.tar.gz.part001") && e.contains("damaged"), "{e}");
        fs_err::remove_file(&s.parts[1]).unwrap();
        assert!(open(&s.index).is_err());
    }

    #[test]
    fn a_part_number_is_three_or_more_digits() {
        assert_eq!(part_number("/m/b.tar.gz.part007"), Some("/m/b.tar.gz"));
        assert_eq!(part_number("/m/b.tar.gz.part7"), None);
        assert_eq!(part_number("/m/b.tar.gz"), None);
    }
}
