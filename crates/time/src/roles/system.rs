//! Service and clock actions of the roles, as data first ([`Step`]) and run second, so `--dry-run`
//! and `--root` can print exactly what a real run would do. The init system is the one concern
//! here with two implementations: systemd (CentOS 7, Ubuntu 16.04, Debian) and SysV scripts.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// One command the role runs on the node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What it is for, for people.
    pub purpose: String,
    pub argv: Vec<String>,
    /// A failure is reported as a warning instead of an error (e.g. a sync with an unreachable
    /// server, stopping a service that is not installed).
    pub may_fail: bool,
}

impl Step {
    fn new(purpose: impl Into<String>, argv: &[&str], may_fail: bool) -> Self {
        Self { purpose: purpose.into(), argv: argv.iter().map(|s| s.to_string()).collect(), may_fail }
    }
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }
}

/// How services are stopped, enabled and (re)started on this node.
pub(crate) trait ServiceManager {
    fn name(&self) -> &'static str;
    /// Stop now and keep from starting at boot.
    fn stop_disable(&self, service: &str) -> Vec<Step>;
    /// Start at boot, and now: restarted when its configuration changed, else started if down.
    fn enable_start(&self, service: &str, restart: bool) -> Vec<Step>;
    /// Tell the system about a new time zone, beyond the `/etc/localtime` link.
    fn set_timezone(&self, zone: &str) -> Vec<Step>;
    /// What of `step` can be done to a root that is not running (`--root`): enabling and
    /// disabling at boot are links on disk. None when nothing can.
    fn offline(&self, _step: &Step, _root: &Path) -> Option<Step> {
        None
    }
}

pub(crate) struct Systemd;

impl ServiceManager for Systemd {
    fn name(&self) -> &'static str {
        "systemd"
    }
    fn stop_disable(&self, service: &str) -> Vec<Step> {
        vec![Step::new(
            format!("{service} would hold port 123 or fight over the clock"),
            &["systemctl", "disable", "--now", service],
            true,
        )]
    }
    fn enable_start(&self, service: &str, restart: bool) -> Vec<Step> {
        vec![
            Step::new(format!("start {service} at boot"), &["systemctl", "enable", service], false),
            if restart {
                Step::new(format!("{service} reads the new configuration"), &["systemctl", "restart", service], false)
            } else {
                Step::new(format!("{service} runs"), &["systemctl", "start", service], false)
            },
        ]
    }
    fn set_timezone(&self, zone: &str) -> Vec<Step> {
        vec![Step::new("systemd-timedated learns the zone", &["timedatectl", "set-timezone", zone], true)]
    }
    /// `systemctl --root=ROOT enable|disable UNIT`: systemctl changes the root's unit links
    /// without a running systemd (`--now` has no meaning there).
    fn offline(&self, step: &Step, root: &Path) -> Option<Step> {
        let [tool, verb, rest @ ..] = step.argv.as_slice() else { return None };
        if tool != "systemctl" || !(verb == "enable" || verb == "disable") {
            return None;
        }
        let unit = rest.iter().find(|a| !a.starts_with("--"))?;
        let argv = vec!["systemctl".to_string(), format!("--root={}", root.display()), verb.clone(), unit.clone()];
        Some(Step { purpose: format!("{} (at boot of the root)", step.purpose), argv, may_fail: true })
    }
}

pub(crate) struct SysV;

impl ServiceManager for SysV {
    fn name(&self) -> &'static str {
        "sysv"
    }
    fn stop_disable(&self, service: &str) -> Vec<Step> {
        vec![Step::new(format!("{service} would hold port 123"), &["service", service, "stop"], true)]
    }
    fn enable_start(&self, service: &str, restart: bool) -> Vec<Step> {
        vec![Step::new(
            format!("{service} runs with the new configuration (enable it at boot with chkconfig or update-rc.d)"),
            &["service", service, if restart { "restart" } else { "start" }],
            false,
        )]
    }
    fn set_timezone(&self, _zone: &str) -> Vec<Step> {
        Vec::new()
    }
}

/// The node's init system. On this machine, systemd when `/run/systemd/system` exists (what
/// `sd_booted` checks); under another root, which is not running, systemd when the root has it
/// installed as its init (`lib/systemd/systemd` or `usr/lib/systemd/systemd`).
pub(crate) fn service_manager(root: &Path) -> &'static dyn ServiceManager {
    let systemd = if root == Path::new("/") {
        Path::new("/run/systemd/system").is_dir()
    } else {
        ["usr/lib/systemd/systemd", "lib/systemd/systemd"]
            .iter()
            .any(|p| moa_model::files::resolve_in_root(root, Path::new(p), true).is_ok_and(|p| p.is_file()))
    };
    if systemd {
        &Systemd
    } else {
        &SysV
    }
}

/// What became of a step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub step: Step,
    /// `ran`, `failed`, `would run` (dry run) or `skipped` (--root).
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// Runs a step; a failing step that may not fail is an error naming the command and its output.
pub(crate) fn run(step: &Step) -> Result<StepReport, super::RoleError> {
    let out = Command::new(&step.argv[0]).args(&step.argv[1..]).output();
    let (ok, output) = match out {
        Ok(o) => (
            o.status.success(),
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)).trim().to_string(),
        ),
        Err(e) => (false, format!("cannot run {}: {e}", step.argv[0])),
    };
    if !ok && !step.may_fail {
        return Err(super::RoleError::Step { command: step.command_line(), output });
    }
    Ok(StepReport { step: step.clone(), status: if ok { "ran" } else { "failed" }.into(), output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_a_root_the_init_system_is_the_roots() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(service_manager(d.path()).name(), "sysv");
        fs_err::create_dir_all(d.path().join("usr/lib/systemd")).unwrap();
        fs_err::write(d.path().join("usr/lib/systemd/systemd"), b"").unwrap();
        assert_eq!(service_manager(d.path()).name(), "systemd");
    }
}
