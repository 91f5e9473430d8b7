//! A cgroup v2 of COMMAND's own, where toozctl may create one: root with a writable cgroup2
//! hierarchy, or a user given a delegated subtree (systemd's `Delegate=yes`, `systemd-run
//! --user --scope -p Delegate=yes`). COMMAND is started inside it (`clone3` with
//! `CLONE_INTO_CGROUP`, see `spawn.rs`; else it enters it between fork and exec), so every
//! descendant is born inside it whatever it does to its process group or session, and
//! `cgroup.kill` (Linux 5.14) kills all of them at once, with no fork race. Anything that
//! fails here is silent: the caller falls back to walking `/proc` (see `procs.rs`).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::procs::read_small;

/// A cgroup created for one COMMAND; removed when dropped (once empty).
pub struct Cgroup {
    dir: PathBuf,
    procs: File,
    /// The directory itself, for `clone3(CLONE_INTO_CGROUP)` (see `spawn.rs`).
    handle: File,
}

/// Where the cgroup2 hierarchy is mounted and the mount's root inside it.
fn cgroup2_mount() -> Option<(PathBuf, String)> {
    let info = read_small("/proc/self/mountinfo")?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        Some((PathBuf::from(f.get(4)?), f.get(3)?.to_string()))
    })
}

/// Where systemd and most distributions mount the cgroup2 hierarchy: alone (unified), or
/// beside the v1 hierarchies (hybrid).
const USUAL_MOUNTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// A usual mount of the whole cgroup2 hierarchy, found without reading
/// `/proc/self/mountinfo`: the kernel builds that file afresh at every read, path by path,
/// and it took ~85 µs of a 2.5 ms `toozctl lock NAME -- true` (issue 13), against a few µs
/// for a `statfs` and a `stat` here. A cgroup2 filesystem at one of [`USUAL_MOUNTS`] whose
/// directory is inode 1 (kernfs numbers the root of a hierarchy 1) shows the whole
/// hierarchy, so the mount's root is `/` and the mountinfo answer would be the same
/// directory. Anything else (a cgroup namespace's subtree mounted, a mount elsewhere) is
/// left to [`cgroup2_mount`].
fn usual_mount() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    USUAL_MOUNTS.iter().find_map(|m| {
        let fs = nix::sys::statfs::statfs(*m).ok()?;
        (fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC
            && std::fs::metadata(m).ok()?.ino() == 1)
            .then(|| PathBuf::from(m))
    })
}

/// Our own cgroup's directory, when the cgroup2 hierarchy is mounted and shows it.
fn own_dir() -> Option<PathBuf> {
    let (mount, root) = match usual_mount() {
        Some(m) => (m, "/".to_string()),
        None => cgroup2_mount()?,
    };
    own_dir_in(&mount, &root)
}

/// Our own cgroup's directory in the cgroup2 hierarchy mounted at `mount`, whose root is
/// `root` inside the hierarchy.
fn own_dir_in(mount: &Path, root: &str) -> Option<PathBuf> {
    let own = read_small("/proc/self/cgroup")?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let rel = path.strip_prefix(root).unwrap_or(path);
    Some(mount.join(rel.trim_start_matches('/')))
}

impl Cgroup {
    /// Create `toozctl-<pid>-<n>` below our own cgroup; `None` where we may not.
    pub fn create() -> Option<Cgroup> {
        static N: AtomicU32 = AtomicU32::new(0);
        let parent = own_dir()?;
        let dir = parent.join(format!(
            "toozctl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).ok()?;
        let opened = File::options()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .and_then(|p| {
                use std::os::unix::fs::OpenOptionsExt;
                let h = File::options()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY)
                    .open(&dir)?;
                Ok((p, h))
            });
        let cg = match opened {
            Ok((procs, handle)) => Cgroup { procs, handle, dir },
            Err(_) => {
                let _ = std::fs::remove_dir(&dir);
                return None;
            }
        };
        cg.dir.join("cgroup.kill").exists().then_some(cg)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The `cgroup.procs` descriptor a child writes "0" to, between fork and exec.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// A descriptor of the cgroup's directory, to start a child inside it.
    pub fn dir_fd(&self) -> RawFd {
        self.handle.as_raw_fd()
    }

    /// The pids inside (empty when it cannot be read).
    pub fn pids(&self) -> Vec<i32> {
        read_small(self.dir.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// SIGKILL every process inside, atomically with respect to forks.
    pub fn kill(&self) {
        if let Ok(mut f) = File::options()
            .write(true)
            .open(self.dir.join("cgroup.kill"))
        {
            let _ = f.write_all(b"1");
        }
    }
}

/// Remove the empty cgroups of toozctl processes that died without removing theirs
/// (killed with SIGKILL). A cgroup that still holds processes cannot be removed, so what a
/// killed toozctl's COMMAND still runs is left alone.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("toozctl-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// A cgroup made ahead of COMMAND (see [`Prepared`]): `None` when none was asked for,
/// `Some(None)` when making one failed (then it is not tried again).
static PREPARED: std::sync::Mutex<Option<Option<Cgroup>>> = std::sync::Mutex::new(None);

fn prepared() -> std::sync::MutexGuard<'static, Option<Option<Cgroup>>> {
    PREPARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// COMMAND's cgroup, made before the primitive is taken rather than after: a waiter makes
/// it while it queues, so that a hand-off no longer waits for the `mkdir` in cgroupfs and
/// the look for the mount (issue 13). Kept for the next [`Cgroup::create_or_prepared`];
/// removed when this is dropped if no COMMAND took it (a cancelled wait, a conflict).
pub struct Prepared(());

impl Prepared {
    pub fn make() -> Prepared {
        let cg = Cgroup::create();
        *prepared() = Some(cg);
        Prepared(())
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let unused = prepared().take();
        drop(unused);
    }
}

impl Cgroup {
    /// The cgroup made ahead ([`Prepared`]) if there is one, else a new one.
    pub fn create_or_prepared() -> Option<Cgroup> {
        let ahead = prepared().take();
        match ahead {
            Some(cg) => cg,
            None => Cgroup::create(),
        }
    }
}

/// Move the calling process into the cgroup whose `cgroup.procs` is `fd`. Only
/// async-signal-safe calls: it runs between fork and exec.
pub fn enter(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: write(2) on a descriptor we own, from a buffer that outlives the call.
    let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    if n == 1 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Killed processes leave the cgroup a moment after they die.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // What toozctls killed with SIGKILL left: looked for here, after the primitive
        // was given back, rather than before COMMAND starts (issue 13).
        if let Some(parent) = self.dir.parent() {
            remove_stale(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut past mountinfo names the very directory mountinfo leads to.
    #[test]
    fn the_usual_mount_gives_the_directory_mountinfo_gives() {
        let Some(usual) = usual_mount() else {
            // No cgroup2 at a usual place, or only a subtree of it: mountinfo decides.
            return;
        };
        let (mount, root) = cgroup2_mount().expect("a cgroup2 mount in mountinfo");
        assert_eq!(
            own_dir_in(&usual, "/").map(|d| std::fs::canonicalize(d).ok()),
            own_dir_in(&mount, &root).map(|d| std::fs::canonicalize(d).ok()),
        );
        assert!(own_dir_in(&usual, "/").is_some_and(|d| d.join("cgroup.procs").exists()));
    }
}
