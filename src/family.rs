//! The one place that maps a package [`Family`] to its implementations: repository format,
//! dependency syntax, package files and installer. Every stage asks here instead of branching on
//! the family.

use crate::bundle::sbom::{DebPurl, PurlScheme, RpmPurl};
use crate::install::{dpkg::Dpkg, rpm::Rpm, Installer};
use crate::manifest::Family;
use crate::pkgfile::{deb::DebFile, rpm::RpmFile, PackageFile};
use crate::repo::{apt::Apt, yum::Yum, MetadataFormat};
use crate::resolve::deps::{DebSyntax, DepSyntax, RpmSyntax};

pub fn metadata_format(f: Family) -> &'static dyn MetadataFormat {
    match f {
        Family::Rpm => &Yum,
        Family::Deb => &Apt,
    }
}

pub fn dep_syntax(f: Family) -> &'static dyn DepSyntax {
    match f {
        Family::Rpm => &RpmSyntax,
        Family::Deb => &DebSyntax,
    }
}

pub fn installer(f: Family) -> &'static dyn Installer {
    match f {
        Family::Rpm => &Rpm,
        Family::Deb => &Dpkg,
    }
}

pub fn purl_scheme(f: Family) -> &'static dyn PurlScheme {
    match f {
        Family::Rpm => &RpmPurl,
        Family::Deb => &DebPurl,
    }
}

pub fn package_file(f: Family) -> &'static dyn PackageFile {
    match f {
        Family::Rpm => &RpmFile,
        Family::Deb => &DebFile,
    }
}
