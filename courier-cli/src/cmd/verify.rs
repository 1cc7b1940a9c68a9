//! `courier verify`: the safety number shared with a contact's device, and the verified
//! mark (`--mark`, `--unmark`).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::proto::{Target, Timestamp};
use courier_core::safety::SafetyNumber;
use serde_json::json;

use crate::args::VerifyArgs;
use crate::client::Client;
use crate::output::{self, safe};

pub(crate) async fn run(args: VerifyArgs) -> Result<ExitCode> {
    let client = Client::connect(&args.client, false, false).await?;
    let Target::Client(id) = client.resolve_any(&args.who)? else {
        bail!("a safety number is between two devices: name one contact, not everyone or a group");
    };
    if id == client.me {
        bail!("that is this device: verify a contact's");
    }
    let name = client.name_of(id);
    let number = SafetyNumber::between(client.me, id);
    let conflict = client.conflict(id)?;
    let store = &client.verified;
    let read = || "reading the verified devices";
    if args.mark {
        store
            .mark(id, &name, Timestamp::now())
            .context("keeping the verified mark")?;
    } else if args.unmark {
        store.unmark(&id).context("removing the verified mark")?;
    }
    let mark = store.get(&id).with_context(read)?;
    if args.json {
        let line = json!({
            "type": "safety",
            "id": id.to_hex(),
            "short": id.short(),
            "name": name,
            "digits": number.digits(),
            "groups": number.groups(),
            "qr": number.qr_payload(),
            "verified": mark.is_some(),
            "verified_at": mark.as_ref().map(|m| output::rfc3339(m.when)),
            "verified_as_other": conflict.as_ref().map(|c| json!({
                "id": c.verified.id.to_hex(),
                "short": c.verified.id.short(),
                "name": c.verified.name,
            })),
        });
        crate::print(&format!("{line}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let shown = safe(&name);
    let mut out = String::new();
    if args.mark {
        out.push_str(&format!(
            "Marked {shown} ({}) as verified: device {}.\n",
            id.short(),
            id.to_hex()
        ));
    } else if args.unmark {
        out.push_str(&format!(
            "{shown} ({}) is no longer marked verified.\n",
            id.short()
        ));
    }
    out.push_str(&format!("Safety number with {shown} ({}):\n\n", id.short()));
    for line in number.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out.push('\n');
    if !args.mark && !args.unmark {
        out.push_str(&format!(
            "Compare it with the number on {shown}'s screen (`courier verify` there, or \
             Safety number in their app). If every digit matches, run `courier verify {} \
             --mark` (by the device's id: a name may reach another device by then).\n",
            id.to_hex()
        ));
    }
    if let Some(c) = &conflict {
        out.push_str(&format!(
            "Warning: you verified {:?} as another device ({}) on {}. This is a different \
             device; mark it only if the numbers match.\n",
            safe(&c.verified.name),
            c.verified.id.short(),
            output::rfc3339(c.verified.when)
        ));
    }
    match &mark {
        Some(m) => out.push_str(&format!("Verified on {}.\n", output::rfc3339(m.when))),
        None => out.push_str("Not verified.\n"),
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}
