//! docker-compose.yml, checked without Docker: the services and their properties that the
//! README promises, and that every `HOOKSTREAM_*` variable it sets is a setting the binary
//! reads (the whole environment of each service loads as a valid configuration).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use yaml_rust2::{Yaml, YamlLoader};

use crate::config::{Config, ENV_PREFIX};
use crate::Cli;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("reads");
    YamlLoader::load_from_str(&text)
        .expect("docker-compose.yml is YAML")
        .remove(0)
}

fn service<'a>(doc: &'a Yaml, name: &str) -> &'a Yaml {
    let found = &doc["services"][name];
    assert!(!found.is_badvalue(), "no service {name}");
    found
}

fn strings(value: &Yaml) -> Vec<String> {
    value
        .as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A service's environment, with `<<:` merges resolved and `${VAR:-default}` replaced by
/// its default.
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let Some(hash) = service["environment"].as_hash() else {
        return env;
    };
    for (key, value) in hash {
        match key.as_str() {
            Some("<<") => env.extend(environment(&yaml_hash("environment", value))),
            Some(key) => {
                env.insert(key.to_owned(), substitute(&scalar(value)));
            }
            None => panic!("environment key {key:?} is not a string"),
        }
    }
    env
}

fn yaml_hash(key: &str, value: &Yaml) -> Yaml {
    let mut hash = yaml_rust2::yaml::Hash::new();
    hash.insert(Yaml::String(key.to_owned()), value.clone());
    Yaml::Hash(hash)
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("environment value {other:?} is not a scalar"),
    }
}

/// `${NAME:-default}` → `default`, as compose does when NAME is unset.
fn substitute(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        let default = inner.split_once(":-").map(|(_, d)| d).unwrap_or("");
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

const HOOKSTREAM_SERVICES: [&str; 4] = ["api", "capture", "dispatch", "sink"];

#[test]
fn the_stack_has_every_service_with_health_checks_and_ordered_starts() {
    let doc = compose();
    for name in ["kafka", "postgres", "api", "capture", "dispatch", "sink"] {
        service(&doc, name);
    }
    let pom = std::fs::read_to_string(root().join("scripts/kafka/pom.xml")).expect("pom");
    let version = pom
        .split("<kafka.version>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("kafka.version in the pom");
    assert_eq!(
        service(&doc, "kafka")["image"].as_str(),
        Some(format!("apache/kafka:{version}").as_str()),
        "the broker image is the Kafka version the scripts pin"
    );
    let kafka_env = environment(service(&doc, "kafka"));
    assert_eq!(
        kafka_env.get("KAFKA_PROCESS_ROLES").map(String::as_str),
        Some("broker,controller"),
        "KRaft, no ZooKeeper"
    );
    let postgres = service(&doc, "postgres");
    assert!(
        strings(&postgres["command"]).contains(&"wal_level=logical".to_owned()),
        "logical decoding is on"
    );
    let schema = strings(&postgres["volumes"])
        .into_iter()
        .find(|v| v.contains("docker-entrypoint-initdb.d"))
        .expect("the demo schema is mounted for the first start");
    let source = schema.split(':').next().expect("source");
    assert!(root().join(source).exists(), "{source} exists");

    let commands = Cli::command();
    for name in HOOKSTREAM_SERVICES {
        let s = service(&doc, name);
        assert_eq!(
            s["build"].as_str(),
            Some("."),
            "{name} runs the image of ./Dockerfile"
        );
        let command = strings(&s["command"]);
        let sub = command.first().expect("a command");
        assert!(
            commands.find_subcommand(sub).is_some(),
            "{name} runs `hookstream {sub}`, which the binary has"
        );
    }
    for (name, s) in doc["services"].as_hash().expect("services") {
        let name = name.as_str().expect("name");
        if name != "sink" {
            assert!(!s["healthcheck"].is_badvalue(), "{name} has a health check");
        }
        if let Some(deps) = s["depends_on"].as_hash() {
            for (dep, how) in deps {
                let dep = dep.as_str().expect("dependency name");
                assert_eq!(
                    how["condition"].as_str(),
                    Some("service_healthy"),
                    "{name} waits until {dep} is healthy"
                );
                assert!(
                    !service(&doc, dep)["healthcheck"].is_badvalue(),
                    "{name} depends on {dep}, which has a health check"
                );
            }
        }
    }
    for name in ["api", "capture", "dispatch"] {
        let check = strings(&service(&doc, name)["healthcheck"]["test"]).join(" ");
        assert!(
            check.contains("/readyz"),
            "{name}'s health check asks /readyz: {check}"
        );
    }
}

#[test]
fn dispatch_scales_and_sled_lives_in_named_volumes() {
    let doc = compose();
    let dispatch = service(&doc, "dispatch");
    for fixed in ["container_name", "ports", "hostname"] {
        assert!(
            dispatch[fixed].is_badvalue(),
            "dispatch has no {fixed}, so --scale dispatch=N works"
        );
    }
    let declared: Vec<String> = doc["volumes"]
        .as_hash()
        .expect("top-level volumes")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    for (name, s) in doc["services"].as_hash().expect("services") {
        let name = name.as_str().expect("name");
        for mount in strings(&s["volumes"]) {
            let source = mount.split(':').next().unwrap_or_default();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    declared.contains(&source.to_owned()),
                    "{name} mounts {source}, a declared named volume"
                );
            }
        }
    }
    // The API's sled view is on its named volume.
    let api = service(&doc, "api");
    let data_dir = environment(api)
        .remove("HOOKSTREAM_API__DATA_DIR")
        .expect("the api's data dir is set");
    assert!(
        strings(&api["volumes"])
            .iter()
            .any(|m| m.ends_with(&format!(":{data_dir}")) && !m.starts_with('.')),
        "{data_dir} is a named volume"
    );
}

/// `HOOKSTREAM_CAPTURE__POSTGRES__URL` → `["capture", "postgres", "url"]`.
fn setting_path(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    rest.contains("__")
        .then(|| rest.split("__").map(str::to_ascii_lowercase).collect())
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure type
fn every_variable_the_compose_file_sets_is_a_setting_the_binary_reads() {
    let doc = compose();
    let defaults = toml::Table::try_from(Config::default()).expect("serialises");
    for name in HOOKSTREAM_SERVICES {
        let s = service(&doc, name);
        let env = environment(s);
        for key in env.keys() {
            if key == "HOOKSTREAM_CONFIG" {
                continue;
            }
            let path = setting_path(key)
                .unwrap_or_else(|| panic!("{name}: {key} is not HOOKSTREAM_<SECTION>__<KEY>"));
            let mut at = toml::Value::Table(defaults.clone());
            for part in &path {
                at = at.get(part).cloned().unwrap_or_else(|| {
                    panic!("{name}: {key} names no setting ({})", path.join("."))
                });
            }
        }
        // The whole environment loads, with the file it names (mounted from ./deploy).
        let mounts: BTreeMap<String, String> = strings(&s["volumes"])
            .iter()
            .filter_map(|m| {
                let mut parts = m.split(':');
                let (source, target) = (parts.next()?, parts.next()?);
                Some((target.to_owned(), source.to_owned()))
            })
            .collect();
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let mut file = None;
            for (key, value) in &env {
                if key == "HOOKSTREAM_CONFIG" {
                    let source = mounts
                        .get(value)
                        .unwrap_or_else(|| panic!("{name}: {value} is not mounted"));
                    file = Some(root().join(source));
                    continue;
                }
                jail.set_env(key, value);
            }
            if let Err(e) = Config::load(file.as_deref()) {
                panic!("{name}: its environment is not a valid configuration: {e}");
            }
            Ok(())
        });
    }
}
