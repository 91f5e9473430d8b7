//! `toozctl elect` on the file backend, through the real binary: one leader at a time,
//! takeover when the leader exits or is killed, fencing tokens that grow with each term,
//! the child's environment, -n/-w/-E, hold mode, and loss of the membership.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{wait_until, FileBackend};
use serde_json::Value;

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn leader_of(fb: &FileBackend, group: &str) -> Value {
    let (code, out, err) = run(fb.cmd(&["-o", "json", "group", "leader", group]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// `elect` in hold mode (JSON), returned with its "elected" line once elected.
fn elect_hold(fb: &FileBackend, member: &str) -> (Child, Value) {
    let mut c = fb.cmd(&["-o", "json", "-m", member, "elect", "g"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    (child, v)
}

#[test]
fn two_electors_run_one_child_at_a_time_and_the_second_takes_over() {
    let fb = FileBackend::new();
    let log = fb.dir.path().join("terms.log");
    let script = format!(
        "echo \"start $TOOZCTL_MEMBER_ID $TOOZCTL_FENCING_TOKEN\" >> {0}; sleep 0.6; echo \"end $TOOZCTL_MEMBER_ID\" >> {0}",
        log.display()
    );
    let spawn = |m: &str| {
        let mut c = fb.cmd(&["-m", m, "elect", "g", "--", "sh", "-c", &script]);
        c.stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut a = spawn("a");
    let mut b = spawn("b");
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(b.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // start X, end X, start Y, end Y: never two children at once.
    let first = lines[0].split(' ').nth(1).unwrap();
    let second = lines[2].split(' ').nth(1).unwrap();
    assert_ne!(first, second, "{text}");
    assert_eq!(lines[1], format!("end {first}"), "{text}");
    assert_eq!(lines[3], format!("end {second}"), "{text}");
    let token = |l: &str| l.split(' ').nth(2).unwrap().parse::<u64>().unwrap();
    assert!(token(lines[2]) > token(lines[0]), "{text}");
    assert_eq!(leader_of(&fb, "g")["leader"], Value::Null);
}

#[test]
fn the_child_gets_group_member_backend_and_a_growing_fencing_token() {
    let fb = FileBackend::new();
    let script =
        "echo \"$TOOZCTL_GROUP|$TOOZCTL_MEMBER_ID|$TOOZCTL_BACKEND|$TOOZCTL_FENCING_TOKEN\"";
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (code, out, err) = run(fb.cmd(&["-m", "m1", "elect", "g", "--", "sh", "-c", script]));
        assert_eq!(code, 0, "{err}");
        let f: Vec<&str> = out.trim().split('|').collect();
        assert_eq!(&f[..3], ["g", "m1", fb.url.as_str()]);
        tokens.push(f[3].parse::<u64>().unwrap());
    }
    assert!(tokens.windows(2).all(|w| w[1] > w[0]), "{tokens:?}");
    let (code, _, _) = run(fb.cmd(&["elect", "g", "--", "sh", "-c", "exit 9"]));
    assert_eq!(code, 9, "the child's status passes through");
}

#[test]
fn hold_mode_leader_shows_in_members_and_leader_and_stands_down_on_sigterm() {
    let fb = FileBackend::new();
    let (mut a, v) = elect_hold(&fb, "a");
    assert_eq!(v["event"], "elected");
    assert_eq!(v["group"], "g");
    assert_eq!(v["member_id"], "a");
    assert!(v["fencing_token"].as_u64().unwrap() >= 1);
    assert!(v["acquired_at"].as_str().unwrap().ends_with('Z'));
    let l = leader_of(&fb, "g");
    assert_eq!(l["leader"], "a");
    assert_eq!(l["fencing_token"], v["fencing_token"]);
    assert_eq!(l["holder"]["pid"], a.id());
    let (_, out, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m[0]["member_id"], "a");
    assert_eq!(m[0]["leader"], true);
    let (_, out, _) = run(fb.cmd(&["-o", "json", "group", "list"]));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["leader"],
        "a"
    );
    support::signal(a.id(), libc::SIGTERM);
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(leader_of(&fb, "g")["leader"], Value::Null);
    let (_, out, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
    assert_eq!(out.trim(), "[]");
}

#[test]
fn no_wait_and_wait_give_up_with_the_conflict_code_and_name_the_leader() {
    let fb = FileBackend::new();
    let (mut a, _) = elect_hold(&fb, "boss");
    let (code, _, err) = run(fb.cmd(&["-m", "b", "elect", "-n", "g", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("boss"), "{err}");
    let t = Instant::now();
    let (code, _, err) = run(fb.cmd(&[
        "-m", "b", "elect", "-w", "0.4", "-E", "7", "g", "--", "true",
    ]));
    let took = t.elapsed();
    assert_eq!(code, 7, "{err}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The loser left the group again.
    let (_, out, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
    assert!(!out.contains("\"b\""), "{out}");
    support::signal(a.id(), libc::SIGTERM);
    a.wait().unwrap();
}

#[test]
fn a_killed_leader_is_replaced_at_once() {
    let fb = FileBackend::new();
    let (mut a, va) = elect_hold(&fb, "a");
    let mut c = fb.cmd(&["-o", "json", "-m", "b", "elect", "g"]);
    c.stdout(Stdio::piped());
    let mut b = c.spawn().unwrap();
    let mut out = BufReader::new(b.stdout.take().unwrap());
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, o, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
        o.contains("\"b\"")
    }));
    support::signal(a.id(), libc::SIGKILL);
    let t = Instant::now();
    a.wait().unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let took = t.elapsed();
    eprintln!("takeover after kill -9 took {took:?}");
    let vb: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(vb["member_id"], "b");
    assert!(vb["fencing_token"].as_u64() > va["fencing_token"].as_u64());
    assert!(took < Duration::from_millis(500), "{took:?}");
    support::signal(b.id(), libc::SIGTERM);
    b.wait().unwrap();
}

#[test]
fn a_signal_while_campaigning_starts_nothing_and_leaves() {
    let fb = FileBackend::new();
    let (mut a, _) = elect_hold(&fb, "a");
    let marker = fb.dir.path().join("ran");
    let mut c = fb.cmd(&[
        "-m",
        "b",
        "elect",
        "g",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    c.stderr(Stdio::piped());
    let mut b = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, o, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
        o.contains("\"b\"")
    }));
    support::signal(b.id(), libc::SIGTERM);
    assert_eq!(b.wait().unwrap().code(), Some(143));
    let (_, o, _) = run(fb.cmd(&["-o", "json", "group", "members", "g"]));
    assert!(!o.contains("\"b\""), "{o}");
    support::signal(a.id(), libc::SIGTERM);
    a.wait().unwrap();
    assert!(!marker.exists());
}

#[test]
fn losing_the_membership_stops_the_leaders_command_and_exits_3() {
    let fb = FileBackend::new();
    let mut c = fb.cmd(&[
        "-m",
        "a",
        "elect",
        "g",
        "--kill-after",
        "2s",
        "--",
        "sleep",
        "30",
    ]);
    c.stderr(Stdio::piped());
    let mut a = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, o, _) = run(fb.cmd(&["group", "leader", "g"]));
        o.starts_with("a ")
    }));
    let (code, _, err) = run(fb.cmd(&["group", "leave", "g", "--member", "a"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(a.wait().unwrap().code(), Some(3));
    let mut err = String::new();
    a.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("removed from group 'g'"), "{err}");
    assert_eq!(leader_of(&fb, "g")["leader"], Value::Null, "stood down");
}

#[test]
fn capabilities_are_stored_and_bad_ones_exit_2() {
    let fb = FileBackend::new();
    let script = format!("{} -o json group members g", support::bin().display());
    let mut c = fb.cmd(&[
        "-m",
        "a",
        "elect",
        "--capabilities",
        r#"{"role": "cron"}"#,
        "g",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    c.env("TOOZCTL_BACKEND", &fb.url);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let m: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(m[0]["capabilities"]["role"], "cron");
    assert_eq!(m[0]["leader"], true);
    let (code, _, err) = run(fb.cmd(&["elect", "--capabilities", "nope", "g"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn help_has_examples() {
    let fb = FileBackend::new();
    for cmd in [
        &["elect", "--help"][..],
        &["watch", "--help"],
        &["group", "--help"],
        &["group", "list", "--help"],
        &["group", "members", "--help"],
        &["group", "join", "--help"],
        &["group", "leave", "--help"],
        &["group", "create", "--help"],
        &["group", "delete", "--help"],
        &["group", "leader", "--help"],
    ] {
        let (code, out, _) = run(fb.cmd(cmd));
        assert_eq!(code, 0);
        assert!(out.contains("Examples:\n  "), "{cmd:?}: {out}");
        assert!(out.contains("Exit status:"), "{cmd:?}");
    }
}

#[test]
fn deleting_the_leader_lock_file_counts_as_lost() {
    let fb = FileBackend::new();
    let mut c = fb.cmd(&[
        "-m",
        "a",
        "elect",
        "g",
        "--kill-after",
        "2s",
        "--",
        "sleep",
        "30",
    ]);
    c.stderr(Stdio::piped());
    let mut a = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, o, _) = run(fb.cmd(&["group", "leader", "g"]));
        o.starts_with("a ")
    }));
    // sha1("g")
    let lock = fb
        .dir
        .path()
        .join(".toozctl/groups/54fd1711209fb1c0781092374132c66e79e2241b/leader/lock");
    std::fs::remove_file(&lock).unwrap();
    let t = Instant::now();
    assert_eq!(a.wait().unwrap().code(), Some(3));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let mut err = String::new();
    a.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("deleted or replaced"), "{err}");
}

#[test]
fn fencing_tokens_keep_growing_across_delete_and_create_of_the_group() {
    let fb = FileBackend::new();
    let token = || {
        let (code, out, err) = run(fb.cmd(&[
            "elect",
            "g",
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ]));
        assert_eq!(code, 0, "{err}");
        out.trim().parse::<u64>().unwrap()
    };
    let first = token();
    assert_eq!(run(fb.cmd(&["group", "delete", "g"])).0, 0);
    assert!(token() > first);
}
