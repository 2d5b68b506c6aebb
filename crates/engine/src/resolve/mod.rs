//! Resolving: which packages a bundle must carry. What the node needs on top of what it already
//! has (the *base*) so that every requested package installs: new packages and upgrades, each
//! with the chain that pulled it in.
//!
//! The answer comes from a SAT solver ([`sat`], resolvo's CDCL): alternatives, virtual packages,
//! conflicts, obsoletes and rich dependencies are choices it can back out of. Around it:
//! requests are tried at their newest version first (dnf's `best`), the base changes only where
//! the solution forces it ([`base`]: kept, upgraded, or removed where a new package replaces
//! it, as dpkg and rpm do), and for deb, apt's upgrade-by-source-package policy. The base itself
//! is either a node's real packages (`--target`) or estimated from the manifest (roots and
//! priorities) by a greedy closure, which also names the first unmet requirement, with its
//! chain, when the solver finds no answer.

mod base;
mod conflicts;
pub(crate) mod explain;
mod graph;
mod greedy;
mod postings;
mod sat;
pub(crate) mod why;

pub(crate) use graph::PlanGraph;

pub(crate) use explain::{Note, WhyStep};

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use serde::Serialize;

use crate::policy::ResolvePolicy;
use crate::repo::{Metadata, PackageRecord};
use greedy::Closure;
use moa_model::deps::{self, DepSyntax, Relation};
use moa_model::manifest::{Manifest, Request};
use postings::Postings;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("module {module}: stream {a} (the manifest or another node) and stream {b} (node profile {node}) are both enabled; a bundle serves one stream of a module: build separately for these nodes")]
    StreamClash { module: String, a: String, b: String, node: String },
    #[error("{distro}: base group `{group}` is in no repository's comps: check `[base].groups` (`dnf group list --ids` shows them), or pass --no-base or --target")]
    MissingGroup { distro: String, group: String },
    #[error("`{request}` is not in any repository of {origin}{hint}. Check the name (it is case-sensitive) or add the repository that has it")]
    NotFound { request: String, origin: String, hint: String },
    #[error("`{request}` is a virtual package provided by {}: name the one to install in the manifest's packages (apt-get refuses it too: \"You should explicitly select one to install\")", .providers.join(", "))]
    VirtualRequest { request: String, providers: Vec<String> },
    #[error("{chain} needs `{requirement}`, which no repository of {origin} provides{detail}. Add the repository that has it, pin another version of `{package}`, or pass --no-base to see the full closure")]
    Unsatisfiable { chain: String, requirement: String, package: String, origin: String, detail: String },
    #[error("no set of packages from {origin} meets every requirement at once; the solver's reasoning:\n{tree}\nPin another version in the manifest, add the repository with the missing package, or pass --target with the node's profile so its real packages are used")]
    NoSolution { origin: String, tree: String },
    #[error("{a} conflicts with {b} (`{relation}`), so a node cannot have both. {fix}")]
    Conflict { a: String, b: String, relation: String, fix: String },
    #[error("{package} from {origin} has a dependency moa-bundle cannot read")]
    Syntax {
        package: String,
        origin: String,
        #[source]
        source: deps::DepError,
    },
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub(crate) struct Goal {
    pub requests: Vec<Request>,
    /// Included when available, skipped with a note when not.
    pub optional: Vec<Request>,
    /// Packages every node has (closed over their dependencies).
    pub base_roots: Vec<String>,
    /// apt: every package with one of these priorities is base.
    pub base_priorities: Vec<String>,
    /// A node profile's packages, added to the metadata as this repository (see
    /// [`add_installed`]): they are the base, exactly, instead of roots and priorities.
    pub installed_repo: Option<usize>,
}

impl Goal {
    pub(crate) fn from_manifest(m: &Manifest, no_base: bool) -> Self {
        Self {
            requests: m.packages.clone(),
            optional: m.optional.clone(),
            base_roots: if no_base { vec![] } else { m.base.roots.iter().map(|r| r.to_string()).collect() },
            base_priorities: if no_base { vec![] } else { m.base.priorities.clone() },
            installed_repo: None,
        }
    }

    /// Resolving against a node profile added with [`add_installed`].
    pub(crate) fn against_node(m: &Manifest, installed_repo: usize) -> Self {
        Self {
            requests: m.packages.clone(),
            optional: m.optional.clone(),
            base_roots: vec![],
            base_priorities: vec![],
            installed_repo: Some(installed_repo),
        }
    }
}

/// Adds a node's installed packages to the metadata as one more repository (`installed on
/// NODE`), so they satisfy requirements like any package, with their real versions and provides.
/// They have no location: a plan never packs them. Where a repository has the very same package
/// (name, version, arch), its requirements and conflicts come along, so neither a bundled package
/// nor an upgrade can break them unseen.
/// Returns the repository's index.
pub(crate) fn add_installed(
    md: &mut Metadata,
    node: &str,
    packages: &[crate::repo::Installed],
    syntax: &dyn DepSyntax,
) -> Result<usize, ResolveError> {
    let repo = md.repos.len();
    // Repository records by (name, arch): an installed twin (same version) lends its
    // requirements and conflicts, so the solver can tell what an upgrade would break.
    // Only the node's own packages are looked up: a few hundred among tens of thousands.
    let mut twins: HashMap<(&str, &str), Vec<usize>> =
        packages.iter().map(|p| ((p.name.as_str(), p.arch.as_str()), Vec::new())).collect();
    for (i, p) in md.packages.iter().enumerate() {
        if let Some(v) = twins.get_mut(&(p.name.as_str(), p.arch.as_str())) {
            v.push(i);
        }
    }
    let mut records = Vec::with_capacity(packages.len());
    for p in packages {
        let bad = |why: String| ResolveError::Syntax {
            package: format!("{}-{}.{}", p.name, p.version, p.arch),
            origin: format!("the profile of {node}"),
            source: deps::DepError { raw: p.version.clone(), why },
        };
        let version = syntax.parse_version(&p.version).map_err(|e| bad(e.why))?;
        let twin = twins
            .get(&(p.name.as_str(), p.arch.as_str()))
            .and_then(|v| v.iter().find(|&&i| md.packages[i].version == version))
            .map(|&i| &md.packages[i]);
        let (requires, mut conflicts) = twin.map(|t| (t.requires.clone(), t.conflicts.clone())).unwrap_or_default();
        // The node's own record of what its package conflicts with counts whether or not a
        // repository still carries that version (a package no repository has must not be
        // silently compatible with everything).
        if !p.conflicts.is_empty() {
            conflicts = crate::repo::DepList::checked("conflicts", &p.conflicts).map_err(&bad)?;
        }
        records.push(PackageRecord {
            name: moa_model::types::PackageName::new(&p.name).map_err(|e| bad(e.to_string()))?,
            version,
            arch: moa_model::types::Arch::new(&p.arch).map_err(|e| bad(e.to_string()))?,
            repo,
            location: String::new(),
            size: 0,
            sha256: moa_model::types::Sha256::digest(b""),
            provides: p.provides.iter().collect(),
            requires,
            pre_requires: Default::default(),
            conflicts,
            files: p.files.iter().collect(),
            priority: None,
            essential: p.essential,
            replaces: Default::default(),
            obsoletes: Default::default(),
            // An older profile does not say: then never call a `pkg:any` unmet because of it.
            multi_arch: p.multi_arch.unwrap_or(crate::repo::MultiArch::Allowed),
            source: twin.and_then(|t| t.source.clone()),
            source_rpm: None,
            license: None,
            entry: None,
        });
    }
    md.repos.push(crate::repo::LoadedRepo::local(format!("installed on {node}")));
    md.packages.extend(records);
    Ok(repo)
}

/// One package the bundle carries.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlanEntry {
    /// Index into [`Metadata::packages`].
    #[serde(skip)]
    pub package: usize,
    pub requested: bool,
    /// The base version this package replaces, when a dependency needs a newer one.
    pub upgrades: Option<String>,
    /// From a requested package down to this one: `ntp`, `ntp needs libopts.so.25()(64bit)`.
    pub why: Vec<WhyStep>,
}

/// The resolved plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Sorted by package name.
    pub entries: Vec<PlanEntry>,
    /// How many packages the base closure has.
    pub base_count: usize,
    /// The base closure's packages (indices into [`Metadata::packages`]), for `--why-not`.
    pub base: Vec<usize>,
    /// Things the user should know: base roots not found, optional packages skipped.
    pub notes: Vec<Note>,
}

/// Every package, indexed by name, provided capability and file.
pub(crate) struct Universe<'a> {
    pub md: &'a Metadata,
    syntax: &'a dyn DepSyntax,
    policy: &'a dyn ResolvePolicy,
    target_arch: String,
    by_name: Postings<'a, u32>,
    provides: Postings<'a, (u32, &'a str)>,
    files: Postings<'a, u32>,
    obsoleted: OnceLock<Postings<'a, (u32, &'a str)>>,
}

impl<'a> Universe<'a> {
    pub(crate) fn new(
        md: &'a Metadata,
        syntax: &'a dyn DepSyntax,
        policy: &'a dyn ResolvePolicy,
        target_arch: &str,
    ) -> Self {
        let all = || md.packages.iter().enumerate().map(|(i, p)| (i as u32, p));
        // Provides on a second core while names and files (rpm: tens of thousands) are indexed.
        let (provides, by_name, files) = std::thread::scope(|s| {
            let provides = s.spawn(|| {
                let provided =
                    all().flat_map(|(i, p)| p.provides.iter().map(move |raw| (syntax.provide_name(raw), (i, raw))));
                Postings::new(md.packages.iter().map(|p| p.provides.len()).sum(), provided)
            });
            let by_name = Postings::new(md.packages.len(), all().map(|(i, p)| (p.name.as_str(), i)));
            let owned = all().flat_map(|(i, p)| p.files.iter().map(move |f| (f, i)));
            let files = Postings::new(md.packages.iter().map(|p| p.files.len()).sum(), owned);
            (provides.join().expect("indexing does not panic"), by_name, files)
        });
        Self {
            md,
            syntax,
            policy,
            target_arch: target_arch.to_string(),
            by_name,
            provides,
            files,
            obsoleted: OnceLock::new(),
        }
    }

    fn pkg(&self, i: u32) -> &'a PackageRecord {
        &self.md.packages[i as usize]
    }

    /// rpm `Obsoletes`, by the name they obsolete: (obsoleting package, raw relation).
    fn obsoleted(&self) -> &Postings<'a, (u32, &'a str)> {
        self.obsoleted.get_or_init(|| {
            let (md, syntax): (&'a Metadata, &'a dyn DepSyntax) = (self.md, self.syntax);
            let named = md.packages.iter().enumerate();
            let obsoleted =
                named.flat_map(|(i, p)| p.obsoletes.iter().map(move |raw| (syntax.provide_name(raw), (i as u32, raw))));
            Postings::new(0, obsoleted)
        })
    }

    /// Packages that satisfy one relation, without duplicates, in index order.
    pub(crate) fn providers(&self, rel: &Relation<'_>) -> Result<Vec<u32>, ResolveError> {
        let mut out = Vec::new();
        let unversioned_ok = self.policy.unversioned_provide_satisfies();
        for &i in self.by_name.get(rel.name).into_iter().flatten() {
            let p = self.pkg(i);
            // `pkg:any` needs `Multi-Arch: allowed` (dpkg's rule, whatever the arch); `pkg:ARCH`
            // that arch. Provides are not filtered: apt lets them meet `:any`.
            let arch_ok = match rel.qualifier {
                None | Some("native") => true,
                Some("any") => p.multi_arch == crate::repo::MultiArch::Allowed,
                Some(a) => p.arch.as_str() == a || p.arch.as_str() == "all",
            };
            if arch_ok && rel.accepts(Some(&p.version), unversioned_ok) {
                out.push(i);
            }
        }
        for &(i, raw) in self.provides.get(rel.name).into_iter().flatten() {
            if out.contains(&i) {
                continue;
            }
            let ok = if rel.constraint.is_none() {
                true
            } else {
                let p = self.syntax.parse_provide(raw).map_err(|source| self.syntax_error(i, source))?;
                rel.accepts(p.constraint.as_ref().map(|(_, v)| v), unversioned_ok)
            };
            if ok {
                out.push(i);
            }
        }
        if rel.name.starts_with('/') {
            for &i in self.files.get(rel.name).into_iter().flatten() {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Every package that meets `raw`, a relation of package `p` (a requirement, or a conflict
    /// or obsolete, which name packages the same way): through any alternative, each package
    /// once, in the order the alternatives and their providers come.
    pub(crate) fn meeting(&self, p: u32, raw: &str) -> Result<Vec<u32>, ResolveError> {
        let alts = self.syntax.parse_requirement(raw).map_err(|source| self.syntax_error(p, source))?;
        let mut out: Vec<u32> = Vec::new();
        for rel in &alts {
            for q in self.providers(rel)? {
                if !out.contains(&q) {
                    out.push(q);
                }
            }
        }
        Ok(out)
    }

    fn syntax_error(&self, i: u32, source: deps::DepError) -> ResolveError {
        let p = self.pkg(i);
        ResolveError::Syntax {
            package: p.nevra(),
            origin: self.md.repos.get(p.repo).map(|r| r.name.clone()).unwrap_or_default(),
            source,
        }
    }

    /// Preference among candidates: exact name, then the policy's provider rank and name order,
    /// highest version, the node's own arch, the earlier repository.
    fn best(&self, candidates: &[u32], wanted_name: &str) -> Option<u32> {
        candidates.iter().copied().min_by(|&a, &b| {
            let (pa, pb) = (self.pkg(a), self.pkg(b));
            let key = |p: &'a PackageRecord| {
                let name = p.name.as_str();
                (name != wanted_name, self.policy.provider_rank(p), self.policy.provider_name_key(name))
            };
            key(pa)
                .cmp(&key(pb))
                .then_with(|| pb.version.cmp(&pa.version))
                .then_with(|| (pa.arch.as_str() != self.target_arch).cmp(&(pb.arch.as_str() != self.target_arch)))
                .then_with(|| pa.repo.cmp(&pb.repo))
                .then_with(|| a.cmp(&b))
        })
    }
}

/// Resolves a goal against loaded metadata.
pub(crate) fn resolve(u: &Universe<'_>, goal: &Goal, origin: &str) -> Result<Plan, ResolveError> {
    let mut notes = Vec::new();
    let mut c = Closure::new(u);

    // The base: roots and priorities, closed over their dependencies.
    let mut base_seeds: Vec<u32> = Vec::new();
    let mut missing_roots = Vec::new();
    for root in &goal.base_roots {
        match u.by_name.get(root.as_str()).and_then(|c| u.best(c, root)) {
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
        base_seeds.extend((0..u.md.packages.len() as u32).filter(|&i| u.pkg(i).repo == r));
    }
    for p in base_seeds {
        if !c.chosen_set.contains(&p) {
            c.add(p, None, "base".into());
        }
    }
    c.run(origin, false, &mut notes)?;
    let mut base: Vec<u32> = c.by_name.values().map(|&i| c.chosen[i].package).collect();
    base.sort_unstable();
    let base_versions: HashMap<&str, String> =
        base.iter().map(|&p| (u.pkg(p).name.as_str(), u.pkg(p).version.to_string())).collect();

    // The requests: for each, the records that would do.
    let mut requests: Vec<Vec<u32>> = Vec::new();
    let mut requested_names: HashSet<&str> = HashSet::new();
    let mut greedy_picks = Vec::new();
    let all = goal.requests.iter().map(|r| (r, true)).chain(goal.optional.iter().map(|r| (r, false)));
    for (req, required) in all {
        let candidates = request_candidates(u, req, &mut notes)?;
        check_virtual(u, req, &candidates, &base)?;
        match u.best(&candidates, req.name.as_str()) {
            // Against a node: what it already has at the best version is not packed.
            Some(p) if goal.installed_repo.is_some() && installed_at(u, &c, p) => {
                notes.push(Note::AlreadyInstalled { request: req.to_string(), version: u.pkg(p).version.to_string() });
            }
            Some(p) => {
                requested_names.extend(candidates.iter().map(|&i| u.pkg(i).name.as_str()));
                requests.push(candidates);
                greedy_picks.push(p);
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

    // The SAT step: the requests on the node's base, which changes only where it must.
    let is_requested = |p: u32| requested_names.contains(u.pkg(p).name.as_str());
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
    // Each request at its best version first (dnf's `best`); only if that has no answer, any
    // version, with a note saying which request settled for less.
    let mut newest: Vec<Vec<u32>> = requests
        .iter()
        .zip(&greedy_picks)
        .map(|(c, &b)| {
            c.iter()
                .copied()
                .filter(|&p| u.pkg(p).name == u.pkg(b).name && u.pkg(p).version == u.pkg(b).version)
                .collect()
        })
        .collect();
    let solve = |newest: &Vec<Vec<u32>>, requests: &Vec<Vec<u32>>| -> Result<_, ResolveError> {
        Ok(match base::solve(u, &cx, newest)? {
            Err(_) if newest != requests => base::solve(u, &cx, requests)?,
            first => first,
        })
    };
    let mut outcome = match solve(&newest, &requests)? {
        Ok(o) => o,
        Err(sat::NoSolution(tree)) => {
            // The greedy walk names the first unmet requirement with its chain, when that is the
            // cause; otherwise the solver's own tree says what clashes.
            let base_count = c.chosen.len();
            for p in greedy_picks {
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
        outcome = base::keep_installed(u, &cx, &requests, outcome)?;
    }
    // apt also upgrades installed binaries built from the same source as a new package, when
    // their candidate comes from that same source version (libssl3 with a new openssl).
    let mut synced: HashMap<u32, u32> = HashMap::new();
    if u.policy.upgrades_by_source() {
        loop {
            let extra = base::same_source(u, &cx, &outcome.solution, &synced);
            if extra.is_empty() {
                break;
            }
            let (mut n2, mut r2) = (newest.clone(), requests.clone());
            for &(cand, _) in &extra {
                n2.push(vec![cand]);
                r2.push(vec![cand]);
            }
            match solve(&n2, &r2)? {
                Ok(o) => {
                    outcome = o;
                    synced.extend(extra);
                    (newest, requests) = (n2, r2);
                }
                // A policy, not a requirement: where it cannot be followed, it is not.
                Err(_) => break,
            }
        }
    }
    notes.extend(outcome.removals);
    // In the solution: the new packages, plus requested ones the estimated base already has.
    let mut solution = outcome.solution;
    let new_names: HashSet<&str> = solution.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    solution.extend(base.iter().copied().filter(|&p| {
        is_requested(p) && goal.installed_repo != Some(u.pkg(p).repo) && !new_names.contains(u.pkg(p).name.as_str())
    }));
    solution.sort_unstable();

    for &best in &greedy_picks {
        let bp = u.pkg(best);
        if let Some(&got) = solution.iter().find(|&&p| u.pkg(p).name == bp.name && u.pkg(p).version != bp.version) {
            notes.push(Note::NotTogether {
                package: bp.name.to_string(),
                version: bp.version.to_string(),
                packed: u.pkg(got).version.to_string(),
            });
        }
    }
    // Packed: all of it. The safety net sees it with the base it leaves in place.
    let planned = solution;
    let planned_names: HashSet<&str> = planned.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    let current: HashMap<u32, bool> = planned
        .iter()
        .map(|&p| (p, true))
        .chain(base.iter().filter(|&&b| !planned_names.contains(u.pkg(b).name.as_str())).map(|&b| (b, false)))
        .collect();
    let (chains, roots) = chains(u, &planned, &is_requested)?;
    conflicts::check_conflicts(u, &current, &roots, &mut notes)?;

    let mut entries: Vec<PlanEntry> = planned
        .iter()
        .map(|&p| {
            let pk = u.pkg(p);
            let old = base_versions.get(pk.name.as_str()).filter(|v| **v != pk.version.to_string());
            PlanEntry {
                package: p as usize,
                requested: is_requested(p),
                upgrades: old.cloned(),
                why: match (synced.get(&p), chains.get(&p)) {
                    (Some(&by), _) => vec![WhyStep::UpgradedWith {
                        package: pk.name.to_string(),
                        with: u.pkg(by).name.to_string(),
                        source: pk.source().0.to_string(),
                    }],
                    (None, Some(chain)) => chain.clone(),
                    (None, None) => vec![WhyStep::KeepsConsistent { package: pk.name.to_string() }],
                },
            }
        })
        .collect();
    entries.sort_by_key(|e| {
        let p = &u.md.packages[e.package];
        (p.name.clone(), Reverse(p.version.clone()))
    });
    Ok(Plan { entries, base_count: base.len(), base: base.iter().map(|&p| p as usize).collect(), notes })
}

/// Per planned package: its chain from a request.
type Chains = HashMap<u32, Vec<WhyStep>>;

/// For each planned package, the shortest chain from a requested one (and that request):
/// breadth first over the requirements of planned packages that planned packages meet.
fn chains(
    u: &Universe<'_>,
    planned: &[u32],
    is_requested: &dyn Fn(u32) -> bool,
) -> Result<(Chains, HashMap<u32, u32>), ResolveError> {
    let set: HashSet<u32> = planned.iter().copied().collect();
    let mut parent: HashMap<u32, Option<(u32, String)>> = HashMap::new();
    let mut queue: VecDeque<u32> = VecDeque::new();
    for &p in planned.iter().filter(|&&p| is_requested(p)) {
        parent.insert(p, None);
        queue.push_back(p);
    }
    while let Some(p) = queue.pop_front() {
        for raw in &u.pkg(p).requires {
            for q in u.meeting(p, raw)? {
                if set.contains(&q) && !parent.contains_key(&q) {
                    parent.insert(q, Some((p, raw.to_string())));
                    queue.push_back(q);
                }
            }
        }
    }
    let mut out = HashMap::with_capacity(parent.len());
    let mut roots = HashMap::with_capacity(parent.len());
    for &p in parent.keys() {
        let mut steps = Vec::new();
        let mut at = p;
        while let Some(Some((up, raw))) = parent.get(&at) {
            steps.push(WhyStep::Needs { package: u.pkg(*up).name.to_string(), requirement: raw.clone() });
            at = *up;
        }
        steps.push(WhyStep::Requested { package: u.pkg(at).name.to_string() });
        roots.insert(p, at);
        steps.reverse();
        out.insert(p, steps);
    }
    Ok((out, roots))
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
    let mut v: Vec<String> = u.by_name.get(name).into_iter().flatten().map(|&i| u.pkg(i).version.to_string()).collect();
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
    if !u.policy.virtual_request_needs_one_provider() || u.by_name.contains_key(name) || candidates.is_empty() {
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

/// The records a request accepts: by name (the pinned version if given), else by a provided
/// capability. An unpinned name that a package of another name obsoletes (rpm) resolves to that
/// package, as yum does.
fn request_candidates(u: &Universe<'_>, req: &Request, notes: &mut Vec<Note>) -> Result<Vec<u32>, ResolveError> {
    let name = req.name.as_str();
    let by_name: Vec<u32> = u.by_name.get(name).map(<[u32]>::to_vec).unwrap_or_default();
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
    let Some(winner) = u.best(&by, name) else { return Ok(candidates) };
    let wname = u.pkg(winner).name.as_str();
    notes.push(Note::Obsoleted {
        request: name.to_string(),
        by: wname.to_string(),
        version: u.pkg(winner).version.to_string(),
    });
    Ok(by.into_iter().filter(|&p| u.pkg(p).name.as_str() == wname).collect())
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
