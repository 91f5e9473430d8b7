//! `toozctl check` on the ipc backend: what decides whether System V semaphores keep
//! toozctl's promises on this host. The kernel's semaphore limits (a host out of
//! semaphore sets refuses every new lock), how many sets exist now, and the IPC namespace:
//! processes in different IPC namespaces (containers) do not see each other's locks at
//! all. Reads only `/proc`.

use crate::coordination::check::Finding;

/// Warn when this share of the host's semaphore sets (SEMMNI) is in use.
const NEARLY_FULL: f64 = 0.9;

/// The findings, from the text of `/proc/sys/kernel/sem`, the number of data lines of
/// `/proc/sysvipc/sem`, and the target of `/proc/self/ns/ipc`.
pub(super) fn findings(
    limits: Option<&str>,
    sets: Option<usize>,
    ns: Option<&str>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let semmni = limits.and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok());
    out.push(match (semmni, sets) {
        (Some(max), Some(n)) if n as f64 >= max as f64 * NEARLY_FULL => Finding::warn(
            "semaphore sets",
            format!("{n} of {max} in use"),
            "the host is nearly out of System V semaphore sets (kernel.sem SEMMNI): new locks \
             will be refused with exit 69",
        ),
        (Some(max), Some(n)) => Finding::ok(
            "semaphore sets",
            format!("{n} of {max} in use"),
            "room for new locks (kernel.sem SEMMNI)",
        ),
        _ => Finding::warn(
            "semaphore sets",
            "unknown",
            "cannot read /proc/sys/kernel/sem or /proc/sysvipc/sem: System V IPC may be \
             unavailable here",
        ),
    });
    out.push(Finding::info(
        "ipc namespace",
        ns.unwrap_or("unknown"),
        "only processes in this IPC namespace share these locks: a container with its own \
         IPC namespace does not see them",
    ));
    out.push(Finding::ok(
        "killed holders",
        "SEM_UNDO",
        "the kernel gives a killed holder's unit back at once",
    ));
    out.push(Finding::info(
        "fencing tokens",
        "none",
        "nothing on one host strictly increases across reboots: no TOOZCTL_FENCING_TOKEN",
    ));
    out
}

/// This host's findings.
pub(super) fn check() -> Vec<Finding> {
    let limits = std::fs::read_to_string("/proc/sys/kernel/sem").ok();
    let sets = std::fs::read_to_string("/proc/sysvipc/sem")
        .ok()
        .map(|t| t.lines().skip(1).filter(|l| !l.trim().is_empty()).count());
    let ns = std::fs::read_link("/proc/self/ns/ipc")
        .ok()
        .map(|p| p.display().to_string());
    findings(limits.as_deref(), sets, ns.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::check::Level;

    #[test]
    fn nearly_full_hosts_warn_and_unreadable_limits_warn() {
        let limits = "32000\t1024000000\t500\t100";
        assert_eq!(
            findings(Some(limits), Some(3), Some("ipc:[1]"))[0].level,
            Level::Ok
        );
        assert_eq!(findings(Some(limits), Some(95), None)[0].level, Level::Warn);
        assert_eq!(findings(None, Some(3), None)[0].level, Level::Warn);
        assert!(findings(Some(limits), Some(3), None)
            .iter()
            .all(|f| !f.meaning.is_empty()));
    }
}
