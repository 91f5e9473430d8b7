//! `watch group` on ZooKeeper under churn: thousands of members joining then leaving as
//! fast as one kazoo client can create and delete their nodes (tooz's layout). The server
//! pushes every change on the persistent watch; the watch must report each one once, and
//! keep up: it used to copy and re-diff the whole directory on every change, so a large
//! group under churn fell further and further behind (its queue growing without bound).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::fixture::{Fx, Kind};
use crate::support::tooz_python;

const MEMBERS: usize = 5000;

const CHURN: &str = r#"
import sys
from kazoo.client import KazooClient
hosts, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
zk = KazooClient(hosts=hosts)
zk.start()
zk.create(base + "/sentinel", b"", ephemeral=True)
print("ready", flush=True)
sys.stdin.readline()
for k in range(0, n, 500):
    [p.get() for p in [zk.create_async(f"{base}/m{i:05d}", b"\x90", ephemeral=True) for i in range(k, min(n, k + 500))]]
for k in range(0, n, 500):
    [p.get() for p in [zk.delete_async(f"{base}/m{i:05d}") for i in range(k, min(n, k + 500))]]
print("done", flush=True)
sys.stdin.readline()
zk.stop()
"#;

#[test]
fn watch_group_keeps_up_with_thousands_of_joins_and_leaves() {
    let fx = Fx::shared(Kind::Zookeeper, "zk_watch_churn");
    let group = fx.name("churn");
    let st = fx.cmd(&["group", "create", &group]).status().unwrap();
    assert!(st.success());
    let url = fx.url();
    let hosts = url
        .strip_prefix("zookeeper://")
        .and_then(|r| r.split(['/', '?']).next())
        .unwrap()
        .to_string();
    let ns = url
        .split("namespace=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mut py = Command::new(tooz_python())
        .arg("-c")
        .arg(CHURN)
        .args([&hosts, &format!("/{ns}/{group}"), &MEMBERS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut py_out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    py_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    let mut watch = fx
        .cmd(&["-o", "json", "watch", "--initial", "group", &group])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(|l| l.ok()) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // Live once the sentinel, there before the watch, is printed as an initial join.
    let start = Instant::now();
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(30).saturating_sub(start.elapsed()))
            .expect("the watch printed the sentinel");
        if l.contains("\"sentinel\"") {
            break;
        }
    }

    let mut stdin = py.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    line.clear();
    py_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "done");

    // Every join and leave, each once. The bound is generous (the server had pushed all
    // of them when the writer finished; a watch that keeps up reports them in well under
    // a second): it only catches a watch whose cost per change grows with the group.
    let done = Instant::now();
    let (mut joins, mut leaves, mut twice) = (HashSet::new(), HashSet::new(), 0);
    while joins.len() < MEMBERS || leaves.len() < MEMBERS {
        let Ok(l) = rx.recv_timeout(Duration::from_secs(20).saturating_sub(done.elapsed())) else {
            break;
        };
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        let m = v["member_id"].as_str().unwrap_or_default().to_string();
        if !m.starts_with('m') {
            continue;
        }
        let new = match v["event"].as_str() {
            Some("join") => joins.insert(m),
            Some("leave") => leaves.insert(m),
            e => panic!("unexpected event {e:?}: {l}"),
        };
        twice += usize::from(!new);
    }
    let took = done.elapsed();
    let _ = watch.kill();
    let _ = watch.wait();
    writeln!(stdin).unwrap();
    let _ = py.wait();
    assert_eq!(
        (joins.len(), leaves.len(), twice),
        (MEMBERS, MEMBERS, 0),
        "the watch reported these (joins, leaves, doubled) {took:?} after the last change"
    );
}
