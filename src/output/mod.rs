//! Everything toozctl prints goes through here: log lines on stderr (by verbosity),
//! the waiting spinner (only on a terminal), and results on stdout as text, JSON or YAML.
//! Nothing decorative is printed when stderr is not a terminal, so cron mail stays clean.
//! Every text path (log and error lines, the spinner, tables, plain lines, `emit`) goes
//! through [`escape`], so no name, member id, holder record or COMMAND word from a backend
//! reaches the terminal with a control or bidi-override character in it.

pub mod escape;
pub mod spinner;
pub mod table;

use std::io::Write;

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};

pub use escape::{shorten, unescape};
pub use spinner::Spinner;

/// Log lines on stderr, each prefixed `toozctl: `. Errors always print; warnings unless
/// `-q`; info with `-v`; debug with `-vv`.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    verbosity: i8,
}

impl Log {
    pub fn new(verbosity: i8) -> Log {
        Log { verbosity }
    }

    fn line(&self, level: &str, msg: &str) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "toozctl: {level}{}", escape::message(msg));
    }

    pub fn error(&self, msg: &str) {
        self.line("", msg);
    }

    pub fn warn(&self, msg: &str) {
        if self.verbosity >= 0 {
            self.line("warning: ", msg);
        }
    }

    pub fn info(&self, msg: &str) {
        if self.verbosity >= 1 {
            self.line("", msg);
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.verbosity >= 2 {
            self.line("debug: ", msg);
        }
    }

    pub fn verbosity(&self) -> i8 {
        self.verbosity
    }
}

/// Print one result on stdout: `text()` for text output, the value itself for JSON/YAML.
pub fn emit<T: Serialize>(
    format: OutputFormat,
    value: &T,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let out = match format {
        OutputFormat::Text => {
            let mut t = escape::escape(&text()).into_owned();
            if !t.ends_with('\n') {
                t.push('\n');
            }
            t
        }
        OutputFormat::Json => {
            escape::json(
                serde_json::to_string(value)
                    .map_err(|e| Error::Internal(format!("encoding JSON: {e}")))?,
            ) + "\n"
        }
        OutputFormat::Yaml => {
            escape::yaml(value).map_err(|e| Error::Internal(format!("encoding YAML: {e}")))?
        }
    };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth a message.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    Ok(())
}

/// RFC 3339 in UTC with milliseconds, as every `acquired_at` is shown.
pub fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
