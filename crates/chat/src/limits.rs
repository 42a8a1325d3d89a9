//! Per-connection limits: frame and message sizes, a token-bucket rate
//! limit, the send queue bound and timeouts.

use std::time::{Duration, Instant};

use crate::protocol::AnnouncedLimits;

/// What one connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Frames above this get a `frame_too_large` error and are ignored.
    pub max_frame_bytes: usize,
    /// Frames above this close the connection (1009): they are not read.
    pub hard_frame_bytes: usize,
    pub max_message_chars: usize,
    pub frames_per_second: u32,
    pub burst: u32,
    /// Rate-limited frames tolerated before the connection is closed (1008).
    pub max_violations: u32,
    /// Frames waiting to be written before the client counts as too slow.
    pub send_queue: usize,
    pub max_joined_cases: usize,
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
}

impl Limits {
    pub fn announced(&self) -> AnnouncedLimits {
        AnnouncedLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_message_chars: self.max_message_chars,
            frames_per_second: self.frames_per_second,
            burst: self.burst,
            heartbeat_secs: self.heartbeat.as_secs(),
            idle_timeout_secs: self.idle_timeout.as_secs(),
        }
    }
}

/// A token bucket: `burst` frames at once, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(10, 3);
        b.last = start;
        assert!(b.try_take_at(start));
        assert!(b.try_take_at(start));
        assert!(b.try_take_at(start));
        assert!(!b.try_take_at(start));
        // 100 ms at 10/s gives one more.
        assert!(b.try_take_at(start + Duration::from_millis(100)));
        assert!(!b.try_take_at(start + Duration::from_millis(100)));
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| b.try_take_at(later)));
        assert!(!b.try_take_at(later));
    }
}
