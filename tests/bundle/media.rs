//! A bundle split to fit media (issue 12, item 4): `build --split-size` writes parts and their
//! sha256sum-format index; `install` and `verify` take any part, the index or the folder (a
//! "disc" holding only the parts, the index, the .sha256 and the .minisig), check every part and
//! the signature before unpacking, and install with rpm into a throwaway root; a damaged part is
//! named and nothing changes; `sha256sum -c` + `cat` + the bundle's `install.sh` do the same by hand.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fake_os_release, moa, require_tools, run, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "sha256sum", "tar"];

fn rpm_q(root: &Path) -> String {
    common::rpm_query(root, &["-q", "--qf", "%{NAME}-%{VERSION}\\n", "hello", "libgreet"])
}

/// The hello bundle, signed and split into 4 KiB parts, then copied to `disc/` without the
/// whole file (as a medium holds them).
fn split_bundle(t: &Path) -> (Mirror, PathBuf, PathBuf) {
    let repo = common::hello_repo(t);
    let mirror = Mirror::serve(&repo);
    let manifest = common::hello_manifest(t, &[&mirror.url]);
    let keys = t.join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    moa(t).args(["key", "generate"]).arg(keys.join("release")).assert().success();
    let out = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .args(["--split-size", "4K", "--sign"])
        .arg(keys.join("release.key"))
        .args(["-o"])
        .arg(t.join("out/hello.tar.gz"))
        .args(["--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts = report["split"]["parts"].as_array().unwrap();
    let whole = fs_err::metadata(t.join("out/hello.tar.gz")).unwrap().len();
    assert_eq!(parts.len() as u64, whole.div_ceil(4096), "{report}");
    assert!(parts.len() >= 3);

    let disc = t.join("disc");
    fs_err::create_dir_all(&disc).unwrap();
    for e in fs_err::read_dir(t.join("out")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name != "hello.tar.gz" {
            fs_err::copy(&p, disc.join(&name)).unwrap();
        }
    }
    (mirror, disc, keys.join("release.pub"))
}

#[test]
fn a_split_bundle_installs_from_any_part_or_its_folder_and_a_damaged_part_is_named() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, disc, key) = split_bundle(t);

    // Every part matches the index, as sha256sum itself says.
    run(Command::new("sha256sum").arg("-c").arg("hello.tar.gz.split").current_dir(&disc));

    // `verify` on the folder: the parts, the signature and the .sha256 beside them all checked.
    let v = moa(t).arg("verify").arg(&disc).arg("--key").arg(&key).output().unwrap();
    let said = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && said.contains("matches .sha256") && said.contains("signed by trusted key"), "{said}");

    // `install` given the first part, into a node that trusts the key.
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    fs_err::create_dir_all(root.join("etc/moa-bundle/trusted-keys")).unwrap();
    fs_err::copy(&key, root.join("etc/moa-bundle/trusted-keys/release.pub")).unwrap();
    let inst = moa(t)
        .arg("install")
        .arg(disc.join("hello.tar.gz.part000"))
        .arg("--root")
        .arg(&root)
        .arg("--no-scripts")
        .output()
        .unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    assert_eq!(rpm_q(&root), "hello-1.0\nlibgreet-1.0\n");

    // A damaged middle part is named, and nothing is installed.
    let other = t.join("other");
    fake_os_release(&other, "centos", "7");
    let part = disc.join("hello.tar.gz.part001");
    let mut bytes = fs_err::read(&part).unwrap();
    bytes[100] ^= 1;
    fs_err::write(&part, bytes).unwrap();
    let out = moa(t)
        .arg("install")
        .arg(disc.join("hello.tar.gz.split"))
        .arg("--root")
        .arg(&other)
        .arg("--no-scripts")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hello.tar.gz.part001") && err.contains("damaged"), "{err}");
    assert!(!other.join("var/lib/rpm").exists(), "nothing ran");
}

/// Without moa-bundle: check the parts, join them with cat, check the whole, unpack, install.sh.
#[test]
fn parts_join_by_hand_with_sha256sum_and_cat() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, disc, _) = split_bundle(t);
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    let script = format!(
        "set -e; cd '{disc}'; sha256sum -c hello.tar.gz.split; cat hello.tar.gz.part* > '{t}/hello.tar.gz'; cd '{t}'; cp '{disc}/hello.tar.gz.sha256' .; sha256sum -c hello.tar.gz.sha256; mkdir u; tar -xzf hello.tar.gz -C u; sh u/hello-crafted-x86_64/install.sh --root '{root}' --noscripts",
        disc = disc.display(),
        t = t.display(),
        root = root.display()
    );
    run(Command::new("sh").arg("-c").arg(script));
    assert_eq!(rpm_q(&root), "hello-1.0\nlibgreet-1.0\n");
}

/// `--parity 2` over 6 parts (issue 25): one part deleted and bytes flipped in another, the
/// bundle still verifies and installs, the repair named; `sha256sum -c` checks the parity parts
/// too; three bad parts are refused, naming them, and nothing is installed.
#[test]
fn two_parity_parts_rebuild_two_bad_parts_and_three_are_refused() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&common::hello_repo(t));
    let manifest = common::hello_manifest(t, &[&mirror.url]);
    let out = t.join("disc/hello.tar.gz");
    let b = moa(t).arg("build").arg("--manifest").arg(&manifest).args(["-o"]).arg(&out).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let whole = fs_err::metadata(&out).unwrap().len();
    let size = whole.div_ceil(6).div_ceil(2) * 2;
    let b = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .args(["--split-size", &size.to_string(), "--parity", "2", "--json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let report: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(report["split"]["parts"].as_array().unwrap().len(), 6, "{report}");
    assert_eq!(report["split"]["parity"].as_array().unwrap().len(), 2, "{report}");
    fs_err::remove_file(&out).unwrap();
    let disc = t.join("disc");
    run(Command::new("sha256sum").arg("-c").arg("hello.tar.gz.split").current_dir(&disc));

    let part = |n: usize| disc.join(format!("hello.tar.gz.part{n:03}"));
    fs_err::remove_file(part(1)).unwrap();
    let mut p4 = fs_err::read(part(4)).unwrap();
    p4[10] ^= 0x55;
    fs_err::write(part(4), &p4).unwrap();
    let v = moa(t).arg("verify").arg(&disc).output().unwrap();
    let said = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{said}{}", String::from_utf8_lossy(&v.stderr));
    assert!(
        said.contains("hello.tar.gz.part001 (missing) from parity") && said.contains("part004 (damaged)"),
        "{said}"
    );
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    let inst = moa(t).arg("install").arg(&disc).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    let said = String::from_utf8_lossy(&inst.stdout);
    assert!(inst.status.success(), "{said}{}", String::from_utf8_lossy(&inst.stderr));
    assert!(said.contains("repaired") && said.contains("part001 (missing)"), "{said}");
    assert!(root.join("usr/bin/hello").exists());

    // A third bad part is beyond two parity parts.
    let root2 = t.join("root2");
    fake_os_release(&root2, "centos", "7");
    fs_err::write(part(5), b"junk").unwrap();
    let inst = moa(t).arg("install").arg(&disc).arg("--root").arg(&root2).arg("--no-scripts").output().unwrap();
    let err = String::from_utf8_lossy(&inst.stderr);
    assert!(!inst.status.success(), "{err}");
    for n in ["part001 (missing)", "part004 (damaged)", "part005 (damaged)"] {
        assert!(err.contains(&format!("hello.tar.gz.{n}")), "{n} not in: {err}");
    }
    assert!(!root2.join("usr/bin/hello").exists(), "nothing was installed");
}
