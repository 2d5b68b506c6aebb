//! Roles on temporary roots: the exact files for centos7 and ubuntu1604, backups, idempotence,
//! `--dry-run`, and refusals. Expected files are written out by hand from the runbook and ntp.conf(5).

use super::*;
use moa_model::manifest::Manifest;

const V: &str = env!("CARGO_PKG_VERSION");

/// A node root with what the roles look for: /etc, a zone file, cron.d, the sync tool.
fn node(distro_files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for dir in ["etc/cron.d", "usr/share/zoneinfo/Asia", "usr/share/zoneinfo/Europe", "usr/sbin"] {
        fs_err::create_dir_all(d.path().join(dir)).unwrap();
    }
    for z in ["Asia/Shanghai", "Europe/Berlin", "UTC"] {
        fs_err::write(d.path().join("usr/share/zoneinfo").join(z), b"TZif2 fake zone").unwrap();
    }
    // A cron daemon: the cron client's sync only runs where one reads /etc/cron.d.
    fs_err::write(d.path().join("usr/sbin/cron"), "x").unwrap();
    for f in distro_files {
        fs_err::write(d.path().join(f.trim_start_matches('/')), "x").unwrap();
    }
    d
}

fn opts(root: &Path, role: Role) -> RoleOptions {
    RoleOptions {
        role,
        upstream: vec![],
        allow: vec![],
        server: None,
        client_mode: None,
        timezone: None,
        root: root.to_path_buf(),
        dry_run: false,
        incoming: vec![],
    }
}

fn run(distro: &str, o: &RoleOptions) -> Result<RoleReport, RoleError> {
    let m = Manifest::builtin(distro).unwrap();
    let time = m.time.clone().unwrap();
    let templates = Templates::builtin(time.flavor);
    apply(&RoleSource { distro, time: &time, templates: &templates }, o)
}

fn read(root: &Path, p: &str) -> String {
    fs_err::read_to_string(root.join(p.trim_start_matches('/'))).unwrap()
}

#[test]
fn centos7_server_writes_the_runbooks_config_without_prefer() {
    let n = node(&[]);
    fs_err::write(n.path().join("etc/ntp.conf"), "# CentOS default\nserver 0.centos.pool.ntp.org iburst\n").unwrap();
    let mut o = opts(n.path(), Role::Server);
    o.allow = vec![Network::new("192.168.1.0/24").unwrap()];
    let r = run("centos7", &o).unwrap();
    let expected = format!(
        "# /etc/ntp.conf: the moa time server (role: server), written by moa-bundle {V} for centos7.
# `moa-bundle configure --role server` rewrites it; the file it first replaced is /etc/ntp.conf.moa-bak.

driftfile /var/lib/ntp/drift

# Anyone may ask for the time; nobody may change this server, peer with it or query its state.
restrict default nomodify notrap nopeer noquery
restrict -6 default nomodify notrap nopeer noquery
# This host may query and control it (ntpq -p, moa-bundle check).
restrict 127.0.0.1
restrict -6 ::1
# --allow 192.168.1.0/24: may query (ntpq), may not modify.
restrict 192.168.1.0 mask 255.255.255.0 nomodify notrap

# Upstream time sources.
server 0.centos.pool.ntp.org iburst
server 1.centos.pool.ntp.org iburst
server 2.centos.pool.ntp.org iburst
server 3.centos.pool.ntp.org iburst

# When every upstream is unreachable, serve the local clock at stratum 10 so the
# cluster keeps one time. No `prefer` here: with it ntpd follows its own clock even while an
# upstream server answers (`ntpq -p` then shows `*LOCAL(0)`).
server 127.127.1.0
fudge 127.127.1.0 stratum 10
"
    );
    assert_eq!(read(n.path(), "/etc/ntp.conf"), expected);
    // The local clock is never preferred (the seed's mistake).
    assert!(!expected.lines().any(|l| l.starts_with("server 127.127.1.0") && l.contains("prefer")));
    assert_eq!(read(n.path(), "/etc/ntp.conf.moa-bak"), "# CentOS default\nserver 0.centos.pool.ntp.org iburst\n");
    let link = fs_err::read_link(n.path().join("etc/localtime")).unwrap();
    assert_eq!(link, Path::new("../usr/share/zoneinfo/Asia/Shanghai"));
    // CentOS keeps no /etc/timezone.
    assert!(!n.path().join("etc/timezone").exists());
    assert_eq!(r.files.iter().map(|f| f.status).collect::<Vec<_>>(), [FileStatus::Changed, FileStatus::Created]);
    // chronyd stopped and disabled, ntpd enabled and restarted; not run under --root.
    let cmds: Vec<String> = r.steps.iter().map(|s| s.step.command_line()).collect();
    if r.init == "systemd" {
        assert_eq!(
            cmds,
            [
                "systemctl disable --now chronyd",
                "systemctl enable ntpd",
                "systemctl restart ntpd",
                "timedatectl set-timezone Asia/Shanghai"
            ]
        );
    } else {
        assert_eq!(cmds, ["service chronyd stop", "service ntpd restart"]);
    }
    assert!(r.steps.iter().all(|s| s.status == "skipped (--root)"), "{:?}", r.steps);
}

#[test]
fn second_run_changes_nothing_and_keeps_the_first_backup() {
    let n = node(&[]);
    fs_err::write(n.path().join("etc/ntp.conf"), "original\n").unwrap();
    let o = opts(n.path(), Role::Server);
    let first = run("centos7", &o).unwrap();
    assert!(first.changed);
    let written = read(n.path(), "/etc/ntp.conf");
    let second = run("centos7", &o).unwrap();
    assert!(!second.changed, "{:?}", second.files);
    assert!(second.files.iter().all(|f| f.status == FileStatus::Unchanged && f.diff.is_empty()));
    // No restart when the configuration did not change: a plain start (a no-op when running).
    let cmds: Vec<String> = second.steps.iter().map(|s| s.step.command_line()).collect();
    assert!(!cmds.iter().any(|c| c.contains("restart") || c.contains("timedatectl")), "{cmds:?}");
    // A third run with another upstream changes the file, but the backup stays the original.
    let mut o3 = o.clone();
    o3.upstream = vec![Host::new("10.0.0.1").unwrap()];
    run("centos7", &o3).unwrap();
    assert_eq!(read(n.path(), "/etc/ntp.conf.moa-bak"), "original\n");
    assert_ne!(read(n.path(), "/etc/ntp.conf"), written);
    assert!(read(n.path(), "/etc/ntp.conf").contains("\nserver 10.0.0.1 iburst\n"));
    assert!(!read(n.path(), "/etc/ntp.conf").contains("pool.ntp.org"));
}

#[test]
fn dry_run_shows_a_diff_and_writes_nothing() {
    let n = node(&[]);
    fs_err::write(n.path().join("etc/ntp.conf"), "server 127.127.1.0 prefer\n").unwrap();
    let mut o = opts(n.path(), Role::Server);
    o.dry_run = true;
    let r = run("centos7", &o).unwrap();
    assert!(r.changed);
    let d = &r.files[0].diff;
    assert!(d.starts_with("--- /etc/ntp.conf\n+++ /etc/ntp.conf\n"), "{d}");
    assert!(d.contains("\n-server 127.127.1.0 prefer\n") && d.contains("\n+fudge 127.127.1.0 stratum 10\n"), "{d}");
    assert!(r.files[1].diff.contains("+-> ../usr/share/zoneinfo/Asia/Shanghai"), "{}", r.files[1].diff);
    assert_eq!(read(n.path(), "/etc/ntp.conf"), "server 127.127.1.0 prefer\n");
    assert!(!n.path().join("etc/ntp.conf.moa-bak").exists() && !n.path().join("etc/localtime").exists());
    assert!(r.steps.iter().all(|s| s.status == "would run"));
}

#[test]
fn ubuntu1604_client_cron_writes_cron_d_and_etc_timezone() {
    let n = node(&["/usr/sbin/ntpdate"]);
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("192.168.1.10").unwrap());
    o.timezone = Some(ZoneName::new("Europe/Berlin").unwrap());
    let r = run("ubuntu1604", &o).unwrap();
    assert_eq!(
        read(n.path(), CRON_FILE),
        format!(
            "# /etc/cron.d/moa-ntpdate: a moa time client (role: client), written by moa-bundle {V} for ubuntu1604.
# Sets this host's clock from the moa time server 192.168.1.10 at the top of every hour.
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
0 * * * * root /usr/sbin/ntpdate -u 192.168.1.10 2>&1 | logger -t moa-ntpdate
"
        )
    );
    // cron.d runs files that are 0644 and owned by root; group/other-writable ones are ignored.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(n.path().join("etc/cron.d/moa-ntpdate")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(read(n.path(), "/etc/timezone"), "Europe/Berlin\n");
    assert_eq!(
        fs_err::read_link(n.path().join("etc/localtime")).unwrap(),
        Path::new("../usr/share/zoneinfo/Europe/Berlin")
    );
    // The client does not touch ntp.conf in cron mode; it syncs once now.
    assert!(!n.path().join("etc/ntp.conf").exists());
    let now: Vec<String> = r.steps.iter().map(|s| s.step.command_line()).collect();
    // First the daemons that would fight over the clock stop: the distro's and the package's
    // own ntpd (its package started it with the distro's pool), then one sync.
    assert!(now[..now.len() - 1].iter().any(|c| c.ends_with(" ntp stop")), "{now:?}");
    assert_eq!(now.last().unwrap(), "/usr/sbin/ntpdate -u 192.168.1.10");
}

#[test]
fn ubuntu1604_daemon_client_follows_only_the_server() {
    let n = node(&[]);
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("ntp1.moa.local").unwrap());
    o.client_mode = Some(ClientMode::Daemon);
    let r = run("ubuntu1604", &o).unwrap();
    let conf = read(n.path(), "/etc/ntp.conf");
    let servers: Vec<&str> = conf.lines().filter(|l| l.starts_with("server") || l.starts_with("pool")).collect();
    assert_eq!(servers, ["server ntp1.moa.local iburst prefer"]);
    assert!(conf.contains("driftfile /var/lib/ntp/ntp.drift\n"));
    let cmds: Vec<String> = r.steps.iter().map(|s| s.step.command_line()).collect();
    let has = |w: &str| cmds.iter().any(|c| c.split(" ").any(|x| x == w));
    assert!(has("ntp") && has("systemd-timesyncd") && !has("ntpd"), "{cmds:?}");
}

#[test]
fn refusals_name_the_problem_before_anything_is_written() {
    let n = node(&[]);
    // Client without --server.
    let e = run("centos7", &opts(n.path(), Role::Client)).unwrap_err();
    assert!(e.to_string().contains("--server HOST"), "{e}");
    // Cron client without ntpdate in the root.
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.0.0.1").unwrap());
    let e = run("centos7", &o).unwrap_err().to_string();
    assert!(e.contains("usr/sbin/ntpdate") && e.contains("--client-mode daemon"), "{e}");
    // Unknown zone.
    let mut o = opts(n.path(), Role::Server);
    o.timezone = Some(ZoneName::new("Mars/Olympus").unwrap());
    let e = run("centos7", &o).unwrap_err().to_string();
    assert!(e.contains("Mars/Olympus") && e.contains("zoneinfo"), "{e}");
    // --upstream/--allow for a client, --server for a server.
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.0.0.1").unwrap());
    o.allow = vec![Network::new("10.0.0.0/8").unwrap()];
    assert!(run("centos7", &o).unwrap_err().to_string().contains("--allow"));
    let mut o = opts(n.path(), Role::Server);
    o.server = Some(Host::new("10.0.0.1").unwrap());
    assert!(run("centos7", &o).unwrap_err().to_string().contains("--upstream"));
    // None of that wrote a file.
    assert!(fs_err::read_dir(n.path().join("etc")).unwrap().all(|e| e.unwrap().file_name() == "cron.d"));
    // No cron.d: say what to install.
    fs_err::remove_dir(n.path().join("etc/cron.d")).unwrap();
    fs_err::write(n.path().join("usr/sbin/ntpdate"), "").unwrap();
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.0.0.1").unwrap());
    let e = run("centos7", &o).unwrap_err().to_string();
    assert!(e.contains("cron.d") && e.contains("cronie"), "{e}");
}

#[test]
fn ntpsec_server_uses_orphan_mode_instead_of_the_local_driver() {
    let time: TimeSpec = serde_json::from_value(serde_json::json!({
        "flavor": "ntpsec",
        "service": "ntpsec",
        "config": "/etc/ntpsec/ntp.conf",
        "driftfile": "/var/lib/ntpsec/ntp.drift",
        "upstream": ["0.debian.pool.ntp.org"],
        "sync_command": "/usr/sbin/ntpdate -u",
        "timezone_file": true,
        "timezone": "UTC",
        "orphan_wait": 30,
    }))
    .unwrap();
    let n = node(&[]);
    fs_err::create_dir_all(n.path().join("etc/ntpsec")).unwrap();
    let mut o = opts(n.path(), Role::Server);
    o.allow = vec![Network::new("fd00::/8").unwrap()];
    let templates = Templates::builtin(time.flavor);
    apply(&RoleSource { distro: "debian12", time: &time, templates: &templates }, &o).unwrap();
    let conf = read(n.path(), "/etc/ntpsec/ntp.conf");
    assert!(conf.ends_with("\ntos orphan 10 orphanwait 30\n"), "{conf}");
    assert!(!conf.contains("127.127.1.0"), "ntpsec has no local-clock driver");
    assert!(conf.contains("\nrestrict fd00:: mask ff00:: nomodify\n"), "{conf}");
    assert!(conf.contains("\nserver 0.debian.pool.ntp.org iburst\n"), "{conf}");
}

#[test]
fn a_template_typo_is_an_error_not_a_missing_line() {
    let mut t = Templates::builtin(moa_model::manifest::TimeFlavor::Ntp);
    t.files.insert("ntp/server.conf.j2".into(), "server {{ upstreem }}\n".into());
    let m = Manifest::builtin("centos7").unwrap();
    let time = m.time.unwrap();
    let n = node(&[]);
    let e = apply(&RoleSource { distro: "centos7", time: &time, templates: &t }, &opts(n.path(), Role::Server))
        .unwrap_err()
        .to_string();
    assert!(e.contains("upstreem") || e.contains("undefined"), "{e}");
}

/// Regression (issue 9): a bundle's `[time].config` of `../../x` overwrote a file outside
/// `--root`. Paths are validated types now, and every write is resolved inside the root.
#[test]
fn writes_stay_inside_the_root_whatever_its_links_say() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs_err::write(&victim, "precious\n").unwrap();
    // The node's /etc/cron.d is a link that climbs out of the root.
    let n = node(&["/usr/sbin/ntpdate"]);
    fs_err::remove_dir(n.path().join("etc/cron.d")).unwrap();
    let up = "../".repeat(n.path().components().count() + 2);
    fs_err::os::unix::fs::symlink(format!("{up}{}", outside.path().display()), n.path().join("etc/cron.d")).unwrap();
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.0.0.1").unwrap());
    let e = run("centos7", &o).unwrap_err().to_string();
    assert!(e.contains("outside the root"), "{e}");
    assert_eq!(fs_err::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!outside.path().join("moa-ntpdate").exists());

    // An absolute link is the node's own path: it is followed inside the root.
    fs_err::remove_file(n.path().join("etc/cron.d")).unwrap();
    fs_err::create_dir_all(n.path().join("real/cron.d")).unwrap();
    fs_err::os::unix::fs::symlink("/real/cron.d", n.path().join("etc/cron.d")).unwrap();
    run("centos7", &o).unwrap();
    assert!(n.path().join("real/cron.d/moa-ntpdate").is_file());

    // A config that is a link to this machine's file is replaced, never read or written through.
    let n = node(&[]);
    fs_err::os::unix::fs::symlink(&victim, n.path().join("etc/ntp.conf")).unwrap();
    let r = run("centos7", &opts(n.path(), Role::Server)).unwrap();
    assert!(!r.files[0].diff.contains("precious") && r.files[0].diff.contains("-> "), "{}", r.files[0].diff);
    assert_eq!(fs_err::read_to_string(&victim).unwrap(), "precious\n");
    assert!(n.path().join("etc/ntp.conf").symlink_metadata().unwrap().is_file());
}

#[test]
fn a_template_that_loops_runs_out_of_fuel() {
    let mut t = Templates::builtin(moa_model::manifest::TimeFlavor::Ntp);
    t.files.insert(
        "ntp/server.conf.j2".into(),
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".into(),
    );
    let time = Manifest::builtin("centos7").unwrap().time.unwrap();
    let n = node(&[]);
    let started = std::time::Instant::now();
    let e = apply(&RoleSource { distro: "centos7", time: &time, templates: &t }, &opts(n.path(), Role::Server))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fuel"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn client_mode_is_refused_for_the_server_role() {
    let n = node(&[]);
    let mut o = opts(n.path(), Role::Server);
    o.client_mode = Some(ClientMode::Daemon);
    let e = run("centos7", &o).unwrap_err().to_string();
    assert!(e.contains("--client-mode only applies to the client role"), "{e}");
}

#[test]
fn rocky9_server_gives_chrony_local_stratum_and_allow() {
    let n = node(&[]);
    let mut o = opts(n.path(), Role::Server);
    o.allow = vec![Network::new("10.1.0.0/16").unwrap(), Network::new("fd00::/8").unwrap()];
    o.upstream = vec![Host::new("ntp.example.org").unwrap()];
    let r = run("rocky9", &o).unwrap();
    let conf = read(n.path(), "/etc/chrony.conf");
    let directives: Vec<&str> = conf.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    // chrony.conf(5): `server … iburst`, `allow SUBNET` per --allow, `local stratum N` to serve
    // the host's clock when upstream is gone.
    assert_eq!(
        directives,
        [
            "server ntp.example.org iburst",
            "driftfile /var/lib/chrony/drift",
            "makestep 1.0 3",
            "rtcsync",
            "allow 10.1.0.0/16",
            "allow fd00::/8",
            "local stratum 10",
            "logdir /var/log/chrony",
        ]
    );
    let cmds: Vec<String> = r.steps.iter().map(|s| s.step.command_line()).collect();
    assert!(cmds.iter().any(|c| c.contains("chronyd")), "{cmds:?}");
    // Without --allow, anyone may ask for the time (as the ntp roles serve everyone).
    let n2 = node(&[]);
    run("rocky9", &opts(n2.path(), Role::Server)).unwrap();
    assert!(read(n2.path(), "/etc/chrony.conf").lines().any(|l| l == "allow all"));
}

#[test]
fn rocky9_client_follows_the_server_by_daemon_or_by_chronyd_q() {
    let n = node(&[]);
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.1.0.5").unwrap());
    o.client_mode = Some(ClientMode::Daemon);
    run("rocky9", &o).unwrap();
    let conf = read(n.path(), "/etc/chrony.conf");
    let servers: Vec<&str> = conf.lines().filter(|l| l.starts_with("server") || l.starts_with("pool")).collect();
    assert_eq!(servers, ["server 10.1.0.5 iburst prefer"]);

    let n = node(&["/usr/sbin/chronyd"]);
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("10.1.0.5").unwrap());
    let r = run("rocky9", &o).unwrap();
    let cron = read(n.path(), CRON_FILE);
    // chronyd -q takes one directive: the quoted `server HOST iburst` (chronyd(8)).
    assert!(
        cron.contains("\n0 * * * * root /usr/sbin/chronyd -q 'server 10.1.0.5 iburst' 2>&1 | logger -t moa-ntpdate\n"),
        "{cron}"
    );
    let argv = &r.steps.last().unwrap().step.argv;
    assert_eq!(argv, &["/usr/sbin/chronyd", "-q", "server 10.1.0.5 iburst"]);
}

#[test]
fn the_cron_client_needs_a_cron_daemon_and_a_switch_takes_the_cron_file_back() {
    let n = node(&[]);
    fs_err::remove_file(n.path().join("usr/sbin/cron")).unwrap();
    let mut o = opts(n.path(), Role::Client);
    o.server = Some(Host::new("192.168.1.10").unwrap());
    fs_err::write(n.path().join("usr/sbin/ntpdate"), "x").unwrap();
    let e = run("ubuntu1604", &o).unwrap_err().to_string();
    assert!(e.contains("no cron daemon") && e.contains("--client-mode daemon"), "{e}");
    assert!(!n.path().join("etc/cron.d/moa-ntpdate").exists());
    // Coming with the packages being installed counts.
    o.incoming = vec!["/usr/sbin".into(), "/usr/sbin/cron".into()];
    o.dry_run = true;
    run("ubuntu1604", &o).unwrap();

    fs_err::write(n.path().join("usr/sbin/cron"), "x").unwrap();
    o.incoming.clear();
    o.dry_run = false;
    run("ubuntu1604", &o).unwrap();
    assert!(n.path().join("etc/cron.d/moa-ntpdate").is_file());
    // Another tool's cron file is never taken back; ours is, when the node becomes a server.
    fs_err::write(n.path().join("etc/cron.d/other"), "# someone else's\n").unwrap();
    let r = run("ubuntu1604", &opts(n.path(), Role::Server)).unwrap();
    assert!(!n.path().join("etc/cron.d/moa-ntpdate").exists());
    assert!(r.files.iter().any(|f| f.status == FileStatus::Removed && f.node_path == CRON_FILE));
    assert!(n.path().join("etc/cron.d/other").is_file());
    let again = run("ubuntu1604", &opts(n.path(), Role::Server)).unwrap();
    assert!(!again.changed && again.files.iter().all(|f| f.node_path != CRON_FILE));
}

#[test]
fn without_a_zone_in_the_manifest_or_flags_the_nodes_zone_is_left_alone() {
    let n = node(&[]);
    fs_err::create_dir_all(n.path().join("etc/ntpsec")).unwrap();
    fs_err::os::unix::fs::symlink("../usr/share/zoneinfo/Europe/Berlin", n.path().join("etc/localtime")).unwrap();
    let r = run("debian12", &opts(n.path(), Role::Server)).unwrap();
    assert_eq!(r.timezone, None);
    assert!(r.files.iter().all(|f| f.node_path != "/etc/localtime" && f.node_path != "/etc/timezone"));
    assert_eq!(
        fs_err::read_link(n.path().join("etc/localtime")).unwrap(),
        Path::new("../usr/share/zoneinfo/Europe/Berlin")
    );
    // Asked for, it changes.
    let mut o = opts(n.path(), Role::Server);
    o.timezone = Some(ZoneName::new("UTC").unwrap());
    let r = run("debian12", &o).unwrap();
    assert_eq!(r.timezone.as_deref(), Some("UTC"));
    assert_eq!(read(n.path(), "/etc/timezone"), "UTC\n");
}
