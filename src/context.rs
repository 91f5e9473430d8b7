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
    /// `$NOTIFY_SOCKET`: systemd's readiness socket (`supervise::sd_notify`), taken out of
    /// the environment so COMMAND does not inherit it.
    pub notify_socket: Option<std::ffi::OsString>,
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
            notify_socket: None,
        }
    }

    /// Our identity for a primitive held while `command` runs. Its holder record names
    /// only COMMAND's program unless `record_words` (`--record-command`) asks for its words.
    pub fn identity(&self, command: &[std::ffi::OsString], record_words: bool) -> Identity {
        Identity {
            member_id: self.member_id.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            command: if record_words {
                command_summary(command)
            } else {
                program_name(command)
            },
        }
    }

    pub fn quiet(&self) -> bool {
        self.verbosity < 0
    }
}

/// What holder records keep of COMMAND by default: the program's file name (no directory,
/// no arguments, which may carry secrets), at most 80 characters.
pub fn program_name(command: &[std::ffi::OsString]) -> String {
    let Some(first) = command.first() else {
        return String::new();
    };
    let path = std::path::Path::new(first);
    let name = path.file_name().unwrap_or(first.as_os_str());
    crate::output::shorten(&name.to_string_lossy(), 80)
}

/// The first words of a command line, for holder records with `--record-command` (at most
/// 80 characters).
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
