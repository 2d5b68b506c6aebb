//! Parsing `primary.xml` streaming (the CentOS 7 base primary is 28 MB of XML) into records,
//! each package's text fields packed as they are made.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{attr, installs_on, malformed, value};
use crate::repo::{PackageRecord, RecordFields, RepoError};
use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::{Evr, Version};

#[derive(Default)]
struct Builder {
    name: String,
    arch: String,
    epoch: u64,
    ver: String,
    rel: Option<String>,
    checksum_type: String,
    checksum: String,
    size: u64,
    location: String,
    provides: Vec<String>,
    requires: Vec<String>,
    pre: Vec<String>,
    conflicts: Vec<String>,
    obsoletes: Vec<String>,
    /// Recommends, Suggests, Supplements, Enhances.
    weak: [Vec<String>; 4],
    files: Vec<String>,
    license: Option<String>,
    source_rpm: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Text {
    None,
    Name,
    Arch,
    Checksum,
    File,
    License,
    SourceRpm,
}

#[derive(Clone, Copy, PartialEq)]
enum DepList {
    None,
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
    /// Which of [`Builder::weak`].
    Weak(usize),
}

/// `name`, or `name OP [E:]V[-R]` from an `rpm:entry` element, and whether it is marked
/// `pre="1"`. One pass over the attributes, borrowing their values (most of primary's bulk is
/// these elements): the entry's own string is the only allocation.
fn entry_string(e: &BytesStart<'_>) -> Option<(String, bool)> {
    let (mut name, mut flags, mut epoch, mut ver, mut rel, mut pre) = (None, None, None, None, None, false);
    // Duplicate attributes are not checked for: a repeated one simply wins, as in attr().
    for a in e.attributes().with_checks(false).flatten() {
        let slot = match a.key.into_inner() {
            "name" => &mut name,
            "flags" => &mut flags,
            "epoch" => &mut epoch,
            "ver" => &mut ver,
            "rel" => &mut rel,
            "pre" => {
                pre = a.value.as_ref() == "1";
                continue;
            }
            _ => continue,
        };
        *slot = value(a);
    }
    let name = name?;
    let op = match flags.as_deref() {
        Some("EQ") => "=",
        Some("LT") => "<",
        Some("LE") => "<=",
        Some("GT") => ">",
        Some("GE") => ">=",
        _ => return Some((name.into_owned(), pre)),
    };
    let mut s = String::with_capacity(name.len() + 24);
    s.push_str(&name);
    s.push(' ');
    s.push_str(op);
    s.push(' ');
    if let Some(ep) = epoch {
        s.push_str(&ep);
        s.push(':');
    }
    s.push_str(ver.as_deref().unwrap_or_default());
    if let Some(rel) = rel {
        s.push('-');
        s.push_str(&rel);
    }
    Some((s, pre))
}

/// Parses primary XML, keeping packages of an architecture a `target` node installs.
pub fn parse_primary(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    target: &Arch,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    parse_primary_with(input, url, repo_index, target, None, out)
}

/// The input of the primary parser, which can keep a copy of what the parser consumes: the
/// bytes of one `<package>` element exactly as published, without a second pass.
struct Recorder<'e, R> {
    inner: R,
    /// Where kept elements go, when they are kept.
    entries: Option<&'e mut crate::repo::EntryWriter>,
    /// Whether an element is being recorded.
    on: bool,
}

impl<R: BufRead> std::io::Read for Recorder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Recorder<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        if let (true, Some(e)) = (self.on, self.entries.as_mut()) {
            if let Ok(b) = self.inner.fill_buf() {
                e.extend(&b[..n.min(b.len())]);
            }
        }
        self.inner.consume(n)
    }
}

/// [`parse_primary`], keeping each package's `<package>` element in `entries` (its place in
/// [`PackageRecord::entry`]) when given.
pub fn parse_primary_with(
    input: Box<dyn BufRead + '_>,
    url: &str,
    repo_index: usize,
    target: &Arch,
    entries: Option<&mut crate::repo::EntryWriter>,
    out: &mut Vec<PackageRecord>,
) -> Result<(), RepoError> {
    let mut r = Reader::from_reader(Recorder { inner: input, entries, on: false });
    let mut buf = Vec::with_capacity(4096);
    let mut pkg: Option<Builder> = None;
    let (mut text_field, mut list, mut text) = (Text::None, DepList::None, String::new());
    let mut packer = crate::repo::record::TextPacker::default();
    loop {
        buf.clear();
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| malformed(url, format!("not valid primary XML near byte {}: {e}", r.buffer_position())))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = e.name().into_inner();
                if name == "package" {
                    pkg = (attr(e, "type").as_deref() != Some("srpm") && !empty).then(Builder::default);
                    let rec = r.get_mut();
                    if let (Some(entries), true) = (rec.entries.as_mut(), pkg.is_some()) {
                        // The start tag is consumed already: it is the event's own bytes.
                        entries.begin(b"<");
                        entries.extend(e.as_bytes());
                        entries.extend(b">");
                        rec.on = true;
                    }
                    continue;
                }
                let Some(p) = pkg.as_mut() else { continue };
                match name {
                    "name" if !empty => text_field = Text::Name,
                    "arch" if !empty => text_field = Text::Arch,
                    "checksum" if !empty => {
                        p.checksum_type = attr(e, "type").unwrap_or_default();
                        text_field = Text::Checksum;
                    }
                    "file" if !empty => text_field = Text::File,
                    "rpm:license" if !empty => text_field = Text::License,
                    "rpm:sourcerpm" if !empty => text_field = Text::SourceRpm,
                    "version" => {
                        p.epoch = attr(e, "epoch").and_then(|s| s.parse().ok()).unwrap_or(0);
                        p.ver = attr(e, "ver").unwrap_or_default();
                        p.rel = attr(e, "rel");
                    }
                    "size" => p.size = attr(e, "package").and_then(|s| s.parse().ok()).unwrap_or(0),
                    "location" => p.location = attr(e, "href").unwrap_or_default(),
                    "rpm:provides" => list = DepList::Provides,
                    "rpm:requires" => list = DepList::Requires,
                    "rpm:conflicts" => list = DepList::Conflicts,
                    "rpm:obsoletes" => list = DepList::Obsoletes,
                    "rpm:recommends" => list = DepList::Weak(0),
                    "rpm:suggests" => list = DepList::Weak(1),
                    "rpm:supplements" => list = DepList::Weak(2),
                    "rpm:enhances" => list = DepList::Weak(3),
                    "rpm:entry" => {
                        let Some((s, pre)) = entry_string(e) else { continue };
                        match list {
                            DepList::Provides => p.provides.push(s),
                            DepList::Requires => {
                                if s.starts_with("rpmlib(") {
                                    continue;
                                }
                                if pre {
                                    p.pre.push(s.clone());
                                }
                                if !p.requires.contains(&s) {
                                    p.requires.push(s);
                                }
                            }
                            DepList::Conflicts => p.conflicts.push(s),
                            DepList::Obsoletes => p.obsoletes.push(s),
                            DepList::Weak(i) => p.weak[i].push(s),
                            DepList::None => {}
                        }
                    }
                    _ => {}
                }
                if text_field != Text::None {
                    text.clear();
                }
            }
            Event::Text(t) if text_field != Text::None => text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if text_field != Text::None => {
                if let Ok(Some(c)) = g.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&g.into_inner()) {
                    text.push_str(s);
                }
            }
            Event::End(e) => {
                let name = e.name().into_inner();
                if name == "package" {
                    let rec = r.get_mut();
                    rec.on = false;
                    if let Some(p) = pkg.take() {
                        if installs_on(&p.arch, target) {
                            let (mut record, fields) = finish(p, url, repo_index)?;
                            if let Some(entries) = rec.entries.as_mut() {
                                let kept = entries.keep();
                                let kept =
                                    kept.map_err(|source| RepoError::Entries { url: url.to_string(), source })?;
                                record.entry = Some(kept);
                            }
                            let bad = |e: crate::repo::record::TextTooLarge| malformed(url, e.to_string());
                            packer.push(out, record, &fields.parts()).map_err(bad)?;
                        }
                    }
                    continue;
                }
                if name.starts_with("rpm:") && name != "rpm:entry" {
                    list = DepList::None;
                }
                if let Some(p) = pkg.as_mut() {
                    let value = std::mem::take(&mut text);
                    match (text_field, name) {
                        (Text::Name, "name") => p.name = value,
                        (Text::Arch, "arch") => p.arch = value,
                        (Text::Checksum, "checksum") => p.checksum = value,
                        (Text::File, "file") => p.files.push(value),
                        (Text::License, "rpm:license") => p.license = Some(value),
                        (Text::SourceRpm, "rpm:sourcerpm") => p.source_rpm = Some(value),
                        _ => {}
                    }
                }
                text_field = Text::None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    packer.settle(out);
    Ok(())
}

/// The record of a `<package>` element and its text fields (its own text left empty).
fn finish(p: Builder, url: &str, repo: usize) -> Result<(PackageRecord, RecordFields), RepoError> {
    // Named only when something is wrong: 17,649 packages are right.
    let what = || format!("package `{}-{}-{}.{}`", p.name, p.ver, p.rel.as_deref().unwrap_or(""), p.arch);
    let bad = |m: String| malformed(url, format!("{}: {m}", what()));
    if p.checksum_type != "sha256" {
        return Err(RepoError::Unsupported {
            url: url.to_string(),
            message: format!("{} has a `{}` checksum; moa-bundle verifies sha256 only", what(), p.checksum_type),
        });
    }
    let location = p.location.trim_start_matches("./").to_string();
    if !moa_model::types::is_repo_path(&location) {
        let location = moa_model::types::shown(&location);
        return Err(bad(format!("location `{location}` is not a plain path inside the repository")));
    }
    moa_model::types::safe_file_name(location.rsplit('/').next().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let list = |field: &str, v: &[String]| crate::repo::DepList::checked(field, v).map_err(&bad);
    let text = RecordFields {
        location,
        provides: list("provides", &p.provides)?,
        requires: list("requires", &p.requires)?,
        pre_requires: list("requires(pre)", &p.pre)?,
        conflicts: list("conflicts", &p.conflicts)?,
        files: list("file", &p.files)?,
        obsoletes: list("obsoletes", &p.obsoletes)?,
        recommends: list("recommends", &p.weak[0])?,
        suggests: list("suggests", &p.weak[1])?,
        supplements: list("supplements", &p.weak[2])?,
        enhances: list("enhances", &p.weak[3])?,
        source_rpm: p.source_rpm.filter(|s| moa_model::types::is_line(s, 256) && !s.is_empty()).map(Into::into),
        license: p.license.filter(|s| moa_model::types::is_line(s, 1024) && !s.is_empty()).map(Into::into),
        ..RecordFields::default()
    };
    let record = PackageRecord {
        name: PackageName::new(&p.name).map_err(|e| bad(e.to_string()))?,
        version: Version::Rpm(Evr::new(p.epoch, &p.ver, p.rel.as_deref()).map_err(|e| bad(e.to_string()))?),
        arch: Arch::new(&p.arch).map_err(|e| bad(e.to_string()))?,
        repo,
        size: p.size,
        sha256: Sha256::from_hex(&p.checksum).map_err(|e| bad(e.to_string()))?,
        text: Default::default(),
        priority: None,
        essential: false,
        multi_arch: Default::default(),
        entry: None,
    };
    Ok((record, text))
}
