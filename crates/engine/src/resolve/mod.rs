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
//!
//! [`phases`] runs these steps in order; this module holds what they share: the [`Universe`]
//! of records indexed by name, capability and file, the [`Goal`] and the [`Plan`]. The plan's
//! dependency graph ([`graph`]) is what `--why`, the install stages and the SBOM read.

mod base;
mod choose;
mod conflicts;
pub(crate) mod explain;
mod graph;
mod greedy;
mod mark;
mod phases;
mod postings;
mod prune;
mod sat;
mod weak;
pub(crate) mod why;

pub(crate) use graph::PlanGraph;
pub(crate) use phases::resolve;

pub(crate) use explain::{Note, WhyStep};

use std::sync::OnceLock;

use serde::Serialize;

use crate::policy::ResolvePolicy;
use crate::repo::{Metadata, PackageRecord, RecordFields};
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
    #[error("{newest} (its newest version) cannot be installed{context}, and {origin} follows dnf's `best` (EL8+'s default), which takes no older version (dnf: \"cannot install the best candidate for the job\"). The solver's reasoning:\n{tree}\nPass --nobest to take {older} instead, as `dnf --nobest` would")]
    NotBest { newest: String, older: String, context: String, origin: String, tree: Box<str> },
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
    /// A node profile's packages, laid over the metadata as this repository (see
    /// [`NodePackages`]): they are the base, exactly, instead of roots and priorities.
    pub installed_repo: Option<usize>,
    /// dnf's `best`: a request whose newest version cannot be installed fails the resolve.
    pub best: bool,
}

impl Goal {
    pub(crate) fn from_manifest(m: &Manifest, no_base: bool) -> Self {
        Self {
            requests: m.packages.clone(),
            optional: m.optional.clone(),
            base_roots: if no_base { vec![] } else { m.base.roots.iter().map(|r| r.to_string()).collect() },
            base_priorities: if no_base { vec![] } else { m.base.priorities.clone() },
            installed_repo: None,
            best: m.best,
        }
    }

    /// Resolving against a node profile laid over the metadata ([`Universe::on_node`]).
    pub(crate) fn against_node(m: &Manifest, installed_repo: usize) -> Self {
        Self {
            requests: m.packages.clone(),
            optional: m.optional.clone(),
            base_roots: vec![],
            base_priorities: vec![],
            installed_repo: Some(installed_repo),
            best: m.best,
        }
    }
}

/// A node's installed packages as records of one more repository (`installed on NODE`, index
/// `md.repos.len()`), laid over the repositories' records by [`Universe::on_node`] (their ids
/// follow the repositories' own): they satisfy requirements like any package, with their real
/// versions and provides. They have no location: a plan never packs them. Where a repository
/// has the very same package (name, version, arch), its requirements and conflicts come along,
/// so neither a bundled package nor an upgrade can break them unseen.
pub(crate) struct NodePackages {
    pub repo: usize,
    name: String,
    records: Vec<PackageRecord>,
}

impl NodePackages {
    /// The packages of `node`'s profile, over the repositories of `u` (a universe of no node).
    pub(crate) fn new(u: &Universe<'_>, node: &str, packages: &[crate::repo::Installed]) -> Result<Self, ResolveError> {
        let (md, syntax) = (u.md, u.syntax);
        let repo = md.repos.len();
        let mut records = Vec::with_capacity(packages.len());
        for p in packages {
            let bad = |why: String| ResolveError::Syntax {
                package: format!("{}-{}.{}", p.name, p.version, p.arch),
                origin: format!("the profile of {node}"),
                source: deps::DepError { raw: p.version.clone(), why },
            };
            let version = syntax.parse_version(&p.version).map_err(|e| bad(e.why))?;
            // A repository's record of the very same package (its twin) lends its requirements
            // and conflicts, so the solver can tell what an upgrade would break.
            let twin = u
                .repos
                .by_name
                .get(&p.name)
                .into_iter()
                .flatten()
                .map(|&i| u.pkg(i))
                .find(|t| t.arch.as_str() == p.arch && t.version == version);
            let lend = |d: crate::repo::Deps<'_>| crate::repo::DepList::from_joined(d.as_joined());
            let (requires, mut conflicts) = twin.map(|t| (lend(t.requires()), lend(t.conflicts()))).unwrap_or_default();
            // The node's own record of what its package conflicts with counts whether or not a
            // repository still carries that version (a package no repository has must not be
            // silently compatible with everything).
            if !p.conflicts.is_empty() {
                conflicts = crate::repo::DepList::checked("conflicts", &p.conflicts).map_err(&bad)?;
            }
            let mut obsoletes = twin.map(|t| lend(t.obsoletes())).unwrap_or_default();
            if !p.obsoletes.is_empty() {
                obsoletes = crate::repo::DepList::checked("obsoletes", &p.obsoletes).map_err(&bad)?;
            }
            let text = RecordFields {
                provides: p.provides.iter().collect(),
                requires,
                conflicts,
                obsoletes,
                files: p.files.iter().collect(),
                source: twin.and_then(|t| t.source_field()).map(str::to_string),
                ..RecordFields::default()
            };
            records.push(PackageRecord {
                name: moa_model::types::PackageName::new(&p.name).map_err(|e| bad(e.to_string()))?,
                version,
                arch: moa_model::types::Arch::new(&p.arch).map_err(|e| bad(e.to_string()))?,
                repo,
                size: 0,
                sha256: moa_model::types::Sha256::digest(b""),
                text: text.pack().map_err(|e| bad(e.to_string()))?,
                priority: None,
                essential: p.essential,
                // An older profile does not say: then never call a `pkg:any` unmet because of it.
                multi_arch: p.multi_arch.unwrap_or(crate::repo::MultiArch::Allowed),
                entry: None,
            });
        }
        Ok(Self { repo, name: format!("installed on {node}"), records })
    }
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
    /// The entries' dependency graph, as the resolve made it (its why-chains read it); `None`
    /// for a plan put together from several (one per node).
    pub graph: Option<PlanGraph>,
}

/// Records indexed by name, provided capability and file; ids start at `first`. The provides
/// are indexed in two halves of the records, one on each core (they are most of the work:
/// CentOS 7 has 99,885 of them); a lookup reads both, the first half's ids first.
struct Index<'a> {
    by_name: Postings<'a, u32>,
    provides: [Postings<'a, (u32, &'a str)>; 2],
    files: Postings<'a, u32>,
}

impl<'a> Index<'a> {
    fn new(records: &'a [PackageRecord], first: u32, syntax: &'a dyn DepSyntax) -> Self {
        let all = || records.iter().enumerate().map(move |(i, p)| (first + i as u32, p));
        let mid = records.len() / 2;
        let provides = move |(from, to): (usize, usize)| {
            let part = &records[from..to];
            let provided = part.iter().enumerate().flat_map(move |(i, p)| {
                let i = first + (from + i) as u32;
                p.provides().iter().map(move |raw| (syntax.provide_name(raw), (i, raw)))
            });
            Postings::new(part.iter().map(|p| p.provides().len()).sum(), provided)
        };
        std::thread::scope(|s| {
            let first_half = s.spawn(move || provides((0, mid)));
            let by_name = Postings::new(records.len(), all().map(|(i, p)| (p.name.as_str(), i)));
            let owned = all().flat_map(|(i, p)| p.files().iter().map(move |f| (f, i)));
            let files = Postings::new(records.iter().map(|p| p.files().len()).sum(), owned);
            let second_half = provides((mid, records.len()));
            let provides = [first_half.join().expect("indexing does not panic"), second_half];
            Self { provides, by_name, files }
        })
    }

    /// The packages providing `name`, each with the raw provide, ids ascending.
    fn provided<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s (u32, &'a str)> + 's {
        self.provides.iter().flat_map(move |half| half.get(name).unwrap_or(&[]))
    }
}

/// The repositories' index: built with the universe, or shared with the universes laid over it.
enum Shared<'a> {
    Owned(Box<Index<'a>>),
    Borrowed(&'a Index<'a>),
}

impl<'a> std::ops::Deref for Shared<'a> {
    type Target = Index<'a>;
    fn deref(&self) -> &Index<'a> {
        match self {
            Shared::Owned(i) => i,
            Shared::Borrowed(i) => i,
        }
    }
}

/// Every package, indexed by name, provided capability and file: the repositories' records
/// (ids `0..md.packages.len()`), and, laid over them, a node's installed packages (the ids
/// after), whose small index is the only one built per node.
pub(crate) struct Universe<'a> {
    pub md: &'a Metadata,
    syntax: &'a dyn DepSyntax,
    policy: &'a dyn ResolvePolicy,
    target_arch: String,
    repos: Shared<'a>,
    node: Option<(&'a NodePackages, Index<'a>)>,
    obsoleted: OnceLock<Postings<'a, (u32, &'a str)>>,
}

impl<'a> Universe<'a> {
    pub(crate) fn new(
        md: &'a Metadata,
        syntax: &'a dyn DepSyntax,
        policy: &'a dyn ResolvePolicy,
        target_arch: &str,
    ) -> Self {
        Self {
            md,
            syntax,
            policy,
            target_arch: target_arch.to_string(),
            repos: Shared::Owned(Box::new(Index::new(&md.packages, 0, syntax))),
            node: None,
            obsoleted: OnceLock::new(),
        }
    }

    /// This universe's repositories with `node`'s installed packages laid over them: the
    /// repositories' index is shared, not built again.
    pub(crate) fn on_node<'s>(&'s self, node: &'s NodePackages) -> Universe<'s>
    where
        'a: 's,
    {
        let first = self.md.packages.len() as u32;
        Universe {
            md: self.md,
            syntax: self.syntax,
            policy: self.policy,
            target_arch: self.target_arch.clone(),
            repos: Shared::Borrowed(&self.repos),
            node: Some((node, Index::new(&node.records, first, self.syntax))),
            obsoleted: OnceLock::new(),
        }
    }

    fn pkg(&self, i: u32) -> &'a PackageRecord {
        let n = self.md.packages.len();
        match (i as usize).checked_sub(n) {
            None => &self.md.packages[i as usize],
            Some(j) => &self.node.as_ref().expect("an id past the repositories' is a node's package").0.records[j],
        }
    }

    /// Whether record `i` is one of the node's installed packages.
    fn is_node(&self, i: u32) -> bool {
        i as usize >= self.md.packages.len()
    }

    /// How many records: the repositories', then the node's.
    fn len(&self) -> usize {
        self.md.packages.len() + self.node.as_ref().map_or(0, |(n, _)| n.records.len())
    }

    /// The name of repository `r` (the node's installed packages are one).
    fn repo_name(&self, r: usize) -> &str {
        match (self.md.repos.get(r), &self.node) {
            (Some(repo), _) => &repo.name,
            (None, Some((n, _))) if n.repo == r => &n.name,
            _ => "",
        }
    }

    /// Both indexes' values for one key: the repositories', then the node's (ids ascending).
    fn both<'s, V: Copy>(&'s self, get: impl Fn(&'s Index<'a>) -> Option<&'s [V]>) -> std::borrow::Cow<'s, [V]> {
        let repos = get(&self.repos).unwrap_or(&[]);
        match self.node.as_ref().and_then(|(_, ix)| get(ix)) {
            Some(more) if !more.is_empty() => std::borrow::Cow::Owned([repos, more].concat()),
            _ => std::borrow::Cow::Borrowed(repos),
        }
    }

    /// The records named `name`, ascending.
    pub(crate) fn named(&self, name: &str) -> std::borrow::Cow<'_, [u32]> {
        self.both(|ix| ix.by_name.get(name))
    }

    /// Every package name, each once.
    fn names(&self) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = self.repos.by_name.keys().collect();
        if let Some((_, ix)) = &self.node {
            names.extend(ix.by_name.keys().filter(|k| !self.repos.by_name.contains_key(k)));
        }
        names
    }

    /// rpm `Obsoletes`, by the name they obsolete: (obsoleting package, raw relation).
    fn obsoleted(&self) -> &Postings<'a, (u32, &'a str)> {
        self.obsoleted.get_or_init(|| {
            let syntax = self.syntax;
            let obsoleted = (0..self.len() as u32)
                .map(|i| (i, self.pkg(i)))
                .flat_map(|(i, p)| p.obsoletes().iter().map(move |raw| (syntax.provide_name(raw), (i, raw))));
            Postings::new(0, obsoleted)
        })
    }

    /// Packages that satisfy one relation, without duplicates, in index order.
    pub(crate) fn providers(&self, rel: &Relation<'_>) -> Result<Vec<u32>, ResolveError> {
        let mut out = Vec::new();
        let unversioned_ok = self.policy.unversioned_provide_satisfies();
        for &i in self.named(rel.name).iter() {
            let p = self.pkg(i);
            if self.policy.arch_qualifier_accepts(rel.qualifier, p) && rel.accepts(Some(&p.version), unversioned_ok) {
                out.push(i);
            }
        }
        let indexes = std::iter::once(&*self.repos).chain(self.node.as_ref().map(|(_, ix)| ix));
        for &(i, raw) in indexes.flat_map(|ix| ix.provided(rel.name)) {
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
            for &i in self.both(|ix| ix.files.get(rel.name)).iter() {
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
        ResolveError::Syntax { package: p.nevra(), origin: self.repo_name(p.repo).to_string(), source }
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

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
