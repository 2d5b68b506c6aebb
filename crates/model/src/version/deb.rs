//! Debian's `[epoch:]upstream_version[-debian_revision]` and its ordering, a port of dpkg's
//! `verrevcmp()` (`lib/dpkg/version.c`): `~` sorts before everything, even the end; letters before
//! other non-digits; digit runs compare numerically.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a Debian version string was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{text}` is not a Debian version: {why} (expected [epoch:]upstream[-revision], e.g. 1:4.2.8p4+dfsg-3ubuntu5.9)"
)]
pub struct DebVersionError {
    text: String,
    why: &'static str,
}

/// A parsed Debian version. In `bundle.json` (schema 2) it is its parts,
/// `{"epoch": 2, "upstream": "2.10", "revision": "3"}`, read back only when they are exactly
/// what parsing their text gives (nothing a dpkg would read otherwise).
///
/// The upstream version and the revision share one string, held inline up to 24 bytes (every deb record holds one).
#[derive(Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "DebParts")]
pub struct DebVersion {
    pub epoch: u32,
    /// Where the upstream version ends in `text`, which holds it and then the revision.
    split: u32,
    text: compact_str::CompactString,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DebParts {
    epoch: u32,
    upstream: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    revision: String,
}

impl DebVersion {
    fn of(epoch: u32, upstream: &str, revision: &str) -> Self {
        // Versions are short: a parsed one is one line of an index, and parts come from one.
        let split = u32::try_from(upstream.len()).unwrap_or(u32::MAX);
        let mut text = compact_str::CompactString::with_capacity(upstream.len() + revision.len());
        text.push_str(upstream);
        text.push_str(revision);
        Self { epoch, split, text }
    }
    /// The upstream version (`4.2.8p4+dfsg` of `1:4.2.8p4+dfsg-3ubuntu5.9`).
    pub fn upstream(&self) -> &str {
        &self.text[..self.split as usize]
    }
    /// The Debian revision (`3ubuntu5.9`), empty when there is none.
    pub fn revision(&self) -> &str {
        &self.text[self.split as usize..]
    }
}

impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (epoch, upstream, revision) = (self.epoch, self.upstream(), self.revision());
        f.debug_struct("DebVersion")
            .field("epoch", &epoch)
            .field("upstream", &upstream)
            .field("revision", &revision)
            .finish()
    }
}

impl serde::Serialize for DebVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (upstream, revision) = (self.upstream().to_string(), self.revision().to_string());
        DebParts { epoch: self.epoch, upstream, revision }.serialize(s)
    }
}

impl TryFrom<DebParts> for DebVersion {
    type Error = DebVersionError;
    fn try_from(p: DebParts) -> Result<Self, DebVersionError> {
        if p.upstream.len() > u32::MAX as usize {
            return Err(DebVersionError { text: p.upstream, why: "it is too long" });
        }
        let v = DebVersion::of(p.epoch, &p.upstream, &p.revision);
        let text = v.to_string();
        match text.parse::<DebVersion>()? {
            parsed if parsed == v && parsed.epoch == v.epoch => Ok(v),
            _ => Err(DebVersionError { text, why: "its parts do not read back as themselves" }),
        }
    }
}

impl FromStr for DebVersion {
    type Err = DebVersionError;
    fn from_str(s: &str) -> Result<Self, DebVersionError> {
        let bad = |why| DebVersionError { text: s.to_string(), why };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        if t.contains(char::is_whitespace) {
            return Err(bad("it contains whitespace"));
        }
        let (epoch, rest) = match t.split_once(':') {
            Some((e, rest)) => (e.parse::<u32>().map_err(|_| bad("the epoch is not a number"))?, rest),
            None => (0, t),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            // dpkg refuses `1.0-`: printed again it would lose the dash and mean another version.
            Some((_, "")) => return Err(bad("the revision after `-` is empty")),
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(bad("the upstream version is empty"));
        }
        if !upstream.as_bytes()[0].is_ascii_digit() {
            return Err(bad("the upstream version must start with a digit"));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || ".+~-:".contains(c);
        if !upstream.chars().all(ok) || !revision.chars().all(|c| c != '-' && c != ':' && ok(c)) {
            return Err(bad("it contains a character dpkg does not allow"));
        }
        if upstream.len() > u32::MAX as usize {
            return Err(bad("it is too long"));
        }
        Ok(Self::of(epoch, upstream, revision))
    }
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| verrevcmp(self.revision(), other.revision()))
    }
}
impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DebVersion {
    /// As dpkg writes it: the epoch when it is not 0 — or when the upstream version holds a `:`,
    /// which only an epoch in front keeps from being read as one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 || self.upstream().contains(':') {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(self.upstream())?;
        if !self.revision().is_empty() {
            write!(f, "-{}", self.revision())?;
        }
        Ok(())
    }
}

fn order(c: u8) -> i32 {
    match c {
        0 => 0,
        c if c.is_ascii_digit() => 0,
        c if c.is_ascii_alphabetic() => c as i32,
        b'~' => -1,
        c => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == b'0' {
            i += 1;
        }
        while at(b, j) == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while at(a, i).is_ascii_digit() && at(b, j).is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if at(a, i).is_ascii_digit() {
            return Ordering::Greater;
        }
        if at(b, j).is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Cases from dpkg's `lib/dpkg/t/t-version.c` and Debian Policy §5.6.12.
    #[rstest]
    #[case("0:0-0", "0:0-0", 0)]
    #[case("0:0-0", "0:0", 0)]
    #[case("1.0", "1.0-0", 0)]
    #[case("1:0", "0:0", 1)]
    #[case("1:0", "2", 1)]
    #[case("0:1.0", "0:2.0", -1)]
    #[case("1.0~rc1", "1.0", -1)]
    #[case("1.0~", "1.0", -1)]
    #[case("1.0~~", "1.0~", -1)]
    #[case("1.0~~a", "1.0~", -1)]
    #[case("1.0~~", "1.0~~a", -1)]
    #[case("1.0+", "1.0", 1)]
    #[case("1.0a", "1.0.1", -1)]
    #[case("1.0a", "1.0+", -1)]
    #[case("1.2.3", "1.2.3a", -1)]
    #[case("2.30", "2.3", 1)]
    #[case("2.3-1", "2.30-1", -1)]
    #[case("1.0-1", "1.0-1ubuntu1", -1)]
    #[case("009", "9", 0)]
    #[case("1:5.18.7-3", "1:5.18", 1)]
    #[case("1:4.2.8p4+dfsg-3ubuntu5.9", "1:4.2.8p4+dfsg-3ubuntu5.10", -1)]
    #[case("1:4.2.8p4+dfsg-3ubuntu5", "1:4.2.8p4+dfsg-3ubuntu5.9", -1)]
    #[case("2.11-20080614", "3.1-20150325-1", -1)]
    fn verrevcmp_matches_dpkg(#[case] a: &str, #[case] b: &str, #[case] expected: i8) {
        let (va, vb): (DebVersion, DebVersion) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(va.cmp(&vb), expected.cmp(&0), "{a} vs {b}");
    }

    /// Found by the `versions` fuzz target: `1:4.2g-3ubun.8p4+dfsg-` parsed with an empty
    /// revision, printed without the dash, and read back as another version.
    /// Found by the `versions` fuzz target: `0:4.2.2pd3:gf+smubutu5.9` printed without its `0:`,
    /// and `4.2.2pd3` then read as an epoch.
    #[test]
    fn a_colon_in_the_upstream_version_keeps_its_epoch_when_printed() {
        let v: DebVersion = "0:4.2.2pd3:gf+smubutu5.9".parse().unwrap();
        assert_eq!(v.to_string(), "0:4.2.2pd3:gf+smubutu5.9");
        assert_eq!(v.to_string().parse::<DebVersion>().unwrap(), v);
    }

    #[test]
    fn an_empty_revision_is_refused() {
        assert!("1:4.2g-3ubun.8p4+dfsg-".parse::<DebVersion>().is_err());
        assert!("1.0-".parse::<DebVersion>().is_err());
        let v: DebVersion = "1.0-a-1".parse().unwrap();
        assert_eq!(v.to_string().parse::<DebVersion>().unwrap(), v);
    }

    #[test]
    fn parses_epoch_upstream_revision() {
        let v: DebVersion = "1:4.2.8p4+dfsg-3ubuntu5.9".parse().unwrap();
        assert_eq!((v.epoch, v.upstream(), v.revision()), (1, "4.2.8p4+dfsg", "3ubuntu5.9"));
        assert_eq!(v.to_string(), "1:4.2.8p4+dfsg-3ubuntu5.9");
        let v: DebVersion = "2.11-20080614-1".parse().unwrap();
        assert_eq!(v.upstream(), "2.11-20080614");
    }

    #[rstest]
    #[case("")]
    #[case("a1.0")]
    #[case("x:1.0")]
    #[case("1.0 2")]
    #[case("1.0-a_b")]
    fn refuses_malformed(#[case] s: &str) {
        assert!(s.parse::<DebVersion>().is_err(), "{s}");
    }
}
