//! A test's own namespace on the shared broker, its configuration, and HTTP helpers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{kafka, Proc};

/// Keys the stack's keys file knows, with their account and plan.
pub const ALICE: &str = "key-alice-pro";
pub const BOB: &str = "key-bob-ultra";
pub const FREE: &str = "key-carol-free";
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Topic prefixes and groups of one test.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub prefix: String,
}

impl Namespace {
    pub fn new(test: &str) -> Namespace {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Namespace {
            prefix: format!("t{stamp}-{}-{n}-{test}.", std::process::id()),
        }
    }

    pub fn webhooks_topic(&self) -> String {
        format!("{}hs.webhooks", self.prefix)
    }
}

/// One test's configuration and scratch directory.
pub struct Stack {
    pub ns: Namespace,
    dir: tempfile::TempDir,
    /// Extra settings a test adds before spawning (e.g. shorter timeouts).
    pub overrides: HashMap<String, String>,
}

impl Stack {
    pub fn new(test: &str) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = |account: &str, plan: &str, key: &str| {
            format!(
                "[[key]]\naccount = \"{account}\"\nplan = \"{plan}\"\nsha256 = \"{}\"\n\n",
                hex(&Sha256::digest(key.as_bytes()))
            )
        };
        let keys = [
            entry("alice", "pro", ALICE),
            entry("bob", "ultra", BOB),
            entry("carol", "free", FREE),
        ]
        .concat();
        std::fs::write(dir.path().join("keys.toml"), keys).expect("writes keys");
        Stack {
            ns: Namespace::new(test),
            dir,
            overrides: HashMap::new(),
        }
    }

    /// Writes a TOML configuration file that every process of this stack reads.
    pub fn config_file(&mut self, toml: &str) {
        let path = self.dir.path().join("hookstream.toml");
        std::fs::write(&path, toml).expect("writes config");
        self.overrides
            .insert("HOOKSTREAM_CONFIG".into(), path.display().to_string());
    }

    /// Where instance `name` keeps its sled files.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment of instance `name`.
    pub fn env(&self, name: &str) -> HashMap<String, String> {
        let p = &self.ns.prefix;
        let data = self.data_dir(name);
        let mut env: HashMap<String, String> = [
            ("HOOKSTREAM_KAFKA__BROKERS", kafka::bootstrap()),
            ("HOOKSTREAM_KAFKA__CATEGORY_PREFIX", format!("{p}igdb.")),
            ("HOOKSTREAM_KAFKA__INTERNAL_PREFIX", format!("{p}hs.")),
            ("HOOKSTREAM_KAFKA__PARTITIONS", "3".into()),
            ("HOOKSTREAM_API__LISTEN", "127.0.0.1:0".into()),
            (
                "HOOKSTREAM_API__KEYS_FILE",
                self.dir.path().join("keys.toml").display().to_string(),
            ),
            (
                "HOOKSTREAM_API__DATA_DIR",
                data.join("api").display().to_string(),
            ),
            ("HOOKSTREAM_CAPTURE__LISTEN", "127.0.0.1:0".into()),
            ("HOOKSTREAM_CAPTURE__ADMIN_TOKEN", ADMIN_TOKEN.into()),
            ("HOOKSTREAM_DISPATCH__LISTEN", "127.0.0.1:0".into()),
            (
                "HOOKSTREAM_DISPATCH__DATA_DIR",
                data.join("dispatch").display().to_string(),
            ),
            ("HOOKSTREAM_DISPATCH__GROUP_ID", format!("{p}dispatch")),
            ("HOOKSTREAM_DISPATCH__REQUEST_TIMEOUT_MS", "3000".into()),
            ("HOOKSTREAM_DISPATCH__TIME_SCALE", "0.01".into()),
            ("HOOKSTREAM_DISPATCH__COMMIT_INTERVAL_MS", "200".into()),
            // Tests make requests faster than a customer may; the limits have a test of their own.
            ("HOOKSTREAM_API__RATE_LIMIT_PER_S", "0".into()),
            ("HOOKSTREAM_API__MAX_WEBHOOKS_PER_ACCOUNT", "100000".into()),
            // The receivers of the tests are on loopback, which the egress policy refuses.
            ("HOOKSTREAM_EGRESS__ALLOW", r#"["127.0.0.1/32"]"#.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.overrides.clone());
        env
    }

    /// Spawns `hookstream <subcommand>` as instance `name`.
    pub fn spawn(&self, name: &str, subcommand: &str) -> Proc {
        Proc::spawn(name, &[subcommand], &self.env(name))
    }

    /// Runs the one-shot `hookstream <args>` with this stack's environment, to its end.
    pub fn run(&self, args: &[&str]) -> crate::process::Finished {
        crate::process::run_to_end(args, &self.env("cli"), crate::WAIT)
    }

    /// Starts the one-shot `hookstream <args>` with this stack's environment.
    pub fn start(&self, args: &[&str]) -> crate::process::Captured {
        crate::process::Captured::spawn(args, &self.env("cli"))
    }

    /// `hookstream api` and `hookstream capture` as processes of their own (dispatchers are
    /// the test's to start), with their clients.
    pub fn api_and_capture(&self) -> (Proc, Proc, Api, Ingest) {
        let api = self.spawn("api", "api");
        let capture = self.spawn("capture", "capture");
        let (api_client, ingest) = (
            Api::new(&api.addr("api")),
            Ingest::new(&capture.addr("capture")),
        );
        (api, capture, api_client, ingest)
    }

    /// `hookstream dev`: everything in one process. Returns it with its API and ingest clients.
    pub fn dev(&self) -> (Proc, Api, Ingest) {
        let proc = self.spawn("dev", "dev");
        let api = Api::new(&proc.addr("api"));
        let ingest = Ingest::new(&proc.addr("capture"));
        (proc, api, ingest)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A client of the public API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

/// Status and JSON body of a response.
pub type Reply = (u16, Value);

impl Api {
    pub fn new(addr: &str) -> Api {
        Api {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POST /webhooks with a raw body.
    pub async fn post_raw(
        &self,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/webhooks", self.base))
            .body(body);
        if let Some(key) = key {
            request = request.header("user-key", key);
        }
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        Self::reply(request.send().await.expect("api answers")).await
    }

    /// Registers by JSON and returns the new id, asserting 200.
    pub async fn register(&self, key: &str, url: &str, category: i32, secret: &str) -> i64 {
        let body = json!({"webhook": {"url": url, "category": category, "secret": secret}});
        let (status, reply) = self
            .post_raw(
                Some(key),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, 200, "registration failed: {reply}");
        reply["id"].as_i64().expect("id")
    }

    /// POSTs the JSON `body` to `path` with `key`.
    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> Reply {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("user-key", key)
            .json(body)
            .send()
            .await
            .expect("api answers");
        Self::reply(response).await
    }

    pub async fn get(&self, key: &str, path: &str) -> Reply {
        self.send(reqwest::Method::GET, key, path).await
    }

    pub async fn delete(&self, key: &str, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, key, path).await
    }

    async fn send(&self, method: reqwest::Method, key: &str, path: &str) -> Reply {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("user-key", key)
            .send()
            .await
            .expect("api answers");
        Self::reply(response).await
    }
}

/// A client of the capture ingest endpoint.
#[derive(Clone)]
pub struct Ingest {
    pub base: String,
    client: reqwest::Client,
}

impl Ingest {
    pub fn new(addr: &str) -> Ingest {
        Ingest {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// Ingests a batch of `(category, id, data)` updates and asserts all were accepted.
    pub async fn batch(&self, changes: &[(i32, i64, String)]) {
        let items: Vec<String> = changes
            .iter()
            .map(|(category, id, data)| {
                format!(r#"{{"category":{category},"id":{id},"op":"update","data":{data}}}"#)
            })
            .collect();
        self.post(format!("[{}]", items.join(",")), changes.len())
            .await;
    }

    /// Ingests one change; whether it was accepted (Kafka acknowledged it). What else came
    /// back is printed.
    pub async fn try_change(&self, category: i32, id: i64, data: &str) -> bool {
        let body = format!(r#"{{"category":{category},"id":{id},"op":"update","data":{data}}}"#);
        let sent = self
            .client
            .post(format!("{}/v1/changes", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(std::time::Duration::from_secs(40))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => true,
            Ok(r) => {
                eprintln!(
                    "ingest answered {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
                false
            }
            Err(e) => {
                eprintln!("ingest: {e}");
                false
            }
        }
    }

    /// Ingests one change of `category` and asserts it was accepted.
    pub async fn change(&self, category: i32, id: i64, op: &str, data: &str) -> Value {
        let body = format!(r#"{{"category":{category},"id":{id},"op":"{op}","data":{data}}}"#);
        self.post(body, 1).await
    }

    /// POSTs `body` to the ingest and asserts that `expected` changes were accepted.
    async fn post(&self, body: String, expected: usize) -> Value {
        let response = self
            .client
            .post(format!("{}/v1/changes", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .expect("capture answers");
        let status = response.status().as_u16();
        let reply: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "ingest failed: {reply}");
        assert_eq!(reply["accepted"], expected, "{reply}");
        reply
    }
}
