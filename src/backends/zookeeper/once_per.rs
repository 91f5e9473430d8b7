//! `lock --once-per` on ZooKeeper. Nodes (under `/NS/locks/.toozctl`, which tooz never
//! lists):
//!
//! | path | what |
//! |---|---|
//! | `/NS/locks/.toozctl/clock` | empty; written at the start and end of every run, so its `mtime` is the server's time then |
//! | `/NS/locks/.toozctl/last-success/<enc name>` | the last success (JSON `SuccessRecord`), times from the clock node's `mtime` |
//!
//! ZooKeeper tells its time only in the `mtime` of a write (the leader's clock when it
//! ordered the write), so the start of a run is stamped by writing the clock node; the age
//! of the last success is that stamp less the record's start, both on the server's clock.
//! `<enc name>` is the lock name with `%` and `/` written `%25` and `%2F`.

use std::time::Duration;

use zookeeper_client as zk;

use super::{zk_error, ZkCoordinator, RECORDS};
use crate::coordination::{LastSuccess, Result, RunStart, SuccessRecord};

const CLOCK: &str = "zookeeper mtime";

fn base(c: &ZkCoordinator) -> String {
    format!("{}/locks/{RECORDS}", c.root)
}

fn record_path(c: &ZkCoordinator, name: &str) -> String {
    format!(
        "{}/last-success/{}",
        base(c),
        name.replace('%', "%25").replace('/', "%2F")
    )
}

/// The server's time now: the `mtime` of a write to the clock node.
async fn server_ms(c: &ZkCoordinator) -> Result<u64> {
    let client = c.client()?;
    let path = format!("{}/clock", base(c));
    let stat = match client.set_data(&path, b"", None).await {
        Ok(stat) => stat,
        Err(zk::Error::NoNode) => {
            c.ensure_path(&path).await?;
            client
                .set_data(&path, b"", None)
                .await
                .map_err(|e| zk_error("writing the clock node", e))?
        }
        Err(e) => return Err(zk_error("writing the clock node", e)),
    };
    Ok(stat.mtime.max(0) as u64)
}

async fn read(c: &ZkCoordinator, name: &str) -> Result<Option<SuccessRecord>> {
    match c.client()?.get_data(&record_path(c, name)).await {
        Ok((data, _)) => Ok(SuccessRecord::parse(&data)),
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(zk_error("reading the last success", e)),
    }
}

pub(super) async fn begin(c: &ZkCoordinator, name: &str) -> Result<RunStart> {
    let now = server_ms(c).await?;
    let last = read(c, name).await?.map(|record| LastSuccess {
        name: name.to_string(),
        age: Some(Duration::from_millis(now.saturating_sub(record.started_ms))),
        record,
    });
    Ok(RunStart {
        last,
        started_ms: now,
        lease: None,
    })
}

pub(super) async fn end(
    c: &ZkCoordinator,
    name: &str,
    run: RunStart,
    succeeded: bool,
) -> Result<()> {
    if !succeeded {
        return Ok(());
    }
    let finished = server_ms(c).await?;
    let record = SuccessRecord::new(&c.identity, name, run.started_ms, finished, CLOCK);
    let path = record_path(c, name);
    let client = c.client()?;
    let doing = "recording the success";
    match client.set_data(&path, &record.to_json(), None).await {
        Ok(_) => Ok(()),
        Err(zk::Error::NoNode) => {
            let dir = format!("{}/last-success", base(c));
            c.ensure_path(&dir).await?;
            match client
                .create(&path, &record.to_json(), &c.persistent())
                .await
            {
                Ok(_) => Ok(()),
                Err(zk::Error::NodeExists) => client
                    .set_data(&path, &record.to_json(), None)
                    .await
                    .map(|_| ())
                    .map_err(|e| zk_error(doing, e)),
                Err(e) => Err(zk_error(doing, e)),
            }
        }
        Err(e) => Err(zk_error(doing, e)),
    }
}

/// Every record; their age is left to the reader's clock (telling the server's time
/// would need a write, and listing writes nothing).
pub(super) async fn list(c: &ZkCoordinator) -> Result<Vec<LastSuccess>> {
    let client = c.client()?;
    let dir = format!("{}/last-success", base(c));
    let children = match client.list_children(&dir).await {
        Ok(ch) => ch,
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(zk_error("listing once-per records", e)),
    };
    let mut out = Vec::new();
    for child in children {
        let name = child.replace("%2F", "/").replace("%25", "%");
        if let Some(record) = read(c, &name).await? {
            out.push(LastSuccess {
                name,
                record,
                age: None,
            });
        }
    }
    Ok(out)
}
