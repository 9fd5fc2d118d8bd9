//! Rule table: regular-expression grammar for doses, lab values, vitals,
//! decision phrasing, patient state, prognosis, consumer-relayed questions,
//! urgent language and IT framing.
//!
//! Rules run over normalised text (see `normalize`): ASCII, one byte per input
//! character. `On::Lower` rules see the lower-cased text; `On::Tagged` rules see
//! the lower-cased text with lexicon matches overwritten by tag bytes, so a
//! pattern can say "any drug" (`{DRUG}`) or "any condition" (`{COND}`);
//! `On::Cased` rules see the original letter case.
//!
//! Patterns use `{NAME}` placeholders expanded by [`expand`]. They are compiled
//! once, in `Detector::new`, with `unicode(false)` (the text is ASCII).

use super::lexicon::lab_names;
use super::{ClinicalCategory as C, ItCategory as I, SignalKind as K};

/// Which text a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum On {
    Lower,
    Tagged,
    Cased,
}

/// How a rule's matches count towards the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// Live safety signal: clinical, urgent, whatever else the message says.
    Urgent,
    /// A request for clinical judgement: escalates even inside an IT complaint.
    Judgement,
    /// Indirect / generic question phrasing ("what do I do", "normal?"): counts
    /// as judgement only when the message carries clinical content outside IT
    /// framing.
    Cue,
    /// Clinical content (drugs, doses, conditions, patient references):
    /// discounted inside an IT-framed clause.
    Content,
    /// A patient's lab or vital value: clinical content that IT framing does
    /// not discount (IT requests do not carry patient values).
    Value,
    /// IT framing (problem, how-to, request).
    Frame,
}

/// Extra verification run on a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Check {
    None,
    /// Reject after "how" / "where" (procedural question) or when followed by
    /// an IT object ("give me access").
    Decision,
    /// Reject when a device / IT noun is the subject ("touchscreen unresponsive").
    NotDeviceSubject,
    /// Reject in administrative context (documenting, building, broadcast groups).
    NotAdmin,
    /// Reject "fell asleep".
    NotAsleep,
    /// How-to frame: reject when the next word is a clinical verb.
    HowtoFrame,
    /// Reject when the clause is a how-to / where question.
    NotInHowto,
    /// Reject a lab "analyte value" whose analyte is really a unit ("40 mg 2x").
    LabValue,
    /// Parse blood pressure; urgent when extreme.
    Bp,
    Hr,
    Sat,
    Rr,
    Temp,
    Map,
    /// "can't see / can't find" inability frame: reject clinical objects.
    Inability,
    /// Access request: reject "IV access", "central access".
    NotClinicalAccess,
    /// Generic malfunction ("isn't working", "is down"): reject when a clinical
    /// word or vital is the subject.
    MalfunctionSubject,
    /// Patient reference: reject "patient portal", "patient list"...
    PatientRef,
    /// Code / rapid-response event: reject administrative or device context.
    CodeEvent,
    /// Consumer relay: reject "wants to know how to see/log in..." (portal how-to).
    RelayNotHowto,
    /// Dose with a unit: reject "5g network".
    Dose,
}

/// Category hint carried by a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Topic {
    None,
    Clin(C),
    It(I),
}

pub(super) struct RuleSpec {
    pub name: &'static str,
    pub kind: K,
    pub class: Class,
    pub weight: f32,
    pub on: On,
    pub pat: &'static str,
    pub check: Check,
    pub topic: Topic,
}

/// Placeholder fragments.
const FRAGMENTS: &[(&str, &str)] = &[
    ("DRUG", r"\x1d+"),
    // Any character that does not end a sentence. Decimal points are
    // normalised to 0x01 (see `normalize::mark_decimals`), so "K 5.9" does not
    // end a sentence.
    ("NS", r"[^.?!\n]"),
    ("COND", r"\x1e+"),
    ("STATE", r"\x1c+"),
    ("FIND", r"\x1f+"),
    ("SYMP", r"[\x1c\x1f]+"),
    ("DX", r"[\x1c\x1e\x1f]+"),
    ("CLIN", r"[\x1a\x1c\x1d\x1e\x1f]+"),
    ("ITN", r"\x1b+"),
    // Someone who can be a patient (subject position).
    (
        "PTS",
        r"(?:my pt|my patient|the pt|the patient|pt|pts|patient|patients|he|she|hes|shes|he's|she's|they|baby|infant|newborn|neonate|child|kid|toddler|boy|girl|man|woman|lady|guy|gentleman|mom|dad|mother|father|grandma|grandpa)",
    ),
    // Someone who relays a question.
    (
        "FAM",
        r"(?:pt|pts|patient|pt's \w+|patient's \w+|his \w+|her \w+|family|families|family member|daughter|son|wife|husband|mom|dad|mother|father|parent|parents|caregiver|spouse|partner|sister|brother|niece|nephew|grandson|granddaughter|grandma|grandpa|friend|caller|lady|man|woman|he|she|they|guardian|relative|relatives|the family|someone)",
    ),
    ("SUBJ", r"(?:i|we|u|you|they|he|she|one|pt|the pt|my pt|the patient|nursing|the nurse|anyone|someone)"),
    (
        "ADV",
        r"(?:(?:still|just|really|actually|also|even|safely|ever|normally|usually|go ahead and|then|now|probably|definitely|at least)\s+)*",
    ),
    // Clinical decision verbs (only clinical readings after a modal).
    (
        "CVS",
        r"(?:give|giving|hold|holding|hang|push|crush|split|dilute|infuse|titrate|wean|taper|redose|re-dose|rebolus|re-bolus|bolus|treat|transfuse|premedicate|pre-medicate|administer|extubate|intubate|ambulate|breastfeed|breast feed|double|halve|resume|uptitrate|up-titrate|go up|go down|cut back|back off|sprinkle|cath|recheck|re-check|reverse|worry|be worried|be concerned|escalate|observe|admit|discontinue|replete|supplement|override|eat|drink|shower|walk|drive|fly|mix|swallow|chew|be given|be held|be hung|be pushed|be crushed|be stopped|be started|be restarted|be continued|be increased|be decreased|be doubled|be titrated|be weaned|be switched|be adjusted|be cut|be changed|be drawn|be replaced|be added|page (?:the|someone|him|her|them|rapid|rrt|md|doc|resident|provider|attending|surgeon|on call)|call (?:the )?(?:doc|dr|md|provider|resident|attending|surgeon|hospitalist|intensivist|rapid|rrt|a rapid|a code|code|pharmacy|poison control|911|family|physician|np|pa)|switch (?:to|him|her|them|over)|change (?:to|him|her|them|the dose|the rate)|adjust (?:the |her |his |my )?(?:dose|dosing|rate|drip|gtt|insulin|for|it)|stop (?:it|the|her|him|them|this)|start (?:her|him|them|the|a|an|it|this)|continue (?:it|the|her|him|this|them)|take (?:her |his |the |my |an |a |this )?(?:extra|another|both|two|2|more|it|them|dose)|skip (?:the |a |her |his |this |tonight'?s |today'?s |the next )?(?:dose|med|meds|feed|feeds|it)|open (?:the |a )?(?:caps?|capsules?|tabs?|tablets?)|increase (?:the |her |his )?(?:dose|rate|drip|gtt|it|insulin|o2|oxygen|fluids?)|decrease (?:the |her |his )?(?:dose|rate|drip|gtt|it|insulin|o2|oxygen|fluids?)|replace (?:the |her |his )?(?:k|potassium|mag|magnesium|phos|calcium|lytes|electrolytes|it iv|it po)|correct (?:the |her |his )?(?:na|sodium|k|potassium|glucose|sugar|inr)|use (?:the |a |an )?(?:actual|ideal|dosing|adjusted|lean) (?:body )?(?:weight|wt))",
    ),
    // Tail of a clinical decision verb that must be a drug tag.
    (
        "CVD",
        r"(?:give|hold|hang|push|start|stop|continue|use|take|switch to|add|try|have|get|run|restart|resume|increase|decrease|double)\s+(?:the |her |his |some |an? |more |another |extra |iv |po |sq |sl )?\x1d",
    ),
    (
        "MALFPOST",
        r"(?:won'?t|wont|doesn'?t|doesnt|isn'?t|isnt|aren'?t|arent|not|can'?t|cant|keeps|kept|crash\w*|froze|freez\w*|frozen|hangs|spins|spinning|tim(?:ing|es|ed) out|error\w*|fail\w*|broke|broken|dead|offline|slow|laggy|glitch\w*|bug\w*|stuck|blank|jam\w*|missing|wrong|duplicat\w*|out of date|expired|locked|blocked|disconnect\w*|dropp\w*|drops|cuts? (?:out|off)|flicker\w*|beeps?|reject\w*|invalid|unable|nothing|no longer|too small|faded|blurry|crooked|upside down|instead of|without|every time|all the time|asks? for|asking for|says|shows|cracked|sticking|snapped|loud|lost|full|undelivered|unavailable|logs? me|logged me|kicks? me|kicked me|requires|need(?:s|ed)? (?:a |an |to be )?(?:new|replac\w*|fix\w*|reset|updat\w*|install\w*|mapped|added|removed|access|rights|password|login)|only (?:shows|prints|works)|reset|resetting|print\w*|pulls? up as|going to the|sending the wrong|putting the wrong|not found|unresponsive|dies|died|won'?t)",
    ),
    (
        "MALFPRE",
        r"(?:can'?t|cant|cannot|can not|unable to|won'?t let me|not able to|couldn'?t|trouble|problems? with|issues? with|help with|locked out of|kicked out of|kicking me out of|logged out of|forgot|reset|lost|broken|no|need(?:s)? (?:a |an )?(?:new|second|replacement|another)|requesting|install|set up|setup|enroll|map|fix|update|upgrade|replace|get into|getting into|help getting into|help (?:logging|signing) in(?:to)?|log into|login to|sign into)",
    ),
    (
        "VITALW",
        r"(?:bp|b/p|blood pressure|pressure|pressures|hr|heart rate|pulse|sats?|spo2|o2|sugars?|bg|glucose|map|urine output|uop|output|hgb|hemoglobin|temp|creat|creatinine|cr|k|potassium|na|sodium|plts?|platelets|inr|lactate|trop|troponin|weight|gcs|rr|resp rate|bs|blood sugar)",
    ),
    (
        "DOSEUNIT",
        r"(?:mg|mgs|mcg|mcgs|ug|g|gm|gms|grams?|units?|u|iu|meq|mmol|ml|mls|cc|l|liters?|tabs?|tablets?|caps?|capsules?|puffs?|drops?|gtts|patch(?:es)?|amps?|vials?|bags?|sprays?)",
    ),
];

/// Expand `{NAME}` placeholders (and `{LAB}`, built from labs.txt).
pub(super) fn expand(pat: &str, labs: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pat.len() * 2);
    let mut rest = pat;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("unclosed placeholder in {pat}"))?;
        let name = &after[..close];
        if name == "LAB" {
            out.push_str(labs);
        } else if let Some((_, frag)) = FRAGMENTS.iter().find(|(n, _)| *n == name) {
            out.push_str(frag);
        } else if name.chars().all(|c| c.is_ascii_digit() || c == ',') {
            // A regex repetition such as {0,3}: keep verbatim.
            out.push('{');
            out.push_str(name);
            out.push('}');
        } else {
            return Err(format!("unknown placeholder {{{name}}} in {pat}"));
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `{LAB}` alternation: analyte names from labs.txt, longest first.
pub(super) fn lab_alternation() -> String {
    let names: Vec<String> = lab_names().iter().map(|n| regex::escape(n)).collect();
    format!("(?:{})", names.join("|"))
}

macro_rules! rule {
    ($name:expr, $kind:ident, $class:ident, $w:expr, $on:ident, $check:ident, $topic:expr, $pat:expr) => {
        RuleSpec {
            name: $name,
            kind: K::$kind,
            class: Class::$class,
            weight: $w,
            on: On::$on,
            pat: $pat,
            check: Check::$check,
            topic: $topic,
        }
    };
}

const NONE: Topic = Topic::None;
const DOSE: Topic = Topic::Clin(C::MedDose);
const INTER: Topic = Topic::Clin(C::MedInteraction);
const ADMIN: Topic = Topic::Clin(C::MedAdmin);
const DIAG: Topic = Topic::Clin(C::Diagnosis);
const TREAT: Topic = Topic::Clin(C::Treatment);
const PROG: Topic = Topic::Clin(C::Prognosis);
const PTSP: Topic = Topic::Clin(C::PatientSpecific);
const RELAY: Topic = Topic::Clin(C::ConsumerRelayed);
const URG: Topic = Topic::Clin(C::Urgent);
const LOGIN: Topic = Topic::It(I::Login);
const ACCESS: Topic = Topic::It(I::Access);
const PRINT: Topic = Topic::It(I::Printer);
const DEVICE: Topic = Topic::It(I::Device);
const HOWTO: Topic = Topic::It(I::EhrHowto);
const BUILD: Topic = Topic::It(I::BuildRequest);
const IFACE: Topic = Topic::It(I::Interface);
const NET: Topic = Topic::It(I::Network);
const ITO: Topic = Topic::It(I::Other);

/// Weight of one judgement signal: at least `Tuning::floor()`, so a single
/// judgement signal escalates at every permitted threshold.
pub(super) const JW: f32 = 1.5;
/// Weight of an urgent signal.
pub(super) const UW: f32 = 5.0;

pub(super) static RULES: &[RuleSpec] = &[
    // ------------------------------------------------------------------
    // URGENT: live safety signals. Clinical + urgent regardless of framing.
    // ------------------------------------------------------------------
    rule!(
        "urgent.unresponsive",
        Urgent,
        Urgent,
        UW,
        Lower,
        NotDeviceSubject,
        URG,
        r"\b(?:unresponsive|un-responsive|not responding|non-?responsive|unarousable|won'?t wake(?: up)?|can'?t (?:wake|arouse|rouse)|hard to (?:wake|arouse|rouse)|not waking up|lost consciousness|loss of consciousness|passed out|blacked out|(?:going to|gonna|about to) pass out|unconscious|lifeless)\b"
    ),
    rule!(
        "urgent.code_event",
        Urgent,
        Urgent,
        UW,
        Lower,
        CodeEvent,
        URG,
        r"\b(?:code blue|code red|code pink|code stroke|stroke alert|stemi alert|trauma activation|calling a code|call(?:ed)? a code|code (?:being |was |is )?called|pt (?:is )?coding|(?:pt|patient|he|she|my (?:pt|patient)) (?:just |has |have |has just )?coded|(?:he|she|patient)(?:'s| is) coding|code in (?:rm|room|bed)|rapid response|rrt|call(?:ing)? (?:a )?rapid|met call|cardiac arrest|arrested|arresting|no pulse|pulseless|lost (?:a |the |his |her )?pulse|can'?t (?:find|feel|get) a pulse|cpr|compressions|asystole|asystolic|pea arrest|v-?fib|v fib|vf arrest|v-?tach|v tach|torsades|in vt|stat page)\b"
    ),
    rule!(
        "urgent.airway_breathing",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:not breathing|isn'?t breathing|stopped breathing|apneic|agonal|gasping|can'?t breathe|cannot breathe|can'?t catch (?:her|his|their|my) breath|choking|choked|can'?t talk|can'?t speak|airway (?:compromise|obstruct\w*|swelling|issue|problem)|stridor\w*|turning blue|turned blue|(?:is|looks|went) blue|trach (?:came|fell|is|was|got|has come) (?:out|dislodged|pulled)|decannulat\w*|self[- ]?extubat\w*|extubated (?:himself|herself|themselves)|pulled (?:out )?(?:his|her|their) (?:trach|ett|et tube|breathing tube)|(?:ett|et tube|breathing tube|tube) (?:came|fell|is|was) out|desat(?:ting|urating|s|ted)?|(?:lips|face|skin|fingers|toes|mouth) (?:are |is |look |looks |turning |turned |getting )?(?:blue|gr[ae]y|purple|dusky))\b"
    ),
    rule!(
        "urgent.seizure",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:seizing|seizng|seizin|siezing|seazing|having (?:a |another )?seizure|seizure (?:now|lasting|for \d|> ?\d|over \d|still)|status epilepticus|convulsing|convulsions|tonic[- ]clonic)\b"
    ),
    rule!(
        "urgent.self_harm",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:kill (?:himself|herself|myself|themselves|themself)|suicid\w*|wants? to die|end (?:his|her|my|their) (?:own )?life|take (?:his|her|my|their) (?:own )?life|plan to (?:overdose|od|kill|hang|jump|shoot|cut)|overdos(?:e|ed|ing) on|(?:hang|hanging|hanged|hung) (?:himself|herself|themselves|myself)|cut(?:ting)? (?:himself|herself|themselves|myself)|self[- ]?harm\w*|hurt (?:himself|herself|themselves|myself)|harm (?:himself|herself|themselves|others|staff)|ligature|(?:around|on) (?:his|her|their) (?:own )?neck|has a (?:gun|knife|weapon)|si with (?:a )?plan|homicidal)\b"
    ),
    rule!(
        "urgent.bleeding",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:hemorrhag\w*|haemorrhag\w*|bleeding (?:out|heavily|profusely|a lot|everywhere|through|uncontrolled|badly|won'?t stop|that won'?t stop)|won'?t stop bleeding|can'?t stop (?:the )?bleed\w*|bleed\w* (?:won'?t|will not) stop|(?:vomiting|throwing up|coughing up|spitting up|puking|vomited|threw up) (?:up )?(?:bright red |dark red |dark |frank |a lot of |lots of )?blood|hematemesis|blood everywhere|gushing|pouring blood|soaked (?:through|\d+ pads?|a pad|the pad|the bed)|pads? soaked|large clots|massive (?:bleed|hemorrhage|transfusion)|brisk(?:ly)? bleed\w*|actively bleed\w*|exsanguinat\w*|(?:vomited|vomiting|throwing up|threw up) coffee grounds?|coffee grounds? (?:emesis|vomit\w*)|large (?:amount of )?(?:melena|maroon stools?|bloody stools?))\b"
    ),
    rule!(
        "urgent.stroke",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:(?:face|facial) (?:droop\w*|asymmetr\w*)|face is drooping|droop(?:ing|y) (?:face|smile|mouth)|slurr(?:ed|ing) (?:speech|words)|slurring|garbled speech|can'?t (?:get (?:her|his) words out|find (?:her|his) words|move (?:her|his|their) (?:\w+ )?(?:arm|leg|side|hand))|(?:left|right|l|r)[- ]?sided weakness|one[- ]sided weakness|(?:sudden(?:ly)?|new|acute) (?:onset )?(?:weakness|numbness|confusion|vision loss|blindness|aphasia|facial droop|slurred speech|hemiparesis)|(?:left|right|l|r) (?:arm|leg|side|hand) (?:weakness|is weak|weak|numb|drift)|(?:arm|leg) drift|worst headache|thunderclap|aphasic|stroke (?:symptoms|signs)|last known well)\b"
    ),
    rule!(
        "urgent.anaphylaxis",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:(?:lips?|tongue|throat|face|mouth|uvula)(?: and (?:lips?|tongue|throat|face|mouth))? (?:is |are |getting |started |starting |now )?(?:swelling|swollen|swell\w*|closing|tight)|throat (?:closing|is closing|feels tight)|having (?:an? )?(?:allergic reaction|anaphyla\w*)|anaphylactic (?:reaction|shock)|going into anaphyla\w*)\b"
    ),
    rule!(
        "urgent.fall",
        Urgent,
        Urgent,
        UW,
        Lower,
        NotAsleep,
        URG,
        r"\b(?:{PTS})\s+(?:\w+\s+){0,3}?(?:just\s+|has\s+|had\s+|was\s+)?(?:fell|fallen|slipped and fell|collapsed|hit (?:his|her|their) head)\b"
    ),
    rule!(
        "urgent.found_down",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:found (?:\w+\s+){0,3}?(?:on the floor|down|on the ground)|found down|(?:pt|patient|he|she|resident)(?:'s| is| was)? (?:lying |laying )?on the (?:floor|ground)|don'?t know how long (?:he|she|they|pt)(?:'s| has| have| was| had)? been (?:down|on the floor|there)|(?:fell|fall|fallen)\b{NS}*\b(?:hit (?:his|her|their) head|head strike|struck (?:his|her|their) head|laceration|lac|bleeding|can'?t (?:bear weight|get up|move)|shortened|rotated|deformity|broke|fracture|unresponsive))\b"
    ),
    rule!(
        "urgent.fall_anticoag",
        Urgent,
        Urgent,
        UW,
        Tagged,
        None,
        URG,
        r"\b(?:fell|fall|fallen)\b{NS}*\bon (?:\w+ )?(?:\x1d|anticoag\w*|blood thinners?)"
    ),
    rule!(
        "urgent.chest_pain",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:(?:chest pain|chest pressure)\b{NS}*\b(?:10/10|9/10|8/10|sweaty|diaphoretic|gray|grey|ashen|radiat\w*|crushing|clammy|right now)|(?:having|new|sudden|crushing)\s+(?:\w+\s+)?chest (?:pain|pressure)\b{NS}*\b(?:now|right now|currently)|(?:right now|just now)\b{NS}*\bchest (?:pain|pressure))\b"
    ),
    rule!(
        "urgent.shock_look",
        Urgent,
        Urgent,
        UW,
        Tagged,
        None,
        URG,
        r"\b(?:gray and sweaty|sweaty and gr[ae]y|gr[ae]y and (?:sweaty|clammy|diaphoretic)|looks (?:gr[ae]y|blue|dusky|terrible|awful|like (?:he|she)'?s dying)|circling the drain|going downhill fast|rapidly (?:deteriorat\w*|worsening|declining)|deteriorating|decompensat\w*|peri-?arrest|rigoring|in shock)\b|\b(?:{PTS})(?:\s+[\w']+){0,3}?\s+(?:is\s+)?crashing\b"
    ),
    rule!(
        "urgent.ingestion",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:swallowed|ingested|got into|drank|ate)\s+(?:[\w']+\s+){0,4}?(?:batter(?:y|ies)|magnets?|bleach|antifreeze|chemicals?|cleaner|detergent|laundry pods?|rat poison|lye|drain cleaner|pills|tablets|a bottle of|coins?|penny|pennies|nickel|dime|quarter|marbles?|beads?|pins?|tacks?|earrings?|screws?|nails?|toy|lego|something|foreign (?:body|object)|an object|glass|gasoline|lamp oil|alcohol|hand sanitizer|edibles?|gummies)\b|\b(?:took|ate|taken|swallowed)\s+(?:a bunch of|a handful of|a bottle of|the whole bottle|all (?:of )?(?:her|his|their|the)|too many|a lot of) (?:[\w']+\s+){0,2}?(?:pills|tablets|meds|medications)\b|\b(?:od'?d|poisoned|poisoning)\b"
    ),
    rule!(
        "urgent.ingestion_drug",
        Urgent,
        Urgent,
        UW,
        Tagged,
        None,
        URG,
        r"\b(?:swallowed|ingested|got into|drank)\s+(?:[\w']+\s+){0,4}?\x1d|\b(?:took|ate|taken|swallowed)\s+(?:a bunch of|a handful of|a bottle of|the whole bottle|all (?:of )?(?:her|his|their|the)|too many|a lot of) (?:[\w']+\s+){0,2}?\x1d"
    ),
    rule!(
        "urgent.critical_unacted",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\bcritical\b{NS}*\b(?:who (?:do|should|am|would) i|what (?:do|should) i do|nobody|no one|not (?:been )?(?:called|acted|addressed|notified|seen|treated|reported)|hasn'?t been|haven'?t (?:heard|been able|reached|gotten)|can'?t (?:reach|get ahold|get a hold|get hold)|no (?:callback|call back|response|answer)|not (?:answering|calling back)|still waiting|waiting for a call)\b"
    ),
    rule!(
        "urgent.wrong_infusion",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:(?:running|infusing|dripping|hung|programmed|pushed|been running|going in)\b{NS}*\b(?:wrong (?:dose|rate|drug|med|medication|concentration|bag|weight|pt|patient)|(?:10|ten|100|a hundred)\s*(?:x|times)|double the|twice the|way too fast|too fast|in mg instead of mcg|in mcg instead of mg|instead of)|(?:given|gave|got|received|administered)\b{NS}*\b(?:wrong (?:dose|drug|med|medication|patient|pt)|(?:10|ten)\s*(?:x|times) the|double (?:the|a) dose|an overdose)|wrong (?:dose|rate|drug|med|medication|concentration)\s+(?:is |was |has been )?(?:running|infusing|given|hung|administered)|med(?:ication)? error|(?:double|extra|wrong|second|duplicate) dose\b{NS}*\bby (?:mistake|accident)|by (?:mistake|accident)\b{NS}*\b(?:double|extra|wrong|second|duplicate) dose|(?:lbs|pounds) (?:as|instead of|entered as) (?:kg|kilos)|(?:kg|kilos) (?:as|instead of) (?:lbs|pounds))\b"
    ),
    rule!("urgent.help_caps", Urgent, Urgent, UW, Cased, None, URG, r"\b(?:HELP|SOS|MAYDAY)\b"),
    rule!(
        "urgent.help",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:help (?:in |to |at )?(?:rm|room|bed|bay)\s*#?\s*\d|help (?:now|asap|stat|immediately)|help needed|need help (?:in |at )?(?:rm|room|bed|bay|now|asap|stat|immediately|!)|(?:someone|somebody|anyone) (?:come|get here|help) (?:now|quick|asap|stat|fast|please)|come (?:now|quick|asap|stat))"
    ),
    rule!(
        "urgent.rescue_drug",
        Urgent,
        Urgent,
        UW,
        Lower,
        NotAdmin,
        URG,
        r"\b(?:need|needs|needed|give|get me|grab|bring)\s+(?:the\s+|some\s+|an?\s+)?(?:narcan|naloxone|epi|epinephrine|epi ?pen|atropine|d50|glucagon|adenosine|code cart|crash cart|ambu bag|ambu)\b"
    ),
    rule!(
        "urgent.obstetric_peds",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:cord prolapse|prolapsed cord|shoulder dystocia|precipitous delivery|baby (?:is )?(?:not breathing|blue|limp|floppy|not moving)|infant (?:is )?(?:not breathing|blue|limp|floppy)|eclamptic|uterine rupture|placental abruption|fetal (?:distress|bradycardia)|prolonged decel\w*)\b"
    ),
    rule!(
        "urgent.violence",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:combative|violent|punched|punching|(?:hit|kicked|bit|attacked|assaulted) (?:a |the |another )?(?:staff|nurse|tech|me|aide|sitter|pt|patient)|assaulting|threatening (?:staff|to (?:hurt|kill|harm))|eloped|eloping|missing (?:patient|pt)|(?:pulling|pulled|trying to pull) (?:out )?(?:at )?(?:his|her|their) (?:central line|ett|trach|art line)|trying to (?:pull out|rip out))\b"
    ),
    rule!(
        "urgent.deteriorating_generic",
        Urgent,
        Urgent,
        UW,
        Lower,
        None,
        URG,
        r"\b(?:(?:dropping|falling) (?:fast|quickly|rapidly)|tanking|bottoming out|getting worse (?:fast|quickly|by the minute)|not moving (?:his|her|their) (?:\w+ )?(?:side|arm|leg)|can'?t feel (?:his|her|their|my) (?:legs|arms)|crashing (?:bp|pressure))\b"
    ),
    // ------------------------------------------------------------------
    // VITALS and LAB VALUES (content; the check may promote to urgent).
    // ------------------------------------------------------------------
    rule!(
        "vital.bp",
        Vital,
        Value,
        1.5,
        Lower,
        Bp,
        DIAG,
        r"\b(?:(?:bp|b/p|nibp|abp|blood pressure|pressures?|sbp)\s*(?:is|was|of|at|now|=|:|down to|dropped to|up to|still|only|>|<)*\s*)?\d{2,3}\s*/\s*\d{2,3}\b"
    ),
    rule!(
        "vital.hr",
        Vital,
        Value,
        1.5,
        Lower,
        Hr,
        DIAG,
        r"\b(?:hr|heart rate|pulse|apical|heart rates|hrs)\s*(?:is|was|of|at|in the|now|=|:|down to|up to|dropped to|sustaining|sustained|still|only|around|about|>|<|high|low|mid|upper|lower)*\s*\d{2,3}s?\b|\brate (?:in the )?(?:high |low |mid |upper |lower )?\d{2,3}s\b|\b(?:tachy|brady|rvr|afib|a-fib|svt|hr)\s+(?:in the )?(?:high |low |mid |upper |lower )?\d{2,3}s\b"
    ),
    rule!(
        "vital.sat",
        Vital,
        Value,
        1.5,
        Lower,
        Sat,
        DIAG,
        r"\b(?:sats?|spo2|o2 sats?|sao2|pulse ox|pox|satting|sating|saturation|saturating|o2)\s*(?:is|was|of|at|in the|now|=|:|down to|dropping to|dropped to|dropping|only|low|high|mid|upper|lower|around|about|still)*\s*\d{2,3}s?\s*%?|\b\d{2,3}\s*%\s*(?:on|ra\b|room air|\d+\s*l\b|nc\b|nrb\b|bipap|cpap|hfnc|high flow)|\bdesat(?:ting|urating|ted)?\s+(?:down\s+)?(?:to|into)\s+(?:the\s+)?\d{2}"
    ),
    rule!(
        "vital.rr",
        Vital,
        Value,
        1.5,
        Lower,
        Rr,
        DIAG,
        r"\b(?:rr|resp rate|respiratory rate|resps|respirations|breathing at)\s*(?:is|was|of|at|in the|now|=|:)*\s*\d{1,2}s?\b"
    ),
    rule!(
        "vital.temp",
        Vital,
        Value,
        1.5,
        Lower,
        Temp,
        DIAG,
        r"\b(?:temp|t|tmax|tm|fever|febrile to|spiked(?: a)?(?: temp| fever)?(?: to| of)?|temperature|temp of)\s*(?:is|was|of|at|to|now|=|:)*\s*\d{2,3}(?:\x01\d)?\b"
    ),
    rule!(
        "vital.map",
        Vital,
        Value,
        1.5,
        Lower,
        Map,
        DIAG,
        r"\bmaps?\s*(?:is|was|of|at|in the|now|=|:|<|>|down to|only)*\s*\d{2,3}s?\b"
    ),
    rule!(
        "vital.pain_score",
        Vital,
        Content,
        1.0,
        Lower,
        None,
        PTSP,
        r"\b(?:pain\s*(?:is|of|at|score|level)?\s*)?\d{1,2}\s*/\s*10\b"
    ),
    rule!(
        "vital.other",
        Vital,
        Value,
        1.0,
        Lower,
        None,
        DIAG,
        r"\b(?:gcs|ciwa|cows|nihss|rass|braden|apgar|meld|cha2ds2-?vasc|bladder scan(?:ned)?|residual|uop|urine output|output|qtc|qt|ef|cvp|peak flow)\s*(?:is|was|of|at|=|:|>|<|for)*\s*\d{1,4}"
    ),
    rule!(
        "lab.value",
        LabValue,
        Value,
        1.5,
        Lower,
        LabValue,
        DIAG,
        r"\b{LAB}\s*(?:level|lvl|value|result|levels)?\s*(?:(?:of|is|was|at|=|:|now|still|back|came back|came back at|resulted|went|went from|up to|down to|dropped to|from|->|>|<|~|only|just|this am|this morning|today|tonight|yesterday|down|up)\s*)*[<>~]?\s*\d+(?:[,\x01]\d+)?"
    ),
    rule!(
        "lab.glucose_hilo",
        LabValue,
        Value,
        1.5,
        Lower,
        None,
        DIAG,
        r"\b(?:bg|bgl|fsbg|cbg|glucose|blood sugar|sugar|accucheck|fingerstick|meter|glucometer)\s+(?:is\s+|reads\s+|reading\s+|says\s+|shows\s+|came up\s+|=\s*|:\s*)?(?:hi|high|lo|low|critical)\b"
    ),
    rule!(
        "lab.drug_level",
        LabValue,
        Value,
        1.5,
        Tagged,
        None,
        DOSE,
        r"\x1d+\s*(?:level|lvl|trough|peak|random)\s*(?:of|is|was|at|=|:|came back|back)?\s*[<>~]?\s*\d"
    ),
    rule!("lab.blood_gas", LabValue, Value, 1.5, Lower, None, DIAG, r"\b\d\x01\d{1,2}\s*/\s*\d{2,3}\s*/\s*\d{2,3}"),
    rule!(
        "lab.trend_arrow",
        LabValue,
        Value,
        1.0,
        Lower,
        None,
        DIAG,
        r"\b\d+(?:\x01\d+)?\s*(?:->|>|to)\s*\d+(?:\x01\d+)?\s*(?:->|>)\s*\d"
    ),
    rule!(
        "lab.result_talk",
        LabValue,
        Content,
        0.8,
        Lower,
        None,
        DIAG,
        r"\b(?:critical (?:value|result|lab|k|potassium|na|sodium|glucose|hgb|trop|troponin|lactate|inr)|(?:lab|labs|result|results) (?:came back|are back|is back|show|shows|showed)|(?:positive|negative) (?:d-?dimer|culture|blood cultures|troponin|trop|covid|flu|strep|ua)|cultures? (?:grew|growing|positive))\b"
    ),
    // ------------------------------------------------------------------
    // DOSE grammar, weights, ages, patient references (content).
    // ------------------------------------------------------------------
    rule!(
        "dose.amount",
        Dose,
        Content,
        1.0,
        Lower,
        Dose,
        DOSE,
        r"\b\d+(?:[,\x01]\d+)?\s*{DOSEUNIT}(?:\s*/\s*(?:kg|hr|h|min|day|dose|ml|l|dl|m2))*\b"
    ),
    rule!(
        "dose.rate_unit",
        Dose,
        Content,
        1.0,
        Lower,
        None,
        DOSE,
        r"\b(?:mg|mcg|units?|ml|meq|g)\s*/\s*(?:kg|hr|h|min|day)\b"
    ),
    rule!(
        "dose.frequency",
        Dose,
        Content,
        0.5,
        Lower,
        None,
        DOSE,
        r"\b(?:q\s?\d{1,2}\s?(?:h|hr|hrs|min|mins)?|q\s?(?:am|pm|hs|day|shift|week)|bid|tid|qid|qhs|qd|qod|prn|prns|x\s?\d+\s*(?:days?|doses?)|x1|x 1)\b"
    ),
    rule!(
        "dose.drug_number",
        Dose,
        Content,
        1.0,
        Tagged,
        None,
        DOSE,
        r"\x1d+\s+\d+(?:\x01\d+)?\b|\b\d+(?:\x01\d+)?\s+(?:of\s+)?(?:iv\s+|po\s+|im\s+|sq\s+)?\x1d"
    ),
    rule!(
        "dose.weight",
        Dose,
        Content,
        1.0,
        Lower,
        None,
        DOSE,
        r"\b\d+(?:\x01\d+)?\s*(?:kg|kgs|kilos?|lbs?|pounds?)\b|\bbmi\s*(?:of|is)?\s*\d{2}"
    ),
    rule!(
        "patient.age",
        PatientRef,
        Content,
        0.8,
        Lower,
        None,
        PTSP,
        r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.|yr old|yrs old|year old|years old|-year-old|-yr-old|mo old|month old|months old|week old|wk old|weeks old|day old|days old|weeker|wker)\b|\b\d{1,2}\s*(?:wks?|weeks?)\s*(?:pregnant|gestation|ga|postpartum)\b"
    ),
    rule!(
        "patient.room",
        PatientRef,
        Content,
        0.5,
        Lower,
        None,
        PTSP,
        r"\b(?:bed|rm|room|bay|bd)\s*#?\s*\d{1,4}[a-z]?\b"
    ),
    rule!(
        "patient.mine",
        PatientRef,
        Content,
        1.0,
        Lower,
        PatientRef,
        PTSP,
        r"\b(?:my|our|this|the)\s+(?:post-?op |new |chf |copd |hd |dialysis |chemo |peds |ob |old |elderly |icu |sickle cell |hospice |trach |vented |dka )?(?:pt|patient|pts|patients|pt's|patient's)\b|\b(?:pt|patient|guy|lady|man|woman|kid|baby|boy|girl|gentleman)\s+in\s+(?:rm\s+|room\s+|bed\s+)?\d{1,4}[a-z]?\b"
    ),
    rule!(
        "patient.reports",
        PatientRef,
        Content,
        1.0,
        Lower,
        None,
        PTSP,
        r"\b(?:pt|patient|he|she|mom|dad|baby|child)\s+(?:says|said|states|stated|reports|reported|is saying|keeps saying|feels|felt|complains|is complaining|endorses|denies)\b"
    ),
    rule!(
        "patient.postop_day",
        PatientRef,
        Content,
        0.8,
        Lower,
        None,
        PTSP,
        r"\b(?:pod\s?\d|post[- ]?op day \d|day \d+ (?:of|post|after)|hospital day \d|s/p|h/o|hx of|history of)"
    ),
    // ------------------------------------------------------------------
    // JUDGEMENT: decision phrasing bound to clinical action.
    // ------------------------------------------------------------------
    rule!(
        "decision.modal_clinical_verb",
        Decision,
        Judgement,
        JW,
        Tagged,
        Decision,
        TREAT,
        r"\b(?:should|shall|do|does|can|could|must|would|may|might|will|ok to|okay to|safe to|fine to|alright to|reasonable to|appropriate to|need to|needs to|have to|supposed to|want to|wants to|going to|gonna|allowed to|able to|ok for (?:\w+ ){0,2}to|safe for (?:\w+ ){0,2}to)\s+(?:{SUBJ}\s+)?{ADV}(?:be\s+(?:able|ok|okay|safe|allowed)\s+to\s+)?{CVS}\b"
    ),
    rule!(
        "decision.modal_drug",
        Decision,
        Judgement,
        JW,
        Tagged,
        Decision,
        TREAT,
        r"\b(?:should|shall|do|can|could|must|would|may|ok to|okay to|safe to|fine to|need to|ok for (?:\w+ ){0,2}to|safe for (?:\w+ ){0,2}to)\s+(?:{SUBJ}\s+)?{ADV}{CVD}"
    ),
    rule!(
        "decision.drug_passive",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        ADMIN,
        r"\b(?:should|can|could|does|do|will|would|must|may|might|is|are)\s+(?:(?:the|his|her|this|that|a|an|liquid|iv|po|sq|sc|oral|im|sl|pr|extra|another|\d+\s*\w*)\s+)*\x1d+(?:\s+(?:gtt|drip|infusion|iv|po|sq|dose|doses|tabs?|pill|pills|patch|level|bag|\d+\s*\w*)){0,2}\s+(?:be\s+)?(?:go|run|need|needs|come|stay|hang|infuse|given|held|crushed|mixed|pushed|split|cut|opened|diluted|stopped|started|continued|restarted|used|combined|taken|work|help|cause|affect|interact|drop|raise|lower|spike|matter|wear off|last|be enough)\b"
    ),
    rule!(
        "decision.is_drug_ok",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        INTER,
        r"\b(?:is|are|isn'?t|was|would|will)\s+(?:(?:the|her|his|this|that|a|an|iv|po|liquid|\d+\s*\w*|of)\s+)*[\x1d\x1e]+(?:\s*(?:\+|and|&|/|with)\s*(?:the\s+)?\x1d+)*(?:\s+(?:gtt|drip|infusion|dose|combo|combination|level|really|actually|still|also|even|going to be|gonna be|\d+\s*\w*)){0,3}\s+(?:ok|okay|safe|fine|alright|appropriate|compatible|dangerous|a problem|an issue|contraindicated|right|correct|enough|too \w+|the right|reasonable|necessary|needed|indicated|worth it|better|preferred|the cause|causing|working|helping|good|bad)\b"
    ),
    rule!(
        "decision.can_have",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        INTER,
        r"\bcan (?:she|he|they|the pt|pt|my pt|the patient|i give (?:her|him|them)|we give (?:her|him|them)|we use|i use)\s+(?:still\s+|just\s+|safely\s+)?(?:have|get|take|receive|use|be on|go on|start|continue)\s+(?:(?:the|her|his|a|an|some|any|iv|po)\s+)*\x1d"
    ),
    rule!(
        "decision.alternatives",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        TREAT,
        r"(?:\b(?:hold|give|hang|push|treat|start|stop|continue|wait|transfuse|recheck|cath|observe|admit|skip|redose|titrate|wean|cut|double|bolus|repeat|increase|decrease|d/c|keep|page|draw|watch|replace|juice|full dose|half|slow)\b|\x1d+|\b\d+(?:\x01\d+)?\s*(?:mg|mcg|g|units?|u|meq|ml)\b){NS}*\s+or\s+(?:just\s+|should\s+\w+\s+|do\s+\w+\s+|the\s+)?(?:\b(?:hold|give|hang|push|treat|start|stop|continue|wait|transfuse|recheck|cath|observe|admit|skip|redose|titrate|wean|cut|double|bolus|repeat|increase|decrease|d/c|keep|call|page|send|draw|watch|leave|not|half|slow|switch|change|rule out|straight cath|let|give it time)\b|\x1d+|\b\d+(?:\x01\d+)?\s*(?:mg|mcg|g|units?|u|meq|ml)\b)"
    ),
    rule!(
        "decision.dose_question",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        DOSE,
        r"\bhow (?:much|many)\s+(?:[\w/]+\s+){0,3}?(?:mg|mcg|g|gm|grams?|units?|u|meq|ml|mls|cc|tabs?|tablets?|pills?|puffs?|doses?|mg/kg\S*|\x1d|fluids?|blood|volume|to give|should (?:i|we|she|he) (?:give|take))|\bwhat(?:'s|s| is| are| was| would be| should be| do (?:i|we) (?:set|run|use))?\s+(?:the\s+|a\s+|an\s+|her\s+|his\s+)?(?:(?:usual|normal|typical|max(?:imum)?|min(?:imum)?|starting|right|correct|loading|renal|peds|pediatric|standard|safe|appropriate|daily|weight[- ]based|initial|next|new)\s+)*(?:\x1d+\s+)?(?:dose|doses|dosing|dosage|rate|drip rate|infusion rate|equivalent|conversion|drip|bolus|taper|amount)\b|\bmax(?:imum)?\s+(?:daily\s+|single\s+|total\s+|safe\s+)?(?:dose|dosing|rate|amount|per day|in 24|a day|per 24)|\b(?:dose|dosing|dosage|doses)\s+(?:adjustment\s+|change\s+|reduction\s+)?(?:for|on|in|with|if|when|based on)\s+(?:a\s+|an\s+|her\s+|his\s+|the\s+|my\s+|this\s+|pt\s+|someone\s+)?(?:\d|\x1d|\x1e|crcl|gfr|egfr|cr\b|renal|kidney|liver|hepatic|dialysis|hd\b|crrt|weight|wt\b|kg|peds|pediatric|child|infant|baby|neonate|kid|toddler|elderly|frail|obese|bmi|pregnan|her\b|him\b|them\b|pt\b|this\b)|\x1d+\s+(?:dose|dosing)\s+adjustment\b|\bis (?:this|that|the) (?:dose|rate|amount) (?:right|correct|ok|okay|safe|too)\b|\b(?:dose|rate|amount) (?:right|correct|ok|okay|safe)\s*\?"
    ),
    rule!(
        "decision.howto_clinical",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        TREAT,
        r"\bhow (?:do|should|would|can) (?:i|we|you|u|one) (?:interpret|treat|manage|correct|dose|titrate|calculate|convert|dilute|mix|give|administer|push|hang|wean|taper|replace|replete|reverse|approach|handle|read|tell if|know if|decide|adjust|crush|premedicate|transfuse|bolus)\b"
    ),
    rule!(
        "decision.for_patient",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        TREAT,
        r"\b(?:ok|okay|safe|unsafe|dangerous|harmful|bad|risky|too much|too high|too low|too fast|appropriate|contraindicated|a problem|an issue|fine|enough|right)\s+(?:for|in|with)\s+(?:her|him|them|the pt|my pt|this pt|the patient|this patient|a pt|a patient|someone|pts|an? \d+\s*(?:yo|y/o|year old|kg)|(?:her|his|their) (?:meds|medications|heart|kidneys|liver|pregnancy|baby|allergy|allergies))\b|\bwhat (?:do|should|can) (?:i|we) (?:do|give|try) for (?:her|him|them|the pt|my pt|this pt|the patient|this|that|it)\b"
    ),
    rule!(
        "decision.compatibility",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        ADMIN,
        r"\b(?:y-?site|same line|same iv|piggyback (?:with|into)|run (?:with|together)|in-?line filter|crushable|can be crushed|do not crush|extended release|sprinkle)\b"
    ),
    rule!(
        "decision.allergy_pregnancy",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        INTER,
        r"\b(?:allerg(?:y|ic|ies)|anaphyla\w*|pregnan\w*|breast ?feeding|nursing mom|lactating|renal function|crcl|gfr|dialysis|hd pt|crrt|cirrhosis|liver failure|qtc?|seizure hx|seizure history)\b{NS}*(?:\b(?:ok|okay|safe|can (?:she|he|they|i give|we give)|cross-?react\w*|premedicate|adjust\w*|contraindicated|avoid|should)\b|\x1d{NS}*\?)"
    ),
    rule!(
        "decision.interaction",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        INTER,
        r"\binteract(?:ion|ions|s)?\b|\x1d+\s*(?:\+|and|&|/|with)\s*\x1d+{NS}*\?|\b(?:serotonin syndrome|qt (?:prolong\w*|risk|concern)|bleeding risk)\b"
    ),
    rule!(
        "decision.need_test",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        TREAT,
        r"\b(?:does|do|will|would|should)\s+(?:he|she|they|pt|the pt|my pt|the patient|this pt|bed \d+\w?|rm \d+\w?|room \d+\w?|the (?:guy|lady|man|woman|kid|baby|pt|patient) in (?:rm |room |bed )?\d+\w?)\s+(?:still\s+|really\s+|even\s+)?need\b"
    ),
    rule!(
        "decision.stable_enough",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:(?:low|high|bad|sick|elevated|abnormal|severe|serious|fast|slow) enough (?:to (?:treat|give|hold|call|worry|transfuse|intervene|act|page|notify)|that (?:we|i) should)|stable enough|safe enough|well enough|ok enough|clear(?:ed)? (?:for|to)|fit (?:for|to)|ready (?:for|to) (?:go|transfer|discharge|be discharged|extubat\w*|wean|step down))\b"
    ),
    rule!(
        "decision.tell_me_if",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:tell|let) me (?:know )?(?:if|whether)\s+(?:she|he|they|we|i|the pt|my pt|it'?s|this is)\b"
    ),
    rule!(
        "decision.borrow_meds",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        ADMIN,
        r"\b(?:borrow|use|take|give|pull)\s+(?:\w+\s+){0,3}?(?:from|of)\s+(?:another|a different|the other|someone else'?s|other)\s+(?:pt|patient|pts|patients|unit)'?s?\b"
    ),
    rule!(
        "decision.replace_with",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        TREAT,
        r"\bwhat (?:\w+ )?(?:do|should|can|would) (?:i|we|you) (?:replace|replete|supplement|treat|give|hang|start|use|correct|cover)(?:\s+(?:it|her|him|them|this|that|the [a-z]+))?\s+with\b"
    ),
    rule!(
        "decision.med_timing",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        ADMIN,
        r"\b(?:flags?|flagged|says|shows|showing|lists?|marks?)\s+(?:the\s+|her\s+|his\s+|this\s+)?(?:dose|med|meds|medication|\x1d+)\s+(?:\w+\s+){0,2}?(?:as|is|was)\s+(?:too\s+)?(?:early|late|overdue|due|not due|too soon)\b|\b(?:dose|\x1d+)\s+(?:is\s+|was\s+)?(?:\d+\s*(?:hrs?|hours?|min|mins|minutes)\s+)?(?:too early|too late|too soon|early or late|overdue)\b"
    ),
    rule!(
        "decision.limit_override",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        DOSE,
        r"\b(?:override|get past|bypass|go over|exceed|program over|run over|go above|go higher than|above)\s+(?:the\s+|this\s+|that\s+|a\s+)?(?:soft\s+|hard\s+|dose\s+|max\s+|pump\s+)?(?:limit|max|maximum|ceiling|dose limit)\b|\bdose exceeds\b|\bexceeds (?:the )?(?:soft |hard |max |dose )?(?:limit|max)\b"
    ),
    rule!(
        "decision.dose_check",
        Decision,
        Judgement,
        JW,
        Lower,
        None,
        DOSE,
        r"\b\d+(?:[,\x01]\d+)?\s*{DOSEUNIT}(?:\s*/\s*(?:kg|hr|h|min|day))*\b{NS}*\b(?:is|isn'?t|does|would) (?:that|this|it) (?:\w+ )?(?:right|correct|ok|okay|safe|too much|too high|too low|a lot|enough|normal|standard|appropriate)\b"
    ),
    rule!(
        "decision.discrepancy",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        ADMIN,
        r"\b(?:says|shows|reads|ordered|order is|label is|lists?)\s+(?:\w+\s+){0,3}?\d{NS}*\bbut\b{NS}*\b(?:says|shows|reads|is|has|lists?|ordered)\s+(?:\w+\s+){0,3}?\d|\x1d+\s+instead of\s+(?:the\s+)?\x1d|\b(?:two|2|duplicate|double)\s+(?:active\s+|separate\s+)?\x1d+\s*(?:\w+\s+)?(?:orders?|doses?|drips?|gtts?)\b|\x1d{NS}*\bboth active\b"
    ),
    rule!(
        "decision.condition_what_do",
        Decision,
        Judgement,
        JW,
        Tagged,
        None,
        TREAT,
        r"[\x1c\x1e]{NS}*\bwhat (?:am i|are we|do i|do we|should i|should we) (?:supposed to )?do\b|\bworr(?:ied|y|ying)\b{NS}*(?:\b(?:dropping|falling|going down|tanking|getting worse|worsening|declining|crashing|low|high)\b|[\x1c\x1e])"
    ),
    rule!(
        "state.patient_value",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:my pt'?s|my patient'?s|pt'?s|patient'?s|her|his|their)\s+(?:\w+\s+)?(?:{LAB}|{VITALW}|sats?|bp|hr|temp|rr)\s*(?:is|was|of|at|=|:|now|just|came back|still|only|down to|up to)*\s*[<>~]?\s*\d"
    ),
    rule!(
        "state.having_trouble",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:{PTS})\s+(?:is\s+|'s\s+|s\s+|has\s+been\s+|keeps\s+)?(?:having|has|with|reports|reporting)\s+(?:\w+\s+)?(?:trouble|difficulty|a hard time|problems?|issues?) (?:breathing|swallowing|talking|speaking|walking|seeing|urinating|peeing|moving|staying awake|waking up|catching (?:her|his) breath)\b"
    ),
    rule!(
        "state.unmonitored",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:tele|telemetry|monitor|central monitor|pulse ox|spo2|art line|cardiac monitor)\b{NS}*\b(?:not|isn'?t|aren'?t|won'?t|stopped|lost)\s+(?:\w+\s+)?(?:showing|reading|picking up|tracing|displaying|working|transmitting)\b{NS}*\b(?:bed|rm|room|pt|patient|her|him)\b|\b(?:unmonitored|off (?:the )?monitor|no tele|lost tele)\b"
    ),
    rule!(
        "dx.lab_meaning",
        Interpretation,
        Judgement,
        JW,
        Lower,
        None,
        DIAG,
        r"\bwhat (?:does|do|is|are) (?:a |an |the |my |her |his |this |that )?(?:high |low |elevated |positive |negative |critical |abnormal |normal )?{LAB}\b{NS}*\b(?:mean|means|normal|indicate|tell)\b"
    ),
    // ------------------------------------------------------------------
    // INTERPRETATION: reading labs, vitals, rhythms, images, findings.
    // ------------------------------------------------------------------
    rule!(
        "dx.look_like",
        Interpretation,
        Judgement,
        JW,
        Tagged,
        None,
        DIAG,
        r"\blooks?\s+like\s+(?:a\s+|an\s+|she\s+|he\s+|it'?s\s+|possible\s+|early\s+)?[\x1c\x1e\x1f]|\b(?:could|can|would|might|is|isn'?t)\s+(?:this|that|it|these|those)\s+(?:be\s+)?(?:a\s+|an\s+|from\s+|due to\s+|the\s+|just\s+|related to\s+|early\s+|more\s+)?[\x1c\x1e\x1f]"
    ),
    rule!("dx.condition_question", Interpretation, Judgement, JW, Tagged, NotInHowto, DIAG, r"\x1e+\s*\?"),
    rule!(
        "dx.interpret",
        Interpretation,
        Judgement,
        JW,
        Lower,
        None,
        DIAG,
        r"\b(?:interpret|interpreting|interpretation of|read (?:this|these|the) (?:ekg|ecg|strip|rhythm|abg|vbg|cxr|ct|film|xray|x-ray|12 lead)|is this (?:rhythm|strip|ekg|ecg)|what (?:rhythm|does (?:this|the) (?:rhythm|strip|ekg|ecg)))\b"
    ),
    rule!(
        "dx.what_means",
        Interpretation,
        Cue,
        JW,
        Lower,
        NotInHowto,
        DIAG,
        r"\bwhat (?:does|do|did)\s+(?:a\s+|an\s+|the\s+|this\s+|that\s+|it\s+|my\s+|her\s+|his\s+)?{NS}*?\bmean\b|\bdoes (?:that|this|it) mean\b|\bwhat (?:could|would|might) (?:cause|explain)|\bwhat causes\b|\bwhy (?:is|are|would|does|did|do) (?:her|his|my|the|pt|she|he|it|they)\b"
    ),
    rule!(
        "dx.does_look",
        Interpretation,
        Cue,
        JW,
        Lower,
        None,
        DIAG,
        r"\b(?:does|do|did|would)\s+(?:this|that|it|these|those|the \w+|her \w+|his \w+)\s+(?:\w+\s+)?(?:look|looks|sound|sounds|seem|seems)\s+like\b|\b(?:rule out|ruled out|r/o|rule it out|rules out)\b|\b(?:significant|significance|clinically)\b"
    ),
    // ------------------------------------------------------------------
    // PROGNOSIS
    // ------------------------------------------------------------------
    rule!(
        "prognosis.will_recover",
        Prognosis,
        Judgement,
        JW,
        Lower,
        None,
        PROG,
        r"\b(?:will|would|is|are|does|do|can|could)\s+(?:he|she|they|pt|the pt|my pt|his|her|their|mom|dad|the baby|baby|this|that)\s+(?:[\w']+\s+){0,3}?(?:recover|walk|wake|make it|survive|come off|heal|get better|improve|clear|come back|go away|suffer|die|live|remember|go home|ever|be ok|be okay|be alright|pull through|regain|return to normal|need (?:home|a trach|dialysis|a peg|surgery|o2|oxygen|a transplant|rehab|placement|permanent|a nursing home))\b"
    ),
    rule!(
        "prognosis.future",
        Prognosis,
        Judgement,
        JW,
        Lower,
        None,
        PROG,
        r"\b(?:he'll|she'll|they'll|he will|she will|they will|he's going to|she's going to|is he going to|is she going to|are they going to|hes going to|shes going to|is (?:he|she) gonna|will (?:he|she|they) ever)\s+(?:[\w']+\s+){0,2}?(?:recover|walk|wake|make it|survive|come off|be able|heal|get better|improve|come back|go away|suffer|die|live|remember|talk|go home|ever|be ok|be okay|pull through|regain|need)\b"
    ),
    rule!(
        "prognosis.vocab",
        Prognosis,
        Judgement,
        JW,
        Lower,
        None,
        PROG,
        r"\b(?:prognosis|mortality|survival|life expectancy|actively dying|how long (?:do we have|does (?:he|she|they) have|(?:he|she|they) (?:has|have)|is (?:he|she) going to|until (?:he|she)|till (?:he|she)|before (?:he|she))|time (?:left|remaining)|(?:has|have) left|how much time (?:does|do|is|has|have)|make it through|going to make it|long[- ]term outcomes?|(?:chances?|odds|likelihood|risk) (?:of|that|she|he|they|the pt|pt|my pt) (?:\w+ ){0,3}?(?:wak\w*|recover\w*|surviv\w*|walk\w*|die|dies|dying|death|cp|rebleed\w*|recur\w*|relapse|another|seizure|stroke|bleed\w*|making it|makes? it|pull\w* through|lives?|go(?:es)? home|need\w*))\b"
    ),
    rule!(
        "prognosis.how_long",
        Prognosis,
        Judgement,
        JW,
        Lower,
        None,
        PROG,
        r"\bhow long (?:does|do|will|until|till|before|is|for|can|would)\b{NS}*?\b(?:get better|recover\w*|heal\w*|resolve|go away|wear off|come back|clear|improve|wake up|live|survive|recovery|last)\b"
    ),
    rule!(
        "prognosis.cue",
        Prognosis,
        Cue,
        JW,
        Lower,
        None,
        PROG,
        r"\b(?:chances?|odds|likelihood|outcomes?|risk of|how long (?:till|until|before|does|do|is|will|for)|usually (?:go away|resolve|get better|heal|recover|last|take)|typically|expected course)\b"
    ),
    // ------------------------------------------------------------------
    // CONSUMER-RELAYED: a patient / family / caller asks a medical question.
    // ------------------------------------------------------------------
    rule!(
        "relay.asking",
        ConsumerRelay,
        Judgement,
        JW,
        Lower,
        RelayNotHowto,
        RELAY,
        r"\b(?:{FAM})\s+(?:is\s+|was\s+|keeps\s+|just\s+|also\s+|has been\s+|had\s+)?(?:asking|asked|asks|wants to know|wanted to know|wondering|wonders|wants me to ask|would like to know|calling to ask|called asking|called to ask|called about|calling about|messaged asking|wrote asking)\s+(?:[\w']+\s+){0,3}?(?:if|whether|why|what|when|how|about|is|can|should|could|will|who)\b"
    ),
    rule!(
        "relay.portal_msg",
        ConsumerRelay,
        Cue,
        JW,
        Lower,
        None,
        RELAY,
        r"\b(?:portal|mychart|patient|pt|e-?visit|phone|voicemail)\s+(?:msg|message|messages|call|question|note)\b|\b(?:on the (?:phone|line)|called in|calling in|caller|called the (?:clinic|office|unit|line))\b|\b(?:he|she|they)(?:'s| is| are)? asking\b"
    ),
    rule!(
        "relay.explain",
        ConsumerRelay,
        Judgement,
        JW,
        Lower,
        None,
        RELAY,
        r"\b(?:explain (?:it|this|that|the (?:results?|ct|scan|labs?|report|findings|biopsy|path))\s+to (?:them|her|him|the family|the pt|the patient|his \w+|her \w+)|what (?:can|should|do) i (?:realistically |even )?tell (?:them|her|him|the family|the pt|the patient|the team|his \w+|her \w+))\b"
    ),
    // ------------------------------------------------------------------
    // PATIENT STATE: a finding attributed to a patient.
    // ------------------------------------------------------------------
    rule!(
        "state.patient_is",
        PatientState,
        Judgement,
        JW,
        Tagged,
        NotInHowto,
        PTSP,
        r"\b(?:{PTS})(?:\s+[\w'#/.+-]+){0,5}?\s*\x1c"
    ),
    rule!(
        "state.body_part",
        PatientState,
        Judgement,
        JW,
        Tagged,
        NotInHowto,
        PTSP,
        r"\b(?:her|his|pt's|patient's|the pt's|my pt's|their|pts|(?:baby|babys|mom|dad|child|kid|son|daughter|husband|wife|man|woman|lady|guy|toddler|infant|newborn)'?s)\s+(?:[\w'/]+\s+){0,2}?(?:hands?|feet|foot|legs?|arms?|face|lips|tongue|skin|belly|abd|abdomen|stomach|incision|wound|site|groin|calf|chest|breathing|speech|sugars?|bs|bp|blood pressure|pressure|heart rate|hr|sats?|o2|urine|output|pain|temp|temperature|heart|lungs?|head|eyes?|pupils?|color|mental status|ankles?|knees?|back|neck|side|throat|mouth|gums|stool|drain|dressing|mood|behavior|leg)\s+(?:[\w'/]+\s+){0,3}?[\x1c\x1f]"
    ),
    rule!(
        "state.complains",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:c/o|complain(?:s|ing|ed)? of|complaining|reports? (?:new |worsening |more )?(?:pain|sob|nausea|dizziness|chest|headache))\b"
    ),
    rule!(
        "state.trend",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b{VITALW}\b{NS}*?\b(?:dropping|dropped|falling|tanking|trending (?:down|up)|going down|going up|climbing|rising|keeps? (?:dropping|falling|rising|going)|went from|gone from|has gone|doubled|tripled|jumped|spiked|creeping|increasing|decreasing|worsening|getting worse|soft|labile|bouncing|all over the place)\b"
    ),
    rule!(
        "state.trend_noun",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:drop|fall|rise|jump|spike|increase|decrease|bump|dip|change|uptrend|downtrend)\s+in\s+(?:her\s+|his\s+|the\s+|their\s+)?{VITALW}\b|\b{VITALW}\s+(?:drop|fall|rise|jump|spike|dip)\b"
    ),
    rule!(
        "state.symptom_words",
        PatientState,
        Judgement,
        JW,
        Lower,
        None,
        PTSP,
        r"\b(?:can'?t breathe|cant breathe|trouble breathing|hard time breathing|difficulty breathing|short of breath|won'?t stop (?:vomiting|bleeding|shaking|crying|coughing)|keeps (?:vomiting|throwing up|falling|pulling|trying to get up|saying (?:she|he) (?:can'?t|feels|is|has|hurts))|hasn'?t (?:voided|peed|urinated|eaten|had a bm|pooped)|no urine|not making urine)\b"
    ),
    // ------------------------------------------------------------------
    // WEAK CUES: indirect / generic question phrasing.
    // ------------------------------------------------------------------
    rule!(
        "cue.evaluative",
        DecisionCue,
        Cue,
        JW,
        Lower,
        NotInHowto,
        DIAG,
        r"\b(?:normal|ok|okay|safe|dangerous|significant|concerning|acceptable|expected|serious|bad|stable|worrisome|too low|too high|too much|a lot|enough|right|correct|appropriate|reasonable|fine|high|low)\s*\?|\b(?:is|isnt|isn'?t|are|was|would)\s+(?:that|this|it|these|those|she|he|they)\s+(?:\w+\s+)?(?:ok|okay|normal|safe|fine|bad|dangerous|concerning|significant|serious|high|low|a lot|too \w+|enough|right|correct|expected|worrisome|something|stable|acceptable|appropriate|reasonable|a problem|an issue|real)\b|\b(?:too|so)\s+(?:much|high|low|fast|slow|big|little|early|late|soon|many|aggressive|strong|frequent)\b"
    ),
    rule!(
        "cue.worry",
        DecisionCue,
        Cue,
        JW,
        Lower,
        NotInHowto,
        PTSP,
        r"\b(?:worried|worrying|worry|concerned|concerning|worrisome|nervous|uneasy|not comfortable|uncomfortable (?:with|giving)|worth (?:calling|paging|worrying|a call|waking))\b"
    ),
    rule!(
        "cue.what_do",
        DecisionCue,
        Cue,
        JW,
        Lower,
        NotInHowto,
        TREAT,
        r"\bwhat (?:do|should|would|can|could) (?:i|we|you|she|he|they|u) (?:do|try|give|tell|be doing)\b|\bwhat to do\b|\bwhat now\b|\bnext steps?\b|\bwhat(?:'s| is|s) going on\b|\bany (?:ideas|thoughts|suggestions|advice|recs|recommendations)\b|\b(?:thoughts|advice|recs|ideas)\s*\?|\banything (?:that )?(?:\w+ )?(?:works|helps|else|we can do|i can do|to give)\b|\bwhat (?:else )?can (?:i|we) (?:do|give|try)\b|\bhow (?:much|many|high|low|fast|quickly|slow|soon|often|long|far)\b|\bwondering (?:if|whether|about|what|how)\b|\bcan (?:someone|somebody|anyone|you|u) (?:please )?(?:confirm|look at|check|tell me|advise|weigh in|take a look|help me (?:figure|decide|understand))\b|\bwhich (?:one|abx|antibiotics?|drug|med|meds|dose|is better|should|would|do (?:i|we))\b|\bor\b{NS}*\?|\bor (?:not|no|nah|wait|just)\b|\bright\s*\?|\bis there a (?:max|maximum|limit|ceiling|cap)\b|\b(?:should|do|can) (?:i|we) (?:still\s+|just\s+)?(?:start|stop|take|wait|continue|switch|check|call|send|use|try|let|keep|leave|repeat|get)\b"
    ),
    // ------------------------------------------------------------------
    // IT FRAMING: how-to, problems, requests, interfaces.
    // ------------------------------------------------------------------
    rule!(
        "it.howto",
        ItFraming,
        Frame,
        1.0,
        Lower,
        HowtoFrame,
        HOWTO,
        r"\b(?:how (?:do|can|would|should|does) (?:i|we|you|u|one|someone|they)|how to|how would i|where (?:in \w+ )?(?:do|can|would|should|does) (?:i|we|you|u|one|someone)|where(?:'s| is| are| does| do)\b|wheres\b|can (?:someone|you|u) show me|show me how|walk me through|is there a way to|is there a shortcut|whats? the shortcut|what'?s the shortcut|where can i find|where would i find|where to|not sure (?:how|where) to|figure out (?:how|where) to)"
    ),
    rule!("it.noun_problem", ItFraming, Frame, 1.0, Tagged, None, NONE, r"\x1b+{NS}*?\b{MALFPOST}\b"),
    rule!("it.problem_noun", ItFraming, Frame, 1.0, Tagged, None, NONE, r"\b{MALFPRE}\b{NS}*?\x1b"),
    rule!(
        "it.device_says",
        ItFraming,
        Frame,
        1.0,
        Tagged,
        None,
        DEVICE,
        r"\x1b+\s*(?:'s\s+|is\s+)?(?:says|said|shows|showing|gives|giving|reads|asks? for|asking for|displays?|flags?|flagged|pops? up|popped|popping|fires|firing|fired|keeps|came up|comes up|prompts?|rejects?|rejected|won'?t let me)\b"
    ),
    rule!(
        "it.malfunction",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        NONE,
        r"\b(?:keeps? (?:crashing|freezing|spinning|logging me out|kicking me out|timing out|closing|restarting|rebooting|disconnecting|asking (?:me )?for|erroring|glitching)|crashed|froze|frozen|freezes|freezing up|just spins|spinning wheel|blank (?:screen|page)|error (?:message|code)|getting an error|throws? an error|it errors|errors? out|erroring|timed out|times out|timing out|kicked me out|kicking me out|logs me out|logged me out|won'?t let me (?:log|sign|in|chart|document|scan|print|order|open|see|access|enter|save|release|verify|program|pull|override|dismiss|select|click|change)|lost (?:network|connection|wifi|internet)|no (?:network|internet|wifi|connection|signal)|not loading|won'?t (?:load|open|launch|boot|print|scan|charge|connect|sync|install|update|save|sign|verify|dock|read|come up|pull up|transmit|upload|submit|release|go through|display|recognize|associate|pair|log|authenticate)|greyed out|grayed out|glitch\w*|buggy|laggy|lagging|slow to load|takes? forever|taking forever|nothing happens|fail(?:ed|s|ing)? to (?:send|transmit|print|load|open|save|sync|upload|submit|cross|file|launch|install|connect)|(?:transmission|connection|network|server|login|print|scan) (?:error|failure))\b"
    ),
    rule!(
        "it.malfunction_generic",
        ItFraming,
        Frame,
        1.0,
        Tagged,
        MalfunctionSubject,
        NONE,
        r"\b(?:keeps? (?:dropping|beeping|alarming|saying)|is down|are down|went down|'s down|was down|been down|won'?t (?:work|respond|turn on|start|show|accept|pick up)|doesn'?t work|not working|stopped working|isn'?t working|aren'?t working|is broken|broke|broken|jammed|offline|so slow|super slow|very slow|really slow|running slow|not responding|unresponsive)\b"
    ),
    rule!(
        "it.inability",
        ItFraming,
        Frame,
        1.0,
        Lower,
        Inability,
        NONE,
        r"\b(?:can'?t|cant|cannot|can not|unable to|not able to|couldn'?t)\s+(?:see|view|open|access|get into|get in|get to|pull up|log|login|sign|print|scan|enter|save|release|chart|document|verify|witness|prescribe|order|place|edit|pend|send|attach|launch|load|install|connect|find (?:the |my |a |an )?(?:\w+ )?(?:order|button|tab|report|note|form|link|option|setting|list|activity|template|icon|menu|section|screen|page|field|request|record|results?)|find where|figure out (?:how|where)|remember how|remember where)\b"
    ),
    rule!(
        "it.interface",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        IFACE,
        r"\b(?:not|n't|never|no longer|stopped|isn'?t|aren'?t|haven'?t|hasn'?t|doesn'?t|don'?t|won'?t|still not)\s+(?:\w+\s+)?(?:crossing|crossed|cross over|cross|filing|filed|flowing|flowed|flow|pulling (?:in|into|over|through)|landing|dropping (?:in|into)|transmitting|transmitted|transmit|transferring|transfer|uploading|upload|interfacing|populating|populate|coming over|coming across|coming through|come over|come through|come across|showing up|show up|showing (?:in|on|to|under|up)|reaching|posting|syncing|sync|updating|loading|load|displaying|attaching|attach|submitting|submit|launching|saving|in (?:the )?(?:chart|epic|powerchart|cerner|meditech|emr|ehr|flowsheet|mar|emar|system|lab system|media tab))\b|\b(?:results?|labs?|vitals|orders?|reports?|images?|ecgs?|ekgs?|notes?|meds|documents?|messages?|data|values?|readings?|refill messages)\s+(?:are\s+|is\s+|keep\s+|keeps\s+)?(?:going|filing|posting|printing|routing|dropping|crossing|flowing|landing|pulling|showing)\s+(?:up\s+)?(?:to|under|into|in|on)\s+(?:the\s+)?wrong\b|\bcame (?:over|across) (?:the|an|from the) interface\b|\b(?:haven'?t|have not|can'?t|cannot|not|never) (?:seen|gotten|received|got|get) (?:any |the |today'?s |my |her |his |new )?(?:labs?|results?|vitals|orders?|reports?|images?)\b(?:\s+(?:on|for|in|since|from)\b|\s*$)"
    ),
    rule!(
        "it.request",
        ItFraming,
        Frame,
        1.0,
        Tagged,
        None,
        BUILD,
        r"\b(?:please|pls|plz|can (?:you|we|someone|u)|could (?:you|we|someone)|need(?:s|ed)? (?:to|someone to|you to|it)?|request(?:ing|ed)?|want|would like)\s+(?:\w+\s+){0,3}?(?:add|remove|build|create|make|change|update|retire|turn off|disable|enable|fix|reset|unlock|install|map|set up|setup|give|grant|provision|whitelist|approve|review|move|rename|delete|activate|deactivate|replace|swap|assign)\b{NS}*?(?:\x1b|\b(?:me|my|access|account|rights|permission|login|password)\b)|^\s*(?:please\s+|pls\s+)?(?:add|remove|change|update|retire|create|make|build|turn off|disable|pull|show|display|put|new|need a new)\b{NS}*?\x1b|\b(?:request|report|build|build request|report request|\w+ request)\s*:|\brequest (?:to|for) (?:add|remove|change|build|create|a|an|new)\b|^\s*(?:a\s+|new\s+|monthly\s+|weekly\s+)?report (?:of|on|for|showing|listing|with)\b|\bmake\b{NS}*\brequired\b|\b(?:request|requesting|need|needs|want|would like|please|pls|can (?:i|we|you) get)\s+(?:a |an |the |new |monthly |weekly |daily )?(?:report|dashboard|query|extract|data pull|list of (?:all )?(?:pts|patients))\b|^\s*(?:please\s+|pls\s+)?(?:add|remove|change|update|retire|create|make|build|turn off|disable)\b{NS}*?\b(?:default|field|option|column|row|list|view|display|menu|banner|section|form|button|tab|header|reason|dispense option)\b|\bcan (?:we|you|i) (?:get|have|build|add) (?:an? )?(?:alert|bpa|report|smartphrase|order set|flowsheet row|dashboard|notification|template|new)\b|\b(?:order set|order panel|flowsheet row|smartphrase|smart phrase|smarttext|pick ?list|dropdown|note type|print group|iview band|order question)\b"
    ),
    rule!(
        "it.access_request",
        ItFraming,
        Frame,
        1.0,
        Lower,
        NotClinicalAccess,
        ACCESS,
        r"\b(?:need|needs|request|requesting|give|grant|add|remove|get|have|want|revoke|provide|no)\s+(?:\w+\s+){0,4}?access\b|\baccess (?:to|for)\b|\b(?:read|view)[- ]only\b|\bsecurity (?:class|point|template|group|role)\b|\bnot authorized\b|\binsufficient (?:rights|privileges)\b|\brestricted\b"
    ),
    rule!(
        "it.alert_mechanics",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        BUILD,
        r"\b(?:alert|alerts|bpa|bpas|advisory|warning|pop-?up|hard stop|soft stop)\s+(?:\w+\s+){0,2}?(?:fires|firing|fired|keeps|pops|popped|popping|shows|comes up|came up|won'?t|doesn'?t|isn'?t|is missing|needs|for (?:every|all|almost))\b|\b(?:turn off|disable|suppress|silence|dismiss|acknowledge|bypass|get past|get rid of)\s+(?:the\s+|this\s+|that\s+)?(?:[\w/]+\s+){0,3}?(?:alert|alerts|bpa|warning|pop-?up|hard stop|soft stop|soft limit|limit)\b"
    ),
    rule!(
        "it.login",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        LOGIN,
        r"\b(?:locked out|lock(?:ed)? me out|forgot (?:my )?(?:password|pw|pin|username)|reset (?:my )?(?:password|pw|pin)|password (?:reset|expired|expire)|can'?t log ?in|cant log ?in|won'?t let me log ?in|sign(?:ing)? in|logging in|log ?in (?:issue|problem)|account (?:locked|disabled|expired)|credentials)\b"
    ),
    rule!(
        "it.print_word",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        PRINT,
        r"\b(?:print(?:s|ed|ing|er|ers|out|outs)?|reprint\w*)\b"
    ),
    rule!(
        "it.network_word",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        NET,
        r"\b(?:wi-?fi|vpn|citrix|vdi|ethernet|network|internet|firewall|remote desktop|whitelist)\b"
    ),
    rule!(
        "it.downtime",
        ItFraming,
        Frame,
        1.0,
        Lower,
        None,
        ITO,
        r"\b(?:downtime|bca (?:pc|reports?)|mailbox|outlook|kronos|zoom license|email list)\b"
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_expands() {
        let labs = lab_alternation();
        for r in RULES {
            let p = expand(r.pat, &labs).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            assert!(!p.contains("{DRUG}"), "{}", r.name);
        }
    }

    #[test]
    fn repetition_survives_expansion() {
        assert_eq!(expand(r"a{0,3}b", "").expect("expand"), r"a{0,3}b");
    }
}
