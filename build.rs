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

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=linker/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=TOOZCTL_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=TOOZCTL_DYNAMIC_LIBGCC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
        && std::env::var_os("TOOZCTL_DYNAMIC_LIBGCC").is_none()
    {
        static_unwinder();
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

/// Put a linker script named `libgcc_s.so` that reads the static `libgcc_eh.a` first on
/// the library search path (see the top of this file).
fn static_unwinder() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    // The full path when the compiler has the archive; the bare name when it has not.
    let archive = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !archive.is_absolute() || !archive.is_file() {
        return;
    }
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&out_dir).join("static-unwinder");
    let script = format!(
        "/* Written by toozctl's build.rs: the unwinder linked in, not loaded. */\nINPUT(\"{}\")\n",
        archive.display()
    );
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("libgcc_s.so"), script).is_ok()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
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
