//! The `moa-bundle` command line: parses arguments into options, calls one library function per
//! command, prints the report (text or `--json`). Nothing else lives here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use moa_bundle::cache::Cache;
use moa_bundle::commands::{self, BuildOptions, InstallCmdOptions, PlanItem, SourceOptions};
use moa_bundle::fetch::DEFAULT_JOBS;
use moa_bundle::install::InstallOptions;
use moa_bundle::manifest::Manifest;
use moa_bundle::report::{Reporter, Silent};
use moa_bundle::roles::params::{Host, Network, ZoneName};
use moa_bundle::roles::{ClientMode, FileStatus, Role, RoleOptions, RoleReport};

/// Pack Linux packages with exactly the dependencies a node lacks into one verifiable bundle,
/// and install it on servers that have no internet.
///
/// On a connected machine:   moa-bundle build --distro centos7
/// On the air-gapped node:   moa-bundle install ntp-centos7-x86_64.tar.gz
#[derive(Parser)]
#[command(name = "moa-bundle", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve, download, verify and pack a bundle (on a machine that reaches a mirror).
    ///
    /// Reads the manifest, fetches the repositories' metadata (checksums checked), resolves the
    /// requested packages minus what a minimal node already has, downloads them (sha256 checked,
    /// cached) and writes bundles/<name>-<distro>-<arch>.tar.gz plus a .sha256 beside it.
    /// Two builds from the same metadata give byte-identical bundles.
    Build(BuildArgs),
    /// Print what a build would pack, and why each package is needed, without downloading.
    Resolve(ResolveArgs),
    /// Verify a bundle and install its packages on this node (or into --root).
    ///
    /// Everything is checked before anything changes: every file's sha256, the bundle's
    /// os-release and arch against the node's, and the dependencies the node lacks (preflight).
    /// Packages already installed at the same version are skipped, so re-running is safe.
    Install(InstallArgs),
    /// Show what a bundle holds.
    Inspect(BundleArgs),
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
    /// List the distros with a built-in manifest.
    Distros(JsonArg),
}

/// The time service role's flags, shared by `install --role` and `configure`.
#[derive(Args, Clone)]
struct RoleFlags {
    /// server: upstream servers to follow, replacing the manifest's pool (repeatable or
    /// comma-separated).
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    upstream: Vec<Host>,
    /// server: a network whose hosts may query the server (ntpq) but not modify it, e.g.
    /// 192.168.1.0/24 (repeatable). Every host may ask for the time.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    allow: Vec<Network>,
    /// client: the moa time server to follow.
    #[arg(long, value_name = "HOST")]
    server: Option<Host>,
    /// client: `cron` syncs hourly from /etc/cron.d/moa-ntpdate (and once now); `daemon` runs
    /// ntpd following only --server.
    #[arg(long, value_enum, default_value_t, value_name = "MODE")]
    client_mode: ClientMode,
    /// Time zone for /etc/localtime (default: the manifest's, Asia/Shanghai).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<ZoneName>,
}

impl RoleFlags {
    fn options(&self, role: Role, root: &Path, dry_run: bool) -> RoleOptions {
        RoleOptions {
            role,
            upstream: self.upstream.clone(),
            allow: self.allow.clone(),
            server: self.server.clone(),
            client_mode: self.client_mode,
            timezone: self.timezone.clone(),
            root: root.to_path_buf(),
            dry_run,
        }
    }
}

#[derive(Args)]
struct ConfigureArgs {
    /// The role: `server` (ntpd with upstream + local-clock fallback) or `client`.
    #[arg(long, value_enum)]
    role: Role,
    #[command(flatten)]
    flags: RoleFlags,
    /// Take the role from this bundle (its bundle.json and roles/).
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["distro", "manifest"])]
    bundle: Option<PathBuf>,
    /// Take the role from this built-in manifest (see `moa-bundle distros`).
    #[arg(long, conflicts_with = "manifest")]
    distro: Option<String>,
    /// Take the role from this manifest file.
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    /// Configure the node under this root; service actions are printed, not run.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Show the diff and the service actions; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(Args)]
struct ProbeArgs {
    /// Write the profile here (atomically) instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Probe the node under this root instead of this system.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Package family, when both databases exist under the root (default: dpkg's if present).
    #[arg(long, value_enum)]
    family: Option<FamilyArg>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FamilyArg {
    Rpm,
    Deb,
}

#[derive(Args)]
struct CheckArgs {
    /// Warn when the selected peer's offset is beyond this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 128.0)]
    warn_offset: f64,
    /// Critical when the selected peer's offset is beyond this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000.0)]
    crit_offset: f64,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(Args)]
struct JsonArg {
    /// Print a JSON report on stdout instead of text (for scripts).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ManifestArgs {
    /// Built-in manifest to use (see `moa-bundle distros`).
    #[arg(long, short = 'd', required_unless_present = "manifest", conflicts_with = "manifest")]
    distro: Option<String>,
    /// A manifest file instead of a built-in one.
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    /// Mirror root replacing the manifest's mirrors for every repository (repeatable, best
    /// first): http://, https:// or file:// (e.g. file:///mnt/cdrom for a mounted DVD).
    #[arg(long, value_name = "URL")]
    mirror: Vec<String>,
    /// Pack the full closure instead of only what a minimal node lacks (repotrack-style).
    #[arg(long, conflicts_with = "target")]
    no_base: bool,
    /// Resolve against this node's real packages (a profile from `moa-bundle probe -o FILE`)
    /// instead of the manifest's minimal base. Repeat for several nodes: the bundle holds what
    /// any of them lacks.
    #[arg(long, value_name = "NODE.json")]
    target: Vec<PathBuf>,
    /// Download cache [default: $XDG_CACHE_HOME/moa-bundle or ~/.cache/moa-bundle].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Use only the cache (metadata and packages from an earlier run); never touch the network.
    #[arg(long)]
    offline: bool,
}

impl ManifestArgs {
    fn load(&self) -> anyhow::Result<Manifest> {
        let mut m = match (&self.manifest, &self.distro) {
            (Some(p), _) => Manifest::load(p)?,
            (None, Some(d)) => Manifest::builtin(d)?,
            (None, None) => unreachable!("clap requires one"),
        };
        m.override_mirrors(&self.mirror);
        Ok(m)
    }

    fn source(&self) -> SourceOptions {
        SourceOptions {
            cache_dir: self.cache_dir.clone().unwrap_or_else(Cache::default_dir),
            offline: self.offline,
            no_base: self.no_base,
            targets: self.target.clone(),
        }
    }
}

#[derive(Args)]
struct ResolveArgs {
    #[command(flatten)]
    manifest: ManifestArgs,
    /// Show every chain from a requested package to PKG (instead of the whole plan).
    #[arg(long, value_name = "PKG")]
    why: Option<String>,
    /// Say why PKG is not packed: in the base, met by another provider, or needed by nothing.
    #[arg(long, value_name = "PKG", conflicts_with = "why")]
    why_not: Option<String>,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    manifest: ManifestArgs,
    /// Output file, or a directory to put <name>-<distro>-<arch>.tar.gz in.
    #[arg(long, short = 'o', value_name = "PATH", default_value = "bundles")]
    output: PathBuf,
    /// Parallel downloads.
    #[arg(long, short = 'j', default_value_t = DEFAULT_JOBS as u16, value_parser = clap::value_parser!(u16).range(1..=32))]
    jobs: u16,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(Args)]
struct BundleArgs {
    /// The bundle (.tar.gz).
    bundle: PathBuf,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Also check that the bundle fits this node (os-release under --root, and arch).
    #[arg(long)]
    node: bool,
    /// Root whose /etc/os-release --node checks.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

#[derive(Args)]
struct InstallArgs {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Install into this root instead of / (rpm --root, dpkg --root; scripts run chrooted there).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Verify and print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The runbook's force: rpm --force --nodeps / dpkg --force-depends. Installs even when the
    /// preflight finds missing dependencies, which may leave packages that do not run.
    #[arg(long)]
    force: bool,
    /// rpm only: run no package scripts (rpm --noscripts), e.g. into an empty --root.
    #[arg(long)]
    no_scripts: bool,
    /// Install even if the node's os-release or architecture differ from the bundle's.
    #[arg(long)]
    skip_node_check: bool,
    /// Then configure the time service: `server` or `client` (see `moa-bundle configure`).
    #[arg(long, value_enum)]
    role: Option<Role>,
    #[command(flatten)]
    role_flags: RoleFlags,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Check(a) = &cli.command {
        return run_check(a);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Distros(a) => {
            let d = commands::distros()?;
            if a.json {
                return print_json(&d);
            }
            for x in d {
                println!("{:<12} {:<4} {:<7} {:<14} {}", x.distro, x.family, x.arch, x.os_release, x.bundle);
                println!("{:<12} {} (packages: {})", "", x.description, x.packages.join(", "));
            }
            Ok(())
        }
        Command::Resolve(a) => {
            let m = a.manifest.load()?;
            let rep = make_reporter(a.out.json);
            let explain = commands::Explain { why: a.why.clone(), why_not: a.why_not.clone() };
            let r = commands::resolve_cmd(&m, &a.manifest.source(), &explain, rep.as_ref())?;
            drop(rep);
            if a.out.json {
                return print_json(&r);
            }
            if let (Some(name), Some(chains)) = (&a.why, &r.why) {
                if chains.is_empty() {
                    println!("{name} is not packed (try --why-not {name})");
                }
                for c in chains {
                    println!("{}", c.join(" → "));
                }
                return Ok(());
            }
            if let Some(w) = &r.why_not {
                for reason in &w.reasons {
                    println!("{reason}");
                }
                return Ok(());
            }
            println!(
                "{} for {} ({}): {} package(s), {}",
                m.bundle_file_name(),
                m.distro,
                r.manifest,
                r.packages.len(),
                human(r.total_size)
            );
            print_plan(&r.packages);
            println!("base: {} package(s) a minimal node already has (not packed)", r.base_packages);
            for n in &r.notes {
                println!("note: {n}");
            }
            Ok(())
        }
        Command::Build(a) => {
            let m = a.manifest.load()?;
            let output = output_path(&a.output, &m);
            let opts = BuildOptions {
                output,
                jobs: a.jobs.into(),
                source: a.manifest.source(),
                source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse().ok()),
            };
            let rep = make_reporter(a.out.json);
            let r = commands::build(&m, &opts, rep.as_ref())?;
            drop(rep);
            if a.out.json {
                return print_json(&r);
            }
            print_plan(&r.packages);
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            println!("wrote {} ({}, sha256 {})", r.bundle.display(), human(r.size), r.sha256);
            Ok(())
        }
        Command::Inspect(a) => {
            let r = commands::verify_cmd(&a.bundle, None)?;
            if a.out.json {
                return print_json(&r.index);
            }
            let i = &r.index;
            println!(
                "{} — {} for {} {} {} (schema {}, moa-bundle {})",
                a.bundle.display(),
                i.name,
                i.os_release.id,
                i.os_release.version_id,
                i.arch,
                i.schema_version,
                i.tool_version
            );
            println!("requested: {}", i.requested.join(", "));
            for p in &i.packages {
                let why = p.why.last().map(String::as_str).unwrap_or("");
                println!(
                    "  [{}] {:<28} {:<30} {:<7} {:>10}  {}",
                    p.stage,
                    p.name.as_str(),
                    p.version,
                    p.arch.as_str(),
                    human(p.size),
                    why
                );
            }
            println!("sha256 {}", r.sha256);
            Ok(())
        }
        Command::Verify(a) => {
            let root = a.node.then_some(a.root.as_path());
            let r = commands::verify_cmd(&a.bundle.bundle, root)?;
            if a.bundle.out.json {
                return print_json(&r);
            }
            println!(
                "ok: {} — {} files checked, sha256 {}{}{}",
                a.bundle.bundle.display(),
                r.index.packages.len() + 3,
                r.sha256,
                if r.sidecar_checked { ", matches .sha256" } else { "" },
                if r.node_checked { ", fits this node" } else { "" }
            );
            Ok(())
        }
        Command::Install(a) => {
            let opts = InstallCmdOptions {
                install: InstallOptions { root: a.root.clone(), force: a.force, no_scripts: a.no_scripts },
                dry_run: a.dry_run,
                skip_node_check: a.skip_node_check,
                role: a.role.map(|r| a.role_flags.options(r, &a.root, a.dry_run)),
            };
            let rep = make_reporter(a.bundle.out.json);
            let r = commands::install_cmd(&a.bundle.bundle, &opts, rep.as_ref())?;
            drop(rep);
            if a.bundle.out.json {
                return print_json(&r);
            }
            for p in &r.preflight_problems {
                eprintln!("warning (--force): {p}");
            }
            for rm in &r.removes {
                let verb = if r.dry_run { "would remove" } else { "removed" };
                println!("{:<20} {:<28} {} (replaced by {})", verb, rm.name, rm.version, rm.by);
            }
            for act in &r.actions {
                let verb = match (act.action, r.dry_run) {
                    ("skip", _) => "already installed".to_string(),
                    (v, true) => format!("would {v}"),
                    ("upgrade", false) => "upgraded".to_string(),
                    (_, false) => "installed".to_string(),
                };
                println!("{:<20} {:<28} {} {}", verb, act.name, act.version, act.arch);
            }
            let n = r.actions.iter().filter(|a| a.action != "skip").count();
            if r.dry_run {
                println!("dry run: {n} package(s) would be installed into {}; nothing changed", r.root.display());
            } else {
                println!("done: {n} package(s) installed into {}", r.root.display());
            }
            if let Some(role) = &r.role {
                print_role(role);
            }
            Ok(())
        }
        Command::Configure(a) => {
            let opts = a.flags.options(a.role, &a.root, a.dry_run);
            let manifest = match (&a.distro, &a.manifest) {
                (Some(d), _) => Some(Manifest::builtin(d)?),
                (None, Some(p)) => Some(Manifest::load(p)?),
                (None, None) => None,
            };
            let from = match (&a.bundle, &manifest) {
                (Some(b), _) => commands::RoleFrom::Bundle(b),
                (None, Some(m)) => commands::RoleFrom::Manifest(m),
                (None, None) => commands::RoleFrom::Detect,
            };
            let r = commands::configure_cmd(from, &opts)?;
            if a.out.json {
                return print_json(&r);
            }
            print_role(&r);
            Ok(())
        }
        Command::Check(_) => unreachable!("handled in main"),
        Command::Probe(a) => {
            let family = a.family.map(|f| match f {
                FamilyArg::Rpm => moa_bundle::manifest::Family::Rpm,
                FamilyArg::Deb => moa_bundle::manifest::Family::Deb,
            });
            let p = moa_bundle::probe::probe(&a.root, family)?;
            let mut json = serde_json::to_vec_pretty(&p).context("could not serialize the profile")?;
            json.push(b'\n');
            match &a.output {
                Some(o) => {
                    moa_bundle::bundle::pack::write_atomic(o, &json)?;
                    eprintln!(
                        "wrote {}: {} {} {} ({}), {} packages",
                        o.display(),
                        p.os_release.id,
                        p.os_release.version_id,
                        p.arch,
                        p.family,
                        p.packages.len()
                    );
                }
                None => print!("{}", String::from_utf8_lossy(&json)),
            }
            Ok(())
        }
    }
}

fn print_role(r: &RoleReport) {
    let mode = r.client_mode.map(|m| format!(", {m:?} mode").to_lowercase()).unwrap_or_default();
    let role = format!("{:?}", r.role).to_lowercase();
    println!("role {role}{mode} for {} in {} ({}):", r.distro, r.root.display(), r.init);
    for f in &r.files {
        let verb = match (f.status, r.dry_run) {
            (FileStatus::Unchanged, _) => "unchanged",
            (FileStatus::Created, true) => "would create",
            (FileStatus::Changed, true) => "would change",
            (FileStatus::Created, false) => "created",
            (FileStatus::Changed, false) => "changed",
        };
        let bak = f.backup.as_ref().map(|b| format!(" (original kept as {})", b.display())).unwrap_or_default();
        println!("  {verb:<13} {}{bak}", f.path.display());
        if r.dry_run && !f.diff.is_empty() {
            for l in f.diff.lines() {
                println!("      {l}");
            }
        }
    }
    for s in &r.steps {
        println!("  {:<13} {}   # {}", s.status, s.step.command_line(), s.step.purpose);
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let n = r.files.iter().filter(|f| f.status != FileStatus::Unchanged).count();
    match (r.dry_run, n) {
        (_, 0) => println!("time zone {}; nothing to change (already configured)", r.timezone),
        (true, n) => println!("dry run: time zone {}; {n} file(s) would change; nothing changed", r.timezone),
        (false, n) => println!("time zone {}; {n} file(s) changed", r.timezone),
    }
}

/// `check`: prints the verdict and exits with the Nagios code.
fn run_check(a: &CheckArgs) -> ExitCode {
    let t = moa_bundle::check::Thresholds { warn_offset_ms: a.warn_offset, crit_offset_ms: a.crit_offset };
    let h = moa_bundle::check::check(t);
    if a.out.json {
        if let Err(e) = print_json(&h) {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    } else {
        println!("{}", h.summary());
        for (s, m) in h.findings.iter().skip(1) {
            println!("  {}: {m}", s.label());
        }
        if !h.peers.is_empty() {
            println!(
                "  {:<1} {:<24} {:<16} {:>2} {:>5} {:>12} {:>10}",
                "", "remote", "refid", "st", "reach", "offset ms", "jitter"
            );
            for p in &h.peers {
                println!(
                    "  {:<1} {:<24} {:<16} {:>2} {:>5o} {:>12.3} {:>10.3}",
                    p.tally, p.remote, p.refid, p.stratum, p.reach, p.offset_ms, p.jitter_ms
                );
            }
        }
    }
    ExitCode::from(h.status.exit_code())
}

fn output_path(arg: &Path, m: &Manifest) -> PathBuf {
    let s = arg.to_string_lossy();
    if s.ends_with(".tar.gz") || s.ends_with(".tgz") {
        arg.to_path_buf()
    } else {
        arg.join(m.bundle_file_name())
    }
}

fn print_plan(packages: &[PlanItem]) {
    for p in packages {
        let why = if p.requested { "requested".to_string() } else { p.why.last().cloned().unwrap_or_default() };
        let up = p.upgrades.as_ref().map(|v| format!(" (upgrades {v})")).unwrap_or_default();
        println!(
            "  {:<28} {:<30} {:<7} {:>10}  {:<10} {why}{up}",
            p.name,
            p.version,
            p.arch,
            human(p.size),
            p.repository
        );
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let s = serde_json::to_string_pretty(v).context("could not serialize the report")?;
    println!("{s}");
    Ok(())
}

fn human(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// indicatif progress on a terminal; nothing with --json or when stderr is not a terminal.
fn make_reporter(json: bool) -> Box<dyn Reporter> {
    if json || !std::io::stderr().is_terminal() {
        return Box::new(Silent);
    }
    Box::new(Progress { bar: Mutex::new(None), spinner: indicatif::ProgressBar::new_spinner() })
}

struct Progress {
    bar: Mutex<Option<indicatif::ProgressBar>>,
    spinner: indicatif::ProgressBar,
}

impl Reporter for Progress {
    fn status(&self, message: &str) {
        self.spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        self.spinner.set_message(message.to_string());
    }
    fn download_start(&self, count: usize, total: u64) {
        self.spinner.finish_and_clear();
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("{count} package(s)"));
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }
    fn download_progress(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            b.inc(n);
        }
    }
    fn download_done(&self, file: &str) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            b.set_message(file.chars().take(20).collect::<String>());
        }
    }
    fn download_finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
    fn warn(&self, message: &str) {
        self.spinner.suspend(|| eprintln!("warning: {message}"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.spinner.finish_and_clear();
    }
}
