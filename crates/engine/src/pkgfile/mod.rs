//! Package files: who a `.rpm` or `.deb` file says it is, read from its own header, one reader
//! per family behind [`PackageFile`]. The verifier compares that identity with the bundle's
//! index before any package tool sees the file, so a file that is not a package, or is another
//! package than the index claims, never reaches `rpm` or `dpkg`.
//!
//! Headers are read with a size bound ([`moa_model::limits::HEADER_BYTES`]); nothing is unpacked.

pub(crate) mod deb;
pub(crate) mod rpm;

use std::path::Path;

/// What a package file's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    /// In the family's own spelling (`1:4.2.8p4+dfsg-3ubuntu5.9`, `4.2.6p5-29.el7.centos.2`).
    pub version: moa_model::version::Version,
    pub arch: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.name, self.version, self.arch)
    }
}

/// What installing a package file puts on a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// What the package's header says its files take (deb: `Installed-Size`; rpm: `SIZE`).
    pub installed_bytes: u64,
    /// Every path it brings, absolute, without a trailing slash (directories included).
    pub paths: Vec<String>,
}

/// Paths as a package lists them (`./etc/ntpsec/`, `etc/ntpsec`, `/etc/ntpsec`) in one spelling:
/// `/etc/ntpsec`.
pub(crate) fn node_path(raw: &str) -> String {
    let p = raw.trim_start_matches('.').trim_matches('/');
    format!("/{p}")
}

#[derive(Debug, thiserror::Error)]
pub enum PackageFileError {
    #[error("could not read it")]
    Io(#[from] std::io::Error),
    #[error("it is not {kind} package: {why}")]
    NotAPackage { kind: &'static str, why: String },
    #[error("it carries no signature: an unsigned package is refused (sign it with rpmsign, or build with --insecure-skip-signatures)")]
    Unsigned,
    #[error("its payload is not the one its signed header describes (payload digest {expected}, the file's payload {actual}): the package was altered after it was signed")]
    PayloadAltered { expected: String, actual: String },
    #[error("its payload is covered by no signature: the header signature covers only the header, which carries no payload digest, and there is no header+payload signature. Sign it with a current rpmsign, or build with --insecure-skip-signatures")]
    PayloadUnsigned,
    #[error(transparent)]
    Signature(#[from] crate::trust::TrustError),
}

impl PackageFileError {
    pub(crate) fn not(kind: &'static str, why: impl Into<String>) -> Self {
        Self::NotAPackage { kind, why: why.into() }
    }
}

/// Reads a package file's identity, and checks its own signature where the format has one.
pub trait PackageFile: Sync {
    fn identify(&self, path: &Path) -> Result<Identity, PackageFileError>;

    /// What the file installs: its size on disk and its paths (read from the header's file list
    /// or the data member's entries; nothing is unpacked). Bounded by
    /// [`moa_model::limits::CONTENT_PATHS`] paths.
    fn contents(&self, path: &Path) -> Result<Contents, PackageFileError>;

    /// The package's own signature by a pinned key (rpm headers); `None` for formats whose
    /// files are unsigned (a .deb is trusted through the signed index that lists its sha256).
    fn check_signature(
        &self,
        path: &Path,
        keyring: &crate::trust::Keyring,
    ) -> Result<Option<crate::trust::Signed>, PackageFileError>;
}
