//! Validated values the roles put into configuration files and command lines: a [`Host`] (name or
//! address), a [`Network`] (`--allow 192.168.1.0/24`) and a [`ZoneName`] (`Asia/Shanghai`).
//!
//! Whatever reaches `/etc/ntp.conf` or a cron line passes through one of these, so a value can
//! never add a directive, a second command or a path outside the zoneinfo tree.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    #[error(
        "`{0}` is not a host name or IP address (letters, digits, `.`, `-`, `:` only; e.g. 10.0.0.5 or ntp1.moa.local)"
    )]
    Host(String),
    #[error("`{0}` is not a network in CIDR form (e.g. 192.168.1.0/24 or fd00::/8)")]
    Network(String),
    #[error("`{0}` is not a time zone name (e.g. Asia/Shanghai, UTC; see /usr/share/zoneinfo)")]
    Zone(String),
}

/// A host name (RFC 1123 labels) or an IPv4/IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Host(String);

impl Host {
    pub fn new(s: &str) -> Result<Self, ParamError> {
        let bad = || ParamError::Host(s.to_string());
        if s.parse::<IpAddr>().is_ok() {
            return Ok(Self(s.to_string()));
        }
        if s.is_empty() || s.len() > 253 {
            return Err(bad());
        }
        for label in s.trim_end_matches('.').split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(bad());
            }
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Host {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A network allowed to query the server: ntpd's `restrict ADDR mask MASK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub fn new(s: &str) -> Result<Self, ParamError> {
        let bad = || ParamError::Network(s.to_string());
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = a.parse().map_err(|_| bad())?;
        let (bits, max) = match ip {
            IpAddr::V4(_) => (32u32, 32u32),
            IpAddr::V6(_) => (128, 128),
        };
        let prefix: u32 = match p {
            Some(p) => p.parse().map_err(|_| bad()).and_then(|n| if n <= max { Ok(n) } else { Err(bad()) })?,
            None => bits,
        };
        match ip {
            IpAddr::V4(v4) => {
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
                let net = std::net::Ipv4Addr::from(u32::from(v4) & mask);
                Ok(Self {
                    cidr: format!("{net}/{prefix}"),
                    addr: net.to_string(),
                    mask: std::net::Ipv4Addr::from(mask).to_string(),
                    ipv6: false,
                })
            }
            IpAddr::V6(v6) => {
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
                let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                Ok(Self {
                    cidr: format!("{net}/{prefix}"),
                    addr: net.to_string(),
                    mask: std::net::Ipv6Addr::from(mask).to_string(),
                    ipv6: true,
                })
            }
        }
    }
}

impl FromStr for Network {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A tz database name: `Area/Location` components under `/usr/share/zoneinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ZoneName(String);

impl ZoneName {
    pub fn new(s: &str) -> Result<Self, ParamError> {
        let ok = !s.is_empty()
            && s.split('/').all(|c| {
                !c.is_empty()
                    && c != "."
                    && c != ".."
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "_+-.".contains(ch))
            });
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(ParamError::Zone(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ZoneName {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
            assert_eq!(Host::new(bad), Err(ParamError::Host(bad.into())), "{bad:?}");
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
        for bad in ["192.168.1.0/33", "192.168.1/24", "fd00::/129", "any", "10.0.0.0/x", "10.0.0.0/24 nomodify"] {
            assert!(Network::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zone_names_stay_inside_zoneinfo() {
        for ok in ["Asia/Shanghai", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+8"] {
            assert!(ZoneName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../../etc/shadow", "Asia//Shanghai", "Asia/Shang hai", "Asia/.."] {
            assert!(ZoneName::new(bad).is_err(), "{bad}");
        }
    }
}
