//! `toozctl group join GROUP [-- COMMAND...]`: be a member of GROUP while COMMAND runs (or,
//! without COMMAND, until SIGINT/SIGTERM), under the same supervision rule as `lock`
//! (`commands::hold`): joined before COMMAND starts, left only after it has exited.

use std::ffi::OsString;

use crate::cli::{SuperviseArgs, EXIT_CODES};
use crate::commands::hold;
use crate::commands::take::{self, Announcement};
use crate::context::Context;
use crate::coordination::{Capabilities, Coordinator};
use crate::error::Result;
use crate::output::Log;
use crate::supervise::Signals;

const EXAMPLES: &str = "\
Examples:
  # a worker that is listed in 'workers' exactly while it runs
  toozctl group join --create --capabilities '{\"role\": \"api\", \"n\": 3}' workers -- ./worker
  # join from a shell script until SIGTERM
  toozctl group join workers &
  # a partitioned worker with twice the share of items (see `toozctl partition`)
  toozctl group join --weight 2 workers -- ./worker.sh";

/// The largest `--weight`: 32 ring points per unit, so 320 000 points for one member.
const MAX_WEIGHT: i64 = 10_000;

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "toozctl group join [OPTIONS] [--] <GROUP> [-- <COMMAND>...]",
    long_about = "Join GROUP, run COMMAND while a member, leave when COMMAND exits, and exit with \
COMMAND's status. Without COMMAND: print one line once joined, stay a member until SIGINT or SIGTERM, \
leave, exit 0. If the membership is removed meanwhile (group leave --member), COMMAND is stopped as \
--on-lost says and toozctl exits 3.\n\nCOMMAND gets TOOZCTL_GROUP, TOOZCTL_MEMBER_ID and TOOZCTL_BACKEND \
(password shown as ***) in its environment.",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    /// Group name; a name starting with '-' goes after a first --: group join -- -g -- COMMAND
    #[arg(value_name = "GROUP")]
    group_arg: Option<String>,
    /// GROUP, once [`crate::commands::name_and_command`] has read it.
    #[arg(skip)]
    pub group: String,
    /// Capabilities as JSON, stored in tooz's encoding (tooz clients read the same dict)
    #[arg(long, value_name = "JSON", value_parser = super::parse_capabilities)]
    pub capabilities: Option<Capabilities>,
    /// Create the group if it does not exist
    #[arg(long)]
    pub create: bool,
    /// Join as tooz's join_partitioned_group does: capabilities {"weight": N} (stored as tooz stores them), the group created if needed; `toozctl partition` and tooz's Partitioner give this member N shares of the items
    #[arg(long, value_name = "N", conflicts_with = "capabilities", value_parser = clap::value_parser!(u32).range(1..=MAX_WEIGHT))]
    pub weight: Option<u32>,
    /// Record COMMAND's words (up to 80 characters) in the holder record that other backend
    /// users can read, instead of only its program name
    #[arg(long)]
    pub record_command: bool,
    #[command(flatten)]
    pub supervise: SuperviseArgs,
    /// The command to run while a member (after --)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub async fn run(ctx: &Context, mut args: Args) -> Result<()> {
    (args.group, args.command) = crate::commands::name_and_command(
        args.group_arg.take(),
        std::mem::take(&mut args.command),
    )?;
    let log = Log::new(ctx.verbosity);
    crate::commands::with_backend(
        ctx,
        &log,
        &args.command,
        args.record_command,
        async |coord, signals| join_and_hold(ctx, &log, &args, coord, signals).await,
    )
    .await
}

async fn join_and_hold(
    ctx: &Context,
    log: &Log,
    args: &Args,
    coord: &dyn Coordinator,
    signals: &mut Signals,
) -> Result<()> {
    let supervise = hold::resolve(
        &args.supervise,
        coord.lease_for(None),
        !args.command.is_empty(),
    )?;
    let (caps, create) = match args.weight {
        Some(w) => (
            Capabilities::from_json(&serde_json::json!({ "weight": w })),
            true,
        ),
        None => (args.capabilities.clone().unwrap_or_default(), args.create),
    };
    let held = hold::interruptible(signals, coord.join(&args.group, &caps, create)).await??;
    let spec = hold::Spec {
        command: &args.command,
        env: take::child_env(ctx, ("TOOZCTL_GROUP", &args.group), None),
        supervise: &supervise,
    };
    let record = Announcement {
        event: "join",
        name: None,
        group: Some(&args.group),
        member_id: &ctx.member_id,
        fencing_token: None,
        acquired_at: None,
    };
    let done = format!("joined group '{}' as '{}'", args.group, ctx.member_id);
    hold::hold(log, spec, vec![held], signals, || {
        take::announce(ctx, log, args.command.is_empty(), &record, &done, "staying")
    })
    .await
}
