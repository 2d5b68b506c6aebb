//! Package tools on another root (`--root`), run the way the distro runs them there.
//!
//! A root with its own package tool (every real node, every debootstrap root) gets that tool,
//! chrooted: `chroot ROOT dpkg -i …`. It then resolves users and groups (dpkg's statoverride
//! file: `crontab`, `_chrony`) in the root's own `/etc/passwd` and `/etc/group`, writes its
//! own database format, and runs the root's maintainer scripts with the root's interpreters.
//! `dpkg --root` from this machine instead resolved the root's statoverride groups against this
//! machine's group database and died half-way on any root with cron. The files it installs are
//! copied into a private directory inside the root first ([`Staging`]), removed afterwards.
//!
//! A root without its own tool (a busybox test root) keeps this machine's tool with `--root`.
//!
//! Either way, while packages are installed into a root other than `/`, a `policy-rc.d` that
//! refuses every service start is in place ([`NoDaemons`]): a daemon started from a chroot would
//! run on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{root_is_host, tool_command, InstallError};
use moa_model::files::{resolve_in_root, Registered};

/// Where, inside a root, staged files go (removed after each run).
const STAGING_PARENT: &str = "var/cache/moa-bundle";
const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";

/// How a package tool reaches the node's root.
#[derive(Debug, Clone)]
pub(crate) enum Reach {
    /// The root is this machine.
    Host,
    /// The root's own tool, chrooted into it.
    Chroot(PathBuf),
    /// This machine's tool with `--root` (the root has no tool of its own).
    RootFlag(PathBuf),
}

impl Reach {
    /// How to reach `root` with `program` (`usr/bin/dpkg`, relative to the root).
    pub(crate) fn of(root: &Path, program: &str) -> Reach {
        if root_is_host(root) {
            return Reach::Host;
        }
        let own = resolve_in_root(root, Path::new(program), true).is_ok_and(|p| p.is_file());
        match own {
            true => Reach::Chroot(root.to_path_buf()),
            false => Reach::RootFlag(root.to_path_buf()),
        }
    }

    /// `program` with the clean environment, chrooted when the root has its own.
    pub(crate) fn command(&self, program: &str) -> Command {
        match self {
            Reach::Chroot(root) => {
                let mut c = tool_command("chroot");
                c.arg(root).arg(program);
                c
            }
            Reach::Host | Reach::RootFlag(_) => tool_command(program),
        }
    }
}

/// A private directory inside a root that holds copies of the files a chrooted tool installs.
pub(crate) struct Staging {
    dir: tempfile::TempDir,
    root: PathBuf,
    _registered: Registered,
}

impl Staging {
    pub(crate) fn new(root: &Path) -> Result<Staging, InstallError> {
        let parent = resolve_in_root(root, Path::new(STAGING_PARENT), true)
            .map_err(|e| InstallError::Work { path: root.join(STAGING_PARENT), source: e })?;
        let werr = |source| InstallError::Work { path: parent.clone(), source };
        fs_err::create_dir_all(&parent).map_err(werr)?;
        let dir = tempfile::Builder::new().prefix("install-").tempdir_in(&parent).map_err(werr)?;
        let registered = Registered::new(dir.path());
        Ok(Staging { dir, root: root.to_path_buf(), _registered: registered })
    }

    /// The staging directory as the chrooted tool sees it.
    pub(crate) fn inside(&self) -> PathBuf {
        Path::new("/").join(self.dir.path().strip_prefix(&self.root).unwrap_or(self.dir.path()))
    }

    /// This machine's path of the staging directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `files` in; their paths as the chrooted tool sees them, in the same order.
    pub(crate) fn copy_in(&self, files: &[PathBuf]) -> Result<Vec<PathBuf>, InstallError> {
        files
            .iter()
            .map(|f| {
                let name = f.file_name().unwrap_or_default();
                let to = self.dir.path().join(name);
                fs_err::copy(f, &to).map_err(|source| InstallError::Work { path: to.clone(), source })?;
                Ok(self.inside().join(name))
            })
            .collect()
    }
}

/// A `policy-rc.d` that refuses every service action, in place while it lives, in a root other
/// than `/` that has none of its own.
pub(crate) struct NoDaemons {
    written: Option<(PathBuf, Registered)>,
}

impl NoDaemons {
    pub(crate) fn new(root: &Path) -> Result<NoDaemons, InstallError> {
        if root_is_host(root) {
            return Ok(NoDaemons { written: None });
        }
        let path = resolve_in_root(root, Path::new(POLICY_RC_D), false)
            .map_err(|e| InstallError::Work { path: root.join(POLICY_RC_D), source: e })?;
        let parent_missing = path.parent().is_none_or(|p| !p.is_dir());
        if path.symlink_metadata().is_ok() || parent_missing {
            return Ok(NoDaemons { written: None });
        }
        let werr = |source| InstallError::Work { path: path.clone(), source };
        moa_model::files::write_atomic(
            &path,
            b"#!/bin/sh\n# moa-bundle: no service starts while packages are installed into this root\nexit 101\n",
            0o755,
        )
        .map_err(werr)?;
        let registered = Registered::new(&path);
        Ok(NoDaemons { written: Some((path, registered)) })
    }
}

impl Drop for NoDaemons {
    fn drop(&mut self) {
        if let Some((path, _)) = &self.written {
            let _ = fs_err::remove_file(path);
        }
    }
}
