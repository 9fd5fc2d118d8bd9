//! The SMART App Launch scope grammar (v1 and v2), as *parsed* from strings.
//!
//! `(patient|user|system)/(Type|*).(read|write|*|[c][r][u][d][s])[?param=value&…]`
//! plus the launch, identity and refresh scopes. v1 `.read` means `.rs`, `.write` means
//! `.cud`, `.*` means `.cruds`; v2 letters must appear in `cruds` order.
//!
//! Parsing recognises write permissions so that a granted write scope can be *detected*;
//! the app's own requests are built elsewhere from a type that cannot express writes.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Patient,
    User,
    System,
}

/// The `cruds` permission letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Perms {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
}

impl Perms {
    pub fn is_write(&self) -> bool {
        self.create || self.update || self.delete
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction {
    Read,
    Search,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: Context,
    /// A FHIR resource type, or `*`.
    pub resource: String,
    pub perms: Perms,
    /// v2 query restriction, as (name, value) pairs.
    pub query: Vec<(String, String)>,
    /// Written in v1 style (`.read`, `.write`, `.*`).
    pub v1: bool,
}

impl ResourceScope {
    pub fn covers(&self, resource_type: &str) -> bool {
        self.resource == "*" || self.resource == resource_type
    }

    pub fn allows(&self, resource_type: &str, interaction: Interaction) -> bool {
        self.covers(resource_type)
            && match interaction {
                Interaction::Read => self.perms.read,
                Interaction::Search => self.perms.search,
            }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Resource(ResourceScope),
    /// `launch` (EHR launch).
    Launch,
    /// `launch/patient`, `launch/encounter`, `launch/location`, …
    LaunchContext(String),
    OpenId,
    FhirUser,
    /// Legacy identity scope.
    Profile,
    OfflineAccess,
    OnlineAccess,
    /// Anything else (vendor scopes such as Epic's); kept verbatim.
    Other(String),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid SMART scope")]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "launch" => Scope::Launch,
            "openid" => Scope::OpenId,
            "fhirUser" => Scope::FhirUser,
            "profile" => Scope::Profile,
            "offline_access" => Scope::OfflineAccess,
            "online_access" => Scope::OnlineAccess,
            _ if s.starts_with("launch/") && s.len() > 7 => Scope::LaunchContext(s[7..].to_string()),
            _ if s.starts_with("patient/") || s.starts_with("user/") || s.starts_with("system/") => {
                Scope::Resource(parse_resource(s).ok_or_else(|| ScopeError(s.to_string()))?)
            }
            _ if !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()) => Scope::Other(s.to_string()),
            _ => return Err(ScopeError(s.to_string())),
        })
    }
}

fn parse_resource(s: &str) -> Option<ResourceScope> {
    let (context, rest) = s.split_once('/')?;
    let context = match context {
        "patient" => Context::Patient,
        "user" => Context::User,
        "system" => Context::System,
        _ => return None,
    };
    let (resource, rest) = rest.split_once('.')?;
    let valid_type = resource == "*"
        || (resource.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && resource.chars().all(|c| c.is_ascii_alphanumeric()));
    if !valid_type {
        return None;
    }
    let (perm, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let (perms, v1) = match perm {
        "read" => (Perms { read: true, search: true, ..Perms::default() }, true),
        "write" => (Perms { create: true, update: true, delete: true, ..Perms::default() }, true),
        "*" => (Perms { create: true, read: true, update: true, delete: true, search: true }, true),
        letters => (parse_letters(letters)?, false),
    };
    let query = match query {
        None => Vec::new(),
        Some(_) if v1 => return None,
        Some(q) => {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            if pairs.is_empty() || pairs.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
                return None;
            }
            pairs
        }
    };
    Some(ResourceScope { context, resource: resource.to_string(), perms, query, v1 })
}

/// v2 letters: a non-empty subsequence of `cruds`, in that order.
fn parse_letters(letters: &str) -> Option<Perms> {
    if letters.is_empty() {
        return None;
    }
    let mut perms = Perms::default();
    let mut order = "cruds".chars().peekable();
    for ch in letters.chars() {
        loop {
            match order.next() {
                Some(o) if o == ch => break,
                Some(_) => continue,
                None => return None,
            }
        }
        match ch {
            'c' => perms.create = true,
            'r' => perms.read = true,
            'u' => perms.update = true,
            'd' => perms.delete = true,
            's' => perms.search = true,
            _ => return None,
        }
    }
    Some(perms)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Launch => f.write_str("launch"),
            Scope::LaunchContext(c) => write!(f, "launch/{c}"),
            Scope::OpenId => f.write_str("openid"),
            Scope::FhirUser => f.write_str("fhirUser"),
            Scope::Profile => f.write_str("profile"),
            Scope::OfflineAccess => f.write_str("offline_access"),
            Scope::OnlineAccess => f.write_str("online_access"),
            Scope::Other(s) => f.write_str(s),
            Scope::Resource(r) => {
                let ctx = match r.context {
                    Context::Patient => "patient",
                    Context::User => "user",
                    Context::System => "system",
                };
                write!(f, "{ctx}/{}.", r.resource)?;
                let p = r.perms;
                if r.v1 {
                    let all = p.create && p.read && p.update && p.delete && p.search;
                    f.write_str(if all {
                        "*"
                    } else if p.read {
                        "read"
                    } else {
                        "write"
                    })?;
                } else {
                    for (on, ch) in [(p.create, 'c'), (p.read, 'r'), (p.update, 'u'), (p.delete, 'd'), (p.search, 's')]
                    {
                        if on {
                            write!(f, "{ch}")?;
                        }
                    }
                }
                if !r.query.is_empty() {
                    let q: String =
                        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(r.query.iter()).finish();
                    write!(f, "?{q}")?;
                }
                Ok(())
            }
        }
    }
}

/// Parse a space-separated scope string, tolerating extra whitespace; invalid entries are
/// returned separately so callers can decide (the sandbox ignores them, as servers do).
pub fn parse_list(s: &str) -> (Vec<Scope>, Vec<ScopeError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for item in s.split_ascii_whitespace() {
        match item.parse() {
            Ok(scope) => ok.push(scope),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(s: &str) -> ResourceScope {
        match s.parse::<Scope>().unwrap() {
            Scope::Resource(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_and_v2_grammar() {
        let r = rs("patient/Patient.read");
        assert!(r.v1 && r.perms.read && r.perms.search && !r.perms.is_write());
        assert!(rs("user/*.write").perms.is_write());
        assert!(rs("user/Observation.*").perms.is_write());
        let r = rs("patient/Encounter.rs");
        assert!(!r.v1 && r.perms.read && r.perms.search && !r.perms.create);
        assert!(rs("user/Patient.cruds").perms.is_write());
        assert!(
            rs("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
                .query
                .iter()
                .any(|(k, v)| k == "category" && v.ends_with("|laboratory"))
        );
        for bad in [
            "patient/Patient.sr",
            "patient/Patient.",
            "patient/patient.r",
            "patient/Patient.rx",
            "patient/Patient.read?x=1",
            "patient/Patient.rs?",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn special_scopes_and_round_trip() {
        for s in [
            "launch",
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
            "online_access",
            "patient/Patient.rs",
            "user/*.read",
            "patient/Observation.rs?category=vital-signs",
            "epic.scanning.dmsusername",
        ] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        let (ok, bad) = parse_list("  launch   openid\tfhirUser patient/Patient.xx ");
        assert_eq!(ok.len(), 3);
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn allows_by_interaction() {
        let r = rs("user/Practitioner.r");
        assert!(r.allows("Practitioner", Interaction::Read));
        assert!(!r.allows("Practitioner", Interaction::Search));
        assert!(!r.allows("Patient", Interaction::Read));
        assert!(rs("user/*.rs").allows("Location", Interaction::Search));
    }
}
