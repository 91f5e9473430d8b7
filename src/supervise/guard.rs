//! The guard: a small process of its own that kills COMMAND's tree when toozctl cannot.
//!
//! toozctl is the only thing that stops COMMAND's tree, so a toozctl frozen (SIGSTOP,
//! starved of CPU) past its lease, or killed alone with SIGKILL, would leave COMMAND
//! running without the primitive. Right after COMMAND is spawned, toozctl starts a guard:
//! a `fork` of toozctl without `exec` (named `toozctl-guard` in `/proc/PID/comm`; its
//! command line is toozctl's), made by a thread of its own that then stays parked, so that
//! the guard is not the main thread's child (see `Child::surely_empty`); see
//! [`spawn_guard_process`] for why that fork is safe. Guards were first an `exec` of this
//! whole binary again: about a millisecond per COMMAND (mapping and starting a 10 MB
//! executable and its libraries a second time), which toozctl waited for; a fork only
//! copies page tables and shares every page. The guard is in a process group of its own:
//! neither COMMAND's (a Ctrl-C typed at COMMAND never reaches it) nor toozctl's (a
//! `kill -9 %1` of toozctl's job, or its Ctrl-Z, never reaches it either). It reads nothing
//! from the terminal and ignores the signals toozctl forwards and the job-control stops.
//! It is born knowing COMMAND's group and start time, toozctl's pid and start time and
//! COMMAND's cgroup (its copy of toozctl's memory: no message that a toozctl killed right
//! after the fork could fail to send), and is told over its pipe:
//! - `deadline NANOS` / `deadline none`: everything of COMMAND's must be dead by this
//!   CLOCK_BOOTTIME moment (the lease's safe deadline, sent again after every renewal);
//! - `done`: toozctl saw the tree gone (it may be releasing the primitive meanwhile): exit
//!   quietly.
//!
//! When the deadline passes with no newer one, or the pipe reaches end-of-file without
//! `done` (toozctl died), the guard SIGKILLs the tree — `cgroup.kill` when there is a
//! cgroup, and always the `/proc` walk of `procs.rs` (COMMAND's descendants, its group, and
//! toozctl's other children) — and looks again until nothing is left. It only ever signals
//! processes that started no earlier than COMMAND, through a pidfd whose start time was
//! checked, so a reused pid is never hit. Without a cgroup it also looks at the tree once a
//! second, so orphans re-parented to toozctl stay known after toozctl is gone.
//!
//! Held file descriptors the backend names ([`crate::coordination::Held::keep_alive_fds`])
//! are inherited by the guard: the file backend's lock then stays held until the guard has
//! killed the tree and exited, even when toozctl itself was killed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::procs::{self, Proc, Scope};

/// A guard whose deadline is further away than this cannot have fired: it is dismissed
/// with SIGKILL rather than told `done` (see [`Guard::dismiss`]).
const KILL_MARGIN: Duration = Duration::from_millis(100);

/// Where the inherited file descriptors start in the guard.
const FIRST_KEPT_FD: RawFd = 3;

// ---------------------------------------------------------------- toozctl's side

/// toozctl's end of a running guard.
pub struct Guard {
    /// The guard's pid once its fork is known to have succeeded.
    pid: Option<i32>,
    /// The outcome of the fork, published by the spawning thread (see [`Guard::spawn`]).
    forked: std::sync::Arc<Forked>,
    pipe: Option<File>,
    /// The last deadline sent (`None` before the first).
    sent: Option<Option<u64>>,
    /// How it was dismissed (`None`: not yet).
    dismissed: Option<Dismissal>,
    /// Dropped when the guard is gone: lets the thread whose child it is end.
    _parent: std::sync::mpsc::Sender<()>,
}

/// How a guard was dismissed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dismissal {
    /// SIGKILLed: idle, with its pid known.
    Killed,
    /// Dismissed while idle, its fork still under way: it cannot have fired, so nothing
    /// needs to wait for it. The spawning thread SIGKILLs it as soon as the fork returns
    /// (see [`Forked::publish`]), before it has set itself up; it is told `done` too, in
    /// case toozctl exits first (then it exits as soon as it reads the pipe).
    ToldIdle,
    /// Told `done` near its deadline: it may be finishing a kill and its message.
    ToldNear,
}

/// Where the spawning thread publishes the outcome of the guard's fork.
#[derive(Default)]
struct Forked {
    state: std::sync::Mutex<ForkState>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct ForkState {
    outcome: Option<Result<i32, String>>,
    /// The guard was dismissed while idle before its fork returned: kill it at once.
    dismissed_idle: bool,
}

impl Forked {
    fn state(&self) -> std::sync::MutexGuard<'_, ForkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fork's outcome. A guard dismissed while idle before its fork returned is
    /// SIGKILLed here: it would only spend a core on setting itself up, reading `done` and
    /// exiting, all of it on the way of whoever reads toozctl's stderr to its end (the guard
    /// holds a copy of it), after a COMMAND that ended first (issue 13).
    fn publish(&self, r: Result<i32, String>) {
        let mut st = self.state();
        if let (Ok(pid), true) = (&r, st.dismissed_idle) {
            kill_unreaped(*pid);
        }
        st.outcome = Some(r);
        drop(st);
        self.done.notify_all();
    }

    /// The outcome, waiting for it when `block`.
    fn get(&self, block: bool) -> Option<Result<i32, String>> {
        let mut st = self.state();
        while block && st.outcome.is_none() {
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.outcome.clone()
    }

    /// The outcome if the fork has returned; else `None`, and the guard is to be killed as
    /// soon as it does.
    fn get_or_dismiss_idle(&self) -> Option<Result<i32, String>> {
        let mut st = self.state();
        if st.outcome.is_none() {
            st.dismissed_idle = true;
        }
        st.outcome.clone()
    }
}

/// The processes that are guards (not COMMANDs, not orphans): pid -> still unreaped.
static GUARDS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn guards() -> std::sync::MutexGuard<'static, Vec<i32>> {
    GUARDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILL the guard `pid` if it is still unreaped (so the pid is still that guard's).
fn kill_unreaped(pid: i32) {
    let g = guards();
    if g.contains(&pid) {
        // SAFETY: kill(2) of our own unreaped child; the list's lock (held) keeps the
        // reaper off it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Whether `pid` is a guard of ours (toozctl's own walk of its children must skip it).
pub fn is_guard(pid: i32) -> bool {
    guards().contains(&pid)
}

/// A guard `pid` exited and was reaped by the orphan reaper.
pub fn reaped(pid: i32) {
    guards().retain(|&p| p != pid);
}

impl Guard {
    /// Start a guard for COMMAND (`pgid`, started at `start` clock ticks). `None` when it
    /// cannot be started (the caller says so; COMMAND is then guarded by toozctl alone).
    pub fn spawn(
        pgid: i32,
        start: u64,
        cgroup: Option<&Path>,
        keep: &[RawFd],
    ) -> std::io::Result<Guard> {
        let me = std::process::id() as i32;
        let my_start = procs::stat(me).map_or(0, |p| p.start);
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // Copies of the kept descriptors above any target number, so the dup2s in the child
        // cannot clobber one another; closed (close-on-exec) when dropped.
        let mut high = Vec::with_capacity(keep.len());
        for &fd in keep {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller keeps open.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64) };
            if d < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor owned here.
            high.push(unsafe { File::from_raw_fd(d) });
        }
        // Spawned from a thread of its own that stays parked until the guard is dismissed:
        // the guard is then that thread's child, not the main thread's, so the main thread
        // (which spawned COMMAND, and to which COMMAND's orphans are re-parented) can ask
        // the kernel whether it has any child left with one `waitid(__WNOTHREAD)` instead of
        // reading all of /proc (see `Child::surely_empty`).
        let watch = Watch {
            pgid,
            start,
            parent: me,
            parent_start: my_start,
            cgroup: cgroup.map(|p| p.display().to_string()),
            me: 0,
            known: HashSet::new(),
        };
        let forked = std::sync::Arc::new(Forked::default());
        let publish = forked.clone();
        let (release, parked) = std::sync::mpsc::channel::<()>();
        // The guard runs on (its copy of) this thread's stack: 128 KiB of address space,
        // of which it touches a few pages.
        //
        // The main thread does not wait for the fork (a few hundred microseconds of page
        // table copying, more on a busy machine, during which COMMAND may well have exited
        // unreaped): it goes on supervising COMMAND, and waits for the outcome only where
        // it needs the pid (dismissing the guard). Its walk of /proc must never take the
        // guard for an orphan of COMMAND's: the spawning thread holds the list of guards
        // locked from before the fork until the pid is in it, and that walk asks the list.
        let spawner = std::thread::Builder::new()
            .name("toozctl-guard-parent".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut g = guards();
                let r = spawn_guard_process(read, high, watch);
                if let Ok(pid) = r {
                    g.push(pid);
                }
                drop(g);
                let ok = r.is_ok();
                publish.publish(r.map_err(|e| format!("cannot start the guard process: {e}")));
                if ok {
                    // Until dismissed (or the Guard is dropped): a sender that goes away
                    // wakes us too.
                    let _ = parked.recv();
                }
            })?;
        drop(spawner);
        Ok(Guard {
            pid: None,
            forked,
            pipe: Some(write),
            sent: None,
            dismissed: None,
            _parent: release,
        })
    }

    /// The guard's pid, waiting for its fork when it is still under way; why there is
    /// none when the fork failed.
    pub fn pid(&mut self) -> Result<i32, String> {
        self.outcome(true).expect("waited for")
    }

    /// The guard's pid or why there is none, or `None` while its fork is under way.
    pub fn started(&mut self) -> Option<Result<i32, String>> {
        self.outcome(false)
    }

    fn outcome(&mut self, block: bool) -> Option<Result<i32, String>> {
        if let Some(pid) = self.pid {
            return Some(Ok(pid));
        }
        let r = self.forked.get(block)?;
        self.pid = r.as_ref().ok().copied();
        Some(r)
    }

    /// Everything of COMMAND's must be dead by `at` (CLOCK_BOOTTIME), or never (`None`).
    /// Sent only when it changed.
    pub fn deadline(&mut self, at: Option<Duration>) {
        let ns = at.map(|d| d.as_nanos() as u64);
        if self.sent == Some(ns) {
            return;
        }
        self.sent = Some(ns);
        match ns {
            Some(ns) => self.send(&format!("deadline {ns}\n")),
            None => self.send("deadline none\n"),
        }
    }

    /// The tree is gone: end the guard, without waiting for it ([`Guard::reap`] does).
    ///
    /// The guard acts only when its deadline passes or its pipe reaches end-of-file; until
    /// then it has done nothing and prints nothing. So while no deadline was sent, or the
    /// one sent is more than [`KILL_MARGIN`] away, it is SIGKILLed — it may not even have
    /// been scheduled yet, which `done` would have to wait for — or, when its fork is still
    /// under way, SIGKILLed by the spawning thread the moment the fork returns, without
    /// toozctl waiting for that (a short COMMAND often ends before it is over), and told
    /// `done` as well. Nearer the deadline it is told `done`, so a guard that has just
    /// fired finishes its kill and its message.
    ///
    /// Split from the reaping so that toozctl can give the primitive back in between: the
    /// guard's copies of the held descriptors do not keep anything held then, since every
    /// backend that names such descriptors unlocks explicitly on release (an OFD or flock
    /// unlock through any descriptor of the open file description frees it), and a guard
    /// that fires meanwhile finds COMMAND's tree gone, so it signals nothing.
    pub fn dismiss(&mut self) {
        if self.dismissed.is_some() {
            return;
        }
        let idle = match self.sent {
            None | Some(None) => true,
            Some(Some(ns)) => boottime_ns().saturating_add(KILL_MARGIN.as_nanos() as u64) < ns,
        };
        let fork = match (idle, self.pid) {
            (true, None) => self.forked.get_or_dismiss_idle(),
            _ => self.started(),
        };
        let dismissal = match (idle, fork) {
            // The fork failed: there is no guard.
            (_, Some(Err(_))) => return,
            (true, Some(Ok(pid))) => {
                kill_unreaped(pid);
                Dismissal::Killed
            }
            (true, None) => Dismissal::ToldIdle,
            (false, _) => Dismissal::ToldNear,
        };
        if dismissal != Dismissal::Killed {
            self.send("done\n");
        }
        self.dismissed = Some(dismissal);
        self.pipe = None;
    }

    pub fn is_dismissed(&self) -> bool {
        self.dismissed.is_some()
    }

    /// Dismiss the guard if not done yet; wait for it only when it was told `done` near its
    /// deadline (it may be finishing a kill and its message). A guard that was SIGKILLed,
    /// or told `done` while idle, is left to exit on its own: it has nothing left to do, and waiting would
    /// only add its teardown (the copy of toozctl's page tables) to toozctl's exit. It stays
    /// in the list of guards, so nothing takes it for an orphan of COMMAND's, and is reaped
    /// as any orphan is once toozctl has exited (by init, or the nearest subreaper).
    pub fn leave(mut self) {
        self.dismiss();
        if self.dismissed == Some(Dismissal::ToldNear) {
            self.reap();
        }
    }

    /// Dismiss the guard if not done yet, and wait until it has exited: at once after a
    /// SIGKILL, at most a second after `done`.
    pub fn reap(mut self) {
        self.dismiss();
        let Ok(pid) = self.pid() else { return };
        if self.dismissed == Some(Dismissal::Killed) {
            let mut g = guards();
            if g.contains(&pid) {
                // SAFETY: waitpid(2) of our own unreaped child, SIGKILLed: it dies at once.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                g.retain(|&p| p != pid);
            }
            return;
        }
        // Sleep until it exits (a pidfd turns readable then), at most a second.
        // SAFETY: pidfd_open(2) of our own unreaped child, polled, then closed.
        unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as RawFd;
            if fd >= 0 {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                libc::poll(&mut pfd, 1, 1000);
                libc::close(fd);
            }
        }
        let until = Instant::now() + Duration::from_secs(1);
        loop {
            let mut g = guards();
            if !g.contains(&pid) {
                return; // reaped by the orphan reaper
            }
            // SAFETY: waitpid on our own unreaped child; the lock keeps the reaper off it.
            let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            if r == pid || r < 0 {
                g.retain(|&p| p != pid);
                return;
            }
            if Instant::now() >= until {
                // Unreaped, so the pid is still this guard's.
                // SAFETY: kill(2) of our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: as above; it dies at once.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                g.retain(|&p| p != pid);
                return;
            }
            drop(g);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn send(&mut self, line: &str) {
        if let Some(p) = &mut self.pipe {
            // Non-blocking: a stopped guard never holds toozctl up (the pipe holds 64 KiB).
            let _ = p.write_all(line.as_bytes());
        }
    }
}

/// Fork the guard: `read` (the pipe) as its stdin, /dev/null as its stdout, the
/// descriptors `high` as 3, 4, ..., every other descriptor closed, in a process group of
/// its own, with the signals it ignores ignored and toozctl's handlers reset.
///
/// Why a fork without exec is safe here, although toozctl's main thread goes on running
/// meanwhile (it no longer waits for the fork): the child runs only code of its own, which
/// takes none of the locks another thread may hold at the fork (std's stdout/stderr, the
/// list of guards, the COMMAND claims, the runtime's): allocation (glibc's `fork` takes
/// the allocator's locks around the fork and hands the child consistent arenas), `/proc`
/// reads and raw system calls; it writes its messages with `write(2)`, not through std's
/// locked stderr, and ends with `_exit`, so nothing of toozctl's (buffers, destructors, the
/// runtime) ever runs in it.
fn spawn_guard_process(read: File, high: Vec<File>, watch: Watch) -> std::io::Result<libc::pid_t> {
    let high_fds: Vec<RawFd> = high.iter().map(AsRawFd::as_raw_fd).collect();
    // Every signal blocked on this thread from before the fork until the child has its
    // own dispositions: none can run one of toozctl's handlers in the child (they write to
    // toozctl's signal pipe), nor kill it before it ignores what it must.
    // SAFETY: signal-mask calls on this thread with sets we own.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: fork(2); the child only runs `become_guard`, which never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child, right after the fork, every signal blocked.
        unsafe { become_guard(read.as_raw_fd(), &high_fds, watch) }
    }
    let err = std::io::Error::last_os_error();
    // SAFETY: restores this thread's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(read);
    drop(high);
    if pid < 0 {
        return Err(err);
    }
    // The child sets its group too; whichever runs first makes it so before toozctl goes
    // on, so a signal to toozctl's group from now on never reaches the guard.
    // SAFETY: setpgid(2) of our own child.
    unsafe { libc::setpgid(pid, pid) };
    Ok(pid)
}

/// The child side of [`spawn_guard_process`]: descriptors and signals, then the guard's
/// life, then `_exit`.
///
/// # Safety
/// Only in the child of that `fork`, with every signal blocked.
unsafe fn become_guard(read: RawFd, high: &[RawFd], watch: Watch) -> ! {
    libc::setpgid(0, 0);
    libc::prctl(libc::PR_SET_NAME, c"toozctl-guard".as_ptr(), 0, 0, 0);
    libc::dup2(read, 0);
    // Kept descriptors are numbered from 64 up (`Guard::spawn`), so these dup2s never
    // overwrite one still to be moved.
    for (i, &fd) in high.iter().enumerate() {
        libc::dup2(fd, FIRST_KEPT_FD + i as RawFd);
    }
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if null >= 0 && null != 1 {
        libc::dup2(null, 1);
    }
    close_from(FIRST_KEPT_FD + high.len() as RawFd);
    for s in 1..32 {
        if s == libc::SIGKILL || s == libc::SIGSTOP {
            continue;
        }
        if IGNORED.contains(&s) {
            libc::signal(s, libc::SIG_IGN);
            continue;
        }
        // toozctl's handlers (the runtime's, std's) back to the default; what toozctl was
        // started with ignored stays ignored, as across an exec.
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(s, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction != libc::SIG_DFL
            && old.sa_sigaction != libc::SIG_IGN
        {
            libc::signal(s, libc::SIG_DFL);
        }
    }
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    libc::_exit(run(watch))
}

/// Close every descriptor from `first` up: toozctl's own (the runtime's, the lock files',
/// COMMAND's pidfd, the write end of the guard's pipe) must not live on in the guard.
///
/// # Safety
/// Only in the guard, which owns no descriptor from `first` up.
unsafe fn close_from(first: RawFd) {
    if libc::syscall(
        libc::SYS_close_range,
        first as libc::c_uint,
        libc::c_uint::MAX,
        0,
    ) == 0
    {
        return;
    }
    // Before Linux 5.9: every number below the limit on open descriptors.
    let max = match libc::sysconf(libc::_SC_OPEN_MAX) {
        n if n > 0 => n.min(1 << 20) as RawFd,
        _ => 1024,
    };
    for fd in first..max {
        libc::close(fd);
    }
}

// ---------------------------------------------------------------- the guard itself

/// Signals the guard ignores: what toozctl forwards to COMMAND, and job-control stops
/// (toozctl stops its own group on Ctrl-Z; the guard must keep its watch meanwhile).
const IGNORED: [libc::c_int; 10] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGPIPE,
];

struct Watch {
    pgid: i32,
    start: u64,
    parent: i32,
    parent_start: u64,
    cgroup: Option<String>,
    me: i32,
    known: HashSet<(i32, u64)>,
}

/// The guard's whole life (stdin: the pipe; signals set up); returns its exit status.
fn run(mut watch: Watch) -> i32 {
    watch.me = std::process::id() as i32;
    let mut buf = Vec::new();
    let mut w = Some(watch);
    let mut deadline: Option<u64> = None;
    let mut fired = false;
    loop {
        // Handle every complete line.
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let mut f = line.splitn(2, ' ');
            match f.next() {
                Some("deadline") => deadline = f.next().and_then(|v| v.parse().ok()),
                Some("done") => return 0,
                _ => {}
            }
        }
        let now = boottime_ns();
        if let (Some(d), Some(w), false) = (deadline, &mut w, fired) {
            if now >= d {
                fired = true;
                if w.kill() > 0 {
                    say(&format!(
                        "the lease's safe deadline passed while toozctl (pid {}) could not act \
                         (stopped or starved of CPU): COMMAND's process tree was killed",
                        w.parent
                    ));
                }
            }
        }
        // How long to wait for input: until the deadline; a fired kill looks again every
        // 50 ms while anything is left; without a cgroup the tree is looked at each second.
        let mut wait_ms: i64 = -1;
        if let (Some(d), false) = (deadline, fired) {
            wait_ms = (d.saturating_sub(now) / 1_000_000 + 1) as i64;
        }
        if let Some(w) = &mut w {
            if fired {
                if !w.members().is_empty() {
                    w.kill();
                    wait_ms = 50;
                }
            } else if w.cgroup.is_none() {
                w.members();
                wait_ms = if wait_ms < 0 { 1000 } else { wait_ms.min(1000) };
            }
        }
        // poll(2) counts on CLOCK_MONOTONIC, which stops in system suspend: cap each wait
        // so a deadline on CLOCK_BOOTTIME is looked at again soon after a resume.
        if wait_ms > 1000 || wait_ms < 0 && deadline.is_some() && !fired {
            wait_ms = 1000;
        }
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd we own.
        let r = unsafe { libc::poll(&mut pfd, 1, wait_ms.clamp(-1, i32::MAX as i64) as i32) };
        if r <= 0 {
            continue;
        }
        let mut chunk = [0u8; 512];
        // SAFETY: descriptor 0 is the pipe we were given, read into our own buffer.
        let mut stdin = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
        match stdin.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // End of file without "done": toozctl died. Kill the tree at once, and until it is gone.
    if let Some(w) = &mut w {
        let mut killed = w.kill();
        let until = Instant::now() + Duration::from_secs(5);
        while !w.members().is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
            killed += w.kill();
        }
        if killed > 0 {
            say(&format!(
                "toozctl (pid {}) ended while COMMAND ran: COMMAND's process tree was killed",
                w.parent
            ));
        }
        // The cgroup toozctl could not remove: empty a moment after its last process died.
        if let Some(cg) = &w.cgroup {
            for _ in 0..50 {
                if std::fs::remove_dir(cg).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    0
}

/// One line on stderr, written with `write(2)`: std's stderr lock is toozctl's, copied by
/// the fork in whatever state it had.
fn say(m: &str) {
    let line = format!("toozctl: guard: {m}\n");
    let mut b = line.as_bytes();
    while !b.is_empty() {
        // SAFETY: write(2) from a buffer we own.
        let n = unsafe { libc::write(2, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            break;
        }
        b = &b[n as usize..];
    }
}

impl Watch {
    /// The live processes of COMMAND's tree (and records them as known).
    fn members(&mut self) -> Vec<Proc> {
        let all = procs::scan();
        let parent_alive = all
            .iter()
            .any(|p| p.pid == self.parent && p.start == self.parent_start);
        // A process with COMMAND's pid but another start time is a stranger that reused
        // the number: then neither the pid nor the group seeds the walk.
        let root_reused = all
            .iter()
            .any(|p| p.pid == self.pgid && p.start != self.start);
        let others: HashSet<i32> = [self.me].into();
        let scope = Scope {
            root: if root_reused { -2 } else { self.pgid },
            me: if parent_alive { self.parent } else { -2 },
            known: &self.known,
            others: &others,
        };
        let mut out: Vec<Proc> = procs::tree(&all, &scope)
            .into_iter()
            .filter(|p| !p.zombie && p.start >= self.start && p.pid != self.me)
            .filter(|p| p.pid != self.parent)
            .collect();
        if let Some(cg) = &self.cgroup {
            let inside =
                std::fs::read_to_string(Path::new(cg).join("cgroup.procs")).unwrap_or_default();
            for pid in inside.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(p) = all.iter().find(|p| p.pid == pid && !p.zombie) {
                    if !out.iter().any(|q| q.pid == pid) && p.start >= self.start {
                        out.push(*p);
                    }
                }
            }
        }
        self.known.extend(out.iter().map(|p| p.id()));
        out
    }

    /// SIGKILL every process of the tree (a few rounds, for forks in between); returns how
    /// many were signalled.
    fn kill(&mut self) -> usize {
        let mut n = 0;
        for p in self.members() {
            n += kill_exactly(&p) as usize;
        }
        if let Some(cg) = &self.cgroup {
            if let Ok(mut f) = File::options()
                .write(true)
                .open(Path::new(cg).join("cgroup.kill"))
            {
                let _ = f.write_all(b"1");
            }
        }
        for _ in 0..3 {
            let m = self.members();
            if m.is_empty() {
                break;
            }
            for p in m {
                n += kill_exactly(&p) as usize;
            }
        }
        n
    }
}

/// SIGKILL the process `p` names, and no other: through a pidfd opened and then checked
/// to be that process (same start time), so a pid reused meanwhile is not hit.
fn kill_exactly(p: &Proc) -> bool {
    // SAFETY: pidfd_open(2) with no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid, 0) } as RawFd;
    if fd < 0 {
        // No pidfds (Linux < 5.3): check and kill, with the tiny race that leaves.
        if procs::stat(p.pid).is_some_and(|q| q.start == p.start) {
            // SAFETY: kill(2).
            return unsafe { libc::kill(p.pid, libc::SIGKILL) } == 0;
        }
        return false;
    }
    let ok = procs::stat(p.pid).is_some_and(|q| q.start == p.start)
        // SAFETY: pidfd_send_signal(2) on the pidfd just opened, no siginfo, no flags.
        && unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        } == 0;
    // SAFETY: closing the pidfd we opened.
    unsafe { libc::close(fd) };
    ok
}

fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn alive(pid: i32) -> bool {
        procs::stat(pid).is_some_and(|p| !p.zombie)
    }

    fn read_pid(path: &Path) -> i32 {
        for _ in 0..500 {
            if let Some(p) = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return p;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no pid in {}", path.display());
    }

    /// Without a cgroup, the walk alone finds COMMAND's group and a descendant that left it
    /// (setsid), and spares a process outside it.
    #[test]
    fn the_walk_kills_the_tree_without_a_cgroup_and_nothing_else() {
        let _one = crate::supervise::one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let mut stranger = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let script = format!(
            "setsid sh -c 'echo $$ > {a}; exec sleep 30' & exec sleep 30",
            a = a.display()
        );
        let mut cmd = std::process::Command::new("sh")
            .args(["-c", &script])
            .process_group(0)
            .spawn()
            .unwrap();
        let escaped = read_pid(&a);
        let root = cmd.id() as i32;
        let mut w = Watch {
            pgid: root,
            start: procs::stat(root).unwrap().start,
            // No toozctl to adopt orphans here: the test harness's other children are not
            // COMMAND's.
            parent: -2,
            parent_start: 0,
            cgroup: None,
            me: std::process::id() as i32,
            known: HashSet::new(),
        };
        assert!(w.kill() >= 2, "nothing was killed");
        let _ = cmd.wait();
        for _ in 0..100 {
            if !alive(escaped) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(escaped), "the setsid descendant survived");
        assert!(
            alive(stranger.id() as i32),
            "a process older than COMMAND was killed"
        );
        let _ = stranger.kill();
        let _ = stranger.wait();
    }
}
