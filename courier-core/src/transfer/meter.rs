//! Progress accounting with a smoothed rate, on time given by the caller.

use std::time::{Duration, Instant};

use super::Progress;

/// Paced reports go out at most this often: a ninth of a second, so that nine paced
/// reports and the last one (which never waits) fit in any second: a front end is never
/// asked to draw a transfer more than 10 times a second, however fast it goes.
const EVERY: Duration = Duration::from_millis(112);
/// The rate is measured over windows of at least this long.
const WINDOW: Duration = Duration::from_millis(500);

/// The file a progress report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileAt {
    /// Its manifest index.
    pub(crate) index: u32,
    /// Bytes of it done (resumed bytes included).
    pub(crate) done: u64,
    /// Its size.
    pub(crate) size: u64,
}

/// Bytes done out of a total, and how fast they go.
#[derive(Debug)]
pub(crate) struct Meter {
    total: u64,
    bytes: u64,
    last_report: Instant,
    window: (Instant, u64),
    rate: f64,
    /// Everything done was reported: nothing is left to say.
    told_complete: bool,
}

impl Meter {
    /// `already` of `total` bytes are done at `now` (resumed bytes).
    pub(crate) fn new(total: u64, already: u64, now: Instant) -> Self {
        Self {
            total,
            bytes: already,
            last_report: now,
            window: (now, already),
            rate: 0.0,
            told_complete: false,
        }
    }

    /// `n` more bytes are done.
    pub(crate) fn add(&mut self, n: u64) {
        self.bytes = self.bytes.saturating_add(n);
    }

    /// A report, paced: at most one every [`EVERY`], except that the one where every
    /// byte is done goes out at once (the bar reaches 100% when the last byte does, not
    /// after verifying and syncing), and so does a forced one. Once everything done was
    /// reported, there is nothing more to report, forced or not.
    pub(crate) fn report(
        &mut self,
        file: Option<FileAt>,
        force: bool,
        now: Instant,
    ) -> Option<Progress> {
        let complete = self.bytes >= self.total;
        if complete && self.told_complete {
            return None;
        }
        let due = now.saturating_duration_since(self.last_report) >= EVERY;
        if !(force || complete || due) {
            return None;
        }
        self.told_complete = complete;
        self.last_report = now;
        let dt = now.saturating_duration_since(self.window.0);
        if dt >= WINDOW {
            let inst = self.bytes.saturating_sub(self.window.1) as f64 / dt.as_secs_f64();
            self.rate = if self.rate == 0.0 {
                inst
            } else {
                0.7 * self.rate + 0.3 * inst
            };
            self.window = (now, self.bytes);
        }
        // Before the first window ends, the rate since the start: never "0 B/s" while
        // bytes move (it is not kept: the first window's own rate starts the smoothing).
        let moved = self.bytes.saturating_sub(self.window.1);
        let rate = if self.rate == 0.0 && moved > 0 && !dt.is_zero() {
            moved as f64 / dt.as_secs_f64()
        } else {
            self.rate
        };
        let left = self.total.saturating_sub(self.bytes);
        // A rate decayed to almost nothing gives an ETA past any `Duration`: none then.
        let eta = (rate > 0.0)
            .then(|| Duration::try_from_secs_f64(left as f64 / rate).ok())
            .flatten();
        Some(Progress {
            file: file.map(|f| f.index),
            file_bytes: file.map_or(0, |f| f.done),
            file_size: file.map_or(0, |f| f.size),
            bytes: self.bytes,
            total: self.total,
            rate,
            eta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that keeps the link alive with empty data frames makes the smoothed rate
    /// decay towards zero; the ETA of what is left then no longer fits a `Duration`. It
    /// must come out as "no ETA", never as a panic (review of issue 22).
    #[test]
    fn a_rate_decayed_to_almost_nothing_gives_no_eta_and_no_panic() {
        let t0 = Instant::now();
        let mut m = Meter::new(u64::MAX / 2, 0, t0);
        m.add(1 << 20);
        let mut t = t0;
        let mut last = None;
        for _ in 0..3000 {
            t += Duration::from_millis(600);
            last = m.report(None, true, t);
        }
        let p = last.unwrap();
        assert!(p.rate.is_finite() && p.rate >= 0.0, "{}", p.rate);
        assert_eq!(p.eta, None, "an ETA past any Duration is no ETA");
    }

    /// Issue 22: the first report came before the first rate window ended and said
    /// "0 B/s" while 32 MB had moved.
    #[test]
    fn the_first_report_has_the_rate_since_the_start() {
        let t0 = Instant::now();
        let mut m = Meter::new(64 << 20, 0, t0);
        m.add(32 << 20);
        let p = m
            .report(None, false, t0 + Duration::from_millis(200))
            .unwrap();
        assert!((p.rate - (32 << 20) as f64 / 0.2).abs() < 1.0, "{}", p.rate);
        assert_eq!(p.eta, Some(Duration::from_millis(200)));
        // Nothing moved: no rate, no ETA.
        let mut idle = Meter::new(100, 0, t0);
        let p = idle
            .report(None, true, t0 + Duration::from_millis(200))
            .unwrap();
        assert_eq!((p.rate, p.eta), (0.0, None));
    }

    /// Issue 25: bytes pour in (10 GB/s in 256 KiB pieces over 5 simulated seconds), a
    /// report is asked for after every piece: no second holds more than 10 reports, the
    /// last byte's report (100%) comes at once, and nothing follows it, forced or not.
    #[test]
    fn reports_are_paced_to_ten_a_second_and_the_last_byte_is_reported_at_once() {
        let t0 = Instant::now();
        let piece = 256 << 10;
        let total = 200_000 * piece + 123; // not a whole number of pieces
        let mut m = Meter::new(total, 0, t0);
        let mut at = Vec::new();
        let (mut done, mut t) = (0, t0);
        while done < total {
            let n = piece.min(total - done);
            done += n;
            m.add(n);
            t += Duration::from_micros(26); // 256 KiB at 10 GB/s
            if let Some(p) = m.report(None, false, t) {
                at.push((t, p.bytes));
            }
        }
        let last = at.last().copied().unwrap();
        assert_eq!(last, (t, total), "the last byte is reported when it comes");
        assert_eq!(m.report(None, true, t + EVERY), None, "nothing after 100%");
        for (i, &(start, _)) in at.iter().enumerate() {
            let within = at[i..]
                .iter()
                .take_while(|(u, _)| *u < start + Duration::from_secs(1))
                .count();
            assert!(within <= 10, "{within} reports in the second from {i}");
        }
        assert!(at.len() >= 5 * 8, "paced, not starved: {}", at.len());
    }

    #[test]
    fn throttled_reports_with_a_smoothed_rate_and_eta() {
        let t0 = Instant::now();
        let mut m = Meter::new(1000, 100, t0);
        assert_eq!(m.report(None, false, t0), None, "throttled");
        m.add(400);
        let p = m.report(None, false, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((p.bytes, p.total), (500, 1000));
        assert!((p.rate - 400.0).abs() < 1e-9, "{}", p.rate);
        assert_eq!(p.eta, Some(Duration::from_millis(1250)));
        m.add(100);
        let at = FileAt {
            index: 3,
            done: 7,
            size: 9,
        };
        let p = m
            .report(Some(at), true, t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!((p.file, p.file_bytes, p.file_size), (Some(3), 7, 9));
        assert!((p.rate - (0.7 * 400.0 + 0.3 * 100.0)).abs() < 1e-9);
    }
}
