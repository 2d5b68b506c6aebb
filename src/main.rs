//! The `moa-bundle` command line: parses arguments into options ([`cli::args`]), calls one
//! library function per command, prints the report as text ([`cli::render`]) or `--json`, and
//! turns an error into `error: …` / `Caused by: …` lines (or a JSON object) and an exit code.
//! SIGINT and SIGTERM remove this run's temporary files before it exits.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use cli::args::Cli;
use cli::run::run;

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
