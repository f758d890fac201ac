//! Which lake a SQL function reads, decided in one place: `catalog` and
//! `schema` as the caller gave them, else the lake a running `otlp_serve`
//! writes to, else the embedded default (`canardstack`.`otel`).

use super::args::named_string;
use crate::guard::BoxError;
use crate::lake::catalog::{choose_target, resolve_target};
use crate::lake::database::Database;
use crate::query::promql::lake::LakeSource;
use crate::query::sql_text::LakeTarget;
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use duckdb::Connection;

/// `catalog :=` / `schema :=`: the named parameters every table function that reads the lake takes.
pub fn lake_parameters() -> Vec<(String, LogicalTypeHandle)> {
    vec![("catalog".into(), LogicalTypeId::Varchar.into()), ("schema".into(), LogicalTypeId::Varchar.into())]
}

/// The lake as the caller named it (either part may be left to the defaults).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LakeChoice {
    pub catalog: Option<String>,
    pub schema: Option<String>,
}

impl LakeChoice {
    /// From a table function's [`lake_parameters`].
    pub fn named(bind: &BindInfo) -> Self {
        LakeChoice { catalog: named_string(bind, "catalog"), schema: named_string(bind, "schema") }
    }

    /// The lake, for functions that only print SQL: a scalar function cannot
    /// attach anything, so nothing is checked.
    pub fn planned(&self) -> LakeTarget {
        choose_target(self.catalog.clone(), self.schema.clone(), crate::service::running_target())
    }

    /// The lake, checked on `con`: a named catalog must be an attached
    /// DuckLake; the embedded default is attached if needed.
    pub fn resolve(&self, con: &Connection) -> Result<LakeTarget, BoxError> {
        Ok(resolve_target(con, self.catalog.clone(), self.schema.clone(), crate::service::running_target())?)
    }

    /// Runs `work` with a PromQL source over the lake, on a pooled connection.
    pub fn with_source<T>(
        &self,
        db: &Database,
        work: impl FnOnce(&LakeSource) -> Result<T, BoxError>,
    ) -> Result<T, BoxError> {
        let con = db.connect()?;
        let target = self.resolve(&con)?;
        work(&LakeSource::new(&con, target))
    }
}
