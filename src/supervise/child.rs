//! One running COMMAND and everything it starts: spawning it in its own process group (and
//! cgroup, where one can be made), forwarding signals to the group, job control, and
//! stopping the whole tree with **one deadline** ([`Child::stop`]).

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, getpid, setpgid, Pid};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use super::cgroup::{self, Cgroup};
use super::guard::{self, Guard};
use super::procs::{self, Scope};
use super::spawn;
use super::tty;

/// How often a stop in progress looks whether the tree is gone or SIGKILL is due.
const POLL: Duration = Duration::from_millis(50);
/// How long processes may take to vanish after SIGKILL before we stop waiting for them.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// The COMMANDs running in this process (one, except in unit tests): root pid -> the pids
/// seen in its tree, so an orphan re-parented to us is claimed by the tree it came from.
static CLAIMS: Mutex<BTreeMap<i32, HashSet<i32>>> = Mutex::new(BTreeMap::new());

fn claims() -> std::sync::MutexGuard<'static, BTreeMap<i32, HashSet<i32>>> {
    CLAIMS.lock().unwrap_or_else(|e| e.into_inner())
}

/// What [`Child::wait_exit`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// COMMAND itself exited (its tree may live on: see [`Child::wait_gone`]).
    Exited(ExitStatus),
    /// COMMAND was stopped by this job-control signal from its terminal (Ctrl-Z).
    Suspended(Signal),
}

/// A stop in progress: the signal it began with and when everything gets SIGKILL.
#[derive(Debug, Clone, Copy)]
struct Stop {
    sig: Signal,
    /// The end of the grace: set by the first call, only ever brought forward.
    kill_at: Instant,
    /// An outside limit (the lease's safe deadline), which moves as the lease is renewed.
    cap: Option<Instant>,
    killed: Option<Instant>,
}

impl Stop {
    /// When SIGKILL is due.
    fn due(&self) -> Instant {
        self.cap.map_or(self.kill_at, |c| c.min(self.kill_at))
    }
}

/// COMMAND's process, as it was started.
enum Process {
    /// By `std::process::Command` (reaped by tokio).
    Std(tokio::process::Child),
    /// By `spawn::spawn_into`: reaped by us once its pidfd turns readable.
    Pidfd {
        pid: i32,
        fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    },
}

impl Process {
    fn id(&self) -> i32 {
        match self {
            Process::Std(c) => c.id().unwrap_or(0) as i32,
            Process::Pidfd { pid, .. } => *pid,
        }
    }

    /// Its exit status, once it exited (cancel-safe).
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Process::Std(c) => c.wait().await,
            Process::Pidfd { pid, fd } => loop {
                let mut ready = fd.readable().await?;
                let mut status = 0;
                // SAFETY: waitpid(2) of our own child, which only we reap (it is claimed).
                let r = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
                if r == *pid {
                    return Ok(ExitStatus::from_raw(status));
                }
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
                ready.clear_ready();
            },
        }
    }
}

/// A running COMMAND.
pub struct Child {
    child: Process,
    pgid: Pid,
    tty: Option<i32>,
    status: Option<ExitStatus>,
    cgroup: Option<Cgroup>,
    /// Every process seen in the tree (pid, start time): they stay in it when re-parented.
    known: HashSet<(i32, u64)>,
    /// Processes that got the stop signal already (each gets it once).
    signalled: HashSet<(i32, u64)>,
    /// COMMAND was reaped and its tree found empty once: it stays empty (see `members`).
    gone: bool,
    stop: Option<Stop>,
    sigchld: Option<tokio::signal::unix::Signal>,
    /// The guard process, or why there is none.
    guard: Result<Guard, String>,
    /// The outcome of COMMAND's exec, not read yet (see `Child::spawn`).
    exec: Option<spawn::Exec>,
}

/// Why COMMAND could not start: exit 127 (not found) or 126 (not executable), as shells do.
#[derive(Debug)]
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

impl Child {
    /// Spawn `command` with `env` added, in its own process group and, where toozctl can
    /// create one, its own cgroup; then start its guard (see `guard.rs`), which inherits
    /// the descriptors `keep` so that what they hold stays held until the tree is dead.
    pub fn spawn(
        command: &[OsString],
        env: &[(String, String)],
        keep: &[std::os::fd::RawFd],
    ) -> Result<Child, SpawnError> {
        let mut child = Child::spawn_in(command, env, Cgroup::create_or_prepared())?;
        // Not in unit tests: the guard is a fork (see `guard.rs`), safe only in toozctl,
        // whose other threads are parked then; the test harness runs other tests meanwhile.
        // Started before COMMAND's exec's outcome is read (and where COMMAND is forked
        // rather than cloned sharing our memory, while the kernel still executes it): the
        // guard's fork does not wait for COMMAND's start, nor COMMAND's end for the
        // guard's fork.
        if cfg!(not(test)) {
            let start = procs::stat(child.pgid.as_raw()).map_or(0, |p| p.start);
            let cg = child.cgroup.as_ref().map(|c| c.path().to_path_buf());
            child.guard = Guard::spawn(child.pgid.as_raw(), start, cg.as_deref(), keep)
                .map_err(|e| format!("cannot start the guard process: {e}"));
        }
        if let Some(exec) = child.exec.take() {
            if let Err(e) = exec.wait() {
                // Nothing of COMMAND's runs: its guard goes before the error is told.
                child.reap_guard();
                return Err(spawn_error(&command[0], e));
            }
        }
        Ok(child)
    }

    /// As [`Child::spawn`], but contained by the `/proc` walk alone (tests of the fallback).
    #[cfg(test)]
    pub fn spawn_without_cgroup(
        command: &[OsString],
        env: &[(String, String)],
    ) -> Result<Child, SpawnError> {
        Child::spawn_in(command, env, None)
    }

    fn spawn_in(
        command: &[OsString],
        env: &[(String, String)],
        cgroup: Option<Cgroup>,
    ) -> Result<Child, SpawnError> {
        let (program, args) = command.split_first().ok_or(SpawnError {
            code: 2,
            message: "no command given".into(),
        })?;
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let tty = tty::foreground_tty();
        // Listening before the spawn, so a stop right after it is not missed.
        let sigchld = signal(SignalKind::child()).ok();
        // Claimed before any other COMMAND's look at /proc can take it for an orphan.
        let mut claimed = claims();
        // Born inside its cgroup where the kernel allows it (see `spawn.rs`); else moved
        // into it between fork and exec.
        let direct = match &cgroup {
            Some(cg) => match spawn::spawn_into(command, env, cg.dir_fd(), tty) {
                Ok(s) => Some(s),
                Err(spawn::Failed::Exec(e)) => return Err(spawn_error(program, e)),
                Err(spawn::Failed::Unsupported) => None,
            },
            None => None,
        };
        let mut exec = None;
        let child = match direct {
            Some(spawn::Spawned {
                pid,
                pidfd,
                exec: pending,
            }) => {
                exec = Some(pending);
                Process::Pidfd {
                    pid,
                    // SAFETY: an OwnedFd keeps its one descriptor open until dropped.
                    fd: unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            pidfd,
                            tokio::io::Interest::READABLE,
                        )
                    }
                    .map_err(|e| SpawnError {
                        code: 126,
                        message: format!("cannot watch COMMAND's process: {e}"),
                    })?,
                }
            }
            None => Process::Std(Self::spawn_std(program, args, env, cgroup.as_ref(), tty)?),
        };
        let pid = Pid::from_raw(child.id());
        // The parent sets the group too; EACCES after the child's exec is fine.
        let _ = setpgid(pid, pid);
        if let Some(fd) = tty {
            tty::give(fd, pid);
        }
        claimed.insert(pid.as_raw(), [pid.as_raw()].into());
        drop(claimed);
        // Say "cgroup" only when COMMAND really entered it (it may already have exited).
        let cgroup = cgroup.filter(|c| c.pids().contains(&pid.as_raw()) || !running(pid));
        Ok(Child {
            child,
            pgid: pid,
            tty,
            status: None,
            cgroup,
            known: HashSet::new(),
            signalled: HashSet::new(),
            gone: false,
            stop: None,
            sigchld,
            guard: Err("no guard in unit tests".into()),
            exec,
        })
    }

    /// `std::process::Command`: posix_spawn, or fork when the child must enter its cgroup
    /// or take the terminal first.
    fn spawn_std(
        program: &OsString,
        args: &[OsString],
        env: &[(String, String)],
        cgroup: Option<&Cgroup>,
        tty: Option<i32>,
    ) -> Result<tokio::process::Child, SpawnError> {
        let mut cmd = std::process::Command::new(program);
        cmd.args(args);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Its own process group. std uses posix_spawn (no fork of our address space)
        // unless a pre_exec closure is needed: to enter the cgroup or take the terminal.
        cmd.process_group(0);
        let cg_fd = cgroup.map(|c| c.procs_fd());
        if tty.is_some() || cg_fd.is_some() {
            // SAFETY: only async-signal-safe calls (write, sigprocmask, tcsetpgrp) run
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if let Some(fd) = cg_fd {
                        // Failing is not fatal: the /proc walk still finds the tree.
                        let _ = cgroup::enter(fd);
                    }
                    if let Some(fd) = tty {
                        tty::take_in_child(fd);
                    }
                    Ok(())
                });
            }
        }
        tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| spawn_error(program, e))
    }

    pub fn pid(&self) -> u32 {
        self.pgid.as_raw() as u32
    }

    /// The guard's pid, or why there is none; `None` while its fork is still under way
    /// (see `Guard::spawn`: toozctl does not wait for it).
    pub fn guard_started(&mut self) -> Option<Result<i32, String>> {
        match &mut self.guard {
            Ok(g) => g.started(),
            Err(why) => Some(Err(why.clone())),
        }
    }

    /// Everything of the tree must be dead by `at` (CLOCK_BOOTTIME), or never: passed on to
    /// the guard, which kills the tree then if toozctl has not (frozen, starved).
    pub fn guard_deadline(&mut self, at: Option<Duration>) {
        if let Ok(g) = &mut self.guard {
            g.deadline(at);
        }
    }

    /// The tree is gone: let the guard go (it exits, giving up what it inherited), without
    /// waiting for it: [`Child::reap_guard`] does, and dropping the `Child` too. Dropping a
    /// `Child` that was not dismissed closes the guard's pipe, and the guard kills the tree.
    pub fn dismiss_guard(&mut self) {
        if let Ok(g) = &mut self.guard {
            g.dismiss();
        }
    }

    /// Dismiss the guard if not done yet and wait until it has exited.
    pub fn reap_guard(&mut self) {
        if let Ok(g) = std::mem::replace(&mut self.guard, Err("dismissed".into())) {
            g.reap();
        }
    }

    /// The primitives were given back: dismiss the guard if not done yet, without waiting
    /// for one that was SIGKILLed ([`Guard::leave`]); toozctl is about to exit.
    pub fn leave_guard(&mut self) {
        if let Ok(g) = std::mem::replace(&mut self.guard, Err("dismissed".into())) {
            g.leave();
        }
    }

    /// How the tree is found, for `-v`.
    pub fn containment(&self) -> String {
        match &self.cgroup {
            Some(cg) => format!("its own cgroup {} (cgroup.kill)", cg.path().display()),
            None => "its process group and a walk of /proc (no cgroup could be created)".into(),
        }
    }

    /// Send `sig` to COMMAND's process group (forwarded signals go there, as a terminal's do).
    pub fn signal_group(&self, sig: Signal) {
        let _ = killpg(self.pgid, sig);
    }

    /// Stop the whole tree: `sig` now to every process of it not signalled before, and
    /// SIGKILL to all at `kill_at`. A later call can only bring the SIGKILL forward, never
    /// push it back: one deadline per stop. Processes forked after the call (a TERM
    /// handler's own commands, say) are left to their parent until a later call or the
    /// SIGKILL: a graceful shutdown is not cut short by us.
    pub fn stop(&mut self, sig: Signal, kill_at: Instant) {
        let kill_at = match sig {
            Signal::SIGKILL => kill_at.min(Instant::now()),
            _ => kill_at,
        };
        let stop = match self.stop {
            Some(s) => Stop {
                kill_at: s.kill_at.min(kill_at),
                ..s
            },
            None => Stop {
                sig,
                kill_at,
                cap: None,
                killed: None,
            },
        };
        self.stop = Some(stop);
        if Instant::now() >= stop.due() {
            self.kill_tree();
        } else {
            self.signal_newcomers(stop.sig);
        }
    }

    /// Limit the SIGKILL of a stop in progress to `at` at the latest, replacing the limit
    /// given before (a renewed lease moves its safe deadline later; the grace still ends
    /// where it ends). Sends no new signal, except SIGKILL when `at` has passed.
    pub fn kill_by(&mut self, at: Instant) {
        if let Some(s) = &mut self.stop {
            s.cap = Some(at);
            self.poll();
        }
    }

    /// Whether a stop has begun.
    pub fn stopping(&self) -> bool {
        self.stop.is_some()
    }

    /// Wait until COMMAND exits or is suspended from its terminal, carrying out a stop in
    /// progress meanwhile (cancel-safe: use it in `select!`).
    pub async fn wait_exit(&mut self) -> Event {
        loop {
            if let Some(s) = self.status {
                return Event::Exited(s);
            }
            let next = self.next_poll();
            tokio::select! {
                r = self.child.wait() => {
                    self.status = Some(r.unwrap_or_else(|_| ExitStatus::from_raw(70 << 8)));
                }
                _ = sigchld(&mut self.sigchld) => {
                    reap_orphans();
                    if let Some(sig) = self.suspended_by() {
                        return Event::Suspended(sig);
                    }
                }
                _ = sleep_until(next.unwrap_or_else(far_future)), if next.is_some() => self.poll(),
            }
        }
    }

    /// After COMMAND exited: whether processes of its tree are still alive.
    pub fn has_leftovers(&mut self) -> bool {
        !self.members().is_empty()
    }

    /// Wait until no process of the tree is left, carrying out the stop in progress
    /// (cancel-safe). `false` when some still showed [`AFTER_KILL`] after SIGKILL (a process
    /// stuck in the kernel); it can no longer run any code of its own.
    pub async fn wait_gone(&mut self) -> bool {
        loop {
            if self.members().is_empty() {
                return true;
            }
            if let Some(Stop {
                killed: Some(at), ..
            }) = self.stop
            {
                if at.elapsed() >= AFTER_KILL {
                    return false;
                }
            }
            let next = self.next_poll().unwrap_or_else(|| Instant::now() + POLL);
            sleep_until(next.min(Instant::now() + POLL)).await;
            self.poll();
        }
    }

    /// COMMAND was suspended (Ctrl-Z): take the terminal back and stop our own process
    /// group with the same signal, so the shell sees the job stopped. Returns once we are
    /// continued (`fg`, `bg`, SIGCONT); COMMAND stays stopped until [`Child::resume`].
    pub fn suspend_like(&mut self, sig: Signal) {
        if let Some(fd) = self.tty {
            tty::give(fd, getpgrp());
            // Default disposition: the kernel stops us here (unless our group is orphaned,
            // where job-control stops are discarded and we return at once). SIGTSTP for a
            // SIGSTOP: the guard, in our group, ignores job-control stops but could not
            // ignore SIGSTOP, and must keep its watch while we are stopped.
            let sig = if sig == Signal::SIGSTOP {
                Signal::SIGTSTP
            } else {
                sig
            };
            let _ = killpg(getpgrp(), sig);
        }
    }

    /// After we were continued: give the terminal back to COMMAND's group if we have it
    /// (`fg`; not after `bg`) and continue COMMAND's group.
    pub fn resume(&mut self) {
        if let Some(fd) = self.tty {
            if tty::foreground_of(fd) == Some(getpgrp()) {
                tty::give(fd, self.pgid);
            }
        }
        self.signal_group(Signal::SIGCONT);
    }

    /// Give the terminal back (COMMAND and its tree are gone).
    pub fn finish(&mut self) {
        if let Some(fd) = self.tty.take() {
            tty::give(fd, getpgrp());
        }
    }

    /// When the stop in progress next needs attention.
    fn next_poll(&self) -> Option<Instant> {
        let s = self.stop?;
        let soon = Instant::now() + POLL;
        Some(match s.killed {
            Some(_) => soon,
            None => s.due().min(soon),
        })
    }

    /// Carry the stop forward: SIGKILL once due, and again to anything still found.
    fn poll(&mut self) {
        let Some(s) = self.stop else { return };
        if s.killed.is_some() || Instant::now() >= s.due() {
            self.kill_tree();
        }
    }

    fn signal_newcomers(&mut self, sig: Signal) {
        // The process group first, in one kill(2): every member has the signal pending
        // before any of them can act on it. Signalled one by one, a shell waiting for its
        // child could see that child die of the signal and exit normally before its own
        // signal arrived, its TERM trap never run (seen on a loaded machine: `trap ... TERM;
        // sleep 60 & wait` ended without its trap). Then the ones that left the group.
        let first = self.signalled.is_empty() && killpg(self.pgid, sig).is_ok();
        for id in self.members() {
            if self.signalled.insert(id) {
                let in_group =
                    first && nix::unistd::getpgid(Some(Pid::from_raw(id.0))) == Ok(self.pgid);
                if !in_group {
                    let _ = kill(Pid::from_raw(id.0), sig);
                }
            }
        }
    }

    fn kill_tree(&mut self) {
        if let Some(cg) = &self.cgroup {
            cg.kill();
        }
        // A few rounds: a process may have forked between our look and its SIGKILL.
        for _ in 0..3 {
            let members = self.members();
            if members.is_empty() {
                break;
            }
            for (pid, _) in members {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if let Some(s) = &mut self.stop {
            s.killed.get_or_insert_with(Instant::now);
        }
    }

    /// The live processes of the tree (pid, start time); reaps orphans that died.
    ///
    /// Once COMMAND has been reaped and the tree was found empty, it is not looked at again:
    /// nothing can join an empty tree (no process of it is left to fork, and COMMAND's
    /// process group no longer exists to be joined), so `has_leftovers` followed by
    /// `wait_gone` reads `/proc` once, not twice.
    fn members(&mut self) -> Vec<(i32, u64)> {
        if self.gone || self.surely_empty() {
            self.gone = true;
            return Vec::new();
        }
        let root = self.pgid.as_raw();
        let me = getpid().as_raw();
        // Held while looking, so a COMMAND being spawned is never taken for an orphan.
        let mut claimed = claims();
        let all = procs::scan();
        let mut others: HashSet<i32> = claimed
            .iter()
            .filter(|(&r, _)| r != root)
            .flat_map(|(_, pids)| pids.iter().copied())
            .collect();
        // Our guards are our children too, but no orphans of COMMAND's.
        for p in &all {
            if p.ppid == me && guard::is_guard(p.pid) {
                others.insert(p.pid);
            }
        }
        let scope = Scope {
            root,
            me,
            known: &self.known,
            others: &others,
        };
        let mut live = Vec::new();
        for p in procs::tree(&all, &scope) {
            if !p.zombie {
                live.push(p.id());
            } else if p.ppid == me && p.pid != root {
                // An orphan re-parented to us: ours to reap (tokio reaps COMMAND itself).
                let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
            }
        }
        if let Some(cg) = &self.cgroup {
            for pid in cg.pids() {
                if let Some(p) = all.iter().find(|p| p.pid == pid && !p.zombie) {
                    if !live.contains(&p.id()) {
                        live.push(p.id());
                    }
                }
            }
        }
        if let Some(mine) = claimed.get_mut(&root) {
            mine.extend(live.iter().map(|id| id.0));
        }
        drop(claimed);
        self.known.extend(live.iter().copied());
        self.gone = live.is_empty() && self.status.is_some();
        live
    }

    /// After COMMAND was reaped: whether its tree is certainly empty, found without reading
    /// all of `/proc` (a few hundred files, a millisecond or more on a busy machine, paid
    /// after every COMMAND). `false` means "look properly", never "not empty".
    ///
    /// Every process of the tree (as `procs::tree` defines it) is then one of:
    /// - a descendant of COMMAND or of an orphan re-parented to us. Walking up its parents
    ///   from it, every process is alive (a dead parent's children are re-parented to the
    ///   nearest subreaper above it, and we are one) until one whose parent is toozctl: so
    ///   toozctl has a child. Orphans are re-parented to the first live thread of the
    ///   subreaper — the thread group leader, which is also the thread that spawned
    ///   COMMAND (checked: we run on it) — while the guard is the child of a thread of its
    ///   own (`guard.rs`). So `waitid(__WNOTHREAD)` on this thread answering ECHILD (no
    ///   child at all, live or zombie) rules all of these out;
    /// - a member of COMMAND's process group: `kill(-pgid, 0)` answers ESRCH when it has
    ///   none (a group id reused by a stranger only makes us look properly);
    /// - a process seen in the tree before: each is looked up by pid and start time;
    /// - a process in COMMAND's cgroup: its `cgroup.procs` is read.
    fn surely_empty(&self) -> bool {
        if self.status.is_none() || nix::unistd::gettid() != getpid() {
            return false;
        }
        // SAFETY: waitid(2) with WNOWAIT|WNOHANG into a siginfo we own: reaps nothing.
        let no_child = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED
                    | libc::WSTOPPED
                    | libc::WNOHANG
                    | libc::WNOWAIT
                    | libc::__WNOTHREAD
                    | libc::__WALL,
            ) == -1
                && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
        };
        if !no_child {
            return false;
        }
        if killpg(self.pgid, None) != Err(nix::errno::Errno::ESRCH) {
            return false;
        }
        let known_alive = self
            .known
            .iter()
            .any(|&(pid, start)| procs::stat(pid).is_some_and(|p| p.start == start && !p.zombie));
        if known_alive {
            return false;
        }
        self.cgroup.as_ref().is_none_or(|cg| cg.pids().is_empty())
    }

    /// The job-control signal that stopped COMMAND, when it stopped and we hold its
    /// terminal (consumes the stop report; never reaps).
    fn suspended_by(&mut self) -> Option<Signal> {
        self.tty?;
        match waitid(
            Id::Pid(self.pgid),
            WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG,
        ) {
            Ok(WaitStatus::Stopped(_, sig))
                if matches!(
                    sig,
                    Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU | Signal::SIGSTOP
                ) =>
            {
                Some(sig)
            }
            _ => None,
        }
    }
}

/// Reap children that died after being re-parented to us (we are a subreaper), so a
/// long-running COMMAND that daemonises often leaves no zombies behind. COMMANDs themselves
/// are tokio's to reap: a root found first ends the round.
fn reap_orphans() {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    while let Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) =
        waitid(Id::All, flags)
    {
        if claims().contains_key(&pid.as_raw()) {
            break;
        }
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        guard::reaped(pid.as_raw());
    }
}

async fn sigchld(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Whether `pid` is alive and not a zombie.
fn running(pid: Pid) -> bool {
    procs::stat(pid.as_raw()).is_some_and(|p| !p.zombie)
}

fn spawn_error(program: &OsString, e: io::Error) -> SpawnError {
    let code = if e.kind() == io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    SpawnError {
        code,
        message: format!("cannot run '{}': {e}", program.to_string_lossy()),
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

impl Drop for Child {
    fn drop(&mut self) {
        self.finish();
        // A dismissed guard is reaped, not left a zombie; one never dismissed is dropped:
        // its pipe closes and it kills the tree (toozctl is giving up on COMMAND).
        if self.guard.as_ref().is_ok_and(Guard::is_dismissed) {
            self.reap_guard();
        }
        let root = self.pgid.as_raw();
        claims().remove(&root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn sh(script: &str) -> Vec<OsString> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|l| procs::parse_stat(&l))
            .is_some_and(|p| !p.zombie)
    }

    async fn read_pid(path: &std::path::Path) -> i32 {
        for _ in 0..500 {
            if let Some(pid) = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pid in {}", path.display());
    }

    /// Stop with SIGTERM and a grace of `grace`; COMMAND exits meanwhile and the leftovers
    /// are stopped the way `hold` does. Returns how long it took from the first SIGTERM.
    async fn stop_all(child: &mut Child, grace: Duration) -> Duration {
        let start = Instant::now();
        child.stop(Signal::SIGTERM, start + grace);
        while let Event::Suspended(_) = child.wait_exit().await {}
        if child.has_leftovers() {
            child.stop(Signal::SIGTERM, Instant::now() + grace);
        }
        assert!(child.wait_gone().await, "the tree survived SIGKILL");
        start.elapsed()
    }

    fn one_deadline(cgroup: bool) {
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let pidf = dir.path().join("leftover");
            // COMMAND takes 600 ms to exit after SIGTERM; what it leaves ignores SIGTERM
            // (both traps are set before the pid file appears).
            let script = format!(
                "trap 'sleep 0.6; exit 0' TERM; \
                 sh -c 'trap \"\" TERM; echo $$ > {}; while :; do sleep 0.05; done' & \
                 while :; do sleep 0.05; done",
                pidf.display()
            );
            let mut child = if cgroup {
                Child::spawn(&sh(&script), &[], &[]).unwrap()
            } else {
                Child::spawn_without_cgroup(&sh(&script), &[]).unwrap()
            };
            let leftover = read_pid(&pidf).await;
            let took = stop_all(&mut child, Duration::from_secs(1)).await;
            assert!(!alive(leftover));
            // A second grace would end at 0.6 s + 1 s.
            assert!(
                took < Duration::from_millis(1400),
                "the leftover got a second grace: {took:?}"
            );
            assert!(took >= Duration::from_millis(950), "KILLed early: {took:?}");
        });
    }

    #[test]
    fn one_deadline_for_the_whole_tree_found_by_walking_proc() {
        let _one = crate::supervise::one_at_a_time();
        one_deadline(false);
    }

    #[test]
    fn one_deadline_for_the_whole_tree_in_a_cgroup_where_one_can_be_made() {
        let _one = crate::supervise::one_at_a_time();
        one_deadline(true);
    }

    #[test]
    fn descendants_that_left_the_group_or_were_orphaned_are_stopped() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            // a: a new session below COMMAND; b: a double fork, orphaned to us at once.
            let script = format!(
                "setsid sh -c 'echo $$ > {a}; exec sleep 30' & \
                 sh -c 'setsid sh -c \"echo \\$\\$ > {b}; exec sleep 30\" &'; sleep 30",
                a = a.display(),
                b = b.display()
            );
            let mut child = Child::spawn_without_cgroup(&sh(&script), &[]).unwrap();
            let (a, b) = (read_pid(&a).await, read_pid(&b).await);
            stop_all(&mut child, Duration::from_secs(2)).await;
            assert!(!alive(a), "the setsid descendant survived");
            assert!(!alive(b), "the orphaned double-fork survived");
        });
    }

    #[test]
    fn what_a_term_handler_starts_is_not_cut_short() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (up, done) = (dir.path().join("up"), dir.path().join("done"));
            let script = format!(
                "trap 'sh -c \"sleep 0.3; touch {done}\"; exit 0' TERM; echo $$ > {up}; \
                 while :; do sleep 0.05; done",
                up = up.display(),
                done = done.display()
            );
            let mut child = Child::spawn(&sh(&script), &[], &[]).unwrap();
            read_pid(&up).await;
            stop_all(&mut child, Duration::from_secs(3)).await;
            assert!(done.exists(), "the handler's own command was stopped");
        });
    }

    #[test]
    fn a_normal_exit_leaves_no_descendant_running() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let a = dir.path().join("a");
            let script = format!(
                "setsid sh -c 'echo $$ > {a}; exec sleep 30' & sleep 0.2; exit 0",
                a = a.display()
            );
            let mut child = Child::spawn_without_cgroup(&sh(&script), &[]).unwrap();
            let a = read_pid(&a).await;
            assert!(matches!(child.wait_exit().await, Event::Exited(s) if s.success()));
            assert!(child.has_leftovers());
            child.stop(Signal::SIGTERM, Instant::now() + Duration::from_secs(2));
            assert!(child.wait_gone().await);
            assert!(!alive(a));
        });
    }
}
