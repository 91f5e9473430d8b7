//! `--shared` (reader) locks that tooz's exclusive holders still respect.
//!
//! tooz only looks at `/tooz/locks<name>`, so while any reader holds, that key must exist.
//! The first reader grants a *shared lease* and creates the key with the value
//! `toozctl:shared\0\0` on it; every reader (the first included) puts its record at
//! `/toozctl/readers/<enc>/<own lease hex>` on its own lease and keeps the shared lease
//! alive too. A later reader joins in one transaction *if* the key still holds the marker
//! (same create revision). The last reader out deletes the key in the same transaction
//! that deletes its record, *if* no other record is left (two range compares around its
//! own key), then revokes the shared lease. So tooz, exclusive toozctl holders and
//! semaphores all see the lock held while readers run; a reader arriving while an
//! exclusive holder has the key waits for its deletion.

use async_trait::async_trait;
use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use tokio::task::JoinHandle;

use super::lease::{self, Lease};
use super::lock::{
    by_create, conflict, lock_key, put_on, range, semaphore_prefix, take_lease, wait_for_delete,
};
use super::{encode_component, holder_json, parse_holder, EtcdCoordinator, READER_PREFIX};
use crate::coordination::{Held, Holder, LockMode, LockRequest, Release, Result, Wait};

/// The tooz key's value while readers hold it (16 bytes, as tooz's own values).
pub const MARKER: &[u8; 16] = b"toozctl:shared\0\0";

pub fn readers_prefix(name: &str) -> Vec<u8> {
    format!("{READER_PREFIX}{}/", encode_component(name)).into_bytes()
}

/// The first key after every key under `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

pub(super) async fn acquire(c: &EtcdCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    let key = lock_key(&req.name);
    let readers = readers_prefix(&req.name);
    let sem = semaphore_prefix(&req.name);
    let ttl = req.ttl.unwrap_or(c.lock_ttl);
    let lease = take_lease(c, ttl).await?;
    let mine = [readers.clone(), format!("{:016x}", lease.id).into_bytes()].concat();
    let record = holder_json(&c.identity.holder(Some(LockMode::Shared), None));
    loop {
        let mut client = c.client();
        let look = Txn::new().and_then([
            TxnOp::get(key.clone(), None),
            TxnOp::get(
                sem.clone(),
                Some(GetOptions::new().with_prefix().with_limit(1)),
            ),
        ]);
        let resp = c
            .rpc(&format!("reading lock '{}'", req.name), client.txn(look))
            .await?;
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let ops = resp.op_responses();
        let (current, sem_holder) = (range(ops.first()), range(ops.get(1)));
        let joined = match current.first() {
            // Readers hold it: join them.
            Some(kv) if kv.value() == MARKER => {
                let txn = Txn::new()
                    .when([Compare::create_revision(
                        key.clone(),
                        CompareOp::Equal,
                        kv.create_revision(),
                    )])
                    .and_then([TxnOp::put(mine.clone(), record.clone(), put_on(lease.id))]);
                let r = c
                    .rpc(
                        &format!("joining the readers of lock '{}'", req.name),
                        client.txn(txn),
                    )
                    .await?;
                r.succeeded().then(|| {
                    (
                        r.header().map(|h| h.revision()).unwrap_or(0),
                        Lease::adopt(c, kv.lease(), ttl),
                    )
                })
            }
            // An exclusive holder (tooz or toozctl): wait for the key's deletion.
            Some(_) => {
                if req.wait == Wait::NoWait {
                    *c.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some((ttl, lease));
                    return Ok(None);
                }
                if !wait_for_delete(c, &key, false, rev + 1, req.wait).await? {
                    lease.revoke(c).await?;
                    return Ok(None);
                }
                continue;
            }
            None => {
                if let Some(s) = sem_holder.first() {
                    let holder = parse_holder(Some(s.value()), "a semaphore holder");
                    lease.revoke(c).await?;
                    return Err(conflict(&req.name, &holder, LockMode::Shared));
                }
                // The first reader: create the key on a new shared lease.
                let mut shared = Lease::grant(c, ttl).await?;
                let txn = Txn::new()
                    .when([
                        Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                        Compare::create_revision(sem.clone(), CompareOp::Equal, 0).with_prefix(),
                    ])
                    .and_then([
                        TxnOp::put(key.clone(), MARKER.to_vec(), put_on(shared.id)),
                        TxnOp::put(mine.clone(), record.clone(), put_on(lease.id)),
                    ]);
                let r = c
                    .rpc(
                        &format!("taking lock '{}' shared", req.name),
                        client.txn(txn),
                    )
                    .await?;
                if r.succeeded() {
                    // Other readers will rely on it: only the last one out revokes it.
                    shared.disown();
                    Some((r.header().map(|h| h.revision()).unwrap_or(0), shared))
                } else {
                    shared.revoke(c).await?;
                    None
                }
            }
        };
        let Some((token, shared)) = joined else {
            continue;
        };
        // Deleting or overwriting the tooz key ends every reader's hold.
        let watcher = lease::watch_loss(c, key.clone(), MARKER.to_vec(), token, lease.sender());
        let health = lease.health();
        let lease_ttl = lease.ttl;
        let held = SharedLock {
            c: c.shallow(),
            key,
            readers,
            mine,
            lease: Some(lease),
            shared: Some(shared),
            watcher,
        };
        return Ok(Some(Held::new(
            format!("lock '{}' (shared)", req.name),
            token as u64,
            Some(lease_ttl),
            health,
            Box::new(held),
        )));
    }
}

struct SharedLock {
    c: EtcdCoordinator,
    key: Vec<u8>,
    readers: Vec<u8>,
    mine: Vec<u8>,
    lease: Option<Lease>,
    /// Keeps the shared lease alive while we hold (owned by nobody).
    shared: Option<Lease>,
    watcher: JoinHandle<()>,
}

#[async_trait]
impl Release for SharedLock {
    async fn release(mut self: Box<Self>) -> Result<()> {
        self.watcher.abort();
        let c = &self.c;
        let lease = self.lease.take().expect("released once");
        let shared = self.shared.take().expect("released once");
        let mut after_mine = self.mine.clone();
        after_mine.push(0);
        // The last reader out (no record before or after ours) deletes the tooz key too.
        let txn = Txn::new()
            .when([
                Compare::create_revision(self.readers.clone(), CompareOp::Equal, 0)
                    .with_range(self.mine.clone()),
                Compare::create_revision(after_mine, CompareOp::Equal, 0)
                    .with_range(prefix_end(&self.readers)),
                Compare::value(self.key.clone(), CompareOp::Equal, MARKER.to_vec()),
            ])
            .and_then([
                TxnOp::delete(self.mine.clone(), None),
                TxnOp::delete(self.key.clone(), None),
            ])
            .or_else([TxnOp::delete(self.mine.clone(), None)]);
        let mut client = c.client();
        let last = c
            .rpc("releasing the shared lock", client.txn(txn))
            .await
            .map(|r| r.succeeded());
        let revoked = lease.revoke(c).await;
        let shared_id = shared.forget();
        if let Ok(true) = last {
            let _ = c
                .rpc(
                    "revoking the readers' lease",
                    client.lease_revoke(shared_id),
                )
                .await;
        }
        last?;
        revoked
    }
}

/// The readers holding lock `name` now (their records, oldest first).
pub(super) async fn readers(c: &EtcdCoordinator, name: &str) -> Result<Vec<Holder>> {
    let mut client = c.client();
    let resp = c
        .rpc(
            "reading the lock's readers",
            client.get(readers_prefix(name), Some(by_create())),
        )
        .await?;
    Ok(resp
        .kvs()
        .iter()
        .map(|kv| {
            let mut h = parse_holder(Some(kv.value()), "a reader");
            h.fencing_token = Some(kv.create_revision() as u64);
            h
        })
        .collect())
}
