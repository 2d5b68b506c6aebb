//! The `moa-bundle` command line: parses arguments into options ([`cli::args`]), calls one
//! library function per command, prints the report as text ([`cli::render`]) or `--json`, and
//! turns an error into `error: …` / `Caused by: …` lines (or a JSON object) and an exit code.
//! SIGINT and SIGTERM remove this run's temporary files before it exits.

mod cli;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::args::{Cli, Command, KeyCommand};
use cli::{progress, render};
use moa_engine::commands::{self, BuildOptions, InstallCmdOptions, InstallerChoice};
use moa_engine::install::InstallOptions;
use moa_model::manifest::{Family, Manifest};
use moa_time::node::{RoleFrom, RoleStep};

fn main() -> ExitCode {
    cleanup_on_signals();
    let cli = Cli::parse();
    let json = cli.command.json();
    let mut stdout = std::io::stdout().lock();
    match run(cli, &mut stdout).and_then(|code| stdout.flush().map(|_| code).map_err(Into::into)) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say, and nothing went wrong.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&e, json, &mut stdout);
            ExitCode::FAILURE
        }
    }
}

/// Removes this run's registered temporary files on SIGINT or SIGTERM, then exits 128+signal.
fn cleanup_on_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            moa_model::files::cleanup_registered();
            std::process::exit(128 + sig);
        }
    });
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn report_error(e: &anyhow::Error, json: bool, stdout: &mut dyn Write) {
    if json {
        let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
        let v = serde_json::json!({ "error": e.to_string(), "causes": causes });
        let _ = writeln!(stdout, "{v:#}");
    } else {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  Caused by: {cause}");
        }
    }
}

/// `SOURCE_DATE_EPOCH`, when set: seconds since the epoch, or an error.
fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => s.trim().parse().map(Some).map_err(|_| {
            anyhow::anyhow!(
                "SOURCE_DATE_EPOCH is `{}`, not a number of seconds since 1970: unset it or fix it",
                s.escape_debug()
            )
        }),
        Err(_) => anyhow::bail!("SOURCE_DATE_EPOCH is not UTF-8: unset it or fix it"),
    }
}

fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let ok = Ok(ExitCode::SUCCESS);
    match cli.command {
        Command::Sbom(a) => {
            let keys = moa_engine::bundle::sign::trusted_keys(Path::new("/"), &a.keys.keys)?;
            out.write_all(&commands::sbom_cmd(&a.bundle, &keys)?)?;
        }
        Command::Lock(a) => {
            let source_date_epoch = source_date_epoch()?;
            let mut m = a.manifest.load()?;
            let opts = BuildOptions {
                output: a.output.clone(),
                jobs: 1,
                source: a.manifest.source(),
                source_date_epoch,
                sign: None,
                locked: None,
                repository: false,
                split_size: None,
                installer: InstallerChoice::None,
                since: None,
                service_files: Vec::new(),
            };
            let rep = progress::reporter(a.out.json);
            commands::fetch_keys(&mut m, &opts.source, rep.as_ref())?;
            let r = commands::lock(&m, &opts, rep.as_ref())?;
            drop(rep);
            if a.out.json {
                render::json(out, &r)?
            } else {
                for n in &r.notes {
                    eprintln!("note: {n}");
                }
                writeln!(out, "wrote {} ({} packages)", r.lock.display(), r.packages.len())?
            }
        }
        Command::Key(KeyCommand::Generate { prefix, out: json }) => {
            let (secret, public, id) = moa_engine::bundle::sign::generate(&prefix)?;
            if json.json {
                render::json(out, &serde_json::json!({ "secret_key": secret, "public_key": public, "key_id": id }))?
            } else {
                writeln!(out, "key {id}\n  secret: {} (keep it private; `build --sign` it)\n  public: {} (give it to nodes: --key, or /etc/moa-bundle/trusted-keys/)", secret.display(), public.display())?
            }
        }
        Command::Distros(a) => {
            let d = commands::distros()?;
            if a.json {
                render::json(out, &d)?
            } else {
                render::distros(out, &d)?
            }
        }
        Command::Resolve(a) => {
            let mut m = a.manifest.load()?;
            let rep = progress::reporter(a.out.json);
            commands::fetch_keys(&mut m, &a.manifest.source(), rep.as_ref())?;
            let explain = commands::Explain { why: a.why.clone(), why_not: a.why_not.clone() };
            let r = commands::resolve_cmd(&m, &a.manifest.source(), &explain, rep.as_ref())?;
            drop(rep);
            if a.out.json {
                render::json(out, &r)?
            } else {
                render::resolve(out, &m, &r, a.why.as_deref())?
            }
        }
        Command::Build(a) => {
            let source_date_epoch = source_date_epoch()?;
            let manifests = match &a.locked {
                Some(lock) if a.manifest.names_none() => vec![a.manifest.load_for_lock(lock)?],
                _ => a.manifest.load_all()?,
            };
            let several = manifests.len() > 1;
            if several && (a.locked.is_some() || a.since.is_some() || a.output.to_string_lossy().ends_with(".tar.gz")) {
                anyhow::bail!("with several manifests, -o is a directory and --locked/--since do not apply (they name one bundle's set): build those one at a time");
            }
            let mut reports = Vec::new();
            for mut m in manifests {
                let opts = build_options(&a, &m, source_date_epoch);
                let rep = progress::reporter(a.out.json);
                commands::fetch_keys(&mut m, &opts.source, rep.as_ref())?;
                let r = commands::build(&m, &opts, rep.as_ref())?;
                drop(rep);
                if !a.out.json {
                    render::build(out, &r)?;
                }
                reports.push(r);
            }
            match (a.out.json, several) {
                (true, false) => render::json(out, &reports[0])?,
                (true, true) => render::json(out, &reports)?,
                (false, _) => {}
            }
        }
        Command::Inspect(a) => {
            let r = commands::verify_cmd(&a.bundle, None, &[])?;
            if a.out.json {
                render::json(out, &r.index)?
            } else {
                render::inspect(out, &r)?
            }
        }
        Command::Push(a) => {
            let keys = a
                .keys
                .keys
                .iter()
                .map(|k| moa_engine::bundle::sign::TrustedKey::load(k))
                .collect::<Result<Vec<_>, _>>()?;
            let r = commands::push_cmd(&a.bundle, &a.reference, a.plain_http, &keys)?;
            if a.out.json {
                render::json(out, &r)?
            } else {
                writeln!(
                    out,
                    "pushed {} ({} layers; {} bytes uploaded, {} already in the registry)",
                    r.reference, r.layers, r.uploaded_bytes, r.reused_bytes
                )?;
            }
        }
        Command::Pull(a) => {
            let r = commands::pull_cmd(
                &a.reference,
                a.plain_http,
                &a.output,
                std::time::Duration::from_secs(a.stall_timeout),
            )?;
            if a.out.json {
                render::json(out, &r)?
            } else {
                writeln!(
                    out,
                    "pulled {} (sha256 {}){}",
                    r.bundle.display(),
                    r.sha256,
                    if r.signature.is_some() { ", with its signature" } else { "" }
                )?;
            }
        }
        Command::Verify(a) => {
            let root = a.node.then_some(a.root.as_path());
            let keys = moa_engine::bundle::sign::trusted_keys(&a.root, &a.keys.keys)?;
            let r = commands::verify_cmd(&a.bundle.bundle, root, &keys)?;
            if a.bundle.out.json {
                render::json(out, &r)?
            } else {
                render::verify(out, &r)?
            }
        }
        Command::Install(a) => {
            let opts = InstallCmdOptions {
                install: InstallOptions { root: a.root.clone(), force: a.force, no_scripts: a.no_scripts },
                dry_run: a.dry_run,
                skip_node_check: a.skip_node_check,
                via_repo: a.via_repo,
                verified: a.verified,
                plain_http: a.plain_http,
                keys: a.keys.keys.clone(),
            };
            if a.role.is_none() && a.role_flags.client_mode.is_some() {
                anyhow::bail!("--client-mode only applies with --role client");
            }
            let rep = progress::reporter(a.bundle.out.json);
            let role = a.role.map(|r| RoleStep(a.role_flags.options(r.into(), &a.root, a.dry_run)));
            let r = commands::install_cmd(&a.bundle.bundle, &opts, role.as_ref(), rep.as_ref())?;
            drop(rep);
            if a.bundle.out.json {
                render::json(out, &r)?
            } else {
                render::install(out, &r)?
            }
        }
        Command::Configure(a) => {
            let opts = a.flags.options(a.role.into(), &a.root, a.dry_run);
            let manifest = match (&a.distro, &a.manifest) {
                (Some(d), _) => Some(Manifest::builtin(d)?),
                (None, Some(p)) => Some(Manifest::load(p)?),
                (None, None) => None,
            };
            let from = match (&a.bundle, &manifest) {
                (Some(b), _) => RoleFrom::Bundle(b),
                (None, Some(m)) => RoleFrom::Manifest(m),
                (None, None) => RoleFrom::Detect,
            };
            let r = moa_time::node::configure_cmd(from, &opts)?;
            if a.out.json {
                render::json(out, &r)?
            } else {
                render::role(out, &r)?
            }
        }
        Command::Check(a) => {
            let t = moa_time::check::Thresholds { warn_offset_ms: a.warn_offset, crit_offset_ms: a.crit_offset };
            let h = moa_time::check::check(t);
            if a.out.json {
                render::json(out, &h)?
            } else {
                render::check(out, &h)?
            }
            return Ok(ExitCode::from(h.status.exit_code()));
        }
        Command::Probe(a) => probe(&a.root, a.family.map(Into::into), a.output.as_deref(), out)?,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "moa-bundle", &mut script);
            // clap_complete 4.6 spells the bash state of a hyphenated bin's subcommands two ways
            // (`moa__bundle__subcmd__x` in the loop, `moa__subcmd__bundle__subcmd__x` in the case
            // arms), so nothing past the subcommand completes: clap-rs/clap#6421. One spelling.
            let script = String::from_utf8_lossy(&script).replace("moa__subcmd__bundle", "moa__bundle");
            out.write_all(script.as_bytes())?;
        }
        Command::Man { dir: None } => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?,
        Command::Man { dir: Some(dir) } => {
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &dir)
                .with_context(|| format!("could not write the manual pages into {}", dir.display()))?;
        }
    }
    ok
}

fn probe(root: &Path, family: Option<Family>, output: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = commands::probe_cmd(root, family)?;
    let mut json = serde_json::to_vec_pretty(&p).context("could not serialize the profile")?;
    json.push(b'\n');
    match output {
        Some(o) => {
            moa_model::files::write_atomic(o, &json, 0o644)
                .with_context(|| format!("could not write {}", o.display()))?;
            let (os, n) = (&p.os_release, p.packages.len());
            eprintln!("wrote {}: {} {} {} ({}), {n} packages", o.display(), os.id, os.version_id, p.arch, p.family);
        }
        None => out.write_all(&json)?,
    }
    Ok(())
}

/// `build`'s options for one manifest of the command line.
fn build_options(a: &cli::args::BuildArgs, m: &Manifest, source_date_epoch: Option<u64>) -> BuildOptions {
    BuildOptions {
        output: output_path(&a.output, m, &a.manifest.target),
        jobs: a.jobs.into(),
        source: a.manifest.source(),
        source_date_epoch,
        sign: a.sign.clone(),
        locked: a.locked.clone(),
        repository: !a.no_repo,
        split_size: a.split_size,
        installer: match (&a.installer, a.with_installer, a.no_installer) {
            (Some(p), _, _) => InstallerChoice::Path(p.clone()),
            (None, true, _) => InstallerChoice::Running,
            (None, false, true) => InstallerChoice::None,
            // The default is for built-in manifests: a manifest file says what it wants.
            (None, false, false) if !a.manifest.distro.is_empty() => InstallerChoice::Default,
            (None, false, false) => InstallerChoice::None,
        },
        since: a.since.clone(),
        service_files: moa_time::roles::render::service_files(m),
    }
}

fn output_path(arg: &Path, m: &Manifest, targets: &[PathBuf]) -> PathBuf {
    let s = arg.to_string_lossy();
    if s.ends_with(".tar.gz") || s.ends_with(".tgz") {
        arg.to_path_buf()
    } else {
        arg.join(m.bundle_file_name_for(targets))
    }
}
