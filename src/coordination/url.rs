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
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "file" => Scheme::File,
            "redis" | "rediss" => Scheme::Redis,
            "zookeeper" | "kazoo" => Scheme::Zookeeper,
            "etcd3+http" => Scheme::Etcd3Http,
            "etcd3+https" => Scheme::Etcd3Https,
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
    pub fn parse(input: &str) -> Result<BackendUrl, Error> {
        let bad = |what: String| {
            Error::InvalidUrl(format!("{what} in backend URL '{}'", redact_raw(input)))
        };
        if input.contains('\0') || input.chars().any(|c| c.is_control()) {
            return Err(bad("control character".into()));
        }
        let (scheme_text, rest) = input
            .split_once("://")
            .ok_or_else(|| bad("missing '://' (expected e.g. file:///var/lib/toozctl)".into()))?;
        let scheme = Scheme::parse(scheme_text).ok_or_else(|| {
            bad(format!(
                "unknown scheme '{scheme_text}' (known: file, redis, zookeeper, kazoo, etcd3+http, etcd3+https)"
            ))
        })?;
        let (before_query, query_text) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let before_query = before_query.split('#').next().unwrap_or("");
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, ""),
        };
        let (userinfo, hostlist) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                let u = percent_decode(u).map_err(|e| bad(format!("user name: {e}")))?;
                let p = match p {
                    Some(p) => Some(Secret(
                        percent_decode(p)
                            .map_err(|_| bad("password: bad percent-encoding".into()))?,
                    )),
                    None => None,
                };
                ((!u.is_empty()).then_some(u), p)
            }
        };
        let mut hosts = Vec::new();
        if !hostlist.is_empty() {
            for part in hostlist.split(',') {
                hosts.push(parse_hostport(part).map_err(&bad)?);
            }
        }
        let path = percent_decode(path).map_err(|e| bad(format!("path: {e}")))?;
        let mut query = Vec::new();
        if let Some(q) = query_text {
            for pair in q.split(['&', ';']).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k =
                    percent_decode(&k.replace('+', " ")).map_err(|e| bad(format!("query: {e}")))?;
                let v =
                    percent_decode(&v.replace('+', " ")).map_err(|e| bad(format!("query: {e}")))?;
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

    /// A number of seconds (tooz reads these as int or float); a bad value is a usage error.
    pub fn seconds_option(&self, name: &str) -> Result<Option<std::time::Duration>, Error> {
        match self.option(name) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => {
                    Ok(Some(std::time::Duration::from_secs_f64(s)))
                }
                _ => Err(Error::InvalidUrl(format!(
                    "option {name}={v} is not a number of seconds in backend URL '{self}'"
                ))),
            },
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

/// Query options that carry secrets (Redis Sentinel, ZooKeeper TLS key).
fn is_secret_option(k: &str) -> bool {
    k.contains("password")
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
            None => return Err(format!("unexpected '{after}' after host")),
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
                .map_err(|_| format!("port '{p}' is not a number from 0 to 65535"))?,
        ),
    };
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/\\?#@".contains(c))
    {
        return Err(format!(
            "host '{host}' contains a character not allowed in a host name"
        ));
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
            let hex = s.get(i + 1..i + 3).ok_or("truncated percent-escape")?;
            out.push(
                u8::from_str_radix(hex, 16).map_err(|_| format!("bad percent-escape '%{hex}'"))?,
            );
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

/// Best-effort redaction of a URL that did not parse: hide whatever sits between the
/// first `:` after `://` and the last `@` of the authority.
pub fn redact_raw(input: &str) -> String {
    let Some(start) = input.find("://").map(|i| i + 3) else {
        return input.to_string();
    };
    let end = input[start..]
        .find(['/', '?', '#'])
        .map(|i| start + i)
        .unwrap_or(input.len());
    let authority = &input[start..end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!(
                "{}{}{}{}",
                &input[..start],
                shown,
                &authority[at..],
                &input[end..]
            )
        }
        None => input.to_string(),
    }
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
        assert!(e.contains("port '99999'") && !e.contains(":pw"), "{e}");
        assert!(BackendUrl::parse("nothing").is_err());
    }

    #[test]
    fn secret_query_options_are_redacted() {
        let u = BackendUrl::parse("redis://h?sentinel=m&sentinel_password=pw").unwrap();
        assert!(!u.to_string().contains("pw"));
    }
}
