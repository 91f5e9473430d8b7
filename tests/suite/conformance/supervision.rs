//! Supervision under a lost primitive, on every backend: the whole process tree of COMMAND
//! is stopped with one deadline (no second grace when COMMAND exits first), including
//! descendants that left its process group, and toozctl exits 3. The loss is a lock deleted
//! behind toozctl's back, which every backend reports.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

crate::on_every_backend!(
    one_deadline_for_the_tree_when_command_exits_after_term,
    descendants_that_left_the_group_are_stopped_on_a_loss,
    a_toozctl_stopped_past_its_lease_says_the_lease_ran_out
);

/// `lock --kill-after 2s NAME -- sh -c SCRIPT`, with a lease long enough to leave the
/// deletion as the only fault.
fn lock(fx: &Fx, name: &str, script: &str) -> Child {
    let mut args = vec!["lock", "--kill-after", "2s"];
    if matches!(fx.kind, Kind::Redis | Kind::Etcd | Kind::Memcached) {
        args.extend(["--ttl", "9s"]);
    }
    args.extend([name, "--", "sh", "-c", script]);
    fx.cmd(&args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn toozctl")
}

/// Wait for toozctl with a generous bound: (exit code, stderr).
fn finish(c: Child) -> (i32, String) {
    let pid = c.id();
    let guard = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        crate::support::signal(pid, libc::SIGKILL);
    });
    let out = c.wait_with_output().unwrap();
    drop(guard);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ns_in(path: &Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills the workers whose pids the files name, when the test ends (a failing run must
/// not leave them writing).
struct Reaper(Vec<std::path::PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for f in &self.0 {
            if let Some(pid) = std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                if crate::support::alive(pid) {
                    crate::support::signal(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Hole 1: COMMAND needs 1.5 s to exit after SIGTERM and leaves a child that ignores it.
/// That child must be KILLed at the first SIGTERM + 2 s, not get a fresh 2 s when COMMAND
/// exits (which would let it write until SIGTERM + 3.5 s).
fn one_deadline_for_the_tree_when_command_exits_after_term(kind: Kind) {
    let fx = Fx::shared(kind, "onedeadline");
    let name = fx.name("d");
    let dir = fx.home.path();
    let (term, left, up) = (dir.join("term"), dir.join("left"), dir.join("up"));
    let script = format!(
        "exec >/dev/null 2>&1; (trap '' TERM; while :; do date +%s%N >> {left}; sleep .1; done) & \
         trap 'date +%s%N > {term}; sleep 1.5; exit 0' TERM; touch {up}; \
         while :; do sleep .1; done",
        left = left.display(),
        term = term.display(),
        up = up.display()
    );
    let c = lock(&fx, &name, &script);
    assert!(wait_until(Duration::from_secs(20), || up.exists() && size(&left) > 0));
    fx.delete_lock(&name);
    let (code, err) = finish(c);
    assert_eq!(code, 3, "{err}");
    let term_at = *ns_in(&term).first().expect("COMMAND got SIGTERM");
    let last = *ns_in(&left).last().unwrap();
    let after = Duration::from_nanos((last.saturating_sub(term_at)) as u64);
    assert!(
        after < Duration::from_millis(2500),
        "the leftover wrote {after:?} after the first SIGTERM (--kill-after 2s): {err}"
    );
    let n = size(&left);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(size(&left), n, "still writing after toozctl exited");
}

/// Hole 2: `setsid`, `timeout(1)` and a daemonising double fork each start a worker outside
/// COMMAND's process group; after the loss none may write once toozctl has exited.
fn descendants_that_left_the_group_are_stopped_on_a_loss(kind: Kind) {
    let fx = Fx::shared(kind, "escapees");
    let name = fx.name("e");
    let dir = fx.home.path();
    let logs = [dir.join("setsid"), dir.join("timeout"), dir.join("daemon")];
    let _reaper = Reaper(logs.iter().map(|l| l.with_extension("pid")).collect());
    // `pid` is how the worker's shell spells `$$` where it is written (escaped inside the
    // double quotes of the daemonising shell).
    let worker = |log: &Path, pid: &str| {
        format!(
            "echo {pid} > {}; while :; do date +%s%N >> {}; sleep .1; done",
            log.with_extension("pid").display(),
            log.display()
        )
    };
    // No worker holds toozctl's output pipes, so a surviving one cannot hang the test.
    let script = format!(
        "exec >/dev/null 2>&1; setsid sh -c '{}' & timeout 30 sh -c '{}' & \
         sh -c \"setsid sh -c '{}' &\"; sleep 30",
        worker(&logs[0], "$$"),
        worker(&logs[1], "$$"),
        worker(&logs[2], "\\$\\$")
    );
    let c = lock(&fx, &name, &script);
    assert!(wait_until(Duration::from_secs(20), || logs
        .iter()
        .all(|l| size(l) > 0)));
    fx.delete_lock(&name);
    let start = Instant::now();
    let (code, err) = finish(c);
    assert_eq!(code, 3, "{err}");
    let sizes: Vec<u64> = logs.iter().map(|l| size(l)).collect();
    std::thread::sleep(Duration::from_millis(600));
    for (log, n) in logs.iter().zip(sizes) {
        assert_eq!(
            size(log),
            n,
            "{} still writes after toozctl exited ({:?} after the loss): {err}",
            log.display(),
            start.elapsed()
        );
    }
}

/// Hole 13: toozctl itself SIGSTOPped longer than its lease. Once continued it must not
/// say the lease "could not be renewed before it would run out": it ran out, and the
/// message says so (and when), then exit 3 with COMMAND stopped.
fn a_toozctl_stopped_past_its_lease_says_the_lease_ran_out(kind: Kind) {
    if !kind.has_lease() {
        return; // the file backend has no lease to run out
    }
    let fx = Fx::shared(kind, "sigstop");
    let name = fx.name("s");
    let up = fx.home.path().join("up");
    let mut args = vec!["lock", "--kill-after", "1s"];
    if matches!(kind, Kind::Redis | Kind::Etcd | Kind::Memcached) {
        args.extend(["--ttl", "3s"]);
    }
    let script = format!("touch {}; exec sleep 60", up.display());
    args.extend([name.as_str(), "--", "sh", "-c", &script]);
    let c = fx.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(20), || up.exists()));
    // Longer than the lease (3 s; ZooKeeper's session here is 4 s).
    crate::support::signal(c.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(5500));
    crate::support::signal(c.id(), libc::SIGCONT);
    let (code, err) = finish(c);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("ran out at"),
        "does not say the lease ran out: {err}"
    );
    assert!(!err.contains("could not be renewed before"), "{err}");
}
