//! Inspecting and repairing file locks: `locks()` lists every lock file under `DIR` with its
//! holders (our records under `DIR/.toozctl/locks/`, else whoever the kernel says holds a
//! POSIX `fcntl` lock on it: tooz; else a `flock(2)` holder found in `/proc/locks`), and `break_lock()`, which cannot take a lock away from a
//! live process (the kernel holds it for that process), so it names the holder instead.

use super::local::{command_line, hostname};
use super::lock::{foreign_holder, holders_of};
use super::ofd::{self, Kind};
use super::safefs::{self, Dir, Open, Root};
use super::{FileCoordinator, RESERVED};
use crate::coordination::{Error, Holder, LockInfo, Result};

/// Lock names under `DIR`: every regular file outside the reserved names, as a path
/// relative to `DIR` (tooz never deletes lock files, so free locks are listed too).
/// Symbolic links are neither listed nor followed. A subdirectory that cannot be opened
/// or read, or is on another file system, is added to `skipped` (why), not an error.
fn lock_names(root: &Dir, skipped: &mut Vec<String>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let device = root.device()?;
    let mut pending = vec![(String::new(), root.clone())];
    while let Some((prefix, dir)) = pending.pop() {
        let entries = match dir.entries() {
            Ok(e) => e,
            Err(e) if !prefix.is_empty() => {
                skipped.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        for (file, is_dir) in entries {
            if prefix.is_empty() && RESERVED.contains(&file.as_str()) {
                continue;
            }
            let name = if prefix.is_empty() {
                file.clone()
            } else {
                format!("{prefix}/{file}")
            };
            if is_dir {
                // Another file system mounted inside DIR (`file:///` has /proc and /sys)
                // is not walked, as `find -xdev`.
                match dir.sub(&file, false) {
                    Ok(Some(sub)) => match sub.device() {
                        Ok(dev) if dev == device => pending.push((name, sub)),
                        Ok(_) => skipped.push(format!(
                            "{} is another file system (a mount point inside the backend directory)",
                            safefs::short(&sub.path().to_string_lossy())
                        )),
                        Err(e) => skipped.push(e.to_string()),
                    },
                    Ok(None) => {}
                    Err(e) => skipped.push(e.to_string()),
                }
            } else if matches!(dir.stat(&file), Ok(Some(s)) if s.is_file) {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The last fencing token handed out for lock `name`.
fn last_token(root: &Dir, name: &str) -> Option<u64> {
    let meta = root.sub(&super::meta_rel(name), false).ok()??;
    String::from_utf8(meta.read("token").ok()??)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Who holds the lock file `name` when no toozctl record says so.
fn kernel_holder(root: &Dir, name: &str) -> Result<Option<Holder>> {
    let (d, fname) = safefs::split(name);
    let Some(dir) = root.sub(d, false)? else {
        return Ok(None);
    };
    let Some(f) = dir.open(fname, Open::Read)? else {
        return Ok(None);
    };
    let path = dir.shown(fname);
    let blocker =
        ofd::blocker(&f, Kind::Write).map_err(|e| safefs::os_error("cannot inspect", &path, e))?;
    let flock = || {
        use std::os::unix::fs::MetadataExt;
        f.metadata()
            .ok()
            .and_then(|m| flock_holder(m.dev(), m.ino()))
    };
    Ok(match blocker {
        // An OFD lock names no process; a flock(2) lock beside it may.
        Some((pid, kind)) if pid > 0 || flock().is_none() => {
            let mut h = foreign_holder(pid);
            if kind == Kind::Read {
                h.mode = Some("shared".into());
            }
            Some(h)
        }
        _ => flock().map(|(pid, write)| Holder {
            pid: Some(pid),
            host: hostname(),
            command: command_line(pid),
            mode: (!write).then(|| "shared".to_string()),
            note: Some("holds a flock(2) lock (flock(1)?)".into()),
            ..Holder::default()
        }),
    })
}

/// The process holding a `flock(2)` lock on the file `(dev, ino)`, from `/proc/locks`
/// (which, unlike `F_OFD_GETLK`, sees flock locks and names their process), and whether
/// it is a write lock.
fn flock_holder(dev: u64, ino: u64) -> Option<(u32, bool)> {
    let want = (libc::major(dev) as u64, libc::minor(dev) as u64, ino);
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    for line in table.lines() {
        // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:10035382 0 EOF"; waiters have "->".
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" {
            continue;
        }
        let mut id = f[5].split(':');
        let parsed = (
            id.next().and_then(|x| u64::from_str_radix(x, 16).ok()),
            id.next().and_then(|x| u64::from_str_radix(x, 16).ok()),
            id.next().and_then(|x| x.parse::<u64>().ok()),
        );
        if parsed != (Some(want.0), Some(want.1), Some(want.2)) {
            continue;
        }
        if let Ok(pid) = f[4].parse::<u32>() {
            return Some((pid, f[3] == "WRITE"));
        }
    }
    None
}

/// What is known of lock `name`: our live holder records, else whoever holds the lock
/// file in the kernel (a tooz client's POSIX lock, an OFD lock, a `flock(1)` user).
/// Reads only: nothing is created or cleaned up.
pub(super) fn info(root: &Root, name: &str) -> Result<LockInfo> {
    let mut holders = holders_of(root, name)?;
    let dir = root.read()?;
    if holders.is_empty() {
        if let Some(d) = &dir {
            holders.extend(kernel_holder(d, name)?);
        }
    }
    Ok(LockInfo {
        name: name.to_string(),
        holders,
        ttl: None,
        fencing_token: dir.as_ref().and_then(|d| last_token(d, name)),
    })
}

pub(super) fn locks(c: &FileCoordinator) -> Result<(Vec<LockInfo>, Vec<String>)> {
    let Some(root) = c.root.read()? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut listed = Vec::new();
    let mut skipped = Vec::new();
    for name in lock_names(&root, &mut skipped)? {
        // A file in DIR that we may not open (another user's, mode 600, planted in a
        // shared directory) must not hide every other lock: it is left out and said so.
        match info(&c.root, &name) {
            Ok(i) => listed.push(i),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    Ok((listed, skipped_warnings(skipped)))
}

/// One warning per lock file left out, or one for all of them past [`SKIPPED_SHOWN`].
fn skipped_warnings(skipped: Vec<String>) -> Vec<String> {
    const SKIPPED_SHOWN: usize = 3;
    let n = skipped.len();
    if n <= SKIPPED_SHOWN {
        return skipped
            .into_iter()
            .map(|e| format!("not listed: {e}"))
            .collect();
    }
    vec![format!(
        "{n} entries under the backend directory could not be inspected and are not listed; the first {SKIPPED_SHOWN}: {}",
        skipped[..SKIPPED_SHOWN].join("; ")
    )]
}

/// Nothing to break: `Ok(empty)`. Held: an error naming the holders and how to free it.
pub(super) fn break_lock(c: &FileCoordinator, name: &str) -> Result<Vec<Holder>> {
    c.lock_file(name)?;
    let held = info(&c.root, name)?.holders;
    if held.is_empty() {
        return Ok(held);
    }
    let pids: Vec<String> = held
        .iter()
        .filter_map(|h| h.pid)
        .map(|p| p.to_string())
        .collect();
    let who: Vec<String> = held.iter().map(Holder::to_string).collect();
    let mut how = match pids.len() {
        0 => "stop the process that holds it".to_string(),
        1 => format!("stop that process (kill {})", pids[0]),
        _ => format!("stop those processes (kill {})", pids.join(" ")),
    };
    if held.iter().any(|h| h.member_id.is_some()) {
        how.push_str("; toozctl forwards SIGTERM to its COMMAND and releases once it has exited");
    }
    Err(Error::Unsupported(format!(
        "cannot break lock '{name}' on the file backend: it is held by {}, and the kernel frees it only \
         when the holder unlocks or exits; to free it, {how}",
        who.join("; ")
    )))
}
