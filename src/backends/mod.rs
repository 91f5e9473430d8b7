//! The backends, each implementing `coordination::Coordinator` without clap or printing.
//! [`connect`] is the only place that matches on the URL scheme.

pub mod file;
pub mod redis;
pub mod zookeeper;

use crate::coordination::{BackendUrl, Coordinator, Error, Identity, Result, Scheme};

/// Open a coordinator for `url`, acting as `identity`.
pub async fn connect(url: &BackendUrl, identity: Identity) -> Result<Box<dyn Coordinator>> {
    match url.scheme {
        Scheme::File => Ok(Box::new(file::FileCoordinator::open(url, identity)?)),
        Scheme::Redis => Ok(Box::new(
            redis::RedisCoordinator::open(url, identity).await?,
        )),
        Scheme::Zookeeper => Ok(Box::new(
            zookeeper::ZkCoordinator::connect(url, identity).await?,
        )),
        other => Err(Error::Unsupported(format!(
            "the {} backend is not built into this toozctl (URL '{url}')",
            other.name()
        ))),
    }
}
