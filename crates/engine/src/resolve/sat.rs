//! The SAT step of resolving, with resolvo (the CDCL solver rattler and pixi use): which packages
//! a node ends up with, so that every requirement is met, no two packages conflict, and at most
//! one version of each name is installed.
//!
//! The encoding: one resolvo *name* per package name; a requirement on a capability (an rpm
//! provide, a soname, a file, a Debian virtual package, `a | b` alternatives, a rich dependency's
//! `or`) is a union of *version sets*, one per package name that provides it, each the explicit
//! list of that name's records that match. Conflicts, Breaks and Obsoletes are *constraints*: if a
//! package of that name is installed, it is one of the records that do not match. rpm's
//! `(a if b)` is a conditional requirement, `(a unless b)` the union `a or b`, `(a with b)` and
//! `(a without b)` the intersection and difference of provider lists.
//!
//! The node's base enters as preferences: its record is the favoured one of its name, and a
//! union lists the providers the node has first (`a | b` with `b` installed is met, as apt
//! has it). Base packages that must stay whatever happens are required by name (any version):
//! [`super::base`] adds those that the solution would otherwise break.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider, Interner,
    KnownDependencies, LogicalOperator, NameId, Problem, Requirement, SolvableId, Solver, SolverCache, StringId,
    UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use super::{ResolveError, Universe};
use moa_model::deps::{Dep, Relation};

/// The records of one name that a requirement, conflict or obsolete allows.
struct VSet {
    name: u32,
    /// Sorted package indices.
    allowed: Vec<u32>,
    label: String,
}

/// Package names as solver names, with each record's name. Built once per resolve: every solve
/// of it (newest first, then any version, the base loop) shares it. A name's records are looked
/// up in the universe when asked (a copy of every list took 1.5 MB on bookworm).
pub(super) struct Names<'u> {
    names: Vec<&'u str>,
    name_of: Vec<u32>,
}

impl<'u> Names<'u> {
    pub(super) fn new(u: &'u Universe<'_>) -> Self {
        let mut names: Vec<&str> = u.names();
        names.sort_unstable();
        let mut name_of = vec![0u32; u.len()];
        for (id, n) in names.iter().enumerate() {
            for &i in u.named(n).iter() {
                name_of[i as usize] = id as u32;
            }
        }
        Self { names, name_of }
    }
}

/// What to solve: the base by name, the requests, and preferences.
pub(super) struct Job<'j> {
    pub names: &'j Names<'j>,
    /// Base records kept by name (any version may replace them).
    pub hard_base: &'j [u32],
    /// Every base record: providers among them come first in a union.
    pub base: &'j HashSet<u32>,
    /// One requirement per request: the records that would do.
    pub requests: &'j [Vec<u32>],
    /// Names whose installed/base record is preferred (not the requested ones).
    pub favored: &'j [u32],
    /// The repository of a node profile's records, preferred on a version tie.
    pub installed_repo: Option<usize>,
}

pub(super) struct Sat<'u, 'a> {
    u: &'u Universe<'a>,
    name_of: &'u [u32],
    names: &'u [&'u str],
    /// Missing capabilities get a name with no records (numbered after the real ones), so the
    /// solver can say what is missing.
    missing: RefCell<Vec<String>>,
    missing_ids: RefCell<HashMap<String, u32>>,
    favored: HashMap<u32, u32>,
    base: &'u HashSet<u32>,
    installed_repo: Option<usize>,
    sets: RefCell<Vec<VSet>>,
    set_ids: RefCell<HashMap<(u32, Vec<u32>), u32>>,
    unions: RefCell<Vec<Vec<VersionSetId>>>,
    conditions: RefCell<Vec<Condition>>,
    strings: RefCell<Vec<String>>,
    /// Encoded requirements by raw string: `libc.so.6()(64bit)` is needed thousands of times.
    encoded: RefCell<HashMap<String, Vec<ConditionalRequirement>>>,
    /// dnf: the packages that count as decided for libsolv's weak-dependency rules (see
    /// [`super::weak`]); `None` for families that do not order providers as libsolv does.
    decided: Option<super::weak::Decided>,
}

impl<'u, 'a> Sat<'u, 'a> {
    /// The records of solver name `n` (none for a missing capability's name).
    fn members(&self, n: u32) -> std::borrow::Cow<'u, [u32]> {
        match self.names.get(n as usize) {
            Some(name) => self.u.named(name),
            None => std::borrow::Cow::Borrowed(&[]),
        }
    }

    fn new(u: &'u Universe<'a>, job: &Job<'u>, decided: Option<super::weak::Decided>) -> Self {
        let t = job.names;
        let favored = job.favored.iter().map(|&p| (t.name_of[p as usize], p)).collect();
        Self {
            u,
            name_of: &t.name_of,
            names: &t.names,
            missing: RefCell::default(),
            missing_ids: RefCell::default(),
            favored,
            base: job.base,
            installed_repo: job.installed_repo,
            sets: RefCell::default(),
            set_ids: RefCell::default(),
            unions: RefCell::default(),
            conditions: RefCell::default(),
            strings: RefCell::default(),
            encoded: RefCell::default(),
            decided,
        }
    }

    fn string(&self, s: String) -> StringId {
        let mut v = self.strings.borrow_mut();
        v.push(s);
        StringId(v.len() as u32 - 1)
    }

    fn set(&self, name: u32, mut allowed: Vec<u32>, label: String) -> VersionSetId {
        allowed.sort_unstable();
        allowed.dedup();
        let key = (name, allowed);
        if let Some(&id) = self.set_ids.borrow().get(&key) {
            return VersionSetId(id);
        }
        let mut sets = self.sets.borrow_mut();
        let id = sets.len() as u32;
        sets.push(VSet { name, allowed: key.1.clone(), label });
        self.set_ids.borrow_mut().insert(key, id);
        VersionSetId(id)
    }

    fn missing_name(&self, rel: &Relation<'_>) -> u32 {
        let key = rel.name.to_string();
        if let Some(&id) = self.missing_ids.borrow().get(&key) {
            return id;
        }
        let mut missing = self.missing.borrow_mut();
        let id = (self.names.len() + missing.len()) as u32;
        missing.push(key.clone());
        self.missing_ids.borrow_mut().insert(key, id);
        id
    }

    fn name(&self, id: u32) -> String {
        match self.names.get(id as usize) {
            Some(n) => n.to_string(),
            None => self.missing.borrow()[id as usize - self.names.len()].clone(),
        }
    }

    /// One version set per package name among `provs`, the name most like `wanted` first.
    fn groups(&self, provs: &[u32], rel: &Relation<'_>) -> Result<Vec<VersionSetId>, ResolveError> {
        let mut by_name: Vec<(u32, Vec<u32>)> = Vec::new();
        for &p in provs {
            let n = self.name_of[p as usize];
            match by_name.iter_mut().find(|(m, _)| *m == n) {
                Some((_, v)) => v.push(p),
                None => by_name.push((n, vec![p])),
            }
        }
        // Providers are packages: their names are all real ones. apt: the one named like the
        // capability first; then the family's order (dnf: libsolv's), rank (apt: Priority), name.
        let names = self.names;
        let rank = |recs: &[u32]| recs.iter().map(|&p| self.u.policy.provider_rank(self.u.pkg(p))).min();
        let policy = self.u.policy;
        // dnf: libsolv's reordering, by each name's best record (the one it would take).
        let libsolv = match policy.orders_providers_like_libsolv() && by_name.len() > 1 {
            true => {
                let best: Vec<u32> = by_name
                    .iter()
                    .map(|(_, recs)| {
                        recs.iter().copied().max_by(|&a, &b| self.u.pkg(a).version.cmp(&self.u.pkg(b).version))
                    })
                    .map(|p| p.expect("a name has a provider"))
                    .collect();
                super::choose::libsolv_keys(self.u, &best)?
            }
            false => vec![(false, 0, false); by_name.len()],
        };
        let mut keyed: Vec<_> = by_name.into_iter().zip(libsolv).collect();
        let named_first = policy.prefers_provider_named_like_capability();
        keyed.sort_by_cached_key(|((n, recs), order)| {
            let s = names[*n as usize];
            (named_first && s != rel.name, *order, rank(recs), policy.provider_name_key(s))
        });
        let by_name: Vec<(u32, Vec<u32>)> = keyed.into_iter().map(|(g, _)| g).collect();
        let labels: Vec<String> = by_name
            .iter()
            .map(|(n, _)| {
                if names[*n as usize] == rel.name {
                    rel.constraint.as_ref().map(|(op, v)| format!("{op} {v}")).unwrap_or_else(|| "*".into())
                } else {
                    format!("(provides {rel})")
                }
            })
            .collect();
        Ok(by_name.into_iter().zip(labels).map(|((n, v), l)| self.set(n, v, l)).collect())
    }

    /// The newest record a version set allows (none for a capability nothing provides).
    fn best_of(&self, s: VersionSetId) -> Option<u32> {
        let all = self.sets.borrow();
        all[s.0 as usize].allowed.iter().copied().max_by(|&a, &b| self.u.pkg(a).version.cmp(&self.u.pkg(b).version))
    }

    /// dnf: an `or`'s alternatives as one candidate list, ordered as [`Self::groups`] orders
    /// one capability's providers. libsolv sorts the union of their providers together:
    /// CentOS Stream 9's `(java-headless or java-17-headless or java-11-headless or
    /// java-1.8.0-headless)` gets java-1.8.0-openjdk-headless, the first by name, not a provider
    /// of the first alternative. A name nothing provides goes last.
    fn libsolv_order(&self, sets: Vec<VersionSetId>) -> Result<Vec<VersionSetId>, ResolveError> {
        let bests: Vec<Option<u32>> = sets.iter().map(|&s| self.best_of(s)).collect();
        let known: Vec<u32> = bests.iter().flatten().copied().collect();
        let mut keys = super::choose::libsolv_keys(self.u, &known)?.into_iter();
        let policy = self.u.policy;
        let mut keyed: Vec<_> = sets
            .into_iter()
            .zip(bests)
            .map(|(s, best)| {
                let key = best.map(|p| {
                    let name = self.u.pkg(p).name.as_str();
                    (
                        keys.next().expect("a key per best"),
                        policy.provider_rank(self.u.pkg(p)),
                        policy.provider_name_key(name),
                    )
                });
                (best.is_none(), key, s)
            })
            .collect();
        keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(keyed.into_iter().map(|k| k.2).collect())
    }

    fn rel_sets(&self, rel: &Relation<'_>) -> Result<Vec<VersionSetId>, ResolveError> {
        let provs = self.u.providers(rel)?;
        if provs.is_empty() {
            let label = rel.constraint.as_ref().map(|(op, v)| format!("{op} {v}")).unwrap_or_default();
            return Ok(vec![self.set(self.missing_name(rel), vec![], label)]);
        }
        self.groups(&provs, rel)
    }

    /// Providers of a set-shaped dependency (one relation, `with`, `without`).
    fn providers_of(&self, dep: &Dep<'_>) -> Result<Option<Vec<u32>>, ResolveError> {
        Ok(match dep {
            Dep::Rel(r) => Some(self.u.providers(r)?),
            Dep::With(v) => {
                let mut acc: Option<Vec<u32>> = None;
                for d in v {
                    let Some(p) = self.providers_of(d)? else { return Ok(None) };
                    acc = Some(match acc {
                        None => p,
                        Some(a) => a.into_iter().filter(|x| p.contains(x)).collect(),
                    });
                }
                acc
            }
            Dep::Without(a, b) => match (self.providers_of(a)?, self.providers_of(b)?) {
                (Some(a), Some(b)) => Some(a.into_iter().filter(|x| !b.contains(x)).collect()),
                _ => None,
            },
            _ => None,
        })
    }

    /// The version sets any one of which meets `dep`. Shapes a single clause cannot express
    /// (`((a and b) or c)`) are widened to their relations: a looser, never a wrong, answer.
    fn sets(&self, dep: &Dep<'_>) -> Result<Vec<VersionSetId>, ResolveError> {
        match dep {
            Dep::Rel(r) => self.rel_sets(r),
            Dep::Or(v) => {
                let mut out = Vec::new();
                for d in v {
                    for s in self.sets(d)? {
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                }
                match self.u.policy.orders_providers_like_libsolv() && out.len() > 1 {
                    true => self.libsolv_order(out),
                    false => Ok(out),
                }
            }
            Dep::With(_) | Dep::Without(..) => {
                let provs = self.providers_of(dep)?.unwrap_or_default();
                let mut leaves = Vec::new();
                dep.leaves(&mut leaves);
                let first = leaves.first().cloned().unwrap_or_else(|| Relation::plain("?"));
                if provs.is_empty() {
                    let label = "(no package meets every part)".to_string();
                    return Ok(vec![self.set(self.missing_name(&first), vec![], label)]);
                }
                self.groups(&provs, &first)
            }
            _ => {
                let mut leaves = Vec::new();
                dep.leaves(&mut leaves);
                self.sets(&Dep::Or(leaves.into_iter().map(Dep::Rel).collect()))
            }
        }
    }

    /// A requirement met by any of `sets`; those holding a base record first, so that an
    /// alternative the node already has is what the solver settles on (apt's rule).
    fn requirement(&self, mut sets: Vec<VersionSetId>) -> Requirement {
        if sets.len() == 1 {
            return Requirement::Single(sets[0]);
        }
        {
            let all = self.sets.borrow();
            sets.sort_by_key(|s| !all[s.0 as usize].allowed.iter().any(|p| self.base.contains(p)));
        }
        let mut unions = self.unions.borrow_mut();
        unions.push(sets);
        Requirement::Union(VersionSetUnionId(unions.len() as u32 - 1))
    }

    fn condition(&self, c: Condition) -> ConditionId {
        let mut v = self.conditions.borrow_mut();
        v.push(c);
        ConditionId::new(v.len() as u32 - 1)
    }

    /// "Some package meeting `dep` is installed", as a resolvo condition.
    fn condition_of(&self, dep: &Dep<'_>) -> Result<ConditionId, ResolveError> {
        let fold = |ids: Vec<ConditionId>, op: LogicalOperator| {
            let mut it = ids.into_iter();
            let first = it.next().unwrap_or_else(|| self.condition(Condition::Requirement(VersionSetId(0))));
            it.fold(first, |acc, c| self.condition(Condition::Binary(op, acc, c)))
        };
        Ok(match dep {
            Dep::And(v) => {
                fold(v.iter().map(|d| self.condition_of(d)).collect::<Result<_, _>>()?, LogicalOperator::And)
            }
            _ => {
                let sets = self.sets(dep)?;
                fold(sets.into_iter().map(|s| self.condition(Condition::Requirement(s))).collect(), LogicalOperator::Or)
            }
        })
    }

    fn encode(&self, dep: &Dep<'_>, out: &mut Vec<ConditionalRequirement>) -> Result<(), ResolveError> {
        match dep {
            Dep::And(v) => v.iter().try_for_each(|d| self.encode(d, out))?,
            Dep::If { then, cond, otherwise } => {
                let c = self.condition_of(cond)?;
                let mut inner = Vec::new();
                self.encode(then, &mut inner)?;
                for mut r in inner {
                    r.condition = Some(match r.condition {
                        None => c,
                        Some(prev) => self.condition(Condition::Binary(LogicalOperator::And, prev, c)),
                    });
                    out.push(r);
                }
                // `else c`: when cond is not installed, c must be: `c or cond`.
                if let Some(o) = otherwise {
                    let mut sets = self.sets(o)?;
                    sets.extend(self.sets(cond)?);
                    out.push(self.requirement(sets).into());
                }
            }
            Dep::Unless { then, cond, otherwise } => {
                let mut sets = self.sets(then)?;
                sets.extend(self.sets(cond)?);
                out.push(self.requirement(sets).into());
                if let Some(o) = otherwise {
                    self.encode(&Dep::If { then: o.clone(), cond: cond.clone(), otherwise: None }, out)?;
                }
            }
            _ => out.push(self.requirement(self.sets(dep)?).into()),
        }
        Ok(())
    }

    fn encode_raw(&self, p: u32, raw: &str) -> Result<Vec<ConditionalRequirement>, ResolveError> {
        if let Some(r) = self.encoded.borrow().get(raw) {
            return Ok(r.clone());
        }
        let dep = self.u.syntax.parse_dep(raw).map_err(|source| self.u.syntax_error(p, source))?;
        let mut out = Vec::new();
        self.encode(&dep, &mut out)?;
        self.encoded.borrow_mut().insert(raw.to_string(), out.clone());
        Ok(out)
    }

    /// Constraints that keep conflicting (or obsoleted) records of other names out.
    fn encode_conflict(
        &self,
        p: u32,
        raw: &str,
        obsoletes: bool,
        out: &mut Vec<VersionSetId>,
    ) -> Result<(), ResolveError> {
        let dep = self.u.syntax.parse_dep(raw).map_err(|source| self.u.syntax_error(p, source))?;
        let mut leaves = Vec::new();
        dep.leaves(&mut leaves);
        let own = self.name_of[p as usize];
        let what = if obsoletes { "obsoletes" } else { "conflicts with" };
        for rel in &leaves {
            let mut hit: Vec<u32> = self.u.providers(rel)?;
            hit.retain(|&q| self.name_of[q as usize] != own && (!obsoletes || self.u.pkg(q).name.as_str() == rel.name));
            let mut names: Vec<u32> = hit.iter().map(|&q| self.name_of[q as usize]).collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                let allowed: Vec<u32> = self.members(n).iter().copied().filter(|q| !hit.contains(q)).collect();
                let by = self.u.pkg(p);
                out.push(self.set(n, allowed, format!("outside `{raw}`, which {} {} {what}", by.name, by.version)));
            }
        }
        Ok(())
    }

    fn dependencies(&self, p: u32) -> Result<KnownDependencies, ResolveError> {
        let pkg = self.u.pkg(p);
        let mut requirements = Vec::new();
        for raw in &pkg.requires() {
            requirements.extend(self.encode_raw(p, raw)?);
        }
        // Only a choice among several names can be ordered.
        let union = requirements.iter().any(|r| matches!(r.requirement, Requirement::Union(_)));
        if let (Some(decided), true) = (&self.decided, union) {
            self.weak_order(&super::weak::Weak::of(self.u, p, decided)?, &mut requirements)?;
        }
        let mut constrains = Vec::new();
        for raw in &pkg.conflicts() {
            self.encode_conflict(p, raw, false, &mut constrains)?;
        }
        for raw in &pkg.obsoletes() {
            self.encode_conflict(p, raw, true, &mut constrains)?;
        }
        Ok(KnownDependencies { requirements, constrains })
    }

    /// Reorders the unions of a package's requirements as libsolv's weak-dependency rules order
    /// providers (see [`super::weak`]): a new union where the order changes, since an encoded
    /// requirement is shared by every package that has it. The node's providers stay first.
    fn weak_order(
        &self,
        weak: &super::weak::Weak<'_>,
        reqs: &mut [ConditionalRequirement],
    ) -> Result<(), ResolveError> {
        for r in reqs.iter_mut() {
            let Requirement::Union(id) = r.requirement else { continue };
            let sets = self.unions.borrow()[id.0 as usize].clone();
            let mut keyed = Vec::with_capacity(sets.len());
            for s in sets {
                let on_node = self.sets.borrow()[s.0 as usize].allowed.iter().any(|p| self.base.contains(p));
                let best = self.best_of(s);
                let key = match best {
                    Some(q) => weak.key(self.u, q)?,
                    None => (true, true),
                };
                keyed.push((!on_node, false, key, s, best));
            }
            let order = |k: &(bool, bool, (bool, bool), VersionSetId, Option<u32>)| (k.0, k.1, k.2);
            if keyed.windows(2).all(|w| order(&w[0]) <= order(&w[1])) {
                continue;
            }
            // libsolv prunes obsoleted providers before it looks at weak dependencies.
            let bests: Vec<u32> = keyed.iter().filter_map(|k| k.4).collect();
            if bests.len() == keyed.len() {
                let obsoleted = super::choose::obsoleted(self.u, &bests)?;
                keyed.iter_mut().zip(obsoleted).for_each(|(k, o)| k.1 = o);
            }
            keyed.sort_by_key(order);
            let mut unions = self.unions.borrow_mut();
            unions.push(keyed.into_iter().map(|k| k.3).collect());
            r.requirement = Requirement::Union(VersionSetUnionId(unions.len() as u32 - 1));
        }
        Ok(())
    }

    /// Preference among records of one name: highest version, the node's own record on a tie,
    /// the node's arch before `noarch`/`all`, the earlier repository.
    fn sort_key(&self, i: u32) -> impl Ord + use<'a, '_> {
        let p = self.u.pkg(i);
        (
            std::cmp::Reverse(&p.version),
            Some(p.repo) != self.installed_repo,
            p.arch.as_str() != self.u.target_arch,
            p.repo,
            i,
        )
    }
}

impl Interner for Sat<'_, '_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, s: SolvableId) -> impl std::fmt::Display + '_ {
        let p = self.u.pkg(s.into_raw());
        let repo = self.u.repo_name(p.repo);
        format!("{}.{} ({repo})", p.version, p.arch)
    }
    fn display_name(&self, name: NameId) -> impl std::fmt::Display + '_ {
        self.name(name.into_raw())
    }
    fn display_version_set(&self, vs: VersionSetId) -> impl std::fmt::Display + '_ {
        self.sets.borrow()[vs.0 as usize].label.clone()
    }
    fn display_string(&self, s: StringId) -> impl std::fmt::Display + '_ {
        self.strings.borrow()[s.0 as usize].clone()
    }
    fn version_set_name(&self, vs: VersionSetId) -> NameId {
        NameId::from_raw(self.sets.borrow()[vs.0 as usize].name)
    }
    fn solvable_name(&self, s: SolvableId) -> NameId {
        NameId::from_raw(self.name_of[s.into_raw() as usize])
    }
    fn version_sets_in_union(&self, u: VersionSetUnionId) -> impl Iterator<Item = VersionSetId> {
        self.unions.borrow()[u.0 as usize].clone().into_iter()
    }
    fn resolve_condition(&self, c: ConditionId) -> Condition {
        self.conditions.borrow()[c.as_u32() as usize].clone()
    }
}

impl DependencyProvider for Sat<'_, '_> {
    async fn filter_candidates(&self, candidates: &[SolvableId], vs: VersionSetId, inverse: bool) -> Vec<SolvableId> {
        let sets = self.sets.borrow();
        let allowed = &sets[vs.0 as usize].allowed;
        candidates.iter().copied().filter(|s| allowed.binary_search(&s.into_raw()).is_ok() != inverse).collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let n = name.into_raw();
        let members = self.members(n);
        Some(Candidates {
            candidates: members.iter().map(|&i| SolvableId::from_raw(i)).collect(),
            favored: self.favored.get(&n).map(|&i| SolvableId::from_raw(i)),
            ..Default::default()
        })
    }

    async fn sort_candidates(&self, _: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by(|a, b| self.sort_key(a.into_raw()).cmp(&self.sort_key(b.into_raw())));
    }

    async fn get_dependencies(&self, s: SolvableId) -> Dependencies {
        match self.dependencies(s.into_raw()) {
            Ok(d) => Dependencies::Known(d),
            Err(e) => Dependencies::Unknown(self.string(e.to_string())),
        }
    }
}

/// Why the solver found no answer: its own explanation, as a tree of requirements.
#[derive(Debug)]
pub(super) struct NoSolution(pub String);

/// Solves a job. Returns the records the node would have: base (kept or upgraded) and new.
pub(super) fn solve<'u>(u: &'u Universe<'_>, job: &Job<'u>) -> Result<Result<Vec<u32>, NoSolution>, ResolveError> {
    if !u.policy.orders_providers_like_libsolv() {
        return solve_once(u, job, None);
    }
    // dnf: libsolv's weak-dependency rules see what is decided so far. First the requests and
    // the base; then again with the first answer decided too, when it recommends or suggests
    // more than they do.
    let decided = || job.requests.iter().flatten().chain(job.base.iter()).copied();
    let before = super::weak::Decided::new(u, decided())?;
    let answer = match solve_once(u, job, Some(before.clone()))? {
        Ok(answer) => answer,
        Err(e) => return Ok(Err(e)),
    };
    let after = super::weak::Decided::new(u, decided().chain(answer.iter().copied()))?;
    if before.wants_no_more_than(&after) {
        return Ok(Ok(answer));
    }
    // Should the second solve find no answer, the first still stands.
    Ok(Ok(solve_once(u, job, Some(after))?.unwrap_or(answer)))
}

fn solve_once<'u>(
    u: &'u Universe<'_>,
    job: &Job<'u>,
    decided: Option<super::weak::Decided>,
) -> Result<Result<Vec<u32>, NoSolution>, ResolveError> {
    let sat = Sat::new(u, job, decided);
    // Requests first: the solver decides root clauses in order, so a request gets its newest
    // version and the base follows (upgraded if it must), as yum and apt do; base first would
    // keep the base and settle for an older request.
    let mut requirements: Vec<ConditionalRequirement> = Vec::new();
    for r in job.requests {
        let first = r.first().map(|&p| u.pkg(p).name.as_str()).unwrap_or("?");
        let sets = sat.groups(r, &Relation::plain(first))?;
        requirements.push(sat.requirement(sets).into());
    }
    for &b in job.hard_base {
        let n = sat.name_of[b as usize];
        let all = sat.members(n).to_vec();
        requirements.push(Requirement::Single(sat.set(n, all, "* (on the node)".into())).into());
    }
    let problem = Problem::new().requirements(requirements);
    let mut solver = Solver::new(sat);
    match solver.solve(problem) {
        Ok(s) => {
            let mut out: Vec<u32> = s.into_iter().map(|s| s.into_raw()).collect();
            out.sort_unstable();
            Ok(Ok(out))
        }
        Err(UnsolvableOrCancelled::Unsolvable(c)) => Ok(Err(NoSolution(c.display_user_friendly(&solver).to_string()))),
        Err(UnsolvableOrCancelled::Cancelled(_)) => Ok(Err(NoSolution("the solver was cancelled".into()))),
    }
}
