//! `Attempt`: one delivery attempt, for the delivery log.

use apache_avro::types::Value;

use crate::change::category_field;
use crate::codec::{AvroRecord, DecodeError};
use crate::value::{nullable, record, symbol, Fields};
use crate::{Category, UnixMillis, WebhookId};

/// Why an attempt got no HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptError {
    Timeout,
    Connect,
    Tls,
    Dns,
    Redirect,
    Other,
    /// Not sent: the endpoint's circuit breaker was open.
    CircuitOpen,
    /// Not sent: the destination is an address deliveries may not reach (egress policy).
    Forbidden,
}

impl AttemptError {
    const SYMBOLS: [&'static str; 8] = [
        "timeout",
        "connect",
        "tls",
        "dns",
        "redirect",
        "other",
        "circuit_open",
        "forbidden",
    ];

    pub fn as_str(self) -> &'static str {
        Self::SYMBOLS[self as usize]
    }

    fn parse(s: &str) -> Result<AttemptError, DecodeError> {
        const ALL: [AttemptError; 8] = [
            AttemptError::Timeout,
            AttemptError::Connect,
            AttemptError::Tls,
            AttemptError::Dns,
            AttemptError::Redirect,
            AttemptError::Other,
            AttemptError::CircuitOpen,
            AttemptError::Forbidden,
        ];
        ALL.into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| DecodeError::Invalid {
                what: "Attempt.error",
                message: format!("unknown error kind {s:?}"),
            })
    }
}

/// What was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    /// A captured change.
    Change,
    /// A change sent again by a replay.
    Replay,
    /// A test ping (`POST /webhooks/ID/test`).
    Test,
}

impl AttemptKind {
    const SYMBOLS: [&'static str; 3] = ["change", "replay", "test"];

    pub fn as_str(self) -> &'static str {
        Self::SYMBOLS[self as usize]
    }

    fn parse(s: &str) -> Result<AttemptKind, DecodeError> {
        [AttemptKind::Change, AttemptKind::Replay, AttemptKind::Test]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DecodeError::Invalid {
                what: "Attempt.kind",
                message: format!("unknown attempt kind {s:?}"),
            })
    }
}

/// One delivery attempt and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: String,
    pub webhook_id: WebhookId,
    pub at: UnixMillis,
    pub attempt: i32,
    pub status: Option<u16>,
    pub error: Option<AttemptError>,
    pub latency_ms: i64,
    pub kind: AttemptKind,
    pub category: Option<Category>,
    /// The entity delivered; `None` for a test ping.
    pub entity_id: Option<i64>,
    /// The entity version delivered (the job's `source_offset`); `None` for a test ping and
    /// in records written before the field existed.
    pub version: Option<i64>,
}

impl AvroRecord for Attempt {
    const NAME: &'static str = "Attempt";
    const SCHEMA: &'static str = include_str!("../../../schemas/Attempt.avsc");
    const HISTORY: &'static [&'static str] =
        &[include_str!("../../../schemas/history/Attempt.v1.avsc")];

    fn to_value(&self) -> Value {
        record(vec![
            ("delivery_id", Value::String(self.delivery_id.clone())),
            ("webhook_id", Value::Long(self.webhook_id.0)),
            ("at", Value::TimestampMillis(self.at)),
            ("attempt", Value::Int(self.attempt)),
            (
                "status",
                nullable(self.status.map(|s| Value::Int(s.into()))),
            ),
            (
                "error",
                nullable(
                    self.error
                        .map(|e| symbol(&AttemptError::SYMBOLS, e.as_str())),
                ),
            ),
            ("latency_ms", Value::Long(self.latency_ms)),
            ("kind", symbol(&AttemptKind::SYMBOLS, self.kind.as_str())),
            (
                "category",
                nullable(self.category.map(|c| Value::Int(c.key()))),
            ),
            ("entity_id", nullable(self.entity_id.map(Value::Long))),
            ("version", nullable(self.version.map(Value::Long))),
        ])
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::of(Self::NAME, value)?;
        let status = match f.optional("status")? {
            None => None,
            Some(Value::Int(s)) => Some(u16::try_from(s).map_err(|_| DecodeError::Invalid {
                what: "Attempt.status",
                message: format!("{s} is not an HTTP status"),
            })?),
            Some(other) => return Err(DecodeError::shape("Attempt.status", "int", &other)),
        };
        let error = match f.optional("error")? {
            None => None,
            Some(Value::Enum(_, s)) => Some(AttemptError::parse(&s)?),
            Some(other) => return Err(DecodeError::shape("Attempt.error", "enum", &other)),
        };
        let category = match f.optional("category")? {
            None => None,
            Some(Value::Int(key)) => Some(category_field(key)?),
            Some(other) => return Err(DecodeError::shape("Attempt.category", "int", &other)),
        };
        let entity_id = match f.optional("entity_id")? {
            None => None,
            Some(Value::Long(id)) => Some(id),
            Some(other) => return Err(DecodeError::shape("Attempt.entity_id", "long", &other)),
        };
        let version = match f.optional("version")? {
            None => None,
            Some(Value::Long(v)) => Some(v),
            Some(other) => return Err(DecodeError::shape("Attempt.version", "long", &other)),
        };
        let kind = AttemptKind::parse(&f.symbol("kind")?)?;
        Ok(Attempt {
            kind,
            category,
            entity_id,
            version,
            delivery_id: f.string("delivery_id")?,
            webhook_id: WebhookId(f.long("webhook_id")?),
            at: f.long("at")?,
            attempt: f.int("attempt")?,
            status,
            error,
            latency_ms: f.long("latency_ms")?,
        })
    }
}
