//! The initial snapshot: every existing row of the mapped tables, published as `create`,
//! consistent with where the stream starts.
//!
//! The slot is created first (it streams everything committed after its consistent point),
//! then the rows are read in one REPEATABLE READ transaction whose snapshot is recorded. A
//! transaction the snapshot already saw can still come through the stream (it committed
//! between the slot's creation and the snapshot); [`Visibility::saw`] tells, so it is skipped:
//! every committed change arrives exactly once, from the snapshot or from the stream.

use std::collections::HashSet;

use hookstream_model::ChangeOp;
use tokio_postgres::{Client, SimpleQueryMessage};
use tracing::info;

use super::pgoutput::{Column, Datum, Relation, Tuple};
use super::source::{publish, quote_table, to_change, Failure, Mapping, Origin};
use crate::Publisher;

/// Rows read and published per round trip.
const CHUNK: usize = 1_000;

/// Which transactions a snapshot saw (`pg_current_snapshot()`: `xmin:xmax:xip,…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    xmin: u64,
    xmax: u64,
    running: HashSet<u64>,
}

impl Visibility {
    pub fn parse(text: &str) -> Option<Visibility> {
        let mut parts = text.trim().split(':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let running = match parts.next() {
            Some("") | None => HashSet::new(),
            Some(list) => list
                .split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?,
        };
        Some(Visibility {
            xmin,
            xmax,
            running,
        })
    }

    /// Whether the transaction with the 32-bit `xid` (as in a Begin message) had committed
    /// when the snapshot was taken.
    pub fn saw(&self, xid: u32) -> bool {
        let full = widen(xid, self.xmax);
        full < self.xmin || (full < self.xmax && !self.running.contains(&full))
    }
}

/// The 64-bit transaction id of a 32-bit one: the one within 2^31 of `reference` (the way
/// PostgreSQL itself widens ids relative to the next transaction id).
fn widen(xid: u32, reference: u64) -> u64 {
    let distance = xid.wrapping_sub(reference as u32) as i32;
    reference.wrapping_add_signed(i64::from(distance))
}

/// Reads every mapped table in one REPEATABLE READ transaction and publishes its rows as
/// `create` changes stamped with the slot's consistent point. Returns what the snapshot saw.
pub async fn take(
    client: &Client,
    mapping: &Mapping,
    publisher: &Publisher,
    consistent_lsn: u64,
) -> Result<Visibility, Failure> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let result = read_all(client, mapping, publisher, consistent_lsn).await;
    let _ = client.batch_execute("COMMIT").await;
    result
}

async fn read_all(
    client: &Client,
    mapping: &Mapping,
    publisher: &Publisher,
    consistent_lsn: u64,
) -> Result<Visibility, Failure> {
    let snapshot: String = client
        .query_one("SELECT pg_current_snapshot()::text", &[])
        .await?
        .get(0);
    let visibility = Visibility::parse(&snapshot).ok_or_else(|| {
        Failure::Fatal(super::SourceError::Config(format!(
            "unreadable snapshot {snapshot:?}"
        )))
    })?;
    let captured_at = hookstream_model::now_millis();
    for table in mapping.tables() {
        let relation = describe(client, &table).await?;
        client
            .batch_execute(&format!(
                "DECLARE hookstream_snapshot NO SCROLL CURSOR FOR SELECT * FROM {}",
                quote_table(&table)
            ))
            .await?;
        let mut published = 0usize;
        loop {
            let messages = client
                .simple_query(&format!("FETCH {CHUNK} FROM hookstream_snapshot"))
                .await?;
            let mut changes = Vec::new();
            for message in messages {
                if let SimpleQueryMessage::Row(row) = message {
                    let tuple = Tuple(
                        (0..row.len())
                            .map(|i| {
                                row.get(i)
                                    .map(|t| Datum::Text(t.to_owned()))
                                    .unwrap_or(Datum::Null)
                            })
                            .collect(),
                    );
                    let origin = Origin::Snapshot {
                        lsn: consistent_lsn,
                        table: &table,
                        captured_at,
                    };
                    changes.extend(to_change(
                        mapping,
                        Some(&relation),
                        ChangeOp::Create,
                        &tuple,
                        None,
                        origin,
                    ));
                }
            }
            if changes.is_empty() {
                break;
            }
            publish(publisher, &changes).await?;
            published += changes.len();
        }
        client.batch_execute("CLOSE hookstream_snapshot").await?;
        info!(%table, rows = published, "snapshot of table published");
    }
    Ok(visibility)
}

/// The shape of `table`, as a pgoutput relation would describe it.
async fn describe(client: &Client, table: &str) -> Result<Relation, Failure> {
    let rows = client
        .query(
            "SELECT attname::text, atttypid FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await?;
    let (namespace, name) = table.split_once('.').unwrap_or(("public", table));
    Ok(Relation {
        id: 0,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        replica_identity: b'f',
        columns: rows
            .iter()
            .map(|row| Column {
                key: false,
                name: row.get(0),
                type_oid: row.get(1),
                type_modifier: -1,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_follows_the_snapshot() {
        let v = Visibility::parse("100:110:103,107").expect("parses");
        assert!(
            v.saw(99) && v.saw(100) && v.saw(104),
            "committed before the snapshot"
        );
        assert!(!v.saw(103) && !v.saw(107), "running when it was taken");
        assert!(!v.saw(110) && !v.saw(200), "started after it");
        assert!(Visibility::parse("5:5:").expect("parses").saw(4));
        assert_eq!(Visibility::parse("x:1:"), None);
    }

    #[test]
    fn wrapped_ids_are_widened_into_the_right_epoch() {
        let epoch = 3u64 << 32;
        let v = Visibility::parse(&format!("{}:{}:", epoch + 10, epoch + 20)).expect("parses");
        assert!(v.saw(5), "epoch 3, id 5: before xmin");
        assert!(v.saw(15), "inside the window and not running: committed");
        assert!(
            v.saw(u32::MAX),
            "id 2^32-1 belongs to epoch 2: long committed"
        );
        assert!(!v.saw(25), "after xmax");
    }
}
