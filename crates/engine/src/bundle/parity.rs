//! Parity parts for a split bundle (`build --split-size S --parity N`): N Reed–Solomon recovery
//! parts, `<bundle>.parity000` onwards, so that any N lost or damaged parts (data or parity) are
//! rebuilt on the node. The parts are coded stripe by stripe: stripe `s` is bytes `s*C..(s+1)*C`
//! of every data part (zeros past a part's end), and parity part `j` holds recovery shard `j` of
//! each stripe after a one-line header giving the layout. The split index lists the parity
//! parts with their sha256 like the data parts, so `sha256sum -c` checks them too.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use moa_model::files::Partial;
use moa_model::types::{HashingWriter, Sha256};

use super::parts::PartsError;

/// Data parts a parity set covers at most (each is open at once while coding).
pub(crate) const MAX_DATA_PARTS: usize = 255;
/// Parity parts at most.
pub(crate) const MAX_PARITY: u32 = 64;
/// The stripe chunk: shards are this long (even, as the code needs).
const CHUNK: u64 = 64 << 10;
const HEAD: &str = "moa-bundle parity 1";

/// How the parts are laid out: `data` parts of `part` bytes (the last `last` bytes), `parity`
/// parity parts, stripes of `chunk` bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    pub data: usize,
    pub parity: usize,
    pub part: u64,
    pub last: u64,
    pub chunk: u64,
}

impl Layout {
    fn header(&self, j: usize) -> String {
        let Layout { data, parity, part, last, chunk } = self;
        format!("{HEAD} data={data} parity={parity} part={part} last={last} chunk={chunk} index={j}\n")
    }

    /// A parity part's header read back, and its index.
    fn parse(line: &str) -> Option<(Layout, usize)> {
        let rest = line.strip_prefix(HEAD)?.strip_suffix('\n')?;
        let mut v = rest.split(' ').skip(1).map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse::<u64>().ok()));
        let mut next = || v.next().flatten();
        let l =
            Layout { data: next()? as usize, parity: next()? as usize, part: next()?, last: next()?, chunk: next()? };
        let j = next()? as usize;
        (l.header(j) == line).then_some((l, j))
    }

    fn stripes(&self) -> u64 {
        self.part.div_ceil(self.chunk)
    }

    /// Data part `i`'s length.
    fn len_of(&self, i: usize) -> u64 {
        if i + 1 == self.data {
            self.last
        } else {
            self.part
        }
    }

    fn sane(&self) -> bool {
        (1..=MAX_DATA_PARTS).contains(&self.data)
            && (1..=MAX_PARITY as usize).contains(&self.parity)
            && self.chunk > 0
            && self.chunk.is_multiple_of(2)
            && self.chunk == chunk_for(self.part)
            && self.last <= self.part
            && self.part <= moa_model::limits::PACKAGE_BYTES * 16
    }
}

fn rs(e: reed_solomon_simd::Error, path: &Path) -> PartsError {
    PartsError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Writes the parity parts of `parts` (all `part` bytes but the last): their paths and sha256.
pub(crate) fn write(
    bundle: &Path,
    parts: &[PathBuf],
    parity: u32,
    part: u64,
) -> Result<Vec<(PathBuf, Sha256)>, PartsError> {
    if parts.len() > MAX_DATA_PARTS || parity > MAX_PARITY {
        let message = format!("--parity covers at most {MAX_DATA_PARTS} parts with at most {MAX_PARITY} parity parts: use a larger --split-size");
        return Err(PartsError::Index { index: bundle.to_path_buf(), message });
    }
    let last = fs_err::metadata(&parts[parts.len() - 1]).map(|m| m.len()).unwrap_or(0);
    let chunk = chunk_for(part);
    let layout = Layout { data: parts.len(), parity: parity as usize, part, last, chunk };
    let mut readers = Vec::new();
    for p in parts {
        let (f, _) =
            moa_model::files::open_regular(p).map_err(|source| PartsError::Read { path: p.clone(), source })?;
        readers.push(std::io::BufReader::with_capacity(chunk as usize, f));
    }
    let dir = moa_model::files::parent_dir(bundle);
    let mut outs = Vec::new();
    for j in 0..layout.parity {
        let path = parity_path(bundle, j);
        let mut partial = Partial::new_in(&dir).map_err(|source| PartsError::Write { path: path.clone(), source })?;
        let file = partial.file_mut().try_clone().map_err(|source| PartsError::Write { path: path.clone(), source })?;
        let mut w = HashingWriter::new(std::io::BufWriter::new(file));
        w.write_all(layout.header(j).as_bytes()).map_err(|source| PartsError::Write { path: path.clone(), source })?;
        outs.push((path, partial, w));
    }
    let mut shards = vec![vec![0u8; chunk as usize]; layout.data];
    for _ in 0..layout.stripes() {
        for (r, shard) in readers.iter_mut().zip(shards.iter_mut()) {
            shard.fill(0);
            read_full(r, shard).map_err(|source| PartsError::Read { path: bundle.to_path_buf(), source })?;
        }
        let recovery = reed_solomon_simd::encode(layout.data, layout.parity, &shards).map_err(|e| rs(e, bundle))?;
        for ((path, _, w), shard) in outs.iter_mut().zip(recovery) {
            w.write_all(&shard).map_err(|source| PartsError::Write { path: path.clone(), source })?;
        }
    }
    let mut written = Vec::new();
    for (path, partial, w) in outs {
        let werr = |source| PartsError::Write { path: path.clone(), source };
        let (sha256, _, buf) = w.finish();
        buf.into_inner().map_err(|e| werr(e.into_error()))?;
        partial.persist(&path, 0o644).map_err(werr)?;
        written.push((path, sha256));
    }
    Ok(written)
}

/// The stripe chunk for parts of `part` bytes: 64 KiB, or the part rounded up to even.
fn chunk_for(part: u64) -> u64 {
    CHUNK.min(part.div_ceil(2) * 2).max(2)
}

/// Reads as much of `buf` as the reader has (a short part leaves the rest zero).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..])? {
            0 => break,
            n => at += n,
        }
    }
    Ok(())
}

/// `<bundle>.parityNNN`.
pub(crate) fn parity_path(bundle: &Path, j: usize) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(format!(".parity{j:03}"));
    PathBuf::from(s)
}

/// The layout the first parity part whose header reads says (checked against its sha256, and
/// the others', only when a repair needs them).
pub(crate) fn layout_of(parity: &[(PathBuf, Sha256)]) -> Option<Layout> {
    parity.iter().enumerate().find_map(|(j, (p, _))| read_head(p).filter(|(l, i)| *i == j && l.sane()).map(|(l, _)| l))
}

/// Rebuilds the data parts `bad` inside `joined` (the bundle being joined, the good parts
/// already at their offsets) from the good parts and the parity parts in `parity` (each with the
/// sha256 the index gives it), then checks each rebuilt part against `expected`. Returns the
/// parity parts that were found damaged (and not used).
pub(crate) fn repair(
    joined: &Path,
    bad: &[usize],
    parity: &[(PathBuf, Sha256)],
    expected: &[Sha256],
) -> Result<Vec<PathBuf>, String> {
    let (layout, usable, broken) = usable_parity(parity)?;
    if layout.data != expected.len() {
        return Err(format!("the parity parts are for {} data parts, the index lists {}", layout.data, expected.len()));
    }
    if bad.len() > usable.len() {
        return Err(format!(
            "{} parts are lost or damaged and {} good parity part(s) can rebuild at most that many",
            bad.len(),
            usable.len()
        ));
    }
    let io = |e: std::io::Error| format!("{}: {e}", joined.display());
    let mut out = fs_err::OpenOptions::new().read(true).write(true).open(joined).map_err(io)?;
    let mut readers = Vec::new();
    for (j, path) in &usable {
        let (f, _) = moa_model::files::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut r = std::io::BufReader::new(f);
        r.seek(SeekFrom::Start(layout.header(*j).len() as u64)).map_err(|e| format!("{}: {e}", path.display()))?;
        readers.push((*j, r));
    }
    let chunk = layout.chunk as usize;
    let mut shard = vec![0u8; chunk];
    for s in 0..layout.stripes() {
        let mut original = Vec::new();
        for i in (0..layout.data).filter(|i| !bad.contains(i)) {
            shard.fill(0);
            let (at, len) = span(&layout, i, s);
            out.seek(SeekFrom::Start(at)).map_err(io)?;
            out.read_exact(&mut shard[..len as usize]).map_err(io)?;
            original.push((i, shard.clone()));
        }
        let mut recovery = Vec::new();
        for (j, r) in readers.iter_mut() {
            r.read_exact(&mut shard).map_err(|e| format!("parity part {j}: {e}"))?;
            recovery.push((*j, shard.clone()));
        }
        let restored =
            reed_solomon_simd::decode(layout.data, layout.parity, original, recovery).map_err(|e| e.to_string())?;
        for &i in bad {
            let (at, len) = span(&layout, i, s);
            let data = restored.get(&i).ok_or_else(|| format!("part {i} was not rebuilt"))?;
            out.seek(SeekFrom::Start(at)).map_err(io)?;
            out.write_all(&data[..len as usize]).map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    for &i in bad {
        let got = digest_range(&mut out, i as u64 * layout.part, layout.len_of(i)).map_err(io)?;
        if got != expected[i] {
            return Err(format!("part {i} rebuilt from parity has sha256 {got}, not the index's {}", expected[i]));
        }
    }
    Ok(broken)
}

/// Where stripe `s` of data part `i` lies in the joined bundle, and how long it is there.
fn span(l: &Layout, i: usize, s: u64) -> (u64, u64) {
    let start = s * l.chunk;
    let len = l.len_of(i).saturating_sub(start).min(l.chunk);
    (i as u64 * l.part + start, len)
}

/// The parity parts whose sha256 matches the index, with their shared layout, and those that do
/// not.
#[allow(clippy::type_complexity)]
fn usable_parity(parity: &[(PathBuf, Sha256)]) -> Result<(Layout, Vec<(usize, PathBuf)>, Vec<PathBuf>), String> {
    let (mut layout, mut usable, mut broken) = (None, Vec::new(), Vec::new());
    for (j, (path, want)) in parity.iter().enumerate() {
        let good = moa_model::files::open_regular(path).ok().and_then(|(mut f, _)| {
            let mut w = HashingWriter::new(std::io::sink());
            std::io::copy(&mut f, &mut w).ok()?;
            (w.finish().0 == *want).then_some(())
        });
        let head = good.and_then(|()| read_head(path));
        // Its length is the layout's: the work a repair does is bounded by bytes that are there.
        let len = fs_err::metadata(path).map_or(0, |m| m.len());
        let fits = |l: &Layout, j: usize| len == l.header(j).len() as u64 + l.stripes() * l.chunk;
        match head {
            Some((l, index)) if index == j && l.sane() && fits(&l, j) && layout.is_none_or(|x| x == l) => {
                layout = Some(l);
                usable.push((j, path.clone()));
            }
            _ => broken.push(path.clone()),
        }
    }
    let layout = layout.ok_or_else(|| "no parity part is whole".to_string())?;
    Ok((layout, usable, broken))
}

fn read_head(path: &Path) -> Option<(Layout, usize)> {
    let (f, _) = moa_model::files::open_regular(path).ok()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(f.take(512)), &mut line).ok()?;
    Layout::parse(&line)
}

fn digest_range(f: &mut fs_err::File, at: u64, len: u64) -> std::io::Result<Sha256> {
    f.seek(SeekFrom::Start(at))?;
    let mut w = HashingWriter::new(std::io::sink());
    std::io::copy(&mut (&mut *f).take(len), &mut w)?;
    Ok(w.finish().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_only_as_written() {
        let l = Layout { data: 6, parity: 2, part: 4096, last: 100, chunk: 4096 };
        assert_eq!(Layout::parse(&l.header(1)), Some((l, 1)));
        assert_eq!(Layout::parse(&l.header(1).replace("data=6", "data=06")), None);
        assert_eq!(Layout::parse("moa-bundle parity 1 data=6\n"), None);
    }
}
