//! The waiting spinner: on a terminal only, on stderr, saying what is awaited and who
//! holds it. Off a terminal it prints nothing; with `-v` a plain log line says the same.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Log;

pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Start a spinner with `message` when stderr is a terminal and not `-q`.
    pub fn start(log: &Log, stderr_tty: bool, message: &str) -> Spinner {
        if !stderr_tty || log.verbosity() < 0 {
            log.info(message);
            return Spinner(None);
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(super::escape::message(message));
        pb.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(pb))
    }

    /// Remove the spinner line.
    pub fn finish(self) {
        if let Some(pb) = self.0 {
            pb.finish_and_clear();
        }
    }
}
