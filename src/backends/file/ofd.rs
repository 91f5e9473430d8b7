//! Linux open-file-description (OFD) record locks on whole files.
//!
//! tooz's file driver takes classic POSIX `fcntl` locks (through fasteners). OFD locks
//! conflict with those in both directions, and unlike classic POSIX locks they belong to
//! the open file description, so closing some other descriptor of the same file in this
//! process does not drop them, and threads do not share them by accident. `flock(2)` locks
//! (what fs2 takes) are a separate kind that does not conflict with either; we take one as
//! well so `flock(1)` users of the same file are excluded too.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::coordination::Wait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

fn flock_struct(kind: libc::c_short) -> libc::flock {
    // SAFETY: libc::flock is plain data; all-zero is a valid value we then fill in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // to EOF, i.e. the whole file, as tooz locks it
    fl
}

fn lock_type(kind: Kind) -> libc::c_short {
    match kind {
        Kind::Read => libc::F_RDLCK as libc::c_short,
        Kind::Write => libc::F_WRLCK as libc::c_short,
    }
}

fn fcntl(file: &File, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a properly initialised flock struct.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, fl as *mut libc::flock) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Try to take the lock without waiting: `Ok(false)` when someone else holds a conflicting one.
pub fn try_lock(file: &File, kind: Kind) -> io::Result<bool> {
    let mut fl = flock_struct(lock_type(kind));
    match fcntl(file, libc::F_OFD_SETLK, &mut fl) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Take the lock, blocking in the kernel until it is free (call from a blocking thread).
pub fn lock_wait(file: &File, kind: Kind) -> io::Result<()> {
    loop {
        let mut fl = flock_struct(lock_type(kind));
        match fcntl(file, libc::F_OFD_SETLKW, &mut fl) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Give the lock back explicitly (before close, so a watcher woken by the close finds it free).
pub fn unlock(file: &File) -> io::Result<()> {
    let mut fl = flock_struct(libc::F_UNLCK as libc::c_short);
    fcntl(file, libc::F_OFD_SETLK, &mut fl)
}

/// Who would block a lock of `kind`: `None` when free; `Some(pid)` for a classic POSIX
/// lock (tooz's), `Some(-1)` for an OFD lock (pids are not recorded for those).
pub fn blocker(file: &File, kind: Kind) -> io::Result<Option<(i32, Kind)>> {
    let mut fl = flock_struct(lock_type(kind));
    fcntl(file, libc::F_OFD_GETLK, &mut fl)?;
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        Ok(None)
    } else {
        let k = if fl.l_type == libc::F_RDLCK as libc::c_short {
            Kind::Read
        } else {
            Kind::Write
        };
        Ok(Some((fl.l_pid, k)))
    }
}

/// Sets the flag when the waiting future is dropped (cancelled or timed out), so the
/// blocking thread gives the lock straight back if the kernel grants it afterwards.
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Wait in the kernel, on a blocking thread, for `lock(&file)` until `wait` says stop;
/// `Ok(None)` when it ran out (at once for [`Wait::NoWait`]: no thread is started). If
/// the wait is abandoned and the kernel grants the lock later, `unlock` gives it back.
pub async fn wait_blocking(
    file: File,
    wait: Wait,
    lock: impl FnOnce(&File) -> io::Result<()> + Send + 'static,
    unlock: impl FnOnce(&File) + Send + 'static,
) -> io::Result<Option<File>> {
    if wait == Wait::NoWait {
        return Ok(None);
    }
    let abandoned = Arc::new(AtomicBool::new(false));
    let _guard = Abandon(abandoned.clone());
    let task = tokio::task::spawn_blocking(move || {
        let r = lock(&file);
        if abandoned.load(Ordering::SeqCst) {
            unlock(&file);
            return Err(io::Error::other("abandoned"));
        }
        r.map(|()| file)
    });
    let joined = match wait {
        Wait::NoWait | Wait::Forever => task.await,
        Wait::Until(deadline) => match tokio::time::timeout_at(deadline, task).await {
            Ok(j) => j,
            Err(_) => return Ok(None),
        },
    };
    joined
        .map_err(|e| io::Error::other(format!("lock wait thread failed: {e}")))?
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofd_locks_conflict_between_open_file_descriptions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let a = File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&p)
            .unwrap();
        let b = File::options().read(true).append(true).open(&p).unwrap();
        assert!(try_lock(&a, Kind::Write).unwrap());
        assert!(!try_lock(&b, Kind::Write).unwrap());
        assert!(!try_lock(&b, Kind::Read).unwrap());
        assert_eq!(
            blocker(&b, Kind::Read).unwrap().map(|(_, k)| k),
            Some(Kind::Write)
        );
        unlock(&a).unwrap();
        assert!(try_lock(&b, Kind::Read).unwrap());
        assert!(try_lock(&a, Kind::Read).unwrap(), "readers share");
        assert!(
            !try_lock(&a, Kind::Write).unwrap(),
            "a writer waits for the other reader"
        );
    }
}
