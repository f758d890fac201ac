//! Hostile LogQL: nesting that would overflow a stack, templates that would
//! exhaust memory, and random text and token soup thrown at the parser and
//! the template engine (proptest, seeded, a few hundred cases each). There
//! is no printer for the LogQL tree, so no parse-print-parse round trip.

use super::ast::{MetricExpr, Query};
use super::eval::{evaluate, EvalError, QueryBounds, Sample, SampleSource, Steps};
use super::parser::{parse, MAX_NESTING};
use super::pipeline::{Entry, Labels, Pipeline, ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::plan::{plan_logs, Shape, TimeBounds};
use super::template::{Scope, Template, MAX_TEMPLATE_GROWTH};
use canardstack_test_support::on_small_stack;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn nesting_error(query: &str) -> String {
    parse(query).expect_err("too deep").to_string()
}

/// One line at 1s in every stream, so every range aggregation has a sample.
struct OneLine;

impl SampleSource for OneLine {
    fn samples(&self, _: &super::ast::RangeAggregation, from: i64, to: i64) -> Result<Vec<Sample>, EvalError> {
        let t = 1_000_000_000;
        Ok((from < t && t <= to)
            .then(|| Sample { timestamp_ns: t, labels: Labels::from([("a".into(), "b".into())]), value: 1.0 })
            .into_iter()
            .collect())
    }
}

/// The deepest `levels` for which `build(levels)` parses, searched downwards
/// from past the bound, and the error text of one level more.
fn deepest_accepted(build: impl Fn(usize) -> String) -> (usize, String) {
    let mut levels = MAX_NESTING + 5;
    while parse(&build(levels)).is_err() {
        levels -= 1;
    }
    (levels, nesting_error(&build(levels + 1)))
}

fn evaluate_at_one_second(query: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let Query::Metric(expr) = parse(query).unwrap() else { panic!("not a metric query") };
    let steps = Steps { start_ns: 1_000_000_000, end_ns: 1_000_000_000, step_ns: 1 };
    evaluate(&expr, &steps, &OneLine, &QueryBounds::default())
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.points))
        .collect()
}

// ---- depth ----

#[test]
fn fifteen_thousand_parentheses_are_a_parse_error_naming_the_bound() {
    let message = on_small_stack(|| {
        nesting_error(&format!("{}count_over_time({{a=\"b\"}}[1m]){}", "(".repeat(15_000), ")".repeat(15_000)))
    });
    assert_eq!(message, "parse error at line 1, col 129: syntax error: nesting deeper than 128 levels");
}

#[test]
fn long_operator_chains_are_bounded_as_trees_not_only_as_recursion() {
    // `1+1+...` parses in a loop, but builds a tree as deep as the chain
    let message = on_small_stack(|| nesting_error(&vec!["1"; 20_001].join("+")));
    assert_eq!(message, "parse error at line 1, col 258: syntax error: nesting deeper than 128 levels");
    let message = on_small_stack(|| nesting_error(&vec!["2"; 20_001].join("^")));
    assert_eq!(message, "parse error at line 1, col 257: syntax error: nesting deeper than 128 levels");
    let message = on_small_stack(|| nesting_error(&format!("{}1", "-".repeat(20_000))));
    assert_eq!(message, "parse error at line 1, col 129: syntax error: nesting deeper than 128 levels");
}

#[test]
fn label_filter_parentheses_and_chains_are_bounded() {
    let nested = |n: usize| format!("{{a=\"b\"}} | {}a=\"b\"{}", "(a=\"b\" or ".repeat(n), ")".repeat(n));
    let message = on_small_stack(move || nesting_error(&nested(15_000)));
    assert_eq!(message, "parse error at line 1, col 1291: syntax error: nesting deeper than 128 levels");
    let chain = vec!["a=\"b\""; 20_000].join(" and ");
    let message = on_small_stack(move || nesting_error(&format!("{{a=\"b\"}} | {chain}")));
    assert_eq!(message, "parse error at line 1, col 1297: syntax error: nesting deeper than 128 levels");
}

#[test]
fn nested_vector_aggregations_are_bounded() {
    let nested = |n: usize| format!("{}count_over_time({{a=\"b\"}}[1m]){}", "sum(".repeat(n), ")".repeat(n));
    let message = on_small_stack(move || nesting_error(&nested(10_000)));
    assert_eq!(message, "parse error at line 1, col 513: syntax error: nesting deeper than 128 levels");
}

#[test]
fn the_deepest_accepted_queries_parse_plan_and_evaluate_on_a_small_stack() {
    on_small_stack(|| {
        let parens = |n: usize| format!("{}count_over_time({{a=\"b\"}}[1s]){}", "(".repeat(n), ")".repeat(n));
        let sums = |n: usize| format!("{}count_over_time({{a=\"b\"}}[1s]){}", "sum(".repeat(n), ")".repeat(n));
        let chain = |n: usize| vec!["vector(1)"; n].join(" + ");
        let powers = |n: usize| vec!["1"; n].join(" ^ ");
        let stream = || Labels::from([("a".into(), "b".into())]);
        for (build, labels, value) in [
            (&parens as &dyn Fn(usize) -> String, stream(), None),
            (&sums, Labels::new(), None),
            (&chain, Labels::new(), Some(MAX_NESTING as f64)),
            (&powers, Labels::new(), None),
        ] {
            let (levels, error) = deepest_accepted(build);
            assert!(levels >= MAX_NESTING - 2, "only {levels} levels accepted");
            assert!(error.ends_with("syntax error: nesting deeper than 128 levels"), "{error}");
            let expected = vec![(labels, vec![(1_000_000_000, value.unwrap_or(1.0))])];
            assert_eq!(evaluate_at_one_second(&build(levels)), expected, "{}", build(levels));
        }
    });
}

#[test]
fn the_deepest_accepted_label_filter_plans_compiles_and_runs_on_a_small_stack() {
    on_small_stack(|| {
        let nested = |n: usize| format!("{{a=\"b\"}} | {}x=\"1\"{}", "(x=\"2\" or ".repeat(n), ")".repeat(n));
        let (levels, error) = deepest_accepted(nested);
        assert_eq!(levels, MAX_NESTING - 1);
        assert!(error.ends_with("syntax error: nesting deeper than 128 levels"), "{error}");
        let Query::Log(selector) = parse(&nested(levels)).unwrap() else { panic!("not a log query") };
        let bounds = TimeBounds { from_ns: 0, from_inclusive: true, to_ns: 1, to_inclusive: false };
        let plan = plan_logs(&selector, "logs", bounds, None, None, Shape::Raw);
        let pipeline = Pipeline::new(&plan.residual).unwrap();
        let mut entry = Entry { parsed: Labels::from([("x".into(), "1".into())]), ..Entry::default() };
        assert!(pipeline.process(&mut entry));
        entry.parsed.insert("x".into(), "3".into());
        assert!(!pipeline.process(&mut entry));
    });
}

// ---- time arithmetic ----

#[test]
fn durations_beyond_an_int64_and_empty_ranges_are_parse_errors() {
    assert_eq!(
        parse(r#"count_over_time({a="b"}[99999999999999h])"#).unwrap_err().to_string(),
        "parse error at line 1, col 25: syntax error: invalid range duration 99999999999999h: longer than the 292 \
         years an int64 of nanoseconds holds"
    );
    assert_eq!(
        parse(r#"count_over_time({a="b"}[1m] offset 99999999999999h)"#).unwrap_err().to_string(),
        "parse error at line 1, col 36: syntax error: invalid offset duration 99999999999999h: longer than the 292 \
         years an int64 of nanoseconds holds"
    );
    for empty in ["0s", "0", "0.1ns"] {
        assert_eq!(
            parse(&format!(r#"count_over_time({{a="b"}}[{empty}])"#)).unwrap_err().to_string(),
            format!("parse error at line 1, col 25: syntax error: invalid range duration {empty}: a range must be at least one nanosecond")
        );
    }
}

fn metric(query: &str) -> MetricExpr {
    match parse(query).unwrap() {
        Query::Metric(expr) => expr,
        Query::Log(_) => panic!("not a metric query"),
    }
}

#[test]
fn windows_reaching_past_an_int64_are_errors_not_wrapped_times() {
    let expr = metric(r#"count_over_time({a="b"}[1000d] offset 100000d)"#);
    let steps = Steps { start_ns: i64::MIN + 1, end_ns: i64::MIN + 1, step_ns: 1 };
    assert_eq!(
        evaluate(&expr, &steps, &OneLine, &QueryBounds::default()).unwrap_err().to_string(),
        "the start minus offset and range is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to \
         2262-04-11)"
    );
    let huge = Steps { start_ns: -9_000_000_000_000_000_000, end_ns: 9_000_000_000_000_000_000, step_ns: 1 };
    assert_eq!(
        evaluate(&expr, &huge, &OneLine, &QueryBounds::default()).unwrap_err().to_string(),
        "the query would evaluate 18000000000000000001 steps, more than the 11001 points per series allowed"
    );
    let backwards = Steps { step_ns: 0, ..steps };
    assert_eq!(
        evaluate(&expr, &backwards, &OneLine, &QueryBounds::default()).unwrap_err().to_string(),
        "zero or negative query resolution step widths are not accepted. Try a positive integer"
    );
    assert!(Steps::aligned(i64::MIN, 0, 7).is_err());
    assert_eq!(Steps::aligned(15, 29, 10).unwrap(), Steps { start_ns: 10, end_ns: 20, step_ns: 10 });
    assert_eq!(
        Steps { start_ns: i64::MAX - 2, end_ns: i64::MAX, step_ns: i64::MAX }.timestamps().unwrap(),
        vec![i64::MAX - 2]
    );
}

// ---- work bounds ----

/// Lines at every second, each in its own stream (a unique `id`).
struct ManyStreams;

impl SampleSource for ManyStreams {
    fn samples(&self, _: &super::ast::RangeAggregation, from: i64, to: i64) -> Result<Vec<Sample>, EvalError> {
        let second = 1_000_000_000;
        Ok((from / second + 1..=to / second)
            .map(|s| Sample {
                timestamp_ns: s * second,
                labels: Labels::from([("id".into(), s.to_string())]),
                value: 1.0,
            })
            .collect())
    }
}

#[test]
fn series_and_points_are_bounded_while_they_are_built() {
    let steps = Steps { start_ns: 100_000_000_000, end_ns: 100_000_000_000, step_ns: 1 };
    let bounds = QueryBounds::new(10, None);
    let expr = metric(r#"count_over_time({a="b"}[100s])"#);
    assert_eq!(
        evaluate(&expr, &steps, &ManyStreams, &bounds).unwrap_err().to_string(),
        "maximum number of series (10) reached for a single query"
    );
    // grouped, the same lines are one series
    let grouped = metric(r#"sum(count_over_time({a="b"}[100s]))"#);
    assert_eq!(evaluate(&grouped, &steps, &ManyStreams, &bounds).unwrap()[0].points, vec![(100_000_000_000, 100.0)]);
    let mut tight = QueryBounds::new(1000, None);
    tight.max_samples = 50;
    let by_step = Steps { start_ns: 1_000_000_000, end_ns: 100_000_000_000, step_ns: 1_000_000_000 };
    assert_eq!(
        evaluate(&metric("vector(1) + sum(count_over_time({a=\"b\"}[100s]))"), &by_step, &ManyStreams, &tight)
            .unwrap_err()
            .to_string(),
        "the query would load or produce more than 50 samples (max_samples); reduce the time range, increase the \
         step or add label matchers"
    );
}

#[test]
fn an_expired_deadline_stops_evaluation() {
    let past = QueryBounds::new(10, Some(std::time::Instant::now()));
    let steps = Steps { start_ns: 0, end_ns: 0, step_ns: 1 };
    let error = evaluate(&metric("vector(1) + vector(1)"), &steps, &OneLine, &past).unwrap_err();
    assert!(matches!(error, EvalError::Timeout), "{error}");
}

// ---- templates ----

struct Line(String);

impl Scope for Line {
    fn label(&self, name: &str) -> Option<&str> {
        (name == "status").then_some("500")
    }
    fn line(&self) -> &str {
        &self.0
    }
}

fn render(template: &str, line: &str) -> Result<String, String> {
    Template::parse(template).map_err(|e| e.to_string())?.render(&Line(line.into())).map_err(|e| e.to_string())
}

fn cap_error(line: &str) -> String {
    format!(
        "template: output would exceed {} bytes (the line's length plus {MAX_TEMPLATE_GROWTH})",
        line.len() + MAX_TEMPLATE_GROWTH
    )
}

#[test]
fn chained_empty_replaces_stop_at_the_cap_before_allocating() {
    let thousand = "x".repeat(1000);
    let line = "a".repeat(100);
    let template =
        format!(r#"{{{{ __line__ | replace "" "{thousand}" | replace "" "{thousand}" | replace "" "{thousand}" }}}}"#);
    assert_eq!(render(&template, &line), Err(cap_error(&line)));
    // the same function within the cap: a character between every character, and at both ends
    assert_eq!(render(r#"{{ replace "" "-" "abc" }}"#, "l"), Ok("-a-b-c-".into()));
    assert_eq!(render(r#"{{ replace "b" "xyz" "abcb" }}"#, "l"), Ok("axyzcxyz".into()));
}

#[test]
fn regex_replace_all_and_repeated_pipes_respect_the_cap() {
    let line = "b".repeat(200);
    let wide = "y".repeat(400);
    assert_eq!(render(&format!(r#"{{{{ regexReplaceAll "" __line__ "{wide}" }}}}"#), &line), Err(cap_error(&line)));
    assert_eq!(render(r#"{{ regexReplaceAll "(b+)" "abba" "<$1>" }}"#, "l"), Ok("a<bb>a".into()));
    let doubling = format!("{{{{ __line__ }}}}{}", "{{ __line__ }}".repeat(400));
    assert_eq!(render(&doubling, &line), Err(cap_error(&line)));
    assert_eq!(
        render(&format!(r#"{{{{ .missing | default "{wide}" | replace "y" "{wide}" }}}}"#), "l"),
        Err(cap_error("l"))
    );
}

#[test]
fn a_template_over_the_cap_marks_the_line_as_loki_does() {
    let Query::Log(selector) =
        parse(r#"{a="b"} | line_format `{{ __line__ | replace "" "0123456789012345678901234567890123456789" }}`"#)
            .unwrap()
    else {
        panic!("not a log query")
    };
    let pipeline = Pipeline::new(&selector.stages).unwrap();
    let line = "z".repeat(4000);
    let mut entry = Entry { line: line.clone(), ..Entry::default() };
    assert!(pipeline.process(&mut entry));
    assert_eq!(entry.line, line);
    assert_eq!(entry.parsed.get(ERROR_LABEL).map(String::as_str), Some("TemplateFormatErr"));
    assert_eq!(entry.parsed.get(ERROR_DETAILS_LABEL), Some(&cap_error(&line)));
}

// ---- property tests ----

fn config() -> Config {
    Config { cases: 300, rng_seed: RngSeed::Fixed(13), failure_persistence: None, ..Config::default() }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "|",
    "|=",
    "!=",
    "|~",
    "!~",
    "|>",
    "!>",
    "=",
    "=~",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "\"a\"",
    "\"\"",
    "`x`",
    "\"(\"",
    "\"<_>\"",
    "\"{{.a}}\"",
    "a",
    "b",
    "service_name",
    "1",
    "0",
    "1.5",
    "5m",
    "0s",
    "1e9",
    "99999999999999h",
    "10KB",
    "json",
    "logfmt",
    "--strict",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
    "duration",
    "bytes",
    "count_over_time",
    "rate",
    "sum_over_time",
    "quantile_over_time",
    "absent_over_time",
    "sum",
    "avg",
    "topk",
    "sort",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "vector",
    "__error__",
    "ip",
    "#",
    "\n",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,120}") {
        let _ = parse(&text);
    }

    #[test]
    fn parser_never_panics_on_token_soup(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        let _ = parse(&tokens.join(" "));
    }

    #[test]
    fn accepted_soup_evaluates_without_panicking(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        if let Ok(Query::Metric(expr)) = parse(&tokens.join(" ")) {
            let steps = Steps { start_ns: 0, end_ns: 10_000_000_000, step_ns: 1_000_000_000 };
            let _ = evaluate(&expr, &steps, &OneLine, &QueryBounds::default());
        }
    }

    #[test]
    fn templates_never_panic_and_respect_the_cap(
        pieces in prop::collection::vec(prop::sample::select(&[
            "{{", "}}", "|", " ", "__line__", ".status", ".x", "\"\"", "\"ab\"", "\"(a|)\"", "`-`", "replace",
            "regexReplaceAll", "default", "upper", "lower", "title", "trim", "trimAll", "trimPrefix", "trimSuffix",
            "substr", "contains", "0", "-1", "3", "\"$0$0$0\"", "text",
        ][..]), 0..30),
        line in "\\PC{0,300}",
    ) {
        if let Ok(template) = Template::parse(&pieces.concat()) {
            if let Ok(out) = template.render(&Line(line.clone())) {
                prop_assert!(out.len() <= line.len() + MAX_TEMPLATE_GROWTH);
            }
        }
    }
}
