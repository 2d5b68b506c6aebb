//! File mechanics every stage shares: reads with a size bound, writes through a temporary file
//! (synced, then renamed), advisory locks, and the cleanup of what an interrupted run leaves.
//!
//! A [`Partial`] is a temporary file that holds an exclusive `flock` for as long as its writer
//! lives and is registered for removal when the process gets SIGINT or SIGTERM
//! ([`cleanup_registered`], called by `main`'s signal thread). A `kill -9` cannot be caught, so
//! the next run sweeps ([`sweep_partials`]): a partial that nobody holds locked and that has not
//! changed for [`STALE_AFTER`] is left over from a dead run and removed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The name prefix of every temporary file or directory moa-bundle makes.
pub const PREFIX: &str = ".moa-bundle-";
/// The suffix of a temporary file that becomes a final file by rename.
pub const PARTIAL_SUFFIX: &str = ".partial";
/// A leftover untouched for this long, and unlocked, belongs to no running process.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// Opens `path` for reading only when it is a regular file, checked on the open descriptor: a
/// FIFO, a device (a link to `/dev/zero`) or a directory is refused at once instead of blocking
/// the open or being read without end. The open itself does not block (`O_NONBLOCK`, cleared
/// again for the regular file). Also returns the file's length when it was opened.
pub fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    use rustix::fs::OFlags;
    let flags = (OFlags::NONBLOCK | OFlags::NOCTTY).bits();
    let file = fs_err::OpenOptions::new().read(true).custom_flags(flags as i32).open(path)?.into_file();
    let meta = file.metadata()?;
    if !meta.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let kind = match () {
            _ if t.is_dir() => "a directory",
            _ if t.is_fifo() => "a FIFO",
            _ if t.is_char_device() || t.is_block_device() => "a device",
            _ if t.is_socket() => "a socket",
            _ => "not a plain file",
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is {kind}, not a regular file: give the file itself", path.display()),
        ));
    }
    rustix::fs::fcntl_setfl(&file, OFlags::empty())?;
    Ok((file, meta.len()))
}

/// Reads a whole regular file ([`open_regular`]) if it has at most `max` bytes; `None` if it
/// is larger (only `max + 1` bytes are ever read, whatever the file claims).
pub fn read_at_most(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let (f, _) = open_regular(path)?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{e}: {}", path.display())))?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// Paths to remove if the process is interrupted, by registration id.
static REGISTERED: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Keeps a path registered for removal on SIGINT/SIGTERM until dropped.
#[derive(Debug)]
pub struct Registered(u64);

impl Registered {
    pub fn new(path: &Path) -> Self {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).push((id, path.to_path_buf()));
        Self(id)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.0);
    }
}

/// Removes every registered temporary file and directory; `main` calls it when a signal
/// arrives, just before the process exits.
pub fn cleanup_registered() {
    remove_all(&registered_paths());
}

/// What is registered now.
pub fn registered_paths() -> Vec<PathBuf> {
    REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, p)| p.clone()).collect()
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        if p.is_dir() {
            let _ = fs_err::remove_dir_all(p);
        } else {
            let _ = fs_err::remove_file(p);
        }
    }
}

/// A temporary file beside its destination (`.moa-bundle-XXXXXX.partial`), locked while it is
/// written and registered for cleanup; [`Partial::persist`] syncs it and renames it into place.
pub struct Partial {
    file: tempfile::NamedTempFile,
    _registered: Registered,
}

impl Partial {
    pub fn new_in(dir: &Path) -> std::io::Result<Self> {
        let file = tempfile::Builder::new().prefix(PREFIX).suffix(PARTIAL_SUFFIX).tempfile_in(dir)?;
        file.as_file().try_lock().map_err(std::io::Error::other)?;
        let registered = Registered::new(file.path());
        Ok(Self { file, _registered: registered })
    }
    pub fn file(&self) -> &std::fs::File {
        self.file.as_file()
    }
    pub fn file_mut(&mut self) -> &mut std::fs::File {
        self.file.as_file_mut()
    }
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    /// Sets `mode`, syncs and renames over `dest` (which then holds all of it or none).
    pub fn persist(self, dest: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.file.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.file.as_file().sync_all()?;
        self.file.persist(dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `<file>.sha256`: the `sha256sum`-format sidecar of a bundle.
pub fn sidecar_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The directory a path's file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes a small file whole or not at all: a [`Partial`] beside it, synced, renamed, `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let mut p = Partial::new_in(&parent_dir(path))?;
    p.file_mut().write_all(data)?;
    p.persist(path, mode)
}

/// Whether a leftover at `path` is stale: nobody holds it locked and it has not changed for
/// [`STALE_AFTER`].
fn is_stale(path: &Path, lock_file: &Path) -> bool {
    unchanged_for_long(path) && fs_err::File::open(lock_file).is_ok_and(|f| f.file().try_lock().is_ok())
}

/// Whether `path` has not changed for [`STALE_AFTER`].
fn unchanged_for_long(path: &Path) -> bool {
    path.symlink_metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= STALE_AFTER)
}

/// Removes the stale [`Partial`]s in `dir` that interrupted runs left; returns how many.
pub fn sweep_partials(dir: &Path) -> usize {
    let Ok(entries) = fs_err::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let is_partial = name.starts_with(PREFIX) && name.ends_with(PARTIAL_SUFFIX);
        let path = e.path();
        if is_partial
            && e.file_type().is_ok_and(|t| t.is_file())
            && is_stale(&path, &path)
            && fs_err::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The lock file inside a [`WorkDir`].
const DIR_LOCK: &str = ".lock";

/// A private temporary directory (`moa-bundle-XXXXXX` in the system temp directory) that holds a
/// lock while it lives, registered for cleanup, removed on drop.
pub struct WorkDir {
    dir: tempfile::TempDir,
    _lock: std::fs::File,
    _registered: Registered,
}

impl WorkDir {
    pub fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        sweep_workdirs(&base);
        let dir = tempfile::Builder::new().prefix(&PREFIX[1..]).tempdir_in(&base)?;
        let lock = fs_err::File::create(dir.path().join(DIR_LOCK))?.into_parts().0;
        lock.try_lock().map_err(std::io::Error::other)?;
        let registered = Registered::new(dir.path());
        Ok(Self { dir, _lock: lock, _registered: registered })
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes stale work directories that interrupted runs left in `base`; returns how many.
pub fn sweep_workdirs(base: &Path) -> usize {
    let Ok(entries) = fs_err::read_dir(base) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(&PREFIX[1..]) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let (path, lock) = (e.path(), e.path().join(DIR_LOCK));
        // A run killed between making its directory and its lock left no lock: the
        // directory's own age says it is stale (a live run makes its lock at once).
        let stale = match lock.symlink_metadata() {
            Ok(_) => is_stale(&lock, &lock),
            Err(_) => unchanged_for_long(&path),
        };
        if stale && fs_err::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Resolves `rel` (relative to `root`, e.g. `etc/ntp.conf`) as a process chrooted into `root`
/// would: symbolic links are followed with absolute targets taken from `root`, and a `..` (in
/// `rel` or in a link) that would climb above `root` is an error, as is a loop. With
/// `follow_last` false the last component is not followed: it is what a writer replaces.
/// Missing components are fine (the result names where the file would be).
pub fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool) -> std::io::Result<PathBuf> {
    use std::path::Component;
    let leaves = || std::io::Error::other(format!("{} leaves {}", rel.display(), root.display()));
    let push_parts = |stack: &mut Vec<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => stack.push(n.to_os_string()),
                Component::ParentDir => stack.push("..".into()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
    };
    let mut stack = Vec::new();
    push_parts(&mut stack, rel);
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(c) = stack.pop() {
        if c == ".." {
            if !cur.pop() {
                return Err(leaves());
            }
            continue;
        }
        let candidate = root.join(&cur).join(&c);
        let last = stack.is_empty();
        let is_link = candidate.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
        if is_link && (follow_last || !last) {
            links += 1;
            if links > 40 {
                return Err(std::io::Error::other(format!("{}: too many levels of symbolic links", rel.display())));
            }
            let target = fs_err::read_link(&candidate)?;
            if target.is_absolute() {
                cur.clear();
            }
            push_parts(&mut stack, &target);
        } else {
            cur.push(&c);
        }
    }
    Ok(root.join(cur))
}

/// An exclusive advisory lock on a directory (no file is created), released on drop.
pub struct DirLock(#[allow(dead_code)] std::fs::File);

impl DirLock {
    /// Waits for the lock.
    pub fn wait(dir: &Path) -> std::io::Result<Self> {
        let f = fs_err::File::open(dir)?.into_parts().0;
        f.lock()?;
        Ok(Self(f))
    }
    /// Takes the lock if nobody holds it; `None` if somebody does.
    pub fn try_take(dir: &Path) -> std::io::Result<Option<Self>> {
        let f = fs_err::File::open(dir)?.into_parts().0;
        match f.try_lock() {
            Ok(()) => Ok(Some(Self(f))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_at_most_never_reads_past_the_bound() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs_err::write(&p, b"12345").unwrap();
        assert_eq!(read_at_most(&p, 5).unwrap().as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_at_most(&p, 4).unwrap(), None);
    }

    #[test]
    fn a_locked_partial_survives_a_sweep_and_a_stale_one_does_not() {
        let d = tempfile::tempdir().unwrap();
        let live = Partial::new_in(d.path()).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        let set_old =
            |p: &Path| fs_err::OpenOptions::new().write(true).open(p).unwrap().file().set_modified(old).unwrap();
        set_old(live.path());
        // A leftover of a killed run: same name shape, nobody holds it.
        let dead = d.path().join(format!("{PREFIX}dead{PARTIAL_SUFFIX}"));
        fs_err::write(&dead, b"half a bundle").unwrap();
        set_old(&dead);
        // A fresh unlocked one may be a run that has not taken its lock yet: kept.
        let fresh = d.path().join(format!("{PREFIX}fresh{PARTIAL_SUFFIX}"));
        fs_err::write(&fresh, b"x").unwrap();
        assert_eq!(sweep_partials(d.path()), 1);
        assert!(live.path().exists() && !dead.exists() && fresh.exists());
        let dest = d.path().join("final");
        live.persist(&dest, 0o644).unwrap();
        assert!(dest.exists());
    }

    #[test]
    fn a_work_directory_left_without_its_lock_is_swept_once_it_is_old() {
        let d = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        let (dead, fresh) = (d.path().join("moa-bundle-dead"), d.path().join("moa-bundle-fresh"));
        for dir in [&dead, &fresh] {
            fs_err::create_dir(dir).unwrap();
            fs_err::write(dir.join("payload"), b"x").unwrap();
        }
        fs_err::File::open(&dead).unwrap().file().set_modified(old).unwrap();
        assert_eq!(sweep_workdirs(d.path()), 1);
        assert!(!dead.exists() && fresh.exists());
    }

    #[test]
    fn paths_resolve_inside_the_root_as_a_chroot_would() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs_err::create_dir_all(r.join("usr/share/zoneinfo/Asia")).unwrap();
        fs_err::create_dir_all(r.join("real-etc")).unwrap();
        fs_err::os::unix::fs::symlink("/real-etc", r.join("etc")).unwrap();
        fs_err::os::unix::fs::symlink("../usr/share/zoneinfo/Asia/Shanghai", r.join("real-etc/localtime")).unwrap();
        fs_err::os::unix::fs::symlink("../../../..", r.join("real-etc/up")).unwrap();
        fs_err::os::unix::fs::symlink("loop", r.join("real-etc/loop")).unwrap();
        // An absolute link is taken from the root, not from this machine.
        assert_eq!(resolve_in_root(r, Path::new("etc/ntp.conf"), false).unwrap(), r.join("real-etc/ntp.conf"));
        assert_eq!(resolve_in_root(r, Path::new("etc/localtime"), false).unwrap(), r.join("real-etc/localtime"));
        assert_eq!(
            resolve_in_root(r, Path::new("etc/localtime"), true).unwrap(),
            r.join("usr/share/zoneinfo/Asia/Shanghai")
        );
        for bad in ["etc/up/x", "../etc/passwd", "etc/../../x", "etc/loop/x"] {
            assert!(resolve_in_root(r, Path::new(bad), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_directory_lock_is_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let held = DirLock::try_take(d.path()).unwrap();
        assert!(held.is_some());
        assert!(DirLock::try_take(d.path()).unwrap().is_none());
        drop(held);
        assert!(DirLock::try_take(d.path()).unwrap().is_some());
    }

    #[test]
    fn registered_paths_are_listed_until_dropped_and_removed_files_and_trees() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs_err::write(&a, b"").unwrap();
        fs_err::create_dir_all(b.join("x")).unwrap();
        let ra = Registered::new(&a);
        let rb = Registered::new(&b);
        drop(rb);
        // Other tests register their own paths concurrently: look only at these two.
        let now = registered_paths();
        assert!(now.contains(&a) && !now.contains(&b));
        drop(ra);
        remove_all(&[a.clone(), b.clone()]);
        assert!(!a.exists() && !b.exists());
    }
}
