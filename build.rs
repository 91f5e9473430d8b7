//! Link flags for the release binary (see `[profile.release]` in Cargo.toml).
//!
//! Position-dependent: a PIE has its absolute addresses patched by the dynamic loader at
//! every start: about 13 000 relative relocations for toozctl, each touching (and copying) a
//! page of data, in every `toozctl`. Linked with `-no-pie`, the linker resolves them once,
//! at build time. The code is still compiled position-independent (as every dependency is),
//! so nothing else changes; only address-space layout randomisation of the executable
//! itself (not of the libraries, stack or heap) is given up, which a short-lived tool that
//! parses no untrusted binary input can afford.
//!
//! Hot code first: `linker/hot-symbols.txt` (written by `scripts/hot-symbols`) lists the
//! functions a short `toozctl lock` runs, which lld then places together at the start of
//! `.text`. The kernel maps the pages around every page it faults in (64 KiB of
//! fault-around), so the same few hundred functions scattered over 7.5 MB of code mapped
//! about 4 MiB of it in every run; packed, well under 1 MiB: fewer page faults at start and
//! a smaller resident size (issue 13). Only lld reads the list, and rustc links with its own
//! lld on x86_64-unknown-linux-gnu from 1.90 on; with any other linker configured (or
//! `TOOZCTL_NO_SYMBOL_ORDER=1`) the list is not passed and the binary is only less compact.
//! Names that a later change removed are skipped by lld without a warning.
//!
//! One shared library fewer: the unwinder (`_Unwind_*`, which the standard library calls
//! for backtraces) is linked in from `libgcc_eh.a`, as `gcc -static-libgcc` does, instead
//! of loading `libgcc_s.so.1` at every start. rustc always asks for `-lgcc_s`; a linker
//! script of that name in `$OUT_DIR`, searched first, answers with the static archive
//! (located by asking the C compiler, as rustc's own link step does; skipped when it has
//! none, or with `TOOZCTL_DYNAMIC_LIBGCC=1`). On the 2-core VMs of issue 13, loading the
//! library cost 60-160 µs per start (a C `main` that returns, 300 runs each); most of it
//! is its constructor `__cpu_indicator_init`, whose CPUID instructions each trap to the
//! hypervisor (8 µs apiece there). The binary's other optional library, libm, is gone too:
//! see `pow` in `src/bin/toozctl.rs`.
//!
//! No shared library at all: the C library is linked in too (`libc.a`, as `cc -static`
//! does), so the kernel starts toozctl without the dynamic loader: no `ld.so`, no mapping
//! and relocating of `libc.so.6`, no symbol lookups. On the 2-core VM of issue 13 that
//! took `toozctl lock NAME -- true` on the file backend from 1.34x / 1.33x `flock FILE
//! true` to 1.09x / 1.10x (release builds, 500 interleaved runs, both orders): about
//! 0.6 ms a run on a busy host, more than the loader alone (0.22 ms for a C `main` that
//! returns), since the guard's fork and COMMAND's spawn copy a smaller address space too.
//! rustc asks for the C library as `-lc` (and `-lm`, `-lpthread`, ...) among shared
//! libraries, and only `-C target-feature=+crt-static` changes that: a RUSTFLAGS setting,
//! which on a plain `cargo build` also reaches the proc-macro crates, which cannot be
//! built so. Instead, as for `libgcc_s` above, a linker script of each name answers with
//! the static archive, and `-static` makes the link a static one (crt1.o, no
//! interpreter); both for the binary only, so test programs stay as rustc links them.
//! Skipped (the binary stays dynamic, and differs in nothing but its start) when the C
//! compiler has no `libc.a` (Fedora keeps it in `glibc-static`), when cross-compiling,
//! when rustc already links statically, or with `TOOZCTL_DYNAMIC_LIBC=1` (or
//! `TOOZCTL_DYNAMIC_LIBGCC=1`, since a static binary cannot load `libgcc_s`).
//!
//! Host names and user names are still looked up as `/etc/nsswitch.conf` says: glibc's
//! `files` and `dns` sources are part of `libc.a` (since glibc 2.34); any other source
//! (`myhostname`, `resolve`, `sss`, ...) is loaded from the system's glibc at lookup time,
//! which works when that glibc is the one toozctl was built with (`scripts/install` builds
//! on the host). A binary copied to a host with another glibc resolves through `files`
//! and `dns` only, as statically linked Go tools such as `etcdctl` always do.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=linker/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=TOOZCTL_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=TOOZCTL_DYNAMIC_LIBGCC");
    println!("cargo:rerun-if-env-changed=TOOZCTL_DYNAMIC_LIBC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
        && std::env::var_os("TOOZCTL_DYNAMIC_LIBGCC").is_none()
        && static_unwinder()
    {
        if let Some(dir) = shadow_dir("static-libc") {
            static_libc(&dir);
        }
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if std::env::var("PROFILE").as_deref() == Ok("release") && links_with_rust_lld() {
        let list = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("linker/hot-symbols.txt");
        if list.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// A directory for the linker scripts below, searched before the system's libraries.
fn shadow_dir(name: &str) -> Option<PathBuf> {
    let dir = Path::new(&std::env::var_os("OUT_DIR")?).join(name);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Where the C compiler finds `name` (an archive), if it has it.
fn archive(name: &str) -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    // The full path when the compiler has the archive; the bare name when it has not.
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// A linker script `lib<name>.so` in `dir` that reads `archives` instead.
fn shadow(dir: &Path, name: &str, archives: &[PathBuf], why: &str) -> bool {
    let list: Vec<String> = archives
        .iter()
        .map(|a| format!("\"{}\"", a.display()))
        .collect();
    let script = format!(
        "/* Written by toozctl's build.rs: {why} */\nGROUP({})\n",
        list.join(" ")
    );
    std::fs::write(dir.join(format!("lib{name}.so")), script).is_ok()
}

/// Put a linker script named `libgcc_s.so` that reads the static `libgcc_eh.a` first on
/// the library search path (see the top of this file). Whether it did.
fn static_unwinder() -> bool {
    let (Some(eh), Some(dir)) = (archive("libgcc_eh.a"), shadow_dir("static-unwinder")) else {
        return false;
    };
    if !shadow(&dir, "gcc_s", &[eh], "the unwinder linked in, not loaded.") {
        return false;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    true
}

/// What rustc links on linux-gnu besides `gcc_s`: glibc 2.34+ keeps empty archives for
/// the libraries it folded into libc, so that old link lines still work.
const LIBC_LIBS: [&str; 6] = ["c", "m", "pthread", "dl", "rt", "util"];

/// Link the C library in (see the top of this file): a linker script for each library
/// rustc names, reading its archive, in a directory searched only when linking the
/// binary (the test programs stay dynamic: `-static` is the binary's alone, and a static
/// libc in a dynamic program crashes it), and `-static`. All or nothing: a shared library
/// left would make a binary without a loader, and a script left from an earlier build
/// would link one library statically into a dynamic binary; so when this does not go
/// through, no script of these names stays behind.
fn static_libc(dir: &Path) {
    if !try_static_libc(dir) {
        for name in LIBC_LIBS {
            let _ = std::fs::remove_file(dir.join(format!("lib{name}.so")));
        }
    }
}

fn try_static_libc(dir: &Path) -> bool {
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    // The archives are asked of the host's C compiler: only right for the host.
    let cross = std::env::var("TARGET").ok() != std::env::var("HOST").ok();
    if std::env::var_os("TOOZCTL_DYNAMIC_LIBC").is_some()
        || cross
        || features.split(',').any(|f| f == "crt-static")
    {
        return false;
    }
    let Some(found) = LIBC_LIBS
        .iter()
        .map(|l| archive(&format!("lib{l}.a")))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let (Some(gcc), Some(eh)) = (archive("libgcc.a"), archive("libgcc_eh.a")) else {
        return false;
    };
    for (name, a) in LIBC_LIBS.iter().zip(&found) {
        // libc with the compiler's support libraries, in one group, as `cc -static` links
        // them: each may need the others.
        let group = if *name == "c" {
            vec![a.clone(), gcc.clone(), eh.clone()]
        } else {
            vec![a.clone()]
        };
        if !shadow(dir, name, &group, "the C library linked in, not loaded.") {
            return false;
        }
    }
    // A linker's -L applies to every -l, wherever it stands on the command line.
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static");
    true
}

/// Whether rustc links this binary with its own lld: its default on x86_64 Linux (GNU)
/// since 1.90, unless a linker is configured through the environment.
fn links_with_rust_lld() -> bool {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if !env("TOOZCTL_NO_SYMBOL_ORDER").is_empty()
        || env("TARGET") != "x86_64-unknown-linux-gnu"
        || !env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
    {
        return false;
    }
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (...)": the minor version.
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1)?.parse::<u32>().ok())
        .is_some_and(|minor| minor >= 90)
}
