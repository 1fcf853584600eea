//! `flint ls`: lists the functions in a table, with what flint knows of each at run time:
//! published versions, aliases, warm and busy environments, provisioned concurrency, throttles.

use std::collections::BTreeMap;

use comfy_table::{Table, presets};
use jiff::tz::TimeZone;
use reqwest::Method;
use serde::Deserialize;

use crate::client::function::{FunctionConfiguration, list_path};
use crate::client::http::Flint;
use crate::client::output::{format_last_modified, human_size};
use crate::client::status::{FunctionStatus, fetch_all};

/// One page of ListFunctions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFunctionsPage {
    #[serde(default)]
    functions: Vec<FunctionConfiguration>,
    next_marker: Option<String>,
}

/// Runs `flint ls`.
pub(crate) async fn run(flint: &Flint) -> anyhow::Result<()> {
    let mut functions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let request = flint.request(Method::GET, &list_path(marker.as_deref()));
        let page: ListFunctionsPage = flint.json(request).await?;
        functions.extend(page.functions);
        // A marker equal to the one just sent would loop forever; treat it as the end.
        match page.next_marker.filter(|next| !next.is_empty()) {
            Some(next) if marker.as_deref() != Some(next.as_str()) => marker = Some(next),
            _ => break,
        }
    }
    let statuses: BTreeMap<String, FunctionStatus> = fetch_all(flint)
        .await?
        .functions
        .into_iter()
        .map(|status| (status.function_name.clone(), status))
        .collect();
    println!("{}", render(&functions, &statuses, &TimeZone::system()));
    Ok(())
}

/// The table of `functions` and their `statuses`, with times shown in `zone`, or "no functions".
fn render(
    functions: &[FunctionConfiguration],
    statuses: &BTreeMap<String, FunctionStatus>,
    zone: &TimeZone,
) -> String {
    if functions.is_empty() {
        return "no functions".to_owned();
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "NAME",
        "RUNTIME",
        "MEMORY",
        "TIMEOUT",
        "CODE SIZE",
        "LAST MODIFIED",
        "VERSIONS",
        "ALIASES",
        "WARM",
        "BUSY",
        "PROVISIONED",
        "THROTTLES",
    ]);
    let none = FunctionStatus::default();
    for function in functions {
        let status = statuses.get(&function.function_name).unwrap_or(&none);
        let (warm, busy) = status.warm_and_busy();
        let aliases: Vec<String> = status.aliases.iter().map(|a| a.describe()).collect();
        let (requested, allocated) = status
            .provisioned_concurrency
            .iter()
            .fold((0, 0), |(r, a), p| (r + p.requested, a + p.allocated));
        table.add_row([
            function.function_name.clone(),
            function.runtime.clone().unwrap_or_else(|| "-".to_owned()),
            function
                .memory_size
                .map_or_else(|| "-".to_owned(), |mb| format!("{mb} MB")),
            function
                .timeout
                .map_or_else(|| "-".to_owned(), |seconds| format!("{seconds} s")),
            human_size(function.code_size),
            function
                .last_modified
                .as_deref()
                .map_or_else(|| "-".to_owned(), |text| format_last_modified(text, zone)),
            status.published_versions().to_string(),
            if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(", ")
            },
            warm.to_string(),
            busy.to_string(),
            if requested == 0 {
                "-".to_owned()
            } else {
                format!("{allocated}/{requested}")
            },
            status.throttles.total.to_string(),
        ]);
    }
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_says_so() {
        assert_eq!(
            render(&[], &BTreeMap::new(), &TimeZone::UTC),
            "no functions"
        );
    }

    #[test]
    fn table_has_one_row_per_function() {
        let page: ListFunctionsPage = serde_json::from_str(
            r#"{"Functions":[
                {"FunctionName":"hello","Runtime":"provided.al2023","MemorySize":128,"Timeout":3,
                 "CodeSize":2048,"LastModified":"2020-04-10T19:06:32.563+0000"},
                {"FunctionName":"py","Runtime":"python3.12","MemorySize":1024,"Timeout":900,
                 "CodeSize":3355443,"LastModified":"2021-01-02T03:04:05.000+0000"}],
              "NextMarker":"py"}"#,
        )
        .unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("py"));
        let status: FunctionStatus = serde_json::from_str(
            r#"{"FunctionName":"hello",
                "Versions":[{"Version":"$LATEST"},{"Version":"1"},{"Version":"2"}],
                "Aliases":[{"Name":"live","FunctionVersion":"1","AdditionalVersionWeights":{"2":0.25}}],
                "Throttles":{"Total":4},
                "Environments":[{"Version":"1","Idle":1,"Busy":2,"ProvisionedIdle":1}],
                "ProvisionedConcurrency":[{"Qualifier":"live","Requested":2,"Allocated":1,"Status":"IN_PROGRESS"}]}"#,
        )
        .unwrap();
        let statuses = [("hello".to_owned(), status)].into();
        let lines: Vec<String> = render(&page.functions, &statuses, &TimeZone::UTC)
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            [
                "NAME RUNTIME MEMORY TIMEOUT CODE SIZE LAST MODIFIED VERSIONS ALIASES WARM BUSY PROVISIONED THROTTLES",
                "hello provided.al2023 128 MB 3 s 2.0 KB 2020-04-10 19:06:32 2 live -> 1 (2: 25%) 2 2 1/2 4",
                "py python3.12 1024 MB 900 s 3.2 MB 2021-01-02 03:04:05 0 - 0 0 - 0",
            ]
        );
    }

    #[test]
    fn missing_members_show_a_dash() {
        let function = FunctionConfiguration {
            function_name: "bare".to_owned(),
            ..FunctionConfiguration::default()
        };
        let text = render(&[function], &BTreeMap::new(), &TimeZone::UTC);
        let row = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(row, "bare - - - 0 B - 0 - 0 0 - 0");
    }

    #[test]
    fn a_page_without_marker_is_the_last() {
        let page: ListFunctionsPage = serde_json::from_str(r#"{"Functions":[]}"#).unwrap();
        assert!(page.functions.is_empty());
        assert!(page.next_marker.is_none());
    }
}
