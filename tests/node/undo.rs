//! `undo` on rpm roots: a yum repository made with rpmbuild + createrepo_c (libgreet 1.0 and
//! 2.0, hello needing 2.0 and obsoleting oldgreet) on 127.0.0.1; a root with libgreet 1.0 and
//! oldgreet installed by the real rpm is probed, a bundle built `--target` it `--rollback`, installed, then undone: the rpm database
//! and the files are as before, the ledger records both. Also: a second undo undoes nothing
//! more, an undo killed with SIGKILL and run again ends in the before-state, and a changed
//! rollback kit (in the bundle or kept on the node) is refused before anything changes.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::manifest::{Keys, TestManifest};
use crate::common::{fake_os_release, moa, require_tools, run, Mirror, RpmSpec};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

struct World {
    _mirror: Mirror,
    tmp: tempfile::TempDir,
    root: PathBuf,
    manifest: PathBuf,
    profile: PathBuf,
    bundle: PathBuf,
    /// The libgreet 1.0 rpm the node has.
    v1: PathBuf,
}

/// The repository, the node (libgreet 1.0 and its config file), its profile, and the bundle
/// built against it with a rollback kit. libgreet 2.0 carries `blob_mib` MiB, so putting 1.0
/// back over it takes a moment.
fn world(blob_mib: u32) -> World {
    let w = node(blob_mib, true);
    let b = w.build(&["--rollback"]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    w
}

/// The repository (without libgreet 1.0 unless `v1_published`), the node and its profile.
fn node(blob_mib: u32, v1_published: bool) -> World {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let os = t.join("repo/el/os/x86_64/Packages");
    let v1 = common::build_rpm(
        &os,
        &RpmSpec {
            name: "libgreet",
            version: "1.0",
            provides: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/lib64/libgreet.so.1", "one"), ("/etc/greet.conf", "greeting=one")],
            ..Default::default()
        },
    );
    common::build_rpm(
        &os,
        &RpmSpec {
            name: "libgreet",
            version: "2.0",
            provides: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/lib64/libgreet.so.1", "two"), ("/etc/greet.conf", "greeting=two")],
            blob_mib,
            ..Default::default()
        },
    );
    // hello replaces the node's oldgreet (rpm Obsoletes): rpm takes it away as it installs.
    let old = common::build_rpm(
        &os,
        &RpmSpec { name: "oldgreet", files: &[("/usr/bin/oldgreet", "o")], ..Default::default() },
    );
    common::build_rpm(
        &os,
        &RpmSpec {
            name: "hello",
            requires: &["libgreet >= 2.0"],
            obsoletes: &["oldgreet"],
            files: &[("/usr/bin/hello", "hi")],
            ..Default::default()
        },
    );
    // The node's version, kept aside when the repository no longer publishes it.
    let v1 = match v1_published {
        true => v1,
        false => {
            let aside = t.join(v1.file_name().unwrap());
            fs_err::rename(&v1, &aside).unwrap();
            aside
        }
    };
    common::createrepo(&t.join("repo/el/os/x86_64"));
    let mirror = Mirror::serve(&t.join("repo"));
    let manifest = TestManifest::rpm(&["hello"])
        .yum_repo("os", "el/os/x86_64", &mirror.url, Keys::Test)
        .write_to(&t.join("m.toml"));
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    common::rpm_into(&root, [&v1, &old]);
    let profile = t.join("node.json");
    let p = moa(t).args(["probe", "--root"]).arg(&root).arg("-o").arg(&profile).output().unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let bundle = t.join("b.tar.gz");
    World { _mirror: mirror, tmp, root, manifest, profile, bundle, v1 }
}

impl World {
    /// `build --target` the node's profile into the world's bundle.
    fn build(&self, extra: &[&str]) -> std::process::Output {
        let mut c = moa(self.tmp.path());
        c.args(["build", "--manifest"]).arg(&self.manifest).arg("--target").arg(&self.profile);
        c.args(extra).args(["--no-repo", "-o"]).arg(&self.bundle).output().unwrap()
    }

    fn moa(&self, args: &[&str]) -> std::process::Output {
        moa(self.tmp.path()).args(args).arg("--root").arg(&self.root).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.moa(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn install(&self) -> String {
        let b = self.bundle.to_str().unwrap();
        self.ok(&["install", b, "--no-scripts"])
    }

    /// The node as undo must leave it: every package in rpm's database, and the digest of
    /// every file outside the databases and moa-bundle's own records.
    fn state(&self) -> (String, BTreeMap<String, String>) {
        let q = common::rpm_query(&self.root, &["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"]);
        let mut names: Vec<&str> = q.lines().collect();
        names.sort_unstable();
        let mut files = BTreeMap::new();
        hash_tree(&self.root, &self.root, &mut files);
        (names.join("\n"), files)
    }

    fn ledger(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["history", "--json"])).unwrap()
    }
}

/// sha256 of every regular file and the target of every link under `dir`, but rpm's database
/// and moa-bundle's ledger directory.
fn hash_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in fs_err::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("var/lib/rpm")
            || rel.starts_with("var/lib/moa-bundle")
            || rel.starts_with("usr/lib/sysimage")
        {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_dir() {
            hash_tree(root, &path, out);
        } else if t.is_symlink() {
            out.insert(rel, format!("-> {}", fs_err::read_link(&path).unwrap().display()));
        } else {
            out.insert(rel, common::sha256_file(&path));
        }
    }
}

#[test]
fn rpm_undo_puts_back_the_version_the_node_had_and_takes_away_what_came() {
    let w = world(0);
    let before = w.state();
    assert!(before.0.contains("libgreet-1.0-1.x86_64"), "{}", before.0);
    let index = bundle_index(&w.bundle);
    let kit: Vec<&str> = index["rollback"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(kit, ["libgreet", "oldgreet"], "the upgraded and the obsoleted version: {}", index["rollback"]);

    w.install();
    let installed = w.state();
    assert!(
        installed.0.contains("libgreet-2.0-1.x86_64") && installed.0.contains("hello-1.0-1.x86_64"),
        "{}",
        installed.0
    );
    let h = w.ledger();
    let changes = &h["entries"][0]["packages"];
    let libgreet = changes.as_array().unwrap().iter().find(|p| p["name"] == "libgreet").unwrap();
    assert_eq!(
        (&libgreet["change"], &libgreet["before"], &libgreet["after"]),
        (&"upgraded".into(), &"1.0-1".into(), &"2.0-1".into())
    );
    assert_eq!(libgreet["kept"], index["rollback"][0]["sha256"], "the kit's package is kept for undo");

    // The plan first: nothing changes.
    let dry = w.ok(&["undo", "--dry-run"]);
    assert!(
        dry.contains("would purge     hello:x86_64 1.0-1") && dry.contains("would put back  libgreet:x86_64 1.0-1"),
        "{dry}"
    );
    assert_eq!(w.state(), installed, "a dry run changes nothing");

    let out = w.ok(&["undo"]);
    assert!(out.contains("undid entry 1 (ledger entry 2)"), "{out}");
    assert_eq!(w.state(), before, "the rpm database and every file are as before the install");
    let h = w.ledger();
    assert_eq!(h["intact"], true, "{h}");
    let undo = &h["entries"][1];
    assert_eq!((&undo["command"], &undo["undoes"], &undo["result"]), (&"undo".into(), &1.into(), &"ok".into()));
    let kinds: Vec<(String, String)> = undo["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().into(), p["change"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("hello".into(), "removed".into()),
            ("libgreet".into(), "downgraded".into()),
            ("oldgreet".into(), "installed".into())
        ]
    );

    // A second undo undoes nothing more, and records nothing.
    let again = w.ok(&["undo"]);
    assert!(again.contains("nothing to undo: the last change, entry 2, is itself an undo (of entry 1)"), "{again}");
    assert_eq!(w.state(), before);
    assert_eq!(w.ledger()["entries"].as_array().unwrap().len(), 2);
    // Naming the undone entry is refused, as is undoing the undo.
    let o = w.moa(&["undo", "1"]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("entry 1 was already undone by entry 2")
    );
    let o = w.moa(&["undo", "2"]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("entry 2 is itself an undo (of entry 1)")
    );
}

#[test]
fn rpm_undo_killed_with_sigkill_ends_in_the_before_state_when_run_again() {
    let w = world(48);
    let before = w.state();
    w.install();
    // The undo in a process group of its own, killed whole (moa-bundle and its rpm) once rpm
    // puts the old version back: after the files and the purge, in the middle of the last step.
    let mut child = undo_in_own_group(&w).spawn().unwrap();
    let pid = child.id() as i32;
    let started = std::time::Instant::now();
    let killed = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Err(status);
        }
        if descendants_run(pid, "--oldpackage") {
            rustix::process::kill_process_group(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            )
            .unwrap();
            child.wait().unwrap();
            break Ok(());
        }
        assert!(started.elapsed().as_secs() < 60, "the undo never reached rpm --oldpackage");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert!(killed.is_ok(), "the undo ended before it could be killed: {killed:?}");
    assert_ne!(w.state(), before, "killed half-way, the node is not yet as before");
    assert!(w.root.join("var/lib/moa-bundle/undo.pending").is_file(), "its plan outlives it");
    // The interrupted undo is finished before any other.
    let o = w.moa(&["undo", "3"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("an undo of entry 1 was interrupted: run `moa-bundle undo`"), "{err}");

    let out = w.ok(&["undo"]);
    assert!(out.contains("undid entry 1"), "{out}");
    assert_eq!(w.state(), before, "run again, the undo ends in the before-state");
    assert!(!w.root.join("var/lib/moa-bundle/undo.pending").exists(), "recorded, its plan is gone");
    let h = w.ledger();
    assert_eq!(h["intact"], true, "{h}");
    assert_eq!(h["entries"].as_array().unwrap().len(), 2, "the killed run wrote no entry: {h}");
    let names: Vec<&str> =
        h["entries"][1]["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["hello", "libgreet", "oldgreet"],
        "the entry says all that entry 1's undo changed, the killed run's part too"
    );
}

#[test]
fn a_changed_rollback_kit_is_refused_before_anything_changes() {
    let w = world(0);
    let before = w.state();
    // In the bundle: one byte of the kit's package changed (and the bundle packed again).
    let t = w.tmp.path();
    let unpacked = t.join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&w.bundle).arg("-C").arg(&unpacked));
    let top = fs_err::read_dir(&unpacked).unwrap().next().unwrap().unwrap().path();
    let kit = fs_err::read_dir(top.join("rollback")).unwrap().next().unwrap().unwrap().path();
    let mut bytes = fs_err::read(&kit).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs_err::write(&kit, bytes).unwrap();
    let bad = t.join("bad.tar.gz");
    // Packed again in the bundle's own member order.
    let members = t.join("members");
    fs_err::write(&members, run(Command::new("tar").arg("-tzf").arg(&w.bundle))).unwrap();
    run(Command::new("tar")
        .arg("-czf")
        .arg(&bad)
        .arg("-C")
        .arg(&unpacked)
        .arg("--no-recursion")
        .arg("-T")
        .arg(&members));
    let o = w.moa(&["install", bad.to_str().unwrap(), "--no-scripts"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("rollback/"), "{err}");
    assert_eq!(w.state(), before, "nothing changed");
    assert!(!w.root.join("var/lib/moa-bundle/history.jsonl").exists());

    // On the node: the kept copy changed after the install.
    w.install();
    let installed = w.state();
    let sha = w.ledger()["entries"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["kept"].as_str().map(String::from))
        .unwrap();
    let kept = w.root.join(format!("var/lib/moa-bundle/kept/{sha}"));
    let mut bytes = fs_err::read(&kept).unwrap();
    bytes[100] ^= 1;
    fs_err::write(&kept, bytes).unwrap();
    let o = w.moa(&["undo"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains(&format!("the kept copy {}", kept.display()))
            && err.contains("libgreet x86_64 1.0-1"),
        "{err}"
    );
    assert_eq!(w.state(), installed, "nothing changed");
    assert_eq!(w.ledger()["entries"].as_array().unwrap().len(), 1);
}

#[test]
fn undo_refuses_a_broken_ledger_and_a_package_changed_since_naming_them() {
    let w = world(0);
    w.install();
    let installed = w.state();
    let ledger = w.root.join("var/lib/moa-bundle/history.jsonl");
    let text = fs_err::read_to_string(&ledger).unwrap();
    fs_err::write(&ledger, text.replace("\"hello\"", "\"hellp\"")).unwrap();
    let o = w.moa(&["undo"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("is broken") && err.contains("entry 1 (line 1) was changed"), "{err}");
    assert_eq!(w.state(), installed);
    fs_err::write(&ledger, text).unwrap();

    // libgreet taken away by hand since: undo names it and changes nothing.
    run(Command::new("rpm").arg("--root").arg(&w.root).args([
        "--dbpath",
        "/var/lib/rpm",
        "-e",
        "--nodeps",
        "--noscripts",
        "libgreet",
    ]));
    let by_hand = w.state();
    let o = w.moa(&["undo"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("package libgreet:x86_64 is not installed now, not 2.0-1 as entry 1 left it"), "{err}");
    assert_eq!(w.state(), by_hand, "nothing changed");
}

#[test]
fn a_version_no_repository_publishes_fails_the_rollback_build_unless_partial_and_undo_names_it() {
    let w = node(0, false);
    let b = w.build(&["--rollback"]);
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success(), "{err}");
    assert!(
        err.contains("no repository publishes any more:\n  - libgreet x86_64 1.0-1\n")
            && err.contains("--rollback-partial"),
        "{err}"
    );
    assert!(!w.bundle.exists(), "nothing was written");

    let b = w.build(&["--rollback-partial", "--rollback"]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let index = bundle_index(&w.bundle);
    assert_eq!(index["rollback_missing"], serde_json::json!(["libgreet x86_64 1.0-1"]), "{index}");
    assert_eq!(index["rollback"][0]["name"], "oldgreet", "only what is still published: {index}");
    assert_eq!(index["rollback"].as_array().unwrap().len(), 1, "{index}");
    w.install();
    let installed = w.state();
    let o = w.moa(&["undo"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("its bundle did not carry:\n  - libgreet x86_64 1.0-1 (now 2.0-1)") && err.contains("--rollback"),
        "{err}"
    );
    assert_eq!(w.state(), installed, "nothing changed");
}

#[test]
fn a_version_the_mirror_dropped_comes_from_the_rollback_mirror() {
    let w = node(0, false);
    // An archive of the same repository that still has libgreet 1.0, signed by the same key.
    let archive = w.tmp.path().join("archive");
    let packages = archive.join("el/os/x86_64/Packages");
    fs_err::create_dir_all(&packages).unwrap();
    fs_err::copy(&w.v1, packages.join(w.v1.file_name().unwrap())).unwrap();
    common::createrepo(&archive.join("el/os/x86_64"));
    let old = Mirror::serve(&archive);
    let b = w.build(&["--rollback", "--rollback-mirror", &format!("os={}", old.url)]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let index = bundle_index(&w.bundle);
    assert_eq!(index["rollback"][0]["file"], w.v1.file_name().unwrap().to_str().unwrap(), "{index}");
    assert!(index.get("rollback_missing").is_none(), "{index}");
    let before = w.state();
    w.install();
    w.ok(&["undo"]);
    assert_eq!(w.state(), before);
}

/// bundle.json of a bundle.
fn bundle_index(bundle: &Path) -> serde_json::Value {
    let o = Command::new("tar").arg("-xzOf").arg(bundle).arg("--wildcards").arg("*/bundle.json").output().unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Whether a process of the process group `pid` runs with `arg` on its command line.
pub(crate) fn descendants_run(pid: i32, arg: &str) -> bool {
    let Ok(dir) = fs_err::read_dir("/proc") else { return false };
    dir.flatten().any(|e| {
        let p = e.path();
        let stat = fs_err::read_to_string(p.join("stat")).unwrap_or_default();
        // The fields after the command name: state, ppid, pgrp.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let pgrp = after.split_whitespace().nth(2).and_then(|g| g.parse::<i32>().ok());
        let cmdline = fs_err::read(p.join("cmdline")).unwrap_or_default();
        pgrp == Some(pid) && String::from_utf8_lossy(&cmdline).split('\0').any(|a| a == arg)
    })
}

/// `moa-bundle undo --root ROOT` as a plain process in a process group of its own.
fn undo_in_own_group(w: &World) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moa-bundle"));
    c.env("XDG_CACHE_HOME", w.tmp.path()).args(["undo", "--no-scripts", "--root"]).arg(&w.root);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c.process_group(0);
    c
}
