//! `flint status NAME`: a function's versions, aliases (with their weights), what its
//! environments are doing, its concurrency and throttles, read from flint's own status endpoint
//! (`GET /_flint/status/{FunctionName}`; Lambda has no API for runtime state). `flint ls` uses
//! the same shape for every function (`GET /_flint/status`).

use std::collections::BTreeMap;

use comfy_table::{Table, presets};
use jiff::tz::TimeZone;
use reqwest::Method;
use serde::Deserialize;

use crate::client::http::{Flint, encode};
use crate::client::output::format_last_modified;

/// Where flint serves the status of functions.
const STATUS_PATH: &str = "/_flint/status";

/// Options of `flint status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Name or ARN of the function.
    name: String,
}

/// The status of every function (`GET /_flint/status`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AllStatus {
    pub(crate) functions: Vec<FunctionStatus>,
}

/// The status of one function, as flint serves it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct FunctionStatus {
    pub(crate) function_name: String,
    pub(crate) versions: Vec<VersionStatus>,
    pub(crate) aliases: Vec<AliasStatus>,
    pub(crate) concurrency: ConcurrencyStatus,
    pub(crate) throttles: Throttles,
    pub(crate) environments: Vec<Environments>,
    pub(crate) provisioned_concurrency: Vec<Provisioned>,
    #[serde(rename = "Async")]
    pub(crate) async_events: AsyncEvents,
}

/// The function's asynchronous invocations: queued and running now, failed since the start.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AsyncEvents {
    pub(crate) queued: u64,
    pub(crate) in_flight: u64,
    pub(crate) failed: u64,
    pub(crate) oldest_age_seconds: Option<f64>,
}

impl AsyncEvents {
    /// `queued 4, running 1, failed 0, oldest 2.5 s`.
    fn describe(&self) -> String {
        let oldest = self
            .oldest_age_seconds
            .map_or_else(String::new, |age| format!(", oldest {age:.1} s"));
        format!(
            "queued {}, running {}, failed {}{oldest}",
            self.queued, self.in_flight, self.failed
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct VersionStatus {
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    pub(crate) description: String,
    pub(crate) last_modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AliasStatus {
    pub(crate) name: String,
    pub(crate) function_version: String,
    pub(crate) additional_version_weights: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ConcurrencyStatus {
    pub(crate) reserved_concurrent_executions: Option<u32>,
    pub(crate) in_flight: u32,
    pub(crate) provisioned: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Throttles {
    #[serde(rename = "Total")]
    pub(crate) total: u64,
    #[serde(rename = "ReservedFunctionConcurrentInvocationLimitExceeded")]
    pub(crate) reserved: u64,
    #[serde(rename = "ConcurrentInvocationLimitExceeded")]
    pub(crate) account: u64,
    #[serde(rename = "FunctionInvocationRateLimitExceeded")]
    pub(crate) rate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Environments {
    pub(crate) version: String,
    pub(crate) idle: u32,
    pub(crate) busy: u32,
    pub(crate) provisioned_idle: u32,
    pub(crate) provisioned_busy: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Provisioned {
    pub(crate) qualifier: String,
    pub(crate) requested: u32,
    pub(crate) allocated: u32,
    pub(crate) available: u32,
    pub(crate) status: String,
    pub(crate) status_reason: Option<String>,
}

impl FunctionStatus {
    /// Warm (idle) and busy environments over every version, provisioned ones included.
    pub(crate) fn warm_and_busy(&self) -> (u32, u32) {
        self.environments.iter().fold((0, 0), |(idle, busy), e| {
            (
                idle + e.idle + e.provisioned_idle,
                busy + e.busy + e.provisioned_busy,
            )
        })
    }

    /// Published versions, `$LATEST` not counted.
    pub(crate) fn published_versions(&self) -> usize {
        self.versions
            .iter()
            .filter(|v| v.version != "$LATEST")
            .count()
    }
}

impl AliasStatus {
    /// `live -> 1`, or `live -> 1 (2: 10%)` for a weighted alias.
    pub(crate) fn describe(&self) -> String {
        let weights: Vec<String> = self
            .additional_version_weights
            .iter()
            .map(|(version, weight)| format!("{version}: {}", percent(*weight)))
            .collect();
        if weights.is_empty() {
            format!("{} -> {}", self.name, self.function_version)
        } else {
            format!(
                "{} -> {} ({})",
                self.name,
                self.function_version,
                weights.join(", ")
            )
        }
    }
}

/// A weight as a percentage, without needless decimals: `10%`, `2.5%`.
fn percent(weight: f64) -> String {
    let value = weight * 100.0;
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}%")
    } else {
        format!("{value:.1}%")
    }
}

/// The status of every function, by name.
pub(crate) async fn fetch_all(flint: &Flint) -> anyhow::Result<AllStatus> {
    let request = flint.request(Method::GET, STATUS_PATH);
    Ok(flint.json(request).await?)
}

/// Runs `flint status`.
pub(crate) async fn run(flint: &Flint, args: StatusArgs) -> anyhow::Result<()> {
    let path = format!("{STATUS_PATH}/{}", encode(&args.name));
    let status: FunctionStatus = flint.json(flint.request(Method::GET, &path)).await?;
    println!("{}", render(&status, &TimeZone::system()));
    Ok(())
}

/// Everything `flint status` prints, sections separated by blank lines.
fn render(status: &FunctionStatus, zone: &TimeZone) -> String {
    let concurrency = &status.concurrency;
    let reserved = concurrency
        .reserved_concurrent_executions
        .map_or_else(|| "none".to_owned(), |n| n.to_string());
    let throttles = &status.throttles;
    let mut sections = vec![format!(
        "function     {}\nconcurrency  reserved {reserved}, running {}, provisioned {}\nthrottles    {} (reserved {}, account {}, scaling rate {})\nasync        {}",
        status.function_name,
        concurrency.in_flight,
        concurrency.provisioned,
        throttles.total,
        throttles.reserved,
        throttles.account,
        throttles.rate,
        status.async_events.describe(),
    )];

    let mut versions = table(&["VERSION", "CODE SHA256", "LAST MODIFIED", "DESCRIPTION"]);
    for version in &status.versions {
        versions.add_row([
            version.version.clone(),
            version.code_sha256.chars().take(12).collect(),
            format_last_modified(&version.last_modified, zone),
            version.description.clone(),
        ]);
    }
    sections.push(versions.trim_fmt());

    if status.aliases.is_empty() {
        sections.push("no aliases".to_owned());
    } else {
        let mut aliases = table(&["ALIAS", "VERSION", "ROUTING"]);
        for alias in &status.aliases {
            let routing: Vec<String> = alias
                .additional_version_weights
                .iter()
                .map(|(version, weight)| format!("{version}: {}", percent(*weight)))
                .collect();
            aliases.add_row([
                alias.name.clone(),
                alias.function_version.clone(),
                if routing.is_empty() {
                    "-".to_owned()
                } else {
                    routing.join(", ")
                },
            ]);
        }
        sections.push(aliases.trim_fmt());
    }

    if status.environments.is_empty() {
        sections.push("no environments".to_owned());
    } else {
        let mut environments = table(&[
            "VERSION",
            "WARM",
            "BUSY",
            "PROVISIONED WARM",
            "PROVISIONED BUSY",
        ]);
        for e in &status.environments {
            environments.add_row([
                e.version.clone(),
                e.idle.to_string(),
                e.busy.to_string(),
                e.provisioned_idle.to_string(),
                e.provisioned_busy.to_string(),
            ]);
        }
        sections.push(environments.trim_fmt());
    }

    if !status.provisioned_concurrency.is_empty() {
        let mut provisioned = table(&["PROVISIONED", "REQUESTED", "ALLOCATED", "STATUS"]);
        for p in &status.provisioned_concurrency {
            let state = match &p.status_reason {
                Some(reason) => format!("{} ({reason})", p.status),
                None => p.status.clone(),
            };
            provisioned.add_row([
                p.qualifier.clone(),
                p.requested.to_string(),
                p.allocated.to_string(),
                state,
            ]);
        }
        sections.push(provisioned.trim_fmt());
    }
    sections.join("\n\n")
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FunctionStatus {
        serde_json::from_str(
            r#"{"FunctionName":"hello",
                "Versions":[
                  {"Version":"$LATEST","CodeSha256":"YFgDgEKG3ugvF1+pX64gV6tu9qNuIYNUdgJm8nCxsm4=","Description":"","LastModified":"2020-04-10T19:06:32.563+0000"},
                  {"Version":"1","CodeSha256":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","Description":"first","LastModified":"2020-04-11T08:00:00.000+0000"}],
                "Aliases":[{"Name":"live","FunctionVersion":"1","AdditionalVersionWeights":{"2":0.1}},
                           {"Name":"edge","FunctionVersion":"$LATEST"}],
                "Concurrency":{"ReservedConcurrentExecutions":5,"InFlight":1,"Provisioned":2},
                "Throttles":{"Total":3,"ReservedFunctionConcurrentInvocationLimitExceeded":2,
                             "ConcurrentInvocationLimitExceeded":0,"FunctionInvocationRateLimitExceeded":1},
                "Environments":[{"Version":"1","Idle":1,"Busy":1,"ProvisionedIdle":2,"ProvisionedBusy":0}],
                "ProvisionedConcurrency":[{"Qualifier":"live","Requested":2,"Allocated":2,"Available":2,"Status":"READY"}],
                "Async":{"Queued":4,"InFlight":1,"Failed":2,"OldestAgeSeconds":2.54}}"#,
        )
        .unwrap()
    }

    fn squeezed(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn status_shows_every_section() {
        let lines = squeezed(&render(&sample(), &TimeZone::UTC));
        for expected in [
            "function hello",
            "concurrency reserved 5, running 1, provisioned 2",
            "throttles 3 (reserved 2, account 0, scaling rate 1)",
            "async queued 4, running 1, failed 2, oldest 2.5 s",
            "$LATEST YFgDgEKG3ugv 2020-04-10 19:06:32",
            "1 47DEQpj8HBSa 2020-04-11 08:00:00 first",
            "live 1 2: 10%",
            "edge $LATEST -",
            "1 1 1 2 0",
            "live 2 2 READY",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected:?} not in {lines:#?}"
            );
        }
    }

    #[test]
    fn a_function_with_nothing_running_says_so() {
        let status = FunctionStatus {
            function_name: "quiet".to_owned(),
            ..FunctionStatus::default()
        };
        let text = render(&status, &TimeZone::UTC);
        assert!(text.contains("reserved none"), "{text}");
        assert!(
            text.contains("async        queued 0, running 0, failed 0\n"),
            "{text}"
        );
        assert!(text.contains("no aliases"), "{text}");
        assert!(text.contains("no environments"), "{text}");
        assert!(!text.contains("PROVISIONED"), "{text}");
    }

    #[test]
    fn summaries_for_ls() {
        let status = sample();
        assert_eq!(status.warm_and_busy(), (3, 1));
        assert_eq!(status.published_versions(), 1);
        assert_eq!(status.aliases[0].describe(), "live -> 1 (2: 10%)");
        assert_eq!(status.aliases[1].describe(), "edge -> $LATEST");
        assert_eq!(percent(0.025), "2.5%");
    }
}
