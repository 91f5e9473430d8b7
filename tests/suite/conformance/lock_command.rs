//! `toozctl lock` as the contract describes it, on every backend: COMMAND's status (and
//! 128+S), 127 for a COMMAND that cannot run, the child's environment and its fencing
//! token, the conflict statuses of `-n`, `-w` and `-E`, and hold mode.

use std::time::{Duration, Instant};

use super::helpers::{assert_one_line_error, json, pid_in, run};
use crate::support::fixture::{Fx, Kind};
use crate::support::{self, wait_until};

crate::on_every_backend!(
    command_status_and_128_plus_signal,
    external_sigkill_of_command_gives_137_and_frees_the_lock,
    a_command_that_cannot_run_gives_127_and_releases,
    child_environment_and_fencing_tokens,
    no_wait_wait_and_conflict_exit_codes,
    hold_mode_prints_one_line_and_releases_on_sigterm_or_sigint,
    a_waiter_gets_the_lock_as_soon_as_it_is_released,
);

fn command_status_and_128_plus_signal(kind: Kind) {
    let fx = Fx::shared(kind, "status");
    let job = fx.name("job");
    assert_eq!(
        run(fx.cmd(&["lock", &job, "--", "sh", "-c", "exit 7"])).0,
        7
    );
    assert_eq!(run(fx.cmd(&["lock", &job, "--", "true"])).0, 0);
    assert_eq!(
        run(fx.cmd(&["lock", &job, "--", "sh", "-c", "kill -9 $$"])).0,
        137
    );
    assert_eq!(
        run(fx.cmd(&["lock", &job, "--", "sh", "-c", "kill -TERM $$"])).0,
        143
    );
    assert!(!fx.lock_exists(&job), "released after each run");
}

fn external_sigkill_of_command_gives_137_and_frees_the_lock(kind: Kind) {
    let fx = Fx::shared(kind, "extkill");
    let job = fx.name("job");
    let pidfile = fx.home.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
    let mut c = fx
        .cmd(&["lock", &job, "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    support::signal(pid_in(&pidfile), libc::SIGKILL);
    assert_eq!(c.wait().unwrap().code(), Some(137));
    assert!(!fx.lock_exists(&job));
    assert_eq!(run(fx.cmd(&["lock", "-n", &job, "--", "true"])).0, 0);
}

fn a_command_that_cannot_run_gives_127_and_releases(kind: Kind) {
    let fx = Fx::shared(kind, "nx");
    let nx = fx.name("nx");
    let (code, _, err) = run(fx.cmd(&["lock", &nx, "--", "/nonexistent/program"]));
    assert_eq!(code, 127, "{err}");
    assert_one_line_error(&err);
    assert!(!fx.lock_exists(&nx));
    assert_eq!(run(fx.cmd(&["lock", "-n", &nx, "--", "true"])).0, 0);
}

/// TOOZCTL_LOCK, TOOZCTL_MEMBER_ID, TOOZCTL_BACKEND and a fencing token that strictly
/// increases with every acquisition; the default member id is `<host>-<pid>`.
fn child_environment_and_fencing_tokens(kind: Kind) {
    let fx = Fx::shared(kind, "env");
    let name = fx.name("env-lock");
    let show = "echo $TOOZCTL_LOCK; echo $TOOZCTL_MEMBER_ID; echo $TOOZCTL_BACKEND; echo $TOOZCTL_FENCING_TOKEN";
    let (code, out, err) = run(fx.cmd(&["-m", "worker-1", "lock", &name, "--", "sh", "-c", show]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], [name.as_str(), "worker-1", fx.url().as_str()]);
    if !kind.has_fencing_tokens() {
        // None is handed out rather than one that might not increase.
        assert_eq!(lines[3], "", "no TOOZCTL_FENCING_TOKEN: {out}");
        return;
    }
    let mut last: u64 = lines[3].parse().unwrap();
    assert!(last >= 1);
    for _ in 0..2 {
        let (code, out, err) = run(fx.cmd(&["lock", &name, "--", "sh", "-c", show]));
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        let (host, pid) = lines[1].rsplit_once('-').expect("<host>-<pid>");
        assert!(
            !host.is_empty() && pid.parse::<u32>().is_ok(),
            "{}",
            lines[1]
        );
        let token: u64 = lines[3].parse().unwrap();
        assert!(
            token > last,
            "fencing token must strictly increase: {last} then {token}"
        );
        last = token;
    }
}

fn no_wait_wait_and_conflict_exit_codes(kind: Kind) {
    let fx = Fx::shared(kind, "busy");
    let busy = fx.name("busy");
    let holder = fx.hold(&["-m", "the-holder", "lock", &busy]);
    let (code, out, err) = run(fx.cmd(&["lock", "-n", &busy, "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert_one_line_error(&err);
    assert!(
        err.contains("the-holder"),
        "the message names the holder: {err}"
    );
    assert_eq!(
        run(fx.cmd(&["lock", "-n", "-E", "42", &busy, "--", "true"])).0,
        42
    );
    assert_eq!(
        run(fx.cmd(&["lock", "-n", "-E", "0", &busy, "--", "true"])).0,
        0
    );
    let (code, _, err) = run(fx.cmd(&["-q", "lock", "-n", &busy, "--", "true"]));
    assert_eq!((code, err.as_str()), (1, ""), "-q prints nothing");
    let marker = fx.home.path().join("ran");
    let start = Instant::now();
    let (code, _, err) = run(fx.cmd(&[
        "lock",
        "-w",
        "400ms",
        &busy,
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]));
    let took = start.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(!marker.exists(), "COMMAND never starts without the lock");
    assert_one_line_error(&err);
    assert!(
        !err.contains('\u{1b}'),
        "nothing decorative off a terminal: {err:?}"
    );
    assert_eq!(
        run(fx.cmd(&["lock", "-w", "1", "-E", "9", &busy, "--", "true"])).0,
        9
    );
    holder.stop();
    assert!(!fx.lock_exists(&busy), "given back at once on SIGTERM");
    assert_eq!(run(fx.cmd(&["lock", "-n", &busy, "--", "true"])).0, 0);
    if kind == Kind::Zookeeper {
        // The timed-out waiters left no queue node behind.
        assert!(fx.zk_children(&format!("locks/{busy}")).is_empty());
    }
}

fn hold_mode_prints_one_line_and_releases_on_sigterm_or_sigint(kind: Kind) {
    let fx = Fx::shared(kind, "holdmode");
    let held = fx.name("held");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let holder = fx.hold(&["lock", &held]);
        assert!(
            holder.first.contains(&format!("acquired lock '{held}'"))
                && holder.first.contains("fencing token"),
            "{}",
            holder.first
        );
        assert_eq!(run(fx.cmd(&["lock", "-n", &held, "--", "true"])).0, 1);
        holder.signal(sig);
        let (code, err) = holder.finish(Duration::from_secs(10));
        assert_eq!(code, 0, "{err}");
        assert!(!fx.lock_exists(&held), "given back at once");
        assert_eq!(run(fx.cmd(&["lock", "-n", &held, "--", "true"])).0, 0);
    }
    let holder = fx.hold(&["-o", "json", "lock", &held]);
    let v = json(&holder.first);
    assert_eq!(v["name"], held.as_str());
    assert_eq!(v["event"], "acquired");
    if kind.has_fencing_tokens() {
        assert!(v["fencing_token"].as_u64().unwrap() >= 1);
    } else {
        assert!(v["fencing_token"].is_null(), "{v}");
    }
    assert!(v["acquired_at"].as_str().unwrap().ends_with('Z'));
    holder.stop();
}

/// A waiter runs only after the holder let go, and gets it at once (a notification, not
/// a slow poll).
fn a_waiter_gets_the_lock_as_soon_as_it_is_released(kind: Kind) {
    let fx = Fx::shared(kind, "handoff");
    let name = fx.name("handoff");
    let holder = fx.hold(&["lock", &name]);
    let stamp = fx.home.path().join("stamp");
    let mut waiter = fx
        .cmd(&[
            "lock",
            &name,
            "--",
            "sh",
            "-c",
            &format!("date +%s%N > {}", stamp.display()),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !stamp.exists(),
        "the waiter must not run while the lock is held"
    );
    let released = std::time::SystemTime::now();
    let t = Instant::now();
    holder.stop();
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "woken by the release: {:?}",
        t.elapsed()
    );
    let ran_ns: u128 = std::fs::read_to_string(&stamp)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let released_ns = released
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(ran_ns >= released_ns);
    assert!(wait_until(Duration::from_secs(2), || !fx.lock_exists(&name)));
}
