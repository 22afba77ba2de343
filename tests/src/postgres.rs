//! The shared PostgreSQL server of a test run, with a database per test.

use tokio_postgres::{Client, NoTls};

/// Connection string of the server: `HOOKSTREAM_TEST_POSTGRES`, else the test script's default.
pub fn server() -> String {
    std::env::var("HOOKSTREAM_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=15432 user=postgres dbname=postgres".into())
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to PostgreSQL at {url}: {e} (scripts/test.sh starts it)")
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A database of one test, with names for its slot and publication.
pub struct Database {
    pub name: String,
    pub url: String,
    pub client: Client,
}

impl Database {
    /// Creates a fresh database named after `prefix` (a test namespace).
    pub async fn create(prefix: &str) -> Database {
        let name: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = name.trim_matches('_').chars().take(60).collect::<String>();
        let admin = connect(&server()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("creates the database");
        let url = server()
            .split_whitespace()
            .map(|part| {
                if part.starts_with("dbname=") {
                    format!("dbname={name}")
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let client = connect(&url).await;
        Database { name, url, client }
    }

    pub async fn execute(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The `[capture.postgres]` section for this database and the given `table = category` map.
    pub fn capture_config(&self, tables: &[(&str, &str)]) -> String {
        let mut toml = format!(
            "[capture.postgres]\nurl = \"{}\"\nslot = \"{name}\"\npublication = \"{name}\"\npoll_interval_ms = 20\n",
            self.url,
            name = self.name
        );
        for (table, category) in tables {
            toml.push_str(&format!(
                "\n[[capture.postgres.tables]]\ntable = \"{table}\"\ncategory = \"{category}\"\n"
            ));
        }
        toml
    }
}
