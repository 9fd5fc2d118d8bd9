//! The synthetic FHIR data set (fhir-profiles/sandbox/*.json), embedded in the binary.

use std::collections::BTreeMap;

use serde_json::Value;

/// Resource types the sandbox serves, each from `fhir-profiles/sandbox/<Type>.json`.
pub const FILES: &[(&str, &str)] = &[
    ("Organization", include_str!("../../fhir-profiles/sandbox/Organization.json")),
    ("Location", include_str!("../../fhir-profiles/sandbox/Location.json")),
    ("Practitioner", include_str!("../../fhir-profiles/sandbox/Practitioner.json")),
    ("PractitionerRole", include_str!("../../fhir-profiles/sandbox/PractitionerRole.json")),
    ("Patient", include_str!("../../fhir-profiles/sandbox/Patient.json")),
    ("Encounter", include_str!("../../fhir-profiles/sandbox/Encounter.json")),
    ("AuditEvent", include_str!("../../fhir-profiles/sandbox/AuditEvent.json")),
];

pub struct Dataset {
    by_type: BTreeMap<String, Vec<Value>>,
}

impl Dataset {
    /// Parse the embedded files. They are checked by tests, so a failure here is a build bug.
    pub fn embedded() -> Dataset {
        let mut by_type = BTreeMap::new();
        for (rtype, text) in FILES {
            let bundle: Value = serde_json::from_str(text).expect("embedded sandbox data is valid JSON");
            let resources = bundle["entry"]
                .as_array()
                .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
                .unwrap_or_default();
            by_type.insert((*rtype).to_string(), resources);
        }
        Dataset { by_type }
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    pub fn supports(&self, rtype: &str) -> bool {
        self.by_type.contains_key(rtype)
    }

    pub fn all(&self, rtype: &str) -> &[Value] {
        self.by_type.get(rtype).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn get(&self, rtype: &str, id: &str) -> Option<&Value> {
        self.all(rtype).iter().find(|r| r["id"] == id)
    }

    /// Encounters of a patient, newest first.
    pub fn encounters_of(&self, patient_id: &str) -> Vec<&Value> {
        let reference = format!("Patient/{patient_id}");
        let mut v: Vec<&Value> =
            self.all("Encounter").iter().filter(|e| e["subject"]["reference"] == reference).collect();
        v.sort_by(|a, b| b["period"]["start"].as_str().cmp(&a["period"]["start"].as_str()));
        v
    }

    /// The PractitionerRole of a practitioner (the sandbox has one each).
    pub fn role_of(&self, practitioner_id: &str) -> Option<&Value> {
        let reference = format!("Practitioner/{practitioner_id}");
        self.all("PractitionerRole").iter().find(|r| r["practitioner"]["reference"] == reference)
    }
}

/// A display name for a resource with a `name` (HumanName list or string).
pub fn display_name(resource: &Value) -> String {
    match &resource["name"] {
        Value::String(s) => s.clone(),
        Value::Array(names) => names
            .first()
            .and_then(|n| {
                n["text"].as_str().map(String::from).or_else(|| {
                    let given: Vec<&str> =
                        n["given"].as_array().map(|g| g.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                    let family = n["family"].as_str().unwrap_or("");
                    Some(format!("{} {family}", given.join(" ")).trim().to_string())
                })
            })
            .unwrap_or_default(),
        _ => resource["id"].as_str().unwrap_or_default().to_string(),
    }
}

/// Does `resource` belong to the compartment of `Patient/{patient_id}`?
/// (The subset of the FHIR Patient compartment definition for the types served here.)
pub fn in_patient_compartment(resource: &Value, patient_id: &str) -> bool {
    let reference = format!("Patient/{patient_id}");
    match resource["resourceType"].as_str() {
        Some("Patient") => resource["id"] == patient_id,
        Some("Encounter") => resource["subject"]["reference"] == reference,
        Some("AuditEvent") => {
            let agent =
                resource["agent"].as_array().is_some_and(|a| a.iter().any(|x| x["who"]["reference"] == reference));
            let entity =
                resource["entity"].as_array().is_some_and(|a| a.iter().any(|x| x["what"]["reference"] == reference));
            agent || entity
        }
        _ => false,
    }
}
