//! What is specific to the MySQL / MariaDB backend: interop with Python tooz (PyMySQL)
//! both ways, the 64-character name limit, a killed holder's session freeing its lock,
//! `unlock` killing the holding connection, and a server restart while holding.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::conformance::helpers::run;
use crate::support::fixture::{Fx, Kind};
use crate::support::{alive, tooz_python, wait_until};

/// A Python tooz client that takes lock NAME (blocking) and holds it until its stdin
/// closes, or, with `try`, tries once without blocking and prints True/False.
const TOOZ_LOCK: &str = "import sys\nfrom tooz import coordination\n\
c = coordination.get_coordinator(sys.argv[1], b'tooz-peer')\nc.start()\n\
l = c.get_lock(sys.argv[2].encode())\n\
if sys.argv[3] == 'try':\n\
\x20   got = l.acquire(blocking=False)\n\
\x20   print(got, flush=True)\n\
\x20   if got: l.release()\n\
else:\n\
\x20   assert l.acquire(blocking=True)\n\
\x20   print('held', flush=True)\n\
\x20   sys.stdin.read()\n\
\x20   l.release()\n\
c.stop()\n";

/// A tooz client holding `name` on `url`; released when dropped (stdin closed).
pub struct ToozHolder {
    child: Child,
}

impl ToozHolder {
    pub fn hold(url: &str, name: &str) -> ToozHolder {
        let mut child = Command::new(tooz_python())
            .args(["-c", TOOZ_LOCK, url, name, "hold"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "the tooz client did not take {name}");
        ToozHolder { child }
    }

    /// Release (close stdin) and wait for the client to end.
    pub fn release(mut self) {
        drop(self.child.stdin.take());
        let st = self.child.wait().unwrap();
        assert!(st.success(), "the tooz client failed to release");
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ToozHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a non-blocking tooz acquire of `name` answers: true when it got (and gave back) it.
pub fn tooz_try(url: &str, name: &str) -> bool {
    let (rc, out, err) = crate::support::python(TOOZ_LOCK, &[url, name, "try"]);
    assert_eq!(rc, 0, "{err}");
    match out.trim() {
        "True" => true,
        "False" => false,
        o => panic!("tooz answered {o:?}: {err}"),
    }
}

/// Both ways: a lock tooz holds makes `toozctl lock -n` exit 1 naming a holder, and the
/// lock toozctl holds makes tooz's non-blocking acquire answer False; each is free again
/// once its holder let go.
pub fn interop_both_ways(kind: Kind) {
    let fx = Fx::shared(kind, "interop");
    let name = fx.name("i");
    let tooz = ToozHolder::hold(&fx.url(), &name);
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("held by"), "{err}");
    tooz.release();
    assert_eq!(run(fx.cmd(&["lock", "-n", &name, "--", "true"])).0, 0);

    let holder = fx.hold(&["lock", &name]);
    assert!(!tooz_try(&fx.url(), &name), "tooz got a lock toozctl holds");
    holder.stop();
    assert!(
        tooz_try(&fx.url(), &name),
        "tooz could not take the released lock"
    );
}

/// A holder killed with SIGKILL (toozctl, or a tooz client): its session ends and the
/// lock is free at once — no lease to wait for.
pub fn killed_holders_session_frees_the_lock(kind: Kind) {
    let fx = Fx::shared(kind, "killed");
    let name = fx.name("k");
    let h = fx.hold(&["lock", &name]);
    let (code, _, _) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 1);
    h.kill9();
    let t = Instant::now();
    let (code, _, err) = run(fx.cmd(&["lock", "-w", "10", &name, "--", "true"]));
    assert_eq!(code, 0, "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    let tooz = ToozHolder::hold(&fx.url(), &name);
    tooz.kill9();
    let (code, _, err) = run(fx.cmd(&["lock", "-w", "10", &name, "--", "true"]));
    assert_eq!(code, 0, "the killed tooz client's lock: {err}");
}

/// `unlock` names the holder, ends its session, and the holder sees the loss: exit 3
/// with COMMAND stopped.
pub fn unlock_ends_the_holders_session(kind: Kind) {
    let fx = Fx::shared(kind, "unlock");
    let name = fx.name("u");
    let pidfile = fx.home.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 60", pidfile.display());
    let holder = fx
        .cmd(&["-m", "the-holder", "lock", &name, "--", "sh", "-c", &script])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || pidfile.exists()
        && std::fs::read_to_string(&pidfile)
            .is_ok_and(|s| s.ends_with('\n'))));
    let child: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (code, out, err) = run(fx.cmd(&["unlock", &name]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the-holder"), "names the holder: {out}");
    let (code, err) = finish(holder, Duration::from_secs(20));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("lost"), "{err}");
    assert!(!alive(child), "COMMAND outlived the loss");
    assert!(!fx.lock_exists(&name));
}

/// A server restart while holding ends the session: exit 3, COMMAND's tree stopped.
pub fn restart_while_holding_is_a_loss(kind: Kind) {
    let fx = Fx::private(kind, "restart");
    let name = fx.name("r");
    let pidfile = fx.home.path().join("pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
    let holder = fx
        .cmd(&["lock", &name, "--", "sh", "-c", &script])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    fx.restart();
    let (code, err) = finish(holder, Duration::from_secs(30));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("lock '{name}'")), "{err}");
    assert!(!alive(grandchild), "COMMAND's tree outlived the loss");
}

/// The loss rule for a silent server (SIGSTOP: no answers, no reset): not a loss at once
/// (nobody else can take the lock while the frozen server keeps our session), but a ping
/// unanswered for 10 s is: exit 3 with COMMAND stopped, between 10 s and a generous bound.
pub fn a_silent_server_is_a_loss_after_the_ping_timeout(kind: Kind) {
    let fx = Fx::private(kind, "silent");
    let name = fx.name("s");
    let pidfile = fx.home.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 120", pidfile.display());
    let mut holder = fx
        .cmd(&[
            "lock",
            "--kill-after",
            "1",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    let child: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    fx.pause();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        holder.try_wait().unwrap().is_none(),
        "a silent server is not a loss before the ping timeout"
    );
    let (code, err) = finish(holder, Duration::from_secs(40));
    let took = t.elapsed();
    fx.resume();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("did not answer"), "{err}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "{took:?}"
    );
    assert!(!alive(child), "COMMAND outlived the loss");
}

/// Exit code and stderr of a child, within `limit`.
pub fn finish(mut c: Child, limit: Duration) -> (i32, String) {
    let end = Instant::now() + limit;
    while c.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = c.kill();
            let out = c.wait_with_output().unwrap();
            panic!(
                "toozctl did not end within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tooz_interop_both_ways() {
    interop_both_ways(Kind::Mysql);
}

#[test]
fn a_killed_holders_session_frees_its_lock() {
    killed_holders_session_frees_the_lock(Kind::Mysql);
}

#[test]
fn unlock_kills_the_holding_connection_and_the_holder_exits_3() {
    unlock_ends_the_holders_session(Kind::Mysql);
}

#[test]
fn a_server_restart_while_holding_exits_3_with_the_tree_stopped() {
    restart_while_holding_is_a_loss(Kind::Mysql);
}

#[test]
fn a_silent_server_is_a_loss_only_after_the_ping_timeout() {
    a_silent_server_is_a_loss_after_the_ping_timeout(Kind::Mysql);
}

/// MySQL limits user-level lock names to 64 characters: a longer one is bad input (exit
/// 2) naming the limit, before anything is taken; 64 is fine.
#[test]
fn names_over_64_characters_are_refused_naming_the_limit() {
    let fx = Fx::shared(Kind::Mysql, "long");
    let long = "n".repeat(65);
    let (code, _, err) = run(fx.cmd(&["lock", &long, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("64 characters"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let ok = format!("{}{}", fx.ns, "x".repeat(64 - fx.ns.len()));
    assert_eq!(ok.chars().count(), 64);
    let (code, _, err) = run(fx.cmd(&["lock", &ok, "--", "true"]));
    assert_eq!(code, 0, "{err}");
}

/// `locks` lists a held lock with its holder and fencing token, from IS_USED_LOCK and the
/// holder table; a lock only tooz holds is listed when the server lists user locks.
#[test]
fn locks_lists_the_holder_and_its_token() {
    let fx = Fx::shared(Kind::Mysql, "list");
    let name = fx.name("l");
    let h = fx.hold(&["-m", "lister", "-o", "json", "lock", &name]);
    let (code, out, err) = run(fx.cmd(&["-o", "json", "locks"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not listed: {out}"));
    assert_eq!(row["holder"]["member_id"], "lister", "{out}");
    assert!(row["fencing_token"].as_u64().is_some(), "{out}");
    h.stop();
}
