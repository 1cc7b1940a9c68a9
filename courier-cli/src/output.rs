//! Rendering for people and for scripts. Everything a peer wrote is untrusted: names and
//! texts are escaped so they cannot move the cursor, recolour the terminal or reorder text.

use courier_core::proto::{ClientId, Contact, Delivery, Presence, RejectReason, Target, Timestamp};
use serde_json::{Value, json};

/// Untrusted text for the terminal (see [`courier_core::text::terminal`]).
pub(crate) use courier_core::text::terminal as safe;

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

/// Why a message was rejected, for people.
pub(crate) fn reject_text(d: &Delivery) -> Option<&'static str> {
    match d {
        Delivery::Rejected(RejectReason::NoSuchPeer) => Some("the hub knows no such contact"),
        Delivery::Rejected(RejectReason::BadText) => {
            Some("the text is empty or longer than 64 KiB")
        }
        Delivery::Rejected(RejectReason::RateLimited) => {
            Some("you are sending too fast; try again in a moment")
        }
        Delivery::Rejected(RejectReason::QueueFull) => {
            Some("they are offline and too many messages are waiting for them")
        }
        Delivery::Rejected(RejectReason::NotKept) => {
            Some("they are offline and the hub could not keep it (its disk is full or failing)")
        }
        Delivery::Delivered | Delivery::Stored => None,
    }
}

/// `HH:MM` in UTC (no timezone database needed; scripts should use `--json`).
pub(crate) fn clock(t: Timestamp) -> String {
    let secs = t.0 / 1000;
    format!("{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60)
}

/// A hub timestamp as a UTC date and time to the minute, `2026-11-29 19:27`.
pub(crate) fn utc(t: courier_core::proto::Timestamp) -> String {
    let secs = t.0 / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let minute = (secs % 86_400) / 60;
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar), in
    // 400-year eras of 146 097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minute / 60,
        minute % 60
    )
}

#[cfg(test)]
mod time_tests {
    use super::utc;
    use courier_core::proto::Timestamp;

    #[test]
    fn utc_dates_are_right_across_leap_years_and_centuries() {
        assert_eq!(utc(Timestamp(0)), "1970-01-01 00:00");
        // 2000-02-29 12:34 UTC (a leap day in a century year divisible by 400).
        assert_eq!(utc(Timestamp(951_827_640_000)), "2000-02-29 12:34");
        // 2026-11-29 19:27 UTC.
        assert_eq!(utc(Timestamp(1_795_980_420_000)), "2026-11-29 19:27");
        // 2100-03-01 00:00 (2100 is not a leap year).
        assert_eq!(utc(Timestamp(4_107_542_400_000)), "2100-03-01 00:00");
    }
}
