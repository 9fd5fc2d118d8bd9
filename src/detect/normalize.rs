//! Text normalisation: one ASCII byte per Unicode scalar value.
//!
//! Every rule and lexicon runs over the normalised text. Because each input
//! `char` becomes exactly one output byte, a byte offset into the normalised
//! text *is* the character offset into the original text, so signal spans need
//! no further conversion.

/// Byte that replaces a decimal point ("5.9" -> "5\x019") in rule text, so
/// that sentence-window patterns need not special-case decimals.
pub(super) const DECIMAL: u8 = 0x01;

/// Lower-cased normalisation used by the lexicons and rules.
pub(super) fn lower(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.push(fold(c).to_ascii_lowercase());
    }
    out
}

/// Replace every '.' between two digits with [`DECIMAL`].
pub(super) fn mark_decimals(text: &mut [u8]) {
    for i in 1..text.len().saturating_sub(1) {
        if text[i] == b'.' && text[i - 1].is_ascii_digit() && text[i + 1].is_ascii_digit() {
            text[i] = DECIMAL;
        }
    }
}

/// Case-preserving normalisation (for the few case-sensitive terms and rules).
pub(super) fn cased(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.push(fold(c));
    }
    out
}

/// Map one character to one printable ASCII byte.
///
/// Control characters become spaces, so control bytes never occur in
/// normalised text: the detector uses 0x01 for decimal points and 0x1a..=0x1f
/// as tags for lexicon matches.
fn fold(c: char) -> u8 {
    if c.is_ascii() {
        let b = c as u8;
        return if b.is_ascii_control() { b' ' } else { b };
    }
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' | '\u{02BC}' => b'\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' | '\u{00AB}' | '\u{00BB}' => b'"',
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => b'-',
        '\u{2192}' | '\u{21D2}' | '\u{27F6}' | '\u{279D}' | '\u{2794}' | '\u{2265}' => b'>',
        '\u{2190}' | '\u{21D0}' | '\u{27F5}' | '\u{2264}' => b'<',
        '\u{2026}' => b'.',
        '\u{00D7}' => b'x',
        '\u{00B5}' | '\u{03BC}' => b'u',
        '\u{00BD}' | '\u{00BC}' | '\u{00BE}' => b'0',
        '\u{00C0}'..='\u{00C5}' | '\u{00E0}'..='\u{00E5}' | '\u{0100}'..='\u{0105}' => a_case(c, b'a'),
        '\u{00C7}' | '\u{00E7}' | '\u{0106}'..='\u{010D}' => a_case(c, b'c'),
        '\u{00C8}'..='\u{00CB}' | '\u{00E8}'..='\u{00EB}' | '\u{0112}'..='\u{011B}' => a_case(c, b'e'),
        '\u{00CC}'..='\u{00CF}' | '\u{00EC}'..='\u{00EF}' | '\u{0128}'..='\u{0131}' => a_case(c, b'i'),
        '\u{00D1}' | '\u{00F1}' | '\u{0143}'..='\u{0148}' => a_case(c, b'n'),
        '\u{00D2}'..='\u{00D6}' | '\u{00D8}' | '\u{00F2}'..='\u{00F6}' | '\u{00F8}' => a_case(c, b'o'),
        '\u{00D9}'..='\u{00DC}' | '\u{00F9}'..='\u{00FC}' | '\u{0168}'..='\u{0173}' => a_case(c, b'u'),
        '\u{00DD}' | '\u{00FD}' | '\u{00FF}' => a_case(c, b'y'),
        '\u{00DF}' => b's',
        '\u{1EA0}'..='\u{1EF9}' => {
            // Vietnamese letters with stacked diacritics (e.g. "Nguyễn").
            let base = match c {
                '\u{1EA0}'..='\u{1EB7}' => b'a',
                '\u{1EB8}'..='\u{1EC7}' => b'e',
                '\u{1EC8}'..='\u{1ECB}' => b'i',
                '\u{1ECC}'..='\u{1EE3}' => b'o',
                '\u{1EE4}'..='\u{1EF1}' => b'u',
                _ => b'y',
            };
            a_case(c, base)
        }
        c if c.is_alphabetic() => a_case(c, b'x'),
        c if c.is_numeric() => b'0',
        _ => b' ',
    }
}

fn a_case(c: char, base: u8) -> u8 {
    if c.is_uppercase() { base.to_ascii_uppercase() } else { base }
}

/// True for bytes that belong to a word in normalised text.
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_per_char() {
        let s = "Zoë — K ↑ 5.9 → 6.1 “ok?” Nguyễn µg";
        let n = lower(s);
        assert_eq!(n.len(), s.chars().count());
        assert!(n.is_ascii());
        let t = String::from_utf8(n).expect("ascii");
        assert!(t.starts_with("zoe - k"));
        assert!(t.contains("5.9 > 6.1"));
        assert!(t.contains("\"ok?\""));
        assert!(t.contains("nguyen ug"));
    }

    #[test]
    fn no_tag_bytes_survive() {
        let s = "a\u{1d}b\u{1c}c\td";
        let n = lower(s);
        assert!(n.iter().all(|&b| b >= 0x20));
    }
}
