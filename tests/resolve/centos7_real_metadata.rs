//! The real CentOS 7.9 base metadata (`tests/fixtures`), served from a loopback mirror in the
//! standard layout with the repomd.xml createrepo_c would write for it, resolves to exactly the
//! seed's bundle: ntp, ntpdate, autogen-libopts.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::{createrepo, moa, require_tools, shared_fixtures, Mirror};

const PRIMARY: &str = "2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e-primary.xml.gz";

/// `<root>/7.9.2009/os/x86_64` with the real primary; `updates` as an empty createrepo_c repo.
fn centos7_tree(fixtures: &Path, root: &Path) {
    let repodata = root.join("7.9.2009/os/x86_64/repodata");
    fs_err::create_dir_all(&repodata).unwrap();
    let src = fixtures.join("centos7-7.9.2009-os-x86_64").join(PRIMARY);
    fs_err::copy(&src, repodata.join(PRIMARY)).unwrap();
    let size = fs_err::metadata(&src).unwrap().len();
    fs_err::write(
        repodata.join("repomd.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1587512243</revision>
  <data type="primary">
    <checksum type="sha256">2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e</checksum>
    <open-checksum type="sha256">310c1dd3974815282998dd1acb0b2c14c934ad19e196e16956531d57efac86c4</open-checksum>
    <location href="repodata/{PRIMARY}"/>
    <timestamp>1587512243</timestamp>
    <size>{size}</size>
    <open-size>28033731</open-size>
  </data>
</repomd>
"#
        ),
    )
    .unwrap();
    createrepo(&root.join("7.9.2009/updates/x86_64"));
    // CentOS 7 publishes no repomd.xml.asc (the shipped manifest pins the real CentOS key; its
    // packages' header signatures carry the trust), so neither repository has one here.
    fs_err::remove_file(root.join("7.9.2009/updates/x86_64/repodata/repomd.xml.asc")).unwrap();
}

#[test]
fn real_centos7_base_resolves_to_the_seeds_three_packages() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(&["createrepo_c"]);
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let mirror = Mirror::serve(&tmp.path().join("mirror"));

    let out =
        moa(tmp.path()).args(["resolve", "--distro", "centos7", "--json", "--mirror", &mirror.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<(String, String, String)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
                p["arch"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    // Versions as the fixture's README states them for the 7.9.2009 os repository.
    assert_eq!(
        got,
        vec![
            ("autogen-libopts".into(), "5.18-5.el7".into(), "x86_64".into()),
            ("ntp".into(), "4.2.6p5-29.el7.centos.2".into(), "x86_64".into()),
            ("ntpdate".into(), "4.2.6p5-29.el7.centos.2".into(), "x86_64".into()),
        ]
    );
    let libopts = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "autogen-libopts").unwrap();
    assert_eq!(libopts["requested"], false);
    assert_eq!(libopts["why"][1], "ntp needs libopts.so.25()(64bit)", "why: {}", libopts["why"]);
    assert!(report["base_packages"].as_u64().unwrap() > 200, "the @core base closure is a few hundred packages");
    assert_eq!(mirror.requested(PRIMARY), 1, "primary is fetched once");
}

#[test]
fn without_a_base_the_full_closure_includes_glibc_x86_64_never_i686() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(&["createrepo_c"]);
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let url = url::Url::from_directory_path(tmp.path().join("mirror")).unwrap().to_string();

    // A file:// mirror (a mounted DVD) works with no network at all.
    let out = moa(tmp.path())
        .args(["resolve", "--distro", "centos7", "--json", "--no-base", "--mirror", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs = report["packages"].as_array().unwrap();
    let glibc: Vec<&serde_json::Value> = pkgs.iter().filter(|p| p["name"] == "glibc").collect();
    assert_eq!(glibc.len(), 1);
    assert_eq!(glibc[0]["arch"], "x86_64");
    assert!(pkgs.iter().all(|p| p["arch"] == "x86_64" || p["arch"] == "noarch"));
    assert!(pkgs.iter().any(|p| p["name"] == "systemd"), "ntp requires systemd-units, which systemd provides");
    assert!(pkgs.iter().any(|p| p["name"] == "bash"), "/bin/sh is a file provide of bash");
}

#[test]
fn a_corrupt_primary_is_refused_with_the_url_and_the_fix() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(&["createrepo_c"]);
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let mirror = Mirror::serve(&tmp.path().join("mirror"));
    mirror.fault(PRIMARY, common::Fault::Corrupt);
    let out = moa(tmp.path()).args(["resolve", "--distro", "centos7", "--mirror", &mirror.url]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checksum mismatch") && err.contains(PRIMARY) && err.contains("--mirror"), "{err}");
}

#[test]
fn the_real_primary_parses_to_the_fixtures_documented_counts() {
    use moa_model::types::Arch;
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    let bytes = fs_err::read(fixtures.join("centos7-7.9.2009-os-x86_64").join(PRIMARY)).unwrap();
    let reader = Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(&bytes[..])));
    let mut out = Vec::new();
    moa_engine::formats::yum::parse_primary(reader, "fixture", 0, &Arch::new("x86_64").unwrap(), &mut out).unwrap();
    // The fixture README: 4,650 x86_64 + 3,154 noarch (+ 2,268 i686, not for an x86_64 node).
    let count = |a: &str| out.iter().filter(|p| p.arch.as_str() == a).count();
    assert_eq!((count("x86_64"), count("noarch"), out.len()), (4650, 3154, 7804));
    let ntp = out.iter().find(|p| p.name.as_str() == "ntp").unwrap();
    assert_eq!(ntp.sha256.to_hex(), "17b8b7fb5bc2f60797d15288cbf7fb16b1e1679974495b7e3ffafccba9afc421");
    assert!(ntp.requires().contains("ntpdate = 0:4.2.6p5-29.el7.centos.2"));
    assert!(ntp.requires().contains("libopts.so.25()(64bit)"));
    assert!(ntp.pre_requires().contains("systemd-units"));
}

/// The full closure of ntp + ntpdate on the real metadata equals libsolv's (the solver behind
/// dnf and zypper) for an empty system: the same 115 package names.
#[test]
fn full_closure_matches_libsolv_on_the_real_metadata() {
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    require_tools(&["createrepo_c", "rpmmd2solv", "testsolv"]);
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let url = url::Url::from_directory_path(tmp.path().join("mirror")).unwrap().to_string();
    let out = moa(tmp.path())
        .args(["resolve", "--distro", "centos7", "--json", "--no-base", "--mirror", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ours: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}-{}.{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["arch"].as_str().unwrap()
            )
        })
        .collect();
    ours.sort();

    let primary = fixtures.join("centos7-7.9.2009-os-x86_64").join(PRIMARY);
    let solv = tmp.path().join("os.solv");
    common::run(std::process::Command::new("sh").arg("-c").arg(format!(
        "zcat '{}' | rpmmd2solv > '{}'",
        primary.display(),
        solv.display()
    )));
    let case = tmp.path().join("ntp.testcase");
    fs_err::write(
        &case,
        format!(
            // testsolv resolves repo files relative to the testcase's directory.
            "repo system 0 empty\nrepo os 0 solv {}\nsystem x86_64 rpm system\njob install name ntp\njob install name ntpdate\nresult transaction,problems <inline>\n",
            solv.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    // testsolv exits 1 because the inline result differs from the (empty) expected one.
    let out = std::process::Command::new("testsolv").arg(&case).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("+install "))
        .map(|l| l.trim_end_matches("@os").to_string())
        .collect();
    theirs.sort();
    assert_eq!(theirs.len(), 115, "libsolv's closure: {text}");
    // libsolv prints epochs (`dbus-1:1.10.24-15.el7`); we print them too when non-zero.
    assert_eq!(ours, theirs);
}

#[test]
fn why_and_why_not_explain_the_plan_on_the_real_metadata() {
    require_tools(&["createrepo_c"]);
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let url = url::Url::from_directory_path(tmp.path().join("mirror")).unwrap().to_string();
    let ask = |args: &[&str]| {
        let out =
            moa(tmp.path()).args(["resolve", "--distro", "centos7", "--mirror", &url]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // ntp's spec: `Requires: libopts.so.25()(64bit)`, provided by autogen-libopts; ntpdate is
    // requested itself, and ntp requires it too (`ntpdate = 4.2.6p5-29.el7`).
    assert_eq!(ask(&["--why", "autogen-libopts"]), "ntp (requested) → ntp needs libopts.so.25()(64bit)\n");
    let chains = ask(&["--why", "ntpdate"]);
    assert!(chains.lines().any(|l| l == "ntpdate (requested)"), "{chains}");
    assert!(chains.lines().any(|l| l.starts_with("ntp (requested) → ntp needs ntpdate = ")), "{chains}");
    // chrony is in @core, so a minimal node has it; glibc too (through the base closure).
    let chrony = ask(&["--why-not", "chrony"]);
    assert!(chrony.starts_with("chrony 3.4-1.el7") && chrony.contains("part of the node's base"), "{chrony}");
    assert!(ask(&["--why-not", "glibc"]).contains("part of the node's base"));
    // ntp-doc exists, but nothing needs it.
    assert_eq!(ask(&["--why-not", "ntp-doc"]), "nothing in the plan requires ntp-doc (nor anything it provides)\n");
    assert_eq!(
        ask(&["--why-not", "no-such-package"]),
        "no repository of the manifest has a package named no-such-package\n"
    );
}

/// With entries kept (a bundle that is also a repository), each package's `<package>` element
/// is the published bytes exactly; a local repository of three of them reads back as those
/// three, with locations in the bundle and every field as upstream has it.
#[test]
fn kept_entries_are_the_published_bytes_and_a_local_repository_reads_back() {
    use moa_engine::formats::{yum::Yum, LocalPackage, MetadataFormat};
    use moa_model::types::Arch;
    let Some(fixtures) = shared_fixtures() else {
        return;
    };
    let bytes = fs_err::read(fixtures.join("centos7-7.9.2009-os-x86_64").join(PRIMARY)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
    let reader = Box::new(std::io::BufReader::new(text.as_bytes()));
    let arch = Arch::new("x86_64").unwrap();
    let (mut out, mut writer) = (Vec::new(), moa_engine::formats::EntryWriter::new().unwrap());
    moa_engine::formats::yum::parse_primary_with(reader, "fixture", 0, &arch, Some(&mut writer), &mut out).unwrap();
    assert_eq!(out.len(), 7804);
    let store = writer.finish().unwrap();
    let entry_of =
        |p: &moa_engine::formats::PackageRecord| String::from_utf8(store.get(p.entry.unwrap()).unwrap()).unwrap();
    let mut at = 0;
    for p in &out {
        let entry = &entry_of(p);
        assert!(entry.starts_with("<package type=\"rpm\">") && entry.ends_with("</package>"), "{}", p.nevra());
        let found = text[at..].find(entry).unwrap_or_else(|| panic!("{}'s entry is not in the primary", p.nevra()));
        at += found + entry.len();
    }

    let picked: Vec<_> = ["ntp", "ntpdate", "autogen-libopts"]
        .iter()
        .map(|n| out.iter().find(|p| p.name.as_str() == *n).unwrap())
        .collect();
    let locals: Vec<LocalPackage> = picked
        .iter()
        .map(|p| LocalPackage {
            record: p,
            entry: Some(entry_of(p).into_bytes()),
            href: format!("packages/{}", p.file_name()),
        })
        .collect();
    let files = Yum.local_repository(&locals, 1_587_512_243, "ntp-centos7-x86_64").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &files {
        fs_err::create_dir_all(dir.path().join(path).parent().unwrap()).unwrap();
        fs_err::write(dir.path().join(path), bytes).unwrap();
    }
    let written = moa_engine::formats::LocalRepository { epoch: 1_587_512_243, label: "ntp-centos7-x86_64" };
    let back = Yum.read_local_repository(dir.path(), &arch, written).unwrap();
    assert_eq!(back.len(), 3);
    for (b, p) in back.iter().zip(&picked) {
        assert_eq!((b.nevra(), b.sha256, b.size), (p.nevra(), p.sha256, p.size));
        assert_eq!(b.location(), format!("packages/{}", p.file_name()));
        assert_eq!((&b.requires(), &b.provides(), &b.files()), (&p.requires(), &p.provides(), &p.files()));
    }
}

/// The parsed-index cache on the real CentOS 7.9 primary (7,804 packages for x86_64): the
/// second resolve reads the records from the cache instead of parsing, and an entry that is
/// truncated, bit-flipped, of another encoding version, or swapped with another repository's
/// is detected, parsed again and rewritten; the plan is the same every time (the JSON).
#[test]
fn the_parsed_index_cache_is_used_and_a_damaged_entry_is_rebuilt_with_the_same_plan() {
    require_tools(&["createrepo_c"]);
    let Some(fixtures) = shared_fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    centos7_tree(&fixtures, &tmp.path().join("mirror"));
    let url = url::Url::from_directory_path(tmp.path().join("mirror")).unwrap().to_string();
    let resolve = |json: bool| {
        let mut c = moa(tmp.path());
        c.args(["resolve", "--distro", "centos7", "--mirror", &url]);
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        (String::from_utf8_lossy(&out.stdout).into_owned(), said)
    };
    let (plan, _) = resolve(true);
    let entries = || -> Vec<PathBuf> {
        let dir = tmp.path().join("moa-bundle/parsed-v1");
        let mut e: Vec<PathBuf> = fs_err::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        e.sort();
        e
    };
    assert_eq!(entries().len(), 2, "one entry per repository (os, updates)");
    let (_, said) = resolve(false);
    assert!(said.contains("7804 package(s) read from the parsed-index cache"), "{said}");
    assert!(!said.contains("unusable"), "{said}");
    assert_eq!(resolve(true).0, plan);

    let os = entries().into_iter().max_by_key(|p| fs_err::metadata(p).unwrap().len()).unwrap();
    let good = fs_err::read(&os).unwrap();
    let version_at = "moa-bundle parsed index\n".len();
    let damaged: [(&str, Vec<u8>); 3] = [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("bit-flipped", good.iter().enumerate().map(|(i, b)| if i == good.len() - 100 { b ^ 1 } else { *b }).collect()),
        ("another version", good.iter().enumerate().map(|(i, b)| if i == version_at { b ^ 1 } else { *b }).collect()),
    ];
    for (how, bytes) in damaged {
        fs_err::write(&os, bytes).unwrap();
        let (_, said) = resolve(false);
        assert!(
            said.contains("parsed-index cache entry is unusable") && said.contains("parsed again"),
            "{how}: {said}"
        );
        assert_eq!(fs_err::read(&os).unwrap(), good, "{how}: the entry is rewritten");
        assert_eq!(resolve(true).0, plan, "{how}");
    }
    // The two repositories' entries swapped: each is made for another index.
    let [a, b] = <[PathBuf; 2]>::try_from(entries()).unwrap();
    let (ea, eb) = (fs_err::read(&a).unwrap(), fs_err::read(&b).unwrap());
    fs_err::write(&a, &eb).unwrap();
    fs_err::write(&b, &ea).unwrap();
    let (_, said) = resolve(false);
    assert_eq!(said.matches("made for another index").count(), 2, "{said}");
    assert_eq!(resolve(true).0, plan);
    assert_eq!((fs_err::read(&a).unwrap(), fs_err::read(&b).unwrap()), (ea, eb), "both rewritten");
}
