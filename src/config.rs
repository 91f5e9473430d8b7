//! Resolving global options into a [`Context`]: flag > environment > profile > config
//! default profile > embedded file backend. The only module that reads the environment
//! (clap reads the documented `TOOZCTL_*` variables for the flags themselves) or files of
//! configuration.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::context::Context;
use crate::coordination::BackendUrl;
use crate::error::{Error, Result};

/// The embedded backend's directory: `$XDG_STATE_HOME/toozctl`, else
/// `~/.local/state/toozctl`, else `/tmp/toozctl-<uid>`.
pub fn default_state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("toozctl");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/state/toozctl");
    }
    PathBuf::from(format!("/tmp/toozctl-{}", nix::unistd::getuid()))
}

fn default_backend_url() -> String {
    format!("file://{}", default_state_dir().display())
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Resolve the global options once.
pub fn resolve(global: &GlobalArgs) -> Result<Context> {
    let raw = match &global.backend {
        Some(b) if !b.trim().is_empty() => b.trim().to_string(),
        _ => default_backend_url(),
    };
    let url = BackendUrl::parse(&raw)?;
    let host = hostname();
    let member_id = match &global.member_id {
        Some(m) if m.is_empty() => return Err(Error::Usage("member id is empty".into())),
        Some(m) => m.clone(),
        None => format!("{host}-{}", std::process::id()),
    };
    if member_id.chars().any(|c| c.is_control()) {
        return Err(Error::Usage(format!(
            "member id {member_id:?} contains a control character"
        )));
    }
    let verbosity = if global.quiet {
        -1
    } else {
        global.verbose.min(3) as i8
    };
    Ok(Context::new(
        url,
        member_id,
        host,
        global.output.unwrap_or_default(),
        verbosity,
    ))
}
