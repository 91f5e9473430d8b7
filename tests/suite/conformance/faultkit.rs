//! What the fault scenarios share: a running `toozctl` whose stderr is collected as it
//! comes (so a test can wait for "waiting for lock" or a loss message as an event), and a
//! look at whether any process of a process group is still alive.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `toozctl` with its stderr collected in the background.
pub struct Running {
    pub child: Child,
    err: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(mut c: Command) -> Running {
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn toozctl");
        let mut pipe = child.stderr.take().unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let sink = err.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            err,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Wait until stderr contains `text`; false after `timeout`.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> bool {
        crate::support::wait_until(timeout, || self.stderr().contains(text))
    }

    /// Wait for the exit: (code, stderr), or `None` after `timeout` (it is then killed).
    pub fn exit_within(&mut self, timeout: Duration) -> Option<(i32, String)> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Some((st.code().unwrap_or(-1), self.stderr()));
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, sig: i32) {
        crate::support::signal(self.pid(), sig);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether any live (non-zombie) process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command name (which may hold spaces): state, ppid, pgrp, ...
        let rest: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if rest.len() > 2 && rest[0] != "Z" && rest[2] == pgid.to_string() {
            return true;
        }
    }
    false
}

/// A COMMAND that writes its pid (= its process group, as toozctl starts it) to `pidfile`
/// and keeps a background child in its group, so "the whole group is dead" means something.
pub fn tree_command(pidfile: &std::path::Path, seconds: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "echo $$ > {}; sleep {seconds} & sleep {seconds}; wait",
            pidfile.display()
        ),
    ]
}

/// The pid written by [`tree_command`], once it is there.
pub fn read_pid(pidfile: &std::path::Path, timeout: Duration) -> u32 {
    let mut pid = None;
    crate::support::wait_until(timeout, || {
        pid = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("COMMAND did not start (no {})", pidfile.display()))
}
