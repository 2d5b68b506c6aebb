//! rpm's weak dependencies as libsolv lets them choose among providers (`policy.c`), for the
//! families whose [`ResolvePolicy`](crate::policy::ResolvePolicy) follows dnf. moa-bundle packs
//! no weak dependency (dnf's `install_weak_deps=0`), but libsolv still reads them when it picks
//! one provider of a requirement:
//!
//! - `prune_to_recommended`: providers that a decided package recommends, or that supplement a
//!   decided package, are kept and the others dropped;
//! - `prefer_suggested`: then providers that a decided package suggests, or that enhance one,
//!   go to the front (after `sort_by_common_dep`, so this outranks the provided versions).
//!
//! libsolv's decided packages are those chosen so far. Here they are the requiring package, the
//! requests and the node's base (libsolv decides those first), and, in a second solve, every
//! package of the first answer: webkit2gtk3 recommends gstreamer1-plugins-bad-free, so on CentOS
//! Stream 9 dnf meets gtk4's `libgstplayer-1.0.so.0()(64bit)` with that package's old build,
//! which provides it, rather than with the newest gstreamer1-plugins-bad-free-libs.

use std::collections::HashSet;

use moa_model::deps::{Dep, Relation};

use super::{ResolveError, Universe};
use crate::repo::Deps;

/// The packages that count as decided for every requirement, and what they recommend and
/// suggest (libsolv's `recommendsmap` and `suggestsmap`).
#[derive(Default, Clone)]
pub(super) struct Decided {
    records: HashSet<u32>,
    recommended: HashSet<u32>,
    suggested: HashSet<u32>,
}

impl Decided {
    pub(super) fn new(u: &Universe<'_>, records: impl IntoIterator<Item = u32>) -> Result<Self, ResolveError> {
        let mut d = Self::default();
        for p in records {
            if d.records.insert(p) {
                let pkg = u.pkg(p);
                d.recommended.extend(providers(u, p, pkg.recommends())?);
                d.suggested.extend(providers(u, p, pkg.suggests())?);
            }
        }
        Ok(d)
    }

    /// Whether `other` recommends or suggests nothing more than this does.
    pub(super) fn wants_no_more_than(&self, other: &Decided) -> bool {
        other.recommended.is_subset(&self.recommended) && other.suggested.is_subset(&self.suggested)
    }
}

/// What libsolv's weak-dependency rules see for one requiring package.
pub(super) struct Weak<'c> {
    /// The requiring package.
    by: u32,
    decided: &'c Decided,
    /// Records the requiring package recommends.
    recommended: HashSet<u32>,
    /// Records the requiring package suggests.
    suggested: HashSet<u32>,
}

impl<'c> Weak<'c> {
    /// The view for requirements of `by`, with the `decided` packages besides it.
    pub(super) fn of(u: &Universe<'_>, by: u32, decided: &'c Decided) -> Result<Self, ResolveError> {
        let pkg = u.pkg(by);
        Ok(Self {
            by,
            decided,
            recommended: providers(u, by, pkg.recommends())?,
            suggested: providers(u, by, pkg.suggests())?,
        })
    }

    /// libsolv's order for provider record `q`, lower first: recommended or supplementing,
    /// then suggested or enhancing.
    pub(super) fn key(&self, u: &Universe<'_>, q: u32) -> Result<(bool, bool), ResolveError> {
        let pkg = u.pkg(q);
        let recommended = self.recommended.contains(&q)
            || self.decided.recommended.contains(&q)
            || self.names_decided(u, q, pkg.supplements())?;
        let suggested = self.suggested.contains(&q)
            || self.decided.suggested.contains(&q)
            || self.names_decided(u, q, pkg.enhances())?;
        Ok((!recommended, !suggested))
    }

    /// Whether one of `raws` (a provider's Supplements or Enhances) is met by decided packages.
    fn names_decided(&self, u: &Universe<'_>, q: u32, raws: Deps<'_>) -> Result<bool, ResolveError> {
        for raw in raws {
            let dep = u.syntax.parse_dep(raw).map_err(|source| u.syntax_error(q, source))?;
            if self.met(u, &dep)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn met(&self, u: &Universe<'_>, dep: &Dep<'_>) -> Result<bool, ResolveError> {
        let all = |v: &[Dep<'_>]| -> Result<bool, ResolveError> {
            for d in v {
                if !self.met(u, d)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        Ok(match dep {
            Dep::Rel(r) => self.provided(u, r)?,
            Dep::And(v) | Dep::With(v) => all(v)?,
            Dep::Or(v) => {
                let mut any = false;
                for d in v {
                    any = any || self.met(u, d)?;
                }
                any
            }
            Dep::Without(a, b) => self.met(u, a)? && !self.met(u, b)?,
            Dep::If { then, cond, otherwise } => match self.met(u, cond)? {
                true => self.met(u, then)?,
                false => otherwise.as_ref().map(|o| self.met(u, o)).transpose()?.unwrap_or(false),
            },
            Dep::Unless { then, cond, otherwise } => match self.met(u, cond)? {
                false => self.met(u, then)?,
                true => otherwise.as_ref().map(|o| self.met(u, o)).transpose()?.unwrap_or(false),
            },
        })
    }

    fn provided(&self, u: &Universe<'_>, r: &Relation<'_>) -> Result<bool, ResolveError> {
        Ok(u.providers(r)?.iter().any(|p| *p == self.by || self.decided.records.contains(p)))
    }
}

/// The records that would meet one of `raws` (a package's Recommends or Suggests): for a rich
/// dependency, those of the relations that would be installed (`then`, not `cond`).
fn providers(u: &Universe<'_>, by: u32, raws: Deps<'_>) -> Result<HashSet<u32>, ResolveError> {
    let mut out = HashSet::new();
    for raw in raws {
        let dep = u.syntax.parse_dep(raw).map_err(|source| u.syntax_error(by, source))?;
        let mut leaves = Vec::new();
        wanted(&dep, &mut leaves);
        for r in &leaves {
            out.extend(u.providers(r)?);
        }
    }
    Ok(out)
}

/// The relations of `dep` whose providers it would install (its conditions left out).
fn wanted<'a>(dep: &Dep<'a>, out: &mut Vec<Relation<'a>>) {
    match dep {
        Dep::Rel(r) => out.push(r.clone()),
        Dep::Or(v) | Dep::And(v) | Dep::With(v) => v.iter().for_each(|d| wanted(d, out)),
        Dep::Without(a, _) => wanted(a, out),
        Dep::If { then, otherwise, .. } | Dep::Unless { then, otherwise, .. } => {
            wanted(then, out);
            if let Some(o) = otherwise {
                wanted(o, out);
            }
        }
    }
}
