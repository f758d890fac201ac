//! A runner for Prometheus' `promqltest` file format, driving the evaluator
//! over in-memory series: `load <interval>` blocks with value expansions,
//! `clear`, `eval instant at <t> <expr>` / `eval range from <t> to <t> step
//! <d> <expr>` with expected series, `expect fail|ordered|...` lines and the
//! older `eval_fail` / `eval_ordered` forms. Anything we do not handle
//! (native histogram samples, `load_with_nhcb`, unknown statements) is a SKIP,
//! never a crash. The corpus lives in `test/promql/*.test`.

use super::eval::{eval_instant, eval_range, QueryTimes};
use super::source::MemorySource;
use super::value::{stale_nan, Labels, Point, Series, Value, METRIC_NAME};
use crate::go_text::parse_prometheus_duration_ms;
use std::collections::BTreeMap;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok,
    Fail(String),
    Skip(String),
}

/// A duration in a test file, in milliseconds: Prometheus' syntax, which
/// the test files also write with a leading `-` for times before the epoch.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let ms = i64::try_from(parse_prometheus_duration_ms(text)?).ok()?;
    Some(if negative { -ms } else { ms })
}

/// A time in a test file: a duration since the epoch, or plain seconds.
fn parse_time(text: &str) -> Option<i64> {
    parse_duration(text).or_else(|| text.parse::<f64>().ok().map(|s| (s * 1000.0).round() as i64))
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        "stale" => Some(stale_nan()),
        other => {
            if let Some(hex) = other.strip_prefix("0x") {
                return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
            }
            other.parse().ok()
        }
    }
}

/// Expands a value sequence: `1 2 _ 3`, `0+10x5`, `5-1x3`, `1x4`, `_x3`, `stale`.
pub fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        if item.contains("{{") {
            return Err("native histogram samples".into());
        }
        if let Some((head, times)) = item.split_once('x') {
            let n: usize = times.parse().map_err(|_| format!("bad repetition {item:?}"))?;
            if head == "_" {
                out.extend(std::iter::repeat_n(None, n));
                continue;
            }
            let split = head[1..].find(['+', '-']).map(|i| i + 1);
            let (start, step) = match split {
                Some(i) => (&head[..i], &head[i..]),
                None => (head, "+0"),
            };
            let start = parse_number(start).ok_or_else(|| format!("bad value {item:?}"))?;
            let step: f64 = step.parse().map_err(|_| format!("bad step {item:?}"))?;
            for i in 0..=n {
                out.push(Some(start + step * i as f64));
            }
        } else if item == "_" {
            out.push(None);
        } else {
            out.push(Some(parse_number(item).ok_or_else(|| format!("bad value {item:?}"))?));
        }
    }
    Ok(out)
}

/// Labels of a series descriptor such as `http_requests{job="api"}`.
pub fn parse_series_labels(text: &str) -> Result<Labels, String> {
    if text.trim() == "{}" {
        return Ok(Labels::new());
    }
    let expr = promql_parser::parser::parse(text).map_err(|e| format!("bad series {text:?}: {e}"))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(format!("not a series descriptor: {text:?}"));
    };
    let mut labels = Labels::new();
    if let Some(name) = vs.name {
        labels.insert(METRIC_NAME.into(), name);
    }
    for m in vs.matchers.matchers {
        labels.insert(m.name, m.value);
    }
    Ok(labels)
}

/// Splits `descriptor values` where the descriptor may contain spaces inside braces or quotes.
fn split_series_line(line: &str) -> (&str, &str) {
    let mut depth = 0;
    let mut in_quote = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => in_quote = !in_quote,
            '{' if !in_quote => depth += 1,
            '}' if !in_quote => depth -= 1,
            c if c.is_whitespace() && depth == 0 && !in_quote => return (&line[..i], line[i..].trim()),
            _ => {}
        }
        prev = c;
    }
    (line, "")
}

struct Expectation {
    labels: Option<Labels>, // None: a scalar
    values: Vec<Option<f64>>,
}

fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-6 * a.abs().max(b.abs()) || diff < 1e-12
}

#[derive(Default)]
pub struct Runner {
    data: BTreeMap<Labels, Vec<Point>>,
    skipped_load: Option<String>,
}

/// One `eval` statement.
struct Eval {
    query: String,
    times: QueryTimes,
    instant: bool,
    expect_fail: bool,
    ordered: bool,
    skip: Option<String>,
    expected: Vec<Expectation>,
}

impl Runner {
    fn source(&self) -> MemorySource {
        MemorySource {
            series: self
                .data
                .iter()
                .map(|(labels, points)| Series { labels: labels.clone(), points: points.clone() })
                .collect(),
        }
    }

    /// Runs a whole file; returns `(line, query, outcome)` per eval.
    pub fn run_file(&mut self, text: &str) -> Vec<(usize, String, Outcome)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut results = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            let number = i + 1;
            i += 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let block_end = |from: usize| {
                let mut j = from;
                while j < lines.len() && lines[j].starts_with([' ', '\t']) && !lines[j].trim().is_empty() {
                    j += 1;
                }
                j
            };
            let end = block_end(i);
            let body: Vec<(usize, &str)> = (i..end).map(|j| (j + 1, lines[j].trim())).collect();
            i = end;
            let word = line.split_whitespace().next().unwrap_or("");
            match word {
                "load" => self.load(line, &body),
                "clear" => {
                    self.data.clear();
                    self.skipped_load = None;
                }
                "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                    let outcome = match self.parse_eval(line, &body) {
                        Ok(eval) => self.run_eval(&eval),
                        Err(reason) => Outcome::Skip(reason),
                    };
                    results.push((number, line.to_string(), outcome));
                }
                other => results.push((number, line.to_string(), Outcome::Skip(format!("unknown statement {other}")))),
            }
        }
        results
    }

    fn load(&mut self, line: &str, body: &[(usize, &str)]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(interval) = words.get(1).and_then(|w| parse_duration(w)) else {
            self.skipped_load = Some(format!("unsupported load statement: {line}"));
            return;
        };
        if words.len() > 2 {
            self.skipped_load = Some(format!("unsupported load options: {line}"));
            return;
        }
        for (_, series_line) in body {
            let (descriptor, values) = split_series_line(series_line);
            let parsed = parse_series_labels(descriptor).and_then(|labels| Ok((labels, expand_values(values)?)));
            match parsed {
                Ok((labels, values)) => {
                    let points = self.data.entry(labels).or_default();
                    for (k, v) in values.into_iter().enumerate() {
                        if let Some(v) = v {
                            points.push(Point { t: k as i64 * interval, v });
                        }
                    }
                }
                Err(reason) => self.skipped_load = Some(reason),
            }
        }
    }

    fn parse_eval(&self, line: &str, body: &[(usize, &str)]) -> Result<Eval, String> {
        let mut words = line.splitn(2, ' ');
        let command = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        let (instant, times, query) = if let Some(rest) = rest.strip_prefix("instant at ") {
            let (t, query) = rest.split_once(' ').ok_or("missing query")?;
            (true, QueryTimes::instant(parse_time(t).ok_or("bad time")?), query.trim().to_string())
        } else if let Some(rest) = rest.strip_prefix("range from ") {
            let words: Vec<&str> = rest.splitn(6, ' ').collect();
            if words.len() < 6 || words[1] != "to" || words[3] != "step" {
                return Err(format!("bad range eval: {line}"));
            }
            let start = parse_time(words[0]).ok_or("bad start")?;
            let end = parse_time(words[2]).ok_or("bad end")?;
            let step = parse_duration(words[4]).ok_or("bad step")?;
            (false, QueryTimes::range(start, end, step).map_err(|e| e.to_string())?, words[5].trim().to_string())
        } else {
            return Err(format!("unsupported eval form: {line}"));
        };
        let mut eval = Eval {
            query,
            times,
            instant,
            expect_fail: command == "eval_fail",
            ordered: command == "eval_ordered",
            skip: self.skipped_load.clone(),
            expected: Vec::new(),
        };
        for (_, l) in body {
            if let Some(expect) = l.strip_prefix("expect ") {
                let kind = expect.split([' ', ':']).next().unwrap_or("");
                match kind {
                    "fail" => eval.expect_fail = true,
                    "ordered" => eval.ordered = true,
                    "warn" | "no_warn" | "info" | "no_info" => {} // we report no annotations
                    "string" => eval.skip = Some("string results".into()),
                    "range" => eval.skip = Some("range vector results of instant queries".into()),
                    other => eval.skip = Some(format!("unknown expectation {other}")),
                }
                continue;
            }
            if let Some(v) = parse_number(l) {
                eval.expected.push(Expectation { labels: None, values: vec![Some(v)] });
                continue;
            }
            let (descriptor, values) = split_series_line(l);
            let labels = parse_series_labels(descriptor)?;
            eval.expected.push(Expectation { labels: Some(labels), values: expand_values(values)? });
        }
        Ok(eval)
    }

    fn run_eval(&self, eval: &Eval) -> Outcome {
        if let Some(reason) = &eval.skip {
            return Outcome::Skip(reason.clone());
        }
        let source = self.source();
        let result = super::parse(&eval.query).and_then(|expr| {
            if eval.instant {
                eval_instant(&expr, &source, eval.times.start).map(|v| instant_to_series(v, eval.times.start))
            } else {
                eval_range(&expr, &source, eval.times).map(Some)
            }
        });
        match (result, eval.expect_fail) {
            (Err(_), true) => Outcome::Ok,
            (Ok(_), true) => Outcome::Fail("expected an error, got a result".into()),
            (Err(e), false) if e.to_string().contains("not supported") => Outcome::Skip(e.to_string()),
            (Err(e), false) => Outcome::Fail(format!("error: {e}")),
            (Ok(None), false) => Outcome::Skip("string result".into()),
            (Ok(Some(series)), false) => self.compare(eval, series),
        }
    }

    fn compare(&self, eval: &Eval, got: Vec<Series>) -> Outcome {
        let steps: Vec<i64> = eval.times.steps().collect();
        let mut want: Vec<(Labels, Vec<Point>)> = Vec::new();
        for e in &eval.expected {
            let labels = e.labels.clone().unwrap_or_default();
            let points = if eval.instant {
                e.values.first().copied().flatten().map(|v| vec![Point { t: steps[0], v }]).unwrap_or_default()
            } else {
                e.values.iter().zip(&steps).filter_map(|(v, t)| v.map(|v| Point { t: *t, v })).collect()
            };
            want.push((labels, points));
        }
        let got: Vec<(Labels, Vec<Point>)> = got.into_iter().map(|s| (s.labels, s.points)).collect();
        if eval.ordered {
            let got_labels: Vec<&Labels> = got.iter().map(|g| &g.0).collect();
            let want_labels: Vec<&Labels> = want.iter().map(|w| &w.0).collect();
            if got_labels != want_labels {
                return Outcome::Fail(format!("order differs: got {got_labels:?}, want {want_labels:?}"));
            }
        }
        let mut got_sorted = got.clone();
        got_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want_sorted = want.clone();
        want_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got_sorted.len() == want_sorted.len()
            && got_sorted.iter().zip(&want_sorted).all(|(g, w)| {
                g.0 == w.0
                    && g.1.len() == w.1.len()
                    && g.1.iter().zip(&w.1).all(|(a, b)| a.t == b.t && almost_equal(a.v, b.v))
            });
        if same {
            Outcome::Ok
        } else {
            Outcome::Fail(format!("\n  got:  {}\n  want: {}", show(&got_sorted), show(&want_sorted)))
        }
    }
}

fn show(series: &[(Labels, Vec<Point>)]) -> String {
    series
        .iter()
        .map(|(labels, points)| {
            let values: Vec<String> = points.iter().map(|p| format!("{}@{}", p.v, p.t / 1000)).collect();
            format!("{labels:?} [{}]", values.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n        ")
}

/// An instant result as series with one point each (a scalar: empty labels).
fn instant_to_series(value: Value, t: i64) -> Option<Vec<Series>> {
    match value {
        Value::Scalar(v) => Some(vec![Series { labels: Labels::new(), points: vec![Point { t, v }] }]),
        Value::Vector(samples) => {
            Some(samples.into_iter().map(|s| Series { labels: s.labels, points: vec![Point { t, v: s.v }] }).collect())
        }
        Value::Matrix(series) => Some(series),
        Value::String(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_values() {
        assert_eq!(expand_values("0+10x3").unwrap(), vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]);
        assert_eq!(expand_values("5-1x2 _ 7").unwrap(), vec![Some(5.0), Some(4.0), Some(3.0), None, Some(7.0)]);
        assert_eq!(expand_values("_x2 1x2").unwrap(), vec![None, None, Some(1.0), Some(1.0), Some(1.0)]);
        assert_eq!(expand_values("-2+1x1").unwrap(), vec![Some(-2.0), Some(-1.0)]);
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
    }

    /// Runs every file of the corpus; each eval must pass or be skipped with a reason.
    #[test]
    fn corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/promql");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        let mut failures = Vec::new();
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "test")) {
            let text = std::fs::read_to_string(file).unwrap();
            for (line, query, outcome) in Runner::default().run_file(&text) {
                match outcome {
                    Outcome::Ok => passed += 1,
                    Outcome::Skip(reason) => {
                        skipped += 1;
                        println!("SKIP {}:{line} {query}: {reason}", file.display());
                    }
                    Outcome::Fail(diff) => {
                        failed += 1;
                        failures.push(format!("FAIL {}:{line} {query}: {diff}", file.display()));
                    }
                }
            }
        }
        println!("{passed} passed, {failed} failed, {skipped} skipped");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(passed > 0);
    }
}
