//! The exam pages.
