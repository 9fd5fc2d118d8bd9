//! Data-driven redaction corpus: tests/data/redact_cases.jsonl (hand-written sentences, none
//! from the evaluation corpus), run through the real binary's `chartdesk redact --format jsonl`.
//! Each case lists `phi` strings that must be masked character for character and `keep`
//! look-alikes (rooms, tickets, doses, versions…) that must be left alone.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_chartdesk");

fn run(input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["redact", "--format", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// (characters of `needle` covered by spans, characters in `needle`), char offsets.
fn coverage(text: &str, needle: &str, spans: &[serde_json::Value]) -> Option<(usize, usize)> {
    let byte = text.find(needle)?;
    let start = text[..byte].chars().count();
    let len = needle.chars().count();
    let covered = (start..start + len)
        .filter(|i| {
            spans
                .iter()
                .any(|s| s["start"].as_u64().unwrap() as usize <= *i && *i < s["end"].as_u64().unwrap() as usize)
        })
        .count();
    Some((covered, len))
}

#[test]
fn redaction_corpus_masks_identifiers_and_keeps_look_alikes() {
    let raw = include_str!("../data/redact_cases.jsonl");
    let cases: Vec<serde_json::Value> =
        raw.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let input: String = cases
        .iter()
        .enumerate()
        .map(|(i, c)| serde_json::json!({"id": i, "text": c["text"]}).to_string() + "\n")
        .collect();
    let out = run(&input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = lines(&out);
    assert_eq!(got.len(), cases.len(), "one output line per input line");
    let (mut checks, mut failures) = (0, Vec::new());
    for (i, (c, g)) in cases.iter().zip(&got).enumerate() {
        assert_eq!(g["id"], i);
        let text = c["text"].as_str().unwrap();
        let spans = g["spans"].as_array().unwrap();
        for s in spans {
            let label = s["label"].as_str().unwrap();
            assert!(!label.is_empty() && label.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'));
        }
        for p in c["phi"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            checks += 1;
            match coverage(text, p, spans) {
                Some((a, b)) if a == b => {}
                other => failures.push(format!("case {i}: LEAK {p:?} {other:?} → {}", g["redacted"])),
            }
            // The identifier is gone from the redacted text itself, not just from the spans.
            if g["redacted"].as_str().unwrap().contains(p) {
                failures.push(format!("case {i}: {p:?} still in redacted text"));
            }
        }
        for k in c["keep"].as_array().unwrap() {
            let k = k.as_str().unwrap();
            checks += 1;
            match coverage(text, k, spans) {
                Some((0, _)) => {}
                other => failures.push(format!("case {i}: FALSE REDACTION {k:?} {other:?} → {}", g["redacted"])),
            }
        }
    }
    assert!(checks >= 250, "{checks} checks");
    assert!(failures.is_empty(), "{} of {checks} checks failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn patient_in_context_is_redacted_in_every_variant() {
    let known = serde_json::json!({
        "names": ["Odalys Ferreira-Quint"],
        "mrns": ["00731942"],
        "birth_dates": ["1961-04-09"],
        "phones": ["(555) 201-7788"],
        "addresses": ["88 Larkspur Terrace"],
    });
    let texts = [
        ("ferreira-quint's chart won't open", "ferreira-quint"),
        ("FERREIRA-QUINT, ODALYS twice on the board", "FERREIRA-QUINT, ODALYS"),
        ("odalys keeps getting logged out of the portal", "odalys"),
        ("merge mrn 731942 please", "731942"),
        ("dob 4/9/61 shows wrong on the banner", "4/9/61"),
        ("born April 9, 1961 per the wristband", "April 9, 1961"),
        ("callback 555.201.7788 about the portal", "555.201.7788"),
        ("letter went to 88 larkspur terrace by mistake", "88 larkspur terrace"),
    ];
    let input: String = texts
        .iter()
        .enumerate()
        .map(|(i, (t, _))| serde_json::json!({"id": i, "text": t, "known": known}).to_string() + "\n")
        .collect();
    let out = run(&input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for ((text, needle), g) in texts.iter().zip(lines(&out)) {
        let (covered, len) = coverage(text, needle, g["spans"].as_array().unwrap()).unwrap();
        assert_eq!(covered, len, "{needle:?} in {text:?} → {}", g["redacted"]);
    }
}

#[test]
fn bad_lines_are_reported_by_number_and_nothing_else_is_dropped() {
    let input = "{\"id\":1,\"text\":\"printer in 4W down, call x4411\"}\nnot json\n{\"id\":3}\n{\"id\":4,\"text\":\"SSN 123-45-6789 on the form\"}\n";
    let out = run(input);
    assert!(!out.status.success(), "bad lines make the exit status non-zero");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
    let got = lines(&out);
    assert_eq!(got.len(), 2, "the two good lines are still written");
    assert_eq!(got[0]["redacted"], "printer in 4W down, call x4411");
    assert!(!got[1]["redacted"].as_str().unwrap().contains("6789"), "{}", got[1]);
}
