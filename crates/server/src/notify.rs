//! Notifications of alarm state changes: a line in the service log always, and, when a
//! webhook is configured, a JSON POST in Amazon SNS's notification format (its `Message` is
//! CloudWatch's alarm-change JSON, its `Subject` an e-mail subject line), so the receivers
//! and mail gateways written for SNS and CloudWatch read it unchanged.
//!
//! The body is signed: `X-S9-Signature: t=UNIX,v1=HEX` where HEX is
//! HMAC-SHA256(key, "UNIX.BODY"); a receiver recomputes it and rejects old timestamps.
//! Deliveries run on their own task, in order, with retries and doubling backoff; the
//! outcome of each is written into the alarm history. Nothing waits on them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use s9_core::alarms::{AlarmState, Change};
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::metrics::Metrics;
use crate::outbound::{self, HttpsClient};

/// Where and how alarm notifications are POSTed.
#[derive(Clone)]
pub struct WebhookSettings {
    pub url: String,
    /// The HMAC key the body is signed with; `None` sends unsigned.
    pub key: Option<Zeroizing<Vec<u8>>>,
    /// Attempts per notification, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubles per attempt, at most a minute.
    pub backoff: Duration,
    /// Time allowed per attempt.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.endpoint())
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebhookSettings {
    /// The URL's scheme and authority only: webhook paths and queries often carry a token
    /// (Slack, Teams), so logs and `Debug` never show them.
    pub fn endpoint(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        format!("{scheme}://{host}/…")
    }

    pub fn new(url: String) -> Self {
        Self {
            url,
            key: None,
            attempts: 5,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Hands changes to the delivery task.
#[derive(Debug)]
pub(crate) struct Notifier {
    tx: mpsc::UnboundedSender<Change>,
}

struct Delivery {
    webhook: Option<(WebhookSettings, Option<HttpsClient>)>,
    topic_arn: String,
    account_id: String,
    metrics: Arc<Metrics>,
    /// (change id, outcome) back to the alarm worker, for the history.
    outcomes: mpsc::UnboundedSender<(u64, String)>,
}

impl Notifier {
    pub(crate) fn start(
        webhook: Option<WebhookSettings>,
        topic_arn: Option<String>,
        account_id: String,
        metrics: Arc<Metrics>,
        outcomes: mpsc::UnboundedSender<(u64, String)>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let webhook = webhook.map(|w| {
            let client = outbound::client_for(&w.url);
            (w, client)
        });
        let delivery = Delivery {
            webhook,
            topic_arn: topic_arn
                .unwrap_or_else(|| format!("arn:aws:sns:us-east-1:{account_id}:s9-secrets-alarms")),
            account_id,
            metrics,
            outcomes,
        };
        tokio::spawn(delivery.run(rx));
        Self { tx }
    }

    pub(crate) fn notify(&self, change: Change) {
        if self.tx.send(change).is_err() {
            tracing::error!("the notification task has stopped");
        }
    }
}

impl Delivery {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Change>) {
        while let Some(change) = rx.recv().await {
            match change.to {
                AlarmState::Alarm => tracing::warn!(
                    alarm = change.alarm,
                    subject = change.subject,
                    reason = change.reason,
                    "ALARM"
                ),
                AlarmState::Ok => tracing::info!(
                    alarm = change.alarm,
                    subject = change.subject,
                    reason = change.reason,
                    "alarm back to OK"
                ),
            }
            let Some((settings, client)) = &self.webhook else {
                continue;
            };
            let outcome = self.deliver(settings, client.as_ref(), &change).await;
            let _ = self.outcomes.send((change.id, outcome));
        }
    }

    async fn deliver(
        &self,
        settings: &WebhookSettings,
        client: Option<&HttpsClient>,
        change: &Change,
    ) -> String {
        let Some(client) = client else {
            self.metrics.observe_notification("failed");
            return "failed: no HTTP client (TLS roots missing)".to_owned();
        };
        let body = Bytes::from(sns_message(change, &self.topic_arn, &self.account_id));
        let mut wait = settings.backoff;
        let mut last = String::new();
        for attempt in 1..=settings.attempts.max(1) {
            if attempt > 1 {
                self.metrics.observe_notification("retried");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
            let sent = tokio::time::timeout(
                settings.timeout,
                post(client, settings, body.clone(), change.id),
            )
            .await
            .unwrap_or_else(|_| Err((format!("no answer within {:?}", settings.timeout), true)));
            match sent {
                Ok(()) => {
                    self.metrics.observe_notification("delivered");
                    return format!("delivered (attempt {attempt})");
                }
                Err((why, retry)) => {
                    tracing::warn!(
                        endpoint = settings.endpoint(),
                        alarm = change.alarm,
                        attempt,
                        error = why,
                        "alarm notification not delivered"
                    );
                    last = why;
                    if !retry {
                        break;
                    }
                }
            }
        }
        self.metrics.observe_notification("failed");
        tracing::error!(
            endpoint = settings.endpoint(),
            alarm = change.alarm,
            error = last,
            "alarm notification failed; the change stays in the alarm history"
        );
        format!("failed: {last}")
    }
}

/// One POST; the error says whether another attempt could help.
async fn post(
    client: &HttpsClient,
    settings: &WebhookSettings,
    body: Bytes,
    id: u64,
) -> Result<(), (String, bool)> {
    let mut req = http::Request::post(&settings.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-amz-sns-message-type", "Notification")
        .header("x-s9-alarm-change", id.to_string());
    if let Some(key) = &settings.key {
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        req = req.header("x-s9-signature", signature(key, t, &body));
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| (e.to_string(), false))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| (format!("{e}"), true))?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    match status.as_u16() {
        200..=299 => Ok(()),
        code @ (408 | 429 | 500..=599) => Err((format!("HTTP {code}"), true)),
        code => Err((format!("HTTP {code}"), false)),
    }
}

/// `t=UNIX,v1=HEX(HMAC-SHA256(key, "UNIX.BODY"))`.
pub fn signature(key: &[u8], t: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// The SNS notification envelope around CloudWatch's alarm-change message.
fn sns_message(change: &Change, topic_arn: &str, account_id: &str) -> Vec<u8> {
    let time = change.time.format(&Rfc3339).unwrap_or_default();
    let mut subject = format!(
        "{}: \"{}\" for {}",
        change.to.as_str(),
        change.alarm,
        change.subject
    );
    if subject.len() > 100 {
        let mut cut = 97;
        while !subject.is_char_boundary(cut) {
            cut -= 1;
        }
        subject.truncate(cut);
        subject.push_str("...");
    }
    let message = serde_json::json!({
        "AlarmName": change.alarm,
        "AlarmDescription": change.description,
        "AWSAccountId": account_id,
        "NewStateValue": change.to.as_str(),
        "NewStateReason": change.reason,
        "StateChangeTime": time,
        "OldStateValue": change.from.as_str(),
        "Trigger": {"RuleKind": change.kind, "Subject": change.subject},
        "ChangeId": change.id,
    });
    serde_json::to_vec(&serde_json::json!({
        "Type": "Notification",
        "MessageId": uuid::Uuid::new_v4().to_string(),
        "TopicArn": topic_arn,
        "Subject": subject,
        "Message": message.to_string(),
        "Timestamp": time,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: Python's hmac.new(b"Jefe", b"0.what do ya want for
        // nothing?", sha256).hexdigest().
        assert_eq!(
            signature(b"Jefe", 0, b"what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }

    #[test]
    fn logs_show_the_webhook_host_never_its_path_or_credentials() {
        let hook = WebhookSettings::new(
            "https://user:pw@hooks.example:8443/services/T0/B1/SECRETTOKEN?k=v".into(),
        );
        assert_eq!(hook.endpoint(), "https://hooks.example:8443/…");
        let shown = format!("{hook:?}");
        assert!(
            !shown.contains("SECRETTOKEN") && !shown.contains("pw"),
            "{shown}"
        );
    }

    #[test]
    fn message_is_an_sns_envelope_around_a_cloudwatch_alarm_change() {
        let change = Change {
            id: 7,
            time: time::macros::datetime!(2026-11-27 10:00 UTC),
            alarm: "secret-read-rate".into(),
            kind: "read-rate".into(),
            description: None,
            subject: "x".repeat(120),
            from: AlarmState::Ok,
            to: AlarmState::Alarm,
            reason: "more than 10 reads".into(),
            delivery: None,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&sns_message(&change, "arn:aws:sns:us-east-1:1:t", "1"))
                .expect("json");
        assert_eq!(body["Type"], "Notification");
        assert_eq!(body["TopicArn"], "arn:aws:sns:us-east-1:1:t");
        let subject = body["Subject"].as_str().expect("subject");
        assert!(subject.starts_with("ALARM: \"secret-read-rate\" for xxx") && subject.len() == 100);
        let message: serde_json::Value =
            serde_json::from_str(body["Message"].as_str().expect("message")).expect("inner");
        assert_eq!(message["NewStateValue"], "ALARM");
        assert_eq!(message["OldStateValue"], "OK");
        assert_eq!(message["StateChangeTime"], "2026-11-27T10:00:00Z");
        assert_eq!(message["Trigger"]["RuleKind"], "read-rate");
    }
}
