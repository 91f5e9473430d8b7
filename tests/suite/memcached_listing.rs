//! Listing on memcached while other clients list too: the server runs one `lru_crawler
//! metadump` at a time and answers `BUSY` to the others, which must wait their turn rather
//! than fail (before: listers that met `BUSY` took the server for one that cannot list
//! its keys, exit 2).

use std::process::Stdio;

use crate::support::fixture::{Fx, Kind};

#[test]
fn concurrent_listings_all_see_the_lock_and_its_last_success() {
    let fx = Fx::private(Kind::Memcached, "mclist");
    let name = fx.name("job");
    let st = fx
        .cmd(&["lock", "--once-per", "1h", &name, "--", "true"])
        .status()
        .unwrap();
    assert!(st.success());
    let (mut missed, mut no_row) = (0, 0);
    for round in 0..3 {
        let children: Vec<_> = (0..8)
            .map(|_| {
                fx.cmd(&["-o", "json", "locks", "--all"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(0), "round {round}: {stderr}");
            assert!(stderr.is_empty(), "round {round}: {stderr}");
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let Some(row) = v
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name.as_str())
            else {
                no_row += 1;
                continue;
            };
            // The record itself can be missed: `metadump` skips an item another client is
            // reading at that instant, and here eight clients read these very keys
            // (documented in docs/memcached-backend.md).
            if row["last_success"].is_null() {
                missed += 1;
            }
        }
    }
    eprintln!("of 24 listings, {no_row} missed the lock, {missed} its last success");
    // Every lister got an answer (above); most see everything (measured: 19 to 24 of 24
    // under a loaded machine). What they miss is memcached's skipping of items in use.
    assert!(
        no_row + missed <= 8,
        "{no_row} listings missed the lock and {missed} its last success, of 24"
    );
}
