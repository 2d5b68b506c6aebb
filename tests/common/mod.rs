//! Shared test helpers: a loopback HTTP mirror (127.0.0.1, random port, stopped on drop, with
//! injectable faults), and builders that make real packages and repositories with the real tools
//! (rpmbuild + createrepo_c, dpkg-deb + apt-ftparchive).
#![allow(dead_code)]

pub mod manifest;
pub mod signing;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

pub use manifest::{Keys, TestManifest};

/// Fixed time for reproducible test artifacts.
pub const EPOCH: &str = "1700000000";

/// Fails with a clear message when a system tool the tests need is missing.
pub fn require_tools(tools: &[&str]) {
    for t in tools {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {t}")).output().map(|o| o.status.success());
        assert!(
            found.unwrap_or(false),
            "`{t}` is not installed: run the README's test command (scripts/test.sh), which installs the system tools the tests use"
        );
    }
}

/// A test that cannot run here. With `MOA_TEST_STRICT=1` (set by `scripts/test.sh`, so in CI)
/// that is a failure: a skipped test is not a passed one. Otherwise it is said on the real
/// stderr, which the test harness does not capture, so a local run shows it.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("MOA_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("{test} cannot run: {reason} (MOA_TEST_STRICT=1: a skipped test fails)");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// The real upstream data the tests use, kept in the project under `tests/fixtures/` (copied
/// byte for byte from the project's shared fixtures; provenance in `tests/fixtures/README.md`).
/// Files over the repository's 2 MiB file limit are kept as `NAME.part0`, `NAME.part1`, …: they
/// are joined once into `target/test-fixtures/`, and a file named by its sha256 (as upstream
/// repodata names them) must have that digest. Returns that directory; `Option` for the callers
/// written when the data was outside the project.
pub fn shared_fixtures() -> Option<PathBuf> {
    // Tests run on threads: one assembles per process, the others wait for it.
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    Some(DIR.get_or_init(assemble_fixtures).clone())
}

fn assemble_fixtures() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dest = root.join("target/test-fixtures");
    if dest.join(".complete").is_file() {
        return dest;
    }
    let tmp = root.join(format!("target/test-fixtures.{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&tmp);
    assemble(&root.join("tests/fixtures"), &tmp);
    fs_err::write(tmp.join(".complete"), b"").unwrap();
    // Another test process may have won the race: its copy is the same.
    if fs_err::rename(&tmp, &dest).is_err() {
        let _ = fs_err::remove_dir_all(&tmp);
    }
    assert!(dest.join(".complete").is_file(), "{} was not assembled", dest.display());
    dest
}

/// Copies `from` into `to`, joining `NAME.partN` files into `NAME` and checking files named by
/// a sha256 against it.
fn assemble(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    let mut entries: Vec<PathBuf> = fs_err::read_dir(from).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            assemble(&p, &to.join(&name));
            continue;
        }
        let whole = match name.rsplit_once(".part") {
            Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stem.to_string(),
            _ => name.clone(),
        };
        let mut out = fs_err::OpenOptions::new().create(true).append(true).open(to.join(&whole)).unwrap();
        std::io::copy(&mut fs_err::File::open(&p).unwrap(), &mut out).unwrap();
    }
    for e in fs_err::read_dir(to).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let named = name.split('-').next().filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if let (Some(want), true) = (named, p.is_file()) {
            assert_eq!(
                sha256_file(&p),
                want,
                "{}: the fixture's parts do not join to the file its name gives",
                p.display()
            );
        }
    }
}

/// Whether this process runs as root (else a [`skip`]).
#[track_caller]
pub fn running_as_root(why: &str) -> bool {
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    if !root {
        let at = std::panic::Location::caller();
        skip(&format!("{}:{}", at.file(), at.line()), &format!("needs root: {why}"));
    }
    root
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the mirror does to a request whose path ends with `suffix`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status instead of the file.
    Status(u16),
    /// Answer this status the first `n` times, then serve normally.
    StatusTimes(u16, usize),
    /// Serve the file with one byte flipped.
    Corrupt,
    /// Send only half of the file, then close.
    Truncate,
    /// Read the request, then close without a word.
    Reset,
    /// Read the request, then answer nothing until the mirror stops.
    Stall,
    /// Headers, then one byte every 200 ms: alive, but hopelessly slow.
    Drip,
}

/// A seeded fault schedule: the generator and a table of 100 slots (faults, then clean answers).
type Schedule = (Rng, Vec<Fault>);

/// A deterministic generator (xorshift64*) for seeded fault schedules.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A static file server on 127.0.0.1 for one directory: HTTP/1.1, one request per connection
/// (`Connection: close`), so a fault like a truncated body really ends the connection.
pub struct Mirror {
    pub url: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
    faults: Arc<Mutex<Vec<(String, Fault)>>>,
    /// A seeded schedule: each request draws a fault (or none) from it.
    schedule: Arc<Mutex<Option<Schedule>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Mirror {
    pub fn serve(dir: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let faults: Arc<Mutex<Vec<(String, Fault)>>> = Arc::default();
        let schedule: Arc<Mutex<Option<Schedule>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (st, f, sc, r, root) =
            (stop.clone(), faults.clone(), schedule.clone(), requests.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (f, sc, r, root, st) = (f.clone(), sc.clone(), r.clone(), root.clone(), st.clone());
                std::thread::spawn(move || handle(conn, &root, &f, &sc, &r, &st));
            }
        });
        Self { url: format!("http://{addr}"), stop, addr, thread: Some(thread), faults, schedule, requests }
    }

    /// From now on each request, with probability `percent`/100, gets one of `faults`, drawn
    /// from a generator seeded with `seed` (the same seed, the same schedule for the same
    /// sequence of requests).
    pub fn schedule(&self, seed: u64, percent: u64, faults: Vec<Fault>) {
        // Slot i < faults.len() is that fault; the rest of 100 slots are clean answers.
        let n = faults.len() as u64;
        assert!(n > 0 && percent <= 100);
        let mut table: Vec<Fault> = Vec::new();
        for i in 0..100 {
            table.push(if i < percent { faults[(i % n) as usize].clone() } else { Fault::Status(200) });
        }
        *self.schedule.lock().unwrap() = Some((Rng::new(seed), table));
    }

    pub fn fault(&self, suffix: &str, fault: Fault) {
        self.faults.lock().unwrap().push((suffix.to_string(), fault));
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
        *self.schedule.lock().unwrap() = None;
    }

    pub fn requested(&self, suffix: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|p| p.ends_with(suffix)).count()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(
    mut conn: TcpStream,
    root: &Path,
    faults: &Mutex<Vec<(String, Fault)>>,
    schedule: &Mutex<Option<Schedule>>,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = percent_decode(target.split('?').next().unwrap_or(""));
    requests.lock().unwrap().push(path.clone());
    let fault = {
        let mut faults = faults.lock().unwrap();
        let pos = faults.iter().position(|(suffix, _)| path.ends_with(suffix.as_str()));
        match pos.map(|i| (i, faults[i].1.clone())) {
            Some((i, Fault::StatusTimes(code, n))) => {
                if n <= 1 {
                    faults.remove(i);
                } else {
                    faults[i].1 = Fault::StatusTimes(code, n - 1);
                }
                Some(Fault::Status(code))
            }
            other => other.map(|(_, f)| f),
        }
    };
    let fault = fault.or_else(|| {
        let mut s = schedule.lock().unwrap();
        let (rng, table) = s.as_mut()?;
        let f = table[rng.below(table.len() as u64) as usize].clone();
        (!matches!(f, Fault::Status(200))).then_some(f)
    });
    let file = root.join(path.trim_start_matches('/'));
    let respond = |conn: &mut TcpStream, status: &str, body: &[u8], claimed: usize| {
        let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n");
        let _ = conn.write_all(body);
        let _ = conn.flush();
    };
    if path.split('/').any(|c| c == "..") || !file.is_file() {
        return respond(&mut conn, "404 Not Found", b"", 0);
    }
    let mut data = fs_err::read(&file).unwrap();
    match fault {
        Some(Fault::Reset) => {}
        Some(Fault::Stall) => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Some(Fault::Drip) => {
            let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
            for b in &data {
                if stop.load(Ordering::SeqCst) || conn.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        Some(Fault::Status(code)) => respond(&mut conn, &format!("{code} Injected"), b"", 0),
        Some(Fault::Corrupt) => {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
            respond(&mut conn, "200 OK", &data, data.len())
        }
        Some(Fault::Truncate) => respond(&mut conn, "200 OK", &data[..data.len() / 2], data.len()),
        _ => respond(&mut conn, "200 OK", &data, data.len()),
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `moa-bundle` binary with a private cache and no proxy.
pub fn moa(cache: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("moa-bundle").unwrap();
    c.env("XDG_CACHE_HOME", cache)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

/// One test RPM.
pub struct RpmSpec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub arch: &'a str,
    pub requires: &'a [&'a str],
    /// `Requires(pre):` (the package's scripts need it installed first).
    pub pre_requires: &'a [&'a str],
    pub provides: &'a [&'a str],
    pub conflicts: &'a [&'a str],
    pub obsoletes: &'a [&'a str],
    /// Weak dependencies, each `(tag, capability)`: `("Suggests", "b")`, `("Enhances", "x")`.
    pub weak: &'a [(&'a str, &'a str)],
    pub files: &'a [(&'a str, &'a str)],
    /// MiB of random data in `/usr/share/<name>/blob` (a package that takes time to pack and
    /// install).
    pub blob_mib: u32,
    pub signer: RpmSigner<'a>,
    /// `ModularityLabel` (`app:2:1:c1`), as EL8+ builds of a module stream carry it.
    pub modularity_label: &'a str,
}

impl Default for RpmSpec<'_> {
    fn default() -> Self {
        Self {
            name: "x",
            version: "1.0",
            release: "1",
            arch: "x86_64",
            requires: &[],
            pre_requires: &[],
            provides: &[],
            conflicts: &[],
            obsoletes: &[],
            weak: &[],
            files: &[],
            blob_mib: 0,
            signer: RpmSigner::Repo,
            modularity_label: "",
        }
    }
}

/// Builds an RPM with rpmbuild (gzip payload, as CentOS 7 needs) into `out`.
pub fn build_rpm(out: &Path, s: &RpmSpec<'_>) -> PathBuf {
    let top = tempfile::tempdir().unwrap();
    let mut spec = format!(
        "Name: {}\nVersion: {}\nRelease: {}\nSummary: moa-bundle test package\nLicense: MIT\nAutoReqProv: no\n",
        s.name, s.version, s.release
    );
    // noarch is a BuildArch; a machine arch comes from --target alone (BuildArch: i686 is
    // refused on an x86_64 build host).
    if s.arch == "noarch" {
        spec.push_str("BuildArch: noarch\n");
    }
    if !s.modularity_label.is_empty() {
        spec.push_str(&format!("ModularityLabel: {}\n", s.modularity_label));
    }
    for r in s.requires {
        spec.push_str(&format!("Requires: {r}\n"));
    }
    for r in s.pre_requires {
        spec.push_str(&format!("Requires(pre): {r}\n"));
    }
    for p in s.provides {
        spec.push_str(&format!("Provides: {p}\n"));
    }
    for c in s.conflicts {
        spec.push_str(&format!("Conflicts: {c}\n"));
    }
    for o in s.obsoletes {
        spec.push_str(&format!("Obsoletes: {o}\n"));
    }
    for (tag, what) in s.weak {
        spec.push_str(&format!("{tag}: {what}\n"));
    }
    spec.push_str("%description\nA package made by the moa-bundle tests.\n%install\n");
    for (path, content) in s.files {
        spec.push_str(&format!(
            "mkdir -p %{{buildroot}}$(dirname {path})\nprintf '%s\\n' '{content}' > %{{buildroot}}{path}\n"
        ));
    }
    if s.blob_mib > 0 {
        spec.push_str(&format!(
            "mkdir -p %{{buildroot}}/usr/share/{n}\nhead -c {}M /dev/urandom > %{{buildroot}}/usr/share/{n}/blob\n",
            s.blob_mib,
            n = s.name
        ));
    }
    spec.push_str("%files\n");
    if s.blob_mib > 0 {
        spec.push_str(&format!("/usr/share/{}/blob\n", s.name));
    }
    for (path, _) in s.files {
        spec.push_str(&format!("{path}\n"));
    }
    let spec_path = top.path().join(format!("{}.spec", s.name));
    fs_err::write(&spec_path, spec).unwrap();
    fs_err::create_dir_all(out).unwrap();
    run(Command::new("rpmbuild")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("-bb")
        .arg("--quiet")
        .args(["--define", &format!("_topdir {}", top.path().display())])
        .args(["--define", &format!("_rpmdir {}", out.display())])
        .args(["--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"])
        .args(["--define", if s.blob_mib > 0 { "_binary_payload w1.gzdio" } else { "_binary_payload w9.gzdio" }])
        .args(["--define", "_buildhost moa-test"])
        .args(["--define", "use_source_date_epoch_as_buildtime 1"])
        .args(["--define", "clamp_mtime_to_source_date_epoch 1"])
        .args(["--define", "__gpg /usr/bin/gpg"])
        .args(["--target", s.arch])
        .arg(&spec_path));
    let rpm = out.join(format!("{}-{}-{}.{}.rpm", s.name, s.version, s.release, s.arch));
    match s.signer {
        RpmSigner::Repo => signing::repo_key().sign_rpms(std::slice::from_ref(&rpm), false),
        RpmSigner::Key(k) => k.sign_rpms(std::slice::from_ref(&rpm), false),
        RpmSigner::V3(k) => k.sign_rpms(std::slice::from_ref(&rpm), true),
        RpmSigner::Unsigned => {}
    }
    rpm
}

/// Who signs a test rpm: the key of every test repository ([`signing::repo_key`]) unless a
/// test says otherwise.
#[derive(Clone, Copy, Default)]
pub enum RpmSigner<'a> {
    #[default]
    Repo,
    Key(&'a signing::TestKey),
    V3(&'a signing::TestKey),
    Unsigned,
}

/// Turns a directory of RPMs into a yum repository with createrepo_c (reproducible), its
/// `repomd.xml` signed by [`signing::repo_key`] into `repomd.xml.asc`.
pub fn createrepo(dir: &Path) {
    fs_err::create_dir_all(dir).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && for f in *.rpm; do [ -e \"$f\" ] && touch -d @{EPOCH} \"$f\"; done; createrepo_c -q --revision {EPOCH} --set-timestamp-to-revision .",
        dir.display()
    )));
    signing::repo_key().sign_repomd(dir);
}

/// `keys = [...]` pinning [`signing::repo_key`], for a manifest written in `dir`.
pub fn repo_keys(dir: &Path) -> String {
    signing::repo_key().manifest_keys(dir)
}

/// A test deb built with dpkg-deb: control fields beyond the basics go in `extra`.
pub struct DebSpec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    /// Extra control lines: `Depends: …`, `Priority: required`…
    pub extra: &'a str,
    pub files: &'a [(&'a str, &'a str)],
    /// Maintainer scripts: (`postinst`, body).
    pub scripts: &'a [(&'a str, &'a str)],
    /// Compress members with zstd, as Ubuntu 22.04 and later build their debs.
    pub zstd: bool,
}

impl Default for DebSpec<'_> {
    fn default() -> Self {
        Self { name: "x", version: "1.0", arch: "amd64", extra: "", files: &[], scripts: &[], zstd: false }
    }
}

pub fn build_deb(out: &Path, s: &DebSpec<'_>) -> PathBuf {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("pkg");
    fs_err::create_dir_all(root.join("DEBIAN")).unwrap();
    let mut control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: moa-bundle tests <tests@invalid>\nDescription: moa-bundle test package\n",
        s.name, s.version, s.arch
    );
    for l in s.extra.lines().filter(|l| !l.trim().is_empty()) {
        control.push_str(l.trim());
        control.push('\n');
    }
    fs_err::write(root.join("DEBIAN/control"), control).unwrap();
    for (name, body) in s.scripts {
        let p = root.join("DEBIAN").join(name);
        fs_err::write(&p, body).unwrap();
        run(Command::new("chmod").arg("0755").arg(&p));
    }
    for (path, content) in s.files {
        let p = root.join(path.trim_start_matches('/'));
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(&p, format!("{content}\n")).unwrap();
    }
    fs_err::create_dir_all(out).unwrap();
    let file = out.join(format!("{}_{}_{}.deb", s.name, s.version.split(':').next_back().unwrap(), s.arch));
    run(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["--root-owner-group", if s.zstd { "-Zzstd" } else { "-Zgzip" }, "-b"])
        .arg(&root)
        .arg(&file));
    file
}

/// An apt archive under `root`: for each suite, its debs in `pool/<suite>/` and
/// `dists/<suite>/{Release, main/binary-amd64/Packages{,.gz,.xz}}` made by apt-ftparchive.
pub fn apt_repo(root: &Path, suites: &[(&str, Vec<PathBuf>)]) {
    for (suite, debs) in suites {
        let pool = root.join("pool").join(suite);
        fs_err::create_dir_all(&pool).unwrap();
        for d in debs {
            fs_err::copy(d, pool.join(d.file_name().unwrap())).unwrap();
        }
        let bin = root.join("dists").join(suite).join("main/binary-amd64");
        fs_err::create_dir_all(&bin).unwrap();
        let packages =
            run(Command::new("apt-ftparchive").current_dir(root).arg("packages").arg(format!("pool/{suite}")));
        fs_err::write(bin.join("Packages"), &packages).unwrap();
        run(Command::new("sh")
            .arg("-c")
            .arg(format!("cd '{}' && gzip -9nkf Packages && xz -kf Packages", bin.display())));
        // apt-ftparchive would index its own half-written Release: write it outside, then move it in.
        let release = run(Command::new("apt-ftparchive")
            .current_dir(root.join("dists").join(suite))
            .args(["-o", &format!("APT::FTPArchive::Release::Suite={suite}")])
            .args(["-o", &format!("APT::FTPArchive::Release::Codename={suite}")])
            .args(["-o", "APT::FTPArchive::Release::Components=main"])
            .args(["-o", "APT::FTPArchive::Release::Architectures=amd64"])
            .args(["-o", "APT::FTPArchive::Release::Date=Tue, 14 Nov 2023 22:13:20 UTC"])
            .args(["release", "."]));
        fs_err::write(root.join("dists").join(suite).join("Release"), release).unwrap();
        signing::repo_key().sign_release(&root.join("dists").join(suite));
    }
}

/// Writes `<root>/etc/os-release` for a pretend node.
pub fn fake_os_release(root: &Path, id: &str, version_id: &str) {
    fs_err::create_dir_all(root.join("etc")).unwrap();
    fs_err::write(root.join("etc/os-release"), format!("NAME=\"test\"\nID={id}\nVERSION_ID=\"{version_id}\"\n"))
        .unwrap();
}

/// The real rpm installs `rpms` into the throwaway root `root` (its own database, no scripts).
pub fn rpm_into<P: AsRef<std::ffi::OsStr>>(root: &Path, rpms: impl IntoIterator<Item = P>) {
    run(Command::new("rpm").arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm", "-i", "--noscripts"]).args(rpms));
}

pub fn sha256_file(p: &Path) -> String {
    sha256_hex(&fs_err::read(p).unwrap())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `moa-bundle build --manifest M --target NODE -o <cache>/b.tar.gz`, which must succeed; the
/// bundle's path.
pub fn build_for(cache: &Path, manifest: &Path, profile: &Path) -> PathBuf {
    let out = cache.join("out");
    let b = moa(cache)
        .arg("build")
        .arg("--manifest")
        .arg(manifest)
        .arg("--target")
        .arg(profile)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    // Named for the profile, never the default bundle's name, and the profile recorded.
    let stem = profile.file_stem().unwrap().to_string_lossy().to_string();
    let bundle = fs_err::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-for-{stem}.tar.gz")))
        .unwrap_or_else(|| panic!("no *-for-{stem}.tar.gz in {}", out.display()));
    let list = Command::new("tar").arg("-xzOf").arg(&bundle).arg("--wildcards").arg("*/bundle.json").output().unwrap();
    let index: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(index["targets"][0]["sha256"], sha256_file(profile), "bundle.json records the profile");
    let lock = Command::new("tar").arg("-xzOf").arg(&bundle).arg("--wildcards").arg("*/moa.lock").output().unwrap();
    assert!(String::from_utf8_lossy(&lock.stdout).contains(&sha256_file(profile)), "moa.lock records the profile");
    bundle
}

/// `<dir>/repo/el/os/x86_64`: `hello` (needs libgreet.so.1) and `libgreet`, made by rpmbuild and
/// createrepo_c.
pub fn hello_repo(dir: &Path) -> PathBuf {
    hello_repo_in(&dir.join("repo"), "hi")
}

/// [`hello_repo`] at `repo`, its `/usr/bin/hello` saying `says` (two builds of the same
/// name, version and signature that differ only in their payload).
pub fn hello_repo_in(repo: &Path, says: &str) -> PathBuf {
    let os = repo.join("el/os/x86_64/Packages");
    build_rpm(
        &os,
        &RpmSpec {
            name: "libgreet",
            provides: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/lib64/libgreet.so.1", "lib")],
            ..Default::default()
        },
    );
    let files = [("/usr/bin/hello", says)];
    build_rpm(
        &os,
        &RpmSpec { name: "hello", requires: &["libgreet.so.1()(64bit)"], files: &files, ..Default::default() },
    );
    createrepo(&repo.join("el/os/x86_64"));
    repo.to_path_buf()
}

/// A manifest for [`hello_repo`] (distro `crafted`, CentOS 7 nodes, the centos7 `[time]`
/// section) with these mirrors.
pub fn hello_manifest(dir: &Path, mirrors: &[&str]) -> PathBuf {
    TestManifest::rpm(&["hello"])
        .set("distro", "crafted")
        .yum_repo_mirrors("os", "el/os/x86_64", mirrors, Keys::Test)
        .time_of("centos7")
        .write_to(&dir.join("crafted.toml"))
}

/// The shipped manifest of `distro`, written to `<dir>/<distro>.toml` with its pinned keys (the
/// distro's real ones) replaced by the test repositories' key: everything else as shipped.
pub fn builtin_manifest_for_test_archive(distro: &str, dir: &Path) -> PathBuf {
    let text =
        fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("manifests/{distro}.toml"))).unwrap();
    let keys = repo_keys(dir);
    let mut out = String::new();
    let mut in_keys = false;
    for line in text.lines() {
        if line.starts_with("keys = [") {
            out.push_str(&keys);
            in_keys = !line.trim_end().ends_with(']');
        } else if in_keys {
            in_keys = line.trim() != "]";
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(out.matches("keys = [").count() >= 1, "{distro}: no keys were replaced");
    let p = dir.join(format!("{distro}.toml"));
    fs_err::write(&p, out).unwrap();
    p
}

/// `resolve --no-base --json` of `manifest` against the mirror at `url` (for `arch`, or the
/// manifest's): each planned package as (name, arch). The resolve must succeed.
pub fn resolve_name_arch(cache: &Path, manifest: &Path, url: &str, arch: Option<&str>) -> Vec<(String, String)> {
    let mut cmd = moa(cache);
    cmd.args(["resolve", "--no-base", "--json", "--manifest"]).arg(manifest).args(["--mirror", url]);
    if let Some(a) = arch {
        cmd.args(["--arch", a]);
    }
    let out = cmd.output().unwrap();
    // With --json an error is a JSON object on stdout.
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().into(), p["arch"].as_str().unwrap().into()))
        .collect()
}

/// The file CentOS 7's ntp package ships as `/etc/ntp.conf`, in [`ntp_el_repo`]'s stand-in.
#[allow(dead_code)]
pub const CENTOS_DEFAULT_CONF: &str = "server 0.centos.pool.ntp.org iburst";

#[allow(dead_code)]
/// Stand-ins for CentOS 7's ntp, ntpdate, tzdata and cronie in a yum repository on 127.0.0.1, a
/// manifest using it (distro `eltest`, the built-in centos7 `[time]` section, base tzdata +
/// cronie), and the base rpms, for a root that roles can configure.
pub fn ntp_el_repo(tmp: &Path) -> (Mirror, PathBuf, Vec<PathBuf>) {
    let os = tmp.join("mirror/el/os/x86_64/Packages");
    let base = vec![
        build_rpm(
            &os,
            &RpmSpec {
                name: "tzdata",
                arch: "noarch",
                files: &[("/usr/share/zoneinfo/Asia/Shanghai", "TZif2"), ("/usr/share/zoneinfo/UTC", "TZif2")],
                ..Default::default()
            },
        ),
        build_rpm(
            &os,
            &RpmSpec {
                name: "cronie",
                files: &[
                    ("/etc/cron.d/0hourly", "01 * * * * root run-parts /etc/cron.hourly"),
                    ("/usr/sbin/crond", "crond"),
                ],
                ..Default::default()
            },
        ),
    ];
    build_rpm(
        &os,
        &RpmSpec {
            name: "ntp",
            version: "4.2.6p5",
            requires: &["ntpdate"],
            files: &[("/usr/sbin/ntpd", "ntpd"), ("/etc/ntp.conf", CENTOS_DEFAULT_CONF)],
            ..Default::default()
        },
    );
    build_rpm(
        &os,
        &RpmSpec {
            name: "ntpdate",
            version: "4.2.6p5",
            files: &[("/usr/sbin/ntpdate", "ntpdate")],
            ..Default::default()
        },
    );
    createrepo(&tmp.join("mirror/el/os/x86_64"));
    let mirror = Mirror::serve(&tmp.join("mirror"));
    let manifest = TestManifest::rpm(&["ntp", "ntpdate"])
        .yum_repo("os", "el/os/x86_64", &mirror.url, Keys::Test)
        .base_roots(&["tzdata", "cronie"])
        .time_of("centos7")
        .write_to(&tmp.join("el-ntp.toml"));
    (mirror, manifest, base)
}

#[allow(dead_code)]
/// Debian's docker-registry serving on 127.0.0.1 (a free port), its storage under the test's
/// directory; stopped (and its storage removed with the test's directory) on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
}

#[allow(dead_code)]
impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(dead_code)]
pub fn tool(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    p.is_file().then_some(p)
}

#[allow(dead_code)]
pub fn registry(t: &Path, bin: &Path) -> Registry {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let config = t.join("registry.yml");
    fs_err::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            t.join("registry-data").display()
        ),
    )
    .unwrap();
    let log = fs_err::File::create(t.join("registry.log")).unwrap().into_parts().0;
    let child =
        Command::new(bin).arg("serve").arg(&config).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    let r = Registry { child, addr };
    for _ in 0..100 {
        if std::net::TcpStream::connect(&r.addr).is_ok() {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the registry did not start on {}", r.addr);
}

/// `rpm --root ROOT --dbpath /var/lib/rpm ARGS…` (the root's own database, as moa-bundle uses
/// it): its stdout, whatever the exit status (a query for a missing package is an answer too).
#[allow(dead_code)]
pub fn rpm_query(root: &Path, args: &[&str]) -> String {
    let out =
        Command::new("rpm").arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm"]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private apt (`APT_CONFIG`: lists, cache and status under `dir`, the host untouched) for the
/// archive at `url`, suite `suite`, trusting the test repositories' key, Valid-Until and Date
/// checked (apt's defaults; the host's `apt.conf.d`, which may turn them off, is not read).
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    pub fn new(dir: &Path, url: &str, suite: &str) -> Self {
        fs_err::create_dir_all(dir).unwrap();
        fs_err::write(dir.join("key.asc"), &signing::repo_key().public).unwrap();
        Self::trusting(dir, url, suite, &dir.join("key.asc"))
    }

    /// [`Apt::new`] trusting `key` (`.asc`: armored; `.gpg`: a binary keyring, as
    /// distributions ship theirs).
    pub fn trusting(dir: &Path, url: &str, suite: &str, key: &Path) -> Self {
        for d in ["etc", "parts", "lists/partial", "cache", "archives/partial"] {
            fs_err::create_dir_all(dir.join(d)).unwrap();
        }
        fs_err::write(dir.join("status"), "").unwrap();
        fs_err::write(dir.join("etc/sources.list"), format!("deb [signed-by={}] {url} {suite} main\n", key.display()))
            .unwrap();
        let d = dir.display();
        fs_err::write(
            dir.join("apt.conf"),
            format!(
                "Dir::Etc::SourceList \"{d}/etc/sources.list\"; Dir::Etc::SourceParts \"{d}/etc\";\nDir::State::Lists \"{d}/lists\"; Dir::State::status \"{d}/status\"; Dir::Cache \"{d}/cache\";\nDir::Cache::Archives \"{d}/archives\"; APT::Sandbox::User \"root\"; Debug::NoLocking \"true\";\nDir::Etc::Parts \"{d}/parts\"; Acquire::Check-Valid-Until \"true\"; Acquire::Check-Date \"true\"; Acquire::Languages \"none\"; APT::Architecture \"amd64\";\n"
            ),
        )
        .unwrap();
        Apt { dir: dir.to_path_buf() }
    }

    /// `apt-get update`: whether it succeeded without an error line, and what it said.
    pub fn update(&self) -> (bool, String) {
        let out = std::process::Command::new("apt-get")
            .env("APT_CONFIG", self.dir.join("apt.conf"))
            .args(["update", "-q"])
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success() && !said.lines().any(|l| l.starts_with("E:")), said)
    }

    /// The Date of the InRelease apt keeps in its lists.
    pub fn kept_date(&self) -> Option<String> {
        let f = fs_err::read_dir(self.dir.join("lists"))
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with("InRelease"))?;
        let text = fs_err::read_to_string(f.path()).ok()?;
        text.lines().find_map(|l| l.strip_prefix("Date: ").map(str::to_string))
    }
    /// The dpkg status file this apt reads as the node's installed packages (empty at first).
    pub fn status(&self) -> PathBuf {
        self.dir.join("status")
    }

    /// `apt-get -s ARGS…` (no update first): whether apt would do it, and what it said.
    pub fn simulate(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new("apt-get")
            .env("APT_CONFIG", self.dir.join("apt.conf"))
            .arg("-s")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// `apt-get -s install NAME` after an update: whether apt would do it, and what it said.
    pub fn simulate_install(&self, name: &str) -> (bool, String) {
        let (updated, said) = self.update();
        assert!(updated, "apt-get update: {said}");
        let out = std::process::Command::new("apt-get")
            .env("APT_CONFIG", self.dir.join("apt.conf"))
            .args(["-s", "install", name])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }
}
