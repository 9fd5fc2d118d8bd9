//! Identifiers of the chart's patient ([`Known`]), matched in their common variants.
//! Names are matched in `names.rs` (every part, any case); this file covers MRNs, birth dates, phones and addresses.

use super::patterns::Patterns;
use super::{Hits, Known, PhiLabel};

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn strip_zeros(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0" } else { t }
}

pub(crate) fn find_known(text: &str, known: &Known, pats: &Patterns, hits: &mut Hits) {
    if known.mrns.is_empty() && known.birth_dates.is_empty() && known.phones.is_empty() && known.addresses.is_empty() {
        return;
    }
    let mrns: Vec<String> =
        known.mrns.iter().map(|m| strip_zeros(&digits_of(m)).to_string()).filter(|d| d.len() >= 3).collect();
    let phones: Vec<String> = known
        .phones
        .iter()
        .map(|p| {
            let d = digits_of(p);
            if d.len() == 11 && d.starts_with('1') { d[1..].to_string() } else { d }
        })
        .filter(|d| d.len() >= 7)
        .collect();
    let dates: Vec<(u32, u32, u32)> = known.birth_dates.iter().filter_map(|d| parse_iso(d)).collect();

    // digit sequences with separators: MRNs, phones, compact dates
    for m in pats.known_candidate.find_iter(text) {
        let d = digits_of(m.as_str());
        if d.is_empty() {
            continue;
        }
        let core = strip_zeros(&d);
        if mrns.iter().any(|k| k == core) {
            // keep a letter prefix (E1234567, M-0042-1188) inside the span
            let start = letter_prefix_start(text, m.start());
            hits.add(start, m.end(), PhiLabel::Mrn);
            continue;
        }
        let d10 = if d.len() == 11 && d.starts_with('1') { &d[1..] } else { d.as_str() };
        if phones.iter().any(|p| p == d10 || (d10.len() == 7 && p.len() == 10 && p.ends_with(d10))) {
            hits.add(m.start(), m.end(), PhiLabel::Phone);
            continue;
        }
        if dates.iter().any(|&(y, mo, da)| compact_date_matches(&d, y, mo, da)) {
            hits.add(m.start(), m.end(), PhiLabel::Date);
        }
    }

    // birth dates in written variants
    if !dates.is_empty() {
        let lower = text.to_ascii_lowercase();
        for &(y, mo, da) in &dates {
            for v in date_variants(y, mo, da) {
                let mut from = 0;
                while let Some(p) = lower[from..].find(&v) {
                    let s = from + p;
                    let e = s + v.len();
                    let before_ok = !lower[..s].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
                    let after_ok = !lower[e..].chars().next().is_some_and(|c| c.is_ascii_digit());
                    if before_ok && after_ok {
                        hits.add(s, e, PhiLabel::Date);
                    }
                    from = e;
                }
            }
        }
    }

    // addresses: the full line, and number + first street word anywhere
    for a in &known.addresses {
        let lower = text.to_ascii_lowercase();
        let al = a.trim().to_ascii_lowercase();
        let street_line = al.split(',').next().unwrap_or_default().trim().to_string();
        let mut words = street_line.split_whitespace();
        let (Some(number), Some(word)) = (words.next(), words.next()) else {
            continue;
        };
        let needle = format!("{number} {word}");
        for pat in [street_line.as_str(), needle.as_str()] {
            if pat.len() < 4 {
                continue;
            }
            let mut from = 0;
            while let Some(p) = lower[from..].find(pat) {
                let s = from + p;
                let mut e = s + pat.len();
                // extend over the rest of the street line (words up to a comma / period / line end)
                let rest = &text[e..];
                let mut stop = rest.find([',', '.', ';', '\n', '(', ')']).unwrap_or(rest.len()).min(40);
                while !rest.is_char_boundary(stop) {
                    stop -= 1;
                }
                let tail = &rest[..stop];
                if tail.split_whitespace().count() <= 4 {
                    e += tail.trim_end().len();
                }
                if !lower[..s].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    hits.add(s, e, PhiLabel::Address);
                }
                from = s + pat.len();
            }
        }
    }
}

fn letter_prefix_start(text: &str, start: usize) -> usize {
    let head = &text[..start];
    let trimmed = head.strip_suffix('-').unwrap_or(head);
    let letters = trimmed.len() - trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    if (1..=3).contains(&letters) { trimmed.len() - letters } else { start }
}

fn parse_iso(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.trim().split(['-', '/']);
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

fn compact_date_matches(d: &str, y: u32, m: u32, da: u32) -> bool {
    let yy = y % 100;
    [
        format!("{m:02}{da:02}{y}"),
        format!("{y}{m:02}{da:02}"),
        format!("{da:02}{m:02}{y}"),
        format!("{m:02}{da:02}{yy:02}"),
        format!("{m}{da}{y}"),
    ]
    .iter()
    .any(|v| v == d)
}

fn date_variants(y: u32, m: u32, d: u32) -> Vec<String> {
    let yy = y % 100;
    let mon = MONTHS[(m - 1) as usize];
    let short = &mon[..3];
    let mut v = Vec::with_capacity(48);
    for sep in ["/", "-", "."] {
        v.push(format!("{m:02}{sep}{d:02}{sep}{y}"));
        v.push(format!("{m}{sep}{d}{sep}{y}"));
        v.push(format!("{m:02}{sep}{d:02}{sep}{yy:02}"));
        v.push(format!("{m}{sep}{d}{sep}{yy:02}"));
        v.push(format!("{y}{sep}{m:02}{sep}{d:02}"));
        v.push(format!("{d:02}{sep}{m:02}{sep}{y}"));
    }
    for name in [mon, short] {
        for day in [format!("{d}"), format!("{d:02}")] {
            v.push(format!("{name} {day}, {y}"));
            v.push(format!("{name} {day} {y}"));
            v.push(format!("{name}. {day}, {y}"));
            v.push(format!("{day} {name} {y}"));
            v.push(format!("{day} {name}, {y}"));
            v.push(format!("{day}-{name}-{y}"));
            v.push(format!("{day}{name}{y}"));
            v.push(format!("{day}-{name}-{yy:02}"));
        }
    }
    v
}
