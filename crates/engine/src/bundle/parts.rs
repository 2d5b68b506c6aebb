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
    #[error("{} cannot be joined: {} {} lost or damaged ({}), and the parity parts cannot rebuild {}: {message}. Copy those parts again from the build machine", index.display(), bad.len(), if bad.len() == 1 { "part is" } else { "parts are" }, bad.join(", "), if bad.len() == 1 { "it" } else { "them" })]
    Unrepairable { index: PathBuf, bad: Vec<String>, message: String },
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
    /// `--parity N`: the parity parts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parity: Vec<PathBuf>,
}

/// Splits `bundle` into parts of `size` bytes (the last one shorter), each written to a
/// temporary file and renamed into place, then the index; parts a former split left beyond the
/// new last one are removed.
pub(crate) fn split(bundle: &Path, size: u64, parity: u32) -> Result<Split, PartsError> {
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
    let parity = if parity > 0 { super::parity::write(bundle, &parts, parity, size)? } else { Vec::new() };
    for (path, sha256) in &parity {
        index.push_str(&format!("{sha256}  {}\n", name(path)));
    }
    remove_from(|n| part_path(bundle, n), count as usize);
    remove_from(|n| super::parity::parity_path(bundle, n), parity.len());
    let index_file = index_path(bundle);
    moa_model::files::write_atomic(&index_file, index.as_bytes(), 0o644)
        .map_err(|source| PartsError::Write { path: index_file.clone(), source })?;
    Ok(Split { index: index_file, parts, parity: parity.into_iter().map(|(p, _)| p).collect() })
}

/// Removes the files a former split left from number `first` on.
fn remove_from(path: impl Fn(usize) -> PathBuf, first: usize) {
    for n in first.. {
        if fs_err::remove_file(path(n)).is_err() {
            break;
        }
    }
}

/// A bundle to read: the file itself, or its parts joined into a work directory.
pub struct Opened {
    /// The bundle's bytes.
    pub file: PathBuf,
    /// The bundle's own path (where its `.sha256` and `.minisig` sit): `file`, or for parts the
    /// path the joined bundle would have beside them.
    pub named: PathBuf,
    /// The parts rebuilt from parity while joining, and the parity parts found damaged.
    pub repaired: Vec<String>,
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
        (None, None) => return Ok(Opened { file: chosen.clone(), named: chosen, repaired: Vec::new(), _work: None }),
    };
    let work = WorkDir::new().map_err(|source| PartsError::Write { path: std::env::temp_dir(), source })?;
    let joined = work.path().join(bundle.file_name().unwrap_or_default());
    let repaired = join(&bundle, &joined)?;
    Ok(Opened { file: joined, named: bundle, repaired, _work: Some(work) })
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

/// Checks every part listed in `<bundle>.split` against it, writing each to `dest` at its place.
/// Each part is opened once as a regular file (a FIFO or a link to a device is refused) and read
/// up to the length it had when opened. Without parity parts the first bad part is refused;
/// with them, lost or damaged parts are rebuilt (what was rebuilt is returned, in words).
fn join(bundle: &Path, dest: &Path) -> Result<Vec<String>, PartsError> {
    let index = index_path(bundle);
    let (parts, parity) = read_index(bundle, &index)?;
    let need: u64 = parts.iter().chain(&parity).map(|(p, _)| fs_err::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let dir = moa_model::files::parent_dir(dest);
    let free = rustix::fs::statvfs(&dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    if let Some(free) = free.filter(|f| *f < need) {
        return Err(PartsError::Space { dir, need, free });
    }
    let werr = |source| PartsError::Write { path: dest.to_path_buf(), source };
    let mut out =
        fs_err::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(dest).map_err(werr)?;
    // With parity, each part goes to its own place (the layout gives it), so one lost or cut
    // short moves no other.
    let layout = (!parity.is_empty()).then(|| super::parity::layout_of(&parity)).flatten();
    let mut bad = Vec::new();
    for (i, (part, expected)) in parts.iter().enumerate() {
        if let Some(l) = &layout {
            std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(i as u64 * l.part)).map_err(werr)?;
        }
        match copy_part(part, &mut out) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) if layout.is_none() => {
                return Err(PartsError::Part { part: part.clone(), index, expected: *expected, actual })
            }
            Err(e) if layout.is_none() => return Err(e),
            Ok(_) => bad.push((i, "damaged")),
            Err(_) => bad.push((i, "missing")),
        }
    }
    out.flush().map_err(werr)?;
    let Some(l) = layout.filter(|_| !bad.is_empty()) else { return Ok(Vec::new()) };
    out.set_len((l.data as u64 - 1) * l.part + l.last).map_err(werr)?;
    drop(out);
    let named = |i: usize, why: &str| format!("{} ({why})", parts[i].0.display());
    let expected: Vec<Sha256> = parts.iter().map(|(_, s)| *s).collect();
    let idx: Vec<usize> = bad.iter().map(|(i, _)| *i).collect();
    let broken = super::parity::repair(dest, &idx, &parity, &expected).map_err(|message| PartsError::Unrepairable {
        index: index.clone(),
        bad: bad.iter().map(|(i, why)| named(*i, why)).collect(),
        message,
    })?;
    let mut repaired: Vec<String> =
        bad.iter().map(|(i, why)| format!("rebuilt {} from parity", named(*i, why))).collect();
    repaired.extend(broken.iter().map(|p| format!("parity part {} is damaged or missing (not needed)", p.display())));
    Ok(repaired)
}

/// Appends one part to `out`, hashing it on the way.
fn copy_part(part: &Path, out: &mut fs_err::File) -> Result<Sha256, PartsError> {
    let rerr = |source| PartsError::Read { path: part.to_path_buf(), source };
    let (file, len) = moa_model::files::open_regular(part).map_err(rerr)?;
    let mut hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, out));
    std::io::copy(&mut file.take(len), &mut hashing).map_err(rerr)?;
    let (actual, _, buf) = hashing.finish();
    buf.into_inner().map_err(|e| PartsError::Write { path: part.to_path_buf(), source: e.into_error() })?;
    Ok(actual)
}

/// The parts the index lists, in order: `<bundle>.part000` onwards beside it, no gaps, then the
/// parity parts, `<bundle>.parity000` onwards.
#[allow(clippy::type_complexity)]
fn read_index(bundle: &Path, index: &Path) -> Result<(Vec<(PathBuf, Sha256)>, Vec<(PathBuf, Sha256)>), PartsError> {
    let bad = |message: String| PartsError::Index { index: index.to_path_buf(), message };
    let bytes = moa_model::files::read_at_most(index, 1 << 20)
        .map_err(|e| bad(format!("could not read it ({e}): a split bundle needs its .split index beside its parts")))?
        .ok_or_else(|| bad("is larger than 1 MiB: not a split index".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("is not text".into()))?;
    let (mut out, mut parity) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let shown = moa_model::types::shown(line);
        let (sha, name) = line.split_once("  ").ok_or_else(|| bad(format!("line `{shown}` is not `SHA256  FILE`")))?;
        let sha = Sha256::from_hex(sha).map_err(|e| bad(e.to_string()))?;
        let file_name = |p: PathBuf| p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let (data_want, parity_want) = (part_path(bundle, out.len()), super::parity::parity_path(bundle, parity.len()));
        if parity.is_empty() && name == file_name(data_want.clone()) {
            out.push((data_want, sha));
        } else if name == file_name(parity_want.clone()) && !out.is_empty() {
            parity.push((parity_want, sha));
        } else {
            let want = if parity.is_empty() { file_name(data_want) } else { file_name(parity_want) };
            return Err(bad(format!("line {} names `{}`, expected `{want}`", n + 1, moa_model::types::shown(name))));
        }
        if out.len() > MAX_PARTS || parity.len() > super::parity::MAX_PARITY as usize {
            return Err(bad(format!("lists more than {MAX_PARTS} parts")));
        }
    }
    if out.is_empty() {
        return Err(bad("lists no part".into()));
    }
    Ok((out, parity))
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
        assert_eq!(split(&bundle, 1000, 0).unwrap().parts.len(), 10);
        let s = split(&bundle, 4096, 0).unwrap();
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
    fn parity_two_rebuilds_any_two_bad_parts_and_names_them_and_three_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b.tar.gz");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        fs_err::write(&bundle, &data).unwrap();
        let s = split(&bundle, 1700, 2).unwrap();
        assert_eq!((s.parts.len(), s.parity.len()), (6, 2));
        fs_err::remove_file(&bundle).unwrap();
        let index = fs_err::read_to_string(&s.index).unwrap();
        assert!(index.lines().last().unwrap().ends_with("  b.tar.gz.parity001"), "{index}");

        // One part deleted, bytes flipped in another: rebuilt, and named.
        fs_err::remove_file(&s.parts[4]).unwrap();
        let mut two = fs_err::read(&s.parts[2]).unwrap();
        two[7] ^= 0xff;
        fs_err::write(&s.parts[2], &two).unwrap();
        let o = open(&s.index).unwrap();
        assert_eq!(fs_err::read(&o.file).unwrap(), data);
        let said = o.repaired.join("\n");
        assert!(said.contains("b.tar.gz.part002 (damaged)") && said.contains("b.tar.gz.part004 (missing)"), "{said}");

        // The last part (shorter) lost, and a parity part damaged: the other rebuilds it.
        let s = split(&fs_err::write(&bundle, &data).map(|()| bundle.clone()).unwrap(), 1700, 2).unwrap();
        fs_err::remove_file(&s.parts[5]).unwrap();
        fs_err::write(&s.parity[0], b"junk").unwrap();
        let o = open(&s.parts[0]).unwrap();
        assert_eq!(fs_err::read(&o.file).unwrap(), data);
        assert!(o.repaired.iter().any(|r| r.contains("parity part") && r.contains("parity000")), "{:?}", o.repaired);

        // Three bad parts with two parity parts: refused, naming them.
        let s = split(&bundle, 1700, 2).unwrap();
        for n in [0, 1, 3] {
            fs_err::write(&s.parts[n], b"x").unwrap();
        }
        let e = open(&s.index).err().unwrap().to_string();
        for n in ["part000", "part001", "part003"] {
            assert!(e.contains(&format!("b.tar.gz.{n} (damaged)")), "{e}");
        }
        assert!(e.contains("3 parts are lost or damaged"), "{e}");
    }

    #[test]
    fn a_part_number_is_three_or_more_digits() {
        assert_eq!(part_number("/m/b.tar.gz.part007"), Some("/m/b.tar.gz"));
        assert_eq!(part_number("/m/b.tar.gz.part7"), None);
        assert_eq!(part_number("/m/b.tar.gz"), None);
    }
}
