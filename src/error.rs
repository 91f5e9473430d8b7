//! Error kinds and the contract's exit-code table, in one place.
//!
//! Every failure becomes an [`Error`]; [`Error::exit_code`] is the only mapping from
//! failures to exit statuses, and `src/bin/toozctl.rs` is the only place that exits. The
//! child's own status travels as [`Error::Child`], which carries no message.

use std::fmt;

use crate::coordination;

/// The contract's exit codes.
pub mod code {
    pub const SUCCESS: i32 = 0;
    pub const NOT_ACQUIRED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const LOST: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const UNAVAILABLE: i32 = 69;
    pub const INTERNAL: i32 = 70;

    /// Every code with its meaning, as `--help` and the man pages show them.
    pub const TABLE: &[(&str, &str)] = &[
        ("0", "success, or COMMAND exited 0"),
        ("N", "COMMAND's own status; 128+S when it died of signal S"),
        (
            "1",
            "not acquired: --no-wait found it held, --wait elapsed, or lock --once-per found a recent success (change with -E)",
        ),
        (
            "2",
            "usage or bad input: unknown flag, invalid name, malformed URL, config or capabilities",
        ),
        (
            "3",
            "lost: the lock, leadership or membership was lost while COMMAND ran",
        ),
        ("4", "not found: the group or member named does not exist"),
        (
            "69",
            "backend unavailable: could not connect or keep a session",
        ),
        ("70", "internal error"),
    ];
}

#[derive(Debug)]
pub enum Error {
    /// Bad flags, names, URLs, config or capabilities (2).
    Usage(String),
    /// `-n` found it held or `-w` elapsed; exits with `code` (1, or `-E N`).
    NotAcquired { message: String, code: i32 },
    /// A backend error, mapped by kind.
    Backend(coordination::Error),
    /// The primitive was lost while COMMAND ran (3).
    Lost(String),
    /// COMMAND's status (or 128+S): exit with it, print nothing.
    Child(i32),
    /// A signal arrived while waiting: exit 128+S, print nothing more.
    Interrupted(i32),
    /// A bug or an unexpected system failure (70).
    Internal(String),
}

impl Error {
    /// The one mapping from failures to the contract's exit codes.
    pub fn exit_code(&self) -> i32 {
        use coordination::Error as C;
        match self {
            Error::Usage(_) => code::USAGE,
            Error::NotAcquired { code, .. } => *code,
            Error::Lost(_) => code::LOST,
            Error::Child(c) => *c,
            Error::Interrupted(sig) => 128 + sig,
            Error::Internal(_) => code::INTERNAL,
            Error::Backend(e) => match e {
                C::InvalidUrl(_)
                | C::InvalidName(_)
                | C::InvalidInput(_)
                | C::Unsupported(_)
                | C::Conflict(_) => code::USAGE,
                C::NotFound(_) => code::NOT_FOUND,
                C::AlreadyExists(_) | C::NotEmpty(_) => code::NOT_ACQUIRED,
                C::Unavailable(_) => code::UNAVAILABLE,
                C::Lost(_) => code::LOST,
                C::Internal(_) => code::INTERNAL,
            },
        }
    }

    /// The one line printed on stderr, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            Error::Child(_) | Error::Interrupted(_) => None,
            Error::NotAcquired { message, .. } if message.is_empty() => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Lost(m) | Error::Internal(m) => f.write_str(m),
            Error::NotAcquired { message, .. } => f.write_str(message),
            Error::Backend(e) => write!(f, "{e}"),
            Error::Child(c) => write!(f, "command exited with status {c}"),
            Error::Interrupted(s) => write!(f, "interrupted by signal {s}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<coordination::Error> for Error {
    fn from(e: coordination::Error) -> Error {
        Error::Backend(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use coordination::Error as C;

    #[test]
    fn table() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(
            Error::NotAcquired {
                message: String::new(),
                code: 42
            }
            .exit_code(),
            42
        );
        assert_eq!(Error::Lost("x".into()).exit_code(), 3);
        assert_eq!(Error::Child(137).exit_code(), 137);
        assert_eq!(Error::Interrupted(15).exit_code(), 143);
        assert_eq!(Error::from(C::NotFound("g".into())).exit_code(), 4);
        assert_eq!(Error::from(C::Unavailable("down".into())).exit_code(), 69);
        assert_eq!(Error::from(C::InvalidName("n".into())).exit_code(), 2);
        assert_eq!(Error::from(C::Internal("bug".into())).exit_code(), 70);
        assert!(Error::Child(1).message().is_none());
    }
}
