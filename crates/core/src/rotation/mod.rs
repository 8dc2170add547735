//! Rotation: the four-step protocol Secrets Manager runs — `createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`, with the ClientRequestToken as the `AWSPENDING` version — for
//! secrets whose rotation was requested or fell due.
//!
//! - [`state`]: the durable rotation state of each secret (which step, attempts, retries), kept
//!   in its record, so a restart resumes a rotation where it stopped.
//! - [`engine`]: the [`RotationEngine`] finds due rotations on the injected clock, runs each
//!   secret's steps through its handler (never two rotations of one secret at once), and
//!   reports what happened to [`RotationEvents`].
//! - [`builtin`]: handlers that run inside the service — `random` (a new random value per a
//!   template) and `vendor-key` (waits for an operator to supply the key a vendor issued, then
//!   checks it with the vendor before it becomes current).
//!
//! Handlers that run elsewhere (an HTTP endpoint, a command) implement [`RotationHandler`] in
//! the server; like an AWS rotation Lambda they do their work through the API.

mod builtin;
mod engine;
mod state;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use builtin::{
    FieldProblem, ProviderCheck, RandomHandler, RandomTemplate, VendorKeyHandler,
    check_document_fields, replace_fields,
};
pub use engine::{EngineConfig, RotationEngine, RotationEvents, RotationNotice};
pub(crate) use state::start;
pub use state::{RotationJob, RotationStatus};

use crate::{Caller, Service};

/// The function name in a rotation function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`,
/// optionally with a `:QUALIFIER`); anything else is taken as a name.
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

/// One step of a rotation, named as in AWS's rotation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateSecret => "createSecret",
            Self::SetSecret => "setSecret",
            Self::TestSecret => "testSecret",
            Self::FinishSecret => "finishSecret",
        }
    }

    fn next(self) -> Option<Self> {
        match self {
            Self::CreateSecret => Some(Self::SetSecret),
            Self::SetSecret => Some(Self::TestSecret),
            Self::TestSecret => Some(Self::FinishSecret),
            Self::FinishSecret => None,
        }
    }
}

/// What a rotation function receives: AWS's rotation event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: Step,
    /// The secret's ARN.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    /// The version being rotated in (`AWSPENDING`).
    #[serde(rename = "ClientRequestToken")]
    pub client_request_token: String,
}

/// How a step ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    /// The step cannot finish yet (a person must act); it is run again on a later pass.
    Waiting(String),
}

/// Why a step failed, in words fit for the audit trail and the operator: never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl From<s9_wire::ApiError> for StepError {
    fn from(e: s9_wire::ApiError) -> Self {
        Self(format!("{}: {}", e.code.as_str(), e.message))
    }
}

/// What a built-in handler may use: the service, as the rotation's own principal.
#[derive(Debug)]
pub struct StepContext<'a> {
    pub service: &'a Service,
    pub region: &'a str,
    pub caller: &'a Caller,
}

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutcome, StepError>> + Send + 'a>>;

/// A rotation function: runs one step of AWS's protocol. Steps must be idempotent (a step
/// interrupted by a crash runs again), as AWS requires of rotation Lambdas.
pub trait RotationHandler: Send + Sync + std::fmt::Debug {
    fn run<'a>(&'a self, ctx: &'a StepContext<'a>, event: &'a RotationEvent) -> StepFuture<'a>;
}
