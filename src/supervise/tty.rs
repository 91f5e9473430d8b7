//! The controlling terminal: which one we are in the foreground of, and handing its
//! foreground to a process group (ours or COMMAND's) without being stopped by SIGTTOU.

use std::os::fd::BorrowedFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::{getpgrp, tcgetpgrp, tcsetpgrp, Pid};

/// The terminal whose foreground group we are, if any (stdin, stdout or stderr).
pub fn foreground_tty() -> Option<i32> {
    [0, 1, 2].into_iter().find(|&fd| {
        nix::unistd::isatty(fd).unwrap_or(false) && foreground_of(fd) == Some(getpgrp())
    })
}

/// The foreground group of terminal `fd`.
pub fn foreground_of(fd: i32) -> Option<Pid> {
    // SAFETY: fd is one of 0-2, borrowed only for this call.
    tcgetpgrp(unsafe { BorrowedFd::borrow_raw(fd) }).ok()
}

/// Make `pgid` the foreground group of terminal `fd` (SIGTTOU blocked, so a background
/// caller is not stopped for it).
pub fn give(fd: i32, pgid: Pid) {
    with_sigttou_blocked(|| {
        // SAFETY: fd is one of 0-2, open for our whole life.
        let _ = tcsetpgrp(unsafe { BorrowedFd::borrow_raw(fd) }, pgid);
    })
}

/// Run `f` with SIGTTOU blocked in this thread.
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
    let r = f();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    r
}

/// In the child between fork and exec: take the terminal for its own new group. Only
/// async-signal-safe calls (sigprocmask, tcsetpgrp, getpid).
pub fn take_in_child(fd: i32) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    // SAFETY: fd is one of 0-2, inherited from the parent.
    let _ = tcsetpgrp(unsafe { BorrowedFd::borrow_raw(fd) }, nix::unistd::getpid());
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
}
