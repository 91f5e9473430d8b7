//! The ZooKeeper backend against a real ZooKeeper server (and a live tooz/kazoo peer for
//! interop): kazoo's layouts and recipes, digest auth, TLS, ensembles, sessions across a
//! server restart. Every test uses its own namespace on the shared server, except the
//! fault tests, which stop or restart a server of their own. The promises every backend
//! keeps are in `conformance/`.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::zookeeper::Zk;
use serde_json::{json, Value};

/// A namespace no other test uses.
fn ns(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}_{test}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

struct Env {
    home: tempfile::TempDir,
    url: String,
    ns: String,
}

impl Env {
    fn new(test: &str) -> Env {
        Env::on(Zk::shared(), test, 4)
    }

    fn on(zk: &Zk, test: &str, timeout: u32) -> Env {
        let ns = ns(test);
        Env {
            home: tempfile::tempdir().unwrap(),
            url: zk.url(&ns, timeout),
            ns,
        }
    }

    fn cmd(&self, member: &str, args: &[&str]) -> Command {
        let mut c = support::toozctl(self.home.path());
        c.arg("-b").arg(&self.url).arg("-m").arg(member).args(args);
        c
    }

    fn run(&self, member: &str, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(member, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `toozctl lock ARGS` in hold mode, returned once it printed its first line.
    fn hold(&self, member: &str, args: &[&str]) -> Bg {
        let mut c = self.cmd(member, args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            !line.is_empty(),
            "{args:?} printed nothing: {}",
            stderr_of(&mut child)
        );
        Bg { child, first: line }
    }

    fn peer(&self, member: &str) -> Peer {
        Peer::start(&self.url, member)
    }

    /// Children of a znode under the namespace, sorted, via kazoo.
    fn children(&self, path: &str) -> Vec<String> {
        let code = "import sys,json\nfrom kazoo.client import KazooClient\nk=KazooClient(sys.argv[1]);k.start()\n\
                    p=sys.argv[2]\nprint(json.dumps(sorted(k.get_children(p)) if k.exists(p) else []))\nk.stop()";
        let hosts = self
            .url
            .split("//")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let (rc, out, err) = support::python(code, &[&hosts, &format!("/{}/{path}", self.ns)]);
        assert_eq!(rc, 0, "{err}");
        serde_json::from_str(out.trim()).unwrap()
    }
}

fn stderr_of(child: &mut Child) -> String {
    let _ = child.kill();
    child.wait_with_output_ref()
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let _ = self.wait();
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }
}

/// A background toozctl.
struct Bg {
    child: Child,
    first: String,
}

impl Bg {
    /// SIGTERM, then wait for a clean exit (the lock is given back at once).
    fn stop(self) {
        self.signal(libc::SIGTERM);
        let (rc, err) = self.finish(Duration::from_secs(10));
        assert_eq!(rc, 0, "{err}");
    }

    fn signal(&self, sig: i32) {
        support::signal(self.child.id(), sig);
    }

    /// Exit code and stderr after it ends (at most `limit`).
    fn finish(mut self, limit: Duration) -> (i32, String) {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let err = self.child.wait_with_output_ref();
                return (st.code().unwrap_or(-1), err);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "toozctl did not end within {limit:?}: {}",
                    self.child.wait_with_output_ref()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live tooz (kazoo) coordinator in a Python process, driven one command per line.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const PEER: &str = r##"
import sys, json
from tooz import coordination
from kazoo.recipe.lock import ReadLock, WriteLock, Semaphore
url, member = sys.argv[1], sys.argv[2]
c = coordination.get_coordinator(url, member.encode())
c.start()
k, ns = c._coord, c._namespace
held, elected = {}, []
def out(x):
    print(json.dumps(x), flush=True)
def kazoo(kind, name, n=None):
    p = "/%s/locks/%s" % (ns, name)
    if kind == "rlock": return ReadLock(k, p, member)
    if kind == "wlock": return WriteLock(k, p, member)
    return Semaphore(k, p, member, max_leases=n)
for line in sys.stdin:
    cmd, *a = line.split(" ", 2)
    a = [x.strip() for x in a]
    try:
        if cmd == "trylock":
            l = c.get_lock(a[0].encode()); ok = l.acquire(blocking=False)
            if ok: held[a[0]] = l
            out(ok)
        elif cmd == "lock":
            l = c.get_lock(a[0].encode())
            try: ok = l.acquire(blocking=True, timeout=float(a[1]))
            except Exception: ok = False
            if ok: held[a[0]] = l
            out(ok)
        elif cmd in ("rlock", "wlock"):
            l = kazoo(cmd, a[0]); ok = l.acquire(blocking=False)
            if ok: held[a[0]] = l
            out(ok)
        elif cmd == "sem":
            l = kazoo("sem", a[0], int(a[1])); ok = l.acquire(blocking=False)
            if ok: held[a[0] + "#" + str(len(held))] = l
            out(ok)
        elif cmd == "release":
            for key in [x for x in held if x == a[0] or x.startswith(a[0] + "#")]:
                held.pop(key).release()
            out(True)
        elif cmd == "create":
            c.create_group(a[0].encode()).get(); out(True)
        elif cmd == "join":
            caps = json.loads(a[1]) if len(a) > 1 else None
            c.join_group(a[0].encode(), caps).get(); out(True)
        elif cmd == "leave":
            c.leave_group(a[0].encode()).get(); out(True)
        elif cmd == "members":
            out(sorted(m.decode() for m in c.get_members(a[0].encode()).get()))
        elif cmd == "caps":
            out(c.get_member_capabilities(a[0].encode(), a[1].encode()).get())
        elif cmd == "leader":
            l = c.get_leader(a[0].encode()).get(); out(l.decode() if l else None)
        elif cmd == "elect":
            if a[0] not in [g for g, _ in elected]:
                c.watch_elected_as_leader(a[0].encode(), lambda ev: elected.append((ev.group_id.decode(), 1)))
            c.run_watchers(); out(a[0] in [g for g, _ in elected])
        elif cmd == "standdown":
            c.stand_down_group_leader(a[0].encode()); out(True)
        elif cmd == "quit":
            break
        else:
            out({"error": "unknown command " + cmd})
    except Exception as e:
        out({"error": type(e).__name__ + ": " + str(e)})
c.stop()
"##;

impl Peer {
    fn start(url: &str, member: &str) -> Peer {
        let mut child = Command::new(support::tooz_python())
            .arg("-c")
            .arg(PEER)
            .arg(url)
            .arg(member)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, line: &str) -> Value {
        writeln!(self.stdin, "{line}").unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        let v: Value = serde_json::from_str(answer.trim())
            .unwrap_or_else(|_| panic!("peer said {answer:?} to {line}"));
        assert!(v.get("error").is_none(), "peer: {line}: {v}");
        v
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Locks through the CLI

// ---------------------------------------------------------------------------------------
// Sessions and faults

/// (SIGSTOP of the server is a conformance scenario: release.rs.)
#[test]
fn a_stopped_server_gets_the_child_signalled_and_exit_3() {
    let zk = Zk::start();
    let e = Env::on(&zk, "stop", 3);
    // Stopping the server outright (its connections reset) ends the same way.
    let marker2 = e.home.path().join("term2");
    let ready = e.home.path().join("ready");
    // The trap is set before the server stops (a TERM that came before it would kill
    // the shell without the marker). It writes the marker with a builtin and COMMAND
    // gets 2 s (under the 3 s session) before SIGKILL: a `touch` forked on a loaded CI
    // machine could still be starting when a 500 ms SIGKILL took the tree.
    let script = format!(
        "trap ': > {}; exit 0' TERM; : > {}; sleep 60 & wait",
        marker2.display(),
        ready.display()
    );
    let mut c = e.cmd(
        "m2",
        &[
            "lock",
            "--kill-after",
            "2s",
            "s2",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    c.stderr(Stdio::piped());
    let bg = Bg {
        child: c.spawn().unwrap(),
        first: String::new(),
    };
    assert!(support::wait_until(Duration::from_secs(15), || e
        .children("locks/s2")
        .len()
        == 1
        && ready.exists()));
    zk.stop();
    let (rc, err) = bg.finish(Duration::from_secs(10));
    assert_eq!(rc, 3, "{err}");
    assert!(marker2.exists(), "the child got SIGTERM: {err}");
}

#[test]
fn a_brief_server_restart_within_the_session_is_not_a_loss() {
    let zk = Zk::start();
    let e = Env::on(&zk, "restart", 10);
    let mut c = e.cmd(
        "m",
        &["lock", "--kill-after", "500ms", "r", "--", "sleep", "6"],
    );
    c.stderr(Stdio::piped());
    let bg = Bg {
        child: c.spawn().unwrap(),
        first: String::new(),
    };
    assert!(support::wait_until(Duration::from_secs(10), || e
        .children("locks/r")
        .len()
        == 1));
    let mut waiter = e.cmd(
        "waiter",
        &[
            "lock",
            "-w",
            "30s",
            "--kill-after",
            "500ms",
            "r",
            "--",
            "echo",
            "got",
        ],
    );
    waiter.stdout(Stdio::piped()).stderr(Stdio::piped());
    let waiter = waiter.spawn().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || e
        .children("locks/r")
        .len()
        == 2));
    let mut watch = e.cmd("w", &["-o", "json", "watch", "lock", "r", "--count", "2"]);
    watch.stdout(Stdio::piped()).stderr(Stdio::piped());
    let watch = watch.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    zk.stop();
    zk.restart();
    let (rc, err) = bg.finish(Duration::from_secs(20));
    assert_eq!(
        rc, 0,
        "a reconnect within the session keeps the lock: {err}"
    );
    // The watch said it lost its connection, then re-read the state.
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["lost", "resync"],
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A waiter queued before the restart keeps its place and gets the lock after it.
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        (Some(0), "got"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------
// Interop with tooz and kazoo

#[test]
fn tooz_and_toozctl_exclude_each_other() {
    let e = Env::new("interop_lock");
    let mut tooz = e.peer("tooz-1");
    assert_eq!(tooz.ask("trylock L"), json!(true));
    let (rc, _, err) = e.run(
        "rust",
        &["lock", "--kill-after", "1s", "-n", "L", "--", "true"],
    );
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("tooz-1"), "tooz's member id is shown: {err}");
    // A toozctl waiter queues behind tooz and gets it when tooz releases.
    let mut waiter = e.cmd(
        "rust",
        &[
            "lock",
            "-w",
            "10s",
            "--kill-after",
            "1s",
            "L",
            "--",
            "echo",
            "got",
        ],
    );
    waiter.stdout(Stdio::piped()).stderr(Stdio::null());
    let waiter = waiter.spawn().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || e
        .children("locks/L")
        .len()
        == 2));
    assert_eq!(tooz.ask("release L"), json!(true));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "got");
    // And the other way round.
    let h = e.hold("rust", &["lock", "L"]);
    assert!(h.first.contains("acquired"));
    assert_eq!(tooz.ask("trylock L"), json!(false));
    let nodes = e.children("locks/L");
    assert_eq!(nodes.len(), 1);
    assert!(
        nodes[0].len() == 32 + 8 + 10 && nodes[0].contains("__lock__"),
        "kazoo naming: {nodes:?}"
    );
    h.stop();
    assert!(support::wait_until(Duration::from_secs(5), || e
        .children("locks/L")
        .is_empty()));
    assert_eq!(tooz.ask("trylock L"), json!(true));
}

#[test]
fn kazoo_read_write_locks_and_semaphores_interoperate() {
    let e = Env::new("interop_rw");
    let mut kz = e.peer("kazoo-1");
    let r = e.hold("rust", &["lock", "--shared", "RW"]);
    assert!(r.first.contains("acquired"));
    assert_eq!(
        kz.ask("rlock RW"),
        json!(true),
        "kazoo readers share with ours"
    );
    assert_eq!(kz.ask("release RW"), json!(true));
    assert_eq!(
        kz.ask("wlock RW"),
        json!(false),
        "a kazoo writer waits for our reader"
    );
    r.stop();
    assert!(support::wait_until(Duration::from_secs(5), || e
        .children("locks/RW")
        .is_empty()));
    assert_eq!(kz.ask("wlock RW"), json!(true));
    let (rc, _, _) = e.run(
        "rust",
        &["lock", "--kill-after", "1s", "-s", "-n", "RW", "--", "true"],
    );
    assert_eq!(rc, 1, "our reader waits for a kazoo writer");
    assert_eq!(kz.ask("release RW"), json!(true));

    let a = e.hold("rust", &["lock", "-l", "2", "SEM"]);
    assert!(a.first.contains("acquired"));
    assert_eq!(kz.ask("sem SEM 2"), json!(true), "one lease left for kazoo");
    assert_eq!(kz.ask("sem SEM 2"), json!(false), "none left");
    let (rc, _, _) = e.run(
        "rust2",
        &[
            "lock",
            "--kill-after",
            "1s",
            "-l",
            "2",
            "-n",
            "SEM",
            "--",
            "true",
        ],
    );
    assert_eq!(rc, 1, "kazoo's lease counts for us");
    assert_eq!(kz.ask("release SEM"), json!(true));
    let (rc, _, err) = e.run(
        "rust2",
        &[
            "lock",
            "-l",
            "2",
            "-n",
            "--kill-after",
            "1s",
            "SEM",
            "--",
            "true",
        ],
    );
    assert_eq!(rc, 0, "{err}");
}

#[test]
fn digest_auth_protects_our_nodes_as_tooz_does_and_never_prints_the_password() {
    let zk = Zk::shared();
    let ns = ns("auth");
    let home = tempfile::tempdir().unwrap();
    let url = format!(
        "zookeeper://alice:s3cret@127.0.0.1:{}?namespace={ns}&timeout=4",
        zk.port
    );
    let e = Env {
        home,
        url: url.clone(),
        ns: ns.clone(),
    };
    let h = e.hold("rust", &["lock", "A"]);
    assert!(h.first.contains("acquired"));
    let mut tooz = Peer::start(&url, "tooz-1");
    assert_eq!(
        tooz.ask("trylock A"),
        json!(false),
        "tooz with the same credentials sees our lock"
    );
    let code = "import sys\nfrom kazoo.client import KazooClient\nfrom kazoo.exceptions import NoAuthError\n\
                k=KazooClient(sys.argv[1]);k.start()\ntry:\n    k.get_children(sys.argv[2]);print('open')\n\
                except NoAuthError:\n    print('closed')\nk.stop()";
    let (_, out, err) = support::python(
        code,
        &[&format!("127.0.0.1:{}", zk.port), &format!("/{ns}/locks/A")],
    );
    assert_eq!(out.trim(), "closed", "digest ACL on our nodes: {err}");
    let wrong = format!(
        "zookeeper://alice:wrong@127.0.0.1:{}?namespace={ns}&timeout=4",
        zk.port
    );
    let out = support::toozctl(e.home.path())
        .args([
            "-b",
            &wrong,
            "lock",
            "--kill-after",
            "1s",
            "-n",
            "A",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(!err.contains("wrong") && !err.contains("s3cret"), "{err}");
}

#[test]
fn kazoo_scheme_ensemble_list_and_hosts_option_reach_a_live_server() {
    let zk = Zk::shared();
    let home = tempfile::tempdir().unwrap();
    let dead = support::free_port();
    let ns = ns("ensemble");
    for url in [
        format!("kazoo://127.0.0.1:{dead},127.0.0.1:{}?namespace={ns}&timeout=4", zk.port),
        format!("zookeeper://127.0.0.1:{dead}?hosts=127.0.0.1:{}&namespace={ns}&timeout=4&randomize_hosts=1", zk.port),
    ] {
        let out = support::toozctl(home.path())
            .args(["-b", &url, "lock", "--kill-after", "1s", "e", "--", "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{url}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

// ---------------------------------------------------------------------------------------
// Groups, elections and watches through the CLI (and with tooz)

fn json_of(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn groups_through_the_cli_in_toozs_layout() {
    let e = Env::new("groups");
    let (rc, _, err) = e.run("admin", &["group", "create", "g"]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        e.run("admin", &["group", "create", "g"]).0,
        1,
        "creating an existing group"
    );
    assert_eq!(
        e.run("admin", &["group", "members", "nope"]).0,
        4,
        "a missing group"
    );
    let member = e.hold(
        "api-1",
        &[
            "group",
            "join",
            "g",
            "--capabilities",
            r#"{"role":"api","n":1}"#,
        ],
    );
    assert!(member.first.contains("joined"), "{}", member.first);
    let mut tooz = e.peer("tooz-1");
    assert_eq!(tooz.ask("members g"), json!(["api-1"]));
    assert_eq!(
        tooz.ask("caps g api-1"),
        json!({"role": "api", "n": 1}),
        "capabilities in tooz's msgpack"
    );
    assert_eq!(
        tooz.ask("join g {\"role\": \"db\", \"weight\": 2}"),
        json!(true)
    );
    let (rc, out, err) = e.run("admin", &["-o", "json", "group", "members", "g"]);
    assert_eq!(rc, 0, "{err}");
    let members = json_of(&out);
    let caps: Vec<(String, Value)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member_id"].as_str().unwrap().to_string(),
                m["capabilities"].clone(),
            )
        })
        .collect();
    assert_eq!(
        caps,
        vec![
            ("api-1".into(), json!({"role": "api", "n": 1})),
            ("tooz-1".into(), json!({"role": "db", "weight": 2}))
        ]
    );
    let (_, out, _) = e.run("admin", &["-o", "json", "group", "list"]);
    let list = json_of(&out);
    assert!(list.to_string().contains("\"g\""), "{list}");
    assert!(
        !list.to_string().contains("locks"),
        "tooz's lock directory is not a group: {list}"
    );
    assert_eq!(e.run("admin", &["group", "delete", "g"]).0, 1, "not empty");
    // Removing a member by hand ends its toozctl with exit 3.
    let (rc, _, err) = e.run("admin", &["group", "leave", "g", "--member", "api-1"]);
    assert_eq!(rc, 0, "{err}");
    let (rc, err) = member.finish(Duration::from_secs(5));
    assert_eq!(rc, 3, "{err}");
    assert_eq!(tooz.ask("leave g"), json!(true));
    let (rc, _, err) = e.run("admin", &["group", "delete", "g"]);
    assert_eq!(rc, 0, "{err}");
    // Only the lock directory (holding our session records) is left in the namespace.
    assert_eq!(e.children(""), vec!["locks".to_string()]);
}

#[test]
fn a_leader_elected_by_toozctl_is_toozs_leader_and_the_other_way_round() {
    let e = Env::new("leader");
    let mut tooz = e.peer("tooz-1");
    assert_eq!(tooz.ask("create g"), json!(true));
    assert_eq!(tooz.ask("join g"), json!(true));
    let leader = e.hold("rust-1", &["elect", "g"]);
    assert!(leader.first.contains("elected"), "{}", leader.first);
    assert_eq!(
        tooz.ask("leader g"),
        json!("rust-1"),
        "tooz's get_leader sees our leader"
    );
    assert_eq!(
        tooz.ask("elect g"),
        json!(false),
        "tooz is not elected while we lead"
    );
    let (_, out, _) = e.run("admin", &["-o", "json", "group", "members", "g"]);
    let members = json_of(&out);
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["rust-1", "tooz-1"],
        "no 'leader' member in our listing"
    );
    assert!(out.contains("\"leader\":true"), "{out}");
    leader.signal(libc::SIGTERM);
    let (rc, err) = leader.finish(Duration::from_secs(5));
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        tooz.ask("elect g"),
        json!(true),
        "tooz is elected once we stand down"
    );
    let (rc, out, err) = e.run("admin", &["group", "leader", "g"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("tooz-1"), "toozctl sees tooz's leader: {out}");
    let (rc, _, err) = e.run(
        "rust-2",
        &[
            "elect",
            "-w",
            "500ms",
            "--kill-after",
            "1s",
            "g",
            "--",
            "true",
        ],
    );
    assert_eq!(rc, 1, "not elected while tooz leads: {err}");
    // A toozctl contender queued behind tooz takes over when tooz stands down.
    let mut waiter = e.cmd(
        "rust-2",
        &[
            "elect",
            "-w",
            "10s",
            "--kill-after",
            "1s",
            "g",
            "--",
            "echo",
            "leading",
        ],
    );
    waiter.stdout(Stdio::piped()).stderr(Stdio::null());
    let waiter = waiter.spawn().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || e
        .children("g/leader")
        .len()
        == 2));
    assert_eq!(tooz.ask("standdown g"), json!(true));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "leading");
}

#[test]
fn watches_report_joins_leaves_elections_and_lock_holders() {
    let e = Env::new("watch");
    assert_eq!(e.run("admin", &["group", "create", "g"]).0, 0);
    let spawn_watch = |args: &[&str]| {
        let mut c = e.cmd("watcher", args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        Bg {
            child: c.spawn().unwrap(),
            first: String::new(),
        }
    };
    let group = spawn_watch(&["-o", "json", "watch", "group", "g", "--count", "2"]);
    let leader = spawn_watch(&["-o", "json", "watch", "leader", "g", "--count", "1"]);
    let lock = spawn_watch(&["-o", "json", "watch", "lock", "L", "--count", "6"]);
    std::thread::sleep(Duration::from_millis(700));
    let (rc, _, err) = e.run("m1", &["elect", "--kill-after", "1s", "g", "--", "true"]);
    assert_eq!(rc, 0, "{err}");
    // Taken and given back within milliseconds: still two events.
    let (rc, _, err) = e.run("m2", &["lock", "--kill-after", "1s", "L", "--", "true"]);
    assert_eq!(rc, 0, "{err}");
    // A hand-off: released by m3, then acquired by m4.
    let m3 = e.hold("m3", &["lock", "L"]);
    let mut m4 = e.cmd(
        "m4",
        &["lock", "-w", "10s", "--kill-after", "1s", "L", "--", "true"],
    );
    m4.stderr(Stdio::null());
    let mut m4 = m4.spawn().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || e
        .children("locks/L")
        .len()
        == 2));
    m3.signal(libc::SIGTERM);
    assert!(m4.wait().unwrap().success());
    let events = |bg: Bg| {
        let mut bg = bg;
        let end = Instant::now() + Duration::from_secs(15);
        while bg.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < end,
                "watch missed events: {}",
                stderr_of(&mut bg.child)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(bg.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        out.lines()
            .map(|l| {
                let v = json_of(l);
                format!(
                    "{} {}",
                    v["event"].as_str().unwrap(),
                    v["member_id"].as_str().unwrap_or("?")
                )
            })
            .collect::<Vec<String>>()
    };
    assert_eq!(events(group), vec!["join m1", "leave m1"]);
    assert_eq!(events(leader), vec!["elected m1"]);
    // m2's node may be gone before the watch could read who it was: then no member id.
    let k: Vec<String> = events(lock)
        .into_iter()
        .map(|e| e.replace(" ?", " m2"))
        .collect();
    assert_eq!(
        k,
        vec![
            "acquired m2",
            "released m2",
            "acquired m3",
            "released m3",
            "acquired m4",
            "released m4"
        ]
    );
}

#[test]
fn names_zookeeper_cannot_store_or_that_collide_with_toozs_layout_are_refused() {
    let e = Env::new("names");
    for args in [
        vec!["lock", "-n", "--kill-after", "1s", "a/../b", "--", "true"],
        vec!["lock", "-n", "--kill-after", "1s", "a//b", "--", "true"],
        vec!["lock", "-n", "--kill-after", "1s", ".toozctl", "--", "true"],
        vec!["group", "create", "locks"],
        vec!["group", "create", "a/b"],
    ] {
        let (rc, _, err) = e.run("m", &args);
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (rc, _, err) = e.run("leader", &["group", "join", "--create", "g", "--", "true"]);
    assert_eq!(
        rc, 2,
        "member id 'leader' collides with tooz's leader node: {err}"
    );
    // Nested lock names work, as in tooz.
    let (rc, _, err) = e.run("m", &["lock", "--kill-after", "1s", "a/b", "--", "true"]);
    assert_eq!(rc, 0, "{err}");
}

#[test]
fn locks_lists_holders_of_both_tools_and_unlock_breaks_them() {
    let e = Env::new("locks");
    let mut tooz = e.peer("tooz-1");
    assert_eq!(tooz.ask("trylock T"), json!(true));
    let ours = e.hold("rust-1", &["lock", "L"]);
    let (rc, out, err) = e.run("admin", &["-o", "json", "locks"]);
    assert_eq!(rc, 0, "{err}");
    let list = json_of(&out);
    let holders: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["holder"]["member_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        holders,
        vec![
            ("L".to_string(), "rust-1".to_string()),
            ("T".to_string(), "tooz-1".to_string())
        ],
        "{out}"
    );
    assert!(
        list[0]["holder"]["pid"].as_u64().is_some(),
        "our record: {out}"
    );
    // Breaking our holder's lock ends it with exit 3.
    let (rc, out, err) = e.run("admin", &["unlock", "L"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("rust-1"), "{out}");
    let (rc, err) = ours.finish(Duration::from_secs(5));
    assert_eq!(rc, 3, "{err}");
    // Breaking tooz's lock frees it for others (tooz itself does not notice).
    let (rc, _, err) = e.run("admin", &["unlock", "T"]);
    assert_eq!(rc, 0, "{err}");
    let (rc, _, err) = e.run(
        "rust-2",
        &["lock", "-n", "--kill-after", "1s", "T", "--", "true"],
    );
    assert_eq!(rc, 0, "{err}");
}

#[test]
fn the_default_grace_fits_toozs_default_session_timeout() {
    // tooz's default session timeout is 10 s, the default --kill-after too: without
    // --kill-after the grace shrinks to half the session, so every holding command works
    // out of the box; an explicit grace that does not fit is still a usage error.
    let e = Env::on(Zk::shared(), "defaultgrace", 10);
    for args in [
        &["lock", "g", "--", "true"][..],
        &["group", "join", "--create", "dg", "--", "true"],
        &["elect", "de", "--", "true"],
    ] {
        let (rc, _, err) = e.run("m1", args);
        assert_eq!(rc, 0, "{args:?}: {err}");
    }
    let (rc, _, err) = e.run("m1", &["lock", "--kill-after", "10s", "g", "--", "true"]);
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("--kill-after") && err.contains("lease"),
        "{err}"
    );
}

/// An `Env` on a TLS server: `url` is the secure port with `?use_ssl=true&ca=...` + `extra`.
fn tls_env(zk: &Zk, tls: &support::zookeeper::TlsFiles, test: &str, extra: &str) -> Env {
    let ns = ns(test);
    Env {
        home: tempfile::tempdir().unwrap(),
        url: format!("{}{extra}", zk.tls_url(&tls.ca, &ns, 4)),
        ns,
    }
}

/// tooz (through kazoo, over TLS) tries the lock `name`; prints True/False.
fn tooz_tls_trylock(url: &str, name: &str) -> String {
    let code = "import sys\nfrom tooz import coordination\n\
                c=coordination.get_coordinator(sys.argv[1], b'tooz-tls')\nc.start(start_heart=False)\n\
                l=c.get_lock(sys.argv[2].encode())\nprint(l.acquire(blocking=False))\n\
                l.release() if l.acquired else None\nc.stop()";
    let (rc, out, err) = support::python(code, &[url, name]);
    assert_eq!(rc, 0, "{err}");
    out.trim().to_string()
}

#[test]
fn tls_with_the_servers_ca_works_and_a_wrong_ca_or_unsupported_option_is_one_line() {
    let tls = support::zookeeper::TlsFiles::new();
    let zk = Zk::start_tls(&tls, false);
    let e = tls_env(&zk, &tls, "tls", "");
    let (rc, out, err) = e.run("m1", &["lock", "x", "--", "sh", "-c", "echo $TOOZCTL_LOCK"]);
    assert_eq!((rc, out.trim()), (0, "x"), "{err}");
    // tooz over TLS (kazoo, the same URL) sees a lock we hold over TLS.
    let h = e.hold("m1", &["lock", "L"]);
    assert!(h.first.contains("acquired"), "{}", h.first);
    assert_eq!(tooz_tls_trylock(&e.url, "L"), "False");
    h.stop();
    assert_eq!(tooz_tls_trylock(&e.url, "L"), "True");

    // A CA that did not sign the server's certificate: exit 69, one line.
    let other = support::zookeeper::TlsFiles::new();
    let bad = tls_env(&zk, &other, "tls_bad_ca", "");
    let t = Instant::now();
    let (rc, _, err) = bad.run("m1", &["lock", "x", "--", "true"]);
    assert_eq!(rc, 69, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("UnknownIssuer"),
        "the handshake's reason: {err}"
    );
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    // Plain text to the TLS port, or TLS to the plain port: 69 too.
    let plain = Env {
        home: tempfile::tempdir().unwrap(),
        url: format!(
            "zookeeper://127.0.0.1:{}?use_ssl=true&ca={}&timeout=3",
            zk.port,
            tls.ca.display()
        ),
        ns: ns("tls_plain"),
    };
    let (rc, _, err) = plain.run("m1", &["lock", "x", "--", "true"]);
    assert_eq!(rc, 69, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // What rustls cannot do is refused before connecting, one line, exit 2, no password.
    for (extra, says) in [
        ("&keyfile_password=hunter2", "openssl pkey"),
        ("&verify_certs=false", "verify_certs"),
        ("&ca=/nonexistent/ca.pem", "/nonexistent/ca.pem"),
    ] {
        let e = tls_env(&zk, &tls, "tls_refused", extra);
        let (rc, _, err) = e.run("m1", &["lock", "x", "--", "true"]);
        assert_eq!(rc, 2, "{extra}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn tls_server_that_needs_a_client_certificate_takes_ours() {
    let tls = support::zookeeper::TlsFiles::new();
    let zk = Zk::start_tls(&tls, true);
    // Without a client certificate the server closes the handshake: 69, one line.
    let e = tls_env(&zk, &tls, "mtls_none", "");
    let (rc, _, err) = e.run("m1", &["lock", "x", "--", "true"]);
    assert_eq!(rc, 69, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("certfile"), "the hint names the option: {err}");
    // With one, signed by the CA the server trusts: works, and tooz with the same
    // certificate sees our lock.
    let client = format!(
        "&certfile={}&keyfile={}",
        tls.client_cert.display(),
        tls.client_key.display()
    );
    let e = tls_env(&zk, &tls, "mtls", &client);
    let (rc, out, err) = e.run("m1", &["lock", "x", "--", "sh", "-c", "echo $TOOZCTL_LOCK"]);
    assert_eq!((rc, out.trim()), (0, "x"), "{err}");
    let h = e.hold("m1", &["lock", "L"]);
    assert!(h.first.contains("acquired"), "{}", h.first);
    assert_eq!(tooz_tls_trylock(&e.url, "L"), "False");
    h.stop();
}
