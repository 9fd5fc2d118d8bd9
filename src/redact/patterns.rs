//! Structured identifiers (regex + context) and the "redact unless allow-listed" rule for digit-bearing tokens.

use super::{Hits, PhiLabel};
use regex::Regex;

const MONTH: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
const STREET_SUFFIX: &str = r"(?:st(?:reet)?|ave(?:nue)?|av|rd|road|ln|lane|dr(?:ive)?|ct|court|cir(?:cle)?|blvd|boulevard|way|pl(?:ace)?|pike|ter(?:race)?|trl|trail|pkwy|parkway|hwy|highway|loop|row|sq(?:uare)?|run|path|pass|xing|crossing|bend|cove|ridge|point|walk|alley|aly|plz|plaza|tpke|turnpike|cres(?:cent)?|gdns?|gardens?|grv|grove|hts|heights|holw|hollow|mdw|meadows?|oval|park|pkwy|rte|route|spur|vw|view|vista|commons|close|green|glen|gap|knoll|landing|manor|mews|orchard|heath|hill|hl|estates?)";
const STATES: &str = r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR)";

/// Compile a built-in pattern. Word boundaries are ASCII (`(?-u:\b)`): Unicode `\b` forces the slow engine on
/// non-ASCII text, and every boundary here sits next to ASCII digits, letters or punctuation.
fn re(pattern: &str) -> Regex {
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).expect("built-in redaction pattern must compile")
}

pub(crate) struct Patterns {
    email: Regex,
    url: Regex,
    bare_url: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone: Regex,
    phone7: Regex,
    ssn: Regex,
    last4: Regex,
    mbi: Regex,
    vin: Regex,
    date_mdy_name: Regex,
    date_dmy_name: Regex,
    date_compact_name: Regex,
    date_numeric: Regex,
    date_iso: Regex,
    date_short: Regex,
    age_suffix: Regex,
    age_prefix: Regex,
    pub(crate) age_after_name: Regex,
    address: Regex,
    po_box: Regex,
    after_address_city: Regex,
    city_state_zip: Regex,
    county: Regex,
    lives_in: Regex,
    ctx_plate: Regex,
    ctx_device: Regex,
    ctx_id: Regex,
    pub(crate) numgroup: Regex,
    pub(crate) known_candidate: Regex,
    alnum: Regex,
    ticket: Regex,
    error_code: Regex,
}

impl Patterns {
    pub(crate) fn new() -> Patterns {
        Patterns {
            email: re(r"(?i)\b[a-z0-9][a-z0-9._%+\-]*@[a-z0-9][a-z0-9.\-]*\.[a-z]{2,}\b"),
            url: re(r#"(?i)\b(?:https?://|www\.)[^\s<>"'()\[\]{}]+"#),
            bare_url: re(
                r#"(?i)\b[a-z0-9][a-z0-9\-]*\.(?:[a-z0-9\-]+\.)*(?:com|org|net|me|io|us|info|co|ly|page|site)/[^\s<>"'()\[\]{}]+"#,
            ),
            ipv4: re(r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b"),
            ipv6: re(
                r"(?i)(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}\b|(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b)?)",
            ),
            phone: re(
                r"(?:\+\s?1[\s.\-]?|\b1[\s.\-])?(?:\(\d{3}\)\s?|\b\d{3}[\s.\-])\d{3}[\s.\-]\d{4}\b|(?:\+\s?1[\s.\-]?|\b1[\s.\-]?)?\(\d{3}\)\s?\d{3}[\s.\-]?\d{4}\b",
            ),
            phone7: re(r"\b\d{3}[\-.]\d{4}\b"),
            ssn: re(r"\b\d{3}(?:-\d{2}-|\s\d{2}\s|\.\d{2}\.)\d{4}\b"),
            last4: re(
                r"(?i)(?:\blast\s*(?:4|four)\b|\b(?:ssn|social(?:\s+security)?(?:\s+(?:number|no\.?|#))?|ss#)\s*(?:ending|ends|that\s+ends)\s*(?:in|with)?)[^0-9\n]{0,30}?\b(\d{4})\b",
            ),
            mbi: re(
                r"\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2}\b",
            ),
            vin: re(r"\b[A-HJ-NPR-Z0-9]{17}\b"),
            date_mdy_name: re(&format!(
                r"(?i)\b{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+(?:(?:19|20)\d{{2}}|'\d{{2}})\b)?"
            )),
            date_dmy_name: re(&format!(
                r"(?i)\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\b\.?(?:,?\s+(?:19|20)\d{{2}}\b)?"
            )),
            date_compact_name: re(&format!(r"(?i)\b\d{{1,2}}[\-\s/.]?{MONTH}[\-\s/.]?(?:(?:19|20)\d{{2}}|\d{{2}})\b")),
            date_numeric: re(r"\b(\d{1,2})([/\-.])(\d{1,2})([/\-.])(\d{4}|\d{2})\b"),
            date_iso: re(r"\b(\d{4})[\-/.](\d{1,2})[\-/.](\d{1,2})\b"),
            date_short: re(r"\b(\d{1,2})/(\d{1,2})\b"),
            age_suffix: re(
                r"(?i)\b(\d{2,3})\s*(?:-\s*)?(?:yo\b|y/o\b|y\.o\.?|yr?s?\.?(?:\s*|-)old\b|years?(?:\s+|-)old\b|year-old|yr\b|yrs\b|[mf]\b)",
            ),
            age_prefix: re(
                r"(?i)\b(?:age[ds]?|aged|age:|(?:pt|patient|she|he|mom|dad|mother|father)\s+(?:is|was|turns|turned|as)|(?:pt|patient)\s+as|turn(?:s|ed|ing)?|is\s+now)\s*:?\s*(\d{2,3})\b",
            ),
            age_after_name: re(r"^(?:'s)?,?\s+(?:is|was|turns|turned|who\s+is|aged|age)?\s*(\d{2,3})\b"),
            address: re(&format!(
                r"(?i)\b[nsew]?\d{{1,6}}(?:-?[a-z])?\s+(?:(?:[nsew]|north|south|east|west|ne|nw|se|sw)\.?\s+)?(?:[a-z][a-z'\-]*\.?\s+){{1,3}}{STREET_SUFFIX}\b\.?(?:,?\s*(?:(?:apt|apartment|unit|suite|ste|lot|bldg|building|fl|floor|rm|room)\.?\s*#?|#)\s*[a-z0-9][a-z0-9\-]*)?"
            )),
            po_box: re(r"(?i)\bp\.?\s*o\.?\s*box\s+\d+"),
            after_address_city: re(r"^,?\s+((?:[A-Z][\p{L}'\-]*\.?\s){0,2}[A-Z][\p{L}'\-]+)"),
            city_state_zip: re(&format!(
                r"\b((?:[A-Z][\p{{L}}'\-]*\.?\s){{0,2}}[A-Z][\p{{L}}'\-]+),?\s+{STATES}\s+(\d{{5}}(?:-\d{{4}})?)\b"
            )),
            county: re(r"\b(?:[A-Z][\p{L}'\-]+\s){0,2}[A-Z][\p{L}'\-]+\s(?:County|Co\.|Parish|Borough)"),
            lives_in: re(
                r"(?i:lives|living|resides|residing|moved|relocated|located|home)\s+(?:in|to|at|near)\s+((?:[A-Z][\p{L}'\-]*\.?\s){0,2}[A-Z][\p{L}'\-]+)",
            ),
            ctx_plate: re(
                r"(?i:\b(?:plates?|tag|car|vehicle|truck|license\s+plate|lic\.?\s+plate))(?:\s+(?i:on|of|for|the|his|her|their|van|car|vehicle|truck|is|was|reads|number|no\.?))*\s*[:#]?\s*([A-Z0-9]{1,4}[ \-][A-Z0-9]{1,4}|[A-Z0-9]{4,8})\b",
            ),
            ctx_device: re(
                r"(?i:\b(?:serial(?:\s+(?:number|no\.?|#))?|s/n|sn|transmitter|device\s+id|device|pacemaker|pump|implant|icd|monitor|concentrator|meter|unit))\s*(?:#|no\.?|number|:|is)?\s*\(?([A-Za-z0-9\-]*\d[A-Za-z0-9\-]*[A-Za-z0-9]|[A-Z][A-Z0-9]{4,})\b",
            ),
            ctx_id: re(
                r"(?i:\b(mrn|mr\s*#|medical\s+record(?:\s+(?:number|no\.?|#))?|chart\s*#|csn|har|fin|acct|account|encounter|member\s+id|member|subscriber\s+id|medicaid|medicare|mbi|policy|ssn|social\s+security(?:\s+number)?|dl|driver'?s?\s+licen[cs]e|licen[cs]e|npi|dea)s?)\b\s*(?:#|no\.?|number|num|:|=|is|was|keyed\s+as|as|of)?\s*(?:#|:)?\s*([A-Za-z]{0,3}-?\d[\d\- ]{1,}\d|[A-Za-z0-9]*\d[A-Za-z0-9\-]*)",
            ),
            numgroup: re(r"\b\d+(?:[\-.]\d+|\s\d{2,})*\b"),
            known_candidate: re(r"\+?\(?\d[\d().\- ]*\d|\d"),
            alnum: re(r"\b[A-Za-z0-9]+(?:[\-_][A-Za-z0-9]+)*\b"),
            ticket: re(
                r"(?i)^(?:(?:inc|ritm|chg|req|prb|task|sctask|kb|wo|case|tkt|ticket|ord|order|build|rm|room|bed|err|error|ora|msi|http|epic|hl7|ae|sql|pc|wow)[\-_]?\d+|v\d{1,4}|x\d{2,6}|ext\d{2,6})$",
            ),
            error_code: re(r"(?i)^(?:0x[0-9a-f]+|[a-z]{2,8}[\-_]\d{2,5}|[a-z]{2,8}[\-_][a-z]{1,4}[\-_]\d{1,5})$"),
        }
    }

    pub(crate) fn find_structured(&self, text: &str, hits: &mut Hits) {
        for m in self.email.find_iter(text) {
            hits.add(m.start(), m.end(), PhiLabel::Email);
        }
        for m in self.url.find_iter(text).chain(self.bare_url.find_iter(text)) {
            let s = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
            hits.add(m.start(), m.start() + s.len(), PhiLabel::Url);
        }
        for m in self.ipv4.find_iter(text) {
            hits.add(m.start(), m.end(), PhiLabel::Ip);
        }
        for m in self.ipv6.find_iter(text) {
            let s = m.as_str();
            // "::" alone or a time like 10:30 must not count
            if s.chars().filter(|c| *c == ':').count() >= 2 && s.chars().filter(|c| c.is_ascii_hexdigit()).count() >= 3
            {
                hits.add(m.start(), m.end(), PhiLabel::Ip);
            }
        }
        for m in self.ssn.find_iter(text) {
            hits.add(m.start(), m.end(), PhiLabel::Ssn);
        }
        for c in self.last4.captures_iter(text) {
            if let Some(g) = c.get(1) {
                hits.add(g.start(), g.end(), PhiLabel::Ssn);
            }
        }
        for m in self.phone.find_iter(text) {
            if !hits.covers(m.start(), m.end()) {
                hits.add(m.start(), m.end(), phone_label(text, m.start()));
            }
        }
        for m in self.phone7.find_iter(text) {
            // skip when part of a longer dotted/dashed group (versions, dates, IPs)
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/' | ':'))
                || after.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | ':'))
                || after_is_digit_after_dot(text, m.end())
            {
                continue;
            }
            if prev_word_lower(text, m.start()).is_some_and(|w| matches!(w.as_str(), "v" | "version" | "build" | "ver"))
            {
                continue;
            }
            hits.add(m.start(), m.end(), phone_label(text, m.start()));
        }
        for m in self.mbi.find_iter(text) {
            hits.add(m.start(), m.end(), PhiLabel::PlanId);
        }
        for m in self.vin.find_iter(text) {
            let s = m.as_str();
            if s.bytes().filter(u8::is_ascii_digit).count() >= 2
                && s.bytes().filter(u8::is_ascii_alphabetic).count() >= 2
            {
                hits.add(m.start(), m.end(), PhiLabel::Vehicle);
            }
        }
        self.find_dates(text, hits);
        self.find_ages(text, hits);
        self.find_places(text, hits);
        self.find_context_ids(text, hits);
    }

    fn find_dates(&self, text: &str, hits: &mut Hits) {
        for r in [&self.date_mdy_name, &self.date_dmy_name, &self.date_compact_name] {
            for m in r.find_iter(text) {
                // "May 5" is a date; "may 2 be" is rare enough; day must be 1..=31
                let digits: String = m.as_str().chars().take_while(|c| !c.is_ascii_digit()).collect();
                let _ = digits;
                let next = text[m.end()..].chars().next();
                if matches!(next, Some(':')) || after_is_digit_after_dot(text, m.end()) {
                    continue; // "May 08:05" is a time after a date, the date part matches separately
                }
                if day_ok(m.as_str()) {
                    hits.add(m.start(), m.end(), PhiLabel::Date);
                }
            }
        }
        for c in self.date_numeric.captures_iter(text) {
            let (Some(all), Some(a), Some(s1), Some(b), Some(s2), Some(y)) =
                (c.get(0), c.get(1), c.get(2), c.get(3), c.get(4), c.get(5))
            else {
                continue;
            };
            if s1.as_str() != s2.as_str() {
                continue;
            }
            let (a, b) = (num(a.as_str()), num(b.as_str()));
            let valid =
                (1..=12).contains(&a) && (1..=31).contains(&b) || (1..=12).contains(&b) && (1..=31).contains(&a);
            if !valid {
                continue;
            }
            if s1.as_str() == "." && (is_version_context(text, all.start()) || y.as_str().len() == 2 && a > 12) {
                continue;
            }
            if s1.as_str() == "." && text[all.end()..].starts_with('.') && after_is_digit_after_dot(text, all.end()) {
                continue; // 1.2.3.4 versions / IPs
            }
            hits.add(all.start(), all.end(), PhiLabel::Date);
        }
        for c in self.date_iso.captures_iter(text) {
            let (Some(all), Some(y), Some(m), Some(d)) = (c.get(0), c.get(1), c.get(2), c.get(3)) else {
                continue;
            };
            let y = num(y.as_str());
            if (1850..=2100).contains(&y) && (1..=12).contains(&num(m.as_str())) && (1..=31).contains(&num(d.as_str()))
            {
                hits.add(all.start(), all.end(), PhiLabel::Date);
            }
        }
        for c in self.date_short.captures_iter(text) {
            let (Some(all), Some(m), Some(d)) = (c.get(0), c.get(1), c.get(2)) else {
                continue;
            };
            let next = text[all.end()..].chars().next();
            let prev = text[..all.start()].chars().next_back();
            if matches!(next, Some('/')) || matches!(prev, Some('/')) {
                continue;
            }
            let ctx = prev_words_lower(text, all.start(), 3);
            if d.as_str() == "10" && ["pain", "score", "rate", "rated", "scale"].iter().any(|w| ctx.contains(w)) {
                continue; // pain score 9/10
            }
            if (1..=12).contains(&num(m.as_str())) && (1..=31).contains(&num(d.as_str())) {
                // "24/7", "1/2 tab" style fractions are excluded by the range check or by a following unit
                let rest = text[all.end()..].trim_start().to_ascii_lowercase();
                if ["tab", "cap", "of ", "dose", "strength", "nl", "ns", "mg"].iter().any(|u| rest.starts_with(u)) {
                    continue;
                }
                hits.add(all.start(), all.end(), PhiLabel::Date);
            }
        }
    }

    fn find_ages(&self, text: &str, hits: &mut Hits) {
        for r in [&self.age_suffix, &self.age_prefix] {
            for c in r.captures_iter(text) {
                if let Some(g) = c.get(1) {
                    let n = num(g.as_str());
                    if (90..=125).contains(&n) {
                        hits.add(g.start(), g.end(), PhiLabel::Age);
                    }
                }
            }
        }
    }

    fn find_places(&self, text: &str, hits: &mut Hits) {
        for m in self.address.find_iter(text) {
            let prev = text[..m.start()].chars().next_back();
            if is_address_false_positive(m.as_str()) || matches!(prev, Some(':' | '.' | '/' | '-')) {
                continue;
            }
            hits.add(m.start(), m.end(), PhiLabel::Address);
            self.city_after(text, m.end(), hits);
        }
        for m in self.po_box.find_iter(text) {
            hits.add(m.start(), m.end(), PhiLabel::Address);
            self.city_after(text, m.end(), hits);
        }
        for c in self.city_state_zip.captures_iter(text) {
            if let (Some(city), Some(zip)) = (c.get(1), c.get(2)) {
                if !is_state(city.as_str()) {
                    hits.add(city.start(), city.end(), PhiLabel::Location);
                }
                hits.add(zip.start(), zip.end(), PhiLabel::Zip);
            }
        }
        for m in self.county.find_iter(text) {
            let s = m.as_str();
            // drop a leading sentence word such as "The" or "For"
            let first = s.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
            let skip = if matches!(first.as_str(), "the" | "for" | "in" | "of" | "from" | "no" | "to" | "at") {
                s.find(' ').map_or(0, |i| i + 1)
            } else {
                0
            };
            hits.add(m.start() + skip, m.end(), PhiLabel::Location);
        }
        for c in self.lives_in.captures_iter(text) {
            if let Some(g) = c.get(1)
                && !is_state(g.as_str())
            {
                hits.add(g.start(), g.end(), PhiLabel::Location);
            }
        }
    }

    /// "…street line, City" → the city (a trailing state code stays visible).
    fn city_after(&self, text: &str, end: usize, hits: &mut Hits) {
        if let Some(c) = self.after_address_city.captures(&text[end..])
            && let Some(g) = c.get(1)
        {
            let mut city = g.as_str();
            if let Some((head, tail)) = city.rsplit_once(' ')
                && is_state(tail)
            {
                city = head;
            }
            if !is_state(city) {
                hits.add(end + g.start(), end + g.start() + city.len(), PhiLabel::Location);
            }
        }
    }

    fn find_context_ids(&self, text: &str, hits: &mut Hits) {
        for c in self.ctx_plate.captures_iter(text) {
            if let Some(g) = c.get(1)
                && g.as_str().bytes().any(|b| b.is_ascii_digit())
                && g.as_str().len() >= 4
            {
                hits.add(g.start(), g.end(), PhiLabel::Plate);
            }
        }
        for c in self.ctx_device.captures_iter(text) {
            if let Some(g) = c.get(1) {
                let s = g.as_str();
                let digits = s.bytes().filter(u8::is_ascii_digit).count();
                let key = c.get(0).map_or(String::new(), |m| m.as_str().to_ascii_lowercase());
                let serial_kw = ["serial", "s/n", "sn", "transmitter", "device id"].iter().any(|k| key.starts_with(k));
                let caps_code =
                    serial_kw && s.len() >= 5 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if digits >= 1 && s.len() >= 5 && s.bytes().any(|b| b.is_ascii_alphabetic()) && !self.is_allowed_code(s)
                    || digits >= 5
                    || caps_code
                {
                    if s.bytes().all(|b| b.is_ascii_digit()) && following_unit(text, g.end()) {
                        continue;
                    }
                    hits.add(Self::serial_prefix_start(text, g.start()), g.end(), PhiLabel::Device);
                }
            }
        }
        for c in self.ctx_id.captures_iter(text) {
            let (Some(k), Some(g)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let s = g.as_str().trim_end_matches(['-', ' ']);
            let digits = s.bytes().filter(u8::is_ascii_digit).count();
            if digits < 3 || s.starts_with("0x") {
                continue;
            }
            let key = k.as_str().to_ascii_lowercase();
            let label = id_label(&key);
            hits.add(g.start(), g.start() + s.len(), label);
        }
    }

    /// Serial-number prefixes written right before the serial ("S/N 450-1653755") go inside the span.
    pub(crate) fn serial_prefix_start(text: &str, start: usize) -> usize {
        let head = &text[..start];
        for p in ["S/N ", "S/N: ", "S/N#", "SN ", "SN: ", "SN#", "s/n ", "sn "] {
            if head.ends_with(p) {
                let s = start - p.len();
                if !text[..s].chars().next_back().is_some_and(char::is_alphanumeric) {
                    return s;
                }
            }
        }
        start
    }

    pub(crate) fn is_allowed_code(&self, token: &str) -> bool {
        self.ticket.is_match(token) || self.error_code.is_match(token)
    }

    /// Philter-style complement: digit runs and digit-bearing codes are identifiers unless allow-listed.
    pub(crate) fn find_generic_ids(&self, text: &str, hits: &mut Hits) {
        for m in self.numgroup.find_iter(text) {
            let mut s = m.as_str();
            if text[m.end()..].starts_with([':', '/']) || following_ampm(text, m.end()) {
                // "2025-10-09 5:10", "... 0630 am": the last space-joined group is a time
                match s.rfind(char::is_whitespace) {
                    Some(cut) => s = s[..cut].trim_end(),
                    None => continue,
                }
            }
            if let Some(cut) = s.rfind(' ')
                && is_hhmm(&s[cut + 1..])
                && s[..cut].contains(['-', '.'])
            {
                s = &s[..cut]; // "2024-05-27 2230": date then a 24h time
            }
            if let Some(sp) = s.find(' ')
                && s[..sp].len() <= 2
            {
                s = &s[..sp]; // "Dec 21 0350": a day then a time, not one number
            }
            let m_end = m.start() + s.len();
            if is_small_range(s) {
                continue;
            }
            let digits = s.bytes().filter(u8::is_ascii_digit).count();
            if digits < 5 || hits.covers(m.start(), m_end) {
                continue;
            }
            // part of an alphanumeric token (handled below), e.g. the tail of "ORA-12541"
            let before = text[..m.start()].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_') {
                continue;
            }
            if digits <= 6 && s.contains('.') && s.matches('.').count() == 1 && !s.contains(' ') {
                // decimal number like 2311.4 with a build/version word is allowed below; plain decimals too
                if digits <= 6 {
                    continue;
                }
            }
            if allowed_by_context(text, m.start(), m_end) {
                continue;
            }
            hits.add(Self::serial_prefix_start(text, m.start()), m_end, generic_label(text, m.start(), digits));
        }
        for m in self.alnum.find_iter(text) {
            let s = m.as_str();
            let digits = s.bytes().filter(u8::is_ascii_digit).count();
            let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
            if letters == 0 || digits == 0 || hits.covers(m.start(), m.end()) {
                continue;
            }
            let run = longest_digit_run(s);
            if !(run >= 5 || digits >= 6) {
                continue;
            }
            if self.is_allowed_code(s) || allowed_by_context(text, m.start(), m.end()) {
                continue;
            }
            hits.add(m.start(), m.end(), generic_label(text, m.start(), digits));
        }
    }
}

fn num(s: &str) -> u32 {
    s.parse().unwrap_or(0)
}

fn day_ok(s: &str) -> bool {
    // the first 1-2 digit group must be a plausible day (1..=31)
    let mut n = 0u32;
    let mut seen = 0;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            n = n * 10 + d;
            seen += 1;
        } else if seen > 0 {
            break;
        }
    }
    seen > 0 && (1..=31).contains(&n) || seen == 4
}

fn longest_digit_run(s: &str) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

fn after_is_digit_after_dot(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
}

fn is_state(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_hhmm(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) && num(&s[..2]) <= 23 && num(&s[2..]) <= 59
}

/// "351-400": a numeric range, not an identifier.
fn is_small_range(s: &str) -> bool {
    let mut parts = s.split('-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => a.len() <= 4 && b.len() <= 4 && a.len() <= b.len() && num(a) < num(b),
        _ => false,
    }
}

fn following_ampm(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start().to_ascii_lowercase();
    ["am", "pm", "a.m", "p.m", "hrs", "hours", "h "].iter().any(|u| rest.starts_with(u))
        && !rest.get(2..3).is_some_and(|c| c.chars().all(char::is_alphabetic))
}

fn is_address_false_positive(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    const NOT_STREET: [&str; 24] = [
        "with", "at", "for", "to", "from", "and", "or", "the", "in", "on", "by", "of", "is", "was", "yo", "y/o", "pt",
        "mg", "units", "ml", "am", "pm", "per", "via",
    ];
    let mut words = l.split_whitespace();
    words.next();
    if words.take(3).any(|w| NOT_STREET.contains(&w.trim_end_matches(['.', ',']))) {
        return true;
    }
    // "2 charts for", dose / time phrases that end in a suffix-like word
    ["mg", "units", "ml", "hours", "hrs", "min", "days", "weeks", "am ", "pm ", "times"]
        .iter()
        .any(|w| l.split_whitespace().nth(1).is_some_and(|x| x.starts_with(w.trim())))
}

/// The lower-cased word (letters, or `#`) just before `pos`, skipping spaces and light punctuation.
pub(crate) fn prev_word_lower(text: &str, pos: usize) -> Option<String> {
    let head = &text[..pos];
    let trimmed = head.trim_end_matches([' ', ':', '#', '(', '.', '\t']);
    let trimmed = trimmed.strip_suffix(" no").unwrap_or(trimmed).trim_end_matches([' ', '.', ':', '#']);
    let start = trimmed
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '\'' || *c == '/'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let w = &trimmed[start..];
    if w.is_empty() { None } else { Some(w.to_lowercase()) }
}

fn prev_words_lower(text: &str, pos: usize, n: usize) -> String {
    let head = &text[..pos];
    let start = head.char_indices().rev().filter(|(_, c)| c.is_whitespace()).nth(n).map_or(0, |(i, _)| i);
    head[start..].to_lowercase()
}

fn phone_label(text: &str, pos: usize) -> PhiLabel {
    let ctx = prev_words_lower(text, pos, 4);
    if ctx.contains("fax") { PhiLabel::Fax } else { PhiLabel::Phone }
}

fn following_unit(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start().to_ascii_lowercase();
    const UNITS: [&str; 22] = [
        "mg", "mcg", "g ", "g/", "kg", "ml", "l/", "unit", "u/", "u ", "meq", "mmol", "%", "tabs", "caps", "ct",
        "count", "pcs", "pieces", "doses", "iu", "gtt",
    ];
    UNITS.iter().any(|u| rest.starts_with(u)) || rest == "g" || rest == "u"
}

fn is_version_context(text: &str, pos: usize) -> bool {
    let before = text[..pos].chars().next_back();
    if matches!(before, Some('v' | 'V')) {
        return true;
    }
    prev_word_lower(text, pos).is_some_and(|w| {
        matches!(
            w.as_str(),
            "v" | "version" | "ver" | "build" | "release" | "app" | "zoom" | "epic" | "patch" | "firmware" | "fw"
        )
    })
}

/// Words that explain a number as something other than an identifier.
fn allowed_by_context(text: &str, start: usize, end: usize) -> bool {
    if following_unit(text, end) {
        return true;
    }
    if is_version_context(text, start) {
        return true;
    }
    let Some(w) = prev_word_lower(text, start) else {
        return false;
    };
    if w == "code" && prev_words_lower(text, start, 2).contains("zip") {
        return false; // "zip code 43215"
    }
    const ALLOW: [&str; 40] = [
        "ext",
        "x",
        "extension",
        "vocera",
        "ticket",
        "tkt",
        "incident",
        "inc",
        "req",
        "ritm",
        "chg",
        "task",
        "order",
        "orders",
        "ord",
        "code",
        "error",
        "err",
        "build",
        "rm",
        "room",
        "bed",
        "bay",
        "pager",
        "station",
        "workstation",
        "printer",
        "lot#",
        "batch",
        "qty",
        "count",
        "port",
        "case",
        "request",
        "sr",
        "kb",
        "article",
        "step",
        "ref",
        "job",
    ];
    if ALLOW.contains(&w.as_str()) {
        return true;
    }
    // "order # 123", "ticket no. 123" handled by prev_word_lower; "order number 123":
    if w == "number" || w == "num" || w == "id" {
        let ctx = prev_words_lower(text, start, 3);
        return ["order", "ticket", "incident", "request", "job", "case"].iter().any(|k| ctx.contains(k));
    }
    false
}

fn id_label(key: &str) -> PhiLabel {
    let k = key.trim_end_matches('s');
    if k.starts_with("mr") || k.starts_with("medical") || k.starts_with("chart") {
        PhiLabel::Mrn
    } else if ["csn", "har", "fin", "acct", "account", "encounter"].contains(&k) {
        PhiLabel::Account
    } else if k.starts_with("member")
        || k.starts_with("subscriber")
        || k.starts_with("medica")
        || k == "mbi"
        || k == "policy"
    {
        PhiLabel::PlanId
    } else if k.starts_with("ss") || k.starts_with("social") {
        PhiLabel::Ssn
    } else {
        PhiLabel::License
    }
}

fn generic_label(text: &str, pos: usize, digits: usize) -> PhiLabel {
    match prev_word_lower(text, pos).as_deref() {
        Some("zip" | "zipcode" | "postal") => PhiLabel::Zip,
        Some(w) if w.starts_with("mrn") => PhiLabel::Mrn,
        Some("csn" | "har" | "fin" | "acct" | "account") => PhiLabel::Account,
        Some("ssn") => PhiLabel::Ssn,
        _ if digits == 10 => PhiLabel::Phone,
        _ => PhiLabel::Id,
    }
}
