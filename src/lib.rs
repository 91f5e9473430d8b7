//! toozctl: hold tooz-compatible distributed locks, leaderships and group memberships for
//! exactly the lifetime of a child process.
//!
//! Architecture (the two halves never reach into each other):
//! - [`coordination`]: the backend-agnostic API (traits, types, URL parsing and redaction,
//!   a held primitive = release + published health). Depends on nothing else here.
//! - [`backends`]: file, (redis, zookeeper, etcd), each implementing `coordination`
//!   without clap or printing; `backends::connect` is the only match on the URL scheme.
//! - [`supervise`]: spawn COMMAND in its own process group, forward signals, stop with a
//!   grace period, 128+S. Knows no backend.
//! - [`commands`]: one module per subcommand; the only place that joins the above.
//!   `commands::hold` is the one rule shared by every command that holds something.
//! - [`cli`], [`config`], [`context`]: parsing, then resolving global options once
//!   (`commands::fast` parses the plainest `lock` lines without building clap's tree, and
//!   leaves every other line to clap).
//! - [`output`]: everything printed; [`error`]: error kinds and the exit-code table.

pub mod backends;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod coordination;
pub mod error;
pub mod output;
pub mod supervise;

use clap::Parser;

/// Parse, resolve, run; returns the process exit status. Never exits by itself.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    // The ipc backend's semaphore holder (see `backends::ipc::holder`), started by a
    // toozctl taking an ipc:// lock.
    if backends::ipc::holder::is_entry(&args) {
        return backends::ipc::holder::main(&args);
    }
    // The plainest `lock` lines skip clap's construction (see commands/fast.rs).
    let cli = match commands::fast::parse(&args, &|k| std::env::var_os(k)) {
        Some(c) => c,
        None => {
            let urls = url_like_args(&args);
            match commands::Cli::try_parse_from(args) {
                Ok(c) => c,
                Err(e) => return report_clap_error(e, &urls),
            }
        }
    };
    // Completion scripts need no backend, and a broken config must not stop them.
    if let commands::Command::Completions(commands::Deferred(args)) = cli.command {
        return match commands::completions::run(args) {
            Ok(()) => error::code::SUCCESS,
            Err(e) => report(&e),
        };
    }
    let ctx = match config::resolve(&cli.global) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&error::Error::Internal(format!(
                "cannot start the runtime: {e}"
            )))
        }
    };
    let result = rt.block_on(commands::run(&ctx, cli.command));
    // A lock wait abandoned on a blocking thread must not hold up the exit.
    rt.shutdown_background();
    match result {
        Ok(()) => error::code::SUCCESS,
        Err(e) => report(&e),
    }
}

fn report(e: &error::Error) -> i32 {
    if let Some(m) = e.message() {
        eprintln!("toozctl: {}", output::escape::message(&m));
    }
    e.exit_code()
}

/// Arguments that may hold a URL with a password (anything with `://` or an `@`), which
/// clap may quote back in an error: they are replaced by their redacted form there, hosts
/// and all (clap quotes an argument it could not place: nothing says it is a URL whose
/// `@` ends the password).
fn url_like_args(args: &[std::ffi::OsString]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = args
        .iter()
        .filter_map(|a| a.to_str())
        .flat_map(|a| [Some(a), a.split_once('=').map(|(_, v)| v)])
        .flatten()
        .filter(|a| a.contains("://") || a.contains('@'))
        .map(|a| (a.to_string(), coordination::url::redact_hosts_too(a)))
        .filter(|(a, r)| a != r)
        .collect();
    // Longest first, so a whole `--backend=URL` is replaced before the URL inside it.
    out.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    out
}

/// clap's help and version go out as clap prints them; errors become one line, exit 2.
fn report_clap_error(e: clap::Error, urls: &[(String, String)]) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                error::code::USAGE
            } else {
                error::code::SUCCESS
            }
        }
        _ => {
            let rendered = e.render().to_string();
            // One line: the error, plus the indented detail clap puts on the next lines.
            let mut lines = rendered.lines().take_while(|l| !l.starts_with("Usage:"));
            let head = lines.next().unwrap_or("invalid arguments");
            let mut first = head.strip_prefix("error: ").unwrap_or(head).to_string();
            for detail in lines.map(str::trim).filter(|l| {
                !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more information")
            }) {
                first.push(' ');
                first.push_str(detail);
            }
            for (raw, redacted) in urls {
                first = first.replace(raw.as_str(), redacted);
            }
            eprintln!(
                "toozctl: {} (see 'toozctl --help')",
                output::escape::message(&first)
            );
            error::code::USAGE
        }
    }
}
