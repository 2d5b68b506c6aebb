//! rpm dependency semantics through the SAT resolver, on RPMs made by rpmbuild and metadata made
//! by createrepo_c (served on 127.0.0.1): rich (boolean) dependencies, an alternative the
//! solver must back out of because of a conflict, and Obsoletes, both for a request and for a
//! node package that rpm itself then removes.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{build_rpm, createrepo, fake_os_release, moa, require_tools, Keys, Mirror, RpmSpec, TestManifest};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    mirror: Mirror,
    oldname: PathBuf,
}

fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let pkgs = dir.join("mirror/el/os/x86_64/Packages");
    // Packages without files: what is tested is metadata, and rpm installs them all the same.
    let spec = |name: &'static str| RpmSpec { name, ..Default::default() };
    build_rpm(
        &pkgs,
        &RpmSpec { requires: &["(tls-openssl or tls-gnutls)", "(app-selinux if selinux-policy)"], ..spec("app") },
    );
    build_rpm(&pkgs, &RpmSpec { conflicts: &["legacy-daemon"], ..spec("tls-gnutls") });
    for n in ["tls-openssl", "legacy-daemon", "app-selinux", "selinux-policy"] {
        build_rpm(&pkgs, &spec(n));
    }
    let oldname = build_rpm(&pkgs, &spec("oldname"));
    build_rpm(
        &pkgs,
        &RpmSpec { version: "2.0", obsoletes: &["oldname < 2.0"], provides: &["oldname = 2.0"], ..spec("newname") },
    );
    createrepo(&dir.join("mirror/el/os/x86_64"));
    let mirror = Mirror::serve(&dir.join("mirror"));
    Repo { _tmp: tmp, dir, mirror, oldname }
}

impl Repo {
    fn manifest(&self, packages: &[&str]) -> PathBuf {
        TestManifest::rpm(packages)
            .set("name", "t")
            .yum_repo("os", "el/os/x86_64", &self.mirror.url, Keys::Test)
            .write_to(&self.dir.join("m.toml"))
    }

    /// `resolve --json` (with `--target` when given): the packed names and the notes.
    fn resolve(&self, packages: &[&str], target: Option<&Path>) -> (Vec<String>, Vec<String>) {
        let mut cmd = moa(&self.dir);
        cmd.arg("resolve").arg("--json").arg("--manifest").arg(self.manifest(packages));
        if let Some(t) = target {
            cmd.arg("--target").arg(t);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut names: Vec<String> =
            v["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        names.sort();
        let notes = v["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
        (names, notes)
    }
}

#[test]
fn rich_dependencies_alternatives_and_conflicts() {
    require_tools(TOOLS);
    let r = repo();
    // `(tls-openssl or tls-gnutls)`: tls-gnutls, the first by name among all the providers, as
    // dnf takes it (checked with real dnf; dnf_oracle has the shape); `(app-selinux if
    // selinux-policy)`: nothing, as selinux-policy is not there.
    assert_eq!(r.resolve(&["app"], None).0, ["app", "tls-gnutls"]);
    // With legacy-daemon requested, tls-gnutls (which conflicts with it) cannot be: the solver
    // backs out of that alternative. A greedy closure took tls-gnutls and failed here.
    assert_eq!(r.resolve(&["app", "legacy-daemon"], None).0, ["app", "legacy-daemon", "tls-openssl"]);
    // The condition holds: app-selinux comes along.
    assert_eq!(r.resolve(&["app", "selinux-policy"], None).0, ["app", "app-selinux", "selinux-policy", "tls-gnutls"]);
}

#[test]
fn obsoletes_redirect_a_request_and_remove_the_nodes_package() {
    require_tools(TOOLS);
    let r = repo();
    // A request for a name another package obsoletes resolves to that package, as yum does.
    let (names, notes) = r.resolve(&["oldname"], None);
    assert_eq!(names, ["newname"]);
    assert!(notes.iter().any(|n| n.contains("`oldname` is obsoleted by newname 2.0-1")), "{notes:?}");

    // A node with oldname 1.0: newname is packed, with a note that it removes oldname …
    let root = r.dir.join("root");
    fake_os_release(&root, "centos", "7");
    common::rpm_into(&root, [&r.oldname]);
    let profile = r.dir.join("node.json");
    moa(&r.dir).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();
    let (names, notes) = r.resolve(&["newname"], Some(&profile));
    assert_eq!(names, ["newname"]);
    assert!(
        notes.iter().any(|n| n.contains("installing newname-2.0-1.x86_64 removes oldname-1.0-1.x86_64")),
        "{notes:?}"
    );
    // … and rpm, installing the bundle, does remove it.
    let bundle = common::build_for(&r.dir, &r.manifest(&["newname"]), &profile);
    let inst = moa(&r.dir).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    let q = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-qa", "--qf", "%{NAME}-%{VERSION}\\n"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout), "newname-2.0\n");
}
