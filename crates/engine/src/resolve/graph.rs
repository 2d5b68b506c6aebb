//! The plan's dependency graph, computed once per resolve: for each planned package, each of
//! its requirements and the planned packages that meet it. What is derived from the plan's
//! edges reads this one graph: the why-chains, the SBOM's dependencies, the install stages
//! (dpkg's pre-dependency order), `--why` and `--why-not`.

use std::collections::HashMap;

use super::{Plan, ResolveError, Universe};

/// A requirement of a planned package, as written, and the planned packages (by plan position,
/// itself included when it meets its own requirement) that meet it.
#[derive(Debug, Clone)]
pub(crate) struct Requirement {
    pub raw: String,
    /// A pre-requirement (deb `Pre-Depends`, rpm `Requires(pre)`): met before it is unpacked.
    pub pre: bool,
    pub met_by: Vec<usize>,
}

/// For each plan entry (by position), its requirements in the order its record lists them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanGraph {
    pub requirements: Vec<Vec<Requirement>>,
}

impl PlanGraph {
    /// The graph of a plan's entries.
    pub(crate) fn new(u: &Universe<'_>, plan: &Plan) -> Result<Self, ResolveError> {
        Self::over(u, &plan.entries.iter().map(|e| e.package as u32).collect::<Vec<_>>())
    }

    /// The graph of `packages` (ids; positions are their places in this list).
    pub(crate) fn over(u: &Universe<'_>, packages: &[u32]) -> Result<Self, ResolveError> {
        Self::over_asked(u, packages, &Default::default())
    }

    /// [`PlanGraph::over`], where `asked` already holds what meets some packages' requirements.
    pub(crate) fn over_asked(
        u: &Universe<'_>,
        packages: &[u32],
        asked: &super::prune::Meeting,
    ) -> Result<Self, ResolveError> {
        let pos: HashMap<u32, usize> = packages.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let mut requirements = Vec::with_capacity(packages.len());
        for &id in packages {
            let p = u.pkg(id);
            let mut reqs = Vec::new();
            for (i, raw) in p.requires().iter().enumerate() {
                let met_by = match asked.get(&id).and_then(|all| all.get(i)) {
                    Some(meeting) => meeting.iter().filter_map(|q| pos.get(q).copied()).collect(),
                    None => u.meeting(id, raw)?.iter().filter_map(|q| pos.get(q).copied()).collect(),
                };
                reqs.push(Requirement { raw: raw.to_string(), pre: p.pre_requires().contains(raw), met_by });
            }
            requirements.push(reqs);
        }
        Ok(Self { requirements })
    }

    /// For each entry, the other entries it depends on, ascending: the graph an SBOM records.
    pub(crate) fn depends_on(&self) -> Vec<Vec<usize>> {
        self.requirements
            .iter()
            .enumerate()
            .map(|(me, reqs)| {
                let mut to: Vec<usize> =
                    reqs.iter().flat_map(|r| r.met_by.iter().copied()).filter(|&j| j != me).collect();
                to.sort_unstable();
                to.dedup();
                to
            })
            .collect()
    }

    /// Install stages for the plan's entries: a package comes one stage after every bundled
    /// package that meets one of its pre-requirements, and no earlier than what it depends on
    /// (dpkg must have a pre-dependency configured before it unpacks the package that needs it).
    pub(crate) fn install_stages(&self) -> Vec<u32> {
        let n = self.requirements.len();
        let mut stage = vec![0u32; n];
        // Longest-path relaxation; bounded so a dependency cycle cannot loop forever.
        for _ in 0..n.max(1) {
            let mut changed = false;
            for (i, reqs) in self.requirements.iter().enumerate() {
                let mut want = 0;
                for r in reqs {
                    for &j in r.met_by.iter().filter(|&&j| j != i) {
                        want = want.max(stage[j] + u32::from(r.pre));
                    }
                }
                let want = want.min(n as u32);
                if want > stage[i] {
                    stage[i] = want;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        stage
    }
}
