//! `EntityChange`: one captured add or update, as published on `igdb.<category>`.

use apache_avro::types::Value;

use crate::codec::{AvroRecord, DecodeError};
use crate::value::{nullable, record, symbol, Fields};
use crate::{Category, UnixMillis};

/// What happened to the entity. Deletes are not delivered, so they have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    Create,
    Update,
}

impl ChangeOp {
    const SYMBOLS: [&'static str; 2] = ["create", "update"];

    /// The wire name, also sent as `X-Hookstream-Event`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<ChangeOp> {
        match s {
            "create" => Some(ChangeOp::Create),
            "update" => Some(ChangeOp::Update),
            _ => None,
        }
    }

    pub(crate) fn to_value(self) -> Value {
        symbol(&Self::SYMBOLS, self.as_str())
    }

    pub(crate) fn from_symbol(what: &'static str, s: &str) -> Result<ChangeOp, DecodeError> {
        ChangeOp::parse(s).ok_or_else(|| DecodeError::Invalid {
            what,
            message: format!("unknown op {s:?}"),
        })
    }
}

/// One captured add or update of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityChange {
    /// Stable identity of the change: re-sent copies carry the same id.
    pub change_id: String,
    pub category: Category,
    pub entity_id: i64,
    pub op: ChangeOp,
    /// The entity as JSON text, exactly as captured.
    pub data: String,
    pub captured_at: UnixMillis,
    /// PostgreSQL WAL position of the row change, for changes read by logical decoding.
    pub lsn: Option<i64>,
}

impl EntityChange {
    /// The record key on the category topic: the entity id as decimal text.
    pub fn key(&self) -> String {
        self.entity_id.to_string()
    }
}

impl AvroRecord for EntityChange {
    const NAME: &'static str = "EntityChange";
    const SCHEMA: &'static str = include_str!("../../../schemas/EntityChange.avsc");
    const HISTORY: &'static [&'static str] = &[include_str!(
        "../../../schemas/history/EntityChange.v1.avsc"
    )];

    fn to_value(&self) -> Value {
        record(vec![
            ("change_id", Value::String(self.change_id.clone())),
            ("category", Value::Int(self.category.key())),
            ("entity_id", Value::Long(self.entity_id)),
            ("op", self.op.to_value()),
            ("data", Value::String(self.data.clone())),
            ("captured_at", Value::TimestampMillis(self.captured_at)),
            ("lsn", nullable(self.lsn.map(Value::Long))),
        ])
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::of(Self::NAME, value)?;
        let category = category_field(f.int("category")?)?;
        Ok(EntityChange {
            change_id: f.string("change_id")?,
            category,
            entity_id: f.long("entity_id")?,
            op: ChangeOp::from_symbol("EntityChange.op", &f.symbol("op")?)?,
            data: f.string("data")?,
            captured_at: f.long("captured_at")?,
            lsn: match f.optional("lsn")? {
                None => None,
                Some(Value::Long(v)) => Some(v),
                Some(other) => return Err(DecodeError::shape("lsn", "long", &other)),
            },
        })
    }
}

pub(crate) fn category_field(key: i32) -> Result<Category, DecodeError> {
    Category::from_key(key.into()).map_err(|e| DecodeError::Invalid {
        what: "category",
        message: e.to_string(),
    })
}
