//! Real Debian roots for the node tests: made by `debootstrap` from the Debian archive
//! (`scripts/test-roots.sh`, cached outside the clone, linked as `target/test-roots`), and a
//! loopback mirror of the release's real, Debian-signed index and real pool files. A [`Node`]
//! is one test's fresh copy of a root with its mirror and manifest; maintainer scripts run
//! chrooted there, no service starts.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common::{moa, run, Mirror};

#[derive(Clone, Copy)]
pub(crate) struct Release {
    pub(crate) code: &'static str,
    pub(crate) distro: &'static str,
}

pub(crate) const BOOKWORM: Release = Release { code: "bookworm", distro: "debian12" };
pub(crate) const TRIXIE: Release = Release { code: "trixie", distro: "debian13" };

/// `target/test-roots`, made by `scripts/test-roots.sh` (which the README's test command runs).
pub(crate) fn roots() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-roots");
    let ready = dir.join("bookworm-mirror/.complete").is_file() && dir.join("trixie-mirror/.complete").is_file();
    if !ready {
        common::skip("real_nodes", "no debootstrap roots: run scripts/test-roots.sh (scripts/test.sh does)");
        return None;
    }
    Some(dir)
}

/// One test's world: a temp directory, the release's mirror, the test manifest.
pub(crate) struct Node {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) tar: PathBuf,
    pub(crate) manifest: PathBuf,
    pub(crate) mirror: Mirror,
}

impl Node {
    /// A fresh copy of root `kind` of `rel`.
    pub(crate) fn new(rel: Release, kind: &str) -> Option<Node> {
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

    /// The undo slice (`scripts/test-roots.sh`): the plain bookworm root with systemd-timesyncd,
    /// the archive with bookworm-updates and bookworm-security as it was that moment, and the
    /// shipped debian12 manifest (both repositories, their real keys) that also asks for
    /// libssl3, which the security suite upgrades, and for `more` (the slice has nginx).
    pub(crate) fn undo_slice(more: &[&str]) -> Option<Node> {
        let roots = roots()?;
        let (tar, mirror) = (roots.join("bookworm-undo.tar"), roots.join("bookworm-undo-mirror"));
        if !mirror.join(".complete-2").is_file() || !tar.is_file() {
            common::skip("real_undo", "no undo slice: run scripts/test-roots.sh (scripts/test.sh does)");
            return None;
        }
        if !common::running_as_root("chroot and device nodes in the unpacked roots") {
            return None;
        }
        let tmp = tempfile::Builder::new().prefix("moa-node-").tempdir_in(scratch()).unwrap();
        let root = tmp.path().join("root");
        unpack(&tar, &root);
        let project = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = fs_err::read_to_string(project.join("manifests/debian12.toml")).unwrap();
        let asked: String = more.iter().map(|p| format!(", \"{p}\"")).collect();
        let text = text.replace("packages = [\"ntpsec\"]", &format!("packages = [\"ntpsec\", \"libssl3\"{asked}]"));
        assert!(text.contains("\"libssl3\"") && text.contains("bookworm-security"), "{text}");
        copy_keys(tmp.path());
        let manifest = tmp.path().join("debian12.toml");
        fs_err::write(&manifest, text).unwrap();
        let mirror = Mirror::serve(&mirror);
        Some(Node { tmp, root, tar, manifest, mirror })
    }

    /// `build` of the undo slice's manifest `--target` `profile` into `out`, which must succeed.
    pub(crate) fn build_slice(&self, profile: &Path, out: &Path, extra: &[&str]) -> PathBuf {
        let o = self
            .cmd()
            .args(["build", "--manifest"])
            .arg(&self.manifest)
            .args(self.undo_mirrors())
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

    /// The mirror flags of [`Node::undo_slice`]'s two repositories.
    pub(crate) fn undo_mirrors(&self) -> [String; 4] {
        let url = &self.mirror.url;
        let url = url.trim_end_matches('/');
        [
            "--mirror".into(),
            format!("debian={url}/debian"),
            "--mirror".into(),
            format!("security={url}/debian-security"),
        ]
    }

    /// The root as debootstrap made it again (everything installed since, gone).
    pub(crate) fn reset(&self) {
        fs_err::remove_dir_all(&self.root).unwrap();
        unpack(&self.tar, &self.root);
    }

    pub(crate) fn cmd(&self) -> assert_cmd::Command {
        moa(self.tmp.path())
    }

    /// `build` (against `profile` when given), which must succeed: the bundle, in this test's
    /// directory. Builds are reproducible (`two_builds_are_byte_identical`, the snapshot of the
    /// bundles' sha256), so the same manifest, profile and flags make the same bytes: each
    /// distinct build runs once per process, and later tests get a copy of its bundle.
    pub(crate) fn build(&self, profile: Option<&Path>, extra: &[&str]) -> PathBuf {
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

    pub(crate) fn run_build(&self, profile: Option<&Path>, extra: &[&str], out: &Path) {
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
    pub(crate) fn target_bundle(&self) -> PathBuf {
        let profile = self.tmp.path().join("node.json");
        self.cmd().args(["probe", "--root"]).arg(&self.root).arg("-o").arg(&profile).assert().success();
        self.build(Some(&profile), &[])
    }

    /// `install BUNDLE --root ROOT --json ARGS`: the report, or the error output.
    pub(crate) fn install(&self, bundle: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
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

    pub(crate) fn chroot(&self, args: &[&str]) -> std::process::Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap()
    }

    pub(crate) fn chroot_ok(&self, args: &[&str]) -> String {
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
    pub(crate) fn dpkg_list(&self) -> HashMap<String, String> {
        let o = self.chroot_ok(&["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n"]);
        o.lines()
            .filter(|l| l.ends_with("ii "))
            .filter_map(|l| {
                l.split_once(' ').map(|(n, rest)| (n.to_string(), rest.split(' ').next().unwrap().to_string()))
            })
            .collect()
    }

    pub(crate) fn installed(&self, name: &str) -> bool {
        let o = self.chroot(&["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name]);
        String::from_utf8_lossy(&o.stdout).trim() == "ii"
    }

    /// What a healthy node says afterwards: dpkg has nothing half-done, apt sees every
    /// dependency met, the dependencies the install reported are automatic and the requested
    /// packages manual, and no process runs inside the root.
    pub(crate) fn assert_healthy(&self, report: &serde_json::Value) {
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
pub(crate) fn build_cache() -> &'static Path {
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
pub(crate) struct BuildKey {
    manifest: Vec<u8>,
    profile: Option<Vec<u8>>,
    extra: Vec<String>,
}

/// The bundle `build` makes for `key`: made by the first test that asks (the others asking for
/// the same wait for it), then kept for the process.
pub(crate) fn once_per_process(key: BuildKey, build: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
    type Built = Arc<OnceLock<Arc<Vec<u8>>>>;
    static BUILT: OnceLock<Mutex<HashMap<BuildKey, Built>>> = OnceLock::new();
    let slot = BUILT.get_or_init(Mutex::default).lock().unwrap().entry(key).or_default().clone();
    slot.get_or_init(|| Arc::new(build())).clone()
}

/// The shipped manifest of the release with only its main suite (the roots are plain releases,
/// without updates) and its real pinned keys.
pub(crate) fn test_manifest(rel: Release, dir: &Path) -> PathBuf {
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
    copy_keys(dir);
    let p = dir.join(format!("{}.toml", rel.distro));
    fs_err::write(&p, out).unwrap();
    p
}

/// The shipped manifests' keys, beside a manifest written in `dir`.
fn copy_keys(dir: &Path) {
    let keys = dir.join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    for e in fs_err::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/keys")).unwrap() {
        let e = e.unwrap();
        fs_err::copy(e.path(), keys.join(e.file_name())).unwrap();
    }
}

/// Where the roots are unpacked: `/dev/shm` when it is a tmpfs that allows devices and
/// executables (a root is 300 MB in 10k files: unpacking it there takes 0.3 s against 2.5 s on
/// this machine's disk, where the kernel's file creation was a fifth of this binary's time),
/// else the usual temp directory.
pub(crate) fn scratch() -> PathBuf {
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

pub(crate) fn unpack(tar: &Path, into: &Path) {
    fs_err::create_dir_all(into).unwrap();
    run(Command::new("tar").arg("--numeric-owner").arg("-xf").arg(tar).arg("-C").arg(into));
}

/// No process on this machine has its root inside `root`: nothing the install ran was left
/// running (a daemon started from the chroot would run on this machine).
pub(crate) fn assert_no_process_in(root: &Path) {
    for e in fs_err::read_dir("/proc").unwrap().flatten() {
        if let Ok(r) = fs_err::read_link(e.path().join("root")) {
            assert!(!r.starts_with(root), "process {} runs inside {}", e.file_name().to_string_lossy(), root.display());
        }
    }
}

/// What the manifests request (`packages` and `optional`): installed as manual, all else auto.
pub(crate) const REQUESTED: &[&str] = &["ntpsec", "ntpsec-ntpdate"];
