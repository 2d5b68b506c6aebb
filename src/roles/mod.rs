//! The time service's roles, applied after the packages are on the node: `server` (ntpd following
//! upstream, the local clock as fallback, chosen networks may query) and `client` (an hourly sync
//! from `/etc/cron.d`, or ntpd following only the server), plus the time zone for both.
//!
//! A role is planned first (files rendered from the templates, every precondition checked), then
//! applied: each file is backed up once (`.moa-bak`), written atomically, and left alone when it
//! already says the same, so re-running changes nothing. Service actions are [`system::Step`]s:
//! run on `/`, printed under `--root` or `--dry-run`.

pub mod params;
pub mod render;
pub mod system;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::TimeSpec;
use params::{Host, Network, ZoneName};
use render::{Context, Templates};
use system::{Step, StepReport};

pub const BACKUP_SUFFIX: &str = ".moa-bak";
pub const CRON_FILE: &str = "/etc/cron.d/moa-ntpdate";
/// The stratum the server serves its own clock at when upstream is gone.
pub const FALLBACK_STRATUM: u8 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// ntpd follows upstream, falls back to the local clock, serves the cluster.
    Server,
    /// Follows the moa time server (--server).
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
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
    #[error("--server is the client role's server; the server role follows --upstream HOST (default: the manifest's upstream servers)")]
    ClientFlag,
    #[error("template {origin}: {message}")]
    Template { origin: String, message: String },
    #[error("time zone `{zone}` is not in {}: check the name (`timedatectl list-timezones`) or install tzdata", dir.display())]
    ZoneMissing { zone: String, dir: PathBuf },
    #[error("{} does not exist: {hint}", path.display())]
    MissingDir { path: PathBuf, hint: String },
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
    #[error("configuring the time service changes /etc and services on this node: run as root (or add --dry-run to see what it would do)")]
    NotRoot,
}

/// Checks that need no files: the flags fit the role. `install --role` calls this before it
/// installs anything.
pub fn check_flags(opts: &RoleOptions) -> Result<(), RoleError> {
    match opts.role {
        Role::Server if opts.server.is_some() => Err(RoleError::ClientFlag),
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
    pub client_mode: ClientMode,
    /// Replaces the manifest's time zone.
    pub timezone: Option<ZoneName>,
    pub root: PathBuf,
    pub dry_run: bool,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Created,
    Changed,
    Unchanged,
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
    pub timezone: String,
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
        match &self.current {
            None => FileStatus::Created,
            Some(c) if *c == self.desired => FileStatus::Unchanged,
            Some(_) => FileStatus::Changed,
        }
    }
}

/// Plans and (unless `--dry-run`) applies a role.
pub fn apply(src: &RoleSource<'_>, opts: &RoleOptions) -> Result<RoleReport, RoleError> {
    let t = src.time;
    check_flags(opts)?;
    let on_host = opts.root == Path::new("/");
    if on_host && !opts.dry_run && !crate::install::is_root() {
        return Err(RoleError::NotRoot);
    }
    let zone = match &opts.timezone {
        Some(z) => z.clone(),
        None => ZoneName::new(&t.timezone)
            .map_err(|e| RoleError::Template { origin: "[time].timezone".into(), message: e.to_string() })?,
    };
    let upstream = if opts.upstream.is_empty() {
        t.upstream
            .iter()
            .map(|h| Host::new(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RoleError::Template { origin: "[time].upstream".into(), message: e.to_string() })?
    } else {
        opts.upstream.clone()
    };
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
        orphan_stratum: FALLBACK_STRATUM,
        orphan_wait: t.orphan_wait,
    };
    let under = |p: &str| opts.root.join(p.trim_start_matches('/'));
    let tpl = src.templates;

    // Plan: render every file and check every precondition before anything changes.
    let mut early_warnings = Vec::new();
    let mut want: Vec<(String, Desired)> = Vec::new();
    let daemon = match (opts.role, opts.client_mode) {
        (Role::Server, _) => {
            want.push((t.config.clone(), Desired::Text(render::render(tpl, "server", tpl.server(), &ctx)?)));
            true
        }
        (Role::Client, ClientMode::Daemon) => {
            want.push((t.config.clone(), Desired::Text(render::render(tpl, "client", tpl.client(), &ctx)?)));
            true
        }
        (Role::Client, ClientMode::Cron) => {
            let tool = t.sync_command.split_whitespace().next().unwrap_or_default();
            if !under(tool).exists() {
                // A dry run of `install --role` comes before the package that brings the tool.
                if !opts.dry_run {
                    return Err(RoleError::SyncTool { path: under(tool) });
                }
                early_warnings
                    .push(format!("{} is not there yet: install the bundle's packages first", under(tool).display()));
            }
            want.push((CRON_FILE.into(), Desired::Text(render::render(tpl, "cron", tpl.cron(), &ctx)?)));
            false
        }
    };
    let zoneinfo = under("/usr/share/zoneinfo");
    if !zoneinfo.join(zone.as_str()).is_file() {
        return Err(RoleError::ZoneMissing { zone: zone.to_string(), dir: zoneinfo });
    }
    want.push(("/etc/localtime".into(), Desired::Link(format!("../usr/share/zoneinfo/{zone}"))));
    if t.timezone_file {
        want.push(("/etc/timezone".into(), Desired::Text(format!("{zone}\n"))));
    }
    let mut planned = Vec::new();
    for (node_path, desired) in want {
        let path = under(&node_path);
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if !parent.is_dir() {
            let hint = if node_path.starts_with("/etc/cron.d/") {
                "install cron (cronie on CentOS, cron on Ubuntu), or use --client-mode daemon".to_string()
            } else {
                format!("is {} the root of a node?", opts.root.display())
            };
            return Err(RoleError::MissingDir { path: parent, hint });
        }
        let current = read_current(&path, &desired);
        planned.push(Planned { node_path, path, desired, current });
    }

    // Steps, decided by what changes.
    let sm = system::service_manager();
    let config_changed = daemon && planned[0].status() != FileStatus::Unchanged;
    let zone_changed = planned.iter().any(|p| p.node_path == "/etc/localtime" && p.status() != FileStatus::Unchanged);
    let mut steps: Vec<Step> = Vec::new();
    if daemon {
        for s in &t.conflicting_services {
            steps.extend(sm.stop_disable(s));
        }
        steps.extend(sm.enable_start(&t.service, config_changed));
    } else if let Some(server) = &opts.server {
        let mut argv: Vec<String> = t.sync_command.split_whitespace().map(String::from).collect();
        argv.push(server.to_string());
        steps.push(Step { purpose: format!("one sync with {server} now"), argv, may_fail: true });
    }
    if zone_changed {
        steps.extend(sm.set_timezone(zone.as_str()));
    }

    // Apply.
    let mut files = Vec::new();
    let changed = planned.iter().any(|p| p.status() != FileStatus::Unchanged);
    for p in &planned {
        let status = p.status();
        let diff = if status == FileStatus::Unchanged { String::new() } else { diff(p) };
        let mut backup = None;
        if status != FileStatus::Unchanged && !opts.dry_run {
            backup = backup_once(&p.path)?;
            write(&p.path, &p.desired)?;
        }
        let bak = backup.or_else(|| Some(backup_path(&p.path)).filter(|b| b.symlink_metadata().is_ok()));
        files.push(FileReport { node_path: p.node_path.clone(), path: p.path.clone(), status, backup: bak, diff });
    }
    let mut reports = Vec::new();
    let mut warnings = early_warnings;
    for s in steps {
        let r = if opts.dry_run {
            StepReport { step: s, status: "would run".into(), output: String::new() }
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
    Ok(RoleReport {
        role: opts.role,
        client_mode: (opts.role == Role::Client).then_some(opts.client_mode),
        distro: src.distro.to_string(),
        root: opts.root.clone(),
        dry_run: opts.dry_run,
        timezone: zone.to_string(),
        init: sm.name().to_string(),
        files,
        steps: reports,
        changed,
        warnings,
    })
}

fn read_current(path: &Path, desired: &Desired) -> Option<Desired> {
    let meta = path.symlink_metadata().ok()?;
    match desired {
        Desired::Link(_) if meta.file_type().is_symlink() => {
            std::fs::read_link(path).ok().map(|t| Desired::Link(t.to_string_lossy().into_owned()))
        }
        // A regular /etc/localtime (a copy of a zone file) differs from the link we want.
        Desired::Link(_) => Some(Desired::Text(String::from_utf8_lossy(&std::fs::read(path).ok()?).into_owned())),
        Desired::Text(_) => Some(Desired::Text(String::from_utf8_lossy(&std::fs::read(path).ok()?).into_owned())),
    }
}

fn diff(p: &Planned) -> String {
    let show = |d: &Option<Desired>| match d {
        None => String::new(),
        Some(Desired::Text(t)) if t.contains('\0') || t.starts_with("TZif") => "(binary zone file)\n".into(),
        Some(Desired::Text(t)) => t.clone(),
        Some(Desired::Link(t)) => format!("-> {t}\n"),
    };
    let (old, new) = (show(&p.current), show(&Some(p.desired.clone())));
    let from = if p.current.is_some() { p.node_path.clone() } else { "/dev/null".into() };
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header(&from, &p.node_path).to_string()
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
        let target = std::fs::read_link(path).map_err(werr)?;
        std::os::unix::fs::symlink(target, &bak).map_err(werr)?;
    } else {
        std::fs::copy(path, &bak).map_err(werr)?;
    }
    Ok(Some(bak))
}

/// Writes through a temporary file in the same directory and renames it over `path`.
fn write(path: &Path, d: &Desired) -> Result<(), RoleError> {
    let werr = |source| RoleError::Write { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("/"));
    match d {
        Desired::Text(t) => {
            let mut tmp = tempfile::Builder::new().prefix(".moa-").tempfile_in(dir).map_err(werr)?;
            tmp.write_all(t.as_bytes()).map_err(werr)?;
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(werr)?;
            tmp.as_file().sync_all().map_err(werr)?;
            tmp.persist(path).map_err(|e| werr(e.error))?;
        }
        Desired::Link(target) => {
            let tmp = dir.join(format!(".moa-link-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).map_err(werr)?;
            std::fs::rename(&tmp, path).map_err(werr)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
