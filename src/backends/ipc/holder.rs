//! The holder: a small process of its own that takes the semaphore with `SEM_UNDO` and
//! keeps it until told to release it, or until nobody holds its control pipe any more.
//!
//! Why a process of its own: `SEM_UNDO` gives a unit back when the process that took it
//! exits, whatever kills it — that is what frees a kill -9'd holder's lock. But the undo
//! belongs to one process, and toozctl killed alone must not free the lock while its
//! COMMAND still runs (the guard kills that tree first; see `supervise::guard`). So the
//! unit is taken by this process, whose stdin is a pipe whose write end toozctl names as a
//! keep-alive descriptor: the guard inherits a copy. The holder exits at end-of-file — when
//! toozctl *and* the guard are gone — and the kernel's undo frees the lock then, never
//! before COMMAND's tree is dead.
//!
//! It is started as toozctl's own executable with the reserved first argument [`ENTRY`]
//! and forks once more at once, so it is nobody's child in toozctl (toozctl's walk of its
//! children for COMMAND's orphans must never meet it); it makes a session of its own and
//! ignores the signals a terminal or a `kill` of toozctl's job sends.
//!
//! Protocol — arguments: `KEY SLOTS NOWAIT` then the holder record (toozctl's pid, member
//! id, command, lock name), readable by `locks` from `/proc/PID/cmdline`. Its process name
//! (`/proc/PID/comm`) is [`WAITING`] until it holds a unit, [`HOLDING`] after. Lines on
//! stdout: `acquired SEMID PID`, `busy` (NOWAIT and held), `conflict exclusive` / `conflict
//! limit N` (the name is used as the other kind), `error MESSAGE`; after a `release` line
//! on stdin: `released` or `lost MESSAGE`. End-of-file on stdin at any moment: exit (the
//! kernel undoes what it holds).
//!
//! Layout (tooz's, extended for `--limit`): an exclusive lock is tooz's set of one
//! semaphore, created with value 1, taken with -1; tooz removes the set on release, so do
//! we. `--limit N` is a set of two: semaphore 0 counts free slots (created at N), semaphore
//! 1 holds N itself, so a different `--limit` or an exclusive user is recognised.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::Duration;

use super::sem;

/// The reserved first argument that makes toozctl a semaphore holder.
pub const ENTRY: &str = "__toozctl-ipc-holder";
/// The holder's process name while it waits.
pub const WAITING: &str = "toozctl-ipc-w";
/// The holder's process name once it holds a unit.
pub const HOLDING: &str = "toozctl-ipc-h";

/// How long one wait in the kernel lasts before looking whether toozctl gave up.
const SLICE: Duration = Duration::from_millis(100);

/// The signals the holder ignores (what toozctl forwards, job control, hang-ups).
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

/// Whether this process was started as a holder.
pub fn is_entry(args: &[std::ffi::OsString]) -> bool {
    args.get(1).and_then(|a| a.to_str()) == Some(ENTRY)
}

/// The arguments toozctl starts a holder with (after [`ENTRY`]).
pub fn args(key: libc::key_t, slots: u32, nowait: bool, record: &Record) -> Vec<String> {
    vec![
        key.to_string(),
        slots.to_string(),
        (nowait as u8).to_string(),
        record.toozctl_pid.to_string(),
        record.member_id.clone(),
        record.command.clone(),
        record.name.clone(),
    ]
}

/// Who a holder holds for, as its command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: libc::key_t,
    pub slots: u32,
    pub toozctl_pid: u32,
    pub member_id: String,
    pub command: String,
    pub name: String,
}

impl Record {
    /// Read back from a holder's `/proc/PID/cmdline` (NUL-separated words).
    pub fn parse(cmdline: &[u8]) -> Option<Record> {
        let w: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        if w.get(1).map(String::as_str) != Some(ENTRY) {
            return None;
        }
        Some(Record {
            key: w.get(2)?.parse().ok()?,
            slots: w.get(3)?.parse().ok()?,
            toozctl_pid: w.get(5)?.parse().ok()?,
            member_id: w.get(6)?.clone(),
            command: w.get(7)?.clone(),
            name: w.get(8)?.clone(),
        })
    }
}

/// The holder's whole life; returns its exit status.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    let a: Vec<String> = args
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let num = |i: usize| a.get(i).and_then(|v| v.parse::<i64>().ok());
    let (Some(key), Some(slots), Some(nowait)) = (num(2), num(3), num(4)) else {
        eprintln!("toozctl: {ENTRY} is toozctl's own semaphore holder, not a command");
        return 2;
    };
    // Fork once more: the holder must be nobody's child in toozctl. This process is
    // single-threaded (nothing has started a thread yet).
    // SAFETY: fork(2) in a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => {
            say(&format!(
                "error cannot fork: {}",
                io::Error::last_os_error()
            ));
            return 1;
        }
        0 => {}
        _ => return 0,
    }
    // SAFETY: setsid, signal dispositions and the process name of this process.
    unsafe {
        libc::setsid();
        for s in IGNORED {
            libc::signal(s, libc::SIG_IGN);
        }
    }
    set_name(WAITING);
    let key = key as libc::key_t;
    let slots = slots.clamp(0, i16::MAX as i64) as u16;
    let id = match take(key, slots, nowait != 0) {
        Taken::Id(id) => id,
        Taken::Busy => return reply("busy"),
        Taken::Cancelled => return 0,
        Taken::Conflict(what) => return reply(&format!("conflict {what}")),
        Taken::Failed(m) => return reply(&format!("error {m}")),
    };
    set_name(HOLDING);
    if cancelled() {
        // toozctl gave up just as we got it: give it back as a release does.
        release(id, slots);
        return 0;
    }
    reply(&format!("acquired {id} {}", std::process::id()));
    // Held: until a `release` line or end-of-file.
    let mut stdin = ManuallyDrop::new(
        // SAFETY: descriptor 0 is the control pipe we were given.
        unsafe { File::from_raw_fd(0) },
    );
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    // End-of-file: toozctl and the guard are gone (COMMAND's tree is dead by then), or
    // toozctl dropped the lock: give it back as a release does, rather than leave a free
    // set behind for the kernel's undo.
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => {
                release(id, slots);
                return 0;
            }
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if line.contains(&b'\n') {
                    return reply(&release(id, slots));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                release(id, slots);
                return 0;
            }
        }
    }
}

enum Taken {
    Id(i32),
    Busy,
    Cancelled,
    Conflict(String),
    Failed(String),
}

/// tooz's acquire: create the set (exclusively) or open the existing one, then take one
/// unit with `SEM_UNDO`; a set removed meanwhile (tooz's release removes it) is started
/// over. Waits in slices, giving up when toozctl closed the pipe.
fn take(key: libc::key_t, slots: u16, nowait: bool) -> Taken {
    loop {
        // Before creating anything: a waiter given up on must leave no set behind.
        if cancelled() {
            return Taken::Cancelled;
        }
        let id = match sem::create(key, if slots == 0 { 1 } else { 2 }) {
            Ok(id) => {
                let init: Vec<u16> = if slots == 0 {
                    vec![1]
                } else {
                    vec![slots, slots]
                };
                if let Err(e) = sem::set_all(id, &init) {
                    let _ = sem::remove(id);
                    return Taken::Failed(format!("cannot initialise the semaphore: {e}"));
                }
                id
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => match sem::open(key) {
                Ok(id) => id,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Taken::Failed(failure("open", &e)),
            },
            Err(e) => return Taken::Failed(failure("create", &e)),
        };
        match layout(id, slots) {
            Layout::Ours => {}
            Layout::Gone => continue,
            Layout::Initialising => {
                if nowait {
                    return Taken::Busy;
                }
                if cancelled() {
                    return Taken::Cancelled;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Layout::Other(what) => return Taken::Conflict(what),
        }
        let flags = libc::SEM_UNDO | if nowait { libc::IPC_NOWAIT } else { 0 };
        loop {
            let timeout = (!nowait).then_some(SLICE);
            match sem::semop(id, &mut [sem::op(0, -1, flags)], timeout) {
                Ok(()) => return Taken::Id(id),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    if nowait {
                        return Taken::Busy;
                    }
                    if cancelled() {
                        return Taken::Cancelled;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if sem::gone(&e) => break,
                Err(e) => return Taken::Failed(failure("wait on", &e)),
            }
        }
    }
}

enum Layout {
    Ours,
    Gone,
    /// A `--limit` set whose creator has not set it yet.
    Initialising,
    /// Used as another kind: `exclusive` or `limit N`.
    Other(String),
}

fn layout(id: i32, slots: u16) -> Layout {
    let st = match sem::stat(id) {
        Ok(st) => st,
        Err(_) => return Layout::Gone,
    };
    match (st.nsems, slots) {
        (1, 0) => Layout::Ours,
        (1, _) => Layout::Other("exclusive".into()),
        (2, _) => match sem::get(id, 1, libc::GETVAL) {
            Err(_) => Layout::Gone,
            Ok(0) => Layout::Initialising,
            Ok(n) if slots != 0 && n == slots as i32 => Layout::Ours,
            Ok(n) => Layout::Other(format!("limit {n}")),
        },
        (n, _) => Layout::Other(format!("a set of {n} semaphores (not a tooz lock)")),
    }
}

/// Give the unit back: an exclusive lock's set is removed (as tooz's release does); a
/// semaphore slot is given back, and the set removed when that left it wholly free (taking
/// every slot at once, so nobody can be inside when it goes).
fn release(id: i32, slots: u16) -> String {
    let lost = |e: &io::Error| {
        if sem::gone(e) {
            "lost its semaphore was deleted while held (a tooz break_, ipcrm or toozctl unlock)"
                .to_string()
        } else {
            format!("lost cannot release the semaphore: {e}")
        }
    };
    if slots == 0 {
        return match sem::remove(id) {
            Ok(()) => "released".into(),
            Err(e) => lost(&e),
        };
    }
    let all = -(slots as i16);
    let mut last = [
        sem::op(0, 1, libc::SEM_UNDO),
        sem::op(0, all, libc::SEM_UNDO | libc::IPC_NOWAIT),
    ];
    match sem::semop(id, &mut last, None) {
        Ok(()) => match sem::remove(id) {
            Ok(()) => "released".into(),
            Err(e) => lost(&e),
        },
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
            match sem::semop(id, &mut [sem::op(0, 1, libc::SEM_UNDO)], None) {
                Ok(()) => "released".into(),
                Err(e) => lost(&e),
            }
        }
        Err(e) => lost(&e),
    }
}

fn failure(what: &str, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EACCES) => {
            " (tooz creates it readable and writable by its owner only: run as that user)"
        }
        Some(libc::ENOSPC) => " (the host's limit of semaphore sets is reached: ipcs -ls)",
        _ => "",
    };
    format!("cannot {what} the semaphore: {e}{hint}")
}

/// Whether toozctl closed the control pipe (it gave up waiting, or died).
fn cancelled() -> bool {
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own, without waiting.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r != 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLIN) != 0
}

/// Write one line to toozctl; returns the exit status 0.
fn reply(line: &str) -> i32 {
    say(line);
    0
}

fn say(line: &str) {
    // SAFETY: descriptor 1 is the pipe to toozctl; ManuallyDrop leaves it open.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let _ = out.write_all(format!("{line}\n").as_bytes());
}

fn set_name(name: &str) {
    let c = std::ffi::CString::new(name).expect("no NUL");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_from_the_command_line() {
        let r = Record {
            key: -5,
            slots: 3,
            toozctl_pid: 42,
            member_id: "m 1".into(),
            command: "backup.sh".into(),
            name: "a b".into(),
        };
        let mut words = vec!["toozctl".to_string(), ENTRY.to_string()];
        words.extend(args(r.key, r.slots, true, &r));
        let line = words.join("\0") + "\0";
        assert_eq!(Record::parse(line.as_bytes()), Some(r));
        assert_eq!(Record::parse(b"toozctl\0lock\0x\0"), None);
    }
}
