//! `toozctl lock` on the file backend, through the real binary: flags, exit codes,
//! supervision (signals, process groups, hold mode), mutual exclusion, shared locks,
//! semaphores, and interop with tooz's file driver and flock(1).

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{wait_until, FileBackend};

/// Run to completion: (exit code, stdout, stderr).
fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Start `lock` in hold mode (no COMMAND) and wait for its "acquired" line.
fn hold(fb: &FileBackend, args: &[&str]) -> (Child, String) {
    let mut c = fb.cmd(&[&["lock"], args].concat());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn hold");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("acquired"),
        "hold mode did not acquire: {line:?}"
    );
    (child, line)
}

fn term_and_wait(child: &mut Child) -> i32 {
    support::signal(child.id(), libc::SIGTERM);
    child.wait().unwrap().code().unwrap_or(-1)
}

fn assert_one_line_error(stderr: &str) {
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "expected one line: {stderr:?}"
    );
    assert!(stderr.starts_with("toozctl: "), "{stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr:?}"
    );
}

#[test]
fn passes_command_exit_status_through() {
    let fb = FileBackend::new();
    assert_eq!(
        run(fb.cmd(&["lock", "job", "--", "sh", "-c", "exit 7"])).0,
        7
    );
    assert_eq!(run(fb.cmd(&["lock", "job", "--", "true"])).0, 0);
}

#[test]
fn child_killed_by_signal_gives_128_plus_signal() {
    let fb = FileBackend::new();
    assert_eq!(
        run(fb.cmd(&["lock", "job", "--", "sh", "-c", "kill -9 $$"])).0,
        137
    );
    assert_eq!(
        run(fb.cmd(&["lock", "job", "--", "sh", "-c", "kill -TERM $$"])).0,
        143
    );
}

#[test]
fn external_sigkill_of_the_child_gives_137_and_frees_the_lock() {
    let fb = FileBackend::new();
    let pidfile = fb.dir.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
    let mut c = fb
        .cmd(&["lock", "job", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    support::signal(pid, libc::SIGKILL);
    assert_eq!(c.wait().unwrap().code(), Some(137));
    assert_eq!(run(fb.cmd(&["lock", "-n", "job", "--", "true"])).0, 0);
}

#[test]
fn child_environment() {
    let fb = FileBackend::new();
    let (code, out, _) = run(fb.cmd(&[
        "-m",
        "worker-1",
        "lock",
        "env-lock",
        "--",
        "sh",
        "-c",
        "echo $TOOZCTL_LOCK; echo $TOOZCTL_MEMBER_ID; echo $TOOZCTL_BACKEND; echo $TOOZCTL_FENCING_TOKEN",
    ]));
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "env-lock");
    assert_eq!(lines[1], "worker-1");
    assert_eq!(lines[2], fb.url);
    let first: u64 = lines[3].parse().unwrap();
    let (_, out2, _) = run(fb.cmd(&[
        "lock",
        "env-lock",
        "--",
        "sh",
        "-c",
        "echo $TOOZCTL_FENCING_TOKEN",
    ]));
    assert!(
        out2.trim().parse::<u64>().unwrap() > first,
        "fencing token must strictly increase"
    );
}

#[test]
fn default_member_id_is_host_dash_pid_and_password_is_redacted_in_env() {
    let fb = FileBackend::new();
    // A file URL with a password is bad input now (exit 2), and the password is not shown.
    let url = format!("file://:hunter2@{}", fb.dir.path().display());
    let mut c = support::toozctl(fb.dir.path());
    c.args(["-vv", "-b", &url, "lock", "x", "--", "true"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
    assert!(err.contains("password"), "{err}");
    let mut c = support::toozctl(fb.dir.path());
    c.args([
        "-vv",
        "-b",
        &fb.url,
        "lock",
        "x",
        "--",
        "sh",
        "-c",
        "echo $TOOZCTL_MEMBER_ID $TOOZCTL_BACKEND; env",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let member = out.split_whitespace().next().unwrap();
    let (host, pid) = member.rsplit_once('-').unwrap();
    assert!(!host.is_empty() && pid.parse::<u32>().is_ok(), "{member}");
}

#[test]
fn no_wait_fails_with_1_and_names_the_holder_and_e_changes_the_code() {
    let fb = FileBackend::new();
    let (mut holder, _) = hold(&fb, &["-m", "the-holder", "busy"]);
    let (code, _, err) = run(fb.cmd(&["lock", "-n", "busy", "--", "true"]));
    assert_eq!(code, 1);
    assert_one_line_error(&err);
    assert!(
        err.contains("the-holder"),
        "the message names the holder: {err}"
    );
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "-E", "42", "busy", "--", "true"])).0,
        42
    );
    let (code, _, err) = run(fb.cmd(&["-q", "lock", "-n", "busy", "--", "true"]));
    assert_eq!((code, err.as_str()), (1, ""), "-q prints nothing");
    assert_eq!(term_and_wait(&mut holder), 0);
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "busy", "--", "true"])).0,
        0,
        "released after SIGTERM"
    );
}

#[test]
fn wait_gives_up_after_the_duration() {
    let fb = FileBackend::new();
    let (mut holder, _) = hold(&fb, &["slow"]);
    let marker = fb.dir.path().join("ran");
    let start = Instant::now();
    let (code, _, err) = run(fb.cmd(&[
        "lock",
        "-w",
        "400ms",
        "slow",
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
        run(fb.cmd(&["lock", "-w", "1", "-E", "9", "slow", "--", "true"])).0,
        9
    );
    term_and_wait(&mut holder);
}

#[test]
fn a_waiter_gets_the_lock_as_soon_as_it_is_released() {
    let fb = FileBackend::new();
    let (mut holder, _) = hold(&fb, &["handoff"]);
    let stamp = fb.dir.path().join("stamp");
    let mut waiter = fb
        .cmd(&[
            "lock",
            "handoff",
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
        "waiter must not run while the lock is held"
    );
    let released = std::time::SystemTime::now();
    term_and_wait(&mut holder);
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
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
}

#[test]
fn hold_mode_prints_one_line_and_releases_on_sigterm_or_sigint() {
    let fb = FileBackend::new();
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let (mut holder, line) = hold(&fb, &["held"]);
        assert!(
            line.contains("held") && line.contains("fencing token"),
            "{line}"
        );
        assert_eq!(run(fb.cmd(&["lock", "-n", "held", "--", "true"])).0, 1);
        support::signal(holder.id(), sig);
        assert_eq!(holder.wait().unwrap().code(), Some(0));
        assert_eq!(run(fb.cmd(&["lock", "-n", "held", "--", "true"])).0, 0);
    }
}

#[test]
fn hold_mode_json_line() {
    let fb = FileBackend::new();
    let (mut holder, line) = hold(&fb, &["-o", "json", "j"]);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["name"], "j");
    assert_eq!(v["event"], "acquired");
    assert!(v["fencing_token"].as_u64().unwrap() >= 1);
    assert!(v["acquired_at"].as_str().unwrap().ends_with('Z'));
    term_and_wait(&mut holder);
}

#[test]
fn forwards_every_signal_to_the_command() {
    let fb = FileBackend::new();
    let marks = fb.dir.path().join("marks");
    let ready = fb.dir.path().join("ready");
    let script = format!(
        "for s in INT HUP QUIT USR1 USR2; do trap \"echo $s >> {m}\" $s; done; \
         trap 'echo TERM >> {m}; exit 5' TERM; touch {r}; while :; do sleep 0.05; done",
        m = marks.display(),
        r = ready.display()
    );
    let mut c = fb
        .cmd(&["lock", "sig", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || ready.exists()));
    let names = ["INT", "HUP", "QUIT", "USR1", "USR2"];
    for (sig, name) in [
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ]
    .into_iter()
    .zip(names)
    {
        support::signal(c.id(), sig);
        assert!(
            wait_until(Duration::from_secs(5), || std::fs::read_to_string(&marks)
                .unwrap_or_default()
                .contains(name)),
            "{name} not forwarded"
        );
    }
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "sig", "--", "true"])).0,
        1,
        "still held while COMMAND runs"
    );
    support::signal(c.id(), libc::SIGTERM);
    assert_eq!(
        c.wait().unwrap().code(),
        Some(5),
        "COMMAND's own status after the forwarded TERM"
    );
    assert!(std::fs::read_to_string(&marks).unwrap().contains("TERM"));
}

#[test]
fn a_signal_while_waiting_cancels_without_starting_the_command() {
    let fb = FileBackend::new();
    let (mut holder, _) = hold(&fb, &["q"]);
    let marker = fb.dir.path().join("ran");
    let mut waiter = fb
        .cmd(&["lock", "q", "--", "touch", marker.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    support::signal(waiter.id(), libc::SIGTERM);
    let start = Instant::now();
    assert_eq!(waiter.wait().unwrap().code(), Some(143));
    assert!(start.elapsed() < Duration::from_secs(3));
    term_and_wait(&mut holder);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "a cancelled waiter never runs COMMAND");
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "q", "--", "true"])).0,
        0,
        "nothing left behind"
    );
}

#[test]
fn what_command_leaves_in_its_process_group_is_stopped_before_release() {
    let fb = FileBackend::new();
    let pidfile = fb.dir.path().join("bg");
    let script = format!("sleep 30 & echo $! > {}; exit 0", pidfile.display());
    let (code, _, _) = run(fb.cmd(&[
        "lock",
        "--kill-after",
        "2s",
        "pg",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(code, 0);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !support::alive(pid),
        "background process of COMMAND survived the release"
    );
}

#[test]
fn eight_blocking_contenders_never_overlap() {
    let fb = FileBackend::new();
    let log = fb.dir.path().join("intervals");
    let script = format!(
        "echo \"$$ S $(date +%s%N)\" >> {l}; sleep 0.05; echo \"$$ E $(date +%s%N)\" >> {l}",
        l = log.display()
    );
    let children: Vec<Child> = (0..8)
        .map(|_| {
            fb.cmd(&["lock", "mutex", "--", "sh", "-c", &script])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(0));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let mut by_pid: std::collections::HashMap<&str, (u128, u128)> = Default::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let e = by_pid.entry(f[0]).or_default();
        let t: u128 = f[2].parse().unwrap();
        if f[1] == "S" {
            e.0 = t
        } else {
            e.1 = t
        }
    }
    let mut iv: Vec<(u128, u128)> = by_pid.into_values().collect();
    assert_eq!(iv.len(), 8);
    iv.sort();
    for w in iv.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "intervals overlap: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn shared_holders_share_and_exclude_a_writer() {
    let fb = FileBackend::new();
    let (mut r1, _) = hold(&fb, &["-s", "rw"]);
    let (mut r2, _) = hold(&fb, &["-s", "rw"]);
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "rw", "--", "true"])).0,
        1,
        "a writer waits for readers"
    );
    term_and_wait(&mut r1);
    term_and_wait(&mut r2);
    let (mut w, _) = hold(&fb, &["rw"]);
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "-s", "rw", "--", "true"])).0,
        1,
        "a reader waits for the writer"
    );
    term_and_wait(&mut w);
}

#[test]
fn limit_allows_n_holders_and_wakes_a_waiter_on_release() {
    let fb = FileBackend::new();
    let mut holders: Vec<Child> = (0..3).map(|_| hold(&fb, &["-l", "3", "sem"]).0).collect();
    assert_eq!(
        run(fb.cmd(&["lock", "-n", "-l", "3", "sem", "--", "true"])).0,
        1,
        "a 4th holder must wait"
    );
    let mut waiter = fb
        .cmd(&["lock", "-l", "3", "sem", "--", "true"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter waits while 3 hold"
    );
    let start = Instant::now();
    term_and_wait(&mut holders.pop().unwrap());
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "woken by the release, not a slow poll: {:?}",
        start.elapsed()
    );
    for mut h in holders {
        term_and_wait(&mut h);
    }
}

#[test]
fn limit_slot_of_a_killed_holder_is_reused() {
    let fb = FileBackend::new();
    let (mut h, _) = hold(&fb, &["-l", "1", "one"]);
    let mut waiter = fb
        .cmd(&["lock", "-l", "1", "one", "--", "true"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    support::signal(h.id(), libc::SIGKILL);
    h.wait().unwrap();
    let start = Instant::now();
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn using_one_name_as_two_kinds_is_an_error_naming_both() {
    let fb = FileBackend::new();
    let (mut sem, _) = hold(&fb, &["-m", "sem-holder", "-l", "3", "mixed"]);
    let (code, _, err) = run(fb.cmd(&["lock", "-n", "-l", "2", "mixed", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("limit 3") && err.contains("limit 2") && err.contains("sem-holder"),
        "{err}"
    );
    let (code, _, err) = run(fb.cmd(&["lock", "-s", "mixed", "--", "true"]));
    assert_eq!(code, 2, "a reader beside a semaphore: {err}");
    let (code, _, err) = run(fb.cmd(&["lock", "mixed", "--", "true"]));
    assert_eq!(code, 2, "a writer meeting semaphore holders: {err}");
    term_and_wait(&mut sem);
    let (mut ex, _) = hold(&fb, &["-m", "excl-holder", "mixed"]);
    let (code, _, err) = run(fb.cmd(&["lock", "-l", "3", "mixed", "--", "true"]));
    assert_eq!(
        code, 2,
        "a semaphore waiter meeting an exclusive holder: {err}"
    );
    assert!(
        err.contains("excl-holder") && err.contains("exclusive"),
        "{err}"
    );
    term_and_wait(&mut ex);
}

#[test]
fn a_killed_holder_frees_the_lock_at_once() {
    let fb = FileBackend::new();
    let (mut h, _) = hold(&fb, &["crash"]);
    support::signal(h.id(), libc::SIGKILL);
    h.wait().unwrap();
    assert_eq!(run(fb.cmd(&["lock", "-n", "crash", "--", "true"])).0, 0);
}

#[test]
fn bad_names_exit_2_with_one_line() {
    let fb = FileBackend::new();
    for name in [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a//b",
        "groups",
        ".toozctl/x",
        "",
        "bad\u{1}name",
    ] {
        let (code, _, err) = run(fb.cmd(&["lock", name, "--", "true"]));
        assert_eq!(code, 2, "{name:?}: {err}");
        assert_one_line_error(&err);
    }
    assert!(!fb.dir.path().parent().unwrap().join("x").exists());
}

#[test]
fn bad_urls_exit_2_without_showing_the_password() {
    let fb = FileBackend::new();
    for url in [
        "nope",
        "mongodb://u:s3cret@h/x",
        "file://host/dir",
        "redis://:s3cret@h:99999",
        "file://",
    ] {
        let mut c = support::toozctl(fb.dir.path());
        c.args(["-b", url, "lock", "x", "--", "true"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 2, "{url}: {err}");
        assert_one_line_error(&err);
        assert!(!err.contains("s3cret") && !out.contains("s3cret"), "{err}");
    }
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let fb = FileBackend::new();
    for args in [
        vec!["lock"],
        vec!["lock", "-n", "-w", "1s", "x"],
        vec!["lock", "-E", "300", "x"],
        vec!["lock", "-w", "soon", "x"],
        vec!["lock", "--kill-after", "x", "x"],
        vec!["lock", "--on-lost", "explode", "x"],
        vec!["lock", "-s", "-l", "2", "x"],
        vec!["lock", "-l", "0", "x"],
        vec!["lock", "x", "extra"],
        vec!["frobnicate"],
    ] {
        let (code, _, err) = run(fb.cmd(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_one_line_error(&err);
    }
}

#[test]
fn ttl_on_lost_and_kill_after_are_accepted() {
    let fb = FileBackend::new();
    let (code, _, err) = run(fb.cmd(&[
        "lock",
        "--ttl",
        "5s",
        "--on-lost",
        "kill",
        "--kill-after",
        "1s",
        "opts",
        "--",
        "true",
    ]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_command_that_cannot_run_gives_127_and_releases() {
    let fb = FileBackend::new();
    let (code, _, err) = run(fb.cmd(&["lock", "nx", "--", "/nonexistent/program"]));
    assert_eq!(code, 127, "{err}");
    assert_one_line_error(&err);
    assert_eq!(run(fb.cmd(&["lock", "-n", "nx", "--", "true"])).0, 0);
}

#[test]
fn nested_lock_names_are_paths_like_tooz() {
    let fb = FileBackend::new();
    assert_eq!(run(fb.cmd(&["lock", "a/b/c", "--", "true"])).0, 0);
    assert!(fb.dir.path().join("a/b/c").is_file());
}

#[test]
fn flock_users_are_excluded_too() {
    let fb = FileBackend::new();
    let (mut h, _) = hold(&fb, &["shared-with-flock"]);
    let file = fb.dir.path().join("shared-with-flock");
    let st = Command::new("flock")
        .arg("-n")
        .arg(&file)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "flock(1) must see the lock");
    term_and_wait(&mut h);
    let st = Command::new("flock")
        .arg("-n")
        .arg(&file)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
}

const TOOZ_HOLD: &str = r#"
import sys, time, tooz.coordination as tc
c = tc.get_coordinator(sys.argv[1], b"tooz-member")
c.start()
l = c.get_lock(sys.argv[2].encode())
assert l.acquire(blocking=True)
print("held", flush=True)
sys.stdin.read()
l.release()
c.stop()
"#;

const TOOZ_TRY: &str = r#"
import sys, tooz.coordination as tc
c = tc.get_coordinator(sys.argv[1], b"tooz-probe")
c.start()
l = c.get_lock(sys.argv[2].encode())
got = l.acquire(blocking=False)
if got:
    l.release()
c.stop()
print("acquired" if got else "busy")
"#;

#[test]
fn tooz_file_driver_and_toozctl_exclude_each_other() {
    let fb = FileBackend::new();
    // tooz holds: toozctl -n must fail, naming a POSIX-lock holder.
    let mut tooz = Command::new(support::tooz_python())
        .args(["-c", TOOZ_HOLD, &fb.url, "interop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(tooz.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let (code, _, err) = run(fb.cmd(&["lock", "-n", "interop", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("pid {}", tooz.id())),
        "the tooz holder's pid is shown: {err}"
    );
    drop(tooz.stdin.take());
    assert!(tooz.wait().unwrap().success());
    assert_eq!(run(fb.cmd(&["lock", "-n", "interop", "--", "true"])).0, 0);

    // toozctl holds: tooz's non-blocking acquire must fail, then succeed after release.
    let (mut h, _) = hold(&fb, &["interop"]);
    let (_, out, err) = support::python(TOOZ_TRY, &[&fb.url, "interop"]);
    assert_eq!(out.trim(), "busy", "{err}");
    term_and_wait(&mut h);
    let (_, out, err) = support::python(TOOZ_TRY, &[&fb.url, "interop"]);
    assert_eq!(out.trim(), "acquired", "{err}");
}

#[test]
fn tooz_respects_shared_holders() {
    let fb = FileBackend::new();
    let (mut r, _) = hold(&fb, &["-s", "readers"]);
    let (_, out, err) = support::python(TOOZ_TRY, &[&fb.url, "readers"]);
    assert_eq!(out.trim(), "busy", "{err}");
    term_and_wait(&mut r);
}

/// Run under a pseudo-terminal with script(1): the spinner shows while waiting, and
/// COMMAND's process group gets the terminal.
fn under_pty(home: &Path, shell_cmd: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", shell_cmd, "/dev/null"])
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_command_gets_the_foreground_and_a_spinner_shows_while_waiting() {
    let fb = FileBackend::new();
    let bin = support::bin();
    let cmd = format!(
        "{bin} -b {url} lock fg -- sh -c 'echo pgid=$(ps -o pgid= -p $$ | tr -d \" \") tpgid=$(ps -o tpgid= -p $$ | tr -d \" \")'",
        bin = bin.display(),
        url = fb.url
    );
    let out = under_pty(fb.dir.path(), &cmd);
    let pgid = out
        .split("pgid=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("?");
    let tpgid = out
        .split("tpgid=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("!");
    assert_eq!(
        pgid, tpgid,
        "COMMAND's group is the terminal's foreground group: {out}"
    );

    let (mut h, _) = hold(&fb, &["-m", "spin-holder", "spin"]);
    let cmd = format!(
        "{} -b {} lock -w 1200ms spin -- true",
        bin.display(),
        fb.url
    );
    let out = under_pty(fb.dir.path(), &cmd);
    assert!(
        out.contains("waiting for lock 'spin', held by spin-holder"),
        "{out}"
    );
    term_and_wait(&mut h);
}

#[test]
fn deleting_the_lock_file_behind_our_back_stops_the_command_and_exits_3() {
    let fb = FileBackend::new();
    let c = fb
        .cmd(&["lock", "--kill-after", "1s", "victim", "--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = fb.dir.path().join("victim");
    assert!(wait_until(Duration::from_secs(5), || file.exists()));
    std::thread::sleep(Duration::from_millis(200));
    std::fs::remove_file(&file).unwrap();
    let start = Instant::now();
    let out = c.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deleted") && err.contains("SIGTERM"), "{err}");
}

#[test]
fn no_wait_names_a_flock_1_holder() {
    let fb = FileBackend::new();
    let file = fb.dir.path().join("by-flock");
    std::fs::write(&file, b"").unwrap();
    // One process that holds the flock and is killed by the test (no orphan keeps the fd).
    let script = format!("exec 9>>{}; flock 9; exec sleep 30", file.display());
    let mut f = Command::new("sh").args(["-c", &script]).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        Command::new("flock")
            .args(["-n"])
            .arg(&file)
            .arg("true")
            .status()
            .unwrap()
            .code()
            == Some(1)
    }));
    let (code, _, err) = run(fb.cmd(&["lock", "-n", "by-flock", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("flock"), "the flock(1) holder is named: {err}");
    f.kill().unwrap();
    f.wait().unwrap();
}
