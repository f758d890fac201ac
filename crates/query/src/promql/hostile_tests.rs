//! Hostile PromQL: nesting, arithmetic extremes and work bounds. Deep inputs
//! run on a thread with a deliberately small stack, so a test passes only if
//! the bound is reached before recursion could overflow it.

use super::eval::{eval_instant, eval_instant_until, eval_range, eval_range_until, QueryBounds, QueryTimes};
use super::nesting::{nesting_bound, MAX_NESTING};
use super::source::MemorySource;
use super::value::{Labels, Point, Series, Value};
use super::{parse, PromqlError};
use canardstack_test_support::on_small_stack;
use proptest::prelude::*;

fn too_deep(query: String) -> String {
    on_small_stack(move || parse(&query).unwrap_err().to_string())
}

const TOO_DEEP: &str = "query nesting exceeds the limit of 128 levels of operators and brackets";

#[test]
fn deep_nesting_is_refused_before_parsing() {
    assert_eq!(too_deep(format!("{}1{}", "(".repeat(15_000), ")".repeat(15_000))), TOO_DEEP);
    assert_eq!(too_deep("(".repeat(15_000)), TOO_DEEP);
    assert_eq!(too_deep(vec!["1"; 20_000].join("+")), TOO_DEEP);
    assert_eq!(too_deep(format!("{}1", "-".repeat(20_000))), TOO_DEEP);
    assert_eq!(too_deep(vec!["up"; 20_000].join(" and ")), TOO_DEEP);
    assert_eq!(too_deep(format!("{}up{}", "sum(".repeat(5_000), ")".repeat(5_000))), TOO_DEEP);
    assert_eq!(too_deep(format!("up{}", "[5m:]".repeat(5_000))), TOO_DEEP);
}

fn series(name: &str, extra: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
    let mut labels: Labels = [("__name__".to_string(), name.to_string())].into_iter().collect();
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Series { labels, points: points.iter().map(|&(t, v)| Point { t, v }).collect() }
}

fn source() -> MemorySource {
    MemorySource { series: vec![series("up", &[("job", "a")], &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)])] }
}

#[test]
fn the_deepest_accepted_queries_parse_evaluate_print_and_drop_on_a_small_stack() {
    // each `abs(` is one level: MAX_NESTING of them is exactly at the bound
    let nested = format!("{}up{}", "abs(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(nesting_bound(&nested), MAX_NESTING);
    let chain = vec!["up"; MAX_NESTING + 1].join(" + ");
    assert_eq!(nesting_bound(&chain), MAX_NESTING);
    let parens = format!("{}up{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    for query in [nested, chain, parens] {
        let (instant, range, printed) = on_small_stack(move || {
            let expr = parse(&query).unwrap();
            let instant = eval_instant(&expr, &source(), 120_000).unwrap();
            let range = eval_range(&expr, &source(), QueryTimes::range(0, 120_000, 60_000).unwrap()).unwrap();
            let printed = expr.to_string();
            let _ = expr.prettify();
            (instant, range, printed)
        });
        let Value::Vector(samples) = instant else { panic!("a vector") };
        assert_eq!(samples.len(), 1);
        assert_eq!(range.len(), 1);
        assert_eq!(range[0].points.len(), 3);
        assert!(!printed.is_empty());
    }
}

fn eval_error(query: &str) -> String {
    let expr = match parse(query) {
        Ok(expr) => expr,
        Err(e) => return e.to_string(),
    };
    eval_instant(&expr, &source(), 120_000).unwrap_err().to_string()
}

#[test]
fn durations_and_times_beyond_the_bounds_are_errors_not_wraps() {
    let out_of_range = |what: &str| {
        format!(
            "{what} is out of range: times must be within 4611686018427387904 ms of 1970 and durations at most 2305843009213693952 ms"
        )
    };
    assert_eq!(eval_error("up offset 4000000000y"), out_of_range("the offset"));
    assert_eq!(eval_error("rate(up[4000000000y])"), out_of_range("the range"));
    assert_eq!(eval_error("up @ 1e300"), out_of_range("the @ modifier"));
    assert_eq!(eval_error("up @ -1e300"), out_of_range("the @ modifier"));
    assert_eq!(eval_error("max_over_time(up[1h:1m] offset 4000000000y)"), out_of_range("the offset"));
    // far off but computable: no data there, no error
    let expr = parse("up offset 10000000y").unwrap();
    assert_eq!(eval_instant(&expr, &source(), 120_000).unwrap(), Value::Vector(vec![]));
    let late = QueryBounds::default();
    assert_eq!(
        eval_instant_until(&parse("up").unwrap(), &source(), i64::MAX, late).unwrap_err().to_string(),
        out_of_range("the evaluation time")
    );
    assert_eq!(
        QueryTimes::range(-9_000_000_000_000_000_000, 9_000_000_000_000_000_000, 1).unwrap_err().to_string(),
        "promql: exceeded maximum resolution of 11,000 points per timeseries; try a larger step"
    );
    assert_eq!(
        QueryTimes::range(i64::MIN, i64::MAX, i64::MAX).unwrap_err().to_string(),
        out_of_range("the start time")
    );
}

#[test]
fn parser_panics_and_overflows_are_parse_errors() {
    // promql-parser turns a number into a Duration unchecked and panics on 1e300
    match parse("rate(up[1e300])") {
        Err(PromqlError::Parse { message, .. }) => {
            assert!(message.contains("convert float seconds to Duration"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse("up[99999999999999h]"), Err(PromqlError::Parse { .. })));
    assert!(matches!(parse("up offset 9999999999999y"), Err(PromqlError::Parse { .. })));
}

#[test]
fn a_subquery_step_that_rounds_to_zero_is_refused() {
    assert_eq!(
        eval_error("max_over_time(up[1h:0.0001])"),
        "subquery step 100µs rounds to 0ms; it must be at least 1ms"
    );
    assert!(matches!(parse("max_over_time(up[1h:0s])"), Err(PromqlError::Parse { .. })));
}

#[test]
fn samples_are_bounded_while_evaluating() {
    let too_many =
        "query processing would load too many samples into memory in query execution (limit: 10000000 samples)";
    // 30 days at 1ms steps: 2.6e9 evaluations of the inner query per step
    assert_eq!(eval_error("max_over_time(up[30d:1ms])"), too_many);
    let bounds = QueryBounds { deadline: None, max_samples: 2 };
    let expr = parse("up").unwrap();
    assert_eq!(
        eval_range_until(&expr, &source(), QueryTimes::range(0, 120_000, 60_000).unwrap(), bounds)
            .unwrap_err()
            .to_string(),
        "query processing would load too many samples into memory in query execution (limit: 2 samples)"
    );
    let expr = parse("max_over_time(up[3m:1m])").unwrap();
    assert!(matches!(
        eval_instant_until(&expr, &source(), 120_000, bounds),
        Err(PromqlError::TooManySamples { limit: 2 })
    ));
    assert!(eval_instant_until(&expr, &source(), 120_000, QueryBounds { deadline: None, max_samples: 3 }).is_ok());
}

#[test]
fn generated_labels_are_bounded() {
    let long = "x".repeat(1000);
    let source = MemorySource { series: vec![series("up", &[("long", &long)], &[(0, 1.0)])] };
    let run = |query: &str| eval_instant(&parse(query).unwrap(), &source, 0).map_err(|e| e.to_string());
    let replacement = "$1".repeat(100);
    assert_eq!(
        run(&format!("label_replace(up, \"dst\", \"{replacement}\", \"long\", \"(.*)\")")).unwrap_err(),
        "promql: label_replace(): the new value of label \"dst\" would be longer than 65536 bytes"
    );
    let sources = vec!["\"long\""; 70].join(", ");
    assert_eq!(
        run(&format!("label_join(up, \"dst\", \",\", {sources})")).unwrap_err(),
        "promql: label_join(): the new value of label \"dst\" would be longer than 65536 bytes"
    );
    // within the bound, as before
    let Value::Vector(samples) = run("label_join(up, \"dst\", \"-\", \"long\", \"long\")").unwrap() else {
        panic!("a vector")
    };
    assert_eq!(samples[0].labels["dst"].len(), 2001);
    let Value::Vector(samples) = run("topk(1e18, up)").unwrap() else { panic!("a vector") };
    assert_eq!(samples.len(), 1);
    let Value::Scalar(_) = run("scalar(quantile(1e300, up))").unwrap() else { panic!("a scalar") };
}

#[test]
fn oversized_regexes_are_parse_errors() {
    let huge = format!("up{{job=~\"{}\"}}", "(a{1000}){1000}");
    match parse(&huge) {
        Err(PromqlError::Parse { message, .. }) => assert!(message.starts_with("illegal regex"), "{message}"),
        other => panic!("{other:?}"),
    }
}

// ---- properties ----

/// Words and symbols of PromQL, glued at random: mostly invalid, sometimes deep.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "==",
        "!=",
        "=~",
        "!~",
        ">",
        "<=",
        " and ",
        " or ",
        " unless ",
        " by ",
        " without ",
        " on",
        " ignoring",
        " group_left",
        " bool ",
        " offset ",
        " @ ",
        "sum",
        "rate",
        "topk",
        "histogram_quantile",
        "label_replace",
        "up",
        "x_total",
        "job",
        "\"a\"",
        "'b'",
        "`c`",
        "5m",
        "1h30m",
        ":",
        "1e300",
        "-1e300",
        "0.0001",
        "1",
        "NaN",
        "Inf",
        "start()",
        "end()",
        "#",
        "\n",
        "\\",
        "\"",
    ]);
    prop::collection::vec(tokens, 0..60).prop_map(|tokens| tokens.concat())
}

/// Valid queries from a small grammar, for round trips.
fn valid_query() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("up".to_string()),
        Just("x_total{job=\"a\",path!~\"/b.*\"}".to_string()),
        Just("1.5".to_string()),
        Just("rate(x_total[5m])".to_string()),
        Just("up offset 1m".to_string()),
        Just("max_over_time(up[10m:1m])".to_string()),
    ];
    leaf.prop_recursive(6, 40, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "and", "or", ">"]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("sum by (job) ({a})")),
            inner.clone().prop_map(|a| format!("abs({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.prop_map(|a| format!("topk(3, {a})")),
        ]
    })
}

/// The actual depth of a tree (recursive; only run on bounded trees).
fn depth(expr: &promql_parser::parser::Expr) -> usize {
    use promql_parser::parser::Expr;
    1 + match expr {
        Expr::Aggregate(a) => depth(&a.expr).max(a.param.as_deref().map_or(0, depth)),
        Expr::Unary(u) => depth(&u.expr),
        Expr::Binary(b) => depth(&b.lhs).max(depth(&b.rhs)),
        Expr::Paren(p) => depth(&p.expr),
        Expr::Subquery(s) => depth(&s.expr),
        Expr::Call(c) => c.args.args.iter().map(|a| depth(a)).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(13), ..ProptestConfig::default() })]

    #[test]
    fn the_front_end_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn the_front_end_never_panics_on_token_soup(text in token_soup()) {
        if let Ok(expr) = parse(&text) {
            let _ = eval_instant(&expr, &source(), 120_000);
            let _ = expr.prettify();
        }
    }

    #[test]
    fn printing_a_query_parses_back_to_the_same_tree(query in valid_query()) {
        // the grammar also makes type errors (`1.5 > 1.5` needs `bool`)
        let Ok(expr) = parse(&query) else { return Ok(()) };
        let printed = expr.to_string();
        prop_assert_eq!(parse(&printed).unwrap(), expr.clone(), "printed as {}", printed);
        prop_assert_eq!(parse(&expr.prettify()).unwrap(), expr);
    }

    #[test]
    fn the_nesting_bound_is_never_below_the_tree_depth(query in prop_oneof![valid_query(), token_soup()]) {
        if let Ok(expr) = parse(&query) {
            prop_assert!(depth(&expr) <= nesting_bound(&query) + 1, "{} is {} deep", query, depth(&expr));
        }
    }
}
