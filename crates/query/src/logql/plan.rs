//! Plans the storage side of a LogQL log selector as one DuckDB query over
//! the `logs` table, and hands back the pipeline stages SQL does not run.
//!
//! DuckDB gets what it filters best, vectorised: the time range as plain
//! comparisons of `timestamp` with constants (so DuckLake can skip files),
//! the stream selector (`service_name` on its column, other labels looked up
//! in `resource_attributes`), every line filter that precedes the first stage
//! rewriting the line, the order and, when nothing downstream drops lines, the
//! limit. Parsers, label filters and formatters stay in Rust
//! ([`super::pipeline`]), where Loki's per-line semantics (error labels,
//! `_extracted` suffixes) are straightforward. The engine asks for the raw
//! columns and labels rows in Rust ([`super::model`]), because DuckDB's MAP
//! functions cost microseconds per row; `logql_sql` asks for the portable
//! shape, which builds the same label maps in SQL after the limit.

use super::ast::*;
use super::model::{LEVEL_FIELDS, NORMALIZED_LEVELS};

/// The time range, in nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeBounds {
    pub from_ns: i64,
    pub from_inclusive: bool,
    pub to_ns: i64,
    pub to_inclusive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Backward,
    Forward,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogPlan {
    /// Columns: `timestamp TIMESTAMP_NS, labels MAP, line VARCHAR, structured_metadata MAP`.
    pub sql: String,
    /// Stages left for Rust, in order.
    pub residual: Vec<Stage>,
    /// Whether `limit` is already applied by the SQL.
    pub limited_in_sql: bool,
}

impl LogPlan {
    /// Whether the SQL alone gives the answer.
    pub fn is_pure_sql(&self) -> bool {
        self.residual.is_empty()
    }
}

/// A short name for a stage, for messages.
pub fn stage_name(stage: &Stage) -> &'static str {
    match stage {
        Stage::Line(filter) if matches!(filter.op, LineOp::Pattern | LineOp::NotPattern) => "pattern line filter",
        Stage::Line(_) => "line filter after a line rewrite",
        Stage::Json(_) => "json",
        Stage::Logfmt { .. } => "logfmt",
        Stage::Regexp(_) => "regexp",
        Stage::Pattern(_) => "pattern",
        Stage::Unpack => "unpack",
        Stage::Labels(_) => "label filter",
        Stage::LineFormat(_) => "line_format",
        Stage::LabelFormat(_) => "label_format",
        Stage::Drop(_) => "drop",
        Stage::Keep(_) => "keep",
        Stage::Decolorize => "decolorize",
    }
}

/// What the planned query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The stored columns the label model is built from, for the engine to
    /// label in Rust (DuckDB's MAP functions cost several microseconds a row):
    /// `timestamp, line, service_name, resource_attributes, log_attributes,
    /// trace_id, span_id, severity_text, severity_number, scope_name`.
    Raw,
    /// `timestamp, labels, line, structured_metadata`, labelled in SQL, for
    /// clients without canardstack.
    Portable,
}

const RAW_COLUMNS: &str = "\"timestamp\", coalesce(\"body\", '') AS line, service_name, resource_attributes, \
     log_attributes, trace_id, span_id, severity_text, severity_number, scope_name";

pub fn plan_logs(
    selector: &LogSelector,
    logs_table: &str,
    bounds: TimeBounds,
    order: Option<Direction>,
    limit: Option<u64>,
    shape: Shape,
) -> LogPlan {
    let (sql_filters, residual) = split_line_filters(&selector.stages);
    let mut predicates = vec![time_predicate(bounds)];
    predicates.extend(
        selector.matchers.iter().map(|m| {
            service_name_predicate(m).unwrap_or_else(|| match_sql(&resource_label_sql(&m.name), m.op, &m.value))
        }),
    );
    predicates.extend(sql_filters.iter().map(|f| line_filter_sql(f, "coalesce(\"body\", '')")));
    let filters_rows = residual.iter().any(|s| matches!(s, Stage::Line(_) | Stage::Labels(_)));
    let limited_in_sql = limit.is_some() && order.is_some() && !filters_rows;
    let order_by = order.map(|direction| {
        let dir = if direction == Direction::Backward { "DESC" } else { "ASC" };
        format!(" ORDER BY \"timestamp\" {dir}, line {dir}")
    });
    let mut sql = format!("SELECT {RAW_COLUMNS} FROM {logs_table} WHERE {}", predicates.join(" AND "));
    sql.push_str(order_by.as_deref().unwrap_or(""));
    if let (true, Some(limit)) = (limited_in_sql, limit) {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    if shape == Shape::Portable {
        sql = format!(
            "WITH raw AS ({sql}), \
             keyed AS (SELECT *, list_transform(map_keys(resource_attributes), lambda k: {rk}) AS rk, \
             list_transform(map_keys(log_attributes), lambda k: {lk}) AS lk FROM raw), \
             labelled AS (SELECT \"timestamp\", \
             map_concat({resource}, MAP {{'service_name': coalesce(nullif(service_name, ''), 'unknown_service')}}) AS labels, \
             line, map_concat({attrs}, {fixed}) AS metadata, severity_number FROM keyed) \
             SELECT \"timestamp\", labels, line, map_concat(metadata, map_from_entries(list_filter(\
             [{{'key': 'detected_level', 'value': {level}}}], lambda e: e.value <> ''))) AS structured_metadata \
             FROM labelled{order}",
            rk = sanitize_sql("k"),
            lk = sanitize_sql("k"),
            resource = dedup_map_sql("resource_attributes", "rk"),
            attrs = dedup_map_sql("log_attributes", "lk"),
            fixed = fixed_metadata_sql(),
            level = detected_level_sql(),
            order = order_by.as_deref().unwrap_or(""),
        );
    }
    LogPlan { sql, residual, limited_in_sql }
}

/// The value of stream label `name` (not `service_name`) from the resource
/// attributes, `''` when absent: the first attribute whose sanitized key is `name`.
fn resource_label_sql(name: &str) -> String {
    if !name.contains('_') {
        // sanitizing only introduces `_`, so only the attribute named exactly `name` qualifies
        return format!("coalesce(resource_attributes[{}], '')", literal(name));
    }
    format!(
        "coalesce(list_extract(list_filter(map_values(resource_attributes), lambda v, i: {} = {}), 1), '')",
        sanitize_sql("map_keys(resource_attributes)[i]"),
        literal(name)
    )
}

/// Line filters before the first line rewrite go to SQL; the rest stay in order.
fn split_line_filters(stages: &[Stage]) -> (Vec<LineFilter>, Vec<Stage>) {
    let mut sql = Vec::new();
    let mut residual = Vec::new();
    let mut line_rewritten = false;
    for stage in stages {
        match stage {
            Stage::Line(filter) if !line_rewritten && !matches!(filter.op, LineOp::Pattern | LineOp::NotPattern) => {
                sql.push(filter.clone())
            }
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => {
                line_rewritten = true;
                residual.push(stage.clone());
            }
            other => residual.push(other.clone()),
        }
    }
    (sql, residual)
}

fn sanitize_sql(column: &str) -> String {
    format!("regexp_replace({column}, '[^A-Za-z0-9_]', '_', 'g')")
}

/// A MAP from `map` with keys replaced by `keys`, the first of duplicates winning.
fn dedup_map_sql(map: &str, keys: &str) -> String {
    format!(
        "map(list_filter({keys}, lambda k, i: list_position({keys}, k) = i), \
         list_filter(map_values({map}), lambda v, i: list_position({keys}, {keys}[i]) = i))"
    )
}

fn fixed_metadata_sql() -> String {
    "map_from_entries(list_filter([\
     {'key': 'trace_id', 'value': trace_id}, {'key': 'span_id', 'value': span_id}, \
     {'key': 'severity_text', 'value': severity_text}, \
     {'key': 'severity_number', 'value': CAST(nullif(severity_number, 0) AS VARCHAR)}, \
     {'key': 'scope_name', 'value': scope_name}], \
     lambda e: coalesce(e.value, '') <> ''))"
        .to_string()
}

/// [`model::detected_level`] over the `labels` and `metadata` maps and `severity_number`.
fn detected_level_sql() -> String {
    let first_field = |map: &str| {
        let lookups: Vec<String> = LEVEL_FIELDS.iter().map(|name| format!("{map}[{}]", literal(name))).collect();
        format!("coalesce({})", lookups.join(", "))
    };
    let normalize = |value: &str| {
        let cases: Vec<String> = NORMALIZED_LEVELS
            .iter()
            .map(|(spelling, level)| format!("WHEN {} THEN {}", literal(spelling), literal(level)))
            .collect();
        format!("CASE lower({value}) {} ELSE {value} END", cases.join(" "))
    };
    let number = "CASE WHEN coalesce(severity_number, 0) = 0 THEN 'unknown' WHEN severity_number <= 4 THEN 'trace' \
                  WHEN severity_number <= 8 THEN 'debug' WHEN severity_number <= 12 THEN 'info' \
                  WHEN severity_number <= 16 THEN 'warn' WHEN severity_number <= 20 THEN 'error' \
                  WHEN severity_number <= 24 THEN 'fatal' ELSE 'unknown' END";
    let field = format!("coalesce(metadata['detected_level'], {}, {})", first_field("labels"), first_field("metadata"));
    format!("coalesce({}, {number})", normalize(&field))
}

/// `service_name` matchers go straight to the column so its statistics prune files.
fn service_name_predicate(matcher: &Matcher) -> Option<String> {
    if matcher.name != "service_name" {
        return None;
    }
    Some(if matcher.op == MatchOp::Eq && matcher.value != "unknown_service" && !matcher.value.is_empty() {
        format!("service_name = {}", literal(&matcher.value))
    } else {
        match_sql("coalesce(nullif(service_name, ''), 'unknown_service')", matcher.op, &matcher.value)
    })
}

fn match_sql(expr: &str, op: MatchOp, value: &str) -> String {
    let value = literal(value);
    match op {
        MatchOp::Eq => format!("{expr} = {value}"),
        MatchOp::Ne => format!("{expr} <> {value}"),
        MatchOp::Re => format!("regexp_full_match({expr}, {value})"),
        MatchOp::NotRe => format!("NOT regexp_full_match({expr}, {value})"),
    }
}

fn line_filter_sql(filter: &LineFilter, line: &str) -> String {
    let tests: Vec<String> = filter
        .values
        .iter()
        .map(|value| match filter.op {
            LineOp::Contains | LineOp::NotContains => format!("contains({line}, {})", literal(value)),
            _ => format!("regexp_matches({line}, {})", literal(value)),
        })
        .collect();
    let any = if tests.len() == 1 { tests[0].clone() } else { format!("({})", tests.join(" OR ")) };
    if filter.op.is_negative() {
        format!("NOT {any}")
    } else {
        any
    }
}

fn time_predicate(bounds: TimeBounds) -> String {
    format!(
        "\"timestamp\" {} {} AND \"timestamp\" {} {}",
        if bounds.from_inclusive { ">=" } else { ">" },
        timestamp_literal(bounds.from_ns),
        if bounds.to_inclusive { "<=" } else { "<" },
        timestamp_literal(bounds.to_ns),
    )
}

/// An SQL string literal; NUL bytes (which SQL text cannot carry) become `chr(0)`.
pub fn literal(text: &str) -> String {
    let parts: Vec<String> = text.split('\0').map(|part| format!("'{}'", part.replace('\'', "''"))).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(" || chr(0) || "))
    }
}

/// The earliest and latest instants DuckDB reads as a `TIMESTAMP_NS` literal
/// (1677-09-22 and one nanosecond before `infinity`); no stored row lies
/// outside them, so a bound beyond them is moved onto them.
const SQL_TIMESTAMP_NS_MIN: i64 = -9_223_286_400_000_000_000;
const SQL_TIMESTAMP_NS_MAX: i64 = i64::MAX - 1;

/// `TIMESTAMP_NS 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn'`, a constant DuckDB compares without casting the column.
pub fn timestamp_literal(ns: i64) -> String {
    let ns = ns.clamp(SQL_TIMESTAMP_NS_MIN, SQL_TIMESTAMP_NS_MAX);
    let seconds = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (days, secs_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "TIMESTAMP_NS '{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{nanos:09}'",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// A range aggregation DuckDB counts itself: one row per distinct set of the
/// stored columns the series labels derive from and pair of first and last
/// step whose windows hold the rows, so a few hundred rows come back instead
/// of every line. The engine labels these rows with the same Rust label model
/// as single lines; deriving the labels in SQL instead (map lookups through
/// sanitized keys, `detected_level`) cost five times the grouping.
#[derive(Clone, Debug, PartialEq)]
pub struct CountPlan {
    /// Columns: `k_lo BIGINT, k_hi BIGINT` (the indexes, counted from the
    /// first step, of the steps whose windows hold the rows), the [`Shape::Raw`]
    /// columns (`timestamp` NULL, `line` empty, columns no series label
    /// derives from NULL), `n BIGINT` (lines), `bytes BIGINT` (their bytes).
    pub sql: String,
    /// The series label names (the `by` grouping, without repeats).
    pub labels: Vec<String>,
}

/// Plans `count_over_time`, `rate`, `bytes_over_time` or `bytes_rate`
/// grouped `by` labels over a selector SQL filters alone, evaluated at
/// `first_step_ns + k * step_ns`; None for anything else (the engine then
/// labels every line in Rust). A step at `t` counts the rows in
/// `(t - offset - range, t - offset]`, so a row at `ts` belongs to the steps
/// `k` with `ts + offset <= t_k < ts + offset + range`.
pub fn plan_range_counts(
    range: &RangeAggregation,
    logs_table: &str,
    bounds: TimeBounds,
    first_step_ns: i64,
    step_ns: i64,
) -> Option<CountPlan> {
    let counted =
        matches!(range.op, RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate);
    let grouping = range.grouping.as_ref()?;
    if !counted || range.unwrap.is_some() || grouping.without || step_ns <= 0 || range.range_ns <= 0 {
        return None;
    }
    let mut labels: Vec<String> = Vec::new();
    for name in &grouping.labels {
        if !labels.contains(name) {
            labels.push(name.clone());
        }
    }
    let stages: Vec<Stage> =
        range.selector.stages.iter().filter(|s| !is_unseen_error_drop(s, &labels)).cloned().collect();
    let selector = LogSelector { matchers: range.selector.matchers.clone(), stages };
    let plan = plan_logs(&selector, logs_table, bounds, None, None, Shape::Raw);
    if !plan.is_pure_sql() {
        return None;
    }
    // a non-negative numerator keeps integer division a ceiling; `ts - base > -range` always
    let shift_steps = range.range_ns / step_ns + 2;
    let base = first_step_ns.checked_sub(range.offset_ns)?;
    shift_steps.checked_mul(step_ns)?.checked_add(range.range_ns)?.checked_add(step_ns)?;
    // DuckDB computes the numerator in BIGINT: leave the rare query whose largest
    // numerator (a row at the window's end) would not fit to the Rust evaluator
    let largest = (bounds.to_ns as i128 - base as i128)
        + range.range_ns as i128
        + shift_steps as i128 * step_ns as i128
        + step_ns as i128;
    if largest > i64::MAX as i128 {
        return None;
    }
    let ceil_steps = |extra: i64| {
        format!(
            "((epoch_ns(\"timestamp\") - ({base})) + {} + {}) // {step_ns} - {shift_steps}",
            extra + shift_steps * step_ns,
            step_ns - 1
        )
    };
    let sources = label_sources(&labels).join(", ");
    let sql = format!(
        "SELECT k_lo, k_hi, NULL::TIMESTAMP_NS AS \"timestamp\", '' AS line, {sources}, count(*)::BIGINT AS n, \
         coalesce(sum(line_bytes), 0)::BIGINT AS bytes FROM (\
         SELECT {lo} AS k_lo, {hi} - 1 AS k_hi, {sources}, strlen(line) AS line_bytes FROM ({raw})) GROUP BY ALL",
        lo = ceil_steps(0),
        hi = ceil_steps(range.range_ns),
        raw = plan.sql,
    );
    Some(CountPlan { sql, labels })
}

/// The stored columns, NULL where no label in `labels` derives from the
/// column ([`super::model`]): each fixed metadata field makes its own label,
/// `detected_level` reads the severity, every name may be an attribute.
fn label_sources(labels: &[String]) -> Vec<String> {
    let wants = |names: &[&str]| labels.iter().any(|l| names.contains(&l.as_str()));
    let any = !labels.is_empty();
    [
        ("service_name", "VARCHAR", wants(&["service_name"])),
        ("resource_attributes", "MAP(VARCHAR, VARCHAR)", any),
        ("log_attributes", "MAP(VARCHAR, VARCHAR)", any),
        ("trace_id", "VARCHAR", wants(&["trace_id"])),
        ("span_id", "VARCHAR", wants(&["span_id"])),
        ("severity_text", "VARCHAR", wants(&["severity_text", "detected_level"])),
        ("severity_number", "INTEGER", wants(&["severity_number", "detected_level"])),
        ("scope_name", "VARCHAR", wants(&["scope_name"])),
    ]
    .into_iter()
    .map(|(column, sql_type, wanted)| if wanted { column.to_string() } else { format!("NULL::{sql_type} AS {column}") })
    .collect()
}

/// `drop __error__` (or `__error_details__`) with no parser before it drops
/// nothing the grouping keeps: only a stored attribute could carry the name.
fn is_unseen_error_drop(stage: &Stage, grouping: &[String]) -> bool {
    let Stage::Drop(items) = stage else { return false };
    items.iter().all(|item| {
        matches!(item.name.as_str(), "__error__" | "__error_details__")
            && item.matcher.is_none()
            && !grouping.contains(&item.name)
    })
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    fn selector(query: &str) -> LogSelector {
        match parse(query).unwrap() {
            Query::Log(selector) => selector,
            other => panic!("not a log query: {other:?}"),
        }
    }

    const BOUNDS: TimeBounds =
        TimeBounds { from_ns: 0, from_inclusive: true, to_ns: 1_700_000_000_123_456_789, to_inclusive: false };

    #[test]
    fn timestamps_print_as_prunable_constants() {
        assert_eq!(timestamp_literal(0), "TIMESTAMP_NS '1970-01-01 00:00:00.000000000'");
        assert_eq!(timestamp_literal(1_700_000_000_123_456_789), "TIMESTAMP_NS '2023-11-14 22:13:20.123456789'");
        assert_eq!(timestamp_literal(951_782_400_000_000_000), "TIMESTAMP_NS '2000-02-29 00:00:00.000000000'");
        assert_eq!(timestamp_literal(-1), "TIMESTAMP_NS '1969-12-31 23:59:59.999999999'");
    }

    #[test]
    fn timestamps_beyond_duckdb_are_moved_onto_its_bounds() {
        assert_eq!(timestamp_literal(i64::MIN), "TIMESTAMP_NS '1677-09-22 00:00:00.000000000'");
        assert_eq!(timestamp_literal(i64::MAX), "TIMESTAMP_NS '2262-04-11 23:47:16.854775806'");
    }

    #[test]
    fn counting_plans_whose_arithmetic_would_overflow_are_left_to_rust() {
        let volume = range(r#"sum by (level) (count_over_time({service_name="a"}[1m]))"#);
        let huge = TimeBounds { from_ns: 0, from_inclusive: false, to_ns: i64::MAX - 10, to_inclusive: true };
        assert!(plan_range_counts(&volume, "logs", huge, i64::MIN + 10, i64::MAX / 2).is_none());
        assert!(plan_range_counts(&volume, "logs", BOUNDS, 60_000_000_000, 60_000_000_000).is_some());
    }

    #[test]
    fn literals_escape_quotes_and_nul() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\0b"), "('a' || chr(0) || 'b')");
        assert_eq!(literal("'; DROP TABLE logs; --"), "'''; DROP TABLE logs; --'");
    }

    #[test]
    fn selector_and_leading_line_filters_become_predicates() {
        let plan = plan_logs(
            &selector(
                r#"{service_name="api", env=~"prod|stg"} |= "error" != "debug" |~ "a+" or "b" | json | status >= 500"#,
            ),
            "\"lake\".\"otel\".\"logs\"",
            BOUNDS,
            Some(Direction::Backward),
            Some(10),
            Shape::Raw,
        );
        assert_eq!(
            plan.sql,
            "SELECT \"timestamp\", coalesce(\"body\", '') AS line, service_name, resource_attributes, log_attributes, \
             trace_id, span_id, severity_text, severity_number, scope_name FROM \"lake\".\"otel\".\"logs\" \
             WHERE \"timestamp\" >= TIMESTAMP_NS '1970-01-01 00:00:00.000000000' \
             AND \"timestamp\" < TIMESTAMP_NS '2023-11-14 22:13:20.123456789' \
             AND service_name = 'api' AND regexp_full_match(coalesce(resource_attributes['env'], ''), 'prod|stg') \
             AND contains(coalesce(\"body\", ''), 'error') AND NOT contains(coalesce(\"body\", ''), 'debug') \
             AND (regexp_matches(coalesce(\"body\", ''), 'a+') OR regexp_matches(coalesce(\"body\", ''), 'b')) \
             ORDER BY \"timestamp\" DESC, line DESC"
        );
        assert_eq!(plan.residual.len(), 2);
        assert!(!plan.limited_in_sql);
    }

    #[test]
    fn limit_goes_to_sql_when_nothing_downstream_drops_lines() {
        let plan = plan_logs(
            &selector(r#"{service_name="api"} |= "x" | logfmt"#),
            "logs",
            BOUNDS,
            Some(Direction::Forward),
            Some(5),
            Shape::Raw,
        );
        assert!(plan.sql.ends_with("ORDER BY \"timestamp\" ASC, line ASC LIMIT 5"));
        assert!(plan.limited_in_sql);
        assert!(!plan.is_pure_sql());
    }

    #[test]
    fn line_filters_after_a_rewrite_stay_in_rust() {
        let plan = plan_logs(
            &selector(r#"{service_name="api"} | line_format "{{.a}}" |= "x""#),
            "logs",
            BOUNDS,
            None,
            None,
            Shape::Raw,
        );
        assert!(!plan.sql.contains("contains("));
        assert_eq!(plan.residual.len(), 2);
        assert_eq!(stage_name(&plan.residual[0]), "line_format");
    }

    #[test]
    fn labels_with_underscores_look_through_sanitized_attribute_keys() {
        let plan = plan_logs(&selector(r#"{k8s_pod_name="p1"}"#), "logs", BOUNDS, None, None, Shape::Raw);
        assert!(plan.sql.contains(
            "coalesce(list_extract(list_filter(map_values(resource_attributes), lambda v, i: \
             regexp_replace(map_keys(resource_attributes)[i], '[^A-Za-z0-9_]', '_', 'g') = 'k8s_pod_name'), 1), '') = 'p1'"
        ), "{}", plan.sql);
    }

    #[test]
    fn portable_plans_label_in_sql_after_the_limit() {
        let plan = plan_logs(
            &selector(r#"{service_name="api"}"#),
            "logs",
            BOUNDS,
            Some(Direction::Backward),
            Some(3),
            Shape::Portable,
        );
        assert!(plan.sql.starts_with("WITH raw AS (SELECT \"timestamp\""));
        assert!(plan.sql.contains("LIMIT 3), keyed AS"));
        assert!(plan.sql.ends_with("AS structured_metadata FROM labelled ORDER BY \"timestamp\" DESC, line DESC"));
    }

    #[test]
    fn unknown_service_and_negative_service_matchers_use_the_fallback() {
        let plan = plan_logs(&selector(r#"{service_name=~"unknown_.*"}"#), "logs", BOUNDS, None, None, Shape::Raw);
        assert!(plan
            .sql
            .contains("regexp_full_match(coalesce(nullif(service_name, ''), 'unknown_service'), 'unknown_.*')"));
    }

    fn range(query: &str) -> RangeAggregation {
        let Query::Metric(MetricExpr::Aggregate { grouping, inner, .. }) = parse(query).unwrap() else { panic!() };
        let MetricExpr::Range(range) = *inner else { panic!("not a range aggregation") };
        RangeAggregation { grouping, ..range }
    }

    #[test]
    fn counting_ranges_over_pure_selectors_are_counted_in_sql() {
        let volume =
            range(r#"sum by (level, detected_level) (count_over_time({service_name=~".+"} | drop __error__ [1m]))"#);
        let plan = plan_range_counts(&volume, "logs", BOUNDS, 60_000_000_000, 60_000_000_000).unwrap();
        assert_eq!(plan.labels, ["level", "detected_level"]);
        assert!(
            plan.sql.starts_with(
                "SELECT k_lo, k_hi, NULL::TIMESTAMP_NS AS \"timestamp\", '' AS line, NULL::VARCHAR AS service_name, \
             resource_attributes, log_attributes, NULL::VARCHAR AS trace_id, NULL::VARCHAR AS span_id, severity_text, \
             severity_number, NULL::VARCHAR AS scope_name, count(*)::BIGINT AS n"
            ),
            "{}",
            plan.sql
        );
        // the first step of a row at ts: ceil((ts - 60s) / 60s), shifted by 3 steps to stay non-negative
        assert!(plan.sql.contains(
            "((epoch_ns(\"timestamp\") - (60000000000)) + 180000000000 + 59999999999) // 60000000000 - 3 AS k_lo"
        ));
        assert!(plan.sql.contains("\"timestamp\" >= TIMESTAMP_NS '1970-01-01 00:00:00.000000000'"));
    }

    #[test]
    fn other_range_aggregations_stay_in_rust() {
        let none = |q: &str| plan_range_counts(&range(q), "logs", BOUNDS, 0, 1).is_none();
        // a label filter, a parser, a drop the grouping sees, without, unwrap, a non-counting function
        assert!(none(r#"sum by (level) (count_over_time({service_name="a"} | __error__="" [1m]))"#));
        assert!(none(r#"sum by (level) (count_over_time({service_name="a"} | json [1m]))"#));
        assert!(none(r#"sum by (__error__) (count_over_time({service_name="a"} | drop __error__ [1m]))"#));
        assert!(none(r#"sum by (level) (count_over_time({service_name="a"} | drop level [1m]))"#));
        assert!(none(r#"sum without (level) (count_over_time({service_name="a"} [1m]))"#));
        assert!(none(r#"sum by (level) (sum_over_time({service_name="a"} | unwrap v [1m]))"#));
        assert!(none(r#"max by (level) (max_over_time({service_name="a"} | unwrap v [1m]))"#));
        assert!(!none(r#"sum by (level) (bytes_rate({service_name="a"} |= "x" [1m] offset 5m))"#));
    }
}
