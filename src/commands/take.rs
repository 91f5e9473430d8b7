//! What `lock`, `elect` and `group join` share before and around [`super::hold`]:
//! taking a contested primitive ("try, announce, then block", as cargo does: a first
//! non-blocking attempt, and only when someone else has it, name them, start the spinner
//! and wait within `-w`), the environment COMMAND gets, and the line hold mode prints.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::hold;
use crate::cli::WaitArgs;
use crate::context::Context;
use crate::coordination::{self, Held, Wait};
use crate::error::{Error, Result};
use crate::output::{self, Log, Spinner};
use crate::supervise::Signals;

/// How a contested primitive is spoken of: "lock 'x' is held by …", "group 'g' is led by …".
pub struct Contest {
    /// "lock 'x'", "group 'g'".
    pub what: String,
    /// "held", "led".
    pub held: &'static str,
    /// The spinner's words: "waiting for lock 'x'", "waiting to lead group 'g'".
    pub waiting: String,
}

/// `-n`, `-w`, `-E`, and when the command started (a `-w` deadline counts from there).
pub struct Patience {
    pub no_wait: bool,
    pub wait: Option<Duration>,
    pub conflict_exit_code: i32,
    pub started: Instant,
}

impl Patience {
    /// From the command's `-n/-w/-E`, counting a `-w` deadline from `started`.
    pub fn new(w: &WaitArgs, started: Instant) -> Patience {
        Patience {
            no_wait: w.no_wait,
            wait: w.wait,
            conflict_exit_code: w.conflict_exit_code,
            started,
        }
    }
}

/// Take a primitive with `attempt`: once without waiting, then (unless `-n`) naming its
/// holder from `holder` and waiting within `-w`. Not taken is [`Error::NotAcquired`]
/// carrying the `-E` code; a stop signal while waiting cancels the attempt.
pub async fn take_or_wait<A, H>(
    ctx: &Context,
    log: &Log,
    signals: &mut Signals,
    contest: &Contest,
    patience: &Patience,
    attempt: A,
    holder: H,
) -> Result<Held>
where
    A: AsyncFn(Wait) -> coordination::Result<Option<Held>>,
    H: AsyncFnOnce() -> String,
{
    if let Some(h) = hold::interruptible(signals, attempt(Wait::NoWait)).await?? {
        return Ok(h);
    }
    let who = holder().await;
    let not_taken = |message: String| Error::NotAcquired {
        message: if ctx.quiet() { String::new() } else { message },
        code: patience.conflict_exit_code,
    };
    let (what, held) = (&contest.what, contest.held);
    let by = held_by(held, &who);
    if patience.no_wait {
        return Err(not_taken(format!("{what} is {by}")));
    }
    let wait = match patience.wait {
        Some(d) => Wait::Until(patience.started + d),
        None => Wait::Forever,
    };
    let waiting = format!("{}, {by}", contest.waiting);
    crate::supervise::sd_notify::status(&waiting);
    let spinner = Spinner::start(log, ctx.stderr_tty, &waiting);
    let got = hold::interruptible(signals, attempt(wait)).await;
    spinner.finish();
    match got?? {
        Some(h) => Ok(h),
        None => Err(not_taken(format!(
            "{what} still {by} after waiting {}",
            seconds(patience.wait.unwrap_or_default())
        ))),
    }
}

/// "held by X" ("led by X"), also when the holder's description already starts with "held
/// by" (backends describe tooz clients as "held by a tooz client ..."): never "held by held by".
fn held_by(held: &str, who: &str) -> String {
    format!("{held} by {}", who.strip_prefix("held by ").unwrap_or(who))
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// The environment every holding command adds for COMMAND: `subject` is
/// (`TOOZCTL_LOCK` or `TOOZCTL_GROUP`, its name); the backend is shown redacted.
pub fn child_env(
    ctx: &Context,
    subject: (&str, &str),
    fencing_token: Option<u64>,
) -> Vec<(String, String)> {
    let mut env = vec![
        (subject.0.to_string(), subject.1.to_string()),
        ("TOOZCTL_MEMBER_ID".to_string(), ctx.member_id.clone()),
        ("TOOZCTL_BACKEND".to_string(), ctx.url.to_string()),
    ];
    if let Some(t) = fencing_token {
        env.push(("TOOZCTL_FENCING_TOKEN".to_string(), t.to_string()));
    }
    env
}

/// What hold mode prints once the primitive is held (`-o json`: the contract's fields).
#[derive(Serialize)]
pub struct Announcement<'a> {
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    pub member_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquired_at: Option<String>,
}

/// Say that `done` happened ("acquired lock 'x' (fencing token 3)"): in hold mode one
/// line on stdout (`staying` says until when), otherwise a `-v` log line.
pub fn announce(
    ctx: &Context,
    log: &Log,
    hold_mode: bool,
    record: &Announcement,
    done: &str,
    staying: &str,
) {
    if hold_mode {
        let _ = output::emit(ctx.output, record, || {
            format!("{done}; {staying} until SIGINT or SIGTERM")
        });
    } else {
        log.info(done);
    }
}

#[cfg(test)]
mod tests {
    use super::held_by;

    #[test]
    fn a_holder_is_named_once() {
        assert_eq!(held_by("held", "m1 (pid 3)"), "held by m1 (pid 3)");
        assert_eq!(
            held_by(
                "held",
                "held by a tooz client (tooz stores only a random token on Redis)"
            ),
            "held by a tooz client (tooz stores only a random token on Redis)"
        );
        assert_eq!(
            held_by("led", "held by a tooz client"),
            "led by a tooz client"
        );
    }
}
