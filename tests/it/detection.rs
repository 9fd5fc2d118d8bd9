//! Data-driven detection corpus: tests/data/detect_cases.tsv (hand-written regression
//! cases, none from the evaluation corpus) run through the real binary's
//! `chartdesk classify --format json`, one message per stdin line.
//!
//! Columns: text, expected route (CLINICAL|IT), urgent (1|0|-), mixed (1|0|-); `-` means
//! "not asserted". Mixed means: clinical route and an IT part kept for a separate ticket.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_chartdesk");

struct Case {
    line: usize,
    text: String,
    clinical: bool,
    urgent: Option<bool>,
    mixed: Option<bool>,
}

fn flag(v: &str, line: usize) -> Option<bool> {
    match v {
        "1" => Some(true),
        "0" => Some(false),
        "-" => None,
        other => panic!("detect_cases.tsv:{line}: flag must be 1, 0 or -, got {other:?}"),
    }
}

fn cases() -> Vec<Case> {
    let raw = include_str!("../data/detect_cases.tsv");
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, l) in raw.lines().enumerate() {
        let line = i + 1;
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = l.split('\t').collect();
        assert_eq!(cols.len(), 4, "detect_cases.tsv:{line}: expected 4 tab-separated columns");
        if !header_seen {
            header_seen = true;
            if cols[1] == "route" {
                continue;
            }
        }
        let clinical = match cols[1] {
            "CLINICAL" => true,
            "IT" => false,
            other => panic!("detect_cases.tsv:{line}: route must be CLINICAL or IT, got {other:?}"),
        };
        out.push(Case {
            line,
            text: cols[0].to_string(),
            clinical,
            urgent: flag(cols[2], line),
            mixed: flag(cols[3], line),
        });
    }
    out
}

fn classify(texts: &[&str]) -> Vec<serde_json::Value> {
    let mut child = Command::new(BIN)
        .args(["classify", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = texts.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "classify failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn detection_corpus_routes_as_labelled() {
    let cases = cases();
    assert!(cases.len() >= 500, "the corpus holds {} cases", cases.len());
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let got = classify(&texts);
    assert_eq!(got.len(), cases.len(), "one classification per input line, none dropped");
    // Clinical cases, urgency and MIXED are hard requirements: a miss is a wrong answer. An IT
    // case that escalates is an over-escalation: counted against the product's bar (≤ 10 %).
    let (mut failures, mut over) = (Vec::new(), Vec::new());
    for (c, d) in cases.iter().zip(&got) {
        let clinical = d["route"] == "clinical";
        let urgent = d["urgent"].as_bool().unwrap();
        let mixed = clinical && (d["category"] == "MIXED" || !d["it_part"].is_null());
        let line = format!("line {}: {:?} → {}", c.line, c.text, d);
        if !c.clinical && clinical {
            over.push(line);
            continue;
        }
        let mut why = Vec::new();
        if clinical != c.clinical {
            why.push(format!("route {}", d["route"]));
        }
        if c.urgent.is_some_and(|u| u != urgent) {
            why.push(format!("urgent {urgent}"));
        }
        if c.mixed.is_some_and(|m| m != mixed) {
            why.push(format!("mixed {mixed}"));
        }
        // Every decision is explainable: a clinical route names what fired, unless nothing
        // did and it escalated because nothing marked it as an IT request.
        if clinical && d["signals"].as_array().unwrap().is_empty() && d["score"].as_f64() != Some(0.0) {
            why.push("clinical without signals".into());
        }
        if !why.is_empty() {
            failures.push(format!("{line} ({})", why.join(", ")));
        }
    }
    let it_total = cases.iter().filter(|c| !c.clinical).count();
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(
        over.len() * 10 <= it_total,
        "IT false escalation {} / {it_total} is over 10 %:\n{}",
        over.len(),
        over.join("\n")
    );
    eprintln!("IT false escalation on the regression set: {} / {it_total}", over.len());
}

#[test]
fn urgent_language_is_never_it_whatever_else_is_said() {
    let texts = [
        "PATIENT NOT BREATHING RM 12 HELP",
        "printer jammed and my pt just coded",
        "how do I reset my password, also the patient in 4 is unresponsive",
        "scanner broken. pt fell and hit head, bleeding",
    ];
    for (t, d) in texts.iter().zip(classify(&texts)) {
        assert_eq!(d["route"], "clinical", "{t}: {d}");
        assert_eq!(d["urgent"], true, "{t}: {d}");
    }
}

#[test]
fn classify_refuses_non_utf8_input_with_a_clear_error() {
    let mut child = Command::new(BIN)
        .args(["classify", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"ok line\n\xff\xfe broken\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}
