//! `resolve()`, phase by phase: the base (estimated from the manifest, or the node's own
//! packages) closed over its dependencies; the requests and the records each accepts; the SAT
//! step on that base, under the family's policies; then what is packed, checked for conflicts,
//! each package with its chain from a request.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet, VecDeque};

use super::greedy::Closure;
use super::{base, conflicts, sat, Goal, Note, Plan, PlanEntry, PlanGraph, ResolveError, Universe, WhyStep};
use moa_model::deps::Relation;
use moa_model::manifest::Request;

/// Resolves a goal against loaded metadata.
pub(crate) fn resolve(u: &Universe<'_>, goal: &Goal, origin: &str) -> Result<Plan, ResolveError> {
    let mut notes = Vec::new();
    let mut c = Closure::new(u);
    let base = base_closure(u, goal, &mut c, origin, &mut notes)?;
    let requests = Requests::collect(u, goal, &c, &base, origin, &mut notes)?;
    let is_requested = |p: u32| requests.names.contains(u.pkg(p).name.as_str());
    let base_set: HashSet<u32> = base.iter().copied().collect();
    let favored: Vec<u32> = base.iter().copied().filter(|&p| !is_requested(p)).collect();
    let names = sat::Names::new(u);
    let cx = base::Context {
        names: &names,
        base: &base,
        base_set: &base_set,
        favored: &favored,
        installed_repo: goal.installed_repo,
    };
    let (outcome, synced) = solve_requests(u, &cx, &requests, c, origin, &mut notes)?;
    let (solution, asked) = match u.policy.drops_unneeded() && outcome.removals.is_empty() {
        true => super::prune::drop_unneeded(u, &base_set, outcome.solution, &is_requested)?,
        false => (outcome.solution, Default::default()),
    };
    notes.extend(outcome.removals);
    let mut planned = packed(u, goal, &base, solution, &is_requested);
    for &best in &requests.picks {
        let bp = u.pkg(best);
        if let Some(&got) = planned.iter().find(|&&p| u.pkg(p).name == bp.name && u.pkg(p).version != bp.version) {
            notes.push(Note::NotTogether {
                package: bp.name.to_string(),
                version: bp.version.to_string(),
                packed: u.pkg(got).version.to_string(),
            });
        }
    }
    // The safety net sees the packed packages with the base they leave in place.
    let planned_names: HashSet<&str> = planned.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    let current: HashMap<u32, bool> = planned
        .iter()
        .map(|&p| (p, true))
        .chain(base.iter().filter(|&&b| !planned_names.contains(u.pkg(b).name.as_str())).map(|&b| (b, false)))
        .collect();
    // The plan's order (by name, newest first), its graph, and the chains read from that graph.
    planned.sort_by_key(|&p| (&u.pkg(p).name, Reverse(&u.pkg(p).version)));
    let graph = PlanGraph::over_asked(u, &planned, &asked)?;
    let (chains, roots) = chains(u, &planned, &graph, &is_requested);
    conflicts::check_conflicts(u, &current, &roots, &mut notes)?;
    let why = |p: u32| match (synced.get(&p), chains.get(&p)) {
        (Some(&by), _) => vec![WhyStep::UpgradedWith {
            package: u.pkg(p).name.to_string(),
            with: u.pkg(by).name.to_string(),
            source: u.pkg(p).source().0.to_string(),
        }],
        (None, Some(chain)) => chain.clone(),
        (None, None) => vec![WhyStep::KeepsConsistent { package: u.pkg(p).name.to_string() }],
    };
    let entries = entries(u, &planned, &base, &is_requested, &why);
    let base_count = base.len();
    Ok(Plan { entries, base_count, base: base.iter().map(|&p| p as usize).collect(), notes, graph: Some(graph) })
}

/// The base: the goal's roots, the records of its priorities and the node's own packages,
/// closed over their dependencies (into `c`). Returns its packages, ascending.
fn base_closure(
    u: &Universe<'_>,
    goal: &Goal,
    c: &mut Closure<'_, '_>,
    origin: &str,
    notes: &mut Vec<Note>,
) -> Result<Vec<u32>, ResolveError> {
    let mut base_seeds: Vec<u32> = Vec::new();
    let mut missing_roots = Vec::new();
    for root in &goal.base_roots {
        match u.best(&u.named(root.as_str()), root) {
            Some(p) => base_seeds.push(p),
            None => missing_roots.push(root.clone()),
        }
    }
    if !missing_roots.is_empty() {
        notes.push(Note::BaseRootsMissing { roots: missing_roots.iter().map(|r| r.to_string()).collect() });
    }
    if !goal.base_priorities.is_empty() {
        // Per name, the best of the records that carry one of those priorities.
        let mut by_prio: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, p) in u.md.packages.iter().enumerate() {
            // Essential packages are on every Debian node, whatever their priority says.
            if p.essential || p.priority.is_some_and(|pr| goal.base_priorities.iter().any(|b| b == pr.as_str())) {
                by_prio.entry(p.name.as_str()).or_default().push(i as u32);
            }
        }
        let mut names: Vec<&str> = by_prio.keys().copied().collect();
        names.sort_unstable();
        base_seeds.extend(names.iter().filter_map(|n| u.best(&by_prio[n], n)));
    }
    if let Some(r) = goal.installed_repo {
        base_seeds.extend((0..u.len() as u32).filter(|&i| u.pkg(i).repo == r));
    }
    for p in base_seeds {
        if !c.chosen_set.contains(&p) {
            c.add(p, None, "base".into());
        }
    }
    c.run(origin, false, notes)?;
    let mut base: Vec<u32> = c.by_name.values().map(|&i| c.chosen[i].package).collect();
    base.sort_unstable();
    Ok(base)
}

/// The goal's requests (required, then optional) that are to be packed: the records each
/// accepts, the names of all of them, and the best of each (what a greedy walk would take).
struct Requests<'a> {
    candidates: Vec<Vec<u32>>,
    names: HashSet<&'a str>,
    picks: Vec<u32>,
    /// dnf's `best`: no older version when a newest one cannot be installed.
    best: bool,
}

impl<'a> Requests<'a> {
    fn collect(
        u: &Universe<'a>,
        goal: &Goal,
        c: &Closure<'_, 'a>,
        base: &[u32],
        origin: &str,
        notes: &mut Vec<Note>,
    ) -> Result<Self, ResolveError> {
        let mut r = Requests { candidates: Vec::new(), names: HashSet::new(), picks: Vec::new(), best: goal.best };
        let all = goal.requests.iter().map(|r| (r, true)).chain(goal.optional.iter().map(|r| (r, false)));
        for (req, required) in all {
            let candidates = request_candidates(u, req, notes)?;
            check_virtual(u, req, &candidates, base)?;
            match u.best(&candidates, req.name.as_str()) {
                // Against a node: what it already has at the best version is not packed.
                Some(p) if goal.installed_repo.is_some() && installed_at(u, c, p) => {
                    let version = u.pkg(p).version.to_string();
                    notes.push(Note::AlreadyInstalled { request: req.to_string(), version });
                }
                Some(p) => {
                    r.names.extend(candidates.iter().map(|&i| u.pkg(i).name.as_str()));
                    r.candidates.push(candidates);
                    r.picks.push(p);
                }
                None if required => {
                    return Err(ResolveError::NotFound {
                        request: req.to_string(),
                        origin: origin.to_string(),
                        hint: not_found_hint(u, req),
                    })
                }
                None => notes.push(Note::OptionalMissing { request: req.to_string() }),
            }
        }
        Ok(r)
    }
}

/// The SAT step: the requests on the node's base, which changes only where it must; then the
/// family's policies (apt keeps what is installed, and upgrades what shares a new package's
/// source). Returns the outcome and, per package upgraded for its source, the package it
/// follows. With no answer, the greedy walk (from `c`, the base's closure) names the first unmet
/// requirement with its chain when that is the cause; otherwise the solver's tree says what
/// clashes.
fn solve_requests<'u>(
    u: &'u Universe<'_>,
    cx: &base::Context<'u>,
    requests: &Requests<'_>,
    mut c: Closure<'_, '_>,
    origin: &str,
    notes: &mut Vec<Note>,
) -> Result<(base::Outcome, HashMap<u32, u32>), ResolveError> {
    // apt's own walk, where it alone decides (apt's problem resolver is the SAT step's).
    if u.policy.marks_like_apt() {
        match super::mark::replay(u, cx, &requests.picks)? {
            Ok(answer) => return Ok(answer),
            Err(note) => notes.push(note),
        }
    }
    // Each request at its best version first; only if that has no answer, any version, with a
    // note saying which request settled for less, or (dnf's `best`) an error naming it.
    let mut newest: Vec<Vec<u32>> = requests
        .candidates
        .iter()
        .zip(&requests.picks)
        .map(|(c, &b)| {
            c.iter()
                .copied()
                .filter(|&p| u.pkg(p).name == u.pkg(b).name && u.pkg(p).version == u.pkg(b).version)
                .collect()
        })
        .collect();
    let mut all = requests.candidates.clone();
    let solve = |newest: &Vec<Vec<u32>>, all: &Vec<Vec<u32>>| -> Result<_, ResolveError> {
        Ok(match base::solve(u, cx, newest)? {
            Err(sat::NoSolution(tree)) if newest != all => match base::solve(u, cx, all)? {
                Ok(o) if requests.best => return Err(not_best(u, cx, requests, &o.solution, tree, origin)),
                other => other,
            },
            first => first,
        })
    };
    let mut outcome = match solve(&newest, &all)? {
        Ok(o) => o,
        Err(sat::NoSolution(tree)) => {
            let base_count = c.chosen.len();
            for &p in &requests.picks {
                c.add(p, None, "requested".into());
            }
            c.run(origin, true, &mut Vec::new())?;
            let current: HashMap<u32, bool> =
                c.by_name.values().map(|&i| (c.chosen[i].package, i >= base_count)).collect();
            conflicts::check_conflicts(u, &current, &c.roots(base_count), &mut Vec::new())?;
            return Err(ResolveError::NoSolution { origin: origin.to_string(), tree });
        }
    };
    if u.policy.keeps_installed() {
        outcome = base::keep_installed(u, cx, &all, outcome)?;
    }
    // apt also upgrades installed binaries built from the same source as a new package, when
    // their candidate comes from that same source version (libssl3 with a new openssl).
    let mut synced: HashMap<u32, u32> = HashMap::new();
    if u.policy.upgrades_by_source() {
        loop {
            let extra = base::same_source(u, cx, &outcome.solution, &synced);
            if extra.is_empty() {
                break;
            }
            let (mut n2, mut a2) = (newest.clone(), all.clone());
            for &(cand, _) in &extra {
                n2.push(vec![cand]);
                a2.push(vec![cand]);
            }
            match solve(&n2, &a2)? {
                Ok(o) => {
                    outcome = o;
                    synced.extend(extra);
                    (newest, all) = (n2, a2);
                }
                // A policy, not a requirement: where it cannot be followed, it is not.
                Err(_) => break,
            }
        }
    }
    Ok((outcome, synced))
}

/// The error of dnf's `best` when the answer with any version (`solution`) settles a request
/// for an older one: which, and why its newest has no answer (`tree`).
fn not_best(
    u: &Universe<'_>,
    cx: &base::Context<'_>,
    requests: &Requests<'_>,
    solution: &[u32],
    tree: String,
    origin: &str,
) -> ResolveError {
    let settled = requests.picks.iter().find_map(|&b| {
        let newest = u.pkg(b);
        let got = solution.iter().map(|&p| u.pkg(p)).find(|p| p.name == newest.name && p.version != newest.version);
        got.map(|got| (newest, got))
    });
    let origin = origin.to_string();
    match settled {
        Some((newest, got)) => ResolveError::NotBest {
            newest: format!("{} {}", newest.name, newest.version),
            older: format!("{} {}", got.name, got.version),
            context: if cx.installed_repo.is_some() { " with the node's packages".into() } else { String::new() },
            origin,
            tree: tree.into(),
        },
        None => ResolveError::NoSolution { origin, tree },
    }
}

/// What is packed, ascending: the solution (new packages and upgrades), plus requested ones the
/// estimated base already has (safer when the estimate is wrong; never a node's own package).
fn packed(
    u: &Universe<'_>,
    goal: &Goal,
    base: &[u32],
    mut solution: Vec<u32>,
    is_requested: &dyn Fn(u32) -> bool,
) -> Vec<u32> {
    let new_names: HashSet<&str> = solution.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    solution.extend(base.iter().copied().filter(|&p| {
        is_requested(p) && goal.installed_repo != Some(u.pkg(p).repo) && !new_names.contains(u.pkg(p).name.as_str())
    }));
    solution.sort_unstable();
    solution
}

/// The plan's entries, in the order of `planned` (by name, newest first): each with whether it
/// was requested, the base version it upgrades, and `why` it is there.
fn entries(
    u: &Universe<'_>,
    planned: &[u32],
    base: &[u32],
    is_requested: &dyn Fn(u32) -> bool,
    why: &dyn Fn(u32) -> Vec<WhyStep>,
) -> Vec<PlanEntry> {
    let base_versions: HashMap<&str, String> =
        base.iter().map(|&p| (u.pkg(p).name.as_str(), u.pkg(p).version.to_string())).collect();
    planned
        .iter()
        .map(|&p| {
            let pk = u.pkg(p);
            let old = base_versions.get(pk.name.as_str()).filter(|v| **v != pk.version.to_string());
            PlanEntry { package: p as usize, requested: is_requested(p), upgrades: old.cloned(), why: why(p) }
        })
        .collect()
}

/// Per planned package: its chain from a request.
type Chains = HashMap<u32, Vec<WhyStep>>;

/// For each planned package, the shortest chain from a requested one (and that request):
/// breadth first over `graph` (of `planned`, by position), requested packages taken in id order.
fn chains(
    u: &Universe<'_>,
    planned: &[u32],
    graph: &PlanGraph,
    is_requested: &dyn Fn(u32) -> bool,
) -> (Chains, HashMap<u32, u32>) {
    // Per position: not reached, reached as a request, or reached from (position, requirement).
    let mut parent: Vec<Option<Option<(usize, &str)>>> = vec![None; planned.len()];
    let mut seeds: Vec<usize> = (0..planned.len()).filter(|&i| is_requested(planned[i])).collect();
    seeds.sort_by_key(|&i| planned[i]);
    let mut queue: VecDeque<usize> = VecDeque::new();
    for i in seeds {
        parent[i] = Some(None);
        queue.push_back(i);
    }
    while let Some(i) = queue.pop_front() {
        for r in &graph.requirements[i] {
            for &j in &r.met_by {
                if parent[j].is_none() {
                    parent[j] = Some(Some((i, r.raw.as_str())));
                    queue.push_back(j);
                }
            }
        }
    }
    let mut out = HashMap::with_capacity(planned.len());
    let mut roots = HashMap::with_capacity(planned.len());
    for (i, _) in parent.iter().enumerate().filter(|(_, p)| p.is_some()) {
        let mut steps = Vec::new();
        let mut at = i;
        while let Some(Some((up, raw))) = parent[at] {
            steps.push(WhyStep::Needs { package: u.pkg(planned[up]).name.to_string(), requirement: raw.to_string() });
            at = up;
        }
        steps.push(WhyStep::Requested { package: u.pkg(planned[at]).name.to_string() });
        roots.insert(planned[i], planned[at]);
        steps.reverse();
        out.insert(planned[i], steps);
    }
    (out, roots)
}

/// Whether the base (a node's packages) has this package's name at this version (or newer).
fn installed_at(u: &Universe<'_>, c: &Closure<'_, '_>, p: u32) -> bool {
    let pk = u.pkg(p);
    c.by_name.get(pk.name.as_str()).is_some_and(|&i| u.pkg(c.chosen[i].package).version >= pk.version)
}

/// What to add to "not in any repository": the module stream that holds it, or the versions
/// that exist when the request pinned another.
fn not_found_hint(u: &Universe<'_>, req: &Request) -> String {
    match (&req.version, u.md.hidden.get(req.name.as_str())) {
        (_, Some(streams)) => format!(
            " (it is in module stream {}, which is not enabled: add `modules = [\"{}\"]` to the manifest)",
            streams.join(", "),
            streams[0]
        ),
        (Some(_), None) => versions_hint(u, req.name.as_str()),
        (None, None) => String::new(),
    }
}

fn versions_hint(u: &Universe<'_>, name: &str) -> String {
    let mut v: Vec<String> = u.named(name).iter().map(|&i| u.pkg(i).version.to_string()).collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        String::new()
    } else {
        format!(" at that version (available: {})", v.join(", "))
    }
}

/// A request by a virtual name that several packages provide, none of them on the node or in its
/// base, is refused where the family's tool refuses it (apt), naming the providers.
fn check_virtual(u: &Universe<'_>, req: &Request, candidates: &[u32], base: &[u32]) -> Result<(), ResolveError> {
    let name = req.name.as_str();
    if !u.policy.virtual_request_needs_one_provider() || !u.named(name).is_empty() || candidates.is_empty() {
        return Ok(());
    }
    let mut providers: Vec<String> = candidates.iter().map(|&p| u.pkg(p).name.to_string()).collect();
    providers.sort();
    providers.dedup();
    if providers.len() < 2 || candidates.iter().any(|p| base.binary_search(p).is_ok()) {
        return Ok(());
    }
    Err(ResolveError::VirtualRequest { request: req.to_string(), providers })
}

/// Of several obsoleters, those another one needs: dnf takes one of them (libsolv's
/// minimization keeps a choice that ends up installed anyway). pki-resteasy-client and
/// pki-resteasy-core both obsolete pki-resteasy, the client needs the core: `dnf install
/// pki-resteasy` installs the core alone.
fn needed_anyway(u: &Universe<'_>, by: Vec<u32>) -> Result<Vec<u32>, ResolveError> {
    let mut names: Vec<&str> = by.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() < 2 {
        return Ok(by);
    }
    let mut needed = Vec::new();
    for &x in &names {
        let Some(best) = u.best(&by, x) else { continue };
        for raw in &u.pkg(best).requires() {
            let dep = u.syntax.parse_dep(raw).map_err(|source| u.syntax_error(best, source))?;
            let mut leaves = Vec::new();
            dep.leaves(&mut leaves);
            for rel in &leaves {
                for q in u.providers(rel)? {
                    let n = u.pkg(q).name.as_str();
                    if n != x && by.contains(&q) && !needed.contains(&n) {
                        needed.push(n);
                    }
                }
            }
        }
    }
    Ok(match needed.is_empty() {
        true => by,
        false => by.into_iter().filter(|&p| needed.contains(&u.pkg(p).name.as_str())).collect(),
    })
}

/// The records a request accepts: by name (the pinned version if given), else by a provided
/// capability. An unpinned name that a package of another name obsoletes (rpm) resolves to that
/// package, as yum does.
fn request_candidates(u: &Universe<'_>, req: &Request, notes: &mut Vec<Note>) -> Result<Vec<u32>, ResolveError> {
    let name = req.name.as_str();
    let by_name: Vec<u32> = u.named(name).to_vec();
    let candidates: Vec<u32> = match &req.version {
        Some(v) => {
            let want = u.syntax.parse_version(v).map_err(|source| ResolveError::Syntax {
                package: req.to_string(),
                origin: "the manifest".into(),
                source,
            })?;
            return Ok(by_name.into_iter().filter(|&i| u.pkg(i).version.cmp_for_requirement(&want).is_eq()).collect());
        }
        None if by_name.is_empty() => u.providers(&Relation::plain(name))?,
        None => by_name,
    };
    let best = u.best(&candidates, name).map(|p| &u.pkg(p).version);
    let mut by = Vec::new();
    for &(p, raw) in u.obsoleted().get(name).into_iter().flatten() {
        if u.pkg(p).name.as_str() == name {
            continue;
        }
        let rel = u.syntax.parse_provide(raw).map_err(|source| u.syntax_error(p, source))?;
        if best.is_none_or(|v| rel.accepts(Some(v), true)) {
            by.push(p);
        }
    }
    let by = needed_anyway(u, by)?;
    let Some(winner) = u.best(&by, name) else { return Ok(candidates) };
    let wname = u.pkg(winner).name.as_str();
    notes.push(Note::Obsoleted {
        request: name.to_string(),
        by: wname.to_string(),
        version: u.pkg(winner).version.to_string(),
    });
    Ok(by.into_iter().filter(|&p| u.pkg(p).name.as_str() == wname).collect())
}
