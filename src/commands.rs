//! One function per CLI command, stringing the stages together: `resolve`, `build`, `inspect`,
//! `verify`, `install`, `distros`. Each returns a serializable report; printing is `main`'s job.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::verify::{self, VerifyError};
use crate::bundle::{pack, BundleIndex, BundlePackage, SourceDigest, SCHEMA_VERSION};
use crate::cache::{Cache, CacheError};
use crate::fetch::{self, FetchError};
use crate::install::{self, Action, InstallError, InstallOptions};
use crate::manifest::{Manifest, ManifestError};
use crate::probe::{NodeProfile, ProbeError};
use crate::repo::{self, Metadata, MetadataSource, RepoError};
use crate::report::Reporter;
use crate::resolve::{self, Goal, Plan, ResolveError, Universe};
use crate::roles::render::{Templates, ROLES_DIR};
use crate::roles::{RoleError, RoleOptions, RoleReport, RoleSource};
use crate::transport::{Transport, TransportError};
use crate::{family, types::Sha256};

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
    let source = MetadataSource { transport, cache: Some(cache), offline: opts.offline, distro: &manifest.distro };
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
    let cache = Cache::open(&opts.cache_dir)?;
    let r = load_and_resolve(manifest, opts, &Transport::new()?, &cache, reporter)?;
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
        distro: manifest.distro.clone(),
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
    let transport = Transport::new()?;
    let cache = Cache::open(&opts.source.cache_dir)?;
    let r = load_and_resolve(manifest, &opts.source, &transport, &cache, reporter)?;
    let records: Vec<_> = r.plan.entries.iter().map(|e| &r.metadata.packages[e.package]).collect();
    let files =
        fetch::fetch_all(&records, &r.metadata.repos, &transport, &cache, opts.jobs, opts.source.offline, reporter)?;

    // Install order: by stage, then name.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| r.stages[a].cmp(&r.stages[b]).then_with(|| records[a].name.cmp(&records[b].name)));
    let packages: Vec<BundlePackage> = order
        .iter()
        .map(|&i| {
            let (p, e) = (records[i], &r.plan.entries[i]);
            BundlePackage {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: p.arch.clone(),
                file: p.file_name().to_string(),
                size: p.size,
                sha256: p.sha256,
                requested: e.requested,
                upgrades: e.upgrades.clone(),
                why: e.why.clone(),
                stage: r.stages[i],
                requires: p.requires.to_vec(),
                provides: p.provides.to_vec(),
                conflicts: p.conflicts.to_vec(),
                replaces: p.replaces.to_vec(),
            }
        })
        .collect();
    let ordered_files: Vec<PathBuf> = order.iter().map(|&i| files[i].clone()).collect();
    let sources = r
        .metadata
        .repos
        .iter()
        .flat_map(|repo| {
            repo.sources.iter().map(|(file, sha256)| SourceDigest {
                repository: repo.name.clone(),
                file: file.clone(),
                sha256: *sha256,
            })
        })
        .collect();
    let index = BundleIndex {
        schema_version: SCHEMA_VERSION,
        name: manifest.name.clone(),
        distro: manifest.distro.clone(),
        family: manifest.family,
        arch: manifest.arch.clone(),
        os_release: manifest.os_release.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source_date_epoch: opts.source_date_epoch.or(r.metadata.timestamp()).unwrap_or(0),
        requested: manifest.packages.iter().chain(&manifest.optional).map(|r| r.to_string()).collect(),
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

/// What `verify` and `inspect` report.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    /// Whether `<bundle>.sha256` was there and matched.
    pub sidecar_checked: bool,
    /// Whether the node (under `root`) was checked against the bundle's os-release and arch.
    pub node_checked: bool,
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
    if let Some(r) = &opts.role {
        crate::roles::check_flags(r)?;
        if u.index.time.is_none() {
            return Err(RoleError::NoTimeSpec { origin: format!("bundle {}", bundle.display()) }.into());
        }
    }
    let family = u.index.family;
    if opts.install.no_scripts && family == crate::manifest::Family::Deb {
        return Err(CommandError::NoScriptsDeb);
    }
    if !opts.dry_run && !install::is_root() {
        return Err(InstallError::NotRoot.into());
    }
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
    let mut output = Vec::new();
    if !opts.dry_run && !removes.is_empty() {
        // As apt does (`Remv` before `Inst`): dpkg alone refuses when the node's package is the
        // side that declares the conflict.
        let names: Vec<String> = removes.iter().map(|r| r.name.clone()).collect();
        reporter.status(&format!("{}: removing {} (replaced by the bundle)", installer.tool(), names.join(", ")));
        output.push(installer.remove(&names, &opts.install)?);
    }
    if !opts.dry_run && !todo.is_empty() {
        let max_stage = todo.iter().map(|(p, _)| p.stage).max().unwrap_or(0);
        for stage in 0..=max_stage {
            let files: Vec<PathBuf> = todo.iter().filter(|(p, _)| p.stage == stage).map(|(_, f)| f.clone()).collect();
            if files.is_empty() {
                continue;
            }
            reporter.status(&format!("{}: installing {} package(s), stage {stage}", installer.tool(), files.len()));
            output.push(installer.install(&files, &opts.install)?);
        }
    }
    let role = match &opts.role {
        Some(r) => {
            let r = RoleOptions { root: opts.install.root.clone(), dry_run: opts.dry_run, ..r.clone() };
            reporter.status(&format!("configuring the {:?} role", r.role));
            Some(apply_bundle_role(bundle, &u, &r)?)
        }
        None => None,
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

fn apply_bundle_role(bundle: &Path, u: &verify::Unpacked, opts: &RoleOptions) -> Result<RoleReport, CommandError> {
    let time = u
        .index
        .time
        .as_ref()
        .ok_or_else(|| RoleError::NoTimeSpec { origin: format!("bundle {}", bundle.display()) })?;
    let templates = Templates::from_dir(&u.dir.join(ROLES_DIR), time.flavor)?;
    Ok(crate::roles::apply(&RoleSource { distro: &u.index.distro, time, templates: &templates }, opts)?)
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
                if m.os_release.id == id && m.os_release.version_id == version_id {
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
    Ok(crate::roles::apply(&RoleSource { distro: &m.distro, time, templates: &templates }, opts)?)
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
                distro: m.distro.clone(),
                family: m.family.to_string(),
                arch: m.arch.to_string(),
                os_release: format!("{} {}", m.os_release.id, m.os_release.version_id),
                packages: m.packages.iter().map(|r| r.to_string()).collect(),
                bundle: m.bundle_file_name(),
                description: m.description.clone(),
            })
        })
        .collect()
}
