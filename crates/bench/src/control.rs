//! The Lambda control-plane calls the benchmark makes: deploy the echo function (with layers, for
//! the extension scenario), change its configuration to force cold starts, delete it, and publish
//! and delete layer versions.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};

use crate::server::Endpoint;

/// Memory of the function under test. Lambda gives a function CPU in proportion to its memory,
/// one vCPU at 1,769 MB, and so does flint's sandbox; with less, the function's own CPU quota,
/// not the platform, would set the numbers.
pub(crate) const MEMORY_MB: u32 = 1769;

/// How long a function may stay `Pending` or `InProgress` after a change.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for the functions API of one flint.
#[derive(Debug, Clone)]
pub(crate) struct ControlPlane {
    http: reqwest::Client,
    functions_url: String,
    layers_url: String,
}

impl ControlPlane {
    pub(crate) fn new(endpoint: &Endpoint) -> Self {
        Self {
            http: reqwest::Client::new(),
            functions_url: endpoint.functions_url(),
            layers_url: format!("{}/2018-10-31/layers", endpoint.url),
        }
    }

    /// CreateFunction with a `provided.al2023` runtime and the smallest memory size, then waits
    /// until the function is `Active`.
    pub(crate) async fn create_function(&self, name: &str, zip: &[u8]) -> anyhow::Result<()> {
        self.create_function_with_layers(name, zip, &[]).await
    }

    /// CreateFunction as [`ControlPlane::create_function`], with `layers` (layer version ARNs).
    pub(crate) async fn create_function_with_layers(
        &self,
        name: &str,
        zip: &[u8],
        layers: &[String],
    ) -> anyhow::Result<()> {
        let body = json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Role": "arn:aws:iam::000000000000:role/flint-bench",
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
            "MemorySize": MEMORY_MB,
            "Timeout": 3,
            "Layers": layers,
        });
        let request = self.http.post(&self.functions_url).json(&body);
        let configuration = call(request, &format!("create function {name}")).await?;
        self.settle(name, configuration).await
    }

    /// UpdateFunctionConfiguration that replaces the function's environment variables, which
    /// retires its warm environments; returns once the update is `Successful`.
    pub(crate) async fn set_environment(
        &self,
        name: &str,
        variables: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let variables: serde_json::Map<String, Value> = variables
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Value::from(value.as_str())))
            .collect();
        let body = json!({"Environment": {"Variables": variables}});
        let request = self
            .http
            .put(format!("{}/{name}/configuration", self.functions_url))
            .json(&body);
        let configuration = call(request, &format!("update configuration of {name}")).await?;
        self.settle(name, configuration).await
    }

    /// PublishLayerVersion of `zip` as the next version of layer `name`; returns the new
    /// version's ARN and number.
    pub(crate) async fn publish_layer(
        &self,
        name: &str,
        zip: &[u8],
    ) -> anyhow::Result<(String, u64)> {
        let body =
            json!({"Content": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)}});
        let request = self
            .http
            .post(format!("{}/{name}/versions", self.layers_url))
            .json(&body);
        let version = call(request, &format!("publish layer {name}")).await?;
        let arn = version["LayerVersionArn"]
            .as_str()
            .with_context(|| format!("publish layer {name}: no LayerVersionArn in {version}"))?;
        let number = version["Version"]
            .as_u64()
            .with_context(|| format!("publish layer {name}: no Version in {version}"))?;
        Ok((arn.to_owned(), number))
    }

    /// DeleteLayerVersion.
    pub(crate) async fn delete_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> anyhow::Result<()> {
        let request = self
            .http
            .delete(format!("{}/{name}/versions/{version}", self.layers_url));
        call(request, &format!("delete layer {name} version {version}")).await?;
        Ok(())
    }

    /// DeleteFunction.
    pub(crate) async fn delete_function(&self, name: &str) -> anyhow::Result<()> {
        let request = self.http.delete(format!("{}/{name}", self.functions_url));
        call(request, &format!("delete function {name}")).await?;
        Ok(())
    }

    /// Waits until a function is `Active` and its last update `Successful`, starting from the
    /// configuration a change returned.
    async fn settle(&self, name: &str, mut configuration: Value) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            match readiness(&configuration) {
                Readiness::Ready => return Ok(()),
                Readiness::Failed(reason) => bail!("function {name} failed: {reason}"),
                Readiness::Pending if Instant::now() > deadline => bail!(
                    "function {name} was not ready within {}s: {configuration}",
                    SETTLE_TIMEOUT.as_secs()
                ),
                Readiness::Pending => {}
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let request = self
                .http
                .get(format!("{}/{name}/configuration", self.functions_url));
            configuration = call(request, &format!("get configuration of {name}")).await?;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Readiness {
    Ready,
    Pending,
    Failed(String),
}

/// Reads `State` and `LastUpdateStatus` as AWS's `FunctionActive` and `FunctionUpdated` waiters
/// do; a missing field counts as done.
fn readiness(configuration: &Value) -> Readiness {
    let state = configuration["State"].as_str().unwrap_or("Active");
    let update = configuration["LastUpdateStatus"]
        .as_str()
        .unwrap_or("Successful");
    if state == "Failed" || update == "Failed" {
        let reason = [
            &configuration["StateReason"],
            &configuration["LastUpdateStatusReason"],
        ]
        .into_iter()
        .find_map(Value::as_str)
        .unwrap_or("no reason given");
        return Readiness::Failed(reason.to_owned());
    }
    if state == "Active" && update == "Successful" {
        Readiness::Ready
    } else {
        Readiness::Pending
    }
}

/// Sends a control-plane request and returns its JSON body (`null` for an empty one); a
/// status other than 2xx is an error that carries AWS's error body.
async fn call(request: reqwest::RequestBuilder, action: &str) -> anyhow::Result<Value> {
    let response = request.send().await.with_context(|| action.to_owned())?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{action}: read the response"))?;
    if !status.is_success() {
        bail!("{action}: flint answered {status}: {text}");
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{action}: the response is not JSON: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_state_and_last_update_status() {
        let check = |configuration: Value, expect: Readiness| {
            assert_eq!(readiness(&configuration), expect, "{configuration}");
        };
        check(
            json!({"State": "Active", "LastUpdateStatus": "Successful"}),
            Readiness::Ready,
        );
        check(json!({"FunctionName": "f"}), Readiness::Ready);
        check(json!({"State": "Pending"}), Readiness::Pending);
        check(
            json!({"State": "Active", "LastUpdateStatus": "InProgress"}),
            Readiness::Pending,
        );
        check(
            json!({"State": "Failed", "StateReason": "bad zip"}),
            Readiness::Failed("bad zip".to_owned()),
        );
        check(
            json!({"State": "Active", "LastUpdateStatus": "Failed", "LastUpdateStatusReason": "no"}),
            Readiness::Failed("no".to_owned()),
        );
        check(
            json!({"State": "Failed"}),
            Readiness::Failed("no reason given".to_owned()),
        );
    }
}
