//! Verification of rule matches: context tests that a regular expression
//! cannot express without look-around, and value parsing for vitals and labs
//! (which may promote a match to an urgent signal).

use regex::bytes::Regex;

use super::lexicon::{TAG_DRUG, TAG_FIND, TAG_IT, TAG_STATE};
use super::normalize::{DECIMAL, is_word};
use super::rules::Check;

/// Everything a check may look at.
pub(super) struct Ctx<'a> {
    pub lower: &'a [u8],
    pub tagged: &'a [u8],
    /// Clause boundaries (see `Detector::clauses`).
    pub clauses: &'a [usize],
    pub howto: &'a Regex,
}

impl Ctx<'_> {
    pub(super) fn clause_of(&self, pos: usize) -> usize {
        match self.clauses.binary_search(&pos) {
            Ok(i) => i.min(self.clauses.len().saturating_sub(2)),
            Err(i) => i.saturating_sub(1),
        }
    }

    fn clause_span(&self, pos: usize) -> (usize, usize) {
        let i = self.clause_of(pos);
        let s = self.clauses.get(i).copied().unwrap_or(0);
        let e = self.clauses.get(i + 1).copied().unwrap_or(self.lower.len()).min(self.lower.len());
        (s.min(e), e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Reject,
    Keep,
    /// Keep, and also emit an urgent signal with this rule name.
    Urgent(&'static str),
}

pub(super) fn run(check: Check, ctx: &Ctx<'_>, s: usize, e: usize) -> Verdict {
    let keep = |ok: bool| if ok { Verdict::Keep } else { Verdict::Reject };
    match check {
        Check::None => Verdict::Keep,
        Check::Decision => keep(!after_how(ctx, s) && !it_object_follows(ctx, e)),
        Check::NotDeviceSubject => keep(!device_subject(ctx, s)),
        Check::NotAdmin => keep(!admin_clause(ctx, s, e)),
        Check::NotAsleep => keep(!next_words(ctx.lower, e, 1).starts_with("asleep")),
        Check::HowtoFrame => keep(!CLINICAL_HOW_VERBS.contains(&next_words(ctx.lower, e, 1).as_str())),
        Check::NotInHowto => {
            let (cs, ce) = ctx.clause_span(s);
            keep(!ctx.howto.is_match(&ctx.lower[cs..ce]))
        }
        Check::LabValue => lab_value(ctx, s, e),
        Check::Bp => bp(ctx, s, e),
        Check::Hr => hr(ctx, s, e),
        Check::Sat => vital_range(ctx, s, e, 40.0, 100.0, |v| v <= 87.0, "urgent.vital_sat"),
        Check::Rr => vital_range(ctx, s, e, 4.0, 80.0, |v| v >= 35.0 || v <= 8.0, "urgent.vital_rr"),
        Check::Temp => temp(ctx, s, e),
        Check::Map => vital_range(ctx, s, e, 20.0, 200.0, |v| v < 50.0, "urgent.vital_map"),
        Check::Inability => keep(!inability_is_clinical(ctx, s, e)),
        Check::NotClinicalAccess => keep(!clinical_access(ctx, s, e)),
        Check::MalfunctionSubject => keep(!clinical_subject(ctx, s)),
        Check::RelayNotHowto => keep(!relay_is_howto(ctx, e)),
        Check::PatientRef => keep(!NOT_PATIENT_NEXT.contains(&next_words(ctx.lower, e, 1).as_str())),
        Check::CodeEvent => keep(!admin_clause(ctx, s, e) && !device_only_clause(ctx, s, e)),
        Check::Dose => keep(!network_generation(ctx, s, e)),
    }
}

/// Verbs that make "how do I …" a clinical question rather than an EHR how-to.
const CLINICAL_HOW_VERBS: &[&str] = &[
    "interpret",
    "treat",
    "manage",
    "correct",
    "dose",
    "titrate",
    "calculate",
    "convert",
    "dilute",
    "mix",
    "give",
    "administer",
    "push",
    "hang",
    "wean",
    "taper",
    "replace",
    "replete",
    "reverse",
    "approach",
    "handle",
    "decide",
    "crush",
    "premedicate",
    "transfuse",
    "bolus",
    "adjust",
];

/// The next `n` words after `pos`, joined by single spaces.
fn next_words(text: &[u8], pos: usize, n: usize) -> String {
    let mut out = String::new();
    let mut i = pos;
    for _ in 0..n {
        while i < text.len() && !is_word(text[i]) {
            i += 1;
        }
        let s = i;
        while i < text.len() && (is_word(text[i]) || text[i] == b'\'') {
            i += 1;
        }
        if s == i {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&String::from_utf8_lossy(&text[s..i]));
    }
    out
}

/// The word that ends just before `pos`.
fn prev_word(text: &[u8], pos: usize) -> &[u8] {
    let mut i = pos.min(text.len());
    while i > 0 && !is_word(text[i - 1]) {
        i -= 1;
    }
    let e = i;
    while i > 0 && (is_word(text[i - 1]) || text[i - 1] == b'\'') {
        i -= 1;
    }
    &text[i..e]
}

fn window(text: &[u8], s: usize, e: usize) -> &[u8] {
    &text[s.min(text.len())..e.min(text.len())]
}

fn contains_any(hay: &[u8], needles: &[&str]) -> bool {
    needles.iter().any(|n| contains_word(hay, n.as_bytes()))
}

/// Substring search with word boundaries at both ends of the needle.
fn contains_word(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() || hay.len() < needle.len() {
        return false;
    }
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i..i + needle.len()] == *needle
            && (i == 0 || !is_word(hay[i - 1]))
            && (i + needle.len() == hay.len() || !is_word(hay[i + needle.len()]))
    })
}

fn after_how(ctx: &Ctx<'_>, s: usize) -> bool {
    matches!(prev_word(ctx.lower, s), b"how" | b"where")
}

fn it_object_follows(ctx: &Ctx<'_>, e: usize) -> bool {
    let w = window(ctx.lower, e, e + 24);
    contains_any(
        w,
        &["access", "rights", "permission", "permissions", "password", "login", "account", "a ticket", "through"],
    ) || window(ctx.tagged, e, e + 16).contains(&TAG_IT)
}

const DEVICE_WORDS: &[&str] = &[
    "screen",
    "touchscreen",
    "touch screen",
    "app",
    "system",
    "computer",
    "pc",
    "page",
    "website",
    "site",
    "program",
    "software",
    "scanner",
    "printer",
    "pump",
    "pyxis",
    "monitor",
    "phone",
    "device",
    "keyboard",
    "mouse",
    "tablet",
    "ipad",
    "iphone",
    "server",
    "terminal",
    "kiosk",
    "reader",
    "display",
    "wow",
    "laptop",
];

fn device_subject(ctx: &Ctx<'_>, s: usize) -> bool {
    let mut from = s.saturating_sub(30).max(ctx.clause_span(s).0);
    // A person named after the device word is the subject ("the password…, the patient in 4
    // is unresponsive"): only what follows the last person reference counts.
    let w = window(ctx.lower, from, s);
    if let Some(p) = PERSON_WORDS.iter().filter_map(|n| last_word(w, n.as_bytes())).max() {
        from += p;
    }
    window(ctx.tagged, from, s).contains(&TAG_IT) || contains_any(window(ctx.lower, from, s), DEVICE_WORDS)
}

const PERSON_WORDS: &[&str] = &["patient", "pt", "he", "she", "resident", "baby", "child", "mom", "dad"];

/// Byte offset of the last whole-word occurrence of `needle` in `hay`.
fn last_word(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).rev().find(|&i| {
        hay[i..i + needle.len()] == *needle
            && (i == 0 || !hay[i - 1].is_ascii_alphanumeric())
            && hay.get(i + needle.len()).is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

const ADMIN_WORDS: &[&str] = &[
    "document",
    "documenting",
    "documented",
    "documentation",
    "narrator",
    "broadcast",
    "group",
    "drill",
    "mock",
    "report",
    "order set",
    "template",
    "summary",
    "button",
    "training",
    "class",
    "certification",
    "course",
    "bls",
    "acls",
    "pals",
    "policy",
    "roster",
    "flowsheet",
    "how do i",
    "how to",
    "event system",
    "education",
    "cart check",
    "members",
    "list",
    "build",
    "smartphrase",
    "dashboard",
    "form",
    "bpa",
    "alert",
    "firing",
    "fires",
    "fired",
    "logic",
    "informatics",
    "order panel",
    "added to",
    "add",
    "stock",
    "restock",
    "override access",
    "removed from",
];

/// The clause around the match (the match itself excluded) is about
/// documenting, building or configuring something.
fn admin_clause(ctx: &Ctx<'_>, s: usize, e: usize) -> bool {
    let (cs, ce) = ctx.clause_span(s);
    contains_any(window(ctx.lower, cs, s), ADMIN_WORDS) || contains_any(window(ctx.lower, e, ce), ADMIN_WORDS)
}

/// Words after "the patient" that make it an IT thing ("patient portal").
const NOT_PATIENT_NEXT: &[&str] = &[
    "portal",
    "list",
    "lists",
    "label",
    "labels",
    "education",
    "record",
    "id",
    "wristband",
    "friendly",
    "access",
    "experience",
    "advocate",
    "relations",
    "registration",
    "transport",
    "sticker",
    "stickers",
    "banner",
    "header",
    "information",
    "info",
    "lookup",
    "search",
    "census",
    "app",
    "handouts",
    "handout",
    "summary",
    "column",
];

/// A code / rapid-response phrase in a clause about a device or system, with
/// no patient, room or vital mentioned anywhere ("rapid response team calls
/// don't ring through on vocera").
fn device_only_clause(ctx: &Ctx<'_>, s: usize, e: usize) -> bool {
    let (cs, ce) = ctx.clause_span(s);
    let it_here = window(ctx.tagged, cs, ce).contains(&TAG_IT);
    if !it_here {
        return false;
    }
    let _ = e;
    let patient = contains_any(
        ctx.lower,
        &[
            "pt",
            "patient",
            "rm",
            "room",
            "bed",
            "bay",
            "he",
            "she",
            "him",
            "her",
            "baby",
            "now",
            "stat",
            "asap",
            "bp",
            "hr",
            "sats",
            "sat",
            "unresponsive",
            "help",
        ],
    ) || ctx.tagged.iter().any(|&b| b == TAG_STATE || b == TAG_FIND);
    !patient
}

/// Numbers (integer or decimal) in a byte slice.
fn numbers(text: &[u8]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let s = i;
            while i < text.len() && (text[i].is_ascii_digit() || matches!(text[i], b'.' | b',' | DECIMAL)) {
                i += 1;
            }
            let raw: String = text[s..i]
                .iter()
                .filter(|&&b| b != b',')
                .map(|&b| if b == DECIMAL { '.' } else { b as char })
                .collect();
            if let Ok(v) = raw.trim_end_matches('.').parse::<f32>() {
                out.push(v);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A digit (optionally followed by spaces) just before `s`: the word at `s` is a unit.
fn digit_before(text: &[u8], s: usize) -> bool {
    let mut i = s;
    while i > 0 && text[i - 1] == b' ' {
        i -= 1;
    }
    i > 0 && text[i - 1].is_ascii_digit()
}

const GLUCOSE_WORDS: &[&str] = &[
    "bg",
    "bgl",
    "fsbg",
    "cbg",
    "glucose",
    "blood sugar",
    "blood sugars",
    "sugar",
    "sugars",
    "accucheck",
    "fingerstick",
];

fn lab_value(ctx: &Ctx<'_>, s: usize, e: usize) -> Verdict {
    if digit_before(ctx.lower, s) {
        return Verdict::Reject;
    }
    let slice = window(ctx.lower, s, e);
    let Some(&v) = numbers(slice).last() else { return Verdict::Reject };
    let name_end = slice.iter().position(|b| b.is_ascii_digit() || *b == b' ').unwrap_or(slice.len());
    let name = &slice[..name_end];
    let range: Option<(f32, f32)> = match name {
        b"k" => Some((1.0, 10.0)),
        b"na" => Some((95.0, 200.0)),
        b"mg" => Some((0.3, 6.0)),
        b"ca" => Some((3.0, 16.0)),
        b"cl" => Some((60.0, 150.0)),
        b"ph" => Some((6.5, 8.0)),
        b"cr" => Some((0.1, 25.0)),
        b"hb" | b"hgb" => Some((1.5, 25.0)),
        b"ef" => Some((5.0, 85.0)),
        b"le" | b"mb" | b"ua" => Some((0.0, 1000.0)),
        _ => None,
    };
    if let Some((lo, hi)) = range
        && !(lo..=hi).contains(&v)
    {
        return Verdict::Reject;
    }
    let is_glucose = GLUCOSE_WORDS.iter().any(|g| slice.starts_with(g.as_bytes()));
    if is_glucose && v > 0.0 && (v <= 45.0 || v > 600.0) {
        return Verdict::Urgent("urgent.lab_glucose");
    }
    Verdict::Keep
}

fn bp(ctx: &Ctx<'_>, s: usize, e: usize) -> Verdict {
    let slice = window(ctx.lower, s, e);
    let nums = numbers(slice);
    if nums.len() < 2 {
        return Verdict::Reject;
    }
    let (sys, dia) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    let prefixed = slice.first().is_some_and(|b| b.is_ascii_alphabetic());
    let plausible = (50.0..=300.0).contains(&sys) && (20.0..=200.0).contains(&dia) && sys >= dia + 10.0;
    if !plausible || (!prefixed && sys < 80.0) {
        return Verdict::Reject;
    }
    if !(80.0..220.0).contains(&sys) || dia >= 130.0 { Verdict::Urgent("urgent.vital_bp") } else { Verdict::Keep }
}

fn hr(ctx: &Ctx<'_>, s: usize, e: usize) -> Verdict {
    if digit_before(ctx.lower, s) {
        return Verdict::Reject;
    }
    vital_range(ctx, s, e, 20.0, 300.0, |v| !(40.0..=170.0).contains(&v), "urgent.vital_hr")
}

fn vital_range(
    ctx: &Ctx<'_>,
    s: usize,
    e: usize,
    lo: f32,
    hi: f32,
    urgent: impl Fn(f32) -> bool,
    name: &'static str,
) -> Verdict {
    let Some(&v) = numbers(window(ctx.lower, s, e)).last() else { return Verdict::Reject };
    if !(lo..=hi).contains(&v) {
        return Verdict::Reject;
    }
    if urgent(v) { Verdict::Urgent(name) } else { Verdict::Keep }
}

fn temp(ctx: &Ctx<'_>, s: usize, e: usize) -> Verdict {
    let Some(&v) = numbers(window(ctx.lower, s, e)).last() else { return Verdict::Reject };
    if (34.0..=43.5).contains(&v) {
        if v >= 40.5 { Verdict::Urgent("urgent.vital_temp") } else { Verdict::Keep }
    } else if (93.0..=110.0).contains(&v) {
        if v >= 105.0 || v <= 94.0 { Verdict::Urgent("urgent.vital_temp") } else { Verdict::Keep }
    } else {
        Verdict::Reject
    }
}

const CLINICAL_OBJECTS: &[&str] = &[
    "pulse",
    "vein",
    "veins",
    "bp",
    "blood pressure",
    "heart rate",
    "iv",
    "line",
    "him",
    "her",
    "pt",
    "patient",
    "baby",
    "urine",
    "output",
    "bladder",
    "airway",
    "cords",
    "pressure",
    "sat",
    "sats",
    "reading on her",
];

fn inability_is_clinical(ctx: &Ctx<'_>, s: usize, e: usize) -> bool {
    let after = window(ctx.lower, e, e + 20);
    if contains_any(after, CLINICAL_OBJECTS) {
        return true;
    }
    // "pt can't see" is a symptom, unless an IT object follows ("pt can't see her results in MyChart").
    let before = window(ctx.lower, s.saturating_sub(12), s);
    contains_any(before, &["pt", "patient", "he", "she", "baby", "he's", "she's", "mom", "dad"])
        && !window(ctx.tagged, e, e + 40).contains(&TAG_IT)
}

fn clinical_access(ctx: &Ctx<'_>, s: usize, e: usize) -> bool {
    let w = window(ctx.lower, s.saturating_sub(14), e + 6);
    contains_any(
        w,
        &[
            "iv access",
            "central access",
            "peripheral access",
            "vascular access",
            "io access",
            "venous access",
            "picc access",
            "line access",
            "port access",
            "piv access",
            "ultrasound guided",
            "access site",
        ],
    )
}

/// The subject of a generic malfunction phrase is clinical ("the lasix isn't
/// working", "bp is down", "pt not responding").
fn clinical_subject(ctx: &Ctx<'_>, s: usize) -> bool {
    let from = s.saturating_sub(30);
    let tags = window(ctx.tagged, from, s);
    if let Some(&last) = tags.iter().rev().find(|&&b| b < 0x20) {
        if last != TAG_IT {
            return true;
        }
    } else if tags.contains(&TAG_DRUG) || tags.contains(&TAG_STATE) || tags.contains(&TAG_FIND) {
        return true;
    }
    let near = window(ctx.lower, s.saturating_sub(20), s);
    contains_any(
        near,
        &[
            "bp",
            "pressure",
            "pressures",
            "sats",
            "sat",
            "hr",
            "heart rate",
            "sugar",
            "sugars",
            "glucose",
            "map",
            "hgb",
            "output",
            "uop",
            "pt",
            "patient",
            "he",
            "she",
            "he's",
            "she's",
            "baby",
            "temp",
            "k",
            "potassium",
            "meds",
            "med",
            "medication",
            "pain",
        ],
    )
}

fn relay_is_howto(ctx: &Ctx<'_>, e: usize) -> bool {
    let last = prev_word(ctx.lower, e);
    let next = next_words(ctx.lower, e, 1);
    if last == b"how" && next == "to" {
        return true;
    }
    // "asking about her MyChart password": an IT object right after the cue.
    window(ctx.tagged, e, e + 24).contains(&TAG_IT) && !window(ctx.tagged, e, e + 24).contains(&TAG_DRUG)
}

fn network_generation(ctx: &Ctx<'_>, s: usize, e: usize) -> bool {
    let slice = window(ctx.lower, s, e);
    if !slice.ends_with(b"g") {
        return false;
    }
    let next = next_words(ctx.lower, e, 1);
    matches!(
        next.as_str(),
        "wifi"
            | "wi"
            | "network"
            | "band"
            | "lte"
            | "signal"
            | "phone"
            | "hz"
            | "ghz"
            | "cellular"
            | "coverage"
            | "connection"
            | "speed"
            | "data"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers() {
        assert_eq!(numbers(b"bp 78/40"), vec![78.0, 40.0]);
        assert_eq!(numbers(b"1,300 units"), vec![1300.0]);
        assert_eq!(numbers(b"k 5.9."), vec![5.9]);
        assert_eq!(numbers(b"k 5\x019"), vec![5.9]);
    }

    #[test]
    fn word_helpers() {
        assert_eq!(next_words(b"how do i  give the", 8, 2), "give the");
        assert_eq!(prev_word(b"how do i", 4), b"how");
        assert!(contains_word(b"the code narrator", b"narrator"));
        assert!(!contains_word(b"the codenarrator", b"narrator"));
    }
}
