//! The README's flows on real Debian roots: made by `debootstrap` from the Debian archive
//! (`scripts/test-roots.sh`, cached outside the clone, linked as `target/test-roots`), bundles
//! built from the release's real, Debian-signed index and real pool files served by a loopback
//! mirror. Each test unpacks a fresh copy of a root; maintainer scripts run chrooted there, no
//! service starts (checked: no process runs inside a test root afterwards).
//!
//! Roots: `plain` (required + important, debootstrap's default), `minbase`, `cron` (minbase +
//! cron), `timesyncd` (minbase + systemd-timesyncd, the daemon the bundle replaces).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common::{moa, run, Mirror};

#[derive(Clone, Copy)]
struct Release {
    code: &'static str,
    distro: &'static str,
}

const BOOKWORM: Release = Release { code: "bookworm", distro: "debian12" };
const TRIXIE: Release = Release { code: "trixie", distro: "debian13" };

/// `target/test-roots`, made by `scripts/test-roots.sh` (which the README's test command runs).
fn roots() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-roots");
    let ready = dir.join("bookworm-mirror/.complete").is_file() && dir.join("trixie-mirror/.complete").is_file();
    if !ready {
        common::skip("real_nodes", "no debootstrap roots: run scripts/test-roots.sh (scripts/test.sh does)");
        return None;
    }
    Some(dir)
}

/// One test's world: a temp directory, the release's mirror, the test manifest.
struct Node {
    tmp: tempfile::TempDir,
    root: PathBuf,
    tar: PathBuf,
    manifest: PathBuf,
    mirror: Mirror,
}

impl Node {
    /// A fresh copy of root `kind` of `rel`.
    fn new(rel: Release, kind: &str) -> Option<Node> {
        let roots = roots()?;
        if !common::running_as_root("chroot and device nodes in the unpacked roots") {
            return None;
        }
        let tmp = tempfile::Builder::new().prefix("moa-node-").tempdir_in(scratch()).unwrap();
        let root = tmp.path().join("root");
        let tar = roots.join(format!("{}-{kind}.tar", rel.code));
        unpack(&tar, &root);
        let manifest = test_manifest(rel, tmp.path());
        let mirror = Mirror::serve(&roots.join(format!("{}-mirror", rel.code)));
        Some(Node { tmp, root, tar, manifest, mirror })
    }

    /// The root as debootstrap made it again (everything installed since, gone).
    fn reset(&self) {
        fs_err::remove_dir_all(&self.root).unwrap();
        unpack(&self.tar, &self.root);
    }

    fn cmd(&self) -> assert_cmd::Command {
        moa(self.tmp.path())
    }

    /// `build` (against `profile` when given), which must succeed: the bundle, in this test's
    /// directory. Builds are reproducible (`two_builds_are_byte_identical`, the snapshot of the
    /// bundles' sha256), so the same manifest, profile and flags make the same bytes: each
    /// distinct build runs once per process, and later tests get a copy of its bundle.
    fn build(&self, profile: Option<&Path>, extra: &[&str]) -> PathBuf {
        let out = self.tmp.path().join(format!("b{}.tar.gz", std::process::id() ^ extra.len() as u32));
        let key = BuildKey {
            manifest: fs_err::read(&self.manifest).unwrap(),
            profile: profile.map(|p| fs_err::read(p).unwrap()),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        let bytes = once_per_process(key, || {
            self.run_build(profile, extra, &out);
            fs_err::read(&out).unwrap()
        });
        if !out.exists() {
            fs_err::write(&out, &*bytes).unwrap();
        }
        out
    }

    fn run_build(&self, profile: Option<&Path>, extra: &[&str], out: &Path) {
        let mut c = moa(build_cache());
        c.args(["build", "--manifest"]).arg(&self.manifest).args(["--mirror", &self.mirror.url, "-o"]).arg(out);
        if let Some(p) = profile {
            c.arg("--target").arg(p);
        }
        let o = c.args(extra).output().unwrap();
        assert!(
            o.status.success(),
            "build: {}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
    }

    /// `probe` of the root, then a bundle of what it lacks.
    fn target_bundle(&self) -> PathBuf {
        let profile = self.tmp.path().join("node.json");
        self.cmd().args(["probe", "--root"]).arg(&self.root).arg("-o").arg(&profile).assert().success();
        self.build(Some(&profile), &[])
    }

    /// `install BUNDLE --root ROOT --json ARGS`: the report, or the error output.
    fn install(&self, bundle: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
        let o = self
            .cmd()
            .arg("install")
            .arg(bundle)
            .arg("--root")
            .arg(&self.root)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        match o.status.success() {
            true => Ok(serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {text}"))),
            false => Err(text),
        }
    }

    fn chroot(&self, args: &[&str]) -> std::process::Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap()
    }

    fn chroot_ok(&self, args: &[&str]) -> String {
        let o = self.chroot(args);
        assert!(
            o.status.success(),
            "chroot {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `dpkg-query -W` inside the root: every package's version.
    fn dpkg_list(&self) -> HashMap<String, String> {
        let o = self.chroot_ok(&["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n"]);
        o.lines()
            .filter(|l| l.ends_with("ii "))
            .filter_map(|l| {
                l.split_once(' ').map(|(n, rest)| (n.to_string(), rest.split(' ').next().unwrap().to_string()))
            })
            .collect()
    }

    fn installed(&self, name: &str) -> bool {
        let o = self.chroot(&["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name]);
        String::from_utf8_lossy(&o.stdout).trim() == "ii"
    }

    /// What a healthy node says afterwards: dpkg has nothing half-done, apt sees every
    /// dependency met, the dependencies the install reported are automatic and the requested
    /// packages manual, and no process runs inside the root.
    fn assert_healthy(&self, report: &serde_json::Value) {
        assert_eq!(self.chroot_ok(&["dpkg", "--audit"]), "", "dpkg --audit");
        self.chroot_ok(&["apt-get", "check", "-q"]);
        let auto = self.chroot_ok(&["apt-mark", "showauto"]);
        let manual = self.chroot_ok(&["apt-mark", "showmanual"]);
        for a in report["actions"].as_array().unwrap().iter().filter(|a| a["action"] == "install") {
            let name = a["name"].as_str().unwrap();
            let (marks, list) = match REQUESTED.contains(&name) {
                true => ("manual", &manual),
                false => ("auto", &auto),
            };
            assert!(list.lines().any(|l| l == name), "{name} is not {marks}: auto {auto}, manual {manual}");
        }
        assert_no_process_in(&self.root);
    }
}

/// The cache every build of this process shares, as a build machine keeps one: the first
/// build of each release fetches its packages and parses its index (the cold path, written to
/// the parsed-index cache); the later ones read them from the cache. Emptied when the process
/// starts, so each run has its cold builds.
fn build_cache() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-nodes-build-cache");
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        dir
    })
}

/// What makes one build: the manifest's text, the node profile's, the extra flags.
#[derive(PartialEq, Eq, Hash)]
struct BuildKey {
    manifest: Vec<u8>,
    profile: Option<Vec<u8>>,
    extra: Vec<String>,
}

/// The bundle `build` makes for `key`: made by the first test that asks (the others asking for
/// the same wait for it), then kept for the process.
fn once_per_process(key: BuildKey, build: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
    type Built = Arc<OnceLock<Arc<Vec<u8>>>>;
    static BUILT: OnceLock<Mutex<HashMap<BuildKey, Built>>> = OnceLock::new();
    let slot = BUILT.get_or_init(Mutex::default).lock().unwrap().entry(key).or_default().clone();
    slot.get_or_init(|| Arc::new(build())).clone()
}

/// The shipped manifest of the release with only its main suite (the roots are plain releases,
/// without updates) and its real pinned keys.
fn test_manifest(rel: Release, dir: &Path) -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs_err::read_to_string(project.join(format!("manifests/{}.toml", rel.distro))).unwrap();
    let mut out = String::new();
    let mut repos = 0;
    for line in text.lines() {
        repos += usize::from(line == "[[repository]]");
        let skipping = repos > 1 && !line.starts_with("[base]") && !line.starts_with("[time]");
        if line.starts_with("[base]") || line.starts_with("[time]") {
            repos = 0;
        }
        if skipping {
            continue;
        }
        match line.starts_with("suites = ") {
            true => out.push_str(&format!("suites = [\"{}\"]\n", rel.code)),
            false => out.push_str(&format!("{line}\n")),
        }
    }
    assert_eq!(out.matches("[[repository]]").count(), 1, "{out}");
    let keys = dir.join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    for e in fs_err::read_dir(project.join("manifests/keys")).unwrap() {
        let e = e.unwrap();
        fs_err::copy(e.path(), keys.join(e.file_name())).unwrap();
    }
    let p = dir.join(format!("{}.toml", rel.distro));
    fs_err::write(&p, out).unwrap();
    p
}

/// Where the roots are unpacked: `/dev/shm` when it is a tmpfs that allows devices and
/// executables (a root is 300 MB in 10k files: unpacking it there takes 0.3 s against 2.5 s on
/// this machine's disk, where the kernel's file creation was a fifth of this binary's time),
/// else the usual temp directory.
fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mounts = fs_err::read_to_string("/proc/mounts").unwrap_or_default();
        let usable = mounts.lines().map(|l| l.split(' ').collect::<Vec<_>>()).any(|f| {
            f.len() > 3
                && f[1] == "/dev/shm"
                && f[2] == "tmpfs"
                && !f[3].split(',').any(|o| o == "nodev" || o == "noexec")
        });
        match usable {
            true => PathBuf::from("/dev/shm"),
            false => std::env::temp_dir(),
        }
    })
    .clone()
}

fn unpack(tar: &Path, into: &Path) {
    fs_err::create_dir_all(into).unwrap();
    run(Command::new("tar").arg("--numeric-owner").arg("-xf").arg(tar).arg("-C").arg(into));
}

/// No process on this machine has its root inside `root`: nothing the install ran was left
/// running (a daemon started from the chroot would run on this machine).
fn assert_no_process_in(root: &Path) {
    for e in fs_err::read_dir("/proc").unwrap().flatten() {
        if let Ok(r) = fs_err::read_link(e.path().join("root")) {
            assert!(!r.starts_with(root), "process {} runs inside {}", e.file_name().to_string_lossy(), root.display());
        }
    }
}

fn names(report: &serde_json::Value, action: &str) -> Vec<String> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == action)
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// What the manifests request (`packages` and `optional`): installed as manual, all else auto.
const REQUESTED: &[&str] = &["ntpsec", "ntpsec-ntpdate"];

const CLIENT: &[&str] = &["--role", "client", "--server", "192.0.2.10"];

/// The README's one step on a plain root with the default bundle: server, then the same
/// command again (nothing changes), then a switch to the cron client and back.
fn default_bundle_server_then_client(rel: Release) {
    let Some(n) = Node::new(rel, "plain") else { return };
    let bundle = n.build(None, &[]);
    let dry = n.install(&bundle, &["--role", "server", "--dry-run"]).unwrap();
    assert!(!n.installed("ntpsec"), "a dry run installs nothing");
    assert_eq!(dry["role"]["files"][0]["status"], "created", "{dry}");

    let before = n.dpkg_list();
    let packaged_conf = fs_err::read(n.root.join("etc/ntpsec/ntp.conf")).ok();
    assert!(packaged_conf.is_none(), "the plain root has no ntpsec yet");
    let r = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(n.installed("ntpsec") && n.installed("python3"), "{r}");
    let after_server = n.dpkg_list();
    let conf = fs_err::read_to_string(n.root.join("etc/ntpsec/ntp.conf")).unwrap();
    assert!(conf.contains("written by moa-bundle") && conf.contains("debian.pool.ntp.org"), "{conf}");
    n.assert_healthy(&r);
    assert!(!names(&r, "install").is_empty() && r["marked_auto"].as_array().is_some_and(|a| !a.is_empty()), "{r}");
    // The time zone is the node's own unless asked.
    assert!(r["role"].get("timezone").is_none(), "{r}");
    assert!(!n.root.join("etc/localtime.moa-bak").exists());

    let again = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(names(&again, "install").is_empty() && names(&again, "upgrade").is_empty(), "{again}");
    assert_eq!(again["role"]["changed"], false, "{again}");

    let c = n.install(&bundle, CLIENT).unwrap();
    let cron = fs_err::read_to_string(n.root.join("etc/cron.d/moa-ntpdate")).unwrap();
    assert!(cron.contains("192.0.2.10"), "{cron}");
    let stopped = c["role"]["steps"].as_array().unwrap().iter().any(|s| s["argv"].to_string().contains("\"ntpsec\""));
    assert!(stopped, "the cron client stops the package's own daemon: {c}");
    n.assert_healthy(&c);

    let back = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(!n.root.join("etc/cron.d/moa-ntpdate").exists(), "{back}");
    assert!(back["role"]["files"].as_array().unwrap().iter().any(|f| f["status"] == "removed"), "{back}");
    ledger_of_server_then_client(&n, &bundle, &before, &after_server, &cron);
}

/// The ledger those four installs left: one entry each, chained; the first one's packages are
/// exactly what `dpkg-query` says changed, its role file the one written (nothing was there
/// before the install); the cron file's content is kept when the server takes it back. An edited entry is
/// then named by `history --verify`, which exits 1.
fn ledger_of_server_then_client(
    n: &Node,
    bundle: &Path,
    before: &HashMap<String, String>,
    after: &HashMap<String, String>,
    cron: &str,
) {
    let o = n.cmd().args(["history", "--json", "--root"]).arg(&n.root).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h["intact"], true, "{h}");
    let e = h["entries"].as_array().unwrap();
    assert_eq!(e.len(), 4, "{h}");
    let sha = common::sha256_file(bundle);
    for (i, entry) in e.iter().enumerate() {
        assert_eq!(
            (entry["seq"].as_u64(), &entry["command"], &entry["result"]),
            (Some(i as u64 + 1), &"install".into(), &"ok".into())
        );
        assert_eq!(entry["bundle"]["sha256"], sha.as_str());
    }
    // Entry 1: every package dpkg now has that it did not, with its version; nothing else.
    let mut expected: Vec<(String, String)> =
        after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    expected.sort();
    let mut got: Vec<(String, String)> = e[0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["change"], "installed", "{p}");
            (p["name"].as_str().unwrap().to_string(), p["after"].as_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(e[0]["role"], "server");
    let files = e[0]["files"].as_array().unwrap();
    let conf = files.iter().find(|f| f["path"] == "/etc/ntpsec/ntp.conf").unwrap_or_else(|| panic!("{}", e[0]));
    // Before the install the root had no ntp.conf: that is the state undo puts back.
    let written = common::sha256_file(&n.root.join("etc/ntpsec/ntp.conf"));
    assert_eq!(conf["after"]["sha256"], written.as_str(), "{conf}");
    assert_eq!((&conf["before"]["type"], conf.get("kept")), (&"absent".into(), None), "{conf}");
    // Entry 2 changed nothing; entry 4 took the cron file back and kept its content.
    assert!(e[1].get("packages").is_none() && e[1].get("files").is_none(), "{}", e[1]);
    let cron_entry = e[3]["files"].as_array().unwrap().iter().find(|f| f["path"] == "/etc/cron.d/moa-ntpdate").unwrap();
    assert_eq!(cron_entry["after"]["type"], "absent");
    let cron_sha = common::sha256_hex(cron.as_bytes());
    assert_eq!(cron_entry["before"]["sha256"], cron_sha.as_str());
    assert_eq!(cron_entry["kept"], format!("/var/lib/moa-bundle/kept/{cron_sha}"));
    assert_eq!(fs_err::read_to_string(n.root.join(format!("var/lib/moa-bundle/kept/{cron_sha}"))).unwrap(), cron);

    let ledger = n.root.join("var/lib/moa-bundle/history.jsonl");
    let text = fs_err::read_to_string(&ledger).unwrap();
    fs_err::write(&ledger, text.replacen("\"seq\":2,", "\"seq\":2, ", 1)).unwrap();
    let o = n.cmd().args(["history", "--verify", "--root"]).arg(&n.root).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("entry 2 (line 2) was changed"), "{out}");
}

#[test]
fn bookworm_plain_root_default_bundle_server_then_client() {
    default_bundle_server_then_client(BOOKWORM);
}

#[test]
fn trixie_plain_root_default_bundle_server_then_client() {
    default_bundle_server_then_client(TRIXIE);
}

/// The one step, on a fresh copy of the root for each role: `install --role server`, and
/// `install --role client` (the cron client where the node has cron, else the daemon client);
/// each leaves a healthy node, and the same command again changes nothing. The plain root gets
/// the default bundle; the others a `probe` → `--target` bundle.
fn one_step_each_role(rel: Release, kind: &str) {
    let Some(n) = Node::new(rel, kind) else { return };
    let bundle = if kind == "plain" { n.build(None, &[]) } else { n.target_bundle() };
    let had_timesyncd = n.installed("systemd-timesyncd");
    let client: Vec<&str> = match n.root.join("usr/sbin/cron").exists() {
        true => CLIENT.to_vec(),
        false => [CLIENT, &["--client-mode", "daemon"]].concat(),
    };
    for (i, role) in [vec!["--role", "server"], client].into_iter().enumerate() {
        if i > 0 {
            n.reset();
        }
        let r = n.install(&bundle, &role).unwrap_or_else(|e| panic!("{kind} {role:?}: {e}"));
        assert!(n.installed("ntpsec"), "{kind} {role:?}: {r}");
        // ntpsec conflicts with and replaces the node's systemd-timesyncd.
        assert!(!n.installed("systemd-timesyncd"), "{kind} {role:?}: {r}");
        if had_timesyncd {
            assert_eq!(r["removes"][0]["name"], "systemd-timesyncd", "{r}");
        }
        n.assert_healthy(&r);
        // A root is not running: what starts at boot is set on disk (systemctl --root), the
        // daemon for the server and the daemon client, not for the cron client.
        let systemd = ["lib/systemd/systemd", "usr/lib/systemd/systemd"].iter().any(|p| n.root.join(p).exists());
        if systemd {
            let wants = n.root.join("etc/systemd/system/multi-user.target.wants/ntpsec.service");
            let cron = role.len() == CLIENT.len();
            assert_eq!(wants.symlink_metadata().is_ok(), !cron, "{kind} {role:?}: {}", r["role"]["steps"]);
        }
        let again = n.install(&bundle, &role).unwrap();
        assert!(names(&again, "install").is_empty() && names(&again, "upgrade").is_empty(), "{again}");
        assert_eq!(again["role"]["changed"], false, "{kind} {role:?}: {again}");
    }
}

#[test]
fn bookworm_plain_one_step_each_role() {
    one_step_each_role(BOOKWORM, "plain");
}

#[test]
fn trixie_plain_one_step_each_role() {
    one_step_each_role(TRIXIE, "plain");
}

#[test]
fn bookworm_minbase_one_step_each_role() {
    one_step_each_role(BOOKWORM, "minbase");
}

#[test]
fn bookworm_cron_one_step_each_role() {
    one_step_each_role(BOOKWORM, "cron");
}

#[test]
fn bookworm_timesyncd_one_step_each_role() {
    one_step_each_role(BOOKWORM, "timesyncd");
}

#[test]
fn trixie_minbase_one_step_each_role() {
    one_step_each_role(TRIXIE, "minbase");
}

#[test]
fn trixie_cron_one_step_each_role() {
    one_step_each_role(TRIXIE, "cron");
}

#[test]
fn trixie_timesyncd_one_step_each_role() {
    one_step_each_role(TRIXIE, "timesyncd");
}

/// minbase has no cron: the cron client is refused before the first package, naming the way
/// out.
#[test]
fn bookworm_minbase_refuses_the_cron_client_before_any_package() {
    let Some(n) = Node::new(BOOKWORM, "minbase") else { return };
    let bundle = n.target_bundle();
    let e = n.install(&bundle, CLIENT).unwrap_err();
    assert!(e.contains("no cron daemon") && e.contains("--client-mode daemon"), "{e}");
    assert!(!n.installed("ntpsec"), "refused before the first package");
}

/// A root with too little room: refused before anything changes, the node's own time daemon
/// still in place, and the error says what to do. The root lives on a small tmpfs mounted in a
/// private mount namespace (`unshare -m`), gone with the command.
#[test]
fn bookworm_full_disk_is_refused_before_anything_changes() {
    let Some(n) = Node::new(BOOKWORM, "timesyncd") else { return };
    common::require_tools(&["unshare", "du"]);
    let bundle = n.target_bundle();
    let used: u64 =
        run(Command::new("du").args(["-sk"]).arg(&n.root)).split_whitespace().next().unwrap().parse().unwrap();
    let small = n.tmp.path().join("small");
    fs_err::create_dir_all(&small).unwrap();
    let bin = env!("CARGO_BIN_EXE_moa-bundle");
    // Mount, copy the root in, install; then, whatever happened, what dpkg says.
    let script = format!(
        "mount -t tmpfs -o size={size}k tmpfs '{s}' && tar -C '{r}' -cf - . | tar -C '{s}' -xf - || exit 99; \
         XDG_CACHE_HOME='{c}' '{bin}' install '{b}' --root '{s}' --role server; st=$?; \
         chroot '{s}' dpkg-query -W -f '${{db:Status-Abbrev}} ${{Package}}\\n' systemd-timesyncd ntpsec 2>&1; exit $st",
        size = used + 8 * 1024,
        s = small.display(),
        r = n.root.display(),
        c = n.tmp.path().display(),
        b = bundle.display(),
    );
    let o = Command::new("unshare").args(["-m", "sh", "-c"]).arg(&script).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("MiB free") && out.contains("nothing was changed") && out.contains("Free space"), "{out}");
    assert!(out.contains("ii  systemd-timesyncd"), "timesyncd stays: {out}");
    assert!(!out.contains("ii  ntpsec"), "{out}");
}

/// The same one step through the bundle's install.sh, running the moa-bundle it carries.
#[test]
fn bookworm_install_sh_runs_the_moa_bundle_it_carries() {
    let Some(n) = Node::new(BOOKWORM, "plain") else { return };
    // This test's moa-bundle without debug info (a debug build is 250 MB to gzip).
    let binary = n.tmp.path().join("moa-bundle-for-nodes");
    run(Command::new("strip").arg("-o").arg(&binary).arg(env!("CARGO_BIN_EXE_moa-bundle")));
    let bundle = n.build(None, &["--installer", binary.to_str().unwrap()]);
    let unpacked = n.tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let script = fs_err::read_dir(&unpacked).unwrap().next().unwrap().unwrap().path().join("install.sh");
    let o = Command::new("sh")
        .arg(&script)
        .arg("--root")
        .arg(&n.root)
        .args(["--role", "server", "--json"])
        .env("XDG_CACHE_HOME", n.tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(n.installed("ntpsec"));
    n.assert_healthy(&r);
}

/// Without the binary (--no-binary: as where it cannot run), install.sh's dpkg alone, on a
/// root with cron: the root's own dpkg, chrooted, so its statoverride groups resolve.
#[test]
fn bookworm_install_sh_without_the_binary_runs_the_roots_dpkg() {
    let Some(c) = Node::new(BOOKWORM, "cron") else { return };
    let bundle = c.target_bundle();
    let unpacked = c.tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let script = fs_err::read_dir(&unpacked).unwrap().next().unwrap().unwrap().path().join("install.sh");
    let o = Command::new("sh").arg(&script).arg("--root").arg(&c.root).arg("--no-binary").output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(c.installed("ntpsec") && !c.root.join("usr/sbin/policy-rc.d").exists());
    assert_eq!(c.chroot_ok(&["dpkg", "--audit"]), "");
    assert_no_process_in(&c.root);
    let staged = fs_err::read_dir(c.root.join("var/cache")).unwrap().flatten();
    assert!(!staged.into_iter().any(|e| e.file_name().to_string_lossy().starts_with("moa-bundle-install")));
}

/// The same one step through `--via-repo`: the root's own apt-get, chrooted.
#[test]
fn bookworm_via_repo_installs_with_the_roots_apt() {
    let Some(m) = Node::new(BOOKWORM, "minbase") else { return };
    let bundle = m.target_bundle();
    let r = m.install(&bundle, &["--via-repo", "--role", "server"]).unwrap();
    assert!(m.installed("ntpsec"), "{r}");
    m.assert_healthy(&r);
}

/// A failure half-way: what replaces the node's daemon goes in last. A package among the
/// dependencies that cannot unpack (Python's /usr/lib/python3.11 made immutable) fails the
/// install before systemd-timesyncd is touched; ntpsec itself failing (its /etc/ntpsec
/// immutable) fails after the removal, and the error names what was removed and how to
/// recover. Once the obstacle is gone, the same command completes the install.
#[test]
fn bookworm_a_failed_install_removes_the_old_daemon_only_at_the_end() {
    let Some(n) = Node::new(BOOKWORM, "timesyncd") else { return };
    common::require_tools(&["chattr"]);
    let bundle = n.target_bundle();
    let e = {
        let _held = Immutable::dir(&n.root.join("usr/lib/python3.11"));
        n.install(&bundle, &["--role", "server"]).unwrap_err()
    };
    assert!(e.contains("python3.11") && !e.contains("had been removed"), "{e}");
    assert!(n.installed("systemd-timesyncd"), "the old daemon stays: {e}");

    let e = {
        let _held = Immutable::dir(&n.root.join("etc/ntpsec"));
        n.install(&bundle, &["--role", "server"]).unwrap_err()
    };
    assert!(e.contains("systemd-timesyncd had been removed") && e.contains("run this install again"), "{e}");
    assert!(n.installed("python3.11-minimal") && !n.installed("ntpsec"), "{e}");

    let r = n.install(&bundle, &["--role", "server"]).unwrap();
    assert!(n.installed("ntpsec") && !n.installed("systemd-timesyncd"), "{r}");
    n.assert_healthy(&r);
}

/// An empty directory nobody can write into (`chattr +i`) while this lives.
struct Immutable(PathBuf);

impl Immutable {
    fn dir(p: &Path) -> Immutable {
        fs_err::create_dir_all(p).unwrap();
        run(Command::new("chattr").arg("+i").arg(p));
        Immutable(p.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// A bundle written by an older moa-bundle (bundle.json schema 1, kept in
/// `tests/schema1-bundles/`) installs on a real node as one of today's does: both packages in
/// (the epoch of `hello` 2:2.10-3 and all), the dependency marked automatic, dpkg and apt
/// content, and again nothing to do.
#[test]
fn bookworm_a_schema_1_bundle_from_before_installs() {
    let Some(n) = Node::new(BOOKWORM, "minbase") else { return };
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema1-bundles/hello-snap-amd64.tar.gz");
    let bundle = n.tmp.path().join("schema1.tar.gz");
    fs_err::copy(&kept, &bundle).unwrap();
    let r = n.install(&bundle, &[]).unwrap();
    assert_eq!(names(&r, "install"), ["hello", "libgreet1"], "{r}");
    assert!(n.installed("hello") && n.installed("libgreet1"));
    let version = n.chroot_ok(&["dpkg-query", "-W", "-f", "${Version}", "hello"]);
    assert_eq!(version, "2:2.10-3");
    assert_eq!(n.chroot_ok(&["dpkg", "--audit"]), "", "dpkg --audit");
    n.chroot_ok(&["apt-get", "check", "-q"]);
    assert!(n.chroot_ok(&["apt-mark", "showauto"]).lines().any(|l| l == "libgreet1"));
    let again = n.install(&bundle, &[]).unwrap();
    assert!(names(&again, "install").is_empty() && names(&again, "upgrade").is_empty(), "{again}");
    assert_no_process_in(&n.root);
}

/// apt's rule for a conflict without Replaces, on the real plain root: a bundled package that
/// Conflicts with the node's ifupdown (Priority important, not Essential) and does not replace
/// it (bookworm's ifupdown-ng does that). apt-get, asked in the root, removes ifupdown; so does
/// moa-bundle: resolve notes it, install removes ifupdown with dpkg and then installs the
/// package, and the node is healthy. moa-bundle refused such a bundle before.
#[test]
fn bookworm_plain_a_package_the_bundle_conflicts_with_goes_as_apt_removes_it() {
    let Some(n) = Node::new(BOOKWORM, "plain") else { return };
    common::require_tools(&["dpkg-deb", "apt-ftparchive", "gpg"]);
    assert!(n.installed("ifupdown"), "the plain root has ifupdown");
    let debs = n.tmp.path().join("debs");
    let spec = common::DebSpec { name: "net-alt", extra: "Conflicts: ifupdown", ..Default::default() };
    let deb = common::build_deb(&debs, &spec);
    // apt-get's own answer, in the root, for the same .deb.
    fs_err::copy(&deb, n.root.join("tmp/net-alt.deb")).unwrap();
    let apt = n.chroot_ok(&["apt-get", "-s", "-o", "Debug::NoLocking=1", "install", "/tmp/net-alt.deb"]);
    assert!(apt.lines().any(|l| l.starts_with("Remv ifupdown")) && apt.contains("Inst net-alt"), "{apt}");
    fs_err::remove_file(n.root.join("tmp/net-alt.deb")).unwrap();

    let repo = n.tmp.path().join("repo");
    common::apt_repo(&repo, &[("stable", vec![deb])]);
    let mirror = Mirror::serve(&repo);
    let manifest = common::TestManifest::deb(&["net-alt"])
        .set("name", "t")
        .apt_repo("main", "stable", &mirror.url, common::Keys::Test)
        .write_to(&n.tmp.path().join("alt.toml"));
    let profile = n.tmp.path().join("node.json");
    n.cmd().args(["probe", "--root"]).arg(&n.root).arg("-o").arg(&profile).assert().success();
    let out = n.cmd().args(["resolve", "--json", "--manifest"]).arg(&manifest).arg("--target").arg(&profile).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packed: Vec<&str> = r["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(packed, ["net-alt"], "{r}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("removes ifupdown"), "{r}");

    let bundle = n.tmp.path().join("alt.tar.gz");
    let mut c = n.cmd();
    c.args(["build", "--manifest"]).arg(&manifest).arg("--target").arg(&profile).arg("-o").arg(&bundle);
    c.assert().success();
    let report = n.install(&bundle, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["removes"][0]["name"], "ifupdown", "{report}");
    assert!(n.installed("net-alt") && !n.installed("ifupdown"), "{report}");
    assert_eq!(n.chroot_ok(&["dpkg", "--audit"]), "", "dpkg --audit");
    n.chroot_ok(&["apt-get", "check", "-q"]);
    assert_no_process_in(&n.root);
}
