//! Conflicts between what a node would have: which base packages a new one may remove (deb: what
//! its Conflicts or Breaks hit, as apt removes it; rpm: what it obsoletes), and the final check
//! that names both sides of a conflict and the fix.

use std::collections::HashMap;

use super::{ResolveError, Universe};

/// Does `by` replace `q`: deb `Replaces`, or rpm `Obsoletes` (which match package names only)?
/// Then installing `by` removes `q` instead of failing on the conflict.
pub(super) fn replaces(u: &Universe<'_>, by: u32, q: u32) -> Result<bool, ResolveError> {
    let p = u.pkg(by);
    for (raw, names_only) in p.replaces().iter().map(|r| (r, false)).chain(p.obsoletes().iter().map(|r| (r, true))) {
        for rel in u.syntax.parse_requirement(raw).map_err(|source| u.syntax_error(by, source))? {
            if (!names_only || u.pkg(q).name.as_str() == rel.name) && u.providers(&rel)?.contains(&q) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// May installing `by`, whose own Conflicts or Breaks hit the node's `q`, remove `q`? Never an
/// Essential package; otherwise where `by` replaces it (dpkg's and rpm's rule), or where the
/// family's tool removes what a new package conflicts with (apt).
pub(super) fn may_remove(u: &Universe<'_>, by: u32, q: u32) -> Result<bool, ResolveError> {
    Ok(!u.pkg(q).essential && (u.policy.removes_what_a_new_package_conflicts_with() || replaces(u, by, q)?))
}

/// Refuses a result with a conflict (rpm Conflicts, deb Conflicts/Breaks) between two packages
/// the node would have (`current`: record → planned): a planned one against another planned one
/// or the base, and a base one against a planned one. The SAT step already keeps these apart;
/// this pass is the safety net and writes the notes for deb `Replaces` removals. A package never conflicts with itself (Debian packages conflict with
/// the virtual names they provide).
///
/// `roots` maps a planned package to the manifest request that pulled it in, so the fix names
/// what the user can leave out.
pub(super) fn check_conflicts(
    u: &Universe<'_>,
    current: &HashMap<u32, bool>,
    roots: &HashMap<u32, u32>,
    notes: &mut Vec<super::Note>,
) -> Result<(), ResolveError> {
    let request = |i: u32| match roots.get(&i) {
        Some(&r) if r != i => format!("{} (which needs {})", u.pkg(r).name, u.pkg(i).name),
        _ => u.pkg(i).name.to_string(),
    };
    let show = |i: u32| u.pkg(i).nevra();
    // In index order, so the first conflict reported and the notes are the same on every run.
    let mut order: Vec<(u32, bool)> = current.iter().map(|(&p, &planned)| (p, planned)).collect();
    order.sort_unstable();
    for (p, planned) in order {
        for raw in &u.pkg(p).conflicts() {
            for q in u.meeting(p, raw)? {
                let Some(&q_planned) = current.get(&q) else { continue };
                if q == p || u.pkg(q).name == u.pkg(p).name || !(planned || q_planned) {
                    continue;
                }
                let (a, b) = (show(p), show(q));
                let removal = match (planned, q_planned) {
                    (true, false) => may_remove(u, p, q)?.then(|| (a.clone(), b.clone())),
                    (false, true) if !u.pkg(p).essential => replaces(u, q, p)?.then(|| (b.clone(), a.clone())),
                    _ => None,
                };
                if let Some((new, old)) = removal {
                    let n = super::Note::Removes { new, old, conflict: raw.to_string() };
                    if !notes.contains(&n) {
                        notes.push(n);
                    }
                    continue;
                }
                // The SAT step already tried every version: none avoids this.
                let fix = match (planned, q_planned) {
                    (true, true) => format!(
                        "No versions in the repositories let both be installed: leave {} or {} out of the manifest, or add a repository with a version that does not conflict",
                        request(p), request(q)
                    ),
                    (true, false) => on_node_fix(u, q, &request(p)),
                    _ => on_node_fix(u, p, &request(q)),
                };
                let b = if q_planned { format!("{b} (in the bundle)") } else { format!("{b} (on the node)") };
                let a = if planned { format!("{a} (in the bundle)") } else { format!("{a} (on the node)") };
                return Err(ResolveError::Conflict { a, b, relation: raw.to_string(), fix });
            }
        }
    }
    Ok(())
}

/// What to do when a bundled package clashes with one on the node and no version avoids it.
fn on_node_fix(u: &Universe<'_>, on_node: u32, b: &str) -> String {
    let n = &u.pkg(on_node).name;
    if u.pkg(on_node).essential {
        return format!("{n} is Essential on the node and is never removed: leave {b} out of the manifest");
    }
    format!(
        "No version in the repositories avoids it: remove {n} from the node first, leave {b} out of the manifest, or add a repository with a version of either that does not conflict"
    )
}
