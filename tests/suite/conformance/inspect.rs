//! Holders are identifiable, on every backend: `locks` shows who holds what (member id,
//! pid, fencing token, the lease left where there is one); `unlock` breaks a lock, says
//! who held it, and the holder notices at once (exit 3); unlocking a free lock is 4. (The
//! file backend cannot take a kernel lock from a live process: exit 2, naming it.)

use std::time::{Duration, Instant};

use super::helpers::{json, run};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(locks_shows_the_holder_and_unlock_breaks_it);

fn locks_shows_the_holder_and_unlock_breaks_it(kind: Kind) {
    let fx = Fx::shared(kind, "inspect");
    let name = fx.name("mine");
    let holder = fx.hold(&["-m", "rust-h", "-o", "json", "lock", "--ttl", "20", &name]);
    let token = json(&holder.first)["fencing_token"].as_u64();
    assert_eq!(
        token.is_some(),
        kind.has_fencing_tokens(),
        "{}",
        holder.first
    );
    let (code, out, err) = run(fx.cmd(&["-o", "json", "locks"]));
    assert_eq!(code, 0, "{err}");
    let rows = json(&out);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not listed: {out}"));
    assert_eq!(row["holder"]["member_id"], "rust-h", "{row}");
    assert!(row["holder"]["pid"].as_u64().is_some(), "our record: {row}");
    assert_eq!(row["fencing_token"].as_u64(), token, "{row}");
    if matches!(kind, Kind::Redis | Kind::Etcd | Kind::Memcached) {
        assert!(
            row["ttl_ms"].as_u64().is_some_and(|t| t > 0 && t <= 20_000),
            "the lease left: {row}"
        );
    }
    let (code, out, err) = run(fx.cmd(&["unlock", &name]));
    if kind == Kind::File {
        // A kernel lock cannot be taken from a live process: exit 2, naming it.
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("rust-h") || err.contains("pid"), "{err}");
        holder.stop();
        assert_eq!(run(fx.cmd(&["unlock", &name])).0, 4, "nothing held");
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rust-h") || err.contains("rust-h"),
        "says who held it: {out}{err}"
    );
    let broke = Instant::now();
    let (code, err) = holder.finish(Duration::from_secs(15));
    assert_eq!(code, 3, "{err}");
    assert!(
        broke.elapsed() < Duration::from_secs(3),
        "seen at once, not at the next renewal: {:?}",
        broke.elapsed()
    );
    assert!(!fx.lock_exists(&name));
    let (code, _, err) = run(fx.cmd(&["unlock", &name]));
    assert_eq!(code, 4, "nothing held: {err}");
}
