//! The behaviour every `EventInvokeConfigStore` shares, together with the `Store` that holds the
//! functions the configurations belong to.

use jiff::Timestamp;
use model::function::FunctionMeta;

use super::sample_config;
use crate::{EventInvokeConfig, EventInvokeConfigStore, Store, StoreError};

/// Runs every check against `configs` and the `store` of its functions, which must start empty;
/// each check leaves them empty again.
pub async fn run_event_invoke_configs(store: &dyn Store, configs: &dyn EventInvokeConfigStore) {
    put_then_get_returns_what_was_stored(store, configs).await;
    put_replaces_every_field(store, configs).await;
    put_needs_the_function(configs).await;
    list_pages_through_qualifiers_in_order(store, configs).await;
    delete_removes_one_configuration(store, configs).await;
    deleting_the_function_deletes_its_configurations(store, configs).await;
}

/// A configuration with every field set.
pub fn sample_event_invoke_config(function: &str, qualifier: &str) -> EventInvokeConfig {
    EventInvokeConfig {
        function: function.to_owned(),
        qualifier: qualifier.to_owned(),
        maximum_retry_attempts: Some(1),
        maximum_event_age_s: Some(3600),
        on_success: Some(format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{function}-ok"
        )),
        on_failure: Some(format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{function}-failed"
        )),
        last_modified: "2025-04-05T06:07:08.123456789Z"
            .parse()
            .expect("the sample timestamp is valid RFC 3339"),
    }
}

async fn create(store: &dyn Store, names: &[&str]) {
    for name in names {
        store
            .create_function(&sample_config(name), &FunctionMeta::default())
            .await
            .unwrap();
    }
}

async fn delete(store: &dyn Store, names: &[&str]) {
    for name in names {
        store.delete_function(name).await.unwrap();
    }
    let left = store.list_functions(None, usize::MAX).await.unwrap();
    assert!(left.is_empty(), "{} functions left", left.len());
}

async fn put_then_get_returns_what_was_stored(
    store: &dyn Store,
    configs: &dyn EventInvokeConfigStore,
) {
    create(store, &["cfg", "cfg-other"]).await;
    let latest = sample_event_invoke_config("cfg", "$LATEST");
    let alias = EventInvokeConfig {
        maximum_retry_attempts: Some(0),
        on_success: None,
        ..sample_event_invoke_config("cfg", "live")
    };
    configs.put_event_invoke_config(&latest).await.unwrap();
    configs.put_event_invoke_config(&alias).await.unwrap();

    let get = async |function: &str, qualifier: &str| {
        configs
            .get_event_invoke_config(function, qualifier)
            .await
            .unwrap()
    };
    assert_eq!(get("cfg", "$LATEST").await, Some(latest));
    assert_eq!(get("cfg", "live").await, Some(alias));
    assert_eq!(get("cfg", "1").await, None);
    assert_eq!(get("cfg", "LIVE").await, None, "qualifiers are exact");
    assert_eq!(get("cfg-other", "$LATEST").await, None);
    assert_eq!(get("cfg-missing", "$LATEST").await, None);

    delete(store, &["cfg", "cfg-other"]).await;
}

async fn put_replaces_every_field(store: &dyn Store, configs: &dyn EventInvokeConfigStore) {
    create(store, &["replaced"]).await;
    configs
        .put_event_invoke_config(&sample_event_invoke_config("replaced", "$LATEST"))
        .await
        .unwrap();
    let bare = EventInvokeConfig {
        function: "replaced".to_owned(),
        qualifier: "$LATEST".to_owned(),
        maximum_retry_attempts: None,
        maximum_event_age_s: None,
        on_success: None,
        on_failure: None,
        last_modified: Timestamp::from_second(1_800_000_000).unwrap(),
    };
    configs.put_event_invoke_config(&bare).await.unwrap();
    assert_eq!(
        configs
            .get_event_invoke_config("replaced", "$LATEST")
            .await
            .unwrap(),
        Some(bare),
        "fields left out of a put are removed"
    );

    delete(store, &["replaced"]).await;
}

async fn put_needs_the_function(configs: &dyn EventInvokeConfigStore) {
    let err = configs
        .put_event_invoke_config(&sample_event_invoke_config("nobody", "$LATEST"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::FunctionNotFound { name } if name == "nobody"),
        "{err:?}"
    );
    assert_eq!(
        configs
            .get_event_invoke_config("nobody", "$LATEST")
            .await
            .unwrap(),
        None
    );
}

async fn list_pages_through_qualifiers_in_order(
    store: &dyn Store,
    configs: &dyn EventInvokeConfigStore,
) {
    create(store, &["listed", "listed-not"]).await;
    // Byte order: '$' before digits before letters, "10" before "2".
    let sorted = ["$LATEST", "1", "10", "2", "live"];
    for qualifier in ["live", "2", "$LATEST", "10", "1"] {
        configs
            .put_event_invoke_config(&sample_event_invoke_config("listed", qualifier))
            .await
            .unwrap();
    }
    configs
        .put_event_invoke_config(&sample_event_invoke_config("listed-not", "3"))
        .await
        .unwrap();

    let check = async |after: Option<&str>, limit: usize, expect: &[&str]| {
        let page = configs
            .list_event_invoke_configs("listed", after, limit)
            .await
            .unwrap();
        let qualifiers: Vec<&str> = page.iter().map(|c| c.qualifier.as_str()).collect();
        assert_eq!(qualifiers, expect, "after {after:?}, limit {limit}");
        for config in &page {
            assert_eq!(
                *config,
                sample_event_invoke_config("listed", &config.qualifier)
            );
        }
    };
    check(None, usize::MAX, &sorted).await;
    check(None, 0, &[]).await;
    check(None, 2, &["$LATEST", "1"]).await;
    check(Some("1"), 2, &["10", "2"]).await;
    check(Some("2"), 10, &["live"]).await;
    check(Some("live"), 10, &[]).await;
    let none = configs
        .list_event_invoke_configs("listed-missing", None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());

    delete(store, &["listed", "listed-not"]).await;
}

async fn delete_removes_one_configuration(store: &dyn Store, configs: &dyn EventInvokeConfigStore) {
    create(store, &["pruned"]).await;
    for qualifier in ["$LATEST", "live"] {
        configs
            .put_event_invoke_config(&sample_event_invoke_config("pruned", qualifier))
            .await
            .unwrap();
    }
    configs
        .delete_event_invoke_config("pruned", "live")
        .await
        .unwrap();
    assert_eq!(
        configs
            .get_event_invoke_config("pruned", "live")
            .await
            .unwrap(),
        None
    );
    assert!(
        configs
            .get_event_invoke_config("pruned", "$LATEST")
            .await
            .unwrap()
            .is_some()
    );
    let err = configs
        .delete_event_invoke_config("pruned", "live")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::EventInvokeConfigNotFound { name, qualifier }
                if name == "pruned" && qualifier == "live"
        ),
        "{err:?}"
    );

    delete(store, &["pruned"]).await;
}

async fn deleting_the_function_deletes_its_configurations(
    store: &dyn Store,
    configs: &dyn EventInvokeConfigStore,
) {
    create(store, &["reborn"]).await;
    configs
        .put_event_invoke_config(&sample_event_invoke_config("reborn", "$LATEST"))
        .await
        .unwrap();
    delete(store, &["reborn"]).await;

    // A new function of the same name starts without the old one's settings.
    create(store, &["reborn"]).await;
    assert_eq!(
        configs
            .get_event_invoke_config("reborn", "$LATEST")
            .await
            .unwrap(),
        None
    );
    let listed = configs
        .list_event_invoke_configs("reborn", None, 10)
        .await
        .unwrap();
    assert!(listed.is_empty());

    delete(store, &["reborn"]).await;
}
