//! The committed completion scripts (`completions/`) and man pages (`man/`) must equal what
//! the current command tree generates. `TOOZCTL_BLESS=1 cargo test --test suite generated::`
//! rewrites them (and removes pages of commands that no longer exist).

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toozctl::commands::completions::{completion_files, man_pages, SHELLS};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var("TOOZCTL_BLESS").is_ok_and(|v| v == "1")
}

/// Compare (or, when blessing, write) every file of `dir`; files nobody generates are stale too.
fn check(dir: &Path, files: Vec<(String, Vec<u8>)>) {
    let wanted: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    if bless() {
        std::fs::create_dir_all(dir).unwrap();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !wanted.contains(&name) {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        for (name, data) in &files {
            std::fs::write(dir.join(name), data).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, data) in &files {
        match std::fs::read(dir.join(name)) {
            Ok(on_disk) if on_disk == *data => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(_) => stale.push(format!("{name} is missing")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !wanted.contains(&name) {
                stale.push(format!("{name} is not generated any more"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{} is stale: {}; run TOOZCTL_BLESS=1 cargo test --test suite generated::",
        dir.display(),
        stale.join(", ")
    );
}

#[test]
fn completions_are_fresh() {
    check(&root().join("completions"), completion_files());
}

#[test]
fn man_pages_are_fresh() {
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "toozctl.1",
        "toozctl-lock.1",
        "toozctl-locks.1",
        "toozctl-unlock.1",
    ] {
        assert!(names.contains(&expected), "{expected} not among {names:?}");
    }
    check(&root().join("man"), pages);
}

#[test]
fn every_subcommand_has_a_man_page() {
    use clap::CommandFactory;
    let names: Vec<String> = man_pages().into_iter().map(|(n, _)| n).collect();
    for sub in toozctl::commands::Cli::command().get_subcommands() {
        let page = format!("toozctl-{}.1", sub.get_name());
        assert!(names.contains(&page), "no man page {page}");
    }
}

#[test]
fn completions_command_prints_the_committed_script() {
    let home = tempfile::tempdir().unwrap();
    for shell in SHELLS {
        let name = clap_complete::Generator::file_name(&shell, "toozctl");
        let out = support::toozctl(home.path())
            .args(["completions", &shell.to_string()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(root().join("completions").join(&name)).unwrap_or_default();
        assert!(
            out.stdout == committed,
            "toozctl completions {shell} differs from completions/{name}"
        );
    }
}

#[test]
fn generated_files_do_not_depend_on_the_environment() {
    // clap shows the current value of an env-backed option in help: a developer's
    // TOOZCTL_PROFILE must not end up in a committed page.
    std::env::set_var("TOOZCTL_PROFILE", "leak-marker-profile");
    std::env::set_var("TOOZCTL_MEMBER_ID", "leak-marker-member");
    let generated: Vec<(String, Vec<u8>)> =
        man_pages().into_iter().chain(completion_files()).collect();
    std::env::remove_var("TOOZCTL_PROFILE");
    std::env::remove_var("TOOZCTL_MEMBER_ID");
    for (name, data) in generated {
        let text = String::from_utf8_lossy(&data);
        assert!(
            !text.contains("leak-marker"),
            "{name} shows an environment value"
        );
        assert!(
            !text.contains(&*root().to_string_lossy()),
            "{name} mentions the source tree"
        );
    }
}

#[test]
fn completions_need_no_backend_and_ignore_a_broken_config() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("broken.yaml");
    std::fs::write(&cfg, "profiles: [\n").unwrap();
    let out = support::toozctl(home.path())
        .env("TOOZCTL_CONFIG", &cfg)
        .env("TOOZCTL_BACKEND", "nonsense://")
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_toozctl"));
}
