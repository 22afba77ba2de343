//! The portal: web pages where the owner of a `user-key` sees and fixes their webhooks,
//! served by the API process under `/portal`.
//!
//! Every page is rendered on the server from answers of the public API, called in process
//! with the signed-in key ([`api`]), so authentication, plan gating, validation, limits and
//! error messages are the API's. The pages read and work without scripts; the one script
//! refreshes a running replay's progress. Assets are embedded; a strict Content-Security-
//! Policy allows nothing but this origin.

mod api;
mod chart;
mod pages;
mod routes;
mod session;
mod time;

use serde::{Deserialize, Serialize};

pub use routes::router;

/// Settings of the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Serve the portal under `/portal` of the API's address.
    pub enabled: bool,
    /// Mark the session cookie `Secure` (sent over HTTPS only; browsers also send it to
    /// `http://localhost` and `http://127.0.0.1`). Turn off only for plain HTTP elsewhere.
    pub secure_cookie: bool,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            enabled: true,
            secure_cookie: true,
        }
    }
}
