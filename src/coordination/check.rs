//! `toozctl check`: what a backend reports about whether it can keep toozctl's promises.
//! A backend answers [`Coordinator::check`](super::Coordinator::check) with one
//! [`Finding`] per topic (server version and the features toozctl uses, persistence,
//! round-trip time, clock skew, TLS and authentication, a directory's mode...), each `ok`,
//! `warn` (a promise is weakened: say which) or `info` (nothing to judge). Checking reads
//! only: it creates and changes nothing on the backend.

use std::time::Duration;

use serde::Serialize;

/// How a finding bears on toozctl's promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// A promise is weakened or cannot be verified; `check` exits 1.
    Warn,
    /// Nothing to judge (a value reported for the operator).
    Info,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Info => "info",
        })
    }
}

/// One line of `check`: `topic`, its `value`, and what that means for toozctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub value: String,
    pub meaning: String,
}

impl Finding {
    pub fn new(
        check: &str,
        level: Level,
        value: impl Into<String>,
        meaning: impl Into<String>,
    ) -> Finding {
        Finding {
            check: check.to_string(),
            level,
            value: value.into(),
            meaning: meaning.into(),
        }
    }

    pub fn ok(check: &str, value: impl Into<String>, meaning: impl Into<String>) -> Finding {
        Finding::new(check, Level::Ok, value, meaning)
    }

    pub fn warn(check: &str, value: impl Into<String>, meaning: impl Into<String>) -> Finding {
        Finding::new(check, Level::Warn, value, meaning)
    }

    pub fn info(check: &str, value: impl Into<String>, meaning: impl Into<String>) -> Finding {
        Finding::new(check, Level::Info, value, meaning)
    }
}

/// Round trips slower than this are a warning: renewals and loss detection are built on
/// round trips well inside a lease.
pub const SLOW_ROUND_TRIP: Duration = Duration::from_millis(200);

/// Clock skew beyond this is a warning where toozctl compares clocks.
pub const LARGE_SKEW: Duration = Duration::from_secs(1);

/// The round-trip finding for a measured `rtt`.
pub fn round_trip(rtt: Duration) -> Finding {
    let value = format!("{:.1} ms", rtt.as_secs_f64() * 1000.0);
    if rtt > SLOW_ROUND_TRIP {
        Finding::warn(
            "round trip",
            value,
            format!(
                "slower than {} ms: renewals and loss detection take longer; use longer leases",
                SLOW_ROUND_TRIP.as_millis()
            ),
        )
    } else {
        Finding::ok(
            "round trip",
            value,
            "renewals and loss detection get through quickly",
        )
    }
}

/// The clock-skew finding: `server_ms` read at the middle of a round trip `rtt` that
/// ended at `local_ms_after` on this machine (all ms since the Unix epoch).
pub fn clock_skew(server_ms: u64, local_ms_after: u64, rtt: Duration, what: &str) -> Finding {
    clock_skew_coarse(server_ms, local_ms_after, rtt, Duration::ZERO, what)
}

/// [`clock_skew`] for a server clock read only to within `resolution` (memcached's
/// whole seconds): `server_ms` is the middle of the reading's span, and the bound allows
/// for half of it.
pub fn clock_skew_coarse(
    server_ms: u64,
    local_ms_after: u64,
    rtt: Duration,
    resolution: Duration,
    what: &str,
) -> Finding {
    let local_mid = local_ms_after as i128 - (rtt.as_millis() / 2) as i128;
    let skew = server_ms as i128 - local_mid;
    let value = format!(
        "{}{} ms (server {} this machine)",
        if skew >= 0 { "+" } else { "-" },
        skew.abs(),
        if skew >= 0 { "ahead of" } else { "behind" }
    );
    let bound = (LARGE_SKEW.as_millis() + rtt.as_millis() / 2 + resolution.as_millis() / 2) as i128;
    if skew.abs() > bound {
        Finding::warn(
            "clock skew",
            value,
            format!("more than {}s: {what}; lease deadlines are not affected (they run on this machine's monotonic clock)", LARGE_SKEW.as_secs()),
        )
    } else {
        Finding::ok("clock skew", value, what.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_judged_against_the_round_trip() {
        let rtt = Duration::from_millis(10);
        assert_eq!(clock_skew(10_000, 10_005, rtt, "x").level, Level::Ok);
        let f = clock_skew(20_000, 10_005, rtt, "x");
        assert_eq!(f.level, Level::Warn);
        assert!(f.value.starts_with("+10000 ms"), "{}", f.value);
        assert!(clock_skew(0, 5_000, rtt, "x").value.starts_with('-'));
        assert_eq!(round_trip(Duration::from_secs(1)).level, Level::Warn);
        // A whole-second clock read 1.4 s behind is within its resolution; 2.6 s is not.
        let s = Duration::from_secs(2);
        assert_eq!(
            clock_skew_coarse(8_600, 10_005, rtt, s, "x").level,
            Level::Ok
        );
        assert_eq!(
            clock_skew_coarse(7_400, 10_005, rtt, s, "x").level,
            Level::Warn
        );
    }
}
