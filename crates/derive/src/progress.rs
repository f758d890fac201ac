//! Where derivation records the windows it has done: one row per generator
//! in a table beside the signal tables, replaced in the same transaction
//! that writes the window's metric points, so a crash either keeps both or
//! neither and no window is counted twice.

use canardstack_query::sql_text::{quote_literal, LakeTarget};

pub const PROGRESS_TABLE: &str = "canardstack_derived";

pub fn create_sql(target: &LakeTarget) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (generator VARCHAR, done_through_ns BIGINT, committed_at TIMESTAMP WITH TIME ZONE)",
        target.qualified(PROGRESS_TABLE)
    )
}

/// One row, one column: the end of the last window done (NULL when none).
pub fn read_sql(target: &LakeTarget, generator: &str) -> String {
    format!(
        "SELECT max(done_through_ns) FROM {} WHERE generator = {}",
        target.qualified(PROGRESS_TABLE),
        quote_literal(generator)
    )
}

/// Statements to run inside the window's transaction.
pub fn record_sql(target: &LakeTarget, generator: &str, done_through_ns: i64) -> String {
    let table = target.qualified(PROGRESS_TABLE);
    let generator = quote_literal(generator);
    format!(
        "DELETE FROM {table} WHERE generator = {generator}; \
         INSERT INTO {table} VALUES ({generator}, {done_through_ns}, now());"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_one_row_per_generator_replaced_in_place() {
        let target = LakeTarget { catalog: "lake".into(), schema: "otel".into() };
        assert_eq!(
            read_sql(&target, "service_graph"),
            "SELECT max(done_through_ns) FROM \"lake\".\"otel\".\"canardstack_derived\" WHERE generator = 'service_graph'"
        );
        assert_eq!(
            record_sql(&target, "service_graph", 42),
            "DELETE FROM \"lake\".\"otel\".\"canardstack_derived\" WHERE generator = 'service_graph'; \
             INSERT INTO \"lake\".\"otel\".\"canardstack_derived\" VALUES ('service_graph', 42, now());"
        );
    }
}
