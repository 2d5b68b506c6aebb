//! Keeping the node's base intact around a solution, the way apt and yum do: new packages come
//! at their best versions, and a base package is upgraded only when something needs it; a base
//! package is removed only when a new one conflicts with it (deb, as apt removes it) or
//! conflicts with and obsoletes it (rpm), and never when it is Essential.
//!
//! The SAT step sees the base only as preferences (see [`super::sat`]), so a solution may
//! clash with a base package it did not touch: a conflict, or a dependency of a base package
//! that an upgrade broke. Each such package is then required by name (any version) and the
//! problem solved again, until nothing clashes: a counterexample loop, bounded by the base size.

use std::collections::{HashMap, HashSet};

use super::sat::{self, NoSolution};
use super::{ResolveError, Universe};

/// A solution that the base survives.
pub(super) struct Outcome {
    /// What the node would have that the base does not: new packages and upgrades.
    pub solution: Vec<u32>,
    /// Notes for the base packages that new ones remove.
    pub removals: Vec<super::Note>,
}

/// What the problem is, apart from which requests (newest only, or any version).
pub(super) struct Context<'x> {
    pub names: &'x sat::Names<'x>,
    pub base: &'x [u32],
    pub base_set: &'x HashSet<u32>,
    pub favored: &'x [u32],
    pub installed_repo: Option<usize>,
}

pub(super) fn solve<'u>(
    u: &'u Universe<'_>,
    cx: &Context<'u>,
    requests: &[Vec<u32>],
) -> Result<Result<Outcome, NoSolution>, ResolveError> {
    let base_names: HashSet<&str> = cx.base.iter().map(|&b| u.pkg(b).name.as_str()).collect();
    let mut hard: Vec<u32> = Vec::new();
    loop {
        let job = sat::Job {
            names: cx.names,
            hard_base: &hard,
            base: cx.base_set,
            requests,
            favored: cx.favored,
            installed_repo: cx.installed_repo,
        };
        let solution = match sat::solve(u, &job)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let names: HashSet<&str> = solution.iter().map(|&p| u.pkg(p).name.as_str()).collect();
        let new: Vec<u32> = solution.iter().copied().filter(|p| !cx.base_set.contains(p)).collect();
        // Base packages the solution leaves as they are.
        let untouched: Vec<u32> =
            cx.base.iter().copied().filter(|&b| !names.contains(u.pkg(b).name.as_str())).collect();

        // A clashing base package goes when a new package conflicts with it and the family's
        // tool removes it then (see `conflicts::may_remove`; a conflict from the other side too
        // then disappears with it); otherwise it must stay, and the solver must work around it.
        let found = clashes(u, &untouched, &new)?;
        let mut removals = Vec::new();
        let mut removed = HashSet::new();
        for (x, p, raw, p_conflicts) in &found {
            if *p_conflicts
                && !removed.contains(x)
                && !upgradeable(u, *p, raw, *x)?
                && super::conflicts::may_remove(u, *p, *x)?
            {
                removed.insert(*x);
                removals.push(super::Note::Removes {
                    new: u.pkg(*p).nevra(),
                    old: u.pkg(*x).nevra(),
                    conflict: raw.to_string(),
                });
            }
        }
        let mut keep: Vec<u32> = found.iter().map(|c| c.0).filter(|x| !removed.contains(x)).collect();
        // Base packages whose dependencies the new set no longer meets (an upgrade with an
        // exact-version dependency, a removal).
        let upgraded_or_removed =
            !removed.is_empty() || new.iter().any(|&p| base_names.contains(u.pkg(p).name.as_str()));
        if upgraded_or_removed {
            let after: HashSet<u32> =
                solution.iter().copied().chain(untouched.iter().copied().filter(|x| !removed.contains(x))).collect();
            for &x in untouched.iter().filter(|x| !removed.contains(x)) {
                if broken(u, x, cx.base_set, &after)? {
                    keep.push(x);
                }
            }
        }
        keep.retain(|x| !hard.contains(x));
        if keep.is_empty() {
            return Ok(Ok(Outcome { solution: new, removals }));
        }
        hard.extend(keep);
        hard.sort_unstable();
        hard.dedup();
    }
}

/// dnf's rule (rpm): a base package the solution upgrades stays as it is when another choice of
/// the new packages works with it (`install X`, where X needs Y and the newest Y needs a newer
/// lib than the node's, takes the older Y). The requests are held at the versions the solution
/// chose; then each upgraded base package is pinned to its installed record in turn, and the
/// pin kept when the problem still has an answer: one solve per upgraded package.
pub(super) fn keep_installed<'u>(
    u: &'u Universe<'_>,
    cx: &Context<'u>,
    requests: &[Vec<u32>],
    outcome: Outcome,
) -> Result<Outcome, ResolveError> {
    let requested: HashSet<&str> = requests.iter().flatten().map(|&p| u.pkg(p).name.as_str()).collect();
    let base_by_name: HashMap<&str, u32> = cx.base.iter().map(|&b| (u.pkg(b).name.as_str(), b)).collect();
    let upgraded: Vec<u32> = outcome
        .solution
        .iter()
        .map(|&p| u.pkg(p).name.as_str())
        .filter(|n| !requested.contains(n))
        .filter_map(|n| base_by_name.get(n).copied())
        .collect();
    if upgraded.is_empty() {
        return Ok(outcome);
    }
    let mut job: Vec<Vec<u32>> = requests
        .iter()
        .map(|r| match r.iter().find(|p| outcome.solution.contains(p)) {
            Some(&p) => vec![p],
            None => r.clone(),
        })
        .collect();
    let mut best = outcome;
    for b in upgraded {
        job.push(vec![b]);
        match solve(u, cx, &job)? {
            Ok(o) => best = o,
            Err(_) => {
                job.pop();
            }
        }
    }
    Ok(best)
}

/// (base package, new package, relation, whether the new one is the side that conflicts) for
/// every conflict between the two sets, from either side.
fn clashes(u: &Universe<'_>, base: &[u32], new: &[u32]) -> Result<Vec<(u32, u32, String, bool)>, ResolveError> {
    let base_set: HashSet<u32> = base.iter().copied().collect();
    let new_set: HashSet<u32> = new.iter().copied().collect();
    let mut out = Vec::new();
    for &p in new {
        for (x, raw) in targets(u, p, &base_set)? {
            out.push((x, p, raw, true));
        }
    }
    for &x in base.iter().filter(|&&x| !u.pkg(x).conflicts().is_empty()) {
        for (p, raw) in targets(u, x, &new_set)? {
            out.push((x, p, raw, false));
        }
    }
    Ok(out)
}

/// Packages in `among` that `p`'s Conflicts/Breaks/Obsoletes name (not `p`'s own name), each
/// with the first relation that names it.
fn targets(u: &Universe<'_>, p: u32, among: &HashSet<u32>) -> Result<Vec<(u32, String)>, ResolveError> {
    let pk = u.pkg(p);
    let mut out: Vec<(u32, String)> = Vec::new();
    for raw in pk.conflicts().iter().chain(&pk.obsoletes()) {
        for q in u.meeting(p, raw)? {
            if among.contains(&q) && u.pkg(q).name != pk.name && !out.iter().any(|(o, _)| *o == q) {
                out.push((q, raw.to_string()));
            }
        }
    }
    Ok(out)
}

/// Whether the newest record of base package `x`'s name is newer and outside `p`'s `raw`: then
/// `x` is upgraded, not removed (apt's `MarkInstall_RemoveConflictsIfNotUpgradeable`).
fn upgradeable(u: &Universe<'_>, p: u32, raw: &str, x: u32) -> Result<bool, ResolveError> {
    let newest =
        u.named(u.pkg(x).name.as_str()).iter().copied().max_by(|&a, &b| u.pkg(a).version.cmp(&u.pkg(b).version));
    Ok(match newest {
        Some(c) if u.pkg(c).version > u.pkg(x).version => !u.meeting(p, raw)?.contains(&c),
        _ => false,
    })
}

/// Whether a requirement of `x` that the base met is met by nothing in `after`.
fn broken(u: &Universe<'_>, x: u32, before: &HashSet<u32>, after: &HashSet<u32>) -> Result<bool, ResolveError> {
    for raw in &u.pkg(x).requires() {
        let met_by = u.meeting(x, raw)?;
        if met_by.iter().any(|q| before.contains(q)) && !met_by.iter().any(|q| after.contains(q)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// apt's upgrade-by-source-package policy: for each new package, the installed binaries built
/// from the same source that the solution leaves alone, whose newest version comes from the very
/// same source version: (that version, the new package that calls for it). Those in `done` are
/// not offered again.
pub(super) fn same_source(
    u: &Universe<'_>,
    cx: &Context<'_>,
    solution: &[u32],
    done: &HashMap<u32, u32>,
) -> Vec<(u32, u32)> {
    let in_solution: HashSet<&str> = solution.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    let mut by_source: HashMap<&str, Vec<u32>> = HashMap::new();
    for &b in cx.base {
        if !in_solution.contains(u.pkg(b).name.as_str()) {
            by_source.entry(u.pkg(b).source().0).or_default().push(b);
        }
    }
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &p in solution {
        let (src, ver) = u.pkg(p).source();
        for &x in by_source.get(src).into_iter().flatten() {
            let name = u.pkg(x).name.as_str();
            let Some(cand) = u.best(&u.named(name), name) else { continue };
            let (csrc, cver) = u.pkg(cand).source();
            if cand != x
                && csrc == src
                && cver == ver
                && u.pkg(cand).version != u.pkg(x).version
                && !done.contains_key(&cand)
                && !out.iter().any(|o| o.0 == cand)
            {
                out.push((cand, p));
            }
        }
    }
    out
}
