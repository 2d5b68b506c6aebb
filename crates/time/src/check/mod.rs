//! `moa-bundle check`: the time service's health for people and for monitoring. Runs `ntpq -pn`
//! and `ntpstat` (or `chronyc -n sources` where chronyd is the daemon), parses them, and judges the
//! result with the Nagios plugin convention: exit 0 ok, 1 warning, 2 critical, 3 unknown.
//!
//! Parsing and judging are pure functions over the tools' text, tested on the seed's real output.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// Nagios plugin states, in order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// One line of `ntpq -pn` (or `chronyc -n sources`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    /// Tally code: `*` system peer, `+` candidate, `-` outlier, `x` falseticker, ` ` rejected…
    pub tally: char,
    pub remote: String,
    pub refid: String,
    pub stratum: u8,
    /// Reachability register, octal as printed (377 = the last 8 polls answered).
    pub reach: u16,
    /// Milliseconds.
    pub offset_ms: f64,
    pub jitter_ms: f64,
    /// The local clock driver (`127.127.1.0`, `LOCAL(0)`).
    pub local_clock: bool,
}

impl Peer {
    pub fn selected(&self) -> bool {
        matches!(self.tally, '*' | 'o')
    }
    /// Never answered: ntpd shows refid `.INIT.` until the first reply.
    pub fn unreachable(&self) -> bool {
        self.refid == ".INIT." || self.reach == 0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not parse line {line} of `{tool}` output: `{text}`")]
pub struct ParseError {
    pub tool: &'static str,
    pub line: usize,
    pub text: String,
}

/// The non-empty lines below the `=====` rule of an `ntpq -p` or `chronyc sources` table, with
/// their 0-based line numbers.
fn table_rows(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().skip_while(|(_, l)| !l.starts_with("====")).skip(1).filter(|(_, l)| !l.trim().is_empty())
}

/// Parses `ntpq -p` / `ntpq -pn` output.
pub fn parse_ntpq(text: &str) -> Result<Vec<Peer>, ParseError> {
    let mut peers = Vec::new();
    for (i, line) in table_rows(text) {
        let bad = || ParseError { tool: "ntpq", line: i + 1, text: line.to_string() };
        let tally = line.chars().next().ok_or_else(bad)?;
        let f: Vec<&str> = line[tally.len_utf8()..].split_whitespace().collect();
        // remote refid st t when poll reach delay offset jitter
        if f.len() != 10 {
            return Err(bad());
        }
        let num = |s: &str| s.trim_start_matches('+').parse::<f64>().map_err(|_| bad());
        let remote = f[0].to_string();
        peers.push(Peer {
            tally,
            local_clock: remote.starts_with("127.127.1.") || remote.starts_with("LOCAL("),
            refid: f[1].to_string(),
            stratum: f[2].parse().map_err(|_| bad())?,
            reach: u16::from_str_radix(f[6], 8).map_err(|_| bad())?,
            offset_ms: num(f[8])?,
            jitter_ms: num(f[9])?,
            remote,
        });
    }
    Ok(peers)
}

/// What `ntpstat` said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NtpStat {
    pub synchronised: bool,
    pub stratum: Option<u8>,
    /// "time correct to within N ms".
    pub within_ms: Option<u64>,
    pub text: String,
}

pub fn parse_ntpstat(text: &str) -> NtpStat {
    let t = text.trim();
    let synchronised = t.starts_with("synchronised");
    let after =
        |key: &str| t.split(key).nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse::<u64>().ok());
    NtpStat {
        synchronised,
        stratum: after("at stratum ").and_then(|s| u8::try_from(s).ok()),
        within_ms: after("correct to within "),
        text: t.to_string(),
    }
}

/// The system variables of `ntpq -c rv` that say what the daemon itself serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SysVars {
    /// `00`..`10` synchronised, `11` not.
    pub leap: Option<String>,
    pub stratum: Option<u8>,
    pub refid: Option<String>,
    pub offset_ms: Option<f64>,
}

impl SysVars {
    pub fn synchronised(&self) -> bool {
        self.leap.as_deref().is_some_and(|l| l != "11") && self.stratum.is_some_and(|s| s < 16)
    }
    /// Serving its own clock: ntpsec's orphan mode (refid 127.0.0.1), the `LOCL` driver, or
    /// chrony's `local` directive (reference ID 7F7F0101, chronyc(1)).
    pub fn own_clock(&self) -> bool {
        self.synchronised()
            && matches!(self.refid.as_deref(), Some("127.0.0.1" | "LOOP" | "LOCL" | ".LOCL." | "7F7F0101"))
    }
}

/// Parses `ntpq -c rv` (`associd=0 status=… leap=00, stratum=10, …, refid=127.0.0.1, …`).
/// Values may contain spaces and commas (`reftime`, `clock`), so each key is looked up where it
/// starts a field.
pub fn parse_sysvars(text: &str) -> SysVars {
    let flat = text.replace('\n', " ");
    let field = |key: &str| -> Option<String> {
        let pat = format!("{key}=");
        let mut from = 0;
        while let Some(i) = flat[from..].find(&pat) {
            let at = from + i;
            let starts_field = at == 0 || matches!(flat.as_bytes()[at - 1], b' ' | b',' | b'\t');
            if starts_field {
                let v = &flat[at + pat.len()..];
                let end = v.find([',', ' ', '\t']).unwrap_or(v.len());
                return Some(v[..end].trim_matches('"').to_string());
            }
            from = at + pat.len();
        }
        None
    };
    SysVars {
        leap: field("leap"),
        stratum: field("stratum").and_then(|s| s.parse().ok()),
        refid: field("refid"),
        offset_ms: field("offset").and_then(|s| s.parse().ok()),
    }
}

/// Parses `chronyc -n tracking` (`Reference ID    : 7F7F0101 ()`, `Stratum         : 10`,
/// `System time     : 0.000006523 seconds slow of NTP time`, `Leap status     : Normal`) into
/// the same system variables as `ntpq -c rv`.
pub fn parse_chronyc_tracking(text: &str) -> SysVars {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let leap = field("Leap status").map(|l| {
        match l.as_str() {
            "Normal" => "00",
            "Insert second" => "01",
            "Delete second" => "10",
            _ => "11",
        }
        .to_string()
    });
    let offset_ms = field("System time").and_then(|v| {
        let mut w = v.split_whitespace();
        let secs: f64 = w.next()?.parse().ok()?;
        let sign = if w.nth(1)? == "fast" { 1.0 } else { -1.0 };
        Some(sign * secs * 1000.0)
    });
    SysVars {
        leap,
        stratum: field("Stratum").and_then(|s| s.parse().ok()),
        refid: field("Reference ID").and_then(|r| r.split_whitespace().next().map(str::to_string)),
        offset_ms,
    }
}

/// Parses `chronyc -n sources`.
pub fn parse_chronyc_sources(text: &str) -> Result<Vec<Peer>, ParseError> {
    let mut peers = Vec::new();
    for (i, line) in table_rows(text) {
        let bad = || ParseError { tool: "chronyc", line: i + 1, text: line.to_string() };
        let mut chars = line.chars();
        let (_mode, state) = (chars.next().ok_or_else(bad)?, chars.next().ok_or_else(bad)?);
        let f: Vec<&str> = line.get(2..).ok_or_else(bad)?.split_whitespace().collect();
        // name stratum poll reach lastrx sample…  e.g. `-123us[ -200us] +/- 15ms`
        if f.len() < 6 {
            return Err(bad());
        }
        let offset = f[5].split('[').next().unwrap_or("");
        peers.push(Peer {
            tally: match state {
                '*' => '*',
                '+' => '+',
                '-' => '-',
                'x' => 'x',
                _ => ' ',
            },
            remote: f[0].to_string(),
            refid: String::new(),
            stratum: f[1].parse().map_err(|_| bad())?,
            reach: u16::from_str_radix(f[3], 8).map_err(|_| bad())?,
            offset_ms: chrony_duration_ms(offset).ok_or_else(bad)?,
            jitter_ms: f.iter().rev().find_map(|s| chrony_duration_ms(s)).unwrap_or(0.0),
            local_clock: false,
        });
    }
    Ok(peers)
}

/// `-123us`, `+5ms`, `2s`, `40ns` → milliseconds.
fn chrony_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let v: f64 = n.trim_start_matches('+').parse().ok()?;
    Some(match unit {
        "ns" => v / 1e6,
        "us" => v / 1e3,
        "ms" => v,
        "s" => v * 1e3,
        _ => return None,
    })
}

/// Thresholds for the selected peer's offset.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    pub warn_offset_ms: f64,
    pub crit_offset_ms: f64,
}

impl Default for Thresholds {
    /// ntpd steps the clock beyond 128 ms; a second is far out of bounds for a cluster.
    fn default() -> Self {
        Self { warn_offset_ms: 128.0, crit_offset_ms: 1000.0 }
    }
}

/// The verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub status: Status,
    pub daemon: String,
    pub peers: Vec<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntpstat: Option<NtpStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<SysVars>,
    /// One line per finding, most severe first.
    pub findings: Vec<(Status, String)>,
}

impl Health {
    /// `NTP OK: synchronised to 10.0.0.5, offset 0.3 ms | …` (first line, Nagios style).
    pub fn summary(&self) -> String {
        let head = self.findings.first().map(|(_, m)| m.clone()).unwrap_or_else(|| "no findings".into());
        format!("NTP {}: {head}", self.status.label())
    }
}

/// Judges peers (and ntpstat, when there is one).
pub fn judge(daemon: &str, peers: Vec<Peer>, stat: Option<NtpStat>, t: Thresholds) -> Health {
    judge_system(daemon, peers, stat, None, t)
}

/// Judges peers, ntpstat and the daemon's system variables (`ntpq -c rv`).
pub fn judge_system(
    daemon: &str,
    peers: Vec<Peer>,
    stat: Option<NtpStat>,
    system: Option<SysVars>,
    t: Thresholds,
) -> Health {
    let mut f: Vec<(Status, String)> = Vec::new();
    let selected = peers.iter().find(|p| p.selected());
    let upstream: Vec<&Peer> = peers.iter().filter(|p| !p.local_clock).collect();
    if peers.is_empty() {
        f.push((Status::Critical, format!("{daemon} has no peers configured")));
    }
    match selected {
        Some(p) if p.local_clock => f.push((
            Status::Warning,
            format!(
                "only the local clock is selected ({}): no upstream server is usable{}",
                p.remote,
                if upstream.iter().any(|u| !u.unreachable()) {
                    " although one answers — is `prefer` set on the local clock?"
                } else {
                    ""
                }
            ),
        )),
        Some(p) => {
            let off = p.offset_ms.abs();
            let msg = format!("synchronised to {} (stratum {}), offset {:.3} ms", p.remote, p.stratum, p.offset_ms);
            if off >= t.crit_offset_ms {
                f.push((Status::Critical, format!("{msg}, beyond {} ms", t.crit_offset_ms)));
            } else if off >= t.warn_offset_ms {
                f.push((Status::Warning, format!("{msg}, beyond {} ms", t.warn_offset_ms)));
            } else {
                f.push((Status::Ok, msg));
            }
        }
        // No peer selected, yet the daemon serves time: its own clock (ntpsec orphan mode).
        None if system.as_ref().is_some_and(SysVars::own_clock) => f.push((
            Status::Warning,
            format!(
                "serving its own clock at stratum {} ({}): no upstream server is usable",
                system.as_ref().and_then(|s| s.stratum).unwrap_or(0),
                if system.as_ref().is_some_and(|s| s.refid.as_deref() == Some("7F7F0101")) {
                    "chrony's local mode"
                } else {
                    "orphan mode"
                }
            ),
        )),
        None if !peers.is_empty() && peers.iter().all(|p| p.unreachable()) => {
            f.push((Status::Critical, "no peer has ever answered (all .INIT. or reach 0)".into()))
        }
        None if !peers.is_empty() => {
            f.push((Status::Warning, "no peer is selected yet (ntpd may still be starting)".into()))
        }
        None => {}
    }
    let init: Vec<&str> = upstream.iter().filter(|p| p.unreachable()).map(|p| p.remote.as_str()).collect();
    if !init.is_empty() && init.len() < peers.len() {
        f.push((Status::Warning, format!("unreachable peers (.INIT. or reach 0): {}", init.join(", "))));
    }
    if let Some(s) = &stat {
        if !s.synchronised && selected.is_some() {
            f.push((Status::Warning, format!("ntpstat: {}", s.text.lines().next().unwrap_or(""))));
        }
    }
    f.sort_by_key(|b| std::cmp::Reverse(b.0));
    let status = f.iter().map(|(s, _)| *s).max().unwrap_or(Status::Ok);
    Health { status, daemon: daemon.to_string(), peers, ntpstat: stat, system, findings: f }
}

/// How to start this node's ntpd: its service is `ntpsec` (Debian 12+, Ubuntu 22.04+), `ntpd`
/// (EL) or `ntp` (older Debian and Ubuntu), whichever the node under `root` has a unit or an
/// init script for.
pub fn start_hint(root: &Path) -> String {
    let has = |name: &str| {
        ["usr/lib/systemd/system", "lib/systemd/system", "etc/systemd/system"]
            .iter()
            .map(|d| format!("{d}/{name}.service"))
            .chain([format!("etc/init.d/{name}")])
            .any(|p| moa_model::files::resolve_in_root(root, Path::new(&p), true).is_ok_and(|p| p.is_file()))
    };
    let systemd = ["usr/lib/systemd/systemd", "lib/systemd/systemd"]
        .iter()
        .any(|p| moa_model::files::resolve_in_root(root, Path::new(p), true).is_ok_and(|p| p.is_file()));
    match ["ntpsec", "ntpd", "ntp"].into_iter().find(|s| has(s)) {
        Some(s) if systemd => format!("systemctl start {s}"),
        Some(s) => format!("service {s} start"),
        None => "install the bundle's ntp package, then start its service".into(),
    }
}

/// Runs the tools on this node and judges the result.
pub fn check(t: Thresholds) -> Health {
    let unknown = |daemon: &str, msg: String| Health {
        status: Status::Unknown,
        daemon: daemon.into(),
        peers: vec![],
        ntpstat: None,
        system: None,
        findings: vec![(Status::Unknown, msg)],
    };
    let critical = |daemon: &str, msg: String| Health {
        status: Status::Critical,
        daemon: daemon.into(),
        peers: vec![],
        ntpstat: None,
        system: None,
        findings: vec![(Status::Critical, msg)],
    };
    match Command::new("ntpq").arg("-pn").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() || text.trim().is_empty() || err.contains("refused") {
                return critical(
                    "ntpd",
                    format!("ntpd is not answering ntpq ({}): start it ({})", err.trim(), start_hint(Path::new("/"))),
                );
            }
            let stat =
                Command::new("ntpstat").output().ok().map(|o| parse_ntpstat(&String::from_utf8_lossy(&o.stdout)));
            let system = Command::new("ntpq")
                .args(["-c", "rv"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| parse_sysvars(&String::from_utf8_lossy(&o.stdout)));
            match parse_ntpq(&text) {
                Ok(peers) => judge_system("ntpd", peers, stat, system, t),
                Err(e) => unknown("ntpd", e.to_string()),
            }
        }
        Err(_) => match Command::new("chronyc").args(["-n", "sources"]).output() {
            Ok(out) if out.status.success() => match parse_chronyc_sources(&String::from_utf8_lossy(&out.stdout)) {
                Ok(peers) => {
                    let system = Command::new("chronyc")
                        .args(["-n", "tracking"])
                        .output()
                        .ok()
                        .filter(|o| o.status.success())
                        .map(|o| parse_chronyc_tracking(&String::from_utf8_lossy(&o.stdout)));
                    judge_system("chronyd", peers, None, system, t)
                }
                Err(e) => unknown("chronyd", e.to_string()),
            },
            Ok(out) => critical(
                "chronyd",
                format!("chronyd is not answering chronyc: {}", String::from_utf8_lossy(&out.stderr).trim()),
            ),
            Err(_) => unknown("none", "neither ntpq nor chronyc is installed: install the time service first".into()),
        },
    }
}

#[cfg(test)]
mod tests;
