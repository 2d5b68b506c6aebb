//! A solution without the packages nothing in it needs, for the families whose tool installs
//! none (dnf): the SAT solver can meet a requirement with one provider before another part of
//! the solution brings a second provider that meets it too (`java` by java-1.6.0-openjdk, then
//! java-1.8.0-openjdk requested), where libsolv, seeing the second, installs only that. Measured
//! on the real CentOS 7.9 primary (`scripts/compare-dnf.sh`): every answer of moa-bundle that
//! differed from libsolv's held libsolv's and such extras.

use std::collections::HashSet;

use super::{ResolveError, Universe};

/// `solution` less its packages that no requirement of the rest needs, one at a time (the
/// last such first), while the base (`base`: kept, never dropped) and the rest meet every
/// requirement of the packages that stay; then less what the packages that must stay
/// (requested ones, upgrades of base packages) do not reach through their requirements.
///
/// Also returns what it asked: for each package of `solution`, the packages that meet each of
/// its requirements ([`Universe::meeting`]), which the plan's graph reads instead of asking again.
pub(super) fn drop_unneeded(
    u: &Universe<'_>,
    base: &HashSet<u32>,
    solution: Vec<u32>,
    is_requested: &dyn Fn(u32) -> bool,
) -> Result<(Vec<u32>, Meeting), ResolveError> {
    let base_names: HashSet<&str> = base.iter().map(|&b| u.pkg(b).name.as_str()).collect();
    let members: HashSet<u32> = solution.iter().copied().chain(base.iter().copied()).collect();
    // Each requirement of a solution package: its owner, and the members that meet it.
    let mut reqs: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut asked = Meeting::new();
    for &p in &solution {
        let mut all = Vec::new();
        for raw in u.pkg(p).requires() {
            let meeting = u.meeting(p, raw)?;
            reqs.push((p, meeting.iter().copied().filter(|q| members.contains(q) && *q != p).collect()));
            all.push(meeting);
        }
        asked.insert(p, all);
    }
    let mut present: HashSet<u32> = solution.iter().copied().collect();
    let droppable = |p: u32| !is_requested(p) && !base_names.contains(u.pkg(p).name.as_str());
    loop {
        // A member is needed when it is the last one left meeting a requirement of one that stays.
        let mut needed: HashSet<u32> = HashSet::new();
        for (owner, met) in &reqs {
            if !present.contains(owner) {
                continue;
            }
            let mut left = met.iter().filter(|q| base.contains(q) || present.contains(q));
            if let (Some(&only), None) = (left.next(), left.next()) {
                needed.insert(only);
            }
        }
        match solution.iter().rev().copied().find(|&p| present.contains(&p) && droppable(p) && !needed.contains(&p)) {
            Some(p) => present.remove(&p),
            None => break,
        };
    }
    // What only needs itself stays otherwise (a cycle: qt5-qtbase and qt5-qtbase-common need
    // each other): only what a package that must stay reaches, through requirements, stays.
    let mut reached: Vec<u32> = solution.iter().copied().filter(|&p| present.contains(&p) && !droppable(p)).collect();
    let mut kept: HashSet<u32> = reached.iter().copied().collect();
    // The requirements come grouped by owner, in the solution's order.
    let mut of: std::collections::HashMap<u32, std::ops::Range<usize>> = std::collections::HashMap::new();
    for (i, (owner, _)) in reqs.iter().enumerate() {
        of.entry(*owner).or_insert(i..i).end = i + 1;
    }
    while let Some(p) = reached.pop() {
        for (_, met) in &reqs[of.get(&p).cloned().unwrap_or(0..0)] {
            for &q in met.iter().filter(|q| present.contains(q)) {
                if kept.insert(q) {
                    reached.push(q);
                }
            }
        }
    }
    Ok((solution.into_iter().filter(|p| kept.contains(p)).collect(), asked))
}

/// For each package, the packages that meet each of its requirements, in its record's order.
pub(super) type Meeting = std::collections::HashMap<u32, Vec<Vec<u32>>>;
