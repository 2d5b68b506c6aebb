//! What a command that reads repositories works with ([`Session`], made once at its start),
//! and the first two steps every such command takes: the metadata loaded
//! ([`load_metadata`]) and the plan resolved ([`load_and_resolve`]), against node profiles
//! when there are some.

use std::path::PathBuf;

use super::{CommandError, SourceOptions};
use crate::bundle::plan::Resolved;
use crate::cache::Cache;
use crate::family::{self, Backend};
use crate::probe::{NodeProfile, ProbeError};
use crate::repo::{self, Metadata, MetadataSource};
use crate::report::Reporter;
use crate::resolve::{self, Goal, Plan, Universe};
use crate::transport::Transport;
use moa_model::manifest::Manifest;

/// Made once per command: the family's parts (one [`Backend`], not a lookup per part), where
/// the metadata comes from, the transport, the cache, and where progress goes.
pub(crate) struct Session<'a> {
    pub backend: &'static Backend,
    pub source: SourceOptions,
    pub transport: Transport,
    pub cache: Cache,
    pub reporter: &'a dyn Reporter,
}

impl<'a> Session<'a> {
    pub(crate) fn open(
        manifest: &Manifest,
        source: &SourceOptions,
        reporter: &'a dyn Reporter,
    ) -> Result<Self, CommandError> {
        Ok(Session {
            backend: family::backend(manifest.family),
            source: source.clone(),
            transport: Transport::new(source.stall)?,
            cache: Cache::open(&source.cache_dir, reporter)?,
            reporter,
        })
    }
}

/// The manifest's metadata loaded and its plan resolved: against the node profiles of
/// `--target` when there are some, else against the manifest's base.
pub(crate) fn load_and_resolve(manifest: &Manifest, session: &Session<'_>) -> Result<Resolved, CommandError> {
    load_and_resolve_with(manifest, session, |_, _, _| Ok(())).map(|(r, ())| r)
}

/// [`load_and_resolve`], and `read` of the resolve's universe, plan and dependency graph while
/// they exist (`--why` reads them instead of indexing every record again).
pub(crate) fn load_and_resolve_with<T>(
    manifest: &Manifest,
    session: &Session<'_>,
    read: impl FnOnce(&Universe<'_>, &Plan, &resolve::PlanGraph) -> Result<T, CommandError>,
) -> Result<(Resolved, T), CommandError> {
    let (opts, reporter) = (&session.source, session.reporter);
    // Profiles first: a missing or mismatched one fails before any download.
    let targets = opts
        .targets
        .iter()
        .map(|path| {
            let (p, digest) = NodeProfile::load_with_digest(path)?;
            p.check_fits(path, manifest)?;
            Ok((path.clone(), p, digest))
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let records = target_records(&targets)?;
    let targets: Vec<(PathBuf, NodeProfile)> = targets.into_iter().map(|(path, p, _)| (path, p)).collect();
    // The streams the nodes have enabled are enabled for the resolve too (dnf on each node
    // would see those streams' packages).
    let with_streams;
    let manifest = match node_streams(manifest, &targets)? {
        Some(m) => {
            with_streams = m;
            &with_streams
        }
        None => manifest,
    };
    let metadata = load_metadata(manifest, session)?;
    reporter.status(&format!("resolving {} packages", metadata.packages.len()));
    let b = session.backend;
    let u = Universe::new(&metadata, b.syntax, b.policy, manifest.arch.as_str());
    let plan = if targets.is_empty() { None } else { Some(resolve_for_targets(manifest, &u, &targets)?) };
    let plan = match plan {
        Some(p) => p,
        None => {
            let mut goal = Goal::from_manifest(manifest, opts.no_base);
            if !opts.no_base {
                if let Some(group) = metadata.missing_groups.first() {
                    let (distro, group) = (manifest.distro.to_string(), group.clone());
                    return Err(crate::resolve::ResolveError::MissingGroup { distro, group }.into());
                }
                goal.base_roots.extend(metadata.group_roots.iter().cloned());
            }
            resolve::resolve(&u, &goal, &manifest.origin)?
        }
    };
    let mut plan = plan;
    let graph = match plan.graph.take() {
        Some(g) => g,
        None => resolve::PlanGraph::new(&u, &plan)?,
    };
    let read = read(&u, &plan, &graph)?;
    let (stages, graph) = (graph.install_stages(), graph.depends_on());
    drop(u);
    let nodes = targets.into_iter().map(|(_, p)| p.packages).collect();
    Ok((Resolved { metadata, plan, stages, graph, targets: records, nodes }, read))
}

/// Frees `value` on a thread of its own. A resolve's metadata is some 700,000 allocations on
/// bookworm; the command's answer need not wait for them to be freed one by one (when the
/// process ends first, the memory goes back with it).
pub(crate) fn free_later<T: Send + 'static>(value: T) {
    // When no thread can be started, the closure (and `value`) is dropped here instead.
    let _ = std::thread::Builder::new().name("free".into()).spawn(move || drop(value));
}

/// What bundle.json and moa.lock record of each profile: its file name, its node, the digest
/// of the bytes read.
fn target_records(
    targets: &[(PathBuf, NodeProfile, moa_model::types::Sha256)],
) -> Result<Vec<crate::bundle::TargetRecord>, ProbeError> {
    targets
        .iter()
        .map(|(path, p, sha256)| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let line = |s: &str| {
                moa_model::types::Line::new(&moa_model::types::shown(s))
                    .map_err(|e| ProbeError::Invalid { path: path.clone(), message: e.to_string() })
            };
            Ok(crate::bundle::TargetRecord { profile: line(&name)?, source: line(&p.source)?, sha256: *sha256 })
        })
        .collect()
}

/// The manifest with the module streams the node profiles have enabled added, when they have
/// any; two streams of one module across the manifest and the nodes are refused, naming them.
fn node_streams(manifest: &Manifest, targets: &[(PathBuf, NodeProfile)]) -> Result<Option<Manifest>, CommandError> {
    if targets.iter().all(|(_, p)| p.modules.is_empty()) {
        return Ok(None);
    }
    let mut m = manifest.clone();
    for (path, p) in targets {
        for s in &p.modules {
            match m.modules.iter().find(|e| e.name == s.name) {
                Some(e) if e.stream != s.stream => {
                    return Err(crate::resolve::ResolveError::StreamClash {
                        module: s.name.to_string(),
                        a: e.stream.to_string(),
                        b: s.stream.to_string(),
                        node: path.display().to_string(),
                    }
                    .into())
                }
                Some(_) => {}
                None => m.modules.push(s.clone()),
            }
        }
    }
    Ok(Some(m))
}

/// Every repository's metadata, signatures checked unless the source says to skip them.
pub(crate) fn load_metadata(manifest: &Manifest, session: &Session<'_>) -> Result<Metadata, CommandError> {
    let (opts, reporter) = (&session.source, session.reporter);
    let source = MetadataSource {
        transport: &session.transport,
        cache: Some(&session.cache),
        offline: opts.offline,
        distro: manifest.distro.as_str(),
        reporter,
        signatures: opts.signatures,
        freshness: repo::apt::Freshness::at_now(opts.allow_old_metadata),
        keep_entries: opts.keep_entries,
    };
    Ok(repo::load(manifest, session.backend.metadata, &source, reporter)?)
}

/// One resolve per node profile, each against that node's packages laid over the repositories'
/// (`u`, whose index is built once for all nodes); the plan is the union, with the newest
/// version where two nodes need different ones.
fn resolve_for_targets(
    manifest: &Manifest,
    u: &Universe<'_>,
    targets: &[(PathBuf, NodeProfile)],
) -> Result<Plan, CommandError> {
    let metadata = u.md;
    let mut merged = Plan::default();
    let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (path, profile) in targets {
        let node = format!("{} ({})", profile.source, path.display());
        let packages = resolve::NodePackages::new(u, &node, &profile.packages)?;
        let goal = Goal::against_node(manifest, packages.repo);
        let plan = resolve::resolve(&u.on_node(&packages), &goal, &manifest.origin)?;
        merged.base_count = merged.base_count.max(plan.base_count);
        merged
            .notes
            .extend(plan.notes.into_iter().map(|n| resolve::Note::ForNode { node: node.clone(), note: Box::new(n) }));
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
                    merged.notes.push(resolve::Note::NewerForAnotherNode {
                        node: node.clone(),
                        package: name.to_string(),
                        needs: metadata.packages[e.package].version.to_string(),
                        packed: metadata.packages[merged.entries[i].package].version.to_string(),
                    });
                    merged.entries[i] = e;
                }
                Some(_) => {}
            }
        }
    }
    merged.entries.sort_by(|a, b| metadata.packages[a.package].name.cmp(&metadata.packages[b.package].name));
    Ok(merged)
}
