//! One function per CLI command, stringing the stages together: `resolve`, `inspect`, `verify`
//! and `distros` here, [`build`] (resolve, fetch and pack at once; and `lock`) and [`install_cmd`]
//! (with a [`Configure`] for the service set up with the packages). Each returns a serializable report; printing is `main`'s job.

mod approve;
mod build;
mod install;
mod keys;
mod review;
mod rollback;
mod session;
mod undo;

pub use approve::{approve_cmd, ApproveReport};
pub use build::{build, lock, BuildOptions, BuildReport, InstallerChoice, LockOptions, LockReport, RollbackOptions};
pub use install::{install_cmd, lock_root, Configure, InstallCmdOptions, InstallReport, ServiceError};
pub use keys::fetch_keys;
pub use review::{review_cmd, Baseline, Change as ReviewChange, ReviewReport};
pub(crate) use session::{free_later, load_and_resolve, load_metadata, Session};
pub use undo::{undo_cmd, UndoOptions, UndoReport};

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::plan::Resolved;
use crate::bundle::verify::{self, VerifyError};
use crate::bundle::{pack, BundleIndex};
use crate::cache::CacheError;
use crate::family;
use crate::fetch::FetchError;
use crate::install::InstallError;
use crate::probe::{NodeProfile, ProbeError};
use crate::repo::{RepoError, Signatures};
use crate::report::Reporter;
use crate::resolve::{self, ResolveError};
use crate::transport::{Transport, TransportError};
use moa_model::manifest::{Manifest, ManifestError};
use moa_model::types::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    KeyFetch(#[from] keys::KeyFetchError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Parts(#[from] crate::bundle::parts::PartsError),
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Plan(#[from] crate::bundle::plan::PlanError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Signature(#[from] crate::bundle::sign::SignError),
    #[error(transparent)]
    LockFile(#[from] crate::bundle::lock::LockError),
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The service configured with the packages ([`Configure`]) failed; its error is the source.
    #[error(transparent)]
    Service(ServiceError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Sbom(#[from] crate::bundle::sbom::SbomError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Approval(#[from] crate::bundle::approval::ApprovalError),
    #[error(transparent)]
    Undo(Box<crate::ledger::undo::UndoError>),
    #[error(transparent)]
    Rollback(#[from] rollback::RollbackError),
    #[error("{error}\nThe ledger could not record this failed install either: {ledger}")]
    NotRecorded { error: Box<CommandError>, ledger: crate::ledger::LedgerError },
    #[error("could not write {what}: check that the directory exists and is writable")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// One package of a plan, as shown to people and scripts.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub size: u64,
    pub repository: String,
    pub file: String,
    pub requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<String>,
    pub why: Vec<crate::resolve::WhyStep>,
}

/// What `resolve` found.
#[derive(Debug, Clone, Serialize)]
pub struct ResolveReport {
    pub distro: String,
    pub manifest: String,
    pub packages: Vec<PlanItem>,
    pub total_size: u64,
    pub base_packages: usize,
    pub notes: Vec<crate::resolve::Note>,
    /// `--why PKG`: every chain from a requested package to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<Vec<Vec<String>>>,
    /// `--why-not PKG`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<resolve::why::WhyNot>,
}

/// Where a command gets repository data: the cache directory, and whether the network is off.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub cache_dir: PathBuf,
    pub offline: bool,
    pub no_base: bool,
    /// Node profiles (`probe -o`): resolve against each node's real packages instead of the
    /// manifest's base, and pack the union of what any of them lacks.
    pub targets: Vec<PathBuf>,
    /// How long a transfer may make no progress before the next mirror is tried.
    pub stall: std::time::Duration,
    /// Whether upstream signatures are checked (`--insecure-skip-signatures` turns them off).
    pub signatures: Signatures,
    /// `--allow-old-metadata`: accept an expired Release, or one older than seen before.
    pub allow_old_metadata: bool,
    /// Keep each package's published index entry: a build writing the bundle's own repository
    /// needs them (see [`crate::repo::PackageRecord::entry`]).
    pub keep_entries: bool,
}

/// The manifest's family-specific checks (repository fields, module streams), once the flags
/// have changed it.
pub fn check_manifest(manifest: &Manifest) -> Result<(), CommandError> {
    Ok(family::check_manifest(manifest)?)
}

fn plan_items(r: &Resolved) -> Vec<PlanItem> {
    r.plan
        .entries
        .iter()
        .map(|e| {
            let p = &r.metadata.packages[e.package];
            PlanItem {
                name: p.name.to_string(),
                version: p.version.to_string(),
                arch: p.arch.to_string(),
                size: p.size,
                repository: r.metadata.repos[p.repo].name.clone(),
                file: p.file_name().to_string(),
                requested: e.requested,
                upgrades: e.upgrades.clone(),
                why: e.why.clone(),
            }
        })
        .collect()
}

/// `resolve --why PKG` / `--why-not PKG`.
#[derive(Debug, Clone, Default)]
pub struct Explain {
    pub why: Option<String>,
    pub why_not: Option<String>,
}

pub fn resolve_cmd(
    manifest: &Manifest,
    opts: &SourceOptions,
    explain: &Explain,
    reporter: &dyn Reporter,
) -> Result<ResolveReport, CommandError> {
    let session = Session::open(manifest, opts, reporter)?;
    let (r, (why, why_not)) = session::load_and_resolve_with(manifest, &session, |u, plan, graph| {
        let why = explain.why.as_deref().map(|n| resolve::why::why(u, plan, graph, n)).transpose()?;
        let why_not = explain.why_not.as_deref().map(|n| resolve::why::why_not(u, plan, graph, n)).transpose()?;
        Ok((why, why_not))
    })?;
    let packages = plan_items(&r);
    let report = ResolveReport {
        why,
        why_not,
        distro: manifest.distro.to_string(),
        manifest: manifest.origin.clone(),
        total_size: packages.iter().map(|p| p.size).sum(),
        packages,
        base_packages: r.plan.base_count,
        notes: r.plan.notes.clone(),
    };
    free_later(r);
    Ok(report)
}

/// What `verify` and `inspect` report.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    /// Whether `<bundle>.sha256` was there and matched.
    pub sidecar_checked: bool,
    /// Whether the node (under `root`) was checked against the bundle's os-release and arch.
    pub node_checked: bool,
    /// Files checked against SHA256SUMS and bundle.json (those two included).
    pub files_checked: usize,
    /// Whether the bundle is a repository too, listing exactly its packages (`repodata/`).
    pub repository_checked: bool,
    /// The trusted key whose minisign signature covers the whole bundle (when keys were given
    /// or the node trusts some).
    pub signature: Option<crate::bundle::sign::SignatureCheck>,
    /// With `--node` on a node with an approval policy: the roles the bundle has, and from what.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<crate::bundle::approval::Met>,
    /// Parts rebuilt from parity while joining (and parity parts found damaged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    pub index: BundleIndex,
}

/// A bundle as the user named it (the file, its parts, or their folder), verified whole.
pub struct Checked {
    pub unpacked: verify::Unpacked,
    pub signature: Option<crate::bundle::sign::SignatureCheck>,
    /// Whether `<bundle>.sha256` was there and matched.
    pub sidecar_checked: bool,
    /// The joined parts, when the bundle came in parts (kept while the bundle is used).
    pub _opened: Option<crate::bundle::parts::Opened>,
}

/// Opens what the user named (parts checked and joined), then in one read of the file unpacks
/// and checks every member and the signature against `keys` (required when there are any), then
/// the `.sha256` beside it. An unpacked bundle (a directory, as `install.sh` hands it over) is
/// checked file by file as it is copied into a private directory; it
/// cannot show a signature, so where `keys` require one it is refused unless `verified` says
/// the archive's was checked before it was unpacked.
pub fn open_verified(
    bundle: &Path,
    keys: &[crate::bundle::sign::TrustedKey],
    verified: bool,
) -> Result<Checked, CommandError> {
    if bundle.is_dir() && verify::is_unpacked_bundle(bundle) {
        if !keys.is_empty() && !verified {
            let keys = keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>().join(", ");
            return Err(VerifyError::UnpackedUnsigned { dir: bundle.to_path_buf(), keys }.into());
        }
        let unpacked = verify::verify_dir(bundle, &readers)?;
        return Ok(Checked { unpacked, signature: None, sidecar_checked: false, _opened: None });
    }
    let opened = crate::bundle::parts::open(bundle)?;
    // The signature is matched to a key first; it is checked on the bytes the unpack reads.
    let required = crate::bundle::sign::required(&opened.named, keys)?;
    let unpacked = verify::verify_bundle(&opened.file, required.as_ref(), &readers)?;
    let sidecar_checked = verify::check_sidecar(&opened.named, &unpacked.bundle_sha256)?;
    let signature = unpacked.signature.clone();
    Ok(Checked { unpacked, signature, sidecar_checked, _opened: Some(opened) })
}

/// `verify`: the bundle's signature against `keys` first (required when there are any), then
/// every member.
pub fn verify_cmd(
    bundle: &Path,
    node_root: Option<&Path>,
    keys: &[crate::bundle::sign::TrustedKey],
) -> Result<VerifyReport, CommandError> {
    let given = keys;
    let (policy, keys) = match node_root {
        Some(root) => approve::node_policy(root, keys)?,
        None => (None, keys.to_vec()),
    };
    // An unpacked bundle has no signature to check: under a policy its approvals stand for it.
    let unpacked = bundle.is_dir() && verify::is_unpacked_bundle(bundle);
    let checked = open_verified(bundle, if unpacked { given } else { &keys }, false)?;
    let approvals = approve::enforce(policy.as_ref(), bundle, &checked)?;
    let repaired = checked._opened.as_ref().map(|o| o.repaired.clone()).unwrap_or_default();
    let Checked { unpacked: u, signature, sidecar_checked, .. } = checked;
    if let Some(root) = node_root {
        verify::check_node(bundle, &u.index, root, family::backend(u.index.family).arch)?;
    }
    let repository_checked = u.dir.join(crate::repo::LOCAL_REPO_DIR).is_dir();
    if repository_checked {
        check_local_repo(bundle, &u, family::backend(u.index.family))?;
    }
    Ok(VerifyReport {
        repository_checked,
        bundle: bundle.to_path_buf(),
        sha256: u.bundle_sha256,
        sidecar_checked,
        node_checked: node_root.is_some(),
        files_checked: u.files_checked,
        signature,
        approvals,
        repaired,
        index: u.index.clone(),
    })
}

/// The bundle's repository lists exactly the packages bundle.json does (name, version, arch,
/// file, size, sha256), so the node's package manager installs what was verified and nothing
/// else.
pub(crate) fn check_local_repo(
    bundle: &Path,
    u: &verify::Unpacked,
    backend: &family::Backend,
) -> Result<(), CommandError> {
    let fail = |message: String| CommandError::from(VerifyError::LocalRepo { bundle: bundle.to_path_buf(), message });
    let format = backend.metadata;
    let written = crate::repo::LocalRepository { epoch: u.index.source_date_epoch, label: &u.index.stem() };
    let listed = format.read_local_repository(&u.dir, &u.index.arch, written).map_err(|e| fail(e.to_string()))?;
    let key = |name: &str, version: String, arch: &str, file: &str, size: u64, sha: moa_model::types::Sha256| {
        format!("{name} {version} {arch} {file} {size} {sha}")
    };
    let mut want: Vec<String> = u
        .index
        .packages
        .iter()
        .map(|p| {
            let file = format!("{}/{}", crate::bundle::PACKAGES_DIR, p.file);
            key(p.name.as_str(), p.version.to_string(), p.arch.as_str(), &file, p.size, p.sha256)
        })
        .collect();
    let mut got: Vec<String> = listed
        .iter()
        .map(|r| key(r.name.as_str(), r.version.to_string(), r.arch.as_str(), r.location(), r.size, r.sha256))
        .collect();
    want.sort();
    got.sort();
    if let Some(extra) = got.iter().find(|g| !want.contains(g)) {
        return Err(fail(format!("it lists `{}`", moa_model::types::shown(extra))));
    }
    if let Some(missing) = want.iter().find(|w| !got.contains(w)) {
        return Err(fail(format!("it does not list `{missing}`")));
    }
    Ok(())
}

/// `push`: verifies the bundle (its signature against `keys` when there are any), then pushes it
/// to the registry with its `.minisig` when it has one.
pub fn push_cmd(
    bundle: &Path,
    reference: &str,
    plain_http: bool,
    keys: &[crate::bundle::sign::TrustedKey],
) -> Result<crate::oci::Pushed, CommandError> {
    if bundle.is_dir() && verify::is_unpacked_bundle(bundle) {
        return Err(CommandError::Io {
            what: bundle.display().to_string(),
            source: std::io::Error::other("an unpacked bundle cannot be pushed: push the .tar.gz it came from"),
        });
    }
    let checked = open_verified(bundle, keys, false)?;
    let named = checked._opened.as_ref().map(|o| o.named.clone()).unwrap_or_else(|| bundle.to_path_buf());
    let name = named.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let sig = crate::bundle::sign::signature_path(&named);
    let approvals = crate::bundle::approval::sidecar_path(&named);
    let u = &checked.unpacked;
    Ok(crate::oci::push(
        &u.dir,
        &u.index,
        &u.bundle_sha256,
        &name,
        crate::oci::Sidecars {
            signature: sig.is_file().then_some(sig.as_path()),
            approvals: approvals.is_file().then_some(approvals.as_path()),
        },
        reference,
        plain_http,
    )?)
}

/// `pull`: the bundle at `reference` pulled into a private directory, packed again from its
/// layers byte for byte and verified as a node verifies it; only then are the bundle, its
/// `.sha256` and its `.minisig` moved into `out_dir` (each through a temporary file renamed into
/// place), so a failed pull leaves `out_dir` as it was.
pub fn pull_cmd(
    reference: &str,
    plain_http: bool,
    out_dir: &Path,
    stall: std::time::Duration,
) -> Result<crate::oci::Pulled, CommandError> {
    let (work, p) = pull_only(reference, plain_http, stall)?;
    open_verified(&p.bundle, &[], false)?;
    let io = |path: &Path| {
        let what = path.display().to_string();
        move |source| CommandError::Io { what, source }
    };
    fs_err::create_dir_all(out_dir).map_err(io(out_dir))?;
    let place = |from: &Path| -> Result<PathBuf, CommandError> {
        let to = out_dir.join(from.file_name().unwrap_or_default());
        let mut part = moa_model::files::Partial::new_in(out_dir).map_err(io(&to))?;
        let (mut src, _) = moa_model::files::open_regular(from).map_err(io(from))?;
        std::io::copy(&mut src, part.file_mut()).map_err(io(&to))?;
        part.persist(&to, 0o644).map_err(io(&to))?;
        Ok(to)
    };
    let bundle = place(&p.bundle)?;
    place(&moa_model::files::sidecar_path(&p.bundle))?;
    // A `.minisig` or `.approvals` left by an older pull of another bundle would not match
    // this one: what this pull has replaces it, and one it lacks goes.
    let beside = |pulled: &Option<PathBuf>, stale: PathBuf| -> Result<Option<PathBuf>, CommandError> {
        match pulled {
            Some(s) => place(s).map(Some),
            None => {
                let _ = fs_err::remove_file(&stale);
                Ok(None)
            }
        }
    };
    let signature = beside(&p.signature, crate::bundle::sign::signature_path(&bundle))?;
    let approvals = beside(&p.approvals, crate::bundle::approval::sidecar_path(&bundle))?;
    drop(work);
    Ok(crate::oci::Pulled { bundle, sha256: p.sha256, signature, approvals })
}

/// Pulls `reference` into a private work directory (returned: the bundle lives as long as it),
/// with the bundle's `.sha256` beside it; not verified yet (`install` verifies what it installs).
pub(crate) fn pull_only(
    reference: &str,
    plain_http: bool,
    stall: std::time::Duration,
) -> Result<(moa_model::files::WorkDir, crate::oci::Pulled), CommandError> {
    let work = moa_model::files::WorkDir::new()
        .map_err(|source| CommandError::Io { what: std::env::temp_dir().display().to_string(), source })?;
    let transport = Transport::new(stall)?;
    let syntax_of = |f| family::backend(f).syntax;
    let p = crate::oci::pull(reference, plain_http, work.path(), &transport, &crate::report::Silent, &syntax_of)?;
    let name = p.bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let side = moa_model::files::sidecar_path(&p.bundle);
    moa_model::files::write_atomic(&side, format!("{}  {name}\n", p.sha256).as_bytes(), 0o644)
        .map_err(|source| CommandError::Io { what: side.display().to_string(), source })?;
    Ok((work, p))
}

/// `sbom`: the verified bundle's CycloneDX SBOM (its signature checked against `keys` first).
pub fn sbom_cmd(bundle: &Path, keys: &[crate::bundle::sign::TrustedKey]) -> Result<Vec<u8>, CommandError> {
    let u = open_verified(bundle, keys, false)?.unpacked;
    let path = u.dir.join(crate::bundle::sbom::SBOM_FILE);
    match fs_err::read(&path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(crate::bundle::sbom::SbomError::Missing { bundle: bundle.into() }.into())
        }
        Err(e) => Err(CommandError::Io { what: path.display().to_string(), source: e }),
    }
}

/// The package readers of a family, for the verifier.
pub(crate) fn readers(
    f: moa_model::manifest::Family,
) -> (&'static dyn crate::pkgfile::PackageFile, &'static dyn moa_model::deps::DepSyntax) {
    let b = family::backend(f);
    (b.package_file, b.syntax)
}

/// `probe`: the node's profile, read with the given family's tools, else those of the family
/// whose package database the root has (dpkg's first).
pub fn probe_cmd(root: &Path, family: Option<moa_model::manifest::Family>) -> Result<NodeProfile, ProbeError> {
    let backend = match family {
        Some(f) => Some(family::backend(f)),
        None => family::detect(root),
    };
    crate::probe::probe(root, backend.map(|b| (b.family, b.installer, b.arch)))
}

/// A built-in manifest, for `distros`.
#[derive(Debug, Clone, Serialize)]
pub struct DistroInfo {
    pub distro: String,
    pub family: String,
    pub arch: String,
    pub os_release: String,
    pub packages: Vec<String>,
    pub bundle: String,
    pub description: String,
}

pub fn distros() -> Result<Vec<DistroInfo>, CommandError> {
    moa_model::manifest::builtin_names()
        .into_iter()
        .map(|d| {
            let m = Manifest::builtin(d)?;
            Ok(DistroInfo {
                distro: m.distro.to_string(),
                family: m.family.to_string(),
                arch: m.arch.to_string(),
                os_release: format!("{} {}", m.os_release.id, m.os_release.version_id),
                packages: m.packages.iter().map(|r| r.to_string()).collect(),
                bundle: m.bundle_file_name(),
                description: m.description.as_ref().map(ToString::to_string).unwrap_or_default(),
            })
        })
        .collect()
}
