//! The maintenance thread: a round at start (rows a crash left inlined), one
//! every `compact_interval`, and a last one once the writer has committed
//! its final flush at stop (inlined rows only: merging stops at once then).
//! Each round runs on its own connection beside the writer
//! (`lake::maintenance`); failures are counted and reported in
//! `otlp_status().last_error`, and their tables are retried next round.

use super::Ingest;
use crate::lake::maintenance::{Cancel, Compactor, DueTables};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Maintenance {
    stop: Arc<StopSignal>,
    cancel: Arc<Cancel>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    /// Sleeps up to `timeout`; true once stop was asked for.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (stopped, _) =
            self.wake.wait_timeout_while(stopped, timeout, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
        *stopped
    }

    fn raise(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

pub fn spawn(
    ingest: Arc<Ingest>,
    compactor: Compactor,
    due: Arc<DueTables>,
    interval: Duration,
) -> std::io::Result<Maintenance> {
    let stop = Arc::new(StopSignal::default());
    let signal = stop.clone();
    let cancel = compactor.cancel();
    let thread = std::thread::Builder::new().name("canardstack-maintenance".into()).spawn(move || {
        let report_to = ingest.clone();
        let rounds = std::panic::AssertUnwindSafe(|| run(&ingest, &compactor, &due, &signal, interval));
        if std::panic::catch_unwind(rounds).is_err() {
            report_to.stats.error("maintenance: internal error (panic); no more rounds until restart".into());
        }
    })?;
    Ok(Maintenance { stop, cancel, thread })
}

impl Maintenance {
    /// Stops merging, runs the last round (inlined rows written out) and waits
    /// for it; call after the writer has stopped.
    pub fn stop(self) {
        self.cancel.stop_merging();
        self.stop.raise();
        let _ = self.thread.join();
    }
}

fn run(ingest: &Ingest, compactor: &Compactor, due: &DueTables, stop: &StopSignal, interval: Duration) {
    // the round after stop was asked for is the last: the writer has committed
    // its final flush by then, so rows it left inlined are written out too
    let mut stopping = false;
    loop {
        round(ingest, compactor, due);
        if stopping {
            return;
        }
        stopping = stop.wait(interval);
    }
}

fn round(ingest: &Ingest, compactor: &Compactor, due: &DueTables) {
    let started = Instant::now();
    let report = compactor.round(due);
    ingest.stats.maintained(started.elapsed(), report.error.is_some());
    if let Some(error) = report.error {
        ingest.stats.error(format!("maintenance: {error}"));
    }
}
