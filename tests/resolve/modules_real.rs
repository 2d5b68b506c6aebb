//! EL9 modularity on the real CentOS Stream 9 AppStream metadata (`tests/fixtures/`): its
//! real `modules.yaml` (31 streams, no default streams) and primary (17,649 packages). Plain
//! `nodejs` is the non-modular package; with `nodejs:20` enabled it is that stream's, and the
//! non-modular one is hidden; a package only in a stream that is not enabled (`pgvector`, in the
//! postgresql:16 stream) is refused naming the stream to enable, through the binary.

use crate::common::{self, Keys, TestManifest};

use std::collections::BTreeSet;
use std::path::Path;

use moa_engine::formats::{modules, yum, Metadata};
use moa_model::types::Arch;

fn load(dir: &Path) -> (Metadata, modules::Modules) {
    let repodata = dir.join("repodata");
    let find = |suffix: &str| {
        fs_err::read_dir(&repodata)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap()
    };
    let primary = fs_err::read(find("-primary.xml.gz")).unwrap();
    let mut md = Metadata::default();
    let arch = Arch::new("x86_64").unwrap();
    yum::parse_primary(
        moa_engine::formats::decompressor("p.xml.gz", "primary", &primary).unwrap(),
        "primary",
        0,
        &arch,
        &mut md.packages,
    )
    .unwrap();
    let yaml = fs_err::read(find("-modules.yaml.xz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut moa_engine::formats::decompressor("m.yaml.xz", "modules", &yaml).unwrap(),
        &mut text,
    )
    .unwrap();
    (md, modules::parse_modules(&text, "modules.yaml").unwrap())
}

fn versions(md: &Metadata, name: &str) -> BTreeSet<String> {
    md.packages.iter().filter(|p| p.name.as_str() == name).map(|p| p.version.to_string()).collect()
}

fn stream(name: &str, s: &str) -> (String, String) {
    (name.to_string(), s.to_string())
}

#[test]
fn streams_filter_the_real_appstream_as_dnf_does() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    let dir = fixtures.join("centos-stream9-appstream-x86_64");
    let (all, mods) = load(&dir);
    assert_eq!(mods.streams.iter().map(|s| format!("{}:{}", s.name, s.stream)).collect::<BTreeSet<_>>().len(), 15);
    assert!(mods.defaults.is_empty(), "CS9 AppStream has defaults documents but no default streams");
    assert!(all.packages.len() > 10_000);

    // Nothing enabled: every stream is inactive; nodejs is the non-modular 16.
    let mut md = all.clone();
    let hidden = modules::filter(&mut md, &mods, &[], Some("el9")).unwrap();
    assert_eq!(versions(&md, "nodejs"), BTreeSet::from(["1:16.20.2-3.el9".to_string(), "1:16.20.2-8.el9".to_string()]));
    assert_eq!(
        hidden.get("pgvector"),
        Some(&vec!["postgresql:16".to_string()]),
        "pgvector is built in the postgresql:16 stream only"
    );
    assert!(versions(&md, "pgvector").is_empty());

    // nodejs:20 enabled: that stream's builds, the non-modular nodejs hidden.
    let mut md = all.clone();
    modules::filter(&mut md, &mods, &[stream("nodejs", "20")], Some("el9")).unwrap();
    let v = versions(&md, "nodejs");
    assert!(!v.is_empty() && v.iter().all(|v| v.starts_with("1:20.") && v.contains(".module_el9")), "{v:?}");
    assert!(versions(&md, "nodejs-devel").iter().all(|v| v.starts_with("1:20.")));

    // One stream per module; a stream no repository has is named with those that exist.
    let e =
        modules::filter(&mut all.clone(), &mods, &[stream("nodejs", "18"), stream("nodejs", "20")], None).unwrap_err();
    assert!(e.contains("nodejs:18 and nodejs:20"), "{e}");
    let e = modules::filter(&mut all.clone(), &mods, &[stream("nodejs", "99")], None).unwrap_err();
    assert!(e.contains("nodejs:99") && e.contains("18, 20, 22"), "{e}");

    // Only maven:3.8 says it runs on platform:el9 (`requires`); the others name el9 only for
    // building, which binds no node, as in libdnf. On an el8 node maven:3.8 cannot be enabled;
    // nodejs:20 can.
    let runtime: Vec<String> =
        mods.streams.iter().filter(|s| !s.platforms.is_empty()).map(|s| format!("{}:{}", s.name, s.stream)).collect();
    assert!(!runtime.is_empty() && runtime.iter().all(|s| s == "maven:3.8"), "{runtime:?}");
    let e = modules::filter(&mut all.clone(), &mods, &[stream("maven", "3.8")], Some("el8")).unwrap_err();
    assert!(e.contains("maven:3.8 has no build for platform:el8"), "{e}");
    let mut md = all.clone();
    modules::filter(&mut md, &mods, &[stream("maven", "3.8")], Some("el9")).unwrap();
    assert!(versions(&md, "maven").iter().all(|v| v.contains(".module_el9")), "{:?}", versions(&md, "maven"));
    modules::filter(&mut all.clone(), &mods, &[stream("nodejs", "20")], Some("el8")).unwrap();
}

/// `pgvector` (only in a stream of the `pgvector` module) from the real AppStream at `url`, for
/// CentOS Stream 9 nodes.
fn cs9_manifest(url: &str, path: &Path) {
    TestManifest::rpm(&["pgvector"])
        .set("name", "pg")
        .set("distro", "cs9")
        .os_release("centos", "9", None)
        .yum_repo("appstream", ".", url, Keys::Test)
        .write_to(path);
}

#[test]
fn a_package_only_in_a_stream_not_enabled_is_refused_naming_the_stream() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mirror = common::Mirror::serve(&fixtures.join("centos-stream9-appstream-x86_64"));
    let manifest = tmp.path().join("cs9.toml");
    cs9_manifest(&mirror.url, &manifest);
    let out = common::moa(tmp.path()).args(["resolve", "--no-base", "--manifest"]).arg(&manifest).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("`pgvector`")
            && err.contains("module stream postgresql:16")
            && err.contains("modules = [\"postgresql:16\"]"),
        "{err}"
    );
    assert!(mirror.requested("modules.yaml.xz") == 1);
}

/// Streams are enabled by `--module`, and by the node itself: `probe` reads dnf's
/// `etc/dnf/modules.d/*.module` and a `--target` profile enables what the node has. Either way
/// `pgvector` is then visible; BaseOS is not kept, so the resolve stops on a base dependency
/// instead of on the stream.
#[test]
fn a_stream_enabled_by_flag_or_by_the_node_makes_its_packages_visible() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    common::require_tools(&["rpm"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mirror = common::Mirror::serve(&fixtures.join("centos-stream9-appstream-x86_64"));
    let manifest = t.join("cs9.toml");
    cs9_manifest(&mirror.url, &manifest);
    let resolve = |extra: &[&str]| {
        let out =
            common::moa(t).args(["resolve", "--no-base", "--manifest"]).arg(&manifest).args(extra).output().unwrap();
        assert!(!out.status.success(), "BaseOS is not kept: the resolve cannot close");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = resolve(&["--module", "postgresql:16"]);
    assert!(!err.contains("module stream") && err.contains("pgvector"), "{err}");

    // A node with postgresql:16 enabled, probed.
    let root = t.join("node");
    common::fake_os_release(&root, "centos", "9");
    common::run(std::process::Command::new("rpm").arg("--root").arg(&root).args([
        "--dbpath",
        "/var/lib/rpm",
        "--initdb",
    ]));
    fs_err::create_dir_all(root.join("etc/dnf/modules.d")).unwrap();
    fs_err::write(
        root.join("etc/dnf/modules.d/postgresql.module"),
        "[postgresql]\nname=postgresql\nstream=16\nprofiles=\nstate=enabled\n",
    )
    .unwrap();
    let profile = t.join("node.json");
    let out = common::moa(t).args(["probe", "--root"]).arg(&root).arg("-o").arg(&profile).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&fs_err::read(&profile).unwrap()).unwrap();
    assert_eq!(p["modules"], serde_json::json!(["postgresql:16"]));
    let out =
        common::moa(t).args(["resolve", "--manifest"]).arg(&manifest).arg("--target").arg(&profile).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("module stream") && err.contains("pgvector"), "{err}");
    // The manifest enabling another stream of the same module than the node is refused.
    let out = common::moa(t)
        .args(["resolve", "--module", "postgresql:15", "--manifest"])
        .arg(&manifest)
        .arg("--target")
        .arg(&profile)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stream 15") && err.contains("stream 16") && err.contains("node.json"), "{err}");
}

/// The real AppStream comps: 63 groups; `core`'s AppStream half and `container-management`
/// are their mandatory and default members (counted with Python's ElementTree, an independent
/// parser, on the same file).
#[test]
fn the_real_appstream_comps_parse_to_its_groups() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    let repodata = fixtures.join("centos-stream9-appstream-x86_64/repodata");
    let file = fs_err::read_dir(&repodata)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-comps-AppStream.x86_64.xml"))
        .unwrap();
    let groups = moa_engine::formats::comps::parse_groups(&fs_err::read(file).unwrap(), "comps").unwrap();
    assert_eq!(groups.len(), 63);
    assert_eq!(groups["core"], ["rsyslog", "python3-libselinux"]);
    assert_eq!(groups["container-management"], ["buildah", "containernetworking-plugins", "podman"]);
}
