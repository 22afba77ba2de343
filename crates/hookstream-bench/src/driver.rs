//! The load: changes POSTed to the capture ingest in batches, as fast as the ingest takes them
//! or at a fixed rate, each marked accepted when its batch's answer arrives.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::receiver::Stats;

/// Distinct entities the changes of a scenario touch.
pub const ENTITIES: usize = 50_000;

/// How fast to ingest.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Batches of `batch` changes, `in_flight` requests at a time.
    Flood { batch: usize, in_flight: usize },
    /// `per_second` changes a second, sent every `tick` in equal batches.
    Steady { per_second: usize, tick: Duration },
}

/// The document of change `seq`: entity `seq % entities + 1`, game-sized JSON.
pub fn entity(entities: usize, seq: usize) -> String {
    let id = seq % entities + 1;
    format!(
        concat!(
            r#"{{"id":{},"seq":{},"name":"Game {}","slug":"game-{}","#,
            r#""summary":"A game with a summary long enough to look like one in the catalogue.","#,
            r#""rating":{}.5,"platforms":[6,48,49,130],"genres":[12,31],"updated_at":{}}}"#
        ),
        id,
        seq,
        id,
        id,
        seq % 100,
        1_700_000_000 + seq
    )
}

/// Change `seq` as the ingest takes it.
pub fn change(category: i32, entities: usize, seq: usize) -> String {
    format!(
        r#"{{"category":{category},"id":{},"op":"update","data":{}}}"#,
        seq % entities + 1,
        entity(entities, seq)
    )
}

/// POSTs changes `0..count` of `category` to the ingest at `base` and returns once all were
/// accepted, marking each in `stats`.
pub async fn run(
    base: String,
    token: &'static str,
    category: i32,
    entities: usize,
    count: usize,
    pace: Pace,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/changes");
    let post = |range: std::ops::Range<usize>| {
        let (client, url, stats) = (client.clone(), url.clone(), stats.clone());
        let items: Vec<String> = range
            .clone()
            .map(|s| change(category, entities, s))
            .collect();
        let body = format!("[{}]", items.join(","));
        async move {
            let response = client
                .post(&url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .context("the ingest does not answer")?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                bail!("the ingest answered {status}: {text}");
            }
            stats.accepted(range);
            anyhow::Ok(())
        }
    };
    match pace {
        Pace::Flood { batch, in_flight } => {
            let mut tasks = tokio::task::JoinSet::new();
            let mut next = 0;
            while next < count || !tasks.is_empty() {
                while next < count && tasks.len() < in_flight {
                    let end = (next + batch).min(count);
                    tasks.spawn(post(next..end));
                    next = end;
                }
                if let Some(done) = tasks.join_next().await {
                    done.context("an ingest task panicked")??;
                }
            }
        }
        Pace::Steady { per_second, tick } => {
            let per_tick = (per_second as f64 * tick.as_secs_f64()).round().max(1.0) as usize;
            let mut ticker = tokio::time::interval(tick);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = tokio::task::JoinSet::new();
            let mut next = 0;
            while next < count {
                ticker.tick().await;
                let end = (next + per_tick).min(count);
                tasks.spawn(post(next..end));
                next = end;
                while let Some(done) = tasks.try_join_next() {
                    done.context("an ingest task panicked")??;
                }
            }
            while let Some(done) = tasks.join_next().await {
                done.context("an ingest task panicked")??;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_valid_json_with_its_number() {
        let text = change(1, 10, 1234);
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["id"], 5);
        assert_eq!(value["data"]["seq"], 1234);
        assert_eq!(
            crate::receiver::seq_of(value["data"].to_string().as_bytes()),
            Some(1234)
        );
    }
}
