//! `courier hub status`: asks the hub running on a folder how it is, without opening its
//! database.
//!
//! The running hub listens on a loopback port of its own and writes that port with a
//! random token into `<data-dir>/hub.status` (mode 0600, in the hub's 0700 folder): only
//! who may read the hub's folder can ask. One design on every system (a Unix socket
//! would need another on Windows, where the same test runs under Wine). A client sends
//! the token and a newline; the hub answers one JSON object and closes. The file also
//! holds a second secret, the proof, that the asker never sends: the hub puts it in its
//! answer, so a program that took the port of a killed hub (another local user's,
//! answering anything it likes) cannot pass for it. A stale file (the hub was killed)
//! names a pid that is gone, a port nobody listens on, or one where something else
//! answers without the proof: "no hub is running". A port that takes the connection and
//! answers nothing is an error (exit 2), not "no hub": the hub may be busy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use async_net::{TcpListener, TcpStream};
use courier_core::hub::Observer;
use courier_core::proto::Timestamp;
use courier_core::units;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use serde_json::{Value, json};

use super::endpoint;
use crate::args::HubStatusArgs;
use crate::output::{rfc3339, safe};

/// The file, in the hub's folder, that tells where to ask.
const FILE: &str = "hub.status";
/// Status requests answered at once (past it, the oldest that has not asked gives way).
const CAP: usize = 4;
/// The most an asker may take, from accept to the end of the answer.
const DEADLINE: Duration = Duration::from_secs(3);
/// The longest request: the token (64 hex digits) and a newline.
const MAX_REQUEST: usize = 128;
/// The longest answer the asker reads (a name is at most a few hundred bytes).
const MAX_ANSWER: u64 = 16 << 20;
/// How long the asker waits for the hub.
const WAIT: Duration = Duration::from_secs(5);
/// The exit code when no hub runs on the folder (as `systemctl status` has it).
const NOT_RUNNING: u8 = 3;

/// What the running hub says about itself that does not change while it runs.
pub(super) struct Fixed {
    pub(super) listen: SocketAddr,
    pub(super) addresses: Vec<String>,
    pub(super) safety_code: String,
    pub(super) metrics: Option<SocketAddr>,
    pub(super) started: Timestamp,
}

/// The running hub's status endpoint: the file is removed when this is dropped (if it
/// is still this hub's).
pub(super) struct Endpoint {
    file: PathBuf,
    token: String,
    proof: String,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Another hub may have started on the folder since (and written its own).
        if read_file(&self.file).is_some_and(|f| f.token == self.token) {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// Opens the status endpoint for the hub in `dir` and writes `hub.status`.
pub(super) async fn open(dir: &Path) -> Result<(Endpoint, TcpListener)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("opening the status endpoint on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    let secret = || -> String {
        (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect()
    };
    let (token, proof) = (secret(), secret());
    let file = dir.join(FILE);
    let body = json!({ "port": port, "token": token, "proof": proof, "pid": std::process::id() });
    courier_core::identity::write_private(&file, format!("{body}\n").as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok((Endpoint { file, token, proof }, listener))
}

/// Answers status requests on `listener` until dropped.
pub(super) fn serve(
    endpoint: &Endpoint,
    listener: TcpListener,
    fixed: Fixed,
    observer: Observer,
) -> impl Future<Output = ()> + Send + 'static {
    let (token, proof) = (endpoint.token.clone(), endpoint.proof.clone());
    async move {
        let (token, proof, fixed, observer) = (&token, &proof, &fixed, &observer);
        let request = endpoint::Request {
            end: b"\n",
            max: MAX_REQUEST,
        };
        endpoint::serve(
            listener,
            CAP,
            DEADLINE,
            request,
            |mut stream, asked| async move {
                let Some(asked) = asked else {
                    return;
                };
                if !same(asked.trim_ascii(), token.as_bytes()) {
                    return;
                }
                let Some(mut answer) = status(fixed, observer).await else {
                    return;
                };
                answer["proof"] = proof.as_str().into();
                let _ = stream.write_all(format!("{answer}\n").as_bytes()).await;
                let _ = stream.close().await;
            },
        )
        .await;
    }
}

/// Compares two tokens in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The status JSON, asked of the running hub.
async fn status(fixed: &Fixed, observer: &Observer) -> Option<Value> {
    let metrics = observer.metrics().await?;
    let online = observer.online().await?;
    let s = &metrics.stats;
    let online: Vec<Value> = online
        .iter()
        .map(|m| {
            json!({
                "id": m.id.to_hex(),
                "short": m.id.short(),
                "name": m.name,
                "connections": m.connections,
            })
        })
        .collect();
    Some(json!({
        "running": true,
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "listen": fixed.listen.to_string(),
        "addresses": fixed.addresses,
        "safety_code": fixed.safety_code,
        "metrics": fixed.metrics.map(|a| a.to_string()),
        "started": fixed.started.0,
        "started_local": rfc3339(fixed.started),
        "uptime_secs": metrics.uptime.as_secs(),
        "connections": s.connections,
        "members_online": metrics.members_online,
        "online": online,
        "backlog": {
            "messages": s.stored,
            "bytes": s.stored_bytes,
            "offers": s.stored_offers,
            "group_entries": s.group_entries,
        },
    }))
}

/// What a status file holds.
struct StatusFile {
    port: u16,
    /// What the asker sends.
    token: String,
    /// What only the hub that wrote the file answers with.
    proof: String,
    /// The hub's process.
    pid: u32,
}

/// What the status file at `file` holds, if it holds it all.
fn read_file(file: &Path) -> Option<StatusFile> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(StatusFile {
        port: u16::try_from(v["port"].as_u64()?).ok()?,
        token: v["token"].as_str()?.to_owned(),
        proof: v["proof"].as_str()?.to_owned(),
        pid: u32::try_from(v["pid"].as_u64()?).ok()?,
    })
}

/// Whether process `pid` is gone (Linux: no /proc entry; elsewhere never known gone, and
/// the port and the proof decide).
fn gone(pid: u32) -> bool {
    cfg!(target_os = "linux") && !Path::new("/proc").join(pid.to_string()).exists()
}

/// What asking gave.
enum Asked {
    Running(Value),
    /// No hub runs; why we think so.
    NotRunning(&'static str),
    /// No hub runs, and something else holds the port the hub had (on this port).
    Impostor(u16),
}

/// Asks the hub on `dir`.
async fn ask(dir: &Path) -> Result<Asked> {
    let file = dir.join(FILE);
    let found = match std::fs::read_to_string(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Asked::NotRunning("no hub.status"));
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        Ok(_) => read_file(&file),
    };
    let Some(found) = found else {
        return Ok(Asked::NotRunning("hub.status is damaged"));
    };
    if gone(found.pid) {
        return Ok(Asked::NotRunning("a stale hub.status (its pid is gone)"));
    }
    let (port, token) = (found.port, &found.token);
    // Refused: the hub that wrote the file is gone (killed, or its machine restarted).
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return Ok(Asked::NotRunning("a stale hub.status"));
    };
    let exchange = async {
        let mut stream = stream;
        stream.write_all(format!("{token}\n").as_bytes()).await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    let timeout = async {
        smol::Timer::after(WAIT).await;
        Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    let answer = match futures_lite::future::or(exchange, timeout).await {
        Ok(answer) => answer,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => anyhow::bail!(
            "something holds the hub's status port {port} on {} but did not answer within {}s",
            dir.display(),
            WAIT.as_secs()
        ),
        Err(_) => Vec::new(),
    };
    // Taken and closed with no word: the hub is busy (its few slots taken) or stopping.
    if answer.is_empty() {
        anyhow::bail!(
            "the hub's status port {port} on {} did not answer (busy or stopping; try again)",
            dir.display()
        );
    }
    // Only the hub that wrote the file knows the proof; anything else on its port (that
    // took it after the hub was killed) says what it likes, and is not shown.
    match serde_json::from_slice::<Value>(&answer) {
        Ok(mut v)
            if v["running"] == true
                && v["pid"].as_u64() == Some(u64::from(found.pid))
                && v["proof"]
                    .as_str()
                    .is_some_and(|p| same(p.as_bytes(), found.proof.as_bytes())) =>
        {
            if let Some(o) = v.as_object_mut() {
                o.remove("proof");
            }
            Ok(Asked::Running(v))
        }
        _ => Ok(Asked::Impostor(port)),
    }
}

/// `courier hub status`.
pub(super) async fn run(args: &HubStatusArgs) -> Result<ExitCode> {
    let dir = super::data_dir(args.data_dir.as_ref())?;
    match ask(&dir).await? {
        Asked::Running(v) => {
            if args.json {
                crate::print(&format!("{v}\n"));
            } else {
                crate::print(&human(&dir, &v));
            }
            Ok(ExitCode::SUCCESS)
        }
        asked @ (Asked::NotRunning(_) | Asked::Impostor(_)) => {
            if let Asked::Impostor(port) = asked {
                eprintln!(
                    "note: something other than the hub holds its status port {port} (it did \
                     not prove itself the hub of this folder): the hub was stopped or killed"
                );
            }
            if args.json {
                crate::print(&format!("{}\n", json!({ "running": false })));
            } else {
                crate::print(&format!("no hub is running on {}\n", dir.display()));
                if let Asked::NotRunning(why) = asked {
                    tracing::debug!("not running: {why}");
                }
            }
            Ok(ExitCode::from(NOT_RUNNING))
        }
    }
}

/// The status as a short table.
fn human(dir: &Path, v: &Value) -> String {
    let n = |v: &Value| v.as_u64().unwrap_or_default();
    let uptime = units::duration(Duration::from_secs(n(&v["uptime_secs"])));
    // Every string shown is made terminal-safe: the answer came over a socket.
    let text = |v: &Value| safe(v.as_str().unwrap_or("-"));
    let mut out = format!(
        "A hub is running on {} (pid {}, up {uptime})\n",
        safe(&dir.display().to_string()),
        n(&v["pid"])
    );
    let addresses: Vec<String> = v["addresses"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(safe).collect())
        .unwrap_or_default();
    let row = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("  {label:<13} {value}\n"));
    };
    row(&mut out, "listening on", &text(&v["listen"]));
    row(
        &mut out,
        "join with",
        &format!("--hub {}", addresses.join(" or --hub ")),
    );
    row(&mut out, "safety code", &text(&v["safety_code"]));
    let metrics = v["metrics"].as_str().map_or_else(
        || "off".to_owned(),
        |a| format!("http://{}/metrics", safe(a)),
    );
    row(&mut out, "metrics", &metrics);
    row(&mut out, "connections", &n(&v["connections"]).to_string());
    let b = &v["backlog"];
    let backlog = format!(
        "{} ({}), {}, {}",
        count(n(&b["messages"]), "message", "messages"),
        units::size(n(&b["bytes"])),
        count(n(&b["offers"]), "stored offer", "stored offers"),
        count(n(&b["group_entries"]), "group entry", "group entries"),
    );
    row(&mut out, "backlog", &backlog);
    let online = v["online"].as_array().cloned().unwrap_or_default();
    row(
        &mut out,
        "online",
        &count(online.len() as u64, "member", "members"),
    );
    for m in &online {
        let connections = n(&m["connections"]);
        let more = if connections > 1 {
            format!("  ({connections} connections)")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "    {}  {}{more}\n",
            text(&m["short"]),
            text(&m["name"]),
        ));
    }
    out
}

fn count(n: u64, one: &str, many: &str) -> String {
    units::count(usize::try_from(n).unwrap_or(usize::MAX), one, many)
}
