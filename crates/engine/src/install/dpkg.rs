//! dpkg: the status file read directly, a preflight that checks every Depends/Pre-Depends against
//! installed packages plus the bundle, and `dpkg -i` once per Pre-Depends stage. With `--root`,
//! dpkg runs maintainer scripts chrooted into that root, never on the host.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::inroot::{NoDaemons, Reach, Staging};
use super::{run, write_work, InstallError, InstallOptions, Installed, Installer, LocalRepo, Problem, Removal};
use crate::bundle::script::sh_quote;
use crate::bundle::{BundleIndex, BundlePackage};
use moa_model::deps::{DebSyntax, DepSyntax};

pub(crate) struct Dpkg;

/// install.sh's dpkg for `--root`, as `install` runs it ([`Reach`]): in a root with its own
/// dpkg, that dpkg chrooted on copies of the files inside the root, else this machine's with
/// `--root`; a policy-rc.d that refuses every service start in place meanwhile.
const DPKG_PREAMBLE: &str = r#"moa_dpkg() {
  if [ -z "$ROOT" ]; then dpkg "$@"; return; fi
  P="" S=""
  trap 'rm -rf "$S"; [ -z "$P" ] || rm -f "$P"' EXIT
  trap 'exit 130' INT TERM
  if [ -d "$ROOT/usr/sbin" ] && [ ! -e "$ROOT/usr/sbin/policy-rc.d" ] && [ ! -L "$ROOT/usr/sbin/policy-rc.d" ]; then
    P="$ROOT/usr/sbin/policy-rc.d"; printf '#!/bin/sh
exit 101
' > "$P"; chmod 755 "$P"
  fi
  if [ -f "$ROOT/usr/bin/dpkg" ] && [ -d "$ROOT/var/cache" ]; then
    S=$(mktemp -d "$ROOT/var/cache/moa-bundle-install.XXXXXX")
    A=""
    for f; do
      case "$f" in -*) A="$A $f" ;; *) cp "$f" "$S/" && A="$A ${S#"$ROOT"}/${f##*/}" ;; esac
    done
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C LANG=C HOME=/root \
      DEBIAN_FRONTEND=noninteractive chroot "$ROOT" dpkg $A
  else
    dpkg --root="$ROOT" --log="$ROOT/var/log/dpkg.log" "$@"
  fi
  rm -rf "$S"; [ -z "$P" ] || rm -f "$P"
  trap - EXIT INT TERM
}
"#;

/// dpkg and apt-get, as a root holds them.
const DPKG: &str = "usr/bin/dpkg";
const APT_GET: &str = "usr/bin/apt-get";
const APT_MARK: &str = "usr/bin/apt-mark";

/// Packages whose status is `install ok installed` in a dpkg status file.
pub(crate) fn read_status(path: &Path) -> Result<Vec<Installed>, InstallError> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(InstallError::Database { path: path.to_path_buf(), source }),
    };
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(':')))
                .map(|v| v.trim().to_string())
        };
        if !field("Status").is_some_and(|s| s.ends_with(" installed")) {
            continue;
        }
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else {
            continue;
        };
        out.push(Installed {
            name,
            version,
            arch: field("Architecture").unwrap_or_default(),
            provides: field("Provides").map(|p| crate::repo::apt::split_relations(&p).collect()).unwrap_or_default(),
            files: vec![],
            multi_arch: Some(field("Multi-Arch").map(|m| crate::repo::MultiArch::parse(&m)).unwrap_or_default()),
            essential: field("Essential").as_deref() == Some("yes"),
            conflicts: ["Conflicts", "Breaks"]
                .iter()
                .filter_map(|k| field(k))
                .flat_map(|v| crate::repo::apt::split_relations(&v).collect::<Vec<_>>())
                .collect(),
            obsoletes: vec![],
        });
    }
    Ok(out)
}

impl Installer for Dpkg {
    fn tool(&self) -> &'static str {
        "dpkg"
    }
    fn detect(&self, root: &Path) -> bool {
        root.join("var/lib/dpkg/status").is_file()
    }
    fn fallback_command(&self) -> super::FallbackCommand {
        super::FallbackCommand {
            skip_scripts: false,
            force: "--force-depends",
            line: r#"moa_dpkg $FORCE -i"#,
            preamble: DPKG_PREAMBLE,
            streams: None,
            via_repo: String::new(),
        }
    }
    fn force_means(&self) -> &'static str {
        "dpkg --force-depends: missing dependencies become warnings"
    }

    fn installed(&self, opts: &InstallOptions) -> Result<Vec<Installed>, InstallError> {
        read_status(&opts.root.join("var/lib/dpkg/status"))
    }

    fn inventory(&self, root: &Path) -> Result<Vec<Installed>, InstallError> {
        read_status(&root.join("var/lib/dpkg/status"))
    }

    fn preflight(
        &self,
        todo: &[(&BundlePackage, PathBuf)],
        installed: &[Installed],
        _opts: &InstallOptions,
    ) -> Result<Vec<Problem>, InstallError> {
        // Everything that will be there afterwards: (name, version, provides).
        let removed: Vec<String> = self.removals(todo, installed).into_iter().map(|r| r.name).collect();
        let mut world: Vec<(String, String, Vec<String>)> = installed
            .iter()
            .filter(|i| !todo.iter().any(|(p, _)| p.name.as_str() == i.name) && !removed.contains(&i.name))
            .map(|i| (i.name.clone(), i.version.clone(), i.provides.clone()))
            .collect();
        world.extend(todo.iter().map(|(p, _)| {
            (p.name.to_string(), p.version.to_string(), p.provides.iter().map(ToString::to_string).collect())
        }));
        let syntax = DebSyntax;
        let mut problems = Vec::new();
        for (p, _) in todo {
            for raw in &p.requires {
                let Ok(alts) = syntax.parse_requirement(raw.as_str()) else {
                    problems.push(Problem::Unreadable { package: p.name.to_string(), requirement: raw.to_string() });
                    continue;
                };
                let met = alts.iter().any(|rel| world.iter().any(|(n, v, pr)| meets(rel, n, v, pr)));
                if !met {
                    let package = format!("{} {}", p.name, p.version);
                    problems.push(Problem::Unmet { package, requirement: raw.to_string() });
                }
            }
        }
        Ok(problems)
    }

    /// `dpkg -i` once per stage: dpkg configures a Pre-Depends only after its own run. In a
    /// root with its own dpkg, that dpkg runs chrooted there ([`Reach`]).
    fn install(&self, stages: &[Vec<PathBuf>], opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        let reach = Reach::of(&opts.root, DPKG);
        let _no_daemons = NoDaemons::new(&opts.root)?;
        let staging = match reach {
            Reach::Chroot(_) => Some(Staging::new(&opts.root)?),
            _ => None,
        };
        let mut out = Vec::new();
        for files in stages.iter().filter(|s| !s.is_empty()) {
            let files = match &staging {
                Some(s) => s.copy_in(files)?,
                None => files.clone(),
            };
            let mut c = dpkg_command(&reach, opts);
            c.arg("-i").args(files);
            out.push(run(&mut c, "dpkg")?);
        }
        Ok(out)
    }

    /// `apt-mark auto` (the root's own, chrooted; or this machine's with the root's
    /// `extended_states`). A root without apt has no such records: nothing is marked.
    fn mark_auto(&self, names: &[String], opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        let reach = Reach::of(&opts.root, APT_MARK);
        let mut c = reach.command("apt-mark");
        match &reach {
            Reach::Chroot(_) => {}
            Reach::Host if super::first_on_path(&["apt-mark"]).is_some() => {}
            Reach::RootFlag(r) if super::first_on_path(&["apt-mark"]).is_some() => {
                let states = r.join("var/lib/apt/extended_states");
                if let Some(d) = states.parent() {
                    fs_err::create_dir_all(d).map_err(|source| InstallError::Work { path: d.to_path_buf(), source })?;
                }
                c.arg("-o").arg(format!("Dir::State::extended_states={}", states.display()));
                c.arg("-o").arg(format!("Dir::State::status={}", r.join("var/lib/dpkg/status").display()));
            }
            _ => return Ok(Vec::new()),
        }
        c.arg("auto").args(names);
        run(&mut c, "apt-mark")?;
        Ok(names.to_vec())
    }

    fn removals(&self, todo: &[(&BundlePackage, PathBuf)], installed: &[Installed]) -> Vec<Removal> {
        // Does any relation of `raws` name the package (name, version, provides)?
        fn names<S: AsRef<str>, P: AsRef<str>>(raws: &[S], name: &str, version: &str, provides: &[P]) -> bool {
            raws.iter().any(|raw| {
                DebSyntax
                    .parse_requirement(raw.as_ref())
                    .is_ok_and(|alts| alts.iter().any(|r| meets(r, name, version, provides)))
            })
        }
        let mut out: Vec<Removal> = Vec::new();
        for i in installed.iter().filter(|i| !i.essential && !todo.iter().any(|(p, _)| p.name.as_str() == i.name)) {
            for (p, _) in todo {
                // apt removes what a new package's own Conflicts or Breaks hit; what hits a new
                // package from the node's side goes where the new one replaces it (dpkg).
                let hit = names(&p.conflicts, &i.name, &i.version, &i.provides);
                let hit_by = names(&i.conflicts, p.name.as_str(), &p.version.to_string(), &p.provides);
                if hit || (hit_by && names(&p.replaces, &i.name, &i.version, &i.provides)) {
                    out.push(Removal { name: i.name.clone(), version: i.version.clone(), by: p.name.to_string() });
                    break;
                }
            }
        }
        out
    }

    fn purge(&self, packages: &[(String, String)], opts: &InstallOptions) -> Result<String, InstallError> {
        if packages.is_empty() {
            return Ok(String::new());
        }
        let _no_daemons = NoDaemons::new(&opts.root)?;
        let mut c = dpkg_command(&Reach::of(&opts.root, DPKG), opts);
        c.arg("--purge").args(packages.iter().map(|(name, _)| name));
        run(&mut c, "dpkg")
    }

    /// dpkg -i takes an older version as it takes a newer one; a configuration file is kept as
    /// it is on disk (undo has put it back first), never asked about.
    fn put_back(&self, files: &[PathBuf], opts: &InstallOptions) -> Result<String, InstallError> {
        if files.is_empty() {
            return Ok(String::new());
        }
        let reach = Reach::of(&opts.root, DPKG);
        let _no_daemons = NoDaemons::new(&opts.root)?;
        let staging = match reach {
            Reach::Chroot(_) => Some(Staging::new(&opts.root)?),
            _ => None,
        };
        let files = match &staging {
            Some(s) => s.copy_in(files)?,
            None => files.to_vec(),
        };
        let mut c = dpkg_command(&reach, opts);
        c.args(["--force-confdef", "--force-confold", "-i"]).args(files);
        run(&mut c, "dpkg")
    }

    fn remove(&self, names: &[String], opts: &InstallOptions) -> Result<String, InstallError> {
        let _no_daemons = NoDaemons::new(&opts.root)?;
        let mut c = dpkg_command(&Reach::of(&opts.root, DPKG), opts);
        c.arg("--remove").args(names);
        run(&mut c, "dpkg")
    }

    /// apt-get with a private configuration (`-c`): only the bundle's flat repository, lists
    /// and cache in a work directory. In a root with its own apt, that apt runs chrooted there
    /// on a copy of the repository inside the root; in a root without, this machine's apt-get
    /// with the host's hooks cleared and dpkg run with `--root`.
    fn install_from_repo(&self, repo: &LocalRepo<'_>, opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
        if repo.packages.is_empty() {
            return Ok(Vec::new());
        }
        let reach = Reach::of(&opts.root, APT_GET);
        let _no_daemons = NoDaemons::new(&opts.root)?;
        let hint = ": set TMPDIR to such a directory";
        let staging;
        // (the repository and the work directory as apt sees them, the work directory here)
        let (dir, work, host_work) = match &reach {
            Reach::Chroot(_) => {
                staging = Staging::new(&opts.root)?;
                for sub in [crate::repo::LOCAL_REPO_DIR, "packages"] {
                    copy_flat(&Path::new(repo.dir).join(sub), &staging.path().join(sub))?;
                }
                let inside = super::plain("the staging directory", &staging.inside(), "")?;
                (inside.clone(), format!("{inside}/apt"), staging.path().join("apt"))
            }
            _ => {
                let work = super::plain("the work directory", repo.work, hint)?;
                (repo.dir.to_string(), work, repo.work.to_path_buf())
            }
        };
        let root = match &reach {
            Reach::RootFlag(r) => Some(super::plain("the root", r, "")?),
            _ => None,
        };
        write_work(&host_work.join("sources.list"), &source_line(&dir))?;
        let conf = apt_conf(&work) + &root.as_deref().map(apt_root_conf).unwrap_or_default();
        write_work(&host_work.join("apt.conf"), &conf)?;
        let mut dirs =
            vec![host_work.join("parts"), host_work.join("lists/partial"), host_work.join("cache/archives/partial")];
        if let Some(r) = &root {
            dirs.extend([Path::new(r).join("var/lib/apt"), Path::new(r).join("var/log/apt")]);
        }
        for d in dirs {
            fs_err::create_dir_all(&d).map_err(|source| InstallError::Work { path: d.clone(), source })?;
        }
        let apt = |args: &[&str]| {
            let mut c = reach.command("apt-get");
            c.arg("-c").arg(format!("{work}/apt.conf")).arg("-q").args(args);
            c
        };
        let mut out = vec![run(&mut apt(&["update"]), "apt-get")?];
        let mut c = apt(&["-y", "--no-install-recommends", "install"]);
        c.args(repo.packages.iter().map(|p| spec(p)));
        out.push(run(&mut c, "apt-get")?);
        Ok(out)
    }

    fn fallback_via_repo(&self, index: &BundleIndex) -> String {
        let packages: Vec<String> = index.packages.iter().map(|p| sh_quote(&spec(p))).collect();
        format!(
            r#"mkdir -p "$W/parts" "$W/lists/partial" "$W/cache/archives/partial"
echo "{source}" > "$W/sources.list"
cat > "$W/apt.conf" <<EOF
{conf}EOF
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT/var/lib/apt" "$ROOT/var/log/apt"
  cat >> "$W/apt.conf" <<EOF
{root_conf}EOF
fi
apt-get -c "$W/apt.conf" -q update
apt-get -c "$W/apt.conf" -q -y --no-install-recommends install {packages}
"#,
            source = source_line("$DIR").trim_end(),
            conf = apt_conf("$W"),
            root_conf = apt_root_conf("$ROOT"),
            packages = packages.join(" "),
        )
    }
}

/// Copies the regular files of `from` (a bundle's flat `repodata/` or `packages/`) into `to`.
fn copy_flat(from: &Path, to: &Path) -> Result<(), InstallError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Work { path, source }
    };
    fs_err::create_dir_all(to).map_err(werr(to))?;
    for e in fs_err::read_dir(from).map_err(werr(from))? {
        let e = e.map_err(werr(from))?;
        if e.file_type().map_err(werr(&e.path()))?.is_file() {
            fs_err::copy(e.path(), to.join(e.file_name())).map_err(werr(&to.join(e.file_name())))?;
        }
    }
    Ok(())
}

/// `name=version`, as apt-get names one version of a package.
fn spec(p: &BundlePackage) -> String {
    format!("{}={}", p.name, p.version)
}

/// The sources.list line of a bundle's flat repository at `dir`. `trusted=yes`: its Release is
/// not signed (the bundle was verified whole, and apt checks every .deb's SHA256 against it).
fn source_line(dir: &str) -> String {
    format!("deb [trusted=yes] file:{dir} {}/\n", crate::repo::LOCAL_REPO_DIR)
}

/// apt's configuration for installing from the bundle alone: sources, lists and cache under
/// `work`.
fn apt_conf(work: &str) -> String {
    format!(
        "Dir::Etc::SourceList \"{work}/sources.list\";\nDir::Etc::SourceParts \"{work}/parts\";\nDir::State::Lists \"{work}/lists\";\nDir::Cache \"{work}/cache\";\nAPT::Sandbox::User \"root\";\nAPT::Get::List-Cleanup \"false\";\n"
    )
}

/// The rest of it for another root `r`: its status, logs and dpkg, and none of the host's
/// hooks (they act on the host: Docker's `docker-clean` deletes the host's caches).
fn apt_root_conf(r: &str) -> String {
    let hooks = [
        "DPkg::Pre-Invoke",
        "DPkg::Post-Invoke",
        "DPkg::Pre-Install-Pkgs",
        "APT::Update::Pre-Invoke",
        "APT::Update::Post-Invoke",
        "APT::Update::Post-Invoke-Success",
    ];
    let mut s: String = hooks.iter().map(|h| format!("#clear {h};\n")).collect();
    s.push_str(&format!(
        "Dir::State::status \"{r}/var/lib/dpkg/status\";\nDir::State::extended_states \"{r}/var/lib/apt/extended_states\";\nDir::Log \"{r}/var/log/apt\";\nDPkg::Options {{ \"--root={r}\"; \"--log={r}/var/log/dpkg.log\"; }};\n"
    ));
    s
}

/// `dpkg` for the node: chrooted into a root with its own dpkg; this machine's with `--root` and
/// a log there for a root without; plain on this machine. The clean environment of
/// [`super::SCRIPT_ENV`] for the maintainer scripts.
fn dpkg_command(reach: &Reach, opts: &InstallOptions) -> Command {
    let mut c = reach.command("dpkg");
    if let Reach::RootFlag(root) = reach {
        c.arg(format!("--root={}", root.display()));
        let log_dir = root.join("var/log");
        let _ = fs_err::create_dir_all(&log_dir);
        c.arg(format!("--log={}", log_dir.join("dpkg.log").display()));
    }
    if opts.force {
        c.arg("--force-depends");
    }
    c
}

/// Whether a package (name, version, provides) meets one relation, as dpkg reads them.
fn meets<P: AsRef<str>>(rel: &moa_model::deps::Relation<'_>, name: &str, version: &str, provides: &[P]) -> bool {
    let syntax = DebSyntax;
    (name == rel.name && syntax.parse_version(version).is_ok_and(|v| rel.accepts(Some(&v), false)))
        || provides.iter().any(|pr| {
            syntax
                .parse_provide(pr.as_ref())
                .is_ok_and(|pv| pv.name == rel.name && rel.accepts(pv.constraint.as_ref().map(|(_, v)| v), false))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keeps_only_installed_packages() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        fs_err::write(
            &p,
            "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nProvides: libc6-x (= 1)\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n",
        )
        .unwrap();
        let got = read_status(&p).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].name.as_str(), got[0].version.as_str()), ("libc6", "2.36-9"));
        assert_eq!(got[0].provides, vec!["libc6-x (= 1)"]);
    }
}
