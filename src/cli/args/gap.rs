//! The arguments of the commands about what crosses the gap and what it did there: `review`,
//! `approve` (before), `history` and `undo` (on the node).

use std::path::PathBuf;

use clap::Args;
use moa_model::types::Label;

use super::{absolute_dir, JsonArg, KeyArg};

#[derive(Args)]
pub struct ReviewArgs {
    /// The bundle (its file, parts or their folder).
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Compare with this node profile (`moa-bundle probe -o NODE.json` on the node).
    #[arg(long, value_name = "NODE.json", conflicts_with = "since")]
    pub against: Option<PathBuf>,
    /// Compare with an older bundle of the same manifest (its file, parts or moa.lock).
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,
    /// Write the page here (atomically) instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArg,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct ApproveArgs {
    /// The bundle (its file, parts or their folder).
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Your minisign secret key (`moa-bundle key generate`).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The role you approve in, as the nodes' policy names it (`security`).
    #[arg(long, value_name = "NAME")]
    pub role: Label,
    /// The review you read (`moa-bundle review … -o review.html`): its sha256 goes into the
    /// approval.
    #[arg(long, value_name = "FILE")]
    pub review: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct UndoArgs {
    /// The ledger entry to undo (its number in `moa-bundle history`).
    #[arg(value_name = "ENTRY")]
    pub entry: Option<u64>,
    /// The node under this root instead of this system.
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// rpm only: run no package scripts (rpm --noscripts).
    #[arg(long)]
    pub no_scripts: bool,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// The node under this root instead of this system.
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = absolute_dir)]
    pub root: PathBuf,
    /// Check the ledger only: exit 1 when an entry was edited, deleted or moved.
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub out: JsonArg,
}
