//! The retention policy, enforced: expired content is purged and the data keys that sealed it
//! are destroyed (crypto-shredding), per data class. The purge is itself audited and leaves
//! the audit chain verifiable: purging an audit record clears its sealed content and keeps
//! its hashes.
//!
//! Classes and defaults (configurable under `[retention]`): message content 30 days, handoffs
//! and tickets 1 year, audit records 6 years, session tokens at the session's end.

use std::time::Duration;

use crate::audit::{Audit, AuditRecord, EntityRole, EventKind, Outcome};
use crate::config::Config;
use crate::crypto::{DataClass, KeyRing};
use crate::store::Store;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub expired_kv: u64,
    pub audit_records: u64,
    pub shredded_keys: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

fn days(n: u64) -> chrono::Duration {
    chrono::Duration::days(i64::try_from(n).unwrap_or(i64::MAX / 86_400_000).min(365 * 1000))
}

/// The month (`YYYYMM`) a cutoff falls in: keys of earlier months hold only expired data.
fn period(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m").to_string()
}

/// Run the retention policy once.
pub async fn purge(
    config: &Config,
    store: &dyn Store,
    keys: &KeyRing,
    audit: &Audit,
) -> Result<PurgeReport, RetentionError> {
    let now = chrono::Utc::now();
    let r = &config.retention;
    let mut report = PurgeReport { expired_kv: store.kv_purge_expired().await?, ..PurgeReport::default() };

    let audit_cutoff = now - days(r.audit_days);
    let (n, first, last) = store.audit_purge(audit_cutoff.timestamp_millis(), now.timestamp_millis()).await?;
    report.audit_records = n;

    let session_end = now - chrono::Duration::seconds(config.sessions.absolute_timeout_secs as i64);
    for (class, cutoff) in [
        (DataClass::Token, session_end),
        (DataClass::Message, now - days(r.message_days)),
        (DataClass::Handoff, now - days(r.handoff_days)),
        (DataClass::Audit, audit_cutoff),
    ] {
        report.shredded_keys += keys.shred(class, &period(cutoff)).await?;
    }

    if report.audit_records > 0 || report.shredded_keys > 0 {
        let mut record = AuditRecord::new(EventKind::AuditPurge, Outcome::Success)
            .entity(EntityRole::AuditLog, "audit-log")
            .reason("retention_policy")
            .number("audit_records_purged", report.audit_records as i64)
            .number("data_keys_shredded", report.shredded_keys as i64)
            .number("audit_cutoff_ms", audit_cutoff.timestamp_millis());
        if let (Some(f), Some(l)) = (first, last) {
            record = record.number("first_seq", f).number("last_seq", l);
        }
        audit.record(record).await?;
        tracing::info!(
            audit_records = report.audit_records,
            shredded_keys = report.shredded_keys,
            "retention purge done"
        );
    }
    Ok(report)
}

/// The purge interval of a configuration.
pub fn interval(config: &Config) -> Duration {
    Duration::from_secs(config.retention.purge_interval_secs.max(60))
}
