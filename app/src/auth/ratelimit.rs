//! Sliding-window limits on sign-in, registration and password resets.
//!
//! Sign-in failures are counted per client address and per (account, address),
//! never per account alone: a stranger who guesses wrong five times locks out
//! their own address, not the owner signing in from theirs.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
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
    /// Sign-in attempts from one address, whichever accounts they name
    /// (successful ones are not counted).
    pub login_per_ip: Limit,
    /// Sign-in attempts against one account from one address (a success clears them).
    pub login_failures_per_account: Limit,
    /// Registrations from one address.
    pub register_per_ip: Limit,
    /// Password-reset requests for one address or account.
    pub reset_per_key: Limit,
    /// "Someone tried to register with your address" emails to one address.
    pub register_notices_per_account: Limit,
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
            register_notices_per_account: Limit {
                max: 3,
                window: Duration::from_secs(60 * 60),
            },
        }
    }
}

/// The longest window of any limit: older events never matter.
const LONGEST_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Keys kept before expired ones are swept out.
const SWEEP_AT: usize = 100_000;

/// The part of a client address that rate limits count by. An IPv6 host
/// usually owns a whole /64 and can change addresses within it at will, so
/// those count as one; an IPv4-mapped IPv6 address is its IPv4 address.
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
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
        let limited = Self::prune(&mut map, key, limit).len() >= limit.max;
        if !limited && map.get(key).is_some_and(VecDeque::is_empty) {
            map.remove(key);
        }
        limited
    }

    /// Records an event for `key`; `false` (and nothing recorded) when the
    /// limit was already reached.
    pub fn hit(&self, key: &str, limit: Limit) -> bool {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            let now = Instant::now();
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) <= LONGEST_WINDOW)
            });
        }
        let q = Self::prune(&mut map, key, limit);
        if q.len() >= limit.max {
            return false;
        }
        q.push_back(Instant::now());
        true
    }

    /// Takes back the latest event of `key` (an attempt that turned out to be
    /// a successful sign-in does not count against the address).
    pub fn undo(&self, key: &str) {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = map.get_mut(key) {
            q.pop_back();
            if q.is_empty() {
                map.remove(key);
            }
        }
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
        rl.undo("a");
        assert!(!rl.is_limited("a", l));
        assert!(rl.hit("a", l) && rl.hit("a", l));
        rl.undo("a");
        assert!(rl.hit("a", l), "an undone event frees its place");
        assert!(!rl.hit("a", l));
    }

    #[test]
    fn addresses_count_by_host_or_ipv6_prefix() {
        let key = |s: &str| address_key(s.parse().expect("ip"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff::9"),
            key("2001:db8:1:2::1"),
            "one /64 is one host"
        );
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
