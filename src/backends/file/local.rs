//! What this machine says about a local process: its command line and the host name, for
//! the holder of a lock that another process (a tooz client, `flock(1)`) holds. Below
//! `lock` and `inspect`, importing neither.

/// The command line of a local process, at most 80 characters (`None` if it is gone).
pub(super) fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // One line: newlines and other control characters (a `python -c` script) become spaces.
    let text: String = String::from_utf8_lossy(&raw)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        return None;
    }
    if s.chars().count() > 80 {
        s = s.chars().take(77).collect::<String>() + "...";
    }
    Some(s)
}

pub(super) fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
}
