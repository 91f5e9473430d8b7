//! Three-node clusters on loopback for failover tests: a 3-member etcd cluster and a
//! 3-server ZooKeeper ensemble, each node a process of its own started through
//! `support::spawn_server` (so it dies with the test process) and stopped by its pid when
//! the cluster is dropped. Faults, one node at a time: kill -9 it, SIGSTOP / SIGCONT it,
//! start it again after a kill (same data directory, same ports), or restart it (SIGTERM,
//! then start). Each tells which node leads and, for ZooKeeper, which server a session is
//! connected to.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{alive, free_port, signal, spawn_server, stop, wait_until};

/// One node: its client port, its process now, and how to start it again.
pub struct Node {
    pub port: u16,
    pid: AtomicU32,
    /// Starts the node's process with its original command line (same data directory,
    /// same ports) and returns its pid.
    launch: Box<dyn Fn() -> u32 + Send + Sync>,
}

impl Node {
    fn new(port: u16, launch: Box<dyn Fn() -> u32 + Send + Sync>) -> Node {
        Node {
            port,
            pid: AtomicU32::new(launch()),
            launch,
        }
    }

    /// The pid of its current process (a new one after each start).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    pub fn alive(&self) -> bool {
        alive(self.pid())
    }
}

/// Nodes of a cluster, stopped (and resumed first, if paused) when dropped.
struct Nodes(Vec<Node>);

impl Nodes {
    fn kill(&self, i: usize) {
        let pid = self.0[i].pid();
        signal(pid, libc::SIGKILL);
        wait_until(Duration::from_secs(5), || !alive(pid));
    }

    /// Start node `i` again after [`Nodes::kill`] or [`Nodes::stop`]: the same command
    /// line, so the same data directory and ports. A node still running is left alone.
    fn start(&self, i: usize) {
        let n = &self.0[i];
        if !n.alive() {
            n.pid.store((n.launch)(), Ordering::SeqCst);
        }
    }

    /// Stop node `i` cleanly (SIGTERM, SIGKILL after 5 s), resuming it first if paused.
    fn stop(&self, i: usize) {
        let pid = self.0[i].pid();
        signal(pid, libc::SIGCONT);
        stop(pid);
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for n in &self.0 {
            signal(n.pid(), libc::SIGCONT);
        }
        for n in &self.0 {
            stop(n.pid());
        }
    }
}

/// Per-node faults, the same on both kinds of cluster; `ready(i)` says when node `i`
/// serves again.
macro_rules! node_faults {
    () => {
        /// kill -9 node `i` (its data stays; [`Self::start_node`] brings it back).
        pub fn kill(&self, i: usize) {
            self.nodes.kill(i);
        }

        /// SIGSTOP node `i`: it keeps its connections but answers nothing.
        pub fn pause(&self, i: usize) {
            signal(self.nodes.0[i].pid(), libc::SIGSTOP);
        }

        pub fn resume(&self, i: usize) {
            signal(self.nodes.0[i].pid(), libc::SIGCONT);
        }

        /// Start node `i` again after a kill (same data directory and ports) and wait up
        /// to `limit` until it serves; says whether it did.
        pub fn start_node(&self, i: usize, limit: Duration) -> bool {
            self.nodes.start(i);
            wait_until(limit, || self.ready(i))
        }

        /// Stop node `i` cleanly (SIGTERM) and start it again, waiting up to `limit`
        /// until it serves; says whether it did.
        pub fn restart(&self, i: usize, limit: Duration) -> bool {
            self.nodes.stop(i);
            self.start_node(i, limit)
        }

        /// The client ports of the three nodes, in order.
        pub fn ports(&self) -> Vec<u16> {
            self.nodes.0.iter().map(|n| n.port).collect()
        }
    };
}

/// A 3-member etcd cluster (`--initial-cluster-state new`), members `e1`..`e3`.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    nodes: Nodes,
}

impl EtcdCluster {
    /// Start one, trying again on fresh ports once: a port picked free can be taken by
    /// another test's server before ours binds it.
    pub fn start() -> EtcdCluster {
        match EtcdCluster::try_start() {
            Ok(c) => c,
            Err(why) => {
                eprintln!("etcd cluster: {why}; trying again on other ports");
                EtcdCluster::try_start().unwrap_or_else(|why| panic!("{why}"))
            }
        }
    }

    fn try_start() -> Result<EtcdCluster, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("e{}=http://127.0.0.1:{peer}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, (port, peer)) in ports.iter().enumerate() {
            let name = format!("e{}", i + 1);
            let client = format!("http://127.0.0.1:{port}");
            let peer = format!("http://127.0.0.1:{peer}");
            let mut argv: Vec<std::ffi::OsString> = vec!["--data-dir".into()];
            argv.push(dir.path().join(&name).into());
            for a in [
                "--name",
                &name,
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &initial,
                // Ignored once the data directory holds the member: a restart rejoins.
                "--initial-cluster-state",
                "new",
                "--log-level",
                "error",
            ] {
                argv.push(a.into());
            }
            let log = dir.path().join(format!("{name}.log"));
            nodes.push(Node::new(
                *port,
                Box::new(move || {
                    let mut cmd = Command::new("etcd");
                    cmd.args(&argv).stdout(Stdio::null()).stderr(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&log)
                            .unwrap(),
                    );
                    spawn_server(cmd)
                }),
            ));
        }
        let c = EtcdCluster {
            dir,
            nodes: Nodes(nodes),
        };
        let ready = wait_until(Duration::from_secs(30), || {
            c.leader().is_some()
                && c.ctl(&c.endpoints(&[0, 1, 2]), &["endpoint", "health"])
                    .status
                    .success()
        });
        if !ready {
            let logs: Vec<String> = (1..=3)
                .map(|i| {
                    let log = std::fs::read_to_string(c.dir.path().join(format!("e{i}.log")))
                        .unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    format!(
                        "e{i}: {}",
                        lines[lines.len().saturating_sub(2)..].join(" | ")
                    )
                })
                .collect();
            return Err(format!(
                "the etcd cluster did not come up: {}",
                logs.join("; ")
            ));
        }
        Ok(c)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes.0[i]
    }

    node_faults!();

    /// Node `i` runs and says it is healthy (it has a leader and answers reads).
    pub fn ready(&self, i: usize) -> bool {
        self.nodes.0[i].alive()
            && self
                .ctl(&self.endpoints(&[i]), &["endpoint", "health"])
                .status
                .success()
    }

    /// `127.0.0.1:P` of the nodes `which`, comma-separated, in that order.
    pub fn endpoints(&self, which: &[usize]) -> String {
        which
            .iter()
            .map(|i| format!("127.0.0.1:{}", self.nodes.0[*i].port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The backend URL naming the nodes `which`, in that order.
    pub fn url(&self, which: &[usize]) -> String {
        format!("etcd3+http://{}", self.endpoints(which))
    }

    fn ctl(&self, endpoints: &str, args: &[&str]) -> std::process::Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", endpoints, "--command-timeout=3s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("etcdctl")
    }

    /// Which node leads now, from `etcdctl endpoint status -w json` of the live ones.
    pub fn leader(&self) -> Option<usize> {
        let live: Vec<usize> = (0..3).filter(|i| self.nodes.0[*i].alive()).collect();
        let out = self.ctl(
            &self.endpoints(&live),
            &["endpoint", "status", "-w", "json"],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.as_array()?.iter().find_map(|s| {
            let status = &s["Status"];
            let me = status["header"]["member_id"].as_u64()?;
            let leader = status["leader"].as_u64()?;
            let port: u16 = s["Endpoint"].as_str()?.rsplit(':').next()?.parse().ok()?;
            (me == leader && leader != 0)
                .then(|| self.nodes.0.iter().position(|n| n.port == port))
                .flatten()
        })
    }

    /// Delete `key` through the nodes `which`; how many keys went (0 or 1).
    pub fn delete_key(&self, which: &[usize], key: &str) -> usize {
        let out = self.ctl(&self.endpoints(which), &["del", key]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Keys under `prefix` in member `i`'s own copy of the data (a serializable read,
    /// answered by that member without asking the leader).
    pub fn local_keys(&self, i: usize, prefix: &str) -> Vec<String> {
        let out = self.ctl(
            &self.endpoints(&[i]),
            &["get", "--consistency=s", "--prefix", "--keys-only", prefix],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Keys under `prefix`, read from the nodes `which`.
    pub fn keys(&self, which: &[usize], prefix: &str) -> Vec<String> {
        let out = self.ctl(
            &self.endpoints(which),
            &["get", "--prefix", "--keys-only", prefix],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A 3-server ZooKeeper ensemble (tickTime 500 ms, so sessions of 1 to 10 s).
pub struct ZkEnsemble {
    dir: tempfile::TempDir,
    nodes: Nodes,
}

impl ZkEnsemble {
    /// Start one, trying again on fresh ports once (see [`EtcdCluster::start`]).
    pub fn start() -> ZkEnsemble {
        match ZkEnsemble::try_start() {
            Ok(z) => z,
            Err(why) => {
                eprintln!("ZooKeeper ensemble: {why}; trying again on other ports");
                ZkEnsemble::try_start().unwrap_or_else(|why| panic!("{why}"))
            }
        }
    }

    fn try_start() -> Result<ZkEnsemble, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer, election))| {
                format!("server.{}=127.0.0.1:{peer}:{election}\n", i + 1)
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, (port, _, _)) in ports.iter().enumerate() {
            let home = dir.path().join(format!("zk{}", i + 1));
            std::fs::create_dir_all(home.join("data")).unwrap();
            std::fs::write(home.join("data/myid"), format!("{}\n", i + 1)).unwrap();
            let cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok,srvr,stat,cons\nmaxClientCnxns=0\n{servers}",
                home.join("data").display()
            );
            std::fs::write(home.join("zoo.cfg"), cfg).unwrap();
            nodes.push(Node::new(*port, Box::new(move || launch(&home))));
        }
        let z = ZkEnsemble {
            dir,
            nodes: Nodes(nodes),
        };
        let ready = wait_until(Duration::from_secs(60), || {
            (0..3).all(|i| z.mode(i).is_some())
        });
        if !ready {
            let tails: Vec<String> = (1..=3)
                .map(|i| {
                    let log =
                        std::fs::read_to_string(z.dir.path().join(format!("zk{i}/server.out")))
                            .unwrap_or_default();
                    let lines: Vec<&str> = log
                        .lines()
                        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                        .collect();
                    format!(
                        "zk{i} mode {:?}: {}",
                        z.mode(i - 1),
                        lines[lines.len().saturating_sub(3)..].join(" | ")
                    )
                })
                .collect();
            return Err(format!(
                "the ZooKeeper ensemble did not come up: {}",
                tails.join("; ")
            ));
        }
        Ok(z)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes.0[i]
    }

    /// `zookeeper://` naming the servers `which`, with a namespace and a session timeout.
    pub fn url(&self, which: &[usize], namespace: &str, timeout: u32) -> String {
        let hosts = which
            .iter()
            .map(|i| format!("127.0.0.1:{}", self.nodes.0[*i].port))
            .collect::<Vec<_>>()
            .join(",");
        format!("zookeeper://{hosts}?namespace={namespace}&timeout={timeout}")
    }

    /// A four-letter word's answer from server `i` (empty when it does not answer).
    pub fn four(&self, i: usize, word: &str) -> String {
        four(self.nodes.0[i].port, word)
    }

    /// "leader" or "follower", once the server serves.
    pub fn mode(&self, i: usize) -> Option<String> {
        self.four(i, "srvr")
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }

    pub fn leader(&self) -> Option<usize> {
        (0..3).find(|i| self.mode(*i).as_deref() == Some("leader"))
    }

    /// The server that session `sid` (hex, as ZooKeeper prints it) is connected to, from
    /// each server's `cons`.
    pub fn server_of(&self, sid: &str) -> Option<usize> {
        let needle = format!("sid=0x{}", sid.trim_start_matches("0x"));
        (0..3).find(|i| self.nodes.0[*i].alive() && self.four(*i, "cons").contains(&needle))
    }

    node_faults!();

    /// Node `i` runs and serves (as leader or follower).
    pub fn ready(&self, i: usize) -> bool {
        self.nodes.0[i].alive() && self.mode(i).is_some()
    }

    /// Delete every child of `path` in one transaction, through the servers `which`, as
    /// one client's delete of a lock: one by one, a waiter could rightly take its turn
    /// between two deletes. A child can go between listing and commit (its holder let
    /// go): the transaction then fails as a whole and is tried again. How many went.
    pub fn delete_children(&self, which: &[usize], path: &str) -> usize {
        let code = "import sys\nfrom kazoo.client import KazooClient\n\
                    k=KazooClient(sys.argv[1]);k.start(timeout=15)\np=sys.argv[2]\nn=0\n\
                    for _ in range(20):\n\
                    \x20   cs=k.get_children(p) if k.exists(p) else []\n\
                    \x20   if not cs: break\n\
                    \x20   t=k.transaction()\n\
                    \x20   [t.delete(p+'/'+c) for c in cs]\n\
                    \x20   if all(r is True for r in t.commit()):\n\
                    \x20       n=len(cs);break\n\
                    print(n);k.stop()";
        let hosts = which
            .iter()
            .map(|i| format!("127.0.0.1:{}", self.nodes.0[*i].port))
            .collect::<Vec<_>>()
            .join(",");
        let (rc, out, err) = super::python(code, &[&hosts, path]);
        assert_eq!(rc, 0, "{err}");
        out.trim().parse().unwrap_or(0)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn launch(home: &Path) -> u32 {
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx192m")
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-cp")
        .arg("/usr/share/java/*:/etc/zookeeper/conf_example")
        .arg(format!("-Dzookeeper.log.dir={}", home.display()))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(home.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(home.join("server.out"))
                .unwrap(),
        )
        .stderr(Stdio::null());
    spawn_server(cmd)
}

fn four(port: u16, word: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}
