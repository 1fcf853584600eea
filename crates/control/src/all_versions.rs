//! ListFunctions with `FunctionVersion=ALL`: every function's `$LATEST` followed by its
//! published versions, functions by name, versions by number. Pages count entries, not
//! functions, so one function's versions may span pages; the marker names the last entry as
//! `name:version`.

use model::FunctionConfig;
use model::function::LATEST;
use model::version::is_version_number;
use model::{ValidationError, validate};
use store::{Store, StoreError};

use crate::functions::{FunctionPage, page_size};
use crate::{ControlError, ControlPlane, marker};

/// Where a listing of every version continues: after the entry of `version` of `function`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntryKey {
    function: String,
    /// 0 for `$LATEST`, which comes before version 1; otherwise the version number.
    version: u64,
}

impl ControlPlane {
    /// ListFunctions with `FunctionVersion=ALL`: at most 50 entries a page, each a `$LATEST` or
    /// a published version.
    pub async fn list_all_versions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<FunctionPage, ControlError> {
        let limit = page_size(max_items)?;
        let after = marker.map(decode_marker).transpose()?;
        // One entry more than the page tells whether another page follows.
        let mut functions = entries_after(self.inner.store.as_ref(), after.as_ref(), limit + 1)
            .await
            .map_err(ControlError::Store)?;
        let next_marker = marker::next_page(&mut functions, limit, entry_key);
        Ok(FunctionPage {
            functions,
            next_marker,
        })
    }
}

/// At most `want` entries after `after`, in listing order. Each function listed adds at least
/// its `$LATEST`, so `want` functions are always enough to fill the page.
async fn entries_after(
    store: &dyn Store,
    after: Option<&EntryKey>,
    want: usize,
) -> Result<Vec<FunctionConfig>, StoreError> {
    let mut entries = Vec::with_capacity(want);
    if let Some(after) = after {
        // The rest of the function the previous page stopped in; nothing if it is gone.
        let rest = store
            .list_versions(&after.function, Some(after.version), want)
            .await?;
        entries.extend(rest);
    }
    if entries.len() >= want {
        return Ok(entries);
    }
    let functions = store
        .list_functions(after.map(|a| a.function.as_str()), want)
        .await?;
    for stored in functions {
        if entries.len() >= want {
            break;
        }
        let name = stored.latest.name.clone();
        entries.push(stored.latest);
        let room = want - entries.len();
        if room > 0 {
            entries.extend(store.list_versions(&name, None, room).await?);
        }
    }
    Ok(entries)
}

/// The marker key of an entry: `name:version`; a name never holds a colon.
fn entry_key(config: &FunctionConfig) -> String {
    format!("{}:{}", config.name, config.version)
}

fn decode_marker(marker: &str) -> Result<EntryKey, ValidationError> {
    marker::decode_key(marker, |_| true)
        .ok()
        .and_then(|key| parse_entry_key(&key))
        .ok_or_else(|| validate::invalid(format!("Invalid marker: {marker}")))
}

fn parse_entry_key(key: &str) -> Option<EntryKey> {
    let (function, version) = key.split_once(':')?;
    if !model::arn::is_plain_name(function) {
        return None;
    }
    let version = match version {
        LATEST => 0,
        number if is_version_number(number) => number.parse().ok()?,
        _ => return None,
    };
    Some(EntryKey {
        function: function.to_owned(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use model::function::FunctionMeta;
    use store::{PublishRequest, SqliteStore, VersionStore};

    use super::*;

    #[track_caller]
    fn check_key(key: &str, expect: Option<(&str, u64)>) {
        let got = parse_entry_key(key);
        let want = expect.map(|(function, version)| EntryKey {
            function: function.to_owned(),
            version,
        });
        assert_eq!(got, want, "{key}");
    }

    #[test]
    fn markers_name_a_function_and_one_of_its_versions() {
        check_key("hello:$LATEST", Some(("hello", 0)));
        check_key("hello:12", Some(("hello", 12)));
        check_key("hello", None);
        check_key("hello:live", None);
        check_key("hello:", None);
        check_key("bad name:1", None);
        check_key("a:b:1", None);
        let config = FunctionConfig {
            version: "3".into(),
            ..FunctionConfig::example("hello")
        };
        let marker = marker::encode(&entry_key(&config));
        assert_eq!(
            decode_marker(&marker).unwrap(),
            EntryKey {
                function: "hello".into(),
                version: 3
            }
        );
        // A plain ListFunctions marker names no version: it does not continue this listing.
        let err = decode_marker(&marker::encode("hello")).unwrap_err();
        assert!(err.message.starts_with("Invalid marker"), "{}", err.message);
    }

    /// A store holding `functions`, each name with that many published versions.
    async fn store_with(dir: &std::path::Path, functions: &[(&str, u64)]) -> SqliteStore {
        let store = SqliteStore::open(&dir.join("flint.db")).unwrap();
        for (name, count) in functions {
            let mut latest = FunctionConfig::example(name);
            store
                .create_function(&latest, &FunctionMeta::default())
                .await
                .unwrap();
            for n in 1..=*count {
                if n > 1 {
                    latest.revision_id = format!("{name}-latest-{n}");
                    store.update_latest(&latest, None).await.unwrap();
                }
                let request = PublishRequest {
                    function: (*name).to_owned(),
                    latest_revision: latest.revision_id.clone(),
                    description: None,
                    revision_id: format!("{name}-v{n}"),
                    now: jiff::Timestamp::UNIX_EPOCH,
                };
                store.publish_version(&request).await.unwrap();
            }
        }
        store
    }

    /// Pages through the whole listing `size` entries at a time, as a caller with markers does.
    async fn page_through(store: &dyn Store, size: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let mut entries = entries_after(store, after.as_ref(), size + 1)
                .await
                .unwrap();
            let next = marker::next_page(&mut entries, size, entry_key);
            pages.push(entries.iter().map(entry_key).collect());
            match next {
                Some(next) => after = Some(decode_marker(&next).unwrap()),
                None => return pages,
            }
        }
    }

    #[tokio::test]
    async fn every_version_of_every_function_in_order_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("beta", 0), ("alpha", 3), ("gamma", 1)]).await;
        let all = [
            "alpha:$LATEST",
            "alpha:1",
            "alpha:2",
            "alpha:3",
            "beta:$LATEST",
            "gamma:$LATEST",
            "gamma:1",
        ];
        assert_eq!(page_through(&store, 50).await, [all.to_vec()]);
        for size in 1..=all.len() {
            let pages = page_through(&store, size).await;
            assert!(pages.iter().all(|page| page.len() <= size), "{pages:?}");
            assert_eq!(pages.concat(), all, "pages of {size}");
        }
        assert_eq!(
            page_through(&store, 3).await,
            [
                vec!["alpha:$LATEST", "alpha:1", "alpha:2"],
                vec!["alpha:3", "beta:$LATEST", "gamma:$LATEST"],
                vec!["gamma:1"],
            ]
        );
    }

    #[tokio::test]
    async fn a_page_continues_past_a_function_deleted_since_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[("alpha", 2), ("beta", 1)]).await;
        let after = parse_entry_key("alpha:1").unwrap();
        store.delete_function("alpha").await.unwrap();
        let entries = entries_after(&store, Some(&after), 10).await.unwrap();
        let keys: Vec<String> = entries.iter().map(entry_key).collect();
        assert_eq!(keys, ["beta:$LATEST", "beta:1"]);
    }
}
