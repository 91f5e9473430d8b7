//! `watch lock` on the ipc backend: System V semaphores notify nobody, so the holders are
//! read every [`POLL`] and the differences reported (`acquired` / `released`). A hand-over
//! between two reads shows as `released` then `acquired` when the holder changed; a
//! holder that came and went between two reads is not seen.

use std::time::Duration;

use tokio::sync::mpsc;

use super::lock;
use crate::coordination::{Event, EventKind, Events, Holder, Identity, Result, WatchTarget};

/// How often the holders are read.
const POLL: Duration = Duration::from_millis(100);

pub async fn lock(identity: Identity, name: &str) -> Result<Events> {
    let target = WatchTarget::Lock(name.to_string());
    let mut last = lock::holders(&identity, name)?;
    let (tx, rx) = mpsc::channel(256);
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            let now = match lock::holders(&identity, &name) {
                Ok(h) => h,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for ev in diff(&target, &last, &now) {
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            last = now;
        }
    });
    Ok(rx)
}

/// Who a holder is, for telling a change of holder from the same one read again.
fn same(a: &Holder, b: &Holder) -> bool {
    (&a.pid, &a.member_id, &a.since) == (&b.pid, &b.member_id, &b.since)
}

fn diff(target: &WatchTarget, old: &[Holder], new: &[Holder]) -> Vec<Event> {
    let mut out = Vec::new();
    for h in old.iter().filter(|h| !new.iter().any(|n| same(h, n))) {
        let member = h.member_id.clone();
        out.push(Event::now(
            EventKind::Released,
            target,
            member,
            Some(h.clone()),
        ));
    }
    for h in new.iter().filter(|h| !old.iter().any(|o| same(h, o))) {
        let member = h.member_id.clone();
        out.push(Event::now(
            EventKind::Acquired,
            target,
            member,
            Some(h.clone()),
        ));
    }
    out
}
