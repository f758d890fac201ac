//! Running `otlp_serve` instances: start (catalog, spool, replay, writer,
//! HTTP, gRPC), stop (drain and commit), status. One registry per process, keyed by
//! port, because ports are a process-wide resource.
//!
//! Start-up order matters: the ports are bound first (a port in use fails before
//! anything is touched), then the lake tables, then the spool; records the
//! lake checkpoint does not cover are replayed into the writer before the
//! HTTP workers start answering.

pub mod options;

use crate::compat::metrics::StatsSnapshot;
use crate::compat::CompatContext;
use crate::ingest::flusher::{self, FlushPolicy, FlushReport};
use crate::ingest::maintenance::{self, Maintenance, MaintenanceHandle, NotRunning};
use crate::ingest::queue::CommitQueue;
use crate::ingest::service_graph::{self, ServiceGraphThread};
use crate::ingest::{Ingest, IngestLimits};
use crate::lake::catalog::{self, CatalogError};
use crate::lake::commit::{CommitError, LakeWriter};
use crate::lake::database::{ConnectError, Database};
use crate::lake::maintenance::{Maintainer, MaintenancePolicy, RoundReport};
use crate::lake::service_graph::ServiceGraphDeriver;
use crate::otlp::{self, DecodeLimits, RequestKind, Rows};
use crate::query::sql_text::LakeTarget;
use crate::server::grpc::{GrpcConfig, GrpcServer, MessageLimits};
use crate::server::{Context, HttpServer, ServerConfig, ServerError};
use crate::spool::{Spool, SpoolError, SpoolOptions};
pub use options::{OptionsError, ServeOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("a canardstack server is already running on port {0} (otlp_stop({0}) stops it)")]
    AlreadyRunning(u16),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("lake writer: {0}")]
    Commit(#[from] CommitError),
    #[error("spool: {source}")]
    Spool { dir: String, source: SpoolError },
    #[error("spool at {dir} ends at sequence {spool_seq} but the lake checkpoint of writer {writer_id} is {checkpoint}: the spool directory was truncated; refusing to reuse sequence numbers (if everything it held is committed, delete the directory to start a new writer)")]
    SpoolBehind { dir: String, writer_id: String, spool_seq: u64, checkpoint: u64 },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot start a background thread (writer or maintenance): {0}")]
    Thread(std::io::Error),
    #[error("no otlp_serve is running{}", .0.map(|port| format!(" on port {port}")).unwrap_or_default())]
    NotServing(Option<u16>),
    #[error("port {port}: {source}")]
    Maintenance { port: u16, source: NotRunning },
}

/// What `otlp_serve` returns.
#[derive(Clone, Debug)]
pub struct ServeInfo {
    pub endpoint: String,
    pub port: u16,
    pub catalog: String,
    pub schema: String,
    pub spool_dir: String,
    pub writer_id: String,
    pub replayed_records: u64,
    /// the bound OTLP/gRPC port; None when started without `grpc_port`
    pub grpc_port: Option<u16>,
}

/// What `otlp_stop` returns, one per stopped server.
#[derive(Clone, Debug)]
pub struct StopReport {
    pub port: u16,
    pub flush: FlushReport,
    pub spool_backlog_records: u64,
}

/// What `otlp_status` returns, one per running server.
#[derive(Clone, Debug)]
pub struct StatusReport {
    pub info: ServeInfo,
    pub started_at: SystemTime,
    pub uptime: Duration,
    pub stats: StatsSnapshot,
    pub spool_backlog_records: u64,
    pub spool_backlog_bytes: u64,
    pub spool_disk_bytes: Option<u64>,
    pub queue_bytes: u64,
    /// how long the oldest acknowledged record not yet committed has waited
    pub ingest_lag: Duration,
    pub healthy: bool,
}

struct Service {
    info: ServeInfo,
    ingest: Arc<Ingest>,
    http: HttpServer,
    grpc: Option<GrpcServer>,
    writer: JoinHandle<FlushReport>,
    maintenance: Maintenance,
    service_graph: Option<ServiceGraphThread>,
    started: Instant,
    started_at: SystemTime,
}

static SERVICES: Mutex<BTreeMap<u16, Service>> = Mutex::new(BTreeMap::new());

fn services() -> MutexGuard<'static, BTreeMap<u16, Service>> {
    SERVICES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const DEFAULT_DIR: &str = ".canardstack";

pub fn start(db: &Database, options: ServeOptions) -> Result<ServeInfo, ServiceError> {
    options.validate()?;
    if options.port != 0 && services().contains_key(&options.port) {
        return Err(ServiceError::AlreadyRunning(options.port));
    }
    let config = ServerConfig {
        host: options.host.clone(),
        port: options.port,
        api_key: options.api_key.clone(),
        max_body_bytes: options.max_body_bytes,
        workers: options.workers,
    };
    let listener = HttpServer::bind(&config)?;
    let grpc_listener = options.grpc_port.map(|port| GrpcServer::bind(&options.host, port)).transpose()?;

    let con = db.connect()?;
    let base = std::env::current_dir().unwrap_or_default().join(DEFAULT_DIR);
    let catalog_name = match &options.catalog {
        None => catalog::attach_default(&con, &base)?,
        Some(name) => {
            catalog::require_ducklake(&con, name)?;
            name.clone()
        }
    };
    let target = LakeTarget { catalog: catalog_name.clone(), schema: options.schema.clone() };
    catalog::ensure_tables(&con, &target, options.inline_rows, options.compaction.target_file_bytes)?;

    let spool_dir = options.spool_dir.clone().unwrap_or_else(|| default_spool_dir(&base, options.catalog.as_deref()));
    let spool_error = |source| ServiceError::Spool { dir: spool_dir.display().to_string(), source };
    let spool_options = SpoolOptions { max_backlog_bytes: options.max_spool_bytes, ..SpoolOptions::default() };
    let (spool, recovery) = Spool::open(&spool_dir, spool_options).map_err(spool_error)?;
    let writer_id = spool.writer_id().to_string();
    let lake = LakeWriter::open(con, target.clone(), writer_id.clone(), options.inline_rows)?;
    let policy = MaintenancePolicy {
        retention: options.retention,
        snapshot_retention: options.snapshot_retention,
        compaction: options.compaction,
    };
    let maintainer = Maintainer::new(db.connect()?, target.clone(), policy, lake.commit_gate());
    let deriver = match options.service_graph {
        Some(policy) => {
            Some(ServiceGraphDeriver::new(db.connect()?, target.clone(), lake.commit_gate(), lake.due_tables(), policy))
        }
        None => None,
    };
    let checkpoint = lake.checkpoint_seq();
    if spool.last_seq() < checkpoint {
        return Err(ServiceError::SpoolBehind {
            dir: spool_dir.display().to_string(),
            writer_id,
            spool_seq: spool.last_seq(),
            checkpoint,
        });
    }
    let gap = spool.oldest_seq() > checkpoint + 1 && spool.last_seq() > checkpoint;
    let gap_warning = gap.then(|| {
        format!(
            "spool starts at sequence {} but the lake has only {checkpoint}: records in between are missing",
            spool.oldest_seq()
        )
    });
    spool.release_through(checkpoint).map_err(spool_error)?;

    let queue = CommitQueue::new(checkpoint + 1, options.max_queue_bytes);
    let limits = IngestLimits {
        max_decompressed_bytes: options.max_decompressed_bytes,
        max_items_per_request: options.max_items_per_request,
    };
    let ingest = Ingest::new(spool, queue, limits);
    if let Some(reason) = &recovery.truncation_reason {
        ingest.stats.error(format!("spool recovery cut {} bytes: {reason}", recovery.truncated_bytes));
    }
    if let Some(warning) = gap_warning {
        ingest.stats.error(warning);
    }
    let policy = FlushPolicy {
        interval: options.flush_interval,
        max_rows: options.flush_rows,
        max_bytes: options.max_queue_bytes / 2,
        compact_interval: options.compact_interval,
    };
    let due_tables = lake.due_tables();
    let writer = spawn_writer(ingest.clone(), lake, policy).map_err(ServiceError::Thread)?;
    let maintenance = match maintenance::spawn(ingest.clone(), maintainer, due_tables, options.compact_interval) {
        Ok(maintenance) => maintenance,
        Err(error) => {
            ingest.queue.close();
            let _ = writer.join();
            return Err(ServiceError::Thread(error));
        }
    };
    let replayed_records = match replay(&ingest, checkpoint) {
        Ok(count) => count,
        Err(error) => {
            // commit what replayed so far, then give up without leaving a writer behind
            shut_down(&ingest, writer, maintenance);
            return Err(spool_error(error));
        }
    };

    let compat = options.compat.then(|| {
        let mut compat = CompatContext::new(Box::new(db.clone()), target.clone());
        compat.limits.timeout = options.query_timeout;
        compat
    });
    let context = Arc::new(Context { ingest: ingest.clone(), config: config.clone(), compat, started: Instant::now() });
    let http = match HttpServer::serve(listener, context) {
        Ok(http) => http,
        Err(error) => {
            shut_down(&ingest, writer, maintenance);
            return Err(error.into());
        }
    };
    let grpc = match grpc_listener {
        None => None,
        Some(listener) => {
            let grpc_config = GrpcConfig {
                api_key: options.api_key.clone(),
                limits: MessageLimits {
                    max_body_bytes: options.max_body_bytes,
                    max_decompressed_bytes: options.max_decompressed_bytes,
                },
                workers: options.workers,
            };
            match GrpcServer::serve(listener, ingest.clone(), grpc_config) {
                Ok(grpc) => Some(grpc),
                Err(error) => {
                    http.stop();
                    shut_down(&ingest, writer, maintenance);
                    return Err(error.into());
                }
            }
        }
    };
    let replayed_through = ingest.spool.last_seq();
    let service_graph = match deriver.map(|deriver| {
        let interval = options.service_graph.map(|policy| policy.interval).unwrap_or_default();
        service_graph::spawn(ingest.clone(), deriver, interval, replayed_through)
    }) {
        None => None,
        Some(Ok(thread)) => Some(thread),
        Some(Err(error)) => {
            http.stop();
            if let Some(grpc) = grpc {
                grpc.stop();
            }
            shut_down(&ingest, writer, maintenance);
            return Err(ServiceError::Thread(error));
        }
    };
    let port = http.local_addr.port();
    let info = ServeInfo {
        endpoint: format!("http://{}:{}", endpoint_host(&options.host), port),
        port,
        catalog: catalog_name,
        schema: options.schema.clone(),
        spool_dir: spool_dir.display().to_string(),
        writer_id: ingest.spool.writer_id().to_string(),
        replayed_records,
        grpc_port: grpc.as_ref().map(|grpc| grpc.local_addr.port()),
    };
    let service = Service {
        info: info.clone(),
        ingest,
        http,
        grpc,
        writer,
        maintenance,
        service_graph,
        started: Instant::now(),
        started_at: SystemTime::now(),
    };
    services().insert(port, service);
    Ok(info)
}

fn default_spool_dir(base: &Path, catalog: Option<&str>) -> PathBuf {
    match catalog {
        None => base.join("spool"),
        Some(name) => base.join(format!("spool_{}", sanitize(name))),
    }
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

fn endpoint_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Drains the queue into the lake, then stops maintenance (after the writer:
/// its last round writes out the rows the last flush left inlined).
fn shut_down(ingest: &Ingest, writer: JoinHandle<FlushReport>, maintenance: Maintenance) -> FlushReport {
    ingest.queue.close();
    let flush = writer.join().unwrap_or_default();
    maintenance.stop();
    flush
}

fn spawn_writer(
    ingest: Arc<Ingest>,
    lake: LakeWriter,
    policy: FlushPolicy,
) -> std::io::Result<JoinHandle<FlushReport>> {
    std::thread::Builder::new().name("canardstack-writer".into()).spawn(move || {
        let stats_ingest = ingest.clone();
        // the writer thread reports its own panic instead of unwinding anywhere
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| flusher::run(ingest, lake, policy))).unwrap_or_else(
            |_| {
                stats_ingest.set_writer_failing(true);
                stats_ingest.stats.error("writer: internal error (panic); restart with otlp_stop/otlp_serve".into());
                FlushReport::default()
            },
        )
    })
}

/// Feeds records the checkpoint does not cover to the writer, oldest first.
fn replay(ingest: &Ingest, checkpoint: u64) -> Result<u64, SpoolError> {
    let mut replayed = 0;
    for record in ingest.spool.replay(checkpoint)? {
        let record = record?;
        let rows = match RequestKind::from_byte(record.kind)
            .ok_or_else(|| format!("unknown record kind {}", record.kind))
            .and_then(|kind| {
                let accepted_before = DecodeLimits::unbounded(usize::MAX);
                otlp::decode_for_ingest(kind, &record.payload, &accepted_before).map_err(|e| e.to_string())
            }) {
            Ok(decoded) => decoded.rows,
            Err(message) => {
                // cannot happen for records we wrote; keep the sequence moving
                ingest.stats.error(format!("replay: spool record {} skipped: {message}", record.seq));
                Rows::Batches(Vec::new())
            }
        };
        while ingest.queue.is_full() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let bytes = rows.memory_size();
        ingest.queue.push(record.seq, rows, bytes);
        replayed += 1;
    }
    Ok(replayed)
}

/// Stops one server (by port) or all; each drains its queue into the lake.
pub fn stop(port: Option<u16>) -> Vec<StopReport> {
    let stopping: Vec<Service> = {
        let mut map = services();
        let ports: Vec<u16> = map.keys().copied().filter(|p| port.is_none_or(|wanted| wanted == *p)).collect();
        ports.into_iter().filter_map(|p| map.remove(&p)).collect()
    };
    stopping.into_iter().map(stop_service).collect()
}

fn stop_service(service: Service) -> StopReport {
    // both transports first: what they acknowledged is queued before the writer drains
    service.http.stop();
    if let Some(grpc) = service.grpc {
        grpc.stop();
    }
    if let Some(thread) = service.service_graph {
        thread.stop();
    }
    let flush = shut_down(&service.ingest, service.writer, service.maintenance);
    StopReport { port: service.info.port, flush, spool_backlog_records: service.ingest.spool.backlog().records }
}

pub fn status() -> Vec<StatusReport> {
    services()
        .values()
        .map(|service| {
            let backlog = service.ingest.spool.backlog();
            StatusReport {
                info: service.info.clone(),
                started_at: service.started_at,
                uptime: service.started.elapsed(),
                stats: service.ingest.stats.snapshot(),
                spool_backlog_records: backlog.records,
                spool_backlog_bytes: backlog.bytes,
                spool_disk_bytes: service.ingest.spool.disk_bytes().ok(),
                queue_bytes: service.ingest.queue.bytes() as u64,
                ingest_lag: service.ingest.queue.oldest_wait(),
                healthy: service.ingest.is_healthy(),
            }
        })
        .collect()
}

/// Runs a maintenance round now on one server (by port) or each, and returns
/// what each did. The rounds run on the servers' maintenance threads, after
/// any round already under way there.
pub fn maintain(port: Option<u16>, dry_run: bool) -> Result<Vec<(u16, RoundReport)>, ServiceError> {
    let handles: Vec<(u16, MaintenanceHandle)> = services()
        .iter()
        .filter(|(p, _)| port.is_none_or(|wanted| wanted == **p))
        .map(|(p, service)| (*p, service.maintenance.handle()))
        .collect();
    if handles.is_empty() {
        return Err(ServiceError::NotServing(port));
    }
    handles
        .into_iter()
        .map(|(port, handle)| {
            handle
                .run_now(dry_run)
                .map(|report| (port, report))
                .map_err(|source| ServiceError::Maintenance { port, source })
        })
        .collect()
}

/// The catalog and schema a running server writes to (first by port), for query functions.
pub fn running_target() -> Option<LakeTarget> {
    services().values().next().map(|s| LakeTarget { catalog: s.info.catalog.clone(), schema: s.info.schema.clone() })
}
