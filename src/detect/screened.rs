//! Screened text: user text that has been through the detector. Only [`Screened::screen`]
//! makes one, so code that takes a `Screened` (messages, handoffs, notes, tickets) cannot
//! receive text that skipped detection.

use super::{Detection, Detector};

/// Why a submission is refused before anything is done with it.
#[derive(Debug, PartialEq, Eq)]
pub enum ScreenError {
    Empty,
    TooLong {
        max_bytes: usize,
    },
    /// Control characters other than tab and newline, or a NUL.
    Malformed,
}

impl std::fmt::Display for ScreenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScreenError::Empty => f.write_str("the message is empty"),
            ScreenError::TooLong { max_bytes } => write!(f, "the message is longer than {max_bytes} bytes"),
            ScreenError::Malformed => f.write_str("the message contains control characters"),
        }
    }
}

impl std::error::Error for ScreenError {}

/// User text with its detection.
#[derive(Clone, Debug)]
pub struct Screened {
    text: String,
    detection: Detection,
}

impl Screened {
    /// Validate `text` and run the detector on it.
    pub fn screen(detector: &Detector, text: &str, max_bytes: usize) -> Result<Screened, ScreenError> {
        if text.len() > max_bytes {
            return Err(ScreenError::TooLong { max_bytes });
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(ScreenError::Malformed);
        }
        if text.trim().is_empty() {
            return Err(ScreenError::Empty);
        }
        Ok(Screened { text: text.to_string(), detection: detector.detect(text) })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn detection(&self) -> &Detection {
        &self.detection
    }
}
