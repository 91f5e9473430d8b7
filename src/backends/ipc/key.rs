//! The System V key of a lock, derived exactly as tooz's `ipc` driver derives it.
//!
//! tooz (`tooz/drivers/ipc.py`, `ftok`) hashes `b"__TOOZ_LOCK_" + name` with MD5, reads the
//! digest as one 128-bit number, takes it modulo `_KEY_RANGE` and adds `sysv_ipc.KEY_MIN`.
//! `sysv_ipc` sets `KEY_MIN`/`KEY_MAX` to C's `LONG_MIN`/`LONG_MAX` (its
//! `discover_system_info.py`), so `_KEY_RANGE` is `|LONG_MIN| + LONG_MAX` = 2^64 - 1 where a
//! C `long` has 64 bits, and 2^32 - 1 where it has 32. `sysv_ipc` then converts the Python
//! number to `key_t` (a C `int`) with a plain cast, which keeps the low 32 bits. The key
//! therefore differs between 64-bit and 32-bit builds of the same name; we follow the
//! `long` of the platform we are built for, as `sysv_ipc` does on it.
//!
//! Verified against a live tooz client in `tests/suite/ipc.rs` (the vectors below come from
//! `tooz.drivers.ipc.ftok` on x86_64 Linux, sysv_ipc 1.2.0).

use md5::{Digest, Md5};

/// tooz's project prefix for lock semaphores (`IPCLock._LOCK_PROJECT`).
const LOCK_PROJECT: &[u8] = b"__TOOZ_LOCK_";

/// The semaphore key of lock `name` (its UTF-8 bytes, as a tooz client passing
/// `name.encode()` uses them).
pub fn lock_key(name: &str) -> libc::key_t {
    ftok(
        name.as_bytes(),
        LOCK_PROJECT,
        std::mem::size_of::<libc::c_long>() * 8,
    )
}

/// tooz's `ftok(name, project)` for a C `long` of `long_bits` bits, cast to `key_t`.
fn ftok(name: &[u8], project: &[u8], long_bits: usize) -> libc::key_t {
    let mut h = Md5::new();
    h.update(project);
    h.update(name);
    let digest = u128::from_be_bytes(h.finalize().into());
    // KEY_MIN = -2^(bits-1), KEY_MAX = 2^(bits-1) - 1; KEY_MIN <= 0, so
    // _KEY_RANGE = |KEY_MIN| + KEY_MAX = 2^bits - 1.
    let range: u128 = (1u128 << long_bits) - 1;
    let min: i128 = -(1i128 << (long_bits - 1));
    let key = (digest % range) as i128 + min;
    // The C cast from long to int: the low 32 bits, two's complement.
    key as u32 as libc::key_t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tooz.drivers.ipc.ftok(name, b'__TOOZ_LOCK_')` and the `key_t` sysv_ipc made of it
    /// (x86_64 Linux, where `ipcs -s` showed the same key for `foo`: 0x91b9e60c).
    #[test]
    fn keys_match_tooz_on_a_64_bit_long() {
        let cases: [(&[u8], i32); 5] = [
            (b"foo", -1850087924),
            (b"nightly-backup", 985013976),
            ("été".as_bytes(), 871319366),
            (&[b'a'; 300], 598338321),
            (b"TOOZ_INTERNAL_LOCK", -383009047),
        ];
        for (name, key) in cases {
            assert_eq!(ftok(name, LOCK_PROJECT, 64), key, "{name:?}");
        }
        assert_eq!(lock_key("foo") as u32, 0x91b9_e60c);
    }

    #[test]
    fn a_32_bit_long_gives_another_key() {
        // 2^32 - 1 as the modulus: the same name, another key.
        assert_ne!(
            ftok(b"foo", LOCK_PROJECT, 32),
            ftok(b"foo", LOCK_PROJECT, 64)
        );
    }
}
