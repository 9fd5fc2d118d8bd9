//! Redaction throughput (README § Performance):
//!
//!     cargo bench --bench redact -- [--runs 5] [--repeat 50] [PHI_JSONL]
//!
//! Builds the redactor (name lexicons included; the median of `--runs` builds is the start-up
//! cost), then redacts messages on ONE thread: the texts of the development corpus's
//! phi.jsonl (read at run time, default ../shared/eval-dev/phi.jsonl; never compiled in) or,
//! without it, the hand-written cases in tests/data/redact_cases.jsonl, repeated `--repeat`
//! times. Reported: messages per second, median of the runs.

use std::time::Instant;

use chartdesk::redact::{Known, Redactor};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn texts_of(jsonl: &str) -> Vec<String> {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .collect()
}

fn main() {
    let runs = arg("--runs", 5);
    let repeat = arg("--repeat", 50);
    let path = std::env::args()
        .skip(1)
        .find(|a| a.ends_with(".jsonl"))
        .unwrap_or_else(|| "../shared/eval-dev/phi.jsonl".into());
    let (texts, source) = match std::fs::read_to_string(&path) {
        Ok(s) if !texts_of(&s).is_empty() => (texts_of(&s), path),
        _ => (texts_of(include_str!("../tests/data/redact_cases.jsonl")), "tests/data/redact_cases.jsonl".into()),
    };
    let mut builds = Vec::new();
    let mut redactor = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = Redactor::new();
        builds.push(t.elapsed().as_secs_f64() * 1000.0);
        redactor = Some(r);
    }
    let redactor = redactor.expect("at least one run");
    let known = Known::default();
    let mut spans = 0;
    for t in &texts {
        spans += redactor.redact(t, &known).spans().len();
    }
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut n = 0usize;
        for _ in 0..repeat {
            for t in &texts {
                std::hint::black_box(redactor.redact(std::hint::black_box(t), &known));
                n += 1;
            }
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    println!("messages: {} from {source} ({spans} spans), repeated {repeat}x per run, one thread", texts.len());
    println!(
        "redactor build (lexicons included): median {:.1} ms (runs: {})",
        median(builds.clone()),
        builds.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(" / ")
    );
    println!(
        "redact: median {:.0} messages/s (runs: {})",
        median(rates.clone()),
        rates.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" / ")
    );
}
