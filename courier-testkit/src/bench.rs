//! What the transfer benchmarks share: incompressible scratch files, the machine put in
//! the same state before every run, the baselines run beside Courier (a plain TCP copy,
//! `tar c | TCP | tar x`), and another process's CPU time and memory read from `/proc`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `key` from the environment as a number, else `default`.
pub fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `len` pseudo-random bytes (xorshift, seeded by `len`) to `path`: nothing on the
/// way can compress them.
pub fn fill(path: &Path, len: u64) {
    let mut f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ len;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).expect("writing a scratch file");
        left -= n as u64;
    }
}

/// Puts the machine in the same state before every run: dirty pages written back, the
/// page cache dropped (when allowed: as root), and `sources` (a file or a folder) read
/// back into the cache. Without it, a run after the first gigabyte pays for reclaiming
/// the pages the runs before it left, and figures on a small VM swing several times.
pub fn settle(sources: &Path) {
    let _ = Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1");
    warm(sources);
}

/// Reads every file under `path` once.
fn warm(path: &Path) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
            warm(&e.path());
        }
    } else if let Ok(mut f) = std::fs::File::open(path) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}

/// The baseline for one file: `from` → loopback TCP → `to`, a reading and a writing
/// thread with 256 KiB buffers, no sync. Returns the time from the listener's start to the
/// last byte written.
pub fn tcp_copy(from: &Path, to: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the copy's listener");
    let addr = listener.local_addr().expect("the listener's address");
    let to = to.to_owned();
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().expect("accepting the copy");
        let mut out = std::fs::File::create(to).expect("creating the copy");
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = tcp.read(&mut buf).expect("reading the socket");
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).expect("writing the copy");
        }
    });
    let mut tcp = TcpStream::connect(addr).expect("connecting the copy");
    let mut file = std::fs::File::open(from).expect("opening the source");
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf).expect("reading the source");
        if n == 0 {
            break;
        }
        tcp.write_all(&buf[..n]).expect("writing the socket");
    }
    drop(tcp);
    receiver.join().expect("the copy's receiving thread");
    start.elapsed()
}

/// The baseline for a folder: `tar c -C <parent> <folder> | loopback TCP | tar x -C dst`.
/// Returns the time from starting `tar x` to both `tar`s done.
pub fn tar_copy(folder: &Path, dst: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the copy's listener");
    let addr = listener.local_addr().expect("the listener's address");
    let parent = folder.parent().expect("the folder has a parent");
    let name = folder.file_name().expect("the folder has a name");
    let start = Instant::now();
    let mut untar = Command::new("tar")
        .args(["xf", "-", "-C"])
        .arg(dst)
        .stdin(Stdio::piped())
        .spawn()
        .expect("starting tar x");
    let mut stdin = untar.stdin.take().expect("tar x's stdin is piped");
    let receiver = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().expect("accepting the copy");
        // A reset here is tar's failure, seen below; the thread just stops.
        let _ = std::io::copy(&mut tcp, &mut stdin);
    });
    let mut tar = Command::new("tar")
        .args(["cf", "-", "-C"])
        .arg(parent)
        .arg(name)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting tar c");
    let mut out = tar.stdout.take().expect("tar c's stdout is piped");
    let mut tcp = TcpStream::connect(addr).expect("connecting the copy");
    std::io::copy(&mut out, &mut tcp).expect("tar c → socket");
    drop(tcp);
    assert!(tar.wait().expect("tar c").success(), "tar c failed");
    receiver.join().expect("the copy's receiving thread");
    assert!(untar.wait().expect("tar x").success(), "tar x failed");
    start.elapsed()
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU seconds (user + system, all threads, children it waited for excluded) process
/// `pid` has used, from `/proc/PID/stat`; `None` when there is no such process. Works on a
/// process that exited and was not reaped yet: see [`cpu_at_exit`].
#[cfg(target_os = "linux")]
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; after the name the state
    // (field 3) is index 0, so they are 11 and 12.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // USER_HZ is 100 on every Linux this runs on.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// A field of `/proc/PID/status` in KiB (`"VmHWM:"`, `"VmRSS:"`); `None` when the process
/// is gone or has no memory any more (it exited).
#[cfg(target_os = "linux")]
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// What a child process cost by the time it exited, read at its exit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    /// CPU seconds, user + system, all its threads, over its whole life.
    pub cpu: f64,
    /// Its peak resident memory (VmHWM) in KiB, as last seen before it exited.
    pub peak_kib: u64,
    /// Its largest resident memory (VmRSS) in KiB seen by the sampler.
    pub rss_kib: u64,
}

/// Watches a child's memory while it runs: a thread reads its VmHWM and VmRSS every
/// 10 ms until its memory is gone (it exited).
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct Watch {
    thread: std::thread::JoinHandle<(u64, u64)>,
}

#[cfg(target_os = "linux")]
impl Watch {
    /// Starts watching process `pid`.
    pub fn start(pid: u32) -> Self {
        let thread = std::thread::spawn(move || {
            let (mut hwm, mut rss) = (0, 0);
            while let Some(h) = status_kib(pid, "VmHWM:") {
                hwm = hwm.max(h);
                rss = rss.max(status_kib(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(10));
            }
            (hwm, rss)
        });
        Self { thread }
    }
}

/// Waits for `child` to exit and returns how it exited and its [`Cost`]: its CPU time is
/// read between its exit and its reaping (`waitid` with `WNOWAIT`), when `/proc` still
/// holds the total of all its threads; its memory is what `watch` saw.
#[cfg(target_os = "linux")]
pub fn cpu_at_exit(
    child: &mut std::process::Child,
    watch: Watch,
) -> (std::process::ExitStatus, Cost) {
    use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
    let pid = Pid::from_child(child);
    waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    )
    .unwrap_or_else(|e| panic!("waiting for process {}: {e}", child.id()));
    let cpu = cpu_secs(child.id()).unwrap_or(0.0);
    let status = child.wait().expect("reaping the process");
    let (peak_kib, rss_kib) = watch.thread.join().expect("the memory watcher");
    (
        status,
        Cost {
            cpu,
            peak_kib,
            rss_kib,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    /// A child that spins for a while is charged its CPU time even though it is read
    /// after the child exited (but before it was reaped).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_child_is_charged_its_cpu_time_at_exit() {
        let mut child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let watch = Watch::start(child.id());
        let (status, cost) = cpu_at_exit(&mut child, watch);
        assert!(status.success());
        assert!(cost.cpu > 0.05, "{cost:?}");
    }
}
