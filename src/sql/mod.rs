//! SQL surface: one file per SQL function. Each file parses arguments and
//! declares result columns; the work happens in the plain-Rust modules.
//! Functions are registered only through [`edge`], which puts every callback
//! behind the panic guard.

mod args;
mod canardstack_publish_macros;
mod canardstack_version;
mod columns;
mod duckdb_time;
pub mod edge;
mod lake_choice;
mod logql_sql;
mod loki_query;
mod otlp_maintenance;
mod otlp_serve;
mod otlp_status;
mod otlp_stop;
mod planned_query;
mod promql_query;
mod promql_range;
mod promql_result;
mod promql_sql;
mod scalar_args;
mod tempo_search;
mod tempo_trace;
mod traceql_sql;

use crate::lake::database::{Database, POOL_SIZE};
use duckdb::Connection;
use std::error::Error;

pub fn register_all(con: &Connection) -> Result<(), Box<dyn Error>> {
    let db = Database::open_pool(con, POOL_SIZE)?;
    edge::register_scalar::<canardstack_version::CanardstackVersion>(con)?;
    edge::register_table::<otlp_serve::OtlpServe>(con, &db)?;
    edge::register_table::<otlp_stop::OtlpStop>(con, &())?;
    edge::register_table::<otlp_status::OtlpStatus>(con, &())?;
    edge::register_table::<otlp_maintenance::OtlpMaintenance>(con, &())?;
    edge::register_table::<loki_query::LokiQuery>(con, &db)?;
    edge::register_scalar::<logql_sql::LogqlSql>(con)?;
    edge::register_table::<promql_range::PromqlRange>(con, &db)?;
    edge::register_scalar::<promql_sql::PromqlSql>(con)?;
    edge::register_table::<promql_query::PromqlQuery>(con, &db)?;
    edge::register_table::<tempo_trace::TempoTrace>(con, &db)?;
    edge::register_table::<tempo_search::TempoSearch>(con, &db)?;
    edge::register_scalar::<traceql_sql::TraceqlSql>(con)?;
    edge::register_table::<canardstack_publish_macros::CanardstackPublishMacros>(con, &db)?;
    Ok(())
}
