//! `install` on the node: verify the whole bundle, plan the service configured with it (a
//! [`Configure`], the time service's role), then remove what the bundle replaces and install
//! stage by stage, one install per root at a time.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::CommandError;
use crate::bundle::verify;
use crate::bundle::BundlePackage;
use crate::family;
use crate::install::{self, Action, InstallAction, InstallError, InstallOptions};
use crate::ledger::{self, Entry, Ledger, Verb};
use crate::report::Reporter;

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallCmdOptions {
    pub install: InstallOptions,
    pub dry_run: bool,
    /// Install even if the node's os-release or arch differ from the bundle's.
    pub skip_node_check: bool,
    /// Install with the node's package manager from the bundle as a repository.
    pub via_repo: bool,
    /// An unpacked bundle's archive had its signature checked before it was unpacked.
    pub verified: bool,
    /// A bundle given as `oci://…`: its registry speaks plain HTTP.
    pub plain_http: bool,
    /// Bundle keys given with `--key`, trusted beside those in `<root>/etc/moa-bundle/trusted-keys/`.
    pub keys: Vec<PathBuf>,
}

/// A service configured with the packages (the time service's role). It is planned first, as a
/// dry run against what the node will have once the packages are in, so one that cannot apply
/// even then fails before any package is touched; it is applied after them.
pub trait Configure {
    type Report: Serialize;
    /// The dry run. `incoming`: every path the packages to install bring, sorted.
    fn plan(&self, bundle: &Path, u: &verify::Unpacked, incoming: Vec<String>) -> Result<Self::Report, ServiceError>;
    /// Applies it, once the packages are in.
    fn apply(&self, bundle: &Path, u: &verify::Unpacked) -> Result<Self::Report, ServiceError>;
    /// What progress says while it applies (`configuring the Server role`).
    fn describe(&self) -> String;
    /// The files applying it writes, from its plan: (node path, host path under the root). The
    /// ledger keeps what they hold first.
    fn files(&self, planned: &Self::Report) -> Vec<(moa_model::types::node::NodePath, PathBuf)>;
    /// Its name in the ledger (`server`).
    fn role(&self) -> moa_model::types::Label;
}

/// A [`Configure`]'s own error, kept whole as the source of [`CommandError::Service`].
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// What `install` did; `R` is what the service configured with it reports.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport<R> {
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub dry_run: bool,
    pub actions: Vec<Action>,
    /// Node packages removed first because a bundled package conflicts with them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removes: Vec<install::Removal>,
    /// Dependencies the node lacks (only reported, and installed anyway, with --force).
    pub preflight_problems: Vec<install::Problem>,
    /// The package tool's output.
    pub output: Vec<String>,
    /// EL8+: the dnf module state files written so the node's dnf keeps the bundled modular
    /// packages (their streams enabled, as `dnf install` enables them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams_enabled: Vec<PathBuf>,
    /// Dependencies new to the node, marked as installed automatically in its package
    /// manager's records (apt's `extended_states`), so its autoremove can clean them up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub marked_auto: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<R>,
    /// The trusted key that signed the bundle, when the node trusts keys.
    pub signature: Option<crate::bundle::sign::SignatureCheck>,
    /// On a node with an approval policy: the roles the bundle has, and from what.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<crate::bundle::approval::Met>,
    /// Parts rebuilt from parity while joining (and parity parts found damaged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    /// Whether the build checked its packages' upstream signatures (`skip`: built with
    /// `--insecure-skip-signatures`, which every report then says).
    pub upstream_signatures: crate::repo::Signatures,
}

pub fn install_cmd<C: Configure>(
    bundle: &Path,
    opts: &InstallCmdOptions,
    service: Option<&C>,
    reporter: &dyn Reporter,
) -> Result<InstallReport<C::Report>, CommandError> {
    // A bundle in a registry is pulled (and checked) into a private directory first.
    let pulled;
    let bundle = match crate::oci::is_reference(bundle) {
        true => {
            reporter.status(&format!("pulling {}", bundle.display()));
            // Verified below, with the node's trusted keys, as any bundle is.
            let stall = std::time::Duration::from_secs(crate::transport::DEFAULT_STALL_SECS);
            let (work, p) = super::pull_only(&bundle.to_string_lossy(), opts.plain_http, stall)?;
            pulled = (work, p.bundle);
            pulled.1.as_path()
        }
        false => bundle,
    };
    reporter.status(&format!("verifying {}", bundle.display()));
    let trusted = crate::bundle::sign::trusted_keys(&opts.install.root, &opts.keys)?;
    // With an approval policy, the bundle's signature may be by a policy key too (an unpacked
    // bundle has none: its approvals stand for it).
    let (policy, keys) = super::approve::node_policy(&opts.install.root, &trusted)?;
    let unpacked = bundle.is_dir() && verify::is_unpacked_bundle(bundle);
    let checked = super::open_verified(bundle, if unpacked { &trusted } else { &keys }, opts.verified)?;
    let approvals = super::approve::enforce(policy.as_ref(), bundle, &checked)?;
    let repaired = checked._opened.as_ref().map(|o| o.repaired.clone()).unwrap_or_default();
    for r in &repaired {
        reporter.status(r);
    }
    // `_opened` lives to the end: a split bundle's joined file stays while the install runs.
    let super::Checked { unpacked: u, signature, _opened, .. } = checked;
    // The bundle's family picks the parts, once.
    let (family, backend) = (u.index.family, family::backend(u.index.family));
    if !opts.skip_node_check {
        verify::check_node(bundle, &u.index, &opts.install.root, backend.arch)?;
    }
    if opts.via_repo {
        super::check_local_repo(bundle, &u, backend)?;
    }
    let installer = backend.installer;
    if opts.install.no_scripts && !installer.can_skip_scripts() {
        return Err(InstallError::NoScripts { family, tool: installer.tool() }.into());
    }
    if !opts.dry_run && !install::is_root() {
        return Err(InstallError::NotRoot.into());
    }
    let _lock = if opts.dry_run { None } else { Some(lock_root(&opts.install.root)?) };
    installer.check_streams(&opts.install.root, &u.index.modules)?;
    let installed = installer.installed(&opts.install)?;
    let missing = install::missing_expected(&u.index, &installed, backend.syntax, backend.arch);
    if let (false, Some(since)) = (missing.is_empty(), &u.index.since) {
        return Err(InstallError::MissingBase { base: since.base.to_string(), missing }.into());
    }
    let actions = install::plan(&u.index, &installed, backend.syntax, backend.arch);
    let todo = to_install(&u, &actions);
    let contents = incoming(backend, &todo)?;
    // The service is planned before any package (a dry run of it), against what the node will
    // have once they are in: one that cannot apply even then — no such zone, no cron
    // directory, a path that leaves the root — fails before anything changes.
    let planned =
        service.map(|s| s.plan(bundle, &u, contents.paths.clone())).transpose().map_err(CommandError::Service)?;
    let removes = installer.removals(&todo, &installed);
    install::check_space(&opts.install.root, &contents)?;
    // Where the install transaction itself refuses missing dependencies before it changes
    // anything, a separate preflight would only do that work twice.
    let transactional = installer.install_checks_dependencies() && !opts.dry_run && !opts.install.force;
    let problems = if transactional { Vec::new() } else { installer.preflight(&todo, &installed, &opts.install)? };
    if !problems.is_empty() && !opts.install.force {
        return Err(InstallError::Preflight { problems, force_means: installer.force_means().into() }.into());
    }
    // From here on the node changes: what it holds first is recorded, and the ledger gets the
    // entry (done or failed) before the command reports.
    let ledger = if opts.dry_run { None } else { Some(Ledger::at(&opts.install.root)?) };
    if let Some(l) = &ledger {
        keep_kit(l, &u, &installed, backend.syntax)?;
    }
    // The role's files as they are before anything changes (undo puts them back so).
    let files = match (&ledger, service, &planned) {
        (Some(l), Some(s), Some(p)) => ledger::FilesBefore::take(l, s.files(p))?,
        _ => ledger::FilesBefore::default(),
    };
    let change = Change { installer, u: &u, todo: &todo, removes: &removes, actions: &actions, syntax: backend.syntax };
    let done = change.run(bundle, opts, service, reporter);
    let done = match &ledger {
        Some(l) => {
            let entry = Recorded { bundle, u: &u, signature: signature.as_ref(), role: service.map(|s| s.role()) };
            entry.append(l, installer, &installed, files, backend.syntax, &opts.install, done)?
        }
        None => done?,
    };
    let Done { output, streams_enabled, marked_auto, role } = done;
    let role = role.or(planned);
    Ok(InstallReport {
        bundle: bundle.to_path_buf(),
        root: opts.install.root.clone(),
        dry_run: opts.dry_run,
        actions,
        removes,
        preflight_problems: problems,
        output,
        streams_enabled,
        marked_auto,
        role,
        signature,
        approvals,
        repaired,
        upstream_signatures: u.index.upstream_signatures,
    })
}

/// What the install changed, besides the packages.
struct Done<R> {
    output: Vec<String>,
    streams_enabled: Vec<PathBuf>,
    marked_auto: Vec<String>,
    role: Option<R>,
}

/// The changing half of an install, planned and checked: packages, module streams, auto marks,
/// then the service.
struct Change<'a> {
    installer: &'a dyn install::Installer,
    u: &'a verify::Unpacked,
    todo: &'a [(&'a BundlePackage, PathBuf)],
    removes: &'a [install::Removal],
    actions: &'a [Action],
    syntax: &'a dyn moa_model::deps::DepSyntax,
}

impl Change<'_> {
    fn run<C: Configure>(
        &self,
        bundle: &Path,
        opts: &InstallCmdOptions,
        service: Option<&C>,
        reporter: &dyn Reporter,
    ) -> Result<Done<C::Report>, CommandError> {
        if opts.dry_run {
            return Ok(Done { output: Vec::new(), streams_enabled: Vec::new(), marked_auto: Vec::new(), role: None });
        }
        let (installer, u) = (self.installer, self.u);
        let output = match opts.via_repo {
            true => install_from_repo(installer, u, self.todo, opts, reporter)?,
            false => run_installer(installer, self.todo, self.removes, self.syntax, opts, reporter)?,
        };
        let streams_enabled = installer.enable_streams(&opts.install.root, &u.index.modules)?;
        let auto = new_dependencies(u, self.actions);
        let marked_auto = if auto.is_empty() { Vec::new() } else { installer.mark_auto(&auto, &opts.install)? };
        let role = match service {
            Some(s) => {
                reporter.status(&s.describe());
                Some(s.apply(bundle, u).map_err(CommandError::Service)?)
            }
            None => None,
        };
        Ok(Done { output, streams_enabled, marked_auto, role })
    }
}

/// The ledger entry of an install: the bundle, then what the node's package database and the
/// role's files say changed, and how it ended.
struct Recorded<'a> {
    bundle: &'a Path,
    u: &'a verify::Unpacked,
    signature: Option<&'a crate::bundle::sign::SignatureCheck>,
    role: Option<moa_model::types::Label>,
}

impl Recorded<'_> {
    /// Appends the entry; the install's own result comes back unless the ledger failed.
    #[allow(clippy::too_many_arguments)]
    fn append<R>(
        self,
        l: &Ledger,
        installer: &dyn install::Installer,
        before: &[install::Installed],
        files: ledger::FilesBefore,
        syntax: &dyn moa_model::deps::DepSyntax,
        opts: &InstallOptions,
        done: Result<Done<R>, CommandError>,
    ) -> Result<Done<R>, CommandError> {
        let mut e = Entry::new(Verb::Install);
        e.bundle = Some(ledger::BundleRecord::of(self.bundle, self.u, self.signature));
        e.role = self.role;
        // The database after, as the package tool left it (what a failed run changed too).
        if let Ok(after) = installer.installed(opts) {
            e.packages = ledger::package_changes(before, &after, syntax);
        }
        for c in e.packages.iter_mut() {
            c.kept = kit_package(self.u, c, syntax).map(|p| p.sha256);
        }
        let files = files.changes();
        if let Ok(f) = &files {
            e.files = f.clone();
        }
        if let Err(err) = &done {
            e = e.failed(err);
        }
        let written = files.and_then(|_| l.append(e));
        match (done, written) {
            (Ok(d), Ok(_)) => Ok(d),
            (Ok(_), Err(ledger)) => Err(ledger.into()),
            (Err(err), Ok(_)) => Err(err),
            (Err(err), Err(ledger)) => Err(CommandError::NotRecorded { error: Box::new(err), ledger }),
        }
    }
}

/// The rollback kit's package of the version a change replaced, if the bundle carries it.
fn kit_package<'u>(
    u: &'u verify::Unpacked,
    c: &ledger::PackageChange,
    syntax: &dyn moa_model::deps::DepSyntax,
) -> Option<&'u crate::bundle::RollbackPackage> {
    let before = syntax.parse_version(c.before.as_ref()?.as_str()).ok()?;
    u.index.rollback.iter().find(|p| p.name == c.name && p.arch == c.arch && p.version == before)
}

/// Keeps the kit's packages of the versions the node has now (only those: the others would
/// put back nothing), before anything changes.
fn keep_kit(
    l: &Ledger,
    u: &verify::Unpacked,
    installed: &[install::Installed],
    syntax: &dyn moa_model::deps::DepSyntax,
) -> Result<(), CommandError> {
    for p in &u.index.rollback {
        let on_node = installed.iter().any(|i| {
            i.name == p.name.as_str()
                && i.arch == p.arch.as_str()
                && syntax.parse_version(&i.version).ok().as_ref() == Some(&p.version)
        });
        if on_node {
            l.keep_package(&u.dir.join(crate::bundle::ROLLBACK_DIR).join(&p.file), &p.sha256)?;
        }
    }
    Ok(())
}

/// The packages to install (all but those the node has at their version), with their files.
fn to_install<'u>(u: &'u verify::Unpacked, actions: &[Action]) -> Vec<(&'u BundlePackage, PathBuf)> {
    u.index
        .packages
        .iter()
        .zip(actions)
        .filter(|(_, a)| a.action != InstallAction::Skip)
        .map(|(p, _)| (p, u.package_path(&p.file)))
        .collect()
}

/// Dependencies new to the node: marked automatic, as apt and dnf mark them, so the node's own
/// autoremove takes them away once nothing needs them.
fn new_dependencies(u: &verify::Unpacked, actions: &[Action]) -> Vec<String> {
    u.index
        .packages
        .iter()
        .zip(actions)
        .filter(|(p, a)| !p.requested && a.action == InstallAction::Install)
        .map(|(p, _)| p.name.to_string())
        .collect()
}

/// What the packages to install bring: every path (sorted, for the role's plan) and the bytes
/// they take.
fn incoming(backend: &family::Backend, todo: &[(&BundlePackage, PathBuf)]) -> Result<install::Incoming, InstallError> {
    let reader = backend.package_file;
    let mut out = install::Incoming::default();
    for (_, path) in todo {
        let c = reader.contents(path).map_err(|source| InstallError::Contents { file: path.clone(), source })?;
        out.bytes += c.installed_bytes;
        out.files += fs_err::metadata(path).map(|m| m.len()).unwrap_or(0);
        out.paths.extend(c.paths);
    }
    out.paths.sort_unstable();
    out.paths.dedup();
    Ok(out)
}

/// Installs stage by stage, removing what the bundle replaces as late as it can: everything
/// that neither replaces a node package nor needs one that does goes in first, so a failure
/// there (a broken script, a full disk) leaves the node's own daemon in place. The tool's output.
fn run_installer(
    installer: &dyn install::Installer,
    todo: &[(&BundlePackage, PathBuf)],
    removes: &[install::Removal],
    syntax: &dyn moa_model::deps::DepSyntax,
    opts: &InstallCmdOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, CommandError> {
    let tool = installer.tool();
    let late = install::needing_replacers(todo, removes, syntax);
    let (before, after): (Vec<_>, Vec<_>) = todo.iter().enumerate().partition(|(i, _)| !late.contains(i));
    let install = |part: &[(usize, &(&BundlePackage, PathBuf))]| {
        if part.is_empty() {
            return Ok(Vec::new());
        }
        let numbers: std::collections::BTreeSet<u32> = part.iter().map(|(_, (p, _))| p.stage).collect();
        let stages = numbers
            .iter()
            .map(|&n| part.iter().filter(|(_, (p, _))| p.stage == n).map(|(_, (_, f))| f.clone()).collect())
            .collect::<Vec<Vec<PathBuf>>>();
        installer.install(&stages, &opts.install)
    };
    reporter.status(&format!("{tool}: installing {} package(s)", todo.len()));
    let mut output = install(&before)?;
    if removes.is_empty() {
        return Ok(output);
    }
    // As apt does (`Remv` before `Inst`): dpkg alone refuses when the node's package is the
    // side that declares the conflict.
    let names: Vec<String> = removes.iter().map(|r| r.name.clone()).collect();
    reporter.status(&format!("{tool}: removing {} (the bundle conflicts with it)", names.join(", ")));
    output.push(installer.remove(&names, &opts.install)?);
    let rest = install(&after);
    output.extend(rest.map_err(|source| InstallError::AfterRemoval { removed: names, source: Box::new(source) })?);
    Ok(output)
}

/// Installs with the node's package manager from the unpacked bundle as a repository.
fn install_from_repo(
    installer: &dyn install::Installer,
    u: &verify::Unpacked,
    todo: &[(&BundlePackage, PathBuf)],
    opts: &InstallCmdOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, CommandError> {
    let hint = ": set TMPDIR to such a directory";
    let dir = install::plain("the bundle's unpack directory", &u.dir, hint)?;
    let keys = u
        .index
        .keys
        .iter()
        .map(|k| install::plain("a key file", &u.dir.join(&k.file), hint))
        .collect::<Result<Vec<_>, _>>()?;
    // The package manager's configuration and cache go to a private directory, not beside an
    // unpacked bundle the user handed over.
    let work = moa_model::files::WorkDir::new()
        .map_err(|source| install::InstallError::Work { path: std::env::temp_dir(), source })?;
    let repo = install::LocalRepo {
        dir: &dir,
        work: work.path(),
        keys,
        release: u.index.os_release.version_id.as_str(),
        packages: todo.iter().map(|(p, _)| *p).collect(),
    };
    reporter.status(&format!("installing {} package(s) from the bundle as a repository", todo.len()));
    Ok(installer.install_from_repo(&repo, &opts.install)?)
}

/// One install or configure at a time per root: the loser is told, instead of meeting a package
/// tool's lock error half-way.
pub fn lock_root(root: &Path) -> Result<moa_model::files::DirLock, CommandError> {
    let err = |source| InstallError::Lock { root: root.to_path_buf(), source };
    let lock = moa_model::files::DirLock::try_take(root).map_err(err)?;
    Ok(lock.ok_or_else(|| InstallError::Busy { root: root.to_path_buf() })?)
}
