//! Policy-evaluation benchmark (README § Performance):
//!
//!     cargo bench --bench policy -- [--requests 20000] [--runs 5]
//!
//! One "request" is what a guarded API request evaluates: the page decision (Cedar) for the
//! route, the allowed element groups for the user and purpose (one Cedar decision per group),
//! and the intersection with the session's granted SMART scopes (parsing them included).
//! Reported: the median cost per request over `--runs` runs of `--requests` requests, for a
//! nurse (default policy) and for a document with 40 extra department-scoped grants; once with
//! every decision evaluated afresh by Cedar, once as served (decisions memoised per policy
//! version by the attributes they depend on).

use std::time::Instant;

use chartdesk::context::Granted;
use chartdesk::policy::{Env, Grant, Group, Page, Subject, compile, default_document};
use chartdesk::smart::request::ResourceType;
use chartdesk::smart::scope::Interaction;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(label: &str, doc: chartdesk::policy::PolicyDocument, requests: usize, runs: usize) {
    let compiled = compile(1, doc).expect("the bench policy compiles");
    let subject = Subject {
        user_key: "u-bench".into(),
        roles: vec!["nurse".into()],
        department: "4 West".into(),
        tenant: "sandbox-generic".into(),
    };
    let env = Env { purpose: "it-support".into(), launch_type: "ehr".into(), patient_in_context: true, hour: 10 };
    let granted: Vec<String> = [
        "launch",
        "openid",
        "fhirUser",
        "user/Practitioner.rs",
        "user/PractitionerRole.rs",
        "user/Location.r",
        "patient/Patient.r",
        "patient/Encounter.rs",
    ]
    .map(String::from)
    .to_vec();
    for memo in [false, true] {
        let mut per_request_us = Vec::new();
        let mut shown = 0usize;
        for _ in 0..runs {
            let started = Instant::now();
            for _ in 0..requests {
                let (page, groups) = if memo {
                    (compiled.decide_page(&subject, Page::Context, &env), compiled.allowed_groups(&subject, &env))
                } else {
                    (
                        compiled.decide_page_fresh(&subject, Page::Context, &env),
                        compiled.allowed_groups_fresh(&subject, &env),
                    )
                };
                assert!(page.allowed);
                let g = Granted::new(&granted);
                shown = groups
                    .keys()
                    .filter(|grp| {
                        grp.elements().iter().all(|(t, _)| g.allows(*t, Interaction::Read, grp.is_patient_data()))
                            || **grp == Group::SelfProfile
                                && g.allows(ResourceType::Practitioner, Interaction::Read, false)
                    })
                    .count();
            }
            per_request_us.push(started.elapsed().as_secs_f64() * 1e6 / requests as f64);
        }
        println!(
            "{label}, {}: median {:.2} µs per request (runs: {}), {} groups shown",
            if memo { "memoised decisions" } else { "fresh Cedar evaluation" },
            median(per_request_us.clone()),
            per_request_us.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(" / "),
            shown
        );
    }
}

fn main() {
    let requests = arg("--requests", 20_000);
    let runs = arg("--runs", 5);
    run("default policy, nurse", default_document(), requests, runs);
    let mut big = default_document();
    for i in 0..40 {
        big.access.push(Grant {
            role: ["nurse", "physician", "pharmacist", "nursing-supervisor"][i % 4].into(),
            purpose: ["it-support", "clinical-handoff"][i % 2].into(),
            groups: vec![Group::Demographics, Group::Encounter],
            departments: vec![format!("Unit {i}")],
        });
    }
    run("default + 40 department grants, nurse", big, requests, runs);
}
