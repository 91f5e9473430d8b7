//! The pieces of the command line every command shares (clap derive): the global options,
//! the wait flags (`-n/-w/-E`) and the supervision flags that `lock`, `elect` and
//! `group join` flatten in, duration parsing, and the exit-code text. Parsing only: values
//! are validated here so bad input exits 2 before any connection, and resolved into a
//! `Context` by `config`. It imports nothing from `commands` (the command tree, [`Cli`]
//! and its `Command` enum, lives there), so dependencies point one way.
//!
//! [`Cli`]: crate::commands::Cli

use std::time::Duration;

use clap::{Args, ValueEnum};

/// The exit-code table, shown under every command's `--help`: rendered from
/// [`crate::error::code::TABLE`], so it cannot drift from the codes toozctl uses.
pub const EXIT_CODES: ExitCodes = ExitCodes;

/// Displays the exit-code table (see [`EXIT_CODES`]).
pub struct ExitCodes;

impl std::fmt::Display for ExitCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exit status:")?;
        for (code, meaning) in crate::error::code::TABLE {
            write!(f, "\n  {code:<5}{meaning}")?;
        }
        Ok(())
    }
}

/// Options accepted by every command, before or after it.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host's System V semaphores); a password in it shows in `ps`: use --password-file or a profile's password_file/password_env
    #[arg(
        short = 'b',
        long,
        env = "TOOZCTL_BACKEND",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub backend: Option<String>,
    /// A named profile from the config file
    #[arg(
        short = 'p',
        long,
        env = "TOOZCTL_PROFILE",
        hide_env_values = true,
        global = true,
        value_name = "NAME"
    )]
    pub profile: Option<String>,
    /// YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]
    #[arg(
        long,
        env = "TOOZCTL_CONFIG",
        hide_env_values = true,
        global = true,
        value_name = "PATH"
    )]
    pub config: Option<std::path::PathBuf>,
    /// Take backend_url (and member_id) from the [coordination] section of an OpenStack service config
    #[arg(long, global = true, value_name = "PATH")]
    pub oslo_config: Option<std::path::PathBuf>,
    /// Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)
    #[arg(
        long,
        env = "TOOZCTL_PASSWORD_FILE",
        hide_env_values = true,
        global = true,
        value_name = "PATH"
    )]
    pub password_file: Option<std::path::PathBuf>,
    /// Member id [default: <hostname>-<pid>]
    #[arg(
        short = 'm',
        long,
        env = "TOOZCTL_MEMBER_ID",
        hide_env_values = true,
        global = true,
        value_name = "ID"
    )]
    pub member_id: Option<String>,
    /// Output format
    #[arg(
        short = 'o',
        long,
        env = "TOOZCTL_OUTPUT",
        hide_env_values = true,
        global = true,
        value_enum,
        value_name = "FMT"
    )]
    pub output: Option<OutputFormat>,
    /// More logging on stderr (repeat for more)
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less logging on stderr: only errors
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Tables on a terminal, plain lines otherwise
    #[default]
    Text,
    Json,
    Yaml,
}

/// `-E`'s default: a lock or leadership held elsewhere ends toozctl with status 1.
pub const DEFAULT_CONFLICT_EXIT_CODE: i32 = 1;
/// `--on-lost`'s default.
pub const DEFAULT_ON_LOST: OnLost = OnLost::Term;

/// `-n`, `-w`, `-E`: how long `lock` and `elect` wait, and their status when they give up.
#[derive(Debug, Args, Clone)]
pub struct WaitArgs {
    /// Fail at once if another holds it (the lock, or the group's leadership)
    #[arg(short = 'n', long, conflicts_with = "wait")]
    pub no_wait: bool,
    /// Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]
    #[arg(short = 'w', long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
    /// Exit status when not acquired (or not elected)
    #[arg(short = 'E', long, value_name = "N", default_value_t = DEFAULT_CONFLICT_EXIT_CODE, value_parser = clap::value_parser!(i32).range(0..=255))]
    pub conflict_exit_code: i32,
}

/// `--on-lost` and `--kill-after`: how a COMMAND is stopped, shared by every holding command.
#[derive(Debug, Args, Clone)]
pub struct SuperviseArgs {
    /// What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore
    #[arg(long, value_enum, default_value_t = DEFAULT_ON_LOST, value_name = "ACTION")]
    pub on_lost: OnLost,
    /// Grace after the first SIGTERM before SIGKILL goes to COMMAND's whole process tree, never past the lease's safe deadline [default: 10s, or half the lease when that is shorter]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub kill_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnLost {
    Term,
    Kill,
    Ignore,
}

/// The shortest `--ttl`: a lease must outlast a renewal round trip plus the safety margin
/// the supervisor keeps before its deadline (`commands::hold`), or COMMAND would be
/// stopped as soon as it starts.
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// `--ttl`: a duration of at least [`MIN_TTL`].
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < MIN_TTL {
        return Err(format!(
            "'{text}' is shorter than the shortest lease, {}s (the lease must outlast renewals and the safety margin before it expires)",
            MIN_TTL.as_secs()
        ));
    }
    Ok(d)
}

/// `--once-per`: a duration of at least one second (etcd counts leases in whole seconds).
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!(
            "'{}' is shorter than 1s, the shortest --once-per period",
            crate::output::shorten(text, 40)
        ));
    }
    Ok(d)
}

/// Parse `30s`, `5m`, `1h`, `250ms`, `1h30m`, `1.5` (plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let shown = crate::output::shorten(text, 40);
    let bad = || format!("'{shown}' is not a duration (examples: 30s, 5m, 1h, 250ms, 1.5)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return if (0.0..1e12).contains(&secs) {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(bad())
        };
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hours" => 3600.0,
            "d" | "days" => 86400.0,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    if total < 1e12 {
        Ok(Duration::from_secs_f64(total))
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        for bad in ["", "x", "5 parsecs", "-1", "1e400", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    mod fuzz {
        //! Property tests: any text through the duration parsers, never a panic, never an
        //! out-of-range value.
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]
            #[test]
            fn durations_never_panic(t in prop_oneof![
                "[0-9.]{0,25}(ms|s|m|h|d|days|x)?([0-9.]{0,25}(ms|s|m|h|d))*",
                "[-+]?[0-9]{0,30}(\\.[0-9]{0,5})?(e[-+]?[0-9]{1,4})?",
                "\\PC{0,16}",
            ]) {
                if let Ok(d) = parse_duration(&t) {
                    prop_assert!(d.as_secs_f64() < 1e12);
                }
                if let Ok(d) = parse_ttl(&t) {
                    prop_assert!(d >= MIN_TTL);
                }
            }
        }
    }
}
