//! `--help` of every command, found generically from `Cli::command()` so commands added
//! later are covered: it exits 0 and shows a description; a command that does something
//! (no subcommands of its own) also shows an example and its exit statuses.

use crate::support;

use clap::CommandFactory;

/// Every command path below the root: `["lock"]`, `["group", "list"]`, ...
fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut p = prefix.clone();
        p.push(sub.get_name().to_string());
        out.push((p.clone(), sub.has_subcommands()));
        paths(sub, p, out);
    }
}

fn help(args: &[String]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = support::toozctl(home.path()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn top_level_help_lists_every_command() {
    let (code, out, err) = help(&["--help".to_string()]);
    assert_eq!(code, 0, "{err}");
    for sub in toozctl::commands::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
    {
        assert!(
            out.contains(sub.get_name()),
            "--help does not list {}",
            sub.get_name()
        );
    }
    for needle in [
        "Examples:",
        "Exit status:",
        "toozctl lock nightly -- echo hello",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}

#[test]
fn every_command_has_a_description_an_example_and_exit_codes() {
    let mut all = Vec::new();
    paths(&toozctl::commands::Cli::command(), Vec::new(), &mut all);
    assert!(all.len() >= 4, "{all:?}");
    let mut missing = Vec::new();
    for (path, is_group) in all {
        for flag in ["--help", "-h"] {
            let mut args = path.clone();
            args.push(flag.to_string());
            let (code, out, err) = help(&args);
            let shown = path.join(" ");
            assert_eq!(code, 0, "toozctl {shown} {flag}: {err}");
            assert!(
                out.contains("Usage: toozctl"),
                "toozctl {shown} {flag}:\n{out}"
            );
            let description = out.lines().next().unwrap_or("").trim();
            if description.is_empty() || description.starts_with("Usage:") {
                missing.push(format!("{shown} {flag}: no description"));
            }
            if !is_group {
                for needle in ["Example", "Exit status:", "toozctl "] {
                    if !out.contains(needle) {
                        missing.push(format!("{shown} {flag}: no {needle:?}"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "help is incomplete:\n{}",
        missing.join("\n")
    );
}

#[test]
fn help_needs_no_backend_and_ignores_a_broken_config() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("broken.yaml");
    std::fs::write(&cfg, "profiles: [\n").unwrap();
    let out = support::toozctl(home.path())
        .env("TOOZCTL_CONFIG", &cfg)
        .args(["lock", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
