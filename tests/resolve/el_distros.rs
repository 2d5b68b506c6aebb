//! The EL8/EL9 built-in manifests (rocky8, rocky9, alma9, centos-stream9) as shipped — their
//! keys replaced by the test repositories' — against a loopback yum tree laid out as the
//! vendors lay theirs out (`9/BaseOS/<arch>/os`, `9-stream/AppStream/<arch>/os`), holding x86_64
//! and aarch64; and keys pinned by URL, as the Rocky and AlmaLinux manifests pin theirs.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::{build_rpm, createrepo, moa, require_tools, run, Mirror, RpmSpec};

const TOOLS: &[&str] = &["rpmbuild", "rpmsign", "createrepo_c", "gpg"];

/// chrony (BaseOS) needing chrony-libs, and a noarch timedatex-doc in AppStream, per arch.
fn el_tree(root: &Path, releases: &[&str], rpms: &Path) {
    for arch in ["x86_64", "aarch64"] {
        for (name, requires) in [("chrony", &["chrony-libs = 4.5-1"][..]), ("chrony-libs", &[][..])] {
            let files = [(format!("/usr/share/{name}/{arch}"), arch.to_string())];
            let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let spec = RpmSpec { name, version: "4.5", arch, requires, files: &files, ..Default::default() };
            build_rpm(&rpms.join(arch), &spec);
        }
    }
    build_rpm(&rpms.join("noarch"), &RpmSpec { name: "timedatex-doc", arch: "noarch", ..Default::default() });
    for release in releases {
        for arch in ["x86_64", "aarch64"] {
            for (repo, from) in [("BaseOS", arch), ("AppStream", "noarch")] {
                let dir = root.join(release).join(repo).join(arch).join("os");
                let packages = dir.join("Packages");
                fs_err::create_dir_all(&packages).unwrap();
                for e in fs_err::read_dir(rpms.join(from)).unwrap() {
                    let p = e.unwrap().path();
                    fs_err::copy(&p, packages.join(p.file_name().unwrap())).unwrap();
                }
                createrepo(&dir);
            }
        }
    }
}

#[test]
fn the_el_manifests_resolve_chrony_for_x86_64_and_aarch64() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    el_tree(&t.join("mirror"), &["8", "9", "9-stream"], &t.join("rpms"));
    let mirror = Mirror::serve(&t.join("mirror"));
    for distro in ["rocky8", "rocky9", "alma9", "centos-stream9"] {
        let dir = t.join(distro);
        fs_err::create_dir_all(&dir).unwrap();
        let manifest = common::builtin_manifest_for_test_archive(distro, &dir);
        for (flag, arch) in [(None, "x86_64"), (Some("aarch64"), "aarch64")] {
            let got = common::resolve_name_arch(t, &manifest, &mirror.url, flag);
            let want = [("chrony".to_string(), arch.to_string()), ("chrony-libs".to_string(), arch.to_string())];
            assert_eq!(got, want, "{distro} {arch}");
        }
    }
    // `$basearch` reached the mirror as the arch asked for.
    assert!(mirror.requested("9/BaseOS/aarch64/os/repodata/repomd.xml") >= 2);
    assert!(mirror.requested("9-stream/AppStream/aarch64/os/repodata/repomd.xml") >= 1);
    assert!(mirror.requested("8/BaseOS/x86_64/os/repodata/repomd.xml") >= 1);
}

/// A manifest for [`common::hello_repo`] whose key is pinned by URL: `<mirror>/keys/KEY`.
fn url_manifest(dir: &Path, mirror: &str, fingerprint: &str) -> PathBuf {
    common::TestManifest::rpm(&["hello"])
        .set("distro", "crafted")
        .yum_repo("os", "el/os/x86_64", mirror, common::Keys::Url(&format!("{mirror}/keys/KEY"), fingerprint))
        .time_of("centos7")
        .write_to(&dir.join("by-url.toml"))
}

#[test]
fn a_key_pinned_by_url_is_fetched_checked_against_the_pin_and_cached() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = common::hello_repo(t);
    fs_err::create_dir_all(repo.join("keys")).unwrap();
    let key = common::signing::repo_key();
    fs_err::write(repo.join("keys/KEY"), &key.public).unwrap();
    let mirror = Mirror::serve(&repo);
    let manifest = url_manifest(t, &mirror.url, &key.fingerprint);
    let resolve = |cache: &Path, extra: &[&str]| {
        let out = moa(cache).args(["resolve", "--no-base", "--manifest"]).arg(&manifest).args(extra).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };

    let (ok, err) = resolve(t, &[]);
    assert!(ok, "{err}");
    assert_eq!(mirror.requested("keys/KEY"), 1);

    // The server now hands out another key under that URL: refused by the pin, naming the URL,
    // and the cached good copy is neither replaced nor used for an online build.
    let other = common::signing::TestKey::generate("other", "ed25519");
    fs_err::write(repo.join("keys/KEY"), &other.public).unwrap();
    let (ok, err) = resolve(t, &[]);
    assert!(!ok);
    assert!(err.contains(&format!("{}/keys/KEY", mirror.url)) && err.contains("not the pinned key"), "{err}");
    assert!(err.contains(&key.fingerprint) && err.contains(&other.fingerprint), "{err}");

    // Offline, the copy cached by the first run serves.
    let (ok, err) = resolve(t, &["--offline"]);
    assert!(ok, "{err}");

    // A cache that never saw the key cannot build offline, and says what to do.
    let fresh = t.join("fresh");
    fs_err::create_dir_all(&fresh).unwrap();
    let (ok, err) = resolve(&fresh, &["--offline"]);
    assert!(!ok && err.contains("--offline has no copy of it"), "{err}");
}

/// rocky9 as shipped, end to end on a Rocky 9.5 root: `build` packs chrony and the chrony
/// roles; `install --role server` installs (rpm --noscripts) and writes chrony.conf with
/// `local stratum 10` and the `--allow`; `configure` recognises the 9.5 root as rocky9 (the
/// bundle is for release 9) and makes it a cron client running `chronyd -q`.
#[test]
fn rocky9_chrony_installs_and_configures_both_roles_on_a_9_5_root() {
    require_tools(&["rpm", "rpmbuild", "rpmsign", "createrepo_c", "gpg"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let os = t.join("mirror/9/BaseOS/x86_64/os");
    let conf = [("/etc/chrony.conf", "pool 2.rocky.pool.ntp.org iburst"), ("/usr/sbin/chronyd", "chronyd")];
    build_rpm(&os.join("Packages"), &RpmSpec { name: "chrony", version: "4.5", files: &conf, ..Default::default() });
    let zones = [("/usr/share/zoneinfo/Asia/Shanghai", "TZif2"), ("/usr/share/zoneinfo/UTC", "TZif2")];
    let tzdata =
        build_rpm(&t.join("base"), &RpmSpec { name: "tzdata", arch: "noarch", files: &zones, ..Default::default() });
    let cron = [("/etc/cron.d/0hourly", "01 * * * * root run-parts /etc/cron.hourly"), ("/usr/sbin/crond", "crond")];
    let cronie = build_rpm(&t.join("base"), &RpmSpec { name: "cronie", files: &cron, ..Default::default() });
    createrepo(&os);
    fs_err::create_dir_all(t.join("mirror/9/AppStream/x86_64/os/Packages")).unwrap();
    createrepo(&t.join("mirror/9/AppStream/x86_64/os"));
    let mirror = Mirror::serve(&t.join("mirror"));
    let manifest = common::builtin_manifest_for_test_archive("rocky9", t);
    let bundle = t.join("chrony.tar.gz");
    let out = moa(t)
        .args(["build", "--no-base", "--manifest"])
        .arg(&manifest)
        .args(["--mirror", &mirror.url, "-o"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let root = t.join("root");
    common::fake_os_release(&root, "rocky", "9.5");
    run(std::process::Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-i", "--noscripts", "--nosignature"])
        .arg(&tzdata)
        .arg(&cronie));
    let out = moa(t)
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(&root)
        .args(["--no-scripts", "--role", "server", "--allow", "10.20.0.0/16"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conf = fs_err::read_to_string(root.join("etc/chrony.conf")).unwrap();
    for line in [
        "server 0.rocky.pool.ntp.org iburst",
        "allow 10.20.0.0/16",
        "local stratum 10",
        "driftfile /var/lib/chrony/drift",
    ] {
        assert!(conf.lines().any(|l| l == line), "{line} not in:\n{conf}");
    }
    assert_eq!(
        fs_err::read_to_string(root.join("etc/chrony.conf.moa-bak")).unwrap(),
        "pool 2.rocky.pool.ntp.org iburst\n",
        "the package's own file is the backup"
    );

    let out =
        moa(t).args(["configure", "--role", "client", "--server", "10.20.0.1", "--root"]).arg(&root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("for rocky9"), "{}", String::from_utf8_lossy(&out.stdout));
    let cron = fs_err::read_to_string(root.join("etc/cron.d/moa-ntpdate")).unwrap();
    assert!(
        cron.lines()
            .any(|l| l == "0 * * * * root /usr/sbin/chronyd -q 'server 10.20.0.1 iburst' 2>&1 | logger -t moa-ntpdate"),
        "{cron}"
    );
}

/// `[base].groups = ["core"]` (the EL manifests' base) read from the repositories' real comps
/// (createrepo_c -g): core's mandatory and default members are on every node, so a bundle of
/// chrony leaves out chrony-libs (a default member of core here) and packs what core lacks; a
/// group no comps has is refused naming it.
#[test]
fn the_base_is_the_core_group_of_the_repositories_comps() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let os = t.join("mirror/9/BaseOS/x86_64/os");
    let pkgs = os.join("Packages");
    build_rpm(
        &pkgs,
        &RpmSpec { name: "chrony", version: "4.5", requires: &["chrony-libs", "timedatex"], ..Default::default() },
    );
    build_rpm(&pkgs, &RpmSpec { name: "chrony-libs", version: "4.5", ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "timedatex", version: "0.6", ..Default::default() });
    build_rpm(&pkgs, &RpmSpec { name: "bash", version: "5.1", ..Default::default() });
    let comps = t.join("comps.xml");
    fs_err::write(
        &comps,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <default>true</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq type="default">chrony-libs</packagereq>
      <packagereq type="optional">timedatex</packagereq>
    </packagelist>
  </group>
</comps>
"#,
    )
    .unwrap();
    run(std::process::Command::new("createrepo_c").args(["-q", "-g"]).arg(&comps).arg(&os));
    common::signing::repo_key().sign_repomd(&os);
    fs_err::create_dir_all(t.join("mirror/9/AppStream/x86_64/os/Packages")).unwrap();
    createrepo(&t.join("mirror/9/AppStream/x86_64/os"));
    let mirror = Mirror::serve(&t.join("mirror"));
    let manifest = common::builtin_manifest_for_test_archive("rocky9", t);
    let out = moa(t)
        .args(["resolve", "--json", "--manifest"])
        .arg(&manifest)
        .args(["--mirror", &mirror.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["chrony", "timedatex"], "chrony-libs and bash are core's; timedatex is only optional there");
    assert_eq!(v["base_packages"], 2);

    let other =
        fs_err::read_to_string(&manifest).unwrap().replace("groups = [\"core\"]", "groups = [\"minimal-environment\"]");
    fs_err::write(&manifest, other).unwrap();
    let out = moa(t).args(["resolve", "--manifest"]).arg(&manifest).args(["--mirror", &mirror.url]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("base group `minimal-environment` is in no repository's comps"),
        "{err}"
    );
}

/// Issue 20, item 8: a key pinned by URL under the manifest's own mirror root is looked for
/// under `--mirror`'s root first (the vendor's host may be out of reach; the fingerprint still
/// decides); where no URL answers, the error keeps the transport's cause.
#[test]
fn with_mirror_a_vendor_key_comes_from_the_mirror_and_an_unreachable_one_says_why() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = common::hello_repo(t);
    fs_err::create_dir_all(repo.join("keys")).unwrap();
    let key = common::signing::repo_key();
    fs_err::write(repo.join("keys/KEY"), &key.public).unwrap();
    let mirror = Mirror::serve(&repo);
    // The manifest's mirror, and so its key URL, is a host nothing listens on.
    let vendor = "http://127.0.0.1:9";
    let manifest = url_manifest(t, vendor, &key.fingerprint);
    let resolve = |cache: &Path, mirror_flag: &str| {
        moa(cache)
            .args(["resolve", "--no-base", "--json", "--manifest"])
            .arg(&manifest)
            .args(["--mirror", mirror_flag])
            .output()
            .unwrap()
    };
    let out = resolve(t, &mirror.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(mirror.requested("keys/KEY"), 1);

    // A mirror without the key and the vendor down: the error names the URL and keeps why.
    let empty = t.join("empty-mirror");
    fs_err::create_dir_all(&empty).unwrap();
    let fresh = t.join("fresh");
    fs_err::create_dir_all(&fresh).unwrap();
    let out = resolve(&fresh, &format!("file://{}", empty.display()));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(v["error"].as_str().unwrap().contains(&format!("{vendor}/keys/KEY")), "{v}");
    assert!(v["causes"].as_array().is_some_and(|c| !c.is_empty()), "the cause is kept: {v}");
}
