//! The one place that makes text from elsewhere (names, member ids, holder records and
//! COMMAND words that any tooz client can write on a backend) safe to show on a terminal,
//! and reads the shown form back.
//!
//! Text output shows every control character (C0, DEL, C1: ESC, BEL, newline, ...) and
//! every bidirectional-formatting character (U+061C, U+200E, U+200F, U+202A–U+202E,
//! U+2066–U+2069) and the line/paragraph separators U+2028/U+2029 as `\u{HEX}` (Rust's
//! notation, lower-case hex: ESC is `\u{1b}`). A backslash is shown doubled (`\\`) only
//! where it would otherwise be read as the start of an escape: before another backslash,
//! before an escaped character, or before `u{`. Every other backslash is shown as is, so
//! `a\b` reads `a\b`. JSON and YAML output are not touched here: serde escapes them.
//!
//! [`unescape`] reads that form back: `\\` is one backslash, `\u{HEX}` (1 to 6 hex digits
//! naming a Unicode scalar value) is that character, and any other backslash is itself.
//! So `unescape(escape(s)) == s` for every `s`, and what a listing prints can be pasted
//! into a reading command (`group members`, `group leader`, `group leave`, `group delete`,
//! `unlock`, `watch`) to name the same thing.

use std::borrow::Cow;

/// Characters that text output never prints raw.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` as text output shows it (see the module doc). Borrowed when nothing changes.
pub fn escape(s: &str) -> Cow<'_, str> {
    let risky = |c: char| c == '\\' || needs_escape(c);
    if !s.chars().any(risky) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else if c == '\\' {
            let rest = &s[i + 1..];
            let ambiguous = rest.starts_with("u{") || rest.chars().next().is_some_and(risky);
            out.push_str(if ambiguous { "\\\\" } else { "\\" });
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Read the form [`escape`] prints back into the text it shows.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('\\') {
            out.push('\\');
            rest = r;
        } else if let Some((c, r)) = escaped_char(after) {
            out.push(c);
            rest = r;
        } else {
            out.push('\\');
            rest = after;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `u{HEX}` at the start of `s`: the character and what follows it.
fn escaped_char(s: &str) -> Option<(char, &str)> {
    let body = s.strip_prefix("u{")?;
    let end = body.find('}')?;
    let hex = &body[..end];
    if hex.is_empty() || hex.len() > 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
    Some((c, &body[end + 1..]))
}

/// JSON text made terminal-safe: serde_json escapes C0 controls itself, but writes C1
/// controls (a CSI is U+009B) and bidi overrides raw; they can only occur inside strings,
/// where `\uXXXX` means the same character, so the document is unchanged for any reader.
pub fn json(text: String) -> String {
    if !text.chars().any(needs_escape) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// YAML text of `value`, terminal-safe: serde_yaml escapes control characters in the
/// double-quoted scalars it chooses for them, but writes bidi overrides raw, even in plain
/// scalars. A document that would show one raw is written instead in YAML's JSON-compatible
/// flow style (every JSON document is YAML), with them escaped as [`json`] does.
pub fn yaml<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, String> {
    let y = serde_yaml::to_string(value).map_err(|e| e.to_string())?;
    // Line ends are YAML's structure; any other raw escape-worthy character is not.
    if !y.chars().any(|c| c != '\n' && needs_escape(c)) {
        return Ok(y);
    }
    Ok(json(serde_json::to_string(value).map_err(|e| e.to_string())?) + "\n")
}

/// At most `max` characters of `s`, ending in `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    crate::coordination::url::shorten(s, max)
}

/// A log or error line as it goes to stderr: escaped, every run of more than
/// [`LONG_RUN`] characters without a space (a hostile 100k-character name) cut to
/// [`SHOWN_RUN`] characters and `…`, and, as a last net under the redaction every URL gets
/// where it is parsed, any word holding `://` redacted (a URL given where a path was
/// expected, echoed in "file ... does not exist").
pub fn message(s: &str) -> String {
    let netted = redact_words(s);
    let escaped = escape(&netted);
    let mut out = String::with_capacity(escaped.len().min(4096));
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() > LONG_RUN {
            out.push_str(&shorten(run, SHOWN_RUN));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in escaped.chars() {
        if c.is_whitespace() {
            flush(&mut run, &mut out);
            out.push(c);
        } else {
            run.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn redact_words(s: &str) -> Cow<'_, str> {
    if !s.contains("://") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") {
            out.push_str(&crate::coordination::url::redact(word));
        } else {
            out.push_str(word);
        }
    }
    Cow::Owned(out)
}

/// Runs of non-space characters longer than this are cut in messages...
pub const LONG_RUN: usize = 160;
/// ...to this many characters, the last being `…`.
pub const SHOWN_RUN: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(escape("plain-name"), "plain-name");
        assert_eq!(escape("m\u{1b}[31mRED\u{7}"), "m\\u{1b}[31mRED\\u{7}");
        assert_eq!(escape("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(escape("a\\b"), "a\\b");
        assert_eq!(escape("a\\u{1b}"), "a\\\\u{1b}");
        assert_eq!(escape("a\\\u{1b}"), "a\\\\\\u{1b}");
        assert_eq!(unescape("m\\u{1b}[31m"), "m\u{1b}[31m");
        assert_eq!(unescape("a\\b\\"), "a\\b\\");
        assert_eq!(unescape("a\\u{zz}"), "a\\u{zz}");
        assert_eq!(unescape("a\\u{110000}"), "a\\u{110000}");
        let long = "g".repeat(70_000);
        let m = message(&format!("group '{long}' does not exist"));
        assert!(m.len() < 200 && m.ends_with("does not exist"), "{m}");
    }

    fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('\\'),
                Just('u'),
                Just('{'),
                Just('}'),
                Just('\u{1b}'),
                Just('\u{202e}'),
                Just('\n'),
                Just('1'),
                Just('b'),
                any::<char>(),
            ],
            0..40,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn escape_round_trips_and_hides_controls(s in hostile()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(needs_escape), "{:?}", e);
            prop_assert_eq!(unescape(&e), s.as_str());
            let m = message(&s);
            prop_assert!(!m.chars().any(needs_escape));
            let j = json(serde_json::to_string(&s).unwrap());
            prop_assert!(!j.chars().any(needs_escape), "{:?}", j);
            prop_assert_eq!(serde_json::from_str::<String>(&j).unwrap(), s.clone());
            let y = yaml(&vec![&s]).unwrap();
            prop_assert!(!y.chars().any(|c| c != '\n' && needs_escape(c)), "{:?}", y);
            prop_assert_eq!(serde_yaml::from_str::<Vec<String>>(&y).unwrap(), vec![s.clone()]);
        }
    }
}
