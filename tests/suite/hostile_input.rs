//! Hostile and careless input (issue 16): passwords never printed, not even by a URL that
//! does not parse; passwords kept off the command line and out of COMMAND's environment;
//! holder records without COMMAND's words; no panic on out-of-range numbers or huge names;
//! terminal escapes from the backend shown escaped and accepted back; config bombs refused
//! at once; and a short run of scripts/fuzz-cli.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::fixture::{Fx, Kind};
use crate::support::redis::RedisServer;
use crate::support::{self, toozctl, FileBackend};

/// A password with every character that has a meaning in a URL.
const PW: &str = "Se/cr#et?P@ss:w0rd";
const PW_PARTS: &[&str] = &["Se/cr", "et?P", "ss:w0rd", "Se%2Fcr"];

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut c: Command) -> Out {
    let out = c.output().expect("run toozctl");
    let r = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked") && r.code != 101 && r.code != 134 && r.code != 70,
        "exit {}: {}",
        r.code,
        r.stderr
    );
    r
}

fn assert_hidden(r: &Out, secret: &str, what: &str) {
    let all = format!("{}\n{}", r.stdout, r.stderr);
    assert!(!all.contains(secret), "{what}: the password shows:\n{all}");
    if secret == PW {
        for p in PW_PARTS {
            assert!(!all.contains(p), "{what}: part '{p}' shows:\n{all}");
        }
    }
}

#[test]
fn a_url_password_never_shows_in_an_error() {
    let home = tempfile::tempdir().unwrap();
    let enc = "Se%2Fcr%23et%3FP%40ss%3Aw0rd";
    let urls = [
        format!("redis://:{PW}@127.0.0.1:P"),
        format!("redis://:{PW}@127.0.0.1:6379/x?timeout=soon"),
        format!("redis://user:{PW}@127.0.0.1:99999"),
        format!("redis://:{PW}@127.0.0.1:6379?timeout=1e100"),
        format!("redis://127.0.0.1:6379?sentinel=m&sentinel_password={enc}&x=%zz"),
        format!("redis://127.0.0.1:6379?timeout=x&sentinel_password={PW}"),
        format!("zookeeper://u:{PW}@h1:2181,h2:x"),
        format!("kazoo://u:{PW}@h1:2181?timeout=-1"),
        format!("etcd3+http://u:{PW}@h:2379?timeout=1e400"),
        format!("etcd3+https://u:{PW}@[::1"),
        format!("mongodb://u:{PW}@h"),
        format!("redis:/u:{PW}@h"),
        format!("redis://:{PW}%zz@h"),
        format!("redis://:{enc}%@h:1:2"),
        // No host: everything after `//:` is the password, `@` and all (found by
        // scripts/fuzz-cli, seed 1676460967: clap quoted back the part after the `@`).
        format!("redis://:{PW}"),
        format!("--backend=redis://:{PW}"),
    ];
    for u in &urls {
        let mut c = toozctl(home.path());
        c.args(["-b", u, "lock", "k", "--", "true"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{u}: {}", r.stderr);
        assert_hidden(&r, PW, u);
        assert_hidden(&r, enc, u);
        assert_eq!(r.stderr.lines().count(), 1, "{u}: {}", r.stderr);
        // clap quotes a misplaced argument back: redacted as well.
        let mut c = toozctl(home.path());
        c.args(["group", "list", u]);
        let r = run(c);
        assert_eq!(r.code, 2, "{u}: {}", r.stderr);
        assert_hidden(&r, PW, u);
    }
}

#[test]
fn a_url_password_never_shows_through_a_profile_or_an_oslo_config() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!("profiles:\n  p:\n    backend: 'redis://:{PW}@127.0.0.1:P'\n"),
    )
    .unwrap();
    let mut c = toozctl(home.path());
    c.args([
        "--config",
        cfg.to_str().unwrap(),
        "-p",
        "p",
        "group",
        "list",
    ]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_hidden(&r, PW, "profile");
    for value in [
        format!("redis://:{PW}@127.0.0.1:P"),
        format!("redis://h:1?sentinel_password={PW}&a=${{unterminated"),
        format!("redis://:{PW}@h:1?a=%zz&sentinel_password={PW}"),
    ] {
        let conf = home.path().join("nova.conf");
        std::fs::write(&conf, format!("[coordination]\nbackend_url = {value}\n")).unwrap();
        let mut c = toozctl(home.path());
        c.args(["--oslo-config", conf.to_str().unwrap(), "group", "list"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{value}: {}", r.stderr);
        assert_hidden(&r, PW, &value);
    }
}

#[test]
fn password_file_logs_in_without_a_profile_and_stays_hidden() {
    let pw = "fil3-Pa55word";
    let s = RedisServer::start_with(Some(pw), &[]);
    let home = tempfile::tempdir().unwrap();
    let f = home.path().join("redis.pw");
    std::fs::write(&f, format!("{pw}\n")).unwrap();
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let url = format!("redis://127.0.0.1:{}?timeout=3", s.port);
    let show = "echo \"$TOOZCTL_BACKEND\"";
    // Without the password the server refuses us.
    let mut c = toozctl(home.path());
    c.args(["-b", &url, "lock", "k", "--", "true"]);
    assert_ne!(run(c).code, 0);
    // --password-file and TOOZCTL_PASSWORD_FILE log in; the child sees it redacted.
    for by_env in [false, true] {
        let mut c = toozctl(home.path());
        c.args(["-b", &url]);
        if by_env {
            c.env("TOOZCTL_PASSWORD_FILE", &f);
        } else {
            c.arg("--password-file").arg(&f);
        }
        c.args(["lock", "k", "--", "sh", "-c", show]);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_hidden(&r, pw, "password file");
        assert!(
            r.stdout.starts_with("redis://:***@127.0.0.1:"),
            "{}",
            r.stdout
        );
        assert!(r.stderr.is_empty(), "{}", r.stderr);
    }
    // A file others can read is warned about, as a profile's password_file is.
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut c = toozctl(home.path());
    c.args(["-b", &url, "--password-file"]).arg(&f);
    c.args(["lock", "k", "--", "true"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("readable by other users"), "{}", r.stderr);
    // Unreadable: one line, exit 2, before connecting.
    let mut c = toozctl(home.path());
    c.args([
        "-b",
        &url,
        "--password-file",
        "/nonexistent/pw",
        "group",
        "list",
    ]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--password-file /nonexistent/pw"),
        "{}",
        r.stderr
    );
    // A URL with its own password and a password file: keep one.
    let mut c = toozctl(home.path());
    c.args([
        "-b",
        &format!("redis://:x@127.0.0.1:{}", s.port),
        "--password-file",
    ]);
    c.arg(&f).args(["group", "list"]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn the_password_env_variable_is_not_passed_to_command() {
    let pw = "env-Pa55word";
    let s = RedisServer::start_with(Some(pw), &[]);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  r:\n    backend: redis://127.0.0.1:{}?timeout=3\n    password_env: REDIS_PW\n",
            s.port
        ),
    )
    .unwrap();
    let mut c = toozctl(home.path());
    c.env("REDIS_PW", pw)
        .args(["--config", cfg.to_str().unwrap(), "-p", "r"]);
    c.args([
        "lock",
        "k",
        "--",
        "sh",
        "-c",
        "echo \"pw=${REDIS_PW-unset}\"",
    ]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "pw=unset");
}

/// `locks -o json` run by COMMAND while the lock is held: its holder record.
fn holder_record(b: &FileBackend, extra: &[&str], command: &[&str]) -> serde_json::Value {
    let bin = support::bin();
    let probe = format!("'{}' -b '{}' -o json locks; exit 0", bin.display(), b.url);
    let mut args: Vec<&str> = vec!["lock"];
    args.extend(extra);
    args.extend(["k", "--", "sh", "-c", &probe]);
    args.extend(command);
    let r = run(b.cmd(&args));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    rows[0]["holder"].clone()
}

#[test]
fn holder_records_keep_the_program_name_unless_asked_for_the_words() {
    let b = FileBackend::new();
    let h = holder_record(&b, &[], &["--token=s3cret"]);
    assert_eq!(h["command"], "sh", "{h}");
    let h = holder_record(&b, &["--record-command"], &["--token=s3cret"]);
    let words = h["command"].as_str().unwrap();
    assert!(words.starts_with("sh -c ") && words.len() <= 80, "{h}");
}

#[test]
fn out_of_range_seconds_in_a_url_are_usage_errors_on_every_backend() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("b");
    std::fs::create_dir(&dir).unwrap();
    let port = support::free_port();
    let urls = [
        format!("file://{}?timeout=1e100", dir.display()),
        format!("redis://127.0.0.1:{port}?timeout=1e100"),
        format!("redis://127.0.0.1:{port}?lock_timeout=18446744073709551616"),
        format!("redis://127.0.0.1:{port}?socket_timeout=1e300"),
        format!("zookeeper://127.0.0.1:{port}?timeout=1e100"),
        format!("etcd3+http://127.0.0.1:{port}?timeout=1e100"),
        format!("etcd3+http://127.0.0.1:{port}?lock_timeout=1e19"),
    ];
    for u in &urls {
        let started = Instant::now();
        let mut c = toozctl(home.path());
        c.args(["-b", u, "lock", "k", "--", "true"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{u}: {}", r.stderr);
        assert!(r.stderr.contains("seconds"), "{u}: {}", r.stderr);
        assert!(started.elapsed() < Duration::from_secs(5), "{u}");
    }
}

#[test]
fn out_of_range_flags_are_usage_errors() {
    let b = FileBackend::new();
    for args in [
        &["lock", "--ttl", "1e30", "k", "--", "true"][..],
        &["lock", "--ttl", "0.0001", "k", "--", "true"],
        &["lock", "--ttl", "999ms", "k", "--", "true"],
        &["lock", "-w", "99999999999999999999", "k", "--", "true"],
        &["lock", "-w", "1e400", "k", "--", "true"],
        &["lock", "-l", "0", "k", "--", "true"],
        &["lock", "-l", "99999999999", "k", "--", "true"],
        &["lock", "--kill-after", "1e30", "k", "--", "true"],
        &["lock", "-E", "99999999999", "k", "--", "true"],
        &["elect", "-w", "NaN", "g", "--", "true"],
        &["watch", "lock", "k", "--count", "0"],
        &["watch", "lock", "k", "--count", "99999999999999999999999"],
    ] {
        let r = run(b.cmd(args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
    let r = run(b.cmd(&["lock", "--ttl", "0.0001", "k", "--", "true"]));
    assert!(r.stderr.contains("shortest lease, 1s"), "{}", r.stderr);
}

#[test]
fn a_name_may_start_with_a_dash_after_a_first_double_dash() {
    let b = FileBackend::new();
    let r = run(b.cmd(&[
        "lock",
        "--",
        "-x",
        "--",
        "sh",
        "-c",
        "echo \"$TOOZCTL_LOCK\"",
    ]));
    assert_eq!((r.code, r.stdout.trim()), (0, "-x"), "{}", r.stderr);
    let r = run(b.cmd(&[
        "group",
        "join",
        "--create",
        "--",
        "-g",
        "--",
        "sh",
        "-c",
        "echo \"$TOOZCTL_GROUP\"",
    ]));
    assert_eq!((r.code, r.stdout.trim()), (0, "-g"), "{}", r.stderr);
    // The usual forms are unchanged.
    let r = run(b.cmd(&["lock", "-n", "y", "--", "echo", "ok"]));
    assert_eq!((r.code, r.stdout.trim()), (0, "ok"), "{}", r.stderr);
    // A word after the name that is not -- is a mistake, not a COMMAND.
    let r = run(b.cmd(&["lock", "--", "-x", "true"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

fn group_leader_of_a_missing_group_is_not_found(kind: Kind) {
    let fx = Fx::shared(kind, "leader_missing");
    let r = run(fx.cmd(&["group", "leader", &fx.name("never-created")]));
    assert_eq!(r.code, 4, "{}: {}", kind.name(), r.stderr);
    // A group that exists but has no leader is exit 0, as before.
    let g = fx.name("leaderless");
    assert_eq!(run(fx.cmd(&["group", "create", &g])).code, 0);
    let r = run(fx.cmd(&["group", "leader", &g]));
    assert_eq!(r.code, 0, "{}: {}", kind.name(), r.stderr);
}

#[test]
fn group_leader_of_a_missing_group_is_not_found_on_every_backend() {
    for kind in [Kind::File, Kind::Redis, Kind::Zookeeper, Kind::Etcd] {
        group_leader_of_a_missing_group_is_not_found(kind);
    }
}

/// A group and a member planted on Redis by "another tooz client", as tooz writes them,
/// with terminal escapes and a bidi override in their names.
fn plant_hostile_group(fx: &Fx, s: &RedisServer, group: &str, member: &str) {
    let ns = format!("{}_", fx.ns);
    s.cli(&["SADD", &format!("{ns}groups"), group]);
    s.cli(&["HSET", &format!("{ns}group:{group}"), "__created__", "1"]);
    s.cli(&["HSET", &format!("{ns}group:{group}"), member, ""]);
    s.cli(&[
        "SET",
        &format!("{ns}beats:{member}"),
        "Not dead!",
        "EX",
        "60",
    ]);
}

#[test]
fn escapes_from_the_backend_are_shown_escaped_and_read_back() {
    let fx = Fx::shared(Kind::Redis, "escapes");
    let s = RedisServer::shared();
    let group = "g\u{1b}[31mRED\u{1b}]0;T\u{7}\u{202e}";
    let member = "m\u{1b}[2J\u{9b}x";
    plant_hostile_group(&fx, s, group, member);
    let shown_group = "g\\u{1b}[31mRED\\u{1b}]0;T\\u{7}\\u{202e}";
    let shown_member = "m\\u{1b}[2J\\u{9b}x";
    let raw = |t: &str| t.contains('\u{1b}') || t.contains('\u{202e}') || t.contains('\u{9b}');
    let r = run(fx.cmd(&["group", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !raw(&r.stdout) && r.stdout.contains(shown_group),
        "{}",
        r.stdout
    );
    // The form text output prints names the group for a reading command.
    let r = run(fx.cmd(&["group", "members", shown_group]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !raw(&r.stdout) && r.stdout.contains(shown_member),
        "{}",
        r.stdout
    );
    // JSON keeps the real text (as JSON escapes).
    let r = run(fx.cmd(&["-o", "json", "group", "members", shown_group]));
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows[0]["member_id"], member);
    assert_eq!(rows[0]["group"], group);
    // Messages on stderr that echo the name are escaped too.
    let r = run(fx.cmd(&["group", "delete", shown_group]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !raw(&r.stderr) && r.stderr.contains(shown_group),
        "{}",
        r.stderr
    );
    // ...and the hand repair works on the shown forms.
    let r = run(fx.cmd(&["group", "leave", shown_group, "--member", shown_member]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!raw(&r.stdout), "{}", r.stdout);
    let r = run(fx.cmd(&["group", "delete", shown_group]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_forged_holder_record_is_shown_escaped() {
    let fx = Fx::shared(Kind::Redis, "forged");
    let s = RedisServer::shared();
    let name = fx.name("k");
    let mut holder = fx.cmd(&["lock", &name, "--", "sleep", "30"]);
    holder
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut holder = holder.spawn().unwrap();
    let key = format!("{}_{name}_lock.holder", fx.ns);
    assert!(support::wait_until(Duration::from_secs(10), || !s
        .cli(&["GET", &key])
        .is_empty()));
    // Forge the record as a tooz client with write access could: same token, other words.
    let mut forged: serde_json::Value = serde_json::from_str(&s.cli(&["GET", &key])).unwrap();
    forged["member_id"] = "m\u{1b}[31mRED\u{1b}]0;T\u{7}".into();
    forged["command"] = "evil\u{202e}txt.exe".into();
    s.cli(&["SET", &key, &forged.to_string()]);
    let r = run(fx.cmd(&["locks"]));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{202e}'),
        "{:?}",
        r.stdout
    );
    assert!(
        r.stdout.contains("m\\u{1b}[31mRED\\u{1b}]0;T\\u{7}"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("evil\\u{202e}txt.exe"), "{}", r.stdout);
}

#[test]
fn a_name_wider_than_65535_characters_renders() {
    let fx = Fx::shared(Kind::Redis, "wide");
    let wide = "g".repeat(70_000);
    let r = run(fx.cmd(&["group", "create", &wide]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(fx.cmd(&["group", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&wide));
    let r = run(fx.cmd(&["-o", "json", "group", "list"]));
    assert!(r.stdout.contains(&wide));
    // Errors that echo it are cut short.
    let r = run(fx.cmd(&["group", "create", &wide]));
    assert_eq!(r.code, 1, "{}", &r.stderr[..r.stderr.len().min(300)]);
    assert!(r.stderr.len() < 400, "{} bytes", r.stderr.len());
    assert_eq!(run(fx.cmd(&["group", "delete", &wide])).code, 0);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn an_oslo_reference_bomb_is_refused_at_once() {
    let home = tempfile::tempdir().unwrap();
    // 8 levels of 20 references each: 20^8 copies if expanded.
    let mut conf = String::from("[DEFAULT]\nv0 = xxxxxxxxxx\n");
    for i in 1..=8 {
        conf.push_str(&format!("v{i} = {}\n", format!("$v{}", i - 1).repeat(20)));
    }
    conf.push_str("[coordination]\nbackend_url = file:///tmp/$v8\n");
    assert!(conf.len() < 600, "{}", conf.len());
    let p = home.path().join("bomb.conf");
    write(&p, &conf);
    let started = Instant::now();
    let mut c = toozctl(home.path());
    c.args(["--oslo-config", p.to_str().unwrap(), "group", "list"]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("line "), "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_deeply_nested_yaml_config_is_refused_at_once() {
    let home = tempfile::tempdir().unwrap();
    let n = 65_536;
    for text in [
        format!("{}{}", "[".repeat(n), "]".repeat(n)),
        format!("profiles: {}1{}", "{a: ".repeat(n), "}".repeat(n)),
        format!("{}x\n", "- ".repeat(n)),
    ] {
        let p = home.path().join("deep.yaml");
        write(&p, &text);
        let started = Instant::now();
        let mut c = toozctl(home.path());
        c.args(["--config", p.to_str().unwrap(), "group", "list"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn an_openstack_config_without_backend_url_names_the_key() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path().join("nova.conf");
    write(&p, "[coordination]\ndriver = file\nmember_id = node-uuid\n");
    let mut c = toozctl(home.path());
    c.args(["--oslo-config", p.to_str().unwrap(), "group", "list"]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("backend_url = file:///var/lib/nova/locks")
            && r.stderr.contains("driver"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_openstack_member_id_is_used_unless_m_or_the_environment_says_otherwise() {
    let b = FileBackend::new();
    let p = b.dir.path().join("nova.conf");
    write(
        &p,
        &format!(
            "[coordination]\nbackend_url = {}\nmember_id = node-uuid\n",
            b.url
        ),
    );
    let who = |extra: &[&str], env: Option<&str>| {
        let mut c = toozctl(b.dir.path());
        c.args(["--oslo-config", p.to_str().unwrap()]);
        c.args(extra);
        if let Some(m) = env {
            c.env("TOOZCTL_MEMBER_ID", m);
        }
        c.args(["lock", "k", "--", "sh", "-c", "echo \"$TOOZCTL_MEMBER_ID\""]);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim().to_string()
    };
    assert_eq!(who(&[], None), "node-uuid");
    assert_eq!(who(&["-m", "flag"], Some("env")), "flag");
    assert_eq!(who(&[], Some("env")), "env");
}

#[test]
fn fuzz_cli_finds_nothing_in_a_short_run() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fuzz-cli");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--count", "300", "--seed", "16", "--jobs", "2", "--binary"])
        .arg(support::bin())
        .output()
        .expect("run scripts/fuzz-cli");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("300 runs"), "{text}");
}

/// Started with its standard descriptors closed (a careless daemon, `cmd >&- 2>&-`),
/// toozctl puts `/dev/null` on them before it opens anything: otherwise a lock file or a
/// holder record would take descriptor 1 or 2 and toozctl's messages would be written into
/// it, and COMMAND would start with them closed. toozctl starts at a C `main` of its own
/// (`src/bin/toozctl.rs`), so this is its job, not the standard runtime's.
#[test]
fn closed_standard_descriptors_are_not_taken_by_backend_files() {
    use std::os::unix::process::CommandExt;
    let fb = FileBackend::new();
    let out = fb.dir.path().join("command-ran");
    let mut c = fb.cmd(&["-v", "lock", "k", "--", "sh", "-c"]);
    c.arg(format!(
        "echo to-stdout && echo to-stderr >&2 && touch '{}'",
        out.display()
    ));
    // SAFETY: only close(2) between fork and exec.
    unsafe {
        c.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let status = c.status().expect("run toozctl");
    assert_eq!(status.code(), Some(0), "COMMAND could not write its output");
    assert!(out.exists(), "COMMAND did not run");
    for e in walk(fb.dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&e).unwrap_or_default()).into_owned();
        for word in ["toozctl:", "acquired", "to-stdout", "to-stderr"] {
            assert!(
                !text.contains(word),
                "{} holds '{word}': {text}",
                e.display()
            );
        }
    }
}

/// Every regular file below `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else if p.is_file() {
            files.push(p);
        }
    }
    files
}

/// toozctl ignores SIGPIPE for itself (a closed stdout is an error it reports), but
/// COMMAND starts with the default, as from a shell: `toozctl lock k -- yes | head -1`
/// must end.
#[test]
fn command_starts_with_sigpipe_at_its_default() {
    let fb = FileBackend::new();
    let r = run(fb.cmd(&[
        "lock",
        "k",
        "--",
        "sh",
        "-c",
        "grep SigIgn /proc/self/status",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mask = r.stdout.split_whitespace().nth(1).expect("a SigIgn line");
    let ignored = u64::from_str_radix(mask, 16).expect("a hex mask");
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE ignored: {mask}"
    );
}
