//! Audit records as FHIR R4 AuditEvent resources, following IHE Basic Audit Log Patterns
//! (BALP) where a pattern exists: PatientRead / Query for FHIR reads and searches,
//! IHE.IUA.71 for the token grant, DICOM 110114 with 110122/110123 for login and logout.
//! chartdesk's own events use the `urn:chartdesk:audit-event` code system. Every entity's
//! `what` is a reference or an opaque identifier, never a display name.

use serde_json::{Value, json};

use super::{AuditRecord, EntityRole, EventKind, Outcome, Purpose};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const OWN: &str = "urn:chartdesk:audit-event";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn type_and_subtype(kind: EventKind) -> (Value, Value, &'static str, Option<&'static str>) {
    let rest = coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation");
    let own = |code: &str, display: &str| coding(OWN, code, display);
    let auth = coding(DCM, "110114", "User Authentication");
    match kind {
        EventKind::FhirRead => (
            rest,
            coding("http://hl7.org/fhir/restful-interaction", "read", "read"),
            "R",
            Some("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"),
        ),
        EventKind::FhirSearch => (
            rest,
            coding("http://hl7.org/fhir/restful-interaction", "search-type", "search type"),
            "E",
            Some("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery"),
        ),
        EventKind::TokenGrant => (
            auth,
            coding("urn:ihe:event-type-code", "ITI-71", "Get Access Token"),
            "E",
            Some("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.IUA.71"),
        ),
        EventKind::Login => (auth, coding(DCM, "110122", "Login"), "E", None),
        EventKind::Logout | EventKind::SessionExpired => (auth, coding(DCM, "110123", "Logout"), "E", None),
        EventKind::LaunchFailed => (auth, own("launch-failed", "SMART launch failed"), "E", None),
        EventKind::Refusal => (own("security", "Security decision"), own("refusal", "Request refused"), "E", None),
        EventKind::MessageSubmitted => {
            (own("desk", "Help desk"), own("message-submitted", "Message screened"), "C", None)
        }
        EventKind::HandoffChange => {
            (own("desk", "Help desk"), own("handoff-change", "Clinical handoff state change"), "U", None)
        }
        EventKind::TicketDelivery => (own("desk", "Help desk"), own("ticket-delivery", "Ticket delivered"), "C", None),
        EventKind::DeadLetter => (own("desk", "Help desk"), own("dead-letter", "Delivery dead-lettered"), "E", None),
        EventKind::PolicyChange => {
            (own("configuration", "Configuration"), own("policy-change", "Policy or configuration change"), "U", None)
        }
        EventKind::AuditExport => (coding(DCM, "110106", "Export"), own("audit-export", "Audit log export"), "R", None),
        EventKind::AuditPurge => (own("retention", "Retention"), own("audit-purge", "Retention purge"), "D", None),
        EventKind::KeyRotation => {
            (own("security", "Security decision"), own("key-rotation", "Key rotation"), "U", None)
        }
    }
}

fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "0",
        Outcome::MinorFailure => "4",
        Outcome::SeriousFailure => "8",
        Outcome::MajorFailure => "12",
    }
}

fn entity(role: EntityRole, what: &str) -> Value {
    let object_type =
        |code: &str, display: &str| coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", code, display);
    let object_role =
        |code: &str, display: &str| coding("http://terminology.hl7.org/CodeSystem/object-role", code, display);
    let is_reference = role != EntityRole::Query
        && what.split_once('/').is_some_and(|(t, id)| {
            t.chars().all(|c| c.is_ascii_alphanumeric())
                && t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && !id.is_empty()
        });
    let what_value = if is_reference {
        json!({ "reference": what })
    } else {
        json!({ "identifier": { "system": "urn:chartdesk:id", "value": what } })
    };
    let (ty, ro) = match role {
        EntityRole::Patient => (object_type("1", "Person"), object_role("1", "Patient")),
        EntityRole::Resource => (object_type("2", "System Object"), object_role("4", "Domain Resource")),
        EntityRole::Query => (object_type("2", "System Object"), object_role("24", "Query")),
        EntityRole::Session | EntityRole::Key | EntityRole::AuditLog => {
            (object_type("2", "System Object"), object_role("13", "Security Resource"))
        }
        EntityRole::Message | EntityRole::Handoff | EntityRole::Ticket => {
            (object_type("2", "System Object"), object_role("3", "Report"))
        }
        EntityRole::Policy => (object_type("2", "System Object"), object_role("13", "Security Resource")),
    };
    json!({ "what": what_value, "type": ty, "role": ro })
}

/// The FHIR AuditEvent for record `seq`.
pub fn audit_event(seq: i64, r: &AuditRecord, source_site: &str) -> Value {
    let (ty, subtype, action, profile) = type_and_subtype(r.kind);
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "id": format!("chartdesk-{seq}"),
        "type": ty,
        "subtype": [subtype],
        "action": action,
        "recorded": r.recorded,
        "outcome": outcome_code(r.outcome),
        "source": {
            "site": source_site,
            "observer": { "display": "chartdesk" },
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")]
        },
        "entity": r.entities.iter().map(|e| entity(e.role, &e.what)).collect::<Vec<_>>(),
    });
    if let Some(p) = profile {
        ev["meta"] = json!({ "profile": [p] });
    }
    if let Some(reason) = &r.reason {
        ev["outcomeDesc"] = json!(reason.as_str());
    }
    let mut agent = json!({
        "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", "information recipient")] },
        "requestor": true,
    });
    match &r.agent {
        Some(a) => {
            if let Some(who) = &a.who {
                agent["who"] = json!({ "reference": who });
            } else if let Some(key) = &a.user_key {
                agent["who"] = json!({ "identifier": { "system": "urn:chartdesk:user-key", "value": key } });
            } else {
                agent["who"] = json!({ "display": "unauthenticated" });
            }
            if !a.roles.is_empty() {
                agent["role"] = json!(
                    a.roles
                        .iter()
                        .map(|r| json!({ "coding": [coding("urn:chartdesk:role", r, r)] }))
                        .collect::<Vec<_>>()
                );
            }
            if let Some(t) = &a.tenant {
                agent["location"] = json!({ "identifier": { "system": "urn:chartdesk:tenant", "value": t } });
            }
            if let Some(c) = &a.client_id {
                agent["altId"] = json!(c);
            }
        }
        None => agent["who"] = json!({ "display": "chartdesk (system)" }),
    }
    ev["agent"] = json!([agent]);
    if let Some(p) = r.purpose {
        let (code, display) = match p {
            Purpose::ItSupport => ("it-support", "IT support"),
            Purpose::ClinicalHandoff => ("clinical-handoff", "Clinical handoff"),
            Purpose::Administration => ("administration", "Administration"),
        };
        ev["purposeOfEvent"] = json!([{ "coding": [coding("urn:chartdesk:purpose", code, display)] }]);
    }
    let mut extensions = Vec::new();
    if let Some(d) = &r.decision {
        extensions.push(json!({ "url": "urn:chartdesk:decision", "valueString": format!("{}: {}", if d.allowed { "allow" } else { "deny" }, d.rules.join(",")) }));
    }
    if let Some(id) = &r.request_id {
        extensions.push(json!({ "url": "urn:chartdesk:request-id", "valueString": id }));
    }
    for (k, v) in &r.numbers {
        extensions.push(json!({ "url": format!("urn:chartdesk:number:{k}"), "valueInteger": v }));
    }
    if !extensions.is_empty() {
        ev["extension"] = json!(extensions);
    }
    if ev["entity"].as_array().is_some_and(|e| e.is_empty()) {
        ev.as_object_mut().map(|o| o.remove("entity"));
    }
    ev
}
