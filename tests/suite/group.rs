//! `toozctl group ...` on the file backend, through the real binary: every subcommand and
//! exit code, output formats, membership held for COMMAND's lifetime, liveness (a killed
//! member vanishes at once), and interop with tooz's file driver in both directions.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{wait_until, FileBackend};
use serde_json::{json, Value};

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(fb: &FileBackend, args: &[&str]) -> String {
    let (code, out, err) = run(fb.cmd(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn json_of(fb: &FileBackend, args: &[&str]) -> Value {
    let out = ok(fb, &[&["-o", "json"], args].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} gave {out:?}: {e}"))
}

fn member_ids(fb: &FileBackend, group: &str) -> Vec<String> {
    let v = json_of(fb, &["group", "members", group]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_string())
        .collect()
}

fn one_line_error(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("toozctl: ") && !err.contains("panicked"),
        "{err:?}"
    );
}

/// `group join` in hold mode, returned once it has printed its line.
fn join_hold(fb: &FileBackend, member: &str, args: &[&str]) -> Child {
    let mut c = fb.cmd(&[&["-m", member, "group", "join"], args].concat());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("joined"), "{line:?}");
    child
}

#[test]
fn create_list_delete_and_their_exit_codes() {
    let fb = FileBackend::new();
    assert_eq!(
        ok(&fb, &["group", "create", "g"]).trim(),
        "created group 'g'"
    );
    let (code, _, err) = run(fb.cmd(&["group", "create", "g"]));
    assert_eq!(code, 1, "{err}");
    one_line_error(&err);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        json_of(&fb, &["group", "list"]),
        json!([{"name": "g", "members": 0, "leader": null}])
    );
    assert_eq!(ok(&fb, &["group", "list"]), "g  0  -\n");
    ok(&fb, &["group", "delete", "g"]);
    assert_eq!(json_of(&fb, &["group", "list"]), json!([]));
    for args in [
        &["group", "members", "g"][..],
        &["group", "leader", "g"],
        &["group", "delete", "g"],
        &["group", "leave", "g", "--member", "x"],
        &["group", "join", "g", "--", "true"],
    ] {
        let (code, _, err) = run(fb.cmd(args));
        assert_eq!(code, 4, "{args:?}: {err}");
        one_line_error(&err);
        assert!(err.contains("group 'g' does not exist"), "{err}");
    }
    ok(&fb, &["group", "create", "g"]);
    let (code, _, err) = run(fb.cmd(&["group", "leave", "g", "--member", "nobody"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("member 'nobody' is not in group 'g'"), "{err}");
    // The tooz layout: sha1 directory with tooz's .metadata bytes.
    let meta = fb
        .dir
        .path()
        .join("groups/54fd1711209fb1c0781092374132c66e79e2241b/.metadata");
    assert_eq!(
        std::fs::read(meta).unwrap(),
        b"\x82\xa8group_id\xc4\x01g\xa7encoded\xc2"
    );
}

#[test]
fn bad_input_exits_2_before_touching_the_backend() {
    let fb = FileBackend::new();
    for args in [
        &["group", "join", "g", "--capabilities", "{role"][..],
        &["group", "create", ""],
        &["group", "frobnicate"],
    ] {
        let (code, _, err) = run(fb.cmd(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        one_line_error(&err);
    }
}

#[test]
fn join_holds_membership_while_the_command_runs() {
    let fb = FileBackend::new();
    let script = format!(
        "echo \"$TOOZCTL_GROUP $TOOZCTL_MEMBER_ID $TOOZCTL_BACKEND\"; {} -o json group members g; exit 5",
        support::bin().display()
    );
    let mut c = fb.cmd(&[
        "-m",
        "web-1",
        "group",
        "join",
        "--create",
        "--capabilities",
        r#"{"role": "api", "n": 3}"#,
        "g",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    c.env("TOOZCTL_BACKEND", &fb.url);
    let (code, out, err) = run(c);
    assert_eq!(code, 5, "the command's status passes through: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), format!("g web-1 {}", fb.url));
    let listed: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        listed,
        json!([{"group": "g", "member_id": "web-1", "capabilities": {"role": "api", "n": 3}, "leader": false}])
    );
    assert!(member_ids(&fb, "g").is_empty(), "left after the command");
    ok(&fb, &["group", "delete", "g"]);
}

#[test]
fn hold_mode_prints_one_line_and_leaves_on_sigterm() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut a = join_hold(&fb, "a", &["g"]);
    let mut b = join_hold(&fb, "b", &["g", "--capabilities", "[1, 2]"]);
    assert_eq!(member_ids(&fb, "g"), ["a", "b"]);
    let (code, _, err) = run(fb.cmd(&["group", "delete", "g"]));
    assert_eq!(code, 1, "{err}");
    one_line_error(&err);
    assert!(err.contains("not empty") && err.contains("a, b"), "{err}");
    support::signal(a.id(), libc::SIGTERM);
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(member_ids(&fb, "g"), ["b"]);
    assert_eq!(
        json_of(&fb, &["group", "list"]),
        json!([{"name": "g", "members": 1, "leader": null}])
    );
    support::signal(b.id(), libc::SIGINT);
    assert_eq!(b.wait().unwrap().code(), Some(0));
    ok(&fb, &["group", "delete", "g"]);
}

#[test]
fn the_same_member_id_cannot_join_twice() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut a = join_hold(&fb, "same", &["g"]);
    let (code, _, err) = run(fb.cmd(&["-m", "same", "group", "join", "g", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    one_line_error(&err);
    assert!(err.contains("already in group 'g'"), "{err}");
    support::signal(a.id(), libc::SIGTERM);
    a.wait().unwrap();
}

#[test]
fn a_killed_member_vanishes_from_members_at_once() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut a = join_hold(&fb, "doomed", &["g"]);
    let mut b = join_hold(&fb, "survivor", &["g"]);
    assert_eq!(member_ids(&fb, "g"), ["doomed", "survivor"]);
    support::signal(a.id(), libc::SIGKILL);
    a.wait().unwrap();
    let t = Instant::now();
    assert_eq!(member_ids(&fb, "g"), ["survivor"], "the very next listing");
    eprintln!("listing after kill -9 took {:?}", t.elapsed());
    // Reading never writes; the survivor's next heartbeat (timeout/3, 3.3 s by default)
    // prunes the dead member's record, so tooz (which never prunes) does not see it either.
    let raws = || {
        std::fs::read_dir(
            fb.dir
                .path()
                .join("groups/54fd1711209fb1c0781092374132c66e79e2241b"),
        )
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".raw")
        })
        .count()
    };
    assert!(
        support::wait_until(Duration::from_secs(8), || raws() == 1),
        "the dead member's record stays: {} records",
        raws()
    );
    support::signal(b.id(), libc::SIGTERM);
    b.wait().unwrap();
    ok(&fb, &["group", "delete", "g"]);
}

#[test]
fn removing_a_running_member_by_hand_stops_its_command_with_3() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut c = fb.cmd(&[
        "-m",
        "victim",
        "group",
        "join",
        "g",
        "--kill-after",
        "2s",
        "--",
        "sleep",
        "30",
    ]);
    c.stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(5), || member_ids(&fb, "g")
        == ["victim"]));
    let t = Instant::now();
    ok(&fb, &["group", "leave", "g", "--member", "victim"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("removed from group 'g'"), "{err}");
    assert!(member_ids(&fb, "g").is_empty());
    ok(&fb, &["group", "delete", "g"]);
}

#[test]
fn leave_uses_our_member_id_by_default() {
    let fb = FileBackend::new();
    let script = format!("{} group leave g && sleep 5", support::bin().display());
    let mut c = fb.cmd(&[
        "-m", "me", "group", "join", "--create", "g", "--", "sh", "-c", &script,
    ]);
    c.env("TOOZCTL_BACKEND", &fb.url);
    let (code, _, err) = run(c);
    // The child left by itself: the membership was lost while it ran, so it was stopped.
    assert_eq!(code, 3, "{err}");
    assert!(member_ids(&fb, "g").is_empty());
}

#[test]
fn yaml_and_text_output() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut a = join_hold(&fb, "a", &["g", "--capabilities", r#"{"role": "api"}"#]);
    let y = ok(&fb, &["-o", "yaml", "group", "members", "g"]);
    assert!(
        y.contains("member_id: a") && y.contains("role: api") && y.contains("leader: false"),
        "{y}"
    );
    assert_eq!(
        ok(&fb, &["group", "members", "g"]),
        "a  {\"role\":\"api\"}\n"
    );
    assert_eq!(
        ok(&fb, &["group", "leader", "g"]).trim(),
        "group 'g' has no leader"
    );
    assert_eq!(
        json_of(&fb, &["group", "leader", "g"]),
        json!({"group": "g", "leader": null, "holder": null, "fencing_token": null})
    );
    support::signal(a.id(), libc::SIGTERM);
    a.wait().unwrap();
}

const TOOZ_JOIN: &str = r#"
import os, sys
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], sys.argv[2].encode())
c.start()
try:
    c.create_group(b"g").get()
except coordination.GroupAlreadyExist:
    pass
c.join_group(b"g", {"role": "api", "n": 3}).get()
print("joined", flush=True)
os._exit(0)  # no stop(): stop() would leave the group
"#;

const TOOZ_MEMBERS: &str = r#"
import json, sys
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b"tooz-reader")
c.start()
out = {}
for m in c.get_members(b"g").get():
    out[m.decode()] = c.get_member_capabilities(b"g", m).get()
print(json.dumps(out, sort_keys=True))
c.stop()
"#;

#[test]
fn a_tooz_member_is_listed_with_its_capabilities() {
    let fb = FileBackend::new();
    let (code, out, err) = support::python(TOOZ_JOIN, &[&fb.url, "tooz-api-1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        json_of(&fb, &["group", "members", "g"]),
        json!([{"group": "g", "member_id": "tooz-api-1", "capabilities": {"role": "api", "n": 3}, "leader": false}])
    );
    // tooz records are never pruned by us: a dead tooz member blocks delete, as in tooz.
    let (code, _, err) = run(fb.cmd(&["group", "delete", "g"]));
    assert_eq!(code, 1, "{err}");
    ok(&fb, &["group", "leave", "g", "--member", "tooz-api-1"]);
    ok(&fb, &["group", "delete", "g"]);
}

#[test]
fn a_tooz_member_that_stops_heartbeating_is_hidden_after_timeout() {
    let fb = FileBackend::new();
    let url = format!("{}?timeout=1", fb.url);
    let (code, out, err) = support::python(TOOZ_JOIN, &[&url, "tooz-api-1"]);
    assert_eq!(code, 0, "{out}{err}");
    let cmd = |args: &[&str]| {
        let mut c = support::toozctl(fb.dir.path());
        c.args(["-b", &url, "-o", "json"]).args(args);
        c
    };
    let (_, out, _) = run(cmd(&["group", "members", "g"]));
    assert!(out.contains("tooz-api-1"), "{out}");
    std::thread::sleep(Duration::from_millis(1300));
    let (_, out, _) = run(cmd(&["group", "members", "g"]));
    assert_eq!(out.trim(), "[]");
}

#[test]
fn a_toozctl_member_is_seen_by_tooz_with_its_capabilities_beyond_the_timeout() {
    let fb = FileBackend::new();
    // timeout=1: tooz lists a record only while it is fresher than 1 s; we touch it.
    let url = format!("{}?timeout=1", fb.url);
    let mut c = support::toozctl(fb.dir.path());
    c.args([
        "-b",
        &url,
        "-m",
        "rust-1",
        "group",
        "join",
        "--create",
        "--capabilities",
        r#"{"role": "api", "n": 3}"#,
        "g",
    ]);
    c.stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (code, out, err) = support::python(TOOZ_MEMBERS, &[&url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), r#"{"rust-1": {"n": 3, "role": "api"}}"#);
    std::thread::sleep(Duration::from_millis(2500));
    let (code, out, err) = support::python(TOOZ_MEMBERS, &[&url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"rust-1": {"n": 3, "role": "api"}}"#,
        "still fresh for tooz"
    );
    support::signal(child.id(), libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let (code, out, err) = support::python(TOOZ_MEMBERS, &[&url]);
    assert_eq!((code, out.trim()), (0, "{}"), "{err}");
    // Nothing of ours is left in tooz's group directory: tooz can delete the group.
    let (code, out, err) = support::python(
        "import sys\nfrom tooz import coordination\nc = coordination.get_coordinator(sys.argv[1], b'x')\nc.start()\nc.delete_group(b'g').get()\nprint('deleted')\nc.stop()",
        &[&url],
    );
    assert_eq!((code, out.trim()), (0, "deleted"), "{err}");
}

#[test]
fn on_a_terminal_listings_are_tables_with_headers() {
    let fb = FileBackend::new();
    ok(&fb, &["group", "create", "g"]);
    let mut a = join_hold(&fb, "web-1", &["g", "--capabilities", r#"{"role": "api"}"#]);
    let cmd = format!(
        "{} -b {} group members g; {} -b {} group list",
        support::bin().display(),
        fb.url,
        support::bin().display(),
        fb.url
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", fb.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "MEMBER",
        "CAPABILITIES",
        "LEADER",
        "web-1",
        r#"{"role":"api"}"#,
        "GROUP",
        "MEMBERS",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    support::signal(a.id(), libc::SIGTERM);
    a.wait().unwrap();
}
