//! API keys: a TOML file of SHA-256 hashes, each with an account and a plan.
//!
//! ```toml
//! [[key]]
//! account = "acme"
//! plan = "pro"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hookstream_model::AccountId;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The plan of an account. Webhooks are for Pro, Ultra and Enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Basic,
    Pro,
    Ultra,
    Enterprise,
}

impl Plan {
    pub fn allows_webhooks(self) -> bool {
        matches!(self, Plan::Pro | Plan::Ultra | Plan::Enterprise)
    }

    pub fn name(self) -> &'static str {
        match self {
            Plan::Free => "Free",
            Plan::Basic => "Basic",
            Plan::Pro => "Pro",
            Plan::Ultra => "Ultra",
            Plan::Enterprise => "Enterprise",
        }
    }
}

/// The account and plan behind a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    pub plan: Plan,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    account: String,
    plan: Plan,
    sha256: String,
}

/// Why the keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read keys file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("keys file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The keys, by hash. Keys themselves are never stored.
#[derive(Debug, Default)]
pub struct Keys {
    by_hash: HashMap<[u8; 32], Caller>,
}

impl Keys {
    /// Loads and validates a keys file.
    pub fn load(path: &Path) -> Result<Keys, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Keys::parse(&text).map_err(|message| KeyError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses the TOML text of a keys file.
    pub fn parse(text: &str) -> Result<Keys, String> {
        let file: KeyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        for (index, entry) in file.key.into_iter().enumerate() {
            let at = || format!("key #{} (account {:?})", index + 1, entry.account);
            if entry.account.is_empty() || entry.account.contains('\0') {
                return Err(format!("{}: account must be non-empty text", at()));
            }
            let hash: [u8; 32] = hex::decode(entry.sha256.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| format!("{}: sha256 must be 64 hex digits", at()))?;
            let caller = Caller {
                account: AccountId(entry.account.clone()),
                plan: entry.plan,
            };
            if by_hash.insert(hash, caller).is_some() {
                return Err(format!("{}: the same key hash appears twice", at()));
            }
        }
        Ok(Keys { by_hash })
    }

    /// The caller behind `key`, if it is a known key.
    pub fn lookup(&self, key: &str) -> Option<&Caller> {
        self.lookup_hashed(&hash_key(key))
    }

    /// The caller of the key whose SHA-256 is `hash`. Comparing hashes, not keys, leaks
    /// nothing about a key through timing.
    pub fn lookup_hashed(&self, hash: &[u8; 32]) -> Option<&Caller> {
        self.by_hash.get(hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// SHA-256 of a key, as stored in the keys file.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The keys-file line for `key`, hex-encoded.
pub fn hash_key_hex(key: &str) -> String {
    hex::encode(hash_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_by_hash() {
        let text = format!(
            "[[key]]\naccount = \"acme\"\nplan = \"pro\"\nsha256 = \"{}\"\n\n[[key]]\naccount = \"hobby\"\nplan = \"free\"\nsha256 = \"{}\"\n",
            hash_key_hex("k-pro"),
            hash_key_hex("k-free")
        );
        let keys = Keys::parse(&text).expect("parses");
        assert_eq!(keys.len(), 2);
        let pro = keys.lookup("k-pro").expect("known");
        assert_eq!((pro.account.0.as_str(), pro.plan), ("acme", Plan::Pro));
        assert!(!keys.lookup("k-free").expect("known").plan.allows_webhooks());
        assert!(keys.lookup("k-unknown").is_none());
        // sha256("test"), a published test vector.
        assert_eq!(
            hash_key_hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        for (text, expected) in [
            (
                "[[key]]\naccount = \"a\"\nplan = \"gold\"\nsha256 = \"00\"\n",
                "unknown variant `gold`",
            ),
            (
                "[[key]]\naccount = \"a\"\nplan = \"pro\"\nsha256 = \"xyz\"\n",
                "64 hex digits",
            ),
            (
                "[[key]]\naccount = \"\"\nplan = \"pro\"\nsha256 = \"00\"\n",
                "non-empty",
            ),
            (
                "[[key]]\naccount = \"a\"\nplan = \"pro\"\nsha256 = \"00\"\nkey = \"plain\"\n",
                "unknown field `key`",
            ),
        ] {
            let err = Keys::parse(text).expect_err(text);
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }
}
