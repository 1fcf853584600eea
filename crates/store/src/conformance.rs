//! The behaviour every `Store` implementation shares, as one suite each backend runs.
//!
//! It is compiled for this crate's own tests and, with the `conformance` feature, for other
//! crates: a backend that lives elsewhere (a PostgreSQL store needing a server, say) lists
//! `store = { workspace = true, features = ["conformance"] }` under its dev-dependencies and calls
//! `run_all`, `run_event_queue` and `run_event_invoke_configs` from its tests. The suites only talk
//! to the traits, so they cannot lean on anything SQLite does. They panic on the first difference,
//! like any test.

mod event_invoke_configs;
mod event_queue;
mod layers;
mod versions;

use model::function::{FunctionMeta, FunctionState, LATEST};
use model::runtime::ProvidedFlavour;
use model::{CodeRef, FunctionConfig, Runtime};

use crate::{Store, StoreError, Usage};

pub use event_invoke_configs::{run_event_invoke_configs, sample_event_invoke_config};
pub use event_queue::{run_event_queue, sample_event};
pub use layers::{run_layers, sample_layer};
pub use versions::run_versions;

/// Runs every check against `store`, which must start empty; each check leaves it empty again.
pub async fn run_all(store: &dyn Store) {
    assert_empty(store).await;
    create_then_get_returns_what_was_stored(store).await;
    create_refuses_a_taken_name(store).await;
    create_and_update_refuse_a_config_that_is_not_latest(store).await;
    list_pages_through_functions_in_name_order(store).await;
    update_latest_replaces_the_configuration(store).await;
    update_latest_checks_the_expected_revision(store).await;
    writes_to_a_missing_function_fail(store).await;
    put_meta_replaces_the_metadata_only(store).await;
    delete_removes_the_function_and_frees_its_name(store).await;
    usage_counts_functions_and_sums_code_sizes(store).await;
    referenced_code_lists_each_digest_once(store).await;
}

/// A `$LATEST` configuration with every field set, code derived from `name`, at revision `rev-1`.
pub fn sample_config(name: &str) -> FunctionConfig {
    FunctionConfig {
        name: name.to_owned(),
        version: LATEST.to_owned(),
        runtime: Runtime::Provided(ProvidedFlavour::Al2023),
        role: "arn:aws:iam::123456789012:role/flint-test".to_owned(),
        handler: "bootstrap".to_owned(),
        description: format!("{name} under test"),
        timeout_s: 3,
        memory_mb: 128,
        ephemeral_storage_mb: 512,
        environment: [("MODE".to_owned(), "test".to_owned())].into(),
        architectures: vec!["x86_64".to_owned()],
        tracing_mode: "PassThrough".to_owned(),
        code: sample_code(name, 1024),
        last_modified: "2025-01-02T03:04:05.678Z"
            .parse()
            .expect("the sample timestamp is valid RFC 3339"),
        revision_id: "rev-1".to_owned(),
        layers: Vec::new(),
        state: FunctionState::Active,
    }
}

/// A code reference whose digest is the SHA-256 of `seed`, so equal seeds share code.
pub fn sample_code(seed: &str, size: u64) -> CodeRef {
    CodeRef {
        sha256_hex: package::sha256_hex(seed.as_bytes()),
        size,
        unzipped_size: size * 3,
    }
}

fn tagged(pairs: &[(&str, &str)]) -> FunctionMeta {
    FunctionMeta {
        tags: pairs
            .iter()
            .map(|&(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
    }
}

async fn assert_empty(store: &dyn Store) {
    let left = store.list_functions(None, usize::MAX).await.unwrap();
    let names: Vec<&str> = left.iter().map(|f| f.latest.name.as_str()).collect();
    assert!(names.is_empty(), "store is not empty: {names:?}");
}

async fn delete_all(store: &dyn Store, names: &[&str]) {
    for name in names {
        store.delete_function(name).await.unwrap();
    }
    assert_empty(store).await;
}

async fn revision_of(store: &dyn Store, name: &str) -> String {
    let stored = store.get_function(name).await.unwrap();
    stored.expect("function exists").latest.revision_id
}

async fn create_then_get_returns_what_was_stored(store: &dyn Store) {
    let latest = sample_config("get-me");
    let meta = tagged(&[("team", "storage"), ("cost-centre", "42")]);
    store.create_function(&latest, &meta).await.unwrap();

    let stored = store.get_function("get-me").await.unwrap().unwrap();
    assert_eq!(stored.latest, latest);
    assert_eq!(stored.meta, meta);
    assert_eq!(store.get_function("get-me-not").await.unwrap(), None);
    // Names are exact: no case folding.
    assert_eq!(store.get_function("GET-ME").await.unwrap(), None);

    delete_all(store, &["get-me"]).await;
}

async fn create_refuses_a_taken_name(store: &dyn Store) {
    let first = sample_config("taken");
    store
        .create_function(&first, &tagged(&[("v", "1")]))
        .await
        .unwrap();

    let second = FunctionConfig {
        description: "second".to_owned(),
        ..sample_config("taken")
    };
    let err = store
        .create_function(&second, &FunctionMeta::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::FunctionExists { name } if name == "taken"),
        "{err:?}"
    );
    // The refused create changed nothing.
    let stored = store.get_function("taken").await.unwrap().unwrap();
    assert_eq!(stored.latest, first);
    assert_eq!(stored.meta, tagged(&[("v", "1")]));

    delete_all(store, &["taken"]).await;
}

async fn create_and_update_refuse_a_config_that_is_not_latest(store: &dyn Store) {
    let published = FunctionConfig {
        version: "1".to_owned(),
        ..sample_config("versioned")
    };
    let err = store
        .create_function(&published, &FunctionMeta::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotLatest { name, version } if name == "versioned" && version == "1"),
        "{err:?}"
    );
    assert_eq!(store.get_function("versioned").await.unwrap(), None);

    store
        .create_function(&sample_config("versioned"), &FunctionMeta::default())
        .await
        .unwrap();
    let err = store.update_latest(&published, None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotLatest { .. }), "{err:?}");
    assert_eq!(
        store
            .get_function("versioned")
            .await
            .unwrap()
            .unwrap()
            .latest,
        sample_config("versioned")
    );

    delete_all(store, &["versioned"]).await;
}

async fn list_pages_through_functions_in_name_order(store: &dyn Store) {
    // Byte order, as Lambda pages: upper case before lower case, '-' before '_' before letters.
    let sorted = ["B-upper", "a", "a-b", "a_b", "ab", "b", "z"];
    for name in ["ab", "z", "a_b", "B-upper", "b", "a", "a-b"] {
        store
            .create_function(&sample_config(name), &tagged(&[("name", name)]))
            .await
            .unwrap();
    }

    let check = async |after: Option<&str>, limit: usize, expect: &[&str]| {
        let page = store.list_functions(after, limit).await.unwrap();
        let names: Vec<&str> = page.iter().map(|f| f.latest.name.as_str()).collect();
        assert_eq!(names, expect, "after {after:?}, limit {limit}");
        for function in &page {
            assert_eq!(function.latest, sample_config(&function.latest.name));
            assert_eq!(function.meta, tagged(&[("name", &function.latest.name)]));
        }
    };
    check(None, usize::MAX, &sorted).await;
    check(None, 100, &sorted).await;
    check(None, 0, &[]).await;
    check(None, 2, &["B-upper", "a"]).await;
    check(Some(""), 1, &["B-upper"]).await;
    check(Some("a"), 2, &["a-b", "a_b"]).await;
    check(Some("a_b"), 10, &["ab", "b", "z"]).await;
    check(Some("aa"), 1, &["ab"]).await;
    check(Some("b"), usize::MAX, &["z"]).await;
    check(Some("z"), 10, &[]).await;
    check(Some("zz"), 10, &[]).await;

    // Walking with the last name of each page as the marker visits every function once.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_functions(after.as_deref(), 3).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.latest.name.clone());
        walked.extend(page.into_iter().map(|f| f.latest.name));
    }
    assert_eq!(walked, sorted);

    delete_all(store, &sorted).await;
}

async fn update_latest_replaces_the_configuration(store: &dyn Store) {
    let meta = tagged(&[("keep", "me")]);
    store
        .create_function(&sample_config("updated"), &meta)
        .await
        .unwrap();

    let changed = FunctionConfig {
        memory_mb: 1024,
        environment: [("MODE".to_owned(), "prod".to_owned())].into(),
        code: sample_code("new code", 2048),
        last_modified: "2025-06-07T08:09:10.111Z".parse().unwrap(),
        revision_id: "rev-2".to_owned(),
        state: FunctionState::Pending,
        ..sample_config("updated")
    };
    store.update_latest(&changed, None).await.unwrap();

    let stored = store.get_function("updated").await.unwrap().unwrap();
    assert_eq!(stored.latest, changed);
    assert_eq!(stored.meta, meta, "updating $LATEST keeps the metadata");
    assert_eq!(
        store.referenced_code().await.unwrap(),
        [sample_code("new code", 0).sha256_hex],
        "the replaced code is no longer referenced"
    );

    delete_all(store, &["updated"]).await;
}

async fn update_latest_checks_the_expected_revision(store: &dyn Store) {
    // (expected revision, the stored revision afterwards, or the actual one a mismatch reports)
    let cases: &[(Option<&str>, Result<&str, &str>)] = &[
        (None, Ok("rev-2")),
        (Some("rev-1"), Ok("rev-2")),
        (Some("rev-0"), Err("rev-1")),
        (Some("REV-1"), Err("rev-1")),
        (Some(""), Err("rev-1")),
    ];
    for &(expected, outcome) in cases {
        store
            .create_function(&sample_config("guarded"), &FunctionMeta::default())
            .await
            .unwrap();
        let next = FunctionConfig {
            revision_id: "rev-2".to_owned(),
            ..sample_config("guarded")
        };
        let result = store.update_latest(&next, expected).await;
        match outcome {
            Ok(revision) => {
                assert!(result.is_ok(), "expected {expected:?}: {result:?}");
                assert_eq!(revision_of(store, "guarded").await, revision);
            }
            Err(actual_revision) => {
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        &err,
                        StoreError::RevisionMismatch { name, expected: e, actual }
                            if name == "guarded"
                                && Some(e.as_str()) == expected
                                && actual == actual_revision
                    ),
                    "expected {expected:?}: {err:?}"
                );
                assert_eq!(revision_of(store, "guarded").await, actual_revision);
            }
        }
        delete_all(store, &["guarded"]).await;
    }

    // A writer that read an older revision loses to the one that updated since.
    store
        .create_function(&sample_config("raced"), &FunctionMeta::default())
        .await
        .unwrap();
    let winner = FunctionConfig {
        revision_id: "rev-2".to_owned(),
        ..sample_config("raced")
    };
    let loser = FunctionConfig {
        revision_id: "rev-3".to_owned(),
        description: "stale".to_owned(),
        ..sample_config("raced")
    };
    store.update_latest(&winner, Some("rev-1")).await.unwrap();
    let err = store
        .update_latest(&loser, Some("rev-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RevisionMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(
        store.get_function("raced").await.unwrap().unwrap().latest,
        winner
    );
    delete_all(store, &["raced"]).await;
}

async fn writes_to_a_missing_function_fail(store: &dyn Store) {
    let is_not_found =
        |err: &StoreError| matches!(err, StoreError::FunctionNotFound { name } if name == "ghost");
    let ghost = sample_config("ghost");

    let err = store.update_latest(&ghost, None).await.unwrap_err();
    assert!(is_not_found(&err), "update without revision: {err:?}");
    let err = store
        .update_latest(&ghost, Some("rev-1"))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "update with revision: {err:?}");
    let err = store
        .put_meta("ghost", &tagged(&[("a", "b")]))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "put_meta: {err:?}");
    let err = store.delete_function("ghost").await.unwrap_err();
    assert!(is_not_found(&err), "delete: {err:?}");

    assert_empty(store).await;
}

async fn put_meta_replaces_the_metadata_only(store: &dyn Store) {
    store
        .create_function(
            &sample_config("meta"),
            &tagged(&[("old", "1"), ("both", "x")]),
        )
        .await
        .unwrap();

    let replaced = tagged(&[("both", "y"), ("new", "2")]);
    store.put_meta("meta", &replaced).await.unwrap();
    let stored = store.get_function("meta").await.unwrap().unwrap();
    assert_eq!(stored.meta, replaced);
    assert_eq!(stored.latest, sample_config("meta"));

    store
        .put_meta("meta", &FunctionMeta::default())
        .await
        .unwrap();
    let stored = store.get_function("meta").await.unwrap().unwrap();
    assert_eq!(stored.meta, FunctionMeta::default());

    delete_all(store, &["meta"]).await;
}

async fn delete_removes_the_function_and_frees_its_name(store: &dyn Store) {
    for name in ["doomed", "survivor"] {
        store
            .create_function(&sample_config(name), &FunctionMeta::default())
            .await
            .unwrap();
    }

    store.delete_function("doomed").await.unwrap();
    assert_eq!(store.get_function("doomed").await.unwrap(), None);
    assert!(store.get_function("survivor").await.unwrap().is_some());
    let err = store.delete_function("doomed").await.unwrap_err();
    assert!(
        matches!(err, StoreError::FunctionNotFound { .. }),
        "{err:?}"
    );

    // The name is free again, and the new function starts from its own configuration.
    let reborn = FunctionConfig {
        description: "reborn".to_owned(),
        ..sample_config("doomed")
    };
    let meta = tagged(&[("life", "2")]);
    store.create_function(&reborn, &meta).await.unwrap();
    let stored = store.get_function("doomed").await.unwrap().unwrap();
    assert_eq!((stored.latest, stored.meta), (reborn, meta));

    delete_all(store, &["doomed", "survivor"]).await;
}

async fn usage_counts_functions_and_sums_code_sizes(store: &dyn Store) {
    let check = async |expect: Usage| assert_eq!(store.usage().await.unwrap(), expect);
    check(Usage::default()).await;

    let small = FunctionConfig {
        code: sample_code("small", 100),
        ..sample_config("small")
    };
    let large = FunctionConfig {
        code: sample_code("large", 250),
        ..sample_config("large")
    };
    store
        .create_function(&small, &FunctionMeta::default())
        .await
        .unwrap();
    store
        .create_function(&large, &FunctionMeta::default())
        .await
        .unwrap();
    check(Usage {
        function_count: 2,
        total_code_size: 350,
    })
    .await;

    let shrunk = FunctionConfig {
        code: sample_code("shrunk", 50),
        ..sample_config("large")
    };
    store.update_latest(&shrunk, None).await.unwrap();
    check(Usage {
        function_count: 2,
        total_code_size: 150,
    })
    .await;

    store.delete_function("small").await.unwrap();
    check(Usage {
        function_count: 1,
        total_code_size: 50,
    })
    .await;

    delete_all(store, &["large"]).await;
    check(Usage::default()).await;
}

async fn referenced_code_lists_each_digest_once(store: &dyn Store) {
    assert_eq!(store.referenced_code().await.unwrap(), Vec::<String>::new());

    let shared = sample_code("shared", 10);
    let own = sample_code("own", 20);
    for (name, code) in [("one", &shared), ("two", &shared), ("three", &own)] {
        let config = FunctionConfig {
            code: code.clone(),
            ..sample_config(name)
        };
        store
            .create_function(&config, &FunctionMeta::default())
            .await
            .unwrap();
    }
    let mut expect = vec![shared.sha256_hex.clone(), own.sha256_hex.clone()];
    expect.sort();
    assert_eq!(store.referenced_code().await.unwrap(), expect);

    store.delete_function("three").await.unwrap();
    assert_eq!(
        store.referenced_code().await.unwrap(),
        [shared.sha256_hex.as_str()]
    );

    delete_all(store, &["one", "two"]).await;
    assert_eq!(store.referenced_code().await.unwrap(), Vec::<String>::new());
}
