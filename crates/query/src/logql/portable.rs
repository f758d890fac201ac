//! `logql_sql`'s portable plans: a LogQL query as one DuckDB `WITH` chain
//! that gives `loki_query`'s rows from the lake alone, for clients that
//! cannot load canardstack.
//!
//! The chain mirrors the engine stage for stage rather than optimising: the
//! storage plan labels rows as [`super::plan`] does, then each pipeline stage
//! is one CTE over rows of `timestamp, line, stream, metadata, parsed` (the
//! three label categories of [`super::pipeline::Entry`], looked up parsed
//! first), parsers add to `parsed` with the engine's `_extracted` rule and
//! set `__error__` where the engine does, and metric queries join the step
//! grid against the samples with windows `(t - offset - range, t - offset]`
//! and fold each window in the engine's order ([`super::eval`]). Whatever
//! SQL cannot reproduce exactly is refused while planning, with the
//! construct named; what depends on the data (a JSON value whose text the
//! engine prints differently, an error detail only serde_json can word) is
//! reported while running, through DuckDB's `error()`.

use super::ast::*;
use super::eval::{range_window, sum_pushdown, Steps};
use super::pattern::Pattern;
use super::pipeline::{parse_json_path, sanitize_label_name, PathStep, ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::plan::{literal, plan_logs, stage_name, Direction, Shape, TimeBounds};
use crate::promql::sql::float::{number_sql, quantile, variance};
use regex_syntax::ast::{self as re_ast, Ast};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortableError {
    #[error("logql_sql: {0} has no SQL plan; use loki_query")]
    NoPlan(String),
    #[error("logql_sql: {0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, PortableError>;

fn no_plan(what: impl Into<String>) -> PortableError {
    PortableError::NoPlan(what.into())
}

/// Unicode White_Space, which Rust's `char::is_whitespace` and `str::trim`
/// use (RE2's `\s` is ASCII only).
const WHITESPACE: &str = r"\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";

/// Stands in for an `__error_details__` text only serde_json can word; a row
/// that would show it fails with [`DETAILS_UNKNOWN_MESSAGE`].
const DETAILS_UNKNOWN: &str = "\0no SQL form\0";
const DETAILS_UNKNOWN_MESSAGE: &str =
    "logql_sql: a line's __error_details__ is worded by loki_query's parser and has no SQL form; \
     add | __error__=\"\" or drop __error_details__, or use loki_query";

/// A log query: lines with `start <= timestamp < end` through the whole
/// pipeline, ordered by `direction`, at most `limit`; columns as `loki_query`'s.
pub fn log_query_sql(
    selector: &LogSelector,
    logs_table: &str,
    start_ns: i64,
    end_ns: i64,
    limit: u64,
    direction: Direction,
) -> Result<String> {
    let bounds = TimeBounds { from_ns: start_ns, from_inclusive: true, to_ns: end_ns, to_inclusive: false };
    let plan = plan_logs(selector, logs_table, bounds, Some(direction), Some(limit), Shape::Portable);
    if plan.is_pure_sql() {
        return Ok(plan.sql);
    }
    let mut chain = Chain::default();
    let rows = chain.pipeline(selector, logs_table, bounds)?;
    let dir = if direction == Direction::Backward { "DESC" } else { "ASC" };
    chain.finish(format!(
        "SELECT \"timestamp\", CASE WHEN list_contains(map_values(parsed), {unknown}) THEN error({message}) \
         ELSE map_concat(stream, parsed) END AS labels, line, metadata AS structured_metadata\n\
         FROM (SELECT * FROM {rows} ORDER BY \"timestamp\" {dir}, line {dir} LIMIT {limit})\n\
         ORDER BY \"timestamp\" {dir}, line {dir}",
        unknown = literal(DETAILS_UNKNOWN),
        message = literal(DETAILS_UNKNOWN_MESSAGE),
    ))
}

/// A metric query at every step of `steps` (already aligned, as `loki_query`
/// aligns them): `labels, timestamp, value`, one row per series and step.
pub fn metric_query_sql(expr: &MetricExpr, logs_table: &str, steps: &Steps) -> Result<String> {
    let times = steps.timestamps().map_err(|e| PortableError::Invalid(e.to_string()))?;
    let mut chain = Chain::default();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Ok("SELECT NULL::MAP(VARCHAR, VARCHAR) AS labels, NULL::TIMESTAMP_NS AS \"timestamp\", \
                   NULL::DOUBLE AS value WHERE false"
            .into());
    };
    chain.add(
        "steps",
        "the evaluation times",
        format!("SELECT {} + k * {} AS t FROM range(0, {}) r(k)", steps.start_ns, steps.step_ns, times.len()),
    );
    let root = chain.metric(expr, logs_table, first, last, 0)?;
    chain.finish(format!(
        "SELECT labels, make_timestamp_ns(t) AS \"timestamp\", value FROM {root} ORDER BY list_sort(map_entries(labels)), t"
    ))
}

#[derive(Default)]
struct Chain {
    ctes: Vec<String>,
}

/// The value of label `name` as the engine's `Entry::get` reads it.
fn label_sql(name: &str) -> String {
    let name = literal(name);
    format!("coalesce(parsed[{name}], metadata[{name}], stream[{name}])")
}

/// The columns every pipeline CTE passes on.
const ROW: &str = "\"timestamp\", line, stream, metadata";

impl Chain {
    fn add(&mut self, kind: &str, about: &str, body: String) -> String {
        let name = format!("{kind}_{}", self.ctes.len());
        let about = about.replace('\n', " ");
        self.ctes.push(format!("-- {about}\n{name} AS MATERIALIZED (\n{body}\n)"));
        name
    }

    fn finish(self, select: String) -> Result<String> {
        Ok(format!("WITH {}\n{select}", self.ctes.join(",\n")))
    }

    /// The selector's lines through every stage, as a CTE of pipeline rows.
    fn pipeline(&mut self, selector: &LogSelector, logs_table: &str, bounds: TimeBounds) -> Result<String> {
        let plan = plan_logs(selector, logs_table, bounds, None, None, Shape::Portable);
        let mut rows = self.add(
            "entries",
            "the stream selector and the line filters before any parser, labelled as loki_query labels them",
            format!(
                "SELECT \"timestamp\", line, labels AS stream, structured_metadata AS metadata, \
                 MAP()::MAP(VARCHAR, VARCHAR) AS parsed FROM ({})",
                plan.sql
            ),
        );
        for stage in &plan.residual {
            rows = self.stage(stage, &rows)?;
        }
        Ok(rows)
    }

    fn stage(&mut self, stage: &Stage, rows: &str) -> Result<String> {
        let name = stage_name(stage);
        Ok(match stage {
            Stage::Line(filter) if matches!(filter.op, LineOp::Pattern | LineOp::NotPattern) => {
                let mut tests = Vec::new();
                for value in &filter.values {
                    let pattern = Pattern::parse(value).map_err(|e| PortableError::Invalid(e.to_string()))?;
                    tests.push(format!("regexp_matches(line, {})", literal(&pattern.regex_equivalent())));
                }
                let any = tests.join(" OR ");
                let keep = if filter.op.is_negative() { format!("NOT ({any})") } else { any };
                self.add("pattern_filter", "a pattern line filter", format!("SELECT * FROM {rows} WHERE {keep}"))
            }
            Stage::Labels(predicate) => self.label_filter(predicate, rows, "a label filter")?,
            Stage::Regexp(pattern) => {
                let names = regexp_groups(pattern)?;
                let re = literal(pattern);
                let found: Vec<String> = names
                    .iter()
                    .filter_map(|(index, name)| {
                        let name = literal(&sanitize_label_name(name.as_deref()?));
                        Some(format!("{{k: {name}, v: regexp_extract(line, {re}, {index})}}"))
                    })
                    .collect();
                let found = format!("CASE WHEN regexp_matches(line, {re}) THEN {} ELSE {} END", list(&found), EMPTY);
                self.extract(rows, &found, "the regexp parser")
            }
            Stage::Pattern(source) => {
                let pattern = Pattern::parse(source).map_err(|e| PortableError::Invalid(e.to_string()))?;
                let re = literal(&pattern.regex_equivalent());
                let found: Vec<String> = pattern
                    .names()
                    .enumerate()
                    .map(|(i, name)| {
                        let name = literal(&sanitize_label_name(name));
                        format!("{{k: {name}, v: regexp_extract(line, {re}, {})}}", i + 1)
                    })
                    .collect();
                let found = format!("CASE WHEN regexp_matches(line, {re}) THEN {} ELSE {} END", list(&found), EMPTY);
                self.extract(rows, &found, "the pattern parser")
            }
            Stage::Json(params) => self.json(params, rows)?,
            Stage::Logfmt { strict: true, .. } => return Err(no_plan("the logfmt parser with --strict")),
            Stage::Logfmt { keep_empty, params, .. } => self.logfmt(*keep_empty, params, rows),
            Stage::Drop(items) => self.drop(items, rows)?,
            Stage::Keep(items) => self.keep(items, rows)?,
            Stage::Line(_) => return Err(no_plan("a line filter after a line rewrite")),
            Stage::Unpack | Stage::LineFormat(_) | Stage::LabelFormat(_) | Stage::Decolorize => {
                return Err(no_plan(format!("the {name} stage")))
            }
        })
    }

    /// Adds `found` (a list of `{k, v}` in the engine's extraction order,
    /// names sanitized) to `parsed`: empty names skipped, a name the stream
    /// has gets `_extracted`, a later value of a name replaces an earlier one.
    fn extract(&mut self, rows: &str, found: &str, about: &str) -> String {
        self.add(
            "parsed",
            about,
            format!(
                "SELECT {ROW}, map_concat(parsed, map_from_entries(list_filter(r, \
                 lambda e, i: list_position(list_transform(r, lambda x: x.key), e.key) = i))) AS parsed\n\
                 FROM (SELECT *, list_reverse(list_transform(list_filter(found, lambda f: f.k <> ''), \
                 lambda f: {{key: CASE WHEN stream[f.k] IS NULL THEN f.k ELSE f.k || '_extracted' END, value: f.v}})) AS r\n\
                 FROM (SELECT *, {found} AS found FROM {rows}))"
            ),
        )
    }

    /// Sets `__error__` (and its details) on rows where `failed` holds and no error is set yet.
    fn set_error(&mut self, rows: &str, failed: &str, kind: &str, details: &str, about: &str) -> String {
        self.add(
            "checked",
            about,
            format!(
                "SELECT * REPLACE (CASE WHEN parsed[{error}] IS NULL AND ({failed}) \
                 THEN map_concat(parsed, MAP {{{error}: {kind}, {details_label}: {details}}}) ELSE parsed END AS parsed) \
                 FROM {rows}",
                error = literal(ERROR_LABEL),
                details_label = literal(ERROR_DETAILS_LABEL),
                kind = literal(kind),
            ),
        )
    }

    /// The json parser. A line is a document when serde_json would read it
    /// as an object: DuckDB's reader also takes trailing commas, `NaN` and
    /// `Infinity`, numbers beyond a double's range and nesting deeper than
    /// serde_json's recursion limit, so those lines fail the check here, as
    /// in the engine (their `__error_details__` being serde_json's words).
    fn json(&mut self, params: &[Extraction], rows: &str) -> Result<String> {
        // DuckDB's JSON functions fail on text that is not JSON, so they only see
        // `_object`: the line when it is a JSON object, else NULL
        let documents = self.add(
            "json_documents",
            "the lines that are JSON objects as serde_json reads them",
            format!(
                "SELECT * EXCLUDE (_json, _bare), CASE WHEN json_type(_json) = 'OBJECT' AND NOT ({lenient}) THEN _json END AS _object \
                 FROM (SELECT *, regexp_replace(_json, '\"(?:[^\"\\\\]|\\\\.)*\"', '\"\"', 'g') AS _bare \
                 FROM (SELECT *, CASE WHEN json_valid(line) THEN line END AS _json FROM {rows}))",
                lenient = lenient_json_sql("_json", "_bare"),
            ),
        );
        let object = "(_object IS NOT NULL)";
        let checked = self.set_error(
            &documents,
            &format!("NOT {object}"),
            "JSONParserErr",
            &literal(DETAILS_UNKNOWN),
            "the json parser's check that the line is a JSON object",
        );
        if params.is_empty() {
            return Ok(self.json_all(&checked));
        }
        let mut found = Vec::new();
        for param in params {
            let source = param.path.as_deref().unwrap_or(&param.label);
            let steps = parse_json_path(source).map_err(|e| PortableError::Invalid(e.to_string()))?;
            let mut path = String::from("$");
            for step in steps {
                match step {
                    PathStep::Key(key) if key.contains(['"', '\\']) || key.contains('\0') => {
                        return Err(no_plan(format!(
                            "the json parser's path {source:?} (a key with a quote or backslash)"
                        )))
                    }
                    PathStep::Key(key) => path.push_str(&format!(".\"{key}\"")),
                    PathStep::Index(i) => path.push_str(&format!("[{i}]")),
                }
            }
            let path = literal(&path);
            let node = format!("json_extract(_object, {path})");
            let value = json_value_sql(
                &node,
                &format!("json_extract_string(_object, {path})"),
                // the type in place: the extracted text of `-0` is `0`, a UBIGINT
                &format!("json_type(_object, {path})"),
                &literal(&param.label),
                true,
            );
            found.push(format!(
                "{{k: {name}, v: CASE WHEN NOT {object} THEN NULL WHEN {node} IS NULL THEN '' ELSE {value} END}}",
                name = literal(&sanitize_label_name(&param.label)),
            ));
        }
        // a line that failed the check extracts nothing, as the engine returns early
        let found = format!("list_filter({}, lambda f: f.v IS NOT NULL)", list(&found));
        Ok(self.extract(&checked, &found, "the json parser's parameters"))
    }

    /// `json` without parameters (the engine's `flatten_json`): every value
    /// that is not an object or an array, under the keys of the objects that
    /// lead to it joined with `_` (an empty leading key adds nothing), in the
    /// order of serde_json's sorted maps (by key bytes, depth first, so by
    /// the list of keys), values inside arrays left out. serde_json keeps
    /// the last of a repeated key, dropping what an earlier one held; a line
    /// with one is an error while running.
    fn json_all(&mut self, rows: &str) -> String {
        let name = "list_reduce([''] || n.keys, lambda acc, k: CASE WHEN acc = '' THEN k ELSE acc || '_' || k END)";
        let value = json_value_sql("n.v", "json_extract_string(n.v, '$')", "n.t", &format!("({name})"), false);
        let repeated = literal(
            "logql_sql: a line holds a JSON object with a repeated key, of which the json parser keeps the last \
             and drops what an earlier one held; use loki_query",
        );
        let walked = self.add(
            "json_values",
            "the json parser's values: objects walked down, arrays skipped",
            format!(
                "SELECT *, (WITH RECURSIVE n(keys, v, t) AS (
    SELECT []::VARCHAR[], _object::JSON, 'OBJECT'
    UNION ALL
    SELECT n.keys || [e.key], e.value, e.type FROM n, json_each(n.v) e WHERE n.t = 'OBJECT' AND len(n.keys) < {JSON_DEPTH}
  ) SELECT CASE WHEN count(*) > count(DISTINCT n.keys) THEN error({repeated}) ELSE
      coalesce(list({{k: regexp_replace({name}, '[^A-Za-z0-9_]', '_', 'g'), v: {value}}} ORDER BY n.keys)
        FILTER (WHERE n.t NOT IN ('OBJECT', 'ARRAY')), {EMPTY}) END FROM n) AS _found
FROM {rows}"
            ),
        );
        self.extract(&walked, "_found", "the json parser")
    }

    /// The engine's `logfmt_pairs` (not strict) as one regex: a key runs to `=`
    /// or whitespace; a value is quoted (escapes `\n \t \r \x`, an unclosed
    /// quote running to the end) or runs to whitespace; a token starting
    /// with `=` is skipped; an empty value is no value.
    fn logfmt(&mut self, keep_empty: bool, params: &[Extraction], rows: &str) -> String {
        let ws = WHITESPACE;
        let token = format!(r#"(?s)=[^{ws}]*|([^={ws}]+)(?:(=)(?:(")((?:[^"\\]|\\.)*)(?:"|\\$)?|([^{ws}]*)))?"#);
        let token = literal(&token);
        let group = |g: u32| format!("regexp_extract_all(line, {token}, {g}) AS lf_{g}");
        let unescape =
            "array_to_string(list_transform(regexp_extract_all(coalesce(lf_4[i], ''), '(?s)\\\\.|[^\\\\]+'), \
             lambda p: CASE WHEN p = '\\n' THEN chr(10) WHEN p = '\\t' THEN chr(9) WHEN p = '\\r' THEN chr(13) \
             WHEN starts_with(p, '\\') THEN p[2:] ELSE p END), '')";
        let pairs = format!(
            "list_filter(list_transform(lf_1, lambda k, i: {{k: k, v: \
             CASE WHEN coalesce(lf_2[i], '') = '' THEN NULL WHEN coalesce(lf_3[i], '') = '\"' THEN nullif({unescape}, '') \
             ELSE nullif(coalesce(lf_5[i], ''), '') END}}), lambda p: coalesce(p.k, '') <> '')"
        );
        let tokens = self.add(
            "logfmt_tokens",
            "the logfmt parser's tokens: key, '=', opening quote, quoted text, bare value",
            format!("SELECT *, {} FROM {rows}", (1..=5).map(group).collect::<Vec<_>>().join(", ")),
        );
        let found = if params.is_empty() {
            let kept = if keep_empty { "true" } else { "p.v IS NOT NULL" };
            format!(
                "list_transform(list_filter(pairs, lambda p: {kept}), \
                 lambda p: {{k: regexp_replace(p.k, '[^A-Za-z0-9_]', '_', 'g'), v: coalesce(p.v, '')}})"
            )
        } else {
            let found: Vec<String> = params
                .iter()
                .map(|p| {
                    let key = literal(p.path.as_deref().unwrap_or(&p.label));
                    format!(
                        "{{k: {}, v: coalesce(list_last(list_transform(list_filter(pairs, lambda p: p.k = {key}), \
                         lambda p: p.v)), '')}}",
                        literal(&sanitize_label_name(&p.label))
                    )
                })
                .collect();
            list(&found)
        };
        let paired = self.add(
            "logfmt_pairs",
            "the logfmt parser's key/value pairs, in line order",
            format!("SELECT *, {pairs} AS pairs FROM {tokens}"),
        );
        self.extract(&paired, &found, "the logfmt parser")
    }

    fn drop(&mut self, items: &[LabelSelectorItem], rows: &str) -> Result<String> {
        let mut doomed = Vec::new();
        for item in items {
            let value = label_sql(&item.name);
            let test = match &item.matcher {
                None => "true".to_string(),
                Some((op, expected)) => text_test_sql(*op, expected, &value, &item.name)?,
            };
            doomed.push(format!("CASE WHEN {value} IS NOT NULL AND {test} THEN {} END", literal(&item.name)));
        }
        let without = |map: &str| {
            format!("map_from_entries(list_filter(map_entries({map}), lambda e: NOT list_contains(doomed, e.key)))")
        };
        Ok(self.add(
            "dropped",
            "drop",
            format!(
                "SELECT \"timestamp\", line, {}::MAP(VARCHAR, VARCHAR) AS stream, {}::MAP(VARCHAR, VARCHAR) AS metadata, \
                 {}::MAP(VARCHAR, VARCHAR) AS parsed FROM (SELECT *, [{}]::VARCHAR[] AS doomed FROM {rows})",
                without("stream"),
                without("metadata"),
                without("parsed"),
                doomed.join(", ")
            ),
        ))
    }

    fn keep(&mut self, items: &[LabelSelectorItem], rows: &str) -> Result<String> {
        let mut kept = Vec::new();
        for item in items {
            let test = match &item.matcher {
                None => "true".to_string(),
                Some((op, expected)) => text_test_sql(*op, expected, "e.value", &item.name)?,
            };
            kept.push(format!("(e.key = {} AND {test})", literal(&item.name)));
        }
        let any = if kept.is_empty() { "false".to_string() } else { kept.join(" OR ") };
        let only = |map: &str| {
            format!("map_from_entries(list_filter(map_entries({map}), lambda e: {any}))::MAP(VARCHAR, VARCHAR)")
        };
        Ok(self.add(
            "kept",
            "keep",
            format!(
                "SELECT \"timestamp\", line, {} AS stream, {} AS metadata, {} AS parsed FROM {rows}",
                only("stream"),
                only("metadata"),
                only("parsed")
            ),
        ))
    }

    /// A label filter as the engine evaluates it: left to right with `and`
    /// and `or` short-circuiting, a line with an error passing, and a number
    /// that does not parse setting `LabelFilterErr` and passing. Each node is
    /// a column referring to earlier ones (DuckDB's lateral aliases), so the
    /// SQL grows with the predicate, not with its depth.
    fn label_filter(&mut self, predicate: &LabelPredicate, rows: &str, about: &str) -> Result<String> {
        let mut nodes = Vec::new();
        let state = ErrorState {
            kind: format!("parsed[{}]", literal(ERROR_LABEL)),
            details: format!("parsed[{}]", literal(ERROR_DETAILS_LABEL)),
        };
        let (pass, err) = predicate_sql(predicate, &state, &mut nodes)?;
        let filtered = self.add(
            "filtered",
            about,
            format!("SELECT * FROM (SELECT *, {} FROM {rows}) WHERE {pass}", nodes.join(", ")),
        );
        Ok(self.add(
            "filtered",
            "the label filter's errors",
            format!(
                "SELECT {ROW}, CASE WHEN {err} IS NULL THEN parsed \
                 ELSE map_concat(parsed, MAP {{{}: 'LabelFilterErr', {}: {err}}}) END AS parsed FROM {filtered}",
                literal(ERROR_LABEL),
                literal(ERROR_DETAILS_LABEL)
            ),
        ))
    }

    // ---- metric queries ----

    /// A CTE of `t BIGINT, labels MAP, value DOUBLE` for `expr`.
    fn metric(&mut self, expr: &MetricExpr, logs_table: &str, first: i64, last: i64, depth: usize) -> Result<String> {
        // the parser bounds nesting already; this keeps the planner safe on its own
        if depth > super::parser::MAX_NESTING {
            return Err(PortableError::Invalid("the query nests too deeply".into()));
        }
        match expr {
            MetricExpr::Range(range) => self.range(range, logs_table, first, last),
            MetricExpr::Aggregate { op, param, grouping, inner } => {
                if let Some(pushed) = sum_pushdown(*op, grouping.as_ref(), inner) {
                    let inner = self.metric(&pushed, logs_table, first, last, depth + 1)?;
                    return Ok(self.aggregate(*op, *param, grouping.as_ref(), &inner));
                }
                if matches!(**inner, MetricExpr::Scalar(_) | MetricExpr::Vector(_)) {
                    return Err(no_plan("an aggregation of a number or vector()"));
                }
                let inner = self.metric(inner, logs_table, first, last, depth + 1)?;
                Ok(self.aggregate(*op, *param, grouping.as_ref(), &inner))
            }
            MetricExpr::Binary { .. } => Err(no_plan("a binary operator")),
            MetricExpr::Scalar(_) => Err(no_plan("a number literal")),
            MetricExpr::Vector(_) => Err(no_plan("vector()")),
        }
    }

    fn range(&mut self, range: &RangeAggregation, logs_table: &str, first: i64, last: i64) -> Result<String> {
        let function = range_name(range.op);
        if matches!(range.op, RangeOp::AbsentOverTime | RangeOp::RateCounter) {
            return Err(no_plan(format!("{function}()")));
        }
        let (from_ns, to_ns) = range_window(range, first, last).map_err(|e| PortableError::Invalid(e.to_string()))?;
        let bounds = TimeBounds { from_ns, from_inclusive: false, to_ns, to_inclusive: true };
        let mut rows = self.pipeline(&range.selector, logs_table, bounds)?;
        let value = match (&range.unwrap, range.op) {
            (Some(unwrap), _) => {
                if unwrap.conversion != Conversion::Number {
                    return Err(no_plan(format!("unwrap with {:?} conversion", unwrap.conversion).to_lowercase()));
                }
                let text = format!("coalesce({}, '')", label_sql(&unwrap.label));
                rows = self.add(
                    "unwrapped",
                    &format!("unwrap {}: a value that is no number sets SampleExtractionErr", unwrap.label),
                    format!(
                        "SELECT {ROW}, CASE WHEN parsed[{error}] IS NULL AND value IS NULL \
                         THEN map_concat(parsed, MAP {{{error}: 'SampleExtractionErr', {details}: \
                         'cannot unwrap ' || {quoted} || ' of label ' || {label}}}) ELSE parsed END AS parsed, value \
                         FROM (SELECT *, {number} AS value FROM {rows})",
                        error = literal(ERROR_LABEL),
                        details = literal(ERROR_DETAILS_LABEL),
                        quoted = debug_quoted(&text),
                        label = literal(&unwrap.label),
                        number = number_sql_of(&text),
                    ),
                );
                for filter in &unwrap.post_filters {
                    rows = self.label_filter_keeping_value(filter, &rows)?;
                }
                "value".to_string()
            }
            (None, RangeOp::BytesOverTime | RangeOp::BytesRate) => "strlen(line)::DOUBLE".into(),
            (None, _) => "1::DOUBLE".into(),
        };
        let mut keep = String::from("e.value <> ''");
        if let Some(unwrap) = &range.unwrap {
            keep.push_str(&format!(" AND e.key <> {}", literal(&unwrap.label)));
        }
        if let Some(grouping) = &range.grouping {
            keep.push_str(&format!(" AND {}", grouping_sql(grouping, "e.key")));
        }
        let samples = self.add(
            "samples",
            &format!("{function}'s samples: a line with an error fails the query, as in loki_query"),
            format!(
                "SELECT epoch_ns(\"timestamp\") AS ts, labels, list_sort(map_entries(labels)) AS key, value FROM (\
                 SELECT \"timestamp\", map_from_entries(list_filter(map_entries(map_concat(stream, metadata, parsed)), \
                 lambda e: {keep}))::MAP(VARCHAR, VARCHAR) AS labels, {value} AS value FROM {rows} \
                 WHERE CASE WHEN parsed[{error}] IS NULL THEN true ELSE error('pipeline error: ' || parsed[{error}] || \
                 '; use a label filter such as | __error__=\"\" to skip such lines') END)",
                error = literal(ERROR_LABEL),
            ),
        );
        let seconds = number_sql(range.range_ns as f64 / 1e9);
        let plain_sum = "list_reduce([0::DOUBLE] || list(p.value ORDER BY p.ts), lambda a, b: a + b)";
        let fold = match (range.op, range.unwrap.is_some()) {
            (RangeOp::CountOverTime, _) => "count(*)::DOUBLE".to_string(),
            (RangeOp::Rate, false) => format!("count(*)::DOUBLE / {seconds}"),
            (RangeOp::BytesOverTime, false) => "sum(p.value)::DOUBLE".into(),
            (RangeOp::BytesRate, false) => format!("sum(p.value)::DOUBLE / {seconds}"),
            (RangeOp::Rate | RangeOp::BytesRate, true) => format!("{plain_sum} / {seconds}"),
            (RangeOp::BytesOverTime | RangeOp::SumOverTime, true) => plain_sum.into(),
            (RangeOp::AvgOverTime, _) => format!("{plain_sum} / count(*)::DOUBLE"),
            (RangeOp::MinOverTime, _) => {
                "coalesce(min(p.value) FILTER (WHERE NOT isnan(p.value)), 'Infinity'::DOUBLE)".into()
            }
            (RangeOp::MaxOverTime, _) => {
                "coalesce(max(p.value) FILTER (WHERE NOT isnan(p.value)), '-Infinity'::DOUBLE)".into()
            }
            (RangeOp::StdvarOverTime | RangeOp::StddevOverTime, _) => {
                let fold = variance("p.value", "p.ts", range.op == RangeOp::StddevOverTime);
                fold.finish.replace("folded", &format!("({})", fold.aggregate))
            }
            (RangeOp::QuantileOverTime, _) => {
                let q = range
                    .param
                    .ok_or_else(|| PortableError::Invalid("quantile_over_time needs a quantile parameter".into()))?;
                let fold = quantile(q, "p.value");
                fold.finish.replace("folded", &format!("({})", fold.aggregate))
            }
            (RangeOp::FirstOverTime, _) => "arg_min(p.value, p.ts)".into(),
            (RangeOp::LastOverTime, _) => "arg_max(p.value, p.ts)".into(),
            (op, _) => return Err(no_plan(format!("{}() without unwrap", range_name(op)))),
        };
        let (offset, width) = (range.offset_ns, range.range_ns);
        Ok(self.add(
            "range",
            &format!("{function} over [{width}ns] offset {offset}ns: the window (t - offset - range, t - offset] of each step"),
            format!(
                "SELECT s.t, any_value(p.labels) AS labels, {fold} AS value FROM steps_0 s JOIN {samples} p \
                 ON p.ts > s.t - {offset} - {width} AND p.ts <= s.t - {offset} GROUP BY s.t, p.key"
            ),
        ))
    }

    fn label_filter_keeping_value(&mut self, predicate: &LabelPredicate, rows: &str) -> Result<String> {
        let mut nodes = Vec::new();
        let state = ErrorState {
            kind: format!("parsed[{}]", literal(ERROR_LABEL)),
            details: format!("parsed[{}]", literal(ERROR_DETAILS_LABEL)),
        };
        let (pass, err) = predicate_sql(predicate, &state, &mut nodes)?;
        Ok(self.add(
            "filtered",
            "a label filter after unwrap",
            format!(
                "SELECT {ROW}, CASE WHEN {err} IS NULL THEN parsed \
                 ELSE map_concat(parsed, MAP {{{}: 'LabelFilterErr', {}: {err}}}) END AS parsed, value \
                 FROM (SELECT *, {} FROM {rows}) WHERE {pass}",
                literal(ERROR_LABEL),
                literal(ERROR_DETAILS_LABEL),
                nodes.join(", ")
            ),
        ))
    }

    /// A vector aggregation per step: members in the engine's order (their
    /// label sets, sorted), sums folded in that order.
    fn aggregate(&mut self, op: AggOp, param: Option<f64>, grouping: Option<&Grouping>, inner: &str) -> String {
        let group = match grouping {
            Some(g) => format!(
                "map_from_entries(list_filter(map_entries(labels), lambda e: {}))::MAP(VARCHAR, VARCHAR)",
                grouping_sql(g, "e.key")
            ),
            None => "MAP()::MAP(VARCHAR, VARCHAR)".into(),
        };
        let members = format!(
            "SELECT t, labels, value, list_sort(map_entries(labels)) AS lkey, {group} AS g, \
             list_sort(map_entries({group})) AS gkey FROM {inner}"
        );
        let name = agg_name(op);
        let plain_sum = "list_reduce([0::DOUBLE] || list(value ORDER BY lkey), lambda a, b: a + b)";
        let body = match op {
            AggOp::Topk | AggOp::Bottomk => {
                // `param as usize` in the engine: saturating, NaN and negatives 0
                let k = param.unwrap_or(1.0);
                let k = if k.is_nan() || k < 0.0 {
                    0
                } else if k >= 1e18 {
                    1_000_000_000_000_000_000u64
                } else {
                    k as u64
                };
                let dir = if op == AggOp::Topk { "DESC" } else { "ASC" };
                format!(
                    "SELECT t, labels, value FROM ({members}) \
                     QUALIFY row_number() OVER (PARTITION BY t, gkey ORDER BY value {dir}, lkey) <= {k}"
                )
            }
            AggOp::Sort | AggOp::SortDesc => format!("SELECT t, labels, value FROM {inner}"),
            _ => {
                let fold = match op {
                    AggOp::Sum => plain_sum.to_string(),
                    AggOp::Avg => format!("{plain_sum} / count(*)::DOUBLE"),
                    AggOp::Min => "coalesce(min(value) FILTER (WHERE NOT isnan(value)), 'Infinity'::DOUBLE)".into(),
                    AggOp::Max => "coalesce(max(value) FILTER (WHERE NOT isnan(value)), '-Infinity'::DOUBLE)".into(),
                    AggOp::Count => "count(*)::DOUBLE".into(),
                    _ => {
                        let fold = variance("value", "lkey", op == AggOp::Stddev);
                        fold.finish.replace("folded", &format!("({})", fold.aggregate))
                    }
                };
                format!("SELECT t, any_value(g) AS labels, {fold} AS value FROM ({members}) GROUP BY t, gkey")
            }
        };
        self.add("aggregate", &format!("{name} per step"), body)
    }
}

const EMPTY: &str = "[]::STRUCT(k VARCHAR, v VARCHAR)[]";

/// serde_json's recursion limit: it fails on a line nested this deep.
const JSON_DEPTH: usize = 128;

/// Whether a line DuckDB's reader takes (`json`, its strings emptied in
/// `bare`) is one serde_json refuses: a comma before `]` or `}`, a word that
/// is not `true false null` (`NaN`, `Infinity`), a number beyond a double's
/// range, or nesting of [`JSON_DEPTH`] arrays and objects.
fn lenient_json_sql(json: &str, bare: &str) -> String {
    let brackets = format!("regexp_replace({bare}, '[^\\[\\]{{}}]', '', 'g')");
    format!(
        "regexp_matches({bare}, ',[ \\t\\r\\n]*[\\]}}]') \
         OR regexp_matches(regexp_replace({bare}, 'true|false|null|[eE]', '', 'g'), '[A-Za-z]') \
         OR (regexp_matches({bare}, '[0-9][eE][+]?[0-9]{{3}}|[0-9]{{309}}') AND (SELECT bool_or(CASE WHEN type = 'DOUBLE' THEN isinf(value::DOUBLE) END) FROM json_tree({json}))) \
         OR (length({brackets}) >= {twice} AND list_reduce([{{d: 0, m: 0}}] || list_transform(string_split({brackets}, ''), \
             lambda c: {{d: CASE WHEN c IN ('[', '{{') THEN 1 ELSE -1 END, m: 0}}), \
             lambda acc, x: {{d: acc.d + x.d, m: greatest(acc.m, acc.d + x.d)}}).m >= {JSON_DEPTH})",
        twice = 2 * JSON_DEPTH,
    )
}

/// The engine's `json_text` of a JSON value `node` whose type (DuckDB's
/// name) is `kind` and whose text as a string is `string`: strings
/// unescaped, `null` empty, booleans and integers as written; serde_json
/// prints other numbers in the shortest form, as DuckDB does between 1e-4
/// and 1e15, where neither uses an exponent, and a value outside that (or,
/// for parameters, an object or array) is an error while running. DuckDB
/// types other integers as UBIGINT, so a BIGINT 0 was written `-0`, which
/// serde_json reads as the double -0.
fn json_value_sql(node: &str, string: &str, kind: &str, label: &str, nested: bool) -> String {
    let unprintable = format!(
        "{} || {label} || {}",
        literal("logql_sql: the json parser's value for "),
        literal(
            " is printed by serde_json in a form DuckDB does not print \
             (an object, an array, or a number outside 1e-4..1e15); use loki_query"
        )
    );
    let nested = if nested { String::new() } else { format!(" WHEN 'OBJECT' THEN NULL WHEN 'ARRAY' THEN NULL") };
    format!(
        "CASE {kind} WHEN 'VARCHAR' THEN {string} WHEN 'NULL' THEN '' \
         WHEN 'BOOLEAN' THEN {node}::VARCHAR \
         WHEN 'BIGINT' THEN CASE WHEN {node}::VARCHAR = '0' THEN '-0.0' ELSE {node}::VARCHAR END \
         WHEN 'UBIGINT' THEN {node}::VARCHAR \
         WHEN 'DOUBLE' THEN CASE WHEN regexp_full_match({node}::VARCHAR, '-?[0-9]+\\.[0-9]+') \
         AND (abs({node}::DOUBLE) = 0 OR (abs({node}::DOUBLE) >= 1e-4 AND abs({node}::DOUBLE) < 1e15)) THEN {node}::VARCHAR \
         ELSE error({unprintable}) END{nested} ELSE error({unprintable}) END"
    )
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        EMPTY.to_string()
    } else {
        format!("[{}]", items.join(", "))
    }
}

/// Whether a label name passes a `by`/`without` grouping.
fn grouping_sql(grouping: &Grouping, key: &str) -> String {
    let names: Vec<String> = grouping.labels.iter().map(|l| literal(l)).collect();
    let listed = format!("list_contains([{}]::VARCHAR[], {key})", names.join(", "));
    if grouping.without {
        format!("NOT {listed}")
    } else {
        listed
    }
}

/// `text.trim().parse::<f64>()` in SQL: NULL where Rust's parse fails.
/// DuckDB's cast accepts more (`1_000`, inner spaces), so Rust's grammar
/// gates it; `inf`, `infinity` and `nan` in any case, with a sign.
fn number_sql_of(text: &str) -> String {
    let ws = WHITESPACE;
    let trimmed = format!("regexp_replace({text}, '^[{ws}]+|[{ws}]+$', '', 'g')");
    format!(
        "CASE WHEN regexp_full_match({trimmed}, '[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?') \
         THEN CAST({trimmed} AS DOUBLE) \
         WHEN regexp_full_match({trimmed}, '(?i)[+]?(inf|infinity)') THEN 'Infinity'::DOUBLE \
         WHEN regexp_full_match({trimmed}, '(?i)-(inf|infinity)') THEN '-Infinity'::DOUBLE \
         WHEN regexp_full_match({trimmed}, '(?i)[+-]?nan') THEN 'NaN'::DOUBLE END"
    )
}

/// Rust's `{text:?}` for printable ASCII; other text has no SQL form here.
fn debug_quoted(text: &str) -> String {
    format!(
        "CASE WHEN regexp_full_match({text}, '[ -~]*') THEN '\"' || replace(replace({text}, '\\', '\\\\'), '\"', '\\\"') || '\"' \
         ELSE {} END",
        literal(DETAILS_UNKNOWN)
    )
}

/// The error label as the nodes of one label filter see it: the row's, or
/// the one an earlier node of the same filter set.
struct ErrorState {
    kind: String,
    details: String,
}

/// Pushes one column per node of `predicate` onto `nodes` and returns the
/// names of the columns holding whether it passes and the error details it
/// sets (NULL when none).
fn predicate_sql(predicate: &LabelPredicate, state: &ErrorState, nodes: &mut Vec<String>) -> Result<(String, String)> {
    let n = nodes.len();
    let (pass, err) = (format!("_pass_{n}"), format!("_err_{n}"));
    match predicate {
        LabelPredicate::Text { name, op, value } => {
            if name == ERROR_DETAILS_LABEL {
                return Err(no_plan(
                    "a label filter on __error_details__ (its text is worded by loki_query's parsers)",
                ));
            }
            let (pass_sql, value_sql) = if name == ERROR_LABEL {
                (String::new(), format!("coalesce({}, '')", state.kind))
            } else {
                (format!("{} IS NOT NULL OR ", state.kind), format!("coalesce({}, '')", label_sql(name)))
            };
            let test = text_test_sql(*op, value, &value_sql, name)?;
            nodes.push(format!("({pass_sql}{test}) AS {pass}"));
            nodes.push(format!("NULL::VARCHAR AS {err}"));
        }
        LabelPredicate::Number { name, op, value, kind } => {
            if *kind != NumberKind::Plain {
                return Err(no_plan(format!("a {} label filter", format!("{kind:?}").to_lowercase())));
            }
            let text = label_sql(name);
            let number = number_sql_of(&text);
            let holds = comparison(*op, &number, *value);
            let details = format!(
                "CASE WHEN regexp_full_match({text}, '[ -~]*') THEN lower('cannot read ' || {} || ' of label ' || {} || ' as a plain') ELSE {} END",
                debug_quoted(&text),
                literal(name),
                literal(DETAILS_UNKNOWN)
            );
            nodes.push(format!(
                "({kind_now} IS NOT NULL OR ({text} IS NOT NULL AND ({number} IS NULL OR {holds}))) AS {pass}",
                kind_now = state.kind
            ));
            nodes.push(format!(
                "CASE WHEN {kind_now} IS NULL AND {text} IS NOT NULL AND {number} IS NULL THEN {details} END AS {err}",
                kind_now = state.kind
            ));
        }
        LabelPredicate::And(a, b) | LabelPredicate::Or(a, b) => {
            let is_and = matches!(predicate, LabelPredicate::And(..));
            let (pa, ea) = predicate_sql(a, state, nodes)?;
            let after_a = ErrorState {
                kind: format!("coalesce({}, CASE WHEN {ea} IS NOT NULL THEN 'LabelFilterErr' END)", state.kind),
                details: format!("coalesce({}, {ea})", state.details),
            };
            let (pb, eb) = predicate_sql(b, &after_a, nodes)?;
            let n = nodes.len();
            let (pass, err) = (format!("_pass_{n}"), format!("_err_{n}"));
            // the right side runs only when the left does not decide
            let (joined, runs_b) = if is_and {
                (format!("{pa} AND {pb}"), pa.clone())
            } else {
                (format!("{pa} OR {pb}"), format!("NOT {pa}"))
            };
            nodes.push(format!("({joined}) AS {pass}"));
            nodes.push(format!("coalesce({ea}, CASE WHEN {runs_b} THEN {eb} END) AS {err}"));
            return Ok((pass, err));
        }
    }
    Ok((pass, err))
}

/// `number op value` with IEEE's NaN rules (DuckDB orders NaN above every number).
fn comparison(op: CmpOp, number: &str, value: f64) -> String {
    let value_sql = number_sql(value);
    let sql_op = match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
    };
    let nan = if op == CmpOp::Ne { "true" } else { "false" };
    if value.is_nan() {
        return nan.into();
    }
    format!("CASE WHEN isnan({number}) THEN {nan} ELSE {number} {sql_op} {value_sql} END")
}

/// A label matcher's test in SQL, refused where RE2 and Rust's regex would differ.
fn text_test_sql(op: MatchOp, expected: &str, value: &str, name: &str) -> Result<String> {
    Ok(match op {
        MatchOp::Eq => format!("{value} = {}", literal(expected)),
        MatchOp::Ne => format!("{value} <> {}", literal(expected)),
        MatchOp::Re | MatchOp::NotRe => {
            check_regex(expected, &format!("the regex of the {name} label filter"))?;
            let test = format!("regexp_full_match({value}, {})", literal(expected));
            if op == MatchOp::NotRe {
                format!("NOT {test}")
            } else {
                test
            }
        }
    })
}

/// The capture groups of a `regexp` stage, by index, after checking that
/// DuckDB's RE2 extracts what Rust's regex does: every named group takes
/// part in every match (RE2 gives `''` where Rust gives no label).
fn regexp_groups(pattern: &str) -> Result<Vec<(usize, Option<String>)>> {
    let about = "the regexp parser's pattern";
    let ast = check_regex(pattern, about)?;
    optional_named_group(&ast, false)
        .map_or(Ok(()), |name| Err(no_plan(format!("{about} with the optional group {name:?}"))))?;
    let regex = regex::Regex::new(pattern).map_err(|e| PortableError::Invalid(format!("invalid regex: {e}")))?;
    Ok(regex.capture_names().enumerate().skip(1).map(|(i, n)| (i, n.map(str::to_string))).collect())
}

/// Parses a regex and refuses the classes whose meaning differs between
/// Rust's regex (Unicode) and RE2 (ASCII): `\d \w \s \b` and their negations.
fn check_regex(pattern: &str, about: &str) -> Result<Ast> {
    let ast = re_ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| PortableError::Invalid(format!("invalid regex {pattern:?}: {e}")))?;
    if let Some(class) = unicode_sensitive(&ast) {
        return Err(no_plan(format!(
            "{about} with {class} (Unicode in loki_query, ASCII in DuckDB's RE2; write a bracket class such as [0-9])"
        )));
    }
    Ok(ast)
}

/// The first construct of `pattern` that Rust's regex and DuckDB's RE2
/// read differently (`\\d \\w \\s \\b`, Unicode in one, ASCII in the other),
/// for the other languages' plans; `Err` when it does not parse.
pub(crate) fn re2_difference(pattern: &str) -> std::result::Result<Option<&'static str>, String> {
    let ast = re_ast::parse::Parser::new().parse(pattern).map_err(|e| e.to_string())?;
    Ok(unicode_sensitive(&ast))
}

fn unicode_sensitive(ast: &Ast) -> Option<&'static str> {
    match ast {
        Ast::ClassPerl(class) => Some(perl_name(&class.kind)),
        Ast::Assertion(a)
            if !matches!(
                a.kind,
                re_ast::AssertionKind::StartLine
                    | re_ast::AssertionKind::EndLine
                    | re_ast::AssertionKind::StartText
                    | re_ast::AssertionKind::EndText
            ) =>
        {
            Some("\\b")
        }
        Ast::ClassBracketed(class) => class_set_sensitive(&class.kind),
        Ast::Repetition(r) => unicode_sensitive(&r.ast),
        Ast::Group(g) => unicode_sensitive(&g.ast),
        Ast::Alternation(a) => a.asts.iter().find_map(unicode_sensitive),
        Ast::Concat(c) => c.asts.iter().find_map(unicode_sensitive),
        _ => None,
    }
}

fn perl_name(kind: &re_ast::ClassPerlKind) -> &'static str {
    match kind {
        re_ast::ClassPerlKind::Digit => "\\d",
        re_ast::ClassPerlKind::Space => "\\s",
        re_ast::ClassPerlKind::Word => "\\w",
    }
}

fn class_set_sensitive(set: &re_ast::ClassSet) -> Option<&'static str> {
    match set {
        re_ast::ClassSet::Item(item) => class_item_sensitive(item),
        re_ast::ClassSet::BinaryOp(op) => class_set_sensitive(&op.lhs).or_else(|| class_set_sensitive(&op.rhs)),
    }
}

fn class_item_sensitive(item: &re_ast::ClassSetItem) -> Option<&'static str> {
    match item {
        re_ast::ClassSetItem::Perl(class) => Some(perl_name(&class.kind)),
        re_ast::ClassSetItem::Bracketed(class) => class_set_sensitive(&class.kind),
        re_ast::ClassSetItem::Union(union) => union.items.iter().find_map(class_item_sensitive),
        _ => None,
    }
}

/// The first named group that a match can skip (under `?`, `*`, `{0,n}` or an alternation).
fn optional_named_group(ast: &Ast, optional: bool) -> Option<String> {
    match ast {
        Ast::Repetition(r) => {
            let may_skip = match &r.op.kind {
                re_ast::RepetitionKind::ZeroOrOne | re_ast::RepetitionKind::ZeroOrMore => true,
                re_ast::RepetitionKind::OneOrMore => false,
                re_ast::RepetitionKind::Range(range) => match range {
                    re_ast::RepetitionRange::Exactly(n) | re_ast::RepetitionRange::AtLeast(n) => *n == 0,
                    re_ast::RepetitionRange::Bounded(n, _) => *n == 0,
                },
            };
            optional_named_group(&r.ast, optional || may_skip)
        }
        Ast::Group(g) => match (&g.kind, optional) {
            (re_ast::GroupKind::CaptureName { name, .. }, true) => Some(name.name.clone()),
            _ => optional_named_group(&g.ast, optional),
        },
        Ast::Alternation(a) => a.asts.iter().find_map(|ast| optional_named_group(ast, true)),
        Ast::Concat(c) => c.asts.iter().find_map(|ast| optional_named_group(ast, optional)),
        _ => None,
    }
}

fn range_name(op: RangeOp) -> &'static str {
    match op {
        RangeOp::CountOverTime => "count_over_time",
        RangeOp::Rate => "rate",
        RangeOp::BytesOverTime => "bytes_over_time",
        RangeOp::BytesRate => "bytes_rate",
        RangeOp::AbsentOverTime => "absent_over_time",
        RangeOp::SumOverTime => "sum_over_time",
        RangeOp::AvgOverTime => "avg_over_time",
        RangeOp::MinOverTime => "min_over_time",
        RangeOp::MaxOverTime => "max_over_time",
        RangeOp::StddevOverTime => "stddev_over_time",
        RangeOp::StdvarOverTime => "stdvar_over_time",
        RangeOp::QuantileOverTime => "quantile_over_time",
        RangeOp::FirstOverTime => "first_over_time",
        RangeOp::LastOverTime => "last_over_time",
        RangeOp::RateCounter => "rate_counter",
    }
}

fn agg_name(op: AggOp) -> &'static str {
    match op {
        AggOp::Sum => "sum",
        AggOp::Avg => "avg",
        AggOp::Min => "min",
        AggOp::Max => "max",
        AggOp::Count => "count",
        AggOp::Stddev => "stddev",
        AggOp::Stdvar => "stdvar",
        AggOp::Topk => "topk",
        AggOp::Bottomk => "bottomk",
        AggOp::Sort => "sort",
        AggOp::SortDesc => "sort_desc",
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    fn log(query: &str) -> Result<String> {
        let Query::Log(selector) = parse(query).unwrap() else { panic!("not a log query") };
        log_query_sql(&selector, "logs", 0, 1_000_000_000_000, 10, Direction::Backward)
    }

    fn metric(query: &str) -> Result<String> {
        let Query::Metric(expr) = parse(query).unwrap() else { panic!("not a metric query") };
        let steps = Steps::aligned(60_000_000_000, 180_000_000_000, 60_000_000_000).unwrap();
        metric_query_sql(&expr, "logs", &steps)
    }

    fn refusal(result: Result<String>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn json_without_parameters_walks_objects_in_key_order() {
        let sql = log(r#"{a="b"} | json | status >= 500"#).unwrap();
        for part in [
            "json_documents_1 AS",
            "checked_2 AS",
            "json_values_3 AS",
            "WITH RECURSIVE n(keys, v, t)",
            "WHERE n.t = 'OBJECT' AND len(n.keys) < 128",
            "ORDER BY n.keys)\n        FILTER (WHERE n.t NOT IN ('OBJECT', 'ARRAY'))",
            "CASE WHEN acc = '' THEN k ELSE acc || '_' || k END",
            "a repeated key",
            "parsed_4 AS",
        ] {
            assert!(sql.contains(part), "{part} missing from {sql}");
        }
        // the check serde_json's stricter reading needs: trailing commas, words, overflow, depth
        assert!(sql.contains("m >= 128"));
        assert!(sql.contains("isinf(value::DOUBLE)"));
    }

    #[test]
    fn pure_sql_log_queries_keep_the_limit_before_labelling() {
        assert!(log(r#"{service_name="api"} |= "x""#).unwrap().contains(" LIMIT 10), keyed AS"));
    }

    #[test]
    fn stages_become_one_cte_each() {
        let sql =
            log(r#"{service_name="api"} | logfmt | status >= 500 | regexp "(?P<verb>[A-Z]+) " | drop path"#).unwrap();
        for cte in [
            "entries_0 AS",
            "logfmt_tokens_1 AS",
            "logfmt_pairs_2 AS",
            "parsed_3 AS",
            "filtered_4 AS",
            "filtered_5 AS",
            "parsed_6 AS",
            "dropped_7 AS",
        ] {
            assert!(sql.contains(cte), "{cte} missing from {sql}");
        }
        assert!(sql.contains("LIMIT 10)"));
        assert!(sql.contains("regexp_extract(line, '(?P<verb>[A-Z]+) ', 1)"));
    }

    #[test]
    fn constructs_without_an_exact_plan_are_named() {
        assert_eq!(
            refusal(log(r#"{a="b"} | logfmt --strict"#)),
            "logql_sql: the logfmt parser with --strict has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | line_format "{{.x}}""#)),
            "logql_sql: the line_format stage has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | logfmt | d > 1s"#)),
            "logql_sql: a duration label filter has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | logfmt | s > 1KB"#)),
            "logql_sql: a bytes label filter has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | regexp "(?P<a>x)?y""#)),
            "logql_sql: the regexp parser's pattern with the optional group \"a\" has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | regexp "(?P<a>\\d+)""#)),
            "logql_sql: the regexp parser's pattern with \\d (Unicode in loki_query, ASCII in DuckDB's RE2; write a bracket class such as [0-9]) has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(log(r#"{a="b"} | logfmt | x =~ "\\w+""#)),
            "logql_sql: the regex of the x label filter with \\w (Unicode in loki_query, ASCII in DuckDB's RE2; write a bracket class such as [0-9]) has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(metric(r#"absent_over_time({a="b"}[1m])"#)),
            "logql_sql: absent_over_time() has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(metric(r#"count_over_time({a="b"}[1m]) * 2"#)),
            "logql_sql: a binary operator has no SQL plan; use loki_query"
        );
        assert_eq!(
            refusal(metric(r#"sum_over_time({a="b"} | logfmt | unwrap duration(d) [1m])"#)),
            "logql_sql: unwrap with duration conversion has no SQL plan; use loki_query"
        );
    }

    #[test]
    fn metric_queries_join_the_step_grid() {
        let sql = metric(r#"sum by (level) (rate({service_name="api"} | logfmt [1m]))"#).unwrap();
        assert!(sql.contains("SELECT 60000000000 + k * 60000000000 AS t FROM range(0, 3) r(k)"), "{sql}");
        assert!(sql.contains("ON p.ts > s.t - 0 - 60000000000 AND p.ts <= s.t - 0 GROUP BY s.t, p.key"));
        // sum by over rate is the engine's pushdown: one range grouped by level, summed per group
        assert!(sql.contains("list_contains(['level']::VARCHAR[], e.key)"));
        assert!(sql.contains("count(*)::DOUBLE / 60::DOUBLE"));
        assert!(sql.ends_with("ORDER BY list_sort(map_entries(labels)), t"));
    }

    #[test]
    fn optional_groups_and_unicode_classes_are_found_anywhere() {
        assert!(regexp_groups("(?P<a>x)|y").is_err());
        assert!(regexp_groups("(?:(?P<a>x))*").is_err());
        assert!(regexp_groups("(?P<a>x){0,2}").is_err());
        assert!(regexp_groups("[^\\s]").is_err());
        assert!(regexp_groups("a\\b").is_err());
        assert_eq!(
            regexp_groups("(?P<a>x+)(y)(?P<b>[0-9]{1,3})$").unwrap(),
            vec![(1, Some("a".to_string())), (2, None), (3, Some("b".to_string()))]
        );
    }

    #[test]
    fn numbers_parse_as_rust_parses_them() {
        let sql = number_sql_of("x");
        assert!(sql.contains("'[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?'"));
        assert_eq!(comparison(CmpOp::Ne, "v", f64::NAN), "true");
        assert_eq!(comparison(CmpOp::Gt, "v", 5.0), "CASE WHEN isnan(v) THEN false ELSE v > 5::DOUBLE END");
    }
}
