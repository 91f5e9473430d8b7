//! Supervision that does not depend on the backend (run on the file backend): a normal
//! exit stops what COMMAND left behind, in or out of its process group, before the
//! release; and job control under a terminal (Ctrl-Z returns to the shell, `fg` resumes).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{self, wait_until, FileBackend};

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn a_normal_exit_stops_descendants_outside_the_group_before_the_release() {
    let fb = FileBackend::new();
    let log = fb.dir.path().join("worker");
    let pidf = fb.dir.path().join("worker.pid");
    // The worker holds none of toozctl's output pipes, so a survivor cannot hang the test.
    let script = format!(
        "exec >/dev/null 2>&1; setsid sh -c 'echo $$ > {}; while :; do date +%s%N >> {}; sleep .1; done' & \
         sleep 0.5; exit 0",
        pidf.display(),
        log.display()
    );
    let out = fb
        .cmd(&[
            "lock",
            "--kill-after",
            "2s",
            "leftover",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    let n = size(&log);
    std::thread::sleep(Duration::from_millis(600));
    let grew = size(&log) != n;
    let pid: u32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if support::alive(pid) {
        support::signal(pid, libc::SIGKILL);
    }
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(n > 0, "the worker never ran");
    assert!(!grew, "the setsid worker outlived the release");
}

/// Drives an interactive bash in a pseudo-terminal (python's pty module): starts a lock
/// whose COMMAND writes to a log, sends ^Z, checks the job is reported stopped and the log
/// frozen while the lock stays held, then `fg`, checks the log grows, and ^C.
const JOB_CONTROL: &str = r#"
import os, pty, select, sys, time
toozctl, url, log, name = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
out = b""
def read_until(pred, timeout):
    global out
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
        if pred():
            return True
    return pred()
def size():
    try:
        return os.path.getsize(log)
    except OSError:
        return 0
def grows(timeout):
    n = size()
    return read_until(lambda: size() > n, timeout)
def say(s):
    os.write(fd, s.encode())
def result(what, ok):
    print(what, "ok" if ok else "FAILED")
say("PS1='<''ready''> '\n")
read_until(lambda: b"<ready> " in out, 10)
say(f"{toozctl} -b {url} lock {name} -- sh -c 'while :; do date +%s%N >> {log}; sleep .1; done'\n")
result("running", grows(15))
mark = len(out)
say("\x1a")
result("stopped", read_until(lambda: b"Stopped" in out[mark:] and b"<ready> " in out[mark:], 10))
time.sleep(0.3)
n = size()
time.sleep(1)
result("frozen", size() == n)
mark = len(out)
say(f"{toozctl} -b {url} lock -n {name} -- true; echo busy=$?\n")
result("held", read_until(lambda: b"busy=1" in out[mark:], 10))
say("fg\n")
result("resumed", grows(10))
mark = len(out)
say("\x03")
read_until(lambda: b"<ready> " in out[mark:], 10)
say("echo rc=$?\n")
result("interrupted", read_until(lambda: b"rc=130" in out[mark:], 10))
say("exit\n")
sys.stderr.write(out.decode(errors="replace"))
"#;

#[test]
fn ctrl_z_returns_to_the_shell_and_fg_resumes_the_command_with_the_lock_held() {
    let fb = FileBackend::new();
    let log = fb.dir.path().join("job");
    let out = Command::new("python3")
        .arg("-c")
        .arg(JOB_CONTROL)
        .args([
            support::bin().to_str().unwrap(),
            &fb.url,
            log.to_str().unwrap(),
            "job",
        ])
        .env("HOME", fb.dir.path())
        .output()
        .expect("python3");
    let report = String::from_utf8_lossy(&out.stdout);
    let transcript = String::from_utf8_lossy(&out.stderr);
    for step in [
        "running",
        "stopped",
        "frozen",
        "held",
        "resumed",
        "interrupted",
    ] {
        assert!(
            report.contains(&format!("{step} ok")),
            "step '{step}' failed:\n{report}\n--- terminal ---\n{transcript}"
        );
    }
    // Nothing is left running once the shell has gone.
    let n = size(&log);
    assert!(wait_until(Duration::from_secs(2), || {
        std::thread::sleep(Duration::from_millis(300));
        size(&log) == n
    }));
}

/// Ctrl-Z for longer than the lease (Redis, `--ttl 3s`): someone else takes the lock
/// meanwhile; on `fg` toozctl finds the lease ran out and stops COMMAND before it runs
/// again (no write after `fg`), and exits 3 saying the lease ran out.
const SUSPENDED_PAST_THE_LEASE: &str = r#"
import os, pty, select, sys, time
hold, other, log = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
out = b""
def read_until(pred, timeout):
    global out
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
        if pred():
            return True
    return pred()
def size():
    try:
        return os.path.getsize(log)
    except OSError:
        return 0
def say(s):
    os.write(fd, s.encode())
def result(what, ok):
    print(what, "ok" if ok else "FAILED")
say("PS1='<''ready''> '\n")
read_until(lambda: b"<ready> " in out, 10)
say(hold + "\n")
n = size()
result("running", read_until(lambda: size() > n, 15))
mark = len(out)
say("\x1a")
result("stopped", read_until(lambda: b"Stopped" in out[mark:] and b"<ready> " in out[mark:], 10))
time.sleep(4.5)
mark = len(out)
say(other + "; echo other=$?\n")
result("taken meanwhile", read_until(lambda: b"other=0" in out[mark:], 15))
n = size()
mark = len(out)
say("fg\n")
read_until(lambda: b"<ready> " in out[mark:], 15)
say("echo rc=$?\n")
result("lost", read_until(lambda: b"rc=3" in out[mark:], 10))
time.sleep(0.5)
result("not resumed", size() == n)
say("exit\n")
sys.stderr.write(out.decode(errors="replace"))
"#;

#[test]
fn a_lease_that_ran_out_while_suspended_stops_the_command_before_it_runs_again() {
    use crate::support::fixture::{Fx, Kind};
    let fx = Fx::shared(Kind::Redis, "suspended");
    let name = fx.name("z");
    let log = fx.home.path().join("job");
    let bin = support::bin();
    let hold = format!(
        "{} -b '{}' lock --ttl 3s --kill-after 1s {name} -- sh -c 'while :; do date +%s%N >> {}; sleep .1; done'",
        bin.display(),
        fx.url(),
        log.display()
    );
    let other = format!("{} -b '{}' lock -n {name} -- true", bin.display(), fx.url());
    let out = Command::new("python3")
        .arg("-c")
        .arg(SUSPENDED_PAST_THE_LEASE)
        .args([&hold, &other, log.to_str().unwrap()])
        .env("HOME", fx.home.path())
        .output()
        .expect("python3");
    let report = String::from_utf8_lossy(&out.stdout);
    let transcript = String::from_utf8_lossy(&out.stderr);
    for step in [
        "running",
        "stopped",
        "taken meanwhile",
        "lost",
        "not resumed",
    ] {
        assert!(
            report.contains(&format!("{step} ok")),
            "step '{step}' failed:\n{report}\n--- terminal ---\n{transcript}"
        );
    }
    assert!(transcript.contains("ran out"), "{transcript}");
}
