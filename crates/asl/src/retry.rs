//! Error handling of Task, Parallel and Map states: `Retry` and `Catch`.

use std::cell::RefCell;
use std::time::Duration;

use crate::error::names;
use crate::paths::ReferencePath;

/// Whether an `ErrorEquals` list matches an error. `States.ALL` matches
/// everything but `States.Runtime` and `States.DataLimitExceeded`;
/// `States.TaskFailed` everything but `States.Timeout` and `States.Runtime`.
/// `States.Runtime` is never matched: it always fails the execution.
pub(crate) fn matches(error_equals: &[String], error: &str) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| match name.as_str() {
        names::ALL => error != names::DATA_LIMIT_EXCEEDED,
        names::TASK_FAILED => error != names::TIMEOUT,
        name => name == error,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

impl Retrier {
    /// The delay before retry `n` (0 for the first retry) of this retrier,
    /// before jitter: `IntervalSeconds × BackoffRate^n`, at most
    /// `MaxDelaySeconds`, to the millisecond.
    pub fn delay(&self, n: u64) -> Duration {
        let exponent = i32::try_from(n).unwrap_or(i32::MAX);
        let mut ms = self.interval_seconds as f64 * 1000.0 * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay_seconds {
            ms = ms.min(max as f64 * 1000.0);
        }
        Duration::from_millis(ms.round().min(u64::MAX as f64) as u64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    /// `None` for `"ResultPath": null`: the error is dropped and the output
    /// is the state's input.
    pub result_path: Option<ReferencePath>,
    pub next: String,
}

/// The random numbers of `"JitterStrategy": "FULL"`: a generator seeded
/// with the FNV-1a hash of the execution name (a hash that, unlike std's,
/// is the same in every build), so that an execution of a given name always
/// waits the same.
#[derive(Debug)]
pub(crate) struct Jitter {
    rng: RefCell<fastrand::Rng>,
}

impl Jitter {
    pub fn new(execution_name: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in execution_name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            rng: RefCell::new(fastrand::Rng::with_seed(hash)),
        }
    }

    /// A delay drawn uniformly from `[0, delay]`, to the millisecond.
    pub fn full(&self, delay: Duration) -> Duration {
        let max = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.borrow_mut().u64(0..=max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards() {
        let all = names(&["States.ALL"]);
        let task_failed = names(&["States.TaskFailed"]);
        assert!(matches(&all, "WarehouseBusy"));
        assert!(matches(&all, "States.Timeout"));
        assert!(!matches(&all, "States.Runtime"));
        assert!(!matches(&all, "States.DataLimitExceeded"));
        assert!(matches(
            &names(&["States.DataLimitExceeded"]),
            "States.DataLimitExceeded"
        ));
        assert!(matches(&task_failed, "WarehouseBusy"));
        assert!(matches(&task_failed, "States.ParameterPathFailure"));
        assert!(!matches(&task_failed, "States.Timeout"));
        assert!(!matches(&task_failed, "States.Runtime"));
        assert!(!matches(&names(&["States.Runtime"]), "States.Runtime"));
        assert!(matches(&names(&["A", "B"]), "B"));
        assert!(!matches(&names(&["A", "B"]), "b"));
    }

    #[test]
    fn delays_back_off_up_to_the_cap() {
        let retrier = Retrier {
            error_equals: names(&["X"]),
            interval_seconds: 2,
            max_attempts: 9,
            backoff_rate: 1.5,
            max_delay_seconds: Some(5),
            full_jitter: false,
        };
        let delays: Vec<u128> = (0..4).map(|n| retrier.delay(n).as_millis()).collect();
        assert_eq!(delays, [2000, 3000, 4500, 5000]);
    }

    #[test]
    fn full_jitter_is_deterministic_and_bounded() {
        let (a, b, c) = (
            Jitter::new("exec-1"),
            Jitter::new("exec-1"),
            Jitter::new("exec-2"),
        );
        let delay = Duration::from_secs(8);
        let first: Vec<Duration> = (0..50).map(|_| a.full(delay)).collect();
        let again: Vec<Duration> = (0..50).map(|_| b.full(delay)).collect();
        let other: Vec<Duration> = (0..50).map(|_| c.full(delay)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(first.iter().all(|d| *d <= delay));
        assert!(
            first.iter().any(|d| *d < Duration::from_secs(4))
                && first.iter().any(|d| *d > Duration::from_secs(4))
        );
        assert_eq!(a.full(Duration::ZERO), Duration::ZERO);
    }
}
