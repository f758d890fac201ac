//! The service graph thread: a step every `interval` (at once while it is
//! catching up), each deriving the window of spans that is due. Failures
//! are counted and reported in `otlp_status().last_error`; the window is
//! tried again at the next step, so nothing is skipped.

use super::Ingest;
use crate::lake::service_graph::ServiceGraphDeriver;
use canardstack_derive::window::unix_ns;
use duckdb::InterruptHandle;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub struct ServiceGraphThread {
    stop: mpsc::Sender<()>,
    interrupt: Arc<InterruptHandle>,
    thread: JoinHandle<()>,
}

/// Steps begin once the records replayed from the spool (through
/// `replayed_through`) are committed: their spans ended before the crash, so
/// the window holding them could otherwise be derived before they are in
/// the lake (the writer's lag only measures from when they were queued again).
pub fn spawn(
    ingest: Arc<Ingest>,
    deriver: ServiceGraphDeriver,
    interval: Duration,
    replayed_through: u64,
) -> std::io::Result<ServiceGraphThread> {
    let (stop, stopped) = mpsc::channel();
    let interrupt = deriver.interrupt_handle();
    let thread = std::thread::Builder::new().name("canardstack-service-graph".into()).spawn(move || {
        let report_to = ingest.clone();
        let steps = std::panic::AssertUnwindSafe(|| run(&ingest, deriver, &stopped, interval, replayed_through));
        if std::panic::catch_unwind(steps).is_err() {
            report_to.stats.error("service graph: internal error (panic); no more steps until restart".into());
        }
    })?;
    Ok(ServiceGraphThread { stop, interrupt, thread })
}

impl ServiceGraphThread {
    /// Stops now: a step under way is interrupted and done again after the next start.
    pub fn stop(self) {
        let _ = self.stop.send(());
        self.interrupt.interrupt();
        let _ = self.thread.join();
    }
}

fn run(
    ingest: &Ingest,
    mut deriver: ServiceGraphDeriver,
    stopped: &mpsc::Receiver<()>,
    interval: Duration,
    replayed_through: u64,
) {
    let mut pause = interval;
    let mut replay_committed = false;
    loop {
        match stopped.recv_timeout(pause) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        replay_committed = replay_committed || ingest.queue.committed_through(replayed_through);
        if !replay_committed {
            pause = interval;
            continue;
        }
        let started = Instant::now();
        pause = match deriver.step(unix_ns(SystemTime::now()), ingest.queue.oldest_wait()) {
            Ok(report) => {
                ingest.stats.service_graph_step(&report, started.elapsed());
                if report.behind {
                    Duration::ZERO
                } else {
                    interval
                }
            }
            Err(error) => {
                ingest.stats.service_graph_failed(error.to_string(), started.elapsed());
                interval
            }
        };
    }
}
