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

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::membership::Joined;
use super::ofd::{self, Kind};
use super::safefs::{Dir, Open};
use super::store::{group_rel, DriverLock, Store};
use super::tooz_format::{
    decode_group_id, decode_member, member_record, metadata, sha1_hex, stamp,
};
use crate::coordination::{validate_name, Capabilities, Error, GroupInfo, Holder, Member, Result};

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

fn raw_name(member: &str) -> String {
    format!("{}.raw", sha1_hex(member))
}

fn live_name(member: &str) -> String {
    format!("{}.lock", sha1_hex(member))
}

impl Store {
    fn fresh(&self, mtime: SystemTime) -> bool {
        // tooz: mtime within [now - timeout, now]; future mtimes are not listed either.
        SystemTime::now()
            .duration_since(mtime)
            .map(|age| age <= self.timeout)
            .unwrap_or(false)
    }

    fn liveness(&self, gdir: &Dir, raw: &str, mdir: Option<&Dir>, live: &str) -> Liveness {
        if let Some(Ok(Some(mut f))) = mdir.map(|d| d.open(live, Open::Read)) {
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
        match gdir.stat(raw) {
            Ok(Some(st)) if st.is_file => Liveness::Tooz {
                fresh: self.fresh(st.mtime),
                mtime: st.mtime,
            },
            _ => Liveness::Absent,
        }
    }

    pub fn create_group(&self, group: &str) -> Result<()> {
        validate_name("group", group)?;
        if self.exists(group)? {
            return Err(Error::AlreadyExists(format!(
                "group '{group}' already exists"
            )));
        }
        let root = self.root.write()?;
        root.sub("tmp", true)?;
        let gdir = root
            .sub(&group_rel(group), true)?
            .expect("sub(create) always gives a directory");
        self.write_atomic(&gdir, ".metadata", &metadata(group))
    }

    /// Write `dest` through a temporary file in `DIR/tmp` (as tooz writes `.metadata`), so
    /// no reader ever sees half a file.
    fn write_atomic(&self, dest: &Dir, name: &str, bytes: &[u8]) -> Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp_dir = self
            .root
            .write()?
            .sub("tmp", true)?
            .expect("sub(create) always gives a directory");
        let tmp = format!(
            "toozctl-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        tmp_dir.remove(&tmp)?;
        let mut f = tmp_dir.create_new(&tmp, 0o666)?;
        let r = io::Write::write_all(&mut f, bytes)
            .map_err(|e| super::io_error("cannot write", &tmp_dir.shown(&tmp), e))
            .and_then(|()| tmp_dir.rename(&tmp, dest, name));
        if r.is_err() {
            let _ = tmp_dir.remove(&tmp);
        }
        r
    }

    /// Every member record of the group in `gdir` (our part in `odir`). Dead toozctl
    /// members are skipped, and removed when `clean` (writers only). Call with the driver
    /// lock held. `all`: also return tooz records older than `timeout` (for delete's message).
    pub fn records(
        &self,
        gdir: &Dir,
        odir: Option<&Dir>,
        all: bool,
        clean: bool,
    ) -> Result<Vec<Record>> {
        let mdir = match odir {
            Some(o) => o.sub("members", false)?,
            None => None,
        };
        self.records_in(gdir, mdir.as_ref(), all, clean)
    }

    /// As [`Store::records`], given our member-lock directory `mdir`.
    pub fn records_in(
        &self,
        gdir: &Dir,
        mdir: Option<&Dir>,
        all: bool,
        clean: bool,
    ) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for name in gdir.files()? {
            let Some(stem) = name.strip_suffix(".raw") else {
                continue;
            };
            let live = format!("{stem}.lock");
            let (holder, fresh_until) = match self.liveness(gdir, &name, mdir, &live) {
                Liveness::Absent => continue,
                Liveness::Ours(h) => (h, None),
                Liveness::DeadOurs => {
                    if clean {
                        let _ = gdir.remove(&name);
                        if let Some(m) = mdir {
                            let _ = m.remove(&live);
                        }
                    }
                    continue;
                }
                Liveness::Tooz { fresh, mtime } => {
                    if !fresh && !all {
                        continue;
                    }
                    (None, Some(mtime + self.timeout))
                }
            };
            let Ok(Some(bytes)) = gdir.read(&name) else {
                continue;
            };
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
        let root = self
            .read_root()?
            .expect("a group exists, so the directory does");
        let _dl = DriverLock::read(&root)?;
        let gdir = self.require(group)?;
        let leader = super::leader::current(self, group)?.and_then(|h| h.member_id);
        let odir = self.our_dir(group, false)?;
        let recs = self.records(&gdir, odir.as_ref(), false, false)?;
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
        let Some(root) = self.read_root()? else {
            return Ok(Vec::new());
        };
        let Some(groups) = root.sub("groups", false)? else {
            return Ok(Vec::new());
        };
        let _dl = DriverLock::read(&root)?;
        let ours = root.sub(".toozctl/groups", false)?;
        let mut out = Vec::new();
        for (entry, is_dir) in groups.entries()? {
            if !is_dir {
                continue;
            }
            let Ok(Some(gdir)) = groups.sub(&entry, false) else {
                continue;
            };
            let Ok(Some(meta)) = gdir.read(".metadata") else {
                continue;
            };
            let Some(name) = decode_group_id(&meta) else {
                continue;
            };
            let odir = match &ours {
                Some(o) => o.sub(&entry, false)?,
                None => None,
            };
            let members = self.records(&gdir, odir.as_ref(), false, false)?.len();
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
        let root = self.root.write()?;
        let _dl = DriverLock::take(&root)?;
        let Some(gdir) = self.group_dir(group)? else {
            return Err(Error::NotFound(format!(
                "group '{group}' does not exist (create it, or join with --create)"
            )));
        };
        let odir = self.our_dir(group, true)?.expect("created");
        let mdir = odir
            .sub("members", true)?
            .expect("sub(create) always gives a directory");
        let raw = raw_name(&member);
        let live_n = live_name(&member);
        match self.liveness(&gdir, &raw, Some(&mdir), &live_n) {
            Liveness::Absent => {}
            Liveness::Ours(h) => {
                let who = h.map(|h| format!(" ({h})")).unwrap_or_default();
                return Err(Error::AlreadyExists(format!(
                    "member '{member}' is already in group '{group}'{who}"
                )));
            }
            Liveness::DeadOurs | Liveness::Tooz { fresh: false, .. } => {
                let _ = gdir.remove(&raw);
                let _ = mdir.remove(&live_n);
            }
            Liveness::Tooz { fresh: true, .. } => {
                return Err(Error::AlreadyExists(format!(
                    "member '{member}' is already in group '{group}' (a record refreshed within the last {}s, no toozctl process: a tooz client?)",
                    self.timeout.as_secs()
                )));
            }
        }
        let live = write_locked_record(&mdir, &live_n, &self.identity.holder(None, None))?;
        let now = chrono::Local::now().naive_local();
        let record = member_record(&member, caps, now);
        if let Err(e) = self.write_atomic(&gdir, &raw, &record) {
            let _ = mdir.remove(&live_n);
            return Err(e);
        }
        let ino = live.metadata().map(|m| m.ino()).unwrap_or(0);
        Ok(Joined {
            group: group.to_string(),
            member,
            gdir,
            raw,
            mdir,
            live_name: live_n,
            live,
            ino,
        })
    }

    pub fn leave(&self, group: &str, member: &str) -> Result<()> {
        validate_name("member id", member)?;
        self.require(group)?;
        let root = self.root.write()?;
        let _dl = DriverLock::take(&root)?;
        let gdir = self.require(group)?;
        let raw = raw_name(member);
        let live = live_name(member);
        let mdir = match self.our_dir(group, false)? {
            Some(o) => o.sub("members", false)?,
            None => None,
        };
        let dead_ours = matches!(
            self.liveness(&gdir, &raw, mdir.as_ref(), &live),
            Liveness::DeadOurs
        );
        if dead_ours {
            if let Some(m) = &mdir {
                let _ = m.remove(&live);
            }
        }
        if gdir.remove(&raw)? {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "member '{member}' is not in group '{group}'"
            )))
        }
        // A live toozctl member keeps its lock file: its process sees the record go, reports
        // the membership lost and removes the lock file itself.
    }

    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.require(group)?;
        let root = self.root.write()?;
        let _dl = DriverLock::take(&root)?;
        let gdir = self.require(group)?;
        let odir = self.our_dir(group, false)?;
        let recs = self.records(&gdir, odir.as_ref(), true, true)?;
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
        gdir.remove(".metadata")?;
        let groups = root.sub("groups", false)?.expect("the group existed");
        groups.remove_dir(&sha1_hex(group))?;
        // Member lock files go; the leader's fencing counter stays, so a group created again
        // under the same name never hands out a token twice.
        if let Some(o) = odir {
            let _ = o.remove_tree("members");
        }
        Ok(())
    }
}

/// Create `dir/name` holding `holder` as JSON, locked (OFD write) before it has its real
/// name, so no reader ever sees it unlocked while we live.
pub(super) fn write_locked_record(dir: &Dir, name: &str, holder: &Holder) -> Result<File> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    dir.remove(&tmp)?;
    let file = dir.create_new(&tmp, 0o644)?;
    ofd::try_lock(&file, Kind::Write)
        .map_err(|e| super::io_error("cannot lock", &dir.shown(&tmp), e))?;
    let json =
        serde_json::to_vec(holder).map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let r = io::Write::write_all(&mut &file, &json)
        .map_err(|e| super::io_error("cannot write", &dir.shown(name), e))
        .and_then(|()| dir.rename(&tmp, dir, name));
    if let Err(e) = r {
        let _ = dir.remove(&tmp);
        return Err(e);
    }
    Ok(file)
}
