//! Failed authentication, throttled per source address: a source whose requests keep
//! failing SigV4 (no key, a wrong key, a bad signature) is answered `ThrottlingException`
//! without its signature being checked, and its refused requests are recorded once a minute
//! rather than one each, so no one without valid credentials can spend unbounded CPU or
//! audit volume. Connections the HTTP layer refuses are recorded the same way: once a
//! minute per source.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Failures a source may make at once.
const BURST: f64 = 100.0;
/// Failures a source may make per second, sustained.
const RATE: f64 = 20.0;
/// Sources remembered at most (the oldest forgotten first when full).
const MAX_SOURCES: usize = 16_384;
/// A throttled source's refusals are recorded at most once per this long.
const RECORD_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    recorded: Option<Instant>,
}

/// What to do with a request from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Check its signature.
    Check,
    /// Refuse it: `record` says whether this refusal gets an audit record (the first of the
    /// minute) or is only counted.
    Throttled { record: bool },
}

#[derive(Debug, Default)]
pub(crate) struct AuthThrottle {
    sources: Mutex<HashMap<IpAddr, Bucket>>,
    /// How many sources `sources` holds: while none has failed, admitting a request takes
    /// no lock (every request asks).
    failing: AtomicUsize,
    /// When each source last had a refused connection recorded.
    refused: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthThrottle {
    fn refill(bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * RATE).min(BURST);
        bucket.updated = now;
    }

    /// Whether a request from `ip` may be checked. A source with no failures costs a lookup.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Admission {
        if self.failing.load(Ordering::Acquire) == 0 {
            return Admission::Check;
        }
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(bucket) = sources.get_mut(&ip) else {
            return Admission::Check;
        };
        Self::refill(bucket, now);
        if bucket.tokens >= BURST {
            // Recovered in full: forgotten, so the lock-free path comes back once all are.
            sources.remove(&ip);
            self.failing.store(sources.len(), Ordering::Release);
            return Admission::Check;
        }
        if bucket.tokens >= 1.0 {
            return Admission::Check;
        }
        let record = bucket
            .recorded
            .is_none_or(|at| now.saturating_duration_since(at) >= RECORD_EVERY);
        if record {
            bucket.recorded = Some(now);
        }
        Admission::Throttled { record }
    }

    /// Whether a connection from `ip` that the HTTP layer refused (headers too large,
    /// malformed or too slow) gets an audit record: the first of each minute per source.
    pub(crate) fn record_refused_connection(&self, ip: IpAddr, now: Instant) -> bool {
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if refused.len() >= MAX_SOURCES {
            refused.retain(|_, at| now.saturating_duration_since(*at) < RECORD_EVERY);
            if refused.len() >= MAX_SOURCES {
                return false;
            }
        }
        match refused.get(&ip) {
            Some(at) if now.saturating_duration_since(*at) < RECORD_EVERY => false,
            _ => {
                refused.insert(ip, now);
                true
            }
        }
    }

    /// A request from `ip` failed authentication.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            let oldest = sources
                .iter()
                .min_by_key(|(_, b)| b.updated)
                .map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                sources.remove(&oldest);
            }
        }
        let bucket = sources.entry(ip).or_insert(Bucket {
            tokens: BURST,
            updated: now,
            recorded: None,
        });
        Self::refill(bucket, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        self.failing.store(sources.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_source_is_throttled_recorded_once_a_minute_and_recovers() {
        let throttle = AuthThrottle::default();
        let (bad, good): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(throttle.admit(bad, t0), Admission::Check);
            throttle.failed(bad, t0);
        }
        assert_eq!(
            throttle.admit(bad, t0),
            Admission::Throttled { record: true }
        );
        assert_eq!(
            throttle.admit(bad, t0),
            Admission::Throttled { record: false }
        );
        assert_eq!(
            throttle.admit(good, t0),
            Admission::Check,
            "others are not affected"
        );
        let later = t0 + Duration::from_millis(100);
        assert_eq!(
            throttle.admit(bad, later),
            Admission::Check,
            "refilled: 2 failures"
        );
        let minute = t0 + Duration::from_secs(61);
        throttle.failed(bad, minute);
        assert_eq!(throttle.admit(bad, minute), Admission::Check);
    }
}
