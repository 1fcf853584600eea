//! The function operations: shapes (snapshots), pagination, updates, tags, persistence.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use super::{TestApi, zip_with_bootstrap};

/// Snapshots `$value` as `$name`. Timestamps and revision ids differ on every run, and the
/// digest and size of the test zip depend on the zip writer, so they are redacted here and
/// checked against the zip itself instead.
macro_rules! assert_shape {
    ($name:literal, $value:expr, $($path:literal),* $(,)?) => {
        insta::assert_json_snapshot!($name, $value, {
            $($path => "[redacted]",)*
        })
    };
}

/// Checks `CodeSha256` and `CodeSize` of a FunctionConfiguration against the zip deployed.
#[track_caller]
fn check_code(configuration: &serde_json::Value, zip: &[u8]) {
    let digest = package::sha256_hex(zip);
    let raw: Vec<u8> = (0..digest.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digest[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(configuration["CodeSha256"], super::base64(&raw));
    assert_eq!(configuration["CodeSize"], zip.len());
}

#[tokio::test]
async fn create_get_and_list_have_lambdas_shapes() {
    let api = TestApi::new().await;
    let created = api
        .create(
            "hello",
            json!({
                "Description": "says hello",
                "MemorySize": 256,
                "Environment": {"Variables": {"GREETING": "hi"}},
                "Tags": {"team": "core"},
            }),
        )
        .await;
    assert!(created.header("x-amzn-requestid").is_some());
    let zip = zip_with_bootstrap(super::ECHO_BOOTSTRAP);
    check_code(&created.json(), &zip);
    let last_modified = created.json()["LastModified"].as_str().unwrap().to_string();
    let parsed = jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", &last_modified);
    assert!(
        parsed.is_ok() && last_modified.len() == 28 && last_modified.ends_with("+0000"),
        "LastModified {last_modified:?} is not like 2020-04-10T19:06:32.563+0000"
    );
    assert_shape!(
        "create_function",
        created.json(),
        ".LastModified",
        ".RevisionId",
        ".CodeSha256",
        ".CodeSize"
    );

    let got = api
        .call(Method::GET, "/2015-03-31/functions/hello", None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    check_code(&got.json()["Configuration"], &zip);
    assert_shape!(
        "get_function",
        got.json(),
        ".Configuration.LastModified",
        ".Configuration.RevisionId",
        ".Configuration.CodeSha256",
        ".Configuration.CodeSize",
        ".Code.Location",
    );

    let config = api
        .call(
            Method::GET,
            "/2015-03-31/functions/hello/configuration?Qualifier=%24LATEST",
            None,
        )
        .await;
    assert_eq!(
        config.json()["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST"
    );

    let listed = api.call(Method::GET, "/2015-03-31/functions/", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_shape!(
        "list_functions",
        listed.json(),
        ".Functions[].LastModified",
        ".Functions[].RevisionId",
        ".Functions[].CodeSha256",
        ".Functions[].CodeSize",
    );

    let settings = api
        .call(Method::GET, "/2016-08-19/account-settings/", None)
        .await;
    assert_shape!(
        "account_settings",
        settings.json(),
        ".AccountUsage.TotalCodeSize"
    );
    assert_eq!(settings.json()["AccountUsage"]["TotalCodeSize"], zip.len());
}

#[tokio::test]
async fn code_location_downloads_the_zip() {
    let api = TestApi::new().await;
    api.create("hello", json!({})).await;
    let got = api
        .call(Method::GET, "/2015-03-31/functions/hello", None)
        .await
        .json();
    let location = got["Code"]["Location"].as_str().unwrap();
    let path = location.strip_prefix("http://localhost:9000").unwrap();
    let zip = api.call(Method::GET, path, None).await;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    assert_eq!(zip.body, zip_with_bootstrap(super::ECHO_BOOTSTRAP));
}

#[tokio::test]
async fn functions_are_found_by_arn_in_any_encoding_and_region() {
    let api = TestApi::new().await;
    api.create("hello", json!({})).await;
    for path in [
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello",
        "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:hello",
        "/2015-03-31/functions/000000000000%3Afunction%3Ahello/configuration",
    ] {
        let answer = api.call(Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.json());
    }
    let signed = Request::builder()
        .uri("/2015-03-31/functions/hello/configuration")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260115/eu-west-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(Body::empty())
        .unwrap();
    let answer = api.send(signed).await;
    assert_eq!(
        answer.json()["FunctionArn"],
        "arn:aws:lambda:eu-west-1:000000000000:function:hello"
    );
}

#[tokio::test]
async fn list_functions_pages_with_an_opaque_marker() {
    let api = TestApi::new().await;
    for name in ["c", "a", "b"] {
        api.create(name, json!({})).await;
    }
    let mut names = Vec::new();
    let mut uri = "/2015-03-31/functions/?MaxItems=2".to_string();
    let mut pages = 0;
    loop {
        let page = api.call(Method::GET, &uri, None).await.json();
        pages += 1;
        for function in page["Functions"].as_array().unwrap() {
            assert!(function.get("State").is_none(), "ListFunctions omits State");
            names.push(function["FunctionName"].as_str().unwrap().to_string());
        }
        match page["NextMarker"].as_str() {
            Some(marker) => uri = format!("/2015-03-31/functions/?MaxItems=2&Marker={marker}"),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(pages, 2);
}

/// `(FunctionName, Version, FunctionArn)` of each entry of a ListFunctions page.
fn listed(page: &serde_json::Value) -> Vec<(String, String, String)> {
    page["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f.get("State").is_none(), "ListFunctions omits State: {f}");
            let text = |key: &str| f[key].as_str().unwrap().to_string();
            (text("FunctionName"), text("Version"), text("FunctionArn"))
        })
        .collect()
}

#[tokio::test]
async fn list_functions_with_function_version_all_pages_over_every_version() {
    let api = TestApi::new().await;
    api.create("b", json!({"Publish": true})).await;
    api.create("a", json!({})).await;
    let arn = |rest: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{rest}");
    let entry = |name: &str, version: &str, arn: String| (name.into(), version.into(), arn);

    // Without the parameter only `$LATEST` is listed, under the unqualified ARN.
    let plain = api.call(Method::GET, "/2015-03-31/functions", None).await;
    assert_eq!(
        listed(&plain.json()),
        [
            entry("a", "$LATEST", arn("a")),
            entry("b", "$LATEST", arn("b"))
        ]
    );

    let mut entries = Vec::new();
    let mut pages = 0;
    let mut uri = "/2015-03-31/functions?FunctionVersion=ALL&MaxItems=1".to_string();
    loop {
        let page = api.call(Method::GET, &uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let page = page.json();
        assert_eq!(listed(&page).len(), 1, "{page}");
        entries.extend(listed(&page));
        pages += 1;
        match page["NextMarker"].as_str() {
            Some(marker) => {
                uri =
                    format!("/2015-03-31/functions?FunctionVersion=ALL&MaxItems=1&Marker={marker}")
            }
            None => break,
        }
    }
    let all = [
        entry("a", "$LATEST", arn("a:$LATEST")),
        entry("b", "$LATEST", arn("b:$LATEST")),
        entry("b", "1", arn("b:1")),
    ];
    assert_eq!(entries, all);
    assert_eq!(pages, 3);
    let whole = api
        .call(
            Method::GET,
            "/2015-03-31/functions?FunctionVersion=ALL",
            None,
        )
        .await;
    assert_eq!(listed(&whole.json()), all);
    assert!(whole.json().get("NextMarker").is_none());

    let refused = api
        .call(
            Method::GET,
            "/2015-03-31/functions?FunctionVersion=LATEST",
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_type(), "ValidationException");
    assert_eq!(
        refused.json()["message"],
        "1 validation error detected: Value 'LATEST' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
    );
}

#[tokio::test]
async fn master_region_lists_lambda_at_edge_replicas_of_which_there_are_none() {
    let api = TestApi::new().await;
    api.create("a", json!({})).await;
    for region in ["us-east-1", "us-gov-west-1", "ALL"] {
        let uri = format!("/2015-03-31/functions?FunctionVersion=ALL&MasterRegion={region}");
        let listed = api.call(Method::GET, &uri, None).await;
        assert_eq!(listed.status, StatusCode::OK, "{region}: {:?}", listed.body);
        assert_eq!(listed.json(), json!({"Functions": []}), "{region}");
    }
    let (error_type, message) = refusal(&api, "/2015-03-31/functions?MasterRegion=us-east-1").await;
    assert_eq!(error_type, "InvalidParameterValueException");
    assert!(message.contains("FunctionVersion"), "{message}");
    for bad in ["useast1", "u-east-1", "us-east-12", "US-east-1", "us--1"] {
        let uri = format!("/2015-03-31/functions?FunctionVersion=ALL&MasterRegion={bad}");
        let (error_type, message) = refusal(&api, &uri).await;
        assert_eq!(error_type, "ValidationException", "{bad}");
        assert!(message.contains("at 'masterRegion'"), "{bad}: {message}");
    }
}

/// The error type and message of a GET that must answer 400.
async fn refusal(api: &TestApi, uri: &str) -> (String, String) {
    let refused = api.call(Method::GET, uri, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{uri}");
    let message = refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (refused.error_type().to_owned(), message)
}

#[tokio::test]
async fn updates_change_revision_and_code() {
    let api = TestApi::new().await;
    let created = api.create("hello", json!({})).await.json();
    let revision = created["RevisionId"].as_str().unwrap();

    let stale = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/hello/configuration",
            Some(json!({"Timeout": 30, "RevisionId": "not-the-revision"})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);

    let updated = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/hello/configuration",
            Some(json!({
                "Timeout": 30,
                "Environment": {"Variables": {"A1": "x"}},
                "RevisionId": revision,
            })),
        )
        .await
        .json();
    assert_eq!(updated["Timeout"], 30);
    assert_eq!(updated["Environment"]["Variables"]["A1"], "x");
    assert_ne!(updated["RevisionId"], created["RevisionId"]);
    assert_eq!(updated["CodeSha256"], created["CodeSha256"]);

    let new_zip = zip_with_bootstrap("#!/bin/sh\nexit 0\n");
    let code = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/hello/code",
            Some(json!({"ZipFile": super::base64(&new_zip)})),
        )
        .await
        .json();
    assert_ne!(code["CodeSha256"], created["CodeSha256"]);
    assert_eq!(code["CodeSize"], new_zip.len());
    assert_ne!(code["RevisionId"], updated["RevisionId"]);
    assert_eq!(code["Timeout"], 30, "a code update keeps the configuration");
}

#[tokio::test]
async fn tags_are_added_listed_and_removed() {
    let api = TestApi::new().await;
    api.create("hello", json!({"Tags": {"keep": "1"}})).await;
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello";
    let path = format!("/2017-03-31/tags/{arn}");
    let tagged = api
        .call(
            Method::POST,
            &path,
            Some(json!({"Tags": {"a": "1", "b": "2"}})),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::NO_CONTENT);
    let untagged = api
        .call(Method::DELETE, &format!("{path}?tagKeys=a&tagKeys=b"), None)
        .await;
    assert_eq!(untagged.status, StatusCode::NO_CONTENT);
    let listed = api.call(Method::GET, &path, None).await;
    assert_eq!(listed.json(), json!({"Tags": {"keep": "1"}}));
}

#[tokio::test]
async fn delete_removes_the_function() {
    let api = TestApi::new().await;
    api.create("hello", json!({})).await;
    let deleted = api
        .call(Method::DELETE, "/2015-03-31/functions/hello", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    let gone = api
        .call(Method::GET, "/2015-03-31/functions/hello", None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let recreated = api.create("hello", json!({})).await;
    assert_eq!(recreated.status, StatusCode::CREATED);
}

#[tokio::test]
async fn functions_survive_a_restart() {
    let api = TestApi::new().await;
    let created = api.create("hello", json!({"MemorySize": 512})).await.json();
    let api = api.restarted().await;
    let got = api
        .call(
            Method::GET,
            "/2015-03-31/functions/hello/configuration",
            None,
        )
        .await
        .json();
    assert_eq!(got["RevisionId"], created["RevisionId"]);
    assert_eq!(got["MemorySize"], 512);
    let removed = api
        .control
        .collect_unreferenced_code(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed, 0, "the function's code is referenced");
}
