//! What is checked is what is used (issue 19): the node acts on exactly the bytes it verified.
//!
//! - A bundle renamed over the one being installed, the moment moa-bundle opens it (an inotify
//!   watcher in the test does the swap, so the race is won every time), changes nothing: the
//!   signature, the digests and the unpack all come from the one open file. The same for a
//!   package file swapped in an unpacked bundle directory after it was hashed.
//! - FIFOs, and links to devices, given as a trusted key, a signature, a bundle or a part are
//!   refused at once, naming the file, instead of hanging or being read without end.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{fake_os_release, moa, require_tools, Mirror};
use rustix::fs::inotify;

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "tar", "mkfifo"];

/// Renames `with` over `path` the first time `event` happens to `path`, from a thread that
/// watches with inotify (set up before this returns); the thread says whether it swapped.
fn swap_on(path: &Path, event: inotify::WatchFlags, with: PathBuf) -> std::thread::JoinHandle<bool> {
    let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&fd, path, event).unwrap();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
        let mut events = inotify::Reader::new(&fd, &mut buf);
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            match events.next() {
                Ok(_) => {
                    fs_err::rename(&with, &path).unwrap();
                    return true;
                }
                Err(rustix::io::Errno::AGAIN) => std::thread::sleep(Duration::from_micros(200)),
                Err(e) => panic!("inotify: {e}"),
            }
        }
        false
    })
}

/// A hello repository whose `/usr/bin/hello` says `says`, served; and a manifest for it.
fn repo(t: &Path, says: &str) -> (Mirror, PathBuf) {
    let mirror = Mirror::serve(&common::hello_repo_in(&t.join(format!("repo-{says}")), says));
    let mdir = t.join(format!("manifest-{says}"));
    fs_err::create_dir_all(&mdir).unwrap();
    let manifest = common::hello_manifest(&mdir, &[&mirror.url]);
    (mirror, manifest)
}

fn build(t: &Path, manifest: &Path, out: &Path, sign: Option<&Path>) {
    let mut cmd = moa(&t.join("cache"));
    cmd.args(["build", "--no-base", "--manifest"]).arg(manifest).arg("-o").arg(out);
    if let Some(key) = sign {
        cmd.arg("--sign").arg(key);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

struct Setup {
    t: tempfile::TempDir,
    /// Signed by `keys/release.key`, hello says `hi`.
    good: PathBuf,
    /// Unsigned, hello says `evil`.
    evil: PathBuf,
    _mirrors: (Mirror, Mirror),
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    moa(t.path()).args(["key", "generate"]).arg(keys.join("release")).assert().success();
    let (m1, good_manifest) = repo(t.path(), "hi");
    let (m2, evil_manifest) = repo(t.path(), "evil");
    let good = t.path().join("share/hello.tar.gz");
    let evil = t.path().join("evil/hello.tar.gz");
    build(t.path(), &good_manifest, &good, Some(&keys.join("release.key")));
    build(t.path(), &evil_manifest, &evil, None);
    Setup { t, good, evil, _mirrors: (m1, m2) }
}

/// A node (CentOS 7 os-release) that trusts the release key.
fn node(s: &Setup, name: &str) -> PathBuf {
    let root = s.t.path().join(name);
    fake_os_release(&root, "centos", "7");
    let trusted = root.join("etc/moa-bundle/trusted-keys");
    fs_err::create_dir_all(&trusted).unwrap();
    fs_err::copy(s.t.path().join("keys/release.pub"), trusted.join("release.pub")).unwrap();
    root
}

fn install(s: &Setup, bundle: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    moa(s.t.path())
        .arg("install")
        .arg(bundle)
        .arg("--root")
        .arg(root)
        .args(["--force", "--no-scripts", "--json"])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// What a command said, stdout (where `--json` puts errors) and stderr.
fn said(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `tar -xzf BUNDLE -C INTO`; the bundle's top directory.
fn unpack(bundle: &Path, into: &Path) -> PathBuf {
    fs_err::create_dir_all(into).unwrap();
    common::run(std::process::Command::new("tar").arg("-xzf").arg(bundle).arg("-C").arg(into));
    fs_err::read_dir(into).unwrap().next().unwrap().unwrap().path()
}

fn hello_says(root: &Path) -> String {
    fs_err::read_to_string(root.join("usr/bin/hello")).unwrap_or_default().trim().to_string()
}

/// Regression (issue 19, class 1): the signature was checked on one open of the bundle's path
/// and the bundle unpacked from a second one, so an unsigned bundle renamed over it in between
/// was installed, reported as signed by the trusted key.
#[test]
fn a_bundle_swapped_after_it_is_opened_installs_what_was_verified() {
    require_tools(TOOLS);
    let s = setup();
    let root = node(&s, "root");
    let swap = swap_on(&s.good, inotify::WatchFlags::OPEN, s.evil.clone());
    let out = install(&s, &s.good, &root, &[]);
    assert!(swap.join().unwrap(), "the watcher never saw the bundle opened");
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(hello_says(&root), "hi", "the swapped-in unsigned bundle was installed");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["signature"]["key"].is_string(), "{report}");
    // The path now holds the unsigned bundle, which is refused as such.
    let root2 = node(&s, "root2");
    let out = install(&s, &s.good, &root2, &[]);
    let err = said(&out);
    assert!(!out.status.success() && err.contains("does not match"), "{err}");
    assert_eq!(hello_says(&root2), "");
}

/// Regression (issue 19, class 1): an unpacked bundle's files were hashed where they lay and
/// rpm read them there again later, so a package renamed over one after its digest was taken
/// was installed.
#[test]
fn a_package_swapped_in_an_unpacked_bundle_after_its_check_is_not_installed() {
    require_tools(TOOLS);
    let s = setup();
    let dir = unpack(&s.good, &s.t.path().join("usb"));
    let evil_dir = unpack(&s.evil, &s.t.path().join("evil-unpacked"));
    let rpm = |d: &Path| {
        fs_err::read_dir(d.join("packages"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("hello-"))
            .unwrap()
    };
    let (target, evil_rpm) = (rpm(&dir), rpm(&evil_dir));
    // The same name, version and header signature (the repository key signed both): only the
    // payload differs, so nothing but the digest tells them apart.
    assert_eq!(target.file_name(), evil_rpm.file_name());
    let root = node(&s, "root");
    let swap = swap_on(&target, inotify::WatchFlags::CLOSE_NOWRITE, evil_rpm);
    let out = install(&s, &dir, &root, &["--verified"]);
    assert!(swap.join().unwrap(), "the watcher never saw the package read");
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(hello_says(&root), "hi", "the package swapped in after the check was installed");
    // What now lies in the directory is refused, naming the file.
    let out = install(&s, &dir, &node(&s, "root2"), &["--verified"]);
    let err = said(&out);
    assert!(!out.status.success() && err.contains("was altered") && err.contains("hello-1.0-1.x86_64.rpm"), "{err}");
}

/// Regression (issue 19, class 8): install.sh and the binary disagreed. install.sh looked for
/// trusted keys with `*.pub`, which skips dotfiles, so a node whose only key was `.release.pub`
/// got an unpacked unsigned bundle installed by install.sh while the binary refused it; and
/// install.sh wrote its TMPDIR work directory into the package manager's configuration
/// unchecked, so TMPDIR could add options. Both now follow the binary's rules.
#[test]
fn install_sh_follows_the_binarys_rules_for_keys_and_paths() {
    require_tools(TOOLS);
    let s = setup();
    let dir = unpack(&s.good, &s.t.path().join("usb"));
    let root = s.t.path().join("dot-key");
    fake_os_release(&root, "centos", "7");
    let trusted = root.join("etc/moa-bundle/trusted-keys");
    fs_err::create_dir_all(&trusted).unwrap();
    fs_err::copy(s.t.path().join("keys/release.pub"), trusted.join(".release.pub")).unwrap();
    let out = install(&s, &dir, &root, &[]);
    assert!(!out.status.success() && said(&out).contains("--verified"), "{}", said(&out));
    let sh = |root: &Path, tmp: &Path, extra: &[&str]| {
        std::process::Command::new("sh")
            .arg(dir.join("install.sh"))
            .arg("--root")
            .arg(root)
            .args(["--no-binary", "--noscripts"])
            .args(extra)
            .env("TMPDIR", tmp)
            .output()
            .unwrap()
    };
    let out = sh(&root, s.t.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("trusts bundle keys"), "{}", said(&out));
    assert_eq!(hello_says(&root), "");
    // A TMPDIR that would end a configuration value and start another.
    let plain = s.t.path().join("plain-root");
    fake_os_release(&plain, "centos", "7");
    let bad = s.t.path().join("tmp\"\ngpgcheck=0\n#");
    fs_err::create_dir_all(&bad).unwrap();
    let out = sh(&plain, &bad, &["--via-repo"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("plain absolute paths"), "{}", said(&out));
    assert_eq!(hello_says(&plain), "");
}

fn mkfifo(path: &Path) {
    let _ = fs_err::remove_file(path);
    common::run(std::process::Command::new("mkfifo").arg(path));
}

/// Regression (issue 19, class 7): a FIFO as a trusted key, as the `.minisig`, as the bundle or
/// as a split part hung forever; a part that was a link to `/dev/zero` was copied into TMPDIR
/// without limit. Each is refused at once, naming the file.
#[test]
fn special_files_are_refused_at_once_naming_the_file() {
    require_tools(TOOLS);
    let s = setup();
    let refused = |bundle: &Path, root: &Path, extra: &[&str], names: &str| {
        let start = Instant::now();
        let out = install(&s, bundle, root, extra);
        let err = said(&out);
        assert!(!out.status.success(), "{names}: installed\n{err}");
        assert!(err.contains(names) && err.contains("not a regular file"), "{names}: {err}");
        assert!(start.elapsed() < Duration::from_secs(60), "{names}: took {:?}", start.elapsed());
        assert_eq!(hello_says(root), "", "{names}: installed something");
    };
    // A trusted key that is a FIFO.
    let root = node(&s, "fifo-key");
    let key = root.join("etc/moa-bundle/trusted-keys/other.pub");
    mkfifo(&key);
    refused(&s.good, &root, &[], "other.pub");
    // The .minisig beside the bundle.
    let root = node(&s, "fifo-sig");
    let copy = s.t.path().join("fifo-sig/hello.tar.gz");
    fs_err::create_dir_all(copy.parent().unwrap()).unwrap();
    fs_err::copy(&s.good, &copy).unwrap();
    mkfifo(&s.t.path().join("fifo-sig/hello.tar.gz.minisig"));
    refused(&copy, &root, &[], "hello.tar.gz.minisig");
    // The bundle itself (no key needed for this one).
    let plain = s.t.path().join("plain-root");
    fake_os_release(&plain, "centos", "7");
    let fifo = s.t.path().join("fifo-bundle.tar.gz");
    mkfifo(&fifo);
    refused(&fifo, &plain, &[], "fifo-bundle.tar.gz");
    // The older bundle a differential build reads (`build --since`).
    let start = Instant::now();
    let out = moa(&s.t.path().join("cache"))
        .args(["build", "--no-base", "--manifest"])
        .arg(s.t.path().join("manifest-evil/crafted.toml"))
        .arg("--since")
        .arg(&fifo)
        .arg("-o")
        .arg(s.t.path().join("since.tar.gz"))
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let err = said(&out);
    assert!(!out.status.success() && err.contains("not a regular file"), "--since: {err}");
    assert!(start.elapsed() < Duration::from_secs(60), "--since: took {:?}", start.elapsed());
    // Split parts: a FIFO, and a link to /dev/zero.
    let disc = s.t.path().join("disc");
    fs_err::create_dir_all(&disc).unwrap();
    let bundle = disc.join("hello.tar.gz");
    let out = moa(&s.t.path().join("cache"))
        .args(["build", "--no-base", "--split-size", "4K", "--manifest"])
        .arg(s.t.path().join("manifest-evil/crafted.toml"))
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "split: {}", String::from_utf8_lossy(&out.stderr));
    fs_err::remove_file(&bundle).unwrap();
    let mut parts: Vec<PathBuf> = fs_err::read_dir(&disc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".part"))
        .collect();
    parts.sort();
    assert!(parts.len() > 2, "{parts:?}");
    let index = disc.join("hello.tar.gz.split");
    mkfifo(&parts[1]);
    refused(&index, &plain, &[], "hello.tar.gz.part001");
    fs_err::remove_file(&parts[1]).unwrap();
    fs_err::os::unix::fs::symlink("/dev/zero", &parts[1]).unwrap();
    refused(&index, &plain, &[], "hello.tar.gz.part001");
}

/// Seconds since the epoch now.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `Thu, 21 Apr 2016 23:23:46 UTC`, by the system's `date`.
fn rfc2822(secs: u64) -> String {
    common::run(
        std::process::Command::new("date")
            .env("LC_ALL", "C")
            .arg("-u")
            .arg(format!("-d@{secs}"))
            .arg("+%a, %d %b %Y %H:%M:%S UTC"),
    )
    .trim()
    .to_string()
}

/// The apt archive of `hello` at `mirror/`, its `dists/stable/Release` rewritten with `date`
/// and `valid_until`, then signed again (InRelease, Release.gpg) by the test repositories' key.
fn resign(mirror: &Path, date: u64, valid_until: Option<u64>) {
    let dir = mirror.join("dists/stable");
    let text = fs_err::read_to_string(dir.join("Release")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("Date:") {
            out.push_str(&format!("Date: {}\n", rfc2822(date)));
            if let Some(v) = valid_until {
                out.push_str(&format!("Valid-Until: {}\n", rfc2822(v)));
            }
        } else if !line.starts_with("Valid-Until:") {
            out.push_str(line);
            out.push('\n');
        }
    }
    fs_err::write(dir.join("Release"), out).unwrap();
    common::signing::repo_key().sign_release(&dir);
}

/// moa-bundle resolving `hello` from the archive at `url`, suite `suite`, with `cache`.
fn moa_resolve(t: &Path, url: &str, suite: &str, cache: &str, extra: &[&str]) -> (bool, String) {
    let m = common::TestManifest::deb(&["hello"])
        .set("name", "t")
        .apt_repo("main", suite, url, common::Keys::Test)
        .write_to(&t.join(format!("m-{cache}.toml")));
    let out = moa(&t.join(cache)).args(["resolve", "--no-base", "--manifest"]).arg(&m).args(extra).output().unwrap();
    (out.status.success(), said(&out))
}

/// apt is the oracle for old and misdirected signed metadata (issue 19, classes 2 and 3): the
/// same InRelease files given to `apt-get update` (Check-Valid-Until on) and to moa-bundle are
/// accepted or refused alike — expired, expired with its Valid-Until hidden behind a `- `
/// (which the signature does not cover), dated in the future, fresh — and a replayed older
/// Release after a newer one: apt keeps the newer, moa-bundle refuses the older. A Release of
/// another suite answering: apt warns "Conflicting distribution", moa-bundle refuses.
#[test]
fn old_and_misdirected_signed_metadata_is_judged_as_apt_judges_it() {
    require_tools(&["dpkg-deb", "apt-ftparchive", "apt-get", "gpg", "gpgv", "xz", "date"]);
    let t = tempfile::tempdir().unwrap();
    let deb = common::build_deb(
        &t.path().join("debs"),
        &common::DebSpec { name: "hello", version: "1.0", extra: "Priority: optional", ..Default::default() },
    );
    let mirror_dir = t.path().join("mirror");
    common::apt_repo(&mirror_dir, &[("stable", vec![deb])]);
    let mirror = Mirror::serve(&mirror_dir);
    let n = now();
    let (day, hour) = (86_400, 3_600);
    let inrelease = mirror_dir.join("dists/stable/InRelease");
    // (case, Date, Valid-Until, hide Valid-Until behind "- ", accepted, what moa-bundle says)
    type Case<'a> = (&'a str, u64, Option<u64>, bool, bool, &'a str);
    let cases: [Case<'_>; 5] = [
        ("fresh", n - day, Some(n + 7 * day), false, true, ""),
        ("expired", n - 8 * day, Some(n - hour), false, false, "is expired"),
        ("expired, Valid-Until dash-escaped", n - 8 * day, Some(n - hour), true, false, "is expired"),
        ("dated in the future", n + hour, None, false, false, "not valid yet"),
        ("no Valid-Until", n - 400 * day, None, false, true, ""),
    ];
    for (i, (case, date, until, hide, accepted, says)) in cases.into_iter().enumerate() {
        resign(&mirror_dir, date, until);
        if hide {
            let text = fs_err::read_to_string(&inrelease).unwrap();
            assert!(text.contains("\nValid-Until:"), "{case}");
            fs_err::write(&inrelease, text.replace("\nValid-Until:", "\n- Valid-Until:")).unwrap();
            // gpg itself still calls the signature good.
            let (asc, ring) = (t.path().join("key.asc"), t.path().join("kr.gpg"));
            fs_err::write(&asc, &common::signing::repo_key().public).unwrap();
            let _ = fs_err::remove_file(&ring);
            common::run(std::process::Command::new("gpg").args(["--batch", "--dearmor", "-o"]).arg(&ring).arg(&asc));
            common::run(std::process::Command::new("gpgv").arg("--keyring").arg(&ring).arg(&inrelease));
        }
        let apt = common::Apt::new(&t.path().join(format!("apt{i}")), &mirror.url, "stable");
        let (apt_ok, apt_said) = apt.update();
        assert_eq!(apt_ok, accepted, "{case}: apt-get update said:\n{apt_said}");
        let (ok, err) = moa_resolve(t.path(), &mirror.url, "stable", &format!("c{i}"), &[]);
        assert_eq!(ok, accepted, "{case}: moa-bundle said:\n{err}");
        assert!(err.contains(says), "{case}: expected `{says}` in:\n{err}");
        if case == "expired" {
            // A frozen archive chosen on purpose.
            let (ok, err) = moa_resolve(t.path(), &mirror.url, "stable", &format!("c{i}b"), &["--allow-old-metadata"]);
            assert!(ok, "{err}");
        }
    }

    // A replay: the newer Release first, then an older one, validly signed, in the same cache.
    let apt = common::Apt::new(&t.path().join("apt-replay"), &mirror.url, "stable");
    resign(&mirror_dir, n - day, None);
    assert!(apt.update().0);
    assert!(moa_resolve(t.path(), &mirror.url, "stable", "replay", &[]).0);
    resign(&mirror_dir, n - 30 * day, None);
    let (_, apt_said) = apt.update();
    assert_eq!(apt.kept_date(), Some(rfc2822(n - day)), "apt kept the older Release:\n{apt_said}");
    let (ok, err) = moa_resolve(t.path(), &mirror.url, "stable", "replay", &[]);
    assert!(!ok && err.contains("older") && err.contains("--allow-old-metadata"), "{err}");
    assert!(moa_resolve(t.path(), &mirror.url, "stable", "replay", &["--allow-old-metadata"]).0);

    // `stable-updates` answered with the signed `stable` Release.
    resign(&mirror_dir, n - day, None);
    common::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(mirror_dir.join("dists/stable"))
            .arg(mirror_dir.join("dists/stable-updates")),
    );
    let apt = common::Apt::new(&t.path().join("apt-dist"), &mirror.url, "stable-updates");
    let (_, apt_said) = apt.update();
    assert!(apt_said.contains("Conflicting distribution"), "{apt_said}");
    let (ok, err) = moa_resolve(t.path(), &mirror.url, "stable-updates", "dist", &[]);
    assert!(!ok && err.contains("conflicting distribution") && err.contains("stable-updates"), "{err}");
}
