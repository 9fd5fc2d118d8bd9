//! Everything that talks to an EHR goes through this module.
//!
//! Invariants:
//! - the only outbound HTTP client to EHRs (FHIR servers and their authorization servers)
//!   is built here: no redirects followed, timeouts always set, TLS verification on;
//! - FHIR access is read-only by construction: [`client::ReadOnlyFhir`] offers read, search,
//!   capabilities and a batch whose entries can only be GETs; the HTTP layer under it refuses
//!   any other method before the network and is private to the client.

pub mod client;
pub mod discovery;
pub mod http;
