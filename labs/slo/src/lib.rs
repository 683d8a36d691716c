//! The SLO toolkit: PromQL with Prometheus's semantics, SLO specs (Sloth,
//! OpenSLO) turned into burn-rate alert rules, and Keptn-style quality gates.

pub mod cli;
pub mod gate;
pub mod promql;
pub mod slo;
