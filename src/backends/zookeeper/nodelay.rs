//! `TCP_NODELAY` on the session's socket, which the client library (zookeeper-client
//! 0.11) opens without it and offers no hook to set.
//!
//! Without it, Nagle's algorithm holds a small request back while an earlier one is not
//! yet acknowledged, and ZooKeeper acknowledges with its answer: requests we pipeline are
//! sent one answer apart. A release sends a read, the delete and the session's close
//! together (see `lock::ZkHeld::give_back`); traced on loopback, the delete left 0.9 ms
//! after the read, when the read's answer came, and the next waiter heard of the delete
//! that much later. The server sets the option on its side (answers were never held).
//!
//! The library's socket is found among our own descriptors: every TCP socket of this
//! process gets the option (a process talks to one backend, and every other client we
//! use sets it already). A descriptor closed and reused meanwhile is at worst another
//! socket of ours given the same option, or not a socket (the call fails, ignored).

use std::os::unix::ffi::OsStrExt;

/// Set `TCP_NODELAY` on every TCP socket of this process that lacks it. Called once the
/// session is connected, and again after the library reconnects it (a new socket).
pub(super) fn apply() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return; // no /proc: requests are only slower
    };
    for entry in dir.flatten() {
        let Some(fd) = std::str::from_utf8(entry.file_name().as_bytes())
            .ok()
            .and_then(|s| s.parse::<libc::c_int>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.as_os_str().as_bytes().starts_with(b"socket:"));
        if is_socket
            && int_option(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP)
            && int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY) == Some(0)
        {
            let one: libc::c_int = 1;
            // SAFETY: `one` outlives the call, and its size is passed.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

/// An integer socket option of `fd`, or `None` when it has none (not a socket, closed).
fn int_option(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call, and `len` is `value`'s size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(value)
}
