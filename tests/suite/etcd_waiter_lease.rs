//! An etcd waiter whose lease ran out while etcd was out of reach (paused past the lease):
//! it held nothing, so it queues again with a new lease and gets the lock once the holder's
//! lease is gone too — not "unavailable" (69) on the first write after the pause.

use std::process::Stdio;
use std::time::Duration;

use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

#[test]
fn a_waiter_whose_lease_ran_out_while_etcd_was_paused_queues_again() {
    let fx = Fx::private(Kind::Etcd, "relase");
    let name = fx.name("relase");
    let mark = fx.home.path().join("b-ran");
    let mut a = fx
        .cmd(&["-m", "a", "lock", "--ttl", "2", &name, "--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || fx.lock_exists(&name)));
    let script = format!("touch {}", mark.display());
    let mut b = fx
        .cmd(&[
            "-m", "b", "lock", "--ttl", "2", "-w", "60", &name, "--", "sh", "-c", &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // B is queued (its entry is on the server) before the pause.
    std::thread::sleep(Duration::from_millis(1500));
    fx.pause();
    std::thread::sleep(Duration::from_secs(5));
    fx.resume();
    // A's lease ran out: A is stopped and says so (3); B queues again and runs.
    let a_code = wait_until(Duration::from_secs(20), || {
        matches!(a.try_wait(), Ok(Some(_)))
    })
    .then(|| a.wait().unwrap().code().unwrap_or(-1));
    assert_eq!(a_code, Some(3), "the holder whose lease ran out exits 3");
    let b_done = wait_until(Duration::from_secs(30), || {
        matches!(b.try_wait(), Ok(Some(_)))
    });
    let out = b.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(b_done, "the waiter went on waiting and finished: {err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(mark.exists(), "B's COMMAND ran: {err}");
}
