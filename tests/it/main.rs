//! The one black-box integration binary: it drives chartdesk over real HTTP against the
//! embedded sandbox EHR and SQLite, and PostgreSQL and Redis when CHARTDESK_TEST_POSTGRES_URL
//! and CHARTDESK_TEST_REDIS_URL are set. One binary keeps link time down.

mod audit;
mod binary;
mod browser;
mod context;
mod desk;
mod desk_connectors;
mod detection;
mod fake_desk;
mod fake_ehr;
mod foundation;
mod helpers;
mod interop;
mod launch;
mod messages;
mod redaction;
mod sandbox_auth;
mod sandbox_fhir;
mod store_story;
