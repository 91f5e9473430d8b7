//! `toozctl check` on Redis: version, keyspace notifications (how fast a deleted or expired
//! key is noticed), eviction (whether a lock key can be evicted), persistence (what a
//! restart keeps), round trip, clock skew against `TIME`, TLS and authentication. Reads
//! only (`PING`, `INFO`, `CONFIG GET`, `TIME`).

use std::time::{Duration, Instant};

use super::Inner;
use crate::coordination::check::{self, Finding};
use crate::coordination::once_per::local_ms;
use crate::coordination::Result;

/// A field of `INFO` output.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// `CONFIG GET name`, or `None` when the server refuses (CONFIG renamed, ACL).
async fn config(inner: &Inner, name: &str) -> Option<String> {
    let r: Result<Vec<String>> = inner
        .cmd(
            "reading the configuration",
            redis::cmd("CONFIG").arg("GET").arg(name),
        )
        .await;
    r.ok().and_then(|v| v.get(1).cloned())
}

pub(super) async fn check(inner: &Inner) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let info: String = inner
        .cmd("reading INFO", redis::cmd("INFO").arg("server"))
        .await?;
    out.push(version(&info));
    out.push(notifications(config(inner, "notify-keyspace-events").await));
    out.push(eviction(
        config(inner, "maxmemory-policy").await,
        config(inner, "maxmemory").await,
    ));
    let persistence: String = inner
        .cmd("reading INFO", redis::cmd("INFO").arg("persistence"))
        .await?;
    out.push(persisted(&persistence, config(inner, "save").await));
    let mut rtt = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let _: String = inner.cmd("PING", &redis::cmd("PING")).await?;
        rtt = rtt.min(t.elapsed());
    }
    out.push(check::round_trip(rtt));
    let t = Instant::now();
    let server = super::once_per::server_ms(inner).await?;
    let (after, took) = (local_ms(), t.elapsed());
    out.push(check::clock_skew(
        server,
        after,
        took,
        "--once-per runs on the server's clock (TIME), so skew does not change its periods; holder records' 'since' use each machine's clock",
    ));
    out.push(tls(inner));
    out.push(auth(inner));
    Ok(out)
}

fn version(info: &str) -> Finding {
    let v = info_field(info, "redis_version").unwrap_or("unknown");
    let major: u32 = v
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mode = info_field(info, "redis_mode").unwrap_or("standalone");
    let value = format!("{v} ({mode})");
    if major >= 5 {
        Finding::ok(
            "server version",
            value,
            "scripts, SET NX PX, pub/sub and TIME: all toozctl uses",
        )
    } else {
        Finding::warn(
            "server version",
            value,
            "older than 5.0, which toozctl is not tested with",
        )
    }
}

/// `K` (keyspace channel) with `g` (DEL, ...) and `x` (expiries), or `A` (all classes).
fn notifications(flags: Option<String>) -> Finding {
    const CHECK: &str = "keyspace notifications";
    let Some(flags) = flags else {
        return Finding::warn(
            CHECK,
            "unknown (CONFIG GET refused)",
            "cannot tell how fast a deleted key is noticed: at once with notify-keyspace-events Kgx, else within ownership_check_interval (0.5 s)",
        );
    };
    let has = |c: char| flags.contains(c);
    let shown = if flags.is_empty() {
        "off".to_string()
    } else {
        format!("'{flags}'")
    };
    if has('K') && (has('A') || (has('g') && has('x'))) {
        Finding::ok(
            CHECK,
            shown,
            "a deleted or expired lock key is noticed at once, and tooz's releases wake waiters at once",
        )
    } else {
        Finding::warn(
            CHECK,
            shown,
            "a lock deleted behind toozctl's back is noticed only within ownership_check_interval (0.5 s), and waiters wake on tooz's releases and expiries only by their fallback retry; enable with CONFIG SET notify-keyspace-events Kgx",
        )
    }
}

fn eviction(policy: Option<String>, maxmemory: Option<String>) -> Finding {
    const CHECK: &str = "eviction";
    match (policy.as_deref(), maxmemory.as_deref()) {
        (Some(p), Some(m)) if p.starts_with("allkeys") && m != "0" => Finding::warn(
            CHECK,
            format!("maxmemory-policy {p}, maxmemory {m}"),
            "under memory pressure Redis may evict a held lock's key: another client could then take it (the holder notices and stops COMMAND); use noeviction or a volatile-* policy",
        ),
        (Some(p), Some(m)) => Finding::ok(
            CHECK,
            format!("maxmemory-policy {p}, maxmemory {m}"),
            "lock keys are not evicted while held",
        ),
        _ => Finding::warn(CHECK, "unknown (CONFIG GET refused)", "cannot tell whether lock keys may be evicted"),
    }
}

fn persisted(info: &str, save: Option<String>) -> Finding {
    const CHECK: &str = "persistence";
    let aof = info_field(info, "aof_enabled") == Some("1");
    let rdb = save.as_deref().is_some_and(|s| !s.trim().is_empty());
    match (aof, rdb) {
        (true, _) => Finding::ok(
            CHECK,
            "AOF on",
            "a restart keeps locks, memberships and once-per records; fencing tokens keep increasing",
        ),
        (false, true) => Finding::warn(
            CHECK,
            format!("RDB snapshots only (save '{}')", save.unwrap_or_default()),
            "a restart goes back to the last snapshot: holders since then see their locks lost (exit 3) and once-per records may be older; fencing tokens still increase (re-seeded from the server clock)",
        ),
        (false, false) => Finding::warn(
            CHECK,
            if save.is_none() { "off (AOF off; save unknown)" } else { "off" },
            "a restart forgets every lock, membership and once-per record: holders see them lost (exit 3) and a once-per job may run again; fencing tokens still increase (re-seeded from the server clock)",
        ),
    }
}

fn tls(inner: &Inner) -> Finding {
    let url = &inner.url;
    let on =
        url.bool_option("ssl").unwrap_or(false) || url.scheme_text.eq_ignore_ascii_case("rediss");
    if on {
        Finding::ok("tls", "on", "traffic and the password are encrypted")
    } else if url.hosts.is_empty() {
        Finding::info("tls", "off (Unix socket)", "local traffic only")
    } else {
        Finding::info(
            "tls",
            "off",
            "traffic, including the password, travels in clear (?ssl=true to encrypt)",
        )
    }
}

fn auth(inner: &Inner) -> Finding {
    if inner.secret.is_some() {
        Finding::ok(
            "authentication",
            "password",
            "the server checks who connects",
        )
    } else {
        Finding::info(
            "authentication",
            "none",
            "anyone who reaches the server can break locks",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::check::Level;

    #[test]
    fn notification_flags() {
        assert_eq!(notifications(Some("".into())).level, Level::Warn);
        assert_eq!(notifications(Some("Kgx".into())).level, Level::Ok);
        assert_eq!(notifications(Some("KA".into())).level, Level::Ok);
        assert_eq!(notifications(Some("Ex".into())).level, Level::Warn);
        assert_eq!(notifications(None).level, Level::Warn);
    }

    #[test]
    fn persistence_and_eviction() {
        assert_eq!(
            persisted("aof_enabled:1\r\n", Some("".into())).level,
            Level::Ok
        );
        assert_eq!(
            persisted("aof_enabled:0\r\n", Some("".into())).level,
            Level::Warn
        );
        assert_eq!(
            eviction(Some("allkeys-lru".into()), Some("100mb".into())).level,
            Level::Warn
        );
        assert_eq!(
            eviction(Some("noeviction".into()), Some("0".into())).level,
            Level::Ok
        );
    }
}
