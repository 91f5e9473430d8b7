//! `lock --once-per` on MySQL/MariaDB and PostgreSQL: the last success of lock `<name>` is
//! a row of the table `toozctl_once_per` in the URL's database, beside `toozctl_locks`:
//!
//! | column | MySQL | PostgreSQL | what |
//! |---|---|---|---|
//! | `name` | `VARCHAR(64)` primary key | `text` primary key | the lock name |
//! | `started_us` | `BIGINT UNSIGNED` | `int8` | start of the run, µs since the Unix epoch on the server's clock |
//! | `finished_us` | `BIGINT UNSIGNED` | `int8` | when COMMAND had exited 0, same clock |
//! | `record` | `TEXT` | `text` | the `SuccessRecord` JSON (its times in ms) |
//!
//! The clock is the server's, in microseconds: `NOW(6)` on MySQL/MariaDB,
//! `clock_timestamp()` on PostgreSQL, so machines with skewed clocks agree on a record's
//! age. The table is created by the first success recorded (reading a missing table reads
//! no record); rows are written only while the lock is held, and tooz ignores the table.

use std::time::Duration;

use crate::coordination::{LastSuccess, RunStart, SuccessRecord};

/// The table of last successes (module doc).
pub const RUNS: &str = "toozctl_once_per";

/// What `begin_run` reads: the last success with its age on the server's clock, `now_us`,
/// stamped as the start of a run. The start in µs travels in [`RunStart::lease`] (the
/// slot the trait leaves to a backend that needs more than ms), so the row keeps it whole.
pub fn run_start(name: &str, now_us: u64, row: Option<(u64, String)>) -> RunStart {
    RunStart {
        last: row.and_then(|(started_us, json)| last_success(name, now_us, started_us, &json)),
        started_ms: now_us / 1000,
        lease: i64::try_from(now_us).ok(),
    }
}

/// The start of `run` in µs on the server's clock.
pub fn started_us(run: &RunStart) -> u64 {
    run.lease
        .and_then(|us| u64::try_from(us).ok())
        .unwrap_or(run.started_ms * 1000)
}

/// A row as a last success `now_us - started_us` old; `None` for a record not ours.
pub fn last_success(name: &str, now_us: u64, started_us: u64, json: &str) -> Option<LastSuccess> {
    let record = SuccessRecord::parse(json.as_bytes())?;
    Some(LastSuccess {
        name: name.to_string(),
        age: Some(Duration::from_micros(now_us.saturating_sub(started_us))),
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::Identity;

    #[test]
    fn ages_come_from_the_rows_microseconds() {
        let who = Identity {
            member_id: "m".into(),
            host: "h".into(),
            pid: 1,
            command: String::new(),
        };
        let json = String::from_utf8(
            SuccessRecord::new(&who, "n", 1_000, 1_500, "mysql NOW(6)").to_json(),
        )
        .unwrap();
        let run = run_start("n", 3_000_250, Some((1_000_000, json)));
        assert_eq!(
            run.last.as_ref().unwrap().age,
            Some(Duration::from_micros(2_000_250))
        );
        assert_eq!((run.started_ms, started_us(&run)), (3_000, 3_000_250));
        assert!(run_start("n", 5, Some((1, "junk".into()))).last.is_none());
    }
}
