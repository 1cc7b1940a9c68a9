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
    use std::process::Stdio;

    use courier_testkit::HubProcess;
    use courier_testkit::netns::Namespace;
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
        let pair = match courier_testkit::netns::Pair::new(99) {
            Ok(pair) => pair,
            Err(why) => {
                eprintln!("cannot make network namespaces ({why}): run as root");
                return;
            }
        };
        let (hub_ns, client_ns) = (&pair.a, &pair.b);
        let dir = courier_testkit::TempDir::new("bench-discovery");
        let mut browser = client_ns
            .exec(std::env::current_exe().unwrap())
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
            let mut hub = start_hub(hub_ns, &dir.join(format!("hub{run}")));
            line.clear();
            from_browser.read_line(&mut line).unwrap();
            let ms: f64 = line.trim().strip_prefix("found ").unwrap().parse().unwrap();
            found.push(ms);
            writeln!(to_browser, "go").unwrap();
            hub.interrupt(Duration::from_secs(10));
            line.clear();
            from_browser.read_line(&mut line).unwrap();
            let ms: f64 = line.trim().strip_prefix("lost ").unwrap().parse().unwrap();
            lost.push(ms);
        }
        drop(to_browser);
        let _ = browser.wait();

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

    /// `courier hub` in namespace `ns`, advertised as "Bench hub"; its stdout stays open
    /// while it runs, and the browser times the rest.
    fn start_hub(ns: &Namespace, dir: &std::path::Path) -> HubProcess {
        let mut cmd = ns.exec(BIN);
        cmd.env("COURIER_PASSWORD", "discovery bench password");
        HubProcess::spawn(cmd, "0.0.0.0:0", dir, &["--name", "Bench hub"])
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
