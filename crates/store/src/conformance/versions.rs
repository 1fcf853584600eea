//! The behaviour every `Store` shares for published versions, aliases and concurrency settings.

use jiff::Timestamp;
use model::FunctionConfig;
use model::alias::{AdditionalVersion, Alias};
use model::concurrency::ProvisionedConcurrency;
use model::function::{FunctionMeta, LATEST};

use super::{sample_code, sample_config};
use crate::{Publication, PublishRequest, Store, StoreError};

/// Runs every check against `store`, which must start empty; each check leaves it empty again.
pub async fn run_versions(store: &dyn Store) {
    publishing_numbers_versions_and_skips_an_unchanged_latest(store).await;
    publishing_checks_the_latest_revision(store).await;
    version_numbers_are_never_reused(store).await;
    versions_list_in_numeric_order_after_a_number(store).await;
    a_version_an_alias_uses_cannot_be_deleted(store).await;
    aliases_need_their_function_and_versions(store).await;
    alias_updates_check_the_expected_revision(store).await;
    aliases_list_by_name_and_filter_by_version(store).await;
    concurrency_settings_are_kept_per_function_and_qualifier(store).await;
    deleting_the_function_deletes_everything_of_it(store).await;
}

fn now() -> Timestamp {
    "2025-06-07T08:09:10.111Z"
        .parse()
        .expect("the sample timestamp is valid RFC 3339")
}

fn publish_request(function: &str, latest_revision: &str, revision: &str) -> PublishRequest {
    PublishRequest {
        function: function.to_owned(),
        latest_revision: latest_revision.to_owned(),
        description: None,
        revision_id: revision.to_owned(),
        now: now(),
    }
}

/// Creates `name` and publishes it `count` times, changing `$LATEST` in between; returns the
/// published configurations.
async fn with_versions(store: &dyn Store, name: &str, count: u64) -> Vec<FunctionConfig> {
    store
        .create_function(&sample_config(name), &FunctionMeta::default())
        .await
        .unwrap();
    let mut published = Vec::new();
    for n in 1..=count {
        let revision = format!("rev-{n}");
        if n > 1 {
            let changed = FunctionConfig {
                revision_id: revision.clone(),
                code: sample_code(&format!("{name} {n}"), n),
                ..sample_config(name)
            };
            store.update_latest(&changed, None).await.unwrap();
        }
        let request = publish_request(name, &revision, &format!("{name}-v{n}"));
        match store.publish_version(&request).await.unwrap() {
            Publication::Published(config) => published.push(config),
            Publication::Unchanged(config) => panic!("version {n} was not new: {config:?}"),
        }
    }
    published
}

fn alias(function: &str, name: &str, version: &str, additional: Option<&str>) -> Alias {
    Alias {
        function: function.to_owned(),
        name: name.to_owned(),
        function_version: version.to_owned(),
        description: format!("{name} of {function}"),
        additional_version: additional.map(|version| AdditionalVersion {
            version: version.to_owned(),
            weight: 0.25,
        }),
        revision_id: format!("{name}-rev-1"),
    }
}

async fn publishing_numbers_versions_and_skips_an_unchanged_latest(store: &dyn Store) {
    let published = with_versions(store, "numbered", 2).await;
    let one = &published[0];
    assert_eq!(one.version, "1");
    assert_eq!(one.revision_id, "numbered-v1");
    assert_eq!(one.last_modified, now());
    assert_eq!(one.code, sample_config("numbered").code);
    assert_eq!(published[1].version, "2");

    // `$LATEST` is still at the revision version 2 was published from.
    let again = store
        .publish_version(&PublishRequest {
            description: Some("ignored".to_owned()),
            ..publish_request("numbered", "rev-2", "unused")
        })
        .await
        .unwrap();
    assert_eq!(again, Publication::Unchanged(published[1].clone()));

    // A description given at publish time overrides the function's.
    let changed = FunctionConfig {
        revision_id: "rev-3".to_owned(),
        ..sample_config("numbered")
    };
    store.update_latest(&changed, None).await.unwrap();
    let three = store
        .publish_version(&PublishRequest {
            description: Some("release three".to_owned()),
            ..publish_request("numbered", "rev-3", "numbered-v3")
        })
        .await
        .unwrap()
        .into_config();
    assert_eq!(three.version, "3");
    assert_eq!(three.description, "release three");

    assert_eq!(
        store.get_version("numbered", "1").await.unwrap().as_ref(),
        Some(one)
    );
    assert_eq!(
        store.get_version("numbered", LATEST).await.unwrap(),
        Some(changed)
    );
    assert_eq!(store.get_version("numbered", "9").await.unwrap(), None);
    assert_eq!(store.get_version("nobody", "1").await.unwrap(), None);
    super::delete_all(store, &["numbered"]).await;
}

async fn publishing_checks_the_latest_revision(store: &dyn Store) {
    store
        .create_function(&sample_config("guarded"), &FunctionMeta::default())
        .await
        .unwrap();
    let err = store
        .publish_version(&publish_request("guarded", "rev-old", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::RevisionMismatch { expected, actual, .. }
            if expected == "rev-old" && actual == "rev-1"),
        "{err:?}"
    );
    assert!(
        store
            .list_versions("guarded", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let err = store
        .publish_version(&publish_request("missing", "rev-1", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FunctionNotFound { .. }),
        "{err:?}"
    );
    super::delete_all(store, &["guarded"]).await;
}

async fn version_numbers_are_never_reused(store: &dyn Store) {
    with_versions(store, "counted", 2).await;
    assert!(store.delete_version("counted", "2").await.unwrap());
    assert!(!store.delete_version("counted", "2").await.unwrap());
    // `$LATEST` is unchanged since version 2, but version 2 is gone: a new number is taken.
    let next = store
        .publish_version(&publish_request("counted", "rev-2", "counted-v3"))
        .await
        .unwrap();
    assert!(
        matches!(&next, Publication::Published(config) if config.version == "3"),
        "{next:?}"
    );
    // `$LATEST` itself is never deleted as a version.
    assert!(!store.delete_version("counted", LATEST).await.unwrap());
    assert!(
        store
            .get_version("counted", LATEST)
            .await
            .unwrap()
            .is_some()
    );
    super::delete_all(store, &["counted"]).await;
}

async fn versions_list_in_numeric_order_after_a_number(store: &dyn Store) {
    with_versions(store, "many", 11).await;
    let numbers = |configs: Vec<FunctionConfig>| -> Vec<String> {
        configs.into_iter().map(|c| c.version).collect()
    };
    let all = numbers(store.list_versions("many", None, 100).await.unwrap());
    let expected: Vec<String> = (1..=11).map(|n| n.to_string()).collect();
    assert_eq!(all, expected);
    let page = numbers(store.list_versions("many", Some(8), 2).await.unwrap());
    assert_eq!(page, ["9", "10"]);
    let last = numbers(store.list_versions("many", Some(10), 2).await.unwrap());
    assert_eq!(last, ["11"]);
    assert!(
        store
            .list_versions("nobody", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    super::delete_all(store, &["many"]).await;
}

async fn a_version_an_alias_uses_cannot_be_deleted(store: &dyn Store) {
    with_versions(store, "aliased", 3).await;
    store
        .create_alias(&alias("aliased", "live", "1", Some("2")))
        .await
        .unwrap();
    store
        .create_alias(&alias("aliased", "beta", "2", None))
        .await
        .unwrap();
    store
        .put_provisioned_concurrency(&provisioned("aliased", "3", 2))
        .await
        .unwrap();
    for (version, users) in [("1", vec!["live"]), ("2", vec!["beta", "live"])] {
        let err = store.delete_version("aliased", version).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::VersionInUse { aliases, .. } if *aliases == users),
            "{err:?}"
        );
    }
    assert!(store.delete_version("aliased", "3").await.unwrap());
    assert!(
        store
            .list_provisioned_concurrency(Some("aliased"))
            .await
            .unwrap()
            .is_empty(),
        "a deleted version's provisioned concurrency goes with it"
    );
    super::delete_all(store, &["aliased"]).await;
}

async fn aliases_need_their_function_and_versions(store: &dyn Store) {
    let err = store
        .create_alias(&alias("nobody", "live", "1", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FunctionNotFound { .. }),
        "{err:?}"
    );
    with_versions(store, "pointed", 1).await;
    for (version, additional, missing) in [("4", None, "4"), ("1", Some("5"), "5")] {
        let err = store
            .create_alias(&alias("pointed", "live", version, additional))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::VersionNotFound { version, .. } if version == missing),
            "{err:?}"
        );
    }
    let live = alias("pointed", "live", "1", None);
    store.create_alias(&live).await.unwrap();
    let latest = alias("pointed", "edge", LATEST, None);
    store.create_alias(&latest).await.unwrap();
    let err = store
        .create_alias(&alias("pointed", "live", LATEST, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AliasExists { .. }), "{err:?}");
    assert_eq!(
        store.get_alias("pointed", "live").await.unwrap(),
        Some(live)
    );
    assert_eq!(store.get_alias("pointed", "dead").await.unwrap(), None);

    store
        .put_provisioned_concurrency(&provisioned("pointed", "live", 1))
        .await
        .unwrap();
    store.delete_alias("pointed", "live").await.unwrap();
    assert_eq!(store.get_alias("pointed", "live").await.unwrap(), None);
    assert!(
        store
            .list_provisioned_concurrency(Some("pointed"))
            .await
            .unwrap()
            .is_empty(),
        "a deleted alias's provisioned concurrency goes with it"
    );
    let err = store.delete_alias("pointed", "live").await.unwrap_err();
    assert!(matches!(err, StoreError::AliasNotFound { .. }), "{err:?}");
    super::delete_all(store, &["pointed"]).await;
}

async fn alias_updates_check_the_expected_revision(store: &dyn Store) {
    with_versions(store, "moved", 2).await;
    let live = alias("moved", "live", "1", None);
    store.create_alias(&live).await.unwrap();
    let moved = Alias {
        function_version: "2".to_owned(),
        revision_id: "live-rev-2".to_owned(),
        ..live.clone()
    };
    let err = store
        .update_alias(&moved, Some("live-rev-0"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AliasRevisionMismatch { actual, .. } if actual == "live-rev-1"),
        "{err:?}"
    );
    store
        .update_alias(&moved, Some("live-rev-1"))
        .await
        .unwrap();
    assert_eq!(
        store.get_alias("moved", "live").await.unwrap(),
        Some(moved.clone())
    );
    let nowhere = Alias {
        function_version: "7".to_owned(),
        ..moved.clone()
    };
    let err = store.update_alias(&nowhere, None).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionNotFound { .. }), "{err:?}");
    let ghost = alias("moved", "ghost", "1", None);
    let err = store.update_alias(&ghost, None).await.unwrap_err();
    assert!(matches!(err, StoreError::AliasNotFound { .. }), "{err:?}");
    // The alias now uses version 2, so version 1 can go.
    assert!(store.delete_version("moved", "1").await.unwrap());
    super::delete_all(store, &["moved"]).await;
}

async fn aliases_list_by_name_and_filter_by_version(store: &dyn Store) {
    with_versions(store, "listed", 2).await;
    for (name, version) in [("c", "2"), ("a", "1"), ("d", "1"), ("b", "2")] {
        store
            .create_alias(&alias("listed", name, version, None))
            .await
            .unwrap();
    }
    let names =
        |aliases: Vec<Alias>| -> Vec<String> { aliases.into_iter().map(|a| a.name).collect() };
    let all = names(store.list_aliases("listed", None, None, 10).await.unwrap());
    assert_eq!(all, ["a", "b", "c", "d"]);
    let page = names(
        store
            .list_aliases("listed", None, Some("a"), 2)
            .await
            .unwrap(),
    );
    assert_eq!(page, ["b", "c"]);
    let of_one = names(
        store
            .list_aliases("listed", Some("1"), None, 10)
            .await
            .unwrap(),
    );
    assert_eq!(of_one, ["a", "d"]);
    let none = store
        .list_aliases("listed", Some(LATEST), None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    super::delete_all(store, &["listed"]).await;
}

fn provisioned(function: &str, qualifier: &str, requested: u32) -> ProvisionedConcurrency {
    ProvisionedConcurrency {
        function: function.to_owned(),
        qualifier: qualifier.to_owned(),
        requested,
        last_modified: now(),
    }
}

async fn concurrency_settings_are_kept_per_function_and_qualifier(store: &dyn Store) {
    let err = store
        .put_reserved_concurrency("nobody", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FunctionNotFound { .. }),
        "{err:?}"
    );
    let err = store
        .put_provisioned_concurrency(&provisioned("nobody", "1", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FunctionNotFound { .. }),
        "{err:?}"
    );

    with_versions(store, "limited", 2).await;
    with_versions(store, "free", 1).await;
    store.put_reserved_concurrency("limited", 5).await.unwrap();
    store.put_reserved_concurrency("free", 0).await.unwrap();
    store.put_reserved_concurrency("limited", 7).await.unwrap();
    assert_eq!(
        store.list_reserved_concurrency().await.unwrap(),
        [("free".to_owned(), 0), ("limited".to_owned(), 7)]
    );
    store.delete_reserved_concurrency("free").await.unwrap();
    store.delete_reserved_concurrency("free").await.unwrap();
    assert_eq!(
        store.list_reserved_concurrency().await.unwrap(),
        [("limited".to_owned(), 7)]
    );

    store
        .put_provisioned_concurrency(&provisioned("limited", "2", 3))
        .await
        .unwrap();
    store
        .put_provisioned_concurrency(&provisioned("limited", "1", 1))
        .await
        .unwrap();
    store
        .put_provisioned_concurrency(&provisioned("free", "1", 2))
        .await
        .unwrap();
    store
        .put_provisioned_concurrency(&provisioned("limited", "2", 4))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_provisioned_concurrency(Some("limited"))
            .await
            .unwrap(),
        [
            provisioned("limited", "1", 1),
            provisioned("limited", "2", 4)
        ]
    );
    assert_eq!(
        store
            .list_provisioned_concurrency(None)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        store
            .delete_provisioned_concurrency("limited", "1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_provisioned_concurrency("limited", "1")
            .await
            .unwrap()
    );
    super::delete_all(store, &["free", "limited"]).await;
}

async fn deleting_the_function_deletes_everything_of_it(store: &dyn Store) {
    with_versions(store, "doomed", 2).await;
    store
        .create_alias(&alias("doomed", "live", "1", Some("2")))
        .await
        .unwrap();
    store.put_reserved_concurrency("doomed", 4).await.unwrap();
    store
        .put_provisioned_concurrency(&provisioned("doomed", "live", 1))
        .await
        .unwrap();
    store.delete_function("doomed").await.unwrap();
    assert_eq!(store.get_version("doomed", "1").await.unwrap(), None);
    assert!(store.list_reserved_concurrency().await.unwrap().is_empty());
    assert!(
        store
            .list_provisioned_concurrency(None)
            .await
            .unwrap()
            .is_empty()
    );

    // A function created again under the name starts from version 1, without aliases.
    store
        .create_function(&sample_config("doomed"), &FunctionMeta::default())
        .await
        .unwrap();
    assert_eq!(store.get_alias("doomed", "live").await.unwrap(), None);
    let first = store
        .publish_version(&publish_request("doomed", "rev-1", "again"))
        .await
        .unwrap()
        .into_config();
    assert_eq!(first.version, "1");
    super::delete_all(store, &["doomed"]).await;
}
