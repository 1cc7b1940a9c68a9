//! `courier doctor`: why can't I see or reach the hub? Prints, for each step of
//! [`courier_core::doctor`], ok or what is wrong and what to do, in one line.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use courier_core::doctor::{self, Check, Finding};
use courier_core::identity::{Identity, PinStore};
use serde_json::json;

use crate::args::{DoctorArgs, LOCAL_HUB};
use crate::client::profile_dir;
use crate::password;

pub(crate) async fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let dir = profile_dir(&args.client)?;
    let identity = Identity::load_or_create(&dir)?;
    let password = password::given(args.client.password_file.as_deref())
        .ok()
        .flatten();
    let check = Check {
        hub: args.client.hub.clone(),
        fallback: LOCAL_HUB.to_owned(),
        identity,
        pins: PinStore::new(&dir),
        password,
        profile: courier_core::proto::Profile::with_name(
            args.client
                .name
                .clone()
                .unwrap_or_else(crate::client::default_name),
        ),
        listen: args
            .bind
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        port_hint: "--bind :PORT".to_owned(),
        // As in the app: COURIER_NO_DISCOVERY leaves mDNS out (tests on loopback).
        discover: std::env::var_os("COURIER_NO_DISCOVERY").is_none(),
        peer: args.peer.clone(),
        run: courier_core::limits::LINK_TEST_RUN,
        // A check is short: it answers others' link tests meanwhile, as it always did.
        answer_link_tests: true,
    };
    let mut findings: Vec<Finding> = Vec::new();
    let hub = doctor::run(check, |f| {
        if !args.json {
            let mark = if f.ok { "ok     " } else { "PROBLEM" };
            eprintln!("{mark}  {}: {}", f.step, f.text);
        }
        findings.push(f);
    })
    .await;

    let problems = findings.iter().filter(|f| !f.ok).count();
    if args.json {
        let steps: Vec<_> = findings
            .iter()
            .map(|f| json!({"step": f.step, "ok": f.ok, "text": f.text}))
            .collect();
        let line = json!({
            "type": "doctor",
            "hub": hub,
            "steps": steps,
            "problems": problems,
            "seconds": started.elapsed().as_secs_f64(),
        });
        crate::print(&format!("{line}\n"));
    } else if problems == 0 {
        eprintln!("Everything checked works.");
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
