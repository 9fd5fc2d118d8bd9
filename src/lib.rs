#![forbid(unsafe_code)]
//! chartdesk: the help desk that lives beside the chart.
//!
//! See README.md § Architecture for the map of modules and their invariants.

pub mod audit;
pub mod cli;
pub mod config;
pub mod context;
pub mod crypto;
pub mod desk;
pub mod detect;
pub mod error;
pub mod fhir;
pub mod handoff;
pub mod keys;
pub mod kv;
pub mod policy;
pub mod redact;
pub mod retention;
pub mod sandbox;
pub mod smart;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;

#[cfg(test)]
mod architecture;
