//! Audit-trail benchmark (README § Performance):
//!
//!     cargo bench --bench audit -- [--append 200000] [--verify 1000000] [--runs 3]
//!
//! Append: `--append` records through the audit service on a fresh SQLite database
//! (synchronous = FULL, so every commit is durable), from 256 concurrent writers so that the
//! writer task can batch commits; the rate is records per second, median of `--runs` runs.
//! Verify: a log of `--verify` records (with checkpoints every 1,000), verified in full
//! (decrypt, leaf hash, chain, Merkle roots at every checkpoint); median time of the runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chartdesk::audit::{Audit, AuditRecord, AuditSettings, EntityRole, EventKind, Outcome, Signer, verify};
use chartdesk::crypto::KeyRing;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn open(dir: &std::path::Path) -> (Arc<dyn chartdesk::store::Store>, Arc<KeyRing>, Arc<Signer>) {
    let store = chartdesk::store::open(&format!("sqlite://{}/bench.db", dir.display()), 4, Duration::from_secs(30))
        .await
        .unwrap();
    let keys = Arc::new(KeyRing::load(None, dir, store.clone()).unwrap());
    let settings = AuditSettings {
        origin: "chartdesk.bench/audit".into(),
        key_name: "chartdesk-audit".into(),
        checkpoint_dir: dir.join("checkpoints"),
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_secs(60),
        signing_key: None,
    };
    let signer = Arc::new(Signer::load(settings, dir).unwrap());
    (store, keys, signer)
}

/// Append `n` records from 256 concurrent tasks; returns the elapsed time.
async fn append(audit: &Arc<Audit>, n: usize) -> Duration {
    let started = Instant::now();
    let writers = 256;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let audit = audit.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(writers) {
                let r = AuditRecord::new(EventKind::FhirRead, Outcome::Success)
                    .entity(EntityRole::Patient, format!("Patient/p{}", i % 5000))
                    .decision(true, vec!["patient/Patient.r".into()])
                    .reason("bench");
                audit.record(r).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let runs = arg("--runs", 3);
    let n_append = arg("--append", 200_000);
    let n_verify = arg("--verify", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut rates = Vec::new();
        let mut verify_secs = Vec::new();
        for run in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let (store, keys, signer) = open(dir.path()).await;
            let audit = Audit::start(store.clone(), keys.clone(), signer.clone()).await.unwrap();
            let t = append(&audit, n_append).await;
            let rate = n_append as f64 / t.as_secs_f64();
            rates.push(rate);
            // Grow the same log to the verify size, then verify it all.
            append(&audit, n_verify.saturating_sub(n_append)).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let report = verify::verify(store.as_ref(), &keys, &signer).await.unwrap();
            let secs = started.elapsed().as_secs_f64();
            assert!(report.ok(), "{:?}", report.problems.first());
            assert_eq!(report.records, n_verify.max(n_append) as u64);
            verify_secs.push(secs);
            eprintln!(
                "run {}: append {:.0} records/s; verify {} records ({} checkpoints) in {:.2} s",
                run + 1,
                rate,
                report.records,
                report.checkpoints,
                secs
            );
        }
        println!("\n| measure | median of {runs} runs | runs |\n|---|---|---|");
        println!(
            "| audit append, SQLite, durable commits ({n_append} records, 256 writers) | {:.0} records/s | {} |",
            median(rates.clone()),
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
        println!(
            "| audit verify ({n_verify} records) | {:.2} s | {} |",
            median(verify_secs.clone()),
            verify_secs.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ")
        );
    });
}
