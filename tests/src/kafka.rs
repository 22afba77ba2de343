//! The shared broker of a test run.

use std::time::Duration;

use hookstream_model::{Codec, DeliveryJob, EntityChange, WebhookEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Bootstrap address of the broker: `HOOKSTREAM_TEST_KAFKA`, else the test script's default.
pub fn bootstrap() -> String {
    std::env::var("HOOKSTREAM_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// The high watermark of partition 0 of `topic` (0 if the topic does not exist yet).
pub fn high_watermark(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    match consumer.fetch_watermarks(topic, 0, Duration::from_secs(10)) {
        Ok((_, high)) => high,
        Err(e) => panic!(
            "cannot read watermarks of {topic} from {}: {e} (is Kafka running? scripts/test.sh starts it)",
            bootstrap()
        ),
    }
}

/// A consumer for reading topics from the beginning, outside any group's offsets.
fn reader() -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "hookstream-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// Every event of the webhook log `topic`, in order, decoded with the model's codec.
pub fn webhook_events(topic: &str) -> Vec<WebhookEvent> {
    let codec = Codec::<WebhookEvent>::new();
    read_topic(topic, |message| {
        codec
            .decode(message.payload().expect("payload"))
            .expect("a valid event")
    })
}

/// Every change on the category topic `topic` (all partitions, up to their current ends).
pub fn changes(topic: &str) -> Vec<(String, EntityChange)> {
    changes_timed(topic)
        .into_iter()
        .map(|(key, change, _)| (key, change))
        .collect()
}

/// Like [`changes`], with each record's Kafka timestamp (when capture produced it), in ms.
pub fn changes_timed(topic: &str) -> Vec<(String, EntityChange, i64)> {
    let codec = Codec::<EntityChange>::new();
    read_topic(topic, |message| {
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let change = codec
            .decode(message.payload().expect("payload"))
            .expect("a valid change");
        (key, change, message.timestamp().to_millis().unwrap_or(0))
    })
}

/// Every job queued on the tier `topic` (e.g. the immediate tier of replays).
pub fn delivery_jobs(topic: &str) -> Vec<DeliveryJob> {
    let codec = Codec::<DeliveryJob>::new();
    read_topic(topic, |message| {
        codec
            .decode(message.payload().expect("payload"))
            .expect("a valid job")
    })
}

/// Writes one record as it is (for records hookstream cannot read), and waits for the ack.
pub async fn produce(topic: &str, key: &[u8], payload: Option<&[u8]>) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let mut record = FutureRecord::to(topic).key(key);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .expect("the broker took the record");
}

/// A record of the dead-letter topic: the original payload and the headers that say why.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub payload: Option<Vec<u8>>,
    pub headers: std::collections::HashMap<String, String>,
}

/// Every dead letter on `topic`.
pub fn dead_letters(topic: &str) -> Vec<DeadLetter> {
    use rdkafka::message::Headers;
    read_topic(topic, |message| DeadLetter {
        payload: message.payload().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The payload of every record of `topic`, as bytes.
pub fn raw_payloads(topic: &str) -> Vec<Vec<u8>> {
    read_topic(topic, |message| {
        message.payload().unwrap_or_default().to_vec()
    })
}

/// Records `topic` holds now, over all partitions (0 when it does not exist).
pub fn record_count(topic: &str) -> i64 {
    let consumer = reader();
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions
        .into_iter()
        .map(|p| {
            let (low, high) = watermarks_settled(&consumer, topic, p);
            high - low
        })
        .sum()
}

/// Deletes every record of `topic` older than `before` (a timestamp), as retention would:
/// each partition's start moves to its first record at or after `before`.
pub async fn expire_before(topic: &str, before: i64) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let consumer = reader();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut query = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            query
                .add_partition_offset(topic, p.id(), Offset::Offset(before))
                .expect("partition");
        }
    }
    let found = consumer
        .offsets_for_times(query, Duration::from_secs(10))
        .expect("offsets for times");
    let mut cut = TopicPartitionList::new();
    for element in found.elements() {
        let offset = match element.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::End,
        };
        cut.add_partition_offset(topic, element.partition(), offset)
            .expect("partition");
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client");
    admin
        .delete_records(&cut, &AdminOptions::new())
        .await
        .expect("records deleted");
}

/// Every record of every partition of `topic`, from the beginning up to the ends the
/// partitions had when the read began, each turned into a `T` by `read`.
fn read_topic<T>(topic: &str, mut read: impl FnMut(&BorrowedMessage<'_>) -> T) -> Vec<T> {
    let consumer = reader();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut expected = 0;
    for p in &partitions {
        let (low, high) = watermarks_settled(&consumer, topic, *p);
        expected += high - low;
        assignment
            .add_partition_offset(topic, *p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < expected {
        assert!(std::time::Instant::now() < deadline, "cannot read {topic}");
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            out.push(read(&message));
        }
    }
    out
}

/// Watermarks of a partition, retried while the broker settles a new topic's leadership.
fn watermarks_settled(consumer: &BaseConsumer, topic: &str, partition: i32) -> (i64, i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(marks) => return marks,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("watermarks of {topic}/{partition}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A Kafka broker of a test's own (for tests that stop it), from scripts/kafka.sh.
pub struct OwnBroker {
    pub port: u16,
    dir: tempfile::TempDir,
}

impl OwnBroker {
    fn script(&self, command: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka.sh");
        let status = std::process::Command::new("bash")
            .env("KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m")
            .args([script, command, "--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("runs scripts/kafka.sh");
        assert!(status.success(), "scripts/kafka.sh {command} failed");
    }

    /// Starts a broker on a free loopback port (the controller takes the next one).
    pub fn start() -> OwnBroker {
        let broker = OwnBroker::unstarted();
        broker.script("start");
        broker
    }

    /// A broker's port and data directory, not started yet ([`OwnBroker::restart`] starts
    /// it).
    pub fn unstarted() -> OwnBroker {
        let port = (0..50)
            .find_map(|_| {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .ok()?;
                let next_free = std::net::TcpListener::bind(("127.0.0.1", port.checked_add(1)?));
                next_free.is_ok().then_some(port)
            })
            .expect("two free consecutive ports");
        OwnBroker {
            port,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker (SIGTERM, as an operator would), keeping its data.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts it (again) on its port and data.
    pub fn restart(&self) {
        self.script("start");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka.sh");
        let _ = std::process::Command::new("bash")
            .args([script, "stop", "--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// A three-node cluster of a test's own (scripts/kafka-cluster.sh): replication factor 3,
/// `min.insync.replicas` 2.
pub struct OwnCluster {
    base: u16,
    dir: tempfile::TempDir,
}

impl OwnCluster {
    fn script(&self, args: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka-cluster.sh");
        let status = std::process::Command::new("bash")
            .arg(script)
            .args(args)
            .args(["--base-port", &self.base.to_string(), "--dir"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("runs scripts/kafka-cluster.sh");
        assert!(status.success(), "scripts/kafka-cluster.sh {args:?} failed");
    }

    /// Starts three nodes on six free consecutive loopback ports.
    pub fn start() -> OwnCluster {
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        let base = (0..200)
            .map(|_| 20_000 + (fastrand_port() % 20_000) * 2)
            .find(|base| (0..6).all(|i| free(base + i)))
            .expect("six free consecutive ports");
        let cluster = OwnCluster {
            base,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        cluster.script(&["start"]);
        cluster
    }

    pub fn bootstrap(&self) -> String {
        (0..3)
            .map(|n| format!("127.0.0.1:{}", self.base + 2 * n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILL node `n` (1 to 3).
    pub fn kill_node(&self, n: u8) {
        self.script(&["kill-node", &n.to_string()]);
    }

    pub fn start_node(&self, n: u8) {
        self.script(&["start-node", &n.to_string()]);
    }
}

/// A pseudo-random number for picking ports (tests run in parallel).
fn fastrand_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    ((nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 65_521) as u16
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka-cluster.sh");
        let _ = std::process::Command::new("bash")
            .args([
                script,
                "stop",
                "--base-port",
                &self.base.to_string(),
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
