//! A waiter that leaves the middle of the queue (its `--wait` elapsed) lets nobody in:
//! the waiter behind it still waits for the holder. Guards any shortcut a backend's waiter
//! might take on a predecessor's delete (ZooKeeper's lists the directory again before it
//! takes its turn), and the same promise on every other backend.

use std::time::Duration;

use super::faultkit::Running;
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(a_waiter_leaving_the_queue_lets_nobody_in_while_the_holder_holds);

/// Holder A holds for 3 s; waiter B queues with `-w 1` and gives up (exit 1); waiter C,
/// queued behind B, must start its COMMAND only after A's COMMAND has ended.
fn a_waiter_leaving_the_queue_lets_nobody_in_while_the_holder_holds(kind: Kind) {
    let fx = Fx::shared(kind, "queuegap");
    let name = fx.name("gap");
    let a_done = fx.home.path().join("a-done");
    let c_start = fx.home.path().join("c-start");
    let stamp = |path: &std::path::Path| format!("date +%s%N > {}", path.display());
    let mut a = Running::spawn(fx.cmd(&[
        "-v",
        "lock",
        &name,
        "--",
        "sh",
        "-c",
        &format!("sleep 3; {}", stamp(&a_done)),
    ]));
    assert!(
        a.wait_for(&format!("acquired lock '{name}'"), Duration::from_secs(15)),
        "{}: A never held: {}",
        kind.name(),
        a.stderr()
    );
    let mut b = Running::spawn(fx.cmd(&["-v", "lock", "-w", "1", &name, "--", "true"]));
    assert!(
        b.wait_for("waiting for lock", Duration::from_secs(15)),
        "{}: B never waited: {}",
        kind.name(),
        b.stderr()
    );
    let mut c = Running::spawn(fx.cmd(&[
        "-v",
        "lock",
        "-w",
        "30",
        &name,
        "--",
        "sh",
        "-c",
        &stamp(&c_start),
    ]));
    assert!(
        c.wait_for("waiting for lock", Duration::from_secs(15)),
        "{}: C never waited: {}",
        kind.name(),
        c.stderr()
    );
    let (b_code, b_err) = b.exit_within(Duration::from_secs(15)).expect("B gives up");
    assert_eq!(b_code, 1, "{}: B's wait elapsed: {b_err}", kind.name());
    let (a_code, a_err) = a.exit_within(Duration::from_secs(20)).expect("A ends");
    assert_eq!(a_code, 0, "{}: A: {a_err}", kind.name());
    let (c_code, c_err) = c.exit_within(Duration::from_secs(30)).expect("C ends");
    assert_eq!(c_code, 0, "{}: C: {c_err}", kind.name());
    let read = |p: &std::path::Path| -> u128 {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: no stamp in {}", kind.name(), p.display()))
    };
    assert!(
        read(&c_start) > read(&a_done),
        "{}: C started its COMMAND while A still held the lock (B's leaving let it in)",
        kind.name()
    );
}
