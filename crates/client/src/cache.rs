//! The cache: entries keyed by secret id, version and decoded type; one backend call per
//! cold or expired entry however many callers wait on it (single flight); refresh ahead of
//! expiry with jitter; retries with full-jitter exponential backoff on transient failures
//! only; a circuit breaker per secret; and the last good value served for a bounded stale
//! window when — and only when — the backend is unavailable.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A point in time: how long after the cache clock's origin.
type Tick = Duration;

use arc_swap::ArcSwapOption;
use aws_sdk_secretsmanager::Client;
use backon::BackoffBuilder as _;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::breaker::{Breaker, Permit};
use crate::clock::{Clock, SystemClock};
use crate::decode::{self, SecretDocument};
use crate::{ApiCredentials, Error, SecretValue};

/// Which version of a secret to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    Stage(Cow<'static, str>),
    Id(Cow<'static, str>),
}

impl Version {
    /// `AWSCURRENT`, what callers want unless rotating.
    pub const CURRENT: Self = Self::Stage(Cow::Borrowed("AWSCURRENT"));
}

/// How the cache behaves. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// How long a value is served without asking the backend (5 minutes).
    pub ttl: Duration,
    /// A value may be refreshed in the background from `ttl - refresh_ahead` on (jittered
    /// over the first half of that span), so busy callers never wait on an expiry (1 minute).
    pub refresh_ahead: Duration,
    /// How long past expiry the last good value may still be served while the backend is
    /// unavailable (1 hour). Never after AccessDenied, NotFound or deletion.
    pub stale_window: Duration,
    /// Attempts per read, the first included (3).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles up to `backoff_max`, with full jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive transient failures that open a secret's circuit (5).
    pub breaker_threshold: u32,
    /// How long an open circuit rejects calls before one probe (30 s).
    pub breaker_cooldown: Duration,
    /// At most one forced refresh ([`SecretsCache::invalidate`]) per secret this often (30 s).
    pub min_forced_refresh_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            refresh_ahead: Duration::from_secs(60),
            stale_window: Duration::from_secs(3600),
            max_attempts: 3,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            min_forced_refresh_interval: Duration::from_secs(30),
        }
    }
}

/// Counters since the cache was built (also exported through the `metrics` facade).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// GetSecretValue calls sent, retries included.
    pub backend_calls: u64,
    pub background_refreshes: u64,
    pub stale_serves: u64,
    pub circuit_rejections: u64,
    pub forced_refreshes: u64,
    pub invalid_values: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    backend_calls: AtomicU64,
    background_refreshes: AtomicU64,
    stale_serves: AtomicU64,
    circuit_rejections: AtomicU64,
    forced_refreshes: AtomicU64,
    invalid_values: AtomicU64,
}

/// `metrics` handles, registered once so the hit path only bumps an atomic.
#[derive(Debug)]
struct Metrics {
    hits: metrics::Counter,
    misses: metrics::Counter,
    backend_calls: metrics::Counter,
    stale_serves: metrics::Counter,
    circuit_rejections: metrics::Counter,
    backend_latency: metrics::Histogram,
}

impl Metrics {
    fn register() -> Self {
        Self {
            hits: metrics::counter!("s9_client_cache_hits_total"),
            misses: metrics::counter!("s9_client_cache_misses_total"),
            backend_calls: metrics::counter!("s9_client_backend_calls_total"),
            stale_serves: metrics::counter!("s9_client_stale_serves_total"),
            circuit_rejections: metrics::counter!("s9_client_circuit_rejections_total"),
            backend_latency: metrics::histogram!("s9_client_backend_latency_seconds"),
        }
    }
}

type Decoded = Arc<dyn Any + Send + Sync>;
type Decoder = fn(&str, SecretValue) -> Result<Decoded, Error>;

/// A good value and when it stops being fresh.
struct Good {
    value: Decoded,
    expires: Tick,
    refresh_at: Tick,
}

/// One (version, type) of a secret. Shared by the cache and by [`SecretHandle`]s, which
/// read it without looking anything up.
struct Slot {
    version: Version,
    kind: TypeId,
    /// The last good value, swapped whole: a hit reads it without a lock.
    good: ArcSwapOption<Good>,
    refreshing: AtomicBool,
    /// Held by the one caller that talks to the backend for this slot.
    flight: tokio::sync::Mutex<()>,
}

/// Everything cached for one secret id; its slots' states have their own locks, the rest
/// is changed under the cache's write lock.
struct Bucket {
    slots: Vec<Arc<Slot>>,
    breaker: Breaker,
    last_forced: Option<Tick>,
}

struct Inner {
    client: Client,
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    buckets: RwLock<HashMap<Box<str>, Bucket, foldhash::fast::RandomState>>,
    counters: Counters,
    metrics: Metrics,
}

/// A caching Secrets Manager reader; clones share one cache.
#[derive(Clone)]
pub struct SecretsCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SecretsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsCache")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SecretsCache`].
#[derive(Debug, Default)]
pub struct CacheBuilder {
    config: CacheConfig,
    clock: Option<Arc<dyn Clock>>,
}

impl CacheBuilder {
    pub fn config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A cache over `client`. The cache retries by itself: give it a client whose own
    /// retries are off (as [`CacheBuilder::build_from_sdk_config`] does), or both will.
    pub fn build(self, client: Client) -> SecretsCache {
        SecretsCache {
            inner: Arc::new(Inner {
                client,
                config: self.config,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                buckets: RwLock::new(HashMap::default()),
                counters: Counters::default(),
                metrics: Metrics::register(),
            }),
        }
    }

    /// A cache over a Secrets Manager client made from `sdk_config` (credentials, region,
    /// endpoint), with the SDK's retries off and a 5-second timeout per attempt.
    pub fn build_from_sdk_config(self, sdk_config: &aws_config::SdkConfig) -> SecretsCache {
        let client_config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build();
        self.build(Client::from_conf(client_config))
    }
}

/// Marks entries decoded by `get_json::<T>` (no validation).
struct Json<T>(std::marker::PhantomData<T>);
/// Marks entries decoded and validated by `get_document::<T>`.
struct Validated<T>(std::marker::PhantomData<T>);

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SecretsCache {
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The Signal9 API credentials (AWSCURRENT), validated before they are cached.
    pub async fn api_credentials(&self, secret_id: &str) -> Result<Arc<ApiCredentials>, Error> {
        self.get_document::<ApiCredentials>(secret_id).await
    }

    /// A JSON document that validates itself ([`SecretDocument`]), AWSCURRENT.
    pub async fn get_document<T: SecretDocument>(&self, secret_id: &str) -> Result<Arc<T>, Error> {
        self.get_as(
            secret_id,
            &Version::CURRENT,
            TypeId::of::<Validated<T>>(),
            document_decoder::<T>,
        )
        .await
    }

    /// Any JSON secret, parsed with serde (AWSCURRENT).
    pub async fn get_json<T>(&self, secret_id: &str) -> Result<Arc<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        fn decode<T: DeserializeOwned + Send + Sync + 'static>(
            id: &str,
            value: SecretValue,
        ) -> Result<Decoded, Error> {
            let expected = "JSON document";
            Ok(Arc::new(decode::json::<T>(
                id,
                text(id, &value, expected)?,
                expected,
            )?))
        }
        self.get_as(
            secret_id,
            &Version::CURRENT,
            TypeId::of::<Json<T>>(),
            decode::<T>,
        )
        .await
    }

    /// A text secret (AWSCURRENT).
    pub async fn get_string(&self, secret_id: &str) -> Result<Arc<SecretString>, Error> {
        self.get_as(
            secret_id,
            &Version::CURRENT,
            TypeId::of::<SecretString>(),
            string_decoder,
        )
        .await
    }

    /// A version with its metadata, as GetSecretValue returns it.
    pub async fn get_value(
        &self,
        secret_id: &str,
        version: &Version,
    ) -> Result<Arc<SecretValue>, Error> {
        fn decode(_: &str, value: SecretValue) -> Result<Decoded, Error> {
            Ok(Arc::new(value))
        }
        self.get_as(secret_id, version, TypeId::of::<SecretValue>(), decode)
            .await
    }

    /// Asks Secrets Manager for the version now, whatever is cached (the AWS agent's
    /// `refreshNow=true`): a good answer replaces the cached one; a failure is returned as
    /// it is and leaves the cache as it was (never the cached value instead). Not
    /// rate-limited, nor held back by an open circuit: the caller asked for exactly this.
    pub async fn refresh_value(
        &self,
        secret_id: &str,
        version: &Version,
    ) -> Result<Arc<SecretValue>, Error> {
        let slot = self.slot(secret_id, version, TypeId::of::<SecretValue>());
        let _flight = slot.flight.lock().await;
        self.inner
            .counters
            .forced_refreshes
            .fetch_add(1, Ordering::Relaxed);
        let value: Decoded = Arc::new(self.fetch(secret_id, version).await?);
        let now = self.inner.clock.now();
        slot.good
            .store(Some(Arc::new(self.good(Arc::clone(&value), now))));
        Ok(downcast(value))
    }

    /// Forces the next read of `secret_id` to go to the backend — call it when a provider
    /// rejected the credentials you got. Rate-limited: returns false (and changes nothing)
    /// if a forced refresh of this secret happened less than `min_forced_refresh_interval`
    /// ago, so a bad key cannot hammer the service. The last good value stays available for
    /// stale serving.
    pub fn invalidate(&self, secret_id: &str) -> bool {
        let now = self.inner.clock.now();
        let min_interval = self.inner.config.min_forced_refresh_interval;
        {
            let mut buckets = write(&self.inner.buckets);
            let Some(bucket) = buckets.get_mut(secret_id) else {
                return true;
            };
            if bucket.last_forced.is_some_and(|t| now < t + min_interval) {
                tracing::info!(secret_id, "forced refresh skipped: rate-limited");
                return false;
            }
            bucket.last_forced = Some(now);
            for slot in &bucket.slots {
                if let Some(good) = slot.good.load_full() {
                    slot.good.store(Some(Arc::new(Good {
                        value: Arc::clone(&good.value),
                        expires: now,
                        refresh_at: now,
                    })));
                }
            }
        }
        self.inner
            .counters
            .forced_refreshes
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            secret_id,
            "forced refresh: the next read asks Secrets Manager"
        );
        true
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            backend_calls: get(&c.backend_calls),
            background_refreshes: get(&c.background_refreshes),
            stale_serves: get(&c.stale_serves),
            circuit_rejections: get(&c.circuit_rejections),
            forced_refreshes: get(&c.forced_refreshes),
            invalid_values: get(&c.invalid_values),
        }
    }

    async fn get_as<T: Send + Sync + 'static>(
        &self,
        secret_id: &str,
        version: &Version,
        kind: TypeId,
        decoder: Decoder,
    ) -> Result<Arc<T>, Error> {
        // A fresh value under the read lock; else the slot to load it into.
        let slot = {
            let buckets = read(&self.inner.buckets);
            let slot = buckets.get(secret_id).and_then(|b| {
                b.slots
                    .iter()
                    .find(|s| s.kind == kind && s.version == *version)
            });
            if let Some(value) = slot.and_then(|s| self.fresh(s, secret_id, version, decoder)) {
                return Ok(downcast(value));
            }
            slot.map(Arc::clone)
        };
        let slot = slot.unwrap_or_else(|| self.slot(secret_id, version, kind));
        let value = self.boxed_miss(secret_id, version, slot, decoder).await?;
        Ok(downcast(value))
    }

    /// The fast path: the slot's value if fresh (no lock); starts a background refresh once
    /// it is due.
    fn fresh(
        &self,
        slot: &Arc<Slot>,
        secret_id: &str,
        version: &Version,
        decoder: Decoder,
    ) -> Option<Decoded> {
        let now = self.inner.clock.now();
        let (value, refresh) = {
            let guard = slot.good.load();
            let good = guard.as_deref().filter(|g| now < g.expires)?;
            (Arc::clone(&good.value), now >= good.refresh_at)
        };
        self.inner.counters.hits.fetch_add(1, Ordering::Relaxed);
        self.inner.metrics.hits.increment(1);
        if refresh && !slot.refreshing.swap(true, Ordering::AcqRel) {
            self.refresh_in_background(secret_id, version, Arc::clone(slot), decoder);
        }
        Some(value)
    }

    // Out of line: the spawned future is large, and inlined it would give every hit a frame
    // of that size.
    #[inline(never)]
    fn refresh_in_background(
        &self,
        secret_id: &str,
        version: &Version,
        slot: Arc<Slot>,
        decoder: Decoder,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            slot.refreshing.store(false, Ordering::Release);
            return;
        };
        self.inner
            .counters
            .background_refreshes
            .fetch_add(1, Ordering::Relaxed);
        let cache = self.clone();
        let (id, version) = (secret_id.to_owned(), version.clone());
        let span = tracing::debug_span!("secrets_cache.refresh_ahead", secret_id = %id);
        runtime.spawn(
            async move {
                let _flight = slot.flight.lock().await;
                if let Err(e) = cache.load(&id, &version, &slot, decoder).await {
                    tracing::warn!(error = %e, "refresh ahead of expiry failed; the cached value stays until it expires");
                }
                slot.refreshing.store(false, Ordering::Release);
            }
            .instrument(span),
        );
    }

    /// [`Self::miss`], boxed in a frame of its own. The miss future holds the SDK's request
    /// future (kilobytes); built inline, every hit would reserve and probe that much stack.
    #[inline(never)]
    fn boxed_miss<'a>(
        &'a self,
        secret_id: &'a str,
        version: &'a Version,
        slot: Arc<Slot>,
        decoder: Decoder,
    ) -> std::pin::Pin<Box<impl Future<Output = Result<Decoded, Error>> + Send + 'a>> {
        Box::pin(self.miss(secret_id, version, slot, decoder))
    }

    /// The slow path: one caller per slot asks the backend; the others wait and then read
    /// what it stored.
    async fn miss(
        &self,
        secret_id: &str,
        version: &Version,
        slot: Arc<Slot>,
        decoder: Decoder,
    ) -> Result<Decoded, Error> {
        let _flight = slot
            .flight
            .lock()
            .instrument(tracing::trace_span!("secrets_cache.wait"))
            .await;
        if let Some(value) = self.fresh(&slot, secret_id, version, decoder) {
            return Ok(value);
        }
        self.inner.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.inner.metrics.misses.increment(1);
        let span = tracing::info_span!("secrets_cache.fetch", secret_id, version = ?version);
        self.load(secret_id, version, &slot, decoder)
            .instrument(span)
            .await
    }

    /// Reads from the backend (through the breaker) and stores the result; on a transient
    /// failure, falls back to the last good value within the stale window.
    async fn load(
        &self,
        secret_id: &str,
        version: &Version,
        slot: &Slot,
        decoder: Decoder,
    ) -> Result<Decoded, Error> {
        let now = self.inner.clock.now();
        let result = match self.with_bucket(secret_id, |b| b.breaker.permit(now)) {
            Permit::Reject { retry_in } => {
                self.inner
                    .counters
                    .circuit_rejections
                    .fetch_add(1, Ordering::Relaxed);
                self.inner.metrics.circuit_rejections.increment(1);
                Err(Error::CircuitOpen {
                    secret_id: secret_id.to_owned(),
                    retry_in,
                })
            }
            permit => {
                if permit == Permit::Probe {
                    tracing::info!(secret_id, "circuit half-open: probing Secrets Manager");
                }
                let fetched = self.fetch(secret_id, version).await;
                let now = self.inner.clock.now();
                let transient = fetched.as_ref().is_err_and(Error::is_transient);
                self.with_bucket(secret_id, |b| {
                    self.record_outcome(secret_id, &mut b.breaker, transient, now);
                });
                fetched.and_then(|value| {
                    decoder(secret_id, value).inspect_err(|e| {
                        self.inner
                            .counters
                            .invalid_values
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, "secret value rejected; nothing cached");
                    })
                })
            }
        };
        let now = self.inner.clock.now();
        self.settle(secret_id, slot, result, now)
    }

    fn record_outcome(&self, secret_id: &str, breaker: &mut Breaker, transient: bool, now: Tick) {
        if transient {
            if breaker.failure(now) {
                tracing::warn!(
                    secret_id,
                    threshold = self.inner.config.breaker_threshold,
                    "circuit opened after consecutive failures"
                );
                metrics::gauge!("s9_client_circuit_open", "secret" => secret_id.to_owned())
                    .set(1.0);
            }
        } else if breaker.success() {
            tracing::info!(secret_id, "circuit closed");
            metrics::gauge!("s9_client_circuit_open", "secret" => secret_id.to_owned()).set(0.0);
        }
    }

    /// Stores a good value, or decides between the last good one and the error.
    fn settle(
        &self,
        secret_id: &str,
        slot: &Slot,
        result: Result<Decoded, Error>,
        now: Tick,
    ) -> Result<Decoded, Error> {
        match result {
            Ok(value) => {
                slot.good
                    .store(Some(Arc::new(self.good(Arc::clone(&value), now))));
                Ok(value)
            }
            Err(e) if e.is_transient() => {
                let window = self.inner.config.stale_window;
                let last = slot.good.load_full();
                match last.as_deref().filter(|g| now < g.expires + window) {
                    Some(good) => {
                        self.inner
                            .counters
                            .stale_serves
                            .fetch_add(1, Ordering::Relaxed);
                        self.inner.metrics.stale_serves.increment(1);
                        tracing::warn!(secret_id, error = %e, stale_for = ?now.saturating_sub(good.expires), "serving the last good value while Secrets Manager is unavailable");
                        Ok(Arc::clone(&good.value))
                    }
                    None => Err(e),
                }
            }
            Err(e @ Error::Invalid { .. }) => Err(e),
            Err(e) => {
                if slot.good.swap(None).is_some() {
                    tracing::warn!(secret_id, error = %e, "cached value dropped: Secrets Manager refuses it for good");
                }
                Err(e)
            }
        }
    }

    fn good(&self, value: Decoded, now: Tick) -> Good {
        let c = &self.inner.config;
        let ahead = c.refresh_ahead.min(c.ttl);
        // Refresh from somewhere in the first half of the refresh-ahead span, so callers
        // sharing a start time do not all refresh at once.
        let jitter = ahead.mul_f64(0.5 * fastrand::f64());
        Good {
            value,
            expires: now + c.ttl,
            refresh_at: now + (c.ttl - ahead) + jitter,
        }
    }

    /// GetSecretValue with retries: exponential backoff with full jitter, on transient
    /// failures only.
    async fn fetch(&self, secret_id: &str, version: &Version) -> Result<SecretValue, Error> {
        let c = &self.inner.config;
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(c.backoff_base)
            .with_max_delay(c.backoff_max)
            .with_max_times(c.max_attempts.saturating_sub(1) as usize)
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self.inner.client.get_secret_value().secret_id(secret_id);
            let request = match version {
                Version::Stage(s) => request.version_stage(s.as_ref()),
                Version::Id(id) => request.version_id(id.as_ref()),
            };
            self.inner
                .counters
                .backend_calls
                .fetch_add(1, Ordering::Relaxed);
            self.inner.metrics.backend_calls.increment(1);
            let started = Instant::now();
            let result = request.send().await;
            self.inner
                .metrics
                .backend_latency
                .record(started.elapsed().as_secs_f64());
            let err = match result {
                Ok(out) => return Ok(SecretValue::from_output(out)),
                Err(e) => Error::classify(secret_id, &e, attempts),
            };
            let Some(delay) = delays.next().filter(|_| err.is_transient()) else {
                return Err(err);
            };
            // Full jitter: anywhere between zero and the exponential delay.
            let delay = delay.mul_f64(fastrand::f64());
            tracing::debug!(secret_id, attempt = attempts, error = %err, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Runs `f` on the secret's bucket, creating it if needed, under the write lock.
    fn with_bucket<R>(&self, secret_id: &str, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let c = &self.inner.config;
        let mut buckets = write(&self.inner.buckets);
        f(buckets.entry(secret_id.into()).or_insert_with(|| Bucket {
            slots: Vec::new(),
            breaker: Breaker::new(c.breaker_threshold, c.breaker_cooldown),
            last_forced: None,
        }))
    }

    /// The slot for (secret, version, kind), created on first use.
    fn slot(&self, secret_id: &str, version: &Version, kind: TypeId) -> Arc<Slot> {
        self.with_bucket(secret_id, |bucket| {
            if let Some(slot) = bucket
                .slots
                .iter()
                .find(|s| s.kind == kind && s.version == *version)
            {
                return Arc::clone(slot);
            }
            let slot = Arc::new(Slot {
                version: version.clone(),
                kind,
                good: ArcSwapOption::empty(),
                refreshing: AtomicBool::new(false),
                flight: tokio::sync::Mutex::new(()),
            });
            bucket.slots.push(Arc::clone(&slot));
            slot
        })
    }
}

fn document_decoder<T: SecretDocument>(id: &str, value: SecretValue) -> Result<Decoded, Error> {
    Ok(Arc::new(decode::document::<T>(
        id,
        text(id, &value, T::EXPECTED)?,
    )?))
}

fn string_decoder(id: &str, mut value: SecretValue) -> Result<Decoded, Error> {
    let s = value
        .string
        .take()
        .ok_or_else(|| not_text(id, "text secret"))?;
    Ok(Arc::new(s))
}

/// A prepared reader of one secret: `get` finds its entry without a lookup, which makes a
/// hit cheaper than [`SecretsCache::get_document`] by name. Clones share the entry.
pub struct SecretHandle<T> {
    cache: SecretsCache,
    secret_id: Arc<str>,
    version: Version,
    slot: Arc<Slot>,
    decoder: Decoder,
    _value: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for SecretHandle<T> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            secret_id: Arc::clone(&self.secret_id),
            version: self.version.clone(),
            slot: Arc::clone(&self.slot),
            decoder: self.decoder,
            _value: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for SecretHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHandle")
            .field("secret_id", &self.secret_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> SecretHandle<T> {
    /// The value, from the cache when fresh; otherwise as [`SecretsCache`] reads it.
    pub async fn get(&self) -> Result<Arc<T>, Error> {
        let cache = &self.cache;
        let value = match cache.fresh(&self.slot, &self.secret_id, &self.version, self.decoder) {
            Some(v) => v,
            None => {
                cache
                    .boxed_miss(
                        &self.secret_id,
                        &self.version,
                        Arc::clone(&self.slot),
                        self.decoder,
                    )
                    .await?
            }
        };
        Ok(downcast(value))
    }

    /// As [`SecretsCache::invalidate`] for this secret.
    pub fn invalidate(&self) -> bool {
        self.cache.invalidate(&self.secret_id)
    }
}

impl SecretsCache {
    /// A prepared reader of the Signal9 API credentials (AWSCURRENT).
    pub fn api_credentials_handle(&self, secret_id: &str) -> SecretHandle<ApiCredentials> {
        self.document_handle(secret_id)
    }

    /// A prepared reader of a [`SecretDocument`] (AWSCURRENT).
    pub fn document_handle<T: SecretDocument>(&self, secret_id: &str) -> SecretHandle<T> {
        self.handle(
            secret_id,
            TypeId::of::<Validated<T>>(),
            document_decoder::<T>,
        )
    }

    /// A prepared reader of a text secret (AWSCURRENT).
    pub fn string_handle(&self, secret_id: &str) -> SecretHandle<SecretString> {
        self.handle(secret_id, TypeId::of::<SecretString>(), string_decoder)
    }

    fn handle<T>(&self, secret_id: &str, kind: TypeId, decoder: Decoder) -> SecretHandle<T> {
        SecretHandle {
            cache: self.clone(),
            secret_id: secret_id.into(),
            version: Version::CURRENT,
            slot: self.slot(secret_id, &Version::CURRENT, kind),
            decoder,
            _value: std::marker::PhantomData,
        }
    }
}

fn downcast<T: Send + Sync + 'static>(value: Decoded) -> Arc<T> {
    value
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("a slot's kind fixes the type its decoder produces"))
}

fn text<'a>(id: &str, value: &'a SecretValue, expected: &'static str) -> Result<&'a str, Error> {
    value.text().ok_or_else(|| not_text(id, expected))
}

fn not_text(id: &str, expected: &'static str) -> Error {
    Error::Invalid {
        secret_id: id.to_owned(),
        expected,
        field: None,
        problem: "the secret holds binary data, not text".to_owned(),
    }
}
