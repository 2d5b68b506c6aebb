//! One package as a repository describes it: [`PackageRecord`], kept small because a resolve
//! holds every record of every index it reads (bookworm's main amd64 index alone: 63,440).
//!
//! The typed fields the resolver compares (name, version, arch) are values of their own; the
//! fifteen text fields (location, source, the dependency lists, files…) live in one allocation,
//! [`RecordText`], which opens with each field's length. As fifteen separate strings they cost a
//! pointer pair, a length and an allocation each: about 40% of a resolve's memory went to that.
//! A parser fills a [`RecordFields`] and packs it once.

use std::sync::Arc;

use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::Version;
use serde::Serialize;

use super::{DepList, Deps, EntrySpan};

/// One package as a repository describes it.
#[derive(Debug, Clone)]
pub struct PackageRecord {
    pub name: PackageName,
    pub version: Version,
    pub arch: Arch,
    /// Index of the repository in [`super::Metadata::repos`].
    pub repo: usize,
    pub size: u64,
    pub sha256: Sha256,
    /// deb: `Priority`.
    pub priority: Option<Priority>,
    /// deb: `Essential: yes`.
    pub essential: bool,
    /// deb: `Multi-Arch`. Only `allowed` matters to a single-arch node: it is what `pkg:any` needs.
    pub multi_arch: MultiArch,
    /// Where the package's entry in the repository's index, as published (yum: its
    /// `<package>` element, byte for byte; apt: its stanza), sits in `LoadedRepo::entries`:
    /// kept only when `MetadataSource::keep_entries` asks, for a bundle that is a repository.
    pub entry: Option<EntrySpan>,
    /// The text fields, read through the accessors below ([`PackageRecord::location`]…).
    pub text: RecordText,
}

/// A record's text fields as separate values: what a parser fills, then packs into the
/// record's [`RecordText`] with [`RecordFields::pack`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFields {
    /// Path of the package file relative to the repository's root under a mirror.
    pub location: String,
    /// deb: `Source` as written (`perl (5.36.0-7+deb12u4)`, `openssl`); absent when the source
    /// package has the binary's name and version. See [`PackageRecord::source`].
    pub source: Option<String>,
    /// rpm: the source rpm's file name (`ntp-4.2.6p5-29.el7.centos.2.src.rpm`), for the SBOM.
    pub source_rpm: Option<Box<str>>,
    /// rpm: `License` as the packager wrote it (often not an SPDX expression), for the SBOM.
    pub license: Option<Box<str>>,
    /// Raw capability strings this package provides (its own name is implied).
    pub provides: DepList,
    /// Raw requirements (rpm: one capability each; deb: one `a | b` group each), pre-requirements included.
    pub requires: DepList,
    /// Raw pre-requirements (rpm `Requires(pre)`, deb `Pre-Depends`): also in `requires`.
    pub pre_requires: DepList,
    /// Raw conflicts (deb: Conflicts and Breaks).
    pub conflicts: DepList,
    /// deb: `Replaces`. A conflicting installed package that this one replaces is removed by
    /// dpkg when this one is installed, so that conflict is a removal, not an error.
    pub replaces: DepList,
    /// rpm: paths the package owns, as listed in primary (a subset for big packages).
    pub files: DepList,
    /// rpm: `Obsoletes` (matched against package names only, as rpm does).
    pub obsoletes: DepList,
    /// rpm: weak dependencies (`Recommends`, `Suggests`, `Supplements`, `Enhances`). Never
    /// installed by themselves (moa-bundle packs no weak dependency, as dnf with
    /// `install_weak_deps=0`), but they order providers as libsolv orders them.
    pub recommends: DepList,
    pub suggests: DepList,
    pub supplements: DepList,
    pub enhances: DepList,
}

/// The fields of a [`RecordText`], in the order it holds them.
#[derive(Clone, Copy)]
enum Field {
    Location,
    Source,
    SourceRpm,
    License,
    Provides,
    Requires,
    PreRequires,
    Conflicts,
    Replaces,
    Files,
    Obsoletes,
    Recommends,
    Suggests,
    Supplements,
    Enhances,
}
const FIELDS: usize = 15;

/// A record's text fields in one allocation: a short header, then the fields one after another.
///
/// The header is which optional fields are present (one byte), the header's own length (one
/// byte), then each field's length as a base-64 varint: six bits a byte, `0x40` set while more
/// follow. Every header byte is below `0x80`, so the whole stays one valid `str`, and a field is
/// a plain slice of it; reading field `i` walks `i + 1` lengths. On bookworm the header takes
/// about 18 bytes (14 before the four weak lists, measured over its 63,440 records) where an array of fifteen ends would take 60.
///
/// A parser's record owns its text; the records a parsed-index part holds share one buffer
/// ([`TextPool`]): CentOS 7's 7,804 texts as separate allocations made glibc grow each decoding
/// thread's arena a page at a time, 1,073 `mprotect` calls that stalled the other thread.
#[derive(Clone, Default)]
pub struct RecordText {
    store: Store,
}

#[derive(Clone)]
enum Store {
    Own(Box<str>),
    /// `len` bytes from `start` in a buffer records share.
    Shared {
        all: Arc<String>,
        start: u32,
        len: u32,
    },
}

impl Default for Store {
    fn default() -> Self {
        Store::Own(Box::default())
    }
}

impl PartialEq for RecordText {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for RecordText {}

/// A header byte: six bits of a length, and whether another byte of it follows.
const MORE: u8 = 0x40;

/// Appends `n` to `out` as a header varint.
fn put_len(out: &mut String, mut n: usize) {
    loop {
        let low = (n & 0x3f) as u8;
        n >>= 6;
        let byte = if n == 0 { low } else { low | MORE };
        out.push(char::from(byte));
        if n == 0 {
            return;
        }
    }
}

/// The fields of one record hold more than 4 GiB of text (more than an index may hold).
#[derive(Debug, thiserror::Error)]
#[error("its text fields hold more than 4 GiB")]
pub struct TextTooLarge;

impl RecordFields {
    /// The fields in one allocation.
    pub fn pack(&self) -> Result<RecordText, TextTooLarge> {
        RecordText::from_parts(self.parts())
    }
}

/// A record's text fields, borrowed (as the parsed-index cache reads them), already checked;
/// `lists` are the dependency lists joined by newlines, in [`RecordFields`]' order.
#[derive(Clone, Copy)]
pub(crate) struct TextParts<'a> {
    pub location: &'a str,
    pub source: Option<&'a str>,
    pub source_rpm: Option<&'a str>,
    pub license: Option<&'a str>,
    pub lists: [&'a str; 11],
}

/// Appends the text of the fields `p` to `out`: the header, then the fields.
fn pack_into(out: &mut String, p: &TextParts<'_>) -> Result<(), TextTooLarge> {
    let optional = [p.source, p.source_rpm, p.license];
    let mut parts = [""; FIELDS];
    parts[0] = p.location;
    for (i, o) in optional.iter().enumerate() {
        parts[1 + i] = o.unwrap_or("");
    }
    parts[4..].copy_from_slice(&p.lists);
    let total: usize = parts.iter().map(|s| s.len()).sum();
    if total > u32::MAX as usize {
        return Err(TextTooLarge);
    }
    let present = optional.iter().enumerate().fold(0u8, |bits, (i, o)| bits | u8::from(o.is_some()) << (1 + i));
    let begin = out.len();
    out.reserve(total + 2 * FIELDS + 2);
    out.push(char::from(present));
    out.push('\0');
    for s in parts {
        put_len(out, s.len());
    }
    // At most 2 + 15 × 6 bytes: below 0x80, one ASCII byte.
    let header = u8::try_from(out.len() - begin).expect("a header is under 128 bytes");
    out.replace_range(begin + 1..begin + 2, char::from(header).encode_utf8(&mut [0; 4]));
    for s in parts {
        out.push_str(s);
    }
    Ok(())
}

/// Record texts packed one after another in one buffer, as a parsed-index part is decoded:
/// one allocation for thousands of records, shared by them once [`TextPool::share`]d.
pub(crate) struct TextPool {
    text: String,
}

/// Where one record's text lies in a [`TextPool`].
#[derive(Clone, Copy)]
pub(crate) struct PoolSpan {
    start: u32,
    len: u32,
}

impl TextPool {
    /// A pool that holds `bytes` of text before it grows.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self { text: String::with_capacity(bytes) }
    }
    /// Packs the fields `p` into the pool; a pool holds at most 4 GiB.
    pub(crate) fn push(&mut self, p: &TextParts<'_>) -> Result<PoolSpan, TextTooLarge> {
        let start = self.text.len();
        pack_into(&mut self.text, p)?;
        let end = u32::try_from(self.text.len()).map_err(|_| TextTooLarge)?;
        Ok(PoolSpan { start: start as u32, len: end - start as u32 })
    }
    /// The pool as the records' shared text: [`SharedTexts::text`] gives each its own.
    pub(crate) fn share(self) -> SharedTexts {
        SharedTexts(Arc::new(self.text))
    }
}

/// A [`TextPool`]'s texts, shared by the records packed into it.
pub(crate) struct SharedTexts(Arc<String>);

impl SharedTexts {
    /// The text at `span` of this pool (a span [`TextPool::push`] gave).
    pub(crate) fn text(&self, span: PoolSpan) -> RecordText {
        RecordText { store: Store::Shared { all: Arc::clone(&self.0), start: span.start, len: span.len } }
    }
}

/// Packs the texts of the records a parser makes into shared pools of about [`CHUNK`] bytes,
/// as [`TextPool`] does for a parsed-index part: bookworm's 63,440 texts as separate
/// allocations grew the parsing thread's arena a page at a time (3,919 `mprotect` calls).
#[derive(Default)]
pub(crate) struct TextPacker {
    pool: Option<TextPool>,
    /// The records (by their place in the parser's output) whose texts the pool holds.
    pending: Vec<(usize, PoolSpan)>,
}

/// The size of a parser's text pools.
const CHUNK: usize = 1 << 20;

impl TextPacker {
    /// Pushes `record` to `out`, its text the fields `parts`: packed into the current pool
    /// (a text larger than a pool gets its own allocation). Nothing is pushed on an error.
    pub(crate) fn push(
        &mut self,
        out: &mut Vec<PackageRecord>,
        mut record: PackageRecord,
        parts: &TextParts<'_>,
    ) -> Result<(), TextTooLarge> {
        let needed = parts.len() + 2 + 6 * FIELDS;
        if needed > CHUNK / 4 {
            record.text = RecordText::from_parts(*parts)?;
            out.push(record);
            return Ok(());
        }
        if self.pool.as_ref().is_some_and(|p| p.text.capacity() - p.text.len() < needed) {
            self.settle(out);
        }
        let pool = self.pool.get_or_insert_with(|| TextPool::with_capacity(CHUNK));
        let span = pool.push(parts)?;
        self.pending.push((out.len(), span));
        record.text = RecordText::default();
        out.push(record);
        Ok(())
    }
    /// Gives the records pushed since the last call their texts: called when a pool is full,
    /// and by the parser once it has pushed its last record.
    pub(crate) fn settle(&mut self, out: &mut [PackageRecord]) {
        let Some(pool) = self.pool.take() else { return };
        let texts = pool.share();
        for (at, span) in self.pending.drain(..) {
            out[at].text = texts.text(span);
        }
    }
}

impl TextParts<'_> {
    /// The bytes of the fields together.
    fn len(&self) -> usize {
        self.location.len()
            + [self.source, self.source_rpm, self.license].iter().map(|o| o.map_or(0, str::len)).sum::<usize>()
            + self.lists.iter().map(|l| l.len()).sum::<usize>()
    }
}

impl RecordFields {
    /// The fields, borrowed, as [`TextPacker::push`] takes them.
    pub(crate) fn parts(&self) -> TextParts<'_> {
        TextParts {
            location: &self.location,
            source: self.source.as_deref(),
            source_rpm: self.source_rpm.as_deref(),
            license: self.license.as_deref(),
            lists: [
                self.provides.as_joined(),
                self.requires.as_joined(),
                self.pre_requires.as_joined(),
                self.conflicts.as_joined(),
                self.replaces.as_joined(),
                self.files.as_joined(),
                self.obsoletes.as_joined(),
                self.recommends.as_joined(),
                self.suggests.as_joined(),
                self.supplements.as_joined(),
                self.enhances.as_joined(),
            ],
        }
    }
}

impl RecordText {
    /// The fields in one allocation.
    pub(crate) fn from_parts(p: TextParts<'_>) -> Result<Self, TextTooLarge> {
        let mut text = String::new();
        pack_into(&mut text, &p)?;
        Ok(Self { store: Store::Own(text.into_boxed_str()) })
    }
    /// The packed text: the header, then the fields.
    fn text(&self) -> &str {
        match &self.store {
            Store::Own(text) => text,
            Store::Shared { all, start, len } => &all[*start as usize..(*start + *len) as usize],
        }
    }
    /// Where field `f` starts and ends in `text`, read off the header.
    fn span(&self, f: Field) -> (usize, usize) {
        let bytes = self.text().as_bytes();
        let mut at = 2;
        let mut next = || {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let b = bytes.get(at).copied().unwrap_or(0);
                at += 1;
                n |= usize::from(b & 0x3f) << shift;
                shift += 6;
                if b & MORE == 0 {
                    return n;
                }
            }
        };
        let before: usize = (0..f as usize).map(|_| next()).sum();
        let start = usize::from(bytes[1]) + before;
        (start, start + next())
    }
    fn get(&self, f: Field) -> &str {
        let text = self.text();
        if text.is_empty() {
            return "";
        }
        let (start, end) = self.span(f);
        &text[start..end]
    }
    fn optional(&self, f: Field) -> Option<&str> {
        let present = self.text().as_bytes().first().copied().unwrap_or(0);
        (present & (1 << f as u8) != 0).then(|| self.get(f))
    }
    fn deps(&self, f: Field) -> Deps<'_> {
        Deps::new(self.get(f))
    }

    /// The fields as separate values again.
    pub fn unpack(&self) -> RecordFields {
        let list = |f| DepList::from_joined(self.get(f));
        RecordFields {
            location: self.get(Field::Location).to_string(),
            source: self.optional(Field::Source).map(str::to_string),
            source_rpm: self.optional(Field::SourceRpm).map(Into::into),
            license: self.optional(Field::License).map(Into::into),
            provides: list(Field::Provides),
            requires: list(Field::Requires),
            pre_requires: list(Field::PreRequires),
            conflicts: list(Field::Conflicts),
            replaces: list(Field::Replaces),
            files: list(Field::Files),
            obsoletes: list(Field::Obsoletes),
            recommends: list(Field::Recommends),
            suggests: list(Field::Suggests),
            supplements: list(Field::Supplements),
            enhances: list(Field::Enhances),
        }
    }
}

impl std::fmt::Debug for RecordText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.unpack().fmt(f)
    }
}

/// Debian's `Priority` field (one byte, not a string per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Required,
    Important,
    Standard,
    Optional,
    Extra,
    /// Anything else (not one a manifest's base can name).
    Other,
}

impl Priority {
    pub fn parse(s: &str) -> Self {
        match s {
            "required" => Self::Required,
            "important" => Self::Important,
            "standard" => Self::Standard,
            "optional" => Self::Optional,
            "extra" => Self::Extra,
            _ => Self::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Important => "important",
            Self::Standard => "standard",
            Self::Optional => "optional",
            Self::Extra => "extra",
            Self::Other => "other",
        }
    }
}

/// Debian's `Multi-Arch` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

impl MultiArch {
    pub fn parse(s: &str) -> Self {
        match s {
            "same" => Self::Same,
            "foreign" => Self::Foreign,
            "allowed" => Self::Allowed,
            _ => Self::No,
        }
    }
}

impl PackageRecord {
    /// Path of the package file relative to the repository's root under a mirror.
    pub fn location(&self) -> &str {
        self.text.get(Field::Location)
    }
    /// deb: `Source` as written (`perl (5.36.0-7+deb12u4)`); absent when the source package
    /// has the binary's name and version. Read it through [`PackageRecord::source`].
    pub fn source_field(&self) -> Option<&str> {
        self.text.optional(Field::Source)
    }
    /// rpm: the source rpm's file name, for the SBOM.
    pub fn source_rpm(&self) -> Option<&str> {
        self.text.optional(Field::SourceRpm)
    }
    /// rpm: `License` as the packager wrote it, for the SBOM.
    pub fn license(&self) -> Option<&str> {
        self.text.optional(Field::License)
    }
    /// Raw capability strings this package provides (its own name is implied).
    pub fn provides(&self) -> Deps<'_> {
        self.text.deps(Field::Provides)
    }
    /// Raw requirements (rpm: one capability each; deb: one `a | b` group each), pre-requirements included.
    pub fn requires(&self) -> Deps<'_> {
        self.text.deps(Field::Requires)
    }
    /// Raw pre-requirements (rpm `Requires(pre)`, deb `Pre-Depends`): also in `requires`.
    pub fn pre_requires(&self) -> Deps<'_> {
        self.text.deps(Field::PreRequires)
    }
    /// Raw conflicts (deb: Conflicts and Breaks).
    pub fn conflicts(&self) -> Deps<'_> {
        self.text.deps(Field::Conflicts)
    }
    /// deb: `Replaces`: a conflicting installed package this one replaces is removed by dpkg.
    pub fn replaces(&self) -> Deps<'_> {
        self.text.deps(Field::Replaces)
    }
    /// rpm: paths the package owns, as listed in primary (a subset for big packages).
    pub fn files(&self) -> Deps<'_> {
        self.text.deps(Field::Files)
    }
    /// rpm: `Obsoletes` (matched against package names only, as rpm does).
    pub fn obsoletes(&self) -> Deps<'_> {
        self.text.deps(Field::Obsoletes)
    }
    /// rpm: `Recommends` (weak; see [`RecordFields::recommends`]).
    pub fn recommends(&self) -> Deps<'_> {
        self.text.deps(Field::Recommends)
    }
    /// rpm: `Suggests` (weak).
    pub fn suggests(&self) -> Deps<'_> {
        self.text.deps(Field::Suggests)
    }
    /// rpm: `Supplements` (weak, reverse: this package is wanted where what it names is).
    pub fn supplements(&self) -> Deps<'_> {
        self.text.deps(Field::Supplements)
    }
    /// rpm: `Enhances` (weak, reverse).
    pub fn enhances(&self) -> Deps<'_> {
        self.text.deps(Field::Enhances)
    }

    /// Changes text fields (a test building a variant of a record).
    #[cfg(test)]
    pub(crate) fn edit(&mut self, change: impl FnOnce(&mut RecordFields)) {
        let mut fields = self.text.unpack();
        change(&mut fields);
        self.text = fields.pack().expect("a test's record is small");
    }

    /// The source package it was built from and that source's version: apt upgrades installed
    /// binaries of the same source along with a new one.
    pub fn source(&self) -> (&str, String) {
        match self.source_field() {
            None => (self.name.as_str(), self.version.to_string()),
            Some(s) => match s.split_once(" (") {
                Some((n, v)) => (n.trim(), v.trim_end_matches(')').trim().to_string()),
                None => (s.trim(), self.version.to_string()),
            },
        }
    }

    /// `name-version.arch`, as messages name a package.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.version, self.arch)
    }

    /// The file name the package has in a bundle: the last component of its location.
    pub fn file_name(&self) -> &str {
        self.location().rsplit('/').next().unwrap_or(self.location())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field comes back as it went in, across the header's one-, two- and three-byte
    /// lengths, and an absent optional field stays apart from an empty present one.
    #[test]
    fn packed_fields_read_back_as_given() {
        for len in [0usize, 1, 63, 64, 4095, 4096, 70_000] {
            let long = "x".repeat(len);
            let fields = RecordFields {
                location: format!("pool/main/{long}.deb"),
                source: Some(String::new()),
                source_rpm: None,
                license: Some(long.clone().into()),
                provides: DepList::from_joined(&long),
                requires: DepList::from_joined("a\nb (>= 1)"),
                files: DepList::from_joined(&format!("/usr/{long}")),
                ..RecordFields::default()
            };
            let text = fields.pack().expect("small");
            assert_eq!(text.unpack(), fields, "len {len}");
            assert!(text.text().bytes().take_while(|&b| b < 0x80).count() > FIELDS, "an ASCII header");
        }
        let empty = RecordText::default();
        assert_eq!(empty.get(Field::Files), "");
        assert_eq!(empty.optional(Field::Source), None);
    }

    /// Texts packed into one pool each read back as their own fields, equal to the same
    /// fields packed alone.
    #[test]
    fn pooled_texts_read_back_each_as_given() {
        let sets: Vec<RecordFields> = (0..5)
            .map(|i| RecordFields {
                location: format!("Packages/p{i}.rpm"),
                source: (i % 2 == 0).then(|| format!("src{i}")),
                license: Some("x".repeat(i * 40).into()),
                provides: DepList::from_joined(&format!("p{i}\ncap{i} = 1")),
                files: DepList::from_joined("/usr/f\n".repeat(i * 30 + 1).trim_end()),
                suggests: DepList::from_joined("s\n".repeat(i).trim_end()),
                enhances: DepList::from_joined(&format!("e{i}")),
                ..RecordFields::default()
            })
            .collect();
        let mut pool = TextPool::with_capacity(16);
        let spans: Vec<PoolSpan> = sets.iter().map(|f| pool.push(&f.parts()).expect("small")).collect();
        let shared = pool.share();
        for (f, span) in sets.iter().zip(spans) {
            let text = shared.text(span);
            assert_eq!(text.unpack(), *f);
            assert!(text == f.pack().expect("small"), "a pooled text equals the text packed alone");
        }
    }

    /// A parser's records get their texts from pools that fill and are shared in turn, a text
    /// too large for a pool its own; each record reads back its own fields.
    #[test]
    fn a_parsers_records_keep_their_texts_across_pools() {
        let fields = |i: usize| RecordFields {
            location: format!("pool/p{i}.deb"),
            provides: DepList::from_joined(&format!("cap{i}")),
            files: DepList::from_joined(&"f".repeat(if i == 700 { CHUNK } else { 900 + i % 50 })),
            ..RecordFields::default()
        };
        let record = |i: usize| PackageRecord {
            name: PackageName::new(&format!("p{i}")).unwrap(),
            version: Version::Deb("1".parse().unwrap()),
            arch: Arch::new("amd64").unwrap(),
            repo: 0,
            size: 1,
            sha256: Sha256::digest(b""),
            priority: None,
            essential: false,
            multi_arch: MultiArch::No,
            entry: None,
            text: RecordText::default(),
        };
        // A record before the parser's own, as when a second index appends to the first's.
        let mut out = vec![record(9999)];
        let mut packer = TextPacker::default();
        for i in 0..3000 {
            packer.push(&mut out, record(i), &fields(i).parts()).unwrap();
        }
        packer.settle(&mut out);
        assert_eq!(out[0].text, RecordText::default());
        for (i, p) in out[1..].iter().enumerate() {
            assert_eq!(p.text.unpack(), fields(i), "record {i}");
        }
        let pools: std::collections::HashSet<*const String> = out[1..]
            .iter()
            .filter_map(|p| match &p.text.store {
                Store::Shared { all, .. } => Some(Arc::as_ptr(all)),
                Store::Own(_) => None,
            })
            .collect();
        assert!(pools.len() >= 3, "3 MB of texts in 1 MiB pools: {} pools", pools.len());
        assert!(matches!(out[701].text.store, Store::Own(_)), "a text larger than a pool is its own");
    }

    #[test]
    fn an_empty_text_has_empty_fields() {
        let empty = RecordText::default();
        assert_eq!(empty.get(Field::Files), "");
        assert_eq!(empty.optional(Field::Source), None);
    }
}
