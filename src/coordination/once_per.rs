//! `lock --once-per`: the record of a job's last successful run, kept on the backend beside
//! its lock, and the backend-facing half of the feature (the three `Coordinator` methods
//! `begin_run`, `end_run`, `last_successes`). The rule itself (run or skip) lives in
//! `commands::once_per`; this module only says what is stored and how old it is.
//!
//! The record is JSON ([`SuccessRecord`], version 1); its times are milliseconds since the
//! Unix epoch *on the backend's clock* ([`SuccessRecord::clock`] names it), so machines with
//! skewed clocks agree on how old a success is. Only successes are recorded (COMMAND exited
//! 0 and the lock was still held when it did): a failed run leaves the previous record, so
//! the next firing anywhere tries again.
//!
//! ## What a backend implements
//!
//! All three are called by `lock --once-per` only while it holds lock `name` exclusively.
//! - [`Coordinator::begin_run`](super::Coordinator::begin_run): read the record, measure its
//!   age on the backend's clock, and stamp the start of a possible run on that clock
//!   ([`RunStart::started_ms`]; a backend that needs more, such as etcd's lease, keeps it
//!   in [`RunStart::lease`]).
//! - [`Coordinator::end_run`](super::Coordinator::end_run): after COMMAND exited 0 with the
//!   lock still held, write the record (start from `begin_run`, finish on the backend's
//!   clock); after a failure or a skip, give back whatever `begin_run` took.
//! - [`Coordinator::last_successes`](super::Coordinator::last_successes): every record, for
//!   `toozctl locks`, without writing anything.
//!
//! The defaults answer [`Error::Unsupported`](super::Error::Unsupported) naming the backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Identity;

/// The stored record of a successful run (the documented layout, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessRecord {
    /// Layout version: 1.
    #[serde(default = "one")]
    pub version: u32,
    /// The lock name (keys and paths may hold it encoded).
    #[serde(default)]
    pub name: String,
    /// When the run started (when toozctl decided to run it, holding the lock), ms since
    /// the Unix epoch on [`SuccessRecord::clock`].
    pub started_ms: u64,
    /// When COMMAND had exited 0, on the same clock.
    pub finished_ms: u64,
    /// Which clock the times are on: `redis TIME`, `zookeeper mtime`, `local clock`, or on
    /// etcd (which has no clock) `writer's local clock` (there the age comes from a lease).
    pub clock: String,
    pub member_id: String,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Always 0: only successes are recorded.
    pub exit_status: i32,
}

fn one() -> u32 {
    1
}

impl SuccessRecord {
    /// A record of a run by `who` that started and finished at these instants of `clock`.
    pub fn new(
        who: &Identity,
        name: &str,
        started_ms: u64,
        finished_ms: u64,
        clock: &str,
    ) -> SuccessRecord {
        SuccessRecord {
            version: 1,
            name: name.to_string(),
            started_ms,
            finished_ms,
            clock: clock.to_string(),
            member_id: who.member_id.clone(),
            host: who.host.clone(),
            pid: who.pid,
            command: (!who.command.is_empty()).then(|| who.command.clone()),
            exit_status: 0,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `None` for anything that is not a record of ours (shown, never obeyed).
    pub fn parse(bytes: &[u8]) -> Option<SuccessRecord> {
        serde_json::from_slice(bytes).ok()
    }

    /// The start as RFC 3339.
    pub fn started_at(&self) -> String {
        rfc3339(self.started_ms)
    }

    pub fn finished_at(&self) -> String {
        rfc3339(self.finished_ms)
    }
}

/// RFC 3339 (milliseconds, UTC) of ms since the Unix epoch.
pub fn rfc3339(ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// This machine's clock in ms since the Unix epoch (the file backend's clock).
pub fn local_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A recorded success of the job guarded by lock `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    pub name: String,
    pub record: SuccessRecord,
    /// How long ago the run started, measured on the backend's clock; `None` where that
    /// would need a write (ZooKeeper tells its time only on a write, and listings write
    /// nothing): readers then compare with the local clock.
    pub age: Option<Duration>,
}

impl LastSuccess {
    /// The age on the backend's clock, else by this machine's clock.
    pub fn age_or_local(&self) -> Duration {
        self.age.unwrap_or_else(|| {
            Duration::from_millis(local_ms().saturating_sub(self.record.started_ms))
        })
    }
}

/// What `begin_run` saw and took, handed back to `end_run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStart {
    /// The last success, with its age on the backend's clock.
    pub last: Option<LastSuccess>,
    /// The start of this run on the backend's clock, ms since the Unix epoch.
    pub started_ms: u64,
    /// A lease taken for this run (etcd: the record will live on it), if any.
    pub lease: Option<i64>,
}

impl RunStart {
    /// Whether the last success started less than `period` ago: the run is to be skipped.
    pub fn within(&self, period: Duration) -> Option<&LastSuccess> {
        self.last
            .as_ref()
            .filter(|l| l.age.unwrap_or(Duration::ZERO) < period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_foreign_data_is_none() {
        let who = Identity {
            member_id: "m1".into(),
            host: "h".into(),
            pid: 7,
            command: "backup".into(),
        };
        let r = SuccessRecord::new(&who, "n", 1_000, 2_500, "redis TIME");
        assert_eq!(SuccessRecord::parse(&r.to_json()), Some(r.clone()));
        assert_eq!(r.started_at(), "1970-01-01T00:00:01.000Z");
        assert!(SuccessRecord::parse(b"not json").is_none());
        let run = |age: Option<u64>| RunStart {
            last: Some(LastSuccess {
                name: "n".into(),
                record: r.clone(),
                age: age.map(Duration::from_secs),
            }),
            started_ms: 0,
            lease: None,
        };
        assert!(run(Some(10)).within(Duration::from_secs(60)).is_some());
        assert!(run(Some(60)).within(Duration::from_secs(60)).is_none());
        assert!(run(None).within(Duration::from_secs(60)).is_some());
    }
}
