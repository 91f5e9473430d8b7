//! A real ZooKeeper server for tests: started with the machine's Java and the Debian
//! `zookeeper` jars on a free port, tickTime 500 ms (session timeouts from 1 to 10 s),
//! owned by the test process through `spawn_server`. One shared server per test binary
//! ([`Zk::shared`], tests use unique namespaces); tests that stop or restart a server
//! start their own ([`Zk::start`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{free_port, spawn_server, stop, wait_until};

pub struct Zk {
    pub port: u16,
    pid: std::sync::Mutex<u32>,
    dir: tempfile::TempDir,
}

impl Zk {
    /// The server shared by every test of this binary.
    pub fn shared() -> &'static Zk {
        static ZK: OnceLock<Zk> = OnceLock::new();
        ZK.get_or_init(Zk::start)
    }

    /// A server of its own, for tests that stop it.
    pub fn start() -> Zk {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("zoo.cfg"),
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok,srvr,stat\nmaxClientCnxns=0\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let pid = launch(dir.path(), port);
        Zk {
            port,
            pid: std::sync::Mutex::new(pid),
            dir,
        }
    }

    /// `zookeeper://127.0.0.1:PORT?namespace=NS&timeout=SECS`.
    pub fn url(&self, namespace: &str, timeout: u32) -> String {
        format!(
            "zookeeper://127.0.0.1:{}?namespace={namespace}&timeout={timeout}",
            self.port
        )
    }

    pub fn pid(&self) -> u32 {
        *self.pid.lock().unwrap()
    }

    /// Stop the server (its data stays).
    pub fn stop(&self) {
        stop(self.pid());
    }

    /// Start it again on the same port and data directory (sessions survive).
    pub fn restart(&self) {
        *self.pid.lock().unwrap() = launch(self.dir.path(), self.port);
    }
}

fn launch(dir: &Path, port: u16) -> u32 {
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx256m")
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-cp")
        .arg("/usr/share/java/*:/etc/zookeeper/conf_example")
        .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(dir.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("server.out")).unwrap())
        .stderr(Stdio::null());
    let pid = spawn_server(cmd);
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || ready(port)),
        "ZooKeeper did not answer on port {port} within {:?} (see {})",
        started.elapsed(),
        dir.join("server.out").display()
    );
    pid
}

/// Serving requests: the four-letter word `srvr` answers with the server's mode (`ruok`
/// says `imok` before the server takes sessions).
pub fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"srvr").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains("Mode:")
}
