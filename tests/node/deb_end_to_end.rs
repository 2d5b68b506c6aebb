//! apt family end to end with the real Ubuntu 16.04 ntp, ntpdate and libopts25 debs
//! (`tests/fixtures`) in an apt archive made by apt-ftparchive around them, with dpkg-deb stubs
//! standing in for the rest of xenial (libc6, adduser, …, with their real priorities).
//! `moa-bundle build --distro ubuntu1604` uses the shipped manifest; `moa-bundle install --root`
//! installs into a throwaway root whose maintainer scripts run *chrooted there* (a static busybox
//! shell plus stub adduser/addgroup/invoke-rc.d), never on this machine.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    apt_repo, build_deb, fake_os_release, moa, require_tools, run, shared_fixtures, DebSpec, Keys, Mirror, TestManifest,
};

const TOOLS: &[&str] = &["dpkg", "dpkg-deb", "dpkg-query", "apt-ftparchive", "busybox", "xz", "gzip"];

/// What a xenial server has that ntp needs, as scriptless stubs (priorities as in xenial).
fn base_stubs(out: &Path) -> Vec<PathBuf> {
    let stub = |name: &str, version: &str, extra: &str| {
        let arch = if extra.contains("Architecture: all") { "all" } else { "amd64" };
        let extra = extra.replace("Architecture: all", "");
        build_deb(out, &DebSpec { name, version, arch, extra: &extra, files: &[], ..Default::default() })
    };
    vec![
        stub("dpkg", "1.18.4ubuntu1.4", "Priority: required\nEssential: yes"),
        stub("libc6", "2.23-0ubuntu10", "Priority: required\nMulti-Arch: same"),
        stub("lsb-base", "9.20160110ubuntu0.2", "Priority: required\nArchitecture: all"),
        stub("adduser", "3.113+nmu3ubuntu4", "Priority: important"),
        stub("netbase", "5.3", "Priority: important"),
        stub("libcap2", "1:2.24-12", "Priority: important"),
        stub("libedit2", "3.1-20150325-1ubuntu2", "Priority: standard"),
        stub("libssl1.0.0", "1.0.2g-1ubuntu4.13", "Priority: important"),
    ]
}

/// A throwaway root that can run maintainer scripts: busybox as /bin/sh and its applets, stub
/// adduser/addgroup/update-rc.d/invoke-rc.d that only touch the root, the base stubs installed.
fn node_root(root: &Path, stubs: &[PathBuf]) {
    for d in
        ["bin", "usr/sbin", "usr/bin", "sbin", "etc", "tmp", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"]
    {
        fs_err::create_dir_all(root.join(d)).unwrap();
    }
    fs_err::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let busybox = run(Command::new("sh").arg("-c").arg("command -v busybox")).trim().to_string();
    fs_err::copy(&busybox, root.join("bin/busybox")).unwrap();
    for applet in run(Command::new(&busybox).arg("--list")).lines() {
        let link = root.join("bin").join(applet);
        if !link.exists() && !applet.is_empty() {
            fs_err::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    fs_err::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs_err::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let script = |name: &str, body: &str| {
        let p = root.join("usr/sbin").join(name);
        fs_err::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        run(Command::new("chmod").arg("0755").arg(&p));
    };
    // `addgroup --system --quiet ntp`; `adduser --system --quiet --ingroup ntp --no-create-home ntp`
    script("addgroup", r#"for a; do g="$a"; done; grep -q "^$g:" /etc/group || echo "$g:x:120:" >> /etc/group"#);
    script(
        "adduser",
        r#"for a; do u="$a"; done; grep -q "^$u:" /etc/passwd || echo "$u:x:120:120::/nonexistent:/bin/false" >> /etc/passwd"#,
    );
    script("update-rc.d", "exit 0");
    script("dpkg-maintscript-helper", "exit 1");
    fs_err::create_dir_all(root.join("dev")).unwrap();
    run(Command::new("mknod").args(["-m", "666"]).arg(root.join("dev/null")).args(["c", "1", "3"]));
    script("invoke-rc.d", "echo \"invoke-rc.d $* (not started: test root)\" >> /var/log/invoke-rc.d.log; exit 0");
    fake_os_release(root, "ubuntu", "16.04");
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
        .arg("-i")
        .args(stubs));
}

fn dpkg_query(root: &Path, names: &[&str]) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["-W", "-f=${Package} ${Version} ${db:Status-Status}\n"])
        .args(names)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn archive(tmp: &Path, fixtures: &Path) -> (PathBuf, Vec<PathBuf>) {
    let debs = fixtures.join("ubuntu1604-debs");
    let stubs = base_stubs(&tmp.join("stubs"));
    let mut xenial = stubs.clone();
    xenial.push(debs.join("libopts25_5.18.7-3_amd64.deb"));
    let security = vec![
        debs.join("ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb"),
        debs.join("ntpdate_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb"),
    ];
    let root = tmp.join("mirror");
    apt_repo(&root, &[("xenial", xenial), ("xenial-updates", vec![]), ("xenial-security", security)]);
    (root, stubs)
}

/// The shipped ubuntu1604 manifest, its keys replaced by the test archive's.
fn ubuntu1604(dir: &Path) -> String {
    common::builtin_manifest_for_test_archive("ubuntu1604", dir).display().to_string()
}

/// The archive on a loopback mirror and a bundle built from it with the shipped manifest.
fn built_bundle(tmp: &Path, fixtures: &Path) -> (Mirror, PathBuf, Vec<PathBuf>) {
    let (mirror_dir, stubs) = archive(tmp, fixtures);
    let mirror = Mirror::serve(&mirror_dir);
    let bundle = tmp.join("b.tar.gz");
    moa(tmp)
        .args(["build", "--manifest", &ubuntu1604(tmp), "--mirror", &mirror.url, "-o"])
        .arg(&bundle)
        .assert()
        .success();
    (mirror, bundle, stubs)
}

#[test]
fn ubuntu1604_builds_the_seeds_debs_and_installs_them_into_a_temp_root() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (mirror_dir, stubs) = archive(tmp.path(), &fixtures);
    let mirror = Mirror::serve(&mirror_dir);

    let out_dir = tmp.path().join("out");
    let out = moa(tmp.path())
        .args(["build", "--manifest", &ubuntu1604(tmp.path()), "--json", "--mirror", &mirror.url, "-o"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    names.sort();
    // The seed's `apt-get install ntp` downloads: ntp from xenial-security and libopts25; ntpdate is optional.
    // libedit2 is of priority standard, which not every node has (the base is required +
    // important, what debootstrap installs), so it comes too.
    assert_eq!(
        names,
        vec![
            "libedit2 3.1-20150325-1ubuntu2",
            "libopts25 1:5.18.7-3",
            "ntp 1:4.2.8p4+dfsg-3ubuntu5.9",
            "ntpdate 1:4.2.8p4+dfsg-3ubuntu5.9"
        ]
    );
    // The signed InRelease was used; Release (and Release.gpg) only where it is missing.
    assert!(mirror.requested("dists/xenial/InRelease") >= 1 && mirror.requested("dists/xenial/Release") == 0);
    // Packages.xz was preferred over .gz.
    assert!(mirror.requested("main/binary-amd64/Packages.xz") >= 1 && mirror.requested("Packages.gz") == 0);

    let bundle = out_dir.join("ntp-ubuntu1604-amd64.tar.gz");
    // Reproducible: a second build with a fresh cache gives the same bytes.
    let again = tmp.path().join("again.tar.gz");
    moa(&tmp.path().join("cache2"))
        .args(["build", "--manifest", &ubuntu1604(tmp.path()), "--mirror", &mirror.url, "-o"])
        .arg(&again)
        .assert()
        .success();
    assert_eq!(common::sha256_file(&again), common::sha256_file(&bundle));
    let root = tmp.path().join("root");
    node_root(&root, &stubs);
    let host_passwd = fs_err::read("/etc/passwd").unwrap();

    let inst = moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--json").output().unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    assert_eq!(
        dpkg_query(&root, &["ntp", "ntpdate", "libopts25"]),
        "libopts25 1:5.18.7-3 installed\nntp 1:4.2.8p4+dfsg-3ubuntu5.9 installed\nntpdate 1:4.2.8p4+dfsg-3ubuntu5.9 installed\n"
    );
    assert!(root.join("usr/sbin/ntpd").is_file());
    // ntp's postinst ran inside the root (it created the ntp user there), not on this machine.
    assert!(fs_err::read_to_string(root.join("etc/passwd")).unwrap().contains("\nntp:"));
    assert_eq!(fs_err::read("/etc/passwd").unwrap(), host_passwd, "the host was not touched");
    assert!(fs_err::read_to_string(root.join("var/log/invoke-rc.d.log")).unwrap().contains("ntp start"));

    // Re-running changes nothing.
    let again = moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).arg("--json").output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let r: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(r["actions"].as_array().unwrap().iter().all(|a| a["action"] == "skip"), "{}", r["actions"]);
}

#[test]
fn a_node_missing_a_dependency_is_refused_by_the_preflight() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle, stubs) = built_bundle(tmp.path(), &fixtures);

    // This node lacks libssl1.0.0.
    let root = tmp.path().join("root");
    let without: Vec<PathBuf> = stubs.into_iter().filter(|s| !s.to_string_lossy().contains("libssl")).collect();
    node_root(&root, &without);
    let out = moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ntp 1:4.2.8p4+dfsg-3ubuntu5.9 needs `libssl1.0.0 (>= 1.0.1d)`"), "{err}");
    assert!(err.contains("--force") && err.contains("--force-depends"), "{err}");
    assert_eq!(dpkg_query(&root, &["ntp"]), "", "nothing was installed");
}

#[test]
fn a_tampered_bundle_is_refused_before_anything_changes() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle, stubs) = built_bundle(tmp.path(), &fixtures);

    // Swap ntp's deb for another file and repack in moa-bundle's member order: SHA256SUMS no
    // longer matches.
    let work = tmp.path().join("unpacked");
    fs_err::create_dir_all(&work).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&work));
    let deb = work.join("ntp-ubuntu1604-amd64/packages/ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb");
    fs_err::copy(&stubs[0], &deb).unwrap();
    let tampered = tmp.path().join("tampered.tar.gz");
    let tar = |out: &std::path::Path, sort: &str| {
        run(Command::new("tar")
            .env("LC_ALL", "C")
            .arg(sort)
            .arg("-czf")
            .arg(out)
            .arg("-C")
            .arg(&work)
            .arg("ntp-ubuntu1604-amd64"))
    };
    tar(&tampered, "--sort=name");

    let root = tmp.path().join("root");
    node_root(&root, &stubs);
    let out = moa(tmp.path()).arg("install").arg(&tampered).arg("--root").arg(&root).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tampered.tar.gz is damaged") && err.contains("packages/ntp_4.2.8p4+dfsg-3ubuntu5.9_amd64.deb"),
        "{err}"
    );
    assert_eq!(dpkg_query(&root, &["ntp"]), "");

    // `verify` says the same without a node.
    let v = moa(tmp.path()).arg("verify").arg(&tampered).output().unwrap();
    assert!(!v.status.success());

    // Repacked in directory order (plain `tar -czf`): refused, and the message says so.
    let repacked = tmp.path().join("repacked.tar.gz");
    tar(&repacked, "--sort=none");
    let v = moa(tmp.path()).arg("verify").arg(&repacked).output().unwrap();
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(!v.status.success() && err.contains("packed again"), "{err}");
}

#[test]
fn the_fallback_install_sh_installs_with_dpkg_into_a_root() {
    let Some(fixtures) = shared_fixtures() else { return };
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle, stubs) = built_bundle(tmp.path(), &fixtures);
    let root = tmp.path().join("root");
    node_root(&root, &stubs);
    let unpacked = tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    run(Command::new("sh").arg(unpacked.join("ntp-ubuntu1604-amd64/install.sh")).arg("--root").arg(&root));
    assert_eq!(
        dpkg_query(&root, &["ntp", "libopts25"]),
        "libopts25 1:5.18.7-3 installed\nntp 1:4.2.8p4+dfsg-3ubuntu5.9 installed\n"
    );
}

/// Acceptance 1 on the apt side: a dpkg root made by real `dpkg --root` installs (scriptless
/// stubs, minus adduser and libedit2), probed; the bundle built for it holds exactly what it lacks,
/// installs there, and a second probe leaves nothing to pack.
#[test]
fn probe_a_dpkg_root_then_build_for_it_packs_exactly_what_it_lacks() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (mirror_dir, stubs) = archive(tmp.path(), &fixtures);
    let mirror = Mirror::serve(&mirror_dir);
    let root = tmp.path().join("root");
    let lacking = ["adduser_", "libedit2_"];
    let have: Vec<PathBuf> = stubs
        .iter()
        .filter(|s| !lacking.iter().any(|l| s.file_name().unwrap().to_str().unwrap().starts_with(l)))
        .cloned()
        .collect();
    assert_eq!(have.len(), stubs.len() - 2);
    node_root(&root, &have);

    let profile = tmp.path().join("node.json");
    let probe = |p: &Path| moa(tmp.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(p).assert().success();
    probe(&profile);
    let resolve = |p: &Path| -> serde_json::Value {
        let out = moa(tmp.path())
            .args(["resolve", "--manifest", &ubuntu1604(tmp.path()), "--json", "--mirror", &mirror.url, "--target"])
            .arg(p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = resolve(&profile);
    let mut names: Vec<&str> = r["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["adduser", "libedit2", "libopts25", "ntp", "ntpdate"], "{r}");

    let bundle = tmp.path().join("b.tar.gz");
    moa(tmp.path())
        .args(["build", "--manifest", &ubuntu1604(tmp.path()), "--mirror", &mirror.url, "--target"])
        .arg(&profile)
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let inst = moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).output().unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    assert_eq!(
        dpkg_query(&root, &["adduser", "ntp"]),
        "adduser 3.113+nmu3ubuntu4 installed\nntp 1:4.2.8p4+dfsg-3ubuntu5.9 installed\n"
    );

    let again = tmp.path().join("again.json");
    probe(&again);
    let r = resolve(&again);
    assert_eq!(r["packages"].as_array().unwrap().len(), 0, "{r}");
}

/// A node package that a bundled one Conflicts with and Replaces (bookworm's time-daemon
/// pattern): the resolver notes the removal, and dpkg, installing the bundle into the root,
/// does remove it.
#[test]
fn a_replacing_package_removes_the_nodes_conflicting_one_when_dpkg_installs_it() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let debs = tmp.path().join("debs");
    let timed = |name: &'static str, file: &'static [(&'static str, &'static str)]| {
        build_deb(
            &debs,
            &DebSpec {
                name,
                extra: "Provides: time-daemon\nConflicts: time-daemon\nReplaces: time-daemon",
                files: file,
                ..Default::default()
            },
        )
    };
    let old = timed("old-timed", &[("/usr/sbin/old-timed", "old")]);
    let new = timed("new-timed", &[("/usr/sbin/new-timed", "new")]);
    let mirror_dir = tmp.path().join("mirror");
    apt_repo(&mirror_dir, &[("stable", vec![old.clone(), new])]);
    let mirror = Mirror::serve(&mirror_dir);
    let manifest = TestManifest::deb(&["new-timed"])
        .set("name", "t")
        .os_release("ubuntu", "16.04", None)
        .apt_repo("main", "stable", &mirror.url, Keys::Test)
        .write_to(&tmp.path().join("m.toml"));
    let root = tmp.path().join("root");
    node_root(&root, &[old]);
    let profile = tmp.path().join("node.json");
    moa(tmp.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();

    let out = moa(tmp.path())
        .arg("resolve")
        .arg("--json")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--target")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = r["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["new-timed"]);
    let removes =
        r["notes"].as_array().unwrap().iter().filter(|n| n.as_str().unwrap().contains("removes old-timed-1.0.amd64"));
    assert_eq!(removes.count(), 1, "one note for the removal: {r}");

    let bundle = common::build_for(tmp.path(), &manifest, &profile);
    // --dry-run says what goes, and changes nothing.
    let dry = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let d: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(
        (d["removes"][0]["name"].as_str(), d["removes"][0]["by"].as_str()),
        (Some("old-timed"), Some("new-timed")),
        "{d}"
    );
    assert_eq!(dpkg_query(&root, &["old-timed"]), "old-timed 1.0 installed\n");

    let inst = moa(tmp.path()).arg("install").arg(&bundle).arg("--root").arg(&root).output().unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    assert_eq!(dpkg_query(&root, &["new-timed"]), "new-timed 1.0 installed\n");
    assert!(!dpkg_query(&root, &["old-timed"]).contains("installed\n"), "{}", dpkg_query(&root, &["old-timed"]));
    assert!(root.join("usr/sbin/new-timed").is_file() && !root.join("usr/sbin/old-timed").exists());
}

/// A bundle of one deb whose postinst records its environment, for the ubuntu1604 node root.
fn env_probe_bundle(tmp: &Path) -> (Mirror, PathBuf) {
    let deb = build_deb(
        &tmp.join("debs"),
        &DebSpec {
            name: "envprobe",
            scripts: &[("postinst", "#!/bin/sh\nenv | sort > /var/log/postinst.env\n")],
            ..Default::default()
        },
    );
    let repo = tmp.join("mirror");
    apt_repo(&repo, &[("xenial", vec![deb])]);
    let mirror = Mirror::serve(&repo);
    let manifest = TestManifest::deb(&["envprobe"])
        .set("distro", "ubuntu1604")
        .os_release("ubuntu", "16.04", None)
        .apt_repo("ubuntu", "xenial", &mirror.url, Keys::Test)
        .time_of("ubuntu1604")
        .write_to(&tmp.join("envprobe.toml"));
    let bundle = tmp.join("envprobe.tar.gz");
    moa(tmp).arg("build").arg("--manifest").arg(&manifest).arg("--no-base").arg("-o").arg(&bundle).assert().success();
    (mirror, bundle)
}

/// Regression (issue 9): TMPDIR and the rest of the caller's environment leaked into chrooted
/// maintainer scripts (a host TMPDIR does not exist in the root, and mktemp failed there).
#[test]
fn maintainer_scripts_get_a_clean_environment_not_the_callers() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle) = env_probe_bundle(tmp.path());
    let root = tmp.path().join("root");
    node_root(&root, &base_stubs(&tmp.path().join("stubs")));
    let host_tmp = tmp.path().join("host-tmp");
    fs_err::create_dir_all(&host_tmp).unwrap();
    let out = moa(tmp.path())
        .env("TMPDIR", &host_tmp)
        .env("MOA_LEAK_CANARY", "leaked")
        .env("LD_PRELOAD", "")
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = fs_err::read_to_string(root.join("var/log/postinst.env")).unwrap();
    assert!(!env.contains("TMPDIR=") && !env.contains("MOA_LEAK_CANARY") && !env.contains("LD_PRELOAD"), "{env}");
    assert!(env.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), "{env}");
    assert!(env.contains("LC_ALL=C\n") && env.contains("DEBIAN_FRONTEND=noninteractive\n"), "{env}");
}

/// Regression (issue 9): `install --role` installed the packages and only then found that the
/// role could not apply. The role is planned first now.
#[test]
fn a_role_that_cannot_apply_is_refused_before_the_first_package() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle) = env_probe_bundle(tmp.path());
    let root = tmp.path().join("root");
    node_root(&root, &base_stubs(&tmp.path().join("stubs")));
    let out = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--role", "server", "--timezone", "Mars/Olympus"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("time zone `Mars/Olympus`"), "{err}");
    assert_eq!(dpkg_query(&root, &["envprobe"]), "", "a package was installed before the role was refused");
}

/// The bundle as an apt flat repository (issue 12, item 2): real apt-get installs it into a
/// throwaway root, every other source left out, through `install --via-repo` (dpkg under apt,
/// maintainer scripts chrooted into the root, none of this machine's apt hooks) and through
/// `install.sh --via-repo`.
#[test]
fn apt_installs_the_bundle_from_its_own_flat_repository() {
    let Some(fixtures) = shared_fixtures() else { return };
    require_tools(&[TOOLS, &["apt-get"]].concat());
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle, stubs) = built_bundle(tmp.path(), &fixtures);
    let want = "libopts25 1:5.18.7-3 installed\nntp 1:4.2.8p4+dfsg-3ubuntu5.9 installed\nntpdate 1:4.2.8p4+dfsg-3ubuntu5.9 installed\n";

    let root = tmp.path().join("root");
    node_root(&root, &stubs);
    let out = moa(tmp.path())
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--via-repo", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(dpkg_query(&root, &["ntp", "ntpdate", "libopts25"]), want);
    // Regression (issue 19, class 9): the bundle's Release Date lacked its weekday, and apt
    // warned "Invalid 'Date' entry" on every install.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let apt_said = report["output"].to_string();
    assert!(!apt_said.contains("Invalid 'Date'") && apt_said.contains("Reading package lists"), "{apt_said}");
    // apt did it, and logged it inside the root.
    let history = fs_err::read_to_string(root.join("var/log/apt/history.log")).unwrap();
    assert!(
        history.contains("Commandline: apt-get") && history.contains("ntp:amd64 (1:4.2.8p4+dfsg-3ubuntu5.9)"),
        "{history}"
    );

    let unpacked = tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let second = tmp.path().join("second");
    node_root(&second, &stubs);
    run(Command::new("sh")
        .arg(unpacked.join("ntp-ubuntu1604-amd64/install.sh"))
        .arg("--root")
        .arg(&second)
        .arg("--via-repo"));
    assert_eq!(dpkg_query(&second, &["ntp", "ntpdate", "libopts25"]), want);
    assert!(second.join("var/log/apt/history.log").is_file());
}

/// Issue 20, item 6: a request for a virtual package is treated as apt-get treats it: refused
/// with its providers listed when several provide it, taken when exactly one does. Real
/// apt-get (a private configuration on the same archive) is the oracle for both.
#[test]
fn a_virtual_request_is_refused_with_its_providers_where_apt_refuses_it() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let debs = t.join("debs");
    let mta = |name: &str| {
        let extra = "Provides: mail-transport-agent\nPriority: optional";
        build_deb(&debs, &DebSpec { name, version: "1.0", extra, ..Default::default() })
    };
    let only = build_deb(
        &debs,
        &DebSpec { name: "only-one", version: "1.0", extra: "Provides: lonely-virtual", ..Default::default() },
    );
    let archive = t.join("mirror");
    apt_repo(&archive, &[("stable", vec![mta("exim4-daemon-light"), mta("postfix"), only])]);
    let mirror = Mirror::serve(&archive);
    let apt = |request: &str| {
        common::Apt::new(&t.join(format!("apt-{request}")), &mirror.url, "stable").simulate_install(request)
    };
    let manifest = |request: &str| {
        TestManifest::deb(&[request])
            .set("name", "t")
            .apt_repo("main", "stable", &mirror.url, Keys::Test)
            .write_to(&t.join(format!("{request}.toml")))
    };

    let (ok, said) = apt("mail-transport-agent");
    assert!(!ok && said.contains("virtual package provided by"), "apt: {said}");
    let out =
        moa(t).args(["resolve", "--no-base", "--manifest"]).arg(manifest("mail-transport-agent")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("virtual package provided by exim4-daemon-light, postfix"), "{err}");

    let (ok, said) = apt("lonely-virtual");
    assert!(ok && said.contains("Inst only-one"), "apt: {said}");
    let out =
        moa(t).args(["resolve", "--no-base", "--json", "--manifest"]).arg(manifest("lonely-virtual")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"only-one\""));
}
