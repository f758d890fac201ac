//! LogQL's tokens. Digit-led words (`5m`, `1.5`, `10KB`) stay undecided
//! [`Tok::Num`]s: whether one is a number, a duration or a byte size depends on
//! where it stands, which only the parser knows.

/// A character that starts no token, or a malformed string, at byte `pos`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LexError {
    pub(super) pos: usize,
    pub(super) message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    /// A digit-led word: a number, a duration or a byte size, decided by the parser.
    Num(String),
    Punct(&'static str),
    Eof,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("identifier {name}"),
            Tok::Str(text) => format!("string {text:?}"),
            Tok::Num(text) => text.to_string(),
            Tok::Punct(p) => p.to_string(),
            Tok::Eof => "end of query".to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: usize,
}

const PUNCTS: &[&str] = &[
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<",
    "+", "-", "*", "/", "%", "^",
];

/// The tokens of `source`, ending with [`Tok::Eof`].
pub(super) fn lex(source: &str) -> Result<Vec<Token>, LexError> {
    let mut tokens = Vec::new();
    let bytes = source.as_bytes();
    let mut pos = 0;
    while pos < source.len() {
        let rest = &source[pos..];
        let c = rest.chars().next().expect("non-empty rest");
        if c.is_whitespace() {
            pos += c.len_utf8();
        } else if c == '#' {
            pos += rest.find('\n').unwrap_or(rest.len());
        } else if c == '"' || c == '`' {
            let (text, len) = lex_string(rest).map_err(|message| LexError { pos, message })?;
            tokens.push(Token { tok: Tok::Str(text), pos });
            pos += len;
        } else if c.is_ascii_digit() || (c == '.' && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit)) {
            let len = rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '.' || ch == 'µ')).unwrap_or(rest.len());
            tokens.push(Token { tok: Tok::Num(rest[..len].to_string()), pos });
            pos += len;
        } else if c.is_alphabetic()
            || c == '_'
            || (rest.starts_with("--") && rest[2..].starts_with(char::is_alphabetic))
        {
            let start = if c == '-' { 2 } else { 0 };
            let len = start
                + rest[start..]
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '-'))
                    .unwrap_or(rest.len() - start);
            tokens.push(Token { tok: Tok::Ident(rest[..len].to_string()), pos });
            pos += len;
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            tokens.push(Token { tok: Tok::Punct(p), pos });
            pos += p.len();
        } else {
            return Err(LexError { pos, message: format!("unexpected character {c:?}") });
        }
    }
    tokens.push(Token { tok: Tok::Eof, pos: source.len() });
    Ok(tokens)
}

/// A Go string literal (interpreted `"..."` or raw `` `...` ``) and its length in bytes.
fn lex_string(rest: &str) -> Result<(String, usize), String> {
    let quote = rest.chars().next().expect("starts with a quote");
    let mut out = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1));
        }
        if c == '\\' && quote == '"' {
            let (_, escaped) = chars.next().ok_or("unterminated string")?;
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' | '"' | '\'' => out.push(escaped),
                'x' | 'u' | 'U' => {
                    let digits = match escaped {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = (0..digits).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                    let code = u32::from_str_radix(&hex, 16).map_err(|_| format!("invalid escape \\{escaped}{hex}"))?;
                    out.push(char::from_u32(code).ok_or_else(|| format!("invalid escape \\{escaped}{hex}"))?);
                }
                other => return Err(format!("unknown escape sequence \\{other}")),
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated string".to_string())
}
