//! Delivery identity and the Standard Webhooks signature.
//!
//! `webhook-signature` is `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`.
//! The HMAC key is the webhook's secret: for a secret in the Standard Webhooks form
//! `whsec_<base64>` the decoded bytes, otherwise the secret's UTF-8 bytes as they are.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hookstream_model::WebhookId;
use sha2::{Digest, Sha256};

/// The `webhook-id` of the delivery of change `change_id` to `webhook`: the same for every
/// retry, replay and duplicate of that pair.
pub fn delivery_id(change_id: &str, webhook: WebhookId) -> String {
    let mut hash = Sha256::new();
    hash.update(change_id.as_bytes());
    hash.update(b"\x00");
    hash.update(webhook.0.to_be_bytes());
    format!("msg_{}", hex::encode(&hash.finalize()[..16]))
}

/// The HMAC key a secret stands for.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` header value.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&signing_key(secret))
        .expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn delivery_ids_are_stable_per_pair() {
        let a = delivery_id("change-1", WebhookId(1));
        assert_eq!(a, delivery_id("change-1", WebhookId(1)));
        assert_ne!(a, delivery_id("change-1", WebhookId(2)));
        assert_ne!(a, delivery_id("change-2", WebhookId(1)));
        assert!(a.starts_with("msg_") && a.len() == 36);
    }

    #[test]
    fn plain_secrets_are_used_as_bytes() {
        assert_eq!(signing_key("hunter2"), b"hunter2");
        assert_eq!(signing_key("whsec_not base64!"), b"whsec_not base64!");
    }
}
