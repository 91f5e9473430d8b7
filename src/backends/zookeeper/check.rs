//! `toozctl check` on ZooKeeper: each server's version (the `srvr` four-letter word, which
//! ZooKeeper allows by default), whether persistent watches work (ZooKeeper 3.6+: `watch`
//! needs them), the negotiated session timeout (the lease of every primitive), round trip,
//! TLS and authentication. Reads only: a persistent watch is set and removed, nothing is
//! written (so the server's clock, which ZooKeeper tells only in a write's mtime, is not
//! compared with ours).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

use super::{options, zk_error, ZkCoordinator};
use crate::coordination::check::{self, Finding};
use crate::coordination::Result;

/// The answer to `srvr` from `host:port`, or why there is none.
async fn srvr(host: &str, port: u16) -> std::result::Result<String, String> {
    let ask = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await?;
        s.write_all(b"srvr").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok::<String, std::io::Error>(out)
    };
    match tokio::time::timeout(Duration::from_secs(2), ask).await {
        Ok(Ok(a)) if !a.trim().is_empty() => Ok(a),
        Ok(Ok(_)) => Err("no answer to srvr (not in 4lw.commands.whitelist?)".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2s".into()),
    }
}

/// `3.8.0` from `Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on ...`.
fn version_of(answer: &str) -> Option<(String, Option<String>)> {
    let v = answer
        .lines()
        .find_map(|l| l.strip_prefix("Zookeeper version:"))?
        .trim()
        .split(['-', ','])
        .next()?
        .to_string();
    let mode = answer
        .lines()
        .find_map(|l| l.strip_prefix("Mode:"))
        .map(|m| m.trim().to_string());
    Some((v, mode))
}

fn at_least_3_6(v: &str) -> bool {
    let mut n = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0)) >= (3, 6)
}

async fn versions(c: &ZkCoordinator) -> Vec<Finding> {
    let Ok(opts) = options(&c.url) else {
        return Vec::new();
    };
    if opts.tls.is_some() {
        return vec![Finding::info(
            "server version",
            "not asked",
            "the srvr four-letter word is not spoken over TLS; the persistent-watch check below tells whether the servers are 3.6+",
        )];
    }
    let mut out = Vec::new();
    for (host, port) in &opts.servers {
        let check = format!("server {host}:{port}");
        out.push(match srvr(host, *port).await {
            Ok(answer) => match version_of(&answer) {
                Some((v, mode)) if at_least_3_6(&v) => Finding::ok(
                    &check,
                    format!(
                        "ZooKeeper {v}{}",
                        mode.map(|m| format!(", {m}")).unwrap_or_default()
                    ),
                    "3.6 or later: persistent watches for watch and fast hand-off",
                ),
                Some((v, _)) => Finding::warn(
                    &check,
                    format!("ZooKeeper {v}"),
                    "older than 3.6: no persistent watches, so toozctl watch is refused (exit 2)",
                ),
                None => Finding::warn(
                    &check,
                    "unknown version",
                    "the srvr answer names no version",
                ),
            },
            Err(why) => Finding::warn(&check, "unknown version", why),
        });
    }
    out
}

pub(super) async fn check(c: &ZkCoordinator) -> Result<Vec<Finding>> {
    let mut out = versions(c).await;
    let client = c.client()?;
    out.push(
        match client.watch(&c.root, zk::AddWatchMode::Persistent).await {
            Ok(w) => {
                drop(w);
                Finding::ok(
                    "persistent watches",
                    "supported",
                    "watches and waits are pushed by the server, not polled",
                )
            }
            Err(zk::Error::Unimplemented) => Finding::warn(
                "persistent watches",
                "not supported",
                "the server is older than 3.6: toozctl watch is refused (exit 2)",
            ),
            Err(e) => return Err(zk_error("setting a persistent watch", e)),
        },
    );
    out.push(Finding::info(
        "session timeout",
        format!("{:.1} s", c.session_timeout.as_secs_f64()),
        "the lease of every primitive: a holder cut off for this long loses it (COMMAND is stopped before)",
    ));
    out.push(Finding::ok(
        "persistence",
        "transaction log",
        "ZooKeeper persists every write: lock nodes end with their session, fencing tokens (zxids) keep increasing",
    ));
    let mut rtt = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        client
            .check_stat("/")
            .await
            .map_err(|e| zk_error("measuring the round trip", e))?;
        rtt = rtt.min(t.elapsed());
    }
    out.push(check::round_trip(rtt));
    out.push(Finding::info(
        "clock skew",
        "not measured",
        "ZooKeeper tells its time only in a write's mtime and check writes nothing; --once-per uses that server time (the leader's clock), not ours",
    ));
    let opts = options(&c.url)?;
    out.push(if opts.tls.is_some() {
        Finding::ok("tls", "on", "traffic and credentials are encrypted")
    } else {
        Finding::info(
            "tls",
            "off",
            "traffic, including digest credentials, travels in clear (?use_ssl=true to encrypt)",
        )
    });
    out.push(if opts.auth.is_some() {
        Finding::ok(
            "authentication",
            "digest",
            "toozctl's nodes get a digest ACL, as tooz's do",
        )
    } else {
        Finding::info(
            "authentication",
            "none",
            "nodes are world-writable: anyone who reaches the servers can break locks",
        )
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read() {
        let a = "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC\nLatency min/avg/max: 0/0.0/0\nMode: standalone\n";
        assert_eq!(
            version_of(a),
            Some(("3.8.0".to_string(), Some("standalone".to_string())))
        );
        assert!(at_least_3_6("3.8.0") && at_least_3_6("3.6.1") && !at_least_3_6("3.5.9"));
        assert!(version_of("imok").is_none());
    }
}
