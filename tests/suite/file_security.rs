//! The file backend in directories other users can write (ISSUE-16 items 1, 2, 3, 10, 11's
//! file parts; ISSUE-11 holes 4 and 5 for files). Run as root, with a second local user
//! created by the test (removed at the end, even on failure) who plants symlinks, hard
//! links, FIFOs and directories; a victim directory outside the backend directory must come
//! out unchanged (content, mode, owner and mtime of every entry).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{self, FileBackend};

/// A local user created for one test and deleted when dropped.
struct Evil {
    name: String,
    uid: u32,
    gid: u32,
}

impl Evil {
    fn new() -> Evil {
        // useradd locks /etc/passwd: one at a time within this process.
        static SERIAL: Mutex<u32> = Mutex::new(0);
        let mut n = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        let name = format!("toozctl-evil-{}-{}", std::process::id(), *n);
        let mut ok = false;
        for _ in 0..20 {
            let st = Command::new("useradd")
                .args(["-M", "-r", "-s", "/usr/sbin/nologin", &name])
                .status()
                .expect("useradd");
            if st.success() {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(ok, "cannot create user {name}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        Evil { name, uid, gid }
    }

    /// `program args...` run as this user, with a clean environment.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", "/nonexistent")
            .stdin(Stdio::null())
            .uid(self.uid)
            .gid(self.gid)
            .current_dir("/");
        c
    }

    fn sh(&self, script: &str) {
        let out = self.cmd("sh", &["-c", script]).output().unwrap();
        assert!(
            out.status.success(),
            "as {}: {script}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// toozctl as this user.
    fn toozctl(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(support::bin(), args);
        c.env("XDG_STATE_HOME", "/nonexistent");
        c
    }
}

impl Drop for Evil {
    fn drop(&mut self) {
        // Each test ends the processes it started as this user; userdel waits for them.
        for _ in 0..50 {
            let st = Command::new("userdel").arg(&self.name).status();
            if st.is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temp directory with `mode` (the backend directory, or a victim's).
fn dir_with_mode(mode: u32) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

fn toozctl_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = support::toozctl(dir);
    c.arg("-b")
        .arg(format!("file://{}", dir.display()))
        .args(args);
    c
}

/// Everything under `root` (not following symlinks): type, mode, owner, size, mtime and
/// content of each entry.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let content = if m.is_file() {
            format!("{:?}", std::fs::read(&p).unwrap_or_default())
        } else if m.file_type().is_symlink() {
            format!("-> {:?}", std::fs::read_link(&p).unwrap())
        } else {
            String::new()
        };
        out.insert(
            p.clone(),
            format!(
                "mode {:o} uid {} gid {} size {} mtime {}.{} {content}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                todo.push(e.path());
            }
        }
    }
    out
}

/// A victim directory with a few files a careless backend could overwrite or delete.
fn victim() -> tempfile::TempDir {
    let v = dir_with_mode(0o755);
    std::fs::write(v.path().join("important.txt"), "precious\n").unwrap();
    std::fs::write(v.path().join("keep.json"), "{}").unwrap();
    std::fs::write(
        v.path()
            .join("3f8d6a7b8b0f0ef6c1c1c0b2f9d7e3d0a1b2c3d4.lock"),
        "x",
    )
    .unwrap();
    std::fs::write(v.path().join("1.json"), "{\"member_id\": \"v\"}").unwrap();
    // mtimes in the past, so a touch would show.
    let _ = Command::new("touch")
        .args(["-d", "2020-01-01"])
        .args(
            std::fs::read_dir(v.path())
                .unwrap()
                .flatten()
                .map(|e| e.path()),
        )
        .status();
    v
}

/// Exit 0, or 2 with one line of error: never anything else, never a panic.
fn safe_answer(code: i32, err: &str, what: &str) {
    assert!(
        code == 0 || code == 2,
        "{what}: exit {code} (expected 0 or a refusal with 2): {err}"
    );
    if code == 2 {
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    }
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// Each trick a second user can plant in a sticky shared directory (1777, as /tmp):
/// root's toozctl refuses it (exit 2, one line) or works around it, and never touches a
/// file outside the backend directory.
#[test]
fn tricks_planted_by_another_user_in_a_shared_sticky_dir_change_nothing_outside() {
    let evil = Evil::new();
    let v = victim();
    let vp = v.path().display().to_string();
    let before = snapshot(v.path());
    let s = dir_with_mode(0o1777);
    let sp = s.path().display().to_string();
    // The token file of lock 'nightly' is a symlink to the victim (the issue's repro).
    evil.sh(&format!(
        "mkdir -p {sp}/.toozctl/locks/nightly/holders && ln -s {vp}/important.txt {sp}/.toozctl/locks/nightly/token && ln -s {vp} {sp}/sub && ln -s {vp}/created {sp}/at-lock-path && ln -s /dev/null {sp}/null && mkfifo {sp}/fifo && echo mine > {sp}/evil-owned"
    ));
    for (name, args) in [
        (
            "symlinked token file",
            vec!["lock", "nightly", "--", "true"],
        ),
        (
            "escape through sub -> victim",
            vec!["lock", "sub/x", "--", "true"],
        ),
        (
            "symlink at the lock path",
            vec!["lock", "at-lock-path", "--", "true"],
        ),
        ("symlink to /dev/null", vec!["lock", "null", "--", "true"]),
        ("a FIFO", vec!["lock", "-w", "3", "fifo", "--", "true"]),
        (
            "another user's file",
            vec!["lock", "evil-owned", "--", "true"],
        ),
        ("reading", vec!["locks"]),
        ("group list", vec!["group", "list"]),
    ] {
        let t = Instant::now();
        let (code, _, err) = run(toozctl_in(s.path(), &args));
        safe_answer(code, &err, name);
        assert!(t.elapsed() < Duration::from_secs(10), "{name} hung");
        if name != "reading" && name != "group list" {
            assert_eq!(code, 2, "{name} must be refused: {err}");
        }
        assert_eq!(snapshot(v.path()), before, "{name} changed the victim");
    }
    assert!(!v.path().join("created").exists());
    assert!(!v.path().join("x").exists());
    // The backend directory itself a symlink the other user planted, before the operator
    // made it: not followed, whatever fs.protected_symlinks says.
    evil.sh(&format!("ln -s {vp} {sp}/backend"));
    let (code, _, err) = run(toozctl_in(
        &s.path().join("backend"),
        &["lock", "y", "--", "true"],
    ));
    assert_eq!(code, 2, "a planted symlink as the backend directory: {err}");
    assert_eq!(
        snapshot(v.path()),
        before,
        "the planted backend symlink was followed"
    );
    // Root's own lock there is refused too: the other user made `.toozctl` first (a
    // denial of service, documented; never a write through it).
    let (code, _, err) = run(toozctl_in(s.path(), &["lock", "mine", "--", "true"]));
    safe_answer(code, &err, "root's own lock beside the planted .toozctl");
    // A shared sticky directory (like /tmp) is usable, safely: root's lock in a fresh one,
    // and the other user's in a directory of its own inside it.
    let s2 = dir_with_mode(0o1777);
    let (code, _, err) = run(toozctl_in(s2.path(), &["lock", "mine", "--", "true"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(evil.toozctl(&[
        "-b",
        &format!("file://{sp}/evil-dir"),
        "lock",
        "theirs",
        "--",
        "true",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(snapshot(v.path()), before);
}

/// Symlinks and hard links inside the backend's own directories (planted by anyone):
/// never followed, never written through, nothing deleted through a symlinked directory.
#[test]
fn symlinked_companion_dirs_hard_links_and_members_dirs_are_never_followed() {
    let v = victim();
    let vp = v.path().to_path_buf();
    let before = snapshot(&vp);
    let fb = FileBackend::new();
    let d = fb.dir.path();
    // holders/ of lock 'h' -> victim (whose *.json a careless cleanup would delete).
    std::fs::create_dir_all(d.join(".toozctl/locks/h")).unwrap();
    std::os::unix::fs::symlink(&vp, d.join(".toozctl/locks/h/holders")).unwrap();
    // The token of lock 'hl' is a hard link to the victim's file.
    std::fs::create_dir_all(d.join(".toozctl/locks/hl")).unwrap();
    std::fs::hard_link(vp.join("important.txt"), d.join(".toozctl/locks/hl/token")).unwrap();
    // A hard-linked lock file.
    std::fs::hard_link(vp.join("keep.json"), d.join("linked")).unwrap();
    for (name, args) in [
        ("symlinked holders dir", vec!["lock", "h", "--", "true"]),
        ("hard-linked token", vec!["lock", "hl", "--", "true"]),
        (
            "hard-linked lock file",
            vec!["lock", "linked", "--", "true"],
        ),
        ("listing", vec!["locks"]),
    ] {
        let (code, _, err) = run(fb.cmd(&args));
        safe_answer(code, &err, name);
        if name != "listing" {
            assert_eq!(code, 2, "{name} must be refused: {err}");
        }
        assert_eq!(snapshot(&vp), before, "{name} changed the victim");
    }
    // A group whose members/ directory is a symlink to the victim, with a tooz record
    // named like the victim's '.lock' file: a read-only listing must not delete it.
    let (code, _, err) = run(fb.cmd(&["group", "create", "g"]));
    assert_eq!(code, 0, "{err}");
    let gdirs: Vec<PathBuf> = std::fs::read_dir(d.join("groups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let gdir = &gdirs[0];
    let gname = gdir.file_name().unwrap();
    std::fs::write(
        gdir.join("3f8d6a7b8b0f0ef6c1c1c0b2f9d7e3d0a1b2c3d4.raw"),
        b"\x80",
    )
    .unwrap();
    let ours = d.join(".toozctl/groups").join(gname);
    std::fs::create_dir_all(&ours).unwrap();
    std::os::unix::fs::symlink(&vp, ours.join("members")).unwrap();
    for args in [
        vec!["group", "list"],
        vec!["group", "members", "g"],
        vec!["group", "join", "g", "--", "true"],
    ] {
        let (code, _, err) = run(fb.cmd(&args));
        safe_answer(code, &err, &format!("{args:?}"));
        assert_eq!(snapshot(&vp), before, "{args:?} changed the victim");
    }
}

#[test]
fn a_world_writable_backend_dir_or_parent_without_sticky_bit_is_refused_with_the_fix() {
    let d = dir_with_mode(0o777);
    let (code, _, err) = run(toozctl_in(d.path(), &["lock", "x", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("chmod o-w") && err.contains("chmod +t"),
        "{err}"
    );
    assert!(!d.path().join("x").exists());
    // Reading is refused too (the directory cannot be trusted), and creates nothing.
    let (code, _, err) = run(toozctl_in(d.path(), &["locks"]));
    assert_eq!(code, 2, "{err}");
    // A parent that everyone can write.
    let inner = d.path().join("backend");
    std::fs::create_dir(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, _, err) = run(toozctl_in(&inner, &["lock", "x", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&d.path().display().to_string()), "{err}");
    // With the sticky bit, it is a shared directory like /tmp: usable.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (code, _, err) = run(toozctl_in(&inner, &["lock", "x", "--", "true"]));
    assert_eq!(code, 0, "{err}");
}

/// What `env -i toozctl` (no HOME, no XDG_STATE_HOME) uses: never a guessable /tmp path.
#[test]
fn without_home_the_default_is_the_runtime_dir_or_a_clear_error() {
    let evil = Evil::new();
    // A runtime directory that belongs to the caller is used.
    let rt = dir_with_mode(0o700);
    std::os::unix::fs::chown(rt.path(), Some(evil.uid), Some(evil.gid)).unwrap();
    let mut c = evil.cmd(support::bin(), &["lock", "x", "--", "true"]);
    c.env_remove("HOME").env("XDG_RUNTIME_DIR", rt.path());
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(rt.path().join("toozctl/x").exists());
    // One that belongs to someone else is not; with no /run/user/<uid> either, exit 2
    // saying what to set, and nothing is made under /tmp.
    let theirs = dir_with_mode(0o777);
    let guess = PathBuf::from(format!("/tmp/toozctl-{}", evil.uid));
    let guessed_before = guess.exists();
    let mut c = evil.cmd(support::bin(), &["lock", "x", "--", "true"]);
    c.env_remove("HOME").env("XDG_RUNTIME_DIR", theirs.path());
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("XDG_STATE_HOME"), "{err}");
    assert_eq!(
        guess.exists(),
        guessed_before,
        "{} was made",
        guess.display()
    );
    assert!(!theirs.path().join("toozctl").exists());
}

/// A file or directory another user keeps unreadable in a shared sticky directory (mode
/// 600 / 700, as anyone may make there) hides no other lock from `locks`: the listing
/// is made without it, exit 0, and a one-line warning names what was left out and why.
/// (Before: `cannot open .../secret: Permission denied`, exit 69, and no listing.)
#[test]
fn another_users_unreadable_file_hides_no_lock_from_the_listing() {
    let planter = Evil::new();
    let viewer = Evil::new();
    let s = dir_with_mode(0o1777);
    let sp = s.path().display().to_string();
    let url = format!("file://{sp}");
    // The viewer's own lock, held while the listing is made.
    let mut holder = viewer
        .toozctl(&["-b", &url, "lock", "visible", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    support::wait_until(Duration::from_secs(10), || {
        s.path().join("visible").exists()
    });
    planter.sh(&format!(
        "touch {sp}/secret && chmod 600 {sp}/secret && mkdir -m 700 {sp}/hidden && touch {sp}/hidden/x"
    ));
    let (code, out, err) = run(viewer.toozctl(&["-b", &url, "locks"]));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 0, "locks beside an unreadable file: {err}");
    assert!(out.contains("visible"), "the held lock is listed: {out}");
    assert!(!out.contains("secret"), "{out}");
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 2, "one line for each left out: {err}");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("secret") && l.contains("ermission denied")),
        "{err}"
    );
    assert!(warnings.iter().any(|l| l.contains("hidden")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // JSON too: the listing on stdout, the warnings on stderr.
    let (code, out, err) = run(viewer.toozctl(&["-b", &url, "-o", "json", "locks"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"visible\""), "{out}");
}

/// A file system mounted inside the backend directory is not walked by `locks` (as
/// `find -xdev`; `file:///` would walk /proc and /sys, and stopped at the first file in
/// /proc it could not open): what is on it is left out, with a one-line warning.
#[test]
fn a_file_system_mounted_inside_the_backend_dir_is_not_walked() {
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let d = dir_with_mode(0o755);
    let (code, _, err) = run(toozctl_in(d.path(), &["lock", "outer", "--", "true"]));
    assert_eq!(code, 0, "{err}");
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "toozctl-test"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "mount -t tmpfs (the suite runs as root)");
    let _m = Mounted(mnt.clone());
    std::fs::write(mnt.join("inner"), "").unwrap();
    let (code, out, err) = run(toozctl_in(d.path(), &["locks", "--all"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("outer"), "{out}");
    assert!(!out.contains("inner"), "not walked: {out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("another file system"), "{err}");
}

/// `locks`, `group list/members/leader` and `watch` create and change nothing: not in a
/// used directory, not in an empty one, not in a missing one.
#[test]
fn reading_commands_create_and_change_nothing() {
    let fb = FileBackend::new();
    let d = fb.dir.path();
    for args in [
        vec!["lock", "l", "--", "true"],
        vec!["group", "create", "g"],
        vec!["group", "join", "g", "--", "true"],
        vec!["elect", "g", "--", "true"],
    ] {
        let (code, _, err) = run(fb.cmd(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("not/there");
    for dir in [d, empty.path(), missing.as_path()] {
        let before = snapshot(dir);
        let url = format!("file://{}", dir.display());
        for args in [
            vec!["locks"],
            vec!["group", "list"],
            vec!["group", "members", "g"],
            vec!["group", "leader", "g"],
            vec!["group", "members", "nope"],
        ] {
            let mut c = support::toozctl(fb.dir.path());
            c.arg("-b").arg(&url).args(&args);
            let (code, _, err) = run(c);
            assert!([0, 4].contains(&code), "{args:?} in {url}: {code} {err}");
            assert_eq!(snapshot(dir), before, "{args:?} changed {url}");
        }
        for args in [
            vec!["watch", "lock", "l"],
            vec!["watch", "lock", "new/lock"],
            vec!["watch", "group", "g"],
            vec!["watch", "leader", "g"],
        ] {
            let mut c = support::toozctl(fb.dir.path());
            c.arg("-b")
                .arg(&url)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = c.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            support::signal(child.id(), libc::SIGINT);
            child.wait().unwrap();
            assert_eq!(snapshot(dir), before, "{args:?} changed {url}");
        }
    }
    assert!(!missing.exists());
}

/// Root (`sudo toozctl`) writing in a directory owned by a service user gives everything
/// it creates to that user, so the service's own tooz client keeps working there.
#[test]
fn root_in_another_users_dir_creates_files_the_owner_and_its_tooz_can_use() {
    let evil = Evil::new();
    let base = dir_with_mode(0o755);
    let d = base.path().join("locks");
    std::fs::create_dir(&d).unwrap();
    std::os::unix::fs::chown(&d, Some(evil.uid), Some(evil.gid)).unwrap();
    for args in [
        vec!["lock", "x", "--", "true"],
        vec!["lock", "sub/y", "--", "true"],
        vec!["lock", "-l", "2", "sem", "--", "true"],
        vec!["group", "create", "g"],
        vec!["group", "join", "g", "--", "true"],
        vec!["elect", "g", "--", "true"],
    ] {
        let (code, _, err) = run(toozctl_in(&d, &args));
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    for (p, meta) in snapshot(&d) {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (evil.uid, evil.gid),
            "{} is not the directory owner's: {meta}",
            p.display()
        );
    }
    // The service's tooz, as the owner: locks, groups, members, all in the same directory.
    // (The tooz venv's Python lives where only root can read, so it starts as root, loads
    // the driver, and then becomes the owner for good before touching the directory.)
    let code = r#"
import os, sys
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b'svc')
import tooz.drivers.file, fasteners, msgpack, oslo_serialization.msgpackutils
os.setgroups([])
os.setgid(int(sys.argv[3]))
os.setuid(int(sys.argv[2]))
assert os.geteuid() != 0
c.start()
for name in (b'x', b'sub/y', b'fresh'):
    l = c.get_lock(name)
    assert l.acquire(blocking=False), name
    l.release()
c.join_group(b'g').get()
assert b'svc' in c.get_members(b'g').get()
c.leave_group(b'g').get()
c.create_group(b'h').get()
c.delete_group(b'h').get()
c.stop()
print("ok")
"#;
    let url = format!("file://{}", d.display());
    let (st, out, err) =
        support::python(code, &[&url, &evil.uid.to_string(), &evil.gid.to_string()]);
    assert_eq!((st, out.trim()), (0, "ok"), "{err}");
}

/// A lock granted by the kernel on a file that was deleted meanwhile is not a lock: the
/// waiter tries again on the new file; the holder notices the deletion at once.
#[test]
fn a_waiter_never_runs_on_a_deleted_lock_file_and_the_holder_notices_at_once() {
    let fb = FileBackend::new();
    let d = fb.dir.path();
    let log = d.join("intervals.log");
    let interval = |who: &str, secs: &str| {
        format!(
            "echo \"{who} start $(date +%s.%N)\" >> {l}; sleep {secs}; echo \"{who} end $(date +%s.%N)\" >> {l}",
            l = log.display()
        )
    };
    let mut a = fb.cmd(&["lock", "e8", "--", "sh", "-c", &interval("A", "6")]);
    let mut a = a.stderr(Stdio::piped()).spawn().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("A start"))
    }));
    let mut b = fb
        .cmd(&["lock", "e8", "--", "sh", "-c", &interval("B", "2")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(d.join("e8")).unwrap();
    let removed = Instant::now();
    // C comes at once: it creates a new lock file. B, woken when A gives up its lock on
    // the deleted inode, must take the new file too (before or after C), never run beside C.
    let mut c = fb
        .cmd(&[
            "lock",
            "-w",
            "15",
            "e8",
            "--",
            "sh",
            "-c",
            &interval("C", "2"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = a.wait().unwrap();
    let a_done = removed.elapsed();
    assert_eq!(st.code(), Some(3), "A lost its lock");
    assert!(
        a_done < Duration::from_secs(1),
        "A noticed only after {a_done:?}"
    );
    assert_eq!(c.wait().unwrap().code(), Some(0), "C acquires the lock");
    let b_st = b.wait().unwrap();
    assert_eq!(b_st.code(), Some(0));
    // No two intervals overlap.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut spans: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let t: f64 = f[2].parse().unwrap();
        let e = spans.entry(f[0].to_string()).or_insert((t, f64::MAX));
        if f[1] == "end" {
            e.1 = t;
        }
    }
    let (c, b_) = (spans["C"], spans["B"]);
    assert!(
        b_.0 >= c.1 || c.0 >= b_.1,
        "B and C ran at the same time: {text}"
    );
    eprintln!("A exited {a_done:?} after the rm; log:\n{text}");
}

/// The fencing counter never goes back: at its maximum, or not a number, it is refused
/// with a message naming it (not exit 70, not a token of 0 or 1).
#[test]
fn a_maxed_out_or_garbage_fencing_counter_is_refused_not_reset() {
    let fb = FileBackend::new();
    let d = fb.dir.path();
    for (name, content) in [("max", "18446744073709551615\n"), ("junk", "garbage\n")] {
        let meta = d.join(".toozctl/locks").join(name);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("token"), content).unwrap();
        let (code, out, err) = run(fb.cmd(&[
            "lock",
            name,
            "--",
            "sh",
            "-c",
            "echo token=$TOOZCTL_FENCING_TOKEN",
        ]));
        assert!(code != 0 && code != 70, "{name}: exit {code}: {out} {err}");
        assert!(!out.contains("token="), "{name}: COMMAND ran: {out}");
        assert!(err.contains("token"), "{name}: names the counter: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(
            std::fs::read_to_string(meta.join("token")).unwrap(),
            content
        );
    }
}

/// What the file system cannot store is bad input (exit 2), with the name shortened.
#[test]
fn names_the_file_system_cannot_take_are_bad_input_and_shortened() {
    let fb = FileBackend::new();
    let (code, _, err) = run(fb.cmd(&["lock", "a/b", "--", "true"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(fb.cmd(&["lock", "a", "--", "true"]));
    assert_eq!(code, 2, "a lock 'a' beside 'a/b': {err}");
    let (code, _, err) = run(fb.cmd(&["lock", "a/b/c", "--", "true"]));
    assert_eq!(code, 2, "a lock under the file 'a/b': {err}");
    let long = "n/".repeat(3000) + "x";
    let (code, _, err) = run(fb.cmd(&["lock", &long, "--", "true"]));
    assert_eq!(code, 2, "{}", &err[..err.len().min(300)]);
    assert!(
        err.len() < 400,
        "the name is shortened: {} bytes",
        err.len()
    );
    assert!(err.contains('…'), "{err}");
    let wide = "w".repeat(100_000);
    let (code, _, err) = run(fb.cmd(&["lock", &wide, "--", "true"]));
    assert_eq!(code, 2);
    assert!(
        err.len() < 400,
        "the name is shortened: {} bytes",
        err.len()
    );
    // A file URL with a user or password is bad input, and the password is not shown.
    let mut c = support::toozctl(fb.dir.path());
    c.arg("-b")
        .arg(format!("file://u:PW123@{}", fb.dir.path().display()))
        .arg("locks");
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("PW123"), "{err}");
}

/// When the user's inotify instances are used up (`max_user_instances`), waiting and
/// watching fall back to polling: never exit 70.
#[test]
fn without_inotify_instances_waiting_and_watching_poll_instead() {
    let evil = Evil::new();
    let d = dir_with_mode(0o755);
    std::os::unix::fs::chown(d.path(), Some(evil.uid), Some(evil.gid)).unwrap();
    let url = format!("file://{}", d.path().display());
    let tz = |args: &[&str]| {
        let mut all = vec!["-b", url.as_str()];
        all.extend_from_slice(args);
        evil.toozctl(&all)
    };
    let (code, _, err) = run(tz(&["group", "create", "g"]));
    assert_eq!(code, 0, "{err}");
    // Take every inotify instance this user may have (its own per-user limit only).
    let hog = r#"
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
n = 0
while libc.inotify_init() >= 0:
    n += 1
print(n, flush=True)
time.sleep(120)
"#;
    let mut hog = Kid(evil
        .cmd("/usr/bin/python3", &["-c", hog])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hog.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    eprintln!("the hog holds {} inotify instances", line.trim());
    // A holder, a waiter on it, a member, and watches of both. Polling sees what lasts
    // longer than its interval (200 ms), so each term here does.
    let mut holder = Kid(tz(&["lock", "l", "--", "sleep", "1.5"]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let mut watch_lock = Kid(tz(&["-v", "watch", "lock", "l", "--count", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let mut watch_group = Kid(tz(&["watch", "group", "g", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, err) = run(tz(&["-v", "lock", "-w", "20", "l", "--", "sleep", "1"]));
    assert_eq!(code, 0, "the waiter: {err}");
    let (code, _, err) = run(tz(&["-v", "group", "join", "g", "--", "sleep", "1"]));
    assert_eq!(code, 0, "the member: {err}");
    assert!(
        err.contains("inotify"),
        "a -v note says why it polls: {err}"
    );
    assert_eq!(holder.0.wait().unwrap().code(), Some(0));
    for (name, w) in [
        ("watch lock", &mut watch_lock),
        ("watch group", &mut watch_group),
    ] {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) && w.0.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if w.0.try_wait().unwrap().is_none() {
            let _ = w.0.kill();
        }
        let out = w.0.wait_with_output_ref();
        assert_eq!(out.0, Some(0), "{name}: {}", out.1);
    }
    drop(hog);
}

/// A child killed and reaped when dropped (also when a test fails), so the test's user
/// can be deleted.
struct Kid(std::process::Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> (Option<i32>, String);
}

impl WaitOutput for std::process::Child {
    fn wait_with_output_ref(&mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let st = self.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (st.code(), err)
    }
}
