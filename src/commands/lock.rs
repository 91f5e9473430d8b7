//! `toozctl lock NAME [-- COMMAND...]`: take a lock, run COMMAND while holding it, give it
//! back when COMMAND exits, exit with COMMAND's status.
//!
//! "Try, announce, then block" (as cargo does): a first non-blocking attempt; only when the
//! lock is held do we look up the holder, start the spinner and wait.

use std::ffi::OsString;
use std::time::Duration;

use tokio::time::Instant;

use super::hold;
use super::once_per;
use super::take::{self, Announcement, Contest, Patience};
use crate::cli::{SuperviseArgs, WaitArgs, EXIT_CODES};
use crate::context::Context;
use crate::coordination::{Coordinator, Holder, LockMode, LockRequest};
use crate::error::{Error, Result};
use crate::output::{self, Log};
use crate::supervise::Signals;

const EXAMPLES: &str = "\
Examples:
  # a cron job that must not run twice at once, anywhere
  toozctl -b redis://redis.example:6379 lock nightly-backup -- /usr/local/bin/backup
  # give up at once if another run holds it, exiting 0 so cron stays quiet
  toozctl lock -n -E 0 nightly-backup -- backup.sh
  # wait at most 5 minutes; up to 3 holders at once
  toozctl lock -w 5m -l 3 encoder-slots -- ffmpeg ...
  # hold it from a shell script until SIGTERM
  toozctl lock maintenance &
  # cron fires this on every machine; it runs at most once per day, wherever it fires first
  toozctl -b redis://redis.example:6379 lock --once-per 23h -E 0 daily-report -- report.sh";

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "toozctl lock [OPTIONS] [--] <NAME> [-- <COMMAND>...]",
    long_about = "Acquire lock NAME, run COMMAND while holding it, release it when COMMAND exits, and exit \
with COMMAND's status (128+S if it died of signal S). Without COMMAND: print one line when acquired, hold \
until SIGINT or SIGTERM, release, exit 0.\n\nCOMMAND runs in its own process group; SIGINT, SIGTERM, \
SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to it. It gets TOOZCTL_LOCK, TOOZCTL_MEMBER_ID, \
TOOZCTL_BACKEND (password shown as ***) and TOOZCTL_FENCING_TOKEN in its environment (not on ipc://, \
which has no number that strictly increases across reboots: none is handed out there).",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    /// Lock name (on the file backend, a path relative to the backend directory); a name
    /// starting with '-' goes after a first --: lock -- -x -- COMMAND
    #[arg(value_name = "NAME")]
    name_arg: Option<String>,
    /// NAME, once [`super::name_and_command`] has read it.
    #[arg(skip)]
    pub name: String,
    #[command(flatten)]
    pub waiting: WaitArgs,
    /// Shared (reader) lock: readers share, an exclusive holder excludes them
    #[arg(short = 's', long, conflicts_with = "limit")]
    pub shared: bool,
    /// Semaphore: up to N holders at once
    #[arg(short = 'l', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: Option<u32>,
    /// Lease for TTL-based backends (Redis, etcd), refreshed well before expiry; at least 1s [default: the URL's lock_timeout]
    #[arg(long, value_parser = crate::cli::parse_ttl, value_name = "DURATION")]
    pub ttl: Option<Duration>,
    /// Run COMMAND only if no run of NAME succeeded within DURATION on any machine sharing
    /// the backend (checked and recorded under the lock); otherwise exit with the conflict
    /// status (-E) without running. Runs count from their start, failed runs do not count.
    /// Clock: Redis TIME; ZooKeeper a node's mtime (the leader's clock); etcd a lease of
    /// DURATION (no clock in etcd); memcached stats time (whole seconds); MySQL NOW(6) and
    /// PostgreSQL clock_timestamp() (microseconds); file backend this machine's clock
    #[arg(long, value_parser = crate::cli::parse_period, value_name = "DURATION", conflicts_with_all = ["shared", "limit"])]
    pub once_per: Option<Duration>,
    /// Record COMMAND's words (up to 80 characters) in the holder record that other backend
    /// users can read, instead of only its program name
    #[arg(long)]
    pub record_command: bool,
    #[command(flatten)]
    pub supervise: SuperviseArgs,
    /// The command to run while holding the lock (after --)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

impl Args {
    /// What clap makes of `lock [-s | -l N] [-n | -w DURATION] [-E N] NAME [-- COMMAND...]`:
    /// every other option at its default (see `commands::fast`, whose tests compare the two).
    pub(super) fn plain(
        name: String,
        shared: bool,
        limit: Option<u32>,
        waiting: WaitArgs,
        command: Vec<OsString>,
    ) -> Args {
        Args {
            name_arg: Some(name),
            name: String::new(),
            waiting,
            shared,
            limit,
            ttl: None,
            once_per: None,
            record_command: false,
            supervise: SuperviseArgs {
                on_lost: crate::cli::DEFAULT_ON_LOST,
                kill_after: None,
            },
            command,
        }
    }

    fn mode(&self) -> LockMode {
        match (self.shared, self.limit) {
            (true, _) => LockMode::Shared,
            (false, Some(n)) => LockMode::Limit(n),
            (false, None) => LockMode::Exclusive,
        }
    }
}

pub async fn run(ctx: &Context, mut args: Args) -> Result<()> {
    let started = Instant::now();
    (args.name, args.command) =
        super::name_and_command(args.name_arg.take(), std::mem::take(&mut args.command))?;
    let log = Log::new(ctx.verbosity);
    super::with_backend(
        ctx,
        &log,
        &args.command,
        args.record_command,
        async |coord, signals| lock_and_hold(ctx, &log, &args, coord, signals, started).await,
    )
    .await
}

async fn lock_and_hold(
    ctx: &Context,
    log: &Log,
    args: &Args,
    coord: &dyn Coordinator,
    signals: &mut Signals,
    started: Instant,
) -> Result<()> {
    let supervise = hold::resolve(
        &args.supervise,
        coord.lease_for(args.ttl),
        !args.command.is_empty(),
    )?;
    let contest = Contest {
        what: format!("lock '{}'", args.name),
        held: "held",
        waiting: format!("waiting for lock '{}'", args.name),
    };
    let patience = Patience::new(&args.waiting, started);
    let mode = args.mode();
    let attempt = async |wait| {
        let req = LockRequest {
            name: args.name.clone(),
            mode,
            wait,
            ttl: args.ttl,
        };
        coord.acquire(&req).await
    };
    let holder = async || describe(&coord.lock_holders(&args.name).await.unwrap_or_default());
    if args.once_per.is_some() && args.command.is_empty() {
        return Err(Error::Usage(
            "--once-per needs a COMMAND to run (after --)".into(),
        ));
    }
    let held = take::take_or_wait(ctx, log, signals, &contest, &patience, attempt, holder).await?;
    let run = match args.once_per {
        None => None,
        Some(period) => {
            let code = args.waiting.conflict_exit_code;
            let begun = once_per::begin(coord, &args.name, period, code, ctx.quiet()).await;
            match begun {
                Ok(run) => Some(run),
                Err(e) => {
                    if let Err(r) = held.release().await {
                        log.warn(&format!("releasing lock '{}': {r}", args.name));
                    }
                    return Err(e);
                }
            }
        }
    };
    let token = held.token();
    let spec = hold::Spec {
        command: &args.command,
        env: take::child_env(ctx, ("TOOZCTL_LOCK", &args.name), token),
        supervise: &supervise,
    };
    let record = Announcement {
        event: "acquired",
        name: Some(&args.name),
        group: None,
        member_id: &ctx.member_id,
        fencing_token: token,
        acquired_at: Some(output::rfc3339_now()),
    };
    let done = match token {
        Some(t) => format!("acquired lock '{}' (fencing token {t})", args.name),
        None => format!(
            "acquired lock '{}' (no fencing token on the {} backend)",
            args.name,
            coord.url().scheme.name()
        ),
    };
    let announce = || take::announce(ctx, log, args.command.is_empty(), &record, &done, "holding");
    let record_run = async |outcome: &Result<()>, lost: bool| {
        if let Some(run) = run {
            once_per::end(coord, log, &args.name, run, outcome, lost).await;
        }
    };
    hold::hold_then(log, spec, vec![held], signals, announce, record_run).await
}

fn describe(holders: &[Holder]) -> String {
    match holders {
        [] => "another holder".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}
