//! The SQL backends' fencing token comes back in the same round trip as the write that
//! advances it (MySQL: `LAST_INSERT_ID(expr)` in the statement's answer; PostgreSQL:
//! `RETURNING`): the token a holder announces is exactly the one its row in
//! `toozctl_locks` holds, on a new name and on the next acquisitions alike.

use crate::conformance::helpers::{json, run};
use crate::support::fixture::{Fx, Kind};

/// The token in the holder's "acquired" line, and the one `locks` reads from the table.
fn announced_and_stored(fx: &Fx, name: &str) -> (u64, u64) {
    let h = fx.hold(&["-o", "json", "lock", name]);
    let announced = json(&h.first)["fencing_token"]
        .as_u64()
        .unwrap_or_else(|| panic!("no token in {}", h.first));
    let (code, out, err) = run(fx.cmd(&["-o", "json", "locks"]));
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let stored = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["fencing_token"].as_u64())
        .unwrap_or_else(|| panic!("{name} not listed with a token: {out}"));
    h.stop();
    (announced, stored)
}

fn token_is_the_stored_one(kind: Kind) {
    let fx = Fx::shared(kind, "tokens");
    let name = fx.name("t");
    let mut last = 0;
    for _ in 0..3 {
        let (announced, stored) = announced_and_stored(&fx, &name);
        assert_eq!(announced, stored);
        assert!(announced > last, "{last} then {announced}");
        last = announced;
    }
}

#[test]
fn mysql_announces_the_stored_token() {
    token_is_the_stored_one(Kind::Mysql);
}

#[test]
fn postgres_announces_the_stored_token() {
    token_is_the_stored_one(Kind::Postgres);
}
