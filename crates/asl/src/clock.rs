//! Time, as the interpreter sees it: the context object's timestamps, state
//! durations, Wait states and Retry delays all go through a [`Clock`].

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration);
}

/// Real time; `sleep` blocks the thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock for tests: starts at a given instant, stands still, and `sleep`
/// advances it at once, recording each sleep.
#[derive(Debug)]
pub struct ManualClock {
    inner: Mutex<Manual>,
}

#[derive(Debug)]
struct Manual {
    now: DateTime<Utc>,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            inner: Mutex::new(Manual {
                now: start,
                sleeps: Vec::new(),
            }),
        }
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Move the clock forward without recording a sleep (time a task took).
    pub fn advance(&self, duration: Duration) {
        let mut inner = self.lock();
        inner.now = forward(inner.now, duration);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Manual> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) {
        let mut inner = self.lock();
        inner.now = forward(inner.now, duration);
        inner.sleeps.push(duration);
    }
}

fn forward(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_manual_clock_advances_by_its_sleeps() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        clock.sleep(Duration::from_millis(1500));
        clock.advance(Duration::from_secs(1));
        clock.sleep(Duration::from_secs(2));
        assert_eq!(
            clock.sleeps(),
            [Duration::from_millis(1500), Duration::from_secs(2)]
        );
        assert_eq!(clock.now(), start + chrono::Duration::milliseconds(4500));
    }
}
