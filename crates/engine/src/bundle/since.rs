//! Differential bundles (`build --since OLD`): of the resolved set, only the packages OLD's lock
//! does not hold byte for byte (same name, version, arch and sha256) are packed; the ones it
//! does hold are recorded as what the node must already have. A package OLD had that the new set
//! replaces or no longer needs is neither: the new one upgrades it, or it stays as it is.

use serde::{Deserialize, Serialize};

use super::lock::Lock;
use super::BundleIndex;
use moa_model::types::{Arch, Line, PackageName};
use moa_model::version::Version;

/// [`BundleIndex::since`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Since {
    /// Which bundle this one follows: OLD's `name-distro-arch` and its lock's digest.
    pub base: Line,
    /// OLD's packages that this bundle's set still holds: the node must have each installed.
    pub expects: Vec<Expected>,
}

/// One package the node must already have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Expected {
    pub name: PackageName,
    /// Its parts, as [`super::BundlePackage::version`] (bundle.json schema 2).
    pub version: Version,
    pub arch: Arch,
}

/// Keeps in `index.packages` (and `records`, in the same order) only what `old` does not hold;
/// records the rest in `index.since`. Returns how many packages were left out.
pub(crate) fn keep_new<T>(index: &mut BundleIndex, records: &mut Vec<T>, old: &Lock, base: Line) -> usize {
    let in_old = |p: &super::BundlePackage| {
        old.packages.iter().any(|o| {
            o.name == p.name && o.version.as_str() == p.version.to_string() && o.arch == p.arch && o.sha256 == p.sha256
        })
    };
    let mut expects = Vec::new();
    let mut kept = Vec::new();
    for (p, r) in std::mem::take(&mut index.packages).into_iter().zip(std::mem::take(records)) {
        if in_old(&p) {
            expects.push(Expected { name: p.name, version: p.version, arch: p.arch });
        } else {
            index.packages.push(p);
            kept.push(r);
        }
    }
    *records = kept;
    let left_out = expects.len();
    index.since = Some(Since { base, expects });
    left_out
}
