//! The composition root: one [`Backend`] per package [`Family`], holding everything that family
//! knows — repository format, dependency syntax, resolve policy, architecture model, package files, installer,
//! package URLs. A command asks here once ([`backend`]; [`crate::commands::Session`] holds it)
//! and hands the parts to the stages; no stage imports this module or branches on the family.

use std::path::Path;

use crate::bundle::sbom::{DebPurl, PurlScheme, RpmPurl};
use crate::install::{dpkg::Dpkg, rpm::Rpm, Installer};
use crate::pkgfile::{deb::DebFile, rpm::RpmFile, PackageFile};
use crate::policy::{DebPolicy, ResolvePolicy, RpmPolicy};
use crate::repo::{apt::Apt, yum::Yum, MetadataFormat};
use moa_model::arch::{ArchModel, DebArch, RpmArch};
use moa_model::deps::{DebSyntax, DepSyntax, RpmSyntax};
use moa_model::manifest::Family;

/// Everything one package family knows.
pub struct Backend {
    pub family: Family,
    pub metadata: &'static dyn MetadataFormat,
    pub syntax: &'static dyn DepSyntax,
    pub policy: &'static dyn ResolvePolicy,
    pub arch: &'static dyn ArchModel,
    pub package_file: &'static dyn PackageFile,
    pub installer: &'static dyn Installer,
    pub purl: &'static dyn PurlScheme,
}

static RPM: Backend = Backend {
    family: Family::Rpm,
    metadata: &Yum,
    syntax: &RpmSyntax,
    policy: &RpmPolicy,
    arch: &RpmArch,
    package_file: &RpmFile,
    installer: &Rpm,
    purl: &RpmPurl,
};

static DEB: Backend = Backend {
    family: Family::Deb,
    metadata: &Apt,
    syntax: &DebSyntax,
    policy: &DebPolicy,
    arch: &DebArch,
    package_file: &DebFile,
    installer: &Dpkg,
    purl: &DebPurl,
};

/// Every backend, in the order a root is probed for one (dpkg first: a Debian root may also
/// hold an rpm database, never the other way round).
pub(crate) const ALL: [&Backend; 2] = [&DEB, &RPM];

pub fn backend(f: Family) -> &'static Backend {
    match f {
        Family::Rpm => &RPM,
        Family::Deb => &DEB,
    }
}

/// The family whose package database the root under `root` has.
pub(crate) fn detect(root: &Path) -> Option<&'static Backend> {
    ALL.into_iter().find(|b| b.installer.detect(root))
}

/// The family's own checks on a manifest: its repositories' fields, its module streams.
pub(crate) fn check_manifest(m: &moa_model::manifest::Manifest) -> Result<(), moa_model::manifest::ManifestError> {
    m.check_family(backend(m.family).metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_manifest_passes_its_familys_checks() {
        for d in moa_model::manifest::builtin_names() {
            let m = moa_model::manifest::Manifest::builtin(d).unwrap();
            check_manifest(&m).unwrap_or_else(|e| panic!("{d}: {e}"));
        }
    }
}
