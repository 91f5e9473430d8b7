//! `toozctl check` on etcd: the version and leader of the member we talk to, its alarms and
//! database size against its quota, round trip, TLS and authentication. etcd has no clock
//! in its API, so there is no skew to measure (`--once-per` uses leases instead). Reads
//! only (`Status`, `AlarmList`).

use std::time::{Duration, Instant};

use super::EtcdCoordinator;
use crate::coordination::check::{self, Finding};
use crate::coordination::{Result, Scheme};

fn version_finding(v: &str) -> Finding {
    let mut n = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
    if (major, minor) >= (3, 4) {
        Finding::ok(
            "server version",
            format!("etcd {v}"),
            "the v3 API with leases, transactions and watches resumed by revision",
        )
    } else {
        Finding::warn(
            "server version",
            format!("etcd {v}"),
            "older than 3.4, which toozctl is not tested with",
        )
    }
}

pub(super) async fn check(c: &EtcdCoordinator) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let mut client = c.client();
    let mut rtt = Duration::MAX;
    let mut status = None;
    for _ in 0..3 {
        let t = Instant::now();
        let s = c.rpc("reading the status", client.status()).await?;
        rtt = rtt.min(t.elapsed());
        status = Some(s);
    }
    let status = status.expect("three status calls");
    out.push(version_finding(status.version()));
    out.push(if status.leader() != 0 {
        Finding::ok(
            "leader",
            format!(
                "member {:x} (raft term {})",
                status.leader(),
                status.raft_term()
            ),
            "writes are accepted",
        )
    } else {
        Finding::warn(
            "leader",
            "none",
            "without a leader no lock can be taken or renewed",
        )
    });
    let alarms = c
        .rpc(
            "listing alarms",
            client.alarm(
                etcd_client::AlarmAction::Get,
                etcd_client::AlarmType::None,
                None,
            ),
        )
        .await?;
    out.push(if alarms.alarms().is_empty() && status.errors().is_empty() {
        Finding::ok("alarms", "none", "the cluster accepts writes")
    } else {
        let what: Vec<String> = alarms
            .alarms()
            .iter()
            .map(|a| format!("{:?} on member {:x}", a.alarm(), a.member_id()))
            .chain(status.errors().iter().cloned())
            .collect();
        Finding::warn(
            "alarms",
            what.join("; "),
            "an alarm (NOSPACE, CORRUPT) makes etcd refuse writes: locks cannot be taken or renewed",
        )
    });
    let quota = status.db_size_quota();
    let size = status.db_size();
    out.push(if quota > 0 && size * 10 > quota * 8 {
        Finding::warn(
            "database size",
            format!("{size} of {quota} bytes"),
            "over 80% of the quota: compact and defragment before NOSPACE stops all writes",
        )
    } else {
        Finding::ok(
            "database size",
            if quota > 0 {
                format!("{size} of {quota} bytes")
            } else {
                format!("{size} bytes")
            },
            "room for writes",
        )
    });
    out.push(Finding::ok(
        "persistence",
        "raft log",
        "etcd persists every write: leases survive a restart, fencing tokens (revisions) keep increasing",
    ));
    out.push(check::round_trip(rtt));
    out.push(Finding::info(
        "clock skew",
        "none to measure",
        "etcd has no clock in its API; --once-per uses a lease counted down by the leader, and lease deadlines run on this machine's monotonic clock",
    ));
    out.push(if c.url.scheme == Scheme::Etcd3Https {
        Finding::ok("tls", "on", "traffic and credentials are encrypted")
    } else {
        Finding::info(
            "tls",
            "off",
            "traffic, including the password, travels in clear (etcd3+https to encrypt)",
        )
    });
    out.push(if c.url.username.is_some() {
        Finding::ok("authentication", "user", "the server checks who connects")
    } else {
        Finding::info(
            "authentication",
            "none",
            "anyone who reaches the server can break locks",
        )
    });
    Ok(out)
}
