//! Starting and stopping a dispatcher: two consumers in their groups (category topics, retry
//! tiers), each feeding partition lanes, over one shared [`Core`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookstream_kafka::admin::{ensure_topics, retry_topics};
use hookstream_kafka::dlq::DeadLetters;
use hookstream_kafka::log::{EventLog, Follower};
use hookstream_kafka::producer::Producer;
use hookstream_kafka::{KafkaConfig, KafkaError};
use hookstream_model::{Codec, Sealer};
use hookstream_store::{Store, StoreError};
use rdkafka::consumer::{CommitMode, Consumer};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::acks_fold;
use crate::attempt::Core;
use crate::attempt_log::AttemptLog;
use crate::barrier::Barrier;
use crate::changes::Changes;
use crate::deliver::{ClientError, Deliverer};
use crate::endpoint::{Breaker, Circuit, Endpoints};
use crate::lanes::{self, LaneConfig, LaneConsumer, Revocations};
use crate::retries::{Heads, Retries};
use crate::telemetry::{self, Render};
use crate::{health, DispatchConfig, Egress};

/// Why a dispatcher stopped before being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot serve health endpoints: {0}")]
    Health(#[from] std::io::Error),
    #[error("invalid dispatch configuration: {0}")]
    Config(String),
    #[error("the webhook log follower stopped")]
    FollowerStopped,
    #[error("the acknowledgements' fold stopped: {0}")]
    AcksFoldStopped(String),
}

/// Runs a dispatcher until `shutdown` is cancelled; then drains, commits and leaves.
pub async fn run(
    config: DispatchConfig,
    kafka: KafkaConfig,
    egress: Arc<Egress>,
    sealer: Arc<Sealer>,
    health_listener: tokio::net::TcpListener,
    metrics: Option<Render>,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    config.validate().map_err(RunError::Config)?;
    let started = Instant::now();
    let schedule = config.schedule();
    // The pipeline's topics exist already (the binary creates them before any service);
    // the tiers depend on this dispatcher's schedule.
    ensure_topics(
        &kafka,
        &retry_topics(&kafka, schedule.tiers(), &config.schedule_ms),
    )
    .await?;

    let store = Arc::new(Store::open(&config.data_dir)?);
    // The follower outlives the lanes: draining records still pass the barrier.
    let follower_stop = CancellationToken::new();
    let producer = Producer::new(&kafka)?;
    let dead_letters = DeadLetters::new(&kafka, producer.clone(), "dispatch");
    let (follower, mut follower_task) = Follower::start(
        &kafka,
        store.clone(),
        Some(dead_letters.clone()),
        follower_stop.clone(),
    )
    .await?;
    let topics = kafka.topics();
    let tier_topics: Vec<String> = schedule.tiers().iter().map(|t| topics.retry(t)).collect();
    // One lingering producer for both best-effort logs.
    let bulk = Producer::bulk(&kafka)?;
    let attempt_log = config
        .record_attempts
        .then(|| AttemptLog::new(&kafka, bulk.clone()));
    let ack_log = AttemptLog::acks(&kafka, bulk);
    let fold_stop = CancellationToken::new();
    // Retries of a streak are due within its window; a second window is slack for lagging
    // tier consumers (as in `Schedule::may_have_retries`).
    let (acks_fold, acks_fold_task) = acks_fold::start(
        kafka.clone(),
        store.clone(),
        schedule.window() * 2,
        ack_log.origin().to_vec(),
        fold_stop.clone(),
    );
    let mut acks_fold_task = Some(acks_fold_task);
    let core = Arc::new(Core {
        barrier: Barrier::new(
            follower,
            config.clock_skew_ms,
            Duration::from_millis(config.sync_timeout_ms),
        ),
        log: EventLog::new(&kafka, Producer::new(&kafka)?),
        deliverer: Deliverer::new(&config, egress)?,
        endpoints: Endpoints::new(
            config.endpoint_concurrency,
            Breaker {
                threshold: config.breaker_threshold,
                cooldown: Duration::from_millis(config.breaker_cooldown_ms),
            },
        ),
        producer: producer.clone(),
        job_codec: Codec::new(),
        entity_locks: Default::default(),
        dead_letters,
        sealer,
        attempt_log,
        ack_log,
        tier_topics: tier_topics.clone(),
        acks_fold,
        schedule,
        store: store.clone(),
        config: config.clone(),
    });

    let lane_config = LaneConfig {
        capacity: config.lane_capacity,
        drain_timeout: Duration::from_millis(config.shutdown_timeout_ms),
    };
    let stop = shutdown.child_token();
    let (changes_consumer, revoked) = consumer(
        &kafka,
        &config,
        "changes",
        &config.group_id,
        &topics.categories(),
    )?;
    // The retry tiers and the immediate tier, where replays queue their deliveries.
    let mut tier_subscriptions = tier_topics.clone();
    tier_subscriptions.push(topics.replay());
    let (retry_consumer, retry_revoked) = consumer(
        &kafka,
        &config,
        "retries",
        &format!("{}.retry", config.group_id),
        &tier_subscriptions,
    )?;
    let changes = Changes {
        core: core.clone(),
        topics: topics.clone(),
        codec: Codec::new(),
    };
    let heads = Arc::new(Heads::default());
    let retries = Retries {
        core: core.clone(),
        codec: Codec::new(),
        heads: heads.clone(),
    };
    let mut main = tokio::spawn(lanes::run(
        changes_consumer.clone(),
        revoked,
        Arc::new(changes),
        lane_config,
        stop.clone(),
    ));
    let mut tiers = tokio::spawn(lanes::run(
        retry_consumer.clone(),
        retry_revoked,
        Arc::new(retries),
        lane_config,
        stop.clone(),
    ));
    let ready = health::Readiness::default();
    telemetry::ready(false);
    let mut health = tokio::spawn(health::serve(
        health_listener,
        ready.clone(),
        metrics,
        stop.clone(),
    ));
    let probe = tokio::spawn(health::probe_kafka(
        core.producer.clone(),
        topics.webhooks(),
        ready.clone(),
        stop.clone(),
    ));
    let catch_up = tokio::spawn(catch_up(core.clone(), store.clone(), ready, started));
    let acks = tokio::spawn(flush_acks(store.clone(), stop.clone()));
    let mut tier_labels: HashMap<String, String> = tier_topics
        .iter()
        .cloned()
        .zip(core.schedule.tiers().iter().cloned())
        .collect();
    tier_labels.insert(topics.replay(), "replay".into());
    let gauges = tokio::spawn(report_gauges(
        core.clone(),
        heads,
        tier_labels,
        stop.clone(),
    ));
    info!(group = %config.group_id, tiers = ?tier_topics, "dispatcher started");

    let (mut main_done, mut tiers_done) = (false, false);
    let result = tokio::select! {
        _ = stop.cancelled() => Ok(()),
        _ = &mut follower_task => Err(RunError::FollowerStopped),
        ended = fold_ended(&mut acks_fold_task) => Err(RunError::AcksFoldStopped(ended)),
        served = &mut health => served.unwrap_or(Ok(())).map_err(RunError::Health),
        _ = &mut main => { main_done = true; Ok(()) }
        _ = &mut tiers => { tiers_done = true; Ok(()) }
    };
    stop.cancel();
    // The lanes drain what they hold (bounded by shutdown_timeout_ms) before this returns.
    if !main_done {
        let _ = main.await;
    }
    if !tiers_done {
        let _ = tiers.await;
    }
    for consumer in [&changes_consumer, &retry_consumer] {
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            debug!(error = %e, "final commit had nothing to commit or failed");
        }
    }
    follower_stop.cancel();
    fold_stop.cancel();
    if let Some(task) = acks_fold_task {
        let _ = task.await;
    }
    acks.abort();
    gauges.abort();
    probe.abort();
    catch_up.abort();
    store.flush()?;
    info!("dispatcher stopped");
    result
}

/// Why the acknowledgements' fold ended; pending forever when there is none.
async fn fold_ended(task: &mut Option<tokio::task::JoinHandle<Result<(), StoreError>>>) -> String {
    let Some(handle) = task else {
        return std::future::pending().await;
    };
    let ended = handle.await;
    *task = None; // awaited: it must not be awaited again
    match ended {
        Ok(Ok(())) => "it ended".into(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}

fn consumer(
    kafka: &KafkaConfig,
    config: &DispatchConfig,
    name: &'static str,
    group: &str,
    topics: &[String],
) -> Result<(Arc<LaneConsumer>, Revocations), KafkaError> {
    let (context, revoked) = lanes::context(name);
    let consumer: LaneConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            config.commit_interval_ms.to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "20")
        // The lag metric comes from librdkafka's statistics.
        .set("statistics.interval.ms", "5000")
        .create_with_context(context)
        .map_err(KafkaError::Client)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(KafkaError::Client)?;
    Ok((Arc::new(consumer), revoked))
}

/// Writes the acknowledgements the store holds in memory, every [`ACK_FLUSH`].
async fn flush_acks(store: Arc<Store>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ACK_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while stop.run_until_cancelled(tick.tick()).await.is_some() {
        if let Err(e) = store.acks().flush() {
            warn!(error = %e, "cannot write acknowledgements; they stay in memory for the next try");
        }
    }
}

const ACK_FLUSH: Duration = Duration::from_millis(200);

/// Sets the gauges that are read rather than counted, every [`GAUGES`]: breaker states, and
/// how overdue each tier's head jobs are.
async fn report_gauges(
    core: Arc<Core>,
    heads: Arc<Heads>,
    tier_labels: HashMap<String, String>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(GAUGES);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while stop.run_until_cancelled(tick.tick()).await.is_some() {
        let (mut closed, mut open, mut half_open) = (0, 0, 0);
        for (_, circuit) in core.endpoints.circuits() {
            match circuit {
                Circuit::Closed { .. } => closed += 1,
                Circuit::Open { .. } => open += 1,
                Circuit::HalfOpen { .. } => half_open += 1,
            }
        }
        telemetry::circuits(closed, open, half_open);
        let overdue = heads.overdue(hookstream_model::now_millis());
        for (topic, tier) in &tier_labels {
            telemetry::oldest_due(tier, overdue.get(topic).copied().unwrap_or_default());
        }
    }
}

const GAUGES: Duration = Duration::from_secs(5);

/// Folds the webhook log up to its current end, then reports the dispatcher ready.
async fn catch_up(core: Arc<Core>, store: Arc<Store>, ready: health::Readiness, started: Instant) {
    let follower = core.barrier.follower();
    loop {
        match follower.catch_up(Duration::from_secs(30)).await {
            Ok(()) => break,
            Err(KafkaError::FollowerStopped) => return,
            Err(e) => {
                warn!(error = %e, folded = follower.applied(), "still catching up with the webhook log")
            }
        }
    }
    ready.set_caught_up();
    info!(
        folded = follower.applied(),
        webhooks = store.count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "view caught up with the webhook log; ready"
    );
}
