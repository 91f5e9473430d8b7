//! Groups and members on the file backend: tooz's file-driver layout, plus the OS-lock
//! liveness tooz lacks.
//!
//! tooz's part (wire format §4.2, §4.4, §4.5), written byte for byte as tooz writes it:
//! - `DIR/groups/<sha1(group)>/.metadata`: msgpack `{"group_id": <bin>, "encoded": false}`.
//! - `DIR/groups/<sha1(group)>/<sha1(member)>.raw`: msgpack `{"capabilities": …,
//!   "joined_on": <oslo datetime, ext 1, naive local time>, "member_id": <bin>, "encoded": false}`.
//! - `DIR/.driver_lock`: we take it (an OFD write lock, which conflicts with tooz's `fcntl`
//!   lock) around join, leave, listing members, delete and the heartbeat, as tooz does.
//!
//! Our part lives under `DIR/.toozctl/groups/<sha1(group)>/`, never inside tooz's group
//! directory (tooz's `delete_group` fails on files it does not know):
//! - `members/<sha1(member)>.lock`: the member's holder record (JSON). Its toozctl process
//!   keeps an OFD write lock on it for as long as it is a member, so the kernel drops the lock
//!   the moment the process dies. A record whose `.lock` nobody locks belongs to a dead
//!   process: it is not listed, and the next reader removes both files. A record without a
//!   `.lock` is a tooz client's: listed while its mtime is within `timeout`, exactly as tooz
//!   lists it, and never removed by us.
//!
//! The records' bytes are `tooz_format`'s; a held membership (heartbeat, release) is
//! `membership`'s.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::io_error;
use super::membership::Joined;
use super::ofd::{self, Kind};
use super::tooz_format::{
    decode_group_id, decode_member, member_record, metadata, sha1_hex, stamp,
};
use crate::coordination::{
    validate_name, Capabilities, Error, GroupInfo, Holder, Identity, Member, Result,
};

/// What the blocking group operations need, cheap to clone onto a blocking thread.
#[derive(Clone)]
pub(super) struct Store {
    pub dir: PathBuf,
    pub timeout: Duration,
    pub identity: Identity,
}

/// Run a blocking file operation off the runtime thread (the driver lock may be held by a
/// stopped process; the runtime must keep handling signals meanwhile).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("file backend thread failed: {e}")))?
}

/// `DIR/.driver_lock`, held (OFD write lock) until dropped.
pub(super) struct DriverLock(File);

impl DriverLock {
    pub fn take(dir: &Path) -> Result<DriverLock> {
        let p = dir.join(".driver_lock");
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| io_error("cannot open", &p, e))?;
        ofd::lock_wait(&f, Kind::Write).map_err(|e| io_error("cannot lock", &p, e))?;
        Ok(DriverLock(f))
    }
}

impl Drop for DriverLock {
    fn drop(&mut self) {
        let _ = ofd::unlock(&self.0);
    }
}

/// How a member record stands.
enum Liveness {
    /// No record and no lock file.
    Absent,
    /// A toozctl member whose process holds its lock file.
    Ours(Option<Holder>),
    /// A lock file nobody holds: the toozctl process died.
    DeadOurs,
    /// A record without a lock file: a tooz client's; `fresh` = within `timeout`.
    Tooz { fresh: bool, mtime: SystemTime },
}

/// One member record as read from a group directory.
pub(super) struct Record {
    pub member_id: String,
    pub capabilities: Capabilities,
    /// Our holder record, for toozctl members.
    pub holder: Option<Holder>,
    /// For tooz members: when the record stops being fresh.
    pub fresh_until: Option<SystemTime>,
    /// Identifies this membership (not the member): SHA-1 of the record's bytes, which
    /// include `joined_on` to the microsecond, so a re-join gets another stamp.
    pub stamp: String,
}

impl Store {
    pub fn group_dir(&self, group: &str) -> PathBuf {
        self.dir.join("groups").join(sha1_hex(group))
    }

    pub fn our_dir(&self, group: &str) -> PathBuf {
        self.dir.join(".toozctl/groups").join(sha1_hex(group))
    }

    fn raw_path(&self, group: &str, member: &str) -> PathBuf {
        self.group_dir(group)
            .join(format!("{}.raw", sha1_hex(member)))
    }

    fn live_path(&self, group: &str, member: &str) -> PathBuf {
        self.our_dir(group)
            .join("members")
            .join(format!("{}.lock", sha1_hex(member)))
    }

    pub fn exists(&self, group: &str) -> bool {
        self.group_dir(group).join(".metadata").is_file()
    }

    pub fn require(&self, group: &str) -> Result<()> {
        validate_name("group", group)?;
        if self.exists(group) {
            Ok(())
        } else {
            Err(Error::NotFound(format!("group '{group}' does not exist")))
        }
    }

    fn fresh(&self, mtime: SystemTime) -> bool {
        // tooz: mtime within [now - timeout, now]; future mtimes are not listed either.
        SystemTime::now()
            .duration_since(mtime)
            .map(|age| age <= self.timeout)
            .unwrap_or(false)
    }

    fn liveness(&self, raw: &Path, live: &Path) -> Liveness {
        if let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(live)
        {
            return match ofd::blocker(&f, Kind::Write) {
                Ok(Some(_)) => {
                    let mut text = String::new();
                    let holder = f
                        .read_to_string(&mut text)
                        .ok()
                        .and_then(|_| serde_json::from_str(&text).ok());
                    Liveness::Ours(holder)
                }
                _ => Liveness::DeadOurs,
            };
        }
        match fs::metadata(raw).and_then(|m| m.modified()) {
            Ok(mtime) => Liveness::Tooz {
                fresh: self.fresh(mtime),
                mtime,
            },
            Err(_) => Liveness::Absent,
        }
    }

    pub fn create_group(&self, group: &str) -> Result<()> {
        validate_name("group", group)?;
        if self.exists(group) {
            return Err(Error::AlreadyExists(format!(
                "group '{group}' already exists"
            )));
        }
        let gdir = self.group_dir(group);
        fs::create_dir_all(&gdir).map_err(|e| io_error("cannot create", &gdir, e))?;
        self.write_atomic(&gdir.join(".metadata"), &metadata(group))
    }

    /// Write `dest` through a temporary file in `DIR/tmp` (as tooz writes `.metadata`), so
    /// no reader ever sees half a file.
    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp_dir = self.dir.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| io_error("cannot create", &tmp_dir, e))?;
        let tmp = tmp_dir.join(format!(
            "toozctl-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o666)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)?;
            io::Write::write_all(&mut f, bytes)?;
            fs::rename(&tmp, dest)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("cannot write", dest, e)
        })
    }

    /// Every member record of the group in `gdir` (our part in `odir`), with dead toozctl
    /// members removed on the way. Call with the driver lock held. `all`: also return tooz
    /// records older than `timeout` (for delete's message).
    pub fn records(&self, gdir: &Path, odir: &Path, all: bool) -> Result<Vec<Record>> {
        let entries = match fs::read_dir(gdir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("cannot read", gdir, e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".raw")) else {
                continue;
            };
            let raw = entry.path();
            let live = odir.join("members").join(format!("{stem}.lock"));
            let (holder, fresh_until) = match self.liveness(&raw, &live) {
                Liveness::Absent => continue,
                Liveness::Ours(h) => (h, None),
                Liveness::DeadOurs => {
                    let _ = fs::remove_file(&raw);
                    let _ = fs::remove_file(&live);
                    continue;
                }
                Liveness::Tooz { fresh, mtime } => {
                    if !fresh && !all {
                        continue;
                    }
                    (None, Some(mtime + self.timeout))
                }
            };
            let Ok(bytes) = fs::read(&raw) else { continue };
            // An unreadable record is skipped (tooz would fail the whole listing).
            let Some((member_id, capabilities)) = decode_member(&bytes) else {
                continue;
            };
            out.push(Record {
                member_id,
                capabilities,
                holder,
                fresh_until,
                stamp: stamp(&bytes),
            });
        }
        out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(out)
    }

    pub fn members(&self, group: &str) -> Result<Vec<Member>> {
        self.require(group)?;
        let _dl = DriverLock::take(&self.dir)?;
        self.require(group)?;
        let leader = super::leader::current(self, group)?.and_then(|h| h.member_id);
        let recs = self.records(&self.group_dir(group), &self.our_dir(group), false)?;
        Ok(recs
            .into_iter()
            .map(|r| Member {
                leader: leader.as_deref() == Some(r.member_id.as_str()),
                member_id: r.member_id,
                capabilities: r.capabilities,
            })
            .collect())
    }

    pub fn groups(&self) -> Result<Vec<GroupInfo>> {
        let root = self.dir.join("groups");
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("cannot read", &root, e)),
        };
        let _dl = DriverLock::take(&self.dir)?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let gdir = entry.path();
            let Ok(meta) = fs::read(gdir.join(".metadata")) else {
                continue;
            };
            let Some(name) = decode_group_id(&meta) else {
                continue;
            };
            let odir = self.dir.join(".toozctl/groups").join(entry.file_name());
            let members = self.records(&gdir, &odir, false)?.len();
            let leader = super::leader::current(self, &name)?.and_then(|h| h.member_id);
            out.push(GroupInfo {
                name,
                members,
                leader,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Join as our member id; returns what the membership must keep.
    pub fn join(&self, group: &str, caps: &Capabilities, create: bool) -> Result<Joined> {
        validate_name("group", group)?;
        let member = self.identity.member_id.clone();
        validate_name("member id", &member)?;
        if create {
            match self.create_group(group) {
                Ok(()) | Err(Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let _dl = DriverLock::take(&self.dir)?;
        if !self.exists(group) {
            return Err(Error::NotFound(format!(
                "group '{group}' does not exist (create it, or join with --create)"
            )));
        }
        let raw = self.raw_path(group, &member);
        let live_path = self.live_path(group, &member);
        match self.liveness(&raw, &live_path) {
            Liveness::Absent => {}
            Liveness::Ours(h) => {
                let who = h.map(|h| format!(" ({h})")).unwrap_or_default();
                return Err(Error::AlreadyExists(format!(
                    "member '{member}' is already in group '{group}'{who}"
                )));
            }
            Liveness::DeadOurs | Liveness::Tooz { fresh: false, .. } => {
                let _ = fs::remove_file(&raw);
                let _ = fs::remove_file(&live_path);
            }
            Liveness::Tooz { fresh: true, .. } => {
                return Err(Error::AlreadyExists(format!(
                    "member '{member}' is already in group '{group}' (a record refreshed within the last {}s, no toozctl process: a tooz client?)",
                    self.timeout.as_secs()
                )));
            }
        }
        let live = write_locked_record(&live_path, &self.identity.holder(None, None))?;
        let now = chrono::Local::now().naive_local();
        let record = member_record(&member, caps, now);
        if let Err(e) = self.write_atomic(&raw, &record) {
            let _ = fs::remove_file(&live_path);
            return Err(e);
        }
        let ino = live.metadata().map(|m| m.ino()).unwrap_or(0);
        Ok(Joined {
            group: group.to_string(),
            member,
            raw,
            live_path,
            live,
            ino,
        })
    }

    pub fn leave(&self, group: &str, member: &str) -> Result<()> {
        validate_name("member id", member)?;
        self.require(group)?;
        let _dl = DriverLock::take(&self.dir)?;
        self.require(group)?;
        let raw = self.raw_path(group, member);
        let live = self.live_path(group, member);
        let dead_ours = matches!(self.liveness(&raw, &live), Liveness::DeadOurs);
        if dead_ours {
            let _ = fs::remove_file(&live);
        }
        match fs::remove_file(&raw) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(format!(
                "member '{member}' is not in group '{group}'"
            ))),
            Err(e) => Err(io_error("cannot remove", &raw, e)),
        }
        // A live toozctl member keeps its lock file: its process sees the record go, reports
        // the membership lost and removes the lock file itself.
    }

    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.require(group)?;
        let _dl = DriverLock::take(&self.dir)?;
        self.require(group)?;
        let gdir = self.group_dir(group);
        let odir = self.our_dir(group);
        let recs = self.records(&gdir, &odir, true)?;
        if !recs.is_empty() {
            let (fresh, stale): (Vec<&Record>, Vec<&Record>) = recs
                .iter()
                .partition(|r| r.fresh_until.is_none_or(|t| SystemTime::now() <= t));
            let names = |v: &[&Record]| {
                v.iter()
                    .map(|r| r.member_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::NotEmpty(if !fresh.is_empty() {
                format!(
                    "group '{group}' is not empty: {} member(s): {}",
                    fresh.len(),
                    names(&fresh)
                )
            } else {
                format!(
                    "group '{group}' is not empty: records of {} member(s) that stopped heartbeating (tooz never removes them): {}; remove each with 'toozctl group leave {group} --member ID'",
                    stale.len(),
                    names(&stale)
                )
            }));
        }
        let meta = gdir.join(".metadata");
        fs::remove_file(&meta).map_err(|e| io_error("cannot remove", &meta, e))?;
        fs::remove_dir(&gdir).map_err(|e| io_error("cannot remove", &gdir, e))?;
        // Member lock files go; the leader's fencing counter stays, so a group created again
        // under the same name never hands out a token twice.
        let _ = fs::remove_dir_all(odir.join("members"));
        Ok(())
    }
}

/// Create `path` holding `holder` as JSON, locked (OFD write) before it has its real name,
/// so no reader ever sees it unlocked while we live.
pub(super) fn write_locked_record(path: &Path, holder: &Holder) -> Result<File> {
    let dir = path.parent().expect("record paths have a parent");
    fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| io_error("cannot create", &tmp, e))?;
    ofd::try_lock(&file, Kind::Write).map_err(|e| io_error("cannot lock", &tmp, e))?;
    let json =
        serde_json::to_vec(holder).map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let r = io::Write::write_all(&mut &file, &json).and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("cannot write", path, e));
    }
    Ok(file)
}
