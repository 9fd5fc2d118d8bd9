#![forbid(unsafe_code)]
//! chartdesk: the help desk that lives beside the chart.
//!
//! See README.md § Architecture for the map of modules and their invariants.

pub mod config;
pub mod error;
pub mod keys;
pub mod kv;
pub mod smart;
pub mod store;
