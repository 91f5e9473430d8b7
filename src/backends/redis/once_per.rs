//! `lock --once-per` on Redis: the record of the last success of lock `<name>` is the JSON
//! `SuccessRecord` at `NS_<name>_lock.last-success` (no expiry), with times on the
//! server's clock (`TIME`), so machines with skewed clocks agree on its age. The key is
//! written only while the lock is held; reading it never writes.

use std::time::Duration;

use super::Inner;
use crate::coordination::{LastSuccess, Result, RunStart, SuccessRecord};

const CLOCK: &str = "redis TIME";
const SUFFIX: &str = "_lock.last-success";

fn key(inner: &Inner, name: &str) -> String {
    format!("{}.last-success", inner.lock_key(name))
}

/// The server's clock, ms since the Unix epoch.
pub(super) async fn server_ms(inner: &Inner) -> Result<u64> {
    let (secs, micros): (u64, u64) = inner
        .cmd("reading the server's clock", &redis::cmd("TIME"))
        .await?;
    Ok(secs * 1000 + micros / 1000)
}

async fn read(inner: &Inner, name: &str, now_ms: u64) -> Result<Option<LastSuccess>> {
    let raw: Option<Vec<u8>> = inner
        .cmd(
            "reading the last success",
            redis::cmd("GET").arg(key(inner, name)),
        )
        .await?;
    Ok(raw
        .and_then(|b| SuccessRecord::parse(&b))
        .map(|record| LastSuccess {
            name: name.to_string(),
            age: Some(Duration::from_millis(
                now_ms.saturating_sub(record.started_ms),
            )),
            record,
        }))
}

pub(super) async fn begin(inner: &Inner, name: &str) -> Result<RunStart> {
    let now = server_ms(inner).await?;
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
    let finished = server_ms(inner).await?;
    let record = SuccessRecord::new(&inner.identity, name, run.started_ms, finished, CLOCK);
    inner
        .cmd::<()>(
            "recording the success",
            redis::cmd("SET")
                .arg(key(inner, name))
                .arg(record.to_json()),
        )
        .await
}

pub(super) async fn list(inner: &Inner) -> Result<Vec<LastSuccess>> {
    let now = server_ms(inner).await?;
    let pattern = format!("{}*{SUFFIX}", glob_escape(&inner.prefix));
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = inner
            .cmd(
                "listing once-per records",
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500),
            )
            .await?;
        for k in keys {
            let Some(name) = k
                .strip_prefix(&inner.prefix)
                .and_then(|r| r.strip_suffix(SUFFIX))
            else {
                continue;
            };
            if let Some(l) = read(inner, name, now).await? {
                out.push(l);
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(out)
}

/// A prefix as a literal in a `SCAN MATCH` pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
