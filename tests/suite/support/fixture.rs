//! One fixture per backend: how to start it, its URL, and the faults a test can inject
//! (pause, resume, restart, delete a lock behind toozctl's back). Scenarios in
//! `conformance/` take a [`Kind`] and run unchanged on every backend; a new backend means a
//! new arm here and nothing else.
//!
//! Shared servers serve every test that injects no server fault (tests keep apart by a
//! namespace of their own, [`Fx::ns`], and unique names); a test that pauses or restarts
//! its server asks for a private one ([`Fx::private`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::support::etcd::Etcd;
use crate::support::redis::RedisServer;
use crate::support::zookeeper::Zk;
use crate::support::{self, python};

/// The backends of the conformance suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Redis,
    Zookeeper,
    Etcd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Redis => "redis",
            Kind::Zookeeper => "zookeeper",
            Kind::Etcd => "etcd",
        }
    }

    /// Primitives are leases that run out when the holder goes silent.
    pub fn has_lease(self) -> bool {
        self != Kind::File
    }

    /// A server process that can be paused and restarted.
    pub fn has_server(self) -> bool {
        self != Kind::File
    }
}

/// The server behind a fixture: shared by the whole binary, or private to one test.
enum Server {
    None,
    Redis(Arc<RedisHandle>),
    Zk(Arc<ZkHandle>),
    Etcd(Arc<EtcdHandle>),
}

enum RedisHandle {
    Shared(&'static RedisServer),
    Own(std::sync::Mutex<RedisServer>),
}
enum ZkHandle {
    Shared(&'static Zk),
    Own(Zk),
}
enum EtcdHandle {
    Shared(&'static Etcd),
    Own(std::sync::Mutex<Etcd>),
}

/// A backend for one test: a namespace of its own, a private HOME, and fault injection.
pub struct Fx {
    pub kind: Kind,
    /// This test's namespace (and prefix of its lock names on etcd, which has none).
    pub ns: String,
    pub home: tempfile::TempDir,
    /// The file backend's directory.
    dir: Option<PathBuf>,
    server: Server,
}

fn unique_ns(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Fx {
    /// On the binary's shared server.
    pub fn shared(kind: Kind, test: &str) -> Fx {
        let server = match kind {
            Kind::File => Server::None,
            Kind::Redis => Server::Redis(Arc::new(RedisHandle::Shared(RedisServer::shared()))),
            Kind::Zookeeper => Server::Zk(Arc::new(ZkHandle::Shared(Zk::shared()))),
            Kind::Etcd => {
                Server::Etcd(Arc::new(EtcdHandle::Shared(crate::support::etcd::shared())))
            }
        };
        Fx::with(kind, test, server)
    }

    /// On a server of its own, for tests that pause, stop or restart it.
    pub fn private(kind: Kind, test: &str) -> Fx {
        let server = match kind {
            Kind::File => Server::None,
            Kind::Redis => Server::Redis(Arc::new(RedisHandle::Own(std::sync::Mutex::new(
                RedisServer::start(),
            )))),
            Kind::Zookeeper => Server::Zk(Arc::new(ZkHandle::Own(Zk::start()))),
            Kind::Etcd => Server::Etcd(Arc::new(EtcdHandle::Own(std::sync::Mutex::new(
                Etcd::start(),
            )))),
        };
        Fx::with(kind, test, server)
    }

    fn with(kind: Kind, test: &str, server: Server) -> Fx {
        let home = tempfile::tempdir().expect("tempdir");
        let dir = (kind == Kind::File).then(|| {
            let d = home.path().join("backend");
            std::fs::create_dir_all(&d).unwrap();
            d
        });
        Fx {
            kind,
            ns: unique_ns(test),
            home,
            dir,
            server,
        }
    }

    /// A lock or group name unique to this test.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.ns)
    }

    /// The backend URL (ZooKeeper sessions of 4 s: the server's tick is 500 ms).
    pub fn url(&self) -> String {
        match &self.server {
            Server::None => format!("file://{}", self.dir.as_ref().unwrap().display()),
            Server::Redis(r) => r.with(|s| s.url(&self.ns, "")),
            Server::Zk(z) => z.get().url(&self.ns, 4),
            Server::Etcd(e) => e.with(|s| s.url.clone()),
        }
    }

    /// A URL on which nothing answers (a free port), for "unavailable" scenarios.
    pub fn unreachable_url(&self) -> Option<String> {
        let port = support::free_port();
        match self.kind {
            Kind::File => None,
            Kind::Redis => Some(format!("redis://127.0.0.1:{port}?timeout=2")),
            Kind::Zookeeper => Some(format!("zookeeper://127.0.0.1:{port}?timeout=2")),
            Kind::Etcd => Some(format!("etcd3+http://127.0.0.1:{port}?timeout=2")),
        }
    }

    /// `toozctl -b URL ARGS...` with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = support::toozctl(self.home.path());
        c.arg("-b").arg(self.url()).args(args);
        c
    }

    /// Delete lock `name` behind toozctl's back, as another client (or an operator) would.
    pub fn delete_lock(&self, name: &str) {
        match &self.server {
            Server::None => {
                std::fs::remove_file(self.dir.as_ref().unwrap().join(name)).expect("rm lock file")
            }
            Server::Redis(r) => {
                let key = format!("{}_{name}_lock", self.ns);
                let n = r.with(|s| s.cli(&["DEL", &key]));
                assert_eq!(n, "1", "DEL {key}");
            }
            Server::Zk(z) => {
                let code = "import sys\nfrom kazoo.client import KazooClient\n\
                            k=KazooClient(sys.argv[1]);k.start()\np=sys.argv[2]\n\
                            n=[k.delete(p+'/'+c) for c in k.get_children(p)]\nprint(len(n));k.stop()";
                let hosts = format!("127.0.0.1:{}", z.get().port);
                let (rc, out, err) = python(code, &[&hosts, &format!("/{}/locks/{name}", self.ns)]);
                assert_eq!(rc, 0, "{err}");
                assert_ne!(
                    out.trim(),
                    "0",
                    "no lock node under /{}/locks/{name}",
                    self.ns
                );
            }
            Server::Etcd(e) => e.with(|s| {
                let out = s.ctl_ok(&["del", &format!("/tooz/locks{name}")]);
                assert_eq!(out.trim(), "1", "etcdctl del /tooz/locks{name}");
            }),
        }
    }

    /// The server stops answering (SIGSTOP): a partition as the client sees it.
    pub fn pause(&self) {
        support::signal(self.server_pid(), libc::SIGSTOP);
    }

    pub fn resume(&self) {
        support::signal(self.server_pid(), libc::SIGCONT);
    }

    /// Stop the server and start it again on the same port (Redis without persistence
    /// comes back empty; ZooKeeper and etcd keep their data).
    pub fn restart(&self) {
        match &self.server {
            Server::None => panic!("the file backend has no server"),
            Server::Redis(r) => match &**r {
                RedisHandle::Own(m) => {
                    let mut s = m.lock().unwrap();
                    s.restart();
                }
                RedisHandle::Shared(_) => panic!("restart needs Fx::private"),
            },
            Server::Zk(z) => match &**z {
                ZkHandle::Own(s) => {
                    s.stop();
                    s.restart();
                }
                ZkHandle::Shared(_) => panic!("restart needs Fx::private"),
            },
            Server::Etcd(e) => match &**e {
                EtcdHandle::Own(m) => m.lock().unwrap().restart(),
                EtcdHandle::Shared(_) => panic!("restart needs Fx::private"),
            },
        }
    }

    /// The pid of a private server (pausing a shared one would hurt other tests).
    pub fn server_pid(&self) -> u32 {
        match &self.server {
            Server::Redis(r) => match &**r {
                RedisHandle::Own(m) => m.lock().unwrap().pid,
                RedisHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::Zk(z) => match &**z {
                ZkHandle::Own(s) => s.pid(),
                ZkHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::Etcd(e) => match &**e {
                EtcdHandle::Own(m) => m.lock().unwrap().pid,
                EtcdHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::None => panic!("the file backend has no server"),
        }
    }

    /// The file backend's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_deref().expect("the file backend's directory")
    }
}

impl RedisHandle {
    fn with<T>(&self, f: impl FnOnce(&RedisServer) -> T) -> T {
        match self {
            RedisHandle::Shared(s) => f(s),
            RedisHandle::Own(m) => f(&m.lock().unwrap()),
        }
    }
}

impl ZkHandle {
    fn get(&self) -> &Zk {
        match self {
            ZkHandle::Shared(s) => s,
            ZkHandle::Own(s) => s,
        }
    }
}

impl EtcdHandle {
    fn with<T>(&self, f: impl FnOnce(&Etcd) -> T) -> T {
        match self {
            EtcdHandle::Shared(s) => f(s),
            EtcdHandle::Own(m) => f(&m.lock().unwrap()),
        }
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        // A test that failed while its private server was paused must not leave it stopped.
        if let Server::Redis(_) | Server::Zk(_) | Server::Etcd(_) = &self.server {
            let own = match &self.server {
                Server::Redis(r) => matches!(&**r, RedisHandle::Own(_)),
                Server::Zk(z) => matches!(&**z, ZkHandle::Own(_)),
                Server::Etcd(e) => matches!(&**e, EtcdHandle::Own(_)),
                Server::None => false,
            };
            if own {
                self.resume();
            }
        }
    }
}

/// Run each listed scenario (a `fn(Kind)` in the calling module) as one `#[test]` per
/// backend: `conformance::locks::file::mutual_exclusion`, `...::redis::...`, and so on.
/// A scenario that does not apply to a backend says so in its first lines and returns.
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod file { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::File) } )* }
        mod redis { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Redis) } )* }
        mod zookeeper { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Zookeeper) } )* }
        mod etcd { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Etcd) } )* }
    };
}
