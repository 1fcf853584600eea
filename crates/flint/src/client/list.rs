//! `flint ls`: lists the functions in a table.

use comfy_table::{Table, presets};
use jiff::tz::TimeZone;
use reqwest::Method;
use serde::Deserialize;

use crate::client::function::{FunctionConfiguration, list_path};
use crate::client::http::Flint;
use crate::client::output::{format_last_modified, human_size};

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
    println!("{}", render(&functions, &TimeZone::system()));
    Ok(())
}

/// The table of `functions`, with times shown in `zone`, or "no functions".
fn render(functions: &[FunctionConfiguration], zone: &TimeZone) -> String {
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
    ]);
    for function in functions {
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
        ]);
    }
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_says_so() {
        assert_eq!(render(&[], &TimeZone::UTC), "no functions");
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
        let lines: Vec<String> = render(&page.functions, &TimeZone::UTC)
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            [
                "NAME RUNTIME MEMORY TIMEOUT CODE SIZE LAST MODIFIED",
                "hello provided.al2023 128 MB 3 s 2.0 KB 2020-04-10 19:06:32",
                "py python3.12 1024 MB 900 s 3.2 MB 2021-01-02 03:04:05",
            ]
        );
    }

    #[test]
    fn missing_members_show_a_dash() {
        let function = FunctionConfiguration {
            function_name: "bare".to_owned(),
            ..FunctionConfiguration::default()
        };
        let text = render(&[function], &TimeZone::UTC);
        let row = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(row, "bare - - - 0 B -");
    }

    #[test]
    fn a_page_without_marker_is_the_last() {
        let page: ListFunctionsPage = serde_json::from_str(r#"{"Functions":[]}"#).unwrap();
        assert!(page.functions.is_empty());
        assert!(page.next_marker.is_none());
    }
}
