//! apt's own walk (`pkgDepCache::MarkInstall`, apt 2.6), replayed for the families whose
//! [`ResolvePolicy`](crate::policy::ResolvePolicy) follows apt. Where several answers are
//! valid, apt's is the one this walk meets first:
//!
//! - every request is marked first, then each one's dependencies are installed, requests in
//!   the order they are given (apt-get: the command line's; here: the manifest's);
//! - a package's dependency groups (`Pre-Depends`, then `Depends`) that nothing installed or
//!   marked meets are collected *before* the package is marked, then installed one by one,
//!   depth first; a group that an earlier one's walk met meanwhile is left alone (`a | b` with
//!   `b` already marked: nothing more; `ruby-json (>= 2.5)` with a package providing
//!   `ruby-json (= 2.6)` already marked: nothing more);
//! - a group's possible solutions are each alternative's candidates (the package named like it
//!   if its candidate matches, then the providers whose candidate matches), sorted by apt's
//!   `CompareProviders` within the alternative; upgrades of installed packages go before new
//!   installs across the whole group; the first is taken;
//! - marking a package upgrades the installed binaries of its source whose candidate comes from
//!   the very same source version (`Upgrade-By-Source-Package`).
//!
//! - a Conflicts or Breaks unmarks a marked package it hits, and upgrades an installed one
//!   whose candidate it does not hit, or removes it (not an Essential one).
//!
//! apt answers some problems only with its problem resolver (a request that conflicts, a
//! dependency no candidate meets, a marked package's dependency met no more, an upgrade that
//! breaks an installed package). The walk does not replay that: it stops, the SAT step answers
//! instead, and a note says so.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use super::{base, ResolveError, Universe};

/// Why the walk stopped: apt would need its problem resolver here, or the metadata is broken.
pub(super) enum Halt {
    /// The SAT step answers instead; what apt's walk could not settle.
    Resolver(String),
    Error(ResolveError),
}

impl From<ResolveError> for Halt {
    fn from(e: ResolveError) -> Self {
        Halt::Error(e)
    }
}

/// The walk's answer: the outcome, and per upgrade for its source the package it follows.
pub(super) type Answer = (base::Outcome, HashMap<u32, u32>);

/// apt's answer for `requests` (one record each) on the base in `cx`: the new packages and
/// upgrades, with the package each upgrade for its source follows; or, where apt's walk alone
/// does not decide it, what it could not settle (as a note).
pub(super) fn replay(
    u: &Universe<'_>,
    cx: &base::Context<'_>,
    requests: &[u32],
) -> Result<Result<Answer, super::Note>, ResolveError> {
    let mut w = Walk::new(u, cx.base);
    match w.run(requests).and_then(|()| w.check()) {
        Ok(()) => {
            let removals = (w.removals.iter())
                .map(|(p, q, raw)| super::Note::Removes {
                    new: u.pkg(*p).nevra(),
                    old: u.pkg(*q).nevra(),
                    conflict: raw.clone(),
                })
                .collect();
            Ok(Ok((base::Outcome { solution: w.marked, removals }, w.synced)))
        }
        Err(Halt::Resolver(reason)) => Ok(Err(super::Note::BeyondAptWalk { reason })),
        Err(Halt::Error(e)) => Err(e),
    }
}

/// Per name, apt's package id.
type Ids<'a> = HashMap<&'a str, u32, foldhash::fast::RandomState>;

/// Deeper than any real dependency chain: a loop in the walk itself.
const MAX_DEPTH: usize = 3_000;

struct Walk<'u, 'a> {
    u: &'u Universe<'a>,
    /// Per name: the installed (base) record.
    installed: HashMap<&'a str, u32>,
    /// Per name: what the node would have, installed or marked (apt's `InstVer`).
    inst: HashMap<&'a str, u32>,
    /// What the walk marked, in order.
    marked: Vec<u32>,
    /// Per name: apt's candidate (`None`: no record).
    candidates: HashMap<&'a str, Option<u32>>,
    /// Installed records by the name of their source package.
    by_source: HashMap<&'a str, Vec<u32>>,
    /// Per upgrade for its source: the package it follows.
    synced: HashMap<u32, u32>,
    /// The requests apt marked itself: never unmarked.
    requests: HashSet<u32>,
    /// Installed packages removed: (the package whose conflict removes it, it, the relation).
    removals: Vec<(u32, u32, String)>,
    /// Per name, apt's package id (see [`Walk::cache_order`]), from the records before
    /// `ids_read`.
    ids: Ids<'a>,
    ids_read: u32,
}

impl<'u, 'a> Walk<'u, 'a> {
    fn new(u: &'u Universe<'a>, base: &[u32]) -> Self {
        let installed: HashMap<&'a str, u32> = base.iter().map(|&b| (u.pkg(b).name.as_str(), b)).collect();
        let mut by_source: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for &b in base {
            by_source.entry(u.pkg(b).source().0).or_default().push(b);
        }
        Self {
            u,
            inst: installed.clone(),
            installed,
            marked: Vec::new(),
            candidates: HashMap::new(),
            by_source,
            synced: HashMap::new(),
            requests: HashSet::new(),
            removals: Vec::new(),
            ids: Ids::default(),
            ids_read: 0,
        }
    }

    /// apt-get install: every request marked (`MarkInstall(P, false)`), then each one's
    /// dependencies (`MarkInstall(P, true)`), both in the order of the command line.
    fn run(&mut self, requests: &[u32]) -> Result<(), Halt> {
        let mut todo = Vec::new();
        for &p in requests {
            if !self.current(p) {
                self.mark(p);
                todo.push(p);
            }
        }
        self.requests = todo.iter().copied().collect();
        for p in todo {
            self.complete(p, 0)?;
        }
        Ok(())
    }

    /// `MarkInstall(P, true)` for a candidate record `p`.
    fn install(&mut self, p: u32, depth: usize) -> Result<(), Halt> {
        if self.current(p) || self.inst.get(self.u.pkg(p).name.as_str()) == Some(&p) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Halt::Resolver(format!("the dependency chain to {} is over {MAX_DEPTH} deep", self.nevra(p))));
        }
        let pending = self.unmet(p)?;
        let removing = self.removals.len();
        let mut upgrades = self.remove_conflicts(p)?;
        upgrades.extend(self.reverse_depends(p)?);
        self.mark(p);
        self.settle(p, pending, upgrades, removing, depth)
    }

    /// The rest of `MarkInstall` once `p` is marked: the other binaries of its source, the
    /// upgrades its conflicts asked for, its `pending` dependency groups, then the removals
    /// decided since `removing`.
    fn settle(
        &mut self,
        p: u32,
        pending: Vec<&'a str>,
        upgrades: Vec<u32>,
        removing: usize,
        depth: usize,
    ) -> Result<(), Halt> {
        self.upgrade_other_binaries(p, depth)?;
        for q in upgrades {
            self.install(q, depth + 1)?;
        }
        self.install_dependencies(p, pending, depth)?;
        self.apply_removals(removing);
        Ok(())
    }

    /// The removals decided since `from`, now that the dependencies are in: what the node
    /// would have no longer holds them.
    fn apply_removals(&mut self, from: usize) {
        for i in from..self.removals.len() {
            let q = self.removals[i].1;
            let name = self.u.pkg(q).name.as_str();
            if self.inst.get(name) == Some(&q) {
                self.inst.remove(name);
            }
        }
    }

    /// `MarkInstall(P, true)` for a package already marked: nothing when its dependencies are
    /// met and its Conflicts and Breaks hit nothing the node would have (apt's `InstBroken`;
    /// not even the other binaries of its source), else those and its dependencies.
    fn complete(&mut self, p: u32, depth: usize) -> Result<(), Halt> {
        let pending = self.unmet(p)?;
        if pending.is_empty() && !self.conflicts_hit(p)? {
            return Ok(());
        }
        let removing = self.removals.len();
        let upgrades = self.remove_conflicts(p)?;
        self.settle(p, pending, upgrades, removing, depth)
    }

    /// apt's candidate of `name`: the highest version, a repository's record before the
    /// node's own of the same version.
    fn candidate(&mut self, name: &'a str) -> Option<u32> {
        let u = self.u;
        *self.candidates.entry(name).or_insert_with(|| {
            u.named(name).iter().copied().max_by(|&a, &b| {
                u.pkg(a).version.cmp(&u.pkg(b).version).then_with(|| u.is_node(b).cmp(&u.is_node(a))).then(b.cmp(&a))
            })
        })
    }

    /// Whether `p`'s name is installed at `p`'s version: nothing to do.
    fn current(&self, p: u32) -> bool {
        let pk = self.u.pkg(p);
        self.installed.get(pk.name.as_str()).is_some_and(|&b| self.u.pkg(b).version == pk.version)
    }

    fn mark(&mut self, p: u32) {
        self.inst.insert(self.u.pkg(p).name.as_str(), p);
        self.marked.push(p);
    }

    /// apt's package id of `p`'s name: apt creates a package where the indexes first name it
    /// (a stanza, then its Pre-Depends, Depends, Conflicts, Breaks, Replaces, Provides), in the
    /// order of the files and of their stanzas. Recommends, Suggests and Enhances, which apt
    /// reads too, are not kept in the records: on bookworm's index the order read from the
    /// fields kept agrees with apt's ids for 96% of pairs of names (with all fields, 100%).
    /// The records are read only as far as a name asked needs (a tie between providers).
    fn cache_order(&mut self, p: u32) -> u32 {
        let u = self.u;
        let name = u.pkg(p).name.as_str();
        while !self.ids.contains_key(name) && (self.ids_read as usize) < u.len() {
            let r = u.pkg(self.ids_read);
            self.ids_read += 1;
            let next = self.ids.len() as u32;
            self.ids.entry(r.name.as_str()).or_insert(next);
            for raw in r.requires().iter().chain(&r.conflicts()).chain(&r.replaces()).chain(&r.provides()) {
                for alt in raw.split('|') {
                    let n = alt.trim_start().split([' ', '(', ':']).next().unwrap_or("");
                    let next = self.ids.len() as u32;
                    self.ids.entry(n).or_insert(next);
                }
            }
        }
        self.ids.get(name).copied().unwrap_or(u32::MAX)
    }

    /// `p`'s dependency groups that nothing installed or marked meets now.
    fn unmet(&self, p: u32) -> Result<Vec<&'a str>, Halt> {
        let mut out = Vec::new();
        for raw in self.u.pkg(p).requires().iter() {
            if !self.met(p, raw)? {
                out.push(raw);
            }
        }
        Ok(out)
    }

    /// Whether a Conflicts or Breaks of `p` hits a package (of another name) the node would have.
    fn conflicts_hit(&self, p: u32) -> Result<bool, Halt> {
        let name = self.u.pkg(p).name.as_str();
        for raw in self.u.pkg(p).conflicts().iter() {
            let hits = self.u.meeting(p, raw)?;
            let held = |q: &u32| self.inst.get(self.u.pkg(*q).name.as_str()) == Some(q);
            if hits.iter().any(|q| self.u.pkg(*q).name.as_str() != name && held(q)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a package the node would have meets the group `raw` of `p`.
    fn met(&self, p: u32, raw: &str) -> Result<bool, Halt> {
        Ok(self.u.meeting(p, raw)?.iter().any(|&q| self.inst.get(self.u.pkg(q).name.as_str()) == Some(&q)))
    }

    /// `MarkInstall_RemoveConflictsIfNotUpgradeable`, for `p`'s Conflicts and Breaks: a marked
    /// package they hit is unmarked; an installed one they hit is upgraded when its candidate
    /// is not hit (returned, to install after `p` is marked), else removed (see
    /// [`Walk::remove`]).
    fn remove_conflicts(&mut self, p: u32) -> Result<Vec<u32>, Halt> {
        let name = self.u.pkg(p).name.as_str();
        let mut upgrades = Vec::new();
        for raw in self.u.pkg(p).conflicts().iter() {
            let hits: Vec<u32> =
                self.u.meeting(p, raw)?.into_iter().filter(|&q| self.u.pkg(q).name.as_str() != name).collect();
            let mut bad: Vec<&str> = Vec::new();
            for &q in &hits {
                let qn = self.u.pkg(q).name.as_str();
                if self.candidate(qn) != Some(q) {
                    continue;
                }
                if self.current(q) {
                    self.remove(p, raw, q)?;
                    continue;
                }
                if self.inst.get(qn) == Some(&q) {
                    self.unmark(q)?;
                }
                bad.push(qn);
            }
            for &q in &hits {
                let qn = self.u.pkg(q).name.as_str();
                if self.installed.get(qn) != Some(&q) || self.inst.get(qn) != Some(&q) {
                    continue;
                }
                match self.candidate(qn) {
                    Some(c) if !bad.contains(&qn) && !self.current(c) => upgrades.push(c),
                    _ => self.remove(p, raw, q)?,
                }
            }
        }
        Ok(upgrades)
    }

    /// `MarkInstall_MarkDeleteForNotUpgradeable`: installed `q`, which `p`'s `raw` hits, is
    /// removed once `p`'s dependencies are in, unless it is Essential (apt-get then refuses
    /// without --allow-remove-essential; moa-bundle refuses, naming the conflict).
    fn remove(&mut self, p: u32, raw: &str, q: u32) -> Result<(), Halt> {
        // The installed record itself (a repository's record of the same version may be `q`).
        let q = self.installed.get(self.u.pkg(q).name.as_str()).copied().unwrap_or(q);
        if !super::conflicts::may_remove(self.u, p, q)? {
            return Err(self.clash(p, raw, q));
        }
        if !self.removals.iter().any(|r| r.1 == q) {
            self.removals.push((p, q, raw.to_string()));
        }
        Ok(())
    }

    fn clash(&self, p: u32, raw: &str, q: u32) -> Halt {
        let on = if self.requests.contains(&q) { "requested" } else { "installed" };
        Halt::Resolver(format!("{} conflicts with {on} {} (`{raw}`)", self.nevra(p), self.nevra(q)))
    }

    fn nevra(&self, p: u32) -> String {
        self.u.pkg(p).nevra()
    }

    /// `MarkKeep` of a marked package (not a request): it is not installed after all.
    fn unmark(&mut self, q: u32) -> Result<(), Halt> {
        if self.requests.contains(&q) {
            return Err(Halt::Resolver(format!("two requests conflict: {}", self.nevra(q))));
        }
        let name = self.u.pkg(q).name.as_str();
        match self.installed.get(name) {
            Some(&b) => self.inst.insert(name, b),
            None => self.inst.remove(name),
        };
        self.marked.retain(|&m| m != q);
        self.synced.remove(&q);
        Ok(())
    }

    /// `MarkInstall_CollectReverseDepends`: when `p` upgrades an installed package, the
    /// installed packages with a dependency on its name that the installed version meets and
    /// `p` does not are upgraded too (their candidates).
    fn reverse_depends(&mut self, p: u32) -> Result<Vec<u32>, Halt> {
        let pk = self.u.pkg(p);
        let Some(&old) = self.installed.get(pk.name.as_str()) else { return Ok(Vec::new()) };
        let old_version = &self.u.pkg(old).version;
        let mut out = Vec::new();
        let base: Vec<u32> = self.installed.values().copied().collect();
        for x in base {
            let xn = self.u.pkg(x).name.as_str();
            if self.inst.get(xn) != Some(&x) {
                continue;
            }
            for raw in self.u.pkg(x).requires().iter() {
                let alts = self.u.syntax.parse_requirement(raw).map_err(|source| self.u.syntax_error(x, source))?;
                let breaks = alts.iter().any(|r| {
                    r.name == pk.name.as_str()
                        && r.accepts(Some(old_version), false)
                        && !r.accepts(Some(&pk.version), false)
                });
                if breaks {
                    if let Some(c) = self.candidate(xn).filter(|&c| !self.current(c) && !out.contains(&c)) {
                        out.push(c);
                    }
                    break;
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// `MarkInstall_UpgradeOtherBinaries`: installed binaries of `p`'s source whose candidate
    /// is built from the same source version are upgraded with it.
    fn upgrade_other_binaries(&mut self, p: u32, depth: usize) -> Result<(), Halt> {
        if !self.u.policy.upgrades_by_source() {
            return Ok(());
        }
        let (src, version) = self.u.pkg(p).source();
        let mut others = Vec::new();
        for x in self.by_source.get(src).cloned().unwrap_or_default() {
            let name = self.u.pkg(x).name.as_str();
            let Some(cand) = self.candidate(name) else { continue };
            if name == self.u.pkg(p).name.as_str() || self.current(cand) || self.inst.get(name) == Some(&cand) {
                continue;
            }
            if self.u.pkg(cand).source() == (src, version.clone()) {
                others.push(cand);
            }
        }
        let mut others: Vec<(u32, u32)> = others.into_iter().map(|c| (self.cache_order(c), c)).collect();
        others.sort_unstable();
        let others: Vec<u32> = others.into_iter().map(|(_, c)| c).collect();
        for &c in &others {
            self.mark(c);
            self.synced.insert(c, p);
        }
        for c in others {
            self.complete(c, depth + 1)?;
        }
        Ok(())
    }

    /// `MarkInstall_InstallDependencies`: each pending group, unless met meanwhile, by the
    /// first of its possible solutions. A group none meets is the problem resolver's.
    fn install_dependencies(&mut self, p: u32, pending: Vec<&'a str>, depth: usize) -> Result<(), Halt> {
        for raw in pending {
            if self.met(p, raw)? {
                continue;
            }
            let Some(&first) = self.solutions(p, raw)?.first() else {
                return Err(Halt::Resolver(format!("no candidate meets `{raw}` of {}", self.nevra(p))));
            };
            self.install(first, depth + 1)?;
        }
        Ok(())
    }

    /// `getAllPossibleSolutions`: per alternative, the candidates that meet it in apt's
    /// provider order; installed packages' upgrades first across the group, then new ones.
    fn solutions(&mut self, p: u32, raw: &str) -> Result<Vec<u32>, Halt> {
        let alts = self.u.syntax.parse_requirement(raw).map_err(|source| self.u.syntax_error(p, source))?;
        let (mut upgrades, mut news) = (Vec::new(), Vec::new());
        for rel in &alts {
            let mut verlist = Vec::new();
            for q in self.u.providers(rel)? {
                if self.candidate(self.u.pkg(q).name.as_str()) == Some(q) {
                    verlist.push(q);
                }
            }
            let ids: HashMap<u32, u32> = match verlist.len() {
                0 | 1 => HashMap::new(),
                _ => verlist.iter().map(|&q| (q, self.cache_order(q))).collect(),
            };
            verlist.sort_by(|&a, &b| self.compare_providers(rel.name, a, b).then_with(|| ids[&b].cmp(&ids[&a])));
            for q in verlist {
                let to =
                    if self.installed.contains_key(self.u.pkg(q).name.as_str()) { &mut upgrades } else { &mut news };
                if !to.contains(&q) {
                    to.push(q);
                }
            }
        }
        upgrades.extend(news.into_iter().filter(|q| !upgrades.contains(q)).collect::<Vec<_>>());
        Ok(upgrades)
    }

    /// apt's `CompareProviders` for a relation on `target`: installed names first, then the
    /// package named like it, Essential, the native arch, the more important Priority; last
    /// (the caller's) the package later in apt's cache.
    fn compare_providers(&self, target: &str, a: u32, b: u32) -> Ordering {
        let (pa, pb) = (self.u.pkg(a), self.u.pkg(b));
        let installed = |n: &str| self.installed.contains_key(n);
        let foreign =
            |p: &crate::repo::PackageRecord| p.arch.as_str() != self.u.target_arch && p.arch.as_str() != "all";
        installed(pb.name.as_str())
            .cmp(&installed(pa.name.as_str()))
            .then_with(|| (pb.name.as_str() == target).cmp(&(pa.name.as_str() == target)))
            .then_with(|| pb.essential.cmp(&pa.essential))
            .then_with(|| foreign(pa).cmp(&foreign(pb)))
            .then_with(|| self.u.policy.provider_rank(pa).cmp(&self.u.policy.provider_rank(pb)))
    }

    /// The walk's result holds: every marked package's dependencies met, no conflict between
    /// what the node would have, and every installed package's dependencies still met.
    fn check(&self) -> Result<(), Halt> {
        let after: HashSet<u32> = self.inst.values().copied().collect();
        let marked: HashSet<u32> = self.marked.iter().copied().collect();
        let upgraded = !self.removals.is_empty()
            || self.marked.iter().any(|&p| self.installed.contains_key(self.u.pkg(p).name.as_str()));
        for &p in &after {
            if marked.contains(&p) {
                if let Some(raw) = self.unmet(p)?.first() {
                    return Err(Halt::Resolver(format!("`{raw}` of {} is met no more", self.nevra(p))));
                }
            }
            if upgraded && self.broken(p)? {
                return Err(Halt::Resolver(format!("the upgrades break installed {}", self.nevra(p))));
            }
            if !marked.contains(&p) && self.u.pkg(p).conflicts().is_empty() {
                continue;
            }
            for raw in self.u.pkg(p).conflicts().iter() {
                for q in self.u.meeting(p, raw)? {
                    let touches_new = marked.contains(&p) || marked.contains(&q);
                    if touches_new && after.contains(&q) && self.u.pkg(q).name != self.u.pkg(p).name {
                        return Err(Halt::Resolver(format!(
                            "{} conflicts with {} (`{raw}`)",
                            self.nevra(p),
                            self.nevra(q)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a dependency group of installed package `x` that the base met is met no more.
    fn broken(&self, x: u32) -> Result<bool, Halt> {
        if self.installed.get(self.u.pkg(x).name.as_str()) != Some(&x) {
            return Ok(false);
        }
        let holds = |at: &HashMap<&'a str, u32>, q: u32| at.get(self.u.pkg(q).name.as_str()) == Some(&q);
        for raw in self.u.pkg(x).requires().iter() {
            let meeting = self.u.meeting(x, raw)?;
            if meeting.iter().any(|&q| holds(&self.installed, q)) && !meeting.iter().any(|&q| holds(&self.inst, q)) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
