//! SLO specifications (Sloth `prometheus/v1`, OpenSLO v1alpha and v1) and the
//! Prometheus recording and multiwindow, multi-burn-rate alerting rules they
//! turn into.

mod documents;
mod openslo;
pub mod rules;
pub mod spec;
pub mod timeline;

pub use rules::{burn_windows, generate_rule_file, BurnWindow, RuleFile};
pub use spec::{
    parse_slo_file, parse_slo_str, AlertSpec, Alerting, Sli, SloSpec, SpecError, SpecFormat,
};
