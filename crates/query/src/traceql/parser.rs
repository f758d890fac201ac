//! A hand-written recursive-descent parser from TraceQL text to [`SpansetExpr`].
//!
//! Precedence, loosest first: pipeline `|`, spanset `||`, spanset `&&`, then
//! the structural operators `>` `>>` `~`, all left-associative. Inside a
//! spanset `||` binds looser than `&&`. Every error carries the byte offset
//! of the token that broke the rule.

use super::ast::*;
use super::lexer::{tokenize, Spanned, Token};
use super::TraceqlError;
use crate::go_duration::parse_query_duration;

/// The deepest tree a query may build: parentheses plus the operators of a
/// chain along one path (`{a} && {b} && ...` is as deep as it is long). The
/// planner and `Drop` recurse over the tree, so this is checked while
/// parsing, before the tree can outgrow a small thread stack (each level of
/// parentheses costs five parser frames; 64 levels parse in well under
/// 256 KiB, and real queries rarely nest five).
pub const MAX_NESTING: usize = 64;

pub fn parse(text: &str) -> Result<SpansetExpr, TraceqlError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, next: 0, depth: 0 };
    let expr = parser.pipeline()?;
    match parser.peek() {
        Token::End => Ok(expr),
        _ => Err(parser.unexpected("the end of the query")),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    next: usize,
    /// parentheses open and chain operators seen on the way to the current
    /// token: an upper bound on the depth of the node being built
    depth: usize,
}

impl Parser {
    /// One more level of nesting, refused past [`MAX_NESTING`].
    fn deeper(&mut self) -> Result<(), TraceqlError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(TraceqlError::parse(
                self.at(),
                format!("the query nests deeper than {MAX_NESTING} levels of parentheses and operators"),
            ));
        }
        Ok(())
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.next].token
    }

    fn at(&self) -> usize {
        self.tokens[self.next].at
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].token.clone();
        if token != Token::End {
            self.next += 1;
        }
        token
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == token {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), TraceqlError> {
        if self.eat(&token) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&self, expected: &str) -> TraceqlError {
        let found = match self.peek() {
            Token::End => "the end of the query".to_string(),
            token => describe(token),
        };
        TraceqlError::parse(self.at(), format!("expected {expected}, found {found}"))
    }

    // ---- between spansets ----

    fn pipeline(&mut self) -> Result<SpansetExpr, TraceqlError> {
        let entry = self.depth;
        let mut expr = self.spanset_or()?;
        while self.eat(&Token::Pipe) {
            self.deeper()?;
            let stage = self.stage()?;
            expr = SpansetExpr::Pipeline { input: Box::new(expr), stage };
        }
        self.depth = entry;
        Ok(expr)
    }

    fn spanset_or(&mut self) -> Result<SpansetExpr, TraceqlError> {
        let entry = self.depth;
        let mut lhs = self.spanset_and()?;
        while self.eat(&Token::OrOr) {
            self.deeper()?;
            let rhs = self.spanset_and()?;
            lhs = binary(SpansetOp::Or, lhs, rhs);
        }
        self.depth = entry;
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, TraceqlError> {
        let entry = self.depth;
        let mut lhs = self.structural()?;
        while self.eat(&Token::AndAnd) {
            self.deeper()?;
            let rhs = self.structural()?;
            lhs = binary(SpansetOp::And, lhs, rhs);
        }
        self.depth = entry;
        Ok(lhs)
    }

    fn structural(&mut self) -> Result<SpansetExpr, TraceqlError> {
        let entry = self.depth;
        let mut lhs = self.spanset_primary()?;
        loop {
            let op = match self.peek() {
                Token::Gt => SpansetOp::Child,
                Token::Descendant => SpansetOp::Descendant,
                Token::Tilde => SpansetOp::Sibling,
                token @ (Token::Lt | Token::Le | Token::Not | Token::NotMatch) => {
                    let at = self.at();
                    let negated = self.tokens.get(self.next + 1).map(|next| symbol(&next.token)).unwrap_or_default();
                    let symbol = if *token == Token::Not { format!("!{negated}") } else { symbol(token).to_string() };
                    return Err(TraceqlError::Unsupported(format!("the spanset operator '{symbol}' (at {at})")));
                }
                _ => {
                    self.depth = entry;
                    return Ok(lhs);
                }
            };
            self.advance();
            self.deeper()?;
            let rhs = self.spanset_primary()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, TraceqlError> {
        match self.peek() {
            Token::LBrace => {
                self.advance();
                if self.eat(&Token::RBrace) {
                    return Ok(SpansetExpr::Filter(FieldExpr::Literal(true)));
                }
                let condition = self.field_or()?;
                self.expect(Token::RBrace, "'}' or an operator")?;
                Ok(SpansetExpr::Filter(condition))
            }
            Token::LParen => {
                self.advance();
                self.deeper()?;
                let expr = self.pipeline()?;
                self.expect(Token::RParen, "')'")?;
                self.depth -= 1;
                Ok(expr)
            }
            _ => Err(self.unexpected("a spanset '{ ... }'")),
        }
    }

    // ---- pipeline stages ----

    fn stage(&mut self) -> Result<Stage, TraceqlError> {
        let at = self.at();
        match self.advance() {
            Token::LBrace => {
                let condition = if self.peek() == &Token::RBrace { FieldExpr::Literal(true) } else { self.field_or()? };
                self.expect(Token::RBrace, "'}' or an operator")?;
                Ok(Stage::Filter(condition))
            }
            Token::Word(word) => {
                let func = match word.as_str() {
                    "count" => Aggregate::Count,
                    "avg" => Aggregate::Avg,
                    "min" => Aggregate::Min,
                    "max" => Aggregate::Max,
                    "sum" => Aggregate::Sum,
                    other => {
                        return Err(TraceqlError::Unsupported(format!("the pipeline function {other}() (at {at})")))
                    }
                };
                self.aggregate(func)
            }
            _ => {
                self.next -= 1;
                Err(self.unexpected("a pipeline stage (count(), avg(...), ... or { ... })"))
            }
        }
    }

    fn aggregate(&mut self, func: Aggregate) -> Result<Stage, TraceqlError> {
        self.expect(Token::LParen, "'('")?;
        let field = match func {
            Aggregate::Count => None,
            _ => Some(self.field()?),
        };
        self.expect(Token::RParen, "')'")?;
        let op = self.compare_op().ok_or_else(|| self.unexpected("a comparison after the aggregate"))?;
        self.advance();
        let value = self.literal()?;
        Ok(Stage::Aggregate { func, field, op, value })
    }

    // ---- inside a spanset ----

    fn field_or(&mut self) -> Result<FieldExpr, TraceqlError> {
        let entry = self.depth;
        let mut lhs = self.field_and()?;
        while self.eat(&Token::OrOr) {
            self.deeper()?;
            let rhs = self.field_and()?;
            lhs = FieldExpr::Or(Box::new(lhs), Box::new(rhs));
        }
        self.depth = entry;
        Ok(lhs)
    }

    fn field_and(&mut self) -> Result<FieldExpr, TraceqlError> {
        let entry = self.depth;
        let mut lhs = self.field_primary()?;
        while self.eat(&Token::AndAnd) {
            self.deeper()?;
            let rhs = self.field_primary()?;
            lhs = FieldExpr::And(Box::new(lhs), Box::new(rhs));
        }
        self.depth = entry;
        Ok(lhs)
    }

    fn field_primary(&mut self) -> Result<FieldExpr, TraceqlError> {
        match self.peek().clone() {
            Token::LParen => {
                self.advance();
                self.deeper()?;
                let inner = self.field_or()?;
                self.expect(Token::RParen, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Word(word) if (word == "true" || word == "false") && !self.comparison_follows() => {
                self.advance();
                Ok(FieldExpr::Literal(word == "true"))
            }
            Token::Field(_) => {
                let field = self.field()?;
                let op = self.compare_op().ok_or_else(|| self.unexpected("a comparison operator"))?;
                self.advance();
                let value = self.literal()?;
                Ok(FieldExpr::Compare { field, op, value })
            }
            Token::Str(_) | Token::Number(_) | Token::Minus | Token::Word(_) => {
                let value = self.literal()?;
                let op = self.compare_op().ok_or_else(|| self.unexpected("a comparison operator"))?;
                self.advance();
                let field = self.field()?;
                Ok(FieldExpr::Compare { field, op: op.flipped(), value })
            }
            Token::Not => Err(TraceqlError::Unsupported(format!("negation with ! (at {})", self.at()))),
            _ => Err(self.unexpected("a condition")),
        }
    }

    fn comparison_follows(&self) -> bool {
        matches!(
            self.tokens.get(self.next + 1).map(|s| &s.token),
            Some(
                Token::Eq | Token::Ne | Token::Gt | Token::Ge | Token::Lt | Token::Le | Token::Match | Token::NotMatch
            )
        )
    }

    fn field(&mut self) -> Result<Field, TraceqlError> {
        match self.peek().clone() {
            Token::Field(field) => {
                self.advance();
                Ok(field)
            }
            _ => Err(self.unexpected("an attribute or intrinsic")),
        }
    }

    fn compare_op(&self) -> Option<CompareOp> {
        Some(match self.peek() {
            Token::Eq => CompareOp::Eq,
            Token::Ne => CompareOp::Ne,
            Token::Gt => CompareOp::Gt,
            Token::Ge => CompareOp::Ge,
            Token::Lt => CompareOp::Lt,
            Token::Le => CompareOp::Le,
            Token::Match => CompareOp::Match,
            Token::NotMatch => CompareOp::NotMatch,
            _ => return None,
        })
    }

    fn literal(&mut self) -> Result<Literal, TraceqlError> {
        let at = self.at();
        match self.advance() {
            Token::Str(text) => Ok(Literal::String(text)),
            Token::Number(text) => number(&text, false, at),
            Token::Minus => match self.advance() {
                Token::Number(text) => number(&text, true, at),
                _ => {
                    self.next -= 1;
                    Err(self.unexpected("a number after '-'"))
                }
            },
            Token::Word(word) => keyword_literal(&word).ok_or_else(|| {
                TraceqlError::parse(at, format!("expected a value, found {word:?} (strings need double quotes)"))
            }),
            Token::Field(_) => Err(TraceqlError::Unsupported(format!("comparing two fields (at {at})"))),
            _ => {
                self.next -= 1;
                Err(self.unexpected("a value"))
            }
        }
    }
}

fn binary(op: SpansetOp, lhs: SpansetExpr, rhs: SpansetExpr) -> SpansetExpr {
    SpansetExpr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

fn keyword_literal(word: &str) -> Option<Literal> {
    Some(match word {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        "nil" => Literal::Nil,
        "ok" => Literal::Status(Status::Ok),
        "error" => Literal::Status(Status::Error),
        "unset" => Literal::Status(Status::Unset),
        "unspecified" => Literal::Kind(Kind::Unspecified),
        "internal" => Literal::Kind(Kind::Internal),
        "server" => Literal::Kind(Kind::Server),
        "client" => Literal::Kind(Kind::Client),
        "producer" => Literal::Kind(Kind::Producer),
        "consumer" => Literal::Kind(Kind::Consumer),
        _ => return None,
    })
}

/// An integer, a float, or a duration such as `1.5s`, `1h30m` or `2d` (Tempo's
/// lexer reads Prometheus' units as well as Go's).
fn number(text: &str, negative: bool, at: usize) -> Result<Literal, TraceqlError> {
    let sign = if negative { -1 } else { 1 };
    let bad = || TraceqlError::parse(at, format!("invalid number or duration {text:?}"));
    if text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse::<i64>().map(|n| Literal::Int(sign * n)).map_err(|_| bad());
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return text.parse::<f64>().map(|n| Literal::Float(sign as f64 * n)).map_err(|_| bad());
    }
    parse_query_duration(text).map(|ns| Literal::Duration(sign * ns)).map_err(|_| bad())
}

fn describe(token: &Token) -> String {
    match token {
        Token::Str(text) => format!("string {text:?}"),
        Token::Number(text) => format!("number {text}"),
        Token::Word(word) => format!("{word:?}"),
        Token::Field(Field::Intrinsic(i)) => format!("intrinsic {}", i.name()),
        Token::Field(Field::Attribute { name, .. }) => format!("attribute {name:?}"),
        other => format!("'{}'", symbol(other)),
    }
}

fn symbol(token: &Token) -> &'static str {
    match token {
        Token::LBrace => "{",
        Token::RBrace => "}",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::Comma => ",",
        Token::Pipe => "|",
        Token::AndAnd => "&&",
        Token::OrOr => "||",
        Token::Eq => "=",
        Token::Ne => "!=",
        Token::Gt => ">",
        Token::Ge => ">=",
        Token::Lt => "<",
        Token::Le => "<=",
        Token::Match => "=~",
        Token::NotMatch => "!~",
        Token::Descendant => ">>",
        Token::Tilde => "~",
        Token::Minus => "-",
        Token::Not => "!",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(scope: AttributeScope, name: &str) -> Field {
        Field::Attribute { scope, name: name.into() }
    }

    fn cmp(field: Field, op: CompareOp, value: Literal) -> FieldExpr {
        FieldExpr::Compare { field, op, value }
    }

    fn filter(condition: FieldExpr) -> SpansetExpr {
        SpansetExpr::Filter(condition)
    }

    #[test]
    fn parses_the_issue_example() {
        let parsed = parse(r#"{ resource.service.name = "checkout" && duration > 200ms && status = error }"#).unwrap();
        let service =
            cmp(attr(AttributeScope::Resource, "service.name"), CompareOp::Eq, Literal::String("checkout".into()));
        let slow = cmp(Field::Intrinsic(Intrinsic::Duration), CompareOp::Gt, Literal::Duration(200_000_000));
        let failed = cmp(Field::Intrinsic(Intrinsic::Status), CompareOp::Eq, Literal::Status(Status::Error));
        let expected = FieldExpr::And(Box::new(FieldExpr::And(Box::new(service), Box::new(slow))), Box::new(failed));
        assert_eq!(parsed, filter(expected));
    }

    #[test]
    fn inner_and_binds_tighter_than_or() {
        let parsed = parse(r#"{ .a = 1 || .b = 2 && .c = 3 }"#).unwrap();
        let a = cmp(attr(AttributeScope::Any, "a"), CompareOp::Eq, Literal::Int(1));
        let b = cmp(attr(AttributeScope::Any, "b"), CompareOp::Eq, Literal::Int(2));
        let c = cmp(attr(AttributeScope::Any, "c"), CompareOp::Eq, Literal::Int(3));
        let expected = FieldExpr::Or(Box::new(a), Box::new(FieldExpr::And(Box::new(b), Box::new(c))));
        assert_eq!(parsed, filter(expected));
    }

    #[test]
    fn spanset_operators_have_precedence() {
        let parsed = parse("{ } || { } && { } > { } | count() > 2").unwrap();
        let all = || Box::new(filter(FieldExpr::Literal(true)));
        let child = Box::new(SpansetExpr::Binary { op: SpansetOp::Child, lhs: all(), rhs: all() });
        let and = Box::new(SpansetExpr::Binary { op: SpansetOp::And, lhs: all(), rhs: child });
        let or = SpansetExpr::Binary { op: SpansetOp::Or, lhs: all(), rhs: and };
        let stage = Stage::Aggregate { func: Aggregate::Count, field: None, op: CompareOp::Gt, value: Literal::Int(2) };
        assert_eq!(parsed, SpansetExpr::Pipeline { input: Box::new(or), stage });
    }

    #[test]
    fn literals_and_fields() {
        let parse_one = |q: &str| match parse(q).unwrap() {
            SpansetExpr::Filter(FieldExpr::Compare { field, op, value }) => (field, op, value),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse_one("{ span:duration >= 1h30m }"),
            (Field::Intrinsic(Intrinsic::Duration), CompareOp::Ge, Literal::Duration(5_400_000_000_000))
        );
        assert_eq!(parse_one("{ 1.5 < span.x }").1, CompareOp::Gt);
        assert_eq!(parse_one("{ span.x = -3 }").2, Literal::Int(-3));
        assert_eq!(parse_one("{ span.x = 2.5 }").2, Literal::Float(2.5));
        assert_eq!(parse_one("{ span.x = 1.5s }").2, Literal::Duration(1_500_000_000));
        assert_eq!(parse_one("{ span.x = 10us }").2, Literal::Duration(10_000));
        // Tempo's lexer reads Prometheus' day unit and only the micro sign (U+00B5) as micro
        assert_eq!(parse_one("{ span.x = 2d }").2, Literal::Duration(172_800_000_000_000));
        assert_eq!(parse_one("{ span.x = 10\u{b5}s }").2, Literal::Duration(10_000));
        assert!(parse("{ span.x = 10\u{3bc}s }").is_err());
        assert!(parse("{ span.x = 9999999999999999h }").is_err());
        assert_eq!(parse_one("{ kind = server }").2, Literal::Kind(Kind::Server));
        assert_eq!(parse_one("{ .ok = true }").2, Literal::Bool(true));
        assert_eq!(parse_one("{ .x != nil }").2, Literal::Nil);
        assert_eq!(parse_one(r#"{ name =~ "a\"b\\." }"#).2, Literal::String("a\"b\\.".into()));
        assert_eq!(parse_one("{ name = `raw\\d` }").2, Literal::String("raw\\d".into()));
        assert_eq!(parse_one(r#"{ span."my attr" = "x" }"#).0, attr(AttributeScope::Span, "my attr"));
        assert_eq!(parse_one("{ trace:rootService = \"a\" }").0, Field::Intrinsic(Intrinsic::RootServiceName));
        assert_eq!(parse_one("{ span.http.status_code = 500 }").0, attr(AttributeScope::Span, "http.status_code"));
    }

    #[test]
    fn errors_name_the_position() {
        let err = |q: &str| parse(q).unwrap_err().to_string();
        assert_eq!(err("{ name = }"), "traceql parse error at 9: expected a value, found '}'");
        assert_eq!(
            err("{ name = \"x\" "),
            "traceql parse error at 13: expected '}' or an operator, found the end of the query"
        );
        assert_eq!(
            err("{ name = checkout }"),
            "traceql parse error at 9: expected a value, found \"checkout\" (strings need double quotes)"
        );
        assert_eq!(err("{ name = \"x }"), "traceql parse error at 9: unterminated string");
        assert_eq!(err("{ .a = 1 } {"), "traceql parse error at 11: expected the end of the query, found '{'");
        assert_eq!(
            err("{ duration > 5parsecs }"),
            "traceql parse error at 13: invalid number or duration \"5parsecs\""
        );
        assert_eq!(err("{ foo.bar = 1 }"), "traceql parse error at 2: unknown attribute scope \"foo\" in \"foo.bar\"");
        assert_eq!(err(""), "traceql parse error at 0: expected a spanset '{ ... }', found the end of the query");
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let err = |q: &str| parse(q).unwrap_err().to_string();
        assert_eq!(err("{ event.name = \"x\" }"), "traceql: the event scope (at 2) is not supported");
        assert_eq!(err("{ } | select(.a)"), "traceql: the pipeline function select() (at 6) is not supported");
        assert_eq!(err("{ } < { }"), "traceql: the spanset operator '<' (at 4) is not supported");
        assert_eq!(err("{ } !~ { }"), "traceql: the spanset operator '!~' (at 4) is not supported");
        assert_eq!(err("{ } !>> { }"), "traceql: the spanset operator '!>>' (at 4) is not supported");
        assert_eq!(err("{ span.a = span.b }"), "traceql: comparing two fields (at 11) is not supported");
    }
}
