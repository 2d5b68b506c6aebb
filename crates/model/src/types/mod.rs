//! Validated newtypes shared by every stage: package names, architectures, sha256 digests, plain
//! labels, single-line text, mirror URLs and repository paths; [`node`] has the values that reach
//! a node's files and command lines (hosts, networks, zones, paths, services, the sync command).
//!
//! A string that crosses a stage boundary and would be ambiguous as `String` gets a type here, so
//! that a value is checked once, where it enters the program (flag, manifest, metadata, bundle
//! index, node profile), and never again: serde goes through the same constructor as a flag.
//! Versions live in [`crate::version`]; dependency syntax in [`crate::deps`].

pub mod node;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines a string newtype whose only constructor is `$check` (serde, `FromStr` and
/// `TryFrom<String>` all go through it). Values up to 24 bytes are held inline, without an
/// allocation of their own: most package names are, and a resolve holds one per record.
macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident, $check:expr, $err:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(compact_str::CompactString);

        impl $name {
            pub fn new(s: &str) -> Result<Self, $crate::types::TypeError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(compact_str::CompactString::new(s)))
                } else {
                    Err($err($crate::types::shown(s)))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = $crate::types::TypeError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into()
            }
        }
        impl std::str::FromStr for $name {
            type Err = $crate::types::TypeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use validated_string;

/// A refused value as an error message shows it: escaped (a newline cannot forge an output
/// line) and cut to 80 characters.
pub fn shown(s: &str) -> String {
    let escaped: String = s.escape_debug().collect();
    match escaped.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

/// Why a value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    #[error("`{0}` is not a valid package name: use letters, digits and `+ - . _ ~` (no spaces or slashes)")]
    PackageName(String),
    #[error("`{0}` is not a valid architecture name (e.g. x86_64, noarch, amd64, all)")]
    Arch(String),
    #[error("`{0}` is not a sha256 digest: expected 64 hexadecimal characters")]
    Sha256(String),
    #[error(
        "`{0}` is not a safe file name: use letters, digits and `. _ + ~ ^ % @ = , -`, not starting with `-` or `.`"
    )]
    FileName(String),
    #[error(
        "`{0}` is not a plain name: use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    )]
    Label(String),
    #[error("`{0}` is not one line of text: no control characters (newlines, tabs, escapes), at most 4096 bytes")]
    Line(String),
    #[error("`{0}` is not a mirror URL: use http://HOST/…, https://HOST/… or file:///PATH, without spaces, a query or a fragment")]
    Mirror(String),
    #[error("`{0}` is not a repository path: relative, `/`-separated names of letters, digits and `. _ + ~ % ^ -`, no `.` or `..` parts")]
    RepoPath(String),
    #[error(
        "`{0}` is not a host name or IP address (letters, digits, `.`, `-`, `:` only; e.g. 10.0.0.5 or ntp1.moa.local)"
    )]
    Host(String),
    #[error("`{0}` is not a network in CIDR form (e.g. 192.168.1.0/24 or fd00::/8)")]
    Network(String),
    #[error("`{0}` is not a time zone name (e.g. Asia/Shanghai, UTC; see /usr/share/zoneinfo)")]
    Zone(String),
    #[error("`{0}` is not an absolute path on the node: `/`-separated names of letters, digits and `. _ + ~ @ -`, no `.` or `..` parts")]
    NodePath(String),
    #[error("`{0}` is not a service name (letters, digits and `: _ . @ -`, e.g. ntpd or systemd-timesyncd)")]
    Service(String),
    #[error("`{0}` is not a sync command: an absolute program path and at most 8 options of letters, digits and `_ . / = : , + -` (e.g. \"/usr/sbin/ntpdate -u\")")]
    SyncCommand(String),
}

validated_string!(
    /// A package name as rpm and dpkg spell it: no whitespace, no path separators.
    PackageName,
    |s| {
        !s.is_empty()
            && s.len() <= 256
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_' | b'~' | b'^' | b'@'))
            && !s.starts_with('-')
    },
    TypeError::PackageName
);

impl std::borrow::Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// A machine architecture as the package family names it (`x86_64`/`noarch`, `amd64`/`all`).
///
/// Every package record holds one, nearly always one of a handful of names: those are shared
/// (`Arc`), not allocated per record (63,440 times on bookworm's main index).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Arch(std::sync::Arc<str>);

/// The architectures records name most: each made once and shared.
const COMMON_ARCHES: [&str; 12] =
    ["amd64", "all", "x86_64", "noarch", "arm64", "aarch64", "i386", "i686", "armhf", "ppc64el", "ppc64le", "s390x"];

impl Arch {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        static SHARED: std::sync::OnceLock<Vec<std::sync::Arc<str>>> = std::sync::OnceLock::new();
        if !(!s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            return Err(TypeError::Arch(shown(s)));
        }
        let shared = SHARED.get_or_init(|| COMMON_ARCHES.iter().map(|&a| a.into()).collect());
        Ok(Self(shared.iter().find(|a| &***a == s).cloned().unwrap_or_else(|| s.into())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Arch {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Arch> for String {
    fn from(v: Arch) -> String {
        v.0.to_string()
    }
}

impl std::str::FromStr for Arch {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Arch {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A sha256 digest, stored as 32 bytes, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn from_hex(s: &str) -> Result<Self, TypeError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| TypeError::Sha256(shown(s)))?;
        Ok(Self(out))
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// Digest of a byte slice.
    pub fn digest(data: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(data).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}
impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}
impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl TryFrom<String> for Sha256 {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::from_hex(&s)
    }
}
impl From<Sha256> for String {
    fn from(s: Sha256) -> String {
        s.to_hex()
    }
}

validated_string!(
    /// A plain name: a bundle, distro or repository name, an os-release `ID` or `VERSION_ID`.
    /// It becomes part of file names and output lines, so it is kept to a safe alphabet.
    Label,
    |s| {
        !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    },
    TypeError::Label
);

/// Whether `s` is one line of at most `max` bytes with no control characters.
pub fn is_line(s: &str, max: usize) -> bool {
    // ASCII (nearly every dependency and path in metadata) is checked bytewise; the rest also
    // for the C1 controls (U+0080..U+009F) that `char::is_control` names.
    s.len() <= max
        && if s.is_ascii() { !s.bytes().any(|b| b < 0x20 || b == 0x7f) } else { !s.chars().any(char::is_control) }
}

validated_string!(
    /// One line of text (a description, a why-chain step, a dependency, a version): no control
    /// characters, so it cannot forge an output line, and at most 4096 bytes.
    Line,
    |s| is_line(s, 4096),
    TypeError::Line
);

validated_string!(
    /// A mirror root: `http(s)://HOST[:PORT][/PATH]` (credentials allowed, shown redacted) or
    /// `file:///PATH`; no query, fragment, whitespace or control characters.
    MirrorUrl,
    |s| {
        let ok_text = is_line(s, 2048) && !s.contains(char::is_whitespace) && !s.split('/').any(|c| c == "..");
        ok_text
            && url::Url::parse(s).is_ok_and(|u| {
                let host_ok = match u.scheme() {
                    "http" | "https" => u.host_str().is_some_and(|h| !h.is_empty()),
                    "file" => u.host_str().is_none_or(str::is_empty),
                    _ => false,
                };
                host_ok && u.query().is_none() && u.fragment().is_none() && !u.path().split('/').any(|c| c == "..")
            })
    },
    TypeError::Mirror
);

impl MirrorUrl {
    /// The flag's parser (`--mirror URL`).
    pub fn parse(s: &str) -> Result<Self, TypeError> {
        Self::new(s)
    }
}

/// `--mirror [REPOSITORY=]URL`: a mirror root for every repository of the manifest, or, named,
/// for that one only (`--mirror security=http://mirror/debian-security`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFlag {
    pub repository: Option<Label>,
    pub url: MirrorUrl,
}

impl MirrorFlag {
    /// The flag's parser. A `=` before any `://` or `/` separates a repository name; one later
    /// (a query string) is part of the URL.
    pub fn parse(s: &str) -> Result<Self, TypeError> {
        match s.split_once('=') {
            Some((name, url)) if !name.contains('/') && !name.contains(':') => {
                Ok(Self { repository: Some(Label::new(name)?), url: MirrorUrl::new(url)? })
            }
            _ => Ok(Self { repository: None, url: MirrorUrl::new(s)? }),
        }
    }
}

/// Whether `s` is a relative path of plain components (`7.9.2009/os/x86_64`, `main`), or `.`
/// (the mirror's root itself).
/// Whether `s` is a [`RepoPath`] (checked without making one).
pub fn is_repo_path(s: &str) -> bool {
    s == "."
        || !s.is_empty()
            && s.len() <= 512
            && s.split('/').count() <= 32
            && s.split('/').all(|c| {
                c == BASEARCH
                    || !c.is_empty()
                        && c != "."
                        && c != ".."
                        && c.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'~' | b'%' | b'^' | b'-')
                        })
            })
}

validated_string!(
    /// A path under a mirror root: a yum repository's `path` (`.` for the root itself, as on a
    /// mounted DVD), an apt suite or component.
    RepoPath,
    is_repo_path,
    TypeError::RepoPath
);

/// The one variable a yum repository's `path` may hold, as a whole component: the build's arch
/// (`9/BaseOS/$basearch/os`), so one manifest serves `--arch x86_64` and `--arch aarch64`.
pub const BASEARCH: &str = "$basearch";

impl RepoPath {
    /// The path with `$basearch` replaced by `arch`.
    pub fn with_basearch(&self, arch: &str) -> String {
        self.as_str().split('/').map(|c| if c == BASEARCH { arch } else { c }).collect::<Vec<_>>().join("/")
    }
}

/// A sha256 computed while data streams through a writer.
pub struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    written: u64,
}

impl<W: std::io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        Self { inner, hasher: sha2::Sha256::new(), written: 0 }
    }
    /// Forgets what was hashed so far (before a retry).
    pub fn reset_hash(&mut self) {
        use sha2::Digest;
        self.hasher = sha2::Sha256::new();
        self.written = 0;
    }
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> (Sha256, u64, W) {
        use sha2::Digest;
        (Sha256(self.hasher.finalize().into()), self.written, self.inner)
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Checks that a file name taken from metadata or a bundle is a single plain path component of
/// the characters package file names use (`ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb`): no path
/// separator, no control or shell character, no leading `-` or `.`.
pub fn safe_file_name(name: &str) -> Result<&str, TypeError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b'+' | b'~' | b'^' | b'%' | b'@' | b'=' | b',' | b'-')
        });
    if ok {
        Ok(name)
    } else {
        Err(TypeError::FileName(shown(name)))
    }
}

/// RFC 3339 UTC of seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = utc(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// The UTC calendar date and time of seconds since the epoch, `(year, month, day, hour, minute,
/// second)` (Howard Hinnant's days-to-civil; bundles' fixed times need no time zone).
pub fn utc(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_paths_and_spaces() {
        assert!(PackageName::new("autogen-libopts").is_ok());
        assert!(PackageName::new("libstdc++").is_ok());
        assert!(PackageName::new("a b").is_err());
        assert!(PackageName::new("../etc").is_err());
        assert!(PackageName::new("").is_err());
    }

    /// The character checks go byte by byte: a letter outside ASCII is refused as before.
    #[test]
    fn names_paths_and_file_names_refuse_what_is_not_ascii() {
        assert!(PackageName::new("libé").is_err() && PackageName::new("lib\u{2010}x").is_err());
        assert!(PackageName::new("libstdc++6").is_ok() && PackageName::new("a.b_c~d^e@f-g").is_ok());
        assert!(
            !is_repo_path("pool/é")
                && !is_repo_path("pool/a b")
                && is_repo_path("pool/main/g/git/git_1%3a2.39.5-0+deb12u3_all.deb")
        );
        assert!(
            safe_file_name("é.deb").is_err() && safe_file_name("a=b,c@d.deb").is_ok() && safe_file_name("a/b").is_err()
        );
    }

    #[test]
    fn common_arches_are_shared_and_others_kept() {
        let (a, b) = (Arch::new("amd64").unwrap(), "amd64".parse::<Arch>().unwrap());
        assert!(std::sync::Arc::ptr_eq(&a.0, &b.0), "one amd64 for every record");
        assert_eq!(a, b);
        let odd = Arch::new("riscv64").unwrap();
        assert_eq!((odd.as_str(), odd.to_string()), ("riscv64", "riscv64".to_string()));
        assert!(Arch::new("amd 64").is_err() && Arch::new("").is_err() && Arch::new(&"x".repeat(33)).is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!((json.as_str(), serde_json::from_str::<Arch>(&json).unwrap()), ("\"amd64\"", a));
    }

    #[test]
    fn sha256_round_trips_and_rejects_garbage() {
        let d = Sha256::digest(b"abc");
        assert_eq!(d.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Sha256::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Sha256::from_hex("abc").is_err());
    }

    #[test]
    fn mirrors_are_urls_with_a_host() {
        for ok in ["http://127.0.0.1:8080", "https://vault.centos.org/centos/", "file:///mnt/cdrom", "http://u:p@m/x"] {
            assert!(MirrorUrl::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://",
            "ftp://m/x",
            "http://m/x?y=1",
            "http://m/a b",
            "http://m/\n",
            "file://host/x",
            "http://m/../x",
            "m/x",
        ] {
            assert!(MirrorUrl::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_and_lines_refuse_what_could_forge_output() {
        assert!(Label::new("bookworm-updates").is_ok() && Label::new("16.04").is_ok());
        for bad in ["", "-x", ".x", "a b", "a\nb", "a/b", &"x".repeat(65)] {
            assert!(Label::new(bad).is_err(), "{bad:?}");
        }
        assert!(Line::new("ntp (>= 1:4.2) | chrony").is_ok());
        assert!(Line::new("a\nb").is_err() && Line::new("a\x1b[31m").is_err() && Line::new(&"x".repeat(4097)).is_err());
        assert!(RepoPath::new("7.9.2009/os/x86_64").is_ok() && RepoPath::new("bookworm-security").is_ok());
        for bad in ["", "/x", "a/../b", "a//b", "./a", "a/ b", "..", "a/."] {
            assert!(RepoPath::new(bad).is_err(), "{bad:?}");
        }
        assert!(RepoPath::new(".").is_ok());
        let p = RepoPath::new("9/BaseOS/$basearch/os").unwrap();
        assert_eq!(p.with_basearch("aarch64"), "9/BaseOS/aarch64/os");
        assert!(RepoPath::new("9/$arch/os").is_err() && RepoPath::new("9/x$basearch/os").is_err());
    }

    #[test]
    fn file_names_must_be_one_component() {
        assert!(safe_file_name("ntp-4.2.rpm").is_ok());
        for bad in [
            "",
            "..",
            "a/b",
            "..\\x",
            "/etc/passwd",
            "a.rpm; rm -rf /",
            "a\nb.deb",
            "-x.rpm",
            ".hidden",
            "a b.rpm",
            "$(id).rpm",
        ] {
            assert!(safe_file_name(bad).is_err(), "{bad}");
        }
    }
}
