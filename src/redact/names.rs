//! Person names: lexicons (US Census 1990 + philter-ucsf, see lexicons/PROVENANCE.md) plus context rules.
//!
//! Names that are also ordinary words ("Will", "Hope", "Long") are only names with context: a title or trigger word
//! before them ("pt", "Dr.", "daughter", "for"), a neighbouring unambiguous name, or the `LAST, FIRST` shape.

use super::{Hits, Known, PhiLabel};
use std::collections::HashSet;

/// `name<TAB>flags`, see lexicons/PROVENANCE.md. F given, L family, C US Census 1990, A ambiguous (ordinary word).
const NAMES: &str = include_str!("lexicons/names.tsv");
const F: u8 = 1;
const L: u8 = 2;
const C: u8 = 4;
const A: u8 = 8;
const X: u8 = 16;
const G: u8 = 32;

/// Words that never start or continue a name on their own.
#[rustfmt::skip]
const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "for", "of", "to", "in", "on", "at", "by", "with", "from", "as", "is",
    "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "he", "she", "they", "them",
    "his", "her", "hers", "their", "our", "my", "me", "we", "you", "your", "i", "hi", "hello", "hey", "thanks",
    "thx", "pls", "plz", "please", "can", "cant", "can't", "cannot", "won't", "wont", "not", "no", "yes", "ok",
    "okay", "re", "fw", "fwd", "per", "via", "also", "still", "just", "now", "new", "old", "same", "all", "any",
    "some", "who", "what", "when", "where", "why", "how", "should", "would", "could", "pt", "pts", "patient",
    "patients", "dob", "mrn", "mrns", "ssn", "csn", "har", "fin", "acct", "dos", "id", "rm", "room", "bed", "ext",
    "call", "called", "calls", "says", "said", "wants", "needs", "need", "shows", "got", "get", "has", "have", "had",
    "did", "does", "do", "help", "asap", "urgent", "stat", "mom", "dad", "daughter", "son", "spouse", "wife",
    "husband", "parent", "family", "kin", "caller", "contact", "dr", "mr", "mrs", "ms", "miss", "rn", "md", "np",
    "lpn", "cna", "pharmacist", "nurse", "doctor", "provider", "tech", "charge", "team", "staff", "desk", "vs",
    "epic", "cerner", "meditech", "mychart", "rover", "haiku", "canto", "cadence", "vocera", "citrix", "zoom",
    "pyxis", "imprivata", "dob:", "mrn:", "am", "pm", "if", "so", "then", "than", "there", "here", "up", "down",
    "out", "off", "over", "after", "before", "into", "onto", "about", "via", "unit", "icu", "ed", "er", "or", "ip",
    "pc", "wow", "nurse's", "sn", "dl", "npi", "dea", "vin", "url", "email", "phone", "cell", "fax", "zip",
    "address", "lives", "visit", "admitted", "discharged", "d/c", "baby", "infant", "newborn", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january", "february", "march", "july",
    "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "today", "tomorrow", "yesterday", "tonight", "medicare", "medicaid", "insurance",
    "registration", "error", "order", "label", "printer", "scanner", "chart", "ticket", "band",
];

#[rustfmt::skip]
const PARTICLES: &[&str] = &[
    "de", "la", "del", "della", "van", "von", "der", "den", "da", "di", "du", "le", "st", "st.", "dos", "das", "ter",
    "ten", "bin", "ibn", "al", "el", "mac",
];

#[rustfmt::skip]
const STRONG_TRIGGERS: &[&str] = &[
    "pt", "pt's", "patient", "patient's", "mr", "mrs", "ms", "miss", "mx", "dr", "named", "name", "daughter", "son",
    "wife", "husband", "spouse", "mom", "dad", "mother", "father", "parent", "sister", "brother", "grandson",
    "granddaughter", "grandmother", "grandfather", "grandma", "grandpa", "aunt", "uncle", "niece", "nephew",
    "guardian", "caregiver", "kin", "contact", "caller", "baby", "partner", "fiance", "fiancee", "boyfriend",
    "girlfriend", "friend", "neighbor", "employee", "employee-patient", "resident", "member", "subscriber",
    "guarantor", "proxy", "prof", "nurse", "rn", "np", "pa", "md", "attending", "resident", "surgeon", "pharmacist",
    "tech", "coordinator", "manager", "supervisor",
];
/// Triggers after which even a name missing from the lexicons is taken ("daughter Funmi").
#[rustfmt::skip]
const RELATIVES: &[&str] = &[
    "daughter", "son", "wife", "husband", "spouse", "mom", "dad", "mother", "father", "sister", "brother",
    "grandson", "granddaughter", "grandmother", "grandfather", "grandma", "grandpa", "aunt", "uncle", "niece",
    "nephew", "named", "fiance", "fiancee", "boyfriend", "girlfriend", "partner",
];
#[rustfmt::skip]
const STAFF_CUE: &[&str] = &[
    "from", "called", "calling", "says", "said", "wants", "needs", "asked", "asks", "rn", "md", "np", "pa", "lpn",
    "cna", "do", "mrn", "dob",
];
#[rustfmt::skip]
const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sr", "sra", "mme", "mlle",
];
#[rustfmt::skip]
const WEAK_TRIGGERS: &[&str] = &[
    "for", "with", "of", "from", "by", "re", "cc", "attn", "ask", "tell", "paged", "call", "called",
];
/// Words right after a lower-case name that confirm it ("maria osei called", "pt dmitri long dob ...").
#[rustfmt::skip]
const CUE_AFTER: &[&str] = &[
    "called", "calling", "calls", "says", "said", "wants", "needs", "mrn", "dob", "ssn", "pls", "please", "asked",
    "asks", "is", "was", "has", "at", "in", "on", "from", "re",
];
#[rustfmt::skip]
const RELATION_AFTER: &[&str] = &[
    "parent", "mom", "dad", "mother", "father", "daughter", "son", "wife", "husband", "spouse", "records", "record",
    "chart", "account", "portal", "car", "family", "kid", "child", "sister", "brother", "caregiver", "guardian",
    "phone", "email", "insurance", "mychart", "appointment", "appt", "visit", "results", "labs", "meds", "address",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Title,
    Upper,
    Lower,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Strong,
    Ambig,
    Unknown,
    Initial,
    Particle,
    Stop,
}

#[derive(Clone, Debug)]
struct Tok {
    start: usize,
    end: usize,
    key: String,
    case: Case,
    kind: Kind,
    flags: u8,
    possessive: bool,
}

impl Tok {
    fn first(&self) -> bool {
        self.flags & F != 0
    }
    fn last(&self) -> bool {
        self.flags & L != 0
    }
    /// Strong, or an ambiguous word that is a common (Census) name.
    fn common(&self) -> bool {
        self.kind == Kind::Strong || self.kind == Kind::Ambig && self.flags & C != 0
    }
}

pub(crate) struct NameFinder {
    /// sorted by name (the file is sorted); binary search keeps `Redactor::new` fast
    names: Vec<(&'static str, u8)>,
    stop: HashSet<&'static str>,
}

fn parse_flags(f: &str) -> u8 {
    f.bytes().fold(0, |acc, b| {
        acc | match b {
            b'F' => F,
            b'L' => L,
            b'C' => C,
            b'A' => A,
            b'X' => X,
            b'G' => G,
            _ => 0,
        }
    })
}

impl NameFinder {
    pub(crate) fn new() -> NameFinder {
        let mut names: Vec<(&'static str, u8)> = NAMES
            .lines()
            .filter_map(|l| {
                let (n, f) = l.split_once('\t')?;
                Some((n, parse_flags(f)))
            })
            .collect();
        if !names.is_sorted_by(|a, b| a.0 < b.0) {
            names.sort_unstable_by(|a, b| a.0.cmp(b.0));
            names.dedup_by(|a, b| a.0 == b.0);
        }
        NameFinder { names, stop: STOP.iter().copied().collect() }
    }

    fn get(&self, k: &str) -> Option<u8> {
        self.names.binary_search_by(|(n, _)| (*n).cmp(k)).ok().map(|i| self.names[i].1)
    }

    fn in_lex(&self, k: &str) -> Option<Kind> {
        self.get(k).map(|f| {
            if f & X != 0 {
                Kind::Stop
            } else if f & A != 0 {
                Kind::Ambig
            } else {
                Kind::Strong
            }
        })
    }

    fn flags_of(&self, key: &str) -> u8 {
        if let Some(f) = self.get(key) {
            return f;
        }
        let mut acc = 0;
        for part in key.split(['-', '\'']) {
            acc |= self.get(part).unwrap_or(0);
        }
        let joined: String = key.chars().filter(|c| *c != '\'').collect();
        acc | self.get(joined.as_str()).unwrap_or(0)
    }

    fn classify(&self, key: &str, raw: &str, case: Case) -> Kind {
        let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 1 && matches!(case, Case::Upper | Case::Title) {
            return Kind::Initial;
        }
        if self.stop.contains(key)
            || key.ends_with("n't")
            || key.ends_with("'re")
            || key.ends_with("'ve")
            || key.ends_with("'ll")
            || key.ends_with("'m")
            || key.ends_with("'d")
        {
            return Kind::Stop;
        }
        if PARTICLES.contains(&key) {
            return Kind::Particle;
        }
        if let Some(k) = self.in_lex(key) {
            return k;
        }
        // O'Brien, D'Souza, Mc/Mac forms
        if let Some(rest) = key.strip_prefix("o'").or_else(|| key.strip_prefix("d'")).or_else(|| key.strip_prefix("o’"))
            && rest.len() >= 2
        {
            return Kind::Strong;
        }
        if key.contains('-') {
            let parts: Vec<Kind> =
                key.split('-').filter(|p| !p.is_empty()).map(|p| self.in_lex(p).unwrap_or(Kind::Unknown)).collect();
            if parts.contains(&Kind::Strong) && parts.iter().all(|k| *k != Kind::Unknown) {
                return Kind::Strong;
            }
            if parts.iter().all(|k| *k == Kind::Ambig) {
                return Kind::Ambig;
            }
        }
        if key.contains('\'') || key.contains('’') {
            let joined: String = key.chars().filter(|c| *c != '\'' && *c != '’').collect();
            if let Some(k) = self.in_lex(&joined) {
                return k;
            }
        }
        Kind::Unknown
    }

    fn tokenize(&self, text: &str) -> Vec<Tok> {
        let mut toks = Vec::new();
        let bytes = text.as_bytes();
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            if !c.is_alphabetic() {
                continue;
            }
            // token must not be glued to a digit (4W, WOW22)
            let glued_before =
                text[..i].chars().next_back().is_some_and(|p| p.is_ascii_digit() || p == '_' || p == '@');
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if d.is_alphabetic() || is_mark(d) {
                    end = j + d.len_utf8();
                    iter.next();
                } else if matches!(d, '\'' | '’' | '-') {
                    let after = text[j + d.len_utf8()..].chars().next();
                    if after.is_some_and(char::is_alphabetic) {
                        end = j + d.len_utf8();
                        iter.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            let glued_after =
                text[end..].chars().next().is_some_and(|n| n.is_ascii_digit() || n == '_' || n == '@' || n == '/');
            let raw_full = &text[i..end];
            let mut tok_end = end;
            let mut possessive = false;
            for suf in ["'s", "’s", "'S", "’S"] {
                if raw_full.len() > suf.len() + 1 && raw_full.ends_with(suf) {
                    tok_end = end - suf.len();
                    possessive = true;
                    break;
                }
            }
            let mut after_quote = text[end..].chars();
            if !possessive
                && raw_full.len() > 2
                && raw_full.ends_with(['s', 'S'])
                && matches!(after_quote.next(), Some('\'' | '’'))
                && !after_quote.next().is_some_and(char::is_alphabetic)
            {
                possessive = true; // Rivers' husband
            }
            let raw = &text[i..tok_end];
            let case = case_of(raw);
            let mut key = fold(raw);
            // "St." particle keeps its period in the key
            if key == "st" && bytes.get(tok_end) == Some(&b'.') {
                key = "st.".to_string();
            }
            let kind = if glued_before || glued_after { Kind::Stop } else { self.classify(&key, raw, case) };
            let flags = match kind {
                Kind::Strong | Kind::Ambig => {
                    let f = self.flags_of(&key);
                    // O'Brien-style names missing from the lists count as family names
                    if f & (F | L) == 0 { L } else { f }
                }
                _ => 0,
            };
            toks.push(Tok { start: i, end: tok_end, key, case, kind, flags, possessive });
        }
        toks
    }

    pub(crate) fn find(&self, text: &str, known: &Known, hits: &mut Hits) {
        let toks = self.tokenize(text);
        let n = toks.len();
        let mut is_name = vec![false; n];

        // known names of the chart's patient: every part, any case
        let mut known_keys: HashSet<String> = HashSet::new();
        for name in &known.names {
            for part in name.split(|c: char| c.is_whitespace() || c == ',') {
                let k = fold(part.trim_matches(|c: char| !c.is_alphanumeric()));
                if k.chars().count() >= 2 && !PARTICLES.contains(&k.as_str()) {
                    known_keys.insert(k);
                }
            }
        }

        // runs of adjacent tokens that could form one name
        let mut i = 0;
        while i < n {
            let run_end = self.run_end(text, &toks, i);
            if run_end > i {
                self.judge_run(text, &toks, i, run_end, &mut is_name);
                i = run_end;
            } else {
                i += 1;
            }
        }

        // propagate: a token that was a name once is a name everywhere in the message
        let mut keys: HashSet<&str> = HashSet::new();
        for (t, _) in toks.iter().zip(&is_name).filter(|(t, n)| **n && t.key.chars().count() >= 3) {
            if matches!(t.kind, Kind::Strong | Kind::Ambig | Kind::Unknown) {
                keys.insert(t.key.as_str());
            }
        }
        let mut extra = vec![false; n];
        for (j, t) in toks.iter().enumerate() {
            if !is_name[j] && (keys.contains(t.key.as_str()) || known_keys.contains(&t.key)) && t.kind != Kind::Particle
            {
                extra[j] = true;
            }
        }
        for (j, e) in extra.into_iter().enumerate() {
            if e {
                is_name[j] = true;
                // initial right before a known/propagated family name ("J. Smith")
                if j > 0 && toks[j - 1].kind == Kind::Initial && gap_ok(text, &toks[j - 1], &toks[j]) {
                    is_name[j - 1] = true;
                }
            }
        }

        // emit spans, joining adjacent name tokens (keeps "Last, First" and "St. Clair" as one span)
        let mut j = 0;
        while j < n {
            if !is_name[j] {
                j += 1;
                continue;
            }
            let start = toks[j].start;
            let mut end = toks[j].end;
            let mut k = j + 1;
            while k < n && is_name[k] && joinable(text, &toks[k - 1], &toks[k]) {
                end = toks[k].end;
                k += 1;
            }
            // "St." keeps its period
            if text[end..].starts_with('.') && toks[k - 1].key == "st." {
                end += 1;
            }
            hits.add(start, end, PhiLabel::Name);
            j = k;
        }
    }

    /// End (exclusive) of the run of name-capable tokens starting at `i`.
    fn run_end(&self, text: &str, toks: &[Tok], i: usize) -> usize {
        let t = &toks[i];
        if t.kind == Kind::Stop {
            return i;
        }
        // a leading particle ("de la Cruz") takes the case of the first real name token
        let lead = toks[i..].iter().take(4).find(|u| u.kind != Kind::Particle);
        let lower = lead.map_or(t.case, |u| u.case) == Case::Lower;
        let mut j = i;
        while j < toks.len() {
            let u = &toks[j];
            let ok = match u.kind {
                Kind::Stop => false,
                Kind::Particle => true,
                Kind::Initial => !lower,
                Kind::Unknown => !lower && matches!(u.case, Case::Title | Case::Upper),
                Kind::Strong | Kind::Ambig => {
                    if lower {
                        u.case == Case::Lower
                    } else {
                        matches!(u.case, Case::Title | Case::Upper)
                    }
                }
            };
            if !ok || (j > i && !gap_ok(text, &toks[j - 1], u)) {
                break;
            }
            j += 1;
            if u.possessive || j - i >= 5 {
                break;
            }
        }
        // trailing particles never end a name
        while j > i && toks[j - 1].kind == Kind::Particle {
            j -= 1;
        }
        j
    }

    /// Context before token `i`: (honorific like Dr./Mr., strong trigger like pt/daughter, weak trigger like for/with).
    fn trigger_before(&self, text: &str, toks: &[Tok], i: usize) -> (bool, bool, bool) {
        if i == 0 {
            return (false, false, false);
        }
        let p = &toks[i - 1];
        let gap = &text[p.end..toks[i].start];
        if gap.contains(['\n', ';', '(', ')']) || gap.trim().len() > 2 {
            return (false, false, false);
        }
        let key = p.key.trim_end_matches('.');
        let honor = (HONORIFICS.contains(&key) || RELATIVES.contains(&key)) && !p.possessive;
        let pkey = if p.possessive { format!("{key}'s") } else { key.to_string() };
        let strong = honor || STRONG_TRIGGERS.contains(&pkey.as_str());
        let this_is = key == "is" && i >= 2 && matches!(toks[i - 2].key.as_str(), "this" | "name" | "it's" | "am");
        let weak = strong
            || this_is
            || WEAK_TRIGGERS.contains(&key) && !gap.contains(['.', ':', ','])
            || (i >= 2 && key == "of" && STRONG_TRIGGERS.contains(&toks[i - 2].key.as_str()));
        (honor, strong, weak)
    }

    fn judge_run(&self, text: &str, toks: &[Tok], i: usize, j: usize, is_name: &mut [bool]) {
        let run = &toks[i..j];
        let len = j - i;
        let lower = run.iter().find(|t| t.kind != Kind::Particle).is_some_and(|t| t.case == Case::Lower);
        let strong = run.iter().filter(|t| t.kind == Kind::Strong).count();
        let amb = run.iter().filter(|t| t.kind == Kind::Ambig).count();
        let common = run.iter().filter(|t| t.common()).count();
        let unknown = run.iter().filter(|t| t.kind == Kind::Unknown).count();
        let words: Vec<&Tok> =
            run.iter().filter(|t| matches!(t.kind, Kind::Strong | Kind::Ambig | Kind::Unknown)).collect();
        let first_last = words.first().is_some_and(|t| t.first()) && words.last().is_some_and(|t| t.last());
        let (honor, st, wk) = self.trigger_before(text, toks, i);
        let mut mark = |from: usize, to: usize| {
            for f in is_name.iter_mut().take(to).skip(from) {
                *f = true;
            }
        };

        // LAST, FIRST [M]: the run, a comma, then another run
        if !lower && !run[len - 1].possessive && j < toks.len() {
            let gap = &text[toks[j - 1].end..toks[j].start];
            if gap.trim() == "," && !gap.contains('\n') {
                let k = self.run_end(text, toks, j);
                let state_code = toks[j].case == Case::Upper && toks[j].key.len() == 2 && k == j + 1;
                if k > j
                    && toks[j].case != Case::Lower
                    && toks[j].kind != Kind::Initial
                    && k - j <= 3
                    && len <= 4
                    && !state_code
                {
                    let right = &toks[j..k];
                    let rs = right.iter().filter(|t| t.kind == Kind::Strong).count();
                    let rc = right.iter().filter(|t| t.common()).count();
                    let r_first = right.first().is_some_and(|t| t.first() || t.kind == Kind::Unknown);
                    let l_last = words.last().is_some_and(|t| t.last() || t.kind == Kind::Unknown);
                    let r_given = right.first().is_some_and(|t| t.common() && t.first());
                    let ok = strong + rs >= 1 && r_first && l_last
                        || wk && common + rc >= 1
                        || unknown >= 1 && common == 0 && r_given && words.iter().all(|t| t.key.chars().count() >= 4)
                        || common >= 1 && rc >= 1 && r_first && l_last;
                    if ok {
                        mark(i, k);
                        return;
                    }
                }
            }
        }

        let accept = if lower {
            let all_lex = run.iter().all(|t| matches!(t.kind, Kind::Strong | Kind::Ambig | Kind::Particle));
            let cue_after = self.cue_after(text, toks, j);
            let ctx = wk || cue_after || sentence_start(text, run[0].start);
            all_lex
                && (len >= 2 && strong >= 1 && common == words.len() && first_last && ctx
                    || (st
                        || wk
                        || to_before(text, toks, i)
                        || self.staff_cue(text, toks, j)
                        || paren_age_after(text, toks[j - 1].end)
                        || sentence_start(text, run[0].start) && text[toks[j - 1].end..].starts_with(','))
                        && words.len() == 2
                        && common == 2
                        && first_last
                        && words[0].flags & G != 0
                        && words[1].flags & (C | L) == C | L
                    || st && len == 1 && strong == 1 && run[0].key.chars().count() >= 3
                    || wk && len == 1 && strong == 1 && run[0].first() && run[0].key.chars().count() >= 4)
        } else {
            let single = len == 1;
            let klen = run[0].key.chars().count();
            strong >= 1 && !single
                || single && strong == 1 && run[0].case == Case::Title && klen >= 3
                || single && strong == 1 && run[0].case == Case::Upper && klen >= 4
                || honor && words.iter().all(|t| t.key.chars().count() >= 2) && !words.is_empty()
                || st && common >= 1 && words.iter().all(|t| t.key.chars().count() >= 3)
                || wk && (common >= 2 && first_last || common >= 1 && unknown >= 1)
                || wk
                    && single
                    && run[0].common()
                    && run[0].first()
                    && run[0].case == Case::Title
                    && klen >= 3
                    && !sentence_start(text, run[0].start)
                || words.len() >= 2
                    && common == words.len()
                    && words[0].flags & G != 0
                    && words[words.len() - 1].flags & (C | L) == C | L
                || (wk || to_before(text, toks, i) || self.staff_cue(text, toks, j))
                    && words.len() == 2
                    && words[0].common()
                    && words[0].first()
                    && words[1].kind == Kind::Unknown
                    && words[1].key.chars().count() >= 4
                || !single
                    && amb >= 2
                    && common == words.len()
                    && first_last
                    && (!sentence_start(text, run[0].start) || self.staff_cue(text, toks, j))
                || run[len - 1].possessive && common >= 1 && run[0].first() && self.relation_after(text, toks, j)
        };
        // lower-case given name + family name missing from the lexicons ("ahmed lindqvist"), with context
        if lower
            && len == 1
            && run[0].kind == Kind::Strong
            && run[0].first()
            && let Some(nx) = toks.get(j)
            && (st || wk || sentence_start(text, run[0].start) || self.staff_cue(text, toks, j + 1))
            && nx.kind == Kind::Unknown
            && nx.case == Case::Lower
            && nx.key.chars().count() >= 4
            && gap_ok(text, &run[0], nx)
        {
            mark(i, j + 1);
            return;
        }
        if accept {
            // an initial alone is not a name
            if run.iter().all(|t| matches!(t.kind, Kind::Initial | Kind::Particle)) {
                return;
            }
            mark(i, j);
        }
    }

    fn staff_cue(&self, text: &str, toks: &[Tok], j: usize) -> bool {
        toks.get(j).is_some_and(|t| {
            STAFF_CUE.contains(&t.key.as_str()) && text[toks[j - 1].end..t.start].chars().all(|c| c == ' ' || c == ',')
        })
    }

    fn cue_after(&self, text: &str, toks: &[Tok], j: usize) -> bool {
        let end = toks[j - 1].end;
        let rest = &text[end..];
        if toks[j - 1].possessive {
            return true;
        }
        let rest_t = rest.trim_start_matches(' ');
        if rest_t.is_empty() || rest_t.starts_with([',', '(', '.', ';', ':', '—', '-', '!', '?']) {
            return true;
        }
        toks.get(j).is_some_and(|t| CUE_AFTER.contains(&t.key.as_str()) && text[end..t.start].trim().is_empty())
    }

    fn relation_after(&self, _text: &str, toks: &[Tok], j: usize) -> bool {
        toks.get(j).is_some_and(|t| RELATION_AFTER.contains(&t.key.as_str()))
    }
}

/// "april long (78F)": a name followed by an age/sex note.
fn paren_age_after(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start_matches(' ');
    rest.starts_with('(') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
}

fn to_before(text: &str, toks: &[Tok], i: usize) -> bool {
    i > 0 && toks[i - 1].key == "to" && text[toks[i - 1].end..toks[i].start].trim().is_empty()
}

fn sentence_start(text: &str, pos: usize) -> bool {
    let head = text[..pos].trim_end();
    head.is_empty() || head.ends_with(['.', '!', '?', ':', '\n', '—', '-', ';'])
}

/// Tokens are adjacent inside one name: only spaces, or a period after an initial / "St".
fn gap_ok(text: &str, a: &Tok, b: &Tok) -> bool {
    let gap = &text[a.end..b.start];
    if gap.is_empty() || gap.len() > 3 {
        return false;
    }
    if a.possessive {
        return false;
    }
    if gap.chars().all(|c| c == ' ') {
        return true;
    }
    (a.kind == Kind::Initial || a.key == "st.") && (gap == ". " || gap == ".")
}

fn joinable(text: &str, a: &Tok, b: &Tok) -> bool {
    if a.possessive {
        return false;
    }
    let gap = &text[a.end..b.start];
    gap.len() <= 3 && gap.chars().all(|c| c == ' ' || c == ',' || c == '.') && gap.matches(',').count() <= 1
}

fn is_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

fn case_of(raw: &str) -> Case {
    let letters: Vec<char> = raw.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.is_empty() {
        return Case::Other;
    }
    if letters.iter().all(|c| !c.is_lowercase()) {
        return if letters.len() == 1 { Case::Title } else { Case::Upper };
    }
    if letters.iter().all(|c| !c.is_uppercase()) {
        return Case::Lower;
    }
    if letters[0].is_uppercase() {
        return Case::Title; // McAllister, O'Brien, DeShawn
    }
    Case::Other
}

/// Lower-case and strip common Latin diacritics (José → jose, Nguyễn → nguyen, Müller → muller).
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        if is_mark(c) {
            continue;
        }
        let l = c.to_lowercase().next().unwrap_or(c);
        let base = match l {
            'à'..='å' | 'ā' | 'ă' | 'ą' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ' | 'ẫ' | 'ậ' | 'ắ' | 'ằ' | 'ẳ' | 'ẵ' | 'ặ' => {
                'a'
            }
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => 'c',
            'ď' | 'đ' => 'd',
            'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'ẹ' | 'ẻ' | 'ẽ' | 'ế' | 'ề' | 'ể' | 'ễ' | 'ệ' => {
                'e'
            }
            'ì'..='ï' | 'ī' | 'į' | 'ı' | 'ỉ' | 'ị' | 'ĩ' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò'..='ö'
            | 'ø'
            | 'ō'
            | 'ő'
            | 'ơ'
            | 'ọ'
            | 'ỏ'
            | 'ố'
            | 'ồ'
            | 'ổ'
            | 'ỗ'
            | 'ộ'
            | 'ớ'
            | 'ờ'
            | 'ở'
            | 'ỡ'
            | 'ợ' => 'o',
            'ù'..='ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'ư' | 'ụ' | 'ủ' | 'ứ' | 'ừ' | 'ử' | 'ữ' | 'ự' | 'ũ' => {
                'u'
            }
            'ý' | 'ÿ' | 'ỳ' | 'ỷ' | 'ỹ' | 'ỵ' => 'y',
            'ś' | 'š' | 'ş' => 's',
            'ź' | 'ż' | 'ž' => 'z',
            'ł' => 'l',
            'ř' => 'r',
            'ť' | 'ţ' => 't',
            'ğ' => 'g',
            '’' => '\'',
            'ß' => {
                out.push_str("ss");
                continue;
            }
            other => other,
        };
        out.push(base);
    }
    out
}
