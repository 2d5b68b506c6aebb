//! Resolving: which packages a bundle must carry. The closure of the requested packages over
//! their dependencies, minus what the node already has (the *base*), each chosen package with the
//! chain that pulled it in.
//!
//! The algorithm is a deterministic greedy closure, breadth first so chains are shortest: a
//! requirement already met by a chosen or base package is done; otherwise the best candidate is
//! taken (the alternative written first, a provider named like the capability, the highest
//! version, the node's arch before `noarch`). It does not backtrack, so it cannot escape a
//! conflict it walked into; conflicts and obsoletes are not evaluated yet.

pub mod deps;
pub mod why;

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use serde::Serialize;

use crate::manifest::{Manifest, Request};
use crate::repo::{Metadata, PackageRecord};
use deps::{DepSyntax, Relation};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{request}` is not in any repository of {origin}{hint}. Check the name (it is case-sensitive) or add the repository that has it")]
    NotFound { request: String, origin: String, hint: String },
    #[error("{chain} needs `{requirement}`, which no repository of {origin} provides{detail}. Add the repository that has it, pin another version of `{package}`, or pass --no-base to see the full closure")]
    Unsatisfiable { chain: String, requirement: String, package: String, origin: String, detail: String },
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
pub struct Goal {
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
    pub fn from_manifest(m: &Manifest, no_base: bool) -> Self {
        Self {
            requests: m.packages.clone(),
            optional: m.optional.clone(),
            base_roots: if no_base { vec![] } else { m.base.roots.iter().map(|r| r.to_string()).collect() },
            base_priorities: if no_base { vec![] } else { m.base.priorities.clone() },
            installed_repo: None,
        }
    }

    /// Resolving against a node profile added with [`add_installed`].
    pub fn against_node(m: &Manifest, installed_repo: usize) -> Self {
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
/// They have no location: a plan never packs them. Returns the repository's index.
pub fn add_installed(
    md: &mut Metadata,
    node: &str,
    packages: &[crate::install::Installed],
    syntax: &dyn DepSyntax,
) -> Result<usize, ResolveError> {
    let repo = md.repos.len();
    md.repos.push(crate::repo::LoadedRepo {
        name: format!("installed on {node}"),
        mirrors: vec![],
        base_path: String::new(),
        sources: vec![],
        timestamp: None,
    });
    for p in packages {
        let bad = |why: String| ResolveError::Syntax {
            package: format!("{}-{}.{}", p.name, p.version, p.arch),
            origin: format!("the profile of {node}"),
            source: deps::DepError { raw: p.version.clone(), why },
        };
        md.packages.push(PackageRecord {
            name: crate::types::PackageName::new(&p.name).map_err(|e| bad(e.to_string()))?,
            version: syntax.parse_version(&p.version).map_err(|e| bad(e.why))?,
            arch: crate::types::Arch::new(&p.arch).map_err(|e| bad(e.to_string()))?,
            repo,
            location: String::new(),
            size: 0,
            sha256: crate::types::Sha256::digest(b""),
            provides: p.provides.clone(),
            requires: vec![],
            pre_requires: vec![],
            conflicts: vec![],
            files: p.files.clone(),
            priority: None,
            essential: false,
            replaces: vec![],
        });
    }
    Ok(repo)
}

/// One package the bundle carries.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    /// Index into [`Metadata::packages`].
    #[serde(skip)]
    pub package: usize,
    pub requested: bool,
    /// The base version this package replaces, when a dependency needs a newer one.
    pub upgrades: Option<String>,
    /// From a requested package down to this one: `ntp`, `ntp needs libopts.so.25()(64bit)`.
    pub why: Vec<String>,
}

/// The resolved plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Sorted by package name.
    pub entries: Vec<PlanEntry>,
    /// How many packages the base closure has.
    pub base_count: usize,
    /// The base closure's packages (indices into [`Metadata::packages`]), for `--why-not`.
    pub base: Vec<usize>,
    /// Things the user should know: base roots not found, optional packages skipped.
    pub notes: Vec<String>,
}

/// Every package, indexed by name, provided capability and file.
pub struct Universe<'a> {
    pub md: &'a Metadata,
    syntax: &'a dyn DepSyntax,
    target_arch: String,
    by_name: HashMap<&'a str, Vec<u32>>,
    provides: HashMap<&'a str, Vec<(u32, &'a str)>>,
    files: OnceLock<HashMap<&'a str, Vec<u32>>>,
}

impl<'a> Universe<'a> {
    pub fn new(md: &'a Metadata, syntax: &'a dyn DepSyntax, target_arch: &str) -> Self {
        let mut by_name: HashMap<&str, Vec<u32>> = HashMap::with_capacity(md.packages.len());
        let mut provides: HashMap<&str, Vec<(u32, &str)>> = HashMap::with_capacity(md.packages.len() * 4);
        for (i, p) in md.packages.iter().enumerate() {
            by_name.entry(p.name.as_str()).or_default().push(i as u32);
            for raw in &p.provides {
                provides.entry(syntax.provide_name(raw)).or_default().push((i as u32, raw.as_str()));
            }
        }
        Self { md, syntax, target_arch: target_arch.to_string(), by_name, provides, files: OnceLock::new() }
    }

    fn pkg(&self, i: u32) -> &'a PackageRecord {
        &self.md.packages[i as usize]
    }

    fn files(&self) -> &HashMap<&'a str, Vec<u32>> {
        self.files.get_or_init(|| {
            let mut m: HashMap<&str, Vec<u32>> = HashMap::new();
            for (i, p) in self.md.packages.iter().enumerate() {
                for f in &p.files {
                    m.entry(f.as_str()).or_default().push(i as u32);
                }
            }
            m
        })
    }

    /// Packages that satisfy one relation, without duplicates, in index order.
    pub fn providers(&self, rel: &Relation<'_>) -> Result<Vec<u32>, ResolveError> {
        let mut out = Vec::new();
        let unversioned_ok = self.syntax.unversioned_provide_satisfies();
        for &i in self.by_name.get(rel.name).into_iter().flatten() {
            if rel.accepts(Some(&self.pkg(i).version), unversioned_ok) {
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
            for &i in self.files().get(rel.name).into_iter().flatten() {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn syntax_error(&self, i: u32, source: deps::DepError) -> ResolveError {
        let p = self.pkg(i);
        ResolveError::Syntax {
            package: format!("{}-{}.{}", p.name, p.version, p.arch),
            origin: self.md.repos.get(p.repo).map(|r| r.name.clone()).unwrap_or_default(),
            source,
        }
    }

    /// Preference among candidates: exact name, then shorter and sorted names, highest version,
    /// the node's own arch, the earlier repository.
    fn best(&self, candidates: &[u32], wanted_name: &str) -> Option<u32> {
        candidates.iter().copied().min_by(|&a, &b| {
            let (pa, pb) = (self.pkg(a), self.pkg(b));
            let key = |p: &PackageRecord| (p.name.as_str() != wanted_name, p.name.as_str().len(), p.name.clone());
            key(pa)
                .cmp(&key(pb))
                .then_with(|| pb.version.cmp(&pa.version))
                .then_with(|| (pa.arch.as_str() != self.target_arch).cmp(&(pb.arch.as_str() != self.target_arch)))
                .then_with(|| pa.repo.cmp(&pb.repo))
                .then_with(|| a.cmp(&b))
        })
    }
}

/// A package chosen during a closure and how it got there.
#[derive(Clone)]
struct Chosen {
    package: u32,
    parent: Option<usize>,
    via: String,
}

/// Greedy closure state: chosen packages (base first), by name.
struct Closure<'u, 'a> {
    u: &'u Universe<'a>,
    chosen: Vec<Chosen>,
    chosen_set: HashSet<u32>,
    by_name: HashMap<&'a str, usize>,
    queue: VecDeque<usize>,
}

impl<'u, 'a> Closure<'u, 'a> {
    fn new(u: &'u Universe<'a>) -> Self {
        Self { u, chosen: Vec::new(), chosen_set: HashSet::new(), by_name: HashMap::new(), queue: VecDeque::new() }
    }

    /// Adds a package (replacing a chosen one of the same name) and queues its requirements.
    fn add(&mut self, package: u32, parent: Option<usize>, via: String) -> usize {
        let name = self.u.pkg(package).name.as_str();
        if let Some(&old) = self.by_name.get(name) {
            self.chosen_set.remove(&self.chosen[old].package);
        }
        let idx = self.chosen.len();
        self.chosen.push(Chosen { package, parent, via });
        self.chosen_set.insert(package);
        self.by_name.insert(name, idx);
        self.queue.push_back(idx);
        idx
    }

    fn chain(&self, mut idx: usize) -> Vec<String> {
        let mut steps = Vec::new();
        loop {
            let c = &self.chosen[idx];
            let name = self.u.pkg(c.package).name.as_str();
            match c.parent {
                Some(p) => {
                    let parent = self.u.pkg(self.chosen[p].package).name.as_str();
                    steps.push(format!("{parent} needs {}", c.via));
                    idx = p;
                }
                None => {
                    steps.push(format!("{name} ({})", c.via));
                    break;
                }
            }
        }
        steps.reverse();
        steps
    }

    /// Drains the queue. `strict`: an unmet requirement is an error; otherwise it becomes a note.
    fn run(&mut self, origin: &str, strict: bool, notes: &mut Vec<String>) -> Result<(), ResolveError> {
        while let Some(idx) = self.queue.pop_front() {
            let pkg = self.u.pkg(self.chosen[idx].package);
            if self.by_name.get(pkg.name.as_str()) != Some(&idx) {
                continue; // replaced by a newer version meanwhile
            }
            for raw in &pkg.requires {
                let alts = self
                    .u
                    .syntax
                    .parse_requirement(raw)
                    .map_err(|source| self.u.syntax_error(self.chosen[idx].package, source))?;
                let mut per_alt = Vec::with_capacity(alts.len());
                let mut met = false;
                for rel in &alts {
                    let provs = self.u.providers(rel)?;
                    if provs.iter().any(|p| self.chosen_set.contains(p)) {
                        met = true;
                        break;
                    }
                    per_alt.push(provs);
                }
                if met {
                    continue;
                }
                let pick = alts.iter().zip(&per_alt).find_map(|(rel, provs)| self.u.best(provs, rel.name));
                match pick {
                    Some(p) => {
                        self.add(p, Some(idx), raw.clone());
                    }
                    None if strict => {
                        let chain = self.chain(idx).join(" → ");
                        let detail = self.near_misses(&alts);
                        return Err(ResolveError::Unsatisfiable {
                            chain,
                            requirement: raw.clone(),
                            package: pkg.name.to_string(),
                            origin: origin.to_string(),
                            detail,
                        });
                    }
                    None => notes.push(format!(
                        "base: {} needs `{raw}`, which no repository provides (ignored: the node is assumed to have it)",
                        pkg.name
                    )),
                }
            }
        }
        Ok(())
    }

    /// Versions that exist under the required names but do not match the constraint.
    fn near_misses(&self, alts: &[Relation<'_>]) -> String {
        let mut have = Vec::new();
        for rel in alts {
            for &i in self.u.by_name.get(rel.name).into_iter().flatten() {
                have.push(format!("{}-{}", rel.name, self.u.pkg(i).version));
            }
        }
        if have.is_empty() {
            String::new()
        } else {
            have.sort();
            have.dedup();
            format!(" (the repositories have only {})", have.join(", "))
        }
    }
}

/// Resolves a goal against loaded metadata.
pub fn resolve(u: &Universe<'_>, goal: &Goal, origin: &str) -> Result<Plan, ResolveError> {
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
        notes.push(format!("base roots not in any repository (ignored): {}", missing_roots.join(", ")));
    }
    if !goal.base_priorities.is_empty() {
        // Per name, the best of the records that carry one of those priorities.
        let mut by_prio: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, p) in u.md.packages.iter().enumerate() {
            if p.priority.as_ref().is_some_and(|pr| goal.base_priorities.contains(pr)) {
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
    let base_count = c.chosen.len();
    let base: Vec<usize> = c.by_name.values().map(|&i| c.chosen[i].package as usize).collect();
    let base_versions: HashMap<&str, String> =
        c.by_name.iter().map(|(n, &i)| (*n, u.pkg(c.chosen[i].package).version.to_string())).collect();

    // The requests, on top of the base.
    let mut requested = HashSet::new();
    let all = goal.requests.iter().map(|r| (r, true)).chain(goal.optional.iter().map(|r| (r, false)));
    for (req, required) in all {
        match pick_request(u, req)? {
            // Against a node: what it already has at the best version is not packed.
            Some(p) if goal.installed_repo.is_some() && installed_at(u, &c, p) => {
                let pk = u.pkg(p);
                notes.push(format!("`{req}` is already installed on the node at {}: not packed", pk.version));
            }
            Some(p) => {
                // Packed even when the base already has it: the user asked for it.
                requested.insert(p);
                c.add(p, None, "requested".into());
            }
            None if required => {
                return Err(ResolveError::NotFound {
                    request: req.to_string(),
                    origin: origin.to_string(),
                    hint: match &req.version {
                        Some(_) => versions_hint(u, req.name.as_str()),
                        None => String::new(),
                    },
                })
            }
            None => notes.push(format!("optional package `{req}` is not in any repository: skipped")),
        }
    }
    c.run(origin, true, &mut notes)?;
    check_conflicts(u, &c, base_count, &mut notes)?;

    let mut entries: Vec<PlanEntry> = c
        .chosen
        .iter()
        .enumerate()
        .skip(base_count)
        .filter(|(i, ch)| c.by_name.get(u.pkg(ch.package).name.as_str()) == Some(i))
        .map(|(i, ch)| {
            let p = u.pkg(ch.package);
            let old = base_versions.get(p.name.as_str()).filter(|v| **v != p.version.to_string());
            PlanEntry {
                package: ch.package as usize,
                requested: requested.contains(&ch.package),
                upgrades: old.cloned(),
                why: c.chain(i),
            }
        })
        .collect();
    entries.sort_by_key(|e| {
        let p = &u.md.packages[e.package];
        (p.name.clone(), Reverse(p.version.clone()))
    });
    Ok(Plan { entries, base_count, base, notes })
}

/// Refuses a result with a conflict (rpm Conflicts, deb Conflicts/Breaks) between two packages
/// the node would have: a planned one against another planned one or the base, and a base one
/// against a planned one. A package never conflicts with itself (Debian packages conflict with
/// the virtual names they provide).
fn check_conflicts(
    u: &Universe<'_>,
    c: &Closure<'_, '_>,
    base_count: usize,
    notes: &mut Vec<String>,
) -> Result<(), ResolveError> {
    // Does `by` (planned) replace `q` (on the node)? Then dpkg removes `q` instead of failing.
    let replaces = |by: u32, q: u32| -> Result<bool, ResolveError> {
        for raw in &u.pkg(by).replaces {
            for rel in u.syntax.parse_requirement(raw).map_err(|source| u.syntax_error(by, source))? {
                if u.providers(&rel)?.contains(&q) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    };
    let current: HashMap<u32, bool> = c.by_name.values().map(|&i| (c.chosen[i].package, i >= base_count)).collect();
    let show = |i: u32| {
        let p = u.pkg(i);
        format!("{}-{}.{}", p.name, p.version, p.arch)
    };
    // In index order, so the first conflict reported and the notes are the same on every run.
    let mut order: Vec<(u32, bool)> = current.iter().map(|(&p, &planned)| (p, planned)).collect();
    order.sort_unstable();
    for (p, planned) in order {
        for raw in &u.pkg(p).conflicts {
            let alts = u.syntax.parse_requirement(raw).map_err(|source| u.syntax_error(p, source))?;
            for rel in &alts {
                for q in u.providers(rel)? {
                    let Some(&q_planned) = current.get(&q) else { continue };
                    if q == p || u.pkg(q).name == u.pkg(p).name || !(planned || q_planned) {
                        continue;
                    }
                    let (a, b) = (show(p), show(q));
                    let removal = match (planned, q_planned) {
                        (true, false) => replaces(p, q)?.then(|| (a.clone(), b.clone())),
                        (false, true) => replaces(q, p)?.then(|| (b.clone(), a.clone())),
                        _ => None,
                    };
                    if let Some((new, old)) = removal {
                        let n = format!(
                            "installing {new} removes {old} from the node (it conflicts with and replaces it, `{raw}`)"
                        );
                        if !notes.contains(&n) {
                            notes.push(n);
                        }
                        continue;
                    }
                    let fix = match (planned, q_planned) {
                        (true, true) => format!("Pin another version of {} or {} in the manifest", u.pkg(p).name, u.pkg(q).name),
                        (true, false) => format!(
                            "{} is on the node: add `{}` to the manifest's packages so a version without the conflict is packed, or pin another version of {}",
                            b, u.pkg(q).name, u.pkg(p).name
                        ),
                        _ => format!(
                            "{a} is on the node: add `{}` to the manifest's packages so a version without the conflict is packed, or pin another version of {}",
                            u.pkg(p).name, u.pkg(q).name
                        ),
                    };
                    let b = if q_planned { format!("{b} (in the bundle)") } else { format!("{b} (on the node)") };
                    let a = if planned { format!("{a} (in the bundle)") } else { format!("{a} (on the node)") };
                    return Err(ResolveError::Conflict { a, b, relation: raw.clone(), fix });
                }
            }
        }
    }
    Ok(())
}

/// Whether the base (a node's packages) has this package's name at this version (or newer).
fn installed_at(u: &Universe<'_>, c: &Closure<'_, '_>, p: u32) -> bool {
    let pk = u.pkg(p);
    c.by_name.get(pk.name.as_str()).is_some_and(|&i| u.pkg(c.chosen[i].package).version >= pk.version)
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

/// The package a request names: by name (pinned version if given), else by a provided capability.
fn pick_request(u: &Universe<'_>, req: &Request) -> Result<Option<u32>, ResolveError> {
    let name = req.name.as_str();
    let by_name: Vec<u32> = u.by_name.get(name).cloned().unwrap_or_default();
    let candidates: Vec<u32> = match &req.version {
        Some(v) => {
            let want = u.syntax.parse_version(v).map_err(|source| ResolveError::Syntax {
                package: req.to_string(),
                origin: "the manifest".into(),
                source,
            })?;
            by_name.into_iter().filter(|&i| u.pkg(i).version.cmp_for_requirement(&want).is_eq()).collect()
        }
        None if by_name.is_empty() => u.providers(&Relation { name, constraint: None })?,
        None => by_name,
    };
    Ok(u.best(&candidates, name))
}

/// Install stages for the plan's entries: a package comes one stage after every bundled package
/// that satisfies one of its pre-requirements, and no earlier than what it depends on (dpkg must
/// have a pre-dependency configured before it unpacks the package that needs it).
pub fn install_stages(u: &Universe<'_>, plan: &Plan) -> Result<Vec<u32>, ResolveError> {
    let idx_of: HashMap<u32, usize> = plan.entries.iter().enumerate().map(|(i, e)| (e.package as u32, i)).collect();
    // For each entry: (bundled deps, bundled pre-deps).
    let mut edges: Vec<(Vec<usize>, Vec<usize>)> = Vec::with_capacity(plan.entries.len());
    for e in &plan.entries {
        let p = &u.md.packages[e.package];
        let mut deps = Vec::new();
        let mut pre = Vec::new();
        for raw in &p.requires {
            let alts = u.syntax.parse_requirement(raw).map_err(|source| u.syntax_error(e.package as u32, source))?;
            for rel in &alts {
                for prov in u.providers(rel)? {
                    if let Some(&j) = idx_of.get(&prov) {
                        if j != idx_of[&(e.package as u32)] {
                            if p.pre_requires.contains(raw) {
                                pre.push(j);
                            }
                            deps.push(j);
                        }
                    }
                }
            }
        }
        edges.push((deps, pre));
    }
    let mut stage = vec![0u32; plan.entries.len()];
    // Longest-path relaxation; bounded so a dependency cycle cannot loop forever.
    for _ in 0..plan.entries.len().max(1) {
        let mut changed = false;
        for (i, (deps, pre)) in edges.iter().enumerate() {
            let want = pre
                .iter()
                .map(|&j| stage[j] + 1)
                .chain(deps.iter().map(|&j| stage[j]))
                .max()
                .unwrap_or(0)
                .min(plan.entries.len() as u32);
            if want > stage[i] {
                stage[i] = want;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(stage)
}

#[cfg(test)]
mod tests;
