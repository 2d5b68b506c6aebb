//! rpm's `[epoch:]version[-release]` and its ordering, a port of `rpmvercmp()` from rpm 4.18
//! (`rpmio/rpmvercmp.c`), including `~` (sorts before everything) and `^` (after the end, before
//! anything else).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why an EVR string was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not an rpm version: {why} (expected [epoch:]version[-release], e.g. 0:4.2.6p5-29.el7)")]
pub struct EvrError {
    text: String,
    why: &'static str,
}

/// An rpm epoch-version-release. A missing epoch is 0; a missing release matters only in
/// requirements, where it matches any release.
///
/// In `bundle.json` (schema 2) it is its parts, `{"epoch": 0, "version": "1.0", "release": "1"}`,
/// read back only when they are exactly what parsing their text gives.
///
/// The version and the release share one string, held inline up to 24 bytes (every rpm record
/// holds one). rpm keeps an epoch in 32 bits, and so does this.
#[derive(Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "EvrParts")]
pub struct Evr {
    pub epoch: u32,
    /// Where the version ends in `text`, which holds it and then the release; the top bit is
    /// set when there is a release.
    split: u32,
    text: compact_str::CompactString,
}

/// The bit of [`Evr`]'s `split` that says a release follows the version.
const HAS_RELEASE: u32 = 1 << 31;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvrParts {
    epoch: u64,
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    release: Option<String>,
}

impl fmt::Debug for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (epoch, version, release) = (self.epoch, self.version(), self.release());
        f.debug_struct("Evr").field("epoch", &epoch).field("version", &version).field("release", &release).finish()
    }
}

impl serde::Serialize for Evr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parts = EvrParts {
            epoch: self.epoch.into(),
            version: self.version().to_string(),
            release: self.release().map(str::to_string),
        };
        parts.serialize(s)
    }
}

impl TryFrom<EvrParts> for Evr {
    type Error = EvrError;
    fn try_from(p: EvrParts) -> Result<Self, EvrError> {
        let v = Evr::new(p.epoch, &p.version, p.release.as_deref())?;
        let release = v.release().map(|r| format!("-{r}")).unwrap_or_default();
        let text = format!("{}:{}{release}", v.epoch, v.version());
        match text.parse::<Evr>()? {
            parsed if parsed == v => Ok(v),
            _ => Err(EvrError { text, why: "its parts do not read back as themselves" }),
        }
    }
}

impl Evr {
    pub fn new(epoch: u64, version: &str, release: Option<&str>) -> Result<Self, EvrError> {
        let bad = |why| EvrError { text: format!("{epoch}:{version}-{}", release.unwrap_or("")), why };
        if version.is_empty() {
            return Err(bad("the version is empty"));
        }
        // rpm splits an EVR string at the last `-` and accepts what is left (CentOS 7's httpd
        // provides `httpd-mmn = 20120211-x86-64`), so only whitespace and control characters
        // (a NUL would end rpm's C string) are refused here.
        // `:` ends the epoch wherever it stands, so rpm allows none in a version or release.
        let odd = |c: char| c.is_whitespace() || c.is_control() || c == ':';
        if version.contains(odd) {
            return Err(bad("the version contains whitespace, a control character or a `:`"));
        }
        if release.is_some_and(|r| r.is_empty() || r.contains(odd)) {
            return Err(bad("the release is empty or contains whitespace, a control character or a `:`"));
        }
        let epoch = u32::try_from(epoch).map_err(|_| bad("the epoch is above 4294967295"))?;
        let split = u32::try_from(version.len())
            .ok()
            .filter(|&n| n < HAS_RELEASE)
            .ok_or_else(|| bad("the version is too long"))?;
        let mut text = compact_str::CompactString::with_capacity(version.len() + release.map_or(0, str::len));
        text.push_str(version);
        text.push_str(release.unwrap_or(""));
        Ok(Self { epoch, split: split | if release.is_some() { HAS_RELEASE } else { 0 }, text })
    }

    /// The version (`4.2.6p5` of `4.2.6p5-29.el7`).
    pub fn version(&self) -> &str {
        &self.text[..(self.split & !HAS_RELEASE) as usize]
    }

    /// The release (`29.el7`), when there is one.
    pub fn release(&self) -> Option<&str> {
        (self.split & HAS_RELEASE != 0).then(|| &self.text[(self.split & !HAS_RELEASE) as usize..])
    }

    /// Compares like rpm's `rpmdsCompare`: the release counts only when both sides have one.
    pub fn cmp_for_requirement(&self, required: &Evr) -> Ordering {
        self.epoch.cmp(&required.epoch).then_with(|| rpmvercmp(self.version(), required.version())).then_with(
            || match (self.release(), required.release()) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            },
        )
    }
}

impl FromStr for Evr {
    type Err = EvrError;
    fn from_str(s: &str) -> Result<Self, EvrError> {
        let bad = |why| EvrError { text: s.to_string(), why };
        let (epoch, rest) = match s.split_once(':') {
            Some(("", rest)) => (0, rest),
            Some((e, rest)) => (e.parse::<u64>().map_err(|_| bad("the epoch is not a number"))?, rest),
            None => (0, s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        Evr::new(epoch, version, release).map_err(|e| EvrError { text: s.to_string(), why: e.why })
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(self.version(), other.version()))
            .then_with(|| rpmvercmp(self.release().unwrap_or(""), other.release().unwrap_or("")))
    }
}
impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Evr {
    /// `version-release`, with `epoch:` in front only when it is not 0 (as rpm prints it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(self.version())?;
        if let Some(r) = self.release() {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

/// rpm's segment-wise version comparison. Like rpm's, it compares C strings: a NUL ends one.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    fn c_str(s: &str) -> &str {
        s.find('\0').map_or(s, |n| &s[..n])
    }
    let (a, b) = (c_str(a), c_str(b));
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let is_sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while is_sep(at(a, i)) {
            i += 1;
        }
        while is_sep(at(b, j)) {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'~' || cb == b'~' {
            if ca != b'~' {
                return Ordering::Greater;
            }
            if cb != b'~' {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == b'^' || cb == b'^' {
            if ca == 0 {
                return Ordering::Less;
            }
            if cb == 0 {
                return Ordering::Greater;
            }
            if ca != b'^' {
                return Ordering::Greater;
            }
            if cb != b'^' {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == 0 || cb == 0 {
            break;
        }
        let numeric = ca.is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while class(at(a, i)) {
            i += 1;
        }
        while class(at(b, j)) {
            j += 1;
        }
        let (mut seg_a, mut seg_b) = (&a[si..i], &b[sj..j]);
        // `si == i` cannot happen: `ca` is alphanumeric and starts its own segment.
        if seg_b.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        if numeric {
            while seg_a.first() == Some(&b'0') {
                seg_a = &seg_a[1..];
            }
            while seg_b.first() == Some(&b'0') {
                seg_b = &seg_b[1..];
            }
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Found by the `versions` fuzz target: a NUL was the end of one string and not of the
    /// other, so `a > b` and `b > a` both held.
    #[test]
    fn a_nul_ends_the_string_on_both_sides() {
        let (a, b) = ("1.0~rc;", "\0\0\0\u{0}1.0");
        assert_eq!(rpmvercmp(a, b), rpmvercmp(b, a).reverse());
        assert!("\0\u{0}1.0".parse::<Evr>().is_err() && "1.0-1\u{7}".parse::<Evr>().is_err());
    }

    /// Found by the `versions` fuzz target: `:14p)1:4p)g-3u` (epoch 0) printed as `14p)1:4p)g-3u`,
    /// whose `14p)1` then read as an epoch.
    #[test]
    fn a_colon_after_the_epoch_is_refused() {
        assert!(":14p)1:4p)g-3u".parse::<Evr>().is_err() && "1:2:3-4".parse::<Evr>().is_err());
        let v: Evr = "1:4.2.6p5-29.el7".parse().unwrap();
        assert_eq!(v.to_string().parse::<Evr>().unwrap(), v);
    }

    /// The cases of rpm's own `tests/rpmvercmp.at` (rpm 4.18).
    #[rstest]
    #[case("1.0", "1.0", 0)]
    #[case("1.0", "2.0", -1)]
    #[case("2.0", "1.0", 1)]
    #[case("2.0.1", "2.0.1", 0)]
    #[case("2.0", "2.0.1", -1)]
    #[case("2.0.1", "2.0", 1)]
    #[case("2.0.1a", "2.0.1a", 0)]
    #[case("2.0.1a", "2.0.1", 1)]
    #[case("2.0.1", "2.0.1a", -1)]
    #[case("5.5p1", "5.5p1", 0)]
    #[case("5.5p1", "5.5p2", -1)]
    #[case("5.5p2", "5.5p1", 1)]
    #[case("5.5p10", "5.5p10", 0)]
    #[case("5.5p1", "5.5p10", -1)]
    #[case("5.5p10", "5.5p1", 1)]
    #[case("10xyz", "10.1xyz", -1)]
    #[case("10.1xyz", "10xyz", 1)]
    #[case("xyz10", "xyz10", 0)]
    #[case("xyz10", "xyz10.1", -1)]
    #[case("xyz10.1", "xyz10", 1)]
    #[case("xyz.4", "xyz.4", 0)]
    #[case("xyz.4", "8", -1)]
    #[case("8", "xyz.4", 1)]
    #[case("xyz.4", "2", -1)]
    #[case("2", "xyz.4", 1)]
    #[case("5.5p2", "5.6p1", -1)]
    #[case("5.6p1", "5.5p2", 1)]
    #[case("5.6p1", "6.5p1", -1)]
    #[case("6.5p1", "5.6p1", 1)]
    #[case("6.0.rc1", "6.0", 1)]
    #[case("6.0", "6.0.rc1", -1)]
    #[case("10b2", "10a1", 1)]
    #[case("10a2", "10b2", -1)]
    #[case("1.0aa", "1.0aa", 0)]
    #[case("1.0a", "1.0aa", -1)]
    #[case("1.0aa", "1.0a", 1)]
    #[case("10.0001", "10.0001", 0)]
    #[case("10.0001", "10.1", 0)]
    #[case("10.1", "10.0001", 0)]
    #[case("10.0001", "10.0039", -1)]
    #[case("10.0039", "10.0001", 1)]
    #[case("4.999.9", "5.0", -1)]
    #[case("5.0", "4.999.9", 1)]
    #[case("20101121", "20101121", 0)]
    #[case("20101121", "20101122", -1)]
    #[case("20101122", "20101121", 1)]
    #[case("2_0", "2_0", 0)]
    #[case("2.0", "2_0", 0)]
    #[case("2_0", "2.0", 0)]
    #[case("a", "a", 0)]
    #[case("a+", "a+", 0)]
    #[case("a+", "a_", 0)]
    #[case("a_", "a+", 0)]
    #[case("+a", "+a", 0)]
    #[case("+a", "_a", 0)]
    #[case("_a", "+a", 0)]
    #[case("+_", "+_", 0)]
    #[case("_+", "+_", 0)]
    #[case("_+", "_+", 0)]
    #[case("+", "_", 0)]
    #[case("_", "+", 0)]
    #[case("1.0~rc1", "1.0~rc1", 0)]
    #[case("1.0~rc1", "1.0", -1)]
    #[case("1.0", "1.0~rc1", 1)]
    #[case("1.0~rc1", "1.0~rc2", -1)]
    #[case("1.0~rc2", "1.0~rc1", 1)]
    #[case("1.0~rc1~git123", "1.0~rc1~git123", 0)]
    #[case("1.0~rc1~git123", "1.0~rc1", -1)]
    #[case("1.0~rc1", "1.0~rc1~git123", 1)]
    #[case("1.0^", "1.0^", 0)]
    #[case("1.0^", "1.0", 1)]
    #[case("1.0", "1.0^", -1)]
    #[case("1.0^git1", "1.0^git1", 0)]
    #[case("1.0^git1", "1.0", 1)]
    #[case("1.0", "1.0^git1", -1)]
    #[case("1.0^git1", "1.0^git2", -1)]
    #[case("1.0^git2", "1.0^git1", 1)]
    #[case("1.0^git1", "1.01", -1)]
    #[case("1.01", "1.0^git1", 1)]
    #[case("1.0^20160101", "1.0^20160101", 0)]
    #[case("1.0^20160101", "1.0.1", -1)]
    #[case("1.0.1", "1.0^20160101", 1)]
    #[case("1.0^20160101^git1", "1.0^20160101^git1", 0)]
    #[case("1.0^20160102", "1.0^20160101^git1", 1)]
    #[case("1.0^20160101^git1", "1.0^20160102", -1)]
    #[case("1.0~rc1^git1", "1.0~rc1^git1", 0)]
    #[case("1.0~rc1^git1", "1.0~rc1", 1)]
    #[case("1.0~rc1", "1.0~rc1^git1", -1)]
    #[case("1.0^git1~pre", "1.0^git1~pre", 0)]
    #[case("1.0^git1", "1.0^git1~pre", 1)]
    #[case("1.0^git1~pre", "1.0^git1", -1)]
    #[case("1b.fc17", "1b.fc17", 0)]
    #[case("1b.fc17", "1.fc17", -1)]
    #[case("1.fc17", "1b.fc17", 1)]
    #[case("1g.fc17", "1g.fc17", 0)]
    #[case("1g.fc17", "1.fc17", 1)]
    #[case("1.fc17", "1g.fc17", -1)]
    fn rpmvercmp_matches_rpm_test_suite(#[case] a: &str, #[case] b: &str, #[case] expected: i8) {
        assert_eq!(rpmvercmp(a, b), expected.cmp(&0), "rpmvercmp({a}, {b})");
    }

    #[rstest]
    #[case("0:4.2.6p5-29.el7.centos.2", "4.2.6p5-28.el7.centos", 1)]
    #[case("1:1.0-1", "2.0-1", 1)]
    #[case("5.18-5.el7", "0:5.18-5.el7", 0)]
    #[case("4.2.6p5-29.el7", "4.2.6p5-29.el7.centos.2", -1)]
    fn evr_orders_epoch_then_version_then_release(#[case] a: &str, #[case] b: &str, #[case] expected: i8) {
        let (a, b): (Evr, Evr) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(a.cmp(&b), expected.cmp(&0));
    }

    #[test]
    fn requirement_without_release_matches_any_release() {
        let have: Evr = "4.2.6p5-29.el7".parse().unwrap();
        let want: Evr = "4.2.6p5".parse().unwrap();
        assert_eq!(have.cmp_for_requirement(&want), Ordering::Equal);
        assert_eq!(have.cmp(&want), Ordering::Greater);
    }

    /// Regression: httpd in CentOS 7.9 provides `httpd-mmn = 0:20120211-x86-64`; refusing the
    /// `-` in what rpm reads as the version made every request that pulls httpd fail.
    #[test]
    fn evr_strings_split_at_the_last_dash_like_rpm() {
        let e: Evr = "0:20120211-x86-64".parse().unwrap();
        assert_eq!((e.version(), e.release()), ("20120211-x86", Some("64")));
        let want: Evr = "20120211-x86-64".parse().unwrap();
        assert_eq!(e.cmp_for_requirement(&want), Ordering::Equal);
    }

    #[test]
    fn bad_evrs_are_refused_with_the_text() {
        let e = "x:1.0".parse::<Evr>().unwrap_err().to_string();
        assert!(e.contains("`x:1.0`") && e.contains("epoch"), "{e}");
        assert!("".parse::<Evr>().is_err());
    }

    /// rpm keeps an epoch in 32 bits: the largest reads back, one more is refused by name.
    #[test]
    fn an_epoch_past_32_bits_is_refused() {
        let e: Evr = "4294967295:1.0-1".parse().unwrap();
        assert_eq!((e.epoch, e.version(), e.release()), (u32::MAX, "1.0", Some("1")));
        assert_eq!(e.to_string(), "4294967295:1.0-1");
        let e = "4294967296:1.0-1".parse::<Evr>().unwrap_err().to_string();
        assert!(e.contains("epoch"), "{e}");
        let plain: Evr = "1.0".parse().unwrap();
        assert_eq!((plain.version(), plain.release()), ("1.0", None));
    }
}
