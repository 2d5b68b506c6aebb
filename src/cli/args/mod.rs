//! The command line's arguments: clap types that parse and validate flags into the library's
//! option types ([`Host`], [`Network`], [`ZoneName`], [`MirrorUrl`] are the same validated types
//! a manifest or a bundle goes through).

mod gap;
pub use gap::{ApproveArgs, HistoryArgs, ReviewArgs, UndoArgs};

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use moa_engine::Cache;
use moa_engine::Signatures;
use moa_engine::SourceOptions;
use moa_engine::DEFAULT_JOBS;
use moa_model::manifest::{Manifest, ModuleRef, Request};
use moa_time::roles::{ClientMode, Role, RoleOptions};

/// `--role`: the library's [`Role`], spelled for clap (the library links no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// ntpd follows upstream, falls back to the local clock, serves the cluster.
    Server,
    /// Follows the moa time server (--server).
    Client,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Server => Role::Server,
            RoleArg::Client => Role::Client,
        }
    }
}

/// `--client-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientModeArg {
    /// An hourly one-shot sync from /etc/cron.d (the runbook's way), plus one sync now.
    Cron,
    /// ntpd runs and follows only --server.
    Daemon,
}

impl From<ClientModeArg> for ClientMode {
    fn from(m: ClientModeArg) -> ClientMode {
        match m {
            ClientModeArg::Cron => ClientMode::Cron,
            ClientModeArg::Daemon => ClientMode::Daemon,
        }
    }
}

/// `--family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FamilyArg {
    Rpm,
    Deb,
}

impl From<FamilyArg> for moa_model::manifest::Family {
    fn from(f: FamilyArg) -> Self {
        match f {
            FamilyArg::Rpm => Self::Rpm,
            FamilyArg::Deb => Self::Deb,
        }
    }
}
use moa_engine::DEFAULT_STALL_SECS;
use moa_model::types::node::{Host, Network, ZoneName};
use moa_model::types::{Arch, Label, MirrorFlag};

/// `0.1.0 (commit 0123456789ab)`: the commit comes from build.rs.
pub const VERSION: &str = moa_engine::VERSION;

/// Pack Linux packages with exactly the dependencies a node lacks into one verifiable bundle,
/// and install it on servers that have no internet.
///
/// On a connected machine:   moa-bundle build --distro centos7
/// On the air-gapped node:   moa-bundle install ntp-centos7-x86_64.tar.gz
#[derive(Parser)]
#[command(name = "moa-bundle", version = VERSION, about, long_about, max_term_width = 100, verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// Whether the user asked for JSON: then errors are printed as JSON too.
    pub fn json(&self) -> bool {
        match self {
            Command::Build(a) => a.out.json,
            Command::Resolve(a) => a.out.json,
            Command::Install(a) => a.bundle.out.json,
            Command::Inspect(a) => a.out.json,
            Command::Push(a) => a.out.json,
            Command::Pull(a) => a.out.json,
            Command::Verify(a) => a.bundle.out.json,
            Command::Configure(a) => a.out.json,
            Command::Check(a) => a.out.json,
            Command::History(a) => a.out.json,
            Command::Undo(a) => a.out.json,
            Command::Approve(a) => a.out.json,
            Command::Review(a) => a.out.json,
            Command::Distros(a) => a.json,
            Command::Probe(_) => false,
            Command::Lock(a) => a.out.json,
            Command::Sbom(_) => true,
            Command::Key(KeyCommand::Generate { out, .. }) => out.json,
            Command::Completions { .. } | Command::Man { .. } => false,
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Resolve, download, verify and pack a bundle (on a machine that reaches a mirror).
    ///
    /// Reads the manifest, fetches the repositories' metadata (signed by the keys the manifest
    /// pins: InRelease, repomd.xml.asc), resolves the requested packages minus what a minimal
    /// node already has, downloads them (sha256 and rpm header signatures checked, cached) and
    /// writes bundles/<name>-<distro>-<arch>.tar.gz plus a .sha256 beside it (and a .minisig
    /// with --sign). The bundle carries its lock (moa.lock) and a CycloneDX SBOM. Two builds
    /// from the same metadata give byte-identical bundles.
    Build(BuildArgs),
    /// Print what a build would pack, and why each package is needed, without downloading.
    Resolve(ResolveArgs),
    /// Verify a bundle and install its packages on this node (or into --root).
    ///
    /// Everything is checked before anything changes: the bundle's signature when the node
    /// trusts keys (--key, /etc/moa-bundle/trusted-keys/), every file's sha256, each rpm's
    /// header signature, the bundle's os-release and arch against the node's, and the
    /// dependencies the node lacks (preflight).
    /// Packages already installed at the same version are skipped, so re-running is safe.
    Install(InstallArgs),
    /// Show what a bundle holds.
    Inspect(BundleArgs),
    /// Push a bundle to an OCI registry (Harbor, zot, any distribution registry).
    ///
    /// The bundle is verified first, then stored as an OCI artifact: one layer per file (a
    /// package two bundles share is stored, and uploaded, once), bundle.json as the config, the
    /// .minisig as a layer, annotations naming distro, arch and packages.
    ///
    ///   moa-bundle push bundles/ntp-rocky9-x86_64.tar.gz oci://registry.lan/moa/ntp:rocky9
    #[command(verbatim_doc_comment)]
    Push(PushArgs),
    /// Pull a bundle from an OCI registry: the .tar.gz (packed again byte for byte from its
    /// layers, so its signature holds), its .sha256 and .minisig, verified.
    ///
    /// `moa-bundle install oci://…` pulls and installs in one step.
    Pull(PullArgs),
    /// Check a bundle's integrity (and, with --node, that it fits this node) without installing.
    Verify(VerifyArgs),
    /// Configure the time service role (server or client) without installing packages.
    ///
    /// Takes the role's definition from --bundle, --distro or --manifest, or else from the
    /// built-in manifest matching the node's /etc/os-release. Every file written is backed up
    /// once (FILE.moa-bak); re-running changes nothing; --dry-run prints a diff.
    ///
    ///   moa-bundle configure --role server --allow 192.168.1.0/24
    ///   moa-bundle configure --role client --server 192.168.1.10
    #[command(verbatim_doc_comment)]
    Configure(ConfigureArgs),
    /// Record this node's packages (a profile for `build --target`), reading only.
    ///
    /// Writes os-release, arch and every installed package with its version, arch and provides
    /// (rpm: `rpm -qa`; dpkg: /var/lib/dpkg/status). Run it on the node, copy the file to the
    /// build machine, and `moa-bundle build --distro … --target node.json` packs exactly what
    /// that node lacks.
    Probe(ProbeArgs),
    /// Check the time service, for people and monitoring (Nagios exit codes).
    ///
    /// Runs `ntpq -pn`, `ntpq -c rv` and `ntpstat` (or `chronyc -n sources`), lists the peers and
    /// flags what is wrong: daemon down, no peer ever answered (.INIT.), only the local clock
    /// selected, offset beyond a threshold. Exit 0 ok, 1 warning, 2 critical, 3 unknown.
    Check(CheckArgs),
    /// Show the node's ledger: every install, configure and undo, with what it changed.
    ///
    /// Each entry names its bundle (sha256, signer, upstream keys, SBOM digest), every package
    /// installed, upgraded or removed (before and after versions), every file a role wrote (its
    /// previous content kept under /var/lib/moa-bundle/kept/) and the result. Entries are
    /// chained by sha256 and history.head names the last: an edited, deleted or moved entry is
    /// named. With --verify only that check is printed, and the exit status is 1 when the
    /// ledger is broken.
    ///
    ///   moa-bundle history
    ///   moa-bundle history --verify --root /srv/node
    #[command(verbatim_doc_comment)]
    History(HistoryArgs),
    /// Put the node back as it was before an install or configure, offline.
    ///
    /// Reads the ledger (refused when it is broken), then plans the whole undo and checks it
    /// before the first change: the role's files go back to their kept contents, the packages
    /// the entry installed are purged, and the versions it upgraded or removed are put back
    /// from the rollback kit its bundle carried (`build --target NODE --rollback`), each kept
    /// file checked against its sha256. A package or file changed since the entry is named and
    /// nothing is done. The undo gets a ledger entry of its own; run again after an
    /// interruption, it does what is left. Without ENTRY: the last entry that changed
    /// something, unless that is an undo or already undone (then nothing more is undone).
    ///
    ///   moa-bundle undo --dry-run
    ///   moa-bundle undo 3 --root /srv/node
    #[command(verbatim_doc_comment)]
    Undo(UndoArgs),
    /// Approve a bundle: sign its sha256, the review's digest and your role, beside it.
    ///
    /// The bundle is verified whole first; the approval (a minisign signature over a short
    /// statement: bundle, its sha256 and its SHA256SUMS's, review digest, role) is added to
    /// BUNDLE.approvals, which travels
    /// with the bundle. A node with /etc/moa-bundle/policy.toml (which keys hold which role,
    /// which roles are required) installs only bundles whose signature and approvals give every
    /// required role, naming what is missing. `minisign -V` checks an approval too.
    ///
    ///   moa-bundle approve bundles/ntp-debian12-amd64.tar.gz --key security.key --role security
    ///
    /// policy.toml on the node (key paths relative to /etc/moa-bundle):
    ///
    ///   require = ["builder", "security"]
    ///   [roles.builder]
    ///   keys = ["keys/build.pub"]
    ///   [roles.security]
    ///   keys = ["keys/alice.pub", "keys/bob.pub"]
    #[command(verbatim_doc_comment)]
    Approve(ApproveArgs),
    /// Write the page a reviewer reads before approving a bundle: one self-contained HTML file.
    ///
    /// The bundle is verified whole first (its signature too, with --key). The page gives the
    /// summary (distro, arch, size, when, the builder's signature, the upstream keys per
    /// repository), every package with its change against a node (--against NODE.json, from
    /// `probe`) or an older bundle (--since OLD), why it is there, its licence, source package
    /// and sha256, what installing it removes, and the dependency graph. It loads nothing: it
    /// opens on an offline workstation. --json gives the same data.
    ///
    ///   moa-bundle review bundles/ntp-debian12-amd64.tar.gz --against node.json -o review.html
    #[command(verbatim_doc_comment)]
    Review(ReviewArgs),
    /// List the distros with a built-in manifest.
    Distros(JsonArg),
    /// Resolve as `build` would and write the set to a reviewable lock file (nothing downloaded).
    ///
    /// The lock lists every package with its version, arch, repository, location, size and
    /// sha256, its install stage and why-chain, and the metadata it came from with the pinned
    /// key that signed it. `build --locked moa.lock` packs exactly that set again.
    Lock(LockArgs),
    /// Print the bundle's SBOM (CycloneDX 1.5 JSON), after verifying the bundle.
    ///
    /// One component per package with its package URL, sha256, licence and source package
    /// where the repository metadata has them, and the dependency graph between them.
    Sbom(SbomArgs),
    /// Make bundle signing keys (minisign format).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print a shell completion script.
    ///
    ///   moa-bundle completions bash > /etc/bash_completion.d/moa-bundle
    ///   moa-bundle completions zsh > "${fpath[1]}/_moa-bundle"
    ///   moa-bundle completions fish > ~/.config/fish/completions/moa-bundle.fish
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    ///
    ///   moa-bundle man | man -l -
    ///   moa-bundle man --dir /usr/local/share/man/man1
    Man {
        /// Write moa-bundle.1 and moa-bundle-<command>.1 here instead of printing.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write a new key pair: PREFIX.key (secret, mode 0600, unencrypted: keep it like a CI
    /// secret) and PREFIX.pub (copy it to nodes' /etc/moa-bundle/trusted-keys/).
    ///
    ///   moa-bundle key generate release
    ///   moa-bundle build --distro centos7 --sign release.key
    ///   moa-bundle install ntp-centos7-x86_64.tar.gz --key release.pub
    #[command(verbatim_doc_comment)]
    Generate {
        /// Path prefix of the two files.
        prefix: PathBuf,
        #[command(flatten)]
        out: JsonArg,
    },
}

/// The time service role's flags, shared by `install --role` and `configure`.
#[derive(Args, Clone)]
pub struct RoleFlags {
    /// server: upstream servers to follow, replacing the manifest's pool (repeatable or
    /// comma-separated).
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    pub upstream: Vec<Host>,
    /// server: a network whose hosts may query the server (ntpq) but not modify it, e.g.
    /// 192.168.1.0/24 (repeatable). Every host may ask for the time.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub allow: Vec<Network>,
    /// client: the moa time server to follow.
    #[arg(long, value_name = "HOST")]
    pub server: Option<Host>,
    /// client: `cron` (the default) syncs hourly from /etc/cron.d/moa-ntpdate (and once now);
    /// `daemon` runs ntpd following only --server.
    #[arg(long, value_enum, value_name = "MODE")]
    pub client_mode: Option<ClientModeArg>,
    /// Time zone for /etc/localtime. Without it the node's zone is left as it is, except where the
    /// manifest names one (the seed's centos7 and ubuntu1604: Asia/Shanghai).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<ZoneName>,
}

impl RoleFlags {
    pub fn options(&self, role: Role, root: &Path, dry_run: bool) -> RoleOptions {
        RoleOptions {
            role,
            upstream: self.upstream.clone(),
            allow: self.allow.clone(),
            server: self.server.clone(),
            client_mode: self.client_mode.map(Into::into),
            timezone: self.timezone.clone(),
            root: root.to_path_buf(),
            dry_run,
            incoming: Vec::new(),
        }
    }
}

#[derive(Args)]
pub struct ConfigureArgs {
    /// The role: `server` (ntpd with upstream + local-clock fallback) or `client`.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub flags: RoleFlags,
    /// Take the role from this bundle (its bundle.json and roles/).
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["distro", "manifest"])]
    pub bundle: Option<PathBuf>,
    /// Take the role from this built-in manifest (see `moa-bundle distros`).
    #[arg(long, conflicts_with = "manifest")]
    pub distro: Option<String>,
    /// Take the role from this manifest file.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Configure the node under this root; service actions are printed, not run.
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    /// Show the diff and the service actions; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct ProbeArgs {
    /// Write the profile here (atomically) instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Probe the node under this root instead of this system.
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    /// Package family, when both databases exist under the root (default: dpkg's if present).
    #[arg(long, value_enum)]
    pub family: Option<FamilyArg>,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Warn when the selected peer's offset is beyond this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 128.0)]
    pub warn_offset: f64,
    /// Critical when the selected peer's offset is beyond this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000.0)]
    pub crit_offset: f64,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct JsonArg {
    /// Print a JSON report on stdout instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ManifestArgs {
    /// Built-in manifest to use (see `moa-bundle distros`). `build` takes several (repeat it,
    /// or `--distro centos7,rocky9`): one run, one cache, a package two bundles share
    /// downloaded once.
    /// (`build --locked moa.lock` takes the distro and arch the lock names.)
    #[arg(long, short = 'd', conflicts_with = "manifest", value_delimiter = ',')]
    pub distro: Vec<String>,
    /// A manifest file instead of a built-in one (`build` takes several).
    #[arg(long, value_name = "PATH")]
    pub manifest: Vec<PathBuf>,
    /// Mirror root replacing the manifest's mirrors (repeatable, best first): http://, https://
    /// or file:// (e.g. file:///mnt/cdrom for a mounted DVD). `NAME=URL` replaces only the
    /// mirrors of repository NAME (`--mirror security=http://mirror.lan/debian-security`); a
    /// plain URL, those of every repository no NAME= flag names.
    #[arg(long, value_name = "[NAME=]URL", value_parser = MirrorFlag::parse)]
    pub mirror: Vec<MirrorFlag>,
    /// Pack the full closure instead of only what a minimal node lacks (repotrack-style).
    #[arg(long, conflicts_with = "target")]
    pub no_base: bool,
    /// Resolve against this node's real packages (a profile from `moa-bundle probe -o FILE`)
    /// instead of the manifest's minimal base. Repeat for several nodes: the bundle holds what
    /// any of them lacks.
    #[arg(long, value_name = "NODE.json")]
    pub target: Vec<PathBuf>,
    /// Build for this architecture instead of the manifest's (`arm64`, `aarch64`: the
    /// family's own name), from the repositories' mirrors for it where they differ.
    #[arg(long, value_name = "ARCH", value_parser = Arch::new)]
    pub arch: Option<Arch>,
    /// Download cache [default: $XDG_CACHE_HOME/moa-bundle or ~/.cache/moa-bundle].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache (metadata and packages from an earlier run); never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// Seconds a download may make (almost) no progress before the next mirror is tried.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STALL_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stall_timeout: u64,
    /// Packages to bundle besides the manifest's (`nginx`, `postgresql-server=13.20-1.el9`).
    #[arg(value_name = "PACKAGE", value_parser = Request::parse)]
    pub packages: Vec<Request>,
    /// A package to bundle (repeatable; NAME or NAME=VERSION), as the positional PACKAGEs.
    #[arg(long = "package", value_name = "NAME[=VERSION]", value_parser = Request::parse)]
    pub package: Vec<Request>,
    /// Enable an EL8+ module stream (`nodejs:20`, repeatable), as `dnf module enable` does.
    #[arg(long = "module", value_name = "NAME:STREAM", value_parser = ModuleRef::parse)]
    pub modules: Vec<ModuleRef>,
    /// Bundle only the named packages, not the manifest's (its repositories, keys and base
    /// still apply; the bundle carries no time service roles).
    #[arg(long)]
    pub only: bool,
    /// The bundle's name (default: the manifest's; with --only, the first package's).
    #[arg(long, value_name = "NAME", value_parser = Label::new)]
    pub name: Option<Label>,
    /// Do not check upstream signatures (InRelease/Release.gpg, repomd.xml.asc, rpm headers)
    /// against the manifest's pinned keys. Only for a repository you trust by other means: the
    /// bundle records that its packages were not checked.
    #[arg(long)]
    pub insecure_skip_signatures: bool,
    /// Accept signed metadata that is old on purpose: an apt Release past its Valid-Until (a
    /// frozen archive, an old snapshot; apt's Acquire::Check-Valid-Until=false), or older than
    /// one of the same suite this cache has seen. A Date in the future and a Release of another
    /// suite are still refused.
    #[arg(long)]
    pub allow_old_metadata: bool,
    /// Take an older version of a requested package when its newest cannot be installed (with
    /// a note), as `dnf --nobest` does; EL8+ manifests otherwise fail, as their dnf does.
    #[arg(long)]
    pub nobest: bool,
}

impl ManifestArgs {
    /// The one manifest these arguments name (only `build` takes several).
    pub fn load(&self) -> anyhow::Result<Manifest> {
        let mut all = self.load_all()?;
        if all.len() > 1 {
            anyhow::bail!("this command takes one manifest (--distro or --manifest once); `build` takes several");
        }
        Ok(all.remove(0))
    }

    /// Every manifest these arguments name, flags applied to each, in the order given.
    pub fn load_all(&self) -> anyhow::Result<Vec<Manifest>> {
        let mut out = Vec::new();
        for p in &self.manifest {
            out.push(self.apply(Manifest::load(p)?)?);
        }
        for d in &self.distro {
            out.push(self.apply(Manifest::builtin(d)?)?);
        }
        if out.is_empty() {
            anyhow::bail!(
                "pass a built-in manifest (--distro, see `moa-bundle distros`) or a manifest file (--manifest)"
            );
        }
        Ok(out)
    }

    /// The built-in manifest a lock file names (its distro and arch), flags applied, for
    /// `build --locked moa.lock` without --distro or --manifest.
    pub fn load_for_lock(&self, lock: &Path) -> anyhow::Result<Manifest> {
        let l = moa_engine::Lock::load(lock)?;
        let mut m = Manifest::builtin(l.distro.as_str()).map_err(|_| {
            anyhow::anyhow!(
                "{} is a lock of distro `{}`, which is not built in: pass the manifest it was made with (--manifest)",
                lock.display(),
                l.distro
            )
        })?;
        if self.arch.is_none() {
            m.set_arch(l.arch.clone());
        }
        self.apply(m)
    }

    /// Whether neither --distro nor --manifest was given.
    pub fn names_none(&self) -> bool {
        self.distro.is_empty() && self.manifest.is_empty()
    }

    fn apply(&self, mut m: Manifest) -> anyhow::Result<Manifest> {
        if let Some(a) = &self.arch {
            m.set_arch(a.clone());
        }
        m.override_mirrors(&self.mirror)?;
        let extra: Vec<Request> = self.packages.iter().chain(&self.package).cloned().collect();
        if !extra.is_empty() || self.only || self.name.is_some() {
            m.with_requests(extra, self.only, self.name.clone())?;
        }
        if !self.modules.is_empty() {
            m.enable_modules(&self.modules)?;
        }
        if self.nobest {
            m.best = false;
        }
        moa_engine::check_manifest(&m)?;
        Ok(m)
    }

    pub fn source(&self) -> SourceOptions {
        SourceOptions {
            cache_dir: self.cache_dir.clone().unwrap_or_else(Cache::default_dir),
            offline: self.offline,
            no_base: self.no_base,
            targets: self.target.clone(),
            stall: std::time::Duration::from_secs(self.stall_timeout),
            signatures: if self.insecure_skip_signatures { Signatures::Skip } else { Signatures::Verify },
            allow_old_metadata: self.allow_old_metadata,
            keep_entries: false,
        }
    }
}

#[derive(Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// Show every chain from a requested package to PKG (instead of the whole plan).
    #[arg(long, value_name = "PKG")]
    pub why: Option<String>,
    /// Say why PKG is not packed: in the base, met by another provider, or needed by nothing.
    #[arg(long, value_name = "PKG", conflicts_with = "why")]
    pub why_not: Option<String>,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// Output file, or a directory to put <name>-<distro>-<arch>.tar.gz in.
    #[arg(long, short = 'o', value_name = "PATH", default_value = "bundles")]
    pub output: PathBuf,
    /// Parallel downloads.
    #[arg(long, short = 'j', default_value_t = DEFAULT_JOBS as u16, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: u16,
    /// Pack exactly the set in this lock file (from `moa-bundle lock`), without resolving: fails
    /// naming any package that vanished or changed upstream since.
    #[arg(long, value_name = "moa.lock")]
    pub locked: Option<PathBuf>,
    /// Sign the bundle with this minisign secret key (from `moa-bundle key generate`), writing
    /// <bundle>.minisig beside it: nodes that trust the public key install only what it signed.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Do not make the bundle a package repository. By default its top directory is one too
    /// (`repodata/`: yum metadata or an apt flat repository listing exactly the bundled
    /// packages), so `install --via-repo`, or the node's own dnf/yum/apt, can install from it.
    #[arg(long)]
    pub no_repo: bool,
    /// Carry this moa-bundle binary (for the bundle's architecture; the glibc-2.17 release
    /// build from scripts/release.sh runs on every supported node) as <bundle>/moa-bundle:
    /// `sh install.sh` checks it against SHA256SUMS and runs it, so a node with nothing
    /// installed gets all of `install` (roles, preflight, removals). Built-in manifests carry
    /// the running binary by default when it is a release build for the bundle's architecture.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["with_installer", "no_installer"])]
    pub installer: Option<PathBuf>,
    /// Carry the running moa-bundle binary (see --installer).
    #[arg(long, conflicts_with = "no_installer")]
    pub with_installer: bool,
    /// Carry no moa-bundle binary: install.sh then installs with rpm/dpkg alone.
    #[arg(long)]
    pub no_installer: bool,
    /// A differential bundle: pack only what is new or changed since OLD (a bundle of this
    /// manifest, its parts or unpacked directory, or its moa.lock). It records what the node
    /// must already have from OLD; install checks that first and names what is missing.
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,
    /// Also write the bundle in parts of at most SIZE bytes (K, M, G: powers of 1024), for media
    /// smaller than the bundle: <bundle>.part000, .part001, … and <bundle>.split, their sha256
    /// in sha256sum format. `install` and `verify` take any part, the index or their folder and
    /// check every part before unpacking; `cat <bundle>.part* > <bundle>` joins them by hand.
    /// A 4.7 GB DVD takes --split-size 4300M.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split_size: Option<u64>,
    /// With --split-size: also write N parity parts (Reed–Solomon; <bundle>.parity000, …,
    /// listed in the .split index), so that any N lost or damaged parts are rebuilt on the node
    /// (`install` and `verify` name what they rebuilt). At most 255 parts and 64 parity parts.
    #[arg(long, value_name = "N", requires = "split_size", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub parity: u32,
    /// Also pack a rollback kit: the versions the --target node has now of every package the
    /// bundle upgrades or removes, from the same repositories and checked like every other
    /// package, under rollback/. `moa-bundle undo` on the node puts them back offline. A version
    /// no repository publishes any more is named and fails the build.
    #[arg(long, requires = "target")]
    pub rollback: bool,
    /// With --rollback: build without the versions no repository publishes any more (bundle.json
    /// lists them; undo refuses to put those back).
    #[arg(long, requires = "rollback")]
    pub rollback_partial: bool,
    /// With --rollback: where to look for versions the manifest's mirrors no longer publish (an
    /// archive or snapshot mirror of the same repositories, checked with the same pinned keys).
    /// `NAME=URL` for one repository, as --mirror; repeatable.
    #[arg(long, value_name = "[NAME=]URL", value_parser = MirrorFlag::parse, requires = "rollback")]
    pub rollback_mirror: Vec<MirrorFlag>,
    #[command(flatten)]
    pub out: JsonArg,
}

/// A `--root` made absolute against the working directory: rpm refuses a relative root, and
/// package tools chroot into it.
fn absolute_dir(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("an empty path is no root: pass a directory, or leave --root out for /".into());
    }
    std::path::absolute(s).map_err(|e| format!("`{s}`: {e}"))
}

/// `4G`, `700M`, `64K` or plain bytes; at least 1K.
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        "T" | "t" | "TiB" => 40,
        _ => return Err(format!("`{s}` is not a size: write bytes, or a number with K, M, G or T")),
    };
    let n: u64 =
        digits.parse().map_err(|_| format!("`{s}` is not a size: write bytes, or a number with K, M, G or T"))?;
    let bytes = n.checked_mul(1 << shift).ok_or_else(|| format!("`{s}` is too large"))?;
    if bytes < 1024 {
        return Err(format!("`{s}` is smaller than the smallest part, 1K"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes_take_binary_suffixes_and_refuse_the_rest() {
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("4300M"), Ok(4300 << 20));
        assert_eq!(super::parse_size("8192"), Ok(8192));
        for bad in ["", "4X", "1.5G", "-1K", "100", "99999999999T"] {
            assert!(super::parse_size(bad).is_err(), "{bad}");
        }
    }
}

#[derive(Args)]
pub struct SbomArgs {
    /// The bundle (.tar.gz).
    pub bundle: PathBuf,
    #[command(flatten)]
    pub keys: KeyArg,
}

#[derive(Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// The lock file to write.
    #[arg(long, short = 'o', value_name = "PATH", default_value = "moa.lock")]
    pub output: PathBuf,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct BundleArgs {
    /// The bundle (.tar.gz).
    pub bundle: PathBuf,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Also check that the bundle fits this node (os-release under --root, and arch).
    #[arg(long)]
    pub node: bool,
    /// Root whose /etc/os-release --node checks, and whose etc/moa-bundle/trusted-keys/*.pub
    /// are trusted bundle keys.
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    #[command(flatten)]
    pub keys: KeyArg,
}

#[derive(Args)]
pub struct KeyArg {
    /// A minisign public key (from `moa-bundle key generate` or `minisign -G`) whose signature
    /// `<bundle>.minisig` must carry (repeatable). Keys in <root>/etc/moa-bundle/trusted-keys/
    /// are trusted too; with any trusted key, unsigned bundles are refused.
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
}

#[derive(Args)]
pub struct PushArgs {
    /// The bundle (.tar.gz, or its parts).
    pub bundle: PathBuf,
    /// Where: oci://HOST[:PORT]/REPOSITORY:TAG.
    pub reference: String,
    /// Talk plain HTTP to the registry (a registry without TLS, e.g. on 127.0.0.1).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub keys: KeyArg,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct PullArgs {
    /// oci://HOST[:PORT]/REPOSITORY:TAG.
    pub reference: String,
    /// Directory to write the bundle into.
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    /// Talk plain HTTP to the registry (a registry without TLS, e.g. on 127.0.0.1).
    #[arg(long)]
    pub plain_http: bool,
    /// Give up on a registry that sends nothing, or under 512 bytes a second, for SECS.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STALL_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stall_timeout: u64,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Install into this root instead of / (rpm --root, dpkg --root; scripts run chrooted there).
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    /// Verify and print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The runbook's force: rpm --force --nodeps / dpkg --force-depends. Installs even when the
    /// preflight finds missing dependencies, which may leave packages that do not run.
    #[arg(long)]
    pub force: bool,
    /// rpm only: run no package scripts (rpm --noscripts), e.g. into an empty --root.
    #[arg(long, alias = "noscripts")]
    pub no_scripts: bool,
    /// Install even if the node's os-release or architecture differ from the bundle's.
    #[arg(long)]
    pub skip_node_check: bool,
    /// Install with the node's own package manager (dnf, else yum; apt-get) from the verified
    /// bundle as a repository, every other repository left out: the manager records the
    /// transaction in its history and resolves conflicts itself. Not with --force.
    #[arg(long, conflicts_with = "force")]
    pub via_repo: bool,
    /// For an unpacked bundle (a directory) on a node that trusts bundle keys: its archive's
    /// signature was checked (`minisign -V`) before it was unpacked. A .tar.gz is always checked.
    #[arg(long)]
    pub verified: bool,
    /// For a bundle given as oci://HOST/REPOSITORY:TAG: talk plain HTTP to the registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Then configure the time service: `server` or `client` (see `moa-bundle configure`).
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    #[command(flatten)]
    pub role_flags: RoleFlags,
    #[command(flatten)]
    pub keys: KeyArg,
}
