//! How dnf (libsolv) chooses among packages that would each do, beyond the provided versions
//! and newest builds of `dnf_oracle`: weak dependencies (`prune_to_recommended`,
//! `prefer_suggested`), providers another one obsoletes (`prune_obsoleted`), an rpm `or` as one
//! candidate list, what decided packages recommend, and a request two packages obsolete. Each
//! shape comes from a difference `scripts/compare-dnf.sh --cs9` found on CentOS Stream 9 (named
//! in each test) and is asked three ways: real dnf on an empty node, moa-bundle, and libsolv's
//! `testsolv` on the same packages as a testcase.

use std::path::Path;

use crate::common::{build_rpm, createrepo, require_tools, Mirror, RpmSpec};
use crate::dnf_oracle::{dnf_install, libsolv_judges, manifest, moa_plan, set, TOOLS};

/// `install request` asked of real dnf, of moa-bundle and of testsolv (`job`, by default
/// `install name request`) over the rpms `specs`: each installs exactly `want`
/// (`name-version-release`).
fn three_ways(t: &Path, case: &str, specs: &[RpmSpec<'_>], request: &str, job: Option<&str>, want: &[&str]) {
    let repo = t.join(case);
    for s in specs {
        build_rpm(&repo.join("Packages"), s);
    }
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);
    let node = t.join(format!("{case}-node"));
    fs_err::create_dir_all(&node).unwrap();
    let (dnf, _) = dnf_install(t, &node, &repo, request).unwrap();
    assert_eq!(dnf, set(want), "dnf install {request} ({case})");
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, request, &[])).unwrap(), dnf, "moa-bundle ({case})");
    let available: String = specs.iter().map(testtags).collect();
    let mut result: Vec<String> = want.iter().map(|w| format!("#>install {w}.x86_64@available\n")).collect();
    result.sort();
    let job = job.map_or(format!("install name {request}"), str::to_string);
    let (agrees, said) = libsolv_judges(t, case, "", &available, &job, &result.concat());
    assert!(agrees, "testsolv ({case}): {said}");
}

/// An rpm as a testcase's testtags lines. A rich `(a or b)` becomes `a | b`: libsolv's REL_OR,
/// what its rpm-md reader makes of it (Debian's testsolv ignores the parenthesised spelling).
fn testtags(s: &RpmSpec<'_>) -> String {
    let or = |d: &str| match d.strip_prefix('(').and_then(|d| d.strip_suffix(')')) {
        Some(inner) => inner.replace(" or ", " | "),
        None => d.to_string(),
    };
    let mut t = format!("#>=Pkg: {} {} {} {}\n", s.name, s.version, s.release, s.arch);
    t += &s.requires.iter().map(|r| format!("#>=Req: {}\n", or(r))).collect::<String>();
    t += &s.provides.iter().map(|p| format!("#>=Prv: {p}\n")).collect::<String>();
    t += &s.conflicts.iter().map(|c| format!("#>=Con: {c}\n")).collect::<String>();
    t += &s.obsoletes.iter().map(|o| format!("#>=Obs: {o}\n")).collect::<String>();
    for (tag, what) in s.weak {
        let short = match *tag {
            "Recommends" => "Rec",
            "Suggests" => "Sug",
            "Supplements" => "Sup",
            _ => "Enh",
        };
        t += &format!("#>={short}: {what}\n");
    }
    t
}

/// Rule 3's weak dependencies (libsolv's `prune_to_recommended` and `prefer_suggested`): X needs
/// `Y`, which A and B provide. libsolv takes A (the alphabetically first) unless a weak
/// dependency names B: X recommends or suggests B, or B supplements or enhances X. Last, X
/// suggests B while A provides a higher `Y`: suggested outranks the provided version. dnf packs
/// no weak dependency itself (`install_weak_deps=0`, as moa-bundle), but they still choose.
/// "suggested" and "enhanced" are libsolv's own `test/testcases/choose/` cases.
#[test]
fn a_weak_dependency_chooses_among_providers_as_in_libsolv() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    // Each case: its name, X's weak dependencies, B's weak dependencies, A's and B's `Y`.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], [&'a str; 2]);
    let cases: [Case<'_>; 6] = [
        ("none", &[], &[], ["Y", "Y"]),
        ("suggested", &[("Suggests", "B")], &[], ["Y", "Y"]),
        ("enhanced", &[], &[("Enhances", "X")], ["Y", "Y"]),
        ("recommended", &[("Recommends", "B")], &[], ["Y", "Y"]),
        ("supplemented", &[], &[("Supplements", "X")], ["Y", "Y"]),
        ("over-version", &[("Suggests", "B")], &[], ["Y = 2", "Y = 1"]),
    ];
    for (case, x_weak, b_weak, [a_y, b_y]) in cases {
        let specs = [
            RpmSpec { name: "X", requires: &["Y"], weak: x_weak, ..Default::default() },
            RpmSpec { name: "A", provides: &[a_y], ..Default::default() },
            RpmSpec { name: "B", provides: &[b_y], weak: b_weak, ..Default::default() },
        ];
        let want = if case == "none" { "A-1.0-1" } else { "B-1.0-1" };
        three_ways(tmp.path(), case, &specs, "X", None, &[want, "X-1.0-1"]);
    }
}

/// libsolv's `prune_obsoleted`: X needs `Y`, which A and B provide. When B obsoletes A, dnf
/// takes B, not the alphabetically first A (CentOS Stream 9: virtiofsd obsoletes
/// `qemu-virtiofsd = 17:6.2.0`, and gets picked for `vhostuser-backend(fs)`); when each obsoletes
/// the other, neither is dropped and A wins again.
#[test]
fn a_provider_another_provider_obsoletes_is_not_chosen_as_in_libsolv() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    // Each case: its name, what A obsoletes, what B obsoletes, the provider dnf takes.
    let cases: [(&str, &[&str], &[&str], &str); 3] = [
        ("b-obsoletes-a", &[], &["A"], "B-1.0-1"),
        ("versioned", &[], &["A = 1.0"], "B-1.0-1"),
        ("both", &["B"], &["A"], "A-1.0-1"),
    ];
    for (case, a_obs, b_obs, want) in cases {
        let specs = [
            RpmSpec { name: "X", requires: &["Y"], ..Default::default() },
            RpmSpec { name: "A", provides: &["Y"], obsoletes: a_obs, ..Default::default() },
            RpmSpec { name: "B", provides: &["Y"], obsoletes: b_obs, ..Default::default() },
        ];
        three_ways(tmp.path(), case, &specs, "X", None, &[want, "X-1.0-1"]);
    }
}

/// An rpm rich `or` is one candidate list for libsolv: X needs `(cap-a or cap-z)`, zz provides
/// cap-a and aa provides cap-z. dnf takes aa, the first by name among all the providers, not
/// zz, the provider of the first alternative (CentOS Stream 9: `(java-headless or
/// java-17-headless or java-11-headless or java-1.8.0-headless)` gets
/// java-1.8.0-openjdk-headless).
#[test]
fn an_rpm_or_orders_all_its_providers_together_as_in_libsolv() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        RpmSpec { name: "X", requires: &["(cap-a or cap-z)"], ..Default::default() },
        RpmSpec { name: "zz", provides: &["cap-a"], ..Default::default() },
        RpmSpec { name: "aa", provides: &["cap-z"], ..Default::default() },
    ];
    three_ways(tmp.path(), "or", &specs, "X", None, &["X-1.0-1", "aa-1.0-1"]);
}

/// libsolv's weak-dependency rules see every package decided so far, not only the one that
/// needs the capability: X needs `Y` and Z, Z recommends B, and A and B provide `Y`. Z has one
/// provider, so libsolv decides it first, and then takes B for `Y` (CentOS Stream 9: webkit2gtk3
/// recommends gstreamer1-plugins-bad-free, whose old build then meets gtk4's
/// `libgstplayer-1.0.so.0()(64bit)`).
#[test]
fn what_a_decided_package_recommends_chooses_among_providers_as_in_libsolv() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        RpmSpec { name: "X", requires: &["Y", "Z"], ..Default::default() },
        RpmSpec { name: "Z", weak: &[("Recommends", "B")], ..Default::default() },
        RpmSpec { name: "A", provides: &["Y"], ..Default::default() },
        RpmSpec { name: "B", provides: &["Y"], ..Default::default() },
    ];
    three_ways(tmp.path(), "decided", &specs, "X", None, &["B-1.0-1", "X-1.0-1", "Z-1.0-1"]);
}

/// A request for a name two packages obsolete: pc and pd both obsolete pkg, and pc needs pd.
/// dnf installs pd alone (libsolv's minimization keeps the choice that gets installed anyway),
/// where the alphabetically first obsoleter would bring both (CentOS Stream 9:
/// pki-resteasy-client and pki-resteasy-core both obsolete pki-resteasy). testsolv gets a
/// one-of job, as dnf's selector is.
#[test]
fn a_request_two_packages_obsolete_takes_the_one_the_other_needs_as_dnf() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        RpmSpec { name: "pkg", ..Default::default() },
        RpmSpec { name: "pc", version: "2.0", requires: &["pd"], obsoletes: &["pkg < 2"], ..Default::default() },
        RpmSpec { name: "pd", version: "2.0", obsoletes: &["pkg < 2"], ..Default::default() },
    ];
    let job = "install oneof pkg-1.0-1.x86_64@available pc-2.0-1.x86_64@available pd-2.0-1.x86_64@available";
    three_ways(tmp.path(), "oneof", &specs, "pkg", Some(job), &["pd-2.0-1"]);
}
