//! A `courier hub` process, started for a test and read back from its `--json` startup
//! line.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running `courier hub --json`, killed when dropped (SIGKILL: what a crash or a pulled
/// plug looks like to the hub's database).
#[derive(Debug)]
pub struct HubProcess {
    child: Child,
    info: serde_json::Value,
    line: String,
    /// The hub's stdout, kept open for as long as the hub runs, so that it never writes
    /// to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl HubProcess {
    /// Starts `cmd` with the arguments `hub --json --listen <listen> --data-dir
    /// <data_dir>` and then `extra`, and reads its one startup line (`{"type": "hub", ..}`).
    ///
    /// `cmd` is the program to run: `Command::new(env!("CARGO_BIN_EXE_courier"))`, or a
    /// wrapper whose arguments end with the program (`wine courier.exe`, `ip netns exec
    /// NS courier`), with its environment set (`COURIER_PASSWORD`, ...). Its stdin is
    /// null (there is no terminal to ask a password at) and its stderr is dropped.
    pub fn spawn(
        mut cmd: Command,
        listen: &str,
        data_dir: impl AsRef<OsStr>,
        extra: &[&str],
    ) -> Self {
        cmd.args(["hub", "--json", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("the hub's stdout is piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("reading the hub's startup line");
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the hub prints one JSON line: {e}: {line:?}"));
        assert_eq!(info["type"], "hub", "the hub's startup line: {info}");
        Self {
            child,
            info,
            line,
            _stdout: stdout,
        }
    }

    /// The whole startup line: `listen`, `addresses`, `safety_code`, `fingerprint`,
    /// `generated_password`, `advertised_as`.
    pub fn info(&self) -> &serde_json::Value {
        &self.info
    }

    /// The startup line as the hub printed it (for snapshots of the CLI's output).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The address it listens on (`listen`), e.g. `127.0.0.1:41234`.
    pub fn addr(&self) -> &str {
        self.info["listen"]
            .as_str()
            .expect("the startup line has `listen`")
    }

    /// Its safety code (`safety_code`).
    pub fn safety_code(&self) -> &str {
        self.info["safety_code"]
            .as_str()
            .expect("the startup line has `safety_code`")
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stops it as Ctrl-C does (SIGINT: it tells clients goodbye and leaves the network),
    /// and returns how it exited; fails the test if it still runs after `limit`.
    #[cfg(unix)]
    pub fn interrupt(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        crate::process::interrupt(&mut self.child, limit)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
