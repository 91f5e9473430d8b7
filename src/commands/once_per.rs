//! `lock --once-per DURATION`: run COMMAND only if no run of the same lock name succeeded
//! within DURATION, on any machine sharing the backend. The rule, all of it under the
//! (exclusive) lock, so two machines firing at skewed times run the job once:
//! take the lock; read the last success and its age on the backend's clock
//! (`Coordinator::begin_run`); skip (the conflict status, `-E`) or run; once COMMAND's tree
//! is gone, record the run if COMMAND exited 0 and the lock was held throughout
//! (`Coordinator::end_run`); release.
//!
//! A run counts from when it started (the moment it was decided, under the lock), so a
//! daily job's window does not creep by its running time; failed runs (non-zero exit, a
//! signal, a lost lock) do not count, so the next firing anywhere tries again.

use std::time::Duration;

use super::locks::humanize;
use crate::coordination::{Coordinator, LastSuccess, RunStart};
use crate::error::{Error, Result};
use crate::output::Log;

/// Which clock each backend measures `--once-per` with (for `--help` and messages).
pub const CLOCKS: &str = "the backend's clock: Redis TIME; ZooKeeper the mtime of a node \
written at the start (the leader's clock); etcd, which has no clock, a lease of DURATION \
granted at the start (the leader counts it down); memcached stats time (whole seconds); \
MySQL NOW(6) and PostgreSQL clock_timestamp() (microseconds); the file backend this \
machine's clock";

/// The one-line reason a run is skipped: when and where the last success was.
pub fn skipped(name: &str, last: &LastSuccess, period: Duration) -> String {
    let r = &last.record;
    format!(
        "lock '{name}': not run: the last success started {} ago ({}, by {} pid {} on {}), within --once-per {} ({})",
        humanize(last.age_or_local()),
        r.started_at(),
        r.member_id,
        r.pid,
        r.host,
        humanize(period),
        r.clock
    )
}

/// Read the last success under the lock; `Err(NotAcquired)` with the `-E` code when it is
/// within `period` (what `begin_run` took is given back first).
pub async fn begin(
    coord: &dyn Coordinator,
    name: &str,
    period: Duration,
    conflict_code: i32,
    quiet: bool,
) -> Result<RunStart> {
    let run = coord.begin_run(name, period).await?;
    let Some(last) = run.within(period).cloned() else {
        return Ok(run);
    };
    let _ = coord.end_run(name, run, false).await;
    Err(Error::NotAcquired {
        message: if quiet {
            String::new()
        } else {
            skipped(name, &last, period)
        },
        code: conflict_code,
    })
}

/// After COMMAND's tree is gone, still holding the lock: record a success, or give back
/// what `begin` took. A record that cannot be written is said on stderr; COMMAND's status
/// stands (it ran), but the next firing may run the job again.
pub async fn end(
    coord: &dyn Coordinator,
    log: &Log,
    name: &str,
    run: RunStart,
    outcome: &Result<()>,
    lost: bool,
) {
    let succeeded = outcome.is_ok() && !lost;
    match coord.end_run(name, run, succeeded).await {
        Ok(()) if succeeded => log.info(&format!("recorded the success of '{name}' (--once-per)")),
        Ok(()) => log.info(&format!(
            "'{name}' did not succeed: not recorded, the next run may go (--once-per)"
        )),
        Err(e) if succeeded => log.error(&format!(
            "COMMAND succeeded but its success could not be recorded, so the next run may go too: {e}"
        )),
        Err(e) => log.debug(&format!("giving back the --once-per start of '{name}': {e}")),
    }
}
