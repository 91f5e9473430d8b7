//! Running COMMAND: spawn it in its own process group, forward signals to that group, stop
//! its whole process tree with one deadline, and turn its end into an exit status. Knows
//! nothing about backends or primitives: `commands::hold` decides *when* to stop, this
//! module *how*.
//!
//! The rules, in the order they happen:
//! 1. Signal handlers are installed ([`Signals::install`]) *before* the child is spawned, so
//!    a signal can never arrive between spawn and forwarding and kill toozctl alone.
//! 2. The child is spawned in its own process group (`posix_spawn`'s SETPGROUP, or
//!    `setpgid` before exec; the parent sets it too, so both orders of the race agree).
//!    When toozctl is in the foreground of a terminal, the child's group is made the
//!    terminal's foreground group by both sides, and the terminal is handed back after the
//!    child exits, so Ctrl-C and interactive programs behave as usual. Forwarded signals go
//!    to that group, as a terminal's would.
//! 3. **The tree** is every descendant of COMMAND, whatever group or session it moved to
//!    (`setsid`, `timeout(1)`, job-control shells, daemonising double forks): where toozctl
//!    can create a cgroup v2 (root with a writable cgroup2 hierarchy, or a delegated
//!    subtree) COMMAND is started inside its own cgroup, so every descendant is born in it
//!    and `cgroup.kill` reaches all at once. Elsewhere toozctl, a child subreaper (orphans
//!    are re-parented to it, not to init), finds the tree by walking `/proc`: descendants
//!    by parent pid, members of COMMAND's group, orphans re-parented to toozctl, and every
//!    process once seen in the tree. `-v` says which is in use. Not covered: processes
//!    started on COMMAND's behalf by someone else (a service manager, `at`, a container
//!    engine, ssh to another host), and, without a cgroup, a descendant that a subreaper
//!    of its own re-parents before toozctl ever saw it.
//! 4. **One deadline per stop** ([`Child::stop`]): the stop signal goes once to every
//!    process of the tree found at that moment (what a TERM handler then starts is left to
//!    it, so a graceful shutdown is not cut short), and at the deadline every process of
//!    the tree gets SIGKILL, the tree being looked at again every 50 ms until it is gone.
//!    The deadline is set by the first call; later calls (COMMAND exited and left
//!    processes behind, the lease's safe deadline came closer) can only bring it forward. A normal exit that leaves processes
//!    behind starts a stop too; the primitive is released only when the tree is gone.
//! 5. **Job control**: when COMMAND is stopped from its terminal (Ctrl-Z), toozctl takes
//!    the terminal back and stops its own process group with the same signal, so the shell
//!    sees the job stopped; once continued it gives the terminal back (after `fg`) and
//!    continues COMMAND's group ([`Child::suspend_like`], [`Child::resume`]).
//! 6. [`exit_code`] maps a wait status to the shell convention: the code, or 128+S.
//! 7. **The guard** ([`guard`]): right after COMMAND (and its cgroup) exists, a process of
//!    its own — a fork of toozctl, without exec — is told COMMAND's tree and a
//!    deadline on CLOCK_BOOTTIME ([`Child::guard_deadline`]: `hold` sends the lease's safe
//!    deadline after every renewal). It SIGKILLs the tree when the deadline passes with no
//!    newer one (toozctl frozen by SIGSTOP, starved of CPU, or suspended by Ctrl-Z past it)
//!    or at once when toozctl dies without dismissing it ([`Child::dismiss_guard`], once
//!    the tree is gone). It inherits the descriptors that keep a primitive held (the file
//!    backend's OFD locks), so that primitive outlives a killed toozctl until the tree is
//!    dead. Not covered: SIGSTOP of both toozctl and the guard (their whole process group,
//!    a frozen cgroup), SIGKILL of the guard, a pause of the whole machine or VM, clock
//!    jumps on the server. The guard is in a process group of its own, so neither signals
//!    to COMMAND's group nor to toozctl's (Ctrl-Z, `kill -9 %1`) reach it; and it ignores
//!    SIGTSTP, which toozctl uses for its own group even when COMMAND got SIGSTOP.

mod cgroup;
mod child;
pub mod guard;
mod procs;
pub mod sd_notify;
mod spawn;
mod tty;

pub use cgroup::Prepared;
pub use child::{Child, Event, SpawnError};

use std::future::poll_fn;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::task::Poll;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// Signals forwarded to COMMAND's group. A signal toozctl handles must be here or be
/// SIGCHLD: COMMAND's side of the spawn puts these back to the default before its exec
/// (`spawn::run_child`).
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Handlers for the forwarded signals, installed once before anything is spawned.
pub struct Signals {
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let mut streams = Vec::with_capacity(FORWARDED.len());
        for sig in FORWARDED {
            streams.push((sig, signal(SignalKind::from_raw(sig as i32))?));
        }
        Ok(Signals { streams })
    }

    /// The next signal received (each delivery once).
    pub async fn recv(&mut self) -> Signal {
        poll_fn(|cx| {
            for (sig, stream) in self.streams.iter_mut() {
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(*sig);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Shell convention: the exit code, or 128+S for a death by signal S.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 128,
    }
}

/// Tests that spawn COMMANDs share one process, a subreaper: they run one at a time, so
/// one test's orphans are never re-parented into another's tree while it looks.
#[cfg(test)]
pub(crate) fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
