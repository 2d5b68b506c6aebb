//! A self-contained bundle (issue 12, item 1): it carries a moa-bundle binary, and a node with
//! nothing installed gets all of `install` through `sh install.sh`, which checks the binary
//! against SHA256SUMS and runs it on the unpacked bundle (unpacked next to the bundle, not in
//! /tmp). Where the binary cannot run, install.sh installs with rpm alone and says what that
//! leaves out; options only the binary understands are refused there. The binary checks an
//! unpacked bundle file by file, as it checks an archive.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fake_os_release, moa, require_tools, run, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "strip", "tar", "sha256sum"];

fn rpm_q(root: &Path) -> String {
    common::rpm_query(root, &["-q", "--qf", "%{NAME}-%{VERSION}\\n", "hello", "libgreet"])
}

/// The hello bundle carrying `installer`, unpacked next to itself; the unpacked top directory.
fn unpacked_bundle(t: &Path, mirror: &Mirror, installer: &Path, name: &str) -> PathBuf {
    let manifest = common::hello_manifest(t, &[&mirror.url]);
    let out_dir = t.join(name);
    let bundle = out_dir.join("hello.tar.gz");
    let out = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--installer")
        .arg(installer)
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("for the node: sh install.sh runs it"));
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&out_dir));
    out_dir.join("hello-crafted-x86_64")
}

#[test]
fn install_sh_alone_runs_the_bundled_moa_bundle() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&common::hello_repo(t));
    // This test's moa-bundle, without debug info (a debug build is 250 MB).
    let binary = t.join("moa-bundle-for-nodes");
    run(Command::new("strip").arg("-o").arg(&binary).arg(env!("CARGO_BIN_EXE_moa-bundle")));
    let dir = unpacked_bundle(t, &mirror, &binary, "usb");
    // Carried gzipped: gzip itself gives back the very binary, in well under half the bytes.
    let gz = dir.join("moa-bundle.gz");
    assert!(!dir.join("moa-bundle").exists());
    let unzipped = t.join("unzipped");
    run(Command::new("sh").arg("-c").arg(format!("gzip -dc '{}' > '{}'", gz.display(), unzipped.display())));
    assert_eq!(common::sha256_file(&unzipped), common::sha256_file(&binary));
    let (gz_size, size) = (fs_err::metadata(&gz).unwrap().len(), fs_err::metadata(&binary).unwrap().len());
    assert!(gz_size * 2 < size, "{gz_size} of {size}");
    let index: serde_json::Value = serde_json::from_slice(&fs_err::read(dir.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(index["installer"]["size"], gz_size);
    assert_eq!(index["installer"]["sha256"], common::sha256_file(&gz));

    // Run from another directory, with a relative --root: moa-bundle's JSON report comes out.
    fake_os_release(&t.join("node"), "centos", "7");
    let private_tmp = t.join("tmp");
    fs_err::create_dir_all(&private_tmp).unwrap();
    let out = Command::new("sh")
        .arg(dir.join("install.sh"))
        .args(["--root", "node", "--noscripts", "--json"])
        .env("TMPDIR", &private_tmp)
        .current_dir(t)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> =
        report["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["install", "install"], "{report}");
    assert_eq!(rpm_q(&t.join("node")), "hello-1.0\nlibgreet-1.0\n");
    // The unpacked binary was private and is gone.
    assert_eq!(fs_err::read_dir(&private_tmp).unwrap().count(), 0, "install.sh left its unpacked binary behind");
    // The node check is moa-bundle's: a node of another release is refused by name.
    fake_os_release(&t.join("el8"), "centos", "8");
    let out = Command::new("sh")
        .arg(dir.join("install.sh"))
        .args(["--root", "el8", "--noscripts"])
        .current_dir(t)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--skip-node-check"));

    // The unpacked directory is checked file by file: an extra file or a changed one is named.
    let copy = t.join("copy/hello-crafted-x86_64");
    fs_err::create_dir_all(copy.parent().unwrap()).unwrap();
    run(Command::new("cp").arg("-a").arg(&dir).arg(&copy));
    assert!(moa(t).arg("verify").arg(&copy).output().unwrap().status.success());
    fs_err::write(copy.join("packages/extra.rpm"), b"x").unwrap();
    let v = moa(t).arg("verify").arg(&copy).output().unwrap();
    assert!(!v.status.success() && String::from_utf8_lossy(&v.stderr).contains("packages/extra.rpm"));
    fs_err::remove_file(copy.join("packages/extra.rpm")).unwrap();
    fs_err::write(copy.join("moa.lock"), b"changed").unwrap();
    let v = moa(t).arg("verify").arg(&copy).output().unwrap();
    assert!(!v.status.success() && String::from_utf8_lossy(&v.stderr).contains("moa.lock"));
}

/// A binary that cannot run here (an ELF for this architecture that the kernel will not
/// execute, as on a node whose glibc is too old or a medium mounted noexec): install.sh says so
/// and installs with rpm alone, or refuses options only moa-bundle could apply.
#[test]
fn where_the_binary_cannot_run_install_sh_falls_back_and_says_what_it_skips() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&common::hello_repo(t));
    let mut elf = vec![0u8; 64];
    elf[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    elf[16] = 2;
    elf[18] = 62; // x86_64
    let broken = t.join("broken-moa-bundle");
    fs_err::write(&broken, elf).unwrap();
    let dir = unpacked_bundle(t, &mirror, &broken, "usb");

    let root = t.join("node");
    fake_os_release(&root, "centos", "7");
    let script = dir.join("install.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg("--root")
        .arg(&root)
        .args(["--noscripts", "--role", "server"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot run on this node") && err.contains("--role server"), "{err}");
    assert!(!root.join("var/lib/rpm").exists(), "nothing was installed");

    let out = Command::new("sh").arg(&script).arg("--root").arg(&root).arg("--noscripts").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("installing with rpm alone") && err.contains("no role"), "{err}");
    assert_eq!(rpm_q(&root), "hello-1.0\nlibgreet-1.0\n");
}
