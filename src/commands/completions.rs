//! `toozctl completions SHELL`, and the generated files committed under `completions/` and
//! `man/`. Everything is generated from `Cli::command()`, so commands added later are
//! covered without changes here; `tests/suite/generated.rs` fails when the committed files are
//! stale and rewrites them with `TOOZCTL_BLESS=1`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::{Generator, Shell};

use crate::commands::Cli;
use crate::error::{Error, Result};

const AFTER_HELP: &str = "\
Examples:
  toozctl completions bash > ~/.local/share/bash-completion/completions/toozctl
  toozctl completions zsh > ~/.zfunc/_toozctl      # with fpath+=(~/.zfunc) in ~/.zshrc
  toozctl completions fish > ~/.config/fish/completions/toozctl.fish

The same scripts are in the source tree under completions/, the man pages under man/.

Exit status:
  0    printed
  2    usage: unknown or missing SHELL";

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Print the completion script for SHELL on stdout. It needs no backend and reads no \
configuration.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Every shell we ship a script for.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "toozctl", &mut buf);
    buf
}

/// `(file name under completions/, contents)` for every shell.
pub fn completion_files() -> Vec<(String, Vec<u8>)> {
    SHELLS
        .iter()
        .map(|s| (s.file_name("toozctl"), script(*s)))
        .collect()
}

/// `(file name under man/, contents)`: `toozctl.1` and one page per subcommand at any
/// depth (`toozctl-lock.1`, `toozctl-group-list.1`, ...).
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    pages_of(Cli::command())
}

fn pages_of(cmd: clap::Command) -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut buf = Vec::new();
        man.render(&mut buf)
            .expect("rendering into memory cannot fail");
        out.push((man.get_filename(), buf));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
    }
    // Pages must not depend on the environment they were generated in.
    // Built first: the subcommands' arguments are made only then (`commands::Deferred`).
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let cmd = hide_env_values(cmd);
    let mut out = Vec::new();
    walk(&cmd, &mut out);
    out
}

fn hide_env_values(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.mut_args(|a| a.hide_env_values(true));
    for name in names {
        cmd = cmd.mut_subcommand(name, hide_env_values);
    }
    cmd
}

pub fn run(args: Args) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(&script(args.shell))
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Internal(format!(
            "writing the completion script: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_commands_get_their_own_pages() {
        let cmd = clap::Command::new("toozctl")
            .subcommand(clap::Command::new("group").subcommand(clap::Command::new("list")))
            .subcommand(clap::Command::new("hidden").hide(true));
        let names: Vec<String> = pages_of(cmd).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["toozctl.1", "toozctl-group.1", "toozctl-group-list.1"]
        );
    }
}
