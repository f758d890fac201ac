//! A bound on how deep a PromQL tree can be, checked on the query text
//! before promql-parser builds anything.
//!
//! promql-parser's LR parser keeps its own stack, but the tree it builds is
//! a `Box` chain as deep as the query nests, and everything that walks it
//! recurses: its `Display`, `prettify` and `Drop`, and our evaluator,
//! planner and SQL printers. 15,000 nested `(` or a 20,000-term `1+1+...`
//! would overflow a thread's stack (and take the host DuckDB down), so a
//! query whose tree could be deeper than [`MAX_NESTING`] is refused while it
//! is still text.
//!
//! [`nesting_bound`] is an upper bound on the tree's depth, never an
//! underestimate: every node of the tree either is an operator character or
//! keyword in the text, or owns a bracket group (`(...)`, `[...]`, `{...}`).
//! Within one comma-separated segment of a group, a path from the segment's
//! root goes through at most every operator and group of that segment and
//! then into one group, so the segment's depth is at most (operators +
//! groups) + the deepest group inside it.

/// The deepest PromQL tree (operators plus brackets along one path) a query
/// may have. Real queries stay far below it (a dashboard query is rarely 20
/// deep). Parsing, evaluating, printing and dropping a tree 256 deep was
/// measured to just fit a 256 KiB stack, so 128 leaves that stack (and any
/// DuckDB or connection thread, which have MiBs) a wide margin.
pub const MAX_NESTING: usize = 128;

#[derive(Default)]
struct Group {
    /// operators and closed groups in the current comma-separated segment
    nodes: usize,
    /// the deepest group closed in the current segment
    deepest_child: usize,
    /// the deepest finished segment of this group
    deepest_segment: usize,
}

impl Group {
    fn end_segment(&mut self) {
        self.deepest_segment = self.deepest_segment.max(self.nodes + self.deepest_child);
        self.nodes = 0;
        self.deepest_child = 0;
    }

    fn depth(mut self) -> usize {
        self.end_segment();
        self.deepest_segment
    }
}

/// Binary operators spelled as words (the only words that add a tree level
/// without a bracket of their own).
fn is_operator_word(word: &str) -> bool {
    ["and", "or", "unless", "atan2"].iter().any(|op| word.eq_ignore_ascii_case(op))
}

/// An upper bound on the depth of the tree `query` parses to (see the module
/// comment). Strings and comments are skipped; unbalanced brackets are left
/// to the parser to report.
pub fn nesting_bound(query: &str) -> usize {
    let bytes = query.as_bytes();
    let mut stack: Vec<Group> = vec![Group::default()];
    let mut deepest_open = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    // raw strings (backquotes) have no escapes
                    if bytes[i] == b'\\' && b != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                stack.push(Group::default());
                deepest_open = deepest_open.max(stack.len() - 1);
            }
            b')' | b']' | b'}' if stack.len() > 1 => {
                let closed = stack.pop().map(Group::depth).unwrap_or(0);
                let parent = stack.last_mut().expect("the top level is never popped");
                parent.nodes += 1;
                parent.deepest_child = parent.deepest_child.max(closed);
            }
            b',' => stack.last_mut().expect("the top level is never popped").end_segment(),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' => {
                stack.last_mut().expect("the top level is never popped").nodes += 1;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i + 1 < bytes.len() && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_') {
                    i += 1;
                }
                if is_operator_word(&query[start..=i]) {
                    stack.last_mut().expect("the top level is never popped").nodes += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    // groups left open count as if closed at the end: the parser refuses them
    // anyway, but only after building their contents
    while stack.len() > 1 {
        let closed = stack.pop().map(Group::depth).unwrap_or(0);
        let parent = stack.last_mut().expect("the top level is never popped");
        parent.nodes += 1;
        parent.deepest_child = parent.deepest_child.max(closed);
    }
    let depth = stack.pop().map(Group::depth).unwrap_or(0);
    depth.max(deepest_open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_count_operators_and_brackets_on_the_deepest_path() {
        assert_eq!(nesting_bound("up"), 0);
        assert_eq!(nesting_bound("up{job=\"a\"}"), 2); // the braces and the `=`
        assert_eq!(nesting_bound("1 + 2 * 3"), 2);
        assert_eq!(nesting_bound("sum(rate(x[5m]))"), 3);
        // siblings in a function's arguments do not add up
        assert_eq!(nesting_bound("f(a + b, c + d)"), 2);
        assert_eq!(nesting_bound("a and b or c unless d"), 3);
        assert_eq!(nesting_bound("((((x))))"), 4);
        // brackets, operators and comments inside strings are text
        assert_eq!(nesting_bound("x{a=\"((((+\\\"))\"}"), 2);
        assert_eq!(nesting_bound("x # ((((((\n"), 0);
        assert_eq!(nesting_bound("x{a=`\\`}"), 2);
    }

    #[test]
    fn unbalanced_brackets_still_count() {
        assert_eq!(nesting_bound(&"(".repeat(15_000)), 15_000);
        assert_eq!(nesting_bound(&")".repeat(15_000)), 0);
        assert_eq!(nesting_bound("x)))+1"), 1);
    }

    #[test]
    fn long_chains_are_as_deep_as_they_are_long() {
        let chain = vec!["1"; 20_000].join("+");
        assert_eq!(nesting_bound(&chain), 19_999);
        assert_eq!(nesting_bound(&"-".repeat(1000)), 1000);
    }
}
