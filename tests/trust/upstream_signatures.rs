//! Upstream signatures fail closed, on loopback repositories made and signed at test time by the
//! real tools (rpmbuild, rpmsign, gpg, gpg1 `--force-v3-sigs`, createrepo_c, dpkg-deb,
//! apt-ftparchive): a good chain builds and is recorded in bundle.json; a wrong key, a tampered
//! file, a missing signature, an unsigned rpm or one signed by another key each stop the build
//! with an error naming the file and the keys; `--insecure-skip-signatures` is the recorded
//! escape hatch.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::signing::{repo_key, TestKey};
use crate::common::{
    build_deb, build_rpm, createrepo, moa, require_tools, run, DebSpec, Fault, Mirror, RpmSigner, RpmSpec,
};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "rpmsign", "createrepo_c", "gpg", "gpg1", "dpkg-deb", "apt-ftparchive"];

/// A yum repository under `<dir>/mirror/el/os/x86_64` holding `hello`, signed as `signer` says.
fn yum_repo(dir: &Path, signer: RpmSigner<'_>) -> Mirror {
    let repo = dir.join("mirror/el/os/x86_64");
    build_rpm(
        &repo.join("Packages"),
        &RpmSpec { name: "hello", files: &[("/usr/bin/hello", "hi")], signer, ..Default::default() },
    );
    createrepo(&repo);
    Mirror::serve(&dir.join("mirror"))
}

/// A fresh manifest file name in `dir` (a test writes several).
fn manifest_path(dir: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    dir.join(format!("m{}.toml", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
}

fn yum_manifest(dir: &Path, url: &str, keys: &str) -> PathBuf {
    let p = manifest_path(dir);
    let text = format!(
        "name = \"hello\"\ndistro = \"eltest\"\nfamily = \"rpm\"\narch = \"x86_64\"\nos_release = {{ id = \"centos\", version_id = \"7\" }}\npackages = [\"hello\"]\n[[repository]]\nname = \"os\"\npath = \"el/os/x86_64\"\nmirrors = [\"{url}\"]\n{keys}"
    );
    fs_err::write(&p, text).unwrap();
    p
}

fn build(dir: &Path, manifest: &Path, extra: &[&str]) -> Output {
    moa(dir)
        .arg("build")
        .arg("--manifest")
        .arg(manifest)
        .arg("--no-base")
        .args(extra)
        .arg("-o")
        .arg(dir.join("b.tar.gz"))
        .output()
        .unwrap()
}

/// The build failed and wrote no bundle; its stderr.
fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "the build must fail closed; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn bundle_json(dir: &Path) -> serde_json::Value {
    let text = run(std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(dir.join("b.tar.gz"))
        .arg("--wildcards")
        .arg("*/bundle.json"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_signed_yum_repository_builds_and_bundle_json_names_the_signer() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Repo);
    let m = yum_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let out = build(tmp.path(), &m, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let index = bundle_json(tmp.path());
    assert_eq!(index["upstream_signatures"], "verify");
    let repomd = index["sources"].as_array().unwrap().iter().find(|s| s["file"] == "repodata/repomd.xml").unwrap();
    assert_eq!(repomd["signed_by"].as_str(), Some(repo_key().fingerprint.as_str()), "{index}");
    assert!(mirror.requested("repomd.xml.asc") >= 1);
}

#[test]
fn another_pinned_key_refuses_the_repository_naming_both_keys() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Repo);
    let other = TestKey::generate("other", "ed25519");
    let m = yum_manifest(tmp.path(), &mirror.url, &other.manifest_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("repomd.xml.asc"), "names the file: {err}");
    assert!(err.contains(&other.fingerprint), "names the key expected: {err}");
    assert!(err.contains(&repo_key().fingerprint), "names the key seen: {err}");
    assert!(err.contains("--insecure-skip-signatures"), "says the way out: {err}");
}

#[test]
fn a_tampered_repomd_is_refused() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Repo);
    // Still valid XML, still pointing at the same primary: only the signature can tell.
    let repomd = tmp.path().join("mirror/el/os/x86_64/repodata/repomd.xml");
    let text = fs_err::read_to_string(&repomd).unwrap();
    fs_err::write(&repomd, text.replacen("<revision>", "<revision> ", 1)).unwrap();
    let m = yum_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("is bad") && err.contains("repomd.xml.asc"), "{err}");
}

#[test]
fn a_missing_repomd_signature_is_refused_where_the_manifest_requires_one() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Repo);
    fs_err::remove_file(tmp.path().join("mirror/el/os/x86_64/repodata/repomd.xml.asc")).unwrap();
    let keys = common::repo_keys(tmp.path());
    let m = yum_manifest(tmp.path(), &mirror.url, &format!("{keys}metadata_signed = true\n"));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("repomd.xml.asc"), "{err}");
    // Where it is not required (CentOS 7 publishes none), the package signatures carry the trust.
    let m = yum_manifest(tmp.path(), &mirror.url, &keys);
    let out = build(tmp.path(), &m, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_unsigned_rpm_is_refused_and_the_escape_hatch_is_recorded() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Unsigned);
    let m = yum_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("hello") && err.contains("no signature"), "names the package: {err}");
    assert!(!tmp.path().join("b.tar.gz").exists(), "nothing is left under the bundle's name");
    let out = build(tmp.path(), &m, &["--insecure-skip-signatures"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bundle_json(tmp.path())["upstream_signatures"], "skip");
    // Regression (issue 19, class 9): such a bundle verified, inspected and installed on a node
    // trusting no key without a word about it.
    let root = tmp.path().join("root");
    common::fake_os_release(&root, "centos", "7");
    let b = tmp.path().join("b.tar.gz");
    for args in [&["verify"][..], &["inspect"], &["install", "--dry-run", "--root"]] {
        let mut cmd = moa(tmp.path());
        cmd.args(args);
        if args[0] == "install" {
            cmd.arg(&root);
        }
        let out = cmd.arg(&b).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.contains("--insecure-skip-signatures"), "{args:?}: {err}");
    }
    let out = moa(tmp.path()).args(["install", "--dry-run", "--json", "--root"]).arg(&root).arg(&b).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["upstream_signatures"], "skip");
}

#[test]
fn an_rpm_signed_by_another_key_is_refused() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let other = TestKey::generate("other", "ed25519");
    let mirror = yum_repo(tmp.path(), RpmSigner::Key(&other));
    let m = yum_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("hello-1.0-1.x86_64") && err.contains(&other.fingerprint[24..]), "{err}");
}

/// Regression (issue 19, class 4): only the header signature was checked, so an rpm whose
/// header the pinned key signed but whose payload was replaced (the mirror's metadata made to
/// match it) was packed.
#[test]
fn an_rpm_whose_payload_was_replaced_under_its_signed_header_is_refused() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = yum_repo(tmp.path(), RpmSigner::Repo);
    let repo = tmp.path().join("mirror/el/os/x86_64");
    let rpm = repo.join("Packages/hello-1.0-1.x86_64.rpm");
    let mut bytes = fs_err::read(&rpm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs_err::write(&rpm, bytes).unwrap();
    createrepo(&repo);
    let m = yum_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("hello-1.0-1.x86_64") && err.contains("payload") && err.contains("altered"), "{err}");
}

/// CentOS 7's packages carry V3 RSA/SHA256 signatures: accepted only for a pin marked legacy.
#[test]
fn v3_package_signatures_need_a_legacy_pin() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let rsa = TestKey::generate("el7", "rsa2048");
    let repo = tmp.path().join("mirror/el/os/x86_64");
    let rpm = build_rpm(
        &repo.join("Packages"),
        &RpmSpec { name: "hello", signer: RpmSigner::V3(&rsa), ..Default::default() },
    );
    let info = run(std::process::Command::new("rpm").args(["-qp", "--qf", "%{RSAHEADER:pgpsig}"]).arg(&rpm));
    assert!(info.contains("RSA/SHA256"), "{info}");
    let packet = run(std::process::Command::new("sh").arg("-c").arg(format!(
        "rpm -qp --qf '%{{RSAHEADER}}' '{}' | xxd -r -p | gpg --list-packets 2>/dev/null",
        rpm.display()
    )));
    assert!(packet.contains("version 3"), "rpmsign with gpg1 --force-v3-sigs made a V3 signature: {packet}");
    // repomd signed by the same RSA key.
    createrepo(&repo);
    rsa.sign_repomd(&repo);
    let mirror = Mirror::serve(&tmp.path().join("mirror"));
    let pin = rsa.manifest_keys(tmp.path());
    let err = refused(&build(tmp.path(), &yum_manifest(tmp.path(), &mirror.url, &pin), &[]));
    assert!(err.contains("version-3") && err.contains("legacy = true"), "{err}");
    // Regression (issue 19, class 9): it was reported as "the file was altered".
    assert!(err.contains("is refused") && !err.contains("altered"), "{err}");
    let legacy = pin.replace(" }]", ", legacy = true }]");
    let out = build(tmp.path(), &yum_manifest(tmp.path(), &mirror.url, &legacy), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // repomd.xml.asc signed with SHA-1 (2015-era CentOS updates signing): it proves nothing, so
    // it counts as absent (the V3 package signatures carry the trust), never as good; where the
    // manifest requires a metadata signature, it is refused.
    rsa.sign_repomd_with(&repo, &["--digest-algo", "SHA1"]);
    let cache = tmp.path().join("c-sha1").display().to_string();
    let out = build(tmp.path(), &yum_manifest(tmp.path(), &mirror.url, &legacy), &["--cache-dir", &cache]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("weaker than SHA-224: ignored"), "{err}");
    let strict = format!("{legacy}metadata_signed = true\n");
    let err = refused(&build(tmp.path(), &yum_manifest(tmp.path(), &mirror.url, &strict), &["--cache-dir", &cache]));
    assert!(err.contains("SHA1") && err.contains("repomd.xml.asc"), "{err}");
}

/// An apt archive (`stable`, one package) signed by the test key, on a loopback mirror.
fn apt_archive(dir: &Path) -> Mirror {
    let debs = dir.join("debs");
    let deb = build_deb(
        &debs,
        &DebSpec { name: "hello", version: "1.0", arch: "amd64", extra: "Priority: optional", ..Default::default() },
    );
    common::apt_repo(&dir.join("mirror"), &[("stable", vec![deb])]);
    Mirror::serve(&dir.join("mirror"))
}

fn apt_manifest(dir: &Path, url: &str, keys: &str) -> PathBuf {
    let p = manifest_path(dir);
    let text = format!(
        "name = \"t\"\ndistro = \"debtest\"\nfamily = \"deb\"\narch = \"amd64\"\nos_release = {{ id = \"debian\", version_id = \"12\" }}\npackages = [\"hello\"]\n[[repository]]\nname = \"main\"\nsuites = [\"stable\"]\ncomponents = [\"main\"]\nmirrors = [\"{url}\"]\n{keys}"
    );
    fs_err::write(&p, text).unwrap();
    p
}

#[test]
fn apt_inrelease_wrong_key_tampered_text_and_release_gpg_fallback() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = apt_archive(tmp.path());
    let keys = common::repo_keys(tmp.path());
    let m = apt_manifest(tmp.path(), &mirror.url, &keys);
    let out = build(tmp.path(), &m, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bundle_json(tmp.path())["sources"][0]["signed_by"].as_str(), Some(repo_key().fingerprint.as_str()));

    // Another key pinned.
    let other = TestKey::generate("other", "ed25519");
    let err =
        refused(&build(tmp.path(), &apt_manifest(tmp.path(), &mirror.url, &other.manifest_keys(tmp.path())), &[]));
    assert!(
        err.contains("InRelease") && err.contains(&other.fingerprint) && err.contains(&repo_key().fingerprint),
        "{err}"
    );

    // InRelease answering 500 is an error, not a reason to fall back to Release.
    mirror.fault("InRelease", Fault::Status(500));
    let err = refused(&build(tmp.path(), &m, &["--cache-dir", &tmp.path().join("c1").display().to_string()]));
    assert!(err.contains("InRelease") && mirror.requested("dists/stable/Release") == 0, "{err}");

    // No InRelease at all (404): Release + Release.gpg, as apt does.
    mirror.clear_faults();
    mirror.fault("InRelease", Fault::Status(404));
    let out = build(tmp.path(), &m, &["--cache-dir", &tmp.path().join("c2").display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(mirror.requested("dists/stable/Release.gpg") >= 1);
    // ...and without Release.gpg it fails closed.
    mirror.fault("Release.gpg", Fault::Status(404));
    let err = refused(&build(tmp.path(), &m, &["--cache-dir", &tmp.path().join("c3").display().to_string()]));
    assert!(err.contains("Release.gpg"), "{err}");
    mirror.clear_faults();

    // One byte of the signed text changed (a listed size): the signature breaks.
    let inrelease = tmp.path().join("mirror/dists/stable/InRelease");
    let text = fs_err::read_to_string(&inrelease).unwrap();
    fs_err::write(&inrelease, text.replacen("Suite: stable", "Suite: stablf", 1)).unwrap();
    let err = refused(&build(tmp.path(), &m, &["--cache-dir", &tmp.path().join("c4").display().to_string()]));
    assert!(err.contains("InRelease") && err.contains("is bad"), "{err}");
}

#[test]
fn apt_packages_changed_after_signing_breaks_the_chain() {
    require_tools(TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let mirror = apt_archive(tmp.path());
    let bin = tmp.path().join("mirror/dists/stable/main/binary-amd64");
    // A Packages.xz that lists something else, recompressed: only the signed digests can tell.
    let text =
        fs_err::read_to_string(bin.join("Packages")).unwrap().replace("Priority: optional", "Priority: required");
    fs_err::write(bin.join("Packages"), text).unwrap();
    run(std::process::Command::new("xz").arg("-kf").arg(bin.join("Packages")));
    let m = apt_manifest(tmp.path(), &mirror.url, &common::repo_keys(tmp.path()));
    let err = refused(&build(tmp.path(), &m, &[]));
    assert!(err.contains("Packages.xz") && err.contains("checksum"), "{err}");
}

/// apt's rules on real gpg signatures, judged by `trust::Keyring`: a key is judged at the
/// signature's creation time (a frozen archive signed while its key was valid still verifies
/// after the key expired; a signature made after expiry does not), a data hash weaker than
/// SHA-224 is refused, and a signature by a key nobody pinned beside a good one is ignored.
#[test]
fn validity_at_signing_time_weak_hashes_and_unknown_cosigners() {
    use moa_engine::formats::{Keyring, TrustError};
    use moa_model::key::{Fingerprint, KeyPin};
    require_tools(&["gpg"]);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("g");
    fs_err::create_dir(&home).unwrap();
    fs_err::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |time: &str, args: &[&str]| {
        let mut c = std::process::Command::new("gpg");
        c.env("GNUPGHOME", &home).args([
            "--batch",
            "--yes",
            "--quiet",
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
        ]);
        c.args(["--faked-system-time", time]).args(args);
        run(&mut c)
    };
    gpg("20200101T000000!", &["--quick-gen-key", "old <old@moa.invalid>", "rsa2048", "sign", "never"]);
    let listing = gpg("20200101T000000!", &["--with-colons", "--list-keys", "old@moa.invalid"]);
    let fpr = listing.lines().find_map(|l| l.strip_prefix("fpr:")).unwrap().trim_matches(':').to_string();
    let data = tmp.path().join("Release");
    fs_err::write(&data, "Origin: frozen\n").unwrap();
    let sign = |time: &str, out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        let mut args = vec!["--local-user", fpr.as_str(), "--detach-sign", "--output"];
        let out_s = out.display().to_string();
        let data_s = data.display().to_string();
        args.push(&out_s);
        args.extend_from_slice(extra);
        args.push(&data_s);
        gpg(time, &args);
        fs_err::read(out).unwrap()
    };
    let while_valid = sign("20200601T000000!", "2020.sig", &[]);
    let after_expiry = sign("20220101T000000!", "2022.sig", &[]);
    let sha1 = sign("20200601T000000!", "sha1.sig", &["--digest-algo", "SHA1"]);
    // The key is then given an expiry in 2021 (a self-signature of 2020-06-02).
    gpg("20200602T000000!", &["--quick-set-expire", &fpr, "1y"]);
    let public = gpg("20200602T000000!", &["--armor", "--export", &fpr]).into_bytes();
    // A second key that signs beside it.
    gpg("20200101T000000!", &["--quick-gen-key", "cosigner <co@moa.invalid>", "ed25519", "sign", "never"]);
    let both = tmp.path().join("both.sig");
    gpg(
        "20200601T000000!",
        &[
            "--local-user",
            &fpr,
            "--local-user",
            "co@moa.invalid",
            "--detach-sign",
            "--output",
            &both.display().to_string(),
            &data.display().to_string(),
        ],
    );
    let _ = std::process::Command::new("gpgconf").env("GNUPGHOME", &home).args(["--kill", "gpg-agent"]).status();

    let pin = KeyPin {
        file: "old.asc".into(),
        url: None,
        fingerprint: Fingerprint::new(&fpr).unwrap(),
        legacy: false,
        bytes: public,
        mirror_urls: Vec::new(),
    };
    let ring = Keyring::load(&[pin]).unwrap();
    let bytes = fs_err::read(&data).unwrap();
    ring.verify_detached("Release.gpg", &bytes, &while_valid).expect("signed while the key was valid");
    match ring.verify_detached("Release.gpg", &bytes, &after_expiry) {
        Err(TrustError::Refused { reason, .. }) => assert!(reason.contains("had expired"), "{reason}"),
        other => panic!("a signature made after the key expired must be refused: {other:?}"),
    }
    match ring.verify_detached("Release.gpg", &bytes, &sha1) {
        Err(TrustError::WeakHash { hash, .. }) => assert_eq!(hash, "SHA1"),
        other => panic!("a SHA-1 signature must be refused: {other:?}"),
    }
    let two = fs_err::read(&both).unwrap();
    assert_eq!(moa_engine::formats::parse_signatures(&two).unwrap().len(), 2);
    assert_eq!(ring.verify_detached("Release.gpg", &bytes, &two).unwrap().key.as_str(), fpr);
}
