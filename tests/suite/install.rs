//! `scripts/install PREFIX` puts the binary, every man page and the bash, zsh and fish
//! completions where their tools look, byte for byte what is committed; the `cargo deb`
//! metadata names files that exist.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn same(installed: &Path, committed: &Path) {
    let a = std::fs::read(installed).unwrap_or_else(|e| panic!("{}: {e}", installed.display()));
    let b = std::fs::read(committed).unwrap();
    assert!(
        a == b,
        "{} differs from {}",
        installed.display(),
        committed.display()
    );
    let mode = std::fs::metadata(installed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{}", installed.display());
}

#[test]
fn install_puts_every_file_in_a_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("opt/toozctl");
    let out = Command::new(root().join("scripts/install"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_toozctl"))
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();

    let bin = prefix.join("bin/toozctl");
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).starts_with("toozctl "));

    let mut expected = vec![bin.clone()];
    let mut pages = 0;
    for page in std::fs::read_dir(root().join("man")).unwrap().flatten() {
        let installed = prefix.join("share/man/man1").join(page.file_name());
        same(&installed, &page.path());
        expected.push(installed);
        pages += 1;
    }
    assert!(pages > 10, "every command's page");
    for (installed, committed) in [
        (
            "share/bash-completion/completions/toozctl",
            "completions/toozctl.bash",
        ),
        ("share/zsh/site-functions/_toozctl", "completions/_toozctl"),
        (
            "share/fish/vendor_completions.d/toozctl.fish",
            "completions/toozctl.fish",
        ),
    ] {
        same(&prefix.join(installed), &root().join(committed));
        expected.push(prefix.join(installed));
    }
    // Exactly these files, each listed once on stdout.
    let mut found = Vec::new();
    let mut dirs = vec![prefix.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                found.push(e.path());
            }
        }
    }
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(listed.lines().count(), expected.len(), "{listed}");

    // DESTDIR stages the same tree under another root; a relative PREFIX is refused.
    let stage = tmp.path().join("stage");
    let st = Command::new(root().join("scripts/install"))
        .env("DESTDIR", &stage)
        .args(["--bin", env!("CARGO_BIN_EXE_toozctl"), "/usr"])
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(stage.join("usr/share/man/man1/toozctl-lock.1").exists());
    let bad = Command::new(root().join("scripts/install"))
        .args(["--bin", env!("CARGO_BIN_EXE_toozctl"), "relative"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Every asset of `[package.metadata.deb]` but the release binary exists in the tree, and
/// the man pages and the three completions go to the system directories.
#[test]
fn cargo_deb_assets_exist() {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let deb = toml
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("a [package.metadata.deb] section");
    let assets: Vec<(String, String)> = deb
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("[\""))
        .map(|l| {
            let parts: Vec<&str> = l.split('"').collect();
            (parts[1].to_string(), parts[3].to_string())
        })
        .collect();
    for (src, _) in &assets {
        if src.starts_with("target/") {
            continue;
        }
        match src.strip_suffix("*.1") {
            Some(dir) => assert!(
                std::fs::read_dir(root().join(dir)).unwrap().count() > 10,
                "{src}"
            ),
            None => assert!(root().join(src).exists(), "{src}"),
        }
    }
    let dest = |d: &str| assets.iter().any(|(_, to)| to.starts_with(d));
    for d in [
        "usr/bin/",
        "usr/share/man/man1/",
        "usr/share/bash-completion/completions/",
        "usr/share/zsh/vendor-completions/",
        "usr/share/fish/vendor_completions.d/",
    ] {
        assert!(dest(d), "nothing goes to {d}");
    }
}

/// The binary is linked statically, C library included (build.rs), whenever the C
/// compiler has `libc.a`: no dynamic loader runs at its start (issue 13). An ELF program
/// header of type PT_INTERP (3) names the loader a dynamic executable needs.
#[test]
fn the_binary_starts_without_a_dynamic_loader() {
    let opted_out = option_env!("TOOZCTL_DYNAMIC_LIBC").is_some()
        || option_env!("TOOZCTL_DYNAMIC_LIBGCC").is_some();
    let libc_a = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg("-print-file-name=libc.a")
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .ok()
        .filter(|p| p.is_absolute() && p.is_file());
    if opted_out || libc_a.is_none() || !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return; // a dynamic binary is what build.rs makes then
    }
    let elf = std::fs::read(crate::support::bin()).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    let interp = (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    assert!(
        !interp,
        "toozctl names a dynamic loader: build.rs did not link it statically"
    );
}
