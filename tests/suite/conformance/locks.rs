//! Mutual exclusion: the promise toozctl exists for, on every backend.

use std::process::{Child, Stdio};

use super::helpers::{assert_serial, intervals, logged};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(eight_contenders_never_overlap_and_tokens_increase);

fn eight_contenders_never_overlap_and_tokens_increase(kind: Kind) {
    let fx = Fx::shared(kind, "eight");
    let name = fx.name("eight");
    let log = fx.home.path().join("intervals");
    let script = logged(&log, "sleep 0.05");
    let children: Vec<Child> = (0..8)
        .map(|i| {
            fx.cmd(&[
                "-m",
                &format!("c{i}"),
                "lock",
                "--kill-after",
                "1s",
                &name,
                "--",
                "sh",
                "-c",
                &script,
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(0));
    }
    let iv = intervals(&log);
    assert_eq!(iv.len(), 8);
    assert_serial(&iv);
}
