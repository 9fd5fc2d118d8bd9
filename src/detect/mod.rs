//! Clinical-context detector for chartdesk.
//!
//! Decides whether a message typed into the service desk needs clinical
//! judgement (escalate to a clinician) or is an ordinary IT request, and gives
//! an IT category for every IT request (and for the IT part of a MIXED one).
//!
//! # Invariants
//!
//! * **Pure.** [`Detector::detect`] does no I/O, reads no clock or environment,
//!   and touches no global mutable state: the same text always gives the same
//!   [`Detection`]. Lexicons are compiled into the binary (`include_str!`).
//! * **Rules compiled once.** [`Detector::new`] parses the lexicons and compiles
//!   every rule into per-text prefilter sets (so a bad rule fails `new`, never
//!   `detect`). The regex that locates a rule's spans is compiled the first
//!   time the prefilter reports that rule, then cached for the detector's
//!   lifetime; nothing is ever recompiled. A `Detector` is `Send + Sync`:
//!   build it once and share it.
//! * **Urgent detection cannot be disabled.** Urgent rules (deterioration,
//!   codes, rapid response, unresponsive, airway, bleeding, stroke signs,
//!   self-harm, falls with injury, critical values nobody acted on, infusions
//!   at the wrong dose) are not weighted and are not subject to
//!   [`Tuning::threshold`]: an urgent match is always `Clinical { urgent: true }`,
//!   whatever IT framing the message also has.
//! * **Sensitivity has a floor.** The threshold can be lowered (more
//!   escalation) but never raised above [`Tuning::floor`]; `Detector::new`
//!   refuses such a tuning. Every single clinical-judgement signal weighs at
//!   least the floor, so a request for judgement escalates at any permitted
//!   threshold.
//! * **Any clinical judgement escalates, even inside an IT complaint.** IT
//!   framing ("how do I document", "won't print", "build request", login,
//!   printer...) discounts clinical *vocabulary* in the same clause, never a
//!   request for judgement: such a message routes `Clinical { Mixed }` and
//!   `it_part` names the IT category so the IT complaint can be ticketed too.
//! * **Ambiguous → clinical.** Clinical content with no IT framing (a lab value,
//!   a symptom, a drug, a patient report with no question) escalates.
//! * **Offsets are characters.** [`Signal::start`]/[`Signal::end`] are Unicode
//!   scalar offsets, end-exclusive, into the original text.

pub mod screened;
pub use screened::{ScreenError, Screened};

mod checks;
mod lexicon;
mod normalize;
mod rules;

use std::fmt;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Serialize;

use self::checks::{Ctx, Verdict};
use self::lexicon::{LexClass, Lexicon};
use self::rules::{Class, On, RULES, Topic};

/// Detector sensitivity.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    /// Score at or above which a message escalates. Lower = more sensitive.
    /// Must lie in `0.0..=Tuning::floor()`.
    pub threshold: f32,
    /// Extra clinical terms (e.g. local drug nicknames), matched like the
    /// curated shorthand lexicon.
    pub extra_terms: Vec<String>,
    /// Extra IT framing phrases (e.g. local system names). They discount
    /// clinical vocabulary in their clause; they never suppress a request for
    /// clinical judgement or an urgent signal.
    pub extra_it_framings: Vec<String>,
}

impl Default for Tuning {
    /// The shipped sensitivity.
    fn default() -> Self {
        Tuning { threshold: DEFAULT_THRESHOLD, extra_terms: Vec::new(), extra_it_framings: Vec::new() }
    }
}

impl Tuning {
    /// The least sensitive threshold allowed. [`Detector::new`] refuses a
    /// higher one.
    pub fn floor() -> f32 {
        rules::JW
    }
}

const DEFAULT_THRESHOLD: f32 = 1.0;
/// Clinical content inside an IT-framed clause counts this much.
const BOUND_FACTOR: f32 = 0.15;
/// Free clinical content needed before a generic question cue counts.
const CUE_GATE: f32 = 0.5;
/// Longest extra term accepted.
const MAX_TERM_CHARS: usize = 100;

/// Why a detector could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectError {
    /// Threshold not finite, negative, or above [`Tuning::floor`].
    Threshold { threshold: f32, floor: f32 },
    /// An extra term is empty, too long or has no letter or digit.
    InvalidTerm(String),
    /// A built-in lexicon could not be parsed (a build defect).
    Lexicon(String),
    /// A built-in rule could not be compiled (a build defect).
    Rule { name: &'static str, message: String },
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Threshold { threshold, floor } => write!(
                f,
                "detector threshold {threshold} is not allowed: it must be between 0 and the sensitivity floor {floor}"
            ),
            DetectError::InvalidTerm(t) => write!(f, "invalid extra term {t:?}"),
            DetectError::Lexicon(m) => write!(f, "lexicon error: {m}"),
            DetectError::Rule { name, message } => write!(f, "rule {name} failed to compile: {message}"),
        }
    }
}

impl std::error::Error for DetectError {}

/// Result of [`Detector::detect`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub route: Route,
    /// Clinical evidence score (urgent adds a large constant).
    pub score: f32,
    /// Every piece of evidence found, in text order.
    pub signals: Vec<Signal>,
    /// For a MIXED (or urgent) message that also carries an IT complaint: the
    /// IT category of that complaint, so it can be ticketed separately.
    pub it_part: Option<ItCategory>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Route {
    Clinical { category: ClinicalCategory, urgent: bool },
    It { category: ItCategory },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClinicalCategory {
    MedDose,
    MedInteraction,
    MedAdmin,
    Diagnosis,
    Treatment,
    Prognosis,
    PatientSpecific,
    Urgent,
    ConsumerRelayed,
    Mixed,
}

impl ClinicalCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ClinicalCategory::MedDose => "MED_DOSE",
            ClinicalCategory::MedInteraction => "MED_INTERACTION",
            ClinicalCategory::MedAdmin => "MED_ADMIN",
            ClinicalCategory::Diagnosis => "DIAGNOSIS",
            ClinicalCategory::Treatment => "TREATMENT",
            ClinicalCategory::Prognosis => "PROGNOSIS",
            ClinicalCategory::PatientSpecific => "PATIENT_SPECIFIC",
            ClinicalCategory::Urgent => "URGENT",
            ClinicalCategory::ConsumerRelayed => "CONSUMER_RELAYED",
            ClinicalCategory::Mixed => "MIXED",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItCategory {
    Login,
    Access,
    Printer,
    Device,
    EhrHowto,
    BuildRequest,
    Interface,
    Mobile,
    Network,
    Hardware,
    Other,
}

impl ItCategory {
    pub const ALL: [ItCategory; 11] = [
        ItCategory::Login,
        ItCategory::Access,
        ItCategory::Printer,
        ItCategory::Device,
        ItCategory::EhrHowto,
        ItCategory::BuildRequest,
        ItCategory::Interface,
        ItCategory::Mobile,
        ItCategory::Network,
        ItCategory::Hardware,
        ItCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItCategory::Login => "LOGIN",
            ItCategory::Access => "ACCESS",
            ItCategory::Printer => "PRINTER",
            ItCategory::Device => "DEVICE",
            ItCategory::EhrHowto => "EHR_HOWTO",
            ItCategory::BuildRequest => "BUILD_REQUEST",
            ItCategory::Interface => "INTERFACE",
            ItCategory::Mobile => "MOBILE",
            ItCategory::Network => "NETWORK",
            ItCategory::Hardware => "HARDWARE",
            ItCategory::Other => "OTHER",
        }
    }

    fn from_name(name: &str) -> Option<ItCategory> {
        ItCategory::ALL.into_iter().find(|c| c.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One piece of evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    pub kind: SignalKind,
    /// Name of the rule or lexicon that matched (stable, for logs and tests).
    pub rule: &'static str,
    /// Character (Unicode scalar) offset, inclusive.
    pub start: usize,
    /// Character (Unicode scalar) offset, exclusive.
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignalKind {
    /// FDA UNII drug name.
    Drug,
    /// Curated clinical shorthand / drug nickname / caller-supplied term.
    Shorthand,
    Dose,
    LabValue,
    Vital,
    /// Request for a clinical decision ("hold or give", "ok to give").
    Decision,
    /// Generic question cue that counts only next to clinical content.
    DecisionCue,
    /// Request to read a lab, vital, rhythm, image or finding.
    Interpretation,
    /// A finding attributed to a patient ("her hands are mottled").
    PatientState,
    /// Reference to a particular patient ("my pt in 14", "bed 22", age).
    PatientRef,
    Prognosis,
    Urgent,
    ConsumerRelay,
    Condition,
    Symptom,
    ClinicalTerm,
    /// IT framing: the message is (also) an IT request.
    ItFraming,
    /// IT vocabulary (category evidence only).
    ItTerm,
}

impl Detection {
    /// The JSON line written by the `classify` binary:
    /// `{"route":"clinical"|"it","category":"…","urgent":bool,"score":…,"signals":[{"rule","start","end"}],"it_part":"…"|null}`.
    pub fn classify_json(&self) -> serde_json::Value {
        let (route, category, urgent) = match self.route {
            Route::Clinical { category, urgent } => ("clinical", category.as_str(), urgent),
            Route::It { category } => ("it", category.as_str(), false),
        };
        let score = (f64::from(self.score) * 1000.0).round() / 1000.0;
        let signals: Vec<serde_json::Value> =
            self.signals.iter().map(|s| serde_json::json!({"rule": s.rule, "start": s.start, "end": s.end})).collect();
        serde_json::json!({
            "route": route,
            "category": category,
            "urgent": urgent,
            "score": score,
            "signals": signals,
            "it_part": self.it_part.map(ItCategory::as_str),
        })
    }

    /// True when the message escalates to the clinical workflow.
    pub fn is_clinical(&self) -> bool {
        matches!(self.route, Route::Clinical { .. })
    }
}

struct CompiledRule {
    spec: &'static rules::RuleSpec,
    /// Expanded pattern (already validated by the prefilter set).
    pattern: String,
    /// Span-locating regex, compiled on first use and then reused.
    re: OnceLock<Regex>,
}

impl CompiledRule {
    fn regex(&self) -> &Regex {
        self.re.get_or_init(|| {
            compile(self.spec.name, &self.pattern)
                .expect("rule pattern is a compile-time constant already compiled into the prefilter set")
        })
    }
}

/// The detector. Build once with [`Detector::new`]; `detect` is `&self` and
/// thread-safe.
pub struct Detector {
    threshold: f32,
    lexicon: Lexicon,
    rules: Vec<CompiledRule>,
    /// Prefilter per text variant: indexes into `rules`.
    sets: Vec<RuleSet>,
    clause_re: Regex,
    howto_re: Regex,
}

// Compile-time proof that a Detector can be shared between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Detector>();
};

type RuleSet = (On, RegexSet, Vec<usize>);

/// Prefilter set for the rules that read one text variant.
fn build_set(on: On, patterns: &[(On, String, usize)]) -> Result<Option<RuleSet>, DetectError> {
    let (pats, idx): (Vec<&str>, Vec<usize>) =
        patterns.iter().filter(|(o, _, _)| *o == on).map(|(_, p, i)| (p.as_str(), *i)).unzip();
    if pats.is_empty() {
        return Ok(None);
    }
    let set = RegexSetBuilder::new(&pats)
        .unicode(false)
        .size_limit(1 << 26)
        .dfa_size_limit(1 << 26)
        .build()
        .map_err(|e| DetectError::Rule { name: "rule-set", message: e.to_string() })?;
    Ok(Some((on, set, idx)))
}

fn compile(name: &'static str, pat: &str) -> Result<Regex, DetectError> {
    RegexBuilder::new(pat)
        .unicode(false)
        .size_limit(1 << 24)
        .dfa_size_limit(1 << 24)
        .build()
        .map_err(|e| DetectError::Rule { name, message: e.to_string() })
}

impl Detector {
    pub fn new(tuning: &Tuning) -> Result<Detector, DetectError> {
        let floor = Tuning::floor();
        if !tuning.threshold.is_finite() || tuning.threshold < 0.0 || tuning.threshold > floor {
            return Err(DetectError::Threshold { threshold: tuning.threshold, floor });
        }
        for t in tuning.extra_terms.iter().chain(&tuning.extra_it_framings) {
            if t.chars().count() > MAX_TERM_CHARS {
                return Err(DetectError::InvalidTerm(t.clone()));
            }
        }
        let labs = rules::lab_alternation();
        let mut compiled = Vec::with_capacity(RULES.len());
        let mut patterns: Vec<(On, String, usize)> = Vec::with_capacity(RULES.len());
        for (i, spec) in RULES.iter().enumerate() {
            let pat = rules::expand(spec.pat, &labs).map_err(|m| DetectError::Rule { name: spec.name, message: m })?;
            patterns.push((spec.on, pat.clone(), i));
            compiled.push(CompiledRule { spec, pattern: pat, re: OnceLock::new() });
        }
        // The lower-case prefilter set is the largest compile: build it on a
        // scoped helper thread while this thread builds the lexicon and the
        // other sets (falls back to building inline if no thread can be had).
        let (lexicon, sets) = std::thread::scope(|scope| -> Result<_, DetectError> {
            let helper = std::thread::Builder::new()
                .name("detect-compile".into())
                .spawn_scoped(scope, || build_set(On::Lower, &patterns));
            let lexicon = Lexicon::new(&tuning.extra_terms, &tuning.extra_it_framings);
            let tagged = build_set(On::Tagged, &patterns);
            let cased = build_set(On::Cased, &patterns);
            let lower = match helper {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    Err(DetectError::Rule { name: "rule-set", message: "compile thread panicked".into() })
                }),
                Err(_) => build_set(On::Lower, &patterns),
            };
            let sets: Vec<_> = [lower?, tagged?, cased?].into_iter().flatten().collect();
            Ok((lexicon?, sets))
        })?;
        let clause_re = compile(
            "clause",
            r"[.?!;]+(?:\s|$)|\s-{1,3}\s|\s-{2,}|\n|\.{2,}|\b(?:also|btw|while you'?re at it|separately|in the meantime|meanwhile|unrelated|on another note|different question|another question|side note|other question|second question|and then|p\.?s\.?)\b",
        )?;
        let howto_re = compile(
            "howto-clause",
            r"\b(?:how (?:do|can|would|does) (?:i|we|you|u|one)|how to|where (?:in \w+ )?(?:do|can|would) (?:i|we|you|u)|where(?:'s| is| are)|wheres|where to|what'?s the shortcut)\b|^\s*(?:please\s+|pls\s+|request:?\s+|build request:?\s+)?(?:add|remove|change|update|retire|create|make|build|turn off|disable|need a new)\b",
        )?;
        Ok(Detector { threshold: tuning.threshold, lexicon, rules: compiled, sets, clause_re, howto_re })
    }

    /// Classify one message.
    pub fn detect(&self, text: &str) -> Detection {
        let mut lower = normalize::lower(text);
        normalize::mark_decimals(&mut lower);
        let cased = normalize::cased(text);
        let hits = self.lexicon.find(&lower, &cased);
        let mut tagged = lower.clone();
        for h in &hits {
            if let Some(tag) = h.entry.class.tag() {
                tagged[h.start..h.end].fill(tag);
            }
        }
        let clauses = self.clauses(&lower);
        let ctx = Ctx { lower: &lower, tagged: &tagged, clauses: &clauses, howto: &self.howto_re };

        let mut ev = Evidence::new(clauses.len());
        for h in &hits {
            let (kind, rule, class, weight, topic) = lexicon_signal(h.entry.class, h.fuzzy);
            let sig = Signal { kind, rule, start: h.start, end: h.end };
            ev.add(&ctx, sig, class, weight, topic, h.entry.it_cat);
        }
        for (on, set, idx) in &self.sets {
            let hay: &[u8] = match on {
                On::Lower => &lower,
                On::Tagged => &tagged,
                On::Cased => &cased,
            };
            for m in set.matches(hay).iter() {
                let rule = &self.rules[idx[m]];
                for found in rule.regex().find_iter(hay) {
                    let (s, e) = (found.start(), found.end());
                    let spec = rule.spec;
                    match checks::run(spec.check, &ctx, s, e) {
                        Verdict::Reject => continue,
                        Verdict::Keep => {}
                        Verdict::Urgent(name) => {
                            let sig = Signal { kind: SignalKind::Urgent, rule: name, start: s, end: e };
                            ev.add(&ctx, sig, Class::Urgent, rules::UW, Topic::Clin(ClinicalCategory::Urgent), None);
                        }
                    }
                    let sig = Signal { kind: spec.kind, rule: spec.name, start: s, end: e };
                    ev.add(&ctx, sig, spec.class, spec.weight, spec.topic, None);
                }
            }
        }
        self.decide(ev)
    }

    /// Clause boundaries: clause `i` spans `bounds[i]..bounds[i + 1]`.
    fn clauses(&self, lower: &[u8]) -> Vec<usize> {
        let mut bounds = vec![0];
        for m in self.clause_re.find_iter(lower) {
            let b = m.end();
            if b > *bounds.last().unwrap_or(&0) && b < lower.len() {
                bounds.push(b);
            }
        }
        bounds.push(lower.len().max(1));
        bounds
    }

    fn decide(&self, ev: Evidence) -> Detection {
        let Evidence {
            mut signals,
            judgement,
            cues,
            content,
            framed,
            clin_topic,
            it_votes,
            urgent,
            values,
            value_weight,
        } = ev;
        let mut free = 0.0f32;
        let mut bound = 0.0f32;
        for (i, c) in content.iter().enumerate() {
            if framed[i] {
                bound += c;
            } else {
                free += c;
            }
        }
        let any_frame = framed.iter().any(|&f| f);
        let cue_score = if free >= CUE_GATE || values > 0 { rules::JW * (cues.min(2) as f32) } else { 0.0 };
        let mut score = judgement + cue_score + value_weight + free + BOUND_FACTOR * bound;
        if urgent {
            score += rules::UW;
        }
        signals.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)).then(a.rule.cmp(b.rule)));
        signals.dedup();
        let it_cat = pick_it(&it_votes);
        // Ambiguous → clinical: a message with no IT evidence at all (no IT vocabulary, no IT
        // framing) is not a recognisable IT request, so any clinical content, however weak, or
        // none at all, goes to a human in the clinical workflow rather than to the desk.
        let it_evidence = any_frame || it_votes.iter().any(|&v| v > 0.0);
        let clinical = urgent || score >= self.threshold || !it_evidence;
        let (route, it_part) = if clinical {
            let category = if urgent {
                ClinicalCategory::Urgent
            } else if any_frame {
                ClinicalCategory::Mixed
            } else {
                pick_clinical(&clin_topic)
            };
            (Route::Clinical { category, urgent }, any_frame.then_some(it_cat))
        } else {
            (Route::It { category: it_cat }, None)
        };
        Detection { route, score, signals, it_part }
    }
}

fn lexicon_signal(class: LexClass, fuzzy: bool) -> (SignalKind, &'static str, Class, f32, Topic) {
    use ClinicalCategory as C;
    match (class, fuzzy) {
        (LexClass::Drug, _) => (SignalKind::Drug, "lex.drug_unii", Class::Content, 1.0, Topic::Clin(C::MedDose)),
        (LexClass::Shorthand, false) => {
            (SignalKind::Shorthand, "lex.shorthand", Class::Content, 1.0, Topic::Clin(C::MedDose))
        }
        (LexClass::Shorthand, true) => {
            (SignalKind::Shorthand, "lex.shorthand_fuzzy", Class::Content, 1.0, Topic::Clin(C::MedDose))
        }
        (LexClass::ExtraTerm, _) => {
            (SignalKind::Shorthand, "tuning.extra_term", Class::Content, 1.0, Topic::Clin(C::MedDose))
        }
        (LexClass::Condition, false) => {
            (SignalKind::Condition, "lex.condition", Class::Content, 1.0, Topic::Clin(C::Diagnosis))
        }
        (LexClass::Condition, true) => {
            (SignalKind::Condition, "lex.condition_fuzzy", Class::Content, 1.0, Topic::Clin(C::Diagnosis))
        }
        (LexClass::State, false) => {
            (SignalKind::Symptom, "lex.state", Class::Content, 0.5, Topic::Clin(C::PatientSpecific))
        }
        (LexClass::State, true) => {
            (SignalKind::Symptom, "lex.state_fuzzy", Class::Content, 0.5, Topic::Clin(C::PatientSpecific))
        }
        (LexClass::Finding, false) => {
            (SignalKind::Symptom, "lex.finding", Class::Content, 1.0, Topic::Clin(C::PatientSpecific))
        }
        (LexClass::Finding, true) => {
            (SignalKind::Symptom, "lex.finding_fuzzy", Class::Content, 1.0, Topic::Clin(C::PatientSpecific))
        }
        (LexClass::ClinicalTerm, _) => {
            (SignalKind::ClinicalTerm, "lex.clinical_term", Class::Content, 0.5, Topic::None)
        }
        (LexClass::LabName, _) => {
            (SignalKind::ClinicalTerm, "lex.lab_name", Class::Content, 0.5, Topic::Clin(C::Diagnosis))
        }
        (LexClass::ItStrong, _) => (SignalKind::ItFraming, "lex.it_strong", Class::Frame, 1.0, Topic::None),
        (LexClass::ExtraIt, _) => (SignalKind::ItFraming, "tuning.extra_it_framing", Class::Frame, 1.0, Topic::None),
        (LexClass::ItWeak, _) => (SignalKind::ItTerm, "lex.it_term", Class::Content, 0.0, Topic::None),
        (LexClass::ItHint, _) => (SignalKind::ItTerm, "lex.it_hint", Class::Content, 0.0, Topic::None),
    }
}

/// Accumulated evidence for one message.
struct Evidence {
    signals: Vec<Signal>,
    judgement: f32,
    cues: usize,
    content: Vec<f32>,
    framed: Vec<bool>,
    clin_topic: [f32; 10],
    it_votes: [f32; 11],
    urgent: bool,
    /// Lab or vital values seen (patient data, even inside an IT clause).
    values: usize,
    value_weight: f32,
}

impl Evidence {
    fn new(n_clauses: usize) -> Evidence {
        let n = n_clauses.saturating_sub(1).max(1);
        Evidence {
            signals: Vec::new(),
            judgement: 0.0,
            cues: 0,
            content: vec![0.0; n],
            framed: vec![false; n],
            clin_topic: [0.0; 10],
            it_votes: [0.0; 11],
            urgent: false,
            values: 0,
            value_weight: 0.0,
        }
    }

    fn add(
        &mut self,
        ctx: &Ctx<'_>,
        sig: Signal,
        class: Class,
        weight: f32,
        topic: Topic,
        lex_cat: Option<ItCategory>,
    ) {
        let clause = ctx.clause_of(sig.start).min(self.content.len() - 1);
        if matches!(sig.kind, SignalKind::LabValue | SignalKind::Vital) {
            self.values += 1;
        }
        match class {
            Class::Urgent => self.urgent = true,
            Class::Judgement => self.judgement += weight,
            Class::Cue => self.cues += 1,
            Class::Content => self.content[clause] += weight,
            Class::Value => self.value_weight += weight,
            Class::Frame => self.framed[clause] = true,
        }
        match topic {
            Topic::Clin(c) => {
                let w = match class {
                    Class::Judgement | Class::Cue => 2.0 * weight,
                    _ => weight,
                };
                self.clin_topic[clin_index(c)] += w;
            }
            Topic::It(c) => self.it_votes[c.index()] += 1.5,
            Topic::None => {}
        }
        if let Some(c) = lex_cat {
            let w = match sig.rule {
                "lex.it_strong" => 2.0,
                "lex.it_hint" => 0.75,
                _ => 1.0,
            };
            self.it_votes[c.index()] += w;
        }
        self.signals.push(sig);
    }
}

const CLIN_ORDER: [ClinicalCategory; 10] = [
    ClinicalCategory::Urgent,
    ClinicalCategory::Mixed,
    ClinicalCategory::ConsumerRelayed,
    ClinicalCategory::Prognosis,
    ClinicalCategory::MedInteraction,
    ClinicalCategory::MedAdmin,
    ClinicalCategory::MedDose,
    ClinicalCategory::Diagnosis,
    ClinicalCategory::Treatment,
    ClinicalCategory::PatientSpecific,
];

fn clin_index(c: ClinicalCategory) -> usize {
    CLIN_ORDER.iter().position(|&x| x == c).unwrap_or(CLIN_ORDER.len() - 1)
}

fn pick_clinical(scores: &[f32; 10]) -> ClinicalCategory {
    // Relayed and prognosis questions are named by who asks / what is asked,
    // so any such signal decides; otherwise the strongest topic wins.
    for c in [ClinicalCategory::ConsumerRelayed, ClinicalCategory::Prognosis] {
        if scores[clin_index(c)] >= rules::JW * 2.0 {
            return c;
        }
    }
    let mut best = ClinicalCategory::PatientSpecific;
    let mut best_score = 0.0f32;
    for (i, &c) in CLIN_ORDER.iter().enumerate().skip(2) {
        if scores[i] > best_score {
            best = c;
            best_score = scores[i];
        }
    }
    best
}

/// Tie-break order for IT categories.
const IT_PRIORITY: [ItCategory; 11] = [
    ItCategory::Login,
    ItCategory::Printer,
    ItCategory::Interface,
    ItCategory::BuildRequest,
    ItCategory::Access,
    ItCategory::Mobile,
    ItCategory::Device,
    ItCategory::Network,
    ItCategory::Hardware,
    ItCategory::EhrHowto,
    ItCategory::Other,
];

fn pick_it(votes: &[f32; 11]) -> ItCategory {
    let mut best = ItCategory::Other;
    let mut best_score = 0.0f32;
    for c in IT_PRIORITY {
        if votes[c.index()] > best_score {
            best = c;
            best_score = votes[c.index()];
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det() -> Detector {
        Detector::new(&Tuning::default()).expect("default tuning builds")
    }

    #[test]
    fn threshold_above_floor_is_refused() {
        let t = Tuning { threshold: Tuning::floor() + 0.01, ..Tuning::default() };
        assert!(matches!(Detector::new(&t), Err(DetectError::Threshold { .. })));
        let t = Tuning { threshold: f32::NAN, ..Tuning::default() };
        assert!(Detector::new(&t).is_err());
        let t = Tuning { threshold: Tuning::floor(), ..Tuning::default() };
        assert!(Detector::new(&t).is_ok());
    }

    #[test]
    fn urgent_survives_least_sensitive_tuning() {
        let t =
            Tuning { threshold: Tuning::floor(), extra_it_framings: vec!["unresponsive".into()], ..Tuning::default() };
        let d = Detector::new(&t).expect("builds");
        let r = d.detect("pt unresponsive in 12");
        assert_eq!(r.route, Route::Clinical { category: ClinicalCategory::Urgent, urgent: true });
    }

    #[test]
    fn judgement_survives_least_sensitive_tuning() {
        let t = Tuning { threshold: Tuning::floor(), ..Tuning::default() };
        let d = Detector::new(&t).expect("builds");
        assert!(d.detect("printer is down. is it ok to give the 0900 metoprolol with hr 52").is_clinical());
    }

    #[test]
    fn invalid_extra_terms_are_refused() {
        for bad in ["", "   ", "--", &"x".repeat(MAX_TERM_CHARS + 1)] {
            let t = Tuning { extra_terms: vec![bad.to_string()], ..Tuning::default() };
            assert!(matches!(Detector::new(&t), Err(DetectError::InvalidTerm(_))), "{bad:?}");
        }
    }

    #[test]
    fn extra_term_counts_as_clinical_content() {
        let t = Tuning { extra_terms: vec!["zorbital".into()], ..Tuning::default() };
        let d = Detector::new(&t).expect("builds");
        // "epic" is IT vocabulary, so without the extra term this is not ambiguous-by-default.
        let text = "question about zorbital in epic";
        assert!(d.detect(text).is_clinical());
        assert!(!det().detect(text).is_clinical());
        // No IT evidence at all: escalated either way (ambiguous → clinical).
        assert!(det().detect("question about zorbital").is_clinical());
    }

    #[test]
    fn offsets_are_characters() {
        let text = "Zoë’s résumé — pt unresponsive";
        let r = det().detect(text);
        let s = r.signals.iter().find(|s| s.rule == "urgent.unresponsive").expect("urgent signal");
        let chars: Vec<char> = text.chars().collect();
        let got: String = chars[s.start..s.end].iter().collect();
        assert_eq!(got, "unresponsive");
    }

    #[test]
    fn json_shape() {
        let v = det().detect("how do I reset my password").classify_json();
        assert_eq!(v["route"], "it");
        assert_eq!(v["category"], "LOGIN");
        assert_eq!(v["urgent"], false);
        assert!(v["score"].is_number());
        assert!(v["signals"].is_array());
        let v = det().detect("pt not breathing").classify_json();
        assert_eq!(v["route"], "clinical");
        assert_eq!(v["category"], "URGENT");
        assert_eq!(v["urgent"], true);
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 6);
        assert!(v["it_part"].is_null());
    }

    #[test]
    fn deterministic() {
        let d = det();
        let t = "vanc trough 31, hold tonight's dose? also printer jammed";
        assert_eq!(d.detect(t), d.detect(t));
    }
}
