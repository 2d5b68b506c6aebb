//! libsolv's reordering of a requirement's providers (`policy.c`, `policy_filter_unwanted`),
//! for the families whose [`ResolvePolicy`](crate::policy::ResolvePolicy) follows dnf: after the
//! providers are sorted by name, `dislike_old_versions` moves to the back a provider whose name
//! has a newer build (same arch) that no longer provides the capability, and
//! `sort_by_common_dep` ranks providers by the versions they provide of the same names (`Y = 2`
//! before `Y = 1.1`; `Y <= 2` before `Y < 2`), a stable sort by how often each falls below.
//! Before both, `prune_obsoleted` drops a provider that another provider obsoletes (virtiofsd
//! obsoletes `qemu-virtiofsd = 17:6.2.0`: CentOS Stream 9 gets virtiofsd); here it goes last.

use std::cmp::Ordering;

use moa_model::deps::Op;
use moa_model::version::Version;

use super::{ResolveError, Universe};

/// For each provider (the best record of one name), the keys libsolv orders them by, lower
/// first: whether another provider obsoletes it, its badness against the others' versioned
/// provides, then whether its name has a newer build.
pub(super) fn libsolv_keys(u: &Universe<'_>, providers: &[u32]) -> Result<Vec<(bool, u32, bool)>, ResolveError> {
    let mut badness = vec![0u32; providers.len()];
    let mut entries = versioned_provides(u, providers);
    entries.sort_by(|a, b| a.name.cmp(b.name).then_with(|| higher_first(a, b)));
    let mut bad = 0;
    for k in 0..entries.len() {
        let same_name = k > 0 && entries[k - 1].name == entries[k].name;
        if !same_name {
            bad = 0;
        } else if entries[k - 1].at != entries[k].at && higher_first(&entries[k - 1], &entries[k]) == Ordering::Less {
            bad += 1;
        }
        badness[entries[k].at] += bad;
    }
    let obsoleted = obsoleted(u, providers)?;
    Ok(providers
        .iter()
        .zip(badness)
        .zip(obsoleted)
        .map(|((&p, bad), obsoleted)| (obsoleted, if u.is_node(p) { 0 } else { bad }, has_newer_build(u, p)))
        .collect())
}

/// libsolv's `prune_obsoleted`: for each provider, whether another one (of another name)
/// obsoletes it, by name and version as rpm matches Obsoletes, while it does not obsolete that
/// one in turn (libsolv keeps both sides of a cycle).
pub(super) fn obsoleted(u: &Universe<'_>, providers: &[u32]) -> Result<Vec<bool>, ResolveError> {
    let names: Vec<&str> = providers.iter().map(|&p| u.pkg(p).name.as_str()).collect();
    let mut edges = Vec::new();
    for (i, &p) in providers.iter().enumerate() {
        for raw in &u.pkg(p).obsoletes() {
            let dep = u.syntax.parse_dep(raw).map_err(|source| u.syntax_error(p, source))?;
            let mut leaves = Vec::new();
            dep.leaves(&mut leaves);
            for rel in leaves.iter().filter(|r| r.name != names[i]) {
                let Some(j) = names.iter().position(|n| *n == rel.name) else { continue };
                if u.providers(rel)?.contains(&providers[j]) {
                    edges.push((i, j));
                }
            }
        }
    }
    let mut out = vec![false; providers.len()];
    for &(i, j) in &edges {
        if !edges.contains(&(j, i)) {
            out[j] = true;
        }
    }
    Ok(out)
}

/// One `name = V`, `name <= V` or `name < V` a provider provides.
struct Provided<'a> {
    at: usize,
    name: &'a str,
    version: Version,
    /// `<`: below the same version provided with `=` or `<=`.
    below: bool,
}

/// The versioned provides of `providers` whose name at least two of them provide: only those
/// can order them (most provides are a package's own; parsing every one took milliseconds).
fn versioned_provides<'a>(u: &Universe<'a>, providers: &[u32]) -> Vec<Provided<'a>> {
    let mut raws: Vec<(usize, &'a str, &'a str)> = Vec::new();
    for (at, &p) in providers.iter().enumerate() {
        for raw in u.pkg(p).provides() {
            if raw.contains(" = ") || raw.contains(" <") {
                raws.push((at, u.syntax.provide_name(raw), raw));
            }
        }
    }
    raws.sort_unstable_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for group in raws.chunk_by(|a, b| a.1 == b.1) {
        if group.iter().all(|r| r.0 == group[0].0) {
            continue;
        }
        for &(at, _, raw) in group {
            if let Some(p) = provided(u, at, raw) {
                out.push(p);
            }
        }
    }
    out
}

/// `raw` as an ordering provide of provider `at`: `=` (not a digest), `<=` or `<` a version.
fn provided<'a>(u: &Universe<'a>, at: usize, raw: &'a str) -> Option<Provided<'a>> {
    let rel = u.syntax.parse_provide(raw).ok()?;
    let (op, version) = rel.constraint?;
    let below = match op {
        Op::Lt => true,
        Op::Le => false,
        // A digest provided as a version (`= 3f2a…`) says nothing about order.
        Op::Eq if !looks_like_digest(raw.rsplit(' ').next().unwrap_or("")) => false,
        _ => return None,
    };
    Some(Provided { at, name: rel.name, version, below })
}

/// libsolv's `sort_by_name_evr_sortcmp` within one name: the higher version first (a missing
/// release matches any), `=`/`<=` before `<` of the same version.
fn higher_first(a: &Provided<'_>, b: &Provided<'_>) -> Ordering {
    let by_version = match (&a.version, &b.version) {
        (Version::Rpm(x), Version::Rpm(y)) => y.cmp_for_requirement(x),
        (x, y) => y.cmp(x),
    };
    by_version.then(a.below.cmp(&b.below))
}

fn looks_like_digest(v: &str) -> bool {
    v.len() >= 4 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a repository has a newer build of `p`'s name for its arch (`p` then provides from
/// an old version: libsolv's `dislike_old_versions`). A node's own package never is old.
fn has_newer_build(u: &Universe<'_>, p: u32) -> bool {
    let r = u.pkg(p);
    !u.is_node(p)
        && u.repos.by_name.get(r.name.as_str()).unwrap_or(&[]).iter().any(|&q| {
            let other = u.pkg(q);
            other.arch == r.arch && other.version > r.version
        })
}
