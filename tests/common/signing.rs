//! Throwaway OpenPGP keys made at test time with the real gpg, and signing with the real tools:
//! `gpg --clearsign` / `gpg -abs` for apt `InRelease` / `Release.gpg`, `gpg -ab --armor` for
//! yum's `repomd.xml.asc`, `rpmsign --addsign` for rpm headers, and gpg1 `--force-v3-sigs` for
//! CentOS-7-style V3 package signatures.
//!
//! Every gpg home lives in a temporary directory kept for the test process; the agent gpg starts
//! is stopped after each use (`gpgconf --kill gpg-agent`), so no process outlives a test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::run;

/// A key pair in its own gpg home.
pub struct TestKey {
    pub home: PathBuf,
    pub fingerprint: String,
    /// The armored public key.
    pub public: Vec<u8>,
    /// gpg1 (with `gpg1_home`) holds the same secret key, for V3 signatures; RSA keys only.
    pub gpg1_home: Option<PathBuf>,
    /// Tests run in parallel threads: one signing at a time per key, so that stopping the agent
    /// after one never cuts another short.
    lock: Mutex<()>,
    _dir: tempfile::TempDir,
}

impl TestKey {
    /// A new key: `algo` as gpg's `--quick-gen-key` names it (`ed25519`, `rsa2048`).
    pub fn generate(name: &str, algo: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("moa-gpg-").tempdir_in("/tmp").unwrap();
        let home = dir.path().join("g");
        fs_err::create_dir(&home).unwrap();
        fs_err::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let uid = format!("moa-bundle test {name} <{name}@moa.invalid>");
        gpg(&home, &["--passphrase", "", "--quick-gen-key", &uid, algo, "sign", "never"]);
        let listing = gpg(&home, &["--with-colons", "--list-keys", &uid]);
        let fingerprint = listing.lines().find_map(|l| l.strip_prefix("fpr:")).unwrap().trim_matches(':').to_string();
        let public = gpg(&home, &["--armor", "--export", &fingerprint]).into_bytes();
        let gpg1_home = algo.starts_with("rsa").then(|| {
            let h1 = dir.path().join("g1");
            fs_err::create_dir(&h1).unwrap();
            fs_err::set_permissions(&h1, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
            let secret = dir.path().join("secret.gpg");
            run(Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args([
                    "--batch",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                    "--export-secret-keys",
                    "--output",
                ])
                .arg(&secret)
                .arg(&fingerprint));
            run(Command::new("gpg1").arg("--homedir").arg(&h1).args(["--batch", "--quiet", "--import"]).arg(&secret));
            h1
        });
        stop_agent(&home);
        TestKey { home, fingerprint, public, gpg1_home, lock: Mutex::new(()), _dir: dir }
    }

    /// `keys = [...]` for a manifest in `dir`: the public key written beside it.
    pub fn manifest_keys(&self, dir: &Path) -> String {
        let file = format!("key-{}.asc", &self.fingerprint[32..]);
        fs_err::write(dir.join(&file), &self.public).unwrap();
        format!("keys = [{{ file = \"{file}\", fingerprint = \"{}\" }}]\n", self.fingerprint)
    }

    /// Clearsigns `dists/<suite>/Release` into `InRelease` and signs it into `Release.gpg`.
    pub fn sign_release(&self, suite_dir: &Path) {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let release = suite_dir.join("Release");
        for (args, out) in [(&["--clearsign"][..], "InRelease"), (&["--detach-sign"][..], "Release.gpg")] {
            let out = suite_dir.join(out);
            let _ = fs_err::remove_file(&out);
            let mut cmd = self.gpg_cmd();
            cmd.args(["--digest-algo", "SHA512"]).args(args).arg("--output").arg(&out).arg(&release);
            run(&mut cmd);
        }
        stop_agent(&self.home);
    }

    /// `repodata/repomd.xml.asc`, armored, as createrepo users make it.
    pub fn sign_repomd(&self, repo_dir: &Path) {
        self.sign_repomd_with(repo_dir, &[]);
    }

    /// The same with extra gpg options (`--digest-algo SHA1`).
    pub fn sign_repomd_with(&self, repo_dir: &Path, extra: &[&str]) {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let repomd = repo_dir.join("repodata/repomd.xml");
        let out = repo_dir.join("repodata/repomd.xml.asc");
        let _ = fs_err::remove_file(&out);
        run(self.gpg_cmd().args(extra).args(["--detach-sign", "--armor", "--output"]).arg(&out).arg(&repomd));
        stop_agent(&self.home);
    }

    /// Signs rpms in place with rpmsign: a V4 header signature, or (with `v3`, RSA keys) a
    /// CentOS-7-style V3 RSA/SHA256 one made by gpg1 `--force-v3-sigs`.
    pub fn sign_rpms(&self, rpms: &[PathBuf], v3: bool) {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new("rpmsign");
        cmd.env("GNUPGHOME", &self.home)
            .args(["--define", &format!("_gpg_name {}", self.fingerprint)])
            .args(["--define", "_gpg_digest_algo sha256"]);
        if v3 {
            let h1 = self.gpg1_home.as_ref().expect("V3 signatures need an RSA key");
            cmd.args(["--define", "__gpg /usr/bin/gpg1"])
                .args(["--define", &format!("_gpg_path {}", h1.display())])
                .args(["--define", "_gpg_sign_cmd_extra_args --force-v3-sigs"]);
        } else {
            cmd.args(["--define", "__gpg /usr/bin/gpg"]);
        }
        run(cmd.arg("--addsign").args(rpms));
        stop_agent(&self.home);
    }

    fn gpg_cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home).args(["--batch", "--yes", "--quiet", "--local-user", &self.fingerprint]);
        c
    }
}

fn gpg(home: &Path, args: &[&str]) -> String {
    run(Command::new("gpg").env("GNUPGHOME", home).args(["--batch", "--quiet"]).args(args))
}

fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf").env("GNUPGHOME", home).args(["--kill", "gpg-agent"]).status();
}

/// The key every signed test repository uses (made once per test process).
pub fn repo_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("repo", "ed25519"))
}
