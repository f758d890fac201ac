//! Finding or creating the DuckLake that `otlp_serve` writes to, and its tables.
//!
//! The embedded default is a DuckLake in `.canardstack/` under the working
//! directory, attached as `canardstack`. A named catalog must already be
//! attached and be a DuckLake. Existing tables are checked column by column,
//! because the writer inserts by position.

use crate::otlp::Table;
use crate::query::sql_text::{quote_ident, quote_literal, LakeTarget};
use duckdb::Connection;
use std::path::Path;

pub const DEFAULT_CATALOG: &str = "canardstack";
pub const DEFAULT_SCHEMA: &str = "otel";
pub const CHECKPOINT_TABLE: &str = "canardstack_checkpoints";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog \"{0}\" is not attached (ATTACH 'ducklake:...' AS {0} first)")]
    NotAttached(String),
    #[error("no otlp_serve is running and there is no lake at {0}: pass catalog := '...' or start otlp_serve")]
    NoLake(String),
    #[error("catalog \"{name}\" is a {kind} database, not a DuckLake")]
    NotDuckLake { name: String, kind: String },
    #[error("table {table} does not match the canardstack schema: {problem}")]
    SchemaMismatch { table: String, problem: String },
    #[error("{context}: {source}")]
    Sql { context: String, source: duckdb::Error },
}

fn sql_error(context: impl Into<String>) -> impl FnOnce(duckdb::Error) -> CatalogError {
    let context = context.into();
    move |source| CatalogError::Sql { context, source }
}

/// Attaches the embedded default DuckLake in `dir` (if not attached yet).
pub fn attach_default(con: &Connection, dir: &Path) -> Result<String, CatalogError> {
    std::fs::create_dir_all(dir.join("data")).map_err(|e| CatalogError::Sql {
        context: format!("creating {}", dir.display()),
        source: duckdb::Error::ToSqlConversionFailure(Box::new(e)),
    })?;
    if database_kind(con, DEFAULT_CATALOG)?.is_none() {
        let metadata = dir.join("catalog.ducklake");
        let data = dir.join("data");
        let sql = format!(
            "ATTACH IF NOT EXISTS {} AS {} (DATA_PATH {})",
            quote_literal(&format!("ducklake:{}", metadata.display())),
            quote_ident(DEFAULT_CATALOG),
            quote_literal(&format!("{}/", data.display())),
        );
        con.execute_batch(&sql).map_err(sql_error(format!("attaching the default DuckLake at {}", dir.display())))?;
    }
    require_ducklake(con, DEFAULT_CATALOG)?;
    Ok(DEFAULT_CATALOG.to_string())
}

pub fn require_ducklake(con: &Connection, catalog: &str) -> Result<(), CatalogError> {
    match database_kind(con, catalog)? {
        None => Err(CatalogError::NotAttached(catalog.to_string())),
        Some(kind) if kind == "ducklake" => Ok(()),
        Some(kind) => Err(CatalogError::NotDuckLake { name: catalog.to_string(), kind }),
    }
}

fn database_kind(con: &Connection, catalog: &str) -> Result<Option<String>, CatalogError> {
    let mut stmt = con
        .prepare("SELECT type FROM duckdb_databases() WHERE database_name = ?")
        .map_err(sql_error("listing databases"))?;
    let mut rows = stmt.query([catalog]).map_err(sql_error("listing databases"))?;
    match rows.next().map_err(sql_error("listing databases"))? {
        Some(row) => Ok(Some(row.get::<_, String>(0).map_err(sql_error("listing databases"))?)),
        None => Ok(None),
    }
}

/// Creates the schema, the signal tables and the checkpoint table if missing,
/// and checks that existing tables have our columns in our order. Flushes
/// smaller than `inline_rows` stay inlined in the catalog instead of each
/// writing a tiny Parquet file per table; the writer flushes them out later.
/// DuckLake's own writes into the schema (merges, inlined rows written out)
/// aim at files of `target_file_bytes`, compressed with zstd.
pub fn ensure_tables(
    con: &Connection,
    target: &LakeTarget,
    inline_rows: u64,
    target_file_bytes: u64,
) -> Result<(), CatalogError> {
    let schema = target.qualified_schema();
    con.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .map_err(sql_error(format!("creating schema {schema}")))?;
    // DuckLake writes snappy by default; zstd as our writer does, or a merge
    // would grow the files it replaces (12.8 MB of random text became 19.6)
    let lake_options = [
        ("data_inlining_row_limit", inline_rows.to_string()),
        ("target_file_size", format!("'{target_file_bytes}B'")),
        ("parquet_compression", "'zstd'".into()),
    ];
    for (option, value) in lake_options {
        con.execute_batch(&format!(
            "CALL {}.set_option('{option}', {value}, schema => {})",
            quote_ident(&target.catalog),
            quote_literal(&target.schema)
        ))
        .map_err(sql_error(format!("setting {option} for {schema}")))?;
    }
    for table in Table::all() {
        con.execute_batch(&table.create_sql(&schema))
            .map_err(sql_error(format!("creating table {}", target.qualified(table.name()))))?;
        check_columns(con, target, table)?;
    }
    con.execute_batch(&canardstack_derive::progress::create_sql(target)).map_err(sql_error(format!(
        "creating table {}",
        target.qualified(canardstack_derive::progress::PROGRESS_TABLE)
    )))?;
    let checkpoints = target.qualified(CHECKPOINT_TABLE);
    con.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {checkpoints} (writer_id VARCHAR, seq UBIGINT, committed_at TIMESTAMP WITH TIME ZONE)"
    ))
    .map_err(sql_error(format!("creating table {checkpoints}")))?;
    Ok(())
}

fn check_columns(con: &Connection, target: &LakeTarget, table: Table) -> Result<(), CatalogError> {
    let context = format!("reading the columns of {}", target.qualified(table.name()));
    let mut stmt = con
        .prepare(
            "SELECT column_name, data_type FROM duckdb_columns() \
             WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        )
        .map_err(sql_error(context.clone()))?;
    let found: Vec<(String, String)> = stmt
        .query_map([&target.catalog, &target.schema, &table.name().to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(sql_error(context))?;
    let expected = table.columns();
    let mismatch = |problem: String| CatalogError::SchemaMismatch { table: target.qualified(table.name()), problem };
    if found.len() != expected.len() {
        return Err(mismatch(format!("{} columns, expected {}", found.len(), expected.len())));
    }
    for ((name, sql_type), column) in found.iter().zip(expected) {
        if name != column.name || normalize_type(sql_type) != normalize_type(column.sql_type) {
            return Err(mismatch(format!("column {name} {sql_type}, expected {} {}", column.name, column.sql_type)));
        }
    }
    Ok(())
}

/// DuckDB prints types with its own spacing and quoting; compare loosely.
fn normalize_type(sql_type: &str) -> String {
    sql_type.chars().filter(|c| !c.is_whitespace() && *c != '"').collect::<String>().to_uppercase()
}

/// The database holding a DuckLake's own catalog tables (`ducklake_data_file`,
/// ...), as the DuckLake extension attaches it; its default schema holds them.
pub fn metadata_database(target: &LakeTarget) -> String {
    quote_ident(&format!("__ducklake_metadata_{}", target.catalog))
}

/// The highest spool sequence number committed by `writer_id` (0 if none).
pub fn read_checkpoint(con: &Connection, target: &LakeTarget, writer_id: &str) -> Result<u64, CatalogError> {
    let sql = format!("SELECT coalesce(max(seq), 0) FROM {} WHERE writer_id = ?", target.qualified(CHECKPOINT_TABLE));
    con.query_row(&sql, [writer_id], |row| row.get::<_, u64>(0)).map_err(sql_error("reading the checkpoint"))
}

/// The lake a query reads: the named `catalog` (schema `otel` unless named),
/// else the one a running `otlp_serve` writes to, else the embedded default.
pub fn choose_target(catalog: Option<String>, schema: Option<String>, running: Option<LakeTarget>) -> LakeTarget {
    let schema_or = |fallback: String| schema.clone().unwrap_or(fallback);
    match (catalog, running) {
        (Some(catalog), _) => LakeTarget { catalog, schema: schema_or(DEFAULT_SCHEMA.into()) },
        (None, Some(running)) => LakeTarget { catalog: running.catalog, schema: schema_or(running.schema) },
        (None, None) => LakeTarget { catalog: DEFAULT_CATALOG.into(), schema: schema_or(DEFAULT_SCHEMA.into()) },
    }
}

/// [`choose_target`], checked: a named catalog must be an attached DuckLake,
/// and the embedded default in the working directory is attached read-write
/// on demand, as `otlp_serve` would.
pub fn resolve_target(
    con: &Connection,
    catalog: Option<String>,
    schema: Option<String>,
    running: Option<LakeTarget>,
) -> Result<LakeTarget, CatalogError> {
    match (&catalog, &running) {
        (Some(named), _) => require_ducklake(con, named)?,
        (None, Some(_)) => {}
        (None, None) => {
            let base = std::env::current_dir().unwrap_or_default().join(".canardstack");
            if database_kind(con, DEFAULT_CATALOG)?.is_none() && !base.join("catalog.ducklake").exists() {
                return Err(CatalogError::NoLake(base.display().to_string()));
            }
            attach_default(con, &base)?;
        }
    }
    Ok(choose_target(catalog, schema, running))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_catalog_wins_then_the_running_lake_then_the_default() {
        let running = || Some(LakeTarget { catalog: "live".into(), schema: "signals".into() });
        let target = |catalog: &str, schema: &str| LakeTarget { catalog: catalog.into(), schema: schema.into() };
        assert_eq!(choose_target(Some("mine".into()), None, running()), target("mine", "otel"));
        assert_eq!(choose_target(Some("mine".into()), Some("s".into()), running()), target("mine", "s"));
        assert_eq!(choose_target(None, None, running()), target("live", "signals"));
        assert_eq!(choose_target(None, Some("s".into()), running()), target("live", "s"));
        assert_eq!(choose_target(None, None, None), target("canardstack", "otel"));
        assert_eq!(choose_target(None, Some("s".into()), None), target("canardstack", "s"));
    }

    #[test]
    fn type_comparison_ignores_spacing_and_quotes() {
        assert_eq!(normalize_type("MAP(VARCHAR, VARCHAR)"), normalize_type("MAP(VARCHAR,VARCHAR)"));
        assert_eq!(
            normalize_type("STRUCT(\"timestamp\" TIMESTAMP_NS, \"name\" VARCHAR)[]"),
            normalize_type("STRUCT(timestamp TIMESTAMP_NS, name VARCHAR)[]")
        );
        assert_ne!(normalize_type("VARCHAR"), normalize_type("BIGINT"));
    }
}
