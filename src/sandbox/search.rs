//! FHIR search over the synthetic data: the parameters the app needs, with FHIR semantics
//! (comma = OR, repeated parameter = AND, date prefixes over ranges). Unknown parameters are
//! refused with a message naming them, rather than silently ignored.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// What a search parameter looks at.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Id,
    /// Reference at this path; the optional type is implied for bare ids (e.g. `patient`).
    Reference(&'static str, Option<&'static str>),
    Token(&'static str),
    Date(DateField),
}

#[derive(Clone, Copy, Debug)]
enum DateField {
    Period(&'static str),
    Instant(&'static str),
}

fn param(rtype: &str, name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match (rtype, name) {
        (_, "_id") => Id,
        ("Encounter", "patient") => Reference("subject", Some("Patient")),
        ("Encounter", "subject") => Reference("subject", None),
        ("Encounter", "practitioner") => Reference("participant.individual", Some("Practitioner")),
        ("Encounter", "location") => Reference("location.location", Some("Location")),
        ("Encounter", "date") => Date(DateField::Period("period")),
        ("Encounter", "status") => Token("status"),
        ("PractitionerRole", "practitioner") => Reference("practitioner", Some("Practitioner")),
        ("PractitionerRole", "location") => Reference("location", Some("Location")),
        ("AuditEvent", "agent") => Reference("agent.who", None),
        ("AuditEvent", "patient") => Reference("entity.what", Some("Patient")),
        ("AuditEvent", "date") => Date(DateField::Instant("recorded")),
        ("AuditEvent", "type") => Token("type"),
        ("AuditEvent", "subtype") => Token("subtype"),
        ("Location", "partof") => Reference("partOf", Some("Location")),
        _ => return None,
    })
}

/// Parameter names supported for a type (for error messages and the CapabilityStatement).
pub fn supported(rtype: &str) -> Vec<&'static str> {
    ["_id", "patient", "subject", "practitioner", "location", "date", "status", "agent", "type", "subtype", "partof"]
        .into_iter()
        .filter(|n| param(rtype, n).is_some())
        .collect()
}

#[derive(Debug)]
pub struct Filter {
    kind: Kind,
    /// Alternatives (comma-separated values).
    values: Vec<String>,
}

#[derive(Debug)]
pub struct Spec {
    pub filters: Vec<Filter>,
    pub count: usize,
    pub offset: usize,
    pub sort: Vec<(String, bool)>,
    pub elements: Option<Vec<String>>,
    pub summary_count: bool,
}

pub const DEFAULT_COUNT: usize = 50;
pub const MAX_COUNT: usize = 500;

/// Parse a search query string for `rtype`. The error is a diagnostic for an OperationOutcome.
pub fn parse(rtype: &str, query: &str) -> Result<Spec, String> {
    let mut spec = Spec {
        filters: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
        sort: Vec::new(),
        elements: None,
        summary_count: false,
    };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match name.as_ref() {
            "_count" => {
                spec.count = value
                    .parse::<usize>()
                    .map_err(|_| format!("_count must be a number, not `{value}`"))?
                    .min(MAX_COUNT)
            }
            "_offset" => spec.offset = value.parse().map_err(|_| format!("_offset must be a number, not `{value}`"))?,
            "_sort" => {
                for key in value.split(',') {
                    let (desc, key) = key.strip_prefix('-').map(|k| (true, k)).unwrap_or((false, key));
                    if !matches!(key, "date" | "_id") || (key == "date" && !matches!(rtype, "Encounter" | "AuditEvent"))
                    {
                        return Err(format!(
                            "cannot sort {rtype} by `{key}`; supported: _id{}",
                            if matches!(rtype, "Encounter" | "AuditEvent") { ", date" } else { "" }
                        ));
                    }
                    spec.sort.push((key.to_string(), desc));
                }
            }
            "_elements" => {
                spec.elements = Some(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            }
            "_summary" if value == "count" => spec.summary_count = true,
            "_summary" => return Err(format!("_summary={value} is not supported (only _summary=count)")),
            "_format" if matches!(value.as_str(), "json" | "application/json" | "application/fhir+json") => {}
            "_format" => return Err(format!("_format={value} is not supported (JSON only)")),
            other => {
                let kind = param(rtype, other).ok_or_else(|| {
                    format!(
                        "unknown search parameter `{other}` for {rtype}; supported: {}",
                        supported(rtype).join(", ")
                    )
                })?;
                let values: Vec<String> = value.split(',').map(str::to_string).filter(|v| !v.is_empty()).collect();
                if values.is_empty() {
                    return Err(format!("search parameter `{other}` has no value"));
                }
                if let Kind::Date(_) = kind {
                    for v in &values {
                        DateQuery::parse(v).ok_or_else(|| format!("`{v}` is not a valid date for `{other}`"))?;
                    }
                }
                spec.filters.push(Filter { kind, values });
            }
        }
    }
    Ok(spec)
}

/// Does one `name=value` pair (as in a query-restricted scope) match `resource`?
/// Unknown parameters never match.
pub fn matches_pair(resource: &Value, name: &str, value: &str) -> bool {
    let Some(rtype) = resource["resourceType"].as_str() else { return false };
    match param(rtype, name) {
        Some(kind) => Filter { kind, values: value.split(',').map(String::from).collect() }.matches(resource),
        None => false,
    }
}

impl Spec {
    pub fn matches(&self, resource: &Value) -> bool {
        self.filters.iter().all(|f| f.matches(resource))
    }

    pub fn sort(&self, resources: &mut [Value]) {
        for (key, desc) in self.sort.iter().rev() {
            resources.sort_by(|a, b| {
                let (ka, kb) = (sort_key(a, key), sort_key(b, key));
                if *desc { kb.cmp(&ka) } else { ka.cmp(&kb) }
            });
        }
    }
}

fn sort_key(r: &Value, key: &str) -> String {
    match key {
        "date" => r["period"]["start"].as_str().or(r["recorded"].as_str()).unwrap_or_default().to_string(),
        _ => r["id"].as_str().unwrap_or_default().to_string(),
    }
}

impl Filter {
    fn matches(&self, r: &Value) -> bool {
        self.values.iter().any(|v| match self.kind {
            Kind::Id => r["id"] == v.as_str(),
            Kind::Reference(path, implied) => {
                let wanted = normalise_reference(v, implied);
                collect(r, path).iter().filter_map(|n| n["reference"].as_str()).any(|have| {
                    let have = normalise_reference(have, None);
                    match &wanted {
                        Ref::Typed(t) => have == Ref::Typed(t.clone()),
                        Ref::Bare(id) => matches!(&have, Ref::Typed(t) if t.rsplit('/').next() == Some(id)),
                    }
                })
            }
            Kind::Token(path) => {
                let (system, code) = match v.split_once('|') {
                    Some((s, c)) => (Some(s), c),
                    None => (None, v.as_str()),
                };
                codings(r, path).iter().any(|(s, c)| {
                    let system_ok = match system {
                        None => true,
                        Some("") => s.is_none(),
                        Some(sys) => s.as_deref() == Some(sys),
                    };
                    system_ok && (code.is_empty() || c == code)
                })
            }
            Kind::Date(field) => {
                let Some(q) = DateQuery::parse(v) else { return false };
                let Some((start, end)) = resource_range(r, field) else { return false };
                q.matches(start, end)
            }
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ref {
    Typed(String),
    Bare(String),
}

/// `Patient/x`, `https://…/Patient/x` → Typed("Patient/x"); `x` → Typed with the implied
/// type, or Bare when the parameter implies none.
fn normalise_reference(v: &str, implied: Option<&str>) -> Ref {
    let parts: Vec<&str> = v.trim_end_matches('/').rsplit('/').take(2).collect();
    match (parts.as_slice(), implied) {
        ([id, rtype], _) if rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
            Ref::Typed(format!("{rtype}/{id}"))
        }
        ([id, ..], Some(t)) => Ref::Typed(format!("{t}/{id}")),
        ([id, ..], None) => Ref::Bare((*id).to_string()),
        _ => Ref::Bare(v.to_string()),
    }
}

/// Values at a dotted path, flattening arrays at every step (FHIRPath-style).
fn collect<'a>(r: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut nodes = vec![r];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for n in nodes {
            match &n[seg] {
                Value::Array(items) => next.extend(items.iter()),
                Value::Null => {}
                v => next.push(v),
            }
        }
        nodes = next;
    }
    nodes
}

/// (system, code) pairs from a code, Coding or CodeableConcept at `path`.
fn codings(r: &Value, path: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for node in collect(r, path) {
        match node {
            Value::String(s) => out.push((None, s.clone())),
            Value::Object(o) if o.contains_key("coding") => {
                for c in o["coding"].as_array().into_iter().flatten() {
                    out.push((
                        c["system"].as_str().map(String::from),
                        c["code"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            Value::Object(o) => out.push((
                o.get("system").and_then(Value::as_str).map(String::from),
                o.get("code").and_then(Value::as_str).unwrap_or_default().to_string(),
            )),
            _ => {}
        }
    }
    out
}

fn resource_range(r: &Value, field: DateField) -> Option<(i64, i64)> {
    match field {
        DateField::Instant(path) => {
            let (lo, hi) = parse_range(r[path].as_str()?)?;
            Some((lo, hi - 1))
        }
        DateField::Period(path) => {
            let start = r[path]["start"].as_str().and_then(parse_range).map(|(lo, _)| lo).unwrap_or(i64::MIN);
            let end = r[path]["end"].as_str().and_then(parse_range).map(|(_, hi)| hi - 1).unwrap_or(i64::MAX);
            Some((start, end))
        }
    }
}

/// A date search value: prefix + the half-open range [lo, hi) its precision implies.
#[derive(Debug, Clone, Copy)]
struct DateQuery {
    prefix: Prefix,
    lo: i64,
    hi: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
}

impl DateQuery {
    fn parse(v: &str) -> Option<DateQuery> {
        let (prefix, rest) = match v.get(..2) {
            Some("eq") => (Prefix::Eq, &v[2..]),
            Some("ne") => (Prefix::Ne, &v[2..]),
            Some("gt") => (Prefix::Gt, &v[2..]),
            Some("lt") => (Prefix::Lt, &v[2..]),
            Some("ge") => (Prefix::Ge, &v[2..]),
            Some("le") => (Prefix::Le, &v[2..]),
            Some("sa") => (Prefix::Sa, &v[2..]),
            Some("eb") => (Prefix::Eb, &v[2..]),
            _ => (Prefix::Eq, v),
        };
        let (lo, hi) = parse_range(rest)?;
        Some(DateQuery { prefix, lo, hi })
    }

    /// FHIR R4 § 3.1.1.4.2 semantics over the target's range [start, end] (inclusive ms).
    fn matches(&self, start: i64, end: i64) -> bool {
        let contained = start >= self.lo && end < self.hi;
        match self.prefix {
            Prefix::Eq => contained,
            Prefix::Ne => !contained,
            Prefix::Gt => end >= self.hi,
            Prefix::Lt => start < self.lo,
            Prefix::Ge => end >= self.lo,
            Prefix::Le => start < self.hi,
            Prefix::Sa => start >= self.hi,
            Prefix::Eb => end < self.lo,
        }
    }
}

/// Parse a FHIR date/dateTime/instant of any precision into [lo, hi) unix milliseconds.
pub fn parse_range(s: &str) -> Option<(i64, i64)> {
    let ms = |d: DateTime<Utc>| d.timestamp_millis();
    let day = |y, m, d| {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| Utc.from_utc_datetime(&n))
    };
    match s.len() {
        4 => {
            let y: i32 = s.parse().ok()?;
            Some((ms(day(y, 1, 1)?), ms(day(y + 1, 1, 1)?)))
        }
        7 => {
            let y: i32 = s[..4].parse().ok()?;
            let m: u32 = s[5..7].parse().ok()?;
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some((ms(day(y, m, 1)?), ms(day(ny, nm, 1)?)))
        }
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            let lo = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?);
            Some((ms(lo), ms(lo) + 86_400_000))
        }
        _ => {
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                let lo = dt.timestamp_millis();
                let width = if s.contains('.') { 1 } else { 1000 };
                return Some((lo, lo + width));
            }
            // dateTime to the minute, e.g. 2026-11-20T07:00Z or with an offset
            let with_seconds = s.replacen('Z', ":00Z", 1);
            if let Ok(dt) = DateTime::parse_from_rfc3339(&with_seconds) {
                return Some((dt.timestamp_millis(), dt.timestamp_millis() + 60_000));
            }
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
            let lo = Utc.from_utc_datetime(&naive).timestamp_millis();
            Some((lo, lo + 1000))
        }
    }
}

/// Project `resource` onto `_elements` (plus the mandatory elements) and mark it SUBSETTED.
pub fn project(resource: &Value, elements: &[String]) -> Value {
    let Value::Object(map) = resource else { return resource.clone() };
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        if matches!(k.as_str(), "resourceType" | "id" | "meta") || elements.iter().any(|e| e == k) {
            out.insert(k.clone(), v.clone());
        }
    }
    let meta = out.entry("meta").or_insert_with(|| serde_json::json!({}));
    let tags = meta.as_object_mut().map(|m| m.entry("tag").or_insert_with(|| serde_json::json!([])));
    if let Some(Value::Array(tags)) = tags {
        tags.push(serde_json::json!({
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED", "display": "subsetted"
        }));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc() -> Value {
        json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
               "subject": {"reference": "Patient/p1"},
               "participant": [{"individual": {"reference": "Practitioner/d1"}}, {"individual": {"reference": "Practitioner/n1"}}],
               "period": {"start": "2026-11-18T10:00:00Z"}})
    }

    fn m(q: &str, r: &Value) -> bool {
        parse(r["resourceType"].as_str().unwrap(), q).unwrap().matches(r)
    }

    #[test]
    fn references_in_every_form() {
        let e = enc();
        for q in [
            "patient=p1",
            "patient=Patient/p1",
            "patient=https://x.example/fhir/Patient/p1",
            "subject=p1",
            "subject=Patient/p1",
            "practitioner=n1",
            "practitioner=d1,zz",
        ] {
            assert!(m(q, &e), "{q}");
        }
        for q in ["patient=p2", "subject=Group/p1", "practitioner=zz", "patient=p1&practitioner=zz"] {
            assert!(!m(q, &e), "{q}");
        }
    }

    #[test]
    fn dates_follow_fhir_range_semantics() {
        let e = enc(); // open-ended period starting 2026-11-18T10:00Z
        assert!(m("date=ge2026-11-18", &e));
        assert!(m("date=gt2026-11-01", &e));
        assert!(!m("date=lt2026-11-18", &e));
        assert!(m("date=lt2026-11-19", &e));
        assert!(!m("date=eq2026-11-18", &e), "open period is not contained in one day");
        assert!(m("date=sa2026-11-17", &e));
        assert!(!m("date=eb2026-11-17", &e));
        let a = json!({"resourceType": "AuditEvent", "id": "a", "recorded": "2026-11-20T06:30:00Z"});
        assert!(m("date=2026-11-20", &a));
        assert!(m("date=2026-11", &a));
        assert!(m("date=2026", &a));
        assert!(m("date=le2026-11-20T06:30:00Z", &a));
        assert!(!m("date=gt2026-11-20T06:30:00Z", &a));
        assert!(m("date=ge2026-11-20T06:30Z", &a));
    }

    #[test]
    fn tokens_with_and_without_system() {
        let a = json!({"resourceType": "AuditEvent", "id": "a",
                       "subtype": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122"}]});
        assert!(m("subtype=110122", &a));
        assert!(m("subtype=http://dicom.nema.org/resources/ontology/DCM|110122", &a));
        assert!(!m("subtype=http://other|110122", &a));
        assert!(!m("subtype=|110122", &a));
        assert!(m("status=in-progress", &enc()));
    }

    #[test]
    fn unknown_and_malformed_parameters_are_refused_by_name() {
        let e = parse("Encounter", "foo=1").unwrap_err();
        assert!(e.contains("`foo`") && e.contains("patient"), "{e}");
        assert!(parse("Encounter", "date=yesterday").unwrap_err().contains("yesterday"));
        assert!(parse("Patient", "_sort=date").is_err());
        assert!(parse("Encounter", "_count=x").is_err());
        assert!(parse("Patient", "_format=xml").is_err());
        assert_eq!(parse("Patient", "_count=99999").unwrap().count, MAX_COUNT);
    }

    #[test]
    fn projection_keeps_mandatory_elements_and_tags() {
        let p = project(
            &json!({"resourceType": "Patient", "id": "p", "name": [], "birthDate": "1950", "meta": {"tag": []}}),
            &["name".into()],
        );
        assert!(p.get("birthDate").is_none());
        assert!(p.get("name").is_some() && p["id"] == "p");
        assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
    }
}
