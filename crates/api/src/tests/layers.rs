//! The layer operations: shapes, listing and paging, deletion, policies, and functions that use
//! layers.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, ECHO_BOOTSTRAP, TestApi, base64, create_body, zip_with, zip_with_bootstrap};

const ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:000000000000:layer";

impl TestApi {
    /// Publishes `zip` as a version of `layer` with `extra` members and checks it was created.
    async fn publish(&self, layer: &str, zip: &[u8], extra: Value) -> Value {
        let mut body = json!({"Content": {"ZipFile": base64(zip)}});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let answer = self
            .call(
                Method::POST,
                &format!("/2018-10-31/layers/{layer}/versions"),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
        answer.json()
    }

    async fn invoke_payload(&self, name: &str) -> Answer {
        self.call(
            Method::POST,
            &format!("/2015-03-31/functions/{name}/invocations"),
            Some(json!({"ping": 1})),
        )
        .await
    }
}

#[track_caller]
fn check_error(answer: &Answer, status: StatusCode, code: &str, message: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.error_type(), code, "{:?}", answer.body);
    let body = answer.json();
    let got = body["message"]
        .as_str()
        .or(body["Message"].as_str())
        .unwrap();
    assert!(got.contains(message), "{got:?} lacks {message:?}");
}

#[tokio::test]
async fn published_versions_have_lambdas_shapes() {
    let api = TestApi::new().await;
    let zip = zip_with(&[("python/lib.py", "X = 1\n", 0o644)]);
    let published = api
        .publish(
            "deps",
            &zip,
            json!({
                "Description": "shared code",
                "CompatibleRuntimes": ["python3.12", "python3.13"],
                "CompatibleArchitectures": ["x86_64"],
                "LicenseInfo": "MIT",
            }),
        )
        .await;
    let digest = package::sha256_hex(&zip);
    let created = published["CreatedDate"].as_str().unwrap().to_string();
    assert!(
        created.len() == 28 && created.ends_with("+0000"),
        "CreatedDate {created:?} is not like 2018-11-27T15:10:45.123+0000"
    );
    let raw: Vec<u8> = (0..digest.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digest[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        published,
        json!({
            "Content": {
                "Location": format!("http://localhost:9000/_flint/code/{digest}"),
                "CodeSha256": base64(&raw),
                "CodeSize": zip.len(),
            },
            "LayerArn": format!("{ARN_PREFIX}:deps"),
            "LayerVersionArn": format!("{ARN_PREFIX}:deps:1"),
            "Description": "shared code",
            "CreatedDate": created,
            "Version": 1,
            "CompatibleRuntimes": ["python3.12", "python3.13"],
            "LicenseInfo": "MIT",
            "CompatibleArchitectures": ["x86_64"],
        })
    );

    let fetched = api
        .call(Method::GET, "/2018-10-31/layers/deps/versions/1", None)
        .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json(), published);
    let arn = format!("{ARN_PREFIX}:deps:1");
    let by_arn = api
        .call(
            Method::GET,
            &format!(
                "/2018-10-31/layers?find=LayerVersion&Arn={}",
                arn.replace(':', "%3A")
            ),
            None,
        )
        .await;
    assert_eq!(by_arn.status, StatusCode::OK, "{:?}", by_arn.body);
    assert_eq!(by_arn.json(), published);
    let download = api
        .call(Method::GET, &format!("/_flint/code/{digest}"), None)
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(&download.body[..], &zip[..]);

    let bare = api.publish("deps", &zip, json!({})).await;
    assert_eq!(bare["Version"], 2);
    assert_eq!(bare["Description"], "");
    for member in [
        "CompatibleRuntimes",
        "CompatibleArchitectures",
        "LicenseInfo",
    ] {
        assert!(
            bare.get(member).is_none(),
            "{member} shown when not set: {bare}"
        );
    }
}

#[tokio::test]
async fn listings_filter_and_page() {
    let api = TestApi::new().await;
    let zip = zip_with(&[("a", "1", 0o644)]);
    let python =
        json!({"CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"]});
    let node = json!({"CompatibleRuntimes": ["nodejs22.x"]});
    api.publish("alpha", &zip, python.clone()).await;
    api.publish("alpha", &zip, node.clone()).await;
    api.publish("beta", &zip, python).await;
    api.publish("gamma", &zip, node).await;

    let list = async |uri: &str| {
        let answer = api.call(Method::GET, uri, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {:?}", answer.body);
        answer.json()
    };
    let versions = list("/2018-10-31/layers/alpha/versions").await;
    let numbers: Vec<&Value> = versions["LayerVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["Version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)], "newest first");
    assert_eq!(
        versions["LayerVersions"][0]["LayerVersionArn"],
        format!("{ARN_PREFIX}:alpha:2")
    );
    assert!(versions.get("NextMarker").is_none());

    let layers = list("/2018-10-31/layers").await;
    let latest: Vec<(String, u64)> = layers["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(
                l["LayerArn"],
                format!("{ARN_PREFIX}:{}", l["LayerName"].as_str().unwrap())
            );
            (
                l["LayerName"].as_str().unwrap().to_string(),
                l["LatestMatchingVersion"]["Version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        latest,
        [("alpha".into(), 2), ("beta".into(), 1), ("gamma".into(), 1)]
    );
    let python_layers = list("/2018-10-31/layers?CompatibleRuntime=python3.12").await;
    let names: Vec<&Value> = python_layers["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["LatestMatchingVersion"]["LayerVersionArn"])
        .collect();
    assert_eq!(
        names,
        [
            &json!(format!("{ARN_PREFIX}:alpha:1")),
            &json!(format!("{ARN_PREFIX}:beta:1"))
        ],
        "the latest *matching* version of each layer"
    );
    let arm = list("/2018-10-31/layers?CompatibleArchitecture=arm64").await;
    assert_eq!(arm["Layers"].as_array().unwrap().len(), 2);

    let first = list("/2018-10-31/layers?MaxItems=2").await;
    assert_eq!(first["Layers"].as_array().unwrap().len(), 2);
    let marker = first["NextMarker"].as_str().unwrap();
    let rest = list(&format!("/2018-10-31/layers?MaxItems=2&Marker={marker}")).await;
    assert_eq!(rest["Layers"][0]["LayerName"], "gamma");
    assert!(rest.get("NextMarker").is_none());
    let first = list("/2018-10-31/layers/alpha/versions?MaxItems=1").await;
    let marker = first["NextMarker"].as_str().unwrap();
    let rest = list(&format!(
        "/2018-10-31/layers/alpha/versions?MaxItems=1&Marker={marker}"
    ))
    .await;
    assert_eq!(rest["LayerVersions"][0]["Version"], 1);

    let unknown = list("/2018-10-31/layers/nobody/versions").await;
    assert_eq!(unknown["LayerVersions"], json!([]));
    let too_many = api
        .call(Method::GET, "/2018-10-31/layers?MaxItems=51", None)
        .await;
    check_error(
        &too_many,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "maxItems",
    );
}

#[tokio::test]
async fn deleted_versions_are_gone_from_the_api() {
    let api = TestApi::new().await;
    let zip = zip_with(&[("a", "1", 0o644)]);
    api.publish("short-lived", &zip, json!({})).await;
    let deleted = api
        .call(
            Method::DELETE,
            "/2018-10-31/layers/short-lived/versions/1",
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = api
        .call(
            Method::DELETE,
            "/2018-10-31/layers/short-lived/versions/1",
            None,
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "deleting twice is fine"
    );
    let fetched = api
        .call(
            Method::GET,
            "/2018-10-31/layers/short-lived/versions/1",
            None,
        )
        .await;
    check_error(
        &fetched,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    );
    let next = api.publish("short-lived", &zip, json!({})).await;
    assert_eq!(next["Version"], 2, "numbers are not reused");
}

#[tokio::test]
async fn publishing_refuses_what_flint_cannot_take() {
    let api = TestApi::new().await;
    let call = async |layer: &str, body: Value| {
        api.call(
            Method::POST,
            &format!("/2018-10-31/layers/{layer}/versions"),
            Some(body),
        )
        .await
    };
    let s3 = call("l", json!({"Content": {"S3Bucket": "b", "S3Key": "k"}})).await;
    check_error(
        &s3,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "ZipFile",
    );
    let none = call("l", json!({})).await;
    check_error(
        &none,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "'content'",
    );
    let not_zip = call("l", json!({"Content": {"ZipFile": base64(b"plain text")}})).await;
    check_error(
        &not_zip,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "unzip",
    );
    let runtime = call(
        "l",
        json!({"Content": {"ZipFile": base64(&zip_with(&[("a", "1", 0o644)]))}, "CompatibleRuntimes": ["cobol"]}),
    )
    .await;
    check_error(
        &runtime,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "compatibleRuntimes",
    );
    let name = call("bad%20name", json!({})).await;
    assert_eq!(name.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn policies_add_get_and_remove_statements() {
    let api = TestApi::new().await;
    api.publish("shared", &zip_with(&[("a", "1", 0o644)]), json!({}))
        .await;
    let policy_path = "/2018-10-31/layers/shared/versions/1/policy";
    let missing = api.call(Method::GET, policy_path, None).await;
    check_error(
        &missing,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
    );

    let permission = json!({"StatementId": "xaccount", "Action": "lambda:GetLayerVersion", "Principal": "210987654321"});
    let added = api
        .call(Method::POST, policy_path, Some(permission.clone()))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let added = added.json();
    let statement: Value = serde_json::from_str(added["Statement"].as_str().unwrap()).unwrap();
    assert_eq!(
        statement,
        json!({
            "Sid": "xaccount",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "lambda:GetLayerVersion",
            "Resource": format!("{ARN_PREFIX}:shared:1"),
        })
    );
    let revision = added["RevisionId"].as_str().unwrap().to_string();

    let duplicate = api.call(Method::POST, policy_path, Some(permission)).await;
    check_error(
        &duplicate,
        StatusCode::CONFLICT,
        "ResourceConflictException",
        "The statement id (xaccount) provided already exists.",
    );
    let stale = api
        .call(
            Method::POST,
            &format!("{policy_path}?RevisionId=not-the-revision"),
            Some(json!({"StatementId": "everyone", "Action": "lambda:GetLayerVersion", "Principal": "*"})),
        )
        .await;
    check_error(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailedException",
        "Revision Id",
    );
    let second = api
        .call(
            Method::POST,
            &format!("{policy_path}?RevisionId={revision}"),
            Some(json!({"StatementId": "org", "Action": "lambda:GetLayerVersion", "Principal": "*", "OrganizationId": "o-abcdefghij"})),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);

    let fetched = api.call(Method::GET, policy_path, None).await;
    assert_eq!(fetched.status, StatusCode::OK);
    let fetched = fetched.json();
    assert_eq!(fetched["RevisionId"], second.json()["RevisionId"]);
    let policy: Value = serde_json::from_str(fetched["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(policy["Id"], "default");
    let sids: Vec<&Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Sid"])
        .collect();
    assert_eq!(sids, [&json!("xaccount"), &json!("org")]);

    let removed = api
        .call(Method::DELETE, &format!("{policy_path}/xaccount"), None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{:?}", removed.body);
    let again = api
        .call(Method::DELETE, &format!("{policy_path}/xaccount"), None)
        .await;
    check_error(
        &again,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "Statement xaccount is not found in resource policy.",
    );
    let no_version = api
        .call(
            Method::GET,
            "/2018-10-31/layers/shared/versions/9/policy",
            None,
        )
        .await;
    check_error(
        &no_version,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "does not exist",
    );
}

#[tokio::test]
async fn functions_run_with_their_layers_in_opt() {
    let api = TestApi::new().await;
    // The function's package has no bootstrap: the custom runtime comes from the layer.
    let runtime = zip_with(&[("bootstrap", ECHO_BOOTSTRAP, 0o755)]);
    let layer = api.publish("runtime", &runtime, json!({})).await;
    let mut body = create_body("layered", &zip_with(&[("data.txt", "1", 0o644)]));
    body["Layers"] = json!([layer["LayerVersionArn"]]);
    let created = api
        .call(Method::POST, "/2015-03-31/functions", Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.json()["Layers"],
        json!([{"Arn": layer["LayerVersionArn"], "CodeSize": runtime.len()}])
    );
    let answer = api.invoke_payload("layered").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.json(), json!({"ping": 1}));

    // A deleted version keeps working for the function that uses it, also in a new
    // environment.
    let deleted = api
        .call(
            Method::DELETE,
            "/2018-10-31/layers/runtime/versions/1",
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let updated = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/layered/configuration",
            Some(json!({"Environment": {"Variables": {"NEW": "environment"}}})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.json()["Layers"][0]["Arn"], layer["LayerVersionArn"]);
    let answer = api.invoke_payload("layered").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert!(
        answer.header("x-amz-function-error").is_none(),
        "{:?}",
        answer.body
    );

    // Removing the layers leaves the function without a bootstrap.
    let cleared = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/layered/configuration",
            Some(json!({"Layers": []})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{:?}", cleared.body);
    assert!(cleared.json().get("Layers").is_none());
    let answer = api.invoke_payload("layered").await;
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    api.control.shutdown().await;
}

#[tokio::test]
async fn functions_refuse_layers_that_cannot_be_used() {
    let api = TestApi::new().await;
    let zip = zip_with(&[("a", "1", 0o644)]);
    for name in ["one", "two", "three", "four", "five", "six"] {
        api.publish(name, &zip, json!({})).await;
    }
    let create = async |layers: Value| {
        let mut body = create_body("refused", &zip_with_bootstrap(ECHO_BOOTSTRAP));
        body["Layers"] = layers;
        api.call(Method::POST, "/2015-03-31/functions", Some(body))
            .await
    };
    let six: Vec<String> = ["one", "two", "three", "four", "five", "six"]
        .iter()
        .map(|n| format!("{ARN_PREFIX}:{n}:1"))
        .collect();
    check_error(
        &create(json!(six)).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    );
    check_error(
        &create(json!([format!("{ARN_PREFIX}:one:7")])).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        &format!("Layer version {ARN_PREFIX}:one:7 does not exist."),
    );
    check_error(
        &create(json!(["arn:aws:lambda:eu-west-1:000000000000:layer:one:1"])).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "Layers are expected to be in region us-east-1.",
    );
    check_error(
        &create(json!(["one"])).await,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "at 'layers' failed to satisfy constraint",
    );
    let listed = api.call(Method::GET, "/2015-03-31/functions", None).await;
    assert_eq!(listed.json()["Functions"], json!([]), "nothing was created");
}
