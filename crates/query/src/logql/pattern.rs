//! Loki's `pattern` expressions (`<ip> - <_> [<ts>] "<method> <path> <_>"`):
//! literals and captures, matched left to right. A capture runs up to the
//! first occurrence of the literal after it (or to the end of the line when
//! it is last); text after a final literal is ignored.

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    /// `None` for the anonymous `<_>`.
    Capture(Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern(Vec<Part>);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid pattern: {0}")]
pub struct PatternError(String);

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut literal = String::new();
        while !rest.is_empty() {
            if let Some(name) = capture_at(rest) {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err(PatternError("consecutive captures are not allowed".into()));
                }
                parts.push(Part::Capture((name != "_").then(|| name.to_string())));
                rest = &rest[name.len() + 2..];
            } else {
                let c = rest.chars().next().expect("non-empty");
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if !parts.iter().any(|part| matches!(part, Part::Capture(_))) {
            return Err(PatternError("at least one capture is required".into()));
        }
        Ok(Pattern(parts))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            Part::Capture(Some(name)) => Some(name.as_str()),
            _ => None,
        })
    }

    /// A regex (RE2 and Rust syntax alike) that matches where [`Pattern::captures`]
    /// does, with one group per named capture in order: anchored at the start,
    /// each capture lazy up to the next literal (its first occurrence, as
    /// `find`; a later one can never succeed where the first failed, since
    /// the text after it is a suffix), the last capture to the end, and text
    /// after a final literal ignored.
    pub fn regex_equivalent(&self) -> String {
        let mut regex = String::from("(?s)^");
        for (i, part) in self.0.iter().enumerate() {
            match part {
                Part::Literal(text) => regex.push_str(&regex_syntax::escape(text)),
                Part::Capture(name) => {
                    let body = if i + 1 == self.0.len() { ".*" } else { ".*?" };
                    regex.push_str(&if name.is_some() { format!("({body})") } else { format!("(?:{body})") });
                }
            }
        }
        regex
    }

    /// The named captures if `line` matches, in pattern order.
    pub fn captures<'a>(&'a self, line: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut parts = self.0.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Part::Capture(name) => {
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    if let Some(name) = name {
                        out.push((name.as_str(), &rest[..end]));
                    }
                    rest = &rest[end..];
                }
            }
        }
        Some(out)
    }
}

/// The name of a `<name>` capture starting `text`, if it starts with one.
fn capture_at(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let valid = !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_between_literals() {
        let p = Pattern::parse("<ip> - <_> \"<method> <path> <_>\" <status>").unwrap();
        let line = "10.0.0.1 - frank \"GET /api HTTP/1.1\" 200 512";
        assert_eq!(
            p.captures(line).unwrap(),
            vec![("ip", "10.0.0.1"), ("method", "GET"), ("path", "/api"), ("status", "200 512")]
        );
        assert_eq!(p.captures("no match"), None);
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["ip", "method", "path", "status"]);
    }

    #[test]
    fn rejects_patterns_without_captures_or_with_adjacent_ones() {
        assert_eq!(
            Pattern::parse("plain").unwrap_err().to_string(),
            "invalid pattern: at least one capture is required"
        );
        assert!(Pattern::parse("<a><b>").is_err());
        assert_eq!(
            Pattern::parse("a <b c>").unwrap_err().to_string(),
            "invalid pattern: at least one capture is required"
        );
    }
}
