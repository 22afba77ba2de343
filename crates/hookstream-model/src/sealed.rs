//! Webhook secrets sealed for the webhook log: XChaCha20-Poly1305 with a configured key, so
//! a copy of `hookstream.webhooks` (a backup, a mirror, a consumer with read access) does not
//! hold the secrets in the clear.
//!
//! A sealed secret is `hs1:<key id>:<base64 of nonce ‖ ciphertext>`. The first configured key
//! seals; every configured key opens, so keys rotate by putting a new key first and keeping
//! the old ones as long as secrets they sealed are in the log. A secret without the prefix
//! (written before keys were configured) opens as itself.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const PREFIX: &str = "hs1:";
/// Binds a ciphertext to its use.
const CONTEXT: &[u8] = b"hookstream webhook secret";

/// Why a secret cannot be opened, or a key not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a secret is sealed with key {0:?}, which is not configured (security.secret_keys)")]
    UnknownKey(String),
    #[error("a sealed secret does not open with key {0:?}: it is damaged or the key is wrong")]
    Damaged(String),
    #[error("security.secret_keys: {0}")]
    BadKey(String),
}

/// The configured keys. Without any, secrets are stored as they are.
#[derive(Clone, Default)]
pub struct Sealer {
    sealing: Option<(String, XChaCha20Poly1305)>,
    keys: HashMap<String, XChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: never the keys.
        f.debug_struct("Sealer")
            .field("sealing", &self.sealing.as_ref().map(|(id, _)| id))
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Sealer {
    /// Keys as `ID:BASE64` (32 bytes of key, e.g. from `openssl rand -base64 32`); the
    /// first one seals.
    pub fn new(keys: &[String]) -> Result<Sealer, SealError> {
        let mut sealer = Sealer::default();
        for entry in keys {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| SealError::BadKey("each key is ID:BASE64".into()))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(SealError::BadKey(format!(
                    "key id {id:?} must be letters, digits, - or _"
                )));
            }
            let bytes = STANDARD
                .decode(key.trim())
                .map_err(|_| SealError::BadKey(format!("key {id:?} is not base64")))?;
            if bytes.len() != 32 {
                return Err(SealError::BadKey(format!(
                    "key {id:?} has {} bytes; it needs 32",
                    bytes.len()
                )));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| SealError::BadKey(format!("key {id:?} is not a key")))?;
            if sealer.keys.insert(id.to_owned(), cipher.clone()).is_some() {
                return Err(SealError::BadKey(format!("key id {id:?} is given twice")));
            }
            sealer.sealing.get_or_insert((id.to_owned(), cipher));
        }
        Ok(sealer)
    }

    /// Whether secrets are sealed (a key is configured).
    pub fn seals(&self) -> bool {
        self.sealing.is_some()
    }

    /// The form of `secret` to put in the log.
    pub fn seal(&self, secret: &str) -> String {
        let Some((id, cipher)) = &self.sealing else {
            return secret.to_owned();
        };
        // 192 random bits from the OS: collisions are not a concern for any number of secrets.
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: CONTEXT,
                },
            )
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", STANDARD.encode(bytes))
    }

    /// The secret as sent to receivers.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest
            .split_once(':')
            .ok_or_else(|| SealError::Damaged(String::new()))?;
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| SealError::Damaged(id.to_owned()))?;
        if bytes.len() < 24 {
            return Err(SealError::Damaged(id.to_owned()));
        }
        let (nonce, sealed) = bytes.split_at(24);
        let opened = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: CONTEXT,
                },
            )
            .map_err(|_| SealError::Damaged(id.to_owned()))?;
        String::from_utf8(opened).map_err(|_| SealError::Damaged(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn sealed_secrets_open_with_their_key_and_after_a_rotation() {
        let old = Sealer::new(&[key("k1", 1)]).expect("valid");
        let sealed = old.seal("s3cret");
        assert!(
            sealed.starts_with("hs1:k1:") && !sealed.contains("s3cret"),
            "{sealed}"
        );
        assert_ne!(old.seal("s3cret"), sealed, "a fresh nonce each time");
        assert_eq!(old.open(&sealed).as_deref(), Ok("s3cret"));

        let rotated = Sealer::new(&[key("k2", 2), key("k1", 1)]).expect("valid");
        assert!(
            rotated.seal("x").starts_with("hs1:k2:"),
            "the first key seals"
        );
        assert_eq!(
            rotated.open(&sealed).as_deref(),
            Ok("s3cret"),
            "the old key still opens"
        );

        let without_k1 = Sealer::new(&[key("k2", 2)]).expect("valid");
        assert_eq!(
            without_k1.open(&sealed),
            Err(SealError::UnknownKey("k1".into()))
        );
        let wrong = Sealer::new(&[key("k1", 9)]).expect("valid");
        assert_eq!(wrong.open(&sealed), Err(SealError::Damaged("k1".into())));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(old.open(&damaged).is_err());
    }

    #[test]
    fn plain_secrets_pass_through_and_bad_keys_are_named() {
        let none = Sealer::new(&[]).expect("valid");
        assert!(!none.seals());
        assert_eq!(none.seal("plain"), "plain");
        assert_eq!(none.open("plain").as_deref(), Ok("plain"));
        let keyed = Sealer::new(&[key("k1", 1)]).expect("valid");
        assert_eq!(
            keyed.open("written-before-keys").as_deref(),
            Ok("written-before-keys")
        );
        for (bad, says) in [
            ("nokey".to_owned(), "ID:BASE64"),
            ("k1:!!!".to_owned(), "not base64"),
            (format!("k1:{}", STANDARD.encode([0u8; 16])), "needs 32"),
            (key("bad id", 1), "letters"),
        ] {
            let err = Sealer::new(std::slice::from_ref(&bad)).expect_err(&bad);
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        let twice = Sealer::new(&[key("k1", 1), key("k1", 2)]).expect_err("twice");
        assert!(twice.to_string().contains("twice"));
        assert!(!format!("{keyed:?}").contains(&STANDARD.encode([1u8; 32])));
    }
}
