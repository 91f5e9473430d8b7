//! `toozctl unlock NAME`: break a lock (tooz's `break_`) and say who held it.

use serde::Serialize;

use crate::backends;
use crate::context::Context;
use crate::coordination::{self, validate_name, Holder};
use crate::error::{Error, Result};
use crate::output::{self, Log};

const AFTER_HELP: &str = "\
Examples:
  # a crashed host left 'nightly-backup' held on Redis until its TTL: free it now
  toozctl -b redis://redis.example:6379 unlock nightly-backup
  # see who holds what first
  toozctl locks

Breaking a lock does not stop its holder: a holder that is still running goes on as if it
held the lock (a toozctl holder notices on its next renewal and stops its COMMAND).
On the file backend the kernel holds the lock for the holder's process and frees it only
when that process exits: unlock names the holder and its pid and exits 2; stop that
process (kill PID) to free the lock. On ipc:// unlock removes the lock's System V
semaphore set, as tooz's break_ does; a tooz holder is not told, a toozctl holder notices
within 200 ms. Stopping the holder (kill PID) frees it for good.

Exit status:
  0    broken; the holder is printed
  2    usage or bad input; or the backend cannot break this lock (file backend: the
       holder's process still runs; the message names it)
  4    not found: the lock is not held
  69   backend unavailable: could not connect
  70   internal error";

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Break lock NAME as tooz's break_ does, whoever holds it, and print who held it. For \
repairs by hand: a holder that died without releasing, on a backend where the lock would otherwise stay \
until its TTL or session runs out.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Lock name (on the file backend, a path relative to the backend directory), as text
    /// output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub name: String,
}

#[derive(Serialize)]
struct Broken<'a> {
    event: &'static str,
    name: &'a str,
    holder: Option<&'a Holder>,
    holders: &'a [Holder],
}

fn describe(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(Holder::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    validate_name("lock", &args.name)?;
    let log = Log::new(ctx.verbosity);
    let coord = backends::connect(&ctx.url, ctx.identity(&[], false)).await?;
    let broken = coord.break_lock(&args.name).await;
    if let Err(e) = coord.close().await {
        log.debug(&format!("closing the backend connection: {e}"));
    }
    let holders = broken?;
    if holders.is_empty() {
        return Err(Error::Backend(coordination::Error::NotFound(format!(
            "lock '{}' is not held on {}: nothing to break",
            args.name, ctx.url
        ))));
    }
    let b = Broken {
        event: "broken",
        name: &args.name,
        holder: holders.first(),
        holders: &holders,
    };
    output::emit(ctx.output, &b, || {
        format!("broke lock '{}', held by {}", args.name, describe(&holders))
    })
}
