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
use crate::support::mariadb::Mariadb;
use crate::support::memcached::Memcached;
use crate::support::postgres::Postgres;
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
    /// tooz's `ipc://`: System V semaphores of this host, no server.
    Ipc,
    Mysql,
    Postgres,
    Memcached,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Redis => "redis",
            Kind::Zookeeper => "zookeeper",
            Kind::Etcd => "etcd",
            Kind::Ipc => "ipc",
            Kind::Mysql => "mysql",
            Kind::Postgres => "postgresql",
            Kind::Memcached => "memcached",
        }
    }

    /// Primitives are leases that run out when the holder goes silent.
    pub fn has_lease(self) -> bool {
        !matches!(self, Kind::File | Kind::Ipc | Kind::Mysql | Kind::Postgres)
    }

    /// A server process that can be paused and restarted.
    pub fn has_server(self) -> bool {
        !matches!(self, Kind::File | Kind::Ipc)
    }

    /// Groups, members, leaders (`group *`, `elect`) and `watch group`/`watch leader`.
    /// A backend without them (tooz's SQL and IPC drivers) answers exit 2 naming itself.
    pub fn has_groups(self) -> bool {
        match self {
            Kind::File | Kind::Redis | Kind::Zookeeper | Kind::Etcd | Kind::Memcached => true,
            Kind::Ipc | Kind::Mysql | Kind::Postgres => false,
        }
    }

    /// `lock --limit N` semaphores (tooz's SQL drivers have none; toozctl neither, yet).
    pub fn has_limit(self) -> bool {
        !matches!(self, Kind::Mysql | Kind::Postgres)
    }

    /// `lock --shared` (readers share, a writer excludes them).
    pub fn has_shared(self) -> bool {
        match self {
            Kind::File | Kind::Redis | Kind::Zookeeper | Kind::Etcd => true,
            Kind::Ipc | Kind::Mysql | Kind::Postgres | Kind::Memcached => false,
        }
    }

    /// TOOZCTL_FENCING_TOKEN and `fencing_token` are handed out. The ipc backend has no
    /// number that strictly increases across reboots, so it hands out none.
    pub fn has_fencing_tokens(self) -> bool {
        self != Kind::Ipc
    }

    /// `watch` (lock, group, leader). The SQL backends have none, as tooz's drivers have
    /// none: they refuse with exit 2 naming the backend.
    pub fn has_watch(self) -> bool {
        !matches!(self, Kind::Mysql | Kind::Postgres)
    }

    /// `lock --once-per` records the last success on the backend. The ipc backend has
    /// nowhere to keep one (a semaphore holds no data), so it refuses with exit 2.
    pub fn has_once_per(self) -> bool {
        self != Kind::Ipc
    }
}

/// The server behind a fixture: shared by the whole binary, or private to one test.
enum Server {
    None,
    Redis(Arc<RedisHandle>),
    Zk(Arc<ZkHandle>),
    Etcd(Arc<EtcdHandle>),
    Mysql(Arc<MysqlHandle>),
    Pg(Arc<PgHandle>),
    Memcached(Arc<McHandle>),
}

enum RedisHandle {
    Shared(&'static RedisServer),
    Own(std::sync::Mutex<RedisServer>),
}
enum ZkHandle {
    Shared(&'static Zk),
    Own(Zk),
}
enum MysqlHandle {
    Shared(&'static Mariadb),
    Own(std::sync::Mutex<Mariadb>),
}
enum PgHandle {
    Shared(&'static Postgres),
    Own(std::sync::Mutex<Postgres>),
}
enum EtcdHandle {
    Shared(&'static Etcd),
    Own(std::sync::Mutex<Etcd>),
}
enum McHandle {
    Shared(&'static Memcached),
    Own(std::sync::Mutex<Memcached>),
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
    /// The password in [`Fx::url`] ([`Fx::with_password`]).
    password: Option<String>,
    /// The MySQL user of [`Fx::url`] (root, or the one [`Fx::with_password`] made).
    sql_user: String,
    /// The ZooKeeper session timeout in the URL, seconds ([`Fx::zk_timeout`]).
    zk_timeout: u32,
}

fn unique_ns(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    // Short: MySQL lock names end at 64 characters.
    format!(
        "{}_{}_{}",
        test.chars()
            .take(24)
            .collect::<String>()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Fx {
    /// On the binary's shared server.
    pub fn shared(kind: Kind, test: &str) -> Fx {
        let server = match kind {
            Kind::File | Kind::Ipc => Server::None,
            Kind::Redis => Server::Redis(Arc::new(RedisHandle::Shared(RedisServer::shared()))),
            Kind::Zookeeper => Server::Zk(Arc::new(ZkHandle::Shared(Zk::shared()))),
            Kind::Etcd => {
                Server::Etcd(Arc::new(EtcdHandle::Shared(crate::support::etcd::shared())))
            }
            Kind::Mysql => Server::Mysql(Arc::new(MysqlHandle::Shared(Mariadb::shared()))),
            Kind::Postgres => Server::Pg(Arc::new(PgHandle::Shared(Postgres::shared()))),
            Kind::Memcached => Server::Memcached(Arc::new(McHandle::Shared(Memcached::shared()))),
        };
        Fx::with(kind, test, server)
    }

    /// On a server of its own, for tests that pause, stop or restart it.
    pub fn private(kind: Kind, test: &str) -> Fx {
        let server = match kind {
            Kind::File | Kind::Ipc => Server::None,
            Kind::Redis => Server::Redis(Arc::new(RedisHandle::Own(std::sync::Mutex::new(
                RedisServer::start(),
            )))),
            Kind::Zookeeper => Server::Zk(Arc::new(ZkHandle::Own(Zk::start()))),
            Kind::Etcd => Server::Etcd(Arc::new(EtcdHandle::Own(std::sync::Mutex::new(
                Etcd::start(),
            )))),
            Kind::Mysql => Server::Mysql(Arc::new(MysqlHandle::Own(std::sync::Mutex::new(
                Mariadb::start(),
            )))),
            Kind::Postgres => Server::Pg(Arc::new(PgHandle::Own(std::sync::Mutex::new(
                Postgres::start(),
            )))),
            Kind::Memcached => Server::Memcached(Arc::new(McHandle::Own(std::sync::Mutex::new(
                Memcached::start(),
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
            password: None,
            sql_user: match kind {
                Kind::Postgres => crate::support::postgres::USER.into(),
                _ => "root".into(),
            },
            zk_timeout: 4,
        }
    }

    /// ZooKeeper sessions of `secs` (1..10 on the test servers) instead of 4 s: the lease
    /// of every primitive on ZooKeeper. Other backends take `--ttl` per command.
    pub fn zk_timeout(mut self, secs: u32) -> Fx {
        self.zk_timeout = secs;
        self
    }

    /// A backend whose URL carries `password`, which the server checks where it can:
    /// Redis with `requirepass` and etcd with authentication enabled (user `root`), both
    /// private servers; ZooKeeper with a digest identity (`alice:PASSWORD`; its nodes get
    /// a digest ACL); the file backend has no server to check it (the URL still carries
    /// it, so it must be redacted all the same).
    pub fn with_password(kind: Kind, test: &str, password: &str) -> Fx {
        let server = match kind {
            Kind::File | Kind::Ipc => Server::None,
            Kind::Redis => Server::Redis(Arc::new(RedisHandle::Own(std::sync::Mutex::new(
                RedisServer::start_with(Some(password), &[]),
            )))),
            Kind::Zookeeper => Server::Zk(Arc::new(ZkHandle::Shared(Zk::shared()))),
            Kind::Etcd => {
                let mut e = Etcd::start();
                e.ctl_ok(&[
                    "user",
                    "add",
                    "root",
                    "--interactive=false",
                    &format!("--new-user-password={password}"),
                ]);
                e.ctl_ok(&["auth", "enable"]);
                e.ctl_flags.push(format!("--user=root:{password}"));
                Server::Etcd(Arc::new(EtcdHandle::Own(std::sync::Mutex::new(e))))
            }
            Kind::Mysql => Server::Mysql(Arc::new(MysqlHandle::Shared(Mariadb::shared()))),
            Kind::Postgres => Server::Pg(Arc::new(PgHandle::Shared(Postgres::shared()))),
            // memcached's ASCII authentication (-Y) checks a user and password.
            Kind::Memcached => Server::Memcached(Arc::new(McHandle::Own(std::sync::Mutex::new(
                Memcached::start_with_auth("alice", password),
            )))),
        };
        let mut fx = Fx::with(kind, test, server);
        // A user of its own (MariaDB user names end at 80 characters).
        static N: AtomicU32 = AtomicU32::new(0);
        let user = format!(
            "pw{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        match &fx.server {
            Server::Mysql(m) => m.with(|s| s.user_with(&user, password)),
            Server::Pg(p) => p.with(|s| s.user_with(&user, password)),
            _ => {}
        }
        if matches!(kind, Kind::Mysql | Kind::Postgres) {
            fx.sql_user = user;
        }
        fx.password = Some(password.to_string());
        fx
    }

    /// [`Fx::url`] with `password` in place of the fixture's (or added).
    pub fn url_with_password(&self, password: Option<&str>) -> String {
        if let Server::Mysql(m) = &self.server {
            return m.with(|s| s.url_as(&self.sql_user, password));
        }
        if let Server::Pg(p) = &self.server {
            return p.with(|s| s.url_as(&self.sql_user, password));
        }
        let url = self.url_without_password();
        let Some(pw) = password else { return url };
        let user = match self.kind {
            Kind::Zookeeper | Kind::Memcached => "alice",
            Kind::Etcd => "root",
            _ => "",
        };
        let (scheme, rest) = url.split_once("://").unwrap();
        format!("{scheme}://{user}:{pw}@{rest}")
    }

    /// A lock or group name unique to this test.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.ns)
    }

    /// The backend URL (ZooKeeper sessions of 4 s: the server's tick is 500 ms).
    pub fn url(&self) -> String {
        self.url_with_password(self.password.as_deref())
    }

    fn url_without_password(&self) -> String {
        match &self.server {
            Server::None if self.kind == Kind::Ipc => "ipc://".to_string(),
            Server::None => format!("file://{}", self.dir.as_ref().unwrap().display()),
            Server::Redis(r) => r.with(|s| s.url(&self.ns, "").replacen(&auth(s), "", 1)),
            Server::Zk(z) => z.get().url(&self.ns, self.zk_timeout),
            Server::Etcd(e) => e.with(|s| s.url.clone()),
            Server::Mysql(m) => m.with(|s| s.url_as(&self.sql_user, None)),
            Server::Pg(p) => p.with(|s| s.url_as(&self.sql_user, None)),
            Server::Memcached(m) => m.with(|s| format!("memcached://127.0.0.1:{}", s.port)),
        }
    }

    /// [`Fx::url`] with extra query options (`a=1&b=2`).
    pub fn url_with_query(&self, opts: &str) -> String {
        let url = self.url();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{opts}")
    }

    /// `toozctl -b URL ARGS...` on another URL of this backend, same HOME.
    pub fn cmd_on(&self, url: &str, args: &[&str]) -> Command {
        let mut c = support::toozctl(self.home.path());
        c.arg("-b").arg(url).args(args);
        c
    }

    /// A URL on which nothing answers (a free port), for "unavailable" scenarios.
    pub fn unreachable_url(&self) -> Option<String> {
        let port = support::free_port();
        match self.kind {
            Kind::File | Kind::Ipc => None,
            Kind::Redis => Some(format!("redis://127.0.0.1:{port}?timeout=2")),
            Kind::Zookeeper => Some(format!(
                "zookeeper://127.0.0.1:{port},127.0.0.1:{}?timeout=2",
                support::free_port()
            )),
            Kind::Etcd => Some(format!("etcd3+http://127.0.0.1:{port}?timeout=2")),
            Kind::Mysql => Some(format!("mysql://root@127.0.0.1:{port}/test")),
            Kind::Postgres => Some(format!("postgresql://u:p@127.0.0.1:{port}/postgres")),
            Kind::Memcached => Some(format!("memcached://127.0.0.1:{port}?timeout=2")),
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
        assert!(
            self.try_delete_lock(name),
            "nothing to delete for lock {name} on {}",
            self.kind.name()
        );
    }

    /// [`Fx::delete_lock`] that says whether there was anything to delete (the torture
    /// run deletes at random moments, held or not).
    pub fn try_delete_lock(&self, name: &str) -> bool {
        match &self.server {
            Server::None if self.kind == Kind::Ipc => ipc_probe("break", name) == "1",
            Server::None => std::fs::remove_file(self.dir.as_ref().unwrap().join(name)).is_ok(),
            Server::Redis(r) => {
                let key = format!("{}_{name}_lock", self.ns);
                r.with(|s| s.cli(&["DEL", &key])) == "1"
            }
            Server::Zk(z) => {
                // Every child in one transaction, as one client's delete of the lock: one
                // by one, a waiter could rightly take its turn between two deletes and lose
                // it at the next. A node can go between listing and commit (its holder let
                // go): the transaction then fails as a whole and is tried again.
                let code = "import sys\nfrom kazoo.client import KazooClient\n\
                            k=KazooClient(sys.argv[1]);k.start()\np=sys.argv[2]\nn=0\n\
                            for _ in range(20):\n\
                            \x20   cs=k.get_children(p) if k.exists(p) else []\n\
                            \x20   if not cs: break\n\
                            \x20   t=k.transaction()\n\
                            \x20   [t.delete(p+'/'+c) for c in cs]\n\
                            \x20   if all(r is True for r in t.commit()):\n\
                            \x20       n=len(cs);break\n\
                            print(n);k.stop()";
                let hosts = format!("127.0.0.1:{}", z.get().port);
                let (rc, out, err) = python(code, &[&hosts, &format!("/{}/locks/{name}", self.ns)]);
                assert_eq!(rc, 0, "{err}");
                out.trim() != "0"
            }
            Server::Etcd(e) => e.with(|s| {
                let out = s.ctl_ok(&["del", &format!("/tooz/locks{name}")]);
                out.trim() == "1"
            }),
            // A session lock cannot be deleted: kill the session holding it.
            Server::Mysql(m) => m.with(|s| s.kill_holder(name)),
            Server::Pg(p) => p.with(|s| s.kill_holder(name)),
            Server::Memcached(m) => m.with(|s| s.probe().delete(&format!("__TOOZ_LOCK_{name}"))),
        }
    }

    /// Whether the backend still records a holder of lock `name` — what a clean exit must
    /// remove at once, not leave to expire: the file is locked (a flock(1) probe), the Redis
    /// key, its semaphore set or holder record exists, the ZooKeeper lock node has
    /// children (the holder's or a waiter's), etcd has the key, its holder record, or
    /// reader/semaphore keys.
    pub fn lock_exists(&self, name: &str) -> bool {
        match &self.server {
            Server::None if self.kind == Kind::Ipc => ipc_probe("exists", name) == "1",
            Server::None => {
                let path = self.dir.as_ref().unwrap().join(name);
                if !path.exists() {
                    return false;
                }
                // flock(1) -n -s on the file: fails while anyone holds it (toozctl holds
                // both the POSIX record lock tooz uses and flock; -s so we never block a
                // reader and never take it long).
                let st = Command::new("flock")
                    .args(["-n", "-s"])
                    .arg(&path)
                    .arg("true")
                    .status()
                    .expect("flock(1)");
                !st.success()
                    || Command::new("flock")
                        .args(["-n"])
                        .arg(&path)
                        .arg("true")
                        .status()
                        .map(|s| !s.success())
                        .unwrap_or(true)
            }
            Server::Redis(r) => {
                let key = format!("{}_{name}_lock", self.ns);
                r.with(|s| {
                    s.exists(&key)
                        || s.exists(&format!("{key}.sem"))
                        || s.exists(&format!("{key}.holder"))
                })
            }
            Server::Zk(_) => !self.zk_children(&format!("locks/{name}")).is_empty(),
            Server::Etcd(e) => e.with(|s| {
                !s.keys(&format!("/tooz/locks{name}")).is_empty()
                    || !s
                        .keys(&format!("/toozctl/holders/tooz/locks{name}"))
                        .is_empty()
                    || !s.keys(&format!("/toozctl/readers/{name}/")).is_empty()
                    || !s.keys(&format!("/toozctl/semaphores/{name}/")).is_empty()
            }),
            Server::Mysql(m) => m.with(|s| s.holder_id(name).is_some()),
            Server::Pg(p) => p.with(|s| s.holder_pid(name).is_some()),
            Server::Memcached(m) => m.with(|s| {
                ["__TOOZ_LOCK_", "_TOOZCTL_HOLDER_", "_TOOZCTL_SEM_0_"]
                    .iter()
                    .any(|p| s.probe().get(&format!("{p}{name}")).is_some())
            }),
        }
    }

    /// Children of a znode under this test's namespace (`path` relative to it), sorted;
    /// empty when it does not exist. ZooKeeper fixtures only.
    pub fn zk_children(&self, path: &str) -> Vec<String> {
        let Server::Zk(z) = &self.server else {
            panic!("zk_children on {}", self.kind.name())
        };
        let code = "import sys,json\nfrom kazoo.client import KazooClient\nk=KazooClient(sys.argv[1]);k.start()\n\
                    p=sys.argv[2]\nprint(json.dumps(sorted(k.get_children(p)) if k.exists(p) else []))\nk.stop()";
        let hosts = format!("127.0.0.1:{}", z.get().port);
        let (rc, out, err) = python(code, &[&hosts, &format!("/{}/{path}", self.ns)]);
        assert_eq!(rc, 0, "{err}");
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Start `toozctl ARGS` (a holding command without COMMAND: `lock`, `elect`, `group
    /// join`) and return once it printed its first line ("acquired", "elected", "joined").
    pub fn hold(&self, args: &[&str]) -> Holder {
        Holder::spawn(self.cmd(args))
    }

    /// The server stops answering (SIGSTOP): a partition as the client sees it.
    pub fn pause(&self) {
        for pid in self.server_pids() {
            support::signal(pid, libc::SIGSTOP);
        }
    }

    pub fn resume(&self) {
        for pid in self.server_pids() {
            support::signal(pid, libc::SIGCONT);
        }
    }

    /// The server's processes: PostgreSQL serves each session from a child of its
    /// postmaster, which must be stopped too for the server to fall silent.
    fn server_pids(&self) -> Vec<u32> {
        let pid = self.server_pid();
        match &self.server {
            Server::Pg(_) => {
                let mut all = crate::support::postgres::children(pid);
                all.insert(0, pid);
                all
            }
            _ => vec![pid],
        }
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
            Server::Mysql(m) => match &**m {
                MysqlHandle::Own(m) => m.lock().unwrap().restart(),
                MysqlHandle::Shared(_) => panic!("restart needs Fx::private"),
            },
            Server::Pg(p) => match &**p {
                PgHandle::Own(m) => m.lock().unwrap().restart(),
                PgHandle::Shared(_) => panic!("restart needs Fx::private"),
            },
            Server::Memcached(m) => match &**m {
                McHandle::Own(s) => s.lock().unwrap().restart(),
                McHandle::Shared(_) => panic!("restart needs Fx::private"),
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
            Server::Mysql(m) => match &**m {
                MysqlHandle::Own(m) => m.lock().unwrap().pid,
                MysqlHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::Pg(p) => match &**p {
                PgHandle::Own(m) => m.lock().unwrap().pid,
                PgHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::Memcached(m) => match &**m {
                McHandle::Own(s) => s.lock().unwrap().pid,
                McHandle::Shared(_) => panic!("fault injection needs Fx::private"),
            },
            Server::None => panic!("the file backend has no server"),
        }
    }

    /// SQL run as the server's superuser (MySQL and PostgreSQL fixtures): its output.
    pub fn sql(&self, q: &str) -> String {
        match &self.server {
            Server::Mysql(m) => m.with(|s| s.sql(q)),
            Server::Pg(p) => p.with(|s| s.sql(q)),
            _ => panic!("sql on {}", self.kind.name()),
        }
    }

    /// The file backend's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_deref().expect("the file backend's directory")
    }
}

/// The semaphore of lock `name` (`ipc://`) as tooz's ipc driver sees it, through sysv_ipc
/// and tooz's key formula (`tooz.drivers.ipc.ftok`, written out so that no slow `tooz`
/// import delays a delete: tests/suite/ipc.rs checks the keys against tooz itself).
/// `exists` prints 1 when a set exists under the key (a clean exit removes it, as tooz's
/// release does); `break` removes it as tooz's `IPCLock.break_` does and prints 1 when there
/// was one.
pub fn ipc_probe(what: &str, name: &str) -> String {
    let code = "import sys, hashlib, sysv_ipc as s\n\
                r = abs(s.KEY_MIN) + s.KEY_MAX if s.KEY_MIN <= 0 else s.KEY_MAX - s.KEY_MIN\n\
                h = hashlib.md5(b'__TOOZ_LOCK_' + sys.argv[2].encode())\n\
                key = int(h.hexdigest(), 16) % r + s.KEY_MIN\n\
                try:\n    sem = s.Semaphore(key)\nexcept s.ExistentialError:\n    print(0); sys.exit()\n\
                if sys.argv[1] == 'break':\n\
                \x20   try:\n        sem.remove()\n    except s.ExistentialError:\n        print(0); sys.exit()\n\
                print(1)\n";
    let (rc, out, err) = python(code, &[what, name]);
    assert_eq!(rc, 0, "{err}");
    out.trim().to_string()
}

/// `:PASSWORD@` as a Redis server's URL spells it, or "".
fn auth(s: &RedisServer) -> String {
    s.password
        .as_ref()
        .map(|p| format!(":{p}@"))
        .unwrap_or_default()
}

/// A background `toozctl` in hold mode; killed (and reaped) when dropped, so a failing
/// test leaves none behind.
pub struct Holder {
    pub child: std::process::Child,
    /// The line it printed when it got the primitive.
    pub first: String,
}

impl Holder {
    /// Spawn `c` with piped stdout/stderr and wait for its first line on stdout.
    pub fn spawn(mut c: Command) -> Holder {
        use std::io::BufRead;
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn toozctl");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut h = Holder { child, first: line };
        if h.first.is_empty() {
            let _ = h.child.kill();
            let (_, err) = h.finish(std::time::Duration::from_secs(5));
            panic!("the holder printed nothing: {err}");
        }
        h
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        support::signal(self.child.id(), sig);
    }

    /// SIGTERM, then assert a clean exit (0) within 10 s.
    pub fn stop(self) {
        self.signal(libc::SIGTERM);
        let (rc, err) = self.finish(std::time::Duration::from_secs(10));
        assert_eq!(rc, 0, "{err}");
    }

    /// SIGKILL, and reap it.
    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Its exit code (128+S for a signal) and stderr once it ends; panics after `limit`.
    pub fn finish(mut self, limit: std::time::Duration) -> (i32, String) {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (code, err);
            }
            if std::time::Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("toozctl did not end within {limit:?}: {err}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

impl MysqlHandle {
    fn with<T>(&self, f: impl FnOnce(&Mariadb) -> T) -> T {
        match self {
            MysqlHandle::Shared(s) => f(s),
            MysqlHandle::Own(m) => f(&m.lock().unwrap()),
        }
    }
}

impl PgHandle {
    fn with<T>(&self, f: impl FnOnce(&Postgres) -> T) -> T {
        match self {
            PgHandle::Shared(s) => f(s),
            PgHandle::Own(m) => f(&m.lock().unwrap()),
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

impl McHandle {
    fn with<T>(&self, f: impl FnOnce(&Memcached) -> T) -> T {
        match self {
            McHandle::Shared(s) => f(s),
            McHandle::Own(m) => f(&m.lock().unwrap()),
        }
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        // A test that failed while its private server was paused must not leave it stopped.
        if let Server::Redis(_)
        | Server::Zk(_)
        | Server::Etcd(_)
        | Server::Mysql(_)
        | Server::Pg(_)
        | Server::Memcached(_) = &self.server
        {
            let own = match &self.server {
                Server::Redis(r) => matches!(&**r, RedisHandle::Own(_)),
                Server::Zk(z) => matches!(&**z, ZkHandle::Own(_)),
                Server::Etcd(e) => matches!(&**e, EtcdHandle::Own(_)),
                Server::Mysql(m) => matches!(&**m, MysqlHandle::Own(_)),
                Server::Pg(p) => matches!(&**p, PgHandle::Own(_)),
                Server::Memcached(m) => matches!(&**m, McHandle::Own(_)),
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
        mod ipc { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Ipc) } )* }
        mod mysql { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Mysql) } )* }
        mod postgres { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Postgres) } )* }
        mod memcached { $( #[test] fn $scenario() { super::$scenario($crate::support::fixture::Kind::Memcached) } )* }
    };
}
