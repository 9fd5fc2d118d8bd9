//! Signing keys and random values.
//!
//! Keys are generated on first start and kept as PKCS#8 PEM files (mode 0600) in the data
//! directory, so tokens and registrations survive restarts. Key ids are RFC 7638 JWK
//! thumbprints. All cryptography comes from well-kept crates (`rsa`, `p384`, `jsonwebtoken`);
//! nothing here implements a primitive.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write key file {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is not a valid {kind} private key")]
    Invalid { path: PathBuf, kind: &'static str },
    #[error("key generation failed")]
    Generate,
    #[error("signing failed")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// `n` bytes from the operating system's CSPRNG-seeded thread generator, base64url-encoded.
/// 32 bytes = 256 bits: used for codes, tokens, `launch` values and `state`.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A private signing key with its public JWK.
pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: String,
    encoding: EncodingKey,
    public: Jwk,
}

impl SigningKey {
    /// Load the key at `path`, or generate and save one.
    pub fn load_or_create(path: &Path, alg: Algorithm) -> Result<SigningKey, KeyError> {
        let pem = match std::fs::read(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem(alg)?;
                write_private(path, pem.as_bytes())?;
                pem.into_bytes()
            }
            Err(source) => return Err(KeyError::Io { path: path.into(), source }),
        };
        Self::from_pem(&pem, alg).map_err(|_| KeyError::Invalid { path: path.into(), kind: kind_of(alg) })
    }

    /// Build from a PKCS#8 PEM private key.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<SigningKey, KeyError> {
        let encoding = match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => EncodingKey::from_rsa_pem(pem)?,
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem)?,
            _ => return Err(KeyError::Generate),
        };
        let mut public = Jwk::from_encoding_key(&encoding, alg)?;
        let kid = public.thumbprint(ThumbprintHash::SHA256)?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        public.common.key_algorithm = Some(key_algorithm(alg));
        Ok(SigningKey { alg, kid, encoding, public })
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Sign `claims` as a compact JWS with this key's `alg` and `kid` (and `typ: JWT`).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A JWKS document of public keys.
pub fn jwks(keys: &[&SigningKey]) -> JwkSet {
    JwkSet { keys: keys.iter().map(|k| k.public.clone()).collect() }
}

fn key_algorithm(alg: Algorithm) -> KeyAlgorithm {
    match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        _ => KeyAlgorithm::ES384,
    }
}

fn kind_of(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => "EC",
        _ => "RSA",
    }
}

/// Generate a fresh PKCS#8 PEM private key for `alg`.
pub fn generate_pem(alg: Algorithm) -> Result<String, KeyError> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let mut rng = rsa::rand_core::OsRng;
    match alg {
        Algorithm::ES384 => {
            let key = p384::SecretKey::random(&mut rng);
            key.to_pkcs8_pem(LineEnding::LF).map(|p| p.to_string()).map_err(|_| KeyError::Generate)
        }
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|_| KeyError::Generate)?;
            key.to_pkcs8_pem(LineEnding::LF).map(|p| p.to_string()).map_err(|_| KeyError::Generate)
        }
        _ => Err(KeyError::Generate),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    crate::crypto::write_secret(path, bytes).map_err(|source| KeyError::Io { path: path.into(), source })
}

/// chartdesk's own client-authentication keys (RS384 and ES384), published at
/// `/.well-known/jwks.json` for `private_key_jwt` registrations.
pub struct AppKeys {
    pub rs384: SigningKey,
    pub es384: SigningKey,
}

impl AppKeys {
    pub fn load_or_create(data_dir: &Path) -> Result<AppKeys, KeyError> {
        let dir = data_dir.join("keys");
        Ok(AppKeys {
            rs384: SigningKey::load_or_create(&dir.join("client-rs384.pem"), Algorithm::RS384)?,
            es384: SigningKey::load_or_create(&dir.join("client-es384.pem"), Algorithm::ES384)?,
        })
    }

    pub fn jwks(&self) -> JwkSet {
        jwks(&[&self.rs384, &self.es384])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_sign_verifiably() {
        let dir = std::env::temp_dir().join(format!("chartdesk-keys-{}", uuid::Uuid::new_v4()));
        let a = AppKeys::load_or_create(&dir).unwrap();
        let b = AppKeys::load_or_create(&dir).unwrap();
        assert_eq!(a.rs384.kid, b.rs384.kid, "the second start reuses the saved key");
        assert_ne!(a.rs384.kid, a.es384.kid);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("keys/client-rs384.pem")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "private keys are not readable by others");

        for key in [&a.rs384, &a.es384] {
            let jwt = key.sign(&serde_json::json!({"sub": "x", "exp": 4_000_000_000u64})).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            let set = a.jwks();
            let jwk = set.find(&key.kid).unwrap();
            let dk = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
            let mut v = jsonwebtoken::Validation::new(key.alg);
            v.validate_aud = false;
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &dk, &v).unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
