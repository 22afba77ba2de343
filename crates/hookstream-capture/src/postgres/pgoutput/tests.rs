use super::*;

/// Builds messages byte by byte, the way the protocol documentation lays them out.
#[derive(Default)]
struct Bytes(Vec<u8>);

impl Bytes {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn string(mut self, s: &str) -> Self {
        self.0.extend(s.as_bytes());
        self.0.push(0);
        self
    }
    fn text(self, s: &str) -> Self {
        let mut this = self.u8(b't').u32(s.len() as u32);
        this.0.extend(s.as_bytes());
        this
    }
}

#[test]
fn begin_and_commit() {
    let begin = Bytes::default().u8(b'B').u64(0x16B_3748).u64(7).u32(42);
    assert_eq!(
        decode(&begin.0),
        Ok(Message::Begin {
            final_lsn: 0x16B_3748,
            commit_time: 7,
            xid: 42
        })
    );
    let commit = Bytes::default().u8(b'C').u8(0).u64(10).u64(20).u64(30);
    assert_eq!(
        decode(&commit.0),
        Ok(Message::Commit {
            commit_lsn: 10,
            end_lsn: 20,
            commit_time: 30
        })
    );
}

#[test]
fn relation() {
    let bytes = Bytes::default()
        .u8(b'R')
        .u32(16384)
        .string("")
        .string("games")
        .u8(b'f')
        .u16(2)
        .u8(1)
        .string("id")
        .u32(20)
        .u32(u32::MAX)
        .u8(0)
        .string("name")
        .u32(25)
        .u32(u32::MAX);
    let Ok(Message::Relation(relation)) = decode(&bytes.0) else {
        panic!("relation")
    };
    assert_eq!(relation.qualified_name(), "public.games");
    assert_eq!(relation.replica_identity, b'f');
    assert_eq!(
        relation.columns,
        [
            Column {
                key: true,
                name: "id".into(),
                type_oid: 20,
                type_modifier: -1
            },
            Column {
                key: false,
                name: "name".into(),
                type_oid: 25,
                type_modifier: -1
            },
        ]
    );
}

#[test]
fn insert_update_with_old_tuple_and_unchanged_toast_delete() {
    let insert = Bytes::default()
        .u8(b'I')
        .u32(1)
        .u8(b'N')
        .u16(3)
        .text("7")
        .u8(b'n')
        .text("ü");
    assert_eq!(
        decode(&insert.0),
        Ok(Message::Insert {
            relation: 1,
            new: Tuple(vec![
                Datum::Text("7".into()),
                Datum::Null,
                Datum::Text("ü".into())
            ])
        })
    );
    let update = Bytes::default()
        .u8(b'U')
        .u32(1)
        .u8(b'O')
        .u16(2)
        .text("7")
        .text("long text")
        .u8(b'N')
        .u16(2)
        .text("7")
        .u8(b'u');
    assert_eq!(
        decode(&update.0),
        Ok(Message::Update {
            relation: 1,
            old: Some(Tuple(vec![
                Datum::Text("7".into()),
                Datum::Text("long text".into())
            ])),
            new: Tuple(vec![Datum::Text("7".into()), Datum::Unchanged]),
        })
    );
    let plain_update = Bytes::default().u8(b'U').u32(1).u8(b'N').u16(1).text("8");
    assert!(matches!(
        decode(&plain_update.0),
        Ok(Message::Update { old: None, .. })
    ));
    let delete = Bytes::default().u8(b'D').u32(1).u8(b'K').u16(1).text("7");
    assert_eq!(decode(&delete.0), Ok(Message::Delete { relation: 1 }));
    assert_eq!(decode(b"Y\x00"), Ok(Message::Other(b'Y')));
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    assert_eq!(decode(b""), Err(DecodeError::Empty));
    assert!(matches!(
        decode(b"B\x00\x01"),
        Err(DecodeError::Truncated { .. })
    ));
    let bad_part = Bytes::default().u8(b'I').u32(1).u8(b'N').u16(1).u8(b'x');
    assert_eq!(
        decode(&bad_part.0),
        Err(DecodeError::UnknownTuplePart(b'x'))
    );
    let no_new = Bytes::default().u8(b'I').u32(1).u8(b'Q');
    assert!(matches!(
        decode(&no_new.0),
        Err(DecodeError::Unexpected { found: b'Q', .. })
    ));
    let long_len = Bytes::default()
        .u8(b'I')
        .u32(1)
        .u8(b'N')
        .u16(1)
        .u8(b't')
        .u32(u32::MAX);
    assert!(matches!(
        decode(&long_len.0),
        Err(DecodeError::Truncated { .. })
    ));
    let unterminated = Bytes::default().u8(b'R').u32(1).u8(b'p');
    assert!(matches!(
        decode(&unterminated.0),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn a_key_only_old_tuple_is_not_taken_for_the_old_row() {
    let update = Bytes::default()
        .u8(b'U')
        .u32(1)
        .u8(b'K')
        .u16(2)
        .text("7")
        .u8(b'n')
        .u8(b'N')
        .u16(2)
        .text("8")
        .u8(b'u');
    assert_eq!(
        decode(&update.0),
        Ok(Message::Update {
            relation: 1,
            old: None,
            new: Tuple(vec![Datum::Text("8".into()), Datum::Unchanged]),
        })
    );
}
