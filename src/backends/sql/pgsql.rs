//! The PostgreSQL backend (placeholder until the next commit).
use crate::coordination::{BackendUrl, Error, Identity, Result};

pub struct PgCoordinator;

impl PgCoordinator {
    pub async fn open(
        url: &BackendUrl,
        _identity: Identity,
    ) -> Result<Box<dyn crate::coordination::Coordinator>> {
        Err(Error::Unsupported(format!(
            "the postgresql backend is not built yet ({url})"
        )))
    }
}
