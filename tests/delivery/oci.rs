//! Bundles in an OCI registry (issue 13, item 2) against a real registry: Debian's
//! docker-registry (distribution 2.8), unpacked by scripts/test.sh and started by the test on
//! 127.0.0.1, stopped when it ends. `push` stores a signed bundle as an artifact; a second push
//! of the same packages uploads nothing; `pull` gives back the very bytes (the signature still
//! verifies with minisign); `install oci://…` installs with rpm into a throwaway root. Two
//! independent clients: oras (PyPI) pulls what moa-bundle pushed, file for file, and moa-bundle
//! pulls what skopeo (Debian) copied into a repository of its own, byte for byte.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fake_os_release, moa, registry, require_tools, run, tool, Mirror};

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
    fs_err::create_dir_all(root.join("etc/moa-bundle/trusted-keys")).unwrap();
    fs_err::copy(t.join("release.pub"), root.join("etc/moa-bundle/trusted-keys/release.pub")).unwrap();
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

    // Approvals travel as a layer of their own: a node whose policy needs `builder` (the
    // release key) and `security` installs the approved push, and refuses the one without.
    moa(t).args(["key", "generate"]).arg(t.join("security")).assert().success();
    let approved = moa(t)
        .arg("approve")
        .arg(&bundle)
        .arg("--key")
        .arg(t.join("security.key"))
        .args(["--role", "security"])
        .output()
        .unwrap();
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    moa(t).arg("push").arg(&bundle).arg(reference("3")).arg("--plain-http").assert().success();
    let strict = t.join("strict");
    fake_os_release(&strict, "centos", "7");
    fs_err::create_dir_all(strict.join("etc/moa-bundle")).unwrap();
    for k in ["release", "security"] {
        fs_err::copy(t.join(format!("{k}.pub")), strict.join(format!("etc/moa-bundle/{k}.pub"))).unwrap();
    }
    let policy = "require = [\"builder\", \"security\"]\n[roles.builder]\nkeys = [\"release.pub\"]\n[roles.security]\nkeys = [\"security.pub\"]\n";
    fs_err::write(strict.join("etc/moa-bundle/policy.toml"), policy).unwrap();
    let install_on_strict = |tag: &str| {
        moa(t)
            .arg("install")
            .arg(reference(tag))
            .args(["--plain-http", "--no-scripts", "--root"])
            .arg(&strict)
            .output()
            .unwrap()
    };
    let without = install_on_strict("1");
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success() && err.contains("it lacks the role security"), "{err}");
    let with = install_on_strict("3");
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(strict.join("usr/bin/hello").exists());

    // oras pulls what moa-bundle pushed: every layer by its title, the files the bundle holds.
    let oras_out = t.join("oras");
    let script = format!(
        "import oras.client\nc = oras.client.OrasClient(insecure=True)\nc.pull(target='{}/moa/hello:1', outdir='{}', allowed_media_type=None)\n",
        reg.addr,
        oras_out.display()
    );
    run(Command::new(&oras_py).arg("-c").arg(script));
    let unpacked = t.join("u");
    fs_err::create_dir_all(&unpacked).unwrap();
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

/// A registry of one's own on 127.0.0.1: each connection gets its request read, then `answer`;
/// stopped (and joined) when dropped.
struct Hostile {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    fn serve(answer: fn(&mut std::net::TcpStream)) -> Self {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let (mut seen, mut byte) = (Vec::new(), [0u8; 1]);
                    while !seen.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                        seen.push(byte[0]);
                    }
                    if !st.load(std::sync::atomic::Ordering::SeqCst) {
                        answer(&mut conn);
                    }
                });
            }
        });
        Hostile { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `/usr/bin/time -f %M moa-bundle pull …`: the output, and the peak RSS in KB.
fn pull_measured(t: &Path, reference: &str, out: &Path, extra: &[&str]) -> (std::process::Output, u64) {
    let bin = assert_cmd::cargo::cargo_bin("moa-bundle");
    let o = Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kb %M"])
        .arg(bin)
        .arg("pull")
        .arg(reference)
        .arg("-o")
        .arg(out)
        .arg("--plain-http")
        .args(extra)
        .env("XDG_CACHE_HOME", t)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let kb = err.lines().filter_map(|l| l.strip_prefix("maxrss-kb ")).next_back().and_then(|v| v.trim().parse().ok());
    (o, kb.unwrap_or_else(|| panic!("no peak RSS in: {err}")))
}

/// Regression (issue 19, class 6): pull read before it bounded, waited without end, fetched
/// layers before counting them, and a failed pull changed `-o`. Now: an endless manifest is
/// refused past 8 MiB with peak RSS under 100 MB; a registry that accepts and never answers is
/// given up after the stall timeout; 20,000 layers for a one-package bundle.json are refused
/// before any layer is fetched; and a pull that fails leaves `-o` byte-identical, with no
/// `.sha256` of its own.
#[test]
fn a_hostile_registry_is_bounded_and_a_failed_pull_changes_nothing() {
    require_tools(&["rpm", "rpmbuild", "createrepo_c", "/usr/bin/time"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    fs_err::create_dir_all(&out).unwrap();

    let endless = Hostile::serve(|c| {
        use std::io::Write;
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\r\n");
        let chunk = vec![b' '; 1 << 16];
        while c.write_all(&chunk).is_ok() {}
    });
    let (o, kb) = pull_measured(t, &format!("oci://{}/moa/hello:1", endless.addr), &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("more than 8388608 bytes"), "{err}");
    assert!(kb < 100_000, "peak RSS {kb} KB for an endless manifest");
    drop(endless);

    let silent = Hostile::serve(|c| {
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = c;
    });
    let start = std::time::Instant::now();
    let (o, _) = pull_measured(t, &format!("oci://{}/moa/hello:1", silent.addr), &out, &["--stall-timeout", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("stalled"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "waited {:?}", start.elapsed());

    // A registry laid out as files: the manifest, the config (a real bundle.json) and blobs.
    let mirror_repo = Mirror::serve(&common::hello_repo(t));
    let manifest = common::hello_manifest(t, &[&mirror_repo.url]);
    let bundle = t.join("b/hello.tar.gz");
    moa(t)
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--only")
        .arg("libgreet")
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let index = run(Command::new("tar").arg("-xzOf").arg(&bundle).arg("--wildcards").arg("*/bundle.json"));
    let reg = t.join("registry");
    let blobs = reg.join("v2/moa/hello/blobs");
    fs_err::create_dir_all(&blobs).unwrap();
    fs_err::create_dir_all(reg.join("v2/moa/hello/manifests")).unwrap();
    let put = |bytes: &[u8]| {
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(bytes))
        };
        fs_err::write(blobs.join(format!("sha256:{sha}")), bytes).unwrap();
        serde_json::json!({"mediaType": "x", "digest": format!("sha256:{sha}"), "size": bytes.len()})
    };
    let config = put(index.as_bytes());
    let mut config = config;
    config["mediaType"] = "application/vnd.moa.bundle.config.v1+json".into();
    let layer = |title: &str, digest: &str, size: usize| {
        serde_json::json!({"mediaType": "application/vnd.moa.bundle.member.v1", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.title": title}})
    };
    let sums = put(b"not the sums\n");
    let write_manifest = |tag: &str, layers: Vec<serde_json::Value>| {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.moa.bundle.v1", "config": config, "layers": layers,
            "annotations": {"org.opencontainers.image.title": "hello.tar.gz", "io.moa-bundle.sha256": "0".repeat(64)}
        });
        fs_err::write(reg.join(format!("v2/moa/hello/manifests/{tag}")), m.to_string()).unwrap();
    };
    let digest = sums["digest"].as_str().unwrap();
    let mut many = vec![layer("SHA256SUMS", digest, 13)];
    many.extend((0..20_000).map(|i| layer(&format!("packages/p{i}.rpm"), digest, 13)));
    write_manifest("many", many);
    // One layer whose blob does not match its digest.
    let wrong = layer("SHA256SUMS", &format!("sha256:{}", "1".repeat(64)), 13);
    fs_err::write(blobs.join(format!("sha256:{}", "1".repeat(64))), b"not the sums\n").unwrap();
    write_manifest("wrong", vec![wrong]);
    let registry = Mirror::serve(&reg);
    let addr = registry.url.trim_start_matches("http://").to_string();

    let (o, _) = pull_measured(t, &format!("oci://{addr}/moa/hello:many"), &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("number of layers"), "{err}");
    let blobs_fetched = registry.requests.lock().unwrap().iter().filter(|p| p.contains("/blobs/")).count();
    assert_eq!(blobs_fetched, 1, "only the config is fetched before the count is refused");

    fs_err::write(out.join("hello.tar.gz"), b"precious").unwrap();
    let (o, _) = pull_measured(t, &format!("oci://{addr}/moa/hello:wrong"), &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("does not match its digest"), "{err}");
    assert_eq!(fs_err::read(out.join("hello.tar.gz")).unwrap(), b"precious");
    let left: Vec<_> = fs_err::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("hello.tar.gz")], "a failed pull wrote into -o");
}
