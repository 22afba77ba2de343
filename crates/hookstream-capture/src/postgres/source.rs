//! The capture loop: read committed transactions from the slot, publish their inserts and
//! updates, and only then advance the slot past them.
//!
//! The slot is read with `pg_logical_slot_peek_binary_changes` (pgoutput) and advanced with
//! `pg_replication_slot_advance` once Kafka acknowledged every record of the batch, so the
//! slot's confirmed position never passes an unpublished change: a crash re-reads and
//! re-sends, it never skips. Transactions come whole and in commit order.

use std::collections::HashMap;
use std::time::Duration;

use hookstream_model::{Category, ChangeOp, EntityChange};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::json::{entity_id, row_json};
use super::pgoutput::{decode, Message, Relation};
use super::snapshot::{self, Visibility};
use super::PostgresConfig;
use crate::Publisher;

/// Why the PostgreSQL source stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("capture.postgres: {0}")]
    Config(String),
    #[error("PostgreSQL has wal_level={0}; capture needs wal_level=logical (set it in postgresql.conf and restart the server)")]
    WalLevel(String),
    #[error("table {0} does not exist (capture.postgres.tables)")]
    MissingTable(String),
    #[error("PostgreSQL refused an operation capture needs ({0}); the user needs the REPLICATION attribute and to own the mapped tables")]
    Permission(String),
    #[error("replication slot {0:?} disappeared while capture was running; changes after its last confirmed position may be lost. Restarting capture creates the slot again")]
    SlotDropped(String),
}

/// A failure worth reconnecting for.
#[derive(Debug, thiserror::Error)]
pub(super) enum Transient {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("Kafka did not acknowledge a change: {0}")]
    Kafka(#[from] hookstream_kafka::KafkaError),
    #[error("undecodable pgoutput message: {0}")]
    Decode(#[from] super::pgoutput::DecodeError),
}

pub(super) enum Failure {
    Fatal(SourceError),
    Transient(Transient),
}

impl From<Transient> for Failure {
    fn from(t: Transient) -> Self {
        Failure::Transient(t)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Transient(Transient::Postgres(e))
    }
}

pub(super) struct Mapping {
    by_table: HashMap<String, (Category, String)>,
}

impl Mapping {
    /// The mapped tables (`schema.table`), sorted.
    pub(super) fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self.by_table.keys().cloned().collect();
        tables.sort();
        tables
    }

    fn new(config: &PostgresConfig) -> Result<Mapping, SourceError> {
        if config.tables.is_empty() {
            return Err(SourceError::Config("no tables mapped".into()));
        }
        let mut by_table = HashMap::new();
        for table in &config.tables {
            let category = table
                .category
                .parse::<Category>()
                .map_err(|e| SourceError::Config(format!("table {}: {e}", table.table)))?;
            by_table.insert(table.qualified(), (category, table.id_column.clone()));
        }
        Ok(Mapping { by_table })
    }
}

/// Runs the source until `shutdown`; reconnects after transient failures.
pub async fn run(
    config: PostgresConfig,
    publisher: Publisher,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    let mapping = Mapping::new(&config)?;
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(&config, &mapping, &publisher, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(e)) => {
                warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "PostgreSQL source interrupted; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn session(
    config: &PostgresConfig,
    mapping: &Mapping,
    publisher: &Publisher,
    shutdown: &CancellationToken,
) -> Result<(), Failure> {
    let (client, connection) = tokio_postgres::connect(&config.url, NoTls).await?;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "PostgreSQL connection ended");
        }
    });
    let result = async {
        let visibility = prepare(&client, config, mapping, publisher).await?;
        info!(slot = %config.slot, publication = %config.publication, tables = mapping.by_table.len(), "PostgreSQL source started");
        stream(&client, config, mapping, publisher, visibility, shutdown).await
    }
    .await;
    connection.abort();
    result
}

/// Checks the server and creates what capture needs: replica identity, publication, slot.
/// With `snapshot` on and no slot yet, publishes the existing rows first and returns what the
/// snapshot saw, so the stream can skip it.
async fn prepare(
    client: &Client,
    config: &PostgresConfig,
    mapping: &Mapping,
    publisher: &Publisher,
) -> Result<Option<Visibility>, Failure> {
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3",
        )
        .await?;
    let wal_level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
    if wal_level != "logical" {
        return Err(Failure::Fatal(SourceError::WalLevel(wal_level)));
    }
    let mut tables: Vec<&String> = mapping.by_table.keys().collect();
    tables.sort();
    for table in &tables {
        let exists: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[table])
            .await?
            .get(0);
        if exists.is_none() {
            return Err(Failure::Fatal(SourceError::MissingTable((*table).clone())));
        }
        if config.set_replica_identity_full {
            execute(
                client,
                &format!("ALTER TABLE {} REPLICA IDENTITY FULL", quote_table(table)),
            )
            .await?;
        }
    }
    let list = tables
        .iter()
        .map(|t| quote_table(t))
        .collect::<Vec<_>>()
        .join(", ");
    let publication = quote_ident(&config.publication);
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&config.publication],
        )
        .await?
        .is_some();
    if exists {
        execute(
            client,
            &format!("ALTER PUBLICATION {publication} SET TABLE {list}"),
        )
        .await?;
    } else {
        execute(
            client,
            &format!("CREATE PUBLICATION {publication} FOR TABLE {list}"),
        )
        .await?;
    }
    let slot = client
        .query_opt(
            "SELECT plugin FROM pg_replication_slots WHERE slot_name = $1",
            &[&config.slot],
        )
        .await?;
    match slot {
        Some(row) => {
            let plugin: Option<String> = row.get(0);
            if plugin.as_deref() != Some("pgoutput") {
                return Err(Failure::Fatal(SourceError::Config(format!(
                    "slot {} exists but uses plugin {plugin:?}, not pgoutput",
                    config.slot
                ))));
            }
        }
        None if config.snapshot => {
            return Ok(Some(
                create_with_snapshot(client, config, mapping, publisher).await?,
            ));
        }
        None => {
            client
                .query_one(
                    "SELECT pg_create_logical_replication_slot($1, 'pgoutput')::text",
                    &[&config.slot],
                )
                .await
                .map_err(classify)?;
            info!(slot = %config.slot, "replication slot created");
        }
    }
    Ok(None)
}

/// Creates the slot and publishes the snapshot. The slot is made under a provisional name and
/// copied to its real name only once the snapshot is on Kafka, so a crash half-way leaves no
/// slot and the next start takes the snapshot again.
async fn create_with_snapshot(
    client: &Client,
    config: &PostgresConfig,
    mapping: &Mapping,
    publisher: &Publisher,
) -> Result<Visibility, Failure> {
    let provisional = format!("{}_init", config.slot);
    client
        .execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
            &[&provisional],
        )
        .await
        .map_err(classify)?;
    let consistent: String = client
        .query_one(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&provisional],
        )
        .await
        .map_err(classify)?
        .get(0);
    let lsn = parse_lsn(&consistent).unwrap_or(0);
    info!(slot = %provisional, consistent_point = %consistent, "taking the initial snapshot");
    let visibility = snapshot::take(client, mapping, publisher, lsn).await?;
    client
        .query_one(
            "SELECT pg_copy_logical_replication_slot($1, $2)::text",
            &[&provisional, &config.slot],
        )
        .await
        .map_err(classify)?;
    client
        .query_one("SELECT pg_drop_replication_slot($1)::text", &[&provisional])
        .await
        .map_err(classify)?;
    info!(slot = %config.slot, "snapshot published; replication slot created");
    Ok(visibility)
}

async fn execute(client: &Client, sql: &str) -> Result<(), Failure> {
    client.batch_execute(sql).await.map_err(classify)
}

/// Permission errors are fatal; the rest is worth a reconnect.
fn classify(e: tokio_postgres::Error) -> Failure {
    match e.code() {
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            Failure::Fatal(SourceError::Permission(e.to_string()))
        }
        _ => Failure::Transient(Transient::Postgres(e)),
    }
}

/// What one read of the slot gave.
#[derive(Default)]
struct Batch {
    changes: Vec<EntityChange>,
    /// End of the last whole transaction read: where the slot may advance to.
    end_lsn: Option<u64>,
    deletes: usize,
}

async fn stream(
    client: &Client,
    config: &PostgresConfig,
    mapping: &Mapping,
    publisher: &Publisher,
    visibility: Option<Visibility>,
    shutdown: &CancellationToken,
) -> Result<(), Failure> {
    let mut relations: HashMap<u32, Relation> = HashMap::new();
    let batch_size = i32::try_from(config.batch_changes).unwrap_or(i32::MAX);
    let mut last_lag_check = std::time::Instant::now() - Duration::from_secs(3600);
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        // Read before the peek: decoding reads up to the flushed WAL, so with nothing to publish
        // everything up to this flush position is confirmed. (Not the write position: with
        // asynchronous commit a commit can be written but not yet flushed, and not yet decoded.)
        let wal_end: String = client
            .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
            .await?
            .get(0);
        let rows = client
            .query(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)",
                &[&config.slot, &batch_size, &config.publication],
            )
            .await
            .map_err(|e| slot_error(e, &config.slot))?;
        let mut batch = Batch::default();
        // Changes of the transaction being read: built at their row (with the table's shape
        // at that point), published only once its commit is in the batch.
        let mut transaction: Vec<EntityChange> = Vec::new();
        let mut current = (0u64, 0i64); // (commit LSN, captured_at) from Begin
        let mut skipping = false;
        for row in &rows {
            let at: String = row.get(0);
            let data: &[u8] = row.get(1);
            match decode(data).map_err(Transient::from)? {
                Message::Relation(relation) => {
                    relations.insert(relation.id, relation);
                }
                Message::Begin {
                    final_lsn,
                    commit_time,
                    xid,
                } => {
                    transaction.clear();
                    // Already in the snapshot: its rows were published from there.
                    skipping = visibility.as_ref().is_some_and(|v| v.saw(xid));
                    current = (final_lsn, commit_time / 1000 + 946_684_800_000);
                }
                Message::Insert { relation, new } => {
                    let origin = stream_origin(current, transaction.len(), &at);
                    transaction.extend(to_change(
                        mapping,
                        relations.get(&relation),
                        ChangeOp::Create,
                        &new,
                        None,
                        origin,
                    ));
                }
                Message::Update { relation, old, new } => {
                    let origin = stream_origin(current, transaction.len(), &at);
                    transaction.extend(to_change(
                        mapping,
                        relations.get(&relation),
                        ChangeOp::Update,
                        &new,
                        old.as_ref(),
                        origin,
                    ));
                }
                Message::Delete { .. } => batch.deletes += 1,
                Message::Commit { end_lsn, .. } => {
                    if skipping {
                        transaction.clear();
                    }
                    batch.changes.append(&mut transaction);
                    batch.end_lsn = Some(end_lsn);
                }
                Message::Truncate | Message::Other(_) => {}
            }
        }
        if last_lag_check.elapsed() > Duration::from_secs(5) {
            last_lag_check = std::time::Instant::now();
            check_retained_wal(client, config, batch.end_lsn.is_none()).await;
        }
        let Some(end_lsn) = batch.end_lsn else {
            if rows.is_empty() {
                // Nothing of the publication changed (pgoutput skips other tables' transactions):
                // let the slot move on, or it would hold WAL back forever.
                advance(client, &config.slot, &wal_end).await?;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(config.poll_interval_ms)) => {}
            }
            continue;
        };
        publish(publisher, &batch.changes).await?;
        advance(client, &config.slot, &format_lsn(end_lsn)).await?;
        record_batch(&batch);
        debug!(changes = batch.changes.len(), deletes = batch.deletes, end_lsn = %format_lsn(end_lsn), "published and confirmed");
    }
}

/// Where a published row comes from; it gives the change its id, `lsn` and capture time.
pub(super) enum Origin<'a> {
    /// A row of a streamed transaction: the transaction's commit LSN, the row's place in it,
    /// and the row's own WAL position (stable across re-reads, and increasing for the versions
    /// of one row, since a later change of a row is written after the earlier one committed).
    Stream {
        commit_lsn: u64,
        index: usize,
        row_lsn: u64,
        captured_at: i64,
    },
    /// A row of the initial snapshot, taken at the slot's consistent point `lsn`.
    Snapshot {
        lsn: u64,
        table: &'a str,
        captured_at: i64,
    },
}

impl Origin<'_> {
    fn change_id(&self, entity_id: i64) -> String {
        match self {
            Origin::Stream {
                commit_lsn, index, ..
            } => format!("pg:{commit_lsn:X}:{index}"),
            Origin::Snapshot { lsn, table, .. } => format!("snap:{lsn:X}:{table}:{entity_id}"),
        }
    }

    fn lsn(&self) -> u64 {
        match self {
            Origin::Stream { row_lsn, .. } => *row_lsn,
            Origin::Snapshot { lsn, .. } => *lsn,
        }
    }

    fn captured_at(&self) -> i64 {
        match self {
            Origin::Stream { captured_at, .. } | Origin::Snapshot { captured_at, .. } => {
                *captured_at
            }
        }
    }
}

/// The origin of the `index`-th row of the transaction `(commit LSN, captured_at)`, read at
/// WAL position `at`.
fn stream_origin((commit_lsn, captured_at): (u64, i64), index: usize, at: &str) -> Origin<'static> {
    Origin::Stream {
        commit_lsn,
        index,
        row_lsn: parse_lsn(at).unwrap_or(commit_lsn),
        captured_at,
    }
}

/// The change a row stands for, or `None` (logged) when it cannot be published.
pub(super) fn to_change(
    mapping: &Mapping,
    relation: Option<&Relation>,
    op: ChangeOp,
    new: &super::pgoutput::Tuple,
    old: Option<&super::pgoutput::Tuple>,
    origin: Origin<'_>,
) -> Option<EntityChange> {
    let Some(relation) = relation else {
        error!("row of a relation that was never described; not published");
        return None;
    };
    let table = relation.qualified_name();
    let (category, id_column) = mapping.by_table.get(&table)?;
    let built = entity_id(relation, new, id_column)
        .and_then(|id| row_json(relation, new, old).map(|data| (id, data)));
    match built {
        Ok((entity_id, data)) => Some(EntityChange {
            change_id: origin.change_id(entity_id),
            category: *category,
            entity_id,
            op,
            data,
            captured_at: origin.captured_at(),
            lsn: Some(origin.lsn() as i64),
        }),
        Err(e) => {
            error!(%table, error = %e, "row not published");
            None
        }
    }
}

/// Publishes every change in order (the order Kafka keeps per partition, so per entity) and
/// waits for all acknowledgements.
pub(super) async fn publish(
    publisher: &Publisher,
    changes: &[EntityChange],
) -> Result<(), Transient> {
    for result in publisher.publish_in_order(changes).await {
        result?;
    }
    Ok(())
}

/// Confirms everything up to `lsn`: the slot will not send it again.
async fn advance(client: &Client, slot: &str, lsn: &str) -> Result<(), Failure> {
    client
        .query_one(
            "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)::text",
            &[&slot, &lsn],
        )
        .await
        .map(|_| ())
        .map_err(|e| slot_error(e, slot))
}

fn slot_error(e: tokio_postgres::Error, slot: &str) -> Failure {
    if e.code() == Some(&SqlState::UNDEFINED_OBJECT) {
        Failure::Fatal(SourceError::SlotDropped(slot.to_owned()))
    } else {
        classify(e)
    }
}

/// Updates the lag gauges and warns when the slot holds back more WAL than configured.
/// `idle`: the last read found nothing to publish, so no change is waiting.
async fn check_retained_wal(client: &Client, config: &PostgresConfig, idle: bool) {
    let query = "SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1";
    if let Ok(Some(row)) = client.query_opt(query, &[&config.slot]).await {
        let retained: Option<i64> = row.get(0);
        let bytes = retained.unwrap_or(0).max(0);
        metrics::gauge!("hookstream_capture_lag_bytes").set(bytes as f64);
        if bytes as u64 > config.wal_warn_bytes {
            warn!(slot = %config.slot, retained_bytes = bytes, "the replication slot retains a lot of WAL; is capture keeping up?");
        }
    }
    if idle {
        metrics::gauge!("hookstream_capture_lag_seconds").set(0.0);
    }
}

/// Counts what a published batch held, and how old its newest change was once on Kafka.
fn record_batch(batch: &Batch) {
    for change in &batch.changes {
        metrics::counter!("hookstream_capture_changes_total", "op" => change.op.as_str(), "category" => change.category.slug()).increment(1);
    }
    metrics::counter!("hookstream_capture_deletes_ignored_total").increment(batch.deletes as u64);
    if let Some(last) = batch.changes.last() {
        let lag = (hookstream_model::now_millis() - last.captured_at).max(0) as f64 / 1000.0;
        metrics::gauge!("hookstream_capture_lag_seconds").set(lag);
    }
}

/// Parses an LSN as PostgreSQL writes it.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

/// An LSN as PostgreSQL writes it: `16/B374D848`.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn quote_table(qualified: &str) -> String {
    qualified
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_and_names_are_written_as_postgresql_reads_them() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn(&format_lsn(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_lsn("nope"), None);
        assert_eq!(quote_table("public.games"), "\"public\".\"games\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
