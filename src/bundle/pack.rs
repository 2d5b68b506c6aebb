//! Writing a bundle: a byte-reproducible `tar.gz` (sorted members, fixed mtime, uid/gid 0, fixed
//! modes, no gzip timestamp), written to a locked temporary file beside the output, synced, then
//! renamed; a `<bundle>.sha256` in `sha256sum` format is written the same way. The two renames
//! happen under a lock on the output directory, so concurrent builds to one path leave a bundle
//! and a sidecar of the same build.

use std::path::{Path, PathBuf};

use super::{BundleIndex, INDEX_FILE, INSTALLER_FILE, PACKAGES_DIR, SUMS_FILE};
use crate::files::{self, DirLock, Partial};
use crate::manifest::Family;
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
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Packed {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
}

enum Body<'a> {
    Bytes(Vec<u8>),
    File(&'a Path),
}

/// Packs the index, the package files (`files[i]` is the file of `index.packages[i]`) and `extra`
/// members (path inside the bundle, content), e.g. the role templates under `roles/`.
pub fn write_bundle(
    index: &BundleIndex,
    files: &[PathBuf],
    extra: &[(String, Vec<u8>)],
    stem: &str,
    output: &Path,
) -> Result<Packed, PackError> {
    let werr = |source| PackError::Write { path: output.to_path_buf(), source };
    let dir = files::parent_dir(output);
    fs_err::create_dir_all(&dir).map_err(werr)?;
    files::sweep_partials(&dir);

    // Members and their digests first: SHA256SUMS covers every other file.
    let index_json = {
        let mut v = serde_json::to_vec_pretty(index).expect("the index serializes");
        v.push(b'\n');
        v
    };
    let installer = install_script(index).into_bytes();
    let mut members: Vec<(String, Body<'_>, u32)> = vec![
        (INDEX_FILE.to_string(), Body::Bytes(index_json), 0o644),
        (INSTALLER_FILE.to_string(), Body::Bytes(installer), 0o755),
    ];
    for (p, f) in index.packages.iter().zip(files) {
        members.push((format!("{PACKAGES_DIR}/{}", p.file), Body::File(f), 0o644));
    }
    for (path, bytes) in extra {
        members.push((path.clone(), Body::Bytes(bytes.clone()), 0o644));
    }
    let mut sums: Vec<(String, String)> = Vec::new();
    for (path, body, _) in &members {
        let digest = match body {
            Body::Bytes(b) => Sha256::digest(b),
            Body::File(_) => {
                let p = index.packages.iter().find(|p| format!("{PACKAGES_DIR}/{}", p.file) == *path);
                p.map(|p| p.sha256).expect("every package member has an index entry")
            }
        };
        sums.push((path.clone(), digest.to_hex()));
    }
    sums.sort();
    let sums_text: String = sums.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    members.push((SUMS_FILE.to_string(), Body::Bytes(sums_text.into_bytes()), 0o644));
    members.sort_by(|a, b| a.0.cmp(&b.0));

    let mut partial = Partial::new_in(&dir).map_err(werr)?;
    let file = partial.file_mut().try_clone().map_err(werr)?;
    let hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let gz = flate2::GzBuilder::new().mtime(0).write(hashing, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mtime = index.source_date_epoch;
    let dir_entry = |tar: &mut tar::Builder<_>, path: &str| -> std::io::Result<()> {
        let mut h = header(tar::EntryType::Directory, 0o755, mtime, 0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    dir_entry(&mut tar, &format!("{stem}/")).map_err(werr)?;
    let mut dirs_written = std::collections::BTreeSet::new();
    for (path, body, mode) in &members {
        // Each directory once, before its first member (members are sorted by path).
        for (i, _) in path.match_indices('/') {
            if dirs_written.insert(path[..i].to_string()) {
                dir_entry(&mut tar, &format!("{stem}/{}/", &path[..i])).map_err(werr)?;
            }
        }
        let full = format!("{stem}/{path}");
        match body {
            Body::Bytes(b) => {
                let mut h = header(tar::EntryType::Regular, *mode, mtime, b.len() as u64);
                tar.append_data(&mut h, &full, &b[..]).map_err(werr)?;
            }
            Body::File(f) => {
                let rerr = |source| PackError::Read { path: f.to_path_buf(), source };
                let file = fs_err::File::open(f).map_err(rerr)?;
                let len = file.metadata().map_err(rerr)?.len();
                let mut h = header(tar::EntryType::Regular, *mode, mtime, len);
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

/// `<bundle>.sha256`.
pub fn sidecar_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

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
fn install_script(index: &BundleIndex) -> String {
    let (force, tool_line) = match index.family {
        Family::Rpm => (
            "--force --nodeps",
            r#"rpm ${ROOT:+--root "$ROOT"} --dbpath /var/lib/rpm -Uvh --replacepkgs $FORCE $NOSCRIPTS"#,
        ),
        Family::Deb => ("--force-depends", r#"dpkg ${ROOT:+--root="$ROOT" --log="$ROOT/var/log/dpkg.log"} $FORCE -i"#),
    };
    let mut s = format!(
        r#"#!/bin/sh
# Fallback installer for {name} ({distro}, {arch}), written by moa-bundle {ver}.
# Prefer `moa-bundle install BUNDLE`: it also checks the node's os-release, skips installed
# packages and reports missing dependencies before it changes anything.
# Usage: sh install.sh [--force] [--root DIR] [--noscripts]
#   --force       {force}: install despite missing dependencies
#   --root DIR    install into DIR instead of /
#   --noscripts   rpm only: run no package scripts
set -eu
cd "$(dirname "$0")"
FORCE="" ROOT="" NOSCRIPTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE="{force}" ;;
    --root) ROOT="${{2:?--root needs a directory}}"; shift ;;
    --noscripts) NOSCRIPTS="--noscripts" ;;
    *) echo "install.sh: unknown option $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
sha256sum -c --quiet {SUMS_FILE}
"#,
        name = index.name,
        distro = index.distro,
        arch = index.arch,
        ver = index.tool_version,
    );
    if index.family == Family::Deb {
        s.push_str(
            "[ -z \"$NOSCRIPTS\" ] || { echo \"install.sh: dpkg cannot skip maintainer scripts\" >&2; exit 2; }\n",
        );
    }
    let max_stage = index.packages.iter().map(|p| p.stage).max().unwrap_or(0);
    for stage in 0..=max_stage {
        let files: Vec<String> =
            index.packages.iter().filter(|p| p.stage == stage).map(|p| format!("{PACKAGES_DIR}/{}", p.file)).collect();
        if !files.is_empty() {
            s.push_str(&format!("{tool_line} {}\n", files.join(" ")));
        }
    }
    s
}
