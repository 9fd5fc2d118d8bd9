//! Attribute-based access control with Cedar.
//!
//! Clinical informatics edit a [`PolicyDocument`] (role mapping, element groups per role and
//! purpose, page access, tenant scope overrides); it compiles into Cedar policies with stable
//! ids, validated against the Cedar schema in strict mode, next to fixed base policies.
//!
//! Invariants:
//! - this file is pure: no I/O (drafts and versions are stored by [`admin`] through the
//!   store, and every activation is audited there);
//! - default deny; a Cedar evaluation error denies; a [`Decision`] carries the ids of the
//!   rules that decided and any errors, for the audit record;
//! - the effective permission of a read is this decision ∩ the SMART scopes the EHR granted
//!   (computed by the caller from the session's scopes);
//! - a document can never grant a write: scopes are parsed by the read-only scope type, and
//!   the only actions in the schema are `read`, `search` and `view`.

pub mod admin;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityUid, Policy, PolicyId, PolicySet, Request, RestrictedExpression,
    Schema, ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};

use crate::smart::request::{ReadScope, ResourceType, ScopeStyle};

/// chartdesk's roles.
pub const ROLES: &[&str] = &[
    "clinician",
    "physician",
    "nurse",
    "nursing-supervisor",
    "pharmacist",
    "clinical-informatics",
    "it-analyst",
    "compliance",
];
/// Why data is being looked at.
pub const PURPOSES: &[&str] = &["it-support", "clinical-handoff"];

/// Element groups: the unit of access to FHIR data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// The user's own Practitioner, PractitionerRole and department.
    SelfProfile,
    /// The user's recent logins.
    LoginHistory,
    /// Patient name, birth date, gender.
    Demographics,
    /// Patient identifiers (MRN).
    Identifiers,
    /// Patient telecom and address.
    Contact,
    /// The encounter in context: status, class, period, location.
    Encounter,
    /// Clinical data (observations, medications, …): chartdesk never reads it; the group
    /// exists so a policy can name it and be refused.
    Clinical,
}

impl Group {
    pub const ALL: [Group; 7] = [
        Group::SelfProfile,
        Group::LoginHistory,
        Group::Demographics,
        Group::Identifiers,
        Group::Contact,
        Group::Encounter,
        Group::Clinical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::SelfProfile => "self-profile",
            Group::LoginHistory => "login-history",
            Group::Demographics => "demographics",
            Group::Identifiers => "identifiers",
            Group::Contact => "contact",
            Group::Encounter => "encounter",
            Group::Clinical => "clinical",
        }
    }

    /// The FHIR resource type and elements a group covers.
    pub fn elements(self) -> &'static [(ResourceType, &'static [&'static str])] {
        match self {
            Group::SelfProfile => &[
                (ResourceType::Practitioner, &["name"]),
                (ResourceType::PractitionerRole, &["code", "location"]),
                (ResourceType::Location, &["name"]),
            ],
            Group::LoginHistory => &[(ResourceType::AuditEvent, &["recorded", "agent"])],
            Group::Demographics => &[(ResourceType::Patient, &["name", "birthDate", "gender"])],
            Group::Identifiers => &[(ResourceType::Patient, &["identifier"])],
            Group::Contact => &[(ResourceType::Patient, &["telecom", "address"])],
            Group::Encounter => &[(ResourceType::Encounter, &["status", "class", "period", "location"])],
            Group::Clinical => &[],
        }
    }

    /// Does this group concern the patient in context?
    pub fn is_patient_data(self) -> bool {
        matches!(self, Group::Demographics | Group::Identifiers | Group::Contact | Group::Encounter | Group::Clinical)
    }
}

/// Pages and APIs behind a role check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Page {
    /// The clinician's screen and `/api/context`: every signed-in user.
    Context,
    /// `/api/audit`.
    Audit,
    /// `/admin/policy` and its API.
    AdminPolicy,
    /// The handoff inboxes (`/supervisor`) and their API.
    Inbox,
}

impl Page {
    pub fn as_str(self) -> &'static str {
        match self {
            Page::Context => "context",
            Page::Audit => "audit",
            Page::AdminPolicy => "admin-policy",
            Page::Inbox => "inbox",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// Code system of the EHR's role code; unset matches any system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub code: String,
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub role: String,
    pub purpose: String,
    pub groups: Vec<Group>,
    /// Only for users in these departments (by name, as the EHR names them); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageGrant {
    pub page: Page,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantOverride {
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_style: Option<ScopeStyle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_method: Option<crate::config::AuthorizeMethod>,
}

/// Detection sensitivity, tunable by clinical informatics within fixed floors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionSettings {
    /// Score at or above which a message is clinical; unset: the shipped default. It can be
    /// lowered (more sensitive) but never raised above the floor; urgent detection ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// Extra words or phrases that make a message clinical.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_terms: Vec<String>,
    /// Extra EHR-usage phrasings that keep a message in IT (clinical judgement still escalates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_it_framings: Vec<String>,
}

impl DetectionSettings {
    pub fn tuning(&self) -> crate::detect::Tuning {
        let mut t = crate::detect::Tuning::default();
        if let Some(th) = self.threshold {
            t.threshold = th;
        }
        t.extra_terms = self.extra_terms.clone();
        t.extra_it_framings = self.extra_it_framings.clone();
        t
    }
}

/// What clinical informatics configure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub role_mapping: Vec<RoleMapping>,
    /// The role of a signed-in user none of whose EHR role codes is mapped (or whose EHR
    /// exposes none); unset: such users get no role, so only the base grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    pub access: Vec<Grant>,
    pub pages: Vec<PageGrant>,
    #[serde(default)]
    pub tenants: Vec<TenantOverride>,
    #[serde(default)]
    pub detection: DetectionSettings,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown role `{0}` (known: {known})", known = ROLES.join(", "))]
    UnknownRole(String),
    #[error("unknown purpose `{0}` (known: {known})", known = PURPOSES.join(", "))]
    UnknownPurpose(String),
    #[error("tenant override `{0}`: {1}")]
    Scope(String, String),
    #[error("unknown tenant `{0}` in a tenant override")]
    UnknownTenant(String),
    #[error("the admin-policy page must stay open to clinical-informatics")]
    AdminLockout,
    #[error("the clinical group can never be granted: chartdesk does not read clinical data")]
    ClinicalGranted,
    #[error("department `{0}` is not a valid name (1-64 characters, no quotes or backslashes)")]
    BadDepartment(String),
    #[error("detection: {0}")]
    Detection(String),
    #[error("the policy does not validate against the schema: {0}")]
    Invalid(String),
}

/// The default policy: minimum necessary for the desk's two purposes.
pub fn default_document() -> PolicyDocument {
    use Group::*;
    let m = |code: &str, role: &str| RoleMapping { system: None, code: code.into(), role: role.into() };
    let g = |role: &str, purpose: &str, groups: &[Group]| Grant {
        role: role.into(),
        purpose: purpose.into(),
        groups: groups.to_vec(),
        departments: Vec::new(),
    };
    PolicyDocument {
        role_mapping: vec![
            m("PHYSICIAN", "physician"),
            m("RESIDENT", "physician"),
            m("doctor", "physician"),
            m("RN", "nurse"),
            m("nurse", "nurse"),
            m("NURSING_SUPERVISOR", "nursing-supervisor"),
            m("PHARMACIST", "pharmacist"),
            m("pharmacist", "pharmacist"),
            m("CLIN_INFORMATICS", "clinical-informatics"),
            m("COMPLIANCE", "compliance"),
            m("IT_ANALYST", "it-analyst"),
            m("ict", "it-analyst"),
        ],
        // An EHR user whose role chartdesk cannot tell: what any clinician sees for IT support
        // (the patient banner the EHR asks for, and where the encounter is), nothing more.
        default_role: Some("clinician".into()),
        access: vec![
            g("clinician", "it-support", &[Demographics, Encounter]),
            // IT support: enough to show the clinician their own banner; nothing for IT staff.
            g("physician", "it-support", &[Demographics, Encounter]),
            g("nurse", "it-support", &[Demographics, Encounter]),
            g("nursing-supervisor", "it-support", &[Demographics, Encounter]),
            g("pharmacist", "it-support", &[Demographics]),
            g("clinical-informatics", "it-support", &[Demographics]),
            // Clinical handoff: the people who receive clinical questions.
            g("physician", "clinical-handoff", &[Demographics, Identifiers, Encounter]),
            g("nursing-supervisor", "clinical-handoff", &[Demographics, Identifiers, Encounter]),
            g("pharmacist", "clinical-handoff", &[Demographics, Identifiers, Encounter]),
        ],
        pages: vec![
            PageGrant { page: Page::Audit, roles: vec!["clinical-informatics".into(), "compliance".into()] },
            PageGrant { page: Page::AdminPolicy, roles: vec!["clinical-informatics".into()] },
            PageGrant {
                page: Page::Inbox,
                roles: vec![
                    "nursing-supervisor".into(),
                    "physician".into(),
                    "pharmacist".into(),
                    "clinical-informatics".into(),
                ],
            },
        ],
        tenants: Vec::new(),
        detection: DetectionSettings::default(),
    }
}

const SCHEMA: &str = r#"
namespace Chartdesk {
  entity Role;
  entity User in [Role] = { department: String, tenant: String };
  entity Group;
  entity Page;
  type Env = { purpose: String, launchType: String, patientInContext: Bool, hour: Long };
  action read, search appliesTo { principal: [User], resource: [Group], context: Env };
  action view appliesTo { principal: [User], resource: [Page], context: Env };
}
"#;

/// Fixed policies every document sits on.
const BASE: &[(&str, &str)] = &[
    (
        "base:self-profile",
        r#"permit(principal, action in [Chartdesk::Action::"read", Chartdesk::Action::"search"], resource == Chartdesk::Group::"self-profile");"#,
    ),
    (
        "base:login-history",
        r#"permit(principal, action in [Chartdesk::Action::"read", Chartdesk::Action::"search"], resource == Chartdesk::Group::"login-history");"#,
    ),
    (
        "base:context-page",
        r#"permit(principal, action == Chartdesk::Action::"view", resource == Chartdesk::Page::"context");"#,
    ),
    (
        "base:no-patient-without-context",
        r#"forbid(principal, action in [Chartdesk::Action::"read", Chartdesk::Action::"search"], resource) when { resource in [Chartdesk::Group::"demographics", Chartdesk::Group::"identifiers", Chartdesk::Group::"contact", Chartdesk::Group::"encounter"] && !context.patientInContext };"#,
    ),
    (
        "base:never-clinical",
        r#"forbid(principal, action in [Chartdesk::Action::"read", Chartdesk::Action::"search"], resource == Chartdesk::Group::"clinical");"#,
    ),
];

fn known_role(r: &str) -> Result<(), PolicyError> {
    if ROLES.contains(&r) { Ok(()) } else { Err(PolicyError::UnknownRole(r.to_string())) }
}

impl PolicyDocument {
    /// Validate everything that is not Cedar syntax; `tenants` are the configured tenant ids.
    pub fn check(&self, tenants: &[String]) -> Result<(), PolicyError> {
        for m in &self.role_mapping {
            known_role(&m.role)?;
        }
        if let Some(r) = &self.default_role {
            known_role(r)?;
        }
        for g in &self.access {
            known_role(&g.role)?;
            if !PURPOSES.contains(&g.purpose.as_str()) {
                return Err(PolicyError::UnknownPurpose(g.purpose.clone()));
            }
            if g.groups.contains(&Group::Clinical) {
                return Err(PolicyError::ClinicalGranted);
            }
            for d in &g.departments {
                let ok = !d.trim().is_empty()
                    && d.len() <= 64
                    && d.chars().all(|c| !c.is_control() && c != '"' && c != '\\');
                if !ok {
                    return Err(PolicyError::BadDepartment(d.clone()));
                }
            }
        }
        for p in &self.pages {
            for r in &p.roles {
                known_role(r)?;
            }
        }
        let admin_ok = self
            .pages
            .iter()
            .any(|p| p.page == Page::AdminPolicy && p.roles.iter().any(|r| r == "clinical-informatics"));
        if !admin_ok {
            return Err(PolicyError::AdminLockout);
        }
        let d = &self.detection;
        if let Some(th) = d.threshold {
            let floor = crate::detect::Tuning::floor();
            if !th.is_finite() || th <= 0.0 || th > floor {
                return Err(PolicyError::Detection(format!(
                    "threshold {th} is outside (0, {floor}]: sensitivity can be raised, never lowered below the floor"
                )));
            }
        }
        for term in d.extra_terms.iter().chain(d.extra_it_framings.iter()) {
            let ok = term.trim().chars().count() >= 2 && term.len() <= 80 && !term.chars().any(char::is_control);
            if !ok {
                return Err(PolicyError::Detection(format!("`{term}` is not a usable term (2-80 characters)")));
            }
        }
        if d.extra_terms.len() + d.extra_it_framings.len() > 500 {
            return Err(PolicyError::Detection("at most 500 extra terms and framings".into()));
        }
        crate::detect::Detector::new(&d.tuning()).map_err(|e| PolicyError::Detection(e.to_string()))?;
        for t in &self.tenants {
            if !tenants.contains(&t.tenant) {
                return Err(PolicyError::UnknownTenant(t.tenant.clone()));
            }
            for s in t.user_scopes.iter().chain(t.patient_scopes.iter()).flatten() {
                s.parse::<ReadScope>().map_err(|e| PolicyError::Scope(t.tenant.clone(), e.to_string()))?;
            }
        }
        Ok(())
    }

    fn policies(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = BASE.iter().map(|(id, src)| (id.to_string(), src.to_string())).collect();
        for g in &self.access {
            if g.groups.is_empty() {
                continue;
            }
            let groups: Vec<String> =
                g.groups.iter().map(|x| format!(r#"Chartdesk::Group::"{}""#, x.as_str())).collect();
            let (id, departments) = if g.departments.is_empty() {
                (format!("access:{}:{}", g.role, g.purpose), String::new())
            } else {
                let names: Vec<String> = g.departments.iter().map(|d| format!("\"{d}\"")).collect();
                (
                    format!("access:{}:{}:{}", g.role, g.purpose, g.departments.join("|")),
                    format!(" && [{}].contains(principal.department)", names.join(", ")),
                )
            };
            out.push((
                id,
                format!(
                    r#"permit(principal in Chartdesk::Role::"{}", action in [Chartdesk::Action::"read", Chartdesk::Action::"search"], resource) when {{ resource in [{}] && context.purpose == "{}"{departments} }};"#,
                    g.role,
                    groups.join(", "),
                    g.purpose
                ),
            ));
        }
        for p in &self.pages {
            for r in &p.roles {
                out.push((
                    format!("page:{}:{r}", p.page.as_str()),
                    format!(r#"permit(principal in Chartdesk::Role::"{r}", action == Chartdesk::Action::"view", resource == Chartdesk::Page::"{}");"#, p.page.as_str()),
                ));
            }
        }
        out
    }

    /// The (role, purpose, group) triples and page grants this document allows: the basis of
    /// "does this change widen access".
    pub fn grants(&self) -> BTreeSet<String> {
        let mut s = BTreeSet::new();
        for g in &self.access {
            for group in &g.groups {
                let r#where = if g.departments.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", g.departments.join(" or "))
                };
                s.insert(format!("{}{where} may read {} for {}", g.role, group.as_str(), g.purpose));
            }
        }
        for p in &self.pages {
            for r in &p.roles {
                s.insert(format!("{r} may open {}", p.page.as_str()));
            }
        }
        for m in &self.role_mapping {
            s.insert(format!(
                "EHR role {}{} maps to {}",
                m.system.as_deref().map(|x| format!("{x}|")).unwrap_or_default(),
                m.code,
                m.role
            ));
        }
        if let Some(r) = &self.default_role {
            s.insert(format!("users without a mapped role are {r}"));
        }
        if let Some(th) = self.detection.threshold {
            s.insert(format!("detection threshold is {th}"));
        }
        for t in &self.detection.extra_terms {
            s.insert(format!("the term \"{t}\" makes a message clinical"));
        }
        for t in &self.detection.extra_it_framings {
            s.insert(format!("the phrasing \"{t}\" keeps a message in IT"));
        }
        for t in &self.tenants {
            for sc in t.user_scopes.iter().chain(t.patient_scopes.iter()).flatten() {
                s.insert(format!("tenant {} requests {sc}", t.tenant));
            }
        }
        s
    }

    /// Map EHR role codings to chartdesk roles; the default role when none maps.
    pub fn roles_for(&self, codings: &[(Option<&str>, &str)]) -> Vec<String> {
        let mapped = self.mapped_roles(codings);
        match (&self.default_role, mapped.is_empty()) {
            (Some(d), true) => vec![d.clone()],
            _ => mapped,
        }
    }

    /// Map EHR role codings to chartdesk roles through the role mapping only.
    pub fn mapped_roles(&self, codings: &[(Option<&str>, &str)]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (system, code) in codings {
            for m in &self.role_mapping {
                let system_ok = m.system.as_deref().is_none_or(|s| Some(s) == *system);
                if system_ok && m.code == *code && !out.contains(&m.role) {
                    out.push(m.role.clone());
                }
            }
        }
        // A specific role beats the generic one the same person also carries (an informatics
        // nurse is "nurse" in HL7 terms but clinical-informatics here).
        for specific in ["nursing-supervisor", "clinical-informatics", "compliance"] {
            if out.iter().any(|r| r == specific) {
                out.retain(|r| r == specific || !matches!(r.as_str(), "nurse" | "it-analyst" | "pharmacist"));
            }
        }
        out
    }
}

/// The difference between two documents, as grant lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn between(from: &PolicyDocument, to: &PolicyDocument) -> Diff {
        let (a, b) = (from.grants(), to.grants());
        Diff { added: b.difference(&a).cloned().collect(), removed: a.difference(&b).cloned().collect() }
    }

    /// Does the change grant anything new?
    pub fn widens(&self) -> bool {
        !self.added.is_empty()
    }
}

/// A compiled, validated policy version.
pub struct Compiled {
    pub version: i64,
    pub document: PolicyDocument,
    policies: PolicySet,
    /// Groups some role may read for some purpose with a patient in context, with the rules
    /// that allow them: what a launch's one chart-context fetch may ask for.
    fetchable: BTreeMap<Group, BTreeSet<String>>,
    /// Decisions already made for this version (see [`MemoKey`]).
    memo: std::sync::Mutex<HashMap<MemoKey, Decision>>,
}

/// Who is asking.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub user_key: String,
    pub roles: Vec<String>,
    pub department: String,
    pub tenant: String,
}

/// The environment of a request.
#[derive(Clone, Debug)]
pub struct Env {
    pub purpose: String,
    pub launch_type: String,
    pub patient_in_context: bool,
    pub hour: i64,
}

/// A decision: never a Result. Errors deny and are reported with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub rules: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Read,
    Search,
}

pub fn compile(version: i64, document: PolicyDocument) -> Result<Compiled, PolicyError> {
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Invalid(e.to_string()))?;
    let mut policies = PolicySet::new();
    for (id, src) in document.policies() {
        let p =
            Policy::parse(Some(PolicyId::new(&id)), &src).map_err(|e| PolicyError::Invalid(format!("{id}: {e}")))?;
        policies.add(p).map_err(|e| PolicyError::Invalid(format!("{id}: {e}")))?;
    }
    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
        return Err(PolicyError::Invalid(errors.join("; ")));
    }
    let mut compiled = Compiled { version, document, policies, fetchable: BTreeMap::new(), memo: Default::default() };
    let mut fetchable: BTreeMap<Group, BTreeSet<String>> = BTreeMap::new();
    let mut departments: BTreeSet<String> =
        compiled.document.access.iter().flat_map(|g| g.departments.iter().cloned()).collect();
    departments.insert(String::new());
    for (role, department) in ROLES.iter().flat_map(|r| departments.iter().map(move |d| (r, d))) {
        let s = Subject {
            user_key: "any".into(),
            roles: vec![role.to_string()],
            department: department.clone(),
            tenant: String::new(),
        };
        for purpose in PURPOSES {
            let env =
                Env { purpose: purpose.to_string(), launch_type: "ehr".into(), patient_in_context: true, hour: 12 };
            for (g, d) in compiled.allowed_groups(&s, &env) {
                fetchable.entry(g).or_default().extend(d.rules);
            }
        }
    }
    compiled.fetchable = fetchable;
    Ok(compiled)
}

fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_str(&format!("Chartdesk::{kind}::{}", serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into())))
        .expect("entity uids built from quoted strings parse")
}

/// What a decision depends on. The policies a document can express reference only role
/// membership, the department, the purpose, whether a patient is in context and the launch
/// type (never the user key, tenant or hour), so decisions are memoised by these.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MemoKey {
    roles: Vec<String>,
    department: String,
    purpose: String,
    patient_in_context: bool,
    launch_type: String,
    target: String,
}

const MEMO_LIMIT: usize = 4096;

/// A subject and environment made ready for Cedar once, for several decisions.
struct Prepared {
    principal: EntityUid,
    entities: Entities,
    context: Context,
}

impl Compiled {
    fn prepare(&self, s: &Subject, env: &Env) -> Result<Prepared, String> {
        let principal = uid("User", &s.user_key);
        let parents: HashSet<EntityUid> = s.roles.iter().map(|r| uid("Role", r)).collect();
        let attrs = HashMap::from([
            ("department".to_string(), RestrictedExpression::new_string(s.department.clone())),
            ("tenant".to_string(), RestrictedExpression::new_string(s.tenant.clone())),
        ]);
        let user = Entity::new(principal.clone(), attrs, parents).map_err(|e| e.to_string())?;
        let roles = ROLES.iter().map(|r| Entity::new_no_attrs(uid("Role", r), HashSet::new()));
        let entities = Entities::from_entities(std::iter::once(user).chain(roles), None).map_err(|e| e.to_string())?;
        let context = Context::from_pairs([
            ("purpose".to_string(), RestrictedExpression::new_string(env.purpose.clone())),
            ("launchType".to_string(), RestrictedExpression::new_string(env.launch_type.clone())),
            ("patientInContext".to_string(), RestrictedExpression::new_bool(env.patient_in_context)),
            ("hour".to_string(), RestrictedExpression::new_long(env.hour)),
        ])
        .map_err(|e| e.to_string())?;
        Ok(Prepared { principal, entities, context })
    }

    /// One Cedar evaluation (policies were schema-validated when compiled).
    fn evaluate(&self, p: &Prepared, action: &str, resource: EntityUid) -> Decision {
        let request = match Request::new(p.principal.clone(), uid("Action", action), resource, p.context.clone(), None)
        {
            Ok(r) => r,
            Err(e) => return Decision { allowed: false, rules: Vec::new(), errors: vec![e.to_string()] },
        };
        let response = Authorizer::new().is_authorized(&request, &self.policies, &p.entities);
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        let rules: Vec<String> = response.diagnostics().reason().map(|id| id.to_string()).collect();
        let allowed = response.decision() == cedar_policy::Decision::Allow && errors.is_empty();
        Decision { allowed, rules, errors }
    }

    fn memo_key(s: &Subject, env: &Env, target: String) -> MemoKey {
        let mut roles = s.roles.clone();
        roles.sort();
        MemoKey {
            roles,
            department: s.department.clone(),
            purpose: env.purpose.clone(),
            patient_in_context: env.patient_in_context,
            launch_type: env.launch_type.clone(),
            target,
        }
    }

    /// Decide `targets` ((action, resource kind, resource id)) for `s` in `env`, memoised.
    fn decide_many(&self, s: &Subject, env: &Env, targets: &[(&str, &str, &str)]) -> Vec<Decision> {
        let keys: Vec<MemoKey> =
            targets.iter().map(|(a, k, id)| Self::memo_key(s, env, format!("{a}:{k}:{id}"))).collect();
        {
            let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
            let hits: Vec<Decision> = keys.iter().filter_map(|k| memo.get(k).cloned()).collect();
            if hits.len() == keys.len() {
                return hits;
            }
        }
        let decisions = self.decide_fresh(s, env, targets);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() + keys.len() > MEMO_LIMIT {
            memo.clear();
        }
        for (k, d) in keys.into_iter().zip(decisions.iter()) {
            memo.insert(k, d.clone());
        }
        decisions
    }

    fn decide_fresh(&self, s: &Subject, env: &Env, targets: &[(&str, &str, &str)]) -> Vec<Decision> {
        match self.prepare(s, env) {
            Ok(p) => targets.iter().map(|(a, k, id)| self.evaluate(&p, a, uid(k, id))).collect(),
            Err(e) => targets
                .iter()
                .map(|_| Decision { allowed: false, rules: Vec::new(), errors: vec![e.clone()] })
                .collect(),
        }
    }

    pub fn decide_group(&self, s: &Subject, action: Action, group: Group, env: &Env) -> Decision {
        let a = match action {
            Action::Read => "read",
            Action::Search => "search",
        };
        self.decide_many(s, env, &[(a, "Group", group.as_str())]).remove(0)
    }

    pub fn decide_page(&self, s: &Subject, page: Page, env: &Env) -> Decision {
        self.decide_many(s, env, &[("view", "Page", page.as_str())]).remove(0)
    }

    /// The groups any user may be allowed (the upper bound of a launch's fetch), with the rules.
    pub fn fetchable(&self) -> &BTreeMap<Group, BTreeSet<String>> {
        &self.fetchable
    }

    /// The groups `s` may read for `env`, with the deciding rules of each.
    pub fn allowed_groups(&self, s: &Subject, env: &Env) -> BTreeMap<Group, Decision> {
        let targets: Vec<(&str, &str, &str)> = Group::ALL.iter().map(|g| ("read", "Group", g.as_str())).collect();
        Group::ALL.into_iter().zip(self.decide_many(s, env, &targets)).filter(|(_, d)| d.allowed).collect()
    }

    /// [`Self::allowed_groups`] evaluated afresh, bypassing the memo (benchmarks and tests).
    pub fn allowed_groups_fresh(&self, s: &Subject, env: &Env) -> BTreeMap<Group, Decision> {
        let targets: Vec<(&str, &str, &str)> = Group::ALL.iter().map(|g| ("read", "Group", g.as_str())).collect();
        Group::ALL.into_iter().zip(self.decide_fresh(s, env, &targets)).filter(|(_, d)| d.allowed).collect()
    }

    /// [`Self::decide_page`] evaluated afresh, bypassing the memo.
    pub fn decide_page_fresh(&self, s: &Subject, page: Page, env: &Env) -> Decision {
        self.decide_fresh(s, env, &[("view", "Page", page.as_str())]).remove(0)
    }
}

/// The active policy, swapped atomically on activation.
pub struct PolicyEngine {
    active: RwLock<Arc<Compiled>>,
}

impl PolicyEngine {
    pub fn new(compiled: Compiled) -> PolicyEngine {
        PolicyEngine { active: RwLock::new(Arc::new(compiled)) }
    }

    pub fn active(&self) -> Arc<Compiled> {
        self.active.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn activate(&self, compiled: Compiled) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(compiled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(roles: &[&str]) -> Subject {
        Subject {
            user_key: "u1".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            department: "4 West".into(),
            tenant: "t".into(),
        }
    }

    fn env(purpose: &str, patient: bool) -> Env {
        Env { purpose: purpose.into(), launch_type: "ehr".into(), patient_in_context: patient, hour: 10 }
    }

    #[test]
    fn default_policy_compiles_validates_and_decides() {
        let c = compile(0, default_document()).unwrap();
        let nurse = subject(&["nurse"]);
        let d = c.decide_group(&nurse, Action::Read, Group::Demographics, &env("it-support", true));
        assert!(d.allowed && d.rules == ["access:nurse:it-support"], "{d:?}");
        assert!(!c.decide_group(&nurse, Action::Read, Group::Identifiers, &env("it-support", true)).allowed);
        assert!(
            !c.decide_group(&nurse, Action::Read, Group::Demographics, &env("it-support", false)).allowed,
            "no patient without context"
        );
        let it = subject(&["it-analyst"]);
        assert!(c.allowed_groups(&it, &env("it-support", true)).keys().all(|g| !g.is_patient_data()));
        assert!(c.decide_group(&it, Action::Read, Group::SelfProfile, &env("it-support", true)).allowed);
        let sup = subject(&["nursing-supervisor"]);
        assert!(c.decide_group(&sup, Action::Read, Group::Identifiers, &env("clinical-handoff", true)).allowed);
        assert!(!c.decide_group(&sup, Action::Read, Group::Clinical, &env("clinical-handoff", true)).allowed);
        assert!(
            c.decide_page(&subject(&["clinical-informatics"]), Page::AdminPolicy, &env("it-support", false)).allowed
        );
        assert!(!c.decide_page(&nurse, Page::AdminPolicy, &env("it-support", false)).allowed);
        assert!(c.decide_page(&nurse, Page::Context, &env("it-support", false)).allowed);
        assert!(!c.decide_page(&subject(&[]), Page::Audit, &env("it-support", false)).allowed, "default deny");
        // Unknown purposes simply match nothing.
        assert!(!c.decide_group(&nurse, Action::Read, Group::Demographics, &env("curiosity", true)).allowed);
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let tenants = vec!["t".to_string()];
        let mut d = default_document();
        d.access.push(Grant {
            role: "janitor".into(),
            purpose: "it-support".into(),
            groups: vec![Group::Demographics],
            departments: vec![],
        });
        assert_eq!(d.check(&tenants), Err(PolicyError::UnknownRole("janitor".into())));
        let mut d = default_document();
        d.access.push(Grant {
            role: "nurse".into(),
            purpose: "it-support".into(),
            groups: vec![Group::Clinical],
            departments: vec![],
        });
        assert_eq!(d.check(&tenants), Err(PolicyError::ClinicalGranted));
        let mut d = default_document();
        d.access.push(Grant {
            role: "nurse".into(),
            purpose: "it-support".into(),
            groups: vec![],
            departments: vec!["4 West\" || true".into()],
        });
        assert!(matches!(d.check(&tenants), Err(PolicyError::BadDepartment(_))), "no policy injection through names");
        let mut d = default_document();
        d.access.push(Grant {
            role: "nurse".into(),
            purpose: "it-support".into(),
            groups: vec![Group::Clinical],
            departments: vec![],
        });
        assert_eq!(d.check(&tenants), Err(PolicyError::ClinicalGranted));
        let mut d = default_document();
        d.pages.retain(|p| p.page != Page::AdminPolicy);
        assert_eq!(d.check(&tenants), Err(PolicyError::AdminLockout));
        let mut d = default_document();
        d.tenants.push(TenantOverride {
            tenant: "t".into(),
            scope_style: None,
            user_scopes: None,
            patient_scopes: Some(vec!["patient/Patient.write".into()]),
            authorize_method: None,
        });
        assert!(matches!(d.check(&tenants), Err(PolicyError::Scope(..))), "a write can never be granted");
        assert!(default_document().check(&tenants).is_ok());
    }

    #[test]
    fn widening_is_detected() {
        let a = default_document();
        let mut b = a.clone();
        b.access.push(Grant {
            role: "it-analyst".into(),
            purpose: "it-support".into(),
            groups: vec![Group::Demographics],
            departments: vec![],
        });
        let diff = Diff::between(&a, &b);
        assert!(diff.widens());
        assert_eq!(diff.added, ["it-analyst may read demographics for it-support"]);
        let narrow = Diff::between(&b, &a);
        assert!(!narrow.widens() && narrow.removed.len() == 1);
    }

    #[test]
    fn department_conditions_use_the_subject_attribute() {
        let mut d = default_document();
        d.access.push(Grant {
            role: "nurse".into(),
            purpose: "it-support".into(),
            groups: vec![Group::Identifiers],
            departments: vec!["4 West".into()],
        });
        let c = compile(1, d).unwrap();
        let mut nurse = subject(&["nurse"]);
        let d = c.decide_group(&nurse, Action::Read, Group::Identifiers, &env("it-support", true));
        assert!(d.allowed && d.rules == ["access:nurse:it-support:4 West"], "{d:?}");
        nurse.department = "5 East".into();
        assert!(!c.decide_group(&nurse, Action::Read, Group::Identifiers, &env("it-support", true)).allowed);
        assert!(c.fetchable().contains_key(&Group::Identifiers));
        assert!(!c.fetchable().contains_key(&Group::Contact) && !c.fetchable().contains_key(&Group::Clinical));
    }

    #[test]
    fn role_mapping_prefers_specific_roles() {
        let d = default_document();
        assert_eq!(d.roles_for(&[(None, "nurse"), (Some("x"), "NURSING_SUPERVISOR")]), ["nursing-supervisor"]);
        assert_eq!(d.roles_for(&[(None, "ict"), (None, "CLIN_INFORMATICS")]), ["clinical-informatics"]);
        assert_eq!(d.roles_for(&[(None, "doctor"), (None, "RESIDENT")]), ["physician"]);
        assert_eq!(d.roles_for(&[(None, "janitor")]), ["clinician"], "the default role");
        assert!(d.mapped_roles(&[(None, "janitor")]).is_empty());
        let strict = PolicyDocument { default_role: None, ..default_document() };
        assert!(strict.roles_for(&[]).is_empty());
    }
}
