//! etcd watches: [`Follow`] follows a key or prefix from a revision, reconnecting from the
//! last revision it saw (so nothing is missed across a reconnect) and reporting a
//! compaction so the caller re-reads the state. Every wait in this backend (lock waiters,
//! semaphore queues, election predecessors, loss detection) and the `watch` command are
//! built on it.
//!
//! The `watch` command's events: for a group, a member key put with version 1 is `join` and
//! its deletion `leave`; for a lock, the key's creation is `acquired` (with the holder
//! record and the create revision as fencing token) and its deletion `released`; for a
//! leader, any change under the election prefix is re-read and a new lowest key is
//! `elected`. A broken connection is reported once as `lost`; after a compaction the state
//! is re-read, differences are reported as events, then `resync`.

use std::collections::BTreeMap;

use etcd_client::EventType;
use tokio::sync::mpsc;

use super::follow::{Follow, Seen};
use super::keys::lock_key;
use super::{group, lock, EtcdCoordinator, GROUP_PREFIX};
use crate::coordination::{Event, EventKind, Events, Holder, Result, WatchTarget};

/// What a target looks like now: member/holder name → (holder, fencing token).
type State = BTreeMap<String, (Option<Holder>, Option<u64>)>;

/// Read the current state of `target` and the revision it was read at.
async fn snapshot(c: &EtcdCoordinator, target: &WatchTarget) -> Result<(State, i64)> {
    let mut state = State::new();
    let rev = match target {
        WatchTarget::Group(g) => {
            let (members, rev) = group::member_keys(c, g).await?;
            for (m, _) in members {
                state.insert(m, (None, None));
            }
            rev
        }
        WatchTarget::Lock(name) => {
            let (holders, rev) = lock::holders_at(c, name).await?;
            for h in holders {
                let key = h.member_id.clone().unwrap_or_else(|| h.to_string());
                let token = h.fencing_token;
                state.insert(key, (Some(h), token));
            }
            rev
        }
        WatchTarget::Leader(g) => {
            let (leader, rev) = group::leader_at(c, g).await?;
            if let Some((h, token)) = leader {
                let key = h.member_id.clone().unwrap_or_default();
                state.insert(key, (Some(h), Some(token)));
            }
            rev
        }
    };
    Ok((state, rev))
}

/// Events that turn `old` into `new`.
fn diff(target: &WatchTarget, old: &State, new: &State) -> Vec<Event> {
    let (gone, came) = match target {
        WatchTarget::Group(_) => (EventKind::Leave, EventKind::Join),
        WatchTarget::Lock(_) => (EventKind::Released, EventKind::Acquired),
        WatchTarget::Leader(_) => (EventKind::Elected, EventKind::Elected),
    };
    let mut out = Vec::new();
    if !matches!(target, WatchTarget::Leader(_)) {
        for (k, (h, t)) in old {
            if !new.contains_key(k) {
                out.push(Event::now(gone, target, Some(k.clone()), h.clone()).with_token(*t));
            }
        }
    }
    for (k, (h, t)) in new {
        if old.get(k).map(|(_, ot)| ot) != Some(t) || !old.contains_key(k) {
            out.push(Event::now(came, target, Some(k.clone()), h.clone()).with_token(*t));
        }
    }
    out
}

fn watched_key(target: &WatchTarget) -> (Vec<u8>, bool) {
    match target {
        WatchTarget::Group(g) => (format!("{GROUP_PREFIX}{g}/").into_bytes(), true),
        WatchTarget::Lock(name) => (lock_key(name), false),
        WatchTarget::Leader(g) => (group::election_prefix(g), true),
    }
}

pub async fn watch(c: &EtcdCoordinator, target: &WatchTarget) -> Result<Events> {
    let (mut state, rev) = snapshot(c, target).await?;
    let (key, prefix) = watched_key(target);
    let mut follow = Follow::new(c.client(), key.clone(), prefix, rev + 1, c.timeout);
    let (tx, rx) = mpsc::channel(256);
    let target = target.clone();
    let me = c.shallow();
    tokio::spawn(async move {
        loop {
            let batch = match follow.next().await {
                Seen::Events(evs) => {
                    let mut out = Vec::new();
                    let mut reread = false;
                    for ev in &evs {
                        let evs = apply(&me, &target, &key, &mut state, ev).await;
                        reread |= evs.is_empty() && matches!(target, WatchTarget::Leader(_));
                        out.extend(evs);
                    }
                    if reread {
                        // On an error the next change triggers another re-read.
                        if let Ok((new, _)) = snapshot(&me, &target).await {
                            out.extend(diff(&target, &state, &new));
                            state = new;
                        }
                    }
                    out
                }
                Seen::Disconnected => {
                    if tx
                        .send(Ok(
                            Event::now(EventKind::Lost, &target, None, None).with_token(None)
                        ))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    Follow::backoff().await;
                    continue;
                }
                Seen::Compacted => match snapshot(&me, &target).await {
                    Ok((new, rev)) => {
                        let mut out = diff(&target, &state, &new);
                        out.push(
                            Event::now(EventKind::Resync, &target, None, None).with_token(None),
                        );
                        state = new;
                        follow.restart(rev + 1);
                        out
                    }
                    Err(_) => {
                        Follow::backoff().await;
                        continue;
                    }
                },
            };
            for e in batch {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// One etcd event → ours, updating `state`. Empty: nothing to report (or, for leaders,
/// re-read the election).
async fn apply(
    c: &EtcdCoordinator,
    target: &WatchTarget,
    key: &[u8],
    state: &mut State,
    ev: &etcd_client::Event,
) -> Vec<Event> {
    apply_one(c, target, key, state, ev)
        .await
        .unwrap_or_default()
}

async fn apply_one(
    c: &EtcdCoordinator,
    target: &WatchTarget,
    key: &[u8],
    state: &mut State,
    ev: &etcd_client::Event,
) -> Option<Vec<Event>> {
    let kv = ev.kv()?;
    match target {
        WatchTarget::Group(_) => {
            let member = String::from_utf8_lossy(kv.key().strip_prefix(key)?).into_owned();
            if member.is_empty() {
                return None;
            }
            match ev.event_type() {
                EventType::Put if kv.version() == 1 => {
                    state.insert(member.clone(), (None, None));
                    Some(vec![Event::now(
                        EventKind::Join,
                        target,
                        Some(member),
                        None,
                    )
                    .with_token(None)])
                }
                EventType::Put => None,
                EventType::Delete => {
                    state.remove(&member)?;
                    Some(vec![Event::now(
                        EventKind::Leave,
                        target,
                        Some(member),
                        None,
                    )
                    .with_token(None)])
                }
            }
        }
        WatchTarget::Lock(name) => {
            // A put with version > 1 is a hand-over: the old holder released, a new one acquired.
            let mut out = Vec::new();
            if ev.event_type() == EventType::Delete || kv.version() > 1 {
                if let Some((id, (holder, token))) = state.pop_first() {
                    state.clear();
                    let member = holder
                        .as_ref()
                        .and_then(|h| h.member_id.clone())
                        .or(Some(id));
                    out.push(
                        Event::now(EventKind::Released, target, member, holder).with_token(token),
                    );
                }
            }
            if ev.event_type() == EventType::Put {
                let token = kv.mod_revision() as u64;
                let holder = lock::holder_of(c, name, kv.mod_revision()).await;
                let id = holder
                    .member_id
                    .clone()
                    .unwrap_or_else(|| holder.to_string());
                state.insert(id, (Some(holder.clone()), Some(token)));
                out.push(
                    Event::now(
                        EventKind::Acquired,
                        target,
                        holder.member_id.clone(),
                        Some(holder),
                    )
                    .with_token(Some(token)),
                );
            }
            Some(out)
        }
        WatchTarget::Leader(_) => None,
    }
}
