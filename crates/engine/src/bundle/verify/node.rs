//! Does a bundle fit the node under a root? Its `/etc/os-release` (read with a bound, symbolic
//! links resolved inside the root) and its architecture, read from the root's own executables
//! rather than from the machine moa-bundle runs on, so `--root` judges the root.

use std::io::Read;
use std::path::Path;

use super::VerifyError;
use crate::bundle::BundleIndex;
use moa_model::arch::ArchModel;
use moa_model::files::resolve_in_root;
use moa_model::types::shown;

/// `ID` and `VERSION_ID` of `<root>/etc/os-release` (falling back to `usr/lib/os-release`).
pub fn node_os_release(root: &Path) -> Result<(String, String), VerifyError> {
    let text = os_release_text(root)?;
    Ok((os_release_field(&text, "ID"), os_release_field(&text, "VERSION_ID")))
}

/// The node's `PLATFORM_ID` (EL8+: `platform:el9`) without its prefix, when it has one.
pub(crate) fn node_platform(root: &Path) -> Option<String> {
    let text = os_release_text(root).ok()?;
    let id = os_release_field(&text, "PLATFORM_ID");
    id.strip_prefix("platform:").map(str::to_string)
}

fn os_release_field(text: &str, k: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{k}=")))
        .map(|v| shown(v.trim().trim_matches('"').trim_matches('\'')))
        .unwrap_or_default()
}

/// `etc/os-release` (or `usr/lib/os-release`) under `root`, within 64 KiB.
fn os_release_text(root: &Path) -> Result<String, VerifyError> {
    let read = |rel: &str| -> std::io::Result<String> {
        let path = resolve_in_root(root, Path::new(rel), true)?;
        let bytes = moa_model::files::read_at_most(&path, 64 * 1024)?
            .ok_or_else(|| std::io::Error::other("larger than 64 KiB: not an os-release file"))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let primary = root.join("etc/os-release");
    match read("etc/os-release") {
        Ok(t) => Ok(t),
        Err(source) => read("usr/lib/os-release").map_err(|_| VerifyError::OsRelease { path: primary.clone(), source }),
    }
}

/// The architecture of an ELF file's machine, as rpm names it.
pub(crate) fn elf_arch(path: &Path) -> Option<&'static str> {
    let mut h = [0u8; 20];
    moa_model::files::open_regular(path).ok()?.0.read_exact(&mut h).ok()?;
    if h[..4] != *b"\x7fELF" {
        return None;
    }
    let little = h[5] == 1;
    let machine = if little { u16::from_le_bytes([h[18], h[19]]) } else { u16::from_be_bytes([h[18], h[19]]) };
    Some(match (machine, h[4], little) {
        (62, 2, _) => "x86_64",
        (183, 2, _) => "aarch64",
        (3, 1, _) => "i686",
        (40, 1, _) => "armv7hl",
        (21, 2, true) => "ppc64le",
        (22, 2, _) => "s390x",
        (243, 2, _) => "riscv64",
        _ => return None,
    })
}

/// The node's architecture as the family names it: from the root's own executables
/// (`bin/sh`, `usr/bin/env`…), else — for a root with none, such as an empty test root — from
/// this machine.
pub(crate) fn node_arch(root: &Path, arch: &dyn ArchModel) -> String {
    let from_root = ["bin/sh", "usr/bin/sh", "usr/bin/env", "bin/ls", "usr/bin/ls"]
        .iter()
        .filter_map(|rel| resolve_in_root(root, Path::new(rel), true).ok())
        .find_map(|p| elf_arch(&p));
    arch.name_of_machine(from_root.unwrap_or(std::env::consts::ARCH))
}

/// Whether a node's VERSION_ID is of the release a bundle is for: the same, or a minor release of
/// it (a bundle for Rocky "9" serves "9.5", as the EL major release is the ABI). A bundle for
/// "16.04" needs exactly "16.04": "16.04.1" is not a VERSION_ID Ubuntu writes.
pub fn same_release(bundle: &str, node: &str) -> bool {
    node == bundle || node.strip_prefix(bundle).is_some_and(|rest| rest.starts_with('.') && !bundle.contains('.'))
}

/// Refuses a bundle built for another distro release or architecture than the node under `root`.
pub fn check_node(bundle: &Path, index: &BundleIndex, root: &Path, model: &dyn ArchModel) -> Result<(), VerifyError> {
    let (id, version_id) = node_os_release(root)?;
    let arch = node_arch(root, model);
    let arch_ok = model.installs_on(index.arch.as_str(), &arch);
    if id != index.os_release.id.as_str()
        || !same_release(index.os_release.version_id.as_str(), &version_id)
        || !arch_ok
    {
        return Err(VerifyError::WrongNode {
            path: bundle.to_path_buf(),
            bundle_os: format!("{} {}", index.os_release.id, index.os_release.version_id),
            bundle_arch: index.arch.to_string(),
            node_os: describe_os(&id, &version_id),
            node_arch: arch,
        });
    }
    Ok(())
}

/// The node's release in words, also where its os-release is empty.
fn describe_os(id: &str, version_id: &str) -> String {
    match (id.is_empty(), version_id.is_empty()) {
        (true, _) => "a system whose os-release names no ID".to_string(),
        (false, true) => format!("{id} (its os-release names no VERSION_ID)"),
        (false, false) => format!("{id} {version_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_os_release_is_named_as_such() {
        assert_eq!(describe_os("", ""), "a system whose os-release names no ID");
        assert_eq!(describe_os("debian", ""), "debian (its os-release names no VERSION_ID)");
        assert_eq!(describe_os("debian", "12"), "debian 12");
    }

    #[test]
    fn a_major_release_bundle_serves_its_minor_releases_only() {
        assert!(same_release("9", "9") && same_release("9", "9.5") && same_release("7", "7"));
        assert!(!same_release("9", "90") && !same_release("9", "8.10") && !same_release("9.5", "9"));
        assert!(same_release("16.04", "16.04") && !same_release("16.04", "16.04.1"));
    }

    #[test]
    fn the_arch_comes_from_the_roots_executables() {
        let d = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(d.path().join("usr/bin")).unwrap();
        // An aarch64 ELF header: class 64, little-endian, e_machine 183.
        let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0];
        elf.extend_from_slice(&183u16.to_le_bytes());
        fs_err::write(d.path().join("usr/bin/dash"), &elf).unwrap();
        fs_err::create_dir_all(d.path().join("bin")).unwrap();
        // An absolute link is followed inside the root, not on this machine.
        fs_err::os::unix::fs::symlink("/usr/bin/dash", d.path().join("bin/sh")).unwrap();
        assert_eq!(node_arch(d.path(), &moa_model::arch::DebArch), "arm64");
        assert_eq!(node_arch(d.path(), &moa_model::arch::RpmArch), "aarch64");
    }

    #[test]
    fn os_release_values_cannot_forge_lines() {
        let d = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(d.path().join("etc")).unwrap();
        fs_err::write(d.path().join("etc/os-release"), "ID=\"deb\\nian\"\nVERSION_ID=\"12\x1b[31m\"\n").unwrap();
        let (id, v) = node_os_release(d.path()).unwrap();
        assert!(!id.contains('\n') && !v.contains('\x1b'), "{id:?} {v:?}");
    }

    #[test]
    fn the_platform_comes_from_platform_id() {
        let d = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(d.path().join("etc")).unwrap();
        fs_err::write(
            d.path().join("etc/os-release"),
            "ID=\"rocky\"\nVERSION_ID=\"9.5\"\nPLATFORM_ID=\"platform:el9\"\n",
        )
        .unwrap();
        assert_eq!(node_platform(d.path()).as_deref(), Some("el9"));
        fs_err::write(d.path().join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        assert_eq!(node_platform(d.path()), None);
    }
}
