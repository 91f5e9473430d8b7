//! `lock --once-per`: a job fired on several machines (member ids) runs at most once per
//! period, checked and recorded under the lock, on the backend's clock; failed runs do not
//! count; `locks` shows the last success.

use std::process::{Child, Stdio};
use std::time::Duration;

use super::helpers::run;
use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

crate::on_every_backend!(
    two_members_firing_at_skewed_times_run_the_job_once,
    machines_with_skewed_clocks_agree_on_the_servers_clock,
    a_failed_run_does_not_count_and_the_period_ends,
    a_run_that_lost_its_lock_is_not_recorded,
    once_per_needs_a_command_and_an_exclusive_lock,
);

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `-m MEMBER lock --once-per PERIOD NAME -- sh -c SCRIPT`, spawned.
fn fire(fx: &Fx, member: &str, period: &str, name: &str, script: &str) -> Child {
    fx.cmd(&[
        "-m",
        member,
        "lock",
        "--once-per",
        period,
        name,
        "--",
        "sh",
        "-c",
        script,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

fn finish(c: Child) -> (i32, String) {
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Machine a fires first and is still running when machine b fires (its clock a little
/// behind, say): b waits for the lock, then finds a's success and exits 1 without
/// running. A third firing later (c, with -E 0 as cron jobs use) is skipped too, quietly
/// with status 0. Were the check made before taking the lock, b would have seen no record
/// and run after a.
fn two_members_firing_at_skewed_times_run_the_job_once(kind: Kind) {
    if !kind.has_once_per() {
        return; // refused: once_per_needs_a_command_and_an_exclusive_lock
    }
    let fx = Fx::shared(kind, "once");
    let name = fx.name("nightly");
    let log = fx.home.path().join("runs");
    let script = format!("echo $TOOZCTL_MEMBER_ID >> {}; sleep 1.5", log.display());
    let a = fire(&fx, "machine-a", "1h", &name, &script);
    assert!(
        wait_until(Duration::from_secs(20), || !lines(&log).is_empty()),
        "machine a never ran"
    );
    let b = fire(&fx, "machine-b", "1h", &name, &script);
    let (rc_a, err_a) = finish(a);
    assert_eq!(rc_a, 0, "{err_a}");
    let (rc_b, err_b) = finish(b);
    assert_eq!(rc_b, 1, "machine b should have skipped: {err_b}");
    assert_eq!(lines(&log), vec!["machine-a"], "the job ran twice");
    assert!(
        err_b.contains("last success") && err_b.contains("machine-a") && err_b.lines().count() == 1,
        "one line saying when and where the last success was: {err_b}"
    );

    let (rc_c, _, err_c) = run(fx.cmd(&[
        "-m",
        "machine-c",
        "lock",
        "--once-per",
        "1h",
        "-E",
        "0",
        &name,
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(rc_c, 0, "-E 0 makes a skip quiet for cron: {err_c}");
    assert_eq!(lines(&log), vec!["machine-a"], "the job ran again");

    // `locks --all` shows the last success (the lock itself is free now).
    let (rc, out, err) = run(fx.cmd(&["-o", "json", "locks", "--all"]));
    assert_eq!(rc, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no row for {name}: {out}"));
    assert_eq!(row["last_success"]["member_id"], "machine-a", "{out}");
    assert_eq!(row["last_success"]["exit_status"], 0, "{out}");
    assert!(row["last_success"]["started_at"].is_string(), "{out}");
}

/// `toozctl ARGS` as run on a machine whose clock is `offset` (faketime's `+2h`, `-2h`) off:
/// the wall clock only (monotonic clocks, which leases use, are left alone).
fn on_skewed_machine(fx: &Fx, offset: &str, args: &[&str]) -> (i32, String) {
    let mut c = fx.cmd(args);
    let program = c.get_program().to_owned();
    let mut skewed = std::process::Command::new("faketime");
    skewed
        .args(["-f", offset])
        .arg(program)
        .args(c.get_args())
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    c = skewed;
    let (rc, _, err) = run(c);
    (rc, err)
}

/// Two machines whose clocks are 4 hours apart fire a `--once-per 1h` job one after the
/// other: the second is skipped, because the age of the first success is measured on the
/// backend's clock. Had either machine's clock been used, machine b (2 h ahead, after a
/// success stamped by a machine 2 h behind) would have seen a success 4 h old and run again.
fn machines_with_skewed_clocks_agree_on_the_servers_clock(kind: Kind) {
    if !kind.has_once_per() {
        return; // refused: once_per_needs_a_command_and_an_exclusive_lock
    }
    if kind == Kind::File {
        return; // one machine, one clock: the file backend uses the local clock by design
    }
    assert!(
        std::process::Command::new("faketime")
            .args(["-f", "+0", "true"])
            .status()
            .is_ok_and(|s| s.success()),
        "faketime is needed (apt-get install faketime; scripts/test installs it)"
    );
    let fx = Fx::shared(kind, "onceskew");
    let name = fx.name("report");
    let log = fx.home.path().join("runs");
    let script = format!("echo $TOOZCTL_MEMBER_ID >> {}", log.display());
    let job = |member: &'static str| -> Vec<String> {
        [
            "-m",
            member,
            "lock",
            "--once-per",
            "1h",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a = job("machine-behind");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (rc, err) = on_skewed_machine(&fx, "-2h", &a);
    assert_eq!(rc, 0, "{err}");
    let b = job("machine-ahead");
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let (rc, err) = on_skewed_machine(&fx, "+2h", &b);
    assert_eq!(
        rc, 1,
        "the job ran again on a machine whose clock is ahead: {err}"
    );
    assert!(err.contains("machine-behind"), "{err}");
    assert_eq!(lines(&log), vec!["machine-behind"]);
}

/// A run that fails leaves no record, so the next firing runs; a success is recorded, and
/// once its period has passed the job runs again.
fn a_failed_run_does_not_count_and_the_period_ends(kind: Kind) {
    if !kind.has_once_per() {
        return; // refused: once_per_needs_a_command_and_an_exclusive_lock
    }
    let fx = Fx::shared(kind, "oncefail");
    let name = fx.name("job");
    let log = fx.home.path().join("runs");
    let append = |code: i32| format!("echo $TOOZCTL_MEMBER_ID >> {}; exit {code}", log.display());
    // etcd leases last at least 2 s (its minimum TTL on the test server).
    let (rc, err) = finish(fire(&fx, "a", "2s", &name, &append(3)));
    assert_eq!(rc, 3, "COMMAND's own status: {err}");
    let (rc, err) = finish(fire(&fx, "b", "2s", &name, &append(0)));
    assert_eq!(rc, 0, "a failure does not count: {err}");
    let (rc, err) = finish(fire(&fx, "c", "2s", &name, &append(0)));
    assert_eq!(rc, 1, "within the period of b's success: {err}");
    assert_eq!(lines(&log), vec!["a", "b"]);
    std::thread::sleep(Duration::from_millis(3500));
    let (rc, err) = finish(fire(&fx, "d", "2s", &name, &append(0)));
    assert_eq!(rc, 0, "the period has passed: {err}");
    assert_eq!(lines(&log), vec!["a", "b", "d"]);
}

fn once_per_needs_a_command_and_an_exclusive_lock(kind: Kind) {
    let fx = Fx::shared(kind, "onceuse");
    let name = fx.name("x");
    let (rc, _, err) = run(fx.cmd(&["lock", "--once-per", "1h", &name]));
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("needs a COMMAND"), "{err}");
    let (rc, _, err) = run(fx.cmd(&["lock", "--once-per", "1h", "-l", "2", &name, "--", "true"]));
    assert_eq!(rc, 2, "{err}");
    let (rc, _, err) = run(fx.cmd(&["lock", "--once-per", "0.5s", &name, "--", "true"]));
    assert_eq!(rc, 2, "{err}");
    if !kind.has_once_per() {
        // Refused naming the backend, without running COMMAND, and the lock is free after.
        let ran = fx.home.path().join("ran");
        let script = format!("touch {}", ran.display());
        let (rc, _, err) =
            run(fx.cmd(&["lock", "--once-per", "1h", &name, "--", "sh", "-c", &script]));
        assert_eq!(rc, 2, "{err}");
        assert!(err.contains(kind.name()), "names the backend: {err}");
        assert!(!ran.exists(), "COMMAND must not run");
        assert_eq!(run(fx.cmd(&["lock", "-n", &name, "--", "true"])).0, 0);
    }
}

/// COMMAND exited 0, but the lock was lost while it ran (deleted behind toozctl's back):
/// the run is not recorded (another machine may have run beside it), so the next runs.
fn a_run_that_lost_its_lock_is_not_recorded(kind: Kind) {
    if !kind.has_once_per() {
        return; // refused: once_per_needs_a_command_and_an_exclusive_lock
    }
    let fx = Fx::shared(kind, "oncelost");
    let name = fx.name("job");
    let log = fx.home.path().join("runs");
    let script = format!(
        "echo $TOOZCTL_MEMBER_ID >> {}; trap 'exit 0' TERM; sleep 30 & wait",
        log.display()
    );
    let a = fire(&fx, "a", "1h", &name, &script);
    assert!(wait_until(Duration::from_secs(20), || !lines(&log).is_empty()));
    fx.delete_lock(&name);
    let (rc, err) = finish(a);
    assert_eq!(rc, 3, "lost: {err}");
    let (rc, err) = finish(fire(
        &fx,
        "b",
        "1h",
        &name,
        &format!("echo b >> {}", log.display()),
    ));
    assert_eq!(rc, 0, "a lost run does not count: {err}");
    assert_eq!(lines(&log), vec!["a", "b"]);
}
