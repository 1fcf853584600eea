//! The benchmark report: one table per scenario, printed for a terminal or written as Markdown.

use std::time::Duration;

use comfy_table::{CellAlignment, Table, TableStyle, presets};

/// Everything the benchmark prints.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// One line naming the run, e.g. its date and machine.
    pub(crate) title: String,
    /// Labelled facts about the setup: machine, flint, load generator, function.
    pub(crate) facts: Vec<(String, String)>,
    pub(crate) sections: Vec<Section>,
}

/// The results of one scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub(crate) title: String,
    /// What was measured, in a sentence or two.
    pub(crate) measured: String,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    /// Lines after the table: targets and anything a reader must know.
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// The report for a terminal.
    pub(crate) fn to_terminal(&self) -> String {
        let mut out = format!("{}\n\n", self.title);
        for (label, value) in &self.facts {
            out.push_str(&format!("{label}: {value}\n"));
        }
        for section in &self.sections {
            out.push_str(&format!("\n== {} ==\n", section.title));
            out.push_str(&format!("What was measured: {}\n", section.measured));
            out.push_str(&section.table(presets::UTF8_FULL_CONDENSED));
            out.push('\n');
            for note in &section.notes {
                out.push_str(&format!("{note}\n"));
            }
        }
        out
    }

    /// The report as a Markdown section for `BENCHMARKS.md`.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        for (label, value) in &self.facts {
            out.push_str(&format!("- {label}: {value}\n"));
        }
        for section in &self.sections {
            out.push_str(&format!("\n### {}\n\n", section.title));
            out.push_str(&format!("What was measured: {}\n\n", section.measured));
            out.push_str(&section.table(presets::ASCII_MARKDOWN));
            out.push('\n');
            if !section.notes.is_empty() {
                out.push('\n');
            }
            for note in &section.notes {
                out.push_str(&format!("{note}\n"));
            }
        }
        out
    }
}

impl Section {
    fn table(&self, style: TableStyle) -> String {
        let mut table = Table::new();
        table
            .load_style(style)
            .set_header(self.header.clone())
            .add_rows(self.rows.clone());
        // Every column but the first holds numbers.
        for column in table.column_iter_mut().skip(1) {
            column.set_cell_alignment(CellAlignment::Right);
        }
        table.to_string()
    }
}

/// `met` or `NOT met`, for a target line.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Whole microseconds with thousands separated: `1,234`.
pub(crate) fn micros(duration: Duration) -> String {
    thousands(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
}

/// Milliseconds with two decimals: `3.14`.
pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e3)
}

/// A count with thousands separated by commas: `15,234`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            title: "flint benchmark, 2026-01-02 03:04 UTC".to_owned(),
            facts: vec![("Machine".to_owned(), "Test CPU, 2 cores".to_owned())],
            sections: vec![Section {
                title: "Warm invoke latency".to_owned(),
                measured: "sequential invokes".to_owned(),
                header: vec!["Concurrency".to_owned(), "p50 (µs)".to_owned()],
                rows: vec![vec!["1".to_owned(), "142".to_owned()]],
                notes: vec!["Target p50 ≤ 250 µs: met".to_owned()],
            }],
        }
    }

    #[test]
    fn markdown_has_headings_facts_a_pipe_table_and_notes() {
        let markdown = report().to_markdown();
        let expect = "## flint benchmark, 2026-01-02 03:04 UTC\n\
                      \n\
                      - Machine: Test CPU, 2 cores\n\
                      \n\
                      ### Warm invoke latency\n\
                      \n\
                      What was measured: sequential invokes\n\
                      \n\
                      | Concurrency | p50 (µs) |\n\
                      |-------------|----------|\n\
                      | 1           |      142 |\n\
                      \n\
                      Target p50 ≤ 250 µs: met\n";
        assert_eq!(markdown, expect);
    }

    #[test]
    fn the_terminal_report_holds_the_same_results() {
        let terminal = report().to_terminal();
        for expect in [
            "flint benchmark, 2026-01-02 03:04 UTC",
            "Machine: Test CPU, 2 cores",
            "== Warm invoke latency ==",
            "What was measured: sequential invokes",
            "p50 (µs)",
            "142",
            "Target p50 ≤ 250 µs: met",
        ] {
            assert!(
                terminal.contains(expect),
                "{expect:?} missing from\n{terminal}"
            );
        }
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        let check = |value: u64, expect: &str| assert_eq!(thousands(value), expect);
        check(0, "0");
        check(999, "999");
        check(1_000, "1,000");
        check(15_234, "15,234");
        check(1_234_567, "1,234,567");
        assert_eq!(micros(Duration::from_nanos(142_900)), "142");
        assert_eq!(micros(Duration::from_millis(12)), "12,000");
        assert_eq!(millis(Duration::from_micros(3_141)), "3.14");
        assert_eq!(verdict(true), "met");
        assert_eq!(verdict(false), "NOT met");
    }
}
