//! The greedy closure: breadth first, the best candidate for each unmet requirement, no
//! backtracking. It estimates a node's base from a manifest's roots and priorities (what every
//! node is assumed to have, closed over its dependencies), and, when the SAT step finds no
//! answer, it names the first unmet requirement with the chain that needed it.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{ResolveError, Universe};
use moa_model::deps::Relation;

/// A package chosen during a closure and how it got there.
#[derive(Clone)]
pub(super) struct Chosen {
    pub(super) package: u32,
    pub(super) parent: Option<usize>,
    pub(super) via: String,
}

/// Greedy closure state: chosen packages (base first), by name.
pub(super) struct Closure<'u, 'a> {
    pub(super) u: &'u Universe<'a>,
    pub(super) chosen: Vec<Chosen>,
    pub(super) chosen_set: HashSet<u32>,
    pub(super) by_name: HashMap<&'a str, usize>,
    pub(super) queue: VecDeque<usize>,
}

impl<'u, 'a> Closure<'u, 'a> {
    pub(super) fn new(u: &'u Universe<'a>) -> Self {
        Self { u, chosen: Vec::new(), chosen_set: HashSet::new(), by_name: HashMap::new(), queue: VecDeque::new() }
    }

    /// Adds a package (replacing a chosen one of the same name) and queues its requirements.
    pub(super) fn add(&mut self, package: u32, parent: Option<usize>, via: String) -> usize {
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

    /// Each chosen package past `from` (by index into the chosen list) with the request at the
    /// root of its chain.
    pub(super) fn roots(&self, from: usize) -> HashMap<u32, u32> {
        let mut out = HashMap::new();
        for (i, c) in self.chosen.iter().enumerate().skip(from) {
            let mut at = i;
            while let Some(p) = self.chosen[at].parent {
                at = p;
            }
            out.insert(c.package, self.chosen[at].package);
        }
        out
    }

    pub(super) fn chain(&self, mut idx: usize) -> Vec<String> {
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
    pub(super) fn run(&mut self, origin: &str, strict: bool, notes: &mut Vec<super::Note>) -> Result<(), ResolveError> {
        while let Some(idx) = self.queue.pop_front() {
            let pkg = self.u.pkg(self.chosen[idx].package);
            if self.by_name.get(pkg.name.as_str()) != Some(&idx) {
                continue; // replaced by a newer version meanwhile
            }
            for raw in &pkg.requires() {
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
                        self.add(p, Some(idx), raw.to_string());
                    }
                    None if strict => {
                        let chain = self.chain(idx).join(" → ");
                        let detail = self.near_misses(&alts);
                        return Err(ResolveError::Unsatisfiable {
                            chain,
                            requirement: raw.to_string(),
                            package: pkg.name.to_string(),
                            origin: origin.to_string(),
                            detail,
                        });
                    }
                    None => notes
                        .push(super::Note::BaseUnmet { package: pkg.name.to_string(), requirement: raw.to_string() }),
                }
            }
        }
        Ok(())
    }

    /// Versions that exist under the required names but do not match the constraint.
    fn near_misses(&self, alts: &[Relation<'_>]) -> String {
        let mut have = Vec::new();
        for rel in alts {
            for &i in self.u.named(rel.name).iter() {
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
