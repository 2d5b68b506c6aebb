//! Version ordering for both package families: rpm's EVR ([`Evr`], rpmvercmp) and Debian's
//! `[epoch:]upstream[-revision]` ([`DebVersion`], dpkg's verrevcmp).
//!
//! [`Version`] wraps one or the other so records from either family share one type; comparing an
//! rpm version with a deb version is a bug in the caller and orders rpm first. Parsing and ordering
//! only: which version satisfies a dependency is the engine's resolver's business.

mod deb;
mod rpm;

use std::cmp::Ordering;
use std::fmt;

pub use deb::{DebVersion, DebVersionError};
pub use rpm::{rpmvercmp, Evr, EvrError};

/// A package version of either family. In `bundle.json` (schema 2) it is tagged with its family:
/// `{"deb": {"epoch": 2, "upstream": "2.10", "revision": "3"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    Rpm(Evr),
    Deb(DebVersion),
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp(b),
            (Version::Deb(a), Version::Deb(b)) => a.cmp(b),
            (Version::Rpm(_), Version::Deb(_)) => Ordering::Less,
            (Version::Deb(_), Version::Rpm(_)) => Ordering::Greater,
        }
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Rpm(v) => v.fmt(f),
            Version::Deb(v) => v.fmt(f),
        }
    }
}

impl Version {
    /// Compares for a dependency check: like `cmp`, except that an rpm requirement written without
    /// a release (`foo >= 1.2`) matches every release of that version, as rpm does.
    pub fn cmp_for_requirement(&self, required: &Version) -> Ordering {
        match (self, required) {
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp_for_requirement(b),
            _ => self.cmp(required),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(s: &str) -> Version {
        Version::Deb(s.parse().unwrap())
    }
    fn rpm(s: &str) -> Version {
        Version::Rpm(s.parse().unwrap())
    }

    #[test]
    fn versions_are_their_parts_in_json_and_read_back_as_themselves() {
        for (v, json) in [
            (deb("2:2.10-3"), r#"{"deb":{"epoch":2,"upstream":"2.10","revision":"3"}}"#),
            (deb("1.0"), r#"{"deb":{"epoch":0,"upstream":"1.0"}}"#),
            (
                deb("1:4.2.8p4+dfsg-3ubuntu5.9"),
                r#"{"deb":{"epoch":1,"upstream":"4.2.8p4+dfsg","revision":"3ubuntu5.9"}}"#,
            ),
            (rpm("1:4.2.6p5-29.el7"), r#"{"rpm":{"epoch":1,"version":"4.2.6p5","release":"29.el7"}}"#),
            (rpm("1.0"), r#"{"rpm":{"epoch":0,"version":"1.0"}}"#),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            let back: Version = serde_json::from_str(json).unwrap();
            assert_eq!(back, v);
            assert_eq!(back.to_string(), v.to_string());
        }
    }

    /// Parts a crafted bundle.json could give that are no version, or another one once printed.
    #[test]
    fn parts_that_do_not_read_back_are_refused() {
        for json in [
            r#"{"rpm":{"epoch":0,"version":"1.0-1"}}"#,
            r#"{"rpm":{"epoch":0,"version":"1.0","release":""}}"#,
            r#"{"rpm":{"epoch":0,"version":"1 0"}}"#,
            r#"{"deb":{"epoch":0,"upstream":"x1.0"}}"#,
            r#"{"deb":{"epoch":0,"upstream":"1.0","revision":"a-b"}}"#,
            r#"{"deb":{"epoch":0,"upstream":"1.0","revision":"1","extra":1}}"#,
            r#"{"deb":{"epoch":0,"upstream":""}}"#,
            r#"{"zip":{"epoch":0,"upstream":"1"}}"#,
        ] {
            assert!(serde_json::from_str::<Version>(json).is_err(), "{json} was read");
        }
    }
}
