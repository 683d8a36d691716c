//! Executor arithmetic shared by both clocks: VU steps of ramping-vus and
//! iteration start times of the arrival-rate executors.

use super::options::{Executor, Stage};

/// `(time, vus)` steps of a ramping-vus executor, relative to its start.
pub fn vu_steps(start_vus: u32, stages: &[Stage]) -> Vec<(f64, u32)> {
    let mut steps = vec![(0.0, start_vus)];
    let mut t0 = 0.0;
    let mut cur = f64::from(start_vus);
    for s in stages {
        let target = s.target.floor();
        if s.duration <= 0.0 {
            steps.push((t0, target as u32));
        } else if target > cur {
            let mut v = cur + 1.0;
            while v <= target {
                steps.push((t0 + s.duration * (v - cur) / (target - cur), v as u32));
                v += 1.0;
            }
        } else if target < cur {
            let mut v = cur - 1.0;
            while v >= target {
                steps.push((t0 + s.duration * (cur - v) / (cur - target), v as u32));
                v -= 1.0;
            }
        }
        cur = target;
        t0 += s.duration;
    }
    steps
}

/// VUs active at `t` according to `steps`.
pub fn active_at(steps: &[(f64, u32)], t: f64) -> u32 {
    let mut n = 0;
    for (st, v) in steps {
        if *st <= t {
            n = *v;
        } else {
            break;
        }
    }
    n
}

/// First time after `t` at which VU `local` (0-based) becomes active.
pub fn next_active(steps: &[(f64, u32)], t: f64, local: u32) -> Option<f64> {
    steps
        .iter()
        .find(|(st, v)| *st > t && *v > local)
        .map(|(st, _)| *st)
}

/// First time after `t` at which VU `local` is ramped down.
pub fn next_inactive(steps: &[(f64, u32)], t: f64, local: u32) -> Option<f64> {
    steps
        .iter()
        .find(|(st, v)| *st > t && *v <= local)
        .map(|(st, _)| *st)
}

/// Start time (relative to the scenario start) of arrival `k` (0-based), if
/// it falls within the executor's duration.
pub fn arrival_time(ex: &Executor, k: u64) -> Option<f64> {
    match ex {
        Executor::ConstantArrivalRate {
            rate,
            time_unit,
            duration,
            ..
        } => {
            if *rate <= 0.0 {
                return None;
            }
            let t = k as f64 * time_unit / rate;
            (t < *duration).then_some(t)
        }
        Executor::RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            ..
        } => {
            // Cumulative iterations N(t) = integral of rate/time_unit; arrival k happens when N(t) = k.
            let target = k as f64;
            let mut t0 = 0.0;
            let mut n0 = 0.0;
            let mut r0 = start_rate / time_unit;
            for s in stages {
                let r1 = s.target / time_unit;
                let d = s.duration;
                let n1 = n0 + (r0 + r1) / 2.0 * d;
                if target < n1 || (target <= n1 && d == 0.0 && target == n0) {
                    let need = target - n0;
                    let a = (r1 - r0) / (2.0 * d.max(1e-12));
                    let tau = if a.abs() < 1e-12 {
                        if r0 <= 0.0 {
                            return None;
                        }
                        need / r0
                    } else {
                        let disc = (r0 * r0 + 4.0 * a * need).max(0.0);
                        (-r0 + disc.sqrt()) / (2.0 * a)
                    };
                    return Some(t0 + tau.clamp(0.0, d));
                }
                t0 += d;
                n0 = n1;
                r0 = r1;
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramping_steps() {
        let steps = vu_steps(
            0,
            &[
                Stage {
                    duration: 10.0,
                    target: 5.0,
                },
                Stage {
                    duration: 10.0,
                    target: 5.0,
                },
                Stage {
                    duration: 5.0,
                    target: 0.0,
                },
            ],
        );
        assert_eq!(active_at(&steps, 0.0), 0);
        assert_eq!(active_at(&steps, 2.0), 1);
        assert_eq!(active_at(&steps, 10.0), 5);
        assert_eq!(active_at(&steps, 19.0), 5);
        assert_eq!(active_at(&steps, 21.0), 4);
        assert_eq!(active_at(&steps, 25.0), 0);
        assert_eq!(next_active(&steps, 0.0, 2), Some(6.0));
        assert_eq!(next_inactive(&steps, 12.0, 4), Some(21.0));
    }

    #[test]
    fn arrivals() {
        let c = Executor::ConstantArrivalRate {
            rate: 10.0,
            time_unit: 1.0,
            duration: 2.0,
            pre_allocated: 1,
            max_vus: 1,
        };
        assert_eq!(arrival_time(&c, 0), Some(0.0));
        assert_eq!(arrival_time(&c, 5), Some(0.5));
        assert_eq!(arrival_time(&c, 20), None);
        let r = Executor::RampingArrivalRate {
            start_rate: 0.0,
            time_unit: 1.0,
            stages: vec![Stage {
                duration: 10.0,
                target: 10.0,
            }],
            pre_allocated: 1,
            max_vus: 1,
        };
        // N(t) = t^2 / 2, so arrival 50 is at t = 10 (out of range) and arrival 2 at t = 2.
        assert!((arrival_time(&r, 2).unwrap_or(-1.0) - 2.0).abs() < 1e-9);
        assert_eq!(arrival_time(&r, 50), None);
        let count = (0..1000)
            .take_while(|k| arrival_time(&r, *k).is_some())
            .count();
        assert_eq!(count, 50);
    }
}
