//! A runner for Prometheus' `promqltest` file format, driving the evaluator
//! over in-memory series: `load <interval>` blocks with value expansions,
//! `clear`, `eval instant at <t> <expr>` / `eval range from <t> to <t> step
//! <d> <expr>` with expected series, `expect fail|ordered|...` lines (with
//! `expect fail msg: <exact message>` and `expect fail regex: <re>`) and the
//! older `eval_fail` / `eval_ordered` forms. The corpus lives in
//! `test/promql/*.test`.
//!
//! Three outcomes, kept apart so a regression cannot hide: `Ok`; `Fail` (a
//! wrong result, an unexpected error, and also a malformed test statement or
//! expectation: the file is wrong, which is never a skip); `Skip` only for
//! what we knowingly do not do (native histogram samples, `load_with_nhcb`,
//! annotations, string and range-vector results of `expect string|range`,
//! constructs the engine reports as not supported). Every skip must be listed
//! in `test/promql/expected_skips.txt`, which `scripts/promqltest` shares;
//! [`check`] turns an unlisted skip, and a listed eval that no longer skips,
//! into failures.

use super::error::PromqlError;
use super::eval::{eval_instant, eval_range, QueryTimes};
use super::source::MemorySource;
use super::value::{stale_nan, Labels, Point, Series, Value, METRIC_NAME};
use crate::go_text::parse_prometheus_duration_ms;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

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

/// The reason [`expand_values`] gives for native histogram samples: not a
/// malformed file but something we do not store, so a skip.
const NATIVE_HISTOGRAMS: &str = "native histogram samples are not supported";

/// Expands a value sequence: `1 2 _ 3`, `0+10x5`, `5-1x3`, `1x4`, `_x3`, `stale`.
pub fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        if item.contains("{{") {
            return Err(NATIVE_HISTOGRAMS.into());
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

/// What an eval that must fail says about the error (Prometheus' `expect
/// fail`, `expect fail msg: <text>`, `expect fail regex: <re>`).
#[derive(Debug)]
enum FailExpectation {
    Any,
    Message(String),
    Pattern(Regex),
}

impl FailExpectation {
    fn check(&self, message: &str) -> std::result::Result<(), String> {
        match self {
            FailExpectation::Any => Ok(()),
            FailExpectation::Message(want) if want == message => Ok(()),
            FailExpectation::Pattern(re) if re.is_match(message) => Ok(()),
            FailExpectation::Message(want) => Err(format!("expected the error {want:?}, got {message:?}")),
            FailExpectation::Pattern(re) => {
                Err(format!("expected an error matching {:?}, got {message:?}", re.as_str()))
            }
        }
    }
}

/// The error text `expect fail msg:` and `regex:` are matched against: the
/// message as Prometheus states it, without the `promql: ` our errors start
/// with (`scripts/promqltest` strips the same, and DuckDB's error class), so
/// a line copied from Prometheus' test data means the same in both runners.
pub fn error_message(e: &PromqlError) -> String {
    let text = e.to_string();
    text.strip_prefix("promql: ").map(str::to_string).unwrap_or(text)
}

/// Parses what follows `expect ` in an eval body. `Ok(None)` is an
/// expectation we accept without checking: we report no annotations, so
/// `no_warn` and `no_info` hold.
fn parse_expect(text: &str, eval: &mut Eval) -> std::result::Result<(), String> {
    let (kind, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let matcher = if rest.is_empty() {
        None
    } else if let Some(m) = rest.strip_prefix("msg:") {
        Some(("msg", m.trim()))
    } else if let Some(m) = rest.strip_prefix("regex:") {
        Some(("regex", m.trim()))
    } else {
        None
    };
    if matches!(kind, "string" | "range") {
        // `expect string "..."` and `expect range vector from ...`: results we do not compare
        eval.skip.get_or_insert_with(|| format!("expect {kind} results are not supported"));
        return Ok(());
    }
    if !rest.is_empty() && matcher.is_none() {
        return Err(format!("expect {kind}: expected `msg: <text>` or `regex: <re>`, got {rest:?}"));
    }
    if let Some((mode, m)) = matcher {
        if m.is_empty() {
            return Err(format!("expect {kind} {mode}: without a message"));
        }
        if matches!(kind, "ordered" | "no_warn" | "no_info") {
            return Err(format!("expect {kind} takes no {mode}:"));
        }
    }
    match kind {
        "fail" => {
            if eval.fail.is_some() && !eval.deprecated_fail {
                return Err("more than one expect fail line".into());
            }
            eval.deprecated_fail = false;
            eval.fail = Some(match matcher {
                None => FailExpectation::Any,
                Some(("msg", m)) => FailExpectation::Message(m.to_string()),
                Some((_, re)) => {
                    FailExpectation::Pattern(Regex::new(re).map_err(|e| format!("bad regex {re:?}: {e}"))?)
                }
            });
        }
        "ordered" => eval.ordered = true,
        "no_warn" | "no_info" => {}
        "warn" | "info" => {
            eval.skip.get_or_insert_with(|| format!("expect {kind}: annotations are not reported"));
        }
        other => return Err(format!("unknown expectation {other:?}")),
    }
    Ok(())
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
    fail: Option<FailExpectation>,
    /// `fail` came from `eval_fail` and an `expect fail` line may refine it
    deprecated_fail: bool,
    ordered: bool,
    skip: Option<String>,
    expected: Vec<Expectation>,
}

/// A malformed test file: a statement or an expectation we cannot read.
fn malformed(what: impl std::fmt::Display) -> Outcome {
    Outcome::Fail(format!("malformed test: {what}"))
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

    /// Runs a whole file; returns `(line, statement, outcome)` per eval, and
    /// a `Fail` for every other statement that is malformed.
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
                "load" => {
                    if let Err(problem) = self.load(line, &body) {
                        results.push((number, line.to_string(), malformed(problem)));
                    }
                }
                "load_with_nhcb" => {
                    self.skipped_load = Some("load_with_nhcb: native histograms are not supported".into())
                }
                "clear" => {
                    self.data.clear();
                    self.skipped_load = None;
                }
                "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                    let outcome = match self.parse_eval(line, &body) {
                        Ok(eval) => self.run_eval(&eval),
                        Err(problem) => malformed(problem),
                    };
                    results.push((number, line.to_string(), outcome));
                }
                other => results.push((number, line.to_string(), malformed(format!("unknown statement {other:?}")))),
            }
        }
        results
    }

    fn load(&mut self, line: &str, body: &[(usize, &str)]) -> std::result::Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let interval = match words.as_slice() {
            [_, interval] => parse_duration(interval).filter(|ms| *ms > 0),
            _ => None,
        };
        let Some(interval) = interval else {
            return Err(format!("expected `load <interval>`, got {line:?}"));
        };
        for (number, series_line) in body {
            let (descriptor, values) = split_series_line(series_line);
            let labels = parse_series_labels(descriptor).map_err(|e| format!("line {number}: {e}"))?;
            match expand_values(values) {
                Ok(values) => {
                    let points = self.data.entry(labels).or_default();
                    for (k, v) in values.into_iter().enumerate() {
                        if let Some(v) = v {
                            points.push(Point { t: k as i64 * interval, v });
                        }
                    }
                }
                Err(reason) if reason == NATIVE_HISTOGRAMS => self.skipped_load = Some(reason),
                Err(reason) => return Err(format!("line {number}: {reason}")),
            }
        }
        Ok(())
    }

    fn parse_eval(&self, line: &str, body: &[(usize, &str)]) -> std::result::Result<Eval, String> {
        let mut words = line.splitn(2, ' ');
        let command = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        let (instant, times, query) = if let Some(rest) = rest.strip_prefix("instant at ") {
            let (t, query) = rest.split_once(' ').ok_or("missing query")?;
            let t = parse_time(t).ok_or_else(|| format!("bad time {t:?}"))?;
            (true, QueryTimes::instant(t), query.trim().to_string())
        } else if let Some(rest) = rest.strip_prefix("range from ") {
            let words: Vec<&str> = rest.splitn(6, ' ').collect();
            if words.len() < 6 || words[1] != "to" || words[3] != "step" {
                return Err(format!("expected `range from <t> to <t> step <d> <query>`: {line}"));
            }
            let start = parse_time(words[0]).ok_or_else(|| format!("bad start {:?}", words[0]))?;
            let end = parse_time(words[2]).ok_or_else(|| format!("bad end {:?}", words[2]))?;
            let step = parse_duration(words[4]).ok_or_else(|| format!("bad step {:?}", words[4]))?;
            (false, QueryTimes::range(start, end, step).map_err(|e| e.to_string())?, words[5].trim().to_string())
        } else {
            return Err(format!("expected `{command} instant at ...` or `{command} range from ...`"));
        };
        if query.is_empty() {
            return Err("missing query".into());
        }
        let mut eval = Eval {
            query,
            times,
            instant,
            fail: (command == "eval_fail").then_some(FailExpectation::Any),
            deprecated_fail: command == "eval_fail",
            ordered: command == "eval_ordered",
            skip: self.skipped_load.clone(),
            expected: Vec::new(),
        };
        if matches!(command, "eval_warn" | "eval_info") {
            eval.skip.get_or_insert_with(|| format!("{command}: annotations are not reported"));
        }
        for (number, l) in body {
            let at = |e: String| format!("line {number}: {e}");
            if *l == "expect" || l.starts_with("expect ") {
                parse_expect(l["expect".len()..].trim(), &mut eval).map_err(at)?;
                continue;
            }
            // the deprecated forms of `expect fail msg:` / `regex:`
            if let Some(m) = l.strip_prefix("expected_fail_message ") {
                eval.fail = Some(FailExpectation::Message(m.trim().to_string()));
                continue;
            }
            if let Some(re) = l.strip_prefix("expected_fail_regexp ") {
                let re = Regex::new(re.trim()).map_err(|e| at(format!("bad regex: {e}")))?;
                eval.fail = Some(FailExpectation::Pattern(re));
                continue;
            }
            if let Some(v) = parse_number(l) {
                eval.expected.push(Expectation { labels: None, values: vec![Some(v)] });
                continue;
            }
            let (descriptor, values) = split_series_line(l);
            let labels = parse_series_labels(descriptor).map_err(at)?;
            let values = match expand_values(values) {
                Ok(values) => values,
                Err(reason) if reason == NATIVE_HISTOGRAMS => {
                    eval.skip.get_or_insert(reason);
                    continue;
                }
                Err(reason) => return Err(at(reason)),
            };
            if eval.instant && values.len() > 1 {
                return Err(at("an instant eval expects one value per series".into()));
            }
            eval.expected.push(Expectation { labels: Some(labels), values });
        }
        if eval.fail.is_some() && !eval.expected.is_empty() {
            return Err("an eval that expects a failure lists results".into());
        }
        Ok(eval)
    }

    fn run_eval(&self, eval: &Eval) -> Outcome {
        if let Some(reason) = &eval.skip {
            return Outcome::Skip(reason.clone());
        }
        let source = self.source();
        // a query that does not parse is an error of the query, which `expect fail` may expect
        let result = super::parse(&eval.query).and_then(|expr| {
            if eval.instant {
                eval_instant(&expr, &source, eval.times.start).map(|v| instant_to_series(v, eval.times.start))
            } else {
                eval_range(&expr, &source, eval.times).map(Some)
            }
        });
        match (result, &eval.fail) {
            (Err(e), Some(fail)) => match fail.check(&error_message(&e)) {
                Ok(()) => Outcome::Ok,
                Err(diff) => Outcome::Fail(diff),
            },
            (Ok(_), Some(_)) => Outcome::Fail("expected an error, got a result".into()),
            (Err(e @ PromqlError::Unsupported(_)), None) => Outcome::Skip(error_message(&e)),
            (Err(e), None) => Outcome::Fail(format!("error: {e}")),
            (Ok(None), None) => Outcome::Skip("string results are not supported".into()),
            (Ok(Some(series)), None) => self.compare(eval, series),
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

/// One entry of `expected_skips.txt`: `<file>:<line> [python|rust]  # <reason>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSkip {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The runner names an entry may be limited to: `rust` is this runner (the
/// in-memory engine), `python` is `scripts/promqltest` (the extension, whose
/// OTLP storage can change series names). An entry without one is for both.
const RUNNERS: [&str; 2] = ["python", "rust"];

/// Reads the skip list, keeping the entries that apply to `runner`. A
/// malformed line or a repeated entry is an error: the list must say exactly
/// what is skipped and why.
pub fn parse_expected_skips(text: &str, runner: &str) -> std::result::Result<Vec<ExpectedSkip>, String> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("expected skips line {}: {why}: {raw:?}", k + 1);
        let (entry, reason) = line.split_once('#').ok_or_else(|| bad("no `# reason`"))?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(bad("no `# reason`"));
        }
        let words: Vec<&str> = entry.split_whitespace().collect();
        let (place, only) = match words.as_slice() {
            [place] => (*place, None),
            [place, only] if RUNNERS.contains(only) => (*place, Some(*only)),
            _ => return Err(bad("expected `<file>:<line> [python|rust]  # <reason>`")),
        };
        let (file, number) = place.rsplit_once(':').ok_or_else(|| bad("expected <file>:<line>"))?;
        let number: usize = number.parse().map_err(|_| bad("expected <file>:<line>"))?;
        if !seen.insert((file.to_string(), number, only)) {
            return Err(bad("listed twice"));
        }
        if only.is_none_or(|o| o == runner) {
            entries.push(ExpectedSkip { file: file.to_string(), line: number, reason: reason.to_string() });
        }
    }
    Ok(entries)
}

/// The verdict over a set of files, as both runners print it.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// one line per eval that is not `ok`: `FAIL ...` or `SKIP ...`
    pub lines: Vec<String>,
}

impl Report {
    pub fn failures(&self) -> Vec<&String> {
        self.lines.iter().filter(|l| l.starts_with("FAIL")).collect()
    }

    pub fn summary(&self) -> String {
        format!("{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}

/// Runs `(file name, text)` pairs and holds their skips to the list: a skip
/// that is not listed fails, and so does a listed entry of a file that ran
/// whose eval no longer skips (it passes, fails, or is not there).
pub fn check(files: &[(String, String)], skips: &[ExpectedSkip]) -> Report {
    let mut report = Report::default();
    let listed: BTreeMap<(&str, usize), &ExpectedSkip> = skips.iter().map(|s| ((s.file.as_str(), s.line), s)).collect();
    let mut used = BTreeSet::new();
    for (name, text) in files {
        for (line, statement, outcome) in Runner::default().run_file(text) {
            let entry = listed.get(&(name.as_str(), line));
            if entry.is_some() {
                used.insert((name.as_str(), line));
            }
            let place = format!("{name}:{line} {statement}");
            match (outcome, entry) {
                (Outcome::Skip(reason), Some(_)) => {
                    report.skipped += 1;
                    report.lines.push(format!("SKIP {place}: {reason}"));
                }
                (Outcome::Skip(reason), None) => {
                    report.failed += 1;
                    report.lines.push(format!("FAIL {place}: unexpected skip ({reason}): fix it, or list it in expected_skips.txt with the reason"));
                }
                (Outcome::Ok, None) => report.passed += 1,
                (Outcome::Ok, Some(_)) => {
                    report.failed += 1;
                    report.lines.push(format!("FAIL {place}: stale expected skip: remove it (the eval now passes)"));
                }
                (Outcome::Fail(diff), entry) => {
                    report.failed += 1;
                    let stale = if entry.is_some() { " (and a stale expected skip: remove it)" } else { "" };
                    report.lines.push(format!("FAIL {place}: {diff}{stale}"));
                }
            }
        }
    }
    let ran: BTreeSet<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for s in skips {
        if ran.contains(s.file.as_str()) && !used.contains(&(s.file.as_str(), s.line)) {
            report.failed += 1;
            report.lines.push(format!(
                "FAIL {}:{}: stale expected skip: remove it (no eval on that line; listed as: {})",
                s.file, s.line, s.reason
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus and its skip list, relative to `CARGO_MANIFEST_DIR`
    /// (`expected_skips.txt` sits beside the `.test` files).
    const CORPUS_DIR: &str = "../../test/promql";

    #[test]
    fn expands_values() {
        assert_eq!(expand_values("0+10x3").unwrap(), vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]);
        assert_eq!(expand_values("5-1x2 _ 7").unwrap(), vec![Some(5.0), Some(4.0), Some(3.0), None, Some(7.0)]);
        assert_eq!(expand_values("_x2 1x2").unwrap(), vec![None, None, Some(1.0), Some(1.0), Some(1.0)]);
        assert_eq!(expand_values("-2+1x1").unwrap(), vec![Some(-2.0), Some(-1.0)]);
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
    }

    /// Runs every file of the corpus against the skip list: each eval must
    /// pass, or skip and be listed.
    #[test]
    fn corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_DIR);
        let skips_text = std::fs::read_to_string(dir.join("expected_skips.txt")).unwrap();
        let skips = parse_expected_skips(&skips_text, "rust").unwrap();
        let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        let files: Vec<(String, String)> = paths
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "test"))
            .map(|f| (f.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(f).unwrap()))
            .collect();
        let report = check(&files, &skips);
        for line in &report.lines {
            println!("{line}");
        }
        println!("{}", report.summary());
        assert!(report.failures().is_empty(), "{}", report.lines.join("\n"));
        assert!(report.passed > 100, "{}", report.summary());
    }

    /// A small file, as its own corpus under the name `t.test`.
    fn run(text: &str, skips: &str) -> Report {
        check(&[("t.test".to_string(), text.to_string())], &parse_expected_skips(skips, "rust").unwrap())
    }

    const LOAD: &str = "load 1m\n  m{a=\"1\"} 1 2 3\n  n{a=\"1\"} 10\n\n";
    /// An eval on line 6 that skips: its data are native histogram samples.
    const SKIPPING: &str =
        "load 1m\n  m{a=\"1\"} 1 2 3\n  h {{schema:0 sum:1 count:1}}\n\n\neval instant at 0 h\n  {} 1\n";

    #[test]
    fn a_passing_eval_passes_and_a_wrong_value_fails() {
        let ok = run(&format!("{LOAD}eval instant at 2m m\n  m{{a=\"1\"}} 3\n"), "");
        assert_eq!((ok.passed, ok.failed, ok.skipped), (1, 0, 0), "{:?}", ok.lines);
        let wrong = run(&format!("{LOAD}eval instant at 2m m\n  m{{a=\"1\"}} 4\n"), "");
        assert_eq!((wrong.passed, wrong.failed), (0, 1), "{:?}", wrong.lines);
        assert!(wrong.lines[0].starts_with("FAIL t.test:5 eval instant at 2m m:"), "{:?}", wrong.lines);
    }

    #[test]
    fn an_unlisted_skip_fails_and_a_listed_one_is_skipped() {
        let unlisted = run(SKIPPING, "");
        assert_eq!((unlisted.passed, unlisted.failed, unlisted.skipped), (0, 1, 0), "{:?}", unlisted.lines);
        assert!(unlisted.lines[0].contains("t.test:6") && unlisted.lines[0].contains("unexpected skip"));
        let listed = run(SKIPPING, "t.test:6  # native histograms\n");
        assert_eq!((listed.passed, listed.failed, listed.skipped), (0, 0, 1), "{:?}", listed.lines);
        // an entry for the other runner only does not cover this one
        let python_only = run(SKIPPING, "t.test:6 python  # OTLP renames it\n");
        assert_eq!(python_only.failed, 1, "{:?}", python_only.lines);
    }

    #[test]
    fn a_stale_expected_skip_fails() {
        let passes = run(&format!("{LOAD}eval instant at 0 n\n  n{{a=\"1\"}} 10\n"), "t.test:5  # was broken\n");
        assert_eq!((passes.passed, passes.failed), (0, 1), "{:?}", passes.lines);
        assert!(passes.lines[0].contains("stale expected skip: remove it"), "{:?}", passes.lines);
        let nothing_there = run(&format!("{LOAD}eval instant at 0 n\n  n{{a=\"1\"}} 10\n"), "t.test:3  # gone\n");
        assert_eq!((nothing_there.passed, nothing_there.failed), (1, 1), "{:?}", nothing_there.lines);
        assert!(nothing_there.lines[0].starts_with("FAIL t.test:3: stale expected skip"), "{:?}", nothing_there.lines);
        // entries of files that did not run are left alone
        let other_file = run(&format!("{LOAD}eval instant at 0 n\n  n{{a=\"1\"}} 10\n"), "u.test:3  # elsewhere\n");
        assert_eq!((other_file.passed, other_file.failed), (1, 0), "{:?}", other_file.lines);
    }

    #[test]
    fn malformed_expectations_and_statements_fail_and_are_never_skips() {
        for (body, why) in [
            ("eval instant at 0 n\n  expect foo\n", "unknown expectation \"foo\""),
            ("eval instant at 0 n\n  expect fail sometimes\n", "expected `msg: <text>` or `regex: <re>`"),
            ("eval instant at 0 n\n  expect fail msg:\n", "without a message"),
            ("eval instant at 0 n\n  expect fail regex: (\n", "bad regex"),
            ("eval instant at 0 n\n  expect fail\n  expect fail msg: x\n", "more than one expect fail"),
            ("eval instant at 0 n\n  n{a=\"1\"} 10 11\n", "one value per series"),
            ("eval instant at 0 n\n  n{a=\"1\"} ten\n", "bad value"),
            ("eval instant at 0 nope(n)\n  expect fail\n  {} 1\n", "lists results"),
            ("eval_fail instant at xyz n\n", "bad time \"xyz\""),
            ("eval_fail range from 0 to 1m n\n", "expected `range from"),
            ("eval_fail sometime n\n", "expected `eval_fail instant at"),
            ("evaluate instant at 0 n\n", "unknown statement \"evaluate\""),
            ("load 1m 5m\n  x 1\n", "expected `load <interval>`"),
        ] {
            let report = run(&format!("{LOAD}{body}"), "");
            assert_eq!(report.failed, 1, "{body}: {:?}", report.lines);
            assert_eq!(report.skipped + report.passed, 0, "{body}: {:?}", report.lines);
            assert!(
                report.lines[0].contains("malformed test") && report.lines[0].contains(why),
                "{body}: {:?}",
                report.lines
            );
        }
        // and a listed malformed eval still fails
        let listed = run(&format!("{LOAD}eval instant at 0 n\n  expect foo\n"), "t.test:5  # hides it?\n");
        assert_eq!((listed.failed, listed.skipped), (1, 0), "{:?}", listed.lines);
    }

    #[test]
    fn expect_fail_checks_the_message() {
        let collide = "eval instant at 0 abs({__name__=~\"m|n\"})\n";
        let exact = "  expect fail msg: vector cannot contain metrics with the same labelset\n";
        assert_eq!(run(&format!("{LOAD}{collide}{exact}"), "").passed, 1);
        let wrong = run(&format!("{LOAD}{collide}  expect fail msg: vector cannot contain metrics\n"), "");
        assert_eq!((wrong.passed, wrong.failed), (0, 1), "{:?}", wrong.lines);
        assert!(wrong.lines[0].contains("expected the error \"vector cannot contain metrics\""), "{:?}", wrong.lines);
        let re = run(&format!("{LOAD}{collide}  expect fail regex: same label(set|s)$\n"), "");
        assert_eq!(re.passed, 1, "{:?}", re.lines);
        let re_wrong = run(&format!("{LOAD}{collide}  expect fail regex: ^duplicate\n"), "");
        assert_eq!(re_wrong.failed, 1, "{:?}", re_wrong.lines);
        // eval_fail with the deprecated message line, and refined by an expect line
        let deprecated = run(&format!("{LOAD}eval_fail instant at 0 abs({{__name__=~\"m|n\"}})\n{exact}"), "");
        assert_eq!(deprecated.passed, 1, "{:?}", deprecated.lines);
        let old = format!("{LOAD}eval_fail instant at 0 abs({{__name__=~\"m|n\"}})\n  expected_fail_message other\n");
        assert_eq!(run(&old, "").failed, 1);
    }

    #[test]
    fn expect_fail_needs_an_error_and_a_query_parse_error_is_one() {
        let result = run(&format!("{LOAD}eval instant at 0 n\n  expect fail\n"), "");
        assert_eq!(result.failed, 1, "{:?}", result.lines);
        assert!(result.lines[0].ends_with("expected an error, got a result"), "{:?}", result.lines);
        let parse = run(&format!("{LOAD}eval_fail instant at 0 sum(\n"), "");
        assert_eq!(parse.passed, 1, "{:?}", parse.lines);
        let parse_msg = run(&format!("{LOAD}eval instant at 0 sum(\n  expect fail regex: ^promql parse error\n"), "");
        assert_eq!(parse_msg.passed, 1, "{:?}", parse_msg.lines);
    }

    #[test]
    fn the_skip_list_is_read_strictly() {
        let text = "# comment\n\nf.test:12  # reason one\nf.test:13 python  # storage\ng.test:1 rust  # engine\n";
        let rust = parse_expected_skips(text, "rust").unwrap();
        assert_eq!(
            rust,
            vec![
                ExpectedSkip { file: "f.test".into(), line: 12, reason: "reason one".into() },
                ExpectedSkip { file: "g.test".into(), line: 1, reason: "engine".into() },
            ]
        );
        assert_eq!(parse_expected_skips(text, "python").unwrap().len(), 2);
        for bad in ["f.test:12\n", "f.test:12  #  \n", "f.test  # r\n", "f.test:x  # r\n", "f.test:1 go  # r\n"] {
            assert!(parse_expected_skips(bad, "rust").is_err(), "{bad:?}");
        }
        assert!(parse_expected_skips("f.test:1  # a\nf.test:1  # b\n", "rust").unwrap_err().contains("twice"));
    }
}
