//! `courier hub backup`: a copy of the hub's folder made while it runs.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use courier_core::hub;
use courier_core::units::{duration, size};
use serde_json::json;

use crate::args::HubBackupArgs;

pub(super) fn run(args: &HubBackupArgs) -> Result<ExitCode> {
    let dir = super::data_dir(args.data_dir.as_ref())?;
    let started = Instant::now();
    let summary = hub::backup::create(&dir, &args.out)
        .with_context(|| format!("backing up the hub in {}", dir.display()))?;
    let took = started.elapsed();
    if args.json {
        let files: Vec<_> = summary
            .files
            .iter()
            .map(|(name, bytes)| json!({"name": name, "bytes": bytes}))
            .collect();
        let line = json!({
            "type": "backup",
            "from": dir.display().to_string(),
            "out": summary.out.display().to_string(),
            "files": files,
            "bytes": summary.bytes(),
            "schema": summary.schema,
            "integrity_check": "ok",
            "safety_code": summary.fingerprint.safety_code(),
            "fingerprint": summary.fingerprint.to_hex(),
            "seconds": took.as_secs_f64(),
        });
        crate::print(&format!("{line}\n"));
    } else {
        let names: Vec<&str> = summary.files.iter().map(|(name, _)| *name).collect();
        crate::print(&format!(
            "backed up the hub (safety code {}) into {}: {} ({}) in {}; the database passed \
             SQLite's integrity check. Start a hub from it with --data-dir {}\n",
            summary.fingerprint.safety_code(),
            summary.out.display(),
            names.join(", "),
            size(summary.bytes()),
            duration(took),
            summary.out.display(),
        ));
    }
    Ok(ExitCode::SUCCESS)
}
