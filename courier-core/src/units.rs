//! Sizes, rates and durations for people, in one convention for every front end: decimal
//! units (`1.5 MB` is 1 500 000 bytes), as file managers show them.

use std::time::Duration;

/// `830 B`, `1.5 kB`, `12 MB`: one decimal below 10, none above.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let precision = usize::from(value < 9.95);
    format!("{value:.precision$} {}", UNITS[unit])
}

/// `12 MB/s`; `—` when there is no rate.
pub fn rate(bytes_per_second: f64) -> String {
    if !bytes_per_second.is_finite() || bytes_per_second < 0.0 {
        return "—".to_owned();
    }
    format!("{}/s", size(bytes_per_second as u64))
}

/// `0.16 s`, `4.0 s`, `42 s`, `1:05`, `1:02:03`.
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

/// A count and its noun, singular or plural: `1 file`, `2 files`, `1 empty folder`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1500), "1.5 kB");
        assert_eq!(size(9_990), "10 kB", "rounding up never shows 10.0");
        assert_eq!(size(999_999), "1.0 MB", "nor 1000 kB");
        assert_eq!(size(12_300_000), "12 MB");
        assert_eq!(size(3 << 30), "3.2 GB");
        assert_eq!(size(u64::MAX), "18 EB");
        assert_eq!(rate(f64::NAN), "—");
        assert_eq!(rate(2_000_000.0), "2.0 MB/s");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(8)), "0.01 s");
        assert_eq!(duration(Duration::from_millis(160)), "0.16 s");
        assert_eq!(duration(Duration::from_secs(4)), "4.0 s");
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(65)), "1:05");
        assert_eq!(duration(Duration::from_secs(3723)), "1:02:03");
    }
}
