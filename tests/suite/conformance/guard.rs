//! The guard process, on every backend: COMMAND's tree dies even when toozctl cannot kill
//! it — toozctl frozen past its lease (SIGSTOP), or killed alone with SIGKILL — so no other
//! holder ever runs beside it; and no guard process outlives toozctl, whatever the ending.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::helpers::pid_in;
use crate::support::fixture::{Fx, Kind};
use crate::support::{alive, signal, wait_until};

crate::on_every_backend!(
    a_frozen_toozctl_does_not_let_command_overlap_the_next_holder,
    killing_toozctl_alone_kills_its_command_tree,
    killing_toozctls_whole_job_kills_its_command_tree,
    no_guard_outlives_a_normal_exit_a_loss_or_a_cancelled_wait
);

/// The guard's name in `/proc/PID/comm` (a fork of toozctl; its command line is toozctl's).
const NAME: &str = "toozctl-guard";

/// The guard toozctl `pid` started (its child named as the guard), once it shows.
fn guard_of(pid: u32) -> Option<u32> {
    let mut found = None;
    wait_until(Duration::from_secs(10), || {
        found = children(pid).into_iter().find(|&c| {
            std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == NAME)
        });
        found.is_some()
    });
    found
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

fn ns_in(path: &Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `lock [--ttl 3s] ARGS...`: the short lease where the backend takes one per lock
/// (ZooKeeper's session here is 4 s).
fn lock_args<'a>(kind: Kind, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["lock"];
    if matches!(kind, Kind::Redis | Kind::Etcd | Kind::Memcached) {
        v.extend(["--ttl", "3s"]);
    }
    v.extend(args);
    v
}

fn spawn(fx: &Fx, args: &[&str]) -> Child {
    fx.cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn toozctl")
}

/// Wait with a generous bound: (exit code, stderr).
fn finish(c: Child) -> (i32, String) {
    let pid = c.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        signal(pid, libc::SIGKILL);
    });
    let out = c.wait_with_output().unwrap();
    drop(killer);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills the processes whose pids the files name when the test ends, pass or fail.
struct Reaper(Vec<std::path::PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for f in &self.0 {
            if let Some(pid) = std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                if alive(pid) {
                    signal(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// toozctl SIGSTOPped (alone: COMMAND keeps running) past its lease. Before the lease ends
/// the guard must have killed COMMAND, so the next holder never runs beside it; once
/// continued, toozctl exits 3 and says why.
fn a_frozen_toozctl_does_not_let_command_overlap_the_next_holder(kind: Kind) {
    if !kind.has_lease() {
        return; // no lease to run out: a stopped toozctl keeps the file lock held
    }
    let fx = Fx::shared(kind, "frozen");
    let name = fx.name("f");
    let dir = fx.home.path();
    let (log, started, pidf) = (dir.join("log"), dir.join("started"), dir.join("pid"));
    let _reaper = Reaper(vec![pidf.clone()]);
    let script = format!(
        "exec >/dev/null 2>&1; echo $$ > {p}; while :; do date +%s%N >> {l}; sleep .05; done",
        p = pidf.display(),
        l = log.display()
    );
    let first = spawn(
        &fx,
        &lock_args(
            kind,
            &["--kill-after", "1s", &name, "--", "sh", "-c", &script],
        ),
    );
    assert!(wait_until(Duration::from_secs(20), || size(&log) > 0));
    let guard = guard_of(first.id());
    signal(first.id(), libc::SIGSTOP);
    let second = format!("date +%s%N > {}", started.display());
    let (code, _, err) =
        super::helpers::run(fx.cmd(&["lock", "-w", "20", &name, "--", "sh", "-c", &second]));
    assert_eq!(code, 0, "the second contender: {err}");
    let began = *ns_in(&started).first().expect("the second COMMAND ran");
    let n = size(&log);
    std::thread::sleep(Duration::from_millis(300));
    let still = size(&log) != n;
    // Read after a pause, so a write just after the second COMMAND's start is seen.
    let last = *ns_in(&log).last().unwrap();
    signal(first.id(), libc::SIGCONT);
    let (code, err) = finish(first);
    assert!(
        last < began,
        "the frozen holder's COMMAND wrote {:?} after the next holder started",
        Duration::from_nanos((last - began) as u64)
    );
    assert!(!still, "COMMAND still writes while toozctl is stopped");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("lost") || err.contains("ran out"), "{err}");
    let guard = guard.expect("toozctl started a guard");
    assert!(
        wait_until(Duration::from_secs(2), || !alive(guard)),
        "the guard outlived toozctl"
    );
}

/// toozctl killed alone (SIGKILL): its guard kills COMMAND's tree, a `setsid` descendant
/// included, at once; a contender that starts right then never runs beside it (on the file
/// backend the lock stays held until the tree is dead); and the guard then exits.
fn killing_toozctl_alone_kills_its_command_tree(kind: Kind) {
    kill9(kind, false);
}

/// As above with SIGKILL to toozctl's whole process group (`kill -9 %1` in a shell): the
/// guard, in a group of its own, survives it and kills the tree.
fn killing_toozctls_whole_job_kills_its_command_tree(kind: Kind) {
    kill9(kind, true);
}

fn kill9(kind: Kind, job: bool) {
    let fx = Fx::shared(kind, "kill9");
    let name = fx.name("k");
    let dir = fx.home.path();
    let (log, slog, started) = (dir.join("log"), dir.join("slog"), dir.join("started"));
    let (pidf, spidf) = (dir.join("pid"), dir.join("spid"));
    let _reaper = Reaper(vec![pidf.clone(), spidf.clone()]);
    let script = format!(
        "exec >/dev/null 2>&1; \
         setsid sh -c 'echo $$ > {sp}; while :; do date +%s%N >> {sl}; sleep .05; done' & \
         echo $$ > {p}; while :; do date +%s%N >> {l}; sleep .05; done",
        sp = spidf.display(),
        sl = slog.display(),
        p = pidf.display(),
        l = log.display()
    );
    let first = {
        use std::os::unix::process::CommandExt;
        let args = lock_args(
            kind,
            &["--kill-after", "1s", &name, "--", "sh", "-c", &script],
        );
        let mut c = fx.cmd(&args);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        if job {
            c.process_group(0);
        }
        c.spawn().expect("spawn toozctl")
    };
    assert!(wait_until(Duration::from_secs(20), || size(&log) > 0
        && size(&slog) > 0));
    let (pid, spid) = (pid_in(&pidf), pid_in(&spidf));
    let guard = guard_of(first.id());
    if job {
        // SAFETY: killpg(2) of the group toozctl leads (it was spawned as its leader).
        unsafe { libc::killpg(first.id() as i32, libc::SIGKILL) };
    } else {
        signal(first.id(), libc::SIGKILL);
    }
    let killed = Instant::now();
    let second = format!("date +%s%N > {}", started.display());
    let contender = spawn(&fx, &["lock", "-w", "20", &name, "--", "sh", "-c", &second]);
    let (_, _) = finish(first);
    assert!(
        wait_until(Duration::from_secs(3), || !alive(pid) && !alive(spid)),
        "COMMAND's tree outlived the killed toozctl: COMMAND {} setsid worker {}",
        alive(pid),
        alive(spid)
    );
    let took = killed.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "the tree died {took:?} after toozctl"
    );
    let (code, err) = finish(contender);
    assert_eq!(code, 0, "the contender: {err}");
    let began = *ns_in(&started).first().expect("the contender ran");
    let last = ns_in(&log).into_iter().chain(ns_in(&slog)).max().unwrap();
    assert!(
        last < began,
        "the killed holder's tree wrote {:?} after the next holder started",
        Duration::from_nanos((last - began) as u64)
    );
    let guard = guard.expect("toozctl started a guard");
    assert!(
        wait_until(Duration::from_secs(2), || !alive(guard)),
        "the guard did not exit"
    );
}

/// No guard is left once toozctl has exited: after a normal exit, after a loss (exit 3),
/// and a toozctl interrupted while waiting never started one.
fn no_guard_outlives_a_normal_exit_a_loss_or_a_cancelled_wait(kind: Kind) {
    let fx = Fx::shared(kind, "noleak");
    let name = fx.name("n");
    let up = fx.home.path().join("up");
    let script = format!("touch {}; sleep 1", up.display());
    // A normal exit.
    let c = spawn(&fx, &lock_args(kind, &[&name, "--", "sh", "-c", &script]));
    let guard = guard_of(c.id()).expect("toozctl started a guard");
    let (code, err) = finish(c);
    assert_eq!(code, 0, "{err}");
    assert!(gone_soon(guard), "the guard outlived a normal exit");
    // A loss.
    std::fs::remove_file(&up).ok();
    let script = format!("touch {}; exec sleep 30", up.display());
    let c = spawn(
        &fx,
        &lock_args(
            kind,
            &["--kill-after", "1s", &name, "--", "sh", "-c", &script],
        ),
    );
    assert!(wait_until(Duration::from_secs(20), || up.exists()));
    let guard = guard_of(c.id()).expect("toozctl started a guard");
    fx.delete_lock(&name);
    let (code, err) = finish(c);
    assert_eq!(code, 3, "{err}");
    assert!(gone_soon(guard), "the guard outlived a loss");
    // SIGINT while waiting: nothing was started, so no guard either.
    let holder = spawn(&fx, &lock_args(kind, &[&name, "--", "sleep", "30"]));
    let held_guard = guard_of(holder.id()).expect("the holder started a guard");
    let waiter = spawn(&fx, &["lock", "-w", "30", &name, "--", "true"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(children(waiter.id()).is_empty(), "a waiter has children");
    signal(waiter.id(), libc::SIGINT);
    let (code, err) = finish(waiter);
    assert_eq!(code, 130, "{err}");
    signal(holder.id(), libc::SIGTERM);
    let (code, err) = finish(holder);
    assert_eq!(code, 143, "{err}");
    assert!(
        gone_soon(held_guard),
        "the guard outlived a SIGTERMed holder"
    );
}

/// A guard toozctl dismissed with SIGKILL is not waited for (`Guard::leave`): it can run
/// nothing more once the signal is sent, but on a loaded machine the kernel may need a
/// moment after toozctl's exit to finish it.
fn gone_soon(guard: u32) -> bool {
    wait_until(Duration::from_millis(500), || !alive(guard))
}
