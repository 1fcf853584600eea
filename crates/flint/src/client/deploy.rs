//! `flint deploy`: creates a function, or updates its code and configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde::Serialize;

use crate::client::DEFAULT_ENDPOINT;
use crate::client::function::{FunctionConfiguration, GetFunctionOutput, function_path};
use crate::client::http::{CallError, Flint};
use crate::client::output::{human_size, spinner};

/// The role recorded with a new function when `--role` is not given; flint does not enforce IAM.
const DEFAULT_ROLE: &str = "arn:aws:iam::000000000000:role/flint";

/// How often, and how long at most, deploy waits for a function to leave `Pending` or
/// `InProgress`, as `aws lambda wait function-updated` does.
const SETTLE_POLL: Duration = Duration::from_millis(250);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of `flint deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    /// A directory (zipped on the fly) or a .zip file with the function's code.
    #[arg(value_name = "DIR|ZIP")]
    path: PathBuf,
    /// Name of the function to create or update.
    #[arg(long)]
    name: String,
    /// Runtime, e.g. provided.al2023, python3.12, nodejs22.x.
    #[arg(long)]
    runtime: String,
    /// Handler, e.g. bootstrap, app.handler, index.handler.
    #[arg(long)]
    handler: String,
    /// An environment variable; repeat for more. When given, the variables replace the
    /// function's whole set; when absent, the set is left unchanged.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_var)]
    env: Vec<(String, String)>,
    /// Memory in MB (128 to 10240).
    #[arg(long, value_name = "MB")]
    memory: Option<u32>,
    /// Timeout in seconds (1 to 900).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u32>,
    /// A description of the function.
    #[arg(long)]
    description: Option<String>,
    /// Execution role ARN [default for new functions: arn:aws:iam::000000000000:role/flint].
    #[arg(long)]
    role: Option<String>,
}

/// Parses one `--env KEY=VALUE`; the value may itself contain `=`.
fn parse_env_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// The body of CreateFunction.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFunction<'a> {
    function_name: &'a str,
    role: &'a str,
    runtime: &'a str,
    handler: &'a str,
    code: ZipFile,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
}

/// The body of UpdateFunctionConfiguration: only what the command line sets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfiguration<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    runtime: &'a str,
    handler: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
}

/// `Code` of CreateFunction and the body of UpdateFunctionCode: the zip, base64-encoded.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ZipFile {
    zip_file: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Environment {
    variables: BTreeMap<String, String>,
}

impl DeployArgs {
    /// The variables of `--env` (a later one wins over an earlier one with the same key), or
    /// `None` when no `--env` was given.
    fn environment(&self) -> Option<Environment> {
        (!self.env.is_empty()).then(|| Environment {
            variables: self.env.iter().cloned().collect(),
        })
    }

    fn create_body(&self, zip: &[u8]) -> CreateFunction<'_> {
        CreateFunction {
            function_name: &self.name,
            role: self.role.as_deref().unwrap_or(DEFAULT_ROLE),
            runtime: &self.runtime,
            handler: &self.handler,
            code: ZipFile {
                zip_file: BASE64.encode(zip),
            },
            description: self.description.as_deref(),
            timeout: self.timeout,
            memory_size: self.memory,
            environment: self.environment(),
        }
    }

    fn update_configuration_body(&self) -> UpdateConfiguration<'_> {
        UpdateConfiguration {
            role: self.role.as_deref(),
            runtime: &self.runtime,
            handler: &self.handler,
            description: self.description.as_deref(),
            timeout: self.timeout,
            memory_size: self.memory,
            environment: self.environment(),
        }
    }
}

/// Whether the function was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
}

/// Runs `flint deploy`.
pub(crate) async fn run(flint: &Flint, args: DeployArgs) -> anyhow::Result<()> {
    let zip = read_code(&args.path).await?;
    let (config, outcome) = match get_function(flint, &args.name).await? {
        None => (create(flint, &args, &zip).await?, Outcome::Created),
        Some(_) => {
            let config = upload_code(flint, &args.name, &zip).await?;
            // Lambda refuses a configuration change while the code update is in progress.
            wait_until_settled(flint, &args.name, config).await?;
            let request = flint
                .request(Method::PUT, &function_path(&args.name, "/configuration"))
                .json(&args.update_configuration_body());
            (flint.json(request).await?, Outcome::Updated)
        }
    };
    let config = wait_until_settled(flint, &args.name, config).await?;
    print!("{}", summary(&config, outcome, flint.endpoint()));
    Ok(())
}

/// CreateFunction with the code and every setting given.
async fn create(
    flint: &Flint,
    args: &DeployArgs,
    zip: &[u8],
) -> Result<FunctionConfiguration, CallError> {
    let _uploading = spinner(format!("uploading {}", human_size(zip.len() as u64)));
    let request = flint
        .request(Method::POST, "/2015-03-31/functions")
        .json(&args.create_body(zip));
    flint.json(request).await
}

/// UpdateFunctionCode with a new zip.
async fn upload_code(
    flint: &Flint,
    name: &str,
    zip: &[u8],
) -> Result<FunctionConfiguration, CallError> {
    let _uploading = spinner(format!("uploading {}", human_size(zip.len() as u64)));
    let code = ZipFile {
        zip_file: BASE64.encode(zip),
    };
    flint
        .json(
            flint
                .request(Method::PUT, &function_path(name, "/code"))
                .json(&code),
        )
        .await
}

/// The deployment package: `path` zipped if it is a directory, else the zip file itself.
async fn read_code(path: &Path) -> anyhow::Result<Vec<u8>> {
    let metadata = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if metadata.is_dir() {
        let _zipping = spinner(format!("zipping {}", path.display()));
        let dir = path.to_owned();
        return tokio::task::spawn_blocking(move || package::zip_dir(&dir))
            .await?
            .with_context(|| format!("cannot zip {}", path.display()));
    }
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !looks_like_zip(&bytes) {
        anyhow::bail!("{} is neither a directory nor a zip file", path.display());
    }
    Ok(bytes)
}

/// Whether `bytes` start like a zip archive (a local file header, or the end record of an
/// empty archive).
fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The function's configuration, or `None` if there is no function of that name.
async fn get_function(
    flint: &Flint,
    name: &str,
) -> Result<Option<FunctionConfiguration>, CallError> {
    let request = flint.request(Method::GET, &function_path(name, ""));
    match flint.json::<GetFunctionOutput>(request).await {
        Ok(output) => Ok(Some(output.configuration)),
        Err(error) if error.aws().is_some_and(|aws| aws.is_not_found()) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Polls the function until its last change is done and returns its configuration then.
async fn wait_until_settled(
    flint: &Flint,
    name: &str,
    mut config: FunctionConfiguration,
) -> anyhow::Result<FunctionConfiguration> {
    if config.is_settled() {
        return Ok(config);
    }
    let _waiting = spinner(format!("waiting for {name} to become ready"));
    let polls = SETTLE_TIMEOUT.as_millis() / SETTLE_POLL.as_millis();
    for _ in 0..polls {
        tokio::time::sleep(SETTLE_POLL).await;
        let request = flint.request(Method::GET, &function_path(name, "/configuration"));
        config = flint.json(request).await?;
        if config.is_settled() {
            return Ok(config);
        }
    }
    anyhow::bail!(
        "{name} is still {} after {}s",
        config.state.as_deref().unwrap_or("updating"),
        SETTLE_TIMEOUT.as_secs()
    )
}

/// What deploy prints: the function, its code and how to try it.
fn summary(config: &FunctionConfiguration, outcome: Outcome, endpoint: &str) -> String {
    let verb = match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
    };
    let endpoint_flag = if endpoint == DEFAULT_ENDPOINT {
        String::new()
    } else {
        format!(" --endpoint {endpoint}")
    };
    format!(
        "{verb} {name}\n  runtime    {runtime}\n  code size  {size}\n  sha256     {sha}\n  \
         state      {state}\ntry it: flint{endpoint_flag} invoke {name} --payload '{{}}'\n",
        name = config.function_name,
        runtime = config.runtime.as_deref().unwrap_or("-"),
        size = human_size(config.code_size),
        sha = config.code_sha256,
        state = config.state.as_deref().unwrap_or("-"),
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: DeployArgs,
    }

    fn parse(line: &[&str]) -> DeployArgs {
        Cli::try_parse_from(std::iter::once("deploy").chain(line.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn env_vars_are_key_value_pairs() {
        let check = |text, expect: Result<(&str, &str), ()>| {
            let expect = expect.map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(parse_env_var(text).map_err(|_| ()), expect, "{text}");
        };
        check("A=1", Ok(("A", "1")));
        check("A=", Ok(("A", "")));
        check("URL=http://x/?a=b", Ok(("URL", "http://x/?a=b")));
        check("A", Err(()));
        check("=1", Err(()));
    }

    #[test]
    fn create_body_carries_the_code_and_given_settings() {
        let args = parse(&[
            "fn-dir",
            "--name",
            "hello",
            "--runtime",
            "provided.al2023",
            "--handler",
            "bootstrap",
            "--env",
            "B=2",
            "--env",
            "A=1",
            "--env",
            "B=3",
            "--memory",
            "256",
        ]);
        let body = serde_json::to_value(args.create_body(b"zip")).unwrap();
        assert_eq!(
            body,
            json!({
                "FunctionName": "hello",
                "Role": "arn:aws:iam::000000000000:role/flint",
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Code": {"ZipFile": "emlw"},
                "MemorySize": 256,
                "Environment": {"Variables": {"A": "1", "B": "3"}},
            })
        );
    }

    #[test]
    fn create_body_uses_the_given_role() {
        let args = parse(&[
            "f.zip",
            "--name",
            "f",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--role",
            "arn:aws:iam::123456789012:role/r",
            "--timeout",
            "10",
            "--description",
            "d",
        ]);
        let body = serde_json::to_value(args.create_body(b"")).unwrap();
        assert_eq!(body["Role"], "arn:aws:iam::123456789012:role/r");
        assert_eq!(body["Timeout"], 10);
        assert_eq!(body["Description"], "d");
        assert!(body.get("Environment").is_none());
    }

    #[test]
    fn update_body_leaves_unset_fields_out() {
        let args = parse(&[
            "f",
            "--name",
            "f",
            "--runtime",
            "nodejs22.x",
            "--handler",
            "index.h",
        ]);
        let body = serde_json::to_value(args.update_configuration_body()).unwrap();
        assert_eq!(body, json!({"Runtime": "nodejs22.x", "Handler": "index.h"}));

        let args = parse(&[
            "f",
            "--name",
            "f",
            "--runtime",
            "nodejs22.x",
            "--handler",
            "index.h",
            "--env",
            "K=v",
            "--timeout",
            "30",
        ]);
        let body = serde_json::to_value(args.update_configuration_body()).unwrap();
        assert_eq!(
            body,
            json!({
                "Runtime": "nodejs22.x",
                "Handler": "index.h",
                "Timeout": 30,
                "Environment": {"Variables": {"K": "v"}},
            })
        );
    }

    #[test]
    fn name_runtime_and_handler_are_required() {
        let missing = Cli::try_parse_from(["deploy", "dir", "--name", "f", "--runtime", "x"]);
        assert!(missing.is_err());
    }

    #[test]
    fn zip_files_are_recognised_by_their_signature() {
        assert!(looks_like_zip(b"PK\x03\x04rest"));
        assert!(looks_like_zip(b"PK\x05\x06\0\0"));
        assert!(!looks_like_zip(b"#!/bin/sh\n"));
        assert!(!looks_like_zip(b""));
    }

    #[test]
    fn summary_shows_the_function_and_how_to_invoke_it() {
        let config = FunctionConfiguration {
            function_name: "hello".to_owned(),
            runtime: Some("provided.al2023".to_owned()),
            code_size: 3_355_443,
            code_sha256: "YFgD=".to_owned(),
            state: Some("Active".to_owned()),
            ..FunctionConfiguration::default()
        };
        assert_eq!(
            summary(&config, Outcome::Created, DEFAULT_ENDPOINT),
            "created hello\n  runtime    provided.al2023\n  code size  3.2 MB\n  sha256     YFgD=\n  \
             state      Active\ntry it: flint invoke hello --payload '{}'\n"
        );
        let text = summary(&config, Outcome::Updated, "http://10.0.0.1:9000");
        assert!(text.starts_with("updated hello\n"), "{text}");
        assert!(
            text.ends_with(
                "try it: flint --endpoint http://10.0.0.1:9000 invoke hello --payload '{}'\n"
            ),
            "{text}"
        );
    }
}
