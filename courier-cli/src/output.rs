//! Rendering for people and for scripts. Everything a peer wrote is untrusted: names and
//! texts are escaped so they cannot move the cursor, recolour the terminal or reorder text.

use std::fmt;

use chrono::{DateTime, Local, SecondsFormat, TimeZone, Utc};
use courier_core::proto::{ClientId, Contact, Delivery, Presence, Target, Timestamp};
use serde_json::{Value, json};

/// Untrusted text for the terminal (see [`courier_core::text::terminal`]).
pub(crate) use courier_core::text::terminal as safe;

/// A count and its noun, singular or plural (one rule for the CLI and the app).
pub(crate) use courier_core::units::count;

pub(crate) fn presence(p: Presence) -> &'static str {
    match p {
        Presence::Available => "available",
        Presence::Away => "away",
        Presence::Busy => "busy",
    }
}

pub(crate) fn contact_json(c: &Contact) -> Value {
    json!({
        "id": c.id.to_hex(),
        "short": c.id.short(),
        "name": c.profile.name,
        "presence": presence(c.profile.presence),
        "status": c.profile.status,
        "online": c.online,
        "last_seen": c.last_seen.0,
        "last_seen_local": rfc3339(c.last_seen),
    })
}

pub(crate) fn contact_line(c: &Contact, duplicate_name: bool) -> String {
    let state = if c.online {
        presence(c.profile.presence)
    } else {
        "offline"
    };
    let status = if c.profile.status.is_empty() {
        String::new()
    } else {
        format!("  \"{}\"", safe(&c.profile.status))
    };
    let flag = if duplicate_name {
        "  (same name as another contact)"
    } else {
        ""
    };
    format!(
        "{}  {:<24} {:<9}{status}{flag}",
        c.id.short(),
        safe(&c.profile.name),
        state
    )
}

pub(crate) fn target_json(t: Target) -> Value {
    match t {
        Target::Everyone => json!("everyone"),
        Target::Group(g) => json!(format!("#{g}")),
        Target::Client(id) => json!(id.to_hex()),
    }
}

pub(crate) fn person_json(id: ClientId, name: &str) -> Value {
    json!({ "id": id.to_hex(), "name": name })
}

/// A receipt as (status word, machine-readable reason code) for `--json`.
pub(crate) fn delivery(d: &Delivery) -> (&'static str, Option<&'static str>) {
    match d {
        Delivery::Delivered => ("delivered", None),
        Delivery::Stored => ("stored", None),
        Delivery::Rejected(r) => ("rejected", Some(r.code())),
    }
}

/// Why a message was rejected, for people: core's one sentence for the reason
/// ([`courier_core::proto::RejectReason::sentence`]), the words the app shows too.
pub(crate) fn reject_text(d: &Delivery) -> Option<&'static str> {
    match d {
        Delivery::Rejected(r) => Some(r.sentence()),
        Delivery::Delivered | Delivery::Stored => None,
    }
}

/// A hub timestamp in this computer's zone (the `TZ` variable, else the system's), as
/// the app shows it. A timestamp chrono cannot place (out of its range) is the epoch.
fn local(t: Timestamp) -> DateTime<Local> {
    let ms = i64::try_from(t.0).unwrap_or(i64::MAX);
    Local
        .timestamp_millis_opt(ms)
        .earliest()
        .unwrap_or_else(|| DateTime::<Utc>::UNIX_EPOCH.with_timezone(&Local))
}

/// `HH:MM` in local time, as the app's clock; scripts use `--json`.
pub(crate) fn clock(t: Timestamp) -> String {
    local(t).format("%H:%M").to_string()
}

/// A date and time to the minute in local time, with the zone's offset so that it
/// means one moment wherever it is read: `2026-11-29 20:27 +01:00`.
pub(crate) fn date(t: Timestamp) -> String {
    date_in(t, &Local)
}

fn date_in<Z: TimeZone>(t: Timestamp, zone: &Z) -> String
where
    Z::Offset: fmt::Display,
{
    let ms = i64::try_from(t.0).unwrap_or(i64::MAX);
    match zone.timestamp_millis_opt(ms).earliest() {
        Some(d) => d.format("%Y-%m-%d %H:%M %:z").to_string(),
        None => "-".to_owned(),
    }
}

/// A timestamp for `--json`, next to the milliseconds: RFC 3339 in local time with its
/// offset, to the second (`2026-11-29T20:27:05+01:00`).
pub(crate) fn rfc3339(t: Timestamp) -> String {
    local(t).to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod time_tests {
    use super::date_in;
    use chrono::FixedOffset;
    use courier_core::proto::Timestamp;

    #[test]
    fn dates_are_right_across_leap_years_and_centuries() {
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(date_in(Timestamp(0), &utc), "1970-01-01 00:00 +00:00");
        // 2000-02-29 12:34 UTC (a leap day in a century year divisible by 400).
        assert_eq!(
            date_in(Timestamp(951_827_640_000), &utc),
            "2000-02-29 12:34 +00:00"
        );
        // 2026-11-29 19:27 UTC.
        assert_eq!(
            date_in(Timestamp(1_795_980_420_000), &utc),
            "2026-11-29 19:27 +00:00"
        );
        // 2100-03-01 00:00 (2100 is not a leap year).
        assert_eq!(
            date_in(Timestamp(4_107_542_400_000), &utc),
            "2100-03-01 00:00 +00:00"
        );
    }

    #[test]
    fn a_date_is_shown_in_its_zone_with_the_offset() {
        let ist = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        // 2026-11-29 19:27 UTC is the next day's 00:57 at +05:30.
        assert_eq!(
            date_in(Timestamp(1_795_980_420_000), &ist),
            "2026-11-30 00:57 +05:30"
        );
    }
}
