//! Planning a bundle from a resolved set: `bundle.json`'s index (the packages in install order,
//! each with its why-records and the typed version the metadata gave, the metadata digests, the
//! pinned keys, the module streams) and `moa.lock`, before anything is fetched. Also the way
//! back: a lock found again in loaded metadata ([`from_lock`]), for `build --locked`.
//!
//! Every string from the metadata becomes a validated [`Line`] (or label, or path) here; one
//! that is not is refused by name ([`PlanError`]).

use moa_model::manifest::Manifest;
use moa_model::types::{Label, Line, RepoPath, TypeError};

use super::lock::{Lock, LockError, Origin};
use super::why::WhyRecord;
use super::{BundleIndex, BundleKey, BundlePackage, SourceDigest, TargetRecord, KEYS_DIR, SCHEMA_VERSION};
use crate::repo::{Deps, Metadata, PackageRecord, Signatures};
use crate::resolve::{Plan, PlanEntry};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{what}: {source}. The repository's metadata is malformed or hostile: use another --mirror")]
    BadValue {
        what: String,
        #[source]
        source: TypeError,
    },
}

/// A resolved set: the metadata it was resolved from, the plan, each entry's install stage and
/// the entries it depends on, and the node profiles it was resolved against.
pub(crate) struct Resolved {
    pub metadata: Metadata,
    pub plan: Plan,
    pub stages: Vec<u32>,
    /// For each plan entry, the entries it depends on (plan positions).
    pub graph: Vec<Vec<usize>>,
    /// The node profiles resolved against (`--target`).
    pub targets: Vec<TargetRecord>,
    /// What each of those nodes has installed (`build --rollback` keeps its versions).
    pub nodes: Vec<Vec<crate::repo::Installed>>,
}

/// What of the build's options the plan records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanOptions {
    /// The members' fixed mtime; by default the metadata's newest timestamp (or the lock's).
    pub source_date_epoch: Option<u64>,
    /// Whether upstream signatures were checked (the bundle carries the pinned keys only then).
    pub signatures: Signatures,
}

/// A planned bundle: its index, its packages' records in index order, and its lock.
pub(crate) struct Planned<'r> {
    pub index: BundleIndex,
    pub records: Vec<&'r PackageRecord>,
    pub lock: Lock,
}

/// bundle.json and moa.lock for a resolve: packages in install order (by stage, then name).
/// From a lock, its sources and mtime are kept, so the bundle is the one the lock describes.
pub(crate) fn plan_bundle<'r>(
    manifest: &Manifest,
    opts: &PlanOptions,
    r: &'r Resolved,
    locked: Option<&Lock>,
) -> Result<Planned<'r>, PlanError> {
    let all: Vec<&PackageRecord> = r.plan.entries.iter().map(|e| &r.metadata.packages[e.package]).collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| r.stages[a].cmp(&r.stages[b]).then_with(|| all[a].name.cmp(&all[b].name)));
    let packages = order
        .iter()
        .map(|&i| bundle_package(all[i], &r.plan.entries[i], r.stages[i], &r.metadata.repos[all[i].repo].name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut index = bundle_index(manifest, opts, &r.metadata, packages)?;
    index.targets = r.targets.clone();
    let mut streams: Vec<&str> = r.plan.entries.iter().filter_map(|e| r.metadata.stream_of(e.package)).collect();
    streams.sort_unstable();
    streams.dedup();
    index.modules = streams
        .into_iter()
        .map(|s| {
            moa_model::manifest::ModuleRef::parse(s).map_err(|source| PlanError::BadValue {
                what: format!("module stream `{}`", moa_model::types::shown(s)),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    if let Some(lock) = locked {
        index.sources = lock.sources.clone();
        index.source_date_epoch = opts.source_date_epoch.unwrap_or(lock.source_date_epoch);
    }
    let records: Vec<&PackageRecord> = order.iter().map(|&i| all[i]).collect();
    let origins = order
        .iter()
        .map(|&i| {
            let p = all[i];
            let bad = |source| PlanError::BadValue { what: format!("package {} location", p.nevra()), source };
            let mut depends: Vec<_> = r.graph.get(i).into_iter().flatten().map(|&j| all[j].name.clone()).collect();
            depends.sort();
            depends.dedup();
            Ok(Origin {
                repository: Label::new(&r.metadata.repos[p.repo].name).map_err(bad)?,
                location: RepoPath::new(p.location()).map_err(bad)?,
                depends,
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    let lock = Lock::of(&index, &origins)
        .map_err(|source| PlanError::BadValue { what: "a version in the plan".into(), source })?;
    Ok(Planned { index, records, lock })
}

/// bundle.json for the planned packages.
fn bundle_index(
    manifest: &Manifest,
    opts: &PlanOptions,
    metadata: &Metadata,
    packages: Vec<BundlePackage>,
) -> Result<BundleIndex, PlanError> {
    let mut sources = Vec::new();
    for repo in &metadata.repos {
        for crate::repo::Source { file, sha256, signed_by } in &repo.sources {
            let what = || format!("repository `{}`: metadata file `{}`", repo.name, moa_model::types::shown(file));
            let bad = |source| PlanError::BadValue { what: what(), source };
            sources.push(SourceDigest {
                repository: Label::new(&repo.name).map_err(bad)?,
                file: RepoPath::new(file).map_err(bad)?,
                sha256: *sha256,
                signed_by: signed_by.clone(),
            });
        }
    }
    let requested = manifest.packages.iter().chain(&manifest.optional).map(|r| line(&r.to_string(), "a request"));
    Ok(BundleIndex {
        schema_version: SCHEMA_VERSION,
        name: manifest.name.clone(),
        distro: manifest.distro.clone(),
        family: manifest.family,
        arch: manifest.arch.clone(),
        os_release: manifest.os_release.clone(),
        tool_version: line(env!("CARGO_PKG_VERSION"), "the tool version")?,
        source_date_epoch: opts.source_date_epoch.or(metadata.timestamp()).unwrap_or(0),
        requested: requested.collect::<Result<_, _>>()?,
        packages,
        sources,
        upstream_signatures: opts.signatures,
        keys: keys(manifest, opts.signatures).into_iter().map(|(k, _)| k).collect(),
        time: manifest.time.clone(),
        modules: Vec::new(),
        installer: None,
        since: None,
        targets: Vec::new(),
        rollback: Vec::new(),
        rollback_missing: Vec::new(),
    })
}

/// The pinned keys a bundle carries (none when signatures are skipped), with their bytes.
pub(crate) fn keys(manifest: &Manifest, signatures: Signatures) -> Vec<(BundleKey, Vec<u8>)> {
    if signatures != Signatures::Verify {
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in &manifest.repositories {
        for k in &r.keys {
            let file = format!("{}/{}-{}.key", KEYS_DIR, r.name, k.fingerprint);
            let key =
                BundleKey { repository: r.name.clone(), file, fingerprint: k.fingerprint.clone(), legacy: k.legacy };
            out.push((key, k.bytes.clone()));
        }
    }
    out
}

/// `s` as a [`Line`], or the error naming `what` it is.
pub(crate) fn line(s: &str, what: &str) -> Result<Line, PlanError> {
    Line::new(s).map_err(|source| PlanError::BadValue { what: what.to_string(), source })
}

/// A planned package as bundle.json lists it; every string from the metadata becomes a [`Line`].
fn bundle_package(p: &PackageRecord, e: &PlanEntry, stage: u32, repo: &str) -> Result<BundlePackage, PlanError> {
    let what = |field: &str| format!("package {} from the metadata, field {field}", p.nevra());
    let lines = |field: &str, list: Deps<'_>| -> Result<Vec<Line>, PlanError> {
        list.iter().map(|s| line(s, &what(field))).collect()
    };
    moa_model::types::safe_file_name(p.file_name())
        .map_err(|source| PlanError::BadValue { what: what("location"), source })?;
    Ok(BundlePackage {
        name: p.name.clone(),
        // Its text must be a Line too: the lock and every report print it.
        version: line(&p.version.to_string(), &what("version")).map(|_| p.version.clone())?,
        arch: p.arch.clone(),
        file: p.file_name().to_string(),
        size: p.size,
        sha256: p.sha256,
        requested: e.requested,
        upgrades: e.upgrades.as_deref().map(|u| line(u, &what("upgrades"))).transpose()?,
        why: e
            .why
            .iter()
            .map(|w| WhyRecord::of(w).map_err(|source| PlanError::BadValue { what: what("why"), source }))
            .collect::<Result<_, _>>()?,
        stage,
        requires: lines("requires", p.requires())?,
        provides: lines("provides", p.provides())?,
        conflicts: lines("conflicts", p.conflicts())?,
        replaces: lines("replaces", p.replaces())?,
        repository: Some(Label::new(repo).map_err(|source| PlanError::BadValue { what: what("repository"), source })?),
    })
}

/// The set a lock names, found again in freshly loaded metadata: each package at its
/// repository and location with its sha256, or the error naming what vanished or changed.
pub(crate) fn from_lock(metadata: Metadata, lock: &Lock) -> Result<Resolved, LockError> {
    let mut entries = Vec::with_capacity(lock.packages.len());
    let mut stages = Vec::with_capacity(lock.packages.len());
    let position = |name: &moa_model::types::PackageName| lock.packages.iter().position(|q| q.name == *name);
    let graph = lock.packages.iter().map(|l| l.depends.iter().filter_map(position).collect()).collect();
    for l in &lock.packages {
        let found = metadata
            .packages
            .iter()
            .position(|p| metadata.repos[p.repo].name == l.repository.as_str() && p.location() == l.location.as_str());
        let Some(i) = found else {
            return Err(LockError::Vanished {
                package: l.nevra(),
                repository: l.repository.to_string(),
                location: l.location.to_string(),
            });
        };
        if metadata.packages[i].sha256 != l.sha256 {
            return Err(LockError::Changed { package: l.nevra(), locked: l.sha256, now: metadata.packages[i].sha256 });
        }
        entries.push(PlanEntry {
            package: i,
            requested: l.requested,
            upgrades: l.upgrades.as_ref().map(|u| u.to_string()),
            why: l.why.iter().map(WhyRecord::step).collect(),
        });
        stages.push(l.stage);
    }
    let plan = Plan { entries, ..Default::default() };
    let targets = lock.targets.clone();
    Ok(Resolved { metadata, plan, stages, graph, targets, nodes: Vec::new() })
}
