//! rpm: query with `rpm -qa`, preflight with `rpm -U --test`, install in one `rpm -U` transaction.
//! Always `--dbpath /var/lib/rpm` (Debian's rpm otherwise keeps its database in `~/.rpmdb`).

use std::path::PathBuf;
use std::process::Command;

use super::{root_is_host, run, InstallError, InstallOptions, Installed, Installer};
use crate::bundle::BundlePackage;

pub struct Rpm;

fn rpm(opts: &InstallOptions) -> Command {
    let mut c = Command::new("rpm");
    if !root_is_host(&opts.root) {
        c.arg("--root").arg(&opts.root);
    }
    c.args(["--dbpath", "/var/lib/rpm"]);
    c
}

impl Installer for Rpm {
    fn tool(&self) -> &'static str {
        "rpm"
    }
    fn force_means(&self) -> &'static str {
        "rpm --force --nodeps: missing dependencies and file conflicts are ignored"
    }

    fn installed(&self, opts: &InstallOptions) -> Result<Vec<Installed>, InstallError> {
        let out =
            run(rpm(opts).args(["-qa", "--qf", "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"]), "rpm")?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (name, ver, arch) = (f.next()?, f.next()?, f.next()?);
                let ver = ver.strip_prefix("0:").unwrap_or(ver);
                Some(Installed { name: name.into(), version: ver.into(), arch: arch.into(), provides: vec![] })
            })
            .collect())
    }

    fn preflight(
        &self,
        todo: &[(&BundlePackage, PathBuf)],
        _installed: &[Installed],
        opts: &InstallOptions,
    ) -> Result<Vec<String>, InstallError> {
        if todo.is_empty() {
            return Ok(vec![]);
        }
        let mut c = rpm(opts);
        c.args(["-U", "--test", "--replacepkgs"]);
        c.args(todo.iter().map(|(_, f)| f));
        match run(&mut c, "rpm") {
            Ok(_) => Ok(vec![]),
            Err(InstallError::Failed { output, .. }) => Ok(output
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("error: Failed dependencies"))
                .map(str::to_string)
                .collect()),
            Err(e) => Err(e),
        }
    }

    fn install(&self, files: &[PathBuf], opts: &InstallOptions) -> Result<String, InstallError> {
        let mut c = rpm(opts);
        c.args(["-U", "-v", "--replacepkgs"]);
        if opts.force {
            c.args(["--force", "--nodeps"]);
        }
        if opts.no_scripts {
            c.arg("--noscripts");
        }
        c.args(files);
        run(&mut c, "rpm")
    }
}
