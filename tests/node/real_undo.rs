//! Undo on a real Debian 12 root (issue 24's acceptance): the plain bookworm root with
//! systemd-timesyncd, made by debootstrap and apt from the release alone; a bundle built
//! `--target` it from bookworm, bookworm-updates and bookworm-security (the real, signed
//! indexes) asks for ntpsec and libssl3, so installing it upgrades libssl3 and replaces
//! systemd-timesyncd; built `--rollback`, it carries the root's own versions of both.
//! `install --role server` then `undo` leave `dpkg -l` and the role's files byte for byte as
//! before, timesyncd back, dpkg and apt content, and a ledger with both entries chained.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::debian_root::{assert_no_process_in, Node};
use crate::common;

/// What a path holds: absent, a link's target, or a file's sha256.
fn state(p: &Path) -> String {
    match p.symlink_metadata() {
        Err(_) => "absent".into(),
        Ok(m) if m.file_type().is_symlink() => format!("-> {}", fs_err::read_link(p).unwrap().display()),
        Ok(_) => common::sha256_file(p),
    }
}

fn build(n: &Node, profile: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let o = n
        .cmd()
        .args(["build", "--manifest"])
        .arg(&n.manifest)
        .args(n.undo_mirrors())
        .arg("--target")
        .arg(profile)
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "build: {}", String::from_utf8_lossy(&o.stderr));
    out.to_path_buf()
}

#[test]
fn bookworm_undo_puts_back_timesyncd_libssl3_and_the_role_files_byte_for_byte() {
    let Some(n) = Node::undo_slice() else { return };
    let t = n.tmp.path();
    assert!(n.installed("systemd-timesyncd"), "the root has the daemon the bundle replaces");
    let profile = t.join("node.json");
    n.cmd().args(["probe", "--root"]).arg(&n.root).arg("-o").arg(&profile).assert().success();
    let bundle = build(&n, &profile, &t.join("b.tar.gz"), &["--rollback"]);
    let plain = build(&n, &profile, &t.join("plain.tar.gz"), &[]);
    let size = |p: &Path| fs_err::metadata(p).unwrap().len();
    eprintln!("--rollback: {} bytes, without: {} bytes", size(&bundle), size(&plain));

    // Before: dpkg -l, and every file the role will write (its dry run names them).
    let dpkg_l = n.chroot_ok(&["dpkg", "-l"]);
    let ssl = n.dpkg_list()["libssl3"].clone();
    let dry = n.install(&bundle, &["--role", "server", "--dry-run"]).unwrap();
    let role_files: Vec<PathBuf> =
        dry["role"]["files"].as_array().unwrap().iter().map(|f| PathBuf::from(f["path"].as_str().unwrap())).collect();
    assert!(role_files.iter().any(|p| p.ends_with("etc/ntpsec/ntp.conf")), "{dry}");
    let timer = n.root.join("etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service");
    let watched: Vec<PathBuf> = role_files.iter().cloned().chain([timer.clone()]).collect();
    let before: BTreeMap<PathBuf, String> = watched.iter().map(|p| (p.clone(), state(p))).collect();
    assert_ne!(before[&timer], "absent", "timesyncd starts at boot on the root");

    let r = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(n.installed("ntpsec") && !n.installed("systemd-timesyncd"), "{r}");
    assert_ne!(n.dpkg_list()["libssl3"], ssl, "libssl3 was upgraded: {r}");
    n.assert_healthy(&r);

    let started = std::time::Instant::now();
    let u = n.cmd().args(["undo", "--json", "--root"]).arg(&n.root).output().unwrap();
    let took = started.elapsed();
    assert!(u.status.success(), "{}", String::from_utf8_lossy(&u.stderr));
    eprintln!("undo took {took:?}");
    let u: serde_json::Value = serde_json::from_slice(&u.stdout).unwrap();
    assert_eq!(u["recorded"], 2, "{u}");
    let put_back: Vec<&str> =
        u["plan"]["put_back"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(put_back.contains(&"libssl3") && put_back.contains(&"systemd-timesyncd"), "{u}");

    assert_eq!(n.chroot_ok(&["dpkg", "-l"]), dpkg_l, "dpkg -l is as before");
    let after: BTreeMap<PathBuf, String> = watched.iter().map(|p| (p.clone(), state(p))).collect();
    assert_eq!(after, before, "the role's files (and timesyncd's start at boot) are as before");
    assert!(n.installed("systemd-timesyncd") && !n.installed("ntpsec"));
    assert_eq!(n.chroot_ok(&["dpkg", "--audit"]), "", "dpkg --audit");
    n.chroot_ok(&["apt-get", "check", "-q"]);
    assert_no_process_in(&n.root);

    let h = n.cmd().args(["history", "--json", "--verify", "--root"]).arg(&n.root).output().unwrap();
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stdout));
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    let e = h["entries"].as_array().unwrap();
    assert_eq!(e.len(), 2, "{h}");
    assert_eq!((&e[0]["command"], &e[1]["command"], &e[1]["undoes"]), (&"install".into(), &"undo".into(), &1.into()));
    assert_eq!(e[1]["prev"].as_str().map(str::len), Some(64), "chained");

    // A second undo undoes nothing more.
    let again = n.cmd().args(["undo", "--root"]).arg(&n.root).output().unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && text.contains("nothing to undo"), "{text}");
    assert_eq!(n.chroot_ok(&["dpkg", "-l"]), dpkg_l);
}
