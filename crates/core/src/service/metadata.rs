//! What a secret is, without its value: DescribeSecret, ListSecrets, TagResource and
//! UntagResource.

use super::*;

impl Service {
    pub fn describe_secret(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretDescription, ApiError> {
        let state = self.read();
        self.authorize_id(
            caller,
            Operation::DescribeSecret.iam_action(),
            &state,
            region,
            secret_id,
            &Context::new(),
        )?;
        let entry = lookup(&state, region, &self.account_id, secret_id)?;
        let mut d = describe(&entry.record);
        d.version_ids_to_stages = d.secret_versions_to_stages.take();
        Ok(d)
    }

    pub fn list_secrets(
        &self,
        caller: &Caller,
        region: &str,
        req: &ListSecretsRequest,
    ) -> Result<ListSecretsResponse, ApiError> {
        authorize_listing(caller)?;
        let filters = listing::Filters::parse(req.filters.as_deref().unwrap_or_default())?;
        let page = Page::new(req.next_token.as_deref(), req.max_results.unwrap_or(100))?;
        let state = self.read();
        let mut records: Vec<&SecretRecord> = state
            .regions
            .get(region)
            .map(|r| {
                r.secrets
                    .values()
                    .map(|e| &e.record)
                    .filter(|rec| {
                        (req.include_planned_deletion == Some(true) || !rec.is_deleted())
                            && filters.matches(rec)
                    })
                    .collect()
            })
            .unwrap_or_default();
        listing::sort(
            &mut records,
            req.sort_by.as_deref(),
            req.sort_order.as_deref(),
        );
        let (slice, next_token) = page.apply(&records);
        Ok(ListSecretsResponse {
            secret_list: slice.iter().map(|r| describe(r)).collect(),
            next_token,
        })
    }

    pub async fn tag_resource(
        &self,
        caller: &Caller,
        region: &str,
        req: TagResourceRequest,
    ) -> Result<(), ApiError> {
        let tags = validate_tags(req.tags.unwrap_or_default())?;
        let mut keys = Context::new();
        request_tag_keys(&mut keys, &tags);
        self.change_secret(
            caller,
            Operation::TagResource.iam_action(),
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                let list = record.tags.get_or_insert_with(Vec::new);
                for (k, v) in tags {
                    match list.iter_mut().find(|(key, _)| *key == k) {
                        Some(existing) => existing.1 = v,
                        None => list.push((k, v)),
                    }
                }
                if list.len() > MAX_TAGS {
                    return Err(too_many_tags());
                }
                Ok(())
            },
        )
        .await
        .map(drop)
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        region: &str,
        req: UntagResourceRequest,
    ) -> Result<(), ApiError> {
        let tag_keys = req.tag_keys.unwrap_or_default();
        let mut keys = Context::new();
        keys.set_all("aws:TagKeys", tag_keys.iter().cloned());
        self.change_secret(
            caller,
            Operation::UntagResource.iam_action(),
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                record
                    .tags
                    .get_or_insert_with(Vec::new)
                    .retain(|(k, _)| !tag_keys.contains(k));
                Ok(())
            },
        )
        .await
        .map(drop)
    }
}
