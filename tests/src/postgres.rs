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
        Database::create_at(&server(), prefix).await
    }

    async fn create_at(server_url: &str, prefix: &str) -> Database {
        let name: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = name.trim_matches('_').chars().take(60).collect::<String>();
        let admin = connect(server_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("creates the database");
        let url = server_url
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

    /// The same database over a new connection (after a server restart).
    pub async fn reconnect(old: &Database) -> Database {
        Database {
            name: old.name.clone(),
            url: old.url.clone(),
            client: connect(&old.url).await,
        }
    }

    pub async fn execute(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The `[capture.postgres]` section for this database and the given `table = category` map.
    pub fn capture_config(&self, tables: &[(&str, &str)]) -> String {
        self.capture_config_with(tables, "")
    }

    /// [`Database::capture_config`] with more `[capture.postgres]` settings (`key = value`
    /// lines, e.g. `"snapshot = true\n"`).
    pub fn capture_config_with(&self, tables: &[(&str, &str)], settings: &str) -> String {
        let mut toml = format!(
            "[capture.postgres]\nurl = \"{}\"\nslot = \"{name}\"\npublication = \"{name}\"\npoll_interval_ms = 20\n{settings}",
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

/// A PostgreSQL server of a test's own (for tests that restart it), from scripts/postgres.sh.
pub struct OwnServer {
    pub port: u16,
    dir: tempfile::TempDir,
    wal_level: String,
}

impl OwnServer {
    fn script(&self, command: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let status = std::process::Command::new("bash")
            .env("PG_WAL_LEVEL", &self.wal_level)
            .args([script, command, "--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("runs scripts/postgres.sh");
        assert!(status.success(), "scripts/postgres.sh {command} failed");
    }

    /// Starts a server on a free loopback port.
    pub fn start() -> OwnServer {
        OwnServer::start_with_wal_level("logical")
    }

    /// Starts a server whose `wal_level` is `level`.
    pub fn start_with_wal_level(level: &str) -> OwnServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = tempfile::tempdir().expect("tempdir");
        // The server runs as the postgres user when the tests run as root.
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let server = OwnServer {
            port,
            dir,
            wal_level: level.to_owned(),
        };
        server.script("start");
        server
    }

    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    pub fn restart(&self) {
        self.script("restart");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.script("stop");
    }
}

impl Database {
    /// A database on another server than the shared one.
    pub async fn create_on(server_url: &str, prefix: &str) -> Database {
        Database::create_at(server_url, prefix).await
    }
}
