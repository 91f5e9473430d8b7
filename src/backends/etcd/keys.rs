//! Key names and range helpers every module of the etcd backend shares: tooz's lock key,
//! our semaphore, waiter and reader prefixes, the readers' marker value, and the small
//! transaction helpers. It imports no other module of the backend except the prefixes and
//! encoders of `mod.rs`.

use etcd_client::{GetOptions, KeyValue, PutOptions, SortOrder, SortTarget, TxnOpResponse};

use super::{encode_component, LOCK_PREFIX, READER_PREFIX, SEMAPHORE_PREFIX, WAITER_PREFIX};

pub fn lock_key(name: &str) -> Vec<u8> {
    format!("{LOCK_PREFIX}{name}").into_bytes()
}

pub(super) fn semaphore_prefix(name: &str) -> Vec<u8> {
    format!("{SEMAPHORE_PREFIX}{}/", encode_component(name)).into_bytes()
}

/// Where waiters for lock `name` queue for a hand-over (ours; tooz never looks).
pub(super) fn waiter_prefix(name: &str) -> Vec<u8> {
    format!("{WAITER_PREFIX}{}/", encode_component(name)).into_bytes()
}

pub(super) fn random_value() -> Vec<u8> {
    let mut buf = [0u8; 16];
    // SAFETY: getrandom(2) writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        // Unique enough as a fallback: pid and time.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        buf[..12].copy_from_slice(&t.to_le_bytes()[..12]);
        buf[12..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    // A UUID4, as tooz's value is.
    buf[6] = (buf[6] & 0x0f) | 0x40;
    buf[8] = (buf[8] & 0x3f) | 0x80;
    buf.to_vec()
}

pub(super) fn range(r: Option<&TxnOpResponse>) -> Vec<KeyValue> {
    match r {
        Some(TxnOpResponse::Get(g)) => g.kvs().to_vec(),
        _ => Vec::new(),
    }
}

pub(super) fn put_on(lease: i64) -> Option<PutOptions> {
    Some(PutOptions::new().with_lease(lease))
}

pub(super) fn by_create() -> GetOptions {
    GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
}

/// The tooz key's value while readers hold it (16 bytes, as tooz's own values).
pub(super) const MARKER: &[u8; 16] = b"toozctl:shared\0\0";

pub fn readers_prefix(name: &str) -> Vec<u8> {
    format!("{READER_PREFIX}{}/", encode_component(name)).into_bytes()
}
