//! `courier hub` as a system service, through the real binary: its options from a config file
//! (`--config`), systemd's readiness protocol against a fake `NOTIFY_SOCKET`, a clean stop on
//! SIGTERM, and log lines fit for the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
#[cfg(unix)]
use std::time::Duration;

use courier_testkit::TempDir;
use courier_testkit::process::ChildGuard;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "service test password";

/// `courier hub --data-dir DIR/hub ARGS`, the password in the environment, no terminal.
fn hub(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("hub")
        .arg("--data-dir")
        .arg(dir.join("hub"))
        .args(args)
        .env("COURIER_PASSWORD", PW)
        .env_remove("COURIER_LISTEN")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// What `courier hub --config FILE` says on stderr (and its exit code), FILE holding `text`.
fn config_error(dir: &Path, text: Option<&str>) -> (Option<i32>, String, String) {
    let file = dir.join("hub.toml");
    if let Some(text) = text {
        std::fs::write(&file, text).unwrap();
    }
    let out = hub(dir, &["--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    (out.status.code(), err, file.display().to_string())
}

#[test]
fn config_file_errors_are_one_line_naming_the_file_and_the_key() {
    let dir = TempDir::new("service-config-errors");
    let (code, err, file) = config_error(&dir, Some("offline_dayz = 30\n"));
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!("courier: error: {file}: unknown key \"offline_dayz\"\n")
    );
    let (code, err, file) = config_error(&dir, Some("# days\noffline-days = 0\n"));
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!("courier: error: {file}: key \"offline-days\": expected a number from 1 to 3650\n")
    );
    let (code, err, file) = config_error(&dir, Some("no-relay = yes\n"));
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(&format!("courier: error: {file}: line 1: ")) && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_file(dir.join("hub.toml")).unwrap();
    let (code, err, file) = config_error(&dir, None);
    assert_eq!(code, Some(2));
    assert_eq!(err, format!("courier: error: {file}: no such file\n"));
    // Nothing was started: no hub folder was made.
    assert!(!dir.join("hub").exists());
}

/// Starts `cmd` (a hub) with stdout piped and reads its first line.
fn first_line(cmd: &mut Command) -> (ChildGuard, String) {
    let mut child = ChildGuard(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

#[test]
fn the_command_line_and_the_environment_win_over_the_config_file() {
    let dir = TempDir::new("service-config-wins");
    let file = dir.join("hub.toml");
    // The file's address cannot be listened on; its other options hold.
    std::fs::write(
        &file,
        "listen = \"192.0.2.1:1\"\njson = true\nno-advertise = true\noffline-days = 7\n",
    )
    .unwrap();
    let (_hub, line) = first_line(
        hub(&dir, &["--listen", "127.0.0.1:0", "--config"])
            .arg(&file)
            .stderr(Stdio::null()),
    );
    let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!("`json = true` in the file: a JSON startup line ({e}): {line:?}")
    });
    assert!(
        info["listen"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{info}"
    );
    assert!(info["advertised_as"].is_null(), "{info}");
    // An environment variable counts as given.
    let (_hub, line) = first_line(
        hub(&dir, &["--config"])
            .arg(&file)
            .env("COURIER_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::null()),
    );
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        info["listen"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{info}"
    );
}

#[cfg(unix)]
mod notify {
    use std::os::unix::net::UnixDatagram;

    pub(super) use std::process::Child;

    use super::*;

    /// Sends SIGTERM (what `systemctl stop` sends) to `child`.
    pub(super) fn terminate(child: &Child) {
        let pid = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    /// Waits (at most a minute) for `child` to exit.
    pub(super) fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
        let mut status = None;
        courier_testkit::process::wait_for("the hub to exit", Duration::from_secs(60), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }

    /// The next datagram on `socket`, as text.
    fn next(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = socket
            .recv(&mut buf)
            .expect("a notification within the socket's timeout");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Runs `cmd` (a hub with its folder at `data`) told to notify `name` (a path, or '@' and
    /// an abstract name) and read by `socket`: READY=1 once its port takes connections and
    /// its database is open, with the address in STATUS; `while_ready` gets that address;
    /// STOPPING=1 on SIGTERM; then exit 0.
    fn ready_then_stopping(
        mut cmd: Command,
        data: &Path,
        socket: &UnixDatagram,
        name: &std::ffi::OsStr,
        while_ready: impl FnOnce(&str),
    ) {
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        cmd.env("NOTIFY_SOCKET", name)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = ChildGuard(cmd.spawn().unwrap());
        let ready = next(socket);
        let lines: Vec<&str> = ready.lines().collect();
        assert!(lines.contains(&"READY=1"), "{ready:?}");
        let status = lines
            .iter()
            .find_map(|l| l.strip_prefix("STATUS="))
            .unwrap_or_else(|| panic!("READY comes with a STATUS: {ready:?}"));
        let addr = status
            .strip_prefix("listening on ")
            .and_then(|s| s.split(',').next())
            .unwrap_or_else(|| panic!("the STATUS names the address: {status:?}"));
        assert!(status.ends_with(", 0 member(s)"), "{status:?}");
        // Ready means ready: the port takes a connection at once, and the database is there.
        std::net::TcpStream::connect(addr).expect("the port accepts once READY=1 is sent");
        assert!(data.join("hub.db").exists());
        while_ready(addr);
        terminate(&child.0);
        let stopping = next(socket);
        assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
        let status = wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(0), "the hub exits cleanly on SIGTERM");
    }

    /// A hub on loopback, with its folder at DIR/hub.
    fn plain(dir: &Path) -> Command {
        hub(dir, &["--listen", "127.0.0.1:0", "--no-advertise"])
    }

    #[test]
    fn the_hub_tells_a_notify_socket_when_it_is_ready_and_when_it_stops() {
        let dir = TempDir::new("service-notify");
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        ready_then_stopping(
            plain(&dir),
            &dir.join("hub"),
            &socket,
            path.as_os_str(),
            |_| {},
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_hub_tells_an_abstract_notify_socket_too() {
        use std::os::linux::net::SocketAddrExt as _;
        let dir = TempDir::new("service-notify-abstract");
        let name = format!("courier-test-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        let name = format!("@{name}");
        ready_then_stopping(
            plain(&dir),
            &dir.join("hub"),
            &socket,
            name.as_ref(),
            |_| {},
        );
    }

    /// The packaged unit's own command line (its `ExecStart=`) runs: with the packaged
    /// `/etc/courier/hub.toml` as shipped, and the password from a credential file as systemd
    /// hands it over (never in the environment), which a client then logs in with.
    #[test]
    fn the_packaged_unit_s_command_line_runs_with_the_packaged_config() {
        let unit = include_str!("../../packaging/systemd/courier-hub.service");
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        let dir = TempDir::new("service-unit");
        let credentials = dir.subdir("credentials");
        std::fs::write(credentials.join("password"), "unit password\n").unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let config = repo.join("packaging").join("hub.toml");
        let data = dir.join("state");
        let words: Vec<String> = exec
            .split_whitespace()
            .map(|w| {
                w.replace("${CREDENTIALS_DIRECTORY}", credentials.to_str().unwrap())
                    .replace("/etc/courier/hub.toml", config.to_str().unwrap())
                    .replace("/var/lib/courier", data.to_str().unwrap())
            })
            .collect();
        assert_eq!(words[..2], ["/usr/bin/courier", "hub"], "{exec}");
        let mut cmd = Command::new(BIN);
        cmd.args(&words[1..])
            .args(["--listen", "127.0.0.1:0", "--no-advertise"])
            .env_remove("COURIER_PASSWORD")
            .env_remove("COURIER_LISTEN")
            .env_remove("COURIER_HUB_DATA")
            .stdin(Stdio::null());
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        ready_then_stopping(cmd, &data, &socket, path.as_os_str(), |addr| {
            let who = Command::new(BIN)
                .args(["who", "--json"])
                .env("COURIER_HUB", addr)
                .env("COURIER_HOME", dir.join("alice"))
                .env("COURIER_NAME", "alice")
                .env("COURIER_PASSWORD", "unit password")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                who.status.success(),
                "the credential's password logs in: {}",
                String::from_utf8_lossy(&who.stderr)
            );
        });
    }
}

/// Whether `line` starts as an event line: `2026-12-06T23:59:59.123456Z  INFO ...`.
#[cfg(unix)]
fn stamped(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 28
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
            .iter()
            .any(|l| line.split_whitespace().nth(1) == Some(l))
}

/// The hub's log (stderr to a file, as the journal or a log file takes it) while a client
/// gives a wrong password, another logs in under a name full of terminal escapes, and the
/// hub is stopped: no colour codes, and every line is one whole event.
#[cfg(unix)]
fn logs(journal: bool) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let dir = TempDir::new("service-logs");
    let log = dir.join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = hub(
        &dir,
        &["--listen", "127.0.0.1:0", "--no-advertise", "--json"],
    );
    cmd.stderr(file);
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let (mut child, line) = first_line(&mut cmd);
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = info["listen"].as_str().unwrap();
    let client = |name: &str, password: &str| {
        Command::new(BIN)
            .args(["who", "--json"])
            .env("COURIER_HUB", addr)
            .env("COURIER_HOME", dir.join(name.len().to_string()))
            .env("COURIER_NAME", name)
            .env("COURIER_PASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(client("mallory", "wrong password").status.code(), Some(2));
    let _ = client("eve\u{1b}[31m\u{1b}]0;owned\u{7}", PW);
    assert!(client("alice", PW).status.success());
    notify::terminate(&child.0);
    assert_eq!(notify::wait_exit(&mut child.0).code(), Some(0));
    let text = std::fs::read(&log).unwrap();
    assert!(!text.contains(&0x1b), "no escape codes in the log");
    String::from_utf8(text).unwrap()
}

#[cfg(unix)]
#[test]
fn hub_logs_off_a_terminal_are_one_line_per_event_without_colour() {
    let text = logs(false);
    // Lines the hub writes itself (not events) are whole lines too.
    let plain = |l: &str| l.starts_with("shutting down: ") || l.starts_with("note: ");
    for line in text.lines() {
        assert!(
            stamped(line) || plain(line),
            "a line that is no whole event: {line:?}\n{text}"
        );
    }
    assert!(text.lines().filter(|l| stamped(l)).count() >= 3, "{text}");
    assert!(text.contains("logged in as"), "{text}");
}

#[cfg(unix)]
#[test]
fn hub_logs_in_the_journal_have_a_priority_and_no_timestamp() {
    let text = logs(true);
    let plain = |l: &str| l.starts_with("shutting down: ") || l.starts_with("note: ");
    let priority = |l: &str| {
        let b = l.as_bytes();
        b.len() > 3 && b[0] == b'<' && b[1].is_ascii_digit() && b[2] == b'>'
    };
    for line in text.lines() {
        assert!(
            priority(line) || plain(line),
            "a line that is no whole event: {line:?}\n{text}"
        );
        assert!(
            !stamped(line.get(3..).unwrap_or("")),
            "the journal stamps lines itself: {line:?}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>") && l.contains("logged in as")),
        "{text}"
    );
}
