//! Versions, aliases, concurrency and the status endpoint through the router.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::TestApi;

#[tokio::test]
async fn a_reservation_of_zero_throttles_with_lambdas_reason() {
    let api = TestApi::new().await;
    api.create("limited", json!({})).await;
    let put = api
        .call(
            Method::PUT,
            "/2017-10-31/functions/limited/concurrency",
            Some(json!({"ReservedConcurrentExecutions": 0})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.json(), json!({"ReservedConcurrentExecutions": 0}));

    let invoke = "/2015-03-31/functions/limited/invocations";
    let throttled = api.call(Method::POST, invoke, Some(json!({}))).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.error_type(), "TooManyRequestsException");
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(
        throttled.json()["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );

    let concurrency = "/2019-09-30/functions/limited/concurrency";
    let got = api.call(Method::GET, concurrency, None).await;
    assert_eq!(got.json(), json!({"ReservedConcurrentExecutions": 0}));
    let function = api
        .call(Method::GET, "/2015-03-31/functions/limited", None)
        .await;
    assert_eq!(
        function.json()["Concurrency"],
        json!({"ReservedConcurrentExecutions": 0})
    );
    let deleted = api
        .call(
            Method::DELETE,
            "/2017-10-31/functions/limited/concurrency",
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call(Method::GET, concurrency, None).await.json(),
        json!({})
    );
    let ran = api.call(Method::POST, invoke, Some(json!({"n": 1}))).await;
    assert_eq!(ran.status, StatusCode::OK, "{:?}", ran.body);
}

#[tokio::test]
async fn an_alias_runs_its_version_and_status_shows_both() {
    let api = TestApi::new().await;
    api.create("aliased", json!({})).await;
    let published = api
        .call(
            Method::POST,
            "/2015-03-31/functions/aliased/versions",
            Some(json!({"Description": "first"})),
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    assert_eq!(published.json()["Version"], "1");
    assert_eq!(
        published.json()["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:aliased:1"
    );
    let alias = api
        .call(
            Method::POST,
            "/2015-03-31/functions/aliased/aliases",
            Some(json!({"Name": "live", "FunctionVersion": "1"})),
        )
        .await;
    assert_eq!(alias.status, StatusCode::CREATED, "{:?}", alias.body);
    assert_eq!(
        alias.json()["AliasArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:aliased:live"
    );

    let ran = api
        .call(
            Method::POST,
            "/2015-03-31/functions/aliased%3Alive/invocations",
            Some(json!({"n": 1})),
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{:?}", ran.body);
    assert_eq!(ran.header("x-amz-executed-version"), Some("1"));

    let status = api
        .call(Method::GET, "/_flint/status/aliased", None)
        .await
        .json();
    assert_eq!(status["FunctionName"], "aliased");
    let versions: Vec<&str> = status["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["$LATEST", "1"]);
    assert_eq!(
        status["Aliases"],
        json!([{"Name": "live", "FunctionVersion": "1"}])
    );
    assert_eq!(status["Environments"][0]["Version"], "1");
    assert_eq!(status["Environments"][0]["Idle"], 1);
    assert_eq!(status["Throttles"]["Total"], 0);
}

#[tokio::test]
async fn provisioned_concurrency_answers_202_in_progress() {
    let api = TestApi::new().await;
    api.create("ready", json!({"Publish": true})).await;
    let path = "/2019-09-30/functions/ready/provisioned-concurrency?Qualifier=1";
    let put = api
        .call(
            Method::PUT,
            path,
            Some(json!({"ProvisionedConcurrentExecutions": 1})),
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    let body = put.json();
    assert_eq!(body["RequestedProvisionedConcurrentExecutions"], 1);
    assert!(
        ["IN_PROGRESS", "READY"].contains(&body["Status"].as_str().unwrap()),
        "{body}"
    );
    let mut status = String::new();
    for _ in 0..200 {
        status = api.call(Method::GET, path, None).await.json()["Status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "READY" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "READY");
    let listed = api
        .call(
            Method::GET,
            "/2019-09-30/functions/ready/provisioned-concurrency?List=ALL",
            None,
        )
        .await
        .json();
    assert_eq!(
        listed["ProvisionedConcurrencyConfigs"][0]["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:ready:1"
    );
    let latest = api
        .call(
            Method::PUT,
            "/2019-09-30/functions/ready/provisioned-concurrency?Qualifier=%24LATEST",
            Some(json!({"ProvisionedConcurrentExecutions": 1})),
        )
        .await;
    assert_eq!(latest.status, StatusCode::BAD_REQUEST);
    assert_eq!(latest.error_type(), "InvalidParameterValueException");
    api.control.shutdown().await;
}

#[tokio::test]
async fn an_alias_with_provisioned_concurrency_cannot_move_to_latest() {
    let api = TestApi::new().await;
    api.create("pinned", json!({"Publish": true})).await;
    for alias in ["live", "free"] {
        let created = api
            .call(
                Method::POST,
                "/2015-03-31/functions/pinned/aliases",
                Some(json!({"Name": alias, "FunctionVersion": "1"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }
    let put = api
        .call(
            Method::PUT,
            "/2019-09-30/functions/pinned/provisioned-concurrency?Qualifier=live",
            Some(json!({"ProvisionedConcurrentExecutions": 1})),
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);

    let moved = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/pinned/aliases/live",
            Some(json!({"FunctionVersion": "$LATEST"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{:?}", moved.body);
    assert_eq!(moved.error_type(), "InvalidParameterValueException");
    let message = moved.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("Provisioned Concurrency Configs cannot be applied to unpublished")
            && message.contains("arn:aws:lambda:us-east-1:000000000000:function:pinned:live"),
        "{message}"
    );
    let kept = api
        .call(
            Method::GET,
            "/2015-03-31/functions/pinned/aliases/live",
            None,
        )
        .await;
    assert_eq!(kept.json()["FunctionVersion"], "1");

    // An alias without provisioned concurrency may follow $LATEST.
    let free = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/pinned/aliases/free",
            Some(json!({"FunctionVersion": "$LATEST"})),
        )
        .await;
    assert_eq!(free.status, StatusCode::OK, "{:?}", free.body);
    assert_eq!(free.json()["FunctionVersion"], "$LATEST");
    api.control.shutdown().await;
}
