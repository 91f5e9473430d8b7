//! `toozctl check` on the file backend: the directory's owner and mode (who can take and
//! break locks), its file system (network and FUSE file systems weaken locks and inotify;
//! tmpfs forgets fencing counters at reboot), whether inotify works. Reads only: nothing is
//! created, not even the directory.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::FileCoordinator;
use crate::coordination::check::Finding;
use crate::coordination::Result;

/// `statfs(2)` magic numbers of the file systems that matter here.
const NFS: i64 = 0x6969;
const SMB: i64 = 0x517B;
const CIFS: i64 = 0xFF53_4D42;
const SMB2: i64 = 0xFE53_4D42;
const FUSE: i64 = 0x6573_5546;
const TMPFS: i64 = 0x0102_1994;
const RAMFS: i64 = 0x8584_58F6;

fn fs_type(path: &Path) -> Option<i64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid C string and an out-parameter of the right type.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    (r == 0).then_some(st.f_type as i64)
}

/// The file-system finding for a `statfs` magic number.
pub(super) fn file_system(magic: Option<i64>) -> Finding {
    const CHECK: &str = "file system";
    let Some(m) = magic else {
        return Finding::warn(
            CHECK,
            "unknown",
            "statfs failed: cannot tell whether locks are local",
        );
    };
    match m {
        NFS => Finding::warn(
            CHECK,
            "NFS",
            "locks depend on the NFS lock manager (lost on a client or server reboot without notice), inotify does not see other clients' changes (waits fall back to polling), and flock may be emulated with fcntl; use a server backend for several machines",
        ),
        SMB | CIFS | SMB2 => Finding::warn(
            CHECK,
            "SMB/CIFS",
            "byte-range locks follow SMB semantics, not POSIX; inotify does not see other clients' changes",
        ),
        FUSE => Finding::warn(
            CHECK,
            "FUSE",
            "whether fcntl/flock locks and inotify work depends on the FUSE file system",
        ),
        TMPFS | RAMFS => Finding::warn(
            CHECK,
            "tmpfs",
            "forgotten at reboot: fencing counters start again from 1 and once-per records are lost (locks themselves need no persistence)",
        ),
        other => Finding::ok(
            CHECK,
            format!("local (statfs magic {other:#x})"),
            "OFD and flock locks are kept by this machine's kernel",
        ),
    }
}

/// The directory's owner and mode.
pub(super) fn directory(path: &Path, meta: &std::fs::Metadata) -> Finding {
    const CHECK: &str = "directory";
    let mode = meta.mode() & 0o7777;
    let value = format!(
        "{} owner uid {} gid {} mode {mode:04o}",
        path.display(),
        meta.uid(),
        meta.gid()
    );
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        Finding::warn(
            CHECK,
            value,
            "everyone can write it without the sticky bit: toozctl refuses it (chmod o-w or +t)",
        )
    } else if mode & 0o002 != 0 {
        Finding::warn(
            CHECK,
            value,
            "everyone can create locks here (sticky: not remove others' files); toozctl refuses others' files, but any user can block a lock name",
        )
    } else if mode & 0o020 != 0 {
        Finding::ok(
            CHECK,
            value,
            format!(
                "members of group {} can take locks here; others cannot write",
                meta.gid()
            ),
        )
    } else {
        Finding::ok(
            CHECK,
            value,
            "only its owner (and root) can take locks here",
        )
    }
}

fn inotify() -> Finding {
    // SAFETY: inotify_init1 with valid flags; the descriptor is closed at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd >= 0 {
        unsafe { libc::close(fd) };
        Finding::ok(
            "inotify",
            "available",
            "waiters and watches wake at once on changes",
        )
    } else {
        Finding::warn(
            "inotify",
            format!("unavailable ({})", std::io::Error::last_os_error()),
            "waiters and watches fall back to polling",
        )
    }
}

pub(super) async fn check(c: &FileCoordinator) -> Result<Vec<Finding>> {
    let path = std::path::PathBuf::from(&c.url.path);
    let mut out = Vec::new();
    match std::fs::metadata(&path) {
        Ok(meta) => {
            out.push(directory(&path, &meta));
            out.push(file_system(fs_type(&path)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.push(Finding::info(
                "directory",
                format!("{} (missing)", path.display()),
                "created on the first write (mode 0775, umask applies)",
            ));
            let parent = path
                .ancestors()
                .find(|p| p.exists())
                .unwrap_or(Path::new("/"));
            out.push(file_system(fs_type(parent)));
        }
        Err(e) => out.push(Finding::warn(
            "directory",
            path.display().to_string(),
            format!("cannot stat it: {e}"),
        )),
    }
    out.push(inotify());
    out.push(Finding::info(
        "clock",
        "this machine's",
        "one machine, one clock: --once-per and holder records use it",
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::check::Level;

    #[test]
    fn network_file_systems_warn() {
        assert_eq!(file_system(Some(NFS)).level, Level::Warn);
        assert!(file_system(Some(NFS)).value.contains("NFS"));
        assert_eq!(file_system(Some(0xEF53)).level, Level::Ok);
        assert_eq!(file_system(Some(TMPFS)).level, Level::Warn);
    }
}
