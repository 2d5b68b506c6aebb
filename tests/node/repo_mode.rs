//! A bundle is also a repository (issue 12, item 2), consumed by the real package manager: Debian's
//! dnf with `--installroot` on throwaway roots installs a bundle through `install --via-repo` and
//! through `install.sh --via-repo`, with every other repository left out and each rpm's signature
//! checked against the bundle's keys; a bundle whose repository lists other packages than
//! bundle.json is refused before anything changes. (The apt side is in `deb_end_to_end.rs`,
//! beside its throwaway dpkg roots.)

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fake_os_release, moa, require_tools, run, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "dnf", "tar"];

fn rpm_q(root: &Path, names: &[&str]) -> String {
    common::rpm_query(root, &[&["-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"], names].concat())
}

/// `hello` and `libgreet` (common::hello_repo) on a loopback mirror, built into a bundle.
fn hello_bundle(tmp: &Path, extra: &[&str]) -> (Mirror, PathBuf) {
    let repo = common::hello_repo(tmp);
    let mirror = Mirror::serve(&repo);
    let manifest = common::hello_manifest(tmp, &[&mirror.url]);
    let bundle = tmp.join("hello.tar.gz");
    moa(tmp).arg("build").arg("--manifest").arg(&manifest).arg("-o").arg(&bundle).args(extra).assert().success();
    (mirror, bundle)
}

fn node(tmp: &Path, name: &str) -> PathBuf {
    let root = tmp.join(name);
    fake_os_release(&root, "centos", "7");
    root
}

#[test]
fn dnf_installs_the_bundle_from_its_own_repository() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle) = hello_bundle(tmp.path(), &[]);

    let root = node(tmp.path(), "root");
    let install = |root: &Path| {
        moa(tmp.path())
            .arg("install")
            .arg(&bundle)
            .arg("--root")
            .arg(root)
            .args(["--via-repo", "--no-scripts", "--json"])
            .output()
            .unwrap()
    };
    let out = install(&root);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert_eq!(rpm_q(&root, &["hello", "libgreet"]), "hello-1.0-1.x86_64\nlibgreet-1.0-1.x86_64\n");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let said = report["output"].to_string();
    // dnf did it, checking each package against the bundle's key (imported into the root's rpm).
    assert!(said.contains("Installed") && said.contains("hello-1.0-1.x86_64"), "{said}");
    assert!(root.join("var/lib/dnf/history.sqlite").is_file(), "dnf recorded the transaction");
    // hello was asked for; libgreet came as its dependency: dnf's own records say so, so the
    // node's `dnf autoremove` takes libgreet once nothing needs it.
    let home = tmp.path().join("home");
    fs_err::create_dir_all(&home).unwrap();
    fs_err::write(home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    let userinstalled = Command::new("dnf")
        .env("HOME", &home)
        .args(["-q", "--cacheonly", "--disablerepo=*", "--releasever=7", "--installroot"])
        .arg(&root)
        .args(["repoquery", "--userinstalled", "--qf", "%{name}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&userinstalled.stdout).trim(), "hello", "{userinstalled:?}");
    assert_eq!(report["marked_auto"], serde_json::json!(["libgreet"]), "{report}");
    assert!(rpm_q(&root, &["gpg-pubkey"]).starts_with("gpg-pubkey-"), "the bundle's key was imported for the check");
    // Nothing of dnf's configuration, cache or the unpacked bundle is left behind.
    assert!(!root.join("var/cache/dnf").join("moa-bundle").exists());

    // Again: everything is installed, nothing runs.
    let again = install(&root);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let r: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(r["actions"].as_array().unwrap().iter().all(|a| a["action"] == "skip"), "{}", r["actions"]);

    // install.sh --via-repo does the same with sh and dnf alone.
    let unpacked = tmp.path().join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    let second = node(tmp.path(), "second");
    run(Command::new("sh")
        .arg(unpacked.join("hello-crafted-x86_64/install.sh"))
        .arg("--root")
        .arg(&second)
        .args(["--noscripts", "--via-repo"]));
    assert_eq!(rpm_q(&second, &["hello", "libgreet"]), "hello-1.0-1.x86_64\nlibgreet-1.0-1.x86_64\n");
    assert!(second.join("var/lib/dnf/history.sqlite").is_file());
}

/// `install BUNDLE --root ROOT --via-repo --no-scripts`.
fn install_via_repo(tmp: &Path, bundle: &Path, root: &Path) -> std::process::Output {
    moa(tmp).arg("install").arg(bundle).arg("--root").arg(root).args(["--via-repo", "--no-scripts"]).output().unwrap()
}

/// Packs `<work>/hello-crafted-x86_64` into `out` with its SHA256SUMS made to match its files
/// again (every check but the bundle's own consistency must find what changed).
fn repack(work: &Path, out: &Path) {
    let top = work.join("hello-crafted-x86_64");
    let sums = run(Command::new("sh")
        .arg("-c")
        .arg("find . -type f ! -name SHA256SUMS | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum")
        .current_dir(&top));
    fs_err::write(top.join("SHA256SUMS"), sums).unwrap();
    run(Command::new("tar")
        .env("LC_ALL", "C")
        .args(["--sort=name", "--owner=0", "--group=0", "-czf"])
        .arg(out)
        .arg("-C")
        .arg(work)
        .arg("hello-crafted-x86_64"));
}

/// Regression (issue 19, class 5): the repository inside a bundle was checked for the packages
/// it lists, not for being the files moa-bundle wrote: an `xml:base` on a `<location>` sent
/// dnf to an outside server, and an index file added beside primary would be read unchecked.
/// Each is refused by `verify` and `install --via-repo`, consistent SHA256SUMS or not.
#[test]
fn a_repository_that_is_not_exactly_what_moa_bundle_wrote_is_refused() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (_mirror, bundle) = hello_bundle(tmp.path(), &[]);
    type Alter<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Alter<'_>); 2] = [
        ("an xml:base on a location", &|top: &Path| {
            let gz = top.join("repodata/primary.xml.gz");
            let xml = run(Command::new("sh").arg("-c").arg(format!("gzip -dc '{}'", gz.display())));
            let xml = xml.replace(
                "<location href=\"packages/hello",
                "<location xml:base=\"http://192.0.2.1/\" href=\"packages/hello",
            );
            fs_err::write(top.join("repodata/primary.xml"), &xml).unwrap();
            run(Command::new("gzip").arg("-nf").arg(top.join("repodata/primary.xml")));
            let repomd = fs_err::read_to_string(top.join("repodata/repomd.xml")).unwrap();
            let sha = |p: &Path| run(Command::new("sha256sum").arg(p)).split(' ').next().unwrap().to_string();
            let old_gz =
                repomd.split("<checksum type=\"sha256\">").nth(1).unwrap().split('<').next().unwrap().to_string();
            let repomd = repomd.replace(&old_gz, &sha(&gz));
            fs_err::write(top.join("repodata/repomd.xml"), repomd).unwrap();
        }),
        ("an extra index file", &|top: &Path| {
            fs_err::write(top.join("repodata/filelists.xml.gz"), b"x").unwrap();
        }),
    ];
    for (i, (case, alter)) in cases.iter().enumerate() {
        let work = tmp.path().join(format!("w{i}"));
        fs_err::create_dir_all(&work).unwrap();
        run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&work));
        alter(&work.join("hello-crafted-x86_64"));
        let crafted = tmp.path().join(format!("crafted{i}.tar.gz"));
        repack(&work, &crafted);
        let v = moa(tmp.path()).arg("verify").arg(&crafted).output().unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(!v.status.success() && err.contains("repodata/"), "{case}: {err}");
        let root = node(tmp.path(), &format!("root{i}"));
        let out = install_via_repo(tmp.path(), &crafted, &root);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("repodata/"), "{case}: {err}");
        assert!(!root.join("var/lib/rpm").exists() && !root.join("var/lib/dnf").exists(), "{case}: dnf ran");
    }
}

/// A repository that lists something else than bundle.json — here only `libgreet`, with
/// SHA256SUMS made to match — is refused before dnf runs; so is a bundle built without one.
#[test]
fn a_repository_that_lists_other_packages_is_refused_before_anything_changes() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (mirror, bundle) = hello_bundle(tmp.path(), &[]);
    let only = tmp.path().join("only.tar.gz");
    let manifest = common::hello_manifest(tmp.path(), &[&mirror.url]);
    let names = ["--name", "hello", "--only", "libgreet"];
    moa(tmp.path()).arg("build").arg("--manifest").arg(&manifest).args(names).arg("-o").arg(&only).assert().success();

    let work = tmp.path().join("w");
    fs_err::create_dir_all(work.join("only")).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&work));
    run(Command::new("tar").arg("-xzf").arg(&only).arg("-C").arg(work.join("only")));
    let top = work.join("hello-crafted-x86_64");
    for f in ["repodata/repomd.xml", "repodata/primary.xml.gz"] {
        fs_err::copy(work.join("only/hello-crafted-x86_64").join(f), top.join(f)).unwrap();
    }
    let crafted = tmp.path().join("crafted.tar.gz");
    repack(&work, &crafted);

    let root = node(tmp.path(), "root");
    let out = install_via_repo(tmp.path(), &crafted, &root);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("repodata/") && err.contains("does not list `hello 1.0-1"), "{err}");
    assert!(!root.join("var/lib/rpm").exists() && !root.join("var/lib/dnf").exists(), "nothing ran");
    // `verify` checks the repository of every bundle that has one.
    let v = moa(tmp.path()).arg("verify").arg(&crafted).output().unwrap();
    assert!(!v.status.success() && String::from_utf8_lossy(&v.stderr).contains("repodata/"));
    let v = moa(tmp.path()).arg("verify").arg(&bundle).output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("its repository lists exactly its packages"));
    // Without --via-repo the repository is not used, and the verified packages install.
    let plain =
        moa(tmp.path()).arg("install").arg(&crafted).arg("--root").arg(&root).arg("--no-scripts").output().unwrap();
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));

    let bare = tmp.path().join("bare.tar.gz");
    moa(tmp.path())
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--no-repo")
        .arg("-o")
        .arg(&bare)
        .assert()
        .success();
    let out = moa(tmp.path())
        .arg("install")
        .arg(&bare)
        .arg("--root")
        .arg(node(tmp.path(), "r2"))
        .args(["--via-repo", "--no-scripts"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--no-repo"), "{err}");
}
