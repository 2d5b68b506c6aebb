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

/// The root, its bundle built `--rollback`, and what undo must give back: `dpkg -l`, and the
/// state of every file the role writes and of timesyncd's start at boot.
struct Before {
    dpkg_l: String,
    watched: BTreeMap<PathBuf, String>,
}

impl Before {
    fn take(n: &Node, bundle: &Path) -> Before {
        let dry = n.install(bundle, &["--role", "server", "--dry-run"]).unwrap();
        let role_files =
            dry["role"]["files"].as_array().unwrap().iter().map(|f| PathBuf::from(f["path"].as_str().unwrap()));
        let timer = n.root.join("etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service");
        let watched: BTreeMap<PathBuf, String> =
            role_files.chain([timer.clone()]).map(|p| (p.clone(), state(&p))).collect();
        assert!(watched.keys().any(|p| p.ends_with("etc/ntpsec/ntp.conf")), "{dry}");
        assert_ne!(watched[&timer], "absent", "timesyncd starts at boot on the root");
        Before { dpkg_l: n.chroot_ok(&["dpkg", "-l"]), watched }
    }

    /// The node is as it was, and healthy.
    fn assert_back(&self, n: &Node) {
        assert_eq!(n.chroot_ok(&["dpkg", "-l"]), self.dpkg_l, "dpkg -l is as before");
        let now: BTreeMap<PathBuf, String> = self.watched.keys().map(|p| (p.clone(), state(p))).collect();
        assert_eq!(now, self.watched, "the role's files (and timesyncd's start at boot) are as before");
        assert!(n.installed("systemd-timesyncd") && !n.installed("ntpsec"));
        assert_eq!(n.chroot_ok(&["dpkg", "--audit"]), "", "dpkg --audit");
        n.chroot_ok(&["apt-get", "check", "-q"]);
        assert_no_process_in(&n.root);
    }
}

/// The undo slice's root with the bundle (built `--rollback`) installed `--role server`.
fn installed_slice() -> Option<(Node, PathBuf, Before)> {
    let n = Node::undo_slice(&[])?;
    let t = n.tmp.path();
    assert!(n.installed("systemd-timesyncd"), "the root has the daemon the bundle replaces");
    let profile = t.join("node.json");
    n.cmd().args(["probe", "--root"]).arg(&n.root).arg("-o").arg(&profile).assert().success();
    let bundle = n.build_slice(&profile, &t.join("b.tar.gz"), &["--rollback"]);
    let before = Before::take(&n, &bundle);
    let ssl = n.dpkg_list()["libssl3"].clone();
    let r = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(n.installed("ntpsec") && !n.installed("systemd-timesyncd"), "{r}");
    assert_ne!(n.dpkg_list()["libssl3"], ssl, "libssl3 was upgraded: {r}");
    n.assert_healthy(&r);
    Some((n, bundle, before))
}

#[test]
fn bookworm_undo_puts_back_timesyncd_libssl3_and_the_role_files_byte_for_byte() {
    let Some((n, bundle, before)) = installed_slice() else { return };
    let plain = n.build_slice(&n.tmp.path().join("node.json"), &n.tmp.path().join("plain.tar.gz"), &[]);
    let size = |p: &Path| fs_err::metadata(p).unwrap().len();
    eprintln!("--rollback: {} bytes, without: {} bytes", size(&bundle), size(&plain));
    assert!(size(&bundle) > size(&plain));

    let u = n.cmd().args(["undo", "--json", "--root"]).arg(&n.root).output().unwrap();
    assert!(u.status.success(), "{}", String::from_utf8_lossy(&u.stderr));
    let u: serde_json::Value = serde_json::from_slice(&u.stdout).unwrap();
    assert_eq!(u["recorded"], 2, "{u}");
    let put_back: Vec<&str> =
        u["plan"]["put_back"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(put_back.contains(&"libssl3") && put_back.contains(&"systemd-timesyncd"), "{u}");
    before.assert_back(&n);
    assert!(!n.root.join("var/lib/moa-bundle/undo.pending").exists(), "the plan is gone once recorded");

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
    before.assert_back(&n);
}

/// The undo killed (moa-bundle, dpkg and its scripts, with SIGKILL) while dpkg puts the old
/// versions back, before it has configured them: the node is half-way and dpkg's database says
/// so; `undo` again finishes the plan it wrote before it began, and the node is as before.
#[test]
fn bookworm_undo_killed_in_dpkg_ends_in_the_before_state_when_run_again() {
    use std::os::unix::process::CommandExt;
    let Some((n, _bundle, before)) = installed_slice() else { return };
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_moa-bundle"));
    c.args(["undo", "--root"]).arg(&n.root).env("XDG_CACHE_HOME", n.tmp.path());
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).process_group(0);
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the undo ended ({status}) before dpkg put the old versions back");
        }
        // While dpkg unpacks libssl3 (its new files beside the old), or at the latest once it
        // has unpacked systemd-timesyncd, before it configures them.
        let lib = n.root.join("usr/lib/x86_64-linux-gnu");
        let unpacking = lib.join("libssl.so.3.dpkg-new").exists() || lib.join("libcrypto.so.3.dpkg-new").exists();
        let unpacked = n.root.join("usr/lib/systemd/systemd-timesyncd").exists();
        if (unpacking || unpacked) && super::undo::descendants_run(pid, "--force-confold") {
            let group = rustix::process::Pid::from_raw(pid).unwrap();
            rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
            child.wait().unwrap();
            break;
        }
        assert!(started.elapsed().as_secs() < 120, "the undo never reached dpkg -i");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(n.root.join("var/lib/moa-bundle/undo.pending").exists(), "the plan outlives the kill");
    assert!(!n.installed("ntpsec"), "the purge was done before the kill");
    let audit = n.chroot(&["dpkg", "--audit"]);
    let half = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(!half.is_empty(), "dpkg was stopped half-way: its audit names what it left");

    let out = n.cmd().args(["undo", "--root"]).arg(&n.root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("undid entry 1 (ledger entry 2)"), "{text}");
    before.assert_back(&n);
    let h = n.cmd().args(["history", "--verify", "--root"]).arg(&n.root).output().unwrap();
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stdout));
}
