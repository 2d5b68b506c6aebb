//! The family conformance suite: one set of resolver scenarios, written once in neutral terms
//! and run against every package family's backend (its dependency syntax, its version scheme,
//! its record shape), as rattler's `solver_backend_tests!` runs one suite against each solver. A
//! new family inherits every scenario by adding one [`Fixture`] and one `conformance!` line.
//!
//! Family-specific policy (rpm Obsoletes, deb Replaces and Essential, unversioned provides) is
//! tested beside each family in `tests.rs`; what is here must hold for all.
//!
//! Every scenario is also exported as a libsolv testcase (`.t`: testtags repositories, one job
//! per request, moa-bundle's answer as the expected result) and judged by libsolv's own
//! `testsolv` with the family's semantics (`system x86_64 rpm`, `system amd64 deb`). A scenario
//! where apt's answer is not libsolv's says so and checks that they differ. Set
//! `MOA_TESTCASES=dir` to keep the files (one per resolve, named after the test).

use super::*;
use crate::repo::{LoadedRepo, Metadata, PackageRecord};
use moa_model::types::{Arch, PackageName, Sha256};

/// One alternative of a requirement: a name and, optionally, an operator (`>=`, `<=`, `=`, `<`,
/// `>`) and a version.
type Alt = (&'static str, Option<(&'static str, &'static str)>);

/// A package in neutral terms.
#[derive(Default, Clone)]
struct Pkg {
    name: &'static str,
    version: &'static str,
    /// Each requirement: alternatives, any of which meets it.
    requires: Vec<Vec<Alt>>,
    provides: Vec<&'static str>,
    conflicts: Vec<&'static str>,
}

fn pkg(name: &'static str, version: &'static str) -> Pkg {
    Pkg { name, version, ..Default::default() }
}

impl Pkg {
    fn needs(mut self, alts: &[Alt]) -> Self {
        self.requires.push(alts.to_vec());
        self
    }
    fn provides(mut self, cap: &'static str) -> Self {
        self.provides.push(cap);
        self
    }
    fn conflicts(mut self, name: &'static str) -> Self {
        self.conflicts.push(name);
        self
    }
}

/// How one family spells the neutral terms.
trait Fixture {
    fn syntax(&self) -> &'static dyn DepSyntax;
    fn policy(&self) -> &'static dyn crate::policy::ResolvePolicy;
    /// The family's own tool, whose answers the scenarios expect where the families differ.
    fn tool(&self) -> &'static str;
    fn arch(&self) -> &'static str;
    fn version(&self, v: &str) -> moa_model::version::Version;
    /// One requirement (its alternatives) in the family's syntax.
    fn requirement(&self, alts: &[Alt]) -> String;
    /// libsolv's name for the family's semantics (a testcase's `system` line).
    fn disttype(&self) -> &'static str;
}

struct RpmFixture;
struct DebFixture;

impl Fixture for RpmFixture {
    fn syntax(&self) -> &'static dyn DepSyntax {
        &deps::RpmSyntax
    }
    fn policy(&self) -> &'static dyn crate::policy::ResolvePolicy {
        &crate::policy::RpmPolicy
    }
    fn tool(&self) -> &'static str {
        "dnf"
    }
    fn arch(&self) -> &'static str {
        "x86_64"
    }
    fn version(&self, v: &str) -> moa_model::version::Version {
        moa_model::version::Version::Rpm(v.parse().unwrap())
    }
    fn requirement(&self, alts: &[Alt]) -> String {
        let one = |(n, c): &Alt| match c {
            Some((op, v)) => format!("{n} {op} {v}"),
            None => n.to_string(),
        };
        match alts {
            [a] => one(a),
            _ => format!("({})", alts.iter().map(one).collect::<Vec<_>>().join(" or ")),
        }
    }
    fn disttype(&self) -> &'static str {
        "rpm"
    }
}

impl Fixture for DebFixture {
    fn syntax(&self) -> &'static dyn DepSyntax {
        &deps::DebSyntax
    }
    fn policy(&self) -> &'static dyn crate::policy::ResolvePolicy {
        &crate::policy::DebPolicy
    }
    fn tool(&self) -> &'static str {
        "apt"
    }
    fn arch(&self) -> &'static str {
        "amd64"
    }
    fn version(&self, v: &str) -> moa_model::version::Version {
        moa_model::version::Version::Deb(v.parse().unwrap())
    }
    fn requirement(&self, alts: &[Alt]) -> String {
        let one = |(n, c): &Alt| match c {
            Some((op, v)) => {
                let op = match *op {
                    "<" => "<<",
                    ">" => ">>",
                    other => other,
                };
                format!("{n} ({op} {v})")
            }
            None => n.to_string(),
        };
        alts.iter().map(one).collect::<Vec<_>>().join(" | ")
    }
    fn disttype(&self) -> &'static str {
        "deb"
    }
}

fn record(f: &dyn Fixture, p: &Pkg) -> PackageRecord {
    PackageRecord {
        name: PackageName::new(p.name).unwrap(),
        version: f.version(p.version),
        arch: Arch::new(f.arch()).unwrap(),
        repo: 0,
        size: 1,
        sha256: Sha256::digest(p.name.as_bytes()),
        priority: None,
        essential: false,
        multi_arch: Default::default(),
        entry: None,
        text: crate::repo::RecordFields {
            location: format!("p/{}-{}", p.name, p.version),
            provides: p.provides.iter().collect(),
            requires: p.requires.iter().map(|alts| f.requirement(alts)).collect(),
            conflicts: p.conflicts.iter().collect(),
            ..Default::default()
        }
        .pack()
        .unwrap(),
    }
}

fn metadata(f: &dyn Fixture, pkgs: &[Pkg]) -> Metadata {
    let repo = LoadedRepo::local("r");
    Metadata { repos: vec![repo], packages: pkgs.iter().map(|p| record(f, p)).collect(), ..Default::default() }
}

/// What a resolve gives: the plan as `name=version` strings (and the plan), or the error's text.
type Answer = Result<(Vec<String>, Plan), String>;

/// moa-bundle's answer, after libsolv gave the same one (see [`libsolv_judges`]).
fn solve(f: &dyn Fixture, pkgs: &[Pkg], node: &[(&str, &str)], requests: &[&str]) -> Answer {
    let answer = ours(f, pkgs, node, requests);
    if let Err(theirs) = libsolv_judges(f, pkgs, node, requests, &answer) {
        panic!("libsolv's testsolv does not agree with moa-bundle's {:?}:\n{theirs}", answer.map(|a| a.0));
    }
    answer
}

/// Resolves `requests` (neutral: `name` or `name = version`) over `pkgs`, with `node` (name,
/// version) installed.
fn ours(f: &dyn Fixture, pkgs: &[Pkg], node: &[(&str, &str)], requests: &[&str]) -> Answer {
    let m = metadata(f, pkgs);
    let installed: Vec<crate::repo::Installed> = node
        .iter()
        .map(|(n, v)| crate::repo::Installed {
            name: n.to_string(),
            version: v.to_string(),
            arch: f.arch().into(),
            ..Default::default()
        })
        .collect();
    let repos = Universe::new(&m, f.syntax(), f.policy(), f.arch());
    let packages = (!node.is_empty()).then(|| NodePackages::new(&repos, "node", &installed).unwrap());
    let goal = Goal {
        requests: requests.iter().map(|r| moa_model::manifest::Request::parse(r).unwrap()).collect(),
        installed_repo: packages.as_ref().map(|p| p.repo),
        ..Default::default()
    };
    let on_node;
    let u = match &packages {
        Some(p) => {
            on_node = repos.on_node(p);
            &on_node
        }
        None => &repos,
    };
    let plan = resolve(u, &goal, "conformance").map_err(|e| e.to_string())?;
    let names = plan
        .entries
        .iter()
        .map(|e| format!("{}={}", m.packages[e.package].name, m.packages[e.package].version))
        .collect();
    Ok((names, plan))
}

fn plan(f: &dyn Fixture, pkgs: &[Pkg], requests: &[&str]) -> Vec<String> {
    solve(f, pkgs, &[], requests).unwrap_or_else(|e| panic!("{e}")).0
}

/// The scenario as a libsolv testcase: the node as repository `system`, the packages as
/// `available` (testtags), the family's semantics, one `install name` job per request.
fn testcase(f: &dyn Fixture, pkgs: &[Pkg], node: &[(&str, &str)], requests: &[&str]) -> String {
    let arch = f.arch();
    let pkg = |name: &str, version: &str| {
        let (v, r) = version.rsplit_once('-').unwrap_or((version, ""));
        format!("#>=Pkg: {name} {v} {r} {arch}\n")
    };
    let alt = |(n, c): &Alt| c.map_or(n.to_string(), |(op, v)| format!("{n} {op} {v}"));
    let mut t = String::from("repo system 0 testtags <inline>\n");
    node.iter().for_each(|(n, v)| t += &pkg(n, v));
    t += "repo available 0 testtags <inline>\n";
    for p in pkgs {
        t += &pkg(p.name, p.version);
        // `a | b`: libsolv's REL_OR, what its rpm-md and deb readers make of either spelling.
        for alts in &p.requires {
            t += &format!("#>=Req: {}\n", alts.iter().map(alt).collect::<Vec<_>>().join(" | "));
        }
        p.provides.iter().for_each(|c| t += &format!("#>=Prv: {c}\n"));
        p.conflicts.iter().for_each(|c| t += &format!("#>=Con: {c}\n"));
    }
    t += &format!("system {arch} {} system\n", f.disttype());
    requests.iter().for_each(|r| t += &format!("job install name {r}\n"));
    t
}

/// Whether libsolv's `testsolv` gives `answer` for the scenario: a plan becomes the testcase's
/// expected transaction (`install`, `upgrade`), which testsolv checks; an error must be a
/// problem in testsolv too. On disagreement, what testsolv said.
fn libsolv_judges(
    f: &dyn Fixture,
    pkgs: &[Pkg],
    node: &[(&str, &str)],
    requests: &[&str],
    answer: &Answer,
) -> Result<(), String> {
    let arch = f.arch();
    let mut text = testcase(f, pkgs, node, requests);
    if let Ok((_, plan)) = answer {
        let m = metadata(f, pkgs);
        let mut lines: Vec<String> = plan
            .entries
            .iter()
            .map(|e| {
                let p = &m.packages[e.package];
                let new = format!("{}-{}.{arch}@available", p.name, p.version);
                match &e.upgrades {
                    Some(old) => format!("#>upgrade {}-{old}.{arch}@system {new}\n", p.name),
                    None => format!("#>install {new}\n"),
                }
            })
            .collect();
        lines.sort();
        text += "result transaction,problems <inline>\n";
        text += &lines.concat();
    }
    let (path, _keep) = testcase_file(&text);
    let run = |args: &[&str]| {
        let out = std::process::Command::new("testsolv").args(args).arg(&path).output().unwrap_or_else(|e| {
            panic!("testsolv (Debian: libsolv-tools) judges these scenarios; `bash scripts/test.sh --setup-only` installs it: {e}")
        });
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let said = match answer {
        Ok(_) => match run(&[]) {
            (true, _) => return Ok(()),
            (false, diff) => diff,
        },
        Err(_) => match run(&["-r"]) {
            (true, said) if said.lines().any(|l| l.starts_with("problem ")) => {
                // Kept with libsolv's own problem lines as the expected result.
                let lines: String = said.lines().map(|l| format!("#>{l}\n")).collect();
                fs_err::write(&path, format!("{text}result transaction,problems <inline>\n{lines}")).unwrap();
                return Ok(());
            }
            (_, said) => said,
        },
    };
    Err(format!("{said}\n{text}"))
}

/// Where a testcase goes: `$MOA_TESTCASES/<test>-<n>.t` when set (kept), else a temporary file.
fn testcase_file(text: &str) -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    thread_local!(static SEQ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });
    let n = SEQ.with(|s| s.replace(s.get() + 1));
    let test = std::thread::current().name().unwrap_or("scenario").replace("::", "-");
    let (dir, keep) = match std::env::var_os("MOA_TESTCASES") {
        Some(d) => (std::path::PathBuf::from(d), None),
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_path_buf(), Some(t))
        }
    };
    fs_err::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}-{n}.t"));
    fs_err::write(&path, text).unwrap();
    (path, keep)
}

fn closure_follows_requirements(f: &dyn Fixture) {
    let pkgs = [
        pkg("a", "1.0-1").needs(&[("b", None)]),
        pkg("b", "1.0-1").needs(&[("c", None)]),
        pkg("c", "1.0-1"),
        pkg("x", "1.0-1"),
    ];
    assert_eq!(plan(f, &pkgs, &["a"]), ["a=1.0-1", "b=1.0-1", "c=1.0-1"]);
}

fn the_newest_version_wins(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", None)]), pkg("b", "1.0-1"), pkg("b", "2.0-1"), pkg("b", "1.5-1")];
    assert_eq!(plan(f, &pkgs, &["a"]), ["a=1.0-1", "b=2.0-1"]);
}

fn a_versioned_requirement_picks_a_matching_version(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", Some(("<", "2.0")))]), pkg("b", "1.0-1"), pkg("b", "2.0-1")];
    assert_eq!(plan(f, &pkgs, &["a"]), ["a=1.0-1", "b=1.0-1"]);
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", Some((">=", "1.5")))]), pkg("b", "1.0-1"), pkg("b", "2.0-1")];
    assert_eq!(plan(f, &pkgs, &["a"]), ["a=1.0-1", "b=2.0-1"]);
}

fn a_virtual_capability_is_met_by_its_provider(f: &dyn Fixture) {
    let pkgs = [pkg("mailer", "1.0-1").needs(&[("mta", None)]), pkg("postfix", "3.0-1").provides("mta")];
    assert_eq!(plan(f, &pkgs, &["mailer"]), ["mailer=1.0-1", "postfix=3.0-1"]);
}

fn an_alternative_takes_one_that_exists(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1").needs(&[("gone", None), ("here", None)]), pkg("here", "1.0-1")];
    assert_eq!(plan(f, &pkgs, &["a"]), ["a=1.0-1", "here=1.0-1"]);
}

fn a_conflict_is_chosen_around_from_either_side(f: &dyn Fixture) {
    let alts: &[Alt] = &[("c", None), ("d", None)];
    let pkgs = [pkg("a", "1.0-1").conflicts("c"), pkg("b", "1.0-1").needs(alts), pkg("c", "1.0-1"), pkg("d", "1.0-1")];
    assert_eq!(plan(f, &pkgs, &["a", "b"]), ["a=1.0-1", "b=1.0-1", "d=1.0-1"]);
    let pkgs = [pkg("a", "1.0-1"), pkg("b", "1.0-1").needs(alts), pkg("c", "1.0-1").conflicts("a"), pkg("d", "1.0-1")];
    assert_eq!(plan(f, &pkgs, &["a", "b"]), ["a=1.0-1", "b=1.0-1", "d=1.0-1"]);
}

fn a_pinned_request_gets_that_version(f: &dyn Fixture) {
    let pkgs = [pkg("b", "1.0-1"), pkg("b", "2.0-1")];
    assert_eq!(plan(f, &pkgs, &["b = 1.0-1"]), ["b=1.0-1"]);
}

fn a_missing_requirement_fails_naming_it_and_the_chain(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", None)]), pkg("b", "1.0-1").needs(&[("nothere", None)])];
    let e = solve(f, &pkgs, &[], &["a"]).unwrap_err();
    assert!(e.contains("nothere") && e.contains("a (requested)"), "{e}");
}

fn a_node_package_is_upgraded_only_when_needed(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", Some((">=", "2.0")))]), pkg("b", "1.0-1"), pkg("b", "2.0-1")];
    let (names, p) = solve(f, &pkgs, &[("b", "1.0-1")], &["a"]).unwrap();
    assert_eq!(names, ["a=1.0-1", "b=2.0-1"]);
    assert_eq!(p.entries[1].upgrades.as_deref(), Some("1.0-1"));
    // Met by the node's version: nothing of it is packed.
    let pkgs = [pkg("a", "1.0-1").needs(&[("b", None)]), pkg("b", "1.0-1"), pkg("b", "2.0-1")];
    let (names, _) = solve(f, &pkgs, &[("b", "1.0-1")], &["a"]).unwrap();
    assert_eq!(names, ["a=1.0-1"]);
}

/// X needs Y; the newest Y needs a newer lib than the node's, an older Y works with it. dnf
/// keeps the node's lib and takes the older Y (checked with real dnf in tests/resolve/dnf_oracle.rs);
/// apt takes Y's candidate (newest) and upgrades lib. A request itself comes at its newest in
/// both.
fn a_dependency_upgrades_the_node_as_the_familys_tool_does(f: &dyn Fixture) {
    let pkgs = [
        pkg("x", "1.0-1").needs(&[("y", None)]),
        pkg("y", "1.0-1").needs(&[("lib", Some((">=", "1.0")))]),
        pkg("y", "2.0-1").needs(&[("lib", Some((">=", "2.0")))]),
        pkg("lib", "2.0-1"),
    ];
    let node = [("lib", "1.0-1")];
    match f.tool() {
        "dnf" => assert_eq!(solve(f, &pkgs, &node, &["x"]).unwrap().0, ["x=1.0-1", "y=1.0-1"]),
        _ => {
            let answer = ours(f, &pkgs, &node, &["x"]);
            assert_eq!(answer.as_ref().unwrap().0, ["lib=2.0-1", "x=1.0-1", "y=2.0-1"]);
            // libsolv, even with Debian semantics, keeps the node's lib as dnf does.
            let theirs = libsolv_judges(f, &pkgs, &node, &["x"], &answer).unwrap_err();
            assert!(theirs.contains("+install y-1.0-1") && theirs.contains("-upgrade lib-1.0-1"), "{theirs}");
        }
    }
    let (names, _) = solve(f, &pkgs, &node, &["y"]).unwrap();
    assert_eq!(names, ["lib=2.0-1", "y=2.0-1"]);
}

fn a_request_the_node_has_is_not_packed(f: &dyn Fixture) {
    let pkgs = [pkg("a", "1.0-1")];
    let (names, p) = solve(f, &pkgs, &[("a", "1.0-1")], &["a"]).unwrap();
    assert!(names.is_empty(), "{names:?}");
    assert!(matches!(&p.notes[..], [Note::AlreadyInstalled { request, .. }] if request == "a"), "{:?}", p.notes);
}

/// Every scenario, as a test per family.
macro_rules! conformance {
    ($family:ident, $fixture:expr) => {
        mod $family {
            use super::*;
            #[test]
            fn closure() {
                closure_follows_requirements(&$fixture)
            }
            #[test]
            fn newest() {
                the_newest_version_wins(&$fixture)
            }
            #[test]
            fn versioned() {
                a_versioned_requirement_picks_a_matching_version(&$fixture)
            }
            #[test]
            fn virtual_capability() {
                a_virtual_capability_is_met_by_its_provider(&$fixture)
            }
            #[test]
            fn alternatives() {
                an_alternative_takes_one_that_exists(&$fixture)
            }
            #[test]
            fn conflicts_both_ways() {
                a_conflict_is_chosen_around_from_either_side(&$fixture)
            }
            #[test]
            fn pinned() {
                a_pinned_request_gets_that_version(&$fixture)
            }
            #[test]
            fn missing() {
                a_missing_requirement_fails_naming_it_and_the_chain(&$fixture)
            }
            #[test]
            fn dependency_versions() {
                a_dependency_upgrades_the_node_as_the_familys_tool_does(&$fixture)
            }
            #[test]
            fn base_upgrade() {
                a_node_package_is_upgraded_only_when_needed(&$fixture)
            }
            #[test]
            fn already_installed() {
                a_request_the_node_has_is_not_packed(&$fixture)
            }
        }
    };
}

conformance!(rpm, RpmFixture);
conformance!(deb, DebFixture);
