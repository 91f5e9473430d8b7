//! The only place that ends the process.
//!
//! `main` is the C entry point itself (`#![no_main]`), not Rust's: the standard runtime's
//! set-up before `main` costs about 80 µs per start on the machines of issue 13 (a
//! hello-world, 500 runs alternating: 0.74 -> 0.66 ms) and toozctl needs only two parts
//! of it, done here: the standard descriptors made safe, and SIGPIPE ignored. What is
//! skipped: reading `/proc/self/maps` to find the main thread's stack guard, and the
//! alternate signal stack and SIGSEGV/SIGBUS handlers that turn a stack overflow into a
//! message (an overflow still kills the process, by SIGSEGV; nothing here recurses
//! without a bound) — which also spares every thread its own alternate stack. The
//! arguments come from glibc, which hands them to the standard library before `main`.

// The test harness (`cargo test` builds this file too) brings its own `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::os::raw::{c_char, c_int};

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    standard_descriptors();
    // As the standard runtime does: a closed pipe on stdout is an EPIPE error to report,
    // not a silent death. COMMAND gets the default back (`supervise/spawn.rs`).
    // SAFETY: setting a signal's disposition to SIG_IGN, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // Release builds abort on panic; a test build's panic ends with 101, as from Rust's
    // own `main`, rather than unwinding out of a C function.
    let code = std::panic::catch_unwind(|| toozctl::main_with_args(std::env::args_os().collect()))
        .unwrap_or(101);
    std::process::exit(code);
}

/// `pow`, the one function toozctl took from glibc's libm.so.6 (indicatif's rate estimate
/// calls `f64::powf`). Defined here from the `libm` crate (musl's `pow`, in Rust), so the
/// linker needs no libm.so.6 and the loader does not map and relocate it at every start
/// (about 40 µs on the 2-core VMs of issue 13; see build.rs for the other library dropped).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(not(test))]
/// Open `/dev/null` on any of descriptors 0, 1 and 2 that is closed, as the standard
/// runtime does: otherwise the first file toozctl opens (a lock file, a holder record)
/// would become its stdout, and a message would be written into it.
fn standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll(2) on an array we own, with a zero timeout.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for p in fds {
        let closed = if polled < 0 {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let bad = unsafe { libc::fcntl(p.fd, libc::F_GETFD) } == -1;
            bad && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
        } else {
            p.revents & libc::POLLNVAL != 0
        };
        // Lower descriptors are open by now, so open(2) returns this one.
        // SAFETY: a constant NUL-terminated path.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
            std::process::abort();
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// `f64::powf` in this binary ends in the `pow` above: it must give what glibc's did.
    #[test]
    fn pow_is_correctly_rounded_where_it_matters() {
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert_eq!(super::pow(10.0, -2.0), 0.01);
        assert_eq!(super::pow(2.0, 0.5), std::f64::consts::SQRT_2);
        assert_eq!(super::pow(0.0, 0.0), 1.0);
        assert!(super::pow(-1.0, 0.5).is_nan());
        assert_eq!(std::hint::black_box(1.5f64).powf(2.0), 2.25);
    }
}
