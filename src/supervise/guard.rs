//! The guard: a small process of its own that kills COMMAND's tree when toozctl cannot.
//!
//! toozctl is the only thing that stops COMMAND's tree, so a toozctl frozen (SIGSTOP,
//! starved of CPU) past its lease, or killed alone with SIGKILL, would leave COMMAND
//! running without the primitive. Right after COMMAND is spawned, toozctl starts a guard:
//! its own executable again (`posix_spawn` of `/proc/self/exe` with the reserved first
//! argument [`ENTRY`] and a pipe as stdin; nothing runs between fork and exec in our
//! process), spawned from a parked thread of its own so that it is not the main thread's
//! child (see `Child::surely_empty`). The guard is in a process group of its own: neither COMMAND's (a Ctrl-C typed
//! at COMMAND never reaches it) nor toozctl's (a `kill -9 %1` of toozctl's job, or its
//! Ctrl-Z, never reaches it either). It reads nothing from the terminal, ignores the
//! signals toozctl forwards and the job-control stops, and is told over the pipe:
//! - `init PGID START PARENT PARENT_START CGROUP`: COMMAND's group and start time, toozctl's
//!   pid and start time, COMMAND's cgroup (empty when none);
//! - `deadline NANOS` / `deadline none`: everything of COMMAND's must be dead by this
//!   CLOCK_BOOTTIME moment (the lease's safe deadline, sent again after every renewal);
//! - `done`: toozctl saw the tree gone and is about to release: exit quietly.
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
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::procs::{self, Proc, Scope};

/// The reserved first argument that makes toozctl a guard (with a pipe as stdin).
pub const ENTRY: &str = "__toozctl-guard";

/// A guard whose deadline is further away than this cannot have fired: it is dismissed
/// with SIGKILL rather than told `done` (see [`Guard::dismiss`]).
const KILL_MARGIN: Duration = Duration::from_millis(100);

/// Where the inherited file descriptors start in the guard.
const FIRST_KEPT_FD: RawFd = 3;

// ---------------------------------------------------------------- toozctl's side

/// toozctl's end of a running guard.
pub struct Guard {
    pid: i32,
    pipe: Option<File>,
    /// The last deadline sent (`None` before the first).
    sent: Option<Option<u64>>,
    /// Dropped when the guard is gone: lets the thread whose child it is end.
    _parent: std::sync::mpsc::Sender<()>,
}

/// The processes that are guards (not COMMANDs, not orphans): pid -> still unreaped.
static GUARDS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn guards() -> std::sync::MutexGuard<'static, Vec<i32>> {
    GUARDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `pid` is a guard of ours (toozctl's own walk of its children must skip it).
pub fn is_guard(pid: i32) -> bool {
    guards().contains(&pid)
}

/// A guard `pid` exited and was reaped by the orphan reaper.
pub fn reaped(pid: i32) {
    guards().retain(|&p| p != pid);
}

extern "C" {
    static environ: *const *mut libc::c_char;
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
        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<libc::pid_t>>();
        let (release, parked) = std::sync::mpsc::channel::<()>();
        let spawner = std::thread::Builder::new()
            .name("toozctl-guard-parent".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let r = spawn_guard_process(read, high);
                let ok = r.is_ok();
                let _ = tx.send(r);
                if ok {
                    // Until dismissed (or the Guard is dropped): a sender that goes away
                    // wakes us too.
                    let _ = parked.recv();
                }
            })?;
        let pid = match rx.recv() {
            Ok(r) => r?,
            Err(_) => {
                let _ = spawner.join();
                return Err(std::io::Error::other("the guard's spawning thread ended"));
            }
        };
        guards().push(pid);
        let mut g = Guard {
            pid,
            pipe: Some(write),
            sent: None,
            _parent: release,
        };
        let cg = cgroup.map(|p| p.display().to_string()).unwrap_or_default();
        g.send(&format!("init {pgid} {start} {me} {my_start} {cg}\n"));
        Ok(g)
    }

    pub fn pid(&self) -> i32 {
        self.pid
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

    /// The tree is gone: end the guard, and wait (up to a second) until it has.
    ///
    /// The guard acts only when its deadline passes or its pipe reaches end-of-file; until
    /// then it has done nothing and prints nothing. So while no deadline was sent, or the
    /// one sent is more than [`KILL_MARGIN`] away, it is SIGKILLed and reaped at once — it
    /// may still be starting (an exec of this whole binary), which `done` would have to
    /// wait for. Nearer the deadline it is told `done` and waited for, so a guard that has
    /// just fired finishes its kill and its message.
    pub fn dismiss(mut self) {
        let idle = match self.sent {
            None | Some(None) => true,
            Some(Some(ns)) => boottime_ns().saturating_add(KILL_MARGIN.as_nanos() as u64) < ns,
        };
        if idle {
            let mut g = guards();
            // Unreaped, so the pid is still this guard's.
            if g.contains(&self.pid) {
                // SAFETY: kill(2) and waitpid(2) of our own unreaped child.
                unsafe {
                    libc::kill(self.pid, libc::SIGKILL);
                    libc::waitpid(self.pid, std::ptr::null_mut(), 0);
                }
                g.retain(|&p| p != self.pid);
            }
            return;
        }
        self.send("done\n");
        self.pipe = None;
        // Sleep until it exits (a pidfd turns readable then), at most a second.
        // SAFETY: pidfd_open(2) of our own unreaped child, polled, then closed.
        unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, self.pid, 0) as RawFd;
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
            if !g.contains(&self.pid) {
                return; // reaped by the orphan reaper
            }
            // SAFETY: waitpid on our own unreaped child; the lock keeps the reaper off it.
            let r = unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG) };
            if r == self.pid || r < 0 {
                g.retain(|&p| p != self.pid);
                return;
            }
            if Instant::now() >= until {
                // Unreaped, so the pid is still this guard's.
                // SAFETY: kill(2) of our own child.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                // SAFETY: as above; it dies at once.
                unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
                g.retain(|&p| p != self.pid);
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

/// `posix_spawn` of `/proc/self/exe` as a guard: `read` (the pipe) as its stdin, /dev/null
/// as its stdout, the descriptors `high` as 3, 4, ..., in a process group of its own, born
/// with the signals it ignores blocked.
fn spawn_guard_process(read: File, high: Vec<File>) -> std::io::Result<libc::pid_t> {
    let argv0 = CString::new("toozctl").expect("no NUL");
    let argv1 = CString::new(ENTRY).expect("no NUL");
    let argv = [argv0.as_ptr(), argv1.as_ptr(), std::ptr::null()];
    let path = CString::new("/proc/self/exe").expect("no NUL");
    let null = CString::new("/dev/null").expect("no NUL");
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and action objects are initialised before use and destroyed
    // after; every pointer given to posix_spawn lives until it returns.
    let rc = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut at: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawnattr_init(&mut at);
        libc::posix_spawn_file_actions_adddup2(&mut fa, read.as_raw_fd(), 0);
        libc::posix_spawn_file_actions_addopen(&mut fa, 1, null.as_ptr(), libc::O_WRONLY, 0);
        for (i, f) in high.iter().enumerate() {
            libc::posix_spawn_file_actions_adddup2(
                &mut fa,
                f.as_raw_fd(),
                FIRST_KEPT_FD + i as RawFd,
            );
        }
        // Born with the signals it will ignore blocked, so none kills it before it
        // ignores them; every other handler is reset to the default by exec.
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        for s in IGNORED {
            libc::sigaddset(&mut mask, s);
        }
        libc::posix_spawnattr_setsigmask(&mut at, &mask);
        // A process group of its own: a SIGKILL to toozctl's group (`kill -9 %1`) must
        // not take the guard with it, and COMMAND's group gets what the terminal sends.
        libc::posix_spawnattr_setpgroup(&mut at, 0);
        libc::posix_spawnattr_setflags(
            &mut at,
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETPGROUP) as _,
        );
        let rc = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &fa,
            &at,
            argv.as_ptr() as *const *mut libc::c_char,
            environ,
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut at);
        rc
    };
    drop(read);
    drop(high);
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(pid)
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

/// Whether this process was started as a guard: the reserved argument and a pipe as stdin.
pub fn is_entry(args: &[std::ffi::OsString]) -> bool {
    if args.get(1).and_then(|a| a.to_str()) != Some(ENTRY) {
        return false;
    }
    // SAFETY: fstat on descriptor 0 into a struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(0, &mut st) } == 0) && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
}

struct Watch {
    pgid: i32,
    start: u64,
    parent: i32,
    parent_start: u64,
    cgroup: Option<String>,
    me: i32,
    known: HashSet<(i32, u64)>,
}

/// The guard's whole life; returns its exit status.
pub fn main() -> i32 {
    // SAFETY: signal dispositions and mask of this single-threaded process.
    unsafe {
        for s in IGNORED {
            libc::signal(s, libc::SIG_IGN);
        }
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
    }
    let mut buf = Vec::new();
    let mut w: Option<Watch> = None;
    let mut deadline: Option<u64> = None;
    let mut fired = false;
    loop {
        // Handle every complete line.
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let mut f = line.splitn(6, ' ');
            match f.next() {
                Some("init") => {
                    let mut n = || f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    let (pgid, start, parent, parent_start) = (n(), n(), n(), n());
                    let cg = f.next().unwrap_or("").to_string();
                    w = Some(Watch {
                        pgid: pgid as i32,
                        start,
                        parent: parent as i32,
                        parent_start,
                        cgroup: (!cg.is_empty()).then_some(cg),
                        me: std::process::id() as i32,
                        known: HashSet::new(),
                    });
                }
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

fn say(m: &str) {
    eprintln!("toozctl: guard: {m}");
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
