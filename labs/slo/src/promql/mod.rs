//! PromQL with Prometheus's semantics: a store, an evaluator and a runner for
//! Prometheus's `promqltest` script format.

pub mod eval;
pub mod functions;
pub mod labels;
pub mod limits;
pub mod promqltest;
pub mod store;
pub mod value;

pub use eval::{
    instant_query, instant_query_with, parse, parse_with, range_query, range_query_with, Engine,
    QueryError, QueryOptions,
};
pub use labels::Labels;
pub use limits::{CancelCheck, QueryContext, QueryLimits};
pub use store::{Sample, Series, Storage};
pub use value::{format_api_float, format_float, Element, RangeSeries, Value};
