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

use super::debian_root::{assert_no_process_in, Node, Release, BOOKWORM, TRIXIE};
use crate::common::{run, Mirror};

fn names(report: &serde_json::Value, action: &str) -> Vec<String> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == action)
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

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
    // The carried binary wrote the ledger, and undoes the install through install.sh too.
    let sh = |args: &[&str]| {
        let o = Command::new("sh").arg(&script).args(args).arg("--root").arg(&n.root).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let h = sh(&["history", "--verify"]);
    assert!(h.contains("1 entry, chain intact"), "{h}");
    let u = sh(&["undo"]);
    assert!(u.contains("undid entry 1 (ledger entry 2)"), "{u}");
    assert!(!n.installed("ntpsec") && !n.installed("python3"), "{u}");
    assert_eq!(n.chroot_ok(&["dpkg", "--audit"]), "");
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
    // The ledger records what the root's apt did, read back from its dpkg database.
    let h = m.cmd().args(["history", "--json", "--root"]).arg(&m.root).output().unwrap();
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    let installed: Vec<&str> = h["entries"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["change"] == "installed")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(installed.contains(&"ntpsec") && installed.contains(&"python3"), "{h}");
    for name in &installed {
        assert!(m.installed(name), "{name}");
    }
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

    // The ledger has each try, the failed ones with their error and what they did change (as
    // dpkg's database says): the second one removed systemd-timesyncd.
    let h = n.cmd().args(["history", "--json", "--root"]).arg(&n.root).output().unwrap();
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    let e = h["entries"].as_array().unwrap();
    let results: Vec<&str> = e.iter().map(|e| e["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["failed", "failed", "ok"], "{h}");
    assert!(e[0]["error"].as_str().unwrap().contains("python3.11"), "{}", e[0]);
    let changed = |i: usize, name: &str| {
        e[i]["packages"].as_array().into_iter().flatten().find(|p| p["name"] == name).map(|p| p["change"].clone())
    };
    assert_eq!(changed(0, "systemd-timesyncd"), None, "{}", e[0]);
    assert_eq!(changed(1, "systemd-timesyncd"), Some("removed".into()), "{}", e[1]);
    assert_eq!(changed(2, "ntpsec"), Some("installed".into()), "{}", e[2]);
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
