//! The lab engine: a QuickPizza-compatible toy service and a k6-compatible
//! load runner with a live clock and a deterministic simulated clock.

pub mod duration;
pub mod runner;
pub mod toy;

pub use runner::{run, Mode, Progress, RunConfig, RunError, RunSummary};
pub mod cli;
