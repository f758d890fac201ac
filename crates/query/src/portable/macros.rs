//! The table macros and views `canardstack_publish_macros` writes: pure SQL
//! over the lake's tables (named fully qualified, `"catalog"."schema"."table"`),
//! for DuckDB clients that cannot load canardstack. Each body is the SQL the
//! engine's own planners write, with the macro's parameters in place of the
//! constants: `otel_rate` is `promql_sql`'s plan of `rate(m[r])`,
//! `otel_series` its OTLP-to-Prometheus translation, `otel_trace` the SQL
//! `tempo_trace` runs.
//!
//! A DuckDB macro's parameter hides an unqualified column of the same name
//! (`trace_id` in `spans`, `metric` in the PromQL plans), so every column
//! the bodies name is qualified, and each bare use of a parameter's name is
//! the parameter (the tests count them).

use crate::promql::error::PromqlError;
use crate::promql::sql::{rate_sql, series_sql, Grid, Millis};
use crate::sql_text::{quote_ident, quote_literal, LakeTarget};
use crate::traceql::trace_id::{normalize_sql, trace_sql_of};

#[derive(Debug, thiserror::Error)]
pub enum MacroError {
    #[error("{0}")]
    Promql(#[from] PromqlError),
}

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    TableMacro,
    View,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::TableMacro => "table macro",
            Kind::View => "view",
        }
    }
}

/// One object to write: a table macro (`params` its parameters) or a view.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub name: &'static str,
    pub kind: Kind,
    pub params: &'static [&'static str],
    pub body: String,
}

impl Published {
    /// How it is called: `otel_rate(metric, range, step, start, stop)`, or a view's name.
    pub fn signature(&self) -> String {
        match self.kind {
            Kind::TableMacro => format!("{}({})", self.name, self.params.join(", ")),
            Kind::View => self.name.to_string(),
        }
    }

    /// The statement that writes it into schema `schema` of database `database`, replacing an older one.
    pub fn create_sql(&self, database: &str, schema: &str) -> String {
        let name = format!("{}.{}.{}", quote_ident(database), quote_ident(schema), quote_ident(self.name));
        match self.kind {
            Kind::TableMacro => {
                format!("CREATE OR REPLACE MACRO {name}({}) AS TABLE\n{}", self.params.join(", "), self.body)
            }
            Kind::View => format!("CREATE OR REPLACE VIEW {name} AS\n{}", self.body),
        }
    }
}

/// Every object, reading the lake `lake`.
pub fn published(lake: &LakeTarget) -> Result<Vec<Published>, MacroError> {
    Ok(vec![
        Published {
            name: "otel_logs",
            kind: Kind::TableMacro,
            params: &["service", "start", "stop"],
            body: logs_sql(lake),
        },
        Published {
            name: "otel_series",
            kind: Kind::TableMacro,
            params: &["metric"],
            body: series_sql("metric", lake)?,
        },
        Published {
            name: "otel_rate",
            kind: Kind::TableMacro,
            params: &["metric", "range", "step", "start", "stop"],
            body: rate_body(lake)?,
        },
        Published { name: "otel_trace", kind: Kind::TableMacro, params: &["trace_id"], body: trace_body(lake) },
        Published { name: "otel_services", kind: Kind::View, params: &[], body: services_sql(lake) },
    ])
}

/// A TIMESTAMPTZ parameter as a `TIMESTAMP_NS` in UTC (the lake's
/// timestamps), whatever the session's time zone.
fn lake_time(param: &str) -> String {
    format!("make_timestamp_ns(epoch_ns(CAST({param} AS TIMESTAMPTZ)))")
}

fn millis_of_time(param: &str) -> String {
    format!("epoch_ms(CAST({param} AS TIMESTAMPTZ))")
}

fn millis_of_interval(param: &str) -> String {
    format!("epoch_ms(CAST({param} AS INTERVAL))")
}

/// An interval without months or years (which have no fixed length, so `promql_range` refuses them).
fn fixed_interval(param: &str) -> String {
    format!("date_part('month', CAST({param} AS INTERVAL)) = 0 AND date_part('year', CAST({param} AS INTERVAL)) = 0")
}

/// `otel_logs(service, start, stop)`: the service's log records with
/// `start <= timestamp < stop`, newest first (as `loki_query` orders them).
fn logs_sql(lake: &LakeTarget) -> String {
    format!(
        "SELECT l.\"timestamp\", l.severity_text AS severity, l.body, l.trace_id, l.span_id, l.log_attributes AS attributes
FROM {logs} l
WHERE l.service_name = service AND l.\"timestamp\" >= {start} AND l.\"timestamp\" < {stop}
ORDER BY l.\"timestamp\" DESC",
        logs = lake.qualified("logs"),
        start = lake_time("start"),
        stop = lake_time("stop"),
    )
}

/// `otel_rate(metric, range, step, start, stop)`: `promql_sql`'s plan of
/// `rate(metric[range])` from `start` to `stop` every `step`, with the
/// checks `promql_range` makes of its arguments asserted when it runs.
fn rate_body(lake: &LakeTarget) -> Result<String, MacroError> {
    let (start, stop) = (millis_of_time("start"), millis_of_time("stop"));
    let (step, range) = (millis_of_interval("step"), millis_of_interval("range"));
    let check = |holds: String, message: &str| (format!("coalesce({holds}, false)"), format!("otel_rate: {message}"));
    let grid = Grid {
        start: Millis::Sql(start.clone()),
        end: Millis::Sql(stop.clone()),
        step: Millis::Sql(step.clone()),
        checks: vec![
            check(format!("{step} > 0"), "step must be a positive interval"),
            check(format!("{range} > 0"), "range must be a positive interval"),
            check(fixed_interval("step"), "step has months, which have no fixed length"),
            check(fixed_interval("range"), "range has months, which have no fixed length"),
            check(format!("{stop} >= {start}"), "stop must not be NULL nor before start"),
            check(
                format!("({stop} - {start}) // {step} <= 11000"),
                "exceeded maximum resolution of 11,000 points per timeseries; try a larger step",
            ),
        ],
    };
    Ok(rate_sql("rate", "metric", &range, grid, lake)?)
}

/// `otel_trace(trace_id)`: `tempo_trace`'s rows.
fn trace_body(lake: &LakeTarget) -> String {
    trace_sql_of(&lake.qualified("spans"), &format!("(SELECT {})", normalize_sql("trace_id", "trace_id", "otel_trace")))
}

/// `otel_services`: every service name with the signals it sent.
fn services_sql(lake: &LakeTarget) -> String {
    let tables = [
        ("logs", "logs"),
        ("spans", "traces"),
        ("metrics_gauge", "metrics"),
        ("metrics_sum", "metrics"),
        ("metrics_histogram", "metrics"),
        ("metrics_exponential_histogram", "metrics"),
        ("metrics_summary", "metrics"),
    ];
    let parts: Vec<String> = tables
        .iter()
        .map(|(table, signal)| {
            format!(
                "  SELECT DISTINCT service_name, {} AS signal FROM {}",
                quote_literal(signal),
                lake.qualified(table)
            )
        })
        .collect();
    format!(
        "SELECT service_name, list_sort(list_distinct(list(signal))) AS signals FROM (\n{}\n)\nGROUP BY service_name\nORDER BY service_name",
        parts.join("\n  UNION ALL\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> LakeTarget {
        LakeTarget { catalog: "lake".into(), schema: "otel".into() }
    }

    fn object(name: &str) -> Published {
        published(&lake()).unwrap().into_iter().find(|o| o.name == name).unwrap()
    }

    /// The text outside string literals and comments.
    fn code(sql: &str) -> String {
        let (mut out, mut chars) = (String::new(), sql.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    for d in chars.by_ref() {
                        if d == '\'' {
                            break;
                        }
                    }
                    // a doubled quote continues the literal
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        for d in chars.by_ref() {
                            if d == '\'' {
                                break;
                            }
                        }
                    }
                    out.push_str("''");
                }
                '-' if chars.peek() == Some(&'-') => {
                    for d in chars.by_ref() {
                        if d == '\n' {
                            break;
                        }
                    }
                    out.push('\n');
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// How often `name` appears in the code as a bare identifier: not
    /// qualified (`x.name`), not a function call (`name(`), not an alias
    /// (`AS name`), not part of a longer word or a quoted identifier.
    fn bare_uses(sql: &str, name: &str) -> usize {
        let text = code(sql);
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices(name)
            .filter(|(at, _)| {
                let before = text[..*at].chars().next_back();
                let after = text[at + name.len()..].chars().next();
                !before.is_some_and(|c| word(c) || c == '.' || c == '"')
                    && !after.is_some_and(|c| word(c) || c == '(' || c == '"')
                    && !text[..*at].ends_with("AS ")
            })
            .count()
    }

    #[test]
    fn the_objects_and_their_signatures() {
        let all = published(&lake()).unwrap();
        let signatures: Vec<(String, &str)> = all.iter().map(|o| (o.signature(), o.kind.name())).collect();
        assert_eq!(
            signatures,
            [
                ("otel_logs(service, start, stop)".to_string(), "table macro"),
                ("otel_series(metric)".into(), "table macro"),
                ("otel_rate(metric, range, step, start, stop)".into(), "table macro"),
                ("otel_trace(trace_id)".into(), "table macro"),
                ("otel_services".into(), "view"),
            ]
        );
        let rate = object("otel_rate");
        assert!(rate.create_sql("macros", "main").starts_with(
            "CREATE OR REPLACE MACRO \"macros\".\"main\".\"otel_rate\"(metric, range, step, start, stop) AS TABLE\n"
        ));
        assert!(object("otel_services")
            .create_sql("m\"x", "main")
            .starts_with("CREATE OR REPLACE VIEW \"m\"\"x\".\"main\".\"otel_services\" AS\n"));
    }

    #[test]
    fn each_parameter_is_used_only_where_it_is_meant() {
        // every bare use of a parameter's name is the parameter; a column of that name would be hidden by it
        let expected: [(&str, &[(&str, usize)]); 4] = [
            ("otel_logs", &[("service", 1), ("start", 1), ("stop", 1)]),
            ("otel_series", &[("metric", 1)]),
            // the series, the checks (step: positive, months twice, resolution; start and stop: order,
            // resolution) and the points' window in each of the 10 reads of the metric tables; range: its
            // checks (3), the windows (10), the reset test, the join, the extrapolation and the rate per second
            ("otel_rate", &[("metric", 1), ("range", 17), ("step", 5), ("start", 13), ("stop", 13)]),
            // the check, the normalisation and the message
            ("otel_trace", &[("trace_id", 5)]),
        ];
        for (name, uses) in expected {
            let o = object(name);
            for (param, count) in uses {
                assert_eq!(bare_uses(&o.body, param), *count, "{name}: bare uses of {param} in\n{}", o.body);
            }
        }
    }

    #[test]
    fn the_lake_is_named_in_full() {
        let odd = LakeTarget { catalog: "my lake".into(), schema: "o\"t".into() };
        for o in published(&odd).unwrap() {
            assert!(o.body.contains("\"my lake\".\"o\"\"t\"."), "{}", o.name);
            assert!(!o.body.contains(" FROM logs") && !o.body.contains(" FROM spans"), "{}", o.name);
        }
    }

    #[test]
    fn rate_is_the_portable_plan_with_parameters_for_constants() {
        let body = object("otel_rate").body;
        let step = "epoch_ms(CAST(step AS INTERVAL))";
        assert!(
            body.contains(&format!(
                "generate_series((epoch_ms(CAST(start AS TIMESTAMPTZ)))::BIGINT, (epoch_ms(CAST(stop AS TIMESTAMPTZ)))::BIGINT, ({step})::BIGINT)"
            )),
            "{body}"
        );
        assert!(body.contains("error('otel_rate: step must be a positive interval')"), "{body}");
        assert!(body.contains("WHERE l.metric = metric\n"), "{body}");
        // the engine's window (t - range, t] and Prometheus' extrapolation to rate per second
        assert!(
            body.contains("p.t > s.step_ms - 0 - (epoch_ms(CAST(range AS INTERVAL))) AND p.t <= s.step_ms - 0"),
            "{body}"
        );
        assert!(body.contains("/ ((epoch_ms(CAST(range AS INTERVAL)))::DOUBLE / 1000::DOUBLE)"), "{body}");
        assert!(body.contains(
            "\"timestamp\" >= make_timestamp_ns((((epoch_ms(CAST(start AS TIMESTAMPTZ))) - (0 + (epoch_ms(CAST(range AS INTERVAL))))) + 1) * 1000000) \
             AND \"timestamp\" < make_timestamp_ns((((epoch_ms(CAST(stop AS TIMESTAMPTZ))) - 0) + 1) * 1000000)"
        ), "{body}");
    }

    #[test]
    fn trace_ids_are_checked_and_padded_in_sql() {
        let body = object("otel_trace").body;
        assert!(body.contains("WHERE s.trace_id = (SELECT CASE WHEN regexp_full_match(trim(trace_id)"), "{body}");
        assert!(body.contains("error('otel_trace: trace_id must be a trace id of up to 32 hex characters"), "{body}");
    }

    #[test]
    fn logs_are_bounded_by_constant_times() {
        let body = object("otel_logs").body;
        assert!(body.contains("l.\"timestamp\" >= make_timestamp_ns(epoch_ns(CAST(start AS TIMESTAMPTZ)))"), "{body}");
        assert!(body.contains("FROM \"lake\".\"otel\".\"logs\" l"), "{body}");
        assert!(body.ends_with("ORDER BY l.\"timestamp\" DESC"), "{body}");
    }
}
