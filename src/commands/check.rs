//! `toozctl check`: can this backend keep toozctl's promises? Connects, asks the backend
//! for its findings (`Coordinator::check`), prints one line each, and exits 0 when all are
//! ok, 1 with a warning, 69 when the backend cannot be reached. Reads only.

use std::io::Write;

use serde::Serialize;

use crate::backends;
use crate::context::Context;
use crate::coordination::check::{Finding, Level};
use crate::error::{Error, Result};
use crate::output::{self, Log};

const AFTER_HELP: &str = "\
Examples:
  # before putting cron jobs on a Redis: are keyspace notifications and persistence on?
  toozctl -b redis://redis.example:6379 check
  # in a monitoring probe: exit 1 on any warning, details as JSON
  toozctl --oslo-config /etc/nova/nova.conf check -o json

Exit status:
  0    every check is ok
  1    at least one warning (a promise is weakened: the line says which)
  2    usage or bad input: unknown flag, malformed URL or config, or a backend without checks
  69   backend unavailable: could not connect
  70   internal error";

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Connect to the backend and report, one line each with ok, warn or info and what it means: \
the server version and the features toozctl uses (Redis keyspace notifications, which decide how fast a \
deleted key is noticed, and its eviction policy; ZooKeeper 3.6+ persistent watches; the etcd version and \
its alarms), persistence (whether locks and fencing tokens survive a restart), the round-trip time, the \
clock skew between this machine and the server where the server has a clock (Redis), TLS and \
authentication in use; for the file backend the directory's owner and mode and its file system (NFS, \
SMB, FUSE, tmpfs). Nothing is created or changed on the backend.\n\n\
-o json prints one object: backend, status (ok or warn) and checks, a list of {check, level, value, meaning}.",
    after_help = AFTER_HELP
)]
pub struct Args {}

#[derive(Serialize)]
struct Report<'a> {
    backend: String,
    status: Level,
    checks: &'a [Finding],
}

pub async fn run(ctx: &Context, _args: Args) -> Result<()> {
    let log = Log::new(ctx.verbosity);
    let coord = backends::connect(&ctx.url, ctx.identity(&[], false)).await?;
    let findings = coord.check().await;
    if let Err(e) = coord.close().await {
        log.debug(&format!("closing the backend connection: {e}"));
    }
    let findings = findings?;
    let warned = findings.iter().any(|f| f.level == Level::Warn);
    let report = Report {
        backend: ctx.url.to_string(),
        status: if warned { Level::Warn } else { Level::Ok },
        checks: &findings,
    };
    if ctx.output == crate::cli::OutputFormat::Text {
        // One line per finding, each escaped on its own (values come from the server).
        let mut stdout = std::io::stdout().lock();
        for line in text(&report) {
            let _ = writeln!(stdout, "{}", output::escape::escape(&line));
        }
    } else {
        output::emit(ctx.output, &report, String::new)?;
    }
    if warned {
        return Err(Error::NotAcquired {
            message: String::new(),
            code: crate::error::code::NOT_ACQUIRED,
        });
    }
    Ok(())
}

fn text(r: &Report) -> Vec<String> {
    let width = r.checks.iter().map(|f| f.check.len()).max().unwrap_or(0);
    let mut out = vec![format!("backend {}", r.backend)];
    for f in r.checks {
        out.push(format!(
            "{:<5} {:<width$}  {}: {}",
            f.level.to_string(),
            f.check,
            f.value,
            f.meaning
        ));
    }
    out
}
