//! How long from starting a hub to its appearing in a client's list, on a real network:
//! two network namespaces joined by a veth pair (root needed). A browser runs in the
//! client namespace (this binary again, `--browse`); the `courier hub` process is
//! started in the hub namespace 20 times, and each time the browser reports when it saw
//! the hub, then when it saw it leave after Ctrl-C. Beside it: the 1 s in which RFC
//! 6762 lets a first query go unanswered (avahi could not run in these namespaces
//! without a system bus: not used).
//!
//! `cargo bench -p courier-cli --bench discovery` (as root)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the discovery bench needs Linux network namespaces");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const RUNS: usize = 20;
    const BIN: &str = env!("CARGO_BIN_EXE_courier");

    pub(super) fn main() {
        let args: Vec<String> = std::env::args().collect();
        if args.iter().any(|a| a == "--list") {
            return;
        }
        if args.iter().any(|a| a == "--browse") {
            return browse();
        }
        let tag = std::process::id() % 100_000;
        let (hub_ns, client_ns) = (format!("cbh{tag}"), format!("cbc{tag}"));
        let (a, b) = (format!("cba{tag}"), format!("cbb{tag}"));
        let steps = [
            format!("netns add {hub_ns}"),
            format!("netns add {client_ns}"),
            format!("link add {a} type veth peer name {b}"),
            format!("link set {a} netns {hub_ns}"),
            format!("link set {b} netns {client_ns}"),
            format!("-n {hub_ns} addr add 10.99.0.1/24 dev {a}"),
            format!("-n {client_ns} addr add 10.99.0.2/24 dev {b}"),
            format!("-n {hub_ns} link set {a} up"),
            format!("-n {client_ns} link set {b} up"),
            format!("-n {hub_ns} link set lo up"),
            format!("-n {client_ns} link set lo up"),
        ];
        for step in &steps {
            let ok = Command::new("ip")
                .args(step.split(' '))
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                cleanup(&hub_ns, &client_ns);
                eprintln!("cannot make network namespaces (`ip {step}`): run as root");
                return;
            }
        }
        let dir = std::env::temp_dir().join(format!("courier-bench-discovery-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut browser = Command::new("ip")
            .args(["netns", "exec", &client_ns])
            .arg(std::env::current_exe().unwrap())
            .arg("--browse")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut to_browser = browser.stdin.take().unwrap();
        let mut from_browser = BufReader::new(browser.stdout.take().unwrap());
        let mut line = String::new();
        from_browser.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");

        println!(
            "# From `courier hub` starting to the hub in a browsing client's list ({RUNS} runs)\n"
        );
        let mut found = Vec::new();
        let mut lost = Vec::new();
        for run in 0..RUNS {
            writeln!(to_browser, "go").unwrap();
            let mut hub = start_hub(&hub_ns, &dir.join(format!("hub{run}")));
            line.clear();
            from_browser.read_line(&mut line).unwrap();
            let ms: f64 = line.trim().strip_prefix("found ").unwrap().parse().unwrap();
            found.push(ms);
            writeln!(to_browser, "go").unwrap();
            stop(&mut hub);
            line.clear();
            from_browser.read_line(&mut line).unwrap();
            let ms: f64 = line.trim().strip_prefix("lost ").unwrap().parse().unwrap();
            lost.push(ms);
        }
        drop(to_browser);
        let _ = browser.wait();
        cleanup(&hub_ns, &client_ns);
        let _ = std::fs::remove_dir_all(&dir);

        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[v.len() - 1])
        };
        let (f_med, f_max) = median(&mut found);
        let (l_med, l_max) = median(&mut lost);
        println!("{:<52} {:>10} {:>10}", "", "median ms", "max ms");
        println!(
            "{:<52} {:>10.0} {:>10.0}",
            "hub process started → listed by the client", f_med, f_max
        );
        println!(
            "{:<52} {:>10.0} {:>10.0}",
            "Ctrl-C to the hub → gone from the client's list", l_med, l_max
        );
        println!(
            "{:<52} {:>10.0}",
            "baseline: RFC 6762 first-query budget", 1000.0
        );
        println!();
        println!(
            "listed: {:.2} of the 1 s bar (median; it includes the hub process's own start)",
            f_med / 1000.0
        );
    }

    fn start_hub(ns: &str, dir: &std::path::Path) -> Child {
        let mut hub = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                BIN,
                "hub",
                "--json",
                "--listen",
                "0.0.0.0:0",
            ])
            .arg("--data-dir")
            .arg(dir)
            .args(["--name", "Bench hub"])
            .env("COURIER_PASSWORD", "discovery bench password")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Keep its stdout open; the browser times the rest.
        let out = hub.stdout.take().unwrap();
        std::mem::forget(out);
        hub
    }

    fn stop(hub: &mut Child) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(hub.id()).unwrap()).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let _ = hub.wait();
    }

    fn cleanup(hub_ns: &str, client_ns: &str) {
        for ns in [hub_ns, client_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The client side: browse; at each "go" on stdin, time until a hub appears (then,
    /// at the next, until it goes).
    fn browse() {
        use courier_core::discovery::{Browser, Seen};
        let mut browser = Browser::start().unwrap();
        println!("ready");
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut stdout = std::io::stdout();
        loop {
            if lines.next().is_none() {
                return;
            }
            let start = Instant::now();
            let found = loop {
                match browser.next(start + Duration::from_secs(10)) {
                    Some(Seen::Found(_)) => break start.elapsed(),
                    Some(_) => {}
                    None => panic!("no hub seen within 10 s"),
                }
            };
            writeln!(stdout, "found {:.1}", found.as_secs_f64() * 1e3).unwrap();
            if lines.next().is_none() {
                return;
            }
            let start = Instant::now();
            let lost = loop {
                match browser.next(start + Duration::from_secs(10)) {
                    Some(Seen::Lost(_)) => break start.elapsed(),
                    Some(_) => {}
                    None => panic!("the hub did not leave within 10 s"),
                }
            };
            writeln!(stdout, "lost {:.1}", lost.as_secs_f64() * 1e3).unwrap();
            stdout.flush().unwrap();
        }
    }
}
