//! Integration tests of the lab engine, in one binary to keep link times down.

#![expect(clippy::unwrap_used, reason = "tests unwrap on known-good fixtures")]

mod common;
mod hostile;
mod k6_compat;
mod limits;
mod parallel;
mod toy_http;
