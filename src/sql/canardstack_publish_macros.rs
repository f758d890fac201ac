//! `CALL canardstack_publish_macros(target := 'db' [, catalog := 'lake', schema := 'otel'])`:
//! writes the pure-SQL table macros and views of `query::portable::macros`
//! (over the lake `catalog`.`schema`, named in full) into schema `main` of
//! the attached database `target`, replacing older ones, in one transaction;
//! one row per object written.

use super::args::named_string;
use super::columns::text;
use super::edge::{declare_columns, OneShot, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::portable::macros::{published, Published};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use duckdb::Connection;
use std::sync::Arc;

pub struct CanardstackPublishMacros;

const NAME: &str = "canardstack_publish_macros";
/// The schema of `target` the objects go to.
const TARGET_SCHEMA: &str = "main";

fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("signature", DataType::Utf8, false),
    ]))
}

/// The target must be attached and writable; a DuckLake is fine (its catalog holds macros and views).
fn check_target(con: &Connection, target: &str) -> Result<(), BoxError> {
    let mut stmt = con.prepare("SELECT readonly FROM duckdb_databases() WHERE database_name = ?")?;
    let mut rows = stmt.query([target])?;
    match rows.next()? {
        None => {
            Err(format!("{NAME}: target \"{target}\" is not an attached database (ATTACH '...' AS {target} first)")
                .into())
        }
        Some(row) if row.get::<_, bool>(0)? => {
            Err(format!("{NAME}: target \"{target}\" is attached read-only; attach it writable").into())
        }
        Some(_) => Ok(()),
    }
}

/// Writes every object in one transaction: all of them, or none.
fn write(con: &Connection, target: &str, objects: &[Published]) -> Result<(), BoxError> {
    con.execute_batch("BEGIN TRANSACTION")?;
    for object in objects {
        if let Err(e) = con.execute_batch(&object.create_sql(target, TARGET_SCHEMA)) {
            con.execute_batch("ROLLBACK").ok();
            return Err(format!("{NAME}: writing {} into target \"{target}\": {e}", object.name).into());
        }
    }
    con.execute_batch("COMMIT").map_err(|e| format!("{NAME}: committing into target \"{target}\": {e}"))?;
    Ok(())
}

fn publish(db: &Database, bind: &BindInfo) -> Result<RecordBatch, BoxError> {
    let target =
        named_string(bind, "target").ok_or_else(|| format!("{NAME}: target := '<attached database>' is required"))?;
    let con = db.connect()?;
    let lake = LakeChoice::named(bind).resolve(&con).map_err(|e| format!("{NAME}: {e}"))?;
    check_target(&con, &target)?;
    let objects = published(&lake)?;
    write(&con, &target, &objects)?;
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            text(objects.iter().map(|o| Some(o.name.to_string()))),
            text(objects.iter().map(|o| Some(o.kind.name().to_string()))),
            text(objects.iter().map(|o| Some(o.signature()))),
        ],
    )?)
}

impl SqlTable for CanardstackPublishMacros {
    const NAME: &'static str = NAME;
    type State = Database;
    type BindData = OneShot;
    type InitData = ();

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        let mut parameters = lake_parameters();
        parameters.push(("target".into(), LogicalTypeId::Varchar.into()));
        parameters
    }

    /// The objects are written while binding, so an error is the statement's.
    fn bind(db: &Database, bind: &BindInfo) -> Result<OneShot, BoxError> {
        declare_columns(bind, &result_schema())?;
        Ok(OneShot::new(publish(db, bind)?))
    }

    fn init(_: &OneShot, _: &InitInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn scan(result: &OneShot, _: &(), output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_once(output)
    }
}
