//! inotify, with polling when the operating system will not give us any.
//!
//! Every inotify instance counts against the user's `fs.inotify.max_user_instances`
//! (often 128) and every watch against `max_user_watches`, so the 129th concurrent
//! `group join` of a user would fail at `inotify_init` (EMFILE) or `inotify_add_watch`
//! (ENOSPC). Running out is not an error of ours and never ends a command: the waiter falls
//! back to polling at a short interval and says so once at `-v` (a note through
//! `coordination::note`, since backends do not print).

use std::path::PathBuf;
use std::time::Duration;

use inotify::{Inotify, WatchMask};
use tokio_stream::StreamExt;

/// Polling interval when inotify is not available.
pub(super) const POLL: Duration = Duration::from_millis(200);

pub(super) type Stream = inotify::EventStream<[u8; 4096]>;

/// An inotify stream watching `paths`, or `None` (after a note saying why) when the
/// system refuses one. A path that does not exist is skipped, not an error.
pub(super) fn stream(paths: &[(PathBuf, WatchMask)], what: &str) -> Option<Stream> {
    let fallback = |e: std::io::Error| {
        crate::coordination::note(&format!(
            "inotify is not available ({e}); {what} by polling every {} ms instead",
            POLL.as_millis()
        ));
    };
    let inotify = match Inotify::init() {
        Ok(i) => i,
        Err(e) => {
            fallback(e);
            return None;
        }
    };
    for (p, mask) in paths {
        match inotify.watches().add(p, *mask) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                fallback(e);
                return None;
            }
        }
    }
    match inotify.into_event_stream([0u8; 4096]) {
        Ok(s) => Some(s),
        Err(e) => {
            fallback(e);
            None
        }
    }
}

/// Something to wait on for "maybe something changed": inotify events, else a timer.
pub(super) struct Wake {
    stream: Option<Stream>,
    poll: Duration,
}

impl Wake {
    pub fn new(paths: &[(PathBuf, WatchMask)], what: &str) -> Wake {
        Wake {
            stream: stream(paths, what),
            poll: POLL,
        }
    }

    /// Poll this often when inotify is not available.
    pub fn with_poll(mut self, poll: Duration) -> Wake {
        self.poll = poll;
        self
    }

    /// Wait until something may have changed. A broken inotify stream turns into polling.
    pub async fn next(&mut self) {
        match self.stream.as_mut() {
            Some(s) => match s.next().await {
                Some(Ok(_)) => {}
                _ => self.stream = None,
            },
            None => tokio::time::sleep(self.poll).await,
        }
    }
}
