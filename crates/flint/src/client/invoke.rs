//! `flint invoke`: calls a function synchronously and prints its answer.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::client::function::function_path;
use crate::client::http::{Flint, encode};

/// Options of `flint invoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct InvokeArgs {
    /// Name or ARN of the function.
    name: String,
    /// The event: JSON text, @FILE to read it from a file, or @- to read it from stdin.
    #[arg(long, default_value = "{}", value_parser = parse_payload)]
    payload: Payload,
    /// Print the end of the invocation's log (up to 4 KB) on stderr.
    #[arg(long)]
    tail: bool,
    /// Version or alias to invoke.
    #[arg(long)]
    qualifier: Option<String>,
}

/// Where the event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    Inline(String),
    File(PathBuf),
    Stdin,
}

/// Parses `--payload`: `@-` is stdin, `@PATH` a file, anything else the event itself.
fn parse_payload(text: &str) -> Result<Payload, std::convert::Infallible> {
    Ok(match text.strip_prefix('@') {
        Some("-") => Payload::Stdin,
        Some(path) => Payload::File(PathBuf::from(path)),
        None => Payload::Inline(text.to_owned()),
    })
}

impl Payload {
    async fn read(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Payload::Inline(text) => Ok(text.clone().into_bytes()),
            Payload::File(path) => tokio::fs::read(path)
                .await
                .with_context(|| format!("cannot read the payload from {}", path.display())),
            Payload::Stdin => tokio::task::spawn_blocking(|| {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
            })
            .await?
            .context("cannot read the payload from stdin"),
        }
    }
}

/// The Invoke path, with `?Qualifier=` when a qualifier is given.
fn invocation_path(name: &str, qualifier: Option<&str>) -> String {
    let path = function_path(name, "/invocations");
    match qualifier {
        Some(qualifier) => format!("{path}?Qualifier={}", encode(qualifier)),
        None => path,
    }
}

/// The text of `X-Amz-Log-Result` (base64 of the log's last 4 KB).
fn decode_log(header: &str) -> anyhow::Result<String> {
    let bytes = BASE64
        .decode(header.trim())
        .context("X-Amz-Log-Result is not base64")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `text` followed by a line break unless it is empty or already ends with one, so the shell
/// prompt starts on a line of its own.
fn terminated(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last().is_some_and(|last| *last != b'\n') {
        bytes.push(b'\n');
    }
    bytes
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Runs `flint invoke`. A function error is printed like a result, then returned as an error so
/// that the command exits with status 1.
pub(crate) async fn run(flint: &Flint, args: InvokeArgs) -> anyhow::Result<()> {
    let payload = args.payload.read().await?;
    let path = invocation_path(&args.name, args.qualifier.as_deref());
    let mut request = flint.request(Method::POST, &path).body(payload);
    if args.tail {
        request = request.header("X-Amz-Log-Type", "Tail");
    }
    let response = flint.send(request).await?;
    let function_error = header(response.headers(), "X-Amz-Function-Error");
    let log = header(response.headers(), "X-Amz-Log-Result");
    let body = response
        .bytes()
        .await
        .context("cannot read the invocation's answer")?;
    if let Some(log) = log {
        std::io::stderr().write_all(&terminated(decode_log(&log)?.into_bytes()))?;
    }
    std::io::stdout().write_all(&terminated(body.to_vec()))?;
    match function_error {
        Some(kind) => anyhow::bail!("function {} returned an error ({kind})", args.name),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_text_a_file_or_stdin() {
        let check = |text, expect| assert_eq!(parse_payload(text).unwrap(), expect, "{text}");
        check(r#"{"a":1}"#, Payload::Inline(r#"{"a":1}"#.to_owned()));
        check("@event.json", Payload::File(PathBuf::from("event.json")));
        check("@/tmp/e.json", Payload::File(PathBuf::from("/tmp/e.json")));
        check("@-", Payload::Stdin);
        check("", Payload::Inline(String::new()));
    }

    #[tokio::test]
    async fn payload_file_is_read() {
        let path = std::env::temp_dir().join(format!("flint-payload-{}.json", std::process::id()));
        std::fs::write(&path, br#"{"from":"file"}"#).unwrap();
        let bytes = Payload::File(path.clone()).read().await;
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.unwrap(), br#"{"from":"file"}"#);
        let missing = Payload::File(PathBuf::from("/nonexistent/e.json"))
            .read()
            .await;
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/e.json")
        );
    }

    #[test]
    fn qualifier_goes_to_the_query() {
        assert_eq!(
            invocation_path("f", None),
            "/2015-03-31/functions/f/invocations"
        );
        assert_eq!(
            invocation_path("f", Some("$LATEST")),
            "/2015-03-31/functions/f/invocations?Qualifier=%24LATEST"
        );
        assert_eq!(
            invocation_path("f", Some("live")),
            "/2015-03-31/functions/f/invocations?Qualifier=live"
        );
    }

    #[test]
    fn log_result_is_base64_text() {
        let encoded = BASE64.encode("START RequestId: 1\nhello\nEND RequestId: 1\n");
        assert_eq!(
            decode_log(&encoded).unwrap(),
            "START RequestId: 1\nhello\nEND RequestId: 1\n"
        );
        assert!(decode_log("not base64!").is_err());
    }

    #[test]
    fn output_ends_with_a_line_break() {
        assert_eq!(terminated(b"{}".to_vec()), b"{}\n");
        assert_eq!(terminated(b"{}\n".to_vec()), b"{}\n");
        assert_eq!(terminated(Vec::new()), b"");
    }
}
