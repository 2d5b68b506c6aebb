//! Values that reach a node's configuration files and command lines: a [`Host`] (name or
//! address), a [`Network`] (`--allow 192.168.1.0/24`), a [`ZoneName`] (`Asia/Shanghai`), a
//! [`NodePath`] (`/etc/ntp.conf`), a [`ServiceName`] (`ntpd`) and a [`SyncCommand`]
//! (`/usr/sbin/ntpdate -u`).
//!
//! Whatever reaches `/etc/ntp.conf`, a cron line or a service command passes through one of
//! these, whether it came from a flag, a manifest or a bundle, so a value can never add a
//! directive, a second command, an option, or a path outside the root or the zoneinfo tree.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{shown, validated_string, TypeError};

fn is_host(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

validated_string!(
    /// A host name (RFC 1123 labels) or an IPv4/IPv6 address.
    Host,
    is_host,
    TypeError::Host
);

/// A network allowed to query the server: ntpd's `restrict ADDR mask MASK`. Read from a string
/// (`192.168.1.0/24`); serialized with its parts, which is what the templates use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Network {
    /// As given, normalised (`192.168.1.0/24`).
    pub cidr: String,
    /// The network address with the host bits cleared.
    pub addr: String,
    /// The prefix as a mask (`255.255.255.0`, `ffff:ffff::`).
    pub mask: String,
    pub ipv6: bool,
}

impl Network {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let bad = || TypeError::Network(shown(s));
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32u32 } else { 128 };
        let prefix: u32 = match p {
            Some(p) => p.parse().ok().filter(|n| *n <= max && !p.starts_with('+')).ok_or_else(bad)?,
            None => max,
        };
        Ok(match ip {
            IpAddr::V4(v4) => {
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
                let net = std::net::Ipv4Addr::from(u32::from(v4) & mask);
                let mask = std::net::Ipv4Addr::from(mask);
                Self { cidr: format!("{net}/{prefix}"), addr: net.to_string(), mask: mask.to_string(), ipv6: false }
            }
            IpAddr::V6(v6) => {
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
                let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                let mask = std::net::Ipv6Addr::from(mask);
                Self { cidr: format!("{net}/{prefix}"), addr: net.to_string(), mask: mask.to_string(), ipv6: true }
            }
        })
    }
}

impl FromStr for Network {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}
impl TryFrom<String> for Network {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::new(&s)
    }
}

/// A name made of `/`-separated parts, none empty, `.` or `..`, each from `alphabet`.
fn plain_parts(s: &str, alphabet: &str) -> bool {
    s.split('/').all(|c| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || alphabet.contains(ch))
    })
}

validated_string!(
    /// A tz database name: `Area/Location` components under `/usr/share/zoneinfo`.
    ZoneName,
    |s| !s.is_empty() && s.len() <= 128 && plain_parts(s, "_+-."),
    TypeError::Zone
);

validated_string!(
    /// An absolute, normalised path on the node (`/etc/ntp.conf`): no `.`, `..` or empty parts,
    /// so joined under a root it names a path under that root (symbolic links are the writer's
    /// business: see `roles::confine`).
    NodePath,
    |s| s.len() <= 256 && s.strip_prefix('/').is_some_and(|rest| plain_parts(rest, "._+~@-")),
    TypeError::NodePath
);

impl NodePath {
    /// The path under `root` (`/srv/node` + `/etc/ntp.conf` → `/srv/node/etc/ntp.conf`).
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0[1..])
    }
    /// Whether it lies in the directory `dir` (`/etc/`), at any depth.
    pub fn is_in(&self, dir: &str) -> bool {
        self.0.starts_with(dir) && dir.ends_with('/')
    }
}

validated_string!(
    /// A systemd unit or init script name.
    ServiceName,
    |s| {
        !s.is_empty()
            && s.len() <= 128
            && !s.starts_with(['-', '.'])
            && s.chars().all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c))
    },
    TypeError::Service
);

/// The cron client's one-shot sync tool: an absolute program path and a few plain options; the
/// server is appended as the last argument. Shown and stored as one space-separated string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SyncCommand {
    pub program: NodePath,
    pub args: Vec<String>,
}

impl SyncCommand {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let bad = || TypeError::SyncCommand(shown(s));
        // Only plain spaces separate words: a tab or newline is refused, not split on.
        if s.len() > 512 || s.chars().any(|c| c.is_whitespace() && c != ' ') {
            return Err(bad());
        }
        let mut words = s.split(' ').filter(|w| !w.is_empty());
        let program = words.next().and_then(|p| NodePath::new(p).ok()).ok_or_else(bad)?;
        let args: Vec<String> = words.map(str::to_string).collect();
        let arg_ok = |a: &String| {
            !a.is_empty() && a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || "_./=:,+-".contains(c))
        };
        if args.len() > 8 || !args.iter().all(arg_ok) {
            return Err(bad());
        }
        Ok(Self { program, args })
    }

    /// The argv that syncs once: the command, then `tail` (the server, or a chrony directive).
    pub fn argv(&self, tail: Vec<String>) -> Vec<String> {
        let mut v = vec![self.program.to_string()];
        v.extend(self.args.iter().cloned());
        v.extend(tail);
        v
    }
}

impl fmt::Display for SyncCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program.as_str())?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}
impl TryFrom<String> for SyncCommand {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        Self::new(&s)
    }
}
impl From<SyncCommand> for String {
    fn from(c: SyncCommand) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_accept_names_and_addresses_only() {
        for ok in ["10.0.0.5", "ntp1.moa.local", "0.centos.pool.ntp.org", "fd00::1", "a-b.c.", "LOCALHOST"] {
            assert!(Host::new(ok).is_ok(), "{ok}");
        }
        // Anything that could add a directive, an option or a second command is refused.
        for bad in ["", "-x", "a b", "host\nserver evil", "a;reboot", "a..b", "x_y", "$(id)", "h/1", "a-.b"] {
            assert_eq!(Host::new(bad), Err(TypeError::Host(shown(bad))), "{bad:?}");
        }
    }

    #[test]
    fn networks_become_address_and_mask() {
        let n = Network::new("192.168.1.0/24").unwrap();
        assert_eq!((n.addr.as_str(), n.mask.as_str(), n.ipv6), ("192.168.1.0", "255.255.255.0", false));
        // Host bits are cleared, as ntpd would do, so the file says what is meant.
        let n = Network::new("10.1.2.3/8").unwrap();
        assert_eq!((n.cidr.as_str(), n.addr.as_str(), n.mask.as_str()), ("10.0.0.0/8", "10.0.0.0", "255.0.0.0"));
        let n = Network::new("172.16.5.9").unwrap();
        assert_eq!(n.mask, "255.255.255.255");
        let n = Network::new("fd00:1::/32").unwrap();
        assert_eq!((n.addr.as_str(), n.mask.as_str(), n.ipv6), ("fd00:1::", "ffff:ffff::", true));
        for bad in
            ["192.168.1.0/33", "192.168.1/24", "fd00::/129", "any", "10.0.0.0/x", "10.0.0.0/24 nomodify", "1.2.3.4/+8"]
        {
            assert!(Network::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zone_names_stay_inside_zoneinfo() {
        for ok in ["Asia/Shanghai", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+8"] {
            assert!(ZoneName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../../etc/shadow", "Asia//Shanghai", "Asia/Shang hai", "Asia/..", "UTC\nx"] {
            assert!(ZoneName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_paths_are_absolute_and_normalised() {
        for ok in ["/etc/ntp.conf", "/etc/ntpsec/ntp.conf", "/var/lib/ntp/drift", "/usr/sbin/ntpdate"] {
            assert!(NodePath::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "etc/ntp.conf",
            "/etc/../../x",
            "/etc/./ntp.conf",
            "/etc//ntp.conf",
            "/etc/ntp.conf\n",
            "/etc/a b",
        ] {
            assert!(NodePath::new(bad).is_err(), "{bad:?}");
        }
        let p = NodePath::new("/etc/ntp.conf").unwrap();
        assert_eq!(p.under(Path::new("/srv/n")), Path::new("/srv/n/etc/ntp.conf"));
        assert!(p.is_in("/etc/") && !p.is_in("/et"));
    }

    #[test]
    fn sync_commands_cannot_add_a_second_command() {
        let c = SyncCommand::new("/usr/sbin/ntpdate -u").unwrap();
        assert_eq!(c.argv(vec!["10.0.0.5".into()]), ["/usr/sbin/ntpdate", "-u", "10.0.0.5"]);
        assert_eq!(c.to_string(), "/usr/sbin/ntpdate -u");
        for bad in [
            "ntpdate -u",
            "/usr/sbin/ntpdate -u; touch /tmp/pwned",
            "/usr/sbin/ntpdate\n* * * * * root id",
            "/usr/sbin/ntpdate $(id)",
            "/usr/sbin/ntpdate -u|sh",
            "/usr/sbin/ntpdate\t-u",
            "/usr/sbin/ntpdate `id`",
            "/usr/sbin/ntpdate a b c d e f g h i",
        ] {
            assert!(SyncCommand::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_names_are_plain() {
        for ok in ["ntpd", "systemd-timesyncd", "chrony", "getty@tty1.service"] {
            assert!(ServiceName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-now", "ntpd;reboot", "a b", "ntpd\n", "../x"] {
            assert!(ServiceName::new(bad).is_err(), "{bad:?}");
        }
    }
}
