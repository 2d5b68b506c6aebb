//! Test manifests, built as TOML values instead of assembled text: a test says what differs
//! (packages, repositories, the nodes' release) and [`TestManifest::write`] serializes it, so a
//! quote or a newline in a value cannot change the file's shape.
//!
//! ```ignore
//! let m = TestManifest::rpm(&["hello"]).yum_repo("os", "el/os/x86_64", &mirror.url, Keys::Test).write(dir);
//! ```

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The keys a repository pins.
pub enum Keys<'a> {
    /// The tests' own repository key ([`super::signing::repo_key`]), copied beside the manifest.
    Test,
    /// A key file already beside the manifest, and its fingerprint.
    File(&'a str, &'a str),
    /// A key the build fetches from a URL, and its fingerprint.
    Url(&'a str, &'a str),
    /// None: the build must then pass `--insecure-skip-signatures`.
    None,
}

/// A manifest under construction; see the module's header.
#[derive(Clone)]
pub struct TestManifest {
    top: Table,
    /// Each `[[repository]]`, and whether it pins the test key.
    repos: Vec<(Table, bool)>,
}

fn strings(list: &[&str]) -> Value {
    Value::Array(list.iter().map(|s| Value::String(s.to_string())).collect())
}

impl TestManifest {
    fn new(family: &str, distro: &str, arch: &str, id: &str, version_id: &str, packages: &[&str]) -> Self {
        let mut top = Table::new();
        top.insert("name".into(), Value::String(packages.first().copied().unwrap_or("test").into()));
        top.insert("distro".into(), Value::String(distro.into()));
        top.insert("family".into(), Value::String(family.into()));
        top.insert("arch".into(), Value::String(arch.into()));
        let mut os = Table::new();
        os.insert("id".into(), Value::String(id.into()));
        os.insert("version_id".into(), Value::String(version_id.into()));
        top.insert("os_release".into(), Value::Table(os));
        top.insert("packages".into(), strings(packages));
        TestManifest { top, repos: Vec::new() }
    }

    /// An rpm manifest for CentOS 7 nodes, x86_64, distro `eltest`.
    pub fn rpm(packages: &[&str]) -> Self {
        Self::new("rpm", "eltest", "x86_64", "centos", "7", packages)
    }

    /// A deb manifest for Debian 12 nodes, amd64, distro `debtest`.
    pub fn deb(packages: &[&str]) -> Self {
        Self::new("deb", "debtest", "amd64", "debian", "12", packages)
    }

    /// Sets a top-level string (`name`, `distro`, `arch`…).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.top.insert(key.into(), Value::String(value.into()));
        self
    }

    /// A top-level switch (`best = true`).
    pub fn flag(mut self, key: &str, value: bool) -> Self {
        self.top.insert(key.into(), Value::Boolean(value));
        self
    }

    /// The nodes' os-release: `id`, `version_id`, and `platform` when given.
    pub fn os_release(mut self, id: &str, version_id: &str, platform: Option<&str>) -> Self {
        let os = self.top.get_mut("os_release").and_then(Value::as_table_mut).unwrap();
        os.insert("id".into(), Value::String(id.into()));
        os.insert("version_id".into(), Value::String(version_id.into()));
        if let Some(p) = platform {
            os.insert("platform".into(), Value::String(p.into()));
        }
        self
    }

    /// Module streams to enable (`name:stream`).
    pub fn modules(mut self, modules: &[&str]) -> Self {
        self.top.insert("modules".into(), strings(modules));
        self
    }

    /// `[base].roots`.
    pub fn base_roots(mut self, roots: &[&str]) -> Self {
        let mut base = Table::new();
        base.insert("roots".into(), strings(roots));
        self.top.insert("base".into(), Value::Table(base));
        self
    }

    /// The `[time]` section of the built-in manifest `builtin` (`centos7`, `ubuntu1604`…).
    pub fn time_of(mut self, builtin: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("manifests/{builtin}.toml"));
        let mut table: Table = fs_err::read_to_string(path).unwrap().parse().unwrap();
        let time = table.remove("time").unwrap_or_else(|| panic!("manifests/{builtin}.toml has no [time]"));
        self.top.insert("time".into(), time);
        self
    }

    /// A yum repository at `path` under each of `mirrors`.
    pub fn yum_repo(self, name: &str, path: &str, mirror: &str, keys: Keys<'_>) -> Self {
        self.yum_repo_mirrors(name, path, &[mirror], keys)
    }

    /// A yum repository with several mirrors, tried in order.
    pub fn yum_repo_mirrors(mut self, name: &str, path: &str, mirrors: &[&str], keys: Keys<'_>) -> Self {
        let mut r = Table::new();
        r.insert("name".into(), Value::String(name.into()));
        r.insert("path".into(), Value::String(path.into()));
        r.insert("mirrors".into(), strings(mirrors));
        self.repos.push((r, false));
        self.keys(keys)
    }

    /// An apt repository: `suite`, component `main`.
    pub fn apt_repo(self, name: &str, suite: &str, mirror: &str, keys: Keys<'_>) -> Self {
        self.apt_repo_suites(name, &[suite], mirror, keys)
    }

    /// An apt repository of several suites (`bookworm`, `bookworm-updates`), component `main`.
    pub fn apt_repo_suites(mut self, name: &str, suites: &[&str], mirror: &str, keys: Keys<'_>) -> Self {
        let mut r = Table::new();
        r.insert("name".into(), Value::String(name.into()));
        r.insert("suites".into(), strings(suites));
        r.insert("components".into(), strings(&["main"]));
        r.insert("mirrors".into(), strings(&[mirror]));
        self.repos.push((r, false));
        self.keys(keys)
    }

    fn keys(mut self, keys: Keys<'_>) -> Self {
        let test_key = matches!(keys, Keys::Test);
        let ((from, at), fingerprint) = match keys {
            Keys::None => return self,
            Keys::Test => {
                let k = super::signing::repo_key();
                (("file", format!("key-{}.asc", &k.fingerprint[32..])), k.fingerprint.clone())
            }
            Keys::File(f, fp) => (("file", f.to_string()), fp.to_string()),
            Keys::Url(u, fp) => (("url", u.to_string()), fp.to_string()),
        };
        let last = self.repos.last_mut().unwrap();
        let mut key = Table::new();
        key.insert(from.into(), Value::String(at));
        key.insert("fingerprint".into(), Value::String(fingerprint));
        last.0.insert("keys".into(), Value::Array(vec![Value::Table(key)]));
        last.1 = test_key;
        self
    }

    /// The manifest's TOML text.
    pub fn text(&self) -> String {
        let mut t = self.top.clone();
        let repos = self.repos.iter().map(|(r, _)| Value::Table(r.clone())).collect();
        t.insert("repository".into(), Value::Array(repos));
        toml::to_string(&t).unwrap()
    }

    /// Writes the manifest to `path` (with the test key beside it when a repository pins it).
    pub fn write_to(&self, path: &Path) -> PathBuf {
        let dir = path.parent().unwrap();
        if self.repos.iter().any(|(_, pinned)| *pinned) {
            super::signing::repo_key().manifest_keys(dir);
        }
        fs_err::write(path, self.text()).unwrap();
        path.to_path_buf()
    }
}
