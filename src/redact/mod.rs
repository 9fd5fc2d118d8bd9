//! PHI redaction: finds HIPAA Safe Harbor identifiers in free text and replaces them with `[LABEL]`.
//!
//! # Invariants
//! - Pure: no I/O, no clock, no randomness. Lexicons are compiled in (`include_str!`) and every
//!   pattern is compiled once in [`Redactor::new`]; a call is `&self` and deterministic.
//! - [`RedactedText`] can only be constructed here (private constructor), so a value of that type
//!   is proof the text went through [`Redactor::redact`]. `desk`, queues, logs and any future AI
//!   egress accept only `RedactedText`.
//! - Identifiers of the patient in chart context ([`Known`]) are redacted wherever they appear,
//!   in any common variant, whatever the generic rules would say.
//! - Over-redaction beats a leak: a long digit run is an identifier unless an allow-list
//!   explains it (tickets, rooms and beds, extensions, versions, doses with units, times, orders).
//!
//! Layers (all deterministic):
//! 1. identifiers of the patient in chart context ([`Known`]), matched in many variants;
//! 2. structured identifiers by regex + context (e-mail, URL, IP, phone, SSN, MBI, VIN, dates, ages 90+, addresses, places);
//! 3. names by lexicon + context ([`names`]);
//! 4. "redact unless allow-listed" for long digit runs and digit-bearing codes (tickets, rooms, extensions, versions,
//!    doses, times and order numbers are allowed).
//!
//! Lexicon sources, licences and the rebuild script: `lexicons/PROVENANCE.md`.

mod known;
mod names;
mod patterns;

use std::fmt;

/// Kind of identifier found. `as_str` gives the upper-case label used in the replacement (`[NAME]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhiLabel {
    Name,
    Date,
    Age,
    Mrn,
    Account,
    PlanId,
    Ssn,
    Phone,
    Fax,
    Email,
    Address,
    Location,
    Zip,
    Url,
    Ip,
    Device,
    License,
    Plate,
    Vehicle,
    Id,
}

impl PhiLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            PhiLabel::Name => "NAME",
            PhiLabel::Date => "DATE",
            PhiLabel::Age => "AGE",
            PhiLabel::Mrn => "MRN",
            PhiLabel::Account => "ACCOUNT",
            PhiLabel::PlanId => "PLAN_ID",
            PhiLabel::Ssn => "SSN",
            PhiLabel::Phone => "PHONE",
            PhiLabel::Fax => "FAX",
            PhiLabel::Email => "EMAIL",
            PhiLabel::Address => "ADDRESS",
            PhiLabel::Location => "LOCATION",
            PhiLabel::Zip => "ZIP",
            PhiLabel::Url => "URL",
            PhiLabel::Ip => "IP",
            PhiLabel::Device => "DEVICE",
            PhiLabel::License => "LICENSE",
            PhiLabel::Plate => "PLATE",
            PhiLabel::Vehicle => "VEHICLE",
            PhiLabel::Id => "ID",
        }
    }

    /// Lower number wins when two detectors cover the same text.
    fn rank(self) -> u8 {
        match self {
            PhiLabel::Id => 9,
            PhiLabel::Name => 5,
            PhiLabel::Location | PhiLabel::Zip => 4,
            _ => 1,
        }
    }
}

impl fmt::Display for PhiLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One identifier: `start..end` are BYTE offsets into the input text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PhiSpan {
    pub start: usize,
    pub end: usize,
    pub label: PhiLabel,
}

impl PhiSpan {
    /// The span as Unicode-scalar (char) offsets into `text` (the text the span was found in).
    pub fn char_span(&self, text: &str) -> (usize, usize) {
        let start = text.get(..self.start).map_or(0, |s| s.chars().count());
        let len = text.get(self.start..self.end).map_or(0, |s| s.chars().count());
        (start, start + len)
    }
}

/// Identifiers of the patient in chart context; always redacted wherever they appear, in any common variant.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Known {
    pub names: Vec<String>,
    pub mrns: Vec<String>,
    /// ISO `yyyy-mm-dd`.
    pub birth_dates: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<String>,
}

impl fmt::Debug for Known {
    /// Counts only: these are the patient's identifiers and must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Known")
            .field("names", &self.names.len())
            .field("mrns", &self.mrns.len())
            .field("birth_dates", &self.birth_dates.len())
            .field("phones", &self.phones.len())
            .field("addresses", &self.addresses.len())
            .finish()
    }
}

/// Redacted text plus the spans (byte offsets into the ORIGINAL text) that were replaced.
/// Only [`Redactor::redact`] builds one.
///
/// Nothing outside this module can forge one, so a function taking `RedactedText` cannot be
/// handed raw text:
///
/// ```compile_fail,E0451
/// let forged = chartdesk::redact::RedactedText { text: "Jane Roe MRN 12345678".into(), spans: vec![] };
/// ```
///
/// ```compile_fail,E0624
/// let forged = chartdesk::redact::RedactedText::new("Jane Roe".into(), vec![]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedText {
    text: String,
    spans: Vec<PhiSpan>,
}

impl RedactedText {
    fn new(text: String, spans: Vec<PhiSpan>) -> Self {
        RedactedText { text, spans }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// Spans in byte offsets of the original input.
    pub fn spans(&self) -> &[PhiSpan] {
        &self.spans
    }
    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Display for RedactedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RedactedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never print the original text or span contents
        f.debug_tuple("RedactedText").field(&self.text).finish()
    }
}

/// The engine. Build once (`Redactor::new()`), share freely (`Send + Sync`), call with `&self`.
pub struct Redactor {
    pats: patterns::Patterns,
    names: names::NameFinder,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor")
    }
}

/// Candidate span collector shared by the detectors.
pub(crate) struct Hits {
    pub(crate) spans: Vec<PhiSpan>,
}

impl Hits {
    pub(crate) fn add(&mut self, start: usize, end: usize, label: PhiLabel) {
        if end > start {
            self.spans.push(PhiSpan { start, end, label });
        }
    }
    pub(crate) fn covers(&self, start: usize, end: usize) -> bool {
        self.spans.iter().any(|s| s.start <= start && s.end >= end)
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor { pats: patterns::Patterns::new(), names: names::NameFinder::new() }
    }

    /// All identifiers in `text`, sorted, non-overlapping, byte offsets.
    pub fn find(&self, text: &str, known: &Known) -> Vec<PhiSpan> {
        let mut hits = Hits { spans: Vec::new() };
        known::find_known(text, known, &self.pats, &mut hits);
        self.pats.find_structured(text, &mut hits);
        self.names.find(text, known, &mut hits);
        self.ages_after_names(text, &mut hits);
        self.pats.find_generic_ids(text, &mut hits);
        merge(hits.spans, text)
    }

    /// "Imogen Ashby is 97", "Rosa Hill, 92,": an age of 90+ right after a name.
    fn ages_after_names(&self, text: &str, hits: &mut Hits) {
        let ends: Vec<usize> = hits.spans.iter().filter(|s| s.label == PhiLabel::Name).map(|s| s.end).collect();
        for end in ends {
            let Some(rest) = text.get(end..) else { continue };
            if let Some(g) = self.pats.age_after_name.captures(rest).and_then(|c| c.get(1))
                && let Ok(n) = g.as_str().parse::<u32>()
                && (90..=125).contains(&n)
            {
                hits.add(end + g.start(), end + g.end(), PhiLabel::Age);
            }
        }
    }

    pub fn redact(&self, text: &str, known: &Known) -> RedactedText {
        let spans = self.find(text, known);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for s in &spans {
            out.push_str(text.get(last..s.start).unwrap_or_default());
            out.push('[');
            out.push_str(s.label.as_str());
            out.push(']');
            last = s.end;
        }
        out.push_str(text.get(last..).unwrap_or_default());
        RedactedText::new(out, spans)
    }
}

/// Merge overlapping candidates; the better-ranked (then longer) label names the merged span.
fn merge(mut spans: Vec<PhiSpan>, text: &str) -> Vec<PhiSpan> {
    spans.retain(|s| {
        s.start < s.end && s.end <= text.len() && text.is_char_boundary(s.start) && text.is_char_boundary(s.end)
    });
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<PhiSpan> = Vec::with_capacity(spans.len());
    let mut best_len = 0usize;
    for s in spans {
        if let Some(last) = out.last_mut()
            && s.start < last.end
        {
            let len = s.end - s.start;
            if s.label.rank() < last.label.rank() || (s.label.rank() == last.label.rank() && len > best_len) {
                last.label = s.label;
                best_len = len;
            }
            last.end = last.end.max(s.end);
            continue;
        }
        best_len = s.end - s.start;
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Redactor>();
    }

    #[test]
    fn char_offsets() {
        let text = "Zoë — MRN 0012345678";
        let r = Redactor::new();
        let spans = r.find(text, &Known::default());
        let mrn = spans.iter().find(|s| s.label != PhiLabel::Name);
        let Some(mrn) = mrn else { panic!("no MRN span in {spans:?}") };
        assert_eq!(mrn.char_span(text), (10, 20));
    }
}
