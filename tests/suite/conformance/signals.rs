//! Signals, on every backend: each forwarded signal reaches COMMAND once while the lock
//! stays held; a signal while waiting cancels cleanly (128+S, COMMAND never started, no
//! queue entry, key or lease left behind).

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::helpers::run;
use crate::support::fixture::{Fx, Kind};
use crate::support::{self, wait_until};

crate::on_every_backend!(
    forwards_every_signal_to_the_command,
    a_signal_while_waiting_cancels_and_leaves_nothing,
);

fn forwards_every_signal_to_the_command(kind: Kind) {
    let fx = Fx::shared(kind, "sig");
    let name = fx.name("sig");
    let marks = fx.home.path().join("marks");
    let ready = fx.home.path().join("ready");
    let script = format!(
        "for s in INT HUP QUIT USR1 USR2; do trap \"echo $s >> {m}\" $s; done; \
         trap 'echo TERM >> {m}; exit 5' TERM; touch {r}; while :; do sleep 0.05; done",
        m = marks.display(),
        r = ready.display()
    );
    let mut c = fx
        .cmd(&["lock", &name, "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || ready.exists()));
    for (sig, sname) in [
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
    ] {
        support::signal(c.id(), sig);
        assert!(
            wait_until(Duration::from_secs(5), || std::fs::read_to_string(&marks)
                .unwrap_or_default()
                .contains(sname)),
            "{sname} not forwarded"
        );
    }
    let text = std::fs::read_to_string(&marks).unwrap();
    assert_eq!(
        text.lines().count(),
        5,
        "each signal delivered once: {text}"
    );
    assert_eq!(
        run(fx.cmd(&["lock", "-n", &name, "--", "true"])).0,
        1,
        "still held while COMMAND runs"
    );
    support::signal(c.id(), libc::SIGTERM);
    assert_eq!(
        c.wait().unwrap().code(),
        Some(5),
        "COMMAND's own status after the forwarded TERM"
    );
    assert!(std::fs::read_to_string(&marks).unwrap().contains("TERM"));
    assert!(!fx.lock_exists(&name));
}

fn a_signal_while_waiting_cancels_and_leaves_nothing(kind: Kind) {
    let fx = Fx::shared(kind, "cancelwait");
    let name = fx.name("q");
    let holder = fx.hold(&["lock", &name]);
    let marker = fx.home.path().join("ran");
    let mut waiter = fx
        .cmd(&["lock", &name, "--", "touch", marker.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if kind == Kind::Zookeeper {
        // The waiter's queue node is there before it is cancelled...
        assert!(wait_until(Duration::from_secs(10), || fx
            .zk_children(&format!("locks/{name}"))
            .len()
            == 2));
    } else {
        std::thread::sleep(Duration::from_millis(500));
    }
    support::signal(waiter.id(), libc::SIGTERM);
    let start = Instant::now();
    assert_eq!(waiter.wait().unwrap().code(), Some(143));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    if kind == Kind::Zookeeper {
        // ...and gone with it.
        assert_eq!(fx.zk_children(&format!("locks/{name}")).len(), 1);
    }
    holder.stop();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "a cancelled waiter never runs COMMAND");
    assert!(!fx.lock_exists(&name), "nothing left behind");
    assert_eq!(run(fx.cmd(&["lock", "-n", &name, "--", "true"])).0, 0);
}
