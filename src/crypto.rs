//! Encryption at rest: AES-256-GCM (ring) under an envelope of keys.
//!
//! - A **master key** (`security.master_key`, base64 of 32 bytes, or `<data_dir>/keys/master.key`
//!   generated on first start) wraps the data keys and nothing else.
//! - **Data keys** are per data class and per calendar month, created on first use, stored
//!   wrapped in the database (`data_keys`). Shredding a data key (retention) makes everything
//!   it sealed unreadable, on every replica and backup.
//! - Sealed form: `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`. Every seal binds an
//!   associated-data string naming what the value is for (e.g. `session:<launch id>`), so a
//!   ciphertext cannot be moved to another record and still open.
//!
//! `chartdesk keys rotate` re-wraps every data key under a new master key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::store::{DataKeyRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read or write the key file {0}")]
    KeyFile(String, #[source] std::io::Error),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with unknown key {0}")]
    UnknownKey(String),
    #[error("sealed with key {0}, which was destroyed under the retention policy")]
    Shredded(String),
    #[error("data key {0} is wrapped by a master key that is not available")]
    NoMaster(String),
    #[error("sealed value does not open (wrong key, record or tampering)")]
    Open,
    #[error("random number generator failure")]
    Random,
    #[error("key storage: {0}")]
    Store(#[from] StoreError),
}

/// What a sealed value is; each class has its own data keys (and retention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataClass {
    /// OAuth access and refresh tokens (sessions).
    Token,
    /// Message content.
    Message,
    /// Handoff and ticket notes.
    Handoff,
    /// Audit records.
    Audit,
}

impl DataClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Token => "tok",
            DataClass::Message => "msg",
            DataClass::Handoff => "hnd",
            DataClass::Audit => "aud",
        }
    }
}

fn key_from(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::BadKey)?))
}

/// A short, stable id for a key: reveals nothing useful.
fn kid_of(prefix: &str, key: &[u8]) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&Sha256::digest([b"chartdesk-kid:".as_slice(), key].concat())[..6]))
}

fn seal_with(
    rng: &SystemRandom,
    kid: &str,
    key: &LessSafeKey,
    aad: &str,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| CryptoError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!("v1.{kid}.{}", URL_SAFE_NO_PAD.encode(out)))
}

fn split(sealed: &str) -> Result<(&str, &str), CryptoError> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(kid), Some(body)) if !kid.is_empty() => Ok((kid, body)),
        _ => Err(CryptoError::Malformed),
    }
}

fn open_with(key: &LessSafeKey, aad: &str, body: &str) -> Result<Vec<u8>, CryptoError> {
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

/// A data key in hand, for synchronous sealing inside a batch (the audit writer).
#[derive(Clone)]
pub struct DataKey {
    kid: String,
    key: Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl DataKey {
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        seal_with(&self.rng, &self.kid, &self.key, aad, plaintext)
    }
}

struct Master {
    kid: String,
    key: LessSafeKey,
}

/// The envelope: master keys (by id) and a cache of unwrapped data keys.
pub struct KeyRing {
    store: Arc<dyn Store>,
    masters: RwLock<Vec<Master>>,
    /// The master key that wraps new data keys.
    current_master: RwLock<String>,
    data: RwLock<HashMap<String, Arc<LessSafeKey>>>,
    current: RwLock<HashMap<(DataClass, String), String>>,
    file: Option<PathBuf>,
    rng: SystemRandom,
}

fn period_now() -> String {
    chrono::Utc::now().format("%Y%m").to_string()
}

impl KeyRing {
    /// Load the master key from configuration, else `<data_dir>/keys/master.key` (created on
    /// first start). A `master.key.next` left by an interrupted rotation is also tried.
    pub fn load(configured: Option<&str>, data_dir: &Path, store: Arc<dyn Store>) -> Result<KeyRing, CryptoError> {
        let mut masters = Vec::new();
        let mut file = None;
        match configured {
            Some(b64) => {
                let key = STANDARD.decode(b64.trim()).map_err(|_| CryptoError::BadKey)?;
                masters.push(Master { kid: kid_of("m", &key), key: key_from(&key)? });
            }
            None => {
                let path = data_dir.join("keys/master.key");
                let key = read_or_create_key(&path)?;
                masters.push(Master { kid: kid_of("m", &key), key: key_from(&key)? });
                if let Ok(text) = std::fs::read_to_string(path.with_extension("key.next"))
                    && let Ok(next) = STANDARD.decode(text.trim())
                {
                    masters.push(Master { kid: kid_of("m", &next), key: key_from(&next)? });
                }
                file = Some(path);
            }
        }
        let current_master = masters[0].kid.clone();
        Ok(KeyRing {
            store,
            masters: RwLock::new(masters),
            current_master: RwLock::new(current_master),
            data: RwLock::new(HashMap::new()),
            current: RwLock::new(HashMap::new()),
            file,
            rng: SystemRandom::new(),
        })
    }

    fn wrap(&self, kid: &str, key: &[u8]) -> Result<(String, String), CryptoError> {
        let masters = self.masters.read().unwrap_or_else(|p| p.into_inner());
        let current = self.current_master.read().unwrap_or_else(|p| p.into_inner()).clone();
        let m = masters.iter().find(|m| m.kid == current).ok_or_else(|| CryptoError::NoMaster(kid.into()))?;
        Ok((seal_with(&self.rng, &m.kid, &m.key, &format!("data-key:{kid}"), key)?, m.kid.clone()))
    }

    fn unwrap(&self, row: &DataKeyRow) -> Result<Vec<u8>, CryptoError> {
        let wrapped = row.wrapped.as_deref().ok_or_else(|| CryptoError::Shredded(row.kid.clone()))?;
        let (mkid, body) = split(wrapped)?;
        let masters = self.masters.read().unwrap_or_else(|p| p.into_inner());
        let m = masters.iter().find(|m| m.kid == mkid).ok_or_else(|| CryptoError::NoMaster(row.kid.clone()))?;
        open_with(&m.key, &format!("data-key:{}", row.kid), body)
    }

    /// The current data key of a class, created on first use this month.
    pub async fn data_key(&self, class: DataClass) -> Result<DataKey, CryptoError> {
        let period = period_now();
        let known = self.current.read().unwrap_or_else(|p| p.into_inner()).get(&(class, period.clone())).cloned();
        if let Some(kid) = known
            && let Some(key) = self.data.read().unwrap_or_else(|p| p.into_inner()).get(&kid).cloned()
        {
            return Ok(DataKey { kid, key, rng: self.rng.clone() });
        }
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw).map_err(|_| CryptoError::Random)?;
        let mut suffix = [0u8; 6];
        self.rng.fill(&mut suffix).map_err(|_| CryptoError::Random)?;
        let kid = format!("{}-{period}-{}", class.as_str(), URL_SAFE_NO_PAD.encode(suffix));
        let (wrapped, master_kid) = self.wrap(&kid, &raw)?;
        self.store
            .data_key_insert(&DataKeyRow {
                kid: kid.clone(),
                class: class.as_str().into(),
                period: period.clone(),
                wrapped: Some(wrapped),
                master_kid,
                created_ms: chrono::Utc::now().timestamp_millis(),
                shredded_ms: None,
            })
            .await?;
        let key = Arc::new(key_from(&raw)?);
        self.data.write().unwrap_or_else(|p| p.into_inner()).insert(kid.clone(), key.clone());
        self.current.write().unwrap_or_else(|p| p.into_inner()).insert((class, period), kid.clone());
        Ok(DataKey { kid, key, rng: self.rng.clone() })
    }

    pub async fn seal(&self, class: DataClass, aad: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        self.data_key(class).await?.seal(aad, plaintext)
    }

    async fn key_for(&self, kid: &str) -> Result<Arc<LessSafeKey>, CryptoError> {
        if let Some(k) = self.data.read().unwrap_or_else(|p| p.into_inner()).get(kid).cloned() {
            return Ok(k);
        }
        let row = self.store.data_key_get(kid).await?.ok_or_else(|| CryptoError::UnknownKey(kid.into()))?;
        let key = Arc::new(key_from(&self.unwrap(&row)?)?);
        self.data.write().unwrap_or_else(|p| p.into_inner()).insert(kid.to_string(), key.clone());
        Ok(key)
    }

    pub async fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let (kid, body) = split(sealed)?;
        let key = self.key_for(kid).await?;
        open_with(&key, aad, body)
    }

    /// Destroy the data keys of `class` for months before `before_period` (`YYYYMM`).
    pub async fn shred(&self, class: DataClass, before_period: &str) -> Result<u64, CryptoError> {
        let n = self.store.data_key_shred(class.as_str(), before_period, chrono::Utc::now().timestamp_millis()).await?;
        let prefix = format!("{}-", class.as_str());
        self.data.write().unwrap_or_else(|p| p.into_inner()).retain(|kid, _| {
            !(kid.starts_with(&prefix) && kid[prefix.len()..].split('-').next().is_some_and(|p| p < before_period))
        });
        self.current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(c, p), _| !(*c == class && p.as_str() < before_period));
        Ok(n)
    }

    /// Re-wrap every live data key under `new_master` (base64 of 32 bytes) and make it current.
    /// With a file-held master key, the new key replaces `master.key` once the database commit
    /// succeeded. Returns how many data keys were re-wrapped.
    pub async fn rotate_master(&self, new_master: &[u8]) -> Result<usize, CryptoError> {
        let new_kid = kid_of("m", new_master);
        if let Some(path) = &self.file {
            let next = path.with_extension("key.next");
            let _ = std::fs::remove_file(&next);
            write_secret(&next, STANDARD.encode(new_master).as_bytes())
                .map_err(|e| CryptoError::KeyFile(next.display().to_string(), e))?;
        }
        let new_key = key_from(new_master)?;
        let rows = self.store.data_keys().await?;
        let mut updates = Vec::new();
        for row in rows.iter().filter(|r| r.wrapped.is_some()) {
            let raw = self.unwrap(row)?;
            let wrapped = seal_with(&self.rng, &new_kid, &new_key, &format!("data-key:{}", row.kid), &raw)?;
            updates.push((row.kid.clone(), wrapped, new_kid.clone()));
        }
        self.store.data_key_rewrap(&updates).await?;
        if let Some(path) = &self.file {
            let next = path.with_extension("key.next");
            std::fs::rename(&next, path).map_err(|e| CryptoError::KeyFile(path.display().to_string(), e))?;
        }
        self.masters.write().unwrap_or_else(|p| p.into_inner()).push(Master { kid: new_kid.clone(), key: new_key });
        *self.current_master.write().unwrap_or_else(|p| p.into_inner()) = new_kid;
        Ok(updates.len())
    }

    /// A fresh random 32-byte key.
    pub fn random_key(&self) -> Result<[u8; 32], CryptoError> {
        let mut k = [0u8; 32];
        self.rng.fill(&mut k).map_err(|_| CryptoError::Random)?;
        Ok(k)
    }
}

fn read_or_create_key(path: &Path) -> Result<Vec<u8>, CryptoError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => STANDARD.decode(text.trim()).map_err(|_| CryptoError::BadKey),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemRandom::new().fill(&mut key).map_err(|_| CryptoError::Random)?;
            write_secret(path, STANDARD.encode(key).as_bytes()).map_err(|e| CryptoError::KeyFile(shown, e))?;
            Ok(key.to_vec())
        }
        Err(e) => Err(CryptoError::KeyFile(shown, e)),
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

    async fn ring(dir: &Path) -> KeyRing {
        let url = format!("sqlite://{}/k.db", dir.display());
        let store = crate::store::open(&url, 2, std::time::Duration::from_secs(5)).await.unwrap();
        KeyRing::load(None, dir, store).unwrap()
    }

    #[tokio::test]
    async fn envelope_seal_open_bind_rotate_and_shred() {
        let dir = std::env::temp_dir().join(format!("chartdesk-crypto-{}", uuid::Uuid::new_v4()));
        let r = ring(&dir).await;
        let sealed = r.seal(DataClass::Token, "session:a", b"access-token-value").await.unwrap();
        assert!(!sealed.contains("access-token-value"));
        assert!(sealed.starts_with("v1.tok-"));
        assert_eq!(r.open("session:a", &sealed).await.unwrap(), b"access-token-value");
        assert!(matches!(r.open("session:b", &sealed).await, Err(CryptoError::Open)), "bound to its record");
        assert_ne!(
            r.seal(DataClass::Token, "x", b"same").await.unwrap(),
            r.seal(DataClass::Token, "x", b"same").await.unwrap()
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(r.open("session:a", &tampered).await.is_err());

        // A second process (same data dir, empty cache) opens it through the wrapped key.
        let again = ring(&dir).await;
        assert_eq!(again.open("session:a", &sealed).await.unwrap(), b"access-token-value");

        // Rotation re-wraps; old ciphertexts still open; the master file changed.
        let before = std::fs::read_to_string(dir.join("keys/master.key")).unwrap();
        let new = r.random_key().unwrap();
        assert!(r.rotate_master(&new).await.unwrap() >= 1);
        assert_ne!(before, std::fs::read_to_string(dir.join("keys/master.key")).unwrap());
        let after = ring(&dir).await;
        assert_eq!(after.open("session:a", &sealed).await.unwrap(), b"access-token-value");

        // Shredding makes the data unreadable for good.
        let next_month = (chrono::Utc::now() + chrono::Duration::days(40)).format("%Y%m").to_string();
        assert!(after.shred(DataClass::Token, &next_month).await.unwrap() >= 1);
        assert!(matches!(after.open("session:a", &sealed).await, Err(CryptoError::Shredded(_))));
        let fresh = ring(&dir).await;
        assert!(matches!(fresh.open("session:a", &sealed).await, Err(CryptoError::Shredded(_))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
