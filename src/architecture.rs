//! Tests that keep the module invariants (README § Architecture) true as the code grows.
//! They read the source tree; a violation names the file and line.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file relative to src/, line number, code line) for every non-comment line.
fn code_lines() -> Vec<(String, usize, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if rel == "architecture.rs" {
            continue;
        }
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            let t = line.trim_start();
            // Unit tests sit at the end of a file, after `#[cfg(test)]`: not product code.
            if t == "#[cfg(test)]" {
                break;
            }
            if !t.starts_with("//") {
                out.push((rel.clone(), i + 1, line.to_string()));
            }
        }
    }
    out
}

fn violations(pattern: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    code_lines()
        .into_iter()
        .filter(|(file, _, line)| line.contains(pattern) && !allowed(file))
        .map(|(file, n, line)| format!("src/{file}:{n}: {}", line.trim()))
        .collect()
}

#[test]
fn only_web_knows_actix() {
    let v = violations("actix", |f| f.starts_with("web/"));
    assert!(v.is_empty(), "actix outside src/web:\n{}", v.join("\n"));
}

#[test]
fn only_fhir_and_the_desk_connectors_make_outbound_http() {
    // fhir talks to the EHR; desk talks to the configured service desks (and only sends Tickets).
    let v = violations("reqwest", |f| f.starts_with("fhir/") || f.starts_with("desk/"));
    assert!(v.is_empty(), "reqwest outside src/fhir and src/desk:\n{}", v.join("\n"));
}

#[test]
fn the_sandbox_is_wired_in_only_at_startup() {
    let allowed =
        |f: &str| f.starts_with("sandbox/") || f == "web/sandbox.rs" || f == "web/mod.rs" || f == "startup.rs";
    let v = violations("sandbox::", allowed);
    assert!(v.is_empty(), "product code depends on the sandbox:\n{}", v.join("\n"));
}

#[test]
fn context_policy_detect_and_redact_do_no_io() {
    let pure = |f: &str| {
        f.starts_with("context/") || f == "policy/mod.rs" || f.starts_with("detect/") || f.starts_with("redact/")
    };
    for pattern in ["sqlx", "reqwest", "tokio::", "std::fs", "std::net", "crate::store", "crate::kv", "crate::fhir"] {
        let v = violations(pattern, |f| !pure(f));
        assert!(v.is_empty(), "I/O (`{pattern}`) in a pure module:\n{}", v.join("\n"));
    }
}

#[test]
fn the_fhir_layer_has_one_non_get_request_the_batch_of_gets() {
    for pattern in [".put(", ".patch(", ".delete(", "Method::PUT", "Method::PATCH", "Method::DELETE", "Method::POST"] {
        let v = violations(pattern, |f| !f.starts_with("fhir/"));
        assert!(v.is_empty(), "a write method in src/fhir:\n{}", v.join("\n"));
    }
    let posts = violations(".post(", |f| !f.starts_with("fhir/"));
    assert_eq!(posts.len(), 1, "only `post_batch` POSTs, and it can only send a GetBatch: {posts:?}");
    assert!(posts[0].starts_with("src/fhir/client.rs"), "{posts:?}");
}

#[test]
fn libraries_log_instead_of_printing() {
    let allowed = |f: &str| f == "main.rs";
    let mut v = violations("println!", allowed);
    v.extend(violations("eprintln!", allowed));
    v.extend(violations("dbg!", |_| false));
    assert!(v.is_empty(), "print outside main.rs:\n{}", v.join("\n"));
}

#[test]
fn every_module_states_its_invariants() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let text = std::fs::read_to_string(path.join("mod.rs")).unwrap();
            assert!(text.starts_with("//!"), "{}/mod.rs must open with a module doc", path.display());
        }
    }
    for root in ["lib.rs", "main.rs"] {
        let text = std::fs::read_to_string(src.join(root)).unwrap();
        assert!(text.contains("#![forbid(unsafe_code)]"), "{root} forbids unsafe code");
    }
}
