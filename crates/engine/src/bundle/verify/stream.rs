//! The bundle read member by member, the way `tar` and `sha256sum` see it, with nothing
//! written that the bundle's own index has not announced.
//!
//! moa-bundle writes `SHA256SUMS` and `bundle.json` first (members are sorted, uppercase first),
//! so they are read first, within their size bounds, and everything after is checked against
//! them *before* it is written: a member must be listed, appear once, and have exactly the size
//! `bundle.json` declares (or be a small file). Its digest is taken on a helper thread from the
//! same chunks that are written ([`MemberHasher`]) and compared before the pass returns — before
//! anything can use the file. The total is bounded by the compressed size and the free space. After the tar end-of-archive,
//! only zero padding may follow, and nothing after the gzip stream: a second gzip member or
//! appended bytes would be read by `tar` but covered by no checksum.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use super::{corrupt, VerifyError};
use crate::bundle::{
    BundleIndex, BINARY_FILE, BINARY_GZ_FILE, INDEX_FILE, PACKAGES_DIR, ROLLBACK_DIR, SCHEMA_VERSION, SUMS_FILE,
};
use moa_model::limits;
use moa_model::types::Sha256;

/// What the member pass tells the hashing thread.
enum Chunk {
    /// A member begins: its name and the digest SHA256SUMS gives it.
    Start(String, Sha256),
    Data(Vec<u8>),
}

/// Digests of the members after the index, taken on a helper thread from the chunks the member
/// pass writes, so that writing and hashing run on two cores.
struct MemberHasher {
    tx: Option<SyncSender<Chunk>>,
    thread: Option<JoinHandle<Vec<(String, Sha256, Sha256)>>>,
}

impl MemberHasher {
    fn new() -> Self {
        let (tx, rx) = sync_channel::<Chunk>(8);
        let thread = std::thread::spawn(move || {
            use sha2::Digest;
            let mut done = Vec::new();
            let mut current: Option<(String, Sha256, sha2::Sha256)> = None;
            let finish = |c: Option<(String, Sha256, sha2::Sha256)>, done: &mut Vec<_>| {
                if let Some((name, want, h)) = c {
                    done.push((name, want, Sha256::from_bytes(h.finalize().into())));
                }
            };
            for chunk in rx {
                match chunk {
                    Chunk::Start(name, want) => finish(current.replace((name, want, sha2::Sha256::new())), &mut done),
                    Chunk::Data(d) => {
                        if let Some((_, _, h)) = current.as_mut() {
                            h.update(&d);
                        }
                    }
                }
            }
            finish(current, &mut done);
            done
        });
        Self { tx: Some(tx), thread: Some(thread) }
    }

    fn send(&self, c: Chunk) {
        if let Some(tx) = &self.tx {
            // The thread only stops when the sender is dropped.
            let _ = tx.send(c);
        }
    }

    /// Every member's (name, digest wanted, digest found).
    fn results(&mut self) -> Vec<(String, Sha256, Sha256)> {
        drop(self.tx.take());
        self.thread.take().map(|t| t.join().expect("the hashing thread does not panic")).unwrap_or_default()
    }
}

/// What a member after the index must be.
pub(super) struct Expect {
    pub(super) sha256: Sha256,
    /// Exact size (a package: bundle.json's `size`), or `None` for a small member.
    pub(super) size: Option<u64>,
}

/// `SHA256SUMS`: plain relative paths, each once, within the bound on their number.
pub(super) fn parse_sums(bytes: &[u8]) -> Result<BTreeMap<String, Sha256>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "SHA256SUMS is not text".to_string())?;
    let mut sums = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let shown = moa_model::types::shown(line);
        let (hash, name) = line.split_once("  ").ok_or_else(|| format!("bad SHA256SUMS line `{shown}`"))?;
        let hash = Sha256::from_hex(hash).map_err(|e| e.to_string())?;
        let plain = !name.is_empty()
            && name != SUMS_FILE
            && name.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && moa_model::types::is_line(c, 255));
        if !plain || sums.insert(name.to_string(), hash).is_some() {
            return Err(format!("SHA256SUMS line `{shown}` names a bad or repeated path"));
        }
        limits::check("the number of SHA256SUMS lines", sums.len() as u64, (limits::PACKAGES + 64) as u64)?;
    }
    Ok(sums)
}

/// `bundle.json`, matching its line in `sums`, of a schema this moa-bundle reads, valid, and
/// naming `top` as its top directory.
pub(super) fn parse_index(
    bundle: &Path,
    bytes: &[u8],
    sums: &BTreeMap<String, Sha256>,
    top: &str,
    syntax_of: SyntaxOf<'_>,
) -> Result<BundleIndex, VerifyError> {
    let bad = |m: String| corrupt(bundle, m);
    match sums.get(INDEX_FILE) {
        Some(want) if *want == Sha256::digest(bytes) => {}
        _ => return Err(bad("bundle.json does not match its line in SHA256SUMS".into())),
    }
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: u32,
        tool_version: Option<String>,
    }
    let v: Version = serde_json::from_slice(bytes).map_err(|e| bad(format!("bundle.json is not valid JSON: {e}")))?;
    if v.schema_version > SCHEMA_VERSION {
        let tool = v.tool_version.map(|t| moa_model::types::shown(&t)).unwrap_or_else(|| "?".into());
        return Err(VerifyError::Schema { path: bundle.to_path_buf(), found: v.schema_version, tool });
    }
    let index = BundleIndex::from_json(bytes, syntax_of).map_err(|m| bad(format!("bundle.json: {m}")))?;
    if index.stem() != top {
        return Err(bad(format!("its top directory `{top}` is not `{}`, the name bundle.json gives", index.stem())));
    }
    Ok(index)
}

/// Every member after the index: packages (and the bundled binary) at the size bundle.json
/// gives them and with the digest both files agree on; the rest small. A file under
/// `packages/` that bundle.json does not list, or one it lists that SHA256SUMS does not, is
/// refused.
pub(super) fn expected_members(
    index: &BundleIndex,
    sums: &BTreeMap<String, Sha256>,
) -> Result<BTreeMap<String, Expect>, String> {
    let mut by_member: BTreeMap<String, (&Sha256, u64)> =
        index.packages.iter().map(|p| (format!("{PACKAGES_DIR}/{}", p.file), (&p.sha256, p.size))).collect();
    by_member.extend(index.rollback.iter().map(|p| (format!("{ROLLBACK_DIR}/{}", p.file), (&p.sha256, p.size))));
    if let Some(b) = &index.installer {
        by_member.insert(b.member().to_string(), (&b.sha256, b.size));
    }
    let mut expected = BTreeMap::new();
    for (name, sha) in sums.iter().filter(|(n, _)| *n != INDEX_FILE) {
        let size = match by_member.get(name) {
            Some((want, size)) if *want == sha => Some(*size),
            Some(_) => return Err(format!("SHA256SUMS and bundle.json disagree on `{name}`")),
            None if name.starts_with(&format!("{PACKAGES_DIR}/"))
                || name.starts_with(&format!("{ROLLBACK_DIR}/"))
                || name == BINARY_FILE
                || name == BINARY_GZ_FILE =>
            {
                return Err(format!("`{name}` is in SHA256SUMS but not in bundle.json"))
            }
            None => None,
        };
        expected.insert(name.clone(), Expect { sha256: *sha, size });
    }
    if let Some(missing) = by_member.keys().find(|m| !sums.contains_key(*m)) {
        return Err(format!("bundle.json lists `{missing}`, which SHA256SUMS does not"));
    }
    Ok(expected)
}

/// The state of one pass over a bundle.
pub(super) struct Stream<'a> {
    bundle: &'a Path,
    dest: &'a Path,
    compressed: u64,
    top: Option<String>,
    sums: Option<BTreeMap<String, Sha256>>,
    pub(super) index: Option<BundleIndex>,
    expected: BTreeMap<String, Expect>,
    dirs: BTreeSet<String>,
    seen_dirs: BTreeSet<String>,
    pub(super) files: usize,
    hasher: MemberHasher,
    /// The family's syntax, which reads and checks bundle.json's versions.
    syntax_of: SyntaxOf<'a>,
}

/// The version syntax of a family, from the composition root.
pub(super) type SyntaxOf<'a> = &'a dyn Fn(moa_model::manifest::Family) -> &'static dyn moa_model::deps::DepSyntax;

impl<'a> Stream<'a> {
    pub(super) fn new(bundle: &'a Path, dest: &'a Path, compressed: u64, syntax_of: SyntaxOf<'a>) -> Self {
        Self {
            syntax_of,
            bundle,
            dest,
            compressed,
            top: None,
            sums: None,
            index: None,
            expected: BTreeMap::new(),
            dirs: BTreeSet::new(),
            seen_dirs: BTreeSet::new(),
            files: 0,
            hasher: MemberHasher::new(),
        }
    }

    fn bad(&self, m: impl Into<String>) -> VerifyError {
        corrupt(self.bundle, m)
    }

    /// The top directory and the path under it, refusing anything but plain UTF-8 components.
    fn member_path(&mut self, raw: &[u8]) -> Result<Option<(String, String)>, VerifyError> {
        let text = std::str::from_utf8(raw).map_err(|_| self.bad("a member name is not UTF-8"))?;
        let shown = moa_model::types::shown(text);
        let mut parts = Vec::new();
        for c in Path::new(text).components() {
            match c {
                Component::Normal(s) if moa_model::types::is_line(s.to_str().unwrap_or("\n"), 255) => {
                    parts.push(s.to_str().unwrap_or_default().to_string())
                }
                Component::CurDir => {}
                _ => {
                    return Err(self.bad(format!("member `{shown}` is absolute, contains `..` or a control character")))
                }
            }
        }
        let Some(first) = parts.first().cloned() else { return Ok(None) };
        match &self.top {
            None => self.top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(self.bad(format!("member `{shown}` is outside the top directory `{t}`")))
            }
            _ => {}
        }
        Ok(Some((first, parts[1..].join("/"))))
    }

    /// One tar member.
    pub(super) fn member<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), VerifyError> {
        let raw = entry.path_bytes().into_owned();
        let Some((top, rel)) = self.member_path(&raw)? else { return Ok(()) };
        let out = self.dest.join(&top).join(&rel);
        let kind = entry.header().entry_type();
        let shown = moa_model::types::shown(&String::from_utf8_lossy(&raw));
        match kind {
            tar::EntryType::Directory => {
                if !rel.is_empty() && self.index.is_none() {
                    return Err(self.out_of_order(&rel));
                }
                let known = rel.is_empty() || self.dirs.contains(&rel);
                if !known || !self.seen_dirs.insert(rel.clone()) {
                    return Err(self.bad(format!("directory `{shown}` is not one the index implies, or repeated")));
                }
                fs_err::create_dir_all(&out).map_err(|source| VerifyError::Unpack { path: out.clone(), source })
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(|e| self.bad(format!("member `{shown}`: {e}")))?;
                self.files += 1;
                if self.sums.is_none() {
                    let bytes = self.small(&mut entry, &rel, SUMS_FILE, limits::SUMS_BYTES, size)?;
                    self.read_sums(&bytes)?;
                    write_file(&out, &bytes)
                } else if self.index.is_none() {
                    let bytes = self.small(&mut entry, &rel, INDEX_FILE, limits::INDEX_BYTES, size)?;
                    self.read_index(&bytes, &top)?;
                    write_file(&out, &bytes)
                } else {
                    self.file(&mut entry, &rel, &out, size)
                }
            }
            other => Err(self.bad(format!(
                "member `{shown}` is a {other:?}, not a plain file: bundles never contain links or devices"
            ))),
        }
    }

    fn out_of_order(&self, rel: &str) -> VerifyError {
        self.bad(format!(
            "`{}` comes before {SUMS_FILE} and {INDEX_FILE}, which moa-bundle writes first: was the bundle unpacked and packed again? Use the file `moa-bundle build` wrote",
            moa_model::types::shown(rel)
        ))
    }

    /// `SHA256SUMS` or `bundle.json`, in memory, within `max` bytes.
    fn small<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        rel: &str,
        want: &str,
        max: u64,
        size: u64,
    ) -> Result<Vec<u8>, VerifyError> {
        if rel != want {
            return Err(self.out_of_order(rel));
        }
        limits::check(&format!("the size of {want}"), size, max).map_err(|m| self.bad(m))?;
        let mut buf = Vec::with_capacity(size as usize);
        entry.take(max).read_to_end(&mut buf).map_err(|e| self.bad(format!("{want}: {e}")))?;
        Ok(buf)
    }

    fn read_sums(&mut self, bytes: &[u8]) -> Result<(), VerifyError> {
        self.sums = Some(parse_sums(bytes).map_err(|m| self.bad(m))?);
        Ok(())
    }

    /// Parses and validates `bundle.json`, then plans every member that may follow.
    fn read_index(&mut self, bytes: &[u8], top: &str) -> Result<(), VerifyError> {
        let sums = self.sums.take().unwrap_or_default();
        let index = parse_index(self.bundle, bytes, &sums, top, self.syntax_of)?;
        self.plan(&index, &sums)?;
        self.index = Some(index);
        self.sums = Some(sums);
        Ok(())
    }

    /// The members after the index, their sizes and the directories they imply; the total is
    /// checked against the compressed size and the free space before anything is written.
    fn plan(&mut self, index: &BundleIndex, sums: &BTreeMap<String, Sha256>) -> Result<(), VerifyError> {
        self.expected = expected_members(index, sums).map_err(|m| self.bad(m))?;
        let mut total = 0u64;
        for (name, e) in &self.expected {
            total += e.size.unwrap_or(limits::SMALL_MEMBER_BYTES);
            for (i, _) in name.match_indices('/') {
                self.dirs.insert(name[..i].to_string());
            }
        }
        let room = self.compressed.saturating_mul(limits::EXPANSION_RATIO).saturating_add(limits::EXPANSION_SLACK);
        if total > room {
            return Err(self.bad(format!(
                "it declares {total} bytes of members, more than a bundle of {} bytes can hold",
                self.compressed
            )));
        }
        let free = free_space(self.dest);
        if free.is_some_and(|f| f < total) {
            return Err(VerifyError::Space { path: self.dest.to_path_buf(), need: total, free: free.unwrap_or(0) });
        }
        Ok(())
    }

    /// A member after the index: listed, once, of the declared size, digest checked at its end.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &str,
        out: &Path,
        size: u64,
    ) -> Result<(), VerifyError> {
        let shown = moa_model::types::shown(rel);
        let Some(expect) = self.expected.remove(rel) else {
            return Err(self.bad(format!("`{shown}` is not listed in SHA256SUMS, or appears twice")));
        };
        let max = expect.size.unwrap_or(limits::SMALL_MEMBER_BYTES);
        if expect.size.is_some_and(|s| s != size) || size > max {
            let declared = expect.size.map(|s| format!("{s} bytes")).unwrap_or_else(|| format!("at most {max} bytes"));
            return Err(self.bad(format!("`{shown}` is {size} bytes, but the index declares {declared}")));
        }
        let uerr = |source| VerifyError::Unpack { path: out.to_path_buf(), source };
        if let Some(parent) = out.parent() {
            fs_err::create_dir_all(parent).map_err(uerr)?;
        }
        let mut f = fs_err::File::create(out).map_err(uerr)?;
        self.hasher.send(Chunk::Start(shown.clone(), expect.sha256));
        let mut left = size;
        let mut reader = entry.take(size);
        while left > 0 {
            let mut buf = vec![0u8; left.min(256 * 1024) as usize];
            reader.read_exact(&mut buf).map_err(|e| self.bad(format!("`{shown}`: {e}")))?;
            f.write_all(&buf).map_err(uerr)?;
            left -= buf.len() as u64;
            self.hasher.send(Chunk::Data(buf));
        }
        Ok(())
    }

    /// After the last member: everything announced arrived, with the digest announced.
    pub(super) fn finish(&mut self) -> Result<PathBuf, VerifyError> {
        let top = self.top.as_ref().ok_or_else(|| self.bad("it is empty"))?;
        if self.sums.is_none() {
            return Err(self.bad("it has no SHA256SUMS"));
        }
        if self.index.is_none() {
            return Err(self.bad("it has no bundle.json"));
        }
        if let Some(missing) = self.expected.keys().next() {
            return Err(self.bad(format!("`{missing}` is listed in SHA256SUMS but missing")));
        }
        if let Some((name, want, got)) = self.hasher.results().into_iter().find(|(_, want, got)| want != got) {
            return Err(self.bad(format!("`{name}` has sha256 {got}, SHA256SUMS says {want}")));
        }
        Ok(self.dest.join(top))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let uerr = |source| VerifyError::Unpack { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(uerr)?;
    }
    fs_err::write(path, bytes).map_err(uerr)
}

/// Bytes free for this user on the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// After the tar end-of-archive: only zero padding, then the end of the gzip member (its CRC
/// checked by reading it to the end), then the end of the file.
pub(super) fn check_tail<R: BufRead>(bundle: &Path, mut gz: flate2::bufread::GzDecoder<R>) -> Result<R, VerifyError> {
    let mut buf = [0u8; 64 * 1024];
    let mut padding = 0u64;
    loop {
        let n = gz.read(&mut buf).map_err(|e| corrupt(bundle, format!("gzip stream: {e}")))?;
        if n == 0 {
            break;
        }
        padding += n as u64;
        if buf[..n].iter().any(|b| *b != 0) || padding > limits::TAR_PADDING {
            return Err(corrupt(bundle, "it has data after the end of the tar archive, which no checksum covers"));
        }
    }
    let mut rest = gz.into_inner();
    let trailing = rest.fill_buf().map_err(|e| corrupt(bundle, e.to_string()))?;
    if !trailing.is_empty() {
        return Err(corrupt(
            bundle,
            "it has bytes after its gzip stream (a second gzip member or appended data): tar would read them, but no checksum covers them",
        ));
    }
    Ok(rest)
}
