//! What is specific to the PostgreSQL backend: tooz's MD5 two-key mapping checked against
//! a live tooz client (psycopg2), interop both ways, the collision warning of `locks`, a
//! killed holder's session freeing its lock, `unlock` ending the holding session, and a
//! server restart while holding (the scenarios shared with MySQL are in `mysql.rs`).

use crate::conformance::helpers::run;
use crate::mysql::{
    a_silent_server_is_a_loss_after_the_ping_timeout, interop_both_ways,
    killed_holders_session_frees_the_lock, restart_while_holding_is_a_loss, tooz_try,
    unlock_ends_the_holders_session, ToozHolder,
};
use crate::support::fixture::{Fx, Kind};

#[test]
fn tooz_interop_both_ways() {
    interop_both_ways(Kind::Postgres);
}

#[test]
fn a_killed_holders_session_frees_its_lock() {
    killed_holders_session_frees_the_lock(Kind::Postgres);
}

#[test]
fn unlock_terminates_the_holding_session_and_the_holder_exits_3() {
    unlock_ends_the_holders_session(Kind::Postgres);
}

#[test]
fn a_server_restart_while_holding_exits_3_with_the_tree_stopped() {
    restart_while_holding_is_a_loss(Kind::Postgres);
}

#[test]
fn a_silent_server_is_a_loss_only_after_the_ping_timeout() {
    a_silent_server_is_a_loss_after_the_ping_timeout(Kind::Postgres);
}

/// tooz maps `spec_lock` and `spec_x23472` onto one advisory key (231, 49): a live tooz
/// client holding one keeps toozctl out of the other, and the other way round (so the
/// mapping is tooz's, collisions included); `locks` warns that the two names share a key.
/// A private server: these fixed names would collide with nothing else there.
#[test]
fn the_md5_mapping_is_toozs_and_collisions_are_warned_of() {
    let fx = Fx::private(Kind::Postgres, "md5");
    let url = fx.url();
    let tooz = ToozHolder::hold(&url, "spec_lock");
    let held = fx.sql("SELECT classid, objid, objsubid FROM pg_locks WHERE locktype = 'advisory'");
    assert_eq!(held.trim(), "231|49|2", "tooz's key of spec_lock");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "spec_x23472", "--", "true"]));
    assert_eq!(code, 1, "spec_x23472 is spec_lock's key: {err}");
    tooz.release();

    // Both names known to toozctl (it took each once), one held: `locks` warns.
    assert_eq!(run(fx.cmd(&["lock", "spec_x23472", "--", "true"])).0, 0);
    let h = fx.hold(&["-m", "md5-holder", "lock", "spec_lock"]);
    assert!(!tooz_try(&url, "spec_x23472"), "tooz got the colliding key");
    let (code, out, err) = run(fx.cmd(&["locks"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("spec_lock") && out.contains("md5-holder"),
        "{out}"
    );
    assert!(
        err.contains("warning:")
            && err.contains("'spec_lock'")
            && err.contains("'spec_x23472'")
            && err.contains("(231, 49)"),
        "locks must warn of the collision: {err}"
    );
    h.stop();
    let (code, _, err) = run(fx.cmd(&["locks"]));
    assert_eq!(code, 0, "{err}");
}

/// Fencing tokens live in toozctl_locks, created on first use; each acquisition of a
/// name gets a larger one, also across a server restart.
#[test]
fn fencing_tokens_increase_across_a_restart() {
    let fx = Fx::private(Kind::Postgres, "fence");
    let name = fx.name("f");
    let token = || {
        let (code, out, err) = run(fx.cmd(&[
            "lock",
            &name,
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ]));
        assert_eq!(code, 0, "{err}");
        out.trim().parse::<u64>().unwrap()
    };
    let a = token();
    let b = token();
    fx.restart();
    let c = token();
    assert!(a < b && b < c, "{a} {b} {c}");
    assert_eq!(fx.sql("SELECT count(*) FROM toozctl_locks").trim(), "1");
}

/// A waiter whose session the server ends (`pg_terminate_backend`, a shutdown) cannot
/// wait on: exit 69 (unavailable), not 70, naming what the server said rather than
/// tokio-postgres's bare "db error".
#[test]
fn a_waiter_whose_session_the_server_ends_exits_69_saying_why() {
    use std::process::Stdio;
    use std::time::Duration;
    let fx = Fx::shared(Kind::Postgres, "waiter_ended");
    let name = fx.name("w");
    let holder = fx.hold(&["lock", &name]);
    let waiter = fx
        .cmd(&["lock", "-w", "30", &name, "--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query ILIKE '%advisory%' AND pid <> pg_backend_pid()";
    assert!(
        crate::support::wait_until(Duration::from_secs(15), || !fx
            .sql(waiting)
            .trim()
            .is_empty()),
        "the waiter never waited on the server"
    );
    fx.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM ({waiting}) w"
    ));
    let out = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("terminating connection"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    drop(holder);
}
