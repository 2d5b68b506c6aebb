//! One function per CLI command, stringing the stages together: `resolve`, `build`, `inspect`,
//! `verify`, `install`, `distros`. Each returns a serializable report; printing is `main`'s job.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::verify::{self, VerifyError};
use crate::bundle::{pack, BundleIndex, BundlePackage, SourceDigest, SCHEMA_VERSION};
use crate::cache::{Cache, CacheError};
use crate::family;
use crate::fetch::{self, FetchError};
use crate::install::{self, Action, InstallError, InstallOptions};
use crate::manifest::{Manifest, ManifestError};
use crate::probe::{NodeProfile, ProbeError};
use crate::repo::{self, Metadata, MetadataSource, PackageRecord, RepoError};
use crate::report::Reporter;
use crate::resolve::{self, Goal, Plan, ResolveError, Universe};
use crate::roles::render::{Templates, ROLES_DIR};
use crate::roles::{RoleError, RoleOptions, RoleReport, RoleSource};
use crate::transport::{Transport, TransportError};
use crate::types::{Label, Line, RepoPath, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{root}/etc/os-release says `{id} {version_id}`, which no built-in manifest is for (built-in: {known}): pass --distro or --manifest")]
    NoManifestForNode { root: String, id: String, version_id: String, known: String },
    #[error("--no-scripts is not available for deb bundles: dpkg cannot skip maintainer scripts. Use --root with a throwaway root that can run them instead")]
    NoScriptsDeb,
    #[error("another moa-bundle install or configure is running on {}: wait for it to finish, then run this again", root.display())]
    Busy { root: PathBuf },
    #[error("could not lock {} for the install", root.display())]
    Lock {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}. The repository's metadata is malformed or hostile: use another --mirror")]
    BadMetadataValue {
        what: String,
        #[source]
        source: crate::types::TypeError,
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
    pub why: Vec<String>,
}

/// What `resolve` found.
#[derive(Debug, Clone, Serialize)]
pub struct ResolveReport {
    pub distro: String,
    pub manifest: String,
    pub packages: Vec<PlanItem>,
    pub total_size: u64,
    pub base_packages: usize,
    pub notes: Vec<String>,
    /// `--why PKG`: every chain from a requested package to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<Vec<Vec<String>>>,
    /// `--why-not PKG`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<resolve::why::WhyNot>,
}

/// Manifest in, metadata loaded and plan resolved.
pub struct Resolved {
    pub metadata: Metadata,
    pub plan: Plan,
    pub stages: Vec<u32>,
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
}

pub fn load_and_resolve(
    manifest: &Manifest,
    opts: &SourceOptions,
    transport: &Transport,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Resolved, CommandError> {
    // Profiles first: a missing or mismatched one fails before any download.
    let targets = opts
        .targets
        .iter()
        .map(|path| {
            let p = NodeProfile::load(path)?;
            p.check_fits(path, manifest)?;
            Ok((path.clone(), p))
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let source = MetadataSource {
        transport,
        cache: Some(cache),
        offline: opts.offline,
        distro: manifest.distro.as_str(),
        reporter,
    };
    let mut metadata = repo::load(manifest, &source, reporter)?;
    reporter.status(&format!("resolving {} packages", metadata.packages.len()));
    let syntax = family::dep_syntax(manifest.family);
    let plan = if targets.is_empty() { None } else { Some(resolve_for_targets(manifest, &mut metadata, &targets)?) };
    let u = Universe::new(&metadata, syntax, manifest.arch.as_str());
    let plan = match plan {
        Some(p) => p,
        None => resolve::resolve(&u, &Goal::from_manifest(manifest, opts.no_base), &manifest.origin)?,
    };
    let stages = resolve::install_stages(&u, &plan)?;
    drop(u);
    Ok(Resolved { metadata, plan, stages })
}

/// One resolve per node profile, each against that node's packages; the plan is the union, with
/// the newest version where two nodes need different ones. Each node's packages are appended to
/// `metadata` for its resolve and taken off again after (no copy of ~60,000 records per node).
fn resolve_for_targets(
    manifest: &Manifest,
    metadata: &mut Metadata,
    targets: &[(PathBuf, NodeProfile)],
) -> Result<Plan, CommandError> {
    let syntax = family::dep_syntax(manifest.family);
    let mut merged = Plan::default();
    let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (path, profile) in targets {
        let node = format!("{} ({})", profile.source, path.display());
        let (packages, repos) = (metadata.packages.len(), metadata.repos.len());
        let repo = resolve::add_installed(metadata, &node, &profile.packages, syntax)?;
        let u = Universe::new(metadata, syntax, manifest.arch.as_str());
        let plan = resolve::resolve(&u, &Goal::against_node(manifest, repo), &manifest.origin);
        drop(u);
        metadata.packages.truncate(packages);
        metadata.repos.truncate(repos);
        let plan = plan?;
        merged.base_count = merged.base_count.max(plan.base_count);
        merged.notes.extend(plan.notes.into_iter().map(|n| format!("{node}: {n}")));
        for e in plan.entries {
            // Entries index repository packages, which come before the added ones, so an index
            // still means the same package.
            let name = metadata.packages[e.package].name.to_string();
            match by_name.get(&name) {
                None => {
                    by_name.insert(name, merged.entries.len());
                    merged.entries.push(e);
                }
                Some(&i)
                    if metadata.packages[e.package].version > metadata.packages[merged.entries[i].package].version =>
                {
                    merged.notes.push(format!(
                        "{node} needs {name} {}: packed instead of {}",
                        metadata.packages[e.package].version, metadata.packages[merged.entries[i].package].version
                    ));
                    merged.entries[i] = e;
                }
                Some(_) => {}
            }
        }
    }
    merged.entries.sort_by(|a, b| metadata.packages[a.package].name.cmp(&metadata.packages[b.package].name));
    Ok(merged)
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
    let cache = Cache::open(&opts.cache_dir, reporter)?;
    let r = load_and_resolve(manifest, opts, &Transport::new(opts.stall)?, &cache, reporter)?;
    let packages = plan_items(&r);
    let (mut why, mut why_not) = (None, None);
    if explain.why.is_some() || explain.why_not.is_some() {
        let u = Universe::new(&r.metadata, family::dep_syntax(manifest.family), manifest.arch.as_str());
        if let Some(n) = &explain.why {
            why = Some(resolve::why::why(&u, &r.plan, n)?);
        }
        if let Some(n) = &explain.why_not {
            why_not = Some(resolve::why::why_not(&u, &r.plan, n)?);
        }
    }
    Ok(ResolveReport {
        why,
        why_not,
        distro: manifest.distro.to_string(),
        manifest: manifest.origin.clone(),
        total_size: packages.iter().map(|p| p.size).sum(),
        packages,
        base_packages: r.plan.base_count,
        notes: r.plan.notes.clone(),
    })
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub jobs: usize,
    pub source: SourceOptions,
    /// Fixed mtime; defaults to the metadata's newest timestamp.
    pub source_date_epoch: Option<u64>,
}

/// What `build` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
    pub packages: Vec<PlanItem>,
    pub notes: Vec<String>,
}

pub fn build(manifest: &Manifest, opts: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport, CommandError> {
    let transport = Transport::new(opts.source.stall)?;
    let cache = Cache::open(&opts.source.cache_dir, reporter)?;
    let r = load_and_resolve(manifest, &opts.source, &transport, &cache, reporter)?;
    let records: Vec<_> = r.plan.entries.iter().map(|e| &r.metadata.packages[e.package]).collect();
    let files =
        fetch::fetch_all(&records, &r.metadata.repos, &transport, &cache, opts.jobs, opts.source.offline, reporter)?;

    // Install order: by stage, then name.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| r.stages[a].cmp(&r.stages[b]).then_with(|| records[a].name.cmp(&records[b].name)));
    let packages = order
        .iter()
        .map(|&i| bundle_package(records[i], &r.plan.entries[i], r.stages[i]))
        .collect::<Result<Vec<_>, _>>()?;
    let ordered_files: Vec<PathBuf> = order.iter().map(|&i| files[i].clone()).collect();
    let mut sources = Vec::new();
    for repo in &r.metadata.repos {
        for (file, sha256) in &repo.sources {
            let what = || format!("repository `{}`: metadata file `{}`", repo.name, crate::types::shown(file));
            let bad = |source| CommandError::BadMetadataValue { what: what(), source };
            sources.push(SourceDigest {
                repository: Label::new(&repo.name).map_err(bad)?,
                file: RepoPath::new(file).map_err(bad)?,
                sha256: *sha256,
            });
        }
    }
    let requested = manifest.packages.iter().chain(&manifest.optional).map(|r| line(&r.to_string(), "a request"));
    let index = BundleIndex {
        schema_version: SCHEMA_VERSION,
        name: manifest.name.clone(),
        distro: manifest.distro.clone(),
        family: manifest.family,
        arch: manifest.arch.clone(),
        os_release: manifest.os_release.clone(),
        tool_version: line(env!("CARGO_PKG_VERSION"), "the tool version")?,
        source_date_epoch: opts.source_date_epoch.or(r.metadata.timestamp()).unwrap_or(0),
        requested: requested.collect::<Result<_, _>>()?,
        packages,
        sources,
        time: manifest.time.clone(),
    };
    let roles = manifest.time.as_ref().map(|t| crate::roles::render::bundle_files(t.flavor)).unwrap_or_default();
    reporter.status(&format!("packing {}", opts.output.display()));
    let packed = pack::write_bundle(&index, &ordered_files, &roles, &manifest.bundle_stem(), &opts.output)?;
    Ok(BuildReport {
        bundle: packed.path,
        sha256: packed.sha256,
        size: packed.size,
        packages: plan_items(&r),
        notes: r.plan.notes.clone(),
    })
}

fn line(s: &str, what: &str) -> Result<Line, CommandError> {
    Line::new(s).map_err(|source| CommandError::BadMetadataValue { what: what.to_string(), source })
}

/// A planned package as bundle.json lists it; every string from the metadata becomes a [`Line`].
fn bundle_package(p: &PackageRecord, e: &resolve::PlanEntry, stage: u32) -> Result<BundlePackage, CommandError> {
    let what = |field: &str| format!("package {} from the metadata, field {field}", p.nevra());
    let lines = |field: &str, list: &crate::repo::DepList| -> Result<Vec<Line>, CommandError> {
        list.iter().map(|s| line(s, &what(field))).collect()
    };
    crate::types::safe_file_name(p.file_name())
        .map_err(|source| CommandError::BadMetadataValue { what: what("location"), source })?;
    Ok(BundlePackage {
        name: p.name.clone(),
        version: line(&p.version.to_string(), &what("version"))?,
        arch: p.arch.clone(),
        file: p.file_name().to_string(),
        size: p.size,
        sha256: p.sha256,
        requested: e.requested,
        upgrades: e.upgrades.as_deref().map(|u| line(u, &what("upgrades"))).transpose()?,
        why: e.why.iter().map(|w| line(w, &what("why"))).collect::<Result<_, _>>()?,
        stage,
        requires: lines("requires", &p.requires)?,
        provides: lines("provides", &p.provides)?,
        conflicts: lines("conflicts", &p.conflicts)?,
        replaces: lines("replaces", &p.replaces)?,
    })
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
    pub index: BundleIndex,
}

pub fn verify_cmd(bundle: &Path, node_root: Option<&Path>) -> Result<VerifyReport, CommandError> {
    let u = verify::verify_bundle(bundle)?;
    let sidecar_checked = verify::check_sidecar(bundle, &u.bundle_sha256)?;
    if let Some(root) = node_root {
        verify::check_node(bundle, &u.index, root)?;
    }
    Ok(VerifyReport {
        bundle: bundle.to_path_buf(),
        sha256: u.bundle_sha256,
        sidecar_checked,
        node_checked: node_root.is_some(),
        files_checked: u.files_checked,
        index: u.index.clone(),
    })
}

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallCmdOptions {
    pub install: InstallOptions,
    pub dry_run: bool,
    /// Install even if the node's os-release or arch differ from the bundle's.
    pub skip_node_check: bool,
    /// After the packages, apply this time service role (its root and dry run are the install's).
    pub role: Option<RoleOptions>,
}

/// What `install` did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub dry_run: bool,
    pub actions: Vec<Action>,
    /// Node packages removed first because a bundled package conflicts with and replaces them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removes: Vec<install::Removal>,
    /// Dependencies the node lacks (only reported, and installed anyway, with --force).
    pub preflight_problems: Vec<String>,
    /// The package tool's output.
    pub output: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleReport>,
}

pub fn install_cmd(
    bundle: &Path,
    opts: &InstallCmdOptions,
    reporter: &dyn Reporter,
) -> Result<InstallReport, CommandError> {
    reporter.status(&format!("verifying {}", bundle.display()));
    let u = verify::verify_bundle(bundle)?;
    verify::check_sidecar(bundle, &u.bundle_sha256)?;
    if !opts.skip_node_check {
        verify::check_node(bundle, &u.index, &opts.install.root)?;
    }
    let family = u.index.family;
    if opts.install.no_scripts && family == crate::manifest::Family::Deb {
        return Err(CommandError::NoScriptsDeb);
    }
    if !opts.dry_run && !install::is_root() {
        return Err(InstallError::NotRoot.into());
    }
    // The role is planned first (a dry run of it): one that cannot apply — no such zone, no
    // cron directory, a path that leaves the root — fails before any package is installed.
    let role_of =
        |dry_run| opts.role.as_ref().map(|r| RoleOptions { root: opts.install.root.clone(), dry_run, ..r.clone() });
    let role_plan = role_of(true).map(|r| apply_bundle_role(bundle, &u, &r)).transpose()?;
    let _lock = if opts.dry_run { None } else { Some(lock_root(&opts.install.root)?) };
    let installer = family::installer(family);
    let installed = installer.installed(&opts.install)?;
    let actions = install::plan(&u.index, &installed, family::dep_syntax(family));
    let todo: Vec<(&BundlePackage, PathBuf)> = u
        .index
        .packages
        .iter()
        .zip(&actions)
        .filter(|(_, a)| a.action != "skip")
        .map(|(p, _)| (p, u.package_path(&p.file)))
        .collect();
    let removes = installer.removals(&todo, &installed);
    let problems = installer.preflight(&todo, &installed, &opts.install)?;
    if !problems.is_empty() && !opts.install.force {
        return Err(InstallError::Preflight { problems, force_means: installer.force_means().into() }.into());
    }
    let output = if opts.dry_run { Vec::new() } else { run_installer(installer, &todo, &removes, opts, reporter)? };
    let role = match role_of(opts.dry_run) {
        Some(r) if !opts.dry_run => {
            reporter.status(&format!("configuring the {:?} role", r.role));
            Some(apply_bundle_role(bundle, &u, &r)?)
        }
        _ => role_plan,
    };
    Ok(InstallReport {
        bundle: bundle.to_path_buf(),
        root: opts.install.root.clone(),
        dry_run: opts.dry_run,
        actions,
        removes,
        preflight_problems: problems,
        output,
        role,
    })
}

/// Removes what the bundle replaces, then installs stage by stage; the tool's output.
fn run_installer(
    installer: &dyn install::Installer,
    todo: &[(&BundlePackage, PathBuf)],
    removes: &[install::Removal],
    opts: &InstallCmdOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, CommandError> {
    let mut output = Vec::new();
    if !removes.is_empty() {
        // As apt does (`Remv` before `Inst`): dpkg alone refuses when the node's package is the
        // side that declares the conflict.
        let names: Vec<String> = removes.iter().map(|r| r.name.clone()).collect();
        reporter.status(&format!("{}: removing {} (replaced by the bundle)", installer.tool(), names.join(", ")));
        output.push(installer.remove(&names, &opts.install)?);
    }
    let stages: std::collections::BTreeSet<u32> = todo.iter().map(|(p, _)| p.stage).collect();
    for stage in stages {
        let files: Vec<PathBuf> = todo.iter().filter(|(p, _)| p.stage == stage).map(|(_, f)| f.clone()).collect();
        reporter.status(&format!("{}: installing {} package(s), stage {stage}", installer.tool(), files.len()));
        output.push(installer.install(&files, &opts.install)?);
    }
    Ok(output)
}

/// One install or configure at a time per root: the loser is told, instead of meeting a package
/// tool's lock error half-way.
fn lock_root(root: &Path) -> Result<crate::files::DirLock, CommandError> {
    let err = |source| CommandError::Lock { root: root.to_path_buf(), source };
    crate::files::DirLock::try_take(root).map_err(err)?.ok_or_else(|| CommandError::Busy { root: root.to_path_buf() })
}

/// Applies a role with the bundle's `[time]` values (validated like flags when bundle.json was
/// read) and this binary's templates; a bundle whose `roles/` differ is named in a warning.
fn apply_bundle_role(bundle: &Path, u: &verify::Unpacked, opts: &RoleOptions) -> Result<RoleReport, CommandError> {
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

/// Where `configure` takes the role's definition from.
pub enum RoleFrom<'a> {
    /// A bundle's `bundle.json` and `roles/` (checked whole first).
    Bundle(&'a Path),
    /// A manifest (`--distro`, `--manifest`) and the built-in templates.
    Manifest(&'a Manifest),
    /// The built-in manifest whose os-release matches the node under the role's root.
    Detect,
}

/// `configure --role`: applies a role without installing anything.
pub fn configure_cmd(from: RoleFrom<'_>, opts: &RoleOptions) -> Result<RoleReport, CommandError> {
    let _lock = if opts.dry_run || !opts.root.is_dir() { None } else { Some(lock_root(&opts.root)?) };
    match from {
        RoleFrom::Bundle(b) => {
            let u = verify::verify_bundle(b)?;
            verify::check_sidecar(b, &u.bundle_sha256)?;
            verify::check_node(b, &u.index, &opts.root)?;
            apply_bundle_role(b, &u, opts)
        }
        RoleFrom::Manifest(m) => manifest_role(m, opts),
        RoleFrom::Detect => {
            let (id, version_id) = verify::node_os_release(&opts.root)?;
            for d in crate::manifest::builtin_names() {
                let m = Manifest::builtin(d)?;
                if m.os_release.id.as_str() == id && m.os_release.version_id.as_str() == version_id {
                    return manifest_role(&m, opts);
                }
            }
            Err(CommandError::NoManifestForNode {
                root: opts.root.display().to_string().trim_end_matches('/').to_string(),
                id,
                version_id,
                known: crate::manifest::builtin_names().join(", "),
            })
        }
    }
}

fn manifest_role(m: &Manifest, opts: &RoleOptions) -> Result<RoleReport, CommandError> {
    let time = m.time.as_ref().ok_or_else(|| RoleError::NoTimeSpec { origin: format!("manifest {}", m.origin) })?;
    let templates = Templates::builtin(time.flavor);
    Ok(crate::roles::apply(&RoleSource { distro: m.distro.as_str(), time, templates: &templates }, opts)?)
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
    crate::manifest::builtin_names()
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
