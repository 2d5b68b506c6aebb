//! `resolve --why PKG` (every chain from a requested package to PKG) and `--why-not PKG` (why a
//! package is not packed), computed from a finished plan's [`PlanGraph`].

use serde::Serialize;

use super::{Plan, PlanGraph, ResolveError, Universe};

/// What `--why` says of a request that the manifest's estimated base already has.
pub(crate) const IN_BASE: &str = "the estimated base has it too: packed anyway, in case the estimate is wrong; --target with a node's profile packs only what that node lacks";

/// At most this many chains are listed; a dense graph has exponentially many.
pub(crate) const MAX_CHAINS: usize = 50;

/// Every chain (up to [`MAX_CHAINS`]) from a requested package to `name`, each step written
/// `a needs REQUIREMENT`. Empty when `name` is not planned.
pub(crate) fn why(
    u: &Universe<'_>,
    plan: &Plan,
    graph: &PlanGraph,
    name: &str,
) -> Result<Vec<Vec<String>>, ResolveError> {
    let Some(target) = plan.entries.iter().position(|e| u.md.packages[e.package].name.as_str() == name) else {
        return Ok(vec![]);
    };
    let pname = |i: usize| u.md.packages[plan.entries[i].package].name.to_string();
    let mut chains = Vec::new();
    for (start, e) in plan.entries.iter().enumerate() {
        if !e.requested {
            continue;
        }
        // A request the estimated base already has is packed all the same: said so.
        let first = match plan.base.contains(&e.package) {
            true => format!("{} (requested; {IN_BASE})", pname(start)),
            false => format!("{} (requested)", pname(start)),
        };
        // Depth-first over simple paths.
        let mut stack: Vec<(usize, Vec<String>, Vec<usize>)> = vec![(start, vec![first], vec![start])];
        while let Some((at, steps, seen)) = stack.pop() {
            if chains.len() >= MAX_CHAINS {
                return Ok(chains);
            }
            if at == target {
                chains.push(steps);
                continue;
            }
            for super::graph::Requirement { raw, met_by, .. } in graph.requirements[at].iter().rev() {
                for &next in met_by {
                    if !seen.contains(&next) {
                        let mut s = steps.clone();
                        s.push(format!("{} needs {raw}", pname(at)));
                        let mut v = seen.clone();
                        v.push(next);
                        stack.push((next, s, v));
                    }
                }
            }
        }
    }
    Ok(chains)
}

/// Why a package is not packed.
#[derive(Debug, Clone, Serialize)]
pub struct WhyNot {
    pub package: String,
    pub reasons: Vec<String>,
}

pub(crate) fn why_not(u: &Universe<'_>, plan: &Plan, graph: &PlanGraph, name: &str) -> Result<WhyNot, ResolveError> {
    let mut reasons = Vec::new();
    let records: Vec<usize> = (0..u.md.packages.len()).filter(|&i| u.md.packages[i].name.as_str() == name).collect();
    if plan.entries.iter().any(|e| u.md.packages[e.package].name.as_str() == name) {
        reasons.push(format!("{name} is packed: see --why {name}"));
    } else if let Some((new, conflict)) = plan.notes.iter().find_map(|n| match n {
        crate::resolve::explain::Note::Removes { new, old, conflict }
            if records.iter().any(|&i| u.md.packages[i].nevra() == *old) =>
        {
            Some((new, conflict))
        }
        _ => None,
    }) {
        reasons.push(format!(
            "the node has {name}, but installing {new} removes it (it conflicts with it: `{conflict}`): nothing in the plan keeps it"
        ));
    } else if records.is_empty() {
        reasons.push(format!("no repository of the manifest has a package named {name}"));
    } else if let Some(&b) = plan.base.iter().find(|&&b| u.pkg(b as u32).name.as_str() == name) {
        let p = u.pkg(b as u32);
        let repo = u.repo_name(p.repo);
        reasons.push(format!("{name} {} is part of the node's base ({repo}), so the node has it already", p.version));
    } else {
        // Requirements of planned packages it would satisfy, met by something else.
        for (i, reqs) in graph.requirements.iter().enumerate() {
            for super::graph::Requirement { raw, met_by: provs, .. } in reqs {
                let would = u.meeting(plan.entries[i].package as u32, raw)?;
                if would.iter().any(|&p| records.contains(&(p as usize))) {
                    let by: Vec<String> =
                        provs.iter().map(|&j| u.md.packages[plan.entries[j].package].name.to_string()).collect();
                    let by = if by.is_empty() { "the base".to_string() } else { by.join(", ") };
                    let needer = &u.md.packages[plan.entries[i].package].name;
                    reasons.push(format!("{needer} needs `{raw}`, which {name} could satisfy, but {by} already does"));
                }
            }
        }
        if reasons.is_empty() {
            reasons.push(format!("nothing in the plan requires {name} (nor anything it provides)"));
        }
    }
    Ok(WhyNot { package: name.to_string(), reasons })
}
