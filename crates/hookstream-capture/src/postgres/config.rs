use serde::{Deserialize, Serialize};

/// Settings of the PostgreSQL source (`[capture.postgres]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection string (`host=… port=… user=… dbname=…` or `postgres://…`). Empty: no
    /// PostgreSQL source. The user needs the REPLICATION attribute and to own the tables.
    pub url: String,
    /// Publication that capture creates (or updates) for the mapped tables.
    pub publication: String,
    /// Logical replication slot (pgoutput) that capture creates and reads from.
    pub slot: String,
    /// Tables and the category each one feeds.
    pub tables: Vec<TableConfig>,
    /// Pause between reads of the slot when it has nothing new, in milliseconds.
    pub poll_interval_ms: u64,
    /// Changes read from the slot per batch (whole transactions; a large one may exceed it).
    pub batch_changes: u32,
    /// Set `REPLICA IDENTITY FULL` on the mapped tables, so an UPDATE carries the old row and
    /// unchanged TOASTed values can be filled in. Without it such values are an error.
    pub set_replica_identity_full: bool,
    /// Warn when the slot holds back more WAL than this, in bytes.
    pub wal_warn_bytes: u64,
    /// On the first start (no slot yet), publish every existing row of the mapped tables as
    /// `create` before streaming, consistent with where the stream starts.
    pub snapshot: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            publication: "hookstream".into(),
            slot: "hookstream".into(),
            tables: Vec::new(),
            poll_interval_ms: 100,
            batch_changes: 2_000,
            set_replica_identity_full: true,
            wal_warn_bytes: 1 << 30,
            snapshot: false,
        }
    }
}

/// One mapped table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// `schema.table` or `table` (schema `public`).
    pub table: String,
    /// Category key (`1`) or slug (`game`).
    pub category: String,
    /// Integer column holding the entity id.
    #[serde(default = "default_id_column")]
    pub id_column: String,
}

fn default_id_column() -> String {
    "id".into()
}

impl TableConfig {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        if self.table.contains('.') {
            self.table.clone()
        } else {
            format!("public.{}", self.table)
        }
    }
}
