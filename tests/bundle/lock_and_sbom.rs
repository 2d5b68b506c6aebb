//! `moa-bundle lock` → `build --locked` reproduces the bundle byte for byte and fails naming
//! what vanished or changed upstream; every bundle carries its lock and a CycloneDX 1.5 SBOM
//! that the real validator (PyPI `cyclonedx-python-lib`, strict JSON schema) accepts, for an rpm
//! and a deb bundle.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{build_deb, build_rpm, createrepo, moa, require_tools, run, DebSpec, Mirror, RpmSpec};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "rpmsign", "createrepo_c", "gpg", "dpkg-deb", "apt-ftparchive"];

/// The yum repository: `hello` needs `libgreet.so.1`, which `libgreet` (MIT) provides.
fn yum(dir: &Path) -> (Mirror, PathBuf) {
    let repo = common::hello_repo(dir);
    let mirror = Mirror::serve(&repo);
    let manifest = common::hello_manifest(dir, &[&mirror.url]);
    (mirror, manifest)
}

fn member(bundle: &Path, name: &str) -> Vec<u8> {
    let out =
        Command::new("tar").arg("-xzOf").arg(bundle).arg("--wildcards").arg(format!("*/{name}")).output().unwrap();
    assert!(out.status.success(), "{name} is not in {}", bundle.display());
    out.stdout
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn lock_then_build_locked_reproduces_the_bundle_and_names_what_changed_upstream() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, manifest) = yum(t);
    let lock = t.join("moa.lock");
    ok(moa(&t.join("c1"))
        .arg("lock")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--no-base")
        .arg("-o")
        .arg(&lock)
        .output()
        .unwrap());
    let text = fs_err::read_to_string(&lock).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    let pkgs = parsed["package"].as_array().unwrap();
    let names: Vec<&str> = pkgs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hello", "libgreet"], "install order: stage, then name\n{text}");
    assert_eq!(pkgs[0]["depends"].as_array().unwrap()[0].as_str(), Some("libgreet"), "{text}");
    assert_eq!(
        pkgs[0]["sha256"].as_str().unwrap(),
        common::sha256_file(&t.join("repo/el/os/x86_64/Packages/hello-1.0-1.x86_64.rpm"))
    );
    let repomd = parsed["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"].as_str() == Some("repodata/repomd.xml"))
        .unwrap();
    assert_eq!(repomd["signed_by"].as_str(), Some(common::signing::repo_key().fingerprint.as_str()), "{text}");

    // build and build --locked, each with its own cache: the same bytes, carrying that lock.
    let plain = t.join("plain.tar.gz");
    let locked = t.join("locked.tar.gz");
    ok(moa(&t.join("c2"))
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--no-base")
        .arg("-o")
        .arg(&plain)
        .output()
        .unwrap());
    ok(moa(&t.join("c3"))
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--locked")
        .arg(&lock)
        .arg("-o")
        .arg(&locked)
        .output()
        .unwrap());
    assert_eq!(common::sha256_file(&plain), common::sha256_file(&locked));
    assert_eq!(member(&locked, "moa.lock"), text.as_bytes());

    // `build --locked LOCK` into x.tar.gz, with its own cache: it must fail.
    let build_locked = |cache: &str, lock: &Path| {
        moa(&t.join(cache))
            .arg("build")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--locked")
            .arg(lock)
            .arg("-o")
            .arg(t.join("x.tar.gz"))
            .output()
            .unwrap()
    };

    // Upstream rebuilds hello with other content under the same name: changed.
    let os = t.join("repo/el/os/x86_64");
    let original = t.join("hello.rpm");
    fs_err::rename(os.join("Packages/hello-1.0-1.x86_64.rpm"), &original).unwrap();
    build_rpm(
        &os.join("Packages"),
        &RpmSpec {
            name: "hello",
            requires: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/bin/hello", "changed")],
            ..Default::default()
        },
    );
    createrepo(&os);
    let out = build_locked("c4", &lock);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("hello-1.0-1.x86_64 changed upstream") && err.contains("moa-bundle lock"),
        "{err}"
    );
    // Upstream puts hello back as it was and removes libgreet: vanished.
    fs_err::rename(&original, os.join("Packages/hello-1.0-1.x86_64.rpm")).unwrap();
    fs_err::remove_file(os.join("Packages/libgreet-1.0-1.x86_64.rpm")).unwrap();
    createrepo(&os);
    let out = build_locked("c5", &lock);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("libgreet-1.0-1.x86_64") && err.contains("no longer in"), "{err}");
    assert!(!t.join("x.tar.gz").exists());

    // A lock for another bundle, and a hostile one, are refused naming the file.
    let other = t.join("other.lock");
    fs_err::write(&other, text.replace("distro = \"crafted\"", "distro = \"centos7\"")).unwrap();
    let out = build_locked("c5", &other);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is for hello-centos7-x86_64"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs_err::write(&other, text.replace("location = \"Packages/hello", "location = \"../../etc/hello")).unwrap();
    let out = build_locked("c5", &other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("other.lock"), "{err}");
}

/// The validator: `cyclonedx-python-lib`'s strict JSON validator for spec 1.5, in a venv that
/// scripts/test.sh makes (`target/cdx-venv`).
fn validate_cyclonedx(sbom: &Path) {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cdx-venv/bin/python");
    if !py.exists() {
        common::skip(
            "validate_cyclonedx",
            "target/cdx-venv is missing: scripts/test.sh makes it (pip install cyclonedx-python-lib[json-validation])",
        );
        return;
    }
    let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nif err: sys.exit(f'invalid CycloneDX 1.5: {err}')\nprint('valid')\n";
    let out = run(Command::new(py).arg("-c").arg(script).arg(sbom));
    assert!(out.contains("valid"));
}

#[test]
fn rpm_and_deb_bundles_carry_a_valid_cyclonedx_sbom_with_purls_and_the_graph() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, manifest) = yum(t);
    let bundle = t.join("rpm.tar.gz");
    ok(moa(t).arg("build").arg("--manifest").arg(&manifest).arg("--no-base").arg("-o").arg(&bundle).output().unwrap());
    let printed = ok(moa(t).arg("sbom").arg(&bundle).output().unwrap()).stdout;
    assert_eq!(printed, member(&bundle, "sbom.cdx.json"));
    let path = t.join("rpm.cdx.json");
    fs_err::write(&path, &printed).unwrap();
    validate_cyclonedx(&path);
    let v: serde_json::Value = serde_json::from_slice(&printed).unwrap();
    assert_eq!(v["specVersion"], "1.5");
    let hello = v["components"].as_array().unwrap().iter().find(|c| c["name"] == "hello").unwrap();
    assert_eq!(hello["purl"], "pkg:rpm/centos/hello@1.0-1?arch=x86_64&distro=centos-7&epoch=0");
    assert_eq!(
        hello["hashes"][0]["content"].as_str().unwrap(),
        common::sha256_file(&t.join("repo/el/os/x86_64/Packages/hello-1.0-1.x86_64.rpm"))
    );
    assert_eq!(hello["licenses"][0]["license"]["name"], "MIT", "rpmbuild's License: MIT from primary.xml");
    let props = hello["properties"].as_array().unwrap();
    assert!(
        props.iter().any(|p| p["name"] == "moa-bundle:source-package" && p["value"] == "hello-1.0-1.src.rpm"),
        "{props:?}"
    );
    let dep = v["dependencies"].as_array().unwrap().iter().find(|d| d["ref"] == hello["bom-ref"]).unwrap();
    assert_eq!(dep["dependsOn"][0], "pkg:rpm/centos/libgreet@1.0-1?arch=x86_64&distro=centos-7&epoch=0");

    // deb: Debian's version with its epoch, the codename as distro, Source as the source package.
    let debs = t.join("debs");
    let a = build_deb(
        &debs,
        &DebSpec {
            name: "tool",
            version: "1:2.0-1",
            arch: "amd64",
            extra: "Depends: libtool1\nSource: toolsrc",
            ..Default::default()
        },
    );
    let b = build_deb(
        &debs,
        &DebSpec { name: "libtool1", version: "2.0-1", arch: "amd64", extra: "", ..Default::default() },
    );
    common::apt_repo(&t.join("apt"), &[("bookworm", vec![a, b])]);
    let mirror = Mirror::serve(&t.join("apt"));
    let m = common::TestManifest::deb(&["tool"])
        .apt_repo("main", "bookworm", &mirror.url, common::Keys::Test)
        .write_to(&t.join("deb.toml"));
    let bundle = t.join("deb.tar.gz");
    ok(moa(t).arg("build").arg("--manifest").arg(&m).arg("--no-base").arg("-o").arg(&bundle).output().unwrap());
    let sbom = member(&bundle, "sbom.cdx.json");
    let path = t.join("deb.cdx.json");
    fs_err::write(&path, &sbom).unwrap();
    validate_cyclonedx(&path);
    let v: serde_json::Value = serde_json::from_slice(&sbom).unwrap();
    let tool = v["components"].as_array().unwrap().iter().find(|c| c["name"] == "tool").unwrap();
    assert_eq!(tool["purl"], "pkg:deb/debian/tool@1:2.0-1?arch=amd64&distro=bookworm");
    assert!(tool["properties"].as_array().unwrap().iter().any(|p| p["value"] == "toolsrc"));
    let dep = v["dependencies"].as_array().unwrap().iter().find(|d| d["ref"] == tool["bom-ref"]).unwrap();
    assert_eq!(dep["dependsOn"][0], "pkg:deb/debian/libtool1@2.0-1?arch=amd64&distro=bookworm");
}

/// Ad-hoc requests: positional PACKAGEs and `--package` add to the manifest's list (a pin
/// replaces the manifest's request), `--only` replaces it (the bundle is then named after the
/// first package and carries no time roles), and a bad request is refused by name.
#[test]
fn ad_hoc_packages_add_to_or_replace_the_manifests_list() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, manifest) = yum(t);
    let names = |out: &std::process::Output| -> Vec<(String, bool)> {
        let v: serde_json::Value = serde_json::from_slice(&ok(out.clone()).stdout).unwrap();
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["requested"].as_bool().unwrap()))
            .collect()
    };
    let resolve = |args: &[&str]| {
        moa(t).args(["resolve", "--no-base", "--json", "--manifest"]).arg(&manifest).args(args).output().unwrap()
    };
    // The manifest asks for hello; libgreet comes as its dependency.
    assert_eq!(names(&resolve(&[])), [("hello".to_string(), true), ("libgreet".to_string(), false)]);
    // Added (positional and --package): libgreet becomes a request.
    assert_eq!(names(&resolve(&["libgreet"])), [("hello".to_string(), true), ("libgreet".to_string(), true)]);
    assert_eq!(
        names(&resolve(&["--package", "libgreet=1.0-1"])),
        [("hello".to_string(), true), ("libgreet".to_string(), true)]
    );
    // Only: hello is not bundled at all.
    assert_eq!(names(&resolve(&["--only", "libgreet"])), [("libgreet".to_string(), true)]);
    // A pin that no repository has is refused naming the package.
    let out = resolve(&["hello=9.9-1"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("hello") && text.contains("9.9-1"), "{text}");
    // --only with nothing named, and a name that is not a package name, are refused up front.
    let out = resolve(&["--only"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--only needs packages"));
    let out = resolve(&["../etc"]);
    assert!(!out.status.success());

    // The bundle of --only is named after the package and carries no time roles.
    let dir = t.join("out");
    ok(moa(t)
        .args(["build", "--no-base", "--only", "libgreet", "--manifest"])
        .arg(&manifest)
        .arg("-o")
        .arg(&dir)
        .output()
        .unwrap());
    let bundle = dir.join("libgreet-crafted-x86_64.tar.gz");
    let list = run(Command::new("tar").arg("-tzf").arg(&bundle));
    assert!(
        !list.contains("/roles/")
            && list.contains("packages/libgreet-1.0-1.x86_64.rpm")
            && !list.contains("packages/hello"),
        "{list}"
    );
}

/// Issue 20, item 8: `build --locked moa.lock` takes the distro (and arch) the lock names; a
/// lock of a manifest that is not built in asks for that manifest.
#[test]
fn build_locked_needs_no_distro_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let lock = t.join("moa.lock");
    let header = |distro: &str| {
        format!("version = 1\nname = \"ntp\"\ndistro = \"{distro}\"\narch = \"x86_64\"\nupstream_signatures = \"verify\"\nsource_date_epoch = 1\n")
    };
    let build = || {
        moa(t)
            .arg("build")
            .arg("--locked")
            .arg(&lock)
            .arg("--offline")
            .arg("-o")
            .arg(t.join("x.tar.gz"))
            .output()
            .unwrap()
    };
    // centos7's own repositories are read (offline here, so the error names their path).
    fs_err::write(&lock, header("centos7")).unwrap();
    let err = String::from_utf8_lossy(&build().stderr).to_string();
    assert!(err.contains("7.9.2009/os/x86_64/repodata/repomd.xml is not in the cache"), "{err}");
    fs_err::write(&lock, header("debtest")).unwrap();
    let err = String::from_utf8_lossy(&build().stderr).to_string();
    assert!(err.contains("lock of distro `debtest`, which is not built in") && err.contains("--manifest"), "{err}");
}
