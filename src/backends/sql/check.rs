//! `toozctl check` on MySQL/MariaDB and PostgreSQL: what both report the same way (the
//! fencing-token table, TLS, authentication, round trip and clock skew from measurements
//! each backend makes with its own SQL). Reads only: whether `toozctl_locks` could be
//! created is asked of the server's privilege tables, never tried.

use std::time::Duration;

use super::TABLE;
use crate::coordination::check::{self, Finding};

/// The meaning of the clock-skew finding on both servers; `clock` names the SQL clock.
pub fn skew_meaning(clock: &str) -> String {
    format!(
        "--once-per runs on the server's clock ({clock}, µs), so skew does not change its periods; holder records' 'since' use each machine's clock"
    )
}

/// Round trip: the best of the measured ones.
pub fn round_trip(samples: &[Duration]) -> Finding {
    check::round_trip(samples.iter().copied().min().unwrap_or(Duration::MAX))
}

/// Whether fencing tokens can be handed out: the table exists, or can be created by the
/// first lock (`creatable`: `None` when the server would not say).
pub fn fencing_tokens(database: Option<&str>, exists: bool, creatable: Option<bool>) -> Finding {
    const CHECK: &str = "fencing tokens";
    let Some(db) = database else {
        return Finding::warn(
            CHECK,
            "no database in the URL",
            format!("{TABLE} (fencing counters and holder records) needs a database: every lock fails (exit 69) until the URL names one"),
        );
    };
    match (exists, creatable) {
        (true, _) => Finding::ok(
            CHECK,
            format!("{TABLE} present in '{db}'"),
            "each lock's holder advances its counter in the same session: tokens of one name strictly increase",
        ),
        (false, Some(true)) => Finding::ok(
            CHECK,
            format!("{TABLE} not yet in '{db}', creatable"),
            "the first lock creates it; tokens of one name then strictly increase",
        ),
        (false, Some(false)) => Finding::warn(
            CHECK,
            format!("{TABLE} missing in '{db}', no CREATE privilege"),
            "every lock fails (exit 69) until the table exists: grant CREATE or create it as the backend's docs show",
        ),
        (false, None) => Finding::warn(
            CHECK,
            format!("{TABLE} missing in '{db}'"),
            "the server did not say whether this user may create it: the first lock will try, and fails (exit 69) if it cannot",
        ),
    }
}

/// TLS as the session reports it (`cipher`: `Some("")` or `None` when off).
pub fn tls(cipher: Option<&str>, local_socket: bool, hint: &str) -> Finding {
    match cipher.filter(|c| !c.is_empty()) {
        Some(c) => Finding::ok(
            "tls",
            format!("on ({c})"),
            "traffic and the password are encrypted",
        ),
        None if local_socket => Finding::info("tls", "off (Unix socket)", "local traffic only"),
        None => Finding::info(
            "tls",
            "off",
            format!("traffic, including the password, travels in clear{hint}"),
        ),
    }
}

pub fn auth(password: bool, user: &str) -> Finding {
    if password {
        Finding::ok(
            "authentication",
            format!("password (user '{user}')"),
            "the server checks who connects",
        )
    } else {
        Finding::info(
            "authentication",
            format!("no password (user '{user}')"),
            "the server let this user in without a password (trust, peer or an account without one): anyone who can connect as it can break locks",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::check::Level;

    #[test]
    fn fencing_token_table() {
        assert_eq!(fencing_tokens(Some("d"), true, None).level, Level::Ok);
        assert_eq!(
            fencing_tokens(Some("d"), false, Some(true)).level,
            Level::Ok
        );
        assert_eq!(
            fencing_tokens(Some("d"), false, Some(false)).level,
            Level::Warn
        );
        assert_eq!(fencing_tokens(None, false, None).level, Level::Warn);
        assert_eq!(tls(Some(""), false, "").level, Level::Info);
        assert_eq!(tls(Some("TLS_AES_256"), false, "").level, Level::Ok);
    }
}
