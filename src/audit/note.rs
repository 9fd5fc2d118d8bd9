//! Signed checkpoints in the C2SP `tlog-checkpoint` text format (a C2SP `signed-note`),
//! signed with Ed25519:
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//!
//! — <key name> <base64(key id ‖ signature)>
//! ```
//!
//! The key id is the first four bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key); the
//! signature covers the note text (the three lines, each ending in a newline). Pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a checkpoint note")]
    Malformed,
    #[error("no signature by the expected key")]
    Unsigned,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the origin is not this log's")]
    WrongOrigin,
}

pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([0x01]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The C2SP verifier key string: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    let id: String = key_id(name, key).iter().map(|b| format!("{b:02x}")).collect();
    let mut raw = vec![0x01];
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{id}+{}", STANDARD.encode(raw))
}

fn body(c: &Checkpoint) -> String {
    format!("{}\n{}\n{}\n", c.origin, c.size, STANDARD.encode(c.root))
}

pub fn sign(c: &Checkpoint, name: &str, key: &SigningKey) -> String {
    let text = body(c);
    let sig = key.sign(text.as_bytes());
    let mut blob = key_id(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&sig.to_bytes());
    format!("{text}\n\u{2014} {name} {}\n", STANDARD.encode(blob))
}

/// Parse and verify a note signed by `name`/`key` for `origin`.
pub fn verify(note: &str, origin: &str, name: &str, key: &VerifyingKey) -> Result<Checkpoint, NoteError> {
    let (text, sigs) = note.split_once("\n\n").ok_or(NoteError::Malformed)?;
    let text = format!("{text}\n");
    let mut lines = text.lines();
    let (Some(o), Some(size), Some(root), None) = (lines.next(), lines.next(), lines.next(), lines.next()) else {
        return Err(NoteError::Malformed);
    };
    let size: u64 = size.parse().map_err(|_| NoteError::Malformed)?;
    let root: Hash = STANDARD.decode(root).ok().and_then(|r| r.try_into().ok()).ok_or(NoteError::Malformed)?;
    if o != origin {
        return Err(NoteError::WrongOrigin);
    }
    let id = key_id(name, key);
    let prefix = format!("\u{2014} {name} ");
    let mut signed_by_us = false;
    for line in sigs.lines() {
        let Some(b64) = line.strip_prefix(&prefix) else { continue };
        let blob = STANDARD.decode(b64).map_err(|_| NoteError::Malformed)?;
        if blob.len() != 68 || blob[..4] != id {
            continue;
        }
        signed_by_us = true;
        let sig = Signature::from_slice(&blob[4..]).map_err(|_| NoteError::Malformed)?;
        key.verify(text.as_bytes(), &sig).map_err(|_| NoteError::BadSignature)?;
    }
    if !signed_by_us {
        return Err(NoteError::Unsigned);
    }
    Ok(Checkpoint { origin: o.to_string(), size, root })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_and_verify_round_trip_and_tampering() {
        let c = Checkpoint { origin: "chartdesk.example/audit".into(), size: 42, root: [7u8; 32] };
        let k = key(1);
        let note = sign(&c, "chartdesk-audit", &k);
        assert!(note.starts_with("chartdesk.example/audit\n42\n"));
        assert!(note.contains("\n\n\u{2014} chartdesk-audit "));
        assert_eq!(verify(&note, &c.origin, "chartdesk-audit", &k.verifying_key()), Ok(c.clone()));
        let tampered = note.replacen("\n42\n", "\n41\n", 1);
        assert_eq!(verify(&tampered, &c.origin, "chartdesk-audit", &k.verifying_key()), Err(NoteError::BadSignature));
        assert_eq!(verify(&note, &c.origin, "chartdesk-audit", &key(2).verifying_key()), Err(NoteError::Unsigned));
        assert_eq!(verify(&note, "other/log", "chartdesk-audit", &k.verifying_key()), Err(NoteError::WrongOrigin));
        assert_eq!(verify("garbage", &c.origin, "chartdesk-audit", &k.verifying_key()), Err(NoteError::Malformed));
        assert_eq!(
            verify(&note[..note.len() - 10], &c.origin, "chartdesk-audit", &k.verifying_key()),
            Err(NoteError::Malformed)
        );
        assert!(verifier_key("chartdesk-audit", &k.verifying_key()).starts_with("chartdesk-audit+"));
    }
}
