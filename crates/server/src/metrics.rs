//! `GET /metrics` on a listener of its own (`--metrics-listen`): Prometheus text format. Requests by operation, outcome and principal,
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
use s9_core::alarms::AlarmState;
use s9_core::rotation::RotationStatus;
use time::OffsetDateTime;

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlarmLabels {
    alarm: String,
    subject: String,
}

type F64Gauge = Gauge<f64, std::sync::atomic::AtomicU64>;

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
    alarm_state: Family<AlarmLabels, Gauge>,
    notifications: Family<OutcomeLabel, Counter>,
    rotation_next: Family<SecretLabel, F64Gauge>,
    rotation_last: Family<SecretLabel, F64Gauge>,
    rotation_overdue: Family<SecretLabel, F64Gauge>,
    rotation_in_progress: Family<SecretLabel, Gauge>,
    rotation_failing: Family<SecretLabel, Gauge>,
    /// Progress of the background workers, so an operator (or a test) can tell that a pass
    /// ran after a given moment instead of waiting and hoping.
    rotation_passes: Counter,
    alarm_records: Counter,
    alarm_ticks: Counter,
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
        let alarm_state = Family::<AlarmLabels, Gauge>::default();
        registry.register(
            "alarm_state",
            "Alarm state per alarm and subject: 1 ALARM, 0 OK",
            alarm_state.clone(),
        );
        let notifications = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "alarm_notifications",
            "Webhook notification attempts by outcome (delivered, retried, failed)",
            notifications.clone(),
        );
        let secret_gauge = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<SecretLabel, F64Gauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        let rotation_next = secret_gauge(
            &mut registry,
            "rotation_next_timestamp_seconds",
            "NextRotationDate per secret with rotation enabled (Unix time)",
        );
        let rotation_last = secret_gauge(
            &mut registry,
            "rotation_last_success_timestamp_seconds",
            "LastRotatedDate per secret (Unix time)",
        );
        let rotation_overdue = secret_gauge(
            &mut registry,
            "rotation_overdue_seconds",
            "How long past its NextRotationDate a secret's rotation is (0 when not due)",
        );
        let rotation_in_progress = Family::<SecretLabel, Gauge>::default();
        registry.register(
            "rotation_in_progress",
            "1 while a rotation of the secret is in progress",
            rotation_in_progress.clone(),
        );
        let rotation_failing = Family::<SecretLabel, Gauge>::default();
        registry.register(
            "rotation_failing",
            "1 while the secret's rotation has failed and waits to be retried",
            rotation_failing.clone(),
        );
        let progress = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let rotation_passes = progress(
            &mut registry,
            "rotation_passes",
            "Passes of the rotation engine over due rotations, completed",
        );
        let alarm_records = progress(
            &mut registry,
            "alarm_records",
            "Audit records the alarm rules have evaluated",
        );
        let alarm_ticks = progress(
            &mut registry,
            "alarm_ticks",
            "Time-driven evaluations of the alarm rules, completed",
        );
        Self {
            rotation_passes,
            alarm_records,
            alarm_ticks,
            alarm_state,
            notifications,
            rotation_next,
            rotation_last,
            rotation_overdue,
            rotation_in_progress,
            rotation_failing,
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

    pub(crate) fn set_alarm(&self, alarm: &str, subject: &str, state: AlarmState) {
        self.alarm_state
            .get_or_create(&AlarmLabels {
                alarm: alarm.to_owned(),
                subject: subject.to_owned(),
            })
            .set(i64::from(state == AlarmState::Alarm));
    }

    pub(crate) fn observe_rotation_pass(&self) {
        self.rotation_passes.inc();
    }

    pub(crate) fn observe_alarm_records(&self, records: u64) {
        self.alarm_records.inc_by(records);
    }

    pub(crate) fn observe_alarm_tick(&self) {
        self.alarm_ticks.inc();
    }

    pub(crate) fn observe_notification(&self, outcome: &'static str) {
        self.notifications
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Replaces the per-secret rotation gauges with `statuses` at `now`.
    pub(crate) fn set_rotations(&self, statuses: &[RotationStatus], now: OffsetDateTime) {
        self.rotation_next.clear();
        self.rotation_last.clear();
        self.rotation_overdue.clear();
        self.rotation_in_progress.clear();
        self.rotation_failing.clear();
        let now = s9_core::clock::epoch_seconds(now);
        for s in statuses {
            let label = SecretLabel {
                secret: s.name.clone(),
            };
            if let (true, Some(next)) = (s.enabled, s.next_rotation) {
                self.rotation_next.get_or_create(&label).set(next);
                self.rotation_overdue
                    .get_or_create(&label)
                    .set((now - next).max(0.0));
            }
            if let Some(last) = s.last_rotated {
                self.rotation_last.get_or_create(&label).set(last);
            }
            self.rotation_in_progress
                .get_or_create(&label)
                .set(i64::from(s.step.is_some()));
            self.rotation_failing
                .get_or_create(&label)
                .set(i64::from(s.failing));
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

/// Answers `GET /metrics` (anything else: 404) on `listener` until the task is aborted.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<crate::Tls>,
    metrics: std::sync::Arc<Metrics>,
    service: std::sync::Arc<s9_core::Service>,
) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (metrics, service) = (
            std::sync::Arc::clone(&metrics),
            std::sync::Arc::clone(&service),
        );
        let answer =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (metrics, service) = (
                    std::sync::Arc::clone(&metrics),
                    std::sync::Arc::clone(&service),
                );
                async move {
                    let mut response = if req.method() == http::Method::GET
                        && req.uri().path() == "/metrics"
                    {
                        metrics.set_rotations(&service.rotation_statuses(), service.now());
                        let mut r = http::Response::new(Full::new(Bytes::from(metrics.render())));
                        r.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static(
                                "text/plain; version=0.0.4; charset=utf-8",
                            ),
                        );
                        r
                    } else {
                        let mut r = http::Response::new(Full::new(Bytes::from_static(
                            b"not found: this listener serves GET /metrics\n",
                        )));
                        *r.status_mut() = http::StatusCode::NOT_FOUND;
                        r
                    };
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
        let (http, tls) = (http.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), answer).await;
                }
                Some(tls) => {
                    let accepted = tokio::time::timeout(
                        Duration::from_secs(10),
                        tls.acceptor().accept(stream),
                    );
                    if let Ok(Ok(stream)) = accepted.await {
                        let _ = http.serve_connection(TokioIo::new(stream), answer).await;
                    }
                }
            }
        });
    }
}
