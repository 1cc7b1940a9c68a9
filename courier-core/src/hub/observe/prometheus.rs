//! [`Metrics`] in the Prometheus text exposition format (version 0.0.4): every series
//! named `courier_…`, with its `# HELP` and `# TYPE`; counters end in `_total`, times
//! are in seconds. The only label is the histogram's `le`: no label value can carry a
//! name or a message's content, since none is ever written.
//!
//! The core owns the format, so the series are one list, documented with the numbers
//! they come from, whatever serves them (the `courier hub --metrics` responder, or an
//! app that hosts a hub).

use std::fmt::Write as _;

use super::Metrics;

/// A series' kind, as `# TYPE` names it.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// Writes `# HELP`, `# TYPE` and the one sample of an unlabelled series.
fn series(out: &mut String, name: &str, kind: Kind, help: &str, value: impl std::fmt::Display) {
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
    };
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// A count as a sample's value.
fn n(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

impl Metrics {
    /// The media type of [`Metrics::to_prometheus`]'s text, for a `Content-Type` header.
    pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

    /// The metrics as Prometheus text ([`Metrics::CONTENT_TYPE`]); the series are
    /// listed in `docs/HUB.md` ("Metrics").
    pub fn to_prometheus(&self) -> String {
        use Kind::{Counter, Gauge};
        let (s, t) = (&self.stats, &self.totals);
        // One row a series: `courier_` + name, kind, help, value.
        #[rustfmt::skip]
        let rows: [(&str, Kind, &str, u64); 21] = [
            ("connections", Gauge, "Open connections, logged in or not.", n(s.connections)),
            ("connections_in_login", Gauge, "Connections in their handshakes or login.", n(s.preauth)),
            ("members_online", Gauge, "Members with a connection logged in.", n(self.members_online)),
            ("members_known", Gauge, "Members the hub remembers, online or not.", n(s.known)),
            ("backlog_messages", Gauge, "Direct messages waiting for offline members.", n(s.stored)),
            ("backlog_bytes", Gauge, "Bytes of the messages waiting for offline members.", n(s.stored_bytes)),
            ("backlog_offers", Gauge, "File offers stored for offline recipients.", n(s.stored_offers)),
            ("backlog_group_entries", Gauge, "Group log entries kept for members away.", n(s.group_entries)),
            ("groups", Gauge, "Groups.", n(s.groups)),
            ("transfers_pending", Gauge, "Transfers offered or accepted, not yet connected.", n(s.transfers)),
            ("messages_routed_total", Counter, "Direct messages handed to their online recipient.", t.messages_routed),
            ("messages_stored_total", Counter, "Direct messages stored for an offline recipient.", t.messages_stored),
            ("group_messages_total", Counter, "Messages taken into a group's log.", t.group_messages),
            ("transfers_brokered_total", Counter, "File offers passed on or stored.", t.transfers_brokered),
            ("transfers_relayed_total", Counter, "Transfers paired for the hub's relay.", t.transfers_relayed),
            ("relayed_bytes_total", Counter, "Bytes the relay piped, both directions.", self.relayed_bytes),
            ("logins_total", Counter, "Logins that succeeded.", t.logins),
            ("login_failures_total", Counter, "Logins that failed (wrong or abandoned passwords).", t.login_failures),
            ("rate_limited_total", Counter, "Frames refused for going over an allowance.", t.rate_limited),
            ("connections_refused_total", Counter, "Connections refused at accept (too many or too fast).", t.connections_refused),
            ("slow_consumers_total", Counter, "Connections dropped for not taking what was sent.", t.slow_consumers),
        ];
        let mut out = String::with_capacity(4096);
        let uptime = self.uptime.as_secs_f64();
        series(
            &mut out,
            "courier_uptime_seconds",
            Gauge,
            "Seconds since the hub started.",
            uptime,
        );
        for (name, kind, help, value) in rows {
            series(&mut out, &format!("courier_{name}"), kind, help, value);
        }
        let c = &self.commits;
        let name = "courier_db_commit_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time each database commit (a transaction, its sync) took."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in &c.buckets {
            let le = bound.as_secs_f64();
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", c.count);
        let _ = writeln!(out, "{name}_sum {}", c.total.as_secs_f64());
        let _ = writeln!(out, "{name}_count {}", c.count);
        if let Some(rss) = self.rss_bytes {
            let help = "The hub process's resident memory.";
            series(&mut out, "courier_resident_memory_bytes", Gauge, help, rss);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{Commits, Metrics};

    fn sample(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn every_series_has_help_and_type_before_its_samples() {
        let mut m = Metrics::default();
        m.totals.messages_routed = 7;
        m.rss_bytes = Some(1 << 20);
        let text = m.to_prometheus();
        let mut helped = std::collections::HashSet::new();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helped.insert(rest.split(' ').next().unwrap().to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().unwrap().to_owned();
                let kind = parts.next().unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                typed.insert(name);
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(name.starts_with("courier_"), "{line}");
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                    .unwrap_or(name);
                assert!(helped.contains(family) && typed.contains(family), "{line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        assert_eq!(
            sample(&text, "courier_messages_routed_total"),
            Some("7".into())
        );
        assert_eq!(
            sample(&text, "courier_resident_memory_bytes"),
            Some("1048576".into())
        );
    }

    #[test]
    fn the_commit_histogram_is_cumulative_and_ends_with_inf() {
        let m = Metrics {
            commits: Commits {
                count: 3,
                total: Duration::from_millis(1500),
                buckets: vec![
                    (Duration::from_millis(1), 1),
                    (Duration::from_millis(10), 2),
                ],
            },
            ..Metrics::default()
        };
        let text = m.to_prometheus();
        assert!(
            text.contains("courier_db_commit_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("courier_db_commit_seconds_bucket{le=\"0.01\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("courier_db_commit_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "courier_db_commit_seconds_sum"),
            Some("1.5".into())
        );
        assert_eq!(
            sample(&text, "courier_db_commit_seconds_count"),
            Some("3".into())
        );
    }

    #[test]
    fn without_resident_memory_its_series_is_left_out() {
        let text = Metrics::default().to_prometheus();
        assert!(!text.contains("courier_resident_memory_bytes"));
    }
}
