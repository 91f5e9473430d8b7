//! Thin, safe wrappers over the System V semaphore calls the ipc backend makes
//! (`semget`, `semctl`, `semop`/`semtimedop`), returning `std::io::Error` with the errno.
//! Knows nothing of locks, names or holders.

use std::io;
use std::time::Duration;

/// The permissions tooz's `sysv_ipc.Semaphore` creates with: the owner only.
pub const MODE: libc::c_int = 0o600;

extern "C" {
    // glibc has it; the libc crate does not declare it.
    fn semtimedop(
        semid: libc::c_int,
        sops: *mut libc::sembuf,
        nsops: libc::size_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Create a set of `nsems` semaphores under `key`, failing with `EEXIST` when one exists.
pub fn create(key: libc::key_t, nsems: i32) -> io::Result<i32> {
    // SAFETY: semget(2) takes plain integers.
    check(unsafe { libc::semget(key, nsems, libc::IPC_CREAT | libc::IPC_EXCL | MODE) })
}

/// The existing set under `key` (`ENOENT` when there is none).
pub fn open(key: libc::key_t) -> io::Result<i32> {
    // nsems 0: any existing set, whatever its size.
    // SAFETY: semget(2) takes plain integers.
    check(unsafe { libc::semget(key, 0, MODE) })
}

/// What `IPC_STAT` says of a set.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub key: libc::key_t,
    pub nsems: u64,
    /// The last `semop`, seconds since the epoch (0: never).
    pub otime: i64,
}

pub fn stat(id: i32) -> io::Result<Stat> {
    // SAFETY: an all-zero semid_ds is valid; IPC_STAT fills it.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one semid_ds through the pointer.
    check(unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) })?;
    Ok(Stat {
        key: ds.sem_perm.__key,
        nsems: ds.sem_nsems as u64,
        otime: ds.sem_otime as i64,
    })
}

/// One of `GETVAL`, `GETPID`, `GETNCNT`, `GETZCNT` for semaphore `num`.
pub fn get(id: i32, num: i32, cmd: libc::c_int) -> io::Result<i32> {
    // SAFETY: the GET* commands take no fourth argument.
    check(unsafe { libc::semctl(id, num, cmd) })
}

/// Set every semaphore of the set (`SETALL`).
pub fn set_all(id: i32, values: &[u16]) -> io::Result<()> {
    // SAFETY: SETALL reads nsems unsigned shorts through the pointer; the caller passes
    // one value per semaphore of the set it created.
    check(unsafe { libc::semctl(id, 0, libc::SETALL, values.as_ptr()) }).map(|_| ())
}

/// Remove the set (waiters get `EIDRM`; every process's undo entries for it go).
pub fn remove(id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID takes no fourth argument.
    check(unsafe { libc::semctl(id, 0, libc::IPC_RMID) }).map(|_| ())
}

/// One operation on semaphore `num`.
pub fn op(num: u16, delta: i16, flags: libc::c_int) -> libc::sembuf {
    libc::sembuf {
        sem_num: num,
        sem_op: delta,
        sem_flg: flags as libc::c_short,
    }
}

/// Perform `ops` atomically, waiting at most `timeout` (`None`: as long as it takes).
/// `EAGAIN`: the time ran out (or `IPC_NOWAIT` and it would block); `EIDRM`/`EINVAL`:
/// the set was removed.
pub fn semop(id: i32, ops: &mut [libc::sembuf], timeout: Option<Duration>) -> io::Result<()> {
    let rc = match timeout {
        Some(t) => {
            let ts = libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            };
            // SAFETY: ops and ts live across the call.
            unsafe { semtimedop(id, ops.as_mut_ptr(), ops.len(), &ts) }
        }
        // SAFETY: ops lives across the call.
        None => unsafe { libc::semop(id, ops.as_mut_ptr(), ops.len()) },
    };
    check(rc).map(|_| ())
}

/// Whether an error means the set no longer exists.
pub fn gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIDRM) | Some(libc::EINVAL))
}

/// One line of `/proc/sysvipc/sem`: every set on the host (in our IPC namespace).
#[derive(Debug, Clone, Copy)]
pub struct Listed {
    pub key: libc::key_t,
    pub id: i32,
    pub nsems: u64,
}

pub fn list() -> Vec<Listed> {
    let text = std::fs::read_to_string("/proc/sysvipc/sem").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Listed {
                key: f.first()?.parse::<i64>().ok()? as libc::key_t,
                id: f.get(1)?.parse().ok()?,
                nsems: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}
