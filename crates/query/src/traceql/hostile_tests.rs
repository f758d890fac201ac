//! Hostile TraceQL: nesting bounds reached on a small stack, and the lexer
//! and parser never panicking on arbitrary text.

use super::parser::MAX_NESTING;
use super::plan::tests::options;
use super::{parse, search_sql};
use proptest::prelude::*;

/// parse + plan on a 256 KiB stack: the error text, or None when both succeed.
fn on_small_stack(query: String) -> Option<String> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || match parse(&query) {
            Ok(expr) => search_sql(&expr, &options()).err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        })
        .unwrap()
        .join()
        .unwrap()
}

fn nesting_error(at: usize) -> Option<String> {
    Some(format!("traceql parse error at {at}: the query nests deeper than 64 levels of parentheses and operators"))
}

#[test]
fn deep_queries_are_refused_while_parsing() {
    // `{ ` then 15,000 `(`: the 65th (at byte 2 + 64) is refused, naming the token after it
    assert_eq!(on_small_stack(format!("{{ {}.a = 1{} }}", "(".repeat(15_000), ")".repeat(15_000))), nesting_error(67));
    assert_eq!(on_small_stack(format!("{}{{ }}{}", "(".repeat(15_000), ")".repeat(15_000))), nesting_error(65));
    // chains: each operator is one level deeper; the 65th is refused at the spanset after it
    for op in ["&&", "||", ">>", ">", "~"] {
        let chain = vec!["{ }"; 20_000].join(&format!(" {op} "));
        let unit = "{ } ".len() + op.len() + 1;
        assert_eq!(on_small_stack(chain), nesting_error(65 * unit), "{op}");
    }
    let conditions = format!("{{ {} }}", vec![".a = 1"; 20_000].join(" && "));
    assert!(on_small_stack(conditions)
        .unwrap()
        .ends_with("the query nests deeper than 64 levels of parentheses and operators"));
    let pipeline = format!("{{ }}{}", " | count() > 1".repeat(20_000));
    assert!(on_small_stack(pipeline)
        .unwrap()
        .ends_with("the query nests deeper than 64 levels of parentheses and operators"));
}

#[test]
fn queries_at_the_bound_parse_and_plan_on_a_small_stack() {
    let parens = format!("{{ {}.a = 1{} }}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(on_small_stack(parens), None);
    let chain = vec!["{ .a = 1 }"; MAX_NESTING + 1].join(" && ");
    assert_eq!(on_small_stack(chain), None);
    let conditions = format!("{{ {} }}", vec![".a = 1"; MAX_NESTING + 1].join(" || "));
    assert_eq!(on_small_stack(conditions), None);
    let structural = vec!["{ }"; MAX_NESTING + 1].join(" >> ");
    assert_eq!(on_small_stack(structural), None);
    let spanset_parens = format!("{}{{ .a = 1 }}{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(on_small_stack(spanset_parens), None);
    let mixed = format!("{}{{ }}{}", "({ } && ".repeat(MAX_NESTING / 2), ")".repeat(MAX_NESTING / 2));
    assert_eq!(on_small_stack(mixed), None);
}

fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "{",
        "}",
        "(",
        ")",
        "&&",
        "||",
        ">>",
        ">",
        "<",
        "~",
        "!",
        "!~",
        "=~",
        "=",
        "!=",
        "|",
        ",",
        "-",
        "count()",
        "avg(",
        "select(",
        "span.a",
        "resource.service.name",
        ".x",
        "span.\"a b\"",
        "name",
        "status",
        "duration",
        "kind",
        "error",
        "server",
        "nil",
        "true",
        "\"s\\\"\"",
        "`raw`",
        "1",
        "1.5",
        "200ms",
        "1h30m",
        "99999999999999999999",
        "1e308",
        "µs",
        "\"\\u0000\"",
        " ",
        "\n",
    ]);
    prop::collection::vec(tokens, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(13), ..ProptestConfig::default() })]

    #[test]
    fn lexer_parser_and_planner_never_panic_on_any_text(text in "\\PC{0,200}") {
        if let Ok(expr) = parse(&text) {
            let _ = search_sql(&expr, &options());
        }
    }

    #[test]
    fn lexer_parser_and_planner_never_panic_on_token_soup(text in token_soup()) {
        if let Ok(expr) = parse(&text) {
            let _ = search_sql(&expr, &options());
        }
    }
}
