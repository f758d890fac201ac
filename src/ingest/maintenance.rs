//! The maintenance thread: a round at start (rows a crash left inlined,
//! files it left orphaned), one every `compact_interval`, one whenever
//! `otlp_maintenance()` asks, and a last one once the writer has committed
//! its final flush at stop (inlined rows only: everything else stops at once
//! then). Rounds run one at a time on their own connection beside the writer
//! (`lake::maintenance`); failures are counted and reported in
//! `otlp_status().last_error`, and what they left undone is retried next round.

use super::Ingest;
use crate::lake::maintenance::{Cancel, DueTables, Maintainer, RoundKind, RoundReport};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Maintenance {
    signal: Arc<Signal>,
    cancel: Arc<Cancel>,
    thread: JoinHandle<()>,
}

/// Asks the maintenance thread for rounds, without owning it (so a long
/// on-demand round does not hold up `otlp_stop` or `otlp_status`).
#[derive(Clone)]
pub struct MaintenanceHandle {
    signal: Arc<Signal>,
}

#[derive(Debug, thiserror::Error)]
#[error("the maintenance thread has stopped (see otlp_status().last_error); restart with otlp_stop/otlp_serve")]
pub struct NotRunning;

/// A round asked for by `otlp_maintenance()`, and where its report goes.
struct Request {
    dry_run: bool,
    reply: mpsc::Sender<RoundReport>,
}

#[derive(Default)]
struct Pending {
    stopped: bool,
    requests: Vec<Request>,
}

#[derive(Default)]
struct Signal {
    pending: Mutex<Pending>,
    wake: Condvar,
}

enum Wake {
    Stop,
    Asked(Vec<Request>),
    Due,
}

impl Signal {
    /// Sleeps up to `timeout`, or until stop or a request comes.
    fn wait(&self, timeout: Duration) -> Wake {
        let pending = self.lock();
        let (mut pending, _) = self
            .wake
            .wait_timeout_while(pending, timeout, |p| !p.stopped && p.requests.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        if pending.stopped {
            Wake::Stop
        } else if !pending.requests.is_empty() {
            Wake::Asked(std::mem::take(&mut pending.requests))
        } else {
            Wake::Due
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn spawn(
    ingest: Arc<Ingest>,
    maintainer: Maintainer,
    due: Arc<DueTables>,
    interval: Duration,
) -> std::io::Result<Maintenance> {
    let signal = Arc::new(Signal::default());
    let waiting = signal.clone();
    let cancel = maintainer.cancel();
    let thread = std::thread::Builder::new().name("canardstack-maintenance".into()).spawn(move || {
        let report_to = ingest.clone();
        let mut maintainer = maintainer;
        let rounds = std::panic::AssertUnwindSafe(|| run(&ingest, &mut maintainer, &due, &waiting, interval));
        if std::panic::catch_unwind(rounds).is_err() {
            report_to.stats.error("maintenance: internal error (panic); no more rounds until restart".into());
        }
        // whoever still waits for a round hears that none is coming
        let mut pending = waiting.lock();
        pending.stopped = true;
        pending.requests.clear();
    })?;
    Ok(Maintenance { signal, cancel, thread })
}

impl MaintenanceHandle {
    /// Runs a round of every table now (after the one under way, if any) and
    /// returns what it did.
    pub fn run_now(&self, dry_run: bool) -> Result<RoundReport, NotRunning> {
        let (reply, report) = mpsc::channel();
        {
            let mut pending = self.signal.lock();
            if pending.stopped {
                return Err(NotRunning);
            }
            pending.requests.push(Request { dry_run, reply });
        }
        self.signal.wake.notify_all();
        report.recv().map_err(|_| NotRunning)
    }
}

impl Maintenance {
    pub fn handle(&self) -> MaintenanceHandle {
        MaintenanceHandle { signal: self.signal.clone() }
    }

    /// Stops what is under way, runs the last round (inlined rows written out)
    /// and waits for it; call after the writer has stopped.
    pub fn stop(self) {
        self.cancel.stop();
        self.signal.lock().stopped = true;
        self.signal.wake.notify_all();
        let _ = self.thread.join();
    }
}

fn run(ingest: &Ingest, maintainer: &mut Maintainer, due: &DueTables, signal: &Signal, interval: Duration) {
    round(ingest, maintainer, due, RoundKind::Scheduled);
    loop {
        match signal.wait(interval) {
            // the writer has committed its final flush by now, so rows it left inlined are written out too
            Wake::Stop => return drop(round(ingest, maintainer, due, RoundKind::Final)),
            Wake::Asked(requests) => {
                for request in requests {
                    let report = round(ingest, maintainer, due, RoundKind::OnDemand { dry_run: request.dry_run });
                    let _ = request.reply.send(report);
                }
            }
            Wake::Due => drop(round(ingest, maintainer, due, RoundKind::Scheduled)),
        }
    }
}

fn round(ingest: &Ingest, maintainer: &mut Maintainer, due: &DueTables, kind: RoundKind) -> RoundReport {
    let started = Instant::now();
    let report = maintainer.round(due, kind);
    ingest.stats.maintained(started.elapsed(), &report);
    if let Some(error) = &report.error {
        ingest.stats.error(format!("maintenance: {error}"));
    }
    report
}
