//! The newer built-in manifests (debian13, ubuntu2204, ubuntu2404) as shipped — their keys
//! replaced by the test archive's — against a signed loopback archive holding amd64 and arm64,
//! and `--arch` picking the other architecture's packages (and, for Ubuntu, its ports mirrors).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{build_deb, moa, require_tools, run, DebSpec, Mirror};

const TOOLS: &[&str] = &["dpkg-deb", "apt-ftparchive", "gpg", "xz"];

/// `dists/<suite>/main/binary-{amd64,arm64}/Packages.xz` over one pool, signed by the test key.
fn two_arch_archive(root: &Path, suites: &[&str], debs: &[PathBuf]) {
    let pool = root.join("pool/main");
    std::fs::create_dir_all(&pool).unwrap();
    for d in debs {
        std::fs::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    for suite in suites {
        let dist = root.join("dists").join(suite);
        for (arch, component) in [("amd64", "main"), ("arm64", "main"), ("amd64", "universe"), ("arm64", "universe")] {
            let bin = dist.join(component).join(format!("binary-{arch}"));
            std::fs::create_dir_all(&bin).unwrap();
            let listing = if component == "main" && !suite.contains('-') {
                run(Command::new("apt-ftparchive").current_dir(root).args(["--arch", arch, "packages", "pool/main"]))
            } else {
                String::new()
            };
            std::fs::write(bin.join("Packages"), listing).unwrap();
            run(Command::new("xz").arg("-kf").arg(bin.join("Packages")));
        }
        let release = run(Command::new("apt-ftparchive")
            .current_dir(&dist)
            .args(["-o", &format!("APT::FTPArchive::Release::Suite={suite}")])
            .args(["-o", "APT::FTPArchive::Release::Architectures=amd64 arm64"])
            .args(["-o", "APT::FTPArchive::Release::Date=Tue, 14 Nov 2023 22:13:20 UTC"])
            .args(["release", "."]));
        std::fs::write(dist.join("Release"), release).unwrap();
        common::signing::repo_key().sign_release(&dist);
    }
}

fn debs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for arch in ["amd64", "arm64"] {
        out.push(build_deb(
            dir,
            &DebSpec { name: "ntpsec", version: "1.2.3-1", arch, extra: "Depends: libntp1", ..Default::default() },
        ));
        out.push(build_deb(
            dir,
            &DebSpec { name: "libntp1", version: "1.2.3-1", arch, extra: "", ..Default::default() },
        ));
    }
    out.push(build_deb(
        dir,
        &DebSpec {
            name: "ntpsec-ntpdate",
            version: "1.2.3-1",
            arch: "all",
            extra: "Depends: ntpsec",
            ..Default::default()
        },
    ));
    out
}

fn plan(t: &Path, manifest: &Path, url: &str, arch: Option<&str>) -> Vec<(String, String)> {
    let mut cmd = moa(t);
    cmd.args(["resolve", "--no-base", "--json", "--manifest"]).arg(manifest).args(["--mirror", url]);
    if let Some(a) = arch {
        cmd.args(["--arch", a]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().into(), p["arch"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn the_new_manifests_resolve_their_time_daemon_for_amd64_and_arm64() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let debs = debs(&t.join("debs"));
    for (distro, suites) in [
        ("debian13", &["trixie", "trixie-updates", "trixie-security"][..]),
        ("ubuntu2204", &["jammy", "jammy-updates", "jammy-security"][..]),
        ("ubuntu2404", &["noble", "noble-updates", "noble-security"][..]),
    ] {
        let root = t.join(distro);
        two_arch_archive(&root.join("mirror"), suites, &debs);
        let mirror = Mirror::serve(&root.join("mirror"));
        std::fs::create_dir_all(&root).unwrap();
        let manifest = common::builtin_manifest_for_test_archive(distro, &root);
        let amd64 = plan(t, &manifest, &mirror.url, None);
        assert_eq!(
            amd64,
            [
                ("libntp1".into(), "amd64".into()),
                ("ntpsec".into(), "amd64".into()),
                ("ntpsec-ntpdate".into(), "all".into())
            ],
            "{distro}"
        );
        let arm64 = plan(t, &manifest, &mirror.url, Some("arm64"));
        assert_eq!(
            arm64,
            [
                ("libntp1".into(), "arm64".into()),
                ("ntpsec".into(), "arm64".into()),
                ("ntpsec-ntpdate".into(), "all".into())
            ],
            "{distro}"
        );
        assert!(mirror.requested("binary-arm64/Packages.xz") >= 1);
    }
}
