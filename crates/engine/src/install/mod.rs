//! Installing a verified bundle on the node with the node's own package tool, behind
//! [`Installer`]: `rpm` (one `rpm -U` transaction) and `dpkg` (`dpkg -i` per Pre-Depends
//! stage). Packages already installed at the same version and arch are skipped; a preflight finds
//! dependencies the node lacks before anything is changed.

pub(crate) mod dpkg;
pub(crate) mod inroot;
mod problem;
pub(crate) mod rpm;

pub(crate) use problem::{MissingExpected, Problem};

use moa_model::version::Version;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::bundle::{BundleIndex, BundlePackage};
use moa_model::deps::DepSyntax;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("--no-scripts is not available for {family} bundles: {tool} cannot skip maintainer scripts. Use --root with a throwaway root that can run them instead")]
    NoScripts { family: moa_model::manifest::Family, tool: &'static str },
    #[error("another moa-bundle install or configure is running on {}: wait for it to finish, then run this again", root.display())]
    Busy { root: PathBuf },
    #[error("could not lock {} for the install", root.display())]
    Lock {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not run `{command}`: is {tool} installed on this node?")]
    Spawn {
        command: String,
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed { command: String, status: String, output: String },
    #[error("the node lacks what these packages need:\n{}\nThe bundle was built for another base than this node has. Build one for this node: `moa-bundle probe -o node.json` here, then `moa-bundle build … --target node.json` on the build machine (it packs exactly what this node lacks). Or install the missing packages first, or pass --force to install anyway ({force_means})", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Preflight { problems: Vec<Problem>, force_means: String },
    #[error("could not read the package database {}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("this bundle holds only what changed since {base}, and the node lacks what that one installs:\n{}\nInstall {base} (or a later bundle of the same manifest) first, or use a full bundle (built without --since)", .missing.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    MissingBase { base: String, missing: Vec<MissingExpected> },
    #[error("could not list what {} installs", file.display())]
    Contents {
        file: PathBuf,
        #[source]
        source: crate::pkgfile::PackageFileError,
    },
    #[error("{} has {} MiB free, and these packages need {} MiB (their files, their copies while they are installed, and room for their scripts): nothing was changed. Free space there (apt-get clean, old logs), or grow the filesystem, then run this again", root.display(), free >> 20, need >> 20)]
    NoSpace { root: PathBuf, free: u64, need: u64 },
    #[error("{source}\n{} had been removed to make way for the bundle's packages, which did not all install. Fix the cause above and run this install again (it carries on where it stopped); to have the old one back meanwhile, reinstall {} from the node's usual repository", .removed.join(", "), .removed.join(" "))]
    AfterRemoval {
        removed: Vec<String>,
        #[source]
        source: Box<InstallError>,
    },
    #[error("installing needs root: run as root (sudo moa-bundle install …), or use --dry-run to see the plan")]
    NotRoot,
    #[error("{tool}'s database is locked by another program (apt, yum, dnf, another {tool}): wait for it to finish, then run this again.\n{output}")]
    Locked { tool: String, output: String },
    #[error("the bundle's packages come from module stream {module}:{bundle}, but the node's dnf has {module}:{node} enabled: build the bundle for this node (`probe` it and pass --target), or switch the node first (dnf module reset {module})")]
    StreamClash { module: String, bundle: String, node: String },
    #[error("{what} `{}` cannot go into a package manager's configuration as it is (a repository URL, a config line): use a path of letters, digits and `/._+-` only{hint}", path.display())]
    UnplainPath { what: &'static str, path: PathBuf, hint: &'static str },
    #[error("could not write {}", path.display())]
    Work {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not enable module stream {stream} in {}", path.display())]
    EnableStream {
        stream: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The root the package tool works on (`/` for the node itself).
    pub root: PathBuf,
    /// The seed's force semantics: `rpm --force --nodeps` / `dpkg --force-depends`.
    pub force: bool,
    /// Run no package scripts (`rpm --noscripts`); dpkg has no such mode and refuses it.
    pub no_scripts: bool,
}

pub(crate) use crate::repo::Installed;

/// What the packages an install adds bring.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incoming {
    /// Every path, sorted, deduplicated.
    pub paths: Vec<String>,
    /// What their files take on disk.
    pub bytes: u64,
    /// The package files themselves (a chrooted tool gets copies inside the root).
    pub files: u64,
}

/// Room kept free beyond what the packages say they take: maintainer scripts, byte-compiled
/// Python, dpkg's own database and backups (python3's postinst alone writes ~10 MiB of .pyc).
const SPACE_MARGIN: u64 = 64 << 20;

/// Refuses, before anything changes, a root whose filesystem has less room than the packages
/// take, their copies and `SPACE_MARGIN`: a package tool that runs out of space half-way
/// leaves packages unpacked and unconfigured.
pub(crate) fn check_space(root: &Path, incoming: &Incoming) -> Result<(), InstallError> {
    if incoming.bytes == 0 && incoming.files == 0 {
        return Ok(());
    }
    let Ok(st) = rustix::fs::statvfs(root) else { return Ok(()) };
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    let need = incoming.bytes + incoming.files + SPACE_MARGIN;
    if free < need {
        return Err(InstallError::NoSpace { root: root.to_path_buf(), free, need });
    }
    Ok(())
}

/// A node package that installing a bundled one removes.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    pub name: String,
    pub version: String,
    /// The bundled package that conflicts with it.
    pub by: String,
}

/// One package tool.
pub trait Installer: Sync {
    /// `rpm` or `dpkg`.
    fn tool(&self) -> &'static str;
    /// What `--force` gives up, in words.
    fn force_means(&self) -> &'static str;
    fn installed(&self, opts: &InstallOptions) -> Result<Vec<Installed>, InstallError>;
    /// Every installed package with its provides (and, for rpm, the files requirements can
    /// name): the node profile `probe` writes.
    fn inventory(&self, root: &Path) -> Result<Vec<Installed>, InstallError>;
    /// Dependencies the node would lack after installing `todo`; empty when all is well.
    fn preflight(
        &self,
        todo: &[(&BundlePackage, PathBuf)],
        installed: &[Installed],
        opts: &InstallOptions,
    ) -> Result<Vec<Problem>, InstallError>;
    /// Installs the files, stage by stage (a stage's pre-dependencies are in earlier stages), in
    /// as few transactions as the tool needs; the tool's output of each.
    fn install(&self, stages: &[Vec<PathBuf>], opts: &InstallOptions) -> Result<Vec<String>, InstallError>;
    /// Whether [`Installer::install`] itself refuses missing dependencies — of every stage —
    /// before it changes anything, with [`InstallError::Preflight`] (rpm's one transaction
    /// does). Then the separate preflight is only run where it must say more: for `--dry-run`
    /// and `--force`.
    fn install_checks_dependencies(&self) -> bool {
        false
    }
    /// Node packages to remove before installing `todo` because a bundled package conflicts
    /// with them (deb, as apt removes them; not an Essential one). rpm removes what a package
    /// obsoletes in its own transaction, so only dpkg has any.
    fn removals(&self, _todo: &[(&BundlePackage, PathBuf)], _installed: &[Installed]) -> Vec<Removal> {
        Vec::new()
    }
    /// Removes packages (their configuration files stay, as `apt-get remove` leaves them).
    fn remove(&self, _names: &[String], _opts: &InstallOptions) -> Result<String, InstallError> {
        Ok(String::new())
    }
    /// Undo: takes away packages an entry installed, with their configuration files (`dpkg
    /// --purge`, `rpm -e`); `packages` are (name, arch).
    fn purge(&self, packages: &[(String, String)], opts: &InstallOptions) -> Result<String, InstallError>;
    /// Undo: puts kept versions back, older ones too (`dpkg -i`, `rpm -U --oldpackage`), in one
    /// run of the tool.
    fn put_back(&self, files: &[PathBuf], opts: &InstallOptions) -> Result<String, InstallError>;
    /// Records `names` (just installed) as installed automatically, in the node's package
    /// manager's own records; the names marked (none where the node has no such records).
    fn mark_auto(&self, _names: &[String], _opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        Ok(Vec::new())
    }
    /// Whether the root under `root` has this tool's package database.
    fn detect(&self, root: &Path) -> bool;
    /// The module streams the node's package manager has enabled (dnf's
    /// `/etc/dnf/modules.d/*.module`): `(module, stream)`. None for families without modules.
    fn enabled_streams(&self, _root: &Path) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Refuses module streams another stream of whose module the node has enabled (its package
    /// manager would hide or replace the bundled packages). Families without modules accept all.
    fn check_streams(&self, _root: &Path, _streams: &[moa_model::manifest::ModuleRef]) -> Result<(), InstallError> {
        Ok(())
    }
    /// Enables the bundle's module streams in the node's package manager, as `dnf install` of a
    /// modular package does; the files written (none when all were already enabled).
    fn enable_streams(
        &self,
        _root: &Path,
        _streams: &[moa_model::manifest::ModuleRef],
    ) -> Result<Vec<PathBuf>, InstallError> {
        Ok(Vec::new())
    }
    /// Installs `repo.packages` with the node's own package manager (dnf or yum; apt-get) from
    /// the bundle's own repository, every other repository left out (`install --via-repo`);
    /// the manager's output.
    fn install_from_repo(&self, repo: &LocalRepo<'_>, opts: &InstallOptions) -> Result<Vec<String>, InstallError>;
    /// The same for `install.sh --via-repo` (see [`FallbackCommand::via_repo`]), for every
    /// package of `index`.
    fn fallback_via_repo(&self, index: &BundleIndex) -> String;
    /// Whether the tool can install without running package scripts (`--no-scripts`).
    fn can_skip_scripts(&self) -> bool {
        self.fallback_command().skip_scripts
    }
    /// The POSIX sh the fallback `install.sh` runs for one stage's files (appended), using the
    /// script's `$ROOT`, `$FORCE` and `$NOSCRIPTS`, and what `--force` means to it.
    fn fallback_command(&self) -> FallbackCommand;
}

pub(crate) use crate::bundle::script::FallbackCommand;

/// A verified, unpacked bundle as a repository, for [`Installer::install_from_repo`].
pub struct LocalRepo<'a> {
    /// The bundle's top directory, which is the repository's root (a plain path: [`plain`]).
    pub dir: &'a str,
    /// Where the package manager's configuration, lists and cache go (removed afterwards).
    pub work: &'a Path,
    /// The bundle's keys (plain paths) that sign its packages; none when its build skipped
    /// signature checks.
    pub keys: Vec<String>,
    /// The bundle's os-release `VERSION_ID` (dnf's `releasever` in another root).
    pub release: &'a str,
    /// What to install.
    pub packages: Vec<&'a BundlePackage>,
}

/// `path` as text that a repository URL, an INI line or an apt.conf string can hold as it is:
/// absolute, and only letters, digits and `/._+-`.
pub(crate) fn plain(what: &'static str, path: &Path, hint: &'static str) -> Result<String, InstallError> {
    let s = path.to_str().unwrap_or("");
    let ok = s.starts_with('/')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b))
        && !s.split('/').any(|c| c == "..");
    ok.then(|| s.to_string()).ok_or_else(|| InstallError::UnplainPath { what, path: path.to_path_buf(), hint })
}

/// Writes one file of a package manager's private configuration under [`LocalRepo::work`].
pub(crate) fn write_work(path: &Path, text: &str) -> Result<(), InstallError> {
    let werr = |source| InstallError::Work { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir).map_err(werr)?;
    }
    fs_err::write(path, text).map_err(werr)
}

/// The first of `programs` found in `SCRIPT_ENV`'s PATH (what `tool_command` would run).
pub fn first_on_path<'p>(programs: &[&'p str]) -> Option<&'p str> {
    let path = SCRIPT_ENV.iter().find(|(k, _)| *k == "PATH").map(|(_, v)| *v).unwrap_or("");
    programs.iter().copied().find(|p| path.split(':').any(|d| Path::new(d).join(p).is_file()))
}

/// What install does with one package (in JSON: `install`, `upgrade`, `skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallAction {
    /// New to the node.
    Install,
    /// The node has another version of it.
    Upgrade,
    /// Already installed at this version and arch.
    Skip,
}

/// What install did (or, with --dry-run, would do) with each package.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub action: InstallAction,
    pub stage: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_version: Option<String>,
}

/// The indexes in `todo` of the packages that replace a node package in `removes`, and of every
/// package that needs one of them (by name or provide, any version: when in doubt, later).
/// These are installed after the removal; all others before it.
pub(crate) fn needing_replacers(
    todo: &[(&BundlePackage, PathBuf)],
    removes: &[Removal],
    syntax: &dyn DepSyntax,
) -> std::collections::BTreeSet<usize> {
    let mut late: std::collections::BTreeSet<usize> = todo
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| removes.iter().any(|r| r.by == p.name.as_str()))
        .map(|(i, _)| i)
        .collect();
    let names_of = |p: &BundlePackage| -> Vec<String> {
        let provided =
            p.provides.iter().filter_map(|raw| syntax.parse_provide(raw.as_str()).ok().map(|r| r.name.to_string()));
        std::iter::once(p.name.to_string()).chain(provided).collect()
    };
    loop {
        let late_names: std::collections::HashSet<String> = late.iter().flat_map(|&i| names_of(todo[i].0)).collect();
        let needs = |p: &BundlePackage| {
            p.requires.iter().any(|raw| {
                syntax
                    .parse_requirement(raw.as_str())
                    .is_ok_and(|alts| alts.iter().any(|r| late_names.contains(r.name)))
            })
        };
        let more: Vec<usize> = (0..todo.len()).filter(|i| !late.contains(i) && needs(todo[*i].0)).collect();
        if more.is_empty() {
            return late;
        }
        late.extend(more);
    }
}

/// Decides what to install: everything not already installed at the same version and arch.
pub(crate) fn plan(
    index: &BundleIndex,
    installed: &[Installed],
    syntax: &dyn DepSyntax,
    arch: &dyn moa_model::arch::ArchModel,
) -> Vec<Action> {
    index
        .packages
        .iter()
        .map(|p| {
            let same_name: Vec<&Installed> = installed
                .iter()
                .filter(|i| i.name == p.name.as_str() && arch.same_slot(&i.arch, p.arch.as_str()))
                .collect();
            let same =
                same_name.iter().any(|i| same_version(syntax, &i.version, &p.version) && i.arch == p.arch.as_str());
            let action = if same {
                InstallAction::Skip
            } else if same_name.is_empty() {
                InstallAction::Install
            } else {
                InstallAction::Upgrade
            };
            Action {
                name: p.name.to_string(),
                version: p.version.to_string(),
                arch: p.arch.to_string(),
                action,
                stage: p.stage,
                installed_version: same_name.first().map(|i| i.version.clone()),
            }
        })
        .collect()
}

/// A differential bundle's expected packages that the node does not have at their version or
/// newer, with what the node has instead.
pub(crate) fn missing_expected(
    index: &BundleIndex,
    installed: &[Installed],
    syntax: &dyn DepSyntax,
    arch: &dyn moa_model::arch::ArchModel,
) -> Vec<MissingExpected> {
    let Some(since) = &index.since else { return Vec::new() };
    // What the node has is text from its package database, parsed here; the bundle's
    // versions were parsed once, when bundle.json was read.
    // (A version the node's database has that does not parse is compared as text, as before.)
    let at_least = |have: &str, want: &Version| match syntax.parse_version(have) {
        Ok(h) => h.cmp(want).is_ge(),
        Err(_) => have == want.to_string(),
    };
    let mut missing = Vec::new();
    for e in &since.expects {
        let mut slot =
            installed.iter().filter(|i| i.name == e.name.as_str() && arch.same_slot(&i.arch, e.arch.as_str()));
        if slot.clone().any(|i| at_least(&i.version, &e.version)) {
            continue;
        }
        missing.push(MissingExpected {
            name: e.name.to_string(),
            version: e.version.to_string(),
            arch: e.arch.to_string(),
            node_has: slot.next().map(|i| i.version.clone()),
        });
    }
    missing
}

/// Whether the node's version (text from its package database) is the bundle's.
fn same_version(syntax: &dyn DepSyntax, node: &str, bundle: &Version) -> bool {
    match syntax.parse_version(node) {
        Ok(v) => v.cmp(bundle).is_eq(),
        // One the node's database has that does not parse is compared as text, as before.
        Err(_) => node == bundle.to_string(),
    }
}

/// Whether this process runs as root (its effective uid: `geteuid`, which needs no `/proc`, so it
/// holds in a chroot without one too).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The environment package tools and the maintainer scripts they run get, whatever this
/// process has: a fixed PATH with the sbin directories, the C locale, no questions asked, root's
/// home. Nothing else of the caller's (TMPDIR, LD_*, proxies) leaks into a chroot.
pub(crate) const SCRIPT_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    ("LC_ALL", "C"),
    ("LANG", "C"),
    ("HOME", "/root"),
    ("DEBIAN_FRONTEND", "noninteractive"),
];

/// A package tool's command with [`SCRIPT_ENV`] only.
pub(crate) fn tool_command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear().envs(SCRIPT_ENV.iter().copied());
    c
}

/// Runs a command, capturing its output; a non-zero exit is an error carrying that output.
pub(crate) fn run(cmd: &mut Command, tool: &str) -> Result<String, InstallError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| InstallError::Spawn {
        command: shown.clone(),
        tool: tool.to_string(),
        source,
    })?;
    let text = clean_output(&out.stdout, &out.stderr);
    let locked = ["locked by another process", "lock was locked", "transaction lock", "unable to acquire the dpkg"];
    if out.status.success() {
        Ok(text)
    } else if locked.iter().any(|l| text.contains(l)) {
        Err(InstallError::Locked { tool: tool.to_string(), output: text })
    } else {
        Err(InstallError::Failed { command: shown, status: out.status.to_string(), output: text })
    }
}

/// stdout then stderr, without Debian rpm's "use alien" nag.
fn clean_output(stdout: &[u8], stderr: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(stdout).into_owned();
    for line in String::from_utf8_lossy(stderr).lines() {
        if line.contains("should not be used directly")
            || line.contains("alien")
            || line.contains("Debian package system")
        {
            continue;
        }
        s.push_str(line);
        s.push('\n');
    }
    s.trim_end().to_string()
}

pub(crate) fn root_is_host(root: &Path) -> bool {
    root == Path::new("/") || root.as_os_str().is_empty()
}
