//! Sliding-window limits on login and registration, per client address and per account.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One limit: at most `max` events per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

/// The limits the platform enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Login attempts from one address.
    pub login_per_ip: Limit,
    /// Failed logins against one account.
    pub login_failures_per_account: Limit,
    /// Registrations from one address.
    pub register_per_ip: Limit,
    /// Password-reset requests for one address or account.
    pub reset_per_key: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_per_ip: Limit {
                max: 20,
                window: Duration::from_secs(60),
            },
            login_failures_per_account: Limit {
                max: 5,
                window: Duration::from_secs(15 * 60),
            },
            register_per_ip: Limit {
                max: 20,
                window: Duration::from_secs(60 * 60),
            },
            reset_per_key: Limit {
                max: 5,
                window: Duration::from_secs(60 * 60),
            },
        }
    }
}

/// In-memory event log per key. Each app instance limits on its own, which
/// bounds a distributed attacker to (instances × limit).
#[derive(Debug, Default)]
pub struct RateLimiter {
    pub limits: Limits,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        RateLimiter {
            limits,
            events: Mutex::new(HashMap::new()),
        }
    }

    fn prune<'a>(
        &'a self,
        map: &'a mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        limit: Limit,
    ) -> &'a mut VecDeque<Instant> {
        let now = Instant::now();
        let q = map.entry(key.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) > limit.window)
        {
            q.pop_front();
        }
        q
    }

    /// Whether `key` is already at its limit, without recording anything.
    pub fn is_limited(&self, key: &str, limit: Limit) -> bool {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut map, key, limit).len() >= limit.max
    }

    /// Records an event for `key`; `false` when the limit was already reached.
    pub fn hit(&self, key: &str, limit: Limit) -> bool {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, q| !q.is_empty());
        }
        let q = self.prune(&mut map, key, limit);
        if q.len() >= limit.max {
            return false;
        }
        q.push_back(Instant::now());
        true
    }

    /// Forgets `key` (a successful login clears its failures).
    pub fn clear(&self, key: &str) {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_clears() {
        let rl = RateLimiter::default();
        let l = Limit {
            max: 2,
            window: Duration::from_secs(60),
        };
        assert!(rl.hit("a", l));
        assert!(rl.hit("a", l));
        assert!(!rl.hit("a", l));
        assert!(rl.is_limited("a", l));
        assert!(rl.hit("b", l), "other keys are independent");
        rl.clear("a");
        assert!(rl.hit("a", l));
    }
}
