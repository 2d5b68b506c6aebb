//! moa-bundle's deb answers against the real thing: apt-get 2.6 simulating (`-s`) on a node's
//! dpkg status, the oracle, with debs made by dpkg-deb in an archive made by apt-ftparchive and
//! signed, served on 127.0.0.1. moa-bundle resolves the same requests `--target` a `probe`
//! profile of a root holding that same status file.
//!
//! Where several answers are valid, apt's is the first its walk (`pkgDepCache::MarkInstall`)
//! meets: a dependency group that an earlier branch met meanwhile is left alone, and groups
//! are met depth first in the order the packages list them. A SAT solver's propagation meets
//! them in another order; these scenarios each tell the two apart.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    apt_repo, build_deb, fake_os_release, moa, require_tools, run, Apt, DebSpec, Keys, Mirror, TestManifest,
};

const TOOLS: &[&str] = &["dpkg-deb", "apt-ftparchive", "apt-get", "gpg"];

/// A package of the scenario: name, version, control lines (`Depends: …`).
type Deb = (&'static str, &'static str, &'static str);

/// One scenario: a repository, a node with `installed` packages, and the same archive seen by
/// apt and by moa-bundle.
struct Scenario {
    t: tempfile::TempDir,
    apt: Apt,
    mirror: Mirror,
    profile: PathBuf,
}

impl Scenario {
    fn new(repo: &[Deb], installed: &[Deb]) -> Self {
        require_tools(TOOLS);
        let t = tempfile::tempdir().unwrap();
        let debs: Vec<PathBuf> = repo
            .iter()
            .map(|&(name, version, extra)| {
                build_deb(&t.path().join("debs"), &DebSpec { name, version, extra, ..Default::default() })
            })
            .collect();
        let archive = t.path().join("archive");
        apt_repo(&archive, &[("stable", debs)]);
        let mirror = Mirror::serve(&archive);
        let apt = Apt::new(&t.path().join("apt"), &mirror.url, "stable");
        let status: String = installed
            .iter()
            .map(|(name, version, extra)| {
                let extra = if extra.is_empty() { String::new() } else { format!("{extra}\n") };
                format!("Package: {name}\nStatus: install ok installed\nPriority: optional\nVersion: {version}\nArchitecture: amd64\nMaintainer: t <t@invalid>\n{extra}Description: installed\n\n")
            })
            .collect();
        fs_err::write(apt.status(), &status).unwrap();
        let (updated, said) = apt.update();
        assert!(updated, "apt-get update: {said}");
        let root = t.path().join("node");
        fs_err::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        fs_err::write(root.join("var/lib/dpkg/status"), &status).unwrap();
        fake_os_release(&root, "debian", "12");
        let profile = t.path().join("node.json");
        moa(t.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();
        Scenario { t, apt, mirror, profile }
    }

    fn apt(&self, requests: &[&str]) -> BTreeSet<String> {
        apt_installs(&self.apt, requests)
    }

    fn moa(&self, requests: &[&str]) -> BTreeSet<String> {
        let manifest = TestManifest::deb(requests)
            .apt_repo("main", "stable", &self.mirror.url, Keys::Test)
            .write_to(&self.t.path().join("m.toml"));
        moa_packs(self.t.path(), &manifest, &self.profile, requests)
    }

    /// apt's answer (checked against `expected`, what apt's walk gives) and moa-bundle's agree.
    fn agree(&self, requests: &[&str], expected: &[&str]) {
        let apt = self.apt(requests);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(apt, expected, "apt itself, for {requests:?}");
        assert_eq!(self.moa(requests), apt, "moa-bundle against apt, for {requests:?}");
    }
}

/// What `apt-get -s install --no-install-recommends REQUESTS…` installs (`name-version`).
fn apt_installs(apt: &Apt, requests: &[&str]) -> BTreeSet<String> {
    let args: Vec<&str> = ["install", "--no-install-recommends"].iter().chain(requests).copied().collect();
    let (ok, said) = apt.simulate(&args);
    assert!(ok, "apt-get -s install {requests:?}:\n{said}");
    said.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            format!("{}-{}", w[0], w[1].trim_start_matches('('))
        })
        .collect()
}

/// What moa-bundle packs (`name-version`) for `requests` (in place of the manifest's) against
/// the node `profile`.
fn moa_packs(dir: &Path, manifest: &Path, profile: &Path, requests: &[&str]) -> BTreeSet<String> {
    let out = moa(dir)
        .args(["resolve", "--json", "--name", "t", "--manifest"])
        .arg(manifest)
        .arg("--target")
        .arg(profile)
        .arg("--only")
        .args(requests)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}-{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect()
}

/// `libgtk2.0-0 | libgtk-3-0`, met first: app needs `a, b`; a needs `gtk2 | gtk3`, b needs
/// `gtk3`. apt meets a's group before b's and takes gtk2, then gtk3 for b. A SAT solver
/// propagates b's single choice first and finds a's group met by gtk3.
#[test]
fn an_or_group_takes_its_first_alternative_when_apt_meets_it_first() {
    let s = Scenario::new(
        &[
            ("app", "1.0", "Depends: a, b"),
            ("a", "1.0", "Depends: gtk2 | gtk3"),
            ("b", "1.0", "Depends: gtk3"),
            ("gtk2", "1.0", ""),
            ("gtk3", "1.0", ""),
        ],
        &[],
    );
    s.agree(&["app"], &["app-1.0", "a-1.0", "b-1.0", "gtk2-1.0", "gtk3-1.0"]);
}

/// `libgl1-mesa-dev | libgl-dev` with libgl-dev already marked: app needs `a, viewer`; a
/// reaches libgl-dev only through a choice of its own (`gl-dev | other`); viewer needs
/// `mesa-dev | gl-dev`. apt's walk has marked gl-dev when it meets viewer's group, which is then
/// met: nothing more.
#[test]
fn an_or_group_met_meanwhile_by_a_later_alternative_is_left_alone() {
    let s = Scenario::new(
        &[
            ("app", "1.0", "Depends: a, viewer"),
            ("a", "1.0", "Depends: gl-dev | other"),
            ("viewer", "1.0", "Depends: mesa-dev | gl-dev"),
            ("mesa-dev", "1.0", ""),
            ("gl-dev", "1.0", ""),
            ("other", "1.0", ""),
        ],
        &[],
    );
    s.agree(&["app"], &["app-1.0", "a-1.0", "viewer-1.0", "gl-dev-1.0"]);
}

/// A group met by an installed package is left alone (`python3-importlib-metadata | python3
/// (>> 3.8)` on a node with python3 3.11): nothing is installed for it.
#[test]
fn an_or_group_an_installed_package_meets_installs_nothing() {
    let s = Scenario::new(
        &[("app", "1.0", "Depends: py-meta | python3 (>> 3.8)"), ("py-meta", "4.0", ""), ("python3", "3.11", "")],
        &[("python3", "3.11", "")],
    );
    s.agree(&["app"], &["app-1.0"]);
}

/// Two providers of a virtual package that tie on everything apt's `CompareProviders` asks
/// (neither installed nor named like it, same arch and Priority): apt takes the one its cache
/// created later, where the index first names it (apt-ftparchive writes the stanzas sorted,
/// so prov-longer after prov-a). A shorter-name-first rule took prov-a (the real case:
/// librust-ahash-0.7-dev over librust-ahash-dev for `librust-ahash-0.7+compile-time-rng-dev`).
#[test]
fn tied_providers_go_by_where_apts_cache_holds_them() {
    let s = Scenario::new(
        &[("app", "1.0", "Depends: cap"), ("prov-a", "1.0", "Provides: cap"), ("prov-longer", "1.0", "Provides: cap")],
        &[],
    );
    s.agree(&["app"], &["app-1.0", "prov-longer-1.0"]);
}

/// Versioned Provides (`ruby-json (>= 2.5.1)` and libruby providing `ruby-json (= 2.6.1)`):
/// when apt's walk has marked the provider first, the requirement is met and the real
/// ruby-json is not installed; when it meets the requirement first, it takes the package named
/// like it (apt's `CompareProviders`), and later marks the provider too.
#[test]
fn a_versioned_provide_meets_a_requirement_when_apt_marked_it_first() {
    let s = Scenario::new(
        &[
            ("app-one", "1.0", "Depends: libruby, json-user"),
            ("app-two", "1.0", "Depends: json-user, libruby"),
            ("libruby", "3.1", "Provides: ruby-json (= 2.6.1)"),
            ("json-user", "1.0", "Depends: ruby-json (>= 2.5.1)"),
            ("ruby-json", "2.7", ""),
        ],
        &[],
    );
    s.agree(&["app-one"], &["app-one-1.0", "libruby-3.1", "json-user-1.0"]);
    s.agree(&["app-two"], &["app-two-1.0", "libruby-3.1", "json-user-1.0", "ruby-json-2.7"]);
}

/// The real Debian 12 archive (bookworm main: its Debian-signed InRelease and the 63,440
/// entries of its Packages.xz) and the dpkg status of a real debootstrap root (plain: Priority
/// required + important, 156 packages), both from `target/test-roots` (`scripts/test-roots.sh`,
/// which the README's test command runs): apt-get and moa-bundle on the same index and node.
struct RealBookworm {
    t: tempfile::TempDir,
    apt: Apt,
    mirror: Mirror,
    profile: PathBuf,
    manifest: PathBuf,
}

impl RealBookworm {
    fn new() -> Option<Self> {
        require_tools(TOOLS);
        let roots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-roots");
        if !roots.join("bookworm-mirror/.complete").is_file() {
            common::skip("apt_oracle", "no debootstrap roots: run scripts/test-roots.sh (scripts/test.sh does)");
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("node");
        fs_err::create_dir_all(&root).unwrap();
        let tar = roots.join("bookworm-plain.tar");
        run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&root).args([
            "./var/lib/dpkg/status",
            "./etc/os-release",
            "./usr/lib/os-release",
        ]));
        let profile = t.path().join("node.json");
        moa(t.path()).arg("probe").arg("--root").arg(&root).arg("-o").arg(&profile).assert().success();
        let mirror = Mirror::serve(&roots.join("bookworm-mirror"));
        let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/keys");
        let key = "debian-archive-bookworm-automatic.gpg";
        fs_err::copy(keys.join(key), t.path().join(key)).unwrap();
        let apt = Apt::trusting(&t.path().join("apt"), &mirror.url, "bookworm", &t.path().join(key));
        fs_err::copy(root.join("var/lib/dpkg/status"), apt.status()).unwrap();
        let (updated, said) = apt.update();
        assert!(updated, "apt-get update: {said}");
        let manifest = TestManifest::deb(&["ntpsec"])
            .apt_repo("debian", "bookworm", &mirror.url, Keys::File(key, "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"))
            .write_to(&t.path().join("m.toml"));
        Some(RealBookworm { t, apt, mirror, profile, manifest })
    }

    fn apt(&self, requests: &[&str]) -> BTreeSet<String> {
        apt_installs(&self.apt, requests)
    }

    fn moa(&self, requests: &[&str]) -> BTreeSet<String> {
        let _ = &self.mirror;
        moa_packs(self.t.path(), &self.manifest, &self.profile, requests)
    }
}

/// Seeded random request sets (scripts/compare-apt.sh's kind) on which moa-bundle answered
/// otherwise than apt before it replayed apt's walk: an or-group and a provider taken in
/// apt's order, a versioned provide met by a package marked earlier. Each set is answered by
/// apt-get -s and by moa-bundle, and must agree.
#[test]
fn on_real_bookworm_metadata_and_a_real_root_apt_and_moa_bundle_agree() {
    let Some(real) = RealBookworm::new() else { return };
    let mut differ = Vec::new();
    for set in REAL_SETS {
        let requests: Vec<&str> = set.split(' ').collect();
        let (apt, moa) = (real.apt(&requests), real.moa(&requests));
        if apt != moa {
            let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.difference(b).cloned().collect::<Vec<_>>();
            differ.push(format!("{set}: apt only {:?}, moa-bundle only {:?}", only(&apt, &moa), only(&moa, &apt)));
        }
    }
    assert!(differ.is_empty(), "{} of {} sets differ:\n{}", differ.len(), REAL_SETS.len(), differ.join("\n"));
}

const REAL_SETS: &[&str] = &[
    // A provider in apt's order: librust-ahash-0.7-dev, not librust-ahash-dev.
    "librust-config-dev libkf5xmlgui-bin python3-gssapi",
    // A versioned provide marked first: libruby3.1 provides ruby-json (= 2.6.3), so the real
    // ruby-json is not installed.
    "libxml-libxml-perl msort-gui node-ip puppet-module-ovn d-shlibs libmoosex-types-structured-perl",
    // The product's own request.
    "ntpsec",
];

/// A request that conflicts with an installed package without replacing it: ifupdown-ng and
/// the plain root's ifupdown (Priority important, not Essential). apt removes ifupdown in its
/// own walk: the request, already marked, still has a conflict to settle (apt's `InstBroken`),
/// which removes ifupdown. moa-bundle's walk does the same: it notes the removal and packs
/// ifupdown-ng alone, with no note that the SAT step answered (its walk stopped there before).
#[test]
fn a_request_that_conflicts_with_an_installed_package_removes_it_in_apts_walk() {
    let Some(real) = RealBookworm::new() else { return };
    let (ok, apt) = real.apt.simulate(&["--no-install-recommends", "install", "ifupdown-ng"]);
    assert!(ok && apt.lines().any(|l| l.starts_with("Remv ifupdown ")), "{apt}");
    assert_eq!(real.apt(&["ifupdown-ng"]), real.moa(&["ifupdown-ng"]));
    let out = moa(real.t.path())
        .args(["resolve", "--json", "--name", "t", "--manifest"])
        .arg(&real.manifest)
        .arg("--target")
        .arg(&real.profile)
        .args(["--only", "ifupdown-ng"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let notes = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["notes"].to_string();
    assert!(notes.contains("removes ifupdown-0.8.41.amd64"), "{notes}");
    assert!(!notes.contains("problem resolver"), "{notes}");
}
