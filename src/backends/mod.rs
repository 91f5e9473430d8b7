//! The backends, each implementing `coordination::Coordinator` without clap or printing.
//! [`connect`] is the only place that matches on the URL scheme.
//!
//! ## The shape of a backend (the template is [`redis`])
//!
//! - `mod.rs`: the URL's options (validated before connecting: bad input is exit 2),
//!   connecting, key or path names, mapping the client's errors to `coordination::Error`,
//!   and the `Coordinator` impl, which only dispatches to the modules below.
//! - `lock.rs` (locks, semaphores, their `Release`), `group.rs` (groups, members,
//!   leadership), `watch.rs` (the `watch` command's events, built with `Event::now`), each
//!   on top of `mod.rs` and of shared pieces below them (etcd's `keys.rs`/`follow.rs`,
//!   the file backend's `store.rs`): dependencies inside a backend point one way.
//! - A held primitive publishes its `Health` (held until an instant, or lost) and never
//!   prints, exits or signals; a release after a loss answers `Error::Lost`; a cancelled
//!   acquire leaves nothing behind (a drop guard, or `Coordinator::close`).
//! - Shared helpers live in `coordination`: `BackendUrl::option`/`option_file`,
//!   `Health::release_budget`, `Event::now`, `validate_name`, `note` for `-v` remarks.
//!
//! ## Backends that share a folder
//!
//! tooz's two SQL drivers differ only in how a server spells a session lock, so they live
//! together in [`sql`]: `sql/mod.rs` owns what they share, written once (waiting in
//! server-side slices, the keeper that pings the session and turns its end into
//! `Health::Lost`, the release, the socket handed to the guard, the fencing table), and
//! `sql/mysql.rs`, `sql/pgsql.rs` implement its `Session` trait and the `Coordinator`.
//!
//! ## What a new backend touches outside its folder
//!
//! 1. `coordination/url.rs`: a `Scheme` variant, its URL scheme names and default port.
//! 2. Here: `pub mod`, one arm in [`connect`] (behind a Cargo feature if its client is heavy,
//!    as etcd is).
//! 3. `Cargo.toml`: the client crate.
//! 4. Tests: a `Kind` in `tests/suite/support/fixture.rs` (start, URL, delete a lock, pause,
//!    restart) and a server helper in `tests/suite/support/`; `on_every_backend!` then runs
//!    every conformance scenario and `scripts/torture --backend NAME` works.
//! 5. Optional `Coordinator` methods, whose defaults answer `Error::Unsupported` naming the
//!    backend (exit 2): `begin_run`/`end_run`/`last_successes` for `lock --once-per` (the
//!    record layout and the clock are the backend's: see `coordination::once_per`, and
//!    `redis/once_per.rs` for the template) and `check` for `toozctl check` (one
//!    `coordination::check::Finding` per topic; reads only). Add the backend's arms to the
//!    expectations of `tests/suite/conformance/{once_per,check}.rs`.
//! 6. `scripts/test` (install the server package), `scripts/bench` with a
//!    `scripts/benchmods/NAME.py` module, `docs/NAME-backend.md`, the README's backend
//!    tables, and the `-b` help text in `cli.rs` (then regenerate completions and man pages).

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod file;
pub mod ipc;
pub mod memcached;
pub mod redis;
pub mod sql;
pub mod zookeeper;

use crate::coordination::{BackendUrl, Coordinator, Identity, Result, Scheme};

/// Open a coordinator for `url`, acting as `identity`.
pub async fn connect(url: &BackendUrl, identity: Identity) -> Result<Box<dyn Coordinator>> {
    match url.scheme {
        Scheme::File => Ok(Box::new(file::FileCoordinator::open(url, identity)?)),
        Scheme::Ipc => Ok(Box::new(ipc::IpcCoordinator::open(url, identity)?)),
        Scheme::Redis => Ok(Box::new(
            redis::RedisCoordinator::open(url, identity).await?,
        )),
        Scheme::Zookeeper => Ok(Box::new(
            zookeeper::ZkCoordinator::connect(url, identity).await?,
        )),
        Scheme::Mysql => Ok(Box::new(sql::mysql::MysqlCoordinator::open(url, identity).await?)),
        Scheme::Postgresql => sql::pgsql::PgCoordinator::open(url, identity).await,
        Scheme::Memcached => Ok(Box::new(
            memcached::MemcachedCoordinator::open(url, identity).await?,
        )),
        #[cfg(feature = "etcd")]
        Scheme::Etcd3Http | Scheme::Etcd3Https => Ok(Box::new(etcd::EtcdCoordinator::open(url, identity).await?)),
        #[cfg(not(feature = "etcd"))]
        Scheme::Etcd3Http | Scheme::Etcd3Https => Err(crate::coordination::Error::Unsupported(format!(
            "the etcd backend is not built into this toozctl (built without the 'etcd' feature; URL '{url}')"
        ))),
    }
}

/// How many reads listings keep in flight at once when they read one key or node per
/// member or per group: enough to hide the round trip, few enough to bound what is buffered.
pub(crate) const WINDOW: usize = 512;

/// A boxed future for [`concurrently`].
pub(crate) type Pending<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Run `futs` concurrently, returning their outputs in order. Over one connection that
/// answers in order (ZooKeeper, a Redis multiplexed connection) this pipelines their
/// requests: a window of reads costs about one round trip, not one each.
pub(crate) async fn concurrently<T>(futs: Vec<Pending<'_, T>>) -> Vec<T> {
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, f) in out.iter_mut().zip(futs.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}
