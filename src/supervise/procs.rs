//! COMMAND's process tree as `/proc` shows it, for when no cgroup contains it: every
//! process descended from COMMAND (through `ppid`, which works whatever process group or
//! session a descendant moved to), every member of COMMAND's process group, and every
//! process re-parented to toozctl (a child subreaper) once its parent died. Knows nothing of
//! signals or deadlines; `child.rs` decides what to do with the list.
//!
//! `/proc/<pid>/task/*/children` would be cheaper, but many kernels are built without it, so
//! the whole of `/proc` is read (a few hundred small files: about a millisecond).

use std::collections::{HashMap, HashSet};

/// One process as read from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    /// Clock ticks after boot; with `pid`, names a process even after its pid is reused.
    pub start: u64,
    pub zombie: bool,
}

impl Proc {
    /// The identity of a process: its pid and start time.
    pub fn id(&self) -> (i32, u64) {
        (self.pid, self.start)
    }
}

/// Parse a `/proc/<pid>/stat` line (the command name may hold spaces and parentheses).
pub fn parse_stat(line: &str) -> Option<Proc> {
    let (head, rest) = line.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?.parse().ok()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) pgrp(2) ... starttime(19).
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        zombie: matches!(*f.first()?, "Z" | "X"),
    })
}

/// One process, if it exists.
pub fn stat(pid: i32) -> Option<Proc> {
    parse_stat(&read_small(format!("/proc/{pid}/stat"))?)
}

/// The whole of a small file of `/proc` or of the cgroup filesystem: `open`, `read`s into
/// one 4 KiB buffer until end of file, `close`. `fs::read_to_string` also `statx`es the
/// file and, since these files give no size, starts with a 32-byte read and doubles it:
/// about eight system calls for `/proc/self/mountinfo`, against three here (issue 13).
pub fn read_small(path: impl AsRef<std::path::Path>) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// Every process on the machine (those that vanish while reading are skipped).
///
/// Three system calls per process (`openat` relative to `/proc`, one `read` into a buffer
/// on the stack, `close`), not the five of `fs::read_to_string` (which also `statx`es and
/// reads again to see the end): this runs at least once after every COMMAND.
pub fn scan() -> Vec<Proc> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // SAFETY: open(2) of a constant path; the descriptor is owned below.
    let proc_fd = unsafe {
        libc::open(
            c"/proc".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if proc_fd < 0 {
        return Vec::new();
    }
    // SAFETY: a fresh descriptor, owned (and closed) here.
    let proc_fd = unsafe { OwnedFd::from_raw_fd(proc_fd) };
    let mut path = [0u8; 32];
    let mut buf = [0u8; 1024];
    dir.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name();
        let digits = name.as_bytes();
        if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        path[..digits.len()].copy_from_slice(digits);
        path[digits.len()..digits.len() + 6].copy_from_slice(b"/stat\0");
        // SAFETY: openat(2) relative to our /proc descriptor, of a NUL-terminated path in a
        // buffer we own; the result is closed below.
        let fd = unsafe {
            libc::openat(
                proc_fd.as_raw_fd(),
                path.as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: read(2) into our buffer, then close(2) of the descriptor just opened.
        let n = unsafe {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n
        };
        if n <= 0 {
            return None;
        }
        // A stat line longer than the buffer (a very long name) is read the slow way.
        if n as usize == buf.len() {
            return stat(std::str::from_utf8(digits).ok()?.parse().ok()?);
        }
        parse_stat(&String::from_utf8_lossy(&buf[..n as usize]))
    })
    .collect()
}

/// What belongs to one COMMAND.
pub struct Scope<'a> {
    /// COMMAND's pid, which is also its process group id.
    pub root: i32,
    /// toozctl's pid: orphans re-parented to it belong to the tree.
    pub me: i32,
    /// Processes seen in the tree before (they stay in it when re-parented).
    pub known: &'a HashSet<(i32, u64)>,
    /// Pids claimed by other COMMANDs of this process (only tests run several): their
    /// roots and the processes seen in their trees, which are not our orphans.
    pub others: &'a HashSet<i32>,
}

/// The processes of the tree: descendants of the root, of known members and of orphans
/// re-parented to `me`, plus the root's process group. Zombies included (the caller reaps
/// or skips them).
pub fn tree(procs: &[Proc], scope: &Scope) -> Vec<Proc> {
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut seen: HashSet<i32> = HashSet::new();
    let mut stack: Vec<&Proc> = procs
        .iter()
        .filter(|p| {
            p.pid == scope.root
                || p.pgrp == scope.root
                || scope.known.contains(&p.id())
                || (p.ppid == scope.me && p.pid != scope.me && !scope.others.contains(&p.pid))
        })
        .collect();
    let mut out = Vec::new();
    while let Some(p) = stack.pop() {
        if p.pid == scope.me || !seen.insert(p.pid) {
            continue;
        }
        out.push(*p);
        stack.extend(children.get(&p.pid).into_iter().flatten().copied());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgrp: i32) -> Proc {
        Proc {
            pid,
            ppid,
            pgrp,
            start: pid as u64,
            zombie: false,
        }
    }

    fn pids(v: Vec<Proc>) -> Vec<i32> {
        let mut v: Vec<i32> = v.into_iter().map(|p| p.pid).collect();
        v.sort();
        v
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let l = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 991 0 0";
        let p = parse_stat(l).unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.pgrp, p.start, p.zombie),
            (4242, 17, 4242, 991, false)
        );
        let z = "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        assert!(parse_stat(z).unwrap().zombie);
    }

    #[test]
    fn the_tree_follows_parents_across_sessions_groups_and_orphans() {
        // 1 = init, 10 = toozctl, 20 = COMMAND (group 20); 21 in the group; 22 setsid'ed
        // child of 20 with its own child 23; 30 an orphan re-parented to toozctl with child
        // 31; 40 a known member re-parented to init (a subreaper elsewhere); 50 and 60 are
        // strangers; 70 is another COMMAND's root, with 71 below it.
        let procs = vec![
            p(1, 0, 1),
            p(10, 1, 10),
            p(20, 10, 20),
            p(21, 20, 20),
            p(22, 20, 22),
            p(23, 22, 22),
            p(30, 10, 30),
            p(31, 30, 31),
            p(40, 1, 40),
            p(41, 40, 40),
            p(50, 1, 50),
            p(60, 50, 60),
            p(70, 10, 70),
            p(71, 70, 70),
        ];
        let known: HashSet<(i32, u64)> = [(40, 40)].into_iter().collect();
        let scope = Scope {
            root: 20,
            me: 10,
            known: &known,
            others: &[70, 71].into(),
        };
        assert_eq!(
            pids(tree(&procs, &scope)),
            vec![20, 21, 22, 23, 30, 31, 40, 41]
        );
    }

    #[test]
    fn a_reused_pid_is_not_known() {
        let procs = vec![p(1, 0, 1), p(10, 1, 10), p(40, 1, 40)];
        let known: HashSet<(i32, u64)> = [(40, 999)].into_iter().collect();
        let scope = Scope {
            root: 20,
            me: 10,
            known: &known,
            others: &HashSet::new(),
        };
        assert!(tree(&procs, &scope).is_empty());
    }
}
