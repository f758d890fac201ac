//! The subset of Go's text/template that `line_format` and `label_format` use.
//!
//! Templates are parsed once, with the query, into a small tree, so an unknown
//! function is a parse error naming it rather than a per-line failure. Only
//! field access (`.label`), literals, function calls and pipes are supported:
//! control actions (`if`, `range`, `with`, ...) are refused by name.
//!
//! Rendering is bounded: no value a template builds (a function's result, a
//! pipe's, the whole output) may exceed the line's length plus
//! [`MAX_TEMPLATE_GROWTH`]. Functions that can multiply their input
//! (`replace` with an empty needle inserts between every character,
//! `regexReplaceAll`) check the size before or while they build, so a hostile
//! template costs an error, not the host's memory. Loki's answer to a failing
//! template applies: the line keeps its text and gets `__error__`.

use std::fmt;

/// How many bytes more than its line a template may produce (64 KiB).
pub const MAX_TEMPLATE_GROWTH: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct Template(Vec<Node>);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    /// Commands joined by `|`; each command's result is the last argument of the next.
    Pipeline(Vec<Command>),
}

#[derive(Clone, Debug, PartialEq)]
enum Command {
    Value(Arg),
    Call(Function, Vec<Arg>),
}

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Field(String),
    Text(String),
    Number(String),
    Line,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Lower,
    Upper,
    Title,
    Trim,
    TrimSpace,
    TrimPrefix,
    TrimSuffix,
    TrimAll,
    Replace,
    Substr,
    Default,
    RegexReplaceAll,
    Contains,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "ToLower" | "lower" => Function::Lower,
            "ToUpper" | "upper" => Function::Upper,
            "title" => Function::Title,
            "trim" => Function::Trim,
            "TrimSpace" | "trimSpace" => Function::TrimSpace,
            "trimPrefix" | "TrimPrefix" => Function::TrimPrefix,
            "trimSuffix" | "TrimSuffix" => Function::TrimSuffix,
            "trimAll" => Function::TrimAll,
            "replace" | "Replace" => Function::Replace,
            "substr" => Function::Substr,
            "default" => Function::Default,
            "regexReplaceAll" => Function::RegexReplaceAll,
            "contains" => Function::Contains,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(pub String);

/// What a template can read while rendering one line.
pub trait Scope {
    fn label(&self, name: &str) -> Option<&str>;
    fn line(&self) -> &str;
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut nodes = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            let mut action = &rest[open + 2..];
            if let Some(stripped) = action.strip_prefix('-') {
                text = text.trim_end();
                action = stripped;
            }
            let close = action.find("}}").ok_or_else(|| TemplateError("unclosed action".into()))?;
            let mut body = &action[..close];
            let mut after = &action[close + 2..];
            if let Some(stripped) = body.strip_suffix('-') {
                body = stripped;
                after = after.trim_start();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            nodes.push(Node::Pipeline(parse_pipeline(body)?));
            rest = after;
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_string()));
        }
        Ok(Template(nodes))
    }

    pub fn render(&self, scope: &dyn Scope) -> Result<String, TemplateError> {
        let cap = Cap(scope.line().len().saturating_add(MAX_TEMPLATE_GROWTH));
        let mut out = String::new();
        for node in &self.0 {
            let piece = match node {
                Node::Text(text) => std::borrow::Cow::Borrowed(text.as_str()),
                Node::Pipeline(commands) => std::borrow::Cow::Owned(run_pipeline(commands, scope, cap)?),
            };
            cap.check(out.len().saturating_add(piece.len()))?;
            out.push_str(&piece);
        }
        Ok(out)
    }
}

/// The most bytes any value built while rendering one line may have.
#[derive(Clone, Copy, Debug)]
struct Cap(usize);

impl Cap {
    fn check(self, len: usize) -> Result<(), TemplateError> {
        if len > self.0 {
            return Err(TemplateError(format!(
                "output would exceed {} bytes (the line's length plus {MAX_TEMPLATE_GROWTH})",
                self.0
            )));
        }
        Ok(())
    }
}

fn parse_pipeline(body: &str) -> Result<Vec<Command>, TemplateError> {
    let words = split_words(body)?;
    let mut commands = Vec::new();
    for group in words.split(|word| word == "|") {
        commands.push(parse_command(group)?);
    }
    if commands.is_empty() {
        return Err(TemplateError("empty action".into()));
    }
    Ok(commands)
}

fn parse_command(words: &[String]) -> Result<Command, TemplateError> {
    let (first, args) = words.split_first().ok_or_else(|| TemplateError("missing value in pipeline".into()))?;
    if let Some(arg) = parse_arg(first) {
        if !args.is_empty() {
            return Err(TemplateError(format!("can't give argument to non-function {first}")));
        }
        return Ok(Command::Value(arg));
    }
    if matches!(first.as_str(), "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block") {
        return Err(TemplateError(format!("action {first} is not supported")));
    }
    let function =
        Function::from_name(first).ok_or_else(|| TemplateError(format!("function {first} is not supported")))?;
    let args = args
        .iter()
        .map(|word| parse_arg(word).ok_or_else(|| TemplateError(format!("unexpected {word} in arguments of {first}"))))
        .collect::<Result<_, _>>()?;
    Ok(Command::Call(function, args))
}

fn parse_arg(word: &str) -> Option<Arg> {
    if word == "__line__" {
        return Some(Arg::Line);
    }
    if let Some(field) = word.strip_prefix('.') {
        return Some(Arg::Field(field.to_string()));
    }
    if let Some(text) = word.strip_prefix('\u{0}') {
        return Some(Arg::Text(text.to_string()));
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return Some(Arg::Number(word.to_string()));
    }
    None
}

/// Splits an action into words; string literals come back prefixed with NUL
/// (which cannot appear in a word) so they are never mistaken for names.
fn split_words(body: &str) -> Result<Vec<String>, TemplateError> {
    let mut words = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            words.push("|".to_string());
        } else if c == '"' || c == '`' {
            chars.next();
            let mut text = String::from('\u{0}');
            loop {
                match chars.next() {
                    None => return Err(TemplateError("unterminated string".into())),
                    Some(end) if end == c => break,
                    Some('\\') if c == '"' => match chars.next() {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(other) => text.push(other),
                        None => return Err(TemplateError("unterminated string".into())),
                    },
                    Some(other) => text.push(other),
                }
            }
            words.push(text);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn run_pipeline(commands: &[Command], scope: &dyn Scope, cap: Cap) -> Result<String, TemplateError> {
    let mut piped: Option<String> = None;
    for command in commands {
        let value = match command {
            Command::Value(arg) => value_of(arg, scope),
            Command::Call(function, args) => {
                let mut values: Vec<String> = args.iter().map(|arg| value_of(arg, scope)).collect();
                values.extend(piped.take());
                call(*function, &values, cap)?
            }
        };
        // functions that only shrink or case-map their input are checked after the fact
        cap.check(value.len())?;
        piped = Some(value);
    }
    Ok(piped.unwrap_or_default())
}

fn value_of(arg: &Arg, scope: &dyn Scope) -> String {
    match arg {
        Arg::Field(name) => scope.label(name).unwrap_or_default().to_string(),
        Arg::Text(text) | Arg::Number(text) => text.clone(),
        Arg::Line => scope.line().to_string(),
    }
}

fn call(function: Function, args: &[String], cap: Cap) -> Result<String, TemplateError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(TemplateError(format!("wrong number of args for {function}: want {n} got {}", args.len())))
        }
    };
    Ok(match function {
        Function::Lower => {
            arity(1)?;
            args[0].to_lowercase()
        }
        Function::Upper => {
            arity(1)?;
            args[0].to_uppercase()
        }
        Function::Title => {
            arity(1)?;
            title_case(&args[0])
        }
        Function::Trim | Function::TrimSpace => {
            arity(1)?;
            args[0].trim().to_string()
        }
        Function::TrimPrefix => {
            arity(2)?;
            args[1].strip_prefix(args[0].as_str()).unwrap_or(&args[1]).to_string()
        }
        Function::TrimSuffix => {
            arity(2)?;
            args[1].strip_suffix(args[0].as_str()).unwrap_or(&args[1]).to_string()
        }
        Function::TrimAll => {
            arity(2)?;
            let cutset: Vec<char> = args[0].chars().collect();
            args[1].trim_matches(|c| cutset.contains(&c)).to_string()
        }
        Function::Replace => {
            arity(3)?;
            let (needle, replacement, text) = (&args[0], &args[1], &args[2]);
            // an empty needle matches before every character and at the end, as in Go
            let matches =
                if needle.is_empty() { text.chars().count() + 1 } else { text.matches(needle.as_str()).count() };
            let len = matches
                .checked_mul(replacement.len())
                .and_then(|added| (text.len() - matches * needle.len()).checked_add(added))
                .unwrap_or(usize::MAX);
            cap.check(len)?;
            text.replace(needle.as_str(), replacement)
        }
        Function::Substr => {
            arity(3)?;
            substr(&args[0], &args[1], &args[2])?
        }
        Function::Default => {
            arity(2)?;
            if args[1].is_empty() {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        Function::RegexReplaceAll => {
            arity(3)?;
            regex_replace_all(&args[0], &args[1], &args[2], cap)?
        }
        Function::Contains => {
            arity(2)?;
            args[1].contains(args[0].as_str()).to_string()
        }
    })
}

/// The most memory a pattern compiled per line (`regexReplaceAll`'s first
/// argument may come from a label) may take; the regex crate's default is 10 MB.
const TEMPLATE_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `regexReplaceAll`, built match by match so its output is checked against the cap as it grows.
fn regex_replace_all(pattern: &str, text: &str, replacement: &str, cap: Cap) -> Result<String, TemplateError> {
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(TEMPLATE_REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| TemplateError(format!("regexReplaceAll: {e}")))?;
    let mut out = String::new();
    let mut last = 0;
    for captures in re.captures_iter(text) {
        let whole = captures.get(0).expect("group 0 is the whole match");
        out.push_str(&text[last..whole.start()]);
        captures.expand(replacement, &mut out);
        cap.check(out.len())?;
        last = whole.end();
    }
    out.push_str(&text[last..]);
    cap.check(out.len())?;
    Ok(out)
}

fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric();
    }
    out
}

fn substr(start: &str, end: &str, text: &str) -> Result<String, TemplateError> {
    let index = |s: &str| s.parse::<i64>().map_err(|_| TemplateError(format!("substr: {s} is not an integer")));
    let chars: Vec<char> = text.chars().collect();
    let (start, end) = (index(start)?, index(end)?);
    if start < 0 || start as usize >= chars.len() {
        return Ok(String::new());
    }
    let end = if end < 0 || end as usize > chars.len() { chars.len() } else { end as usize };
    Ok(chars[start as usize..end.max(start as usize)].iter().collect())
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format!("{self:?}").to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Labels(BTreeMap<&'static str, &'static str>, &'static str);

    impl Scope for Labels {
        fn label(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
        fn line(&self) -> &str {
            self.1
        }
    }

    fn render(template: &str) -> Result<String, TemplateError> {
        let scope = Labels(BTreeMap::from([("status", "500"), ("method", "get"), ("path", "/api/x")]), "raw line");
        Template::parse(template)?.render(&scope)
    }

    #[test]
    fn renders_fields_pipes_and_functions() {
        assert_eq!(render("{{.method}} {{.path}} -> {{.status}}").unwrap(), "get /api/x -> 500");
        assert_eq!(render("{{ .method | ToUpper }}").unwrap(), "GET");
        assert_eq!(render("{{ .missing | default \"none\" }}").unwrap(), "none");
        assert_eq!(render("{{ replace \"/\" \"_\" .path }}").unwrap(), "_api_x");
        assert_eq!(render("{{ .path | trimPrefix \"/api\" }}").unwrap(), "/x");
        assert_eq!(render("{{__line__ | upper}}!").unwrap(), "RAW LINE!");
        assert_eq!(render("a  {{- .status -}}  b").unwrap(), "a500b");
        assert_eq!(render("{{ regexReplaceAll \"[0-9]\" .status \"N\" }}").unwrap(), "NNN");
        assert_eq!(render("{{ .missing }}|").unwrap(), "|");
    }

    #[test]
    fn refuses_unknown_functions_and_actions_by_name() {
        assert_eq!(
            Template::parse("{{ frobnicate .a }}").unwrap_err().to_string(),
            "template: function frobnicate is not supported"
        );
        assert_eq!(
            Template::parse("{{ if .a }}x{{ end }}").unwrap_err().to_string(),
            "template: action if is not supported"
        );
        assert_eq!(Template::parse("{{ .a ").unwrap_err().to_string(), "template: unclosed action");
    }
}
