//! Writing a bundle: a byte-reproducible `tar.gz` (sorted members, fixed mtime, uid/gid 0, fixed
//! modes, no gzip timestamp), written to a locked temporary file beside the output, synced, then
//! renamed; a `<bundle>.sha256` in `sha256sum` format is written the same way. The two renames
//! happen under a lock on the output directory, so concurrent builds to one path leave a bundle
//! and a sidecar of the same build.

use std::path::{Path, PathBuf};

use super::{BundleIndex, INDEX_FILE, INSTALLER_FILE, PACKAGES_DIR, SUMS_FILE};
use crate::files::{self, DirLock, Partial};
use crate::types::{HashingWriter, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("could not write the bundle {}: check that the directory exists and is writable", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read package file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the download of {file} stopped, so the bundle was not finished")]
    Missing { file: String },
}

/// The package tool's command line in `install.sh`, from the family's installer.
#[derive(Debug, Clone, Default)]
pub struct FallbackCommand {
    /// Whether the tool can skip package scripts (rpm `--noscripts`; dpkg cannot).
    pub skip_scripts: bool,
    /// The tool's force options (`--force --nodeps`).
    pub force: &'static str,
    /// The command a stage's files are appended to, using the script's `$ROOT`, `$FORCE` and
    /// `$NOSCRIPTS`.
    pub line: &'static str,
    /// Module streams (EL8+ dnf): a line refusing a node that has another stream of `{module}`
    /// enabled (run before any package), and one enabling `{module}:{stream}` (after). Both
    /// names are validated labels (`[A-Za-z0-9._-]`), so they need no quoting.
    pub streams: Option<(&'static str, &'static str)>,
    /// `install.sh --via-repo`: the sh that installs every bundled package with the node's own
    /// package manager from the bundle's repository, using the script's `$DIR` (the bundle's
    /// top directory, a plain path), `$ROOT` and `$NOSCRIPTS`. Empty when the bundle has none.
    pub via_repo: String,
}

/// `s` quoted for POSIX sh (`'…'`, a `'` inside as `'\''`).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl FallbackCommand {
    fn stream_lines(&self, index: &BundleIndex, enable: bool) -> String {
        let Some((check, write)) = self.streams else { return String::new() };
        let template = if enable { write } else { check };
        let fill = |m: &crate::manifest::ModuleRef| {
            template.replace("{module}", m.name.as_str()).replace("{stream}", m.stream.as_str()) + "\n"
        };
        index.modules.iter().map(fill).collect()
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Packed {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
}

/// How member data is compressed. Packages are compressed already (a deflate pass over real
/// debs saves 0.1%), so the gzip stream stores them: a valid `.tar.gz` for every tool, at disk
/// speed. A change here changes every bundle's bytes: it is part of [`content_key`].
const COMPRESSION: flate2::Compression = flate2::Compression::none();

enum Body {
    Bytes(Vec<u8>),
    /// The file of `index.packages[i]`, which may still be downloading.
    Package(usize),
}

/// One member: path inside the top directory, content, digest, mode.
type Member = (String, Body, Sha256, u32);

fn bytes_member(path: &str, bytes: Vec<u8>, mode: u32) -> Member {
    let digest = Sha256::digest(&bytes);
    (path.to_string(), Body::Bytes(bytes), digest, mode)
}

/// Every member, sorted by path (so `SHA256SUMS`, which lists all the others, comes first).
fn members(index: &BundleIndex, extra: &[(String, Vec<u8>)], tool: &FallbackCommand) -> Vec<Member> {
    let mut index_json = serde_json::to_vec_pretty(index).expect("the index serializes");
    index_json.push(b'\n');
    let mut out = vec![
        bytes_member(INDEX_FILE, index_json, 0o644),
        bytes_member(INSTALLER_FILE, install_script(index, tool).into_bytes(), 0o755),
    ];
    for (i, p) in index.packages.iter().enumerate() {
        out.push((format!("{PACKAGES_DIR}/{}", p.file), Body::Package(i), p.sha256, 0o644));
    }
    for (path, b) in extra {
        out.push(bytes_member(path, b.clone(), 0o644));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let sums: String = out.iter().map(|(path, _, digest, _)| format!("{digest}  {path}\n")).collect();
    out.insert(0, bytes_member(SUMS_FILE, sums.into_bytes(), 0o644));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What decides a bundle's bytes: the tool, the compression, the top directory, and every
/// member's path, mode and digest. Two builds with one key write the same file.
pub fn content_key(index: &BundleIndex, extra: &[(String, Vec<u8>)], tool: &FallbackCommand, stem: &str) -> Sha256 {
    let mut text =
        format!("moa-bundle {} {COMPRESSION:?} {stem} {}\n", env!("CARGO_PKG_VERSION"), index.source_date_epoch);
    for (path, _, digest, mode) in members(index, extra, tool) {
        text.push_str(&format!("{digest} {mode:o} {path}\n"));
    }
    Sha256::digest(text.as_bytes())
}

/// Packs the index, the package files and `extra` members (path inside the bundle, content),
/// e.g. the role templates under `roles/`. `package(i)` gives the file of `index.packages[i]`,
/// waiting for it if it is still downloading (members are written in path order, so the files
/// should arrive in that order); `None` stops the pack.
pub fn write_bundle(
    index: &BundleIndex,
    package: &dyn Fn(usize) -> Option<PathBuf>,
    extra: &[(String, Vec<u8>)],
    tool: &FallbackCommand,
    stem: &str,
    output: &Path,
) -> Result<Packed, PackError> {
    let werr = |source| PackError::Write { path: output.to_path_buf(), source };
    let dir = files::parent_dir(output);
    fs_err::create_dir_all(&dir).map_err(werr)?;

    let mut partial = Partial::new_in(&dir).map_err(werr)?;
    let file = partial.file_mut().try_clone().map_err(werr)?;
    let hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let gz = flate2::GzBuilder::new().mtime(0).write(hashing, COMPRESSION);
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mtime = index.source_date_epoch;
    let dir_entry = |tar: &mut tar::Builder<_>, path: &str| -> std::io::Result<()> {
        let mut h = header(tar::EntryType::Directory, 0o755, mtime, 0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    dir_entry(&mut tar, &format!("{stem}/")).map_err(werr)?;
    let mut dirs_written = std::collections::BTreeSet::new();
    for (path, body, _, mode) in members(index, extra, tool) {
        // Each directory once, before its first member (members are sorted by path).
        for (i, _) in path.match_indices('/') {
            if dirs_written.insert(path[..i].to_string()) {
                dir_entry(&mut tar, &format!("{stem}/{}/", &path[..i])).map_err(werr)?;
            }
        }
        let full = format!("{stem}/{path}");
        match body {
            Body::Bytes(b) => {
                let mut h = header(tar::EntryType::Regular, mode, mtime, b.len() as u64);
                tar.append_data(&mut h, &full, &b[..]).map_err(werr)?;
            }
            Body::Package(i) => {
                let f = package(i).ok_or_else(|| PackError::Missing { file: index.packages[i].file.clone() })?;
                let rerr = |source| PackError::Read { path: f.clone(), source };
                let file = fs_err::File::open(&f).map_err(rerr)?;
                let len = file.metadata().map_err(rerr)?.len();
                let mut h = header(tar::EntryType::Regular, mode, mtime, len);
                tar.append_data(&mut h, &full, file).map_err(werr)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(werr)?;
    let hashing = gz.finish().map_err(werr)?;
    let (sha256, size, buf) = hashing.finish();
    drop(buf.into_inner().map_err(|e| werr(e.into_error()))?);

    // Bundle and sidecar are renamed into place under one lock: another build to the same
    // path waits, so the pair is always one build's.
    let _lock = DirLock::wait(&dir).map_err(werr)?;
    partial.persist(output, 0o644).map_err(werr)?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let side = sidecar_path(output);
    files::write_atomic(&side, format!("{sha256}  {name}\n").as_bytes(), 0o644)
        .map_err(|source| PackError::Write { path: side.clone(), source })?;
    Ok(Packed { path: output.to_path_buf(), sha256, size })
}

pub use crate::files::sidecar_path;

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h
}

/// `install.sh`: a POSIX sh fallback for a node without moa-bundle.
fn install_script(index: &BundleIndex, tool: &FallbackCommand) -> String {
    let (force, tool_line) = (tool.force, tool.line);
    let mut s = format!(
        r#"#!/bin/sh
# Fallback installer for {name} ({distro}, {arch}), written by moa-bundle {ver}.
# Prefer `moa-bundle install BUNDLE`: it also checks the node's os-release, skips installed
# packages and reports missing dependencies before it changes anything.
# Usage: sh install.sh [--force] [--root DIR] [--noscripts] [--verified] [--via-repo]
#   --force       {force}: install despite missing dependencies
#   --root DIR    install into DIR instead of /
#   --noscripts   rpm only: run no package scripts
#   --verified    the bundle's signature was checked (minisign -V) before it was unpacked
#   --via-repo    install with the node's own dnf/yum/apt-get from this directory as a
#                 repository (repodata/), every other repository left out
set -eu
cd "$(dirname "$0")"
DIR=$(pwd)
FORCE="" ROOT="" NOSCRIPTS="" VERIFIED="" VIA_REPO=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE="{force}" ;;
    --verified) VERIFIED=1 ;;
    --via-repo) VIA_REPO=1 ;;
    --root) ROOT="${{2:?--root needs a directory}}"; shift ;;
    --noscripts) NOSCRIPTS="--noscripts" ;;
    *) echo "install.sh: unknown option $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$VERIFIED" ] && ls "$ROOT"/etc/moa-bundle/trusted-keys/*.pub >/dev/null 2>&1; then
  echo "install.sh: this node trusts bundle keys ($ROOT/etc/moa-bundle/trusted-keys/) and an unpacked bundle cannot show its signature: use 'moa-bundle install BUNDLE.tar.gz', or check the .tar.gz with 'minisign -V -p KEY.pub -m BUNDLE.tar.gz' first and pass --verified" >&2
  exit 3
fi
sha256sum -c --quiet {SUMS_FILE}
"#,
        name = index.name,
        distro = index.distro,
        arch = index.arch,
        ver = index.tool_version,
    );
    if !tool.skip_scripts {
        s.push_str(
            "[ -z \"$NOSCRIPTS\" ] || { echo \"install.sh: dpkg cannot skip maintainer scripts\" >&2; exit 2; }\n",
        );
    }
    s.push_str(&tool.stream_lines(index, false));
    s.push_str("if [ -n \"$VIA_REPO\" ]; then\n");
    s.push_str(&via_repo(tool));
    s.push_str("else\n");
    let max_stage = index.packages.iter().map(|p| p.stage).max().unwrap_or(0);
    for stage in 0..=max_stage {
        let files: Vec<String> =
            index.packages.iter().filter(|p| p.stage == stage).map(|p| format!("{PACKAGES_DIR}/{}", p.file)).collect();
        if !files.is_empty() {
            s.push_str(&format!("{tool_line} {}\n", files.join(" ")));
        }
    }
    s.push_str("fi\n");
    s.push_str(&tool.stream_lines(index, true));
    s
}

/// The `--via-repo` branch of `install.sh`: the paths checked for what a repository URL and a
/// config line can hold, then the family's package manager.
fn via_repo(tool: &FallbackCommand) -> String {
    if tool.via_repo.is_empty() {
        return "echo \"install.sh: this bundle is no repository (built with --no-repo)\" >&2; exit 2\n".into();
    }
    let mut s = String::from(
        r#"for p in "$DIR" ${ROOT:+"$ROOT"}; do
  case "$p" in /*[!A-Za-z0-9/._+-]*|[!/]*) echo "install.sh: --via-repo needs plain absolute paths (letters, digits, /._+-): $p" >&2; exit 2 ;; esac
done
W=$(mktemp -d "${TMPDIR:-/tmp}/moa-bundle-repo.XXXXXX")
trap 'rm -rf "$W"' EXIT
"#,
    );
    s.push_str(&tool.via_repo);
    s
}
