//! End-to-end tests: the real `hookstream` binary against the real Kafka broker that
//! `scripts/test.sh` starts on loopback. Each test has its own topic prefix and groups.

mod api_contract;
mod broker_faults;
mod deliveries;
mod delivery;
mod egress;
mod happens_before;
mod hostile;
mod hostile_receivers;
mod ids;
mod isolation;
mod metrics;
mod openapi;
mod poison;
mod portal;
mod postgres;
mod readiness;
mod replay;
mod restart;
mod retries;
mod scale;
mod secrets;
