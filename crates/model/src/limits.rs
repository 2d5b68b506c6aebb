//! Bounds on everything moa-bundle reads from outside: manifests, bundles, node profiles and
//! templates. One place, so a reviewer can see at a glance what a crafted input can cost.
//!
//! Each bound is far above what a real input needs (the numbers in the comments are measured on
//! real data) and far below what would hurt a node: a refusal names the bound and the value.

/// A manifest file (the built-in ones are under 3 KiB).
pub const MANIFEST_BYTES: u64 = 1 << 20;
/// Repositories in one manifest, mirrors per repository, suites or components per repository.
pub const REPOSITORIES: usize = 64;
pub const MIRRORS: usize = 32;
/// Keys pinned per repository, and the bytes of one key file (Debian's whole archive keyring: 80 KiB).
pub const KEYS: usize = 16;
pub const KEY_FILE_BYTES: u64 = 1 << 20;
/// A detached signature file (`Release.gpg`, `repomd.xml.asc`).
pub const SIGNATURE_BYTES: u64 = 1 << 20;
pub const SUITES: usize = 32;
/// Requested (and optional, and base-root) packages in one manifest.
pub const REQUESTS: usize = 10_000;

/// `bundle.json` (mariadb-server's 140-package closure with every dependency field: 0.4 MiB).
pub const INDEX_BYTES: u64 = 32 << 20;
/// `SHA256SUMS` (about 100 bytes a line).
pub const SUMS_BYTES: u64 = 4 << 20;
/// Packages in one bundle (a full `--no-base` closure of a desktop is about 2,000).
pub const PACKAGES: usize = 20_000;
/// One package file (the largest deb in bookworm, a firmware bundle, is about 600 MiB).
pub const PACKAGE_BYTES: u64 = 4 << 30;
/// The moa-bundle binary a self-contained bundle carries (the release binary: about 16 MiB).
pub const BINARY_BYTES: u64 = 512 << 20;
/// A bundle member that is not a package: `install.sh`, a role template.
pub const SMALL_MEMBER_BYTES: u64 = 1 << 20;
/// Paths one package file lists (linux-firmware's deb: about 4,000; texlive-full's largest: 90,000).
pub const CONTENT_PATHS: usize = 1_000_000;
/// A package's data archive read to list it, decompressed (the largest bookworm deb: ~1.5 GiB).
pub const DATA_BYTES: u64 = 16 << 30;
/// Entries of one dependency field of one package (glibc's provides: about 300).
pub const DEPS_PER_FIELD: usize = 20_000;
/// Steps of one why-chain.
pub const WHY_STEPS: usize = 1_000;
/// What a bundle may expand to, as a multiple of its compressed size plus a constant: packages
/// are already compressed, so a real bundle is about 1.01×; a gzip bomb is 1000×.
pub const EXPANSION_RATIO: u64 = 4;
pub const EXPANSION_SLACK: u64 = 64 << 20;
/// Zero bytes tolerated after the tar end-of-archive blocks (tar pads to a 10 KiB record).
pub const TAR_PADDING: u64 = 1 << 20;

/// A node profile (a Debian desktop with 2,500 packages and their provides: 2 MiB).
pub const PROFILE_BYTES: u64 = 256 << 20;
/// Packages in one node profile.
pub const PROFILE_PACKAGES: usize = 200_000;

/// A role template, and the minijinja fuel one rendering may burn (the server template burns
/// about 400; a template looping a million times runs out and is refused).
pub const TEMPLATE_BYTES: usize = 64 << 10;
pub const TEMPLATE_FUEL: u64 = 100_000;
/// Upstream servers of the server role, services it stops.
pub const UPSTREAMS: usize = 16;
pub const SERVICES: usize = 16;
/// `tos orphanwait` seconds.
pub const ORPHAN_WAIT_SECS: u32 = 86_400;

/// A package's control file (deb) or header (rpm) read to check its identity.
pub const HEADER_BYTES: u64 = 64 << 20;

/// Fails with `what`, the value and the bound when `n` is above `max`.
pub fn check(what: &str, n: u64, max: u64) -> Result<(), String> {
    if n > max {
        Err(format!("{what} is {n}, above the limit of {max}"))
    } else {
        Ok(())
    }
}
