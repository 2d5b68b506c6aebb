//! Publishing from CI (issue 13, item 1): `scripts/publish.sh` — what the GitHub workflow runs
//! and any CI can — against a loopback mirror: two bundles built in one run (a package they
//! share downloaded once), built again from the cache alone and compared byte for byte, signed,
//! verified, and published with their .sha256, SBOM and signature; a bundle that does not
//! rebuild identically stops it. The workflow's matrix is every built-in manifest for both
//! architectures of its family, and actionlint accepts the file.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{moa, require_tools, run, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "minisign", "sha256sum", "bash"];

/// common::hello_manifest, and a copy of it for another distro name.
fn two_manifests(t: &Path, mirror: &Mirror) -> (PathBuf, PathBuf) {
    let a = common::hello_manifest(t, &[&mirror.url]);
    let b = t.join("crafted2.toml");
    fs_err::write(&b, fs_err::read_to_string(&a).unwrap().replace("distro = \"crafted\"", "distro = \"crafted2\""))
        .unwrap();
    (a, b)
}

fn publish(t: &Path, bin: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/publish.sh"))
        .arg("--out")
        .arg(t.join("out"))
        .arg("--bin")
        .arg(bin)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn publish_builds_twice_compares_signs_and_publishes() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&common::hello_repo(t));
    let (a, b) = two_manifests(t, &mirror);
    moa(t).args(["key", "generate"]).arg(t.join("release")).assert().success();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_moa-bundle"));
    let out = publish(
        t,
        &bin,
        &[
            "--sign".as_ref(),
            t.join("release.key").as_os_str(),
            "--".as_ref(),
            "--manifest".as_ref(),
            a.as_os_str(),
            "--manifest".as_ref(),
            b.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // One run, one cache: each package file came from the mirror once for both bundles and
    // both builds.
    assert_eq!(mirror.requested("hello-1.0-1.x86_64.rpm"), 1);
    assert_eq!(mirror.requested("libgreet-1.0-1.x86_64.rpm"), 1);

    let pub_dir = t.join("out/publish");
    let mut names: Vec<String> =
        fs_err::read_dir(&pub_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut want = vec!["SHA256SUMS".to_string()];
    for d in ["crafted", "crafted2"] {
        for ext in [".cdx.json", ".tar.gz", ".tar.gz.minisig", ".tar.gz.sha256"] {
            want.push(format!("hello-{d}-x86_64{ext}"));
        }
    }
    want.sort();
    assert_eq!(names, want);
    run(Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&pub_dir));
    for d in ["crafted", "crafted2"] {
        let bundle = pub_dir.join(format!("hello-{d}-x86_64.tar.gz"));
        run(Command::new("minisign").arg("-Vq").arg("-p").arg(t.join("release.pub")).arg("-m").arg(&bundle));
        run(Command::new("sha256sum").arg("-c").arg(format!("hello-{d}-x86_64.tar.gz.sha256")).current_dir(&pub_dir));
        let sbom: serde_json::Value =
            serde_json::from_slice(&fs_err::read(pub_dir.join(format!("hello-{d}-x86_64.cdx.json"))).unwrap()).unwrap();
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        assert_eq!(sbom["components"].as_array().unwrap().len(), 2);
    }
}

/// A moa-bundle whose second build comes out different (a wrapper that appends a byte to what
/// it wrote into `second/`): nothing is published.
#[test]
fn a_bundle_that_does_not_rebuild_identically_is_not_published() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&common::hello_repo(t));
    let (a, _) = two_manifests(t, &mirror);
    let wrapper = t.join("moa-unstable");
    fs_err::write(
        &wrapper,
        format!(
            "#!/bin/sh\n'{}' \"$@\" || exit $?\ncase \"$*\" in *\"/out/second\"*) for f in '{}'/out/second/*.tar.gz; do printf x >> \"$f\"; done ;; esac\n",
            env!("CARGO_BIN_EXE_moa-bundle"),
            t.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&wrapper));
    let out = publish(t, &wrapper, &["--".as_ref(), "--manifest".as_ref(), a.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hello-crafted-x86_64.tar.gz is not reproducible"), "{err}");
    assert_eq!(fs_err::read_dir(t.join("out/publish")).unwrap().count(), 0, "nothing published");
}

/// The workflow builds every built-in manifest for both architectures of its family, and
/// actionlint (its WebAssembly build, fetched by scripts/test.sh) finds nothing wrong with it.
#[test]
fn the_workflow_covers_every_builtin_manifest_and_passes_actionlint() {
    require_tools(&["node"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow = root.join(".github/workflows/bundles.yml");
    let text = fs_err::read_to_string(&workflow).unwrap();
    let matrix: std::collections::BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("- { distro: ")?;
            let (d, rest) = l.split_once(", arch: ")?;
            Some((d.to_string(), rest.trim_end_matches(" }").to_string()))
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).args(["distros", "--json"]).output().unwrap();
    let distros: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want = std::collections::BTreeSet::new();
    for d in distros.as_array().unwrap() {
        let other = match d["family"].as_str().unwrap() {
            "rpm" => "aarch64",
            _ => "arm64",
        };
        for arch in [d["arch"].as_str().unwrap(), other] {
            want.insert((d["distro"].as_str().unwrap().to_string(), arch.to_string()));
        }
    }
    assert_eq!(matrix, want);

    let lint = root.join("target/tools/actionlint/package");
    if !lint.join("main.wasm").is_file() {
        common::skip("the_workflow_passes_actionlint", "actionlint is not fetched (bash scripts/test.sh fetches it)");
        return;
    }
    let check = |file: &Path| {
        Command::new("node").arg(root.join("scripts/actionlint.mjs")).arg(&lint).arg(file).output().unwrap()
    };
    let out = check(&workflow);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // It does find problems: a matrix key the workflow never defines.
    let broken = tmp.path().join("broken.yml");
    fs_err::write(&broken, text.replace("${{ matrix.distro }}-${{ matrix.arch }}", "${{ matrix.distribution }}"))
        .unwrap();
    let out = check(&broken);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("distribution"));
}
