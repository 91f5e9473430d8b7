//! Scenarios every backend must pass: each is a `fn(Kind)` run once per backend by
//! [`on_every_backend!`](crate::on_every_backend). What is truly specific to one backend
//! (Sentinel, TLS, compaction, tooz layouts) stays in that backend's module.

#[allow(dead_code)]
pub mod helpers;
mod locks;
mod supervision;
