//! Courier's Windows programs under Wine, for the tests that run them (the CLI's
//! `tests/wine.rs`, the app's `tests/smoke_xvfb.rs`).
//!
//! [`build`] builds the `x86_64-pc-windows-gnu` binary in `target/wine` (where `.ci/run`
//! has already built it), copies it into a folder of its own beside a stand-in
//! `bcryptprimitives.dll`, and gives it a Wine prefix of its own.
//!
//! What Wine itself cannot do, and what stands in for it: Wine 8 has no
//! `bcryptprimitives.dll`, from which Rust's std takes its random numbers on Windows, so
//! a Rust program does not even start; `windows/bcryptprimitives.c` beside this file
//! (test-only, never shipped) provides its one function on top of what Wine has.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::json::text;

/// The Rust target of the Windows build.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// A Windows program in a folder of its own, and a Wine prefix of its own; both are
/// removed (and the prefix's wineserver stopped) when dropped.
#[derive(Debug)]
pub struct WindowsProgram {
    /// The `.exe`.
    pub exe: PathBuf,
    folder: PathBuf,
    prefix: PathBuf,
}

impl Drop for WindowsProgram {
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
        let _ = std::fs::remove_dir_all(&self.folder);
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

impl WindowsProgram {
    /// The program under Wine, quiet, with no terminal; add its arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new("wine");
        c.arg(&self.exe)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::null());
        c
    }
}

/// A path as the Windows program sees it (Wine maps `/` to drive Z:).
pub fn win(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// Builds `bin` of workspace `package` for Windows and readies it under Wine. `Err` when
/// this machine lacks a tool (the test then does not run, and says why with
/// [`crate::not_run`]); a build that fails with every tool present fails the test.
pub fn build(package: &str, bin: &str) -> Result<WindowsProgram, String> {
    let missing = crate::process::missing(&["wine", "wineserver", "x86_64-w64-mingw32-gcc"]);
    if !missing.is_empty() {
        return Err(format!(
            "{} missing: install the Debian packages wine wine64 gcc-mingw-w64-x86-64",
            missing.join(", ")
        ));
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == TARGET) {
        return Err(format!(
            "the Rust target is missing: rustup target add {TARGET}"
        ));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..");
    let target_dir = root.join("target").join("wine");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--target", TARGET, "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "building {bin}.exe failed:\n{}",
        text(&built.stderr)
    );
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let folder = std::env::temp_dir().join(format!("courier-wine-{bin}-{unique}"));
    let prefix = std::env::temp_dir().join(format!("courier-wine-prefix-{bin}-{unique}"));
    std::fs::create_dir_all(&folder).expect("creating the program's folder");
    let program = WindowsProgram {
        exe: folder.join(format!("{bin}.exe")),
        folder,
        prefix,
    };
    let exe = target_dir
        .join(TARGET)
        .join("debug")
        .join(format!("{bin}.exe"));
    std::fs::copy(&exe, &program.exe).unwrap_or_else(|e| panic!("copying {}: {e}", exe.display()));
    // Beside the program, where Windows looks for a DLL first.
    let dll = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-shared", "-o"])
        .arg(program.folder.join("bcryptprimitives.dll"))
        .arg(here.join("src/windows/bcryptprimitives.c"))
        .arg("-ladvapi32")
        .output()
        .expect("MinGW's gcc runs");
    assert!(dll.status.success(), "{}", text(&dll.stderr));
    Ok(program)
}
