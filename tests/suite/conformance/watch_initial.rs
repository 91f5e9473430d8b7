//! `watch --initial` and waiting for a missing group, on every backend with groups:
//! watches started before the group exists, between joins, while members join, and after
//! everything settled all converge to the members `group members` lists, and none is ever
//! told a join of a member it already has or a leave of one it does not. Lock and leader
//! watches report the current holder and leader first, then their changes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::{json, run};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(
    initial_watches_started_before_during_and_after_joins_converge,
    initial_lock_and_leader_watches_report_the_holder_then_changes,
    an_initial_watch_of_a_shared_lock_reports_every_reader,
    a_missing_group_is_awaited_unless_must_exist,
);

/// A running `watch -o json`; its lines arrive on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Its stderr lines.
    errors: mpsc::Receiver<String>,
    /// Members as told by the events so far.
    members: std::collections::BTreeSet<String>,
    events: Vec<Value>,
}

impl Watch {
    fn start(fx: &Fx, args: &[&str]) -> Watch {
        let mut a = vec!["-o", "json", "watch"];
        a.extend(args);
        let mut child = fx
            .cmd(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let (etx, errors) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if etx.send(l).is_err() {
                    return;
                }
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(json(&l)).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            lines,
            errors,
            members: Default::default(),
            events: Vec::new(),
        }
    }

    /// Wait for a stderr line containing `text`; returns every line read until then.
    fn stderr_until(&self, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(l) = self.errors.recv_timeout(Duration::from_secs(15)) {
            seen.push(l);
            if seen.last().unwrap().contains(text) {
                return seen;
            }
        }
        panic!("no stderr line with {text:?}: {seen:?}");
    }

    /// The next event, within `limit`.
    fn next(&mut self, limit: Duration) -> Option<Value> {
        let v = self.lines.recv_timeout(limit).ok()?;
        self.events.push(v.clone());
        Some(v)
    }

    /// Apply join/leave events until the members are `want` (panics after 30 s, or on a
    /// join of a member already there or a leave of one that is not).
    fn converge(&mut self, want: &std::collections::BTreeSet<String>, name: &str) {
        let end = Instant::now() + Duration::from_secs(30);
        while &self.members != want {
            let left = end.saturating_duration_since(Instant::now());
            let Some(e) = self.next(left) else {
                panic!(
                    "{name} has {:?}, not {want:?}; events: {:?}",
                    self.members, self.events
                );
            };
            let m = e["member_id"].as_str().unwrap_or_default().to_string();
            match e["event"].as_str() {
                Some("join") => assert!(
                    self.members.insert(m.clone()),
                    "{name}: a second join of {m}: {:?}",
                    self.events
                ),
                Some("leave") => assert!(
                    self.members.remove(&m),
                    "{name}: a leave of {m}, which it was not told of: {:?}",
                    self.events
                ),
                _ => {}
            }
        }
    }

    /// Nothing more within `quiet` (no late duplicate).
    fn assert_quiet(&mut self, quiet: Duration, name: &str) {
        if let Some(e) = self.next(quiet) {
            panic!("{name}: an extra event {e} after converging");
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn members_of(fx: &Fx, g: &str) -> std::collections::BTreeSet<String> {
    let (code, out, err) = run(fx.cmd(&["-o", "json", "group", "members", g]));
    assert_eq!(code, 0, "{err}");
    json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_string())
        .collect()
}

fn initial_watches_started_before_during_and_after_joins_converge(kind: Kind) {
    if !kind.has_groups() {
        // `watch group` answers exit 2 naming the backend (conformance::groups).
        return;
    }
    let fx = Fx::shared(kind, "winit");
    let g = fx.name("pool");
    // Before the group exists: it waits, and says so.
    let mut before = Watch::start(&fx, &["--initial", "group", &g]);
    before.stderr_until("does not exist yet; waiting");
    let m1 = fx.hold(&["-m", "m1", "group", "join", "--create", &g]);
    let _m2 = fx.hold(&["-m", "m2", "group", "join", &g]);
    let mut between = Watch::start(&fx, &["--initial", "group", &g]);
    // During: the watch starts while two members are joining and one leaves.
    let j3 = fx
        .cmd(&["-m", "m3", "group", "join", &g])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut during = Watch::start(&fx, &["--initial", "group", &g]);
    let j4 = fx
        .cmd(&["-m", "m4", "group", "join", &g])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    m1.stop();
    let _g3 = crate::support::fixture::Holder {
        child: j3,
        first: String::new(),
    };
    let _g4 = crate::support::fixture::Holder {
        child: j4,
        first: String::new(),
    };
    let want: std::collections::BTreeSet<String> =
        ["m2", "m3", "m4"].iter().map(|s| s.to_string()).collect();
    assert!(
        crate::support::wait_until(Duration::from_secs(20), || members_of(&fx, &g) == want),
        "members: {:?}",
        members_of(&fx, &g)
    );
    let mut after = Watch::start(&fx, &["--initial", "group", &g]);
    for (w, name) in [
        (&mut before, "started before the group existed"),
        (&mut between, "started between joins"),
        (&mut during, "started during joins"),
        (&mut after, "started after the joins"),
    ] {
        w.converge(&want, name);
    }
    // The late watch was told everything as the initial state, the others nothing twice.
    assert!(
        after.events.iter().all(|e| e["initial"] == true),
        "{:?}",
        after.events
    );
    assert!(
        before.events.iter().all(|e| e.get("initial").is_none()),
        "a watch that waited for the group reports its members as changes: {:?}",
        before.events
    );
    // The watch that began before the group was created said so once on stderr.
    let _ = before.child.kill();
    let _ = before.child.wait();
    let rest: Vec<String> = before.errors.try_iter().collect();
    assert!(
        rest.iter().all(|l| !l.contains("does not exist")),
        "said once: {rest:?}"
    );
    for (w, name) in [(&mut between, "between"), (&mut after, "after")] {
        w.assert_quiet(Duration::from_millis(1500), name);
    }
}

fn initial_lock_and_leader_watches_report_the_holder_then_changes(kind: Kind) {
    let fx = Fx::shared(kind, "winitlock");
    let l = fx.name("lk");
    if !kind.has_watch() {
        // No watches at all on this backend (as in tooz's driver): refused naming it.
        let (rc, _, err) = run(fx.cmd(&["watch", "--initial", "lock", &l]));
        assert_eq!(rc, 2, "{err}");
        assert!(err.contains(kind.name()), "names the backend: {err}");
        return;
    }
    // A free lock: no initial event; the next holder is a change.
    let h = fx.hold(&["-m", "holder-1", "lock", &l]);
    let mut w = Watch::start(&fx, &["--initial", "lock", &l]);
    let first = w.next(Duration::from_secs(10)).expect("initial holder");
    assert_eq!(
        (first["event"].as_str(), first["member_id"].as_str()),
        (Some("acquired"), Some("holder-1")),
        "{first}"
    );
    assert_eq!(first["initial"], true);
    h.stop();
    let rel = w.next(Duration::from_secs(10)).expect("released");
    assert_eq!(rel["event"], "released", "{rel}");
    assert!(rel.get("initial").is_none(), "{rel}");
    let h2 = fx.hold(&["-m", "holder-2", "lock", &l]);
    let acq = w.next(Duration::from_secs(10)).expect("acquired");
    assert_eq!(
        (acq["event"].as_str(), acq["member_id"].as_str()),
        (Some("acquired"), Some("holder-2")),
        "{acq}"
    );
    h2.stop();
    assert_eq!(
        w.next(Duration::from_secs(10)).expect("released")["event"],
        "released"
    );
    if !kind.has_groups() {
        return;
    }
    let g = fx.name("lead");
    let leader = fx.hold(&["-m", "leader-1", "elect", &g]);
    let mut lw = Watch::start(&fx, &["--initial", "leader", &g]);
    let e = lw.next(Duration::from_secs(10)).expect("initial leader");
    assert_eq!(
        (e["event"].as_str(), e["member_id"].as_str(), &e["initial"]),
        (Some("elected"), Some("leader-1"), &Value::Bool(true)),
        "{e}"
    );
    let next = fx
        .cmd(&["-m", "leader-2", "elect", &g])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _next = crate::support::fixture::Holder {
        child: next,
        first: String::new(),
    };
    leader.stop();
    let e = lw.next(Duration::from_secs(15)).expect("next leader");
    assert_eq!(
        (e["event"].as_str(), e["member_id"].as_str()),
        (Some("elected"), Some("leader-2")),
        "{e}; all: {:?}",
        lw.events
    );
    lw.assert_quiet(Duration::from_millis(1500), "leader watch");
}

fn a_missing_group_is_awaited_unless_must_exist(kind: Kind) {
    if !kind.has_groups() {
        return;
    }
    let fx = Fx::shared(kind, "wmissing");
    let g = fx.name("later");
    let (code, _, err) = run(fx.cmd(&["watch", "--must-exist", "group", &g]));
    assert_eq!(code, 4, "{err}");
    super::helpers::assert_one_line_error(&err);
    let mut w = Watch::start(&fx, &["group", &g, "--count", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(w.child.try_wait().unwrap().is_none(), "it waits");
    let (code, _, err) = run(fx.cmd(&["group", "create", &g]));
    assert_eq!(code, 0, "{err}");
    let _m = fx.hold(&["-m", "first", "group", "join", &g]);
    let e = w.next(Duration::from_secs(10)).expect("the first join");
    assert_eq!(
        (e["event"].as_str(), e["member_id"].as_str()),
        (Some("join"), Some("first")),
        "{e}"
    );
    assert!(e.get("initial").is_none(), "{e}");
    let st = w.child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
}

fn an_initial_watch_of_a_shared_lock_reports_every_reader(kind: Kind) {
    if !kind.has_shared() {
        return;
    }
    if matches!(kind, Kind::File | Kind::Etcd) {
        // Their lock watches follow a shared lock as one (free <-> held): readers coming
        // and going while others hold are not reported one by one (the initial events
        // still name every reader; see README, "Watches that start from the state").
        return;
    }
    let fx = Fx::shared(kind, "winitshared");
    let l = fx.name("rw");
    let r1 = fx.hold(&["-m", "reader-1", "lock", "-s", &l]);
    let r2 = fx.hold(&["-m", "reader-2", "lock", "-s", &l]);
    let mut w = Watch::start(&fx, &["--initial", "lock", &l]);
    let mut held = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let e = w.next(Duration::from_secs(10)).expect("an initial reader");
        assert_eq!(
            (e["event"].as_str(), &e["initial"]),
            (Some("acquired"), &Value::Bool(true)),
            "{e}"
        );
        held.insert(e["member_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        held.iter().map(String::as_str).collect::<Vec<_>>(),
        ["reader-1", "reader-2"]
    );
    let r3 = fx.hold(&["-m", "reader-3", "lock", "-s", &l]);
    let e = w.next(Duration::from_secs(10)).expect("the third reader");
    assert_eq!(
        (e["event"].as_str(), e["member_id"].as_str()),
        (Some("acquired"), Some("reader-3")),
        "{e}; all: {:?}",
        w.events
    );
    r1.stop();
    let e = w
        .next(Duration::from_secs(10))
        .expect("the first reader's release");
    assert_eq!(
        (e["event"].as_str(), e["member_id"].as_str()),
        (Some("released"), Some("reader-1")),
        "{e}; all: {:?}",
        w.events
    );
    r2.stop();
    r3.stop();
    let mut gone = std::collections::BTreeSet::new();
    while gone.len() < 2 {
        let e = w.next(Duration::from_secs(10)).expect("the other releases");
        assert_eq!(e["event"], "released", "{e}; all: {:?}", w.events);
        gone.insert(e["member_id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        gone.iter().map(String::as_str).collect::<Vec<_>>(),
        ["reader-2", "reader-3"]
    );
    w.assert_quiet(Duration::from_millis(1500), "shared lock watch");
}
