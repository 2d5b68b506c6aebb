//! Snapshots (`insta`) of what the pipeline writes from fixed inputs: `resolve --json`, the
//! bundle's `bundle.json`, every member's digest, and the reproducible bundle's own sha256. Any
//! change to any of them is then a diff someone reviews (`cargo insta review`), never a silent
//! one: a refactoring that claims "no behaviour change" keeps all four.
//!
//! The inputs are made only by deterministic tools from fixed data: two debs by `dpkg-deb` with
//! `SOURCE_DATE_EPOCH`, an archive indexed by `apt-ftparchive` with a fixed date, left unsigned
//! (test keys are new in every run), and a build with a fixed `SOURCE_DATE_EPOCH`, no carried
//! binary (which changes with every commit), and `--insecure-skip-signatures`, recorded.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, apt_repo, build_deb, moa, require_tools, run, DebSpec, Mirror, EPOCH};

const TOOLS: &[&str] = &["dpkg-deb", "apt-ftparchive", "gzip", "xz", "tar", "sha256sum"];

/// The unsigned archive, served, and a manifest for it.
fn archive(tmp: &Path) -> (Mirror, PathBuf) {
    let debs = tmp.join("debs");
    let lib = DebSpec {
        name: "libgreet1",
        version: "1.2-3",
        extra: "Provides: libgreet\nPriority: optional",
        files: &[("/usr/lib/x86_64-linux-gnu/libgreet.so.1", "lib")],
        ..Default::default()
    };
    let hello = DebSpec {
        name: "hello",
        version: "2:2.10-3",
        extra: "Depends: libgreet1 (>= 1.0), libgreet\nConflicts: hello-traditional\nReplaces: hello-traditional",
        files: &[("/usr/bin/hello", "hi")],
        scripts: &[("postinst", "#!/bin/sh\nexit 0\n")],
        ..Default::default()
    };
    let list = vec![build_deb(&debs, &lib), build_deb(&debs, &hello)];
    let root = tmp.join("mirror");
    apt_repo(&root, &[("stable", list)]);
    for signed in ["InRelease", "Release.gpg"] {
        let _ = fs_err::remove_file(root.join("dists/stable").join(signed));
    }
    let manifest = tmp.join("snap.toml");
    fs_err::write(
        &manifest,
        "name = \"hello\"\ndistro = \"snap\"\nfamily = \"deb\"\narch = \"amd64\"\nos_release = { id = \"debian\", version_id = \"12\" }\npackages = [\"hello\"]\n\n[[repository]]\nname = \"main\"\nsuites = [\"stable\"]\ncomponents = [\"main\"]\nmirrors = [\"http://127.0.0.1:9/\"]\n",
    )
    .unwrap();
    (Mirror::serve(&root), manifest)
}

fn moa_at(tmp: &Path, mirror: &Mirror, manifest: &Path, args: &[&str]) -> std::process::Output {
    let out = moa(tmp)
        .args(args)
        .arg("--manifest")
        .arg(manifest)
        .args(["--mirror", &mirror.url, "--insecure-skip-signatures"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The mirror's port and the temporary directory change from run to run: the only values
/// redacted.
fn redact(text: &str, mirror: &Mirror, tmp: &Path) -> String {
    text.replace(mirror.url.trim_end_matches('/'), "http://127.0.0.1:PORT").replace(tmp.to_str().unwrap(), "TMP")
}

#[test]
fn resolve_json_bundle_json_and_the_bundles_bytes_are_pinned() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let (mirror, manifest) = archive(tmp.path());

    let resolved = moa_at(tmp.path(), &mirror, &manifest, &["resolve", "--no-base", "--json"]);
    let resolved: serde_json::Value = serde_json::from_slice(&resolved.stdout).unwrap();
    insta::assert_snapshot!(
        "resolve_json",
        redact(&serde_json::to_string_pretty(&resolved).unwrap(), &mirror, tmp.path())
    );

    let bundle = tmp.path().join("b.tar.gz");
    let b = bundle.to_str().unwrap();
    moa_at(tmp.path(), &mirror, &manifest, &["build", "--no-base", "--no-installer", "-o", b]);
    let index = run(Command::new("tar").arg("-xzOf").arg(&bundle).arg("--wildcards").arg("*/bundle.json"));
    insta::assert_snapshot!("bundle_json", redact(&index, &mirror, tmp.path()));
    let sums = run(Command::new("tar").arg("-xzOf").arg(&bundle).arg("--wildcards").arg("*/SHA256SUMS"));
    insta::assert_snapshot!("sha256sums", sums);
    insta::assert_snapshot!("bundle_sha256", common::sha256_file(&bundle));

    // The pinned values are checked by other hands than the program's: the real sha256sum over
    // the unpacked members, and the debs' digests as the test computes them.
    let unpacked = tmp.path().join("unpacked");
    fs_err::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked).arg("--strip-components=1"));
    run(Command::new("sha256sum").arg("--quiet").arg("-c").arg("SHA256SUMS").current_dir(&unpacked));
    let index: serde_json::Value = serde_json::from_str(&index).unwrap();
    for p in index["packages"].as_array().unwrap() {
        let deb = tmp.path().join("debs").join(p["file"].as_str().unwrap());
        assert_eq!(p["sha256"], common::sha256_file(&deb), "{}", deb.display());
    }
}
