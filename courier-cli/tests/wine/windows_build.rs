//! Courier's Windows programs under Wine, for the tests that run them (the CLI's
//! `tests/wine.rs` and the app's `tests/wine_xvfb.rs`, which includes this file).
//!
//! Builds the `x86_64-pc-windows-gnu` binary in `target/wine` (where `.ci/run` has already
//! built it), copies it into a folder of its own beside a stand-in `bcryptprimitives.dll`,
//! and gives it a Wine prefix of its own.
//!
//! What Wine itself cannot do, and what stands in for it: Wine 8 has no
//! `bcryptprimitives.dll`, from which Rust's std takes its random numbers on Windows, so
//! a Rust program does not even start; `bcryptprimitives.c` beside this file (test-only,
//! never shipped) provides its one function on top of what Wine has.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target of the Windows build.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// A Windows program in a folder of its own, and a Wine prefix of its own; both are
/// removed (and the prefix's wineserver stopped) when dropped.
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
    /// The program under Wine, quiet, with no terminal.
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

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Builds `bin` of workspace `package` for Windows and readies it under Wine. `Err` when
/// this machine lacks a tool (the test then does not run, and says why); a build that
/// fails with every tool present is a failure of the test.
pub fn build(package: &str, bin: &str) -> Result<WindowsProgram, String> {
    let missing: Vec<&str> = ["wine", "wineserver", "x86_64-w64-mingw32-gcc"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
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
        .unwrap();
    assert!(
        built.status.success(),
        "building {bin}.exe failed:\n{}",
        text(&built.stderr)
    );
    let unique = format!("{}-{}", std::process::id(), next_number());
    let folder = std::env::temp_dir().join(format!("courier-wine-{bin}-{unique}"));
    let prefix = std::env::temp_dir().join(format!("courier-wine-prefix-{bin}-{unique}"));
    std::fs::create_dir_all(&folder).unwrap();
    let program = WindowsProgram {
        exe: folder.join(format!("{bin}.exe")),
        folder,
        prefix,
    };
    std::fs::copy(
        target_dir
            .join(TARGET)
            .join("debug")
            .join(format!("{bin}.exe")),
        &program.exe,
    )
    .unwrap();
    // Beside the program, where Windows looks for a DLL first.
    let dll = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-shared", "-o"])
        .arg(program.folder.join("bcryptprimitives.dll"))
        .arg(root.join("courier-cli/tests/wine/bcryptprimitives.c"))
        .arg("-ladvapi32")
        .output()
        .unwrap();
    assert!(dll.status.success(), "{}", text(&dll.stderr));
    Ok(program)
}

/// Distinguishes two programs built by one test process.
fn next_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
