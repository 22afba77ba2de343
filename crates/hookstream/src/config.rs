//! The whole configuration: built-in defaults, then a TOML file, then `HOOKSTREAM_*`
//! environment variables (`HOOKSTREAM_KAFKA__BROKERS=…`: sections and keys joined by `__`).

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use hookstream_api::ApiConfig;
use hookstream_capture::CaptureConfig;
use hookstream_dispatch::{DispatchConfig, Egress, EgressConfig};
use hookstream_kafka::KafkaConfig;
use hookstream_portal::PortalConfig;
use serde::{Deserialize, Serialize};

/// Every setting of every component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub api: ApiConfig,
    pub portal: PortalConfig,
    pub capture: CaptureConfig,
    pub dispatch: DispatchConfig,
    pub egress: EgressConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
}

/// Keys of the secrets in the webhook log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// `ID:BASE64` keys (32 bytes) that seal webhook secrets in `hookstream.webhooks`; the
    /// first seals, all open. Empty: secrets are stored as they are.
    pub secret_keys: Vec<String>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `hookstream_dispatch=debug,info`. `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every key with its default and its documentation (`hookstream config default`).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The environment variables that set configuration: `HOOKSTREAM_<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "HOOKSTREAM_";

impl Config {
    /// Loads defaults, then `file` if given, then the environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let config: Config = figment.extract().map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot. Pure: no I/O.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.kafka.brokers.trim().is_empty() {
            problems.push("kafka.brokers must name at least one broker".to_owned());
        }
        if self.kafka.partitions < 1 {
            problems.push("kafka.partitions must be at least 1".to_owned());
        }
        if self.kafka.replication_factor < 1 {
            problems.push("kafka.replication_factor must be at least 1".to_owned());
        }
        if self.kafka.min_insync_replicas < 1
            || self.kafka.min_insync_replicas > self.kafka.replication_factor
        {
            problems.push(
                "kafka.min_insync_replicas must be at least 1 and at most kafka.replication_factor"
                    .to_owned(),
            );
        }
        if self.kafka.category_prefix == self.kafka.internal_prefix {
            problems.push("kafka.category_prefix and kafka.internal_prefix must differ".to_owned());
        }
        if let Err(e) = self.dispatch.validate() {
            problems.push(e);
        }
        if let Err(e) = Egress::new(&self.egress) {
            problems.push(e);
        }
        if let Err(e) = hookstream_model::Sealer::new(&self.security.secret_keys) {
            problems.push(e.to_string());
        }
        if self.api.max_body_bytes < 256 {
            problems.push("api.max_body_bytes must be at least 256".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure type
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hookstream.toml",
                "[kafka]\nbrokers = \"10.0.0.1:9092\"\npartitions = 3\n[dispatch]\nschedule_ms = [1, 2]\n",
            )?;
            jail.set_env("HOOKSTREAM_KAFKA__PARTITIONS", "12");
            jail.set_env("HOOKSTREAM_API__LISTEN", "127.0.0.1:1");
            jail.set_env("HOOKSTREAM_CONFIG", "ignored: not a section key");
            let config = Config::load(Some(Path::new("hookstream.toml"))).expect("loads");
            assert_eq!(config.kafka.brokers, "10.0.0.1:9092");
            assert_eq!(config.kafka.partitions, 12);
            assert_eq!(config.api.listen, "127.0.0.1:1");
            assert_eq!(config.dispatch.schedule_ms, [1, 2]);
            assert_eq!(config.capture, CaptureConfig::default());
            Ok(())
        });
    }

    /// Dotted paths of every key in a TOML table (tables themselves are not keys).
    fn keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = format!("{prefix}{key}");
            match value {
                toml::Value::Table(inner) if !inner.is_empty() => {
                    keys(inner, &format!("{path}."), out)
                }
                toml::Value::Table(_) => {} // an empty map such as kafka.client
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn the_commented_default_file_is_the_defaults_and_names_every_key() {
        let parsed: Config = toml::from_str(DEFAULT_TOML).expect("the default file parses");
        assert_eq!(
            parsed,
            Config::default(),
            "its values are the built-in defaults"
        );
        let file: toml::Table = toml::from_str(DEFAULT_TOML).expect("parses");
        let defaults = toml::Table::try_from(Config::default()).expect("serialises");
        let (mut in_file, mut all) = (Vec::new(), Vec::new());
        keys(&file, "", &mut in_file);
        keys(&defaults, "", &mut all);
        in_file.sort();
        all.sort();
        assert_eq!(in_file, all, "every key is in the file, and nothing else");
        // Each key has its comment right above it.
        let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    n > 0 && lines[n - 1].starts_with('#'),
                    "line {} ({line}) has no comment",
                    n + 1
                );
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[kafka]\nbrokerz = \"x\"\n")?;
            let err = Config::load(Some(Path::new("a.toml"))).expect_err("unknown key");
            assert!(err.contains("brokerz"), "{err}");

            jail.create_file("b.toml", "[kafka]\npartitions = 0\n")?;
            let err = Config::load(Some(Path::new("b.toml"))).expect_err("bad value");
            assert!(err.contains("kafka.partitions"), "{err}");

            let err = Config::load(Some(Path::new("missing.toml"))).expect_err("missing file");
            assert!(err.contains("does not exist"), "{err}");
            Ok(())
        });
    }
}
