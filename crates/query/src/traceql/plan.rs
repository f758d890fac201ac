//! Planning a TraceQL tree into one DuckDB SQL query for a Tempo-style search.
//!
//! Shape of the SQL: `base` is the `spans` table restricted to the time range
//! by constant comparisons on `timestamp` (so DuckLake can skip files) and
//! is never materialised, so every use pushes its own predicate into the
//! scan. Each spanset node becomes a CTE of matched spans (their ids plus
//! the columns the result lists, so the result needs no second scan of the
//! wide attribute columns): a `{ ... }` filter is a WHERE
//! clause on `base`; `&&` / `||` between spansets are trace-level semi-joins
//! and unions; `>` and `~` are semi-joins on parent ids; `>>` walks parent
//! links with a recursive CTE over the candidate traces only; pipeline
//! aggregates are a GROUP BY trace_id with HAVING. Trace-level intrinsics
//! (rootName, rootServiceName, traceDuration) join a per-trace summary in
//! only when the query uses them. The result is one row per trace with its
//! root, start, duration and the first matched spans.
//!
//! Attributes are stored as strings, so numeric comparisons cast with
//! TRY_CAST (a non-numeric value does not match), and a missing attribute
//! never matches, whatever the operator, as in Tempo.

use super::ast::*;
use super::TraceqlError;

/// What every matched-span relation carries: the ids the spanset operators
/// join on, and what the result lists, so the result needs no second scan.
const MATCHED_COLUMNS: &str =
    "b.trace_id, b.span_id, b.parent_span_id, b.timestamp, b.span_name, b.duration, b.service_name, b.span_attributes";

/// What a search returns and over which rows.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// The fully qualified `spans` table.
    pub spans_table: String,
    /// Inclusive lower bound on span start, nanoseconds since the epoch.
    pub start_ns: Option<i64>,
    /// Exclusive upper bound on span start, nanoseconds since the epoch.
    pub end_ns: Option<i64>,
    /// At most this many traces, newest first.
    pub limit: u64,
    /// At most this many matched spans listed per trace.
    pub spans_per_spanset: u64,
}

/// The SQL of a search for `query`.
pub fn search_sql(query: &SpansetExpr, options: &SearchOptions) -> Result<String, TraceqlError> {
    let mut planner = Planner { ctes: Vec::new(), source: "base", recursive: false };
    if uses_trace_level(query) {
        planner.add_trace_summary();
        planner.source = "base_t";
    }
    let matched = planner.spanset(query)?;
    Ok(planner.finish(&matched, options))
}

struct Planner {
    ctes: Vec<(String, String)>,
    /// The relation span conditions read: `base`, or `base_t` with trace-level columns.
    source: &'static str,
    recursive: bool,
}

impl Planner {
    fn add(&mut self, body: String) -> String {
        let name = format!("s{}", self.ctes.len() + 1);
        self.ctes.push((name.clone(), body));
        name
    }

    fn add_trace_summary(&mut self) {
        self.ctes.push((
            "trace_summary".into(),
            "SELECT trace_id, \
             arg_min(span_name, timestamp) FILTER (WHERE parent_span_id = '') AS root_name, \
             arg_min(service_name, timestamp) FILTER (WHERE parent_span_id = '') AS root_service_name, \
             epoch_ns(max(end_timestamp)) - epoch_ns(min(timestamp)) AS trace_duration \
             FROM base GROUP BY trace_id"
                .into(),
        ));
        self.ctes.push((
            "base_t".into(),
            "SELECT b.*, t.root_name, t.root_service_name, t.trace_duration \
             FROM base b JOIN trace_summary t ON t.trace_id = b.trace_id"
                .into(),
        ));
    }

    /// Adds the CTEs of one spanset node and returns the name of its matched-span relation.
    fn spanset(&mut self, expr: &SpansetExpr) -> Result<String, TraceqlError> {
        match expr {
            SpansetExpr::Filter(condition) => {
                let predicate = condition_sql(condition, "b")?;
                Ok(self.add(format!("SELECT {MATCHED_COLUMNS} FROM {} b WHERE {predicate}", self.source)))
            }
            SpansetExpr::Binary { op, lhs, rhs } => {
                let lhs = self.spanset(lhs)?;
                let rhs = self.spanset(rhs)?;
                Ok(self.binary(*op, &lhs, &rhs))
            }
            SpansetExpr::Pipeline { input, stage } => {
                let input = self.spanset(input)?;
                self.stage(&input, stage)
            }
        }
    }

    fn binary(&mut self, op: SpansetOp, lhs: &str, rhs: &str) -> String {
        match op {
            SpansetOp::Or => self.add(format!("SELECT * FROM {lhs} UNION SELECT * FROM {rhs}")),
            SpansetOp::And => self.add(format!(
                "SELECT * FROM {lhs} WHERE trace_id IN (SELECT trace_id FROM {rhs}) \
                 UNION SELECT * FROM {rhs} WHERE trace_id IN (SELECT trace_id FROM {lhs})"
            )),
            SpansetOp::Child => self.add(format!(
                "SELECT r.* FROM {rhs} r WHERE EXISTS \
                 (SELECT 1 FROM {lhs} l WHERE l.trace_id = r.trace_id AND l.span_id = r.parent_span_id)"
            )),
            SpansetOp::Sibling => self.add(format!(
                "SELECT r.* FROM {rhs} r WHERE r.parent_span_id <> '' AND EXISTS \
                 (SELECT 1 FROM {lhs} l WHERE l.trace_id = r.trace_id AND l.parent_span_id = r.parent_span_id \
                 AND l.span_id <> r.span_id)"
            )),
            SpansetOp::Descendant => self.descendant(lhs, rhs),
        }
    }

    /// Spans of `rhs` with an ancestor in `lhs`: follow parent links upwards
    /// from each `rhs` span, over the traces where both sides matched only.
    fn descendant(&mut self, lhs: &str, rhs: &str) -> String {
        self.recursive = true;
        let links = self.add(format!(
            "SELECT trace_id, span_id, parent_span_id FROM base \
             WHERE trace_id IN (SELECT trace_id FROM {lhs}) AND trace_id IN (SELECT trace_id FROM {rhs})"
        ));
        let up = self.add(String::new());
        let up_body = format!(
            "SELECT r.trace_id, r.span_id, r.parent_span_id AS ancestor FROM {rhs} r \
             WHERE r.trace_id IN (SELECT trace_id FROM {links}) \
             UNION SELECT u.trace_id, u.span_id, k.parent_span_id FROM {up} u \
             JOIN {links} k ON k.trace_id = u.trace_id AND k.span_id = u.ancestor WHERE u.ancestor <> ''"
        );
        self.ctes.last_mut().expect("just added").1 = up_body;
        self.add(format!(
            "SELECT r.* FROM {rhs} r WHERE EXISTS (SELECT 1 FROM {up} u JOIN {lhs} l \
             ON l.trace_id = u.trace_id AND l.span_id = u.ancestor \
             WHERE u.trace_id = r.trace_id AND u.span_id = r.span_id)"
        ))
    }

    fn stage(&mut self, input: &str, stage: &Stage) -> Result<String, TraceqlError> {
        match stage {
            Stage::Filter(condition) => {
                let predicate = condition_sql(condition, "b")?;
                Ok(self.add(format!(
                    "SELECT p.* FROM {input} p WHERE EXISTS (SELECT 1 FROM {} b \
                     WHERE b.trace_id = p.trace_id AND b.span_id = p.span_id AND {predicate})",
                    self.source
                )))
            }
            Stage::Aggregate { func, field, op, value } => {
                let having = aggregate_sql(*func, field.as_ref(), *op, value, "b")?;
                Ok(self.add(format!(
                    "SELECT * FROM {input} WHERE trace_id IN (SELECT p.trace_id FROM {input} p \
                     JOIN {} b ON b.trace_id = p.trace_id AND b.span_id = p.span_id \
                     GROUP BY p.trace_id HAVING {having})",
                    self.source
                )))
            }
        }
    }

    fn finish(self, matched: &str, options: &SearchOptions) -> String {
        let mut ctes = vec![format!(
            "base AS NOT MATERIALIZED (SELECT * FROM {} WHERE {})",
            options.spans_table,
            time_range_sql(options)
        )];
        ctes.extend(self.ctes.into_iter().map(|(name, body)| format!("{name} AS ({body})")));
        ctes.push(format!(
            "traces AS (SELECT b.trace_id, \
             arg_min(b.service_name, b.timestamp) FILTER (WHERE b.parent_span_id = '') AS root_service_name, \
             arg_min(b.span_name, b.timestamp) FILTER (WHERE b.parent_span_id = '') AS root_span_name, \
             min(b.timestamp) AS start_time, \
             (epoch_ns(max(b.end_timestamp)) - epoch_ns(min(b.timestamp))) // 1000000 AS duration_ms \
             FROM base b WHERE b.trace_id IN (SELECT trace_id FROM {matched}) GROUP BY b.trace_id \
             ORDER BY start_time DESC, b.trace_id LIMIT {limit})",
            limit = options.limit
        ));
        ctes.push(format!(
            "matched_spans AS (SELECT m.*, \
             row_number() OVER (PARTITION BY m.trace_id ORDER BY m.timestamp, m.span_id) AS position \
             FROM {matched} m WHERE m.trace_id IN (SELECT trace_id FROM traces))"
        ));
        let with = if self.recursive { "WITH RECURSIVE" } else { "WITH" };
        format!(
            "{with} {ctes} \
             SELECT t.trace_id, t.root_service_name, t.root_span_name, t.start_time, t.duration_ms::BIGINT AS duration_ms, \
             count(*)::BIGINT AS matched_spans, \
             list({{'span_id': s.span_id, 'name': s.span_name, 'start_time': s.timestamp, 'duration': s.duration, \
             'service_name': s.service_name, 'attributes': s.span_attributes}} ORDER BY s.position)[1:{spss}] AS spans \
             FROM traces t JOIN matched_spans s ON s.trace_id = t.trace_id \
             GROUP BY t.trace_id, t.root_service_name, t.root_span_name, t.start_time, t.duration_ms \
             ORDER BY t.start_time DESC, t.trace_id",
            ctes = ctes.join(", "),
            spss = options.spans_per_spanset,
        )
    }
}

fn time_range_sql(options: &SearchOptions) -> String {
    range_sql(options.start_ns, options.end_ns)
}

/// `timestamp` between constants (start inclusive, end exclusive), or `true`.
pub(super) fn range_sql(start_ns: Option<i64>, end_ns: Option<i64>) -> String {
    let mut bounds = Vec::new();
    if let Some(start) = start_ns {
        bounds.push(format!("timestamp >= make_timestamp_ns({start})"));
    }
    if let Some(end) = end_ns {
        bounds.push(format!("timestamp < make_timestamp_ns({end})"));
    }
    if bounds.is_empty() {
        "true".into()
    } else {
        bounds.join(" AND ")
    }
}

pub(super) fn uses_trace_level(expr: &SpansetExpr) -> bool {
    fn in_condition(condition: &FieldExpr) -> bool {
        match condition {
            FieldExpr::Literal(_) => false,
            FieldExpr::And(a, b) | FieldExpr::Or(a, b) => in_condition(a) || in_condition(b),
            FieldExpr::Compare { field, .. } => is_trace_level(field),
        }
    }
    fn is_trace_level(field: &Field) -> bool {
        matches!(field, Field::Intrinsic(i) if i.is_trace_level())
    }
    match expr {
        SpansetExpr::Filter(condition) => in_condition(condition),
        SpansetExpr::Binary { lhs, rhs, .. } => uses_trace_level(lhs) || uses_trace_level(rhs),
        SpansetExpr::Pipeline { input, stage } => {
            uses_trace_level(input)
                || match stage {
                    Stage::Filter(condition) => in_condition(condition),
                    Stage::Aggregate { field, .. } => field.as_ref().is_some_and(is_trace_level),
                }
        }
    }
}

// ---- span conditions ----

/// What kind of value a field holds, which decides the literals it compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    Text,
    Status,
    Kind,
    Duration,
    /// An attribute: a string that may hold a number or a boolean.
    Attribute,
}

fn field_type(field: &Field) -> FieldType {
    match field {
        Field::Attribute { .. } => FieldType::Attribute,
        Field::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Status => FieldType::Status,
            Intrinsic::Kind => FieldType::Kind,
            Intrinsic::Duration | Intrinsic::TraceDuration => FieldType::Duration,
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::ParentId
            | Intrinsic::TraceId
            | Intrinsic::RootName
            | Intrinsic::RootServiceName => FieldType::Text,
        },
    }
}

/// The SQL value of a field for the row aliased `row`.
pub(super) fn field_sql(field: &Field, row: &str) -> String {
    match field {
        Field::Intrinsic(intrinsic) => {
            let column = match intrinsic {
                Intrinsic::Name => "span_name",
                Intrinsic::Status => "status_code",
                Intrinsic::StatusMessage => "status_message",
                Intrinsic::Kind => "span_kind",
                Intrinsic::Duration => "duration",
                Intrinsic::SpanId => "span_id",
                Intrinsic::ParentId => "parent_span_id",
                Intrinsic::TraceId => "trace_id",
                Intrinsic::RootName => "root_name",
                Intrinsic::RootServiceName => "root_service_name",
                Intrinsic::TraceDuration => "trace_duration",
            };
            format!("{row}.{column}")
        }
        Field::Attribute { scope, name } => {
            let span = format!("{row}.span_attributes[{}]", sql_string(name));
            // service.name is also a column of its own, with statistics DuckLake can prune on
            let resource = if name == "service.name" {
                format!("NULLIF({row}.service_name, '')")
            } else {
                format!("{row}.resource_attributes[{}]", sql_string(name))
            };
            match scope {
                AttributeScope::Span => span,
                AttributeScope::Resource => resource,
                AttributeScope::Any => format!("coalesce({span}, {resource})"),
            }
        }
    }
}

pub(super) fn condition_sql(condition: &FieldExpr, row: &str) -> Result<String, TraceqlError> {
    Ok(match condition {
        FieldExpr::Literal(value) => value.to_string(),
        FieldExpr::And(a, b) => format!("({} AND {})", condition_sql(a, row)?, condition_sql(b, row)?),
        FieldExpr::Or(a, b) => format!("({} OR {})", condition_sql(a, row)?, condition_sql(b, row)?),
        FieldExpr::Compare { field, op, value } => compare_sql(field, *op, value, row)?,
    })
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Intrinsic(intrinsic) => intrinsic.name().to_string(),
        Field::Attribute { scope, name } => match scope {
            AttributeScope::Span => format!("span.{name}"),
            AttributeScope::Resource => format!("resource.{name}"),
            AttributeScope::Any => format!(".{name}"),
        },
    }
}

fn literal_kind(value: &Literal) -> &'static str {
    match value {
        Literal::String(_) => "a string",
        Literal::Int(_) | Literal::Float(_) => "a number",
        Literal::Duration(_) => "a duration",
        Literal::Bool(_) => "a boolean",
        Literal::Status(_) => "a status",
        Literal::Kind(_) => "a kind",
        Literal::Nil => "nil",
    }
}

fn mismatch(field: &Field, op: CompareOp, value: &Literal) -> TraceqlError {
    TraceqlError::Invalid(format!(
        "cannot compare {} with {} using {}",
        field_name(field),
        literal_kind(value),
        op.symbol()
    ))
}

/// An unscoped `.name` is looked up in both scopes, as Tempo does: the span
/// matches when its own attribute or its resource's does (`= nil`: neither exists).
fn compare_sql(field: &Field, op: CompareOp, value: &Literal, row: &str) -> Result<String, TraceqlError> {
    let Field::Attribute { scope: AttributeScope::Any, name } = field else {
        return compare_one_sql(field, op, value, row);
    };
    compare_one_sql(field, op, value, row)?; // type errors name the field as written
    let in_scope = |scope| Field::Attribute { scope, name: name.clone() };
    let span = compare_one_sql(&in_scope(AttributeScope::Span), op, value, row)?;
    let resource = compare_one_sql(&in_scope(AttributeScope::Resource), op, value, row)?;
    let either = if op == CompareOp::Eq && *value == Literal::Nil { "AND" } else { "OR" };
    Ok(format!("({span} {either} {resource})"))
}

fn compare_one_sql(field: &Field, op: CompareOp, value: &Literal, row: &str) -> Result<String, TraceqlError> {
    let column = field_sql(field, row);
    let is_equality = matches!(op, CompareOp::Eq | CompareOp::Ne);
    let is_regex = matches!(op, CompareOp::Match | CompareOp::NotMatch);
    let bad = || mismatch(field, op, value);
    match (field_type(field), value) {
        (FieldType::Text | FieldType::Attribute, Literal::String(text)) if is_regex => regex_sql(&column, op, text),
        (FieldType::Text | FieldType::Attribute, Literal::String(text)) => {
            Ok(format!("{column} {} {}", op.symbol(), sql_string(text)))
        }
        (FieldType::Attribute, Literal::Int(_) | Literal::Float(_)) if !is_regex => {
            Ok(format!("TRY_CAST({column} AS DOUBLE) {} {}", op.symbol(), number_sql(value)))
        }
        (FieldType::Attribute, Literal::Bool(flag)) if is_equality => Ok(format!("{column} {} '{flag}'", op.symbol())),
        (FieldType::Attribute | FieldType::Text, Literal::Nil) if is_equality => {
            let negation = if op == CompareOp::Eq { "" } else { "NOT " };
            Ok(format!("{column} IS {negation}NULL"))
        }
        (FieldType::Status, Literal::Status(status)) if is_equality => {
            Ok(format!("{column} {} '{}'", op.symbol(), status_text(*status)))
        }
        (FieldType::Kind, Literal::Kind(kind)) if is_equality => {
            Ok(format!("{column} {} '{}'", op.symbol(), kind_text(*kind)))
        }
        (FieldType::Duration, Literal::Duration(nanos)) if !is_regex => Ok(format!("{column} {} {nanos}", op.symbol())),
        _ => Err(bad()),
    }
}

/// Fully anchored, as Tempo's regular expressions are; checked here so a bad
/// pattern is a planning error, not a failure halfway through a scan.
fn regex_sql(column: &str, op: CompareOp, pattern: &str) -> Result<String, TraceqlError> {
    regex::Regex::new(pattern)
        .map_err(|e| TraceqlError::Invalid(format!("invalid regular expression {pattern:?}: {e}")))?;
    let matches = format!("regexp_full_match({column}, {})", sql_string(pattern));
    Ok(match op {
        CompareOp::Match => matches,
        _ => format!("({column} IS NOT NULL AND NOT {matches})"),
    })
}

fn number_sql(value: &Literal) -> String {
    match value {
        Literal::Int(n) => n.to_string(),
        Literal::Float(x) => format!("{x:?}::DOUBLE"),
        _ => unreachable!("called with numbers only"),
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "Ok",
        Status::Error => "Error",
        Status::Unset => "Unset",
    }
}

fn kind_text(kind: Kind) -> &'static str {
    match kind {
        Kind::Unspecified => "Unspecified",
        Kind::Internal => "Internal",
        Kind::Server => "Server",
        Kind::Client => "Client",
        Kind::Producer => "Producer",
        Kind::Consumer => "Consumer",
    }
}

fn aggregate_sql(
    func: Aggregate,
    field: Option<&Field>,
    op: CompareOp,
    value: &Literal,
    row: &str,
) -> Result<String, TraceqlError> {
    if matches!(op, CompareOp::Match | CompareOp::NotMatch) {
        return Err(TraceqlError::Invalid(format!("an aggregate cannot be compared with {}", op.symbol())));
    }
    let name = match func {
        Aggregate::Count => "count",
        Aggregate::Avg => "avg",
        Aggregate::Min => "min",
        Aggregate::Max => "max",
        Aggregate::Sum => "sum",
    };
    let Some(field) = field else {
        return match value {
            Literal::Int(_) | Literal::Float(_) => Ok(format!("count(*) {} {}", op.symbol(), number_sql(value))),
            _ => Err(TraceqlError::Invalid(format!("count() compares with a number, not {}", literal_kind(value)))),
        };
    };
    let column = field_sql(field, row);
    match (field_type(field), value) {
        (FieldType::Duration, Literal::Duration(nanos)) => Ok(format!("{name}({column}) {} {nanos}", op.symbol())),
        (FieldType::Attribute, Literal::Int(_) | Literal::Float(_)) => {
            Ok(format!("{name}(TRY_CAST({column} AS DOUBLE)) {} {}", op.symbol(), number_sql(value)))
        }
        _ => Err(TraceqlError::Invalid(format!(
            "cannot compare {name}({}) with {}",
            field_name(field),
            literal_kind(value)
        ))),
    }
}

pub(crate) use crate::sql_text::sql_string;

#[cfg(test)]
pub(super) mod tests {
    use super::super::parse;
    use super::*;

    /// The search options every planner test plans with (also the hostile tests').
    pub(in crate::traceql) fn options() -> SearchOptions {
        SearchOptions {
            spans_table: "\"lake\".\"otel\".\"spans\"".into(),
            start_ns: Some(1_000),
            end_ns: Some(2_000),
            limit: 20,
            spans_per_spanset: 3,
        }
    }

    fn sql(query: &str) -> String {
        search_sql(&parse(query).unwrap(), &options()).unwrap()
    }

    fn error(query: &str) -> String {
        search_sql(&parse(query).unwrap(), &options()).unwrap_err().to_string()
    }

    #[test]
    fn time_range_is_a_constant_comparison() {
        assert!(sql("{ }").starts_with(
            "WITH base AS NOT MATERIALIZED (SELECT * FROM \"lake\".\"otel\".\"spans\" \
             WHERE timestamp >= make_timestamp_ns(1000) AND timestamp < make_timestamp_ns(2000))"
        ));
        let open = SearchOptions { start_ns: None, end_ns: None, ..options() };
        assert!(search_sql(&parse("{ }").unwrap(), &open).unwrap().contains("spans\" WHERE true)"));
    }

    #[test]
    fn span_conditions_become_predicates() {
        let text = sql(r#"{ resource.service.name = "checkout" && duration > 200ms && status = error }"#);
        assert!(text.contains(
            "s1 AS (SELECT b.trace_id, b.span_id, b.parent_span_id, b.timestamp, b.span_name, b.duration, \
             b.service_name, b.span_attributes FROM base b WHERE \
             ((NULLIF(b.service_name, '') = 'checkout' AND b.duration > 200000000) AND b.status_code = 'Error'))"
        ));
        assert!(sql("{ span.http.status_code >= 500 }")
            .contains("TRY_CAST(b.span_attributes['http.status_code'] AS DOUBLE) >= 500"));
        assert!(sql("{ .a = 1.5 }").contains(
            "(TRY_CAST(b.span_attributes['a'] AS DOUBLE) = 1.5::DOUBLE OR TRY_CAST(b.resource_attributes['a'] AS DOUBLE) = 1.5::DOUBLE)"
        ));
        assert!(sql("{ .a = nil }").contains("(b.span_attributes['a'] IS NULL AND b.resource_attributes['a'] IS NULL)"));
        assert!(sql("{ .service.name != nil }")
            .contains("(b.span_attributes['service.name'] IS NOT NULL OR NULLIF(b.service_name, '') IS NOT NULL)"));
        assert!(sql(r#"{ name =~ "GET.*" }"#).contains("regexp_full_match(b.span_name, 'GET.*')"));
        assert!(sql(r#"{ name !~ "GET.*" }"#)
            .contains("(b.span_name IS NOT NULL AND NOT regexp_full_match(b.span_name, 'GET.*'))"));
        assert!(sql("{ kind = server }").contains("b.span_kind = 'Server'"));
        assert!(sql("{ span.retry = true }").contains("b.span_attributes['retry'] = 'true'"));
        assert!(sql("{ span.x != nil }").contains("b.span_attributes['x'] IS NOT NULL"));
    }

    #[test]
    fn hostile_strings_stay_literals() {
        let text = sql("{ name = \"x'; DROP TABLE spans; --\" }");
        assert!(text.contains("b.span_name = 'x''; DROP TABLE spans; --'"));
        let text = sql("{ span.\"a'b\" = \"nul\\\\0\" }");
        assert!(text.contains("b.span_attributes['a''b'] = 'nul\\0'"));
        assert_eq!(sql_string("a\0b"), "('a' || chr(0) || 'b')");
    }

    #[test]
    fn trace_level_intrinsics_join_the_summary() {
        let text = sql(r#"{ rootServiceName = "web" && traceDuration > 1s }"#);
        assert!(text.contains("trace_summary AS (SELECT trace_id"));
        assert!(text.contains("FROM base_t b WHERE (b.root_service_name = 'web' AND b.trace_duration > 1000000000)"));
        assert!(!sql("{ name = \"a\" }").contains("trace_summary"));
    }

    #[test]
    fn spanset_operators_and_pipelines() {
        assert!(sql("{ .a = 1 } && { .b = 2 }").contains(
            "s3 AS (SELECT * FROM s1 WHERE trace_id IN (SELECT trace_id FROM s2) \
             UNION SELECT * FROM s2 WHERE trace_id IN (SELECT trace_id FROM s1))"
        ));
        assert!(sql("{ .a = 1 } || { .b = 2 }").contains("s3 AS (SELECT * FROM s1 UNION SELECT * FROM s2)"));
        assert!(sql("{ .a = 1 } > { .b = 2 }").contains("l.span_id = r.parent_span_id"));
        assert!(sql("{ .a = 1 } >> { .b = 2 }").starts_with("WITH RECURSIVE"));
        assert!(sql("{ } | count() > 2").contains("GROUP BY p.trace_id HAVING count(*) > 2"));
        assert!(sql("{ } | avg(duration) >= 1ms").contains("HAVING avg(b.duration) >= 1000000"));
    }

    #[test]
    fn type_mismatches_are_errors() {
        assert_eq!(error("{ status = \"error\" }"), "traceql: cannot compare status with a string using =");
        assert_eq!(error("{ duration > 5 }"), "traceql: cannot compare duration with a number using >");
        assert_eq!(error("{ .a =~ 5 }"), "traceql: cannot compare .a with a number using =~");
        assert_eq!(error("{ kind > server }"), "traceql: cannot compare kind with a kind using >");
        assert_eq!(error("{ .a = 5s }"), "traceql: cannot compare .a with a duration using =");
        assert_eq!(error("{ } | count() > 1s"), "traceql: count() compares with a number, not a duration");
        assert_eq!(error("{ } | avg(name) > 1"), "traceql: cannot compare avg(name) with a number");
        assert!(error("{ name =~ \"(\" }").starts_with("traceql: invalid regular expression \"(\""));
    }
}
