//! Loki's label model for OpenTelemetry logs, built from the stored columns.
//!
//! Stream labels are `service_name` (`unknown_service` when empty) plus every
//! resource attribute; structured metadata is every log attribute plus
//! `trace_id`, `span_id`, `severity_text`, `severity_number` and `scope_name`
//! when set, and `detected_level` derived as Loki's distributor derives it
//! (see [`detected_level`]). Attribute keys become
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

pub fn structured_metadata<'a>(
    log: &StoredLog,
    stream: &Labels,
    attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Labels {
    let mut labels = sanitized(attributes);
    let number = (log.severity_number != 0).then(|| log.severity_number.to_string());
    let fixed = [
        ("trace_id", log.trace_id),
        ("span_id", log.span_id),
        ("severity_text", log.severity_text),
        ("severity_number", number.as_deref().unwrap_or("")),
        ("scope_name", log.scope_name),
    ];
    for (name, value) in fixed {
        if !value.is_empty() {
            labels.insert(name.into(), value.into());
        }
    }
    let level = detected_level(stream, &labels, log.severity_number);
    if !level.is_empty() {
        labels.insert("detected_level".into(), level);
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

/// The label names Loki reads a level from, in its order of preference
/// (`validation.DefaultAllowedLevelFields`).
pub const LEVEL_FIELDS: [&str; 14] = [
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// Loki's `detected_level`: a level-like stream label, else a level-like
/// structured metadata entry (`severity_text` among them), normalized; else
/// the OTLP severity number's range; else `unknown`. Loki would then look
/// for a level in the line itself; we do not (documented limit). An empty
/// result means no label, as when Loki finds an empty level field.
pub fn detected_level(stream: &Labels, metadata: &Labels, severity_number: i32) -> String {
    if let Some(existing) = metadata.get("detected_level") {
        return normalize_level(existing);
    }
    for labels in [stream, metadata] {
        if let Some(value) = LEVEL_FIELDS.iter().find_map(|name| labels.get(*name)) {
            return normalize_level(value);
        }
    }
    level_of_severity_number(severity_number).to_string()
}

/// The OTLP severity number's range (0, unspecified, and above 24 are `unknown`).
pub fn level_of_severity_number(number: i32) -> &'static str {
    match number {
        0 => "unknown",
        n if n <= 4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unknown",
    }
}

/// Common spellings to Loki's level names, case-insensitively; anything else unchanged.
pub fn normalize_level(value: &str) -> String {
    NORMALIZED_LEVELS
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(value))
        .map(|(_, level)| level.to_string())
        .unwrap_or_else(|| value.to_string())
}

pub const NORMALIZED_LEVELS: [(&str, &str); 14] = [
    ("trace", "trace"),
    ("trc", "trace"),
    ("debug", "debug"),
    ("dbg", "debug"),
    ("info", "info"),
    ("inf", "info"),
    ("information", "info"),
    ("warn", "warn"),
    ("wrn", "warn"),
    ("warning", "warn"),
    ("error", "error"),
    ("err", "error"),
    ("critical", "critical"),
    ("fatal", "fatal"),
];

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
            structured_metadata(&log, &Labels::new(), [("http.method", "GET")]),
            Labels::from([
                ("detected_level".into(), "warn".into()),
                ("http_method".into(), "GET".into()),
                ("scope_name".into(), "lib".into()),
                ("severity_text".into(), "Warning".into()),
                ("trace_id".into(), "abc".into()),
            ])
        );
    }

    #[test]
    fn detected_level_follows_lokis_order() {
        let labels =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Labels>();
        let none = Labels::new();
        // severity text wins over the number, and is normalized
        assert_eq!(detected_level(&none, &labels(&[("severity_text", "INFO")]), 17), "info");
        assert_eq!(detected_level(&none, &labels(&[("severity_text", "Notice")]), 9), "Notice");
        // a `level` attribute comes before severity_text; a stream label before both
        assert_eq!(detected_level(&none, &labels(&[("level", "dbg"), ("severity_text", "ERROR")]), 0), "debug");
        assert_eq!(detected_level(&labels(&[("lvl", "WRN")]), &labels(&[("level", "error")]), 0), "warn");
        // then the number's range; nothing at all is unknown
        assert_eq!(detected_level(&none, &none, 17), "error");
        assert_eq!(detected_level(&none, &none, 3), "trace");
        assert_eq!(detected_level(&none, &none, 30), "unknown");
        assert_eq!(detected_level(&none, &none, 0), "unknown");
        // an empty level field gives no label
        assert_eq!(detected_level(&none, &labels(&[("level", "")]), 9), "");
    }
}
