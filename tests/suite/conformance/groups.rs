//! Groups, leaders and watches through the CLI, on every backend: create / join with
//! capabilities / members / list / leave / delete and their exit codes; `elect` with
//! `group leader`, the leader mark and a hand-over with a larger fencing token; `watch`
//! of a lock, a group and a leader.

use std::process::Stdio;
use std::time::Duration;

use super::helpers::{json, json_lines, run};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(
    group_lifecycle_with_capabilities,
    a_member_removed_by_hand_is_lost,
    elect_group_leader_and_hand_over,
    watch_lock_group_and_leader,
    groups_are_refused_naming_the_backend,
);

/// A backend without groups (tooz's SQL and IPC drivers) refuses every group command with
/// exit 2 and one line naming the backend, before touching anything.
fn groups_are_refused_naming_the_backend(kind: Kind) {
    if kind.has_groups() {
        return; // the scenarios above cover it
    }
    let fx = Fx::shared(kind, "nogroups");
    let g = fx.name("g");
    for args in [
        vec!["group", "create", g.as_str()],
        vec!["group", "list"],
        vec!["group", "members", g.as_str()],
        vec!["group", "join", g.as_str(), "--", "true"],
        vec!["elect", g.as_str(), "--", "true"],
        vec!["watch", "group", g.as_str()],
    ] {
        let (code, out, err) = run(fx.cmd(&args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(kind.name()),
            "{args:?} names the backend: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
}

fn group_lifecycle_with_capabilities(kind: Kind) {
    if !kind.has_groups() {
        return; // checked in groups_are_refused_naming_the_backend
    }
    let fx = Fx::shared(kind, "groups");
    let g = fx.name("g");
    assert_eq!(run(fx.cmd(&["group", "create", &g])).0, 0);
    assert_eq!(run(fx.cmd(&["group", "create", &g])).0, 1, "creating twice");
    assert_eq!(
        run(fx.cmd(&["group", "members", &fx.name("nope")])).0,
        4,
        "a missing group"
    );
    let member = fx.hold(&[
        "-m",
        "web-1",
        "group",
        "join",
        &g,
        "--capabilities",
        r#"{"role": "api", "n": 3}"#,
    ]);
    assert!(member.first.contains("joined"), "{}", member.first);
    let (code, out, err) = run(fx.cmd(&["-o", "json", "group", "members", &g]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out),
        serde_json::json!([{"group": g, "member_id": "web-1", "capabilities": {"role": "api", "n": 3}, "leader": false}])
    );
    let (_, out, _) = run(fx.cmd(&["-o", "json", "group", "list"]));
    let list = json(&out);
    let mine: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == g.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{list}");
    assert_eq!(mine[0]["members"], 1, "{list}");
    assert_eq!(run(fx.cmd(&["group", "delete", &g])).0, 1, "not empty");
    member.stop();
    let (_, out, _) = run(fx.cmd(&["-o", "json", "group", "members", &g]));
    assert_eq!(json(&out), serde_json::json!([]), "left on exit");
    let (code, _, err) = run(fx.cmd(&["group", "delete", &g]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(fx.cmd(&["group", "members", &g])).0, 4, "deleted");
}

fn a_member_removed_by_hand_is_lost(kind: Kind) {
    if !kind.has_groups() {
        return; // checked in groups_are_refused_naming_the_backend
    }
    let fx = Fx::shared(kind, "rmmember");
    let g = fx.name("g");
    let joiner = fx
        .cmd(&[
            "-m",
            "victim",
            "group",
            "join",
            "--create",
            &g,
            "--kill-after",
            "1s",
            "--",
            "sleep",
            "30",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(crate::support::wait_until(Duration::from_secs(10), || {
        run(fx.cmd(&["group", "members", &g])).1.contains("victim")
    }));
    let (code, _, err) = run(fx.cmd(&["group", "leave", &g, "--member", "victim"]));
    assert_eq!(code, 0, "{err}");
    let left = std::time::Instant::now();
    let out = joiner.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        left.elapsed() < Duration::from_secs(3),
        "seen at once, not at the next beat: {:?}",
        left.elapsed()
    );
    assert_eq!(
        run(fx.cmd(&["group", "leave", &g, "--member", "nobody"])).0,
        4
    );
}

fn elect_group_leader_and_hand_over(kind: Kind) {
    if !kind.has_groups() {
        return; // checked in groups_are_refused_naming_the_backend
    }
    let fx = Fx::shared(kind, "elect");
    let g = fx.name("sched");
    let (code, out, err) = run(fx.cmd(&[
        "-m",
        "boss-1",
        "elect",
        &g,
        "--",
        "sh",
        "-c",
        "echo $TOOZCTL_GROUP $TOOZCTL_FENCING_TOKEN",
    ]));
    assert_eq!(code, 0, "{err}");
    let (group, t1) = out.trim().split_once(' ').unwrap();
    assert_eq!(group, g);
    let t1: u64 = t1.parse().unwrap();
    let leader = fx.hold(&["-m", "boss-2", "elect", &g]);
    assert!(leader.first.contains("elected"), "{}", leader.first);
    let (code, out, err) = run(fx.cmd(&["-o", "json", "group", "leader", &g]));
    assert_eq!(code, 0, "{err}");
    let l = json(&out);
    assert_eq!(l["leader"], "boss-2", "{l}");
    assert!(l["fencing_token"].as_u64().unwrap() > t1, "{l}");
    let (_, out, _) = run(fx.cmd(&["-o", "json", "group", "members", &g]));
    let members = json(&out);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["member_id"] == "boss-2" && m["leader"] == true),
        "{members}"
    );
    let (code, _, err) = run(fx.cmd(&["elect", "-w", "0.5", &g, "--", "true"]));
    assert_eq!(code, 1, "not elected while boss-2 leads: {err}");
    let waiter = fx
        .cmd(&[
            "-m",
            "boss-3",
            "elect",
            "-w",
            "20",
            &g,
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    leader.stop();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t3: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(t3 > t1, "the next term's token is larger");
    let (_, out, _) = run(fx.cmd(&["-o", "json", "group", "leader", &g]));
    assert!(
        out.trim() == "null" || json(&out)["leader"].is_null(),
        "stood down on exit: {out}"
    );
}

fn watch_lock_group_and_leader(kind: Kind) {
    if !kind.has_groups() {
        return; // checked in groups_are_refused_naming_the_backend
    }
    let fx = Fx::shared(kind, "watch");
    let (lock, g) = (fx.name("wl"), fx.name("wg"));
    assert_eq!(run(fx.cmd(&["group", "create", &g])).0, 0);
    let spawn = |args: &[&str]| {
        fx.cmd(&[&["-o", "json", "watch"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let lw = spawn(&["lock", &lock, "--count", "2"]);
    let gw = spawn(&["group", &g, "--count", "2"]);
    let ew = spawn(&["leader", &g, "--count", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    let (code, _, err) = run(fx.cmd(&["-m", "wl-holder", "lock", &lock, "--", "sleep", "0.2"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(fx.cmd(&["-m", "m1", "elect", &g, "--", "sleep", "0.2"]));
    assert_eq!(code, 0, "{err}");
    let events = |c: std::process::Child| {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&String::from_utf8_lossy(&out.stdout))
    };
    let ev = events(lw);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["event"], "acquired");
    assert!(ev[0]["fencing_token"].as_u64().is_some(), "{ev:?}");
    assert_eq!(ev[0]["holder"]["member_id"], "wl-holder", "{ev:?}");
    assert_eq!(ev[1]["event"], "released");
    let ev = events(gw);
    let got: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["member_id"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("join".into(), "m1".into()), ("leave".into(), "m1".into())]
    );
    let ev = events(ew);
    assert_eq!(
        (ev[0]["event"].as_str(), ev[0]["member_id"].as_str()),
        (Some("elected"), Some("m1"))
    );
    // --until released on a free lock exits at once.
    let (code, _, err) = run(fx.cmd(&["watch", "lock", &fx.name("free"), "--until", "released"]));
    assert_eq!(code, 0, "{err}");
}
