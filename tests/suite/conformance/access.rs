//! Reaching the backend, on every backend: an unreachable one exits 69 fast in one line;
//! a password in the URL works and is never shown — not in messages, logs (`-vv`) or the
//! child's environment — and a wrong one is refused (69) where the server checks it. A
//! server named by host name is reached through the system's resolver (the binary links
//! the C library statically, see build.rs: its `files` and `dns` lookups must work), and a
//! name that does not resolve exits 69 in one line that names it.

use std::time::{Duration, Instant};

use super::helpers::run;
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(
    unreachable_backend_exits_69_fast,
    passwords_are_never_shown,
    an_unreadable_certificate_file_is_bad_input_naming_the_option,
    a_server_named_by_host_name_is_reached
);

fn unreachable_backend_exits_69_fast(kind: Kind) {
    let fx = Fx::shared(kind, "unreach");
    let Some(url) = fx.unreachable_url() else {
        return; // the file backend has nothing to reach
    };
    for url in [url.clone(), url.replacen("://", "://u:sekrit@", 1)] {
        let t = Instant::now();
        let mut c = crate::support::toozctl(fx.home.path());
        c.args(["-b", &url, "lock", "x", "--", "true"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 69, "{url}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("127.0.0.1:"), "names where it tried: {err}");
        assert!(!err.contains("sekrit"), "{err}");
        // A refused connection is known at once (etcd's own test held it to 2 s).
        let bound = if kind == Kind::Etcd { 2 } else { 4 };
        assert!(
            t.elapsed() < Duration::from_secs(bound),
            "{:?}",
            t.elapsed()
        );
    }
}

fn passwords_are_never_shown(kind: Kind) {
    let pw = "Sup3rS3cretPw";
    let fx = Fx::with_password(kind, "pw", pw);
    let name = fx.name("authed");
    if matches!(kind, Kind::File | Kind::Ipc) {
        // A file or ipc URL has no server to check a password: one given is bad input (exit 2),
        // said in one line that names it without showing it.
        let (code, out, err) = run(fx.cmd(&["-vv", "lock", &name, "--", "true"]));
        assert_eq!(code, 2, "{err}");
        assert!(!out.contains(pw) && !err.contains(pw), "{out}\n{err}");
        assert!(err.contains("password"), "{err}");
        return;
    }
    let (code, out, err) = run(fx.cmd(&[
        "-vv",
        "lock",
        "--kill-after",
        "1s",
        &name,
        "--",
        "sh",
        "-c",
        "env; echo token=$TOOZCTL_FENCING_TOKEN",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(pw) && !err.contains(pw), "{out}\n{err}");
    assert!(
        out.contains("TOOZCTL_BACKEND=") && out.contains(":***@"),
        "{out}"
    );
    assert!(out.contains("token="), "{out}");
    // Someone holds it with the right password; a wrong one is refused by the server
    // (69), never shown, in one line.
    let holder = fx.hold(&["lock", &name]);
    for wrong in [Some("WrongPassw0rd"), None] {
        let url = fx.url_with_password(wrong);
        let mut c = crate::support::toozctl(fx.home.path());
        c.args(["-vv", "-b", &url, "lock", "-n", &name, "--", "true"]);
        let (code, out, err) = run(c);
        let all = format!("{out}{err}");
        assert!(!all.contains(pw) && !all.contains("WrongPassw0rd"), "{all}");
        if wrong.is_none() && kind == Kind::Zookeeper {
            // Without credentials ZooKeeper still serves, but our nodes' digest ACL keeps
            // the lock out of reach.
            assert_ne!(code, 0, "{err}");
        } else {
            assert_eq!(code, 69, "{wrong:?}: {err}");
            let msgs: Vec<&str> = err
                .lines()
                .filter(|l| !l.starts_with("toozctl: debug:"))
                .collect();
            assert_eq!(msgs.len(), 1, "one line besides -vv's debug lines: {err}");
            assert!(msgs[0].contains("auth"), "says why: {err}");
        }
    }
    holder.stop();
}

/// Every backend reads the files its URL options name (CA, certificate, key) the same way:
/// an unreadable one is bad input (exit 2) in one line naming the option and the path.
fn an_unreadable_certificate_file_is_bad_input_naming_the_option(kind: Kind) {
    let port = crate::support::free_port();
    let missing = "/nonexistent/toozctl-test-ca.pem";
    let (url, option) = match kind {
        // The file and ipc backends read no such file.
        Kind::File | Kind::Ipc => return,
        Kind::Redis => (
            format!("rediss://127.0.0.1:{port}?ssl_ca_certs={missing}"),
            "ssl_ca_certs",
        ),
        Kind::Zookeeper => (
            format!("zookeeper://127.0.0.1:{port}?use_ssl=true&ca={missing}"),
            "ca",
        ),
        Kind::Etcd => (
            format!("etcd3+https://127.0.0.1:{port}?ca_cert={missing}"),
            "ca_cert",
        ),
        Kind::Mysql => (
            format!("mysql://root@127.0.0.1:{port}/test?ssl_ca={missing}"),
            "ssl_ca",
        ),
        // tooz's PostgreSQL driver reads no certificate file (and toozctl has no TLS for it).
        Kind::Postgres => return,
        Kind::Memcached => (
            format!("memcached://127.0.0.1:{port}?use_ssl=true&ca_cert={missing}"),
            "ca_cert",
        ),
    };
    let home = tempfile::tempdir().unwrap();
    let mut c = crate::support::toozctl(home.path());
    c.args(["-b", &url, "lock", "-n", "x", "--", "true"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{option}={missing}")) && err.contains("cannot read"),
        "{err}"
    );
}

fn a_server_named_by_host_name_is_reached(kind: Kind) {
    let fx = Fx::shared(kind, "hostname");
    let url = fx.url();
    if !url.contains("127.0.0.1") {
        return; // no server to name (file, ipc)
    }
    let name = fx.name("by-name");
    // `localhost`, from /etc/hosts (glibc's `files` source).
    let by_name = url.replace("127.0.0.1", "localhost");
    let (code, out, err) = run(fx.cmd_on(&by_name, &["lock", &name, "--", "echo", "held"]));
    assert_eq!((code, out.trim()), (0, "held"), "{by_name}: {err}");
    // A name nobody resolves (`.invalid` is reserved for that, RFC 2606): unavailable,
    // said in one line that names the host.
    let nowhere = url.replace("127.0.0.1", "toozctl-test.invalid");
    let (code, out, err) = run(fx.cmd_on(&nowhere, &["lock", &name, "--", "true"]));
    assert_eq!(code, 69, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("toozctl-test.invalid"),
        "names the host: {err}"
    );
}
