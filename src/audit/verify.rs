//! `chartdesk audit verify`: check the whole log against itself and its checkpoints.
//!
//! One pass over the records in order: sequence numbers without gaps, content that decrypts
//! and hashes to its leaf hash, the hash chain, and the Merkle root at every checkpointed
//! size. Then every checkpoint, from the database and from the directory outside it: a valid
//! signature, present in both places, and not larger than the log (a larger one means the
//! tail was deleted). The first problem names the record or checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use super::merkle::{CompactRange, GENESIS, Hash, chain_next, leaf_hash};
use super::note::{self, Checkpoint};
use super::{AAD, AuditError, Signer};
use crate::crypto::{CryptoError, KeyRing};
use crate::store::Store;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Record { seq: i64, what: String },
    Checkpoint { name: String, what: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Record { seq, what } => write!(f, "record {seq}: {what}"),
            Problem::Checkpoint { name, what } => write!(f, "checkpoint {name}: {what}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub records: u64,
    pub purged: u64,
    pub checkpoints: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Anchor {
    name: String,
    cp: Checkpoint,
}

pub async fn verify(store: &dyn Store, keys: &KeyRing, signer: &Signer) -> Result<Report, AuditError> {
    let s = &signer.settings;
    let vk = signer.key.verifying_key();
    let mut report = Report::default();

    // Checkpoints: the database's and the directory's.
    let mut anchors: Vec<Anchor> = Vec::new();
    let mut db_sizes = BTreeSet::new();
    for row in store.checkpoints().await? {
        let name = format!("size {} (database)", row.size);
        match note::verify(&row.note, &s.origin, &s.key_name, &vk) {
            Ok(cp) if cp.size as i64 == row.size && cp.root.as_slice() == row.root.as_slice() => {
                db_sizes.insert(row.size as u64);
                anchors.push(Anchor { name, cp });
            }
            Ok(_) => report
                .problems
                .push(Problem::Checkpoint { name, what: "the row does not match its signed note".into() }),
            Err(e) => report.problems.push(Problem::Checkpoint { name, what: e.to_string() }),
        }
    }
    let mut dir_sizes = BTreeSet::new();
    let entries =
        std::fs::read_dir(&s.checkpoint_dir).map_err(|e| AuditError::Dir(s.checkpoint_dir.display().to_string(), e))?;
    let mut files: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    for file in files.iter().filter(|f| f.ends_with(".txt") && !f.starts_with('.')) {
        let text = std::fs::read_to_string(s.checkpoint_dir.join(file)).unwrap_or_default();
        match note::verify(&text, &s.origin, &s.key_name, &vk) {
            Ok(cp) => {
                if let Some(n) = file.strip_prefix("checkpoint-").and_then(|f| f.strip_suffix(".txt")) {
                    if n.parse::<u64>().ok() != Some(cp.size) {
                        report.problems.push(Problem::Checkpoint {
                            name: file.clone(),
                            what: "file name and size disagree".into(),
                        });
                        continue;
                    }
                    dir_sizes.insert(cp.size);
                }
                anchors.push(Anchor { name: file.clone(), cp });
            }
            Err(e) => report.problems.push(Problem::Checkpoint { name: file.clone(), what: e.to_string() }),
        }
    }
    for size in db_sizes.difference(&dir_sizes) {
        report.problems.push(Problem::Checkpoint {
            name: format!("size {size}"),
            what: "in the database but missing from the checkpoint directory".into(),
        });
    }
    for size in dir_sizes.difference(&db_sizes) {
        report.problems.push(Problem::Checkpoint {
            name: format!("size {size}"),
            what: "in the checkpoint directory but missing from the database".into(),
        });
    }
    report.checkpoints = anchors.len() as u64;
    let mut at: BTreeMap<u64, Vec<&Anchor>> = BTreeMap::new();
    for a in &anchors {
        at.entry(a.cp.size).or_default().push(a);
    }
    let check_roots = |size: u64, root: Hash, problems: &mut Vec<Problem>| {
        if let Some(list) = at.get(&size) {
            for a in list {
                if a.cp.root != root {
                    problems.push(Problem::Checkpoint {
                        name: a.name.clone(),
                        what: format!("its root does not match records 0..{size}"),
                    });
                }
            }
        }
    };

    // The records, in one pass.
    let head = store.audit_size().await?;
    let mut range = CompactRange::default();
    let mut prev = GENESIS;
    let mut expected = 0i64;
    let mut record_problems = Vec::new();
    check_roots(0, range.root(), &mut report.problems);
    'pages: loop {
        let rows = store.audit_rows(expected, 5000).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq != expected {
                record_problems.push(Problem::Record { seq: expected, what: "missing (the sequence jumps)".into() });
                break 'pages;
            }
            let leaf: Hash = match row.leaf.as_slice().try_into() {
                Ok(l) => l,
                Err(_) => {
                    record_problems.push(Problem::Record { seq: row.seq, what: "malformed leaf hash".into() });
                    break 'pages;
                }
            };
            match &row.sealed {
                Some(sealed) => match keys.open(AAD, sealed).await {
                    Ok(plain) if leaf_hash(&plain) == leaf => {}
                    Ok(_) => record_problems
                        .push(Problem::Record { seq: row.seq, what: "content does not match its hash".into() }),
                    Err(CryptoError::Shredded(_)) => report.purged += 1,
                    Err(_) => record_problems
                        .push(Problem::Record { seq: row.seq, what: "content does not decrypt (altered)".into() }),
                },
                None => report.purged += 1,
            }
            let chain = chain_next(&prev, &leaf);
            if row.chain.as_slice() != chain.as_slice() {
                record_problems.push(Problem::Record {
                    seq: row.seq,
                    what: "hash chain broken (altered, inserted or reordered)".into(),
                });
            }
            prev = row.chain.as_slice().try_into().unwrap_or(chain);
            range.push(leaf);
            expected += 1;
            report.records += 1;
            check_roots(range.size(), range.root(), &mut report.problems);
            if !record_problems.is_empty() {
                break 'pages;
            }
        }
    }
    if record_problems.is_empty() && expected != head {
        record_problems.push(Problem::Record {
            seq: expected.min(head),
            what: format!("the log head says {head} records but {expected} are present"),
        });
    }
    for a in &anchors {
        if a.cp.size > range.size() {
            record_problems.push(Problem::Record {
                seq: range.size() as i64,
                what: format!("missing: {} says the log had {} records (tail deleted)", a.name, a.cp.size),
            });
        }
    }
    record_problems.sort_by_key(|p| match p {
        Problem::Record { seq, .. } => *seq,
        Problem::Checkpoint { .. } => i64::MAX,
    });
    record_problems.dedup();
    record_problems.append(&mut report.problems);
    report.problems = record_problems;
    Ok(report)
}
