//! Link toozctl as a position-dependent executable (see `[profile.release]` in Cargo.toml).
//!
//! A PIE has its absolute addresses patched by the dynamic loader at every start: about
//! 13 000 relative relocations for toozctl, each touching (and copying) a page of data, in
//! every `toozctl` and again in every guard process. Linked with `-no-pie`, the linker
//! resolves them once, at build time. The code is still compiled position-independent
//! (as every dependency is), so nothing else changes; only address-space layout
//! randomisation of the executable itself (not of the libraries, stack or heap) is given
//! up, which a short-lived tool that parses no untrusted binary input can afford.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
