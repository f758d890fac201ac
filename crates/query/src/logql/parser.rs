//! A hand-written recursive-descent parser for LogQL.
//!
//! LogQL is small and context-sensitive (`!=` is a line filter after a
//! selector but a comparison inside a label filter; `5m` is a range in one
//! place and a duration value in another), which a lexer that hands digit-led
//! words through undecided and a parser that decides by position handle more
//! simply than a generated grammar. Every error carries the line and column of
//! the offending token, as Loki reports them.

use super::ast::*;
use super::lexer::{lex, Tok, Token};
use super::template::Template;
use super::units::parse_bytes;
use crate::go_duration::{parse_query_duration, seconds, DurationError};

/// How deeply a query may nest: every parenthesis, unary sign, vector
/// aggregation, binary operator and label-filter `and`/`or` is one level,
/// counted both while parsing (recursion) and in the tree built (a left-leaning
/// chain such as `1+1+1+...` is as deep as it is long). The parser and every
/// later walk over the tree (planner, pipeline compiler, evaluator, even the
/// tree's drop) recurse once per level, so refusing deeper queries here keeps
/// them all far inside a thread's stack. Loki and Prometheus set no explicit
/// bound, but queries that people and Grafana write stay within a few dozen.
pub const MAX_NESTING: usize = 128;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

pub fn parse(query: &str) -> Result<Query, ParseError> {
    let tokens = lex(query).map_err(|e| position_error(query, e.pos, e.message))?;
    let mut parser = Parser { source: query, tokens, index: 0, depth: 0 };
    let parsed = if parser.peek() == &Tok::Punct("{") {
        Query::Log(parser.log_selector()?)
    } else {
        Query::Metric(parser.expr(0)?.0)
    };
    parser.expect_eof()?;
    Ok(parsed)
}

fn position_error(source: &str, pos: usize, message: String) -> ParseError {
    let before = &source[..pos.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    ParseError { line, col, message }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    index: usize,
    /// nested productions being parsed, bounded by [`MAX_NESTING`]
    depth: usize,
}

/// A parsed subtree and its height (levels of nesting), so that the height of
/// the whole tree is known, and bounded, as it is built.
type Nested<T> = (T, usize);

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.index].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.index + ahead).min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Tok {
        let tok = self.tokens[self.index].tok.clone();
        if self.index < self.tokens.len() - 1 {
            self.index += 1;
        }
        tok
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(position_error(self.source, self.tokens[self.index].pos, message.into()))
    }

    fn unexpected<T>(&self, expecting: &str) -> Result<T, ParseError> {
        self.error(format!("syntax error: unexpected {}, expecting {expecting}", self.peek().describe()))
    }

    fn too_deep<T>(&self) -> Result<T, ParseError> {
        self.error(format!("syntax error: nesting deeper than {MAX_NESTING} levels"))
    }

    /// Runs a production that may recurse, one level deeper.
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Result<T, ParseError>) -> Result<T, ParseError> {
        if self.depth >= MAX_NESTING {
            return self.too_deep();
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    /// The height of a node over children of these heights, refused past [`MAX_NESTING`].
    fn node_height(&self, children: &[usize]) -> Result<usize, ParseError> {
        let height = children.iter().copied().max().unwrap_or(0) + 1;
        if height > MAX_NESTING {
            return self.too_deep();
        }
        Ok(height)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(n) if n == name)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let found = self.is_punct(p);
        if found {
            self.next();
        }
        found
    }

    fn eat_ident(&mut self, name: &str) -> bool {
        let found = self.is_ident(name);
        if found {
            self.next();
        }
        found
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.unexpected(p)
        }
    }

    fn expect_eof(&mut self) -> Result<(), ParseError> {
        if self.peek() == &Tok::Eof {
            Ok(())
        } else {
            self.unexpected("end of query")
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                self.next();
                Ok(name)
            }
            _ => self.unexpected(what),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Str(text) => {
                self.next();
                Ok(text)
            }
            _ => self.unexpected(what),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let negative = self.eat_punct("-");
        match self.peek().clone() {
            Tok::Num(text) => match text.parse::<f64>() {
                Ok(value) => {
                    self.next();
                    Ok(if negative { -value } else { value })
                }
                Err(_) => self.error(format!("syntax error: {text} is not a number")),
            },
            _ => self.unexpected("number"),
        }
    }

    fn duration(&mut self, what: &str) -> Result<i64, ParseError> {
        match self.peek().clone() {
            Tok::Num(text) => match parse_query_duration(&text) {
                Ok(ns) if ns > 0 || what == "offset" => {
                    self.next();
                    Ok(ns)
                }
                Ok(_) if what == "range" => self.error(format!(
                    "syntax error: invalid range duration {text}: a range must be at least one nanosecond"
                )),
                Err(DurationError::Overflow) => self.error(format!(
                    "syntax error: invalid {what} duration {text}: longer than the 292 years an int64 of nanoseconds holds"
                )),
                _ => self.error(format!("syntax error: invalid {what} duration {text}")),
            },
            _ => self.unexpected(&format!("{what} duration")),
        }
    }

    /// Checks a regex given by the string token at `at` (by default the one just read).
    fn regex(&self, pattern: &str, anchored: bool) -> Result<(), ParseError> {
        self.regex_at(pattern, anchored, self.index.saturating_sub(1))
    }

    fn regex_at(&self, pattern: &str, anchored: bool, at: usize) -> Result<(), ParseError> {
        let full = if anchored { format!("^(?:{pattern})$") } else { pattern.to_string() };
        match regex::Regex::new(&full) {
            Ok(_) => Ok(()),
            Err(e) => Err(position_error(
                self.source,
                self.tokens[at].pos,
                format!("invalid regex {pattern:?}: {}", e.to_string().lines().last().unwrap_or("").trim()),
            )),
        }
    }

    // ---- log selectors and pipelines ----

    fn log_selector(&mut self) -> Result<LogSelector, ParseError> {
        let start = self.index;
        let matchers = self.matchers()?;
        if !matchers.iter().any(matcher_excludes_empty) {
            self.index = start;
            return self.error(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value",
            );
        }
        let stages = self.stages()?;
        Ok(LogSelector { matchers, stages })
    }

    fn matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect_punct("{")?;
        let mut matchers = Vec::new();
        while !self.eat_punct("}") {
            if !matchers.is_empty() {
                self.expect_punct(",")?;
            }
            let name = self.ident("label name")?;
            let op = self.match_op()?;
            let value = self.string("label value string")?;
            if matches!(op, MatchOp::Re | MatchOp::NotRe) {
                self.regex(&value, true)?;
            }
            matchers.push(Matcher { name, op, value });
        }
        Ok(matchers)
    }

    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        let op = match self.peek() {
            Tok::Punct("=") => MatchOp::Eq,
            Tok::Punct("!=") => MatchOp::Ne,
            Tok::Punct("=~") => MatchOp::Re,
            Tok::Punct("!~") => MatchOp::NotRe,
            _ => return self.unexpected("= != =~ !~"),
        };
        self.next();
        Ok(op)
    }

    fn stages(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            let line_op = match self.peek() {
                Tok::Punct("|=") => LineOp::Contains,
                Tok::Punct("!=") => LineOp::NotContains,
                Tok::Punct("|~") => LineOp::Matches,
                Tok::Punct("!~") => LineOp::NotMatches,
                Tok::Punct("|>") => LineOp::Pattern,
                Tok::Punct("!>") => LineOp::NotPattern,
                Tok::Punct("|") if !matches!(self.peek_at(1), Tok::Ident(n) if n == "unwrap") => {
                    self.next();
                    stages.push(self.pipe_stage()?);
                    continue;
                }
                _ => return Ok(stages),
            };
            self.next();
            stages.push(Stage::Line(self.line_filter(line_op)?));
        }
    }

    fn line_filter(&mut self, op: LineOp) -> Result<LineFilter, ParseError> {
        if self.is_ident("ip") {
            return self.error("line filter ip() is not supported");
        }
        let mut values = Vec::new();
        loop {
            let at = self.index;
            let value = self.string("line filter string")?;
            match op {
                LineOp::Matches | LineOp::NotMatches => self.regex_at(&value, false, at)?,
                LineOp::Pattern | LineOp::NotPattern => {
                    super::pattern::Pattern::parse(&value)
                        .map_err(|e| position_error(self.source, self.tokens[at].pos, e.to_string()))?;
                }
                _ => {}
            }
            values.push(value);
            if !(self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_))) {
                return Ok(LineFilter { op, values });
            }
            self.next();
        }
    }

    fn pipe_stage(&mut self) -> Result<Stage, ParseError> {
        let Tok::Ident(name) = self.peek().clone() else {
            if self.is_punct("(") {
                return Ok(Stage::Labels(self.label_predicate()?));
            }
            return self.unexpected("parser, formatter or label filter after |");
        };
        if self.starts_label_filter() {
            return Ok(Stage::Labels(self.label_predicate()?));
        }
        const STAGES: &[&str] = &[
            "json",
            "logfmt",
            "regexp",
            "pattern",
            "unpack",
            "decolorize",
            "line_format",
            "label_format",
            "drop",
            "keep",
        ];
        if !STAGES.contains(&name.as_str()) {
            return self.error(format!(
                "syntax error: unexpected {name} after |, expecting a parser, formatter or label filter"
            ));
        }
        self.next();
        Ok(match name.as_str() {
            "json" => Stage::Json(self.extractions()?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                loop {
                    if self.eat_ident("--strict") {
                        strict = true;
                    } else if self.eat_ident("--keep-empty") {
                        keep_empty = true;
                    } else {
                        break;
                    }
                }
                Stage::Logfmt { strict, keep_empty, params: self.extractions()? }
            }
            "regexp" => {
                let pattern = self.string("regular expression string")?;
                self.regex(&pattern, false)?;
                if regex::Regex::new(&pattern).map(|re| re.capture_names().flatten().count()).unwrap_or(0) == 0 {
                    return self.error("regexp parser requires at least one named capture group");
                }
                Stage::Regexp(pattern)
            }
            "pattern" => {
                let pattern = self.string("pattern string")?;
                super::pattern::Pattern::parse(&pattern).or_else(|e| self.error(e.to_string()))?;
                Stage::Pattern(pattern)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => Stage::LineFormat(self.template()?),
            "label_format" => Stage::LabelFormat(self.label_format_rules()?),
            "drop" => Stage::Drop(self.label_selector_items()?),
            "keep" => Stage::Keep(self.label_selector_items()?),
            _ => unreachable!("stage names checked above"),
        })
    }

    fn template(&mut self) -> Result<Template, ParseError> {
        let source = self.string("template string")?;
        Template::parse(&source).or_else(|e| {
            self.index -= 1;
            self.error(e.to_string())
        })
    }

    fn extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut params = Vec::new();
        while matches!(self.peek(), Tok::Ident(_)) && !self.starts_label_filter_after_pipe() {
            let label = self.ident("label name")?;
            let path = if self.eat_punct("=") { Some(self.string("extraction expression string")?) } else { None };
            params.push(Extraction { label, path });
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(params)
    }

    /// `| json` is followed by parameters only when an identifier comes next and
    /// is not itself the start of the next construct.
    fn starts_label_filter_after_pipe(&self) -> bool {
        matches!(self.peek(), Tok::Ident(n) if n == "offset" || n == "or" || n == "and")
    }

    fn label_format_rules(&mut self) -> Result<Vec<LabelFormatRule>, ParseError> {
        let mut rules = Vec::new();
        loop {
            let to = self.ident("label name")?;
            self.expect_punct("=")?;
            rules.push(match self.peek().clone() {
                Tok::Ident(from) => {
                    self.next();
                    LabelFormatRule::Rename { to, from }
                }
                Tok::Str(_) => LabelFormatRule::Template { to, template: self.template()? },
                _ => return self.unexpected("label name or template string"),
            });
            if !self.eat_punct(",") {
                return Ok(rules);
            }
        }
    }

    fn label_selector_items(&mut self) -> Result<Vec<LabelSelectorItem>, ParseError> {
        let mut items = Vec::new();
        loop {
            let name = self.ident("label name")?;
            let matcher = if matches!(self.peek(), Tok::Punct("=" | "!=" | "=~" | "!~")) {
                let op = self.match_op()?;
                let value = self.string("label value string")?;
                if matches!(op, MatchOp::Re | MatchOp::NotRe) {
                    self.regex(&value, true)?;
                }
                Some((op, value))
            } else {
                None
            };
            items.push(LabelSelectorItem { name, matcher });
            if !self.eat_punct(",") {
                return Ok(items);
            }
        }
    }

    fn starts_label_filter(&self) -> bool {
        matches!(self.peek(), Tok::Ident(_))
            && matches!(self.peek_at(1), Tok::Punct("=" | "==" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<="))
    }

    fn label_predicate(&mut self) -> Result<LabelPredicate, ParseError> {
        Ok(self.label_disjunction()?.0)
    }

    fn label_disjunction(&mut self) -> Result<Nested<LabelPredicate>, ParseError> {
        let (mut left, mut height) = self.label_conjunction()?;
        while self.is_ident("or") {
            self.next();
            let (right, right_height) = self.label_conjunction()?;
            height = self.node_height(&[height, right_height])?;
            left = LabelPredicate::Or(Box::new(left), Box::new(right));
        }
        Ok((left, height))
    }

    fn label_conjunction(&mut self) -> Result<Nested<LabelPredicate>, ParseError> {
        let (mut left, mut height) = self.label_primary()?;
        loop {
            if self.eat_ident("and") || self.eat_punct(",") || self.starts_label_filter() {
                let (right, right_height) = self.label_primary()?;
                height = self.node_height(&[height, right_height])?;
                left = LabelPredicate::And(Box::new(left), Box::new(right));
            } else {
                return Ok((left, height));
            }
        }
    }

    fn label_primary(&mut self) -> Result<Nested<LabelPredicate>, ParseError> {
        if self.is_punct("(") {
            return self.nested(|parser| {
                parser.next();
                let inner = parser.label_disjunction()?;
                parser.expect_punct(")")?;
                Ok(inner)
            });
        }
        let name = self.ident("label filter")?;
        let op_text = match self.peek() {
            Tok::Punct(p) => *p,
            _ => return self.unexpected("comparison operator"),
        };
        self.next();
        if let Tok::Str(value) = self.peek().clone() {
            let op = match op_text {
                "=" | "==" => MatchOp::Eq,
                "!=" => MatchOp::Ne,
                "=~" => MatchOp::Re,
                "!~" => MatchOp::NotRe,
                other => {
                    return self.error(format!("syntax error: operator {other} needs a number, duration or byte size"))
                }
            };
            if matches!(op, MatchOp::Re | MatchOp::NotRe) {
                self.regex(&value, true)?;
            }
            self.next();
            return Ok((LabelPredicate::Text { name, op, value }, 1));
        }
        let op = match op_text {
            "=" | "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            other => return self.error(format!("syntax error: operator {other} needs a string")),
        };
        let negative = self.eat_punct("-");
        let Tok::Num(text) = self.peek().clone() else {
            return self.unexpected("string, number, duration or byte size");
        };
        let sign = if negative { -1.0 } else { 1.0 };
        let (value, kind) = if let Ok(number) = text.parse::<f64>() {
            (number, NumberKind::Plain)
        } else if let Ok(nanos) = parse_query_duration(&text) {
            (seconds(nanos), NumberKind::Duration)
        } else if let Some(bytes) = parse_bytes(&text) {
            (bytes, NumberKind::Bytes)
        } else {
            return self.error(format!("syntax error: {text} is not a number, duration or byte size"));
        };
        self.next();
        Ok((LabelPredicate::Number { name, op, value: sign * value, kind }, 1))
    }

    // ---- metric expressions ----

    fn expr(&mut self, min_precedence: u8) -> Result<Nested<MetricExpr>, ParseError> {
        let (mut lhs, mut height) = self.unary()?;
        while let Some((op, precedence)) = self.binary_op() {
            if precedence < min_precedence {
                break;
            }
            self.next();
            let return_bool = self.eat_ident("bool");
            if return_bool && !matches!(op, BinOp::Cmp(_)) {
                return self.error("bool modifier can only be used on comparison operators");
            }
            let matching = self.vector_matching()?;
            let next_min = if op == BinOp::Pow { precedence } else { precedence + 1 };
            // `^` is right-associative: `2^2^2...` recurses here once per operator
            let (rhs, rhs_height) = self.nested(|parser| parser.expr(next_min))?;
            height = self.node_height(&[height, rhs_height])?;
            lhs = MetricExpr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), return_bool, matching };
        }
        Ok((lhs, height))
    }

    fn binary_op(&self) -> Option<(BinOp, u8)> {
        Some(match self.peek() {
            Tok::Ident(name) if name == "or" => (BinOp::Or, 1),
            Tok::Ident(name) if name == "and" => (BinOp::And, 2),
            Tok::Ident(name) if name == "unless" => (BinOp::Unless, 2),
            Tok::Punct("==") => (BinOp::Cmp(CmpOp::Eq), 3),
            Tok::Punct("!=") => (BinOp::Cmp(CmpOp::Ne), 3),
            Tok::Punct(">") => (BinOp::Cmp(CmpOp::Gt), 3),
            Tok::Punct(">=") => (BinOp::Cmp(CmpOp::Ge), 3),
            Tok::Punct("<") => (BinOp::Cmp(CmpOp::Lt), 3),
            Tok::Punct("<=") => (BinOp::Cmp(CmpOp::Le), 3),
            Tok::Punct("+") => (BinOp::Add, 4),
            Tok::Punct("-") => (BinOp::Sub, 4),
            Tok::Punct("*") => (BinOp::Mul, 5),
            Tok::Punct("/") => (BinOp::Div, 5),
            Tok::Punct("%") => (BinOp::Mod, 5),
            Tok::Punct("^") => (BinOp::Pow, 6),
            _ => return None,
        })
    }

    fn vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = if self.eat_ident("on") {
            true
        } else if self.eat_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        let labels = self.label_list()?;
        if self.is_ident("group_left") || self.is_ident("group_right") {
            return self
                .error(format!("{} is not supported", self.peek().describe().trim_start_matches("identifier ")));
        }
        Ok(Some(VectorMatching { on, labels }))
    }

    fn unary(&mut self) -> Result<Nested<MetricExpr>, ParseError> {
        self.nested(|parser| {
            if parser.eat_punct("-") {
                let (inner, height) = parser.unary()?;
                return Ok(match inner {
                    MetricExpr::Scalar(value) => (MetricExpr::Scalar(-value), height),
                    other => (
                        MetricExpr::Binary {
                            op: BinOp::Mul,
                            lhs: Box::new(MetricExpr::Scalar(-1.0)),
                            rhs: Box::new(other),
                            return_bool: false,
                            matching: None,
                        },
                        parser.node_height(&[height])?,
                    ),
                });
            }
            if parser.eat_punct("+") {
                return parser.unary();
            }
            parser.primary()
        })
    }

    fn primary(&mut self) -> Result<Nested<MetricExpr>, ParseError> {
        match self.peek().clone() {
            Tok::Num(_) => Ok((MetricExpr::Scalar(self.number()?), 1)),
            Tok::Punct("(") => {
                self.next();
                let inner = self.expr(0)?;
                self.expect_punct(")")?;
                Ok(inner)
            }
            Tok::Punct("{") => self.error("a log query cannot be used where a metric query is expected; wrap it in a range aggregation such as count_over_time"),
            Tok::Ident(name) => {
                if name == "vector" {
                    self.next();
                    self.expect_punct("(")?;
                    let value = self.number()?;
                    self.expect_punct(")")?;
                    return Ok((MetricExpr::Vector(value), 1));
                }
                if let Some(op) = RangeOp::from_name(&name) {
                    self.next();
                    return Ok((self.range_aggregation(op, &name)?, 1));
                }
                if let Some(op) = AggOp::from_name(&name) {
                    self.next();
                    return self.vector_aggregation(op, &name);
                }
                if matches!(name.as_str(), "label_replace" | "approx_topk" | "absent" | "bytes_over_time_by") {
                    return self.error(format!("function {name} is not supported"));
                }
                self.unexpected("metric expression")
            }
            _ => self.unexpected("metric expression"),
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_punct("(")?;
        let mut labels = Vec::new();
        while !self.eat_punct(")") {
            if !labels.is_empty() {
                self.expect_punct(",")?;
            }
            labels.push(self.ident("label name")?);
        }
        Ok(labels)
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = if self.eat_ident("by") {
            false
        } else if self.eat_ident("without") {
            true
        } else {
            return Ok(None);
        };
        Ok(Some(Grouping { without, labels: self.label_list()? }))
    }

    fn vector_aggregation(&mut self, op: AggOp, name: &str) -> Result<Nested<MetricExpr>, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect_punct("(")?;
        let param = if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            let k = self.number()?;
            if k < 1.0 || k.fract() != 0.0 {
                return self.error(format!("{name}: parameter must be a positive integer, got {k}"));
            }
            self.expect_punct(",")?;
            Some(k)
        } else {
            None
        };
        let (inner, inner_height) = self.expr(0)?;
        let height = self.node_height(&[inner_height])?;
        self.expect_punct(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, AggOp::Sort | AggOp::SortDesc) && grouping.is_some() {
            return self.error(format!("{name} does not take by or without"));
        }
        Ok((MetricExpr::Aggregate { op, param, grouping, inner: Box::new(inner) }, height))
    }

    // kept out of line: inlined into `primary` it would grow every frame of the recursion
    #[inline(never)]
    fn range_aggregation(&mut self, op: RangeOp, name: &str) -> Result<MetricExpr, ParseError> {
        self.expect_punct("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let q = self.number()?;
            self.expect_punct(",")?;
            Some(q)
        } else {
            None
        };
        let selector_start = self.index;
        if !self.is_punct("{") {
            return self.unexpected("log selector");
        }
        let mut selector = self.log_selector()?;
        let mut range_ns = None;
        let mut offset_ns = 0;
        let mut unwrap = None;
        loop {
            if self.eat_punct("[") {
                if range_ns.is_some() {
                    return self.error("syntax error: range given twice");
                }
                range_ns = Some(self.duration("range")?);
                self.expect_punct("]")?;
                if unwrap.is_none() {
                    selector.stages.extend(self.stages()?);
                }
            } else if self.eat_ident("offset") {
                offset_ns = self.duration("offset")?;
            } else if self.is_punct("|") && matches!(self.peek_at(1), Tok::Ident(n) if n == "unwrap") {
                if unwrap.is_some() {
                    return self.error("syntax error: unwrap given twice");
                }
                self.next();
                self.next();
                unwrap = Some(self.unwrap_stage()?);
            } else {
                break;
            }
        }
        let range_ns = match range_ns {
            Some(range) => range,
            None => return self.unexpected("range such as [5m]"),
        };
        self.expect_punct(")")?;
        let grouping_at = self.index;
        let grouping = self.grouping()?;
        let invalid = |with: &str| {
            position_error(
                self.source,
                self.tokens[selector_start].pos,
                format!("invalid aggregation {name} {with} unwrap"),
            )
        };
        if op.needs_unwrap() && unwrap.is_none() {
            return Err(invalid("without"));
        }
        if !op.needs_unwrap() && op != RangeOp::Rate && unwrap.is_some() {
            return Err(invalid("with"));
        }
        if grouping.is_some() && !(op.needs_unwrap() || (op == RangeOp::Rate && unwrap.is_some())) {
            self.index = grouping_at;
            return self.error(format!("grouping is not allowed on {name}; use a vector aggregation such as sum by"));
        }
        Ok(MetricExpr::Range(RangeAggregation { op, param, selector, range_ns, offset_ns, unwrap, grouping }))
    }

    fn unwrap_stage(&mut self) -> Result<Unwrap, ParseError> {
        let conversion = match self.peek_at(1) {
            Tok::Punct("(") => {
                let function = self.ident("label name")?;
                let conversion = match function.as_str() {
                    "duration" | "duration_seconds" => Conversion::Duration,
                    "bytes" => Conversion::Bytes,
                    other => return self.error(format!("unwrap conversion {other} is not supported")),
                };
                self.next();
                let label = self.ident("label name")?;
                self.expect_punct(")")?;
                return self.unwrap_post_filters(label, conversion);
            }
            _ => Conversion::Number,
        };
        let label = self.ident("label name")?;
        self.unwrap_post_filters(label, conversion)
    }

    fn unwrap_post_filters(&mut self, label: String, conversion: Conversion) -> Result<Unwrap, ParseError> {
        let mut post_filters = Vec::new();
        while self.is_punct("|") {
            self.next();
            if !(self.starts_label_filter() || self.is_punct("(")) {
                return self.unexpected("label filter after unwrap");
            }
            post_filters.push(self.label_predicate()?);
        }
        Ok(Unwrap { label, conversion, post_filters })
    }
}

/// A stream selector must narrow the search: some matcher must reject the empty value.
fn matcher_excludes_empty(matcher: &Matcher) -> bool {
    match matcher.op {
        MatchOp::Eq => !matcher.value.is_empty(),
        MatchOp::Re => regex::Regex::new(&format!("^(?:{})$", matcher.value)).is_ok_and(|re| !re.is_match("")),
        MatchOp::Ne | MatchOp::NotRe => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(query: &str) -> String {
        parse(query).unwrap_err().to_string()
    }

    fn log(query: &str) -> LogSelector {
        match parse(query).unwrap() {
            Query::Log(selector) => selector,
            other => panic!("not a log query: {other:?}"),
        }
    }

    #[test]
    fn selectors_and_line_filters() {
        let s = log(
            r#"{service_name="api", env!="dev", pod=~"p-\\d+", ns!~`kube.*`} |= "a" or "b" != `c` |~ "(?i)err" !~ "x""#,
        );
        assert_eq!(s.matchers.len(), 4);
        assert_eq!(s.matchers[2], Matcher { name: "pod".into(), op: MatchOp::Re, value: r"p-\d+".into() });
        assert_eq!(s.matchers[3].op, MatchOp::NotRe);
        assert_eq!(
            s.stages,
            vec![
                Stage::Line(LineFilter { op: LineOp::Contains, values: vec!["a".into(), "b".into()] }),
                Stage::Line(LineFilter { op: LineOp::NotContains, values: vec!["c".into()] }),
                Stage::Line(LineFilter { op: LineOp::Matches, values: vec!["(?i)err".into()] }),
                Stage::Line(LineFilter { op: LineOp::NotMatches, values: vec!["x".into()] }),
            ]
        );
    }

    #[test]
    fn parsers_and_label_filters() {
        let s = log(
            r#"{a="b"} | json | logfmt --strict x, y="z" | status >= 500 and dur > 1.5s or size < 10KB, method="GET" | drop __error__"#,
        );
        assert_eq!(s.stages[0], Stage::Json(vec![]));
        assert_eq!(
            s.stages[1],
            Stage::Logfmt {
                strict: true,
                keep_empty: false,
                params: vec![
                    Extraction { label: "x".into(), path: None },
                    Extraction { label: "y".into(), path: Some("z".into()) }
                ]
            }
        );
        let number =
            |name: &str, op, value, kind| Box::new(LabelPredicate::Number { name: name.into(), op, value, kind });
        assert_eq!(
            s.stages[2],
            Stage::Labels(LabelPredicate::Or(
                Box::new(LabelPredicate::And(
                    number("status", CmpOp::Ge, 500.0, NumberKind::Plain),
                    number("dur", CmpOp::Gt, 1.5, NumberKind::Duration)
                )),
                Box::new(LabelPredicate::And(
                    number("size", CmpOp::Lt, 10_000.0, NumberKind::Bytes),
                    Box::new(LabelPredicate::Text { name: "method".into(), op: MatchOp::Eq, value: "GET".into() })
                ))
            ))
        );
        assert_eq!(s.stages[3], Stage::Drop(vec![LabelSelectorItem { name: "__error__".into(), matcher: None }]));
    }

    #[test]
    fn metric_queries() {
        let Query::Metric(MetricExpr::Aggregate { op, grouping, inner, .. }) =
            parse(r#"sum by (service_name) (count_over_time({service_name=~"api|web"} |= "x" [1m] offset 5m))"#)
                .unwrap()
        else {
            panic!("not an aggregation")
        };
        assert_eq!(op, AggOp::Sum);
        assert_eq!(grouping, Some(Grouping { without: false, labels: vec!["service_name".into()] }));
        let MetricExpr::Range(range) = *inner else { panic!("not a range aggregation") };
        assert_eq!(
            (range.op, range.range_ns, range.offset_ns),
            (RangeOp::CountOverTime, 60_000_000_000, 300_000_000_000)
        );
        assert_eq!(range.selector.stages.len(), 1);

        let Query::Metric(MetricExpr::Range(range)) = parse(
            r#"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(took) | __error__="" [5m]) by (host)"#,
        )
        .unwrap() else {
            panic!("not a range aggregation")
        };
        assert_eq!(range.param, Some(0.99));
        let unwrap = range.unwrap.unwrap();
        assert_eq!(
            (unwrap.label.as_str(), unwrap.conversion, unwrap.post_filters.len()),
            ("took", Conversion::Duration, 1)
        );
        assert!(parse("vector(1)+vector(1)").is_ok());
        assert!(parse(r#"topk(3, sum by (a) (rate({a="b"}[1m]))) > bool 2"#).is_ok());
        assert!(parse(r#"sum(count_over_time({a="b"}[1m])) by (a) / on (a) sum(count_over_time({a="b"}[1m])) by (a)"#)
            .is_ok());
        assert!(parse(r#"count_over_time({a="b"}[1m] | json)"#).is_ok());
    }

    #[test]
    fn errors_carry_positions_and_name_the_construct() {
        assert_eq!(err(r#"{a="b"} |= "x" | frob"#), "parse error at line 1, col 18: syntax error: unexpected frob after |, expecting a parser, formatter or label filter");
        assert_eq!(
            err(r#"{a="b""#),
            "parse error at line 1, col 7: syntax error: unexpected end of query, expecting ,"
        );
        assert_eq!(err(r#"{a=""}"#), "parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value");
        assert_eq!(
            err(r#"{a="b"} |~ "(""#),
            "parse error at line 1, col 12: invalid regex \"(\": error: unclosed group"
        );
        assert_eq!(
            err(r#"sum_over_time({a="b"}[5m])"#),
            "parse error at line 1, col 15: invalid aggregation sum_over_time without unwrap"
        );
        assert_eq!(
            err(r#"count_over_time({a="b"})"#),
            "parse error at line 1, col 24: syntax error: unexpected ), expecting range such as [5m]"
        );
        assert_eq!(err(r#"label_replace(x)"#), "parse error at line 1, col 1: function label_replace is not supported");
        assert_eq!(
            err("{a=\"b\"}\n | line_format \"{{ if .x }}\""),
            "parse error at line 2, col 16: template: action if is not supported"
        );
        assert_eq!(
            err(r#"{a="b"} | unwrap x"#),
            "parse error at line 1, col 9: syntax error: unexpected |, expecting end of query"
        );
        assert_eq!(
            err(r#"rate({a="b"}[1m]) by (a)"#),
            "parse error at line 1, col 19: grouping is not allowed on rate; use a vector aggregation such as sum by"
        );
    }

    #[test]
    fn hostile_strings_stay_strings() {
        let s = log("{a=\"'; DROP TABLE logs; --\"} |= \"\\x00\\\\\\\"\"");
        assert_eq!(s.matchers[0].value, "'; DROP TABLE logs; --");
        assert_eq!(s.stages[0], Stage::Line(LineFilter { op: LineOp::Contains, values: vec!["\0\\\"".into()] }));
    }
}
