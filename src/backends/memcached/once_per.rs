//! `lock --once-per` on memcached: the record of the last success of lock `<name>` is the
//! JSON `SuccessRecord` in `_TOOZCTL_LAST_<name>` (flags 0, no expiry), written only while
//! the lock is held; reading it never writes.
//!
//! Its times are on the server's clock, `stats time`, which counts **whole seconds**: a
//! run's start is stamped to the second, and its age is known only to within a second
//! either way (both readings come from the same server clock, so machines with skewed
//! clocks still agree). The age counted is the least it can be (the difference less one
//! second), so a job never runs twice within its period; it may be skipped up to 2 s
//! after the period has passed. Like every item on a memcached, the record is lost when the server restarts,
//! and without `-M` it can be evicted: the job may then run again within its period.

use std::time::Duration;

use super::client::Meta;
use super::lock::{get, store};
use super::{Inner, FENCE_PREFIX, LAST_PREFIX};
use crate::coordination::{LastSuccess, Result, RunStart, SuccessRecord};

const CLOCK: &str = "memcached stats time (whole seconds)";

fn key(name: &str) -> String {
    format!("{LAST_PREFIX}{name}")
}

/// A record answered by `mg KEY v`, with its least possible age (module doc).
fn parse(name: &str, m: &Meta, now_ms: u64) -> Option<LastSuccess> {
    let record = SuccessRecord::parse(m.value.as_deref().filter(|_| m.code == "VA")?)?;
    Some(LastSuccess {
        name: name.to_string(),
        age: Some(least_age(now_ms, record.started_ms)),
        record,
    })
}

/// Two whole-second readings `now_ms` and `started_ms` (ms of whole seconds) a difference
/// of d seconds apart are more than d - 1 s apart in fact: the age counted, so that a run
/// is never repeated within its period (it may be skipped up to 2 s past it).
fn least_age(now_ms: u64, started_ms: u64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(started_ms).saturating_sub(1000))
}

async fn read(inner: &Inner, name: &str, now_ms: u64) -> Result<Option<LastSuccess>> {
    let m = inner
        .meta("reading the last success", get(&key(name), "v"))
        .await?;
    Ok(parse(name, &m, now_ms))
}

pub(super) async fn begin(inner: &Inner, name: &str) -> Result<RunStart> {
    let now = inner.server_time().await? * 1000;
    Ok(RunStart {
        last: read(inner, name, now).await?,
        started_ms: now,
        lease: None,
    })
}

pub(super) async fn end(inner: &Inner, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
    if !succeeded {
        return Ok(());
    }
    let finished = inner.server_time().await? * 1000;
    let record = SuccessRecord::new(&inner.identity, name, run.started_ms, finished, CLOCK);
    let m = inner
        .meta(
            "recording the success",
            store(&key(name), &record.to_json(), 0, 0, 'S', None),
        )
        .await?;
    if m.code == "HD" {
        Ok(())
    } else {
        Err(crate::coordination::Error::Unavailable(format!(
            "recording the success of '{name}' on {}: the server answered {} (out of memory with -M?)",
            inner.url, m.code
        )))
    }
}

/// Every record. Names come from `lru_crawler metadump`, which skips an item another
/// client is reading at that instant: a name is looked for under both its record key and
/// its fencing counter (which every toozctl lock leaves), and each record is then read
/// directly, so one busy key does not hide a record.
pub(super) async fn list(inner: &Inner) -> Result<Vec<LastSuccess>> {
    let mut names: Vec<String> = super::lock::all_keys(inner)
        .await?
        .into_iter()
        .filter_map(|k| {
            k.strip_prefix(LAST_PREFIX)
                .or_else(|| k.strip_prefix(FENCE_PREFIX))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let now = inner.server_time().await? * 1000;
    let mut out = Vec::new();
    for chunk in names.chunks(100) {
        let answers = inner
            .metas(
                "reading the last successes",
                chunk.iter().map(|n| get(&key(n), "v")).collect(),
            )
            .await?;
        for (name, m) in chunk.iter().zip(answers) {
            if let Some(l) = parse(name, &m, now) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_possible_age_is_counted() {
        // Started at 10.9 s (stamped 10), read at 12.0 s (reads 12): 1.1 s in fact.
        assert_eq!(least_age(12_000, 10_000), Duration::from_secs(1));
        assert_eq!(least_age(10_000, 10_000), Duration::ZERO);
        assert_eq!(least_age(9_000, 10_000), Duration::ZERO);
    }
}
