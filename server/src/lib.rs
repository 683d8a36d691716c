//! The `masterclass` server: configuration, start-up, router and the command line.

pub mod api_status;
pub mod cli;
pub mod config;
pub mod form_flash;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod security;
pub mod serve;
pub mod session_cache;
pub mod site;
pub mod startup;
pub mod static_files;
pub mod videos;
