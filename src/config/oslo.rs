//! Reading `backend_url` from the `[coordination]` section of an OpenStack service config
//! (nova.conf, cinder.conf, ...), the way oslo.config reads it, so `--oslo-config` shows
//! what the service sees.
//!
//! oslo.config's ini dialect (`oslo_config/iniparser.py`): `key = value` or `key: value`
//! (whichever separator comes first); lines starting with `#` or `;` are comments, but a
//! `#` later in a line is part of the value; an indented line continues the previous value
//! (joined with a newline); a blank line ends a value; one pair of matching quotes around a
//! value is removed; a key given twice keeps its last value. Section names other than
//! `DEFAULT` are case-insensitive. Values may refer to other options as `$name`, `${name}`
//! or `${section.name}` (from the same section, then `[DEFAULT]`), and `$$` is a dollar.
//! tooz splits the URL with Python's `urlsplit`, which drops newlines and tabs, so a URL
//! continued over several lines means the lines joined.

use std::collections::HashMap;
use std::path::Path;

/// Sections by normalised name, each a map of key to (last value, line).
type Sections = HashMap<String, HashMap<String, (String, usize)>>;

fn normalise_section(name: &str) -> String {
    if name == "DEFAULT" {
        name.to_string()
    } else {
        name.to_lowercase()
    }
}

/// Parse oslo.config's ini dialect. Errors are `line N: what`.
fn parse(text: &str) -> Result<Sections, String> {
    let mut sections: Sections = HashMap::new();
    let mut section: Option<String> = None;
    // The assignment being read: key, value lines, line number.
    let mut pending: Option<(String, Vec<String>, usize)> = None;
    let flush = |sections: &mut Sections,
                 section: &Option<String>,
                 p: Option<(String, Vec<String>, usize)>| {
        if let Some((key, value, line)) = p {
            let s = section.clone().unwrap_or_default();
            sections
                .entry(s)
                .or_default()
                .insert(key, (value.join("\n"), line));
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            flush(&mut sections, &section, pending.take());
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some((_, value, _)) => value.push(line.trim_start().to_string()),
                None => {
                    return Err(format!(
                        "line {lineno}: unexpected continuation line '{}'",
                        shorten(line, 60)
                    ))
                }
            }
            continue;
        }
        flush(&mut sections, &section, pending.take());
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(format!(
                    "line {lineno}: invalid section (must end with ]): '{}'",
                    shorten(line, 60)
                ));
            }
            if line.len() <= 2 {
                return Err(format!("line {lineno}: empty section name"));
            }
            section = Some(normalise_section(&line[1..line.len() - 1]));
        } else if line.starts_with(['#', ';']) {
            continue;
        } else {
            let colon = line.find(':');
            let equal = line.find('=');
            let split = match (colon, equal) {
                (None, None) => {
                    return Err(format!(
                        "line {lineno}: no ':' or '=' found in assignment '{}'",
                        shorten(line, 60)
                    ))
                }
                (None, Some(e)) => e,
                (Some(c), None) => c,
                (Some(c), Some(e)) => c.min(e),
            };
            let key = line[..split].trim();
            if key.is_empty() {
                return Err(format!("line {lineno}: key cannot be empty"));
            }
            let mut value = line[split + 1..].trim();
            let b = value.as_bytes();
            if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
                value = &value[1..value.len() - 1];
            }
            pending = Some((key.to_string(), vec![value.to_string()], lineno));
        }
    }
    flush(&mut sections, &section, pending.take());
    Ok(sections)
}

/// Bounds on `$name` expansion: a few hundred bytes of config can otherwise refer to
/// itself into gigabytes (8 levels of 20 references is 20^8 copies).
const MAX_DEPTH: usize = 10;
const MAX_REFERENCES: usize = 1000;
const MAX_EXPANDED: usize = 64 * 1024;

/// What an expansion may still spend: references followed and bytes produced.
struct Budget {
    references: usize,
}

/// Expand `$name`, `${name}`, `${section.name}` and `$$` as oslo.config does, within
/// [`MAX_DEPTH`] levels, [`MAX_REFERENCES`] references and [`MAX_EXPANDED`] bytes.
fn expand(sections: &Sections, section: &str, value: &str) -> Result<String, String> {
    let mut budget = Budget { references: 0 };
    substitute(sections, section, value, 0, &mut budget)
}

fn substitute(
    sections: &Sections,
    section: &str,
    value: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "option references nest more than {MAX_DEPTH} deep (a loop?)"
        ));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').ok_or_else(|| "unterminated '${'".to_string())?;
            (&r[..end], &r[end + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
                continue;
            }
            (&rest[..end], &rest[end..])
        };
        let (group, key) = match name.split_once('.') {
            Some((g, k)) => (normalise_section(g), k),
            None => (section.to_string(), name),
        };
        let found = sections
            .get(&group)
            .and_then(|s| s.get(key))
            .or_else(|| sections.get("DEFAULT").and_then(|s| s.get(key)))
            .ok_or_else(|| format!("'${name}' refers to an option that is not set in this file"))?;
        budget.references += 1;
        if budget.references > MAX_REFERENCES {
            return Err(format!(
                "option references expand more than {MAX_REFERENCES} times (a reference bomb?)"
            ));
        }
        out.push_str(&substitute(sections, &group, &found.0, depth + 1, budget)?);
        if out.len() > MAX_EXPANDED {
            return Err(format!(
                "option references expand to more than {} KiB",
                MAX_EXPANDED / 1024
            ));
        }
        rest = after;
    }
    out.push_str(rest);
    if out.len() > MAX_EXPANDED {
        return Err(format!(
            "option references expand to more than {} KiB",
            MAX_EXPANDED / 1024
        ));
    }
    Ok(out)
}

/// What a service config's `[coordination]` section gives toozctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordination {
    /// `backend_url`, expanded and joined as tooz would use it.
    pub backend_url: String,
    /// `member_id`, when the section sets one (the id the service joins groups with).
    pub member_id: Option<String>,
}

/// `backend_url` of `[coordination]` in `path`; errors name the file and line.
#[cfg(test)]
pub fn backend_url(path: &Path) -> Result<String, String> {
    read(path).map(|c| c.backend_url)
}

/// `[coordination]` of `path`: `backend_url` (required) and `member_id` (optional).
pub fn read(path: &Path) -> Result<Coordination, String> {
    let text = super::read_limited(path, 16 * 1024 * 1024)
        .map_err(|e| format!("cannot read OpenStack config {}: {e}", path.display()))?;
    let sections = parse(&text).map_err(|e| format!("OpenStack config {} {e}", path.display()))?;
    let section = sections.get("coordination");
    let Some((value, line)) = section.and_then(|s| s.get("backend_url")) else {
        // Some installation guides write `driver = file`: tooz has no such option.
        let driver = section
            .and_then(|s| s.get("driver"))
            .map(|(d, l)| {
                format!(
                    " (line {l} sets driver = {}, which tooz does not read)",
                    shorten(d.trim(), 40)
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "OpenStack config {} sets no backend_url in [coordination]{driver}: tooz reads the backend \
             from [coordination] backend_url, e.g. backend_url = file:///var/lib/nova/locks \
             (without it the service uses its own default, or no coordination at all)",
            path.display()
        ));
    };
    let expanded = expand(&sections, "coordination", value).map_err(|e| {
        format!(
            "OpenStack config {} line {line}: backend_url: {e}",
            path.display()
        )
    })?;
    let url: String = expanded
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\t'))
        .collect();
    if url.trim().is_empty() {
        return Err(format!(
            "OpenStack config {} line {line}: backend_url in [coordination] is empty",
            path.display()
        ));
    }
    let member_id = match section.and_then(|s| s.get("member_id")) {
        None => None,
        Some((m, l)) => {
            let m = expand(&sections, "coordination", m).map_err(|e| {
                format!(
                    "OpenStack config {} line {l}: member_id: {e}",
                    path.display()
                )
            })?;
            Some(m.trim().to_string()).filter(|m| !m.is_empty())
        }
    };
    Ok(Coordination {
        backend_url: url.trim().to_string(),
        member_id,
    })
}

/// At most `max` characters of `s`, with `…` when cut, for echoing config text.
fn shorten(s: &str, max: usize) -> String {
    crate::coordination::url::shorten(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_of(text: &str) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.conf");
        std::fs::write(&p, text).unwrap();
        backend_url(&p)
    }

    #[test]
    fn oslo_dialect() {
        let conf = "[DEFAULT]\nmy_ip = 10.0.0.5\n# backend_url = file:///nope\n\n[Coordination]\n\
                    ; comment\nbackend_url = redis://$my_ip:6379?\n   timeout=5&\n\tnamespace=_tooz\nbackend_url: \"redis://${my_ip}:6380\"\n";
        assert_eq!(url_of(conf).unwrap(), "redis://10.0.0.5:6380");
        let cont = "[coordination]\nbackend_url = redis://h:1?\n   a=1&\n   b=$$x\n";
        assert_eq!(url_of(cont).unwrap(), "redis://h:1?a=1&b=$x");
        assert_eq!(
            url_of("[coordination]\nbackend_url = etcd3+http://e:2379 # not a comment\n").unwrap(),
            "etcd3+http://e:2379 # not a comment"
        );
        assert!(url_of("[coordination]\nbackend_url = file://$state_path\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(url_of("[database]\nconnection = x\n")
            .unwrap_err()
            .contains("no backend_url"));
        assert!(url_of("[coordination\nbackend_url = x\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(url_of("[coordination]\n  continued\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(url_of("[coordination]\nnonsense\n")
            .unwrap_err()
            .contains("line 2"));
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: random ini text in oslo.config's dialect, heavy on `$` references,
    //! parses and expands without panic and within the expansion bounds, quickly.
    use super::*;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[coordination]".to_string()),
            Just("[DEFAULT]".to_string()),
            Just("[".to_string()),
            Just("".to_string()),
            Just("# comment".to_string()),
            "  [a-z$ {}.]{0,10}",
            ("[a-d]", "[a-d$ {}.=:\"']{0,16}").prop_map(|(k, v)| format!("{k} = {v}")),
            ("[a-d]", 1..30usize).prop_map(|(k, n)| format!("{k} = {}", "$a$b${c}$d".repeat(n))),
            "backend_url = [a-z:/$@{}.]{0,20}".prop_map(|s| s),
            "member_id = [a-z$]{0,10}".prop_map(|s| s),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn expansion_is_bounded(lines in proptest::collection::vec(line(), 0..30)) {
            let text = lines.join("\n");
            if let Ok(sections) = parse(&text) {
                for (name, keys) in &sections {
                    for (value, _) in keys.values() {
                        if let Ok(v) = expand(&sections, name, value) {
                            prop_assert!(v.len() <= MAX_EXPANDED + value.len());
                        }
                    }
                }
            }
        }
    }
}
