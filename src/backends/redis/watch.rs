//! Watches on Redis: events come from pub/sub, with a bounded poll as the safety net.
//!
//! A watch subscribes to the channels toozctl publishes on (`NS_group:<g>.changed`,
//! `NS_<name>_lock.acquired`/`.released`) and to the keyspace-notification channel of the
//! key it follows (which fires only when the server has `notify-keyspace-events` enabled).
//! On every message, and at least once a second, it re-reads the state and reports the
//! differences; so changes made by tooz clients (which publish nothing) and members that
//! die (their beat key just expires) are seen within about a second. When the connection
//! breaks it reports `lost`, reconnects, re-reads, and reports `resync` plus whatever
//! changed meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::lock::{self, Keys};
use super::{group, Inner};
use crate::coordination::{Error, Event, EventKind, Events, Holder, Result, WatchTarget};

const POLL: Duration = Duration::from_secs(1);

#[derive(Clone, PartialEq)]
enum State {
    Members(BTreeSet<String>),
    /// Each holder's token (the lock value, or its semaphore or reader entry) and what we
    /// know of it.
    Held(BTreeMap<String, Holder>),
}

async fn read(inner: &Inner, target: &WatchTarget) -> Result<State> {
    match target {
        WatchTarget::Group(g) => match group::members(inner, g).await {
            Ok(ms) => Ok(State::Members(
                ms.into_iter().map(|m| m.member_id).collect(),
            )),
            Err(Error::NotFound(_)) => Ok(State::Members(BTreeSet::new())),
            Err(e) => Err(e),
        },
        WatchTarget::Leader(g) => read_lock(inner, &format!("leader_of_{g}")).await,
        WatchTarget::Lock(n) => read_lock(inner, n).await,
    }
}

async fn read_lock(inner: &Inner, name: &str) -> Result<State> {
    Ok(State::Held(
        lock::holders_by_token(inner, name)
            .await?
            .into_iter()
            .collect(),
    ))
}

/// The events that lead from `old` to `new`.
fn diff(target: &WatchTarget, old: &State, new: &State) -> Vec<Event> {
    let mut out = Vec::new();
    match (old, new) {
        (State::Members(a), State::Members(b)) => {
            for m in b.difference(a) {
                out.push(Event::now(EventKind::Join, target, Some(m.clone()), None));
            }
            for m in a.difference(b) {
                out.push(Event::now(EventKind::Leave, target, Some(m.clone()), None));
            }
        }
        (State::Held(a), State::Held(b)) => {
            let leader = matches!(target, WatchTarget::Leader(_));
            let gained = if leader {
                EventKind::Elected
            } else {
                EventKind::Acquired
            };
            // Each holder by its token: readers and semaphore slots come and go one by one.
            for (tok, h) in a {
                if !leader && !b.contains_key(tok) {
                    out.push(Event::now(
                        EventKind::Released,
                        target,
                        h.member_id.clone(),
                        Some(h.clone()),
                    ));
                }
            }
            for (tok, h) in b {
                if !a.contains_key(tok) {
                    out.push(Event::now(
                        gained,
                        target,
                        h.member_id.clone(),
                        Some(h.clone()),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

fn channels(inner: &Inner, target: &WatchTarget) -> Vec<String> {
    match target {
        WatchTarget::Group(g) => {
            let key = inner.group_key(g);
            vec![inner.changed_channel(g), inner.keyspace_channel(&key)]
        }
        WatchTarget::Leader(g) => lock_channels(inner, &format!("leader_of_{g}")),
        WatchTarget::Lock(n) => lock_channels(inner, n),
    }
}

fn lock_channels(inner: &Inner, name: &str) -> Vec<String> {
    let k = Keys::new(inner, name);
    vec![
        k.acquired.clone(),
        k.released.clone(),
        inner.keyspace_channel(&k.lock),
    ]
}

pub(super) async fn watch(inner: &Arc<Inner>, target: &WatchTarget) -> Result<Events> {
    let ps = inner.subscribe(&channels(inner, target)).await?;
    let state = read(inner, target).await?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(run(inner.clone(), target.clone(), Some(ps), state, tx));
    Ok(rx)
}

async fn run(
    inner: Arc<Inner>,
    target: WatchTarget,
    mut ps: Option<redis::aio::PubSub>,
    mut state: State,
    tx: mpsc::Sender<Result<Event>>,
) {
    let mut disconnected = false;
    loop {
        if let Some(p) = ps.as_mut() {
            let mut stream = p.on_message();
            tokio::select! {
                m = stream.next() => if m.is_none() {
                    drop(stream);
                    ps = None;
                },
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
        }
        if ps.is_none() {
            ps = inner.subscribe(&channels(&inner, &target)).await.ok();
        }
        match read(&inner, &target).await {
            Ok(new) => {
                let mut events = Vec::new();
                if disconnected {
                    disconnected = false;
                    events.push(Event::now(EventKind::Resync, &target, None, None));
                }
                events.extend(diff(&target, &state, &new));
                state = new;
                for e in events {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
            Err(_) if !disconnected => {
                disconnected = true;
                ps = None;
                if tx
                    .send(Ok(Event::now(EventKind::Lost, &target, None, None)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_diffs() {
        let t = WatchTarget::Lock("x".into());
        let h = |m: &str| Holder {
            member_id: Some(m.into()),
            ..Holder::default()
        };
        let free = State::Held(BTreeMap::new());
        let a = State::Held([("t1".to_string(), h("a"))].into());
        let b = State::Held([("t2".to_string(), h("b"))].into());
        let ab = State::Held([("t1".to_string(), h("a")), ("t2".to_string(), h("b"))].into());
        let kinds = |v: Vec<Event>| v.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(diff(&t, &free, &a)), vec![EventKind::Acquired]);
        assert_eq!(kinds(diff(&t, &a, &free)), vec![EventKind::Released]);
        assert_eq!(
            kinds(diff(&t, &a, &b)),
            vec![EventKind::Released, EventKind::Acquired]
        );
        assert!(diff(&t, &a, &a).is_empty());
        // Readers (or semaphore slots) one by one.
        assert_eq!(kinds(diff(&t, &a, &ab)), vec![EventKind::Acquired]);
        assert_eq!(kinds(diff(&t, &ab, &b)), vec![EventKind::Released]);
        let g = WatchTarget::Group("g".into());
        let m1 = State::Members(["a".to_string()].into());
        let m2 = State::Members(["b".to_string()].into());
        assert_eq!(
            kinds(diff(&g, &m1, &m2)),
            vec![EventKind::Join, EventKind::Leave]
        );
    }
}
