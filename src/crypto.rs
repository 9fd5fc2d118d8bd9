//! Encryption at rest: AES-256-GCM (ring) with the key id carried in every ciphertext.
//!
//! Sealed form: `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`. Every seal binds an
//! *associated data* string naming what the value is for (e.g. `session:<launch id>`), so a
//! ciphertext cannot be moved to another record and still open.
//!
//! The key comes from `security.data_key` (base64 of 32 bytes) or, when unset, from
//! `<data_dir>/keys/data.key`, generated on first start (mode 0600).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("data key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read or write the data key file {0}")]
    KeyFile(String, #[source] std::io::Error),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with unknown key {0}")]
    UnknownKey(String),
    #[error("sealed value does not open (wrong key, record or tampering)")]
    Open,
    #[error("random number generator failure")]
    Random,
}

pub struct Sealer {
    keys: HashMap<String, LessSafeKey>,
    current: String,
    rng: SystemRandom,
}

impl Sealer {
    /// A sealer over one 32-byte key.
    pub fn from_key(key: &[u8]) -> Result<Sealer, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::BadKey)?;
        // The key id is a short digest of the key: stable, and reveals nothing useful.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest([b"chartdesk-kid:".as_slice(), key].concat())[..6]);
        let mut keys = HashMap::new();
        keys.insert(kid.clone(), LessSafeKey::new(unbound));
        Ok(Sealer { keys, current: kid, rng: SystemRandom::new() })
    }

    /// From configuration (`security.data_key`), else the key file in the data dir.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Sealer, CryptoError> {
        if let Some(b64) = configured {
            let key = STANDARD.decode(b64.trim()).map_err(|_| CryptoError::BadKey)?;
            return Self::from_key(&key);
        }
        let path = data_dir.join("keys/data.key");
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_key(&STANDARD.decode(text.trim()).map_err(|_| CryptoError::BadKey)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new().fill(&mut key).map_err(|_| CryptoError::Random)?;
                write_secret(&path, STANDARD.encode(key).as_bytes()).map_err(|e| CryptoError::KeyFile(shown, e))?;
                Self::from_key(&key)
            }
            Err(e) => Err(CryptoError::KeyFile(shown, e)),
        }
    }

    pub fn current_kid(&self) -> &str {
        &self.current
    }

    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("v1.{}.{}", self.current, URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let key = self.keys.get(kid).ok_or_else(|| CryptoError::UnknownKey(kid.to_string()))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
        let mut buf = ciphertext.to_vec();
        let plain = key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf).map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }
}

pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_the_same_key_and_record() {
        let s = Sealer::from_key(&[7u8; 32]).unwrap();
        let sealed = s.seal("session:a", b"access-token-value").unwrap();
        assert!(!sealed.contains("access-token-value"));
        assert_eq!(s.open("session:a", &sealed).unwrap(), b"access-token-value");
        assert!(matches!(s.open("session:b", &sealed), Err(CryptoError::Open)), "bound to its record");
        let other = Sealer::from_key(&[8u8; 32]).unwrap();
        assert!(matches!(other.open("session:a", &sealed), Err(CryptoError::UnknownKey(_))));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open("session:a", &tampered).is_err());
        assert_ne!(s.seal("x", b"same").unwrap(), s.seal("x", b"same").unwrap(), "fresh nonce every time");
        assert!(Sealer::from_key(&[1u8; 16]).is_err());
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = std::env::temp_dir().join(format!("chartdesk-crypto-{}", uuid::Uuid::new_v4()));
        let a = Sealer::load(None, &dir).unwrap();
        let b = Sealer::load(None, &dir).unwrap();
        assert_eq!(a.current_kid(), b.current_kid());
        let sealed = a.seal("x", b"y").unwrap();
        assert_eq!(b.open("x", &sealed).unwrap(), b"y");
        let _ = std::fs::remove_dir_all(dir);
    }
}
