//! rpm: query with `rpm -qa`, preflight with `rpm -U --test`, install in one `rpm -U` transaction.
//! Always `--dbpath /var/lib/rpm` (Debian's rpm otherwise keeps its database in `~/.rpmdb`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    root_is_host, run, tool_command, write_work, InstallError, InstallOptions, Installed, Installer, LocalRepo, Problem,
};
use crate::bundle::script::sh_quote;
use crate::bundle::{BundleIndex, BundlePackage};
use moa_model::manifest::ModuleRef;

pub(crate) struct Rpm;

fn rpm(opts: &InstallOptions) -> Command {
    let mut c = tool_command("rpm");
    if !root_is_host(&opts.root) {
        c.arg("--root").arg(&opts.root);
    }
    c.args(["--dbpath", "/var/lib/rpm"]);
    c
}

/// The enabled streams in one dnf `*.module` state file (INI: `[name]`, `stream=`, `state=`).
pub(crate) fn parse_module_state(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut name, mut stream, mut enabled) = (None::<String>, None::<String>, false);
    let mut flush = |name: &mut Option<String>, stream: &mut Option<String>, enabled: &mut bool| {
        if let (Some(n), Some(s), true) = (name.take(), stream.take(), *enabled) {
            out.push((n, s));
        }
        *enabled = false;
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            flush(&mut name, &mut stream, &mut enabled);
            name = Some(line[1..line.len() - 1].trim().to_string());
        } else if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "name" => name = Some(v.trim().to_string()),
                "stream" => stream = Some(v.trim().to_string()).filter(|s| !s.is_empty()),
                "state" => enabled = v.trim() == "enabled",
                _ => {}
            }
        }
    }
    flush(&mut name, &mut stream, &mut enabled);
    out
}

impl Installer for Rpm {
    fn tool(&self) -> &'static str {
        "rpm"
    }
    fn detect(&self, root: &Path) -> bool {
        root.join("var/lib/rpm").is_dir()
    }
    /// `[module]` sections of `etc/dnf/modules.d/*.module` with `state=enabled` (read inside the
    /// root, at most 256 files of 64 KiB; anything unreadable is skipped, as dnf skips it).
    fn enabled_streams(&self, root: &Path) -> Vec<(String, String)> {
        let Ok(dir) = moa_model::files::resolve_in_root(root, Path::new("etc/dnf/modules.d"), true) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = match fs_err::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "module"))
                .collect(),
            Err(_) => return Vec::new(),
        };
        files.sort();
        files.truncate(256);
        let mut out = Vec::new();
        for f in files {
            let Ok(Some(bytes)) = moa_model::files::read_at_most(&f, 64 << 10) else { continue };
            out.extend(parse_module_state(&String::from_utf8_lossy(&bytes)));
        }
        out.sort();
        out.dedup();
        out
    }
    fn check_streams(&self, root: &Path, streams: &[ModuleRef]) -> Result<(), InstallError> {
        let enabled = self.enabled_streams(root);
        for want in streams {
            if let Some((_, node)) = enabled.iter().find(|(m, s)| m == want.name.as_str() && s != want.stream.as_str())
            {
                let (module, bundle) = (want.name.to_string(), want.stream.to_string());
                return Err(InstallError::StreamClash { module, bundle, node: node.clone() });
            }
        }
        Ok(())
    }
    /// Writes `etc/dnf/modules.d/<module>.module` (`state=enabled`) inside the root for each
    /// stream not enabled yet; a node without `etc/dnf` (yum, EL7) has no modules to enable.
    fn enable_streams(&self, root: &Path, streams: &[ModuleRef]) -> Result<Vec<PathBuf>, InstallError> {
        let Ok(dnf) = moa_model::files::resolve_in_root(root, Path::new("etc/dnf"), true) else {
            return Ok(Vec::new());
        };
        if !dnf.is_dir() || streams.is_empty() {
            return Ok(Vec::new());
        }
        let enabled = self.enabled_streams(root);
        let mut written = Vec::new();
        for st in streams {
            if enabled.iter().any(|(m, s)| m == st.name.as_str() && s == st.stream.as_str()) {
                continue;
            }
            let rel = format!("etc/dnf/modules.d/{}.module", st.name);
            let fail = |path: PathBuf, source| InstallError::EnableStream { stream: st.to_string(), path, source };
            let path = moa_model::files::resolve_in_root(root, Path::new(&rel), false)
                .map_err(|e| fail(root.join(&rel), e))?;
            if let Some(dir) = path.parent() {
                fs_err::create_dir_all(dir).map_err(|e| fail(path.clone(), e))?;
            }
            let text = format!("[{n}]\nname={n}\nstream={s}\nprofiles=\nstate=enabled\n", n = st.name, s = st.stream);
            moa_model::files::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| fail(path.clone(), e))?;
            written.push(path);
        }
        Ok(written)
    }
    fn fallback_command(&self) -> super::FallbackCommand {
        super::FallbackCommand {
            skip_scripts: true,
            force: "--force --nodeps",
            line: r#"rpm ${ROOT:+--root "$ROOT"} --dbpath /var/lib/rpm -Uvh --replacepkgs $FORCE $NOSCRIPTS"#,
            preamble: "",
            // As `install` does: a node whose dnf has another stream of the module is refused
            // before anything is installed; afterwards the stream is enabled (dnf's state file).
            streams: Some((
                r#"f="$ROOT/etc/dnf/modules.d/{module}.module"; if [ -f "$f" ] && grep -q '^state=enabled' "$f" && ! grep -qx 'stream={stream}' "$f"; then echo "install.sh: the node's dnf has another stream of module {module} enabled; the bundle's packages are from {module}:{stream}" >&2; exit 3; fi"#,
                r#"[ ! -d "$ROOT/etc/dnf" ] || { mkdir -p "$ROOT/etc/dnf/modules.d" && printf '[{module}]\nname={module}\nstream={stream}\nprofiles=\nstate=enabled\n' > "$ROOT/etc/dnf/modules.d/{module}.module"; }"#,
            )),
            via_repo: String::new(),
        }
    }
    fn force_means(&self) -> &'static str {
        "rpm --force --nodeps: missing dependencies and file conflicts are ignored"
    }

    /// `dnf mark remove` (dnf 4: "installed as a dependency"), where the node keeps dnf's
    /// records (`var/lib/dnf`) and dnf is here to write them. yum (EL7) keeps reasons in its
    /// yumdb, which only yum-utils writes: there, nothing is marked.
    fn mark_auto(&self, names: &[String], opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        let records =
            moa_model::files::resolve_in_root(&opts.root, Path::new("var/lib/dnf"), true).is_ok_and(|p| p.is_dir());
        if !records || super::first_on_path(&["dnf"]).is_none() {
            return Ok(Vec::new());
        }
        // rpm's database where the node keeps it (Debian's rpm would look in ~/.rpmdb).
        let work = moa_model::files::WorkDir::new()
            .map_err(|source| InstallError::Work { path: std::env::temp_dir(), source })?;
        write_work(&work.path().join(".rpmmacros"), "%_dbpath /var/lib/rpm\n")?;
        let mut c = tool_command("dnf");
        c.env("HOME", work.path());
        c.args(["-y", "-q", "--cacheonly", "--disablerepo=*"]);
        if !root_is_host(&opts.root) {
            let release = crate::bundle::verify::node_os_release(&opts.root).map(|(_, v)| v).unwrap_or_default();
            c.arg("--installroot").arg(&opts.root).arg(format!("--releasever={release}"));
        }
        c.args(["mark", "remove"]).args(names);
        run(&mut c, "dnf")?;
        Ok(names.to_vec())
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
                Some(Installed { name: name.into(), version: ver.into(), arch: arch.into(), ..Default::default() })
            })
            .collect())
    }

    fn inventory(&self, root: &Path) -> Result<Vec<Installed>, InstallError> {
        let opts = InstallOptions { root: root.to_path_buf(), force: false, no_scripts: false };
        // One `@` line per package, then `P` (provide), `C` (conflict), `O` (obsolete) and `F`
        // (file) lines: rpm refuses a package that an installed one conflicts with or obsoletes,
        // so the resolver must see them as dnf does.
        let qf = concat!(
            "@\\t%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n",
            "[P\\t%{PROVIDENEVRS}\\n][C\\t%{CONFLICTNEVRS}\\n][O\\t%{OBSOLETENEVRS}\\n][F\\t%{FILENAMES}\\n]"
        );
        let out = run(rpm(&opts).args(["-qa", "--qf", qf]), "rpm")?;
        Ok(parse_inventory(&out))
    }

    fn preflight(
        &self,
        todo: &[(&BundlePackage, PathBuf)],
        _installed: &[Installed],
        opts: &InstallOptions,
    ) -> Result<Vec<Problem>, InstallError> {
        if todo.is_empty() {
            return Ok(vec![]);
        }
        let mut c = rpm(opts);
        c.args(["-U", "--test", "--replacepkgs"]);
        c.args(todo.iter().map(|(_, f)| f));
        match run(&mut c, "rpm") {
            Ok(_) => Ok(vec![]),
            Err(InstallError::Failed { output, .. }) => Ok(dependency_problems(&output)),
            Err(e) => Err(e),
        }
    }

    /// Only what is installed: `rpm -e` refuses a name it does not have (an undo run again
    /// after an interruption asks for some that are gone).
    fn purge(&self, packages: &[(String, String)], opts: &InstallOptions) -> Result<String, InstallError> {
        let installed = self.installed(opts)?;
        let packages: Vec<&(String, String)> =
            packages.iter().filter(|(n, a)| installed.iter().any(|i| &i.name == n && &i.arch == a)).collect();
        if packages.is_empty() {
            return Ok(String::new());
        }
        let mut c = rpm(opts);
        c.args(["-e", "-v"]);
        if opts.no_scripts {
            c.arg("--noscripts");
        }
        c.args(packages.iter().map(|(name, arch)| format!("{name}.{arch}")));
        run(&mut c, "rpm")
    }

    /// One transaction: the older versions replace the newer ones (`--oldpackage`).
    fn put_back(&self, files: &[PathBuf], opts: &InstallOptions) -> Result<String, InstallError> {
        if files.is_empty() {
            return Ok(String::new());
        }
        let mut c = rpm(opts);
        c.args(["-U", "-v", "--oldpackage", "--replacepkgs"]);
        if opts.no_scripts {
            c.arg("--noscripts");
        }
        c.args(files);
        run(&mut c, "rpm")
    }

    /// One transaction for every stage: rpm orders it by `Requires(pre)` itself, and checks
    /// all of its dependencies before it installs anything.
    fn install(&self, stages: &[Vec<PathBuf>], opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        let files: Vec<&PathBuf> = stages.iter().flatten().collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = rpm(opts);
        c.args(["-U", "-v", "--replacepkgs"]);
        if opts.force {
            c.args(["--force", "--nodeps"]);
        }
        if opts.no_scripts {
            c.arg("--noscripts");
        }
        c.args(files);
        match run(&mut c, "rpm") {
            Ok(out) => Ok(vec![out]),
            // rpm checks the whole transaction's dependencies before it installs anything.
            Err(InstallError::Failed { output, .. }) if output.contains("Failed dependencies") => {
                Err(InstallError::Preflight {
                    problems: dependency_problems(&output),
                    force_means: self.force_means().into(),
                })
            }
            Err(e) => Err(e),
        }
    }

    fn install_checks_dependencies(&self) -> bool {
        true
    }

    /// dnf (yum where there is no dnf) with only the bundle's repository, its packages checked
    /// against the bundle's keys, in a private configuration and cache.
    fn install_from_repo(&self, repo: &LocalRepo<'_>, opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        if repo.packages.is_empty() {
            return Ok(Vec::new());
        }
        let w = repo.work;
        write_work(&w.join("repos/moa-bundle.repo"), &repo_file(repo.dir, &repo.keys))?;
        write_work(&w.join("home/.rpmmacros"), "%_dbpath /var/lib/rpm\n")?;
        let program = super::first_on_path(&["dnf", "yum"]).unwrap_or("dnf");
        let mut c = tool_command(program);
        c.env("HOME", w.join("home"));
        c.args(["-y", "--disablerepo=*", "--enablerepo=moa-bundle"]);
        c.arg(format!("--setopt=reposdir={}", w.join("repos").display()));
        c.arg(format!("--setopt=cachedir={}", w.join("cache").display()));
        if !root_is_host(&opts.root) {
            c.arg("--installroot").arg(&opts.root).arg(format!("--releasever={}", repo.release));
        }
        if opts.no_scripts {
            c.arg("--setopt=tsflags=noscripts");
        }
        c.arg("install").args(repo.packages.iter().map(|p| nevra(p)));
        Ok(vec![run(&mut c, program)?])
    }

    fn fallback_via_repo(&self, index: &BundleIndex) -> String {
        let keys: Vec<String> = index.keys.iter().map(|k| format!("$DIR/{}", k.file)).collect();
        let packages: Vec<String> = index.packages.iter().map(|p| sh_quote(&nevra(p))).collect();
        format!(
            r#"mkdir -p "$W/repos" "$W/home"
cat > "$W/repos/moa-bundle.repo" <<EOF
{repo}EOF
printf '%%_dbpath /var/lib/rpm\n' > "$W/home/.rpmmacros"
PM=yum; if command -v dnf >/dev/null 2>&1; then PM=dnf; fi
HOME="$W/home" "$PM" -y --disablerepo='*' --enablerepo=moa-bundle --setopt=reposdir="$W/repos" --setopt=cachedir="$W/cache" ${{ROOT:+--installroot "$ROOT" --releasever {release}}} ${{NOSCRIPTS:+--setopt=tsflags=noscripts}} install {packages}
"#,
            repo = repo_file("$DIR", &keys),
            release = sh_quote(index.os_release.version_id.as_str()),
            packages = packages.join(" "),
        )
    }
}

/// `name-[epoch:]version-release.arch`, as dnf and yum name one build of a package.
fn nevra(p: &BundlePackage) -> String {
    format!("{}-{}.{}", p.name, p.version, p.arch)
}

/// The `.repo` file of a bundle's repository at `dir`, its packages checked against `keys`
/// (plain paths; none: the bundle's build did not check signatures either). Metadata is never
/// cached: another bundle unpacked at the same path is another repository. `module_hotfixes`:
/// the repository carries no module metadata, and dnf refuses a build of a module stream (its
/// `ModularityLabel`) from such a repository otherwise; install enables the streams itself.
fn repo_file(dir: &str, keys: &[String]) -> String {
    let gpg = match keys.is_empty() {
        true => "gpgcheck=0\n".to_string(),
        false => {
            let urls: Vec<String> = keys.iter().map(|k| format!("file://{k}")).collect();
            format!("gpgcheck=1\ngpgkey={}\n", urls.join(" "))
        }
    };
    format!("[moa-bundle]\nname=moa-bundle\nbaseurl=file://{dir}\nenabled=1\n{gpg}repo_gpgcheck=0\nmetadata_expire=0\nmodule_hotfixes=1\n")
}

/// The problems of rpm's "Failed dependencies" report, one per line.
fn dependency_problems(output: &str) -> Vec<Problem> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("error: Failed dependencies"))
        .map(Problem::from_rpm_line)
        .collect()
}

/// Parses the `inventory` query. Every file is kept: a requirement in primary may name any path
/// (gnome-keyring needs `/usr/libexec/gcr-ssh-askpass`), and dnf reads an installed package's
/// whole file list from the rpm database, where primary lists only `/etc` and `bin/` paths.
fn parse_inventory(out: &str) -> Vec<Installed> {
    let mut pkgs: Vec<Installed> = Vec::new();
    for line in out.lines() {
        let mut f = line.splitn(2, '\t');
        let (tag, rest) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        match tag {
            "@" => {
                let mut p = rest.split('\t');
                let (Some(name), Some(ver), Some(arch)) = (p.next(), p.next(), p.next()) else { continue };
                pkgs.push(Installed {
                    name: name.into(),
                    version: ver.strip_prefix("0:").unwrap_or(ver).into(),
                    arch: arch.into(),
                    ..Default::default()
                });
            }
            "P" | "C" | "O" => {
                if let Some(last) = pkgs.last_mut() {
                    let list = match tag {
                        "P" => &mut last.provides,
                        "C" => &mut last.conflicts,
                        _ => &mut last.obsoletes,
                    };
                    // PROVIDENEVRS prints `name = 0:1.0-1`; primary omits a zero epoch.
                    list.push(rest.replacen(" 0:", " ", 1));
                }
            }
            "F" => {
                if let Some(last) = pkgs.last_mut() {
                    last.files.push(rest.to_string());
                }
            }
            _ => {}
        }
    }
    pkgs
}

#[cfg(test)]
mod tests {
    #[test]
    fn inventory_lines_become_packages_with_provides_and_files() {
        let out = "@\tbash\t0:4.2.46-34.el7\tx86_64\nP\tbash = 4.2.46-34.el7\nP\tconfig(bash) = 0:4.2.46-34.el7\nF\t/usr/bin/bash\nF\t/usr/share/doc/bash/README\nF\t/etc/skel/.bashrc\n@\tntp\t1:4.2.6p5-29.el7\tx86_64\n";
        let p = super::parse_inventory(out);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[0].version.as_str()), ("bash", "4.2.46-34.el7"));
        assert_eq!(p[0].provides, ["bash = 4.2.46-34.el7", "config(bash) = 4.2.46-34.el7"]);
        assert_eq!(p[0].files, ["/usr/bin/bash", "/usr/share/doc/bash/README", "/etc/skel/.bashrc"]);
        assert_eq!(p[1].version, "1:4.2.6p5-29.el7");
    }
}

#[cfg(test)]
mod module_state_tests {
    use super::parse_module_state;

    /// The shape dnf 4 writes to /etc/dnf/modules.d/NAME.module.
    #[test]
    fn enabled_streams_are_read_from_dnf_state_files() {
        let text = "[nodejs]\nname=nodejs\nstream=20\nprofiles=\nstate=enabled\n\n[php]\nname=php\nstream=8.1\nprofiles=\nstate=disabled\n\n[ruby]\nname=ruby\nstream=\nprofiles=\nstate=enabled\n";
        assert_eq!(parse_module_state(text), [("nodejs".to_string(), "20".to_string())]);
        assert!(parse_module_state("garbage\n=\n[").is_empty());
    }
}
