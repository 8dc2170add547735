//! A typed model of the CloudFormation we emit: intrinsic functions, the resource types
//! the Signal9 stack uses with their properties, and the template. Serialized with serde,
//! so a property's name or shape cannot be misspelt in one place and right in another.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// A value: a literal or an intrinsic function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Expr {
    Str(String),
    Ref {
        #[serde(rename = "Ref")]
        name: String,
    },
    GetAtt {
        #[serde(rename = "Fn::GetAtt")]
        target: [String; 2],
    },
    Sub {
        #[serde(rename = "Fn::Sub")]
        template: String,
    },
}

impl Expr {
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }
    pub fn reference(name: impl Into<String>) -> Self {
        Self::Ref { name: name.into() }
    }
    pub fn get_att(resource: impl Into<String>, attribute: impl Into<String>) -> Self {
        Self::GetAtt {
            target: [resource.into(), attribute.into()],
        }
    }
    pub fn sub(template: impl Into<String>) -> Self {
        Self::Sub {
            template: template.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// An IAM policy document.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statements: Vec<Statement>) -> Self {
        Self {
            version: "2012-10-17",
            statements,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    pub action: Vec<String>,
    /// Empty in trust policies, which name no resource.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

impl Statement {
    pub fn allow(actions: &[&str], resources: Vec<Expr>) -> Self {
        Self {
            sid: None,
            effect: "Allow",
            principal: None,
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource: resources,
            condition: None,
        }
    }
    pub fn deny(actions: &[&str], resources: Vec<Expr>) -> Self {
        Self {
            effect: "Deny",
            ..Self::allow(actions, resources)
        }
    }
    pub fn sid(mut self, sid: &str) -> Self {
        self.sid = Some(sid.to_owned());
        self
    }
    pub fn principal(mut self, principal: Value) -> Self {
        self.principal = Some(principal);
        self
    }
    pub fn condition(mut self, condition: Value) -> Self {
        self.condition = Some(condition);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretProps {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationScheduleProps {
    pub secret_id: Expr,
    #[serde(rename = "RotationLambdaARN")]
    pub rotation_lambda_arn: Expr,
    pub rotation_rules: RotationRules,
    pub rotate_immediately_on_update: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourcePolicyProps {
    pub secret_id: Expr,
    pub resource_policy: Value,
    pub block_public_policy: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaCode {
    pub s3_bucket: Expr,
    pub s3_key: Expr,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaFunctionProps {
    pub description: String,
    pub runtime: &'static str,
    pub architectures: Vec<&'static str>,
    pub handler: &'static str,
    pub code: LambdaCode,
    pub role: Expr,
    pub timeout: u32,
    pub memory_size: u32,
    pub environment: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaPermissionProps {
    pub action: &'static str,
    pub function_name: Expr,
    pub principal: &'static str,
    pub source_account: Expr,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    pub policy_name: String,
    pub policy_document: PolicyDocument,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleProps {
    pub description: String,
    pub assume_role_policy_document: PolicyDocument,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_policy_arns: Vec<Expr>,
    pub policies: Vec<InlinePolicy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagedPolicyProps {
    pub description: String,
    pub policy_document: PolicyDocument,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketProps {
    pub bucket_encryption: Value,
    pub public_access_block_configuration: Value,
    pub versioning_configuration: Value,
    pub ownership_controls: Value,
    pub lifecycle_configuration: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketPolicyProps {
    pub bucket: Expr,
    pub policy_document: PolicyDocument,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroupProps {
    pub retention_in_days: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrailProps {
    pub is_logging: bool,
    pub is_multi_region_trail: bool,
    pub include_global_service_events: bool,
    pub enable_log_file_validation: bool,
    pub s3_bucket_name: Expr,
    pub cloud_watch_logs_log_group_arn: Expr,
    pub cloud_watch_logs_role_arn: Expr,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricTransformation {
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: &'static str,
    pub default_value: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricFilterProps {
    pub log_group_name: Expr,
    pub filter_pattern: String,
    pub metric_transformations: Vec<MetricTransformation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmProps {
    pub alarm_description: String,
    pub namespace: String,
    pub metric_name: String,
    pub statistic: &'static str,
    pub period: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
    pub comparison_operator: &'static str,
    pub treat_missing_data: &'static str,
    pub alarm_actions: Vec<Expr>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicProps {
    pub display_name: String,
    pub kms_master_key_id: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionProps {
    pub protocol: &'static str,
    pub endpoint: String,
    pub topic_arn: Expr,
}

/// The resource types the stack uses.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "Type", content = "Properties")]
pub enum Resource {
    #[serde(rename = "AWS::SecretsManager::Secret")]
    Secret(SecretProps),
    #[serde(rename = "AWS::SecretsManager::RotationSchedule")]
    RotationSchedule(RotationScheduleProps),
    #[serde(rename = "AWS::SecretsManager::ResourcePolicy")]
    ResourcePolicy(ResourcePolicyProps),
    #[serde(rename = "AWS::Lambda::Function")]
    Function(LambdaFunctionProps),
    #[serde(rename = "AWS::Lambda::Permission")]
    Permission(LambdaPermissionProps),
    #[serde(rename = "AWS::IAM::Role")]
    Role(RoleProps),
    #[serde(rename = "AWS::IAM::ManagedPolicy")]
    ManagedPolicy(ManagedPolicyProps),
    #[serde(rename = "AWS::S3::Bucket")]
    Bucket(BucketProps),
    #[serde(rename = "AWS::S3::BucketPolicy")]
    BucketPolicy(BucketPolicyProps),
    #[serde(rename = "AWS::Logs::LogGroup")]
    LogGroup(LogGroupProps),
    #[serde(rename = "AWS::CloudTrail::Trail")]
    Trail(TrailProps),
    #[serde(rename = "AWS::Logs::MetricFilter")]
    MetricFilter(MetricFilterProps),
    #[serde(rename = "AWS::CloudWatch::Alarm")]
    Alarm(AlarmProps),
    #[serde(rename = "AWS::SNS::Topic")]
    Topic(TopicProps),
    #[serde(rename = "AWS::SNS::Subscription")]
    Subscription(SubscriptionProps),
}

/// A resource with its ordering constraints and retention.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub resource: Resource,
    #[serde(rename = "DependsOn", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(rename = "DeletionPolicy", skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    #[serde(
        rename = "UpdateReplacePolicy",
        skip_serializing_if = "Option::is_none"
    )]
    pub update_replace_policy: Option<&'static str>,
}

impl From<Resource> for Entry {
    fn from(resource: Resource) -> Self {
        Self {
            resource,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
        }
    }
}

impl Entry {
    pub fn depends_on(mut self, ids: &[&str]) -> Self {
        self.depends_on = ids.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Kept when the stack is deleted or the resource replaced (data that must survive).
    pub fn retain(mut self) -> Self {
        self.deletion_policy = Some("Retain");
        self.update_replace_policy = Some("Retain");
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub description: String,
    pub value: Expr,
}

/// A template; maps are ordered so the output is deterministic.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    pub description: String,
    pub parameters: BTreeMap<String, Parameter>,
    pub resources: BTreeMap<String, Entry>,
    pub outputs: BTreeMap<String, Output>,
}
