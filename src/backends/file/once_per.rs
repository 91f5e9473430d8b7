//! `lock --once-per` on the file backend: the last success of lock `<name>` is the JSON
//! `SuccessRecord` in `DIR/.toozctl/locks/<enc>/last-success.json`, written (a new file,
//! then renamed over the old one) only while the lock is held. Its times are this
//! machine's clock: the file backend serves one machine, so there is no other clock to
//! disagree with.

use std::io::Write;
use std::time::Duration;

use super::safefs::Root;
use super::store::blocking;
use super::FileCoordinator;
use crate::coordination::once_per::local_ms;
use crate::coordination::{Error, LastSuccess, Result, RunStart, SuccessRecord};

const FILE: &str = "last-success.json";
const CLOCK: &str = "local clock";

fn last_of(bytes: &[u8], now_ms: u64) -> Option<LastSuccess> {
    let record = SuccessRecord::parse(bytes)?;
    Some(LastSuccess {
        name: record.name.clone(),
        age: Some(Duration::from_millis(
            now_ms.saturating_sub(record.started_ms),
        )),
        record,
    })
}

fn read(root: &Root, name: &str) -> Result<Option<LastSuccess>> {
    let Some(dir) = root.read()? else {
        return Ok(None);
    };
    let Some(meta) = dir.sub(&super::meta_rel(name), false)? else {
        return Ok(None);
    };
    Ok(meta
        .read(FILE)?
        .and_then(|b| last_of(&b, local_ms()))
        .map(|mut l| {
            l.name = name.to_string();
            l
        }))
}

fn write(root: &Root, record: &SuccessRecord) -> Result<()> {
    let dir = root.write()?;
    let meta = dir
        .sub(&super::meta_rel(&record.name), true)?
        .ok_or_else(|| Error::Internal("the lock's record directory vanished".into()))?;
    let tmp = format!(".tmp-success-{}", std::process::id());
    meta.remove(&tmp)?;
    let mut f = meta.create_new(&tmp, 0o644)?;
    let written = f
        .write_all(&record.to_json())
        .and_then(|()| f.sync_all())
        .map_err(|e| super::io_error("cannot write", &meta.shown(&tmp), e))
        .and_then(|()| meta.rename(&tmp, &meta, FILE));
    if written.is_err() {
        let _ = meta.remove(&tmp);
    }
    written
}

fn list(root: &Root) -> Result<Vec<LastSuccess>> {
    let Some(dir) = root.read()? else {
        return Ok(Vec::new());
    };
    let Some(locks) = dir.sub(".toozctl/locks", false)? else {
        return Ok(Vec::new());
    };
    let now = local_ms();
    let mut out = Vec::new();
    for (entry, is_dir) in locks.entries()? {
        if !is_dir {
            continue;
        }
        let Some(meta) = locks.sub(&entry, false)? else {
            continue;
        };
        if let Some(l) = meta.read(FILE)?.and_then(|b| last_of(&b, now)) {
            // Shown, never obeyed: a record naming another lock than its directory is skipped.
            if super::meta_rel(&l.name) == format!(".toozctl/locks/{entry}") {
                out.push(l);
            }
        }
    }
    Ok(out)
}

pub(super) async fn begin(c: &FileCoordinator, name: &str) -> Result<RunStart> {
    c.lock_file(name)?;
    let (root, n) = (c.root.clone(), name.to_string());
    let last = blocking(move || read(&root, &n)).await?;
    Ok(RunStart {
        last,
        started_ms: local_ms(),
        lease: None,
    })
}

pub(super) async fn end(
    c: &FileCoordinator,
    name: &str,
    run: RunStart,
    succeeded: bool,
) -> Result<()> {
    c.lock_file(name)?;
    if !succeeded {
        return Ok(());
    }
    let record = SuccessRecord::new(&c.identity, name, run.started_ms, local_ms(), CLOCK);
    let root = c.root.clone();
    blocking(move || write(&root, &record)).await
}

pub(super) async fn last_successes(c: &FileCoordinator) -> Result<Vec<LastSuccess>> {
    let root = c.root.clone();
    blocking(move || list(&root)).await
}
