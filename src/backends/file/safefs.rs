//! Every file-system access of the file backend, relative to directory handles.
//!
//! The backend directory may be shared with other users (a sticky `/tmp/S`, an OpenStack
//! service's lock directory worked in with `sudo`). So the backend directory is opened once
//! ([`Root`]) and everything below it is reached with `openat`/`mkdirat`/`unlinkat`/
//! `renameat`/`fstatat` from the handle of its parent directory, every component with
//! `O_NOFOLLOW` (and `O_CLOEXEC`). The backend creates no symbolic links, so it follows none:
//! a symlink anywhere under the directory is refused, never followed, and nothing is ever
//! deleted through a symlinked directory (the handle is the directory itself).
//!
//! What we write into (and lock) must be a regular file with one link (`st_nlink == 1`:
//! no hard link to a file elsewhere), owned by a trusted user: the caller, root, or the
//! backend directory's owner (who controls the directory anyway). Directories we write into
//! must be owned by a trusted user too. A directory that everyone can write without the
//! sticky bit — the backend directory, one of its parents or one of its sub-directories —
//! is refused, as OpenSSH's `StrictModes` refuses it: anyone could replace its entries.
//! Reading follows no symlink either and opens only regular files, but reads files of
//! any owner (tooz clients of other users write the records we list).
//!
//! When root works in a directory owned by another user (`sudo toozctl` in
//! `/var/lib/nova/locks`), everything it creates is given to that directory's owner and
//! group (`fchown` right after creating, on the descriptor or with `AT_SYMLINK_NOFOLLOW`),
//! so the service that owns the directory can still open, lock and delete it. `fchown`
//! after create rather than switching `fsuid`: `setfsuid` is per thread and our blocking
//! calls run on a pool of threads, so a forgotten switch back would leak into unrelated
//! work; a created file is ours alone until it gets its real name, so the change of owner
//! is not observable half-done (files created in place, such as lock files, are created
//! with `O_EXCL` and changed before they are used).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::coordination::{Error, Result};

/// Who may own what we write into, and whom we give what we create.
#[derive(Debug)]
struct Policy {
    /// Owner and group to give created entries (root in another user's directory).
    chown: Option<(u32, u32)>,
    /// Trusted owners: the caller, root, the backend directory's owner.
    trusted: Vec<u32>,
}

/// A directory handle under (or at) the backend directory.
#[derive(Clone, Debug)]
pub(super) struct Dir {
    fd: Arc<OwnedFd>,
    /// For messages only, never opened by name.
    path: PathBuf,
    policy: Arc<Policy>,
}

/// How to open a file.
#[derive(Clone, Copy, Debug)]
pub(super) enum Open {
    /// Read only; any owner; must be a regular file.
    Read,
    /// As `ReadWrite`, creating it (mode less the umask) when missing.
    Create(u32),
    /// Read and append, creating it (mode less the umask) when missing: a lock file as
    /// fasteners opens it.
    LockFile(u32),
}

fn cstr(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::InvalidName(format!("{} contains NUL", short(name))))
}

/// A name or path shortened for messages: the first 60 characters, `…` and the length.
pub(super) fn short(s: &str) -> String {
    if s.chars().count() <= 80 {
        return s.to_string();
    }
    let head: String = s.chars().take(60).collect();
    format!("{head}…({} bytes)", s.len())
}

fn shown(p: &Path) -> String {
    short(&p.to_string_lossy())
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is valid plain data; fstat fills it for a valid fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn is_world_writable_unsticky(st: &libc::stat) -> bool {
    st.st_mode & 0o002 != 0 && st.st_mode & libc::S_ISVTX == 0
}

fn kind_of(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symbolic link",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "of an unknown type",
    }
}

/// Map an operating-system error on `path` to one of ours: what the name itself makes
/// impossible is bad input (exit 2), the rest makes the backend unavailable (exit 69).
pub(super) fn os_error(what: &str, path: &Path, e: io::Error) -> Error {
    let p = shown(path);
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EMLINK) => Error::InvalidInput(format!(
            "refusing {p}: it is a symbolic link, and the file backend follows none (it creates none; someone else put it there)"
        )),
        Some(libc::ENAMETOOLONG) => {
            Error::InvalidName(format!("{what} {p}: the name is too long for the file system"))
        }
        Some(libc::ENOTDIR) => Error::InvalidName(format!(
            "{what} {p}: a part of the path is a file, not a directory (a lock 'a' and a lock 'a/b' cannot both exist)"
        )),
        Some(libc::EISDIR) => Error::InvalidName(format!(
            "{what} {p}: it is a directory (a lock 'a/b' exists, so 'a' cannot be a lock too)"
        )),
        _ => Error::Unavailable(format!("{what} {p}: {e}")),
    }
}

fn refuse(path: &Path, why: &str) -> Error {
    Error::InvalidInput(format!("refusing {}: {why}", shown(path)))
}

/// Open (and check) the backend directory. `create`: make it when missing (else `None`).
pub(super) fn open_root(path: &Path, create: bool) -> Result<Option<Dir>> {
    // Symbolic links in the configured path itself are the operator's choice (/var/run ->
    // /run): resolve the part that exists, then walk it from '/' without following any.
    let (real, missing) = resolve_existing(path)?;
    let mut fd = open_dir_at(libc::AT_FDCWD, "/", Path::new("/"))?;
    let mut at = PathBuf::from("/");
    check_dir_mode(&fd, &at)?;
    let comps: Vec<String> = real
        .components()
        .chain(missing.components())
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for comp in comps {
        let next = at.join(&comp);
        let opened = match open_dir_at(fd.as_raw_fd(), &comp, &next) {
            Ok(f) => f,
            Err(Error::NotFound(_)) if create => {
                let parent = fstat(fd.as_raw_fd()).map_err(|e| os_error("cannot stat", &at, e))?;
                let c = cstr(&comp)?;
                // SAFETY: a valid directory fd and C string.
                match cvt(unsafe { libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), 0o775) }) {
                    Ok(_) => {
                        // Root creating inside another user's directory gives it to them.
                        if nix::unistd::geteuid().is_root() && parent.st_uid != 0 {
                            chown_at(fd.as_raw_fd(), &c, parent.st_uid, parent.st_gid, &next)?;
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(os_error("cannot create backend directory", &next, e)),
                }
                open_dir_at(fd.as_raw_fd(), &comp, &next)?
            }
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        check_dir_mode(&opened, &next)?;
        fd = opened;
        at = next;
    }
    let st = fstat(fd.as_raw_fd()).map_err(|e| os_error("cannot stat", &at, e))?;
    let euid = nix::unistd::geteuid().as_raw();
    let chown = (euid == 0 && st.st_uid != 0).then_some((st.st_uid, st.st_gid));
    let mut trusted = vec![euid, 0, st.st_uid];
    trusted.dedup();
    Ok(Some(Dir {
        fd: Arc::new(fd),
        path: at,
        policy: Arc::new(Policy { chown, trusted }),
    }))
}

/// The configured path with its symbolic links resolved: the resolved existing part, and
/// the missing rest. A link is followed only when root or the caller owns it: one that
/// another user planted (say `/tmp/S -> /victim`, before the operator made `/tmp/S`) is
/// refused, whatever `fs.protected_symlinks` says.
fn resolve_existing(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let euid = nix::unistd::geteuid().as_raw();
    let mut todo: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut real = PathBuf::from("/");
    let mut hops = 0;
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            real.pop();
            continue;
        }
        let next = real.join(&comp);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(_) => {
                let rest: PathBuf = std::iter::once(comp)
                    .chain(todo.into_iter().rev())
                    .collect();
                return Ok((real, rest));
            }
        };
        if !meta.file_type().is_symlink() {
            real = next;
            continue;
        }
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != 0 && meta.uid() != euid {
            return Err(refuse(
                &next,
                &format!(
                    "it is a symbolic link of uid {}, not of root or yours, so it may point anywhere someone else chose",
                    meta.uid()
                ),
            ));
        }
        hops += 1;
        if hops > 40 {
            return Err(os_error(
                "cannot resolve",
                path,
                io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        let target = std::fs::read_link(&next).map_err(|e| os_error("cannot read", &next, e))?;
        if target.is_absolute() {
            real = PathBuf::from("/");
        }
        for c in target.components().rev() {
            match c {
                Component::Normal(n) => todo.push(n.to_os_string()),
                Component::ParentDir => todo.push("..".into()),
                _ => {}
            }
        }
    }
    Ok((real, PathBuf::new()))
}

/// A world-writable directory without the sticky bit lets anyone replace our files.
fn check_dir_mode(fd: &OwnedFd, path: &Path) -> Result<()> {
    let st = fstat(fd.as_raw_fd()).map_err(|e| os_error("cannot stat", path, e))?;
    if is_world_writable_unsticky(&st) {
        let p = shown(path);
        return Err(Error::InvalidInput(format!(
            "refusing the file backend in {p}: everyone can write {p} (mode {:o}) and it has no sticky bit, so any user could replace the lock files; fix it with 'chmod o-w {p}' or 'chmod +t {p}'",
            st.st_mode & 0o7777
        )));
    }
    Ok(())
}

fn open_dir_at(dirfd: RawFd, name: &str, path: &Path) -> Result<OwnedFd> {
    let c = cstr(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory fd (or AT_FDCWD) and C string.
    match cvt(unsafe { libc::openat(dirfd, c.as_ptr(), flags) }) {
        // SAFETY: a fresh fd we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            Err(Error::NotFound(format!("{} does not exist", shown(path))))
        }
        Err(e)
            if e.raw_os_error() == Some(libc::ENOTDIR) || e.raw_os_error() == Some(libc::ELOOP) =>
        {
            // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: tell which it is.
            match lstat_at(dirfd, &c) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    Err(os_error("cannot open", path, io::Error::from_raw_os_error(libc::ELOOP)))
                }
                Ok(st) => Err(Error::InvalidName(format!(
                    "cannot use {} as a directory: it is {} (a lock 'a' and a lock 'a/b' cannot both exist)",
                    shown(path),
                    kind_of(&st)
                ))),
                Err(e) => Err(os_error("cannot open", path, e)),
            }
        }
        Err(e) => Err(os_error("cannot open", path, e)),
    }
}

fn lstat_at(dirfd: RawFd, c: &CString) -> io::Result<libc::stat> {
    // SAFETY: zeroed plain data, a valid fd and C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstatat(dirfd, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn chown_at(dirfd: RawFd, c: &CString, uid: u32, gid: u32, path: &Path) -> Result<()> {
    // SAFETY: a valid fd and C string; AT_SYMLINK_NOFOLLOW changes the entry itself.
    cvt(unsafe { libc::fchownat(dirfd, c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(|_| ())
        .map_err(|e| os_error("cannot give to the directory's owner", path, e))
}

/// File metadata read without following a symbolic link.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mtime: std::time::SystemTime,
    pub is_file: bool,
}

fn to_stat(st: &libc::stat) -> Stat {
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            st.st_mtime.max(0) as u64,
            st.st_mtime_nsec.clamp(0, 999_999_999) as u32,
        );
    Stat {
        dev: st.st_dev,
        ino: st.st_ino,
        mtime,
        is_file: st.st_mode & libc::S_IFMT == libc::S_IFREG,
    }
}

/// dev and inode of an open file.
pub(super) fn identity(f: &File) -> io::Result<(u64, u64)> {
    let st = fstat(f.as_raw_fd())?;
    Ok((st.st_dev, st.st_ino))
}

impl Dir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `/proc/self/fd/N`: the directory itself, for APIs that take a path (inotify).
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The path of an entry, for messages.
    pub fn shown(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The file system (device number) this directory is on.
    pub fn device(&self) -> Result<u64> {
        let st = fstat(self.fd.as_raw_fd()).map_err(|e| os_error("cannot stat", &self.path, e))?;
        Ok(st.st_dev)
    }

    fn trusted(&self, st: &libc::stat) -> bool {
        self.policy.trusted.contains(&st.st_uid)
    }

    /// The sub-directory `rel` (components separated by `/`). `create`: make what is
    /// missing (we will write there, so it must be ours); else `None` when missing.
    pub fn sub(&self, rel: &str, create: bool) -> Result<Option<Dir>> {
        let mut cur = self.clone();
        for comp in rel.split('/').filter(|c| !c.is_empty()) {
            let path = cur.path.join(comp);
            let fd = match open_dir_at(cur.fd.as_raw_fd(), comp, &path) {
                Ok(fd) => fd,
                Err(Error::NotFound(_)) if create => {
                    let c = cstr(comp)?;
                    // SAFETY: a valid directory fd and C string.
                    match cvt(unsafe { libc::mkdirat(cur.fd.as_raw_fd(), c.as_ptr(), 0o775) }) {
                        Ok(_) => {
                            if let Some((u, g)) = self.policy.chown {
                                chown_at(cur.fd.as_raw_fd(), &c, u, g, &path)?;
                            }
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(os_error("cannot create", &path, e)),
                    }
                    open_dir_at(cur.fd.as_raw_fd(), comp, &path)?
                }
                Err(Error::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            check_dir_mode(&fd, &path)?;
            if create {
                let st = fstat(fd.as_raw_fd()).map_err(|e| os_error("cannot stat", &path, e))?;
                if !self.trusted(&st) {
                    return Err(refuse(
                        &path,
                        &format!(
                            "the directory belongs to uid {}, not to us, root or the backend directory's owner",
                            st.st_uid
                        ),
                    ));
                }
            }
            cur = Dir {
                fd: Arc::new(fd),
                path,
                policy: self.policy.clone(),
            };
        }
        Ok(Some(cur))
    }

    /// Open `name` in this directory. `None` when it does not exist (and `how` does not
    /// create). Anything but a regular file is refused; so is, for writing, a file with
    /// more than one link or a stranger's file.
    pub fn open(&self, name: &str, how: Open) -> Result<Option<File>> {
        let c = cstr(name)?;
        let path = self.path.join(name);
        let base = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        let (flags, create_mode) = match how {
            Open::Read => (libc::O_RDONLY, None),
            Open::Create(m) => (libc::O_RDWR, Some(m)),
            Open::LockFile(m) => (libc::O_RDWR | libc::O_APPEND, Some(m)),
        };
        let dirfd = self.fd.as_raw_fd();
        if let Some(mode) = create_mode {
            // SAFETY: a valid fd and C string.
            let r = unsafe {
                libc::openat(
                    dirfd,
                    c.as_ptr(),
                    flags | base | libc::O_CREAT | libc::O_EXCL,
                    mode,
                )
            };
            match cvt(r) {
                Ok(fd) => {
                    // SAFETY: a fresh fd we own.
                    let f = unsafe { File::from_raw_fd(fd) };
                    if let Some((u, g)) = self.policy.chown {
                        nix::unistd::fchown(f.as_raw_fd(), Some(u.into()), Some(g.into()))
                            .map_err(|e| {
                                os_error("cannot give to the directory's owner", &path, e.into())
                            })?;
                    }
                    clear_nonblock(&f);
                    return Ok(Some(f));
                }
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(os_error("cannot create", &path, e)),
            }
        }
        // SAFETY: a valid fd and C string.
        let f = match cvt(unsafe { libc::openat(dirfd, c.as_ptr(), flags | base) }) {
            // SAFETY: a fresh fd we own.
            Ok(fd) => unsafe { File::from_raw_fd(fd) },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create_mode.is_none() => {
                return Ok(None)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // Removed between our two opens: try once more from the start.
                return self.open(name, how);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                // A FIFO without a reader, opened for writing.
                return Err(refuse(&path, "it is a FIFO, not a file the backend made"));
            }
            Err(e) => return Err(os_error("cannot open", &path, e)),
        };
        let st = fstat(f.as_raw_fd()).map_err(|e| os_error("cannot stat", &path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(refuse(
                &path,
                &format!("it is {}, not a file the backend made", kind_of(&st)),
            ));
        }
        if !matches!(how, Open::Read) {
            if st.st_nlink > 1 {
                return Err(refuse(
                    &path,
                    &format!(
                        "it has {} hard links, so writing to it would change a file elsewhere",
                        st.st_nlink
                    ),
                ));
            }
            if !self.trusted(&st) {
                return Err(refuse(
                    &path,
                    &format!(
                        "it belongs to uid {}, not to us, root or the backend directory's owner",
                        st.st_uid
                    ),
                ));
            }
        }
        clear_nonblock(&f);
        Ok(Some(f))
    }

    /// Create `name`, which must not exist (temporary files), for writing.
    pub fn create_new(&self, name: &str, mode: u32) -> Result<File> {
        let c = cstr(name)?;
        let path = self.path.join(name);
        let flags =
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a valid fd and C string.
        let fd = cvt(unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags, mode) })
            .map_err(|e| os_error("cannot create", &path, e))?;
        // SAFETY: a fresh fd we own.
        let f = unsafe { File::from_raw_fd(fd) };
        if let Some((u, g)) = self.policy.chown {
            nix::unistd::fchown(f.as_raw_fd(), Some(u.into()), Some(g.into()))
                .map_err(|e| os_error("cannot give to the directory's owner", &path, e.into()))?;
        }
        Ok(f)
    }

    /// Read a whole regular file; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        use std::io::Read;
        let Some(mut f) = self.open(name, Open::Read)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| os_error("cannot read", &self.path.join(name), e))?;
        Ok(Some(out))
    }

    /// `fstatat` without following a symlink; `None` when missing.
    pub fn stat(&self, name: &str) -> Result<Option<Stat>> {
        let c = cstr(name)?;
        match lstat_at(self.fd.as_raw_fd(), &c) {
            Ok(st) => Ok(Some(to_stat(&st))),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(os_error("cannot stat", &self.path.join(name), e)),
        }
    }

    /// Whether `name` still names the open file `f` (same device and inode).
    pub fn names(&self, name: &str, f: &File) -> bool {
        match (self.stat(name), identity(f)) {
            (Ok(Some(s)), Ok(id)) => (s.dev, s.ino) == id,
            _ => false,
        }
    }

    /// Remove the entry `name` (not a directory) of this very directory.
    pub fn remove(&self, name: &str) -> Result<bool> {
        self.unlink(name, 0)
    }

    pub fn remove_dir(&self, name: &str) -> Result<bool> {
        self.unlink(name, libc::AT_REMOVEDIR)
    }

    fn unlink(&self, name: &str, flags: libc::c_int) -> Result<bool> {
        let c = cstr(name)?;
        // SAFETY: a valid fd and C string.
        match cvt(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), flags) }) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(os_error("cannot remove", &self.path.join(name), e)),
        }
    }

    /// Remove the directory `name` and the plain entries in it (one level, never following).
    pub fn remove_tree(&self, name: &str) -> Result<()> {
        let Some(d) = self.sub(name, false)? else {
            return Ok(());
        };
        for (n, is_dir) in d.entries()? {
            if is_dir {
                d.remove_tree(&n)?;
            } else {
                d.remove(&n)?;
            }
        }
        self.remove_dir(name).map(|_| ())
    }

    /// `renameat(self/from, to_dir/to)`.
    pub fn rename(&self, from: &str, to_dir: &Dir, to: &str) -> Result<()> {
        let (a, b) = (cstr(from)?, cstr(to)?);
        // SAFETY: valid fds and C strings.
        cvt(unsafe {
            libc::renameat(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                to_dir.fd.as_raw_fd(),
                b.as_ptr(),
            )
        })
        .map(|_| ())
        .map_err(|e| os_error("cannot rename", &self.path.join(from), e))
    }

    /// Set the times of `name` to now (tooz's heartbeat): through a descriptor checked as
    /// for writing, so a symlink or a hard link put in its place is refused, not touched.
    pub fn touch(&self, name: &str) -> Result<bool> {
        let c = cstr(name)?;
        let path = self.path.join(name);
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: a valid fd and C string.
        let f = match cvt(unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags) }) {
            // SAFETY: a fresh fd we own.
            Ok(fd) => unsafe { File::from_raw_fd(fd) },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
            Err(e) => return Err(os_error("cannot touch", &path, e)),
        };
        let st = fstat(f.as_raw_fd()).map_err(|e| os_error("cannot stat", &path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_nlink > 1 {
            return Err(refuse(&path, "it is not a plain file of the backend's"));
        }
        // SAFETY: a valid fd; a null times pointer means now.
        cvt(unsafe { libc::futimens(f.as_raw_fd(), std::ptr::null()) })
            .map(|_| true)
            .map_err(|e| os_error("cannot touch", &path, e))
    }

    /// Entry names with whether each is a directory (symlinks are neither followed nor
    /// reported as directories).
    pub fn entries(&self) -> Result<Vec<(String, bool)>> {
        let rd = std::fs::read_dir(self.proc_path())
            .map_err(|e| os_error("cannot read", &self.path, e))?;
        let mut out = Vec::new();
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push((name, is_dir));
        }
        Ok(out)
    }

    /// Regular-file entries only (a symlink or FIFO planted here is skipped).
    pub fn files(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(self.proc_path())
            .map_err(|e| os_error("cannot read", &self.path, e))?;
        Ok(rd
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect())
    }
}

fn clear_nonblock(f: &File) {
    // SAFETY: F_GETFL/F_SETFL on a valid fd.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        if fl != -1 {
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
}

/// Split a lock name `a/b/c` into its directory part `a/b` and file name `c`.
pub(super) fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((d, f)) => (d, f),
        None => ("", rel),
    }
}

/// The backend directory, opened once and kept: `None` until it exists (reading never
/// creates it), made on the first write.
#[derive(Debug)]
pub(super) struct Root {
    path: PathBuf,
    cell: std::sync::Mutex<Option<Dir>>,
}

impl Root {
    /// Checks the directory and its parents now, so a bad mode is refused by every command.
    pub fn new(path: PathBuf) -> Result<Root> {
        let dir = open_root(&path, false)?;
        Ok(Root {
            path,
            cell: std::sync::Mutex::new(dir),
        })
    }

    /// The directory, or `None` when it does not exist.
    pub fn read(&self) -> Result<Option<Dir>> {
        let mut cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if cell.is_none() {
            *cell = open_root(&self.path, false)?;
        }
        Ok(cell.clone())
    }

    /// The directory, created when missing.
    pub fn write(&self) -> Result<Dir> {
        let mut cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cell.as_ref() {
            return Ok(d.clone());
        }
        let d = open_root(&self.path, true)?
            .ok_or_else(|| Error::Unavailable(format!("cannot create {}", shown(&self.path))))?;
        *cell = Some(d.clone());
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_with_their_length() {
        assert_eq!(short("abc"), "abc");
        let s = short(&"x".repeat(100_000));
        assert!(s.starts_with(&"x".repeat(60)) && s.contains('…'), "{s}");
        assert!(s.ends_with("(100000 bytes)"), "{s}");
        assert!(s.chars().count() < 90);
    }

    #[test]
    fn name_errors_are_bad_input_and_outages_are_unavailable() {
        let p = Path::new("/d/x");
        for (errno, two) in [
            (libc::ELOOP, true),
            (libc::ENAMETOOLONG, true),
            (libc::ENOTDIR, true),
            (libc::EISDIR, true),
            (libc::EIO, false),
            (libc::EACCES, false),
        ] {
            let e = os_error("cannot open", p, io::Error::from_raw_os_error(errno));
            let is_two = matches!(e, Error::InvalidInput(_) | Error::InvalidName(_));
            assert_eq!(is_two, two, "{errno}: {e}");
        }
    }
}
