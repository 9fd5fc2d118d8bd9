//! The one table of stable error codes.
//!
//! Every module has its own `thiserror` enum; each variant maps to one [`ErrorCode`] here
//! through [`HasErrorCode`]. The code string and HTTP status of a code never change once
//! released (clients and runbooks key on them); add new codes instead. The table is
//! rendered in README.md § Errors, and a test keeps the two in step.
//!
//! How a code is *rendered* (JSON envelope, FHIR OperationOutcome or HTML page) is the
//! web layer's business; this module only names the codes and their statuses.

use std::fmt;

macro_rules! error_codes {
    ($( $variant:ident => ($code:literal, $status:literal, $title:literal) ),+ $(,)?) => {
        /// A stable, documented error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant ),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant ),+ ];

            /// The wire name, e.g. `not_found`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code ),+ }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status ),+ }
            }

            /// A short human title, safe to show to anyone.
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title ),+ }
            }
        }
    };
}

error_codes! {
    BadRequest => ("bad_request", 400, "The request is not valid"),
    InvalidJson => ("invalid_json", 400, "The request body is not valid JSON for this endpoint"),
    InvalidParameter => ("invalid_parameter", 400, "A parameter is missing or not valid"),
    Unauthenticated => ("unauthenticated", 401, "Authentication is required"),
    Forbidden => ("forbidden", 403, "You are not allowed to do this"),
    PatientOutsideContext => ("patient_outside_context", 403, "Only the patient open in the EHR can be looked at"),
    NotFound => ("not_found", 404, "Nothing is here"),
    MethodNotAllowed => ("method_not_allowed", 405, "This method is not allowed here"),
    NotAcceptable => ("not_acceptable", 406, "The requested format is not available"),
    PayloadTooLarge => ("payload_too_large", 413, "The request body is too large"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "The request body has an unsupported content type"),
    Conflict => ("conflict", 409, "The request conflicts with a change made meanwhile"),
    ApprovalRequired => ("approval_required", 409, "A second clinical-informatics user must approve this change"),
    PolicyInvalid => ("policy_invalid", 422, "The policy is not valid"),
    LaunchInvalid => ("launch_invalid", 400, "This launch cannot be started"),
    LaunchUnknownIssuer => ("launch_unknown_issuer", 400, "chartdesk is not set up for this EHR"),
    LaunchStateInvalid => ("launch_state_invalid", 400, "This sign-in has expired or was already used"),
    LaunchCookiesBlocked => ("launch_cookies_blocked", 400, "Your browser blocked chartdesk's cookie"),
    LaunchEhrError => ("launch_ehr_error", 400, "The EHR did not authorize chartdesk"),
    LaunchTokenRejected => ("launch_token_rejected", 401, "The EHR did not complete the sign-in"),
    LaunchIdentityInvalid => ("launch_identity_invalid", 401, "The EHR's identity token could not be verified"),
    SessionExpired => ("session_expired", 401, "Your chartdesk session has ended"),
    SandboxDisabled => ("sandbox_disabled", 404, "The sandbox EHR is not enabled on this server"),
    Internal => ("internal", 500, "Something went wrong on our side"),
    EhrUnavailable => ("ehr_unavailable", 502, "The EHR could not be reached"),
    ServiceUnavailable => ("service_unavailable", 503, "A service chartdesk depends on is unavailable"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every module's error enum: which stable code a variant is answered with,
/// and what (if anything) may be said to the client about it.
pub trait HasErrorCode: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// A client-safe detail message. Never PHI, tokens or internals. `None` for 5xx.
    fn public_detail(&self) -> Option<String> {
        if self.code().status() >= 500 { None } else { Some(self.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_valid() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert!((400..600).contains(&c.status()), "{c}");
            assert!(c.as_str().chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
        }
    }

    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../README.md");
        for c in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", c.as_str(), c.status());
            assert!(readme.contains(&row), "README.md § Errors lacks the row starting {row}");
        }
    }
}
