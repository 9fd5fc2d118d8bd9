//! Detection throughput (README § Performance):
//!
//!     cargo bench --bench classify -- [--runs 5] [--repeat 50] [EVAL_DIR]
//!
//! Builds the detector (lexicons included; the median of `--runs` builds is the start-up
//! cost), then classifies messages on ONE thread: the development corpus's texts (read at run
//! time from EVAL_DIR, default ../shared/eval-dev; never compiled in) or, without it, the
//! hand-written cases in tests/data/detect_cases.tsv, repeated `--repeat` times. Reported:
//! messages per second, median of the runs.

use std::time::Instant;

use chartdesk::detect::{Detector, Tuning};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn texts() -> (Vec<String>, String) {
    let eval = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--") && std::path::Path::new(a).is_dir())
        .unwrap_or_else(|| "../shared/eval-dev".into());
    let mut out = Vec::new();
    for f in ["clinical.tsv", "it.tsv", "borderline.tsv"] {
        if let Ok(s) = std::fs::read_to_string(format!("{eval}/{f}")) {
            out.extend(s.lines().skip(1).filter_map(|l| l.split('\t').next()).map(String::from));
        }
    }
    if !out.is_empty() {
        return (out, format!("{eval} (clinical, it, borderline)"));
    }
    let s = include_str!("../tests/data/detect_cases.tsv");
    let cases = s
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("text\t"))
        .filter_map(|l| l.split('\t').next())
        .map(String::from)
        .collect();
    (cases, "tests/data/detect_cases.tsv".into())
}

fn main() {
    let runs = arg("--runs", 5);
    let repeat = arg("--repeat", 50);
    let mut builds = Vec::new();
    let mut detector = None;
    for _ in 0..runs {
        let t = Instant::now();
        let d = Detector::new(&Tuning::default()).expect("the default detector builds");
        builds.push(t.elapsed().as_secs_f64() * 1000.0);
        detector = Some(d);
    }
    let detector = detector.expect("at least one run");
    let (texts, source) = texts();
    // Warm-up (lazily compiled span regexes are built on first use).
    let mut clinical = 0;
    for t in &texts {
        clinical += detector.detect(t).is_clinical() as usize;
    }
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut n = 0usize;
        for _ in 0..repeat {
            for t in &texts {
                std::hint::black_box(detector.detect(std::hint::black_box(t)));
                n += 1;
            }
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    println!("messages: {} from {source} ({clinical} clinical), repeated {repeat}x per run, one thread", texts.len());
    println!(
        "detector build (lexicons included): median {:.1} ms (runs: {})",
        median(builds.clone()),
        builds.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(" / ")
    );
    println!(
        "classify: median {:.0} messages/s (runs: {})",
        median(rates.clone()),
        rates.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" / ")
    );
}
