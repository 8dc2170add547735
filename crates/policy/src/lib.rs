//! IAM policies for Signal9 Secrets: parse and validate IAM JSON policy documents, evaluate
//! requests against identity and resource policies with AWS's rules, and explain decisions.
//!
//! Pure: no I/O, no clock, no HTTP. Callers build the request [`Context`] (time, source IP,
//! tags, Secrets Manager keys) and get a [`Decision`] naming the statement that decided.
//! [`reach`] finds who can reach an action, directly or by changing the secret first.

mod condition;
mod document;
mod eval;
mod pattern;
pub mod reach;

pub use document::{
    ConditionEntry, Effect, Patterns, Policy, PolicyError, PolicyKind, PrincipalSpec, Statement,
};
pub use eval::{
    Context, ContextSource, Decision, Layered, NamedPolicy, Reason, Request, Source, evaluate,
};
