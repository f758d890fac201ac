//! Loki's label model for OpenTelemetry logs, built from the stored columns.
//!
//! Stream labels are `service_name` (`unknown_service` when empty) plus every
//! resource attribute; structured metadata is every log attribute plus
//! `trace_id`, `span_id`, `severity_text`, `severity_number` and `scope_name`
//! when set, and `detected_level` from the severity. Attribute keys become
//! label names by replacing each character outside `[A-Za-z0-9_]` with `_`;
//! when two keys collapse to one name the first wins. The planner's portable
//! SQL (`plan::Shape::Portable`) builds the same maps; the sqllogictests
//! compare both.

use super::pipeline::{sanitize_label_name, Labels};

/// The stored columns a log line is labelled from.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoredLog<'a> {
    pub service_name: &'a str,
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub severity_text: &'a str,
    pub severity_number: i32,
    pub scope_name: &'a str,
}

pub fn stream_labels<'a>(log: &StoredLog, resource: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    let mut labels = sanitized(resource);
    let service = if log.service_name.is_empty() { "unknown_service" } else { log.service_name };
    labels.insert("service_name".into(), service.into());
    labels
}

pub fn structured_metadata<'a>(log: &StoredLog, attributes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    let mut labels = sanitized(attributes);
    let number = (log.severity_number != 0).then(|| log.severity_number.to_string());
    let fixed = [
        ("trace_id", log.trace_id),
        ("span_id", log.span_id),
        ("severity_text", log.severity_text),
        ("severity_number", number.as_deref().unwrap_or("")),
        ("scope_name", log.scope_name),
        ("detected_level", detected_level(log.severity_number, log.severity_text)),
    ];
    for (name, value) in fixed {
        if !value.is_empty() {
            labels.insert(name.into(), value.into());
        }
    }
    labels
}

fn sanitized<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    let mut labels = Labels::new();
    for (key, value) in pairs {
        labels.entry(sanitize_label_name(key)).or_insert_with(|| value.to_string());
    }
    labels
}

/// The OTLP severity number's range decides; else a known severity text; else `unknown`.
pub fn detected_level(number: i32, text: &str) -> &'static str {
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => match text.to_ascii_lowercase().as_str() {
            "trace" => "trace",
            "debug" => "debug",
            "info" | "information" => "info",
            "warn" | "warning" => "warn",
            "error" | "err" => "error",
            "fatal" => "fatal",
            "critical" => "critical",
            _ => "unknown",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_become_stream_labels() {
        let log = StoredLog { service_name: "", ..StoredLog::default() };
        let labels = stream_labels(&log, [("k8s.pod.name", "p1"), ("k8s_pod_name", "p2"), ("service.name", "x")]);
        assert_eq!(
            labels,
            Labels::from([("k8s_pod_name".into(), "p1".into()), ("service_name".into(), "unknown_service".into()),])
        );
    }

    #[test]
    fn metadata_holds_attributes_ids_and_severity() {
        let log = StoredLog { trace_id: "abc", severity_text: "Warning", scope_name: "lib", ..StoredLog::default() };
        assert_eq!(
            structured_metadata(&log, [("http.method", "GET")]),
            Labels::from([
                ("detected_level".into(), "warn".into()),
                ("http_method".into(), "GET".into()),
                ("scope_name".into(), "lib".into()),
                ("severity_text".into(), "Warning".into()),
                ("trace_id".into(), "abc".into()),
            ])
        );
        assert_eq!(detected_level(17, "INFO"), "error");
        assert_eq!(detected_level(0, ""), "unknown");
    }
}
