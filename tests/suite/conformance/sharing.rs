//! Locks with more than one holder, on every backend: `--shared` readers share and keep a
//! writer out (or exit 2 naming the backend where it is not built, pointing at
//! `--limit`); `--limit N` semaphores admit N, wake a waiter on release, free a killed
//! holder's slot; one name used as two kinds is an error naming both.

use std::time::{Duration, Instant};

use super::helpers::run;
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(
    shared_holders_share_and_exclude_a_writer,
    limit_admits_n_holders_and_wakes_a_waiter_on_release,
    kill9_of_a_semaphore_holder_frees_its_slot,
    one_name_used_as_two_kinds_is_an_error_naming_both,
    limit_is_refused_naming_the_backend,
);

/// A backend without semaphores refuses `--limit` in one line naming itself (exit 2),
/// and takes nothing.
fn limit_is_refused_naming_the_backend(kind: Kind) {
    if kind.has_limit() {
        return; // the scenarios above cover it
    }
    let fx = Fx::shared(kind, "nolimit");
    let sem = fx.name("s");
    let (code, _, err) = run(fx.cmd(&["lock", "-l", "2", &sem, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(kind.name()) && err.contains("--limit"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!fx.lock_exists(&sem));
}

fn shared_holders_share_and_exclude_a_writer(kind: Kind) {
    let fx = Fx::shared(kind, "shared");
    let rw = fx.name("rw");
    if !kind.has_shared() {
        let (code, _, err) = run(fx.cmd(&["lock", "--shared", &rw, "--", "true"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(kind.name()), "names the backend: {err}");
        if kind.has_limit() {
            assert!(
                err.contains("--limit"),
                "names the nearest alternative: {err}"
            );
        }
        return;
    }
    let r1 = fx.hold(&["-m", "reader-1", "lock", "--shared", &rw]);
    let r2 = fx.hold(&["-m", "reader-2", "lock", "-s", &rw]);
    assert!(r1.first.contains("acquired") && r2.first.contains("acquired"));
    if kind == Kind::Zookeeper {
        // kazoo's read-lock layout: one `__rlock__` node per reader.
        let nodes = fx.zk_children(&format!("locks/{rw}"));
        assert_eq!(
            nodes.iter().filter(|n| n.contains("__rlock__")).count(),
            2,
            "{nodes:?}"
        );
    }
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &rw, "--", "true"]));
    assert_eq!(code, 1, "a writer waits for readers: {err}");
    assert!(err.contains("reader-"), "names a reader: {err}");
    // The first reader leaving does not let a writer in; the last one does, at once.
    r1.stop();
    assert_eq!(run(fx.cmd(&["lock", "-n", &rw, "--", "true"])).0, 1);
    // The writer holds 2 s: long enough that the reader's `-n` below still meets it on a
    // loaded machine (with 0.5 s, a slow start of that reader found it gone).
    let mut writer = fx
        .cmd(&["-m", "writer", "lock", "-w", "10", &rw, "--", "sleep", "2"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(writer.try_wait().unwrap().is_none(), "the writer waits");
    r2.stop();
    // While the writer holds, a reader waits.
    assert_eq!(
        run(fx.cmd(&["lock", "-s", "-n", &rw, "--", "true"])).0,
        1,
        "a reader waits for the writer"
    );
    let (code, _, err) = run(fx.cmd(&["lock", "-s", "-w", "10", &rw, "--", "true"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(writer.wait().unwrap().code(), Some(0));
    assert!(
        !fx.lock_exists(&rw),
        "every reader and the writer gave it back"
    );
}

fn limit_admits_n_holders_and_wakes_a_waiter_on_release(kind: Kind) {
    if !kind.has_limit() {
        return; // no semaphores: refused naming the backend (limit_is_refused_naming_the_backend)
    }
    let fx = Fx::shared(kind, "sem");
    let sem = fx.name("slots");
    let mut holders: Vec<_> = ["sem-a", "sem-b"]
        .iter()
        .map(|m| fx.hold(&["-m", m, "lock", "-l", "2", &sem]))
        .collect();
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "-l", "2", &sem, "--", "true"]));
    assert_eq!(code, 1, "a third holder waits: {err}");
    if kind == Kind::Zookeeper {
        // kazoo's Semaphore layout: one 32-character lease node per holder.
        let leases = fx.zk_children(&format!("locks/{sem}"));
        assert_eq!(leases.len(), 2, "{leases:?}");
        assert!(leases.iter().all(|l| l.len() == 32), "{leases:?}");
    }
    let mut waiter = fx
        .cmd(&["lock", "-l", "2", &sem, "--", "echo", "in"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiter.try_wait().unwrap().is_none(), "waits while 2 hold");
    holders.pop().unwrap().stop();
    // From the holder's exit (its release is done by then), not from the SIGTERM: how
    // long the fixture takes to see the holder exit is no part of the wake-up.
    let start = Instant::now();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        (Some(0), "in")
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "woken by the release, not a slow poll: {:?}",
        start.elapsed()
    );
    holders.pop().unwrap().stop();
    assert!(!fx.lock_exists(&sem), "every slot given back");
}

fn kill9_of_a_semaphore_holder_frees_its_slot(kind: Kind) {
    if !kind.has_limit() {
        return; // no semaphores: refused naming the backend (limit_is_refused_naming_the_backend)
    }
    let fx = Fx::shared(kind, "semkill").zk_timeout(2);
    let sem = fx.name("sk");
    let h = fx.hold(&["-o", "json", "lock", "-l", "1", "--ttl", "2s", &sem]);
    let first = super::helpers::json(&h.first)["fencing_token"].as_u64();
    assert_eq!(first.is_some(), kind.has_fencing_tokens(), "{}", h.first);
    let waiter = fx
        .cmd(&[
            "lock",
            "-l",
            "1",
            "-w",
            "20",
            &sem,
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    h.kill9();
    let killed = Instant::now();
    let out = waiter.wait_with_output().unwrap();
    let took = killed.elapsed();
    assert_eq!(out.status.code(), Some(0));
    let token = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<u64>()
        .ok();
    if kind.has_fencing_tokens() {
        assert!(token > first, "fencing token {token:?} after {first:?}");
    } else {
        assert!(token.is_none(), "no token on {}", kind.name());
    }
    let bound = if kind.has_lease() { 4 } else { 2 };
    assert!(
        took < Duration::from_secs(bound),
        "the slot came free {took:?} after the kill"
    );
    assert!(!fx.lock_exists(&sem), "last holder gone: nothing left");
}

fn one_name_used_as_two_kinds_is_an_error_naming_both(kind: Kind) {
    if !kind.has_limit() {
        return; // no semaphores: refused naming the backend (limit_is_refused_naming_the_backend)
    }
    let fx = Fx::shared(kind, "mixed");
    let mixed = fx.name("mixed");
    let sem = fx.hold(&["-m", "sem-holder", "lock", "-l", "3", &mixed]);
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "-l", "2", &mixed, "--", "true"]));
    assert_eq!(code, 2, "a different --limit: {err}");
    assert!(err.contains("limit 3") && err.contains("limit 2"), "{err}");
    assert!(err.contains("sem-holder"), "names the holder: {err}");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &mixed, "--", "true"]));
    assert_eq!(code, 2, "a writer meeting semaphore holders: {err}");
    assert!(err.contains("--limit"), "names the other kind: {err}");
    assert!(err.contains("sem-holder"), "names the holder: {err}");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "-s", &mixed, "--", "true"]));
    assert_eq!(code, 2, "a reader beside a semaphore: {err}");
    sem.stop();
    let ex = fx.hold(&["-m", "excl-holder", "lock", &mixed]);
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "-l", "3", &mixed, "--", "true"]));
    assert_eq!(
        code, 2,
        "a semaphore waiter meeting an exclusive holder: {err}"
    );
    assert!(err.contains("exclusive"), "{err}");
    assert!(err.contains("excl-holder"), "names the holder: {err}");
    ex.stop();
}
