//! Growing delays after failed sign-ins, per email address and per client
//! IP. Kept in memory on each node: it slows guessing down by orders of
//! magnitude without a database write per attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; beyond that, quiet entries are forgotten first.
const MAX_ENTRIES: usize = 100_000;
/// Failures are forgotten after this long without another one.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3_600);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
    free_attempts: u32,
    max_delay: Duration,
}

impl LoginThrottle {
    pub fn new(free_attempts: u32, max_delay: Duration) -> Self {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
            free_attempts,
            max_delay,
        }
    }

    /// The delay owed after `count` failures: none for the free attempts,
    /// then 1 s, 2 s, 4 s... up to the maximum.
    fn delay(&self, count: u32) -> Duration {
        if count < self.free_attempts {
            return Duration::ZERO;
        }
        let doublings = (count - self.free_attempts).min(30);
        Duration::from_secs(1u64 << doublings).min(self.max_delay)
    }

    /// `Err(wait)` when any key must still wait before another attempt.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| {
                self.delay(f.count)
                    .saturating_sub(now.saturating_duration_since(f.last))
            })
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, f| now.saturating_duration_since(f.last) < self.max_delay);
        }
        for key in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.saturating_duration_since(entry.last) > FORGET_AFTER {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A successful sign-in clears the address (not the IP: one office
    /// may hold both a legitimate user and a guesser).
    pub fn record_success(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_attempts_and_double() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let keys = vec!["email:a@b.example".to_owned()];
        let start = Instant::now();
        for _ in 0..3 {
            assert!(t.check(&keys, start).is_ok());
            t.record_failure(&keys, start);
        }
        assert_eq!(t.check(&keys, start), Err(Duration::from_secs(1)));
        assert!(t.check(&keys, start + Duration::from_secs(1)).is_ok());
        t.record_failure(&keys, start);
        assert_eq!(t.check(&keys, start), Err(Duration::from_secs(2)));
        for _ in 0..20 {
            t.record_failure(&keys, start);
        }
        assert_eq!(
            t.check(&keys, start),
            Err(Duration::from_secs(60)),
            "capped"
        );
        t.record_success(&keys[0]);
        assert!(t.check(&keys, start).is_ok());
    }

    #[test]
    fn any_throttled_key_blocks_the_attempt() {
        let t = LoginThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        t.record_failure(&["ip:10.0.0.1".to_owned()], now);
        let keys = ["email:other@b.example".to_owned(), "ip:10.0.0.1".to_owned()];
        assert!(t.check(&keys, now).is_err());
    }
}
