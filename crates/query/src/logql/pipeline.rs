//! Runs the part of a LogQL pipeline that SQL does not: parsers, label
//! filters, formatters, `drop`/`keep`, and line filters that follow a stage
//! which rewrites the line. Stages are compiled once (regexes, templates,
//! JSON paths) and applied entry by entry, mutating the entry in place;
//! `process` returns false when the entry is filtered out.
//!
//! Labels come in Loki's three categories, looked up parsed first, then
//! structured metadata, then stream labels. A parsed key that collides with a
//! stream label gets the `_extracted` suffix, as in Loki. Errors (bad JSON, a
//! number that is not one) do not drop the line: they set `__error__` and
//! `__error_details__`, and later label filters let such lines through.

use super::ast::*;
use super::pattern::Pattern;
use super::template::{Scope, Template};
use super::units::parse_bytes;
use crate::go_duration::parse_go_duration_seconds;
use regex::Regex;
use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

pub const ERROR_LABEL: &str = "__error__";
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    pub timestamp_ns: i64,
    pub line: String,
    pub stream: Labels,
    pub metadata: Labels,
    pub parsed: Labels,
}

impl Entry {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.parsed.get(name).or_else(|| self.metadata.get(name)).or_else(|| self.stream.get(name)).map(String::as_str)
    }

    fn has_error(&self) -> bool {
        self.parsed.contains_key(ERROR_LABEL)
    }

    fn set_error(&mut self, kind: &str, details: String) {
        if !self.has_error() {
            self.parsed.insert(ERROR_LABEL.into(), kind.into());
            self.parsed.insert(ERROR_DETAILS_LABEL.into(), details);
        }
    }

    /// Adds a label found by a parser.
    fn extract(&mut self, name: &str, value: String) {
        let name = sanitize_label_name(name);
        if name.is_empty() {
            return;
        }
        let key = if self.stream.contains_key(&name) { format!("{name}_extracted") } else { name };
        self.parsed.insert(key, value);
    }

    /// Overwrites a label wherever it lives (`label_format`).
    fn set(&mut self, name: &str, value: String) {
        if let Some(slot) = self.stream.get_mut(name) {
            *slot = value;
        } else if let Some(slot) = self.metadata.get_mut(name) {
            *slot = value;
        } else {
            self.parsed.insert(name.to_string(), value);
        }
    }

    fn remove(&mut self, name: &str) {
        self.parsed.remove(name);
        self.metadata.remove(name);
        self.stream.remove(name);
    }

    fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.parsed.retain(|k, v| keep(k, v));
        self.metadata.retain(|k, v| keep(k, v));
        self.stream.retain(|k, v| keep(k, v));
    }

    /// Stream and parsed labels: what a log query returns as `labels`.
    pub fn output_labels(&self) -> Labels {
        let mut labels = self.stream.clone();
        labels.extend(self.parsed.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }

    /// Every label, the identity of a metric series.
    pub fn all_labels(&self) -> Labels {
        self.labels_where(|_| true)
    }

    /// The labels whose names pass `keep`, parsed over metadata over stream labels.
    pub fn labels_where(&self, keep: impl Fn(&str) -> bool) -> Labels {
        let mut labels = Labels::new();
        for category in [&self.stream, &self.metadata, &self.parsed] {
            for (name, value) in category.iter().filter(|(name, _)| keep(name)) {
                labels.insert(name.clone(), value.clone());
            }
        }
        labels
    }
}

impl Scope for Entry {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
    fn line(&self) -> &str {
        &self.line
    }
}

/// Label names as Prometheus allows them: anything else becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid regex {pattern:?}: {message}")]
    Regex { pattern: String, message: String },
    #[error("{0}")]
    Pattern(#[from] super::pattern::PatternError),
    #[error("invalid json path {0:?}")]
    JsonPath(String),
}

fn compile(pattern: &str, anchored: bool) -> Result<Regex, PipelineError> {
    let full = if anchored { format!("^(?:{pattern})$") } else { pattern.to_string() };
    Regex::new(&full).map_err(|e| PipelineError::Regex { pattern: pattern.to_string(), message: e.to_string() })
}

enum LineTest {
    Text(String),
    Regex(Regex),
    Pattern(Pattern),
}

impl LineTest {
    fn matches(&self, line: &str) -> bool {
        match self {
            LineTest::Text(text) => line.contains(text.as_str()),
            LineTest::Regex(re) => re.is_match(line),
            LineTest::Pattern(pattern) => pattern.captures(line).is_some(),
        }
    }
}

enum Predicate {
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Text { name: String, negate: bool, test: TextTest },
    Number { name: String, op: CmpOp, value: f64, kind: NumberKind },
}

enum TextTest {
    Equals(String),
    Regex(Regex),
}

impl TextTest {
    fn matches(&self, value: &str) -> bool {
        match self {
            TextTest::Equals(expected) => value == expected,
            TextTest::Regex(re) => re.is_match(value),
        }
    }
}

fn text_test(op: MatchOp, value: &str) -> Result<(bool, TextTest), PipelineError> {
    Ok(match op {
        MatchOp::Eq => (false, TextTest::Equals(value.to_string())),
        MatchOp::Ne => (true, TextTest::Equals(value.to_string())),
        MatchOp::Re => (false, TextTest::Regex(compile(value, true)?)),
        MatchOp::NotRe => (true, TextTest::Regex(compile(value, true)?)),
    })
}

impl Predicate {
    fn compile(predicate: &LabelPredicate) -> Result<Predicate, PipelineError> {
        Ok(match predicate {
            LabelPredicate::And(a, b) => Predicate::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?)),
            LabelPredicate::Or(a, b) => Predicate::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?)),
            LabelPredicate::Text { name, op, value } => {
                let (negate, test) = text_test(*op, value)?;
                Predicate::Text { name: name.clone(), negate, test }
            }
            LabelPredicate::Number { name, op, value, kind } => {
                Predicate::Number { name: name.clone(), op: *op, value: *value, kind: *kind }
            }
        })
    }

    fn holds(&self, entry: &mut Entry) -> bool {
        match self {
            Predicate::And(a, b) => a.holds(entry) && b.holds(entry),
            Predicate::Or(a, b) => a.holds(entry) || b.holds(entry),
            Predicate::Text { name, negate, test } => {
                if name != ERROR_LABEL && entry.has_error() {
                    return true;
                }
                test.matches(entry.get(name).unwrap_or("")) != *negate
            }
            Predicate::Number { name, op, value, kind } => {
                if entry.has_error() {
                    return true;
                }
                let Some(text) = entry.get(name) else { return false };
                let parsed = match kind {
                    NumberKind::Plain => text.trim().parse::<f64>().ok(),
                    NumberKind::Duration => parse_go_duration_seconds(text.trim()),
                    NumberKind::Bytes => parse_bytes(text),
                };
                match parsed {
                    Some(number) => op.holds(number, *value),
                    None => {
                        entry.set_error(
                            "LabelFilterErr",
                            format!("cannot read {text:?} of label {name} as a {kind:?}").to_lowercase(),
                        );
                        true
                    }
                }
            }
        }
    }
}

/// One step of a JSON path: `a.b[0]["c d"]`.
#[derive(Debug, PartialEq)]
pub(super) enum PathStep {
    Key(String),
    Index(usize),
}

pub(super) fn parse_json_path(path: &str) -> Result<Vec<PathStep>, PipelineError> {
    let bad = || PipelineError::JsonPath(path.to_string());
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let inner = after[..end].trim();
            if let Some(key) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                steps.push(PathStep::Key(key.to_string()));
            } else if let Some(key) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                steps.push(PathStep::Key(key.to_string()));
            } else {
                steps.push(PathStep::Index(inner.parse().map_err(|_| bad())?));
            }
            rest = &after[end + 1..];
        } else {
            let rest_key = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_key.find(['.', '[']).unwrap_or(rest_key.len());
            if end == 0 {
                return Err(bad());
            }
            steps.push(PathStep::Key(rest_key[..end].to_string()));
            rest = &rest_key[end..];
        }
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

enum Compiled {
    Line { negate: bool, tests: Vec<LineTest> },
    Json(Vec<(String, Vec<PathStep>)>),
    Logfmt { strict: bool, keep_empty: bool, params: Vec<(String, String)> },
    Regexp(Regex),
    Pattern(Pattern),
    Unpack,
    Labels(Predicate),
    LineFormat(Template),
    LabelFormat(Vec<LabelFormatRule>),
    Drop(Vec<(String, Option<(bool, TextTest)>)>),
    Keep(Vec<(String, Option<(bool, TextTest)>)>),
    Decolorize(Regex),
}

pub struct Pipeline(Vec<Compiled>);

impl Pipeline {
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        stages.iter().map(compile_stage).collect::<Result<_, _>>().map(Pipeline)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every stage; false when the entry is filtered out.
    pub fn process(&self, entry: &mut Entry) -> bool {
        self.0.iter().all(|stage| apply(stage, entry))
    }
}

/// Label filters written after `unwrap`.
pub struct PostFilters(Vec<Predicate>);

impl PostFilters {
    pub fn new(filters: &[LabelPredicate]) -> Result<PostFilters, PipelineError> {
        filters.iter().map(Predicate::compile).collect::<Result<_, _>>().map(PostFilters)
    }

    pub fn keep(&self, entry: &mut Entry) -> bool {
        self.0.iter().all(|p| p.holds(entry))
    }
}

/// Reads the unwrapped value of an entry; on failure sets `__error__` as Loki does.
pub fn unwrap_value(entry: &mut Entry, label: &str, conversion: Conversion) -> Option<f64> {
    let text = entry.get(label).unwrap_or("").to_string();
    let value = match conversion {
        Conversion::Number => text.trim().parse::<f64>().ok(),
        Conversion::Duration => parse_go_duration_seconds(text.trim()),
        Conversion::Bytes => parse_bytes(&text),
    };
    if value.is_none() {
        entry.set_error("SampleExtractionErr", format!("cannot unwrap {text:?} of label {label}"));
    }
    value
}

/// A label to keep or drop, with an optional value test (`true` = must match).
type SelectorItem = (String, Option<(bool, TextTest)>);

fn selector_items(items: &[LabelSelectorItem]) -> Result<Vec<SelectorItem>, PipelineError> {
    items
        .iter()
        .map(|item| Ok((item.name.clone(), item.matcher.as_ref().map(|(op, v)| text_test(*op, v)).transpose()?)))
        .collect()
}

fn compile_stage(stage: &Stage) -> Result<Compiled, PipelineError> {
    Ok(match stage {
        Stage::Line(filter) => {
            let tests = filter
                .values
                .iter()
                .map(|value| {
                    Ok(match filter.op {
                        LineOp::Contains | LineOp::NotContains => LineTest::Text(value.clone()),
                        LineOp::Matches | LineOp::NotMatches => LineTest::Regex(compile(value, false)?),
                        LineOp::Pattern | LineOp::NotPattern => LineTest::Pattern(Pattern::parse(value)?),
                    })
                })
                .collect::<Result<_, PipelineError>>()?;
            Compiled::Line { negate: filter.op.is_negative(), tests }
        }
        Stage::Json(params) => Compiled::Json(
            params
                .iter()
                .map(|p| Ok((p.label.clone(), parse_json_path(p.path.as_deref().unwrap_or(&p.label))?)))
                .collect::<Result<_, PipelineError>>()?,
        ),
        Stage::Logfmt { strict, keep_empty, params } => Compiled::Logfmt {
            strict: *strict,
            keep_empty: *keep_empty,
            params: params
                .iter()
                .map(|p| (p.label.clone(), p.path.clone().unwrap_or_else(|| p.label.clone())))
                .collect(),
        },
        Stage::Regexp(pattern) => Compiled::Regexp(compile(pattern, false)?),
        Stage::Pattern(pattern) => Compiled::Pattern(Pattern::parse(pattern)?),
        Stage::Unpack => Compiled::Unpack,
        Stage::Labels(predicate) => Compiled::Labels(Predicate::compile(predicate)?),
        Stage::LineFormat(template) => Compiled::LineFormat(template.clone()),
        Stage::LabelFormat(rules) => Compiled::LabelFormat(rules.clone()),
        Stage::Drop(items) => Compiled::Drop(selector_items(items)?),
        Stage::Keep(items) => Compiled::Keep(selector_items(items)?),
        Stage::Decolorize => Compiled::Decolorize(compile(r"\x1b\[[0-9;]*[A-Za-z]", false)?),
    })
}

fn apply(stage: &Compiled, entry: &mut Entry) -> bool {
    match stage {
        Compiled::Line { negate, tests } => tests.iter().any(|t| t.matches(&entry.line)) != *negate,
        Compiled::Json(params) => {
            json_stage(entry, params);
            true
        }
        Compiled::Logfmt { strict, keep_empty, params } => {
            logfmt_stage(entry, *strict, *keep_empty, params);
            true
        }
        Compiled::Regexp(re) => {
            let captured: Vec<(String, String)> = match re.captures(&entry.line) {
                Some(caps) => re
                    .capture_names()
                    .flatten()
                    .filter_map(|name| caps.name(name).map(|m| (name.to_string(), m.as_str().to_string())))
                    .collect(),
                None => Vec::new(),
            };
            for (name, value) in captured {
                entry.extract(&name, value);
            }
            true
        }
        Compiled::Pattern(pattern) => {
            let captured: Vec<(String, String)> = pattern
                .captures(&entry.line)
                .map(|caps| caps.into_iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
                .unwrap_or_default();
            for (name, value) in captured {
                entry.extract(&name, value);
            }
            true
        }
        Compiled::Unpack => {
            unpack_stage(entry);
            true
        }
        Compiled::Labels(predicate) => predicate.holds(entry),
        Compiled::LineFormat(template) => {
            match template.render(entry) {
                Ok(line) => entry.line = line,
                Err(e) => entry.set_error("TemplateFormatErr", e.to_string()),
            }
            true
        }
        Compiled::LabelFormat(rules) => {
            label_format_stage(entry, rules);
            true
        }
        Compiled::Drop(items) => {
            let doomed: Vec<String> = items
                .iter()
                .filter(|(name, matcher)| match (entry.get(name), matcher) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(value), Some((negate, test))) => test.matches(value) != *negate,
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in doomed {
                entry.remove(&name);
            }
            true
        }
        Compiled::Keep(items) => {
            entry.retain(|name, value| {
                items.iter().any(|(item, matcher)| {
                    item == name
                        && match matcher {
                            None => true,
                            Some((negate, test)) => test.matches(value) != *negate,
                        }
                })
            });
            true
        }
        Compiled::Decolorize(re) => {
            if let std::borrow::Cow::Owned(clean) = re.replace_all(&entry.line, "") {
                entry.line = clean;
            }
            true
        }
    }
}

fn label_format_stage(entry: &mut Entry, rules: &[LabelFormatRule]) {
    // every rule reads the labels as they were before this stage
    let snapshot = entry.clone();
    for rule in rules {
        match rule {
            LabelFormatRule::Rename { to, from } => {
                let value = snapshot.get(from).unwrap_or("").to_string();
                if from != to {
                    entry.remove(from);
                }
                entry.set(to, value);
            }
            LabelFormatRule::Template { to, template } => match template.render(&snapshot) {
                Ok(value) => entry.set(to, value),
                Err(e) => entry.set_error("TemplateFormatErr", e.to_string()),
            },
        }
    }
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => Some(String::new()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn json_stage(entry: &mut Entry, params: &[(String, Vec<PathStep>)]) {
    let document: serde_json::Value = match serde_json::from_str(&entry.line) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        Ok(_) => return entry.set_error("JSONParserErr", "the line is not a JSON object".into()),
        Err(e) => return entry.set_error("JSONParserErr", e.to_string()),
    };
    if params.is_empty() {
        let mut found = Vec::new();
        flatten_json("", &document, &mut found);
        for (name, value) in found {
            entry.extract(&name, value);
        }
        return;
    }
    for (label, path) in params {
        let mut node = Some(&document);
        for step in path {
            node = node.and_then(|n| match step {
                PathStep::Key(key) => n.get(key.as_str()),
                PathStep::Index(i) => n.get(*i),
            });
        }
        let value = node.and_then(json_text).unwrap_or_default();
        entry.extract(label, value);
    }
}

/// Nested objects flatten to `outer_inner` names; arrays are skipped, as in Loki.
fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let serde_json::Value::Object(map) = value else { return };
    for (key, value) in map {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}_{key}") };
        match value {
            serde_json::Value::Object(_) => flatten_json(&name, value, out),
            serde_json::Value::Array(_) => {}
            other => out.extend(json_text(other).map(|text| (name, text))),
        }
    }
}

fn unpack_stage(entry: &mut Entry) {
    let map = match serde_json::from_str::<serde_json::Value>(&entry.line) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return entry.set_error("JSONParserErr", "the line is not a JSON object".into()),
        Err(e) => return entry.set_error("JSONParserErr", e.to_string()),
    };
    let mut new_line = None;
    for (key, value) in map {
        let serde_json::Value::String(text) = value else { continue };
        if key == "_entry" {
            new_line = Some(text);
        } else {
            entry.extract(&key, text);
        }
    }
    if let Some(line) = new_line {
        entry.line = line;
    }
}

fn logfmt_stage(entry: &mut Entry, strict: bool, keep_empty: bool, params: &[(String, String)]) {
    let pairs = match logfmt_pairs(&entry.line, strict) {
        Ok(pairs) => pairs,
        Err(message) => return entry.set_error("LogfmtParserErr", message),
    };
    if params.is_empty() {
        for (key, value) in pairs {
            if value.is_some() || keep_empty {
                entry.extract(&key, value.unwrap_or_default());
            }
        }
        return;
    }
    for (label, key) in params {
        let value = pairs.iter().rev().find(|(k, _)| k == key).and_then(|(_, v)| v.clone()).unwrap_or_default();
        entry.extract(label, value);
    }
}

/// `key=value key="quoted \" value" flag`: pairs in order; a bare key has no value.
fn logfmt_pairs(line: &str, strict: bool) -> Result<Vec<(String, Option<String>)>, String> {
    let mut pairs = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else { return Ok(pairs) };
        let mut key_end = line.len();
        let mut has_value = false;
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' {
                key_end = i;
                has_value = true;
                chars.next();
                break;
            }
            if c.is_whitespace() {
                key_end = i;
                break;
            }
            if c == '"' && strict {
                return Err(format!("unexpected quote at position {i}"));
            }
            chars.next();
        }
        let key = &line[start..key_end];
        if key.is_empty() {
            if strict {
                return Err(format!("missing key at position {start}"));
            }
            while chars.peek().is_some_and(|(_, c)| !c.is_whitespace()) {
                chars.next();
            }
            continue;
        }
        if !has_value {
            pairs.push((key.to_string(), None));
            continue;
        }
        let value = if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    other => value.push(other),
                }
            }
            if !closed && strict {
                return Err(format!("unterminated quoted value for key {key}"));
            }
            value
        } else {
            let mut value = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value
        };
        pairs.push((key.to_string(), if value.is_empty() { None } else { Some(value) }));
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    fn run(query: &str, line: &str) -> Option<Entry> {
        let Query::Log(selector) = parse(query).unwrap() else { panic!("not a log query") };
        let pipeline = Pipeline::new(&selector.stages).unwrap();
        let mut entry = Entry {
            timestamp_ns: 1,
            line: line.to_string(),
            stream: Labels::from([("service_name".into(), "api".into())]),
            metadata: Labels::from([("trace_id".into(), "abc".into())]),
            parsed: Labels::new(),
        };
        pipeline.process(&mut entry).then_some(entry)
    }

    fn parsed(query: &str, line: &str) -> Vec<(String, String)> {
        run(query, line).expect("kept").parsed.into_iter().collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn json_flattens_nested_objects_and_skips_arrays() {
        let line = r#"{"status":500,"req":{"method":"GET","headers":{"x-id":"7"}},"tags":["a"],"ok":false,"n":null,"service_name":"x"}"#;
        assert_eq!(
            parsed(r#"{service_name="api"} | json"#, line),
            pairs(&[
                ("n", ""),
                ("ok", "false"),
                ("req_headers_x_id", "7"),
                ("req_method", "GET"),
                ("service_name_extracted", "x"),
                ("status", "500")
            ])
        );
    }

    #[test]
    fn json_parameters_follow_paths() {
        let line = r#"{"servers":["a","b"],"req":{"headers":{"User-Agent":"curl"}},"obj":{"k":1}}"#;
        assert_eq!(
            parsed(
                r#"{service_name="api"} | json first="servers[0]", ua="req.headers[\"User-Agent\"]", obj, missing"#,
                line
            ),
            pairs(&[("first", "a"), ("missing", ""), ("obj", "{\"k\":1}"), ("ua", "curl")])
        );
    }

    #[test]
    fn bad_json_sets_the_error_label_and_keeps_the_line() {
        let entry = run(r#"{service_name="api"} | json"#, "not json").unwrap();
        assert_eq!(entry.parsed.get(ERROR_LABEL).map(String::as_str), Some("JSONParserErr"));
        assert!(run(r#"{service_name="api"} | json | __error__="""#, "not json").is_none());
        assert!(run(r#"{service_name="api"} | json | status > 3"#, "not json").is_some());
    }

    #[test]
    fn logfmt_reads_quoted_values_and_bare_keys() {
        let line = r#"level=info msg="hello \"world\"" dur=1.5s flag empty="""#;
        assert_eq!(
            parsed(r#"{service_name="api"} | logfmt"#, line),
            pairs(&[("dur", "1.5s"), ("level", "info"), ("msg", "hello \"world\"")])
        );
        assert_eq!(
            parsed(r#"{service_name="api"} | logfmt --keep-empty"#, line),
            pairs(&[("dur", "1.5s"), ("empty", ""), ("flag", ""), ("level", "info"), ("msg", "hello \"world\"")])
        );
        assert_eq!(parsed(r#"{service_name="api"} | logfmt lvl="level""#, line), pairs(&[("lvl", "info")]));
    }

    #[test]
    fn label_filters_on_numbers_durations_and_bytes() {
        let line = "status=503 took=250ms size=2KB";
        let keep = |filter: &str| run(&format!(r#"{{service_name="api"}} | logfmt | {filter}"#), line).is_some();
        assert!(keep("status >= 500"));
        assert!(!keep("status < 500"));
        assert!(keep("status == 503 and took > 100ms"));
        assert!(!keep("took > 1s"));
        assert!(keep("took > 1s or size >= 2KB"));
        assert!(keep("size < 2KiB, status != 200"));
        assert!(!keep("(status = 200 or status = 404) and size > 1B"));
        assert!(keep(r#"status=~"5..""#));
        assert!(!keep(r#"missing > 1"#));
        assert!(keep(r#"trace_id="abc" service_name!="web""#));
    }

    #[test]
    fn regexp_and_pattern_parsers_extract_named_captures() {
        assert_eq!(
            parsed(r#"{service_name="api"} | regexp "(?P<method>\\w+) (?P<path>\\S+)""#, "GET /a b"),
            pairs(&[("method", "GET"), ("path", "/a")])
        );
        assert_eq!(
            parsed(r#"{service_name="api"} | pattern "<method> <path> <_>""#, "GET /a b"),
            pairs(&[("method", "GET"), ("path", "/a")])
        );
    }

    #[test]
    fn formatting_dropping_and_keeping() {
        let entry = run(
            r#"{service_name="api"} | logfmt | line_format "{{.method}} {{.path | ToUpper}}" | label_format m=method, p="{{.path}}!""#,
            "method=GET path=/a",
        )
        .unwrap();
        assert_eq!(entry.line, "GET /A");
        assert_eq!(
            entry.parsed,
            Labels::from([("m".into(), "GET".into()), ("p".into(), "/a!".into()), ("path".into(), "/a".into())])
        );
        let entry = run(r#"{service_name="api"} | logfmt | drop path, method="POST""#, "method=GET path=/a").unwrap();
        assert_eq!(entry.parsed, Labels::from([("method".into(), "GET".into())]));
        let entry = run(r#"{service_name="api"} | logfmt | keep method, service_name"#, "method=GET path=/a").unwrap();
        assert_eq!(
            entry.all_labels(),
            Labels::from([("method".into(), "GET".into()), ("service_name".into(), "api".into())])
        );
    }

    #[test]
    fn unpack_and_decolorize_rewrite_the_line() {
        let entry = run(r#"{service_name="api"} | unpack"#, r#"{"_entry":"inner line","pod":"p1","n":3}"#).unwrap();
        assert_eq!(entry.line, "inner line");
        assert_eq!(entry.parsed, Labels::from([("pod".into(), "p1".into())]));
        assert_eq!(run(r#"{service_name="api"} | decolorize"#, "\x1b[31mred\x1b[0m text").unwrap().line, "red text");
    }

    #[test]
    fn line_filters_in_rust_follow_loki_or_semantics() {
        let keep = |q: &str, line: &str| run(q, line).is_some();
        assert!(keep(r#"{service_name="api"} | line_format "x{{__line__}}" |= "xa" or "zz""#, "a"));
        assert!(!keep(r#"{service_name="api"} | line_format "{{__line__}}" != "a" or "b""#, "b"));
        assert!(keep(r#"{service_name="api"} | line_format "{{__line__}}" |~ "^a+$""#, "aaa"));
        assert!(keep(r#"{service_name="api"} |> "<_> error <_>""#, "x error y"));
        assert!(!keep(r#"{service_name="api"} !> "<_> error <_>""#, "x error y"));
    }

    #[test]
    fn unwrap_sets_an_error_for_non_numbers() {
        let mut entry =
            Entry { line: String::new(), parsed: Labels::from([("d".into(), "1m30s".into())]), ..Entry::default() };
        assert_eq!(unwrap_value(&mut entry, "d", Conversion::Duration), Some(90.0));
        assert_eq!(unwrap_value(&mut entry, "d", Conversion::Number), None);
        assert_eq!(entry.parsed.get(ERROR_LABEL).map(String::as_str), Some("SampleExtractionErr"));
    }
}
