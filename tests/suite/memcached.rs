//! The memcached backend against a real `memcached`: what is specific to it — tooz's
//! layout byte for byte (wire format §6, vector V5), interop both ways with a live Python
//! tooz client (locks, groups with capabilities, leaders), memcached's key limits,
//! compare-and-delete safety, fencing tokens across a restart, TLS (`-Z`). Everything that
//! every backend must do runs in `conformance/` on memcached too.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::conformance::helpers::{json, run};
use crate::support::fixture::{Fx, Kind};
use crate::support::memcached::{Memcached, Probe};
use crate::support::{self, wait_until};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// msgpack bin of `s` (tooz's encoding of byte strings), for names under 256 bytes.
fn bin(s: &str) -> String {
    format!("c4{:02x}{}", s.len(), hex(s.as_bytes()))
}

/// A Python tooz client kept running: it executes `setup`, prints `ready`, waits for a
/// line on stdin, executes `teardown` and exits.
struct ToozPeer {
    child: Child,
}

impl ToozPeer {
    fn start(url: &str, member: &str, setup: &str, teardown: &str) -> ToozPeer {
        let code = format!(
            "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], sys.argv[2].encode())\nco.start(start_heart=True)\n{setup}\nprint('ready', flush=True)\nsys.stdin.readline()\n{teardown}\nco.stop()\n"
        );
        let mut child = Command::new(support::tooz_python())
            .arg("-c")
            .arg(code)
            .args([url, member])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "tooz peer did not start");
        ToozPeer { child }
    }

    fn finish(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
        let st = self.child.wait().unwrap();
        assert!(st.success(), "tooz peer failed: {st}");
    }
}

impl Drop for ToozPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Python tooz call sequence on `url` as member `member`; its stdout.
fn tooz(url: &str, member: &str, body: &str) -> String {
    let code = format!(
        "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], sys.argv[2].encode())\nco.start()\n{body}\nco.stop()\n"
    );
    let (rc, out, err) = support::python(&code, &[url, member]);
    assert_eq!(rc, 0, "tooz failed: {err}");
    out
}

fn server(fx: &Fx) -> u16 {
    let url = fx.url();
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Vector V5, written by toozctl: the same keys, item flags, expiries and bytes as tooz.
#[test]
fn layout_is_tooz_byte_for_byte() {
    let fx = Fx::private(Kind::Memcached, "layout");
    let mc = Probe::at(server(&fx));
    let (g, lock, me) = ("spec_g", "spec_lock", "spec-m1");
    assert_eq!(run(fx.cmd(&["group", "create", g])).0, 0);
    let list = mc.get("_TOOZ_GROUP_LIST").unwrap();
    assert_eq!((list.0, hex(&list.2)), (2, format!("91{}", bin(g))));
    assert_eq!(list.1, -1, "no expiry");
    let member = fx.hold(&[
        "-m",
        me,
        "group",
        "join",
        g,
        "--capabilities",
        r#"{"role": "api"}"#,
    ]);
    let grp = mc.get("_TOOZ_GROUP_spec_g").unwrap();
    assert_eq!(
        (grp.0, hex(&grp.2)),
        (
            2,
            "81c407737065632d6d3181c40c6361706162696c697469657381a4726f6c65a3617069".into()
        )
    );
    let alive = mc.get("_TOOZ_MEMBER_spec-m1").unwrap();
    assert_eq!((alive.0, alive.2.as_slice()), (1, &b"It's alive!"[..]));
    assert!(
        alive.1 > 0 && alive.1 <= 30,
        "membership_timeout: {alive:?}"
    );
    member.stop();
    assert_eq!(
        hex(&mc.get("_TOOZ_GROUP_spec_g").unwrap().2),
        "80",
        "after leave"
    );
    assert!(
        mc.get("_TOOZ_MEMBER_spec-m1").is_none(),
        "member key removed"
    );
    let holder = fx.hold(&["-m", me, "lock", lock]);
    let l = mc.get("__TOOZ_LOCK_spec_lock").unwrap();
    assert_eq!((l.0, l.2.as_slice()), (1, me.as_bytes()));
    assert!(l.1 > 0 && l.1 <= 30, "lock_timeout: {l:?}");
    // `elect` joins (with the same capabilities) and takes tooz's leader lock.
    let leader = fx.hold(&["-m", me, "elect", g, "--capabilities", r#"{"role": "api"}"#]);
    assert_eq!(hex(&mc.get("_TOOZ_GROUP_spec_g").unwrap().2), hex(&grp.2));
    let ld = mc.get("__TOOZ_LOCK__TOOZ_GROUP_LEADER_spec_g").unwrap();
    assert_eq!((ld.0, ld.2.as_slice()), (1, me.as_bytes()));
    assert!(ld.1 > 0 && ld.1 <= 30, "leader_timeout: {ld:?}");
    // Our companions: the holder record naming the leader, and the fencing counters.
    let rec = mc.get("_TOOZCTL_HOLDER__TOOZ_GROUP_LEADER_spec_g").unwrap();
    let rec: serde_json::Value = serde_json::from_slice(&rec.2).unwrap();
    assert_eq!(rec["member_id"], me);
    assert!(mc.get("_TOOZCTL_FENCE_spec_lock").is_some());
    leader.stop();
    assert!(mc.get("__TOOZ_LOCK__TOOZ_GROUP_LEADER_spec_g").is_none());
    assert_eq!(hex(&mc.get("_TOOZ_GROUP_spec_g").unwrap().2), "80");
    holder.stop();
    assert!(
        mc.get("__TOOZ_LOCK_spec_lock").is_none(),
        "released at once"
    );
    assert!(mc.get("_TOOZCTL_HOLDER_spec_lock").is_none());
    assert_eq!(run(fx.cmd(&["group", "delete", g])).0, 0);
    assert!(mc.get("_TOOZ_GROUP_spec_g").is_none());
    assert_eq!(
        hex(&mc.get("_TOOZ_GROUP_LIST").unwrap().2),
        "90",
        "after delete"
    );
}

/// tooz and toozctl exclude each other on the same lock, and each names the other.
#[test]
fn tooz_and_toozctl_exclude_each_other() {
    let fx = Fx::shared(Kind::Memcached, "xlock");
    let name = fx.name("x");
    let peer = ToozPeer::start(
        &fx.url(),
        "tooz-peer",
        &format!("l = co.get_lock(b'{name}')\nassert l.acquire(blocking=False)"),
        "l.release()",
    );
    let (code, _, err) = run(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("tooz-peer") && err.contains("tooz client"),
        "{err}"
    );
    let (_, out, _) = run(fx.cmd(&["-o", "json", "locks"]));
    let rows = json(&out);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(row["holder"]["member_id"], "tooz-peer", "{row}");
    peer.finish();
    // The other way: toozctl holds, tooz cannot take it and sees our member id as owner.
    let holder = fx.hold(&["-m", "rust-holder", "lock", &name]);
    let out = tooz(
        &fx.url(),
        "tooz-2",
        &format!(
            "l = co.get_lock(b'{name}')\nprint(l.acquire(blocking=False))\nprint(l.get_owner().decode())"
        ),
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["False", "rust-holder"]
    );
    holder.stop();
    let out = tooz(
        &fx.url(),
        "tooz-2",
        &format!("l = co.get_lock(b'{name}')\nprint(l.acquire(blocking=False))\nl.release()"),
    );
    assert_eq!(out.trim(), "True", "free once toozctl released it");
}

/// Groups with capabilities and leaders, both ways.
#[test]
fn tooz_and_toozctl_share_groups_capabilities_and_leaders() {
    let fx = Fx::shared(Kind::Memcached, "xgroup");
    let g = fx.name("g");
    // tooz creates and joins (with its heart beating), and becomes leader.
    let peer = ToozPeer::start(
        &fx.url(),
        "tooz-member",
        &format!(
            "g = b'{g}'\nco.create_group(g).get()\nco.join_group(g, {{'role': 'api', 'n': 1}}).get()\n\
             won = []\nco.watch_elected_as_leader(g, lambda e: won.append(e))\nco.run_watchers()\nassert won"
        ),
        &format!("co.leave_group(b'{g}').get()"),
    );
    let (code, out, err) = run(fx.cmd(&["-o", "json", "group", "members", &g]));
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let m = &v.as_array().unwrap()[0];
    assert_eq!(m["member_id"], "tooz-member", "{v}");
    assert_eq!(
        m["capabilities"],
        serde_json::json!({"role": "api", "n": 1}),
        "{v}"
    );
    assert_eq!(m["leader"], true, "{v}");
    let (_, out, _) = run(fx.cmd(&["group", "leader", &g]));
    assert!(out.contains("tooz-member"), "{out}");
    // toozctl joins with capabilities: tooz lists it with them, and its members survive
    // tooz's pruning (our member key is kept alive).
    let ours = fx.hold(&[
        "-m",
        "rust-member",
        "group",
        "join",
        &g,
        "--capabilities",
        r#"{"zone": "b", "weight": 2}"#,
    ]);
    let out = tooz(
        &fx.url(),
        "tooz-reader",
        &format!(
            "import json\nm = co.get_members_with_capabilities(b'{g}').get()\n\
             print(json.dumps({{k.decode(): v for k, v in m.items()}}, sort_keys=True))\n\
             print(co.get_leader(b'{g}').get().decode())"
        ),
    );
    let mut lines = out.lines();
    let caps: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        caps["rust-member"],
        serde_json::json!({"zone": "b", "weight": 2}),
        "{out}"
    );
    assert_eq!(caps["tooz-member"]["role"], "api", "{out}");
    assert_eq!(lines.next(), Some("tooz-member"));
    peer.finish();
    // The tooz leader stopped (its leader lock released with co.stop()): toozctl is
    // elected, and tooz's get_leader names it.
    let leader = fx.hold(&["-m", "rust-member-2", "elect", &g]);
    let out = tooz(
        &fx.url(),
        "tooz-reader",
        &format!("print(co.get_leader(b'{g}').get().decode())"),
    );
    assert_eq!(out.trim(), "rust-member-2");
    leader.stop();
    ours.stop();
}

/// Names that memcached cannot hold as keys are refused before anything is sent.
#[test]
fn names_memcached_cannot_store_are_exit_2_naming_the_limit() {
    let fx = Fx::shared(Kind::Memcached, "keys");
    let long = "n".repeat(235);
    let (code, _, err) = run(fx.cmd(&["lock", &long, "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("250 bytes") && err.contains("234"), "{err}");
    assert_eq!(run(fx.cmd(&["lock", &long[1..], "--", "true"])).0, 0);
    let (code, _, err) = run(fx.cmd(&["group", "create", &"g".repeat(216)]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("250 bytes"), "{err}");
    for bad in ["a b", "tab\there", "nl\nx"] {
        let (code, _, err) = run(fx.cmd(&["lock", bad, "--", "true"]));
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains("whitespace or control"), "{err}");
    }
    let (code, _, err) = run(fx.cmd(&["-m", "has space", "group", "join", "--create", "gg"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("member id"), "{err}");
    let (code, _, err) = run(fx.cmd(&["lock", "--ttl", "1", "x", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("whole seconds"), "{err}");
    let (code, _, err) = run(fx.cmd(&["lock", "--shared", "x", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("memcached"), "{err}");
}

/// Where tooz's release would delete whatever holds the key, ours compares the CAS: a
/// lock that was taken over behind our back is reported lost (exit 3) and left alone.
#[test]
fn a_taken_over_lock_is_lost_and_never_deleted() {
    let fx = Fx::shared(Kind::Memcached, "cas");
    let mc = Probe::at(server(&fx));
    let name = fx.name("c");
    let key = format!("__TOOZ_LOCK_{name}");
    let holder = fx.hold(&["-m", "same-id", "lock", "--ttl", "30", &name]);
    // Someone replaces the item with one holding the very same member id (as tooz with a
    // reused id would): only the CAS tells it apart.
    assert!(mc.delete(&key));
    let out = mc.raw(&format!("ms {key} 7 F1 T30\r\nsame-id\r\n"), |t| {
        t.ends_with("\r\n")
    });
    assert!(out.starts_with("HD"), "{out}");
    let (code, err) = holder.finish(Duration::from_secs(10));
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        mc.get(&key).map(|v| v.2),
        Some(b"same-id".to_vec()),
        "the new holder's item is still there"
    );
    mc.delete(&key);
}

/// Fencing tokens strictly increase across a deleted counter and a server restart
/// (memcached keeps nothing), and a corrupt counter is refused, never restarted.
#[test]
fn fencing_tokens_increase_across_restart_and_refuse_corruption() {
    let fx = Fx::private(Kind::Memcached, "fence");
    let mc = Probe::at(server(&fx));
    let name = fx.name("f");
    let token = || -> u64 {
        let (code, out, err) = run(fx.cmd(&[
            "lock",
            &name,
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ]));
        assert_eq!(code, 0, "{err}");
        out.trim().parse().unwrap()
    };
    let t1 = token();
    let t2 = token();
    assert_eq!(t2, t1 + 1);
    assert!(mc.delete(&format!("_TOOZCTL_FENCE_{name}")));
    let t3 = token();
    assert!(t3 > t2, "after an evicted counter: {t3} after {t2}");
    fx.restart();
    let t4 = token();
    assert!(t4 > t3, "after a restart: {t4} after {t3}");
    mc.set(&format!("_TOOZCTL_FENCE_{name}"), "junk");
    let (code, _, err) = run(fx.cmd(&["lock", &name, "--", "true"]));
    assert_eq!(code, 69, "{err}");
    assert!(
        err.contains("fencing counter") && err.contains("junk"),
        "{err}"
    );
    assert!(
        mc.get(&format!("__TOOZ_LOCK_{name}")).is_none(),
        "nothing kept"
    );
}

/// `use_ssl` with `ca_cert` against `memcached -Z`; an unknown CA is refused (69). The
/// certificate names 127.0.0.1: `ssl_check_hostname` passes for it and fails for a name
/// it does not hold, while tooz's default (no hostname check) accepts that name.
#[test]
fn tls_with_a_ca_and_hostname_checks() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::redis::make_certs(dir.path());
    let p = |f: &str| dir.path().join(f).display().to_string();
    let mc = Memcached::start_with(
        &[
            "-Z".into(),
            "-o".into(),
            format!("ssl_chain_cert={},ssl_key={}", p("srv.crt"), p("srv.key")),
        ],
        None,
    );
    let home = tempfile::tempdir().unwrap();
    let go = |url: &str| {
        let mut c = support::toozctl(home.path());
        c.args(["-b", url, "lock", "tls-lock", "--", "true"]);
        run(c)
    };
    let base = format!("memcached://127.0.0.1:{}?use_ssl=true", mc.port);
    let (code, _, err) = go(&format!("{base}&ca_cert={}", p("ca.crt")));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = go(&format!(
        "{base}&ca_cert={}&ssl_check_hostname=true",
        p("ca.crt")
    ));
    assert_eq!(code, 0, "{err}");
    let localhost = format!(
        "memcached://localhost:{}?use_ssl=true&ca_cert={}",
        mc.port,
        p("ca.crt")
    );
    let (code, _, err) = go(&localhost);
    assert_eq!(code, 0, "the SAN holds localhost too: {err}");
    let (code, _, err) = go(&base);
    assert_eq!(code, 69, "no CA given, the test CA is unknown: {err}");
    let (code, _, err) = go(&format!("memcached://127.0.0.1:{}", mc.port));
    assert_eq!(code, 69, "plain text to a TLS port: {err}");
    // A server that requires a client certificate (signed by the same CA).
    let strict = Memcached::start_with(
        &[
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={},ssl_ca_cert={},ssl_verify_mode=2",
                p("srv.crt"),
                p("srv.key"),
                p("ca.crt")
            ),
        ],
        None,
    );
    let base = format!(
        "memcached://127.0.0.1:{}?use_ssl=true&ca_cert={}",
        strict.port,
        p("ca.crt")
    );
    let (code, _, err) = go(&base);
    assert_eq!(code, 69, "no client certificate: {err}");
    let (code, _, err) = go(&format!(
        "{base}&ssl_cert={}&ssl_key={}",
        p("srv.crt"),
        p("srv.key")
    ));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = go(&format!("{base}&ssl_cert={}", p("srv.crt")));
    assert_eq!(code, 2, "a certificate without its key: {err}");
}

/// The hand-off happens at the next poll: `poll_interval` bounds it.
#[test]
fn poll_interval_bounds_the_hand_off() {
    let fx = Fx::shared(Kind::Memcached, "poll");
    let name = fx.name("p");
    let holder = fx.hold(&["lock", &name]);
    let url = fx.url_with_query("poll_interval=0.05");
    let stamp = fx.home.path().join("stamp");
    let mut waiter = fx
        .cmd_on(
            &url,
            &[
                "lock",
                &name,
                "--",
                "sh",
                "-c",
                &format!("date +%s%N > {}", stamp.display()),
            ],
        )
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    holder.stop();
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (code, _, err) = run(fx.cmd_on(
        &fx.url_with_query("poll_interval=0"),
        &["lock", &name, "--", "true"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("poll_interval"), "{err}");
    assert!(wait_until(Duration::from_secs(2), || !fx.lock_exists(&name)));
}
