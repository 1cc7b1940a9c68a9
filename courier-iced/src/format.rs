//! Human-readable times of day (sizes, rates and durations: `courier_core::units`), and
//! core's reasons as sentences.

use courier_core::proto::Timestamp;

/// The local clock time of a hub timestamp, `14:05`.
pub fn clock(t: Timestamp) -> String {
    use chrono::TimeZone;
    let ms = i64::try_from(t.0).unwrap_or(i64::MAX);
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(local) => local.format("%H:%M").to_string(),
        None => String::new(),
    }
}

/// The local day and time of a hub timestamp, `29 Nov 14:05` (with the year when it is
/// not this year's).
pub fn day_and_clock(t: Timestamp) -> String {
    use chrono::{Datelike, TimeZone};
    let ms = i64::try_from(t.0).unwrap_or(i64::MAX);
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(local) if local.year() == chrono::Local::now().year() => {
            local.format("%-d %b %H:%M").to_string()
        }
        Some(local) => local.format("%-d %b %Y %H:%M").to_string(),
        None => String::new(),
    }
}

/// `Some text` → `Some text` with a capital first letter.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One of core's reasons (a lowercase clause) as a sentence of its own: capitalised,
/// with a period.
pub fn sentence(reason: impl std::fmt::Display) -> String {
    format!("{}.", capitalize(&reason.to_string()))
}

/// Why the hub could not be reached, as a clause: which way the connection failed (a
/// port nobody answers, a name nobody knows, no answer in time); core's reason else.
pub fn why(reason: &courier_core::session::Error) -> String {
    use courier_core::{net, session};
    match reason {
        session::Error::Net(net::Error::Timeout) => {
            format!("{reason}: it did not answer in time")
        }
        session::Error::Net(net::Error::Io(e)) => format!("{reason}: {e}"),
        session::Error::Net(e) => format!("{reason}: {e}"),
        other => other.to_string(),
    }
}
