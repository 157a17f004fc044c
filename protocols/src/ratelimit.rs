//! Rate-limited diagnostics: a warning that repeats is logged once, then summarised with its
//! count at most once per [`WARNING_SUMMARY_PERIOD`]. Counters and metrics are kept by the
//! callers and stay exact; only the log lines are limited.
//!
//! * [`WarnLimiter`] follows one condition at a time (a PLC's status polls refused the same
//!   way): a different warning replaces it, [`WarnLimiter::clear`] ends it.
//! * [`KeyedLimiter`] follows many at once (malformed messages per robot and reason), with a
//!   bounded number of keys; [`KeyedLimiter::flush`], called now and then, writes the
//!   summaries of warnings that stopped repeating and forgets them.
//!
//! No IO and no clock of its own: time comes in as an argument, the log line is the caller's
//! closure, so tests count lines without a subscriber.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often a repeated identical warning is summarised (its first occurrence is logged at
/// once; the counters stay exact regardless).
pub const WARNING_SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// Logs a warning once, then only a periodic summary while the same warning repeats.
#[derive(Debug, Default)]
pub struct WarnLimiter {
    /// The warning repeating now, when it was last logged, and repeats since.
    current: Option<(String, Instant, u64)>,
}

impl WarnLimiter {
    /// Records one occurrence of `key` at `now`; calls `log(0)` for a new warning,
    /// `log(n)` with the repeats since the last log line once a summary period passed.
    pub fn warn(&mut self, key: String, now: Instant, log: impl FnOnce(u64)) {
        match &mut self.current {
            Some((k, logged, repeats)) if *k == key => {
                *repeats += 1;
                if now.duration_since(*logged) >= WARNING_SUMMARY_PERIOD {
                    log(*repeats);
                    *logged = now;
                    *repeats = 0;
                }
            }
            _ => {
                log(0);
                self.current = Some((key, now, 0));
            }
        }
    }

    /// The condition ended: calls `summary(repeats, key)` when a warning was current.
    pub fn clear(&mut self, summary: impl FnOnce(u64, &str)) {
        if let Some((key, _, repeats)) = self.current.take() {
            summary(repeats, &key);
        }
    }
}

/// Many warnings at once, each logged once and then summarised (see the module note).
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    /// Per key: when it was last logged, and repeats since.
    seen: HashMap<K, (Instant, u64)>,
    period: Duration,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Default for KeyedLimiter<K> {
    fn default() -> Self {
        KeyedLimiter::new(WARNING_SUMMARY_PERIOD, 4096)
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Summaries every `period`; at most `max_keys` warnings followed at once (past that a
    /// new warning is logged each time, which only a flood of distinct keys reaches).
    pub fn new(period: Duration, max_keys: usize) -> Self {
        KeyedLimiter {
            seen: HashMap::new(),
            period,
            max_keys: max_keys.max(1),
        }
    }

    /// Records one occurrence of `key` at `now`: `log(0)` the first time, `log(n)` with the
    /// repeats since the last line once a period passed, nothing otherwise.
    pub fn warn(&mut self, key: &K, now: Instant, log: impl FnOnce(u64)) {
        if let Some((logged, repeats)) = self.seen.get_mut(key) {
            *repeats += 1;
            if now.duration_since(*logged) >= self.period {
                log(*repeats);
                *logged = now;
                *repeats = 0;
            }
            return;
        }
        log(0);
        if self.seen.len() < self.max_keys {
            self.seen.insert(key.clone(), (now, 0));
        }
    }

    /// Writes `summary(key, n)` for every warning repeated `n > 0` times since its last line
    /// a period ago or more, and forgets warnings quiet for a whole period (their next
    /// occurrence is logged at once again).
    pub fn flush(&mut self, now: Instant, mut summary: impl FnMut(&K, u64)) {
        let period = self.period;
        self.seen.retain(|key, (logged, repeats)| {
            if now.duration_since(*logged) < period {
                return true;
            }
            if *repeats > 0 {
                summary(key, *repeats);
                *logged = now;
                *repeats = 0;
                return true;
            }
            false
        });
    }

    /// Warnings followed now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no warning is followed.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_logged_once_then_summarised_with_its_count() {
        let mut w = WarnLimiter::default();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for i in 0..10u64 {
            w.warn("refused".into(), t0 + Duration::from_secs(i), |n| {
                lines.push(n)
            });
        }
        assert_eq!(lines, vec![0]);
        w.warn("refused".into(), t0 + Duration::from_secs(61), |n| {
            lines.push(n)
        });
        assert_eq!(lines, vec![0, 10]);
        w.warn("other".into(), t0 + Duration::from_secs(62), |n| {
            lines.push(n)
        });
        assert_eq!(lines, vec![0, 10, 0]);
        let mut summary = None;
        w.clear(|n, key| summary = Some((n, key.to_owned())));
        assert_eq!(summary, Some((0, "other".to_owned())));
    }

    #[test]
    fn keyed_warnings_are_logged_once_per_key_and_flushed_with_their_exact_count() {
        let mut w = KeyedLimiter::new(Duration::from_secs(60), 16);
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for i in 0..1000u64 {
            let key = if i % 2 == 0 {
                "amr-1/json"
            } else {
                "amr-2/json"
            };
            w.warn(&key, t0 + Duration::from_millis(i), |n| {
                lines.push((key, n))
            });
        }
        assert_eq!(lines, vec![("amr-1/json", 0), ("amr-2/json", 0)]);
        let mut summaries = Vec::new();
        w.flush(t0 + Duration::from_secs(30), |k, n| summaries.push((*k, n)));
        assert!(summaries.is_empty(), "no summary before a period passed");
        w.flush(t0 + Duration::from_secs(61), |k, n| summaries.push((*k, n)));
        summaries.sort();
        assert_eq!(summaries, vec![("amr-1/json", 499), ("amr-2/json", 499)]);
        // Quiet for a whole period: forgotten, the next one is logged at once.
        w.flush(t0 + Duration::from_secs(122), |k, n| {
            summaries.push((*k, n))
        });
        assert!(w.is_empty());
        w.warn(&"amr-1/json", t0 + Duration::from_secs(123), |n| {
            lines.push(("amr-1/json", n))
        });
        assert_eq!(lines.last(), Some(&("amr-1/json", 0)));
    }

    #[test]
    fn past_its_key_limit_a_limiter_still_logs_and_stays_bounded() {
        let mut w = KeyedLimiter::new(Duration::from_secs(60), 2);
        let now = Instant::now();
        let mut lines = 0;
        for k in 0..5u32 {
            w.warn(&k, now, |_| lines += 1);
        }
        assert_eq!(lines, 5);
        assert_eq!(w.len(), 2);
    }
}
