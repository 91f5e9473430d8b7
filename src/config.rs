//! Resolving global options into a [`Context`]. The only module that reads the environment
//! (clap reads the documented `TOOZCTL_*` variables for the flags themselves) or files of
//! configuration (the YAML config, `--oslo-config`, `password_file:`).
//!
//! The backend URL comes from the first of: `--backend`, `--oslo-config`,
//! `TOOZCTL_BACKEND`, the profile in use (`-p`/`TOOZCTL_PROFILE`, else the config's
//! `default_profile`), the embedded file backend. Member id and output format: flag or
//! environment, then the profile, then the built-in default.
//!
//! The config file (YAML, every key optional, unknown keys refused):
//!
//! ```yaml
//! default_profile: prod          # used when neither -p nor TOOZCTL_PROFILE is given
//! profiles:
//!   prod:
//!     backend: redis://redis.example:6379?namespace=_tooz    # tooz URL, no password here
//!     password_file: /etc/toozctl/redis.password             # or password_env: VAR
//!     member_id: ops-1                                       # default <hostname>-<pid>
//!     output: json                                           # text | json | yaml
//!   cinder:
//!     oslo_config: /etc/cinder/cinder.conf                   # instead of backend:
//! ```
//!
//! It is looked up at `--config`/`TOOZCTL_CONFIG` (which must exist), else
//! `$XDG_CONFIG_HOME/toozctl/config.yaml` (`~/.config/...`), else `/etc/toozctl/config.yaml`.
//! Every mistake in it is a usage error (exit 2) naming the file and line.

mod oslo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::coordination::{BackendUrl, Secret};
use crate::error::{Error, Result};
use crate::output::Log;

/// The embedded backend's directory: `$XDG_STATE_HOME/toozctl`, else
/// `~/.local/state/toozctl`, else (no `HOME`: `env -i`, some systemd units)
/// `$XDG_RUNTIME_DIR/toozctl` or `/run/user/<uid>/toozctl` when that runtime directory
/// exists and belongs to us. Never a guessable shared path such as `/tmp/toozctl-<uid>`,
/// which another user could create first: without any of these, exit 2 naming what to set.
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(x) = env_path("XDG_STATE_HOME") {
        return Ok(x.join("toozctl"));
    }
    if let Some(h) = env_path("HOME") {
        return Ok(h.join(".local/state/toozctl"));
    }
    let uid = nix::unistd::geteuid();
    let ours = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid.as_raw())
    };
    let runtime = [
        env_path("XDG_RUNTIME_DIR"),
        Some(PathBuf::from(format!("/run/user/{uid}"))),
    ];
    for dir in runtime.into_iter().flatten() {
        if dir.is_absolute() && ours(&dir) {
            return Ok(dir.join("toozctl"));
        }
    }
    Err(Error::Usage(format!(
        "no directory for the default file backend: HOME and XDG_STATE_HOME are not set, and neither $XDG_RUNTIME_DIR nor /run/user/{uid} is a directory of yours; set XDG_STATE_HOME (or HOME), or give a backend with -b file:///DIR"
    )))
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn default_backend_url() -> Result<String> {
    Ok(format!("file://{}", default_state_dir()?.display()))
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The config file's schema.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    /// A tooz backend URL.
    backend: Option<String>,
    /// Or: take `backend_url` from this OpenStack service config.
    oslo_config: Option<PathBuf>,
    /// The password, from the first line of this file...
    password_file: Option<PathBuf>,
    /// ...or from this environment variable.
    password_env: Option<String>,
    member_id: Option<String>,
    output: Option<OutputFormat>,
}

/// A loaded config file.
struct Loaded {
    path: PathBuf,
    text: String,
    file: ConfigFile,
}

impl Loaded {
    /// `config FILE line N: what` (the line of `key` in profile `profile`, if found).
    fn error(&self, profile: Option<&str>, key: &str, what: &str) -> Error {
        match find_line(&self.text, profile, key) {
            Some(n) => Error::Usage(format!("config {} line {n}: {what}", self.path.display())),
            None => Error::Usage(format!("config {}: {what}", self.path.display())),
        }
    }
}

/// The line of `key:` inside profile `profile` (or at the top level), by a plain scan:
/// serde_yaml keeps no positions for values that parsed.
fn find_line(text: &str, profile: Option<&str>, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_key = |l: &str, k: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        let t = t.trim_start_matches(['"', '\'']);
        t.strip_prefix(k).is_some_and(|r| {
            r.trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with(':')
        })
    };
    let Some(profile) = profile else {
        return lines
            .iter()
            .position(|l| indent(l) == 0 && is_key(l, key))
            .map(|i| i + 1);
    };
    let start = lines
        .iter()
        .position(|l| indent(l) > 0 && is_key(l, profile))?;
    let base = indent(lines[start]);
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if indent(l) <= base {
            break;
        }
        if is_key(l, key) {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

/// Which config file, if any: `Ok(None)` when none is named and no default exists.
fn config_path(global: &GlobalArgs) -> Result<Option<PathBuf>> {
    if let Some(p) = &global.config {
        if !p.exists() {
            return Err(Error::Usage(format!(
                "config file {} does not exist",
                p.display()
            )));
        }
        return Ok(Some(p.clone()));
    }
    let xdg = env_path("XDG_CONFIG_HOME").or_else(|| env_path("HOME").map(|h| h.join(".config")));
    let candidates = xdg
        .map(|x| x.join("toozctl/config.yaml"))
        .into_iter()
        .chain([PathBuf::from("/etc/toozctl/config.yaml")]);
    Ok(candidates.into_iter().find(|p| p.exists()))
}

/// The largest config file read, and the deepest nesting allowed in it: the schema is
/// three levels deep, and YAML parsers take time quadratic in nesting depth.
const MAX_CONFIG_BYTES: usize = 256 * 1024;
const MAX_YAML_DEPTH: usize = 32;

/// Refuse, before serde_yaml sees it, a config too big or nested too deep to be one:
/// flow collections (`[`, `{`) and block sequences or keys started on one line (`- - -`,
/// `? ? ?`) are counted; indentation nesting is bounded by the size.
fn check_shape(text: &str) -> std::result::Result<(), String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "is larger than {} KiB, far more than any config needs",
            MAX_CONFIG_BYTES / 1024
        ));
    }
    let too_deep = |n: usize| format!("nests deeper than {MAX_YAML_DEPTH} levels at line {n}");
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut block = 0usize;
        let mut leading = true;
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '"' | '\'' => quote = Some(c),
                    '[' | '{' => {
                        flow += 1;
                        if flow > MAX_YAML_DEPTH {
                            return Err(too_deep(i + 1));
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    '-' | '?' | ':' if leading => block += 1,
                    c if c.is_whitespace() => {}
                    _ => leading = false,
                },
            }
            if block > MAX_YAML_DEPTH {
                return Err(too_deep(i + 1));
            }
            prev = c;
        }
    }
    Ok(())
}

/// Read at most `max` bytes of a text file: more is an error, so `/dev/zero` or a huge
/// file given as a config or password file cannot exhaust memory.
pub(crate) fn read_limited(path: &Path, max: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > max {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            max / 1024
        )));
    }
    String::from_utf8(buf)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn load(path: &Path) -> Result<Loaded> {
    let text = read_limited(path, MAX_CONFIG_BYTES)
        .map_err(|e| Error::Usage(format!("cannot read config {}: {e}", path.display())))?;
    check_shape(&text).map_err(|e| Error::Usage(format!("config {} {e}", path.display())))?;
    let file = if text.trim().is_empty() {
        ConfigFile::default()
    } else {
        serde_yaml::from_str::<ConfigFile>(&text).map_err(|e| yaml_error(path, &text, &e))?
    };
    Ok(Loaded {
        path: path.to_path_buf(),
        text,
        file,
    })
}

/// `config FILE line N column M: what`, from serde_yaml's message without its own suffix.
fn yaml_error(path: &Path, text: &str, e: &serde_yaml::Error) -> Error {
    let msg = e.to_string();
    let what = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    match e.location() {
        Some(l) => {
            // The most common hand-editing mistake gets named.
            let tab = text
                .lines()
                .nth(l.line().saturating_sub(1))
                .is_some_and(|s| {
                    s.trim_end().starts_with(|c: char| c.is_whitespace()) && s.contains('\t')
                });
            let hint = if tab {
                " (YAML indents with spaces, not tabs)"
            } else {
                ""
            };
            Error::Usage(format!(
                "config {} line {} column {}: {what}{hint}",
                path.display(),
                l.line(),
                l.column()
            ))
        }
        None => Error::Usage(format!("config {}: {what}", path.display())),
    }
}

/// Where the backend URL came from, for `-v` and messages.
enum Source {
    Flag,
    /// `--oslo-config`, with the `member_id` its `[coordination]` sets.
    Oslo(PathBuf, Option<String>),
    Env,
    /// A profile, with the `member_id` of its `oslo_config` if it has one.
    Profile(String, PathBuf, Option<String>),
    Embedded,
}

/// Resolve the global options once.
pub fn resolve(global: &GlobalArgs) -> Result<Context> {
    let verbosity = if global.quiet {
        -1
    } else {
        global.verbose.min(3) as i8
    };
    let log = Log::new(verbosity);
    let loaded = config_path(global)?.map(|p| load(&p)).transpose()?;
    let (profile_name, profile) = select_profile(global, loaded.as_ref())?;
    if let Some(l) = &loaded {
        warn_if_exposed(&log, l);
    }
    let in_use = match (&profile_name, &profile, &loaded) {
        (Some(n), Some(p), Some(l)) => Some(InUse {
            name: n,
            profile: p,
            file: l,
        }),
        _ => None,
    };
    let (url, source) = backend(&log, global, in_use.as_ref())?;
    if let Some(var) = profile.as_ref().and_then(|p| p.password_env.as_deref()) {
        // COMMAND (and every watch handler) inherits our environment: the password must
        // not go with it. This runs before the runtime or any other thread starts.
        std::env::remove_var(var);
    }
    if let (Source::Env, Some(p), Some(_)) = (&source, &in_use, &global.profile) {
        if p.profile.backend.is_some() || p.profile.oslo_config.is_some() {
            log.warn(&format!(
                "TOOZCTL_BACKEND overrides the backend of profile '{}'",
                p.name
            ));
        }
    }
    log.debug(&format!("backend {url} ({})", describe(&source)));

    let host = hostname();
    // Closest to the command line first: -m/TOOZCTL_MEMBER_ID, the member_id of an
    // --oslo-config, the profile's member_id, the member_id of the profile's oslo_config.
    let (oslo_flag_member, oslo_profile_member) = match &source {
        Source::Oslo(_, m) => (m.clone(), None),
        Source::Profile(_, _, m) => (None, m.clone()),
        _ => (None, None),
    };
    let member_id = match global
        .member_id
        .clone()
        .or(oslo_flag_member)
        .or_else(|| profile.as_ref().and_then(|p| p.member_id.clone()))
        .or(oslo_profile_member)
    {
        Some(m) if m.is_empty() => return Err(Error::Usage("member id is empty".into())),
        Some(m) => m,
        None => format!("{host}-{}", std::process::id()),
    };
    if member_id.chars().any(|c| c.is_control()) {
        return Err(Error::Usage(format!(
            "member id '{}' contains a control character",
            crate::output::escape::escape(&member_id)
        )));
    }
    let output = global
        .output
        .or_else(|| profile.as_ref().and_then(|p| p.output))
        .unwrap_or_default();
    let mut ctx = Context::new(url, member_id, host, output, verbosity);
    // systemd's readiness socket is toozctl's to use (it is the unit's main process), not
    // COMMAND's: taken out of the environment before any other thread starts.
    ctx.notify_socket = std::env::var_os("NOTIFY_SOCKET");
    if ctx.notify_socket.is_some() {
        std::env::remove_var("NOTIFY_SOCKET");
    }
    Ok(ctx)
}

/// The profile in use, with the file it came from.
struct InUse<'a> {
    name: &'a str,
    profile: &'a Profile,
    file: &'a Loaded,
}

/// The backend URL by precedence: --backend > --oslo-config > TOOZCTL_BACKEND > profile >
/// embedded; a profile's password_file/password_env fill in the profile's URL only.
fn backend(log: &Log, global: &GlobalArgs, in_use: Option<&InUse>) -> Result<(BackendUrl, Source)> {
    // clap fills `backend` from the flag or from TOOZCTL_BACKEND: tell them apart, since
    // --oslo-config sits between the two.
    let env_backend = std::env::var("TOOZCTL_BACKEND").ok();
    let env_backend = env_backend
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let given = global
        .backend
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    let from_env = given.is_some() && given == env_backend;
    let (raw, source) = match (given, &global.oslo_config, in_use) {
        (Some(b), _, _) if !from_env => (b.to_string(), Source::Flag),
        (_, Some(p), _) => {
            let c = oslo::read(p).map_err(Error::Usage)?;
            (c.backend_url, Source::Oslo(p.clone(), c.member_id))
        }
        (Some(b), None, _) => (b.to_string(), Source::Env),
        (None, None, Some(u)) if u.profile.backend.is_some() || u.profile.oslo_config.is_some() => {
            let (raw, member) = profile_url(u.file, u.name, u.profile)?;
            (
                raw,
                Source::Profile(u.name.to_string(), u.file.path.clone(), member),
            )
        }
        (None, None, _) => (default_backend_url()?, Source::Embedded),
    };
    let from_profile = match (&source, in_use) {
        (Source::Profile(..), Some(u)) => Some(u),
        _ => None,
    };
    let flag_password = global
        .password_file
        .as_deref()
        .map(|f| read_password_file(log, f, "--password-file"))
        .transpose()?;
    let Some(u) = from_profile else {
        let mut url = BackendUrl::parse(&raw)?;
        if let Some(secret) = flag_password {
            fill_password(&mut url, secret, &source)?;
            return Ok((url, source));
        }
        if matches!(source, Source::Env) && url.password().is_some_and(|p| p.expose() == "***") {
            // What toozctl hands its COMMAND: a nested toozctl cannot log in with it.
            return Err(Error::Usage(format!(
                "TOOZCTL_BACKEND ({url}) has its password redacted, as toozctl sets it for its COMMAND; \
                 a toozctl run inside COMMAND needs the backend from -b, --config/-p or --oslo-config"
            )));
        }
        return Ok((url, source));
    };
    let (l, name) = (u.file, u.name);
    let mut url = BackendUrl::parse(&raw)
        .map_err(|e| l.error(Some(name), "backend", &format!("profile '{name}': {e}")))?;
    if let Some(secret) = flag_password {
        // --password-file is closer to the command line than the profile's password_file
        // or password_env, and replaces them.
        fill_password(&mut url, secret, &source)?;
        return Ok((url, source));
    }
    if let Some(secret) = profile_password(l, name, u.profile)? {
        if url.password().is_some() {
            return Err(l.error(Some(name), "backend", &format!(
                "profile '{name}' has a password in its backend URL and in password_file/password_env; keep one"
            )));
        }
        url.set_password(secret);
    }
    Ok((url, source))
}

fn describe(source: &Source) -> String {
    match source {
        Source::Flag => "from --backend".into(),
        Source::Oslo(p, _) => format!("from [coordination] backend_url of {}", p.display()),
        Source::Env => "from TOOZCTL_BACKEND".into(),
        Source::Profile(n, p, _) => format!("from profile '{n}' of {}", p.display()),
        Source::Embedded => "the embedded file backend".into(),
    }
}

/// The profile in use: `-p`/`TOOZCTL_PROFILE`, else `default_profile`, else none.
fn select_profile(
    global: &GlobalArgs,
    loaded: Option<&Loaded>,
) -> Result<(Option<String>, Option<Profile>)> {
    let asked = global.profile.clone().filter(|p| !p.is_empty());
    let Some(l) = loaded else {
        return match asked {
            Some(p) => Err(Error::Usage(format!(
                "profile '{p}' was asked for, but there is no config file (give --config, or create {})",
                env_path("XDG_CONFIG_HOME")
                    .or_else(|| env_path("HOME").map(|h| h.join(".config")))
                    .map(|x| x.join("toozctl/config.yaml").display().to_string())
                    .unwrap_or_else(|| "/etc/toozctl/config.yaml".into())
            ))),
            None => Ok((None, None)),
        };
    };
    let (name, by_default) = match (asked, &l.file.default_profile) {
        (Some(p), _) => (p, false),
        (None, Some(d)) => (d.clone(), true),
        (None, None) => return Ok((None, None)),
    };
    match l.file.profiles.get(&name) {
        Some(p) => Ok((Some(name), Some(p.clone()))),
        None => {
            let known: Vec<&str> = l.file.profiles.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            let what = format!("no profile '{name}' (profiles: {known})");
            if by_default {
                Err(l.error(None, "default_profile", &format!("default_profile: {what}")))
            } else {
                Err(Error::Usage(format!("config {}: {what}", l.path.display())))
            }
        }
    }
}

/// The backend URL text of a profile (its `backend`, or its `oslo_config`'s, with the
/// `member_id` that config sets).
fn profile_url(l: &Loaded, name: &str, p: &Profile) -> Result<(String, Option<String>)> {
    match (&p.backend, &p.oslo_config) {
        (Some(_), Some(_)) => Err(l.error(
            Some(name),
            "oslo_config",
            &format!("profile '{name}' sets both backend and oslo_config; keep one"),
        )),
        (Some(b), None) if b.trim().is_empty() => Err(l.error(
            Some(name),
            "backend",
            &format!("profile '{name}': backend is empty"),
        )),
        (Some(b), None) => Ok((b.trim().to_string(), None)),
        (None, Some(o)) => {
            let o = if o.is_relative() {
                l.path.parent().unwrap_or(Path::new(".")).join(o)
            } else {
                o.clone()
            };
            oslo::read(&o)
                .map(|c| (c.backend_url, c.member_id))
                .map_err(|e| l.error(Some(name), "oslo_config", &format!("profile '{name}': {e}")))
        }
        (None, None) => Err(Error::Internal("profile without a backend".into())),
    }
}

/// The password a profile names by `password_file` or `password_env`, if any.
fn profile_password(l: &Loaded, name: &str, p: &Profile) -> Result<Option<Secret>> {
    match (&p.password_file, &p.password_env) {
        (Some(_), Some(_)) => Err(l.error(
            Some(name),
            "password_env",
            &format!("profile '{name}' sets both password_file and password_env; keep one"),
        )),
        (Some(f), None) => {
            let f = if f.is_relative() {
                l.path.parent().unwrap_or(Path::new(".")).join(f)
            } else {
                f.clone()
            };
            let text = read_limited(&f, 64 * 1024).map_err(|e| {
                l.error(
                    Some(name),
                    "password_file",
                    &format!(
                        "profile '{name}': cannot read password_file {}: {e}",
                        f.display()
                    ),
                )
            })?;
            let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
            if first.is_empty() {
                return Err(l.error(
                    Some(name),
                    "password_file",
                    &format!("profile '{name}': password_file {} is empty", f.display()),
                ));
            }
            Ok(Some(Secret::new(first)))
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(l.error(
                Some(name),
                "password_env",
                &format!("profile '{name}': password_env names {var}, which is not set"),
            )),
        },
        (None, None) => Ok(None),
    }
}

/// `--password-file`/`TOOZCTL_PASSWORD_FILE`: the first line of the file, without its line
/// end; unreadable or empty is a usage error; readable by other users is warned about.
fn read_password_file(log: &Log, f: &Path, what: &str) -> Result<Secret> {
    use std::os::unix::fs::PermissionsExt;
    let text = read_limited(f, 64 * 1024)
        .map_err(|e| Error::Usage(format!("cannot read {what} {}: {e}", f.display())))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(Error::Usage(format!(
            "{what} {} is empty (its first line is the password)",
            f.display()
        )));
    }
    if std::fs::metadata(f).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
        log.warn(&format!(
            "{what} {} is readable by other users: chmod o-r it",
            f.display()
        ));
    }
    Ok(Secret::new(first))
}

/// Put a `--password-file` password into `url`; a URL that has its own password is refused,
/// except one redacted as toozctl hands TOOZCTL_BACKEND to its COMMAND (`:***@`).
fn fill_password(url: &mut BackendUrl, secret: Secret, source: &Source) -> Result<()> {
    if url
        .password()
        .is_some_and(|p| !(matches!(source, Source::Env) && p.expose() == "***"))
    {
        return Err(Error::Usage(format!(
            "the backend URL ({url}, {}) has a password and --password-file gives another; keep one",
            describe(source)
        )));
    }
    url.set_password(secret);
    Ok(())
}

/// A config readable by other users that holds a password in a URL gets a warning, and so
/// does a `password_file` readable by others.
fn warn_if_exposed(log: &Log, l: &Loaded) {
    use std::os::unix::fs::PermissionsExt;
    let readable_by_others =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    let inline = l.file.profiles.iter().find(|(_, p)| {
        p.backend
            .as_deref()
            .and_then(|b| BackendUrl::parse(b.trim()).ok())
            .is_some_and(|u| u.password().is_some())
    });
    if let Some((name, _)) = inline {
        if readable_by_others(&l.path) {
            log.warn(&format!(
                "config {} is readable by other users and holds a password (profile '{name}'): chmod o-r it, or use password_file",
                l.path.display()
            ));
        }
    }
    for (name, p) in &l.file.profiles {
        if let Some(f) = &p.password_file {
            let f = if f.is_relative() {
                l.path.parent().unwrap_or(Path::new(".")).join(f)
            } else {
                f.clone()
            };
            if readable_by_others(&f) {
                log.warn(&format!(
                    "password_file {} of profile '{name}' is readable by other users: chmod o-r it",
                    f.display()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_profile_keys() {
        let text = "default_profile: b\nprofiles:\n  a:\n    backend: x\n  b:\n    # note\n    member_id: m\n    backend: y\n";
        assert_eq!(find_line(text, None, "default_profile"), Some(1));
        assert_eq!(find_line(text, Some("a"), "backend"), Some(4));
        assert_eq!(find_line(text, Some("b"), "backend"), Some(8));
        assert_eq!(find_line(text, Some("b"), "password_file"), Some(5));
        assert_eq!(find_line(text, Some("zzz"), "backend"), None);
    }

    #[test]
    fn deep_yaml_is_refused_before_parsing() {
        let n = 65_536;
        for text in [
            format!("{}{}", "[".repeat(n), "]".repeat(n)),
            format!("profiles: {}1{}", "{a: ".repeat(n), "}".repeat(n)),
            format!("{}x\n", "- ".repeat(n)),
        ] {
            assert!(check_shape(&text).is_err());
        }
        assert!(check_shape("profiles:\n  a:\n    backend: 'file:///x#[['\n").is_ok());
    }

    mod fuzz {
        //! Property tests: random YAML-ish text through the config reader: refused or read,
        //! never a panic, never a long parse.
        use super::super::*;
        use proptest::prelude::*;

        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("profiles:\n".to_string()),
                Just("default_profile: a\n".to_string()),
                Just("  a:\n    backend: file:///x\n".to_string()),
                Just("    password_env: X\n".to_string()),
                (1..200usize).prop_map(|n| "[".repeat(n)),
                (1..200usize).prop_map(|n| "{a: ".repeat(n)),
                (1..200usize).prop_map(|n| "- ".repeat(n)),
                Just("&a [*a, *a]\n".to_string()),
                "[ -~\t\n]{0,20}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]
            #[test]
            fn config_reader_never_panics(pieces in proptest::collection::vec(piece(), 0..12)) {
                let text = pieces.concat();
                let started = std::time::Instant::now();
                if check_shape(&text).is_ok() {
                    let _ = serde_yaml::from_str::<ConfigFile>(&text);
                }
                prop_assert!(started.elapsed() < std::time::Duration::from_secs(1));
            }
        }
    }
}
