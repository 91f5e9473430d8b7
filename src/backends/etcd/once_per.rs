//! `lock --once-per` on etcd. etcd has no clock in its API (response headers carry a
//! revision and a raft term, never a time), so the clock is a **lease**: at the start of a
//! run toozctl grants a lease of DURATION (rounded up to whole seconds) that nobody keeps
//! alive, and on success puts the record on it:
//!
//! | key | value | lease |
//! |---|---|---|
//! | `/toozctl/last-success/<enc name>` | the last success (JSON `SuccessRecord`; its times are the writer's local clock, for display only) | granted at the run's start with TTL = DURATION, never renewed |
//!
//! The leader counts the lease down on its own monotonic clock and deletes the record when
//! it runs out: "a success within DURATION" is exactly "the record exists", and its age is
//! the granted TTL less the TTL left. No client clock takes part. What this does not
//! promise: etcd extends every lease when leadership changes (and after a restart), so a
//! leader election or restart can make the window longer than DURATION, never shorter; a
//! later run asking for a longer DURATION cannot see a record that already expired. A run
//! that outlasts DURATION leaves no record (its window has passed).

use std::time::Duration;

use etcd_client::PutOptions;

use super::{encode_component, EtcdCoordinator};
use crate::coordination::once_per::local_ms;
use crate::coordination::{LastSuccess, Result, RunStart, SuccessRecord};

pub const PREFIX: &str = "/toozctl/last-success/";
const CLOCK: &str = "etcd lease (times: writer's local clock)";

fn key(name: &str) -> String {
    format!("{PREFIX}{}", encode_component(name))
}

/// The record and its age on its lease (None: a record on no lease, not ours).
async fn last_of(
    c: &EtcdCoordinator,
    name: String,
    value: &[u8],
    lease: i64,
) -> Result<Option<LastSuccess>> {
    let Some(record) = SuccessRecord::parse(value) else {
        return Ok(None);
    };
    let age = if lease == 0 {
        None
    } else {
        let mut client = c.client();
        let r = c
            .rpc(
                "reading the lease of the last success",
                client.lease_time_to_live(lease, None),
            )
            .await?;
        if r.ttl() < 0 {
            return Ok(None); // expired meanwhile
        }
        Some(Duration::from_secs(
            (r.granted_ttl() - r.ttl()).max(0) as u64
        ))
    };
    Ok(Some(LastSuccess { name, record, age }))
}

pub(super) async fn begin(c: &EtcdCoordinator, name: &str, period: Duration) -> Result<RunStart> {
    let mut client = c.client();
    let resp = c
        .rpc("reading the last success", client.get(key(name), None))
        .await?;
    let last = match resp.kvs().first() {
        Some(kv) => last_of(c, name.to_string(), kv.value(), kv.lease()).await?,
        None => None,
    };
    let mut run = RunStart {
        last,
        started_ms: local_ms(),
        lease: None,
    };
    if run.within(period).is_some() {
        return Ok(run);
    }
    let ttl = period.as_secs() + u64::from(period.subsec_nanos() > 0);
    let granted = c
        .rpc(
            "granting the --once-per lease",
            client.lease_grant(ttl.min(i64::MAX as u64) as i64, None),
        )
        .await?;
    run.lease = Some(granted.id());
    Ok(run)
}

pub(super) async fn end(
    c: &EtcdCoordinator,
    name: &str,
    run: RunStart,
    succeeded: bool,
) -> Result<()> {
    let Some(lease) = run.lease else {
        return Ok(());
    };
    let mut client = c.client();
    if !succeeded {
        let _ = c
            .rpc("revoking the --once-per lease", client.lease_revoke(lease))
            .await;
        return Ok(());
    }
    let record = SuccessRecord::new(&c.identity, name, run.started_ms, local_ms(), CLOCK);
    let put = client.put(
        key(name),
        record.to_json(),
        Some(PutOptions::new().with_lease(lease)),
    );
    match tokio::time::timeout(c.timeout, put).await {
        Ok(Ok(_)) => Ok(()),
        // The lease ran out while COMMAND ran: its window has passed, nothing to record.
        Ok(Err(e)) if super::describe(&e).contains("lease not found") => {
            crate::coordination::note(&format!(
                "'{name}' ran longer than its --once-per period: no record kept"
            ));
            Ok(())
        }
        Ok(Err(e)) => Err(c.error("recording the success", &e)),
        Err(_) => Err(crate::coordination::Error::Unavailable(format!(
            "etcd at {} did not answer (recording the success)",
            c.endpoints
        ))),
    }
}

pub(super) async fn list(c: &EtcdCoordinator) -> Result<Vec<LastSuccess>> {
    let mut client = c.client();
    let resp = c
        .rpc(
            "listing once-per records",
            client.get(PREFIX, Some(etcd_client::GetOptions::new().with_prefix())),
        )
        .await?;
    let mut out = Vec::new();
    for kv in resp.kvs() {
        let enc = String::from_utf8_lossy(&kv.key()[PREFIX.len()..]).into_owned();
        let name = super::decode_component(&enc);
        if let Some(l) = last_of(c, name, kv.value(), kv.lease()).await? {
            out.push(l);
        }
    }
    Ok(out)
}
