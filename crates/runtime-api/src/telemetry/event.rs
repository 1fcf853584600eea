//! Telemetry events: `{"time","type","record"}`, and how a Logs API subscriber sees them.

use serde_json::{Value, json};

use super::subscription::{Api, Category, Subscription};

/// One event, as the Telemetry API delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// ISO-8601 with milliseconds and `Z`.
    pub time: String,
    /// `platform.start`, `function`, `extension`, ...
    pub kind: String,
    pub record: Value,
}

impl Event {
    pub fn new(time: String, kind: &str, record: Value) -> Self {
        Event {
            time,
            kind: kind.to_string(),
            record,
        }
    }

    pub fn category(&self) -> Category {
        match self.kind.as_str() {
            "function" => Category::Function,
            "extension" => Category::Extension,
            _ => Category::Platform,
        }
    }

    /// The event as `subscription` receives it, or `None` if it does not receive it.
    pub fn for_subscriber(&self, subscription: &Subscription) -> Option<Value> {
        if !subscription.wants(self.category()) {
            return None;
        }
        match subscription.api {
            Api::Telemetry => match self.kind.as_str() {
                // Logs API only.
                "platform.end" | "platform.fault" | "platform.logsSubscription" => None,
                _ => Some(json!({ "time": self.time, "type": self.kind, "record": self.record })),
            },
            Api::Logs => self.for_logs_api(&subscription.schema_version),
        }
    }

    /// The Logs API (2020-08-15) knows fewer platform events and flatter records.
    fn for_logs_api(&self, schema: &str) -> Option<Value> {
        let record = match self.kind.as_str() {
            "function" | "extension" => match &self.record {
                Value::String(_) => self.record.clone(),
                other => Value::String(other.to_string()),
            },
            "platform.start" | "platform.end" => {
                json!({ "requestId": self.record.get("requestId") })
            }
            "platform.report" => json!({
                "requestId": self.record.get("requestId"),
                "metrics": self.record.get("metrics"),
            }),
            "platform.runtimeDone" if schema == "2021-03-18" => json!({
                "requestId": self.record.get("requestId"),
                "status": self.record.get("status"),
            }),
            "platform.extension"
            | "platform.logsSubscription"
            | "platform.logsDropped"
            | "platform.fault" => self.record.clone(),
            _ => return None,
        };
        Some(json!({ "time": self.time, "type": self.kind, "record": record }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::subscription::{Buffering, Subscription};
    use super::*;

    fn subscription(api: Api, schema: &str, categories: Vec<Category>) -> Subscription {
        Subscription {
            api,
            schema_version: schema.into(),
            categories,
            buffering: Buffering {
                max_items: 1000,
                max_bytes: 262_144,
                timeout_ms: 100,
            },
            port: 8080,
            path: "/".into(),
        }
    }

    #[test]
    fn routing_by_category_and_api() {
        let telemetry = subscription(Api::Telemetry, "2022-12-13", vec![Category::Platform]);
        let logs = subscription(
            Api::Logs,
            "2020-08-15",
            vec![Category::Platform, Category::Function],
        );
        let start = Event::new(
            "t".into(),
            "platform.start",
            json!({"requestId": "r", "version": "$LATEST"}),
        );
        assert_eq!(
            start.for_subscriber(&telemetry).unwrap(),
            json!({"time": "t", "type": "platform.start", "record": {"requestId": "r", "version": "$LATEST"}})
        );
        assert_eq!(
            start.for_subscriber(&logs).unwrap()["record"],
            json!({"requestId": "r"})
        );
        let line = Event::new("t".into(), "function", json!("hello"));
        assert!(line.for_subscriber(&telemetry).is_none());
        assert_eq!(line.for_subscriber(&logs).unwrap()["record"], "hello");
        let end = Event::new("t".into(), "platform.end", json!({"requestId": "r"}));
        assert!(end.for_subscriber(&telemetry).is_none());
        assert!(end.for_subscriber(&logs).is_some());
        let init = Event::new("t".into(), "platform.initStart", json!({}));
        assert!(init.for_subscriber(&logs).is_none());
        let done = Event::new(
            "t".into(),
            "platform.runtimeDone",
            json!({"requestId": "r", "status": "success"}),
        );
        assert!(done.for_subscriber(&logs).is_none());
        let newer = subscription(Api::Logs, "2021-03-18", vec![Category::Platform]);
        assert_eq!(
            done.for_subscriber(&newer).unwrap()["record"]["status"],
            "success"
        );
    }
}
