//! The parsed-metadata cache, as apt's `pkgcache.bin` and libsolv's `.solv`: once an index
//! file (`Packages.xz`, `primary.xml.gz`) has been checked against its signed root and parsed,
//! its records are written to the cache under the digest of those checked bytes (with the
//! format, the arch and this encoding's version); a later run that meets the same digest reads
//! the records back instead of decompressing and parsing the index again.
//!
//! A build that makes its bundle a repository also keeps each package's published index entry
//! (its stanza, its `<package>` element): those follow the records in the cache entry, and
//! each record says where its own is. A run that does not keep them reads only the records.
//!
//! An entry is data from disk like any other. The file names its key and the sha256 and
//! length of its records and of its index entries; a key that is not the one asked for
//! (another index, arch or version, a file swapped with another's), bytes that do not match
//! their digest (truncated, bit-flipped), or a record that fails the checks the parsers make
//! (names, versions, paths, dependency lists, counts, its index entry's place) makes the entry
//! unusable: the index is parsed again and the entry rewritten. The index entries are checked
//! as they are copied to where the build keeps them, so what was checked is what is used.
//! Nothing read from an entry is trusted more than a parser's output.
//!
//! The encoding is this module's own, a flat length-prefixed layout: decoding it is a few
//! copies per field, every value goes through the same validating constructors as a parse,
//! and no dependency is added (a zero-copy format would need its own validation pass over
//! every byte anyway before the resolver's owned records could be made).

use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::{DebVersion, Evr, Version};

use super::record::{PoolSpan, RecordText, TextParts, TextPool};
use super::{DepList, Deps, EntrySpan, MultiArch, PackageRecord, Priority};

/// The dependency lists a record holds, in the order an entry stores them.
const LISTS: [&str; 11] = [
    "provides",
    "requires",
    "pre-requires",
    "conflicts",
    "replaces",
    "files",
    "obsoletes",
    "recommends",
    "suggests",
    "supplements",
    "enhances",
];

const MAGIC: &[u8] = b"moa-bundle parsed index\n";
/// Bumped with any change of the layout or of what a parser keeps.
const VERSION: u32 = 5;
/// The header: magic, version, the key's digest, the records' digest, length and where their
/// second part starts, the index entries' digest and length.
pub(crate) const HEADER_BYTES: usize = MAGIC.len() + 4 + 32 + 32 + 8 + 8 + 32 + 8;
/// An entry larger than this is not read (bookworm's main index: about 30 MiB).
pub(crate) const ENTRY_BYTES: u64 = 2 << 30;
/// Records in one entry (bookworm's main amd64 index: 66,582).
const RECORDS: usize = 4_000_000;

/// What an entry is for: the parser (`apt-packages`, `yum-primary`), the arch it kept
/// records for, and the sha256 of the checked index bytes.
pub struct ParsedKey<'a> {
    pub format: &'static str,
    pub arch: &'a Arch,
    pub index: &'a Sha256,
}

impl ParsedKey<'_> {
    /// The key's digest: the entry's file name and the first thing the entry says.
    pub fn digest(&self) -> Sha256 {
        let text = format!("{}\0{}\0{}\0{VERSION}", self.format, self.arch, self.index.to_hex());
        Sha256::digest(text.as_bytes())
    }
}

/// Why an entry was not used (said in the status line; the index is then parsed).
#[derive(Debug, thiserror::Error)]
pub enum ParsedError {
    #[error("not a parsed-index entry of this version")]
    Header,
    #[error("made for another index")]
    Key,
    #[error("its content does not match its digest (truncated or damaged)")]
    Digest,
    #[error("record {index}: {why}")]
    Record { index: usize, why: String },
    #[error("it ends inside a record")]
    Short,
    #[error("it announces {0} bytes of records, more than an entry may hold")]
    TooLarge(u64),
    #[error("its index entries do not match their digest (truncated or damaged)")]
    Entries,
    #[error(transparent)]
    NotPrivate(#[from] crate::cache::NotPrivate),
}

/// What an entry's header says follows it.
///
/// The records come in two parts, each a count and that many records, decoded at once on two
/// threads; the records' digest is the sha256 of the two parts' sha256s, one after the other,
/// so each thread hashes only its own part.
#[derive(Debug)]
pub(crate) struct Header {
    records: Sha256,
    pub records_len: u64,
    /// Where the second part starts (the first part's length).
    split: u64,
    entries: Sha256,
    pub entries_len: u64,
}

impl Header {
    /// The digest the index entries (`entries_len` bytes after the records) must have.
    pub(crate) fn entries_digest(&self) -> &Sha256 {
        &self.entries
    }
}

/// The digest and length of the index entries that follow an entry's records.
pub(crate) type Entries = (Sha256, u64);

/// The header and records of the entry for `key` holding `records`: their `repo` is not kept;
/// their index entries' places are, less `base`, when `entries` (the digest and length of the
/// bytes that will follow the records) says they are kept.
pub fn encode(key: &ParsedKey<'_>, records: &[PackageRecord], entries: Option<Entries>, base: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write(key, records, entries, base, &mut out).expect("a Vec takes every write");
    out
}

/// [`encode`] written to `out` without holding the encoding in memory (bookworm's is 24 MB):
/// the records are encoded twice, once for the header's digests and lengths, once to write.
pub(crate) fn write(
    key: &ParsedKey<'_>,
    records: &[PackageRecord],
    entries: Option<Entries>,
    base: u64,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use sha2::Digest;
    let base = entries.is_some().then_some(base);
    let parts = records.split_at(records.len() / 2);
    let mut sums = [(Sha256::digest(b""), 0u64); 2];
    for (part, sum) in [parts.0, parts.1].into_iter().zip(&mut sums) {
        let (mut hasher, mut len) = (sha2::Sha256::new(), 0u64);
        encode_part(part, base, &mut |b| {
            hasher.update(b);
            len += b.len() as u64;
            Ok(())
        })?;
        *sum = (Sha256::from_bytes(hasher.finalize().into()), len);
    }
    out.write_all(&header(key, &joined(&sums[0].0, &sums[1].0), sums[0].1 + sums[1].1, sums[0].1, entries))?;
    encode_part(parts.0, base, &mut |b| out.write_all(b))?;
    encode_part(parts.1, base, &mut |b| out.write_all(b))
}

/// The records' digest: the sha256 of the two parts' sha256s.
fn joined(first: &Sha256, second: &Sha256) -> Sha256 {
    Sha256::digest(&[first.as_bytes().as_slice(), second.as_bytes()].concat())
}

/// One part's encoding (its count, then its records), handed to `emit` a piece at a time.
fn encode_part(
    records: &[PackageRecord],
    base: Option<u64>,
    emit: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut w = Writer(Vec::with_capacity(1 << 16));
    w.u64(records.len() as u64);
    for p in records {
        record(&mut w, p, base);
        if w.0.len() >= 1 << 16 {
            emit(&w.0)?;
            w.0.clear();
        }
    }
    emit(&w.0)
}

/// `body` (one part of records: a count and the records) as an entry for `key`, its second
/// part empty: the header that names the key and the digests, then the body. The fuzz harness
/// seals what it makes up, so that the records' decoding, past the digest, is what it explores.
pub fn seal(key: &ParsedKey<'_>, body: &[u8], entries: Option<Entries>) -> Vec<u8> {
    let digest = joined(&Sha256::digest(body), &Sha256::digest(b""));
    let mut out = header(key, &digest, body.len() as u64, body.len() as u64, entries);
    out.extend_from_slice(body);
    out
}

/// The header of an entry for `key` whose records have `digest` and `len`, their second part
/// starting at `split`.
fn header(key: &ParsedKey<'_>, digest: &Sha256, len: u64, split: u64, entries: Option<Entries>) -> Vec<u8> {
    let (entries, entries_len) = entries.unwrap_or((Sha256::digest(b""), 0));
    let mut out = Vec::with_capacity(HEADER_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(key.digest().as_bytes());
    out.extend_from_slice(digest.as_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&split.to_le_bytes());
    out.extend_from_slice(entries.as_bytes());
    out.extend_from_slice(&entries_len.to_le_bytes());
    out
}

/// The header of an entry, which must be made for `key` by this version.
pub(crate) fn read_header(key: &ParsedKey<'_>, bytes: &[u8; HEADER_BYTES]) -> Result<Header, ParsedError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(ParsedError::Header)?;
    let (version, rest) = rest.split_first_chunk::<4>().ok_or(ParsedError::Header)?;
    if u32::from_le_bytes(*version) != VERSION {
        return Err(ParsedError::Header);
    }
    let (k, rest) = rest.split_first_chunk::<32>().ok_or(ParsedError::Header)?;
    if k != key.digest().as_bytes() {
        return Err(ParsedError::Key);
    }
    let (records, rest) = rest.split_first_chunk::<32>().ok_or(ParsedError::Header)?;
    let (records_len, rest) = rest.split_first_chunk::<8>().ok_or(ParsedError::Header)?;
    let (split, rest) = rest.split_first_chunk::<8>().ok_or(ParsedError::Header)?;
    let (entries, rest) = rest.split_first_chunk::<32>().ok_or(ParsedError::Header)?;
    let (entries_len, _) = rest.split_first_chunk::<8>().ok_or(ParsedError::Header)?;
    let (records_len, split) = (u64::from_le_bytes(*records_len), u64::from_le_bytes(*split));
    if split > records_len {
        return Err(ParsedError::Header);
    }
    Ok(Header {
        records: Sha256::from_bytes(*records),
        records_len,
        split,
        entries: Sha256::from_bytes(*entries),
        entries_len: u64::from_le_bytes(*entries_len),
    })
}

/// The records of an entry made for `key` (its header and records, in memory; the index
/// entries, if any, are not read), each from repository `repo`.
pub fn decode(key: &ParsedKey<'_>, bytes: &[u8], repo: usize) -> Result<Vec<PackageRecord>, ParsedError> {
    let (head, rest) = bytes.split_first_chunk::<HEADER_BYTES>().ok_or(ParsedError::Header)?;
    let header = read_header(key, head)?;
    let body = usize::try_from(header.records_len).ok().and_then(|n| rest.get(..n)).ok_or(ParsedError::Digest)?;
    decode_records(&header, &Body::Bytes(body), repo)
}

/// Where an entry's records are read from: a file (the records starting at `start`), or memory.
pub(crate) enum Body<'a> {
    File { file: &'a std::fs::File, start: u64 },
    Bytes(&'a [u8]),
}

impl Body<'_> {
    /// A reader of `len` bytes from `at` in the records.
    fn reader(&self, at: u64, len: u64) -> Box<dyn std::io::Read + '_> {
        use std::io::Read;
        match self {
            Body::File { file, start } => Box::new(super::entries::ReadAt { file, pos: start + at }.take(len)),
            Body::Bytes(b) => {
                let from = usize::try_from(at).unwrap_or(usize::MAX).min(b.len());
                let to = usize::try_from(at.saturating_add(len)).unwrap_or(usize::MAX).min(b.len());
                Box::new(&b[from..to])
            }
        }
    }
}

/// The records an entry's `header` announces, read from `body`; each record's index entry must
/// lie within the entries the header announces.
///
/// The two parts are read, hashed and decoded at once, each on a thread of its own, a piece
/// at a time: no copy of the whole is held (bookworm's is 24 MB), and the records are returned
/// only when the digest of every byte read matches the header's (damaged bytes are reported as
/// damage, whatever the decoder made of them).
pub(crate) fn decode_records(header: &Header, body: &Body<'_>, repo: usize) -> Result<Vec<PackageRecord>, ParsedError> {
    let entries = header.entries_len;
    let second = header.records_len - header.split;
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| decode_part(body.reader(0, header.split), header.split, repo, entries));
        let second = decode_part(body.reader(header.split, second), second, repo, entries);
        (first.join().expect("decoding does not panic"), second)
    });
    let (Some(d1), Some(d2)) = (first.0, second.0) else { return Err(ParsedError::Digest) };
    if joined(&d1, &d2) != header.records {
        return Err(ParsedError::Digest);
    }
    let mut records = first.1?;
    let more = second.1.map_err(|e| match e {
        ParsedError::Record { index, why } => ParsedError::Record { index: records.len() + index, why },
        e => e,
    })?;
    if records.len() + more.len() > RECORDS {
        let why = format!("{} records, more than {RECORDS}", records.len() + more.len());
        return Err(ParsedError::Record { index: RECORDS, why });
    }
    records.reserve_exact(more.len());
    records.extend(more);
    Ok(records)
}

/// How much of a body is read at a time (small in tests, so that records span pieces). Under
/// malloc's mmap threshold, so a freed piece's memory serves the next one: 1 MiB pieces were
/// each fresh pages from the kernel (about 900 of a warm CentOS resolve's 6,200 page faults).
const PIECE: usize = if cfg!(test) { 4096 } else { 64 << 10 };

/// The bytes of one part as they are read and hashed: what is not decoded yet.
struct Pieces<'r> {
    from: Box<dyn std::io::Read + 'r>,
    hasher: sha2::Sha256,
    /// Bytes of the part not read yet.
    left: u64,
    /// The reader ended before the part did.
    cut: bool,
    buf: Vec<u8>,
    pos: usize,
}

impl Pieces<'_> {
    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
    /// Reads up to one piece more, hashing it; false when the part has no more.
    fn read_piece(&mut self, into: &mut Vec<u8>) -> bool {
        use sha2::Digest;
        use std::io::Read;
        let want = self.left.min(PIECE as u64) as usize;
        if want == 0 || self.cut {
            return false;
        }
        let at = into.len();
        into.resize(at + want, 0);
        if self.from.read_exact(&mut into[at..]).is_err() {
            into.truncate(at);
            self.cut = true;
            return false;
        }
        self.hasher.update(&into[at..]);
        self.left -= want as u64;
        true
    }
    /// At least doubles what is not decoded yet (so a record that spans many pieces is tried
    /// a logarithmic number of times); false when the part has no more.
    fn more(&mut self) -> bool {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let want = (self.buf.len() * 2).max(1);
        let mut buf = std::mem::take(&mut self.buf);
        while buf.len() < want && self.read_piece(&mut buf) {}
        self.buf = buf;
        self.buf.len() >= want
    }
    /// `decode` on what is not decoded yet, retried with more bytes while it runs short.
    fn next<T>(&mut self, mut decode: impl FnMut(&mut Reader<'_>) -> Result<T, Bad>) -> Result<T, Bad> {
        loop {
            let mut r = Reader(self.rest());
            let (decoded, left) = (decode(&mut r), r.0.len());
            match decoded {
                Err(Bad::Short) if self.more() => continue,
                Ok(t) => {
                    self.pos = self.buf.len() - left;
                    return Ok(t);
                }
                Err(e) => return Err(e),
            }
        }
    }
    /// The digest of the whole part, the rest read first; `None` when it ends early.
    fn digest(mut self) -> Option<Sha256> {
        use sha2::Digest;
        let mut scratch = Vec::with_capacity(PIECE);
        while self.read_piece(&mut scratch) {
            scratch.clear();
        }
        (self.left == 0).then(|| Sha256::from_bytes(self.hasher.finalize().into()))
    }
}

/// One part of `len` bytes read from `from`: its digest (`None` when it is cut short) and its
/// records. An empty part holds no records.
fn decode_part(
    from: Box<dyn std::io::Read + '_>,
    len: u64,
    repo: usize,
    entries_len: u64,
) -> (Option<Sha256>, Result<Vec<PackageRecord>, ParsedError>) {
    use sha2::Digest;
    let buf = Vec::with_capacity(2 * PIECE);
    let mut body = Pieces { from, hasher: sha2::Sha256::new(), left: len, cut: false, buf, pos: 0 };
    let records = if len == 0 { Ok(Vec::new()) } else { decode_pieces(&mut body, len, repo, entries_len) };
    (body.digest(), records)
}

/// The records of one part, as its pieces arrive; the caller checks the digest.
fn decode_pieces(
    body: &mut Pieces<'_>,
    len: u64,
    repo: usize,
    entries_len: u64,
) -> Result<Vec<PackageRecord>, ParsedError> {
    let count = body.next(|r| r.u64()).map_err(|_| ParsedError::Short)?;
    if count > RECORDS as u64 {
        return Err(ParsedError::Record { index: 0, why: format!("{count} records, more than {RECORDS}") });
    }
    // A record takes more than 64 bytes: a count the body cannot hold reserves nothing more.
    let mut out = Vec::with_capacity(count.min(len / 64) as usize);
    let mut spans = Vec::with_capacity(out.capacity());
    // The texts take fewer bytes than the part (their lengths are shorter than the part's):
    // one allocation, which never grows.
    let mut pool = TextPool::with_capacity(len.min(TEXT_HINT) as usize);
    for index in 0..count as usize {
        let (p, span) = body.next(|r| read_record(r, repo, entries_len, &mut pool)).map_err(|e| match e {
            Bad::Short => ParsedError::Short,
            Bad::Value(why) => ParsedError::Record { index, why },
        })?;
        out.push(p);
        spans.push(span);
    }
    if !body.rest().is_empty() || body.more() {
        return Err(ParsedError::Record { index: count as usize, why: "bytes after the last record".into() });
    }
    let texts = pool.share();
    out.iter_mut().zip(spans).for_each(|(p, span)| p.text = texts.text(span));
    Ok(out)
}

/// At most this much of a part's length is reserved for its texts at once (more grows).
const TEXT_HINT: u64 = 256 << 20;

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn u8(&mut self, n: u8) {
        self.0.push(n);
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    /// A dependency list as it is held: its entries joined by newlines.
    fn deps(&mut self, d: Deps<'_>) {
        self.str(d.as_joined());
    }
}

fn record(w: &mut Writer, p: &PackageRecord, base: Option<u64>) {
    w.str(p.name.as_str());
    match &p.version {
        Version::Rpm(v) => {
            w.u8(0);
            w.u64(v.epoch.into());
            w.str(v.version());
            w.opt(v.release());
        }
        Version::Deb(v) => {
            w.u8(1);
            w.str(&v.to_string());
        }
    }
    w.str(p.arch.as_str());
    w.str(p.location());
    w.u64(p.size);
    w.0.extend_from_slice(p.sha256.as_bytes());
    let lists = [p.provides(), p.requires(), p.pre_requires(), p.conflicts(), p.replaces(), p.files(), p.obsoletes()];
    let weak = [p.recommends(), p.suggests(), p.supplements(), p.enhances()];
    for d in lists.into_iter().chain(weak) {
        w.deps(d);
    }
    w.u8(match p.priority {
        None => 0,
        Some(Priority::Required) => 1,
        Some(Priority::Important) => 2,
        Some(Priority::Standard) => 3,
        Some(Priority::Optional) => 4,
        Some(Priority::Extra) => 5,
        Some(Priority::Other) => 6,
    });
    w.u8(u8::from(p.essential));
    w.u8(match p.multi_arch {
        MultiArch::No => 0,
        MultiArch::Same => 1,
        MultiArch::Foreign => 2,
        MultiArch::Allowed => 3,
    });
    w.opt(p.source_field());
    w.opt(p.source_rpm());
    w.opt(p.license());
    match (p.entry, base) {
        (Some(e), Some(base)) => {
            w.u8(1);
            w.u64(e.start - base);
            w.u64(e.len);
        }
        _ => w.u8(0),
    }
}

/// A record that could not be read: the entry ended, or a value failed its check.
enum Bad {
    Short,
    Value(String),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], Bad> {
        let n = usize::try_from(n).map_err(|_| Bad::Short)?;
        if n > self.0.len() {
            return Err(Bad::Short);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, Bad> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.take(1)?[0])
    }
    fn str(&mut self) -> Result<&'a str, Bad> {
        let n = self.u64()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| Bad::Value("a value is not UTF-8".into()))
    }
    fn opt(&mut self) -> Result<Option<&'a str>, Bad> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(Bad::Value("an optional value's tag is neither 0 nor 1".into())),
        }
    }
    /// A dependency list (its entries joined by newlines), checked as the parsers check one:
    /// an empty entry, a control character or too many entries are refused.
    fn deps(&mut self, field: &str) -> Result<&'a str, Bad> {
        let joined = self.str()?;
        DepList::check_joined(field, joined).map_err(Bad::Value)?;
        Ok(joined)
    }
    /// A line-like text value (no control character), as the parsers keep them.
    fn text(&mut self, what: &str) -> Result<Option<&'a str>, Bad> {
        match self.opt()? {
            Some(s) if !moa_model::types::is_line(s, 4096) => Err(Bad::Value(format!("its {what} is not one line"))),
            s => Ok(s),
        }
    }
}

/// One record, its text packed into `pool` (the record's own text is left empty: the caller
/// gives it the span once the pool is shared). Nothing is packed unless the whole record reads.
fn read_record(
    r: &mut Reader<'_>,
    repo: usize,
    entries_len: u64,
    pool: &mut TextPool,
) -> Result<(PackageRecord, PoolSpan), Bad> {
    let bad = |e: &dyn std::fmt::Display| Bad::Value(e.to_string());
    let name = PackageName::new(r.str()?).map_err(|e| bad(&e))?;
    let version = match r.u8()? {
        0 => {
            let epoch = r.u64()?;
            let (v, rel) = (r.str()?, r.opt()?);
            Version::Rpm(Evr::new(epoch, v, rel).map_err(|e| bad(&e))?)
        }
        1 => Version::Deb(r.str()?.parse::<DebVersion>().map_err(|e| bad(&e))?),
        t => return Err(Bad::Value(format!("version tag {t}"))),
    };
    let arch = Arch::new(r.str()?).map_err(|e| bad(&e))?;
    let location = r.str()?;
    if !moa_model::types::is_repo_path(location) {
        return Err(Bad::Value(format!("location `{}` is not a plain path", moa_model::types::shown(location))));
    }
    moa_model::types::safe_file_name(location.rsplit('/').next().unwrap_or("")).map_err(|e| bad(&e))?;
    let size = r.u64()?;
    let sha256 = Sha256::from_bytes(r.take(32)?.try_into().expect("32 bytes"));
    let mut lists = [""; LISTS.len()];
    for (list, field) in lists.iter_mut().zip(LISTS) {
        *list = r.deps(field)?;
    }
    let priority = match r.u8()? {
        0 => None,
        1 => Some(Priority::Required),
        2 => Some(Priority::Important),
        3 => Some(Priority::Standard),
        4 => Some(Priority::Optional),
        5 => Some(Priority::Extra),
        6 => Some(Priority::Other),
        t => return Err(Bad::Value(format!("priority tag {t}"))),
    };
    let essential = match r.u8()? {
        0 => false,
        1 => true,
        t => return Err(Bad::Value(format!("essential tag {t}"))),
    };
    let multi_arch = match r.u8()? {
        0 => MultiArch::No,
        1 => MultiArch::Same,
        2 => MultiArch::Foreign,
        3 => MultiArch::Allowed,
        t => return Err(Bad::Value(format!("multi-arch tag {t}"))),
    };
    let source = r.text("source")?;
    let source_rpm = r.text("source rpm")?;
    let license = r.text("license")?;
    let entry = match r.u8()? {
        0 => None,
        1 => {
            let (start, len) = (r.u64()?, r.u64()?);
            if start.checked_add(len).is_none_or(|end| end > entries_len) {
                return Err(Bad::Value(format!(
                    "its index entry ({start}+{len}) is outside the {entries_len} bytes kept"
                )));
            }
            Some(EntrySpan { start, len })
        }
        t => return Err(Bad::Value(format!("index entry tag {t}"))),
    };
    let span = pool.push(&TextParts { location, source, source_rpm, license, lists }).map_err(|e| bad(&e))?;
    let text = RecordText::default();
    Ok((PackageRecord { name, version, arch, repo, size, sha256, priority, essential, multi_arch, entry, text }, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    /// Records as the real parsers make them: a deb with every field apt keeps, and an rpm.
    fn records() -> Vec<PackageRecord> {
        let amd64 = Arch::new("amd64").unwrap();
        let deb = "Package: ntp\nVersion: 1:4.2.8p4+dfsg-3ubuntu5.9\nArchitecture: amd64\nPre-Depends: dpkg (>= 1.15.7.2)\nDepends: adduser, lsb-base (>= 3.2-13) | sysvinit\nBreaks: dhcp3-client (<< 4.1.0-1)\nReplaces: ntp-doc\nProvides: time-daemon\nPriority: optional\nMulti-Arch: foreign\nEssential: yes\nSource: ntp (1:4.2.8p4+dfsg-3)\nFilename: pool/main/n/ntp/ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb\nSize: 518548\nSHA256: 2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e\n";
        let mut out = Vec::new();
        super::super::apt::parse_packages(Box::new(deb.as_bytes()), "u", 3, &amd64, &mut out).unwrap();
        let xml = r#"<metadata packages="1"><package type="rpm"><name>ntp</name><arch>x86_64</arch><version epoch="1" ver="4.2.6p5" rel="29.el7"/><checksum type="sha256">17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421</checksum><size package="561812"/><location href="Packages/ntp-4.2.6p5-29.el7.x86_64.rpm"/><format><rpm:license>(MIT and BSD)</rpm:license><rpm:sourcerpm>ntp-4.2.6p5-29.el7.src.rpm</rpm:sourcerpm><rpm:provides><rpm:entry name="ntp" flags="EQ" epoch="1" ver="4.2.6p5" rel="29.el7"/></rpm:provides><rpm:requires><rpm:entry name="/bin/sh" pre="1"/><rpm:entry name="libc.so.6()(64bit)"/></rpm:requires><rpm:obsoletes><rpm:entry name="xntp"/></rpm:obsoletes><rpm:conflicts><rpm:entry name="chrony"/></rpm:conflicts><rpm:recommends><rpm:entry name="ntpdate"/></rpm:recommends><rpm:suggests><rpm:entry name="ntp-doc"/></rpm:suggests><rpm:supplements><rpm:entry name="(ntp-perl and perl)"/></rpm:supplements><rpm:enhances><rpm:entry name="chronyd"/></rpm:enhances><file>/usr/sbin/ntpd</file></format></package></metadata>"#;
        let x86 = Arch::new("x86_64").unwrap();
        super::super::yum::parse_primary(Box::new(xml.as_bytes()), "u", 3, &x86, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        out
    }

    fn key(index: &Sha256) -> ParsedKey<'_> {
        static ARCH: std::sync::OnceLock<Arch> = std::sync::OnceLock::new();
        ParsedKey { format: "apt-packages", arch: ARCH.get_or_init(|| Arch::new("amd64").unwrap()), index }
    }

    #[test]
    fn an_entry_written_in_pieces_is_the_entry_encoded_at_once() {
        let index = Sha256::digest(b"index");
        let mut made = records();
        made.iter_mut().for_each(|r| r.entry = Some(EntrySpan { start: 1000, len: 10 }));
        // More than one piece: the records outgrow the 64 KiB buffer.
        let many: Vec<PackageRecord> = made.iter().cycle().take(2000).cloned().collect();
        for entries in [None, Some((Sha256::digest(b"entries"), 10))] {
            let mut written = Vec::new();
            write(&key(&index), &many, entries, 1000, &mut written).unwrap();
            assert_eq!(written, encode(&key(&index), &many, entries, 1000));
            assert!(written.len() > 1 << 17);
            // Read back in 4 KiB pieces: records span them.
            let back = decode(&key(&index), &written, 0).unwrap();
            // Places are relative to the index entries, which start at `base`.
            let entry = entries.map(|_| EntrySpan { start: 0, len: 10 });
            let want: Vec<PackageRecord> = many.iter().map(|r| PackageRecord { repo: 0, entry, ..r.clone() }).collect();
            assert_eq!(format!("{back:?}"), format!("{want:?}"));
        }
    }

    #[test]
    fn records_read_back_as_the_parser_made_them() {
        let index = Sha256::from_hex(INDEX).unwrap();
        let made = records();
        let back = decode(&key(&index), &encode(&key(&index), &made, None, 0), 3).unwrap();
        assert_eq!(format!("{back:?}"), format!("{made:?}"));
        // What the rpm fields hold survives too (not only what Debug shows of them).
        assert_eq!(back[1].license(), Some("(MIT and BSD)"));
        assert_eq!(back[1].obsoletes().to_vec(), vec!["xntp"]);
        let weak = [back[1].recommends(), back[1].suggests(), back[1].supplements(), back[1].enhances()];
        assert_eq!(weak.map(|d| d.to_vec().join(",")), ["ntpdate", "ntp-doc", "(ntp-perl and perl)", "chronyd"]);
        assert!(back[0].essential && back[0].multi_arch == MultiArch::Foreign);
    }

    /// Every way an entry can be wrong is refused, never read as records: another key (another
    /// index, or a file swapped with another's), another version, a truncated or flipped byte.
    #[test]
    fn an_entry_of_another_index_version_or_damaged_is_refused() {
        let index = Sha256::from_hex(INDEX).unwrap();
        let good = encode(&key(&index), &records(), None, 0);
        let other = Sha256::digest(b"another index");
        assert!(matches!(decode(&key(&other), &good, 0), Err(ParsedError::Key)));
        let mut version = good.clone();
        version[MAGIC.len()] ^= 1;
        assert!(matches!(decode(&key(&index), &version, 0), Err(ParsedError::Header)));
        for cut in [0, 10, MAGIC.len() + 40, good.len() - 1] {
            assert!(decode(&key(&index), &good[..cut], 0).is_err(), "cut at {cut}");
        }
        for at in [HEADER_BYTES, HEADER_BYTES + 8, good.len() / 2, good.len() - 1] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x20;
            assert!(matches!(decode(&key(&index), &flipped, 0), Err(ParsedError::Digest)), "byte {at}");
        }
    }

    /// An entry whose digest matches but whose records do not pass the parsers' checks (as a
    /// hostile cache could write one) is refused naming the record.
    #[test]
    fn a_consistent_entry_with_a_bad_record_is_refused() {
        let index = Sha256::from_hex(INDEX).unwrap();
        let mut made = records();
        let good = encode(&key(&index), &made, None, 0);
        // The same entry with the first name spelled `../ntp` and the digests made to match.
        let mut body = good[HEADER_BYTES..].to_vec();
        let rel = body.windows(3).position(|w| w == b"ntp").unwrap();
        body[rel - 8..rel].copy_from_slice(&6u64.to_le_bytes());
        body.splice(rel..rel, b"../".iter().copied());
        let e = decode(&key(&index), &seal(&key(&index), &body, None), 0).unwrap_err().to_string();
        assert!(e.contains("record 0") && e.contains("../ntp"), "{e}");
        // A dependency with a newline would split into two: refused like a parser refuses it.
        made[0].edit(|f| f.requires = DepList::unchecked("a\u{7}b"));
        let e = decode(&key(&index), &encode(&key(&index), &made, None, 0), 0).unwrap_err().to_string();
        assert!(e.contains("record 0") && e.contains("control character"), "{e}");
        // Lists are kept joined by newlines: an empty entry between two is refused too.
        made[0].edit(|f| f.requires = DepList::unchecked("a\n\nb"));
        let e = decode(&key(&index), &encode(&key(&index), &made, None, 0), 0).unwrap_err().to_string();
        assert!(e.contains("record 0") && e.contains("empty"), "{e}");
    }

    /// Kept index entries: each record's place is stored relative to the index's own entries
    /// (less `base`, where they began in the build's store) and must lie within them.
    #[test]
    fn index_entries_are_placed_relative_to_the_index_and_bounded() {
        let index = Sha256::from_hex(INDEX).unwrap();
        let mut made = records();
        made[0].entry = Some(EntrySpan { start: 1000, len: 40 });
        made[1].entry = Some(EntrySpan { start: 1040, len: 60 });
        let kept = (Sha256::digest(b"the index entries"), 100);
        let entry = encode(&key(&index), &made, Some(kept), 1000);
        let back = decode(&key(&index), &entry, 0).unwrap();
        assert_eq!(back[0].entry, Some(EntrySpan { start: 0, len: 40 }));
        assert_eq!(back[1].entry, Some(EntrySpan { start: 40, len: 60 }));
        let (head, _) = entry.split_first_chunk::<HEADER_BYTES>().unwrap();
        let h = read_header(&key(&index), head).unwrap();
        assert_eq!((h.entries_digest(), h.entries_len), (&kept.0, 100));
        // Announcing fewer bytes than a record's entry needs: refused, naming the record.
        let short = encode(&key(&index), &made, Some((kept.0, 99)), 1000);
        let e = decode(&key(&index), &short, 0).unwrap_err().to_string();
        assert!(e.contains("record 1") && e.contains("outside"), "{e}");
    }

    /// The records come in two parts, read on two threads: each part's bytes are covered by the
    /// digest, their order too, and where the second starts is bounded by the records' length.
    #[test]
    fn both_parts_are_checked_in_their_order() {
        let index = Sha256::from_hex(INDEX).unwrap();
        let made: Vec<PackageRecord> = records().iter().cycle().take(9).cloned().collect();
        let good = encode(&key(&index), &made, None, 0);
        let (head, body) = good.split_first_chunk::<HEADER_BYTES>().unwrap();
        let h = read_header(&key(&index), head).unwrap();
        assert!(h.split > 0 && h.split < h.records_len, "two parts: {h:?}");
        assert_eq!(decode(&key(&index), &good, 0).unwrap().len(), 9);
        // The parts swapped, the header kept: another digest.
        let split = h.split as usize;
        let swapped = [head.as_slice(), &body[split..], &body[..split]].concat();
        assert!(matches!(decode(&key(&index), &swapped, 0), Err(ParsedError::Digest)));
        // The split moved by one byte: each part's digest changes.
        let at = MAGIC.len() + 4 + 32 + 32 + 8;
        let mut moved = good.clone();
        moved[at..at + 8].copy_from_slice(&(h.split + 1).to_le_bytes());
        assert!(matches!(decode(&key(&index), &moved, 0), Err(ParsedError::Digest)));
        // A split past the records' end is no header of this format.
        moved[at..at + 8].copy_from_slice(&(h.records_len + 1).to_le_bytes());
        assert!(matches!(decode(&key(&index), &moved, 0), Err(ParsedError::Header)));
        // A byte of the second part flipped.
        let mut flipped = good.clone();
        flipped[HEADER_BYTES + split + 20] ^= 0x20;
        assert!(matches!(decode(&key(&index), &flipped, 0), Err(ParsedError::Digest)));
    }
}
