//! The Signal9 stack: one spec (`signal9.toml`, [`spec`]) that `s9-secrets apply` makes
//! true on a Signal9 Secrets server and that [`synth`] turns into a CloudFormation template
//! ([`cfn`]) for real AWS Secrets Manager.

pub mod cfn;
pub mod spec;
pub mod synth;

pub use spec::{SpecError, StackSpec};
pub use synth::{reader_policy, synth};
