//! A manifest's `[time]` section: which NTP daemon the distro ships and how the roles
//! configure it. Read from a manifest or from a bundle's `bundle.json`, and trusted from
//! neither: every field is a validated type, and [`TimeSpec::validate`] bounds the rest.

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::types::node::{Host, NodePath, ServiceName, SyncCommand, ZoneName};

/// Which NTP daemon the distro ships: the classic ntpd (with the local-clock driver
/// `127.127.1.0`), ntpsec (no refclock for the local clock: orphan mode serves time when
/// upstream is gone) or chrony (`local stratum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeFlavor {
    Ntp,
    Ntpsec,
    /// chronyd (EL8 and later, where ntp is gone): `local stratum` serves the host's clock when
    /// upstream is gone; the cron client runs `chronyd -q 'server HOST iburst'`.
    Chrony,
}

impl TimeFlavor {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeFlavor::Ntp => "ntp",
            TimeFlavor::Ntpsec => "ntpsec",
            TimeFlavor::Chrony => "chrony",
        }
    }

    /// What follows the sync command to sync once with `server`: the host (ntpdate, ntpdig), or
    /// one chrony directive (`chronyd -q 'server HOST iburst'`).
    pub fn sync_args(self, server: &Host) -> Vec<String> {
        match self {
            TimeFlavor::Ntp | TimeFlavor::Ntpsec => vec![server.to_string()],
            TimeFlavor::Chrony => vec![format!("server {server} iburst")],
        }
    }
}

/// `[time]`: how the bundle's time service is configured on this distro (the roles). Read from a
/// manifest or from a bundle's `bundle.json`, and trusted from neither: every field is a
/// validated type, and [`TimeSpec::validate`] bounds the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub flavor: TimeFlavor,
    /// The daemon's service (systemd unit or init script) name: `ntpd`, `ntp`, `ntpsec`.
    pub service: ServiceName,
    /// The daemon's configuration file: a `.conf` file under `/etc/`.
    #[serde(default = "default_ntp_conf")]
    pub config: NodePath,
    /// Where the daemon keeps its drift (a directive value; moa-bundle never writes it).
    pub driftfile: NodePath,
    /// Default upstream servers of the server role (`--upstream` replaces them).
    pub upstream: Vec<Host>,
    /// Services that hold port 123 or discipline the clock too, stopped and disabled by the
    /// server role and the daemon client (CentOS 7 minimal runs `chronyd`).
    #[serde(default)]
    pub conflicting_services: Vec<ServiceName>,
    /// The one-shot sync tool of the cron client (`ntpdate -u`, `ntpdig`, `chronyd -q`), as a
    /// command line that [`TimeFlavor::sync_args`] completes.
    pub sync_command: SyncCommand,
    /// Debian and Ubuntu also keep the zone's name in `/etc/timezone`.
    #[serde(default)]
    pub timezone_file: bool,
    /// The time zone both roles set (`--timezone` replaces it). None: a role leaves the node's
    /// time zone alone unless `--timezone` is given. Only the seed's own manifests (centos7,
    /// ubuntu1604) set one, Asia/Shanghai, as the runbook does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<ZoneName>,
    /// ntpsec: seconds without any source before the server serves its own clock (ntpd's
    /// `tos orphanwait`, 300 when unset).
    #[serde(default)]
    pub orphan_wait: Option<u32>,
}

fn default_ntp_conf() -> NodePath {
    NodePath::new("/etc/ntp.conf").expect("a valid path")
}

impl TimeSpec {
    /// What the types cannot say alone: the one file the roles write must be a configuration
    /// file (a `.conf` under `/etc/`), and how many of everything.
    pub fn validate(&self) -> Result<(), String> {
        if !self.config.is_in("/etc/") || !self.config.as_str().ends_with(".conf") {
            return Err(format!("[time].config `{}` must be a .conf file under /etc/", self.config));
        }
        if self.upstream.is_empty() {
            return Err("[time].upstream is empty: list the servers the server role follows".into());
        }
        limits::check("[time].upstream's length", self.upstream.len() as u64, limits::UPSTREAMS as u64)?;
        limits::check(
            "[time].conflicting_services' length",
            self.conflicting_services.len() as u64,
            limits::SERVICES as u64,
        )?;
        if let Some(w) = self.orphan_wait {
            limits::check("[time].orphan_wait", w.into(), limits::ORPHAN_WAIT_SECS.into())?;
        }
        Ok(())
    }
}
