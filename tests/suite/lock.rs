//! `toozctl lock` on the file backend, through the real binary: what is specific to it or
//! to parsing (bad names, URLs and flags exit 2; nested names are paths), the terminal
//! (foreground group, spinner), and interop with tooz's file driver and flock(1). The
//! promises every backend keeps (exit statuses, signals, release, sharing) are in
//! `conformance/`.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
fn bad_names_exit_2_with_one_line() {
    let fb = FileBackend::new();
    // A name of its own outside the backend directory, so that a file left there by
    // anything else cannot be mistaken for an escape.
    let outside = format!("toozctl-escape-{}", std::process::id());
    let (up, up2) = (format!("../{outside}"), format!("a/../../{outside}"));
    for name in [
        up.as_str(),
        up2.as_str(),
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
    assert!(!fb.dir.path().parent().unwrap().join(&outside).exists());
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
