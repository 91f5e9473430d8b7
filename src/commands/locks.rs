//! `toozctl locks`: the locks on the backend with holder, age, TTL left and fencing token,
//! as a table, JSON or YAML. One row per holder (a shared lock or semaphore has several).

use std::time::Duration;

use serde::Serialize;

use crate::backends;
use crate::context::Context;
use crate::coordination::{Holder, LastSuccess, LockInfo};
use crate::error::Result;
use crate::output::{table, Log};

const AFTER_HELP: &str = "\
Examples:
  # what is held on the embedded file backend, and by whom
  toozctl locks
  # the same on Redis, as JSON for jq
  toozctl -b redis://redis.example:6379 locks -o json | jq -r '.[].name'
  # include free locks the backend still knows (file backend: every lock file)
  toozctl locks --all

Exit status:
  0    listed (also when no lock is held)
  2    usage or bad input: unknown flag, malformed URL or config
  69   backend unavailable: could not connect
  70   internal error";

#[derive(Debug, clap::Args)]
#[command(
    long_about = "List the locks on the backend with their holder where the backend can tell, how long \
they have been held, the time left on their lease (Redis, etcd) and their fencing token. A lock held by \
toozctl shows its member id, host, pid and command; a lock held by a tooz client shows what tooz stores \
(on the file backend: the pid holding the POSIX fcntl lock and its command line; on ipc://, the pid \
that took the semaphore, and the lock under its key, as tooz keeps no name). The ipc backend has no fencing \
tokens.\n\n\
Text output has one row per holder (shared locks and semaphores have several); -o json and -o yaml \
print one list of objects with the fields name, holder, acquired_at, age_ms, ttl_ms, fencing_token, \
and last_success for a lock used with `lock --once-per` (member_id, host, pid, started_at, finished_at, \
age_ms, exit_status, clock). --all also lists free locks known only by such a record.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Also list free locks the backend still knows of (holder empty)
    #[arg(short = 'a', long)]
    pub all: bool,
}

/// One row: a lock and one of its holders (or none, for a free lock with `--all`).
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    holder: Option<Holder>,
    /// RFC 3339, when the holder recorded it.
    acquired_at: Option<String>,
    age_ms: Option<u64>,
    ttl_ms: Option<u64>,
    fencing_token: Option<u64>,
    /// `lock --once-per`: the last recorded success of the job under this lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_success: Option<Success>,
}

/// The last success as `locks` shows it.
#[derive(Debug, Clone, Serialize)]
struct Success {
    member_id: String,
    host: String,
    pid: u32,
    started_at: String,
    finished_at: String,
    /// How long ago it started, on the backend's clock where it tells (see `clock`).
    age_ms: u64,
    exit_status: i32,
    clock: String,
}

impl Success {
    fn of(l: &LastSuccess) -> Success {
        let r = &l.record;
        Success {
            member_id: r.member_id.clone(),
            host: r.host.clone(),
            pid: r.pid,
            started_at: r.started_at(),
            finished_at: r.finished_at(),
            age_ms: l.age_or_local().as_millis() as u64,
            exit_status: r.exit_status,
            clock: r.clock.clone(),
        }
    }
}

/// Locks with their last success; with `all`, a lock known only by its record (free, and
/// the backend keeps nothing else of it) is listed too.
fn rows(mut locks: Vec<LockInfo>, successes: Vec<LastSuccess>, all: bool) -> Vec<Row> {
    let by_name: std::collections::HashMap<String, Success> = successes
        .iter()
        .map(|l| (l.name.clone(), Success::of(l)))
        .collect();
    if all {
        for l in &successes {
            if !locks.iter().any(|k| k.name == l.name) {
                locks.push(LockInfo {
                    name: l.name.clone(),
                    holders: Vec::new(),
                    ttl: None,
                    fencing_token: None,
                });
            }
        }
    }
    let mut out = plain_rows(locks, all);
    for r in &mut out {
        r.last_success = by_name.get(&r.name).cloned();
    }
    out
}

fn plain_rows(locks: Vec<LockInfo>, all: bool) -> Vec<Row> {
    let mut out = Vec::new();
    for lock in locks {
        let ttl_ms = lock.ttl.map(|t| t.as_millis() as u64);
        if lock.holders.is_empty() {
            if all {
                let fencing_token = lock.fencing_token;
                out.push(Row {
                    name: lock.name,
                    holder: None,
                    acquired_at: None,
                    age_ms: None,
                    ttl_ms,
                    fencing_token,
                    last_success: None,
                });
            }
            continue;
        }
        for h in lock.holders {
            let age_ms = h
                .since
                .as_deref()
                .and_then(age)
                .map(|d| d.as_millis() as u64);
            out.push(Row {
                name: lock.name.clone(),
                acquired_at: h.since.clone(),
                age_ms,
                ttl_ms,
                fencing_token: h.fencing_token,
                holder: Some(h),
                last_success: None,
            });
        }
    }
    out.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.fencing_token.cmp(&b.fencing_token))
    });
    out
}

/// Time since an RFC 3339 instant (zero if it is in the future).
fn age(since: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(since).ok()?;
    let d = chrono::Utc::now().signed_duration_since(t);
    Some(d.to_std().unwrap_or_default())
}

/// `3d4h`, `2h5m`, `4m12s`, `9.5s`: two units at most.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=9 => format!("{:.1}s", d.as_secs_f64()),
        10..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

fn holder_text(h: &Holder) -> String {
    let mut who = String::new();
    if let Some(m) = &h.member_id {
        who.push_str(m);
    }
    match (&h.pid, &h.host) {
        (Some(p), Some(host)) => who.push_str(&format!(" (pid {p} on {host})")),
        (Some(p), None) => who.push_str(&format!(" (pid {p})")),
        (None, Some(host)) if h.member_id.is_none() => who.push_str(&format!("on {host}")),
        _ => {}
    }
    if let Some(c) = &h.command {
        who.push_str(&format!(" '{c}'"));
    }
    if let Some(mode) = h.mode.as_deref().filter(|m| *m != "exclusive") {
        who.push_str(&format!(" [{mode}]"));
    }
    if let Some(n) = &h.note {
        who.push_str(&format!(" {n}"));
    }
    who.trim().to_string()
}

impl table::Row for Row {
    const HEADERS: &'static [&'static str] =
        &["NAME", "HOLDER", "AGE", "TTL", "TOKEN", "LAST SUCCESS"];

    fn cells(&self) -> Vec<String> {
        let dash = || "-".to_string();
        let span = |ms: Option<u64>| {
            ms.map(|ms| humanize(Duration::from_millis(ms)))
                .unwrap_or_else(dash)
        };
        vec![
            self.name.clone(),
            self.holder
                .as_ref()
                .map(holder_text)
                .unwrap_or_else(|| "(free)".into()),
            span(self.age_ms),
            span(self.ttl_ms),
            self.fencing_token
                .map(|t| t.to_string())
                .unwrap_or_else(dash),
            self.last_success
                .as_ref()
                .map(|l| {
                    format!(
                        "{} ago by {} on {}",
                        humanize(Duration::from_millis(l.age_ms)),
                        l.member_id,
                        l.host
                    )
                })
                .unwrap_or_else(dash),
        ]
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let log = Log::new(ctx.verbosity);
    let coord = backends::connect(&ctx.url, ctx.identity(&[], false)).await?;
    let listed = coord.locks().await;
    // Backends without once-per records (Unsupported) simply have none to show.
    let successes = match coord.last_successes().await {
        Ok(s) => s,
        Err(crate::coordination::Error::Unsupported(_)) => Vec::new(),
        Err(e) => {
            log.warn(&format!("reading the --once-per records: {e}"));
            Vec::new()
        }
    };
    for w in coord.listing_warnings() {
        log.warn(&w);
    }
    if let Err(e) = coord.close().await {
        log.debug(&format!("closing the backend connection: {e}"));
    }
    let rows = rows(listed?, successes, args.all);
    if rows.is_empty() && ctx.output == crate::cli::OutputFormat::Text {
        if !ctx.quiet() {
            log.error(&format!(
                "no locks {} on {}",
                if args.all { "known" } else { "held" },
                ctx.url
            ));
        }
        return Ok(());
    }
    table::print_list(ctx.output, ctx.stdout_tty, &rows, "no locks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(humanize(Duration::from_millis(2500)), "2.5s");
        assert_eq!(humanize(Duration::from_secs(42)), "42s");
        assert_eq!(humanize(Duration::from_secs(252)), "4m12s");
        assert_eq!(humanize(Duration::from_secs(7500)), "2h5m");
        assert_eq!(
            humanize(Duration::from_secs(3 * 86400 + 4 * 3600 + 5)),
            "3d4h"
        );
    }
}
