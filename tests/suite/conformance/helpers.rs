//! Small pieces the scenarios share: running a command to its end, reading the interval
//! log that contenders write, checking that no two intervals overlap.

use std::process::{Command, Output};

/// Run to the end: (exit code, stdout, stderr).
pub fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run toozctl");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A shell snippet for COMMAND that appends `start <token> <ns>` and `end <token> <ns>`
/// (CLOCK_REALTIME, ns) around `body` to `log`.
pub fn logged(log: &std::path::Path, body: &str) -> String {
    format!(
        "echo start $TOOZCTL_FENCING_TOKEN $$ $(date +%s%N) >> {l}; {body}; echo end $TOOZCTL_FENCING_TOKEN $$ $(date +%s%N) >> {l}",
        l = log.display()
    )
}

/// One COMMAND run as [`logged`] wrote it.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    pub token: u64,
    pub start: u128,
    pub end: u128,
}

/// The intervals in `log`, in start order; panics on a start without an end.
pub fn intervals(log: &std::path::Path) -> Vec<Interval> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut open: std::collections::HashMap<String, (u64, u128)> = Default::default();
    let mut done = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (token, pid, t): (u64, &str, u128) = (
            f[1].parse().expect("token"),
            f[2],
            f[3].parse().expect("time"),
        );
        match f[0] {
            "start" => {
                open.insert(pid.to_string(), (token, t));
            }
            _ => {
                let (tok, s) = open.remove(pid).expect("end without start");
                assert_eq!(tok, token, "token changed during one run:\n{text}");
                done.push(Interval {
                    token,
                    start: s,
                    end: t,
                });
            }
        }
    }
    assert!(open.is_empty(), "runs without an end:\n{text}");
    done.sort_by_key(|i| i.start);
    done
}

/// No two intervals overlap, and fencing tokens strictly increase in start order.
pub fn assert_serial(iv: &[Interval]) {
    for w in iv.windows(2) {
        assert!(
            w[0].end <= w[1].start,
            "two holders at once: {:?} and {:?}",
            w[0],
            w[1]
        );
        assert!(
            w[0].token < w[1].token,
            "fencing tokens do not increase: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}
