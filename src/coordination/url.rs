//! Backend URLs in tooz syntax, parsed once into a typed value.
//!
//! tooz splits the URL with `urlsplit` and the query with `parse_qs`: empty values are
//! dropped and a repeated option keeps its last value, except for the few options a driver
//! declares as lists (`hosts`, `sentinel_fallback`). This module follows that so a
//! `backend_url` pasted from a service config means the same thing to us.
//!
//! The password is kept in a [`Secret`] whose `Debug` and `Display` print `***`, and the URL's
//! own `Display`/`Debug` print the redacted form, so no code path can print a password by
//! accident. Only a backend's connect code calls [`BackendUrl::password`].

use std::fmt;

use super::Error;

/// Which driver a URL selects. `kazoo` is tooz's alias of `zookeeper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    File,
    Redis,
    Zookeeper,
    Etcd3Http,
    Etcd3Https,
    /// System V semaphores of this host (tooz's `ipc` driver).
    Ipc,
    Mysql,
    Postgresql,
    Memcached,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "file" => Scheme::File,
            "redis" | "rediss" => Scheme::Redis,
            "zookeeper" | "kazoo" => Scheme::Zookeeper,
            "etcd3+http" => Scheme::Etcd3Http,
            "etcd3+https" => Scheme::Etcd3Https,
            "ipc" => Scheme::Ipc,
            "mysql" => Scheme::Mysql,
            "postgresql" => Scheme::Postgresql,
            "memcached" => Scheme::Memcached,
            _ => return None,
        })
    }

    /// The name used in messages ("the redis backend").
    pub fn name(self) -> &'static str {
        match self {
            Scheme::File => "file",
            Scheme::Redis => "redis",
            Scheme::Zookeeper => "zookeeper",
            Scheme::Etcd3Http | Scheme::Etcd3Https => "etcd",
            Scheme::Ipc => "ipc",
            Scheme::Mysql => "mysql",
            Scheme::Postgresql => "postgresql",
            Scheme::Memcached => "memcached",
        }
    }
}

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself: for handing to a client library, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One `host[:port]` of the URL's authority (an ensemble has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = self.host.contains(':');
        match (bracket, self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (true, None) => write!(f, "[{}]", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            (false, None) => f.write_str(&self.host),
        }
    }
}

/// A parsed backend URL. `Display` and `Debug` show the password as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendUrl {
    pub scheme: Scheme,
    /// The scheme as written (`kazoo`, `zookeeper`, …), kept for messages and redaction.
    pub scheme_text: String,
    pub username: Option<String>,
    password: Option<Secret>,
    pub hosts: Vec<HostPort>,
    /// The path, percent-decoded (the directory for `file://`).
    pub path: String,
    /// Query options in order, percent-decoded, empty values dropped (as `parse_qs`).
    pub query: Vec<(String, String)>,
}

impl BackendUrl {
    /// Parse a backend URL. Every error message shows the input redacted by [`redact`]
    /// (computed before any parsing) and never quotes a fragment of the user info or of a
    /// secret option, so no malformed URL can print its password.
    pub fn parse(input: &str) -> Result<BackendUrl, Error> {
        let shown = redact(input);
        let bad = |what: String| Error::InvalidUrl(format!("{what} in backend URL '{shown}'"));
        if input.chars().any(|c| c.is_control()) {
            return Err(bad("control character".into()));
        }
        let (scheme_text, rest) = input
            .split_once("://")
            .ok_or_else(|| bad("missing '://' (expected e.g. file:///var/lib/toozctl)".into()))?;
        let scheme = Scheme::parse(scheme_text).ok_or_else(|| {
            bad(format!(
                "unknown scheme '{}' (known: file, redis, zookeeper, kazoo, etcd3+http, etcd3+https, mysql, postgresql, ipc)",
                shorten(scheme_text, 40)
            ))
        })?;
        let parts = split_rest(rest);
        let (username, password) = match parts.userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                let u = percent_decode(u).map_err(|e| bad(format!("user name: {e}")))?;
                let p = match p {
                    Some(p) => Some(Secret(
                        percent_decode(p).map_err(|e| bad(format!("password: {e}")))?,
                    )),
                    None => None,
                };
                ((!u.is_empty()).then_some(u), p)
            }
        };
        // A host list that does not parse after a user info may be the tail of a password
        // that holds an `@` (`redis://:pa@ss` has no host): hide it as well.
        let bad_host = |what: String| match parts.userinfo {
            Some(_) => Error::InvalidUrl(format!(
                "{what} in backend URL '{}'",
                redact_hosts_too(input)
            )),
            None => bad(what),
        };
        let mut hosts = Vec::new();
        if !parts.hosts.is_empty() {
            for part in parts.hosts.split(',') {
                hosts.push(parse_hostport(part).map_err(&bad_host)?);
            }
        }
        let path = percent_decode(parts.path).map_err(|e| bad(format!("path: {e}")))?;
        let mut query = Vec::new();
        if let Some(q) = parts.query {
            for pair in q.split(['&', ';']).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = percent_decode(&k.replace('+', " "))
                    .map_err(|e| bad(format!("query option name: {e}")))?;
                let v = percent_decode(&v.replace('+', " "))
                    .map_err(|e| bad(format!("query option value: {e}")))?;
                if !v.is_empty() {
                    query.push((k, v));
                }
            }
        }
        Ok(BackendUrl {
            scheme,
            scheme_text: scheme_text.to_string(),
            username,
            password,
            hosts,
            path,
            query,
        })
    }

    /// The last value of a query option, as tooz collapses repeated options.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The contents of the file that option `name` names (a CA, a certificate, a key):
    /// `None` when the option is absent; a one-line [`Error::InvalidUrl`] naming the option
    /// and the path when it cannot be read. Every backend reads such files through here.
    pub fn option_file(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(path) = self.option(name) else {
            return Ok(None);
        };
        std::fs::read(path)
            .map(Some)
            .map_err(|e| Error::InvalidUrl(format!("option {name}={path}: cannot read it: {e}")))
    }

    /// Every value of a list option (`hosts`, `sentinel_fallback`), in order.
    pub fn options(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean option read as oslo's `bool_from_string`.
    pub fn bool_option(&self, name: &str) -> Option<bool> {
        self.option(name).map(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "t" | "true" | "on" | "y" | "yes"
            )
        })
    }

    /// A number of seconds (tooz reads these as int or float); a bad or out-of-range value
    /// (negative, not finite, over [`MAX_SECONDS`]) is a usage error, never a panic.
    pub fn seconds_option(&self, name: &str) -> Result<Option<std::time::Duration>, Error> {
        match self.option(name) {
            None => Ok(None),
            Some(v) => seconds(v).map(Some).map_err(|why| {
                let v = if is_secret_option(name) {
                    "***".to_string()
                } else {
                    shorten(v, 40)
                };
                Error::InvalidUrl(format!("option {name}={v} {why} in backend URL '{self}'"))
            }),
        }
    }

    /// The password, for a backend's connect code only.
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// Replace the password (from a config file's `password_file:` or an env variable).
    pub fn set_password(&mut self, password: Secret) {
        self.password = Some(password);
    }
}

impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme_text)?;
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => write!(f, "{}:***@", percent_encode(u))?,
            (None, Some(_)) => f.write_str(":***@")?,
            (Some(u), None) => write!(f, "{}@", percent_encode(u))?,
            (None, None) => {}
        }
        let hosts: Vec<String> = self.hosts.iter().map(|h| h.to_string()).collect();
        f.write_str(&hosts.join(","))?;
        f.write_str(&percent_encode_path(&self.path))?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            let v = if is_secret_option(k) {
                "***".to_string()
            } else {
                percent_encode(v)
            };
            write!(f, "{sep}{}={}", percent_encode(k), v)?;
        }
        Ok(())
    }
}

impl fmt::Debug for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackendUrl({self})")
    }
}

/// The largest number of seconds a URL option may give (about 11.5 days): every backend
/// turns these into deadlines and lease lengths, and ZooKeeper's session timeout is a
/// 32-bit count of milliseconds.
pub const MAX_SECONDS: f64 = 1_000_000.0;

/// A number of seconds as tooz reads it (int or float), within `0..=MAX_SECONDS`.
pub fn seconds(v: &str) -> Result<std::time::Duration, String> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        Ok(s) if s.is_finite() && s > MAX_SECONDS => {
            Err(format!("is over the maximum of {MAX_SECONDS} seconds"))
        }
        _ => Err("is not a number of seconds".to_string()),
    }
}

/// Query options that carry secrets: any whose name says password, secret, token or key
/// (Redis Sentinel's `sentinel_password`, ZooKeeper's `keyfile_password`, ...). Options
/// naming a file (`keyfile`, `certfile`) hold a path, not a secret, and are shown.
pub fn is_secret_option(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    if k.ends_with("file") {
        return false;
    }
    ["password", "passwd", "secret", "token", "key"]
        .iter()
        .any(|w| k.contains(w))
}

/// The pieces of what follows `scheme://`, split the one way both parsing and [`redact`]
/// use. The user info ends at the LAST `@` (so a password may hold `/`, `?`, `#`, `@` and
/// `:` unencoded); an `@` in the path or query must therefore be written `%40`. When the
/// text starts with `/`, `?` or `#` the authority is empty (`file:///dir`).
struct Parts<'a> {
    userinfo: Option<&'a str>,
    hosts: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split_rest(rest: &str) -> Parts<'_> {
    let secrets = secret_values(rest);
    let in_secret = |i: usize| secrets.iter().any(|r| r.contains(&i));
    let (userinfo, after) = if rest.starts_with(['/', '?', '#']) {
        (None, rest)
    } else {
        // The last `@` that is not inside the value of a secret query option.
        match rest
            .match_indices('@')
            .map(|(i, _)| i)
            .rfind(|&i| !in_secret(i))
        {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        }
    };
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (hosts, tail) = after.split_at(host_end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, tail) = tail.split_at(path_end);
    let query = tail
        .strip_prefix('?')
        .map(|q| q.split('#').next().unwrap_or(""));
    Parts {
        userinfo,
        hosts,
        path,
        query,
    }
}

/// A fragment of input for a message: at most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

fn parse_hostport(part: &str) -> Result<HostPort, String> {
    if part.is_empty() {
        return Err("empty host in host list".into());
    }
    let (host, port) = if let Some(rest) = part.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in host")?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(p)),
            None if after.is_empty() => (h.to_string(), None),
            None => return Err("unexpected text after a ']' in the host list".to_string()),
        }
    } else {
        match part.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (part.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| "a port is not a number from 0 to 65535".to_string())?,
        ),
    };
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/\\?#@".contains(c))
    {
        return Err("a host name contains a character not allowed in host names".to_string());
    }
    Ok(HostPort {
        host: percent_decode(&host)?,
        port,
    })
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // The escape is not quoted back: it may be part of a password.
            let hex = s.get(i + 1..i + 3).ok_or("truncated percent-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent-escape".to_string())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-escapes do not decode to UTF-8".to_string())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_encode_path(s: &str) -> String {
    s.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The URL as messages show it, computed from the raw text before any parsing. Hidden
/// (each run as `***`): everything between `scheme://` and the last `@` (unless the
/// authority is empty, as in `file:///dir`), and the value of every query option whose name
/// says password, secret, token or key ([`is_secret_option`]), up to the next `&` or `;`,
/// wherever such an option appears. Text without `://` loses everything before its last
/// `@`. Parsing splits the same way, so no part of a password can show as a host or port.
pub fn redact(input: &str) -> String {
    let mut hidden: Vec<std::ops::Range<usize>> = Vec::new();
    let start = input.find("://").map(|i| i + 3);
    let rest_start = start.unwrap_or(0);
    let rest = &input[rest_start..];
    if start.is_none() || !rest.starts_with(['/', '?', '#']) {
        if let Some(at) = rest.rfind('@') {
            // Already redacted (`user:***@`, as `Display` shows it): leave it as it is.
            let ui = &rest[..at];
            let done = ui == "***" || (ui.ends_with(":***") && ui.matches(':').count() == 1);
            if !done {
                hidden.push(rest_start..rest_start + at);
            }
        }
    }
    hidden.extend(
        secret_values(rest)
            .into_iter()
            .map(|r| r.start + rest_start..r.end + rest_start),
    );
    let mut out = String::with_capacity(input.len());
    let mut in_hidden = false;
    for (i, c) in input.char_indices() {
        if hidden.iter().any(|r| r.contains(&i)) {
            if !in_hidden {
                out.push_str("***");
                in_hidden = true;
            }
        } else {
            in_hidden = false;
            out.push(c);
        }
    }
    out
}

/// [`redact`], with the host list after the user info hidden too: for a text that may
/// not be a URL at all (a misplaced argument quoted back, a URL whose hosts do not parse),
/// where what follows an `@` may be the rest of a password that holds one
/// (`redis://:pa@ss` has no host).
pub fn redact_hosts_too(input: &str) -> String {
    let shown = redact(input);
    let Some(i) = shown.find("://***@") else {
        return shown;
    };
    let rest = &shown[i + 7..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    format!("{}://***@***{}", &shown[..i], &rest[end..])
}

/// Byte ranges of `text` holding the value of a secret query option: after `?`, `&` or
/// `;`, a name that [`is_secret_option`] (raw or percent-decoded), `=`, then everything up to
/// the next `&` or `;`.
fn secret_values(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(['?', '&', ';']) {
        let after = &text[i + 1..];
        let Some(eq) = after.find('=') else { continue };
        let key = &after[..eq];
        if key.contains(['&', ';', '?']) || !secret_raw_key(key) {
            continue;
        }
        let start = i + 1 + eq + 1;
        let end = text[start..]
            .find(['&', ';'])
            .map(|j| start + j)
            .unwrap_or(text.len());
        if end > start {
            out.push(start..end);
        }
    }
    out
}

/// A raw (still percent-encoded) option name that names a secret, read both ways.
fn secret_raw_key(k: &str) -> bool {
    let k = k.replace('+', " ");
    is_secret_option(&k) || percent_decode(&k).is_ok_and(|d| is_secret_option(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_with_password_is_redacted_everywhere() {
        let u =
            BackendUrl::parse("redis://:s3cret@10.0.0.5:6379?timeout=10&namespace=_tooz").unwrap();
        assert_eq!(u.scheme, Scheme::Redis);
        assert_eq!(u.password().unwrap().expose(), "s3cret");
        assert_eq!(
            u.hosts,
            vec![HostPort {
                host: "10.0.0.5".into(),
                port: Some(6379)
            }]
        );
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            u.to_string(),
            "redis://:***@10.0.0.5:6379?timeout=10&namespace=_tooz"
        );
    }

    #[test]
    fn ensemble_and_repeated_options() {
        let u = BackendUrl::parse(
            "kazoo://zk1:2181,zk2:2181,[::1]:2182?timeout=5&timeout=7&hosts=a:1&hosts=b:2",
        )
        .unwrap();
        assert_eq!(u.scheme, Scheme::Zookeeper);
        assert_eq!(u.hosts.len(), 3);
        assert_eq!(u.hosts[2].host, "::1");
        assert_eq!(u.option("timeout"), Some("7"));
        assert_eq!(u.options("hosts"), vec!["a:1", "b:2"]);
    }

    #[test]
    fn file_url_path_and_empty_values() {
        let u = BackendUrl::parse("file:///var/lib/toozctl?timeout=&ssl=yes").unwrap();
        assert_eq!(u.path, "/var/lib/toozctl");
        assert!(u.hosts.is_empty());
        assert_eq!(u.option("timeout"), None);
        assert_eq!(u.bool_option("ssl"), Some(true));
    }

    #[test]
    fn errors_name_the_part_and_hide_the_password() {
        let e = BackendUrl::parse("mongodb://u:pw@h")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown scheme 'mongodb'") && !e.contains("pw@"),
            "{e}"
        );
        let e = BackendUrl::parse("redis://u:pw@h:99999")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("port is not a number") && !e.contains("pw"),
            "{e}"
        );
        assert!(BackendUrl::parse("nothing").is_err());
    }

    #[test]
    fn secret_query_options_are_redacted() {
        let u = BackendUrl::parse("redis://h?sentinel=m&sentinel_password=pw").unwrap();
        assert!(!u.to_string().contains("pw"));
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: random URLs of every scheme carrying a known password, through
    //! parsing, `Display`, `Debug`, option readers and every error message.
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{8}"
    }

    /// A password with URL-meaningful characters between two tokens that are looked for.
    fn password() -> impl Strategy<Value = (String, String, String)> {
        (token(), "[/#?@:%&;=+ a-z]{0,6}", token()).prop_map(|(a, mid, b)| {
            let pw = format!("{a}{mid}{b}");
            (pw, a, b)
        })
    }

    fn url() -> impl Strategy<Value = (String, String, String)> {
        let scheme = prop_oneof![
            Just("file"),
            Just("redis"),
            Just("rediss"),
            Just("zookeeper"),
            Just("kazoo"),
            Just("etcd3+http"),
            Just("etcd3+https"),
            Just("mongodb"),
        ];
        let host = prop_oneof![
            Just("127.0.0.1:6379".to_string()),
            Just("h1:2181,h2:x".to_string()),
            Just("[::1]:1".to_string()),
            Just("[::1".to_string()),
            Just("".to_string()),
            Just("h:99999".to_string()),
            "[a-z0-9.:,\\[\\]%-]{0,12}",
        ];
        let user = prop_oneof![Just(""), Just("u"), Just("a%zz")];
        let path = prop_oneof![Just(""), Just("/"), Just("/x/y"), Just("/a%zz")];
        let opt = prop_oneof![
            Just("timeout=1e100"),
            Just("timeout=5"),
            Just("lock_timeout=-1"),
            Just("x=%zz"),
            Just("namespace=a"),
            Just("socket_timeout=NaN"),
            Just("membership_timeout=18446744073709551616"),
        ];
        (
            scheme,
            user,
            password(),
            host,
            path,
            proptest::collection::vec(opt, 0..3),
            0..4u8,
        )
            .prop_map(|(s, u, (pw, a, b), h, p, opts, where_pw)| {
                let mut q: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
                let auth = match where_pw {
                    // In the user info.
                    0 | 1 => format!("{u}:{pw}@"),
                    // In a secret query option ('&' and ';' end a query value).
                    _ => {
                        let qpw: String = pw.chars().filter(|c| !"&;".contains(*c)).collect();
                        let key = ["sentinel_password", "keyfile_password", "x_token", "SECRET"]
                            [where_pw as usize % 4];
                        q.insert(q.len() / 2, format!("{key}={qpw}"));
                        String::new()
                    }
                };
                let query = if q.is_empty() {
                    String::new()
                } else {
                    format!("?{}", q.join("&"))
                };
                (format!("{s}://{auth}{h}{p}{query}"), a, b)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn no_output_shows_the_password((input, a, b) in url()) {
            let mut shown = vec![redact(&input)];
            match BackendUrl::parse(&input) {
                Err(e) => shown.push(e.to_string()),
                Ok(u) => {
                    shown.push(u.to_string());
                    shown.push(format!("{u:?}"));
                    for k in ["timeout", "lock_timeout", "membership_timeout", "socket_timeout",
                              "sentinel_password", "x_token"] {
                        if let Err(e) = u.seconds_option(k) {
                            shown.push(e.to_string());
                        }
                    }
                    shown.extend(u.hosts.iter().map(|h| h.to_string()));
                }
            }
            for s in &shown {
                prop_assert!(!s.contains(&a) && !s.contains(&b), "{input} showed {s}");
            }
        }

        #[test]
        fn any_text_parses_or_errs_without_panic(input in "\\PC{0,60}") {
            let _ = BackendUrl::parse(&input).map(|u| u.to_string());
            let _ = redact(&input);
        }

        #[test]
        fn seconds_never_panic(v in prop_oneof![
            "[-+]?[0-9]{0,25}(\\.[0-9]{0,5})?(e[-+]?[0-9]{1,4})?",
            "\\PC{0,12}",
        ]) {
            if let Ok(d) = seconds(&v) {
                prop_assert!(d.as_secs_f64() <= MAX_SECONDS);
            }
        }
    }
}
