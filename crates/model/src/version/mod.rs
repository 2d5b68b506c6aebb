//! Version ordering for both package families: rpm's EVR ([`Evr`], rpmvercmp) and Debian's
//! `[epoch:]upstream[-revision]` ([`DebVersion`], dpkg's verrevcmp).
//!
//! [`Version`] wraps one or the other so records from either family share one type; comparing an
//! rpm version with a deb version is a bug in the caller and orders rpm first. Parsing and ordering
//! only: which version satisfies a dependency is [`crate::resolve`]'s business.

mod deb;
mod rpm;

use std::cmp::Ordering;
use std::fmt;

pub use deb::{DebVersion, DebVersionError};
pub use rpm::{rpmvercmp, Evr, EvrError};

/// A package version of either family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
