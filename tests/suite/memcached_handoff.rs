//! How soon a queued memcached waiter takes a released lock. memcached pushes nothing, so
//! the waiter sees the release at its next try: by default every few milliseconds
//! (jittered), so the hand-off takes milliseconds, not the tenth of a second the old
//! default poll made it.

use std::time::Duration;

use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

/// Nanoseconds since the epoch written by `date +%s%N` into `path`.
fn stamp(path: &std::path::Path) -> i64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no stamp in {}", path.display()))
}

/// The holder's COMMAND stamps its end, the queued waiter's COMMAND its start; the median
/// gap of several hand-offs stays well below what a 0.1 s poll gives (about 50 ms: the
/// releases fall all over the waiter's sleep), with room for a loaded machine.
#[test]
fn a_queued_waiter_takes_the_lock_within_milliseconds_by_default() {
    let fx = Fx::shared(Kind::Memcached, "handoff");
    let name = fx.name("h");
    let mut gaps = Vec::new();
    for i in 0..7 {
        let end = fx.home.path().join(format!("end-{i}"));
        let start = fx.home.path().join(format!("start-{i}"));
        let mut holder = fx
            .cmd(&[
                "lock",
                &name,
                "--",
                "sh",
                "-c",
                // The waiter queues at about the same moment after the holder's start
                // each time: holds that differ by a seventh of 0.1 s put the release at
                // every phase of a 0.1 s poll, as releases at random moments would.
                &format!(
                    "sleep {:.4}; date +%s%N > {}",
                    0.8 + f64::from(i) * 0.0143,
                    end.display()
                ),
            ])
            .spawn()
            .unwrap();
        assert!(wait_until(Duration::from_secs(5), || fx.lock_exists(&name)));
        let mut waiter = fx
            .cmd(&[
                "lock",
                &name,
                "--",
                "sh",
                "-c",
                &format!("date +%s%N > {}", start.display()),
            ])
            .spawn()
            .unwrap();
        assert_eq!(holder.wait().unwrap().code(), Some(0));
        assert_eq!(waiter.wait().unwrap().code(), Some(0));
        let gap = stamp(&start) - stamp(&end);
        assert!(gap > 0, "the waiter ran before the holder's COMMAND ended");
        gaps.push(Duration::from_nanos(gap as u64));
    }
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median < Duration::from_millis(25),
        "median hand-off {median:?} (all: {gaps:?})"
    );
}
