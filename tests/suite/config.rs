//! Configuration: precedence (flag > --oslo-config > environment > profile > default
//! profile > embedded file backend), every config error exiting 2 with the file and line,
//! `--oslo-config` with a real-looking nova.conf, `password_file`/`password_env`, the
//! warning for a config readable by others, and no password in any output.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::toozctl;

const SECRET: &str = "s3cret-Pa55";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut c = toozctl(home);
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("run toozctl");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stdout.contains(SECRET) && !r.stderr.contains(SECRET),
        "a password was printed:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

/// The backend URL and member id a COMMAND run under `lock` is given.
fn seen(home: &Path, globals: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    let mut args: Vec<&str> = globals.to_vec();
    args.extend([
        "lock",
        "probe",
        "--",
        "sh",
        "-c",
        "echo \"$TOOZCTL_BACKEND\"; echo \"$TOOZCTL_MEMBER_ID\"",
    ]);
    let r = run(home, &args, envs);
    assert_eq!(r.code, 0, "toozctl {args:?}: {}", r.stderr);
    let mut lines = r.stdout.lines();
    (
        lines.next().unwrap_or("").to_string(),
        lines.next().unwrap_or("").to_string(),
    )
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Five backend directories: flag, env, profile, default profile, oslo.
struct Dirs {
    home: tempfile::TempDir,
    flag: tempfile::TempDir,
    env: tempfile::TempDir,
    profile: tempfile::TempDir,
    default: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let t = || tempfile::tempdir().unwrap();
        Dirs {
            home: t(),
            flag: t(),
            env: t(),
            profile: t(),
            default: t(),
        }
    }

    /// The default config location, `~/.config/toozctl/config.yaml`.
    fn default_config(&self) -> PathBuf {
        self.home.path().join(".config/toozctl/config.yaml")
    }

    fn config_text(&self) -> String {
        format!(
            "# toozctl profiles\ndefault_profile: dflt\nprofiles:\n  prod:\n    backend: {}\n    member_id: prod-member\n  dflt:\n    backend: {}\n    member_id: dflt-member\n    output: json\n",
            url(self.profile.path()),
            url(self.default.path())
        )
    }
}

#[test]
fn precedence_flag_env_profile_default_embedded() {
    let d = Dirs::new();
    let h = d.home.path();
    let embedded = url(&h.join(".local/state/toozctl"));
    // No config at all: the embedded file backend and <hostname>-<pid>.
    let (b, m) = seen(h, &[], &[]);
    assert_eq!(b, embedded);
    assert!(
        m.ends_with(|c: char| c.is_ascii_digit()) && m.contains('-'),
        "{m}"
    );

    write(&d.default_config(), &d.config_text(), 0o600);
    assert_eq!(
        seen(h, &[], &[]),
        (url(d.default.path()), "dflt-member".to_string()),
        "default_profile"
    );
    assert_eq!(
        seen(h, &["-p", "prod"], &[]),
        (url(d.profile.path()), "prod-member".to_string()),
        "-p"
    );
    assert_eq!(
        seen(h, &[], &[("TOOZCTL_PROFILE", "prod")]),
        (url(d.profile.path()), "prod-member".to_string()),
        "TOOZCTL_PROFILE"
    );
    // Environment beats the profile, setting by setting.
    let env_url = url(d.env.path());
    assert_eq!(
        seen(h, &["-p", "prod"], &[("TOOZCTL_BACKEND", &env_url)]),
        (env_url.clone(), "prod-member".to_string()),
        "TOOZCTL_BACKEND > profile"
    );
    assert_eq!(
        seen(h, &["-p", "prod"], &[("TOOZCTL_MEMBER_ID", "env-member")]).1,
        "env-member"
    );
    // The flag beats the environment.
    let flag_url = url(d.flag.path());
    assert_eq!(
        seen(
            h,
            &["-b", &flag_url, "-m", "flag-member"],
            &[("TOOZCTL_BACKEND", &env_url), ("TOOZCTL_MEMBER_ID", "x")]
        ),
        (flag_url.clone(), "flag-member".to_string()),
        "flag > env"
    );
    // The profile's output format applies unless -o or TOOZCTL_OUTPUT says otherwise.
    let r = run(h, &["locks"], &[]);
    assert_eq!((r.code, r.stdout.trim()), (0, "[]"), "{}", r.stderr);
    let r = run(h, &["locks", "-o", "yaml"], &[]);
    assert_eq!((r.code, r.stdout.trim()), (0, "[]"), "{}", r.stderr);
    let r = run(h, &["locks"], &[("TOOZCTL_OUTPUT", "text")]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    // XDG_CONFIG_HOME is looked at before ~/.config, and --config/TOOZCTL_CONFIG before both.
    let xdg = tempfile::tempdir().unwrap();
    let xdg_text = format!("default_profile: x\nprofiles:\n  x:\n    backend: {flag_url}\n");
    write(&xdg.path().join("toozctl/config.yaml"), &xdg_text, 0o600);
    let xdg_home = xdg.path().to_str().unwrap();
    assert_eq!(seen(h, &[], &[("XDG_CONFIG_HOME", xdg_home)]).0, flag_url);
    let explicit = h.join("other.yaml");
    write(
        &explicit,
        &format!("default_profile: o\nprofiles:\n  o:\n    backend: {env_url}\n"),
        0o600,
    );
    let explicit_s = explicit.to_str().unwrap();
    assert_eq!(
        seen(
            h,
            &["--config", explicit_s],
            &[("XDG_CONFIG_HOME", xdg_home)]
        )
        .0,
        env_url
    );
    assert_eq!(seen(h, &[], &[("TOOZCTL_CONFIG", explicit_s)]).0, env_url);
}

#[test]
fn environment_overriding_a_chosen_profile_is_pointed_out() {
    let d = Dirs::new();
    write(&d.default_config(), &d.config_text(), 0o600);
    let r = run(
        d.home.path(),
        &["-p", "prod", "locks"],
        &[("TOOZCTL_BACKEND", &url(d.env.path()))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("TOOZCTL_BACKEND overrides the backend of profile 'prod'"),
        "{}",
        r.stderr
    );
}

const NOVA_CONF: &str = r#"[DEFAULT]
# Nova configuration, as deployed by an installer
debug = False
state_path = /var/lib/nova
my_ip = 192.0.2.10
transport_url = rabbit://nova:RABBIT_PASS@controller:5672/

[api_database]
connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova_api

[database]
connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova

[keystone_authtoken]
www_authenticate_uri = http://controller:5000/
auth_url = http://controller:5000/
memcached_servers = controller:11211
auth_type = password
password = NOVA_PASS

[coordination]
;backend_url = redis://old-controller:6379
backend_url = file://@BACKEND@
    /coord?timeout=30

[oslo_concurrency]
lock_path = $state_path/tmp
"#;

fn nova_conf(dir: &Path, backend_dir: &Path) -> PathBuf {
    let p = dir.join("nova.conf");
    write(
        &p,
        &NOVA_CONF.replace("@BACKEND@", backend_dir.to_str().unwrap()),
        0o640,
    );
    p
}

#[test]
fn oslo_config_reads_coordination_backend_url_and_sits_between_flag_and_env() {
    let d = Dirs::new();
    let h = d.home.path();
    let conf = nova_conf(h, d.profile.path());
    let conf_s = conf.to_str().unwrap();
    let nova_url = format!("{}/coord?timeout=30", url(d.profile.path()));
    assert_eq!(seen(h, &["--oslo-config", conf_s], &[]).0, nova_url);
    // --oslo-config beats TOOZCTL_BACKEND and any profile...
    write(&d.default_config(), &d.config_text(), 0o600);
    let env_url = url(d.env.path());
    assert_eq!(
        seen(
            h,
            &["--oslo-config", conf_s, "-p", "prod"],
            &[("TOOZCTL_BACKEND", &env_url)]
        )
        .0,
        nova_url
    );
    // ...and --backend beats --oslo-config.
    let flag_url = url(d.flag.path());
    assert_eq!(
        seen(
            h,
            &["--oslo-config", conf_s, "-b", &flag_url],
            &[("TOOZCTL_BACKEND", &env_url)]
        )
        .0,
        flag_url
    );
    // The lock really went to the directory nova uses.
    assert!(d.profile.path().join("coord/probe").exists());
    // A profile can point at a service config too.
    let cfg = h.join("nova-profile.yaml");
    write(
        &cfg,
        &format!("profiles:\n  nova:\n    oslo_config: {conf_s}\n"),
        0o600,
    );
    assert_eq!(
        seen(h, &["--config", cfg.to_str().unwrap(), "-p", "nova"], &[]).0,
        nova_url
    );
}

#[test]
fn oslo_config_with_redis_and_a_password_never_prints_it() {
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("cinder.conf");
    let port = support::free_port();
    write(
        &conf,
        &format!("[DEFAULT]\nhost = c1\n\n[coordination]\nbackend_url = redis://:{SECRET}@127.0.0.1:{port}?db=0\n"),
        0o640,
    );
    // Nothing listens there: whatever the error, the password stays hidden (run() checks).
    let r = run(
        home.path(),
        &["-vv", "--oslo-config", conf.to_str().unwrap(), "locks"],
        &[],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(":***@"), "{}", r.stderr);
}

/// `args` with `cfg` must exit 2 with one line naming the file and, where given, the line.
fn config_error(
    home: &Path,
    cfg: &Path,
    text: &str,
    args: &[&str],
    line: Option<usize>,
    what: &str,
) {
    write(cfg, text, 0o600);
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend(args);
    all.extend(["locks"]);
    let r = run(home, &all, &[]);
    assert_eq!(r.code, 2, "{text:?}: {}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&*cfg.to_string_lossy()),
        "{text:?}: {}",
        r.stderr
    );
    if let Some(n) = line {
        assert!(
            r.stderr.contains(&format!("line {n}")),
            "{text:?}: wanted line {n}: {}",
            r.stderr
        );
    }
    assert!(
        r.stderr.contains(what),
        "{text:?}: wanted {what:?}: {}",
        r.stderr
    );
}

#[test]
fn every_config_error_names_file_and_line_and_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cfg = h.join("config.yaml");
    let dir = url(h);
    config_error(
        h,
        &cfg,
        "profiles:\n  a:\n\tbackend: x\n",
        &[],
        Some(3),
        "not tabs",
    );
    config_error(
        h,
        &cfg,
        "default_profile: a\nprofils:\n  a: {}\n",
        &[],
        Some(2),
        "unknown field `profils`",
    );
    let typo = format!("profiles:\n  a:\n    backend: {dir}\n    membr_id: x\n");
    config_error(
        h,
        &cfg,
        &typo,
        &["-p", "a"],
        Some(4),
        "unknown field `membr_id`",
    );
    let bad_output = format!("profiles:\n  a:\n    backend: {dir}\n    output: xml\n");
    config_error(h, &cfg, &bad_output, &[], Some(4), "xml");
    config_error(
        h,
        &cfg,
        "profiles:\n  a: {}\n  b: {}\n",
        &["-p", "c"],
        None,
        "no profile 'c' (profiles: a, b)",
    );
    config_error(
        h,
        &cfg,
        "\n\ndefault_profile: c\nprofiles: {}\n",
        &[],
        Some(3),
        "no profile 'c'",
    );
    config_error(
        h,
        &cfg,
        "profiles:\n  a:\n    member_id: m\n    backend: nosuch://x\n",
        &["-p", "a"],
        Some(4),
        "unknown scheme",
    );
    let missing_pw = format!(
        "profiles:\n  a:\n    backend: {dir}\n    password_file: {}/nope\n",
        h.display()
    );
    config_error(
        h,
        &cfg,
        &missing_pw,
        &["-p", "a"],
        Some(4),
        "cannot read password_file",
    );
    let unset_env =
        format!("profiles:\n  a:\n    backend: {dir}\n    password_env: TOOZCTL_TEST_UNSET\n");
    config_error(
        h,
        &cfg,
        &unset_env,
        &["-p", "a"],
        Some(4),
        "TOOZCTL_TEST_UNSET, which is not set",
    );
    let pw = h.join("pw");
    write(&pw, &format!("{SECRET}\n"), 0o600);
    let both = format!(
        "profiles:\n  a:\n    backend: redis://:{SECRET}@localhost:6379\n    password_file: {}\n",
        pw.display()
    );
    config_error(h, &cfg, &both, &["-p", "a"], Some(3), "keep one");
    let two =
        format!("profiles:\n  a:\n    backend: {dir}\n    oslo_config: /etc/nova/nova.conf\n");
    config_error(
        h,
        &cfg,
        &two,
        &["-p", "a"],
        Some(4),
        "both backend and oslo_config",
    );
    let bad_oslo = format!(
        "profiles:\n  a:\n    oslo_config: {}/nope.conf\n",
        h.display()
    );
    config_error(
        h,
        &cfg,
        &bad_oslo,
        &["-p", "a"],
        Some(3),
        "cannot read OpenStack config",
    );
    config_error(h, &cfg, "- just\n- a list\n", &[], Some(1), "");
    config_error(
        h,
        &cfg,
        "profiles:\n  a:\n    backend: [1, 2]\n",
        &[],
        Some(3),
        "",
    );
}

#[test]
fn config_and_oslo_errors_without_a_yaml_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let r = run(h, &["--config", "/nonexistent/toozctl.yaml", "locks"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("/nonexistent/toozctl.yaml does not exist"),
        "{}",
        r.stderr
    );
    let r = run(h, &["-p", "prod", "locks"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("profile 'prod'") && r.stderr.contains("no config file"),
        "{}",
        r.stderr
    );
    let conf = h.join("glance.conf");
    for (text, what) in [
        (
            "[DEFAULT]\ndebug = true\n",
            "sets no backend_url in [coordination]",
        ),
        (
            "[DEFAULT]\ndebug = true\n[coordination\nbackend_url = x\n",
            "line 3",
        ),
        (
            "[coordination]\nbackend_url = file://$state_path/x\n",
            "line 2",
        ),
        (
            "[coordination]\n   backend_url = file:///x\n",
            "line 2: unexpected continuation",
        ),
    ] {
        write(&conf, text, 0o600);
        let r = run(h, &["--oslo-config", conf.to_str().unwrap(), "locks"], &[]);
        assert_eq!(r.code, 2, "{text:?}");
        assert!(
            r.stderr.contains(&*conf.to_string_lossy()) && r.stderr.contains(what),
            "{text:?}: {}",
            r.stderr
        );
    }
    let r = run(
        h,
        &["--oslo-config", "/nonexistent/nova.conf", "locks"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("cannot read OpenStack config /nonexistent/nova.conf"),
        "{}",
        r.stderr
    );
}

#[test]
fn password_file_and_password_env_fill_in_the_url_password() {
    // A Redis server that requires the password: the file backend refuses any password
    // (a file URL with a user or password is bad input), so the filled-in password must
    // reach a backend that uses one.
    let redis = support::redis::RedisServer::start_with(Some(SECRET), &[]);
    let d = Dirs::new();
    let h = d.home.path();
    let pw = h.join("secrets/backend.pw");
    write(&pw, &format!("{SECRET}\n"), 0o600);
    let cfg = h.join("c.yaml");
    let plain = |ns: &str| format!("redis://127.0.0.1:{}?namespace={ns}", redis.port);
    let text = format!(
        "profiles:\n  f:\n    backend: {}\n    password_file: secrets/backend.pw\n  e:\n    backend: {}\n    password_env: BACKEND_PW\n",
        plain("pf"),
        plain("pe")
    );
    write(&cfg, &text, 0o600);
    let cfg_s = cfg.to_str().unwrap();
    let shown = |ns: &str| format!("redis://:***@127.0.0.1:{}?namespace={ns}", redis.port);
    // The child sees that a password is set, never the password.
    let (b, _) = seen(h, &["--config", cfg_s, "-p", "f", "-vv"], &[]);
    assert_eq!(b, shown("pf"));
    let (b, _) = seen(
        h,
        &["--config", cfg_s, "-p", "e"],
        &[("BACKEND_PW", SECRET)],
    );
    assert_eq!(b, shown("pe"));
    // A flag's URL is not given the profile's password.
    let (b, _) = seen(
        h,
        &["--config", cfg_s, "-p", "f", "-b", &url(d.flag.path())],
        &[],
    );
    assert_eq!(b, url(d.flag.path()));
}

#[test]
fn a_config_readable_by_others_that_holds_a_password_is_warned_about() {
    let d = Dirs::new();
    let h = d.home.path();
    let cfg = h.join("c.yaml");
    let text = format!(
        "default_profile: local\nprofiles:\n  local:\n    backend: {}\n  redis:\n    backend: redis://:{SECRET}@redis.example:6379\n",
        url(d.profile.path())
    );
    let cfg_s = cfg.to_str().unwrap();
    write(&cfg, &text, 0o644);
    let r = run(h, &["--config", cfg_s, "locks"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning:")
            && r.stderr.contains("readable by other users")
            && r.stderr.contains(cfg_s),
        "{}",
        r.stderr
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    let r = run(h, &["--config", cfg_s, "locks"], &[]);
    assert!(
        !r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );
    // No password in the file, no warning, whatever its mode.
    let pw = h.join("pw");
    write(&pw, SECRET, 0o600);
    let clean = format!(
        "default_profile: local\nprofiles:\n  local:\n    backend: {}\n    password_file: {}\n",
        url(d.profile.path()),
        pw.display()
    );
    write(&cfg, &clean, 0o644);
    let r = run(h, &["--config", cfg_s, "locks"], &[]);
    assert!(
        !r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );
    // ...unless the password file itself is readable by others.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(h, &["--config", cfg_s, "locks"], &[]);
    assert!(
        r.stderr.contains("password_file") && r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_nested_toozctl_explains_the_redacted_backend_it_inherited() {
    // toozctl gives COMMAND TOOZCTL_BACKEND with the password as ***; a toozctl run inside
    // COMMAND must say so rather than fail to log in.
    let home = tempfile::tempdir().unwrap();
    let mut c = support::toozctl(home.path());
    c.env("TOOZCTL_BACKEND", "redis://:***@127.0.0.1:1");
    c.args(["lock", "-n", "x", "--", "true"]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("redacted") && err.contains("-b"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
