//! `build`: resolve, then fetch and pack at once — the packages download in the bundle's member
//! order on their own threads while the packer writes each one as it lands — unless the output
//! already holds exactly this bundle (same tool, metadata, packages and roles), which is then
//! left as it is: nothing is fetched or written again.

use std::path::PathBuf;

use serde::Serialize;

use super::{load_and_resolve, plan_items, CommandError, PlanItem, SourceOptions};
use crate::bundle::{pack, BundleIndex, BundlePackage, SourceDigest, SCHEMA_VERSION};
use crate::cache::Cache;
use crate::fetch::{self, Arrivals, FetchOptions};
use crate::manifest::Manifest;
use crate::repo::{DepList, PackageRecord};
use crate::report::Reporter;
use crate::resolve::PlanEntry;
use crate::transport::Transport;
use crate::types::{Label, Line, RepoPath, Sha256};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub jobs: usize,
    pub source: SourceOptions,
    /// Fixed mtime; defaults to the metadata's newest timestamp.
    pub source_date_epoch: Option<u64>,
    /// A minisign secret key: sign the bundle into `<bundle>.minisig`.
    pub sign: Option<PathBuf>,
}

/// What `build` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
    /// The output already held exactly this bundle, so nothing was fetched or written.
    pub unchanged: bool,
    pub packages: Vec<PlanItem>,
    pub notes: Vec<String>,
    /// `<bundle>.minisig`, when `--sign` was given.
    pub signature: Option<PathBuf>,
}

/// Builds the bundle, then signs it when asked (an unchanged bundle is signed again: the key
/// may be new).
pub fn build(manifest: &Manifest, opts: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport, CommandError> {
    let mut report = build_unsigned(manifest, opts, reporter)?;
    if let Some(key) = &opts.sign {
        reporter.status(&format!("signing {}", report.bundle.display()));
        report.signature = Some(crate::bundle::sign::sign(&report.bundle, key, &report.sha256)?);
    }
    Ok(report)
}

fn build_unsigned(
    manifest: &Manifest,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport, CommandError> {
    let transport = Transport::new(opts.source.stall)?;
    let cache = Cache::open(&opts.source.cache_dir, reporter)?;
    let r = load_and_resolve(manifest, &opts.source, &transport, &cache, reporter)?;
    let records: Vec<&PackageRecord> = r.plan.entries.iter().map(|e| &r.metadata.packages[e.package]).collect();

    // Install order: by stage, then name.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| r.stages[a].cmp(&r.stages[b]).then_with(|| records[a].name.cmp(&records[b].name)));
    let packages = order
        .iter()
        .map(|&i| bundle_package(records[i], &r.plan.entries[i], r.stages[i]))
        .collect::<Result<Vec<_>, _>>()?;
    let index = bundle_index(manifest, opts, &r.metadata, packages)?;
    let roles = manifest.time.as_ref().map(|t| crate::roles::render::bundle_files(t.flavor)).unwrap_or_default();
    let stem = manifest.bundle_stem();
    let report = |sha256, size, unchanged| BuildReport {
        bundle: opts.output.clone(),
        sha256,
        size,
        unchanged,
        packages: plan_items(&r),
        notes: r.plan.notes.clone(),
        signature: None,
    };

    let key = pack::content_key(&index, &roles, &stem);
    if let Some((sha256, size)) = cache.unchanged_bundle(&key, &opts.output) {
        reporter.status(&format!("{} already holds this bundle: nothing to fetch or pack", opts.output.display()));
        return Ok(report(sha256, size, true));
    }

    let out_dir = crate::files::parent_dir(&opts.output);
    let swept = crate::files::sweep_partials(&out_dir);
    if swept > 0 {
        reporter.event(&crate::report::Event::Swept { what: out_dir.display().to_string(), count: swept });
    }

    // Fetch in member order (packages/ sorted by file name), so the packer rarely waits.
    let mut fetch_order: Vec<usize> = (0..index.packages.len()).collect();
    fetch_order.sort_by(|&a, &b| index.packages[a].file.cmp(&index.packages[b].file));
    let mut slot = vec![0; fetch_order.len()];
    for (pos, &i) in fetch_order.iter().enumerate() {
        slot[i] = pos;
    }
    let to_fetch: Vec<&PackageRecord> = fetch_order.iter().map(|&i| records[order[i]]).collect();
    let arrivals = Arrivals::new(to_fetch.len());
    let check = package_signatures(manifest, opts)?;
    let fetch_opts =
        FetchOptions { jobs: opts.jobs, offline: opts.source.offline, arrivals: Some(&arrivals), check: Some(&check) };
    let (fetched, packed) = std::thread::scope(|s| {
        let fetcher = s.spawn(|| {
            let r = fetch::fetch_all(&to_fetch, &r.metadata.repos, &transport, &cache, &fetch_opts, reporter);
            arrivals.close();
            r
        });
        reporter.status(&format!("packing {} as the packages arrive", opts.output.display()));
        let packed = pack::write_bundle(&index, &|i| arrivals.wait(slot[i]), &roles, &stem, &opts.output);
        (fetcher.join().expect("the fetch thread does not panic"), packed)
    });
    // A fetch error first: it is why a package was missing from the pack.
    fetched?;
    let packed = packed?;
    cache.record_bundle(&key, &packed.path, &packed.sha256);
    Ok(report(packed.sha256, packed.size, false))
}

/// The check every fetched package passes before it is packed: its own signature (rpm headers)
/// by a key its repository pins, unless signatures are skipped.
fn package_signatures(
    manifest: &Manifest,
    opts: &BuildOptions,
) -> Result<impl Fn(&PackageRecord, &std::path::Path) -> Result<(), String> + Sync, CommandError> {
    let verify = opts.source.signatures == crate::repo::Signatures::Verify;
    let rings = manifest
        .repositories
        .iter()
        .map(|r| match verify {
            true => crate::trust::Keyring::load(&r.keys)
                .map(Some)
                .map_err(|error| crate::repo::RepoError::Keys { repo: r.name.to_string(), error }),
            false => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let files = crate::family::package_file(manifest.family);
    Ok(move |p: &PackageRecord, path: &std::path::Path| match &rings[p.repo] {
        Some(ring) => files.check_signature(path, ring).map(|_| ()).map_err(|e| e.to_string()),
        None => Ok(()),
    })
}

/// bundle.json for the planned packages.
fn bundle_index(
    manifest: &Manifest,
    opts: &BuildOptions,
    metadata: &crate::repo::Metadata,
    packages: Vec<BundlePackage>,
) -> Result<BundleIndex, CommandError> {
    let mut sources = Vec::new();
    for repo in &metadata.repos {
        for crate::repo::Source { file, sha256, signed_by } in &repo.sources {
            let what = || format!("repository `{}`: metadata file `{}`", repo.name, crate::types::shown(file));
            let bad = |source| CommandError::BadMetadataValue { what: what(), source };
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
        upstream_signatures: opts.source.signatures,
        time: manifest.time.clone(),
    })
}

fn line(s: &str, what: &str) -> Result<Line, CommandError> {
    Line::new(s).map_err(|source| CommandError::BadMetadataValue { what: what.to_string(), source })
}

/// A planned package as bundle.json lists it; every string from the metadata becomes a [`Line`].
fn bundle_package(p: &PackageRecord, e: &PlanEntry, stage: u32) -> Result<BundlePackage, CommandError> {
    let what = |field: &str| format!("package {} from the metadata, field {field}", p.nevra());
    let lines = |field: &str, list: &DepList| -> Result<Vec<Line>, CommandError> {
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
