//! Tags of functions (TagResource, UntagResource, ListTags). Tags belong to the function, so the
//! resource is always an unqualified function ARN.

use std::collections::BTreeMap;

use model::{FunctionRef, Scope, validate};

use crate::resolve::{self, Target};
use crate::spec::model_error;
use crate::{ControlError, ControlPlane};

impl ControlPlane {
    /// ListTags.
    pub async fn list_tags(
        &self,
        scope: &Scope,
        resource_arn: &str,
    ) -> Result<BTreeMap<String, String>, ControlError> {
        let target = tagged_function(scope, resource_arn)?;
        Ok(self.stored(scope, &target).await?.meta.tags)
    }

    /// TagResource: adds tags, replacing the values of keys already there.
    pub async fn tag_resource(
        &self,
        scope: &Scope,
        resource_arn: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        let target = tagged_function(scope, resource_arn)?;
        self.change_tags(scope, &target, |current| {
            current.extend(tags);
            validate::tags(current).map_err(ControlError::from)
        })
        .await
    }

    /// UntagResource: removes tags; keys that are not there are ignored.
    pub async fn untag_resource(
        &self,
        scope: &Scope,
        resource_arn: &str,
        keys: &[String],
    ) -> Result<(), ControlError> {
        let target = tagged_function(scope, resource_arn)?;
        self.change_tags(scope, &target, |current| {
            current.retain(|key, _| !keys.contains(key));
            Ok(())
        })
        .await
    }

    async fn change_tags(
        &self,
        scope: &Scope,
        target: &Target,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ControlError>,
    ) -> Result<(), ControlError> {
        let _write = self.inner.writes.lock().await;
        let mut meta = self.stored(scope, target).await?.meta;
        change(&mut meta.tags)?;
        self.inner
            .store
            .put_meta(&target.name, &meta)
            .await
            .map_err(|err| match err {
                store::StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
                    arn: target.arn(scope),
                },
                other => ControlError::Store(other),
            })
    }
}

/// The function a tag request names: only a full, unqualified function ARN is a taggable
/// resource.
fn tagged_function(scope: &Scope, resource_arn: &str) -> Result<Target, ControlError> {
    let is_full_arn = FunctionRef::parse(resource_arn).is_ok_and(|r| r.region.is_some());
    if !is_full_arn {
        return Err(model_error(
            "resource",
            resource_arn,
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+",
        )
        .into());
    }
    let target = resolve::target(scope, resource_arn, None)?;
    if target.qualifier.is_some() {
        return Err(validate::invalid(
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        )
        .into());
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unqualified_function_arns_take_tags() {
        let scope = Scope {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        };
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:hello";
        assert_eq!(tagged_function(&scope, arn).unwrap().name, "hello");
        for refused in ["hello", "000000000000:function:hello", &format!("{arn}:1")] {
            assert!(
                matches!(
                    tagged_function(&scope, refused),
                    Err(ControlError::Validation(_))
                ),
                "{refused}"
            );
        }
    }
}
