//! Issue 9, class 7: runs that are interrupted, and runs that race. SIGTERM removes a build's
//! temporary files at once; after `kill -9` (which nothing can catch) the next run sweeps what
//! the dead one left, in the cache, beside the output and in TMPDIR, and succeeds; a bundle is
//! never found half-written under its final name; concurrent builds to one path leave a bundle
//! and a `.sha256` of the same build; a second install on a root that is being installed is
//! told so. Every process runs in its own process group, and the kills hit the whole group.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::{
    build_rpm, createrepo, fake_os_release, hello_manifest, hello_repo, require_tools, Fault, Mirror, Rng, RpmSpec,
};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

/// `moa-bundle ARGS` in its own process group, with a private cache and TMPDIR.
fn spawn(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_moa-bundle"))
        .args(args)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("TMPDIR", dir.join("tmp"))
        .env("NO_PROXY", "127.0.0.1")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn signal_group(child: &Child, sig: &str) {
    let pgid = format!("-{}", child.id());
    common::run(Command::new("kill").args([sig, "--", &pgid]));
}

/// Waits until some file in `dir` matches `pred`, or panics after 60 s.
fn wait_for(dir: &Path, pred: impl Fn(&str) -> bool) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Ok(rd) = fs_err::read_dir(dir) {
            for e in rd.flatten() {
                if pred(&e.file_name().to_string_lossy()) {
                    return e.path();
                }
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "nothing appeared in {}", dir.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the mirror has been asked for a package: its partial download exists by then.
fn wait_for_package_request(mirror: &Mirror) {
    let start = Instant::now();
    while mirror.requested(".rpm") == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no package was requested");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Makes every entry in `dir` look a minute old (a leftover, not a run that just started).
fn age(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(60);
    for e in fs_err::read_dir(dir).unwrap().flatten() {
        let target = if e.path().is_dir() { e.path().join(".lock") } else { e.path() };
        if let Ok(f) = fs_err::OpenOptions::new().write(true).open(&target) {
            f.set_modified(old).unwrap();
        }
        if let Ok(f) = fs_err::File::open(e.path()) {
            let _ = f.set_modified(old);
        }
    }
}

fn wait_ok(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// A build of `hello` whose packages drip from the mirror, caught mid-download: the mirror, the
/// build's arguments, the bundle path and the running build.
fn build_caught_downloading(t: &Path) -> (Mirror, Vec<String>, PathBuf, Child) {
    let mirror = Mirror::serve(&hello_repo(t));
    mirror.fault(".rpm", Fault::Drip);
    let m = hello_manifest(t, &[&mirror.url]);
    fs_err::create_dir_all(t.join("tmp")).unwrap();
    let b = t.join("out/b.tar.gz");
    let args: Vec<String> = ["build", "--manifest", m.to_str().unwrap(), "--no-base", "-o", b.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .chain(["--stall-timeout".into(), "60".into()])
        .collect();
    let child = spawn(t, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    wait_for_package_request(&mirror);
    (mirror, args, b, child)
}

#[test]
fn sigterm_removes_a_builds_partial_download_at_once() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let (_mirror, _, b, child) = build_caught_downloading(t.path());
    let tmp = t.path().join("cache/moa-bundle/tmp");
    assert!(!names(&tmp).is_empty());
    signal_group(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&tmp), Vec::<String>::new(), "SIGTERM left partial downloads");
    assert!(!b.exists());
}

#[test]
fn after_kill_9_the_next_build_sweeps_the_leftovers_and_succeeds() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let (mirror, args, _, child) = build_caught_downloading(t.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tmp = t.path().join("cache/moa-bundle/tmp");
    signal_group(&child, "-KILL");
    let _ = child.wait_with_output();
    // kill -9 cannot be cleaned up after: the partials (one per parallel download) stay until
    // the next run.
    // The packer had started too: its partial bundle is beside the output.
    let left = names(&tmp).len();
    assert!(left >= 1);
    let out = t.path().join("out");
    assert_eq!(names(&out).iter().filter(|n| n.ends_with(".partial")).count(), 1, "{:?}", names(&out));
    age(&tmp);
    age(&out);
    mirror.clear_faults();
    let err = wait_ok(spawn(t.path(), &args, &[]));
    assert!(err.contains(&format!("removed {left} leftover(s) of interrupted runs")), "{err}");
    assert!(err.contains(&format!("removed 1 leftover(s) of interrupted runs: {}", out.display())), "{err}");
    assert_eq!(names(&tmp), Vec::<String>::new());
    assert_eq!(names(&t.path().join("out")), ["b.tar.gz", "b.tar.gz.sha256"]);
}

/// A repository with one 40 MiB package, so packing and installing take long enough to be
/// interrupted in the middle.
fn big_repo(dir: &Path) -> PathBuf {
    let os = dir.join("repo/el/os/x86_64/Packages");
    build_rpm(&os, &RpmSpec { name: "hello", blob_mib: 40, files: &[("/usr/bin/hello", "hi")], ..Default::default() });
    createrepo(&dir.join("repo/el/os/x86_64"));
    dir.join("repo")
}

#[test]
fn kill_9_while_packing_never_leaves_a_partial_bundle_under_its_name() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&big_repo(t.path()));
    let m = hello_manifest(t.path(), &[&mirror.url]);
    fs_err::create_dir_all(t.path().join("tmp")).unwrap();
    let out = t.path().join("out");
    let b = out.join("b.tar.gz");
    let args = ["build", "--manifest", m.to_str().unwrap(), "--no-base", "-o", b.to_str().unwrap()];
    for round in 0..3 {
        let child = spawn(t.path(), &args, &[("SOURCE_DATE_EPOCH", &format!("{}", 1_700_000_000 + round))]);
        wait_for(&out, |n| n.starts_with(".moa-bundle-") && n.ends_with(".partial"));
        signal_group(&child, "-KILL");
        let _ = child.wait_with_output();
        // Whatever is under the final name is a whole bundle with its own .sha256 (or nothing).
        if b.exists() {
            let sidecar = fs_err::read_to_string(out.join("b.tar.gz.sha256")).unwrap();
            assert!(sidecar.starts_with(&common::sha256_file(&b)), "round {round}");
        }
    }
    age(&out);
    wait_ok(spawn(t.path(), &args, &[]));
    assert_eq!(names(&out), ["b.tar.gz", "b.tar.gz.sha256"], "the sweep left partial bundles");
    let v = Command::new(env!("CARGO_BIN_EXE_moa-bundle")).arg("verify").arg(&b).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn kill_9_during_install_then_a_rerun_installs_and_sweeps_the_work_directory() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&big_repo(t.path()));
    let m = hello_manifest(t.path(), &[&mirror.url]);
    let b = t.path().join("b.tar.gz");
    let args = ["build", "--manifest", m.to_str().unwrap(), "--no-base", "-o", b.to_str().unwrap()];
    fs_err::create_dir_all(t.path().join("tmp")).unwrap();
    wait_ok(spawn(t.path(), &args, &[]));
    let root = t.path().join("root");
    fake_os_release(&root, "centos", "7");
    let install = ["install", b.to_str().unwrap(), "--root", root.to_str().unwrap(), "--no-scripts", "--force"];
    let mut rng = Rng::new(9);
    for _ in 0..4 {
        let child = spawn(t.path(), &install, &[]);
        std::thread::sleep(Duration::from_millis(50 + rng.below(900)));
        signal_group(&child, "-KILL");
        let _ = child.wait_with_output();
    }
    age(&t.path().join("tmp"));
    wait_ok(spawn(t.path(), &install, &[]));
    let q = common::run(Command::new("rpm").arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm", "-q", "hello"]));
    assert!(q.starts_with("hello-1.0-1"), "{q}");
    assert!(root.join("usr/share/hello/blob").is_file());
    assert_eq!(names(&t.path().join("tmp")), Vec::<String>::new(), "work directories of killed installs stayed");
}

#[test]
fn concurrent_builds_to_one_path_leave_a_bundle_and_sidecar_of_one_build() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&hello_repo(t.path()));
    let m = hello_manifest(t.path(), &[&mirror.url]);
    fs_err::create_dir_all(t.path().join("tmp")).unwrap();
    let b = t.path().join("out/b.tar.gz");
    let args = ["build", "--manifest", m.to_str().unwrap(), "--no-base", "-o", b.to_str().unwrap()];
    for round in 0..6 {
        // Four builds, one cache, one output path; each with its own mtime, so each bundle differs.
        let children: Vec<Child> = (0..4)
            .map(|i| spawn(t.path(), &args, &[("SOURCE_DATE_EPOCH", &format!("{}", 1_700_000_000 + round * 10 + i))]))
            .collect();
        for c in children {
            wait_ok(c);
        }
        let sidecar = fs_err::read_to_string(b.with_extension("gz.sha256")).unwrap();
        assert!(sidecar.starts_with(&common::sha256_file(&b)), "round {round}: bundle and .sha256 of different builds");
    }
    assert_eq!(names(&t.path().join("out")), ["b.tar.gz", "b.tar.gz.sha256"]);
}

#[test]
fn a_second_install_on_a_busy_root_is_told_so_and_changes_nothing() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&hello_repo(t.path()));
    let m = hello_manifest(t.path(), &[&mirror.url]);
    let b = t.path().join("b.tar.gz");
    fs_err::create_dir_all(t.path().join("tmp")).unwrap();
    wait_ok(spawn(
        t.path(),
        &["build", "--manifest", m.to_str().unwrap(), "--no-base", "-o", b.to_str().unwrap()],
        &[],
    ));
    let root = t.path().join("root");
    fake_os_release(&root, "centos", "7");
    // Another install holds the root (moa-bundle locks the root directory itself).
    let held = fs_err::File::open(&root).unwrap();
    held.lock().unwrap();
    let install = ["install", b.to_str().unwrap(), "--root", root.to_str().unwrap(), "--no-scripts", "--force"];
    let out = spawn(t.path(), &install, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("another moa-bundle install or configure is running"), "{err}");
    assert!(!root.join("var/lib/rpm").exists(), "the loser touched the package database");
    drop(held);
    wait_ok(spawn(t.path(), &install, &[]));
}
