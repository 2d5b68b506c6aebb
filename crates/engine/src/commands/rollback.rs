//! `build --target NODE --rollback`: the rollback kit. For every package the bundle upgrades on
//! that node, and every node package installing it removes (as the node's installer will:
//! [`crate::install::Installer::removals`]; or that a bundled package obsoletes), the version the node has now is looked up in the
//! same repositories, fetched and checked like every other package, and packed under
//! `rollback/`, so `undo` can put the node back without a connected machine.

use std::path::PathBuf;

use crate::bundle::{BundleIndex, BundlePackage, RollbackPackage};
use crate::family::Backend;
use crate::repo::{Installed, Metadata, PackageRecord};

use moa_model::types::Line;

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("--rollback keeps the versions one node has: pass exactly one --target NODE.json (got {0})")]
    OneTarget(usize),
    #[error("the rollback kit lacks versions the node has and no repository publishes any more:\n{}\nPass --rollback-mirror URL of a mirror that still has them (an archive or snapshot mirror), or --rollback-partial to build without them (undo then refuses to put these back)", .missing.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n"))]
    Unpublished { missing: Vec<String> },
}

/// The kit: its packages, with the records to fetch them by (and which of the metadata given
/// each came from), and what it could not find.
pub(crate) struct Kit<'m> {
    pub packages: Vec<RollbackPackage>,
    pub records: Vec<(usize, &'m PackageRecord)>,
    pub missing: Vec<Line>,
}

/// The node's packages this bundle changes: those it upgrades, those the installer removes for
/// it, and those a bundled package obsoletes (`obsoletes`: the bundled packages' raw Obsoletes;
/// rpm takes those away as it installs).
fn changed_on_node<'n>(
    index: &BundleIndex,
    node: &'n [Installed],
    obsoletes: &[String],
    backend: &Backend,
) -> Vec<&'n Installed> {
    let todo: Vec<(&BundlePackage, PathBuf)> = index.packages.iter().map(|p| (p, PathBuf::new())).collect();
    let removed = backend.installer.removals(&todo, node);
    let noted = |i: &Installed| {
        let Ok(version) = backend.syntax.parse_version(&i.version) else { return false };
        obsoletes.iter().any(|raw| {
            let alts = backend.syntax.parse_requirement(raw);
            alts.is_ok_and(|alts| alts.iter().any(|r| r.name == i.name && r.accepts(Some(&version), false)))
        })
    };
    let upgraded = |i: &Installed| {
        let version = backend.syntax.parse_version(&i.version).ok();
        let other = |p: &&BundlePackage| Some(&p.version) != version.as_ref();
        index.packages.iter().filter(other).any(|p| p.name.as_str() == i.name && p.arch.as_str() == i.arch)
    };
    let by_installer = |i: &Installed| removed.iter().any(|r| r.name == i.name && r.version == i.version);
    node.iter().filter(|i| upgraded(i) || by_installer(i) || noted(i)).collect()
}

/// The node's packages the kit needs: those the bundle changes (refused unless one node).
pub(crate) fn wanted<'n>(
    index: &BundleIndex,
    nodes: &'n [Vec<Installed>],
    obsoletes: &[String],
    backend: &Backend,
) -> Result<Vec<&'n Installed>, RollbackError> {
    let [node] = nodes else { return Err(RollbackError::OneTarget(nodes.len())) };
    Ok(changed_on_node(index, node, obsoletes, backend))
}

/// Finds each of `wanted` in `sources` (the manifest's repositories first, then those of
/// `--rollback-mirror`); with `partial`, what none publishes is listed instead of refused.
pub(crate) fn plan<'m>(
    wanted: &[&Installed],
    sources: &[&'m Metadata],
    backend: &Backend,
    partial: bool,
) -> Result<Kit<'m>, RollbackError> {
    let mut kit = Kit { packages: Vec::new(), records: Vec::new(), missing: Vec::new() };
    let mut missing = Vec::new();
    for i in wanted {
        let version = backend.syntax.parse_version(&i.version).ok();
        let usable = |r: &&PackageRecord| {
            r.name.as_str() == i.name
                && r.arch.as_str() == i.arch
                && Some(&r.version) == version.as_ref()
                && moa_model::types::safe_file_name(r.file_name()).is_ok()
        };
        let found = sources.iter().enumerate().find_map(|(s, m)| m.packages.iter().find(usable).map(|r| (s, *m, r)));
        let Some((source, metadata, r)) = found else {
            missing.push(format!("{} {} {}", i.name, i.arch, i.version));
            continue;
        };
        if kit.packages.iter().any(|p: &RollbackPackage| p.file == r.file_name()) {
            continue;
        }
        kit.packages.push(RollbackPackage {
            name: r.name.clone(),
            version: r.version.clone(),
            arch: r.arch.clone(),
            file: r.file_name().to_string(),
            size: r.size,
            sha256: r.sha256,
            repository: metadata.repos.get(r.repo).and_then(|repo| moa_model::types::Label::new(&repo.name).ok()),
        });
        kit.records.push((source, r));
    }
    if !missing.is_empty() && !partial {
        return Err(RollbackError::Unpublished { missing });
    }
    kit.missing = missing.iter().filter_map(|m| Line::new(m).ok()).collect();
    Ok(kit)
}
