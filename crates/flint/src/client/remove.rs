//! `flint rm`: deletes a function.

use reqwest::Method;

use crate::client::function::function_path;
use crate::client::http::Flint;

/// Options of `flint rm`.
#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// Name or ARN of the function.
    name: String,
}

/// Runs `flint rm`.
pub(crate) async fn run(flint: &Flint, args: RemoveArgs) -> anyhow::Result<()> {
    flint
        .send(flint.request(Method::DELETE, &function_path(&args.name, "")))
        .await?;
    println!("deleted {}", args.name);
    Ok(())
}
