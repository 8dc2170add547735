//! A circuit breaker per secret: after `threshold` consecutive transient failures it opens
//! and calls fail fast; after `cooldown` one probe goes through (half-open), and its outcome
//! closes or re-opens the circuit.

use std::time::Duration;

/// Time since the cache clock's origin.
type Instant = Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; if it never reports (its caller gave up), another may go after a
    /// further cooldown.
    HalfOpen {
        since: Instant,
    },
}

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    Call,
    Probe,
    Reject { retry_in: Duration },
}

#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: State::Closed { failures: 0 },
            threshold: threshold.max(1),
            cooldown,
        }
    }

    #[cfg(test)]
    fn state(&self) -> State {
        self.state
    }

    pub(crate) fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            State::Closed { .. } => Permit::Call,
            State::Open { until } | State::HalfOpen { since: until } if now < until => {
                Permit::Reject {
                    retry_in: until - now,
                }
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                self.state = State::HalfOpen {
                    since: now + self.cooldown,
                };
                Permit::Probe
            }
        }
    }

    /// Records a success; true if this closed an open circuit.
    pub(crate) fn success(&mut self) -> bool {
        let was_open = !matches!(self.state, State::Closed { .. });
        self.state = State::Closed { failures: 0 };
        was_open
    }

    /// Records a transient failure; true if this opened the circuit.
    pub(crate) fn failure(&mut self, now: Instant) -> bool {
        let failures = match self.state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::HalfOpen { .. } => self.threshold,
        };
        if failures >= self.threshold {
            let was_open = matches!(self.state, State::Open { .. });
            self.state = State::Open {
                until: now + self.cooldown,
            };
            !was_open
        } else {
            self.state = State::Closed { failures };
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_for_one_probe() {
        let t0 = Duration::from_secs(1000);
        let cooldown = Duration::from_secs(30);
        let mut b = Breaker::new(3, cooldown);
        assert!(!b.failure(t0));
        assert!(!b.failure(t0));
        assert_eq!(b.permit(t0), Permit::Call);
        assert!(b.failure(t0), "third failure opens");
        assert_eq!(
            b.permit(t0 + Duration::from_secs(10)),
            Permit::Reject {
                retry_in: Duration::from_secs(20)
            }
        );
        let later = t0 + cooldown;
        assert_eq!(b.permit(later), Permit::Probe);
        assert!(
            matches!(b.permit(later), Permit::Reject { .. }),
            "one probe at a time"
        );
        assert!(b.failure(later), "a failed probe re-opens");
        assert!(matches!(b.permit(later), Permit::Reject { .. }));
        assert_eq!(b.permit(later + cooldown), Permit::Probe);
        assert!(b.success(), "a good probe closes");
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert_eq!(b.permit(later + cooldown), Permit::Call);
    }

    #[test]
    fn a_lost_probe_does_not_wedge_the_circuit() {
        let t0 = Duration::from_secs(1000);
        let cooldown = Duration::from_secs(5);
        let mut b = Breaker::new(1, cooldown);
        b.failure(t0);
        assert_eq!(b.permit(t0 + cooldown), Permit::Probe);
        // The probe's caller is dropped and never reports.
        assert_eq!(b.permit(t0 + cooldown * 2), Permit::Probe);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let t0 = Duration::from_secs(1000);
        let mut b = Breaker::new(2, Duration::from_secs(1));
        b.failure(t0);
        assert!(!b.success());
        assert!(!b.failure(t0));
        assert_eq!(b.permit(t0), Permit::Call);
    }
}
