//! Transfer progress for people (a one-line bar on stderr) and for scripts (JSON lines).

use std::io::{IsTerminal, Write};

use courier_core::transfer::{Progress, Summary, Update};
use serde_json::{Value, json};

pub(crate) use courier_core::units::{duration, size};

/// The bar, redrawn in place on a terminal; silent otherwise.
pub(crate) struct Bar {
    enabled: bool,
    drawn: bool,
}

impl Bar {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            enabled: !json && std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub(crate) fn draw(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let frac = if p.total == 0 {
            1.0
        } else {
            p.bytes as f64 / p.total as f64
        };
        let width = 24;
        let filled = ((frac * width as f64) as usize).min(width);
        let eta = p.eta.map_or_else(|| "--:--".to_owned(), duration);
        let line = format!(
            "\r[{}{}] {:>3.0}% {} / {}  {}/s  ETA {}   ",
            "#".repeat(filled),
            ".".repeat(width - filled),
            frac * 100.0,
            size(p.bytes),
            size(p.total),
            size(p.rate as u64),
            eta
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the bar's line so that the next message starts clean.
    pub(crate) fn clear(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

/// Shows what `send` and `receive` show alike: the route, progress, a failed file.
pub(crate) fn show_common(u: &Update, json: bool, bar: &mut Bar) {
    let emit = |v: Value| crate::print(&format!("{v}\n"));
    match u {
        Update::Connected { route } => {
            if json {
                emit(json!({"type": "connected", "route": route}));
            } else {
                eprintln!("Connected ({route}).");
            }
        }
        Update::Progress(p) => {
            if json {
                emit(progress_json(p));
            } else {
                bar.draw(p);
            }
        }
        Update::Waiting => {
            if json {
                emit(json!({"type": "waiting"}));
            } else {
                eprintln!("Waiting for the sender (it is sending to others first)…");
            }
        }
        Update::FileFailed { index, reason } => {
            bar.clear();
            if json {
                emit(json!({"type": "failed", "file": index, "reason": reason.to_string()}));
            } else {
                eprintln!("courier: file {index} failed: {reason}");
            }
        }
        _ => {}
    }
}

pub(crate) fn progress_json(p: &Progress) -> Value {
    json!({
        "type": "progress",
        "file": p.file,
        "file_bytes": p.file_bytes,
        "file_size": p.file_size,
        "bytes": p.bytes,
        "total": p.total,
        "rate": p.rate.round() as u64,
        "eta_secs": p.eta.map(|d| d.as_secs_f64()),
    })
}

pub(crate) fn summary_json(s: &Summary) -> Value {
    json!({
        "type": "result",
        "status": "ok",
        "transfer": s.id.to_string(),
        "route": s.route,
        "files": s.files,
        "bytes": s.bytes,
        "moved": s.moved,
        "resumed": s.resumed,
        "seconds": s.elapsed.as_secs_f64(),
        "saved": s.saved.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// A one-line human summary.
pub(crate) fn summary_line(verb: &str, s: &Summary) -> String {
    let secs = s.elapsed.as_secs_f64().max(0.001);
    let took = duration(s.elapsed);
    let mut line = format!(
        "{verb} {} ({}) {}, verified, in {took} ({}/s)",
        crate::output::count(s.files, "file", "files"),
        size(s.bytes),
        s.route,
        size((s.moved as f64 / secs) as u64)
    );
    if s.resumed > 0 {
        line.push_str(&format!(
            "; resumed, {} were already there",
            size(s.resumed)
        ));
    }
    line
}
