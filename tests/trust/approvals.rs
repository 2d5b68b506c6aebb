//! Approvals and the node's policy (issue 25): a bundle built and signed by `builder`, a node
//! whose `/etc/moa-bundle/policy.toml` requires `builder` and `security`. Only the builder's
//! signature: refused, naming `security`. An approval by a key outside the policy, by a key of
//! another role, or for another bundle: refused, each named. The security key's approval: it
//! installs. The real `minisign` verifies an approval; `verify --node` and `install.sh` follow
//! the same policy.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, fake_os_release, hello_manifest, hello_repo, moa, require_tools, run, Mirror};

struct World {
    tmp: tempfile::TempDir,
    _mirror: Mirror,
    keys: PathBuf,
    root: PathBuf,
    bundle: PathBuf,
    other: PathBuf,
}

fn world() -> World {
    require_tools(&["rpm", "rpmbuild", "createrepo_c", "minisign"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = Mirror::serve(&hello_repo(t));
    let manifest = hello_manifest(t, &[&mirror.url]);
    let keys = t.join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    for k in ["builder", "security", "outsider"] {
        moa(t).args(["key", "generate"]).arg(keys.join(k)).assert().success();
    }
    let build = |out: &Path, extra: &[&str]| {
        let o = moa(t)
            .args(["build", "--no-base", "--manifest"])
            .arg(&manifest)
            .args(["--sign"])
            .arg(keys.join("builder.key"))
            .args(extra)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (bundle, other) = (t.join("b/hello.tar.gz"), t.join("o/hello.tar.gz"));
    build(&bundle, &[]);
    build(&other, &["--no-repo"]);
    build(&t.join("parts/hello.tar.gz"), &["--split-size", "16K"]);
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    let etc = root.join("etc/moa-bundle/keys");
    fs_err::create_dir_all(&etc).unwrap();
    for k in ["builder", "security"] {
        fs_err::copy(keys.join(format!("{k}.pub")), etc.join(format!("{k}.pub"))).unwrap();
    }
    fs_err::write(
        root.join("etc/moa-bundle/policy.toml"),
        "require = [\"builder\", \"security\"]\n[roles.builder]\nkeys = [\"keys/builder.pub\"]\n[roles.security]\nkeys = [\"keys/security.pub\"]\n",
    )
    .unwrap();
    World { tmp, _mirror: mirror, keys, root, bundle, other }
}

impl World {
    fn approve(&self, bundle: &Path, key: &str, role: &str) {
        let o = moa(self.tmp.path())
            .arg("approve")
            .arg(bundle)
            .arg("--key")
            .arg(self.keys.join(format!("{key}.key")))
            .args(["--role", role])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn install(&self) -> std::process::Output {
        moa(self.tmp.path())
            .arg("install")
            .arg(&self.bundle)
            .arg("--root")
            .arg(&self.root)
            .arg("--no-scripts")
            .output()
            .unwrap()
    }

    fn refused(&self, expected: &[&str]) {
        let o = self.install();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{err}");
        for e in expected {
            assert!(err.contains(e), "expected `{e}` in:\n{err}");
        }
        assert!(!self.root.join("usr/bin/hello").exists(), "nothing was installed");
    }

    fn sidecar(&self, bundle: &Path) -> PathBuf {
        PathBuf::from(format!("{}.approvals", bundle.display()))
    }

    fn key_id(&self, name: &str) -> String {
        let text = fs_err::read_to_string(self.keys.join(format!("{name}.pub"))).unwrap();
        let line = text.lines().next().unwrap();
        line.rsplit(' ').next().unwrap().to_string()
    }
}

#[test]
fn a_policy_needs_every_role_and_names_what_is_missing_or_refused() {
    let w = world();
    w.refused(&["does not meet this node's approval policy", "it lacks the role security"]);

    // A key the policy does not name, a key of another role, an approval of another bundle.
    w.approve(&w.bundle, "outsider", "security");
    w.refused(&["lacks the role security", "that key is not in the policy"]);
    fs_err::remove_file(w.sidecar(&w.bundle)).unwrap();
    w.approve(&w.bundle, "builder", "security");
    w.refused(&["lacks the role security", "that key holds builder in the policy, not `security`"]);
    w.approve(&w.other, "security", "security");
    fs_err::copy(w.sidecar(&w.other), w.sidecar(&w.bundle)).unwrap();
    w.refused(&["lacks the role security", "it approves another bundle"]);
    fs_err::remove_file(w.sidecar(&w.bundle)).unwrap();

    // The security key's approval: both roles met.
    w.approve(&w.bundle, "security", "security");
    let v = moa(w.tmp.path()).arg("verify").arg(&w.bundle).args(["--node", "--root"]).arg(&w.root).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{text}{}", String::from_utf8_lossy(&v.stderr));
    assert!(text.contains("approved") && text.contains("security") && text.contains("(approval)"), "{text}");
    let o = w.install();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(w.root.join("usr/bin/hello").exists());
    let builder = format!("builder                      by key {} (signature)", w.key_id("builder"));
    let security = format!("security                     by key {} (approval)", w.key_id("security"));
    assert!(text.contains(&builder) && text.contains(&security), "{text}");
}

#[test]
fn an_approval_verifies_with_the_real_minisign_and_install_sh_defers_to_the_policy() {
    let w = world();
    w.approve(&w.bundle, "security", "security");
    let sidecar: serde_json::Value = serde_json::from_slice(&fs_err::read(w.sidecar(&w.bundle)).unwrap()).unwrap();
    let a = &sidecar["approvals"][0];
    let t = w.tmp.path();
    fs_err::write(t.join("statement"), a["statement"].as_str().unwrap()).unwrap();
    fs_err::write(t.join("statement.minisig"), a["signature"].as_str().unwrap()).unwrap();
    let out = run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(w.keys.join("security.pub"))
        .arg("-m")
        .arg(t.join("statement")));
    assert!(out.contains("Signature and comment signature verified"), "{out}");
    let statement = a["statement"].as_str().unwrap();
    assert!(statement.contains(&format!("bundle-sha256: {}\n", common::sha256_file(&w.bundle))), "{statement}");
    assert!(statement.ends_with("review-sha256: none\nrole: security\n"), "{statement}");

    // Without a moa-bundle to run, install.sh cannot check approvals: under a policy it refuses.
    let u = t.join("u");
    fs_err::create_dir_all(&u).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&w.bundle).arg("-C").arg(&u));
    let script = fs_err::read_dir(&u).unwrap().next().unwrap().unwrap().path().join("install.sh");
    let o = Command::new("sh").arg(&script).arg("--root").arg(&w.root).arg("--noscripts").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("this node has an approval policy") && err.contains("only the bundled moa-bundle checks"),
        "{err}"
    );
    assert!(!w.root.join("usr/bin/hello").exists());
}

/// install.sh with the moa-bundle it carries, on a node with a policy: the unpacked bundle has no
/// signature to show, so every required role comes from approvals, matched by its SHA256SUMS and
/// read beside the archive it was unpacked from.
#[test]
fn install_sh_checks_the_policy_with_the_binary_it_carries() {
    let w = world();
    let t = w.tmp.path();
    let binary = t.join("moa-bundle-for-nodes");
    run(Command::new("strip").arg("-o").arg(&binary).arg(env!("CARGO_BIN_EXE_moa-bundle")));
    let manifest = t.join("crafted.toml");
    let bundle = t.join("sh/hello-crafted-x86_64.tar.gz");
    let o = moa(t)
        .args(["build", "--no-base", "--manifest"])
        .arg(&manifest)
        .arg("--installer")
        .arg(&binary)
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(t.join("sh")));
    let script = t.join("sh/hello-crafted-x86_64/install.sh");
    let install_sh = || {
        Command::new("sh")
            .arg(&script)
            .arg("--root")
            .arg(&w.root)
            .arg("--no-scripts")
            .env("XDG_CACHE_HOME", t)
            .output()
            .unwrap()
    };

    w.approve(&bundle, "security", "security");
    let o = install_sh();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("it lacks the role builder"), "{err}");
    assert!(!w.root.join("usr/bin/hello").exists());
    // The builder approves as builder: both roles are met.
    w.approve(&bundle, "builder", "builder");
    let o = install_sh();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(w.root.join("usr/bin/hello").exists());
}

#[test]
fn approvals_travel_with_the_parts_of_a_split_bundle() {
    let w = world();
    let parts = w.tmp.path().join("parts");
    fs_err::remove_file(parts.join("hello.tar.gz")).unwrap();
    assert!(parts.join("hello.tar.gz.part001").is_file(), "split in parts");
    // The folder of parts is approved and installed as the bundle it joins into.
    w.approve(&parts, "security", "security");
    assert!(parts.join("hello.tar.gz.approvals").is_file());
    let o =
        moa(w.tmp.path()).arg("install").arg(&parts).arg("--root").arg(&w.root).arg("--no-scripts").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(w.root.join("usr/bin/hello").exists());
}

#[test]
fn review_against_an_older_bundle_says_what_changed_and_its_digest_goes_into_the_approval() {
    let w = world();
    let t = w.tmp.path();
    let review = |extra: &[&str]| {
        let o = moa(t).arg("review").arg(&w.bundle).args(extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let r: serde_json::Value = serde_json::from_slice(&review(&["--json"])).unwrap();
    let changes: Vec<&str> = r["packages"].as_array().unwrap().iter().map(|p| p["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["new", "new"], "{r}");
    assert_eq!(r["signed"], true, "a .minisig is beside it: {r}");
    // The same packages as another bundle: nothing changes, nothing goes.
    let r: serde_json::Value =
        serde_json::from_slice(&review(&["--json", "--since", w.other.to_str().unwrap()])).unwrap();
    let changes: Vec<&str> = r["packages"].as_array().unwrap().iter().map(|p| p["change"].as_str().unwrap()).collect();
    assert_eq!((changes, r["removed"].as_array().unwrap().len()), (vec!["same", "same"], 0), "{r}");
    let page = t.join("review.html");
    review(&["-o", page.to_str().unwrap(), "--key", w.keys.join("builder.pub").to_str().unwrap()]);
    let html = fs_err::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("signed by key <code>{}</code>", w.key_id("builder"))), "{html}");
    let o = moa(t)
        .arg("approve")
        .arg(&w.bundle)
        .arg("--key")
        .arg(w.keys.join("security.key"))
        .args(["--role", "security", "--review"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sidecar = fs_err::read_to_string(w.sidecar(&w.bundle)).unwrap();
    assert!(sidecar.contains(&format!("review-sha256: {}", common::sha256_file(&page))), "{sidecar}");
}
