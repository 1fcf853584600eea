//! The behaviour every `LayerStore` shares, together with the `Store` whose function versions
//! name layers.

use model::function::FunctionMeta;
use model::layer::{LayerRef, LayerVersion};
use model::{CodeRef, FunctionConfig};

use super::{sample_code, sample_config};
use crate::{LayerPolicy, LayerStore, NewLayerVersion, Store, StoreError};

/// Runs every check against `layers` and the `store` of the functions, which must start empty.
/// Layer names differ between checks, because a layer's version counter outlives its versions.
pub async fn run_layers(store: &dyn Store, layers: &dyn LayerStore) {
    publish_numbers_versions_from_one(layers).await;
    get_returns_what_was_published(layers).await;
    list_orders_by_name_then_newest_first(layers).await;
    deleted_versions_vanish_and_their_numbers_stay_taken(layers).await;
    policies_are_replaced_under_their_revision(layers).await;
    referenced_code_keeps_deleted_versions_functions_use(store, layers).await;
}

/// A layer version to publish as `name`, with code derived from `seed`.
pub fn sample_layer(name: &str, seed: &str) -> NewLayerVersion {
    NewLayerVersion {
        name: name.to_owned(),
        description: format!("{name} for tests"),
        compatible_runtimes: vec!["python3.12".to_owned(), "provided.al2023".to_owned()],
        compatible_architectures: vec!["x86_64".to_owned()],
        license_info: Some("MIT".to_owned()),
        code: sample_code(seed, 2048),
        created: "2025-03-04T05:06:07.891Z"
            .parse()
            .expect("the sample timestamp is valid RFC 3339"),
    }
}

async fn publish(layers: &dyn LayerStore, name: &str, seed: &str) -> LayerVersion {
    layers
        .publish_layer_version(&sample_layer(name, seed))
        .await
        .unwrap()
}

async fn delete_all(layers: &dyn LayerStore, name: &str) {
    for version in layers.list_layer_versions(Some(name)).await.unwrap() {
        layers
            .delete_layer_version(name, version.version)
            .await
            .unwrap();
    }
}

async fn publish_numbers_versions_from_one(layers: &dyn LayerStore) {
    let numbers = [
        publish(layers, "numbered", "a").await.version,
        publish(layers, "numbered", "b").await.version,
        publish(layers, "numbered-other", "c").await.version,
        publish(layers, "numbered", "a").await.version,
    ];
    assert_eq!(numbers, [1, 2, 1, 3], "each layer counts its own versions");
    delete_all(layers, "numbered").await;
    delete_all(layers, "numbered-other").await;
}

async fn get_returns_what_was_published(layers: &dyn LayerStore) {
    let published = publish(layers, "fetched", "fetched").await;
    let expected = sample_layer("fetched", "fetched").numbered(1);
    assert_eq!(published, expected);
    let get =
        async |name: &str, version: u64| layers.get_layer_version(name, version).await.unwrap();
    assert_eq!(get("fetched", 1).await, Some(expected));
    assert_eq!(get("fetched", 2).await, None);
    assert_eq!(get("FETCHED", 1).await, None, "names are exact");
    assert_eq!(get("nobody", 1).await, None);

    let bare = NewLayerVersion {
        description: String::new(),
        compatible_runtimes: Vec::new(),
        compatible_architectures: Vec::new(),
        license_info: None,
        ..sample_layer("fetched", "bare")
    };
    let stored = layers.publish_layer_version(&bare).await.unwrap();
    assert_eq!(stored, bare.numbered(2));
    assert_eq!(get("fetched", 2).await, Some(stored));
    delete_all(layers, "fetched").await;
}

async fn list_orders_by_name_then_newest_first(layers: &dyn LayerStore) {
    for (name, seed) in [
        ("listed-b", "1"),
        ("listed-a", "2"),
        ("listed-b", "3"),
        ("listed-a", "4"),
    ] {
        publish(layers, name, seed).await;
    }
    let listed = |versions: Vec<LayerVersion>| -> Vec<(String, u64)> {
        versions
            .into_iter()
            .filter(|v| v.name.starts_with("listed-"))
            .map(|v| (v.name, v.version))
            .collect()
    };
    let all = listed(layers.list_layer_versions(None).await.unwrap());
    let expected = [
        ("listed-a", 2),
        ("listed-a", 1),
        ("listed-b", 2),
        ("listed-b", 1),
    ]
    .map(|(name, version)| (name.to_owned(), version));
    assert_eq!(all, expected);
    let one = listed(layers.list_layer_versions(Some("listed-b")).await.unwrap());
    assert_eq!(one, expected[2..]);
    assert!(
        layers
            .list_layer_versions(Some("listed"))
            .await
            .unwrap()
            .is_empty()
    );
    delete_all(layers, "listed-a").await;
    delete_all(layers, "listed-b").await;
}

async fn deleted_versions_vanish_and_their_numbers_stay_taken(layers: &dyn LayerStore) {
    publish(layers, "pruned", "1").await;
    publish(layers, "pruned", "2").await;
    layers.delete_layer_version("pruned", 2).await.unwrap();
    assert_eq!(layers.get_layer_version("pruned", 2).await.unwrap(), None);
    let left: Vec<u64> = layers
        .list_layer_versions(Some("pruned"))
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(left, [1]);
    // Deleting what is not there is not an error, as on Lambda.
    layers.delete_layer_version("pruned", 2).await.unwrap();
    layers.delete_layer_version("pruned", 99).await.unwrap();
    layers.delete_layer_version("nobody", 1).await.unwrap();

    layers.delete_layer_version("pruned", 1).await.unwrap();
    assert!(
        layers
            .list_layer_versions(Some("pruned"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        publish(layers, "pruned", "3").await.version,
        3,
        "numbers are not reused after every version was deleted"
    );
    delete_all(layers, "pruned").await;
}

async fn policies_are_replaced_under_their_revision(layers: &dyn LayerStore) {
    publish(layers, "guarded", "guarded").await;
    assert_eq!(
        layers.get_layer_version_policy("guarded", 1).await.unwrap(),
        None
    );
    let first = LayerPolicy {
        revision_id: "rev-1".to_owned(),
        statements: vec![serde_json::json!({"Sid": "a", "Effect": "Allow"})],
    };
    layers
        .put_layer_version_policy("guarded", 1, &first, None)
        .await
        .unwrap();
    assert_eq!(
        layers.get_layer_version_policy("guarded", 1).await.unwrap(),
        Some(first.clone())
    );

    let second = LayerPolicy {
        revision_id: "rev-2".to_owned(),
        statements: vec![
            serde_json::json!({"Sid": "a", "Effect": "Allow"}),
            serde_json::json!({"Sid": "b", "Effect": "Allow"}),
        ],
    };
    let err = layers
        .put_layer_version_policy("guarded", 1, &second, Some("rev-0"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::LayerPolicyRevisionMismatch { name, version: 1, expected } if name == "guarded" && expected == "rev-0"),
        "{err:?}"
    );
    layers
        .put_layer_version_policy("guarded", 1, &second, Some("rev-1"))
        .await
        .unwrap();
    assert_eq!(
        layers.get_layer_version_policy("guarded", 1).await.unwrap(),
        Some(second.clone())
    );

    for err in [
        layers
            .get_layer_version_policy("guarded", 2)
            .await
            .unwrap_err(),
        layers
            .put_layer_version_policy("guarded", 2, &second, None)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::LayerVersionNotFound { name, version: 2 } if name == "guarded"),
            "{err:?}"
        );
    }
    delete_all(layers, "guarded").await;
}

async fn referenced_code_keeps_deleted_versions_functions_use(
    store: &dyn Store,
    layers: &dyn LayerStore,
) {
    let kept = publish(layers, "referenced", "kept").await;
    let used = publish(layers, "referenced", "used").await;
    let dropped = publish(layers, "referenced", "dropped").await;
    let function = FunctionConfig {
        layers: vec![LayerRef {
            arn: "arn:aws:lambda:us-east-1:123456789012:layer:referenced:2".to_owned(),
            code: used.code.clone(),
        }],
        ..sample_config("layered")
    };
    store
        .create_function(&function, &FunctionMeta::default())
        .await
        .unwrap();
    layers.delete_layer_version("referenced", 2).await.unwrap();
    layers.delete_layer_version("referenced", 3).await.unwrap();

    let mut expected: Vec<String> = [&kept.code, &used.code]
        .map(|code: &CodeRef| code.sha256_hex.clone())
        .to_vec();
    expected.sort();
    assert_eq!(layers.referenced_layer_code().await.unwrap(), expected);
    assert!(!expected.contains(&dropped.code.sha256_hex));

    store.delete_function("layered").await.unwrap();
    assert_eq!(
        layers.referenced_layer_code().await.unwrap(),
        std::slice::from_ref(&kept.code.sha256_hex)
    );
    delete_all(layers, "referenced").await;
    assert!(layers.referenced_layer_code().await.unwrap().is_empty());
}
