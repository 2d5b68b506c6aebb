//! Issue 9, classes 4 and 6: a mirror that lies, breaks, stalls or drips. A content fault from
//! one mirror moves the build to the next mirror and never reaches the cache; a stalled mirror
//! is left quickly; whatever a seeded fault schedule does to the first mirror, the bundle is
//! byte-identical to a clean build's; and each event is one log line when stderr is not a
//! terminal (here it is a pipe).

use crate::common;

use std::path::Path;
use std::process::Output;

use crate::common::{hello_manifest, hello_repo, moa, require_tools, Fault, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

fn build(cache: &Path, manifest: &Path, out: &Path, extra: &[&str]) -> Output {
    moa(cache)
        .arg("build")
        .arg("--manifest")
        .arg(manifest)
        .arg("--no-base")
        .arg("-o")
        .arg(out)
        .args(["--stall-timeout", "1"])
        .args(extra)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `hello`'s repository, a good mirror of it, and the bundle a clean build from it makes.
fn good_mirror_and_reference(t: &Path) -> (std::path::PathBuf, Mirror, String) {
    let repo = hello_repo(t);
    let good = Mirror::serve(&repo);
    let want = reference(t, &good);
    (repo, good, want)
}

/// The bundle a clean build from a good mirror makes (in `<t>/ref`).
fn reference(t: &Path, good: &Mirror) -> String {
    fs_err::create_dir_all(t.join("ref")).unwrap();
    let m = hello_manifest(&t.join("ref"), &[&good.url]);
    let b = t.join("ref/b.tar.gz");
    ok(&build(&t.join("ref/cache"), &m, &b, &[]));
    common::sha256_file(&b)
}

/// An index is spooled to a private temporary file: where none can be made, the error says so
/// and names TMPDIR, instead of blaming every mirror.
#[test]
fn an_unusable_temporary_directory_is_named_not_blamed_on_the_mirrors() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let good = Mirror::serve(&hello_repo(t.path()));
    let m = hello_manifest(t.path(), &[&good.url]);
    let o = moa(&t.path().join("cache"))
        .env("TMPDIR", t.path().join("missing"))
        .args(["build", "--no-base", "--no-repo", "--manifest"])
        .arg(&m)
        .arg("-o")
        .arg(t.path().join("b.tar.gz"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("primary.xml") && err.contains("set TMPDIR"), "{err}");
    assert!(!err.contains("every mirror failed"), "{err}");
    assert!(!t.path().join("b.tar.gz").exists());
}

#[test]
fn content_faults_fail_over_and_never_reach_the_cache() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let repo = hello_repo(t.path());
    let (bad, good) = (Mirror::serve(&repo), Mirror::serve(&repo));
    bad.fault("primary.xml.gz", Fault::Corrupt);
    bad.fault(".rpm", Fault::Corrupt);
    let want = reference(t.path(), &good);

    let m = hello_manifest(t.path(), &[&bad.url, &good.url]);
    let b = t.path().join("b.tar.gz");
    let err = ok(&build(&t.path().join("cache"), &m, &b, &[]));
    assert!(err.contains(&format!("mirror {} failed for el/os/x86_64/repodata/", bad.url)), "{err}");
    assert!(err.contains("checksum mismatch") && err.contains("trying the next mirror"), "{err}");
    assert!(err.contains(&format!("fetched from {}", good.url)), "{err}");
    assert_eq!(common::sha256_file(&b), want);
    // The corrupt copies were never cached: an offline build makes the same bundle.
    let b2 = t.path().join("b2.tar.gz");
    ok(&build(&t.path().join("cache"), &m, &b2, &["--offline"]));
    assert_eq!(common::sha256_file(&b2), want);
}

#[test]
fn a_dead_first_mirror_is_passed_over() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let good = Mirror::serve(&hello_repo(t.path()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}");
    let m = hello_manifest(t.path(), &["http://127.0.0.1:1", &good.url]);
    let b = t.path().join("b.tar.gz");
    let err = ok(&build(&t.path().join("cache"), &m, &b, &["--mirror", &dead, "--mirror", &good.url]));
    assert!(err.contains(&format!("mirror {dead} failed")), "{err}");
}

#[test]
fn stalled_and_dripping_mirrors_are_left_for_the_next() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let (repo, good, want) = good_mirror_and_reference(t.path());
    // A mirror that answers everything else moves to the front, so each fault gets its own
    // pair: a stalled index, a dripping metadata file, a dripping package.
    for (i, (suffix, fault)) in
        [("repomd.xml", Fault::Stall), ("primary.xml.gz", Fault::Drip), (".rpm", Fault::Drip)].into_iter().enumerate()
    {
        let bad = Mirror::serve(&repo);
        bad.fault(suffix, fault.clone());
        let dir = t.path().join(format!("case{i}"));
        fs_err::create_dir_all(&dir).unwrap();
        let m = hello_manifest(&dir, &[&bad.url, &good.url]);
        let b = dir.join("b.tar.gz");
        let started = std::time::Instant::now();
        let err = ok(&build(&dir.join("cache"), &m, &b, &[]));
        assert!(bad.requested(suffix) >= 1, "{suffix}: the bad mirror was never asked");
        assert!(err.contains("stalled: less than 512 bytes a second for 1 s"), "{suffix} {fault:?}: {err}");
        assert_eq!(common::sha256_file(&b), want);
        // The dripping file costs the stall time, not its length at 5 bytes a second.
        eprintln!("{suffix} {fault:?}: failover build took {:?}", started.elapsed());
    }
}

#[test]
fn seeded_fault_schedules_never_change_the_bundle() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let (repo, good, want) = good_mirror_and_reference(t.path());
    let all = vec![
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(404),
        Fault::Reset,
        Fault::Truncate,
        Fault::Corrupt,
        Fault::Stall,
        Fault::Drip,
    ];
    for seed in 1..=6u64 {
        let bad = Mirror::serve(&repo);
        bad.schedule(seed, 60, all.clone());
        let dir = t.path().join(format!("seed{seed}"));
        fs_err::create_dir_all(&dir).unwrap();
        let m = hello_manifest(&dir, &[&bad.url, &good.url]);
        let b = dir.join("b.tar.gz");
        let out = build(&dir.join("cache"), &m, &b, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "seed {seed}: {err}");
        assert_eq!(common::sha256_file(&b), want, "seed {seed}");
        assert!(!err.contains("panicked"), "seed {seed}: {err}");
    }
}

#[test]
fn retries_and_the_cache_summary_are_log_lines_without_a_terminal() {
    require_tools(TOOLS);
    let t = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&hello_repo(t.path()));
    mirror.fault("repomd.xml", Fault::StatusTimes(503, 1));
    let m = hello_manifest(t.path(), &[&mirror.url]);
    let cache = t.path().join("cache");
    let err = ok(&build(&cache, &m, &t.path().join("b.tar.gz"), &[]));
    assert!(err.contains("s] retry 1/3: ") && err.contains("HTTP 503"), "{err}");
    assert!(err.contains("s] packages: 0 from the cache, 2 downloaded"), "{err}");
    let err = ok(&build(&cache, &m, &t.path().join("b2.tar.gz"), &[]));
    assert!(err.contains("s] packages: 2 from the cache, 0 downloaded"), "{err}");
    // The same bundle to the same path again: recognised, nothing fetched or written.
    let before = fs_err::metadata(t.path().join("b.tar.gz")).unwrap().modified().unwrap();
    let err = ok(&build(&cache, &m, &t.path().join("b.tar.gz"), &[]));
    assert!(err.contains("already holds this bundle") && !err.contains("packages: "), "{err}");
    assert_eq!(fs_err::metadata(t.path().join("b.tar.gz")).unwrap().modified().unwrap(), before);
    // A bundle changed since (here: touched) is written again.
    fs_err::OpenOptions::new()
        .write(true)
        .open(t.path().join("b.tar.gz"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(5))
        .unwrap();
    let err = ok(&build(&cache, &m, &t.path().join("b.tar.gz"), &[]));
    assert!(err.contains("packages: 2 from the cache"), "{err}");
}

#[test]
fn with_json_an_error_is_a_json_object_on_stdout() {
    let t = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = moa(t.path())
        .args(["build", "--distro", "centos7", "--json", "--mirror"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("-o")
        .arg(t.path().join("b.tar.gz"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("every mirror failed"), "{v}");
    assert!(v["causes"].is_array());
}
