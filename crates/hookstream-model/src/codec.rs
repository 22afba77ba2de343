//! Avro single-object encoding (`C3 01`, the writer schema's CRC-64-AVRO fingerprint in
//! little-endian order, then the Avro binary body).
//!
//! A reader knows the current schema of each record type and every older one under
//! `schemas/history/`; it picks the writer schema by fingerprint and resolves the body
//! to the current schema, so records written before a compatible change still decode.

use std::collections::HashMap;
use std::marker::PhantomData;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::Schema;

/// The two marker bytes of single-object encoding.
pub const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// A record type with an Avro schema and explicit conversions to and from [`Value`].
pub trait AvroRecord: Sized {
    /// The record's name, for error messages.
    const NAME: &'static str;
    /// The current schema (JSON text).
    const SCHEMA: &'static str;
    /// Older versions of the schema that records on the wire may still carry.
    const HISTORY: &'static [&'static str] = &[];

    /// The record as a value of [`Self::SCHEMA`].
    fn to_value(&self) -> Value;
    /// The record from a value already resolved to [`Self::SCHEMA`].
    fn from_value(value: Value) -> Result<Self, DecodeError>;
}

/// Encoder and decoder for one record type. Build it once and share it: it parses schemas.
pub struct Codec<T> {
    schema: Schema,
    header: [u8; HEADER_LEN],
    writers: HashMap<[u8; 8], Schema>,
    _record: PhantomData<fn() -> T>,
}

impl<T: AvroRecord> Codec<T> {
    /// Parses the record's current and historical schemas.
    ///
    /// # Panics
    /// If a schema embedded in the binary does not parse: a build defect, caught by tests.
    pub fn new() -> Codec<T> {
        let schema = parse(T::NAME, T::SCHEMA);
        let fingerprint = fingerprint_of(&schema);
        let header = header_of(fingerprint);
        let mut writers = HashMap::new();
        for old in T::HISTORY {
            let old = parse(T::NAME, old);
            writers.insert(fingerprint_of(&old), old);
        }
        writers.insert(fingerprint, schema.clone());
        Codec {
            schema,
            header,
            writers,
            _record: PhantomData,
        }
    }

    /// The current schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The 8-byte fingerprint that prefixes records written with the current schema.
    pub fn fingerprint(&self) -> [u8; 8] {
        fingerprint_of(&self.schema)
    }

    /// Encodes `record` with the current schema.
    pub fn encode(&self, record: &T) -> Result<Vec<u8>, EncodeError> {
        self.encode_value(record.to_value())
    }

    /// Encodes a value of the current schema (also used by tests to write old shapes).
    pub fn encode_value(&self, value: Value) -> Result<Vec<u8>, EncodeError> {
        // The header is computed once: the schema's fingerprint costs more than the datum.
        framed(&self.header, &self.schema, value, T::NAME)
    }

    /// Decodes a Kafka record's payload, which may be missing (an empty record).
    pub fn decode_record(&self, payload: Option<&[u8]>) -> Result<T, DecodeError> {
        self.decode(payload.ok_or(DecodeError::Empty)?)
    }

    /// Decodes a single-object encoded record written with any known schema version.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated { len: bytes.len() });
        }
        if bytes[..2] != MAGIC {
            return Err(DecodeError::NotSingleObject {
                first: [bytes[0], bytes[1]],
            });
        }
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&bytes[2..HEADER_LEN]);
        let writer = self.writers.get(&fp).ok_or(DecodeError::UnknownSchema {
            record: T::NAME,
            fingerprint: u64::from_le_bytes(fp),
        })?;
        let mut body = &bytes[HEADER_LEN..];
        // Resolve only records written with an older schema: resolving a value against its own
        // schema is needless work and, for unions of records, can pick the wrong branch (a
        // `Removed` would match the first record whose fields it covers).
        let reader = (fp != self.header[2..]).then_some(&self.schema);
        let value = apache_avro::from_avro_datum(writer, &mut body, reader).map_err(|e| {
            DecodeError::Avro {
                record: T::NAME,
                message: e.to_string(),
            }
        })?;
        if !body.is_empty() {
            return Err(DecodeError::TrailingBytes {
                record: T::NAME,
                len: body.len(),
            });
        }
        T::from_value(value)
    }

    /// The header every record written with the current schema starts with.
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}

impl<T: AvroRecord> Default for Codec<T> {
    fn default() -> Self {
        Codec::new()
    }
}

/// Writes `value` as a single object of `schema`.
pub fn write_single_object(
    schema: &Schema,
    value: Value,
    record: &'static str,
) -> Result<Vec<u8>, EncodeError> {
    framed(&header_of(fingerprint_of(schema)), schema, value, record)
}

/// The single-object header: the magic bytes, then the schema's fingerprint.
fn header_of(fingerprint: [u8; 8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(&MAGIC);
    header[2..].copy_from_slice(&fingerprint);
    header
}

/// `header` followed by `value` as an Avro datum of `schema` (validated against it).
fn framed(
    header: &[u8],
    schema: &Schema,
    value: Value,
    record: &'static str,
) -> Result<Vec<u8>, EncodeError> {
    let body = apache_avro::to_avro_datum(schema, value).map_err(|e| EncodeError {
        record,
        message: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&body);
    Ok(out)
}

fn parse(name: &str, text: &str) -> Schema {
    match Schema::parse_str(text) {
        Ok(schema) => schema,
        Err(e) => panic!("embedded schema of {name} does not parse: {e}"),
    }
}

/// The CRC-64-AVRO (Rabin) fingerprint of a schema's canonical form, little-endian.
pub fn fingerprint_of(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[..8]);
    fp
}

/// A record that could not be encoded: its value does not match its schema (a bug).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {record}: {message}")]
pub struct EncodeError {
    record: &'static str,
    message: String,
}

/// Why bytes could not be decoded as a record. None of these is retryable: the bytes are bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty record")]
    Empty,
    #[error("record too short for single-object encoding ({len} bytes)")]
    Truncated { len: usize },
    #[error("not Avro single-object encoding (starts with {first:02x?}, expected c3 01)")]
    NotSingleObject { first: [u8; 2] },
    #[error("{record} written with an unknown schema (fingerprint {fingerprint:#018x})")]
    UnknownSchema {
        record: &'static str,
        fingerprint: u64,
    },
    #[error("{record} body does not decode: {message}")]
    Avro {
        record: &'static str,
        message: String,
    },
    #[error("{record} has {len} bytes after its body")]
    TrailingBytes { record: &'static str, len: usize },
    #[error("{record} lacks field {field}")]
    MissingField {
        record: &'static str,
        field: &'static str,
    },
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{what}: {message}")]
    Invalid { what: &'static str, message: String },
}

impl DecodeError {
    pub(crate) fn shape(what: &'static str, expected: &'static str, found: &Value) -> Self {
        let mut found = format!("{found:?}");
        found.truncate(80);
        DecodeError::Shape {
            what,
            expected,
            found,
        }
    }
}
