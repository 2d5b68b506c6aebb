//! One function per command: the library's options made from the arguments, the library
//! called once, its report rendered by [`render::emit`] (JSON with `--json`, else the report's
//! text renderer). [`run`] only dispatches, and gives each command's exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use moa_engine::InstallOptions;
use moa_engine::{self as engine, BuildOptions, InstallCmdOptions, InstallerChoice, LockOptions};
use moa_model::manifest::Manifest;
use moa_time::node::{RoleFrom, RoleStep};

use super::args::{self, Cli, Command, KeyCommand};
use super::progress;
use super::render::{self, Out};

/// Runs the command; its exit status (every command but `check` exits 0 when it returns).
pub fn run(cli: Cli, out: Out<'_>) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Sbom(a) => done(sbom(a, out)),
        Command::Lock(a) => done(lock(a, out)),
        Command::Key(KeyCommand::Generate { prefix, out: json }) => done(key_generate(&prefix, json.json, out)),
        Command::Distros(a) => done(distros(a.json, out)),
        Command::Resolve(a) => done(resolve(a, out)),
        Command::Build(a) => done(build(a, out)),
        Command::Inspect(a) => done(inspect(a, out)),
        Command::Push(a) => done(push(a, out)),
        Command::Pull(a) => done(pull(a, out)),
        Command::Verify(a) => done(verify(a, out)),
        Command::Install(a) => done(install(a, out)),
        Command::Configure(a) => done(configure(a, out)),
        Command::Check(a) => check(a, out),
        Command::History(a) => history(a, out),
        Command::Undo(a) => done(undo(a, out)),
        Command::Approve(a) => done(approve(a, out)),
        Command::Review(a) => done(review(a, out)),
        Command::Probe(a) => done(probe(&a.root, a.family.map(Into::into), a.output.as_deref(), out)),
        Command::Completions { shell } => done(completions(shell, out)),
        Command::Man { dir } => done(man(dir.as_deref(), out)),
    }
}

fn sbom(a: args::SbomArgs, out: Out<'_>) -> anyhow::Result<()> {
    let keys = moa_engine::trusted_keys(Path::new("/"), &a.keys.keys)?;
    out.write_all(&engine::sbom_cmd(&a.bundle, &keys)?)?;
    Ok(())
}

fn lock(a: args::LockArgs, out: Out<'_>) -> anyhow::Result<()> {
    let source_date_epoch = source_date_epoch()?;
    let mut m = a.manifest.load()?;
    let opts = LockOptions { output: a.output.clone(), source: a.manifest.source(), source_date_epoch };
    let rep = progress::reporter(a.out.json);
    engine::fetch_keys(&mut m, &opts.source, rep.as_ref())?;
    let r = engine::lock(&m, &opts, rep.as_ref())?;
    drop(rep);
    Ok(render::emit(out, a.out.json, &r, render::lock)?)
}

fn key_generate(prefix: &Path, json: bool, out: Out<'_>) -> anyhow::Result<()> {
    let (secret, public, id) = moa_engine::generate_key(prefix)?;
    let r = render::KeyPair { secret_key: secret, public_key: public, key_id: id };
    Ok(render::emit(out, json, &r, render::key_pair)?)
}

fn distros(json: bool, out: Out<'_>) -> anyhow::Result<()> {
    Ok(render::emit(out, json, &engine::distros()?, |out, d| render::distros(out, d))?)
}

fn resolve(a: args::ResolveArgs, out: Out<'_>) -> anyhow::Result<()> {
    let mut m = a.manifest.load()?;
    let rep = progress::reporter(a.out.json);
    engine::fetch_keys(&mut m, &a.manifest.source(), rep.as_ref())?;
    let explain = engine::Explain { why: a.why.clone(), why_not: a.why_not.clone() };
    let r = engine::resolve_cmd(&m, &a.manifest.source(), &explain, rep.as_ref())?;
    drop(rep);
    Ok(render::emit(out, a.out.json, &r, |out, r| render::resolve(out, &m, r, a.why.as_deref()))?)
}

fn build(a: args::BuildArgs, out: Out<'_>) -> anyhow::Result<()> {
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
        engine::fetch_keys(&mut m, &opts.source, rep.as_ref())?;
        let r = engine::build(&m, &opts, rep.as_ref())?;
        drop(rep);
        // In text, each bundle as it is written.
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
    Ok(())
}

fn inspect(a: args::BundleArgs, out: Out<'_>) -> anyhow::Result<()> {
    let r = engine::verify_cmd(&a.bundle, None, &[])?;
    match a.out.json {
        true => render::json(out, &r.index)?,
        false => render::inspect(out, &r)?,
    }
    Ok(())
}

fn push(a: args::PushArgs, out: Out<'_>) -> anyhow::Result<()> {
    let keys = a.keys.keys.iter().map(|k| moa_engine::TrustedKey::load(k)).collect::<Result<Vec<_>, _>>()?;
    let r = engine::push_cmd(&a.bundle, &a.reference, a.plain_http, &keys)?;
    Ok(render::emit(out, a.out.json, &r, render::push)?)
}

fn pull(a: args::PullArgs, out: Out<'_>) -> anyhow::Result<()> {
    let stall = std::time::Duration::from_secs(a.stall_timeout);
    let r = engine::pull_cmd(&a.reference, a.plain_http, &a.output, stall)?;
    Ok(render::emit(out, a.out.json, &r, render::pull)?)
}

fn verify(a: args::VerifyArgs, out: Out<'_>) -> anyhow::Result<()> {
    let root = a.node.then_some(a.root.as_path());
    let keys = moa_engine::trusted_keys(&a.root, &a.keys.keys)?;
    let r = engine::verify_cmd(&a.bundle.bundle, root, &keys)?;
    Ok(render::emit(out, a.bundle.out.json, &r, render::verify)?)
}

fn install(a: args::InstallArgs, out: Out<'_>) -> anyhow::Result<()> {
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
    let r = engine::install_cmd(&a.bundle.bundle, &opts, role.as_ref(), rep.as_ref())?;
    drop(rep);
    Ok(render::emit(out, a.bundle.out.json, &r, render::install)?)
}

fn configure(a: args::ConfigureArgs, out: Out<'_>) -> anyhow::Result<()> {
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
    Ok(render::emit(out, a.out.json, &r, render::role)?)
}

/// `check` exits with the health's status (0 ok, 1 warning, 2 critical, 3 unknown).
/// `review`: the page (or, with --json, its data), to -o or stdout.
fn review(a: args::ReviewArgs, out: Out<'_>) -> anyhow::Result<()> {
    let keys = a.keys.keys.iter().map(|k| moa_engine::TrustedKey::load(k)).collect::<Result<Vec<_>, _>>()?;
    let baseline = match (&a.against, &a.since) {
        (Some(n), _) => engine::Baseline::Node(n),
        (None, Some(o)) => engine::Baseline::Since(o),
        (None, None) => engine::Baseline::None,
    };
    let r = engine::review_cmd(&a.bundle, &keys, baseline)?;
    // What the roles write, planned on a stand-in root (the node's own files are not known here).
    let roles = match &r.time {
        Some(t) => moa_time::node::preview(t, &r.distro)?,
        None => Vec::new(),
    };
    if a.out.json {
        return Ok(render::json(out, &super::review::Review { review: &r, roles: &roles })?);
    }
    let page = super::review::page(&r, &roles);
    match &a.output {
        Some(path) => {
            moa_model::files::write_atomic(path, page.as_bytes(), 0o644)
                .with_context(|| format!("could not write {}", path.display()))?;
            writeln!(out, "wrote {} ({} packages, {} removed)", path.display(), r.packages.len(), r.removed.len())?;
        }
        None => out.write_all(page.as_bytes())?,
    }
    Ok(())
}

fn approve(a: args::ApproveArgs, out: Out<'_>) -> anyhow::Result<()> {
    let r = engine::approve_cmd(&a.bundle, &a.key, &a.role, a.review.as_deref())?;
    Ok(render::emit(out, a.out.json, &r, render::approve)?)
}

fn undo(a: args::UndoArgs, out: Out<'_>) -> anyhow::Result<()> {
    let install = InstallOptions { root: a.root.clone(), force: false, no_scripts: a.no_scripts };
    let opts = engine::UndoOptions { install, entry: a.entry, dry_run: a.dry_run };
    let rep = progress::reporter(a.out.json);
    let r = engine::undo_cmd(&opts, rep.as_ref())?;
    drop(rep);
    Ok(render::emit(out, a.out.json, &r, render::undo)?)
}

/// `history`: the ledger, checked; with --verify, exit 1 when it is broken.
fn history(a: args::HistoryArgs, out: Out<'_>) -> anyhow::Result<ExitCode> {
    let h = engine::ledger::Ledger::at(&a.root)?.read()?;
    let text = |out: Out<'_>, h: &engine::ledger::History| render::history(out, h, !a.verify);
    render::emit(out, a.out.json, &h, text)?;
    Ok(if a.verify && h.broken() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn check(a: args::CheckArgs, out: Out<'_>) -> anyhow::Result<ExitCode> {
    let t = moa_time::check::Thresholds { warn_offset_ms: a.warn_offset, crit_offset_ms: a.crit_offset };
    let h = moa_time::check::check(t);
    render::emit(out, a.out.json, &h, render::check)?;
    Ok(ExitCode::from(h.status.exit_code()))
}

fn probe(
    root: &Path,
    family: Option<moa_model::manifest::Family>,
    output: Option<&Path>,
    out: Out<'_>,
) -> anyhow::Result<()> {
    let p = engine::probe_cmd(root, family)?;
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

fn completions(shell: clap_complete::Shell, out: Out<'_>) -> anyhow::Result<()> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "moa-bundle", &mut script);
    // clap_complete 4.6 spells the bash state of a hyphenated bin's subcommands two ways
    // (`moa__bundle__subcmd__x` in the loop, `moa__subcmd__bundle__subcmd__x` in the case
    // arms), so nothing past the subcommand completes: clap-rs/clap#6421. One spelling.
    let script = String::from_utf8_lossy(&script).replace("moa__subcmd__bundle", "moa__bundle");
    out.write_all(script.as_bytes())?;
    Ok(())
}

fn man(dir: Option<&Path>, out: Out<'_>) -> anyhow::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => clap_mangen::Man::new(cmd).render(out)?,
        Some(dir) => clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("could not write the manual pages into {}", dir.display()))?,
    }
    Ok(())
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

/// `build`'s options for one manifest of the command line.
fn build_options(a: &args::BuildArgs, m: &Manifest, source_date_epoch: Option<u64>) -> BuildOptions {
    BuildOptions {
        output: output_path(&a.output, m, &a.manifest.target),
        jobs: a.jobs.into(),
        source: a.manifest.source(),
        source_date_epoch,
        sign: a.sign.clone(),
        locked: a.locked.clone(),
        repository: !a.no_repo,
        split_size: a.split_size,
        parity: a.parity,
        installer: match (&a.installer, a.with_installer, a.no_installer) {
            (Some(p), _, _) => InstallerChoice::Path(p.clone()),
            (None, true, _) => InstallerChoice::Running,
            (None, false, true) => InstallerChoice::None,
            // The default is for built-in manifests: a manifest file says what it wants.
            (None, false, false) if !a.manifest.distro.is_empty() => InstallerChoice::Default,
            (None, false, false) => InstallerChoice::None,
        },
        since: a.since.clone(),
        rollback: a
            .rollback
            .then(|| engine::RollbackOptions { partial: a.rollback_partial, mirrors: a.rollback_mirror.clone() }),
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
