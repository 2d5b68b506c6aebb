//! The time service's roles, applied after the packages are on the node: `server` (ntpd following
//! upstream, the local clock as fallback, chosen networks may query) and `client` (an hourly sync
//! from `/etc/cron.d`, or ntpd following only the server), plus the time zone for both.
//!
//! A role is planned first (files rendered from the templates, every precondition checked), then
//! applied: each file is backed up once (`.moa-bak`), written atomically, and left alone when it
//! already says the same, so re-running changes nothing. Service actions are `system::Step`s:
//! run on `/`, printed under `--root` or `--dry-run`.

pub mod render;
pub(crate) mod system;

use std::path::{Path, PathBuf};

use serde::Serialize;

use moa_model::files::resolve_in_root;
use moa_model::manifest::TimeSpec;
use moa_model::types::node::{Host, Network, NodePath, ZoneName};
use render::{Context, Templates};
use system::{Step, StepReport};

pub const BACKUP_SUFFIX: &str = ".moa-bak";
pub const CRON_FILE: &str = "/etc/cron.d/moa-ntpdate";
/// The cron daemons that read `/etc/cron.d`: Debian's cron, cronie, busybox's.
const CRON_DAEMONS: &[&str] = &["/usr/sbin/cron", "/usr/sbin/crond", "/sbin/crond", "/usr/bin/crond"];
/// The stratum the server serves its own clock at when upstream is gone.
pub const FALLBACK_STRATUM: u8 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// ntpd follows upstream, falls back to the local clock, serves the cluster.
    Server,
    /// Follows the moa time server (--server).
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// An hourly one-shot sync from /etc/cron.d (the runbook's way), plus one sync now.
    #[default]
    Cron,
    /// ntpd runs and follows only --server.
    Daemon,
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{origin} has no [time] section, so it defines no roles: add one (see manifests/centos7.toml) or leave out --role")]
    NoTimeSpec { origin: String },
    #[error("the client role needs --server HOST: the moa time server this node follows")]
    NeedServer,
    #[error("{flag} only applies to the server role; the client follows --server")]
    ServerFlag { flag: &'static str },
    #[error("--client-mode only applies to the client role; the server role always runs the daemon")]
    ClientMode,
    #[error("{} would be written outside the root {}: {message}. Check the node's symbolic links there", path.display(), root.display())]
    Outside { path: PathBuf, root: PathBuf, message: String },
    #[error("--server is the client role's server; the server role follows --upstream HOST (default: the manifest's upstream servers)")]
    ClientFlag,
    #[error("template {origin}: {message}")]
    Template { origin: String, message: String },
    #[error("time zone `{zone}` is not in {}: check the name (`timedatectl list-timezones`) or install tzdata", dir.display())]
    ZoneMissing { zone: String, dir: PathBuf },
    #[error("{} does not exist: {hint}", path.display())]
    MissingDir { path: PathBuf, hint: String },
    #[error("no cron daemon on the node under {} (no /usr/sbin/cron or crond), so an hourly sync in /etc/cron.d would never run: install cron (cron on Debian/Ubuntu, cronie on EL), build the bundle with it (a manifest's `optional`), or use --client-mode daemon", root.display())]
    NoCron { root: PathBuf },
    #[error("{} is missing, so the client cannot sync: install the bundle's packages first (`moa-bundle install BUNDLE`), or use --client-mode daemon", path.display())]
    SyncTool { path: PathBuf },
    #[error("could not write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {output}")]
    Step { command: String, output: String },
    #[error("{} cannot be written by this user, so nothing was changed: run as root (sudo moa-bundle configure …), or add --dry-run to see what it would do", dir.display())]
    NotWritable { dir: PathBuf },
    #[error("configuring the time service changes /etc and services on this node: run as root (or add --dry-run to see what it would do)")]
    NotRoot,
}

/// Checks that need no files: the flags fit the role. `install --role` calls this before it
/// installs anything.
pub fn check_flags(opts: &RoleOptions) -> Result<(), RoleError> {
    match opts.role {
        Role::Server if opts.server.is_some() => Err(RoleError::ClientFlag),
        Role::Server if opts.client_mode.is_some() => Err(RoleError::ClientMode),
        Role::Client if opts.server.is_none() => Err(RoleError::NeedServer),
        Role::Client if !opts.upstream.is_empty() => Err(RoleError::ServerFlag { flag: "--upstream" }),
        Role::Client if !opts.allow.is_empty() => Err(RoleError::ServerFlag { flag: "--allow" }),
        _ => Ok(()),
    }
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RoleOptions {
    pub role: Role,
    /// Server: replaces the manifest's upstream servers.
    pub upstream: Vec<Host>,
    /// Server: networks that may query it.
    pub allow: Vec<Network>,
    /// Client: the server to follow.
    pub server: Option<Host>,
    /// Client: how to follow it (`None`: the default, cron).
    pub client_mode: Option<ClientMode>,
    /// Replaces the manifest's time zone.
    pub timezone: Option<ZoneName>,
    pub root: PathBuf,
    pub dry_run: bool,
    /// Paths the packages about to be installed bring (sorted; `install --role` plans the role
    /// before its packages): the plan counts them as there.
    pub incoming: Vec<String>,
}

impl RoleOptions {
    /// Whether the node path `p` (or something under it) comes with the incoming packages.
    fn incoming(&self, p: &str) -> bool {
        let p = p.trim_end_matches('/');
        let under = format!("{p}/");
        let at = self.incoming.partition_point(|x| x.as_str() < p);
        self.incoming[at..].iter().take_while(|x| x.starts_with(p)).any(|x| x == p || x.starts_with(&under))
    }
}

/// The distro's time service and the templates to render it with.
pub struct RoleSource<'a> {
    pub distro: &'a str,
    pub time: &'a TimeSpec,
    pub templates: &'a Templates,
}

#[derive(Debug, Clone, PartialEq)]
enum Desired {
    Text(String),
    /// A symbolic link and its target.
    Link(String),
    /// No file: what another role wrote, taken back (only a file this tool wrote: it starts
    /// with [`OWN_MARK`]).
    Absent,
}

/// How every file a role writes from a template begins (after `# <path>: `).
const OWN_MARK: &str = "written by moa-bundle";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Created,
    Changed,
    Unchanged,
    /// Taken back: the other role's file.
    Removed,
}

/// One file the role manages.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The path on the node (`/etc/ntp.conf`).
    pub node_path: String,
    /// Where it is written (under --root).
    pub path: PathBuf,
    pub status: FileStatus,
    /// The first version this role replaced, kept once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// Unified diff from what is there to what the role writes (empty when unchanged).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

/// What `configure` (or `install --role`) did or would do.
#[derive(Debug, Clone, Serialize)]
pub struct RoleReport {
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<ClientMode>,
    pub distro: String,
    pub root: PathBuf,
    pub dry_run: bool,
    /// The zone the role set; none when neither the manifest nor `--timezone` names one (the
    /// node's zone is left alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The init system the steps are for (`systemd`, `sysv`).
    pub init: String,
    pub files: Vec<FileReport>,
    pub steps: Vec<StepReport>,
    /// Whether anything on disk changed (or would).
    pub changed: bool,
    pub warnings: Vec<String>,
}

struct Planned {
    node_path: String,
    path: PathBuf,
    desired: Desired,
    current: Option<Desired>,
}

impl Planned {
    fn status(&self) -> FileStatus {
        match (&self.current, &self.desired) {
            (None, Desired::Absent) => FileStatus::Unchanged,
            (Some(_), Desired::Absent) => FileStatus::Removed,
            (None, _) => FileStatus::Created,
            (Some(c), d) if c == d => FileStatus::Unchanged,
            (Some(_), _) => FileStatus::Changed,
        }
    }
}

/// The host path of a node path under `root`, following the root's symbolic links as the node
/// would (the last component excepted: it is what gets replaced), refusing any way out of it.
fn confine(root: &Path, p: &NodePath) -> Result<PathBuf, RoleError> {
    resolve_in_root(root, Path::new(&p.as_str()[1..]), false).map_err(|e| RoleError::Outside {
        path: p.under(root),
        root: root.to_path_buf(),
        message: e.to_string(),
    })
}

/// Words for a shell line (cron's `/bin/sh`): one with a space is single-quoted. The words are
/// built from validated hosts, which hold no quote.
fn shell_words(words: &[String]) -> String {
    let quote = |w: &String| if w.contains(' ') { format!("'{w}'") } else { w.clone() };
    words.iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn node_path(p: &str) -> NodePath {
    NodePath::new(p).expect("a path this module spells is valid")
}

/// Plans and (unless `--dry-run`) applies a role.
pub fn apply(src: &RoleSource<'_>, opts: &RoleOptions) -> Result<RoleReport, RoleError> {
    let t = src.time;
    check_flags(opts)?;
    let on_host = opts.root == Path::new("/");
    if on_host && !opts.dry_run && !moa_engine::is_root() {
        return Err(RoleError::NotRoot);
    }
    let zone = opts.timezone.clone().or_else(|| t.timezone.clone());
    let upstream = if opts.upstream.is_empty() { t.upstream.clone() } else { opts.upstream.clone() };
    let ctx = Context {
        tool: env!("CARGO_PKG_VERSION").to_string(),
        distro: src.distro.to_string(),
        role: match opts.role {
            Role::Server => "server".into(),
            Role::Client => "client".into(),
        },
        config: t.config.clone(),
        driftfile: t.driftfile.clone(),
        upstream,
        allow: opts.allow.clone(),
        server: opts.server.clone(),
        sync_command: t.sync_command.clone(),
        sync_target: opts.server.as_ref().map(|h| shell_words(&t.flavor.sync_args(h))).unwrap_or_default(),
        orphan_stratum: FALLBACK_STRATUM,
        orphan_wait: t.orphan_wait,
    };
    let tpl = src.templates;
    let mode = opts.client_mode.unwrap_or_default();

    // Plan: render every file and check every precondition before anything changes.
    let mut early_warnings = Vec::new();
    let mut want: Vec<(NodePath, Desired)> = Vec::new();
    let daemon = match (opts.role, mode) {
        (Role::Server, _) => {
            want.push((t.config.clone(), Desired::Text(render::render(tpl, "server", tpl.server(), &ctx)?)));
            true
        }
        (Role::Client, ClientMode::Daemon) => {
            want.push((t.config.clone(), Desired::Text(render::render(tpl, "client", tpl.client(), &ctx)?)));
            true
        }
        (Role::Client, ClientMode::Cron) => {
            let tool = t.sync_command.program.under(&opts.root);
            let present = resolve_in_root(&opts.root, Path::new(&t.sync_command.program.as_str()[1..]), true)
                .is_ok_and(|p| p.is_file())
                || opts.incoming(t.sync_command.program.as_str());
            if !present {
                // A dry run of `install --role` comes before the package that brings the tool.
                if !opts.dry_run {
                    return Err(RoleError::SyncTool { path: tool });
                }
                early_warnings
                    .push(format!("{} is not there yet: install the bundle's packages first", tool.display()));
            }
            let cron = CRON_DAEMONS.iter().any(|d| {
                resolve_in_root(&opts.root, Path::new(&d[1..]), true).is_ok_and(|p| p.is_file()) || opts.incoming(d)
            });
            if !cron {
                return Err(RoleError::NoCron { root: opts.root.clone() });
            }
            want.push((node_path(CRON_FILE), Desired::Text(render::render(tpl, "cron", tpl.cron(), &ctx)?)));
            false
        }
    };
    if daemon {
        // A role switch takes back what the client's cron mode wrote.
        want.push((node_path(CRON_FILE), Desired::Absent));
    }
    if let Some(zone) = &zone {
        want.extend(zone_files(zone, t.timezone_file, opts)?);
    }
    let mut planned = plan_files(want, opts)?;
    // Nothing to take back: not worth a line.
    planned.retain(|p| !(p.desired == Desired::Absent && p.current.is_none()));

    // Steps, decided by what changes.
    let sm = system::service_manager(&opts.root);
    let config_changed = daemon && planned[0].status() != FileStatus::Unchanged;
    let zone_changed = planned.iter().any(|p| p.node_path == "/etc/localtime" && p.status() != FileStatus::Unchanged);
    let mut steps: Vec<Step> = Vec::new();
    for s in &t.conflicting_services {
        steps.extend(sm.stop_disable(s.as_str()));
    }
    if daemon {
        steps.extend(sm.enable_start(t.service.as_str(), config_changed));
    } else if let Some(server) = &opts.server {
        // The cron client syncs from the server alone: the package's daemon, which its package
        // started with the distro's pool servers, would fight over the clock.
        steps.extend(sm.stop_disable(t.service.as_str()));
        let argv = t.sync_command.argv(t.flavor.sync_args(server));
        steps.push(Step { purpose: format!("one sync with {server} now"), argv, may_fail: true });
    }
    if let (true, Some(zone)) = (zone_changed, &zone) {
        steps.extend(sm.set_timezone(zone.as_str()));
    }
    let changed = planned.iter().any(|p| p.status() != FileStatus::Unchanged);
    let files = write_files(&planned, opts.dry_run)?;
    let (steps, warnings) = run_steps(steps, opts, sm, early_warnings)?;
    Ok(RoleReport {
        role: opts.role,
        client_mode: (opts.role == Role::Client).then_some(mode),
        distro: src.distro.to_string(),
        root: opts.root.clone(),
        dry_run: opts.dry_run,
        timezone: zone.map(|z| z.to_string()),
        init: sm.name().to_string(),
        files,
        steps,
        changed,
        warnings,
    })
}

/// `/etc/localtime` (and `/etc/timezone`) for `zone`, whose zone file must be on the node (or come
/// with the packages being installed).
fn zone_files(zone: &ZoneName, timezone_file: bool, opts: &RoleOptions) -> Result<Vec<(NodePath, Desired)>, RoleError> {
    let zoneinfo = opts.root.join("usr/share/zoneinfo");
    let zone_file = resolve_in_root(&opts.root, &Path::new("usr/share/zoneinfo").join(zone.as_str()), true);
    if !zone_file.is_ok_and(|z| z.is_file()) && !opts.incoming(&format!("/usr/share/zoneinfo/{zone}")) {
        return Err(RoleError::ZoneMissing { zone: zone.to_string(), dir: zoneinfo });
    }
    let mut want = vec![(node_path("/etc/localtime"), Desired::Link(format!("../usr/share/zoneinfo/{zone}")))];
    if timezone_file {
        want.push((node_path("/etc/timezone"), Desired::Text(format!("{zone}\n"))));
    }
    Ok(want)
}

/// Where each file goes (confined under the root), with what is there now.
fn plan_files(want: Vec<(NodePath, Desired)>, opts: &RoleOptions) -> Result<Vec<Planned>, RoleError> {
    let root = &opts.root;
    let mut planned = Vec::new();
    for (node_path, desired) in want {
        let path = confine(root, &node_path)?;
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let node_parent = Path::new(node_path.as_str()).parent().map(|p| p.to_string_lossy().into_owned());
        if desired == Desired::Absent {
            // Only a file this tool wrote is taken back.
            let current = read_current(&path)
                .filter(|c| matches!(c, Desired::Text(t) if t.lines().next().is_some_and(|l| l.contains(OWN_MARK))));
            planned.push(Planned { node_path: node_path.to_string(), path, desired, current });
            continue;
        }
        if !parent.is_dir() && !node_parent.is_some_and(|p| opts.incoming(&p)) {
            let hint = if node_path.is_in("/etc/cron.d/") {
                "install cron (cronie on CentOS, cron on Ubuntu), or use --client-mode daemon".to_string()
            } else {
                format!("is {} the root of a node?", root.display())
            };
            return Err(RoleError::MissingDir { path: parent, hint });
        }
        let current = read_current(&path);
        planned.push(Planned { node_path: node_path.to_string(), path, desired, current });
    }
    Ok(planned)
}

/// Backs up and writes what changes (unless a dry run); the report of each file.
fn write_files(planned: &[Planned], dry_run: bool) -> Result<Vec<FileReport>, RoleError> {
    // Every directory written into must take it, checked before the first write: a role
    // applies whole or not at all.
    for p in planned.iter().filter(|p| !dry_run && p.status() != FileStatus::Unchanged) {
        let dir = moa_model::files::parent_dir(&p.path);
        if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
            return Err(RoleError::NotWritable { dir });
        }
    }
    let mut files = Vec::new();
    for p in planned {
        let status = p.status();
        let diff = if status == FileStatus::Unchanged { String::new() } else { diff(p) };
        let mut backup = None;
        if status == FileStatus::Removed && !dry_run {
            fs_err::remove_file(&p.path).map_err(|source| RoleError::Write { path: p.path.clone(), source })?;
        } else if status != FileStatus::Unchanged && !dry_run {
            backup = backup_once(&p.path)?;
            write(&p.path, &p.desired)?;
        }
        let bak = backup.or_else(|| Some(backup_path(&p.path)).filter(|b| b.symlink_metadata().is_ok()));
        files.push(FileReport { node_path: p.node_path.clone(), path: p.path.clone(), status, backup: bak, diff });
    }
    Ok(files)
}

/// Runs the steps on this machine, or reports them (dry run, or `--root`).
fn run_steps(
    steps: Vec<Step>,
    opts: &RoleOptions,
    sm: &dyn system::ServiceManager,
    mut warnings: Vec<String>,
) -> Result<(Vec<StepReport>, Vec<String>), RoleError> {
    let on_host = opts.root == Path::new("/");
    let mut reports = Vec::new();
    for s in steps {
        let offline = (!on_host).then(|| sm.offline(&s, &opts.root)).flatten();
        let r = if opts.dry_run {
            StepReport { step: offline.unwrap_or(s), status: "would run".into(), output: String::new() }
        } else if let Some(off) = offline.filter(|_| moa_engine::first_on_path(&["systemctl"]).is_some()) {
            let r = system::run(&off)?;
            if r.status == "failed" {
                warnings.push(format!("`{}` failed ({}): {}", r.step.command_line(), r.step.purpose, r.output));
            }
            r
        } else if !on_host {
            StepReport { step: s, status: "skipped (--root)".into(), output: String::new() }
        } else {
            let r = system::run(&s)?;
            if r.status == "failed" {
                warnings.push(format!("`{}` failed ({}): {}", r.step.command_line(), r.step.purpose, r.output));
            }
            r
        };
        reports.push(r);
    }
    Ok((reports, warnings))
}

/// What is at `path` now. A symbolic link is read as a link, never followed: on a node root its
/// target would be resolved on this machine.
fn read_current(path: &Path) -> Option<Desired> {
    let meta = path.symlink_metadata().ok()?;
    if meta.file_type().is_symlink() {
        return fs_err::read_link(path).ok().map(|t| Desired::Link(t.to_string_lossy().into_owned()));
    }
    let bytes = moa_model::files::read_at_most(path, 1 << 20).ok()?;
    let text = match bytes {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => "(a file larger than 1 MiB)\n".into(),
    };
    // A regular /etc/localtime (a copy of a zone file) is text here: it differs from the link.
    Some(Desired::Text(text))
}

fn diff(p: &Planned) -> String {
    let show = |d: &Option<Desired>| match d {
        None => String::new(),
        Some(Desired::Text(t)) if t.contains('\0') || t.starts_with("TZif") => "(binary zone file)\n".into(),
        Some(Desired::Text(t)) => t.clone(),
        Some(Desired::Link(t)) => format!("-> {t}\n"),
        Some(Desired::Absent) => String::new(),
    };
    let (old, new) = (show(&p.current), show(&Some(p.desired.clone())));
    let from = if p.current.is_some() { p.node_path.clone() } else { "/dev/null".into() };
    let to = if p.desired == Desired::Absent { "/dev/null".into() } else { p.node_path.clone() };
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header(&from, &to).to_string()
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

/// Keeps the first version this role replaces; a later run never overwrites that backup.
fn backup_once(path: &Path) -> Result<Option<PathBuf>, RoleError> {
    let bak = backup_path(path);
    let werr = |source| RoleError::Write { path: bak.clone(), source };
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(None);
    };
    if bak.symlink_metadata().is_ok() {
        return Ok(Some(bak));
    }
    if meta.file_type().is_symlink() {
        let target = fs_err::read_link(path).map_err(werr)?;
        fs_err::os::unix::fs::symlink(target, &bak).map_err(werr)?;
    } else {
        fs_err::copy(path, &bak).map_err(werr)?;
    }
    Ok(Some(bak))
}

/// Writes whole or not at all: text through [`moa_model::files::write_atomic`], a link made beside
/// the path and renamed over it.
fn write(path: &Path, d: &Desired) -> Result<(), RoleError> {
    let werr = |source| RoleError::Write { path: path.to_path_buf(), source };
    match d {
        Desired::Text(t) => moa_model::files::write_atomic(path, t.as_bytes(), 0o644).map_err(werr)?,
        Desired::Absent => {}
        Desired::Link(target) => {
            let tmp = moa_model::files::parent_dir(path).join(format!(
                "{}link-{}",
                moa_model::files::PREFIX,
                std::process::id()
            ));
            let _ = fs_err::remove_file(&tmp);
            fs_err::os::unix::fs::symlink(target, &tmp).map_err(werr)?;
            fs_err::rename(&tmp, path).map_err(werr)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
