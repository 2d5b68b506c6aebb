//! The roles through the real binary: a yum repository (rpmbuild + createrepo_c on 127.0.0.1)
//! holds stand-ins for CentOS 7's ntp, ntpdate, tzdata and cronie; the manifest carries the
//! built-in centos7 `[time]` section; `build` packs `roles/`; `install --role server` installs
//! into a throwaway root (`rpm --noscripts`) and configures it; `configure` switches roles and
//! detects the distro of a root from its os-release. Service actions are printed, never run
//! (`--root`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fake_os_release, moa, require_tools, run, Mirror, CENTOS_DEFAULT_CONF};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c"];

fn setup(tmp: &Path) -> (Mirror, PathBuf, Vec<PathBuf>) {
    common::ntp_el_repo(tmp)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn install_role_server_then_configure_client_on_a_centos_root() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, manifest, base) = setup(t);
    let out = t.join("out");
    moa(t).arg("build").arg("--manifest").arg(&manifest).arg("-o").arg(&out).assert().success();
    let bundle = out.join("ntp-eltest-x86_64.tar.gz");

    // The bundle carries the role templates, covered by SHA256SUMS.
    let list = run(Command::new("tar").arg("-tzf").arg(&bundle));
    for f in ["roles/cron.j2", "roles/ntp/server.conf.j2", "roles/ntp/client.conf.j2"] {
        assert!(list.lines().any(|l| l == format!("ntp-eltest-x86_64/{f}")), "{f} not in:\n{list}");
    }
    let sums = run(Command::new("tar").arg("-xzOf").arg(&bundle).arg("ntp-eltest-x86_64/SHA256SUMS"));
    assert!(sums.contains("  roles/ntp/server.conf.j2\n"), "{sums}");

    // A CentOS 7 root with the base.
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    common::rpm_into(&root, &base);

    // A wrong flag is refused before anything is installed.
    let bad = moa(t)
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--role", "client"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--server HOST"));
    assert!(!root.join("usr/sbin/ntpd").exists(), "nothing installed before the role's flags were checked");

    let install = |extra: &[&str]| {
        moa(t)
            .arg("install")
            .arg(&bundle)
            .arg("--root")
            .arg(&root)
            .args(["--no-scripts", "--json", "--role", "server", "--allow", "192.168.1.0/24"])
            .args(extra)
            .output()
            .unwrap()
    };
    let r = json(&install(&[]));
    assert!(root.join("usr/sbin/ntpd").exists());
    let conf = fs_err::read_to_string(root.join("etc/ntp.conf")).unwrap();
    assert!(conf.contains("\nrestrict 192.168.1.0 mask 255.255.255.0 nomodify notrap\n"), "{conf}");
    assert!(conf.contains("\nserver 0.centos.pool.ntp.org iburst\n"));
    assert!(conf.ends_with("\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n"), "{conf}");
    // The package's own file is the backup.
    assert_eq!(fs_err::read_to_string(root.join("etc/ntp.conf.moa-bak")).unwrap(), format!("{CENTOS_DEFAULT_CONF}\n"));
    assert_eq!(
        fs_err::read_link(root.join("etc/localtime")).unwrap(),
        Path::new("../usr/share/zoneinfo/Asia/Shanghai")
    );
    let role = &r["role"];
    assert_eq!(role["changed"], true);
    let steps: Vec<&str> = role["steps"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert!(!steps.is_empty() && steps.iter().all(|s| *s == "skipped (--root)"), "{steps:?}");

    // Again: packages skipped, files unchanged.
    let again = json(&install(&[]));
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["action"] == "skip"));
    assert_eq!(again["role"]["changed"], false);
    assert!(again["role"]["files"].as_array().unwrap().iter().all(|f| f["status"] == "unchanged"));

    // configure detects centos7 from the root's os-release and switches it to a cron client.
    let dry = moa(t)
        .args(["configure", "--role", "client", "--server", "10.0.0.5", "--dry-run", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains("role client, cron mode for centos7"), "{text}");
    assert!(text.contains("+0 * * * * root /usr/sbin/ntpdate -u 10.0.0.5 2>&1 | logger -t moa-ntpdate"), "{text}");
    assert!(text.contains("would run     /usr/sbin/ntpdate -u 10.0.0.5"), "{text}");
    assert!(!root.join("etc/cron.d/moa-ntpdate").exists(), "dry run wrote nothing");

    let c = json(
        &moa(t)
            .args(["configure", "--role", "client", "--server", "10.0.0.5", "--json", "--bundle"])
            .arg(&bundle)
            .arg("--root")
            .arg(&root)
            .output()
            .unwrap(),
    );
    assert_eq!(c["files"][0]["node_path"], "/etc/cron.d/moa-ntpdate");
    assert_eq!(c["files"][0]["status"], "created");
    let cron = fs_err::read_to_string(root.join("etc/cron.d/moa-ntpdate")).unwrap();
    assert!(cron.lines().any(|l| l == "0 * * * * root /usr/sbin/ntpdate -u 10.0.0.5 2>&1 | logger -t moa-ntpdate"));
    // The base's own cron file is untouched; the time zone was already right.
    assert!(root.join("etc/cron.d/0hourly").exists());
    assert_eq!(c["files"][1]["status"], "unchanged");

    // The ledger, as people read it: the install (its packages from rpm's database; ntp.conf
    // as it was before the install: none), the re-run, the configure from the bundle.
    let h = moa(t).args(["history", "--root"]).arg(&root).output().unwrap();
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(h.status.success(), "{text}{}", String::from_utf8_lossy(&h.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let starts = |i: usize, verb: &str| {
        lines.iter().position(|l| l.trim_start().starts_with(&format!("{i} ")) && l.contains(verb))
    };
    let (one, three) = (
        starts(1, " install ntp-eltest-x86_64.tar.gz --role server  ok"),
        starts(3, " configure ntp-eltest-x86_64.tar.gz --role client  ok"),
    );
    assert!(one.is_some() && three.is_some() && starts(2, " install ").is_some(), "{text}");
    let first = lines[one.unwrap()..three.unwrap()].join("\n");
    assert!(first.contains("installed   ntp:x86_64 4.2.6p5-1"), "{first}");
    assert!(first.lines().any(|l| l.trim() == "created     /etc/ntp.conf"), "{first}");
    assert!(lines[three.unwrap()..].iter().any(|l| l.trim() == "created     /etc/cron.d/moa-ntpdate"), "{text}");
    assert!(
        text.trim_end().ends_with(&format!(
            "ledger {}: 3 entries, chain intact",
            root.join("var/lib/moa-bundle/history.jsonl").display()
        )),
        "{text}"
    );

    // Undo takes the configure back: the cron file goes, the rest stays as the install left it.
    let conf_before = fs_err::read(root.join("etc/ntp.conf")).unwrap();
    let u = moa(t).args(["undo", "--no-scripts", "--root"]).arg(&root).output().unwrap();
    let out = String::from_utf8_lossy(&u.stdout);
    assert!(u.status.success(), "{out}{}", String::from_utf8_lossy(&u.stderr));
    assert!(
        out.contains("put back  /etc/cron.d/moa-ntpdate: removed (it was not there)") && out.contains("undid entry 3"),
        "{out}"
    );
    assert!(!root.join("etc/cron.d/moa-ntpdate").exists());
    assert_eq!(fs_err::read(root.join("etc/ntp.conf")).unwrap(), conf_before);
    assert!(root.join("usr/sbin/ntpd").exists(), "the install is not undone: it was not asked");
}

#[test]
fn configure_detects_ubuntu_and_refuses_a_node_no_manifest_is_for() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fake_os_release(&root, "ubuntu", "16.04");
    fs_err::create_dir_all(root.join("usr/share/zoneinfo/Asia")).unwrap();
    fs_err::write(root.join("usr/share/zoneinfo/Asia/Shanghai"), "TZif2").unwrap();
    fs_err::write(root.join("etc/timezone"), "Etc/UTC\n").unwrap();
    let r = json(
        &moa(tmp.path())
            .args(["configure", "--role", "client", "--client-mode", "daemon", "--server", "ntp1.moa.local", "--json"])
            .arg("--root")
            .arg(&root)
            .output()
            .unwrap(),
    );
    assert_eq!(r["distro"], "ubuntu1604");
    assert_eq!(fs_err::read_to_string(root.join("etc/timezone")).unwrap(), "Asia/Shanghai\n");
    assert_eq!(fs_err::read_to_string(root.join("etc/timezone.moa-bak")).unwrap(), "Etc/UTC\n");
    let conf = fs_err::read_to_string(root.join("etc/ntp.conf")).unwrap();
    assert!(
        conf.contains("\nserver ntp1.moa.local iburst prefer\n") && conf.contains("/var/lib/ntp/ntp.drift"),
        "{conf}"
    );

    // A root no built-in manifest is for: the error names what it found and the way out.
    fake_os_release(&root, "fedora", "40");
    let out = moa(tmp.path()).args(["configure", "--role", "server", "--root"]).arg(&root).output().unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("fedora 40") && e.contains("--distro") && e.contains("centos7"), "{e}");
}

#[test]
fn configure_on_this_system_as_a_normal_user_is_refused_before_anything() {
    require_tools(&["setpriv"]);
    if !common::running_as_root("to switch to an unprivileged user") {
        return;
    }
    // The real / as user nobody: the refusal must come first, so nothing is even attempted.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("moa-bundle"))
        .args(["configure", "--role", "server", "--distro", "centos7"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run as root") && err.contains("--dry-run"), "{err}");
}

/// `configure` by a user who cannot write the node's /etc is refused before the first write,
/// naming the directory (it failed half-way, at write time, before).
#[test]
fn configure_without_the_right_to_write_changes_nothing() {
    require_tools(&["setpriv"]);
    if !common::running_as_root("switching to the nobody user") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("node");
    for d in ["etc/ntpsec", "etc/cron.d", "usr/share/zoneinfo"] {
        fs_err::create_dir_all(root.join(d)).unwrap();
    }
    fs_err::write(root.join("usr/share/zoneinfo/UTC"), "TZif2").unwrap();
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(tmp.path()));
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", env!("CARGO_BIN_EXE_moa-bundle")])
        .args(["configure", "--distro", "debian12", "--role", "server", "--timezone", "UTC", "--root"])
        .arg(&root)
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot be written by this user") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(fs_err::read_dir(root.join("etc/ntpsec")).unwrap().count(), 0);
    assert!(root.join("etc/localtime").symlink_metadata().is_err());
}
