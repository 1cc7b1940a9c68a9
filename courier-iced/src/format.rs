//! Human-readable sizes, rates, durations and times.

use std::time::Duration;

use courier_core::proto::Timestamp;

/// `1.5 MB`, `830 B` (decimal units, as file managers show).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let precision = if value < 10.0 { 1 } else { 0 };
    format!("{value:.precision$} {}", UNITS[unit])
}

/// `12 MB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    if !bytes_per_second.is_finite() || bytes_per_second < 0.0 {
        return "—".to_owned();
    }
    format!("{}/s", size(bytes_per_second as u64))
}

/// `1:05`, `1:02:03`, `4 s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{:.2} s", d.as_secs_f64()),
        1..10 => format!("{:.1} s", d.as_secs_f64()),
        10..60 => format!("{s} s"),
        60..3600 => format!("{}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60),
    }
}

/// The local clock time of a hub timestamp, `14:05`.
pub fn clock(t: Timestamp) -> String {
    use chrono::TimeZone;
    let ms = i64::try_from(t.0).unwrap_or(i64::MAX);
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(local) => local.format("%H:%M").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1500), "1.5 kB");
        assert_eq!(size(12_300_000), "12 MB");
        assert_eq!(size(u64::MAX), "18447 PB");
        assert_eq!(rate(f64::NAN), "—");
        assert_eq!(rate(2_000_000.0), "2.0 MB/s");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(8)), "0.01 s");
        assert_eq!(duration(Duration::from_secs(4)), "4.0 s");
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(65)), "1:05");
        assert_eq!(duration(Duration::from_secs(3723)), "1:02:03");
    }
}
