//! `DeliveryJob`: a delivery queued for a later attempt on a retry tier.

use std::sync::Arc;

use apache_avro::types::Value;

use crate::change::category_field;
use crate::codec::{AvroRecord, DecodeError};
use crate::value::{record, Fields};
use crate::{Category, ChangeOp, UnixMillis, WebhookId};

/// A delivery that must be attempted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryJob {
    /// The `webhook-id` header, stable for one (change, webhook) pair.
    pub delivery_id: String,
    pub webhook_id: WebhookId,
    pub category: Category,
    pub entity_id: i64,
    pub change_id: String,
    pub op: ChangeOp,
    /// The entity's JSON, shared by every job of one change.
    pub data: Arc<str>,
    pub source_partition: i32,
    /// Offset of the change on its category partition: the entity version.
    pub source_offset: i64,
    /// Number of the next attempt (1 is the first delivery).
    pub attempt: i32,
    pub first_failed_at: UnixMillis,
    pub due_at: UnixMillis,
    pub replay: bool,
}

impl AvroRecord for DeliveryJob {
    const NAME: &'static str = "DeliveryJob";
    const SCHEMA: &'static str = include_str!("../../../schemas/DeliveryJob.avsc");

    fn to_value(&self) -> Value {
        record(vec![
            ("delivery_id", Value::String(self.delivery_id.clone())),
            ("webhook_id", Value::Long(self.webhook_id.0)),
            ("category", Value::Int(self.category.key())),
            ("entity_id", Value::Long(self.entity_id)),
            ("change_id", Value::String(self.change_id.clone())),
            ("op", self.op.to_value()),
            ("data", Value::String(self.data.to_string())),
            ("source_partition", Value::Int(self.source_partition)),
            ("source_offset", Value::Long(self.source_offset)),
            ("attempt", Value::Int(self.attempt)),
            (
                "first_failed_at",
                Value::TimestampMillis(self.first_failed_at),
            ),
            ("due_at", Value::TimestampMillis(self.due_at)),
            ("replay", Value::Boolean(self.replay)),
        ])
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::of(Self::NAME, value)?;
        Ok(DeliveryJob {
            delivery_id: f.string("delivery_id")?,
            webhook_id: WebhookId(f.long("webhook_id")?),
            category: category_field(f.int("category")?)?,
            entity_id: f.long("entity_id")?,
            change_id: f.string("change_id")?,
            op: ChangeOp::from_symbol("DeliveryJob.op", &f.symbol("op")?)?,
            data: f.string("data")?.into(),
            source_partition: f.int("source_partition")?,
            source_offset: f.long("source_offset")?,
            attempt: f.int("attempt")?,
            first_failed_at: f.long("first_failed_at")?,
            due_at: f.long("due_at")?,
            replay: f.boolean("replay")?,
        })
    }
}
