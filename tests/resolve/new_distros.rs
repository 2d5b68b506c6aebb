//! The newer built-in apt manifests (debian13, ubuntu2004, ubuntu2204, ubuntu2404) as shipped — their keys
//! replaced by the test archive's — against a signed loopback archive holding amd64 and arm64,
//! and `--arch` picking the other architecture's packages (and, for Ubuntu, its ports mirrors).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{build_deb, moa, require_tools, run, DebSpec, Mirror};

const TOOLS: &[&str] = &["dpkg-deb", "apt-ftparchive", "gpg", "xz"];

/// `dists/<suite>/main/binary-{amd64,arm64}/Packages.xz` over one pool, signed by the test key.
fn two_arch_archive(root: &Path, suites: &[&str], debs: &[PathBuf]) {
    let pool = root.join("pool/main");
    fs_err::create_dir_all(&pool).unwrap();
    for d in debs {
        fs_err::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    for suite in suites {
        let dist = root.join("dists").join(suite);
        for (arch, component) in [("amd64", "main"), ("arm64", "main"), ("amd64", "universe"), ("arm64", "universe")] {
            let bin = dist.join(component).join(format!("binary-{arch}"));
            fs_err::create_dir_all(&bin).unwrap();
            let listing = if component == "main" && !suite.contains('-') {
                run(Command::new("apt-ftparchive").current_dir(root).args(["--arch", arch, "packages", "pool/main"]))
            } else {
                String::new()
            };
            fs_err::write(bin.join("Packages"), listing).unwrap();
            run(Command::new("xz").arg("-kf").arg(bin.join("Packages")));
        }
        let release = run(Command::new("apt-ftparchive")
            .current_dir(&dist)
            .args(["-o", &format!("APT::FTPArchive::Release::Suite={suite}")])
            .args(["-o", "APT::FTPArchive::Release::Architectures=amd64 arm64"])
            .args(["-o", "APT::FTPArchive::Release::Date=Tue, 14 Nov 2023 22:13:20 UTC"])
            .args(["release", "."]));
        fs_err::write(dist.join("Release"), release).unwrap();
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
        // The classic ntp (Ubuntu 20.04) and its ntpdate.
        out.push(build_deb(
            dir,
            &DebSpec { name: "ntp", version: "4.2.8p12-1", arch, extra: "Depends: libopts25", ..Default::default() },
        ));
        out.push(build_deb(dir, &DebSpec { name: "libopts25", version: "5.18-1", arch, ..Default::default() }));
        out.push(build_deb(dir, &DebSpec { name: "ntpdate", version: "4.2.8p12-1", arch, ..Default::default() }));
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

#[test]
fn the_new_manifests_resolve_their_time_daemon_for_amd64_and_arm64() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let debs = debs(&t.join("debs"));
    // (package, arch-independent) of each daemon's closure.
    let ntpsec: &[(&str, bool)] = &[("libntp1", false), ("ntpsec", false), ("ntpsec-ntpdate", true)];
    let ntp: &[(&str, bool)] = &[("libopts25", false), ("ntp", false), ("ntpdate", false)];
    let cases = [
        ("debian13", &["trixie", "trixie-updates", "trixie-security"], ntpsec),
        ("ubuntu2004", &["focal", "focal-updates", "focal-security"], ntp),
        ("ubuntu2204", &["jammy", "jammy-updates", "jammy-security"], ntpsec),
        ("ubuntu2404", &["noble", "noble-updates", "noble-security"], ntpsec),
    ];
    for (distro, suites, closure) in cases {
        let want = |arch: &str| -> Vec<(String, String)> {
            closure.iter().map(|(n, all)| (n.to_string(), if *all { "all" } else { arch }.to_string())).collect()
        };
        let root = t.join(distro);
        two_arch_archive(&root.join("mirror"), suites, &debs);
        let mirror = Mirror::serve(&root.join("mirror"));
        fs_err::create_dir_all(&root).unwrap();
        let manifest = common::builtin_manifest_for_test_archive(distro, &root);
        // A cache per distro: their indexes are byte-identical here, so a shared one would
        // hand the second distro the first one's parsed arm64 index without a fetch.
        let cache = root.join("cache");
        assert_eq!(common::resolve_name_arch(&cache, &manifest, &mirror.url, None), want("amd64"), "{distro}");
        assert_eq!(common::resolve_name_arch(&cache, &manifest, &mirror.url, Some("arm64")), want("arm64"), "{distro}");
        assert!(mirror.requested("binary-arm64/Packages.xz") >= 1);
    }
}

/// Ubuntu 22.04 and later build their debs with zstd members (`control.tar.zst`,
/// `data.tar.zst`): they go through build, verify (the header check reads the zstd control) and
/// install into a throwaway dpkg root.
#[test]
fn zstd_debs_build_and_install_into_a_throwaway_root() {
    require_tools(&["dpkg-deb", "dpkg", "apt-ftparchive", "gpg", "xz"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let d = t.join("debs");
    let files = [("/usr/share/ntpsec/marker", "zstd")];
    let debs = vec![
        build_deb(
            &d,
            &DebSpec {
                name: "ntpsec",
                version: "1.2.3-1",
                extra: "Depends: libntp1",
                files: &files,
                zstd: true,
                ..Default::default()
            },
        ),
        build_deb(&d, &DebSpec { name: "libntp1", version: "1.2.3-1", zstd: true, ..Default::default() }),
    ];
    assert!(run(Command::new("ar").arg("t").arg(&debs[0])).contains("data.tar.zst"));
    two_arch_archive(&t.join("mirror"), &["noble", "noble-updates", "noble-security"], &debs);
    let mirror = Mirror::serve(&t.join("mirror"));
    let manifest = common::builtin_manifest_for_test_archive("ubuntu2404", t);
    let bundle = t.join("b.tar.gz");
    let out = moa(t)
        .args(["build", "--no-base", "--manifest"])
        .arg(&manifest)
        .args(["--mirror", &mirror.url, "-o"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = t.join("root");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        fs_err::create_dir_all(root.join(dir)).unwrap();
    }
    fs_err::write(root.join("var/lib/dpkg/status"), "").unwrap();
    common::fake_os_release(&root, "ubuntu", "24.04");
    let out = moa(t).arg("install").arg(&bundle).arg("--root").arg(&root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs_err::read_to_string(root.join("usr/share/ntpsec/marker")).unwrap(), "zstd\n");
    let status = fs_err::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Package: ntpsec") && status.contains("Package: libntp1"), "{status}");
}
