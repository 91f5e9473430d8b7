//! The backends, each implementing `coordination::Coordinator` without clap or printing.
//! [`connect`] is the only place that matches on the URL scheme.

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod file;
pub mod redis;
pub mod zookeeper;

use crate::coordination::{BackendUrl, Coordinator, Identity, Result, Scheme};

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
        #[cfg(feature = "etcd")]
        Scheme::Etcd3Http | Scheme::Etcd3Https => Ok(Box::new(etcd::EtcdCoordinator::open(url, identity).await?)),
        #[cfg(not(feature = "etcd"))]
        Scheme::Etcd3Http | Scheme::Etcd3Https => Err(crate::coordination::Error::Unsupported(format!(
            "the etcd backend is not built into this toozctl (built without the 'etcd' feature; URL '{url}')"
        ))),
    }
}
