//! Fetching a launch's chart context: one EHR round trip (a batch of GETs where the
//! CapabilityStatement offers `batch`, otherwise concurrent GETs), planned by `context` from
//! the policy's fetchable groups ∩ the granted scopes, cached in the sealed session so later
//! pages and messages cost no EHR request. Failures degrade to stated reasons; a 401 triggers
//! one refresh, then the relaunch page; a 429 backs the tenant off.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::session::{Session, now};
use super::{LaunchError, Smart};
use crate::audit::{AuditRecord, EntityRole, EventKind, Outcome, Purpose};
use crate::context::view::LastLogin;
use crate::context::{self, ChartData, Get, Granted, Inputs, Part, Planned, Unavailable};
use crate::fhir::client::{Capabilities, Fetched, FhirError, GetBatch, ReadOnlyFhir};
use crate::smart::request::ResourceType;

/// How long capabilities are cached per tenant.
const CAPABILITIES_TTL: Duration = Duration::from_secs(3600);
/// Back-off after a 429 without Retry-After, and the retry delay after a passing failure.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The outcome of one planned request.
type Answer = Result<Fetched, FhirError>;

fn transient(e: &FhirError) -> bool {
    matches!(e, FhirError::RateLimited { .. } | FhirError::Server(_) | FhirError::Timeout | FhirError::Unreachable)
}

impl Smart {
    /// The chart context of a session, fetched on first use (and again after a passing
    /// failure's retry time). Roles are re-mapped with the active policy on every call.
    pub async fn chart(&self, mut session: Session) -> Result<Session, LaunchError> {
        let fresh = session.chart.as_ref().is_some_and(|c| c.retry_at.is_none_or(|t| now() < t));
        if !fresh {
            session = self.fetch_and_cache(session).await?;
        }
        let policy = self.policy.active();
        if let Some(chart) = session.chart.as_mut() {
            let codings = chart.role_codings();
            let refs: Vec<(Option<&str>, &str)> = codings.iter().map(|(s, c)| (s.as_deref(), c.as_str())).collect();
            chart.mapped_roles = policy.document.roles_for(&refs);
            chart.role_source = if !policy.document.mapped_roles(&refs).is_empty() {
                "PractitionerRole".into()
            } else if chart.mapped_roles.is_empty() {
                "none".into()
            } else {
                "default-role".into()
            };
        }
        Ok(session)
    }

    async fn fetch_and_cache(&self, mut session: Session) -> Result<Session, LaunchError> {
        if session.can_refresh && session.token_expires_at <= now() + 10 {
            session = self.refresh(&session).await?;
        }
        for attempt in 0..2 {
            let tokens = self.sessions.tokens(&session).await?;
            let mut accesses: Vec<(Planned, bool)> = Vec::new();
            let fetched = self.fetch_chart(&session, &tokens.access_token, &mut accesses).await;
            // No audit, no data: every read is recorded before anything is shown.
            if let Some(tenant) = self.tenants.by_id(&session.tenant) {
                let mut agent = super::flow::session_agent(&session, tenant);
                if let Ok(chart) = &fetched {
                    let codings = chart.role_codings();
                    let refs: Vec<(Option<&str>, &str)> =
                        codings.iter().map(|(s, c)| (s.as_deref(), c.as_str())).collect();
                    agent.roles = self.policy.active().document.roles_for(&refs);
                }
                let policy = self.policy.active();
                for (p, ok) in &accesses {
                    let kind = match p.get {
                        Get::Read { .. } => EventKind::FhirRead,
                        Get::Search { .. } => EventKind::FhirSearch,
                    };
                    let role = if p.patient_data { EntityRole::Patient } else { EntityRole::Resource };
                    let mut rules: Vec<String> = p
                        .groups
                        .iter()
                        .flat_map(|g| policy.fetchable().get(g).cloned().unwrap_or_default())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .map(|r| format!("policy v{}: {r}", policy.version))
                        .collect();
                    rules.extend(p.scope_rules.iter().map(|s| format!("scope: {s}")));
                    let record = AuditRecord::new(kind, if *ok { Outcome::Success } else { Outcome::MinorFailure })
                        .agent(agent.clone())
                        .entity(role, p.what())
                        .purpose(Purpose::ItSupport)
                        .decision(true, rules);
                    self.audit.record(record).await?;
                }
            }
            match fetched {
                Ok(chart) => {
                    session.chart = Some(chart);
                    self.sessions.save(&session).await?;
                    return Ok(session);
                }
                Err(()) if attempt == 0 && session.can_refresh => session = self.refresh(&session).await?,
                Err(()) => break,
            }
        }
        tracing::warn!(tenant = %session.tenant, "the EHR refused the access token: relaunch needed");
        self.sessions.delete(&session.launch_id).await?;
        Err(LaunchError::SessionEnded)
    }

    /// What the tenant's CapabilityStatement offers, cached; a failure means "no batch, no
    /// AuditEvent search" (and is cached briefly, so a broken /metadata is not hammered).
    async fn capabilities(&self, tenant_id: &str, fhir: &ReadOnlyFhir<'_>) -> Capabilities {
        if let Some((at, ttl, caps)) = self.capabilities.lock().unwrap_or_else(|p| p.into_inner()).get(tenant_id)
            && at.elapsed() < *ttl
        {
            return caps.clone();
        }
        let (caps, ttl) = match fhir.capabilities().await {
            Ok(c) => (c, CAPABILITIES_TTL),
            Err(e) => {
                tracing::warn!(tenant = %tenant_id, error = %e, "CapabilityStatement unavailable: no batch, no EHR login history");
                (Capabilities::default(), DEFAULT_BACKOFF)
            }
        };
        self.capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant_id.to_string(), (Instant::now(), ttl, caps.clone()));
        caps
    }

    /// The instant until which a tenant is backed off (after a 429).
    fn backoff_until(&self, tenant_id: &str) -> Option<Instant> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).get(tenant_id).copied().filter(|t| *t > Instant::now())
    }

    fn back_off(&self, tenant_id: &str, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or(DEFAULT_BACKOFF).clamp(Duration::from_secs(1), MAX_BACKOFF);
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant_id.to_string(), Instant::now() + wait);
        tracing::warn!(tenant = %tenant_id, wait_secs = wait.as_secs(), "the EHR asked chartdesk to slow down: backing off");
        wait
    }

    /// Err(()) when the EHR answered 401. Every request sent lands in `accesses`.
    async fn fetch_chart(
        &self,
        s: &Session,
        token: &str,
        accesses: &mut Vec<(Planned, bool)>,
    ) -> Result<ChartData, ()> {
        let t = now();
        let mut chart = ChartData { fetched_at: t, ..ChartData::default() };
        let tenant = self.tenants.by_id(&s.tenant).ok_or(())?;
        let Ok(fhir) = ReadOnlyFhir::new(&self.http, &tenant.issuer, token) else {
            chart.unavailable.push(Unavailable::new(Part::Patient, "the EHR address is not usable"));
            return Ok(chart);
        };
        if let Some(until) = self.backoff_until(&tenant.id) {
            let wait = until.saturating_duration_since(Instant::now()).as_secs().max(1);
            chart.unavailable.push(Unavailable::new(
                Part::Patient,
                format!("chart context unavailable: the EHR asked chartdesk to slow down; retrying in {wait} s"),
            ));
            chart.retry_at = Some(t + wait as i64);
            return Ok(chart);
        }
        let policy = self.policy.active();
        let groups: BTreeSet<_> = policy.fetchable().keys().copied().collect();
        let granted = Granted::new(&s.granted_scopes);
        let practitioner = s
            .user
            .fhir_user
            .as_ref()
            .filter(|u| u.on_tenant && u.resource_type == "Practitioner")
            .map(|u| u.id.as_str());
        let wants_ehr_logins = practitioner.is_some()
            && groups.contains(&crate::policy::Group::LoginHistory)
            && granted.allows(ResourceType::AuditEvent, crate::smart::scope::Interaction::Search, false);
        let caps = if wants_ehr_logins || s.context.patient.is_some() {
            self.capabilities(&tenant.id, &fhir).await
        } else {
            Capabilities::default()
        };
        let inputs = Inputs {
            practitioner,
            place: s.context.login_department.as_deref().or(s.context.location.as_deref()),
            patient: s.context.patient.as_deref(),
            encounter: s.context.encounter.as_deref(),
            ehr_audit_search: wants_ehr_logins && caps.search.iter().any(|t| t == "AuditEvent"),
        };
        let (planned, missing) = context::plan(&inputs, &groups, &granted);
        chart.groups = groups.iter().copied().collect();
        chart.unavailable = missing;

        let answers: Vec<Answer> = if caps.batch && planned.len() > 1 {
            // Entries whose id from the EHR is not a FHIR id are answered here, unsent.
            let mut batch = GetBatch::default();
            let mut answers: Vec<Option<Answer>> = Vec::new();
            for p in &planned {
                match &p.get {
                    Get::Read { id, elements } => match batch.read(p.rtype, id, elements) {
                        Ok(_) => answers.push(None),
                        Err(e) => answers.push(Some(Err(e))),
                    },
                    Get::Search { params } => {
                        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        batch.search(p.rtype, &refs);
                        answers.push(None);
                    }
                }
            }
            let mut sent: Vec<Answer> = match fhir.batch(&batch).await {
                Ok(a) => a,
                Err(e) => batch.entries().iter().map(|_| Err(e.clone())).collect(),
            };
            sent.reverse();
            answers.into_iter().map(|a| a.or_else(|| sent.pop()).unwrap_or(Err(FhirError::Malformed))).collect()
        } else {
            join_all(planned.iter().map(|p| async {
                match &p.get {
                    Get::Read { id, elements } => fhir.read(p.rtype, id, elements).await.map(Fetched::Resource),
                    Get::Search { params } => {
                        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        fhir.search(p.rtype, &refs).await.map(Fetched::Matches)
                    }
                }
            }))
            .await
        };

        let mut unauthorized = false;
        let mut retry: Option<Duration> = None;
        for (p, answer) in planned.into_iter().zip(answers) {
            let sent = !matches!(answer, Err(FhirError::BadId(_)));
            let mut ok = answer.is_ok();
            match answer {
                Ok(fetched) => {
                    let kept: Vec<serde_json::Value> = match fetched {
                        Fetched::Resource(v) => context::keep(&p, &v).into_iter().collect(),
                        Fetched::Matches(list) => list.iter().filter_map(|v| context::keep(&p, v)).collect(),
                    };
                    let single = matches!(p.get, Get::Read { .. });
                    if single && kept.is_empty() {
                        ok = false;
                        chart
                            .unavailable
                            .push(Unavailable::new(p.part, "outside what the EHR's scopes allow chartdesk to see"));
                    }
                    match p.part {
                        Part::Practitioner => chart.practitioner = kept.into_iter().next(),
                        Part::Roles => chart.roles = kept,
                        Part::Department => chart.department = kept.into_iter().next(),
                        Part::Patient => chart.patient = kept.into_iter().next(),
                        Part::Encounter => chart.encounter = kept.into_iter().next(),
                        Part::Logins => chart.logins = kept,
                    }
                }
                Err(FhirError::Unauthorized) => unauthorized = true,
                Err(e) => {
                    if let FhirError::RateLimited { retry_after } = &e {
                        retry = Some(self.back_off(&tenant.id, *retry_after));
                    } else if transient(&e) {
                        retry = retry.or(Some(DEFAULT_BACKOFF));
                    }
                    tracing::warn!(part = ?p.part, error = %e, "chart context part unavailable");
                    chart.unavailable.push(Unavailable::new(p.part, format!("{}: {e}", p.part.label())));
                }
            }
            if sent {
                accesses.push((p, ok));
            }
        }
        if unauthorized {
            return Err(());
        }
        if let Some(wait) = retry {
            chart.retry_at = Some(t + wait.as_secs() as i64);
        }
        if !inputs.ehr_audit_search {
            chart.chartdesk_login = self.chartdesk_last_login(s).await;
        }
        Ok(chart)
    }

    /// The user's previous launch as chartdesk recorded it.
    async fn chartdesk_last_login(&self, s: &Session) -> Option<LastLogin> {
        let key = super::flow::user_key(s)?;
        match self.store.login_last(&key, s.created_at * 1000).await {
            Ok(Some(row)) => Some(LastLogin {
                at: chrono::DateTime::from_timestamp_millis(row.at_ms)?
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                from: row.location.map(|l| format!("Location/{l}")),
                workstation: None,
                source: "chartdesk".into(),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "login history unavailable");
                None
            }
        }
    }
}
