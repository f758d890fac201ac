//! Portable SQL: the DuckDB SQL text that computes a PromQL range query from
//! the DuckLake tables without canardstack (MotherDuck, DuckDB-WASM, a plain
//! DuckDB 1.5 that attached the lake).
//!
//! A plan is one `WITH` chain of CTEs that a person can read and edit: each
//! node of the PromQL tree becomes one CTE (a few for `rate`), headed by a
//! comment naming the node, that computes the node's value at every step at
//! once. An instant vector is a relation `(step_ms, metric, labels, value)`,
//! one row per series and step (`metric` is the `__name__` label, NULL once an
//! operator dropped it); a scalar is `(step_ms, value)`; a number known while
//! planning (a literal, arithmetic on literals) is folded into the text.
//!
//! The text is independent of the data: each selector reads its points
//! through the OTLP -> Prometheus translation written out in SQL
//! ([`points`]); a plain selector is an ASOF join of series x steps against
//! its points (the newest sample in `(t - 5m, t]`, unless it is a staleness
//! marker); range functions are range joins of steps against the points in
//! `(t - range, t]` ([`range`]); aggregations are `GROUP BY`s over the step
//! and the grouping labels ([`aggregate`]); operators are joins on the step
//! and the matching labels ([`binary`]). Float arithmetic follows the
//! engine's bit for bit ([`float`]). A construct without a plan is an error
//! naming it (`promql_range` evaluates it in Rust). Every table is read with
//! a prunable `timestamp` window.

mod aggregate;
mod binary;
pub(crate) mod float;
mod functions;
mod histogram;
mod points;
mod range;

use super::error::{eval_error, unsupported, Result};
use super::eval::{checked_duration_ms, QueryTimes, DEFAULT_LOOKBACK_MS};
use super::value::METRIC_NAME;
use crate::sql_text::LakeTarget;
use float::number_sql;
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, MatrixSelector, Offset, VectorSelector};
use std::collections::HashSet;
use std::fmt;

/// The SQL for `expr` as a range query over `times`.
pub fn portable_sql(expr: &Expr, times: QueryTimes, target: &LakeTarget) -> Result<String> {
    let mut plan = Plan::new(Grid::known(times), target);
    let result = plan.expr(expr)?;
    Ok(plan.finish(&comment_text(expr), result))
}

/// A time or a length of time in milliseconds as a plan writes it: a number
/// known while planning, or an SQL expression (of a table macro's
/// parameters, see [`rate_sql`]), which the text puts in parentheses.
#[derive(Clone, Debug, PartialEq)]
pub enum Millis {
    Known(i64),
    Sql(String),
}

impl Millis {
    /// `self - other`, folded when both are known.
    fn minus(&self, other: &Millis) -> Millis {
        match (self, other) {
            (Millis::Known(a), Millis::Known(b)) => Millis::Known(a - b),
            _ => Millis::Sql(format!("{self} - {other}")),
        }
    }

    /// `self + other`, folded when both are known.
    fn plus(&self, other: &Millis) -> Millis {
        match (self, other) {
            (Millis::Known(a), Millis::Known(b)) => Millis::Known(a + b),
            _ => Millis::Sql(format!("{self} + {other}")),
        }
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Millis::Known(ms) => write!(f, "{ms}"),
            Millis::Sql(sql) => write!(f, "({sql})"),
        }
    }
}

/// The steps a plan computes values at: `start`, `start + step`, ... up to
/// `end`, in milliseconds since the epoch. `checks` are conditions the
/// `steps` CTE asserts through DuckDB's `error()` (each with its message):
/// what `QueryTimes::range` checks while planning, for times only known
/// when the SQL runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub start: Millis,
    pub end: Millis,
    pub step: Millis,
    pub checks: Vec<(String, String)>,
}

impl Grid {
    pub fn known(times: QueryTimes) -> Grid {
        Grid {
            start: Millis::Known(times.start),
            end: Millis::Known(times.end),
            step: Millis::Known(times.step),
            checks: Vec::new(),
        }
    }
}

/// The SQL for `function(<metric>[<range>])` (`rate`, `increase` or
/// `delta`) on `grid`, where `metric` (the Prometheus metric name) and
/// `range_ms` are SQL expressions: the body of a table macro whose
/// parameters they name. It is the plan `portable_sql` writes for
/// `function(name[range])`, with the parameters in place of the numbers
/// and the name. The parameters may share their names with columns of the
/// plan: a macro's parameter hides an unqualified column of its name, and
/// the plan's only bare `metric` is the one that means the parameter.
pub fn rate_sql(function: &str, metric: &str, range_ms: &str, grid: Grid, target: &LakeTarget) -> Result<String> {
    if !matches!(function, "rate" | "increase" | "delta") {
        return Err(unsupported(format!("a macro for {function}()")));
    }
    let about = format!("{function}(<metric>[<range>])");
    let mut plan = Plan::new(grid, target);
    let selected = Selected::Filtered { filters: vec![format!("l.metric = {metric}")], about: "<metric>".into() };
    let result = range::rate_of(&mut plan, function, &selected, 0, &Millis::Sql(range_ms.to_string()), &about)?;
    Ok(plan.finish(&about, result))
}

/// The SQL listing the Prometheus series (`metric`, `labels`) whose metric
/// name is the SQL expression `metric`, over all time, in the engine's
/// series order: the selector's translation of [`points`] without a window.
pub fn series_sql(metric: &str, target: &LakeTarget) -> Result<String> {
    let all_time = Grid {
        start: Millis::Known(super::lake::LAKE_FIRST_MS),
        end: Millis::Known(super::lake::LAKE_LAST_MS),
        step: Millis::Known(1),
        checks: Vec::new(),
    };
    let mut plan = Plan::new(all_time, target);
    let selected = Selected::Filtered { filters: vec![format!("l.metric = {metric}")], about: "<metric>".into() };
    let matched = plan.points_of(&selected, &Millis::Known(0), &Millis::Known(0))?;
    let points = plan.ctes.pop().unwrap_or_default();
    Ok(format!(
        "-- the Prometheus series of one metric name (generated by canardstack)
WITH {points}
SELECT d.metric, d.labels FROM (SELECT DISTINCT m.metric, m.labels FROM {matched} m) d
ORDER BY {order}",
        order = series_order_sql("d.metric", "d.labels"),
    ))
}

/// The points a plan reads: those of a PromQL selector, or those a macro's
/// filters (on `l.metric`, `l.labels`) keep.
pub(super) enum Selected<'a> {
    Selector(&'a VectorSelector),
    Filtered { filters: Vec<String>, about: String },
}

/// What a planned subexpression is.
enum Planned {
    /// a number known while planning
    Number(f64),
    /// a CTE `(step_ms, value)` with one row per step
    Scalar(String),
    Vector(Vector),
}

/// A CTE `(step_ms, metric, labels, value)`: an instant vector at every step.
struct Vector {
    cte: String,
    names: Names,
}

/// The metric names a vector's rows may carry. Dropping the name of a vector
/// with several could give two rows one label set, which the engine reports
/// at run time; a plan refuses it instead.
#[derive(Clone, Debug, PartialEq)]
enum Names {
    Dropped,
    One(String),
    Several,
}

impl Names {
    fn of_selector(vs: &VectorSelector) -> Names {
        let named = vs.matchers.matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
        match (&vs.name, named) {
            (Some(name), _) => Names::One(name.clone()),
            (None, Some(m)) => Names::One(m.value.clone()),
            (None, None) => Names::Several,
        }
    }

    /// Checks that `what` may drop the names.
    fn droppable(&self, what: &str) -> Result<()> {
        match self {
            Names::Several => Err(unsupported(format!(
                "portable SQL for {what} over series without a metric name (a selector naming none, or several)"
            ))),
            _ => Ok(()),
        }
    }

    /// The names of rows from both.
    fn union(&self, other: &Names) -> Names {
        if self == other {
            self.clone()
        } else {
            Names::Several
        }
    }
}

/// A PromQL node as one line of an SQL comment (a label value may hold a
/// line break, which would end the comment and make the rest SQL).
fn comment_text(node: &impl std::fmt::Display) -> String {
    node.to_string().replace('\r', "\\r").replace('\n', "\\n")
}

/// The order the engine keeps series in (its label sets, `__name__`
/// included, compared entry by entry), which is the order it adds values in.
fn series_order_sql(metric: &str, labels: &str) -> String {
    format!(
        "list_sort(map_entries({labels}) || list_filter([{{'key': '__name__', 'value': {metric}}}], lambda e: e.value IS NOT NULL))"
    )
}

/// A list literal of label names.
fn names_sql(names: &[&String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| crate::sql_text::quote_literal(n)).collect();
    format!("[{}]", quoted.join(", "))
}

const EMPTY_LABELS: &str = "MAP {}::MAP(VARCHAR, VARCHAR)";

/// The plan being built: its CTEs in order.
struct Plan<'a> {
    grid: Grid,
    target: &'a LakeTarget,
    ctes: Vec<String>,
    taken: HashSet<String>,
    selectors: usize,
    /// Whether a node may give two series of one step the same labels
    /// (`label_replace`, `label_join`), which the engine's answer refuses.
    relabelled: bool,
}

impl<'a> Plan<'a> {
    fn new(grid: Grid, target: &'a LakeTarget) -> Self {
        let checks: Vec<String> = grid
            .checks
            .iter()
            .map(|(holds, message)| {
                format!("CASE WHEN NOT ({holds}) THEN error({}) ELSE true END", crate::sql_text::quote_literal(message))
            })
            .collect();
        let filter = if checks.is_empty() { String::new() } else { format!("\n  WHERE {}", checks.join("\n    AND ")) };
        let body = format!(
            "  SELECT unnest(generate_series({}::BIGINT, {}::BIGINT, {}::BIGINT)) AS step_ms{filter}",
            grid.start, grid.end, grid.step
        );
        let mut plan = Plan { grid, target, ctes: Vec::new(), taken: HashSet::new(), selectors: 0, relabelled: false };
        plan.cte("steps", "", body);
        plan
    }

    /// Adds a CTE named `base` (`base_2`, ... when taken), headed by a comment
    /// when `about` is not empty, and returns its name.
    fn cte(&mut self, base: &str, about: &str, body: String) -> String {
        self.add_cte(base, about, body, "")
    }

    /// [`Plan::cte`] for a `GROUP BY` that later nodes read: DuckDB inlines a
    /// CTE read once, and planning aggregations inlined into each other
    /// takes twice as long with every level (6 s at 20 levels), while
    /// materialized ones plan in linear time.
    fn grouped_cte(&mut self, base: &str, about: &str, body: String) -> String {
        self.add_cte(base, about, body, "MATERIALIZED ")
    }

    fn add_cte(&mut self, base: &str, about: &str, body: String, materialized: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while self.taken.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.taken.insert(name.clone());
        let comment = if about.is_empty() { String::new() } else { format!("-- {about}\n") };
        self.ctes.push(format!("{comment}{name} AS {materialized}(\n{body}\n)"));
        name
    }

    /// The CTEs of one selector's points, reaching `reach` ms before the
    /// first step; returns the name of the last (`matched`).
    fn points(&mut self, vs: &VectorSelector, offset: i64, reach: i64) -> Result<String> {
        self.points_of(&Selected::Selector(vs), &Millis::Known(offset), &Millis::Known(reach))
    }

    /// [`Plan::points`] of what `selected` names, `reach` an SQL expression or a number.
    fn points_of(&mut self, selected: &Selected, offset: &Millis, reach: &Millis) -> Result<String> {
        self.selectors += 1;
        let prefix = if self.selectors == 1 { String::new() } else { format!("s{}_", self.selectors) };
        let (filters, about) = match selected {
            Selected::Selector(vs) => (points::selector_filters(vs)?, comment_text(vs)),
            Selected::Filtered { filters, about } => (filters.clone(), about.clone()),
        };
        let text = points::points_sql(&filters, offset, &self.grid, self.target, reach, &prefix);
        self.ctes.push(format!("-- the points of {about}\n{text}"));
        let matched = format!("{prefix}matched");
        self.taken.insert(matched.clone());
        Ok(matched)
    }

    fn expr(&mut self, expr: &Expr) -> Result<Planned> {
        match expr {
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::NumberLiteral(n) => Ok(Planned::Number(n.val)),
            Expr::VectorSelector(vs) => self.selector(vs).map(Planned::Vector),
            Expr::Aggregate(agg) => aggregate::plan(self, agg),
            Expr::Binary(b) => binary::plan(self, b),
            Expr::Unary(u) => binary::negate(self, &u.expr),
            Expr::Call(call) => functions::plan(self, call),
            other => {
                Err(unsupported(format!("portable SQL for {} (promql_range evaluates it)", construct_name(other))))
            }
        }
    }

    /// An argument that must be an instant vector (the parser has checked
    /// the types; anything else is refused, never guessed).
    fn vector(&mut self, expr: &Expr, what: &str) -> Result<Vector> {
        match self.expr(expr)? {
            Planned::Vector(v) => Ok(v),
            _ => Err(eval_error(format!("{what} expects an instant vector"))),
        }
    }

    /// A parameter that must be a number known while planning.
    fn number(&mut self, expr: &Expr, what: &str) -> Result<f64> {
        match self.expr(expr)? {
            Planned::Number(v) => Ok(v),
            _ => Err(unsupported(format!("portable SQL for {what} with a parameter other than a number"))),
        }
    }

    /// An instant selector: per series and step, the newest point in `(t - 5m, t]`.
    fn selector(&mut self, vs: &VectorSelector) -> Result<Vector> {
        self.selector_of(vs, "p.value", "g.metric", &comment_text(vs))
    }

    /// [`Plan::selector`] with `value` (of the point `p`) as each sample's
    /// value and `metric` as its name.
    fn selector_of(&mut self, vs: &VectorSelector, value: &str, metric: &str, about: &str) -> Result<Vector> {
        let offset = offset_of(vs)?;
        let lookback = DEFAULT_LOOKBACK_MS;
        let matched = self.points(vs, offset, offset + lookback)?;
        let grid = self.cte(
            "grid",
            "",
            format!("  SELECT * FROM (SELECT DISTINCT key, metric, labels FROM {matched}) CROSS JOIN steps"),
        );
        let cte = self.cte(
            "selector",
            about,
            format!(
                "  SELECT g.step_ms, {metric} AS metric, g.labels, {value} AS value
  FROM {grid} g ASOF JOIN {matched} p ON g.key = p.key AND p.t <= g.step_ms - {offset}
  WHERE p.t > g.step_ms - {offset} - {lookback} AND NOT p.stale"
            ),
        );
        Ok(Vector { cte, names: Names::of_selector(vs) })
    }

    /// The statement: every CTE, then the rows as `promql_range` gives them
    /// (columns qualified, so a macro's parameter cannot hide them).
    fn finish(self, about: &str, result: Planned) -> String {
        let (from, metric, labels, value) = match result {
            Planned::Number(v) => ("steps".to_string(), "NULL::VARCHAR", EMPTY_LABELS, number_sql(v)),
            Planned::Scalar(cte) => (cte, "NULL::VARCHAR", EMPTY_LABELS, "r.value".to_string()),
            Planned::Vector(v) => (v.cte, "r.metric", "r.labels", "r.value".to_string()),
        };
        let unique = if self.relabelled {
            format!(
                "\nQUALIFY CASE WHEN count(*) OVER (PARTITION BY r.step_ms, {metric}, {labels}) > 1 THEN error({}) ELSE true END",
                crate::sql_text::quote_literal("promql: vector cannot contain metrics with the same labelset")
            )
        } else {
            String::new()
        };
        format!(
            "-- promql_sql: {about} from {} to {} step {}ms (generated by canardstack)
WITH {}
SELECT {labels} AS labels, {metric} AS metric, make_timestamp(r.step_ms * 1000) AS \"timestamp\", {value} AS value
FROM {from} r{unique}
ORDER BY {}, r.step_ms",
            self.grid.start,
            self.grid.end,
            self.grid.step,
            self.ctes.join(",\n"),
            series_order_sql(metric, labels),
        )
    }
}

/// The range selector a range function takes (parentheses allowed).
fn range_selector<'e>(arg: Option<&'e Expr>, function: &str) -> Result<&'e MatrixSelector> {
    match arg {
        Some(Expr::Paren(p)) => range_selector(Some(&p.expr), function),
        Some(Expr::MatrixSelector(ms)) => Ok(ms),
        _ => Err(unsupported(format!("portable SQL for {function}() of anything but a range selector"))),
    }
}

fn construct_name(expr: &Expr) -> String {
    match expr {
        Expr::Aggregate(a) => format!("aggregation {}", a.op),
        Expr::Call(c) => format!("function {}()", c.func.name),
        Expr::Binary(b) => format!("binary operator {}", b.op),
        Expr::MatrixSelector(_) => "range selectors".into(),
        Expr::Subquery(_) => "subqueries".into(),
        Expr::NumberLiteral(_) => "number literals".into(),
        Expr::StringLiteral(_) => "string literals".into(),
        Expr::Unary(_) => "unary minus".into(),
        _ => "this expression".into(),
    }
}

fn offset_of(vs: &VectorSelector) -> Result<i64> {
    if vs.at.is_some() {
        return Err(unsupported("portable SQL for the @ modifier"));
    }
    Ok(match &vs.offset {
        None => 0,
        Some(Offset::Pos(d)) => checked_duration_ms(d, "the offset")?,
        Some(Offset::Neg(d)) => -checked_duration_ms(d, "the offset")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LakeTarget {
        LakeTarget { catalog: "lake".into(), schema: "otel".into() }
    }

    #[test]
    fn selectors_get_sql_with_prunable_windows() {
        let expr = crate::promql::parse("up{job=\"api\"} offset 1m").unwrap();
        let sql = portable_sql(&expr, QueryTimes::range(600_000, 1_200_000, 60_000).unwrap(), &target()).unwrap();
        // fetch window (start - offset - 5m, end - offset] = (4m, 19m]
        assert!(sql.contains("\"timestamp\" >= TIMESTAMP_NS '1970-01-01 00:04:00.001' AND \"timestamp\" < TIMESTAMP_NS '1970-01-01 00:19:00.001'"));
        assert!(sql.contains("coalesce(l.labels['job'], '') = 'api'"));
        assert!(sql.contains("metric = 'up'"));
    }

    fn plan(query: &str) -> Result<String> {
        let expr = crate::promql::parse(query).unwrap();
        portable_sql(&expr, QueryTimes::range(600_000, 1_200_000, 60_000).unwrap(), &target())
    }

    fn refusal(query: &str) -> String {
        plan(query).unwrap_err().to_string()
    }

    #[test]
    fn other_constructs_are_named() {
        assert!(refusal("timestamp(rate(up[5m]))").contains("timestamp() of anything but a selector"));
        assert!(refusal("label_replace(up, \"a\", \"$1\", \"b\", \"(\\\\d+)\")").contains("with \\d in the regex"));
        assert!(refusal("label_replace(up, \"__name__\", \"x\", \"b\", \".*\")").contains("into __name__"));
        assert!(refusal("label_join(up, \"1a\", \",\", \"b\")").contains("invalid destination label name"));
        assert!(refusal("count_values(\"__name__\", up)").contains("count_values into __name__"));
        assert!(refusal("count_values(\"1v\", up)").contains("invalid label name"));
        assert!(refusal("day_of_month(up)").contains("function day_of_month()"));
        assert!(refusal("asinh(up)").contains("function asinh()"));
        assert!(refusal("up + on() group_left(__name__) up").contains("copying __name__"));
        assert!(refusal("rate(up[5m:1m])").contains("anything but a range selector"));
        assert!(refusal("topk(scalar(up), up)").contains("parameter other than a number"));
    }

    #[test]
    fn dropping_names_needs_one_metric_name() {
        for query in
            ["rate({__name__=~\"a|b\"}[5m])", "{job=\"x\"} * 2", "-{job=\"x\"}", "sum_over_time({job=\"x\"}[1m])"]
        {
            assert!(refusal(query).contains("without a metric name"), "{query}");
        }
        // comparisons without bool and last_over_time keep the names, so they may mix them
        assert!(plan("{job=\"x\"} > 2").is_ok());
        assert!(plan("last_over_time({job=\"x\"}[1m])").is_ok());
        assert!(plan("{__name__=\"up\"} * 2").is_ok());
    }

    #[test]
    fn aggregations_group_by_the_step_and_their_labels() {
        let sql = plan("sum by (job, __name__) (up)").unwrap();
        assert!(sql.contains("-- sum by (job, __name__) (up)\nsum AS MATERIALIZED ("), "{sql}");
        assert!(sql.contains("list_contains(['job'], e.key)"), "{sql}");
        assert!(sql.contains("GROUP BY step_ms, grouping, metric"), "{sql}");
        let sql = plan("max without (instance) (up)").unwrap();
        assert!(sql.contains("NOT list_contains(['instance'], e.key)"), "{sql}");
        assert!(sql.contains("FILTER (WHERE NOT isnan(value))"), "{sql}");
        // `group` is an SQL keyword, so its CTE is named otherwise
        assert!(plan("group(up)").unwrap().contains("grouped AS MATERIALIZED ("));
        assert!(refusal("topk(NaN, up)").contains("parameter value is NaN"));
    }

    #[test]
    fn histogram_quantile_reads_le_and_groups_without_it() {
        let sql = plan("histogram_quantile(0.9, rate(latency_seconds_bucket[5m]))").unwrap();
        assert!(sql.contains("TRY_CAST(trim(labels['le']) AS DOUBLE)"), "{sql}");
        assert!(sql.contains("lambda e: e.key <> 'le'"), "{sql}");
        assert!(sql.contains("'0.9'::DOUBLE * counts[n] AS rank"), "{sql}");
        // a quantile outside [0, 1] is known while planning
        assert!(plan("histogram_quantile(2, latency_seconds_bucket)").unwrap().contains("'Infinity'::DOUBLE AS value"));
        assert!(
            refusal("histogram_quantile(scalar(up), latency_seconds_bucket)").contains("parameter other than a number")
        );
    }

    #[test]
    fn regressions_fit_from_the_first_point_or_the_step() {
        let deriv = plan("deriv(up[5m])").unwrap();
        assert!(deriv.contains("x: (p.t - first_t)::DOUBLE / 1000::DOUBLE"), "{deriv}");
        let predicted = plan("predict_linear(up[5m], 3600)").unwrap();
        assert!(predicted.contains("x: (p.t - step_ms)::DOUBLE / 1000::DOUBLE"), "{predicted}");
        assert!(predicted.contains("+ slope * 3600::DOUBLE"), "{predicted}");
    }

    #[test]
    fn numbers_are_folded_while_planning() {
        let sql = plan("1 + 2 * 3").unwrap();
        assert!(sql.contains("7::DOUBLE AS value\nFROM steps"), "{sql}");
        let sql = plan("up > bool (2 ^ 0.5)").unwrap();
        assert!(sql.contains("'1.4142135623730951'::DOUBLE"), "{sql}");
    }

    #[test]
    fn each_selector_reads_its_own_points() {
        let sql = plan("up / on(job) down").unwrap();
        assert!(sql.contains("FROM matched") && sql.contains("FROM s2_matched"), "{sql}");
        assert!(sql.contains("metric = 'up'") && sql.contains("metric = 'down'"), "{sql}");
        assert!(sql.contains("error('found duplicate series for the match group '"), "{sql}");
    }

    #[test]
    fn line_breaks_in_the_query_stay_inside_comments() {
        let sql = plan("sum(up{job=\"a\\nDROP TABLE x; --\"})").unwrap();
        // comments print the break escaped; only the matcher's string literal holds it, closed by its quote
        for line in sql.lines().filter(|line| line.contains("DROP")) {
            assert!(line.contains("a\\nDROP") || line.starts_with("DROP TABLE x; --'"), "{line}");
        }
        assert!(sql.contains("-- sum(up{job=\"a\\nDROP TABLE x; --\"})\nsum AS MATERIALIZED ("), "{sql}");
    }
}
