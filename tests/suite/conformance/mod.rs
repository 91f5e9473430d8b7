//! Scenarios every backend must pass: each is a `fn(Kind)` run once per backend by
//! [`on_every_backend!`](crate::on_every_backend). What is truly specific to one backend
//! (Sentinel, TLS, compaction, tooz layouts) stays in that backend's module.

mod access;
mod cancel;
mod check;
pub mod faultkit;
mod faults;
mod groups;
mod guard;
#[allow(dead_code)]
pub mod helpers;
mod inspect;
mod lock_command;
mod locks;
mod once_per;
mod partition;
mod queue_gap;
mod release;
mod sharing;
mod signals;
mod sockets;
mod supervision;
mod systemd;
mod watch_initial;
