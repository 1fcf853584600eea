//! The event invoke configuration operations (Put, Update, Get, Delete and
//! ListFunctionEventInvokeConfigs): how often and how long the asynchronous invocations of a
//! function, version or alias are retried, and where their invocation records go.
//!
//! A destination is a Lambda function ARN today: flint runs it as an asynchronous invocation with
//! the record as its event. Queue, topic, event bus and bucket destinations are refused with a
//! message that says so, rather than accepted and never delivered.

use model::function::LATEST;
use model::{FunctionRef, Scope, ValidationError, validate};
use store::{EventInvokeConfig, StoreError};

use crate::marker;
use crate::resolve::{self, Target};
use crate::spec::model_error;
use crate::{ControlError, ControlPlane};

/// `MaximumRetryAttempts` range.
const RETRY_ATTEMPTS: (i64, i64) = (0, 2);
/// `MaximumEventAgeInSeconds` range.
const EVENT_AGE_S: (i64, i64) = (60, 21_600);
/// Most configurations a ListFunctionEventInvokeConfigs page holds (its `MaxItems` range).
const PAGE_MAX: i64 = 50;
/// Longest destination ARN.
const DESTINATION_MAX: usize = 350;
/// Lambda's pattern for a destination, quoted in its validation message.
const DESTINATION_PATTERN: &str = "Member must satisfy regular expression pattern: ^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";

const NOTHING_TO_SET: &str =
    "You must specify at least one of error handling or destination setting.";
const SELF_DESTINATION: &str = "You can't specify the function as a destination for itself.";

/// A PutFunctionEventInvokeConfig or UpdateFunctionEventInvokeConfig request.
#[derive(Debug, Clone, Default)]
pub struct EventInvokeConfigInput {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_s: Option<i64>,
    /// `DestinationConfig`, when the request has one.
    pub destinations: Option<DestinationsInput>,
}

/// `DestinationConfig`: the ARNs of `OnSuccess.Destination` and `OnFailure.Destination`. An
/// empty ARN is no destination.
#[derive(Debug, Clone, Default)]
pub struct DestinationsInput {
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

/// One page of ListFunctionEventInvokeConfigs.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInvokeConfigPage {
    pub configs: Vec<EventInvokeConfig>,
    pub next_marker: Option<String>,
}

impl ControlPlane {
    /// PutFunctionEventInvokeConfig: replaces the configuration; what the request leaves out
    /// takes Lambda's default.
    pub async fn put_event_invoke_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: EventInvokeConfigInput,
    ) -> Result<EventInvokeConfig, ControlError> {
        let target = self.configurable(scope, function_name, qualifier).await?;
        let checked = self.checked(scope, &target, input).await?;
        let config = EventInvokeConfig {
            function: target.name.clone(),
            qualifier: qualifier_key(&target),
            maximum_retry_attempts: checked.maximum_retry_attempts,
            maximum_event_age_s: checked.maximum_event_age_s,
            on_success: checked.destinations.as_ref().and_then(|d| d.0.clone()),
            on_failure: checked.destinations.and_then(|d| d.1),
            last_modified: self.inner.clock.now(),
        };
        let _write = self.inner.writes.lock().await;
        self.store_config(scope, &target, &config).await?;
        Ok(config)
    }

    /// UpdateFunctionEventInvokeConfig: changes what the request sets and keeps the rest; a
    /// `DestinationConfig` replaces both destinations.
    pub async fn update_event_invoke_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: EventInvokeConfigInput,
    ) -> Result<EventInvokeConfig, ControlError> {
        let target = self.configurable(scope, function_name, qualifier).await?;
        let checked = self.checked(scope, &target, input).await?;
        let _write = self.inner.writes.lock().await;
        let mut config = self.stored_config(scope, &target).await?;
        if let Some(attempts) = checked.maximum_retry_attempts {
            config.maximum_retry_attempts = Some(attempts);
        }
        if let Some(age) = checked.maximum_event_age_s {
            config.maximum_event_age_s = Some(age);
        }
        if let Some((on_success, on_failure)) = checked.destinations {
            config.on_success = on_success;
            config.on_failure = on_failure;
        }
        config.last_modified = self.inner.clock.now();
        self.store_config(scope, &target, &config).await?;
        Ok(config)
    }

    /// GetFunctionEventInvokeConfig.
    pub async fn get_event_invoke_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<EventInvokeConfig, ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        self.stored_config(scope, &target).await
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let _write = self.inner.writes.lock().await;
        self.inner
            .event_configs
            .delete_event_invoke_config(&target.name, &qualifier_key(&target))
            .await
            .map_err(|error| config_error(error, scope, &target))
    }

    /// ListFunctionEventInvokeConfigs: the configurations of every qualifier of a function, by
    /// qualifier, at most 50 a page.
    pub async fn list_event_invoke_configs(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<EventInvokeConfigPage, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let limit = page_size(max_items)?;
        let after = marker.map(decode_marker).transpose()?;
        self.stored(scope, &target).await?;
        let mut configs = self
            .inner
            .event_configs
            .list_event_invoke_configs(&target.name, after.as_deref(), limit + 1)
            .await
            .map_err(ControlError::Store)?;
        let next_marker = marker::next_page(&mut configs, limit, |c| c.qualifier.clone());
        Ok(EventInvokeConfigPage {
            configs,
            next_marker,
        })
    }

    /// Removes the configuration of a deleted version or alias, so a version or alias created
    /// later under the same name starts without it.
    pub(crate) async fn forget_event_invoke_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<(), ControlError> {
        match self
            .inner
            .event_configs
            .delete_event_invoke_config(function, qualifier)
            .await
        {
            Ok(()) | Err(StoreError::EventInvokeConfigNotFound { .. }) => Ok(()),
            Err(other) => Err(ControlError::Store(other)),
        }
    }

    /// The target of a Put or Update: the function and the version or alias must exist.
    async fn configurable(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<Target, ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let function = Target {
            name: target.name.clone(),
            qualifier: None,
        };
        let latest = self.stored(scope, &function).await?.latest;
        self.configuration_of(scope, &target, latest).await?;
        Ok(target)
    }

    /// Checks the limits and destinations of a request.
    async fn checked(
        &self,
        scope: &Scope,
        target: &Target,
        input: EventInvokeConfigInput,
    ) -> Result<Checked, ControlError> {
        if input.maximum_retry_attempts.is_none()
            && input.maximum_event_age_s.is_none()
            && input.destinations.is_none()
        {
            return Err(validate::invalid(NOTHING_TO_SET).into());
        }
        let maximum_retry_attempts = input
            .maximum_retry_attempts
            .map(|n| in_range("maximumRetryAttempts", n, RETRY_ATTEMPTS))
            .transpose()?;
        let maximum_event_age_s = input
            .maximum_event_age_s
            .map(|n| in_range("maximumEventAgeInSeconds", n, EVENT_AGE_S))
            .transpose()?;
        let destinations = match input.destinations {
            None => None,
            Some(destinations) => {
                let on_success = self
                    .destination(
                        scope,
                        target,
                        "destinationConfig.onSuccess.destination",
                        destinations.on_success,
                    )
                    .await?;
                let on_failure = self
                    .destination(
                        scope,
                        target,
                        "destinationConfig.onFailure.destination",
                        destinations.on_failure,
                    )
                    .await?;
                Some((on_success, on_failure))
            }
        };
        Ok(Checked {
            maximum_retry_attempts,
            maximum_event_age_s,
            destinations,
        })
    }

    /// Checks one destination ARN: `None` for none, the ARN of a function of this account that
    /// exists and is not the configured function itself otherwise.
    async fn destination(
        &self,
        scope: &Scope,
        target: &Target,
        field: &str,
        arn: Option<String>,
    ) -> Result<Option<String>, ControlError> {
        let Some(arn) = arn.filter(|arn| !arn.is_empty()) else {
            return Ok(None);
        };
        let service = destination_service(field, &arn)?;
        if service != "lambda" {
            return Err(ControlError::unsupported(unsupported_destination(&arn)));
        }
        let invalid = || validate::invalid(format!("The destination ARN {arn} is invalid."));
        let function = FunctionRef::parse(&arn)
            .ok()
            .filter(|f| f.region.is_some() && f.account.as_deref() == Some(scope.account.as_str()))
            .ok_or_else(invalid)?;
        if function.name == target.name {
            return Err(validate::invalid(SELF_DESTINATION).into());
        }
        let destination = Target {
            name: function.name,
            qualifier: None,
        };
        match self.stored(scope, &destination).await {
            Ok(_) => Ok(Some(arn)),
            Err(ControlError::FunctionNotFound { .. }) => Err(invalid().into()),
            Err(other) => Err(other),
        }
    }

    async fn stored_config(
        &self,
        scope: &Scope,
        target: &Target,
    ) -> Result<EventInvokeConfig, ControlError> {
        self.inner
            .event_configs
            .get_event_invoke_config(&target.name, &qualifier_key(target))
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::EventInvokeConfigNotFound {
                arn: qualified_arn(scope, target),
            })
    }

    async fn store_config(
        &self,
        scope: &Scope,
        target: &Target,
        config: &EventInvokeConfig,
    ) -> Result<(), ControlError> {
        self.inner
            .event_configs
            .put_event_invoke_config(config)
            .await
            .map_err(|error| config_error(error, scope, target))?;
        tracing::info!(
            function = %config.function,
            qualifier = %config.qualifier,
            "stored event invoke config"
        );
        Ok(())
    }
}

/// A request's settings, checked.
struct Checked {
    maximum_retry_attempts: Option<u32>,
    maximum_event_age_s: Option<u32>,
    /// `(OnSuccess, OnFailure)` when the request has a `DestinationConfig`.
    destinations: Option<(Option<String>, Option<String>)>,
}

/// The qualifier a configuration is kept under: `$LATEST` for a request without one.
fn qualifier_key(target: &Target) -> String {
    target
        .qualifier
        .clone()
        .unwrap_or_else(|| LATEST.to_owned())
}

/// The ARN a configuration answers with: always qualified.
fn qualified_arn(scope: &Scope, target: &Target) -> String {
    scope.qualified_arn(&target.name, &qualifier_key(target))
}

fn config_error(error: StoreError, scope: &Scope, target: &Target) -> ControlError {
    match error {
        StoreError::EventInvokeConfigNotFound { .. } => ControlError::EventInvokeConfigNotFound {
            arn: qualified_arn(scope, target),
        },
        StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
            arn: target.arn(scope),
        },
        other => ControlError::Store(other),
    }
}

fn in_range(field: &str, value: i64, (min, max): (i64, i64)) -> Result<u32, ValidationError> {
    match u32::try_from(value) {
        Ok(n) if (min..=max).contains(&value) => Ok(n),
        _ => {
            let constraint = if value < min {
                format!("Member must have value greater than or equal to {min}")
            } else {
                format!("Member must have value less than or equal to {max}")
            };
            Err(model_error(field, &value.to_string(), &constraint))
        }
    }
}

/// The service of a destination ARN (`lambda`, `sqs`, ...), after Lambda's pattern check.
fn destination_service<'a>(field: &str, arn: &'a str) -> Result<&'a str, ValidationError> {
    let malformed = || model_error(field, arn, DESTINATION_PATTERN);
    if arn.len() > DESTINATION_MAX {
        return Err(model_error(
            field,
            arn,
            &format!("Member must have length less than or equal to {DESTINATION_MAX}"),
        ));
    }
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(_)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    let word = |text: &str| text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let well_formed = partition.starts_with("aws")
        && word(partition)
        && !service.is_empty()
        && word(service)
        && (region.is_empty() || is_region(region))
        && (account.is_empty()
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())));
    if well_formed {
        Ok(service)
    } else {
        Err(malformed())
    }
}

/// `[a-z]{2}(-gov)?-[a-z]+-\d`
fn is_region(region: &str) -> bool {
    let mut parts: Vec<&str> = region.split('-').collect();
    if parts.len() == 4 && parts[1] == "gov" {
        parts.remove(1);
    }
    let lower = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase());
    matches!(parts.as_slice(), [area, place, number]
        if area.len() == 2 && lower(area) && lower(place)
            && number.len() == 1 && number.bytes().all(|b| b.is_ascii_digit()))
}

fn unsupported_destination(arn: &str) -> String {
    format!(
        "The destination {arn} is not supported: flint delivers invocation records to Lambda \
         functions only (arn:aws:lambda:<region>:<account>:function:<name>); SQS queue, SNS \
         topic, EventBridge bus and S3 bucket destinations are not available yet."
    )
}

fn page_size(max_items: Option<i64>) -> Result<usize, ValidationError> {
    let n = max_items.unwrap_or(PAGE_MAX);
    Ok(in_range("maxItems", n, (1, PAGE_MAX))? as usize)
}

/// The qualifier a marker continues after.
fn decode_marker(marker: &str) -> Result<String, ValidationError> {
    marker::decode_key(marker, model::arn::is_qualifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_service(arn: &str, expect: Option<&str>) {
        let got = destination_service("destinationConfig.onFailure.destination", arn);
        match (got, expect) {
            (Ok(service), Some(want)) => assert_eq!(service, want, "{arn}"),
            (Err(error), None) => {
                assert!(error.message.contains("onFailure"), "{}", error.message);
            }
            (got, expect) => panic!("{arn}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn destinations_follow_lambdas_pattern() {
        check_service(
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            Some("lambda"),
        );
        check_service(
            "arn:aws:lambda:us-east-1:000000000000:function:f:live",
            Some("lambda"),
        );
        check_service("arn:aws:sqs:eu-west-1:123456789012:queue", Some("sqs"));
        check_service("arn:aws:sns:us-gov-west-1:123456789012:t", Some("sns"));
        check_service(
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            Some("events"),
        );
        check_service("arn:aws:s3:::bucket", Some("s3"));
        check_service("arn:aws-cn:sqs:cn-north-1:123456789012:q", Some("sqs"));
        check_service("not-an-arn", None);
        check_service("arn:aws:sqs:nowhere:123456789012:q", None);
        check_service("arn:aws:sqs:us-east-1:1234:q", None);
        check_service("arn:gcp:sqs:us-east-1:123456789012:q", None);
        check_service("arn:aws:lambda:us-east-1:000000000000", None);
        check_service(&format!("arn:aws:sqs:::{}", "q".repeat(400)), None);
    }

    #[test]
    fn limits_are_checked_with_lambdas_wording() {
        assert_eq!(
            in_range("maximumRetryAttempts", 2, RETRY_ATTEMPTS).unwrap(),
            2
        );
        assert_eq!(
            in_range("maximumEventAgeInSeconds", 60, EVENT_AGE_S).unwrap(),
            60
        );
        let high = in_range("maximumRetryAttempts", 3, RETRY_ATTEMPTS).unwrap_err();
        assert_eq!(
            high.message,
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"
        );
        let low = in_range("maximumEventAgeInSeconds", 59, EVENT_AGE_S).unwrap_err();
        assert!(
            low.message
                .ends_with("Member must have value greater than or equal to 60"),
            "{}",
            low.message
        );
        assert!(in_range("maximumRetryAttempts", -1, RETRY_ATTEMPTS).is_err());
    }

    #[test]
    fn pages_hold_one_to_fifty() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(7)).unwrap(), 7);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(51)).is_err());
    }

    #[test]
    fn markers_name_a_qualifier() {
        for qualifier in ["$LATEST", "3", "live"] {
            let marker = marker::encode(qualifier);
            assert_eq!(decode_marker(&marker).unwrap(), qualifier);
        }
        assert!(decode_marker("!!").is_err());
        assert!(decode_marker(&marker::encode("a b")).is_err());
    }

    #[test]
    fn unsupported_destinations_say_what_works() {
        let message = unsupported_destination("arn:aws:sqs:us-east-1:000000000000:q");
        assert!(message.contains("Lambda functions only"), "{message}");
        assert!(message.contains("SQS"), "{message}");
    }
}
