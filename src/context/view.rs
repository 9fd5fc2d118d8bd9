//! The context a viewer sees: the launch's cached [`ChartData`] projected to the element
//! groups the policy allows this user for this purpose. The JSON of `GET /api/context` and
//! the clinician page are both this value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{ChartData, Unavailable, project};
use crate::policy::{Decision, Group};
use crate::smart::request::ResourceType;

/// Facts of the launch itself (not chart data).
#[derive(Clone, Debug, Default)]
pub struct LaunchFacts {
    pub launch_id: String,
    pub kind: String,
    pub tenant: String,
    pub vendor: String,
    pub ehr: String,
    pub fhir_user: Option<String>,
    /// `name` claim of the id_token, when the EHR sent one.
    pub id_token_name: Option<String>,
    pub verified: bool,
    pub token_issued_at: i64,
    pub token_expires_at: i64,
    pub granted_scopes: Vec<String>,
    pub dropped_scopes: Vec<String>,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    /// (id, which token parameter named it)
    pub place: Option<(String, &'static str)>,
    pub created_at: i64,
}

/// `GET /api/context`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextView {
    pub launch: LaunchInfo,
    /// `it-support` or `clinical-handoff`.
    pub purpose: String,
    /// The policy version that decided what is shown.
    pub policy_version: i64,
    pub tenant: TenantInfo,
    pub user: UserInfo,
    pub token: TokenInfo,
    pub scopes: ScopeInfo,
    /// Whether a patient chart is open (true even when no patient detail may be shown).
    pub patient_in_context: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login: Option<LastLogin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<EncounterInfo>,
    /// Element groups this user may see for this purpose, with the policy rules that allowed each.
    pub access: Vec<AccessInfo>,
    /// Parts of the context that could not be shown, and why.
    pub unavailable: Vec<Unavailable>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LaunchInfo {
    pub id: String,
    /// `ehr`, `ehr-toolbar` or `standalone`.
    pub kind: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub id: String,
    pub vendor: String,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// `Practitioner/…` (the `fhirUser` reference), when the EHR named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// false when the EHR sent no verifiable identity token.
    pub verified: bool,
    /// chartdesk roles.
    pub roles: Vec<String>,
    /// Where the roles came from: `PractitionerRole` (codes mapped by the role mapping) or `none`.
    pub role_source: String,
    /// The EHR's own words for the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Department>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Department {
    pub name: String,
    /// `token:loginDepartment`, `token:location` or `PractitionerRole`.
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// RFC 3339.
    pub issued_at: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeInfo {
    pub granted: Vec<String>,
    /// Write scopes the EHR granted anyway; dropped and never used.
    pub dropped: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastLogin {
    /// RFC 3339.
    pub at: String,
    /// Where from: a department or location, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Workstation or network address, when the EHR records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workstation: Option<String>,
    /// `ehr-audit-event` (the EHR's AuditEvent) or `chartdesk` (chartdesk's own record of launches).
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientInfo {
    /// `Patient/…`.
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<Vec<IdentifierInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telecom: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncounterInfo {
    /// `Encounter/…`.
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub locations: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessInfo {
    pub group: String,
    pub rules: Vec<String>,
}

/// A FHIR HumanName list, read leniently: the official name, else the first.
pub fn human_name(resource: &Value) -> Option<String> {
    let names = resource["name"].as_array()?;
    let n = names.iter().find(|n| n["use"] == "official").or(names.first())?;
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

fn coding_text(v: &Value) -> Option<String> {
    v["display"].as_str().or(v["code"].as_str()).map(String::from)
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The most recent login recorded by the EHR strictly before this launch.
fn ehr_last_login(logins: &[Value], before: i64) -> Option<LastLogin> {
    let before = chrono::DateTime::from_timestamp(before, 0)?;
    logins
        .iter()
        .filter_map(|e| {
            let at = chrono::DateTime::parse_from_rfc3339(e["recorded"].as_str()?).ok()?;
            (at < before).then_some((at, e))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(at, e)| {
            let agent = e["agent"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["requestor"] == true).or(a.first()))
                .cloned()
                .unwrap_or_default();
            LastLogin {
                at: at.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                from: agent["location"]["display"]
                    .as_str()
                    .or(agent["location"]["reference"].as_str())
                    .map(String::from),
                workstation: agent["network"]["address"].as_str().map(String::from),
                source: "ehr-audit-event".into(),
            }
        })
}

/// The user's department: the token's `loginDepartment`/`location` (named by the Location
/// read, when it was), else the first PractitionerRole location.
pub fn department(place: &Option<(String, &'static str)>, chart: &ChartData) -> Option<Department> {
    match place {
        Some((id, source)) => {
            let name = chart.department.as_ref().and_then(|l| l["name"].as_str().map(String::from));
            Some(Department {
                name: name.unwrap_or_else(|| format!("Location/{id}")),
                source: format!("token:{source}"),
            })
        }
        None => chart
            .roles
            .iter()
            .find_map(|r| r["location"][0]["display"].as_str())
            .map(|d| Department { name: d.to_string(), source: "PractitionerRole".into() }),
    }
}

/// Build the view of `chart` for a user holding `roles`, allowed `allowed` groups for `purpose`.
pub fn build(
    facts: &LaunchFacts,
    chart: &ChartData,
    roles: &[String],
    allowed: &BTreeMap<Group, Decision>,
    purpose: &str,
    policy_version: i64,
) -> ContextView {
    // A group is shown only if the policy allows it now *and* it was fetched under the scopes.
    let may = |g: Group| allowed.contains_key(&g) && chart.groups.contains(&g);
    let mut unavailable = chart.unavailable.clone();

    let role_text = chart.roles.iter().find_map(role_text);
    let department = department(&facts.place, chart);
    let user = UserInfo {
        fhir_user: facts.fhir_user.clone(),
        name: chart.practitioner.as_ref().and_then(human_name).or(facts.id_token_name.clone()),
        verified: facts.verified,
        roles: roles.to_vec(),
        role_source: if chart.role_source.is_empty() { "none".into() } else { chart.role_source.clone() },
        role_text,
        department,
    };

    let last_login = if may(Group::LoginHistory)
        || (allowed.contains_key(&Group::LoginHistory) && chart.chartdesk_login.is_some())
    {
        ehr_last_login(&chart.logins, facts.created_at).or(chart.chartdesk_login.clone())
    } else {
        None
    };

    let patient = match (&facts.patient, &chart.patient) {
        (Some(id), Some(p)) if may(Group::Demographics) || may(Group::Identifiers) || may(Group::Contact) => {
            let mut els: Vec<&str> = Vec::new();
            for g in [Group::Demographics, Group::Identifiers, Group::Contact] {
                if may(g) {
                    els.extend(super::elements_for(ResourceType::Patient, &[g]));
                }
            }
            let p = project(p, &els);
            Some(PatientInfo {
                reference: format!("Patient/{id}"),
                name: human_name(&p),
                birth_date: p["birthDate"].as_str().map(String::from),
                gender: p["gender"].as_str().map(String::from),
                identifiers: may(Group::Identifiers).then(|| {
                    p["identifier"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| {
                            Some(IdentifierInfo {
                                label: i["type"]["text"]
                                    .as_str()
                                    .or(i["type"]["coding"][0]["code"].as_str())
                                    .map(String::from),
                                value: i["value"].as_str()?.to_string(),
                            })
                        })
                        .collect()
                }),
                telecom: may(Group::Contact).then(|| {
                    p["telecom"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t["value"].as_str().map(String::from))
                        .collect()
                }),
                address: may(Group::Contact).then(|| {
                    p["address"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| {
                            a["text"].as_str().map(String::from).or_else(|| {
                                let lines: Vec<&str> = a["line"].as_array()?.iter().filter_map(Value::as_str).collect();
                                Some(format!("{}, {}", lines.join(" "), a["city"].as_str().unwrap_or("")))
                            })
                        })
                        .collect()
                }),
            })
        }
        _ => None,
    };
    let encounter = match (&facts.encounter, &chart.encounter) {
        (Some(id), Some(e)) if may(Group::Encounter) => Some(EncounterInfo {
            reference: format!("Encounter/{id}"),
            status: e["status"].as_str().map(String::from),
            class: coding_text(&e["class"]),
            start: e["period"]["start"].as_str().map(String::from),
            end: e["period"]["end"].as_str().map(String::from),
            locations: e["location"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    l["location"]["display"].as_str().or(l["location"]["reference"].as_str()).map(String::from)
                })
                .collect(),
        }),
        _ => None,
    };
    // Parts the viewer may not see are not "unavailable": they are simply not theirs.
    unavailable.retain(|u| match u.part.as_str() {
        "patient" => {
            patient.is_some()
                || (allowed.keys().any(|g| matches!(g, Group::Demographics | Group::Identifiers | Group::Contact)))
        }
        "encounter" => allowed.contains_key(&Group::Encounter),
        _ => true,
    });

    ContextView {
        launch: LaunchInfo { id: facts.launch_id.clone(), kind: facts.kind.clone() },
        purpose: purpose.to_string(),
        policy_version,
        tenant: TenantInfo { id: facts.tenant.clone(), vendor: facts.vendor.clone(), label: facts.ehr.clone() },
        user,
        token: TokenInfo { issued_at: rfc3339(facts.token_issued_at), expires_at: rfc3339(facts.token_expires_at) },
        scopes: ScopeInfo { granted: facts.granted_scopes.clone(), dropped: facts.dropped_scopes.clone() },
        patient_in_context: facts.patient.is_some(),
        last_login,
        patient,
        encounter,
        access: allowed
            .iter()
            .map(|(g, d)| AccessInfo { group: g.as_str().to_string(), rules: d.rules.clone() })
            .collect(),
        unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(groups: &[Group]) -> BTreeMap<Group, Decision> {
        groups
            .iter()
            .map(|g| (*g, Decision { allowed: true, rules: vec![format!("r:{}", g.as_str())], errors: vec![] }))
            .collect()
    }

    fn chart() -> ChartData {
        ChartData {
            practitioner: Some(
                json!({"resourceType": "Practitioner", "id": "pr1", "name": [{"given": ["Jo"], "family": "Pike"}]}),
            ),
            patient: Some(
                json!({"resourceType": "Patient", "id": "p1", "name": [{"text": "Ann Test"}], "gender": "female",
                "identifier": [{"type": {"text": "MRN"}, "value": "123"}]}),
            ),
            encounter: Some(
                json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress", "class": {"code": "IMP", "display": "inpatient encounter"}}),
            ),
            groups: vec![Group::SelfProfile, Group::Demographics, Group::Identifiers, Group::Encounter],
            ..ChartData::default()
        }
    }

    fn facts() -> LaunchFacts {
        LaunchFacts { patient: Some("p1".into()), encounter: Some("e1".into()), ..LaunchFacts::default() }
    }

    #[test]
    fn each_field_only_if_allowed() {
        let v = build(
            &facts(),
            &chart(),
            &["nurse".into()],
            &allow(&[Group::SelfProfile, Group::Demographics]),
            "it-support",
            1,
        );
        assert_eq!(v.user.name.as_deref(), Some("Jo Pike"));
        let p = v.patient.unwrap();
        assert_eq!(p.name.as_deref(), Some("Ann Test"));
        assert!(p.identifiers.is_none(), "identifiers need their own group");
        assert!(v.encounter.is_none());

        let v = build(&facts(), &chart(), &["it-analyst".into()], &allow(&[Group::SelfProfile]), "it-support", 1);
        assert!(v.patient.is_none() && v.encounter.is_none() && v.patient_in_context);
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains("Ann") && !json.contains("123"), "{json}");

        let v = build(
            &facts(),
            &chart(),
            &["nursing-supervisor".into()],
            &allow(&[Group::Demographics, Group::Identifiers, Group::Encounter]),
            "clinical-handoff",
            1,
        );
        assert_eq!(v.patient.unwrap().identifiers.unwrap()[0].value, "123");
        assert_eq!(v.encounter.unwrap().class.as_deref(), Some("inpatient encounter"));
    }

    #[test]
    fn a_group_not_fetched_is_never_shown() {
        let mut c = chart();
        c.groups.retain(|g| *g != Group::Identifiers);
        let v = build(&facts(), &c, &[], &allow(&[Group::Demographics, Group::Identifiers]), "clinical-handoff", 1);
        assert!(v.patient.unwrap().identifiers.is_none());
    }

    #[test]
    fn last_login_prefers_the_ehr_and_labels_the_source() {
        let mut c = chart();
        c.groups.push(Group::LoginHistory);
        c.logins = vec![
            json!({"recorded": "2026-11-20T07:00:00Z", "agent": [{"requestor": true, "location": {"reference": "Location/loc-micu"}, "network": {"address": "WS-1"}}]}),
            json!({"recorded": "2026-11-21T07:00:00Z", "agent": [{"requestor": true}]}),
            json!({"recorded": "2030-01-01T00:00:00Z"}),
        ];
        let mut f = facts();
        f.created_at = chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z").unwrap().timestamp();
        let v = build(&f, &c, &[], &allow(&[Group::LoginHistory]), "it-support", 1);
        let l = v.last_login.unwrap();
        assert_eq!((l.at.as_str(), l.source.as_str()), ("2026-11-21T07:00:00Z", "ehr-audit-event"));
        c.logins.clear();
        c.chartdesk_login = Some(LastLogin {
            at: "2026-11-19T00:00:00Z".into(),
            from: None,
            workstation: None,
            source: "chartdesk".into(),
        });
        let v = build(&f, &c, &[], &allow(&[Group::LoginHistory]), "it-support", 1);
        assert_eq!(v.last_login.unwrap().source, "chartdesk");
        assert!(build(&f, &c, &[], &allow(&[]), "it-support", 1).last_login.is_none());
    }
}
