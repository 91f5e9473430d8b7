//! Running COMMAND: spawn it in its own process group, forward signals to that group, stop
//! the whole group with a grace period, and turn its end into an exit status. Knows
//! nothing about backends or primitives.
//!
//! The rules, in the order they happen:
//! 1. Signal handlers are installed ([`Signals::install`]) *before* the child is spawned, so
//!    a signal can never arrive between spawn and forwarding and kill toozctl alone.
//! 2. The child is spawned in its own process group (`posix_spawn`'s SETPGROUP, or
//!    `setpgid` before exec; the parent sets it too, so both orders of the race agree). When toozctl is in the foreground of a terminal, the child's group
//!    is made the terminal's foreground group by both sides, and the terminal is handed back
//!    after the child exits, so Ctrl-C and interactive programs behave as usual.
//! 3. toozctl makes itself a child subreaper, so processes COMMAND leaves behind in its
//!    group are reparented to us, and [`Child::finish`] sends them SIGTERM (then SIGKILL after
//!    the grace) before it returns: no orphan goes on working after the primitive is given back.
//! 4. [`exit_code`] maps a wait status to the shell convention: the code, or 128+S.

use std::ffi::OsString;
use std::future::poll_fn;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::ExitStatus;
use std::task::Poll;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, setpgid, tcgetpgrp, tcsetpgrp, Pid};
use tokio::signal::unix::{signal, SignalKind};

/// Signals forwarded to COMMAND's group.
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

/// The terminal whose foreground group we are, if any (stdin, stdout or stderr).
fn foreground_tty() -> Option<i32> {
    let me = getpgrp();
    [0, 1, 2].into_iter().find(|&fd| {
        // SAFETY: fds 0-2 are borrowed only for the duration of this call.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        nix::unistd::isatty(fd).unwrap_or(false) && tcgetpgrp(bfd).map(|g| g == me).unwrap_or(false)
    })
}

/// Run `f` with SIGTTOU blocked in this thread, so a background process may call tcsetpgrp.
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
    let r = f();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    r
}

/// A running COMMAND.
pub struct Child {
    child: tokio::process::Child,
    pgid: Pid,
    tty: Option<i32>,
    status: Option<ExitStatus>,
}

/// Why COMMAND could not start: exit 127 (not found) or 126 (not executable), as shells do.
#[derive(Debug)]
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

impl Child {
    /// Spawn `command` with `env` added, in its own process group.
    pub fn spawn(command: &[OsString], env: &[(String, String)]) -> Result<Child, SpawnError> {
        let (program, args) = command.split_first().ok_or(SpawnError {
            code: 2,
            message: "no command given".into(),
        })?;
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let tty = foreground_tty();
        let mut cmd = std::process::Command::new(program);
        cmd.args(args);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Its own process group. std sets it with posix_spawn (no fork of our address space)
        // unless a pre_exec closure is needed, which is only for taking the terminal.
        cmd.process_group(0);
        if let Some(fd) = tty {
            // SAFETY: only async-signal-safe calls (sigprocmask, tcsetpgrp) run between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let mut set = SigSet::empty();
                    set.add(Signal::SIGTTOU);
                    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
                    let _ = tcsetpgrp(BorrowedFd::borrow_raw(fd), nix::unistd::getpid());
                    let _ =
                        nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
                    Ok(())
                });
            }
        }
        let child = tokio::process::Command::from(cmd).spawn().map_err(|e| {
            let code = if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            SpawnError {
                code,
                message: format!("cannot run '{}': {e}", program.to_string_lossy()),
            }
        })?;
        let pid = Pid::from_raw(child.id().unwrap_or(0) as i32);
        // The parent sets the group too; EACCES after the child's exec is fine.
        let _ = setpgid(pid, pid);
        if let Some(fd) = tty {
            // SAFETY: fd is one of 0-2, open for our whole life.
            let _ = with_sigttou_blocked(|| tcsetpgrp(unsafe { BorrowedFd::borrow_raw(fd) }, pid));
        }
        Ok(Child {
            child,
            pgid: pid,
            tty,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pgid.as_raw() as u32
    }

    /// Send `sig` to COMMAND's whole process group.
    pub fn signal_group(&self, sig: Signal) {
        let _ = killpg(self.pgid, sig);
    }

    /// Wait until COMMAND itself exits (cancel-safe: use it in `select!`).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let status = self
            .child
            .wait()
            .await
            .unwrap_or_else(|_| ExitStatus::from_raw(70 << 8));
        self.status = Some(status);
        status
    }

    /// After COMMAND exited: stop what it left in its group (SIGTERM, then SIGKILL after
    /// `grace`) and give the terminal back.
    pub async fn finish(&mut self, grace: Duration) {
        self.stop_stragglers(grace).await;
        self.restore_tty();
    }

    fn group_alive(&self) -> bool {
        // Reap members reparented to us (we are a subreaper) so zombies do not count.
        loop {
            match waitpid(
                Pid::from_raw(-self.pgid.as_raw()),
                Some(WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        !matches!(killpg(self.pgid, None), Err(Errno::ESRCH))
    }

    async fn stop_stragglers(&self, grace: Duration) {
        if !self.group_alive() {
            return;
        }
        self.signal_group(Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while self.group_alive() {
            if tokio::time::Instant::now() >= deadline {
                self.signal_group(Signal::SIGKILL);
                let end = tokio::time::Instant::now() + Duration::from_secs(1);
                while self.group_alive() && tokio::time::Instant::now() < end {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn restore_tty(&mut self) {
        if let Some(fd) = self.tty.take() {
            // SAFETY: fd is one of 0-2, open for our whole life.
            let _ = with_sigttou_blocked(|| {
                tcsetpgrp(unsafe { BorrowedFd::borrow_raw(fd) }, getpgrp())
            });
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.restore_tty();
    }
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
