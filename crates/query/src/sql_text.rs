//! How the planners write names and text into the SQL they generate.

/// Where the signal tables live.
#[derive(Clone, Debug, PartialEq)]
pub struct LakeTarget {
    pub catalog: String,
    pub schema: String,
}

impl LakeTarget {
    pub fn qualified_schema(&self) -> String {
        format!("{}.{}", quote_ident(&self.catalog), quote_ident(&self.schema))
    }

    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}", self.qualified_schema(), quote_ident(table))
    }
}

/// Quotes an SQL identifier (catalog, schema or table name).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A string literal for any text: NUL bytes (which SQL text cannot hold, and
/// stored data or a query's escapes can contain) go through `chr(0)`.
pub fn sql_string(text: &str) -> String {
    if !text.contains('\0') {
        return quote_literal(text);
    }
    let parts: Vec<String> = text.split('\0').map(quote_literal).collect();
    format!("({})", parts.join(" || chr(0) || "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(quote_ident("otel"), "\"otel\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn qualifies_names_with_quotes() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        assert_eq!(target.qualified("logs"), "\"lake\".\"otel\".\"logs\"");
    }
}
