//! End-to-end tests: the real `s9-secrets` binary, driven over real sockets by
//! aws-sdk-secretsmanager, raw HTTP, the aws CLI and boto3. One test binary for the crate.

#![allow(unreachable_pub)]

mod agent;
mod alarms;
mod api;
mod attacks;
mod audit;
mod cli;
mod client;
mod conformance;
mod first_hour;
mod harness;
mod lambda;
mod load_balancer;
mod metrics;
mod policies;
mod proxy;
mod readme;
mod robustness;
mod rotation;
mod stack;
mod time_travel;
mod tls;
mod tools;
