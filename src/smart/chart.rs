//! The first screen's chart context: who the user is (name, role, department) and, when the
//! EHR asks for a banner, which patient is open. Fetched once per launch with concurrent
//! GETs, only for resources the granted scopes cover, and cached in the session so later
//! page views cost no EHR requests. Failures degrade to a stated reason; a 401 triggers one
//! refresh, then the relaunch page.

use serde_json::Value;

use super::scope::{Context as ScopeContext, Interaction, Scope, parse_list};
use super::session::{Chart, PatientBanner, Session, now};
use super::{LaunchError, Smart};
use crate::audit::{AuditRecord, EntityRole, EventKind, Outcome, Purpose};
use crate::fhir::client::{FhirError, ReadOnlyFhir};
use crate::smart::request::ResourceType;

/// Does some granted scope allow `interaction` on `rtype` (in a user or patient context)?
pub fn granted_allows(granted: &[String], rtype: ResourceType, interaction: Interaction, patient: bool) -> bool {
    parse_list(&granted.join(" ")).0.iter().any(|s| match s {
        Scope::Resource(r) => {
            r.allows(rtype.as_str(), interaction)
                && match r.context {
                    ScopeContext::User => true,
                    ScopeContext::Patient => patient,
                    ScopeContext::System => false,
                }
        }
        _ => false,
    })
}

pub(crate) fn human_name(resource: &Value) -> Option<String> {
    let n = resource["name"]
        .as_array()?
        .iter()
        .find(|n| n["use"] == "official")
        .or(resource["name"].as_array()?.first())?;
    if let Some(t) = n["text"].as_str() {
        return Some(t.to_string());
    }
    let given: Vec<&str> =
        n["given"].as_array().map(|g| g.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let s = format!("{} {}", given.join(" "), n["family"].as_str().unwrap_or("")).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn role_text(role: &Value) -> Option<String> {
    let code = role["code"].as_array()?.first()?;
    code["text"]
        .as_str()
        .or_else(|| code["coding"].as_array()?.iter().rev().find_map(|c| c["display"].as_str()))
        .map(String::from)
}

/// chartdesk roles from a PractitionerRole's codes: the EHR's own role code when known,
/// else the HL7 practitioner-role code. (A fixed default until role mapping is configurable.)
pub fn roles_of(role: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for coding in
        role["code"].as_array().into_iter().flatten().flat_map(|c| c["coding"].as_array().cloned().unwrap_or_default())
    {
        let mapped = match coding["code"].as_str().unwrap_or_default() {
            "PHYSICIAN" | "RESIDENT" | "doctor" => "physician",
            "RN" | "nurse" => "nurse",
            "NURSING_SUPERVISOR" => "nursing-supervisor",
            "PHARMACIST" | "pharmacist" => "pharmacist",
            "CLIN_INFORMATICS" => "clinical-informatics",
            "COMPLIANCE" => "compliance",
            "IT_ANALYST" | "ict" => "it-analyst",
            _ => continue,
        };
        if !out.iter().any(|r| r == mapped) {
            out.push(mapped.to_string());
        }
    }
    // The EHR's specific code wins over the generic one (an informatics nurse is "ict" in HL7 terms).
    for specific in ["nursing-supervisor", "clinical-informatics", "compliance"] {
        if out.iter().any(|r| r == specific) {
            out.retain(|r| r == specific || !matches!(r.as_str(), "nurse" | "it-analyst" | "pharmacist"));
        }
    }
    out
}

/// The granted scopes that allow `interaction` on `rtype` (the "rules" of an audit record).
fn allowing(granted: &[String], rtype: ResourceType, interaction: Interaction, patient: bool) -> Vec<String> {
    granted.iter().filter(|s| granted_allows(std::slice::from_ref(s), rtype, interaction, patient)).cloned().collect()
}

enum Part<T> {
    Got(T),
    Skipped,
    Failed(FhirError),
}

/// One EHR read or search of the chart context, for the audit trail.
struct Access {
    kind: EventKind,
    what: String,
    patient: bool,
    outcome: Outcome,
    rules: Vec<String>,
}

impl Smart {
    /// The chart context of a session, fetched on first use.
    pub async fn chart(&self, mut session: Session) -> Result<Session, LaunchError> {
        if session.chart.is_some() {
            return Ok(session);
        }
        if session.can_refresh && session.token_expires_at <= now() + 10 {
            session = self.refresh(&session).await?;
        }
        for attempt in 0..2 {
            let tokens = self.sessions.tokens(&session).await?;
            let mut accesses = Vec::new();
            let fetched = self.fetch_chart(&session, &tokens.access_token, &mut accesses).await;
            // No audit, no data: every read is recorded before anything is shown.
            if let Some(tenant) = self.tenants.by_id(&session.tenant) {
                let mut agent = super::flow::session_agent(&session, tenant);
                if let Ok(chart) = &fetched {
                    agent.roles = chart.roles.clone();
                }
                for a in &accesses {
                    let role = if a.patient { EntityRole::Patient } else { EntityRole::Resource };
                    let record = AuditRecord::new(a.kind, a.outcome)
                        .agent(agent.clone())
                        .entity(role, a.what.clone())
                        .purpose(Purpose::ItSupport)
                        .decision(true, a.rules.clone());
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

    /// Err(()) when the EHR answered 401. Every attempted read lands in `accesses`.
    async fn fetch_chart(&self, s: &Session, token: &str, accesses: &mut Vec<Access>) -> Result<Chart, ()> {
        let tenant = self.tenants.by_id(&s.tenant).ok_or(())?;
        let Ok(fhir) = ReadOnlyFhir::new(&self.http, &tenant.issuer, token) else {
            return Ok(Chart {
                unavailable: vec!["chart context: the EHR address is not usable".into()],
                ..Chart::default()
            });
        };
        let allows = |t, i, p| granted_allows(&s.granted_scopes, t, i, p);
        let practitioner = s.user.fhir_user.as_ref().filter(|u| u.on_tenant && u.resource_type == "Practitioner");

        let user = async {
            match practitioner {
                Some(u) if allows(ResourceType::Practitioner, Interaction::Read, false) => {
                    match fhir.read(ResourceType::Practitioner, &u.id, &["name"]).await {
                        Ok(v) => Part::Got(v),
                        Err(e) => Part::Failed(e),
                    }
                }
                _ => Part::Skipped,
            }
        };
        let role = async {
            match practitioner {
                Some(u) if allows(ResourceType::PractitionerRole, Interaction::Search, false) => {
                    let reference = format!("Practitioner/{}", u.id);
                    match fhir
                        .search(
                            ResourceType::PractitionerRole,
                            &[("practitioner", &reference), ("_elements", "code,location"), ("_count", "5")],
                        )
                        .await
                    {
                        Ok(v) => Part::Got(v),
                        Err(e) => Part::Failed(e),
                    }
                }
                _ => Part::Skipped,
            }
        };
        let place = s.context.login_department.clone().or(s.context.location.clone());
        let location = async {
            match &place {
                Some(id) if allows(ResourceType::Location, Interaction::Read, false) => {
                    match fhir.read(ResourceType::Location, id, &["name"]).await {
                        Ok(v) => Part::Got(v),
                        Err(e) => Part::Failed(e),
                    }
                }
                _ => Part::Skipped,
            }
        };
        let patient = async {
            match &s.context.patient {
                Some(id) if s.context.need_patient_banner && allows(ResourceType::Patient, Interaction::Read, true) => {
                    match fhir.read(ResourceType::Patient, id, &["name", "birthDate", "gender"]).await {
                        Ok(v) => Part::Got(v),
                        Err(e) => Part::Failed(e),
                    }
                }
                _ => Part::Skipped,
            }
        };
        let (user, role, location, patient) = tokio::join!(user, role, location, patient);
        let mut log = |kind, what: String, patient_entity: bool, rtype, interaction, ok: bool| {
            accesses.push(Access {
                kind,
                what,
                patient: patient_entity,
                outcome: if ok { Outcome::Success } else { Outcome::MinorFailure },
                rules: allowing(&s.granted_scopes, rtype, interaction, patient_entity),
            });
        };
        if let (Some(u), false) = (practitioner, matches!(user, Part::Skipped)) {
            log(
                EventKind::FhirRead,
                format!("Practitioner/{}", u.id),
                false,
                ResourceType::Practitioner,
                Interaction::Read,
                matches!(user, Part::Got(_)),
            );
        }
        if let (Some(u), false) = (practitioner, matches!(role, Part::Skipped)) {
            log(
                EventKind::FhirSearch,
                format!("PractitionerRole?practitioner=Practitioner/{}", u.id),
                false,
                ResourceType::PractitionerRole,
                Interaction::Search,
                matches!(role, Part::Got(_)),
            );
        }
        if let (Some(id), false) = (&place, matches!(location, Part::Skipped)) {
            log(
                EventKind::FhirRead,
                format!("Location/{id}"),
                false,
                ResourceType::Location,
                Interaction::Read,
                matches!(location, Part::Got(_)),
            );
        }
        if let (Some(id), false) = (&s.context.patient, matches!(patient, Part::Skipped)) {
            log(
                EventKind::FhirRead,
                format!("Patient/{id}"),
                true,
                ResourceType::Patient,
                Interaction::Read,
                matches!(patient, Part::Got(_)),
            );
        }

        let mut chart = Chart::default();
        let mut fail = |what: &str, e: FhirError| -> Result<(), ()> {
            if matches!(e, FhirError::Unauthorized) {
                return Err(());
            }
            tracing::warn!(part = what, error = %e, "chart context unavailable");
            chart.unavailable.push(format!("{what}: {e}"));
            Ok(())
        };
        match user {
            Part::Got(v) => chart.user_name = human_name(&v),
            Part::Failed(e) => fail("your name", e)?,
            Part::Skipped => {}
        }
        let mut role_location = None;
        match role {
            Part::Got(roles) => {
                chart.user_role = roles.iter().find_map(role_text);
                chart.roles = roles.iter().flat_map(roles_of).collect();
                chart.roles.dedup();
                role_location = roles.iter().find_map(|r| r["location"][0]["display"].as_str().map(String::from));
            }
            Part::Failed(e) => fail("your role", e)?,
            Part::Skipped => {}
        }
        match location {
            Part::Got(v) => chart.department = v["name"].as_str().map(String::from),
            Part::Failed(e) => fail("your department", e)?,
            Part::Skipped => {}
        }
        chart.department = chart.department.or(role_location);
        match patient {
            Part::Got(v) => {
                chart.patient = Some(PatientBanner {
                    name: human_name(&v).unwrap_or_else(|| "(name not available)".into()),
                    birth_date: v["birthDate"].as_str().map(String::from),
                    gender: v["gender"].as_str().map(String::from),
                })
            }
            Part::Failed(e) => fail("patient banner", e)?,
            Part::Skipped => {}
        }
        Ok(chart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_scopes_gate_reads() {
        let g: Vec<String> =
            ["launch", "user/Practitioner.rs", "patient/Patient.r", "user/Location.read"].map(String::from).to_vec();
        assert!(granted_allows(&g, ResourceType::Practitioner, Interaction::Read, false));
        assert!(!granted_allows(&g, ResourceType::PractitionerRole, Interaction::Search, false));
        assert!(granted_allows(&g, ResourceType::Patient, Interaction::Read, true));
        assert!(!granted_allows(&g, ResourceType::Patient, Interaction::Read, false), "patient scopes need a patient");
        assert!(!granted_allows(&g, ResourceType::Patient, Interaction::Search, true));
        assert!(granted_allows(&g, ResourceType::Location, Interaction::Read, false));
    }

    #[test]
    fn names_and_roles_are_read_leniently() {
        let p = serde_json::json!({"name": [{"use": "nickname", "text": "Jo"}, {"use": "official", "given": ["Jordan"], "family": "Pike"}]});
        assert_eq!(human_name(&p).as_deref(), Some("Jordan Pike"));
        assert_eq!(human_name(&serde_json::json!({})), None);
        let r = serde_json::json!({"code": [{"coding": [{"code": "nurse"}, {"code": "RN", "display": "Registered nurse"}]}]});
        assert_eq!(role_text(&r).as_deref(), Some("Registered nurse"));
    }
}
