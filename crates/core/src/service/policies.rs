//! Resource policies: PutResourcePolicy (BlockPublicPolicy), GetResourcePolicy,
//! DeleteResourcePolicy and ValidateResourcePolicy.

use super::*;

impl Service {
    pub async fn put_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        req: PutResourcePolicyRequest,
    ) -> Result<SecretRef, ApiError> {
        let policy = req.resource_policy.unwrap_or_default();
        let doc = policy_doc::parse(&policy)?;
        let block_public = req.block_public_policy == Some(true);
        if block_public && policy_doc::is_public(&doc) {
            return Err(ApiError::new(
                ErrorCode::PublicPolicy,
                "BlockPublicPolicy parameter is set to true and resource policy is public.",
            ));
        }
        let mut keys = Context::new();
        keys.set("secretsmanager:BlockPublicPolicy", block_public.to_string());
        self.change_secret(
            caller,
            Operation::PutResourcePolicy.iam_action(),
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                record.resource_policy = Some(policy);
                Ok(())
            },
        )
        .await
    }

    pub fn get_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<GetResourcePolicyResponse, ApiError> {
        let state = self.read();
        self.authorize_id(
            caller,
            Operation::GetResourcePolicy.iam_action(),
            &state,
            region,
            secret_id,
            &Context::new(),
        )?;
        let entry = lookup(&state, region, &self.account_id, secret_id)?;
        if entry.record.is_deleted() {
            return Err(ApiError::invalid_request(DELETED_MESSAGE));
        }
        Ok(GetResourcePolicyResponse {
            arn: entry.record.arn.clone(),
            name: entry.record.name.clone(),
            resource_policy: entry.record.resource_policy.clone(),
        })
    }

    pub async fn delete_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretRef, ApiError> {
        self.change_secret(
            caller,
            Operation::DeleteResourcePolicy.iam_action(),
            &Context::new(),
            region,
            secret_id,
            |record| {
                record.resource_policy = None;
                Ok(())
            },
        )
        .await
    }

    pub fn validate_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        req: &ValidateResourcePolicyRequest,
    ) -> Result<ValidateResourcePolicyResponse, ApiError> {
        match req.secret_id.as_deref() {
            Some(id) => {
                let state = self.read();
                self.authorize_id(
                    caller,
                    Operation::ValidateResourcePolicy.iam_action(),
                    &state,
                    region,
                    id,
                    &Context::new(),
                )?;
                lookup(&state, region, &self.account_id, id)?;
            }
            None => access::authorize(
                caller,
                Operation::ValidateResourcePolicy.iam_action(),
                Target::Account,
                &Context::new(),
            )?,
        }
        let doc = policy_doc::parse(req.resource_policy.as_deref().unwrap_or_default())?;
        let errors = policy_doc::findings(&doc);
        Ok(ValidateResourcePolicyResponse {
            policy_validation_passed: errors.is_empty(),
            validation_errors: errors,
        })
    }
}
