//! Declarative scenarios: how the toy service behaves during a lab.
//!
//! A scenario is a small YAML (or JSON) document chosen by the lab, never by
//! the learner's script. Authors add scenarios by writing new documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::duration::parse_duration;

/// A scenario could not be found or parsed.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// No built-in scenario has that name.
    #[error("unknown scenario {0:?}; known scenarios: {1}")]
    Unknown(String, String),
    /// The document is not a valid scenario.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

/// A latency distribution: log-normal, given by its median and 99th percentile.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Median latency in milliseconds.
    pub median_ms: f64,
    /// 99th percentile latency in milliseconds (must be >= the median).
    pub p99_ms: f64,
}

/// Per-endpoint overrides, keyed by route template (`/api/pizza`,
/// `/api/ingredients/{type}`, ...; `other` for paths that match no route).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Latency of this endpoint (the scenario's default otherwise).
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Share of requests that fail with a 500 (the scenario's default otherwise).
    #[serde(default)]
    pub error_rate: Option<f64>,
}

/// One time-bounded change to the service's behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Effect {
    /// When the effect starts, as a duration since the start of the run (`"30s"`).
    #[serde(default)]
    pub from: Option<String>,
    /// When it ends (exclusive); forever when absent.
    #[serde(default)]
    pub until: Option<String>,
    /// Routes affected; every route when empty.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// What happens.
    #[serde(flatten)]
    pub kind: EffectKind,
}

/// What an [`Effect`] does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EffectKind {
    /// Slower responses: latency multiplied by `factor`, plus `add_ms`.
    Latency {
        /// Multiplier applied to the sampled latency.
        #[serde(default = "one")]
        factor: f64,
        /// Milliseconds added to every response.
        #[serde(default)]
        add_ms: f64,
    },
    /// A share of requests fail with `status`.
    Errors {
        /// Share of requests, 0..=1.
        rate: f64,
        /// HTTP status of the failures.
        #[serde(default = "status_500")]
        status: u16,
    },
    /// A "v2" release: a new version label and a latency regression.
    Release {
        /// The version reported in `toy_build_info`.
        version: String,
        /// Latency multiplier of the new version.
        #[serde(default = "one")]
        factor: f64,
        /// Milliseconds added by the new version.
        #[serde(default)]
        add_ms: f64,
    },
    /// One partition (and its shard) receives most reads.
    HotPartition {
        /// The shard owning the hot partition.
        shard: u32,
        /// Share of storage reads hitting it, 0..=1.
        share: f64,
        /// Extra read latency on that shard, milliseconds.
        #[serde(default = "ten")]
        extra_ms: f64,
    },
    /// Compaction falls behind: backlog grows, cache misses rise, reads slow.
    CompactionStorm {
        /// Read latency multiplier while the storm lasts.
        #[serde(default = "three")]
        read_factor: f64,
        /// Cache hit ratio while the storm lasts.
        #[serde(default = "half")]
        cache_hit_ratio: f64,
    },
    /// An undersized connection pool: requests queue when concurrency exceeds `size`.
    Pool {
        /// Connections available.
        size: u32,
        /// Time a connection is held per request, milliseconds.
        service_ms: f64,
    },
    /// A bad access pattern (a full scan by a batch job): many reads per request.
    FullScan {
        /// Storage reads per request while it lasts.
        reads_per_request: u32,
        /// Extra latency per request, milliseconds.
        #[serde(default)]
        extra_ms: f64,
    },
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn three() -> f64 {
    3.0
}
fn ten() -> f64 {
    10.0
}
fn status_500() -> u16 {
    500
}

fn default_latency() -> Latency {
    Latency {
        median_ms: 8.0,
        p99_ms: 40.0,
    }
}

fn default_shards() -> u32 {
    4
}

fn default_hit_ratio() -> f64 {
    0.92
}

/// A toy-service scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short identifier (`baseline`, `v2-regression`, ...).
    pub name: String,
    /// What a lab author should know about it.
    #[serde(default)]
    pub description: String,
    /// Default latency of every endpoint.
    #[serde(default = "default_latency")]
    pub latency: Latency,
    /// Default share of requests failing with 500.
    #[serde(default)]
    pub error_rate: f64,
    /// Per-endpoint overrides.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// Number of shards of the modelled ScyllaDB node.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Steady-state row-cache hit ratio.
    #[serde(default = "default_hit_ratio")]
    pub cache_hit_ratio: f64,
    /// Time-bounded effects.
    #[serde(default)]
    pub effects: Vec<Effect>,
}

impl Scenario {
    /// Parses a scenario from YAML (JSON is valid YAML too) and validates it.
    pub fn from_yaml(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario =
            serde_yaml::from_str(text).map_err(|e| ScenarioError::Invalid(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Looks up a built-in scenario by name.
    pub fn builtin(name: &str) -> Result<Self, ScenarioError> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ScenarioError::Unknown(name.to_owned(), builtin_names().join(", ")))
            .and_then(|(_, text)| Self::from_yaml(text))
    }

    /// The default scenario: a healthy service.
    pub fn baseline() -> Self {
        Self::builtin("baseline").unwrap_or_else(|_| Scenario {
            name: "baseline".into(),
            description: String::new(),
            latency: default_latency(),
            error_rate: 0.0,
            endpoints: BTreeMap::new(),
            shards: default_shards(),
            cache_hit_ratio: default_hit_ratio(),
            effects: Vec::new(),
        })
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError::Invalid(m));
        let check_lat = |l: &Latency, what: &str| -> Result<(), ScenarioError> {
            if !(l.median_ms > 0.0 && l.p99_ms >= l.median_ms && l.p99_ms.is_finite()) {
                return Err(ScenarioError::Invalid(format!(
                    "{what}: latency needs 0 < median_ms <= p99_ms"
                )));
            }
            Ok(())
        };
        check_lat(&self.latency, "latency")?;
        if !(0.0..=1.0).contains(&self.error_rate) {
            return bad("error_rate must be between 0 and 1".into());
        }
        if self.shards == 0 || self.shards > 256 {
            return bad("shards must be between 1 and 256".into());
        }
        for (route, spec) in &self.endpoints {
            if let Some(l) = &spec.latency {
                check_lat(l, route)?;
            }
            if let Some(r) = spec.error_rate {
                if !(0.0..=1.0).contains(&r) {
                    return bad(format!("{route}: error_rate must be between 0 and 1"));
                }
            }
        }
        for e in &self.effects {
            for d in [&e.from, &e.until].into_iter().flatten() {
                parse_duration(d).map_err(|err| ScenarioError::Invalid(err.to_string()))?;
            }
        }
        Ok(())
    }
}

/// Names of the built-in scenarios.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../../scenarios/baseline.yaml")),
    ("errors", include_str!("../../scenarios/errors.yaml")),
    (
        "v2-regression",
        include_str!("../../scenarios/v2-regression.yaml"),
    ),
    (
        "hot-partition",
        include_str!("../../scenarios/hot-partition.yaml"),
    ),
    (
        "compaction-storm",
        include_str!("../../scenarios/compaction-storm.yaml"),
    ),
    (
        "small-pool",
        include_str!("../../scenarios/small-pool.yaml"),
    ),
    (
        "nightly-scan",
        include_str!("../../scenarios/nightly-scan.yaml"),
    ),
    (
        "benign-blip",
        include_str!("../../scenarios/benign-blip.yaml"),
    ),
];

/// An effect resolved to seconds, ready for the model.
#[derive(Debug, Clone)]
pub(crate) struct ActiveEffect {
    pub from: f64,
    pub until: f64,
    pub endpoints: Vec<String>,
    pub kind: EffectKind,
}

impl ActiveEffect {
    pub(crate) fn resolve(e: &Effect) -> Self {
        Self {
            from: e
                .from
                .as_deref()
                .and_then(|d| parse_duration(d).ok())
                .unwrap_or(0.0),
            until: e
                .until
                .as_deref()
                .and_then(|d| parse_duration(d).ok())
                .unwrap_or(f64::INFINITY),
            endpoints: e
                .endpoints
                .iter()
                .map(|r| super::model::scenario_route(r).to_owned())
                .collect(),
            kind: e.kind.clone(),
        }
    }

    pub(crate) fn applies(&self, now: f64, route: &str) -> bool {
        now >= self.from
            && now < self.until
            && (self.endpoints.is_empty() || self.endpoints.iter().any(|r| r == route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for name in builtin_names() {
            let s = Scenario::builtin(name).expect(name);
            assert_eq!(s.name, name);
        }
    }

    #[test]
    #[expect(clippy::unwrap_used, reason = "test")]
    fn unknown_and_invalid_are_clear() {
        let e = Scenario::builtin("nope").err().unwrap().to_string();
        assert!(e.contains("baseline"), "{e}");
        let e = Scenario::from_yaml("name: x\nlatency: {median_ms: 10, p99_ms: 1}\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("median_ms"), "{e}");
        assert!(Scenario::from_yaml("name: x\nbogus: 1\n").is_err());
    }
}
