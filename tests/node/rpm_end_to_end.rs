//! yum family end to end: RPMs made by rpmbuild, a repository made by createrepo_c, served on
//! 127.0.0.1; `moa-bundle build` resolves and packs; `moa-bundle install --root` installs into a
//! throwaway root with `rpm --noscripts` (no package script runs anywhere); the root's rpm
//! database shows the packages.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    build_rpm, createrepo, fake_os_release, moa, require_tools, run, Fault, Keys, Mirror, RpmSpec, TestManifest,
};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

/// `<root>/el/os/x86_64` and `<root>/el/updates/x86_64`; returns the path of the base RPM.
fn make_repos(root: &Path) -> PathBuf {
    let os = root.join("el/os/x86_64/Packages");
    let updates = root.join("el/updates/x86_64/Packages");
    let base = build_rpm(&os, &RpmSpec { name: "base-sh", files: &[("/bin/sh", "#!/bin/true")], ..Default::default() });
    build_rpm(
        &os,
        &RpmSpec { name: "base-sh", arch: "i686", files: &[("/bin/sh", "#!/bin/true")], ..Default::default() },
    );
    build_rpm(
        &os,
        &RpmSpec {
            name: "libgreet",
            provides: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/lib64/libgreet.so.1", "lib")],
            ..Default::default()
        },
    );
    build_rpm(
        &os,
        &RpmSpec {
            name: "greet-data",
            version: "1.0",
            arch: "noarch",
            files: &[("/usr/share/greet/v1", "1")],
            ..Default::default()
        },
    );
    build_rpm(
        &os,
        &RpmSpec {
            name: "greet-data",
            version: "2.1",
            arch: "noarch",
            files: &[("/usr/share/greet/v2", "2")],
            ..Default::default()
        },
    );
    build_rpm(
        &os,
        &RpmSpec {
            name: "hello",
            version: "0.9",
            requires: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/bin/hello", "old")],
            ..Default::default()
        },
    );
    build_rpm(&os, &RpmSpec { name: "unrelated", files: &[("/usr/bin/unrelated", "x")], ..Default::default() });
    // The newest hello lives in updates, as on a real CentOS mirror.
    build_rpm(
        &updates,
        &RpmSpec {
            name: "hello",
            version: "1.0",
            requires: &["libgreet.so.1()(64bit)", "greet-data >= 2", "/bin/sh"],
            files: &[("/usr/bin/hello", "new")],
            ..Default::default()
        },
    );
    createrepo(&root.join("el/os/x86_64"));
    createrepo(&root.join("el/updates/x86_64"));
    base
}

/// The test repositories (`os` and `updates`) on `mirrors`, a base of `base-sh`.
fn el_manifest(packages: &[&str], mirrors: &[&str]) -> TestManifest {
    TestManifest::rpm(packages)
        .yum_repo_mirrors("os", "el/os/x86_64", mirrors, Keys::Test)
        .yum_repo_mirrors("updates", "el/updates/x86_64", mirrors, Keys::Test)
        .base_roots(&["base-sh"])
}

fn manifest(dir: &Path, mirror: &str) -> PathBuf {
    el_manifest(&["hello"], &[mirror]).write_to(&dir.join("el-test.toml"))
}

/// The test repositories on a loopback mirror and a manifest pointing at it.
struct Setup {
    mirror: Mirror,
    manifest: PathBuf,
    base_rpm: PathBuf,
}

fn setup(tmp: &Path) -> Setup {
    let base_rpm = make_repos(&tmp.join("mirror"));
    let mirror = Mirror::serve(&tmp.join("mirror"));
    let manifest = manifest(tmp, &mirror.url);
    Setup { mirror, manifest, base_rpm }
}

/// `moa-bundle build --manifest M -o OUT`, which must succeed.
fn build(cache: &Path, manifest: &Path, out: &Path) {
    moa(cache).arg("build").arg("--manifest").arg(manifest).arg("-o").arg(out).assert().success();
}

fn rpm_q(root: &Path, names: &[&str]) -> String {
    common::rpm_query(root, &[&["-q", "--qf", "%{NAME}-%{VERSION}.%{ARCH}\\n"], names].concat())
}

/// `moa-bundle resolve --manifest M --target NODE [extra…]`.
fn resolve_for(cache: &Path, manifest: &Path, profile: &Path, extra: &[&str]) -> std::process::Output {
    moa(cache).arg("resolve").arg("--manifest").arg(manifest).arg("--target").arg(profile).args(extra).output().unwrap()
}

/// `resolve … --target NODE --json`, which must succeed.
fn resolve_for_json(cache: &Path, manifest: &Path, profile: &Path) -> serde_json::Value {
    let out = resolve_for(cache, manifest, profile, &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `build --target NODE -o OUT`, then `install OUT --root ROOT --no-scripts`; both must succeed.
fn build_for_and_install(cache: &Path, manifest: &Path, profile: &Path, root: &Path) {
    let bundle = common::build_for(cache, manifest, profile);
    let inst = moa(cache).arg("install").arg(&bundle).arg("--root").arg(root).arg("--no-scripts").output().unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
}

fn bundle_names(bundle: &Path) -> Vec<String> {
    let out = run(Command::new("tar").arg("-tzf").arg(bundle));
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn build_then_install_into_a_temp_root() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, base_rpm } = setup(tmp.path());
    let out_dir = tmp.path().join("out");

    let out =
        moa(tmp.path()).arg("build").arg("--manifest").arg(&m).arg("-o").arg(&out_dir).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bundle = out_dir.join("hello-eltest-x86_64.tar.gz");
    assert_eq!(report["bundle"], bundle.to_str().unwrap());

    // The closure minus the base; newest versions; the node's arch; nothing unrelated.
    let fpr = &common::signing::repo_key().fingerprint;
    assert_eq!(
        bundle_names(&bundle),
        vec![
            "hello-eltest-x86_64/".to_string(),
            "hello-eltest-x86_64/SHA256SUMS".into(),
            "hello-eltest-x86_64/bundle.json".into(),
            "hello-eltest-x86_64/install.sh".into(),
            // The pinned keys, for the node's own check of each rpm's signature.
            "hello-eltest-x86_64/keys/".into(),
            format!("hello-eltest-x86_64/keys/os-{fpr}.key"),
            format!("hello-eltest-x86_64/keys/updates-{fpr}.key"),
            "hello-eltest-x86_64/moa.lock".into(),
            "hello-eltest-x86_64/packages/".into(),
            "hello-eltest-x86_64/packages/greet-data-2.1-1.noarch.rpm".into(),
            "hello-eltest-x86_64/packages/hello-1.0-1.x86_64.rpm".into(),
            "hello-eltest-x86_64/packages/libgreet-1.0-1.x86_64.rpm".into(),
            // The bundle is a yum repository too (`install --via-repo`).
            "hello-eltest-x86_64/repodata/".into(),
            "hello-eltest-x86_64/repodata/primary.xml.gz".into(),
            "hello-eltest-x86_64/repodata/repomd.xml".into(),
            "hello-eltest-x86_64/sbom.cdx.json".into(),
        ]
    );
    // The sidecar is what sha256sum says of the bundle.
    let side = fs_err::read_to_string(out_dir.join("hello-eltest-x86_64.tar.gz.sha256")).unwrap();
    assert_eq!(side, format!("{}  hello-eltest-x86_64.tar.gz\n", common::sha256_file(&bundle)));

    // A node with the base installed (as a minimal install would have it).
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    common::rpm_into(&root, [&base_rpm]);

    let dry = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(rpm_q(&root, &["hello"]).trim(), "package hello is not installed", "dry run changed nothing");

    let inst = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--json"])
        .output()
        .unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    let q = rpm_q(&root, &["hello", "libgreet", "greet-data"]);
    assert_eq!(q, "hello-1.0.x86_64\nlibgreet-1.0.x86_64\ngreet-data-2.1.noarch\n");
    assert_eq!(fs_err::read_to_string(root.join("usr/bin/hello")).unwrap(), "new\n");

    // Idempotent: a second run installs nothing.
    let again = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--json"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let r: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(r["actions"].as_array().unwrap().iter().all(|a| a["action"] == "skip"), "{}", r["actions"]);
}

#[test]
fn two_builds_are_byte_identical() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, .. } = setup(tmp.path());
    let mut digests = Vec::new();
    for i in 0..2 {
        // Separate caches: the second build downloads again, and still matches.
        let cache = tmp.path().join(format!("cache{i}"));
        let out = tmp.path().join(format!("out{i}/b.tar.gz"));
        moa(&cache).arg("build").arg("--manifest").arg(&m).arg("-o").arg(&out).assert().success();
        digests.push(common::sha256_file(&out));
    }
    assert_eq!(digests[0], digests[1]);
    // The same repository as a local directory (a mounted DVD): no network, the same bytes.
    let dir_url = url::Url::from_directory_path(tmp.path().join("mirror")).unwrap().to_string();
    let out = tmp.path().join("out-file/b.tar.gz");
    moa(&tmp.path().join("cache-file"))
        .arg("build")
        .arg("--manifest")
        .arg(&m)
        .args(["--mirror", &dir_url])
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(common::sha256_file(&out), digests[0]);
}

#[test]
fn the_base_is_not_installed_so_preflight_refuses_and_force_installs() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, .. } = setup(tmp.path());
    let bundle = tmp.path().join("b.tar.gz");
    build(tmp.path(), &m, &bundle);

    // An empty node lacks /bin/sh (the base): nothing may change, and the error says why.
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    let out =
        moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/bin/sh") && err.contains("--force"), "{err}");
    // rpm's "/bin/sh is needed by hello-…" taken apart: who needs what (install::Problem).
    assert!(err.contains("  - hello-1.0-1.x86_64 needs `/bin/sh`"), "{err}");
    assert_eq!(rpm_q(&root, &["hello"]).trim(), "package hello is not installed", "nothing was installed");

    // The seed's force semantics install anyway.
    moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--force"])
        .assert()
        .success();
    assert_eq!(rpm_q(&root, &["hello"]), "hello-1.0.x86_64\n");
}

#[test]
fn a_bundle_for_another_distro_is_refused_before_anything_changes() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, .. } = setup(tmp.path());
    let bundle = tmp.path().join("b.tar.gz");
    build(tmp.path(), &m, &bundle);
    let root = tmp.path().join("root");
    fake_os_release(&root, "ubuntu", "16.04");
    let out =
        moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("centos 7") && err.contains("ubuntu 16.04") && err.contains("b.tar.gz"), "{err}");
    assert!(!root.join("var/lib/rpm").exists(), "no rpm database was created");
}

#[test]
fn mirror_faults_fail_over_retry_or_fail_cleanly() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    make_repos(&tmp.path().join("mirror"));
    let good = Mirror::serve(&tmp.path().join("mirror"));
    let bad = Mirror::serve(&tmp.path().join("mirror"));
    // The first mirror serves a corrupt hello and truncates libgreet; the second is fine.
    bad.fault("hello-1.0-1.x86_64.rpm", Fault::Corrupt);
    bad.fault("libgreet-1.0-1.x86_64.rpm", Fault::Truncate);
    // The first mirror lacks greet-data (404): the second has it.
    bad.fault("greet-data-2.1-1.noarch.rpm", Fault::Status(404));
    // One transient 503 on the good mirror is retried.
    good.fault("greet-data-2.1-1.noarch.rpm", Fault::StatusTimes(503, 1));
    let m = el_manifest(&["hello"], &[&bad.url, &good.url]).write_to(&tmp.path().join("two.toml"));
    let bundle = tmp.path().join("b.tar.gz");
    build(tmp.path(), &m, &bundle);
    assert!(good.requested("hello-1.0-1.x86_64.rpm") >= 1, "failed over to the good mirror");
    assert!(good.requested("libgreet-1.0-1.x86_64.rpm") >= 1);
    moa(tmp.path()).arg("verify").arg(&bundle).assert().success();

    // With only the bad mirror: a clear error naming the package, and no bundle left behind.
    let only_bad = manifest(tmp.path(), &bad.url);
    let out_path = tmp.path().join("bad/b.tar.gz");
    let out = moa(&tmp.path().join("fresh-cache"))
        .arg("build")
        .arg("--manifest")
        .arg(&only_bad)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let (corrupt, short, missing) = (
        err.contains("hello-1.0-1.x86_64") && err.contains("sha256"),
        err.contains("libgreet-1.0-1.x86_64") && err.contains("bytes"),
        err.contains("greet-data-2.1-1.noarch") && err.contains("not found"),
    );
    assert!(corrupt || short || missing, "the error names the package and what was wrong: {err}");
    assert!(!out_path.exists());
    let leftovers: Vec<_> = fs_err::read_dir(tmp.path().join("bad")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(leftovers.is_empty(), "nothing half-written: {leftovers:?}");
}

#[test]
fn an_unsatisfiable_dependency_names_the_chain_and_the_fix() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("mirror/el/os/x86_64");
    build_rpm(&repo.join("Packages"), &RpmSpec { name: "top", requires: &["middle"], ..Default::default() });
    build_rpm(
        &repo.join("Packages"),
        &RpmSpec { name: "middle", requires: &["libmissing.so.3()(64bit)"], ..Default::default() },
    );
    createrepo(&repo);
    createrepo(&tmp.path().join("mirror/el/updates/x86_64"));
    let mirror = Mirror::serve(&tmp.path().join("mirror"));
    let m = el_manifest(&["top"], &[&mirror.url]).write_to(&tmp.path().join("el-test.toml"));
    let out = moa(tmp.path()).arg("resolve").arg("--manifest").arg(&m).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("top (requested) → top needs middle"), "{err}");
    assert!(err.contains("libmissing.so.3()(64bit)") && err.contains("Add the repository"), "{err}");
}

#[test]
fn offline_rebuilds_from_the_cache_alone_identically() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror, manifest: m, .. } = setup(tmp.path());
    let cache = tmp.path().join("cache");
    let online = tmp.path().join("online.tar.gz");
    moa(tmp.path())
        .arg("build")
        .arg("--manifest")
        .arg(&m)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("-o")
        .arg(&online)
        .assert()
        .success();
    drop(mirror); // the network is gone

    let offline = tmp.path().join("offline.tar.gz");
    let out = moa(tmp.path())
        .arg("build")
        .arg("--manifest")
        .arg(&m)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--offline")
        .arg("-o")
        .arg(&offline)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(common::sha256_file(&online), common::sha256_file(&offline));

    // An empty cache offline: a clear error, nothing written.
    let out = moa(tmp.path())
        .arg("build")
        .arg("--manifest")
        .arg(&m)
        .arg("--cache-dir")
        .arg(tmp.path().join("empty-cache"))
        .arg("--offline")
        .arg("-o")
        .arg(tmp.path().join("never.tar.gz"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--offline") && err.contains("repomd.xml"), "{err}");
    assert!(!tmp.path().join("never.tar.gz").exists());
}

#[test]
fn the_fallback_install_sh_installs_into_a_root() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, base_rpm } = setup(tmp.path());
    let bundle = tmp.path().join("b.tar.gz");
    build(tmp.path(), &m, &bundle);
    let root = tmp.path().join("node root"); // a space in the path, on purpose
    common::rpm_into(&root, [&base_rpm]);
    let unpacked = tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let script = unpacked.join("hello-eltest-x86_64/install.sh");
    // A root that trusts bundle keys: the unpacked bundle cannot show a signature, so the
    // fallback refuses unless told the .tar.gz was checked.
    let keys = root.join("etc/moa-bundle/trusted-keys");
    fs_err::create_dir_all(&keys).unwrap();
    fs_err::write(keys.join("release.pub"), b"untrusted comment: x\nRWQ\n").unwrap();
    let out = Command::new("sh").arg(&script).arg("--root").arg(&root).arg("--noscripts").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("minisign -V"));
    run(Command::new("sh").arg(&script).arg("--root").arg(&root).arg("--noscripts").arg("--verified"));
    assert_eq!(
        rpm_q(&root, &["hello", "libgreet", "greet-data"]),
        "hello-1.0.x86_64\nlibgreet-1.0.x86_64\ngreet-data-2.1.noarch\n"
    );

    // A damaged file stops it before rpm runs.
    fs_err::write(unpacked.join("hello-eltest-x86_64/packages/hello-1.0-1.x86_64.rpm"), b"junk").unwrap();
    let out = Command::new("sh").arg(&script).arg("--root").arg(tmp.path().join("other")).output().unwrap();
    assert!(!out.status.success());
    assert!(!tmp.path().join("other/var/lib/rpm").exists(), "rpm never ran");
}

#[test]
fn install_as_a_normal_user_says_it_needs_root_and_changes_nothing() {
    require_tools(&["rpm", "rpmbuild", "createrepo_c", "setpriv"]);
    if !common::running_as_root("to switch to an unprivileged user") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, .. } = setup(tmp.path());
    let shared = tmp.path().join("shared");
    fs_err::create_dir_all(&shared).unwrap();
    let bundle = shared.join("b.tar.gz");
    build(tmp.path(), &m, &bundle);
    run(Command::new("chmod").args(["0755"]).arg(tmp.path()).arg(&shared));
    // Regression: bundles were written 0600 (the temporary file's mode), unreadable to others.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs_err::metadata(&bundle).unwrap().permissions().mode() & 0o777, 0o644);
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("moa-bundle"))
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .arg("--no-scripts")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("installing needs root") && err.contains("--dry-run"), "{err}");
    assert!(!root.join("var/lib/rpm").exists());
}

#[test]
fn probe_a_root_then_build_for_it_packs_exactly_what_it_lacks() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let Setup { mirror: _mirror, manifest: m, base_rpm } = setup(tmp.path());
    let pkgs = tmp.path().join("mirror/el/os/x86_64/Packages");
    // The node has the shell, the library, and an old greet-data; not hello.
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-i", "--noscripts", "--nodeps"])
        .arg(&base_rpm)
        .arg(pkgs.join("libgreet-1.0-1.x86_64.rpm"))
        .arg(pkgs.join("greet-data-1.0-1.noarch.rpm")));

    let profile = tmp.path().join("node.json");
    let out = moa(tmp.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&fs_err::read(&profile).unwrap()).unwrap();
    assert_eq!((p["family"].as_str(), p["os_release"]["id"].as_str()), (Some("rpm"), Some("centos")));
    let names: Vec<&str> = p["packages"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["base-sh", "greet-data", "libgreet"]);
    let lib = &p["packages"][2];
    assert!(lib["provides"].as_array().unwrap().iter().any(|v| v == "libgreet.so.1()(64bit)"), "{lib}");
    let sh = &p["packages"][0];
    assert!(sh["files"].as_array().unwrap().iter().any(|v| v == "/bin/sh"), "{sh}");

    // Against that node: hello, and greet-data upgraded (hello needs >= 2); the library and the
    // shell are there already.
    let r = resolve_for_json(tmp.path(), &m, &profile);
    let plan: Vec<(String, String, String)> = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().into(),
                x["version"].as_str().unwrap().into(),
                x["upgrades"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        plan,
        [("greet-data".into(), "2.1-1".into(), "1.0-1".into()), ("hello".into(), "1.0-1".into(), String::new())]
    );

    // Built and installed: the root then has everything, with the node's own rpm checking it.
    build_for_and_install(tmp.path(), &m, &profile, &root);
    assert_eq!(rpm_q(&root, &["hello", "greet-data"]), "hello-1.0.x86_64\ngreet-data-2.1.noarch\n");

    // Probed again, the node lacks nothing: the request is noted as installed, nothing packed.
    moa(tmp.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();
    let again = resolve_for_json(tmp.path(), &m, &profile);
    assert_eq!(again["packages"].as_array().unwrap().len(), 0, "{again}");
    assert!(
        again["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("`hello` is already installed")),
        "{again}"
    );

    // A profile of another distro is refused, naming both.
    let text = fs_err::read_to_string(&profile).unwrap().replace("\"centos\"", "\"ubuntu\"");
    fs_err::write(&profile, text).unwrap();
    let bad = resolve_for(tmp.path(), &m, &profile, &[]);
    assert!(!bad.status.success());
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(e.contains("is for ubuntu 7") && e.contains("centos 7"), "{e}");
}

#[test]
fn a_conflict_with_the_nodes_old_version_upgrades_it_or_is_refused_naming_both() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("mirror/el/os/x86_64/Packages");
    let old = build_rpm(
        &repo,
        &RpmSpec { name: "oldlib", version: "1.0", files: &[("/usr/lib64/oldlib", "1")], ..Default::default() },
    );
    build_rpm(
        &repo,
        &RpmSpec { name: "oldlib", version: "2.0", files: &[("/usr/lib64/oldlib", "2")], ..Default::default() },
    );
    build_rpm(
        &repo,
        &RpmSpec {
            name: "newtool",
            conflicts: &["oldlib < 2.0"],
            files: &[("/usr/bin/newtool", "n")],
            ..Default::default()
        },
    );
    build_rpm(
        &repo,
        &RpmSpec { name: "strict", conflicts: &["oldlib"], files: &[("/usr/bin/strict", "s")], ..Default::default() },
    );
    createrepo(&tmp.path().join("mirror/el/os/x86_64"));
    let mirror = Mirror::serve(&tmp.path().join("mirror"));
    let write_manifest = |package: &str| {
        TestManifest::rpm(&[package])
            .yum_repo("os", "el/os/x86_64", &mirror.url, Keys::Test)
            .write_to(&tmp.path().join("m.toml"))
    };
    // The node has oldlib 1.0.
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    common::rpm_into(&root, [&old]);
    let profile = tmp.path().join("node.json");
    moa(tmp.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();

    // Every version of oldlib conflicts with `strict`: refused, naming both, the relation, the fix.
    let m = write_manifest("strict");
    let out = resolve_for(tmp.path(), &m, &profile, &[]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("strict-1.0-1.x86_64 (in the bundle) conflicts with oldlib-1.0-1.x86_64 (on the node) (`oldlib`)"),
        "{e}"
    );
    assert!(e.contains("remove oldlib from the node first"), "{e}");

    // newtool conflicts only with oldlib < 2.0, and 2.0 exists: the solver packs the upgrade
    // (the greedy resolver before it refused here), and rpm agrees the result installs.
    let m = write_manifest("newtool");
    let r = resolve_for_json(tmp.path(), &m, &profile);
    let got: Vec<String> = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {} {}", p["name"], p["version"], p["upgrades"]))
        .collect();
    assert_eq!(got, ["\"newtool\" \"1.0-1\" null", "\"oldlib\" \"2.0-1\" \"1.0-1\""]);
    build_for_and_install(tmp.path(), &m, &profile, &root);
    assert_eq!(rpm_q(&root, &["newtool", "oldlib"]), "newtool-1.0.x86_64\noldlib-2.0.x86_64\n");
}

/// rpm checks a whole transaction's dependencies before it installs anything, so every stage
/// goes into one `rpm -U` (rpm orders it by Requires(pre) itself): a missing dependency in a later
/// stage must not leave an earlier stage installed.
#[test]
fn a_missing_dependency_in_a_later_stage_installs_nothing() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let os = tmp.path().join("repo/el/os/x86_64/Packages");
    build_rpm(&os, &RpmSpec { name: "base-sh", files: &[("/bin/sh", "#!/bin/true")], ..Default::default() });
    build_rpm(&os, &RpmSpec { name: "lib", files: &[("/usr/lib64/lib", "1")], ..Default::default() });
    build_rpm(&os, &RpmSpec { name: "a", pre_requires: &["lib"], files: &[("/usr/bin/a", "a")], ..Default::default() });
    build_rpm(
        &os,
        &RpmSpec {
            name: "c",
            requires: &["/bin/sh"],
            pre_requires: &["lib"],
            files: &[("/usr/bin/c", "c")],
            ..Default::default()
        },
    );
    createrepo(&tmp.path().join("repo/el/os/x86_64"));
    let mirror = Mirror::serve(&tmp.path().join("repo"));
    let m = tmp.path().join("m.toml");
    fs_err::write(
        &m,
        format!(
            "name = \"t\"\ndistro = \"t\"\nfamily = \"rpm\"\narch = \"x86_64\"\nos_release = {{ id = \"centos\", version_id = \"7\" }}\npackages = [\"a\", \"c\"]\n[[repository]]\nname = \"os\"\npath = \"el/os/x86_64\"\nmirrors = [\"{}\"]\n{}[base]\nroots = [\"base-sh\"]\n",
            mirror.url,
            common::repo_keys(tmp.path())
        ),
    )
    .unwrap();
    let bundle = tmp.path().join("b.tar.gz");
    build(tmp.path(), &m, &bundle);
    let index: serde_json::Value = {
        let out = moa(tmp.path()).arg("inspect").arg(&bundle).arg("--json").output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let stage =
        |n: &str| index["packages"].as_array().unwrap().iter().find(|p| p["name"] == n).unwrap()["stage"].clone();
    assert_eq!((stage("lib"), stage("a"), stage("c")), (0.into(), 1.into(), 1.into()), "two stages, c in the later");

    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    let out =
        moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("/bin/sh") && err.contains("--force"), "{err}");
    assert_eq!(rpm_q(&root, &["lib"]).trim(), "package lib is not installed", "stage 0 was installed alone");
}
