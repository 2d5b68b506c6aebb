//! Differential bundles (issue 12, item 3): a repository made by rpmbuild and createrepo_c,
//! served on 127.0.0.1, changes between two builds (hello 1.0 → 1.1, libgreet unchanged);
//! `build --since OLD` packs only hello 1.1 and records libgreet 1.0 as what the node must
//! have. rpm installs it on a node that has OLD, and a node without OLD is refused by name
//! before anything changes. OLD given as the bundle or as its moa.lock makes the same bundle.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{build_rpm, createrepo, fake_os_release, moa, require_tools, run, Mirror, RpmSpec};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "tar"];

fn rpm_qa(root: &Path) -> String {
    let out = common::rpm_query(root, &["-qa", "--qf", "%{NAME}-%{VERSION}\\n"]);
    let mut v: Vec<&str> = out.lines().collect();
    v.sort();
    v.join(" ")
}

fn hello(dir: &Path, version: &str) {
    let spec = RpmSpec {
        name: "hello",
        version,
        requires: &["libgreet.so.1()(64bit)"],
        files: &[("/usr/bin/hello", "hi")],
        ..Default::default()
    };
    build_rpm(&dir.join("repo/el/os/x86_64/Packages"), &spec);
}

fn build(t: &Path, manifest: &Path, out: &Path, extra: &[&std::ffi::OsStr]) -> serde_json::Value {
    let o = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(manifest)
        .arg("-o")
        .arg(out)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn install(t: &Path, bundle: &Path, root: &Path) -> std::process::Output {
    moa(t).arg("install").arg(bundle).arg("--root").arg(root).arg("--no-scripts").output().unwrap()
}

#[test]
fn since_packs_what_changed_and_install_checks_the_node_has_the_rest() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo: PathBuf = common::hello_repo(t);
    let mirror = Mirror::serve(&repo);
    let manifest = common::hello_manifest(t, &[&mirror.url]);
    let old = t.join("old/hello.tar.gz");
    build(t, &manifest, &old, &[]);

    // A few updates later: hello 1.1, libgreet as it was.
    hello(t, "1.1");
    createrepo(&repo.join("el/os/x86_64"));
    let full = t.join("full/hello.tar.gz");
    build(t, &manifest, &full, &[]);
    let new = t.join("new/hello.tar.gz");
    let report = build(t, &manifest, &new, &["--since".as_ref(), old.as_os_str()]);
    assert_eq!((report["since"]["packed"].as_u64(), report["since"]["expected"].as_u64()), (Some(1), Some(1)));
    let names: Vec<&str> = report["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hello"], "the report lists what the bundle holds");
    // Nothing changed since: nothing packed, and the report says so.
    let none = t.join("none/hello.tar.gz");
    let report = build(t, &manifest, &none, &["--since".as_ref(), full.as_os_str()]);
    assert_eq!((report["since"]["packed"].as_u64(), report["since"]["expected"].as_u64()), (Some(0), Some(2)));
    assert_eq!(report["packages"].as_array().map(Vec::len), Some(0), "{report}");
    let index = moa(t).arg("inspect").arg(&new).arg("--json").output().unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    // bundle.json schema 2: a version is its parts.
    let rpm =
        |version: &str, release: &str| serde_json::json!({"rpm": {"epoch": 0, "version": version, "release": release}});
    let packed: Vec<(&str, &serde_json::Value)> =
        index["packages"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap(), &p["version"])).collect();
    assert_eq!(packed, [("hello", &rpm("1.1", "1"))]);
    assert_eq!(
        index["since"]["expects"],
        serde_json::json!([{"name": "libgreet", "version": rpm("1.0", "1"), "arch": "x86_64"}])
    );
    let size = |p: &Path| fs_err::metadata(p).unwrap().len();
    assert!(size(&new) < size(&full), "{} < {}", size(&new), size(&full));

    // OLD's lock instead of OLD: the same bundle, byte for byte.
    let unpacked = t.join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&old).arg("-C").arg(&unpacked));
    let lock = unpacked.join("hello-crafted-x86_64/moa.lock");
    let by_lock = t.join("by-lock/hello.tar.gz");
    build(t, &manifest, &by_lock, &["--since".as_ref(), lock.as_os_str()]);
    assert_eq!(common::sha256_file(&by_lock), common::sha256_file(&new));

    // A node without OLD: refused, naming what it lacks, before anything is installed.
    let bare = t.join("bare");
    fake_os_release(&bare, "centos", "7");
    let out = install(t, &new, &bare);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("libgreet 1.0-1 x86_64") && err.contains("since hello-crafted-x86_64"),
        "{err}"
    );
    assert_eq!(rpm_qa(&bare), "");

    // A node with OLD installed takes the update.
    let node = t.join("node");
    fake_os_release(&node, "centos", "7");
    assert!(install(t, &old, &node).status.success());
    assert_eq!(rpm_qa(&node), "hello-1.0 libgreet-1.0");
    let out = install(t, &new, &node);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rpm_qa(&node), "hello-1.1 libgreet-1.0");

    // A lock of another manifest's bundle is refused by name.
    let other = common::builtin_manifest_for_test_archive("centos7", t);
    let out = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&other)
        .arg("--mirror")
        .arg(&mirror.url)
        .arg("--since")
        .arg(&lock)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is for hello-crafted-x86_64"), "{err}");
}
