//! The toy service: a QuickPizza-compatible HTTP API backed by a modelled
//! ScyllaDB node, whose behaviour follows a declarative [`Scenario`].

pub mod catalog;
pub mod metrics;
pub mod model;
pub mod scenario;
pub mod server;

pub use model::{ToyModel, ToyRequest, ToyResponse};
pub use scenario::{builtin_names, Scenario, ScenarioError};
pub use server::ToyServer;
