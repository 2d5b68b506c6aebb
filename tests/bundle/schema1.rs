//! Bundles written before bundle.json schema 2 (kept in `tests/schema1-bundles/`, byte for byte
//! as moa-bundle wrote them) still verify, inspect and install: a node updated to a newer
//! moa-bundle keeps installing the bundles it was handed. The deb one installs on a real
//! Debian 12 root in `tests/node/real_nodes.rs`; the rpm one installs here with the host's rpm
//! into a temp root, scripts off.

use std::path::{Path, PathBuf};

use crate::common::{fake_os_release, moa, require_tools, rpm_query};

/// A schema-1 bundle, copied out of the tree (the commands write nothing beside it, but a test
/// never risks the kept bytes).
fn schema1(tmp: &Path, name: &str) -> PathBuf {
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema1-bundles").join(name);
    let copy = tmp.join(name);
    fs_err::copy(&kept, &copy).unwrap();
    let index = crate::common::run(
        std::process::Command::new("tar").arg("-xzOf").arg(&copy).arg("--wildcards").arg("*/bundle.json"),
    );
    let index: serde_json::Value = serde_json::from_str(&index).unwrap();
    assert_eq!(index["schema_version"], 1, "{name} is a schema-1 bundle");
    copy
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn schema_1_bundles_verify_and_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, versions) in
        [("hello-snap-amd64.tar.gz", ["2:2.10-3", "1.2-3"]), ("hello-crafted-x86_64.tar.gz", ["1.0-1", "1.0-1"])]
    {
        let b = schema1(tmp.path(), name);
        let v = json(&moa(tmp.path()).arg("verify").arg(&b).arg("--json").output().unwrap());
        assert_eq!(v["index"]["packages"].as_array().map(Vec::len), Some(2), "{name}: {v}");
        assert_eq!(v["repository_checked"], true, "{name}: {v}");
        // As a person reads it: the versions and the why-chains as the bundle wrote them.
        let out = moa(tmp.path()).arg("inspect").arg(&b).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {text}");
        let lines: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("[0]")).collect();
        assert_eq!(lines.len(), 2, "{name}: {text}");
        for (line, version) in lines.iter().zip(versions) {
            assert!(line.split_whitespace().nth(2) == Some(version), "{name}: {line}");
        }
        assert!(lines[0].ends_with("hello (requested)"), "{name}: {text}");
        assert!(lines[1].contains("hello needs libgreet"), "{name}: {text}");
    }
}

#[test]
fn a_schema_1_rpm_bundle_installs() {
    require_tools(&["rpm"]);
    let tmp = tempfile::tempdir().unwrap();
    let b = schema1(tmp.path(), "hello-crafted-x86_64.tar.gz");
    let root = tmp.path().join("root");
    fake_os_release(&root, "centos", "7");
    let args = ["--force", "--no-scripts", "--json", "--root"];
    let r = json(&moa(tmp.path()).arg("install").arg(&b).args(args).arg(&root).output().unwrap());
    let actions: Vec<&str> = r["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["install", "install"], "{r}");
    assert_eq!(rpm_query(&root, &["-q", "hello", "libgreet"]).lines().count(), 2);
    assert_eq!(fs_err::read_to_string(root.join("usr/bin/hello")).unwrap(), "hi\n");
    // Again: nothing to do, as with a bundle of today.
    let r = json(&moa(tmp.path()).arg("install").arg(&b).args(args).arg(&root).output().unwrap());
    assert!(r["actions"].as_array().unwrap().iter().all(|a| a["action"] == "skip"), "{r}");
}
