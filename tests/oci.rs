//! Bundles in an OCI registry (issue 13, item 2) against a real registry: Debian's
//! docker-registry (distribution 2.8), unpacked by scripts/test.sh and started by the test on
//! 127.0.0.1, stopped when it ends. `push` stores a signed bundle as an artifact; a second push
//! of the same packages uploads nothing; `pull` gives back the very bytes (the signature still
//! verifies with minisign); `install oci://…` installs with rpm into a throwaway root. Two
//! independent clients: oras (PyPI) pulls what moa-bundle pushed, file for file, and moa-bundle
//! pulls what skopeo (Debian) copied into a repository of its own, byte for byte.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fake_os_release, moa, registry, require_tools, run, tool, Mirror};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "minisign", "skopeo"];

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn push_pull_install_through_a_registry_with_oras_and_skopeo() {
    require_tools(TOOLS);
    let (Some(reg_bin), Some(oras_py)) =
        (tool("target/test-debs/registry/x/usr/bin/docker-registry"), tool("target/oras-venv/bin/python"))
    else {
        common::skip("oci", "docker-registry or oras is missing (bash scripts/test.sh fetches both)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let reg = registry(t, &reg_bin);
    let mirror = Mirror::serve(&common::hello_repo(t));
    let manifest = common::hello_manifest(t, &[&mirror.url]);
    moa(t).args(["key", "generate"]).arg(t.join("release")).assert().success();
    let bundle = t.join("out/hello.tar.gz");
    let built = moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--sign")
        .arg(t.join("release.key"))
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let reference = |tag: &str| format!("oci://{}/moa/hello:{tag}", reg.addr);

    let pushed =
        json(moa(t).arg("push").arg(&bundle).arg(reference("1")).args(["--plain-http", "--json"]).output().unwrap());
    let (up, reused) = (pushed["uploaded_bytes"].as_u64().unwrap(), pushed["reused_bytes"].as_u64().unwrap());
    // bundle.json is a layer and the config: one blob, uploaded once.
    assert!(up > 20_000 && reused < 4096, "{pushed}");
    // The same packages again, under another tag: nothing is uploaded but the manifest.
    let again =
        json(moa(t).arg("push").arg(&bundle).arg(reference("2")).args(["--plain-http", "--json"]).output().unwrap());
    assert_eq!(again["uploaded_bytes"], 0, "{again}");
    assert_eq!(again["reused_bytes"].as_u64().unwrap(), up + reused, "{again}");

    // Pulled back: the very bytes, the signature intact.
    let pulled_dir = t.join("pulled");
    let pulled = json(
        moa(t)
            .arg("pull")
            .arg(reference("2"))
            .arg("-o")
            .arg(&pulled_dir)
            .args(["--plain-http", "--json"])
            .output()
            .unwrap(),
    );
    let got = PathBuf::from(pulled["bundle"].as_str().unwrap());
    assert_eq!(got, pulled_dir.join("hello.tar.gz"));
    assert_eq!(common::sha256_file(&got), common::sha256_file(&bundle));
    run(Command::new("minisign").arg("-Vq").arg("-p").arg(t.join("release.pub")).arg("-m").arg(&got));
    run(Command::new("sha256sum").arg("-c").arg("hello.tar.gz.sha256").current_dir(&pulled_dir));

    // Installed straight from the registry, on a node that trusts the key.
    let root = t.join("root");
    fake_os_release(&root, "centos", "7");
    std::fs::create_dir_all(root.join("etc/moa-bundle/trusted-keys")).unwrap();
    std::fs::copy(t.join("release.pub"), root.join("etc/moa-bundle/trusted-keys/release.pub")).unwrap();
    let inst = moa(t)
        .arg("install")
        .arg(reference("1"))
        .args(["--plain-http", "--no-scripts", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(inst.status.success(), "{}", String::from_utf8_lossy(&inst.stderr));
    let q =
        run(Command::new("rpm").arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm", "-q", "hello", "libgreet"]));
    assert_eq!(q, "hello-1.0-1.x86_64\nlibgreet-1.0-1.x86_64\n");

    // oras pulls what moa-bundle pushed: every layer by its title, the files the bundle holds.
    let oras_out = t.join("oras");
    let script = format!(
        "import oras.client\nc = oras.client.OrasClient(insecure=True)\nc.pull(target='{}/moa/hello:1', outdir='{}', allowed_media_type=None)\n",
        reg.addr,
        oras_out.display()
    );
    run(Command::new(&oras_py).arg("-c").arg(script));
    let unpacked = t.join("u");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked));
    for f in ["packages/hello-1.0-1.x86_64.rpm", "bundle.json", "SHA256SUMS"] {
        let by_oras = oras_out.join(f);
        assert!(by_oras.is_file(), "oras wrote no {f}");
        assert_eq!(common::sha256_file(&by_oras), common::sha256_file(&unpacked.join("hello-crafted-x86_64").join(f)));
    }
    assert!(oras_out.join("hello.tar.gz.minisig").is_file());

    // The other way round: skopeo (containers/image) copies the artifact to a repository of its
    // own, uploading it as its client does, and moa-bundle pulls that copy: the very bytes.
    run(Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{}/moa/hello:1", reg.addr))
        .arg(format!("docker://{}/skopeo/copied:1", reg.addr)));
    let copied_dir = t.join("copied");
    let copied = json(
        moa(t)
            .arg("pull")
            .arg(format!("oci://{}/skopeo/copied:1", reg.addr))
            .arg("-o")
            .arg(&copied_dir)
            .args(["--plain-http", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(common::sha256_file(Path::new(copied["bundle"].as_str().unwrap())), common::sha256_file(&bundle));
}
