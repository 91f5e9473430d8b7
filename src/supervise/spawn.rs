//! Starting COMMAND directly inside its cgroup: `clone3(CLONE_INTO_CGROUP | CLONE_PIDFD)`
//! (Linux 5.7), then `execve` in the child.
//!
//! Moving a process into a cgroup after it exists (writing to `cgroup.procs`, as the
//! `pre_exec` of `std::process::Command` would) takes the kernel's cgroup threadgroup lock
//! for writing, which waits for an RCU grace period: 5 to 15 ms per COMMAND on a busy
//! machine, more than everything else `toozctl lock NAME -- true` does. A child born in
//! the cgroup takes that lock only for reading. Where `clone3` or `CLONE_INTO_CGROUP` is
//! refused (older kernels, seccomp filters, no permission), the caller falls back to
//! `std::process::Command` and the write to `cgroup.procs`, as before.
//!
//! Between `clone3` and `execve` the child runs only async-signal-safe calls (it shares
//! the memory of a multi-threaded process on x86-64, and is a copy of it elsewhere: see
//! `clone_into`): everything it needs (paths, argv, envp) is prepared before. The program
//! is looked up in `PATH` here, as `execvp` would: a name with a `/` is used as it is;
//! else the first `PATH` entry where it is an executable regular file.
//! An exec that fails sends its errno back over a close-on-exec pipe (as std does), so a
//! missing program is still exit 127 and a non-executable one 126.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of linux/sched.h (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A COMMAND started by [`spawn_into`]: its pid, a pidfd (readable once it exited), and
/// the outcome of its `exec`, still to be read.
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub exec: Exec,
}

/// The outcome of a child's `exec`, told by a close-on-exec pipe: read it with
/// [`Exec::wait`]. Left for the caller so that it can start COMMAND's guard meanwhile,
/// instead of waiting first for the kernel to start COMMAND (on x86-64 the clone returns
/// only once the exec is done or failed, so the answer is there already).
pub struct Exec {
    pid: i32,
    pipe: OwnedFd,
}

impl Exec {
    /// Block until the child has exec'd (`Ok`), or said why it could not (then it has
    /// exited and is reaped here).
    pub fn wait(self) -> io::Result<()> {
        let mut buf = [0u8; 4];
        let n = loop {
            // SAFETY: read(2) into our buffer.
            let n =
                unsafe { libc::read(self.pipe.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break n;
        };
        if n == 4 {
            // The exec failed: the child exits at once; reap it.
            // SAFETY: waitpid(2) of our own child.
            unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)));
        }
        Ok(())
    }
}

/// Why [`spawn_into`] did not start COMMAND.
pub enum Failed {
    /// This way of spawning is not available here: use another (nothing was started).
    Unsupported,
    /// COMMAND itself could not be run (not found, not executable): report it.
    Exec(io::Error),
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Where `execvp` would find `program`, with the error it would give when nowhere.
fn resolve(program: &OsStr) -> io::Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = false;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        let Ok(c) = cstring(candidate.as_os_str()) else {
            continue;
        };
        // SAFETY: access(2) with a NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            if candidate.metadata().is_ok_and(|m| m.is_file()) {
                return Ok(candidate);
            }
        } else if io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
            denied = true;
        }
    }
    Err(if denied {
        io::Error::from_raw_os_error(libc::EACCES)
    } else {
        io::Error::from_raw_os_error(libc::ENOENT)
    })
}

/// What the child does between `clone3` and `execve`: everything prepared beforehand.
struct ChildSetup {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    tty: Option<i32>,
    /// The close-on-exec pipe that tells a failed exec's errno.
    errors: RawFd,
}

/// The child: its own process group, the terminal when asked, signals as COMMAND should
/// get them, then `execve`; a failed exec writes its errno to `errors` and exits 127.
///
/// # Safety
/// Only in the child of [`clone_into`], before it execs: async-signal-safe calls only, on
/// data the parent keeps alive until the child has exec'd or exited.
unsafe fn run_child(c: &ChildSetup) -> ! {
    libc::setpgid(0, 0);
    if let Some(fd) = c.tty {
        super::tty::take_in_child(fd);
    }
    // toozctl ignores SIGPIPE (`src/bin/toozctl.rs`); COMMAND gets the default.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    // toozctl's handlers back to the default now, as the exec would do: a signal sent to
    // the child before its exec must not run them here, where they would mark it as
    // received by toozctl (the child shares toozctl's memory on x86-64).
    for sig in super::FORWARDED {
        libc::signal(sig as libc::c_int, libc::SIG_DFL);
    }
    libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    libc::execve(c.path, c.argv, c.envp);
    let errno = *libc::__errno_location();
    let bytes = errno.to_ne_bytes();
    libc::write(c.errors, bytes.as_ptr().cast(), bytes.len());
    libc::_exit(127);
}

/// `clone3` into the cgroup `cgroup_dir` running [`run_child`] in the child; the child's
/// pid (its pidfd stored in `pidfd`), or -1 when the kernel refused.
///
/// On x86-64 the child shares our memory and we wait until it has exec'd
/// (`CLONE_VM | CLONE_VFORK`, as `posix_spawn` does): no copy of toozctl's page tables is
/// made, none torn down again at the exec, and toozctl takes no copy-on-write fault on
/// every page it writes afterwards. Measured on `lock NAME -- true` (file backend,
/// `perf stat -r 200`): 319 -> 280 page faults and 1.03 -> 0.95 ms of CPU per run. The
/// child runs on a stack of its own (below) and calls only async-signal-safe functions;
/// every signal is blocked from before the clone until the child has put toozctl's
/// handlers back to the default (`run_child`), so none of them runs in the child.
/// Elsewhere, a copy of our memory (fork).
fn clone_into(cgroup_dir: RawFd, pidfd: &mut RawFd, child: &ChildSetup) -> i64 {
    let mut args = CloneArgs {
        flags: CLONE_PIDFD | CLONE_INTO_CGROUP,
        pidfd: pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_dir as u64,
        ..CloneArgs::default()
    };
    #[cfg(target_arch = "x86_64")]
    {
        extern "C" fn entry(c: *const ChildSetup) -> ! {
            // SAFETY: the child of the clone below; `c` lives in the parent's frame, which
            // the parent does not leave before the child has exec'd or exited.
            unsafe { run_child(&*c) }
        }
        /// Enough for `execve`'s and the terminal calls' frames.
        const STACK: usize = 64 * 1024;
        // Mapped, not allocated and zeroed: only the pages the child uses are touched.
        // SAFETY: an anonymous private mapping of our own, unmapped below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return -1;
        }
        args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        // Page-aligned, so its top is 16-byte aligned, as the ABI wants at a call.
        args.stack = base as u64;
        args.stack_size = STACK as u64;
        // SAFETY: a zeroed sigset_t is a valid value, filled in by pthread_sigmask below.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: signal-mask calls on this thread with sets we own; the syscall's child
        // starts on the new stack at the instruction after it, sees 0 in rax, and calls
        // `entry` (which never returns); the parent sees the pid (or -errno) in rax.
        let ret: i64;
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 => ret,
                in("rdi") &mut args as *mut CloneArgs,
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") child as *const ChildSetup,
                in("r13") entry as extern "C" fn(*const ChildSetup) -> !,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        // SAFETY: the mapping made above; the child no longer runs on it (it has exec'd
        // or exited).
        unsafe { libc::munmap(base, STACK) };
        if ret < 0 {
            -1
        } else {
            ret
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: clone3(2) without CLONE_VM: the child gets a copy of our memory and runs
        // only async-signal-safe calls on data prepared before, then execs or exits.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if pid == 0 {
            // SAFETY: the child of that fork.
            unsafe { run_child(child) }
        }
        pid
    }
}

/// Start `command` with `env` added to ours, in a new process group, inside the cgroup
/// whose directory is `cgroup_dir`; with `tty`, the child takes that terminal for its group
/// (see `tty::take_in_child`).
pub fn spawn_into(
    command: &[OsString],
    env: &[(String, String)],
    cgroup_dir: RawFd,
    tty: Option<i32>,
) -> Result<Spawned, Failed> {
    let (program, _) = command
        .split_first()
        .ok_or_else(|| Failed::Exec(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let path = resolve(program).map_err(Failed::Exec)?;
    let path = cstring(path.as_os_str()).map_err(Failed::Exec)?;
    let argv: Vec<CString> = command
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()
        .map_err(Failed::Exec)?;
    let mut envs: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if env.iter().any(|(ek, _)| OsStr::new(ek) == k) {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            envs.push(c);
        }
    }
    for (k, v) in env {
        envs.push(cstring(OsStr::new(&format!("{k}={v}"))).map_err(Failed::Exec)?);
    }
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());

    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failed::Unsupported);
    }
    // SAFETY: both were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut pidfd: RawFd = -1;
    let child = ChildSetup {
        path: path.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: envp.as_ptr(),
        tty,
        errors: wr.as_raw_fd(),
    };
    let pid = clone_into(cgroup_dir, &mut pidfd, &child);
    if pid < 0 {
        return Err(Failed::Unsupported);
    }
    drop(wr);
    // SAFETY: CLONE_PIDFD stored a fresh descriptor, owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Spawned {
        pid: pid as i32,
        pidfd,
        exec: Exec {
            pid: pid as i32,
            pipe: rd,
        },
    })
}
