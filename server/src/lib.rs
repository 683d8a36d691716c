//! The `masterclass` server: configuration, start-up, router and the command line.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod security;
pub mod startup;
pub mod static_files;
