//! What is specific to `ipc://`: interoperation with a live Python tooz client both ways
//! (the key derivation checked by tooz itself), kill -9 of either side's holder, the
//! holder process's loss, and what the backend refuses. Every test uses names unique to
//! it (`Fx::name`), so parallel tests never meet in the host-wide semaphore namespace, and
//! leaves no set behind (tooz's and toozctl's releases remove theirs).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::conformance::helpers::{json, run};
use crate::support::fixture::{ipc_probe, Fx, Kind};
use crate::support::{signal, tooz_python, wait_until};

/// A Python tooz client holding `name` through tooz's ipc driver until it reads a line
/// (or is killed). `held` is the pid it printed once it held the lock.
struct ToozHolder {
    child: Child,
    stdin: ChildStdin,
    pid: u32,
}

const TOOZ_HOLD: &str = "import sys, os\n\
from tooz import coordination\n\
c = coordination.get_coordinator('ipc://', b'tooz-member'); c.start()\n\
l = c.get_lock(sys.argv[1].encode())\n\
l.acquire(blocking=True)\n\
print('held', os.getpid(), flush=True)\n\
sys.stdin.readline()\n\
l.release(); c.stop()\n\
print('released', flush=True)\n";

impl ToozHolder {
    fn take(name: &str) -> ToozHolder {
        let mut child = Command::new(tooz_python())
            .args(["-c", TOOZ_HOLD, name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid = line
            .strip_prefix("held ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the tooz client did not take the lock: {line:?}"));
        ToozHolder { child, stdin, pid }
    }

    fn release(mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        let st = self.child.wait().unwrap();
        assert!(st.success(), "the tooz client failed to release");
    }
}

impl Drop for ToozHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lock a tooz client holds is held for toozctl (exit 1 with `-n`, naming the tooz
/// process), shows in `locks` under its key, and is free for toozctl once tooz released it
/// — under names tooz derives keys from in every way: plain, non-ASCII, long, with spaces.
#[test]
fn a_tooz_lock_is_held_for_toozctl_under_the_key_tooz_derives() {
    let fx = Fx::shared(Kind::Ipc, "ipc_from_tooz");
    for base in [
        "plain",
        "été ünïcode",
        &"long".repeat(80),
        "with spaces/and slashes",
    ] {
        let name = fx.name(base);
        let tooz = ToozHolder::take(&name);
        let (code, out, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
        assert_eq!(code, 1, "{base}: {out}{err}");
        assert!(
            err.contains(&format!("pid {}", tooz.pid)) && err.contains("tooz client"),
            "names the tooz process: {err}"
        );
        let (code, out, _) = run(fx.cmd(&["-o", "json", "lock", "-n", &name]));
        assert_eq!(code, 1, "{out}");
        let (code, out, err) = run(fx.cmd(&["-o", "json", "locks"]));
        assert_eq!(code, 0, "{err}");
        let rows = json(&out);
        assert!(
            rows.as_array().unwrap().iter().any(|r| r["holder"]["pid"]
                .as_u64()
                .is_some_and(|p| p == tooz.pid as u64)
                && r["name"].as_str().unwrap().starts_with("(key 0x")),
            "the tooz holder is listed under its key: {out}"
        );
        tooz.release();
        assert_eq!(ipc_probe("exists", &name), "0", "tooz removed its set");
        let (code, _, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
        assert_eq!(code, 0, "{base}: free once tooz released it: {err}");
    }
}

/// The other way round: while toozctl holds the lock a tooz client's blocking acquire
/// waits (tooz's sysv_ipc here has no semaphore timeouts, so it can only block), and it
/// gets the lock once toozctl gave it back; toozctl's set is where tooz's key points.
#[test]
fn a_toozctl_lock_holds_off_a_tooz_client_until_released() {
    let fx = Fx::shared(Kind::Ipc, "ipc_to_tooz");
    for base in ["plain", "été ünïcode", &"long".repeat(80)] {
        let name = fx.name(base);
        let holder = fx.hold(&["-m", "rust-holder", "lock", &name]);
        assert_eq!(
            ipc_probe("exists", &name),
            "1",
            "{base}: tooz's key has a set"
        );
        let mut tooz = Command::new(tooz_python())
            .args(["-c", TOOZ_HOLD, &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = tooz.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let _ = tx.send((Instant::now(), line));
            // Read on to the end, so its last line does not meet a closed pipe.
            let _ = std::io::Read::read_to_end(&mut out, &mut Vec::new());
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(1500)).is_err(),
            "{base}: the tooz client got a lock toozctl holds"
        );
        let stopped = Instant::now();
        holder.stop();
        let (at, line) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the tooz client never got the lock");
        assert!(line.starts_with("held"), "{line}");
        assert!(at >= stopped, "tooz got it before toozctl gave it back");
        tooz.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        assert!(tooz.wait().unwrap().success());
        assert_eq!(ipc_probe("exists", &name), "0", "nothing left behind");
    }
}

/// A tooz client killed with SIGKILL while holding frees the lock through SEM_UNDO:
/// a waiting toozctl gets it at once.
#[test]
fn a_kill9d_tooz_holder_frees_the_lock_for_a_waiting_toozctl() {
    let fx = Fx::shared(Kind::Ipc, "ipc_tooz_kill9");
    let name = fx.name("k");
    let tooz = ToozHolder::take(&name);
    let mut waiter = fx
        .cmd(&["lock", "-w", "20", &name, "--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "waits while tooz holds"
    );
    signal(tooz.pid, libc::SIGKILL);
    let killed = Instant::now();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "woken by the kernel's undo: {:?}",
        killed.elapsed()
    );
    drop(tooz);
    assert_eq!(ipc_probe("exists", &name), "0", "toozctl removed the set");
}

/// The process that holds the unit for toozctl killed with SIGKILL (an operator's
/// mistake): the kernel frees the lock, and toozctl must stop COMMAND and exit 3 at once.
#[test]
fn the_semaphore_holder_killed_is_a_loss_that_stops_command() {
    let fx = Fx::shared(Kind::Ipc, "ipc_holder_kill9");
    let name = fx.name("h");
    let flag = fx.home.path().join("termed");
    let ready = fx.home.path().join("ready");
    let script = format!(
        "trap 'echo TERM > {}; exit 0' TERM; touch {}; while :; do sleep 0.05; done",
        flag.display(),
        ready.display()
    );
    let child = fx
        .cmd(&[
            "lock",
            "--kill-after",
            "1s",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder_pid = None;
    assert!(wait_until(Duration::from_secs(10), || {
        holder_pid = holder_of(&name);
        holder_pid.is_some() && ready.exists()
    }));
    let pid = holder_pid.unwrap();
    signal(pid, libc::SIGKILL);
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "{:?}",
        killed.elapsed()
    );
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("ended"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&flag).unwrap_or_default().trim(),
        "TERM"
    );
    // The kernel's undo left a free set (as a killed tooz holder does): tooz's break_.
    ipc_probe("break", &name);
}

/// The pid of the toozctl holder process that holds lock `name` (its `/proc` record).
fn holder_of(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let words: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
        (comm.trim() == "toozctl-ipc-h" && words.get(8) == Some(&name.as_bytes())).then_some(pid)
    })
}

/// What the backend cannot do is exit 2 naming it: shared locks, a password; a lock
/// held by toozctl is listed by name with its holder; `watch lock` reports acquired and
/// released (by polling).
#[test]
fn refusals_listing_and_watching() {
    let fx = Fx::shared(Kind::Ipc, "ipc_misc");
    let name = fx.name("w");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "--shared", &name, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ipc"), "{err}");
    let (code, _, err) = run(fx.cmd_on("ipc://:pw@", &["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password") && !err.contains("pw@"), "{err}");
    let mut watch = fx
        .cmd(&["-o", "json", "watch", "lock", &name, "--count", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let holder = fx.hold(&["-m", "watched", "lock", &name]);
    let (code, out, err) = run(fx.cmd(&["locks"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains(&name) && l.contains("watched")),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(500));
    holder.stop();
    let end = Instant::now() + Duration::from_secs(10);
    while watch.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if watch.try_wait().unwrap().is_none() {
        let _ = watch.kill();
    }
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<String> = text
        .lines()
        .map(|l| json(l)["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(events, ["acquired", "released"], "{text}");
    assert!(text.contains("watched"), "{text}");
}

/// `--limit N` on a name a tooz client holds as tooz's exclusive lock is exit 2 naming the
/// other kind and the tooz process (a silent overlap would put N holders beside it).
#[test]
fn a_semaphore_on_a_tooz_lock_is_an_error_naming_both() {
    let fx = Fx::shared(Kind::Ipc, "ipc_limit_vs_tooz");
    let name = fx.name("l");
    let tooz = ToozHolder::take(&name);
    let (code, _, err) = run(fx.cmd(&["lock", "-n", "-l", "2", &name, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("exclusive") && err.contains("limit 2"),
        "names both kinds: {err}"
    );
    assert!(
        err.contains(&format!("pid {}", tooz.pid)),
        "names the holder: {err}"
    );
    tooz.release();
}

/// A set its creator left at 0 before setting it to 1 (tooz creates, then sets: a creator
/// killed in between) holds everyone off with no holder: toozctl says so, and `unlock`
/// removes it, as tooz's break_ would.
#[test]
fn a_set_never_initialised_is_named_and_unlock_removes_it() {
    let fx = Fx::shared(Kind::Ipc, "ipc_uninit");
    let name = fx.name("u");
    // semget(2) alone, as a creator killed before its SETVAL left it (sysv_ipc would set a
    // value, which the kernel records as an operation).
    let code = "import sys, ctypes\nfrom tooz.drivers import ipc\n\
                key = ctypes.c_int(ipc.IPCLock(sys.argv[1].encode()).key & 0xffffffff).value\n\
                libc = ctypes.CDLL(None, use_errno=True)\n\
                assert libc.semget(key, 1, 0o1000 | 0o2000 | 0o600) >= 0, ctypes.get_errno()\n";
    let (rc, _, err) = crate::support::python(code, &[&name]);
    assert_eq!(rc, 0, "{err}");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("never initialised"), "{err}");
    let (code, out, err) = run(fx.cmd(&["unlock", &name]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("never initialised"), "{out}");
    assert_eq!(ipc_probe("exists", &name), "0");
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 0, "{err}");
}
