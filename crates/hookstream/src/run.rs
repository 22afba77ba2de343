//! Starting services, and stopping them on Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::startup::{self, Bound};

/// Which components this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Api,
    Capture,
    Dispatch,
    Dev,
}

impl Service {
    fn runs(self, other: Service) -> bool {
        self == other || self == Service::Dev
    }
}

/// Runs `service` until a shutdown signal; any component's failure stops the process.
pub async fn run(service: Service, config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let bind = |runs: Service, addr: &str, what| -> anyhow::Result<Option<Bound>> {
        service
            .runs(runs)
            .then(|| Bound::bind(addr, what))
            .transpose()
    };
    let api = bind(Service::Api, &config.api.listen, "api")?;
    let capture = bind(Service::Capture, &config.capture.listen, "capture")?;
    let dispatch = bind(Service::Dispatch, &config.dispatch.listen, "dispatch")?;
    let bound: Vec<&Bound> = [&api, &capture, &dispatch].into_iter().flatten().collect();
    startup::wait_for_kafka(&config.kafka, &bound, &shutdown).await?;

    let recorder = install_metrics();
    let egress = std::sync::Arc::new(
        hookstream_dispatch::Egress::new(&config.egress).map_err(anyhow::Error::msg)?,
    );
    let sealer = std::sync::Arc::new(hookstream_model::Sealer::new(&config.security.secret_keys)?);
    if !sealer.seals() && service.runs(Service::Api) {
        tracing::warn!("security.secret_keys is empty: webhook secrets go to hookstream.webhooks in plain text");
    }
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(bound) = api {
        let listener = bound.serve()?;
        let (state, follower) = hookstream_api::build(
            &config.api,
            &config.kafka,
            &config.dispatch,
            egress.clone(),
            sealer.clone(),
            shutdown.clone(),
        )
        .await?;
        let api = hookstream_api::app(state.with_metrics(recorder.clone()));
        // The portal answers through the API's own routes.
        let app = match config.portal.enabled {
            true => api
                .clone()
                .merge(hookstream_portal::router(api, &config.portal)),
            false => api,
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            hookstream_api::serve(app, listener, token)
                .await
                .context("api")
        });
        tasks.spawn(async move { follower.await.context("api event log follower") });
    }
    if let Some(bound) = capture {
        let listener = bound.serve()?;
        let publisher = hookstream_capture::Publisher::new(&config.kafka)?;
        if !config.capture.postgres.url.is_empty() {
            let (postgres, publisher, token) = (
                config.capture.postgres.clone(),
                publisher.clone(),
                shutdown.clone(),
            );
            tasks.spawn(async move {
                hookstream_capture::postgres::run(postgres, publisher, token)
                    .await
                    .context("capture from PostgreSQL")
            });
        }
        let (capture, token) = (config.capture.clone(), shutdown.clone());
        let metrics = recorder.clone();
        tasks.spawn(async move {
            hookstream_capture::serve(publisher, &capture, metrics, listener, token)
                .await
                .context("capture")
        });
    }
    if let Some(bound) = dispatch {
        let listener = bound.serve()?;
        let (dispatch, kafka, token) = (
            config.dispatch.clone(),
            config.kafka.clone(),
            shutdown.clone(),
        );
        let metrics = recorder.clone();
        tasks.spawn(async move {
            hookstream_dispatch::run(dispatch, kafka, egress, sealer, listener, metrics, token)
                .await
                .context("dispatch")
        });
    }
    info!(?service, "hookstream started");
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a component panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = format!("{e:#}"), "component failed; stopping");
            result = result.and(Err(e));
        }
        // One component ending ends the process: cancel the rest and wait for them.
        shutdown.cancel();
    }
    info!("hookstream stopped");
    result
}

/// Installs the process-wide Prometheus recorder; returns how to render it.
fn install_metrics() -> Option<std::sync::Arc<dyn Fn() -> String + Send + Sync>> {
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets_for_metric(
        metrics_exporter_prometheus::Matcher::Full(
            hookstream_dispatch::telemetry::DELIVERY_DURATION.into(),
        ),
        hookstream_dispatch::telemetry::DELIVERY_BUCKETS,
    );
    let installed = builder
        .map_err(|e| e.to_string())
        .and_then(|b| b.install_recorder().map_err(|e| e.to_string()));
    match installed {
        Ok(handle) => {
            // Histogram samples wait in the recorder until upkeep folds them into buckets;
            // without it they would pile up between scrapes.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                })
                .ok()?;
            Some(std::sync::Arc::new(move || handle.render()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics are off");
            None
        }
    }
}

/// How often the metrics recorder folds histogram samples.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutdown requested");
    shutdown.cancel();
}

/// The effective configuration as TOML, with secrets replaced.
pub fn masked_toml(config: &Config) -> anyhow::Result<String> {
    let mut shown = config.clone();
    if !shown.capture.admin_token.is_empty() {
        shown.capture.admin_token = "********".into();
    }
    shown.capture.postgres.url = mask_password(&shown.capture.postgres.url);
    for key in shown.security.secret_keys.iter_mut() {
        let id = key.split_once(':').map_or("", |(id, _)| id).to_owned();
        *key = format!("{id}:********");
    }
    for (key, value) in shown.kafka.client.iter_mut() {
        if key.contains("password") || key.contains("secret") {
            *value = "********".into();
        }
    }
    Ok(toml::to_string_pretty(&shown)?)
}

/// A connection string with its password replaced (`password=…` or `user:…@`).
fn mask_password(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                let scheme = &url[..url.len() - rest.len()];
                return format!("{scheme}{user}:********@{host}");
            }
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                "password=********".to_owned()
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn passwords_are_masked_in_both_forms() {
        assert_eq!(
            mask_password("host=db user=u password=s3cret dbname=igdb"),
            "host=db user=u password=******** dbname=igdb"
        );
        assert_eq!(
            mask_password("postgres://u:s3cret@db:5432/igdb"),
            "postgres://u:********@db:5432/igdb"
        );
        assert_eq!(
            mask_password("postgres://u@db/igdb"),
            "postgres://u@db/igdb"
        );
        assert_eq!(mask_password(""), "");
    }
}
