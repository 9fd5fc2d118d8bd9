//! The scopes chartdesk asks for, built from types that can only express read access.
//!
//! There is no create, update, delete or `.write` anywhere in these types: a [`ReadScope`]
//! is a subject (patient or user), a resource type from a closed list, and one of three read
//! accesses. Parsing a configured scope string that grants any write is an error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::scope::{Context, Scope};

/// v1 (`patient/Patient.read`) or v2 (`patient/Patient.rs`) scope grammar; a per-tenant setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeStyle {
    V1,
    V2,
}

/// Resource types chartdesk may ever ask to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceType {
    Patient,
    Encounter,
    Practitioner,
    PractitionerRole,
    Location,
    Organization,
    AuditEvent,
}

impl ResourceType {
    pub const ALL: [ResourceType; 7] = [
        ResourceType::Patient,
        ResourceType::Encounter,
        ResourceType::Practitioner,
        ResourceType::PractitionerRole,
        ResourceType::Location,
        ResourceType::Organization,
        ResourceType::AuditEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Patient => "Patient",
            ResourceType::Encounter => "Encounter",
            ResourceType::Practitioner => "Practitioner",
            ResourceType::PractitionerRole => "PractitionerRole",
            ResourceType::Location => "Location",
            ResourceType::Organization => "Organization",
            ResourceType::AuditEvent => "AuditEvent",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Patient,
    User,
}

/// Read (`r`), search (`s`) or both. Nothing else exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadAccess {
    Read,
    Search,
    ReadSearch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadScope {
    pub subject: Subject,
    pub resource: ResourceType,
    pub access: ReadAccess,
}

impl ReadScope {
    pub fn render(&self, style: ScopeStyle) -> String {
        let subject = match self.subject {
            Subject::Patient => "patient",
            Subject::User => "user",
        };
        let access = match (style, self.access) {
            (ScopeStyle::V1, _) => "read",
            (ScopeStyle::V2, ReadAccess::Read) => "r",
            (ScopeStyle::V2, ReadAccess::Search) => "s",
            (ScopeStyle::V2, ReadAccess::ReadSearch) => "rs",
        };
        format!("{subject}/{}.{access}", self.resource.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadScopeError {
    #[error("`{0}` is not a SMART resource scope")]
    NotAScope(String),
    #[error("`{0}` grants write access; chartdesk only ever reads")]
    Write(String),
    #[error("`{0}`: chartdesk never asks for system/ scopes")]
    System(String),
    #[error("`{0}`: chartdesk does not read this resource type")]
    UnknownType(String),
    #[error("`{0}`: query-restricted scopes are not configurable yet")]
    Query(String),
}

impl FromStr for ReadScope {
    type Err = ReadScopeError;

    /// Accepts v1 or v2 forms; also the short `Patient.rs` form, which needs a subject, so
    /// only `patient/…` and `user/…` strings are accepted here.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = match s.parse::<Scope>() {
            Ok(Scope::Resource(r)) => r,
            _ => return Err(ReadScopeError::NotAScope(s.into())),
        };
        if parsed.perms.is_write() {
            return Err(ReadScopeError::Write(s.into()));
        }
        if !parsed.query.is_empty() {
            return Err(ReadScopeError::Query(s.into()));
        }
        let subject = match parsed.context {
            Context::Patient => Subject::Patient,
            Context::User => Subject::User,
            Context::System => return Err(ReadScopeError::System(s.into())),
        };
        let resource = ResourceType::parse(&parsed.resource).ok_or_else(|| ReadScopeError::UnknownType(s.into()))?;
        let access = match (parsed.perms.read, parsed.perms.search) {
            (true, true) => ReadAccess::ReadSearch,
            (true, false) => ReadAccess::Read,
            (false, true) => ReadAccess::Search,
            (false, false) => return Err(ReadScopeError::NotAScope(s.into())),
        };
        Ok(ReadScope { subject, resource, access })
    }
}

/// One scope chartdesk may request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestScope {
    Launch,
    LaunchPatient,
    LaunchEncounter,
    LaunchLocation,
    OpenId,
    FhirUser,
    OnlineAccess,
    OfflineAccess,
    Read(ReadScope),
}

/// An ordered, de-duplicated request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeRequest(Vec<RequestScope>);

impl ScopeRequest {
    pub fn push(&mut self, s: RequestScope) {
        if !self.0.contains(&s) {
            self.0.push(s);
        }
    }

    pub fn contains(&self, s: RequestScope) -> bool {
        self.0.contains(&s)
    }

    pub fn iter(&self) -> impl Iterator<Item = &RequestScope> {
        self.0.iter()
    }

    /// The space-separated `scope` parameter in the tenant's style.
    pub fn render(&self, style: ScopeStyle) -> String {
        self.0.iter().map(|s| Rendered(*s, style).to_string()).collect::<Vec<_>>().join(" ")
    }
}

struct Rendered(RequestScope, ScopeStyle);

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            RequestScope::Launch => f.write_str("launch"),
            RequestScope::LaunchPatient => f.write_str("launch/patient"),
            RequestScope::LaunchEncounter => f.write_str("launch/encounter"),
            RequestScope::LaunchLocation => f.write_str("launch/location"),
            RequestScope::OpenId => f.write_str("openid"),
            RequestScope::FhirUser => f.write_str("fhirUser"),
            RequestScope::OnlineAccess => f.write_str("online_access"),
            RequestScope::OfflineAccess => f.write_str("offline_access"),
            RequestScope::Read(r) => f.write_str(&r.render(self.1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_style() {
        let r: ReadScope = "patient/Encounter.rs".parse().unwrap();
        assert_eq!(r.render(ScopeStyle::V2), "patient/Encounter.rs");
        assert_eq!(r.render(ScopeStyle::V1), "patient/Encounter.read");
        let r: ReadScope = "user/Practitioner.read".parse().unwrap();
        assert_eq!(r.access, ReadAccess::ReadSearch);
        assert_eq!("user/Location.r".parse::<ReadScope>().unwrap().render(ScopeStyle::V2), "user/Location.r");
    }

    #[test]
    fn writes_and_other_shapes_cannot_be_configured() {
        for (s, want) in [
            ("patient/Patient.write", ReadScopeError::Write("patient/Patient.write".into())),
            ("patient/Patient.cruds", ReadScopeError::Write("patient/Patient.cruds".into())),
            ("user/Patient.*", ReadScopeError::Write("user/Patient.*".into())),
            ("user/Encounter.rds", ReadScopeError::Write("user/Encounter.rds".into())),
            ("system/Patient.rs", ReadScopeError::System("system/Patient.rs".into())),
            ("patient/Observation.rs", ReadScopeError::UnknownType("patient/Observation.rs".into())),
            ("launch", ReadScopeError::NotAScope("launch".into())),
        ] {
            assert_eq!(s.parse::<ReadScope>(), Err(want), "{s}");
        }
    }

    #[test]
    fn requests_render_in_order_without_duplicates() {
        let mut q = ScopeRequest::default();
        for s in [RequestScope::Launch, RequestScope::OpenId, RequestScope::FhirUser, RequestScope::Launch] {
            q.push(s);
        }
        q.push(RequestScope::Read("user/Practitioner.rs".parse().unwrap()));
        assert_eq!(q.render(ScopeStyle::V1), "launch openid fhirUser user/Practitioner.read");
    }
}
