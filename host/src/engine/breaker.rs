//! A circuit breaker per program and plug-in: a plug-in that keeps running into its resource
//! limits (fuel, deadline, memory, ...) is suspended for a while, so that it stops burning
//! the evaluation threads every other program shares.
//!
//! Each evaluation that ends at a resource limit costs the host the whole budget (about a
//! core for milliseconds), and a plug-in that does so on every call is either broken or
//! hostile. After [`Limits::breaker_failures`](crate::plugins::Limits::breaker_failures)
//! such failures in a row, its evaluations for that program fail at once, without running,
//! for a cool-down (1 s, doubling while it keeps failing, at most 60 s); then one
//! evaluation is let through to probe it, and a success closes the breaker. Evaluations
//! that succeed, decline, or fail otherwise (a trap, a contract breach: cheap) reset the
//! count. Results are unaffected: a suspended evaluation is an error, never an answer.

use crate::plugins::{Digest, Failure, LimitKind};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first cool-down.
const FIRST_COOLDOWN: Duration = Duration::from_secs(1);
/// The longest cool-down.
const MAX_COOLDOWN: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    consecutive: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
}

/// The breakers of every (program, plug-in).
#[derive(Debug)]
pub(super) struct Breakers {
    threshold: u32,
    states: Mutex<HashMap<(String, Digest), State>>,
}

/// Whether a failure is one that burns a resource limit's worth of the host's time.
pub(super) fn burns_a_limit(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::Limit {
            limit: LimitKind::Fuel
                | LimitKind::Deadline
                | LimitKind::Memory
                | LimitKind::Stack
                | LimitKind::Table
                | LimitKind::Log
                | LimitKind::Output,
            ..
        }
    )
}

impl Breakers {
    /// Breakers that open after `threshold` limit failures in a row (0: never).
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// May this evaluation run? `Err(seconds to wait)` while the breaker is open.
    pub fn admit(&self, program_id: &str, digest: &Digest) -> Result<(), u64> {
        if self.threshold == 0 {
            return Ok(());
        }
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = states.get_mut(&(program_id.to_owned(), digest.clone())) else {
            return Ok(());
        };
        let Some(until) = state.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < until {
            return Err(until.duration_since(now).as_secs().max(1));
        }
        if state.probing {
            // One probe at a time; the others wait for its verdict.
            return Err(1);
        }
        state.probing = true;
        Ok(())
    }

    /// Record how an admitted evaluation ended: `true` when it burned a resource limit.
    pub fn record(&self, program_id: &str, digest: &Digest, burned: bool) {
        if self.threshold == 0 {
            return;
        }
        let key = (program_id.to_owned(), digest.clone());
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if !burned {
            states.remove(&key);
            return;
        }
        let state = states.entry(key).or_insert(State {
            consecutive: 0,
            open_until: None,
            cooldown: FIRST_COOLDOWN,
            probing: false,
        });
        state.consecutive = state.consecutive.saturating_add(1);
        state.probing = false;
        if state.consecutive >= self.threshold {
            state.open_until = Some(Instant::now() + state.cooldown);
            state.cooldown = (state.cooldown * 2).min(MAX_COOLDOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_limit_failures_and_probes_after_the_cooldown() {
        let b = Breakers::new(3);
        let d = Digest::of(b"x");
        for _ in 0..3 {
            assert_eq!(b.admit("p", &d), Ok(()));
            b.record("p", &d, true);
        }
        let wait = b.admit("p", &d).expect_err("open");
        assert!(wait >= 1);
        // Another program with the same plug-in is not affected.
        assert_eq!(b.admit("q", &d), Ok(()));
        // After the cool-down one probe passes; its success closes the breaker.
        {
            let mut states = b.states.lock().expect("lock");
            let s = states.get_mut(&("p".to_owned(), d.clone())).expect("state");
            s.open_until = Some(Instant::now());
        }
        assert_eq!(b.admit("p", &d), Ok(()));
        assert!(b.admit("p", &d).is_err(), "one probe at a time");
        b.record("p", &d, false);
        assert_eq!(b.admit("p", &d), Ok(()));
    }

    #[test]
    fn a_success_or_a_cheap_failure_resets_the_count_and_zero_disables() {
        let b = Breakers::new(2);
        let d = Digest::of(b"y");
        b.record("p", &d, true);
        b.record("p", &d, false);
        b.record("p", &d, true);
        assert_eq!(b.admit("p", &d), Ok(()));
        let off = Breakers::new(0);
        for _ in 0..10 {
            off.record("p", &d, true);
        }
        assert_eq!(off.admit("p", &d), Ok(()));
    }
}
