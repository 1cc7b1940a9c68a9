//! Where passwords come from: COURIER_PASSWORD, a file, or a prompt; never argv.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use courier_core::auth::Password;

/// The password from the environment, a file, or an interactive prompt.
pub(crate) fn read(file: Option<&Path>, prompt: &str) -> Result<Option<Password>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the password file {}", path.display()))?;
        let pw = text.trim_end_matches(['\n', '\r']);
        if pw.is_empty() {
            bail!("the password file {} is empty", path.display());
        }
        return Ok(Some(Password::new(pw)));
    }
    if let Ok(pw) = std::env::var("COURIER_PASSWORD")
        && !pw.is_empty()
    {
        return Ok(Some(Password::new(pw)));
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let pw = rpassword::prompt_password(prompt).context("reading the password")?;
        if pw.is_empty() {
            bail!("the password is empty");
        }
        return Ok(Some(Password::new(pw)));
    }
    Ok(None)
}

/// A password given without asking: from `file`, else `COURIER_PASSWORD`.
pub(crate) fn given(file: Option<&Path>) -> Result<Option<Password>> {
    if file.is_some() || std::env::var("COURIER_PASSWORD").is_ok_and(|pw| !pw.is_empty()) {
        return read(file, "");
    }
    Ok(None)
}

/// Like [`read`], but a password is required.
pub(crate) fn require(file: Option<&Path>) -> Result<Password> {
    read(file, "Hub password: ")?.context(
        "no password: set COURIER_PASSWORD, pass --password-file FILE, or run in a terminal",
    )
}
