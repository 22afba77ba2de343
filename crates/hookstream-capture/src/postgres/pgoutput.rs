//! Decoder of the `pgoutput` logical replication messages (protocol version 1), as returned
//! one per row by `pg_logical_slot_peek_binary_changes`. Pure: bytes in, messages out.

/// A decoded message. Messages hookstream has no use for are [`Message::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        /// Microseconds since 2000-01-01.
        commit_time: i64,
        xid: u32,
    },
    Commit {
        commit_lsn: u64,
        end_lsn: u64,
        commit_time: i64,
    },
    Relation(Relation),
    Insert {
        relation: u32,
        new: Tuple,
    },
    Update {
        relation: u32,
        /// The whole old row, sent when the table's replica identity is FULL.
        old: Option<Tuple>,
        new: Tuple,
    },
    Delete {
        relation: u32,
    },
    Truncate,
    /// Origin, Type, logical decoding messages: not needed.
    Other(u8),
}

/// The shape of a table, sent before its first row in a decoding session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub namespace: String,
    pub name: String,
    /// `relreplident`: `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<Column>,
}

impl Relation {
    /// `schema.table`, with `public` for an empty namespace.
    pub fn qualified_name(&self) -> String {
        let namespace = if self.namespace.is_empty() {
            "public"
        } else {
            &self.namespace
        };
        format!("{namespace}.{}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
}

/// The values of one row, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple(pub Vec<Datum>);

/// One column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// A TOASTed value the update did not change; its value is not in the message.
    Unchanged,
    /// The value in PostgreSQL's text output format.
    Text(String),
    /// The value in binary format (only with the `binary` option, which hookstream does not set).
    Binary(Vec<u8>),
}

/// Bytes that are not a valid pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("pgoutput message ends early (wanted {wanted} more bytes at {at})")]
    Truncated { at: usize, wanted: usize },
    #[error("pgoutput message has an unknown tuple part {0:#04x}")]
    UnknownTuplePart(u8),
    #[error("pgoutput message has an unexpected byte {found:#04x} at {at}; expected {expected}")]
    Unexpected {
        at: usize,
        found: u8,
        expected: &'static str,
    },
    #[error("pgoutput text value is not UTF-8")]
    NotUtf8,
    #[error("empty pgoutput message")]
    Empty,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(DecodeError::Truncated {
                at: self.at,
                wanted: n,
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    /// A NUL-terminated string.
    fn string(&mut self) -> Result<String, DecodeError> {
        let rest = &self.bytes[self.at..];
        let len = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(DecodeError::Truncated {
                at: self.at,
                wanted: 1,
            })?;
        let text = std::str::from_utf8(&rest[..len]).map_err(|_| DecodeError::NotUtf8)?;
        self.at += len + 1;
        Ok(text.to_owned())
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), DecodeError> {
        let at = self.at;
        match self.u8()? {
            b if b == byte => Ok(()),
            found => Err(DecodeError::Unexpected {
                at,
                found,
                expected,
            }),
        }
    }

    fn tuple(&mut self) -> Result<Tuple, DecodeError> {
        let count = self.u16()?;
        let mut datums = Vec::with_capacity(count as usize);
        for _ in 0..count {
            datums.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' => {
                    let len = self.u32()? as usize;
                    let text =
                        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::NotUtf8)?;
                    Datum::Text(text.to_owned())
                }
                b'b' => {
                    let len = self.u32()? as usize;
                    Datum::Binary(self.take(len)?.to_vec())
                }
                other => return Err(DecodeError::UnknownTuplePart(other)),
            });
        }
        Ok(Tuple(datums))
    }
}

/// Decodes one message.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let tag = r.u8().map_err(|_| DecodeError::Empty)?;
    Ok(match tag {
        b'B' => Message::Begin {
            final_lsn: r.u64()?,
            commit_time: r.i64()?,
            xid: r.u32()?,
        },
        b'C' => {
            let _flags = r.u8()?;
            Message::Commit {
                commit_lsn: r.u64()?,
                end_lsn: r.u64()?,
                commit_time: r.i64()?,
            }
        }
        b'R' => {
            let id = r.u32()?;
            let namespace = r.string()?;
            let name = r.string()?;
            let replica_identity = r.u8()?;
            let count = r.u16()?;
            let mut columns = Vec::with_capacity(count as usize);
            for _ in 0..count {
                columns.push(Column {
                    key: r.u8()? & 1 == 1,
                    name: r.string()?,
                    type_oid: r.u32()?,
                    type_modifier: r.u32()? as i32,
                });
            }
            Message::Relation(Relation {
                id,
                namespace,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let relation = r.u32()?;
            r.expect(b'N', "N (new tuple)")?;
            Message::Insert {
                relation,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let old = match r.u8()? {
                // The whole old row (REPLICA IDENTITY FULL): fills unchanged TOASTed values.
                b'O' => {
                    let old = r.tuple()?;
                    r.expect(b'N', "N (new tuple)")?;
                    Some(old)
                }
                // Only the old key, the other columns null: no use for filling values.
                b'K' => {
                    r.tuple()?;
                    r.expect(b'N', "N (new tuple)")?;
                    None
                }
                b'N' => None,
                found => {
                    return Err(DecodeError::Unexpected {
                        at: r.at - 1,
                        found,
                        expected: "K, O or N",
                    })
                }
            };
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => Message::Delete { relation: r.u32()? },
        b'T' => Message::Truncate,
        other => Message::Other(other),
    })
}

#[cfg(test)]
mod tests;
