//! `toozctl elect GROUP [-- COMMAND...]`: join GROUP (creating it), campaign for its
//! leadership, run COMMAND only while leader, stand down when it exits and exit with its
//! status. Membership and leadership are held under `commands::hold`, so losing either
//! stops COMMAND as `--on-lost` says.

use std::ffi::OsString;

use tokio::time::Instant;

use super::hold;
use super::take::{self, Announcement, Contest, Patience};
use crate::cli::{SuperviseArgs, WaitArgs, EXIT_CODES};
use crate::context::Context;
use crate::coordination::{Capabilities, Coordinator};
use crate::error::Result;
use crate::output::{self, Log};
use crate::supervise::Signals;

const EXAMPLES: &str = "\
Examples:
  # run the scheduler on exactly one host at a time; another takes over when it exits
  toozctl elect scheduler -- /usr/bin/scheduler --active
  # try for 30 seconds, exit 0 quietly if another host leads
  toozctl elect -w 30s -E 0 scheduler -- ./scheduler
  # hold leadership from a shell script until SIGTERM
  toozctl elect scheduler &";

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "toozctl elect [OPTIONS] [--] <GROUP> [-- <COMMAND>...]",
    long_about = "Join GROUP (creating it if needed), campaign for its leadership, and once elected run \
COMMAND for as long as leadership holds; stand down when COMMAND exits and exit with its status. Without \
COMMAND: print one line when elected and hold leadership until SIGINT or SIGTERM.\n\nCOMMAND gets \
TOOZCTL_GROUP, TOOZCTL_MEMBER_ID, TOOZCTL_BACKEND (password shown as ***) and TOOZCTL_FENCING_TOKEN (larger \
with every new term) in its environment.",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    /// Group name; a name starting with '-' goes after a first --: elect -- -g -- COMMAND
    #[arg(value_name = "GROUP")]
    group_arg: Option<String>,
    /// GROUP, once [`super::name_and_command`] has read it.
    #[arg(skip)]
    pub group: String,
    #[command(flatten)]
    pub waiting: WaitArgs,
    /// Capabilities as JSON, stored in tooz's encoding
    #[arg(long, value_name = "JSON", value_parser = super::group::parse_capabilities)]
    pub capabilities: Option<Capabilities>,
    /// Record COMMAND's words (up to 80 characters) in the holder record that other backend
    /// users can read, instead of only its program name
    #[arg(long)]
    pub record_command: bool,
    #[command(flatten)]
    pub supervise: SuperviseArgs,
    /// The command to run while leader (after --)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub async fn run(ctx: &Context, mut args: Args) -> Result<()> {
    let started = Instant::now();
    (args.group, args.command) =
        super::name_and_command(args.group_arg.take(), std::mem::take(&mut args.command))?;
    let log = Log::new(ctx.verbosity);
    super::with_backend(
        ctx,
        &log,
        &args.command,
        args.record_command,
        async |coord, signals| elect_and_hold(ctx, &log, &args, coord, signals, started).await,
    )
    .await
}

async fn elect_and_hold(
    ctx: &Context,
    log: &Log,
    args: &Args,
    coord: &dyn Coordinator,
    signals: &mut Signals,
    started: Instant,
) -> Result<()> {
    let supervise = hold::resolve(
        &args.supervise,
        coord.lease_for(None),
        !args.command.is_empty(),
    )?;
    let caps = args.capabilities.clone().unwrap_or_default();
    let membership = hold::interruptible(signals, coord.join(&args.group, &caps, true)).await??;
    let contest = Contest {
        what: format!("group '{}'", args.group),
        held: "led",
        waiting: format!("waiting to lead group '{}'", args.group),
    };
    let patience = Patience::new(&args.waiting, started);
    let attempt = async |wait| coord.campaign(&args.group, wait).await;
    let holder = async || match coord.leader(&args.group).await {
        Ok(Some(h)) => h.to_string(),
        _ => "another member".to_string(),
    };
    let leadership =
        match take::take_or_wait(ctx, log, signals, &contest, &patience, attempt, holder).await {
            Ok(l) => l,
            Err(e) => {
                let _ = membership.release().await;
                return Err(e);
            }
        };
    let token = leadership.token();
    let spec = hold::Spec {
        command: &args.command,
        env: take::child_env(ctx, ("TOOZCTL_GROUP", &args.group), token),
        supervise: &supervise,
    };
    let record = Announcement {
        event: "elected",
        name: None,
        group: Some(&args.group),
        member_id: &ctx.member_id,
        fencing_token: token,
        acquired_at: Some(output::rfc3339_now()),
    };
    let done = match token {
        Some(t) => format!(
            "elected leader of group '{}' (fencing token {t})",
            args.group
        ),
        None => format!("elected leader of group '{}'", args.group),
    };
    hold::hold(log, spec, vec![membership, leadership], signals, || {
        take::announce(ctx, log, args.command.is_empty(), &record, &done, "holding")
    })
    .await
}
