//! Resolver cases on small in-memory repositories, one semantic per test.

use super::*;
use crate::policy::{DebPolicy, RpmPolicy};
use crate::repo::{LoadedRepo, Metadata, PackageRecord};
use moa_model::deps::{DebSyntax, RpmSyntax};
use moa_model::types::{Arch, PackageName, Sha256};
use moa_model::version::Version;

fn deb(name: &str, version: &str, fields: &[(&str, &str)]) -> PackageRecord {
    let get = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| *v);
    let list = |k: &str| get(k).map(|v| crate::repo::apt::split_relations(v).collect::<Vec<_>>()).unwrap_or_default();
    let pre = list("Pre-Depends");
    let mut requires = pre.clone();
    requires.extend(list("Depends"));
    PackageRecord {
        name: PackageName::new(name).unwrap(),
        version: Version::Deb(version.parse().unwrap()),
        arch: Arch::new(get("Architecture").unwrap_or("amd64")).unwrap(),
        repo: 0,
        size: 1,
        sha256: Sha256::digest(name.as_bytes()),
        priority: get("Priority").map(crate::repo::Priority::parse),
        essential: get("Essential") == Some("yes"),
        multi_arch: get("Multi-Arch").map(crate::repo::MultiArch::parse).unwrap_or_default(),
        entry: None,
        text: crate::repo::RecordFields {
            location: format!("pool/{name}_{version}.deb"),
            provides: list("Provides").into(),
            requires: requires.into(),
            pre_requires: pre.into(),
            conflicts: [list("Conflicts"), list("Breaks")].concat().into(),
            replaces: list("Replaces").into(),
            source: get("Source").map(str::to_string),
            ..Default::default()
        }
        .pack()
        .unwrap(),
    }
}

fn rpm(name: &str, evr: &str, arch: &str, requires: &[&str], provides: &[&str], files: &[&str]) -> PackageRecord {
    PackageRecord {
        name: PackageName::new(name).unwrap(),
        version: Version::Rpm(evr.parse().unwrap()),
        arch: Arch::new(arch).unwrap(),
        repo: 0,
        size: 1,
        sha256: Sha256::digest(name.as_bytes()),
        priority: None,
        essential: false,
        multi_arch: Default::default(),
        entry: None,
        text: crate::repo::RecordFields {
            location: format!("Packages/{name}-{evr}.{arch}.rpm"),
            provides: provides.iter().map(|s| s.to_string()).collect(),
            requires: requires.iter().map(|s| s.to_string()).collect(),
            files: files.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
        .pack()
        .unwrap(),
    }
}

fn node_pkg(name: &str, version: &str) -> crate::repo::Installed {
    crate::repo::Installed { name: name.into(), version: version.into(), arch: "amd64".into(), ..Default::default() }
}

/// Resolves `g` on `m` with a node's packages laid over it, as `--target` does.
fn resolve_on_node(m: &Metadata, node: &[crate::repo::Installed], g: Goal) -> Result<Plan, ResolveError> {
    let u = Universe::new(m, &DebSyntax, &DebPolicy, "amd64");
    let packages = NodePackages::new(&u, "n", node).unwrap();
    resolve(&u.on_node(&packages), &Goal { installed_repo: Some(packages.repo), ..g }, "t")
}

fn md(packages: Vec<PackageRecord>) -> Metadata {
    Metadata { repos: vec![LoadedRepo::local("test")], packages, ..Default::default() }
}

fn goal(requests: &[&str]) -> Goal {
    Goal {
        requests: requests.iter().map(|r| moa_model::manifest::Request::parse(r).unwrap()).collect(),
        ..Default::default()
    }
}

fn names(m: &Metadata, plan: &Plan) -> Vec<String> {
    plan.entries.iter().map(|e| format!("{}={}", m.packages[e.package].name, m.packages[e.package].version)).collect()
}

#[test]
fn deb_alternatives_take_the_first_available_and_respect_what_is_there() {
    let m = md(vec![
        deb("mailer", "1", &[("Depends", "default-mta | mail-transport-agent")]),
        deb("postfix", "3", &[("Provides", "mail-transport-agent")]),
        deb("exim4", "4", &[("Provides", "mail-transport-agent")]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    // default-mta does not exist: the virtual package's best provider (shortest name) is taken.
    let plan = resolve(&u, &goal(&["mailer"]), "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["exim4=4", "mailer=1"]);
    // With postfix in the base, the alternative is already met: nothing more is packed.
    let g = Goal { base_roots: vec!["postfix".into()], ..goal(&["mailer"]) };
    let plan = resolve(&u, &g, "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["mailer=1"]);
}

#[test]
fn deb_versioned_dependencies_skip_unversioned_provides_and_old_versions() {
    let m = md(vec![
        deb("app", "1", &[("Depends", "libfoo (>= 2.0)")]),
        deb("libfoo", "1.5", &[]),
        deb("libfoo", "2.1", &[]),
        deb("fake-foo", "9", &[("Provides", "libfoo")]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(&u, &goal(&["app"]), "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["app=1", "libfoo=2.1"]);
}

#[test]
fn deb_versioned_provides_satisfy_versioned_dependencies() {
    let m = md(vec![
        deb("app", "1", &[("Depends", "virt (>= 2)")]),
        deb("old-impl", "1", &[("Provides", "virt (= 1)")]),
        deb("new-impl", "1", &[("Provides", "virt (= 3)")]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(&u, &goal(&["app"]), "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["app=1", "new-impl=1"]);
}

#[test]
fn base_packages_too_old_for_a_dependency_are_upgraded_and_marked() {
    let m = md(vec![
        deb("app", "1", &[("Depends", "libc6 (>= 2.23)")]),
        deb("libc6", "2.19", &[("Priority", "required")]),
        deb("libc6", "2.23", &[("Priority", "optional")]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    // The base holds libc6 2.19 (pinned by the node's state, here: only the old one is required).
    let g = Goal { base_roots: vec![], base_priorities: vec!["required".into()], ..goal(&["app"]) };
    let plan = resolve(&u, &g, "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["app=1", "libc6=2.23"]);
    let libc = plan.entries.iter().find(|e| m.packages[e.package].name.as_str() == "libc6").unwrap();
    assert!(libc.upgrades.is_some(), "libc6 replaces a base version: {:?}", libc.upgrades);
}

#[test]
fn pre_depends_put_the_pre_dependency_in_an_earlier_stage() {
    let m = md(vec![
        deb("app", "1", &[("Pre-Depends", "helper"), ("Depends", "lib")]),
        deb("helper", "1", &[("Depends", "lib")]),
        deb("lib", "1", &[]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(&u, &goal(&["app"]), "t").unwrap();
    let stages = PlanGraph::new(&u, &plan).unwrap().install_stages();
    let stage_of =
        |n: &str| stages[plan.entries.iter().position(|e| m.packages[e.package].name.as_str() == n).unwrap()];
    assert_eq!((stage_of("lib"), stage_of("helper"), stage_of("app")), (0, 0, 1));
}

#[test]
fn rpm_file_and_soname_provides_prefer_the_node_arch_and_the_newest_version() {
    let m = md(vec![
        rpm("tool", "1.0-1", "x86_64", &["/usr/bin/python", "libz.so.1()(64bit)", "data >= 0:2"], &[], &[]),
        rpm("python", "2.7-1", "x86_64", &[], &[], &["/usr/bin/python"]),
        rpm("zlib", "1.2-1", "x86_64", &[], &["libz.so.1()(64bit)"], &[]),
        rpm("data", "1.0-1", "noarch", &[], &["data = 1.0-1"], &[]),
        rpm("data", "2.0-1", "noarch", &[], &["data = 2.0-1"], &[]),
        rpm("data", "2.0-3", "noarch", &[], &["data = 2.0-3"], &[]),
    ]);
    let u = Universe::new(&m, &RpmSyntax, &RpmPolicy, "x86_64");
    let plan = resolve(&u, &goal(&["tool"]), "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["data=2.0-3", "python=2.7-1", "tool=1.0-1", "zlib=1.2-1"]);
    let py = plan.entries.iter().find(|e| m.packages[e.package].name.as_str() == "python").unwrap();
    assert_eq!(explain::chain_text(&py.why), vec!["tool (requested)", "tool needs /usr/bin/python"]);
    assert_eq!(py.why[0], WhyStep::Requested { package: "tool".into() });
}

#[test]
fn rpm_pinned_request_takes_that_version_or_lists_the_available_ones() {
    let m = md(vec![
        rpm("ntp", "4.2.6p5-28.el7", "x86_64", &[], &[], &[]),
        rpm("ntp", "4.2.6p5-29.el7", "x86_64", &[], &[], &[]),
    ]);
    let u = Universe::new(&m, &RpmSyntax, &RpmPolicy, "x86_64");
    let plan = resolve(&u, &goal(&["ntp = 4.2.6p5-28.el7"]), "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["ntp=4.2.6p5-28.el7"]);
    let e = resolve(&u, &goal(&["ntp = 9.9"]), "m.toml").unwrap_err().to_string();
    assert!(e.contains("`ntp = 9.9`") && e.contains("4.2.6p5-28.el7, 4.2.6p5-29.el7") && e.contains("m.toml"), "{e}");
}

#[test]
fn optional_requests_are_skipped_with_a_note_and_missing_ones_fail() {
    let m = md(vec![deb("ntp", "1", &[])]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let g = Goal { optional: vec![moa_model::manifest::Request::parse("ntpdate").unwrap()], ..goal(&["ntp"]) };
    let plan = resolve(&u, &g, "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["ntp=1"]);
    assert_eq!(plan.notes, [Note::OptionalMissing { request: "ntpdate".into() }]);
    assert_eq!(plan.notes[0].to_string(), "optional package `ntpdate` is not in any repository: skipped");
    let e = resolve(&u, &goal(&["chrony"]), "t").unwrap_err().to_string();
    assert!(e.contains("`chrony` is not in any repository"), "{e}");
}

#[test]
fn an_unmet_requirement_reports_near_misses() {
    let m = md(vec![deb("app", "1", &[("Depends", "libssl1.0.0 (>= 1.0.2)")]), deb("libssl1.0.0", "1.0.1f-1", &[])]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let e = resolve(&u, &goal(&["app"]), "t").unwrap_err().to_string();
    assert!(e.contains("app (requested) needs `libssl1.0.0 (>= 1.0.2)`"), "{e}");
    assert!(e.contains("only libssl1.0.0-1.0.1f-1"), "{e}");
}

/// bookworm's shape: systemd-timesyncd (priority important) provides time-daemon; chrony
/// Conflicts with and Replaces time-daemon, so dpkg removes timesyncd when chrony comes.
#[test]
fn a_deb_conflict_with_a_base_package_it_replaces_is_a_removal_note() {
    // As in bookworm, timesyncd itself also conflicts with and replaces time-daemon.
    let timesyncd = deb(
        "systemd-timesyncd",
        "252.38-1",
        &[
            ("Priority", "important"),
            ("Provides", "time-daemon"),
            ("Conflicts", "time-daemon"),
            ("Replaces", "time-daemon"),
        ],
    );
    let chrony = |replaces: bool| {
        let mut f = vec![("Provides", "time-daemon"), ("Conflicts", "time-daemon")];
        if replaces {
            f.push(("Replaces", "time-daemon"));
        }
        deb("chrony", "4.3-2", &f)
    };
    let g = Goal { base_priorities: vec!["important".into()], ..goal(&["chrony"]) };

    let m = md(vec![timesyncd.clone(), chrony(true)]);
    let plan = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &g, "t").unwrap();
    assert_eq!(names(&m, &plan), ["chrony=4.3-2"]);
    assert!(
        plan.notes.iter().any(|n| matches!(n, Note::Removes { new, old, .. }
            if new == "chrony-4.3-2.amd64" && old == "systemd-timesyncd-252.38-1.amd64")),
        "{:?}",
        plan.notes
    );
    // --why-not says the plan removes it, not that the node keeps it.
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let w = super::why::why_not(&u, &plan, &PlanGraph::new(&u, &plan).unwrap(), "systemd-timesyncd").unwrap();
    assert_eq!(
        w.reasons,
        ["the node has systemd-timesyncd, but installing chrony-4.3-2.amd64 removes it (it conflicts with it: `time-daemon`): nothing in the plan keeps it"]
    );

    // Without Replaces dpkg refuses, and so does the resolver, naming both and the relation.
    let m = md(vec![timesyncd, chrony(false)]);
    let e = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &g, "t").unwrap_err().to_string();
    // (Both conflict with time-daemon; the first in metadata order is named first.)
    assert!(
        e.contains("systemd-timesyncd-252.38-1.amd64 (on the node) conflicts with chrony-4.3-2.amd64 (in the bundle) (`time-daemon`)"),
        "{e}"
    );
}

/// Breaks with a version: only the versions it names conflict. A base package in range goes as
/// apt removes it, unless it is Essential: then the bundle is refused.
#[test]
fn a_versioned_breaks_against_the_base_is_refused_only_in_range() {
    let lib = |v: &str| deb("libfoo1", v, &[("Priority", "required")]);
    let app = deb("app", "1.0", &[("Breaks", "libfoo1 (<< 2.0)")]);
    let g = Goal { base_priorities: vec!["required".into()], ..goal(&["app"]) };
    let m = md(vec![lib("1.5"), app.clone()]);
    let plan = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &g, "t").unwrap();
    assert_eq!(names(&m, &plan), ["app=1.0"]);
    assert!(plan.notes.iter().any(|n| n.to_string().contains("removes libfoo1-1.5.amd64")), "{:?}", plan.notes);
    let essential = deb("libfoo1", "1.5", &[("Priority", "required"), ("Essential", "yes")]);
    let m = md(vec![essential, app.clone()]);
    let e = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &g, "t").unwrap_err().to_string();
    assert!(e.contains("`libfoo1 (<< 2.0)`") && e.contains("libfoo1"), "{e}");
    // A node with libfoo1 1.5 and a repository that also has 2.0: the node's copy is upgraded.
    let m = md(vec![lib("1.5"), lib("2.0"), app.clone()]);
    let plan = resolve_on_node(&m, &[node_pkg("libfoo1", "1.5")], goal(&["app"])).unwrap();
    assert_eq!(names(&m, &plan), ["app=1.0", "libfoo1=2.0"]);
    assert_eq!(plan.entries[1].upgrades.as_deref(), Some("1.5"));
    let m = md(vec![lib("2.1"), app]);
    assert_eq!(names(&m, &resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &g, "t").unwrap()), ["app=1.0"]);
}

/// `a | b` where `a` Breaks another request: the solver takes `b`. (A greedy closure took `a`
/// and then failed on the conflict.)
#[test]
fn deb_alternative_is_backed_out_of_when_it_breaks_another_request() {
    let m = md(vec![
        deb("app", "1", &[("Depends", "mta-a | mta-b")]),
        deb("mta-a", "1", &[("Breaks", "legacy (<< 2)")]),
        deb("mta-b", "1", &[]),
        deb("legacy", "1", &[]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    assert_eq!(names(&m, &resolve(&u, &goal(&["app"]), "t").unwrap()), ["app=1", "mta-a=1"]);
    let plan = resolve(&u, &goal(&["app", "legacy"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["app=1", "legacy=1", "mta-b=1"]);
    let b = plan.entries.iter().find(|e| m.packages[e.package].name.as_str() == "mta-b").unwrap();
    assert_eq!(explain::chain_text(&b.why), ["app (requested)", "app needs mta-a | mta-b"]);
}

/// Two providers of a virtual package that both conflict with it (Debian's MTA pattern): one of
/// them, never both, and a request for both is refused with the solver's reasoning.
#[test]
fn deb_mutually_exclusive_providers_of_a_virtual_package() {
    let mta = |n: &str| deb(n, "1", &[("Provides", "mail-transport-agent"), ("Conflicts", "mail-transport-agent")]);
    let m = md(vec![deb("mailx", "1", &[("Depends", "mail-transport-agent")]), mta("postfix"), mta("exim4")]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(&u, &goal(&["mailx"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["exim4=1", "mailx=1"]);
    let e = resolve(&u, &goal(&["postfix", "exim4"]), "t").unwrap_err().to_string();
    assert!(e.contains("conflicts with") && e.contains("mail-transport-agent"), "{e}");
    // Pulled in by another request: the fix names the request the user wrote.
    let mut m = m;
    m.packages.push(deb("mail-stack", "1", &[("Depends", "exim4")]));
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let e = resolve(&u, &goal(&["mail-stack", "postfix"]), "t").unwrap_err().to_string();
    assert!(e.contains("leave postfix or mail-stack (which needs exim4) out of the manifest"), "{e}");
}

/// `python3:any` is met only by a `Multi-Arch: allowed` python3 (dpkg's rule).
#[test]
fn deb_any_qualifier_needs_multi_arch_allowed() {
    let tool = deb("tool", "1", &[("Depends", "python3:any (>= 3.9)")]);
    let m = md(vec![tool.clone(), deb("python3", "3.11.2-1", &[("Multi-Arch", "allowed")])]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    assert_eq!(names(&m, &resolve(&u, &goal(&["tool"]), "t").unwrap()), ["python3=3.11.2-1", "tool=1"]);
    let m = md(vec![tool, deb("python3", "3.11.2-1", &[])]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let e = resolve(&u, &goal(&["tool"]), "t").unwrap_err().to_string();
    assert!(e.contains("python3:any (>= 3.9)"), "{e}");
}

/// Essential packages are base whatever their priority; the base never loses one to Replaces.
#[test]
fn deb_essential_packages_are_base_and_are_never_removed() {
    let g = Goal { base_priorities: vec!["required".into()], ..goal(&["newsh"]) };
    let m = md(vec![
        deb("dash", "0.5", &[("Priority", "optional"), ("Essential", "yes"), ("Provides", "sh")]),
        deb("newsh", "1", &[("Conflicts", "dash"), ("Replaces", "dash")]),
        deb("uses-sh", "1", &[("Depends", "sh")]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(
        &u,
        &Goal { requests: vec![moa_model::manifest::Request::parse("uses-sh").unwrap()], ..g.clone() },
        "t",
    )
    .unwrap();
    assert_eq!(names(&m, &plan), ["uses-sh=1"], "dash is base although its priority is optional");
    let e = resolve(&u, &g, "t").unwrap_err().to_string();
    assert!(e.contains("dash-0.5.amd64 (on the node)") && e.contains("dash is Essential"), "{e}");
}

/// rpm: a requested name obsoleted by another package resolves to it; `Conflicts` in the plan is
/// avoided by choosing another version.
#[test]
fn rpm_obsoletes_and_conflicts_choose_versions() {
    let mut newer = rpm("ntpsec", "1.2-1", "x86_64", &[], &["ntp = 1.2-1"], &[]);
    newer.edit(|f| f.obsoletes = ["ntp < 4.3"].into_iter().collect());
    let mut tool = rpm("tool", "1.0-1", "x86_64", &["lib"], &[], &[]);
    tool.edit(|f| f.conflicts = ["lib >= 2.0"].into_iter().collect());
    let m = md(vec![
        rpm("ntp", "4.2.6p5-29.el7", "x86_64", &[], &[], &[]),
        newer,
        tool,
        rpm("lib", "1.0-1", "x86_64", &[], &[], &[]),
        rpm("lib", "2.0-1", "x86_64", &[], &[], &[]),
    ]);
    let u = Universe::new(&m, &RpmSyntax, &RpmPolicy, "x86_64");
    let plan = resolve(&u, &goal(&["ntp"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["ntpsec=1.2-1"]);
    assert!(
        plan.notes
            .iter()
            .any(|n| matches!(n, Note::Obsoleted { request, by, .. } if request == "ntp" && by == "ntpsec")),
        "{:?}",
        plan.notes
    );
    // A pinned request is what the user asked for: no redirect.
    assert_eq!(names(&m, &resolve(&u, &goal(&["ntp = 4.2.6p5-29.el7"]), "t").unwrap()), ["ntp=4.2.6p5-29.el7"]);
    // tool needs lib but conflicts with lib >= 2.0: lib 1.0, not the newest.
    assert_eq!(names(&m, &resolve(&u, &goal(&["tool"]), "t").unwrap()), ["lib=1.0-1", "tool=1.0-1"]);
}

/// bookworm's init-system-helpers: `usrmerge | usr-is-merged`, with usr-is-merged on the node.
/// The alternative the node has meets it (apt's rule); the first one written is not packed.
#[test]
fn deb_an_alternative_the_node_has_meets_the_requirement() {
    let m = md(vec![
        deb("init-system-helpers", "1.65", &[("Depends", "usrmerge | usr-is-merged"), ("Architecture", "all")]),
        deb("usrmerge", "37", &[("Depends", "perl:any")]),
        deb("usr-is-merged", "37", &[("Architecture", "all")]),
        deb("perl", "5.36", &[("Multi-Arch", "allowed")]),
        deb("app", "1", &[("Depends", "init-system-helpers")]),
    ]);
    let mut a = node_pkg("init-system-helpers", "1.65");
    a.arch = "all".into();
    let mut b = node_pkg("usr-is-merged", "37");
    b.arch = "all".into();
    let plan = resolve_on_node(&m, &[a, b], goal(&["app"])).unwrap();
    assert_eq!(names(&m, &plan), ["app=1"]);
}

/// apt's upgrade-by-source-package: a new openssl brings the node's libssl3 to the version built
/// from the same openssl source, which no dependency asks for. (A libssl3 whose newest version
/// comes from another source version stays.)
#[test]
fn deb_installed_binaries_of_a_new_packages_source_are_upgraded_with_it() {
    let ssl = |v: &str| deb("libssl3", v, &[("Source", "openssl")]);
    let mut m = md(vec![
        deb("ca-certificates", "20230311", &[("Depends", "openssl (>= 1.1.1)")]),
        deb("openssl", "3.0.22-1", &[("Depends", "libssl3 (>= 3.0.0)")]),
        ssl("3.0.20-1"),
        ssl("3.0.22-1"),
    ]);
    let plan = resolve_on_node(&m, &[node_pkg("libssl3", "3.0.20-1")], goal(&["ca-certificates"])).unwrap();
    assert_eq!(names(&m, &plan), ["ca-certificates=20230311", "libssl3=3.0.22-1", "openssl=3.0.22-1"]);
    let lib = &plan.entries[1];
    assert_eq!(lib.upgrades.as_deref(), Some("3.0.20-1"));
    assert_eq!(
        explain::chain_text(&lib.why),
        ["libssl3 (upgraded with openssl, built from the same source openssl, as apt does)"]
    );

    // The newest libssl3 from another build of openssl: left alone.
    m.packages[3] = deb("libssl3", "3.0.22-1", &[("Source", "openssl (3.0.22-1+b1)")]);
    let plan = resolve_on_node(&m, &[node_pkg("libssl3", "3.0.20-1")], goal(&["ca-certificates"])).unwrap();
    assert_eq!(names(&m, &plan), ["ca-certificates=20230311", "openssl=3.0.22-1"]);
}

/// A request gets its newest version when that can be installed; when not, an older one, with a
/// note that says so and how to see why.
#[test]
fn a_request_settles_for_an_older_version_only_when_the_newest_cannot_be_installed() {
    let m = md(vec![
        deb("app", "2", &[("Depends", "libx (>= 2)")]),
        deb("app", "1", &[("Depends", "libx")]),
        deb("libx", "1", &[]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let plan = resolve(&u, &goal(&["app"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["app=1", "libx=1"]);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.to_string().contains("app 2 cannot be installed") && n.to_string().contains("pin `app = 2`")),
        "{:?}",
        plan.notes
    );
    let m = md(vec![deb("app", "2", &[("Depends", "libx (>= 2)")]), deb("app", "1", &[]), deb("libx", "2", &[])]);
    let plan = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &goal(&["app"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["app=2", "libx=2"]);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

/// The node has libfoo 1 and libfoo-tools 1, which needs libfoo (= 1). A request needs libfoo 2:
/// libfoo is upgraded, and so is libfoo-tools, which the upgrade would otherwise break (apt
/// does the same); the node's requirements come from the repository twin of each package.
#[test]
fn an_upgrade_takes_along_the_node_packages_it_would_break() {
    let mut m = md(vec![
        deb("libfoo", "1", &[]),
        deb("libfoo", "2", &[]),
        deb("libfoo-tools", "1", &[("Depends", "libfoo (= 1)")]),
        deb("libfoo-tools", "2", &[("Depends", "libfoo (= 2)")]),
        deb("app", "1", &[("Depends", "libfoo (>= 2)")]),
    ]);
    let node = [node_pkg("libfoo", "1"), node_pkg("libfoo-tools", "1")];
    let plan = resolve_on_node(&m, &node, goal(&["app"])).unwrap();
    assert_eq!(names(&m, &plan), ["app=1", "libfoo=2", "libfoo-tools=2"]);
    assert_eq!(plan.entries[2].upgrades.as_deref(), Some("1"));

    // Without a libfoo-tools 2 nothing keeps both: refused, not a silently broken node.
    m.packages.remove(3);
    let e = resolve_on_node(&m, &node, goal(&["app"])).unwrap_err().to_string();
    assert!(e.contains("libfoo-tools * (on the node) cannot be installed") && e.contains("libfoo = 1"), "{e}");
}

/// A node package no repository carries still brings its own Conflicts (apt and dnf read them
/// from the node's database): a bundled package it conflicts with is refused, naming both.
#[test]
fn a_node_package_no_repository_has_still_conflicts() {
    let m = md(vec![deb("newd", "1", &[])]);
    let mut old = node_pkg("oldd", "7");
    old.conflicts = vec!["newd".into()];
    let e = resolve_on_node(&m, &[old], goal(&["newd"])).unwrap_err().to_string();
    assert!(e.contains("oldd") && e.contains("newd"), "{e}");
}

/// apt picks among the providers of a virtual package by Priority (`CompareProviders`):
/// Debian's `awk` is mawk (Priority: required), not gawk (optional), though "gawk" sorts first.
/// rpm has no Priority: dnf (libsolv) takes the alphabetically first name — checked with real
/// dnf 4.14: `aa` over `b`, `abcdef` over `zz`, gawk over mawk.
#[test]
fn deb_providers_of_a_virtual_package_go_by_priority() {
    let m = md(vec![
        deb("script", "1", &[("Depends", "awk")]),
        deb("gawk", "5.2", &[("Provides", "awk"), ("Priority", "optional")]),
        deb("mawk", "1.3", &[("Provides", "awk"), ("Priority", "required")]),
    ]);
    let plan = resolve(&Universe::new(&m, &DebSyntax, &DebPolicy, "amd64"), &goal(&["script"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["mawk=1.3", "script=1"]);
    let m = md(vec![
        rpm("script", "1-1", "x86_64", &["awk"], &[], &[]),
        rpm("gawk", "5.2-1", "x86_64", &[], &["awk"], &[]),
        rpm("mawk", "1.3-1", "x86_64", &[], &["awk"], &[]),
    ]);
    let plan = resolve(&Universe::new(&m, &RpmSyntax, &RpmPolicy, "x86_64"), &goal(&["script"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["gawk=5.2-1", "script=1-1"]);
    let m = md(vec![
        rpm("app", "1-1", "x86_64", &["cap"], &[], &[]),
        rpm("b", "1-1", "x86_64", &[], &["cap"], &[]),
        rpm("aa", "1-1", "x86_64", &[], &["cap"], &[]),
    ]);
    let plan = resolve(&Universe::new(&m, &RpmSyntax, &RpmPolicy, "x86_64"), &goal(&["app"]), "t").unwrap();
    assert_eq!(names(&m, &plan), ["aa=1-1", "app=1-1"], "dnf's choice, not the shorter name");
}

/// Two nodes laid over one repositories' index (as `--target a.json --target b.json` does):
/// each resolve sees its own node's packages and no other's, and the index is left as it was.
#[test]
fn nodes_laid_over_one_index_see_only_their_own_packages() {
    let m = md(vec![
        deb("app", "1", &[("Depends", "libfoo1 (>= 2)")]),
        deb("libfoo1", "1.5", &[]),
        deb("libfoo1", "2", &[]),
    ]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let old = NodePackages::new(&u, "old", &[node_pkg("libfoo1", "1.5")]).unwrap();
    let new = NodePackages::new(&u, "new", &[node_pkg("libfoo1", "2")]).unwrap();
    let on = |n: &NodePackages| {
        let plan = resolve(&u.on_node(n), &Goal { installed_repo: Some(n.repo), ..goal(&["app"]) }, "t").unwrap();
        (names(&m, &plan), plan.entries.iter().map(|e| e.upgrades.clone()).collect::<Vec<_>>())
    };
    assert_eq!(on(&old), (vec!["app=1".to_string(), "libfoo1=2".into()], vec![None, Some("1.5".into())]));
    assert_eq!(on(&new), (vec!["app=1".to_string()], vec![None]));
    assert_eq!(on(&old).0, ["app=1", "libfoo1=2"]);
    assert_eq!(names(&m, &resolve(&u, &goal(&["app"]), "t").unwrap()), ["app=1", "libfoo1=2"]);
}

/// A request the estimated base already has is packed anyway (safer when the estimate is
/// wrong), and `--why` says so; a request outside the base reads as plain `requested`.
#[test]
fn a_request_the_estimated_base_has_is_packed_and_why_says_so() {
    let m = md(vec![deb("tzdata", "1", &[("Priority", "required")]), deb("ntp", "1", &[("Depends", "tzdata")])]);
    let u = Universe::new(&m, &DebSyntax, &DebPolicy, "amd64");
    let g = Goal { base_priorities: vec!["required".into()], ..goal(&["tzdata", "ntp"]) };
    let plan = resolve(&u, &g, "t").unwrap();
    assert_eq!(names(&m, &plan), vec!["ntp=1", "tzdata=1"]);
    let graph = PlanGraph::new(&u, &plan).unwrap();
    let why = |name| super::why::why(&u, &plan, &graph, name).unwrap();
    let tzdata = why("tzdata");
    assert!(tzdata.contains(&vec![format!("tzdata (requested; {})", super::why::IN_BASE)]), "{tzdata:?}");
    assert_eq!(why("ntp"), vec![vec!["ntp (requested)".to_string()]]);
}
