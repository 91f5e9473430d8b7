//! Locks and semaphores on System V semaphores: taking one through a holder process
//! (`holder.rs`), watching that it stays ours, giving it back; who holds a name; breaking.
//!
//! A held lock is lost when its set is removed (tooz's `break_`, `ipcrm`, `toozctl
//! unlock`: seen within [`CHECK_EVERY`]) or when the holder process ends (seen at once: its
//! stdout pipe closes). There is no lease: nothing expires while toozctl is stopped.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};

use super::holder::{self, Record};
use super::key::lock_key;
use super::sem;
use crate::coordination::{
    validate_name, Error, Health, Held, Holder, Identity, LockInfo, LockMode, LockRequest, Release,
    Result, Wait,
};

/// How often a held lock checks that its semaphore set still exists.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// How long a release waits for the holder process's answer.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// The unit count of a request: 0 for an exclusive lock (tooz's layout), N for `--limit N`.
fn slots(req: &LockRequest) -> Result<u32> {
    match req.mode {
        LockMode::Exclusive => Ok(0),
        LockMode::Limit(n) => Ok(n),
        LockMode::Shared => Err(Error::Unsupported(
            "shared (--shared) locks are not supported by the ipc backend (tooz's ipc driver \
             has none): use an exclusive lock or --limit N"
                .into(),
        )),
    }
}

/// The longest name taken: the holder process carries it in its command line, where one
/// argument may have at most 128 KiB (Linux's MAX_ARG_STRLEN).
const MAX_NAME: usize = 64 * 1024;

pub async fn acquire(identity: &Identity, req: &LockRequest) -> Result<Option<Held>> {
    validate_name("lock", &req.name)?;
    if req.name.len() > MAX_NAME {
        return Err(Error::InvalidName(format!(
            "lock name of {} bytes: the ipc backend takes names of up to {MAX_NAME} bytes \
             (its holder process carries the name in its command line)",
            req.name.len()
        )));
    }
    let slots = slots(req)?;
    let key = lock_key(&req.name);
    let record = Record {
        key,
        slots,
        toozctl_pid: identity.pid,
        member_id: identity.member_id.clone(),
        command: identity.command.clone(),
        name: req.name.clone(),
    };
    // /proc/self/exe: still our executable after a package upgrade replaced the file.
    // (The guard is a fork of toozctl instead; this holder must outlive toozctl's
    // runtime and keeps its own semaphore state, so it is a fresh process.)
    let mut child = tokio::process::Command::new("/proc/self/exe")
        .arg0("toozctl")
        .arg(holder::ENTRY)
        .args(holder::args(key, slots, req.wait == Wait::NoWait, &record))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start the semaphore holder: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::Internal("the semaphore holder has no pipes".into()));
    };
    // It forks at once and exits: the holder proper is nobody's child here.
    let st = child
        .wait()
        .await
        .map_err(|e| Error::Internal(format!("starting the semaphore holder: {e}")))?;
    if !st.success() {
        return Err(Error::Internal(format!(
            "the semaphore holder could not start ({st})"
        )));
    }
    let mut out = BufReader::new(stdout);
    let mut line = String::new();
    let read = out.read_line(&mut line);
    let n = match req.wait {
        Wait::Until(t) => match tokio::time::timeout_at(t, read).await {
            Ok(r) => r,
            // Dropping the pipes tells the holder to give up (a unit it took meanwhile is
            // undone by the kernel when it exits).
            Err(_) => return Ok(None),
        },
        Wait::NoWait | Wait::Forever => read.await,
    }
    .map_err(|e| Error::Internal(format!("reading from the semaphore holder: {e}")))?;
    let line = line.trim_end();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "acquired" => {
            let bad = || Error::Internal(format!("the semaphore holder said '{line}'"));
            let (id, pid) = rest.split_once(' ').ok_or_else(bad)?;
            let (id, pid) = (
                id.parse().map_err(|_| bad())?,
                pid.parse().map_err(|_| bad())?,
            );
            Ok(Some(held(req, key, (id, pid), stdin, out)))
        }
        "busy" => Ok(None),
        "conflict" => Err(conflict(identity, &req.name, rest, req.mode)),
        "error" => Err(Error::Unavailable(format!(
            "lock '{}' (semaphore key {key:#010x}): {rest}",
            req.name
        ))),
        _ if n == 0 => Err(Error::Internal(
            "the semaphore holder ended without an answer".into(),
        )),
        _ => Err(Error::Internal(format!(
            "the semaphore holder said '{line}'"
        ))),
    }
}

fn conflict(identity: &Identity, name: &str, other: &str, mode: LockMode) -> Error {
    let who = holders(identity, name).unwrap_or_default();
    let who = match who.as_slice() {
        [] => "nobody at the moment".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    };
    let other = match other.strip_prefix("limit ") {
        Some(n) => format!("a semaphore with --limit {n}"),
        None if other == "exclusive" => "an exclusive lock".to_string(),
        None => other.to_string(),
    };
    Error::Conflict(format!(
        "lock '{name}' is held as {other} by {who}; it cannot also be used as {mode}: use one \
         kind (and one --limit) per name"
    ))
}

/// A request to the task that owns a held lock's pipes.
type ReleaseReq = oneshot::Sender<Result<()>>;

fn held(
    req: &LockRequest,
    key: libc::key_t,
    (id, pid): (i32, u32),
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
) -> Held {
    let what = format!("lock '{}'", req.name);
    let (health_tx, health_rx) = watch::channel(Health::Held { expires: None });
    let (release_tx, release_rx) = mpsc::channel::<ReleaseReq>(1);
    let keep = {
        use std::os::fd::AsRawFd;
        stdin.as_raw_fd()
    };
    tokio::spawn(keeper(
        what.clone(),
        key,
        (id, pid),
        stdin,
        out,
        health_tx,
        release_rx,
    ));
    Held::new(what, 0, None, health_rx, Box::new(IpcRelease(release_tx)))
        .without_fencing_token()
        .with_keep_alive_fds(vec![keep])
}

/// Owns the holder's pipes while the lock is held: checks that the set still exists,
/// notices the holder's end, and performs the release when asked.
async fn keeper(
    what: String,
    key: libc::key_t,
    (id, pid): (i32, u32),
    mut stdin: ChildStdin,
    mut out: BufReader<ChildStdout>,
    health: watch::Sender<Health>,
    mut asks: mpsc::Receiver<ReleaseReq>,
) {
    let mut lost: Option<String> = None;
    let mut eof = false;
    let mut buf = String::new();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    let answer = loop {
        tokio::select! {
            ask = asks.recv() => match ask {
                Some(a) => break a,
                // Dropped without a release: closing the pipes ends the holder.
                None => return,
            },
            _ = tick.tick(), if lost.is_none() => {
                let ours = sem::stat(id).map(|st| st.key == key);
                if !matches!(ours, Ok(true)) {
                    let why = format!(
                        "its semaphore (key {key:#010x}) was deleted (a tooz break_, ipcrm or \
                         toozctl unlock): others can now take the lock"
                    );
                    let _ = health.send(Health::Lost(why.clone()));
                    lost = Some(why);
                }
            }
            r = out.read_line(&mut buf), if !eof => {
                if !matches!(r, Ok(n) if n > 0) {
                    eof = true;
                    if lost.is_none() {
                        let why = format!(
                            "the process holding its semaphore (pid {pid}) ended: the kernel \
                             gave the unit back, others can now take the lock"
                        );
                        let _ = health.send(Health::Lost(why.clone()));
                        lost = Some(why);
                    }
                }
            }
        }
    };
    if let Some(why) = lost {
        let _ = answer.send(Err(Error::Lost(why)));
        return;
    }
    let result = async {
        stdin.write_all(b"release\n").await?;
        stdin.flush().await?;
        let mut line = String::new();
        out.read_line(&mut line).await?;
        Ok::<_, std::io::Error>(line)
    };
    let reply = match tokio::time::timeout(RELEASE_WAIT, result).await {
        Ok(Ok(line)) if line.trim_end() == "released" => Ok(()),
        Ok(Ok(line)) if line.starts_with("lost ") => Err(Error::Lost(
            line.trim_end().trim_start_matches("lost ").to_string(),
        )),
        Ok(Ok(_)) => Err(Error::Lost(format!(
            "the process holding its semaphore (pid {pid}) ended before releasing it"
        ))),
        Ok(Err(e)) => Err(Error::Internal(format!(
            "releasing {what}: talking to the semaphore holder: {e}"
        ))),
        Err(_) => Err(Error::Internal(format!(
            "releasing {what}: the semaphore holder did not answer within {RELEASE_WAIT:?}"
        ))),
    };
    let _ = answer.send(reply);
}

struct IpcRelease(mpsc::Sender<ReleaseReq>);

#[async_trait::async_trait]
impl Release for IpcRelease {
    async fn release(self: Box<Self>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.0.send(tx).await.is_err() {
            return Err(Error::Internal("the lock's keeper task ended".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(Error::Internal("the lock's keeper task ended".into())))
    }
}

/// Who holds lock `name`: for an exclusive lock, the process that took the unit (the
/// kernel's `GETPID` of a set at 0), with the toozctl record when it is a toozctl holder;
/// for a semaphore, the toozctl holders of that key, and one unknown holder per other
/// slot taken.
pub fn holders(identity: &Identity, name: &str) -> Result<Vec<Holder>> {
    validate_name("lock", name)?;
    let key = lock_key(name);
    let id = match sem::open(key) {
        Ok(id) => id,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(vec![]),
        Err(e) => return Err(read_error(name, key, &e)),
    };
    Ok(set_holders(identity, key, id))
}

fn set_holders(identity: &Identity, key: libc::key_t, id: i32) -> Vec<Holder> {
    let Ok(st) = sem::stat(id) else {
        return vec![];
    };
    if st.nsems == 2 {
        let (Ok(limit), Ok(free)) = (sem::get(id, 1, libc::GETVAL), sem::get(id, 0, libc::GETVAL))
        else {
            return vec![];
        };
        let taken = (limit - free).max(0) as usize;
        let mut out: Vec<Holder> = toozctl_holders()
            .into_iter()
            .filter(|(_, r)| r.key == key)
            .map(|(_, r)| record_holder(identity, &r, None, Some(LockMode::Limit(r.slots))))
            .take(taken)
            .collect();
        while out.len() < taken {
            out.push(Holder {
                mode: Some(LockMode::Limit(limit as u32).to_string()),
                ..Holder::unknown("holds a slot (no toozctl record)")
            });
        }
        return out;
    }
    match sem::get(id, 0, libc::GETVAL) {
        Ok(0) => {}
        _ => return vec![],
    }
    let pid = sem::get(id, 0, libc::GETPID).unwrap_or(0);
    vec![pid_holder(identity, pid, st.otime)]
}

/// The holder of an exclusive lock whose unit process `pid` took at `otime`.
fn pid_holder(identity: &Identity, pid: i32, otime: i64) -> Holder {
    let since = (otime > 0)
        .then(|| chrono::DateTime::from_timestamp(otime, 0))
        .flatten()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    if pid <= 0 {
        return Holder::unknown(
            "never initialised: its creator ended between creating and setting it (toozctl \
             unlock NAME removes it)",
        );
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok();
    match comm.as_deref().map(str::trim) {
        Some(holder::HOLDING) => {
            if let Some(r) = std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .and_then(|c| Record::parse(&c))
            {
                return record_holder(identity, &r, since, Some(LockMode::Exclusive));
            }
        }
        None => {
            return Holder {
                pid: Some(pid as u32),
                host: Some(identity.host.clone()),
                since,
                ..Holder::unknown(
                    "took it without SEM_UNDO and no longer runs: toozctl unlock NAME frees it",
                )
            }
        }
        _ => {}
    }
    Holder {
        pid: Some(pid as u32),
        host: Some(identity.host.clone()),
        command: comm.map(|c| c.trim().to_string()),
        since,
        ..Holder::unknown("held by a tooz client")
    }
}

fn record_holder(
    identity: &Identity,
    r: &Record,
    since: Option<String>,
    mode: Option<LockMode>,
) -> Holder {
    Holder {
        member_id: Some(r.member_id.clone()),
        host: Some(identity.host.clone()),
        pid: Some(r.toozctl_pid),
        command: (!r.command.is_empty()).then(|| r.command.clone()),
        since,
        mode: mode.map(|m| m.to_string()),
        fencing_token: None,
        note: None,
    }
}

/// Every toozctl holder process on the host that holds a unit: (its pid, its record).
fn toozctl_holders() -> Vec<(i32, Record)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == holder::HOLDING)
        })
        .filter_map(|pid| {
            let c = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, Record::parse(&c)?))
        })
        .collect()
}

/// The locks that can be found: every name a toozctl holder on this host holds (its record
/// names it), and every other held set of tooz's layout, named `(key 0x…)` because tooz
/// keeps no name — only a hash of it.
pub fn locks(identity: &Identity) -> Vec<LockInfo> {
    let mut out: Vec<LockInfo> = Vec::new();
    let mut named: Vec<libc::key_t> = Vec::new();
    for (_, r) in toozctl_holders() {
        if named.contains(&r.key) {
            continue;
        }
        named.push(r.key);
        let Ok(id) = sem::open(r.key) else { continue };
        let holders = set_holders(identity, r.key, id);
        if !holders.is_empty() {
            out.push(LockInfo {
                name: r.name.clone(),
                holders,
                ttl: None,
                fencing_token: None,
            });
        }
    }
    for set in sem::list() {
        if named.contains(&set.key) || set.key == 0 || set.nsems != 1 {
            continue;
        }
        let holders = set_holders(identity, set.key, set.id);
        if !holders.is_empty() {
            out.push(LockInfo {
                name: format!("(key {:#010x})", set.key),
                holders,
                ttl: None,
                fencing_token: None,
            });
        }
    }
    out
}

/// tooz's `break_`: remove the set, whoever holds it. A free lock is left alone (nothing to
/// break: the answer is empty).
pub fn break_lock(identity: &Identity, name: &str) -> Result<Vec<Holder>> {
    validate_name("lock", name)?;
    let key = lock_key(name);
    let id = match sem::open(key) {
        Ok(id) => id,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(vec![]),
        Err(e) => return Err(read_error(name, key, &e)),
    };
    let holders = set_holders(identity, key, id);
    if holders.is_empty() {
        return Ok(vec![]);
    }
    match sem::remove(id) {
        Ok(()) => Ok(holders),
        Err(e) if sem::gone(&e) => Ok(holders),
        Err(e) => Err(Error::Unavailable(format!(
            "cannot remove the semaphore of lock '{name}' (key {key:#010x}): {e}"
        ))),
    }
}

fn read_error(name: &str, key: libc::key_t, e: &std::io::Error) -> Error {
    Error::Unavailable(format!(
        "cannot read the semaphore of lock '{name}' (key {key:#010x}): {e}"
    ))
}
