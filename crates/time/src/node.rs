//! The time service on the node: [`RoleStep`], the role `install --role` configures with the
//! packages, and `configure` (a role on its own, from a bundle, a manifest or the node's
//! os-release).

use std::path::{Path, PathBuf};

use moa_engine::ledger::{BundleRecord, Entry, FilesBefore, Ledger, Verb};
use moa_engine::{check_node, lock_root, node_os_release, open_verified, same_release, Unpacked, VerifyError};
use moa_engine::{CommandError, Configure, ServiceError};
use moa_model::manifest::Manifest;
use moa_model::types::node::NodePath;
use moa_model::types::Label;

use crate::roles::render::{Templates, ROLES_DIR};
use crate::roles::{RoleError, RoleOptions, RoleReport, RoleSource};

/// `install --role`: the role, planned with the install and applied after its packages, with
/// the bundle's `[time]` values. Its root and dry run are the install's.
pub struct RoleStep(pub RoleOptions);

impl Configure for RoleStep {
    type Report = RoleReport;

    fn plan(&self, bundle: &Path, u: &Unpacked, incoming: Vec<String>) -> Result<RoleReport, ServiceError> {
        let opts = RoleOptions { dry_run: true, incoming, ..self.0.clone() };
        Ok(apply_bundle_role(bundle, u, &opts)?)
    }

    fn apply(&self, bundle: &Path, u: &Unpacked) -> Result<RoleReport, ServiceError> {
        Ok(apply_bundle_role(bundle, u, &RoleOptions { incoming: Vec::new(), ..self.0.clone() })?)
    }

    fn describe(&self) -> String {
        format!("configuring the {:?} role", self.0.role)
    }

    fn files(&self, planned: &RoleReport) -> Vec<(NodePath, PathBuf)> {
        role_files(planned)
    }

    fn role(&self) -> Label {
        role_label(&self.0)
    }
}

/// The files a planned role writes: (node path, host path).
fn role_files(planned: &RoleReport) -> Vec<(NodePath, PathBuf)> {
    let changing = planned.files.iter().filter(|f| f.status != crate::roles::FileStatus::Unchanged);
    changing.filter_map(|f| Some((NodePath::new(&f.node_path).ok()?, f.path.clone()))).collect()
}

fn role_label(opts: &RoleOptions) -> Label {
    let name = match opts.role {
        crate::roles::Role::Server => "server",
        crate::roles::Role::Client => "client",
    };
    Label::new(name).expect("a role name is a label")
}

/// Why `configure` (or the role of an install) failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Command(Box<CommandError>),
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Manifest(#[from] moa_model::manifest::ManifestError),
    #[error("{error}\nThe ledger could not record this failed configure either: {ledger}")]
    NotRecorded { error: Box<NodeError>, ledger: Box<CommandError> },
    #[error("{root}/etc/os-release says `{id} {version_id}`, which no built-in manifest is for (built-in: {known}): pass --distro or --manifest")]
    NoManifestForNode { root: String, id: String, version_id: String, known: String },
}

/// Applies a role with the bundle's `[time]` values (validated like flags when bundle.json was
/// read) and this binary's templates; a bundle whose `roles/` differ is named in a warning.
fn apply_bundle_role(bundle: &Path, u: &Unpacked, opts: &RoleOptions) -> Result<RoleReport, RoleError> {
    let time = u
        .index
        .time
        .as_ref()
        .ok_or_else(|| RoleError::NoTimeSpec { origin: format!("bundle {}", bundle.display()) })?;
    let templates = Templates::builtin(time.flavor);
    let differs = templates.differs_from(&u.dir.join(ROLES_DIR));
    let mut report =
        crate::roles::apply(&RoleSource { distro: u.index.distro.as_str(), time, templates: &templates }, opts)?;
    if !differs.is_empty() {
        report.warnings.push(format!(
            "the bundle's roles/{} differ from this moa-bundle's templates (bundle built by moa-bundle {}): this moa-bundle's were used; a bundle's own templates are rendered only once bundle signatures can prove who wrote them",
            differs.join(", roles/"),
            u.index.tool_version
        ));
    }
    Ok(report)
}

impl From<CommandError> for NodeError {
    fn from(e: CommandError) -> Self {
        NodeError::Command(Box::new(e))
    }
}

/// Where `configure` takes the role's definition from.
pub enum RoleFrom<'a> {
    /// A bundle's `bundle.json` and `roles/` (checked whole first).
    Bundle(&'a Path),
    /// A manifest (`--distro`, `--manifest`) and the built-in templates.
    Manifest(&'a Manifest),
    /// The built-in manifest whose os-release matches the node under the role's root.
    Detect,
}

/// A role applied with these options (the dry run that plans it, then the real one).
type ApplyRole<'a> = dyn Fn(&RoleOptions) -> Result<RoleReport, NodeError> + 'a;

/// `configure --role`: applies a role without installing anything. Unless a dry run, the role
/// is planned first, the files it writes are kept, and the ledger gets an entry.
pub fn configure_cmd(from: RoleFrom<'_>, opts: &RoleOptions) -> Result<RoleReport, NodeError> {
    let _lock = if opts.dry_run || !opts.root.is_dir() { None } else { Some(lock_root(&opts.root)?) };
    let mut record = None;
    let apply: Box<ApplyRole<'_>> = match from {
        RoleFrom::Bundle(b) => {
            let u = open_verified(b, &[], false)?.unpacked;
            check_node(b, &u.index, &opts.root, moa_engine::backend(u.index.family).arch)?;
            record = Some(BundleRecord::of(b, &u, None));
            Box::new(move |o| Ok(apply_bundle_role(b, &u, o)?))
        }
        RoleFrom::Manifest(m) => Box::new(move |o| manifest_role(m, o)),
        RoleFrom::Detect => {
            let m = detect_manifest(&opts.root)?;
            Box::new(move |o| manifest_role(&m, o))
        }
    };
    if opts.dry_run {
        return apply(opts);
    }
    let ledger = Ledger::at(&opts.root).map_err(CommandError::from)?;
    let planned = apply(&RoleOptions { dry_run: true, ..opts.clone() })?;
    let before = FilesBefore::take(&ledger, role_files(&planned)).map_err(CommandError::from)?;
    let done = apply(opts);
    let mut e = Entry::new(Verb::Configure);
    (e.bundle, e.role) = (record, Some(role_label(opts)));
    let files = before.changes();
    e.files = files.as_ref().cloned().unwrap_or_default();
    if let Err(err) = &done {
        e = e.failed(err);
    }
    let written = files.and_then(|_| ledger.append(e)).map_err(CommandError::from);
    match (done, written) {
        (Ok(r), Ok(_)) => Ok(r),
        (Ok(_), Err(err)) => Err(err.into()),
        (Err(err), Err(ledger)) => Err(NodeError::NotRecorded { error: Box::new(err), ledger: Box::new(ledger) }),
        (Err(err), Ok(_)) => Err(err),
    }
}

/// The built-in manifest whose os-release matches the node under `root`.
fn detect_manifest(root: &Path) -> Result<Manifest, NodeError> {
    let (id, version_id) = node_os_release(root)?;
    for d in moa_model::manifest::builtin_names() {
        let m = Manifest::builtin(d)?;
        if m.os_release.id.as_str() == id && same_release(m.os_release.version_id.as_str(), &version_id) {
            return Ok(m);
        }
    }
    Err(NodeError::NoManifestForNode {
        root: root.display().to_string().trim_end_matches('/').to_string(),
        id,
        version_id,
        known: moa_model::manifest::builtin_names().join(", "),
    })
}

fn manifest_role(m: &Manifest, opts: &RoleOptions) -> Result<RoleReport, NodeError> {
    let time = m.time.as_ref().ok_or_else(|| RoleError::NoTimeSpec { origin: format!("manifest {}", m.origin) })?;
    let templates = Templates::builtin(time.flavor);
    Ok(crate::roles::apply(&RoleSource { distro: m.distro.as_str(), time, templates: &templates }, opts)?)
}

/// What the roles would write on a node, for a review: the server role and the cron client
/// (following `192.0.2.1`, a documentation address), each planned (a dry run) on an empty
/// stand-in root that has only the directories and programs the packages bring.
pub fn preview(time: &moa_model::manifest::TimeSpec, distro: &str) -> Result<Vec<RoleReport>, RoleError> {
    let root = tempfile::tempdir().map_err(|source| RoleError::Write { path: std::env::temp_dir(), source })?;
    let r = root.path();
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RoleError::Write { path, source }
    };
    let mut dirs = vec![time.config.under(r).parent().map(Path::to_path_buf).unwrap_or_else(|| r.join("etc"))];
    dirs.push(r.join("etc/cron.d"));
    let mut files = vec![time.sync_command.program.under(r), r.join("usr/sbin/cron")];
    if let Some(zone) = &time.timezone {
        files.push(r.join("usr/share/zoneinfo").join(zone.as_str()));
    }
    for d in
        dirs.iter().chain(files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect::<Vec<_>>().iter())
    {
        fs_err::create_dir_all(d).map_err(werr(d))?;
    }
    for f in &files {
        fs_err::write(f, b"").map_err(werr(f))?;
    }
    let templates = Templates::builtin(time.flavor);
    let src = RoleSource { distro, time, templates: &templates };
    let base = RoleOptions {
        role: crate::roles::Role::Server,
        upstream: Vec::new(),
        allow: Vec::new(),
        server: None,
        client_mode: None,
        timezone: None,
        root: r.to_path_buf(),
        dry_run: true,
        incoming: Vec::new(),
    };
    let client = RoleOptions {
        role: crate::roles::Role::Client,
        server: Some(moa_model::types::node::Host::new("192.0.2.1").expect("a documentation address")),
        ..base.clone()
    };
    Ok(vec![crate::roles::apply(&src, &base)?, crate::roles::apply(&src, &client)?])
}
