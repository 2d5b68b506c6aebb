//! The parsed-index cache in builds: a bundle is also a repository, so a build keeps each
//! package's published index entry; with the cache those come from the cache entry (checked as
//! they are copied) and the bundle is byte-identical to the one a parse made.

use std::path::Path;

use crate::common::{self, apt_repo, build_deb, moa, require_tools, sha256_file, DebSpec, Keys, Mirror, TestManifest};

/// Builds into `out` with the cache in `dir`; what the build said on stderr.
fn build(dir: &Path, manifest: &Path, out: &Path) -> String {
    let o = moa(dir).arg("build").arg("--manifest").arg(manifest).arg("--no-base").arg("-o").arg(out).output().unwrap();
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{said}");
    said
}

/// Cold, warm, with the cached index entries damaged (refused, parsed again), warm again: the
/// same bytes each time.
fn same_bundle_from_the_cache(dir: &Path, manifest: &Path) {
    let cold = dir.join("cold.tar.gz");
    let said = build(dir, manifest, &cold);
    assert!(!said.contains("parsed-index cache"), "{said}");
    let warm = dir.join("warm.tar.gz");
    let said = build(dir, manifest, &warm);
    assert!(said.contains("read from the parsed-index cache"), "{said}");
    assert_eq!(sha256_file(&warm), sha256_file(&cold), "the bundle from the cache is the parsed one");

    let parsed = dir.join("moa-bundle/parsed-v1");
    let entries: Vec<_> = fs_err::read_dir(&parsed).unwrap().map(|e| e.unwrap().path()).collect();
    let biggest = entries.iter().max_by_key(|p| fs_err::metadata(p).unwrap().len()).unwrap();
    let mut bytes = fs_err::read(biggest).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    fs_err::write(biggest, &bytes).unwrap();
    let damaged = dir.join("damaged.tar.gz");
    let said = build(dir, manifest, &damaged);
    assert!(said.contains("index entries do not match their digest") && said.contains("parsed again"), "{said}");
    assert_eq!(sha256_file(&damaged), sha256_file(&cold));
    let again = dir.join("again.tar.gz");
    let said = build(dir, manifest, &again);
    assert!(said.contains("read from the parsed-index cache") && !said.contains("unusable"), "{said}");
    assert_eq!(sha256_file(&again), sha256_file(&cold));
}

#[test]
fn an_rpm_build_from_the_parsed_index_cache_makes_the_same_bundle() {
    require_tools(&["rpmbuild", "createrepo_c"]);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = Mirror::serve(&common::hello_repo(tmp.path()));
    same_bundle_from_the_cache(tmp.path(), &common::hello_manifest(tmp.path(), &[&mirror.url]));
}

#[test]
fn a_deb_build_from_the_parsed_index_cache_makes_the_same_bundle() {
    require_tools(&["dpkg-deb", "apt-ftparchive", "gpg"]);
    let tmp = tempfile::tempdir().unwrap();
    let debs = tmp.path().join("debs");
    let lib = DebSpec { name: "libgreet1", version: "1.0-1", arch: "amd64", ..Default::default() };
    let hello =
        DebSpec { name: "hello", version: "2.0-1", arch: "amd64", extra: "Depends: libgreet1", ..Default::default() };
    // Two suites of one repository share where the build keeps index entries: `hello`'s
    // entry, from the second, lies after the first suite's.
    let suites = [("stable", vec![build_deb(&debs, &lib)]), ("stable-updates", vec![build_deb(&debs, &hello)])];
    apt_repo(&tmp.path().join("mirror"), &suites);
    let mirror = Mirror::serve(&tmp.path().join("mirror"));
    let manifest = TestManifest::deb(&["hello"])
        .apt_repo_suites("main", &["stable", "stable-updates"], &mirror.url, Keys::Test)
        .write_to(&tmp.path().join("deb.toml"));
    same_bundle_from_the_cache(tmp.path(), &manifest);
    // The suites load on threads of their own, each keeping its entries apart: in the
    // bundle's repository each package has its own stanza, the second suite's included.
    let x = tmp.path().join("x");
    fs_err::create_dir_all(&x).unwrap();
    common::run(std::process::Command::new("tar").arg("-xzf").arg(tmp.path().join("again.tar.gz")).arg("-C").arg(&x));
    let found = common::run(std::process::Command::new("find").arg(&x).args(["-name", "Packages.gz"]));
    let packages = common::run(std::process::Command::new("zcat").arg(found.trim()));
    let mut stanzas: Vec<&str> = packages.split("\n\n").map(str::trim).filter(|s| !s.is_empty()).collect();
    stanzas.sort_unstable();
    assert_eq!(stanzas.len(), 2, "{packages}");
    assert!(stanzas[0].starts_with("Package: hello\n") && stanzas[0].contains("\nVersion: 2.0-1\n"), "{packages}");
    assert!(stanzas[1].starts_with("Package: libgreet1\n") && stanzas[1].contains("\nVersion: 1.0-1\n"), "{packages}");
}
