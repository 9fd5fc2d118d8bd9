//! Everything that talks to an EHR goes through this module.
//!
//! Invariants:
//! - the only outbound HTTP client to EHRs (FHIR servers and their authorization servers)
//!   is built here: no redirects followed, timeouts always set, TLS verification on;
//! - (with the context issue) FHIR access is read-only by construction.

pub mod client;
pub mod discovery;
pub mod http;
