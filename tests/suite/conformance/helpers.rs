//! Small pieces the scenarios share: running a command to its end, reading the interval
//! log that contenders write, checking that no two intervals overlap.

use std::process::{Command, Output};

/// Run to the end: (exit code, stdout, stderr).
pub fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run toozctl");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A shell snippet for COMMAND that appends `start <token> <ns>` and `end <token> <ns>`
/// (CLOCK_REALTIME, ns) around `body` to `log`; the token is `-` where none is handed out.
pub fn logged(log: &std::path::Path, body: &str) -> String {
    format!(
        "echo start ${{TOOZCTL_FENCING_TOKEN:--}} $$ $(date +%s%N) >> {l}; {body}; echo end ${{TOOZCTL_FENCING_TOKEN:--}} $$ $(date +%s%N) >> {l}",
        l = log.display()
    )
}

/// One COMMAND run as [`logged`] wrote it.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    /// `None` on a backend that hands out no fencing token (ipc).
    pub token: Option<u64>,
    pub start: u128,
    pub end: u128,
}

/// The intervals in `log`, in start order; panics on a start without an end.
pub fn intervals(log: &std::path::Path) -> Vec<Interval> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut open: std::collections::HashMap<String, (Option<u64>, u128)> = Default::default();
    let mut done = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (token, pid, t): (Option<u64>, &str, u128) = (
            (f[1] != "-").then(|| f[1].parse().expect("token")),
            f[2],
            f[3].parse().expect("time"),
        );
        match f[0] {
            "start" => {
                open.insert(pid.to_string(), (token, t));
            }
            _ => {
                let (tok, s) = open.remove(pid).expect("end without start");
                assert_eq!(tok, token, "token changed during one run:\n{text}");
                done.push(Interval {
                    token,
                    start: s,
                    end: t,
                });
            }
        }
    }
    assert!(open.is_empty(), "runs without an end:\n{text}");
    done.sort_by_key(|i| i.start);
    done
}

/// No two intervals overlap, and fencing tokens strictly increase in start order (where
/// the backend hands out tokens, every run has one; where it does not, none has).
pub fn assert_serial(iv: &[Interval]) {
    for w in iv.windows(2) {
        assert!(
            w[0].end <= w[1].start,
            "two holders at once: {:?} and {:?}",
            w[0],
            w[1]
        );
        assert_eq!(
            w[0].token.is_some(),
            w[1].token.is_some(),
            "a token for one run and none for another: {:?} then {:?}",
            w[0],
            w[1]
        );
        assert!(
            w[0].token <= w[1].token && (w[0].token.is_none() || w[0].token < w[1].token),
            "fencing tokens do not increase: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

/// A one-line `toozctl: ...` error, never a panic.
pub fn assert_one_line_error(stderr: &str) {
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "expected one line: {stderr:?}"
    );
    assert!(stderr.starts_with("toozctl: "), "{stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr:?}"
    );
}

/// The pid a COMMAND wrote into `path` (`echo $$ > path`), once it is there.
pub fn pid_in(path: &std::path::Path) -> u32 {
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(15), || {
            std::fs::read_to_string(path).is_ok_and(|s| s.ends_with('\n'))
        }),
        "{} never written",
        path.display()
    );
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Parse `-o json` output.
pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// JSON lines (`watch -o json`).
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(json)
        .collect()
}

/// toozctl on backend `url` holding lock `name` with a COMMAND that sleeps a minute, and
/// toozctl's pid (COMMAND's parent, written to `<tag>-ppid` in the fixture's home).
pub fn sleeping_holder(
    fx: &crate::support::fixture::Fx,
    url: &str,
    name: &str,
    tag: &str,
) -> (std::process::Child, u32) {
    let ppid = fx.home.path().join(format!("{tag}-ppid"));
    let script = format!("echo $PPID > {}; exec sleep 60", ppid.display());
    let holder = fx
        .cmd_on(url, &["lock", name, "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    (holder, pid_in(&ppid))
}

/// A TCP socket of another process (see [`tcp_sockets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    pub fd: i32,
    /// `socket:[N]`: the same socket under any descriptor.
    pub inode: String,
    pub nodelay: bool,
}

/// Each TCP socket of process `pid`: its descriptor there, its inode and whether
/// `TCP_NODELAY` is on,
/// read on a copy of it taken with `pidfd_getfd` (Linux 5.6; we are root or its parent).
pub fn tcp_sockets(pid: u32) -> std::io::Result<Vec<TcpSocket>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain system calls; a descriptor they return is owned from then on.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // closed meanwhile
        };
        if !target.as_os_str().as_bytes().starts_with(b"socket:") {
            continue;
        }
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if copy < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBADF) {
                continue; // closed meanwhile
            }
            return Err(e);
        }
        let copy = unsafe { OwnedFd::from_raw_fd(copy as i32) };
        if option(&copy, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP) {
            let on = option(&copy, libc::IPPROTO_TCP, libc::TCP_NODELAY);
            out.push(TcpSocket {
                fd,
                inode: target.to_string_lossy().into_owned(),
                nodelay: on.is_some_and(|v| v != 0),
            });
        }
    }
    Ok(out)
}

fn option(fd: &std::os::fd::OwnedFd, level: i32, name: i32) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}
