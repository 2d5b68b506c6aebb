//! moa-bundle's rpm answers against the real thing, Debian's dnf 4 with `--installroot` (the
//! oracle), on repositories made with createrepo_c (and modifyrepo_c):
//!
//! - EL8+ modularity: a default stream that requires a stream of another module, a non-default
//!   stream, a package only in a stream nobody enabled, non-modular packages shadowed by active
//!   streams; then a bundle of modular packages installed into a throwaway rpm root, after
//!   which that root's own dnf keeps them (their streams are enabled there).
//! - dnf's resolve policy on a node: a dependency is chosen so the node's installed packages
//!   stay as they are when some choice allows it; a request comes at its newest.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{build_rpm, createrepo, moa, require_tools, run, Keys, Mirror, RpmSpec, TestManifest};

pub(crate) const TOOLS: &[&str] =
    &["rpmbuild", "rpmsign", "createrepo_c", "modifyrepo_c", "gpg", "dnf", "rpm", "testsolv"];

const MODULES_YAML: &str = r#"---
document: modulemd-defaults
version: 1
data: {module: app, stream: "2"}
...
---
document: modulemd
version: 2
data:
  name: app
  stream: "2"
  version: 1
  context: c1
  arch: x86_64
  summary: app 2
  description: app 2
  license: {module: [MIT]}
  dependencies:
  - buildrequires: {platform: [el9]}
    requires: {platform: [el9], runtime: ["3"]}
  artifacts:
    rpms: [app-0:2.0-1.module_el9.x86_64]
...
---
document: modulemd
version: 2
data:
  name: app
  stream: "1"
  version: 1
  context: c1
  arch: x86_64
  summary: app 1
  description: app 1
  license: {module: [MIT]}
  dependencies:
  - requires: {platform: [el9]}
  artifacts:
    rpms: [app-0:1.0-1.module_el9.x86_64]
...
---
document: modulemd
version: 2
data:
  name: runtime
  stream: "3"
  version: 1
  context: c1
  arch: x86_64
  summary: runtime 3
  description: runtime 3
  license: {module: [MIT]}
  dependencies:
  - requires: {platform: [el9]}
  artifacts:
    rpms: [libruntime-0:3.0-1.module_el9.x86_64]
...
---
document: modulemd
version: 2
data:
  name: extras
  stream: "1"
  version: 1
  context: c1
  arch: x86_64
  summary: extras
  description: extras
  license: {module: [MIT]}
  dependencies:
  - requires: {platform: [el9]}
  artifacts:
    rpms: [extra-0:1.0-1.module_el9.x86_64]
...
"#;

/// The repository: app 2.0 (app:2, the default; needs libruntime >= 3), app 1.0 (app:1), a
/// non-modular app 1.5, libruntime 3.0 (runtime:3) and a non-modular 2.0, extra (extras:1
/// only), and a non-modular tool.
fn modular_repo(dir: &Path) {
    let pkgs = dir.join("Packages");
    // Builds of a stream carry its ModularityLabel, as real ones do (dnf refuses to install such
    // a package from a repository without module metadata unless told it is a hotfix).
    let rpm = |name, version, release, requires: &'static [&'static str], modularity_label| {
        let files = [(format!("/usr/share/{name}/{version}"), "x".to_string())];
        let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let spec = RpmSpec { name, version, release, requires, files: &files, modularity_label, ..Default::default() };
        build_rpm(&pkgs, &spec);
    };
    rpm("app", "2.0", "1.module_el9", &["libruntime >= 3"], "app:2:1:c1");
    rpm("app", "1.0", "1.module_el9", &[], "app:1:1:c1");
    rpm("app", "1.5", "1", &[], "");
    rpm("libruntime", "3.0", "1.module_el9", &[], "runtime:3:1:c1");
    rpm("libruntime", "2.0", "1", &[], "");
    rpm("extra", "1.0", "1.module_el9", &[], "extras:1:1:c1");
    rpm("tool", "1.0", "1", &[], "");
    createrepo(dir);
    let yaml = dir.join("modules.yaml");
    fs_err::write(&yaml, MODULES_YAML).unwrap();
    run(Command::new("modifyrepo_c").args(["--mdtype=modules"]).arg(&yaml).arg(dir.join("repodata")));
    common::signing::repo_key().sign_repomd(dir);
}

/// Real dnf on the node under `root`, with only `repo` (unsigned: the oracle checks resolving,
/// not trust), EL9's platform, and rpm's database where this machine's rpm keeps it in a root
/// (`/var/lib/rpm`; Debian's rpm macros say `~/.rpmdb`, so HOME carries an `.rpmmacros`).
fn dnf(t: &Path, root: &Path, repo: &Path) -> Command {
    let home = t.join("dnf-home");
    fs_err::create_dir_all(&home).unwrap();
    fs_err::write(home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    let mut c = Command::new("dnf");
    c.env("HOME", &home)
        .arg("--installroot")
        .arg(root)
        .args(["--releasever", "9", "--forcearch", "x86_64", "--setopt=reposdir=/nonexistent"])
        .arg(format!("--repofrompath=t,file://{}", repo.display()))
        .args(["--setopt=t.gpgcheck=0", "--setopt=module_platform_id=platform:el9"])
        .arg(format!("--setopt=cachedir={}", t.join("dnf-cache").display()));
    c
}

/// What dnf would do for `install PKG` on the node under `root`: the packages it installs
/// (`name-version`) and the module streams it enables, from its transaction table; `None` when
/// it finds no match.
pub(crate) fn dnf_install(
    t: &Path,
    root: &Path,
    repo: &Path,
    pkg: &str,
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    dnf_install_with(t, root, repo, &[pkg], &[])
}

/// [`dnf_install`] of several packages, with more options (`--nobest`).
fn dnf_install_with(
    t: &Path,
    root: &Path,
    repo: &Path,
    pkgs: &[&str],
    options: &[&str],
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let mut c = dnf(t, root, repo);
    c.args(options).args(["--setopt=install_weak_deps=0", "--assumeno", "install"]).args(pkgs);
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("Unable to find a match") {
        return None;
    }
    let (mut packages, mut streams) = (BTreeSet::new(), BTreeSet::new());
    let mut section = "";
    for line in text.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            section = line;
            continue;
        }
        if !line.starts_with(' ') {
            section = "";
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match section {
            "Installing:" | "Installing dependencies:" | "Upgrading:" if w.len() >= 4 => {
                packages.insert(format!("{}-{}", w[0], w[2]));
            }
            "Enabling module streams:" if w.len() == 2 => {
                streams.insert(format!("{}:{}", w[0], w[1]));
            }
            _ => {}
        }
    }
    assert!(!packages.is_empty(), "dnf said:\n{text}");
    Some((packages, streams))
}

pub(crate) fn manifest(dir: &Path, mirror: &str, pkg: &str, modules: &[&str]) -> PathBuf {
    TestManifest::rpm(&[pkg])
        .set("distro", "el9test")
        .os_release("rocky", "9", Some("el9"))
        .modules(modules)
        .yum_repo("t", ".", mirror, Keys::Test)
        .write_to(&dir.join(format!("{pkg}-{}.toml", modules.len())))
}

/// moa-bundle's plan (`name-version`) for the same request (`--no-base`, or `extra` such as
/// `--target NODE`), or its error.
fn moa_plan_with(t: &Path, manifest: &Path, extra: &[&std::ffi::OsStr]) -> Result<BTreeSet<String>, String> {
    let base: &[&str] = if extra.is_empty() { &["--no-base"] } else { &[] };
    let out =
        moa(t).arg("resolve").args(base).args(["--json", "--manifest"]).arg(manifest).args(extra).output().unwrap();
    if !out.status.success() {
        // With --json the error is a JSON object on stdout.
        return Err(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}-{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect())
}

pub(crate) fn moa_plan(t: &Path, manifest: &Path) -> Result<BTreeSet<String>, String> {
    moa_plan_with(t, manifest, &[])
}

fn enable(root: &Path, module: &str, stream: &str) {
    fs_err::create_dir_all(root.join("etc/dnf/modules.d")).unwrap();
    fs_err::write(
        root.join(format!("etc/dnf/modules.d/{module}.module")),
        format!("[{module}]\nname={module}\nstream={stream}\nprofiles=\nstate=enabled\n"),
    )
    .unwrap();
}

/// An EL9 node under `t/node` with `rpm` recorded in its rpm database (`--justdb`: no file
/// written), and its profile from `moa-bundle probe`: (root, profile).
fn rpm_node(t: &Path, rpm: &Path) -> (PathBuf, PathBuf) {
    let root = t.join("node");
    common::fake_os_release(&root, "rocky", "9.5");
    let rpm_root =
        |args: &[&str]| run(Command::new("rpm").arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm"]).args(args));
    rpm_root(&["--initdb"]);
    run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps", "--nosignature"])
        .arg(rpm));
    let profile = t.join("node.json");
    let out = moa(t).args(["probe", "--root"]).arg(&root).arg("-o").arg(&profile).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (root, profile)
}

pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn modular_resolves_give_dnfs_answer() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    modular_repo(&repo);
    let mirror = Mirror::serve(&repo);
    let fresh = |name: &str| {
        let r = t.join(name);
        fs_err::create_dir_all(&r).unwrap();
        r
    };

    // The default stream app:2 and, through its requires, runtime:3: the non-modular app 1.5
    // and libruntime 2.0 are shadowed.
    let (dnf, streams) = dnf_install(t, &fresh("n1"), &repo, "app").unwrap();
    assert_eq!(dnf, set(&["app-2.0-1.module_el9", "libruntime-3.0-1.module_el9"]));
    assert_eq!(streams, set(&["app:2", "runtime:3"]));
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "app", &[])).unwrap(), dnf);

    // app:1 enabled (on the node for dnf, in the manifest for moa-bundle).
    let n2 = fresh("n2");
    enable(&n2, "app", "1");
    let (dnf, _) = dnf_install(t, &n2, &repo, "app").unwrap();
    assert_eq!(dnf, set(&["app-1.0-1.module_el9"]));
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "app", &["app:1"])).unwrap(), dnf);

    // A package only in a stream nobody enabled: dnf finds no match; moa-bundle names the stream.
    assert_eq!(dnf_install(t, &fresh("n3"), &repo, "extra"), None);
    let err = moa_plan(t, &manifest(t, &mirror.url, "extra", &[])).unwrap_err();
    assert!(err.contains("extras:1"), "{err}");
    // Enabled, both find it.
    let n4 = fresh("n4");
    enable(&n4, "extras", "1");
    let (dnf, _) = dnf_install(t, &n4, &repo, "extra").unwrap();
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "extra", &["extras:1"])).unwrap(), dnf);

    // Non-modular packages no stream names are untouched.
    let (dnf, _) = dnf_install(t, &fresh("n5"), &repo, "tool").unwrap();
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "tool", &[])).unwrap(), dnf);
}

#[test]
fn installing_modular_packages_enables_their_streams_for_the_nodes_dnf() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    modular_repo(&repo);
    let mirror = Mirror::serve(&repo);
    let bundle = t.join("app.tar.gz");
    let out = moa(t)
        .args(["build", "--no-base", "--manifest"])
        .arg(manifest(t, &mirror.url, "app", &[]))
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let index = moa(t).arg("inspect").arg(&bundle).arg("--json").output().unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    assert_eq!(index["modules"], serde_json::json!(["app:2", "runtime:3"]), "what dnf enables for `install app`");

    let node = |name: &str| {
        let root = t.join(name);
        common::fake_os_release(&root, "rocky", "9.5");
        run(Command::new("rpm").arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm", "--initdb"]));
        fs_err::create_dir_all(root.join("etc/dnf")).unwrap();
        root
    };
    let install = |root: &Path| moa(t).arg("install").arg(&bundle).arg("--root").arg(root).arg("--no-scripts").output();

    let root = node("node");
    let out = install(&root).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state = fs_err::read_to_string(root.join("etc/dnf/modules.d/app.module")).unwrap();
    assert_eq!(state, "[app]\nname=app\nstream=2\nprofiles=\nstate=enabled\n");
    assert!(root.join("etc/dnf/modules.d/runtime.module").is_file());
    // The node's own dnf now sees app:2 and runtime:3 enabled and has nothing to change: it
    // neither replaces the modular builds with the non-modular ones nor wants anything else.
    let dnf = |args: &[&str]| {
        let out = dnf(t, &root, &repo).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let listed = dnf(&["module", "list", "--enabled"]);
    let enabled: BTreeSet<String> = listed
        .lines()
        .filter(|l| !l.starts_with("Hint"))
        .filter_map(|l| {
            // `app     2 [d][e]          app 2`
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(2).filter(|f| f.starts_with('[') && f.contains("[e]")).map(|_| format!("{}:{}", w[0], w[1]))
        })
        .collect();
    assert_eq!(enabled, set(&["app:2", "runtime:3"]), "{listed}");
    let upgrade = dnf(&["--assumeno", "upgrade"]);
    assert!(upgrade.contains("Nothing to do"), "{upgrade}");

    // A node that has app:1 enabled is refused before anything is installed.
    let other = node("other");
    enable(&other, "app", "1");
    let out = install(&other).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("app:2") && err.contains("app:1"), "{err}");
    let rpm_qa = |root: &Path| {
        let q = Command::new("rpm").arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm", "-qa"]).output().unwrap();
        String::from_utf8_lossy(&q.stdout).trim().to_string()
    };
    assert!(rpm_qa(&other).is_empty(), "nothing was installed");

    // The bundle's own install.sh (sh and rpm alone) does the same: the streams enabled after
    // the packages, the clashing node refused before them.
    let unpacked = t.join("unpacked");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let script = fs_err::read_dir(&unpacked).unwrap().next().unwrap().unwrap().path().join("install.sh");
    let by_sh = node("by-sh");
    run(Command::new("sh").arg(&script).arg("--root").arg(&by_sh).arg("--noscripts"));
    assert_eq!(fs_err::read_to_string(by_sh.join("etc/dnf/modules.d/app.module")).unwrap(), state);
    assert!(by_sh.join("etc/dnf/modules.d/runtime.module").is_file());
    assert!(rpm_qa(&by_sh).contains("app-2.0-1.module_el9"));
    let out = Command::new("sh").arg(&script).arg("--root").arg(&other).arg("--noscripts").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(rpm_qa(&other).is_empty(), "install.sh installed nothing on the clashing node");

    // Through the bundle's repository, dnf installs the labelled builds too (the repository is
    // marked as module hotfixes: it carries no module metadata), and the streams are enabled.
    for via_sh in [false, true] {
        let root = node(if via_sh { "repo-sh" } else { "repo" });
        let out = match via_sh {
            false => install_via_repo(t, &bundle, &root),
            true => Command::new("sh")
                .arg(&script)
                .arg("--root")
                .arg(&root)
                .args(["--noscripts", "--via-repo"])
                .output()
                .unwrap(),
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(rpm_qa(&root).contains("app-2.0-1.module_el9") && root.join("var/lib/dnf/history.sqlite").is_file());
        assert_eq!(fs_err::read_to_string(root.join("etc/dnf/modules.d/app.module")).unwrap(), state);
    }
}

fn install_via_repo(t: &Path, bundle: &Path, root: &Path) -> std::process::Output {
    moa(t).arg("install").arg(bundle).arg("--root").arg(root).args(["--no-scripts", "--via-repo"]).output().unwrap()
}

/// A node with lib 1.0 installed; the repository has lib 2.0, y 1.0 (needs lib >= 1.0), y 2.0
/// (needs lib >= 2.0) and x (needs y). dnf: `install x` takes y 1.0 and leaves lib alone;
/// `install y` takes y 2.0 and upgrades lib. moa-bundle, resolving against the probed node,
/// packs exactly what dnf would install.
#[test]
fn a_dependency_keeps_the_nodes_packages_as_dnf_keeps_them() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    let rpm = |dir: &Path, name, version, requires: &'static [&'static str]| {
        build_rpm(&dir.join("Packages"), &RpmSpec { name, version, requires, ..Default::default() })
    };
    let old_lib = rpm(&t.join("node-rpms"), "lib", "1.0", &[]);
    rpm(&repo, "lib", "2.0", &[]);
    rpm(&repo, "y", "1.0", &["lib >= 1.0"]);
    rpm(&repo, "y", "2.0", &["lib >= 2.0"]);
    rpm(&repo, "x", "1.0", &["y"]);
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);

    let (root, profile) = rpm_node(t, &old_lib);

    for (pkg, want) in [("x", set(&["x-1.0-1", "y-1.0-1"])), ("y", set(&["y-2.0-1", "lib-2.0-1"]))] {
        let (dnf, _) = dnf_install(t, &root, &repo, pkg).unwrap();
        assert_eq!(dnf, want, "dnf install {pkg}");
        let target = [std::ffi::OsStr::new("--target"), profile.as_os_str()];
        let plan = moa_plan_with(t, &manifest(t, &mirror.url, pkg, &[]), &target).unwrap();
        assert_eq!(plan, dnf, "moa-bundle resolve {pkg} --target node");
    }
}

/// Two packages provide what app needs; neither is named like it. dnf (libsolv) takes the
/// alphabetically first name, `aa`, not the shorter `b`; so does moa-bundle.
#[test]
fn among_providers_dnf_and_moa_bundle_take_the_same_one() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    let pkgs = repo.join("Packages");
    build_rpm(&pkgs, &RpmSpec { name: "app", requires: &["cap"], ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "b", provides: &["cap"], ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "aa", provides: &["cap"], ..Default::default() });
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);
    let root = t.join("node");
    fs_err::create_dir_all(&root).unwrap();
    let (dnf, _) = dnf_install(t, &root, &repo, "app").unwrap();
    assert_eq!(dnf, set(&["aa-1.0-1", "app-1.0-1"]));
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "app", &[])).unwrap(), dnf);
}

/// A node whose installed `guard` conflicts with `aa < 3` and obsoletes `ab`; app needs `cap`,
/// which aa 1.0, ab and b provide. dnf (libsolv) honours the installed package's Conflicts and
/// Obsoletes and takes b; without them in the node's profile, moa-bundle took aa (the
/// alphabetically first provider) or ab, which rpm refuses on that node. With aa 3.0 in the
/// repository too, the conflict no longer applies to the newest aa, and both take it.
#[test]
fn a_nodes_conflicts_and_obsoletes_rule_out_providers_as_dnf_rules_them_out() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let guard = build_rpm(
        &t.join("node-rpms"),
        &RpmSpec { name: "guard", conflicts: &["aa < 3"], obsoletes: &["ab"], ..Default::default() },
    );
    let (root, profile) = rpm_node(t, &guard);
    let target = [std::ffi::OsStr::new("--target"), profile.as_os_str()];

    // Each case: its name, the providers of `cap` (name, version), what dnf installs.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case<'_>; 3] = [
        ("conflicts", &[("aa", "1.0"), ("b", "1.0")], &["app-1.0-1", "b-1.0-1"]),
        ("obsoletes", &[("ab", "1.0"), ("b", "1.0")], &["app-1.0-1", "b-1.0-1"]),
        ("newer", &[("aa", "1.0"), ("aa", "3.0"), ("b", "1.0")], &["app-1.0-1", "aa-3.0-1"]),
    ];
    for (case, providers, want) in cases {
        let repo = t.join(case);
        let pkgs = repo.join("Packages");
        build_rpm(&pkgs, &RpmSpec { name: "app", requires: &["cap"], ..Default::default() });
        for &(name, version) in providers {
            build_rpm(&pkgs, &RpmSpec { name, version, provides: &["cap"], ..Default::default() });
        }
        createrepo(&repo);
        let mirror = Mirror::serve(&repo);
        let (dnf, _) = dnf_install(t, &root, &repo, "app").unwrap();
        assert_eq!(dnf, set(want), "dnf install app ({case})");
        let plan = moa_plan_with(t, &manifest(t, &mirror.url, "app", &[]), &target).unwrap();
        assert_eq!(plan, dnf, "moa-bundle resolve app --target node ({case})");
        // The same scenario as a libsolv testcase, judged by libsolv itself.
        let mut available = String::from("#>=Pkg: app 1.0 1 x86_64\n#>=Req: cap\n");
        for &(name, version) in providers {
            available += &format!("#>=Pkg: {name} {version} 1 x86_64\n#>=Prv: cap\n");
        }
        let system = "#>=Pkg: guard 1.0 1 x86_64\n#>=Con: aa < 3\n#>=Obs: ab\n";
        let result: String = want.iter().map(|w| format!("#>install {w}.x86_64@available\n")).collect();
        let (agrees, said) = libsolv_judges(t, case, system, &available, "install name app", &result);
        assert!(agrees, "testsolv ({case}): {said}");
    }
}

/// Whether libsolv's `testsolv` gives `result` (its own `#>` lines: the transaction, or the
/// problems) for `job` with the `system` and `available` repositories (testtags lines): the
/// scenario exported as a libsolv testcase, so that libsolv itself judges it. Recommended
/// packages are not installed (`ignorerecommended`), as dnf with `install_weak_deps=0`.
pub(crate) fn libsolv_judges(
    t: &Path,
    case: &str,
    system: &str,
    available: &str,
    job: &str,
    result: &str,
) -> (bool, String) {
    let text = format!(
        "repo system 0 testtags <inline>\n{system}repo available 0 testtags <inline>\n{available}system x86_64 rpm system\nsolverflags ignorerecommended\njob {job}\nresult transaction,problems <inline>\n{result}"
    );
    let path = t.join(format!("{case}.t"));
    fs_err::write(&path, &text).unwrap();
    let out = Command::new("testsolv").arg(&path).output().unwrap();
    (
        out.status.success(),
        format!("{}{}\n{text}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// dnf's `best` (EL8+'s dnf.conf): app 2.0 needs `lib >= 2`, which nothing provides; app 1.0
/// needs nothing. dnf with best=True refuses `install app` ("cannot install the best candidate
/// for the job"); with --nobest it takes app 1.0. A manifest with `best = true` fails the same
/// way, naming app and --nobest; with --nobest, or without `best` (EL7's yum), it packs app
/// 1.0. libsolv judges the same scenario with and without `[forcebest]`.
#[test]
fn with_best_a_request_whose_newest_cannot_be_installed_fails_as_dnf_fails() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    let pkgs = repo.join("Packages");
    build_rpm(&pkgs, &RpmSpec { name: "app", version: "1.0", ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "app", version: "2.0", requires: &["lib >= 2"], ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "lib", version: "1.0", ..Default::default() });
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);
    let root = t.join("node");
    fs_err::create_dir_all(&root).unwrap();

    let install = |opt: &str| {
        let mut c = dnf(t, &root, &repo);
        let out = c.args([opt, "--setopt=install_weak_deps=0", "--assumeno", "install", "app"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let said = install("--setopt=best=True");
    assert!(said.contains("cannot install the best candidate for the job"), "dnf, best=True: {said}");
    // --nobest lists app 2.0-1 as skipped, and installs app 1.0-1.
    let (nobest, _) = dnf_install_with(t, &root, &repo, &["app"], &["--nobest"]).unwrap();
    assert_eq!(nobest, set(&["app-1.0-1"]), "dnf --nobest");

    let best = TestManifest::rpm(&["app"])
        .set("distro", "el9test")
        .os_release("rocky", "9", Some("el9"))
        .flag("best", true)
        .yum_repo("t", ".", mirror.url.as_str(), Keys::Test)
        .write_to(&t.join("best.toml"));
    let err = moa_plan(t, &best).unwrap_err();
    assert!(err.contains("app 2.0-1") && err.contains("--nobest") && err.contains("lib >= 2"), "{err}");
    let nobest = moa_plan_with(t, &best, &[std::ffi::OsStr::new("--no-base"), std::ffi::OsStr::new("--nobest")]);
    assert_eq!(nobest.unwrap(), set(&["app-1.0-1"]));
    assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "app", &[])).unwrap(), set(&["app-1.0-1"]), "without best");

    let available = "#>=Pkg: app 1.0 1 x86_64\n#>=Pkg: app 2.0 1 x86_64\n#>=Req: lib >= 2\n#>=Pkg: lib 1.0 1 x86_64\n";
    let problem = "#>problem cbc269ab info nothing provides lib >= 2 needed by app-2.0-1.x86_64\n#>problem cbc269ab solution bf4b808e deljob install name app [forcebest]\n";
    let (agrees, said) = libsolv_judges(t, "best", "", available, "install name app [forcebest]", problem);
    assert!(agrees, "testsolv, forcebest: {said}");
    let (agrees, said) =
        libsolv_judges(t, "nobest", "", available, "install name app", "#>install app-1.0-1.x86_64@available\n");
    assert!(agrees, "testsolv: {said}");
}

/// Among packages that provide what X needs, dnf (libsolv's `policy_filter_unwanted`) takes:
/// not a name whose newest build no longer provides it (`dislike_old_versions`: A 1 provides Y,
/// A 2 does not, so B), the highest provided version (`sort_by_common_dep`: `Y = 2` over
/// `Y = 1.1`, and `Y <= 2` over `Y < 2`), the alphabetically first name only as the last
/// tie-break. Each case is one of libsolv's own `test/testcases/choose/` cases: built with
/// rpmbuild and createrepo_c, asked of real dnf, of moa-bundle, and of testsolv as a testcase.
#[test]
fn among_providers_the_newest_build_and_the_highest_provided_version_win_as_in_libsolv() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Each case: its name (libsolv's file), the providers (name, version, what they provide), and
    // what libsolv's own testcase says is installed besides X.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str, &'a [&'a str])], &'a str);
    let cases: [Case<'_>; 4] = [
        ("default", &[("B", "1", &["Y"]), ("A", "1", &["Y"])], "A-1-1"),
        ("oldversion", &[("B", "1", &["Y"]), ("C", "1", &["Y"]), ("A", "1", &["Y"]), ("A", "2", &[])], "B-1-1"),
        ("versioned", &[("B", "1", &["Y = 2"]), ("C", "1", &["Y = 1.1"]), ("A", "1", &["Y = 1"])], "B-1-1"),
        ("versioned2", &[("B", "1", &["Y < 2"]), ("C", "1", &["Y <= 2"]), ("A", "1", &["Y = 1"])], "C-1-1"),
    ];
    for (case, providers, want) in cases {
        let repo = t.join(case);
        let pkgs = repo.join("Packages");
        build_rpm(&pkgs, &RpmSpec { name: "X", version: "1", requires: &["Y"], ..Default::default() });
        let mut available = String::from("#>=Pkg: X 1 1 x86_64\n#>=Req: Y\n");
        for &(name, version, provides) in providers {
            build_rpm(&pkgs, &RpmSpec { name, version, provides, ..Default::default() });
            available += &format!("#>=Pkg: {name} {version} 1 x86_64\n");
            available += &provides.iter().map(|p| format!("#>=Prv: {p}\n")).collect::<String>();
        }
        createrepo(&repo);
        let mirror = Mirror::serve(&repo);
        let root = t.join(format!("{case}-node"));
        fs_err::create_dir_all(&root).unwrap();
        let wanted = set(&["X-1-1", want]);
        let (dnf, _) = dnf_install(t, &root, &repo, "X").unwrap();
        assert_eq!(dnf, wanted, "dnf install X ({case})");
        assert_eq!(moa_plan(t, &manifest(t, &mirror.url, "X", &[])).unwrap(), dnf, "moa-bundle ({case})");
        let mut lines = [format!("#>install {want}.x86_64@available\n"), "#>install X-1-1.x86_64@available\n".into()];
        lines.sort();
        let result = lines.concat();
        let (agrees, said) = libsolv_judges(t, case, "", &available, "install name X", &result);
        assert!(agrees, "testsolv ({case}): {said}");
    }
}

/// Two of dnf's (libsolv's) choices among providers, each against real dnf and testsolv:
/// - `install X`: X needs `java`, which ajdk and jdk8 provide, and `jdk8-headless`, which only
///   jdk8 provides. libsolv installs jdk8 alone; the SAT solver met `java` with ajdk first, an
///   extra package that nothing needs once jdk8 is there (CentOS 7: kmod-kvdo, which needs
///   `kernel` and the kernel's symbols, got kernel-debug beside kernel).
/// - `install K`: K needs `k`; the package k provides `k-uname = 1.x86_64`, k-debug provides
///   `k = 1.0-1` and `k-uname = 1.x86_64.debug`. libsolv has no rule for the provider named
///   like the capability and takes k-debug, whose common provide is higher (CentOS 7: kernel
///   and kernel-debug); apt's rule took k.
#[test]
fn dnf_packs_no_provider_nothing_needs_and_prefers_no_name() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    let pkgs = repo.join("Packages");
    let spec = |name, requires, provides| RpmSpec { name, requires, provides, ..Default::default() };
    build_rpm(&pkgs, &spec("X", &["java", "jdk8-headless"], &[]));
    build_rpm(&pkgs, &spec("ajdk", &[], &["java"]));
    build_rpm(&pkgs, &spec("jdk8", &[], &["java", "jdk8-headless"]));
    build_rpm(&pkgs, &spec("K", &["k"], &[]));
    build_rpm(&pkgs, &spec("k", &[], &["k-uname = 1.x86_64"]));
    build_rpm(&pkgs, &spec("k-debug", &[], &["k = 1.0-1", "k-uname = 1.x86_64.debug"]));
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);
    let root = t.join("node");
    fs_err::create_dir_all(&root).unwrap();
    for (roots, want) in [(&["X"][..], &["X-1.0-1", "jdk8-1.0-1"][..]), (&["K"], &["K-1.0-1", "k-debug-1.0-1"])] {
        let (dnf, _) = dnf_install_with(t, &root, &repo, roots, &[]).unwrap();
        assert_eq!(dnf, set(want), "dnf install {roots:?}");
        let m = TestManifest::rpm(roots)
            .set("distro", "el9test")
            .os_release("rocky", "9", Some("el9"))
            .yum_repo("t", ".", mirror.url.as_str(), Keys::Test)
            .write_to(&t.join(format!("{}.toml", roots[0])));
        assert_eq!(moa_plan(t, &m).unwrap(), dnf, "moa-bundle resolve {roots:?}");
        let available = "#>=Pkg: X 1.0 1 x86_64\n#>=Req: java\n#>=Req: jdk8-headless\n#>=Pkg: ajdk 1.0 1 x86_64\n#>=Prv: java\n#>=Pkg: jdk8 1.0 1 x86_64\n#>=Prv: java\n#>=Prv: jdk8-headless\n#>=Pkg: K 1.0 1 x86_64\n#>=Req: k\n#>=Pkg: k 1.0 1 x86_64\n#>=Prv: k-uname = 1.x86_64\n#>=Pkg: k-debug 1.0 1 x86_64\n#>=Prv: k = 1.0-1\n#>=Prv: k-uname = 1.x86_64.debug\n";
        let jobs: Vec<String> = roots.iter().map(|r| format!("install name {r}")).collect();
        let mut result: Vec<String> = want.iter().map(|w| format!("#>install {w}.x86_64@available\n")).collect();
        result.sort();
        let (agrees, said) = libsolv_judges(t, roots[0], "", available, &jobs.join("\njob "), &result.concat());
        assert!(agrees, "testsolv {roots:?}: {said}");
    }
}

/// A requirement on a path that primary does not list (gnome-keyring needs
/// `/usr/libexec/gcr-ssh-askpass`; primary lists only `/etc` and `bin/` paths) is met by a node
/// package that owns it: dnf reads the node's whole file lists from its rpm database and
/// installs keyring alone. The node's profile keeps every file, so moa-bundle `--target` that
/// node packs keyring alone too; it refused when the profile kept only primary's paths.
#[test]
fn a_file_a_node_package_owns_meets_a_requirement_as_for_dnf() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let helper = "/usr/libexec/askpass-helper";
    let gcr = build_rpm(&t.join("node-rpms"), &RpmSpec { name: "gcr", files: &[(helper, "#")], ..Default::default() });
    let (root, profile) = rpm_node(t, &gcr);

    let repo = t.join("repo");
    build_rpm(&repo.join("Packages"), &RpmSpec { name: "keyring", requires: &[helper], ..Default::default() });
    createrepo(&repo);
    let mirror = Mirror::serve(&repo);
    let (dnf, _) = dnf_install(t, &root, &repo, "keyring").unwrap();
    assert_eq!(dnf, set(&["keyring-1.0-1"]), "dnf install keyring");
    let target = [std::ffi::OsStr::new("--target"), profile.as_os_str()];
    let plan = moa_plan_with(t, &manifest(t, &mirror.url, "keyring", &[]), &target);
    assert_eq!(plan.unwrap(), dnf, "moa-bundle resolve keyring --target node");
}
