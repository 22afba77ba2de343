//! Small helpers to build and take apart Avro [`Value`]s by hand.
//!
//! Records are converted explicitly rather than through serde so that unions, enums and
//! logical types map exactly to the schemas in `schemas/`.

use apache_avro::types::Value;

use crate::codec::DecodeError;

/// The fields of a decoded record, taken out by name.
pub(crate) struct Fields {
    record: &'static str,
    fields: Vec<(String, Value)>,
}

impl Fields {
    pub(crate) fn of(record: &'static str, value: Value) -> Result<Fields, DecodeError> {
        match value {
            Value::Record(fields) => Ok(Fields { record, fields }),
            other => Err(DecodeError::shape(record, "record", &other)),
        }
    }

    fn take(&mut self, name: &'static str) -> Result<Value, DecodeError> {
        let at =
            self.fields
                .iter()
                .position(|(n, _)| n == name)
                .ok_or(DecodeError::MissingField {
                    record: self.record,
                    field: name,
                })?;
        Ok(self.fields.swap_remove(at).1)
    }

    pub(crate) fn long(&mut self, name: &'static str) -> Result<i64, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::Long(v) | Value::TimestampMillis(v) => Ok(v),
            Value::Int(v) => Ok(v.into()),
            other => Err(DecodeError::shape(name, "long", &other)),
        }
    }

    pub(crate) fn int(&mut self, name: &'static str) -> Result<i32, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::Int(v) => Ok(v),
            other => Err(DecodeError::shape(name, "int", &other)),
        }
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<String, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::String(v) => Ok(v),
            other => Err(DecodeError::shape(name, "string", &other)),
        }
    }

    pub(crate) fn boolean(&mut self, name: &'static str) -> Result<bool, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::Boolean(v) => Ok(v),
            other => Err(DecodeError::shape(name, "boolean", &other)),
        }
    }

    /// An enum field, as its symbol.
    pub(crate) fn symbol(&mut self, name: &'static str) -> Result<String, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::Enum(_, symbol) => Ok(symbol),
            other => Err(DecodeError::shape(name, "enum", &other)),
        }
    }

    /// A `["null", T]` field: `None` for null, else the inner value.
    pub(crate) fn optional(&mut self, name: &'static str) -> Result<Option<Value>, DecodeError> {
        match unwrap_union(self.take(name)?) {
            Value::Null => Ok(None),
            other => Ok(Some(other)),
        }
    }

    /// The union field `name`, as (branch index, value).
    pub(crate) fn union(&mut self, name: &'static str) -> Result<(u32, Value), DecodeError> {
        match self.take(name)? {
            Value::Union(branch, inner) => Ok((branch, *inner)),
            other => Err(DecodeError::shape(name, "union", &other)),
        }
    }
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

/// Builds a record value from `(name, value)` pairs.
pub(crate) fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

/// The value of a `["null", T]` union.
pub(crate) fn nullable(value: Option<Value>) -> Value {
    match value {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    }
}

/// The value of an enum, given its symbols in schema order.
pub(crate) fn symbol(symbols: &[&str], symbol: &str) -> Value {
    let index = symbols.iter().position(|s| *s == symbol).unwrap_or(0);
    Value::Enum(index as u32, symbol.to_owned())
}
