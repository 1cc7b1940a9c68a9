//! The CLI's end-to-end path on Windows for real: the `x86_64-pc-windows-gnu` build of
//! `courier`, run under Wine, against itself (a Windows hub and two Windows clients: a
//! message with its receipt, a folder sent and verified, a 1 GiB transfer cut by killing
//! the sender and resumed) and against the Linux hub (a Windows client and a Linux client
//! exchanging a message and files, names Windows must not take as they are among them).
//!
//! Needs Wine (`wine wine64`), the MinGW linker (`gcc-mingw-w64-x86-64`) and the Rust
//! target (`rustup target add x86_64-pc-windows-gnu`); `.ci/run` installs them. Without
//! them the test does not run and says so; `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI) makes
//! that a failure. The test builds the Windows binary itself, in `target/wine`.
//!
//! What Wine itself cannot do, and what stands in for it: see `courier_testkit::windows`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use courier_testkit::json::{json_lines, text, until_line};
use courier_testkit::windows::{self, WindowsProgram, win};
use courier_testkit::{HubProcess as Hub, TempDir, not_run};

const PW: &str = "wine test password";
const LINUX_BIN: &str = env!("CARGO_BIN_EXE_courier");

/// The Windows `courier.exe` under Wine.
fn setup() -> Result<WindowsProgram, String> {
    windows::build("courier-cli", "courier")
}

/// Starts `courier hub --json` from `cmd` (Windows or Linux) with its data in `data`.
fn start_hub(mut cmd: Command, data: &str) -> Hub {
    cmd.env("COURIER_PASSWORD", PW);
    Hub::spawn(cmd, "127.0.0.1:0", data, &[])
}

/// `cmd` as client `name` of `hub`, its profile under `home`.
fn client(mut cmd: Command, hub: &Hub, home: &str, name: &str) -> Command {
    cmd.env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", home)
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW);
    cmd
}

/// Asks (with `who`) until every name in `names` is online.
fn wait_online(mut who: impl FnMut() -> Command, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut c = who();
        c.args(["who", "--json"]).stderr(Stdio::null());
        let out = c.output().unwrap();
        let contacts = json_lines(&out.stdout);
        let online = |n: &&str| {
            contacts
                .iter()
                .any(|c| c["name"] == **n && c["online"] == true)
        };
        if names.iter().all(online) {
            return;
        }
        assert!(Instant::now() < deadline, "{names:?} never all online");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cmd` listens for one message, printing JSON lines.
fn listen_for_one(mut cmd: Command) -> Child {
    cmd.args(["listen", "--json", "--count", "1", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// `cmd` says `message` to `to`; it must succeed.
fn say(mut cmd: Command, to: &str, message: &str) -> std::process::Output {
    cmd.args(["say", "--to", to, "--json", message]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out
}

/// `cmd` accepts `count` offers into `dir`, printing JSON lines.
fn receive_into(mut cmd: Command, dir: &str, count: &str) -> Child {
    cmd.args(["receive", "--yes", "--json", "--count", count, "--dir", dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn windows_cli_end_to_end_under_wine() {
    let wine = match setup() {
        Ok(w) => w,
        Err(why) => return not_run("windows_cli_end_to_end_under_wine", &why),
    };
    let dir = TempDir::new("cli-wine");
    let home = |name: &str| win(&dir.join(name));

    // A Windows hub and two Windows clients.
    let hub = start_hub(wine.command(), &home("hub"));
    let alice = || client(wine.command(), &hub, &home("alice"), "alice");
    let bob = || client(wine.command(), &hub, &home("bob"), "bob");

    // A message with its receipt.
    let listener = listen_for_one(bob());
    wait_online(alice, &["bob"]);
    let out = say(alice(), "bob", "hello from Windows");
    let receipt = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(receipt["status"], "delivered");
    let heard = listener.wait_with_output().unwrap();
    let msg = json_lines(&heard.stdout)
        .into_iter()
        .find(|v| v["type"] == "message")
        .expect("bob heard it");
    assert_eq!(msg["text"], "hello from Windows");
    assert_eq!(msg["from"]["name"], "alice");
    assert_eq!(msg["id"], receipt["id"]);

    // A folder, sent and verified.
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("photos/2026")).unwrap();
    std::fs::write(src.join("photos/2026/a.jpg"), vec![7u8; 300_000]).unwrap();
    std::fs::write(src.join("photos/b.txt"), b"bbb").unwrap();
    std::fs::create_dir_all(src.join("photos/empty")).unwrap();
    let downloads = dir.join("downloads");
    let receive = |count: &str| {
        let child = receive_into(bob(), &win(&downloads), count);
        wait_online(alice, &["bob"]);
        child
    };
    let receiver = receive("1");
    let out = {
        let mut c = alice();
        c.args(["send", "--to", "bob", "--json"])
            .arg(win(&src.join("photos")));
        c.output().unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let result = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["files"], 2);
    let got = receiver.wait_with_output().unwrap();
    assert_eq!(json_lines(&got.stdout).pop().unwrap()["status"], "ok");
    assert_eq!(tree(&downloads.join("photos")), tree(&src.join("photos")));
    assert!(
        downloads.join("photos/empty").is_dir(),
        "the empty folder too"
    );

    // A transfer cut by killing the sender, then resumed. The sender runs in a process
    // group of its own and the whole group is killed, in case Wine runs the program
    // apart from the process we started.
    let big = dir.join("big.bin");
    // Large enough that the kill lands mid-transfer (a 96 MiB file was sometimes done
    // before the kill arrived); sparse, so it costs no memory and no disk.
    let size: u64 = 1 << 30;
    std::fs::File::create(&big).unwrap().set_len(size).unwrap();
    let mut receiver = receive("2");
    let mut rx = BufReader::new(receiver.stdout.take().unwrap());
    let mut sender = {
        let mut c = alice();
        c.args(["send", "--to", "bob", "--json"])
            .arg(win(&big))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c.spawn().unwrap()
    };
    until_line(&mut rx, |v| {
        v["type"] == "progress" && v["bytes"].as_u64().unwrap() > (8 << 20)
    });
    rustix::process::kill_process_group(
        rustix::process::Pid::from_child(&sender),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    sender.wait().unwrap();
    let cut = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(cut["status"], "error", "{cut}");
    let out = {
        let mut c = alice();
        c.args(["send", "--to", "bob", "--json"]).arg(win(&big));
        c.output().unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let result = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(result["status"], "ok", "{result}");
    let resumed = result["resumed"].as_u64().unwrap();
    assert!(resumed > 0, "the second send resumed: {result}");
    assert_eq!(
        result["moved"].as_u64().unwrap(),
        size - resumed,
        "bytes already received are not sent again"
    );
    let done = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(done["status"], "ok");
    assert_eq!(
        std::fs::metadata(downloads.join("big.bin")).unwrap().len(),
        size
    );
    assert!(
        std::fs::read(downloads.join("big.bin"))
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    let _ = receiver.wait();
    drop(hub);

    // A Windows client against the Linux hub, with a Linux client.
    let hub = start_hub(
        Command::new(LINUX_BIN),
        dir.join("linux-hub").to_str().unwrap(),
    );
    let linux = || {
        let mut c = client(
            Command::new(LINUX_BIN),
            &hub,
            dir.join("linux-carol").to_str().unwrap(),
            "carol",
        );
        c.stdin(Stdio::null());
        c
    };
    let windows = || client(wine.command(), &hub, &home("win-dave"), "dave");
    let listener = listen_for_one(linux());
    wait_online(windows, &["carol"]);
    let out = say(windows(), "carol", "from Wine to Linux");
    assert_eq!(
        json_lines(&out.stdout).pop().unwrap()["status"],
        "delivered"
    );
    let heard = listener.wait_with_output().unwrap();
    assert!(
        json_lines(&heard.stdout)
            .iter()
            .any(|v| v["type"] == "message" && v["text"] == "from Wine to Linux")
    );
    // A file from Linux to Windows.
    let to_windows = dir.join("to-windows");
    let receiver = receive_into(windows(), &win(&to_windows), "1");
    wait_online(linux, &["dave"]);
    let out = {
        let mut c = linux();
        c.args(["send", "--to", "dave", "--json"])
            .arg(src.join("photos/2026/a.jpg"));
        c.output().unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_lines(&out.stdout).pop().unwrap()["status"], "ok");
    let got = receiver.wait_with_output().unwrap();
    assert_eq!(json_lines(&got.stdout).pop().unwrap()["status"], "ok");
    assert_eq!(
        std::fs::read(to_windows.join("a.jpg")).unwrap(),
        vec![7u8; 300_000]
    );

    // SECURITY F4, F5, F8 on Windows: names a Linux sender can have but Windows must not
    // take as they are — a device name, an alternate data stream, names differing only
    // in case. Each is saved under a safe name, inside the folder, none lost.
    let odd = dir.join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    let files: [(&str, &[u8]); 4] = [
        ("CON.txt", b"device"),
        ("notes.txt:secret", b"stream"),
        ("Readme.txt", b"first"),
        ("README.txt", b"second"),
    ];
    for (name, bytes) in files {
        std::fs::write(odd.join(name), bytes).unwrap();
    }
    let receiver = receive_into(windows(), &win(&to_windows), "1");
    wait_online(linux, &["dave"]);
    let out = {
        let mut c = linux();
        c.args(["send", "--to", "dave", "--json"]).arg(&odd);
        c.output().unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = receiver.wait_with_output().unwrap();
    assert_eq!(json_lines(&got.stdout).pop().unwrap()["status"], "ok");
    let saved = tree(&to_windows.join("odd"));
    let names: Vec<String> = saved
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(saved.len(), 4, "{names:?}");
    let read = |name: &str| std::fs::read(to_windows.join("odd").join(name)).ok();
    assert_eq!(
        read("_CON.txt").as_deref(),
        Some(&b"device"[..]),
        "{names:?}"
    );
    assert_eq!(
        read("notes.txt_secret").as_deref(),
        Some(&b"stream"[..]),
        "{names:?}"
    );
    let mut readmes: Vec<&[u8]> = saved
        .iter()
        .filter(|(p, _)| p.to_string_lossy().to_lowercase().starts_with("readme"))
        .map(|(_, b)| b.as_slice())
        .collect();
    readmes.sort();
    assert_eq!(readmes, [&b"first"[..], &b"second"[..]], "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("(1)")),
        "the second of two names differing in case is numbered: {names:?}"
    );
    // Nothing landed beside the download folder.
    let beside: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.to_lowercase().contains("con") || n.contains("secret"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}
