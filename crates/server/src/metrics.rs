//! `GET /metrics`: Prometheus text format. Requests by operation, outcome and principal,
//! latency per operation, secret reads per secret, denials, audit write latency and the
//! store's size. Labels are operation names, error codes, principal ARNs and secret ids —
//! never a value or anything derived from one.

use std::path::PathBuf;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    /// `OK` or the AWS error code.
    outcome: &'static str,
    principal: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SecretLabel {
    secret: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeniedLabels {
    operation: &'static str,
    principal: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The service's metrics, shared by every request.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
    secret_reads: Family<SecretLabel, Counter>,
    denied: Family<DeniedLabels, Counter>,
    audit_write: Histogram,
    rotations: Family<OutcomeLabel, Counter>,
    rotation_duration: Histogram,
    store_bytes: Gauge,
    store_path: PathBuf,
}

/// One finished request, as the metrics see it.
#[derive(Debug)]
pub(crate) struct Observed<'a> {
    pub(crate) operation: &'static str,
    pub(crate) outcome: &'static str,
    pub(crate) principal: Option<&'a str>,
    pub(crate) latency: Duration,
    /// The secret a successful GetSecretValue read.
    pub(crate) secret_read: Option<&'a str>,
}

impl Metrics {
    pub(crate) fn new(store_path: PathBuf) -> Self {
        let mut registry = Registry::with_prefix("s9");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by operation, outcome and principal",
            requests.clone(),
        );
        let latency = Family::<OperationLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, audit record included",
            latency.clone(),
        );
        let secret_reads = Family::<SecretLabel, Counter>::default();
        registry.register(
            "secret_reads",
            "Successful GetSecretValue calls per secret",
            secret_reads.clone(),
        );
        let denied = Family::<DeniedLabels, Counter>::default();
        registry.register("access_denied", "Requests denied by policy", denied.clone());
        let audit_write = latency_histogram();
        registry.register(
            "audit_write_duration_seconds",
            "Time until a request's audit record was written",
            audit_write.clone(),
        );
        let rotations = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "rotations",
            "Rotations ended, by outcome (succeeded, failed, abandoned)",
            rotations.clone(),
        );
        // 1 s to ~9 days: vendor keys wait for a person.
        let rotation_duration = Histogram::new(exponential_buckets(1.0, 4.0, 11));
        registry.register(
            "rotation_duration_seconds",
            "Time from a rotation's start to its success",
            rotation_duration.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_bytes",
            "Size of the secret store file",
            store_bytes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            secret_reads,
            denied,
            audit_write,
            rotations,
            rotation_duration,
            store_bytes,
            store_path,
        }
    }

    pub(crate) fn observe(&self, o: &Observed<'_>) {
        let principal = o.principal.unwrap_or("anonymous").to_owned();
        if o.outcome == "AccessDeniedException" {
            self.denied
                .get_or_create(&DeniedLabels {
                    operation: o.operation,
                    principal: principal.clone(),
                })
                .inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                operation: o.operation,
                outcome: o.outcome,
                principal,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabel {
                operation: o.operation,
            })
            .observe(o.latency.as_secs_f64());
        if let Some(secret) = o.secret_read {
            self.secret_reads
                .get_or_create(&SecretLabel {
                    secret: secret.to_owned(),
                })
                .inc();
        }
    }

    pub(crate) fn observe_audit_write(&self, took: Duration) {
        self.audit_write.observe(took.as_secs_f64());
    }

    pub(crate) fn observe_rotation(&self, outcome: &'static str, seconds: Option<f64>) {
        self.rotations
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        if let Some(s) = seconds {
            self.rotation_duration.observe(s);
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        if let Ok(meta) = std::fs::metadata(&self.store_path) {
            self.store_bytes
                .set(i64::try_from(meta.len()).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("could not encode the metrics");
        }
        out
    }
}
