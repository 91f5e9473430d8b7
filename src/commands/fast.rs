//! The plainest `lock` command lines, parsed without clap:
//!
//! ```text
//! toozctl [-b URL] [-p NAME] [-q | -v] lock [-s | -l N] [-n | -w DURATION] [-E N] NAME [-- COMMAND...]
//! ```
//!
//! (long spellings too, `--opt=value` or `--opt value`, global options before or after
//! `lock`), as in `toozctl -q lock -n -E 0 backup -- /usr/local/bin/backup`. Why: clap
//! builds the root command and `lock`'s thirty arguments (help texts, value parsers, the
//! global options propagated) at every start before it reads one word: 150-170 µs of a
//! 2.6 ms `toozctl lock NAME -- true` on the 2-core VMs of issue 13, most of it the first
//! touches of fresh heap and code pages. This is the line a cron job or a unit file runs
//! over and over.
//!
//! How it stays clap's: [`parse`] knows a closed set of spellings and returns `None` for
//! anything else: any other option or subcommand, a combined or attached short flag (`-sn`,
//! `-l3`), an option given twice, a value that does not parse or starts with `-`, a
//! conflict (`-s` with `-l`, `-n` with `-w`, `-q` with `-v`), a second `-v`, `--help`,
//! text that is not UTF-8 before `--`, an environment variable that is set but empty or
//! not UTF-8, `TOOZCTL_OUTPUT`. Those go to clap, so every error, help text and unusual
//! form is clap's own. What it accepts, it turns into the very `Cli` clap makes of it: the
//! tests below compare the two (the `Debug` of the whole tree) over generated command
//! lines, and check that the environment variables read here are the ones clap's
//! arguments name.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{lock, Cli, Command, Deferred};
use crate::cli::{parse_duration, GlobalArgs, WaitArgs, DEFAULT_CONFLICT_EXIT_CODE};

/// The environment variables clap's arguments read (`env = ...` in `cli.rs`): for an
/// option not on the command line, clap takes its value from there.
pub const ENV: [&str; 6] = [
    "TOOZCTL_BACKEND",
    "TOOZCTL_PROFILE",
    "TOOZCTL_CONFIG",
    "TOOZCTL_PASSWORD_FILE",
    "TOOZCTL_MEMBER_ID",
    "TOOZCTL_OUTPUT",
];

/// `args` (with the program name first) as clap would parse it, when it is a plain `lock`
/// line; `None` for anything else (clap's to parse). `env` looks up the environment.
pub fn parse(args: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<Cli> {
    let mut global = GlobalArgs::default();
    let (mut in_lock, mut name) = (false, None::<String>);
    let (mut shared, mut limit, mut no_wait, mut wait) = (false, None, false, None);
    let mut exit_code = None;
    let mut command = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if arg == "--" {
            name.as_ref()?;
            command = rest.cloned().collect();
            break;
        }
        if !arg.starts_with('-') {
            match (in_lock, &name) {
                (false, _) if arg == "lock" => in_lock = true,
                (true, None) => name = Some(arg.to_string()),
                _ => return None,
            }
            continue;
        }
        let (flag, attached) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg, None),
        };
        let flag_only = attached.is_none();
        match flag {
            "-b" | "--backend" => once(&mut global.backend, value(attached, &mut rest)?)?,
            "-p" | "--profile" => once(&mut global.profile, value(attached, &mut rest)?)?,
            // Once: clap counts `-v -v` as 2, but `-v lock NAME -v` as 1.
            "-v" | "--verbose" if flag_only && global.verbose == 0 => global.verbose = 1,
            "-q" | "--quiet" if flag_only && !global.quiet => global.quiet = true,
            "-s" | "--shared" if in_lock && flag_only && !shared => shared = true,
            "-n" | "--no-wait" if in_lock && flag_only && !no_wait => no_wait = true,
            "-l" | "--limit" if in_lock => {
                once(&mut limit, number(value(attached, &mut rest)?, 1..=10000)?)?
            }
            "-E" | "--conflict-exit-code" if in_lock => once(
                &mut exit_code,
                number(value(attached, &mut rest)?, 0..=255)?,
            )?,
            "-w" | "--wait" if in_lock => once(
                &mut wait,
                parse_duration(&value(attached, &mut rest)?).ok()?,
            )?,
            _ => return None,
        }
    }
    let name = name?;
    if (shared && limit.is_some()) || (no_wait && wait.is_some()) {
        return None;
    }
    if global.quiet && global.verbose > 0 {
        return None;
    }
    // As clap: an option not given on the command line takes its variable's value.
    let var = |k: &str| -> Result<Option<String>, ()> {
        match env(k).map(OsString::into_string) {
            None => Ok(None),
            Some(Ok(v)) if !v.is_empty() => Ok(Some(v)),
            Some(_) => Err(()),
        }
    };
    if global.backend.is_none() {
        global.backend = var("TOOZCTL_BACKEND").ok()?;
    }
    if global.profile.is_none() {
        global.profile = var("TOOZCTL_PROFILE").ok()?;
    }
    global.config = var("TOOZCTL_CONFIG").ok()?.map(PathBuf::from);
    global.password_file = var("TOOZCTL_PASSWORD_FILE").ok()?.map(PathBuf::from);
    global.member_id = var("TOOZCTL_MEMBER_ID").ok()?;
    if env("TOOZCTL_OUTPUT").is_some() {
        return None;
    }
    let waiting = WaitArgs {
        no_wait,
        wait,
        conflict_exit_code: exit_code.unwrap_or(DEFAULT_CONFLICT_EXIT_CODE),
    };
    let args = lock::Args::plain(name, shared, limit, waiting, command);
    Some(Cli {
        global,
        command: Command::Lock(Deferred(args)),
    })
}

/// An option's value: after `=`, else the next word; never empty and never a word that
/// starts with `-` (clap's judgement, for those).
fn value<'a>(
    attached: Option<&'a str>,
    rest: &mut impl Iterator<Item = &'a OsString>,
) -> Option<String> {
    let v = match attached {
        Some(v) => v,
        None => rest.next()?.to_str()?,
    };
    (!v.is_empty() && !v.starts_with('-')).then(|| v.to_string())
}

/// A number in `range`, in plain digits (a sign, spaces and the like are clap's to judge).
fn number<T>(text: String, range: std::ops::RangeInclusive<T>) -> Option<T>
where
    T: std::str::FromStr + PartialOrd,
{
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| range.contains(n))
}

/// Set an option given once; `None` the second time (clap refuses a repeated option).
fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("toozctl")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Both parsers, each reading the real environment; whenever this one accepts, clap
    /// must accept too and make the same tree.
    fn same_as_clap(args: &[OsString]) -> Option<String> {
        let fast = parse(args, &|k| std::env::var_os(k))?;
        let clap = Cli::try_parse_from(args)
            .unwrap_or_else(|e| panic!("{args:?}: accepted here, refused by clap: {e}"));
        let (fast, clap) = (format!("{fast:?}"), format!("{clap:?}"));
        assert_eq!(fast, clap, "{args:?}");
        Some(fast)
    }

    /// Whether the test process's environment lets `parse` take lines at all (a variable
    /// set empty, or the output format, leaves every line to clap).
    fn environment_allows() -> bool {
        parse(&argv(&["lock", "job"]), &|k| std::env::var_os(k)).is_some()
    }

    #[test]
    fn plain_lock_lines_are_parsed_here_as_clap_does() {
        for words in [
            &["lock", "job", "--", "true"][..],
            &[
                "-b",
                "file:///tmp/x",
                "lock",
                "job",
                "--",
                "sh",
                "-c",
                "echo --; exit 3",
            ],
            &[
                "--backend=redis://h:6379/0",
                "lock",
                "-s",
                "job",
                "--",
                "true",
            ],
            &["lock", "-l", "3", "sem", "--", "true"],
            &["lock", "--limit=10000", "sem"],
            &["-q", "lock", "-n", "-E", "0", "job", "--", "true"],
            &["lock", "--conflict-exit-code=255", "job", "--", "true"],
            &[
                "-v",
                "lock",
                "-w",
                "1m30s",
                "job",
                "-b",
                "zookeeper://h",
                "--",
                "x",
            ],
            &["lock", "job", "--verbose", "--wait", "2.5", "--"],
            &[
                "-p",
                "prod",
                "lock",
                "job",
                "-s",
                "--no-wait",
                "--",
                "--",
                "-x",
            ],
            &["lock", "lock", "--", "lock"],
        ] {
            let parsed = same_as_clap(&argv(words)).is_some();
            assert!(parsed || !environment_allows(), "{words:?}: left to clap");
        }
        // Not UTF-8 after `--`: COMMAND's words are passed on as they are.
        let mut args = argv(&["lock", "job", "--"]);
        args.push(std::os::unix::ffi::OsStringExt::from_vec(vec![0xff, b'x']));
        assert!(same_as_clap(&args).is_some() || !environment_allows());
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for words in [
            &[][..],
            &["lock"],
            &["lock", "--", "true"],
            &["lock", "-sn", "job"],
            &["lock", "-l3", "job"],
            &["lock", "-s", "-l", "2", "job"],
            &["lock", "-n", "-w", "5s", "job"],
            &["lock", "-s", "-s", "job"],
            &["-b", "a", "-b", "b", "lock", "job"],
            &["-q", "-v", "lock", "job"],
            &["-v", "lock", "job", "-v"],
            &["lock", "-l", "0", "job"],
            &["lock", "-l", "+3", "job"],
            &["lock", "-E", "256", "job"],
            &["lock", "-E", "1", "-E", "2", "job"],
            &["lock", "-w", "soon", "job"],
            &["lock", "-b", "-x", "job"],
            &["lock", "--backend=", "job"],
            &["lock", "--shared=yes", "job"],
            &["lock", "job", "extra"],
            &["lock", "--ttl", "10s", "job"],
            &["lock", "--help"],
            &["-s", "lock", "job"],
            &["elect", "job"],
            &["--version"],
        ] {
            assert!(parse(&argv(words), &|_| None).is_none(), "{words:?}");
        }
        let mut args = argv(&["lock"]);
        args.push(std::os::unix::ffi::OsStringExt::from_vec(vec![0xff]));
        assert!(parse(&args, &|_| None).is_none());
    }

    #[test]
    fn the_environment_is_read_as_clap_reads_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let args = argv(&["lock", "job"]);
        let cli = parse(&args, &env(&[("TOOZCTL_BACKEND", "redis://e")])).unwrap();
        assert_eq!(cli.global.backend.as_deref(), Some("redis://e"));
        let args = argv(&["-b", "redis://flag", "lock", "job"]);
        let cli = parse(&args, &env(&[("TOOZCTL_BACKEND", "redis://e")])).unwrap();
        assert_eq!(cli.global.backend.as_deref(), Some("redis://flag"));
        let cli = parse(
            &argv(&["lock", "job"]),
            &env(&[
                ("TOOZCTL_PROFILE", "p"),
                ("TOOZCTL_CONFIG", "/c.yaml"),
                ("TOOZCTL_PASSWORD_FILE", "/pw"),
                ("TOOZCTL_MEMBER_ID", "me"),
            ]),
        )
        .unwrap();
        assert_eq!(cli.global.profile.as_deref(), Some("p"));
        assert_eq!(cli.global.config, Some(PathBuf::from("/c.yaml")));
        assert_eq!(cli.global.password_file, Some(PathBuf::from("/pw")));
        assert_eq!(cli.global.member_id.as_deref(), Some("me"));
        // Left to clap: an empty variable, and the output format (a value enum).
        for vars in [
            &[("TOOZCTL_BACKEND", "")][..],
            &[("TOOZCTL_MEMBER_ID", "")],
            &[("TOOZCTL_OUTPUT", "json")],
        ] {
            assert!(
                parse(&argv(&["lock", "job"]), &env(vars)).is_none(),
                "{vars:?}"
            );
        }
    }

    /// The variables read here are exactly those clap's arguments name, for the root
    /// command and `lock`: a new `env = ...` fails this until `parse` reads it too.
    #[test]
    fn the_variables_read_are_claps() {
        let mut cmd = Cli::command();
        cmd.build();
        let lock = cmd.find_subcommand("lock").unwrap();
        let mut names: Vec<String> = cmd
            .get_arguments()
            .chain(lock.get_arguments())
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        let mut ours: Vec<String> = ENV.iter().map(|s| s.to_string()).collect();
        ours.sort();
        assert_eq!(names, ours);
    }

    /// Every combination of these pieces, in this order: global options, `lock`, its
    /// options, NAME, more options, the end (some of each are refused by clap or left to
    /// it here).
    #[test]
    fn combinations_parse_as_clap_parses_them() {
        const GLOBAL: &[&[&str]] = &[
            &[],
            &["-b", "file:///d"],
            &["--backend=file:///d"],
            &["-p", "prof"],
            &["-v"],
            &["-q"],
            &["-v", "--verbose"],
            &["-q", "-v"],
            &["-b", "-x"],
            &["--profile"],
        ];
        const OPTS: &[&[&str]] = &[
            &[],
            &["-s"],
            &["--shared"],
            &["-l", "3"],
            &["--limit", "10000"],
            &["--limit=7"],
            &["-l", "0"],
            &["-l", "007"],
            &["-n"],
            &["--no-wait"],
            &["-w", "5s"],
            &["--wait=1m"],
            &["-w", "soon"],
            &["-s", "-l", "2"],
            &["-n", "-w", "1"],
            &["-s", "-n"],
            &["-l", "3", "-w", "250ms"],
            &["-E", "2"],
            &["-E", "0", "-n"],
            &["--conflict-exit-code", "300"],
            &["-E", "07"],
            &["-b", "file:///e"],
            &["--verbose"],
            &["-q"],
            &["--wait"],
        ];
        const AFTER: &[&[&str]] = &[&[], &["-s"], &["-w", "2s"], &["-p", "x"], &["-v"]];
        const NAMES: &[&str] = &["job", "lock", "a=b", "-x"];
        const END: &[&[&str]] = &[
            &[],
            &["--"],
            &["--", "true"],
            &["--", "sh", "-c", "x -- y", "--"],
            &["extra"],
        ];
        let (mut tried, mut accepted) = (0, 0);
        for g in GLOBAL {
            for o in OPTS {
                for n in NAMES {
                    for a in AFTER {
                        for e in END {
                            let mut words: Vec<&str> = g.to_vec();
                            words.push("lock");
                            words.extend_from_slice(o);
                            words.push(n);
                            words.extend_from_slice(a);
                            words.extend_from_slice(e);
                            tried += 1;
                            accepted += usize::from(same_as_clap(&argv(&words)).is_some());
                        }
                    }
                }
            }
        }
        // Not a vacuous comparison: a good share of the lines is taken here (4682 of 25000).
        assert!(
            accepted * 10 > tried || !environment_allows(),
            "{accepted} of {tried} parsed here"
        );
    }

    const WORDS: &[&str] = &[
        "lock",
        "lock",
        "lock",
        "job",
        "job",
        "--",
        "--",
        "true",
        "-b",
        "--backend",
        "--backend=file:///d",
        "file:///d",
        "-p",
        "--profile=x",
        "prof",
        "-v",
        "--verbose",
        "-q",
        "--quiet",
        "-s",
        "--shared",
        "-l",
        "--limit",
        "--limit=7",
        "3",
        "0",
        "10001",
        "007",
        "-n",
        "--no-wait",
        "-w",
        "--wait",
        "--wait=1m",
        "5s",
        "250ms",
        "1.5",
        "soon",
        "-E",
        "2",
        "--ttl",
        "-x",
        "-sn",
        "",
        "=",
        "-",
        "--help",
        "-V",
        "elect",
        "a=b",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whatever this parser accepts, clap accepts and parses the same.
        #[test]
        fn accepted_lines_parse_as_clap_parses_them(
            picks in proptest::collection::vec(0..WORDS.len(), 0..9)
        ) {
            let words: Vec<&str> = picks.iter().map(|&i| WORDS[i]).collect();
            same_as_clap(&argv(&words));
        }
    }
}
