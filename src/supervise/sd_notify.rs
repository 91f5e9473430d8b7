//! systemd's readiness protocol (`sd_notify(3)`) for `Type=notify` units: datagrams of
//! `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET` (a path, or an abstract
//! socket written `@name`). `config` reads the variable once (and takes it out of the
//! environment, so COMMAND does not inherit it: toozctl is the unit's main process and
//! speaks for it) and [`init`] hands it here; without it every call does nothing.
//!
//! What toozctl sends: `STATUS=` lines while it waits ("waiting for lock 'x', held by m1"),
//! `READY=1` with `MAINPID=` (toozctl's pid) once the primitive is held and COMMAND has
//! been started (or, without COMMAND, once it is held), and `STOPPING=1` when it starts
//! giving the primitive back. Sending is best effort: a unit without a listener must not
//! fail because of it. Knows no backend.

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

static SOCKET: OnceLock<Option<OsString>> = OnceLock::new();

/// Set the socket from `$NOTIFY_SOCKET` (the first call wins).
pub fn init(socket: Option<OsString>) {
    let _ = SOCKET.set(socket.filter(|s| !s.is_empty()));
}

/// Whether a service manager listens (`$NOTIFY_SOCKET` was set).
pub fn enabled() -> bool {
    SOCKET.get().is_some_and(|s| s.is_some())
}

/// Send `msg` (`KEY=VALUE` lines); best effort, errors are ignored.
pub fn send(msg: &str) {
    if let Some(Some(path)) = SOCKET.get() {
        let _ = send_to(path, msg);
    }
}

/// `READY=1` with our pid as the main pid and a `STATUS=` line.
pub fn ready(status: &str) {
    send(&format!(
        "READY=1\nMAINPID={}\nSTATUS={}",
        std::process::id(),
        status.replace('\n', " ")
    ));
}

/// A `STATUS=` line (one line: newlines become spaces).
pub fn status(text: &str) {
    send(&format!("STATUS={}", text.replace('\n', " ")));
}

fn send_to(path: &OsString, msg: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let sock = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), std::path::Path::new(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send_to(&path.clone().into_os_string(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("toozctl-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(&OsString::from(format!("@{name}")), "STOPPING=1").unwrap();
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
