//! Login and chart context: what chartdesk may know, for one launch, about the user and the
//! patient and encounter in context.
//!
//! The flow is: [`plan`] the EHR reads (only the launch's own patient and encounter, only the
//! elements some role could be allowed, only what the granted SMART scopes cover) → fetch
//! them in one round trip (in `smart::chart`, through `fhir`) → [`keep`] only the requested
//! elements and what the query-restricted scopes match → cache the result for the launch →
//! [`view::build`] a [`view::ContextView`] per request, projected again to the groups the
//! policy allows this user for this purpose.
//!
//! Invariants:
//! - pure: no I/O (the fetch lives in `smart::chart`, the EHR client in `fhir`);
//! - effective permission = policy decision ∩ granted scopes, per element group;
//! - ids in a plan come only from the launch context (never from a request parameter);
//! - data that a query-restricted scope does not match, or that cannot be evaluated against
//!   the restriction, is dropped (fail closed).

pub mod view;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::policy::Group;
use crate::smart::request::ResourceType;
use crate::smart::scope::{Context as ScopeContext, Interaction, ResourceScope, Scope, parse_list};

/// The granted scopes of a session, parsed once.
#[derive(Clone, Debug, Default)]
pub struct Granted(Vec<(String, ResourceScope)>);

/// How a granted read is restricted by v2 query scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// Some allowing scope has no query.
    None,
    /// The resource must match one of these (name, value) lists.
    AnyOf(Vec<Vec<(String, String)>>),
}

impl Granted {
    pub fn new(granted: &[String]) -> Granted {
        let scopes = parse_list(&granted.join(" ")).0;
        Granted(
            scopes
                .into_iter()
                .filter_map(|s| match s {
                    Scope::Resource(r) if !r.perms.is_write() => Some((Scope::Resource(r.clone()).to_string(), r)),
                    _ => None,
                })
                .collect(),
        )
    }

    /// The granted scopes allowing `interaction` on `rtype` (user scopes always, patient
    /// scopes only for the patient in context; system scopes never).
    pub fn allowing(
        &self,
        rtype: ResourceType,
        interaction: Interaction,
        patient: bool,
    ) -> Vec<&(String, ResourceScope)> {
        self.0
            .iter()
            .filter(|(_, r)| {
                r.allows(rtype.as_str(), interaction)
                    && match r.context {
                        ScopeContext::User => true,
                        ScopeContext::Patient => patient,
                        ScopeContext::System => false,
                    }
            })
            .collect()
    }

    pub fn allows(&self, rtype: ResourceType, interaction: Interaction, patient: bool) -> bool {
        !self.allowing(rtype, interaction, patient).is_empty()
    }

    /// The restriction on what may be kept of `rtype`.
    pub fn restriction(&self, rtype: ResourceType, interaction: Interaction, patient: bool) -> Restriction {
        let allowing = self.allowing(rtype, interaction, patient);
        if allowing.iter().any(|(_, r)| r.query.is_empty()) {
            return Restriction::None;
        }
        Restriction::AnyOf(allowing.iter().map(|(_, r)| r.query.clone()).collect())
    }
}

/// Does `resource` match every (search parameter, value) pair? Token semantics: `code` or
/// `system|code` against a string, Coding, CodeableConcept or Reference element of the same
/// name (`_id` is the id). Anything that cannot be evaluated does not match.
pub fn matches_query(resource: &Value, pairs: &[(String, String)]) -> bool {
    pairs.iter().all(|(name, want)| {
        let element = if name == "_id" { &resource["id"] } else { &resource[name.as_str()] };
        let (system, code) = match want.split_once('|') {
            Some((s, c)) => (Some(s), c),
            None => (None, want.as_str()),
        };
        token_matches(element, system, code)
    })
}

fn token_matches(v: &Value, system: Option<&str>, code: &str) -> bool {
    match v {
        Value::String(s) => system.is_none_or(str::is_empty) && s == code,
        Value::Array(items) => items.iter().any(|i| token_matches(i, system, code)),
        Value::Object(o) => {
            if let Some(codings) = o.get("coding") {
                return token_matches(codings, system, code);
            }
            if let Some(r) = o.get("reference").and_then(Value::as_str) {
                return system.is_none() && (r == code || r.rsplit('/').next() == Some(code));
            }
            let code_ok = o.get("code").and_then(Value::as_str) == Some(code);
            let system_ok = match system {
                None => true,
                Some("") => o.get("system").is_none(),
                Some(s) => o.get("system").and_then(Value::as_str) == Some(s),
            };
            code_ok && system_ok
        }
        _ => false,
    }
}

/// One part of the chart context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    Practitioner,
    Roles,
    Department,
    Patient,
    Encounter,
    Logins,
}

impl Part {
    /// How the part is named to a person ("your role: the EHR denied access").
    pub fn label(self) -> &'static str {
        match self {
            Part::Practitioner => "your name",
            Part::Roles => "your role",
            Part::Department => "your department",
            Part::Patient => "patient details",
            Part::Encounter => "encounter details",
            Part::Logins => "login history",
        }
    }
}

/// A GET chartdesk will send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Get {
    Read { id: String, elements: Vec<&'static str> },
    Search { params: Vec<(String, String)> },
}

/// One planned EHR request.
#[derive(Clone, Debug)]
pub struct Planned {
    pub part: Part,
    pub rtype: ResourceType,
    pub get: Get,
    /// The element groups this request serves.
    pub groups: Vec<Group>,
    /// The granted scopes that allow it (for the audit record).
    pub scope_rules: Vec<String>,
    /// Fetched data must match this (v2 query-restricted scopes).
    pub restriction: Restriction,
    /// Is this the patient's data (audit entity role)?
    pub patient_data: bool,
}

impl Planned {
    /// A reference-like label for the audit record (`Patient/p1`, `PractitionerRole?practitioner=…`).
    pub fn what(&self) -> String {
        match &self.get {
            Get::Read { id, .. } => format!("{}/{id}", self.rtype.as_str()),
            Get::Search { params } => {
                let q: Vec<String> =
                    params.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}?{}", self.rtype.as_str(), q.join("&"))
            }
        }
    }

    /// The elements requested (and kept).
    pub fn elements(&self) -> Vec<&'static str> {
        elements_for(self.rtype, &self.groups)
    }
}

/// Why a part is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unavailable {
    /// `practitioner`, `roles`, `department`, `patient`, `encounter` or `logins`.
    pub part: String,
    pub reason: String,
}

impl Unavailable {
    pub fn new(part: Part, reason: impl Into<String>) -> Unavailable {
        Unavailable {
            part: serde_json::to_value(part).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            reason: reason.into(),
        }
    }
}

/// What the launch puts in context (ids only ever come from here).
#[derive(Clone, Debug, Default)]
pub struct Inputs<'a> {
    /// The user's Practitioner id, when `fhirUser` is a Practitioner on this tenant.
    pub practitioner: Option<&'a str>,
    /// `loginDepartment` or `location` from the token response.
    pub place: Option<&'a str>,
    pub patient: Option<&'a str>,
    pub encounter: Option<&'a str>,
    /// Does the EHR's CapabilityStatement offer AuditEvent search?
    pub ehr_audit_search: bool,
}

/// The elements of `rtype` the `groups` cover.
pub fn elements_for(rtype: ResourceType, groups: &[Group]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for g in groups {
        for (t, els) in g.elements() {
            if *t == rtype {
                for e in *els {
                    if !out.contains(e) {
                        out.push(e);
                    }
                }
            }
        }
    }
    out
}

/// Plan the chart-context requests: `groups` are the element groups the policy could allow
/// any user of this launch (the fetch is shared by every later request of the launch and
/// projected per viewer); `granted` are the SMART scopes. Parts the scopes do not cover are
/// returned as unavailable with the reason.
pub fn plan(inputs: &Inputs<'_>, groups: &BTreeSet<Group>, granted: &Granted) -> (Vec<Planned>, Vec<Unavailable>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut add = |part: Part,
                   rtype: ResourceType,
                   interaction: Interaction,
                   get: Get,
                   groups: Vec<Group>,
                   patient: bool,
                   missing: &mut Vec<Unavailable>| {
        let rules: Vec<String> = granted.allowing(rtype, interaction, patient).iter().map(|(s, _)| s.clone()).collect();
        if rules.is_empty() {
            missing.push(Unavailable::new(
                part,
                format!("the EHR did not grant chartdesk access to {} ({})", rtype.as_str(), part.label()),
            ));
            return;
        }
        let restriction = granted.restriction(rtype, interaction, patient);
        let get = match (get, &restriction) {
            // A search under a query-restricted scope carries the restriction.
            (Get::Search { mut params }, Restriction::AnyOf(options)) => {
                params.extend(options[0].iter().cloned());
                Get::Search { params }
            }
            (g, _) => g,
        };
        out.push(Planned { part, rtype, get, groups, scope_rules: rules, restriction, patient_data: patient });
    };
    let has = |g: Group| groups.contains(&g);

    if let (Some(id), true) = (inputs.practitioner, has(Group::SelfProfile)) {
        let g = vec![Group::SelfProfile];
        let els = elements_for(ResourceType::Practitioner, &g);
        add(
            Part::Practitioner,
            ResourceType::Practitioner,
            Interaction::Read,
            Get::Read { id: id.into(), elements: els },
            g.clone(),
            false,
            &mut missing,
        );
        let els = elements_for(ResourceType::PractitionerRole, &g).join(",");
        add(
            Part::Roles,
            ResourceType::PractitionerRole,
            Interaction::Search,
            Get::Search {
                params: vec![
                    ("practitioner".into(), format!("Practitioner/{id}")),
                    ("_elements".into(), els),
                    ("_count".into(), "10".into()),
                ],
            },
            g,
            false,
            &mut missing,
        );
    }
    if let (Some(place), true) = (inputs.place, has(Group::SelfProfile)) {
        let g = vec![Group::SelfProfile];
        let els = elements_for(ResourceType::Location, &g);
        add(
            Part::Department,
            ResourceType::Location,
            Interaction::Read,
            Get::Read { id: place.into(), elements: els },
            g,
            false,
            &mut missing,
        );
    }
    if let (Some(id), true, true) = (inputs.practitioner, has(Group::LoginHistory), inputs.ehr_audit_search) {
        let g = vec![Group::LoginHistory];
        let els = elements_for(ResourceType::AuditEvent, &g).join(",");
        add(
            Part::Logins,
            ResourceType::AuditEvent,
            Interaction::Search,
            Get::Search {
                params: vec![
                    ("agent".into(), format!("Practitioner/{id}")),
                    ("subtype".into(), "http://dicom.nema.org/resources/ontology/DCM|110122".into()),
                    ("_sort".into(), "-date".into()),
                    ("_count".into(), "5".into()),
                    ("_elements".into(), els),
                ],
            },
            g,
            false,
            &mut missing,
        );
    }
    if let Some(id) = inputs.patient {
        let g: Vec<Group> =
            [Group::Demographics, Group::Identifiers, Group::Contact].into_iter().filter(|g| has(*g)).collect();
        if !g.is_empty() {
            let els = elements_for(ResourceType::Patient, &g);
            add(
                Part::Patient,
                ResourceType::Patient,
                Interaction::Read,
                Get::Read { id: id.into(), elements: els },
                g,
                true,
                &mut missing,
            );
        }
    }
    if let (Some(id), true) = (inputs.encounter, has(Group::Encounter)) {
        let g = vec![Group::Encounter];
        let els = elements_for(ResourceType::Encounter, &g);
        add(
            Part::Encounter,
            ResourceType::Encounter,
            Interaction::Read,
            Get::Read { id: id.into(), elements: els },
            g,
            true,
            &mut missing,
        );
    }
    (out, missing)
}

/// Keep only `elements` of `resource` (and its type and id): the local projection that holds
/// even when the EHR ignores `_elements` or sends elements chartdesk does not know.
pub fn project(resource: &Value, elements: &[&str]) -> Value {
    let mut out = Map::new();
    for key in ["resourceType", "id"] {
        if let Some(v) = resource.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    for e in elements {
        if let Some(v) = resource.get(*e) {
            out.insert(e.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The fetched answer of a planned request, kept for the launch: projected to its elements
/// and filtered by its query restriction. `None` when the restriction excludes it.
pub fn keep(planned: &Planned, resource: &Value) -> Option<Value> {
    if let Restriction::AnyOf(options) = &planned.restriction
        && !options.iter().any(|q| matches_query(resource, q))
    {
        return None;
    }
    Some(project(resource, &planned.elements()))
}

/// The chart context of a launch, as fetched and kept (sealed in the session).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChartData {
    pub fetched_at: i64,
    pub practitioner: Option<Value>,
    #[serde(default)]
    pub roles: Vec<Value>,
    pub department: Option<Value>,
    pub patient: Option<Value>,
    pub encounter: Option<Value>,
    #[serde(default)]
    pub logins: Vec<Value>,
    /// The previous launch chartdesk recorded, when the EHR offers no login history.
    pub chartdesk_login: Option<view::LastLogin>,
    /// The element groups fetched (the upper bound of any later view).
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub unavailable: Vec<Unavailable>,
    /// Set when a part failed for a reason that may pass (429, 5xx, timeout): the context is
    /// fetched again on the first request after this time.
    pub retry_at: Option<i64>,
    /// chartdesk roles mapped from the PractitionerRole codes (by the active policy).
    #[serde(default)]
    pub mapped_roles: Vec<String>,
    /// `PractitionerRole` (mapped codes), `default-role` or `none`.
    #[serde(default)]
    pub role_source: String,
}

impl ChartData {
    /// The (system, code) pairs of the user's PractitionerRole codes.
    pub fn role_codings(&self) -> Vec<(Option<String>, String)> {
        self.roles
            .iter()
            .flat_map(|r| r["code"].as_array().cloned().unwrap_or_default())
            .flat_map(|c| c["coding"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| Some((c["system"].as_str().map(String::from), c["code"].as_str()?.to_string())))
            .collect()
    }
}

/// The identifiers of the patient in chart context, for the redactor: every name part and
/// full form, identifier values (MRN and others), birth date, phone numbers and street lines.
/// Redaction always removes these wherever they appear in a message.
pub fn redaction_known(chart: Option<&ChartData>) -> crate::redact::Known {
    let mut k = crate::redact::Known::default();
    let Some(p) = chart.and_then(|c| c.patient.as_ref()) else {
        return k;
    };
    let strs = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    for n in p["name"].as_array().into_iter().flatten() {
        let given = strs(&n["given"]);
        let family = n["family"].as_str().map(str::to_string);
        if let Some(t) = n["text"].as_str() {
            k.names.push(t.to_string());
        }
        if let Some(f) = &family {
            k.names.push(format!("{} {f}", given.join(" ")).trim().to_string());
        }
        k.names.extend(given);
        k.names.extend(family);
    }
    for i in p["identifier"].as_array().into_iter().flatten() {
        if let Some(v) = i["value"].as_str() {
            k.mrns.push(v.to_string());
        }
    }
    if let Some(b) = p["birthDate"].as_str() {
        k.birth_dates.push(b.to_string());
    }
    for t in p["telecom"].as_array().into_iter().flatten() {
        if matches!(t["system"].as_str(), Some("phone") | Some("sms") | Some("fax") | None)
            && let Some(v) = t["value"].as_str()
        {
            k.phones.push(v.to_string());
        }
    }
    for a in p["address"].as_array().into_iter().flatten() {
        k.addresses.extend(strs(&a["line"]));
    }
    k.names.retain(|n| !n.trim().is_empty());
    k.names.dedup();
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn granted(s: &[&str]) -> Granted {
        Granted::new(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn scopes_gate_and_restrict() {
        let g = granted(&[
            "launch",
            "user/Practitioner.rs",
            "patient/Patient.r",
            "patient/Encounter.rs?status=in-progress",
            "user/Patient.cruds",
        ]);
        assert!(g.allows(ResourceType::Practitioner, Interaction::Read, false));
        assert!(g.allows(ResourceType::Patient, Interaction::Read, true));
        assert!(
            !g.allows(ResourceType::Patient, Interaction::Read, false),
            "write scopes are never parsed into grants"
        );
        assert_eq!(g.restriction(ResourceType::Patient, Interaction::Read, true), Restriction::None);
        assert_eq!(
            g.restriction(ResourceType::Encounter, Interaction::Read, true),
            Restriction::AnyOf(vec![vec![("status".into(), "in-progress".into())]])
        );
        let v1 = granted(&["patient/Patient.read", "user/*.read"]);
        assert!(v1.allows(ResourceType::Location, Interaction::Search, false));
        assert!(v1.allows(ResourceType::Patient, Interaction::Search, true));
    }

    #[test]
    fn query_matching_is_token_based_and_fails_closed() {
        let enc = json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": "Patient/p1"}});
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(matches_query(&enc, &q("status", "in-progress")));
        assert!(!matches_query(&enc, &q("status", "finished")));
        assert!(matches_query(&enc, &q("class", "IMP")));
        assert!(matches_query(&enc, &q("class", "http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP")));
        assert!(!matches_query(&enc, &q("class", "http://other|IMP")));
        assert!(matches_query(&enc, &q("subject", "Patient/p1")));
        assert!(matches_query(&enc, &q("_id", "e1")));
        assert!(!matches_query(&enc, &q("service-provider", "x")), "an unknown parameter cannot match");
    }

    #[test]
    fn plans_only_what_policy_and_scopes_allow() {
        let inputs = Inputs {
            practitioner: Some("pr1"),
            place: Some("loc1"),
            patient: Some("p1"),
            encounter: Some("e1"),
            ehr_audit_search: false,
        };
        let groups: BTreeSet<Group> =
            [Group::SelfProfile, Group::LoginHistory, Group::Demographics, Group::Encounter].into();
        let g = granted(&["user/Practitioner.rs", "user/PractitionerRole.rs", "patient/Patient.r"]);
        let (planned, missing) = plan(&inputs, &groups, &g);
        let parts: Vec<Part> = planned.iter().map(|p| p.part).collect();
        assert_eq!(parts, [Part::Practitioner, Part::Roles, Part::Patient]);
        assert_eq!(planned[2].get, Get::Read { id: "p1".into(), elements: vec!["name", "birthDate", "gender"] });
        assert_eq!(planned[2].what(), "Patient/p1");
        let missing: Vec<&str> = missing.iter().map(|m| m.part.as_str()).collect();
        assert_eq!(missing, ["department", "encounter"]);
    }

    #[test]
    fn keep_projects_and_filters() {
        let planned = Planned {
            part: Part::Encounter,
            rtype: ResourceType::Encounter,
            get: Get::Read { id: "e1".into(), elements: vec![] },
            groups: vec![Group::Encounter],
            scope_rules: vec![],
            restriction: Restriction::AnyOf(vec![vec![("status".into(), "in-progress".into())]]),
            patient_data: true,
        };
        let enc = json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress", "reasonCode": [{"text": "x"}], "futureElement": 1});
        assert_eq!(
            keep(&planned, &enc),
            Some(json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress"}))
        );
        assert_eq!(keep(&planned, &json!({"resourceType": "Encounter", "id": "e1", "status": "finished"})), None);
    }
}
