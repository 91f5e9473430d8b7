//! Everything resolved once from global options, environment and config: the backend URL,
//! who we are, how to print. Commands get a `Context` and never read the environment or
//! config files themselves.

use std::io::IsTerminal;

use crate::cli::OutputFormat;
use crate::coordination::{BackendUrl, Identity};

#[derive(Debug, Clone)]
pub struct Context {
    pub url: BackendUrl,
    pub member_id: String,
    pub host: String,
    pub output: OutputFormat,
    /// -v count; -1 for -q.
    pub verbosity: i8,
    /// stderr is a terminal: spinners and colours allowed.
    pub stderr_tty: bool,
    /// stdout is a terminal: tables allowed.
    pub stdout_tty: bool,
}

impl Context {
    pub fn new(
        url: BackendUrl,
        member_id: String,
        host: String,
        output: OutputFormat,
        verbosity: i8,
    ) -> Context {
        Context {
            url,
            member_id,
            host,
            output,
            verbosity,
            stderr_tty: std::io::stderr().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
        }
    }

    /// Our identity for a primitive held while `command` runs.
    pub fn identity(&self, command: &[std::ffi::OsString]) -> Identity {
        Identity {
            member_id: self.member_id.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            command: command_summary(command),
        }
    }

    pub fn quiet(&self) -> bool {
        self.verbosity < 0
    }
}

/// The first words of a command line, for holder records (at most 80 characters).
pub fn command_summary(command: &[std::ffi::OsString]) -> String {
    let mut s = String::new();
    for word in command.iter().take(6) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&word.to_string_lossy());
    }
    if s.chars().count() > 80 {
        s = s.chars().take(77).collect::<String>() + "...";
    }
    s
}
