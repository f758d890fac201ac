//! Tokens of TraceQL, each with the byte offset where it starts.
//!
//! Attribute paths such as `span.http.status_code` are one token: TraceQL
//! attribute names contain dots, so splitting on `.` would only have the
//! parser glue them back. Scopes (`span.`, `resource.`, `.`) and the
//! `span:` / `trace:` intrinsic prefixes are recognised here.

use super::ast::{AttributeScope, Field, Intrinsic};
use super::TraceqlError;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    AndAnd,
    OrOr,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
    Descendant,
    Tilde,
    Minus,
    Not,
    Str(String),
    /// A number as written, maybe with a duration unit (`200ms`).
    Number(String),
    Field(Field),
    /// A bare word: keyword, enum value or function name.
    Word(String),
    End,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub at: usize,
}

pub fn tokenize(text: &str) -> Result<Vec<Spanned>, TraceqlError> {
    let mut lexer = Lexer { text, pos: 0, out: Vec::new() };
    lexer.run()?;
    Ok(lexer.out)
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    out: Vec<Spanned>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '@')
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn push(&mut self, token: Token, at: usize) {
        self.out.push(Spanned { token, at });
    }

    fn run(&mut self) -> Result<(), TraceqlError> {
        while let Some(c) = self.peek() {
            let at = self.pos;
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            if let Some((token, len)) = self.operator() {
                self.pos += len;
                self.push(token, at);
            } else if c == '"' || c == '`' {
                let text = self.string()?;
                self.push(Token::Str(text), at);
            } else if c.is_ascii_digit() {
                let number = self.number();
                self.push(Token::Number(number), at);
            } else if c == '.' || c.is_alphabetic() || c == '_' {
                let token = self.word()?;
                self.push(token, at);
            } else {
                return Err(TraceqlError::parse(at, format!("unexpected character {c:?}")));
            }
        }
        self.push(Token::End, self.text.len());
        Ok(())
    }

    fn operator(&self) -> Option<(Token, usize)> {
        const OPERATORS: &[(&str, Token)] = &[
            ("&&", Token::AndAnd),
            ("||", Token::OrOr),
            ("!=", Token::Ne),
            ("=~", Token::Match),
            ("!~", Token::NotMatch),
            (">=", Token::Ge),
            ("<=", Token::Le),
            (">>", Token::Descendant),
            ("{", Token::LBrace),
            ("}", Token::RBrace),
            ("(", Token::LParen),
            (")", Token::RParen),
            (",", Token::Comma),
            ("|", Token::Pipe),
            ("=", Token::Eq),
            (">", Token::Gt),
            ("<", Token::Lt),
            ("~", Token::Tilde),
            ("-", Token::Minus),
            ("!", Token::Not),
        ];
        let rest = self.rest();
        OPERATORS.iter().find(|(text, _)| rest.starts_with(text)).map(|(text, token)| (token.clone(), text.len()))
    }

    /// A double-quoted string with Go-style escapes, or a raw backquoted one.
    fn string(&mut self) -> Result<String, TraceqlError> {
        let start = self.pos;
        let quote = self.peek().expect("called on a quote");
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(TraceqlError::parse(start, "unterminated string"));
            };
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote == '"' {
                let Some(escaped) = self.peek() else {
                    return Err(TraceqlError::parse(start, "unterminated string"));
                };
                self.pos += escaped.len_utf8();
                out.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' | '"' | '\'' => escaped,
                    other => {
                        return Err(TraceqlError::parse(self.pos - 2, format!("unknown escape \\{other}")));
                    }
                });
            } else {
                out.push(c);
            }
        }
    }

    /// Digits, an optional fraction, then any letters (a duration unit, checked by the parser).
    fn number(&mut self) -> String {
        let start = self.pos;
        let mut seen_dot = false;
        while let Some(c) = self.peek() {
            let fraction = c == '.' && !seen_dot && self.rest()[1..].starts_with(|d: char| d.is_ascii_digit());
            if c.is_ascii_digit() || fraction || c.is_alphabetic() || c == 'µ' {
                seen_dot |= c == '.';
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.text[start..self.pos].to_string()
    }

    fn word(&mut self) -> Result<Token, TraceqlError> {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
        let word = &self.text[start..self.pos];
        // `span."name with spaces"`: a quoted attribute name after the scope
        if word.ends_with('.') && self.peek() == Some('"') {
            let scope = scope_of(word, start)?;
            let name = self.string()?;
            return Ok(Token::Field(Field::Attribute { scope, name }));
        }
        classify(word, start)
    }
}

fn scope_of(prefix: &str, at: usize) -> Result<AttributeScope, TraceqlError> {
    match prefix {
        "." => Ok(AttributeScope::Any),
        "span." => Ok(AttributeScope::Span),
        "resource." => Ok(AttributeScope::Resource),
        other => unsupported_scope(other.trim_end_matches('.'), at),
    }
}

fn unsupported_scope<T>(scope: &str, at: usize) -> Result<T, TraceqlError> {
    Err(TraceqlError::Unsupported(format!("the {scope} scope (at {at})")))
}

fn classify(word: &str, at: usize) -> Result<Token, TraceqlError> {
    if let Some(name) = word.strip_prefix('.') {
        return attribute(AttributeScope::Any, name, at);
    }
    if let Some((scope, name)) = word.split_once(':') {
        return scoped_intrinsic(scope, name, at);
    }
    if let Some((scope, name)) = word.split_once('.') {
        return match scope {
            "span" => attribute(AttributeScope::Span, name, at),
            "resource" => attribute(AttributeScope::Resource, name, at),
            "event" | "link" | "instrumentation" | "scope" => unsupported_scope(scope, at),
            _ => Err(TraceqlError::parse(at, format!("unknown attribute scope {scope:?} in {word:?}"))),
        };
    }
    Ok(match intrinsic(word) {
        Some(intrinsic) => Token::Field(Field::Intrinsic(intrinsic)),
        None => Token::Word(word.to_string()),
    })
}

fn attribute(scope: AttributeScope, name: &str, at: usize) -> Result<Token, TraceqlError> {
    if name.is_empty() {
        return Err(TraceqlError::parse(at, "attribute name is empty"));
    }
    Ok(Token::Field(Field::Attribute { scope, name: name.to_string() }))
}

fn intrinsic(word: &str) -> Option<Intrinsic> {
    Some(match word {
        "name" => Intrinsic::Name,
        "status" => Intrinsic::Status,
        "statusMessage" => Intrinsic::StatusMessage,
        "kind" => Intrinsic::Kind,
        "duration" => Intrinsic::Duration,
        "rootName" => Intrinsic::RootName,
        "rootServiceName" => Intrinsic::RootServiceName,
        "traceDuration" => Intrinsic::TraceDuration,
        _ => return None,
    })
}

fn scoped_intrinsic(scope: &str, name: &str, at: usize) -> Result<Token, TraceqlError> {
    let found = match (scope, name) {
        ("span", "name") => Intrinsic::Name,
        ("span", "status") => Intrinsic::Status,
        ("span", "statusMessage") => Intrinsic::StatusMessage,
        ("span", "kind") => Intrinsic::Kind,
        ("span", "duration") => Intrinsic::Duration,
        ("span", "id") => Intrinsic::SpanId,
        ("span", "parentID") => Intrinsic::ParentId,
        ("trace", "id") => Intrinsic::TraceId,
        ("trace", "rootName") => Intrinsic::RootName,
        ("trace", "rootService") => Intrinsic::RootServiceName,
        ("trace", "duration") => Intrinsic::TraceDuration,
        ("event" | "link" | "instrumentation", _) => return unsupported_scope(scope, at),
        _ => return Err(TraceqlError::Unsupported(format!("the intrinsic {scope}:{name} (at {at})"))),
    };
    Ok(Token::Field(Field::Intrinsic(found)))
}
