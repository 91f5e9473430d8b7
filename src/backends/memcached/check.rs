//! `toozctl check` on memcached: version (the meta commands toozctl uses), eviction
//! (whether a held lock's item can be evicted), round trip, clock skew against `stats`
//! `time`, TLS and authentication. Reads only (`stats`, `stats settings`, `version`).
//!
//! Memcached's clock is coarse: `stats time` is whole seconds of a clock the server
//! advances once a second from its start, so it may trail the real time by up to about
//! two seconds; skew below that cannot be told apart (the finding says so).

use std::time::{Duration, Instant};

use super::client::Req;
use super::Inner;
use crate::coordination::check::{self, Finding};
use crate::coordination::once_per::local_ms;
use crate::coordination::Result;

/// How finely `stats time` tells the server's clock (module doc).
const RESOLUTION: Duration = Duration::from_secs(3);

/// `STAT <name> <value>` lines as (name, value).
fn stat<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let rest = l.strip_prefix("STAT ")?;
        let (k, v) = rest.split_once(' ')?;
        (k == name).then_some(v.trim())
    })
}

pub(super) async fn check(inner: &Inner) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let stats = inner.until_end("reading stats", Req::new("stats")).await?;
    let settings = inner
        .until_end("reading stats settings", Req::new("stats settings"))
        .await?;
    out.push(version(stat(&stats, "version")));
    out.push(eviction(
        stat(&settings, "evictions"),
        stat(&stats, "evictions"),
        stat(&stats, "limit_maxbytes"),
    ));
    let mut rtt = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        inner
            .on_conn("measuring the round trip", async |c| {
                c.one_line(Req::new("version")).await
            })
            .await?;
        rtt = rtt.min(t.elapsed());
    }
    out.push(check::round_trip(rtt));
    let t = Instant::now();
    let server_s = inner.server_time().await?;
    let (after, took) = (local_ms(), t.elapsed());
    out.push(check::clock_skew_coarse(
        server_s * 1000 + 500,
        after,
        took,
        RESOLUTION,
        "--once-per runs on the server's clock (stats time, whole seconds), so skew does not change its periods; holder records' 'since' use each machine's clock; memcached's clock is read only to within about 2 s",
    ));
    out.push(tls(inner));
    out.push(auth(inner));
    Ok(out)
}

fn version(v: Option<&str>) -> Finding {
    const CHECK: &str = "server version";
    let Some(v) = v else {
        return Finding::warn(CHECK, "unknown", "the server did not report its version");
    };
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (1, 6) {
        Finding::ok(
            CHECK,
            v,
            "meta commands (compare-and-set renewal, compare-and-delete release) and lru_crawler metadump: all toozctl uses",
        )
    } else {
        Finding::warn(
            CHECK,
            v,
            "older than 1.6: no meta commands, which toozctl's locks need",
        )
    }
}

fn eviction(setting: Option<&str>, evicted: Option<&str>, maxbytes: Option<&str>) -> Finding {
    const CHECK: &str = "eviction";
    let mb = maxbytes
        .and_then(|b| b.parse::<u64>().ok())
        .map(|b| format!(", {} MB", b >> 20))
        .unwrap_or_default();
    match setting {
        Some("off") => Finding::ok(
            CHECK,
            format!("off (-M){mb}"),
            "held locks are never evicted; a full server refuses new items instead (acquiring then fails with exit 69)",
        ),
        Some("on") => Finding::warn(
            CHECK,
            format!(
                "on{mb}, {} items evicted since start",
                evicted.unwrap_or("?")
            ),
            "under memory pressure memcached may evict a held lock's item before its lease ends: another client could then take it (the holder notices within ownership_check_interval and stops COMMAND); once-per records can be evicted too; run memcached with -M",
        ),
        _ => Finding::warn(
            CHECK,
            "unknown (stats settings did not say)",
            "cannot tell whether a held lock can be evicted",
        ),
    }
}

fn tls(inner: &Inner) -> Finding {
    if inner.tls.is_some() {
        Finding::ok("tls", "on", "traffic and the password are encrypted")
    } else {
        Finding::info(
            "tls",
            "off",
            "traffic, including the password, travels in clear (?use_ssl=true to encrypt)",
        )
    }
}

fn auth(inner: &Inner) -> Finding {
    if inner.auth.is_some() {
        Finding::ok(
            "authentication",
            "user and password (-Y)",
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
    fn versions_and_eviction() {
        assert_eq!(version(Some("1.6.18")).level, Level::Ok);
        assert_eq!(version(Some("1.10.0")).level, Level::Ok);
        assert_eq!(version(Some("1.5.22")).level, Level::Warn);
        assert_eq!(version(None).level, Level::Warn);
        assert_eq!(eviction(Some("off"), None, None).level, Level::Ok);
        let on = eviction(Some("on"), Some("3"), Some("67108864"));
        assert_eq!(on.level, Level::Warn);
        assert_eq!(on.value, "on, 64 MB, 3 items evicted since start");
        assert_eq!(eviction(None, None, None).level, Level::Warn);
        let lines = vec!["STAT time 17".to_string(), "STAT timex 1".to_string()];
        assert_eq!(stat(&lines, "time"), Some("17"));
    }
}
