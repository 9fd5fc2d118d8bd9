//! Lexicon loading and matching.
//!
//! All lexicons are plain text files compiled into the binary with
//! `include_str!`: one term per line, `#` starts a comment line. Directives:
//! `#@state` / `#@finding` (symptoms file), `#@category NAME` (IT terms file).
//! Term prefixes: `=` case-sensitive term, `!` strong IT term (frames a message
//! as IT on its own), `?` IT category hint only (not used for framing).

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::normalize::{self, is_word};
use super::{DetectError, ItCategory};

pub(super) const DRUGS_UNII: &str = include_str!("lexicons/drugs_unii.txt");
pub(super) const SHORTHAND: &str = include_str!("lexicons/shorthand.txt");
pub(super) const CONDITIONS: &str = include_str!("lexicons/conditions.txt");
pub(super) const SYMPTOMS: &str = include_str!("lexicons/symptoms.txt");
pub(super) const CLINICAL_TERMS: &str = include_str!("lexicons/clinical_terms.txt");
pub(super) const IT_TERMS: &str = include_str!("lexicons/it_terms.txt");
pub(super) const LABS: &str = include_str!("lexicons/labs.txt");
pub(super) const FUZZY_BLOCKLIST: &str = include_str!("lexicons/fuzzy_blocklist.txt");

/// Tag bytes written over lexicon matches in the tagged text.
pub(super) const TAG_DRUG: u8 = 0x1d;
pub(super) const TAG_COND: u8 = 0x1e;
pub(super) const TAG_STATE: u8 = 0x1c;
pub(super) const TAG_FIND: u8 = 0x1f;
pub(super) const TAG_IT: u8 = 0x1b;
pub(super) const TAG_CLIN: u8 = 0x1a;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LexClass {
    /// FDA UNII official / brand name.
    Drug,
    /// Curated shorthand, drug nickname, class, fluid or blood product.
    Shorthand,
    Condition,
    /// A current state of a person ("confused", "mottled").
    State,
    /// Symptom or finding noun phrase.
    Finding,
    ClinicalTerm,
    /// Laboratory analyte name without a value.
    LabName,
    /// IT vocabulary that picks a category and can anchor an IT frame.
    ItWeak,
    /// IT vocabulary that frames a message as IT on its own (password, printer...).
    ItStrong,
    /// IT vocabulary used for the category only.
    ItHint,
    /// Caller-supplied clinical term (`Tuning::extra_terms`).
    ExtraTerm,
    /// Caller-supplied IT framing phrase (`Tuning::extra_it_framings`).
    ExtraIt,
}

impl LexClass {
    pub(super) fn tag(self) -> Option<u8> {
        match self {
            LexClass::Drug | LexClass::Shorthand | LexClass::ExtraTerm => Some(TAG_DRUG),
            LexClass::Condition => Some(TAG_COND),
            LexClass::State => Some(TAG_STATE),
            LexClass::Finding => Some(TAG_FIND),
            LexClass::ClinicalTerm | LexClass::LabName => Some(TAG_CLIN),
            LexClass::ItWeak | LexClass::ItStrong | LexClass::ExtraIt => Some(TAG_IT),
            LexClass::ItHint => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub class: LexClass,
    pub it_cat: Option<ItCategory>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LexHit {
    pub start: usize,
    pub end: usize,
    pub entry: Entry,
    pub fuzzy: bool,
}

pub(super) struct Lexicon {
    lower: AhoCorasick,
    lower_entries: Vec<Entry>,
    cased: Option<AhoCorasick>,
    cased_entries: Vec<Entry>,
    /// Deletion-neighbourhood index for typo-tolerant matching of curated terms.
    fuzzy_index: HashMap<Vec<u8>, Vec<u32>>,
    fuzzy_terms: Vec<(Vec<u8>, Entry)>,
    blocklist: HashSet<Vec<u8>>,
    /// Exact single-word terms, so the fuzzy pass never "corrects" a known word.
    known_words: HashSet<Vec<u8>>,
    /// Curated single-word clinical terms, for inflection variants.
    curated_words: HashMap<Vec<u8>, Entry>,
    /// FDA UNII names: single lower-case tokens, looked up by hashing each
    /// word of the message (much cheaper to build than an automaton).
    unii: HashSet<&'static [u8]>,
}

/// Three-letter analyte names that are safe to match on their own.
const LAB_SHORT_OK: &[&str] = &[
    "wbc", "inr", "ptt", "bnp", "crp", "esr", "tsh", "ldh", "abg", "vbg", "hgb", "hct", "plt", "anc", "cbc", "bmp",
    "cmp", "a1c", "ck", "bun",
];

/// Minimum token length for typo-tolerant matching.
const FUZZY_MIN_LEN: usize = 6;

struct Builder {
    lower_terms: Vec<Vec<u8>>,
    lower_entries: Vec<Entry>,
    seen_lower: HashSet<Vec<u8>>,
    cased_terms: Vec<Vec<u8>>,
    cased_entries: Vec<Entry>,
    fuzzy_terms: Vec<(Vec<u8>, Entry)>,
}

impl Builder {
    fn add(&mut self, raw: &str, entry: Entry, fuzzy: bool) -> Result<bool, DetectError> {
        let (case_sensitive, term) = match raw.strip_prefix('=') {
            Some(t) => (true, t),
            None => (false, raw),
        };
        let term = term.trim();
        if term.is_empty() || !term.chars().any(|c| c.is_alphanumeric()) {
            return Err(DetectError::InvalidTerm(raw.to_string()));
        }
        if case_sensitive {
            self.cased_terms.push(normalize::cased(term));
            self.cased_entries.push(entry);
            return Ok(true);
        }
        let norm = normalize::lower(term);
        if !self.seen_lower.insert(norm.clone()) {
            return Ok(false);
        }
        if fuzzy && norm.len() >= FUZZY_MIN_LEN && norm.iter().all(|b| b.is_ascii_lowercase()) {
            self.fuzzy_terms.push((norm.clone(), entry));
        }
        self.lower_terms.push(norm);
        self.lower_entries.push(entry);
        Ok(true)
    }

    /// Load one lexicon file; returns the number of terms it contributed.
    fn load(&mut self, text: &str, default: LexClass, fuzzy: bool) -> Result<usize, DetectError> {
        let mut class = default;
        let mut cat: Option<ItCategory> = None;
        let mut n = 0;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(d) = line.strip_prefix("#@") {
                let mut parts = d.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some("state"), None) => class = LexClass::State,
                    (Some("finding"), None) => class = LexClass::Finding,
                    (Some("category"), Some(name)) => {
                        cat = Some(
                            ItCategory::from_name(name)
                                .ok_or_else(|| DetectError::Lexicon(format!("unknown IT category {name}")))?,
                        );
                    }
                    _ => return Err(DetectError::Lexicon(format!("unknown directive {line}"))),
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (class_here, term) = if default == LexClass::ItWeak {
                if let Some(t) = line.strip_prefix('!') {
                    (LexClass::ItStrong, t)
                } else if let Some(t) = line.strip_prefix('?') {
                    (LexClass::ItHint, t)
                } else {
                    (LexClass::ItWeak, line)
                }
            } else {
                (class, line)
            };
            let entry = Entry { class: class_here, it_cat: cat };
            if self.add(term, entry, fuzzy)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

fn build_ac(terms: &[Vec<u8>]) -> Result<AhoCorasick, DetectError> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(terms)
        .map_err(|e| DetectError::Lexicon(e.to_string()))
}

fn deletions(word: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..word.len()).map(move |i| {
        let mut v = Vec::with_capacity(word.len() - 1);
        v.extend_from_slice(&word[..i]);
        v.extend_from_slice(&word[i + 1..]);
        v
    })
}

/// Optimal-string-alignment distance, capped: returns true when <= 1.
fn within_one(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    if la == lb {
        let diffs: Vec<usize> = (0..la).filter(|&i| a[i] != b[i]).collect();
        return match diffs.as_slice() {
            [_] => true,
            [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
            _ => false,
        };
    }
    let (long, short) = if la > lb { (a, b) } else { (b, a) };
    let mut i = 0;
    while i < short.len() && long[i] == short[i] {
        i += 1;
    }
    long[i + 1..] == short[i..]
}

impl Lexicon {
    pub(super) fn new(extra_terms: &[String], extra_it: &[String]) -> Result<Lexicon, DetectError> {
        let mut b = Builder {
            lower_terms: Vec::new(),
            lower_entries: Vec::new(),
            seen_lower: HashSet::new(),
            cased_terms: Vec::new(),
            cased_entries: Vec::new(),
            fuzzy_terms: Vec::new(),
        };
        // Order matters: the first lexicon that lists a term owns it.
        for t in extra_terms {
            if t.trim().starts_with('=') {
                return Err(DetectError::InvalidTerm(t.clone()));
            }
            b.add(t, Entry { class: LexClass::ExtraTerm, it_cat: None }, false)?;
        }
        for t in extra_it {
            if t.trim().starts_with('=') {
                return Err(DetectError::InvalidTerm(t.clone()));
            }
            b.add(t, Entry { class: LexClass::ExtraIt, it_cat: Some(ItCategory::Other) }, false)?;
        }
        b.load(SHORTHAND, LexClass::Shorthand, true)?;
        b.load(CONDITIONS, LexClass::Condition, true)?;
        b.load(SYMPTOMS, LexClass::Finding, true)?;
        b.load(CLINICAL_TERMS, LexClass::ClinicalTerm, false)?;
        b.load(IT_TERMS, LexClass::ItWeak, false)?;
        for name in lab_names() {
            let single = !name.contains(' ') && name.bytes().next().is_some_and(|c| c.is_ascii_alphabetic());
            if single && (name.len() >= 4 || LAB_SHORT_OK.contains(&name.as_str())) {
                b.add(&name, Entry { class: LexClass::LabName, it_cat: None }, false)?;
            }
        }
        let unii: HashSet<&'static [u8]> = parse_plain(DRUGS_UNII).map(str::as_bytes).collect();
        if let Some(bad) = unii.iter().find(|t| !t.iter().all(|c| c.is_ascii_lowercase() || *c == b'-')) {
            return Err(DetectError::Lexicon(format!(
                "drugs_unii.txt: {:?} is not a lower-case single token",
                String::from_utf8_lossy(bad)
            )));
        }
        let lower = build_ac(&b.lower_terms)?;
        let cased = if b.cased_terms.is_empty() { None } else { Some(build_ac(&b.cased_terms)?) };
        let mut fuzzy_index: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        for (i, (term, _)) in b.fuzzy_terms.iter().enumerate() {
            let idx = u32::try_from(i).map_err(|_| DetectError::Lexicon("too many fuzzy terms".into()))?;
            fuzzy_index.entry(term.clone()).or_default().push(idx);
            for d in deletions(term) {
                fuzzy_index.entry(d).or_default().push(idx);
            }
        }
        let blocklist = parse_plain(FUZZY_BLOCKLIST).map(normalize::lower).collect();
        let curated_words = b
            .lower_terms
            .iter()
            .zip(&b.lower_entries)
            .filter(|(t, e)| {
                matches!(e.class, LexClass::Shorthand | LexClass::Condition | LexClass::State | LexClass::Finding)
                    && t.iter().all(|c| c.is_ascii_lowercase())
            })
            .map(|(t, e)| (t.clone(), *e))
            .collect();
        let known_words = b.lower_terms.iter().filter(|t| t.iter().all(|c| c.is_ascii_lowercase())).cloned().collect();
        Ok(Lexicon {
            lower,
            lower_entries: b.lower_entries,
            cased,
            cased_entries: b.cased_entries,
            fuzzy_index,
            fuzzy_terms: b.fuzzy_terms,
            blocklist,
            known_words,
            curated_words,
            unii,
        })
    }

    /// All lexicon hits, non-overlapping, leftmost-longest, on word boundaries.
    pub(super) fn find(&self, lower: &[u8], cased: &[u8]) -> Vec<LexHit> {
        let mut cands: Vec<LexHit> = Vec::new();
        for m in self.lower.find_overlapping_iter(lower) {
            let (s, e) = (m.start(), m.end());
            if bounded(lower, s, e) {
                let entry = self.lower_entries[m.pattern().as_usize()];
                cands.push(LexHit { start: s, end: e, entry, fuzzy: false });
            }
        }
        if let Some(ac) = &self.cased {
            for m in ac.find_overlapping_iter(cased) {
                let (s, e) = (m.start(), m.end());
                if bounded(cased, s, e) {
                    let entry = self.cased_entries[m.pattern().as_usize()];
                    cands.push(LexHit { start: s, end: e, entry, fuzzy: false });
                }
            }
        }
        cands.sort_by(|a, b| a.start.cmp(&b.start).then((b.end - b.start).cmp(&(a.end - a.start))));
        let mut hits: Vec<LexHit> = Vec::with_capacity(cands.len());
        let mut covered = 0usize;
        for c in cands {
            if c.start >= covered {
                covered = c.end;
                hits.push(c);
            }
        }
        self.unii_pass(lower, &mut hits);
        self.fuzzy_pass(lower, &mut hits);
        hits
    }

    /// Words not covered by a curated match that are FDA UNII drug names.
    fn unii_pass(&self, lower: &[u8], hits: &mut Vec<LexHit>) {
        let mut extra = Vec::new();
        let mut hi = 0usize;
        let mut i = 0usize;
        while i < lower.len() {
            if !lower[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let s = i;
            while i < lower.len() && (lower[i].is_ascii_alphanumeric() || (lower[i] == b'-' && i > s)) {
                i += 1;
            }
            let mut e = i;
            while e > s && lower[e - 1] == b'-' {
                e -= 1;
            }
            if e - s < 5 || !self.unii.contains(&lower[s..e]) {
                continue;
            }
            while hi < hits.len() && hits[hi].end <= s {
                hi += 1;
            }
            if hi < hits.len() && hits[hi].start < e {
                continue;
            }
            extra.push(LexHit { start: s, end: e, entry: Entry { class: LexClass::Drug, it_cat: None }, fuzzy: false });
        }
        if !extra.is_empty() {
            hits.extend(extra);
            hits.sort_by_key(|h| h.start);
        }
    }

    fn fuzzy_pass(&self, lower: &[u8], hits: &mut Vec<LexHit>) {
        let mut extra = Vec::new();
        let mut hi = 0usize;
        let mut i = 0usize;
        while i < lower.len() {
            if !lower[i].is_ascii_lowercase() {
                i += 1;
                continue;
            }
            let s = i;
            while i < lower.len() && lower[i].is_ascii_lowercase() {
                i += 1;
            }
            let e = i;
            if (s > 0 && is_word(lower[s - 1])) || (e < lower.len() && is_word(lower[e])) {
                continue;
            }
            if e - s < FUZZY_MIN_LEN {
                continue;
            }
            while hi < hits.len() && hits[hi].end <= s {
                hi += 1;
            }
            if hi < hits.len() && hits[hi].start < e {
                continue; // already covered by an exact match
            }
            let tok = &lower[s..e];
            if self.known_words.contains(tok) || self.blocklist.contains(tok) || self.unii.contains(tok) {
                continue;
            }
            if let Some(entry) = self.variant_lookup(tok).or_else(|| self.fuzzy_lookup(tok)) {
                extra.push(LexHit { start: s, end: e, entry, fuzzy: true });
            }
        }
        if !extra.is_empty() {
            hits.extend(extra);
            hits.sort_by_key(|h| h.start);
        }
    }

    /// Inflected form of a curated single-word term ("vomited" -> "vomiting",
    /// "bruises" -> "bruise").
    fn variant_lookup(&self, tok: &[u8]) -> Option<Entry> {
        let mut cands: Vec<Vec<u8>> = Vec::new();
        let strip = |suffix: &[u8]| tok.strip_suffix(suffix).map(<[u8]>::to_vec);
        if let Some(st) = strip(b"es") {
            cands.push(st);
        }
        if let Some(st) = strip(b"s") {
            cands.push(st);
        }
        if let Some(st) = strip(b"ed") {
            cands.push([st.as_slice(), b"ing"].concat());
            cands.push([st.as_slice(), b"e"].concat());
            cands.push(st);
        }
        if let Some(st) = strip(b"d") {
            cands.push([st.as_slice(), b"ing"].concat());
        }
        if let Some(st) = strip(b"ing") {
            cands.push([st.as_slice(), b"e"].concat());
            cands.push(st);
        }
        cands.iter().filter(|c| c.len() >= 4).find_map(|c| self.curated_words.get(c.as_slice()).copied())
    }

    fn fuzzy_lookup(&self, tok: &[u8]) -> Option<Entry> {
        let check = |key: &[u8]| -> Option<Entry> {
            let ids = self.fuzzy_index.get(key)?;
            ids.iter().find_map(|&id| {
                let (term, entry) = &self.fuzzy_terms[id as usize];
                within_one(term, tok).then_some(*entry)
            })
        };
        check(tok).or_else(|| deletions(tok).find_map(|d| check(&d)))
    }
}

fn bounded(text: &[u8], s: usize, e: usize) -> bool {
    let left_ok = s == 0 || !is_word(text[s - 1]) || !is_word(text[s]);
    let right_ok = e == text.len() || !is_word(text[e]) || !is_word(text[e - 1]);
    left_ok && right_ok
}

/// Non-comment, non-empty lines of a plain list.
pub(super) fn parse_plain(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Lab analyte names (normalised), longest first.
pub(super) fn lab_names() -> Vec<String> {
    let mut v: Vec<String> =
        parse_plain(LABS).map(|l| String::from_utf8_lossy(&normalize::lower(l)).into_owned()).collect();
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_one() {
        assert!(within_one(b"dilaudid", b"diluadid"));
        assert!(within_one(b"potassium", b"potasium"));
        assert!(within_one(b"seizing", b"seizng"));
        assert!(!within_one(b"statin", b"stations"));
        assert!(!within_one(b"heparin", b"hepatic"));
    }
}
