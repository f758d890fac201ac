//! Deriving the service graph from the lake's spans, one window at a time,
//! on a connection of its own: the window's edges are read with the query
//! `canardstack_derive` prints, added to the counters, and the counters'
//! values are inserted together with the window's progress row in one
//! transaction. Inserts beside the writer's commit without a conflict, but
//! not beside a retention DELETE, so the commit takes the writer's turn.

use super::database::{in_transaction, Pooled};
use super::gate::CommitGate;
use super::maintenance::DueTables;
use crate::otlp::schema::Table;
use crate::query::sql_text::LakeTarget;
use canardstack_derive::progress;
use canardstack_derive::service_graph::{self, Edge, EdgeCounts, Latencies, ServiceGraph, BUCKETS, GENERATOR};
use canardstack_derive::window::{Window, WindowPolicy};
use duckdb::types::Value;
use duckdb::{Connection, InterruptHandle};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("service graph: {step}: {source}")]
    Sql { step: &'static str, source: duckdb::Error },
    #[error("service graph: reading edges: {0}")]
    Shape(String),
}

fn sql_error(step: &'static str) -> impl FnOnce(duckdb::Error) -> DeriveError {
    move |source| DeriveError::Sql { step, source }
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepReport {
    /// the window done, None when none was due yet
    pub window: Option<Window>,
    /// requests counted in it, over every edge
    pub requests: u64,
    pub series: usize,
    pub dropped_edges: u64,
    /// more windows are due at once (catching up)
    pub behind: bool,
}

pub struct ServiceGraphDeriver {
    con: Pooled,
    target: LakeTarget,
    gate: Arc<CommitGate>,
    due: Arc<DueTables>,
    policy: WindowPolicy,
    graph: ServiceGraph,
}

impl ServiceGraphDeriver {
    /// The progress table is made with the signal tables (`catalog::ensure_tables`).
    pub fn new(
        con: Pooled,
        target: LakeTarget,
        gate: Arc<CommitGate>,
        due: Arc<DueTables>,
        policy: WindowPolicy,
    ) -> Self {
        ServiceGraphDeriver { con, target, gate, due, policy, graph: ServiceGraph::default() }
    }

    /// Stops the statement under way (at `otlp_stop`): its transaction rolls
    /// back, and the window is derived again after the next start.
    pub fn interrupt_handle(&self) -> Arc<InterruptHandle> {
        self.con.interrupt_handle()
    }

    /// Derives the next window if one is due at `now_ns`, with the writer
    /// `writer_lag` behind.
    pub fn step(&mut self, now_ns: i64, writer_lag: Duration) -> Result<StepReport, DeriveError> {
        let done = self.read_progress()?;
        let Some(window) = self.policy.next(done, now_ns, writer_lag) else {
            return Ok(StepReport { series: self.graph.series(), ..StepReport::default() });
        };
        let counts = self.read_edges(window)?;
        let next = self.graph.advanced(&counts, window);
        let statements = next.insert_sql(&self.target, window);
        if let Err(error) = self.commit(&statements, window) {
            // a COMMIT that reported failure may still have landed
            if self.read_progress().ok().flatten() != Some(window.through_ns) {
                return Err(error);
            }
        }
        if !statements.is_empty() {
            self.due.record(Table::MetricsSum, true);
            self.due.record(Table::MetricsHistogram, true);
        }
        let dropped_edges = next.dropped_edges - self.graph.dropped_edges;
        self.graph = next;
        Ok(StepReport {
            window: Some(window),
            requests: counts.iter().map(|c| c.requests).sum(),
            series: self.graph.series(),
            dropped_edges,
            behind: self.policy.behind(window, now_ns, writer_lag),
        })
    }

    fn in_transaction<T>(
        &self,
        step: &'static str,
        work: impl FnOnce(&Connection) -> Result<T, duckdb::Error>,
    ) -> Result<T, DeriveError> {
        in_transaction(&self.con, work).map_err(sql_error(step))
    }

    fn read_progress(&self) -> Result<Option<i64>, DeriveError> {
        let sql = progress::read_sql(&self.target, GENERATOR);
        self.in_transaction("reading progress", |con| con.query_row(&sql, [], |row| row.get::<_, Option<i64>>(0)))
    }

    fn read_edges(&self, window: Window) -> Result<Vec<EdgeCounts>, DeriveError> {
        let sql = service_graph::edges_sql(&self.target, window);
        let rows = self.in_transaction("reading edges", |con| {
            con.prepare(&sql)?
                .query_map([], |row| {
                    Ok((
                        Edge { client: row.get(0)?, server: row.get(1)?, connection_type: row.get(2)? },
                        row.get::<_, u64>(3)?,
                        row.get::<_, u64>(4)?,
                        (row.get::<_, Value>(5)?, row.get::<_, f64>(6)?),
                        (row.get::<_, Value>(7)?, row.get::<_, f64>(8)?),
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(edge, requests, failed, server, client)| {
                Ok(EdgeCounts { edge, requests, failed, server: latencies(server)?, client: latencies(client)? })
            })
            .collect()
    }

    fn commit(&self, statements: &[String], window: Window) -> Result<(), DeriveError> {
        let record = progress::record_sql(&self.target, GENERATOR, window.through_ns);
        let _turn = self.gate.enter();
        self.in_transaction("writing the window's points", |con| {
            for statement in statements {
                con.execute_batch(statement)?;
            }
            con.execute_batch(&record)
        })
    }
}

fn latencies((buckets, sum): (Value, f64)) -> Result<Latencies, DeriveError> {
    let Value::List(values) = buckets else {
        return Err(DeriveError::Shape(format!("bucket counts are {buckets:?}, not a list")));
    };
    if values.len() != BUCKETS {
        return Err(DeriveError::Shape(format!("{} bucket counts, expected {BUCKETS}", values.len())));
    }
    let mut counts = [0u64; BUCKETS];
    for (slot, value) in counts.iter_mut().zip(values) {
        *slot = match value {
            Value::UBigInt(count) => count,
            other => return Err(DeriveError::Shape(format!("bucket count {other:?}"))),
        };
    }
    Ok(Latencies { buckets: counts, sum })
}
