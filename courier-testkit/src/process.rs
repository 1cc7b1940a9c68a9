//! Child processes: killed on drop, stopped with Ctrl-C, tools looked up on `PATH`,
//! conditions polled.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed (and reaped) when dropped, so that a failing test leaves
/// nothing running.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `child` what Ctrl-C in its terminal sends (SIGINT) and waits for it to exit;
/// fails the test if it is still running after `limit`. Returns how it exited.
#[cfg(unix)]
pub fn interrupt(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT)
        .unwrap_or_else(|e| panic!("sending SIGINT to {}: {e}", child.id()));
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the process") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process {} did not stop within {limit:?} of Ctrl-C",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `tool` is a command on `PATH` (asked of `sh -c 'command -v tool'`).
pub fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tools of `tools` that are not on `PATH`.
pub fn missing<'a>(tools: &[&'a str]) -> Vec<&'a str> {
    tools.iter().copied().filter(|t| !on_path(t)).collect()
}

/// Runs `cmd`, fails the test if it cannot start or exits unsuccessfully (with its
/// stderr), and returns its standard output, trimmed.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Checks `f` every 100 ms until it holds; fails the test, naming `what`, after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
